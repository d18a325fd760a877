#!/usr/bin/env node
/**
 * `npm run bench`: build the app, serve it, drive bench.html in Chromium for
 * each backend and variant the adapter allows, and write bench/report.json
 * and bench/report.md. Every figure carries the machine and adapter it was
 * taken on; ratios between variants come from the same run.
 *
 *   npm run bench -- [--bundle models/tabletop/] [--chunks 8] [--only webgpu,wasm]
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

import { chromium } from 'playwright-core';

import { chromiumArgs, chromiumPath, startVite } from './browser.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1] ?? '']] : acc), []),
);
const bundle = args.bundle ?? 'models/tabletop/';
const chunks = Number(args.chunks ?? 8);
const only = (args.only ?? 'webgpu,wasm').split(',');
const port = Number(args.port ?? 4180);

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

const caps = await inPage(async () => {
  const a = await navigator.gpu?.requestAdapter();
  return { webgpu: !!a, f16: !!a?.features.has('shader-f16'), adapter: a ? [a.info.vendor, a.info.architecture, a.info.description].filter(Boolean).join(' ') : null };
});
const manifest = JSON.parse(readFileSync(`public/${bundle}manifest.json`, 'utf8'));
const cost = JSON.parse(readFileSync(`public/${bundle}testvectors/index.json`, 'utf8')).cost;
const hasVariant = (v) => Object.values(manifest.graphs).some((g) => g.variants[v]);

const configs = [];
for (const backend of only) {
  for (const variant of ['fp32', 'fp16', 'q8', 'q4']) {
    if (!hasVariant(variant)) continue;
    let skip = null;
    if (backend === 'webgpu' && !caps.webgpu) skip = 'no WebGPU adapter';
    if (variant === 'fp16' && backend === 'webgpu' && !caps.f16) skip = 'the adapter has no shader-f16';
    if (variant === 'fp16' && backend === 'wasm') skip = 'fp16 graphs are for GPUs with shader-f16';
    configs.push({ backend, variant, residency: 'gpu', skip });
    if (variant === 'fp32' && backend === 'webgpu') configs.push({ backend, variant, residency: 'readback', skip });
  }
}

const results = [];
const peaks = {};
for (const backend of only) {
  if (backend === 'webgpu' && !caps.webgpu) continue;
  console.log(`matmul peak on ${backend} ...`);
  peaks[backend] = await inPage((b) => window.worldCanvasBench.matmulPeak(b), backend);
}
for (const c of configs) {
  const label = `${c.backend} ${c.variant}${c.residency === 'readback' ? ' (naive readback)' : ''}`;
  if (c.skip) {
    console.log(`${label}: skipped (${c.skip})`);
    results.push({ label, ...c });
    continue;
  }
  console.log(`${label} ...`);
  const t0 = Date.now();
  try {
    const r = await inPage((cfg) => window.worldCanvasBench.runBench(cfg), { bundle, backend: c.backend, variant: c.variant, residency: c.residency, chunks });
    results.push({ label, ...c, ...r });
    console.log(`  ${r.steadyFps.toFixed(2)} fps, ${r.decoderCallMs.toFixed(1)} ms per decoder call (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  } catch (e) {
    results.push({ label, ...c, error: String(e).slice(0, 500) });
    console.log(`  failed: ${String(e).slice(0, 200)}`);
  }
}
await browser.close();
server.kill();

// The floor: this machine's matrix-multiply peak against the model's FLOPs per frame.
const flopsPerFrame = cost.perFrame.flops;
for (const r of results) {
  if (r.steadyFps && peaks[r.backend]) {
    r.floorFps = (peaks[r.backend] * 1e9) / flopsPerFrame;
    r.fractionOfFloor = r.steadyFps / r.floorFps;
  }
}
const ref = results.find((r) => r.backend === 'webgpu' && r.variant === 'fp32' && r.residency === 'gpu' && r.steadyFps);
const naive = results.find((r) => r.residency === 'readback' && r.steadyFps);
const report = {
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine,
  adapter: caps.adapter,
  bundle: { name: manifest.name, path: bundle, video: manifest.video, denoiseSteps: manifest.diffusion.denoiseSteps },
  model: { flopsPerFrame, weightBytesReadPerFrame: cost.perFrame.fp32WeightBytesRead, perGraph: cost },
  matmulPeakGflops: peaks,
  residentOverNaive: ref && naive ? ref.steadyFps / naive.steadyFps : null,
  results,
};
mkdirSync('bench', { recursive: true });
writeFileSync('bench/report.json', JSON.stringify(report, null, 1) + '\n');

const f = (x, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
const md = [
  `# world-canvas benchmark: ${manifest.name}`,
  '',
  `Command: \`${report.command}\` — ${machine.date}`,
  '',
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB; ${machine.os}; ${machine.chromium}.`,
  `WebGPU adapter: ${caps.adapter ?? 'none'}${caps.adapter ? (caps.f16 ? ' (shader-f16)' : ' (no shader-f16)') : ''}.`,
  '',
  `Model: ${(flopsPerFrame / 1e9).toFixed(2)} GFLOP and ${(cost.perFrame.fp32WeightBytesRead / 1e6).toFixed(1)} MB of fp32 weights read per generated frame ` +
    `(${cost.perFrame.decoderCallsPerChunk} decoder calls per chunk of ${cost.perFrame.framesPerChunk} frames). ` +
    `Matrix-multiply peak measured here: ${Object.entries(peaks).map(([b, g]) => `${b} ${f(g)} GFLOP/s`).join(', ')}; ` +
    'the floor is that peak spent on nothing but the model\'s FLOPs.',
  '',
  '| run | cold load s | warm load s | shader warm-up s | first frame s | steady fps | floor fps | ms/decoder call | turn ms | VAE ms | action→chunk ms | JS heap MB | GPU MB (est.) |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) =>
    r.skip || r.error
      ? `| ${r.label} | ${r.skip ? `skipped: ${r.skip}` : `failed: ${r.error.slice(0, 80)}`} |||||||||||| `
      : `| ${r.label} | ${f(r.coldLoadMs / 1000)} | ${f(r.warmLoadMs / 1000)} | ${f(r.shaderWarmupMs / 1000)} | ${f(r.firstFrameMs / 1000)} | ${f(r.steadyFps, 2)} | ${f(r.floorFps, 1)} | ${f(r.decoderCallMs)} | ${f(r.turnMs)} | ${f(r.vaeMs)} | ${f(r.actionToChunkMs, 0)} | ${f(r.heapMb)} | ${f(r.gpuMbEstimate)} |`,
  ),
  '',
  'Per graph (ms per call on its test-vector inputs, median of 5):',
  '',
  `| run | ${Object.keys(cost).filter((k) => k !== 'perFrame').join(' | ')} |`,
  `|---|${Object.keys(cost).filter((k) => k !== 'perFrame').map(() => '---').join('|')}|`,
  ...results.filter((r) => r.perGraphMs).map((r) => `| ${r.label} | ${Object.keys(cost).filter((k) => k !== 'perFrame').map((g) => f(r.perGraphMs[g])).join(' | ')} |`),
  '',
  report.residentOverNaive ? `Resident window vs naive readback (same run, WebGPU fp32): ${report.residentOverNaive.toFixed(2)}x the frames per second.` : '',
  '',
  'Steady fps is generation throughput (chunks decoded back to back, no playback pacing). "action→chunk" runs from `act()` at a chunk boundary to the action\'s chunk being decoded (K decoder calls and two backbone turns).',
  '',
].join('\n');
writeFileSync('bench/report.md', md);
console.log(md);
