/**
 * The demo page's features, in real Chromium, with the tiny bundle so each step
 * takes seconds (on WASM, after the first test: what is tested here is the
 * page, and SwiftShader's software WebGPU is slow): the action bar and its history, quick
 * actions and arrow keys, pause/resume/reset, seeds and share links that
 * replay a rollout exactly, forks side by side with timelines, simulate-then-
 * act, WebM recording, and dropping in your own image.
 */
import { type Page, expect, test } from '@playwright/test';

const TINY = '/?bundle=/build/bundles/tiny/&backend=wasm';
const TINY_WEBGPU = '/?bundle=/build/bundles/tiny/';

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

test('loading shows progress, then a backend badge and a live readout', async ({ page }) => {
  const progress: string[] = [];
  await page.exposeFunction('noteStage', (s: string) => progress.push(s));
  await page.addInitScript(() => {
    new MutationObserver(() => {
      const s = document.getElementById('progress')?.dataset.stage;
      if (s) (window as any).noteStage(s);
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-stage'] });
  });
  const errors = await open(page, TINY_WEBGPU);
  expect(progress).toEqual(expect.arrayContaining(['download', 'compile', 'warmup']));
  await expect(page.locator('#progress')).toBeHidden();
  await expect(page.locator('#backend')).toHaveAttribute('data-backend', 'webgpu');
  await expect(page.locator('#backend')).toContainText('WebGPU');
  await expect(page.locator('#notice')).toContainText('shader-f16'); // why fp32 was chosen
  await expect(page.locator('#readout')).toContainText('fps');
  expect(errors).toEqual([]);
});

test('action bar, history, quick actions, arrow keys, refusals', async ({ page }) => {
  await open(page);
  await page.fill('#action', 'push the red block left');
  await page.press('#action', 'Enter');
  await page.selectOption('#object', 'blue');
  await page.click('[data-move="up"]');
  await page.click('[data-action="dim the lights"]');
  await page.locator('body').press('ArrowRight');
  await expect(page.locator('#history li')).toHaveText([
    'push the red block left',
    'push the blue one up',
    'dim the lights',
    'push the blue one right',
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
  await expect.poll(async () => (await stats(page)).framesShown).toBeGreaterThan(paused + 4);
  await page.fill('#action', 'wait');
  await page.press('#action', 'Enter');
  await page.click('#reset');
  await expect(page.locator('#history li')).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).worldCanvasDemo.session.nextChunk)).toBeLessThanOrEqual(1);
});

test('the same seed and actions replay the same rollout, also from a share link', async ({ page, context }) => {
  await open(page, `${TINY}&seed=5`);
  await page.fill('#action', 'push the red block left');
  await page.press('#action', 'Enter');
  const first = await chunkHashes(page, 4);
  await page.click('#share');
  const link = await page.locator('#share-link').inputValue();
  expect(link).toContain('seed=5');
  expect(JSON.parse(new URL(link).searchParams.get('actions')!)).toEqual([[expect.any(Number), 'push the red block left']]);
  const other = await context.newPage();
  await open(other, `${link.replace(/^https?:\/\/[^/]+/, '')}&backend=wasm`); // same backend: bit-identical frames
  await expect(other.locator('#action-status')).toContainText('Replaying 1 shared action');
  expect(await chunkHashes(other, 4)).toEqual(first);
  // a different seed gives a different rollout
  const third = await context.newPage();
  await open(third, `${TINY}&seed=6`);
  expect(await chunkHashes(third, 2)).not.toEqual(first.slice(0, 2));
});

test('forks play side by side; the timeline scrubs back through a branch', async ({ page }) => {
  await open(page);
  await chunkHashes(page, 3);
  await page.locator('.branch').first().locator('.fork').click();
  await expect(page.locator('.branch')).toHaveCount(2);
  await expect(page.locator('.branch').nth(1)).toHaveAttribute('data-active', '');
  await page.fill('#action', 'push the red block right');
  await page.press('#action', 'Enter');
  const logs = () =>
    page.evaluate(() => (window as any).worldCanvasDemo.demo.branches.map((b: any) => [...b.session.log.map((e: any) => e.action), ...b.session.queue.peek().map((q: any) => q.text)]));
  const [main, fork] = await logs();
  expect(fork).toContain('push the red block right');
  expect(main).not.toContain('push the red block right');
  // both branches keep running
  const lengths = () => page.evaluate(() => (window as any).worldCanvasDemo.demo.branches.map((b: any) => b.session.history.length));
  const before = await lengths();
  await expect.poll(async () => (await lengths()).every((n: number, i: number) => n > before[i]), { timeout: 120_000 }).toBe(true);
  // scrub the main branch back to its first chunk
  const timeline = page.locator('.branch').first().locator('.timeline');
  await timeline.fill('0');
  await expect(page.locator('.branch').first().locator('.chunk-label')).toContainText('chunk 0:');
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
