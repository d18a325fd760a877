/**
 * A session's action record, read from its own events: when a phase ends,
 * its action is in the log and no longer upcoming (the Actions list reads
 * both in the 'chunk' listener and showed it twice). A fake World answers the
 * worker calls at once.
 */
import { describe, expect, it } from 'vitest';

import { Session } from '../../src/runtime/session';
import type { World } from '../../src/runtime/world';

const F = 2;
const W = 2;
const H = 2;

function fakeWorld(): World {
  const manifest = {
    video: { width: W, height: H, fps: 8, chunkFrames: F },
    latent: { channels: 1, height: 1, width: 1 },
    backbone: { layers: 1, heads: 1, cacheTokens: 2 },
    state: { tokens: 1, width: 2, queries: 1 },
    diffusion: { conditioningNoise: 0 },
    actionEncoder: { idleAction: 'wait', maxTokens: 1, width: 2 },
  };
  let phase = 0;
  const world = {
    manifest,
    schedule: { phase: () => [] },
    exclusive: <T>(f: () => Promise<T>) => f(),
    async run(_worker: string, method: string) {
      if (method === 'encodeText') return { states: new Float32Array(2), mask: new Float32Array(1) };
      if (method === 'turn') return { state: new Float32Array(2), kv: new Float32Array(4), kvMask: new Float32Array(2), ms: 1, encoderMs: 0.25, backboneMs: 0.5 };
      // runPhase: from phase 1 on, the earlier chunk comes out finished
      const p = phase++;
      const finished =
        p === 0 ? null : { chunk: p - 1, action: 'x', rgba: new Uint8ClampedArray(F * W * H * 4), frames: new Float32Array(F * 3 * W * H) };
      return { window: { seed: 0, history: new Float32Array(F), earlier: null }, callMs: [], vaeMs: 0, finished };
    },
  };
  return world as unknown as World;
}

describe('Session record', () => {
  it("an action is in the log or upcoming, never both, when the phase's events fire", async () => {
    const world = fakeWorld();
    const s = Session.create(world, {
      sceneId: 'scene-0',
      seed: 0,
      image: { planar: new Float32Array(3 * W * H), rgba: new Uint8ClampedArray(W * H * 4) },
      startLatent: new Float32Array(1),
    });
    const seen: string[][] = [];
    const record = () => seen.push([...s.log.filter((e) => e.id !== null).map((e) => `${e.chunk}:${e.action}`), ...s.upcoming.map((u) => `${u.chunk}:${u.text}`)]);
    s.addEventListener('action', record);
    s.addEventListener('chunk', record);
    s.act('push the red block left');
    s.act('dim the lights');
    for (let i = 0; i < 4; i++) await s.step();
    expect(seen.length).toBeGreaterThan(0);
    for (const list of seen) expect(new Set(list).size, list.join(', ')).toBe(list.length);
    expect(s.log.filter((e) => e.id !== null).map((e) => e.action)).toEqual(['push the red block left', 'dim the lights']);
  });
});
