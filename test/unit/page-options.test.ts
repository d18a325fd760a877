/**
 * One parser per page option: what the demo's URL, the element's attributes and a share link accept,
 * and the values they refuse alike (src/base/page-options.ts).
 */
import { describe, expect, it } from 'vitest';

import { MAX_SEED, backendOption, seedOption, threadsOption, variantOption } from '../../src/base/page-options';
import { decodeShare } from '../../src/demo/share';

describe('page options', () => {
  it('a seed is a whole number from 0 to 4294967295, nothing wrapped or cut', () => {
    expect(seedOption.parse('0')).toBe(0);
    expect(seedOption.parse('7')).toBe(7);
    expect(seedOption.parse(' 7 ')).toBe(7);
    expect(seedOption.parse(String(MAX_SEED))).toBe(4294967295);
    for (const bad of ['', ' ', '-1', '7.9', '4294967296', '99999999999', 'NaN', 'seven']) expect(seedOption.parse(bad), bad).toBeNull();
    expect(seedOption.accepts).toBe('a whole number from 0 to 4294967295');
  });

  it('threads are a whole number from 1 to 16', () => {
    expect(threadsOption.parse('1')).toBe(1);
    expect(threadsOption.parse('16')).toBe(16);
    for (const bad of ['', '0', '17', '2.5', 'two', '-1']) expect(threadsOption.parse(bad), bad).toBeNull();
  });

  it('a backend or a variant is one of its words, as written', () => {
    for (const b of ['auto', 'webgpu', 'wasm']) expect(backendOption.parse(b)).toBe(b);
    for (const bad of ['', 'WebGPU', 'gpu', 'cpu']) expect(backendOption.parse(bad), bad).toBeNull();
    for (const v of ['auto', 'fp32', 'fp16', 'q8', 'q4']) expect(variantOption.parse(v)).toBe(v);
    for (const bad of ['', 'fp64', 'int8']) expect(variantOption.parse(bad), bad).toBeNull();
    expect(backendOption.accepts).toBe('one of auto, webgpu, wasm');
  });

  it("a share link's seed is read by the same rule", () => {
    for (const raw of ['0', '42', '4294967295']) expect(decodeShare(new URLSearchParams({ seed: raw })).record.seed).toBe(Number(raw));
    for (const raw of ['', '-1', '7.9', '4294967296']) {
      const { record, problems } = decodeShare(new URLSearchParams({ seed: raw }));
      expect(record.seed, raw).toBeUndefined();
      expect(problems).toEqual([`seed "${raw}" is not ${seedOption.accepts}`]);
    }
  });
});
