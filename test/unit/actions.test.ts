import { describe, expect, it } from 'vitest';

import { ActionQueue, MAX_ACTION_CHARS, MAX_QUEUED_ACTIONS, cutNotice, normalizeAction } from '../../src/runtime/actions';
import { cutAtWordPieces } from '../../workers/action-cut';
import { ActionError } from '../../src/base/errors';

describe('normalizeAction', () => {
  it.each(['', '   ', '\n\t  \u00a0'])('refuses empty input %j', (s) => {
    expect(() => normalizeAction(s)).toThrow(ActionError);
  });

  it('refuses what is not text', () => {
    expect(() => normalizeAction(42)).toThrow(/is text; got number/);
    expect(() => normalizeAction(null)).toThrow(/got null/);
  });

  it('trims and collapses whitespace', () => {
    expect(normalizeAction('  push   the red\nblock  ')).toEqual({ text: 'push the red block', truncated: false, removedChars: 0 });
  });

  it('cuts 10,000 characters to the limit, visibly', () => {
    const r = normalizeAction('a'.repeat(10_000));
    expect(r.truncated).toBe(true);
    expect(r.text.length).toBe(MAX_ACTION_CHARS);
    expect(r.removedChars).toBe(10_000 - MAX_ACTION_CHARS);
  });

  it('never splits an emoji when cutting', () => {
    const r = normalizeAction('🧱'.repeat(MAX_ACTION_CHARS + 5));
    expect(Array.from(r.text).length).toBe(MAX_ACTION_CHARS);
    expect(r.text).toBe('🧱'.repeat(MAX_ACTION_CHARS));
  });

  it('keeps right-to-left text and markup as plain text', () => {
    expect(normalizeAction('ادفع المكعب الأحمر').text).toBe('ادفع المكعب الأحمر');
    expect(normalizeAction('<script>alert(1)</script> push').text).toBe('<script>alert(1)</script> push');
  });

  it('normalises Unicode so equal-looking text is equal', () => {
    expect(normalizeAction('cafe\u0301').text).toBe('caf\u00e9');
  });
});

describe('ActionQueue', () => {
  it('keeps 100 rapid actions in order, none dropped', () => {
    const q = new ActionQueue();
    for (let i = 0; i < 100; i++) q.push(`move ${i}`);
    const out: string[] = [];
    for (let a = q.shift(); a; a = q.shift()) out.push(a.text);
    expect(out).toEqual(Array.from({ length: 100 }, (_, i) => `move ${i}`));
  });

  it('refuses with a message when full, rather than dropping', () => {
    const q = new ActionQueue();
    for (let i = 0; i < MAX_QUEUED_ACTIONS; i++) q.push('wait');
    expect(() => q.push('one more')).toThrow(ActionError);
    expect(q.length).toBe(MAX_QUEUED_ACTIONS);
  });

  it('clones independently (forks)', () => {
    const q = new ActionQueue();
    q.push('a');
    const c = q.clone();
    c.push('b');
    expect(q.length).toBe(1);
    expect(c.length).toBe(2);
    expect(c.push('c').id).toBe(3); // ids continue from the original's
  });
});

describe('cutAtWordPieces', () => {
  // A tokenizer's count: one piece per word, a word of more than 6 letters two ("left" + "##wards"),
  // punctuation a piece of its own.
  const calls: string[] = [];
  const pieces = (s: string) => {
    calls.push(s);
    return s.split(/\s+/).filter(Boolean).reduce((n, w) => n + (w.replace(/[^a-z]/g, '').length > 6 ? 2 : 1) + (/[^a-z]/.test(w) ? 1 : 0), 0);
  };

  it('is null when the encoder reads every piece', () => {
    expect(cutAtWordPieces('push the red block left', 6, pieces)).toBeNull();
    expect(cutAtWordPieces('push the red block to left', 6, pieces)).toBeNull();
  });

  it('keeps the whole words that fit and names the rest', () => {
    const text = 'please push the red block over to the far left';
    expect(cutAtWordPieces(text, 6, pieces)).toEqual({ readPieces: 6, pieces: 10, kept: 'please push the red block over', dropped: 'to the far left' });
  });

  it('counts a word cut inside its pieces as left out', () => {
    // "leftwards" is two pieces; only its first fits
    expect(cutAtWordPieces('push the red block leftwards', 5, pieces)).toMatchObject({ kept: 'push the red block', dropped: 'leftwards' });
    // punctuation: "block," is two pieces
    expect(cutAtWordPieces('push the red block, slowly', 4, pieces)).toMatchObject({ kept: 'push the red', dropped: 'block, slowly' });
  });

  it('leaves out everything when the first word alone is too long', () => {
    const text = 'supercalifragilistic push';
    expect(cutAtWordPieces(text, 1, pieces)).toMatchObject({ kept: '', dropped: text });
  });

  it('splits the text exactly, and counts few prefixes', () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i % 10}x`);
    const text = words.join(' ');
    calls.length = 0;
    const cut = cutAtWordPieces(text, 14, pieces)!;
    expect(`${cut.kept} ${cut.dropped}`).toBe(text);
    expect(cut.kept.split(' ')).toHaveLength(7); // "w0x" is two pieces here (its digit counts as one)
    expect(calls.length).toBeLessThanOrEqual(1 + Math.ceil(Math.log2(40)));
  });

  it('says so in a sentence a page can show', () => {
    const cut = cutAtWordPieces('slide the blue ball a long way over to the left', 6, pieces)!;
    expect(cutNotice(cut)).toBe('Only the first 6 word pieces are read: "…way over to the left" was left out.');
  });
});

describe('cutAtWordPieces with the shipped tokenizer', () => {
  it('cuts where the action encoder does, counting as the conditioning worker counts', async () => {
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = new URL('../../public/models/tabletop/', import.meta.url).pathname;
    const tokenizer = await AutoTokenizer.from_pretrained('text-encoder', { local_files_only: true });
    // As workers/conditioning.ts: the pieces of a text are its tokens less [CLS] and [SEP].
    const pieces = (s: string) => tokenizer.encode(s).length - 2;
    // The tiny bundle reads 8 tokens: 6 word pieces.
    expect(cutAtWordPieces('please push the red block over to the far left', 6, pieces)).toEqual({
      readPieces: 6,
      pieces: 10,
      kept: 'please push the red block over',
      dropped: 'to the far left',
    });
    // "leftwards" is three pieces (left ##ward ##s): cut inside, it is left out whole.
    expect(cutAtWordPieces('push the red block leftwards', 5, pieces)).toMatchObject({ kept: 'push the red block', dropped: 'leftwards' });
    // The default model reads 16 tokens: 14 word pieces.
    const polite = 'could you please be so kind as to push the red block over to the left';
    expect(cutAtWordPieces(polite, 14, pieces)).toMatchObject({ kept: 'could you please be so kind as to push the red block over to', dropped: 'the left' });
    expect(cutAtWordPieces('push the red block to the left', 14, pieces)).toBeNull();
  });
});
