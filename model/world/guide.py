"""
What a person needs to know to act in the tabletop world, as the exporter
writes it into a bundle's manifest (`world`): whether the world holds still
when nobody acts, and a short guide to the actions it was trained on and the
words it knows. The demo and `<world-canvas>` show the guide beside the action
box, so someone typing "rotate the cube" can see why nothing happens.

A hand-written table, on purpose: it is what a reader sees, not the training
grammar. `model/tests/test_guide.py` checks it against the world's facts
(colours, shapes, lighting levels, places, action types), and that every
example fits in the action encoder's word pieces.
"""

from __future__ import annotations

# The world holds still when nobody acts: "wait" changes nothing (actions.py), and every action
# plays out within its own chunk (frame k shows progress ease((k + 1) / F): at rest at the chunk's end).
STILL_WHEN_IDLE = True
# Chunks an action's motion lasts beyond its own chunk (none here: see above).
ACTION_AFTERMATH_CHUNKS = 0

# One entry per kind of action (actions.ACTION_TYPES), in the order a newcomer needs them.
ACTIONS = (
    {"kind": "move",
     "description": "Push a named object in a direction, a little or a lot.",
     "examples": ["push the red block left", "slide the blue ball up a little", "move the green one down and to the right"]},
    {"kind": "move_to",
     "description": "Move a named object to a named place on the table.",
     "examples": ["move the yellow cube to the top left corner", "slide the purple ball to the middle",
                  "bring the orange triangle to the right edge"]},
    {"kind": "move_next_to",
     "description": "Move a named object beside another one: left of, right of, above or below it.",
     "examples": ["move the red block to the left of the blue ball", "put the green cube just above the yellow one"]},
    {"kind": "add",
     "description": "Add a new object of a colour not on the table yet, anywhere or at a named place.",
     "examples": ["add a green ball", "put an orange cube at the bottom right corner"]},
    {"kind": "remove",
     "description": "Take a named object off the table (at least three stay).",
     "examples": ["remove the blue triangle", "take the red block away"]},
    {"kind": "recolour",
     "description": "Paint a named object a colour no other object has.",
     "examples": ["paint the yellow ball purple", "turn the green block red"]},
    {"kind": "light",
     "description": "Change the lighting of the whole table.",
     "examples": ["dim the lights", "make it brighter", "use warm light"]},
    {"kind": "wait",
     "description": "Nothing changes: the world holds still.",
     "examples": ["wait", "do nothing"]},
)

# The words a person needs: objects are named by colour (each colour is on the table at most once),
# and optionally by shape.
VOCABULARY = (
    {"label": "colours", "words": ["red", "green", "blue", "yellow", "purple", "orange"]},
    {"label": "shapes", "words": ["cube (block, box)", "ball (sphere)", "triangle (pyramid)"]},
    {"label": "directions", "words": ["left", "right", "up", "down", "up and to the left", "down and to the right"]},
    {"label": "distances", "words": ["a little", "a lot"]},
    {"label": "places", "words": ["the middle", "the top left corner", "the top right corner", "the bottom left corner",
                                  "the bottom right corner", "the top edge", "the bottom edge", "the left edge",
                                  "the right edge"]},
    {"label": "beside", "words": ["to the left of", "to the right of", "above", "below"]},
    {"label": "lighting", "words": ["dim", "bright", "warm", "normal"]},
)


def world_manifest(window_chunks: int) -> dict:
    """The manifest's `world` block (JSON keys). A still world holds its frame once the chunk on screen
    and the ones before it are idle for as long as an action's motion reaches: its aftermath, and the
    window's chunks (each chunk is denoised beside the one before it, so the first idle chunk after an
    action was drawn beside that action's chunk while it was still noisy)."""
    return {
        "stillWhenIdle": STILL_WHEN_IDLE,
        "settleChunks": ACTION_AFTERMATH_CHUNKS + window_chunks,
        "guide": {"actions": [dict(a, examples=list(a["examples"])) for a in ACTIONS],
                  "vocabulary": [dict(v, words=list(v["words"])) for v in VOCABULARY]},
    }
