/**
 * Fetch one file of a bundle with byte progress, a stall timeout, resume after
 * an interrupted download, and a sha256 check.
 *
 * 1. Stream the body, reporting bytes as they arrive.
 * 2. If the stream breaks or stalls, ask for the rest with a Range request
 *    (servers that ignore Range get a clean restart).
 * 3. Check length and sha256; on mismatch fetch once more, bypassing HTTP
 *    caches, then fail with a ChecksumError.
 */
import { withTimeout } from '../base/async';
import { BundleFetchError, ChecksumError } from '../base/errors';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface FetchBytesOptions {
  /** Expected sha256 (lower-case hex); omitted for files without one (the manifest itself). */
  sha256?: string;
  /** Expected length in bytes. */
  bytes?: number;
  onProgress?: (loaded: number, total: number | undefined) => void;
  fetch?: FetchLike;
  /** Abort a download that receives nothing for this long (ms). */
  stallTimeoutMs?: number;
  /** How many times a broken or stalled download is resumed or restarted. */
  maxResumes?: number;
  signal?: AbortSignal;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetch, resume on breaks, verify; one more full fetch if the checksum fails. */
export async function fetchVerified(url: string, opts: FetchBytesOptions = {}): Promise<Uint8Array> {
  let bytes = await fetchWithResume(url, opts, 'default');
  if (!opts.sha256) return bytes;
  let actual = await sha256Hex(bytes);
  if (actual === opts.sha256 && (opts.bytes === undefined || bytes.length === opts.bytes)) return bytes;
  // A corrupt copy may sit in an HTTP cache or a proxy: ask the origin again.
  bytes = await fetchWithResume(url, opts, 'reload');
  actual = await sha256Hex(bytes);
  if (actual !== opts.sha256) throw new ChecksumError(url, opts.sha256, actual);
  return bytes;
}

async function fetchWithResume(url: string, opts: FetchBytesOptions, cache: RequestCache): Promise<Uint8Array> {
  const doFetch = opts.fetch ?? ((u, i) => fetch(u, i));
  const maxResumes = opts.maxResumes ?? 3;
  const chunks: Uint8Array[] = [];
  let received = 0;
  let total: number | undefined = opts.bytes;

  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = {};
    if (received > 0) headers.Range = `bytes=${received}-`;
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let response: Response;
      try {
        response = await withStallTimeout(doFetch(url, { headers, cache, signal: ctrl.signal }), ctrl, opts);
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        if (attempt < maxResumes) continue;
        throw new BundleFetchError(url, null, `network error (${(e as Error).message})`, { cause: e });
      }
      if (received > 0 && response.status !== 206) {
        // The server ignored the Range request: start over from a clean slate.
        chunks.length = 0;
        received = 0;
      }
      if (!response.ok) {
        throw new BundleFetchError(url, response.status, `HTTP ${response.status} ${response.statusText}`.trim());
      }
      if (total === undefined && received === 0) {
        const len = Number(response.headers.get('content-length'));
        if (Number.isFinite(len) && len > 0) total = len;
      }
      if (!response.body) {
        const all = new Uint8Array(await response.arrayBuffer());
        chunks.push(all);
        received += all.length;
        opts.onProgress?.(received, total);
        break;
      }
      const reader = response.body.getReader();
      try {
        for (;;) {
          const { done, value } = await withStallTimeout(reader.read(), ctrl, opts);
          if (done) break;
          chunks.push(value);
          received += value.length;
          opts.onProgress?.(received, total);
        }
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        if (attempt < maxResumes) continue; // resume from `received`
        throw new BundleFetchError(url, null, `download interrupted after ${received} bytes`, { cause: e });
      }
      break;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
  return concat(chunks, received);
}

/** `p`, or after `stallTimeoutMs` without it the download is aborted and this rejects. */
function withStallTimeout<T>(p: Promise<T>, ctrl: AbortController, opts: FetchBytesOptions): Promise<T> {
  const ms = opts.stallTimeoutMs ?? 30_000;
  return withTimeout(p, ms, () => {
    const stalled = new Error(`no data for ${ms} ms`);
    ctrl.abort(stalled);
    return stalled;
  });
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1 && chunks[0].length === length) return chunks[0];
  const out = new Uint8Array(length);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
