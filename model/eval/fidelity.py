"""
Action simulation fidelity: does the generated chunk show the action?

For each ActionCase the world model starts from the ground-truth frame, the
case's action is queued, chunk 0 is generated, and the detector reads the
chunk's last frame; `judge.judge_action` compares that reading with the
simulator's state after the action (definitions and tolerances there).

The same scoring on the ground-truth frames themselves is the detector check:
it must be 1.0, and any case where it is not is listed.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from model.eval.cases import ActionCase
from model.eval.judge import judge_action
from model.eval.samplers import MakeSampler, chunk_frames_uint8
from model.world import ACTION_TYPES, AGENT_ACTIONS, ENVIRONMENT_ACTIONS, detect


def first_chunks(make: MakeSampler, cases: list[ActionCase], seed: int, desc: str = "chunks") -> np.ndarray:
    """(N, H, W, 3) uint8: the last frame of chunk 0 for each case (one fresh session each)."""
    out = []
    for i, case in enumerate(tqdm(cases, desc=desc, leave=False)):
        s = make(seed + i).start(case.frame)
        s.act(case.text)
        out.append(chunk_frames_uint8(s.run_chunks(1)[0])[-1])
    return np.stack(out)


def _mean(xs) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def score_fidelity(cases: list[ActionCase], frames: np.ndarray) -> dict:
    """
    {"summary": {...}, "cases": [per-case judgement]} for predicted last frames.

    summary: agent / environment / overall success rates (over cases; overall
    includes wait cases, where success means the scene kept), per type {n,
    success, kept}, and for agent actions the mean position error of the named
    object (where found), the rate it was found at all, and the direction
    accuracy (over cases that truly move at least MIN_MOTION).
    """
    records = []
    for case, frame in zip(cases, frames):
        j = judge_action(case.state, case.action, case.final, detect(frame))
        records.append({"episode": case.episode, "step": case.step, "text": case.text, **j})
    agent = [r for r in records if r["type"] in AGENT_ACTIONS]
    env = [r for r in records if r["type"] in ENVIRONMENT_ACTIONS]
    by_type = {}
    for kind in ACTION_TYPES:  # wait too, where a case holds one (the free-form set does)
        rs = [r for r in records if r["type"] == kind]
        if rs:
            by_type[kind] = {"n": len(rs), "success": _mean(r["success"] for r in rs),
                             "kept": _mean(r["kept"] for r in rs)}
    summary = {
        "agent": _mean(r["success"] for r in agent),
        "environment": _mean(r["success"] for r in env),
        "overall": _mean(r["success"] for r in records),
        "n_agent": len(agent), "n_environment": len(env),
        "agent_found": _mean(r["position_error"] is not None for r in agent),
        "agent_position_error": _mean(r["position_error"] for r in agent),
        "agent_direction_accuracy": _mean(r["direction_ok"] for r in agent),
        "n_direction": sum(r["direction_ok"] is not None for r in agent),
        "by_type": by_type,
    }
    return {"summary": summary, "cases": records}


def detector_check(cases: list[ActionCase]) -> dict:
    """Fidelity scored on the ground-truth frames: {"score", "n", "failures": [case records]}."""
    scored = score_fidelity(cases, np.stack([c.target for c in cases]))
    failures = [r for r in scored["cases"] if not r["success"] or not r["kept"]]
    return {"score": scored["summary"]["overall"], "kept": _mean(r["kept"] for r in scored["cases"]),
            "n": len(cases), "failures": failures}
