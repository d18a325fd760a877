"""
`python -m model.eval.make_episodes`: write the held-out evaluation episodes.

    python -m model.eval.make_episodes --out model/eval/episodes/heldout.jsonl --n 24 --steps 64

Scenes come from held-out scene seeds only (`is_heldout_scene`, never seen in
training) and the action texts from the held-out wording split (unseen verbs,
nouns and sentence structures). The file uses the world's episode schema
(model/world/README.md); frames are not stored, `rollout` re-simulates them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from model.world import generate_episode, is_heldout_scene, scene_seeds, write_episodes


def make_episodes(n: int, steps: int, first_seed: int = 0, frames_per_chunk: int = 4, size: int = 64) -> list[dict]:
    """n episodes on the first n held-out scene seeds >= first_seed, with held-out wordings."""
    seeds = scene_seeds("heldout", n, start=first_seed)
    assert all(is_heldout_scene(s) for s in seeds)
    return [generate_episode(s, steps, split="heldout", frames_per_chunk=frames_per_chunk, size=size) for s in seeds]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.eval.make_episodes", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=24, help="episodes (default 24)")
    ap.add_argument("--steps", type=int, default=64, help="actions per episode (default 64)")
    ap.add_argument("--first-seed", type=int, default=0, help="scan held-out scene seeds from here (default 0)")
    ap.add_argument("--frames-per-chunk", type=int, default=4)
    ap.add_argument("--size", type=int, default=64, help="nominal frame size (evaluation renders at the bundle's)")
    args = ap.parse_args(argv)
    episodes = make_episodes(args.n, args.steps, args.first_seed, args.frames_per_chunk, args.size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_episodes(args.out, episodes)
    print(f"wrote {len(episodes)} episodes of {args.steps} steps to {args.out} "
          f"({args.out.stat().st_size / 1024:.0f} KiB; scene seeds "
          f"{episodes[0]['scene_seed']}..{episodes[-1]['scene_seed']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
