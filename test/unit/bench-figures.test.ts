import { describe, expect, it } from 'vitest';

import { callsPerFrame, opMsPerRun, opsPerFrame, perFrameMs } from '../../scripts/bench-figures.mjs';

const perFrame = { decoderCallsPerChunk: 4, framesPerChunk: 4 };

describe('per generated frame', () => {
  it('counts K/2 decoder calls and one encoder, backbone and VAE decode per chunk of F frames', () => {
    expect(callsPerFrame({ decoderCallsPerChunk: 2, framesPerChunk: 4 })).toEqual({ decoder: 0.5, encoder: 0.25, backbone: 0.25, vae_decoder: 0.25, vae_encoder: 0 });
  });

  it('weighs each graph by its calls per frame, the VAE encoder not at all', () => {
    expect(perFrameMs({ decoder: 10, encoder: 4, backbone: 8, vae_decoder: 20, vae_encoder: 1000 }, perFrame)).toBe(10 + 1 + 2 + 5);
    expect(perFrameMs({ decoder: 10, encoder: 4, backbone: 8 }, perFrame)).toBeNaN();
  });
});

describe('profiles', () => {
  const run = (ts: number, dur: number) => ({ cat: 'Session', name: 'model_run', ts, dur });
  const node = (ts: number, op: string, dur: number, name = `n${ts}_kernel_time`) => ({ cat: 'Node', name, ts, dur, op });
  const events = [
    run(0, 90), node(1, 'Conv', 80), // the warm-up (the fastest run, but left out)
    run(200, 100), node(201, 'Conv', 4000), node(250, 'FusedConv', 1000), node(260, 'Gemm', 2000), node(261, 'Gemm', 0, 'n_fence_before'),
    run(400, 150), node(401, 'Conv', 6000), node(450, 'Gemm', 2000),
  ];

  it("takes each op type's time from the fastest timed run", () => {
    expect(opMsPerRun(events)).toEqual({ Conv: 4, FusedConv: 1, Gemm: 2 });
  });

  it('sums ops per frame by family, each graph weighed by its calls', () => {
    const ops = opsPerFrame({ decoder: events, vae_decoder: events }, perFrame);
    expect(ops.Conv).toBeCloseTo((4 + 1) * (1 + 0.25));
    expect(ops.MatMul).toBeCloseTo(2 * 1.25);
  });
});
