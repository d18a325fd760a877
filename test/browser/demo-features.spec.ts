/**
 * The demo page's features, in real Chromium, with the tiny bundle so each step
 * takes seconds (on WASM: what is tested here is the page, and SwiftShader's
 * software WebGPU is slow; loading on WebGPU, with its progress, badge and
 * notices, is demo.spec.ts): the backend picked, the action bar and its history, quick
 * actions and arrow keys, pause/resume/reset, seeds and share links that
 * replay a rollout exactly, forks side by side with timelines, simulate-then-
 * act, WebM recording, and dropping in your own image. The tiny bundle's world
 * is the tabletop, which holds still when nobody acts: a branch with nothing
 * to do stops after a few chunks, and an action sets it going again.
 */
import { type Page, expect, test } from '@playwright/test';

const TINY = '/?bundle=/build/bundles/tiny/&backend=wasm';

async function open(page: Page, url = TINY) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
  return errors;
}

const stats = (page: Page) => page.evaluate(() => (window as any).worldCanvasStats);

/** Hashes of the frames of finished chunks 0..n-1 of the active session (waits for them). */
async function chunkHashes(page: Page, n: number): Promise<number[]> {
  await page.waitForFunction((n) => (window as any).worldCanvasDemo.session.history.length >= n, n, { timeout: 120_000 });
  return page.evaluate((n) => {
    const h = (window as any).worldCanvasDemo.session.history.slice(0, n);
    return h.map((c: { rgba: Uint8ClampedArray }) => {
      let x = 0;
      for (let i = 0; i < c.rgba.length; i++) x = (x * 31 + c.rgba[i]) | 0;
      return x;
    });
  }, n);
}

test('with no options on a software-only WebGPU adapter, the demo runs on WASM and says why', async ({ page }) => {
  await open(page, '/?bundle=/build/bundles/tiny/');
  await expect(page.locator('#backend')).toHaveAttribute('data-backend', 'wasm');
  await expect(page.locator('#notice')).toContainText('is not a GPU');
  await expect(page.locator('#notice')).toContainText('backend=webgpu');
});

test('an adapter that does not say what it is: both backends are timed and the faster runs', async ({ page }) => {
  // The page's adapter reports no vendor, architecture or description (as a privacy-minded browser may).
  await page.addInitScript(() => {
    const anonymous = { vendor: '', architecture: '', device: '', description: '', isFallbackAdapter: false };
    Object.defineProperty(GPUAdapter.prototype, 'info', { get: () => anonymous });
  });
  await open(page, '/?bundle=/build/bundles/tiny/');
  const notice = page.locator('#notice');
  await expect(notice).toContainText('both backends were timed');
  const [, gpuMs, cpuMs, chosen] = /WebGPU (\d+) ms, WASM (\d+) ms; running on (WebGPU|the CPU \(WASM\))/.exec((await notice.textContent()) ?? '') ?? [];
  expect(chosen, 'the notice gives both times and the choice').toBeTruthy();
  const faster = Number(gpuMs) <= Number(cpuMs) ? 'webgpu' : 'wasm';
  expect(chosen === 'WebGPU' ? 'webgpu' : 'wasm').toBe(faster);
  await expect(page.locator('#backend')).toHaveAttribute('data-backend', faster);
});

test('action bar, history, quick actions, arrow keys, refusals', async ({ page }) => {
  await open(page);
  await page.fill('#action', 'push the red block left');
  await page.press('#action', 'Enter');
  await page.selectOption('#object', 'green ball');
  await page.click('[data-move="up"]');
  await page.click('[data-action="dim the lights"]');
  await page.locator('body').press('ArrowRight');
  await expect(page.locator('#history li')).toHaveText([
    'push the red block left',
    'push the green ball up',
    'dim the lights',
    'push the green ball right',
  ]);
  // an empty action is refused with a message, nothing is queued
  await page.fill('#action', '   ');
  await page.press('#action', 'Enter');
  await expect(page.locator('#action-status')).toHaveClass(/error/);
  await expect(page.locator('#action-status')).toContainText('empty');
  await expect(page.locator('#history li')).toHaveCount(4);
  // markup is shown as text
  await page.fill('#action', '<img src=x onerror="window.pwned=1"> push');
  await page.press('#action', 'Enter');
  await expect(page.locator('#history li').last()).toHaveText('<img src=x onerror="window.pwned=1"> push');
  expect(await page.evaluate(() => (window as any).pwned)).toBeUndefined();
  // an action longer than the encoder reads (the tiny bundle: 8 tokens, 6 word pieces) is queued, and the page says what was left out
  await page.fill('#action', 'please push the red block over to the far left');
  await page.press('#action', 'Enter');
  await expect(page.locator('#action-status')).toHaveText(/^Queued for chunk \d+\. Only the first 6 word pieces are read: "…to the far left" was left out\.$/);
  await expect(page.locator('#action-status')).toHaveClass(/warning/);
  const long = page.locator('#history li').last();
  await expect(long).toHaveText('please push the red block over to the far left'); // the entry reads as typed
  await expect(long.locator('del.dropped')).toHaveText('to the far left'); // with the words left out struck through
  // every queued action reaches the screen in order
  await page.waitForFunction(() => document.querySelectorAll('#history li.pending').length === 0, null, { timeout: 120_000 });
});

test('pause, resume and reset', async ({ page }) => {
  await open(page);
  await expect.poll(async () => (await stats(page)).framesShown).toBeGreaterThan(4);
  await page.click('#play');
  await expect(page.locator('#play')).toHaveText('Resume');
  const paused = (await stats(page)).framesShown;
  await page.waitForTimeout(1500);
  expect((await stats(page)).framesShown).toBeLessThanOrEqual(paused + 1);
  await page.click('#play');
  await expect(page.locator('#play')).toHaveText('Pause');
  // playing again (a still world may hold its frame at once: an action sets it going)
  await page.fill('#action', 'push the red block left');
  await page.press('#action', 'Enter');
  await expect.poll(async () => (await stats(page)).framesShown).toBeGreaterThan(paused + 4);
  await page.fill('#action', 'wait');
  await page.press('#action', 'Enter');
  await page.click('#reset');
  await expect(page.locator('#history li')).toHaveCount(0);
  // back at the start: the rollout begins again at chunk 0, and the queued action is gone
  // (it plays on at once, so how far it has got again is not fixed)
  const after = await page.evaluate(() => {
    const s = (window as any).worldCanvasDemo.session;
    return { first: s.log[0]?.chunk ?? 0, typed: s.log.filter((e: any) => e.id !== null).length + s.queue.length };
  });
  expect(after).toEqual({ first: 0, typed: 0 });
});

test('the same seed and actions replay the same rollout, also from a share link', async ({ page, context }) => {
  await open(page, `${TINY}&seed=5`);
  await page.fill('#action', 'push the red block left');
  await page.press('#action', 'Enter');
  // the link is made once the action is on screen (so it is in the rollout's record)
  const li = page.locator('#history li').first();
  await expect(li).not.toHaveClass(/pending/, { timeout: 120_000 });
  // the action's chunk and the two idle ones a still world settles on: made however soon it holds
  const n = Number(await li.getAttribute('data-chunk')) + 3;
  const first = await chunkHashes(page, n);
  await page.click('#share');
  const link = await page.locator('#share-link').inputValue();
  expect(link).toContain('seed=5');
  expect(JSON.parse(new URL(link).searchParams.get('actions')!)).toEqual([[expect.any(Number), 'push the red block left']]);
  const other = await context.newPage();
  await open(other, `${link.replace(/^https?:\/\/[^/]+/, '')}&backend=wasm`); // same backend: bit-identical frames
  await expect(other.locator('#action-status')).toContainText('Replaying 1 shared action');
  expect(await chunkHashes(other, n)).toEqual(first);
  // a different seed gives a different rollout
  const third = await context.newPage();
  await open(third, `${TINY}&seed=6`);
  expect(await chunkHashes(third, 2)).not.toEqual(first.slice(0, 2));
});

test('forks play side by side; the timeline scrubs back through a branch', async ({ page }) => {
  await open(page);
  await chunkHashes(page, 2);
  await page.locator('.branch').first().locator('.fork').click();
  await expect(page.locator('.branch')).toHaveCount(2);
  await expect(page.locator('.branch').nth(1)).toHaveAttribute('data-active', '');
  await page.fill('#action', 'push the red block right');
  await page.press('#action', 'Enter');
  // Finished chunks' actions, then those not finished yet: the one a phase in flight has taken, then the queue.
  const logs = () =>
    page.evaluate(() => (window as any).worldCanvasDemo.demo.branches.map((b: any) => [...b.session.log.map((e: any) => e.action), ...b.session.upcoming.map((q: any) => q.text)]));
  const [main, fork] = await logs();
  expect(fork).toContain('push the red block right');
  expect(main).not.toContain('push the red block right');
  // the fork plays its action; the main branch, with nothing to do in a still world, holds its frame
  const lengths = () => page.evaluate(() => (window as any).worldCanvasDemo.demo.branches.map((b: any) => b.session.history.length));
  const before = await lengths();
  await expect.poll(async () => (await lengths())[1] > before[1], { timeout: 120_000 }).toBe(true);
  const holding = () => page.evaluate(() => (window as any).worldCanvasDemo.demo.branches.map((b: any) => b.player.holding));
  await expect.poll(async () => (await holding())[0], { timeout: 120_000 }).toBe(true);
  await expect(page.locator('.branch').first().locator('.held')).toBeVisible();
  // scrub the main branch back to its first chunk: it pauses, and the button says so
  const timeline = page.locator('.branch').first().locator('.timeline');
  await timeline.fill('0');
  await expect(page.locator('.branch').first().locator('.chunk-label')).toContainText('chunk 0:');
  await expect(page.locator('.branch').first()).toHaveAttribute('data-active', '');
  await expect(page.locator('#play')).toHaveText('Resume');
  const mainShown = () => page.evaluate(() => (window as any).worldCanvasStats.framesShown); // the active branch's: the main one
  const paused = await mainShown();
  await page.waitForTimeout(1_000);
  expect(await mainShown()).toBe(paused);
  // live again: the branch's live frame is back on its canvas (it holds still, so no new frame comes to replace chunk 0's)
  const liveFrameShown = () =>
    page.evaluate(() => {
      const b = (window as any).worldCanvasDemo.demo.branches[0];
      const c = b.card.querySelector('canvas') as HTMLCanvasElement;
      const onCanvas = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const last = b.session.history.find((x: any) => x.index === b.lastShown);
      const n = c.width * c.height * 4;
      const live = last.rgba.subarray(last.rgba.length - n);
      return b.player.holding && onCanvas.every((v: number, i: number) => v === live[i]);
    });
  await page.click('#play');
  await expect(page.locator('#play')).toHaveText('Pause');
  await expect.poll(liveFrameShown).toBe(true);
  await expect(page.locator('.branch').first().locator('.chunk-label')).not.toContainText('chunk 0:');
});

test('simulate, then act: candidates are simulated on forks and ranked; the best can be taken', async ({ page }) => {
  await open(page);
  await page.click('#plan-panel summary');
  await page.fill('#goal-text', 'push the red block left');
  await page.fill('#candidates', 'push the red block left\nwait\nmake the lights dim');
  await page.click('#simulate');
  await expect(page.locator('#plan-results .candidate')).toHaveCount(3, { timeout: 180_000 });
  const scores = await page.locator('#plan-results .candidate div').allTextContents();
  const db = scores.map((s) => (s.includes('∞') ? Infinity : Number(/— ([\d.]+) dB/.exec(s)![1])));
  expect([...db].sort((a, b) => b - a)).toEqual(db); // best first
  await page.locator('#plan-results .candidate').first().locator('button').click();
  await expect(page.locator('#action-status')).toContainText('Took');
  const log = await page.evaluate(() => (window as any).worldCanvasDemo.session.log.map((e: any) => e.action));
  expect(log).toContain((await page.locator('#plan-results .candidate').first().locator('div').textContent())!.replace(/^1\. /, '').replace(/ — .*/, ''));
});

test('simulate results go with a scene change, and no hidden branch keeps generating', async ({ page }) => {
  await open(page);
  await page.click('#plan-panel summary');
  await page.fill('#candidates', 'wait\npush the yellow cube left');
  await page.click('#simulate');
  await expect(page.locator('#plan-results .candidate')).toHaveCount(2, { timeout: 180_000 });
  await page.selectOption('#scene', 'scene-1');
  await expect(page.locator('#plan-results .candidate')).toHaveCount(0);
  await expect.poll(async () => (await stats(page)).framesShown, { timeout: 60_000 }).toBeGreaterThan(8);
  // everything generated is for the one branch on screen: made keeps pace with shown
  const a = await stats(page);
  await page.waitForTimeout(3_000);
  const b = await stats(page);
  expect(b.framesMade - a.framesMade).toBeLessThanOrEqual(b.framesShown - a.framesShown + 8);
  expect(b.branches).toBe(1);
});

test("the scene's objects name the placeholder, the Object picker and the Simulate defaults", async ({ page }) => {
  await open(page); // scene-0: yellow cube, green ball, purple cube
  await expect(page.locator('#action')).toHaveAttribute('placeholder', 'push the yellow cube left');
  expect(await page.locator('#object option').allTextContents()).toEqual(['yellow cube', 'green ball', 'purple cube']);
  await expect(page.locator('#candidates')).toHaveValue(/push the yellow cube left/);
  expect(await page.locator('#candidates').inputValue()).not.toMatch(/red block|blue one/);
  await page.selectOption('#scene', 'scene-1'); // blue cube, orange cube, yellow ball
  await expect(page.locator('#action')).toHaveAttribute('placeholder', 'push the blue cube left');
  expect(await page.locator('#object option').allTextContents()).toEqual(['blue cube', 'orange cube', 'yellow ball']);
  await expect(page.locator('#goal-text')).toHaveAttribute('placeholder', /orange cube/);
});

test('a seed out of range, an unknown scene and a missing bundle each say what happened', async ({ page, context }) => {
  await open(page);
  await page.fill('#seed', '99999999999');
  await page.locator('#seed').dispatchEvent('change');
  await expect(page.locator('#action-status')).toHaveClass(/error/);
  await expect(page.locator('#action-status')).toContainText('0 to 4294967295; keeping seed 0');
  await expect(page.locator('#seed')).toHaveValue('0');
  expect(await page.evaluate(() => (window as any).worldCanvasDemo.session.seed)).toBe(0);

  const p2 = await context.newPage();
  await open(p2, `${TINY}&scene=scene-99&actions=${encodeURIComponent('[[1,"wait"]]')}`);
  await expect(p2.locator('#action-status')).toContainText('no scene "scene-99"');
  await expect(p2.locator('#action-status')).toContainText('showing scene-0');

  const p3 = await context.newPage();
  await p3.goto('/?bundle=/build/bundles/no-such-bundle/&backend=wasm');
  await expect(p3.locator('body')).toHaveAttribute('data-ready', 'error', { timeout: 60_000 });
  await expect(p3.locator('#backend')).toHaveText('not loaded');
  await expect(p3.locator('#notice')).toContainText('no-such-bundle');
});

test("at a phone's width nothing widens the page; new actions never scroll the canvas away", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await open(page);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.click('#plan-panel summary');
  for (let i = 0; i < 20; i++) {
    await page.fill('#action', `wait ${i}`);
    await page.press('#action', 'Enter');
  }
  expect(await page.evaluate(() => window.scrollY)).toBe(0);
  const box = await page.locator('.branch[data-active] canvas').boundingBox();
  expect(box!.y).toBeGreaterThanOrEqual(0);
});

test('record the rollout as WebM', async ({ page }) => {
  await open(page);
  await chunkHashes(page, 2);
  await page.click('#record');
  await expect(page.locator('#download')).toBeVisible({ timeout: 60_000 });
  const head = await page.evaluate(async () => {
    const a = document.getElementById('download') as HTMLAnchorElement;
    const b = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    return [b.length, ...b.slice(0, 4)];
  });
  expect(head[0]).toBeGreaterThan(1000);
  expect(head.slice(1)).toEqual([0x1a, 0x45, 0xdf, 0xa3]); // EBML: a WebM file
});

test('drop in your own image, or be told why not', async ({ page }) => {
  await open(page);
  const png = await page.evaluate(async () => {
    const c = new OffscreenCanvas(100, 60);
    const x = c.getContext('2d')!;
    x.fillStyle = '#3060c0';
    x.fillRect(0, 0, 100, 60);
    const b = await c.convertToBlob({ type: 'image/png' });
    return Array.from(new Uint8Array(await b.arrayBuffer()));
  });
  await page.setInputFiles('#image', { name: 'mine.png', mimeType: 'image/png', buffer: Buffer.from(png) });
  await expect(page.locator('#action-status')).toContainText('cropped 100x60 to its centre 60x60');
  expect(await page.evaluate(() => (window as any).worldCanvasDemo.session.sceneId)).toBe('image');
  // a link names scenes, it cannot carry an image: refused, and said why
  await page.click('#share');
  await expect(page.locator('#action-status')).toContainText('No link for a rollout from your own image');
  await expect(page.locator('#share-link')).toBeHidden();
  await page.setInputFiles('#image', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
  await expect(page.locator('#action-status')).toContainText('not an image type');
  await page.setInputFiles('#image', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]) });
  await expect(page.locator('#action-status')).toContainText('could not be decoded');
  await page.setInputFiles('#image', { name: 'tiny.png', mimeType: 'image/png', buffer: Buffer.from(await tinyPng(page)) });
  await expect(page.locator('#action-status')).toContainText('at least 8x8');
  await page.setInputFiles('#image', { name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(21 * 1024 * 1024) });
  await expect(page.locator('#action-status')).toContainText('images up to 20 MB are accepted');
  const clear = await page.evaluate(async () => {
    const c = new OffscreenCanvas(64, 64);
    const x = c.getContext('2d')!;
    x.fillStyle = 'rgba(200, 30, 30, 1)';
    x.fillRect(20, 20, 12, 12); // an opaque block on a transparent table
    return Array.from(new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer()));
  });
  await page.setInputFiles('#image', { name: 'clear.png', mimeType: 'image/png', buffer: Buffer.from(clear) });
  await expect(page.locator('#action-status')).toContainText('transparent areas filled with the table colour');
  // the session survives all of it
  await expect.poll(async () => (await stats(page)).chunksFinished).toBeGreaterThan(2);
});

async function tinyPng(page: Page): Promise<number[]> {
  return page.evaluate(async () => {
    const c = new OffscreenCanvas(4, 4);
    c.getContext('2d')!.fillRect(0, 0, 4, 4);
    return Array.from(new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer()));
  });
}
