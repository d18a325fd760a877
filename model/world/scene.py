"""
World state of the tabletop: what is on the table, where, and how it is lit.

The table is seen from straight above. Table space is [0, 1] x [0, 1] with x to
the right and y DOWN (image convention), so (0, 0) is the top left corner.

Every object has the same square footprint of side OBJECT_SIZE centred on
(x, y): a cube fills it, a ball is the inscribed disc, a triangle has its base
on the footprint's bottom edge and its apex at the middle of the top edge.
Objects are identified by their colour; each colour appears at most once.

States are frozen dataclasses, so a state can be shared between frames and
used as a value (compared, hashed, kept in a history) without copying.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

# -----------------------------------------------------------------------------
# the facts of the world (single source for the simulator, renderer, detector)

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES = ("cube", "ball", "triangle")
LIGHTING_LEVELS = ("normal", "dim", "bright", "warm")

MIN_OBJECTS = 3
MAX_OBJECTS = 6

OBJECT_SIZE = 0.18  # side of the footprint, in table widths (~11.5 px at 64 px)
CLEARANCE = 0.03  # gap objects keep between each other, so they never visually merge
CONTACT = OBJECT_SIZE + CLEARANCE  # centre-to-centre distance (per axis) at contact
RIM = 0.03  # width of the darker table border
MARGIN = 0.13  # centres stay in [MARGIN, 1 - MARGIN]: the footprint clears the rim

# named places, (x, y), all inside the margins and CONTACT apart from each other
PLACES = {
    "center": (0.5, 0.5),
    "top_left": (0.2, 0.2),
    "top_right": (0.8, 0.2),
    "bottom_left": (0.2, 0.8),
    "bottom_right": (0.8, 0.8),
    "top": (0.5, 0.2),
    "bottom": (0.5, 0.8),
    "left": (0.2, 0.5),
    "right": (0.8, 0.5),
}

# random scenes keep a little more room than contact, so start scenes read clearly
SCENE_SPACING = CONTACT + 0.04
# start lighting is mostly normal; the other levels are reached through actions too
SCENE_LIGHTING_P = (0.7, 0.1, 0.1, 0.1)

# -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectState:
    """One object. alpha/scale/prev_colour describe a transition in progress."""

    colour: str
    shape: str
    x: float
    y: float
    alpha: float = 1.0  # opacity: 0 -> 1 while appearing, 1 -> 0 while being removed
    scale: float = 1.0  # size factor of the drawn shape during add/remove
    prev_colour: str | None = None  # set while recolouring from prev_colour to colour
    colour_blend: float = 1.0  # 0 shows prev_colour, 1 shows colour

    def __post_init__(self):
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour {self.colour!r}; expected one of {COLOURS}")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; expected one of {SHAPES}")
        if self.prev_colour is not None and self.prev_colour not in COLOURS:
            raise ValueError(f"unknown prev_colour {self.prev_colour!r}")

    @property
    def settled(self) -> bool:
        """True when no add/remove/recolour transition is showing."""
        return self.alpha == 1.0 and self.scale == 1.0 and self.prev_colour is None

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> ObjectState:
        return ObjectState(**d)


@dataclass(frozen=True)
class WorldState:
    """Everything on the table plus the lighting (with an optional light transition)."""

    objects: tuple[ObjectState, ...] = field(default_factory=tuple)
    lighting: str = "normal"
    prev_lighting: str | None = None  # set while the light blends from prev_lighting
    light_blend: float = 1.0  # 0 shows prev_lighting, 1 shows lighting

    def __post_init__(self):
        object.__setattr__(self, "objects", tuple(self.objects))
        if self.lighting not in LIGHTING_LEVELS:
            raise ValueError(f"unknown lighting {self.lighting!r}; expected one of {LIGHTING_LEVELS}")
        if self.prev_lighting is not None and self.prev_lighting not in LIGHTING_LEVELS:
            raise ValueError(f"unknown prev_lighting {self.prev_lighting!r}")

    @property
    def colours(self) -> tuple[str, ...]:
        return tuple(o.colour for o in self.objects)

    def get(self, colour: str) -> ObjectState:
        """The object of this colour; ValueError if there is none."""
        for o in self.objects:
            if o.colour == colour:
                return o
        raise ValueError(f"there is no {colour} object on the table (present: {', '.join(self.colours)})")

    def has(self, colour: str) -> bool:
        return colour in self.colours

    def with_object(self, which: str, /, **changes) -> WorldState:
        """A copy with the object of colour `which` changed (its colour may change too)."""
        objects = tuple(replace(o, **changes) if o.colour == which else o for o in self.objects)
        return replace(self, objects=objects)

    def to_dict(self) -> dict:
        return {
            "objects": [o.to_dict() for o in self.objects],
            "lighting": self.lighting,
            "prev_lighting": self.prev_lighting,
            "light_blend": self.light_blend,
        }

    @staticmethod
    def from_dict(d: dict) -> WorldState:
        return WorldState(
            objects=tuple(ObjectState.from_dict(o) for o in d["objects"]),
            lighting=d["lighting"],
            prev_lighting=d.get("prev_lighting"),
            light_blend=d.get("light_blend", 1.0),
        )


def overlaps(ax: float, ay: float, bx: float, by: float, spacing: float = CONTACT) -> bool:
    """Do two footprints (with clearance) overlap? Touching exactly is not overlapping."""
    # the 1e-6 slack keeps objects stopped exactly at contact from counting as overlapping
    return abs(ax - bx) < spacing - 1e-6 and abs(ay - by) < spacing - 1e-6


def random_scene(seed: int, n_objects: int | None = None) -> WorldState:
    """
    A start scene: 3-6 non-overlapping objects of distinct colours, mostly normal light.
    The object count is always drawn first, so random_scene(seed) equals
    random_scene(seed, n) for the n it drew: an episode that stores n reproduces
    its scene either way.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    n_drawn = int(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1))
    n = n_drawn if n_objects is None else n_objects
    if not MIN_OBJECTS <= n <= MAX_OBJECTS:
        raise ValueError(f"n_objects must be in [{MIN_OBJECTS}, {MAX_OBJECTS}], got {n}")
    colours = rng.permutation(len(COLOURS))[:n]
    shapes = rng.integers(0, len(SHAPES), size=n)
    lighting = LIGHTING_LEVELS[int(rng.choice(len(LIGHTING_LEVELS), p=SCENE_LIGHTING_P))]

    # rejection sampling of positions, restarting the layout when it gets stuck
    while True:
        positions: list[tuple[float, float]] = []
        for _ in range(200):
            x, y = rng.uniform(MARGIN, 1.0 - MARGIN, size=2)
            if all(not overlaps(x, y, px, py, SCENE_SPACING) for px, py in positions):
                positions.append((float(x), float(y)))
                if len(positions) == n:
                    break
        if len(positions) == n:
            break

    objects = tuple(
        ObjectState(COLOURS[c], SHAPES[s], x, y) for c, s, (x, y) in zip(colours, shapes, positions)
    )
    return WorldState(objects=objects, lighting=lighting)
