/**
 * What this browser can do, detected once and frozen. The demo's backend
 * badge and the widget's `ready` event report it.
 */

/** Where the graphs run: the GPU through WebGPU, or the CPU through WebAssembly. */
export type Backend = 'webgpu' | 'wasm';

export interface Capabilities {
  readonly webgpu: boolean;
  /** The adapter offers shader-f16 (fp16 graphs can run on the GPU). */
  readonly shaderF16: boolean;
  readonly adapter: string | null;
  /**
   * The adapter says what it is (a vendor, architecture or description). One that does not
   * (a privacy-minded browser, an unknown driver) may be a GPU or a CPU rasteriser: 'auto'
   * then times both backends on one decoder call and keeps the faster.
   */
  readonly adapterIdentified: boolean;
  /**
   * Why the adapter is a software fallback (it reports isFallbackAdapter, or it is a
   * known CPU rasteriser such as SwiftShader or llvmpipe), or null for a real GPU.
   * Such an adapter is far slower than WASM, so 'auto' does not pick it.
   */
  readonly softwareAdapter: string | null;
  /** Why WebGPU is not used, when it is not. */
  readonly webgpuUnavailableReason: string | null;
  /** SharedArrayBuffer is usable: WASM may run multi-threaded. */
  readonly crossOriginIsolated: boolean;
  readonly hardwareConcurrency: number;
  readonly indexedDB: boolean;
}

let detected: Promise<Capabilities> | null = null;

export function detectCapabilities(): Promise<Capabilities> {
  detected ??= detect();
  return detected;
}

async function detect(): Promise<Capabilities> {
  const base = {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hardwareConcurrency: globalThis.navigator?.hardwareConcurrency ?? 1,
    indexedDB: typeof indexedDB !== 'undefined',
  };
  const gpu = (globalThis.navigator as Navigator & { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) {
    return Object.freeze({ ...base, webgpu: false, shaderF16: false, adapter: null, adapterIdentified: false, softwareAdapter: null, webgpuUnavailableReason: 'this browser has no WebGPU' });
  }
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) {
      return Object.freeze({ ...base, webgpu: false, shaderF16: false, adapter: null, adapterIdentified: false, softwareAdapter: null, webgpuUnavailableReason: 'no WebGPU adapter (GPU blocklisted or disabled)' });
    }
    const info = adapter.info;
    const name = adapterName(info);
    const fallback = info?.isFallbackAdapter === true || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    return Object.freeze({
      ...base,
      webgpu: true,
      shaderF16: adapter.features.has('shader-f16'),
      adapter: name,
      adapterIdentified: Boolean(info?.vendor || info?.architecture || info?.description),
      softwareAdapter: softwareAdapterReason(name, fallback),
      webgpuUnavailableReason: null,
    });
  } catch (e) {
    return Object.freeze({ ...base, webgpu: false, shaderF16: false, adapter: null, adapterIdentified: false, softwareAdapter: null, webgpuUnavailableReason: `WebGPU failed: ${(e as Error).message}` });
  }
}

/**
 * ONNX Runtime's WASM threads in each worker. Threads share memory, which a
 * browser allows only where the context is cross-origin isolated: one thread
 * elsewhere. Otherwise the number asked for, or ONNX Runtime's own default,
 * half the cores up to 4. Not every core: the page's thread, the display and
 * the other worker run beside a graph, and ORT's threads wait for each other
 * at every op. On 2 cores 2 threads generated fewer frames than 1 (12.3 fps
 * against 15.8 for the default bundle, bench/report.md) although a lone
 * matrix product ran twice as fast.
 */
export function wasmThreads(isolated: boolean, cores: number, asked?: number): number {
  if (!isolated) return 1;
  return Math.max(1, Math.floor(asked ?? Math.min(4, Math.ceil(cores / 2))));
}

/** How an adapter is named to the user (the notices, the backend badge, `EngineInfo.adapter`). */
export function adapterName(info: GPUAdapterInfo | undefined): string {
  return [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
}

/** CPU rasterisers that WebGPU implementations fall back to (Chromium's SwiftShader, Mesa's llvmpipe/lavapipe, Windows' WARP). */
const SOFTWARE_ADAPTERS = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

/** Why an adapter is a software fallback, or null for a real GPU. */
export function softwareAdapterReason(name: string, isFallbackAdapter: boolean): string | null {
  const known = SOFTWARE_ADAPTERS.exec(name)?.[0];
  if (known) return `${known}, a software rasteriser`;
  if (isFallbackAdapter) return 'the browser reports it as a fallback adapter';
  return null;
}
