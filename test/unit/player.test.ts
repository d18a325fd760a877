/**
 * Generation paced by the display: the Player runs a phase only when the
 * renderer has room, so however long a page idles, the frames waiting to be
 * shown stay under two chunks and chunks are made no faster than they are
 * shown. Virtual time: requestAnimationFrame, timers and performance.now are faked.
 */
import { describe, expect, it, vi } from 'vitest';

import { Renderer } from '../../src/render/renderer';
import { Player } from '../../src/runtime/player';
import type { FinishedChunk, Session } from '../../src/runtime/session';
import { fakeCanvas, useVirtualDisplayTime } from './virtual-display';

const F = 4;
const FPS = 8;


/** A session whose phases take `phaseMs` of virtual time; phase 0 finishes nothing, like the real one. */
function fakeSession(phaseMs: number) {
  let phase = 0;
  const steps: number[] = [];
  const session = {
    world: { manifest: { video: { chunkFrames: F } } },
    history: [],
    isSettled: () => false, // a world that never holds still (hold-still.test.ts has those that do)
    addEventListener() {},
    removeEventListener() {},
    step(): Promise<FinishedChunk | null> {
      const p = phase++;
      steps.push(performance.now());
      return new Promise((resolve) =>
        setTimeout(() => {
          if (p === 0) return resolve(null);
          resolve({ index: p - 1, action: 'wait', rgba: new Uint8ClampedArray(F * 4), frameCount: F, width: 1, height: 1 } as FinishedChunk);
        }, phaseMs),
      );
    },
  };
  return { session: session as unknown as Session, steps };
}

useVirtualDisplayTime();

describe('Player pacing', () => {
  it.each([
    ['faster than the display', 300],
    ['just faster than the display', 450],
  ])('generating %s, 60 s of idling keeps under two chunks waiting', async (_, phaseMs) => {
    const renderer = new Renderer(fakeCanvas(), 1, 1, FPS);
    const { session, steps } = fakeSession(phaseMs);
    const player = new Player(session, renderer);
    let maxWaiting = 0;
    let lastShownAt = 0;
    let longestGap = 0;
    renderer.onFrame = (f) => {
      if (renderer.shown > 2 * F) longestGap = Math.max(longestGap, f.at - lastShownAt);
      lastShownAt = f.at;
    };
    player.play();
    for (let t = 0; t < 60_000; t += 50) {
      await vi.advanceTimersByTimeAsync(50);
      maxWaiting = Math.max(maxWaiting, renderer.buffered);
    }
    player.pause();
    // At most the rest of the chunk on screen and one finished chunk behind it.
    expect(maxWaiting).toBeLessThanOrEqual(2 * F - 1);
    // Made no faster than shown: the phases in the window and one chunk waiting, no more.
    expect(player.made).toBeLessThanOrEqual(renderer.shown + 2 * F);
    expect(steps.length).toBeLessThanOrEqual(renderer.shown / F + 3);
    // ... and the display never starves while generation keeps up: 60 s at 8 fps.
    expect(renderer.shown).toBeGreaterThanOrEqual(60 * FPS - 2 * F - Math.ceil((2 * phaseMs * FPS) / 1000));
    expect(longestGap).toBeLessThanOrEqual(1000 / FPS + 1000 / 60); // a frame period, give or take an animation frame
  });

  it('generating slower than the display, phases run back to back and nothing piles up', async () => {
    const renderer = new Renderer(fakeCanvas(), 1, 1, FPS);
    const { session, steps } = fakeSession(800);
    const player = new Player(session, renderer);
    player.play();
    let maxWaiting = 0;
    for (let t = 0; t < 20_000; t += 50) {
      await vi.advanceTimersByTimeAsync(50);
      maxWaiting = Math.max(maxWaiting, renderer.buffered);
    }
    expect(steps.length).toBeGreaterThanOrEqual(Math.floor(20_000 / 800) - 1);
    expect(maxWaiting).toBeLessThanOrEqual(F);
  });

  it('paused, nothing is generated', async () => {
    const renderer = new Renderer(fakeCanvas(), 1, 1, FPS);
    const { session, steps } = fakeSession(100);
    const player = new Player(session, renderer);
    player.play();
    await vi.advanceTimersByTimeAsync(2_000);
    player.pause();
    await vi.advanceTimersByTimeAsync(200); // the phase in flight, if any, finishes
    const n = steps.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(steps.length).toBe(n);
  });
});
