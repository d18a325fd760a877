"""
Structured actions and their effect on the world.

An action is a JSON-serialisable dict with a "type" and fixed keys:

    agent actions
    {"type": "move", "object": "red", "direction": "up_left", "distance": "medium"}
    {"type": "move_to", "object": "red", "place": "top_right"}
    {"type": "move_next_to", "object": "red", "target": "blue", "side": "left"}
    environment actions
    {"type": "add", "colour": "green", "shape": "ball", "place": "center" | None}
    {"type": "remove", "object": "red"}
    {"type": "recolour", "object": "red", "colour": "purple"}
    {"type": "light", "level": "dim"}
    {"type": "wait"}

One action spans one chunk of F frames. Frame k (0-based) of the chunk shows
progress ease((k + 1) / F) with smoothstep easing, so the last frame shows the
finished action and equals the final state.

Physical rules:
1. Directions are unit vectors in table space (y points down, so "up" is -y);
   diagonal moves cover the same straight-line distance as the others.
   Distances: small 0.12, medium 0.22, far 0.35 table widths.
2. move_to goes to a named place (scene.PLACES); move_next_to goes to the spot
   where the mover touches the target on the given side (centres CONTACT apart).
3. The table's edges stop objects: the goal's x and y are each clamped into
   [MARGIN, 1 - MARGIN], so every footprint stays fully on the table.
4. Objects travel in a straight line from where they are to the clamped goal.
   They are solid squares of side OBJECT_SIZE that keep a CLEARANCE from each
   other: a mover that would come closer than that stops at the first contact
   along its path. There is no pushing: nothing else ever moves.
5. add appears at its place (or, with place None, at the free spot farthest
   from every object), fading and growing in; remove fades and shrinks out;
   recolour blends the colour linearly; light blends the lighting linearly.
6. Invalid: unknown keys or values, an object colour not on the table, adding a
   colour already present or a 7th object or onto an occupied place (or with no
   free spot), removing below 3 objects, recolouring to a colour present,
   moving an object next to itself. Invalid actions raise ValueError.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from model.world.scene import (
    COLOURS, SHAPES, LIGHTING_LEVELS, PLACES, MARGIN, CONTACT, MIN_OBJECTS, MAX_OBJECTS,
    ObjectState, WorldState, overlaps,
)

_D = 1.0 / math.sqrt(2.0)
DIRECTIONS = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up_left": (-_D, -_D),
    "up_right": (_D, -_D),
    "down_left": (-_D, _D),
    "down_right": (_D, _D),
}
DISTANCES = {"small": 0.12, "medium": 0.22, "far": 0.35}
SIDES = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "above": (0.0, -1.0), "below": (0.0, 1.0)}

AGENT_ACTIONS = ("move", "move_to", "move_next_to")
ENVIRONMENT_ACTIONS = ("add", "remove", "recolour", "light")
ACTION_TYPES = AGENT_ACTIONS + ENVIRONMENT_ACTIONS + ("wait",)

# the keys each action type carries besides "type"
ACTION_KEYS = {
    "move": ("object", "direction", "distance"),
    "move_to": ("object", "place"),
    "move_next_to": ("object", "target", "side"),
    "add": ("colour", "shape", "place"),
    "remove": ("object",),
    "recolour": ("object", "colour"),
    "light": ("level",),
    "wait": (),
}

# sampling mix: a group first (agent 60%, environment 25%, wait 15%), then a type
# within it; "light" is always valid, so the environment share holds in any state
ACTION_GROUPS = {"agent": AGENT_ACTIONS, "environment": ENVIRONMENT_ACTIONS, "wait": ("wait",)}
GROUP_WEIGHTS = {"agent": 0.60, "environment": 0.25, "wait": 0.15}
TYPE_WEIGHTS = {"move": 2.0, "move_to": 1.0, "move_next_to": 1.0,
                "add": 1.0, "remove": 1.0, "recolour": 1.0, "light": 1.0, "wait": 1.0}

# agent actions moving their object less than MIN_MOTION are mostly redrawn by sample_action
MIN_MOTION = 0.03
KEEP_BLOCKED = 0.1
MAX_REDRAWS = 20

FREE_SPOT_STEP = 0.01  # grid spacing of the candidate spots for an add without a place


def ease(t: float) -> float:
    """Smoothstep: starts and ends at rest, so motion is smooth across chunk boundaries."""
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


# -----------------------------------------------------------------------------
# geometry


def clamp_to_table(x: float, y: float) -> tuple[float, float]:
    return min(max(x, MARGIN), 1.0 - MARGIN), min(max(y, MARGIN), 1.0 - MARGIN)


def _overlap_interval(px, py, dx, dy, qx, qy, half: float) -> tuple[float, float] | None:
    """
    The times t (an interval, possibly empty) at which the point (px, py) + t * (dx, dy)
    is strictly inside the square of half-side `half` around (qx, qy); None if never.
    """
    t_in, t_out = -math.inf, math.inf
    for p, d, q in ((px, dx, qx), (py, dy, qy)):
        if abs(d) < 1e-12:
            if abs(p - q) >= half:
                return None  # never inside along this axis
            continue
        t0, t1 = (q - half - p) / d, (q + half - p) / d
        t_in, t_out = max(t_in, min(t0, t1)), min(t_out, max(t0, t1))
    return t_in, t_out


def _time_of_contact(px, py, dx, dy, qx, qy) -> float:
    """
    First t >= 0 at which the footprint moving from (px, py) by t * (dx, dy)
    touches a still footprint at (qx, qy) while heading into it; inf if never.
    """
    # "heading into it" is judged on a square 1e-6 smaller (as in scene.overlaps), so
    # a mover resting in contact can leave or slide along the face despite rounding
    inside = _overlap_interval(px, py, dx, dy, qx, qy, CONTACT - 1e-6)
    if inside is None or inside[0] >= inside[1] or inside[1] <= 0.0:
        return math.inf
    # but it stops at exact contact, so rounding never carries it into the other
    t_touch, _ = _overlap_interval(px, py, dx, dy, qx, qy, CONTACT)
    return max(t_touch, 0.0)


def travel(state: WorldState, colour: str, gx: float, gy: float) -> tuple[float, float]:
    """Where the object of this colour ends when sent towards (gx, gy): clamped, stopped at contact."""
    obj = state.get(colour)
    gx, gy = clamp_to_table(gx, gy)
    dx, dy = gx - obj.x, gy - obj.y
    t = 1.0
    for other in state.objects:
        if other.colour != colour:
            t = min(t, _time_of_contact(obj.x, obj.y, dx, dy, other.x, other.y))
    return obj.x + t * dx, obj.y + t * dy


def free_spot(state: WorldState) -> tuple[float, float] | None:
    """The spot on a fixed grid farthest (Chebyshev) from every object, or None if none is free."""
    g = np.arange(MARGIN, 1.0 - MARGIN + 1e-9, FREE_SPOT_STEP)
    xs, ys = np.meshgrid(g, g)  # (G, G), row-major scan: ties go to the top-most, left-most spot
    clearance = np.full(xs.shape, np.inf)
    for o in state.objects:
        clearance = np.minimum(clearance, np.maximum(np.abs(xs - o.x), np.abs(ys - o.y)))
    i = int(np.argmax(clearance))
    if clearance.flat[i] < CONTACT:
        return None
    return float(xs.flat[i]), float(ys.flat[i])


def goal_of(state: WorldState, action: dict) -> tuple[float, float]:
    """The (unclamped) point an agent action sends its object towards."""
    obj = state.get(action["object"])
    if action["type"] == "move":
        ux, uy = DIRECTIONS[action["direction"]]
        d = DISTANCES[action["distance"]]
        return obj.x + d * ux, obj.y + d * uy
    if action["type"] == "move_to":
        return PLACES[action["place"]]
    if action["type"] == "move_next_to":
        target = state.get(action["target"])
        sx, sy = SIDES[action["side"]]
        return target.x + CONTACT * sx, target.y + CONTACT * sy
    raise ValueError(f"{action['type']!r} is not an agent action")


# -----------------------------------------------------------------------------
# validation


def _check_choice(action: dict, key: str, options) -> None:
    if action[key] not in options:
        raise ValueError(f"{action['type']} action: {key}={action[key]!r} is not one of {tuple(options)}")


def _check_present(state: WorldState, action: dict, key: str) -> None:
    _check_choice(action, key, COLOURS)
    if not state.has(action[key]):
        raise ValueError(
            f"{action['type']} action: there is no {action[key]} object on the table "
            f"(present: {', '.join(state.colours)})"
        )


def validate_action(state: WorldState, action: dict) -> None:
    """Raise ValueError naming what is wrong if the action cannot be applied to this state."""
    if not isinstance(action, dict) or "type" not in action:
        raise ValueError(f"an action must be a dict with a 'type' key, got {action!r}")
    kind = action["type"]
    if kind not in ACTION_KEYS:
        raise ValueError(f"unknown action type {kind!r}; expected one of {ACTION_TYPES}")
    expected = set(ACTION_KEYS[kind])
    missing, extra = expected - set(action), set(action) - expected - {"type"}
    if missing:
        raise ValueError(f"{kind} action is missing key(s) {sorted(missing)}")
    if extra:
        raise ValueError(f"{kind} action has unknown key(s) {sorted(extra)}; it takes {sorted(expected)}")
    if not all(o.settled for o in state.objects) or state.prev_lighting is not None:
        raise ValueError("actions apply to settled states (chunk boundaries), not to mid-transition frames")

    if kind == "move":
        _check_present(state, action, "object")
        _check_choice(action, "direction", DIRECTIONS)
        _check_choice(action, "distance", DISTANCES)
    elif kind == "move_to":
        _check_present(state, action, "object")
        _check_choice(action, "place", PLACES)
    elif kind == "move_next_to":
        _check_present(state, action, "object")
        _check_present(state, action, "target")
        _check_choice(action, "side", SIDES)
        if action["object"] == action["target"]:
            raise ValueError(f"move_next_to action: the {action['object']} object cannot move next to itself")
    elif kind == "add":
        _check_choice(action, "colour", COLOURS)
        _check_choice(action, "shape", SHAPES)
        if state.has(action["colour"]):
            raise ValueError(f"add action: a {action['colour']} object is already on the table")
        if len(state.objects) >= MAX_OBJECTS:
            raise ValueError(f"add action: the table already holds the maximum of {MAX_OBJECTS} objects")
        if action["place"] is None:
            if free_spot(state) is None:
                raise ValueError("add action: there is no free spot on the table")
        else:
            _check_choice(action, "place", PLACES)
            x, y = PLACES[action["place"]]
            for o in state.objects:
                if overlaps(x, y, o.x, o.y):
                    raise ValueError(f"add action: place {action['place']!r} is occupied by the {o.colour} object")
    elif kind == "remove":
        _check_present(state, action, "object")
        if len(state.objects) <= MIN_OBJECTS:
            raise ValueError(f"remove action: the table must keep at least {MIN_OBJECTS} objects")
    elif kind == "recolour":
        _check_present(state, action, "object")
        _check_choice(action, "colour", COLOURS)
        if state.has(action["colour"]):
            raise ValueError(f"recolour action: a {action['colour']} object is already on the table")
    elif kind == "light":
        _check_choice(action, "level", LIGHTING_LEVELS)


# -----------------------------------------------------------------------------
# simulation


def _final_state(state: WorldState, action: dict) -> WorldState:
    """The state once the action has finished."""
    kind = action["type"]
    if kind in AGENT_ACTIONS:
        x, y = travel(state, action["object"], *goal_of(state, action))
        return state.with_object(action["object"], x=x, y=y)
    if kind == "add":
        x, y = PLACES[action["place"]] if action["place"] is not None else free_spot(state)
        return replace(state, objects=state.objects + (ObjectState(action["colour"], action["shape"], x, y),))
    if kind == "remove":
        return replace(state, objects=tuple(o for o in state.objects if o.colour != action["object"]))
    if kind == "recolour":
        return state.with_object(action["object"], colour=action["colour"])
    if kind == "light":
        return replace(state, lighting=action["level"])
    return state  # wait


def _state_between(state: WorldState, final: WorldState, action: dict, e: float) -> WorldState:
    """The state shown at eased progress e in [0, 1) from state to final."""
    kind = action["type"]
    if kind in AGENT_ACTIONS:
        a, b = state.get(action["object"]), final.get(action["object"])
        return state.with_object(a.colour, x=a.x + e * (b.x - a.x), y=a.y + e * (b.y - a.y))
    if kind == "add":
        # grows from half size, so it reads as a thing arriving rather than a blink
        new = replace(final.objects[-1], alpha=e, scale=0.5 + 0.5 * e)
        return replace(state, objects=state.objects + (new,))
    if kind == "remove":
        return state.with_object(action["object"], alpha=1.0 - e, scale=1.0 - 0.5 * e)
    if kind == "recolour":
        old = action["object"]
        return state.with_object(old, colour=action["colour"], prev_colour=old, colour_blend=e)
    if kind == "light":
        return replace(state, lighting=action["level"], prev_lighting=state.lighting, light_blend=e)
    return state  # wait


def apply_action(state: WorldState, action: dict, frames: int = 4) -> tuple[list[WorldState], WorldState]:
    """
    Simulate one chunk. Returns (the state shown in each of the `frames` frames,
    the final state). Frame k shows progress ease((k + 1) / frames), so the last
    frame state is the final state.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    validate_action(state, action)
    final = _final_state(state, action)
    states = [_state_between(state, final, action, ease((k + 1) / frames)) for k in range(frames - 1)]
    return states + [final], final


# -----------------------------------------------------------------------------
# enumeration and sampling


def valid_actions(state: WorldState, kinds=ACTION_TYPES) -> list[dict]:
    """Every valid action of the given types, in a fixed order."""
    out: list[dict] = []
    present = state.colours
    absent = [c for c in COLOURS if c not in present]
    for kind in kinds:
        if kind == "move":
            out += [{"type": "move", "object": c, "direction": d, "distance": s}
                    for c in present for d in DIRECTIONS for s in DISTANCES]
        elif kind == "move_to":
            out += [{"type": "move_to", "object": c, "place": p} for c in present for p in PLACES]
        elif kind == "move_next_to":
            out += [{"type": "move_next_to", "object": c, "target": t, "side": s}
                    for c in present for t in present if t != c for s in SIDES]
        elif kind == "add" and len(present) < MAX_OBJECTS:
            places = [p for p, (x, y) in PLACES.items() if not any(overlaps(x, y, o.x, o.y) for o in state.objects)]
            if free_spot(state) is not None:
                places.append(None)
            out += [{"type": "add", "colour": c, "shape": s, "place": p}
                    for c in absent for s in SHAPES for p in places]
        elif kind == "remove" and len(present) > MIN_OBJECTS:
            out += [{"type": "remove", "object": c} for c in present]
        elif kind == "recolour":
            out += [{"type": "recolour", "object": c, "colour": n} for c in present for n in absent]
        elif kind == "light":
            out += [{"type": "light", "level": lv} for lv in LIGHTING_LEVELS]
        elif kind == "wait":
            out.append({"type": "wait"})
        elif kind not in ACTION_TYPES:
            raise ValueError(f"unknown action type {kind!r}; expected one of {ACTION_TYPES}")
    return out


def moved_distance(state: WorldState, action: dict) -> float:
    """How far an agent action would move its object (0 when fully blocked)."""
    obj = state.get(action["object"])
    x, y = travel(state, action["object"], *goal_of(state, action))
    return math.hypot(x - obj.x, y - obj.y)


def _weighted(rng: np.random.Generator, weights) -> int:
    w = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(len(w), p=w / w.sum()))


def sample_action(state: WorldState, rng: np.random.Generator, kinds=ACTION_TYPES) -> dict:
    """
    A random valid action: a group by GROUP_WEIGHTS, a type in it by
    TYPE_WEIGHTS (both renormalised over the requested types that have a valid
    action here), then uniformly among that type's valid actions. In crowded scenes a third or more of agent actions
    would barely move their object (edges, contacts), so such a draw is kept
    only with probability KEEP_BLOCKED and redrawn otherwise: data stays mostly
    about motion while the stopping rules are still shown.
    """
    by_kind = {k: valid_actions(state, (k,)) for k in kinds}
    by_kind = {k: v for k, v in by_kind.items() if v}
    if not by_kind:
        raise ValueError(f"no valid action of types {tuple(kinds)} in this state")
    groups = [g for g, types in ACTION_GROUPS.items() if any(k in by_kind for k in types)]
    group = groups[_weighted(rng, [GROUP_WEIGHTS[g] for g in groups])]
    types = [k for k in ACTION_GROUPS[group] if k in by_kind]
    kind = types[_weighted(rng, [TYPE_WEIGHTS[k] for k in types])]
    options = by_kind[kind]
    for _ in range(MAX_REDRAWS):
        action = options[int(rng.integers(len(options)))]
        if kind not in AGENT_ACTIONS or moved_distance(state, action) >= MIN_MOTION:
            break
        if rng.random() < KEEP_BLOCKED:
            break
    return dict(action)
