/**
 * The events of `<world-canvas>` and their `detail`s, and the typed
 * `addEventListener` / `removeEventListener` the element declares with them:
 * `el.addEventListener('frame', (e) => e.detail.chunk)`.
 */
import type { EngineInfo } from '../../workers/protocol';
import type { LoadProgress } from '../loader/bundle';
import type { ActionReceipt } from '../runtime/session';

/**
 * What failed, in an `error` event:
 * - `load`: the bundle could not be loaded (address, network, checksum, manifest, engine start);
 * - `scene`: the `scene` attribute names no scene of the bundle, or a session could not start;
 * - `attribute`: an attribute value that means nothing (`seed="abc"`, `backend="gpu"`); the default is used;
 * - `action`: an action was refused (empty, too many waiting, not loaded yet);
 * - `session`: a session given to the `session` property belongs to another World;
 * - `runtime`: generation failed while playing (playback stops; `play()` retries).
 */
export type WorldCanvasErrorType = 'load' | 'scene' | 'attribute' | 'action' | 'session' | 'runtime';

/**
 * What the engine runs on (backend, variant, the GPU adapter's description or 'cpu', WASM threads: 1 unless
 * the page is cross-origin isolated), and what the viewer should know.
 */
export interface WorldCanvasReadyDetail extends Pick<EngineInfo, 'backend' | 'variant' | 'adapter' | 'threads'> {
  /** Things the viewer should know (a fallback to WASM, no model cache, WASM on one thread). */
  notices: string[];
}

export interface WorldCanvasFrameDetail {
  /** Index of the chunk the frame belongs to. */
  chunk: number;
  /** Index of the frame within its chunk. */
  frame: number;
  /** The action that conditioned the chunk. */
  action: string;
}

export interface WorldCanvasShownDetail extends ActionReceipt {
  /** Milliseconds from `act()` to the action's first frame on screen. */
  latencyMs: number;
}

export interface WorldCanvasErrorDetail {
  type: WorldCanvasErrorType;
  message: string;
  /** The error as thrown (its `name` says which kind: BundleFetchError, ActionError, ...). */
  sourceError: unknown;
}

/** The element's events and their `detail`s. */
export interface WorldCanvasEventMap {
  /** Loading progress: stage, bytes loaded and total, bytes from the cache. */
  progress: CustomEvent<LoadProgress>;
  /** The World is loaded and a session is ready to play. */
  ready: CustomEvent<WorldCanvasReadyDetail>;
  /** A frame is on screen (drawn). */
  frame: CustomEvent<WorldCanvasFrameDetail>;
  /** An action was queued: the receipt `act()` returns, with the chunk it will condition. */
  action: CustomEvent<ActionReceipt>;
  /** An action's first frame is on screen: its receipt and the latency from `act()`. */
  shown: CustomEvent<WorldCanvasShownDetail>;
  error: CustomEvent<WorldCanvasErrorDetail>;
}

/** A listener of one of the element's events, or of any HTMLElement event. */
export type WorldCanvasListener<This, E> = (this: This, ev: E) => unknown;
