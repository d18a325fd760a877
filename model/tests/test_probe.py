"""The fast probe: a fixed case set covering every action kind, scored like the evaluation."""
from collections import Counter

import pytest

from model.probe import DRIFT_CHUNKS, probe_baseline, probe_cases, probe_model
from model.world import DIRECTIONS, DISTANCES


def test_cases_cover_every_direction_distance_and_kind():
    cases, drift = probe_cases(32)
    kinds = Counter(c.action["type"] for c in cases)
    assert len(cases) >= 64
    assert {(c.action["direction"], c.action["distance"]) for c in cases if c.action["type"] == "move"} == \
        {(d, s) for d in DIRECTIONS for s in DISTANCES}
    assert all(kinds[k] >= 4 for k in ("move_to", "move_next_to", "add", "remove", "recolour", "light"))
    assert len(drift) >= 2 and all(len(texts) == DRIFT_CHUNKS for _, _, texts in drift)
    assert probe_cases(32)[0][5].text == cases[5].text  # fixed: the same cases every time


def test_repeating_the_last_frame_acts_on_nothing_and_keeps_everything():
    r = probe_baseline(32, 4)
    assert r["direction"] == 0.0 and r["agent_success"] == 0.0 and r["environment_success"] == 0.0
    assert r["found"] == 1.0 and r["kept"] == 1.0 and r["colour_kept_16"] == 1.0
    assert r["score"] == pytest.approx(0.4)

