import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { SwinDpmSchedule } from '../../src/scheduler/schedule';
import { STREAM_CHUNK, gaussianNoise, noiseKey } from '../../src/contract/noise';

// Written by `python -m model.swin_dpm`; model/tests/test_swin_dpm.py keeps it current.
const golden = JSON.parse(readFileSync(new URL('../vectors/swin-dpm.json', import.meta.url), 'utf8'));

describe('SwinDpmSchedule agrees with the Python reference', () => {
  for (const s of golden.schedules) {
    it(`K=${s.denoiseSteps}: every call, sigma and event`, () => {
      const sched = new SwinDpmSchedule(s.denoiseSteps);
      expect(sched.calls(s.chunks)).toEqual(s.calls);
      expect(sched.noiseLevelMatrix(s.chunks)).toEqual(s.noiseLevels);
    });
  }

  it('phases group K/2 calls and the action latency is K calls', () => {
    const sched = new SwinDpmSchedule(8);
    const p = sched.phase(3);
    expect(p.map((c) => c.index)).toEqual([12, 13, 14, 15]);
    expect(p[0].enqueue).toBe(3);
    expect(p[3].finish).toBe(2);
    expect(sched.actionLatencyCalls).toBe(8);
  });

  it('refuses odd steps and other lags', () => {
    expect(() => new SwinDpmSchedule(7)).toThrow(/even/);
    expect(() => new SwinDpmSchedule(8, 1)).toThrow(/stateLag/);
    expect(() => new SwinDpmSchedule(8).call(-1)).toThrow(RangeError);
  });
});

describe('seeded noise is the same draw as in Python', () => {
  for (const c of golden.noise.cases) {
    it(`seed ${c.seed}, stream ${c.stream}, index ${c.index}, ${c.count} values`, () => {
      expect(noiseKey(c.seed, c.stream, c.index)).toBe(c.key);
      const got = gaussianNoise(c.seed, c.stream, c.index, c.count);
      let maxErr = 0;
      c.values.forEach((v: number, i: number) => (maxErr = Math.max(maxErr, Math.abs(v - got[i]))));
      expect(maxErr).toBeLessThan(1e-6); // float32 rounding of the same float64 math
    });
  }

  it('is standard normal', () => {
    const x = gaussianNoise(3, STREAM_CHUNK, 9, 200_000);
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(std - 1)).toBeLessThan(0.01);
  });
});
