/**
 * Start frames: a bundle scene (PNG) or an image the user drops in, turned
 * into the model's input (1 x 3 x H x W floats in [0, 1]).
 */
import { ImageInputError } from '../base/errors';

export const ACCEPTED_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/bmp'];
/** Larger files are refused before decoding (a 16k x 16k PNG would stall the tab). */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
export const MAX_IMAGE_PIXELS = 8192 * 8192;
/** Smaller images are refused: there is nothing to simulate in them. */
export const MIN_IMAGE_SIDE = 8;

/** RGBA bytes (H x W x 4) -> planar RGB floats (1 x 3 x H x W) in [0, 1]. */
export function rgbaToPlanar(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = rgba[4 * i] / 255;
    out[plane + i] = rgba[4 * i + 1] / 255;
    out[2 * plane + i] = rgba[4 * i + 2] / 255;
  }
  return out;
}

/** Repeat a frame n times (the start scene stands for a whole chunk). */
export function tile(frame: Float32Array, n: number): Float32Array {
  const out = new Float32Array(frame.length * n);
  for (let i = 0; i < n; i++) out.set(frame, i * frame.length);
  return out;
}

export interface PreparedImage {
  /** 1 x 3 x H x W in [0, 1]. */
  planar: Float32Array;
  /** H x W x 4, what the canvas shows. */
  rgba: Uint8ClampedArray;
  /** What was done to fit it, for the user ("cropped 640x480 to the centre square, resized to 64x64"). */
  notes: string[];
}

/**
 * Fit any image into the model's frame: centre-crop to the frame's aspect,
 * resize, and composite transparency over the table colour (`background`).
 */
export async function prepareImage(
  source: Blob,
  width: number,
  height: number,
  background: [number, number, number] = [200, 186, 160],
): Promise<PreparedImage> {
  if (source.type && !ACCEPTED_IMAGE_TYPES.includes(source.type)) {
    throw new ImageInputError(`"${source.type}" is not an image type world-canvas reads; use PNG, JPEG, WebP, GIF or BMP.`);
  }
  if (source.size === 0) throw new ImageInputError('The image file is empty.');
  if (source.size > MAX_IMAGE_BYTES) {
    throw new ImageInputError(`The image is ${(source.size / 2 ** 20).toFixed(1)} MB; images up to ${MAX_IMAGE_BYTES / 2 ** 20} MB are accepted.`);
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(source);
  } catch (e) {
    throw new ImageInputError('The image could not be decoded: the file is corrupt or not an image.', { cause: e });
  }
  const notes: string[] = [];
  try {
    const { width: sw, height: sh } = bitmap;
    if (sw < MIN_IMAGE_SIDE || sh < MIN_IMAGE_SIDE) {
      throw new ImageInputError(`The image is ${sw}x${sh} pixels; at least ${MIN_IMAGE_SIDE}x${MIN_IMAGE_SIDE} is needed.`);
    }
    if (sw * sh > MAX_IMAGE_PIXELS) {
      throw new ImageInputError(`The image is ${sw}x${sh} pixels; at most ${MAX_IMAGE_PIXELS} pixels are accepted.`);
    }
    // 1. Centre crop to the frame's aspect ratio.
    const target = width / height;
    let cw = sw;
    let ch = sh;
    if (sw / sh > target) cw = Math.round(sh * target);
    else if (sw / sh < target) ch = Math.round(sw / target);
    if (cw !== sw || ch !== sh) notes.push(`cropped ${sw}x${sh} to its centre ${cw}x${ch}`);
    if (cw !== width || ch !== height) notes.push(`resized to ${width}x${height}`);
    // 2. Draw over the table colour, so transparent pixels become table.
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.fillStyle = `rgb(${background.join(',')})`;
    ctx.fillRect(0, 0, width, height);
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bitmap, (sw - cw) / 2, (sh - ch) / 2, cw, ch, 0, 0, width, height);
    const rgba = ctx.getImageData(0, 0, width, height).data;
    if (hasTransparency(bitmap)) notes.push('transparent areas filled with the table colour');
    return { planar: rgbaToPlanar(rgba, width, height), rgba, notes };
  } finally {
    bitmap.close();
  }
}

function hasTransparency(bitmap: ImageBitmap): boolean {
  const n = Math.min(bitmap.width, 64);
  const m = Math.min(bitmap.height, 64);
  const c = new OffscreenCanvas(n, m).getContext('2d', { willReadFrequently: true })!;
  c.drawImage(bitmap, 0, 0, n, m);
  const d = c.getImageData(0, 0, n, m).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] < 250) return true;
  return false;
}
