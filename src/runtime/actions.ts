/**
 * Actions as the user types them: checked, normalised, and cut visibly when
 * too long. Pure logic (no GPU, no DOM).
 */
import type { ActionCut } from '../../workers/action-cut';
import { ActionError } from '../base/errors';

export type { ActionCut } from '../../workers/action-cut';

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
