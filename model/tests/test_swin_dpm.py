"""The Causal Swin-DPM schedule, its seeded noise, and the training noise that matches it."""
import json
from pathlib import Path

import numpy as np
import pytest

from model.swin_dpm import (STREAM_CHUNK, STREAM_HISTORY, SwinDpmSchedule, gaussian_noise, golden_vectors,
                            noise_key, sample_window_sigmas)

ROOT = Path(__file__).resolve().parents[2]


def test_window_sigmas_follow_the_design():
    s = SwinDpmSchedule(8)
    phase0 = [s.call(i) for i in range(4)]
    assert [c.sigma[1] for c in phase0] == [1.0, 0.875, 0.75, 0.625]
    assert phase0[-1].sigma_next[1] == 0.5
    assert all(c.earlier_chunk is None and c.sigma[0] == 0.0 for c in phase0)
    phase1 = [s.call(i) for i in range(4, 8)]
    # the earlier chunk goes 0.5 -> 0 while the later goes 1 -> 0.5, one step of 1/K per call
    assert [c.sigma for c in phase1] == [(0.5, 1.0), (0.375, 0.875), (0.25, 0.75), (0.125, 0.625)]
    assert phase1[-1].sigma_next == (0.0, 0.5)
    assert phase1[0].enqueue == 1 and phase1[-1].finish == 0


def test_every_chunk_takes_k_calls_and_is_finished_once():
    for K in (2, 4, 8, 16):
        s = SwinDpmSchedule(K)
        calls = s.calls(6)
        finished = [c.finish for c in calls if c.finish is not None]
        assert finished == list(range(6))
        for chunk in range(6):
            touching = [c for c in calls if chunk in (c.earlier_chunk, c.later_chunk)]
            assert len(touching) == K  # action latency: K decoder calls from enqueue to finish
            sig = [c.sigma[0] if c.earlier_chunk == chunk else c.sigma[1] for c in touching]
            nxt = [c.sigma_next[0] if c.earlier_chunk == chunk else c.sigma_next[1] for c in touching]
            assert sig[0] == 1.0 and nxt[-1] == 0.0
            assert np.allclose(np.diff(sig), -1.0 / K)


def test_history_is_two_chunks_behind_the_enqueued_one():
    s = SwinDpmSchedule(4)
    for c in s.calls(5):
        assert c.history_chunk == c.later_chunk - 2  # stateLag


def test_noise_level_matrix_is_monotone_per_chunk():
    m = SwinDpmSchedule(8).noise_level_matrix(5)
    assert m.shape == (24, 5)
    assert (np.diff(m, axis=0) <= 1e-12).all()  # a chunk only ever gets cleaner
    assert m[0, 0] == 1.0
    assert m[-1].tolist() == [0.0, 0.0, 0.0, 0.0, 0.125]  # last call: chunk 4 is one step from clean


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="even"):
        SwinDpmSchedule(5)
    with pytest.raises(ValueError, match="state_lag"):
        SwinDpmSchedule(4, state_lag=1)


def test_noise_is_seeded_counter_based_and_gaussian():
    a = gaussian_noise(7, STREAM_CHUNK, 3, 100_000)
    assert np.array_equal(a, gaussian_noise(7, STREAM_CHUNK, 3, 100_000))
    assert np.array_equal(a[:10], gaussian_noise(7, STREAM_CHUNK, 3, 10))  # a prefix draws the same values
    assert not np.array_equal(a[:10], gaussian_noise(7, STREAM_CHUNK, 4, 10))
    assert not np.array_equal(a[:10], gaussian_noise(7, STREAM_HISTORY, 3, 10))
    assert not np.array_equal(a[:10], gaussian_noise(8, STREAM_CHUNK, 3, 10))
    assert abs(a.mean()) < 0.02 and abs(a.std() - 1.0) < 0.02
    assert noise_key(0, 1, 0) != noise_key(0, 1, 1)


def test_training_sigmas_match_inference():
    rng = np.random.default_rng(0)
    first = np.zeros(10_000, bool)
    first[:2000] = True
    e, l = sample_window_sigmas(first, rng, size=len(first))
    assert (e[first] == 0).all() and l[first].min() >= 0 and l[first].max() <= 1  # no predecessor: U[0, 1]
    rest = ~first
    assert e[rest].min() >= 0 and e[rest].max() <= 0.5
    assert np.allclose(l[rest], e[rest] + 0.5)  # the later chunk is half a schedule behind


def test_committed_golden_vectors_are_current():
    """The runtime's unit tests read test/vectors/swin-dpm.json: it must be what Python computes now."""
    committed = json.loads((ROOT / "test" / "vectors" / "swin-dpm.json").read_text())
    assert committed == json.loads(json.dumps(golden_vectors())), "run: python -m model.swin_dpm"
