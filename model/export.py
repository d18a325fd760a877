"""Export a GLP model as a world-canvas bundle.

    python -m model.export --checkpoint runs/cpu/glp.pt --out public/models/tabletop
    python -m model.export --config tiny --random-init --out build/bundles/tiny

Writes, per DESIGN section 4:
    manifest.json                     the contract (model/manifest.py)
    graphs/<graph>.onnx               fp32, one ONNX graph per component
    graphs/<graph>.fp16.onnx          fp16 weights and math, fp32 inputs/outputs
    text-encoder/                     all-MiniLM-L6-v2, transformers.js layout
    scenes/<id>.png                   start scenes rendered by the tabletop world
    testvectors/                      per-graph I/O and a reference rollout
    README.md                         the model card

Every graph is checked against PyTorch with onnxruntime before the manifest is
written (max abs difference, fp32); the export fails if one drifts.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn

from model.checkpoint import load_checkpoint, save_weights
from model.config import GLPConfig, get_config
from model.glp import GLP
from model.manifest import FORMAT, FORMAT_VERSION, GRAPH_NAMES, Manifest, dump_manifest
from model.quantize import matmul_nbits
from model.swin_dpm import schedule_vectors, noise_vectors
from model.text_encoder import QUANTIZED_NAME, TOKENIZER_FILES, ActionEncoder, export_text_encoder

OPSET = 18
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16",
               onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32",
               onnx.TensorProto.UINT8: "uint8", onnx.TensorProto.BOOL: "bool"}
IDLE_ACTION = "wait"
MAX_QUANT_SIZE_RATIO = 0.8  # a q8/q4 graph ships only if at most this share of its fp32 size


# ---------------------------------------------------------------------------
# Export wrappers: batch 1 squeezed away, names as the runtime feeds them.

class VaeEncoderGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.vae = m.vae

    def forward(self, frames):  # (1, 3, H, W) -> (1, C, h, w)
        return self.vae.encode(frames)


class VaeDecoderGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.vae = m.vae

    def forward(self, latents):  # (F, C, h, w) -> (F, 3, H, W) in [0, 1]
        return self.vae.decode(latents)


class EncoderGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.encoder = m.encoder

    def forward(self, frames):  # (F, 3, H, W) -> (Ns, D)
        return self.encoder(frames[None])[0]


class BackboneGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.backbone = m.backbone

    def forward(self, prev_state, is_first, observed, action, action_mask, past_kv, past_mask):
        s, kv, mask = self.backbone(prev_state[None], is_first, observed[None], action[None], action_mask[None],
                                    past_kv[None], past_mask[None])
        return s[0], kv[0], mask[0]


class DecoderGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.m = m

    def forward(self, history, history_noise, history_sigma, earlier, later, sigma, sigma_next,
                earlier_present, text, text_mask, state):
        e, l = self.m.denoise_call(history[None], history_noise[None], history_sigma, earlier[None], later[None],
                                   sigma[None], sigma_next[None], earlier_present, text[None], text_mask[None],
                                   state[None])
        return e[0], l[0]


GRAPH_IO = {
    "vae_encoder": (VaeEncoderGraph, ["frames"], ["latents"]),
    "vae_decoder": (VaeDecoderGraph, ["latents"], ["frames"]),
    "encoder": (EncoderGraph, ["frames"], ["state_tokens"]),
    "backbone": (BackboneGraph, ["prev_state", "is_first", "observed", "action", "action_mask", "past_kv", "past_mask"],
                 ["next_state", "present_kv", "present_mask"]),
    "decoder": (DecoderGraph, ["history", "history_noise", "history_sigma", "earlier", "later", "sigma", "sigma_next",
                               "earlier_present", "text", "text_mask", "state"], ["earlier_next", "later_next"]),
}


def example_inputs(cfg: GLPConfig, graph: str, rng: np.random.Generator, text=None) -> dict[str, np.ndarray]:
    """Plausible fixed inputs for a graph (used for tracing and test vectors)."""
    F_, C, h, H = cfg.chunk_frames, cfg.latent_channels, cfg.latent_size, cfg.image_size
    Q, D, Ns, L = cfg.queries, cfg.state_width, cfg.state_tokens, cfg.max_action_tokens
    n = lambda *s: rng.standard_normal(s).astype(np.float32)
    u = lambda *s: rng.uniform(0, 1, s).astype(np.float32)
    if text is None:
        text = (n(L, cfg.text_width), (np.arange(L) < 6).astype(np.float32))
    if graph == "vae_encoder":
        return {"frames": u(1, 3, H, H)}
    if graph == "vae_decoder":
        return {"latents": n(F_, C, h, h)}
    if graph == "encoder":
        return {"frames": u(F_, 3, H, H)}
    if graph == "backbone":
        hs = D // cfg.backbone_heads
        past_mask = np.zeros(cfg.cache_tokens, np.float32)
        past_mask[-2 * cfg.turn_tokens:] = 1.0  # two earlier turns
        past_mask[-cfg.turn_tokens + 2 * Q + Ns + 6: -Q] = 0.0  # padding of the last turn's action
        return {"prev_state": n(Q, D), "is_first": np.zeros(1, np.float32), "observed": n(Ns, D),
                "action": text[0], "action_mask": text[1],
                "past_kv": n(cfg.backbone_layers, 2, cfg.backbone_heads, cfg.cache_tokens, hs) * past_mask[None, None, None, :, None],
                "past_mask": past_mask}
    if graph == "decoder":
        t2 = np.stack([text[0], text[0][::-1].copy()]), np.stack([text[1], text[1]])
        return {"history": n(F_, C, h, h), "history_noise": n(C, h, h),
                "history_sigma": np.array([cfg.conditioning_noise], np.float32),
                "earlier": n(F_, C, h, h) * 0.5, "later": n(F_, C, h, h),
                "sigma": np.array([0.375, 0.875], np.float32), "sigma_next": np.array([0.25, 0.75], np.float32),
                "earlier_present": np.ones(1, np.float32), "text": t2[0], "text_mask": t2[1], "state": n(2, Q, D)}
    raise KeyError(graph)


def run_torch(model: GLP, graph: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    wrapper, in_names, _ = GRAPH_IO[graph]
    with torch.no_grad():
        out = wrapper(model).eval()(*[torch.from_numpy(inputs[k]) for k in in_names])
    out = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in out]


def export_graph(model: GLP, graph: str, path: Path, rng: np.random.Generator) -> None:
    wrapper, in_names, out_names = GRAPH_IO[graph]
    inputs = example_inputs(model.cfg, graph, rng)
    args = tuple(torch.from_numpy(inputs[k]) for k in in_names)
    program = torch.onnx.export(wrapper(model).eval(), args, input_names=in_names, output_names=out_names,
                                opset_version=OPSET, dynamo=True, verbose=False)
    program.save(str(path))
    # Keep weights inside the .onnx file: one file per graph and variant.
    m = onnx.load(str(path), load_external_data=True)
    onnx.save_model(m, str(path), save_as_external_data=False)
    for extra in path.parent.glob(path.name + ".data"):
        extra.unlink()


def to_fp16(src: Path, dst: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16
    m = onnx.load(str(src))
    # Inputs and outputs stay fp32 so the runtime feeds every variant the same tensors.
    m16 = convert_float_to_float16(m, keep_io_types=True)
    onnx.save_model(m16, str(dst))


QUANT_BITS = {"q8": 8, "q4": 4}
# A reduced-precision variant ships only if the reference rollout's frames stay this close to fp32.
MIN_VARIANT_PSNR = 30.0


def graph_io(path: Path) -> tuple[list[dict], list[dict]]:
    m = onnx.load(str(path), load_external_data=False)
    init = {i.name for i in m.graph.initializer}

    def spec(v):
        t = v.type.tensor_type
        return {"name": v.name, "dtype": ONNX_DTYPES[t.elem_type], "shape": [d.dim_value for d in t.shape.dim]}
    return [spec(v) for v in m.graph.input if v.name not in init], [spec(v) for v in m.graph.output]


def file_ref(root: Path, path: Path) -> dict:
    data = path.read_bytes()
    return {"file": path.relative_to(root).as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def ort_session(path: Path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_round_trip(model: GLP, graph: str, path: Path, rng: np.random.Generator, tol: float) -> float:
    """Max abs difference between PyTorch and onnxruntime on fresh inputs."""
    inputs = example_inputs(model.cfg, graph, rng)
    expected = run_torch(model, graph, inputs)
    got = ort_session(path).run(None, inputs)
    err = max(float(np.abs(e - g).max()) for e, g in zip(expected, got))
    if not err <= tol:
        raise RuntimeError(f"{path.name}: onnxruntime differs from PyTorch by {err:.3g} (tolerance {tol})")
    return err


# ---------------------------------------------------------------------------
# Start scenes and test vectors.

def render_start_scenes(cfg: GLPConfig, out: Path, seeds: list[int]) -> list[dict]:
    from PIL import Image

    from model.world import random_scene, render
    scenes = []
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        state = random_scene(seed)
        img = render(state, size=cfg.image_size)
        path = out / "scenes" / f"scene-{i}.png"
        Image.fromarray(img).save(path, optimize=True)
        names = ", ".join(f"{o.colour} {o.shape}" for o in state.objects)
        scenes.append({"id": f"scene-{i}", "title": names} | {k: v for k, v in file_ref(out, path).items()})
    return scenes


class VectorWriter:
    """Tensors in one little-endian binary file, indexed by JSON."""

    def __init__(self):
        self.blob = bytearray()
        self.tensors: dict[str, dict] = {}

    def add(self, key: str, arr: np.ndarray) -> str:
        arr = np.ascontiguousarray(arr)
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.int64): "int64", np.dtype(np.uint8): "uint8"}[arr.dtype]
        while len(self.blob) % 8:
            self.blob.append(0)
        self.tensors[key] = {"dtype": dtype, "shape": list(arr.shape), "offset": len(self.blob), "bytes": arr.nbytes}
        self.blob += arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        return key


ROLLOUT_ACTIONS = ["push the red block to the left", "wait", "slide the blue one up", "make the lights dim"]


def write_test_vectors(model: GLP, out: Path, encoder: ActionEncoder, scene_png: Path, seed: int = 7,
                       chunks: int = 3) -> dict:
    from PIL import Image

    from model.sampler import ReferenceSampler, TorchGraphs
    cfg = model.cfg
    vdir = out / "testvectors"
    vdir.mkdir(parents=True, exist_ok=True)
    w = VectorWriter()
    rng = np.random.default_rng(1234)
    graphs = {}
    text = encoder.encode(ROLLOUT_ACTIONS[0])
    for g in GRAPH_NAMES:
        inputs = example_inputs(cfg, g, rng, text=text)
        outputs = run_torch(model, g, inputs)
        _, in_names, out_names = GRAPH_IO[g]
        graphs[g] = {"inputs": {k: w.add(f"{g}.in.{k}", inputs[k]) for k in in_names},
                     "outputs": {k: w.add(f"{g}.out.{k}", o) for k, o in zip(out_names, outputs)}}
    # Action encoder: token ids and states for the rollout's texts.
    texts = []
    for i, t in enumerate(ROLLOUT_ACTIONS + [IDLE_ACTION]):
        ids, mask = encoder.tokenize(t)
        states, _ = encoder.encode(t)
        texts.append({"text": t, "inputIds": w.add(f"text.{i}.ids", ids), "mask": w.add(f"text.{i}.mask", mask),
                      "states": w.add(f"text.{i}.states", states)})
    # A reference rollout.
    frame = np.asarray(Image.open(scene_png).convert("RGB"))
    sampler = ReferenceSampler(TorchGraphs(model), encoder, seed=seed, idle_action=IDLE_ACTION)
    sampler.start(frame)
    for a in ROLLOUT_ACTIONS[:chunks]:
        sampler.act(a)
    done = sampler.run_chunks(chunks)
    frames = np.stack([d.frames for d in done])  # (chunks, F, 3, H, W)
    index = {
        "tensors": w.tensors,
        "graphs": graphs,
        "texts": texts,
        "rollout": {"seed": seed, "scene": scene_png.stem, "actions": ROLLOUT_ACTIONS[:chunks], "chunks": chunks,
                    "frames": w.add("rollout.frames", frames)},
        "schedule": schedule_vectors(cfg.denoise_steps, 4),
        "noise": noise_vectors(),
        "tolerance": {"graph": 1e-3, "frame": 2.0 / 255.0},
    }
    (vdir / "vectors.bin").write_bytes(bytes(w.blob))
    (vdir / "index.json").write_text(json.dumps(index) + "\n")
    return {"file": "testvectors/index.json"}, {"frame": frame, "seed": seed, "actions": ROLLOUT_ACTIONS[:chunks],
                                                "frames": frames}


def rollout_psnr(cfg: GLPConfig, files: dict, encoder: ActionEncoder, rollout: dict) -> float:
    """PSNR of a variant's replay of the reference rollout against the fp32 PyTorch frames."""
    from model.sampler import OnnxGraphs, ReferenceSampler
    s = ReferenceSampler(OnnxGraphs(files=files, cfg=cfg), encoder, seed=rollout["seed"], idle_action=IDLE_ACTION)
    s.start(rollout["frame"])
    for a in rollout["actions"]:
        s.act(a)
    got = np.stack([c.frames for c in s.run_chunks(len(rollout["actions"]))])
    mse = float(np.mean((got - rollout["frames"]) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def add_index_fields(out: Path, **fields) -> None:
    p = out / "testvectors" / "index.json"
    index = json.loads(p.read_text())
    index.update(fields)
    p.write_text(json.dumps(index) + "\n")


# ---------------------------------------------------------------------------
# The whole bundle.

def build_manifest(cfg: GLPConfig, out: Path, graph_files: dict, text_dir: Path, scenes: list[dict],
                   description: str, eval_scores: dict | None, test_vectors: dict | None) -> Manifest:
    graphs = {}
    for g, variants in graph_files.items():
        ins, outs = graph_io(variants["fp32"])
        graphs[g] = {"inputs": ins, "outputs": outs,
                     "variants": {v: file_ref(out, p) for v, p in variants.items()}}
    te_files = [file_ref(out, text_dir / f) for f in TOKENIZER_FILES + [QUANTIZED_NAME]]
    data = {
        "format": FORMAT, "formatVersion": FORMAT_VERSION, "name": cfg.name, "description": description,
        "video": {"width": cfg.image_size, "height": cfg.image_size, "fps": cfg.fps, "chunkFrames": cfg.chunk_frames},
        "latent": {"channels": cfg.latent_channels, "height": cfg.latent_size, "width": cfg.latent_size},
        "state": {"tokens": cfg.state_tokens, "width": cfg.state_width, "queries": cfg.queries},
        "backbone": {"layers": cfg.backbone_layers, "heads": cfg.backbone_heads, "maxTurns": cfg.max_turns,
                     "turnTokens": cfg.turn_tokens, "cacheTokens": cfg.cache_tokens},
        "diffusion": {
            "denoiseSteps": cfg.denoise_steps, "window": cfg.window_chunks,
            "conditioningNoise": cfg.conditioning_noise, "stateLag": cfg.state_lag,
            "flowMatching": {
                "interpolation": "x_sigma = (1 - sigma) * data + sigma * noise",
                "prediction": "velocity = noise - data",
                "step": "euler: x_next = x - (sigma - sigma_next) * velocity",
            },
        },
        "actionEncoder": {"path": text_dir.relative_to(out).as_posix(), "maxTokens": cfg.max_action_tokens,
                          "width": cfg.text_width, "dtype": "q8", "idleAction": IDLE_ACTION, "files": te_files},
        "graphs": graphs,
        "scenes": scenes,
    }
    if eval_scores:
        data["eval"] = eval_scores
    if test_vectors:
        data["testVectors"] = test_vectors
    return Manifest.model_validate(data)


def export_bundle(model: GLP, out: Path, *, text_encoder_from: Path | None = None, variants=("fp32", "fp16"),
                  scene_seeds=(11, 23, 37, 41), description: str = "", meta: dict | None = None,
                  scores: dict | None = None, card_notes: str = "", log=print) -> Manifest:
    """Write a bundle. `scores` is model.eval's scores.json: its "manifest" block
    goes into manifest.json, the rest into the model card."""
    eval_scores = scores.get("manifest") if scores else None
    cfg = model.cfg
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t0 = time.time()

    # 1. Graphs: fp32 (checked against PyTorch), then the reduced-precision variants.
    (out / "graphs").mkdir(exist_ok=True)
    graph_files: dict[str, dict[str, Path]] = {}
    for g in GRAPH_NAMES:
        p32 = out / "graphs" / f"{g}.onnx"
        export_graph(model, g, p32, rng)
        err = check_round_trip(model, g, p32, rng, tol=1e-4)
        files = {"fp32": p32}
        msg = f"{g}: fp32 {p32.stat().st_size / 1e6:.2f} MB, max |torch - ort| = {err:.2e}"
        if "fp16" in variants:
            files["fp16"] = out / "graphs" / f"{g}.fp16.onnx"
            to_fp16(p32, files["fp16"])
        for v, bits in QUANT_BITS.items():
            q = out / "graphs" / f"{g}.{v}.onnx"
            if v in variants and matmul_nbits(p32, q, bits):
                # Weight-only quantization reaches MatMuls, not convolutions: a convolutional graph barely
                # shrinks, and a variant that saves little is not worth its download and its place in the repo.
                if q.stat().st_size > MAX_QUANT_SIZE_RATIO * p32.stat().st_size:
                    msg += f"; {v} not kept ({q.stat().st_size / 1e6:.2f} MB, no smaller than it needs to be)"
                    q.unlink()
                else:
                    files[v] = q
        msg += "".join(f"; {v} {p.stat().st_size / 1e6:.2f} MB" for v, p in files.items() if v != "fp32")
        graph_files[g] = files
        log(msg)

    # 2. The action encoder (copied when an export already exists: it is the same file).
    text_dir = out / "text-encoder"
    if text_encoder_from and Path(text_encoder_from).resolve() != text_dir.resolve():
        shutil.copytree(text_encoder_from, text_dir, dirs_exist_ok=True)
    elif not (text_dir / QUANTIZED_NAME).exists():
        log("exporting all-MiniLM-L6-v2 (8-bit) ...")
        export_text_encoder(text_dir)
    encoder = ActionEncoder(text_dir, cfg.max_action_tokens)

    # 3. Start scenes and test vectors (a reference rollout of the PyTorch model).
    scenes = render_start_scenes(cfg, out, list(scene_seeds))
    vectors, rollout = write_test_vectors(model, out, encoder, out / scenes[0]["file"])

    # 4. Each reduced-precision variant replays the rollout; it ships only if close enough to fp32.
    quality = {}
    for v in [v for v in ("fp16", "q8", "q4") if v in variants]:
        files = {g: f.get(v, f["fp32"]) for g, f in graph_files.items()}
        psnr = rollout_psnr(cfg, files, encoder, rollout)
        kept = bool(psnr >= MIN_VARIANT_PSNR)
        quality[v] = {"psnr": float(min(psnr, 100.0)), "kept": kept, "threshold": MIN_VARIANT_PSNR}
        log(f"{v}: rollout PSNR {psnr:.1f} dB against fp32 -> {'kept' if kept else 'dropped'}")
        if not kept:
            for f in graph_files.values():
                if v in f:
                    f.pop(v).unlink()
    from model.cost import graph_costs
    cost = graph_costs(model)
    add_index_fields(out, cost=cost, variantQuality=quality)

    # 5. The manifest and the model card.
    manifest = build_manifest(cfg, out, graph_files, text_dir, scenes, description or f"GLP model '{cfg.name}'",
                              eval_scores, vectors)
    (out / "manifest.json").write_text(dump_manifest(manifest))
    from model.model_card import model_card
    (out / "README.md").write_text(model_card(manifest, meta or {}, cost, scores, quality, card_notes,
                                                   model_config=cfg.to_dict()))
    log(f"bundle written to {out} in {time.time() - t0:.1f}s")
    return manifest


def random_model(config: str, seed: int = 0, **overrides) -> GLP:
    """Untrained weights for tests: the zero-initialised outputs (adaLN-Zero,
    the state stream, the final layer) get small random values too, so every
    path of every graph carries signal and parity tests can fail."""
    torch.manual_seed(seed)
    model = GLP(get_config(config, **overrides).model)
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.05)
    return model.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a checkpoint written by model.train")
    src.add_argument("--random-init", action="store_true", help="export untrained weights (tests, smoke runs)")
    ap.add_argument("--config", default="tiny", help="config name for --random-init")
    ap.add_argument("--seed", type=int, default=0, help="init seed for --random-init")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--text-encoder-from", type=Path, help="reuse an exported text-encoder folder")
    ap.add_argument("--variants", default="fp32,fp16,q8,q4", help="fp32 always; fp16, q8, q4 if they keep the frames")
    ap.add_argument("--description", default="", help="one line for the manifest and the model card")
    ap.add_argument("--eval", type=Path, help="scores.json from model.eval to record in the manifest and model card")
    ap.add_argument("--card-notes", type=Path, help="markdown for the model card's Limitations section "
                                                    "(or sections of its own, when it starts with '## ')")
    ap.add_argument("--weights-out", type=Path, help="also write the checkpoint's EMA weights in half precision here "
                                                     "(what `model.train --init-from` continues from)")
    args = ap.parse_args(argv)

    if args.checkpoint:
        model, meta = load_checkpoint(args.checkpoint)
    else:
        model, meta = random_model(args.config, args.seed), None
    scores = json.loads(args.eval.read_text()) if args.eval else None
    report = args.eval.parent / "report.html" if args.eval else None
    ship_report = report is not None and report.exists()
    if ship_report:  # the HTML report travels with the bundle, where the manifest points
        scores["manifest"]["report"] = "eval/report.html"
    export_bundle(model, args.out, text_encoder_from=args.text_encoder_from, variants=tuple(args.variants.split(",")),
                  meta=meta, scores=scores, description=args.description,
                  card_notes=args.card_notes.read_text() if args.card_notes else "")
    if args.weights_out and args.checkpoint:
        save_weights(args.checkpoint, args.weights_out)
    if ship_report:
        (args.out / "eval").mkdir(exist_ok=True)
        shutil.copyfile(report, args.out / "eval" / "report.html")


if __name__ == "__main__":
    main()
