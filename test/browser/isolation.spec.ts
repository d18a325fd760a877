/**
 * Cross-origin isolation, so that ONNX Runtime runs WASM on several threads:
 * the dev server sends the headers; on a static host that cannot, the
 * production build's service worker adds them after one reload; a page
 * without either (an embedding page on such a host) runs on one thread and
 * says why.
 */
import { cpus } from 'node:os';

import { type Page, expect, test } from '@playwright/test';

import { ensureBuilt, serveBuild } from './static-server';

const TINY = 'bundles/tiny/';

/**
 * Workers beyond the engine's two: ONNX Runtime's threads, each a worker of its
 * own (Playwright lists the nested ones too). With n threads, each of the two
 * workers' runtimes starts n - 1 of them.
 */
const threadWorkers = (page: Page) => page.workers().length - 2;

test.beforeEach(({}, info) => {
  info.skip(cpus().length < 2, 'one core: threads cannot be shown to run side by side');
});

test('the demo on the dev server is cross-origin isolated and runs WASM on more than one thread', async ({ page }) => {
  await page.goto(`/?bundle=/build/${TINY}&backend=wasm&threads=2`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  await expect(page.locator('#backend')).toHaveAttribute('data-threads', '2');
  await expect(page.locator('#backend')).toContainText('WASM · 2 threads');
  expect(threadWorkers(page)).toBe(2);
  await expect(page.locator('#notice')).not.toContainText('one thread');
});

test("by default the demo takes ONNX Runtime's own thread count, half the cores up to 4, and says nothing of it", async ({ page }) => {
  await page.goto(`/?bundle=/build/${TINY}&backend=wasm`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const threads = Math.min(4, Math.ceil(cores / 2));
  await expect(page.locator('#backend')).toHaveAttribute('data-threads', String(threads));
  expect(threadWorkers(page)).toBe(2 * (threads - 1));
  await expect(page.locator('#notice')).not.toContainText('one thread');
});

test.describe('production build', () => {
  test.beforeAll(() => ensureBuilt());

  test('on a host without the headers, the service worker makes the demo isolated after one reload', async ({ browser }) => {
    const server = await serveBuild({}, { isolation: false });
    const context = await browser.newContext();
    const page = await context.newPage();
    const navigations: string[] = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(f.url()));
    try {
      await page.goto(`${server.url}/?bundle=/${TINY}&backend=wasm&threads=2`);
      await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 180_000 });
      expect(navigations).toHaveLength(2); // the first load, and the reload under the service worker
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      expect(Number(await page.locator('#backend').getAttribute('data-threads'))).toBe(2);
      // From now on the service worker serves the page isolated: no more reloads. (The demo waits on the
      // service worker, which may reload it, only when not isolated; once its loading moves on, none comes.)
      await page.reload();
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      await expect(page.locator('#progress .label')).not.toHaveText('starting…', { timeout: 60_000 });
      expect(navigations).toHaveLength(3);
    } finally {
      await context.close();
      await server.close();
    }
  });

  test('an embedding page without the headers runs the element on one thread where two were asked for, and says why', async ({ browser }) => {
    const server = await serveBuild({}, { isolation: false });
    const context = await browser.newContext(); // no service worker: the demo page never ran here
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/embed.html?bundle=/${TINY}&backend=wasm&threads=2`);
      await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
      const got = await page.evaluate(() => {
        const el = document.getElementById('world') as HTMLElementTagNameMap['world-canvas'];
        return { isolated: crossOriginIsolated, threads: el.info!.threads, notices: el.world!.notices };
      });
      expect(got.isolated).toBe(false);
      expect(got.threads).toBe(1);
      expect(got.notices.join(' ')).toContain('not cross-origin isolated');
      expect(threadWorkers(page)).toBe(0);
    } finally {
      await context.close();
      await server.close();
    }
  });
});
