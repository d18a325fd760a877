/**
 * A bundle's test-vector index (src/contract/test-vectors.ts): the shipped bundle's is the contract's,
 * every graph's feeds come out at the shapes the manifest implies, and a bad index is refused naming
 * the field (an older exporter's cost layout, a tensor named but not held, bytes past vectors.bin).
 */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { GRAPH_NAMES, expectedGraphIO, parseManifest } from '../../src/contract/manifest';
import { TestVectorIndexError, graphFeeds, readTestVectors, validateTestVectorIndex } from '../../src/contract/test-vectors';

const bundle = new URL('../../public/models/tabletop/', import.meta.url);
const manifest = parseManifest(readFileSync(new URL('manifest.json', bundle), 'utf8'));
const indexData = JSON.parse(readFileSync(new URL(manifest.testVectors!.file, bundle), 'utf8'));
const bin = readFileSync(new URL('testvectors/vectors.bin', bundle));
const blob = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);

function issuesOf(f: () => unknown): { field: string; message: string }[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TestVectorIndexError);
    return (e as TestVectorIndexError).issues;
  }
  throw new Error('accepted');
}

describe('test-vector index', () => {
  it("feeds each graph of the shipped bundle at the manifest's shapes, in its order", () => {
    const vectors = readTestVectors(indexData, blob);
    const io = expectedGraphIO(manifest);
    for (const g of GRAPH_NAMES) {
      const feeds = graphFeeds(vectors, g);
      expect(Object.keys(feeds), g).toEqual(manifest.graphs[g].inputs.map((t) => t.name));
      for (const [name, t] of Object.entries(feeds)) {
        expect(t.dims, `${g}.${name}`).toEqual(io[g].inputs[name]);
        expect(t.data.length).toBe(t.dims.reduce((a, b) => a * b, 1));
      }
    }
    expect(Object.keys(vectors.index.cost.perGraph)).toEqual([...GRAPH_NAMES]);
  });

  it('refuses an index from before cost was split by graph and frame', () => {
    const { perGraph, perFrame } = indexData.cost;
    const issues = issuesOf(() => validateTestVectorIndex({ ...indexData, cost: { ...perGraph, perFrame } }));
    expect(issues.map((i) => i.field)).toContain('cost');
  });

  it('refuses a tensor it names but does not hold, and one past the end of vectors.bin', () => {
    const dangling = { ...indexData, rollout: { ...indexData.rollout, frames: 'rollout.missing' } };
    expect(issuesOf(() => validateTestVectorIndex(dangling))).toEqual([{ field: 'rollout.frames', message: 'no tensor "rollout.missing" in tensors' }]);
    const short = readTestVectors(indexData, blob.slice(0, 1024));
    expect(issuesOf(() => short.tensor(indexData.rollout.frames))[0].field).toBe(`tensors.${indexData.rollout.frames}`);
  });
});
