import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { validateManifest } from '../../src/contract/manifest';
import type { Capabilities } from '../../src/runtime/capabilities';
import { pickBackend } from '../../src/runtime/world';

const m = validateManifest(JSON.parse(readFileSync(new URL('../vectors/manifest-valid.json', import.meta.url), 'utf8')));
const caps = (over: Partial<Capabilities>): Capabilities => ({
  webgpu: true,
  shaderF16: true,
  adapter: 'test',
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

  it('honours explicit requests', () => {
    expect(pickBackend(m, caps({}), { bundle: '', backend: 'wasm' }).backend).toBe('wasm');
    expect(pickBackend(m, caps({}), { bundle: '', variant: 'fp32' }).variant).toBe('fp32');
  });
});
