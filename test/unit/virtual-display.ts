/**
 * Virtual time for tests of the display: requestAnimationFrame at 60 Hz on faked timers, faked
 * performance.now, ImageData, and a canvas whose 2D context draws nothing.
 */
import { afterEach, beforeEach, vi } from 'vitest';

import type { FrameCanvas } from '../../src/render/renderer';

/** Node has no ImageData: the fields the renderer gives it. */
class NodeImageData {
  constructor(
    readonly data: Uint8ClampedArray,
    readonly width: number,
    readonly height: number,
  ) {}
}

export function useVirtualDisplayTime(): void {
  beforeEach(() => {
    // Node has no animation frames: a 60 Hz one on the (faked) timers.
    vi.stubGlobal('requestAnimationFrame', (cb: (t: number) => void) => setTimeout(() => cb(performance.now()), 1000 / 60));
    vi.stubGlobal('cancelAnimationFrame', (id: ReturnType<typeof setTimeout>) => clearTimeout(id));
    if (typeof ImageData === 'undefined') vi.stubGlobal('ImageData', NodeImageData);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });
}

export function fakeCanvas(): FrameCanvas {
  return { width: 0, height: 0, getContext: () => ({ putImageData() {} }) };
}
