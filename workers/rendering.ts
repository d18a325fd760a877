/**
 * The rendering worker: the decoder's denoising loop and the VAE, on one GPU
 * device it owns. The Swin-DPM window stays resident on that device between
 * calls and between phases; only finished frames and a small CPU copy of the
 * window (for forks and recovery) come back, once per chunk.
 *
 * Its object runs in a Web Worker (rendering.worker.ts), or in the engine's own
 * thread where there are none (the Node benchmark, src/bench/node/).
 */
import * as Comlink from 'comlink';

import { elementCount } from '../src/contract/manifest';
import { STREAM_CHUNK, STREAM_HISTORY, gaussianNoise } from '../src/contract/noise';
import { GraphWorker } from './graph-worker';
import { f32, ort, readF32, release } from './ort-backend';
import type { ChunkConditioning, EngineInfo, InitRequest, PhaseRequest, PhaseResult, RenderingApi, SlotState, WindowState, WorkerGraph } from './protocol';

interface ResidentSlot extends ChunkConditioning {
  latents: ort.Tensor;
}

interface Resident {
  key: string;
  seed: number;
  history: ort.Tensor;
  earlier: ResidentSlot | null;
}

/** frames (F x 3 x H x W, [0, 1]) -> RGBA bytes (F x H x W x 4). */
export function framesToRgba(frames: Float32Array, F: number, H: number, W: number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(F * H * W * 4);
  const plane = H * W;
  for (let f = 0; f < F; f++) {
    const src = f * 3 * plane;
    const dst = f * plane * 4;
    for (let i = 0; i < plane; i++) {
      out[dst + 4 * i] = Math.round(Math.min(1, Math.max(0, frames[src + i])) * 255);
      out[dst + 4 * i + 1] = Math.round(Math.min(1, Math.max(0, frames[src + plane + i])) * 255);
      out[dst + 4 * i + 2] = Math.round(Math.min(1, Math.max(0, frames[src + 2 * plane + i])) * 255);
      out[dst + 4 * i + 3] = 255;
    }
  }
  return out;
}

export class Rendering extends GraphWorker<WorkerGraph<'rendering'>> implements RenderingApi {
  private resident: Resident | null = null;
  private readback = false;

  constructor() {
    super('rendering');
  }

  async init(req: InitRequest): Promise<EngineInfo> {
    this.readback = req.residency === 'readback';
    const gpuOutputs = { decoder: ['earlier_next', 'later_next'], vae_decoder: [], vae_encoder: [] };
    return this.open(req, gpuOutputs, () => (this.resident = null)); // its buffers died with the device
  }

  async encodeImage(frame: Float32Array): Promise<Float32Array> {
    this.checkDevice();
    const out = await this.sessions.vae_encoder.run({ frames: f32(frame, this.io.vae_encoder.inputs.frames) });
    return readF32(out.latents);
  }

  private upload(window: WindowState, key: string): Resident {
    const lat = this.io.decoder.inputs.history;
    this.dropResident();
    return {
      key,
      seed: window.seed,
      history: f32(window.history, lat),
      earlier: window.earlier ? { ...window.earlier, latents: f32(window.earlier.latents, lat) } : null,
    };
  }

  private dropResident(): void {
    if (!this.resident) return;
    release(this.resident.history);
    release(this.resident.earlier?.latents);
    this.resident = null;
  }

  async runPhase(req: PhaseRequest): Promise<PhaseResult> {
    this.checkDevice();
    const shape = this.io.decoder.inputs;
    const lat = shape.later; // F x C x h x w, as every window slot
    const latSize = elementCount(lat);

    // 1. The window: resident on the GPU, or uploaded from the CPU copy.
    let win = this.resident?.key === req.windowKey ? this.resident : this.upload(req.window, req.windowKey);
    this.resident = null; // re-set at the end; a failure mid-phase leaves nothing half-updated behind

    // 2. Enqueue chunk `phase`: fresh seeded noise for the later slot.
    let later: ort.Tensor = f32(gaussianNoise(win.seed, STREAM_CHUNK, req.phase, latSize), lat);
    let earlier: ort.Tensor = win.earlier ? win.earlier.latents : f32(new Float32Array(latSize), lat);
    const present = win.earlier !== null;
    // An absent earlier slot reads the later chunk's conditioning (the graph masks it out anyway).
    const e = win.earlier ?? req.later;
    const cat = (a: Float32Array, b: Float32Array) => {
      const o = new Float32Array(a.length + b.length);
      o.set(a);
      o.set(b, a.length);
      return o;
    };
    const constants = {
      history_noise: f32(gaussianNoise(win.seed, STREAM_HISTORY, req.phase, elementCount(shape.history_noise)), shape.history_noise),
      history_sigma: f32(new Float32Array([req.historySigma]), shape.history_sigma),
      earlier_present: f32(new Float32Array([present ? 1 : 0]), shape.earlier_present),
      text: f32(cat(e.text, req.later.text), shape.text),
      text_mask: f32(cat(e.textMask, req.later.textMask), shape.text_mask),
      state: f32(cat(e.state, req.later.state), shape.state),
    };

    // 3. The denoising loop: outputs feed the next call without leaving the GPU.
    const callMs: number[] = [];
    for (const call of req.calls) {
      const t0 = performance.now();
      const out = await this.sessions.decoder.run({
        ...constants,
        history: win.history,
        earlier,
        later,
        sigma: f32(new Float32Array(call.sigma), shape.sigma),
        sigma_next: f32(new Float32Array(call.sigmaNext), shape.sigma_next),
      });
      // The inputs are superseded by the outputs (the resident earlier slot included).
      release(earlier);
      release(later);
      earlier = out.earlier_next;
      later = out.later_next;
      if (this.readback) {
        // The naive path: download both outputs now and upload them again next call.
        const [e, l] = await Promise.all([readF32(earlier), readF32(later)]);
        release(earlier);
        release(later);
        earlier = f32(e, lat);
        later = f32(l, lat);
      }
      callMs.push(performance.now() - t0);
    }
    this.checkDevice();

    // 4. End of phase: the earlier chunk is clean. Decode it and make it the history.
    let finished: PhaseResult['finished'] = null;
    let vaeMs = 0;
    let history = win.history;
    let historyChanged = false;
    if (present && win.earlier) {
      const t0 = performance.now();
      const out = await this.sessions.vae_decoder.run({ latents: earlier });
      const frames = await readF32(out.frames);
      vaeMs = performance.now() - t0;
      const [F, , H, W] = this.io.vae_decoder.outputs.frames;
      finished = { chunk: win.earlier.chunk, action: win.earlier.action, frames, rgba: framesToRgba(frames, F, H, W) };
      release(history);
      history = earlier;
      historyChanged = true;
    } else {
      release(earlier); // phase 0: the empty slot's output means nothing
    }

    // 5. Shift: the later chunk (now at sigma 0.5) becomes the earlier one.
    const nextEarlier: ResidentSlot = { ...req.later, latents: later };
    this.resident = { key: req.nextWindowKey, seed: win.seed, history, earlier: nextEarlier };
    win = this.resident;

    // 6. The CPU copy of the new window, for forks and recovery (two small reads per chunk).
    const window: WindowState = {
      seed: win.seed,
      history: historyChanged ? await readF32(history) : req.window.history,
      earlier: { ...req.later, latents: await readF32(later) } satisfies SlotState,
    };
    const transfers: Transferable[] = [window.earlier!.latents.buffer];
    if (historyChanged) transfers.push(window.history.buffer);
    if (finished) transfers.push(finished.frames.buffer, finished.rgba.buffer);
    return Comlink.transfer({ finished, window, callMs, vaeMs }, transfers);
  }

  override async dispose(): Promise<void> {
    this.dropResident();
    await super.dispose();
  }
}

