/**
 * One benchmark run in this browser: cold and warm load (with the time of
 * each stage), time to first frame, steady generation rate, action-to-frame
 * latency, milliseconds per decoder call and per graph, JS heap, an estimate
 * of GPU memory, and the backend's matrix-multiply peak for the floor.
 */
import type { Variant } from '../contract/manifest';
import { graphFile } from '../loader/bundle';
import type { LoadStage } from '../loader/bundle';
import type { FetchLike } from '../loader/fetch-bytes';
import { World, type WorldOptions } from '../runtime/world';
import { loadTestVectors, verifyBundle } from '../runtime/verify';
import { createSession, f32 } from '../../workers/ort-backend';
import type { Backend, Residency } from '../../workers/protocol';
import matmulUrl from './matmul-peak.onnx?url';

export interface BenchConfig {
  bundle: string;
  backend: Backend;
  variant: Variant;
  residency: Residency;
  /** Chunks generated for the steady-state rate. */
  chunks: number;
  /** Also run the bundle self-test (src/runtime/verify.ts): graphs and a rollout against the Python reference. */
  verify?: boolean;
}

/** Where a run happens: a page by default; the Node GPU benchmark (src/bench/node/) hands in its stand-ins. */
export interface BenchHost {
  /** Added to World.load's options (workers, fetch, image decoder, cache). */
  world?: Partial<WorldOptions>;
  fetch?: FetchLike;
  /** Load the bundle a second time, from the byte cache (a page's IndexedDB; Node has no cache). */
  warmLoad?: boolean;
}

/**
 * The rollout every run times, from the bundle's first scene: its seed, and
 * the actions typed at chunk boundaries for action-to-chunk (the native run
 * in model/native_bench.py replays the same).
 */
export const BENCH_SESSION = { seed: 1, actions: ['slide the blue one up', 'push the red block left', 'slide the blue one up'] };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

async function timedLoad(cfg: BenchConfig, host: BenchHost) {
  const t0 = performance.now();
  const stages: Partial<Record<LoadStage, number>> = {};
  let fromCache = 0;
  let total = 0;
  const world = await World.load({
    ...host.world,
    bundle: cfg.bundle,
    backend: cfg.backend,
    variant: cfg.variant,
    residency: cfg.residency,
    onProgress: (p) => {
      stages[p.stage] ??= performance.now() - t0;
      if (p.stage === 'download') {
        fromCache = p.fromCache;
        total = p.total;
      }
    },
  });
  return { world, ms: performance.now() - t0, stages, bytes: total, bytesFromCache: fromCache };
}

/** Achieved GFLOP/s of 1024x1024 matrix products on a backend (8 chained products per run). */
export async function matmulPeak(backend: Backend, fetchImpl: FetchLike = (u, i) => fetch(u, i)): Promise<number> {
  // The workers' ONNX Runtime setup (WASM binary, threads), on this page's own WebGPU device.
  const bytes = new Uint8Array(await (await fetchImpl(new URL(matmulUrl, import.meta.url).href)).arrayBuffer());
  const session = await createSession({ bytes, backend });
  const n = 1024;
  const a = f32(Float32Array.from({ length: n * n }, (_, i) => ((i % 7) - 3) / 1000), [n, n]);
  const b = f32(Float32Array.from({ length: n * n }, (_, i) => ((i % 5) - 2) / 1000), [n, n]);
  await session.run({ a, b }); // warm-up (shader compilation)
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const out = await session.run({ a, b });
    await out.y.getData(); // the product on the CPU (from the GPU, on WebGPU)
    times.push(performance.now() - t0);
  }
  await session.release();
  return (8 * 2 * n ** 3) / (median(times) / 1000) / 1e9;
}

export async function runBench(cfg: BenchConfig, host: BenchHost = { warmLoad: true }) {
  // 1. Cold load (the driver gives each run an empty browser profile), first frame.
  const cold = await timedLoad(cfg, host);
  const world = cold.world;
  const m = world.manifest;
  const F = m.video.chunkFrames;
  const t0 = performance.now();
  const session = await world.newSession({ seed: BENCH_SESSION.seed });
  while (!session.history.length) await session.step();
  const firstFrameMs = cold.ms + (performance.now() - t0);

  // 2. Steady state: generate as fast as possible, no playback pacing.
  const steadyStart = performance.now();
  const chunks = [];
  while (chunks.length < cfg.chunks) {
    const c = await session.step();
    if (c) chunks.push(c);
  }
  const steadyS = (performance.now() - steadyStart) / 1000;

  // 3. Action to finished chunk: typed at a chunk boundary, until its chunk is decoded.
  const latencies: number[] = [];
  for (const action of BENCH_SESSION.actions) {
    const t = performance.now();
    const r = session.act(action);
    await session.runUntil(r.chunk);
    latencies.push(performance.now() - t);
  }

  // 4. Each graph alone on its test-vector inputs.
  const perGraph: Record<string, number> = {};
  if (m.testVectors) {
    const { index, tensor } = await loadTestVectors(world, host.fetch);
    for (const g of Object.keys(index.graphs) as (keyof typeof index.graphs)[]) {
      const feeds = Object.fromEntries(Object.entries(index.graphs[g].inputs).map(([k, key]) => [k, tensor(key)]));
      await world.runGraph(g, feeds);
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await world.runGraph(g, feeds);
        times.push(performance.now() - t);
      }
      perGraph[g] = median(times);
    }
  }

  // 5. Memory: the JS heap, and the GPU's share estimated from what it must hold.
  const heapMb = ((performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? NaN) / 1048576;
  const lat = F * m.latent.channels * m.latent.height * m.latent.width * 4;
  const gpuWeights = world.info.backend === 'webgpu' ? Object.keys(m.graphs).reduce((s, g) => s + graphFile(m, g as never, world.info.variant).bytes, 0) : 0;
  const gpuMbEstimate = world.info.backend === 'webgpu' ? (gpuWeights + 3 * lat) / 1048576 : 0;
  const info = world.info;
  // 6. The self-test, on the same engine.
  const verify = cfg.verify ? await verifyBundle(world, host.fetch) : undefined;
  world.dispose();

  // 7. Warm load: the same bundle again, now from the IndexedDB cache.
  const warm = host.warmLoad ? await timedLoad(cfg, host) : null;
  warm?.world.dispose();

  return {
    config: cfg,
    backend: info.backend,
    variant: info.variant,
    adapter: info.adapter,
    userAgent: globalThis.navigator?.userAgent,
    coldLoadMs: cold.ms,
    coldStagesMs: cold.stages,
    bundleBytes: cold.bytes,
    warmLoadMs: warm?.ms ?? NaN,
    warmStagesMs: warm?.stages,
    warmBytesFromCache: warm?.bytesFromCache,
    shaderWarmupMs: (cold.stages.ready ?? NaN) - (cold.stages.warmup ?? NaN),
    firstFrameMs,
    steadyFps: (chunks.length * F) / steadyS,
    decoderCallMs: median(chunks.flatMap((c) => c.callMs)),
    turnMs: median(chunks.map((c) => c.turnMs)),
    vaeMs: median(chunks.map((c) => c.vaeMs)),
    actionToChunkMs: median(latencies),
    perGraphMs: perGraph,
    heapMb,
    gpuMbEstimate,
    verify,
  };
}
