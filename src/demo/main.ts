/**
 * The demo page: load a bundle, pick a scene (or drop an image) and a seed,
 * type actions, fork branches and scrub their timelines, plan by simulation,
 * share a rollout as a link, record it as WebM. It says what the world
 * understands (the bundle's guide), which words of an action the encoder
 * leaves out, and when a still world holds its frame until someone acts.
 *
 * Built on the package's public API (src/index.ts) alone, as any page would be:
 * page.ts (its elements, live figures and status line), branch.ts (one
 * branch's card and timeline), demo.ts (the branches and the Actions list),
 * controls.ts and planning.ts (the controls), and this file, which loads the
 * bundle and starts it all.
 *
 * URL parameters: `bundle` (folder URL, default the shipped tabletop model),
 * `backend` (auto | webgpu | wasm), `variant` (auto | fp32 | fp16 | q8 | q4),
 * `threads` (1 to 16), and a shared rollout's `scene`, `seed`, `actions`.
 */
import {
  type LoadProgress,
  type PageOption,
  World,
  backendOption,
  guideContent,
  threadsOption,
  variantOption,
} from '../index';
import { registerServiceWorker } from '../sw/register';
import { SceneControls, wireActions, wireScenes, wireShareAndRecord } from './controls';
import { Demo } from './demo';
import { describeError, els, setStatus, stats } from './page';
import { wirePlanning } from './planning';
import { decodeShare } from './share';

const params = new URLSearchParams(location.search);
const shared = decodeShare(params);
const bundle = shared.record.bundle ?? `${import.meta.env.BASE_URL}models/tabletop/`;

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
  const controls = new SceneControls(world, shared.record.seed ?? 0);
  controls.objectsForScene(els.scene.value);
  const session = await demo.start({ sceneId: els.scene.value }, controls.seedInUse);
  for (const [chunk, text] of replay) session.actAt(chunk, text);
  if (replay.length) setStatus(`Replaying ${replay.length} shared action${replay.length === 1 ? '' : 's'}.`);

  // 3.
  wireActions(demo);
  wireScenes(demo, controls);
  wireShareAndRecord(demo, bundle);
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
