/**
 * The demo page: load a bundle, pick a scene and seed, type actions, watch.
 *
 * URL parameters: `bundle` (folder URL, default the shipped tabletop model),
 * `backend` (auto | webgpu | wasm), `variant` (auto | fp32 | fp16).
 */
import { Player, Renderer, Session, World, type LoadProgress, type ShownFrame } from '../index';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const bundle = params.get('bundle') ?? `${import.meta.env.BASE_URL}models/tabletop/`;

const els = {
  view: $<HTMLCanvasElement>('view'),
  progress: $<HTMLDivElement>('progress'),
  backend: $<HTMLSpanElement>('backend'),
  readout: $<HTMLSpanElement>('readout'),
  notice: $<HTMLParagraphElement>('notice'),
  form: $<HTMLFormElement>('action-form'),
  action: $<HTMLInputElement>('action'),
  status: $<HTMLParagraphElement>('action-status'),
  scene: $<HTMLSelectElement>('scene'),
  seed: $<HTMLInputElement>('seed'),
  play: $<HTMLButtonElement>('play'),
  reset: $<HTMLButtonElement>('reset'),
  history: $<HTMLOListElement>('history'),
};

/** Live figures, also read by the browser tests. */
const stats = { framesShown: 0, chunksFinished: 0, fps: 0, lastLatencyMs: null as number | null, errors: [] as string[] };
const pendingLatency = new Map<number, number>(); // chunk -> act() time

function showProgress(p: LoadProgress): void {
  const bar = els.progress.querySelector<HTMLDivElement>('.bar')!;
  const label = els.progress.querySelector<HTMLSpanElement>('.label')!;
  const pct = p.total ? Math.round((100 * p.loaded) / p.total) : p.stage === 'ready' ? 100 : 0;
  bar.style.width = `${pct}%`;
  els.progress.setAttribute('aria-valuenow', String(pct));
  const mb = (n: number) => (n / 1e6).toFixed(1);
  label.textContent =
    p.stage === 'download'
      ? `downloading model ${mb(p.loaded)} / ${mb(p.total)} MB${p.fromCache ? ` (${mb(p.fromCache)} MB from cache)` : ''}`
      : p.stage === 'compile'
        ? `compiling graphs (${p.detail})`
        : p.stage === 'warmup'
          ? 'compiling shaders and warming up…'
          : p.stage === 'manifest'
            ? 'reading manifest…'
            : 'ready';
}

function setStatus(text: string, error = false): void {
  els.status.textContent = text;
  els.status.classList.toggle('error', error);
}

function addHistory(id: number, text: string, chunk: number): void {
  const li = document.createElement('li');
  li.textContent = text; // text, never markup
  li.dataset.id = String(id);
  li.dataset.chunk = String(chunk);
  li.className = 'pending';
  els.history.append(li);
  li.scrollIntoView({ block: 'nearest' });
}

async function main(): Promise<void> {
  const world = await World.load({
    bundle,
    backend: (params.get('backend') as 'auto' | 'webgpu' | 'wasm' | null) ?? 'auto',
    variant: (params.get('variant') as 'auto' | 'fp32' | 'fp16' | null) ?? 'auto',
    onProgress: showProgress,
  });
  els.progress.hidden = true;
  const info = world.info;
  els.backend.dataset.backend = info.backend;
  els.backend.textContent = `${info.backend === 'webgpu' ? 'WebGPU' : 'WASM'} · ${info.variant}`;
  els.backend.title = info.adapter;
  if (world.notices.length) {
    els.notice.hidden = false;
    els.notice.textContent = world.notices.join(' · ');
  }
  world.onRestart((i) => {
    els.backend.dataset.backend = i.backend;
    els.backend.textContent = `${i.backend === 'webgpu' ? 'WebGPU' : 'WASM'} · ${i.variant} (restarted)`;
    els.notice.hidden = false;
    els.notice.textContent = world.notices.join(' · ');
  });

  for (const s of world.scenes) els.scene.append(new Option(s.title, s.id));
  const m = world.manifest;
  const renderer = new Renderer(els.view, m.video.width, m.video.height, m.video.fps);
  let session: Session = await world.newSession({ sceneId: els.scene.value, seed: Number(els.seed.value) });
  renderer.draw(session.startImage.rgba);
  const player = new Player(session, renderer);

  const frameTimes: number[] = [];
  renderer.onFrame = (f: ShownFrame) => {
    stats.framesShown++;
    frameTimes.push(f.at);
    while (frameTimes.length && f.at - frameTimes[0] > 2000) frameTimes.shift();
    stats.fps = frameTimes.length > 1 ? ((frameTimes.length - 1) * 1000) / (f.at - frameTimes[0]) : 0;
    if (f.frame === 0 && pendingLatency.has(f.chunk)) {
      stats.lastLatencyMs = f.at - pendingLatency.get(f.chunk)!;
      pendingLatency.delete(f.chunk);
      els.history.querySelector(`li[data-chunk="${f.chunk}"]`)?.classList.remove('pending');
    }
    els.readout.textContent = `${stats.fps.toFixed(1)} fps · chunk ${f.chunk}${
      stats.lastLatencyMs !== null ? ` · action→frame ${Math.round(stats.lastLatencyMs)} ms` : ''
    }`;
  };
  const onChunk = () => stats.chunksFinished++;
  session.addEventListener('chunk', onChunk);
  player.onError = (e) => {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    stats.errors.push(msg);
    setStatus(msg, true);
    els.play.textContent = 'Resume';
  };

  async function restart(): Promise<void> {
    player.pause();
    session.removeEventListener('chunk', onChunk);
    session = await world.newSession({ sceneId: els.scene.value, seed: Number(els.seed.value) || 0 });
    session.addEventListener('chunk', onChunk);
    player.setSession(session);
    renderer.draw(session.startImage.rgba);
    els.history.replaceChildren();
    pendingLatency.clear();
    player.play();
    els.play.textContent = 'Pause';
  }

  els.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    try {
      const r = session.act(els.action.value);
      pendingLatency.set(r.chunk, performance.now());
      addHistory(r.id, r.text, r.chunk);
      setStatus(r.truncated ? `Action cut to ${r.text.length} characters.` : `Queued for chunk ${r.chunk}.`);
      els.action.value = '';
    } catch (e) {
      setStatus((e as Error).message, true);
    }
  });
  els.play.addEventListener('click', () => {
    if (player.playing) {
      player.pause();
      els.play.textContent = 'Resume';
    } else {
      player.play();
      els.play.textContent = 'Pause';
    }
  });
  els.reset.addEventListener('click', () => void restart());
  els.scene.addEventListener('change', () => void restart());
  els.seed.addEventListener('change', () => void restart());

  for (const el of [els.action, els.form.querySelector('button')!, els.scene, els.seed, els.play, els.reset]) {
    (el as HTMLInputElement).disabled = false;
  }
  player.play();
  Object.assign(window, { worldCanvasDemo: { world, get session() { return session; }, player, renderer, stats } });
  document.body.dataset.ready = 'true';
}

main().catch((e: unknown) => {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  stats.errors.push(msg);
  els.progress.hidden = true;
  els.notice.hidden = false;
  els.notice.textContent = msg;
  document.body.dataset.ready = 'error';
  console.error(e);
});
Object.assign(window, { worldCanvasStats: stats });
