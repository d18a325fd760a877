/**
 * Keeps a renderer fed, paced by what is shown: a session's next phase runs
 * only when fewer than `aheadFrames` frames wait to be shown. With the
 * default (one chunk), the lookahead is fixed: the window's two chunks in the
 * decoder, plus at most one finished chunk waiting behind the one on screen.
 * So a page left idle generates only what it shows ("wait" chunks still
 * play), and an action typed at any moment waits behind at most those chunks,
 * which `SessionView.act` takes back when they are idle ones, so that it
 * conditions the chunk right after the one on screen.
 *
 * In a world that holds still when nobody acts (`manifest.world.stillWhenIdle`),
 * the player stops once the chunk on screen has settled (`Session.isSettled`):
 * the frames already made play out, the last one stays on the canvas, and no
 * phase runs (`holding`) until an action is queued, the session is set or
 * reset, or playback is paused. An action then resumes from the boundary after
 * the chunk on screen, after the same two phases as on a running page.
 */
import type { Renderer } from '../render/renderer';
import { CancelledError } from '../base/errors';
import type { FinishedChunk, Session } from './session';

export class Player {
  private running = false;
  private loop: Promise<void> | null = null;
  private current: Session;
  onError: ((e: unknown) => void) | null = null;
  /** Called with each chunk handed to the renderer (made, not yet shown). */
  onChunk: ((c: FinishedChunk) => void) | null = null;
  /** Called when the player starts holding a still frame (true) and when it stops (false). */
  onHold: ((holding: boolean) => void) | null = null;
  /** Wall time of each recent phase (one chunk each), ms, newest last (at most 64). */
  readonly phaseMs: number[] = [];
  /** The newest chunk handed to the renderer: a chunk made again after `tookBack` is not shown twice. */
  private lastPushed = -1;
  /** The newest chunk the session had finished when it was set: on screen until the renderer draws another. */
  private shownAtSet = -1;
  private held = false;
  /** Wakes a hold (an action queued, the session set or reset, a pause). */
  private wake: (() => void) | null = null;
  private readonly nudge = () => this.wake?.();

  constructor(
    session: Session,
    readonly renderer: Renderer,
    public aheadFrames = session.world.manifest.video.chunkFrames,
  ) {
    this.current = session;
    this.shownAtSet = session.history.at(-1)?.index ?? -1;
    this.listen(session);
  }

  get session(): Session {
    return this.current;
  }

  get playing(): boolean {
    return this.running;
  }

  /** Playing, with the frame on screen held still: the world has settled and nothing is generated. */
  get holding(): boolean {
    return this.held;
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
    this.nudge();
  }

  /** Switch to another session (a fork, a reset one): frames of the old one are dropped. */
  setSession(s: Session): void {
    this.unlisten(this.current);
    this.current = s;
    this.listen(s);
    this.lastPushed = s.history.at(-1)?.index ?? -1;
    this.shownAtSet = this.lastPushed;
    this.renderer.clear();
    this.nudge();
  }

  /** The session took back its chunks after `shown` (`Session.takeBackIdle`): their frames are not shown. */
  tookBack(shown: number): void {
    this.renderer.dropAfter(shown);
    this.lastPushed = Math.min(this.lastPushed, shown);
  }

  /** The chunk whose frames are on screen (-1: the start scene). */
  private get onScreen(): number {
    return Math.max(this.renderer.lastDrawnChunk, this.shownAtSet);
  }

  private listen(s: Session): void {
    s.addEventListener('queued', this.nudge);
    s.addEventListener('reset', this.nudge);
  }

  private unlisten(s: Session): void {
    s.removeEventListener('queued', this.nudge);
    s.removeEventListener('reset', this.nudge);
  }

  private async run(): Promise<void> {
    while (this.running) {
      // Wait for room on screen: this is what keeps generation from running ahead of the display.
      await this.renderer.whenBufferedBelow(this.aheadFrames);
      if (!this.running) break;
      if (this.session.isSettled(this.onScreen)) {
        await this.hold();
        continue;
      }
      const session = this.session;
      try {
        const t0 = performance.now();
        const chunk = await session.step();
        this.phaseMs.push(performance.now() - t0);
        if (this.phaseMs.length > 64) this.phaseMs.shift();
        if (chunk && session === this.session && this.running && chunk.index > this.lastPushed) {
          this.lastPushed = chunk.index;
          this.renderer.push(chunk);
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

  /**
   * The chunk on screen has settled: let the frames already made play out (the last is the frame
   * held), then hold until woken. Resolves when woken, at once if that happens before the hold.
   */
  private async hold(): Promise<void> {
    let woken = false;
    const wakeUp = new Promise<void>((resolve) => {
      this.wake = () => {
        woken = true;
        resolve();
      };
    });
    await Promise.race([this.renderer.whenBufferedBelow(1), wakeUp]);
    if (!woken && this.running && this.session.isSettled(this.onScreen)) {
      this.setHolding(true);
      await wakeUp;
      this.setHolding(false);
    }
    this.wake = null;
  }

  private setHolding(h: boolean): void {
    if (h === this.held) return;
    this.held = h;
    this.onHold?.(h);
  }
}
