/**
 * Where the action encoder's budget of word pieces cuts an action: computed in the conditioning
 * worker (it holds the tokenizer), reported with each encoding (`TextEncoding.cut`), and said by
 * the page (`cutNotice`, src/runtime/actions.ts). Pure logic: no tokenizer here, it is passed in.
 */

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
