/**
 * Generation paced by the display: the Player runs a phase only when the
 * renderer has room, so however long a page idles, the frames waiting to be
 * shown stay under two chunks and chunks are made no faster than they are
 * shown. Virtual time: requestAnimationFrame, timers and performance.now are faked.
 */
import { describe, expect, it, vi } from 'vitest';

import { Renderer } from '../../src/render/renderer';
import { Player } from '../../src/runtime/player';
import { F, FPS, fakeSession, fakeWorld } from './fake-world';
import { fakeCanvas, useVirtualDisplayTime } from './virtual-display';

/**
 * A player on a session whose phases take `phaseMs` of virtual time (phase 0 finishes nothing, like
 * the real one) in a world that never holds still (hold-still.test.ts has those that do), with
 * counts of the frames it made and the renderer showed.
 */
function play(phaseMs: number) {
  const { world, phases } = fakeWorld({ phaseMs });
  const renderer = new Renderer(fakeCanvas(), 1, 1, FPS);
  const player = new Player(fakeSession(world), renderer);
  const frames = { made: 0, shown: 0 };
  player.onChunk = (c) => (frames.made += c.frameCount);
  renderer.onFrame = () => frames.shown++;
  return { renderer, player, phases, frames };
}

useVirtualDisplayTime();

describe('Player pacing', () => {
  it.each([
    ['faster than the display', 300],
    ['just faster than the display', 450],
  ])('generating %s, 60 s of idling keeps under two chunks waiting', async (_, phaseMs) => {
    const { renderer, player, phases, frames } = play(phaseMs);
    let maxWaiting = 0;
    let lastShownAt = 0;
    let longestGap = 0;
    renderer.onFrame = (f) => {
      frames.shown++;
      if (frames.shown > 2 * F) longestGap = Math.max(longestGap, f.at - lastShownAt);
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
    expect(frames.made).toBeLessThanOrEqual(frames.shown + 2 * F);
    expect(phases.length).toBeLessThanOrEqual(frames.shown / F + 3);
    // ... and the display never starves while generation keeps up: 60 s at 8 fps.
    expect(frames.shown).toBeGreaterThanOrEqual(60 * FPS - 2 * F - Math.ceil((2 * phaseMs * FPS) / 1000));
    expect(longestGap).toBeLessThanOrEqual(1000 / FPS + 1000 / 60); // a frame period, give or take an animation frame
  });

  it('generating slower than the display, phases run back to back and nothing piles up', async () => {
    const { renderer, player, phases } = play(800);
    player.play();
    let maxWaiting = 0;
    for (let t = 0; t < 20_000; t += 50) {
      await vi.advanceTimersByTimeAsync(50);
      maxWaiting = Math.max(maxWaiting, renderer.buffered);
    }
    expect(phases.length).toBeGreaterThanOrEqual(Math.floor(20_000 / 800) - 1);
    expect(maxWaiting).toBeLessThanOrEqual(F);
  });

  it('paused, nothing is generated', async () => {
    const { player, phases } = play(100);
    player.play();
    await vi.advanceTimersByTimeAsync(2_000);
    player.pause();
    await vi.advanceTimersByTimeAsync(200); // the phase in flight, if any, finishes
    const n = phases.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(phases.length).toBe(n);
  });
});
