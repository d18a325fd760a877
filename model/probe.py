"""A fast probe of action following: minutes, not the full evaluation's twenty.

    python -m model.probe --checkpoint runs/cpu/ckpt.pt
    python -m model.probe --bundle public/models/tabletop

A fixed set of one-step cases on held-out scenes with held-out wordings: a move
in each of the 8 directions at each of the 3 distances, move_to, move_next_to,
add, remove, recolour and lighting. Each case starts a fresh session on the
case's frame, queues the action and reads the first chunk's last frame with the
detector (`model/eval/judge.py`: right direction, named object found, the rest
of the scene kept, placement error). A few 16-chunk rollouts of moves score
colour drift: the share of the scene's colours still read, and no others, at
the last chunk. Every score is given beside repeating the last frame.

Training runs the probe on its EMA weights every `--probe-every` steps, logs
it and keeps the best checkpoint by `score`: the mean of right direction, agent
and environment success, scene kept and colours kept (repeating the last frame
scores 0.4, a perfect model 1.0).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from model.eval.cases import ActionCase, outcome
from model.eval.fidelity import score_fidelity
from model.eval.judge import identity
from model.eval.samplers import RepeatLastFrame, chunk_frames_uint8
from model.world import (
    DIRECTIONS, DISTANCES, LIGHTING_LEVELS, PLACES, describe, detect, random_scene, reading_from_state, render,
    scene_seeds, valid_actions,
)
from model.world.actions import moved_distance

DRIFT_ROLLOUTS = 4
DRIFT_CHUNKS = 16


def _move_case(rng, pool, direction, distance):
    """The next held-out scene with an object whose move of this kind is not blocked (>= 80% of its length)."""
    for seed in pool:
        state = random_scene(seed)
        for obj in rng.permutation(list(state.colours)):
            a = {"type": "move", "object": str(obj), "direction": direction, "distance": distance}
            if moved_distance(state, a) >= 0.8 * DISTANCES[distance]:
                return state, a
    raise RuntimeError("no held-out scene fits")


@lru_cache(maxsize=4)
def probe_cases(size: int) -> tuple[list[ActionCase], list[tuple]]:
    """(one-step cases, drift rollouts as (start state, actions, texts)); fixed, seeded."""
    rng = np.random.default_rng(2024)
    seeds = scene_seeds("heldout", 2000)
    rng.shuffle(seeds)
    pool = iter(seeds)
    plan = []  # (state, action)
    for d in DIRECTIONS:
        for dist in DISTANCES:
            plan.append(_move_case(rng, pool, d, dist))
    places = list(PLACES)
    for kind, n in (("move_to", 8), ("move_next_to", 4), ("add", 8), ("remove", 8), ("recolour", 8), ("light", 4)):
        made = 0
        while made < n:
            state = random_scene(next(pool))
            options = valid_actions(state, (kind,))
            if kind == "move_to":
                options = [a for a in options if a["place"] == places[made % len(places)]]
            if kind == "light":
                options = [a for a in options if a["level"] == LIGHTING_LEVELS[made % len(LIGHTING_LEVELS)]
                           and a["level"] != state.lighting]
            if kind in ("move_to", "move_next_to"):
                options = [a for a in options if moved_distance(state, a) >= 0.08]
            if not options:
                continue
            plan.append((state, options[int(rng.integers(len(options)))]))
            made += 1
    cases = []
    for i, (state, action) in enumerate(plan):
        final = outcome(state, action)
        cases.append(ActionCase(episode=i, step=0, state=state, action=action,
                                text=describe(action, rng, "heldout", state), final=final,
                                frame=render(state, size), target=render(final, size)))
    drift = []
    for _ in range(DRIFT_ROLLOUTS):
        start = random_scene(next(pool))
        drift.append((start, *_move_rollout(start, DRIFT_CHUNKS, rng)))
    return cases, drift


def _move_rollout(state, chunks: int, rng) -> tuple[list, list[str]]:
    """`chunks` random moves of a visible distance from `state`, and their held-out wordings."""
    actions, texts = [], []
    for _ in range(chunks):
        options = [a for a in valid_actions(state, ("move",)) if moved_distance(state, a) >= 0.05]
        a = options[int(rng.integers(len(options)))]
        actions.append(a)
        texts.append(describe(a, rng, "heldout", state))
        state = outcome(state, a)
    return actions, texts


def _colours_kept(frame: np.ndarray, colours: set[str]) -> float:
    seen = {o["colour"] for o in detect(frame)["objects"]}
    return len(seen & colours) / max(1, len(seen | colours))


def _identity_kept(frame: np.ndarray, state) -> float:
    """The scene's objects still there with their colour and shape, wherever they are, and nothing else
    (model/eval/judge.py `identity`). Placement is judged elsewhere; this is drift alone."""
    return identity(detect(frame), reading_from_state(state))


def unseen_texts(cases: list[ActionCase]) -> list[str]:
    """The probe's cases worded with a held-out word in every slot of content (model/world/language.py,
    split "unseen"): colour shades, shape nouns, verbs, directions, distances, places never trained on."""
    rng = np.random.default_rng(4048)
    return [describe(c.action, rng, "unseen", c.state) for c in cases]


def _first_frames(make, cases: list[ActionCase], texts: list[str], seed: int) -> np.ndarray:
    last = []
    for i, (case, text) in enumerate(zip(cases, texts)):
        s = make(seed + i).start(case.frame)
        s.act(text)
        last.append(chunk_frames_uint8(s.run_chunks(1)[0])[-1])
    return np.stack(last)


def _mean(xs) -> float:
    xs = [float(x) for x in xs if x is not None]
    return float(np.mean(xs)) if xs else 0.0


def run_probe(make, size: int, seed: int = 0, unseen: bool = True, idle: tuple[int, int] | None = (4, 40)) -> dict:
    """`make(seed)` -> a sampler (model/eval/samplers.py interface). Returns the probe's scores: the one-step
    cases in held-out wordings, the same cases in unseen words (`unseen_*`), colour and identity drift over
    16-chunk move rollouts, and an idle page (`idle_*`: `idle` = (scenes, chunks), see `idle_drift`)."""
    t0 = time.time()
    cases, drift = probe_cases(size)
    fid = score_fidelity(cases, _first_frames(make, cases, [c.text for c in cases], seed))
    records = fid["cases"]
    moves = [r for r in records if r["type"] == "move"]
    kept_colour, identity_curve = [], []
    for j, (start, actions, texts) in enumerate(drift):
        s = make(seed + 1000 + j).start(render(start, size))
        for t in texts:
            s.act(t)
        chunks = s.run_chunks(DRIFT_CHUNKS)
        kept_colour.append(_colours_kept(chunk_frames_uint8(chunks[-1])[-1], set(start.colours)))
        state = start
        for a, c in zip(actions, chunks):
            state = outcome(state, a)
            identity_curve.append(_identity_kept(chunk_frames_uint8(c)[-1], state))

    agent = [r for r in records if r["type"] in ("move", "move_to", "move_next_to")]
    out = {
        "cases": len(cases),
        "direction": _mean(r["direction_ok"] for r in agent),
        "found": _mean(r["position_error"] is not None for r in agent),
        "kept": _mean(r["kept"] for r in records),
        "position_error": _mean(r["position_error"] for r in agent),
        "move_success": _mean(r["success"] for r in moves),
        "agent_success": fid["summary"]["agent"] or 0.0,
        "environment_success": fid["summary"]["environment"] or 0.0,
        "by_type": {k: v["success"] for k, v in fid["summary"]["by_type"].items()},
        "colour_kept_16": _mean(kept_colour),
        # Every chunk of the drift rollouts, not only the last: less noisy, and not part of the score.
        "identity_kept": _mean(identity_curve),
    }
    # Repeating the last frame keeps every object and colour but acts on nothing: it scores 0.4.
    out["score"] = (out["direction"] + out["agent_success"] + out["environment_success"] + out["kept"]
                    + out["colour_kept_16"]) / 5.0
    if unseen:
        ufid = score_fidelity(cases, _first_frames(make, cases, unseen_texts(cases), seed))
        uagent = [r for r in ufid["cases"] if r["type"] in ("move", "move_to", "move_next_to")]
        out.update({"unseen_direction": _mean(r["direction_ok"] for r in uagent),
                    "unseen_agent_success": ufid["summary"]["agent"] or 0.0,
                    "unseen_environment_success": ufid["summary"]["environment"] or 0.0,
                    "unseen_kept": _mean(r["kept"] for r in ufid["cases"])})
    if idle:
        d = idle_drift(make, size, scenes=idle[0], chunks=idle[1])
        out.update({"idle_unchanged": d["unchanged"], "idle_kept_last": d["kept_last"],
                    "idle_chunks": d["chunks"]})
    if unseen and idle:
        # What a person meets: the grammar's score, words never trained on, and an open page holding still.
        out["score_people"] = (out["score"] * 5 + out["unseen_direction"] + out["unseen_agent_success"]
                               + out["unseen_environment_success"] + out["idle_unchanged"]) / 9.0
    out["seconds"] = time.time() - t0
    return out


def long_drift(make, size: int, rollouts: int = 8, chunks: int = 32) -> dict:
    """Identity kept over longer rollouts than the probe's: `rollouts` held-out scenes, `chunks` chunks of
    moves each (held-out wordings); the mean over every chunk of `_identity_kept`, and by quarter of the
    rollout. Minutes, not seconds: not part of the score, for comparing runs on drift."""
    t0 = time.time()
    rng = np.random.default_rng(77)
    seeds = scene_seeds("heldout", 3000)
    rng.shuffle(seeds)
    curves = []
    for j in range(rollouts):
        start = random_scene(int(seeds[j]))
        actions, texts = _move_rollout(start, chunks, rng)
        s = make(1000 + j).start(render(start, size))
        for t in texts:
            s.act(t)
        state, curve = start, []
        for a, c in zip(actions, s.run_chunks(chunks)):
            state = outcome(state, a)
            curve.append(_identity_kept(chunk_frames_uint8(c)[-1], state))
        curves.append(curve)
    c = np.array(curves)
    quarters = c[:, : chunks // 4 * 4].reshape(rollouts, 4, -1).mean(axis=(0, 2))
    return {"rollouts": rollouts, "chunks": chunks, "identity_kept": float(c.mean()),
            "by_quarter": [float(x) for x in quarters], "seconds": time.time() - t0}


def idle_drift(make, size: int, scenes: int = 4, chunks: int = 60) -> dict:
    """An open page nobody acts on: `scenes` held-out scenes, `chunks` chunks of the idle action each
    (the sampler's own, with nothing queued). Per chunk, whether its last frame shows the start scene
    unchanged (model/eval/judge.py `scene_unchanged`); the share of such chunks, and the objects kept
    (colour, shape and place: `consistency`) and their identity (colour and shape) at the last chunk.
    The fast version of the evaluation's idle run (240 chunks); repeating the last frame scores 1."""
    from model.eval.judge import consistency, scene_unchanged
    t0 = time.time()
    seeds = scene_seeds("heldout", 4000)
    np.random.default_rng(91).shuffle(seeds)
    unchanged, kept, ident = [], [], []
    for j in range(scenes):
        start = random_scene(int(seeds[j]))
        gt = reading_from_state(start)
        s = make(2000 + j).start(render(start, size))
        curve = []
        for c in s.run_chunks(chunks):
            curve.append(scene_unchanged(detect(chunk_frames_uint8(c)[-1]), gt))
        last = detect(chunk_frames_uint8(c)[-1])
        unchanged.append(float(np.mean(curve)))
        kept.append(consistency(last, gt))
        ident.append(identity(last, gt))
    return {"scenes": scenes, "chunks": chunks, "unchanged": float(np.mean(unchanged)),
            "kept_last": float(np.mean(kept)), "identity_last": float(np.mean(ident)), "seconds": time.time() - t0}


def probe_model(model, action_encoder, seed: int = 0, idle: tuple[int, int] | None = (4, 40)) -> dict:
    """The probe on a PyTorch GLP model (training's EMA weights)."""
    import torch

    from model.sampler import ReferenceSampler, TorchGraphs
    graphs = TorchGraphs(model)
    was_training = model.training
    with torch.no_grad():
        res = run_probe(lambda s: ReferenceSampler(graphs, action_encoder, s), model.cfg.image_size, seed, idle=idle)
    model.train(was_training)
    return res


def probe_baseline(size: int, chunk_frames: int, idle: tuple[int, int] | None = (4, 40)) -> dict:
    return run_probe(lambda s: RepeatLastFrame(chunk_frames), size, idle=idle)


def format_row(name: str, r: dict) -> str:
    row = (f"{name:<22} direction {r['direction']:.3f}  found {r['found']:.3f}  kept {r['kept']:.3f}  "
           f"pos.err {r['position_error']:.3f}  env {r['environment_success']:.3f}  "
           f"colour kept@16 {r['colour_kept_16']:.3f}  identity {r.get('identity_kept', float('nan')):.3f}  "
           f"score {r['score']:.3f}")
    if "unseen_direction" in r:
        row += (f"\n{'':<22} unseen words: direction {r['unseen_direction']:.3f}  agent {r['unseen_agent_success']:.3f}"
                f"  env {r['unseen_environment_success']:.3f}  kept {r['unseen_kept']:.3f}")
    if "idle_unchanged" in r:
        row += f"\n{'':<22} idle {r['idle_chunks']} chunks: unchanged {r['idle_unchanged']:.3f}  kept {r['idle_kept_last']:.3f}"
    if "score_people" in r:
        row += f"  score (with unseen words and idle) {r['score_people']:.3f}"
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a training checkpoint (EMA weights are probed)")
    src.add_argument("--bundle", type=Path, help="an exported bundle folder (fp32 graphs, onnxruntime CPU)")
    ap.add_argument("--text-encoder", type=Path, help="action encoder folder (default: the bundle's, or the shipped one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the scores here")
    ap.add_argument("--long-drift", action="store_true",
                    help="also identity kept over 8 held-out rollouts of 32 move chunks (minutes; see long_drift)")
    ap.add_argument("--idle-chunks", type=int, default=40,
                    help="chunks of the idle run from each of 4 held-out scenes (0: none; the evaluation runs 240)")
    ap.add_argument("--record", action="store_true",
                    help="store the result in the checkpoint as the probe of its weights (what its model card quotes)")
    args = ap.parse_args(argv)
    if args.record and not args.checkpoint:
        ap.error("--record needs --checkpoint")
    import torch
    torch.set_num_threads(args.threads)
    from model.text_encoder import ActionEncoder
    idle = (4, args.idle_chunks) if args.idle_chunks else None
    if args.checkpoint:
        from model.checkpoint import load_checkpoint
        model, _ = load_checkpoint(args.checkpoint)
        text_dir = args.text_encoder or Path("public/models/tabletop/text-encoder")
        encoder = ActionEncoder(text_dir, model.cfg.max_action_tokens)
        res = probe_model(model, encoder, idle=idle)
        size, frames = model.cfg.image_size, model.cfg.chunk_frames
        if args.long_drift:
            from model.sampler import ReferenceSampler, TorchGraphs
            graphs = TorchGraphs(model)
            with torch.no_grad():
                res["long_drift"] = long_drift(lambda s: ReferenceSampler(graphs, encoder, s), size)
    else:
        from model.eval.samplers import load_bundle
        b = load_bundle(args.bundle, threads=args.threads)
        res = run_probe(b.sampler, b.size, idle=idle)
        size, frames = b.size, b.chunk_frames
        if args.long_drift:
            res["long_drift"] = long_drift(b.sampler, b.size)
    base = probe_baseline(size, frames, idle=idle)
    print(format_row("model", res))
    print(format_row("repeat last frame", base))
    print(f"{res['cases']} cases in {res['seconds']:.0f}s; success by type: "
          + ", ".join(f"{k} {v:.2f}" for k, v in res["by_type"].items()))
    if "long_drift" in res:
        d = res["long_drift"]
        print(f"identity kept over {d['rollouts']} rollouts of {d['chunks']} move chunks: {d['identity_kept']:.3f} "
              f"(by quarter {', '.join(f'{x:.3f}' for x in d['by_quarter'])}; {d['seconds']:.0f}s)")
    if args.json:
        args.json.write_text(json.dumps({"model": res, "repeat_last_frame": base}, indent=1) + "\n")
    if args.record:
        record_probe(args.checkpoint, res)
        print(f"recorded in {args.checkpoint}")


def record_probe(checkpoint: Path, res: dict) -> None:
    """Store a probe of a checkpoint's weights in its metadata, at its step (model_card.py quotes it)."""
    import torch
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    stages = ck.setdefault("meta", {}).setdefault("stages", {})
    glp = stages.setdefault("glp", {})
    glp["last_probe"] = {"step": glp.get("steps", ck.get("step")), **res}
    torch.save(ck, checkpoint)


if __name__ == "__main__":
    main()
