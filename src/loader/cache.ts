/**
 * The model byte cache: content-addressed by sha256 in IndexedDB (idb-keyval),
 * so a second visit and offline use load from disk, and a file shared by two
 * bundles (the action encoder) is stored once.
 *
 * Every operation goes through a `ByteCache`, so tests inject a fake and a
 * page that cannot open IndexedDB (private windows, quota) runs without one.
 */
import { createStore, del, get, set, type UseStore } from 'idb-keyval';

import { withTimeout } from '../base/async';

export interface ByteCache {
  readonly kind: string;
  get(sha256: string): Promise<Uint8Array | undefined>;
  put(sha256: string, bytes: Uint8Array): Promise<void>;
  delete(sha256: string): Promise<void>;
}

const DB_NAME = 'world-canvas';
const STORE_NAME = 'model-bytes';

/** IndexedDB through idb-keyval. Failures surface as rejections; wrapped in `tolerantCache`, the World runs on without it. */
export function idbByteCache(store: UseStore = createStore(DB_NAME, STORE_NAME)): ByteCache {
  return {
    kind: 'indexeddb',
    async get(sha256) {
      const v = await get<ArrayBuffer | Uint8Array>(sha256, store);
      if (v === undefined) return undefined;
      return v instanceof Uint8Array ? v : new Uint8Array(v);
    },
    put: (sha256, bytes) => set(sha256, bytes, store),
    delete: (sha256) => del(sha256, store),
  };
}

/** An in-memory cache (tests; pages that opt out of persistence). */
export function memoryByteCache(): ByteCache & { readonly map: Map<string, Uint8Array> } {
  const map = new Map<string, Uint8Array>();
  return {
    kind: 'memory',
    map,
    get: async (k) => map.get(k),
    put: async (k, v) => void map.set(k, v),
    delete: async (k) => void map.delete(k),
  };
}

/**
 * Wrap a cache so that its failures are reported once and then ignored: the
 * runtime keeps working without persistence and says so. An operation that
 * does not settle in `timeoutMs` counts as a failure (IndexedDB requests wait
 * forever behind a deletion blocked by another tab).
 */
export function tolerantCache(inner: ByteCache, onFailure: (error: unknown) => void, timeoutMs = 10_000): ByteCache {
  let failed = false;
  const guard = async <T>(op: () => Promise<T>, fallback: T): Promise<T> => {
    if (failed) return fallback;
    try {
      return await withTimeout(op(), timeoutMs, () => new Error(`the cache did not answer within ${timeoutMs} ms`));
    } catch (e) {
      if (!failed) onFailure(e); // several operations may be in flight: report once
      failed = true;
      return fallback;
    }
  };
  return {
    get kind() {
      return failed ? 'none' : inner.kind;
    },
    get: (k) => guard(() => inner.get(k), undefined),
    put: (k, v) => guard(() => inner.put(k, v), undefined),
    delete: (k) => guard(() => inner.delete(k), undefined),
  };
}
