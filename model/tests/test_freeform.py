"""Tests of the free-form evaluation set (model/eval/episodes/freeform.jsonl) and its loader."""
import json
from collections import Counter

import numpy as np
import pytest

from model.eval import freeform as FF
from model.world import ACTION_TYPES, AGENT_ACTIONS, is_heldout_scene, random_scene, valid_actions

SIZE = 64


@pytest.fixture(scope="module")
def lines():
    return FF.read_freeform()


@pytest.fixture(scope="module")
def n_tokens(lines):
    return FF.token_counts([line["text"] for line in lines])


def test_at_least_300_distinct_sentences(lines):
    assert len(lines) >= 300
    assert len({line["text"] for line in lines}) == len(lines)


def test_every_line_is_a_valid_visible_action_on_a_heldout_scene(lines):
    for line in lines:
        state = FF.check_line(line)  # raises, naming the line, if any of this fails
        assert is_heldout_scene(line["scene_seed"])
        assert line["action"] in valid_actions(state, (line["action"]["type"],)), line
        assert FF.visible_effect(state, line["action"]) is None, line


def test_moves_to_a_place_or_an_object_arrive(lines):
    """A sentence that says "to the corner" or "next to the ball" is labelled with a move that gets there."""
    from model.world.actions import goal_of, travel
    for line in lines:
        a = line["action"]
        if a["type"] in ("move_to", "move_next_to"):
            state = random_scene(line["scene_seed"])
            (x, y), (gx, gy) = travel(state, a["object"], *goal_of(state, a)), goal_of(state, a)
            assert np.hypot(x - gx, y - gy) <= 0.02, line["text"]


def test_scenes_are_the_first_heldout_seeds(lines):
    from model.world import scene_seeds
    seeds = sorted({line["scene_seed"] for line in lines})
    assert seeds == scene_seeds("heldout", len(seeds))


def test_type_mix_is_as_documented(lines):
    counts = Counter(line["action"]["type"] for line in lines)
    assert set(counts) == set(ACTION_TYPES)
    for kind, share in FF.INTENDED_MIX.items():
        assert abs(counts[kind] / len(lines) - share) <= FF.MIX_TOLERANCE, (kind, counts[kind])
    assert counts.most_common(1)[0][0] == "move"


def test_about_one_in_ten_has_a_typo(lines):
    share = sum("typo" in line["tags"] for line in lines) / len(lines)
    assert abs(share - FF.TYPO_SHARE) <= 0.03, share


def test_at_least_a_tenth_is_longer_than_the_encoder_reads(lines, n_tokens):
    long = [n > FF.LONG_TOKENS for n in n_tokens]
    assert sum(long) >= 0.1 * len(lines)
    assert max(n_tokens) > FF.LONG_TOKENS + 4  # some well past the limit, not just over it


def test_computed_tags_agree_with_the_text(lines, n_tokens):
    for line, n in zip(lines, n_tokens):
        have = [t for t in line["tags"] if t in FF.COMPUTED_TAGS]
        assert sorted(have) == sorted(FF.computed_tags(line["text"], n)), line["text"]


def test_voices_are_varied(lines):
    tags = Counter(t for line in lines for t in line["tags"])
    for tag in ("compass", "viewer-relative", "question", "description", "polite", "shade", "shape-noun",
                "british", "american", "hyphen", "capitals"):
        assert tags[tag] >= 2, tag
    assert len({line["scene_seed"] for line in lines}) >= 60


def test_readme_counts_match_the_loader(lines):
    assert FF.readme_summary_text() == FF.readme_block(FF.summary(lines))


def test_cases_and_their_grammar_twins(lines):
    some = lines[::40]
    cases = FF.freeform_cases(some, SIZE, seed=0)
    twins = FF.grammar_twins(cases, seed=0)
    assert [c.text for c in cases] == [line["text"] for line in some]
    for line, c, t in zip(some, cases, twins):
        assert c.state == random_scene(line["scene_seed"]) and c.action == line["action"]
        assert t.action == c.action and t.state == c.state and t.final == c.final
        assert t.frame is c.frame and t.distractor_frames is c.distractor_frames  # the same case, reworded
        assert t.text != c.text
        assert len(c.distractors) == 3 and not any((f == c.target).all() for f in c.distractor_frames)
    assert [t.text for t in twins] == [t.text for t in FF.grammar_twins(cases, seed=0)]  # seeded
    assert {c.action["type"] for c in cases} & set(AGENT_ACTIONS)


def test_bad_lines_are_named(tmp_path):
    ok = {"scene_seed": 24, "text": "roll the navy marble west", "tags": [],
          "action": {"type": "move", "object": "blue", "direction": "left", "distance": "medium"}}
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps(ok) + "\n" + json.dumps({**ok, "tag": []}) + "\n")
    with pytest.raises(ValueError, match="line 2"):
        FF.read_freeform(path)
    train_seed = next(s for s in range(100) if not is_heldout_scene(s))
    with pytest.raises(ValueError, match="training scene"):
        FF.check_line({**ok, "scene_seed": train_seed})
    with pytest.raises(ValueError, match="no purple object"):
        FF.check_line({**ok, "action": {**ok["action"], "object": "purple"}})
    # scene 24's blue ball sits in the top right corner: a move up is stopped by the edge at once
    with pytest.raises(ValueError, match="does not show"):
        FF.check_line({**ok, "action": {**ok["action"], "direction": "up"}})
    with pytest.raises(ValueError, match="already lit"):
        FF.check_line({**ok, "action": {"type": "light", "level": random_scene(24).lighting}})


def test_summary_percentiles(lines, n_tokens):
    s = FF.summary(lines)
    assert s["cases"] == len(lines) and sum(s["by_type"].values()) == len(lines)
    assert s["tokens"]["max"] == max(n_tokens) and s["tokens"]["p50"] == float(np.percentile(n_tokens, 50))
    assert s["longer_than_limit"] == sum(n > FF.LONG_TOKENS for n in n_tokens)
