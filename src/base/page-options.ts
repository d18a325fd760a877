/**
 * The runtime's options as a page writes them, as text: the demo's URL
 * parameters, the element's attributes, a share link. One parser per option,
 * so every page refuses the same values with the same words: each says what it
 * accepts, and `parse` gives the value or null when the text is not one (the
 * caller says so, naming the option, and goes on with its default).
 */
import { VARIANTS, type Variant } from '../contract/manifest';
import type { Backend } from './capabilities';

export interface PageOption<T> {
  /** What the option takes, for messages: `seed "x" is not a whole number from 0 to 4294967295`. */
  readonly accepts: string;
  /** The value `raw` stands for, or null when it is not one the option takes. */
  parse(raw: string): T | null;
}

/** The largest seed: seeds are 32-bit (the noise is keyed by them, model/swin_dpm.py). */
export const MAX_SEED = 0xffffffff;

/** The most WASM threads a page may ask for (`?threads=`, the element's `threads`). */
export const MAX_WASM_THREADS = 16;

/** A whole number from `min` to `max`, written as one ('' and '1.5' are not; '1e3' is 1000, as `Number` reads it). */
function wholeNumber(min: number, max: number): PageOption<number> {
  return {
    accepts: `a whole number from ${min} to ${max}`,
    parse(raw) {
      const n = raw.trim() === '' ? NaN : Number(raw);
      return Number.isInteger(n) && n >= min && n <= max ? n : null;
    },
  };
}

/** One of a list of words, as written. */
function oneOf<T extends string>(choices: readonly T[]): PageOption<T> {
  return {
    accepts: `one of ${choices.join(', ')}`,
    parse: (raw) => ((choices as readonly string[]).includes(raw) ? (raw as T) : null),
  };
}

export type BackendChoice = 'auto' | Backend;
export type VariantChoice = 'auto' | Variant;

/** The seed of a rollout's noise (`?seed=`, a share link's, the element's `seed`). */
export const seedOption = wholeNumber(0, MAX_SEED);

/** ONNX Runtime's WASM threads per worker (`?threads=`, the element's `threads`). */
export const threadsOption = wholeNumber(1, MAX_WASM_THREADS);

/** `?backend=`, the element's `backend`: 'auto' picks (see `pickBackend`), the others force one. */
export const backendOption = oneOf<BackendChoice>(['auto', 'webgpu', 'wasm']);

/** `?variant=`: which graphs' precision; 'auto' picks. */
export const variantOption = oneOf<VariantChoice>(['auto', ...VARIANTS]);
