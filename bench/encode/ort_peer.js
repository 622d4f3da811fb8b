// ONNX Runtime peer for bench/encode: the model exported by torch_peer.py
// from the same weights, fed as sentence-transformers feeds a model (sorted
// by length, padded per batch), intra-op threads = THREADS.
// Usage: node ort_peer.js MODEL.onnx IDS_FILE BATCH THREADS
// Prints: seconds tokens sequences peak_rss_mb (best of REPS, default 3, after a warm-up).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function batches(seqs, bs) {
  const order = seqs.map((s, i) => i).sort((a, b) => seqs[b].length - seqs[a].length);
  const out = [];
  for (let s = 0; s < order.length; s += bs) {
    const idx = order.slice(s, s + bs);
    const T = Math.max(...idx.map(i => seqs[i].length));
    const ids = new BigInt64Array(idx.length * T);
    const mask = new BigInt64Array(idx.length * T);
    idx.forEach((i, r) => seqs[i].forEach((t, j) => { ids[r * T + j] = BigInt(t); mask[r * T + j] = 1n; }));
    out.push({
      input_ids: new ort.Tensor('int64', ids, [idx.length, T]),
      attention_mask: new ort.Tensor('int64', mask, [idx.length, T]),
    });
  }
  return out;
}

async function main() {
  const [model, idsFile, bsS, thS] = process.argv.slice(2);
  const bs = parseInt(bsS, 10), threads = parseInt(thS, 10);
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  const seqs = fs.readFileSync(idsFile, 'utf8').split('\n').filter(l => l.length)
    .map(l => l.split(' ').map(Number));
  const ntok = seqs.reduce((a, s) => a + s.length, 0);
  for (const b of batches(seqs.slice(0, bs), bs)) await sess.run(b);
  let best = Infinity;
  const reps = parseInt(process.env.REPS || '3', 10);
  for (let rep = 0; rep < reps; rep++) {
    const bb = batches(seqs, bs);   // padding is part of the peer's work, as in sentence-transformers
    const t0 = process.hrtime.bigint();
    for (const b of bb) await sess.run(b);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(`${best.toFixed(6)} ${ntok} ${seqs.length} ${rss.toFixed(1)}`);
}
main().catch(e => { console.error(e); process.exit(1); });
