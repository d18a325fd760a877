/**
 * A session on a canvas: the renderer and player that show it, which chunk is
 * on screen, and when each action queued through the view first reaches the
 * screen. `<world-canvas>` is built on it, and so is each branch of the demo.
 */
import { type FrameCanvas, Renderer, type ShownFrame } from '../render/renderer';
import { type ActionCut, normalizeAction } from '../runtime/actions';
import { Player } from '../runtime/player';
import { type ActionLogEntry, type ActionReceipt, type Session, lastFrame } from '../runtime/session';

/** The first frame of a chunk is on screen. */
export interface ChunkShown {
  chunk: number;
  /** The session's log entry for the chunk: the action that conditioned it. */
  entry: ActionLogEntry | undefined;
  /**
   * Set when that action was queued through this view's `act()`: its receipt, the time from `act()`
   * to now, and the words the action encoder left out of it (null when it read all of them).
   */
  acted: { receipt: ActionReceipt; latencyMs: number; cut: ActionCut | null } | null;
}

interface Unshown {
  receipt: ActionReceipt;
  at: number;
  /** How the action encoder reads it: resolves once the text is encoded (null when read whole, or unknown). */
  read: Promise<ActionCut | null>;
  cut: ActionCut | null;
}

export class SessionView {
  readonly renderer: Renderer;
  readonly player: Player;
  /** The newest chunk whose first frame is on screen (-1: none yet). */
  lastShown = -1;
  /** Called after each frame is drawn; at the first frame of a chunk, with what that chunk showed. */
  onFrame: ((f: ShownFrame, shown: ChunkShown | null) => void) | null = null;
  /** Actions queued through `act()` and not on screen yet, by receipt id. */
  private readonly unshown = new Map<number, Unshown>();

  constructor(canvas: FrameCanvas, session: Session) {
    const { width, height, fps } = session.world.manifest.video;
    this.renderer = new Renderer(canvas, width, height, fps);
    this.player = new Player(session, this.renderer);
    this.renderer.onFrame = (f) => this.frameDrawn(f);
    this.show(session);
  }

  get session(): Session {
    return this.player.session;
  }

  /**
   * Queue an action on the session shown (ActionError if refused); its `ChunkShown` carries the
   * latency. Idle chunks made ahead of the screen are taken back first, so the action conditions
   * the chunk right after the one on screen.
   */
  act(text: string): ActionReceipt {
    normalizeAction(text); // a refused action takes nothing back
    if (this.session.takeBackIdle(this.lastShown)) this.player.tookBack(this.lastShown);
    const r = this.session.act(text);
    const u: Unshown = { receipt: r, at: performance.now(), read: Promise.resolve(null), cut: null };
    u.read = this.session.readAction(r.text).then(
      (cut) => (u.cut = cut),
      () => null, // the phase that takes the action reports a failing encoder
    );
    this.unshown.set(r.id, u);
    return r;
  }

  /**
   * Where the action encoder cuts an action queued here and not on screen yet: resolves once it is
   * encoded (within milliseconds), with null when it reads the whole action.
   */
  cutOf(receipt: ActionReceipt): Promise<ActionCut | null> {
    return this.unshown.get(receipt.id)?.read ?? Promise.resolve(null);
  }

  /** Show a session (a fork, a plan's branch): its newest finished frame, or its start scene, now; its next frames as they come. */
  show(s: Session): void {
    if (s !== this.session) this.unshown.clear();
    this.player.setSession(s);
    const last = s.history.at(-1);
    this.lastShown = last?.index ?? -1; // what was finished before is not waited for
    this.renderer.showStill(last ? lastFrame(last) : s.startImage.rgba);
  }

  /** Back to the start scene with the same seed: queued actions are dropped, and so are their latencies. */
  reset(): void {
    this.session.reset();
    this.unshown.clear();
    this.show(this.session);
  }

  private frameDrawn(f: ShownFrame): void {
    let shown: ChunkShown | null = null;
    if (f.frame === 0) {
      this.lastShown = f.chunk;
      const entry = this.session.log.findLast((e) => e.chunk === f.chunk);
      const u = entry?.id != null ? this.unshown.get(entry.id) : undefined;
      if (u) this.unshown.delete(u.receipt.id);
      shown = { chunk: f.chunk, entry, acted: u ? { receipt: u.receipt, latencyMs: f.at - u.at, cut: u.cut } : null };
    }
    this.onFrame?.(f, shown);
  }
}
