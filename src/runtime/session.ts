/**
 * A rollout: start scene, seed, actions, and the state at the last chunk
 * boundary. `step()` runs one Swin-DPM phase (K/2 decoder calls), which
 * enqueues the next action's chunk and finishes the one before it.
 *
 * Everything a session needs to continue lives here on the CPU between
 * phases (the window's latents, the backbone's KV cache), so a session can be
 * forked, replayed, or resumed on a fresh GPU device after a loss. Noise is
 * drawn from (seed, chunk), so the same seed and actions replay the same
 * rollout, and a fork draws what its parent would have.
 *
 * Events: `queued` (an action was queued or pinned: `{chunk, text}`, and for a
 * queued one its receipt's other fields), `action` (a phase took an
 * action: `{chunk, action, id}`), `chunk` (a chunk was finished: the FinishedChunk),
 * `reset`.
 */
import type { ChunkConditioning, PhaseRequest, PhaseResult, TextEncoding, TurnRequest, TurnResult, WindowState } from '../../workers/protocol';
import { SerialQueue } from '../base/async';
import { CancelledError } from '../base/errors';
import { type Manifest, elementCount, expectedGraphIO } from '../contract/manifest';
import type { SwinDpmSchedule } from '../scheduler/schedule';
import { type ActionCut, ActionQueue, normalizeAction } from './actions';
import { tile } from './images';

/**
 * What a session runs on: the bundle's manifest and schedule, and the four calls a rollout makes.
 * `World` is one (its engine's workers answer the calls, restarted on a lost device); a unit test
 * fakes one. A session never names a worker.
 */
export interface SessionHost {
  readonly manifest: Manifest;
  readonly schedule: SwinDpmSchedule;
  /** Run `f` alone: phases of sessions sharing the host (a player, a plan's forks) must not interleave. */
  exclusive<T>(f: () => Promise<T>): Promise<T>;
  /** An action's text as the action encoder reads it (cached by text). */
  encodeText(text: string): Promise<TextEncoding>;
  /** One backbone turn: the state that conditions the next chunk. */
  turn(req: TurnRequest): Promise<TurnResult>;
  /** One Swin-DPM phase: K/2 decoder calls, then the earlier chunk decoded when it is finished. */
  runPhase(req: PhaseRequest): Promise<PhaseResult>;
  /** A start frame (1 x 3 x H x W in [0, 1]) to its latents. */
  encodeImage(frame: Float32Array): Promise<Float32Array>;
}

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
  /**
   * F x 3 x H x W floats in [0, 1]. Kept for the newest chunks only: in
   * `Session.history`, older chunks keep their RGBA bytes and have empty
   * `frames`, so a long timeline costs a quarter of the memory.
   */
  frames: Float32Array;
  width: number;
  height: number;
  frameCount: number;
  /** Milliseconds per decoder call in the phase that finished it. */
  callMs: number[];
  /** Milliseconds of that phase's backbone turn (encoder h and readbacks included) and of the VAE decode. */
  turnMs: number;
  vaeMs: number;
  /** Of turnMs, the encoder's and the backbone's runs alone. */
  encoderMs: number;
  backboneMs: number;
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

/** Which action conditioned a chunk. */
export interface ActionLogEntry {
  chunk: number;
  action: string;
  /** The receipt id when it was typed (`act`), null when pinned (`actAt`) or filler. */
  id: number | null;
  /**
   * Filler: the bundle's idle action, which nobody typed: what the world does while nobody acts
   * (a chunk with nothing queued or pinned, or one a replayed log pins to the idle action again).
   * A typed "wait" is someone's action, not filler.
   */
  idle: boolean;
}

/** An action not in a finished phase yet, with the chunk it will condition. */
export interface UpcomingAction {
  chunk: number;
  text: string;
  id: number | null;
  /** Filler (see ActionLogEntry.idle): only the phase in flight can be. */
  idle: boolean;
}

export interface SessionOptions {
  /** Finished chunks kept for the timeline; older ones are dropped (memory stays bounded). */
  historyLimit?: number;
  /** Boundary states kept for instant forks; forks further back replay from the start. */
  snapshotLimit?: number;
}

/** One candidate of `plan()`, with how close its simulated outcome came to the goal. */
export interface PlanCandidate {
  action: string;
  /** Mean squared error (pixels in [0, 1]) between the predicted last frame and the goal. */
  mse: number;
  psnr: number;
  /** The chunk the action produced on its own fork. */
  chunk: FinishedChunk;
  /** The fork, positioned right after the candidate's chunk: take it to act on the best plan. */
  branch: Session;
}

export type PlanGoal = { rgba: Uint8ClampedArray } | { description: string };

let sessionIds = 0;

export class Session extends EventTarget {
  readonly queue: ActionQueue;
  /** Which action conditioned each enqueued chunk. */
  readonly log: ActionLogEntry[] = [];
  /** Finished chunks, oldest first (at most historyLimit); all but the newest two keep only their RGBA bytes. */
  readonly history: FinishedChunk[] = [];
  /** Actions pinned to a chunk (replays, share links); they take precedence over the queue. */
  private readonly scripted = new Map<number, string>();
  private readonly snapshots = new Map<number, SessionState>();
  private state: SessionState;
  private readonly steps = new SerialQueue();
  private generation = 0;
  private stepsInFlight = 0;
  /** The phase whose action is taken and whose decoder calls are running, if any. */
  private inFlight: number | null = null;
  private taken: UpcomingAction | null = null;
  readonly historyLimit: number;
  readonly snapshotLimit: number;

  private constructor(
    /** The World it runs in (a fake one in unit tests). */
    readonly world: SessionHost,
    readonly id: string,
    readonly sceneId: string,
    readonly seed: number,
    readonly startImage: SessionStart['image'],
    private readonly initial: SessionState,
    opts: SessionOptions,
    queue = new ActionQueue(),
  ) {
    super();
    this.state = initial;
    this.queue = queue;
    this.historyLimit = opts.historyLimit ?? 512;
    this.snapshotLimit = opts.snapshotLimit ?? 32;
    this.keepSnapshot(initial);
  }

  static create(world: SessionHost, s: SessionStart & { startLatent: Float32Array }, opts: SessionOptions = {}): Session {
    const F = world.manifest.video.chunkFrames;
    // The backbone's first turn: no previous state, an empty KV cache.
    const turn = expectedGraphIO(world.manifest).backbone.inputs;
    const state: SessionState = {
      nextPhase: 0,
      window: { seed: s.seed >>> 0, history: tile(s.startLatent, F), earlier: null },
      observedFrames: tile(s.image.planar, F),
      prevState: new Float32Array(elementCount(turn.prev_state)),
      turns: 0,
      kv: new Float32Array(elementCount(turn.past_kv)),
      kvMask: new Float32Array(elementCount(turn.past_mask)),
    };
    return new Session(world, `s${++sessionIds}`, s.sceneId, s.seed >>> 0, s.image, state, opts);
  }

  /** Index of the next chunk to be enqueued. */
  get nextChunk(): number {
    return this.state.nextPhase;
  }

  /** Index of the newest finished chunk: nextChunk - 2, so negative (-2, then -1) before the first. */
  get lastFinished(): number {
    return this.state.nextPhase - 2;
  }

  /** The state at the current boundary (read-only; arrays are never mutated in place). */
  get boundary(): Readonly<SessionState> {
    return this.state;
  }

  /** Whether a step is running or waiting. */
  get busy(): boolean {
    return this.stepsInFlight > 0;
  }

  /**
   * Queue an action: it conditions the next chunk enqueued after those already waiting. Sends a
   * `queued` event (a player holding a still frame wakes on it).
   */
  act(input: string): ActionReceipt {
    const { text, truncated } = normalizeAction(input);
    const item = this.queue.push(text);
    // Queued actions take the next chunks that no pinned action holds, after
    // the phase in flight (which has taken its action already).
    let chunk = this.inFlight ?? this.state.nextPhase - 1;
    for (let left = this.queue.length; left > 0; ) if (!this.scripted.has(++chunk)) left--;
    const receipt = { id: item.id, text, truncated, chunk };
    // Encode now, so the phase that takes it does not wait for the text encoder.
    void this.readAction(text).catch(() => {});
    this.dispatchEvent(new CustomEvent('queued', { detail: receipt }));
    return receipt;
  }

  /**
   * How the action encoder reads an action (as `act` would queue it): null when it reads all of it,
   * else its budget of word pieces and the words at the end it leaves out. Encodes the text, once:
   * the phase that takes the action reuses the encoding.
   */
  async readAction(input: string): Promise<ActionCut | null> {
    const { text } = normalizeAction(input);
    return (await this.world.encodeText(text)).cut;
  }

  /**
   * Whether generation may stop with chunk `shown` on screen, holding its frame: only in a world that
   * holds still when nobody acts (`manifest.world.stillWhenIdle`), when no action waits (queued, pinned
   * or in a phase), chunk `shown` and the `settleChunks - 1` before it were idle ones, and every chunk
   * made after it is an idle one nobody typed. Then more chunks would only draw the same still scene
   * again, each from the model's own drawings (a model that drifts melts it). An action resumes from
   * the boundary after `shown` (`takeBackIdle`), as it would on a running page.
   *
   * Settled is more than "idle": an action's motion ends within its own chunk, but the window denoises
   * each chunk beside the one before it, so the first idle chunk after an action was drawn beside that
   * action's chunk while it was still noisy. `settleChunks` (the window's two chunks, for the tabletop)
   * covers it.
   */
  isSettled(shown: number): boolean {
    const world = this.world.manifest.world;
    if (!world?.stillWhenIdle || this.queue.length || this.scripted.size) return false;
    const idle = this.world.manifest.actionEncoder.idleAction;
    const first = shown - world.settleChunks + 1;
    if (first < 0 || shown > this.lastFinished) return false;
    if (this.taken && !this.taken.idle) return false;
    const entries = this.log.filter((e) => e.chunk >= first);
    // (A log entry per chunk from `first` on; a "wait" someone typed counts once it is on screen.)
    if (entries.length !== this.state.nextPhase - first) return false;
    return entries.every((e) => e.idle || (e.action === idle && e.chunk <= shown));
  }

  /**
   * Take back what only the idle action made after chunk `shown` (the chunk on screen): the
   * finished chunks not shown yet and the window's chunks, so that an action queued next
   * conditions chunk `shown + 1` instead of waiting behind them (the pacing keeps up to three
   * chunks ahead of the screen: a second and a half at 8 fps). Idle chunks are what the world does
   * while nobody acts; as long as nobody has seen them they may be made again. Nothing is taken
   * back when one of them carries an action, or when the boundary before chunk `shown + 1` is no
   * longer kept. The phase in flight, if any, is cancelled. Returns whether the session went back.
   *
   * Chunk `shown` itself is the earlier window chunk at that boundary: the next phase finishes it
   * again, to the same frames (the earlier chunk never sees the later one, and its noise is the
   * seed's), and it enters the history again.
   */
  takeBackIdle(shown: number): boolean {
    const p = shown + 1;
    const made: { idle: boolean }[] = this.log.filter((e) => e.chunk >= p);
    if (this.taken) made.push(this.taken);
    const state = this.snapshots.get(p);
    if (!made.length || !state || made.some((e) => !e.idle)) return false;
    this.generation++;
    this.inFlight = null;
    this.taken = null;
    this.state = state;
    this.log.splice(0, this.log.length, ...this.log.filter((e) => e.chunk < p));
    this.history.splice(0, this.history.length, ...this.history.filter((c) => c.index < shown));
    for (const k of this.snapshots.keys()) if (k > p) this.snapshots.delete(k);
    return true;
  }

  /** Pin an action to a chunk (replaying a log or a shared link). Sends a `queued` event. */
  actAt(chunk: number, input: string): void {
    if (chunk < this.state.nextPhase) throw new RangeError(`chunk ${chunk} is already enqueued`);
    const { text } = normalizeAction(input);
    this.scripted.set(chunk, text);
    this.dispatchEvent(new CustomEvent('queued', { detail: { chunk, text } }));
  }

  /** Run one phase; resolves with the chunk it finished (null in phase 0). Steps run one at a time. */
  step(): Promise<FinishedChunk | null> {
    const gen = this.generation;
    this.stepsInFlight++;
    const p = this.steps.run(() => {
      if (gen !== this.generation) throw new CancelledError('the session was reset');
      return this.world.exclusive(() => this.runPhase(gen));
    });
    void p.catch(() => {}).finally(() => this.stepsInFlight--);
    return p;
  }

  /** Step until chunk `index` is finished; resolves with it. */
  async runUntil(index: number): Promise<FinishedChunk> {
    for (;;) {
      const done = this.history.at(-1);
      if (done && done.index >= index) return this.history.find((c) => c.index === index) ?? done;
      await this.step();
    }
  }

  private async runPhase(gen: number): Promise<FinishedChunk | null> {
    const p = this.state.nextPhase;
    // 1. This chunk's action: pinned, else the next queued one, else the idle action.
    const pinned = this.scripted.get(p);
    const queued = pinned === undefined ? this.queue.shift() : undefined;
    const idleAction = this.world.manifest.actionEncoder.idleAction;
    const action = pinned ?? queued?.text ?? idleAction;
    const taken: UpcomingAction = { chunk: p, text: action, id: queued?.id ?? null, idle: !queued && action === idleAction };
    this.inFlight = p;
    this.taken = taken;
    try {
      return await this.runTakenPhase(gen, taken);
    } catch (e) {
      if (queued && gen === this.generation) this.queue.unshift(queued); // not used: it stays first in line
      throw e;
    } finally {
      this.inFlight = null;
      this.taken = null;
    }
  }

  /** Actions not yet in a finished phase, with the chunk each will condition: the one in flight, then the queue. */
  get upcoming(): UpcomingAction[] {
    const out = this.taken ? [{ ...this.taken }] : [];
    let chunk = this.inFlight ?? this.state.nextPhase - 1;
    for (const q of this.queue.peek()) {
      while (this.scripted.has(++chunk));
      out.push({ chunk, text: q.text, id: q.id, idle: false });
    }
    return out;
  }

  private async runTakenPhase(gen: number, taken: UpcomingAction): Promise<FinishedChunk | null> {
    const { chunk: p, text: action, id, idle } = taken;
    const w = this.world;
    const m = w.manifest;
    const s = this.state;
    const enc = await w.encodeText(action);
    // 2. One backbone turn: [s_{p-1}, h(frames of chunk p-2)][action][queries] -> s_p.
    const turn = await w.turn({
      prevState: s.prevState,
      isFirst: s.turns === 0,
      observedFrames: s.observedFrames,
      text: enc.states,
      textMask: enc.mask,
      kv: s.kv,
      kvMask: s.kvMask,
    });
    // 3. The decoder calls of phase p (the host keeps the window resident between them).
    const later: ChunkConditioning = { chunk: p, action, text: enc.states, textMask: enc.mask, state: turn.state };
    const res = await w.runPhase({
      windowKey: `${this.id}.${gen}:${p}`,
      window: s.window,
      phase: p,
      calls: w.schedule.phase(p).map((c) => ({ sigma: c.sigma, sigmaNext: c.sigmaNext })),
      historySigma: m.diffusion.conditioningNoise,
      later,
      nextWindowKey: `${this.id}.${gen}:${p + 1}`,
    });
    if (gen !== this.generation) throw new CancelledError('the session was reset');
    // 4. Commit: the new boundary state, the action log, the finished chunk. Nothing
    //    above changed the session, so a failure leaves it at its last boundary.
    this.scripted.delete(p);
    // The phase is no longer in flight: its action moves from `upcoming` to the log in one step
    // (listeners of the events below read both, and must not see it twice).
    this.inFlight = null;
    this.taken = null;
    this.log.push({ chunk: p, action, id, idle });
    this.state = {
      nextPhase: p + 1,
      window: res.window,
      observedFrames: res.finished ? res.finished.frames : s.observedFrames,
      prevState: turn.state,
      turns: s.turns + 1,
      kv: turn.kv,
      kvMask: turn.kvMask,
    };
    this.keepSnapshot(this.state);
    this.dispatchEvent(new CustomEvent('action', { detail: { chunk: p, action, id } }));
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
      turnMs: turn.ms,
      vaeMs: res.vaeMs,
      encoderMs: turn.encoderMs,
      backboneMs: turn.backboneMs,
      finishedAt: performance.now(),
    };
    this.history.push(chunk);
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    // The timeline shows RGBA; the float frames are only read from the newest chunks.
    const old = this.history.length - 3;
    if (old >= 0 && this.history[old].frames.length) this.history[old] = { ...this.history[old], frames: new Float32Array(0) };
    this.dispatchEvent(new CustomEvent('chunk', { detail: chunk }));
    return chunk;
  }

  private keepSnapshot(state: SessionState): void {
    this.snapshots.set(state.nextPhase, state);
    for (const k of this.snapshots.keys()) {
      if (this.snapshots.size <= this.snapshotLimit) break;
      this.snapshots.delete(k); // Map keeps insertion order: the oldest go first
    }
  }

  /**
   * A new branch from this session: at the current boundary, or right after
   * finished chunk `atChunk`. The branch shares everything up to that point
   * (including the chunk already in flight, whose action was taken) and then
   * runs on its own. Forks further back than the kept snapshots replay from the start.
   */
  async fork(atChunk?: number): Promise<Session> {
    await this.steps.idle;
    const phase = atChunk === undefined ? this.state.nextPhase : atChunk + 2;
    if (phase > this.state.nextPhase) throw new RangeError(`chunk ${atChunk} is not finished yet`);
    if (phase < 0 || (atChunk !== undefined && atChunk < 0)) throw new RangeError(`no chunk ${atChunk}`);
    let state = this.snapshots.get(phase);
    let replayed: Session | null = null;
    if (!state) {
      replayed = this.replayTo(phase);
      while (replayed.state.nextPhase < phase) await replayed.step();
      state = replayed.state;
    }
    const branch = new Session(this.world, `s${++sessionIds}`, this.sceneId, this.seed, this.startImage, this.initial,
      { historyLimit: this.historyLimit, snapshotLimit: this.snapshotLimit },
      atChunk === undefined ? this.queue.clone() : new ActionQueue());
    branch.state = state;
    branch.snapshots.clear();
    branch.keepSnapshot(state);
    branch.log.push(...this.log.filter((e) => e.chunk < phase));
    branch.history.push(...(replayed ?? this).history.filter((c) => c.index < phase - 1));
    if (atChunk === undefined) for (const [c, a] of this.scripted) branch.scripted.set(c, a);
    return branch;
  }

  /** A fresh session from the same start that will replay this one's log up to `phase`. */
  private replayTo(phase: number): Session {
    const s = new Session(this.world, `s${++sessionIds}`, this.sceneId, this.seed, this.startImage, this.initial, {
      historyLimit: this.historyLimit,
      snapshotLimit: 2,
    });
    for (const e of this.log) if (e.chunk < phase) s.scripted.set(e.chunk, e.action);
    return s;
  }

  /**
   * Simulate, then act: run each candidate action on its own fork of the
   * current boundary and rank them by how close the chunk it produces comes
   * to the goal (an image, or a description the world model itself imagines
   * on a fork). Best first.
   */
  async plan(goal: PlanGoal, candidates: string[]): Promise<PlanCandidate[]> {
    if (!candidates.length) throw new RangeError('plan() needs at least one candidate action');
    const target = 'rgba' in goal ? goal.rgba : (await this.simulate(goal.description)).chunk.rgba;
    const out: PlanCandidate[] = [];
    for (const action of candidates) {
      const { chunk, branch } = await this.simulate(action);
      const mse = lastFrameMse(chunk, target);
      out.push({ action: chunk.action, mse, psnr: mse > 0 ? 10 * Math.log10(1 / mse) : Infinity, chunk, branch });
    }
    return out.sort((a, b) => a.mse - b.mse);
  }

  private async simulate(action: string): Promise<{ chunk: FinishedChunk; branch: Session }> {
    const branch = await this.fork();
    branch.queue.clear();
    branch.scripted.clear();
    const r = branch.act(action);
    return { chunk: await branch.runUntil(r.chunk), branch };
  }

  /**
   * Back to the start scene with the same seed; queued actions are dropped, a running step is
   * cancelled. Sends a `reset` event.
   */
  reset(): void {
    this.generation++;
    this.queue.clear();
    this.scripted.clear();
    this.log.length = 0;
    this.history.length = 0;
    this.snapshots.clear();
    this.state = this.initial;
    this.keepSnapshot(this.initial);
    this.dispatchEvent(new CustomEvent('reset'));
  }

  /** Everything needed to replay this rollout elsewhere (a share link). */
  get replayRecord(): { scene: string; seed: number; actions: [number, string][] } {
    const idle = this.world.manifest.actionEncoder.idleAction;
    return { scene: this.sceneId, seed: this.seed, actions: this.log.filter((e) => e.action !== idle).map((e) => [e.chunk, e.action]) };
  }
}

/** The last frame of a finished chunk: its RGBA bytes (a view into the chunk's, not a copy). */
export function lastFrame(chunk: Pick<FinishedChunk, 'rgba' | 'width' | 'height' | 'frameCount'>): Uint8ClampedArray {
  const n = chunk.width * chunk.height * 4;
  return chunk.rgba.subarray((chunk.frameCount - 1) * n, chunk.frameCount * n);
}

/** MSE between the last frame of a chunk and an RGBA goal of the same size. */
function lastFrameMse(chunk: FinishedChunk, goal: Uint8ClampedArray): number {
  const last = lastFrame(chunk);
  const n = last.length;
  const g = goal.length === n ? goal : goal.subarray(goal.length - n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if ((i & 3) === 3) continue; // alpha
    const d = (last[i] - g[i]) / 255;
    sum += d * d;
  }
  return sum / ((n / 4) * 3);
}
