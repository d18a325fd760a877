"""
The idle run: an open page nobody types into.

With an empty queue the sampler conditions every chunk on the bundle's idle
action (`manifest.actionEncoder.idleAction`, "wait" for the tabletop), so the
world should hold still. From each of N held-out scenes (the first N held-out
scene seeds, which are also the start scenes of the committed episode
file's first N episodes) the world model runs C chunks (default 240: two minutes of a page at
8 fps with 4 frames a chunk) with no action queued, and the detector reads the
last frame of every chunk against the start state:

- unchanged: `judge.scene_unchanged` (same lighting, every object within
  KEEP_TOL with its colour and shape, nothing else); the share of chunks,
  over all chunks and scenes;
- kept: `judge.consistency` (objects with their colour and shape near their
  place, extra blobs against), at chunks 16, 60, 120 and 240 and as a curve;
- identity: `judge.identity` (colour and shape kept wherever the objects
  are), at the same chunks and as a curve.

The curves are means over scenes; chunk k (1-based) is the k-th generated chunk.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from model.eval.judge import consistency, identity, scene_unchanged
from model.eval.samplers import MakeSampler, chunk_frames_uint8
from model.world import WorldState, detect, random_scene, reading_from_state, render, scene_seeds

IDLE_SCENES = 6
IDLE_CHUNKS = 240
IDLE_POINTS = (16, 60, 120, 240)  # chunks at which kept and identity are reported
PIECE = 16  # chunks generated at a time, read and dropped


def idle_states(n: int = IDLE_SCENES) -> list[WorldState]:
    """The start scenes: the first n held-out scene seeds."""
    return [random_scene(s) for s in scene_seeds("heldout", n)]


def points(chunks: int) -> list[int]:
    """The chunks (1-based) reported: IDLE_POINTS up to `chunks`, and `chunks` itself."""
    return sorted({p for p in IDLE_POINTS if p <= chunks} | {chunks})


def idle_rollout(make: MakeSampler, start: WorldState, size: int, chunks: int, seed: int,
                 keep_frames: tuple[int, ...] = ()) -> dict:
    """
    One idle rollout: per chunk, whether the scene is unchanged, kept (consistency) and identity,
    against the start state; and the last frames of the chunks in `keep_frames` (1-based; 0: the start frame).
    """
    gt = reading_from_state(start)
    frame = render(start, size)
    s = make(seed).start(frame)
    out = {"unchanged": [], "kept": [], "identity": [], "frames": {0: frame} if 0 in keep_frames else {}}
    done = 0
    while done < chunks:
        for c in s.run_chunks(min(PIECE, chunks - done)):
            done += 1
            last = chunk_frames_uint8(c)[-1]
            reading = detect(last)
            out["unchanged"].append(scene_unchanged(reading, gt))
            out["kept"].append(consistency(reading, gt))
            out["identity"].append(identity(reading, gt))
            if done in keep_frames:
                out["frames"][done] = last
    return out


def score_idle(make: MakeSampler, states: list[WorldState], size: int, chunks: int = IDLE_CHUNKS, seed: int = 0,
               desc: str = "idle") -> tuple[dict, dict]:
    """
    -> (scores, frames): scores {"scenes", "chunks", "unchanged", "kept_at": {k: mean}, "identity_at",
    "unchanged_curve", "kept_curve", "identity_curve"}; frames {0: {k: last frame of chunk k}}: the first
    scene at the start (k = 0) and at the reported chunks, for the report.
    """
    ks = points(chunks)
    runs = [idle_rollout(make, st, size, chunks, seed + j, (0, *ks) if j == 0 else ())
            for j, st in enumerate(tqdm(states, desc=desc, leave=False))]
    curve = {key: np.mean([r[key] for r in runs], axis=0) for key in ("unchanged", "kept", "identity")}
    scores = {
        "scenes": len(states), "chunks": chunks,
        "unchanged": float(curve["unchanged"].mean()),
        "kept_at": {k: float(curve["kept"][k - 1]) for k in ks},
        "identity_at": {k: float(curve["identity"][k - 1]) for k in ks},
        **{f"{key}_curve": [float(x) for x in curve[key]] for key in ("unchanged", "kept", "identity")},
    }
    return scores, {0: runs[0]["frames"]} if runs else {}
