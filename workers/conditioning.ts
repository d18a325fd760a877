/**
 * The conditioning worker: the action text encoder (@huggingface/transformers
 * on WASM), the encoder h and the backbone f (ONNX Runtime, on a GPU device
 * this worker owns, or WASM). It runs once per chunk, while the rendering
 * worker denoises.
 *
 * Its object runs in a Web Worker (conditioning.worker.ts), or in the engine's own
 * thread where there are none (the Node benchmark, src/bench/node/).
 */
import { AutoModel, AutoTokenizer, type PreTrainedModel, type PreTrainedTokenizer, Tensor, env as hf } from '@huggingface/transformers';
import * as Comlink from 'comlink';

import { cutAtWordPieces } from './action-cut';
import { GraphWorker } from './graph-worker';
import { f32, readF32, release } from './ort-backend';
import type { ConditioningApi, ConditioningInit, EngineInfo, TextEncoding, TurnRequest, TurnResult, WorkerGraph } from './protocol';

// transformers.js resolves a local model id against this prefix; our fetch
// below answers for it from the verified bundle bytes, so it never touches
// the network (nor a CDN for its WASM: see configureOrt).
const LOCAL_PREFIX = '/__world_canvas__/';
const MODEL_ID = 'text-encoder';

export class Conditioning extends GraphWorker<WorkerGraph<'conditioning'>> implements ConditioningApi {
  private tokenizer!: PreTrainedTokenizer;
  private textModel!: PreTrainedModel;
  /** Encodings by text, finished or under way: an action encoded when typed is not encoded again by its phase. */
  private textCache = new Map<string, Promise<TextEncoding>>();

  constructor() {
    super('conditioning');
  }

  async init(req: ConditioningInit): Promise<EngineInfo> {
    // h(o) feeds the backbone on the same device without a readback.
    const info = await this.open(req, { encoder: ['state_tokens'], backbone: [] });
    await this.loadTextEncoder(req.textEncoderFiles);
    return info;
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

  async encodeText(text: string): Promise<TextEncoding> {
    let encoding = this.textCache.get(text);
    if (!encoding) {
      if (this.textCache.size > 512) this.textCache.clear();
      const p = this.encode(text);
      this.textCache.set(text, p);
      p.catch(() => this.textCache.get(text) === p && this.textCache.delete(text)); // a failure is not kept
      encoding = p;
    }
    return structuredCloneEncoding(await encoding);
  }

  private async encode(text: string): Promise<TextEncoding> {
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
    // The words left out, for the page to show: [CLS] and [SEP] take two of the L tokens.
    const cut = tokens > L ? cutAtWordPieces(text, L - 2, (s) => this.tokenizer.encode(s).length - 2) : null;
    return { text, states, mask, tokens, truncated: tokens > L, cut };
  }

  async turn(req: TurnRequest): Promise<TurnResult> {
    this.checkDevice();
    const t0 = performance.now();
    const shape = this.io.backbone.inputs;
    const { state_tokens } = await this.sessions.encoder.run({ frames: f32(req.observedFrames, this.io.encoder.inputs.frames) });
    const t1 = performance.now();
    const out = await this.sessions.backbone.run({
      prev_state: f32(req.prevState, shape.prev_state),
      is_first: f32(new Float32Array([req.isFirst ? 1 : 0]), shape.is_first),
      observed: state_tokens,
      action: f32(req.text, shape.action),
      action_mask: f32(req.textMask, shape.action_mask),
      past_kv: f32(req.kv, shape.past_kv),
      past_mask: f32(req.kvMask, shape.past_mask),
    });
    const t2 = performance.now();
    release(state_tokens);
    this.checkDevice();
    const result: TurnResult = {
      state: await readF32(out.next_state),
      kv: await readF32(out.present_kv),
      kvMask: await readF32(out.present_mask),
      ms: performance.now() - t0,
      encoderMs: t1 - t0,
      backboneMs: t2 - t1,
    };
    return Comlink.transfer(result, [result.state.buffer, result.kv.buffer, result.kvMask.buffer]);
  }

  override async dispose(): Promise<void> {
    await this.textModel?.dispose();
    await super.dispose();
  }
}

function structuredCloneEncoding(e: TextEncoding): TextEncoding {
  return { ...e, states: e.states.slice(), mask: e.mask.slice() };
}

