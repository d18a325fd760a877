/**
 * The production build: offline through the service worker (app shell) and
 * the IndexedDB byte cache (model), and a strict Content-Security-Policy
 * (no eval, no inline scripts or styles).
 */
import { expect, test } from '@playwright/test';

import { ensureBuilt, serveBuild } from './static-server';

const BUNDLE = '/bundles/tiny/';

test.beforeAll(() => ensureBuilt());

test('load once, go offline, reload, and act', async ({ browser }) => {
  const server = await serveBuild();
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${server.url}/?bundle=${BUNDLE}&backend=wasm`);
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
    // the service worker has installed (precached the shell) and controls the page
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60_000 });
    await context.setOffline(true);
    await page.reload();
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
    await expect(page.locator('#notice')).toContainText('offline');
    const before = await page.evaluate(() => (window as any).worldCanvasStats.chunksFinished);
    await page.fill('#action', 'push the red block left');
    await page.press('#action', 'Enter');
    await expect.poll(() => page.evaluate(() => (window as any).worldCanvasStats.chunksFinished), { timeout: 120_000 }).toBeGreaterThan(before + 2);
    await expect(page.locator('#history li').first()).not.toHaveClass(/pending/, { timeout: 120_000 });
    // each precached page answers for itself offline: the embedding example, not the demo
    await page.goto(`${server.url}/embed.html?bundle=${BUNDLE}&backend=wasm`);
    await expect(page.locator('h1')).toHaveText('Embedding world-canvas');
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
  } finally {
    await context.close();
    await server.close();
  }
});

const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'", // WebAssembly compilation only: no 'unsafe-eval'
  "worker-src 'self'",
  "connect-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
].join('; ');

test('the demo and the widget run under a strict Content-Security-Policy', async ({ browser }) => {
  const server = await serveBuild({ 'content-security-policy': CSP });
  const context = await browser.newContext();
  const page = await context.newPage();
  const violations: string[] = [];
  await page.exposeFunction('noteViolation', (v: string) => violations.push(v));
  await page.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) => (window as any).noteViolation(`${e.violatedDirective} ${e.blockedURI}`)),
  );
  try {
    await page.goto(`${server.url}/?bundle=${BUNDLE}&backend=webgpu`);
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
    await page.fill('#action', 'slide the blue one up');
    await page.press('#action', 'Enter');
    await expect(page.locator('#history li').first()).not.toHaveClass(/pending/, { timeout: 180_000 });
    // the element too: styles adopted, not inlined
    await page.goto(`${server.url}/embed.html?bundle=${BUNDLE}&backend=wasm`);
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
    const frames = await page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const el = document.getElementById('world') as any;
          let n = 0;
          el.addEventListener('frame', () => ++n === 8 && resolve(n));
          el.act('push the red block left');
        }),
    );
    expect(frames).toBe(8);
    const width = await page.evaluate(() => getComputedStyle((document.getElementById('world') as any).shadowRoot.querySelector('canvas')).imageRendering);
    expect(width).toBe('pixelated');
    expect(violations).toEqual([]);
  } finally {
    await context.close();
    await server.close();
  }
});
