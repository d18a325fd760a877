import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { type Variant, validateManifest } from '../../src/contract/manifest';
import { graphFile, loadFiles, pickVariant, resolveBundle, sessionFiles } from '../../src/loader/bundle';
import { type ByteCache, memoryByteCache, tolerantCache } from '../../src/loader/cache';
import { CrossOriginBundleError } from '../../src/base/errors';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('resolveBundle', () => {
  it('resolves folders and manifest paths against the page', () => {
    expect(resolveBundle('/models/tabletop', 'https://a.test/demo/')).toEqual({
      base: 'https://a.test/models/tabletop/',
      manifestUrl: 'https://a.test/models/tabletop/manifest.json',
    });
    expect(resolveBundle('m/x.json', 'https://a.test/demo/').base).toBe('https://a.test/demo/m/');
  });

  it('refuses another origin unless allowed', () => {
    expect(() => resolveBundle('https://evil.test/b/', 'https://a.test/')).toThrow(CrossOriginBundleError);
    expect(resolveBundle('https://cdn.test/b/', 'https://a.test/', ['https://cdn.test']).base).toBe('https://cdn.test/b/');
    expect(resolveBundle('https://cdn.test/b/', 'https://a.test/', ['*']).base).toBe('https://cdn.test/b/');
  });
});

describe('loadFiles', () => {
  const files = ['a', 'b', 'c'].map((name, i) => {
    const data = new Uint8Array(1000 * (i + 1)).fill(i + 1);
    return { ref: { file: `graphs/${name}.onnx`, bytes: data.length, sha256: sha(data) }, data };
  });
  const serve = (log: string[]) => async (url: string) => {
    log.push(url);
    const f = files.find((x) => url.endsWith(x.ref.file))!;
    return new Response(f.data);
  };
  const loc = { base: 'http://x/b/', manifestUrl: 'http://x/b/manifest.json' };

  it('fetches once, then serves from the cache with progress counting cached bytes', async () => {
    const cache = memoryByteCache();
    const log: string[] = [];
    const first = await loadFiles(loc, files.map((f) => f.ref), { cache, fetch: serve(log) });
    expect(log.length).toBe(3);
    expect(first.get('graphs/b.onnx')).toEqual(files[1].data);
    const progress: { loaded: number; total: number; fromCache: number }[] = [];
    await loadFiles(loc, files.map((f) => f.ref), { cache, fetch: serve(log), onProgress: (p) => progress.push(p) });
    expect(log.length).toBe(3); // nothing fetched the second time
    expect(progress.at(-1)).toMatchObject({ loaded: 6000, total: 6000, fromCache: 6000 });
  });

  it('keeps working when the cache fails, and says so once', async () => {
    const broken: ByteCache = {
      kind: 'indexeddb',
      get: async () => {
        throw new DOMException('QuotaExceededError');
      },
      put: async () => {
        throw new DOMException('QuotaExceededError');
      },
      delete: async () => {},
    };
    const failures: unknown[] = [];
    const cache = tolerantCache(broken, (e) => failures.push(e));
    const got = await loadFiles(loc, files.map((f) => f.ref), { cache, fetch: serve([]) });
    expect(got.size).toBe(3);
    expect(failures.length).toBe(1);
    expect(cache.kind).toBe('none');
  });
});

describe('session files', () => {
  const m = validateManifest(JSON.parse(readFileSync(new URL('../vectors/manifest-valid.json', import.meta.url), 'utf8')));

  it('take one variant of each graph, the action encoder and the scenes', () => {
    const files = sessionFiles(m, 'fp16');
    expect(files.filter((f) => f.file.startsWith('graphs/')).every((f) => f.file.endsWith('.fp16.onnx'))).toBe(true);
    expect(files.length).toBe(5 + m.actionEncoder.files.length + m.scenes.length);
  });

  it('fall back to fp32 where a variant was not exported', () => {
    expect(graphFile(m, 'decoder', 'q4').file).toBe('graphs/decoder.onnx');
  });

  it('fall back in the order model/manifest.py does (shared cases)', () => {
    const { cases } = JSON.parse(readFileSync(new URL('../vectors/variant-fallback.json', import.meta.url), 'utf8'));
    for (const c of cases as { have: Variant[]; want: Variant; pick: Variant }[]) {
      const available = Object.fromEntries(c.have.map((v) => [v, `${v}.onnx`]));
      expect(pickVariant(available, c.want), JSON.stringify(c)).toBe(`${c.pick}.onnx`);
    }
  });
});

describe('tolerantCache', () => {
  it('treats a cache that never answers as unavailable', async () => {
    const hung: ByteCache = { kind: 'indexeddb', get: () => new Promise(() => {}), put: () => new Promise(() => {}), delete: async () => {} };
    const failures: unknown[] = [];
    const cache = tolerantCache(hung, (e) => failures.push(e), 50);
    expect(await cache.get('x')).toBeUndefined();
    expect(String(failures[0])).toMatch(/did not answer within 50 ms/);
    expect(cache.kind).toBe('none');
  });
});
