import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { type FetchLike, fetchVerified } from '../../src/loader/fetch-bytes';
import { BundleFetchError, ChecksumError } from '../../src/base/errors';

const bytes = new Uint8Array(Array.from({ length: 10_000 }, (_, i) => (i * 7) & 255));
const sha = createHash('sha256').update(bytes).digest('hex');

/** A body that delivers `data` in slices, optionally failing after `breakAfter` bytes. */
function body(data: Uint8Array, breakAfter = Infinity, slice = 1000): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (sent >= breakAfter) return ctrl.error(new TypeError('network connection lost'));
      if (sent >= data.length) return ctrl.close();
      const n = Math.min(slice, data.length - sent, breakAfter - sent);
      ctrl.enqueue(data.slice(sent, sent + n));
      sent += n;
    },
  });
}

function server(handler: (n: number, init?: RequestInit) => Response): FetchLike & { calls: RequestInit[] } {
  const calls: RequestInit[] = [];
  const f = (async (_url: string, init?: RequestInit) => {
    calls.push(init ?? {});
    return handler(calls.length, init);
  }) as FetchLike & { calls: RequestInit[] };
  f.calls = calls;
  return f;
}

describe('fetchVerified', () => {
  it('reports progress and checks the sha256', async () => {
    const progress: number[] = [];
    const f = server(() => new Response(body(bytes), { headers: { 'content-length': String(bytes.length) } }));
    const got = await fetchVerified('http://x/a.onnx', { sha256: sha, bytes: bytes.length, fetch: f, onProgress: (n) => progress.push(n) });
    expect(got).toEqual(bytes);
    expect(progress.at(-1)).toBe(bytes.length);
    expect(progress.length).toBeGreaterThan(5);
  });

  it('fetches a corrupt file again, bypassing caches, then succeeds', async () => {
    const corrupt = bytes.slice();
    corrupt[5] ^= 1;
    const f = server((n) => new Response(n === 1 ? corrupt : bytes));
    expect(await fetchVerified('http://x/a.onnx', { sha256: sha, fetch: f })).toEqual(bytes);
    expect(f.calls.map((c) => c.cache)).toEqual(['default', 'reload']);
  });

  it('fails with ChecksumError when the server keeps sending the wrong bytes', async () => {
    const corrupt = bytes.slice(0, 9000);
    const f = server(() => new Response(corrupt));
    await expect(fetchVerified('http://x/a.onnx', { sha256: sha, fetch: f })).rejects.toBeInstanceOf(ChecksumError);
    expect(f.calls.length).toBe(2); // fetched again exactly once
  });

  it.each([404, 500])('turns HTTP %i into BundleFetchError with the status', async (status) => {
    const f = server(() => new Response('no', { status }));
    const err = await fetchVerified('http://x/a.onnx', { sha256: sha, fetch: f }).catch((e) => e);
    expect(err).toBeInstanceOf(BundleFetchError);
    expect(err.status).toBe(status);
    expect(err.message).toContain(`HTTP ${status}`);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const f = server((n, init) => {
      if (n === 1) return new Response(body(bytes, 4000));
      const range = (init?.headers as Record<string, string>).Range;
      const from = Number(/bytes=(\d+)-/.exec(range)![1]);
      return new Response(bytes.slice(from), { status: 206 });
    });
    expect(await fetchVerified('http://x/a.onnx', { sha256: sha, fetch: f })).toEqual(bytes);
    expect((f.calls[1].headers as Record<string, string>).Range).toBe('bytes=4000-');
  });

  it('restarts cleanly when the server ignores Range', async () => {
    const f = server((n) => new Response(n === 1 ? body(bytes, 3000) : body(bytes)));
    expect(await fetchVerified('http://x/a.onnx', { sha256: sha, fetch: f })).toEqual(bytes);
  });

  it('gives up on a stalled server after the stall timeout', async () => {
    const stalled = () => new Response(new ReadableStream({ pull: () => new Promise(() => {}) }));
    const f = server(stalled);
    const err = await fetchVerified('http://x/a.onnx', { sha256: sha, fetch: f, stallTimeoutMs: 50, maxResumes: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(BundleFetchError);
    expect(f.calls.length).toBe(2);
  });

  it('turns a network failure into BundleFetchError', async () => {
    const f = server(() => {
      throw new TypeError('Failed to fetch');
    });
    const err = await fetchVerified('http://x/a.onnx', { fetch: f, maxResumes: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(BundleFetchError);
    expect(err.message).toMatch(/network error/);
  });
});
