/**
 * `<world-canvas>`: a world model on a page in one tag.
 *
 * ```html
 * <world-canvas src="/models/tabletop/" autoplay controls></world-canvas>
 * ```
 *
 * Attributes (each mirrored by a property): `src`, `scene`, `seed`,
 * `autoplay`, `controls`, `backend` (auto | webgpu | wasm), `threads`, `allowed-origins`
 * (space separated), `loading` (lazy | eager).
 *
 * Events (CustomEvent; see WorldCanvasEventMap in events.ts for each `detail`): `progress`,
 * `ready`, `frame` (a frame is on screen), `action` (queued; with the words the action
 * encoder leaves out, if any), `shown` (the action's first frame is on screen), `hold`
 * (the world holds still, or resumes), `error`. Attribute changes never throw: a
 * failure becomes an `error` event and a message in the element.
 *
 * With `controls`, a collapsed panel under them says what the world understands (the
 * bundle's guide, `manifest.world.guide`; also the `guide` property).
 *
 * Elements with the same bundle and backend share one World (see
 * shared-worlds.ts); the World loads when its first element becomes visible
 * and is disposed when its last element leaves the page.
 */
import type { EngineInfo } from '../../workers/protocol';
import type { LoadProgress } from '../loader/bundle';
import type { WorldGuide } from '../contract/manifest';
import { cutNotice } from '../runtime/actions';
import { type BackendChoice, backendOption, seedOption, threadsOption } from '../base/page-options';
import { ActionError, CancelledError, WorldCanvasError } from '../base/errors';
import type { Player } from '../runtime/player';
import type { ActionReceipt, Session } from '../runtime/session';
import type { World } from '../runtime/world';
import type { WorldCanvasErrorType, WorldCanvasEventMap, WorldCanvasListener as On } from './events';
import { guideContent } from './guide-view';
import { SessionView } from './session-view';
import { type WorldLease, leaseWorld, liveWorldCount } from './shared-worlds';
import { shadowContent, shadowStyles } from './template';

export type {
  WorldCanvasActionDetail,
  WorldCanvasErrorDetail,
  WorldCanvasErrorType,
  WorldCanvasEventMap,
  WorldCanvasFrameDetail,
  WorldCanvasHoldDetail,
  WorldCanvasReadyDetail,
  WorldCanvasShownDetail,
} from './events';

export interface WorldCanvasSnapshot {
  /** The frame on the canvas, at the model's resolution. */
  image: ImageData;
  /** Scene, seed and actions: enough to replay the rollout (`Session.actAt`). */
  record: Session['replayRecord'];
}

/** What the status line says: news, a warning (the part `warning`) or an error (the part `error`). */
type StatusKind = 'news' | 'warning' | 'error';

/** Added to the status line while the world holds still. */
const HOLDING_NOTE = 'Holding still until the next action.';

// Defined on any page; importing the module where there is no DOM (a server render, Node) does not throw.
const HTMLElementBase = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  const d = { settled: false } as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => {
    d.resolve = (v) => ((d.settled = true), resolve(v));
    d.reject = (e) => ((d.settled = true), reject(e));
  });
  d.promise.catch(() => {}); // awaiting `ready` still sees the rejection; nobody awaiting it is not an error
  return d;
}

// Typed listeners, `el.addEventListener('frame', (e) => e.detail.chunk)`: declared here, HTMLElement's at run time.
type AddOptions = boolean | AddEventListenerOptions;
type RemoveOptions = boolean | EventListenerOptions;
export interface WorldCanvasElement {
  addEventListener<K extends keyof WorldCanvasEventMap>(type: K, listener: On<WorldCanvasElement, WorldCanvasEventMap[K]>, options?: AddOptions): void;
  addEventListener<K extends keyof HTMLElementEventMap>(type: K, listener: On<HTMLElement, HTMLElementEventMap[K]>, options?: AddOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: AddOptions): void;
  removeEventListener<K extends keyof WorldCanvasEventMap>(type: K, listener: On<WorldCanvasElement, WorldCanvasEventMap[K]>, options?: RemoveOptions): void;
  removeEventListener<K extends keyof HTMLElementEventMap>(type: K, listener: On<HTMLElement, HTMLElementEventMap[K]>, options?: RemoveOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: RemoveOptions): void;
}

export class WorldCanvasElement extends HTMLElementBase {
  static readonly observedAttributes = ['src', 'scene', 'seed', 'autoplay', 'controls', 'backend', 'threads', 'allowed-origins', 'loading'];

  /** Worlds the elements of this page hold and have not disposed (shared ones count once). */
  static get liveWorlds(): number {
    return liveWorldCount();
  }

  private readonly els: {
    canvas: HTMLCanvasElement;
    progress: HTMLDivElement;
    bar: HTMLDivElement;
    controls: HTMLFormElement;
    input: HTMLInputElement;
    play: HTMLButtonElement;
    reset: HTMLButtonElement;
    status: HTMLParagraphElement;
    guide: HTMLDetailsElement;
    guideBody: HTMLDivElement;
  };
  /** The status line: its message, and whether the holding note follows it. */
  private status: { text: string; kind: StatusKind; holding: boolean } = { text: '', kind: 'news', holding: false };
  private lease: WorldLease | null = null;
  private worldRef: World | null = null;
  /** The session on screen, its renderer and player (once loaded). */
  private view: SessionView | null = null;
  /** A session given before the World loaded; taken at load if it belongs to that World. */
  private pending: Session | null = null;
  /** Bumped by every (re)load and teardown: async work started under an older value is stale. */
  private token = 0;
  private sessionToken = 0;
  /** The element has been on screen (or loads eagerly): loading may start. */
  private visible = false;
  private observer: IntersectionObserver | null = null;
  /** play()/pause() called by the page; null: follow `autoplay`. */
  private wantPlaying: boolean | null = null;
  private readyState = deferred<World>();
  private unsubscribe: (() => void) | null = null;
  private scheduled: { reload: boolean; session: boolean } | null = null;
  /** The attributes the current lease was taken with. */
  private loadedKey = '';

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [shadowStyles()];
    root.append(shadowContent());
    const q = <T extends Element>(part: string) => root.querySelector<T & Element>(`[part~='${part}']`)!;
    this.els = {
      canvas: q<HTMLCanvasElement>('canvas'),
      progress: q<HTMLDivElement>('progress'),
      bar: root.querySelector<HTMLDivElement>('.bar')!,
      controls: q<HTMLFormElement>('controls'),
      input: q<HTMLInputElement>('input'),
      play: q<HTMLButtonElement>('play'),
      reset: q<HTMLButtonElement>('reset'),
      status: q<HTMLParagraphElement>('status'),
      guide: q<HTMLDetailsElement>('guide'),
      guideBody: root.querySelector<HTMLDivElement>('.guide')!,
    };
    this.els.controls.addEventListener('submit', (ev) => {
      ev.preventDefault();
      try {
        this.act(this.els.input.value);
        this.els.input.value = '';
      } catch {
        // already reported: an `error` event and the status line
      }
    });
    this.els.play.addEventListener('click', () => (this.player?.playing ? this.pause() : this.play()));
    this.els.reset.addEventListener('click', () => this.reset());
  }

  // Attributes, mirrored by properties.

  /** The bundle folder (or its manifest.json), resolved against the page. */
  get src(): string | null {
    return this.getAttribute('src');
  }
  set src(v: string | null) {
    this.setOrRemove('src', v);
  }

  /** A start scene id of the bundle; its first scene when absent. */
  get scene(): string | null {
    return this.getAttribute('scene');
  }
  set scene(v: string | null) {
    this.setOrRemove('scene', v);
  }

  /** Seed of the rollout's noise: the same seed and actions replay the same frames. */
  get seed(): number {
    const raw = this.getAttribute('seed');
    return (raw === null ? null : seedOption.parse(raw)) ?? 0;
  }
  set seed(v: number) {
    this.setAttribute('seed', String(v));
  }

  /** Start playing as soon as the World is loaded. */
  get autoplay(): boolean {
    return this.hasAttribute('autoplay');
  }
  set autoplay(v: boolean) {
    this.toggleAttribute('autoplay', !!v);
  }

  /** Show the built-in action input, play/pause and reset. */
  get controls(): boolean {
    return this.hasAttribute('controls');
  }
  set controls(v: boolean) {
    this.toggleAttribute('controls', !!v);
  }

  /**
   * 'auto' (WebGPU on a GPU; WASM without one, or when the only adapter is a
   * software fallback such as SwiftShader), 'webgpu' or 'wasm' to force one.
   */
  get backend(): BackendChoice {
    const raw = this.getAttribute('backend');
    return (raw === null ? null : backendOption.parse(raw)) ?? 'auto';
  }
  set backend(v: BackendChoice) {
    this.setAttribute('backend', v);
  }

  /**
   * ONNX Runtime's WASM threads per worker, or null for the default (half the
   * cores up to 4, where the page is cross-origin isolated; one elsewhere).
   */
  get threads(): number | null {
    const raw = this.getAttribute('threads');
    return raw === null ? null : threadsOption.parse(raw);
  }
  set threads(v: number | null) {
    this.setOrRemove('threads', v === null ? null : String(v));
  }

  /** Other origins the bundle may come from, space separated ('*' for any). */
  get allowedOrigins(): string {
    return this.getAttribute('allowed-origins') ?? '';
  }
  set allowedOrigins(v: string) {
    this.setOrRemove('allowed-origins', v);
  }

  /** 'lazy' (default): load when the element first comes into view; 'eager': load at once. */
  get loading(): 'lazy' | 'eager' {
    return this.getAttribute('loading') === 'eager' ? 'eager' : 'lazy';
  }
  set loading(v: 'lazy' | 'eager') {
    this.setAttribute('loading', v);
  }

  // Read-only state.

  /** The loaded World (shared with other elements of the same bundle and backend), or null. */
  get world(): World | null {
    return this.worldRef;
  }

  /** Resolves with the World when it is loaded and a session is ready; rejects if loading fails. */
  get ready(): Promise<World> {
    return this.readyState.promise;
  }

  /** What the element's engine runs on, once loaded. */
  get info(): EngineInfo | null {
    return this.worldRef?.info ?? null;
  }

  /** Whether frames are being generated and shown (also while holding still). */
  get playing(): boolean {
    return this.player?.playing ?? false;
  }

  /**
   * Playing, and holding the frame on screen still: the bundle says its world changes only when
   * someone acts, the chunk on screen has settled, and nothing is generated until an action comes
   * (a `hold` event says when this starts and stops).
   */
  get holding(): boolean {
    return this.player?.holding ?? false;
  }

  /** What the world understands (the bundle's `manifest.world.guide`): kinds of actions with examples, and its words. Null before loading, or when the bundle has none. */
  get guide(): WorldGuide | null {
    return this.worldRef?.manifest.world?.guide ?? null;
  }

  /**
   * The session on screen. Set it to a session of the same World (a fork from
   * another element) to show that one instead; a session plays in one element at a time.
   */
  get session(): Session | null {
    return this.current;
  }
  set session(s: Session | null) {
    if (!s || s === this.current) return;
    if (this.worldRef && s.world !== this.worldRef) {
      const e = new WorldCanvasError(
        'This session belongs to another World: give this element the same src and backend as the element that made it.',
      );
      this.fail('session', e);
      throw e;
    }
    this.sessionToken++; // a scene or seed change still starting loses to this
    if (this.view) this.view.show(s);
    else this.pending = s; // taken when the World has loaded
  }

  // Methods.

  /**
   * Queue an action for the next free chunk. Returns its receipt (also sent as
   * an `action` event); a refused action throws ActionError and sends an `error` event.
   */
  act(text: string): ActionReceipt {
    try {
      if (!this.view) throw new ActionError('The world is not loaded yet: wait for the element\'s `ready` promise or `ready` event.');
      const view = this.view;
      const r = view.act(text);
      this.showStatus(r.truncated ? `Action cut to ${r.text.length} characters; queued for chunk ${r.chunk}.` : `Queued for chunk ${r.chunk}: ${r.text}`);
      // The words the action encoder leaves out are known once the text is encoded (milliseconds).
      const token = this.token;
      void view.cutOf(r).then((cut) => {
        if (cut && token === this.token && view === this.view) this.showStatus(`Queued for chunk ${r.chunk}. ${cutNotice(cut)}`, 'warning');
        this.dispatch('action', { ...r, cut });
      });
      return r;
    } catch (e) {
      this.fail('action', e);
      throw e;
    }
  }

  /** A branch of the session at its current chunk boundary (show it with `other.session = branch`). */
  async fork(): Promise<Session> {
    if (!this.current) throw new WorldCanvasError('Nothing to fork before the world is loaded: wait for `ready`.');
    return this.current.fork();
  }

  /** Generate and show frames (before loading: play once loaded). */
  play(): void {
    this.wantPlaying = true;
    this.player?.play();
    this.syncPlayButton();
  }

  pause(): void {
    this.wantPlaying = false;
    this.player?.pause();
    this.syncPlayButton();
  }

  /** Back to the start scene with the same seed; queued actions are dropped. */
  reset(): void {
    if (!this.view) return;
    this.view.reset();
    this.showStatus('Reset to the start scene.');
  }

  /** The current frame and what it takes to replay the rollout. */
  snapshot(): WorldCanvasSnapshot {
    const s = this.current;
    if (!s) throw new WorldCanvasError('Nothing to snapshot before the world is loaded: wait for `ready`.');
    const c = this.els.canvas;
    return { image: c.getContext('2d')!.getImageData(0, 0, c.width, c.height), record: s.replayRecord };
  }

  // Lifecycle.

  connectedCallback(): void {
    if (this.lease || this.observer) return; // moved within the page: keep going
    this.els.controls.hidden = !this.controls;
    this.watchVisibility();
  }

  disconnectedCallback(): void {
    // A move (remove, then insert again in the same task) keeps the World.
    queueMicrotask(() => {
      if (this.isConnected) return;
      this.observer?.disconnect();
      this.observer = null;
      this.visible = false;
      this.teardown();
    });
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    switch (name) {
      case 'src':
      case 'backend':
      case 'threads':
      case 'allowed-origins':
        if (name === 'backend' && value !== null && backendOption.parse(value) === null) {
          this.fail('attribute', new WorldCanvasError(`backend="${value}" is not ${backendOption.accepts}; using auto.`));
        }
        if (name === 'threads' && value !== null && threadsOption.parse(value) === null) {
          this.fail('attribute', new WorldCanvasError(`threads="${value}" is not ${threadsOption.accepts}; using the default.`));
        }
        this.schedule('reload');
        break;
      case 'scene':
        this.schedule('session');
        break;
      case 'seed':
        if (value !== null && seedOption.parse(value) === null) {
          this.fail('attribute', new WorldCanvasError(`seed="${value}" is not ${seedOption.accepts}; using 0.`));
        }
        this.schedule('session');
        break;
      case 'autoplay':
        if (value !== null && this.wantPlaying === null) this.player?.play();
        this.syncPlayButton();
        break;
      case 'controls':
        this.els.controls.hidden = value === null;
        this.els.guide.hidden = value === null || !this.guide;
        break;
      case 'loading':
        if (value === 'eager' && this.isConnected && !this.visible) this.becameVisible();
        break;
    }
  }

  // Internals.

  private setOrRemove(name: string, v: string | null): void {
    if (v === null || v === undefined) this.removeAttribute(name);
    else this.setAttribute(name, String(v));
  }

  /** Apply attribute changes once per task (setting src and backend together reloads once). */
  private schedule(what: 'reload' | 'session'): void {
    if (!this.scheduled) {
      this.scheduled = { reload: false, session: false };
      queueMicrotask(() => {
        const s = this.scheduled!;
        this.scheduled = null;
        if (s.reload && this.loadedKey !== this.worldKey()) {
          if (this.lease) this.teardown();
          if (this.visible && this.isConnected) void this.load();
        } else if (s.session) {
          if (this.player) void this.restartSession();
          else this.sessionToken++; // a load under way picks up the new scene and seed
        }
      });
    }
    this.scheduled[what] = true;
  }

  private worldKey(): string {
    return `${this.src} ${this.backend} ${this.threads} ${this.allowedOrigins}`;
  }

  private watchVisibility(): void {
    if (this.loading === 'eager' || typeof IntersectionObserver === 'undefined') {
      this.becameVisible();
      return;
    }
    this.observer = new IntersectionObserver(
      (entries) => {
        if (!entries.some((e) => e.isIntersecting)) return;
        this.observer?.disconnect();
        this.observer = null;
        this.becameVisible();
      },
      { rootMargin: '200px' },
    );
    this.observer.observe(this);
  }

  private becameVisible(): void {
    this.visible = true;
    if (!this.lease) void this.load();
  }

  /**
   * Load (or join) the World, then start a session.
   * 1. Lease the shared World for src + backend, relaying its progress.
   * 2. Take the session given before loading, or start one from scene + seed.
   * 3. Show it: a renderer at the model's resolution and a player (the SessionView).
   * 4. Announce `ready`; play if asked to.
   */
  private async load(): Promise<void> {
    const token = ++this.token;
    const src = this.src;
    this.loadedKey = this.worldKey();
    if (!src) {
      this.showStatus('Set the src attribute to a world model bundle.');
      return;
    }
    // 1.
    this.showProgress({ stage: 'manifest', loaded: 0, total: 0, fromCache: 0 });
    const allowedOrigins = this.allowedOrigins.split(/\s+/).filter(Boolean).map(originOf);
    const lease = leaseWorld({ bundle: src, backend: this.backend, allowedOrigins, threads: this.threads ?? undefined }, (p) => {
      if (token !== this.token) return;
      this.showProgress(p);
      this.dispatch('progress', p);
    });
    this.lease = lease;
    let world: World;
    try {
      world = await lease.world;
    } catch (e) {
      if (token !== this.token) return;
      this.els.progress.hidden = true;
      this.fail('load', e);
      this.readyState.reject(e);
      return;
    }
    if (token !== this.token) return;
    this.worldRef = world;
    const { width, height } = world.manifest.video;
    this.els.canvas.style.aspectRatio = `${width} / ${height}`;
    this.unsubscribe = world.onRestart((info) => this.showStatus(`The engine was restarted (${info.backend}); playback goes on.`));
    // 2.
    //    A scene, seed or session set while this runs wins: the loop starts over with it.
    let session: Session | null = null;
    while (!session) {
      const given = this.pending;
      this.pending = null;
      if (given?.world === world) {
        session = given;
        break;
      }
      if (given) this.fail('session', new WorldCanvasError('The session given before loading belongs to another World; starting a new one.'));
      const st = ++this.sessionToken;
      session = await this.startSession(token, st);
      if (token !== this.token) return;
      if (!session && st === this.sessionToken) return; // it failed, and said why
    }
    // 3.
    const view = new SessionView(this.els.canvas, session);
    view.onFrame = (f, shown) => {
      this.dispatch('frame', { chunk: f.chunk, frame: f.frame, action: f.action });
      // The chunk's first frame is on screen: the action that conditioned it, if it was typed here, is shown.
      if (shown?.acted) this.dispatch('shown', { ...shown.acted.receipt, chunk: shown.chunk, latencyMs: shown.acted.latencyMs, cut: shown.acted.cut });
    };
    view.player.onHold = (holding) => {
      if (token !== this.token) return;
      this.status.holding = holding;
      this.renderStatus();
      this.dispatch('hold', { holding, chunk: view.lastShown });
    };
    view.player.onError = (e) => {
      if (token !== this.token) return;
      this.syncPlayButton();
      this.fail('runtime', e);
    };
    this.view = view;
    const guide = world.manifest.world?.guide;
    if (guide) {
      this.els.guideBody.replaceChildren(
        guideContent(document, guide, (example) => {
          this.els.input.value = example;
          this.els.input.focus();
        }),
      );
    }
    this.els.guide.hidden = !guide || !this.controls;
    // 4.
    this.els.progress.hidden = true;
    const info = world.info;
    this.showStatus(world.notices.join(' · '), world.notices.length ? 'warning' : 'news');
    this.readyState.resolve(world);
    this.dispatch('ready', { backend: info.backend, variant: info.variant, adapter: info.adapter, threads: info.threads, notices: [...world.notices] });
    if (this.wantPlaying ?? this.autoplay) view.player.play();
    this.syncPlayButton();
  }

  /** A new session from the `scene` and `seed` attributes (an unknown scene falls back to the first). */
  private async startSession(token: number, sessionToken: number): Promise<Session | null> {
    const world = this.worldRef!;
    let sceneId = this.scene ?? undefined;
    if (sceneId !== undefined && !world.scenes.some((s) => s.id === sceneId)) {
      const ids = world.scenes.map((s) => s.id).join(', ');
      this.fail('scene', new WorldCanvasError(`This bundle has no scene "${sceneId}" (it has ${ids}); showing ${world.scenes[0].id}.`));
      sceneId = undefined;
    }
    try {
      const s = await world.newSession({ sceneId, seed: this.seed });
      return token === this.token && sessionToken === this.sessionToken ? s : null;
    } catch (e) {
      if (token === this.token && sessionToken === this.sessionToken) this.fail('scene', e);
      return null;
    }
  }

  private async restartSession(): Promise<void> {
    const s = await this.startSession(this.token, ++this.sessionToken);
    if (s) this.view?.show(s);
  }

  private get player(): Player | null {
    return this.view?.player ?? null;
  }

  private get current(): Session | null {
    return this.view?.session ?? null;
  }

  /** Stop playing and give the World back (the last element to do so disposes it). */
  private teardown(): void {
    this.token++;
    this.sessionToken++;
    if (this.view) {
      this.view.player.onError = null;
      this.view.player.onHold = null;
      this.view.player.pause(); // and its renderer
    }
    this.status.holding = false;
    this.renderStatus();
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.view = null;
    this.els.guide.hidden = true;
    this.els.guideBody.replaceChildren();
    this.worldRef = null;
    this.lease?.release();
    this.lease = null;
    this.loadedKey = '';
    if (!this.readyState.settled) this.readyState.reject(new CancelledError('the element was removed or its src changed before it loaded'));
    this.readyState = deferred<World>();
    this.syncPlayButton();
  }

  private dispatch<K extends keyof WorldCanvasEventMap>(type: K, detail: WorldCanvasEventMap[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  private fail(type: WorldCanvasErrorType, e: unknown): void {
    const message = describe(e);
    this.showStatus(message, 'error');
    this.dispatch('error', { type, message, sourceError: e });
  }

  private showStatus(text: string, kind: StatusKind = 'news'): void {
    this.status.text = text;
    this.status.kind = kind;
    this.renderStatus();
  }

  private renderStatus(): void {
    const { text, kind, holding } = this.status;
    this.els.status.textContent = holding ? (text ? `${text} · ${HOLDING_NOTE}` : HOLDING_NOTE) : text; // text, never markup
    this.els.status.setAttribute('part', kind === 'news' ? 'status' : `status ${kind}`);
  }

  private showProgress(p: LoadProgress): void {
    const pct = p.total ? Math.round((100 * p.loaded) / p.total) : p.stage === 'ready' ? 100 : 0;
    this.els.progress.hidden = p.stage === 'ready';
    this.els.progress.setAttribute('aria-valuenow', String(pct));
    this.els.bar.style.width = `${pct}%`;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    this.showStatus(
      {
        manifest: 'Reading the manifest…',
        download: `Downloading the model: ${mb(p.loaded)} / ${mb(p.total)} MB`,
        compile: 'Compiling the graphs…',
        warmup: 'Warming up…',
        ready: '',
      }[p.stage],
    );
  }

  private syncPlayButton(): void {
    const playing = this.player?.playing ?? false;
    this.els.play.textContent = playing ? 'Pause' : 'Play';
    this.els.play.setAttribute('aria-pressed', String(playing));
  }
}

/** 'https://cdn.example/path' -> 'https://cdn.example' (what the origin check compares); '*' stays. */
function originOf(s: string): string {
  if (s === '*') return s;
  try {
    return new URL(s).origin;
  } catch {
    return s;
  }
}
