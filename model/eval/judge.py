"""
Judging frames by what the detector reads in them.

Every comparison here is between a detector reading of a frame (generated, or
ground truth for the detector check) and the simulator's exact reading
(`reading_from_state`). Readings have the layout of `model.world.detect`:
{"lighting": level, "objects": [{"colour", "shape", "x", "y", "area"}, ...]}.
Positions are in table widths (the table is [0, 1] x [0, 1]); an object is
about 0.18 wide, and the detector is within 0.006 on rendered frames of 64 px
or more (0.013 at 32 px).

A generated frame may hold two blobs of one colour; the larger is taken as
the object and every further blob counts as an extra.
"""
from __future__ import annotations

import math

from model.world import AGENT_ACTIONS, WorldState, reading_from_state

# Tolerances, in table widths.
POSITION_TOL = 0.06   # the acted-on object's final position (a third of an object's side)
KEEP_TOL = 0.05       # every other object must stay within this of where it was
CONSISTENCY_TOL = 0.08  # long rollouts: an object still "the same object" if this close to ground truth
MATCH_TOL = 0.03      # planning: two states are the same state
DIRECTION_COS = 0.7   # direction of motion right if cos(predicted, true displacement) > this
MIN_MOTION = 0.03     # agent actions that move their object less have no direction to judge
STILL = 0.015         # a predicted displacement this small is "did not move" (detector noise is < 0.013)


def split_reading(reading: dict) -> tuple[dict[str, dict], int]:
    """(colour -> the largest detected object of that colour, number of extra blobs)."""
    by_colour: dict[str, dict] = {}
    for o in reading["objects"]:
        if o["colour"] not in by_colour or o["area"] > by_colour[o["colour"]]["area"]:
            by_colour[o["colour"]] = o
    extras = len(reading["objects"]) - len(by_colour)
    return by_colour, extras


def distance(a: dict, b: dict) -> float:
    return math.hypot(a["x"] - b["x"], a["y"] - b["y"])


def scene_kept(pred: dict, gt: dict, skip=(), tol: float = KEEP_TOL) -> bool:
    """
    The rest of the scene is unchanged: every ground-truth object whose colour
    is not in `skip` is found within `tol` of its place, and the prediction has
    no object of a colour outside ground truth and `skip`, and no duplicates.
    """
    objs, extras = split_reading(pred)
    want, _ = split_reading(gt)
    if extras:
        return False
    if any(c not in want and c not in skip for c in objs):
        return False
    return all(c in objs and distance(objs[c], o) <= tol for c, o in want.items() if c not in skip)


def judge_action(start: WorldState, action: dict, final: WorldState, pred: dict) -> dict:
    """
    Did the frame whose reading is `pred` show `action` applied to `start`?

    Agent actions (move, move_to, move_next_to): success when the named object
    is found by its colour within POSITION_TOL of its true final position, the
    lighting is unchanged and every other object is within KEEP_TOL of its
    place, none missing, none extra. `position_error` is that object's distance
    from its true final position (None when not found); `direction_ok` is
    cos(predicted, true displacement) > DIRECTION_COS, judged only when the
    true displacement is at least MIN_MOTION (None otherwise); a predicted
    displacement under STILL counts as no motion, hence wrong.

    Environment actions:
      add       an object of the new colour within POSITION_TOL of its true place;
      remove    no object of that colour left, the rest of the scene kept;
      recolour  an object of the new colour within POSITION_TOL of the old
                object's place, and none of the old colour;
      light     the detected lighting is the target level.
    wait: the scene kept.

    `kept` (for every type): the objects the action does not name are all
    within KEEP_TOL, none missing or extra, and the lighting is unchanged
    (light actions: not judged on lighting).
    """
    gt = reading_from_state(final)
    objs, _ = split_reading(pred)
    kind = action["type"]
    # the colours the action is about; the rest of the scene must stay as it was
    if kind in AGENT_ACTIONS or kind == "remove":
        named = {action["object"]}
    elif kind == "add":
        named = {action["colour"]}
    elif kind == "recolour":
        named = {action["object"], action["colour"]}
    else:
        named = set()
    lighting_ok = pred["lighting"] == gt["lighting"]
    kept = scene_kept(pred, gt, skip=named) and (lighting_ok or kind == "light")
    out = {"type": kind, "kept": kept, "position_error": None, "direction_ok": None}

    if kind in AGENT_ACTIONS:
        colour = action["object"]
        true_end = next(o for o in gt["objects"] if o["colour"] == colour)
        true_start = start.get(colour)
        found = colour in objs
        if found:
            out["position_error"] = distance(objs[colour], true_end)
        tx, ty = true_end["x"] - true_start.x, true_end["y"] - true_start.y
        if math.hypot(tx, ty) >= MIN_MOTION:
            cos = 0.0
            if found:
                px, py = objs[colour]["x"] - true_start.x, objs[colour]["y"] - true_start.y
                if math.hypot(px, py) >= STILL:
                    cos = (px * tx + py * ty) / (math.hypot(px, py) * math.hypot(tx, ty))
            out["direction_ok"] = cos > DIRECTION_COS
        out["success"] = found and out["position_error"] <= POSITION_TOL and kept
    elif kind == "add":
        true_new = next(o for o in gt["objects"] if o["colour"] == action["colour"])
        c = action["colour"]
        out["success"] = c in objs and distance(objs[c], true_new) <= POSITION_TOL
    elif kind == "remove":
        out["success"] = action["object"] not in objs and kept
    elif kind == "recolour":
        old = start.get(action["object"])
        new = objs.get(action["colour"])
        near = new is not None and math.hypot(new["x"] - old.x, new["y"] - old.y) <= POSITION_TOL
        out["success"] = near and action["object"] not in objs
    elif kind == "light":
        out["success"] = pred["lighting"] == action["level"]
    elif kind == "wait":
        out["success"] = kept
    else:
        raise ValueError(f"unknown action type {kind!r}")
    out["success"] = bool(out["success"])
    return out


def consistency(pred: dict, gt: dict, tol: float = CONSISTENCY_TOL) -> float:
    """
    Object identity, count and colour kept: matched / (ground-truth objects +
    unmatched predicted blobs), where a ground-truth object is matched when the
    prediction has a blob of its colour and shape within `tol`. 1 exactly when
    the same objects are seen in about the same places and nothing else;
    missing, recoloured, reshaped, lost or spurious objects all lower it.
    """
    objs, extras = split_reading(pred)
    matched = sum(1 for o in gt["objects"] if o["colour"] in objs and objs[o["colour"]]["shape"] == o["shape"]
                  and distance(objs[o["colour"]], o) <= tol)
    unmatched_pred = len(pred["objects"]) - matched
    return matched / max(len(gt["objects"]) + unmatched_pred, 1)


def reading_distance(a: dict, b: dict) -> float:
    """
    A distance between two scene readings, for ranking: the summed position
    distance of objects present in both (plus 1 when their shapes differ), 1 per
    colour present in only one, 1 per extra blob, 1 if the lighting differs.
    """
    oa, ea = split_reading(a)
    ob, eb = split_reading(b)
    d = float(ea + eb + (a["lighting"] != b["lighting"]))
    for c in set(oa) | set(ob):
        if c in oa and c in ob:
            d += distance(oa[c], ob[c]) + (oa[c]["shape"] != ob[c]["shape"])
        else:
            d += 1.0
    return d


def same_state(a: WorldState, b: WorldState, tol: float = MATCH_TOL) -> bool:
    """Same lighting, same objects (colour and shape) and every position within tol."""
    ra, rb = reading_from_state(a), reading_from_state(b)
    if ra["lighting"] != rb["lighting"]:
        return False
    oa, _ = split_reading(ra)
    ob, _ = split_reading(rb)
    if set(oa) != set(ob):
        return False
    return all(oa[c]["shape"] == ob[c]["shape"] and distance(oa[c], ob[c]) <= tol for c in oa)


def identity(pred: dict, gt: dict) -> float:
    """
    Object identity kept, wherever the objects are: matched / (ground-truth objects + unmatched
    predicted blobs), where a ground-truth object is matched by a blob of its colour and shape at any
    place. It is `consistency` with positions set aside: drift (a ball turned block, a colour bled, an
    object lost or doubled) lowers it, a move that lands short does not. Repeating the last frame
    scores 1 on it as long as nothing is added or removed, so it is read beside `consistency`.
    """
    objs, _ = split_reading(pred)
    matched = sum(1 for o in gt["objects"] if o["colour"] in objs and objs[o["colour"]]["shape"] == o["shape"])
    unmatched_pred = len(pred["objects"]) - matched
    return matched / max(len(gt["objects"]) + unmatched_pred, 1)


def scene_unchanged(pred: dict, gt: dict, tol: float = KEEP_TOL) -> bool:
    """
    The scene is exactly as it was: the same lighting, every object within `tol` of its place with
    its colour and shape, and nothing else (no extra blob, no other colour). What an idle world that
    holds still shows at every chunk.
    """
    if pred["lighting"] != gt["lighting"] or not scene_kept(pred, gt, tol=tol):
        return False
    objs, _ = split_reading(pred)
    return all(objs[o["colour"]]["shape"] == o["shape"] for o in gt["objects"])
