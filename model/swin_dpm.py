"""Causal Swin-DPM: the two-chunk sliding-window schedule, its noise, and the
training-time noise sampling that matches it.

Flow matching, sigma = 1 pure noise, sigma = 0 data:
    x_sigma = (1 - sigma) * x_data + sigma * noise
    v       = noise - x_data                 (what the decoder predicts)
    x_next  = x - (sigma - sigma_next) * v   (one Euler step)

The window holds two chunks. With K denoising steps per chunk, one decoder call
moves the earlier chunk from 0.5 - s/K to 0.5 - (s+1)/K and the later chunk from
1 - s/K to 1 - (s+1)/K. After K/2 calls the earlier chunk is clean: it is
finished (decoded and shown), the later chunk becomes the earlier one, and a
fresh noise chunk for the newest action is enqueued at sigma 1. Calls are
grouped in phases of K/2: phase p denoises chunk p (later) and chunk p - 1
(earlier; absent in phase 0).

This file is mirrored, call for call, by `src/scheduler/` in the runtime; both
reproduce the golden schedule and noise in `test/vectors/swin-dpm.json`, and the
exporter records them again in each bundle's test vectors (`schedule`, `noise`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------
# Seeded noise shared with the runtime (src/contract/noise.ts).
# A counter-based hash, so any chunk's noise can be drawn without replaying the
# ones before it: a rollout is replayable from (bundle, scene, seed, actions).

STREAM_CHUNK = 1    # initial noise of chunk t (the later window slot)
STREAM_HISTORY = 2  # noise mixed into the history frame while chunk t is the later chunk

_M32 = 0xFFFFFFFF


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser on uint64 arrays holding uint32 values."""
    h = h & _M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def noise_key(seed: int, stream: int, index: int) -> int:
    k = _fmix32(np.array([(seed & _M32) ^ 0x9E3779B9], dtype=np.uint64))
    k = _fmix32(k ^ _fmix32(np.array([((stream & 0xFF) << 24) ^ (index & 0xFFFFFF)], dtype=np.uint64)))
    return int(k[0])


def gaussian_noise(seed: int, stream: int, index: int, count: int) -> np.ndarray:
    """`count` standard normal float32 values for (seed, stream, index)."""
    key = np.uint64(noise_key(seed, stream, index))
    i = np.arange(count, dtype=np.uint64)
    a = _fmix32(key ^ _fmix32(2 * i))
    b = _fmix32(key ^ _fmix32(2 * i + 1))
    u1 = (a.astype(np.float64) + 0.5) / 4294967296.0
    u2 = (b.astype(np.float64) + 0.5) / 4294967296.0
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)  # Box-Muller
    return z.astype(np.float32)


# ---------------------------------------------------------------------------
# The schedule.

@dataclass(frozen=True)
class DenoiseCall:
    """One decoder call: which chunks sit in the window and their noise levels."""
    index: int                 # global call number, from 0
    phase: int                 # = index of the later chunk
    step: int                  # 0 .. K/2 - 1 within the phase
    earlier_chunk: int | None  # phase - 1, None in phase 0
    later_chunk: int
    history_chunk: int         # newest finished chunk, phase - 2 (negative in phases 0 and 1: the start scene)
    sigma: tuple[float, float]       # (earlier, later) before the call
    sigma_next: tuple[float, float]  # (earlier, later) after the call
    enqueue: int | None        # chunk enqueued (fresh noise, new action) before this call
    finish: int | None         # chunk that is clean after this call

    def to_json(self) -> dict:
        return {
            "index": self.index, "phase": self.phase, "step": self.step,
            "earlierChunk": self.earlier_chunk, "laterChunk": self.later_chunk,
            "historyChunk": self.history_chunk,
            "sigma": list(self.sigma), "sigmaNext": list(self.sigma_next),
            "enqueue": self.enqueue, "finish": self.finish,
        }


class SwinDpmSchedule:
    """Which call comes next with which sigmas. Knows nothing of the network."""

    def __init__(self, denoise_steps: int, state_lag: int = 2):
        if denoise_steps < 2 or denoise_steps % 2:
            raise ValueError(f"denoise_steps must be an even number >= 2, got {denoise_steps}")
        if state_lag != 2:
            raise ValueError("a two-chunk window finishes chunk t - 2 when chunk t is enqueued: state_lag must be 2")
        self.K = denoise_steps
        self.half = denoise_steps // 2

    def call(self, index: int) -> DenoiseCall:
        if index < 0:
            raise ValueError("call index must be >= 0")
        phase, step = divmod(index, self.half)
        K = self.K
        sig_l, sig_l_next = 1.0 - step / K, 1.0 - (step + 1) / K
        sig_e, sig_e_next = 0.5 - step / K, 0.5 - (step + 1) / K
        earlier = phase - 1 if phase >= 1 else None
        if earlier is None:
            # No predecessor yet: the earlier slot is empty; its sigmas are
            # reported as 0 and the graph masks the slot out of attention.
            sig_e, sig_e_next = 0.0, 0.0
        return DenoiseCall(
            index=index, phase=phase, step=step,
            earlier_chunk=earlier, later_chunk=phase, history_chunk=phase - 2,
            sigma=(sig_e, sig_l), sigma_next=(sig_e_next, sig_l_next),
            enqueue=phase if step == 0 else None,
            finish=earlier if (step == self.half - 1 and earlier is not None) else None,
        )

    def calls(self, n_chunks: int) -> list[DenoiseCall]:
        """All calls until chunks 0 .. n_chunks - 1 are finished."""
        return [self.call(i) for i in range((n_chunks + 1) * self.half)]

    def noise_level_matrix(self, n_chunks: int) -> np.ndarray:
        """Rows = calls, columns = chunks; sigma of each chunk before the call
        (1 = not yet enqueued, 0 = finished): the diffusion-forcing view."""
        calls = self.calls(n_chunks)
        m = np.ones((len(calls), n_chunks + 1), dtype=np.float64)
        for row, c in enumerate(calls):
            m[row, : max(c.phase - 1, 0)] = 0.0
            if c.earlier_chunk is not None:
                m[row, c.earlier_chunk] = c.sigma[0]
            m[row, c.later_chunk] = c.sigma[1]
        return m[:, :n_chunks]


# ---------------------------------------------------------------------------
# Training-time noise that matches the schedule.

def sample_window_sigmas(first: np.ndarray | bool, rng: np.random.Generator, size: int | None = None):
    """Sigmas for (earlier, later) training windows.

    The earlier chunk's sigma ~ U[0, 0.5] and the later chunk gets it + 0.5, as
    at inference; a window whose later chunk is the very first one (no
    predecessor) draws the later sigma ~ U[0, 1] and has no earlier chunk.
    """
    first = np.broadcast_to(np.asarray(first, dtype=bool), (size,) if size else ())
    sig_e = rng.uniform(0.0, 0.5, size=first.shape)
    sig_l = np.where(first, rng.uniform(0.0, 1.0, size=first.shape), sig_e + 0.5)
    sig_e = np.where(first, 0.0, sig_e)
    return sig_e.astype(np.float32), sig_l.astype(np.float32)


def schedule_vectors(denoise_steps: int, n_chunks: int) -> dict:
    """Golden schedule for the runtime's scheduler tests."""
    sched = SwinDpmSchedule(denoise_steps)
    return {
        "denoiseSteps": denoise_steps,
        "chunks": n_chunks,
        "calls": [c.to_json() for c in sched.calls(n_chunks)],
        "noiseLevels": sched.noise_level_matrix(n_chunks).tolist(),
    }


def noise_vectors() -> dict:
    """Golden noise draws for the runtime's PRNG tests."""
    cases = [(0, STREAM_CHUNK, 0, 8), (1, STREAM_CHUNK, 3, 8), (123456789, STREAM_HISTORY, 77, 8),
             (4294967295, STREAM_CHUNK, 16777215, 8), (42, STREAM_CHUNK, 5, 2048)]
    return {"cases": [
        {"seed": s, "stream": st, "index": i, "count": n, "key": noise_key(s, st, i),
         "values": gaussian_noise(s, st, i, n).tolist()}
        for s, st, i, n in cases
    ]}


__all__ = [
    "STREAM_CHUNK", "STREAM_HISTORY", "noise_key", "gaussian_noise", "DenoiseCall",
    "SwinDpmSchedule", "sample_window_sigmas", "schedule_vectors", "noise_vectors",
]


def main(argv=None):
    """Write the golden schedule and noise vectors the runtime's unit tests read."""
    import argparse
    import json
    from pathlib import Path
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--out", type=Path, default=Path("test/vectors/swin-dpm.json"))
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(golden_vectors(), indent=1) + "\n")
    print(f"wrote {args.out}")


def golden_vectors() -> dict:
    return {"schedules": [schedule_vectors(k, 5) for k in (2, 4, 8, 16)], "noise": noise_vectors()}


if __name__ == "__main__":
    main()
