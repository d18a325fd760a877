/**
 * Faults, in real Chromium: a lost GPU device, a dead worker, reset and fork
 * during a decoder call, bad bundles on the wire (corrupt bytes, HTTP errors,
 * malformed manifests), no IndexedDB, another origin, a flood of actions.
 * Each case fails without its handling.
 */
import { type Page, expect, test } from '@playwright/test';

const TINY = '/build/bundles/tiny/';

async function harness(page: Page) {
  await page.goto('/test/browser/harness.html');
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
}

test('a GPU device lost mid-rollout: the session resumes from its last finished chunk, same frames', async ({ page }) => {
  await harness(page);
  const r = await page.evaluate(async (bundle) => {
    const hash = (c: { rgba: Uint8ClampedArray }) => c.rgba.reduce((h, v) => (h * 31 + v) | 0, 0);
    const { harness } = window as any;
    // One World (on SwiftShader a WebGPU load is the slow part): sessions are independent, so a first
    // session is the reference, an uninterrupted rollout...
    const world = await harness.load({ bundle, backend: 'webgpu', variant: 'fp32', workerTimeoutMs: 30_000 });
    const a = await world.newSession({ seed: 3 });
    a.act('push the red block left');
    const expected: number[] = [];
    while (a.history.length < 5) await a.step();
    for (const c of a.history) expected.push(hash(c));
    // ...and a second one is the same rollout with the device destroyed after chunk 1
    const s = await world.newSession({ seed: 3 });
    s.act('push the red block left');
    while (s.history.length < 2) await s.step();
    const before = s.history.map(hash);
    await world.loseDeviceForTesting();
    while (s.history.length < 5) await s.step();
    const info = world.info;
    const out = { before, after: s.history.map(hash), expected, indices: s.history.map((c: any) => c.index), notices: world.notices, backend: info.backend };
    world.dispose();
    return out;
  }, TINY);
  // the whole notice, said once (it was wrapped twice: "The GPU device was lost (The GPU device was lost (…).)")
  const lost = r.notices.filter((n: string) => n.includes('device was lost'));
  expect(lost).toHaveLength(1);
  const [, reason] = /^The GPU device was lost \((.+)\)\. The session resumes from its last finished chunk\.$/.exec(lost[0]) ?? [];
  expect(reason, lost[0]).toBeTruthy();
  expect(reason).not.toContain('device was lost');
  expect(['webgpu', 'wasm']).toContain(r.backend);
  expect(r.indices).toEqual([0, 1, 2, 3, 4]); // no chunk lost or repeated
  expect(r.after.slice(0, 2)).toEqual(r.before); // history intact
  // Resumed exactly where it stopped: comparable byte for byte only when WebGPU came back.
  test.skip(r.backend !== 'webgpu', `the engine restarted on ${r.backend}: its frames match WebGPU's within the parity tolerance, not byte for byte`);
  expect(r.after).toEqual(r.expected);
});

test('a worker that dies is restarted; a call that never returns times out instead of hanging', async ({ page }) => {
  await harness(page);
  const r = await page.evaluate(async (bundle) => {
    const { harness } = window as any;
    const world = await harness.load({ bundle, backend: 'wasm', workerTimeoutMs: 4_000 });
    const s = await world.newSession({ seed: 1 });
    while (s.history.length < 1) await s.step();
    world.engine.killWorkerForTesting('rendering');
    const t0 = performance.now();
    while (s.history.length < 3) await s.step();
    const out = { ms: performance.now() - t0, notices: world.notices, indices: s.history.map((c: any) => c.index) };
    world.dispose();
    return out;
  }, TINY);
  expect(r.notices.join(' ')).toMatch(/did not answer runPhase\(\) within 4000 ms/);
  expect(r.indices).toEqual([0, 1, 2]);
  expect(r.ms).toBeLessThan(60_000);
});

test('reset, fork and pause during a decoder call leave the session consistent', async ({ page }) => {
  await harness(page);
  const r = await page.evaluate(async (bundle) => {
    const { harness } = window as any;
    const world = await harness.load({ bundle, backend: 'wasm' });
    const s = await world.newSession({ seed: 2 });
    while (s.history.length < 2) await s.step();
    // reset while a step runs: the step is cancelled, the session is back at its start
    const running = s.step();
    s.reset();
    const cancelled = await running.then(() => 'finished', (e: Error) => e.name);
    const afterReset = { next: s.nextChunk, history: s.history.length, log: s.log.length };
    while (s.history.length < 1) await s.step();
    // fork while a step runs: the fork waits for it and starts at the new boundary
    const stepping = s.step();
    const fork = await s.fork();
    await stepping;
    const forkAt = fork.nextChunk;
    const parentAt = s.nextChunk;
    fork.act('push the red block right');
    await fork.step();
    await fork.step();
    world.dispose();
    return { cancelled, afterReset, forkAt, parentAt, parentLog: s.log.map((e: any) => e.action), forkLog: fork.log.map((e: any) => e.action) };
  }, TINY);
  expect(r.cancelled).toBe('CancelledError');
  expect(r.afterReset).toEqual({ next: 0, history: 0, log: 0 });
  expect(r.forkAt).toBe(r.parentAt);
  expect(r.forkLog).toContain('push the red block right');
  expect(r.parentLog).not.toContain('push the red block right');
});

test('corrupt model bytes are fetched again; bytes that stay corrupt fail with a clear error', async ({ page }) => {
  let served = 0;
  await page.route('**/build/bundles/tiny/graphs/decoder.onnx', async (route) => {
    const res = await route.fetch();
    const body = Buffer.from(await res.body());
    served++;
    if (served === 1) body[body.length >> 1] ^= 0xff; // corrupt once
    await route.fulfill({ response: res, body });
  });
  await page.goto(`/?bundle=${TINY}&backend=wasm`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
  expect(served).toBe(2);

  const fresh = await page.context().browser()!.newContext(); // empty cache
  const page2 = await fresh.newPage();
  await page2.route('**/build/bundles/tiny/graphs/decoder.onnx', async (route) => {
    const res = await route.fetch();
    const body = Buffer.from(await res.body());
    body[10] ^= 0xff;
    await route.fulfill({ response: res, body });
  });
  await page2.goto(`/?bundle=${TINY}&backend=wasm`);
  await expect(page2.locator('body')).toHaveAttribute('data-ready', 'error', { timeout: 120_000 });
  await expect(page2.locator('#notice')).toContainText('ChecksumError');
  await expect(page2.locator('#notice')).toContainText('decoder.onnx is corrupt');
});

test('HTTP errors and malformed manifests name what is wrong', async ({ page }) => {
  await page.route('**/build/bundles/tiny/graphs/encoder.onnx', (route) => route.fulfill({ status: 500, body: 'boom' }));
  await page.goto(`/?bundle=${TINY}&backend=wasm`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'error', { timeout: 120_000 });
  await expect(page.locator('#notice')).toContainText('BundleFetchError');
  await expect(page.locator('#notice')).toContainText('encoder.onnx: HTTP 500');

  const p2 = await page.context().newPage();
  await p2.route('**/build/bundles/tiny/manifest.json', async (route) => {
    const res = await route.fetch();
    const m = await res.json();
    m.video.fps = 'fast';
    delete m.graphs.backbone;
    await route.fulfill({ response: res, json: m });
  });
  await p2.goto(`/?bundle=${TINY}&backend=wasm`);
  await expect(p2.locator('body')).toHaveAttribute('data-ready', 'error');
  await expect(p2.locator('#notice')).toContainText('video.fps');
  await expect(p2.locator('#notice')).toContainText('graphs.backbone');

  const p3 = await page.context().newPage();
  await p3.route('**/no/such/bundle/manifest.json', (route) => route.fulfill({ status: 404, body: 'not found' }));
  await p3.goto('/?bundle=/no/such/bundle/&backend=wasm');
  await expect(p3.locator('body')).toHaveAttribute('data-ready', 'error');
  await expect(p3.locator('#notice')).toContainText('manifest.json: HTTP 404');

  // a server that answers with a web page instead of the manifest
  const p4 = await page.context().newPage();
  await p4.route('**/html/bundle/manifest.json', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><p>hi' }));
  await p4.goto('/?bundle=/html/bundle/&backend=wasm');
  await expect(p4.locator('body')).toHaveAttribute('data-ready', 'error');
  await expect(p4.locator('#notice')).toContainText('not JSON');
});

test('without IndexedDB the demo runs, and says it has no cache', async ({ page }) => {
  await page.addInitScript(() => {
    Object.defineProperty(IDBFactory.prototype, 'open', {
      value() {
        throw new DOMException('The operation is insecure.', 'SecurityError');
      },
    });
  });
  await page.goto(`/?bundle=${TINY}&backend=wasm`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
  await expect(page.locator('#notice')).toContainText('model cache unavailable');
  await page.fill('#action', 'wait');
  await page.press('#action', 'Enter');
  await expect.poll(() => page.evaluate(() => (window as any).worldCanvasStats.chunksFinished)).toBeGreaterThan(1);
});

test('a bundle on another origin is refused unless allowed', async ({ page, baseURL }) => {
  await harness(page);
  const other = baseURL!.replace('localhost', '127.0.0.1') + TINY;
  const r = await page.evaluate(async (url) => {
    const { harness } = window as any;
    try {
      await harness.load({ bundle: url, backend: 'wasm' });
      return 'loaded';
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
  }, other);
  expect(r).toMatch(/^CrossOriginBundleError: Refusing to load a bundle from another origin/);
  expect(r).toContain('allowed-origins');
});

test('a flood of 100 actions is queued in order, none dropped', async ({ page }) => {
  await page.goto(`/?bundle=${TINY}&backend=wasm`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 120_000 });
  for (let i = 0; i < 100; i++) {
    await page.fill('#action', `move ${i}`);
    await page.press('#action', 'Enter');
  }
  const texts = await page.locator('#history li').allTextContents();
  expect(texts).toEqual(Array.from({ length: 100 }, (_, i) => `move ${i}`));
  const chunks = await page.locator('#history li').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.chunk)));
  expect(chunks).toEqual([...chunks].sort((a, b) => a - b));
  expect(new Set(chunks).size).toBe(100); // one chunk each
});
