/**
 * The demo's controls, wired to the active branch: the action bar, quick
 * buttons and arrow keys; playback, reset, scenes, images of your own and
 * seeds; the share link and the WebM recording.
 */
import { type World, prepareImage, seedOption } from '../index';
import type { Demo } from './demo';
import { describeError, els, setStatus } from './page';
import { recordWebM } from './record';
import { encodeShare } from './share';

const COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'];

/** The objects of a bundle scene, from its title ("yellow cube, green ball"); none for an image of your own. */
function sceneObjects(title: string | undefined): string[] {
  return (title ?? '').split(',').map((s) => s.trim()).filter((s) => /^[a-z]+ [a-z]+$/.test(s));
}

/** The seed field, and the names of what is in the scene shown (object picker, placeholders, Simulate defaults). */
export class SceneControls {
  /** Fields the user has typed in: their defaults no longer follow the scene. */
  private readonly touched = new Set<HTMLElement>();

  constructor(
    private readonly world: World,
    /** The seed in use: a value the session cannot take is refused and the field goes back to it. */
    public seedInUse: number,
  ) {
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
export function wireActions(demo: Demo): void {
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
export function wireScenes(demo: Demo, controls: SceneControls): void {
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

/** Share a link that replays the active branch (of `bundle`); record it as WebM. */
export function wireShareAndRecord(demo: Demo, bundle: string): void {
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
