// tok_ref.js -- the reference ids for ctk-tok's tests, from Hugging Face's
// Rust tokenizers through its npm binding @anush008/tokenizers (0.6.0, crate
// 0.22.x), loading a model folder as transformers' fast tokenizer does:
// tokenizer.json when present (its truncation and padding turned off), else
// vocab.txt with tokenizer_config.json as BertTokenizerFast builds it.
//
// Usage (npm install in this folder first; node_modules is not committed):
//   node tok_ref.js MODELDIR single FILE [--max-length N] [--no-special]
//       one line of ids per line of FILE
//   node tok_ref.js MODELDIR pairs FILE STEP [--max-length N] [--no-special]
//       for i = 0, STEP, 2*STEP ...: the pair (line i, line i+1) as
//       "ids<TAB>type_ids"
// FILE's lines are split on "\n" only; every other byte is text.
'use strict';
const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

function loadTokenizer(dir) {
  const tj = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(tj)) {
    const t = tk.Tokenizer.fromFile(tj);
    t.disableTruncation();
    t.disablePadding();
    return Promise.resolve(t);
  }
  let cfg = {};
  const cf = path.join(dir, 'tokenizer_config.json');
  if (fs.existsSync(cf)) cfg = JSON.parse(fs.readFileSync(cf, 'utf8'));
  const lower = cfg.do_lower_case === undefined ? true : cfg.do_lower_case;
  const strip = cfg.strip_accents === undefined || cfg.strip_accents === null ? lower : cfg.strip_accents;
  const chinese = cfg.tokenize_chinese_chars === undefined ? true : cfg.tokenize_chinese_chars;
  const names = { unk: '[UNK]', sep: '[SEP]', pad: '[PAD]', cls: '[CLS]', mask: '[MASK]' };
  return tk.WordPiece.fromFile(path.join(dir, 'vocab.txt'), { unkToken: names.unk }).then((model) => {
    const t = new tk.Tokenizer(model);
    t.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: chinese,
                                        stripAccents: strip, lowercase: lower }));
    t.setPreTokenizer(tk.bertPreTokenizer());
    t.addSpecialTokens([names.unk, names.sep, names.pad, names.cls, names.mask]);
    t.setPostProcessor(tk.bertProcessing([names.sep, t.tokenToId(names.sep)],
                                         [names.cls, t.tokenToId(names.cls)]));
    return t;
  });
}

async function main() {
  const args = process.argv.slice(2);
  let maxLength = 0, special = true;
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--max-length') maxLength = parseInt(args[++i], 10);
    else if (args[i] === '--no-special') special = false;
    else pos.push(args[i]);
  }
  const [dir, mode, file, stepArg] = pos;
  const t = await loadTokenizer(dir);
  if (maxLength > 0) t.setTruncation(maxLength);
  let lines = fs.readFileSync(file).toString('utf8').split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const out = [];
  const opts = { addSpecialTokens: special };
  if (mode === 'single') {
    for (const l of lines) {
      const e = await t.encode(l, null, opts);
      out.push(e.getIds().join(' '));
    }
  } else if (mode === 'pairs') {
    const step = parseInt(stepArg || '1', 10);
    for (let i = 0; i + 1 < lines.length; i += step) {
      const e = await t.encode(lines[i], lines[i + 1], opts);
      out.push(e.getIds().join(' ') + '\t' + e.getTypeIds().join(' '));
    }
  } else {
    throw new Error('mode must be single or pairs');
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}
main().catch((err) => { console.error('tok_ref.js: ' + err.message); process.exit(1); });
