/**
 * Wire types between the main thread and the two workers (comlink).
 *
 * Only plain data crosses: typed arrays move as transferables. GPU buffers and
 * devices cannot cross workers, so each worker keeps what feeds it every step:
 * the rendering worker keeps the Swin-DPM window resident on its GPU between
 * calls and returns CPU copies only at chunk boundaries.
 */
import type { Backend } from '../src/base/capabilities';
import type { GraphName, Manifest, Variant } from '../src/contract/manifest';
import type { ActionCut } from './action-cut';

export type { Backend } from '../src/base/capabilities';

/** Which worker runs which graphs: those that feed each other every step share one (and its GPU device). */
export const WORKER_GRAPHS = {
  conditioning: ['encoder', 'backbone'],
  rendering: ['decoder', 'vae_decoder', 'vae_encoder'],
} as const satisfies Record<string, readonly GraphName[]>;

export type WorkerName = keyof typeof WORKER_GRAPHS;
export type WorkerGraph<W extends WorkerName> = (typeof WORKER_GRAPHS)[W][number];

export interface EngineInfo {
  backend: Backend;
  variant: Variant;
  /** Adapter description (WebGPU) or 'cpu'. */
  adapter: string;
  /** The adapter offers shader-f16. */
  f16: boolean;
  /** ONNX Runtime's WASM threads in each worker: 1 unless the page is cross-origin isolated. */
  threads: number;
}

/**
 * Where the decoder's window lives between calls: 'gpu' (resident, the
 * default) or 'readback' (every output copied to the CPU and uploaded again,
 * the naive runtime the benchmark compares against).
 */
export type Residency = 'gpu' | 'readback';

export interface InitRequest {
  manifest: Manifest;
  backend: Backend;
  variant: Variant;
  residency?: Residency;
  /** ONNX Runtime's WASM threads (default: wasmThreads' pick). */
  threads?: number;
  /** Graph bytes by graph name (only the graphs this worker runs). */
  graphs: Record<string, Uint8Array>;
}

export interface ConditioningInit extends InitRequest {
  /** Action encoder files by path relative to its folder (config.json, onnx/model_quantized.onnx, ...). */
  textEncoderFiles: Record<string, Uint8Array>;
}

/** An action's text, as the model receives it. */
export interface TextEncoding {
  /** The text as typed (trimmed). */
  text: string;
  /** Token states (maxTokens x width) and mask (maxTokens). */
  states: Float32Array;
  mask: Float32Array;
  /** Word-piece tokens the text needed, [CLS] and [SEP] included. */
  tokens: number;
  /** The text had more tokens than the encoder reads: the tail was cut. */
  truncated: boolean;
  /** Where it was cut (the words read and those left out), when it was. */
  cut: ActionCut | null;
}

export interface TurnRequest {
  prevState: Float32Array;
  isFirst: boolean;
  /** Frames (F x 3 x H x W, [0, 1]) of the newest finished chunk, or the start scene repeated. */
  observedFrames: Float32Array;
  text: Float32Array;
  textMask: Float32Array;
  kv: Float32Array;
  kvMask: Float32Array;
}

export interface TurnResult {
  state: Float32Array;
  kv: Float32Array;
  kvMask: Float32Array;
  /** The whole turn, readbacks included; of it, the encoder's and the backbone's runs (ms). */
  ms: number;
  encoderMs: number;
  backboneMs: number;
}

/** What conditions one chunk: its action and the backbone's predicted state. */
export interface ChunkConditioning {
  chunk: number;
  action: string;
  text: Float32Array;
  textMask: Float32Array;
  state: Float32Array;
}

export interface SlotState extends ChunkConditioning {
  /** F x C x h x w latents at the slot's current sigma. */
  latents: Float32Array;
}

/** The window between phases, on the CPU: enough to resume on any device. */
export interface WindowState {
  seed: number;
  /** Clean latents of the newest finished chunk (or the start scene's, repeated). */
  history: Float32Array;
  /** The chunk in the earlier slot at sigma 0.5, or null before the first phase. */
  earlier: SlotState | null;
}

export interface PhaseRequest {
  /**
   * Identifies the window resident on the worker's GPU. When it differs from
   * the worker's, `window` is uploaded first (a new session, a fork, a
   * recovery).
   */
  windowKey: string;
  window: WindowState;
  /** The phase to run: chunk `phase` is enqueued in the later slot. */
  phase: number;
  /** [earlier, later] sigmas per call, from the Scheduler. */
  calls: { sigma: [number, number]; sigmaNext: [number, number] }[];
  historySigma: number;
  later: ChunkConditioning;
  /** Key of the window after this phase (the worker keeps it resident). */
  nextWindowKey: string;
}

export interface FinishedFrames {
  chunk: number;
  action: string;
  /** F x 3 x H x W in [0, 1]. */
  frames: Float32Array;
  /** F x H x W x 4, ready for ImageData. */
  rgba: Uint8ClampedArray;
}

export interface PhaseResult {
  finished: FinishedFrames | null;
  /** The window after the shift, on the CPU. */
  window: WindowState;
  /** Milliseconds per decoder call, and for the VAE decode. */
  callMs: number[];
  vaeMs: number;
}

/** A tensor crossing the worker boundary (diagnostics: test vectors). */
export interface WireTensor {
  data: Float32Array;
  dims: number[];
}

/** What both workers answer (workers/graph-worker.ts). */
export interface GraphWorkerApi {
  /** Run one of this worker's graphs (WORKER_GRAPHS) on given inputs (bundle self-test). */
  runGraph(name: string, feeds: Record<string, WireTensor>): Promise<Record<string, WireTensor>>;
  /** Destroy the worker's GPU device (fault-injection tests). */
  loseDevice(): Promise<void>;
  dispose(): Promise<void>;
}

export interface ConditioningApi extends GraphWorkerApi {
  init(req: ConditioningInit): Promise<EngineInfo>;
  encodeText(text: string): Promise<TextEncoding>;
  turn(req: TurnRequest): Promise<TurnResult>;
}

export interface RenderingApi extends GraphWorkerApi {
  init(req: InitRequest): Promise<EngineInfo>;
  /** Start scene frame (1 x 3 x H x W in [0, 1]) -> latents (C x h x w). */
  encodeImage(frame: Float32Array): Promise<Float32Array>;
  runPhase(req: PhaseRequest): Promise<PhaseResult>;
}
