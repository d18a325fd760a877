"""Export a GLP model as a world-canvas bundle.

    python -m model.export --checkpoint runs/cpu/glp.pt --out public/models/tabletop [--grid-levels 64]
    python -m model.export --config tiny --random-init --out build/bundles/tiny

Writes the bundle the runtime loads (the contract: model/manifest.py):
    manifest.json                     the contract
    graphs/<graph>.onnx               fp32, one ONNX graph per component (model/graphs.py)
    graphs/<graph>.fp16.onnx          fp16 weights and math, fp32 inputs/outputs
    graphs/<graph>.q8.onnx, .q4.onnx  weight-only quantized matrix products, where they keep the frames and
                                      save bytes; a convolutional graph's q8: static 8-bit convolutions
    text-encoder/                     all-MiniLM-L6-v2, transformers.js layout
    scenes/<id>.png                   start scenes rendered by the tabletop world
    testvectors/                      per-graph I/O and a reference rollout (model/testvectors.py)
    README.md                         the model card (model/model_card.py)

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
from PIL import Image

from model.checkpoint import load_checkpoint, random_model, save_weights
from model.config import CONFIGS, GLPConfig
from model.convert import check_round_trip, export_graph, graph_io, to_fp16
from model.cost import graph_costs
from model.glp import GLP
from model.manifest import (FORMAT, FORMAT_VERSION, GRAPH_NAMES, IDLE_ACTION, VARIANTS, Manifest, config_fields,
                            dump_manifest, pick_variant, validate_manifest)
from model.model_card import keep_report, model_card, ship_report
from model.quantize import activation_grids, calibrate_grid, conv_int8, matmul_nbits, rollout_feeds
from model.testvectors import record_test_vectors, rollout_psnr, write_test_vectors
from model.text_encoder import QUANTIZED_NAME, TOKENIZER_FILES, ActionEncoder, export_text_encoder
from model.world import random_scene, render
from model.world.guide import world_manifest

QUANT_BITS = {"q8": 8, "q4": 4}
MAX_QUANT_SIZE_RATIO = 0.8  # a q8/q4 graph ships only if at most this share of its fp32 size
# A reduced-precision variant ships only if the reference rollout's frames stay this close to fp32.
MIN_VARIANT_PSNR = 30.0


def file_ref(root: Path, path: Path) -> dict:
    data = path.read_bytes()
    return {"file": path.relative_to(root).as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def render_start_scenes(cfg: GLPConfig, out: Path, seeds: list[int]) -> list[dict]:
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


def build_manifest(cfg: GLPConfig, out: Path, graph_files: dict, text_dir: Path, scenes: list[dict],
                   description: str, eval_scores: dict | None, test_vectors: dict | None) -> Manifest:
    graphs = {}
    for g, variants in graph_files.items():
        ins, outs = graph_io(variants["fp32"])
        graphs[g] = {"inputs": ins, "outputs": outs,
                     "variants": {v: file_ref(out, p) for v, p in variants.items()}}
    te_files = [file_ref(out, text_dir / f) for f in TOKENIZER_FILES + [QUANTIZED_NAME]]
    data = config_fields(cfg)  # name, video, latent, state, backbone, diffusion, the action encoder's sizes
    data["actionEncoder"] |= {"path": text_dir.relative_to(out).as_posix(), "dtype": "q8", "idleAction": IDLE_ACTION,
                              "files": te_files}
    data |= {"format": FORMAT, "formatVersion": FORMAT_VERSION, "description": description, "graphs": graphs,
             "scenes": scenes, "world": world_manifest(cfg.window_chunks)}  # every config's world is the tabletop
    if eval_scores:
        data["eval"] = eval_scores
    if test_vectors:
        data["testVectors"] = test_vectors
    return validate_manifest(data)


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

    # 1. The action encoder (copied when an export already exists: it is the same file) and the start scenes.
    text_dir = out / "text-encoder"
    if text_encoder_from and Path(text_encoder_from).resolve() != text_dir.resolve():
        shutil.copytree(text_encoder_from, text_dir, dirs_exist_ok=True)
    elif not (text_dir / QUANTIZED_NAME).exists():
        log("exporting all-MiniLM-L6-v2 (8-bit) ...")
        export_text_encoder(text_dir)
    encoder = ActionEncoder(text_dir, cfg.max_action_tokens)
    scenes = render_start_scenes(cfg, out, list(scene_seeds))
    scene_frames = [np.asarray(Image.open(out / s["file"]).convert("RGB")) for s in scenes]

    # 1b. The decoder's activation grid, where the config has one and no step is set yet: calibrated on
    #     the model's own rollouts from the start scenes.
    if cfg.decoder_grid_levels and not any(float(g.w) for g in activation_grids(model)):
        calibrate_grid(model, encoder, scene_frames, log=log)

    # 2. Graphs: fp32 (checked against PyTorch), then the reduced-precision variants.
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

    # 3. Test vectors (a reference rollout of the PyTorch model).
    recorded = record_test_vectors(model, encoder, out / scenes[0]["file"])

    # 3b. The q8 of a convolutional graph (weight-only quantization does not reach convolutions): static
    #     8-bit convolutions, calibrated on rollouts of the fp32 graphs from the start scenes.
    int8 = [g for g, f in graph_files.items() if "q8" not in f] if "q8" in variants else []
    if int8:
        feeds = rollout_feeds({g: f["fp32"] for g, f in graph_files.items()}, cfg, encoder, scene_frames, graphs=int8)
        for g in int8:
            q = out / "graphs" / f"{g}.q8.onnx"
            if feeds[g] and conv_int8(graph_files[g]["fp32"], q, feeds[g]):
                graph_files[g]["q8"] = q
                log(f"{g}: q8 (8-bit convolutions, calibrated on {len(feeds[g])} calls) {q.stat().st_size / 1e6:.2f} MB")

    # 4. Each reduced-precision variant replays the rollout; it ships only if close enough to fp32.
    quality = {}
    for v in [v for v in VARIANTS[1:] if v in variants]:
        files = {g: pick_variant(f, v) for g, f in graph_files.items()}
        psnr = rollout_psnr(cfg, files, encoder, recorded)
        if v == "q8" and psnr < MIN_VARIANT_PSNR and any("q8" in graph_files[g] for g in int8):
            log(f"q8: rollout PSNR {psnr:.1f} dB with 8-bit convolutions; they are dropped, the rest measured alone")
            for g in int8:
                if "q8" in graph_files[g]:
                    graph_files[g].pop("q8").unlink()
            files = {g: pick_variant(f, v) for g, f in graph_files.items()}
            psnr = rollout_psnr(cfg, files, encoder, recorded)
        kept = bool(psnr >= MIN_VARIANT_PSNR)
        quality[v] = {"psnr": float(min(psnr, 100.0)), "kept": kept, "threshold": MIN_VARIANT_PSNR}
        log(f"{v}: rollout PSNR {psnr:.1f} dB against fp32 -> {'kept' if kept else 'dropped'}")
        if not kept:
            for f in graph_files.values():
                if v in f:
                    f.pop(v).unlink()
    cost = graph_costs(model)
    vectors = write_test_vectors(recorded, out, cfg.denoise_steps, cost, quality)

    # 5. The manifest and the model card.
    manifest = build_manifest(cfg, out, graph_files, text_dir, scenes, description or f"GLP model '{cfg.name}'",
                              eval_scores, vectors)
    (out / "manifest.json").write_text(dump_manifest(manifest))
    (out / "README.md").write_text(model_card(manifest, meta or {}, cost, scores, quality, card_notes,
                                                   model_config=cfg.to_dict()))
    log(f"bundle written to {out} in {time.time() - t0:.1f}s")
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a checkpoint written by model.train")
    src.add_argument("--random-init", action="store_true", help="export untrained weights (tests, smoke runs)")
    ap.add_argument("--config", default="tiny", choices=sorted(CONFIGS), help="config name for --random-init")
    ap.add_argument("--seed", type=int, default=0, help="init seed for --random-init")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--text-encoder-from", type=Path, help="reuse an exported text-encoder folder")
    ap.add_argument("--variants", default="fp32,fp16,q8,q4", help="fp32 always; fp16, q8, q4 if they keep the frames")
    ap.add_argument("--description", default="", help="one line for the manifest and the model card")
    ap.add_argument("--eval", type=Path, help="scores.json from model.eval to record in the manifest and model card")
    ap.add_argument("--card-notes", type=Path, help="markdown for the model card's Limitations section "
                                                    "(or sections of its own, when it starts with '## ')")
    ap.add_argument("--grid-levels", type=int, help="pull the decoder's convolution activations toward a grid of this "
                                                    "many steps (model/glp.py ActivationGrid), calibrated here on the "
                                                    "model's own rollouts; 0 removes the grid (default: the checkpoint's)")
    ap.add_argument("--weights-out", type=Path, help="also write the checkpoint's EMA weights in half precision here "
                                                     "(what `model.train --init-from` continues from)")
    args = ap.parse_args(argv)

    if args.checkpoint:
        grid = {} if args.grid_levels is None else {"decoder_grid_levels": args.grid_levels}
        model, meta = load_checkpoint(args.checkpoint, **grid)
    else:
        model, meta = random_model(args.config, args.seed), None
    scores = json.loads(args.eval.read_text()) if args.eval else None
    report = ship_report(args.eval, scores) if args.eval else None  # travels with the bundle, where the manifest points
    export_bundle(model, args.out, text_encoder_from=args.text_encoder_from, variants=tuple(args.variants.split(",")),
                  meta=meta, scores=scores, description=args.description,
                  card_notes=args.card_notes.read_text() if args.card_notes else "")
    if args.weights_out and args.checkpoint:
        save_weights(args.checkpoint, args.weights_out)
    if report:
        keep_report(report, args.out)


if __name__ == "__main__":
    main()
