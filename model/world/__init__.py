"""
The default world: a deterministic tabletop seen from above.

Objects of a few colours and shapes sit on a table; agent actions move them,
environment actions add, remove or recolour them or change the lighting. The
world renders frames, words its actions in many paraphrases, stores episodes
as JSON lines and reads object states back from frames for evaluation.
See README.md in this folder for the rules, constants and episode schema.
"""

from model.world.scene import (
    COLOURS, SHAPES, LIGHTING_LEVELS, PLACES, OBJECT_SIZE, CLEARANCE, CONTACT, RIM, MARGIN,
    MIN_OBJECTS, MAX_OBJECTS, ObjectState, WorldState, random_scene,
)
from model.world.render import OBJECT_RGB, TABLE_RGB, RIM_RGB, LIGHTING, render
from model.world.actions import (
    DIRECTIONS, DISTANCES, SIDES, ACTION_TYPES, AGENT_ACTIONS, ENVIRONMENT_ACTIONS,
    apply_action, validate_action, valid_actions, sample_action, ease,
)
from model.world.language import SPLITS, WORDING_SPLITS, MAX_WORDS, describe, is_train_wording
from model.world.episodes import (
    is_heldout_scene, scene_split, scene_seeds, generate_episode, rollout, rollout_states,
    write_episodes, read_episodes,
)
from model.world.detector import detect, reading_from_state

__all__ = [
    "COLOURS", "SHAPES", "LIGHTING_LEVELS", "PLACES", "OBJECT_SIZE", "CLEARANCE", "CONTACT", "RIM", "MARGIN",
    "MIN_OBJECTS", "MAX_OBJECTS", "ObjectState", "WorldState", "random_scene",
    "OBJECT_RGB", "TABLE_RGB", "RIM_RGB", "LIGHTING", "render",
    "DIRECTIONS", "DISTANCES", "SIDES", "ACTION_TYPES", "AGENT_ACTIONS", "ENVIRONMENT_ACTIONS",
    "apply_action", "validate_action", "valid_actions", "sample_action", "ease",
    "SPLITS", "WORDING_SPLITS", "MAX_WORDS", "describe", "is_train_wording",
    "is_heldout_scene", "scene_split", "scene_seeds", "generate_episode", "rollout", "rollout_states",
    "write_episodes", "read_episodes",
    "detect", "reading_from_state",
]
