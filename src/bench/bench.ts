/**
 * One benchmark run in this browser: cold and warm load (with the time of
 * each stage), time to first frame, steady generation rate and where each
 * generated frame's time goes, action-to-frame latency, milliseconds per
 * decoder call and per graph (and, on WASM, each graph in a worker of its own
 * with ONNX Runtime's profile of it), JS heap, an estimate of GPU memory, and
 * the backend's matrix-multiply peak for the floor.
 */
import * as Comlink from 'comlink';

import { GRAPH_NAMES, type GraphName, type Variant, validateManifest } from '../contract/manifest';
import { type ModelCost, graphFeeds, validateTestVectorIndex } from '../contract/test-vectors';
import { type LoadStage, graphFile, resolveBundle } from '../loader/bundle';
import type { FetchLike } from '../loader/fetch-bytes';
import type { FinishedChunk } from '../runtime/session';
import { World, type WorldOptions } from '../runtime/world';
import { loadTestVectors, verifyBundle } from '../runtime/verify';
import { configureOrt, createSession, f32, type ort } from '../../workers/ort-backend';
import type { Backend, Residency, WireTensor } from '../../workers/protocol';
import type { GraphTiming, GraphTimingApi } from './graph.worker';
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
  /** ONNX Runtime's WASM threads per worker (default: the engine's pick). */
  threads?: number;
  /** Session options to time each graph with, besides the engine's (WASM): name -> options over the engine's. */
  alternatives?: Record<string, ort.InferenceSession.SessionOptions>;
  /** Timed runs of each graph in a worker of its own (WASM). */
  runs?: number;
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
 * in model/bench_pytorch.py replays the same).
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
    threads: cfg.threads,
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

/** A worker of the benchmark's own (graph.worker.ts), for as long as `f` runs. */
async function withGraphWorker<T>(f: (api: Comlink.Remote<GraphTimingApi>) => Promise<T>): Promise<T> {
  const worker = new Worker(new URL('./graph.worker.ts', import.meta.url), { type: 'module', name: 'world-canvas bench' });
  try {
    return await f(Comlink.wrap<GraphTimingApi>(worker));
  } finally {
    worker.terminate();
  }
}

/**
 * Achieved GFLOP/s of 1024x1024 matrix products on a backend (8 chained products per run, the fastest of 5):
 * WASM in a worker, as the engine runs it (threads need a worker: the page's thread may not block);
 * WebGPU on this page's own device (`threads` is for WASM).
 */
export async function matmulPeak(backend: Backend, threads?: number, fetchImpl: FetchLike = (u, i) => fetch(u, i)): Promise<number> {
  const bytes = new Uint8Array(await (await fetchImpl(new URL(matmulUrl, import.meta.url).href)).arrayBuffer());
  const n = 1024;
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i % 7) - 3) / 1000);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i % 5) - 2) / 1000);
  const times: number[] = [];
  if (backend === 'wasm') {
    const feeds = { a: { data: a, dims: [n, n] }, b: { data: b, dims: [n, n] } };
    const r = await withGraphWorker((api) => api.time({ bytes, feeds, threads, runs: 5, options: { engine: {} }, profile: false }));
    times.push(...r.ms.engine);
  } else {
    configureOrt(1); // WASM threads on the page's thread hang ORT's start: it may not block
    const session = await createSession({ bytes, backend });
    const feeds = { a: f32(a, [n, n]), b: f32(b, [n, n]) };
    await session.run(feeds); // warm-up (shader compilation)
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const out = await session.run(feeds);
      await out.y.getData(); // the product on the CPU (from the GPU)
      times.push(performance.now() - t0);
    }
    await session.release();
  }
  return (8 * 2 * n ** 3) / (Math.min(...times) / 1000) / 1e9; // a peak: the fastest run
}

/** Where one generated frame's time goes, ms per frame (means over the steady chunks, so the parts add up). */
export interface FrameBreakdown {
  decoder: number;
  encoder: number;
  backbone: number;
  vaeDecoder: number;
  /** Everything else in a step: worker messages, copies and readbacks, noise, the RGBA conversion, the main thread's share. */
  jsAndTransfer: number;
  /** The step's wall time per frame (the sum of the parts). */
  total: number;
}

function frameBreakdown(chunks: FinishedChunk[], stepMs: number[], F: number): FrameBreakdown {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length / F;
  const decoder = mean(chunks.map((c) => c.callMs.reduce((a, b) => a + b, 0)));
  const encoder = mean(chunks.map((c) => c.encoderMs));
  const backbone = mean(chunks.map((c) => c.backboneMs));
  const vaeDecoder = mean(chunks.map((c) => c.vaeMs));
  const total = mean(stepMs);
  return { decoder, encoder, backbone, vaeDecoder, jsAndTransfer: total - decoder - encoder - backbone - vaeDecoder, total };
}

/**
 * Each graph of the bundle in a worker of its own, with the engine's session
 * options and each alternative's in turn (`threads` WASM threads), on its
 * test-vector inputs: every run timed; and profiled with the engine's options.
 */
async function graphsInWorker(world: World, cfg: BenchConfig, inputs: GraphInputs, threads: number, runs: number) {
  const out: Partial<Record<GraphName, GraphTiming>> = {};
  await withGraphWorker(async (api) => {
    for (const [g, feeds] of inputs) {
      const url = new URL(graphFile(world.manifest, g, world.info.variant).file, world.location.base);
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      out[g] = await api.time({ bytes, feeds, threads, runs, options: { engine: {}, ...cfg.alternatives }, profile: true });
    }
  });
  return out;
}

/** Each graph of the test vectors with its inputs. */
type GraphInputs = [GraphName, Record<string, WireTensor>][];

async function testVectorInputs(world: World, fetchImpl?: FetchLike): Promise<GraphInputs> {
  const vectors = await loadTestVectors(world, fetchImpl);
  return GRAPH_NAMES.map((g) => [g, graphFeeds(vectors, g)]);
}

/**
 * What one call of each graph and one generated frame of a bundle cost (its test vectors' `cost`): the
 * floor's denominator. `bundle` is resolved against the page.
 */
export async function modelCost(bundle: string, fetchImpl: FetchLike = (u, i) => fetch(u, i)): Promise<ModelCost> {
  const loc = resolveBundle(bundle, globalThis.location?.href ?? 'http://localhost/');
  const manifest = validateManifest(await (await fetchImpl(loc.manifestUrl)).json(), loc.manifestUrl);
  if (!manifest.testVectors) throw new Error(`bundle "${manifest.name}" has no test vectors, so no cost`);
  const url = new URL(manifest.testVectors.file, loc.base).href;
  return validateTestVectorIndex(await (await fetchImpl(url)).json(), url).cost;
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

  // 2. Steady state: generate as fast as possible, no playback pacing; each step timed.
  const steadyStart = performance.now();
  const chunks: FinishedChunk[] = [];
  const stepMs: number[] = [];
  while (chunks.length < cfg.chunks) {
    const t = performance.now();
    const c = await session.step();
    if (c) {
      chunks.push(c);
      stepMs.push(performance.now() - t);
    }
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

  // 4. A new action's text encoding (the texts are new to the encoder's cache).
  const textMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await world.encodeText(`move object ${i} ${['left', 'up', 'down'][i % 3]}`);
    textMs.push(performance.now() - t);
  }

  // 5. Each graph alone on its test-vector inputs: through the engine (a round trip to its worker), and
  //    on WASM also in a worker of its own, timed around the run alone and profiled (the native comparison).
  const perGraph: Record<string, number> = {};
  let inWorker: Awaited<ReturnType<typeof graphsInWorker>> | null = null;
  if (m.testVectors) {
    const inputs = await testVectorInputs(world, host.fetch);
    for (const [g, feeds] of inputs) {
      await world.runGraph(g, feeds);
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await world.runGraph(g, feeds);
        times.push(performance.now() - t);
      }
      perGraph[g] = median(times);
    }
    // Workers of the page's own: a browser's (the Node benchmark runs WebGPU in its own thread).
    if (world.info.backend === 'wasm' && typeof Worker !== 'undefined') inWorker = await graphsInWorker(world, cfg, inputs, world.info.threads, cfg.runs ?? 7);
  }

  // 6. Memory: the JS heap, and the GPU's share estimated from what it must hold.
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
    threads: info.threads,
    crossOriginIsolated: globalThis.crossOriginIsolated ?? false,
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
    frameMs: frameBreakdown(chunks, stepMs, F),
    decoderCallMs: median(chunks.flatMap((c) => c.callMs)),
    turnMs: median(chunks.map((c) => c.turnMs)),
    vaeMs: median(chunks.map((c) => c.vaeMs)),
    textEncodingMs: median(textMs),
    actionToChunkMs: median(latencies),
    perGraphMs: perGraph,
    perGraphInWorker: inWorker,
    heapMb,
    gpuMbEstimate,
    verify,
  };
}
