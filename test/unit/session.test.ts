/**
 * A session's action record, read from its own events: when a phase ends,
 * its action is in the log and no longer upcoming (the Actions list reads
 * both in the 'chunk' listener and showed it twice). A fake SessionHost
 * (fake-world.ts) answers its calls at once.
 */
import { describe, expect, it } from 'vitest';

import { fakeSession, fakeWorld } from './fake-world';

describe('Session record', () => {
  it("an action is in the log or upcoming, never both, when the phase's events fire", async () => {
    const s = fakeSession(fakeWorld({ phaseMs: 0 }).world);
    const seen: string[][] = [];
    const record = () => seen.push([...s.log.filter((e) => e.id !== null).map((e) => `${e.chunk}:${e.action}`), ...s.upcoming.map((u) => `${u.chunk}:${u.text}`)]);
    s.addEventListener('action', record);
    s.addEventListener('chunk', record);
    s.act('push the red block left');
    s.act('dim the lights');
    for (let i = 0; i < 4; i++) await s.step();
    expect(seen.length).toBeGreaterThan(0);
    for (const list of seen) expect(new Set(list).size, list.join(', ')).toBe(list.length);
    expect(s.log.filter((e) => e.id !== null).map((e) => e.action)).toEqual(['push the red block left', 'dim the lights']);
  });
});

describe('the action log', () => {
  it('marks filler: the idle action nobody typed, never a typed "wait" or a pinned action', async () => {
    const s = fakeSession(fakeWorld({ phaseMs: 0 }).world);
    s.act('push the red block left');
    s.act('wait'); // typed: someone's action, though it is the idle one's text
    s.actAt(3, 'dim the lights');
    for (let i = 0; i < 5; i++) await s.step();
    expect(s.log.map((e) => [e.chunk, e.action, e.idle])).toEqual([
      [0, 'push the red block left', false],
      [1, 'wait', false],
      [2, 'wait', true],
      [3, 'dim the lights', false],
      [4, 'wait', true],
    ]);
    s.act('slide the blue one up');
    expect(s.upcoming.map((u) => [u.chunk, u.text, u.idle])).toEqual([[5, 'slide the blue one up', false]]);
  });
});
