/**
 * world-canvas: the public API. Everything else is internal.
 */
export { World, pickBackend, type WorldOptions, type PickedBackend } from './runtime/world';
export { Session, lastFrame, type ActionReceipt, type FinishedChunk, type SessionState, type ActionLogEntry } from './runtime/session';
export { Player } from './runtime/player';
export { WorldCanvasElement, type WorldCanvasEventMap, type WorldCanvasErrorType, type WorldCanvasErrorDetail, type WorldCanvasReadyDetail, type WorldCanvasFrameDetail, type WorldCanvasActionDetail, type WorldCanvasShownDetail, type WorldCanvasHoldDetail, type WorldCanvasSnapshot } from './widget/element';
export { Renderer, type ShownFrame } from './render/renderer';
export { detectCapabilities, type Capabilities } from './base/capabilities';
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
