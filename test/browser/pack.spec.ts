/**
 * The package as an app gets it: build the library, `npm pack` it, install
 * the tarball into a fresh app outside the repository (with the repo's exact
 * Vite), type-check the app against the package's declarations, build it,
 * serve the build with `vite preview`, and drive <world-canvas> through an
 * action in Chromium. The workers and ONNX Runtime's WASM binary must come
 * from the app's own build, resolved relative to the package's files.
 *
 * Slow (an `npm install` from the registry): `npm run test:pack` runs it alone.
 * KEEP_PACK_APP=1 keeps the temporary app for a look.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';

import { freePort, waitForHttp } from './net';

const repo = resolve(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test('the packed library installs, builds and runs <world-canvas> in a fresh Vite app', async ({ page }) => {
  test.setTimeout(20 * 60_000);
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, f: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
      console.log(`[pack] ${name}: ${(timings[name] / 1000).toFixed(1)} s`);
    }
  };
  const run = (cmd: string, args: string[], cwd: string): string => {
    try {
      return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    } catch (e) {
      const { stdout, stderr } = e as { stdout?: string; stderr?: string };
      throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`);
    }
  };

  const tmp = mkdtempSync(join(tmpdir(), 'world-canvas-pack-'));
  const app = join(tmp, 'app');
  let preview: ChildProcess | null = null;
  try {
    // 1. The library and its tarball.
    await step('npm run build:lib', () => run(npm, ['run', 'build:lib'], repo));
    const tarball = await step('npm pack', () => {
      const out = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', tmp], repo)) as { filename: string; size: number; files: { path: string }[] }[];
      const files = out[0].files.map((f) => f.path);
      console.log(`[pack] ${out[0].filename}: ${(out[0].size / 1e6).toFixed(1)} MB packed, ${files.length} files`);
      expect(files).toContain('dist-lib/index.js');
      expect(files).toContain('dist-lib/world-canvas.js');
      expect(files.some((f) => /^dist-lib\/assets\/ort-wasm-simd-threaded\.asyncify-.*\.wasm$/.test(f))).toBe(true);
      expect(files.filter((f) => /^dist-lib\/assets\/.*\.worker-.*\.js$/.test(f))).toHaveLength(2);
      expect(files.every((f) => f.startsWith('dist-lib/') || ['package.json', 'README.md'].includes(f))).toBe(true);
      return out[0].filename;
    });

    // 2. A fresh app outside the repository: the tarball, the repo's exact Vite, the tiny bundle.
    await step('create the app', () => {
      cpSync(join(repo, 'test/pack/example'), app, { recursive: true });
      const viteVersion = (JSON.parse(readFileSync(join(repo, 'node_modules/vite/package.json'), 'utf8')) as { version: string }).version;
      const pkg = {
        name: 'world-canvas-example',
        private: true,
        type: 'module',
        dependencies: { 'world-canvas': `file:../${tarball}` },
        devDependencies: { vite: viteVersion },
      };
      writeFileSync(join(app, 'package.json'), JSON.stringify(pkg, null, 2));
      // onnxruntime-node (a dependency of @huggingface/transformers) must not run its install script
      cpSync(join(repo, '.npmrc'), join(app, '.npmrc'));
      cpSync(join(repo, 'build/bundles/tiny'), join(app, 'public/models/tiny'), {
        recursive: true,
        filter: (src) => !src.includes('testvectors'),
      });
    });
    await step('npm install', () => run(npm, ['install', '--no-audit', '--no-fund'], app));
    await step('type-check the app against the package', () =>
      run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(app, 'tsconfig.json')], app),
    );
    const built = await step('vite build', () => run(join(app, 'node_modules/.bin/vite'), ['build'], app));
    console.log(built.split('\n').filter((l) => /\.(js|wasm|html)\b/.test(l)).join('\n'));

    // 3. Serve the build and drive the element through an action.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    await step('vite preview up', async () => {
      preview = spawn(join(app, 'node_modules/.bin/vite'), ['preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
        cwd: app,
        stdio: 'ignore',
      });
      await waitForHttp(url, 60_000);
    });

    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const fetched: { url: string; status: number; type: string }[] = [];
    page.context().on('response', (r) => fetched.push({ url: r.url(), status: r.status(), type: r.headers()['content-type'] ?? '' }));
    const log = () => page.evaluate(() => (window as any).example.log as { type: string; detail: any }[]);

    await step('load to ready (WASM: the only WebGPU adapter here is SwiftShader, which auto passes over)', async () => {
      await page.goto(url);
      await expect.poll(async () => (await log()).filter((e) => e.type === 'ready' || e.type === 'error'), { timeout: 300_000 }).not.toEqual([]);
      const first = (await log()).find((e) => e.type === 'ready' || e.type === 'error')!;
      expect(first.type, JSON.stringify(first.detail)).toBe('ready');
      expect(first.detail.backend).toBe('wasm');
      expect(first.detail.notices.join(' ')).toContain('is not a GPU');
    });

    const hash = () =>
      page.evaluate(() => {
        const c = document.querySelector('world-canvas')!.shadowRoot!.querySelector('canvas')!;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let h = 0;
        for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0;
        return h;
      });
    await step('an action reaches the screen', async () => {
      const before = await hash();
      const input = page.locator('world-canvas [part~="input"]');
      await input.fill('push the red block to the left');
      await input.press('Enter');
      await expect
        .poll(async () => (await log()).filter((e) => e.type === 'frame' && e.detail.action === 'push the red block to the left').length, {
          timeout: 240_000,
        })
        .toBeGreaterThanOrEqual(4);
      expect(await hash()).not.toBe(before);
    });

    // The workers and the WASM binary came from the app's build, next to its other assets.
    const wasm = fetched.filter((f) => f.url.endsWith('.wasm'));
    console.log(`[pack] fetched: ${fetched.filter((f) => /\.(js|wasm)$/.test(f.url)).map((f) => `${f.status} ${new URL(f.url).pathname}`).join(', ')}`);
    expect(wasm.length).toBeGreaterThan(0);
    for (const w of wasm) {
      expect(w.url.startsWith(`${url}assets/`), w.url).toBe(true);
      expect(w.status).toBe(200);
      expect(w.type).toContain('application/wasm');
    }
    expect(fetched.filter((f) => f.url.includes('.worker') && f.status === 200).length).toBeGreaterThanOrEqual(2);
    expect((await log()).filter((e) => e.type === 'error')).toEqual([]);
    expect(pageErrors).toEqual([]);
  } finally {
    (preview as ChildProcess | null)?.kill();
    if (!process.env.KEEP_PACK_APP) rmSync(tmp, { recursive: true, force: true });
    else console.log(`[pack] app kept in ${app}`);
    console.log(`[pack] timings (ms): ${JSON.stringify(timings)}`);
  }
});
