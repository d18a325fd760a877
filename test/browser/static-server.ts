/**
 * A small static server for the production build (dist/) and the test bundles
 * (build/bundles/ under /bundles/), with the headers a test asks for (a strict
 * Content-Security-Policy). The dev server cannot stand in: it injects inline
 * scripts and serves modules on demand. Like every server of the app it sends
 * the cross-origin isolation headers, unless told to play a static host that
 * cannot (`isolation: false`).
 */
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';

import { ISOLATION_HEADERS } from '../../src/sw/isolation';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.map': 'application/json',
};

/** Newest modification time under the given files and folders (ms). */
function newest(paths: string[]): number {
  let t = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newest(readdirSync(p).map((f) => join(p, f))) : st.mtimeMs);
  }
  return t;
}

/** Build the app if dist/ is missing or older than the sources' newest change. */
export function ensureBuilt(): void {
  const sources = ['src', 'workers', 'public/favicon.svg', 'index.html', 'embed.html', 'bench.html', 'vite.config.ts', 'package-lock.json'];
  const built = existsSync('dist/index.html') && existsSync('dist/sw.js') ? statSync('dist/sw.js').mtimeMs : 0;
  if (built < newest(sources)) execSync('npx vite build --logLevel warn', { stdio: 'inherit' });
}

export async function serveBuild(
  extraHeaders: Record<string, string> = {},
  { isolation = true } = {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const headers = { ...(isolation ? ISOLATION_HEADERS : {}), ...extraHeaders };
  const roots: [string, string][] = [
    ['/bundles/', 'build/bundles/'],
    ['/', 'dist/'],
  ];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [prefix, dir] = roots.find(([p]) => path.startsWith(p))!;
    let file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(normalize(dir))) return void res.writeHead(403).end();
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache', ...headers });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://localhost:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
