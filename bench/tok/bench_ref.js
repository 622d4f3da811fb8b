// bench_ref.js -- tokenisation throughput of Hugging Face's tokenizers, for
// bench/tok/run.sh: the Rust crate through its npm binding
// (@anush008/tokenizers, encodeBatch; threads through rayon) and the pure
// JavaScript one (@huggingface/transformers, local files only; threads as
// worker_threads over contiguous slices of the lines).
//
// Usage: node bench_ref.js rust|js MODELDIR FILE THREADS
// Prints one line: "impl threads seconds bytes tokens".
// Rust threads: set RAYON_NUM_THREADS and TOKENIZERS_PARALLELISM before
// starting node (run.sh does); THREADS only labels the line.
'use strict';
const fs = require('fs');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

function readLines(file) {
  const buf = fs.readFileSync(file);
  const lines = buf.toString('utf8').split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return { lines, bytes: buf.length };
}

async function jsTokenizer(dir) {
  const tf = require('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  tf.env.localModelPath = path.dirname(path.resolve(dir)) + '/';
  return tf.AutoTokenizer.from_pretrained(path.basename(path.resolve(dir)));
}

async function jsCount(tok, lines) {
  let n = 0;
  for (const l of lines) n += tok.encode(l).length;
  return n;
}

async function main() {
  const [impl, dir, file, threadsArg] = process.argv.slice(2);
  const threads = parseInt(threadsArg || '1', 10);
  const { lines, bytes } = readLines(file);
  let tokens = 0, t0;
  if (impl === 'rust') {
    const tk = require('@anush008/tokenizers');
    const t = tk.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    t.disableTruncation();
    t.disablePadding();
    t0 = process.hrtime.bigint();
    for (let i = 0; i < lines.length; i += 2000) {
      const enc = await t.encodeBatch(lines.slice(i, i + 2000));
      for (const e of enc) tokens += e.getLength();
    }
  } else if (impl === 'js') {
    if (threads === 1) {
      const tok = await jsTokenizer(dir);
      t0 = process.hrtime.bigint();
      tokens = await jsCount(tok, lines);
    } else {
      const per = Math.ceil(lines.length / threads);
      const ready = [], done = [];
      const workers = [];
      for (let k = 0; k < threads; k++) {
        const w = new Worker(__filename, { workerData: { dir, lines: lines.slice(k * per, (k + 1) * per) } });
        workers.push(w);
        ready.push(new Promise((res) => w.once('message', res)));
      }
      await Promise.all(ready);          // tokenizers loaded
      t0 = process.hrtime.bigint();
      for (const w of workers) {
        done.push(new Promise((res) => w.once('message', res)));
        w.postMessage('go');
      }
      tokens = (await Promise.all(done)).reduce((a, b) => a + b, 0);
      for (const w of workers) w.terminate();
    }
  } else {
    throw new Error('impl must be rust or js');
  }
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${impl} ${threads} ${sec.toFixed(3)} ${bytes} ${tokens}`);
}

if (isMainThread) {
  main().catch((e) => { console.error('bench_ref.js: ' + e.message); process.exit(1); });
} else {
  (async () => {
    const tok = await jsTokenizer(workerData.dir);
    parentPort.postMessage('ready');
    parentPort.once('message', async () => {
      parentPort.postMessage(await jsCount(tok, workerData.lines));
    });
  })();
}
