/**
 * A loaded bundle, ready to simulate: its manifest, its bytes, and the
 * engine (two workers) that runs its graphs. Sessions (rollouts) are created
 * from it; they are plain values the World steps, so forks are cheap.
 */
import { type GraphName, type Manifest, type Variant, elementCount, expectedGraphIO } from '../contract/manifest';
import { type BundleLocation, type LoadProgress, fetchManifest, loadFiles, resolveBundle, sessionFiles } from '../loader/bundle';
import { type ByteCache, idbByteCache, tolerantCache } from '../loader/cache';
import { type FetchLike } from '../loader/fetch-bytes';
import { SwinDpmSchedule } from '../scheduler/schedule';
import {
  type Backend,
  type EngineInfo,
  type PhaseRequest,
  type PhaseResult,
  type Residency,
  type TextEncoding,
  type TurnRequest,
  type TurnResult,
  type WireTensor,
  WORKER_GRAPHS,
} from '../../workers/protocol';
import { SerialQueue } from '../base/async';
import { type Capabilities, detectCapabilities, wasmThreads } from '../base/capabilities';
import type { BackendChoice, VariantChoice } from '../base/page-options';
import { Engine, type EngineOptions, type WorkerHost } from './engine';
import { WorkerTimeoutError, isErrorNamed } from '../base/errors';
import { prepareImage, rgbaToPlanar } from './images';
import { Session, type SessionHost, type SessionOptions, type SessionStart } from './session';

export interface WorldOptions {
  /** Bundle folder (or its manifest.json), resolved against the page. */
  bundle: string;
  /**
   * 'auto' (default): WebGPU on a GPU adapter; WASM without one, or when the only
   * adapter is a software fallback (SwiftShader and the like: far slower than WASM).
   * 'webgpu' or 'wasm' force one.
   */
  backend?: BackendChoice;
  /** 'auto' (default): fp16 where the adapter has shader-f16 and the bundle has it, else fp32. */
  variant?: VariantChoice;
  /** Other origins the bundle may come from ('*' for any). Same-origin only by default. */
  allowedOrigins?: readonly string[];
  /** Where model bytes are cached; false for none. IndexedDB by default. */
  cache?: ByteCache | false;
  fetch?: FetchLike;
  onProgress?: (p: LoadProgress) => void;
  /** A worker call slower than this is an error (ms); default 60 s. */
  workerTimeoutMs?: number;
  /** Page URL to resolve `bundle` against (defaults to the document's). */
  baseUrl?: string;
  /** 'gpu' (default): the decoder's window stays on the GPU; 'readback': the naive path, for benchmarks. */
  residency?: Residency;
  /** Where the engine's workers run (default: Web Workers; the Node benchmark runs them in its own thread). */
  workers?: WorkerHost;
  /** How a scene's image bytes become pixels (default: the browser's decoder, `prepareImage`). */
  decodeImage?: ImageDecoder;
  /**
   * ONNX Runtime's WASM threads per worker. Default: half the cores up to 4 where
   * the page is cross-origin isolated (see the README), else 1.
   */
  threads?: number;
  /**
   * Run one chunk through every graph before resolving (default true), so the first
   * real chunk is not slow. A caller that runs every graph itself at once (the bundle
   * self-test, verifyBundle) would only repeat it: false skips it.
   */
  warmUp?: boolean;
}

/** A scene's image file -> its RGBA bytes (height x width x 4) at the model's frame size. */
export type ImageDecoder = (bytes: Uint8Array, width: number, height: number) => Promise<Uint8ClampedArray>;

const browserDecoder: ImageDecoder = async (bytes, width, height) =>
  (await prepareImage(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' }), width, height)).rgba;

export interface PickedBackend {
  backend: Backend;
  variant: Variant;
  /** Why the pick differs from the best case, for the user. */
  reason: string | null;
  /**
   * The adapter does not say what it is: `backend` (WebGPU) is only the candidate, and
   * `World.load` times one decoder call on it and on WASM and keeps the faster.
   */
  timed?: true;
}

/**
 * WebGPU on a GPU; WASM without one, or when the only adapter is a software
 * fallback (unless WebGPU is asked for); fp16 only with shader-f16 and an fp16
 * export; WASM runs fp32.
 */
export function pickBackend(m: Manifest, caps: Capabilities, want: WorldOptions = { bundle: '' }): PickedBackend {
  let reason: string | null = null;
  let backend: Backend;
  let timed = false;
  if (want.backend === 'wasm') {
    backend = 'wasm';
    reason = 'WASM was requested';
  } else if (caps.webgpu && caps.softwareAdapter && want.backend !== 'webgpu') {
    backend = 'wasm';
    reason =
      `running on the CPU (WASM): the only WebGPU adapter (${caps.adapter}) is not a GPU (${caps.softwareAdapter}) ` +
      'and runs the model far slower than WASM; ask for backend=webgpu to use it anyway';
  } else if (caps.webgpu) {
    backend = 'webgpu';
    if (caps.softwareAdapter) reason = `WebGPU as requested, on a software adapter (${caps.softwareAdapter}): expect it to be slow`;
    else if (!caps.adapterIdentified && want.backend !== 'webgpu') timed = true;
  } else {
    backend = 'wasm';
    reason = `running on the CPU (WASM): ${caps.webgpuUnavailableReason ?? 'WebGPU is unavailable'}`;
  }
  const has = (v: Variant) => Object.values(m.graphs).every((g) => g.variants[v]);
  let variant: Variant;
  if (want.variant && want.variant !== 'auto') {
    variant = want.variant;
  } else if (backend === 'webgpu' && caps.shaderF16 && has('fp16')) {
    variant = 'fp16';
  } else if (backend === 'wasm' && m.wasmVariant) {
    variant = m.wasmVariant; // the bundle's evaluation found it as good as fp32 (and it is faster on the CPU)
  } else {
    variant = 'fp32';
    if (backend === 'webgpu' && has('fp16') && !caps.shaderF16) {
      const f32 = 'fp32 graphs: this GPU has no shader-f16';
      reason = reason ? `${reason}; ${f32}` : f32;
    }
  }
  return timed ? { backend, variant, reason, timed } : { backend, variant, reason };
}

/** The notice when WebGPU does not start and WASM runs instead. */
const webgpuFailed = (e: Error) => `WebGPU failed (${e.message}); running on the CPU (WASM)`;

/** Milliseconds of one decoder call on an engine (after one untimed call that compiles it), best of two. */
async function timeDecoderCall(engine: Engine, m: Manifest): Promise<number> {
  const feeds = Object.fromEntries(
    Object.entries(expectedGraphIO(m).decoder.inputs).map(([k, dims]) => [k, { data: new Float32Array(elementCount(dims)), dims }]),
  );
  await engine.rendering.runGraph('decoder', feeds);
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await engine.rendering.runGraph('decoder', feeds);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/**
 * The adapter does not say whether it is a GPU: start the WebGPU candidate and a WASM engine,
 * time one decoder call on each, keep the faster and stop the other. The notice gives both times.
 */
async function startFaster(opts: EngineOptions, notices: string[]): Promise<Engine> {
  let gpu: Engine | null = null;
  try {
    gpu = await Engine.start(opts);
  } catch (e) {
    notices.push(webgpuFailed(e as Error));
  }
  const cpu = await Engine.start({ ...opts, backend: 'wasm', variant: 'fp32' });
  if (!gpu) return cpu;
  const [gpuMs, cpuMs] = [await timeDecoderCall(gpu, opts.manifest), await timeDecoderCall(cpu, opts.manifest)];
  const [keep, drop] = gpuMs <= cpuMs ? [gpu, cpu] : [cpu, gpu];
  drop.terminate();
  notices.push(
    `the WebGPU adapter does not say what it is, so both backends were timed on one decoder call: ` +
      `WebGPU ${gpuMs.toFixed(0)} ms, WASM ${cpuMs.toFixed(0)} ms; running on ${keep === gpu ? 'WebGPU' : 'the CPU (WASM)'}`,
  );
  return keep;
}

/** Why WASM runs on one thread where the machine would run more (see wasmThreads), or null. */
export function singleThreadNotice(info: EngineInfo, caps: Capabilities, asked?: number): string | null {
  // Silent where one thread is what isolation would give anyway (asked for, or the pick on few cores).
  if (info.backend !== 'wasm' || info.threads > 1 || wasmThreads(true, caps.hardwareConcurrency, asked) < 2) return null;
  return caps.crossOriginIsolated
    ? 'WASM runs on one thread: this browser cannot run WebAssembly threads'
    : `WASM runs on one thread of ${caps.hardwareConcurrency} cores: the page is not cross-origin isolated ` +
        '(its server sends no Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy headers)';
}

/**
 * Start an engine as asked; if it is WebGPU and that fails to start, say why
 * (`onFallback`) and start one on WASM (fp32) instead.
 */
async function startEngine(opts: EngineOptions, onFallback: (e: Error) => void): Promise<Engine> {
  try {
    return await Engine.start(opts);
  } catch (e) {
    if (opts.backend !== 'webgpu') throw e;
    onFallback(e as Error);
    return Engine.start({ ...opts, backend: 'wasm', variant: 'fp32' });
  }
}

/** What a World is made of once its bundle is loaded: one record, kept whole to start the engine again. */
interface LoadedWorld {
  location: BundleLocation;
  capabilities: Capabilities;
  /** How the engine was started (manifest, bytes, backend, workers, threads): a restart reuses them. */
  engineOptions: EngineOptions;
  engine: Engine;
  decodeImage: ImageDecoder;
  notices: string[];
}

export class World implements SessionHost {
  readonly manifest: Manifest;
  readonly location: BundleLocation;
  readonly capabilities: Capabilities;
  readonly schedule: SwinDpmSchedule;
  private readonly engineOptions: EngineOptions;
  private readonly decodeImage: ImageDecoder;
  private engineRef: Engine;
  private restarting: Promise<Engine> | null = null;
  private disposed = false;
  /** Things the user should know (fallbacks, no cache). */
  readonly notices: string[] = [];

  private constructor(w: LoadedWorld) {
    this.manifest = w.engineOptions.manifest;
    this.location = w.location;
    this.capabilities = w.capabilities;
    this.engineOptions = w.engineOptions;
    this.decodeImage = w.decodeImage;
    this.engineRef = w.engine;
    this.schedule = new SwinDpmSchedule(this.manifest.diffusion.denoiseSteps, this.manifest.diffusion.stateLag);
    this.notices.push(...w.notices);
  }

  /**
   * Load a bundle and start its engine.
   * 1. Resolve the address (same origin unless allowed) and read the manifest.
   * 2. Pick backend and variant from the detected capabilities.
   * 3. Fetch the files (cache first, checksums verified).
   * 4. Start the workers and compile the graphs; fall back to WASM if WebGPU fails.
   * 5. Warm up: one call through every graph, so the first real chunk is not slow (unless `warmUp: false`).
   */
  static async load(opts: WorldOptions): Promise<World> {
    const report = opts.onProgress ?? (() => {});
    const notices: string[] = [];
    // 1.
    const page = opts.baseUrl ?? globalThis.location?.href ?? 'http://localhost/';
    const loc = resolveBundle(opts.bundle, page, opts.allowedOrigins);
    let cache: ByteCache | undefined;
    if (opts.cache !== false) {
      try {
        cache = tolerantCache(opts.cache ?? idbByteCache(), (e) =>
          notices.push(`model cache unavailable, running without it (${(e as Error)?.message ?? e})`),
        );
      } catch (e) {
        notices.push(`model cache unavailable, running without it (${(e as Error).message})`);
      }
    }
    report({ stage: 'manifest', loaded: 0, total: 0, fromCache: 0 });
    const { manifest, offline } = await fetchManifest(loc, opts.fetch, cache);
    if (offline) notices.push('offline: the bundle is loaded from this browser\'s cache');
    // 2.
    const caps = await detectCapabilities();
    const picked = pickBackend(manifest, caps, opts);
    if (picked.reason) notices.push(picked.reason);
    // 3.
    // A timed choice needs the WASM engine's fp32 graphs beside the candidate's.
    const wanted = sessionFiles(manifest, picked.variant).concat(picked.timed ? sessionFiles(manifest, 'fp32') : []);
    const files = await loadFiles(loc, wanted, { cache, fetch: opts.fetch, onProgress: report });
    // 4.
    const timeoutMs = opts.workerTimeoutMs ?? 60_000;
    report({ stage: 'compile', loaded: 1, total: 1, fromCache: 0, detail: `${picked.timed ? 'timing webgpu and wasm' : picked.backend} ${picked.variant}` });
    const engineOpts: EngineOptions = {
      manifest,
      files,
      backend: picked.backend,
      variant: picked.variant,
      timeoutMs,
      residency: opts.residency,
      workers: opts.workers,
      threads: opts.threads,
    };
    const engine = picked.timed
      ? await startFaster(engineOpts, notices)
      : await startEngine(engineOpts, (e) => notices.push(webgpuFailed(e)));
    const single = singleThreadNotice(engine.info, caps, opts.threads);
    if (single) notices.push(single);
    const world = new World({ location: loc, capabilities: caps, engineOptions: engineOpts, engine, decodeImage: opts.decodeImage ?? browserDecoder, notices });
    // 5.
    if (opts.warmUp !== false) {
      report({ stage: 'warmup', loaded: 1, total: 1, fromCache: 0, detail: 'compiling shaders and warming up' });
      const warm = await world.newSession({ seed: 0 });
      await warm.step();
    }
    report({ stage: 'ready', loaded: 1, total: 1, fromCache: 0 });
    return world;
  }

  get engine(): Engine {
    return this.engineRef;
  }

  get info(): EngineInfo {
    return this.engineRef.info;
  }

  /** The bundle's start scenes. */
  get scenes(): Manifest['scenes'] {
    return this.manifest.scenes;
  }

  /** A start scene's pixels (from the verified bundle bytes). */
  async sceneImage(id: string): Promise<{ planar: Float32Array; rgba: Uint8ClampedArray }> {
    const scene = this.manifest.scenes.find((s) => s.id === id);
    if (!scene) throw new RangeError(`no scene "${id}" in this bundle; it has ${this.manifest.scenes.map((s) => s.id).join(', ')}`);
    const { width: W, height: H } = this.manifest.video;
    const rgba = await this.decodeImage(this.engineOptions.files.get(scene.file)!, W, H);
    return { planar: rgbaToPlanar(rgba, W, H), rgba };
  }

  /** A new rollout from a bundle scene (default: the first) or a prepared image. */
  async newSession(start: Partial<SessionStart> = {}, opts: SessionOptions = {}): Promise<Session> {
    const sceneId = start.sceneId ?? this.manifest.scenes[0].id;
    const image = start.image ?? (await this.sceneImage(sceneId));
    const latent = await this.exclusive(() => this.encodeImage(image.planar));
    return Session.create(
      this,
      { sceneId: start.image ? (start.sceneId ?? 'image') : sceneId, seed: start.seed ?? 0, image, startLatent: latent },
      opts,
    );
  }

  private readonly phases = new SerialQueue();

  /**
   * Run `f` alone: sessions share the engine, and the rendering worker keeps
   * one window resident, so phases of different sessions (a player, a plan's
   * forks) must not interleave.
   */
  exclusive<T>(f: () => Promise<T>): Promise<T> {
    return this.phases.run(f);
  }

  /** An action's text as the action encoder reads it (the conditioning worker caches it by text). */
  encodeText(text: string): Promise<TextEncoding> {
    return this.run('conditioning', 'encodeText', (e) => e.conditioning.encodeText(text));
  }

  /** One backbone turn (SessionHost). */
  turn(req: TurnRequest): Promise<TurnResult> {
    return this.run('conditioning', 'turn', (e) => e.conditioning.turn(req));
  }

  /** One Swin-DPM phase on the rendering worker, which keeps the window resident (SessionHost). */
  runPhase(req: PhaseRequest): Promise<PhaseResult> {
    return this.run('rendering', 'runPhase', (e) => e.rendering.runPhase(req));
  }

  /** A start frame (1 x 3 x H x W in [0, 1]) to its latents. */
  encodeImage(frame: Float32Array): Promise<Float32Array> {
    return this.run('rendering', 'encodeImage', (e) => e.rendering.encodeImage(frame));
  }

  /**
   * Run a worker call; on a lost device or a hung worker, restart the engine
   * (WebGPU again if it comes back, else WASM) and retry once. Sessions keep
   * their state on the CPU at chunk boundaries, so nothing finished is lost.
   */
  private async run<T>(worker: 'conditioning' | 'rendering', method: string, f: (e: Engine) => Promise<T>): Promise<T> {
    const engine = this.restarting ? await this.restarting : this.engineRef;
    try {
      return await engine.call(worker, method, f(engine));
    } catch (e) {
      if (this.disposed || !(isErrorNamed(e, 'DeviceLostError') || e instanceof WorkerTimeoutError)) throw e;
      const fresh = await this.restart(engine, e as Error);
      return fresh.call(worker, method, f(fresh));
    }
  }

  private restart(broken: Engine, cause: Error): Promise<Engine> {
    if (this.engineRef !== broken) return Promise.resolve(this.engineRef);
    this.restarting ??= (async () => {
      broken.terminate();
      // A DeviceLostError from a worker arrives with its full message: say it once, not wrapped again.
      this.notices.push(cause.message);
      const { backend, variant } = broken.info;
      const engine = await startEngine(
        { ...this.engineOptions, backend, variant },
        (e) => this.notices.push(`WebGPU could not restart (${e.message}); continuing on the CPU (WASM)`),
      );
      this.engineRef = engine;
      this.restarting = null;
      this.dispatchRestart(engine.info);
      return engine;
    })();
    return this.restarting;
  }

  private restartListeners = new Set<(info: EngineInfo) => void>();
  /** Called after the engine was restarted (device lost, worker hung). */
  onRestart(f: (info: EngineInfo) => void): () => void {
    this.restartListeners.add(f);
    return () => this.restartListeners.delete(f);
  }
  private dispatchRestart(info: EngineInfo): void {
    for (const f of this.restartListeners) f(info);
  }

  /** Run one graph on given inputs, on whichever worker holds it (bundle self-test, diagnostics). */
  runGraph(name: GraphName, feeds: Record<string, WireTensor>): Promise<Record<string, WireTensor>> {
    const worker = (WORKER_GRAPHS.conditioning as readonly GraphName[]).includes(name) ? 'conditioning' : 'rendering';
    return this.run(worker, 'runGraph', (e) => e[worker].runGraph(name, feeds));
  }

  /** Destroy the GPU devices of both workers (tests of recovery). */
  async loseDeviceForTesting(): Promise<void> {
    await Promise.all([this.engineRef.conditioning.loseDevice(), this.engineRef.rendering.loseDevice()]);
  }

  dispose(): void {
    this.disposed = true;
    this.engineRef.terminate();
  }
}
