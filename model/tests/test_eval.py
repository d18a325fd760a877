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
from model.eval.freeform import evaluate_freeform, freeform_cases, grammar_twins, read_freeform
from model.eval.idle import idle_states, points, score_idle
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
def freeform_lines():
    """Every 12th free-form line: all action types, a few of each voice."""
    return read_freeform()[::12]


@pytest.fixture(scope="module")
def world(freeform_lines):
    """Two short held-out episodes at 64 px, their cases, and a simulator that knows them all
    (and the free-form cases, their grammar twins and the idle run's start scenes)."""
    episodes = [C.sized(e, SIZE, F) for e in make_episodes(2, 10)]
    cases = C.action_cases(episodes, SIZE, agent_cases=3)
    plans = C.planning_cases(episodes, SIZE, 1, per_episode=2) + C.planning_cases(episodes, SIZE, 2, per_episode=1)
    free = freeform_cases(freeform_lines, SIZE)
    states, actions = {}, {}
    for c in free + grammar_twins(free):
        states[c.frame.tobytes()] = c.state
        actions[(c.state, c.text)] = c.action
    for s in idle_states(2):
        states[render(s, SIZE).tobytes()] = s
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
    assert fc["identity"] == 1.0 and fc["identity_curve"] == [1.0] * 4

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


def test_oracle_scores_perfectly_on_freeform_and_its_grammar_twins(world, freeform_lines):
    _, _, _, oracle = world
    repeat = lambda seed: RepeatLastFrame(F)  # noqa: E731
    ff, data = evaluate_freeform({"model": oracle, "repeat": repeat}, freeform_lines, SIZE)
    assert ff["n"] == len(freeform_lines) and ff["detector_on_ground_truth"]["score"] == 1.0
    assert set(ff["wordings"]["freeform"]) == {"model", "repeat"} and set(ff["wordings"]["grammar"]) == {"model"}
    for wording in ("freeform", "grammar"):
        s = ff["wordings"][wording]["model"]
        assert s["agent"] == s["environment"] == s["overall"] == 1.0
        assert s["agent_direction_accuracy"] == 1.0 and s["stepwise"]["accuracy"] == 1.0
        assert {t: v["success"] for t, v in s["by_type"].items()} == {t: 1.0 for t in s["by_type"]}
        assert set(s["by_type"]) == {line["action"]["type"] for line in freeform_lines}  # wait included
    assert ff["wordings"]["freeform"]["repeat"]["agent"] < 0.5  # reads no text, moves nothing
    assert all(v["freeform"] == v["grammar"] == 1.0 for v in ff["by_tag"].values())
    assert all(r["text"] != r["grammar_text"] for r in ff["cases"])
    assert data["frames"]["grammar"]["model"].shape == (len(freeform_lines), SIZE, SIZE, 3)


def test_idle_run_oracle_holds_still_and_drift_is_caught(world):
    _, _, _, oracle = world
    states = idle_states(2)
    still, frames = score_idle(oracle, states, SIZE, chunks=20)
    assert still["unchanged"] == 1.0 and still["unchanged_curve"] == [1.0] * 20
    assert list(still["kept_at"]) == points(20) == [16, 20]
    assert all(v == 1.0 for v in still["kept_at"].values()) and all(v == 1.0 for v in still["identity_at"].values())
    assert set(frames[0]) == {0, 16, 20} and np.array_equal(frames[0][0], render(states[0], SIZE))

    class Drifting:
        """Holds still for 5 chunks, then draws the first object with another shape, in its place."""
        def __init__(self):
            self.t = 0

        def start(self, frame):
            self.state = oracle(0).start(frame).state
            first = self.state.objects[0]
            self.drifted = self.state.with_object(first.colour, shape="ball" if first.shape != "ball" else "cube")
            return self

        def run_chunks(self, n):
            out = []
            for _ in range(n):
                self.t += 1
                s = self.state if self.t <= 5 else self.drifted
                frame = render(s, SIZE).astype(np.float32).transpose(2, 0, 1)[None] / 255.0
                out.append(FinishedChunk(self.t, "wait", np.repeat(frame, F, axis=0)))
            return out

    drift, _ = score_idle(lambda seed: Drifting(), states, SIZE, chunks=20)
    assert drift["unchanged"] == pytest.approx(5 / 20)
    n0 = [len(s.objects) for s in states]
    assert drift["kept_at"][16] == pytest.approx(np.mean([(n - 1) / (n + 1) for n in n0]))
    assert drift["identity_at"][16] == pytest.approx(np.mean([(n - 1) / (n + 1) for n in n0]))


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
                 "--agent-cases", "2", "--planning-cases", "1", "--candidates", "4", "--freeform-limit", "9",
                 "--idle-scenes", "1", "--idle-chunks", "3"]) == 0
    scores = json.loads((out / "scores.json").read_text())
    block = Eval.model_validate(scores["manifest"])  # what model.export --eval records
    assert block.episodes == "heldout.jsonl" and block.report == "report.html"
    for key in ("detector_on_ground_truth", "environment_fidelity", "stepwise_accuracy", "consistency_3", "psnr",
                "ssim", "smoothness_paper", "smoothness_released", "planning_success", "planning_oracle",
                "planning_random", "baseline_repeat_psnr", "baseline_no_window_psnr", "identity_3",
                "baseline_repeat_identity_3", "baseline_no_window_identity_3", "freeform_agent_fidelity",
                "freeform_grammar_agent_fidelity", "freeform_direction_accuracy", "freeform_grammar_stepwise_accuracy",
                "freeform_success_move", "freeform_grammar_success_move", "baseline_repeat_freeform_agent_fidelity",
                "freeform_detector_on_ground_truth", "idle_unchanged_3", "idle_kept_3", "idle_identity_3",
                "baseline_repeat_idle_unchanged_3"):
        assert key in block.scores, key
    assert block.scores["baseline_repeat_idle_unchanged_3"] == 1.0  # repeating the start frame holds still
    assert scores["counts"]["horizon"] == 3 and scores["counts"]["episodes"] == 2
    assert scores["run"]["bundle_name"] == "tiny" and scores["run"]["machine"]["cores"] >= 1
    assert set(scores["timings_s"]) >= {"fidelity_model", "forecast_model", "planning_model", "report"}
    assert len(scores["forecast"]["model"]["psnr_curve"]) == 3
    page = (out / "report.html").read_text()
    assert "Detector on ground truth" in page and page.count("data:image/png;base64,") >= 6
    assert "4. Free-form language" in page and "5. Idle" in page
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # self-contained
    assert scores["counts"]["freeform_cases"] == 9 and scores["counts"]["idle_chunks"] == 3

    # the model card sets the free-form scores beside the grammar's, and the drift scores beside the baselines
    from model.manifest import load_manifest
    from model.model_card import model_card
    card, h = model_card(load_manifest(bundle / "manifest.json"), {}, scores=scores), block.scores
    assert (f"| agent fidelity | {h['freeform_agent_fidelity']:.3f} | {h['freeform_grammar_agent_fidelity']:.3f} | "
            f"{h['baseline_repeat_freeform_agent_fidelity']:.3f} |") in card
    assert f"| move | {h['freeform_success_move']:.3f} | {h['freeform_grammar_success_move']:.3f} | - |" in card
    assert (f"| identity over 3 chunks | {h['identity_3']:.3f} | {h['baseline_repeat_identity_3']:.3f} | "
            f"{h['baseline_no_window_identity_3']:.3f} |") in card
    assert f"| idle: chunks unchanged, over 3 | {h['idle_unchanged_3']:.3f} | 1.000 | - |" in card


def test_cli_runs_parts_alone(tiny_bundle, tmp_path):
    from model.eval.run import main, parse_parts
    bundle, _ = tiny_bundle
    out = tmp_path / "eval"
    assert main(["--bundle", str(bundle), "--out", str(out), "--threads", "1", "--only", "idle,freeform",
                 "--freeform-limit", "3", "--idle-scenes", "1", "--idle-chunks", "2"]) == 0
    scores = json.loads((out / "scores.json").read_text())
    assert scores["parts"] == ["freeform", "idle"]
    assert not {"fidelity", "forecast", "planning", "stepwise"} & set(scores)
    names = set(scores["manifest"]["scores"])
    assert {"freeform_agent_fidelity", "idle_unchanged_2"} <= names
    assert not any(k.startswith(("agent_", "psnr", "consistency_", "planning_")) for k in names)
    assert set(scores["timings_s"]) >= {"freeform", "idle_model", "idle_repeat", "report"}
    page = (out / "report.html").read_text()
    assert "4. Free-form language" in page and "1. Action simulation fidelity" not in page

    assert parse_parts(None) == ("fidelity", "forecast", "planning", "freeform", "idle")
    assert parse_parts("idle, fidelity") == ("fidelity", "idle")
    with pytest.raises(ValueError, match="unknown part"):
        parse_parts("fidelity,drift")
    with pytest.raises(SystemExit):
        main(["--bundle", str(bundle), "--out", str(out), "--only", "nothing"])
