/**
 * A World on a fake engine whose phases take virtual time (use with `useVirtualDisplayTime`): a real
 * Session, Player and Renderer run on it. The rendering worker finishes chunk p - 1 in phase p after
 * `phaseMs`; each frame's bytes are its chunk index + 1 (the start scene's are 0), so a test reads from
 * a drawn frame which chunk it belongs to. The text encoder reads `maxTokens - 2` word pieces, one per word.
 */
import { vi } from 'vitest';

import { cutAtWordPieces } from '../../src/runtime/actions';
import { Session } from '../../src/runtime/session';
import type { World } from '../../src/runtime/world';

export const F = 4;
export const FPS = 8;
export const IDLE = 'wait';

export interface FakeWorldOptions {
  /** The manifest's `world` block (absent: a bundle made before it). */
  world?: { stillWhenIdle: boolean; settleChunks: number };
  /** Virtual ms per phase (default 100: generation far faster than the display, as on a GPU). */
  phaseMs?: number;
  maxTokens?: number;
}

/** A phase the fake rendering worker ran: which session (its window key) and phase, and when it started. */
export interface PhaseRun {
  windowKey: string;
  phase: number;
  at: number;
}

export function fakeWorld(opts: FakeWorldOptions = {}): { world: World; phases: PhaseRun[] } {
  const phaseMs = opts.phaseMs ?? 100;
  const maxTokens = opts.maxTokens ?? 8;
  const phases: PhaseRun[] = [];
  const manifest = {
    video: { width: 1, height: 1, fps: FPS, chunkFrames: F },
    latent: { channels: 1, height: 1, width: 1 },
    backbone: { layers: 1, heads: 1, cacheTokens: 2 },
    state: { tokens: 1, width: 2, queries: 1 },
    diffusion: { conditioningNoise: 0 },
    actionEncoder: { idleAction: IDLE, maxTokens, width: 2 },
    ...(opts.world ? { world: opts.world } : {}),
  };
  const words = (s: string) => (s ? s.split(' ').length : 0);
  const engine = {
    conditioning: {
      encodeText: async (text: string) => ({
        text,
        states: new Float32Array(2),
        mask: new Float32Array(1),
        tokens: words(text) + 2,
        truncated: words(text) > maxTokens - 2,
        cut: cutAtWordPieces(text, maxTokens - 2, words),
      }),
      turn: async () => ({ state: new Float32Array(2), kv: new Float32Array(4), kvMask: new Float32Array(2), ms: 1 }),
    },
    rendering: {
      runPhase: (req: { windowKey: string; phase: number; window: { earlier: { chunk: number; action: string } | null }; later: { chunk: number; action: string } }) => {
        phases.push({ windowKey: req.windowKey, phase: req.phase, at: performance.now() });
        return new Promise((resolve) =>
          setTimeout(() => {
            const e = req.window.earlier;
            const finished = e ? { chunk: e.chunk, action: e.action, rgba: new Uint8ClampedArray(F * 4).fill(e.chunk + 1), frames: new Float32Array(F * 3) } : null;
            resolve({ window: { seed: 0, history: new Float32Array(F), earlier: req.later }, callMs: [], vaeMs: 0, finished });
          }, phaseMs),
        );
      },
    },
  };
  const world = {
    manifest,
    schedule: { phase: () => [] },
    exclusive: <T>(f: () => Promise<T>) => f(),
    run: <T>(_worker: string, _method: string, f: (e: typeof engine) => Promise<T>) => f(engine),
  };
  return { world: world as unknown as World, phases };
}

export function fakeSession(world: World): Session {
  return Session.create(world, {
    sceneId: 'scene-0',
    seed: 0,
    image: { planar: new Float32Array(3), rgba: new Uint8ClampedArray(4) },
    startLatent: new Float32Array(1),
  });
}

/** A canvas that records the first byte (the chunk index + 1, see above) of each frame drawn on it. */
export function recordingCanvas(): { canvas: HTMLCanvasElement; drawn: number[] } {
  const drawn: number[] = [];
  const ctx = { putImageData: (img: { data: Uint8ClampedArray }) => drawn.push(img.data[0]) };
  return { canvas: { width: 0, height: 0, getContext: () => ctx } as unknown as HTMLCanvasElement, drawn };
}

/** Advance virtual time in animation-frame steps until `done()` or `limitMs`; returns the ms it took. */
export async function advanceUntil(done: () => boolean, limitMs = 60_000, stepMs = 10): Promise<number> {
  let t = 0;
  while (!done() && t < limitMs) {
    await vi.advanceTimersByTimeAsync(stepMs);
    t += stepMs;
  }
  return t;
}
