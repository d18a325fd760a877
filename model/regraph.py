"""Rebuild a graph of an exported bundle with today's exporter, from the weights the bundle itself holds;
or give its convolutional graphs the exporter's 8-bit variant.

    python -m model.regraph public/models/tabletop --graph vae_decoder
    python -m model.regraph public/models/tabletop --int8 decoder,vae_decoder
    python -m model.regraph public/models/tabletop --wasm-variant q8 --scores runs/eval-q8/scores.json

For exporter changes that keep a graph's function and cut its work (`export_module` in model/graphs.py,
e.g. `fold_upsampling`): a shipped bundle takes them without its training checkpoint, its weights unchanged
to the last bit. Only the VAE's graphs can be rebuilt so: their weights read back exactly from the fp32
graphs (`load_vae`, model/checkpoint.py); the other graphs need `model.export` and a checkpoint.

Nothing is written unless the rebuilt fp32 graph reproduces the bundle's own test vectors for that graph
within the exporter's tolerance and each reduced-precision variant, remade from it, still replays the
reference rollout above the exporter's threshold. Then the graph files, the manifest's references to them,
the test vectors' cost and variant quality, and the model card's Graphs section are rewritten. `--int8`
calibrates on rollouts of the bundle's fp32 graphs from its start scenes (`rollout_feeds`, as the exporter)
and writes only if the q8 variant with the new graphs replays the rollout above the same threshold.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from model.checkpoint import bundle_vae_config, load_vae
from model.contract import graph_feeds, read_test_vectors
from model.convert import export_graph, graph_io, ort_session, to_fp16
from model.cost import frame_cost, graph_costs
from model.export import MIN_VARIANT_PSNR, file_ref
from model.glp import GLP
from model.graphs import GRAPH_IO
from model.manifest import (VARIANTS, config_from_manifest, dump_manifest, load_manifest, pick_variant,
                            validate_manifest, validate_test_vector_index)
from model.model_card import GRAPHS_HEADING, graphs_section
from model.quantize import conv_int8, rollout_feeds
from model.testvectors import RecordedVectors, rollout_psnr
from model.text_encoder import ActionEncoder

REBUILDABLE = ("vae_encoder", "vae_decoder")
EXPORT_TOLERANCE = 1e-4  # the exporter's fp32 check (model/export.py)


def replace_section(card: str, heading: str, lines: list[str]) -> str:
    """`card` with the section under `heading` (up to the next "## " heading) replaced by `lines`."""
    rows = card.split("\n")
    if heading not in rows:
        raise ValueError(f"the model card has no '{heading}' section")
    start = rows.index(heading)
    end = next((i for i in range(start + 1, len(rows)) if rows[i].startswith("## ")), len(rows))
    tail = rows[end:]
    return "\n".join(rows[:start] + lines + ([""] if tail else []) + tail)


def _refs(manifest, graph: str) -> dict:
    """A graph's file references by variant, the variants it has only."""
    variants = getattr(manifest.graphs, graph).variants
    return {v: getattr(variants, v) for v in VARIANTS if getattr(variants, v) is not None}


def _variant_files(manifest, variant: str, bundle: Path) -> dict[str, Path]:
    """Each graph's file for `variant`, falling back as the runtime does (`pick_variant`)."""
    return {g: bundle / pick_variant(_refs(manifest, g), variant).file for g in GRAPH_IO}


def _replay(bundle: Path, manifest, index, tensors, variant: str, replaced: dict[str, Path], log) -> dict:
    """The variant (with the `replaced` graph files) replays the bundle's reference rollout; its quality
    record, or an error when it falls below the exporter's threshold."""
    cfg = config_from_manifest(manifest)
    files = _variant_files(manifest, variant, bundle) | replaced
    recorded = RecordedVectors(None, index["graphs"], index["texts"], index["rollout"],
                               np.asarray(Image.open(bundle / "scenes" / f"{index['rollout']['scene']}.png").convert("RGB")),
                               tensors[index["rollout"]["frames"]])
    encoder = ActionEncoder(bundle / manifest.action_encoder.path, cfg.max_action_tokens)
    psnr = rollout_psnr(cfg, files, encoder, recorded)
    was = index["variantQuality"].get(variant, {}).get("psnr")
    log(f"{variant}: {', '.join(replaced)} made; the reference rollout {psnr:.1f} dB against fp32"
        + (f" (was {was:.1f} dB)" if was is not None else ""))
    if psnr < MIN_VARIANT_PSNR:
        raise RuntimeError(f"the {variant} variant with the new {', '.join(replaced)} replays the rollout at {psnr:.1f} "
                           f"dB, below {MIN_VARIANT_PSNR} dB; nothing written")
    return {"psnr": float(min(psnr, 100.0)), "kept": True, "threshold": MIN_VARIANT_PSNR}


def _calibration(bundle: Path, manifest) -> dict[str, list[dict]]:
    """The convolutional graphs' inputs in rollouts of the bundle's fp32 graphs from its start scenes."""
    cfg = config_from_manifest(manifest)
    encoder = ActionEncoder(bundle / manifest.action_encoder.path, cfg.max_action_tokens)
    frames = [np.asarray(Image.open(bundle / s.file).convert("RGB")) for s in manifest.scenes]
    return rollout_feeds(_variant_files(manifest, "fp32", bundle), cfg, encoder, frames, graphs=tuple(GRAPH_IO))


def _write(bundle: Path, manifest, index: dict, cost: dict, quality: dict) -> None:
    """The manifest, the test-vector index (cost, variant quality) and the model card's Graphs section."""
    index = validate_test_vector_index(index | {"cost": cost, "variantQuality": quality})
    (bundle / "manifest.json").write_text(dump_manifest(manifest))
    (bundle / "testvectors" / "index.json").write_text(json.dumps(index) + "\n")
    card = bundle / "README.md"
    if card.exists():
        card.write_text(replace_section(card.read_text(), GRAPHS_HEADING, graphs_section(manifest, cost, quality)))


def add_int8_convolutions(bundle: Path, graphs: list[str], log=print) -> dict:
    """Give each of `graphs` (ones without a q8) a q8 of static 8-bit convolutions (`conv_int8`), calibrated
    on rollouts of the bundle's fp32 graphs; written only if the q8 variant, with them, still replays the
    reference rollout above the exporter's threshold. Returns each new file's size."""
    bundle = Path(bundle)
    manifest = load_manifest(bundle / "manifest.json")
    index, tensors = read_test_vectors(bundle / "testvectors")
    for g in graphs:
        if g not in GRAPH_IO:
            raise ValueError(f"{g}: not a graph ({', '.join(GRAPH_IO)})")
        if "q8" in _refs(manifest, g):
            raise ValueError(f"{g} has a q8 already")
    feeds = _calibration(bundle, manifest)
    with tempfile.TemporaryDirectory() as tmp:
        new = {}
        for g in graphs:
            path = Path(tmp) / f"{g}.q8.onnx"
            if not conv_int8(bundle / getattr(manifest.graphs, g).variants.fp32.file, path, feeds[g]):
                raise ValueError(f"{g} has no convolution to quantize")
            new[g] = path
        quality = dict(index["variantQuality"]) | {"q8": _replay(bundle, manifest, index, tensors, "q8", new, log)}
        data = manifest.model_dump(by_alias=True, exclude_none=True)
        for g, path in new.items():
            shutil.copyfile(path, bundle / "graphs" / path.name)
            data["graphs"][g]["variants"]["q8"] = file_ref(bundle, bundle / "graphs" / path.name)
    manifest = validate_manifest(data)
    _write(bundle, manifest, index, index["cost"], quality)
    sizes = {g: getattr(manifest.graphs, g).variants.q8.bytes for g in graphs}
    log("q8: " + ", ".join(f"{g} {b / 1e6:.2f} MB" for g, b in sizes.items()) + "; manifest and model card rewritten")
    return sizes


def variant_shortfalls(fp32: dict[str, float], variant: dict[str, float]) -> list[str]:
    """The model's scores (model.eval's manifest block) on which `variant` does more than 1 point worse than
    fp32: 0.01 of a share, 1 dB of PSNR, 0.01 more position error. Baselines, the ground truth's and the
    oracle's scores do not depend on the model and are skipped."""
    short = []
    for k, ref in fp32.items():
        if k.startswith(("baseline_", "gt_")) or "detector_on_ground_truth" in k or "oracle" in k or "random" in k:
            continue
        if k not in variant:
            short.append(f"{k}: not measured")
            continue
        point = 1.0 if k.endswith("psnr") else 0.01
        worse = variant[k] - ref if k.endswith("position_error") else ref - variant[k]
        if worse > point + 1e-9:
            short.append(f"{k}: {variant[k]:.3f} against {ref:.3f}")
    return short


def set_wasm_variant(bundle: Path, variant: str, scores_path: Path, log=print) -> None:
    """Make `variant` the one WASM runs by default (the manifest's wasmVariant), if its evaluation
    (`python -m model.eval --variant VARIANT`'s scores.json) is within 1 point of the manifest's (fp32's)
    on every score of the model; else refuse, naming the scores that fall short."""
    bundle = Path(bundle)
    manifest = load_manifest(bundle / "manifest.json")
    scores = json.loads(Path(scores_path).read_text())
    scored = scores.get("run", {}).get("variant")
    if scored != variant:
        raise ValueError(f"{scores_path} scores the {scored} variant, not {variant}")
    if manifest.eval is None:
        raise ValueError("the manifest has no evaluation to compare with (python -m model.eval, then model.model_card --scores)")
    short = variant_shortfalls(manifest.eval.scores, scores["manifest"]["scores"])
    if short:
        raise RuntimeError(f"{variant} is more than 1 point below fp32 on {len(short)} scores; WASM keeps fp32:\n  "
                           + "\n  ".join(short))
    data = manifest.model_dump(by_alias=True, exclude_none=True) | {"wasmVariant": variant}
    (bundle / "manifest.json").write_text(dump_manifest(validate_manifest(data)))
    log(f"WASM runs {variant} by default: within 1 point of fp32 on all {len(manifest.eval.scores)} scores")


def regraph(bundle: Path, graph: str, log=print) -> dict:
    """Rebuild `graph` of `bundle` in place (see the module's docstring); returns what changed."""
    if graph not in REBUILDABLE:
        raise ValueError(f"{graph}: only {', '.join(REBUILDABLE)} can be rebuilt from a bundle's own graphs; "
                         "export the others from a checkpoint (python -m model.export)")
    bundle = Path(bundle)
    manifest = load_manifest(bundle / "manifest.json")
    cfg = bundle_vae_config(bundle, config_from_manifest(manifest))
    model = GLP(cfg).eval()
    model.vae = load_vae(bundle, cfg)  # the only weights these graphs hold; the rest only sizes the cost model
    index, tensors = read_test_vectors(bundle / "testvectors")
    old_refs = getattr(manifest.graphs, graph).variants
    variants = list(_refs(manifest, graph))

    with tempfile.TemporaryDirectory() as tmp:
        new = {"fp32": Path(tmp) / f"{graph}.onnx"}
        export_graph(model, graph, new["fp32"], np.random.default_rng(0))
        old_io, new_io = graph_io(bundle / old_refs.fp32.file), graph_io(new["fp32"])
        if old_io != new_io:
            raise RuntimeError(f"{graph}: the rebuilt graph's inputs and outputs differ: {new_io} against {old_io}")
        feeds = graph_feeds(index, tensors, graph)
        got = ort_session(new["fp32"]).run(None, feeds)
        want = [tensors[index["graphs"][graph]["outputs"][k]] for k in GRAPH_IO[graph][2]]
        err = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
        if not err <= EXPORT_TOLERANCE:
            raise RuntimeError(f"{graph}: the rebuilt graph misses the bundle's test vectors by {err:.3g} "
                               f"(tolerance {EXPORT_TOLERANCE}); nothing written")
        log(f"{graph}: fp32 rebuilt, max |new - test vectors| = {err:.2e}")

        quality = dict(index["variantQuality"])
        for v in variants[1:]:
            if v == "fp16":
                new[v] = Path(tmp) / f"{graph}.{v}.onnx"
                to_fp16(new["fp32"], new[v])
            elif v == "q8" and conv_int8(new["fp32"], Path(tmp) / f"{graph}.q8.onnx", _calibration(bundle, manifest)[graph]):
                new[v] = Path(tmp) / f"{graph}.q8.onnx"
            else:
                raise RuntimeError(f"{graph}: its {v} variant cannot be remade here")
            quality[v] = _replay(bundle, manifest, index, tensors, v, {graph: new[v]}, log)

        for v, path in new.items():
            shutil.copyfile(path, bundle / getattr(old_refs, v).file)

    data = manifest.model_dump(by_alias=True, exclude_none=True)
    sizes = {}
    for v in variants:
        ref = file_ref(bundle, bundle / getattr(old_refs, v).file)
        sizes[v] = (getattr(old_refs, v).bytes, ref["bytes"])
        data["graphs"][graph]["variants"][v] = ref
    manifest = validate_manifest(data)
    # Only this graph's cost changes: the others stay as exported (today's exporter would count them as folded).
    per_graph = dict(index["cost"]["perGraph"]) | {graph: graph_costs(model)["perGraph"][graph]}
    cost = {"perGraph": per_graph, "perFrame": frame_cost(cfg, per_graph)}
    flops = (index["cost"]["perGraph"][graph]["flops"], per_graph[graph]["flops"])
    _write(bundle, manifest, index, cost, quality)
    log(f"{graph}: {flops[0] / 1e9:.3f} -> {flops[1] / 1e9:.3f} GFLOP a call; "
        + ", ".join(f"{v} {a / 1e6:.2f} -> {b / 1e6:.2f} MB" for v, (a, b) in sizes.items())
        + f"; manifest, test-vector cost and model card rewritten")
    return {"flops": flops, "bytes": sizes, "max_error": err}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", type=Path)
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--graph", choices=REBUILDABLE, help="rebuild this graph (and its variants) from the bundle's weights")
    what.add_argument("--int8", metavar="GRAPH[,GRAPH]",
                      help="give these convolutional graphs a q8 of static 8-bit convolutions (model/quantize.py conv_int8)")
    what.add_argument("--wasm-variant", choices=VARIANTS[1:],
                      help="make this variant WASM's default, if --scores (model.eval --variant's) keep fp32's")
    ap.add_argument("--scores", type=Path, help="with --wasm-variant: that variant's scores.json")
    args = ap.parse_args(argv)
    try:
        run(args, ap)
    except (RuntimeError, ValueError) as e:  # refused: nothing was written
        raise SystemExit(f"model.regraph: {e}")


def run(args, ap):
    if args.wasm_variant:
        if not args.scores:
            ap.error("--wasm-variant needs --scores: the variant's evaluation (python -m model.eval --variant ...)")
        set_wasm_variant(args.bundle, args.wasm_variant, args.scores)
    elif args.graph:
        regraph(args.bundle, args.graph)
    else:
        add_int8_convolutions(args.bundle, args.int8.split(","))


if __name__ == "__main__":
    main()
