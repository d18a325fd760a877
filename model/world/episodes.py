"""
Episodes: a start scene plus a sequence of worded actions, stored as JSON lines.

One episode is one JSON object (one line of a .jsonl file):

    {
      "scene_seed": int,               # the start scene is random_scene(scene_seed, n_objects)
      "n_objects": int,                # objects in the start scene (3-6)
      "frames_per_chunk": int,         # F: frames each action spans
      "size": int,                     # frame side in pixels (frames are size x size RGB)
      "split": "train" | "heldout",    # the wording split the texts were drawn from
      "steps": [                       # one step per chunk
        {"text": str, "action": {...}} # the wording and its structured action (see actions.py)
      ]
    }

Frames are not stored: rollout(episode) re-simulates them exactly, giving
1 + len(steps) * F frames where frame 0 is the start scene and frames
1 + i*F ... (i+1)*F show step i.

Scene seeds are split once and for all by is_heldout_scene (about 10% heldout),
so evaluation scenes never appear in training. The wording split of an episode
defaults to its scene's split but can be chosen (e.g. heldout wordings on train
scenes, to measure paraphrase generalisation alone).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.world.actions import ACTION_TYPES, apply_action, sample_action
from model.world.language import SPLITS, describe
from model.world.render import render
from model.world.scene import WorldState, random_scene

HELDOUT_PERCENT = 10
EPISODE_KEYS = ("scene_seed", "n_objects", "frames_per_chunk", "size", "split", "steps")
_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """A fixed 64-bit integer hash, so the split does not depend on Python's hash seed."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def is_heldout_scene(seed: int) -> bool:
    """True for the ~10% of scene seeds reserved for evaluation."""
    return _splitmix64(seed) % 100 < HELDOUT_PERCENT


def scene_split(seed: int) -> str:
    return "heldout" if is_heldout_scene(seed) else "train"


def scene_seeds(split: str, count: int, start: int = 0) -> list[int]:
    """The first `count` scene seeds >= start that belong to the split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    seeds, seed = [], start
    while len(seeds) < count:
        if scene_split(seed) == split:
            seeds.append(seed)
        seed += 1
    return seeds


def generate_episode(
    seed: int,
    n_steps: int,
    split: str | None = None,
    frames_per_chunk: int = 4,
    size: int = 64,
    kinds=ACTION_TYPES,
) -> dict:
    """
    An episode on scene `seed` with n_steps sampled actions and their wordings.
    split: wording split, default the scene's own. kinds: action types to sample.
    """
    split = scene_split(seed) if split is None else split
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    state = random_scene(seed)
    n_objects = len(state.objects)
    # a stream of its own, so the scene does not depend on how many steps are drawn
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    steps = []
    for _ in range(n_steps):
        action = sample_action(state, rng, kinds)
        steps.append({"text": describe(action, rng, split, state), "action": action})
        _, state = apply_action(state, action, frames=1)
    return {
        "scene_seed": seed,
        "n_objects": n_objects,
        "frames_per_chunk": frames_per_chunk,
        "size": size,
        "split": split,
        "steps": steps,
    }


def rollout_states(episode: dict) -> list[WorldState]:
    """The ground-truth state of every frame: 1 + len(steps) * F states, start scene first."""
    missing = [k for k in EPISODE_KEYS if k not in episode]
    if missing:
        raise ValueError(f"episode is missing key(s) {missing}")
    state = random_scene(episode["scene_seed"], episode["n_objects"])
    states = [state]
    for i, step in enumerate(episode["steps"]):
        try:
            chunk, state = apply_action(state, step["action"], episode["frames_per_chunk"])
        except ValueError as e:
            raise ValueError(f"episode {episode['scene_seed']} step {i}: {e}") from None
        states += chunk
    return states


def rollout(episode: dict) -> tuple[np.ndarray, list[WorldState]]:
    """(frames uint8 (1 + len(steps) * F, size, size, 3), the state of each frame)."""
    states = rollout_states(episode)
    frames = np.stack([render(s, episode["size"]) for s in states])  # (T, H, W, 3)
    return frames, states


def write_episodes(path: str | Path, episodes) -> None:
    """Write episodes as JSON lines (one episode per line)."""
    with open(path, "w", encoding="ascii") as f:
        for episode in episodes:
            f.write(json.dumps(episode, separators=(",", ":")) + "\n")


def read_episodes(path: str | Path) -> list[dict]:
    """Read a JSON-lines file written by write_episodes."""
    with open(path, encoding="ascii") as f:
        return [json.loads(line) for line in f if line.strip()]
