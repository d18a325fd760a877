/**
 * The conditioning worker: the action text encoder (@huggingface/transformers
 * on WASM), the encoder h and the backbone f (ONNX Runtime, on a GPU device
 * this worker owns, or WASM). It runs once per chunk, while the rendering
 * worker denoises.
 */
import { AutoModel, AutoTokenizer, type PreTrainedModel, type PreTrainedTokenizer, Tensor, env as hf } from '@huggingface/transformers';
import * as Comlink from 'comlink';

import type { Manifest } from '../src/contract/manifest';
import { type GpuContext, acquireDevice, configureOrt, createSession, f32, ort, readF32, runOnWire, deviceLost, guardDeviceLoss, serialized } from './ort-backend';
import type { ConditioningApi, ConditioningInit, EngineInfo, TextEncoding, TurnRequest, TurnResult, WireTensor } from './protocol';

// transformers.js resolves a local model id against this prefix; our fetch
// below answers for it from the verified bundle bytes, so it never touches
// the network (nor a CDN for its WASM: see configureOrt).
const LOCAL_PREFIX = '/__world_canvas__/';
const MODEL_ID = 'text-encoder';

class Conditioning implements ConditioningApi {
  private manifest!: Manifest;
  private gpu?: GpuContext;
  private encoder!: ort.InferenceSession;
  private backbone!: ort.InferenceSession;
  private tokenizer!: PreTrainedTokenizer;
  private textModel!: PreTrainedModel;
  private lostReason: string | null = null;
  private textCache = new Map<string, TextEncoding>();

  async init(req: ConditioningInit): Promise<EngineInfo> {
    this.manifest = req.manifest;
    configureOrt();
    if (req.backend === 'webgpu') {
      this.gpu = await acquireDevice((reason) => (this.lostReason = reason));
    }
    const common = { backend: req.backend, gpu: this.gpu };
    // h(o) feeds the backbone on the same device without a readback.
    this.encoder = await createSession({ ...common, bytes: req.graphs.encoder, gpuOutputs: ['state_tokens'] });
    this.backbone = await createSession({ ...common, bytes: req.graphs.backbone });
    await this.loadTextEncoder(req.textEncoderFiles);
    return { backend: req.backend, variant: req.variant, adapter: this.gpu?.adapter ?? 'cpu', f16: this.gpu?.f16 ?? false };
  }

  private async loadTextEncoder(files: Record<string, Uint8Array>): Promise<void> {
    hf.allowRemoteModels = false;
    hf.allowLocalModels = true;
    hf.useBrowserCache = false;
    hf.useWasmCache = false;
    hf.useFSCache = false;
    hf.useCustomCache = false;
    hf.localModelPath = LOCAL_PREFIX;
    hf.fetch = async (input: string | URL | Request) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const at = url.indexOf(`${LOCAL_PREFIX}${MODEL_ID}/`);
      const path = at >= 0 ? url.slice(at + LOCAL_PREFIX.length + MODEL_ID.length + 1) : '';
      const bytes = files[path];
      if (!bytes) return new Response(null, { status: 404, statusText: 'not in bundle' });
      return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(bytes.length) } });
    };
    const dtype = this.manifest.actionEncoder.dtype;
    this.tokenizer = await AutoTokenizer.from_pretrained(MODEL_ID, { local_files_only: true });
    // Always WASM: the int8 encoder is small, and its ops run reliably there.
    this.textModel = await AutoModel.from_pretrained(MODEL_ID, { local_files_only: true, dtype, device: 'wasm' });
  }

  lostReasonForGuard(): string | null {
    return this.lostReason;
  }

  private checkDevice(): void {
    if (this.lostReason !== null) throw deviceLost(this.lostReason);
  }

  async encodeText(text: string): Promise<TextEncoding> {
    const cached = this.textCache.get(text);
    if (cached) return structuredCloneEncoding(cached);
    const L = this.manifest.actionEncoder.maxTokens;
    // Truncate as the Python tokenizer does: keep [CLS] and the first words, end with [SEP].
    // (transformers.js's own truncation cuts the [SEP] off.)
    const full = this.tokenizer.encode(text);
    const tokens = full.length;
    const end = this.tokenizer.encode('').at(-1)!; // [SEP]
    const ids = tokens > L ? [...full.slice(0, L - 1), end] : full;
    const idArr = new BigInt64Array(L);
    const maskArr = new BigInt64Array(L);
    ids.forEach((id, i) => {
      idArr[i] = BigInt(id);
      maskArr[i] = 1n;
    });
    const out = await this.textModel({
      input_ids: new Tensor('int64', idArr, [1, L]),
      attention_mask: new Tensor('int64', maskArr, [1, L]),
      token_type_ids: new Tensor('int64', new BigInt64Array(L), [1, L]),
    });
    const states = new Float32Array(out.last_hidden_state.data as Float32Array);
    const mask = Float32Array.from(maskArr, (v) => Number(v));
    const result: TextEncoding = { text, states, mask, tokens, truncated: tokens > L };
    if (this.textCache.size > 512) this.textCache.clear();
    this.textCache.set(text, result);
    return structuredCloneEncoding(result);
  }

  async turn(req: TurnRequest): Promise<TurnResult> {
    this.checkDevice();
    const t0 = performance.now();
    const m = this.manifest;
    const { chunkFrames: F, height: H, width: W } = m.video;
    const { queries: Q, width: D } = m.state;
    const { layers, heads, cacheTokens: P } = m.backbone;
    const L = m.actionEncoder.maxTokens;
    const { state_tokens } = await this.encoder.run({ frames: f32(req.observedFrames, [F, 3, H, W]) });
    const out = await this.backbone.run({
      prev_state: f32(req.prevState, [Q, D]),
      is_first: f32(new Float32Array([req.isFirst ? 1 : 0]), [1]),
      observed: state_tokens,
      action: f32(req.text, [L, m.actionEncoder.width]),
      action_mask: f32(req.textMask, [L]),
      past_kv: f32(req.kv, [layers, 2, heads, P, D / heads]),
      past_mask: f32(req.kvMask, [P]),
    });
    if (state_tokens.location === 'gpu-buffer') state_tokens.dispose();
    this.checkDevice();
    const result: TurnResult = {
      state: await readF32(out.next_state),
      kv: await readF32(out.present_kv),
      kvMask: await readF32(out.present_mask),
      ms: performance.now() - t0,
    };
    return Comlink.transfer(result, [result.state.buffer, result.kv.buffer, result.kvMask.buffer]);
  }

  async runGraph(name: string, feeds: Record<string, WireTensor>): Promise<Record<string, WireTensor>> {
    this.checkDevice();
    const session = { encoder: this.encoder, backbone: this.backbone }[name];
    if (!session) throw new RangeError(`the conditioning worker has no graph "${name}"`);
    return runOnWire(session, feeds);
  }

  async loseDevice(): Promise<void> {
    this.gpu?.device.destroy();
  }

  async dispose(): Promise<void> {
    await this.encoder?.release();
    await this.backbone?.release();
    await this.textModel?.dispose();
    this.gpu?.device.destroy();
  }
}

function structuredCloneEncoding(e: TextEncoding): TextEncoding {
  return { ...e, states: e.states.slice(), mask: e.mask.slice() };
}

Comlink.expose(serialized(guardDeviceLoss(new Conditioning())));
