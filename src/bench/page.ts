/** The benchmark page: run from the form, or driven by scripts/bench.mjs through `window.worldCanvasBench`. */
import { detectCapabilities, wasmThreads } from '../base/capabilities';
import { threadsOption } from '../base/page-options';
import { type BenchConfig, matmulPeak, modelCost, runBench } from './bench';

/** The WASM threads a worker of the engine runs when none are asked for, on this page (isolated or not) and machine. */
async function engineThreads(): Promise<number> {
  const caps = await detectCapabilities();
  return wasmThreads(caps.crossOriginIsolated, caps.hardwareConcurrency);
}

Object.assign(window, { worldCanvasBench: { runBench, matmulPeak, modelCost, detectCapabilities, engineThreads } });

const form = document.getElementById('form') as HTMLFormElement;
const out = document.getElementById('out')!;
form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const d = new FormData(form);
  const cfg = {
    bundle: String(d.get('bundle')),
    backend: d.get('backend'),
    variant: d.get('variant'),
    residency: d.get('residency'),
    chunks: Number(d.get('chunks')),
    threads: threadsOption.parse(String(d.get('threads') ?? '')) ?? undefined, // empty: the engine's pick
  } as BenchConfig;
  out.textContent = 'running…';
  try {
    const r = await runBench(cfg);
    out.textContent = JSON.stringify({ ...r, matmulPeakGflops: await matmulPeak(cfg.backend, cfg.threads) }, null, 2);
  } catch (e) {
    out.textContent = `${(e as Error).name}: ${(e as Error).message}`;
  }
});
document.body.dataset.ready = 'true';
