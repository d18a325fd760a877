/**
 * The packed GPU benchmark's report, after scripts/test.sh ran it on lavapipe:
 * node --test test/gpu-bench/report.test.mjs   (GPU_BENCH_OUT names the report's folder)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

const dir = process.env.GPU_BENCH_OUT ?? 'build/gpu-bench-report';
const report = JSON.parse(readFileSync(join(dir, 'gpu-report.json'), 'utf8'));
const md = readFileSync(join(dir, 'gpu-report.md'), 'utf8');
const GRAPHS = ['vae_encoder', 'vae_decoder', 'encoder', 'backbone', 'decoder'];

test('it ran on WebGPU through Dawn and says which adapter, labelled software', () => {
  assert.match(report.adapter.name, /llvmpipe/);
  assert.ok(report.adapter.software, 'lavapipe is a software adapter');
  assert.match(md, /Software adapter \(llvmpipe, a software rasteriser\)/);
  for (const r of report.results) assert.equal(r.backend, 'webgpu');
});

test('the Node+Dawn frames match the Python reference', () => {
  assert.equal(report.parity.pass, true);
  assert.ok(report.parity.rolloutMaxAbsError <= report.parity.tolerance.frame);
  for (const g of GRAPHS) assert.ok(report.parity.graphs[g].pass, g);
});

test('resident and naive runs, each with fps, action-to-frame and per-graph times', () => {
  const labels = report.results.map((r) => r.label);
  assert.deepEqual(labels.slice(0, 2), ['webgpu fp32', 'webgpu fp32 (naive readback)']);
  for (const r of report.results) {
    for (const k of ['steadyFps', 'firstFrameMs', 'actionToChunkMs', 'decoderCallMs', 'vaeMs', 'turnMs']) assert.ok(r[k] > 0, `${r.label} ${k}`);
    for (const g of GRAPHS) assert.ok(r.perGraphMs[g] > 0, `${r.label} ${g}`);
  }
  assert.ok(report.ratios.residentOverNaive > 0);
});

test('the native run used the bundle\'s weights and gives the WebGPU/native ratio', () => {
  assert.equal(report.native.weights.matchBundle, true);
  assert.ok(report.native.steadyFps > 0 && report.native.actionToChunkMs > 0);
  assert.ok(report.ratios.webgpuOverNative.fps > 0);
  for (const g of GRAPHS) assert.ok(report.ratios.webgpuOverNative.perGraph[g] > 0, g);
});
