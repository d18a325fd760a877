/**
 * The benchmark figures README.md quotes in its prose are the committed report's
 * (bench/report.json, written by `npm run bench`): a new report fails here until
 * the prose says what it measured. Each figure is compared at the precision the
 * prose writes it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8').replace(/\s+/g, ' ');

interface Run {
  label: string;
  threads?: number;
  steadyFps: number;
  actionToChunkMs: number;
  wasm?: { opsPerFrameMs: Record<string, number> };
  native?: { opsPerFrameMs: Record<string, number> | null };
  wasmOverNative?: { perFrame: number };
}
const report: { model: { flopsPerFrame: number }; matmulPeakGflops: Record<string, number>; results: Run[] } = JSON.parse(
  readFileSync(new URL('bench/report.json', root), 'utf8'),
);

/** The fp32 WASM run on `threads` threads a worker. */
function wasm(threads: number): Run {
  const r = report.results.find((x) => x.label === `wasm fp32 · ${threads} thread${threads === 1 ? '' : 's'}`);
  if (!r) throw new Error(`bench/report.json has no fp32 WASM run on ${threads} threads`);
  return r;
}

/** Convolutions' share of the one-thread run's op time, and how much slower than native's they ran. */
function convolutions() {
  const { wasm: w, native: n } = wasm(1);
  const total = Object.values(w!.opsPerFrameMs).reduce((a, b) => a + b, 0);
  return { share: (100 * w!.opsPerFrameMs.Conv) / total, overNative: w!.opsPerFrameMs.Conv / n!.opsPerFrameMs!.Conv };
}

/** Each claim: the phrase with its numbers in groups, and the report's values for them, in order. */
const claims: { says: RegExp; is: () => number[] }[] = [
  { says: /\((\d+\.\d+) GFLOP a frame at K = 4\)/, is: () => [report.model.flopsPerFrame / 1e9] },
  {
    says: /WASM fp32 generates (\d+\.\d) frames a second on one thread a worker and (\d+\.\d) on two/,
    is: () => [wasm(1).steadyFps, wasm(2).steadyFps],
  },
  {
    says: /on two threads \((\d+) against (\d+) GFLOP\/s\)/,
    is: () => [report.matmulPeakGflops['wasm 1 thread'], report.matmulPeakGflops['wasm 2 threads']],
  },
  {
    says: /decoded (\d\.\d+) s after it is typed at a chunk boundary \((\d\.\d+) s on two threads\)/,
    is: () => [wasm(1).actionToChunkMs / 1000, wasm(2).actionToChunkMs / 1000],
  },
  {
    says: /WASM is (\d+\.\d)x slower per frame on one thread \((\d+\.\d)x on two\)/,
    is: () => [wasm(1).wasmOverNative!.perFrame, wasm(2).wasmOverNative!.perFrame],
  },
  { says: /convolutions are (\d+)% of its time and run (\d+\.\d)x slower than native's/, is: () => [convolutions().share, convolutions().overNative] },
  {
    says: /on 2 cores one thread generated (\d+\.\d) frames a second and two (\d+\.\d)/,
    is: () => [wasm(1).steadyFps, wasm(2).steadyFps],
  },
];

describe('benchmark figures quoted in the README', () => {
  for (const c of claims) {
    it(c.says.source, () => {
      const m = c.says.exec(readme);
      expect(m, `"${c.says.source}" is no longer in README.md: say the figure again, and update this test`).not.toBeNull();
      const written = m!.slice(1);
      const decimals = (s: string) => s.split('.')[1]?.length ?? 0;
      expect(written).toEqual(c.is().map((v, i) => v.toFixed(decimals(written[i]))));
    });
  }
});
