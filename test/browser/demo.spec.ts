/**
 * The demo end to end: open it, wait for the model, type an action, see new
 * frames on the canvas, on the WebGPU backend.
 */
import { expect, test } from '@playwright/test';

test('an action typed in the demo produces new frames, on WebGPU', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/?bundle=/models/tabletop/&backend=webgpu'); // asked for: 'auto' would not pick SwiftShader
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 240_000 });
  await expect(page.locator('#backend')).toHaveAttribute('data-backend', 'webgpu');

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
  expect(errors).toEqual([]);
});
