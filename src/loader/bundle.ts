/**
 * Load a bundle: the manifest (validated), then the files a session needs,
 * each from the byte cache or the network (verified), with overall progress.
 */
import { type FileRef, type GraphName, type Manifest, type Variant, GRAPH_NAMES, VARIANTS, parseManifest } from '../contract/manifest';
import { BundleFetchError, CrossOriginBundleError } from '../base/errors';
import { type ByteCache } from './cache';
import { type FetchLike, fetchVerified } from './fetch-bytes';

export type LoadStage = 'manifest' | 'download' | 'compile' | 'warmup' | 'ready';

/** Progress of loading, as the demo's progress bar and the widget's `progress` event carry it. */
export interface LoadProgress {
  stage: LoadStage;
  /** File being fetched (download stage). */
  file?: string;
  /** Bytes in hand across all files of this load (from cache or network). */
  loaded: number;
  /** Bytes of all files of this load. */
  total: number;
  /** Bytes that came from the cache so far. */
  fromCache: number;
  detail?: string;
}

export interface BundleLocation {
  /** Folder URL ending in '/', against which manifest paths resolve. */
  base: string;
  manifestUrl: string;
}

/**
 * Resolve a bundle address (a folder, or its manifest.json) against the page,
 * refusing other origins unless they are explicitly allowed.
 */
export function resolveBundle(src: string, pageUrl: string, allowedOrigins: readonly string[] = []): BundleLocation {
  const url = new URL(src, pageUrl);
  const page = new URL(pageUrl);
  if (url.origin !== page.origin && !allowedOrigins.includes('*') && !allowedOrigins.includes(url.origin)) {
    throw new CrossOriginBundleError(url.href);
  }
  if (url.pathname.endsWith('.json')) {
    return { base: new URL('.', url).href, manifestUrl: url.href };
  }
  const base = url.href.endsWith('/') ? url.href : url.href + '/';
  return { base, manifestUrl: new URL('manifest.json', base).href };
}

/**
 * Read and validate the manifest. It is kept in the byte cache too, so that a
 * bundle whose files are cached also opens offline (`offline` tells the caller).
 */
export async function fetchManifest(
  loc: BundleLocation,
  fetchImpl?: FetchLike,
  cache?: ByteCache,
): Promise<{ manifest: Manifest; offline: boolean }> {
  const key = `manifest:${loc.manifestUrl}`;
  let bytes: Uint8Array;
  let offline = false;
  try {
    bytes = await fetchVerified(loc.manifestUrl, { fetch: fetchImpl, stallTimeoutMs: 15_000, maxResumes: 1 });
  } catch (e) {
    // Only a network failure falls back to the cache: an HTTP error is the server's answer.
    const cached = e instanceof BundleFetchError && e.status === null ? await cache?.get(key) : undefined;
    if (!cached) throw e;
    bytes = cached;
    offline = true;
  }
  const manifest = parseManifest(new TextDecoder().decode(bytes), loc.manifestUrl);
  if (!offline) await cache?.put(key, bytes);
  return { manifest, offline };
}

/** The files a session needs for one variant: graphs, action encoder, scenes. */
export function sessionFiles(m: Manifest, variant: Variant): FileRef[] {
  const files: FileRef[] = [];
  for (const g of GRAPH_NAMES) files.push(graphFile(m, g, variant));
  for (const f of m.actionEncoder.files) files.push(f);
  for (const s of m.scenes) files.push(s);
  return files;
}

/**
 * The wanted variant if present, else the first present in VARIANTS order
 * (fp32, fp16, q8, q4); model/manifest.py `pick_variant` falls back the same
 * way (test/vectors/variant-fallback.json).
 */
export function pickVariant<T>(available: Partial<Record<Variant, T>>, wanted: Variant): T | undefined {
  for (const v of [wanted, ...VARIANTS]) if (available[v] !== undefined) return available[v];
  return undefined;
}

/** The file of a graph for a variant, falling back where a variant was not exported. */
export function graphFile(m: Manifest, g: GraphName, variant: Variant): FileRef {
  const ref = pickVariant(m.graphs[g].variants, variant);
  if (!ref) throw new Error(`graph ${g} has no variant`); // unreachable: the schema requires one
  return ref;
}

export interface LoadFilesOptions {
  cache?: ByteCache;
  fetch?: FetchLike;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Parallel downloads. */
  concurrency?: number;
}

/** Bytes of each file, keyed by its manifest path. */
export async function loadFiles(loc: BundleLocation, files: FileRef[], opts: LoadFilesOptions = {}): Promise<Map<string, Uint8Array>> {
  const unique = [...new Map(files.map((f) => [f.file, f])).values()];
  const total = unique.reduce((s, f) => s + f.bytes, 0);
  const got = new Map<string, number>();
  let fromCache = 0;
  const report = (file?: string) => {
    const loaded = [...got.values()].reduce((a, b) => a + b, 0);
    opts.onProgress?.({ stage: 'download', file, loaded, total, fromCache });
  };
  const out = new Map<string, Uint8Array>();
  const queue = [...unique];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const ref = f;
      const cached = await opts.cache?.get(ref.sha256);
      if (cached && cached.length === ref.bytes) {
        fromCache += ref.bytes;
        got.set(ref.file, ref.bytes);
        out.set(ref.file, cached);
        report(ref.file);
        continue;
      }
      const bytes = await fetchVerified(new URL(ref.file, loc.base).href, {
        sha256: ref.sha256,
        bytes: ref.bytes,
        fetch: opts.fetch,
        signal: opts.signal,
        onProgress: (n) => {
          got.set(ref.file, Math.min(n, ref.bytes));
          report(ref.file);
        },
      });
      got.set(ref.file, ref.bytes);
      out.set(ref.file, bytes);
      report(ref.file);
      await opts.cache?.put(ref.sha256, bytes);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  return out;
}
