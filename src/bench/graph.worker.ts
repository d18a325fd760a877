/**
 * The benchmark's per-graph figures, taken in a worker as the engine runs its
 * graphs: one graph's session (the engine's session options, from
 * workers/ort-backend.ts, or others over them, with the thread count asked
 * for) on given inputs, every run timed around `session.run` alone, and
 * optionally ONNX Runtime's profile of those runs (the time of every node),
 * which names the ops that cost most. Native onnxruntime is timed the same
 * way (model/bench_onnxruntime.py).
 */
import * as Comlink from 'comlink';

import { configureOrt, createSession, f32, ort, ortThreads } from '../../workers/ort-backend';
import type { WireTensor } from '../../workers/protocol';

/** One event of ONNX Runtime's profile (Chrome trace format), as both runtimes write it. */
export interface ProfileEvent {
  cat: string;
  name: string;
  /** Start and duration, microseconds. */
  ts: number;
  dur: number;
  /** The node's op type (node events only). */
  op?: string;
}

export interface GraphTiming {
  /** ms of each timed run (after one warm-up run), by session options. */
  ms: Record<string, number[]>;
  /** ONNX Runtime's WASM threads this worker ran on. */
  threads: number;
  /** The profile of a warm-up and the timed runs on a session of the first options, when asked for. */
  profile?: ProfileEvent[];
}

export interface GraphTimingRequest {
  bytes: Uint8Array;
  feeds: Record<string, WireTensor>;
  /** ONNX Runtime's WASM threads (default: the engine's pick); the worker's first request sets them. */
  threads?: number;
  runs: number;
  /**
   * Session options over the engine's, by name (`{}`: the engine's own). Their
   * runs take turns, so that other work on the machine weighs on each alike.
   */
  options: Record<string, ort.InferenceSession.SessionOptions>;
  profile: boolean;
}

type Inputs = Record<string, ort.Tensor>;

async function timedRun(session: ort.InferenceSession, inputs: Inputs): Promise<number> {
  const t0 = performance.now();
  await session.run(inputs);
  return performance.now() - t0;
}

/**
 * ONNX Runtime's WASM build writes its profile to the console, one event a
 * line, when profiling ends. It binds console.log when it starts (at the first
 * session), so the catcher must be in place before that: it is, from here on.
 */
let caught: string[] | null = null;
const log = console.log;
console.log = (...args: unknown[]) => (caught ? caught.push(args.map(String).join(' ')) : log(...args));

async function profiledRuns(req: GraphTimingRequest, options: ort.InferenceSession.SessionOptions, inputs: Inputs): Promise<ProfileEvent[]> {
  const session = await createSession({ bytes: req.bytes, backend: 'wasm', options: { ...options, enableProfiling: true } });
  for (let i = 0; i <= req.runs; i++) await session.run(inputs); // a warm-up and the timed runs, as timed
  const lines: string[] = (caught = []);
  try {
    session.endProfiling();
  } finally {
    caught = null;
  }
  await session.release();
  const events: ProfileEvent[] = [];
  for (const line of lines.join('\n').split('\n')) {
    const s = line.trim().replace(/,$/, '');
    if (!s.startsWith('{')) continue;
    const e = JSON.parse(s) as { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } };
    events.push({ cat: e.cat, name: e.name, ts: e.ts, dur: e.dur, op: e.args?.op_name });
  }
  return events;
}

const api = {
  async time(req: GraphTimingRequest): Promise<GraphTiming> {
    configureOrt(req.threads);
    const inputs: Inputs = Object.fromEntries(Object.entries(req.feeds).map(([k, v]) => [k, f32(v.data, v.dims)]));
    const names = Object.keys(req.options);
    const sessions = [];
    for (const name of names) sessions.push(await createSession({ bytes: req.bytes, backend: 'wasm', options: req.options[name] }));
    const ms: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    try {
      for (const s of sessions) await s.run(inputs); // warm-up: first-run allocations
      for (let i = 0; i < req.runs; i++) for (const [j, s] of sessions.entries()) ms[names[j]].push(await timedRun(s, inputs));
    } finally {
      for (const s of sessions) await s.release();
    }
    const profile = req.profile ? await profiledRuns(req, req.options[names[0]], inputs) : undefined;
    return { ms, threads: ortThreads(), profile };
  },
};

export type GraphTimingApi = typeof api;

Comlink.expose(api);
