"""The model card (README.md) of an exported bundle: what it is, how it was
trained (command, configuration, hardware, wall time, data seen), what its
graphs weigh and cost, and how it scores (model.eval), written from the
checkpoint's metadata and the evaluation's scores so it cannot drift from them.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from model.contract import ModelCost, VariantQuality, read_test_vector_index
from model.manifest import GRAPH_NAMES, VARIANTS, Manifest
from model.world.actions import ACTION_TYPES


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def _hms(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


GRAPHS_HEADING = "## Graphs"


def graphs_section(m: Manifest, cost: ModelCost | None, variant_quality: dict[str, VariantQuality] | None) -> list[str]:
    """The card's "## Graphs" section: each graph file's size and FLOPs, a frame's cost, the variants' quality
    (`model.regraph` rewrites this section alone when it rebuilds a graph)."""
    lines = [
        GRAPHS_HEADING,
        "",
        "| graph | variant | size | GFLOP per call |",
        "|---|---|---|---|",
    ]
    for g in GRAPH_NAMES:
        v = getattr(m.graphs, g).variants
        for name in VARIANTS:
            ref = getattr(v, name)
            if ref:
                flops = f"{cost['perGraph'][g]['flops'] / 1e9:.3f}" if cost else "-"
                lines.append(f"| {g} | {name} | {_mb(ref.bytes)} | {flops} |")
    if cost:
        pf = cost["perFrame"]
        lines += ["", f"One generated frame costs {pf['flops'] / 1e9:.2f} GFLOP ({pf['decoderCallsPerChunk']} decoder "
                  f"calls per chunk of {pf['framesPerChunk']} frames, plus one encoder, backbone and VAE decode)."]
    if variant_quality:
        lines += ["", "Reduced-precision variants against fp32 (the reference rollout, onnxruntime CPU):", ""]
        for k, q in variant_quality.items():
            lines.append(f"- {k}: {q['psnr']:.1f} dB PSNR of frames ({'shipped' if q['kept'] else 'not shipped: below ' + str(q['threshold']) + ' dB'})")
    return lines


def model_card(manifest: Manifest, meta: dict, cost: ModelCost | None = None, scores: dict | None = None,
               variant_quality: dict[str, VariantQuality] | None = None, notes: str = "", model_config: dict | None = None) -> str:
    """`notes`: markdown from the people who trained it (what falls short and why), appended as its own section."""
    m = manifest
    lines = [
        f"# {m.name}: a GLP world model for world-canvas",
        "",
        m.description,
        "",
        "## What it simulates",
        "",
        f"A tabletop seen from above ({m.video.width}x{m.video.height} px, {m.video.fps:g} fps): 3 to 6 blocks, balls and",
        "triangles in six colours. Agent actions move a named object (\"push the red block left\", \"slide the",
        "blue ball to the top right corner\", \"move the green triangle next to the yellow cube\"); environment",
        "actions add, remove or recolour objects and change the lighting (dim, bright, warm). Each action",
        f"conditions one chunk of {m.video.chunk_frames} frames; with no action the world takes \"{m.action_encoder.idle_action}\".",
        "The simulator that made its data is `model/world/` (deterministic, with held-out scenes and wordings).",
        "",
        "## Architecture",
        "",
        f"- VAE: per-frame, {m.video.width}x{m.video.height}x3 -> {m.latent.height}x{m.latent.width}x{m.latent.channels} latents.",
        f"- Encoder h: one chunk of frames -> {m.state.tokens} state tokens of width {m.state.width}.",
        f"- Backbone f: {m.backbone.layers}-layer causal transformer; turns of {m.backbone.turn_tokens} tokens "
        f"([s_t, h(o)] [action] [{m.state.queries} queries]); KV cache of the last {m.backbone.max_turns} turns.",
        f"- Decoder g: {_decoder_words(model_config or (meta or {}).get('model_config', {}))} over [history frame | earlier chunk | "
        f"later chunk], chunk-causal, K = {m.diffusion.denoise_steps} steps per chunk, history noised to sigma "
        f"{m.diffusion.conditioning_noise}.",
        f"- Action encoder: all-MiniLM-L6-v2 ({m.action_encoder.dtype}), up to {m.action_encoder.max_tokens} tokens.",
        "",
    ]
    lines += graphs_section(m, cost, variant_quality)
    lines += ["", "## Training", ""]
    if meta:
        st = meta.get("stages", {})
        lines += [
            f"- Command: `{meta.get('command', '?')}`",
            *[f"- Resumed at {r['stage']} step {r['step']} with: `{r['command']}`"
              + (f" ({r['hardware']})" if r.get("hardware") else "") for r in meta.get("resumes", [])],
            *([f"- Autoencoder taken from {meta['vae_from']}"] if meta.get("vae_from") else []),
            *_lineage_lines(meta),
            f"- Configuration: `{meta.get('config', '?')}` (model/config.py)",
            f"- Hardware: {meta.get('hardware', '?')}",
            f"- Wall time: {_hms(meta.get('wall_seconds') or sum(x.get('seconds', 0) for x in st.values()))} "
            f"(autoencoder {_hms(st['ae']['seconds']) if st.get('ae') else 'taken over, not trained here'}, "
            f"GLP {_hms(st.get('glp', {}).get('seconds', 0))})",
            f"- Data seen: autoencoder {st.get('ae', {}).get('steps', 0)} steps on "
            f"{st.get('ae', {}).get('frames', 0):,} generated frames; GLP {st.get('glp', {}).get('steps', 0)} steps on "
            f"{st.get('glp', {}).get('episodes', 0):,} episodes ({st.get('glp', {}).get('frames', 0):,} frames), "
            "all from training scenes and training wordings.",
            f"- Final losses: autoencoder {st.get('ae', {}).get('final_loss', float('nan')):.4f}, "
            f"flow matching {st.get('glp', {}).get('final_loss', float('nan')):.4f}"
            + (f" (changed latent cells weighted x{st['glp']['motion_weight']:g})"
               if st.get("glp", {}).get("motion_weight", 1.0) != 1.0 else ""),
            f"- Finished: {meta.get('finished', '?')} (commit {meta.get('git') or '?'})",
        ]
        lines += _throughput_lines(meta)
        # The probe of the weights this card is for: the one taken at the checkpoint's own step.
        glp = st.get("glp", {})
        bp = next((p for p in (glp.get("last_probe"), meta.get("best_probe"))
                   if p and p.get("step") == glp.get("steps")), None)
        if bp:
            lines += [f"- Probe (`python -m model.probe`, {bp['cases']} held-out one-step cases, EMA weights) at the "
                      f"shipped step {bp['step']}: right direction {bp['direction']:.2f}, named object found "
                      f"{bp['found']:.2f}, scene kept {bp['kept']:.2f}, placement error {bp['position_error']:.3f}, "
                      f"environment actions {bp['environment_success']:.2f}, colours kept after 16 chunks "
                      f"{bp['colour_kept_16']:.2f} (score {bp['score']:.3f}; repeating the last frame scores 0.400)."]
    else:
        lines.append("Untrained (random weights): a test bundle.")
    lines += ["", "## Evaluation", ""]
    if scores:
        run = scores.get("run", {})
        head = scores.get("manifest", {}).get("scores", {})
        m = run.get("machine", {})
        machine = (f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, onnxruntime {m.get('onnxruntime', '?')}"
                   if isinstance(m, dict) else str(m))
        lines += [f"Held-out scenes and wordings (`{scores.get('manifest', {}).get('episodes', '?')}`), scored by "
                  f"`{run.get('command', 'python -m model.eval')}` on {machine} "
                  f"in {_hms(run.get('wall_time_s', 0))}. Full report: `eval/report.html`.", ""]
        lines += _aims_table(head)
        lines += _freeform_table(head, scores.get("counts", {}))
        lines += _drift_table(head)
        lines += ["", "Every headline score:", "", "| score | value |", "|---|---|"]
        for k, v in head.items():
            lines.append(f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |")
    else:
        lines.append("Not evaluated yet: run `python -m model.eval --bundle <this folder> --out <dir>`.")
    if notes.strip():  # notes with headings of their own bring their sections; plain text is the Limitations
        lines += ["", notes.strip()] if notes.lstrip().startswith("## ") else ["", "## Limitations", "", notes.strip()]
    return "\n".join(lines) + "\n"


def _lineage_lines(meta: dict) -> list[str]:
    """The runs this one continued from (`--init-from`, newest first), the VAE decoder trained apart
    (model/vae_decoder.py), and the sampling settings changed after training (model/checkpoint.py)."""
    lines, src = [], meta.get("init_from")
    while src:
        glp = src.get("stages", {}).get("glp", {})
        lines.append(f"- Continued from `{src['path']}`: {glp.get('steps', '?')} GLP steps in "
                     f"{_hms(glp.get('seconds', 0))} by `{src.get('command', '?')}`"
                     + "".join(f"; resumed at {r['stage']} step {r['step']} with `{r['command']}`"
                               for r in src.get("resumes", [])))
        src = src.get("init_from")
    vd = meta.get("vae_decoder")
    if vd:
        held, was = vd.get("heldout", {}), vd.get("source_decoder", {})
        lines.append(f"- VAE decoder: {vd['kind']}, trained on the frozen encoder's latents by "
                     f"`{vd.get('command', 'python -m model.vae_decoder')}` ({vd['steps']} steps, {vd['frames']:,} frames, "
                     f"{_hms(vd['seconds'])}); on {held.get('frames', 'the')} held-out frames PSNR {held.get('psnr', 0):.2f} dB "
                     f"and the detector reads {held.get('detector_same', 0):.0%} of them exactly (the decoder it "
                     f"replaced: {was.get('psnr', 0):.2f} dB, {was.get('detector_same', 0):.0%})")
    for d in meta.get("derived", []):
        for k, v in d.items():
            if isinstance(v, dict) and "was" in v:
                lines.append(f"- Sampling: {k} set to {v['now']} after training (trained with every sigma; it was "
                             f"{v['was']}), by `python -m model.checkpoint`")
    return lines


def _decoder_words(cfg: dict) -> str:
    if cfg.get("decoder_kind") == "unet":
        target = "the change from the history frame" if cfg.get("flow_target") == "change" else "the latents"
        return (f"flow-matching U-Net over each chunk's latents at their own grid (a chunk's frames as channels; "
                f"widths {cfg['decoder_width']}/{cfg['decoder_width'] * 3 // 2}, {cfg['decoder_layers']} residual "
                f"blocks a level, action and state through adaptive group norm and cross-attention; flow on {target}"
                + (f"; every convolution's input and output pulled toward a grid of {cfg['decoder_grid_levels']} steps "
                   f"across its calibrated range, model/glp.py ActivationGrid" if cfg.get("decoder_grid_levels") else "")
                + ")")
    return "flow-matching diffusion transformer"


def _throughput_lines(meta: dict) -> list[str]:
    glp = meta.get("stages", {}).get("glp", {})
    peak = meta.get("machine_peak")
    if not glp.get("step_gflop") or not peak:
        return []
    prec = glp.get("precision", "fp32")
    check = glp.get("precision_check")
    why = (f" (timed at start: fp32 {check['fp32_step_s']:.2f} s, bf16 autocast {check['bf16_step_s']:.2f} s a step)"
           if check else "")
    achieved = glp.get("achieved_gflops")
    return [f"- GLP step: {glp['step_gflop']:.0f} GFLOP (forward and backward, {glp.get('windows_per_episode', '?')} "
            f"windows from each episode), {prec}{why}; achieved "
            f"{achieved:.0f} GFLOP/s against a measured matmul peak of {peak['fp32_gflops']:.0f} (fp32) / "
            f"{peak['bf16_gflops']:.0f} (bf16) GFLOP/s on {peak.get('threads', '?')} threads"
            if achieved else f"- GLP step: {glp['step_gflop']:.0f} GFLOP, {prec}"]


# The aims of the evaluation (PAN's three dimensions on held-out scenes and wordings).
AIMS = [("agent fidelity", "agent_fidelity", 0.90), ("environment fidelity", "environment_fidelity", 0.80),
        ("step-wise choice (4 options)", "stepwise_accuracy", 0.95), ("consistency over 64 chunks", "consistency_64", 0.95),
        ("planning success relative to the oracle", "planning_relative", 0.80)]


def _aims_table(head: dict) -> list[str]:
    rows = ["| aim | target | this model | repeat last frame | no Swin-DPM window | met |", "|---|---|---|---|---|---|"]
    for label, key, target in AIMS:
        if key not in head:
            continue
        f = _cells(head)
        rows.append(f"| {label} | {target:.2f} | {f(key)} | {f('baseline_repeat_' + key)} | "
                    f"{f('baseline_no_window_' + key)} | {'yes' if head[key] >= target else '**no**'} |")
    return rows


def _cells(head: dict):
    """key -> the score as a table cell (3 decimals), "-" where there is none."""
    return lambda k: f"{head[k]:.3f}" if k in head else "-"


FREEFORM_ROWS = [("right direction (agent actions)", "direction_accuracy"), ("agent fidelity", "agent_fidelity"),
                 ("environment fidelity", "environment_fidelity"), ("all actions", "action_fidelity"),
                 ("step-wise choice (4 options)", "stepwise_accuracy")]


def _freeform_table(head: dict, counts: dict) -> list[str]:
    """People's wording beside the grammar's on the same held-out cases (model/eval/episodes/freeform.jsonl)."""
    if "freeform_agent_fidelity" not in head:
        return []
    n = counts.get("freeform_cases")
    rows = ["", f"Free-form language: {f'{n} sentences' if n else 'sentences'} written by hand as people type "
            "them (other words, questions, descriptions, typos, long ones; `model/eval/episodes/freeform.jsonl`), "
            "on held-out scenes, beside the same cases worded by the training grammar:", "",
            "| | people's wording | the grammar's wording | repeat last frame |", "|---|---|---|---|"]
    f = _cells(head)
    for label, key in FREEFORM_ROWS:
        rows.append(f"| {label} | {f('freeform_' + key)} | {f('freeform_grammar_' + key)} | "
                    f"{f('baseline_repeat_freeform_' + key)} |")
    for t in ACTION_TYPES:
        if f"freeform_success_{t}" in head:
            rows.append(f"| {t} | {f('freeform_success_' + t)} | {f('freeform_grammar_success_' + t)} | - |")
    return rows


def _drift_table(head: dict) -> list[str]:
    """Objects kept over long rollouts (consistency, identity) and with nothing typed (idle)."""
    long = sorted(int(k.split("_")[1]) for k in head if k.startswith("identity_") and k.split("_")[1].isdigit())
    idle = sorted(int(k.rsplit("_", 1)[1]) for k in head if k.startswith("idle_kept_"))
    unchanged = [k for k in head if k.startswith("idle_unchanged_")]
    if not long and not idle:
        return []
    rows = ["", "Drift: the scene's objects kept over long rollouts (consistency: colour, shape and place; identity: "
            "colour and shape wherever they are) and with nothing typed (the idle action chunk after chunk, from "
            "held-out scenes):", "", "| | this model | repeat last frame | no Swin-DPM window |", "|---|---|---|---|"]
    f = _cells(head)
    for H in long:
        for what in ("consistency", "identity"):
            rows.append(f"| {what} over {H} chunks | {f(f'{what}_{H}')} | {f(f'baseline_repeat_{what}_{H}')} | "
                        f"{f(f'baseline_no_window_{what}_{H}')} |")
    for k in unchanged:
        C = k.rsplit("_", 1)[1]
        rows.append(f"| idle: chunks unchanged, over {C} | {f(k)} | {f('baseline_repeat_' + k)} | - |")
    for c in idle:
        rows.append(f"| idle: objects kept / identity at chunk {c} | {f(f'idle_kept_{c}')} / "
                    f"{f(f'idle_identity_{c}')} | {f(f'baseline_repeat_idle_kept_{c}')} | - |")
    return rows


REPORT = "eval/report.html"  # where a bundle keeps its evaluation report (the manifest's eval.report)


def ship_report(scores_path: Path, scores: dict) -> Path | None:
    """The HTML report beside a scores.json, if there is one; the scores' manifest block then points where
    the bundle keeps it (`keep_report` copies it there)."""
    report = scores_path.parent / "report.html"
    if not report.exists():
        return None
    scores["manifest"]["report"] = REPORT
    return report


def keep_report(report: Path, bundle: Path) -> None:
    (bundle / REPORT).parent.mkdir(exist_ok=True)
    shutil.copyfile(report, bundle / REPORT)


def main(argv=None):
    import argparse

    from model.manifest import dump_manifest, load_manifest, validate_manifest, validate_test_vector_index
    ap = argparse.ArgumentParser(description="Rewrite a bundle's model card from its checkpoint and evaluation; "
                                             "with --scores, also its manifest's eval and its report (a bundle "
                                             "evaluated again after export: the graphs stay as they are).")
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--scores", type=Path, help="scores.json from model.eval (report.html beside it is copied too)")
    ap.add_argument("--notes", type=Path, help="markdown appended as the card's Limitations section")
    args = ap.parse_args(argv)
    import torch
    ck = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    index = validate_test_vector_index(read_test_vector_index(args.bundle / "testvectors"))
    scores = json.loads(args.scores.read_text()) if args.scores else None
    manifest = load_manifest(args.bundle / "manifest.json")
    if scores:
        report = ship_report(args.scores, scores)
        manifest = validate_manifest(manifest.model_dump(by_alias=True, exclude_none=True) | {"eval": scores["manifest"]})
        (args.bundle / "manifest.json").write_text(dump_manifest(manifest))
        if report:
            keep_report(report, args.bundle)
        print(f"wrote the eval of {args.bundle / 'manifest.json'}")
    card = model_card(manifest, ck.get("meta", {}), index["cost"], scores,
                      index["variantQuality"], args.notes.read_text() if args.notes else "",
                      model_config=ck.get("config"))
    (args.bundle / "README.md").write_text(card)
    print(f"wrote {args.bundle / 'README.md'}")


if __name__ == "__main__":
    main()
