"""
Natural-language wordings of structured actions.

Each action type has sentence templates with slots ({verb}, {obj}, {dir}, ...),
and each slot has interchangeable phrases. Every template and every phrase is
either a "train" one or a "heldout" one (the second list of each Phrases):

- the train wordings of an action use only train templates and train phrases;
- the heldout wordings are all the other combinations (at least one heldout
  template or phrase), minus any string that the train split also produces.

So the two splits are disjoint string sets for every action, and heldout text
tests unseen verbs, nouns, phrasings and sentence structures, never a string
seen in training. A phrase that is heldout in one slot is heldout in every
slot that shares it (the distance lists, for example), so it never leaks into
training through a neighbouring slot.

Wordings are lower-case ascii without punctuation and at most MAX_WORDS words,
so they fit a BERT-style encoder's 16-token budget. Object references depend on
the object's shape ("the red block" for a cube, "the red ball" for a ball), so
wordings() and describe() take the current state; without it they fall back to
shape-free references ("the red one").
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from string import Formatter

import numpy as np

from model.world.scene import WorldState

SPLITS = ("train", "heldout")
MAX_WORDS = 11  # plus sub-word splits and [CLS]/[SEP], this stays under 16 word pieces


@dataclass(frozen=True)
class Phrases:
    """Interchangeable phrasings of one slot (or one sentence template)."""

    train: tuple[str, ...]
    heldout: tuple[str, ...] = ()

    def options(self, pool: str) -> tuple[str, ...]:
        """The train phrases for the pool "train"; train and held-out phrases together for "all"
        (a pool, not a split: held-out wordings are drawn from it, then checked not to be train strings)."""
        return self.train if pool == "train" else self.train + self.heldout


def P(train, heldout=()) -> Phrases:
    return Phrases(tuple(train), tuple(heldout))


# -----------------------------------------------------------------------------
# vocabulary

# object nouns: any shape, and per shape
GENERIC_NOUNS = P(["one", "object", "piece"], ["thing"])
SHAPE_NOUNS = {
    "cube": P(["block", "cube", "box"], ["square"]),
    "ball": P(["ball", "sphere", "circle"], ["disc"]),
    "triangle": P(["triangle", "pyramid"], ["wedge"]),
}

# verbs: "push it somewhere" and "put it at a place"; "could you" and "set" are heldout everywhere
MOVE_VERBS = P(["push", "move", "slide", "shift", "drag"], ["shove", "nudge"])
PLACE_VERBS = P(["move", "put", "place", "bring", "slide"], ["set", "carry"])


def _diagonal(v: str, h: str) -> Phrases:
    return P([f"{v} and to the {h}", f"{v} and {h}", f"diagonally {v} and {h}"],
             [f"{v} and over to the {h}", f"diagonally {v} {h}"])


DIRECTION_PHRASES = {
    "left": P(["left", "to the left", "leftwards"], ["towards the left", "over to the left"]),
    "right": P(["right", "to the right", "rightwards"], ["towards the right", "over to the right"]),
    "up": P(["up", "upwards", "up the table"], ["upward", "further up"]),
    "down": P(["down", "downwards", "down the table"], ["downward", "further down"]),
    "up_left": _diagonal("up", "left"),
    "up_right": _diagonal("up", "right"),
    "down_left": _diagonal("down", "left"),
    "down_right": _diagonal("down", "right"),
}

# distance after the direction ("left a little") and before it ("a little to the left");
# medium distance is also the unqualified one ("push the red block left")
DISTANCE_AFTER = {
    "small": P(["a little", "slightly", "a bit"], ["a tiny bit", "just a touch"]),
    "medium": P(["", "some distance", "a moderate distance"], ["a fair way"]),
    "far": P(["a lot", "a long way", "a long distance"], ["a great distance", "all the way"]),
}
DISTANCE_BEFORE = {
    "small": DISTANCE_AFTER["small"],
    "medium": DISTANCE_AFTER["medium"],
    "far": P(["far", "a lot", "a long way"], ["a great distance", "all the way"]),
}


def _corner(v: str, alt: str, h: str) -> Phrases:
    return P([f"the {v} {h} corner", f"the {v} {h}", f"the {alt} {h} corner"],
             [f"the {alt} {h}", f"the {v} {h} of the table"])


def _edge(name: str, *heldout: str) -> Phrases:
    return P([f"the {name} edge", f"the {name} side", f"the middle of the {name} side"], heldout)


# named places as noun phrases ("to the top left corner", "at the middle")
PLACE_PHRASES = {
    "center": P(["the center", "the middle", "the centre"], ["the middle of the table", "the very center"]),
    "top_left": _corner("top", "upper", "left"),
    "top_right": _corner("top", "upper", "right"),
    "bottom_left": _corner("bottom", "lower", "left"),
    "bottom_right": _corner("bottom", "lower", "right"),
    "top": _edge("top", "the upper edge", "the top middle"),
    "bottom": _edge("bottom", "the lower edge", "the bottom middle"),
    "left": _edge("left", "the far left edge", "the left hand side"),
    "right": _edge("right", "the far right edge", "the right hand side"),
}

SIDE_PHRASES = {
    "left": P(["to the left of", "left of", "on the left side of"], ["just left of", "immediately left of"]),
    "right": P(["to the right of", "right of", "on the right side of"], ["just right of", "immediately right of"]),
    "above": P(["above", "just above", "directly above"], ["immediately above", "on the upper side of"]),
    "below": P(["below", "just below", "directly below"], ["immediately below", "on the lower side of"]),
}

LIGHT_PHRASES = {
    "normal": P(["normal lighting", "normal light", "turn the lights back to normal", "reset the lights",
                 "back to normal light"], ["ordinary lighting", "restore the usual light"]),
    "dim": P(["dim the lights", "make it darker", "turn the lights down", "lower the lights",
              "turn the lights off"], ["darken the room", "it gets darker"]),
    "bright": P(["brighten the lights", "make it brighter", "turn the lights up", "bright light",
                 "more light"], ["brighten the room", "it gets brighter"]),
    "warm": P(["warm light", "make the light warmer", "switch to warm light", "warm lighting",
               "use warm light"], ["give it a warm glow", "golden light"]),
}
WAIT_PHRASES = P(["wait", "do nothing", "let it be", "stay still", "hold on", "pause"],
                 ["leave everything as it is", "keep still", "just wait", "no change"])

# sentence templates per action type
TEMPLATES = {
    "move": P(["{verb} {obj} {dir} {dist}", "{verb} {obj} {pre} {dir}", "please {verb} {obj} {dir} {dist}",
               "now {verb} {obj} {pre} {dir}"],
              ["could you {verb} {obj} {pre} {dir}", "i want {obj} moved {dir} {dist}"]),
    "move_to": P(["{verb} {obj} to {place}", "{verb} {obj} over to {place}", "please {verb} {obj} to {place}"],
                 ["could you {verb} {obj} to {place}", "{obj} goes to {place}"]),
    "move_next_to": P(["{verb} {obj} {side} {target}", "please {verb} {obj} {side} {target}",
                       "{verb} {obj} so it is {side} {target}"],
                      ["could you {verb} {obj} {side} {target}", "{obj} goes {side} {target}"]),
    "add": P(["add {new}", "put {new} on the table", "place {new} on the table", "add {new} to the table"],
             ["{new} appears", "could you add {new}"]),
    "add_at": P(["add {new} at {place}", "put {new} at {place}", "place {new} at {place}"],
                ["{new} appears at {place}", "set {new} down at {place}"]),
    "remove": P(["remove {obj}", "take away {obj}", "take {obj} away", "get rid of {obj}",
                 "take {obj} off the table", "remove {obj} from the table"],
                ["make {obj} disappear", "clear away {obj}", "could you remove {obj}"]),
    "recolour": P(["paint {obj} {colour}", "recolour {obj} {colour}", "turn {obj} {colour}", "make {obj} {colour}",
                   "change {obj} to {colour}", "colour {obj} {colour}"],
                  ["repaint {obj} {colour}", "{obj} turns {colour}", "change the colour of {obj} to {colour}"]),
    "light": P(["{p}", "now {p}"], ["{p} now"]),
    "wait": P(["{p}", "now {p}"], ["{p} now"]),
}

# -----------------------------------------------------------------------------
# expansion


def _merge(*phrases: Phrases) -> Phrases:
    return P(sum((p.train for p in phrases), ()), sum((p.heldout for p in phrases), ()))


def object_refs(colour: str, shape: str | None) -> Phrases:
    """'the red block', 'the red one', ...: shape nouns only when the shape is known."""
    nouns = GENERIC_NOUNS if shape is None else _merge(GENERIC_NOUNS, SHAPE_NOUNS[shape])
    return P([f"the {colour} {n}" for n in nouns.train], [f"the {colour} {n}" for n in nouns.heldout])


def new_object_refs(colour: str, shape: str) -> Phrases:
    """'a green ball', 'an orange cube', ...: a new object always names its shape."""
    article = "an" if colour[0] in "aeiou" else "a"
    nouns = SHAPE_NOUNS[shape]
    return P([f"{article} {colour} {n}" for n in nouns.train], [f"{article} {colour} {n}" for n in nouns.heldout])


def _slots(action: dict, shape: str | None, target_shape: str | None) -> tuple[str, dict[str, Phrases]]:
    """(template key, slot phrases) for one action."""
    kind = action["type"]
    if kind == "move":
        return kind, {
            "verb": MOVE_VERBS, "obj": object_refs(action["object"], shape),
            "dir": DIRECTION_PHRASES[action["direction"]],
            "dist": DISTANCE_AFTER[action["distance"]], "pre": DISTANCE_BEFORE[action["distance"]],
        }
    if kind == "move_to":
        return kind, {"verb": PLACE_VERBS, "obj": object_refs(action["object"], shape),
                      "place": PLACE_PHRASES[action["place"]]}
    if kind == "move_next_to":
        return kind, {"verb": PLACE_VERBS, "obj": object_refs(action["object"], shape),
                      "side": SIDE_PHRASES[action["side"]], "target": object_refs(action["target"], target_shape)}
    if kind == "add":
        new = new_object_refs(action["colour"], action["shape"])
        if action["place"] is None:
            return "add", {"new": new}
        return "add_at", {"new": new, "place": PLACE_PHRASES[action["place"]]}
    if kind == "remove":
        return kind, {"obj": object_refs(action["object"], shape)}
    if kind == "recolour":
        return kind, {"obj": object_refs(action["object"], shape), "colour": P([action["colour"]])}
    if kind == "light":
        return kind, {"p": LIGHT_PHRASES[action["level"]]}
    if kind == "wait":
        return kind, {"p": WAIT_PHRASES}
    raise ValueError(f"unknown action type {kind!r}")


def _slot_names(template: str) -> list[str]:
    return [name for _, name, _, _ in Formatter().parse(template) if name]


def _fill(template: str, names: list[str], combo) -> str:
    return " ".join(template.format(**dict(zip(names, combo))).split())  # collapses empty slots


def _expand(templates: Phrases, slots: dict[str, Phrases], pool: str) -> set[str]:
    """All strings from the templates and slot phrases of a pool ("train", or "all": see Phrases.options)."""
    out = set()
    for template in templates.options(pool):
        names = _slot_names(template)
        for combo in itertools.product(*(slots[n].options(pool) for n in names)):
            text = _fill(template, names, combo)
            if len(text.split()) <= MAX_WORDS:
                out.add(text)
    return out


def _train_regex(templates: Phrases, slots: dict[str, Phrases]) -> re.Pattern:
    """
    A pattern matching exactly the train strings (before the length filter), as
    " " + text. It tests a sampled heldout wording for membership in the train
    split without enumerating the split.
    """
    branches = []
    for template in templates.train:
        pieces = []
        for word in template.split():
            if word.startswith("{"):
                options = slots[word[1:-1]].train
                alternatives = "(?:" + "|".join(re.escape(o) for o in options if o) + ")"
                pieces.append(f"(?: {alternatives})?" if "" in options else f" {alternatives}")
            else:
                pieces.append(" " + re.escape(word))
        branches.append("".join(pieces))
    return re.compile("|".join(f"(?:{b})" for b in branches))


@dataclass(frozen=True)
class _Grammar:
    """Templates, slot phrases and the train-membership pattern of one action."""

    templates: Phrases
    slots: dict
    train_regex: re.Pattern


@lru_cache(maxsize=4096)
def _grammar(action_json: str, shape: str | None, target_shape: str | None) -> _Grammar:
    key, slots = _slots(json.loads(action_json), shape, target_shape)
    return _Grammar(TEMPLATES[key], slots, _train_regex(TEMPLATES[key], slots))


@lru_cache(maxsize=256)
def _wordings(action_json: str, shape: str | None, target_shape: str | None, split: str) -> tuple[str, ...]:
    g = _grammar(action_json, shape, target_shape)
    train = _expand(g.templates, g.slots, "train")
    if split == "train":
        return tuple(sorted(train))
    return tuple(sorted(_expand(g.templates, g.slots, "all") - train))


def _shapes(action: dict, state: WorldState | None) -> tuple[str | None, str | None]:
    """Shapes of the action's object and target in the state (None when unknown)."""
    def shape_of(colour):
        if state is None or colour is None or not state.has(colour):
            return None
        return state.get(colour).shape
    return shape_of(action.get("object")), shape_of(action.get("target"))


def wordings(action: dict, split: str = "train", state: WorldState | None = None) -> list[str]:
    """
    Every wording of the action in the split, sorted (exhaustive, so slower than
    describe). `state` is the state the action applies to.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return list(_wordings(json.dumps(action, sort_keys=True), *_shapes(action, state), split))


def describe(action: dict, rng: np.random.Generator, split: str = "train", state: WorldState | None = None) -> str:
    """
    One wording of the action from wordings(action, split, state): a template and
    its slot phrases drawn uniformly (train: from the train lists; heldout: from
    all lists, redrawn while the text is a train string or too long).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    g = _grammar(json.dumps(action, sort_keys=True), *_shapes(action, state))
    pool = "train" if split == "train" else "all"
    for _ in range(1000):
        templates = g.templates.options(pool)
        template = templates[int(rng.integers(len(templates)))]
        names = _slot_names(template)
        combo = [g.slots[n].options(pool)[int(rng.integers(len(g.slots[n].options(pool))))] for n in names]
        text = _fill(template, names, combo)
        if len(text.split()) > MAX_WORDS:
            continue
        if split == "train" or not g.train_regex.fullmatch(" " + text):
            return text
    raise RuntimeError(f"could not draw a {split} wording for {action}")  # vocabulary bug, not user error
