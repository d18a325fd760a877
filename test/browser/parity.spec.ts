/**
 * Parity: each graph's outputs in the browser match the Python reference
 * within 1e-3 (max abs, fp32), and a rollout of several chunks scheduled by
 * the runtime matches the reference sampler within 2/255, in WebGPU and WASM.
 */
import { expect, test } from '@playwright/test';

const bundles = [
  // exported from random weights by the test command (every path carries signal)
  { name: 'tiny', url: '/build/bundles/tiny/' },
  // the shipped, trained default model
  { name: 'tabletop', url: '/models/tabletop/' },
];

for (const b of bundles) {
  for (const backend of ['webgpu', 'wasm'] as const) {
    test(`${b.name} on ${backend} matches the Python reference`, async ({ page }) => {
      await page.goto('/test/browser/harness.html');
      await page.waitForFunction(() => document.body.dataset.ready === 'true');
      const report = await page.evaluate(
        ({ url, backend }) => (window as any).harness.verify(url, backend),
        { url: b.url, backend },
      );
      console.log(`${b.name}/${backend}: ${JSON.stringify({ graphs: report.graphs, rollout: report.rollout })}`);
      expect(report.backend).toBe(backend); // no silent fallback
      expect(report.stages).not.toContain('warmup'); // the test vectors run every graph: a warm-up would only repeat it
      for (const [g, r] of Object.entries(report.graphs) as [string, { maxAbsError: number }][]) {
        expect(r.maxAbsError, `${g} max abs error`).toBeLessThanOrEqual(1e-3);
      }
      for (const t of report.texts) {
        expect(t.tokens, `tokens of "${t.text}"`).toBe(t.expectedTokens);
        expect(t.maxAbsError, `text states of "${t.text}"`).toBeLessThanOrEqual(1e-3);
      }
      expect(report.rollout.chunks).toBeGreaterThanOrEqual(3);
      expect(report.rollout.maxAbsError).toBeLessThanOrEqual(2 / 255);
    });
  }
}
