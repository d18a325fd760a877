/**
 * An action typed while idle chunks wait ahead of the screen: the session takes them back
 * (`Session.takeBackIdle`), so the action conditions the chunk right after the one on screen, and
 * the screen never shows a chunk twice or skips one. A real Session, Player and Renderer on a fake
 * engine whose phases take virtual time; requestAnimationFrame, timers and performance.now are faked.
 */
import { describe, expect, it, vi } from 'vitest';

import { Renderer, type ShownFrame } from '../../src/render/renderer';
import { cutNotice } from '../../src/runtime/actions';
import { SessionView } from '../../src/widget/session-view';
import { F, FPS, IDLE, fakeSession, fakeWorld } from './fake-world';
import { fakeCanvas, useVirtualDisplayTime } from './virtual-display';

const PHASE_MS = 100; // generation far faster than the display, as on a GPU

function start() {
  const session = fakeSession(fakeWorld({ phaseMs: PHASE_MS }).world);
  const view = new SessionView(fakeCanvas(), session);
  const shown: ShownFrame[] = [];
  view.onFrame = (f) => shown.push(f);
  view.player.play();
  return { session, view, shown };
}

useVirtualDisplayTime();

const chunkMs = (F * 1000) / FPS;

describe('an action after idling', () => {
  it('conditions the chunk right after the one on screen, and is on screen within a chunk and two phases', async () => {
    const { session, view, shown } = start();
    await vi.advanceTimersByTimeAsync(10_000);
    const onScreen = view.lastShown;
    expect(session.lastFinished).toBeGreaterThan(onScreen); // idle chunks were made ahead of the screen
    const actedAt = performance.now();
    const r = view.act('push the red block left');
    expect(r.chunk).toBe(onScreen + 1);
    await vi.advanceTimersByTimeAsync(3_000);
    const first = shown.find((f) => f.action === 'push the red block left')!;
    expect(first).toMatchObject({ chunk: onScreen + 1, frame: 0 });
    // the rest of the chunk on screen, then two phases at most (the taken-back window is made again)
    expect(first.at - actedAt).toBeLessThanOrEqual(chunkMs + 2 * PHASE_MS + 2 * (1000 / 60));
    // the screen shows every chunk once, in order, four frames each
    const starts = shown.filter((f) => f.frame === 0).map((f) => f.chunk);
    expect(starts).toEqual(starts.map((_, i) => i));
    expect(session.log.filter((e) => e.action !== IDLE)).toEqual([{ chunk: onScreen + 1, action: 'push the red block left', id: r.id, idle: false }]);
    expect(session.history.map((c) => c.index)).toEqual(session.history.map((_, i) => i));
    view.player.pause();
  });

  it('takes nothing back when an action is among the chunks ahead of the screen', async () => {
    const { session, view, shown } = start();
    await vi.advanceTimersByTimeAsync(5_000);
    const a = view.act('push the red block left');
    await vi.advanceTimersByTimeAsync(PHASE_MS * 2); // its chunk is in the window, not on screen yet
    expect(view.lastShown).toBeLessThan(a.chunk);
    const b = view.act('dim the lights');
    expect(b.chunk).toBeGreaterThan(a.chunk);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(session.log.filter((e) => e.action !== IDLE).map((e) => [e.chunk, e.action])).toEqual([
      [a.chunk, 'push the red block left'],
      [b.chunk, 'dim the lights'],
    ]);
    const starts = shown.filter((f) => f.frame === 0).map((f) => f.chunk);
    expect(starts).toEqual(starts.map((_, i) => i));
    view.player.pause();
  });

  it('a refused action takes nothing back', async () => {
    const { session, view } = start();
    await vi.advanceTimersByTimeAsync(5_000);
    const finished = session.lastFinished;
    expect(() => view.act('   ')).toThrow(/empty/);
    expect(session.lastFinished).toBeGreaterThanOrEqual(finished);
    view.player.pause();
  });
});

describe('an action longer than the encoder reads', () => {
  it('says which words were left out, when queued and when shown', async () => {
    const { view, shown } = start(); // the fake encoder reads 6 word pieces, one per word
    await vi.advanceTimersByTimeAsync(2_000);
    const long = 'please push the red block over to the far left';
    const r = view.act(long);
    const cut = await view.cutOf(r);
    expect(cut).toEqual({ readPieces: 6, pieces: 10, kept: 'please push the red block over', dropped: 'to the far left' });
    expect(cutNotice(cut!)).toBe('Only the first 6 word pieces are read: "…to the far left" was left out.');
    const short = view.act('dim the lights');
    expect(await view.cutOf(short)).toBeNull();
    let acted: unknown[] = [];
    view.onFrame = (f, s) => {
      shown.push(f);
      if (s?.acted) acted = [...acted, { text: s.acted.receipt.text, cut: s.acted.cut }];
    };
    await vi.advanceTimersByTimeAsync(3_000);
    expect(acted).toEqual([
      { text: long, cut },
      { text: 'dim the lights', cut: null },
    ]);
    view.player.pause();
  });
});

describe('Renderer.dropAfter', () => {
  it('drops the waiting frames of later chunks only', () => {
    const r = new Renderer(fakeCanvas(), 1, 1, FPS);
    const chunk = (index: number) => ({ index, action: IDLE, rgba: new Uint8ClampedArray(F * 4), frameCount: F, width: 1, height: 1 }) as never;
    r.push(chunk(3));
    r.push(chunk(4));
    r.dropAfter(3);
    expect(r.buffered).toBe(F);
  });
});
