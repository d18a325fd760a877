/**
 * The GPU benchmark without a browser: the engine (World, Session, the two
 * workers' objects) in Node on Dawn's WebGPU and ONNX Runtime Web's WebGPU
 * execution provider, then the same graphs natively on PyTorch
 * (model/bench_pytorch.py), in one report.
 *
 *   node gpu-bench.mjs [--bundle public/models/tabletop] [--out bench] [--chunks 8]
 *        [--variants fp32,fp16] [--weights model/weights/NAME.pt | random:CONFIG:SEED]
 *        [--python python3] [--device auto|cuda|cpu] [--repo .]
 *
 * Writes OUT/gpu-report.json and OUT/gpu-report.md; exits non-zero when
 * WebGPU did not run, the frames do not match the Python reference within
 * the bundle's tolerance, or the native run failed. Built and carried by
 * scripts/gpu-bench-pack.mjs; `npm run bench:gpu` builds and runs it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { GRAPH_NAMES, type Variant, parseManifest } from '../../contract/manifest';
import { validateTestVectorIndex } from '../../contract/test-vectors';
import { detectCapabilities } from '../../base/capabilities';
import { World } from '../../runtime/world';
import { type BenchConfig, type BenchHost, BENCH_SESSION, matmulPeak, runBench } from '../bench';
import { fileFetch, inProcessWorkers, installDawn, loadOrtWasm, pngDecoder } from './host';

type Result = Awaited<ReturnType<typeof runBench>>;

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const repo = resolve(arg('repo', '.'));
const bundleDir = resolve(repo, arg('bundle', 'public/models/tabletop'));
const outDir = resolve(repo, arg('out', 'bench'));
const chunks = Number(arg('chunks', '8'));
const python = arg('python', process.env.PYTHON || 'python3');

const manifest = parseManifest(readFileSync(join(bundleDir, 'manifest.json'), 'utf8'), join(bundleDir, 'manifest.json'));
if (!manifest.testVectors) fail(`${bundleDir} has no test vectors: the benchmark checks parity and weighs its figures against them`);
const indexPath = join(bundleDir, manifest.testVectors.file);
const { cost } = validateTestVectorIndex(JSON.parse(readFileSync(indexPath, 'utf8')), indexPath);
const weights = arg('weights', `model/weights/${manifest.name}.pt`);
const bundleUrl = pathToFileURL(bundleDir + '/').href;

// 1. WebGPU from Dawn, ORT's WASM, and what a page would give World.load.
const removeDawn = installDawn();
await loadOrtWasm();
const caps = await detectCapabilities();
if (!caps.webgpu) fail(`no WebGPU adapter through Dawn: ${caps.webgpuUnavailableReason}`);
const host: BenchHost = {
  world: {
    workers: inProcessWorkers(),
    fetch: fileFetch,
    decodeImage: pngDecoder,
    cache: false,
    baseUrl: bundleUrl,
    // Software adapters compile shaders for minutes; a slow call here is not a hung worker.
    workerTimeoutMs: 60 * 60_000,
  },
  fetch: fileFetch,
  warmLoad: false,
};
const software = caps.softwareAdapter;
console.log(`adapter: ${caps.adapter}${software ? ` (SOFTWARE: ${software})` : ''}${caps.shaderF16 ? ', shader-f16' : ''}`);

// 2. The runs: fp32 resident (with the self-test) and naive readback; fp16 where the adapter has shader-f16.
const hasVariant = (v: Variant) => Object.values(manifest.graphs).every((g) => g.variants[v]);
const wanted = arg('variants', 'fp32,fp16').split(',') as Variant[];
const configs: (BenchConfig & { label: string })[] = [];
for (const variant of wanted) {
  if (!hasVariant(variant) || (variant === 'fp16' && !caps.shaderF16)) continue;
  const base = { bundle: bundleUrl, backend: 'webgpu' as const, variant, chunks };
  configs.push({ ...base, label: `webgpu ${variant}`, residency: 'gpu', verify: variant === 'fp32' });
  if (variant === 'fp32') configs.push({ ...base, label: 'webgpu fp32 (naive readback)', residency: 'readback' });
}
const results: (Result & { label: string })[] = [];
for (const { label, ...cfg } of configs) {
  console.log(`${label} ...`);
  const r = await runBench(cfg, host);
  if (r.backend !== 'webgpu') fail(`${label} ran on ${r.backend}, not WebGPU`);
  results.push({ label, ...r });
  console.log(`  ${r.steadyFps.toFixed(2)} fps, ${r.decoderCallMs.toFixed(1)} ms per decoder call, action to chunk ${r.actionToChunkMs.toFixed(0)} ms`);
}
console.log('matmul peak ...');
const matmulGflops = await matmulPeak('webgpu', undefined, fileFetch);

// 3. The native run gets the same start scene and the action encoder's output for the same texts.
const plan = await nativePlan();
const scratch = mkdtempSync(join(os.tmpdir(), 'gpu-bench-'));
const planPath = join(scratch, 'plan.json');
const nativePath = join(scratch, 'native.json');
writeFileSync(planPath, JSON.stringify(plan));
console.log(`native (${python} -m model.bench_pytorch, weights ${weights}) ...`);
const py = spawnSync(python, ['-m', 'model.bench_pytorch', '--plan', planPath, '--out', nativePath, '--weights', weights, '--device', arg('device', 'auto')], {
  cwd: repo,
  stdio: 'inherit',
});
const native = py.status === 0 ? JSON.parse(readFileSync(nativePath, 'utf8')) : { error: `${python} -m model.bench_pytorch exited with ${py.status ?? py.error}` };
rmSync(scratch, { recursive: true });

// 4. The report.
const report = buildReport();
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'gpu-report.json'), JSON.stringify(report, null, 1) + '\n');
writeFileSync(join(outDir, 'gpu-report.md'), markdown(report));
console.log(markdown(report));
removeDawn();
const problems = [
  ...(report.parity?.pass ? [] : ['the Node+Dawn frames do not match the Python reference']),
  ...(native.error ? [native.error] : []),
];
if (problems.length) fail(problems.join('; '));
process.exit(0); // Dawn's threads would keep Node alive

function fail(message: string): never {
  console.error(`gpu bench: ${message}`);
  process.exit(1);
}

/** Start scene and action encodings for model/bench_pytorch.py, from one more load of the bundle (on WASM: no shaders to compile). */
async function nativePlan() {
  const world = await World.load({ ...host.world, bundle: bundleUrl, backend: 'wasm', variant: 'fp32' });
  try {
    const scene = await world.sceneImage(world.scenes[0].id);
    const idle = world.manifest.actionEncoder.idleAction;
    const texts: Record<string, { states: string; mask: string }> = {};
    for (const t of new Set([idle, ...BENCH_SESSION.actions])) {
      const e = await world.encodeText(t);
      texts[t] = { states: base64(e.states), mask: base64(e.mask) };
    }
    const { width, height } = world.manifest.video;
    return { bundle: bundleDir, seed: BENCH_SESSION.seed, chunks, idleAction: idle, actions: BENCH_SESSION.actions, texts, scene: { width, height, rgba: base64(scene.rgba) } };
  } finally {
    world.dispose();
  }
}

function base64(a: Float32Array | Uint8ClampedArray): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function buildReport() {
  const resident = results.find((r) => r.label === 'webgpu fp32');
  const naive = results.find((r) => r.label === 'webgpu fp32 (naive readback)');
  const verify = resident?.verify;
  const graphs = GRAPH_NAMES;
  const best = results.filter((r) => r.config.residency === 'gpu').sort((a, b) => b.steadyFps - a.steadyFps)[0];
  return {
    command: `gpu-bench ${argv.join(' ')}`.trim(),
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()}`, node: process.version },
    adapter: { name: caps.adapter, software, shaderF16: caps.shaderF16 },
    bundle: { name: manifest.name, path: bundleDir, video: manifest.video, denoiseSteps: manifest.diffusion.denoiseSteps },
    model: { flopsPerFrame: cost.perFrame.flops, perGraph: cost.perGraph, perFrame: cost.perFrame },
    matmulPeakGflops: { webgpu: matmulGflops },
    results: results.map(({ verify: _, ...r }) => ({ ...r, floorFps: (matmulGflops * 1e9) / cost.perFrame.flops })),
    parity: verify && {
      pass: verify.pass,
      tolerance: verify.tolerance,
      rolloutMaxAbsError: verify.rollout.maxAbsError,
      rolloutChunks: verify.rollout.chunks,
      graphs: verify.graphs,
      texts: verify.texts.map(({ text, maxAbsError, pass }) => ({ text, maxAbsError, pass })),
    },
    native,
    ratios: {
      residentOverNaive: resident && naive ? resident.steadyFps / naive.steadyFps : null,
      // The fastest WebGPU run against PyTorch on the same graphs: frames per second, and ms per graph (native / WebGPU).
      webgpuOverNative: best && native.steadyFps
        ? { run: best.label, fps: best.steadyFps / native.steadyFps, perGraph: Object.fromEntries(graphs.map((g) => [g, native.perGraphMs[g] / best.perGraphMs[g]])) }
        : null,
    },
  };
}

function markdown(r: ReturnType<typeof buildReport>): string {
  const f = (x: unknown, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
  const graphs = Object.keys(r.model.perGraph);
  const n = r.native;
  // Every WebGPU figure carries the label when the adapter is a software one.
  const sw = r.adapter.software ? ' [software]' : '';
  return [
    `# world-canvas GPU benchmark (Node + Dawn): ${r.bundle.name}`,
    '',
    r.adapter.software
      ? `**Software adapter (${r.adapter.software}): every WebGPU figure below was computed by the CPU and says nothing about a GPU.**`
      : 'Hardware adapter.',
    '',
    `Command: \`${r.command}\` — ${r.date}`,
    '',
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGb} GiB; ${r.machine.os}; Node ${r.machine.node}.`,
    `WebGPU adapter (Dawn): ${r.adapter.name}${r.adapter.shaderF16 ? ' (shader-f16)' : ' (no shader-f16)'}.`,
    `Native: ${n.error ? `failed: ${n.error}` : `PyTorch ${n.torch} on ${n.deviceName}; weights ${n.weights.source}, ${n.weights.matchBundle ? 'within' : '**beyond**'} the graph tolerance (${n.weights.tolerance}) of the bundle's test vectors: largest difference ${Math.max(...Object.values(n.weights.maxAbsErrorPerGraph as Record<string, number>)).toExponential(1)}.`}`,
    '',
    `Model: ${(r.model.flopsPerFrame / 1e9).toFixed(2)} GFLOP per generated frame; ${r.bundle.video.width}x${r.bundle.video.height}, K = ${r.bundle.denoiseSteps}. ` +
      `Matrix-multiply peak on this adapter: ${f(r.matmulPeakGflops.webgpu)} GFLOP/s${sw} (the floor spends it on the model's FLOPs alone).`,
    '',
    '| run | first frame s | steady fps | floor fps | ms/decoder call | turn ms | VAE ms | action→chunk ms |',
    '|---|---|---|---|---|---|---|---|',
    ...r.results.map((x) => `| ${x.label}${sw} | ${f(x.firstFrameMs / 1000)} | ${f(x.steadyFps, 2)} | ${f(x.floorFps)} | ${f(x.decoderCallMs)} | ${f(x.turnMs)} | ${f(x.vaeMs)} | ${f(x.actionToChunkMs, 0)} |`),
    n.error ? '' : `| native PyTorch (${n.device}) | ${f(n.firstFrameMs / 1000)} | ${f(n.steadyFps, 2)} | | ${f(n.decoderCallMs)} | ${f(n.turnMs)} | ${f(n.vaeMs)} | ${f(n.actionToChunkMs, 0)} |`,
    '',
    'Per graph (ms per call on its test-vector inputs, median of 5; native: inputs already on the device):',
    '',
    `| run | ${graphs.join(' | ')} |`,
    `|---|${graphs.map(() => '---').join('|')}|`,
    ...r.results.map((x) => `| ${x.label}${sw} | ${graphs.map((g) => f(x.perGraphMs[g])).join(' | ')} |`),
    n.error ? '' : `| native PyTorch (${n.device}) | ${graphs.map((g) => f(n.perGraphMs[g])).join(' | ')} |`,
    '',
    r.ratios.residentOverNaive ? `Resident window vs naive readback (WebGPU fp32)${sw}: ${r.ratios.residentOverNaive.toFixed(2)}x the frames per second.` : '',
    r.ratios.webgpuOverNative
      ? `WebGPU / native (${r.ratios.webgpuOverNative.run} against PyTorch on ${n.device})${sw}: ${r.ratios.webgpuOverNative.fps.toFixed(2)}x the frames per second; per graph (native ms / WebGPU ms): ` +
        graphs.map((g) => `${g} ${f(r.ratios.webgpuOverNative!.perGraph[g], 2)}`).join(', ') + '.'
      : '',
    r.parity
      ? `Parity: the Node+Dawn rollout (fp32, ${r.parity.rolloutChunks} chunks) differs from the Python reference by at most ${r.parity.rolloutMaxAbsError.toExponential(1)} per pixel (tolerance ${r.parity.tolerance.frame.toFixed(4)}): ${r.parity.pass ? 'pass' : '**FAIL**'}.`
      : 'Parity: not checked (no fp32 run).',
    '',
    'Steady fps is generation throughput (chunks decoded back to back, no playback pacing); "action→chunk" runs from an action typed at a chunk boundary to its chunk being decoded. ' +
      'The native sampler moves numpy arrays in and out of every graph call, as the naive runtime does.',
    '',
  ].join('\n');
}
