/**
 * Shows finished chunks on a canvas at the bundle's frame rate.
 *
 * Frames are RGBA bytes from the rendering worker, put straight into the
 * canvas with putImageData (a 2D canvas: a WebGPU canvas context would tie
 * the display to a device that can be lost). The canvas has the model's
 * resolution; CSS scales it. With no frame waiting it asks for no animation
 * frames: a still canvas costs nothing.
 */

/** A chunk as the renderer shows it (a session's finished chunk is one). */
export interface RenderChunk {
  index: number;
  action: string;
  /** Its frames' RGBA bytes, frameCount x height x width x 4. */
  rgba: Uint8ClampedArray;
  frameCount: number;
}

/** What the renderer draws on: a canvas (an HTMLCanvasElement, an OffscreenCanvas) with a 2D context. */
export interface FrameCanvas {
  width: number;
  height: number;
  getContext(contextId: '2d'): Pick<CanvasRenderingContext2D, 'putImageData'> | null;
}

export interface ShownFrame {
  chunk: number;
  frame: number;
  action: string;
  /** performance.now() when it was drawn. */
  at: number;
}

export class Renderer {
  private readonly ctx: Pick<CanvasRenderingContext2D, 'putImageData'>;
  private queue: { chunk: RenderChunk; frame: number }[] = [];
  private playing = false;
  /** An animation frame is requested (while playing and frames wait). */
  private ticking = false;
  private raf = 0;
  private nextAt = 0;
  /** Generators waiting for room: each wakes when fewer than `below` frames wait (or playback stops). */
  private waiters: { below: number; resolve: () => void }[] = [];
  /** Called after each frame is drawn: the frame is on screen. */
  onFrame: ((f: ShownFrame) => void) | null = null;
  /** The chunk of the newest frame drawn from the queue since the last `clear()` (-1: none). */
  lastDrawnChunk = -1;
  /** The live frame: the newest drawn from the queue, or given to `showStill` (a scrubbed frame is not live). */
  private live: { rgba: Uint8ClampedArray; offset: number } | null = null;

  constructor(
    readonly canvas: FrameCanvas,
    readonly width: number,
    readonly height: number,
    public fps: number,
  ) {
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('the canvas has no 2D context');
    this.ctx = ctx;
  }

  /** Draw one RGBA frame now, as the live frame until the queue draws another (a start scene, a session's newest frame). */
  showStill(rgba: Uint8ClampedArray, offset = 0): void {
    this.draw(rgba, offset);
    this.live = { rgba, offset };
  }

  /** Draw the live frame again (back from a scrubbed one: a player holding still draws nothing new). */
  redraw(): void {
    if (this.live) this.draw(this.live.rgba, this.live.offset);
  }

  /** Draw one RGBA frame now, not as the live frame (a scrubbed frame). */
  draw(rgba: Uint8ClampedArray, offset = 0): void {
    const n = this.width * this.height * 4;
    const img = new ImageData(rgba.slice(offset, offset + n), this.width, this.height);
    this.ctx.putImageData(img, 0, 0);
  }

  push(chunk: RenderChunk): void {
    for (let f = 0; f < chunk.frameCount; f++) this.queue.push({ chunk, frame: f });
    this.tick();
  }

  /** Frames waiting to be shown. */
  get buffered(): number {
    return this.queue.length;
  }

  /**
   * Resolves when fewer than `n` frames are waiting (at once if that is
   * already so, or when playback is paused or the queue cleared). This is
   * what paces generation: a generator that awaits it before each chunk runs
   * only as far ahead of the screen as `n` frames.
   */
  whenBufferedBelow(n: number): Promise<void> {
    if (this.queue.length < n || !this.playing) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ below: n, resolve }));
  }

  /** Wake the waiters that now have room (all of them when `all`). */
  private wake(all = false): void {
    const ready = this.waiters.filter((w) => all || this.queue.length < w.below);
    if (!ready.length) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  play(): void {
    if (this.playing) return;
    this.playing = true;
    this.nextAt = performance.now();
    this.tick();
  }

  /** Ask for animation frames while playing and frames wait; each draws the next frame when it is due. */
  private tick(): void {
    if (this.ticking || !this.playing || !this.queue.length) return;
    this.ticking = true;
    this.raf = requestAnimationFrame((now) => {
      this.ticking = false;
      if (!this.playing) return;
      if (this.queue.length && now >= this.nextAt) {
        const period = 1000 / this.fps;
        // Keep the cadence through a late animation frame, but after a wait for frames
        // (more than a period late) start it again: never burst to catch up.
        if (now - this.nextAt > period) this.nextAt = now;
        const { chunk, frame } = this.queue.shift()!;
        this.showStill(chunk.rgba, frame * this.width * this.height * 4);
        this.lastDrawnChunk = chunk.index;
        this.onFrame?.({ chunk: chunk.index, frame, action: chunk.action, at: now });
        this.nextAt += period;
        this.wake();
      }
      this.tick();
    });
  }

  pause(): void {
    this.playing = false;
    this.ticking = false;
    cancelAnimationFrame(this.raf);
    this.wake(true);
  }

  /** Drop the waiting frames of chunks after `chunk` (taken back before anyone saw them). */
  dropAfter(chunk: number): void {
    this.queue = this.queue.filter((q) => q.chunk.index <= chunk);
    this.wake();
  }

  clear(): void {
    this.queue = [];
    this.lastDrawnChunk = -1;
    this.live = null;
    this.wake(true);
  }
}
