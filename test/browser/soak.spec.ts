/**
 * Soak: 2,000 chunks of the smallest configuration (the tiny bundle) in
 * headless Chromium, with memory sampled along the way. Memory must stay flat
 * once the session's history is full, no frame may hold NaN, and the backbone's
 * KV cache must stay within its configured context (the oldest turns dropped).
 *
 * It runs on the WASM backend: SwiftShader's software WebGPU takes ~3 s per
 * chunk of the tiny model, which would make 2,000 chunks take hours; the CPU
 * path runs the same runtime code (session, workers, cache rolling).
 * Figures go to test-results/soak.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

import { expect, test } from '@playwright/test';

const CHUNKS = Number(process.env.WC_SOAK_CHUNKS ?? 2000);
const HISTORY = 200; // the session keeps this many finished chunks for its timeline
const HEAP_BOUND_MB = 16; // allowed JS heap growth after the history is full
const RSS_BOUND_MB = 150; // allowed growth of all Chromium processes together

test.use({ launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking', '--js-flags=--expose-gc'] } });

/**
 * Resident memory of this test's Chromium: the browser this worker process launched and every process
 * under it, in MB. (Not every chromium on the machine: another run's browser would count as growth.)
 */
function chromiumRssMb(): number {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,rss=,comm='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  const children = new Map<string, string[][]>();
  for (const r of rows) children.set(r[1], [...(children.get(r[1]) ?? []), r]);
  let kb = 0;
  const under = [...(children.get(String(process.pid)) ?? [])];
  for (let r = under.pop(); r; r = under.pop()) {
    if (r[3] === 'chromium') kb += Number(r[2]);
    under.push(...(children.get(r[0]) ?? []));
  }
  return kb / 1024;
}

test(`soak: ${CHUNKS} chunks, flat memory, no NaN, bounded KV cache`, async ({ page }) => {
  test.setTimeout(60 * 60_000);
  await page.goto('/test/browser/harness.html');
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  await page.evaluate(
    async ({ chunks, history }) => {
      const { harness } = window as any;
      const world = await harness.load({ bundle: '/build/bundles/tiny/', backend: 'wasm' });
      const s = await world.newSession({ seed: 11 }, { historyLimit: history });
      const words = ['push the red block left', 'slide the blue one up', 'dim the lights', 'wait', 'move the green ball right'];
      const state = { done: 0, nan: 0, samples: [] as { chunk: number; heapMb: number }[], kvValid: [] as number[], cacheTokens: world.manifest.backbone.cacheTokens, error: null as string | null, finished: false };
      (window as any).soak = state;
      (async () => {
        try {
          while (state.done < chunks) {
            if (s.queue.length === 0 && state.done % 3 === 0) s.act(words[state.done % words.length]);
            const c = await s.step();
            if (!c) continue;
            state.done++;
            for (let i = 0; i < c.frames.length; i++) if (Number.isNaN(c.frames[i])) { state.nan++; break; }
            if (state.done % 100 === 0) {
              (window as any).gc?.();
              state.samples.push({ chunk: state.done, heapMb: (performance as any).memory.usedJSHeapSize / 1048576 });
              state.kvValid.push(s.boundary.kvMask.reduce((a: number, b: number) => a + b, 0));
            }
          }
        } catch (e) {
          state.error = `${(e as Error).name}: ${(e as Error).message}`;
        }
        state.finished = true;
      })();
    },
    { chunks: CHUNKS, history: HISTORY },
  );
  const rss: { chunk: number; rssMb: number }[] = [];
  for (;;) {
    await page.waitForTimeout(5000);
    const st = await page.evaluate(() => {
      const s = (window as any).soak;
      return { done: s.done, finished: s.finished, error: s.error };
    });
    rss.push({ chunk: st.done, rssMb: chromiumRssMb() });
    if (st.finished) break;
  }
  const r = await page.evaluate(() => (window as any).soak);
  mkdirSync('test-results', { recursive: true });
  writeFileSync('test-results/soak.json', JSON.stringify({ chunks: r.done, nan: r.nan, heap: r.samples, rss, kvValid: r.kvValid, cacheTokens: r.cacheTokens, historyLimit: HISTORY }, null, 1));
  expect(r.error).toBeNull();
  expect(r.done).toBe(CHUNKS);
  expect(r.nan).toBe(0);
  // the KV cache never holds more than its context, and is full once enough turns went by
  expect(Math.max(...r.kvValid)).toBeLessThanOrEqual(r.cacheTokens);
  // memory is flat once the timeline history is full (chunk HISTORY + margin onwards)
  const settled = r.samples.filter((x: { chunk: number }) => x.chunk >= HISTORY + 100);
  const heap = settled.map((x: { heapMb: number }) => x.heapMb);
  expect(Math.max(...heap) - heap[0]).toBeLessThan(HEAP_BOUND_MB);
  const rssSettled = rss.filter((x) => x.chunk >= HISTORY + 100).map((x) => x.rssMb);
  expect(Math.max(...rssSettled) - rssSettled[0]).toBeLessThan(RSS_BOUND_MB);
});
