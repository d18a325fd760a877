"""Rebuild a graph of an exported bundle with today's exporter, from the weights the bundle itself holds.

    python -m model.regraph public/models/tabletop --graph vae_decoder

For exporter changes that keep a graph's function and cut its work (`export_module` in model/graphs.py,
e.g. `fold_upsampling`): a shipped bundle takes them without its training checkpoint, its weights unchanged
to the last bit. Only the VAE's graphs can be rebuilt so: their weights read back exactly from the fp32
graphs (`load_vae`, model/checkpoint.py); the other graphs need `model.export` and a checkpoint.

Nothing is written unless the rebuilt fp32 graph reproduces the bundle's own test vectors for that graph
within the exporter's tolerance and each reduced-precision variant, remade from it, still replays the
reference rollout above the exporter's threshold. Then the graph files, the manifest's references to them,
the test vectors' cost and variant quality, and the model card's Graphs section are rewritten.
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
    variants = [v for v in VARIANTS if getattr(old_refs, v) is not None]

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
        others = {g: {v: bundle / getattr(getattr(manifest.graphs, g).variants, v).file
                      for v in VARIANTS if getattr(getattr(manifest.graphs, g).variants, v) is not None}
                  for g in GRAPH_IO if g != graph}
        for v in variants[1:]:
            if v != "fp16":
                raise RuntimeError(f"{graph}: its {v} variant cannot be remade here (weight-only quantization "
                                   "reaches MatMuls, which this graph does not have)")
            new[v] = Path(tmp) / f"{graph}.{v}.onnx"
            to_fp16(new["fp32"], new[v])
            files = {g: pick_variant(f, v) for g, f in others.items()} | {graph: new[v]}
            recorded = RecordedVectors(None, index["graphs"], index["texts"], index["rollout"],
                                       np.asarray(Image.open(bundle / "scenes" / f"{index['rollout']['scene']}.png")
                                                  .convert("RGB")),
                                       tensors[index["rollout"]["frames"]])
            encoder = ActionEncoder(bundle / manifest.action_encoder.path, cfg.max_action_tokens)
            psnr = rollout_psnr(cfg, files, encoder, recorded)
            was = quality.get(v, {}).get("psnr")
            log(f"{graph}: {v} remade, reference rollout {psnr:.1f} dB against fp32 (was {was:.1f} dB)"
                if was is not None else f"{graph}: {v} remade, reference rollout {psnr:.1f} dB against fp32")
            if psnr < MIN_VARIANT_PSNR:
                raise RuntimeError(f"{graph}: the remade {v} variant replays the rollout at {psnr:.1f} dB, below "
                                   f"{MIN_VARIANT_PSNR} dB; nothing written")
            quality[v] = {"psnr": float(min(psnr, 100.0)), "kept": True, "threshold": MIN_VARIANT_PSNR}

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
    index = validate_test_vector_index(index | {"cost": cost, "variantQuality": quality})
    (bundle / "manifest.json").write_text(dump_manifest(manifest))
    (bundle / "testvectors" / "index.json").write_text(json.dumps(index) + "\n")
    card = bundle / "README.md"
    if card.exists():
        card.write_text(replace_section(card.read_text(), GRAPHS_HEADING, graphs_section(manifest, cost, quality)))
    log(f"{graph}: {flops[0] / 1e9:.3f} -> {flops[1] / 1e9:.3f} GFLOP a call; "
        + ", ".join(f"{v} {a / 1e6:.2f} -> {b / 1e6:.2f} MB" for v, (a, b) in sizes.items())
        + f"; manifest, test-vector cost and model card rewritten")
    return {"flops": flops, "bytes": sizes, "max_error": err}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--graph", required=True, choices=REBUILDABLE)
    args = ap.parse_args(argv)
    regraph(args.bundle, args.graph)


if __name__ == "__main__":
    main()
