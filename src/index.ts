/**
 * world-canvas: the public API. Everything else is internal; the demo
 * (src/demo/) is built on this alone.
 */
export { World, pickBackend, type WorldOptions, type PickedBackend, type ImageDecoder } from './runtime/world';
export {
  Session,
  lastFrame,
  type SessionHost,
  type SessionStart,
  type SessionOptions,
  type SessionState,
  type ActionReceipt,
  type FinishedChunk,
  type ActionLogEntry,
  type UpcomingAction,
  type PlanGoal,
  type PlanCandidate,
} from './runtime/session';
export { Player } from './runtime/player';
export { WorldCanvasElement, type WorldCanvasEventMap, type WorldCanvasErrorType, type WorldCanvasErrorDetail, type WorldCanvasReadyDetail, type WorldCanvasFrameDetail, type WorldCanvasActionDetail, type WorldCanvasShownDetail, type WorldCanvasHoldDetail, type WorldCanvasSnapshot } from './widget/element';
export { SessionView, type ChunkShown } from './widget/session-view';
export { guideContent } from './widget/guide-view';
export { Renderer, type ShownFrame, type RenderChunk, type FrameCanvas } from './render/renderer';
export { detectCapabilities, type Capabilities } from './base/capabilities';
export {
  seedOption,
  backendOption,
  variantOption,
  threadsOption,
  MAX_SEED,
  MAX_WASM_THREADS,
  type PageOption,
  type BackendChoice,
  type VariantChoice,
} from './base/page-options';
export { normalizeAction, cutNotice, MAX_ACTION_CHARS, MAX_QUEUED_ACTIONS, type ActionCut } from './runtime/actions';
export { prepareImage, type PreparedImage } from './runtime/images';
export {
  WorldCanvasError,
  BundleFetchError,
  ChecksumError,
  CrossOriginBundleError,
  ActionError,
  WebGPUUnavailableError,
  DeviceLostError,
  WorkerTimeoutError,
  ImageInputError,
  CancelledError,
} from './base/errors';
export {
  validateManifest,
  parseManifest,
  ManifestError,
  type Manifest,
  type WorldGuide,
  type ManifestIssue,
  FORMAT_VERSION,
} from './contract/manifest';
export { type LoadProgress, type LoadStage } from './loader/bundle';
export { idbByteCache, memoryByteCache, type ByteCache } from './loader/cache';
export { SwinDpmSchedule, type DenoiseCall } from './scheduler/schedule';
export type { EngineInfo, Backend } from '../workers/protocol';
