/**
 * Two (or more) files of one graph timed against each other on ONNX Runtime Web's WASM kernels, in Node,
 * on the bundle's test-vector inputs for that graph: each run takes turns with the others, and the fastest
 * of `--runs` is kept (the least disturbed by other work), so the ratio holds on a busy machine where two
 * separate benchmark runs would not compare.
 *
 *   node scripts/bench-graph-ab.mjs --bundle public/models/tabletop --graph vae_decoder OLD.onnx NEW.onnx [--runs 15]
 *
 * One thread: ORT's threaded WASM starts its threads by fetching its own script, which Node cannot do for a
 * file (the browser benchmark, `npm run bench`, times two).
 * Prints ms per call for each file and each one's speed-up over the first, and checks that every file's
 * outputs agree with the first's (max abs difference).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web/wasm';

const { values: args, positionals: files } = parseArgs({
  options: { bundle: { type: 'string' }, graph: { type: 'string' }, runs: { type: 'string' } },
  allowPositionals: true,
});
if (!args.bundle || !args.graph || files.length < 2) {
  console.error('usage: node scripts/bench-graph-ab.mjs --bundle DIR --graph NAME A.onnx B.onnx [...] [--runs N]');
  process.exit(2);
}
ort.env.wasm.numThreads = 1;
const runs = Number(args.runs ?? 15);
const dir = args.bundle.replace(/\/?$/, '/');
const index = JSON.parse(readFileSync(`${dir}testvectors/index.json`, 'utf8'));
const blob = readFileSync(`${dir}testvectors/vectors.bin`);
const io = index.graphs[args.graph];
if (!io) throw new Error(`${dir}testvectors/index.json has no graph ${args.graph}`);
const tensor = (key) => {
  const t = index.tensors[key];
  const bytes = blob.buffer.slice(blob.byteOffset + t.offset, blob.byteOffset + t.offset + t.bytes);
  return new ort.Tensor('float32', new Float32Array(bytes), t.shape);
};
const feeds = Object.fromEntries(Object.entries(io.inputs).map(([name, key]) => [name, tensor(key)]));

const sessions = [];
for (const f of files) sessions.push(await ort.InferenceSession.create(readFileSync(f), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }));
const first = await sessions[0].run(feeds);
const ms = files.map(() => []);
const maxDiff = [0];
for (let i = 1; i < sessions.length; i++) {
  const out = await sessions[i].run(feeds);
  maxDiff.push(Math.max(...Object.keys(first).map((k) => first[k].data.reduce((m, v, j) => Math.max(m, Math.abs(v - out[k].data[j])), 0))));
}
for (let r = 0; r < runs; r++) {
  for (let i = 0; i < sessions.length; i++) {
    const t0 = performance.now();
    await sessions[i].run(feeds);
    ms[i].push(performance.now() - t0);
  }
}
const best = ms.map((xs) => Math.min(...xs));
console.log(`${args.graph} on ORT-web WASM in Node ${process.version}, 1 thread, fastest of ${runs}, ` +
  `${os.cpus()[0].model.trim()}, load average ${os.loadavg()[0].toFixed(2)}:`);
files.forEach((f, i) =>
  console.log(`  ${f}: ${best[i].toFixed(1)} ms` + (i ? ` (${(best[0] / best[i]).toFixed(2)}x the first; outputs differ by at most ${maxDiff[i].toExponential(1)})` : '')),
);
