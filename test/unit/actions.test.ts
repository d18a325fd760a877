import { describe, expect, it } from 'vitest';

import { ActionQueue, MAX_ACTION_CHARS, MAX_QUEUED_ACTIONS, normalizeAction } from '../../src/runtime/actions';
import { ActionError } from '../../src/runtime/errors';

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
