/**
 * Actions as the user types them: checked, normalised, and cut visibly when
 * too long. Pure logic (no GPU, no DOM).
 */
import { ActionError } from '../base/errors';

/** Longer actions are cut at this many characters (the encoder reads far fewer tokens anyway). */
export const MAX_ACTION_CHARS = 200;
/** Actions waiting for a chunk; more are refused with a message rather than dropped. */
export const MAX_QUEUED_ACTIONS = 1000;

export interface NormalizedAction {
  /** What the model receives. */
  text: string;
  /** The input was longer than MAX_ACTION_CHARS and was cut. */
  truncated: boolean;
  /** Characters removed by the cut. */
  removedChars: number;
}

/**
 * Trim, collapse whitespace, normalise Unicode (NFC) and cut to
 * MAX_ACTION_CHARS on a code point boundary. Empty input is refused.
 */
export function normalizeAction(input: unknown): NormalizedAction {
  if (typeof input !== 'string') throw new ActionError(`An action is text; got ${input === null ? 'null' : typeof input}.`);
  const text = input.normalize('NFC').replace(/\s+/gu, ' ').trim();
  if (!text) throw new ActionError('The action is empty: type what should happen, e.g. "push the red block left".');
  const points = Array.from(text);
  if (points.length <= MAX_ACTION_CHARS) return { text, truncated: false, removedChars: 0 };
  return { text: points.slice(0, MAX_ACTION_CHARS).join('').trimEnd(), truncated: true, removedChars: points.length - MAX_ACTION_CHARS };
}

/** An action with more word pieces than the action encoder reads: what it reads, and what it leaves out. */
export interface ActionCut {
  /** Word pieces the encoder reads (the bundle's `actionEncoder.maxTokens`, less its start and end markers). */
  readPieces: number;
  /** Word pieces the action has. */
  pieces: number;
  /** The words read whole, from the start. */
  kept: string;
  /** The words after them, left out (a word cut inside counts here: only its first pieces are read). */
  dropped: string;
}

/**
 * Where the action encoder's budget of `budget` word pieces cuts an action: the longest run of whole
 * words from the start whose pieces fit, and the rest. `countPieces(s)` counts the word pieces of `s`
 * as the encoder's tokenizer does (no start or end markers); adding words never lowers it, so the cut
 * is found in a few counts (a binary search over the words). Null when the whole action is read.
 */
export function cutAtWordPieces(text: string, budget: number, countPieces: (s: string) => number): ActionCut | null {
  const pieces = countPieces(text);
  if (pieces <= budget) return null;
  const words = [...text.matchAll(/\S+/gu)].map((m) => ({ start: m.index, end: m.index + m[0].length }));
  const prefix = (k: number) => (k ? text.slice(0, words[k - 1].end) : '');
  // The largest k < words.length whose first k words fit (the whole text does not).
  let lo = 0;
  let hi = words.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (countPieces(prefix(mid)) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return { readPieces: budget, pieces, kept: prefix(lo), dropped: text.slice(words[lo].start) };
}

/** What a page says about a cut action, e.g. `Only the first 14 word pieces are read: "…over to the left" was left out.` */
export function cutNotice(cut: ActionCut): string {
  return `Only the first ${cut.readPieces} word pieces are read: "…${cut.dropped}" was left out.`;
}

export interface QueuedAction {
  id: number;
  text: string;
}

/** First in, first out; each finished chunk takes one action, or the idle one. */
export class ActionQueue {
  private items: QueuedAction[] = [];
  private nextId = 1;

  get length(): number {
    return this.items.length;
  }

  push(text: string): QueuedAction {
    if (this.items.length >= MAX_QUEUED_ACTIONS) {
      throw new ActionError(`${MAX_QUEUED_ACTIONS} actions are already waiting; wait for some to play before adding more.`);
    }
    const item = { id: this.nextId++, text };
    this.items.push(item);
    return item;
  }

  shift(): QueuedAction | undefined {
    return this.items.shift();
  }

  /** Put an action back at the front (its phase failed before it was used). */
  unshift(item: QueuedAction): void {
    this.items.unshift(item);
  }

  peek(): readonly QueuedAction[] {
    return this.items;
  }

  clear(): void {
    this.items = [];
  }

  clone(): ActionQueue {
    const q = new ActionQueue();
    q.items = [...this.items];
    q.nextId = this.nextId;
    return q;
  }
}
