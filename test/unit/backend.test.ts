import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { validateManifest } from '../../src/contract/manifest';
import { type Capabilities, softwareAdapterReason, wasmThreads } from '../../src/base/capabilities';
import { pickBackend, singleThreadNotice } from '../../src/runtime/world';

const m = validateManifest(JSON.parse(readFileSync(new URL('../vectors/manifest-valid.json', import.meta.url), 'utf8')));
const caps = (over: Partial<Capabilities>): Capabilities => ({
  webgpu: true,
  shaderF16: true,
  adapter: 'test',
  adapterIdentified: true,
  softwareAdapter: null,
  webgpuUnavailableReason: null,
  crossOriginIsolated: false,
  hardwareConcurrency: 2,
  indexedDB: true,
  ...over,
});

describe('pickBackend', () => {
  it('prefers WebGPU with fp16 when the adapter has shader-f16', () => {
    expect(pickBackend(m, caps({}))).toEqual({ backend: 'webgpu', variant: 'fp16', reason: null });
  });

  it('falls back to fp32 without shader-f16, and says why', () => {
    expect(pickBackend(m, caps({ shaderF16: false }))).toEqual({
      backend: 'webgpu',
      variant: 'fp32',
      reason: 'fp32 graphs: this GPU has no shader-f16',
    });
  });

  it('runs WASM fp32 without an adapter, with the reason', () => {
    const p = pickBackend(m, caps({ webgpu: false, shaderF16: false, webgpuUnavailableReason: 'no WebGPU adapter' }));
    expect(p.backend).toBe('wasm');
    expect(p.variant).toBe('fp32');
    expect(p.reason).toMatch(/no WebGPU adapter/);
  });

  it("runs the bundle's WASM variant on WASM, and only there; an explicit variant still wins", () => {
    const q8 = { ...m, wasmVariant: 'q8' as const };
    const cpu = caps({ webgpu: false, shaderF16: false, webgpuUnavailableReason: 'no WebGPU adapter' });
    expect(pickBackend(q8, cpu).variant).toBe('q8');
    expect(pickBackend(q8, caps({}), { bundle: '', backend: 'wasm' }).variant).toBe('q8');
    expect(pickBackend(q8, caps({})).variant).toBe('fp16'); // WebGPU keeps its own choice
    expect(pickBackend(q8, cpu, { bundle: '', variant: 'fp32' }).variant).toBe('fp32');
  });

  it('honours explicit requests', () => {
    expect(pickBackend(m, caps({}), { bundle: '', backend: 'wasm' }).backend).toBe('wasm');
    expect(pickBackend(m, caps({}), { bundle: '', variant: 'fp32' }).variant).toBe('fp32');
  });

  it('does not pick a software fallback adapter over WASM, and says why and how to force it', () => {
    const sw = caps({ adapter: 'google swiftshader SwiftShader Device (Subzero)', shaderF16: false, softwareAdapter: 'swiftshader, a software rasteriser' });
    const p = pickBackend(m, sw);
    expect(p.backend).toBe('wasm');
    expect(p.variant).toBe('fp32');
    expect(p.reason).toContain('SwiftShader Device');
    expect(p.reason).toContain('not a GPU');
    expect(p.reason).toContain('backend=webgpu');
    // asked for, it is used, with a warning
    const forced = pickBackend(m, sw, { bundle: '', backend: 'webgpu' });
    expect(forced.backend).toBe('webgpu');
    expect(forced.reason).toMatch(/software adapter.*slow.*shader-f16/);
  });
});

describe('pickBackend on an adapter that does not say what it is', () => {
  const unknown = caps({ adapter: 'unknown adapter', adapterIdentified: false, shaderF16: false });

  it('asks for a timed choice between its WebGPU candidate and WASM', () => {
    expect(pickBackend(m, unknown)).toEqual({ backend: 'webgpu', variant: 'fp32', reason: 'fp32 graphs: this GPU has no shader-f16', timed: true });
  });

  it('times nothing when a backend is asked for, or the adapter is known to be software', () => {
    expect(pickBackend(m, unknown, { bundle: '', backend: 'webgpu' }).timed).toBeUndefined();
    expect(pickBackend(m, unknown, { bundle: '', backend: 'wasm' })).toMatchObject({ backend: 'wasm' });
    expect(pickBackend(m, unknown, { bundle: '', backend: 'wasm' }).timed).toBeUndefined();
    const fallback = caps({ adapterIdentified: false, softwareAdapter: 'the browser reports it as a fallback adapter' });
    expect(pickBackend(m, fallback)).toMatchObject({ backend: 'wasm' });
    expect(pickBackend(m, fallback).timed).toBeUndefined();
    expect(pickBackend(m, caps({})).timed).toBeUndefined();
  });
});

describe('softwareAdapterReason', () => {
  it('knows the CPU rasterisers by name, and trusts isFallbackAdapter', () => {
    expect(softwareAdapterReason('google swiftshader SwiftShader Device (Subzero)', false)).toMatch(/swiftshader/i);
    expect(softwareAdapterReason('mesa llvmpipe', false)).toMatch(/llvmpipe/);
    expect(softwareAdapterReason('Microsoft Basic Render Driver', false)).toMatch(/basic render/i);
    expect(softwareAdapterReason('some vendor', true)).toMatch(/fallback/);
    expect(softwareAdapterReason('nvidia ampere NVIDIA GeForce RTX 3080', false)).toBeNull();
    expect(softwareAdapterReason('apple metal-3 Apple M2', false)).toBeNull();
  });
});

describe('wasmThreads', () => {
  it('runs one thread unless the page is cross-origin isolated, whatever is asked', () => {
    expect(wasmThreads(false, 8)).toBe(1);
    expect(wasmThreads(false, 8, 4)).toBe(1);
  });

  it("uses half the cores up to 4 where isolated (ONNX Runtime's default), or the number asked for", () => {
    expect(wasmThreads(true, 1)).toBe(1);
    expect(wasmThreads(true, 2)).toBe(1);
    expect(wasmThreads(true, 3)).toBe(2);
    expect(wasmThreads(true, 4)).toBe(2);
    expect(wasmThreads(true, 16)).toBe(4);
    expect(wasmThreads(true, 16, 1)).toBe(1);
    expect(wasmThreads(true, 2, 6)).toBe(6);
    expect(wasmThreads(true, 2, 0)).toBe(1);
  });
});

describe('singleThreadNotice', () => {
  const info = (threads: number, backend: 'wasm' | 'webgpu' = 'wasm') => ({ backend, variant: 'fp32' as const, adapter: 'cpu', f16: false, threads });

  it('says that WASM runs on one thread of several cores, and why', () => {
    expect(singleThreadNotice(info(1), caps({ hardwareConcurrency: 8 }))).toMatch(/one thread of 8 cores: the page is not cross-origin isolated.*Cross-Origin-Embedder-Policy/);
    expect(singleThreadNotice(info(1), caps({ hardwareConcurrency: 8, crossOriginIsolated: true }))).toMatch(/cannot run WebAssembly threads/);
  });

  it('speaks on two cores only when more than one thread was asked for', () => {
    expect(singleThreadNotice(info(1), caps({ hardwareConcurrency: 2 }), 2)).toMatch(/one thread of 2 cores/);
  });

  it('is silent with threads, where one thread is the pick (1 or 2 cores), on WebGPU, or when one thread was asked for', () => {
    expect(singleThreadNotice(info(2), caps({ hardwareConcurrency: 8 }))).toBeNull();
    expect(singleThreadNotice(info(1), caps({ hardwareConcurrency: 1 }))).toBeNull();
    expect(singleThreadNotice(info(1), caps({ hardwareConcurrency: 2 }))).toBeNull();
    expect(singleThreadNotice(info(1, 'webgpu'), caps({ hardwareConcurrency: 8 }))).toBeNull();
    expect(singleThreadNotice(info(1), caps({ hardwareConcurrency: 8 }), 1)).toBeNull();
  });
});
