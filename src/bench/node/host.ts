/**
 * What a page gives the engine, stood in for in Node (the GPU benchmark):
 * WebGPU from Dawn (the `webgpu` package, the implementation Chrome's WebGPU
 * is built on), ONNX Runtime's WASM as bytes, bundle files from disk, a PNG
 * decoder, and the two workers' objects run in this thread.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import type * as Comlink from 'comlink';
import { decode as decodePng } from 'fast-png';
import { create, globals } from 'webgpu';

import { Conditioning } from '../../../workers/conditioning';
import { asWorker } from '../../../workers/graph-worker';
import { ORT_WASM_HREF, provideOrtWasm } from '../../../workers/ort-backend';
import { Rendering } from '../../../workers/rendering';
import type { FetchLike } from '../../loader/fetch-bytes';
import { SerialQueue } from '../../base/async';
import type { WorkerHandle, WorkerHost } from '../../runtime/engine';
import type { ImageDecoder } from '../../runtime/world';

/**
 * Put Dawn behind `navigator.gpu`, as a browser has it. Returns a function
 * that takes it away again: Dawn keeps Node running while it is referenced.
 */
export function installDawn(dawnOptions: string[] = []): () => void {
  Object.assign(globalThis, globals);
  const { GPUQueue } = globals as { GPUQueue: { prototype: GPUQueue } };
  // ORT's threaded WASM build keeps its heap in a SharedArrayBuffer and uploads straight
  // from it; dawn.node refuses views of shared memory ("Invalid argument"), a browser takes them.
  const writeBuffer = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: GPUAllowSharedBufferSource, dataOffset = 0, size?: number) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const unit = 'BYTES_PER_ELEMENT' in data ? (data.BYTES_PER_ELEMENT as number) : 1;
      const count = size ?? data.byteLength / unit - dataOffset;
      const copy = new Uint8Array(data.buffer, data.byteOffset + dataOffset * unit, count * unit).slice();
      return writeBuffer.call(this, buffer, offset, copy);
    }
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  };
  const gpu = create(dawnOptions);
  // Node 20 has no navigator; later versions have one without `gpu`.
  const nav = (globalThis.navigator ?? {}) as Navigator & { gpu?: GPU };
  Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  if (!globalThis.navigator) Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true });
  return () => {
    delete (nav as { gpu?: GPU }).gpu;
  };
}

/** Hand ONNX Runtime its WASM binary, read from beside the bundled script. */
export async function loadOrtWasm(): Promise<void> {
  provideOrtWasm(new Uint8Array(await readFile(fileURLToPath(ORT_WASM_HREF))));
}

/** fetch() for file: URLs (Node's own fetch refuses them); anything else is an error, so nothing reaches a network. */
export const fileFetch: FetchLike = async (input) => {
  const url = new URL(input);
  if (url.protocol !== 'file:') throw new TypeError(`the Node benchmark reads bundles from disk, not ${url.href}`);
  try {
    const bytes = await readFile(fileURLToPath(url));
    return new Response(bytes, { headers: { 'content-length': String(bytes.length) } });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Response(null, { status: 404, statusText: 'Not Found' });
    throw e;
  }
};

/** A bundle scene (PNG at the frame size, as the exporter writes them) -> RGBA bytes. */
export const pngDecoder: ImageDecoder = async (bytes, width, height) => {
  const png = decodePng(bytes);
  if (png.width !== width || png.height !== height || png.depth !== 8 || (png.channels !== 3 && png.channels !== 4)) {
    throw new Error(`scene is a ${png.width}x${png.height} ${png.depth}-bit PNG with ${png.channels} channels; ` +
      `the Node benchmark reads 8-bit RGB(A) PNGs of the frame size (${width}x${height}) only`);
  }
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) rgba[4 * i + c] = png.data[png.channels * i + c];
    rgba[4 * i + 3] = png.channels === 4 ? png.data[4 * i + 3] : 255;
  }
  return rgba;
};

/**
 * The two workers' objects, in this thread. They share one ONNX Runtime WASM
 * instance here (each Web Worker has its own), which must not be re-entered
 * while a run awaits the GPU: one queue serves both, so a text encoding asked
 * for ahead (Session.act) waits for the running decoder call instead of
 * overlapping it as it would in a page.
 */
export function inProcessWorkers(): WorkerHost {
  const calls = new SerialQueue();
  const handle = <T>(obj: Conditioning | Rendering): WorkerHandle<T> => {
    const api = asWorker(obj, calls);
    // A Web Worker is killed at once; here its sessions and device are released after the call in flight.
    return { api: api as unknown as Comlink.Remote<T>, terminate: () => void api.dispose().catch(() => {}) };
  };
  return { conditioning: () => handle(new Conditioning()), rendering: () => handle(new Rendering()) };
}
