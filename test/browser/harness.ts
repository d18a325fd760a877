/**
 * What the browser tests drive: the runtime's public API on a bare page, so
 * a test can load any bundle with any backend and inspect the results.
 */
import { World, type WorldOptions } from '../../src/index';
import { verifyBundle } from '../../src/runtime/verify';

const harness = {
  World,
  async load(opts: WorldOptions): Promise<World> {
    return World.load({ cache: false, ...opts });
  },
  /**
   * Load a bundle on a backend (fp32) and check it against its test vectors. They run every graph, so
   * no warm-up first (on SwiftShader it would run the slowest part once more); `stages` says which
   * loading stages were reported.
   */
  async verify(bundle: string, backend: 'webgpu' | 'wasm') {
    const stages: string[] = [];
    const world = await World.load({ bundle, backend, variant: 'fp32', cache: false, warmUp: false, onProgress: (p) => stages.push(p.stage) });
    try {
      return { ...(await verifyBundle(world)), stages: [...new Set(stages)] };
    } finally {
      world.dispose();
    }
  },
};

Object.assign(window, { harness });
document.body.dataset.ready = 'true';
