/**
 * An action typed while idle chunks wait ahead of the screen: the session takes them back
 * (`Session.takeBackIdle`), so the action conditions the chunk right after the one on screen, and
 * the screen never shows a chunk twice or skips one. A real Session, Player and Renderer on a fake
 * engine whose phases take virtual time; requestAnimationFrame, timers and performance.now are faked.
 */
import { describe, expect, it, vi } from 'vitest';

import { Renderer, type ShownFrame } from '../../src/render/renderer';
import { Session } from '../../src/runtime/session';
import type { World } from '../../src/runtime/world';
import { SessionView } from '../../src/widget/session-view';
import { fakeCanvas, useVirtualDisplayTime } from './virtual-display';

const F = 4;
const FPS = 8;
const PHASE_MS = 100; // generation far faster than the display, as on a GPU
const IDLE = 'wait';

/** A World whose rendering worker finishes chunk p - 1 in phase p after PHASE_MS; each frame's first byte is its chunk index. */
function fakeWorld(): World {
  const manifest = {
    video: { width: 1, height: 1, fps: FPS, chunkFrames: F },
    latent: { channels: 1, height: 1, width: 1 },
    backbone: { layers: 1, heads: 1, cacheTokens: 2 },
    state: { tokens: 1, width: 2, queries: 1 },
    diffusion: { conditioningNoise: 0 },
    actionEncoder: { idleAction: IDLE, maxTokens: 1, width: 2 },
  };
  const engine = {
    conditioning: {
      encodeText: async () => ({ states: new Float32Array(2), mask: new Float32Array(1) }),
      turn: async () => ({ state: new Float32Array(2), kv: new Float32Array(4), kvMask: new Float32Array(2), ms: 1 }),
    },
    rendering: {
      runPhase: (req: { phase: number; window: { earlier: { chunk: number; action: string } | null }; later: { chunk: number; action: string } }) =>
        new Promise((resolve) =>
          setTimeout(() => {
            const e = req.window.earlier;
            const finished = e ? { chunk: e.chunk, action: e.action, rgba: new Uint8ClampedArray(F * 4).fill(e.chunk), frames: new Float32Array(F * 3) } : null;
            resolve({ window: { seed: 0, history: new Float32Array(F), earlier: req.later }, callMs: [], vaeMs: 0, finished });
          }, PHASE_MS),
        ),
    },
  };
  const world = {
    manifest,
    schedule: { phase: () => [] },
    exclusive: <T>(f: () => Promise<T>) => f(),
    run: <T>(_worker: string, _method: string, f: (e: typeof engine) => Promise<T>) => f(engine),
  };
  return world as unknown as World;
}


function start() {
  const world = fakeWorld();
  const session = Session.create(world, {
    sceneId: 'scene-0',
    seed: 0,
    image: { planar: new Float32Array(3), rgba: new Uint8ClampedArray(4) },
    startLatent: new Float32Array(1),
  });
  const view = new SessionView(fakeCanvas(), session);
  const shown: ShownFrame[] = [];
  view.onFrame = (f) => shown.push(f);
  view.player.play();
  return { session, view, shown };
}

useVirtualDisplayTime();

const chunkMs = (F * 1000) / FPS;

describe('an action after idling', () => {
  it('conditions the chunk right after the one on screen, and is on screen within a chunk and two phases', async () => {
    const { session, view, shown } = start();
    await vi.advanceTimersByTimeAsync(10_000);
    const onScreen = view.lastShown;
    expect(session.lastFinished).toBeGreaterThan(onScreen); // idle chunks were made ahead of the screen
    const actedAt = performance.now();
    const r = view.act('push the red block left');
    expect(r.chunk).toBe(onScreen + 1);
    await vi.advanceTimersByTimeAsync(3_000);
    const first = shown.find((f) => f.action === 'push the red block left')!;
    expect(first).toMatchObject({ chunk: onScreen + 1, frame: 0 });
    // the rest of the chunk on screen, then two phases at most (the taken-back window is made again)
    expect(first.at - actedAt).toBeLessThanOrEqual(chunkMs + 2 * PHASE_MS + 2 * (1000 / 60));
    // the screen shows every chunk once, in order, four frames each
    const starts = shown.filter((f) => f.frame === 0).map((f) => f.chunk);
    expect(starts).toEqual(starts.map((_, i) => i));
    expect(session.log.filter((e) => e.action !== IDLE)).toEqual([{ chunk: onScreen + 1, action: 'push the red block left', id: r.id }]);
    expect(session.history.map((c) => c.index)).toEqual(session.history.map((_, i) => i));
    view.player.pause();
  });

  it('takes nothing back when an action is among the chunks ahead of the screen', async () => {
    const { session, view, shown } = start();
    await vi.advanceTimersByTimeAsync(5_000);
    const a = view.act('push the red block left');
    await vi.advanceTimersByTimeAsync(PHASE_MS * 2); // its chunk is in the window, not on screen yet
    expect(view.lastShown).toBeLessThan(a.chunk);
    const b = view.act('dim the lights');
    expect(b.chunk).toBeGreaterThan(a.chunk);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(session.log.filter((e) => e.action !== IDLE).map((e) => [e.chunk, e.action])).toEqual([
      [a.chunk, 'push the red block left'],
      [b.chunk, 'dim the lights'],
    ]);
    const starts = shown.filter((f) => f.frame === 0).map((f) => f.chunk);
    expect(starts).toEqual(starts.map((_, i) => i));
    view.player.pause();
  });

  it('a refused action takes nothing back', async () => {
    const { session, view } = start();
    await vi.advanceTimersByTimeAsync(5_000);
    const finished = session.lastFinished;
    expect(() => view.act('   ')).toThrow(/empty/);
    expect(session.lastFinished).toBeGreaterThanOrEqual(finished);
    view.player.pause();
  });
});

describe('Renderer.dropAfter', () => {
  it('drops the waiting frames of later chunks only', () => {
    const r = new Renderer(fakeCanvas(), 1, 1, FPS);
    const chunk = (index: number) => ({ index, action: IDLE, rgba: new Uint8ClampedArray(F * 4), frameCount: F, width: 1, height: 1 }) as never;
    r.push(chunk(3));
    r.push(chunk(4));
    r.dropAfter(3);
    expect(r.buffered).toBe(F);
  });
});
