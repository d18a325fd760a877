/**
 * One branch on the demo page: a session shown in its own card (a SessionView,
 * as `<world-canvas>` shows one), its timeline to scrub back through its
 * chunks, and the live figures it feeds while it is the active one.
 */
import { type ChunkShown, type FinishedChunk, type Player, type Renderer, type Session, SessionView, type ShownFrame, lastFrame } from '../index';
import { els, latencyReadout, setStatus, describeError, stats } from './page';
import { RateMeter } from './rate-meter';

/** What a branch asks of the set of branches it belongs to (the Demo). */
export interface BranchHost {
  /** The branch the controls act on. */
  readonly active: Branch;
  activate(b: Branch): void;
  fork(b: Branch): Promise<void>;
  close(b: Branch): void;
  /** The Play button follows the active branch's player. */
  syncPlayButton(): void;
  /** The Actions list is the active branch's. */
  renderHistory(): void;
  /** The readout says whether the active branch holds still. */
  showHold(): void;
}

export class Branch {
  readonly card: HTMLDivElement;
  readonly view: SessionView;
  readonly timeline: HTMLInputElement;
  private readonly shownRate = new RateMeter();
  private readonly madeRate = new RateMeter();
  private readonly onChunk = () => this.chunkFinished();

  constructor(
    private readonly host: BranchHost,
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
      host.syncPlayButton();
    };
    this.player.onChunk = (c) => {
      stats.framesMade += c.frameCount;
      this.madeRate.add(performance.now(), c.frameCount);
      if (this.active) stats.phaseMs = this.player.phaseMs.slice(-32);
    };
    this.view.onFrame = (f, shown) => this.frameShown(f, shown);
    this.player.onHold = (holding) => this.holdChanged(holding);
    session.addEventListener('chunk', this.onChunk);
    canvas.addEventListener('click', () => host.activate(this));
    this.timeline.addEventListener('input', () => this.scrub());
    this.card.querySelector<HTMLButtonElement>('.fork')!.addEventListener('click', () => void host.fork(this));
    this.card.querySelector<HTMLButtonElement>('.close')!.addEventListener('click', () => host.close(this));
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

  private get active(): boolean {
    return this.host.active === this;
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
    if (this.active) this.host.renderHistory();
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
    if (!this.active) this.host.activate(this); // the branch being scrubbed is the one the controls act on
    if (i >= h.length - 1) {
      this.goLive();
      this.host.syncPlayButton();
      return;
    }
    this.player.pause();
    this.host.syncPlayButton();
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
    if (this.active) this.host.showHold();
  }

  /** A frame is on screen: count it; at a chunk's first frame, its action (not filler) is shown. */
  private frameShown(f: ShownFrame, shown: ChunkShown | null): void {
    const fps = this.shownRate.add(f.at);
    const active = this.active;
    if (shown) {
      const { entry, acted } = shown;
      if (active && (acted || (entry && !entry.idle))) {
        const latencyMs = acted?.latencyMs ?? null;
        if (latencyMs !== null) stats.lastLatencyMs = latencyMs;
        stats.shown.push({ chunk: f.chunk, text: f.action, latencyMs });
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
