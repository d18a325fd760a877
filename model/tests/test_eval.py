"""Tests of model/eval: the judge, the metrics on a perfect world model and on baselines, and the CLI end to end."""
import copy
import json
from collections import deque

import numpy as np
import pytest

from model.eval import cases as C
from model.eval import judge
from model.eval.fidelity import detector_check, first_chunks, score_fidelity
from model.eval.forecast import boundary_masks, evaluate_forecast, flow_series, rollout_frames, smoothness
from model.eval.make_episodes import make_episodes
from model.eval.reasoning import plan, stepwise
from model.eval.samplers import NoWindowSampler, RepeatLastFrame
from model.sampler import FinishedChunk, OnnxGraphs, ReferenceSampler
from model.world import (
    AGENT_ACTIONS, ObjectState, WorldState, apply_action, is_heldout_scene, random_scene, read_episodes,
    reading_from_state, render, rollout,
)

SIZE, F = 64, 4


class SimulatorSampler:
    """A perfect world model: the simulator behind the sampler's interface. It knows the
    states of the frames it may be started on and the actions the texts it may be given stand for."""

    def __init__(self, states: dict, actions: dict):
        self.states, self.actions = states, actions  # frame bytes -> state; (state, text) -> action

    def start(self, frame):
        self.state, self.queue, self.t = self.states[frame.tobytes()], deque(), 0
        return self

    def act(self, text):
        self.queue.append(text)

    def fork(self):
        other = copy.copy(self)
        other.queue = deque(self.queue)
        return other

    def run_chunks(self, n):
        out = []
        for _ in range(n):
            action = self.actions[(self.state, self.queue.popleft())] if self.queue else {"type": "wait"}
            chunk, self.state = apply_action(self.state, action, F)
            frames = np.stack([render(s, SIZE) for s in chunk]).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
            out.append(FinishedChunk(self.t, str(action), frames))
            self.t += 1
        return out


@pytest.fixture(scope="module")
def world():
    """Two short held-out episodes at 64 px, their cases, and a simulator that knows them all."""
    episodes = [C.sized(e, SIZE, F) for e in make_episodes(2, 10)]
    cases = C.action_cases(episodes, SIZE, agent_cases=3)
    plans = C.planning_cases(episodes, SIZE, 1, per_episode=2) + C.planning_cases(episodes, SIZE, 2, per_episode=1)
    states, actions = {}, {}
    for e in episodes:
        for s, step in zip(C.boundary_states(e), e["steps"]):
            states[render(s, SIZE).tobytes()] = s
            actions[(s, step["text"])] = step["action"]
    for c in cases:
        states[c.frame.tobytes()] = c.state
        actions[(c.state, c.text)] = c.action
    for p in plans:
        states[p.frame.tobytes()] = p.state
        for cand in p.candidates:
            actions.update({(s, t): a for s, t, a in zip(cand.states, cand.texts, cand.actions)})
    oracle = lambda seed: SimulatorSampler(states, actions)  # noqa: E731
    return episodes, cases, plans, oracle


def scene(*objects, lighting="normal"):
    return WorldState(tuple(ObjectState(c, s, x, y) for c, s, x, y in objects), lighting)


# -----------------------------------------------------------------------------
# the judge


def test_judge_move_success_and_failures():
    start = scene(("red", "cube", 0.3, 0.5), ("blue", "ball", 0.8, 0.8), ("green", "triangle", 0.8, 0.2))
    action = {"type": "move", "object": "red", "direction": "right", "distance": "medium"}
    _, final = apply_action(start, action)
    good = reading_from_state(final)
    assert judge.judge_action(start, action, final, good) == {
        "type": "move", "kept": True, "position_error": 0.0, "direction_ok": True, "success": True}

    still = reading_from_state(start)  # nothing moved
    j = judge.judge_action(start, action, final, still)
    assert not j["success"] and j["direction_ok"] is False and j["position_error"] == pytest.approx(0.22)

    moved_other = reading_from_state(final.with_object("blue", x=0.6))
    assert not judge.judge_action(start, action, final, moved_other)["success"]

    extra = reading_from_state(final)
    extra["objects"].append({"colour": "yellow", "shape": "ball", "x": 0.2, "y": 0.2, "area": 0.02})
    assert not judge.judge_action(start, action, final, extra)["kept"]


def test_judge_environment_actions():
    start = scene(("red", "cube", 0.3, 0.5), ("blue", "ball", 0.8, 0.8), ("green", "triangle", 0.8, 0.2),
                  ("yellow", "cube", 0.2, 0.2))
    for action in ({"type": "add", "colour": "purple", "shape": "ball", "place": "bottom_left"},
                   {"type": "remove", "object": "red"}, {"type": "recolour", "object": "red", "colour": "orange"},
                   {"type": "light", "level": "dim"}):
        _, final = apply_action(start, action)
        assert judge.judge_action(start, action, final, reading_from_state(final))["success"], action
        assert not judge.judge_action(start, action, final, reading_from_state(start))["success"], action


def test_consistency_counts_missing_and_extra_objects():
    gt = reading_from_state(scene(("red", "cube", 0.3, 0.5), ("blue", "ball", 0.8, 0.8), ("green", "cube", 0.8, 0.2)))
    assert judge.consistency(gt, gt) == 1.0
    missing = {**gt, "objects": gt["objects"][1:]}
    assert judge.consistency(missing, gt) == pytest.approx(2 / 3)
    extra = {**gt, "objects": gt["objects"] + [{"colour": "red", "shape": "cube", "x": 0.1, "y": 0.1, "area": 0.01}]}
    assert judge.consistency(extra, gt) == pytest.approx(3 / 4)
    recoloured = {**gt, "objects": [{**gt["objects"][0], "colour": "yellow"}] + gt["objects"][1:]}
    assert judge.consistency(recoloured, gt) == pytest.approx(2 / 4)


# -----------------------------------------------------------------------------
# episodes and cases


def test_make_episodes_cli(tmp_path):
    from model.eval.make_episodes import main
    out = tmp_path / "heldout.jsonl"
    assert main(["--out", str(out), "--n", "3", "--steps", "5"]) == 0
    episodes = read_episodes(out)
    assert len(episodes) == 3 and all(len(e["steps"]) == 5 for e in episodes)
    assert all(is_heldout_scene(e["scene_seed"]) and e["split"] == "heldout" for e in episodes)


def test_committed_episodes_are_heldout():
    episodes = read_episodes(C.__file__.replace("cases.py", "episodes/heldout.jsonl"))
    assert len(episodes) == 24 and all(len(e["steps"]) == 64 for e in episodes)
    assert all(is_heldout_scene(e["scene_seed"]) and e["split"] == "heldout" for e in episodes)


def test_cases_have_distinct_distractors_and_candidates(world):
    _, cases, plans, _ = world
    assert {c.action["type"] for c in cases} & set(AGENT_ACTIONS)
    for c in cases:
        assert len(c.distractors) == C.DISTRACTORS
        assert not any((f == c.target).all() for f in c.distractor_frames)
    for p in plans:
        assert len(p.candidates) == C.CANDIDATES
        assert judge.same_state(p.candidates[p.true_index].final, p.goal)
        assert sum(judge.same_state(c.final, p.goal) for c in p.candidates) == 1


# -----------------------------------------------------------------------------
# metrics on a perfect world model and on the repeat baseline


def test_detector_on_ground_truth_is_perfect(world):
    _, cases, _, _ = world
    check = detector_check(cases)
    assert check["score"] == 1.0 and check["failures"] == []


def test_oracle_world_model_scores_perfectly(world):
    episodes, cases, plans, oracle = world
    frames = first_chunks(oracle, cases, seed=0)
    assert np.array_equal(frames, np.stack([c.target for c in cases]))
    s = score_fidelity(cases, frames)["summary"]
    assert s["agent"] == 1.0 and s["environment"] == 1.0 and s["agent_position_error"] < 0.01
    assert s["agent_direction_accuracy"] == 1.0
    assert stepwise(cases, frames)["accuracy"] == 1.0

    short = [C.sized(e, SIZE, F, 4) for e in episodes]
    videos = [rollout_frames(oracle, e, seed=0) for e in short]
    gt = [rollout(e)[0] for e in short]
    fc = evaluate_forecast({"oracle": videos}, gt, F)["oracle"]
    assert fc["psnr"] == 100.0 and fc["ssim"] == pytest.approx(1.0) and fc["consistency"] == 1.0

    p = plan(oracle, plans, seed=0)["by_depth"]
    for depth in (1, 2):
        assert p[depth]["model"] == p[depth]["oracle"] == 1.0
        assert p[depth]["model_detector"] == 1.0
        assert p[depth]["random"] == pytest.approx(1 / C.CANDIDATES)


def test_repeat_last_frame_fails_moves(world):
    _, cases, _, _ = world
    repeat = lambda seed: RepeatLastFrame(F)  # noqa: E731
    frames = first_chunks(repeat, cases, seed=0)
    s = score_fidelity(cases, frames)
    moving = [(c, r) for c, r in zip(cases, s["cases"])
              if c.action["type"] in AGENT_ACTIONS and judge.distance(*(
                  {"x": o.x, "y": o.y} for o in (c.state.get(c.action["object"]), c.final.get(c.action["object"]))
              )) > judge.POSITION_TOL]
    assert moving and not any(r["success"] for _, r in moving)
    assert s["summary"]["agent"] < 0.5 and s["summary"]["agent_direction_accuracy"] == 0.0


def test_smoothness_of_still_and_moving_videos():
    still = np.repeat(render(random_scene(3), 32)[None], 9, axis=0)
    speed, accel = flow_series(still)
    sm = smoothness(speed, accel, F)["all"]
    assert sm["smoothness_paper"] == pytest.approx(1.0) and sm["smoothness_released"] < 1e-3

    pair, acc = boundary_masks(9, 4)  # start frame + 2 chunks of 4
    assert np.flatnonzero(pair).tolist() == [0, 4] and np.flatnonzero(acc).tolist() == [0, 3, 4]

    ep = C.sized({"scene_seed": 3, "n_objects": len(random_scene(3).objects), "split": "heldout",
                  "steps": [{"text": "", "action": {"type": "move", "object": random_scene(3).objects[0].colour,
                                                    "direction": "right", "distance": "medium"}}]}, 64, 4)
    speed, accel = flow_series(rollout(ep)[0])
    assert speed.max() > 0.05  # the moving object shows up in the flow


# -----------------------------------------------------------------------------
# the no-window sampler and the CLI on a tiny exported bundle


def test_no_window_sampler(tiny_bundle):
    from model.text_encoder import ActionEncoder
    bundle, _ = tiny_bundle
    graphs = OnnxGraphs(bundle, threads=1)
    enc = ActionEncoder(bundle / graphs.manifest.action_encoder.path, graphs.cfg.max_action_tokens)
    size = graphs.cfg.image_size
    frame = render(random_scene(5), size)

    def chunks(cls, seed=3):
        s = cls(graphs, enc, seed).start(frame)
        s.act("push the red block left")
        fork = s.fork()
        a = s.run_chunks(2)
        b = fork.run_chunks(2)
        assert all(np.array_equal(x.frames, y.frames) for x, y in zip(a, b))  # forks replay exactly
        return a

    nw = chunks(NoWindowSampler)
    assert [c.index for c in nw] == [0, 1] and [c.action for c in nw] == ["push the red block left", "wait"]
    assert nw[0].frames.shape == (graphs.cfg.chunk_frames, 3, size, size)
    assert np.isfinite(nw[0].frames).all()
    ref = chunks(ReferenceSampler)
    assert not np.allclose(nw[0].frames, ref[0].frames)  # a different procedure, not the sampler again


def test_cli_end_to_end(tiny_bundle, tmp_path):
    from model.eval.run import main
    from model.manifest import Eval
    bundle, _ = tiny_bundle
    out = tmp_path / "eval"
    assert main(["--bundle", str(bundle), "--out", str(out), "--limit", "2", "--horizon", "3", "--threads", "1",
                 "--agent-cases", "2", "--planning-cases", "1", "--candidates", "4"]) == 0
    scores = json.loads((out / "scores.json").read_text())
    block = Eval.model_validate(scores["manifest"])  # what model.export --eval records
    assert block.episodes == "heldout.jsonl" and block.report == "report.html"
    for key in ("detector_on_ground_truth", "environment_fidelity", "stepwise_accuracy", "consistency_3", "psnr",
                "ssim", "smoothness_paper", "smoothness_released", "planning_success", "planning_oracle",
                "planning_random", "baseline_repeat_psnr", "baseline_no_window_psnr"):
        assert key in block.scores, key
    assert scores["counts"]["horizon"] == 3 and scores["counts"]["episodes"] == 2
    assert scores["run"]["bundle_name"] == "tiny" and scores["run"]["machine"]["cores"] >= 1
    assert set(scores["timings_s"]) >= {"fidelity_model", "forecast_model", "planning_model", "report"}
    assert len(scores["forecast"]["model"]["psnr_curve"]) == 3
    page = (out / "report.html").read_text()
    assert "Detector on ground truth" in page and page.count("data:image/png;base64,") >= 6
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # self-contained
