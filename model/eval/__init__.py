"""
Evaluation of GLP world models against the tabletop simulator's ground truth
(the three dimensions of the PAN paper's evaluation), on held-out episodes:

1. action simulation fidelity (`fidelity`), judged by the world's detector (`judge`);
2. long-horizon forecast: PSNR/SSIM per step, simulation consistency and
   optical-flow smoothness (`forecast`);
3. simulative reasoning: step-wise simulation and goal-directed planning (`reasoning`);

for the bundle (the reference Causal Swin-DPM sampler) and two baselines
(`samplers`: no window, repeat the last frame); beside them, people's wordings
against the grammar's on the same cases (`freeform`, the hand-written
episodes/freeform.jsonl) and the world left idle (`idle`).
`python -m model.eval` runs everything (or `--only` some parts) and writes
scores.json and report.html (`run`, `report`); `python -m
model.eval.make_episodes` writes the held-out episode file.
See README.md in this folder.
"""
from model.eval.cases import ActionCase, Plan, PlanningCase, action_cases, planning_cases
from model.eval.fidelity import detector_check, first_chunks, score_fidelity
from model.eval.forecast import evaluate_forecast, rollout_frames
from model.eval.reasoning import plan, stepwise
from model.eval.samplers import Bundle, NoWindowSampler, RepeatLastFrame, load_bundle
from model.eval.run import evaluate

__all__ = [
    "ActionCase", "Plan", "PlanningCase", "action_cases", "planning_cases",
    "detector_check", "first_chunks", "score_fidelity",
    "evaluate_forecast", "rollout_frames",
    "plan", "stepwise",
    "Bundle", "NoWindowSampler", "RepeatLastFrame", "load_bundle",
    "evaluate",
]
