/**
 * The demo page: load a bundle, pick a scene (or drop an image) and a seed,
 * type actions, fork branches and scrub their timelines, plan by simulation,
 * share a rollout as a link, record it as WebM.
 *
 * URL parameters: `bundle` (folder URL, default the shipped tabletop model),
 * `backend` (auto | webgpu | wasm), `variant` (auto | fp32 | fp16), and a
 * shared rollout's `scene`, `seed`, `actions`.
 */
import { type FinishedChunk, type LoadProgress, Player, Renderer, type Session, type ShownFrame, World, prepareImage } from '../index';
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

/** Live figures, also read by the browser tests. */
const stats = {
  framesShown: 0,
  chunksFinished: 0,
  fps: 0,
  lastLatencyMs: null as number | null,
  errors: [] as string[],
  branches: 0,
};
Object.assign(window, { worldCanvasStats: stats });

const COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'];

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
  if (error) stats.errors.push(text);
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** One branch on screen: a session, its canvas, player and timeline. */
class Branch {
  readonly card: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  readonly renderer: Renderer;
  readonly player: Player;
  readonly timeline: HTMLInputElement;
  readonly pending = new Map<number, number>(); // chunk -> act() time
  private readonly frameTimes: number[] = [];
  private readonly onChunk = () => this.chunkFinished();

  constructor(
    readonly demo: Demo,
    public session: Session,
    readonly label: string,
  ) {
    const m = demo.world.manifest;
    this.card = document.createElement('div');
    this.card.className = 'branch';
    this.card.innerHTML = `<canvas></canvas><div class="branch-bar"><span class="label"></span>
      <input class="timeline" type="range" min="0" max="0" value="0" aria-label="timeline" />
      <span class="chunk-label"></span><button class="fork" type="button">Fork here</button>
      <button class="close" type="button" aria-label="close branch">×</button></div>`;
    this.card.querySelector('.label')!.textContent = label;
    this.canvas = this.card.querySelector('canvas')!;
    this.timeline = this.card.querySelector('.timeline')!;
    this.renderer = new Renderer(this.canvas, m.video.width, m.video.height, m.video.fps);
    this.renderer.draw(session.startImage.rgba);
    this.player = new Player(session, this.renderer);
    this.player.onError = (e) => {
      setStatus(describeError(e), true);
      if (demo.active === this) els.play.textContent = 'Resume';
    };
    this.renderer.onFrame = (f) => this.frameShown(f);
    session.addEventListener('chunk', this.onChunk);
    this.canvas.addEventListener('click', () => demo.activate(this));
    this.timeline.addEventListener('input', () => this.scrub());
    this.card.querySelector<HTMLButtonElement>('.fork')!.addEventListener('click', () => void demo.fork(this));
    this.card.querySelector<HTMLButtonElement>('.close')!.addEventListener('click', () => demo.close(this));
  }

  setSession(s: Session): void {
    this.session.removeEventListener('chunk', this.onChunk);
    this.session = s;
    s.addEventListener('chunk', this.onChunk);
    this.player.setSession(s);
    this.pending.clear();
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
    if (live) this.timeline.value = this.timeline.max;
    this.card.querySelector('.chunk-label')!.textContent = n ? `chunk ${this.session.history.at(-1)!.index}` : '';
  }

  /** Show a past chunk (pauses this branch; back at the end of the timeline it plays on). */
  private scrub(): void {
    const h = this.session.history;
    const i = Number(this.timeline.value);
    if (!h.length) return;
    if (i >= h.length - 1) {
      this.player.play();
      return;
    }
    this.player.pause();
    const c = h[i];
    this.renderer.draw(c.rgba, (c.frameCount - 1) * c.width * c.height * 4);
    this.card.querySelector('.chunk-label')!.textContent = `chunk ${c.index}: ${c.action}`;
  }

  /** The chunk the timeline points at (the newest when live). */
  get selectedChunk(): FinishedChunk | undefined {
    const h = this.session.history;
    return h[Math.min(Number(this.timeline.value), h.length - 1)];
  }

  private frameShown(f: ShownFrame): void {
    if (this.demo.active !== this) return;
    stats.framesShown++;
    this.frameTimes.push(f.at);
    while (this.frameTimes.length && f.at - this.frameTimes[0] > 2000) this.frameTimes.shift();
    const n = this.frameTimes.length;
    stats.fps = n > 1 ? ((n - 1) * 1000) / (f.at - this.frameTimes[0]) : 0;
    if (f.frame === 0 && this.pending.has(f.chunk)) {
      stats.lastLatencyMs = f.at - this.pending.get(f.chunk)!;
      this.pending.delete(f.chunk);
      els.history.querySelector(`li[data-chunk="${f.chunk}"]`)?.classList.remove('pending');
    }
    els.readout.textContent = `${stats.fps.toFixed(1)} fps · chunk ${f.chunk}${
      stats.lastLatencyMs !== null ? ` · action→frame ${Math.round(stats.lastLatencyMs)} ms` : ''
    }`;
  }

  dispose(): void {
    this.player.pause();
    this.session.removeEventListener('chunk', this.onChunk);
    this.card.remove();
  }
}

class Demo {
  readonly branches: Branch[] = [];
  active!: Branch;

  constructor(readonly world: World) {}

  async start(scene: { sceneId?: string; image?: { planar: Float32Array; rgba: Uint8ClampedArray } }, seed: number) {
    for (const b of this.branches.splice(0)) b.dispose();
    els.history.replaceChildren();
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
    els.play.textContent = b.player.playing ? 'Pause' : 'Resume';
    this.renderHistory();
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
      const r = this.active.session.act(text);
      this.active.pending.set(r.chunk, performance.now());
      setStatus(r.truncated ? `Action cut to ${r.text.length} characters (the end was dropped).` : `Queued for chunk ${r.chunk}.`);
      this.renderHistory();
    } catch (e) {
      setStatus(describeError(e), true);
    }
  }

  renderHistory(): void {
    const s = this.active.session;
    const idle = this.world.manifest.actionEncoder.idleAction;
    const items: { chunk: number; text: string; pending: boolean }[] = s.log
      .filter((e) => e.action !== idle || e.id !== null)
      .map((e) => ({ chunk: e.chunk, text: e.action, pending: e.chunk > s.lastFinished }));
    for (const u of s.upcoming) if (u.id !== null || u.text !== idle) items.push({ chunk: u.chunk, text: u.text, pending: true });
    els.history.replaceChildren(
      ...items.map((i) => {
        const li = document.createElement('li');
        li.textContent = i.text; // text, never markup
        li.dataset.chunk = String(i.chunk);
        li.title = `chunk ${i.chunk}`;
        if (i.pending) li.className = 'pending';
        return li;
      }),
    );
    els.history.lastElementChild?.scrollIntoView({ block: 'nearest' });
  }

  refreshGoalBranches(): void {
    els.goalBranch.replaceChildren(...this.branches.map((b, i) => new Option(b.label, String(i))));
  }
}

async function main(): Promise<void> {
  for (const p of shared.problems) setStatus(p, true);
  const world = await World.load({
    bundle,
    backend: (params.get('backend') as 'auto' | 'webgpu' | 'wasm' | null) ?? 'auto',
    variant: (params.get('variant') as 'auto' | 'fp32' | 'fp16' | null) ?? 'auto',
    onProgress: showProgress,
  });
  els.progress.hidden = true;
  const showBackend = (restarted = false) => {
    const i = world.info;
    els.backend.dataset.backend = i.backend;
    els.backend.textContent = `${i.backend === 'webgpu' ? 'WebGPU' : 'WASM'} · ${i.variant}${restarted ? ' (restarted)' : ''}`;
    els.backend.title = i.adapter;
    els.notice.hidden = !world.notices.length;
    els.notice.textContent = world.notices.join(' · ');
  };
  showBackend();
  world.onRestart(() => showBackend(true));

  for (const s of world.scenes) els.scene.append(new Option(s.title, s.id));
  if (shared.record.scene && world.scenes.some((s) => s.id === shared.record.scene)) els.scene.value = shared.record.scene;
  if (shared.record.seed !== undefined) els.seed.value = String(shared.record.seed);
  for (const c of COLOURS) els.object.append(new Option(c, c));

  const demo = new Demo(world);
  const seed = () => Math.max(0, Math.trunc(Number(els.seed.value) || 0));
  const session = await demo.start({ sceneId: els.scene.value }, seed());
  for (const [chunk, text] of shared.record.actions ?? []) session.actAt(chunk, text);
  if (shared.record.actions?.length) setStatus(`Replaying ${shared.record.actions.length} shared actions.`);

  // Actions: the bar, the quick buttons, the arrow keys.
  els.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    demo.act(els.action.value);
    if (!els.status.classList.contains('error')) els.action.value = '';
  });
  const move = (dir: string) => demo.act(`push the ${els.object.value} one ${dir}`);
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

  // Playback, reset, scenes, images, seeds.
  els.play.addEventListener('click', () => {
    const p = demo.active.player;
    if (p.playing) p.pause();
    else p.play();
    els.play.textContent = p.playing ? 'Pause' : 'Resume';
  });
  els.reset.addEventListener('click', () => {
    const b = demo.active;
    b.session.reset();
    b.renderer.clear();
    b.renderer.draw(b.session.startImage.rgba);
    b.setSession(b.session);
    demo.renderHistory();
    setStatus('Reset to the start scene (same seed).');
  });
  const restart = () => void demo.start({ sceneId: els.scene.value }, seed()).catch((e) => setStatus(describeError(e), true));
  els.scene.addEventListener('change', restart);
  els.seed.addEventListener('change', restart);
  const useImage = async (file: File) => {
    try {
      const { width, height } = world.manifest.video;
      const img = await prepareImage(file, width, height);
      await demo.start({ image: img, sceneId: 'image' }, seed());
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

  // Share and record.
  els.share.addEventListener('click', async () => {
    const r = demo.active.session.replayRecord;
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

  // Simulate, then act.
  els.goalKind.addEventListener('change', () => {
    els.goalText.hidden = els.goalKind.value !== 'description';
    els.goalImage.hidden = els.goalKind.value !== 'image';
    els.goalBranch.hidden = els.goalKind.value !== 'frame';
  });
  els.simulate.addEventListener('click', async () => {
    const candidates = els.candidates.value.split('\n').map((s) => s.trim()).filter(Boolean);
    const b = demo.active;
    els.simulate.disabled = true;
    els.planResults.replaceChildren();
    setStatus(`Simulating ${candidates.length} candidates…`);
    try {
      let goal: { rgba: Uint8ClampedArray } | { description: string };
      if (els.goalKind.value === 'description') goal = { description: els.goalText.value || els.goalText.placeholder };
      else if (els.goalKind.value === 'image') {
        const f = els.goalImage.files?.[0];
        if (!f) throw new Error('choose a goal image first');
        goal = { rgba: (await prepareImage(f, world.manifest.video.width, world.manifest.video.height)).rgba };
      } else {
        const c = demo.branches[Number(els.goalBranch.value)]?.selectedChunk;
        if (!c) throw new Error('that branch has no finished chunk yet');
        const n = c.width * c.height * 4;
        goal = { rgba: c.rgba.slice((c.frameCount - 1) * n) };
      }
      const ranked = await b.session.plan(goal, candidates);
      ranked.forEach((r, i) => {
        const card = document.createElement('div');
        card.className = `candidate${i === 0 ? ' best' : ''}`;
        const cv = document.createElement('canvas');
        const rr = new Renderer(cv, r.chunk.width, r.chunk.height, 1);
        rr.draw(r.chunk.rgba, (r.chunk.frameCount - 1) * r.chunk.width * r.chunk.height * 4);
        const label = document.createElement('div');
        label.textContent = `${i + 1}. ${r.action} — ${Number.isFinite(r.psnr) ? r.psnr.toFixed(1) : '∞'} dB`;
        const take = document.createElement('button');
        take.textContent = 'Take';
        take.addEventListener('click', () => {
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
      setStatus(`Best: "${ranked[0].action}".`);
    } catch (e) {
      setStatus(describeError(e), true);
    } finally {
      els.simulate.disabled = false;
    }
  });

  for (const el of document.querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLSelectElement>('[disabled]')) el.disabled = false;
  Object.assign(window, { worldCanvasDemo: { world, demo, get session() { return demo.active.session; } } });
  document.body.dataset.ready = 'true';
}

// Offline: the service worker precaches the app shell (production builds only;
// the dev server serves modules on demand). Model bytes come from IndexedDB.
if ('serviceWorker' in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`).catch((e) => console.warn('service worker not registered:', e));
}

main().catch((e: unknown) => {
  const msg = describeError(e);
  stats.errors.push(msg);
  els.progress.hidden = true;
  els.notice.hidden = false;
  els.notice.textContent = msg;
  document.body.dataset.ready = 'error';
  console.error(e);
});
