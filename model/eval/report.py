"""The evaluation report: one self-contained HTML file (tables, and plots as inline base64 PNGs)."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

NAMES = {"model": "model (Swin-DPM)", "no_window": "no window (baseline)", "repeat": "repeat last frame (baseline)",
         "ground_truth": "ground truth"}
COLOURS = {"model": "tab:blue", "no_window": "tab:orange", "repeat": "tab:gray", "ground_truth": "tab:green"}

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; } td, th { border: 1px solid #ddd; padding: 3px 9px; }
th { background: #f4f4f4; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; image-rendering: pixelated; } .note { color: #666; font-size: 0.92em; }
code { background: #f4f4f4; padding: 1px 4px; }
"""


def _fmt(v, digits=3) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, float) and not np.isfinite(v):
        return "&ndash;"
    return f"{v:.{digits}f}"


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = ""
    for row in rows:
        cells = [f"<td>{html.escape(str(row[0]))}</td>"] + [
            f'<td class="n">{c if isinstance(c, str) else _fmt(c)}</td>' for c in row[1:]]
        body += "<tr>" + "".join(cells) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _image(arr: np.ndarray, scale: int = 2) -> str:
    """An uint8 (H, W, 3) image, upscaled by pixel repetition, as an inline PNG."""
    from PIL import Image
    img = Image.fromarray(np.repeat(np.repeat(arr, scale, 0), scale, 1))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _curves(forecast: dict, key: str, ylabel: str, names=("model", "no_window", "repeat")) -> str:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3))
    for name in names:
        if name in forecast and f"{key}_curve" in forecast[name]:
            curve = forecast[name][f"{key}_curve"]
            ax.plot(np.arange(len(curve)), curve, label=NAMES[name], color=COLOURS[name], lw=1.5)
    ax.set_xlabel("chunk (step)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def _flow_plot(forecast: dict, F: int, max_frames: int = 96) -> str:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    for name in ("ground_truth", "model", "no_window"):
        if name not in forecast or "speed_curve" not in forecast[name]:
            continue
        for ax, key in zip(axes, ("speed_curve", "accel_curve")):
            c = forecast[name][key][:max_frames]
            ax.plot(np.arange(len(c)), c, label=NAMES[name], color=COLOURS[name], lw=1.2)
    n = len(forecast["ground_truth"]["speed_curve"][:max_frames])
    for ax, label in zip(axes, ("speed (px/frame @128)", "acceleration")):
        for g in range(0, n, F):
            ax.axvline(g, color="k", alpha=0.1, lw=0.8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("frame pair (vertical lines: chunk boundaries)")
    return _png(fig)


def _bars(groups: dict[str, dict[str, float]], ylabel: str, colours: dict[str, str] | None = None) -> str:
    """groups: x label -> {series name -> value}; colours: series name -> matplotlib colour."""
    import matplotlib.pyplot as plt
    series = list(dict.fromkeys(k for g in groups.values() for k in g))
    fig, ax = plt.subplots(figsize=(7, 3))
    x = np.arange(len(groups))
    w = 0.8 / max(len(series), 1)
    for i, s in enumerate(series):
        vals = [g.get(s) if g.get(s) is not None else np.nan for g in groups.values()]
        ax.bar(x + (i - (len(series) - 1) / 2) * w, vals, w, label=s, color=(colours or {}).get(s))
    ax.set_xticks(x, list(groups), fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return _png(fig)


def _filmstrip(data: dict, n_chunks: int = 12) -> str:
    """Episode 0: the last frame of each chunk, rows = ground truth and each model."""
    F = data["episodes"][0]["frames_per_chunk"]
    gt = data["gt"][0]
    n = min(n_chunks, (len(gt) - 1) // F)
    idx = [0] + [(t + 1) * F for t in range(n)]
    rows, labels = [gt[idx]], ["ground truth"]
    for name in ("model", "no_window"):
        rows.append(data["videos"][name][0][idx])
        labels.append(NAMES[name])
    size = gt.shape[1]
    pad = 2
    canvas = np.full((len(rows) * (size + pad), len(idx) * (size + pad), 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, frame in enumerate(row):
            canvas[r * (size + pad):r * (size + pad) + size, c * (size + pad):c * (size + pad) + size] = frame
    caption = " / ".join(labels)
    texts = "; ".join(f"{t}: {html.escape(s['text'])}" for t, s in enumerate(data["episodes"][0]["steps"][:n]))
    return (f"<p>Rows: {html.escape(caption)}. Columns: start frame, then the last frame of chunks 0..{n - 1}.</p>"
            f"{_image(canvas, max(1, 128 // size))}<p class=note>Actions: {texts}</p>")


def _examples(data: dict, scores: dict, k: int = 6) -> str:
    """A few fidelity cases: start, ground truth, and each model's last frame."""
    cases = data["cases"]
    pick = np.linspace(0, len(cases) - 1, min(k, len(cases))).round().astype(int)
    size = cases[0].frame.shape[0]
    scale = max(1, 96 // size)
    rows = []
    for i in sorted(set(pick.tolist())):
        c = cases[i]
        ok = {name: scores["fidelity_cases"][name][i]["success"] for name in ("model", "no_window")}
        cells = [_image(c.frame, scale), _image(c.target, scale)] + [
            _image(data["first"][name][i], scale) + f"<br>{'success' if ok[name] else 'fail'}"
            for name in ("model", "no_window")]
        rows.append(f"<tr><td>{html.escape(c.text)}<br><span class=note>{html.escape(str(c.action))}</span></td>"
                    + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("action", "start", "ground truth", NAMES["model"], NAMES["no_window"]))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(path: Path, scores: dict, data: dict) -> None:
    """The report of the parts that ran (scores["parts"])."""
    import matplotlib
    matplotlib.use("Agg")
    run, counts = scores["run"], scores["counts"]
    ran = scores.get("parts", [])
    parts = [f"<h1>World model evaluation: {html.escape(run['bundle_name'])} ({html.escape(run['variant'])})</h1>"]
    m = run["machine"]
    what = []
    if "episodes" in counts:
        what.append(f"episodes <code>{html.escape(run['episodes'])}</code> ({counts['episodes']} episodes"
                    + (f", {counts['action_cases']} action cases" if "action_cases" in counts else "")
                    + (f", horizon {counts['horizon']} chunks" if "horizon" in counts else "") + ")")
    if "freeform_cases" in counts:
        what.append(f"free-form cases <code>{html.escape(run.get('freeform', ''))}</code> "
                    f"({counts['freeform_cases']})")
    if "idle_scenes" in counts:
        what.append(f"idle run ({counts['idle_scenes']} scenes of {counts['idle_chunks']} chunks)")
    parts.append(f"<p class=note>Bundle <code>{html.escape(run['bundle'])}</code>; parts: "
                 f"{html.escape(', '.join(ran))}; {'; '.join(what)}. Chunks of {counts['chunk_frames']} frames at "
                 f"{counts['frame_size']} px. Seed {run['seed']}. {html.escape(m['cpu'])}, {m['cores']} cores; "
                 f"wall time {run['wall_time_s']:.1f} s.<br>Command: <code>{html.escape(run['command'])}</code></p>")

    parts.append("<h2>Headline scores</h2>")
    parts.append(_table(["score", "value"], [[k, v] for k, v in scores["manifest"]["scores"].items()]))
    if "fidelity" in ran:
        parts += _fidelity_section(scores, data)
    if "forecast" in ran:
        parts += _forecast_section(scores, data)
    if "fidelity" in ran or "planning" in ran:
        parts += _reasoning_section(scores)
    if "freeform" in ran:
        parts += _freeform_section(scores, data)
    if "idle" in ran:
        parts += _idle_section(scores, data)

    parts.append("<h2>Run</h2>")
    parts.append(_table(["component", "seconds"], [[k, v] for k, v in scores["timings_s"].items()]))
    parts.append(_table(["count", "value"], [[k, html.escape(str(v))] for k, v in counts.items()]))
    parts.append(_table(["tolerance (table widths)", "value"], [[k, v] for k, v in scores["tolerances"].items()]))

    doc = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>eval: {html.escape(run['bundle_name'])}"
           f"</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    Path(path).write_text(doc, encoding="utf-8")


def _detector_table(det: dict, what: str) -> list[str]:
    out = [f"<p>The judge of every score below: the fidelity scoring applied to the ground-truth frames of the "
           f"same {what}. <b>Detector on ground truth: {_fmt(det['score'])}</b> "
           f"({det['n'] - len(det['failures'])}/{det['n']} cases judged correct and scene kept).</p>"]
    if det["failures"]:
        out.append(_table(["case (episode/step)", "type", "success", "kept", "text"],
                          [[f"{r['episode']}/{r['step']}", r["type"], r["success"], r["kept"],
                            html.escape(r["text"])] for r in det["failures"]]))
    return out


def _fidelity_section(scores: dict, data: dict) -> list[str]:
    fid, tol, models = scores["fidelity"], scores["tolerances"], ("model", "no_window", "repeat")
    parts = ["<h2>Detector on ground truth</h2>"] + _detector_table(scores["detector_on_ground_truth"], "cases")
    parts.append("<h2>1. Action simulation fidelity</h2>")
    parts.append(f"<p class=note>Start from a ground-truth frame, queue the action, generate chunk 0, read its last "
                 f"frame with the detector. Agent actions: the named object within {tol['POSITION_TOL']} table "
                 f"widths of its true final position, every other object within {tol['KEEP_TOL']}, none missing "
                 f"or extra, lighting unchanged. add: the new colour within {tol['POSITION_TOL']} of its place; "
                 f"remove: gone, the rest kept; recolour: the new colour at the old place, the old colour gone; "
                 f"light: detected lighting = target. Direction: cos(predicted, true displacement) &gt; "
                 f"{tol['DIRECTION_COS']} (moves of at least {tol['MIN_MOTION']}).</p>")
    rows = [[NAMES[n], fid[n]["agent"], fid[n]["environment"], fid[n]["overall"], fid[n]["agent_position_error"],
             fid[n]["agent_direction_accuracy"], scores["stepwise"][n]["accuracy"]] for n in models]
    parts.append(_table(["", "agent", "environment", "overall", "agent position error", "direction accuracy",
                         "step-wise (4-choice)"], rows))
    types = list(fid["model"]["by_type"])
    rows = [[t, fid["model"]["by_type"][t]["n"]] + [fid[n]["by_type"][t]["success"] for n in models]
            + [fid["model"]["by_type"][t]["kept"]] for t in types]
    parts.append(_table(["type", "cases"] + [NAMES[n] for n in models] + ["model: rest of scene kept"], rows))
    groups = {t: {NAMES[n]: fid[n]["by_type"][t]["success"] for n in models} for t in types}
    parts.append(_bars(groups, "success rate", {NAMES[n]: COLOURS[n] for n in models}))
    parts.append("<h3>Examples</h3>" + _examples(data, scores))
    return parts


def _forecast_section(scores: dict, data: dict) -> list[str]:
    fc, tol, counts = scores["forecast"], scores["tolerances"], scores["counts"]
    H, F, models = counts["horizon"], counts["chunk_frames"], ("model", "no_window", "repeat")
    parts = [f"<h2>2. Long-horizon forecast ({H} chunks)</h2>"]
    rows = [[NAMES[n], fc[n]["psnr"], fc[n]["ssim"], fc[n]["consistency"], fc[n]["consistency_mean"],
             fc[n]["identity"], fc[n]["identity_mean"]] for n in models]
    parts.append(_table(["", "PSNR (dB)", "SSIM", "consistency (weighted, step t weight t+1)",
                         "consistency (unweighted)", "identity (weighted)", "identity (unweighted)"], rows))
    parts.append(f"<p class=note>PSNR per chunk over its {F} frames, capped at 100 dB; SSIM per frame (RGB, data "
                 f"range 255) averaged over the chunk; consistency per chunk on the last frame: ground-truth objects "
                 f"matched by colour and shape within {tol['CONSISTENCY_TOL']} / (ground-truth objects + unmatched "
                 f"detections); identity: the same with positions set aside (colour and shape kept wherever the "
                 f"object is), so it measures drift alone. Repeating the start frame keeps identity unless objects "
                 f"are added or removed.</p>")
    parts.append(_curves(fc, "psnr", "PSNR (dB)") + _curves(fc, "ssim", "SSIM")
                 + _curves(fc, "consistency", "consistency") + _curves(fc, "identity", "identity"))
    parts.append("<h3>Transition smoothness (dense optical flow)</h3>")
    parts.append("<p class=note>Farneback flow on grayscale frames upscaled to 128 px; speed = mean flow magnitude, "
                 "acceleration = mean magnitude of the difference of consecutive flows (pixels per frame at 128 px). "
                 "<b>smoothness_paper</b> = exp(-mean acceleration) (PAN paper); <b>smoothness_released</b> = median "
                 "speed &times; exp(-median acceleration) (PAN released code). Boundary: transitions that cross from "
                 "one chunk into the next; within: the rest.</p>")
    rows = []
    for n in ("model", "no_window", "ground_truth"):
        sm = fc[n]["smoothness"]
        rows.append([NAMES[n]] + [sm.get(p, {}).get(k) for p in ("all", "boundary", "within")
                                  for k in ("smoothness_paper", "smoothness_released")]
                    + [sm.get("all", {}).get("mean_speed"), sm.get("all", {}).get("mean_accel")])
    parts.append(_table(["", "paper (all)", "released (all)", "paper (boundary)", "released (boundary)",
                         "paper (within)", "released (within)", "mean speed", "mean accel"], rows))
    parts.append(_flow_plot(fc, F))
    parts.append("<h3>Rollout</h3>" + _filmstrip(data))
    return parts


def _reasoning_section(scores: dict) -> list[str]:
    tol, models = scores["tolerances"], ("model", "no_window", "repeat")
    parts = ["<h2>3. Simulative reasoning and planning</h2>"]
    if "stepwise" in scores:
        sw = scores["stepwise"]
        parts.append(_table(["step-wise simulation", "accuracy", "cases", "chance"],
                            [[NAMES[n], sw[n]["accuracy"], sw[n]["n"], sw[n]["chance"]] for n in models]))
        parts.append("<p class=note>The model's generated chunk (from section 1) picks, by pixel MSE of its last "
                     "frame, among the true outcome and 3 distractors (other valid actions from the same state, same "
                     f"type where possible, outcomes differing by more than {tol['DISTINCT_TOL']}).</p>")
    if "planning" in scores:
        pl = scores["planning"]["by_depth"]
        rows = [[f"{d} action{'s' if int(d) > 1 else ''}", v["n"], v["model"], v["model_detector"], v["random"],
                 v["oracle"], v["relative"]] for d, v in pl.items()]
        parts.append(_table(["goal after", "cases", "model (MSE)", "model (detector)", "random candidate",
                             "simulator (oracle)", "model / oracle"], rows))
        parts.append(f"<p class=note>{scores['counts']['planning_candidates']} candidate plans, the hidden one among "
                     f"them, outcomes pairwise different; the model simulates each on a fork and the closest "
                     f"prediction to the goal image is executed in the simulator; success when the resulting state "
                     f"matches the goal within {tol['MATCH_TOL']}.</p>")
        if pl:
            parts.append(_bars({f"depth {d}": {"model (MSE)": v["model"], "model (detector)": v["model_detector"],
                                               "random": v["random"], "oracle": v["oracle"]} for d, v in pl.items()},
                               "success rate"))
    return parts


WORDING_NAMES = {"freeform": "people's wording (free-form)", "grammar": "the grammar's wording (same cases)"}


def _freeform_section(scores: dict, data: dict) -> list[str]:
    ff = scores["freeform"]
    free, gram = ff["wordings"]["freeform"], ff["wordings"]["grammar"]
    cols = [("model", free["model"]), ("model", gram["model"]), ("repeat", free["repeat"])]
    head = ["", f"model: {WORDING_NAMES['freeform']}", f"model: {WORDING_NAMES['grammar']}", NAMES["repeat"]]
    parts = [f"<h2>4. Free-form language ({ff['n']} cases)</h2>",
             "<p class=note>Sentences written by hand as people type them (other words for colours, shapes, "
             "directions and places, questions, descriptions, typos, long ones; see model/eval/README.md), each on a "
             "held-out scene, scored like section 1 from the ground-truth frame; beside them the same cases "
             "(scene, action, distractors, noise seed) worded by the training grammar. The difference is what the "
             "model loses to wording it was not taught. Repeating the last frame reads no text.</p>"]
    parts += _detector_table(ff["detector_on_ground_truth"], "free-form cases")
    rows = [[label] + [c[key] if key != "stepwise" else c["stepwise"]["accuracy"] for _, c in cols]
            for label, key in (("right direction", "agent_direction_accuracy"), ("agent fidelity", "agent"),
                               ("environment fidelity", "environment"), ("all actions", "overall"),
                               ("step-wise choice (4 options)", "stepwise"),
                               ("agent position error", "agent_position_error"))]
    parts.append(_table(head, rows))
    types = list(free["model"]["by_type"])
    rows = [[t, free["model"]["by_type"][t]["n"]] + [c["by_type"][t]["success"] for _, c in cols] for t in types]
    parts.append(_table(["type", "cases"] + head[1:], rows))
    parts.append(_bars({t: {WORDING_NAMES["freeform"]: free["model"]["by_type"][t]["success"],
                            WORDING_NAMES["grammar"]: gram["model"]["by_type"][t]["success"]} for t in types},
                       "success rate", {WORDING_NAMES["freeform"]: "tab:blue", WORDING_NAMES["grammar"]: "tab:green"}))
    rows = [[tag, v["n"], v["freeform"], v["grammar"]] for tag, v in ff["by_tag"].items()]
    parts.append("<h3>By tag (model, all actions)</h3>" + _table(["tag", "cases", "free-form", "grammar"], rows))
    parts.append("<h3>Examples</h3>" + _freeform_examples(data["freeform"], ff))
    return parts


def _freeform_examples(d: dict, ff: dict, k: int = 8) -> str:
    """A few free-form cases where the wordings disagree first, then others: start, truth, both predictions."""
    recs = ff["cases"]
    differ = [r["index"] for r in recs if r["freeform_success"] != r["grammar_success"]]
    rest = [r["index"] for r in recs if r["freeform_success"] == r["grammar_success"]]
    pick = (differ[:: max(1, len(differ) // k)][:k] + rest[:: max(1, len(rest) // k)])[:k]
    size = d["cases"][0].frame.shape[0]
    scale = max(1, 96 // size)
    rows = []
    for i in sorted(pick):
        c, r = d["cases"][i], recs[i]
        cells = [_image(c.frame, scale), _image(c.target, scale)] + [
            _image(d["frames"][w]["model"][i], scale) + f"<br>{'success' if r[f'{w}_success'] else 'fail'}"
            for w in ("freeform", "grammar")]
        rows.append(f"<tr><td>{html.escape(r['text'])}<br><span class=note>grammar: {html.escape(r['grammar_text'])}"
                    f"<br>{html.escape(str(c.action))}<br>{html.escape(', '.join(r['tags']))}</span></td>"
                    + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("case", "start", "ground truth", "model: free-form", "model: grammar"))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _idle_section(scores: dict, data: dict) -> list[str]:
    idle = scores["idle"]
    n, C = idle["model"]["scenes"], idle["model"]["chunks"]
    ks = list(idle["model"]["kept_at"])
    parts = [f"<h2>5. Idle: {n} held-out scenes, {C} chunks with nothing typed</h2>",
             "<p class=note>The sampler with an empty queue conditions every chunk on the bundle's idle action; the "
             "world should hold still. Unchanged: the share of chunks whose last frame shows the start scene (same "
             "lighting, every object within KEEP_TOL with its colour and shape, nothing else). Kept: consistency "
             "with the start state at chunk k (colour, shape and place); identity: colour and shape wherever the "
             "objects are. Means over scenes.</p>"]
    rows = [[NAMES[name], idle[name]["unchanged"]] + [idle[name]["kept_at"][k] for k in ks]
            + [idle[name]["identity_at"][k] for k in ks] for name in ("model", "repeat")]
    parts.append(_table(["", f"unchanged (share of {C} chunks)"] + [f"kept @{k}" for k in ks]
                        + [f"identity @{k}" for k in ks], rows))
    parts.append(_curves({name: {f"{key}_curve": idle[name][f"{key}_curve"] for key in ("kept", "identity")}
                          for name in ("model", "repeat")}, "kept", "kept (consistency)", ("model", "repeat"))
                 + _curves({name: {"identity_curve": idle[name]["identity_curve"]} for name in ("model", "repeat")},
                           "identity", "identity", ("model", "repeat"))
                 + _curves({name: {"unchanged_curve": idle[name]["unchanged_curve"]} for name in ("model", "repeat")},
                           "unchanged", "share of scenes unchanged", ("model", "repeat")))
    frames = data.get("idle", {}).get("model", {}).get(0, {})
    if frames:
        shown = sorted(frames)
        size = frames[shown[0]].shape[0]
        strip = np.concatenate([np.pad(frames[k], ((0, 0), (0, 2), (0, 0)), constant_values=255) for k in shown], 1)
        parts.append(f"<p>Scene 0: the start frame, then the model's last frame of chunks "
                     f"{', '.join(map(str, shown[1:]))}:</p>"
                     + _image(strip, max(1, 128 // size)))
    return parts
