import { readFileSync } from 'node:fs';

import { defineConfig } from '@playwright/test';

// Shared with scripts/browser.mjs (bench, screenshot); read as text: Node's ESM loader wants an import attribute for JSON.
const chromiumFlags: string[] = JSON.parse(readFileSync('test/browser/chromium-flags.json', 'utf8'));

/**
 * Browser tests in Debian's Chromium (CHROMIUM_PATH to use another), headless,
 * WebGPU through SwiftShader. The dev server serves the demo, the harness page
 * and the bundles (build/bundles is made by the test command's export step).
 */
const port = Number(process.env.WC_TEST_PORT ?? 5199);

export default defineConfig({
  testDir: 'test/browser',
  timeout: 300_000,
  expect: { timeout: 120_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://localhost:${port}`,
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: chromiumFlags,
    },
  },
  webServer: {
    command: `WC_TEST=1 npx vite --port ${port} --strictPort`,
    url: `http://localhost:${port}/`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
});
