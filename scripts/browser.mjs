/**
 * What the scripts that drive Chromium share with the browser tests: the
 * Chromium binary and its flags (test/browser/chromium-flags.json, also read by
 * playwright.config.ts), and a vite server started and stopped with the script.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumArgs = JSON.parse(readFileSync(new URL('../test/browser/chromium-flags.json', import.meta.url), 'utf8'));

/** `vite <args>` (dev server, or `preview`), resolved once it serves; killed when this process exits. */
export async function startVite(args, env = {}) {
  // vite itself, not through npx: killing npx would leave vite running and this script waiting on it
  const server = spawn(process.execPath, ['node_modules/vite/bin/vite.js', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  process.on('exit', () => server.kill());
  await new Promise((resolve) => server.stdout.on('data', (d) => String(d).includes('localhost') && resolve()));
  return server;
}
