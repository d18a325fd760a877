"""
Simulative reasoning and planning.

Step-wise simulation (4 choices): for each ActionCase the world model's chunk
(generated for fidelity) is compared with four ground-truth outcomes from the
same state: the true action's and those of 3 distractor actions. The model
"picks" the candidate whose frame is closest (MSE) to its generated last
frame; accuracy is how often that is the true one (ties count as wrong).

Goal-directed planning: from a start state the goal image is the
ground-truth frame after 1 (or 2) hidden actions. An agent proposes N
candidate plans, the hidden one among them, all with clearly different
outcomes. The world model simulates each plan on its own fork of one session
started on the start frame, and the plan whose predicted last frame is
closest to the goal image is executed in the simulator; success when the
simulator's resulting state matches the goal state (`judge.same_state`,
MATCH_TOL). Closeness is measured two ways: pixel MSE, and the detector
variant (`judge.reading_distance` between the readings of prediction and
goal). References: the simulator as oracle (ranks candidates by their exact
outcomes, so it always finds the goal here) and a no-model agent that picks a
candidate at random (its expected success, i.e. the fraction of candidates
reaching the goal).
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from model.eval.cases import ActionCase, PlanningCase
from model.eval.judge import reading_distance, same_state
from model.eval.samplers import MakeSampler, chunk_frames_uint8
from model.world import detect, reading_from_state


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def stepwise(cases: list[ActionCase], frames: np.ndarray) -> dict:
    """{"accuracy", "n", "chance"} of picking the true outcome among it and its distractors."""
    correct, choices = [], []
    for case, frame in zip(cases, frames):
        if case.distractor_frames is None:
            continue
        d_true = mse(frame, case.target)
        d_alt = [mse(frame, f) for f in case.distractor_frames]
        correct.append(d_true < min(d_alt))
        choices.append(1 + len(d_alt))
    return {"accuracy": float(np.mean(correct)) if correct else None, "n": len(correct),
            "chance": float(np.mean([1.0 / c for c in choices])) if choices else None}


def predict_plans(make: MakeSampler, case: PlanningCase, seed: int) -> list[np.ndarray]:
    """The predicted last frame of each candidate plan, each on its own fork of one session."""
    base = make(seed).start(case.frame)
    out = []
    for plan in case.candidates:
        s = base.fork()
        for text in plan.texts:
            s.act(text)
        out.append(chunk_frames_uint8(s.run_chunks(len(plan.texts))[-1])[-1])
    return out


def plan(make: MakeSampler, cases: list[PlanningCase], seed: int, desc: str = "planning") -> dict:
    """
    -> {"by_depth": {depth: {"n", "model", "model_detector", "oracle", "random", "relative"}}, "cases": [...]}
    where relative = model / oracle.
    """
    records = []
    for i, case in enumerate(tqdm(cases, desc=desc, leave=False)):
        preds = predict_plans(make, case, seed + i)
        goal_reading = detect(case.goal_frame)
        by_mse = int(np.argmin([mse(p, case.goal_frame) for p in preds]))
        by_det = int(np.argmin([reading_distance(detect(p), goal_reading) for p in preds]))
        goal_exact = reading_from_state(case.goal)
        by_sim = int(np.argmin([reading_distance(reading_from_state(p.final), goal_exact) for p in case.candidates]))
        reaches = [same_state(p.final, case.goal) for p in case.candidates]
        records.append({
            "episode": case.episode, "step": case.step, "depth": case.depth, "candidates": len(case.candidates),
            "true_index": case.true_index, "model_choice": by_mse, "detector_choice": by_det,
            "model": reaches[by_mse], "model_detector": reaches[by_det], "oracle": reaches[by_sim],
            "random": float(np.mean(reaches)),
        })
    by_depth = {}
    for depth in sorted({r["depth"] for r in records}):
        rs = [r for r in records if r["depth"] == depth]
        d = {k: float(np.mean([r[k] for r in rs])) for k in ("model", "model_detector", "oracle", "random")}
        d["relative"] = d["model"] / d["oracle"] if d["oracle"] > 0 else None
        d["n"] = len(rs)
        by_depth[depth] = d
    return {"by_depth": by_depth, "cases": records}
