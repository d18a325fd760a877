/**
 * The response headers that make a page cross-origin isolated: only then may
 * it use SharedArrayBuffer, which ONNX Runtime's WASM threads need (without
 * them it runs on one thread). Every server of the app sends them (vite's dev
 * server and preview, the browser tests' static server), and the service
 * worker adds them for static hosts that cannot (src/sw/service-worker.js).
 *
 * `require-corp`: every resource the page loads must be same-origin, or
 * cross-origin with CORS or a Cross-Origin-Resource-Policy header. Bundles
 * from another origin are fetched with CORS already, so they pass.
 */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
} as const;
