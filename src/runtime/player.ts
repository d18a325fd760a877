/**
 * Keeps a renderer fed: runs a session's phases while fewer than
 * `aheadFrames` frames wait to be shown, so generation runs just ahead of
 * playback and a new action is not stuck behind a long backlog.
 */
import type { Renderer } from '../render/renderer';
import { CancelledError } from './errors';
import type { Session } from './session';

export class Player {
  private running = false;
  private loop: Promise<void> | null = null;
  onError: ((e: unknown) => void) | null = null;

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
    this.renderer.clear();
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.renderer.whenBufferedBelow(this.aheadFrames);
      if (!this.running) break;
      const session = this.session;
      try {
        const chunk = await session.step();
        if (chunk && session === this.session && this.running) this.renderer.push(chunk);
      } catch (e) {
        if (e instanceof CancelledError) continue;
        this.running = false;
        this.renderer.pause();
        this.onError?.(e);
      }
    }
  }
}
