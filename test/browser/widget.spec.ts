/**
 * <world-canvas> in a page, on the tiny bundle: it loads on WebGPU, takes
 * actions from its own input and from act(), shows that action's frames,
 * says what the world understands, holds still while nobody acts, says which
 * words of an action the encoder leaves out, reports failures as `error`
 * events (never as exceptions), shares one World between elements of the same
 * bundle, and disposes it with the last one.
 */
import { type Page, expect, test } from '@playwright/test';

const TINY = '/build/bundles/tiny/';

type Logged = { el: string; type: string; detail: any };

const events = (page: Page, el: string, type?: string): Promise<Logged[]> =>
  page.evaluate(
    ({ el, type }) => (window as any).widgetTest.log.filter((e: Logged) => e.el === el && (!type || e.type === type)),
    { el, type },
  );

/** A hash of the element's canvas pixels. */
const canvasHash = (page: Page, id: string): Promise<number> =>
  page.evaluate((id) => {
    const c = document.getElementById(id)!.shadowRoot!.querySelector('canvas')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0;
    return h;
  }, id);

async function open(page: Page, pageErrors: string[]): Promise<void> {
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/test/browser/widget.html');
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
}

test('the element loads (on WASM: the only WebGPU adapter here is SwiftShader), takes an action from its input and shows its frames', async ({ page }) => {
  const pageErrors: string[] = [];
  await open(page, pageErrors);
  const main = page.locator('#main');

  // Loads when visible, reports progress, then ready; 'auto' passes over the software adapter, and says so.
  await expect.poll(async () => (await events(page, 'main', 'ready')).length, { timeout: 240_000 }).toBe(1);
  const [ready] = await events(page, 'main', 'ready');
  expect(ready.detail.backend).toBe('wasm');
  expect(ready.detail.variant).toBe('fp32');
  expect(ready.detail.notices.join(' ')).toContain('is not a GPU');
  const stages = (await events(page, 'main', 'progress')).map((e) => e.detail.stage);
  expect(stages).toContain('download');
  expect(stages.at(-1)).toBe('ready');
  expect(await page.evaluate(() => document.getElementById('main')!.shadowRoot!.querySelector('canvas')!.width)).toBe(32);
  await expect(main.locator('[part~="play"]')).toHaveText('Pause'); // autoplay

  // What the world understands, under the controls (the bundle's guide); an example goes into the input.
  const guide = main.locator('[part~="guide"]');
  await expect(guide).toBeVisible();
  await guide.locator('summary').click();
  await expect(guide).toContainText('move next to');
  await guide.locator('button', { hasText: 'dim the lights' }).click();
  await expect(main.locator('[part~="input"]')).toHaveValue('dim the lights');
  expect(await page.evaluate(() => (document.getElementById('main') as any).guide.actions.map((a: any) => a.kind))).toContain('recolour');

  // The tabletop holds still when nobody acts: the element stops generating, and says so.
  await expect.poll(async () => (await events(page, 'main', 'hold')).map((e) => e.detail.holding), { timeout: 120_000 }).toEqual([true]);
  expect(await page.evaluate(() => (document.getElementById('main') as any).holding)).toBe(true);
  await expect(main.locator('[part~="status"]')).toContainText('Holding still until the next action.');

  // An action typed in the element's own input is queued...
  const before = await canvasHash(page, 'main');
  await main.locator('[part~="input"]').fill('push the red block to the left');
  await main.locator('[part~="input"]').press('Enter');
  await expect.poll(async () => (await events(page, 'main', 'action')).length).toBe(1);
  const [{ detail: receipt }] = await events(page, 'main', 'action');
  expect(receipt).toMatchObject({ text: 'push the red block to the left', truncated: false });
  expect(receipt.chunk).toBeGreaterThanOrEqual(0);
  // The tiny bundle reads 8 tokens, 6 word pieces: "left" is left out, and the element says so.
  expect(receipt.cut).toEqual({ readPieces: 6, pieces: 7, kept: 'push the red block to the', dropped: 'left' });
  await expect(main.locator('[part~="input"]')).toHaveValue('');
  await expect(main.locator('[part~="status"]')).toContainText(`chunk ${receipt.chunk}`);
  await expect(main.locator('[part~="status"][part~="warning"]')).toContainText('Only the first 6 word pieces are read: "…left" was left out.');
  // ...and ends the hold
  await expect.poll(async () => (await events(page, 'main', 'hold')).map((e) => e.detail.holding).slice(0, 2)).toEqual([true, false]);

  // ...and the chunk it conditions arrives as `frame` events (F = 4 frames), changing the canvas.
  const framesOf = async (text: string) => (await events(page, 'main', 'frame')).filter((e) => e.detail.action === text);
  await expect.poll(async () => (await framesOf(receipt.text)).length, { timeout: 180_000 }).toBeGreaterThanOrEqual(4);
  const own = await framesOf(receipt.text);
  expect(own.map((e) => e.detail.frame)).toEqual([0, 1, 2, 3]);
  expect(own[0].detail.chunk).toBeGreaterThanOrEqual(receipt.chunk);
  expect(await canvasHash(page, 'main')).not.toBe(before);
  // ...and `shown` said so at its first frame, with the latency from act()
  await expect.poll(async () => (await events(page, 'main', 'shown')).length).toBe(1);
  const [{ detail: shown }] = await events(page, 'main', 'shown');
  expect(shown).toMatchObject({ id: receipt.id, text: receipt.text, chunk: own[0].detail.chunk, cut: receipt.cut });
  expect(shown.latencyMs).toBeGreaterThan(0);

  // act() from script, between phases (paused, nothing in flight): the receipt names the chunk
  // whose frames then show the action.
  await page.evaluate(() => (document.getElementById('main') as any).pause());
  await page.waitForFunction(() => !(document.getElementById('main') as any).session.busy);
  const r2 = await page.evaluate(() => (document.getElementById('main') as any).act('dim the lights'));
  expect(r2.chunk).toBeGreaterThan(own[0].detail.chunk);
  await expect.poll(async () => (await events(page, 'main', 'action')).length).toBe(2);
  await page.evaluate(() => (document.getElementById('main') as any).play());
  await expect.poll(async () => (await framesOf('dim the lights')).length, { timeout: 180_000 }).toBeGreaterThanOrEqual(4);
  expect((await framesOf('dim the lights')).map((e) => e.detail.chunk)).toEqual([r2.chunk, r2.chunk, r2.chunk, r2.chunk]);

  // snapshot(): the current frame at the model's size, and the rollout's record.
  const snap = await page.evaluate(() => {
    const s = (document.getElementById('main') as any).snapshot();
    return { isImageData: s.image instanceof ImageData, w: s.image.width, h: s.image.height, bytes: s.image.data.length, record: s.record };
  });
  expect(snap).toMatchObject({ isImageData: true, w: 32, h: 32, bytes: 32 * 32 * 4 });
  expect(snap.record.actions).toEqual([[own[0].detail.chunk, receipt.text], [r2.chunk, r2.text]]);

  // An empty action: act() throws ActionError and the element fires `error` and shows it.
  const thrown = await page.evaluate(() => {
    try {
      (document.getElementById('main') as any).act('   ');
      return null;
    } catch (e) {
      return (e as Error).name;
    }
  });
  expect(thrown).toBe('ActionError');
  await main.locator('[part~="input"]').press('Enter'); // the same from the element's own input: no exception
  await expect.poll(async () => (await events(page, 'main', 'error')).length).toBe(2);
  for (const e of await events(page, 'main', 'error')) expect(e.detail).toMatchObject({ type: 'action', name: 'ActionError' });
  await expect(main.locator('[part~="status"][part~="error"]')).toContainText('empty');

  // pause() stops the frames; play() resumes them.
  await page.evaluate(() => (document.getElementById('main') as any).pause());
  await expect(main.locator('[part~="play"]')).toHaveText('Play');
  await page.evaluate(() => (document.getElementById('main') as any).play());
  await expect(main.locator('[part~="play"]')).toHaveText('Pause');
  expect(pageErrors).toEqual([]);
});

test('a bad src is an error event and a message, not an exception', async ({ page }) => {
  const pageErrors: string[] = [];
  await open(page, pageErrors);
  // (the dev server answers unknown paths with its index page, so the 404 is made here)
  await page.route('**/no-such-bundle/**', (r) => r.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' }));
  await page.evaluate(() => {
    const t = (window as any).widgetTest;
    for (const [id, src] of [
      ['missing', '/build/bundles/no-such-bundle/'],
      ['foreign', 'https://models.example/tabletop/'],
    ]) {
      const el = document.createElement('world-canvas');
      el.id = id;
      t.watch(el);
      el.setAttribute('src', src);
      document.body.append(el);
    }
  });
  await expect.poll(async () => (await events(page, 'missing', 'error')).length, { timeout: 60_000 }).toBe(1);
  const [missing] = await events(page, 'missing', 'error');
  expect(missing.detail).toMatchObject({ type: 'load', name: 'BundleFetchError' });
  expect(missing.detail.message).toContain('404');
  await expect(page.locator('#missing [part~="status"][part~="error"]')).toContainText('no-such-bundle');
  const [foreign] = await events(page, 'foreign', 'error');
  expect(foreign.detail).toMatchObject({ type: 'load', name: 'CrossOriginBundleError' });
  expect(await page.evaluate(() => (document.getElementById('missing') as any).ready.then(() => 'resolved', (e: Error) => e.name))).toBe(
    'BundleFetchError',
  );
  // a meaningless attribute value is reported too, and the element goes on with the default
  await page.evaluate(() => document.getElementById('missing')!.setAttribute('backend', 'gpu'));
  await expect.poll(async () => (await events(page, 'missing', 'error')).map((e) => e.detail.type)).toContain('attribute');
  expect(pageErrors).toEqual([]);
});

test('elements of one bundle share one World; a fork plays in another element; the last to leave disposes it', async ({ page }) => {
  const pageErrors: string[] = [];
  await open(page, pageErrors);
  await expect.poll(async () => (await events(page, 'main', 'ready')).length, { timeout: 240_000 }).toBe(1);
  const live = () => page.evaluate(() => (window as any).widgetTest.WorldCanvasElement.liveWorlds);
  expect(await live()).toBe(1);

  // A second element with the same src joins the loaded World (no second load).
  await page.evaluate((src) => {
    const el = document.createElement('world-canvas');
    el.id = 'second';
    (window as any).widgetTest.watch(el);
    el.setAttribute('src', src);
    el.setAttribute('scene', 'scene-1');
    document.body.append(el);
  }, TINY);
  await expect.poll(async () => (await events(page, 'second', 'ready')).length, { timeout: 60_000 }).toBe(1);
  expect(await live()).toBe(1);
  expect(await page.evaluate(() => (document.getElementById('main') as any).world === (document.getElementById('second') as any).world)).toBe(true);
  expect(await page.evaluate(() => (document.getElementById('second') as any).session.sceneId)).toBe('scene-1');

  // A fork of the first element's rollout, shown and played in the second.
  const forked = await page.evaluate(async () => {
    const [a, b] = [document.getElementById('main') as any, document.getElementById('second') as any];
    a.act('push the blue block up');
    const branch = await a.fork();
    b.session = branch;
    b.play();
    return { same: b.session === branch, queued: branch.queue.length, next: branch.nextChunk };
  });
  expect(forked.same).toBe(true);
  expect(forked.queued).toBe(1); // the branch keeps the action that was waiting
  await expect
    .poll(async () => (await events(page, 'second', 'frame')).filter((e) => e.detail.chunk >= forked.next).length, { timeout: 180_000 })
    .toBeGreaterThan(0);

  // An element far below the fold waits until it is scrolled into view, then joins the same World.
  await page.evaluate((src) => {
    const el = document.createElement('world-canvas');
    el.id = 'below';
    el.style.marginTop = '5000px';
    (window as any).widgetTest.watch(el);
    el.setAttribute('src', src);
    document.body.append(el);
  }, TINY);
  await page.waitForTimeout(1000);
  expect(await events(page, 'below')).toEqual([]);
  await page.locator('#below').scrollIntoViewIfNeeded();
  await expect.poll(async () => (await events(page, 'below', 'ready')).length, { timeout: 60_000 }).toBe(1);
  expect(await live()).toBe(1);

  // Removing elements keeps the World while one holds it; removing the last disposes it.
  await page.evaluate(() => document.getElementById('below')!.remove());
  await page.evaluate(() => document.getElementById('main')!.remove());
  await page.waitForTimeout(100);
  expect(await live()).toBe(1);
  await page.evaluate(() => document.getElementById('second')!.remove());
  await expect.poll(live).toBe(0);

  expect(pageErrors).toEqual([]);
});
