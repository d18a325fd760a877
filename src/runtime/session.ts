/**
 * A rollout: start scene, seed, actions, and the state at the last chunk
 * boundary. `step()` runs one Swin-DPM phase (K/2 decoder calls), which
 * enqueues the next action's chunk and finishes the one before it.
 *
 * Everything a session needs to continue lives here on the CPU between
 * phases (the window's latents, the backbone's KV cache), so a session can be
 * forked, replayed, or resumed on a fresh GPU device after a loss.
 */
import type { ChunkConditioning, WindowState } from '../../workers/protocol';
import { ActionQueue, normalizeAction } from './actions';
import { CancelledError } from './errors';
import { tile } from './images';
import type { World } from './world';

export interface SessionStart {
  sceneId: string;
  seed: number;
  image: { planar: Float32Array; rgba: Uint8ClampedArray };
}

/** A chunk the decoder finished, as shown. */
export interface FinishedChunk {
  index: number;
  action: string;
  /** F x H x W x 4 bytes. */
  rgba: Uint8ClampedArray;
  /** F x 3 x H x W floats in [0, 1]. */
  frames: Float32Array;
  width: number;
  height: number;
  frameCount: number;
  /** Milliseconds per decoder call in the phase that finished it. */
  callMs: number[];
  /** When the chunk was finished (performance.now()). */
  finishedAt: number;
}

/** What `act()` tells the caller right away. */
export interface ActionReceipt {
  id: number;
  /** The action as the model will receive it. */
  text: string;
  /** The input was cut to the maximum length. */
  truncated: boolean;
  /** Index of the chunk this action will condition. */
  chunk: number;
}

/** The state at a chunk boundary (before phase `nextPhase`). */
export interface SessionState {
  nextPhase: number;
  window: WindowState;
  /** Frames the encoder reads at the next turn: the newest finished chunk (or the start scene). */
  observedFrames: Float32Array;
  prevState: Float32Array;
  turns: number;
  kv: Float32Array;
  kvMask: Float32Array;
}

export interface ActionLogEntry {
  chunk: number;
  action: string;
  id: number | null;
}

export class Session extends EventTarget {
  readonly queue = new ActionQueue();
  /** Which action conditioned each enqueued chunk. */
  readonly log: ActionLogEntry[] = [];
  private state: SessionState;
  private readonly initial: SessionState;
  private chain: Promise<unknown> = Promise.resolve();
  private generation = 0;
  private stepsInFlight = 0;

  private constructor(
    readonly world: World,
    readonly id: string,
    readonly sceneId: string,
    readonly seed: number,
    readonly startImage: SessionStart['image'],
    state: SessionState,
  ) {
    super();
    this.initial = state;
    this.state = state;
  }

  static create(world: World, s: SessionStart & { startLatent: Float32Array; id: string }): Session {
    const m = world.manifest;
    const F = m.video.chunkFrames;
    const { layers, heads, cacheTokens: P } = m.backbone;
    const D = m.state.width;
    const state: SessionState = {
      nextPhase: 0,
      window: { seed: s.seed >>> 0, history: tile(s.startLatent, F), earlier: null },
      observedFrames: tile(s.image.planar, F),
      prevState: new Float32Array(m.state.queries * D),
      turns: 0,
      kv: new Float32Array(layers * 2 * heads * P * (D / heads)),
      kvMask: new Float32Array(P),
    };
    return new Session(world, s.id, s.sceneId, s.seed >>> 0, s.image, state);
  }

  /** Index of the next chunk to be enqueued. */
  get nextChunk(): number {
    return this.state.nextPhase;
  }

  /** Chunks finished so far. */
  get finishedChunks(): number {
    return Math.max(0, this.state.nextPhase - 1);
  }

  /** Queue an action: it conditions the next chunk enqueued after those already waiting. */
  act(input: string): ActionReceipt {
    const { text, truncated } = normalizeAction(input);
    const item = this.queue.push(text);
    const receipt = { id: item.id, text, truncated, chunk: this.state.nextPhase + this.queue.length - 1 };
    // Encode now, so the phase that takes it does not wait for the text encoder.
    void this.world.run('conditioning', 'encodeText', (e) => e.conditioning.encodeText(text)).catch(() => {});
    return receipt;
  }

  /** Run one phase; resolves with the chunk it finished (null in phase 0). Steps run one at a time. */
  step(): Promise<FinishedChunk | null> {
    const gen = this.generation;
    this.stepsInFlight++;
    const p = this.chain.then(() => {
      if (gen !== this.generation) throw new CancelledError('the session was reset');
      return this.runPhase(gen);
    });
    this.chain = p.catch(() => {}).finally(() => this.stepsInFlight--);
    return p;
  }

  /** Whether a step is running or waiting. */
  get busy(): boolean {
    return this.stepsInFlight > 0;
  }

  private async runPhase(gen: number): Promise<FinishedChunk | null> {
    const w = this.world;
    const m = w.manifest;
    const s = this.state;
    const p = s.nextPhase;
    // 1. Take the next action (or the idle one) and encode it.
    const queued = this.queue.peek()[0];
    const action = queued?.text ?? m.actionEncoder.idleAction;
    const enc = await w.run('conditioning', 'encodeText', (e) => e.conditioning.encodeText(action));
    // 2. One backbone turn: [s_{p-1}, h(frames of chunk p-2)][action][queries] -> s_p.
    const turn = await w.run('conditioning', 'turn', (e) =>
      e.conditioning.turn({
        prevState: s.prevState,
        isFirst: s.turns === 0,
        observedFrames: s.observedFrames,
        text: enc.states,
        textMask: enc.mask,
        kv: s.kv,
        kvMask: s.kvMask,
      }),
    );
    // 3. The decoder calls of phase p, on the rendering worker's GPU.
    const later: ChunkConditioning = { chunk: p, action, text: enc.states, textMask: enc.mask, state: turn.state };
    const windowKey = `${this.id}.${gen}:${p}`;
    const res = await w.run('rendering', 'runPhase', (e) =>
      e.rendering.runPhase({
        windowKey,
        window: s.window,
        phase: p,
        calls: w.schedule.phase(p).map((c) => ({ sigma: c.sigma, sigmaNext: c.sigmaNext })),
        historySigma: m.diffusion.conditioningNoise,
        later,
        nextWindowKey: `${this.id}.${gen}:${p + 1}`,
      }),
    );
    if (gen !== this.generation) throw new CancelledError('the session was reset');
    // 4. Commit: the new boundary state, the action log, and the finished chunk.
    if (queued && this.queue.peek()[0] === queued) this.queue.shift();
    this.log.push({ chunk: p, action, id: queued?.id ?? null });
    this.state = {
      nextPhase: p + 1,
      window: res.window,
      observedFrames: res.finished ? res.finished.frames : s.observedFrames,
      prevState: turn.state,
      turns: s.turns + 1,
      kv: turn.kv,
      kvMask: turn.kvMask,
    };
    this.dispatchEvent(new CustomEvent('action', { detail: { chunk: p, action, id: queued?.id ?? null } }));
    if (!res.finished) return null;
    const chunk: FinishedChunk = {
      index: res.finished.chunk,
      action: res.finished.action,
      rgba: res.finished.rgba,
      frames: res.finished.frames,
      width: m.video.width,
      height: m.video.height,
      frameCount: m.video.chunkFrames,
      callMs: res.callMs,
      finishedAt: performance.now(),
    };
    this.dispatchEvent(new CustomEvent('chunk', { detail: chunk }));
    return chunk;
  }

  /** A copy of this session at its current chunk boundary (after any running step). */
  async fork(): Promise<Session> {
    await this.chain;
    const copy = new Session(this.world, `${this.id}f${++forks}`, this.sceneId, this.seed, this.startImage, this.state);
    copy.log.push(...this.log);
    return copy;
  }

  /** Back to the start scene with the same seed; queued actions are dropped, a running step is cancelled. */
  reset(): void {
    this.generation++;
    this.queue.clear();
    this.log.length = 0;
    this.state = this.initial;
  }

  /** The state at the current boundary (read-only view, for checkpoints and tests). */
  get boundary(): Readonly<SessionState> {
    return this.state;
  }
}

let forks = 0;
