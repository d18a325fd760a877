/**
 * The demo page: load a bundle, pick a scene (or drop an image) and a seed,
 * type actions, fork branches and scrub their timelines, plan by simulation,
 * share a rollout as a link, record it as WebM. It says what the world
 * understands (the bundle's guide), which words of an action the encoder
 * leaves out, and when a still world holds its frame until someone acts.
 *
 * URL parameters: `bundle` (folder URL, default the shipped tabletop model),
 * `backend` (auto | webgpu | wasm), `variant` (auto | fp32 | fp16), and a
 * shared rollout's `scene`, `seed`, `actions`.
 */
import { type FinishedChunk, type LoadProgress, type Player, Renderer, type Session, type ShownFrame, World, lastFrame, prepareImage } from '../index';
import { type ActionCut, cutNotice } from '../runtime/actions';
import type { PlanCandidate, PlanGoal } from '../runtime/session';
import { type PageOption, backendOption, seedOption, threadsOption, variantOption } from '../base/page-options';
import { registerServiceWorker } from '../sw/register';
import { guideContent } from '../widget/guide-view';
import { type ChunkShown, SessionView } from '../widget/session-view';
import { recordWebM } from './record';
import { decodeShare, encodeShare } from './share';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const shared = decodeShare(params);
const bundle = shared.record.bundle ?? `${import.meta.env.BASE_URL}models/tabletop/`;

const els = {
  progress: $<HTMLDivElement>('progress'),
  backend: $<HTMLSpanElement>('backend'),
  readout: $<HTMLSpanElement>('readout'),
  notice: $<HTMLParagraphElement>('notice'),
  branches: $<HTMLElement>('branches'),
  form: $<HTMLFormElement>('action-form'),
  action: $<HTMLInputElement>('action'),
  status: $<HTMLParagraphElement>('action-status'),
  guide: $<HTMLDetailsElement>('guide'),
  guideBody: $<HTMLDivElement>('guide-body'),
  object: $<HTMLSelectElement>('object'),
  scene: $<HTMLSelectElement>('scene'),
  image: $<HTMLInputElement>('image'),
  seed: $<HTMLInputElement>('seed'),
  play: $<HTMLButtonElement>('play'),
  reset: $<HTMLButtonElement>('reset'),
  share: $<HTMLButtonElement>('share'),
  shareLink: $<HTMLInputElement>('share-link'),
  record: $<HTMLButtonElement>('record'),
  download: $<HTMLAnchorElement>('download'),
  history: $<HTMLOListElement>('history'),
  goalKind: $<HTMLSelectElement>('goal-kind'),
  goalText: $<HTMLInputElement>('goal-text'),
  goalImage: $<HTMLInputElement>('goal-image'),
  goalBranch: $<HTMLSelectElement>('goal-branch'),
  candidates: $<HTMLTextAreaElement>('candidates'),
  simulate: $<HTMLButtonElement>('simulate'),
  planResults: $<HTMLDivElement>('plan-results'),
};

/** Live figures of the active branch, also read by the browser tests. */
const stats = {
  framesShown: 0,
  /** Frames generated (handed to the display), all branches. */
  framesMade: 0,
  chunksFinished: 0,
  /** Frames shown per second, measured over the last seconds. */
  fps: 0,
  /** Frames generated per second, measured over the last seconds. */
  madeFps: 0,
  /** Frames of the active branch waiting to be shown. */
  buffered: 0,
  /** Wall time of the active branch's recent phases (one chunk each), ms, newest last. */
  phaseMs: [] as number[],
  /** From act() to the action's first frame on screen, for the last action shown. */
  lastLatencyMs: null as number | null,
  /** Actions whose first frame is on screen: chunk, text and latency. */
  shown: [] as { chunk: number; text: string; latencyMs: number | null }[],
  /** The active branch holds its frame still (a still world, settled): nothing is generated. */
  holding: false,
  /** performance.now() when the active branch began holding still (null while it generates). */
  heldAt: null as number | null,
  errors: [] as string[],
  branches: 0,
};
Object.assign(window, { worldCanvasStats: stats });

const COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'];

/** The objects of a bundle scene, from its title ("yellow cube, green ball"); none for an image of your own. */
function sceneObjects(title: string | undefined): string[] {
  return (title ?? '').split(',').map((s) => s.trim()).filter((s) => /^[a-z]+ [a-z]+$/.test(s));
}

/** Events per second over the last `windowMs` (frames shown, frames made). */
class RateMeter {
  private readonly events: { at: number; n: number }[] = [];
  constructor(private readonly windowMs = 4000) {}
  add(at: number, n = 1): number {
    this.events.push({ at, n });
    while (this.events.length > 1 && at - this.events[0].at > this.windowMs) this.events.shift();
    return this.rate(at);
  }
  /** Per second, counting the events after the first in the window (the first opens it). */
  rate(now = performance.now()): number {
    const e = this.events.filter((x) => now - x.at <= this.windowMs);
    if (e.length < 2) return 0;
    const span = Math.max(now, e.at(-1)!.at) - e[0].at;
    return span > 0 ? (e.slice(1).reduce((a, x) => a + x.n, 0) * 1000) / span : 0;
  }
}

function showProgress(p: LoadProgress): void {
  const bar = els.progress.querySelector<HTMLDivElement>('.bar')!;
  const label = els.progress.querySelector<HTMLSpanElement>('.label')!;
  const pct = p.total ? Math.round((100 * p.loaded) / p.total) : p.stage === 'ready' ? 100 : 0;
  bar.style.width = `${pct}%`;
  els.progress.setAttribute('aria-valuenow', String(pct));
  els.progress.dataset.stage = p.stage;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  label.textContent = {
    manifest: 'reading manifest…',
    download: `downloading model ${mb(p.loaded)} / ${mb(p.total)} MB${p.fromCache ? ` (${mb(p.fromCache)} MB from cache)` : ''}`,
    compile: `compiling graphs (${p.detail ?? ''})`,
    warmup: 'compiling shaders and warming up…',
    ready: 'ready',
  }[p.stage];
}

function setStatus(text: string, error = false): void {
  els.status.textContent = text;
  els.status.classList.toggle('error', error);
  els.status.classList.remove('warning');
  if (error) stats.errors.push(text);
}

/** Something the user should know about what they did (not an error: it went ahead). */
function setWarning(text: string): void {
  setStatus(text);
  els.status.classList.add('warning');
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** One branch on screen: a session shown in its own card (the SessionView, as `<world-canvas>` shows one), with its timeline. */
class Branch {
  readonly card: HTMLDivElement;
  readonly view: SessionView;
  readonly timeline: HTMLInputElement;
  private readonly shownRate = new RateMeter();
  private readonly madeRate = new RateMeter();
  private readonly onChunk = () => this.chunkFinished();

  constructor(
    readonly demo: Demo,
    session: Session,
    readonly label: string,
  ) {
    this.card = document.createElement('div');
    this.card.className = 'branch';
    this.card.innerHTML = `<canvas></canvas>
      <span class="held" hidden title="Nothing changes in this world until someone acts: no frames are made">holding still</span>
      <div class="branch-bar"><span class="label"></span>
      <input class="timeline" type="range" min="0" max="0" value="0" aria-label="timeline" />
      <span class="chunk-label"></span><button class="fork" type="button">Fork here</button>
      <button class="close" type="button" aria-label="close branch">×</button></div>`;
    this.card.querySelector('.label')!.textContent = label;
    const canvas = this.card.querySelector('canvas')!;
    this.timeline = this.card.querySelector('.timeline')!;
    this.view = new SessionView(canvas, session);
    this.player.onError = (e) => {
      setStatus(describeError(e), true);
      demo.syncPlayButton();
    };
    this.player.onChunk = (c) => {
      stats.framesMade += c.frameCount;
      this.madeRate.add(performance.now(), c.frameCount);
      if (this.demo.active === this) stats.phaseMs = this.player.phaseMs.slice(-32);
    };
    this.view.onFrame = (f, shown) => this.frameShown(f, shown);
    this.player.onHold = (holding) => this.holdChanged(holding);
    session.addEventListener('chunk', this.onChunk);
    canvas.addEventListener('click', () => demo.activate(this));
    this.timeline.addEventListener('input', () => this.scrub());
    this.card.querySelector<HTMLButtonElement>('.fork')!.addEventListener('click', () => void demo.fork(this));
    this.card.querySelector<HTMLButtonElement>('.close')!.addEventListener('click', () => demo.close(this));
  }

  get session(): Session {
    return this.view.session;
  }

  get renderer(): Renderer {
    return this.view.renderer;
  }

  get player(): Player {
    return this.view.player;
  }

  /** The newest chunk whose first frame is on screen (-1: none yet). */
  get lastShown(): number {
    return this.view.lastShown;
  }

  /** Show another session on this branch (a plan's candidate taken). */
  setSession(s: Session): void {
    this.session.removeEventListener('chunk', this.onChunk);
    s.addEventListener('chunk', this.onChunk);
    this.view.show(s);
    this.updateTimeline();
  }

  /** Back to the start scene, same seed. */
  reset(): void {
    this.view.reset();
    this.updateTimeline();
  }

  private chunkFinished(): void {
    stats.chunksFinished++;
    this.updateTimeline();
    if (this.demo.active === this) this.demo.renderHistory();
  }

  private updateTimeline(): void {
    const n = this.session.history.length;
    const live = Number(this.timeline.value) >= Number(this.timeline.max);
    this.timeline.max = String(Math.max(0, n - 1));
    if (!live) return; // scrubbed back: the label names the chunk shown, not the newest
    this.timeline.value = this.timeline.max;
    this.card.querySelector('.chunk-label')!.textContent = n ? `chunk ${this.session.history.at(-1)!.index}` : '';
  }

  /** Show a past chunk (pauses this branch; back at the end of the timeline it plays on). */
  private scrub(): void {
    const h = this.session.history;
    const i = Number(this.timeline.value);
    if (!h.length) return;
    if (this.demo.active !== this) this.demo.activate(this); // the branch being scrubbed is the one the controls act on
    if (i >= h.length - 1) {
      this.goLive();
      this.demo.syncPlayButton();
      return;
    }
    this.player.pause();
    this.demo.syncPlayButton();
    const c = h[i];
    this.renderer.draw(lastFrame(c));
    this.card.querySelector('.chunk-label')!.textContent = `chunk ${c.index}: ${c.action}`;
  }

  /** Back from a scrubbed chunk: the live frame again (a branch holding still draws no new one), playing. */
  goLive(): void {
    this.timeline.value = this.timeline.max;
    this.renderer.redraw();
    this.updateTimeline();
    this.player.play();
  }

  /** The chunk the timeline points at (the newest when live). */
  get selectedChunk(): FinishedChunk | undefined {
    const h = this.session.history;
    return h[Math.min(Number(this.timeline.value), h.length - 1)];
  }

  /** A still world settled (or resumes): the card and, for the active branch, the readout say so. */
  private holdChanged(holding: boolean): void {
    this.card.querySelector<HTMLElement>('.held')!.hidden = !holding;
    if (this.demo.active === this) this.demo.showHold();
  }

  /** A frame is on screen: count it; at a chunk's first frame, its action is shown. */
  private frameShown(f: ShownFrame, shown: ChunkShown | null): void {
    const fps = this.shownRate.add(f.at);
    const active = this.demo.active === this;
    if (shown) {
      const { entry, acted } = shown;
      const idle = this.demo.world.manifest.actionEncoder.idleAction;
      if (acted || (entry && (entry.id !== null || entry.action !== idle))) {
        const latencyMs = acted?.latencyMs ?? null;
        if (active) {
          if (latencyMs !== null) stats.lastLatencyMs = latencyMs;
          stats.shown.push({ chunk: f.chunk, text: f.action, latencyMs });
        }
      }
      if (active) {
        for (const li of els.history.querySelectorAll<HTMLLIElement>('li.pending')) {
          if (Number(li.dataset.chunk) <= f.chunk) li.classList.remove('pending');
        }
      }
    }
    if (!active) return;
    stats.framesShown++;
    stats.fps = fps;
    stats.madeFps = this.madeRate.rate(f.at);
    stats.buffered = this.renderer.buffered;
    els.readout.textContent = `made ${stats.madeFps.toFixed(1)} fps · shown ${fps.toFixed(1)} fps · chunk ${f.chunk}${latencyReadout()}`;
  }

  dispose(): void {
    this.player.pause();
    this.session.removeEventListener('chunk', this.onChunk);
    this.card.remove();
  }
}

/** The last action's time to the screen, for the readout. */
function latencyReadout(): string {
  return stats.lastLatencyMs !== null ? ` · action→screen ${Math.round(stats.lastLatencyMs)} ms` : '';
}

class Demo {
  readonly branches: Branch[] = [];
  active!: Branch;
  /** Bumped by every start: plans and results of an older start are stale. */
  generation = 0;
  /** Where the action encoder cut an action, by its text (the same text is cut the same way on every branch). */
  private readonly cuts = new Map<string, ActionCut>();

  constructor(readonly world: World) {}

  async start(scene: { sceneId?: string; image?: { planar: Float32Array; rgba: Uint8ClampedArray } }, seed: number) {
    this.generation++;
    for (const b of this.branches.splice(0)) b.dispose();
    els.history.replaceChildren();
    els.planResults.replaceChildren(); // results of another scene or seed mean nothing here
    els.shareLink.hidden = true;
    const session = await this.world.newSession({ ...scene, seed });
    const b = this.add(session, 'main');
    b.player.play();
    this.activate(b);
    return session;
  }

  add(session: Session, label: string): Branch {
    const b = new Branch(this, session, label);
    this.branches.push(b);
    els.branches.append(b.card);
    stats.branches = this.branches.length;
    this.refreshGoalBranches();
    return b;
  }

  activate(b: Branch): void {
    this.active = b;
    for (const x of this.branches) x.card.toggleAttribute('data-active', x === b);
    this.syncPlayButton();
    this.renderHistory();
    this.showHold();
  }

  /** The readout while the active branch holds still: no frame rates (nothing is made or shown), and why. */
  showHold(): void {
    const holding = this.active.player.holding;
    if (holding !== stats.holding) stats.heldAt = holding ? performance.now() : null;
    stats.holding = holding;
    const at = this.active.lastShown;
    if (holding) els.readout.textContent = `holding still at chunk ${at}: nothing changes until you act${latencyReadout()}`;
    else if (els.readout.textContent?.startsWith('holding still')) {
      els.readout.textContent = this.active.player.playing ? `resuming after chunk ${at}…` : `paused at chunk ${at}`;
    }
  }

  /** The Play button says what it will do for the active branch. */
  syncPlayButton(): void {
    if (this.active) els.play.textContent = this.active.player.playing ? 'Pause' : 'Resume';
  }

  async fork(from: Branch): Promise<void> {
    const at = from.selectedChunk;
    try {
      const s = await from.session.fork(at?.index);
      const b = this.add(s, `fork of ${from.label}${at ? ` @ ${at.index}` : ''}`);
      b.player.play();
      this.activate(b);
      setStatus(`Forked at chunk ${at?.index ?? 'start'}: actions now go to the new branch.`);
    } catch (e) {
      setStatus(describeError(e), true);
    }
  }

  close(b: Branch): void {
    if (this.branches.length === 1) return setStatus('The last branch stays open; use Reset instead.', true);
    this.branches.splice(this.branches.indexOf(b), 1);
    b.dispose();
    stats.branches = this.branches.length;
    if (this.active === b) this.activate(this.branches[0]);
    this.refreshGoalBranches();
  }

  act(text: string): void {
    try {
      const view = this.active.view;
      const r = view.act(text);
      const queued = r.truncated ? `Action cut to ${r.text.length} characters (the end was dropped).` : `Queued for chunk ${r.chunk}.`;
      setStatus(queued);
      this.renderHistory();
      // Which words the action encoder leaves out is known once the text is encoded (milliseconds).
      void view.cutOf(r).then((cut) => {
        if (!cut) return;
        this.cuts.set(r.text, cut);
        if (els.status.textContent === queued) setWarning(`Queued for chunk ${r.chunk}. ${cutNotice(cut)}`);
        this.renderHistory();
      });
    } catch (e) {
      setStatus(describeError(e), true);
    }
  }

  renderHistory(): void {
    const s = this.active.session;
    const shown = this.active.lastShown;
    const idle = this.world.manifest.actionEncoder.idleAction;
    // Pending until the action's first frame is on screen (not when its chunk is generated).
    const items: { chunk: number; text: string; pending: boolean }[] = s.log
      .filter((e) => e.action !== idle || e.id !== null)
      .map((e) => ({ chunk: e.chunk, text: e.action, pending: e.chunk > shown }));
    for (const u of s.upcoming) if (u.id !== null || u.text !== idle) items.push({ chunk: u.chunk, text: u.text, pending: true });
    els.history.replaceChildren(
      ...items.map((i) => {
        const li = document.createElement('li');
        li.textContent = i.text; // text, never markup
        const cut = this.cuts.get(i.text);
        if (cut) {
          // The words the encoder left out, struck through: the entry still reads as typed.
          const dropped = document.createElement('del');
          dropped.className = 'dropped';
          dropped.textContent = cut.dropped;
          dropped.title = cutNotice(cut);
          li.replaceChildren(cut.kept ? `${cut.kept} ` : '', dropped);
        }
        li.dataset.chunk = String(i.chunk);
        li.title = `chunk ${i.chunk}`;
        if (i.pending) li.className = 'pending';
        return li;
      }),
    );
    // Scroll the list itself, never the page (scrollIntoView would push the canvas off screen).
    els.history.scrollTop = els.history.scrollHeight;
  }

  refreshGoalBranches(): void {
    els.goalBranch.replaceChildren(...this.branches.map((b, i) => new Option(b.label, String(i))));
  }
}

/** The backend badge and the notices (again after an engine restart). */
function showBackend(world: World, restarted = false): void {
  const i = world.info;
  els.backend.dataset.backend = i.backend;
  const threads = `${i.threads} thread${i.threads === 1 ? '' : 's'}`; // WASM's, the graphs' on that backend
  els.backend.textContent = `${i.backend === 'webgpu' ? 'WebGPU' : `WASM · ${threads}`} · ${i.variant}${restarted ? ' (restarted)' : ''}`;
  els.backend.dataset.threads = String(i.threads);
  els.backend.title = i.backend === 'webgpu' ? i.adapter : `${i.adapter}, ${threads}`;
  els.notice.hidden = !world.notices.length;
  els.notice.textContent = world.notices.join(' · ');
}

/** What the world understands (the bundle's guide), beside the action box; an example goes into it when clicked. */
function showGuide(world: World): void {
  const guide = world.manifest.world?.guide;
  els.guide.hidden = !guide;
  if (!guide) return;
  els.guideBody.replaceChildren(
    guideContent(document, guide, (text) => {
      els.action.value = text;
      els.action.focus();
    }),
  );
}

/** The scene picker, with a shared link's scene and seed; the link's actions to replay (none if its scene is not in this bundle). */
function sceneFromLink(world: World): [number, string][] {
  for (const s of world.scenes) els.scene.append(new Option(s.title, s.id));
  let replay = shared.record.actions ?? [];
  if (shared.record.scene && !world.scenes.some((s) => s.id === shared.record.scene)) {
    const ids = world.scenes.map((s) => s.id).join(', ');
    setStatus(
      shared.record.scene === 'image'
        ? `This link was made from an image of its own, which links cannot carry; showing ${world.scenes[0].id} without its actions.`
        : `This bundle has no scene "${shared.record.scene}" (it has ${ids}); showing ${world.scenes[0].id} without the link's actions.`,
      true,
    );
    replay = []; // actions meant for another start scene would not replay the rollout
  } else if (shared.record.scene) els.scene.value = shared.record.scene;
  if (shared.record.seed !== undefined) els.seed.value = String(shared.record.seed);
  return replay;
}

/** The seed field, and the names of what is in the scene shown (object picker, placeholders, Simulate defaults). */
class SceneControls {
  /** The seed in use: a value the session cannot take is refused and the field goes back to it. */
  seedInUse = shared.record.seed ?? 0;
  /** Fields the user has typed in: their defaults no longer follow the scene. */
  private readonly touched = new Set<HTMLElement>();

  constructor(private readonly world: World) {
    for (const el of [els.candidates, els.goalText]) el.addEventListener('input', () => this.touched.add(el));
  }

  seedFromField(): number | null {
    const raw = els.seed.value.trim();
    const n = seedOption.parse(raw);
    if (n !== null) return (this.seedInUse = n);
    setStatus(`Seed "${raw}" is not ${seedOption.accepts}; keeping seed ${this.seedInUse}.`, true);
    els.seed.value = String(this.seedInUse);
    return null;
  }

  objectsForScene(sceneId: string): void {
    const objs = sceneObjects(this.world.scenes.find((s) => s.id === sceneId)?.title);
    const names = objs.length ? objs : COLOURS.map((c) => `${c} one`); // an image of your own: by colour
    els.object.replaceChildren(...names.map((o) => new Option(o, o)));
    const [a, b = a] = names;
    els.action.placeholder = `push the ${a} left`;
    els.goalText.placeholder = `move the ${b} to the top left corner`;
    const idle = this.world.manifest.actionEncoder.idleAction;
    if (!this.touched.has(els.candidates)) els.candidates.value = [`push the ${a} left`, `push the ${a} right`, `slide the ${b} up`, idle].join('\n');
  }
}

/** Actions: the bar, the quick buttons, the arrow keys. */
function wireActions(demo: Demo): void {
  els.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    demo.act(els.action.value);
    if (!els.status.classList.contains('error')) els.action.value = '';
  });
  const move = (dir: string) => demo.act(`push the ${els.object.value} ${dir}`);
  document.querySelectorAll<HTMLButtonElement>('[data-move]').forEach((b) => b.addEventListener('click', () => move(b.dataset.move!)));
  document.querySelectorAll<HTMLButtonElement>('[data-action]').forEach((b) => b.addEventListener('click', () => demo.act(b.dataset.action!)));
  document.addEventListener('keydown', (ev) => {
    const t = ev.target as HTMLElement;
    if (t.matches('input, textarea, select')) return;
    const dir = { ArrowLeft: 'left', ArrowRight: 'right', ArrowUp: 'up', ArrowDown: 'down' }[ev.key];
    if (dir) {
      ev.preventDefault();
      move(dir);
    }
  });
}

/** Playback, reset, scenes, images of your own, seeds. */
function wireScenes(demo: Demo, controls: SceneControls): void {
  const world = demo.world;
  els.play.addEventListener('click', () => {
    const b = demo.active;
    if (b.player.playing) b.player.pause();
    else b.goLive(); // resuming a scrubbed branch goes back to live
    demo.syncPlayButton();
  });
  els.reset.addEventListener('click', () => {
    demo.active.reset();
    demo.renderHistory();
    setStatus('Reset to the start scene (same seed).');
  });
  const restart = () => {
    const seed = controls.seedFromField();
    if (seed === null) return;
    controls.objectsForScene(els.scene.value);
    void demo.start({ sceneId: els.scene.value }, seed).catch((e) => setStatus(describeError(e), true));
  };
  els.scene.addEventListener('change', restart);
  els.seed.addEventListener('change', restart);
  const useImage = async (file: File) => {
    try {
      const { width, height } = world.manifest.video;
      const img = await prepareImage(file, width, height);
      controls.objectsForScene('image');
      await demo.start({ image: img, sceneId: 'image' }, controls.seedInUse);
      setStatus(img.notes.length ? `Your image: ${img.notes.join(', ')}.` : 'Your image is the start scene.');
    } catch (e) {
      setStatus(describeError(e), true);
    }
  };
  els.image.addEventListener('change', () => els.image.files?.[0] && void useImage(els.image.files[0]));
  els.branches.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    (ev.target as HTMLElement).closest('.branch')?.classList.add('drop');
  });
  els.branches.addEventListener('dragleave', (ev) => (ev.target as HTMLElement).closest('.branch')?.classList.remove('drop'));
  els.branches.addEventListener('drop', (ev) => {
    ev.preventDefault();
    document.querySelectorAll('.branch.drop').forEach((b) => b.classList.remove('drop'));
    const file = ev.dataTransfer?.files[0];
    if (file) void useImage(file);
    else setStatus('Drop an image file.', true);
  });
}

/** Share a link that replays the active branch; record it as WebM. */
function wireShareAndRecord(demo: Demo): void {
  const world = demo.world;
  els.share.addEventListener('click', async () => {
    const r = demo.active.session.replayRecord;
    if (!world.scenes.some((s) => s.id === r.scene)) {
      els.shareLink.hidden = true;
      setStatus('No link for a rollout from your own image: a link carries the scene by name, not the image. Record WebM to share it.', true);
      return;
    }
    const link = encodeShare({ bundle, ...r }, location.href);
    els.shareLink.hidden = false;
    els.shareLink.value = link;
    els.shareLink.select();
    try {
      await navigator.clipboard.writeText(link);
      setStatus('Link copied: it replays this branch (scene, seed, actions).');
    } catch {
      setStatus('Copy the link above: it replays this branch (scene, seed, actions).');
    }
  });
  els.record.addEventListener('click', async () => {
    els.record.disabled = true;
    const { history } = demo.active.session;
    const count = history.length; // recordWebM takes the chunks finished now; later ones are not recorded
    const { fps, chunkFrames } = world.manifest.video;
    setStatus(`Recording ${count} chunks (${((count * chunkFrames) / fps).toFixed(0)} s of video, played in real time)…`);
    try {
      const blob = await recordWebM(history, fps);
      if (els.download.href) URL.revokeObjectURL(els.download.href);
      els.download.href = URL.createObjectURL(blob);
      els.download.download = `world-canvas-${demo.active.session.sceneId}-seed${demo.active.session.seed}.webm`;
      els.download.hidden = false;
      els.download.dataset.bytes = String(blob.size);
      setStatus(`Recorded ${count} chunks (${(blob.size / 1024).toFixed(0)} KB).`);
    } catch (e) {
      setStatus(describeError(e), true);
    } finally {
      els.record.disabled = false;
    }
  });
}

/** The goal the form describes: a description, an image, or another branch's frame. */
async function goalFromForm(demo: Demo): Promise<PlanGoal> {
  if (els.goalKind.value === 'description') return { description: els.goalText.value || els.goalText.placeholder };
  if (els.goalKind.value === 'image') {
    const f = els.goalImage.files?.[0];
    if (!f) throw new Error('choose a goal image first');
    const { width, height } = demo.world.manifest.video;
    return { rgba: (await prepareImage(f, width, height)).rgba };
  }
  const c = demo.branches[Number(els.goalBranch.value)]?.selectedChunk;
  if (!c) throw new Error('that branch has no finished chunk yet');
  return { rgba: lastFrame(c).slice() };
}

/** One card per ranked candidate, best first; Take puts its branch on the branch it was simulated from. */
function showCandidates(demo: Demo, b: Branch, generation: number, ranked: PlanCandidate[]): void {
  ranked.forEach((r, i) => {
    const card = document.createElement('div');
    card.className = `candidate${i === 0 ? ' best' : ''}`;
    const cv = document.createElement('canvas');
    new Renderer(cv, r.chunk.width, r.chunk.height, 1).draw(lastFrame(r.chunk));
    const label = document.createElement('div');
    label.textContent = `${i + 1}. ${r.action} — ${Number.isFinite(r.psnr) ? r.psnr.toFixed(1) : '∞'} dB`;
    const take = document.createElement('button');
    take.textContent = 'Take';
    take.addEventListener('click', () => {
      // Only on the branch it was simulated from, while it is on screen: never a hidden one.
      if (generation !== demo.generation || !demo.branches.includes(b)) {
        els.planResults.replaceChildren();
        return setStatus('That simulation was of a scene no longer shown; simulate again.', true);
      }
      b.setSession(r.branch);
      b.renderer.clear();
      for (const c of r.branch.history.slice(-1)) b.renderer.push(c);
      b.player.play();
      demo.renderHistory();
      setStatus(`Took "${r.action}".`);
    });
    card.append(cv, label, take);
    els.planResults.append(card);
  });
}

/** Simulate, then act. */
function wirePlanning(demo: Demo): void {
  els.goalKind.addEventListener('change', () => {
    els.goalText.hidden = els.goalKind.value !== 'description';
    els.goalImage.hidden = els.goalKind.value !== 'image';
    els.goalBranch.hidden = els.goalKind.value !== 'frame';
  });
  els.simulate.addEventListener('click', async () => {
    const candidates = els.candidates.value.split('\n').map((s) => s.trim()).filter(Boolean);
    const b = demo.active;
    const generation = demo.generation;
    els.simulate.disabled = true;
    els.planResults.replaceChildren();
    setStatus(`Simulating ${candidates.length} candidates…`);
    try {
      const ranked = await b.session.plan(await goalFromForm(demo), candidates);
      if (generation !== demo.generation || !demo.branches.includes(b)) {
        setStatus('The scene changed while simulating: those results are dropped.', true);
        return;
      }
      showCandidates(demo, b, generation, ranked);
      setStatus(`Best: "${ranked[0].action}".`);
    } catch (e) {
      setStatus(describeError(e), true);
    } finally {
      els.simulate.disabled = false;
    }
  });
}

/** A URL option (`?threads=2`): its value, or undefined (World.load's default) when absent or bad; a bad one is said. */
function urlOption<T>(name: string, option: PageOption<T>): T | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  const value = option.parse(raw);
  if (value === null) setStatus(`${name} "${raw}" is not ${option.accepts}; using the default`, true);
  return value ?? undefined;
}

/**
 * 1. Load the bundle (URL options: backend, variant, threads).
 * 2. Scene and seed from a shared link; start the main branch and replay the link's actions.
 * 3. Wire the controls; enable them.
 */
async function main(): Promise<void> {
  // 1.
  for (const p of shared.problems) setStatus(p, true);
  if (!crossOriginIsolated) await serviceWorker; // it may reload the page isolated: load nothing before
  const world = await World.load({
    bundle,
    backend: urlOption('backend', backendOption),
    variant: urlOption('variant', variantOption),
    threads: urlOption('threads', threadsOption),
    onProgress: showProgress,
  });
  els.progress.hidden = true;
  showBackend(world);
  world.onRestart(() => showBackend(world, true));
  showGuide(world);

  // 2.
  const replay = sceneFromLink(world);
  const demo = new Demo(world);
  const controls = new SceneControls(world);
  controls.objectsForScene(els.scene.value);
  const session = await demo.start({ sceneId: els.scene.value }, controls.seedInUse);
  for (const [chunk, text] of replay) session.actAt(chunk, text);
  if (replay.length) setStatus(`Replaying ${replay.length} shared action${replay.length === 1 ? '' : 's'}.`);

  // 3.
  wireActions(demo);
  wireScenes(demo, controls);
  wireShareAndRecord(demo);
  wirePlanning(demo);
  for (const el of document.querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLSelectElement>('[disabled]')) el.disabled = false;
  Object.assign(window, { worldCanvasDemo: { world, demo, get session() { return demo.active.session; } } });
  document.body.dataset.ready = 'true';
}

// Offline: the service worker precaches the app shell (production builds only;
// the dev server serves modules on demand). Model bytes come from IndexedDB.
// On a host without the isolation headers it also makes the page isolated, after one reload.
const serviceWorker = import.meta.env.PROD ? registerServiceWorker(`${import.meta.env.BASE_URL}sw.js`) : Promise.resolve();

main().catch((e: unknown) => {
  const msg = describeError(e);
  stats.errors.push(msg);
  els.progress.hidden = true;
  els.notice.hidden = false;
  els.notice.textContent = msg;
  els.backend.textContent = 'not loaded';
  els.backend.dataset.backend = 'error';
  document.body.dataset.ready = 'error';
  console.error(e);
});
