"""
Natural-language wordings of structured actions, as wide as the words people type.

A wording is drawn from a small grammar: each action type has sentence
templates with slots ({verb}, {obj}, {dir}, ...), each slot has interchangeable
phrases, and phrases may hold slots of their own ("the {colour} {noun}").
Templates come in two kinds: commands ("push the red block left"), which are
then wrapped in one of many command frames ("could you {s}", "let's {s}",
"{s} please", "i'd like you to {s} if you don't mind", ...), and descriptions
of what happens ("the red cube slides left"), with frames of their own.

Every template, frame and phrase is a "train" one or a "heldout" one (the
second list of each Phrases). Held-out phrases are whole synonyms: a colour
shade, a shape noun, a verb, a direction, a place, a distance, a lighting
phrase that training text never uses, so the project's own evaluation says how
the model does on words it never saw, not only on unseen combinations:

- `describe(action, rng, "train")`: only train templates, frames and phrases;
- `describe(action, rng, "heldout")`: at least one held-out part, and never a
  string the train split produces (checked against the train grammar);
- `describe(action, rng, "unseen")`: a held-out phrase in every slot that has
  one (a held-out colour shade, shape noun, verb, direction, ... at once).

Directions are the viewer's: the table is seen from above with the viewer at
its bottom edge, so up = the top of the frame = north = "away from me", down =
south = "toward me", left = west, right = east.

Training text also gets surface noise (`noisy=True`, the default for the train
split): capitals, end punctuation, commas after a lead-in word, and a typo in
about one text in ten, so the model meets text as people type it. Held-out text
is drawn clean; people's own sentences are scored separately
(model/eval/episodes/freeform.jsonl).

Object references depend on the object's shape ("the red block" for a cube,
"the red ball" for a ball), so describe() takes the current state; without it,
references fall back to shape-free nouns ("the red one").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from string import Formatter

import numpy as np

from model.world.scene import COLOURS, WorldState

SPLITS = ("train", "heldout")  # scene and wording splits
WORDING_SPLITS = SPLITS + ("unseen",)
# Longest clean wording in words: with sub-word splits and [CLS]/[SEP] this stays within the action
# encoder's 32 word pieces (model/config.py max_action_tokens); typos add a piece or two.
MAX_WORDS = 22
TYPO_RATE = 0.1


@dataclass(frozen=True)
class Phrases:
    """Interchangeable phrasings of one slot, template or frame; each may hold {slots} of its own."""

    train: tuple[str, ...]
    heldout: tuple[str, ...] = ()

    def options(self, pool: str) -> tuple[str, ...]:
        """The train phrases for the pool "train"; train and held-out phrases together for "all"."""
        return self.train if pool == "train" else self.train + self.heldout


def P(train, heldout=()) -> Phrases:
    return Phrases(tuple(train), tuple(heldout))


# -----------------------------------------------------------------------------
# vocabulary

# Colour words: each of the world's six colours by its name and by shades and other names people use.
# Only unambiguous ones: a word that could mean two of the six (maroon, teal, pink, gold-brown) is left out.
COLOUR_WORDS = {
    "red": P(["red", "crimson", "scarlet", "cherry", "cherry red", "bright red", "fire engine red", "tomato red"],
             ["ruby", "vermilion", "blood red"]),
    "green": P(["green", "lime", "emerald", "grass green", "leaf green", "mint green", "bright green", "kelly green"],
               ["jade", "forest green", "pea green"]),
    "blue": P(["blue", "navy", "azure", "cobalt", "sky blue", "royal blue", "dark blue", "bright blue"],
              ["sapphire", "cerulean", "ocean blue"]),
    "yellow": P(["yellow", "lemon", "canary", "golden", "lemon yellow", "butter yellow", "sunny yellow",
                 "bright yellow"],
                ["sunflower", "banana yellow", "mustard"]),
    "purple": P(["purple", "violet", "lilac", "plum", "lavender", "grape", "deep purple", "indigo"],
                ["mauve", "amethyst", "aubergine"]),
    "orange": P(["orange", "tangerine", "amber", "apricot", "pumpkin", "bright orange", "burnt orange", "carrot"],
                ["marigold", "ginger", "clementine"]),
}

GENERIC_NOUNS = P(["one", "object", "piece", "thing", "shape", "item", "block thing"], ["fellow", "guy"])
SHAPE_NOUNS = {
    "cube": P(["block", "cube", "box", "square", "brick", "cuboid", "square block", "square one"],
              ["crate", "die", "chunk"]),
    "ball": P(["ball", "sphere", "circle", "orb", "marble", "round one", "round thing", "disc"],
              ["bead", "globe", "dot"]),
    "triangle": P(["triangle", "pyramid", "wedge", "triangular one", "triangle shape", "three sided one", "tri"],
                  ["arrowhead", "cone", "spike"]),
}

# "the red block", "that scarlet cube", "the block that is red", ...
OBJECT_FORMS = P(["the {colour} {noun}", "that {colour} {noun}", "this {colour} {noun}", "the {colour} {noun}",
                  "the {noun} that is {colour}", "{colour} {noun}"],
                 ["the {colour} coloured {noun}", "the {noun} in {colour}"])
# a new object always names its shape: "a green ball", "one more scarlet cube"
NEW_FORMS = P(["a {colour} {noun}", "a new {colour} {noun}", "one {colour} {noun}", "another {colour} {noun}"],
              ["a fresh {colour} {noun}", "an extra {colour} {noun}"])

# verbs: "push it somewhere" (commands), and their third person (descriptions)
MOVE_VERBS = P(["push", "move", "slide", "shift", "drag", "nudge", "scoot", "send", "pull", "bump", "glide",
                "shove", "budge", "walk"],
               ["propel", "steer", "guide", "hustle"])
MOVE_VERBS_3 = P(["moves", "slides", "shifts", "goes", "travels", "drifts", "glides", "scoots", "heads"],
                 ["creeps", "wanders", "sails"])
PLACE_VERBS = P(["move", "put", "place", "bring", "slide", "take", "drag", "push", "shift", "send", "get",
                 "position", "carry", "drop"],
                ["park", "relocate", "deposit", "plonk"])
PLACE_VERBS_3 = P(["moves", "goes", "slides", "travels", "heads", "ends up"], ["wanders", "makes its way"])


def _direction(*, plain, train, heldout) -> Phrases:
    return P(list(plain) + list(train), heldout)


# Directions as the viewer sees them (up = the top of the frame = north = away from the viewer).
DIRECTION_PHRASES = {
    "left": _direction(plain=["left", "to the left", "leftwards", "leftward"],
                       train=["towards the left", "over to the left", "west", "westward", "to the west",
                              "to your left", "to my left", "left side"],
                       heldout=["left hand way", "westwards", "in the western direction"]),
    "right": _direction(plain=["right", "to the right", "rightwards", "rightward"],
                        train=["towards the right", "over to the right", "east", "eastward", "to the east",
                               "to your right", "to my right", "right side"],
                        heldout=["right hand way", "eastwards", "in the eastern direction"]),
    "up": _direction(plain=["up", "upwards", "upward", "up the table"],
                     train=["further up", "north", "northward", "to the north", "away from me", "away from you",
                            "towards the top", "toward the top", "back", "towards the back"],
                     heldout=["northwards", "to the far side", "further away"]),
    "down": _direction(plain=["down", "downwards", "downward", "down the table"],
                       train=["further down", "south", "southward", "to the south", "towards me", "toward me",
                              "closer to me", "towards the bottom", "toward the bottom", "towards the front"],
                       heldout=["southwards", "to the near side", "nearer to me"]),
}


def _diagonal(v: str, h: str, compass: str, viewer: str) -> Phrases:
    return P([f"{v} and to the {h}", f"{v} and {h}", f"diagonally {v} and {h}", f"{v} and over to the {h}",
              f"diagonally {v} {h}", f"{v} {h}", f"{v}-{h}", compass, f"{compass[:5]} {compass[5:]}",
              f"{compass[:5]}-{compass[5:]}", f"towards the {'upper' if v == 'up' else 'lower'} {h}",
              f"{viewer} and to the {h}"],
             [f"{compass}ward", f"{h} and {v}", f"slantwise {v} and {h}"])


DIRECTION_PHRASES.update({
    "up_left": _diagonal("up", "left", "northwest", "away from me"),
    "up_right": _diagonal("up", "right", "northeast", "away from me"),
    "down_left": _diagonal("down", "left", "southwest", "towards me"),
    "down_right": _diagonal("down", "right", "southeast", "towards me"),
})

# distance after the direction ("left a little") and before it ("a little to the left"); medium is also
# the unqualified one ("push the red block left")
DISTANCE_AFTER = {
    "small": P(["a little", "slightly", "a bit", "a tad", "a touch", "a little bit", "just a bit", "a smidge",
                "a tiny bit", "just a touch", "a few steps"],
               ["a hair", "an inch", "a wee bit"]),
    "medium": P(["", "some distance", "a moderate distance", "a fair bit", "some way", "a fair way",
                 "a reasonable amount", "a normal amount"],
                ["a decent amount", "a medium amount"]),
    "far": P(["a lot", "a long way", "a long distance", "a great distance", "really far", "quite far",
              "a good long way", "far", "lots"],
             ["miles", "a huge amount", "a ton"]),
}
DISTANCE_BEFORE = {
    "small": DISTANCE_AFTER["small"],
    "medium": DISTANCE_AFTER["medium"],
    "far": P(["far", "a lot", "a long way", "a great distance", "really far", "way", "quite far"],
             ["miles", "a huge amount", "a ton"]),
}


def _corner(v: str, alt: str, h: str, compass: str, viewer: str) -> Phrases:
    return P([f"the {v} {h} corner", f"the {v} {h}", f"the {alt} {h} corner", f"the {alt} {h}",
              f"the {v}-{h} corner", f"the {compass} corner", f"the {v} {h} of the table",
              f"the {viewer} {h} corner"],
             [f"the {compass[:5]} {compass[5:]} corner", f"the {alt}-{h} area", f"the {h} {v} corner"])


def _edge(name: str, train: list[str], heldout: list[str]) -> Phrases:
    return P([f"the {name} edge", f"the {name} side", f"the middle of the {name} side", f"the {name} middle",
              *train], heldout)


# named places as noun phrases ("to the top left corner", "at the middle")
PLACE_PHRASES = {
    "center": P(["the center", "the middle", "the centre", "the middle of the table", "the very center",
                 "the centre of the table", "the center of the table", "the very middle"],
                ["dead centre", "the heart of the table", "the bullseye"]),
    "top_left": _corner("top", "upper", "left", "northwest", "far"),
    "top_right": _corner("top", "upper", "right", "northeast", "far"),
    "bottom_left": _corner("bottom", "lower", "left", "southwest", "near"),
    "bottom_right": _corner("bottom", "lower", "right", "southeast", "near"),
    "top": _edge("top", ["the north edge", "the far edge", "the back edge", "the top"],
                 ["the upper edge", "the northern edge"]),
    "bottom": _edge("bottom", ["the south edge", "the near edge", "the front edge", "the bottom"],
                    ["the lower edge", "the southern edge"]),
    "left": _edge("left", ["the west edge", "the left hand side", "the far left"],
                  ["the western edge", "the left border"]),
    "right": _edge("right", ["the east edge", "the right hand side", "the far right"],
                   ["the eastern edge", "the right border"]),
}

SIDE_PHRASES = {
    "left": P(["to the left of", "left of", "on the left side of", "just left of", "immediately left of",
               "west of", "on the left of", "beside and to the left of"],
              ["to the west of", "on the left flank of"]),
    "right": P(["to the right of", "right of", "on the right side of", "just right of", "immediately right of",
                "east of", "on the right of", "beside and to the right of"],
               ["to the east of", "on the right flank of"]),
    "above": P(["above", "just above", "directly above", "immediately above", "north of", "on the upper side of",
                "behind", "just behind"],
               ["to the north of", "up past"]),
    "below": P(["below", "just below", "directly below", "immediately below", "south of", "on the lower side of",
                "in front of", "just in front of"],
               ["to the south of", "underneath"]),
}

LIGHT_COMMANDS = {
    "normal": P(["turn the lights back to normal", "reset the lights", "go back to normal light",
                 "set the lights to normal", "put the lighting back", "normal lighting please", "lights back to normal",
                 "restore the usual light", "undo the lighting", "make the light normal again"],
                ["return the lights to default", "bring back the regular light"]),
    "dim": P(["dim the lights", "make it darker", "turn the lights down", "lower the lights", "turn the lights off",
              "darken the room", "make the room dim", "lights down", "dim it", "cut the lights", "reduce the light"],
             ["make it gloomy", "kill the lights", "bring the lights low"]),
    "bright": P(["brighten the lights", "make it brighter", "turn the lights up", "brighten the room",
                 "more light", "lights up", "turn the lights on full", "raise the lights", "light it up",
                 "increase the light"],
                ["flood the room with light", "crank up the lights", "max out the lights"]),
    "warm": P(["make the light warmer", "switch to warm light", "use warm light", "warm light", "warm lighting",
               "give it a warm glow", "golden light", "make the lighting cosy", "switch to a warmer light",
               "make the light cozy", "sunset light"],
              ["amber light", "candlelight", "make it feel like evening"]),
}
LIGHT_DESCRIPTIONS = {
    "normal": P(["the lights go back to normal", "the light returns to normal", "the lighting is normal again"],
                ["ordinary lighting returns"]),
    "dim": P(["it gets darker", "the lights dim", "the room goes dark", "the light fades"],
             ["dusk falls", "the room gets gloomy"]),
    "bright": P(["it gets brighter", "the lights come up", "the room lights up", "the light gets stronger"],
                ["the sun comes out", "everything gets brighter"]),
    "warm": P(["the light turns warm", "the light gets warmer", "the room glows warm", "it turns golden"],
              ["the light goes amber", "a warm glow fills the room"]),
}
WAIT_PHRASES = P(["wait", "do nothing", "let it be", "stay still", "hold on", "pause", "leave everything as it is",
                  "keep still", "just wait", "no change", "nothing", "leave it", "stand by", "hang on",
                  "don't touch anything", "leave it alone", "carry on", "keep going"],
                 ["sit tight", "idle", "hold still", "let things be"])

# Command frames around a command "{s}"; some make it a question, which surface noise may end with "?".
COMMAND_FRAMES = P(["{s}", "{s}", "{s}", "please {s}", "now {s}", "{s} please", "{s} now", "ok {s}", "okay {s}",
                    "so {s}", "then {s}", "next {s}", "and now {s}", "now please {s}", "alright {s}", "hey {s}",
                    "go ahead and {s}", "i want you to {s}", "i'd like you to {s}", "i need you to {s}",
                    "let's {s}", "try to {s}", "{s} for me", "{s} thanks", "please {s} thank you",
                    "could you {s}", "can you {s}", "would you {s}", "will you {s}", "could you please {s}",
                    "can you please {s}", "could we {s}", "please could you {s}",
                    "ok so now i'd like you to {s}", "{s} if you don't mind", "{s} when you get a chance",
                    "hi there could you please {s} thanks", "um {s}", "right {s}", "so next please {s}",
                    "i think we should {s}", "what if you {s}", "how about you {s}",
                    "would it be possible to {s}", "i was hoping you could {s}"],
                   ["be a dear and {s}", "do me a favour and {s}", "kindly {s}", "i'd love it if you could {s}",
                    "at your leisure {s}", "mind you {s}"])
QUESTION_LEADS = ("could", "can", "would", "will", "how", "what", "please could")
DESCRIPTION_FRAMES = P(["{s}", "{s}", "now {s}", "then {s}", "next {s}", "and then {s}", "i want it so that {s}",
                        "let's say {s}", "imagine {s}", "suppose {s}", "ok {s}", "so {s}"],
                       ["picture this {s}", "in the next moment {s}"])

# Sentence templates per action type: commands (framed by COMMAND_FRAMES) and descriptions of what
# happens (framed by DESCRIPTION_FRAMES).
COMMANDS = {
    "move": P(["{verb} {obj} {dir} {dist}", "{verb} {obj} {pre} {dir}", "{verb} {obj} {dir}",
               "take {obj} and {verb} it {dir}", "get {obj} {dir} {dist}", "{obj} {dir} {dist}",
               "{verb} {obj} over {dir}"],
              ["give {obj} a push {dir}", "make {obj} go {dir} {dist}"]),
    "move_to": P(["{verb} {obj} to {place}", "{verb} {obj} over to {place}", "{verb} {obj} into {place}",
                  "{verb} {obj} in {place}", "{verb} {obj} at {place}", "{obj} to {place}",
                  "take {obj} to {place}", "{verb} {obj} all the way to {place}"],
                 ["bring over {obj} to {place}", "{verb} {obj} off to {place}"]),
    "move_next_to": P(["{verb} {obj} {side} {target}", "{verb} {obj} so it is {side} {target}",
                       "{verb} {obj} over {side} {target}", "{verb} {obj} right {side} {target}",
                       "{obj} {side} {target}", "line {obj} up {side} {target}"],
                      ["{verb} {obj} so that it ends up {side} {target}", "tuck {obj} {side} {target}"]),
    "add": P(["add {new}", "put {new} on the table", "place {new} on the table", "add {new} to the table",
              "drop {new} onto the table", "give me {new}", "make {new}", "create {new}", "bring in {new}",
              "put down {new}", "throw in {new}", "add {new} somewhere", "spawn {new}", "we need {new}"],
             ["conjure up {new}", "pop {new} onto the table", "introduce {new}"]),
    "add_at": P(["add {new} at {place}", "put {new} at {place}", "place {new} at {place}", "add {new} in {place}",
                 "put {new} in {place}", "drop {new} into {place}", "create {new} at {place}",
                 "set {new} down at {place}", "put {new} down in {place}"],
                ["pop {new} into {place}", "conjure up {new} at {place}"]),
    "remove": P(["remove {obj}", "take away {obj}", "take {obj} away", "get rid of {obj}", "take {obj} off the table",
                 "remove {obj} from the table", "delete {obj}", "make {obj} disappear", "clear away {obj}",
                 "lose {obj}", "throw away {obj}", "take {obj} out", "pick up {obj} and take it away",
                 "erase {obj}"],
                ["ditch {obj}", "vanish {obj}", "banish {obj}", "scrap {obj}"]),
    "recolour": P(["paint {obj} {colour}", "recolour {obj} {colour}", "recolor {obj} {colour}", "turn {obj} {colour}",
                   "make {obj} {colour}", "change {obj} to {colour}", "colour {obj} {colour}", "color {obj} {colour}",
                   "repaint {obj} {colour}", "change the colour of {obj} to {colour}",
                   "change the color of {obj} to {colour}", "dye {obj} {colour}", "paint {obj} in {colour}",
                   "switch {obj} to {colour}"],
                  ["tint {obj} {colour}", "give {obj} a coat of {colour}", "spray {obj} {colour}"]),
    "light": P(["{p}"]),
    "wait": P(["{p}"]),
}
DESCRIPTIONS = {
    "move": P(["{obj} {verb3} {dir} {dist}", "{obj} {verb3} {pre} {dir}", "{obj} should move {dir} {dist}",
               "{obj} needs to go {dir}", "i want {obj} moved {dir} {dist}", "{obj} gets pushed {dir} {dist}"],
              ["{obj} is nudged {dir} {dist}", "{obj} ought to go {dir}"]),
    "move_to": P(["{obj} {verb3} to {place}", "{obj} goes to {place}", "{obj} should be in {place}",
                  "i want {obj} in {place}", "{obj} ends up at {place}"],
                 ["{obj} belongs in {place}", "{obj} is moved to {place}"]),
    "move_next_to": P(["{obj} {verb3} {side} {target}", "{obj} goes {side} {target}", "{obj} should be {side} {target}",
                       "i want {obj} {side} {target}"],
                      ["{obj} belongs {side} {target}", "{obj} is moved {side} {target}"]),
    "add": P(["{new} appears", "{new} shows up", "there is now {new}", "i want {new} on the table",
              "{new} is added"],
             ["{new} materialises", "out of nowhere comes {new}"]),
    "add_at": P(["{new} appears at {place}", "{new} shows up in {place}", "there is now {new} in {place}",
                 "i want {new} at {place}"],
                ["{new} materialises at {place}"]),
    "remove": P(["{obj} disappears", "{obj} vanishes", "{obj} goes away", "{obj} is removed", "{obj} is gone",
                 "i don't want {obj} anymore"],
                ["{obj} evaporates", "{obj} fades away"]),
    "recolour": P(["{obj} turns {colour}", "{obj} becomes {colour}", "{obj} changes to {colour}",
                   "{obj} should be {colour}", "i want {obj} {colour}", "{obj} is now {colour}"],
                  ["{obj} goes {colour}", "{obj} takes on a {colour} hue"]),
    "light": P(["{d}"]),
    "wait": P(["nothing happens", "nothing changes", "everything stays put", "the table stays as it is",
               "all is still"],
              ["time passes", "the scene holds"]),
}

# -----------------------------------------------------------------------------
# expansion


def _object_slots(colour: str, shape: str | None, prefix: str = "") -> dict[str, Phrases]:
    nouns = GENERIC_NOUNS if shape is None else P(GENERIC_NOUNS.train + SHAPE_NOUNS[shape].train,
                                                   GENERIC_NOUNS.heldout + SHAPE_NOUNS[shape].heldout)
    return {f"{prefix}obj": OBJECT_FORMS, f"{prefix}colour": COLOUR_WORDS[colour], f"{prefix}noun": nouns}


def _slots(action: dict, shape: str | None, target_shape: str | None) -> tuple[str, dict[str, Phrases]]:
    """(template key, slot phrases) for one action. Object references are nested slots: {obj} is
    a form ("the {colour} {noun}") whose colour and noun are slots of their own."""
    kind = action["type"]
    obj = lambda: _object_slots(action["object"], shape)
    if kind == "move":
        return kind, {**obj(), "verb": MOVE_VERBS, "verb3": MOVE_VERBS_3,
                      "dir": DIRECTION_PHRASES[action["direction"]],
                      "dist": DISTANCE_AFTER[action["distance"]], "pre": DISTANCE_BEFORE[action["distance"]]}
    if kind == "move_to":
        return kind, {**obj(), "verb": PLACE_VERBS, "verb3": PLACE_VERBS_3, "place": PLACE_PHRASES[action["place"]]}
    if kind == "move_next_to":
        target = _object_slots(action["target"], target_shape, prefix="t_")
        target["target"] = P([f.replace("{colour}", "{t_colour}").replace("{noun}", "{t_noun}")
                              for f in OBJECT_FORMS.train],
                             [f.replace("{colour}", "{t_colour}").replace("{noun}", "{t_noun}")
                              for f in OBJECT_FORMS.heldout])
        del target["t_obj"]
        return kind, {**obj(), **target, "verb": PLACE_VERBS, "verb3": PLACE_VERBS_3,
                      "side": SIDE_PHRASES[action["side"]]}
    if kind == "add":
        new = {"new": NEW_FORMS, "colour": COLOUR_WORDS[action["colour"]], "noun": SHAPE_NOUNS[action["shape"]]}
        if action["place"] is None:
            return "add", new
        return "add_at", {**new, "place": PLACE_PHRASES[action["place"]]}
    if kind == "remove":
        return kind, obj()
    if kind == "recolour":
        # the object's own colour words are {old}; the new colour is {colour}
        own = _object_slots(action["object"], shape)
        forms = P([f.replace("{colour}", "{old}") for f in OBJECT_FORMS.train],
                  [f.replace("{colour}", "{old}") for f in OBJECT_FORMS.heldout])
        return kind, {"obj": forms, "old": own["colour"], "noun": own["noun"], "colour": COLOUR_WORDS[action["colour"]]}
    if kind == "light":
        return kind, {"p": LIGHT_COMMANDS[action["level"]], "d": LIGHT_DESCRIPTIONS[action["level"]]}
    if kind == "wait":
        return kind, {"p": WAIT_PHRASES}
    raise ValueError(f"unknown action type {kind!r}")


def _slot_names(text: str) -> list[str]:
    return [name for _, name, _, _ in Formatter().parse(text) if name]


def _tidy(text: str) -> str:
    return " ".join(text.split())  # collapses the spaces an empty slot leaves


_SHAPES_OF_SENTENCES = ("frame_command", "frame_description", "s_command", "s_description")


class _Grammar:
    """The sentence shapes and slot phrases of one action, and what its train split can produce."""

    def __init__(self, slots: dict):
        self.slots = slots  # name -> Phrases, with "s_command" / "s_description" the two kinds of sentence

    def draw(self, rng: np.random.Generator, mode: str) -> tuple[str, bool, bool]:
        """(text, whether a held-out part was used, whether the frame asks a question).

        mode "train": train parts only. "heldout": every part from both lists, a held-out one taken with
        probability 1/2 where a slot has any, so a wording usually holds one or two unseen parts.
        "unseen": train frames and sentence shapes, and a held-out phrase in every slot of content that
        has one (colour, noun, verb, direction, distance, place, side, lighting): words never trained on."""
        used_heldout = False

        def choose(name: str) -> str:
            nonlocal used_heldout
            ph = self.slots[name]
            if mode == "train" or not ph.heldout or (mode == "unseen" and name in _SHAPES_OF_SENTENCES):
                options = ph.train
            elif mode == "unseen" or rng.random() < 0.5:
                options, used_heldout = ph.heldout, True
            else:
                options = ph.train
            return options[int(rng.integers(len(options)))]

        def expand(text: str) -> str:
            names = _slot_names(text)
            return text.format(**{n: expand(choose(n)) for n in names}) if names else text

        use_command = rng.random() < 0.8 or not self.slots["s_description"].train
        frame = choose("frame_command" if use_command else "frame_description")
        sentence = expand(choose("s_command" if use_command else "s_description"))
        question = use_command and frame.startswith(QUESTION_LEADS)
        return _articles(_tidy(frame.replace("{s}", sentence))), used_heldout, question

    def is_train(self, text: str) -> bool:
        """Whether the train split produces `text` (after `normalise`): a train frame around a train
        sentence. A small chart parser over the words (memoised per slot and position), so no
        sentence is ever enumerated and the grammar may be as wide as people's language."""
        words = normalise(text).split()
        memo: dict[tuple[str, int], frozenset[int]] = {}

        def seq_ends(option: str, i: int, sentence: str) -> set[int]:
            here = {i}
            for token in option.split():
                if not here:
                    break
                if token == "{s}":
                    here = set().union(*(slot_ends(sentence, p, sentence) for p in here))
                elif token.startswith("{") and token.endswith("}"):
                    here = set().union(*(slot_ends(token[1:-1], p, sentence) for p in here))
                else:
                    here = {p + 1 for p in here if p < len(words) and words[p] == token}
            return here

        def slot_ends(name: str, i: int, sentence: str) -> frozenset[int]:
            key = (name, i)
            if key not in memo:
                memo[key] = frozenset()  # a slot reached again at the same place adds nothing new
                memo[key] = frozenset().union(*(seq_ends(o, i, sentence) for o in self.slots[name].train))
            return memo[key]

        return any(len(words) in slot_ends(frame, 0, sentence)
                   for frame, sentence in (("frame_command", "s_command"), ("frame_description", "s_description")))


def _articles(text: str) -> str:
    """'a orange ball' -> 'an orange ball'."""
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


@lru_cache(maxsize=4096)
def _grammar(action_json: str, shape: str | None, target_shape: str | None) -> _Grammar:
    key, slots = _slots(json.loads(action_json), shape, target_shape)
    return _Grammar({**slots, "s_command": COMMANDS[key], "s_description": DESCRIPTIONS[key],
                     "frame_command": COMMAND_FRAMES, "frame_description": DESCRIPTION_FRAMES})


def _shapes(action: dict, state: WorldState | None) -> tuple[str | None, str | None]:
    """Shapes of the action's object and target in the state (None when unknown)."""
    def shape_of(colour):
        if state is None or colour is None or not state.has(colour):
            return None
        return state.get(colour).shape
    return shape_of(action.get("object")), shape_of(action.get("target"))


def normalise(text: str) -> str:
    """Lower case, punctuation other than in-word hyphens and apostrophes dropped, spaces collapsed: the
    form train-membership is judged in (surface noise changes only this much)."""
    text = re.sub(r"[^a-z0-9'\- ]+", " ", text.lower())
    text = re.sub(r"(?<![a-z0-9])[-']|[-'](?![a-z0-9])", " ", text)
    return re.sub(r"\ban\b", "a", _tidy(text))


def is_train_wording(text: str, action: dict, state: WorldState | None = None) -> bool:
    """Whether the train split can produce `text` (after `normalise`, typos aside) for `action`."""
    return _grammar(json.dumps(action, sort_keys=True), *_shapes(action, state)).is_train(text)


def describe(action: dict, rng: np.random.Generator, split: str = "train", state: WorldState | None = None,
             noisy: bool | None = None) -> str:
    """
    One wording of the action: "train" from the train parts only, "heldout" with at least one held-out
    part and never a train string, "unseen" with a held-out part in every slot that has one (see the
    module docstring). `state` is the state the action applies to. `noisy` (default: for the train
    split) adds surface noise: capitals, punctuation, a typo in about one text in ten.
    """
    if split not in WORDING_SPLITS:
        raise ValueError(f"split must be one of {WORDING_SPLITS}, got {split!r}")
    g = _grammar(json.dumps(action, sort_keys=True), *_shapes(action, state))
    for _ in range(1000):
        text, held, question = g.draw(rng, split)
        if len(text.split()) > MAX_WORDS:
            continue
        if split == "train" or (held and not g.is_train(text)):
            break
    else:
        raise RuntimeError(f"could not draw a {split} wording for {action}")  # vocabulary bug, not user error
    if noisy if noisy is not None else split == "train":
        text = surface_noise(text, rng, question)
    return text


# -----------------------------------------------------------------------------
# surface noise: text as people type it

_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_NEIGHBOURS = {}
for _r, _row in enumerate(_KEYBOARD):
    for _i, _ch in enumerate(_row):
        near = [_row[j] for j in (_i - 1, _i + 1) if 0 <= j < len(_row)]
        _NEIGHBOURS[_ch] = "".join(near)
LEAD_INS = ("ok", "okay", "so", "now", "alright", "right", "hey", "um", "then", "next", "please")


def typo(word: str, rng: np.random.Generator) -> str:
    """One slip of the fingers in a word of 4+ letters: two letters swapped, one dropped, doubled, or
    a neighbouring key hit instead."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = int(rng.integers(1, len(word) - 1))  # keep the first letter, as most typos do
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice(list(_NEIGHBOURS.get(word[i], word[i]))) + word[i + 1:]


def surface_noise(text: str, rng: np.random.Generator, question: bool = False) -> str:
    """Capitals, a comma after a lead-in word, end punctuation, and a typo in TYPO_RATE of texts."""
    words = text.split()
    if rng.random() < TYPO_RATE:
        candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
        if candidates:
            i = candidates[int(rng.integers(len(candidates)))]
            words[i] = typo(words[i], rng)
    if len(words) > 2 and words[0] in LEAD_INS and rng.random() < 0.4:
        words[0] += ","
    text = " ".join(words)
    r = rng.random()
    if question and r < 0.6:
        text += "?"
    elif r < 0.25:
        text += "."
    elif r < 0.3:
        text += "!"
    r = rng.random()
    if r < 0.3:
        text = text[0].upper() + text[1:]
    elif r < 0.33:
        text = text.upper()
    return text.replace(" i ", " I ").replace("i'd ", "I'd ") if rng.random() < 0.5 else text


def _vocabulary_phrases() -> list[Phrases]:
    """Every slot's phrases, over all actions and objects: what the vocabularies are read from."""
    return [COMMAND_FRAMES, DESCRIPTION_FRAMES, OBJECT_FORMS, NEW_FORMS, GENERIC_NOUNS, MOVE_VERBS, MOVE_VERBS_3,
            PLACE_VERBS, PLACE_VERBS_3, WAIT_PHRASES, *COLOUR_WORDS.values(), *SHAPE_NOUNS.values(),
            *DIRECTION_PHRASES.values(), *DISTANCE_AFTER.values(), *DISTANCE_BEFORE.values(),
            *PLACE_PHRASES.values(), *SIDE_PHRASES.values(), *LIGHT_COMMANDS.values(),
            *LIGHT_DESCRIPTIONS.values(), *COMMANDS.values(), *DESCRIPTIONS.values()]


def _words(options) -> set[str]:
    """The words of phrase options, slots ({object} and the like) left out."""
    return {w for option in options for w in normalise(re.sub(r"\{[a-z_0-9]+\}", " ", option)).split()}


def train_vocabulary() -> set[str]:
    """Every word a train wording can use (before surface noise), over all actions and objects."""
    return _words(option for ph in _vocabulary_phrases() for option in ph.train)


def heldout_vocabulary() -> set[str]:
    """Words only held-out phrases use: what the "unseen" split tests."""
    return _words(option for ph in _vocabulary_phrases() for option in ph.heldout) - train_vocabulary()


assert set(COLOUR_WORDS) == set(COLOURS)
