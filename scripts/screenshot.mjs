#!/usr/bin/env node
/**
 * `npm run screenshot`: the README's picture of the demo mid-rollout. Serves
 * the demo, types a few actions into it in headless Chromium and saves
 * docs/demo.png once their chunks are on screen.
 *
 *   npm run screenshot -- [--bundle /models/tabletop/] [--scene scene-0] [--actions 'a|b|c'] [--out docs/demo.png] [--backend wasm]
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import { chromium } from 'playwright-core';

import { chromiumArgs, chromiumPath, startVite } from './browser.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1] ?? '']] : acc), []),
);
const bundle = args.bundle ?? '/models/tabletop/';
const out = args.out ?? 'docs/demo.png';
// WASM by default: SwiftShader's WebGPU draws the same frames, only far slower.
const backend = args.backend ?? 'wasm';
const port = Number(args.port ?? 4190);
const scene = args.scene ?? 'scene-0';
const actions = (args.actions ?? 'push the yellow cube to the right|make the lights warm|move the green ball to the top left corner').split('|');

const server = await startVite(['--port', String(port), '--strictPort'], { WC_TEST: '1' });

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: chromiumArgs,
});
try {
  const page = await browser.newPage({ viewport: { width: 1180, height: 560 } });
  await page.goto(`http://localhost:${port}/?bundle=${encodeURIComponent(bundle)}&scene=${scene}&backend=${backend}`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 300_000 });
  for (const a of actions) {
    await page.fill('#action', a);
    await page.press('#action', 'Enter');
  }
  // every typed action's chunk has been drawn
  await page.waitForFunction(
    (n) => document.querySelectorAll('#history li').length === n && !document.querySelector('#history li.pending'),
    actions.length,
    { timeout: 300_000 },
  );
  await page.waitForTimeout(1500);
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  server.kill();
}
