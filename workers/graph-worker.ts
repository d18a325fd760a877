/**
 * What the two workers share: a GPU device of their own (WebGPU) or none
 * (WASM), one ONNX Runtime session per graph on it, the check that the device
 * is still there, and the diagnostics every worker answers (`runGraph`,
 * `loseDevice`, `dispose`). Each worker adds the calls it exists for.
 */
import * as Comlink from 'comlink';

import { type GraphIO, type GraphName, type Manifest, expectedGraphIO } from '../src/contract/manifest';
import type { SerialQueue } from '../src/base/async';
import { type GpuContext, acquireDevice, configureOrt, createSession, deviceLost, guardDeviceLoss, ort, ortThreads, runOnWire, serialized } from './ort-backend';
import type { EngineInfo, GraphWorkerApi, InitRequest, WireTensor } from './protocol';

export abstract class GraphWorker<G extends GraphName> implements GraphWorkerApi {
  protected manifest!: Manifest;
  /** Every graph's input and output shapes, from the contract: what the worker feeds. */
  protected io!: GraphIO;
  protected gpu?: GpuContext;
  protected readonly sessions = {} as Record<G, ort.InferenceSession>;
  private lostReason: string | null = null;

  /** `name`: how errors name this worker ("the rendering worker has no graph ..."). */
  constructor(private readonly name: string) {}

  /**
   * 1. Acquire the device (WebGPU); `onLost` runs when it goes away.
   * 2. Create a session per graph, in the order given, keeping the named outputs on the GPU.
   */
  protected async open(req: InitRequest, graphs: Record<G, string[]>, onLost?: () => void): Promise<EngineInfo> {
    this.manifest = req.manifest;
    this.io = expectedGraphIO(req.manifest);
    configureOrt(req.threads);
    // 1.
    if (req.backend === 'webgpu') {
      this.gpu = await acquireDevice((reason) => {
        this.lostReason = reason;
        onLost?.();
      });
    }
    // 2.
    for (const [g, gpuOutputs] of Object.entries(graphs) as [G, string[]][]) {
      this.sessions[g] = await createSession({ backend: req.backend, gpu: this.gpu, bytes: req.graphs[g], gpuOutputs });
    }
    return { backend: req.backend, variant: req.variant, adapter: this.gpu?.adapter ?? 'cpu', f16: this.gpu?.f16 ?? false, threads: ortThreads() };
  }

  lostReasonForGuard(): string | null {
    return this.lostReason;
  }

  /** Throws DeviceLostError once the device is gone. */
  protected checkDevice(): void {
    if (this.lostReason !== null) throw deviceLost(this.lostReason);
  }

  /** Run one of this worker's graphs on given inputs, every output read back (bundle self-test). */
  async runGraph(name: string, feeds: Record<string, WireTensor>): Promise<Record<string, WireTensor>> {
    this.checkDevice();
    const session = Object.hasOwn(this.sessions, name) ? this.sessions[name as G] : undefined;
    if (!session) throw new RangeError(`the ${this.name} worker has no graph "${name}"`);
    return runOnWire(session, feeds);
  }

  /** Destroy the worker's GPU device (fault-injection tests). */
  async loseDevice(): Promise<void> {
    this.gpu?.device.destroy();
  }

  async dispose(): Promise<void> {
    for (const s of Object.values<ort.InferenceSession>(this.sessions)) await s.release();
    this.gpu?.device.destroy();
  }
}

/**
 * A worker's object as the main thread calls it: its calls run one at a time
 * (`serialized`), and a call cut short by a lost device fails as the
 * DeviceLostError it is (`guardDeviceLoss`). Where there are no Web Workers
 * (the Node benchmark), the engine calls this in its own thread, and objects
 * that share one ONNX Runtime instance share one queue (`calls`).
 */
export function asWorker<T extends object & { lostReasonForGuard(): string | null }>(worker: T, calls?: SerialQueue): T {
  return serialized(guardDeviceLoss(worker), calls);
}

/** Expose a worker's object to the main thread (comlink), wrapped as `asWorker` says. */
export function exposeWorker(worker: object & { lostReasonForGuard(): string | null }): void {
  Comlink.expose(asWorker(worker));
}
