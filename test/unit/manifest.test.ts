import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { ManifestError, expectedGraphIO, parseManifest, validateManifest } from '../../src/contract/manifest';

const vectors = new URL('../vectors/', import.meta.url);
const cases = JSON.parse(readFileSync(new URL('manifest-cases.json', vectors), 'utf8'));
const base = JSON.parse(readFileSync(new URL(cases.base, vectors), 'utf8'));

type Case = { name: string; set?: Record<string, unknown>; remove?: string[]; field: (string | number)[] };

function applyCase(c: Case): unknown {
  const data = structuredClone(base);
  const walk = (path: string) => {
    const keys = path.split('.').map((k) => (/^\d+$/.test(k) ? Number(k) : k));
    let node = data;
    for (const k of keys.slice(0, -1)) node = node[k];
    return [node, keys[keys.length - 1]] as const;
  };
  for (const [path, value] of Object.entries(c.set ?? {})) {
    const [node, k] = walk(path);
    node[k] = value;
  }
  for (const path of c.remove ?? []) {
    const [node, k] = walk(path);
    delete node[k];
  }
  return data;
}

/** `graphs.decoder.inputs[3].shape` -> ['graphs', 'decoder', 'inputs', 3, 'shape'] */
function segments(field: string): (string | number)[] {
  return field
    .split(/\.|(?=\[)/)
    .filter(Boolean)
    .map((s) => (s.startsWith('[') ? Number(s.slice(1, -1)) : s));
}

describe('manifest validation', () => {
  it('accepts the reference manifest', () => {
    const m = validateManifest(base);
    expect(m.graphs.decoder.inputs.map((t) => t.name)).toContain('earlier_present');
  });

  for (const c of cases.cases as Case[]) {
    it(`refuses: ${c.name}, naming ${c.field.join('.')}`, () => {
      let error: unknown;
      try {
        validateManifest(applyCase(c));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ManifestError);
      const issues = (error as ManifestError).issues;
      const named = issues.some((i) => JSON.stringify(segments(i.field).slice(0, c.field.length)) === JSON.stringify(c.field));
      expect(named, `issues: ${JSON.stringify(issues)}`).toBe(true);
      expect((error as Error).message).toContain('manifest.json is not a valid');
    });
  }

  it('reads the world block, and accepts a bundle made before it (a world that keeps generating)', () => {
    const m = validateManifest(base);
    expect(m.world).toMatchObject({ stillWhenIdle: true, settleChunks: 2 });
    expect(m.world!.guide!.actions.map((a) => a.kind)).toContain('wait');
    const older = structuredClone(base);
    delete older.world;
    expect(validateManifest(older).world).toBeUndefined();
  });

  it('says what to do about a newer format version', () => {
    expect(() => validateManifest({ ...base, formatVersion: 2 })).toThrow(/export the bundle again or update world-canvas/);
  });

  it('reports JSON syntax errors', () => {
    expect(() => parseManifest('{"format": ', 'x/manifest.json')).toThrow(/x\/manifest.json is not a valid.*not JSON/s);
  });

  it('derives every graph shape from the manifest sizes', () => {
    const io = expectedGraphIO(validateManifest(base));
    expect(io.decoder.inputs.later).toEqual([base.video.chunkFrames, base.latent.channels, base.latent.height, base.latent.width]);
    expect(io.backbone.inputs.past_kv[3]).toBe(base.backbone.cacheTokens);
  });
});

describe('shipped bundles', () => {
  const root = new URL('../../public/models/', import.meta.url);
  const bundles = existsSync(root) ? readdirSync(root).filter((d) => existsSync(new URL(`${d}/manifest.json`, root))) : [];
  it('include the default tabletop model', () => {
    expect(bundles).toContain('tabletop');
  });
  for (const b of bundles) {
    it(`${b}/manifest.json satisfies the contract`, () => {
      const text = readFileSync(new URL(`${b}/manifest.json`, root), 'utf8');
      const m = parseManifest(text, `${b}/manifest.json`);
      for (const f of m.actionEncoder.files) expect(existsSync(new URL(`${b}/${f.file}`, root))).toBe(true);
      for (const g of Object.values(m.graphs)) {
        for (const v of Object.values(g.variants)) {
          if (v) expect(readFileSync(new URL(`${b}/${v.file}`, root)).length).toBe(v.bytes);
        }
      }
    });
  }
});
