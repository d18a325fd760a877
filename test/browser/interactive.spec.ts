/**
 * Interactive however long the page has been open: the demo and the element,
 * opened with no options (the shipped model, the backend picked for this
 * machine), idle for 30 s, then take an action. Generation is paced by the
 * display, so nothing piles up while idling and the action's first frame is
 * on screen within a few chunks' time, measured in the same run. The shipped
 * world holds still when nobody acts: once it has settled the page holds its
 * frame, and no worker call (no backbone turn, no decoder call) runs until
 * the action.
 *
 * The bound: the idle chunks made ahead of the screen are taken back, so the
 * action conditions the chunk right after the one on screen. It waits for the
 * phase in flight if any (cancelled, but a worker call cannot be stopped; a
 * page holding still has none), then two phases make its chunk, while the
 * display shows the rest of the chunk on screen (none, holding still): it is
 * on screen within the longer of three phases (measured: each
 * phase's wall time) and showing one chunk (F frames at the bundle's fps),
 * plus two frame periods for the animation frames that draw it.
 */
import { type CDPSession, type Page, expect, test } from '@playwright/test';

const IDLE_MS = 30_000;

/** The page's JS heap and the array buffers it holds (frames live in typed arrays), after a GC, in MB. */
async function heapMB(cdp: CDPSession): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize, backingStorageSize } = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize: number };
  return (usedSize + backingStorageSize) / 1e6;
}

const stats = (page: Page) => page.evaluate(() => (window as any).worldCanvasStats);

/** Record every worker call the page's World makes from now on (method and performance.now()) in `window.workerCalls`. */
async function recordWorkerCalls(page: Page, of: 'demo' | 'element'): Promise<void> {
  await page.evaluate((of) => {
    const w = of === 'demo' ? (window as any).worldCanvasDemo.world : (document.getElementById('world') as any).world;
    const calls: { method: string; at: number }[] = [];
    (window as any).workerCalls = calls;
    const run = w.run.bind(w);
    w.run = (worker: string, method: string, f: unknown) => {
      calls.push({ method: `${worker}.${method}`, at: performance.now() });
      return run(worker, method, f);
    };
  }, of);
}

/** Worker calls recorded at or after `since` (performance.now()). */
const workerCallsSince = (page: Page, since: number) =>
  page.evaluate((since) => ((window as any).workerCalls as { method: string; at: number }[]).filter((c) => c.at >= since).map((c) => c.method), since);

test('the demo, idle for 30 s with no options, holds still with no worker call, then shows an action after the chunk on screen and three phases', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Record, for each action in the list, whether its chunk was on screen when it stopped being "pending".
  await page.addInitScript(() => {
    const early: string[] = [];
    (window as any).unpendedEarly = early;
    new MutationObserver((records) => {
      for (const r of records) {
        const li = r.target as HTMLElement;
        if (li.tagName !== 'LI' || !r.oldValue?.includes('pending') || li.classList.contains('pending')) continue;
        const branch = (window as any).worldCanvasDemo?.demo.active;
        if (branch && branch.lastShown < Number(li.dataset.chunk)) early.push(`${li.textContent} (chunk ${li.dataset.chunk}, shown ${branch.lastShown})`);
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['class'], attributeOldValue: true });
  });
  const t0 = Date.now();
  await page.goto('/');
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 240_000 });
  const readyS = (Date.now() - t0) / 1000;
  const backend = await page.locator('#backend').getAttribute('data-backend');
  const notice = await page.locator('#notice').textContent();
  const m = await page.evaluate(() => (window as any).worldCanvasDemo.world.manifest.video);
  const F: number = m.chunkFrames;
  const chunkShowMs = (F * 1000) / m.fps;

  // Idle: nothing piles up, generation keeps pace with what is shown, memory stays flat; the world
  // settles and the page holds its frame, with no worker call until the action.
  await recordWorkerCalls(page, 'demo');
  const cdp = await page.context().newCDPSession(page);
  await page.waitForTimeout(5_000);
  const heapStart = await heapMB(cdp);
  const s0 = await stats(page);
  let maxBuffered = 0;
  for (let t = 5_000; t < IDLE_MS; t += 1_000) {
    await page.waitForTimeout(1_000);
    maxBuffered = Math.max(maxBuffered, (await stats(page)).buffered);
  }
  const s1 = await stats(page);
  const heapEnd = await heapMB(cdp);
  expect(s1.holding, 'the still world holds its frame after 30 s of idling').toBe(true);
  const heldForS = (await page.evaluate(() => performance.now()) - s1.heldAt) / 1000;
  const callsWhileHolding = await workerCallsSince(page, s1.heldAt);
  const chunksIdle = (s1.framesMade - s0.framesMade) / F;
  const chunksShownIdle = (s1.framesShown - s0.framesShown) / F;
  // What a session keeps per chunk, bounded by its limits: the timeline's RGBA, and a boundary
  // state for instant forks (the backbone's KV cache is most of it).
  const kept = await page.evaluate(() => {
    const s = (window as any).worldCanvasDemo.session;
    const b = s.boundary;
    const bytes = (a: any): number => (a instanceof Float32Array ? a.byteLength : a && typeof a === 'object' ? Object.values(a).reduce((n: number, v) => n + bytes(v), 0) : 0);
    return { snapshotMB: bytes(b) / 1e6, rgbaMB: s.history.at(-1).rgba.byteLength / 1e6, snapshotLimit: s.snapshotLimit, historyLimit: s.historyLimit };
  });
  const keptPerChunkMB = kept.rgbaMB + kept.snapshotMB;
  console.log(
    `[interactive] ${backend}, ready in ${readyS.toFixed(1)} s; idle ${IDLE_MS / 1000} s: made ${s1.framesMade} frames, shown ${s1.framesShown}, ` +
      `at most ${maxBuffered} waiting; held still for the last ${heldForS.toFixed(1)} s with ${callsWhileHolding.length} worker calls; ` +
      `heap ${heapStart.toFixed(1)} -> ${heapEnd.toFixed(1)} MB over ${chunksIdle} chunks made, ${chunksShownIdle} shown ` +
      `(kept per chunk ${keptPerChunkMB.toFixed(2)} MB, up to ${kept.snapshotLimit} snapshots); readout "${await page.locator('#readout').textContent()}"`,
  );
  expect(callsWhileHolding, 'no worker call (no decoder call) while the page held still').toEqual([]);
  expect(maxBuffered).toBeLessThanOrEqual(2 * F - 1); // the rest of the chunk on screen and one chunk behind it
  expect(s1.framesMade - s1.framesShown).toBeLessThanOrEqual(2 * F);
  // Memory grows only by what is kept for the chunks shown (and the one chunk ahead), not by a backlog.
  expect(heapEnd - heapStart).toBeLessThan((chunksShownIdle + 2) * keptPerChunkMB + 2);
  await expect(page.locator('#readout')).toContainText(/^holding still at chunk \d+: nothing changes until you act/);

  // The action after idling: it conditions the chunk right after the one on screen.
  await page.fill('#action', 'push the yellow cube left');
  const onScreen = await page.evaluate(() => (window as any).worldCanvasDemo.demo.active.lastShown);
  await page.press('#action', 'Enter');
  const li = page.locator('#history li', { hasText: 'push the yellow cube left' });
  await expect(li).toHaveClass(/pending/);
  const chunk = Number(await li.getAttribute('data-chunk'));
  expect(chunk - onScreen, 'chunks between the one on screen and the action').toBeGreaterThanOrEqual(1);
  expect(chunk - onScreen).toBeLessThanOrEqual(2); // 1, or 2 when the next chunk reached the screen between the two reads
  await expect.poll(async () => (await stats(page)).shown.map((x: any) => x.chunk), { timeout: 120_000 }).toContain(chunk);
  await expect(li).not.toHaveClass(/pending/);
  const s2 = await stats(page);
  const latency = s2.shown.find((x: any) => x.chunk === chunk).latencyMs as number;
  const phases: number[] = s2.phaseMs.slice(-6); // the phases around the action (and before it)
  const bound = Math.max(chunkShowMs, 3 * Math.max(...phases)) + (2 * 1000) / m.fps;
  console.log(
    `[interactive] action -> first frame on screen ${latency.toFixed(0)} ms (bound ${bound.toFixed(0)} ms: ` +
      `phases ${phases.map((x) => x.toFixed(0)).join(' ')} ms, showing a chunk ${chunkShowMs} ms; chunk ${chunk}, ${onScreen} on screen at Enter)`,
  );
  expect(latency).toBeLessThanOrEqual(bound);
  expect(await page.evaluate(() => (window as any).unpendedEarly)).toEqual([]);
  expect(s2.errors).toEqual([]);
  expect(errors).toEqual([]);
  // The notice says why the page runs on the CPU, and says it only then.
  expect(notice?.includes('running on the CPU (WASM)'), `backend ${backend}, notice "${notice}"`).toBe(backend === 'wasm');
});

test('the element, idle for 30 s with no options, holds still with no worker call, then shows an action after the chunk on screen and three phases', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(() => {
    const log: { type: string; at: number; detail: any }[] = [];
    (window as any).elementLog = log;
    customElements.whenDefined('world-canvas').then(() => {
      const el = document.getElementById('world')!;
      for (const type of ['ready', 'frame', 'action', 'shown', 'hold', 'error']) {
        el.addEventListener(type, (e) => log.push({ type, at: performance.now(), detail: (e as CustomEvent).detail }));
      }
    });
  });
  const t0 = Date.now();
  await page.goto('/embed.html');
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 240_000 });
  const readyS = (Date.now() - t0) / 1000;
  const log = () => page.evaluate(() => (window as any).elementLog as { type: string; at: number; detail: any }[]);
  const m = await page.evaluate(() => (document.getElementById('world') as any).world.manifest.video);
  const F: number = m.chunkFrames;
  const chunkShowMs = (F * 1000) / m.fps;
  await recordWorkerCalls(page, 'element');
  await page.waitForTimeout(IDLE_MS);
  const idle = await page.evaluate(() => {
    const el = document.getElementById('world') as any;
    return { finished: el.session.history.at(-1)?.index ?? -1, holding: el.holding, status: el.shadowRoot.querySelector('[part~="status"]').textContent };
  });
  const holds = (await log()).filter((e) => e.type === 'hold');
  expect(idle.holding, 'the still world holds its frame after 30 s of idling').toBe(true);
  expect(holds.map((e) => e.detail.holding)).toEqual([true]);
  expect(idle.status).toContain('Holding still until the next action.');
  const callsWhileHolding = await workerCallsSince(page, holds[0].at);
  console.log(`[interactive] element held still from chunk ${holds[0].detail.chunk} with ${callsWhileHolding.length} worker calls until the action`);
  expect(callsWhileHolding, 'no worker call (no decoder call) while the element held still').toEqual([]);
  const frames = (await log()).filter((e) => e.type === 'frame');
  const lastShownChunk = frames.at(-1)!.detail.chunk;
  // made no more than one chunk beyond the one on screen (the window's two chunks are not finished)
  expect(idle.finished - lastShownChunk).toBeLessThanOrEqual(1);

  const input = page.locator('world-canvas [part~="input"]');
  await input.fill('push the yellow cube left');
  await input.press('Enter');
  await expect.poll(async () => (await log()).filter((e) => e.type === 'shown').length, { timeout: 120_000 }).toBe(1);
  const all = await log();
  const shown = all.find((e) => e.type === 'shown')!;
  const receipt = all.find((e) => e.type === 'action')!.detail;
  expect(shown.detail).toMatchObject({ id: receipt.id, text: 'push the yellow cube left', chunk: receipt.chunk });
  // "shown" when its first frame is on screen: the frame event just before it is that frame
  const before = all.filter((e) => e.type === 'frame' && e.at <= shown.at).at(-1)!;
  expect(before.detail).toEqual({ chunk: receipt.chunk, frame: 0, action: 'push the yellow cube left' });
  // the chunk right after the one on screen when it was typed (events are logged in the page, in order)
  const acted = all.find((e) => e.type === 'action')!;
  const onScreen = all.filter((e) => e.type === 'frame' && e.at <= acted.at).at(-1)!.detail.chunk;
  expect(receipt.chunk).toBe(onScreen + 1);
  const phases: number[] = await page.evaluate(() => (document.getElementById('world') as any).view.player.phaseMs.slice(-6));
  const bound = Math.max(chunkShowMs, 3 * Math.max(...phases)) + (2 * 1000) / m.fps;
  console.log(
    `[interactive] element on ${(await page.evaluate(() => (document.getElementById('world') as any).info.backend))}, ready in ${readyS.toFixed(1)} s; ` +
      `after ${IDLE_MS / 1000} s idle: action -> first frame on screen ${shown.detail.latencyMs.toFixed(0)} ms (bound ${bound.toFixed(0)} ms: ` +
      `phases ${phases.map((x) => x.toFixed(0)).join(' ')} ms, showing a chunk ${chunkShowMs} ms)`,
  );
  expect(shown.detail.latencyMs).toBeLessThanOrEqual(bound);
  expect(all.filter((e) => e.type === 'error')).toEqual([]);
  expect(errors).toEqual([]);
});
