/**
 * The two workers behind one object: started, initialised with the bundle's
 * bytes, warmed up, and called with a timeout so that a call that never
 * returns becomes an error instead of a hang.
 */
import * as Comlink from 'comlink';

import { type Manifest, type Variant } from '../contract/manifest';
import { graphFile } from '../loader/bundle';
import { type Backend, type ConditioningApi, type EngineInfo, type RenderingApi, type Residency, type WorkerName, WORKER_GRAPHS } from '../../workers/protocol';
import { withTimeout } from '../base/async';
import { WorkerTimeoutError } from '../base/errors';

/** A started worker: the calls it answers, and how to stop it. */
export interface WorkerHandle<T> {
  api: Comlink.Remote<T>;
  terminate(): void;
}

/**
 * How the engine starts its two workers: Web Workers (`webWorkers`) in a
 * page; the Node benchmark runs the same objects in its own thread
 * (src/bench/node/host.ts).
 */
export interface WorkerHost {
  conditioning(): WorkerHandle<ConditioningApi>;
  rendering(): WorkerHandle<RenderingApi>;
}

function webWorker<T>(worker: Worker): WorkerHandle<T> {
  return { api: Comlink.wrap<T>(worker), terminate: () => worker.terminate() };
}

export const webWorkers: WorkerHost = {
  conditioning: () =>
    webWorker(new Worker(new URL('../../workers/conditioning.worker.ts', import.meta.url), { type: 'module', name: 'world-canvas conditioning' })),
  rendering: () =>
    webWorker(new Worker(new URL('../../workers/rendering.worker.ts', import.meta.url), { type: 'module', name: 'world-canvas rendering' })),
};

export interface EngineOptions {
  manifest: Manifest;
  files: Map<string, Uint8Array>;
  backend: Backend;
  variant: Variant;
  /** A worker call slower than this fails with WorkerTimeoutError (the engine is then restarted). */
  timeoutMs: number;
  residency?: Residency;
  /** Where the workers run (default: Web Workers). */
  workers?: WorkerHost;
  /** ONNX Runtime's WASM threads per worker (default: wasmThreads' pick). */
  threads?: number;
}

export class Engine {
  private constructor(
    private readonly workers: WorkerHandle<unknown>[],
    readonly conditioning: Comlink.Remote<ConditioningApi>,
    readonly rendering: Comlink.Remote<RenderingApi>,
    readonly info: EngineInfo,
    private readonly timeoutMs: number,
  ) {}

  static async start(opts: EngineOptions): Promise<Engine> {
    const { manifest: m, files, backend, variant } = opts;
    const host = opts.workers ?? webWorkers;
    const condWorker = host.conditioning();
    const renderWorker = host.rendering();
    const workers = [condWorker, renderWorker];
    try {
      const cond = condWorker.api;
      const render = renderWorker.api;
      const graphs = (w: WorkerName) => Object.fromEntries(WORKER_GRAPHS[w].map((g) => [g, need(files, graphFile(m, g, variant).file)]));
      const prefix = m.actionEncoder.path.replace(/\/?$/, '/');
      const textEncoderFiles: Record<string, Uint8Array> = {};
      for (const f of m.actionEncoder.files) textEncoderFiles[f.file.slice(prefix.length)] = need(files, f.file);
      // Sessions compile in both workers at once.
      const [, info] = await Promise.all([
        withTimeout(
          cond.init({ manifest: m, backend, variant, threads: opts.threads, graphs: graphs('conditioning'), textEncoderFiles }),
          opts.timeoutMs * 4,
          () => new WorkerTimeoutError('conditioning', 'init', opts.timeoutMs * 4),
        ),
        withTimeout(
          render.init({
            manifest: m,
            backend,
            variant,
            residency: opts.residency,
            threads: opts.threads,
            graphs: graphs('rendering'),
          }),
          opts.timeoutMs * 4,
          () => new WorkerTimeoutError('rendering', 'init', opts.timeoutMs * 4),
        ),
      ]);
      return new Engine(workers, cond, render, info, opts.timeoutMs);
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
  }

  /** Call a worker method, failing with WorkerTimeoutError after the engine's timeout. */
  call<T>(worker: 'conditioning' | 'rendering', method: string, p: Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    return withTimeout(p, timeoutMs, () => new WorkerTimeoutError(worker, method, timeoutMs));
  }

  terminate(): void {
    for (const w of this.workers) w.terminate();
  }

  /** Kill one worker without telling anyone: its calls never answer (fault-injection tests). */
  killWorkerForTesting(which: 'conditioning' | 'rendering'): void {
    this.workers[which === 'conditioning' ? 0 : 1].terminate();
  }
}

function need(files: Map<string, Uint8Array>, path: string): Uint8Array {
  const b = files.get(path);
  if (!b) throw new Error(`bundle file ${path} was not loaded`);
  return b;
}
