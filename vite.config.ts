/// <reference types="vitest/config" />
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { type Plugin, defineConfig } from 'vite';

import { ISOLATION_HEADERS } from './src/sw/isolation.ts'; // with its extension: vite's native config loader wants it

/**
 * Writes the demo's service worker at build time with the list of emitted
 * files to precache (the app shell; bundle files under public/ are not
 * emitted by the bundler, so model bytes stay out of it).
 */
function serviceWorker(): Plugin {
  // The HTML pages are emitted after this plugin sees the bundle: take them from the build's inputs.
  let pages: string[] = [];
  return {
    name: 'world-canvas-service-worker',
    apply: 'build',
    configResolved(config) {
      const input = config.build.rollupOptions.input;
      const entries = typeof input === 'string' ? [input] : Array.isArray(input) ? input : Object.values(input ?? {});
      pages = entries.filter((f) => f.endsWith('.html')).map((f) => f.replace(/^.*[\\/]/, ''));
    },
    generateBundle(_options, bundle) {
      const files = [...new Set([...Object.keys(bundle).filter((f) => !f.endsWith('.map')), ...pages])].sort();
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 12);
      const source = readFileSync(new URL('./src/sw/service-worker.js', import.meta.url), 'utf8')
        .replace('__VERSION__', version)
        .replace('__PRECACHE__', JSON.stringify(files))
        .replace('__ISOLATION_HEADERS__', JSON.stringify(ISOLATION_HEADERS));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source });
    },
  };
}

export default defineConfig({
  plugins: [serviceWorker()],
  optimizeDeps: {
    // onnxruntime-web ships prebuilt ESM and loads its WASM by URL; pre-bundling breaks that.
    exclude: ['onnxruntime-web'],
    // Only the conditioning worker imports it, and the dependency scan does not follow workers: found
    // at the first load, it had every dependency bundled a second time.
    include: ['@huggingface/transformers'],
  },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    sourcemap: true,
    // The demo, the embedding example, and the benchmark page any browser can run on its own GPU.
    rollupOptions: { input: { main: 'index.html', embed: 'embed.html', bench: 'bench.html' } },
  },
  // Browser tests (WC_TEST) run without hot reload: a page must not reload mid-test.
  // Cross-origin isolated, so ONNX Runtime's WASM runs threads (src/sw/isolation.ts).
  server: {
    port: 5173,
    strictPort: false,
    hmr: !process.env.WC_TEST,
    headers: ISOLATION_HEADERS,
    // Nothing the page imports lives here: watching the Python venv (95,000 files), training runs and
    // build outputs kept the server's one thread busy for half a minute after it started, while the
    // first page waited on it.
    watch: { ignored: ['**/.venv/**', '**/runs/**', '**/build/**', '**/dist/**', '**/dist-lib/**'] },
    // Transformed at start, before the first page asks for them one import at a time.
    warmup: { clientFiles: ['./src/demo/main.ts', './workers/*.worker.ts'] },
  },
  preview: { port: 4173, headers: ISOLATION_HEADERS },
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
  },
});
