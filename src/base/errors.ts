/**
 * One class per failure a user or embedding page can act on. Each sets
 * `name` and says what to do. Comlink carries a thrown error's name and
 * message across the worker boundary (not its class), so the main thread
 * tells them apart with `isErrorNamed` (the worker's DeviceLostError:
 * workers/ort-backend.ts).
 */

export class WorldCanvasError extends Error {
  override name = 'WorldCanvasError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The bundle's files could not be fetched (HTTP error, network down, timeout). */
export class BundleFetchError extends WorldCanvasError {
  override name = 'BundleFetchError';
  constructor(
    readonly url: string,
    readonly status: number | null,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Could not fetch ${url}: ${detail}. Check that the bundle is served at that address and try again.`, options);
  }
}

/** A file's bytes do not match the manifest's sha256 even after fetching it again. */
export class ChecksumError extends WorldCanvasError {
  override name = 'ChecksumError';
  constructor(
    readonly url: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `${url} is corrupt: sha256 ${actual.slice(0, 12)}… does not match the manifest's ${expected.slice(0, 12)}… ` +
        '(fetched twice). The server holds a different file than the manifest describes: export the bundle again.',
    );
  }
}

/** A bundle on another origin, not allowed by the embedding page. */
export class CrossOriginBundleError extends WorldCanvasError {
  override name = 'CrossOriginBundleError';
  constructor(readonly url: string) {
    super(
      `Refusing to load a bundle from another origin (${url}). ` +
        'The embedding page can allow it with the `allowed-origins` attribute or the `allowedOrigins` option.',
    );
  }
}

/** An action the model cannot take (empty, not text). */
export class ActionError extends WorldCanvasError {
  override name = 'ActionError';
}

/** WebGPU is missing or failed; the runtime falls back to WASM and reports why. */
export class WebGPUUnavailableError extends WorldCanvasError {
  override name = 'WebGPUUnavailableError';
}

/** The GPU device was lost (driver reset, tab in background too long, a test destroying it). */
export class DeviceLostError extends WorldCanvasError {
  override name = 'DeviceLostError';
  constructor(readonly reason: string) {
    super(`The GPU device was lost (${reason}). The session resumes from its last finished chunk.`);
  }
}

/** A worker call that did not answer in time. */
export class WorkerTimeoutError extends WorldCanvasError {
  override name = 'WorkerTimeoutError';
  constructor(
    readonly worker: string,
    readonly method: string,
    readonly ms: number,
  ) {
    super(`The ${worker} worker did not answer ${method}() within ${ms} ms; it is restarted.`);
  }
}

/** A dropped-in image that cannot serve as a start scene. */
export class ImageInputError extends WorldCanvasError {
  override name = 'ImageInputError';
}

/** The operation was cancelled by reset(), dispose() or a newer request. */
export class CancelledError extends WorldCanvasError {
  override name = 'CancelledError';
}

/** Whether an error (possibly rebuilt from a worker's {name, message}) is of a named kind. */
export function isErrorNamed(e: unknown, name: string): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === name;
}
