/**
 * Shows finished chunks on a canvas at the bundle's frame rate.
 *
 * Frames are RGBA bytes from the rendering worker, put straight into the
 * canvas with putImageData (a 2D canvas: a WebGPU canvas context would tie
 * the display to a device that can be lost). The canvas has the model's
 * resolution; CSS scales it.
 */
import type { FinishedChunk } from '../runtime/session';

export interface ShownFrame {
  chunk: number;
  frame: number;
  action: string;
  /** performance.now() when it was drawn. */
  at: number;
}

export class Renderer {
  private readonly ctx: CanvasRenderingContext2D;
  private queue: { chunk: FinishedChunk; frame: number }[] = [];
  private playing = false;
  private raf = 0;
  private nextAt = 0;
  private waiters: (() => void)[] = [];
  /** Called after each frame is drawn. */
  onFrame: ((f: ShownFrame) => void) | null = null;
  /** Frames drawn so far. */
  shown = 0;

  constructor(
    readonly canvas: HTMLCanvasElement,
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

  /** Draw one RGBA frame now (a start scene, a scrubbed frame). */
  draw(rgba: Uint8ClampedArray, offset = 0): void {
    const n = this.width * this.height * 4;
    const img = new ImageData(rgba.slice(offset, offset + n), this.width, this.height);
    this.ctx.putImageData(img, 0, 0);
  }

  push(chunk: FinishedChunk): void {
    for (let f = 0; f < chunk.frameCount; f++) this.queue.push({ chunk, frame: f });
  }

  /** Frames waiting to be shown. */
  get buffered(): number {
    return this.queue.length;
  }

  /** Resolves when fewer than `n` frames are waiting. */
  whenBufferedBelow(n: number): Promise<void> {
    if (this.queue.length < n || !this.playing) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  play(): void {
    if (this.playing) return;
    this.playing = true;
    this.nextAt = performance.now();
    const tick = (now: number) => {
      if (!this.playing) return;
      if (this.queue.length && now >= this.nextAt) {
        const { chunk, frame } = this.queue.shift()!;
        this.draw(chunk.rgba, frame * this.width * this.height * 4);
        this.shown++;
        this.onFrame?.({ chunk: chunk.index, frame, action: chunk.action, at: now });
        // Keep the cadence, but never try to catch up a backlog of missed frames.
        this.nextAt = Math.max(this.nextAt + 1000 / this.fps, now - 1000 / this.fps);
        const w = this.waiters;
        this.waiters = [];
        w.forEach((r) => r());
      }
      this.raf = requestAnimationFrame(tick);
    };
    this.raf = requestAnimationFrame(tick);
  }

  pause(): void {
    this.playing = false;
    cancelAnimationFrame(this.raf);
    const w = this.waiters;
    this.waiters = [];
    w.forEach((r) => r());
  }

  clear(): void {
    this.queue = [];
  }
}
