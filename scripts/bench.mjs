#!/usr/bin/env node
/**
 * `npm run bench`: build the app, serve it (cross-origin isolated, so WASM
 * runs threads), drive bench.html in Chromium for each backend, variant and
 * WASM thread count; right after each WASM run, time the same graphs with
 * native onnxruntime (the project's Python venv, CPU, same threads, same
 * inputs: model/bench_onnxruntime.py); write bench/report.json and
 * bench/report.md. Every figure carries the machine and adapter it was taken
 * on; ratios come from the same run.
 *
 *   npm run bench -- [--bundle models/tabletop/] [--chunks 8] [--only webgpu,wasm] [--variants fp32,fp16,q8,q4] [--threads 1,2] [--runs 7]
 *
 * WebGPU on a software adapter (SwiftShader) runs only with `--only webgpu`.
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

import { chromium } from 'playwright-core';

import { opsPerFrame, perFrameMs } from './bench-figures.mjs';
import { chromiumArgs, chromiumPath, startVite } from './browser.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1] ?? '']] : acc), []),
);
const bundle = args.bundle ?? 'models/tabletop/';
const chunks = Number(args.chunks ?? 8);
const only = (args.only ?? 'webgpu,wasm').split(',');
// A software WebGPU adapter (SwiftShader) runs only when asked for by name: it is no GPU (the
// runtime's 'auto' passes over it too), and takes hours on a busy machine.
const webgpuAsked = args.only?.split(',').includes('webgpu') ?? false;
const variantsAsked = (args.variants ?? 'fp32,fp16,q8,q4').split(',');
const port = Number(args.port ?? 4180);
// Timed runs of each graph alone; the fastest is the one least disturbed by other work on the machine.
const runs = Number(args.runs ?? 7);
const fastest = (xs) => Math.min(...xs);
const python = process.env.PYTHON ?? '.venv/bin/python';

/**
 * Session options timed beside the engine's on WASM (fp32 runs), each graph
 * alone: what was tried to make WASM faster, kept in the report with its
 * measured effect. Options over the engine's (workers/ort-backend.ts
 * createSession). The first is the engine's own again: the spread between two
 * identical sessions, against which the others' differences are read.
 * Thread-pool settings (spinning) cannot be tried: ORT's WASM build runs every
 * session on one global pool, which ignores them.
 */
const ALTERNATIVES = {
  'the same (control)': {},
  'graph optimization "extended"': { graphOptimizationLevel: 'extended' },
  // Off by default in the web build, on in native: does planning and reusing allocations help WASM?
  'memory arena and pattern on': { enableCpuMemArena: true, enableMemPattern: true },
};

function sh(cmd) {
  try {
    return execSync(cmd, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const machine = {
  cpu: sh("lscpu | sed -n 's/^Model name:[ \\t]*//p'"),
  cores: os.cpus().length,
  memoryGb: Math.round(os.totalmem() / 2 ** 30),
  os: `${os.type()} ${os.release()}`,
  chromium: sh(`${chromiumPath} --version`).split('\n').pop(),
  date: new Date().toISOString(),
  // Other work on the machine skews every figure: the load before and after the run.
  loadAverage: { before: os.loadavg()[0] },
};

console.log('building the app (vite build) ...');
execSync('npx vite build --logLevel warn', { stdio: 'inherit' });
const server = await startVite(['preview', '--port', String(port), '--strictPort']);
const base = `http://localhost:${port}`;

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: [...chromiumArgs, '--enable-precise-memory-info'],
});

async function inPage(fn, arg) {
  const context = await browser.newContext(); // an empty profile: cold loads come from the network
  const page = await context.newPage();
  await page.goto(`${base}/bench.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  try {
    return await page.evaluate(fn, arg);
  } finally {
    await context.close();
  }
}

// What the runtime itself detects (src/base/capabilities.ts): the adapter, and whether it is a software one;
// and the WASM threads the engine runs on this page when none are asked for.
const caps = await inPage(async () => ({ ...(await window.worldCanvasBench.detectCapabilities()) }));
const engineThreads = await inPage(() => window.worldCanvasBench.engineThreads());
// One thread, and the engine's own count (timed once when it is one).
const threadCounts = (args.threads ?? [...new Set([1, engineThreads])].join(',')).split(',').map(Number);
const software = caps.softwareAdapter;
const manifest = JSON.parse(readFileSync(`public/${bundle}manifest.json`, 'utf8'));
// What the model's graphs and one generated frame cost, from its test vectors, read by the page (src/contract/test-vectors.ts).
const cost = await inPage((b) => window.worldCanvasBench.modelCost(b), bundle);
const perFrame = cost.perFrame;
const graphs = Object.keys(cost.perGraph);
const hasVariant = (v) => Object.values(manifest.graphs).some((g) => g.variants[v]);
const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;

const configs = [];
for (const backend of only) {
  for (const variant of variantsAsked) {
    if (!hasVariant(variant)) continue;
    let skip = null;
    if (backend === 'webgpu' && !caps.webgpu) skip = 'no WebGPU adapter';
    if (backend === 'webgpu' && software && !webgpuAsked) skip = `${caps.adapter} is no GPU (${software}): \`--only webgpu\` runs it`;
    if (variant === 'fp16' && backend === 'webgpu' && !caps.shaderF16) skip = 'the adapter has no shader-f16';
    if (variant === 'fp16' && backend === 'wasm') skip = 'fp16 graphs are for GPUs with shader-f16';
    if (backend === 'wasm') {
      for (const threads of threadCounts) {
        const alternatives = variant === 'fp32' ? ALTERNATIVES : undefined;
        configs.push({ label: `wasm ${variant} · ${plural(threads, 'thread')}`, backend, variant, residency: 'gpu', threads, alternatives, skip });
      }
    } else {
      configs.push({ label: `webgpu ${variant}`, backend, variant, residency: 'gpu', skip });
      if (variant === 'fp32') configs.push({ label: 'webgpu fp32 (naive readback)', backend, variant, residency: 'readback', skip });
    }
  }
}

// The matrix-multiply peak of each backend (and WASM thread count): the floor's numerator.
const peakKey = (backend, threads) => (backend === 'wasm' ? `wasm ${plural(threads, 'thread')}` : backend);
const peaks = {};
for (const c of configs) {
  const key = peakKey(c.backend, c.threads);
  if (c.skip || key in peaks) continue;
  console.log(`matmul peak on ${key} ...`);
  peaks[key] = await inPage(([b, t]) => window.worldCanvasBench.matmulPeak(b, t), [c.backend, c.threads]);
}

/** Native onnxruntime on the graphs of one WASM run: the same variant, threads and inputs. */
function timeNative(variant, threads) {
  try {
    const out = execFileSync(
      python,
      ['-m', 'model.bench_onnxruntime', '--bundle', `public/${bundle}`, '--variants', variant, '--threads', String(threads), '--runs', String(runs)],
      { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    return JSON.parse(out);
  } catch (e) {
    return { error: String(e).slice(0, 500) };
  }
}

const results = [];
let native = null;
for (const { label, ...c } of configs) {
  if (c.skip) {
    console.log(`${label}: skipped (${c.skip})`);
    results.push({ label, ...c });
    continue;
  }
  console.log(`${label} ...`);
  const t0 = Date.now();
  try {
    const r = await inPage((cfg) => window.worldCanvasBench.runBench(cfg), { bundle, chunks, runs, ...c });
    results.push({ label, ...c, ...r, loadAverage: os.loadavg()[0] });
    console.log(`  ${r.steadyFps.toFixed(2)} fps, ${r.decoderCallMs.toFixed(1)} ms per decoder call (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    if (r.perGraphInWorker) {
      console.log(`  native onnxruntime (${python}), ${plural(r.threads, 'thread')} ...`);
      const n = timeNative(r.variant, r.threads);
      native ??= { onnxruntime: n.onnxruntime, provider: n.provider, error: n.error };
      results.at(-1).nativeRaw = n.results?.[0] ?? { error: n.error };
    }
  } catch (e) {
    results.push({ label, ...c, error: String(e).slice(0, 500) });
    console.log(`  failed: ${String(e).slice(0, 200)}`);
  }
}
await browser.close();
server.kill();
machine.loadAverage.after = os.loadavg()[0];

// Figures: the floor (this machine's matrix-multiply peak against the model's FLOPs per frame),
// WASM against native per graph and per frame, the ops that cost WASM most against native.
for (const r of results) {
  const peak = peaks[peakKey(r.backend, r.threads)];
  if (r.steadyFps && peak) {
    r.floorFps = (peak * 1e9) / perFrame.flops;
    r.fractionOfFloor = r.steadyFps / r.floorFps;
  }
  if (!r.perGraphInWorker) continue;
  const timings = r.perGraphInWorker;
  const ms = (name) => Object.fromEntries(Object.entries(timings).map(([g, t]) => [g, fastest(t.ms[name])]));
  const profiles = Object.fromEntries(Object.entries(timings).map(([g, t]) => [g, t.profile]));
  r.wasm = { perGraphMs: ms('engine'), opsPerFrameMs: opsPerFrame(profiles, perFrame) };
  r.wasm.perFrameMs = perFrameMs(r.wasm.perGraphMs, perFrame);
  r.alternatives = Object.fromEntries(Object.keys(r.alternatives ?? {}).map((name) => [name, { perGraphMs: ms(name), perFrameMs: perFrameMs(ms(name), perFrame) }]));
  const n = r.nativeRaw;
  if (n?.perGraphRunsMs) {
    const nativeMs = Object.fromEntries(Object.entries(n.perGraphRunsMs).map(([g, t]) => [g, fastest(t)]));
    r.native = { perGraphMs: nativeMs, perFrameMs: perFrameMs(nativeMs, perFrame), opsPerFrameMs: n.profile ? opsPerFrame(n.profile, perFrame) : null };
    r.wasmOverNative = {
      perGraph: Object.fromEntries(graphs.map((g) => [g, r.wasm.perGraphMs[g] / nativeMs[g]])),
      perFrame: r.wasm.perFrameMs / r.native.perFrameMs,
    };
  } else if (n?.error) {
    r.native = { error: n.error };
  }
  delete r.perGraphInWorker; // raw runs and profiles: summarised above
  delete r.nativeRaw;
}
const ref = results.find((r) => r.backend === 'webgpu' && r.variant === 'fp32' && r.residency === 'gpu' && r.steadyFps);
const naive = results.find((r) => r.residency === 'readback' && r.steadyFps);
const report = {
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine,
  adapter: caps.adapter,
  adapterIsSoftware: !!software,
  crossOriginIsolated: caps.crossOriginIsolated,
  bundle: { name: manifest.name, path: bundle, video: manifest.video, denoiseSteps: manifest.diffusion.denoiseSteps },
  model: { flopsPerFrame: perFrame.flops, weightBytesReadPerFrame: perFrame.fp32WeightBytesRead, perGraph: cost.perGraph, perFrame },
  matmulPeakGflops: peaks,
  residentOverNaive: ref && naive ? ref.steadyFps / naive.steadyFps : null,
  native,
  results,
};
mkdirSync('bench', { recursive: true });
writeFileSync('bench/report.json', JSON.stringify(report, null, 1) + '\n');

// ---------------------------------------------------------------------------------------------
const f = (x, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
const ok = results.filter((r) => !r.skip && !r.error);
const wasmOk = ok.filter((r) => r.wasm);
const gpuLabel = (label) => (software && label.startsWith('webgpu') ? `${label} (software)` : label);
const maxThreads = Math.max(...threadCounts);
const headline = wasmOk.find((r) => r.variant === 'fp32' && r.threads === maxThreads);
const aims = [];
if (headline) {
  const at2 = wasmOk.find((r) => r.variant === 'fp32' && r.threads === 2);
  if (at2) {
    aims.push(`- ≥ 20 fps steady on WASM with 2 threads: **${f(at2.steadyFps, 2)} fps** (wasm fp32 · 2 threads): ${at2.steadyFps >= 20 ? 'met' : 'not met'}.`);
    aims.push(`- action to first frame < 500 ms: **${f(at2.actionToChunkMs, 0)} ms** (wasm fp32 · 2 threads): ${at2.actionToChunkMs < 500 ? 'met' : 'not met'}.`);
  }
  if (headline.wasmOverNative) {
    aims.push(`- WASM within 2x of native onnxruntime at equal threads: **${f(headline.wasmOverNative.perFrame, 2)}x** per generated frame (${headline.label}): ${headline.wasmOverNative.perFrame <= 2 ? 'met' : 'not met'}.`);
  }
}
/** The op families with the largest excess of WASM over native, ms per generated frame (one fp32 run). */
const opsTable = (r) => {
  const w = r.wasm.opsPerFrameMs;
  const n = r.native.opsPerFrameMs;
  const total = Object.values(w).reduce((a, b) => a + b, 0);
  const rows = [...new Set([...Object.keys(w), ...Object.keys(n)])]
    .map((op) => ({ op, w: w[op] ?? 0, n: n[op] ?? 0 }))
    .sort((a, b) => b.w - b.n - (a.w - a.n))
    .slice(0, 8)
    .map((o) => `| ${o.op} | ${f(o.w, 2)} | ${f(o.n, 2)} | ${o.n ? f(o.w / o.n, 1) + 'x' : '-'} | ${f(o.w - o.n, 2)} | ${f((100 * o.w) / total, 0)}% |`);
  return [`${r.label}:`, '', '| op | WASM | native | WASM/native | excess | share of WASM |', '|---|---|---|---|---|---|', ...rows, ''];
};
const profiled = wasmOk.filter((r) => r.variant === 'fp32' && r.native?.opsPerFrameMs);
const alternativeNames = Object.keys(ALTERNATIVES);

const md = [
  `# world-canvas benchmark: ${manifest.name}`,
  '',
  `Command: \`${report.command}\` — ${machine.date}`,
  '',
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB; ${machine.os}; ${machine.chromium}. ` +
    `Load average (1 min) ${f(machine.loadAverage.before, 2)} before the run, ${f(machine.loadAverage.after, 2)} after: other work shared the cores, so compare figures within this report.`,
  `WebGPU adapter: ${caps.adapter ?? 'none'}${caps.adapter ? (caps.shaderF16 ? ' (shader-f16)' : ' (no shader-f16)') : ''}` +
    `${software ? ' — a software rasteriser: its WebGPU figures say nothing about a GPU' : ''}. ` +
    `Page cross-origin isolated: ${caps.crossOriginIsolated ? 'yes' : 'no (WASM ran on one thread)'}.`,
  native?.onnxruntime ? `Native: onnxruntime ${native.onnxruntime} (${python}), ${native.provider}.` : `Native: ${native?.error ? `failed (${native.error.slice(0, 200)})` : 'not run'}.`,
  '',
  `Model: ${(perFrame.flops / 1e9).toFixed(2)} GFLOP and ${(perFrame.fp32WeightBytesRead / 1e6).toFixed(1)} MB of fp32 weights read per generated frame ` +
    `(${perFrame.decoderCallsPerChunk} decoder calls per chunk of ${perFrame.framesPerChunk} frames). ` +
    `Matrix-multiply peak measured here: ${Object.entries(peaks).map(([b, g]) => `${b} ${f(g)} GFLOP/s`).join(', ')}; ` +
    "the floor is that peak spent on nothing but the model's FLOPs.",
  '',
  ...(aims.length ? ['## Aims', '', ...aims, ''] : []),
  '## Runs',
  '',
  '| run | cold load s | warm load s | shader warm-up s | first frame s | steady fps | floor fps | ms/decoder call | turn ms | VAE ms | action→chunk ms | JS heap MB | GPU MB (est.) | load after |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) =>
    r.skip || r.error
      ? `| ${gpuLabel(r.label)} | ${r.skip ? `skipped: ${r.skip}` : `failed: ${r.error.slice(0, 80)}`} ||||||||||||| `
      : `| ${gpuLabel(r.label)} | ${f(r.coldLoadMs / 1000)} | ${f(r.warmLoadMs / 1000)} | ${f(r.shaderWarmupMs / 1000)} | ${f(r.firstFrameMs / 1000)} | ${f(r.steadyFps, 2)} | ${f(r.floorFps, 1)} | ${f(r.decoderCallMs)} | ${f(r.turnMs)} | ${f(r.vaeMs)} | ${f(r.actionToChunkMs, 0)} | ${f(r.heapMb)} | ${f(r.gpuMbEstimate)} | ${f(r.loadAverage, 1)} |`,
  ),
  '',
  'Steady fps is generation throughput (chunks decoded back to back, no playback pacing). "action→chunk" runs from `act()` at a chunk boundary to the action\'s chunk being decoded (K decoder calls and two backbone turns): its first frame can be shown then. "load after": the 1-minute load average when the run ended.',
  '',
  "## Where a generated frame's time goes",
  '',
  'ms per generated frame in the steady runs above (means, so the parts add up to the step\'s wall time). Text encoding is not in a steady chunk (the idle action\'s encoding is cached): its column is a new action\'s encoding spread over one chunk, paid when every chunk takes a new action.',
  '',
  '| run | decoder | encoder | backbone | VAE decode | JS & transfer | total | fps | text encoding |',
  '|---|---|---|---|---|---|---|---|---|',
  ...ok.map((r) => {
    const b = r.frameMs;
    return `| ${gpuLabel(r.label)} | ${f(b.decoder)} | ${f(b.encoder)} | ${f(b.backbone)} | ${f(b.vaeDecoder)} | ${f(b.jsAndTransfer)} | ${f(b.total)} | ${f(1000 / b.total, 2)} | ${f(r.textEncodingMs / manifest.video.chunkFrames)} |`;
  }),
  '',
  '"JS & transfer": worker messages, copies and readbacks (the KV cache goes to the main thread and back every turn), noise, the RGBA conversion and the main thread\'s share of a step.',
  '',
  '## WASM against native onnxruntime',
  '',
  `ms per call, each graph alone on its test-vector inputs, after one warm-up, the fastest of ${runs} runs (the least disturbed by other work on the machine): WASM in a worker of its own with the engine's session options, native right after with the same options and threads (\`model/bench_onnxruntime.py\`). Per frame: each graph weighed by its calls per generated frame.`,
  '',
  `| run | ${graphs.join(' | ')} | per frame |`,
  `|---|${graphs.map(() => '---').join('|')}|---|`,
  ...wasmOk.map((r) =>
    r.wasmOverNative
      ? `| ${r.label} | ${graphs.map((g) => `${f(r.wasm.perGraphMs[g])} / ${f(r.native.perGraphMs[g])} = **${f(r.wasmOverNative.perGraph[g], 1)}x**`).join(' | ')} | ${f(r.wasm.perFrameMs)} / ${f(r.native.perFrameMs)} = **${f(r.wasmOverNative.perFrame, 1)}x** |`
      : `| ${r.label} | ${graphs.map((g) => `${f(r.wasm.perGraphMs[g])} / -`).join(' | ')} | ${f(r.wasm.perFrameMs)} / - ${r.native?.error ? `(native failed: ${r.native.error.slice(0, 80)})` : ''} |`,
  ),
  '',
  ...(profiled.length
    ? [
        '### The ops that hold WASM back',
        '',
        "ONNX Runtime's profiles of the graphs above (the browser's and native's, each graph's fastest profiled run), ms per generated frame by op type, the largest excess over native first. Convolutions include their fused forms and native's layout reorders (NCHWc, which native x86 builds use and WASM's do not); MatMul includes Gemm.",
        '',
        ...profiled.flatMap(opsTable),
      ]
    : []),
  ...(alternativeNames.length && wasmOk.some((r) => Object.keys(r.alternatives ?? {}).length)
    ? [
        '### Session options tried (WASM)',
        '',
        "Each graph alone as above, with other session options over the engine's, their runs taking turns with the engine's; ms per generated frame, and the ratio to the engine's options (below 1: faster).",
        '',
        `| run | engine's options | ${alternativeNames.join(' | ')} |`,
        `|---|---|${alternativeNames.map(() => '---').join('|')}|`,
        ...wasmOk
          .filter((r) => Object.keys(r.alternatives ?? {}).length)
          .map((r) => `| ${r.label} | ${f(r.wasm.perFrameMs)} | ${alternativeNames.map((a) => `${f(r.alternatives[a]?.perFrameMs)} (${f(r.alternatives[a]?.perFrameMs / r.wasm.perFrameMs, 2)})`).join(' | ')} |`),
        '',
      ]
    : []),
  '## Per graph through the engine',
  '',
  'ms per call on its test-vector inputs, median of 5, through the engine (a round trip to its worker, tensors copied both ways):',
  '',
  `| run | ${graphs.join(' | ')} |`,
  `|---|${graphs.map(() => '---').join('|')}|`,
  ...ok.filter((r) => r.perGraphMs).map((r) => `| ${gpuLabel(r.label)} | ${graphs.map((g) => f(r.perGraphMs[g])).join(' | ')} |`),
  '',
  report.residentOverNaive ? `Resident window vs naive readback (same run, WebGPU fp32${software ? ', software adapter' : ''}): ${report.residentOverNaive.toFixed(2)}x the frames per second.` : '',
  '',
].join('\n');
writeFileSync('bench/report.md', md);
console.log(md);
