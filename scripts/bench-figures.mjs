/**
 * The benchmark's arithmetic (scripts/bench.mjs): per generated frame from
 * per call, and ONNX Runtime's profiles (the browser's and native's, one
 * format: src/bench/graph.worker.ts ProfileEvent) as ms per op type.
 */

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

/**
 * Calls of each graph per generated frame. One phase finishes one chunk of F
 * frames: K/2 decoder calls, one encoder + backbone turn, one VAE decode
 * (model/cost.py, whose `perFrame` the bundle's test vectors carry); the VAE
 * encoder runs only when a session starts.
 */
export function callsPerFrame(perFrame) {
  const F = perFrame.framesPerChunk;
  return { decoder: perFrame.decoderCallsPerChunk / F, encoder: 1 / F, backbone: 1 / F, vae_decoder: 1 / F, vae_encoder: 0 };
}

/** ms per generated frame from ms per call of each graph (NaN if one the frame needs is missing). */
export function perFrameMs(msPerCall, perFrame) {
  return Object.entries(callsPerFrame(perFrame)).reduce((sum, [g, n]) => (n ? sum + n * (msPerCall[g] ?? NaN) : sum), 0);
}

/**
 * Time per op type in one run (ms), from a profile of a warm-up run and then
 * timed runs: the fastest timed run's (the warm-up, the first `model_run`, left
 * out), as the benchmark takes the fastest run of each graph.
 */
export function opMsPerRun(events) {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(1);
  const ms = {};
  if (!runs.length) return ms;
  const run = runs.reduce((a, b) => (b.dur < a.dur ? b : a));
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !e.op) continue;
    if (e.ts >= run.ts && e.ts <= run.ts + run.dur) ms[e.op] = (ms[e.op] ?? 0) + e.dur / 1000;
  }
  return ms;
}

/**
 * Op types as the two runtimes' optimizers leave them, grouped so they compare:
 * a convolution fused with its activation, or run in native's blocked layout
 * (NCHWc, with its reorders), is still the convolution.
 */
const FAMILY = {
  FusedConv: 'Conv',
  ReorderInput: 'Conv',
  ReorderOutput: 'Conv',
  FusedMatMul: 'MatMul',
  Gemm: 'MatMul',
  FusedGemm: 'MatMul',
};
export const opFamily = (op) => FAMILY[op] ?? op;

/** ms per generated frame by op family, from each graph's profile. */
export function opsPerFrame(profiles, perFrame) {
  const out = {};
  for (const [g, n] of Object.entries(callsPerFrame(perFrame))) {
    if (!n || !profiles[g]) continue;
    for (const [op, ms] of Object.entries(opMsPerRun(profiles[g]))) out[opFamily(op)] = (out[opFamily(op)] ?? 0) + n * ms;
  }
  return out;
}
