/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

export default defineConfig({
  // onnxruntime-web ships prebuilt ESM and loads its WASM by URL; pre-bundling breaks that.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true },
  server: { port: 5173, strictPort: false },
  preview: { port: 4173 },
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
  },
});
