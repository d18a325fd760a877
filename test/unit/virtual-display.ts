/**
 * Virtual time for tests of the display: requestAnimationFrame at 60 Hz on faked timers, faked
 * performance.now, ImageData, and a canvas whose 2D context draws nothing.
 */
import { afterEach, beforeEach, vi } from 'vitest';

export function useVirtualDisplayTime(): void {
  beforeEach(() => {
    // Node has no animation frames: a 60 Hz one on the (faked) timers.
    const g = globalThis as unknown as Record<string, unknown>;
    g.requestAnimationFrame = (cb: (t: number) => void) => setTimeout(() => cb(performance.now()), 1000 / 60);
    g.cancelAnimationFrame = (id: ReturnType<typeof setTimeout>) => clearTimeout(id);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    (globalThis as { ImageData?: unknown }).ImageData ??= class {
      constructor(
        readonly data: Uint8ClampedArray,
        readonly width: number,
        readonly height: number,
      ) {}
    };
  });
  afterEach(() => vi.useRealTimers());
}

export function fakeCanvas(): HTMLCanvasElement {
  return { width: 0, height: 0, getContext: () => ({ putImageData() {} }) } as unknown as HTMLCanvasElement;
}
