/**
 * Bundle self-test: run the exporter's test vectors through this browser's
 * backend and compare with what the Python reference computed. Every graph
 * must match within 1e-3 (max abs, fp32) and a rollout of several chunks,
 * scheduled by the runtime, within 2/255 per pixel.
 */
import { GRAPH_NAMES } from '../contract/manifest';
import { type TestVectors, graphFeeds, readTestVectors } from '../contract/test-vectors';
import type { FetchLike } from '../loader/fetch-bytes';
import type { World } from './world';

export interface VerifyReport {
  backend: string;
  variant: string;
  tolerance: { graph: number; frame: number };
  graphs: Record<string, { maxAbsError: number; pass: boolean }>;
  texts: { text: string; maxAbsError: number; tokens: number; expectedTokens: number; pass: boolean }[];
  rollout: { chunks: number; maxAbsError: number; pass: boolean; ms: number };
  pass: boolean;
}

/** The bundle's test vectors (the manifest's `testVectors`: the index, checked, and vectors.bin beside it). */
export async function loadTestVectors(world: World, fetchImpl: FetchLike = (u, i) => fetch(u, i)): Promise<TestVectors> {
  const ref = world.manifest.testVectors;
  if (!ref) throw new Error(`bundle "${world.manifest.name}" has no test vectors`);
  const indexUrl = new URL(ref.file, world.location.base);
  const index: unknown = await (await fetchImpl(indexUrl.href)).json();
  const blob = await (await fetchImpl(new URL('vectors.bin', indexUrl).href)).arrayBuffer();
  return readTestVectors(index, blob, indexUrl.href);
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export async function verifyBundle(world: World, fetchImpl?: FetchLike): Promise<VerifyReport> {
  const vectors = await loadTestVectors(world, fetchImpl);
  const { index, tensor } = vectors;
  const tol = index.tolerance;
  // 1. Each graph on the recorded inputs.
  const graphs: VerifyReport['graphs'] = {};
  for (const g of GRAPH_NAMES) {
    const out = await world.runGraph(g, graphFeeds(vectors, g));
    let err = 0;
    for (const [k, key] of Object.entries(index.graphs[g].outputs)) err = Math.max(err, maxAbs(out[k].data, tensor(key).data));
    graphs[g] = { maxAbsError: err, pass: err <= tol.graph };
  }
  // 2. The action encoder on the rollout's texts.
  const texts: VerifyReport['texts'] = [];
  for (const t of index.texts) {
    const enc = await world.encodeText(t.text);
    const expected = tensor(t.states).data;
    const expectedTokens = tensor(t.mask).data.reduce((a, b) => a + b, 0);
    const tokens = enc.mask.reduce((a, b) => a + b, 0);
    const err = maxAbs(enc.states, expected);
    texts.push({ text: t.text, maxAbsError: err, tokens, expectedTokens, pass: err <= tol.graph && tokens === expectedTokens });
  }
  // 3. A rollout scheduled by this runtime against the reference sampler's frames.
  const t0 = performance.now();
  const r = index.rollout;
  const session = await world.newSession({ sceneId: r.scene, seed: r.seed });
  for (const a of r.actions) session.act(a);
  const expected = tensor(r.frames).data;
  const per = expected.length / r.chunks;
  let err = 0;
  for (let done = 0; done < r.chunks; ) {
    const chunk = await session.step();
    if (!chunk) continue;
    err = Math.max(err, maxAbs(chunk.frames, expected.subarray(done * per, (done + 1) * per)));
    done++;
  }
  const rollout = { chunks: r.chunks, maxAbsError: err, pass: err <= tol.frame, ms: performance.now() - t0 };
  const pass = Object.values(graphs).every((g) => g.pass) && texts.every((t) => t.pass) && rollout.pass;
  return { backend: world.info.backend, variant: world.info.variant, tolerance: tol, graphs, texts, rollout, pass };
}
