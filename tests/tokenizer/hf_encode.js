// hf_encode.js - the HuggingFace tokenizers reference (npm @anush008/tokenizers, native Rust):
// encodes the "text" of each JSONL line of FILE with TOKENIZER_JSON and prints one JSON array of ids
// per line, no special tokens. With --nospecial, added_tokens are dropped first (raw text must never
// yield control ids). With --time, prints "seconds bytes cpu_seconds" of the encode loop to stderr.
// --batch uses encodeBatch (parallel inside the library; RAYON_NUM_THREADS sets its threads).
// usage: node hf_encode.js TOKENIZER_JSON FILE [--nospecial] [--time] [--batch]
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, '..', 'node_modules', '@anush008', 'tokenizers'));
const [tokPath, file, ...flags] = process.argv.slice(2);
let conf = fs.readFileSync(tokPath, 'utf8');
if (flags.includes('--nospecial')) {
  const j = JSON.parse(conf);
  j.added_tokens = [];
  j.post_processor = null;
  conf = JSON.stringify(j);
}
const tok = Tokenizer.fromString(conf);
const texts = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l).text);
(async () => {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const out = [];
  let bytes = 0;
  if (flags.includes('--batch')) {
    // encodeBatch: the library encodes a batch in parallel (rayon threads)
    for (let i = 0; i < texts.length; i += 256) {
      const part = texts.slice(i, i + 256);
      const es = await tok.encodeBatch(part, { addSpecialTokens: false });
      for (const e of es) out.push(JSON.stringify(e.getIds()));
      for (const t of part) bytes += Buffer.byteLength(t);
    }
  } else {
    for (const t of texts) {
      const e = await tok.encode(t, null, { addSpecialTokens: false });
      out.push(JSON.stringify(e.getIds()));
      bytes += Buffer.byteLength(t);
    }
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  if (flags.includes('--time')) process.stderr.write(`${dt} ${bytes} ${(c.user + c.system) / 1e6}\n`);
  else process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
})();
