/**
 * The bundle contract, `manifest.json`: the one definition the runtime uses.
 *
 * Its twin is `model/manifest.py` (pydantic), which the exporter writes with;
 * `test/unit/manifest-agreement.test.ts` proves the two JSON Schemas agree.
 * Keys are camelCase, as on disk.
 */
import { z } from 'zod';

// No generated code: zod's JIT probes `new Function`, which a strict
// Content-Security-Policy reports as a violation (and a manifest is parsed once).
z.config({ jitless: true });

export const FORMAT = 'world-canvas-bundle';
export const FORMAT_VERSION = 1;
export const GRAPH_NAMES = ['vae_encoder', 'vae_decoder', 'encoder', 'backbone', 'decoder'] as const;
export const VARIANTS = ['fp32', 'fp16', 'q8', 'q4'] as const;

export type GraphName = (typeof GRAPH_NAMES)[number];
export type Variant = (typeof VARIANTS)[number];

// A path inside the bundle folder: relative segments that never start with a
// dot and hold no colon, so a manifest can never point at a parent folder or
// another origin.
const RELATIVE_PATH = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const SHA256 = /^[0-9a-f]{64}$/;

const int = (min: number) => z.int().min(min);

export const FileRefSchema = z.strictObject({
  file: z.string().regex(RELATIVE_PATH),
  bytes: int(1),
  sha256: z.string().regex(SHA256),
});

export const TensorSpecSchema = z.strictObject({
  name: z.string().min(1),
  shape: z.array(z.int()).refine((s) => s.every((d) => d >= 1), {
    message: 'every dimension must be >= 1 (graphs have static shapes)',
  }),
  dtype: z.enum(['float32', 'float16', 'int64', 'int32', 'uint8', 'bool']),
});

export const VariantsSchema = z
  .strictObject({
    fp32: FileRefSchema.optional(),
    fp16: FileRefSchema.optional(),
    q8: FileRefSchema.optional(),
    q4: FileRefSchema.optional(),
  })
  .refine((v) => VARIANTS.some((k) => v[k]), {
    message: 'a graph needs at least one variant (fp32, fp16, q8 or q4)',
  });

export const GraphSchema = z.strictObject({
  inputs: z.array(TensorSpecSchema).min(1),
  outputs: z.array(TensorSpecSchema).min(1),
  variants: VariantsSchema,
});

/** What a person can ask of the world: the kinds of actions it was trained on, and its words. */
export const GuideSchema = z.strictObject({
  actions: z
    .array(
      z.strictObject({
        kind: z.string().min(1),
        /** One line: what the action does. */
        description: z.string().min(1),
        /** Sentences the world was trained on, as a person would type them. */
        examples: z.array(z.string()).min(1),
      }),
    )
    .min(1),
  /** The words a person needs (colours, shapes, places, ...), by group. */
  vocabulary: z.array(z.strictObject({ label: z.string().min(1), words: z.array(z.string()).min(1) })),
});

/** How the world behaves, for the runtime and for the people acting in it (written from model/world/guide.py). */
export const WorldSchema = z.strictObject({
  /** Nothing changes when nobody acts: the runtime stops generating once the chunk on screen has settled. */
  stillWhenIdle: z.boolean(),
  /** Idle chunks in a row, the one on screen the last, after which its frame is the world at rest. */
  settleChunks: int(1),
  guide: GuideSchema.optional(),
});

export const ManifestSchema = z.strictObject({
  format: z.literal(FORMAT),
  formatVersion: z.literal(FORMAT_VERSION),
  name: z.string().min(1),
  description: z.string(),
  video: z.strictObject({
    width: int(8),
    height: int(8),
    fps: z.number().gt(0),
    chunkFrames: int(1),
  }),
  latent: z.strictObject({ channels: int(1), height: int(1), width: int(1) }),
  state: z.strictObject({ tokens: int(1), width: int(1), queries: int(1) }),
  backbone: z.strictObject({
    layers: int(1),
    heads: int(1),
    maxTurns: int(1),
    turnTokens: int(1),
    cacheTokens: int(1),
  }),
  diffusion: z.strictObject({
    denoiseSteps: int(2).refine((k) => k % 2 === 0, {
      message: 'denoiseSteps must be even: each window chunk takes half of them',
    }),
    window: z.literal(2),
    conditioningNoise: z.number().min(0).lt(1),
    stateLag: z.literal(2),
    flowMatching: z.strictObject({
      interpolation: z.literal('x_sigma = (1 - sigma) * data + sigma * noise'),
      prediction: z.literal('velocity = noise - data'),
      step: z.literal('euler: x_next = x - (sigma - sigma_next) * velocity'),
    }),
  }),
  actionEncoder: z.strictObject({
    path: z.string().regex(RELATIVE_PATH),
    maxTokens: int(2),
    width: int(1),
    dtype: z.enum(['fp32', 'fp16', 'q8', 'q4']),
    idleAction: z.string().min(1),
    files: z.array(FileRefSchema).min(1),
  }),
  graphs: z.strictObject({
    vae_encoder: GraphSchema,
    vae_decoder: GraphSchema,
    encoder: GraphSchema,
    backbone: GraphSchema,
    decoder: GraphSchema,
  }),
  scenes: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[a-z0-9-]+$/),
        title: z.string().min(1),
        file: z.string().regex(RELATIVE_PATH),
        bytes: int(1),
        sha256: z.string().regex(SHA256),
      }),
    )
    .min(1),
  eval: z
    .strictObject({
      episodes: z.string().min(1),
      scores: z.record(z.string(), z.number()),
      report: z.string().optional(),
    })
    .optional(),
  testVectors: z.strictObject({ file: z.string().regex(RELATIVE_PATH) }).optional(),
  /**
   * The variant WASM runs unless another is asked for; absent, fp32. Set only where that variant's
   * evaluation stayed within 1 point of fp32's on every score (`python -m model.regraph --wasm-variant`).
   */
  wasmVariant: z.enum(VARIANTS).optional(),
  /** Absent in bundles made before it: such a world keeps generating when nobody acts. */
  world: WorldSchema.optional(),
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type FileRef = z.infer<typeof FileRefSchema>;
export type TensorSpec = z.infer<typeof TensorSpecSchema>;
export type GraphSpec = z.infer<typeof GraphSchema>;
export type WorldGuide = z.infer<typeof GuideSchema>;

/** One problem with a manifest, at a JSON path such as `graphs.decoder.inputs[3].shape`. */
export interface ManifestIssue {
  field: string;
  message: string;
}

/** A manifest that does not satisfy the contract; `issues` names every bad field. */
export class ManifestError extends Error {
  override name = 'ManifestError';
  constructor(
    readonly issues: ManifestIssue[],
    readonly source = 'manifest.json',
  ) {
    super(
      `${source} is not a valid world-canvas bundle manifest:\n` +
        issues.map((i) => `  - ${i.field || '(root)'}: ${i.message}`).join('\n'),
    );
  }
}

export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`))
    .join('');
}

/**
 * Parse and check a manifest: the schema first, then that every graph's
 * inputs and outputs have the shapes the other fields imply. Throws a
 * ManifestError listing every bad field.
 */
export function validateManifest(data: unknown, source?: string): Manifest {
  if (
    typeof data === 'object' &&
    data !== null &&
    'formatVersion' in data &&
    typeof data.formatVersion === 'number' &&
    data.formatVersion !== FORMAT_VERSION
  ) {
    throw new ManifestError(
      [
        {
          field: 'formatVersion',
          message: `format version ${data.formatVersion} is not supported by this runtime (it reads version ${FORMAT_VERSION}); export the bundle again or update world-canvas`,
        },
      ],
      source,
    );
  }
  const parsed = ManifestSchema.safeParse(data);
  if (!parsed.success) {
    throw new ManifestError(
      parsed.error.issues.map((i) => ({ field: fieldPath(i.path), message: i.message })),
      source,
    );
  }
  const issues = checkGraphShapes(parsed.data);
  if (issues.length) throw new ManifestError(issues, source);
  return parsed.data;
}

/** Parse manifest text (JSON) with the same errors. */
export function parseManifest(text: string, source?: string): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ManifestError([{ field: '', message: `not JSON: ${(e as Error).message}` }], source);
  }
  return validateManifest(data, source);
}

type Shape = number[];
type IO = Record<string, Shape>;
export type GraphIO = Record<GraphName, { inputs: IO; outputs: IO }>;

/** Elements of a tensor of this shape. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The inputs and outputs each graph must have, derived from the manifest's
 * numbers: what a bundle is checked against, and the shapes the runtime feeds.
 */
export function expectedGraphIO(m: Manifest): GraphIO {
  const { chunkFrames: F, width: W, height: H } = m.video;
  const { channels: C, height: h, width: w } = m.latent;
  const { tokens: Ns, width: D, queries: Q } = m.state;
  const L = m.actionEncoder.maxTokens;
  const T = m.actionEncoder.width;
  const { layers, heads, cacheTokens: P } = m.backbone;
  const hs = Math.floor(D / heads);
  return {
    vae_encoder: { inputs: { frames: [1, 3, H, W] }, outputs: { latents: [1, C, h, w] } },
    vae_decoder: { inputs: { latents: [F, C, h, w] }, outputs: { frames: [F, 3, H, W] } },
    encoder: { inputs: { frames: [F, 3, H, W] }, outputs: { state_tokens: [Ns, D] } },
    backbone: {
      inputs: {
        prev_state: [Q, D],
        is_first: [1],
        observed: [Ns, D],
        action: [L, T],
        action_mask: [L],
        past_kv: [layers, 2, heads, P, hs],
        past_mask: [P],
      },
      outputs: { next_state: [Q, D], present_kv: [layers, 2, heads, P, hs], present_mask: [P] },
    },
    decoder: {
      inputs: {
        history: [F, C, h, w],
        history_noise: [C, h, w],
        history_sigma: [1],
        earlier: [F, C, h, w],
        later: [F, C, h, w],
        sigma: [2],
        sigma_next: [2],
        earlier_present: [1],
        text: [2, L, T],
        text_mask: [2, L],
        state: [2, Q, D],
      },
      outputs: { earlier_next: [F, C, h, w], later_next: [F, C, h, w] },
    },
  };
}

function checkGraphShapes(m: Manifest): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  if (m.backbone.cacheTokens !== m.backbone.maxTurns * m.backbone.turnTokens) {
    issues.push({ field: 'backbone.cacheTokens', message: 'must equal maxTurns * turnTokens' });
  }
  const expected = expectedGraphIO(m);
  for (const g of GRAPH_NAMES) {
    for (const side of ['inputs', 'outputs'] as const) {
      const want = expected[g][side];
      const have = m.graphs[g][side];
      const names = new Set(have.map((t) => t.name));
      for (const name of Object.keys(want)) {
        if (!names.has(name)) {
          issues.push({ field: `graphs.${g}.${side}`, message: `missing tensor "${name}"` });
        }
      }
      have.forEach((t, i) => {
        const shape = want[t.name];
        if (!shape) {
          issues.push({ field: `graphs.${g}.${side}[${i}].name`, message: `unexpected tensor "${t.name}"` });
        } else if (shape.join(',') !== t.shape.join(',')) {
          issues.push({
            field: `graphs.${g}.${side}[${i}].shape`,
            message: `"${t.name}" has shape [${t.shape}] but the manifest's sizes imply [${shape}]`,
          });
        } else if (t.dtype !== 'float32') {
          issues.push({
            field: `graphs.${g}.${side}[${i}].dtype`,
            message: `"${t.name}" must be float32 (every variant keeps float32 inputs and outputs)`,
          });
        }
      });
    }
  }
  return issues;
}

/** The manifest's JSON Schema, for the agreement test with model/manifest.py. */
export function manifestJsonSchema(): unknown {
  return z.toJSONSchema(ManifestSchema, { io: 'input' });
}
