/**
 * The demo end to end with the shipped model, on the WebGPU backend: loading
 * shows its progress, then a backend badge, the notices and a live readout;
 * an action typed produces new frames on the canvas. One page for all of it:
 * on SwiftShader, loading on WebGPU (its shaders compiled in software) is the
 * slow part of the browser tests.
 */
import { expect, test } from '@playwright/test';

test('the demo loads with progress, a backend badge and a live readout, and an action typed produces new frames, on WebGPU', async ({ page }) => {
  // Loading (up to 240 s) and the action's chunk (up to 180 s) on SwiftShader: on 2 busy cores the two took
  // 4.9 min together, against the default 5.
  test.setTimeout(8 * 60_000);
  const progress: string[] = [];
  await page.exposeFunction('noteStage', (s: string) => progress.push(s));
  await page.addInitScript(() => {
    new MutationObserver(() => {
      const s = document.getElementById('progress')?.dataset.stage;
      if (s) (window as any).noteStage(s);
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-stage'] });
  });
  const failed: string[] = [];
  page.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/?bundle=/models/tabletop/&backend=webgpu'); // asked for: 'auto' would not pick SwiftShader
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 240_000 });
  expect(progress).toEqual(expect.arrayContaining(['download', 'compile', 'warmup']));
  await expect(page.locator('#progress')).toBeHidden();
  await expect(page.locator('#backend')).toHaveAttribute('data-backend', 'webgpu');
  await expect(page.locator('#backend')).toContainText('WebGPU');
  await expect(page.locator('#notice')).toContainText('shader-f16'); // why fp32 was chosen
  await expect(page.locator('#notice')).toContainText('software adapter'); // and that SwiftShader is slow
  // frame rates while it generates; once the still world has settled, that it holds still
  await expect(page.locator('#readout')).toContainText(/made [\d.]+ fps · shown [\d.]+ fps|holding still at chunk \d+: nothing changes until you act/);

  const canvasHash = () =>
    page.evaluate(() => {
      const c = document.querySelector('.branch[data-active] canvas') as HTMLCanvasElement; // the active branch's view
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let h = 0;
      for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0;
      return h;
    });
  const stats = () => page.evaluate(() => (window as any).worldCanvasStats);

  await page.fill('#action', 'push the red block to the left');
  await page.press('#action', 'Enter');
  await expect(page.locator('#history li')).toHaveText(['push the red block to the left']);
  const before = await canvasHash();
  const chunk = Number(await page.locator('#history li').first().getAttribute('data-chunk'));
  // the action's own chunk reaches the screen: "shown" is recorded when its first frame is drawn
  await expect.poll(async () => (await stats()).shown.map((s: any) => s.chunk), { timeout: 180_000 }).toContain(chunk);
  await expect(page.locator('#history li').first()).not.toHaveClass(/pending/);
  expect((await stats()).lastLatencyMs).not.toBeNull();
  expect(await canvasHash()).not.toBe(before);
  // the player paces the chunk's other frames at the bundle's fps: all of them within the chunk's own display time and a bit
  await expect.poll(async () => (await stats()).framesShown, { timeout: 10_000 }).toBeGreaterThanOrEqual((chunk + 1) * 4);
  const s = await stats();
  expect(s.errors).toEqual([]);
  expect(failed).toEqual([]); // no 404 (the favicon was one)
  expect(errors).toEqual([]);
});
