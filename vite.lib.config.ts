/**
 * The library build (`npm run build:lib`): ESM in dist-lib/ with two entries,
 * the API (`index.js`) and the element (`world-canvas.js`, which registers
 * <world-canvas>), plus the two workers and ONNX Runtime's WASM binary as
 * files beside them. Every URL between them is relative (`new URL(file,
 * import.meta.url)`), so the package works wherever it is served from.
 * Type declarations come from `tsc -p tsconfig.lib.json`.
 */
import { readFileSync } from 'node:fs';
import { type Plugin, defineConfig } from 'vite';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { dependencies?: Record<string, string> };
const deps = Object.keys(pkg.dependencies ?? {});

/**
 * Library mode inlines every asset as a base64 data: URL, whatever its size.
 * ONNX Runtime's WASM binary is 26 MB (35 MB as base64, and in each worker,
 * twice: once for our `?url` import and once for ORT's own `new URL(...)`):
 * keep it a file with Vite's `no-inline` query.
 */
function wasmAsFile(): Plugin {
  return {
    name: 'world-canvas:wasm-as-file',
    enforce: 'pre',
    // import url from '...wasm?url'  ->  '...wasm?url&no-inline'
    async resolveId(source, importer, options) {
      if (!/\.wasm\?url$/.test(source)) return null;
      const resolved = await this.resolve(source.slice(0, -'?url'.length), importer, { ...options, skipSelf: true });
      return resolved && `${resolved.id}?url&no-inline`;
    },
    // new URL('...wasm', import.meta.url)  ->  new URL('...wasm?no-inline', import.meta.url)
    transform(code) {
      if (!code.includes('.wasm')) return null;
      const out = code.replace(/(new\s+URL\s*\(\s*)(['"])([^'"?]+\.wasm)\2(\s*,\s*import\.meta\.url\s*\))/g, '$1$2$3?no-inline$2$4');
      return out === code ? null : { code: out, map: null };
    },
  };
}

/**
 * Vite writes the URL of an emitted file (a worker, the WASM binary) as
 * `new URL(new URL('assets/x.js', import.meta.url).href, '' + import.meta.url)`.
 * Rewrite it to the plain `new URL('./assets/x.js', import.meta.url)`, the
 * form bundlers recognise: a page's own build (Vite, webpack) then bundles the
 * workers again and copies the WASM binary they load. Served as they are, the
 * files work too: every URL is relative to the file that holds it.
 */
function plainFileUrls(): Plugin {
  const nested =
    /new URL\(\s*(?:\/\*\s*@vite-ignore\s*\*\/\s*)?new URL\(\s*(["'`])([^"'`$]+)\1\s*,\s*import\.meta\.url\s*\)\.href\s*,\s*(?:""|''|``)\s*\+\s*import\.meta\.url\s*\)/g;
  return {
    name: 'world-canvas:plain-file-urls',
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') continue;
        chunk.code = chunk.code.replace(nested, (_m, q: string, file: string) => {
          const rel = /^\.{0,2}\//.test(file) ? file : `./${file}`;
          return `new URL(${q}${rel}${q}, import.meta.url)`;
        });
      }
    },
  };
}

export default defineConfig({
  // Asset and worker URLs relative to the file that loads them, not to a site root.
  base: './',
  publicDir: false,
  plugins: [wasmAsFile(), plainFileUrls()],
  worker: { format: 'es', plugins: () => [wasmAsFile(), plainFileUrls()] },
  build: {
    outDir: 'dist-lib',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    lib: {
      entry: { index: 'src/index.ts', 'world-canvas': 'src/widget/world-canvas.ts' },
      formats: ['es'],
    },
    rolldownOptions: {
      // The page's bundler resolves these from the package's dependencies; the workers bundle what they use.
      external: (id) => deps.some((d) => id === d || id.startsWith(`${d}/`)),
    },
  },
});
