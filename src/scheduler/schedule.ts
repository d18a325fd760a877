/**
 * Causal Swin-DPM: which decoder call comes next, with which sigmas.
 *
 * Pure logic, no GPU and no DOM. It mirrors `SwinDpmSchedule` in
 * `model/swin_dpm.py` call for call (test vectors `schedule` in a bundle's
 * testvectors prove it).
 *
 * The window holds two chunks. With K steps per chunk, call s of phase p moves
 * the earlier chunk (p - 1) from 0.5 - s/K to 0.5 - (s+1)/K and the later chunk
 * (p) from 1 - s/K to 1 - (s+1)/K. Chunk p is enqueued before the first call of
 * phase p; after the last call of phase p, chunk p - 1 is clean (finished) and
 * the later chunk moves to the earlier slot. Phase 0 has no earlier chunk.
 */

export interface DenoiseCall {
  /** Global call number, from 0. */
  index: number;
  /** Equal to the later chunk's index. */
  phase: number;
  /** 0 .. K/2 - 1 within the phase. */
  step: number;
  earlierChunk: number | null;
  laterChunk: number;
  /** Newest finished chunk, phase - 2 (negative in phases 0 and 1: the start scene is the history). */
  historyChunk: number;
  /** [earlier, later] before the call. */
  sigma: [number, number];
  /** [earlier, later] after the call. */
  sigmaNext: [number, number];
  /** Chunk enqueued (fresh noise, the next action) before this call. */
  enqueue: number | null;
  /** Chunk that is clean after this call. */
  finish: number | null;
}

export class SwinDpmSchedule {
  readonly K: number;
  readonly half: number;

  constructor(denoiseSteps: number, stateLag = 2) {
    if (!Number.isInteger(denoiseSteps) || denoiseSteps < 2 || denoiseSteps % 2) {
      throw new RangeError(`denoiseSteps must be an even integer >= 2, got ${denoiseSteps}`);
    }
    if (stateLag !== 2) {
      throw new RangeError('a two-chunk window finishes chunk t - 2 when chunk t is enqueued: stateLag must be 2');
    }
    this.K = denoiseSteps;
    this.half = denoiseSteps / 2;
  }

  call(index: number): DenoiseCall {
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`call index must be an integer >= 0, got ${index}`);
    const phase = Math.floor(index / this.half);
    const step = index % this.half;
    const K = this.K;
    const earlier = phase >= 1 ? phase - 1 : null;
    // The empty earlier slot of phase 0 is reported at sigma 0; the graph masks it out.
    const sigma: [number, number] = [earlier === null ? 0 : 0.5 - step / K, 1 - step / K];
    const sigmaNext: [number, number] = [earlier === null ? 0 : 0.5 - (step + 1) / K, 1 - (step + 1) / K];
    return {
      index,
      phase,
      step,
      earlierChunk: earlier,
      laterChunk: phase,
      historyChunk: phase - 2,
      sigma,
      sigmaNext,
      enqueue: step === 0 ? phase : null,
      finish: step === this.half - 1 && earlier !== null ? earlier : null,
    };
  }

  /** The calls of one phase, in order. */
  phase(p: number): DenoiseCall[] {
    return Array.from({ length: this.half }, (_, s) => this.call(p * this.half + s));
  }

  /** All calls until chunks 0 .. nChunks - 1 are finished. */
  calls(nChunks: number): DenoiseCall[] {
    return Array.from({ length: (nChunks + 1) * this.half }, (_, i) => this.call(i));
  }

  /**
   * Rows = calls, columns = chunks: each chunk's sigma before the call
   * (1 = not yet enqueued, 0 = finished), the diffusion-forcing view.
   */
  noiseLevelMatrix(nChunks: number): number[][] {
    return this.calls(nChunks).map((c) => {
      const row = new Array<number>(nChunks + 1).fill(1);
      for (let j = 0; j < Math.max(c.phase - 1, 0); j++) row[j] = 0;
      if (c.earlierChunk !== null) row[c.earlierChunk] = c.sigma[0];
      row[c.laterChunk] = c.sigma[1];
      return row.slice(0, nChunks);
    });
  }

  /** Decoder calls from an action being enqueued to its chunk being finished. */
  get actionLatencyCalls(): number {
    return this.K;
  }
}
