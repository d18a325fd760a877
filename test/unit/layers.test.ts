/**
 * The layout is the dependency order (README.md, Layout): each folder of the runtime imports only
 * from itself and the folders listed before it, files never import each other in a cycle, the
 * workers stand on the contract and src/base/ alone (they run in their own threads and in Node), and
 * the demo uses the runtime only through the public entry points, as an embedding page would.
 * Imports are read from the source text (type-only ones too: they tie layers as much as values do).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');

/** Bottom first: a folder may import from itself and from those above it in this list. */
const LAYERS = [
  'src/contract',
  'src/base',
  'src/scheduler',
  'src/loader',
  'workers',
  'src/render',
  'src/runtime',
  'src/widget',
  'src/index.ts',
  'src/sw',
  'src/demo',
  'src/bench',
] as const;

/** What the workers may import besides each other: they run apart from the page. */
const WORKER_DEPENDENCIES = ['src/contract', 'src/base'];

/** What the demo may import besides its own files: the package's two entry points, and the app shell's service worker. */
const DEMO_DEPENDENCIES = ['src/index.ts', 'src/widget/world-canvas.ts', 'src/sw'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * The modules a file imports, as written: `import … from`, `export … from`, `import '…'`,
 * `import('…')`, and worker scripts (`new URL('…', import.meta.url)`).
 */
function importSpecifiers(text: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\bnew URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g,
  ];
  return patterns.flatMap((p) => [...text.matchAll(p)].map((m) => m[1]));
}

/** A relative import resolved to a source file of the repository (extension added where omitted); null for a package or an asset. */
function resolveImport(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = join(dirname(from), spec.replace(/\?.*$/, ''));
  if (/\.(ts|js|mjs)$/.test(base)) return base;
  if (/\.[a-z0-9]+$/i.test(base) && existsSync(join(root, base))) return null; // an asset: a model, a stylesheet
  return [`${base}.ts`, `${base}.js`, join(base, 'index.ts')].find((c) => existsSync(join(root, c))) ?? `${base}.ts`;
}

type Graph = Map<string, string[]>;

const within = (file: string, place: string) => file === place || file.startsWith(`${place}/`);
const layerOf = (file: string) => LAYERS.findIndex((l) => within(file, l));

function upwardImports(graph: Graph): string[] {
  return [...graph].flatMap(([f, deps]) =>
    deps.filter((d) => layerOf(d) > layerOf(f)).map((d) => `${f} (${LAYERS[layerOf(f)]}) imports ${d} (${LAYERS[layerOf(d)]})`),
  );
}

function importCycles(graph: Graph): string[] {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  return cycles;
}

/** Imports of files in `place` from outside it and outside `allowed`. */
function importsBeyond(graph: Graph, place: string, allowed: string[]): string[] {
  return [...graph]
    .filter(([f]) => within(f, place))
    .flatMap(([f, deps]) => deps.filter((d) => !within(d, place) && !allowed.some((p) => within(d, p))).map((d) => `${f} imports ${d}`));
}

const files = [...sourceFiles('src'), ...sourceFiles('workers')];
const graph: Graph = new Map(
  files.map((f) => [f, importSpecifiers(readFileSync(join(root, f), 'utf8')).flatMap((s) => resolveImport(f, s) ?? [])]),
);

describe('the layout is the dependency order', () => {
  it('places every file of the runtime in a layer', () => {
    expect(files.filter((f) => layerOf(f) < 0)).toEqual([]);
    expect(files.length).toBeGreaterThan(40);
  });

  it('has no upward import', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('keeps the workers on the contract and src/base/', () => {
    expect(importsBeyond(graph, 'workers', WORKER_DEPENDENCIES)).toEqual([]);
  });

  it('builds the demo on the public entry points', () => {
    expect(importsBeyond(graph, 'src/demo', DEMO_DEPENDENCIES)).toEqual([]);
  });
});

describe('the checks themselves', () => {
  it('read imports of every kind, and only from code', () => {
    const text = [
      "import { a, type B } from './a';",
      'import type {\n  C,\n  D,\n} from "../c";',
      "export { e } from './e';",
      "export * from './f';",
      "import './g';",
      "const h = await import('./h');",
      "new Worker(new URL('../../workers/i.worker.ts', import.meta.url));",
      "const s = 'not an import from \\'./j\\'';",
    ].join('\n');
    expect(importSpecifiers(text).sort()).toEqual(['../../workers/i.worker.ts', '../c', './a', './e', './f', './g', './h']);
    expect(resolveImport('src/loader/bundle.ts', '../runtime/world')).toBe('src/runtime/world.ts');
    expect(resolveImport('src/runtime/engine.ts', '../../workers/rendering.worker.ts')).toBe('workers/rendering.worker.ts');
    expect(resolveImport('src/bench/bench.ts', './matmul-peak.onnx?url')).toBeNull();
    expect(resolveImport('src/demo/main.ts', 'comlink')).toBeNull();
  });

  it('catch an upward import, a cycle, a worker reaching into the runtime and a demo around the barrel', () => {
    const bad: Graph = new Map([
      ['src/loader/bundle.ts', ['src/runtime/errors.ts']],
      ['src/runtime/session.ts', ['src/runtime/world.ts']],
      ['src/runtime/world.ts', ['src/runtime/session.ts']],
      ['workers/conditioning.ts', ['src/runtime/actions.ts', 'src/contract/manifest.ts', 'workers/protocol.ts']],
      ['src/demo/main.ts', ['src/runtime/session.ts', 'src/index.ts']],
    ]);
    expect(upwardImports(bad)).toEqual([
      'src/loader/bundle.ts (src/loader) imports src/runtime/errors.ts (src/runtime)',
      'workers/conditioning.ts (workers) imports src/runtime/actions.ts (src/runtime)',
    ]);
    expect(importCycles(bad)).toEqual(['src/runtime/session.ts -> src/runtime/world.ts -> src/runtime/session.ts']);
    expect(importsBeyond(bad, 'workers', WORKER_DEPENDENCIES)).toEqual(['workers/conditioning.ts imports src/runtime/actions.ts']);
    expect(importsBeyond(bad, 'src/demo', DEMO_DEPENDENCIES)).toEqual(['src/demo/main.ts imports src/runtime/session.ts']);
  });
});
