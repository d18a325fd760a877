/**
 * Seeded Gaussian noise, bit-compatible with `model/swin_dpm.py`: part of the
 * contract, since the same seed and actions must draw the same frames in the
 * browser as in the Python reference (goldens: test/vectors/swin-dpm.json).
 * The rendering worker draws it.
 *
 * A counter-based hash (MurmurHash3's finaliser) keyed by (seed, stream,
 * index), so the noise of any chunk can be drawn without replaying the ones
 * before it: a rollout is replayable from (bundle, scene, seed, actions), and
 * a fork draws the same noise its parent would have.
 */

/** Initial noise of chunk t (the later window slot). */
export const STREAM_CHUNK = 1;
/** Noise mixed into the history frame while chunk t is the later chunk. */
export const STREAM_HISTORY = 2;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function noiseKey(seed: number, stream: number, index: number): number {
  let k = fmix32((seed >>> 0) ^ 0x9e3779b9);
  k = fmix32((k ^ fmix32((((stream & 0xff) << 24) ^ (index & 0xffffff)) >>> 0)) >>> 0);
  return k;
}

/** `count` standard normal values for (seed, stream, index). */
export function gaussianNoise(seed: number, stream: number, index: number, count: number): Float32Array {
  const key = noiseKey(seed, stream, index);
  const out = new Float32Array(count);
  const scale = 1 / 4294967296;
  for (let i = 0; i < count; i++) {
    const a = fmix32((key ^ fmix32((2 * i) >>> 0)) >>> 0);
    const b = fmix32((key ^ fmix32((2 * i + 1) >>> 0)) >>> 0);
    const u1 = (a + 0.5) * scale;
    const u2 = (b + 0.5) * scale;
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2); // Box-Muller
  }
  return out;
}
