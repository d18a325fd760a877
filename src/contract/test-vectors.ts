/**
 * A bundle's test vectors (`testvectors/index.json` and `vectors.bin`, named by
 * the manifest's `testVectors`): what the exporter recorded of the PyTorch
 * model, for the runtime to reproduce (src/runtime/verify.ts) and the
 * benchmarks to time and weigh against.
 *
 * Its twin is the TypedDict `TestVectorIndex` in model/contract.py, which
 * model/testvectors.py writes with (validated by model/manifest.py);
 * `test/unit/manifest-agreement.test.ts` proves the two JSON Schemas agree.
 */
import { z } from 'zod';

import { GRAPH_NAMES, type GraphName, type ManifestIssue, fieldPath } from './manifest';

/** One tensor in vectors.bin: little-endian, `bytes` long from `offset`. */
const TensorRefSchema = z.strictObject({
  dtype: z.enum(['float32', 'int64', 'uint8']),
  shape: z.array(z.int()),
  offset: z.int(),
  bytes: z.int(),
});

/** A graph's recorded call: tensor keys by input and output name, in the graph's order. */
const GraphVectorsSchema = z.strictObject({
  inputs: z.record(z.string(), z.string()),
  outputs: z.record(z.string(), z.string()),
});

/** What one call of a graph costs (model/cost.py). */
const GraphCostSchema = z.strictObject({ flops: z.int(), params: z.int(), fp32Bytes: z.int() });

const DenoiseCallSchema = z.strictObject({
  index: z.int(),
  phase: z.int(),
  step: z.int(),
  earlierChunk: z.int().nullable(),
  laterChunk: z.int(),
  historyChunk: z.int(),
  sigma: z.array(z.number()),
  sigmaNext: z.array(z.number()),
  enqueue: z.int().nullable(),
  finish: z.int().nullable(),
});

export const TestVectorIndexSchema = z.strictObject({
  /** Every tensor of vectors.bin, by key. */
  tensors: z.record(z.string(), TensorRefSchema),
  /** Each graph on example inputs, and what PyTorch answered: every graph must match within `tolerance.graph`. */
  graphs: z.strictObject({
    vae_encoder: GraphVectorsSchema,
    vae_decoder: GraphVectorsSchema,
    encoder: GraphVectorsSchema,
    backbone: GraphVectorsSchema,
    decoder: GraphVectorsSchema,
  }),
  /** The action encoder on the rollout's texts: token ids, mask and states (tensor keys). */
  texts: z.array(z.strictObject({ text: z.string(), inputIds: z.string(), mask: z.string(), states: z.string() })),
  /** A rollout of the reference sampler (model/sampler.py) from a bundle scene: its frames within `tolerance.frame`. */
  rollout: z.strictObject({ seed: z.int(), scene: z.string(), actions: z.array(z.string()), chunks: z.int(), frames: z.string() }),
  /** The Swin-DPM schedule as the exporter's Python ran it (src/scheduler/schedule.ts mirrors it call for call). */
  schedule: z.strictObject({
    denoiseSteps: z.int(),
    chunks: z.int(),
    calls: z.array(DenoiseCallSchema),
    noiseLevels: z.array(z.array(z.number())),
  }),
  /** Seeded noise as the exporter's Python drew it (src/contract/noise.ts draws the same). */
  noise: z.strictObject({
    cases: z.array(
      z.strictObject({ seed: z.int(), stream: z.int(), index: z.int(), count: z.int(), key: z.int(), values: z.array(z.number()) }),
    ),
  }),
  /** Largest absolute difference allowed: per graph output (fp32), and per rollout pixel (2/255). */
  tolerance: z.strictObject({ graph: z.number(), frame: z.number() }),
  /** What one call of each graph costs, and one generated frame: the benchmarks' floor (model/cost.py). */
  cost: z.strictObject({
    perGraph: z.strictObject({
      vae_encoder: GraphCostSchema,
      vae_decoder: GraphCostSchema,
      encoder: GraphCostSchema,
      backbone: GraphCostSchema,
      decoder: GraphCostSchema,
    }),
    perFrame: z.strictObject({
      flops: z.number(),
      fp32WeightBytesRead: z.number(),
      /** K/2: one phase finishes one chunk. */
      decoderCallsPerChunk: z.int(),
      framesPerChunk: z.int(),
    }),
  }),
  /** Each reduced-precision variant's replay of the rollout against fp32, and whether it shipped. */
  variantQuality: z.record(z.string(), z.strictObject({ psnr: z.number(), kept: z.boolean(), threshold: z.number() })),
});

export type TestVectorIndex = z.infer<typeof TestVectorIndexSchema>;
export type ModelCost = TestVectorIndex['cost'];

/** A test-vector index that does not satisfy the contract; `issues` names every bad field. */
export class TestVectorIndexError extends Error {
  override name = 'TestVectorIndexError';
  constructor(
    readonly issues: ManifestIssue[],
    readonly source = 'testvectors/index.json',
  ) {
    super(`${source} is not a valid test-vector index:\n` + issues.map((i) => `  - ${i.field || '(root)'}: ${i.message}`).join('\n'));
  }
}

/** The tensor keys the index names (graphs, texts, rollout), each with where it is named. */
function tensorReferences(index: TestVectorIndex): [string, string][] {
  const refs: [string, string][] = [];
  for (const g of GRAPH_NAMES) {
    for (const side of ['inputs', 'outputs'] as const) {
      for (const [name, key] of Object.entries(index.graphs[g][side])) refs.push([`graphs.${g}.${side}.${name}`, key]);
    }
  }
  index.texts.forEach((t, i) => {
    for (const k of ['inputIds', 'mask', 'states'] as const) refs.push([`texts[${i}].${k}`, t[k]]);
  });
  refs.push(['rollout.frames', index.rollout.frames]);
  return refs;
}

/** Check a test-vector index: the schema, then that every tensor it names is in `tensors`. */
export function validateTestVectorIndex(data: unknown, source?: string): TestVectorIndex {
  const parsed = TestVectorIndexSchema.safeParse(data);
  if (!parsed.success) {
    throw new TestVectorIndexError(
      parsed.error.issues.map((i) => ({ field: fieldPath(i.path), message: i.message })),
      source,
    );
  }
  const index = parsed.data;
  const missing = tensorReferences(index).filter(([, key]) => !(key in index.tensors));
  if (missing.length) throw new TestVectorIndexError(missing.map(([field, key]) => ({ field, message: `no tensor "${key}" in tensors` })), source);
  return index;
}

/** A tensor as the runtime feeds it: float32 values, and its shape. */
export interface VectorTensor {
  data: Float32Array;
  dims: number[];
}

/** A bundle's test vectors: the index, and each tensor of vectors.bin by key. */
export interface TestVectors {
  readonly index: TestVectorIndex;
  tensor(key: string): VectorTensor;
}

/** Test vectors from the index (parsed JSON, checked here) and the bytes of vectors.bin. */
export function readTestVectors(indexData: unknown, blob: ArrayBuffer, source?: string): TestVectors {
  const index = validateTestVectorIndex(indexData, source);
  return {
    index,
    tensor(key) {
      const t = index.tensors[key];
      if (!t) throw new TestVectorIndexError([{ field: 'tensors', message: `no tensor "${key}"` }], source);
      if (t.offset + t.bytes > blob.byteLength) {
        throw new TestVectorIndexError([{ field: `tensors.${key}`, message: `ends at byte ${t.offset + t.bytes}, past vectors.bin's ${blob.byteLength}` }], source);
      }
      const n = t.shape.reduce((a, b) => a * b, 1);
      // Every graph input and output is float32; ids and masks are widened to it, as the runtime feeds them.
      if (t.dtype === 'float32') return { data: new Float32Array(blob, t.offset, n).slice(), dims: t.shape };
      if (t.dtype === 'int64') return { data: Float32Array.from(new BigInt64Array(blob, t.offset, n), Number), dims: t.shape };
      return { data: Float32Array.from(new Uint8Array(blob, t.offset, n)), dims: t.shape };
    },
  };
}

/** One graph's recorded inputs, by name in the graph's order: what to feed it to compare with its recorded outputs. */
export function graphFeeds(vectors: TestVectors, graph: GraphName): Record<string, VectorTensor> {
  return Object.fromEntries(Object.entries(vectors.index.graphs[graph].inputs).map(([name, key]) => [name, vectors.tensor(key)]));
}

/** The index's JSON Schema, for the agreement test with model/contract.py. */
export function testVectorIndexJsonSchema(): unknown {
  return z.toJSONSchema(TestVectorIndexSchema, { io: 'input' });
}
