/**
 * A world that holds still when nobody acts (`manifest.world.stillWhenIdle`): once the chunk on screen
 * has settled, the player runs no phase and the canvas holds the last frame made; an action resumes
 * from the boundary after the chunk on screen, on screen after the same two phases as on a running
 * page. A world that is not still keeps generating. A real Session, Player and Renderer on a fake
 * engine whose phases take virtual time (fake-world.ts).
 */
import { describe, expect, it, vi } from 'vitest';

import type { ShownFrame } from '../../src/render/renderer';
import { SessionView } from '../../src/widget/session-view';
import { F, FPS, type FakeWorldOptions, IDLE, type PhaseRun, advanceUntil, fakeSession, fakeWorld, recordingCanvas } from './fake-world';
import { useVirtualDisplayTime } from './virtual-display';

const PHASE_MS = 100;
const chunkMs = (F * 1000) / FPS;
const frameMs = 1000 / 60;
const STILL = { stillWhenIdle: true, settleChunks: 2 };
const ACTION = 'push the red block left';

function start(world?: FakeWorldOptions['world']) {
  const { world: w, phases } = fakeWorld({ world, phaseMs: PHASE_MS });
  const session = fakeSession(w);
  const { canvas, drawn } = recordingCanvas();
  const view = new SessionView(canvas, session);
  const shown: ShownFrame[] = [];
  const holds: boolean[] = [];
  view.onFrame = (f) => shown.push(f);
  view.player.onHold = (h) => holds.push(h);
  view.player.play();
  return { world: w, session, view, shown, phases, drawn, holds };
}

/** Phases of this session (its window keys start with its id). */
const phasesOf = (phases: PhaseRun[], id: string) => phases.filter((p) => p.windowKey.startsWith(`${id}.`));

/** Idle 10 s, then act: when the action's first frame is on screen, and how many phases ran between. */
async function actAfterIdling(world?: FakeWorldOptions['world']) {
  const t = start(world);
  await vi.advanceTimersByTimeAsync(10_000);
  const holdingAtAct = t.view.player.holding;
  const onScreen = t.view.lastShown;
  const actedAt = performance.now();
  const r = t.view.act(ACTION);
  await advanceUntil(() => t.shown.some((f) => f.action === ACTION), 5_000);
  const first = t.shown.find((f) => f.action === ACTION)!;
  return {
    ...t,
    r,
    onScreen,
    holdingAtAct,
    first,
    latencyMs: first.at - actedAt,
    // (the phase after them starts as the first frame is drawn: it makes room on screen)
    phasesToScreen: t.phases.filter((p) => p.at >= actedAt && p.at < first.at).length,
  };
}

useVirtualDisplayTime();

describe('a still world, idle', () => {
  it('stops generating once the chunk on screen has settled, and holds its last frame', async () => {
    const { session, view, phases, drawn, holds, shown } = start(STILL);
    const heldAfterMs = await advanceUntil(() => view.player.holding);
    expect(view.player.holding).toBe(true);
    // Settled: the chunk on screen and the one before it (beside which it was denoised) are idle ones.
    const onScreen = view.lastShown;
    expect(onScreen).toBeGreaterThanOrEqual(STILL.settleChunks - 1);
    expect(session.log.filter((e) => e.chunk >= onScreen - STILL.settleChunks + 1).map((e) => e.action)).toEqual([IDLE, IDLE, IDLE]);
    // The frames made played out, and the last frame of the chunk on screen stays on the canvas.
    expect(view.renderer.buffered).toBe(0);
    expect(session.lastFinished).toBe(onScreen);
    expect(shown.at(-1)).toMatchObject({ chunk: onScreen, frame: F - 1 });
    expect(drawn.at(-1)).toBe(onScreen + 1);
    // Soon: two phases start the window, then the settled chunks show.
    expect(heldAfterMs).toBeLessThanOrEqual(2 * PHASE_MS + STILL.settleChunks * chunkMs + 4 * frameMs);

    const [phasesAtHold, drawnAtHold] = [phases.length, drawn.length];
    await vi.advanceTimersByTimeAsync(60_000);
    expect(phases.length).toBe(phasesAtHold); // no phase: no backbone turn, no decoder call
    expect(drawn.length).toBe(drawnAtHold); // and nothing drawn
    expect(view.player.holding).toBe(true);
    expect(holds).toEqual([true]);
    view.player.pause();
  });

  it('shows an action after the same two phases as a running page, conditioning the chunk after the one on screen', async () => {
    const running = await actAfterIdling(undefined); // a bundle made before the world block: generating all along
    running.view.player.pause();
    const held = await actAfterIdling(STILL);
    expect(running.holdingAtAct).toBe(false);
    expect(held.holdingAtAct).toBe(true);
    for (const t of [running, held]) {
      expect(t.r.chunk).toBe(t.onScreen + 1);
      expect(t.first).toMatchObject({ chunk: t.onScreen + 1, frame: 0 });
      // the screen showed every chunk once, in order
      const starts = t.shown.filter((f) => f.frame === 0).map((f) => f.chunk);
      expect(starts).toEqual(starts.map((_, i) => i));
    }
    expect(held.phasesToScreen).toBe(2);
    expect(held.phasesToScreen).toBe(running.phasesToScreen);
    // Holding, nothing of the chunk on screen is left to show: two phases and the animation frame that draws it.
    expect(held.latencyMs).toBeLessThanOrEqual(2 * PHASE_MS + 2 * frameMs);
    expect(running.latencyMs).toBeLessThanOrEqual(chunkMs + 2 * PHASE_MS + 2 * frameMs);
    // The chunk on screen was made again to the same frames, and not shown twice.
    expect(held.session.history.map((c) => c.index)).toEqual(held.session.history.map((_, i) => i));

    // After the action it settles again, on a chunk drawn beside no motion, and generates nothing more.
    await advanceUntil(() => held.view.player.holding, 10_000);
    expect(held.view.player.holding).toBe(true);
    expect(held.view.lastShown).toBeGreaterThanOrEqual(held.r.chunk + STILL.settleChunks);
    const n = held.phases.length;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(held.phases.length).toBe(n);
    expect(held.holds).toEqual([true, false, true]);
    held.view.player.pause();
  });

  it.each([
    ['says it is not still', { stillWhenIdle: false, settleChunks: 2 }],
    ['has no world block', undefined],
  ])('a world that %s keeps generating, paced by the display', async (_, world) => {
    const { view, phases, holds, shown } = start(world);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(holds).toEqual([]);
    const shownChunks = shown.length / F;
    expect(shownChunks).toBeGreaterThanOrEqual((60_000 - 2 * PHASE_MS) / chunkMs - 2);
    expect(phases.length).toBeGreaterThanOrEqual(shownChunks);
    expect(phases.length).toBeLessThanOrEqual(shownChunks + 3);
    view.player.pause();
  });
});

describe('a still world: pause, reset, forks and pinned actions as before', () => {
  it('pause ends a hold; play holds again without generating', async () => {
    const { view, phases, holds } = start(STILL);
    await advanceUntil(() => view.player.holding);
    const n = phases.length;
    view.player.pause();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(view.player.holding).toBe(false);
    view.player.play();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(view.player.holding).toBe(true);
    expect(phases.length).toBe(n);
    expect(holds).toEqual([true, false, true]);
    view.player.pause();
  });

  it('reset while holding plays the start again, then holds', async () => {
    const { session, view, phases, shown } = start(STILL);
    await advanceUntil(() => view.player.holding);
    const n = phases.length;
    const shownBefore = shown.length;
    view.reset();
    await vi.advanceTimersByTimeAsync(50);
    expect(view.player.holding).toBe(false);
    await advanceUntil(() => view.player.holding);
    expect(view.player.holding).toBe(true);
    expect(phases.length).toBeGreaterThan(n);
    expect(shown.slice(shownBefore).filter((f) => f.frame === 0).map((f) => f.chunk)).toEqual([0, 1]);
    expect(session.log[0]).toMatchObject({ chunk: 0, action: IDLE });
    view.player.pause();
  });

  it('a fork of a holding session holds too, acts on its own, and leaves its parent held', async () => {
    const { world, session, view, phases } = start(STILL);
    await advanceUntil(() => view.player.holding);
    const parentPhases = phasesOf(phases, session.id).length;
    const branch = await session.fork();
    const other = new SessionView(recordingCanvas().canvas, branch);
    const shown: ShownFrame[] = [];
    other.onFrame = (f) => shown.push(f);
    other.player.play();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(other.player.holding).toBe(true); // nothing to do: its frame on screen is the parent's settled one
    expect(phasesOf(phases, branch.id)).toEqual([]);
    const r = other.act(ACTION);
    await advanceUntil(() => shown.some((f) => f.action === ACTION), 5_000);
    expect(shown.find((f) => f.action === ACTION)!.chunk).toBe(r.chunk);
    expect(branch.log.filter((e) => e.action !== IDLE)).toEqual([{ chunk: r.chunk, action: ACTION, id: r.id, idle: false }]);
    // the parent still holds: no phase of its own, no action in its log
    expect(view.player.holding).toBe(true);
    expect(phasesOf(phases, session.id).length).toBe(parentPhases);
    expect(session.log.every((e) => e.action === IDLE)).toBe(true);
    expect(world).toBe(branch.world);
    view.player.pause();
    other.player.pause();
  });

  it('a pinned action (a share link replayed) plays before the world holds', async () => {
    const { session, view, shown } = start(STILL);
    session.actAt(6, ACTION);
    await advanceUntil(() => view.player.holding, 20_000);
    expect(shown.find((f) => f.action === ACTION)).toMatchObject({ chunk: 6, frame: 0 });
    expect(session.log.filter((e) => e.action !== IDLE)).toEqual([{ chunk: 6, action: ACTION, id: null, idle: false }]);
    expect(view.lastShown).toBeGreaterThanOrEqual(6 + STILL.settleChunks);
    view.player.pause();
  });

  it('an action queued on the session itself (not through a view) wakes the player', async () => {
    const { session, view, shown } = start(STILL);
    await advanceUntil(() => view.player.holding);
    const r = session.act(ACTION);
    await advanceUntil(() => shown.some((f) => f.action === ACTION), 5_000);
    expect(shown.find((f) => f.action === ACTION)!.chunk).toBe(r.chunk);
    view.player.pause();
  });
});
