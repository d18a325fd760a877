/**
 * The demo page's elements, its live figures (read by the browser tests as
 * `window.worldCanvasStats`) and its status line: what every part of the demo
 * shares.
 */

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export const els = {
  progress: $<HTMLDivElement>('progress'),
  backend: $<HTMLSpanElement>('backend'),
  readout: $<HTMLSpanElement>('readout'),
  notice: $<HTMLParagraphElement>('notice'),
  branches: $<HTMLElement>('branches'),
  form: $<HTMLFormElement>('action-form'),
  action: $<HTMLInputElement>('action'),
  status: $<HTMLParagraphElement>('action-status'),
  guide: $<HTMLDetailsElement>('guide'),
  guideBody: $<HTMLDivElement>('guide-body'),
  object: $<HTMLSelectElement>('object'),
  scene: $<HTMLSelectElement>('scene'),
  image: $<HTMLInputElement>('image'),
  seed: $<HTMLInputElement>('seed'),
  play: $<HTMLButtonElement>('play'),
  reset: $<HTMLButtonElement>('reset'),
  share: $<HTMLButtonElement>('share'),
  shareLink: $<HTMLInputElement>('share-link'),
  record: $<HTMLButtonElement>('record'),
  download: $<HTMLAnchorElement>('download'),
  history: $<HTMLOListElement>('history'),
  goalKind: $<HTMLSelectElement>('goal-kind'),
  goalText: $<HTMLInputElement>('goal-text'),
  goalImage: $<HTMLInputElement>('goal-image'),
  goalBranch: $<HTMLSelectElement>('goal-branch'),
  candidates: $<HTMLTextAreaElement>('candidates'),
  simulate: $<HTMLButtonElement>('simulate'),
  planResults: $<HTMLDivElement>('plan-results'),
};

/** Live figures of the active branch, also read by the browser tests. */
export const stats = {
  framesShown: 0,
  /** Frames generated (handed to the display), all branches. */
  framesMade: 0,
  chunksFinished: 0,
  /** Frames shown per second, measured over the last seconds. */
  fps: 0,
  /** Frames generated per second, measured over the last seconds. */
  madeFps: 0,
  /** Frames of the active branch waiting to be shown. */
  buffered: 0,
  /** Wall time of the active branch's recent phases (one chunk each), ms, newest last. */
  phaseMs: [] as number[],
  /** From act() to the action's first frame on screen, for the last action shown. */
  lastLatencyMs: null as number | null,
  /** Actions whose first frame is on screen: chunk, text and latency. */
  shown: [] as { chunk: number; text: string; latencyMs: number | null }[],
  /** The active branch holds its frame still (a still world, settled): nothing is generated. */
  holding: false,
  /** performance.now() when the active branch began holding still (null while it generates). */
  heldAt: null as number | null,
  errors: [] as string[],
  branches: 0,
};
Object.assign(window, { worldCanvasStats: stats });

export function setStatus(text: string, error = false): void {
  els.status.textContent = text;
  els.status.classList.toggle('error', error);
  els.status.classList.remove('warning');
  if (error) stats.errors.push(text);
}

/** Something the user should know about what they did (not an error: it went ahead). */
export function setWarning(text: string): void {
  setStatus(text);
  els.status.classList.add('warning');
}

export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** The last action's time to the screen, for the readout. */
export function latencyReadout(): string {
  return stats.lastLatencyMs !== null ? ` · action→screen ${Math.round(stats.lastLatencyMs)} ms` : '';
}
