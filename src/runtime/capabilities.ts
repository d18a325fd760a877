/**
 * What this browser can do, detected once and frozen. The demo's backend
 * badge and the widget's `ready` event report it.
 */

export interface Capabilities {
  readonly webgpu: boolean;
  /** The adapter offers shader-f16 (fp16 graphs can run on the GPU). */
  readonly shaderF16: boolean;
  readonly adapter: string | null;
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
    return Object.freeze({ ...base, webgpu: false, shaderF16: false, adapter: null, webgpuUnavailableReason: 'this browser has no WebGPU' });
  }
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) {
      return Object.freeze({ ...base, webgpu: false, shaderF16: false, adapter: null, webgpuUnavailableReason: 'no WebGPU adapter (GPU blocklisted or disabled)' });
    }
    const info = adapter.info;
    const name = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
    return Object.freeze({ ...base, webgpu: true, shaderF16: adapter.features.has('shader-f16'), adapter: name, webgpuUnavailableReason: null });
  } catch (e) {
    return Object.freeze({ ...base, webgpu: false, shaderF16: false, adapter: null, webgpuUnavailableReason: `WebGPU failed: ${(e as Error).message}` });
  }
}
