"""Tests of the tabletop world: scenes, rendering, physics, language, episodes, detector."""

import json
import math
import re

import numpy as np
import pytest

from model.world import (
    AGENT_ACTIONS, CONTACT, COLOURS, DIRECTIONS, DISTANCES, ENVIRONMENT_ACTIONS, LIGHTING_LEVELS,
    MARGIN, MAX_OBJECTS, MAX_WORDS, MIN_OBJECTS, OBJECT_SIZE, PLACES, ObjectState, WorldState, apply_action,
    describe, detect, ease, generate_episode, is_heldout_scene, random_scene, read_episodes, reading_from_state,
    render, rollout, sample_action, scene_seeds, valid_actions, validate_action, is_train_wording, write_episodes,
)
from model.world import language


def scene(*objects, lighting="normal"):
    """A hand-made state: objects as (colour, shape, x, y)."""
    return WorldState(tuple(ObjectState(c, s, x, y) for c, s, x, y in objects), lighting)


# three objects far from each other, the first in the middle
SPREAD = scene(("red", "cube", 0.5, 0.5), ("blue", "ball", 0.2, 0.85), ("green", "triangle", 0.85, 0.2))


def assert_valid_layout(state):
    assert MIN_OBJECTS <= len(state.objects) <= MAX_OBJECTS
    assert len(set(state.colours)) == len(state.colours)
    for i, a in enumerate(state.objects):
        assert MARGIN - 1e-9 <= a.x <= 1 - MARGIN + 1e-9 and MARGIN - 1e-9 <= a.y <= 1 - MARGIN + 1e-9
        for b in state.objects[i + 1:]:
            # centres at least CONTACT apart along x or y (up to the 1e-6 contact slack)
            assert max(abs(a.x - b.x), abs(a.y - b.y)) >= CONTACT - 2e-6, (a, b)


# -----------------------------------------------------------------------------
# scenes and rendering


def test_random_scene_is_deterministic_and_valid():
    for seed in range(200):
        s = random_scene(seed)
        assert s == random_scene(seed)
        assert s == random_scene(seed, len(s.objects))  # the count is drawn first, so it can be stored
        assert_valid_layout(s)
    assert random_scene(1) != random_scene(2)
    assert {len(random_scene(seed).objects) for seed in range(100)} == {3, 4, 5, 6}
    assert len(random_scene(5, n_objects=6).objects) == 6
    with pytest.raises(ValueError, match="n_objects"):
        random_scene(0, n_objects=7)


@pytest.mark.parametrize("size", [64, 96, 128])
def test_render_shape_dtype_determinism(size):
    s = random_scene(11)
    frame = render(s, size)
    assert frame.shape == (size, size, 3) and frame.dtype == np.uint8
    assert frame.tobytes() == render(random_scene(11), size).tobytes()
    # the rim is darker than the table
    rim, table = frame[0, 0].astype(int), render(WorldState((), s.lighting), size)[size // 2, size // 2].astype(int)
    assert rim.sum() < table.sum() - 100


def test_render_draws_each_object_in_its_colour_and_lighting_changes_everything():
    s = scene(("red", "cube", 0.3, 0.3), ("yellow", "ball", 0.7, 0.3), ("blue", "triangle", 0.5, 0.7))
    frame = render(s, 64)
    px = lambda x, y: frame[int(y * 64), int(x * 64)].astype(int)
    assert tuple(px(0.3, 0.3)) == (195, 35, 45)
    assert tuple(px(0.7, 0.3)) == (215, 190, 30)
    assert tuple(px(0.5, 0.72)) == (40, 80, 200)
    frames = {lv: render(WorldState(s.objects, lv), 64).astype(int) for lv in LIGHTING_LEVELS}
    for a in LIGHTING_LEVELS:
        for b in LIGHTING_LEVELS:
            if a < b:
                assert np.abs(frames[a] - frames[b]).mean() > 5, (a, b)
    assert frames["dim"].mean() < frames["normal"].mean() < frames["bright"].mean()


def test_transitions_render_between_endpoints():
    s = scene(("red", "cube", 0.5, 0.5), ("blue", "ball", 0.2, 0.8), ("green", "cube", 0.8, 0.2))
    half = s.with_object("red", colour="purple", prev_colour="red", colour_blend=0.5)
    c = render(half, 64)[32, 32].astype(int)
    assert np.abs(c - (np.array([195, 35, 45]) + np.array([140, 50, 170])) / 2).max() <= 1
    faded = render(s.with_object("red", alpha=0.0), 64)
    assert faded.tobytes() == render(WorldState(s.objects[1:], "normal"), 64).tobytes()


# -----------------------------------------------------------------------------
# actions: physics


def move(colour, direction, distance="medium"):
    return {"type": "move", "object": colour, "direction": direction, "distance": distance}


@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("distance", list(DISTANCES))
def test_move_covers_the_distance_when_free(direction, distance):
    ux, uy = DIRECTIONS[direction]
    # the other two sit to either side of the path, well clear of it
    px, py = -uy * 0.36, ux * 0.36
    s = scene(("red", "cube", 0.5, 0.5), ("blue", "ball", 0.5 + px, 0.5 + py), ("green", "ball", 0.5 - px, 0.5 - py))
    _, final = apply_action(s, move("red", direction, distance))
    red = final.get("red")
    assert red.x == pytest.approx(0.5 + DISTANCES[distance] * ux)
    assert red.y == pytest.approx(0.5 + DISTANCES[distance] * uy)
    # no pushing, nothing else changes
    assert [o for o in final.objects if o.colour != "red"] == [o for o in s.objects if o.colour != "red"]


def test_move_left_decreases_x_by_the_distance():
    _, final = apply_action(SPREAD, move("red", "left", "small"))
    assert final.get("red").x == pytest.approx(0.5 - 0.12)
    assert final.get("red").y == 0.5


def test_edges_stop_objects():
    _, final = apply_action(SPREAD, move("red", "up", "far"))
    _, final = apply_action(final, move("red", "up", "far"))
    assert final.get("red").y == pytest.approx(MARGIN) and final.get("red").x == 0.5
    # diagonal into an edge: each coordinate is clamped on its own, the other still moves
    s = scene(("red", "cube", 0.2, 0.5), ("blue", "ball", 0.8, 0.85), ("green", "ball", 0.85, 0.15))
    _, final = apply_action(s, move("red", "up_left", "far"))
    red = final.get("red")
    assert red.x == pytest.approx(MARGIN) and red.y == pytest.approx(0.5 - 0.35 / math.sqrt(2))


def test_collision_stops_at_first_contact():
    s = scene(("red", "cube", 0.3, 0.5), ("blue", "ball", 0.6, 0.52), ("green", "cube", 0.8, 0.85))
    _, final = apply_action(s, move("red", "right", "far"))
    assert final.get("red").x == pytest.approx(0.6 - CONTACT, abs=1e-5)
    assert final.get("red").y == 0.5
    assert final.get("blue") == s.get("blue")  # not pushed
    # moving away from a contact is free, moving into it again is not
    _, away = apply_action(final, move("red", "left", "small"))
    assert away.get("red").x == pytest.approx(0.6 - CONTACT - 0.12, abs=1e-5)
    _, again = apply_action(final, move("red", "right", "small"))
    assert again.get("red").x == pytest.approx(final.get("red").x, abs=1e-5)
    # sliding along the contact face is free
    _, slide = apply_action(final, move("red", "down", "small"))
    assert slide.get("red").y == pytest.approx(0.62)


def test_diagonal_collision_stops_on_the_path():
    s = scene(("red", "cube", 0.3, 0.3), ("blue", "ball", 0.55, 0.6), ("green", "cube", 0.85, 0.15))
    _, final = apply_action(s, move("red", "down_right", "far"))
    red = final.get("red")
    d = 0.35 / math.sqrt(2)
    # still on the diagonal, stopped short, touching blue along one axis
    assert red.x - 0.3 == pytest.approx(red.y - 0.3)
    assert red.x - 0.3 < d
    assert max(abs(red.x - 0.55), abs(red.y - 0.6)) == pytest.approx(CONTACT, abs=1e-5)


def test_move_to_and_move_next_to():
    _, final = apply_action(SPREAD, {"type": "move_to", "object": "blue", "place": "bottom_right"})
    assert (final.get("blue").x, final.get("blue").y) == PLACES["bottom_right"]
    for side, (dx, dy) in {"left": (-1, 0), "right": (1, 0), "above": (0, -1), "below": (0, 1)}.items():
        _, final = apply_action(SPREAD, {"type": "move_next_to", "object": "blue", "target": "red", "side": side})
        blue = final.get("blue")
        # from bottom left, "right" of red is reached only by passing it: it stops at contact instead
        assert max(abs(blue.x - 0.5), abs(blue.y - 0.5)) == pytest.approx(CONTACT, abs=1e-5)
        if side in ("left", "below"):
            assert (blue.x, blue.y) == pytest.approx((0.5 + dx * CONTACT, 0.5 + dy * CONTACT))


def test_chunk_frames_follow_the_easing():
    frames, final = apply_action(SPREAD, move("red", "right", "far"), frames=6)
    assert len(frames) == 6 and frames[-1] == final
    xs = [f.get("red").x for f in frames]
    for k, x in enumerate(xs):
        assert x == pytest.approx(0.5 + 0.35 * ease((k + 1) / 6))
    assert all(a < b for a, b in zip(xs, xs[1:]))
    assert ease(0.0) == 0.0 and ease(1.0) == 1.0 and ease(0.5) == 0.5
    frames, final = apply_action(SPREAD, {"type": "wait"}, frames=3)
    assert frames == [SPREAD] * 3 and final == SPREAD


# -----------------------------------------------------------------------------
# actions: environment


def test_add_fades_in_at_its_place_or_a_free_spot():
    frames, final = apply_action(SPREAD, {"type": "add", "colour": "orange", "shape": "ball", "place": "top_left"})
    new = final.get("orange")
    assert (new.x, new.y, new.shape, new.alpha, new.scale) == (0.2, 0.2, "ball", 1.0, 1.0)
    alphas = [f.get("orange").alpha for f in frames]
    assert alphas[0] > 0 and all(a < b for a, b in zip(alphas, alphas[1:])) and alphas[-1] == 1.0
    assert frames[0].get("orange").scale < 1.0
    _, final = apply_action(SPREAD, {"type": "add", "colour": "yellow", "shape": "cube", "place": None})
    assert_valid_layout(final)
    assert final.colours == SPREAD.colours + ("yellow",)
    # the free spot is deterministic
    assert final == apply_action(SPREAD, {"type": "add", "colour": "yellow", "shape": "cube", "place": None})[1]


def test_remove_recolour_light():
    s = random_scene(3, n_objects=5)
    c = s.objects[0].colour
    frames, final = apply_action(s, {"type": "remove", "object": c})
    assert not final.has(c) and len(final.objects) == 4
    assert frames[0].get(c).alpha < 1.0 and frames[0].get(c).scale < 1.0
    new_colour = next(k for k in COLOURS if not s.has(k))
    frames, final = apply_action(s, {"type": "recolour", "object": c, "colour": new_colour})
    assert final.get(new_colour).shape == s.objects[0].shape and not final.has(c)
    assert final.get(new_colour).settled
    assert frames[0].get(new_colour).prev_colour == c and 0 < frames[0].get(new_colour).colour_blend < 1
    level = "dim" if s.lighting != "dim" else "warm"
    frames, final = apply_action(s, {"type": "light", "level": level})
    assert final.lighting == level and final.prev_lighting is None and final.objects == s.objects
    assert frames[1].prev_lighting == s.lighting
    assert render(frames[-1]).tobytes() == render(final).tobytes()


@pytest.mark.parametrize("action, message", [
    ({"type": "jump"}, "unknown action type"),
    ({"object": "red"}, "'type'"),
    ({"type": "move", "object": "red", "direction": "left"}, "missing"),
    ({"type": "move", "object": "red", "direction": "left", "distance": "far", "speed": 2}, "unknown key"),
    ({"type": "move", "object": "red", "direction": "sideways", "distance": "far"}, "direction"),
    ({"type": "move", "object": "red", "direction": "left", "distance": "huge"}, "distance"),
    ({"type": "move", "object": "orange", "direction": "left", "distance": "far"}, "no orange object"),
    ({"type": "move", "object": "pink", "direction": "left", "distance": "far"}, "object='pink'"),
    ({"type": "move_to", "object": "red", "place": "moon"}, "place"),
    ({"type": "move_next_to", "object": "red", "target": "red", "side": "left"}, "itself"),
    ({"type": "move_next_to", "object": "red", "target": "blue", "side": "behind"}, "side"),
    ({"type": "add", "colour": "red", "shape": "ball", "place": None}, "already on the table"),
    ({"type": "add", "colour": "orange", "shape": "star", "place": None}, "shape"),
    ({"type": "add", "colour": "orange", "shape": "ball", "place": "center"}, "occupied by the red"),
    ({"type": "remove", "object": "red"}, "at least 3"),
    ({"type": "recolour", "object": "red", "colour": "blue"}, "already on the table"),
    ({"type": "light", "level": "disco"}, "level"),
])
def test_invalid_actions_raise(action, message):
    with pytest.raises(ValueError, match=re.escape(message) if message.startswith("'") else message):
        apply_action(SPREAD, action)


def test_table_limits():
    full = random_scene(5, n_objects=6)  # six objects use all six colours
    for colour in COLOURS:
        with pytest.raises(ValueError, match="already on the table"):
            validate_action(full, {"type": "add", "colour": colour, "shape": "ball", "place": None})
    assert not valid_actions(full, ("add",)) and not valid_actions(full, ("recolour",))
    assert not valid_actions(SPREAD, ("remove",))
    mid = apply_action(SPREAD, {"type": "light", "level": "dim"})[0][0]
    with pytest.raises(ValueError, match="settled"):
        apply_action(mid, {"type": "wait"})


def test_every_valid_action_applies_and_keeps_the_layout_valid():
    for seed in range(6):
        s = random_scene(seed)
        actions = valid_actions(s)
        assert {a["type"] for a in actions} >= {"move", "move_to", "move_next_to", "light", "wait"}
        for a in actions:
            json.dumps(a)
            _, final = apply_action(s, a, frames=1)
            assert_valid_layout(final)


def test_sample_action_mix_and_long_rollouts_stay_valid():
    rng = np.random.Generator(np.random.PCG64(0))
    counts = {"agent": 0, "environment": 0, "wait": 0}
    s = random_scene(0)
    for _ in range(1500):
        a = sample_action(s, rng)
        validate_action(s, a)
        counts["agent" if a["type"] in AGENT_ACTIONS else "wait" if a["type"] == "wait" else "environment"] += 1
        _, s = apply_action(s, a, frames=1)
        assert_valid_layout(s)
    total = sum(counts.values())
    assert abs(counts["agent"] / total - 0.60) < 0.05
    assert abs(counts["environment"] / total - 0.25) < 0.05
    assert abs(counts["wait"] / total - 0.15) < 0.04
    only = {sample_action(s, rng, kinds=("light", "remove"))["type"] for _ in range(50)}
    assert only <= {"light", "remove"}


# -----------------------------------------------------------------------------
# language


def some_actions():
    """A spread of valid actions over a few scenes, with the state each applies to."""
    out = []
    for seed in range(3):
        s = random_scene(seed)
        acts = valid_actions(s)
        out += [(s, a) for a in acts[::7]]
        out += [(s, a) for a in acts if a["type"] in ENVIRONMENT_ACTIONS + ("wait",)][::3]
    return out


def test_wordings_of_each_split_are_well_formed_and_disjoint():
    rng = np.random.default_rng(0)
    for s, a in some_actions():
        for _ in range(3):
            train = describe(a, rng, "train", s, noisy=False)
            assert is_train_wording(train, a, s), (a, train)
            for split in ("heldout", "unseen"):
                w = describe(a, rng, split, s)
                assert not is_train_wording(w, a, s), (a, w)
                assert w == w.lower().strip() and "  " not in w and 1 <= len(w.split()) <= MAX_WORDS, w
            assert w.isascii() and re.fullmatch(r"[a-z0-9' -]+", w), w


def test_unseen_split_uses_a_heldout_word_in_every_content_slot():
    rng = np.random.default_rng(3)
    s = scene(("red", "cube", 0.5, 0.5), ("blue", "ball", 0.2, 0.8), ("green", "triangle", 0.8, 0.2))
    held = language.heldout_vocabulary()
    for a in ({"type": "move", "object": "red", "direction": "left", "distance": "far"},
              {"type": "recolour", "object": "blue", "colour": "purple"}, {"type": "light", "level": "dim"}):
        for _ in range(10):
            words = set(language.normalise(describe(a, rng, "unseen", s)).split())
            assert words & held, (a, words)
    # a held-out colour shade always names the right colour, and never reaches training text
    for colour, ph in language.COLOUR_WORDS.items():
        assert ph.heldout and not set(ph.heldout) & set(ph.train)
        for other, ph2 in language.COLOUR_WORDS.items():
            if other != colour:
                assert not set(ph.train + ph.heldout) & set(ph2.train + ph2.heldout), (colour, other)


def test_train_text_is_noisy_as_people_type_and_heldout_text_is_clean():
    rng = np.random.default_rng(5)
    s = random_scene(4)
    acts = valid_actions(s)
    texts = [describe(acts[i % len(acts)], rng, "train", s) for i in range(600)]
    assert 0.2 < np.mean([t != language.normalise(t) for t in texts]) < 0.8  # capitals, punctuation
    clean = [describe(acts[i % len(acts)], np.random.default_rng(i), "train", s, noisy=False) for i in range(600)]
    typos = [not is_train_wording(t, acts[i % len(acts)], s) for i, t in enumerate(texts)]
    assert 0.04 < np.mean(typos) < 0.16  # one text in ten carries a typo
    assert len(set(clean)) > 500  # the grammar is wide: few repeats
    assert max(len(t.split()) for t in clean) > 14  # long, polite sentences too
    assert all(re.fullmatch(r"[a-z0-9' -]+", describe(a, rng, "heldout", s)) for a in acts[:20])


def test_heldout_synonyms_never_appear_in_train_text():
    held = language.heldout_vocabulary()
    assert {"ruby", "sapphire", "jade", "crate", "bead", "propel", "westwards", "northwards", "miles"} <= held
    rng = np.random.default_rng(2)
    vocab = set()
    for s, a in some_actions():
        for _ in range(20):
            vocab.update(language.normalise(describe(a, rng, "train", s, noisy=False)).split())
    assert not held & vocab, held & vocab
    assert vocab <= language.train_vocabulary()
    # a phrase is never train in one list and heldout in another of the same slot
    for a, b in [(language.DISTANCE_AFTER, language.DISTANCE_BEFORE)]:
        for k in a:
            assert not set(a[k].heldout) & set(b[k].train) and not set(b[k].heldout) & set(a[k].train)


def test_object_references_follow_the_shape():
    s = scene(("red", "cube", 0.5, 0.5), ("blue", "ball", 0.2, 0.8), ("green", "triangle", 0.8, 0.2))
    assert is_train_wording("remove the blue ball", {"type": "remove", "object": "blue"}, s)
    assert not is_train_wording("remove the blue block", {"type": "remove", "object": "blue"}, s)
    assert is_train_wording("Get rid of the crimson brick, please.", {"type": "remove", "object": "red"}, s)
    assert is_train_wording("add an orange block", {"type": "add", "colour": "orange", "shape": "cube", "place": None})
    assert is_train_wording("dim the lights", {"type": "light", "level": "dim"})
    assert is_train_wording("wait", {"type": "wait"})
    # viewer-relative and compass directions name the frame's directions
    left = {"type": "move", "object": "red", "direction": "up_left", "distance": "small"}
    assert is_train_wording("could you push the red block northwest a little", left, s)
    assert not is_train_wording("could you push the red block southwest a little", left, s)
    assert is_train_wording("move the red cube away from me a bit",
                            {"type": "move", "object": "red", "direction": "up", "distance": "small"}, s)


def test_freeform_sentences_are_not_the_training_grammars():
    """People's sentences (model/eval/episodes/freeform.jsonl) measure language the model was not taught:
    none is a string the training grammar produces for its action, and at least a third hold a word the
    training vocabulary never uses."""
    from model.eval.freeform import read_freeform
    cases = read_freeform()
    vocab = language.train_vocabulary()
    produced = [c for c in cases if is_train_wording(c["text"], c["action"], random_scene(c["scene_seed"]))]
    assert not produced, [c["text"] for c in produced]
    new_word = [c for c in cases if set(language.normalise(c["text"]).split()) - vocab]
    assert len(new_word) >= len(cases) / 3, f"{len(new_word)} of {len(cases)}"


# -----------------------------------------------------------------------------
# episodes


def test_scene_split_is_deterministic_and_about_ten_percent():
    flags = [is_heldout_scene(seed) for seed in range(5000)]
    assert flags == [is_heldout_scene(seed) for seed in range(5000)]
    assert 0.08 < sum(flags) / len(flags) < 0.12
    assert all(is_heldout_scene(s) for s in scene_seeds("heldout", 20))
    assert not any(is_heldout_scene(s) for s in scene_seeds("train", 20))


def test_episode_round_trip_and_rollout(tmp_path):
    episodes = [generate_episode(seed, 12) for seed in scene_seeds("train", 3) + scene_seeds("heldout", 2)]
    assert generate_episode(episodes[0]["scene_seed"], 12) == episodes[0]
    path = tmp_path / "episodes.jsonl"
    write_episodes(path, episodes)
    assert read_episodes(path) == episodes
    assert len(path.read_text().splitlines()) == len(episodes)

    ep = episodes[-1]
    assert ep["split"] == "heldout" and set(ep) == {"scene_seed", "n_objects", "frames_per_chunk", "size", "split",
                                                    "steps"}
    start = random_scene(ep["scene_seed"], ep["n_objects"])
    state = start
    for step in ep["steps"]:
        assert not is_train_wording(step["text"], step["action"], state)
        _, state = apply_action(state, step["action"])
    frames, states = rollout(ep)
    assert frames.shape == (1 + 12 * 4, 64, 64, 3) and frames.dtype == np.uint8 and len(states) == len(frames)
    assert frames[0].tobytes() == render(start).tobytes() and states[0] == start
    assert states[-1] == state
    assert rollout(read_episodes(path)[-1])[0].tobytes() == frames.tobytes()

    small = generate_episode(3, 2, split="train", frames_per_chunk=2, size=96)
    frames, _ = rollout(small)
    assert frames.shape == (5, 96, 96, 3)


# -----------------------------------------------------------------------------
# detector


def detector_states(count):
    """Settled states: random scenes and scenes after a few random actions."""
    states = []
    for seed in range(count):
        s = random_scene(10_000 + seed)
        if seed % 2:
            rng = np.random.Generator(np.random.PCG64(seed))
            for _ in range(4):
                _, s = apply_action(s, sample_action(s, rng), frames=1)
        states.append(s)
    return states


@pytest.mark.parametrize("size, count", [(64, 300), (96, 40), (128, 40)])
def test_detector_reads_rendered_frames(size, count):
    n_objects = shapes_right = 0
    for s in detector_states(count):
        reading = detect(render(s, size))
        assert reading["lighting"] == s.lighting
        found = {o["colour"]: o for o in reading["objects"]}
        assert sorted(found) == sorted(s.colours) and len(reading["objects"]) == len(s.objects)
        for o in s.objects:
            d = found[o.colour]
            assert abs(d["x"] - o.x) < 0.03 and abs(d["y"] - o.y) < 0.03, (o, d)
            n_objects += 1
            shapes_right += d["shape"] == o.shape
    assert shapes_right / n_objects >= 0.98


def test_reading_from_state_matches_detect_layout():
    s = random_scene(4)
    truth, reading = reading_from_state(s), detect(render(s))
    assert truth["lighting"] == reading["lighting"]
    pairs = lambda r: [(o["colour"], o["shape"]) for o in r["objects"]]
    assert pairs(truth) == pairs(reading)
    for t, r in zip(truth["objects"], reading["objects"]):
        assert r["area"] == pytest.approx(t["area"], rel=0.15)
    assert OBJECT_SIZE ** 2 * 0.4 < truth["objects"][0]["area"] <= OBJECT_SIZE ** 2
