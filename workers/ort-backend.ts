/**
 * Every use of ONNX Runtime Web goes through this module.
 *
 * - `onnxruntime-web/webgpu` is the build with the native WebGPU execution
 *   provider; it is also the one @huggingface/transformers imports, so one
 *   ORT ships. Its WASM binary is served from our own files, never a CDN.
 * - Each worker owns one GPUDevice and hands it to all its sessions: ORT
 *   destroys a device it created itself when its last session is released,
 *   and tensors can only move between sessions on the same device.
 */
import * as ort from 'onnxruntime-web/webgpu';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';

import { SerialQueue } from '../src/base/async';
import { adapterName, wasmThreads } from '../src/base/capabilities';
import { DeviceLostError, WebGPUUnavailableError } from '../src/base/errors';
import type { Backend } from './protocol';

export { ort };

/** ORT's WASM binary, beside the bundled script (a page serves it; the Node benchmark reads it from disk). */
export const ORT_WASM_HREF = new URL(ortWasmUrl, import.meta.url).href;

let configured = false;
let wasmBinary: Uint8Array | undefined;

/**
 * Hand ORT its WASM binary as bytes, before the first session: for Node (the
 * GPU benchmark), whose fetch cannot read the file: URL a page would serve.
 */
export function provideOrtWasm(bytes: Uint8Array): void {
  if (configured) throw new Error('provideOrtWasm must come before the first ONNX Runtime session');
  wasmBinary = bytes;
}

/**
 * Point ORT at our WASM binary and set its threads (`threads` if given, see
 * wasmThreads). Once per worker: ORT reads these when it starts, at the first session.
 */
export function configureOrt(threads?: number): void {
  if (configured) return;
  configured = true;
  ort.env.wasm.wasmPaths = { wasm: ORT_WASM_HREF };
  if (wasmBinary) ort.env.wasm.wasmBinary = wasmBinary;
  ort.env.wasm.proxy = false;
  ort.env.wasm.numThreads = wasmThreads(globalThis.crossOriginIsolated ?? false, navigator.hardwareConcurrency || 1, threads);
  ort.env.logLevel = 'error';
}

/** The threads ORT runs WASM on, once started: it falls back to 1 where the browser cannot share memory. */
export function ortThreads(): number {
  return ort.env.wasm.numThreads ?? 1;
}

export interface GpuContext {
  device: GPUDevice;
  /** The adapter has shader-f16 and the device was created with it. */
  f16: boolean;
  adapter: string;
}

/**
 * Create the worker's GPUDevice with the limits and optional features ORT's
 * kernels use. Resolves `onLost` when the device is lost.
 */
export async function acquireDevice(onLost: (reason: string) => void): Promise<GpuContext> {
  const gpu = (globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined)?.gpu;
  if (!gpu) throw new WebGPUUnavailableError('this browser has no WebGPU (navigator.gpu is missing)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new WebGPUUnavailableError('no WebGPU adapter is available (GPU blocklisted, or WebGPU disabled)');
  const wanted: GPUFeatureName[] = ['shader-f16', 'subgroups' as GPUFeatureName, 'timestamp-query'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupSizeZ: l.maxComputeWorkgroupSizeZ,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
  void device.lost.then((info) => onLost(info.message || info.reason || 'unknown'));
  return { device, f16: requiredFeatures.includes('shader-f16'), adapter: adapterName(adapter.info) };
}

export interface SessionSpec {
  bytes: Uint8Array;
  backend: Backend;
  gpu?: GpuContext;
  /** Outputs that stay on the GPU (WebGPU only): they feed the next call without a readback. */
  gpuOutputs?: string[];
  /** Session options over the engine's (the benchmark profiles, and compares alternatives). */
  options?: ort.InferenceSession.SessionOptions;
}

export async function createSession(spec: SessionSpec): Promise<ort.InferenceSession> {
  configureOrt();
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders:
      spec.backend === 'webgpu'
        ? // NHWC: the VAE's convolutions ran 20% faster than in NCHW (SwiftShader, tiny bundle).
          [{ name: 'webgpu', device: spec.gpu?.device, preferredLayout: 'NHWC' } as ort.InferenceSession.WebGpuExecutionProviderOption]
        : ['wasm'],
    graphOptimizationLevel: 'all',
  };
  if (spec.backend === 'webgpu' && spec.gpuOutputs?.length) {
    options.preferredOutputLocation = Object.fromEntries(spec.gpuOutputs.map((n) => [n, 'gpu-buffer' as const]));
  }
  return ort.InferenceSession.create(spec.bytes, { ...options, ...spec.options });
}

export function f32(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims as number[]);
}

/** Copy a tensor's data to the CPU (downloads GPU tensors). */
export async function readF32(t: ort.Tensor): Promise<Float32Array> {
  const data = t.location === 'cpu' ? t.data : await t.getData();
  return new Float32Array(data as Float32Array); // a copy the caller owns and may transfer
}

/** Release a tensor's GPU buffer; CPU tensors need nothing. */
export function release(t: ort.Tensor | null | undefined): void {
  if (t && t.location === 'gpu-buffer') t.dispose();
}

/** Run a session on CPU-side inputs and read every output back (diagnostics). */
export async function runOnWire(
  session: ort.InferenceSession,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
  const inputs: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) inputs[k] = f32(v.data, v.dims);
  const out = await session.run(inputs);
  const result: Record<string, { data: Float32Array; dims: number[] }> = {};
  for (const [k, t] of Object.entries(out)) {
    result[k] = { data: await readF32(t), dims: [...t.dims] };
    release(t);
  }
  return result;
}

/**
 * Calls into one worker run one after another: comlink delivers messages as
 * they come, and ONNX Runtime's WASM module must not be re-entered by a
 * second run while the first awaits the GPU.
 */
export function serialized<T extends object>(target: T, calls = new SerialQueue()): T {
  return new Proxy(target, {
    get(obj, key, receiver) {
      const v = Reflect.get(obj, key, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => calls.run(() => v.apply(obj, args));
    },
  });
}

/**
 * The error a worker throws once its device is gone; the World restarts the
 * engine on it. It crosses the worker boundary by name and message (comlink
 * sends those), and the message is already the one the user reads.
 */
export function deviceLost(reason: string): Error {
  return new DeviceLostError(reason);
}

/**
 * A call in flight when the device goes away fails with whatever ONNX Runtime
 * throws; report it as the device loss it is, so the caller recovers.
 */
export function guardDeviceLoss<T extends object & { lostReasonForGuard?: () => string | null }>(target: T): T {
  return new Proxy(target, {
    get(obj, key, receiver) {
      const v = Reflect.get(obj, key, receiver);
      if (typeof v !== 'function' || key === 'lostReasonForGuard') return v;
      return async (...args: unknown[]) => {
        try {
          return await v.apply(obj, args);
        } catch (e) {
          const reason = obj.lostReasonForGuard?.();
          throw reason != null && (e as Error)?.name !== 'DeviceLostError' ? deviceLost(reason) : e;
        }
      };
    },
  });
}
