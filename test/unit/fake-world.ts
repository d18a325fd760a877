/**
 * A fake SessionHost (what a World is to a Session) whose phases take virtual time (use with
 * `useVirtualDisplayTime`): a real Session, Player and Renderer run on it. The rendering side finishes
 * chunk p - 1 in phase p after `phaseMs`; each frame's bytes are its chunk index + 1 (the start scene's
 * are 0), so a test reads from a drawn frame which chunk it belongs to. The text encoder reads
 * `maxTokens - 2` word pieces, one per word.
 */
import { readFileSync } from 'node:fs';

import { vi } from 'vitest';

import type { FrameCanvas } from '../../src/render/renderer';
import { type Manifest, validateManifest } from '../../src/contract/manifest';
import { cutAtWordPieces } from '../../workers/action-cut';
import { SwinDpmSchedule } from '../../src/scheduler/schedule';
import { Session, type SessionHost } from '../../src/runtime/session';

export const F = 4;
export const FPS = 8;
export const IDLE = 'wait';

export interface FakeWorldOptions {
  /** The manifest's `world` block (absent: a bundle made before it, which keeps generating). */
  world?: { stillWhenIdle: boolean; settleChunks: number };
  /** Virtual ms per phase (default 100: generation far faster than the display, as on a GPU). */
  phaseMs?: number;
  maxTokens?: number;
}

/** A phase the fake ran: which session (its window key) and phase, and when it started. */
export interface PhaseRun {
  windowKey: string;
  phase: number;
  at: number;
}

/** The shared valid manifest (test/vectors/manifest-valid.json) at the fake's sizes: 1x1 frames, F a chunk, tiny state. */
function fakeManifest(opts: FakeWorldOptions): Manifest {
  const valid = validateManifest(JSON.parse(readFileSync(new URL('../vectors/manifest-valid.json', import.meta.url), 'utf8')));
  return {
    ...valid,
    video: { width: 1, height: 1, fps: FPS, chunkFrames: F },
    latent: { channels: 1, height: 1, width: 1 },
    state: { tokens: 1, width: 2, queries: 1 },
    backbone: { layers: 1, heads: 1, maxTurns: 1, turnTokens: 2, cacheTokens: 2 },
    diffusion: { ...valid.diffusion, conditioningNoise: 0 },
    actionEncoder: { ...valid.actionEncoder, idleAction: IDLE, maxTokens: opts.maxTokens ?? 8, width: 2 },
    world: opts.world,
  };
}

export function fakeWorld(opts: FakeWorldOptions = {}): { world: SessionHost; phases: PhaseRun[] } {
  const phaseMs = opts.phaseMs ?? 100;
  const manifest = fakeManifest(opts);
  const maxTokens = manifest.actionEncoder.maxTokens;
  const phases: PhaseRun[] = [];
  const words = (s: string) => (s ? s.split(' ').length : 0);
  const world: SessionHost = {
    manifest,
    schedule: new SwinDpmSchedule(manifest.diffusion.denoiseSteps, manifest.diffusion.stateLag),
    exclusive: (f) => f(),
    encodeText: async (text) => ({
      text,
      states: new Float32Array(2),
      mask: new Float32Array(1),
      tokens: words(text) + 2,
      truncated: words(text) > maxTokens - 2,
      cut: cutAtWordPieces(text, maxTokens - 2, words),
    }),
    turn: async () => ({ state: new Float32Array(2), kv: new Float32Array(4), kvMask: new Float32Array(2), ms: 1, encoderMs: 0.25, backboneMs: 0.5 }),
    runPhase: (req) => {
      phases.push({ windowKey: req.windowKey, phase: req.phase, at: performance.now() });
      return new Promise((resolve) =>
        setTimeout(() => {
          const e = req.window.earlier;
          const finished = e ? { chunk: e.chunk, action: e.action, rgba: new Uint8ClampedArray(F * 4).fill(e.chunk + 1), frames: new Float32Array(F * 3) } : null;
          resolve({ window: { seed: 0, history: new Float32Array(F), earlier: { ...req.later, latents: new Float32Array(F) } }, callMs: [], vaeMs: 0, finished });
        }, phaseMs),
      );
    },
    encodeImage: async () => new Float32Array(1),
  };
  return { world, phases };
}

export function fakeSession(world: SessionHost): Session {
  return Session.create(world, {
    sceneId: 'scene-0',
    seed: 0,
    image: { planar: new Float32Array(3), rgba: new Uint8ClampedArray(4) },
    startLatent: new Float32Array(1),
  });
}

/** A canvas that records the first byte (the chunk index + 1, see above) of each frame drawn on it. */
export function recordingCanvas(): { canvas: FrameCanvas; drawn: number[] } {
  const drawn: number[] = [];
  const ctx = { putImageData: (img: ImageData) => void drawn.push(img.data[0]) };
  return { canvas: { width: 0, height: 0, getContext: () => ctx }, drawn };
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
