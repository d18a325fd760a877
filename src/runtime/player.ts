/**
 * Keeps a renderer fed, paced by what is shown: a session's next phase runs
 * only when fewer than `aheadFrames` frames wait to be shown. With the
 * default (one chunk), the lookahead is fixed: the window's two chunks in the
 * decoder, plus at most one finished chunk waiting behind the one on screen.
 * So a page left idle generates only what it shows ("wait" chunks still
 * play), and an action typed at any moment waits behind at most those chunks,
 * which `SessionView.act` takes back when they are idle ones, so that it
 * conditions the chunk right after the one on screen.
 */
import type { Renderer } from '../render/renderer';
import { CancelledError } from './errors';
import type { FinishedChunk, Session } from './session';

export class Player {
  private running = false;
  private loop: Promise<void> | null = null;
  onError: ((e: unknown) => void) | null = null;
  /** Called with each chunk handed to the renderer (made, not yet shown). */
  onChunk: ((c: FinishedChunk) => void) | null = null;
  /** Frames handed to the renderer so far. */
  made = 0;
  /** Wall time of each recent phase (one chunk each), ms, newest last (at most 64). */
  readonly phaseMs: number[] = [];
  /** The newest chunk handed to the renderer: a chunk made again after `tookBack` is not shown twice. */
  private lastPushed = -1;

  constructor(
    public session: Session,
    readonly renderer: Renderer,
    public aheadFrames = session.world.manifest.video.chunkFrames,
  ) {}

  get playing(): boolean {
    return this.running;
  }

  play(): void {
    if (this.running) return;
    this.running = true;
    this.renderer.play();
    this.loop ??= this.run().finally(() => (this.loop = null));
  }

  pause(): void {
    this.running = false;
    this.renderer.pause();
  }

  /** Switch to another session (a fork, a reset one): frames of the old one are dropped. */
  setSession(s: Session): void {
    this.session = s;
    this.lastPushed = s.history.at(-1)?.index ?? -1;
    this.renderer.clear();
  }

  /** The session took back its chunks after `shown` (`Session.takeBackIdle`): their frames are not shown. */
  tookBack(shown: number): void {
    this.renderer.dropAfter(shown);
    this.lastPushed = Math.min(this.lastPushed, shown);
  }

  private async run(): Promise<void> {
    while (this.running) {
      // Wait for room on screen: this is what keeps generation from running ahead of the display.
      await this.renderer.whenBufferedBelow(this.aheadFrames);
      if (!this.running) break;
      const session = this.session;
      try {
        const t0 = performance.now();
        const chunk = await session.step();
        this.phaseMs.push(performance.now() - t0);
        if (this.phaseMs.length > 64) this.phaseMs.shift();
        if (chunk && session === this.session && this.running && chunk.index > this.lastPushed) {
          this.lastPushed = chunk.index;
          this.renderer.push(chunk);
          this.made += chunk.frameCount;
          this.onChunk?.(chunk);
        }
      } catch (e) {
        if (e instanceof CancelledError) continue;
        this.running = false;
        this.renderer.pause();
        this.onError?.(e);
      }
    }
  }
}
