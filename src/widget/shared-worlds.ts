/**
 * One World (one engine: two workers, their GPU devices and compiled graphs)
 * per bundle URL, backend and thread count, shared by every <world-canvas> on the page
 * that asks for it. Elements take a lease; the World is disposed when the
 * last lease is released.
 */
import type { BackendChoice } from '../base/page-options';
import { type LoadProgress, resolveBundle } from '../loader/bundle';
import { World } from '../runtime/world';

export interface WorldRequest {
  /** Bundle folder (or its manifest.json), resolved against the page. */
  bundle: string;
  backend: BackendChoice;
  allowedOrigins: readonly string[];
  /** ONNX Runtime's WASM threads per worker (default: World.load's pick). */
  threads?: number;
}

export interface WorldLease {
  /** Resolves with the shared World once it is loaded; rejects if loading fails. */
  readonly world: Promise<World>;
  /** Give the World back; the last release disposes it. Calling it again does nothing. */
  release(): void;
}

interface Entry {
  refs: number;
  world: Promise<World>;
  listeners: Set<(p: LoadProgress) => void>;
  last: LoadProgress | null;
}

const entries = new Map<string, Entry>();
let live = 0;

/** Worlds loaded through leases and not yet disposed (a figure for tests and diagnostics). */
export function liveWorldCount(): number {
  return live;
}

/**
 * Lease the World for a bundle and backend, loading it if no element holds it.
 * `onProgress` hears the load's progress (the latest report at once if the
 * load is already under way).
 */
export function leaseWorld(req: WorldRequest, onProgress: (p: LoadProgress) => void): WorldLease {
  // 1. Resolve against the page: the origin check is made for each element, with its own allowed origins.
  let key: string;
  let manifestUrl: string;
  try {
    manifestUrl = resolveBundle(req.bundle, globalThis.location?.href ?? 'http://localhost/', req.allowedOrigins).manifestUrl;
    key = `${manifestUrl} ${req.backend} ${req.threads ?? 'default'}`;
  } catch (e) {
    return { world: Promise.reject(e), release: () => {} };
  }
  // 2. Join the load (or the loaded World) for this key, or start one.
  let entry = entries.get(key);
  if (!entry) {
    const e: Entry = { refs: 0, world: null!, listeners: new Set(), last: null };
    e.world = World.load({
      bundle: manifestUrl,
      backend: req.backend,
      allowedOrigins: req.allowedOrigins,
      threads: req.threads,
      onProgress: (p) => {
        e.last = p;
        for (const f of e.listeners) f(p);
      },
    });
    e.world.then(
      () => live++,
      // A failed load is forgotten, so the next element tries again.
      () => entries.get(key) === e && entries.delete(key),
    );
    entries.set(key, e);
    entry = e;
  }
  const e = entry;
  e.refs++;
  e.listeners.add(onProgress);
  if (e.last) {
    const last = e.last;
    queueMicrotask(() => e.listeners.has(onProgress) && onProgress(last));
  }
  // 3. The lease; the last release disposes the World (once it has loaded, if it is still loading).
  let released = false;
  return {
    world: e.world,
    release() {
      if (released) return;
      released = true;
      e.listeners.delete(onProgress);
      if (--e.refs > 0) return;
      if (entries.get(key) === e) entries.delete(key);
      e.world.then(
        (w) => {
          w.dispose();
          live--;
        },
        () => {},
      );
    },
  };
}
