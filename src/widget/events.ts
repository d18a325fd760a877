/**
 * The events of `<world-canvas>` and their `detail`s, and the typed
 * `addEventListener` / `removeEventListener` the element declares with them:
 * `el.addEventListener('frame', (e) => e.detail.chunk)`.
 */
import type { EngineInfo } from '../../workers/protocol';
import type { LoadProgress } from '../loader/bundle';
import type { ActionCut } from '../runtime/actions';
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

/** An action queued: its receipt, and what the action encoder reads of it. */
export interface WorldCanvasActionDetail extends ActionReceipt {
  /**
   * Null when the action encoder reads the whole action; else it was cut at the bundle's budget of
   * word pieces (`actionEncoder.maxTokens`, less two markers): the words read, and those left out.
   */
  cut: ActionCut | null;
}

export interface WorldCanvasShownDetail extends WorldCanvasActionDetail {
  /** Milliseconds from `act()` to the action's first frame on screen. */
  latencyMs: number;
}

/**
 * The world holds still (`holding: true`): the bundle says it changes only when someone acts, the
 * chunk on screen has settled, and nothing is generated until an action comes; `holding: false`
 * when generation resumes (an action, a new session, reset) or playback pauses.
 */
export interface WorldCanvasHoldDetail {
  holding: boolean;
  /** The chunk whose last frame is held (or was). */
  chunk: number;
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
  /**
   * An action was queued: the receipt `act()` returns, with the chunk it will condition, and any cut
   * (sent once the action's text is encoded, within milliseconds of `act()`).
   */
  action: CustomEvent<WorldCanvasActionDetail>;
  /** An action's first frame is on screen: its receipt, any cut, and the latency from `act()`. */
  shown: CustomEvent<WorldCanvasShownDetail>;
  /** The world started or stopped holding still. */
  hold: CustomEvent<WorldCanvasHoldDetail>;
  error: CustomEvent<WorldCanvasErrorDetail>;
}

/** A listener of one of the element's events, or of any HTMLElement event. */
export type WorldCanvasListener<This, E> = (this: This, ev: E) => unknown;
