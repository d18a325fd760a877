"""
`python -m model.eval`: score an exported bundle on held-out episodes.

    python -m model.eval --bundle public/models/tabletop --episodes model/eval/episodes/heldout.jsonl \\
        --out runs/eval [--variant fp32] [--limit N] [--horizon H] [--seed S] [--threads T] \\
        [--only fidelity,forecast,planning,freeform,idle]

writes OUT/scores.json (every number, plus a "manifest" block for
`python -m model.export --eval OUT/scores.json`) and OUT/report.html
(self-contained: tables and plots inline). See model/eval/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.eval import cases as C
from model.eval.fidelity import detector_check, first_chunks, score_fidelity
from model.eval.forecast import evaluate_forecast, rollout_frames
from model.eval.idle import IDLE_CHUNKS, IDLE_SCENES, idle_states, score_idle
from model.eval.reasoning import plan, stepwise
from model.eval.samplers import Bundle, RepeatLastFrame, load_bundle
from model.machine import cpu_model
from model.world import read_episodes, rollout

DEFAULT_EPISODES = Path(__file__).parent / "episodes" / "heldout.jsonl"
PLAN_DEPTHS = (1, 2)
# what `python -m model.eval` can run (--only picks some): fidelity includes the detector check and the
# step-wise choice; forecast the long rollouts (consistency, identity, smoothness); freeform people's
# wordings beside the grammar's; idle the world left alone
PARTS = ("fidelity", "forecast", "planning", "freeform", "idle")


def machine() -> dict:
    import onnxruntime
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "onnxruntime": onnxruntime.__version__}


def clean(x):
    """JSON-safe copy: numpy scalars to Python numbers, NaN/inf to None, keys to strings."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


@contextmanager
def timed(times: dict[str, float], name: str):
    """Adds the wall time of the block to times[name]."""
    t0 = time.perf_counter()
    yield
    times[name] = times.get(name, 0.0) + time.perf_counter() - t0


def headline(s: dict) -> dict:
    """The flat scores recorded in the bundle's manifest, for the parts that ran (undefined ones are left out)."""
    out = {}
    if "fidelity" in s:
        fid, sw = s["fidelity"], s["stepwise"]
        out |= {
            "detector_on_ground_truth": s["detector_on_ground_truth"]["score"],
            "agent_fidelity": fid["model"]["agent"],
            "environment_fidelity": fid["model"]["environment"],
            "action_fidelity": fid["model"]["overall"],
            "agent_position_error": fid["model"]["agent_position_error"],
            "agent_direction_accuracy": fid["model"]["agent_direction_accuracy"],
            "stepwise_accuracy": sw["model"]["accuracy"],
        }
    if "forecast" in s:
        fc, H = s["forecast"], s["counts"]["horizon"]

        def smooth(name, key, part="all"):
            return fc[name]["smoothness"].get(part, {}).get(key)

        out |= {
            "psnr": fc["model"]["psnr"],
            "ssim": fc["model"]["ssim"],
            f"consistency_{H}": fc["model"]["consistency"],
            f"identity_{H}": fc["model"]["identity"],
            "smoothness_paper": smooth("model", "smoothness_paper"),
            "smoothness_released": smooth("model", "smoothness_released"),
            "smoothness_paper_boundary": smooth("model", "smoothness_paper", "boundary"),
            "smoothness_released_boundary": smooth("model", "smoothness_released", "boundary"),
            "gt_smoothness_paper": smooth("ground_truth", "smoothness_paper"),
            "gt_smoothness_released": smooth("ground_truth", "smoothness_released"),
            "baseline_no_window_smoothness_paper": smooth("no_window", "smoothness_paper"),
            "baseline_no_window_smoothness_released": smooth("no_window", "smoothness_released"),
        }
    if "planning" in s:
        for depth, d in s["planning"]["by_depth"].items():
            suffix = "" if int(depth) == 1 else f"_{depth}step"
            out |= {f"planning_success{suffix}": d["model"], f"planning_success_detector{suffix}": d["model_detector"],
                    f"planning_oracle{suffix}": d["oracle"], f"planning_random{suffix}": d["random"],
                    f"planning_relative{suffix}": d["relative"]}
    for name in ("repeat", "no_window"):
        b = f"baseline_{name}_"
        if "fidelity" in s:
            fid, sw = s["fidelity"], s["stepwise"]
            out |= {b + "agent_fidelity": fid[name]["agent"], b + "environment_fidelity": fid[name]["environment"],
                    b + "stepwise_accuracy": sw[name]["accuracy"]}
        if "forecast" in s:
            fc, H = s["forecast"], s["counts"]["horizon"]
            out |= {b + "psnr": fc[name]["psnr"], b + "ssim": fc[name]["ssim"],
                    b + f"consistency_{H}": fc[name]["consistency"], b + f"identity_{H}": fc[name]["identity"]}
    if "freeform" in s:
        ff = s["freeform"]
        out["freeform_detector_on_ground_truth"] = ff["detector_on_ground_truth"]["score"]
        for wording, prefix in (("freeform", "freeform_"), ("grammar", "freeform_grammar_")):
            out |= _wording_scores(ff["wordings"][wording]["model"], prefix)
        out |= {"baseline_repeat_" + k: v for k, v in _wording_scores(ff["wordings"]["freeform"]["repeat"],
                                                                       "freeform_").items()
                if not k.startswith("freeform_success_")}
    if "idle" in s:
        for name, prefix in (("model", "idle_"), ("repeat", "baseline_repeat_idle_")):
            idle = s["idle"][name]
            out[f"{prefix}unchanged_{idle['chunks']}"] = idle["unchanged"]
            for k, v in idle["kept_at"].items():
                if name == "model" or int(k) == idle["chunks"]:
                    out[f"{prefix}kept_{k}"] = v
            if name == "model":
                out |= {f"{prefix}identity_{k}": v for k, v in idle["identity_at"].items()}
    return {k: round(float(v), 6) for k, v in out.items() if v is not None and math.isfinite(v)}


def _wording_scores(summary: dict, prefix: str) -> dict:
    """The flat free-form scores of one model on one wording."""
    out = {prefix + "agent_fidelity": summary["agent"], prefix + "environment_fidelity": summary["environment"],
           prefix + "action_fidelity": summary["overall"],
           prefix + "direction_accuracy": summary["agent_direction_accuracy"],
           prefix + "stepwise_accuracy": summary["stepwise"]["accuracy"]}
    return out | {f"{prefix}success_{t}": v["success"] for t, v in summary["by_type"].items()}


def parse_parts(text: str | None) -> tuple[str, ...]:
    """--only's comma-separated parts, in PARTS order; all of them when None."""
    if text is None:
        return PARTS
    asked = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in asked if p not in PARTS]
    if unknown or not asked:
        raise ValueError(f"--only: unknown part(s) {unknown or [text]}; choose from {', '.join(PARTS)}")
    return tuple(p for p in PARTS if p in asked)


def evaluate(bundle: Bundle, episodes: list[dict], horizon: int, seed: int = 0, episodes_name: str = "episodes",
             agent_cases: int = C.AGENT_CASES, planning_per_episode: int = C.PLANNING_CASES,
             candidates: int = C.CANDIDATES, parts: tuple[str, ...] = PARTS, freeform: list[dict] | None = None,
             idle_scenes: int = IDLE_SCENES, idle_chunks: int = IDLE_CHUNKS) -> tuple[dict, dict]:
    """The metrics of `parts` (PARTS) for one bundle -> (scores, report data).
    `freeform`: the free-form lines (default: episodes/freeform.jsonl)."""
    times: dict[str, float] = {}
    size, F = bundle.size, bundle.chunk_frames
    models = {
        "model": bundle.sampler,
        "no_window": bundle.no_window_sampler,
        "repeat": lambda _seed: RepeatLastFrame(F),
    }
    sized = [C.sized(e, size, F) for e in episodes]
    scores: dict = {"parts": list(parts)}
    counts: dict = {"chunk_frames": F, "frame_size": size}
    data: dict = {}
    if set(parts) & {"fidelity", "forecast", "planning"}:
        counts["episodes"] = len(episodes)

    if "fidelity" in parts:
        # 1. Cases (ground truth only), and the detector on them: the judge of everything below.
        with timed(times, "cases"):
            cases = C.action_cases(sized, size, seed, agent_cases=agent_cases)
        if not cases:
            raise ValueError("the episodes hold no agent or environment actions to score")
        with timed(times, "detector_check"):
            scores["detector_on_ground_truth"] = detector_check(cases)
        # 2. Action fidelity, and step-wise simulation on the same chunks.
        fidelity, step, first = {}, {}, {}
        for name, make in models.items():
            with timed(times, f"fidelity_{name}"):
                first[name] = first_chunks(make, cases, seed, desc=f"fidelity {name}")
                fidelity[name] = score_fidelity(cases, first[name])
                step[name] = stepwise(cases, first[name])
        scores |= {"fidelity": {k: v["summary"] for k, v in fidelity.items()},
                   "fidelity_cases": {k: v["cases"] for k, v in fidelity.items()}, "stepwise": step}
        counts |= {"action_cases": len(cases), "agent_cases": fidelity["model"]["summary"]["n_agent"],
                   "environment_cases": fidelity["model"]["summary"]["n_environment"]}
        data |= {"cases": cases, "first": first}

    if "forecast" in parts:
        # 3. Long-horizon forecast.
        H = min([horizon] + [len(e["steps"]) for e in episodes])
        if H < 1:
            raise ValueError("the episodes have no steps")
        long_eps = [C.sized(e, size, F, H) for e in episodes]
        with timed(times, "forecast_ground_truth"):
            gt = [rollout(e)[0] for e in long_eps]
        videos = {}
        for name, make in models.items():
            with timed(times, f"forecast_{name}"):
                episodes_bar = tqdm(long_eps, desc=f"forecast {name}", leave=False)
                videos[name] = [rollout_frames(make, e, seed + i) for i, e in enumerate(episodes_bar)]
        with timed(times, "forecast_scores"):
            scores["forecast"] = evaluate_forecast(videos, gt, F, flow=("model", "no_window"))
        counts |= {"horizon": H, "rollout_frames": int(sum(len(v) for v in gt))}
        data |= {"videos": videos, "gt": gt, "episodes": long_eps}

    if "planning" in parts:
        # 4. Planning with the model.
        with timed(times, "cases_planning"):
            plans = [c for d in PLAN_DEPTHS for c in C.planning_cases(sized, size, d, seed, planning_per_episode,
                                                                     candidates)]
        with timed(times, "planning_model"):
            scores["planning"] = plan(bundle.sampler, plans, seed)
        counts |= {"planning_cases": {d: sum(c.depth == d for c in plans) for d in PLAN_DEPTHS},
                   "planning_candidates": candidates}

    if "freeform" in parts:
        # 5. People's wordings beside the grammar's, on the same held-out cases (the repeat baseline reads no text).
        from model.eval.freeform import evaluate_freeform, read_freeform  # not at the top: a script too
        lines = read_freeform() if freeform is None else freeform
        with timed(times, "freeform"):
            scores["freeform"], data["freeform"] = evaluate_freeform(
                {"model": models["model"], "repeat": models["repeat"]}, lines, size, seed)
        counts["freeform_cases"] = len(lines)

    if "idle" in parts:
        # 6. Nobody typing: the idle action, chunk after chunk.
        states = idle_states(idle_scenes)
        scores["idle"], data["idle"] = {}, {}
        for name in ("model", "repeat"):
            with timed(times, f"idle_{name}"):
                scores["idle"][name], data["idle"][name] = score_idle(models[name], states, size, idle_chunks, seed,
                                                                      desc=f"idle {name}")
        counts |= {"idle_scenes": idle_scenes, "idle_chunks": idle_chunks}

    scores |= {"counts": counts, "timings_s": {k: round(v, 3) for k, v in times.items()}}
    scores["manifest"] = {"episodes": episodes_name, "scores": headline(scores), "report": "report.html"}
    return scores, data


def main(argv=None) -> int:
    from model.eval.freeform import FREEFORM_FILE, read_freeform  # not at the top: freeform is a script too
    ap = argparse.ArgumentParser(prog="python -m model.eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True, help="an exported bundle folder (manifest.json)")
    ap.add_argument("--episodes", type=Path, default=DEFAULT_EPISODES, help="held-out episodes (JSON lines)")
    ap.add_argument("--out", type=Path, required=True, help="folder for scores.json and report.html")
    ap.add_argument("--variant", default="fp32", help="graph variant: fp32, fp16, q8 or q4 (default fp32)")
    ap.add_argument("--limit", type=int, help="use only the first N episodes")
    ap.add_argument("--horizon", type=int, default=64, help="chunks per long-horizon rollout (default 64)")
    ap.add_argument("--seed", type=int, default=0, help="sampler noise seed (default 0)")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads (default: its own choice)")
    ap.add_argument("--agent-cases", type=int, default=C.AGENT_CASES, help="agent-action cases per episode")
    ap.add_argument("--planning-cases", type=int, default=C.PLANNING_CASES,
                    help="planning cases per episode and plan depth")
    ap.add_argument("--candidates", type=int, default=C.CANDIDATES, help="candidate plans per planning case")
    ap.add_argument("--only", help=f"run only these parts, comma-separated: {', '.join(PARTS)} (default: all)")
    ap.add_argument("--freeform", type=Path, default=FREEFORM_FILE, help="the free-form cases (JSON lines)")
    ap.add_argument("--freeform-limit", type=int, help="use only the first N free-form cases")
    ap.add_argument("--idle-scenes", type=int, default=IDLE_SCENES,
                    help=f"held-out scenes of the idle run (default {IDLE_SCENES})")
    ap.add_argument("--idle-chunks", type=int, default=IDLE_CHUNKS,
                    help=f"chunks per idle rollout (default {IDLE_CHUNKS}: two minutes at 8 fps, 4 frames a chunk)")
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    try:
        parts = parse_parts(args.only)
    except ValueError as e:
        ap.error(str(e))
    if args.idle_scenes < 1 or args.idle_chunks < 1:
        ap.error("--idle-scenes and --idle-chunks must be at least 1")

    t0 = time.perf_counter()
    episodes = read_episodes(args.episodes)[: args.limit]
    if not episodes:
        ap.error(f"{args.episodes} holds no episodes")
    freeform = read_freeform(args.freeform)[: args.freeform_limit] if "freeform" in parts else None
    bundle = load_bundle(args.bundle, args.variant, args.threads)
    scores, data = evaluate(bundle, episodes, args.horizon, args.seed, args.episodes.name,
                            args.agent_cases, args.planning_cases, args.candidates, parts, freeform,
                            args.idle_scenes, args.idle_chunks)
    scores["run"] = {
        "command": "python -m model.eval " + shlex.join(str(a) for a in argv),
        "bundle": str(args.bundle), "bundle_name": bundle.name, "variant": args.variant,
        "episodes": str(args.episodes), "freeform": str(args.freeform), "seed": args.seed,
        "horizon_requested": args.horizon, "machine": machine(),
    }
    from model.eval import judge
    scores["tolerances"] = {k: getattr(judge, k) for k in ("POSITION_TOL", "KEEP_TOL", "CONSISTENCY_TOL", "MATCH_TOL",
                                                           "DIRECTION_COS", "MIN_MOTION", "STILL")}
    scores["tolerances"]["DISTINCT_TOL"] = C.DISTINCT_TOL

    args.out.mkdir(parents=True, exist_ok=True)
    from model.eval.report import write_report
    t_report = time.perf_counter()
    scores["run"]["wall_time_s"] = round(time.perf_counter() - t0, 2)  # provisional, for the report
    write_report(args.out / "report.html", scores, data)
    scores["timings_s"]["report"] = round(time.perf_counter() - t_report, 3)
    scores["run"]["wall_time_s"] = round(time.perf_counter() - t0, 2)
    (args.out / "scores.json").write_text(json.dumps(clean(scores), indent=1) + "\n")
    print(json.dumps(scores["manifest"]["scores"], indent=1))
    print(f"wrote {args.out / 'scores.json'} and {args.out / 'report.html'} in {scores['run']['wall_time_s']:.1f}s")
    return 0
