"""
Renders a WorldState to an RGB uint8 frame, all in numpy.

Anti-aliasing is by supersampling: coverage of each shape is evaluated on a
SUPERSAMPLE x SUPERSAMPLE grid inside every pixel and box-averaged. Only the
pixels under an object's footprint are evaluated, and the empty table is cached
per frame size, so a 64x64 frame costs a fraction of a millisecond.

Lighting is one affine per-channel transform of the whole image,
out = in * gain + offset, chosen so that no level clips the table or any object
colour: the detector can then undo it exactly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from model.world.scene import COLOURS, RIM, OBJECT_SIZE, WorldState, ObjectState

SUPERSAMPLE = 4

# appearance under normal light, RGB 0-255; every channel <= 215 so "bright" never clips
TABLE_RGB = (212, 200, 180)  # warm light wood
RIM_RGB = (130, 100, 72)  # darker edge, so the table border is visible
OBJECT_RGB = {
    "red": (195, 35, 45),
    "green": (40, 160, 60),
    "blue": (40, 80, 200),
    "yellow": (215, 190, 30),
    "purple": (140, 50, 170),
    "orange": (212, 125, 15),
}
assert tuple(OBJECT_RGB) == COLOURS

# lighting level -> (per-channel gain, per-channel offset in 0-255 units)
LIGHTING = {
    "normal": ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    "dim": ((0.55, 0.55, 0.62), (4.0, 4.0, 8.0)),  # darker and a little cool
    "bright": ((1.1, 1.1, 1.1), (8.0, 8.0, 8.0)),
    "warm": ((1.05, 0.94, 0.76), (8.0, 2.0, 0.0)),  # more red, much less blue
}


def lighting_transform(state: WorldState) -> tuple[np.ndarray, np.ndarray]:
    """(gain, offset), each (3,) float32, with any light transition blended linearly."""
    gain, offset = (np.array(v, dtype=np.float32) for v in LIGHTING[state.lighting])
    if state.prev_lighting is not None:
        g0, o0 = (np.array(v, dtype=np.float32) for v in LIGHTING[state.prev_lighting])
        t = np.float32(state.light_blend)
        gain, offset = g0 + t * (gain - g0), o0 + t * (offset - o0)
    return gain, offset


def object_rgb(obj: ObjectState) -> np.ndarray:
    """(3,) float32 colour shown for an object, blended during a recolour."""
    rgb = np.array(OBJECT_RGB[obj.colour], dtype=np.float32)
    if obj.prev_colour is not None:
        rgb0 = np.array(OBJECT_RGB[obj.prev_colour], dtype=np.float32)
        rgb = rgb0 + np.float32(obj.colour_blend) * (rgb - rgb0)
    return rgb


def _subsample_centres(lo: int, hi: int, size: int) -> np.ndarray:
    """Table coordinates of the subsample centres of pixels lo..hi-1 along one axis."""
    n = (hi - lo) * SUPERSAMPLE
    return ((lo * SUPERSAMPLE + np.arange(n, dtype=np.float32) + 0.5) / (size * SUPERSAMPLE)).astype(np.float32)


def _downsample(mask: np.ndarray) -> np.ndarray:
    """(h*S, w*S) bool -> (h, w) float32 coverage by box averaging."""
    h, w = mask.shape[0] // SUPERSAMPLE, mask.shape[1] // SUPERSAMPLE
    return mask.reshape(h, SUPERSAMPLE, w, SUPERSAMPLE).mean(axis=(1, 3), dtype=np.float32)


@lru_cache(maxsize=16)
def _empty_table(size: int) -> np.ndarray:
    """(size, size, 3) float32 table with its rim, under normal light. Cached, read-only."""
    c = _subsample_centres(0, size, size)
    inside = (c >= RIM) & (c <= 1.0 - RIM)
    cover = _downsample(inside[:, None] & inside[None, :])[..., None]  # (size, size, 1)
    table = cover * np.array(TABLE_RGB, np.float32) + (1.0 - cover) * np.array(RIM_RGB, np.float32)
    table.setflags(write=False)
    return table


def shape_coverage(obj: ObjectState, size: int) -> tuple[slice, slice, np.ndarray]:
    """Pixel rows, pixel columns and (h, w) float32 coverage in [0, 1] of one object's shape."""
    half = 0.5 * OBJECT_SIZE * obj.scale
    # pixel window that contains the footprint (clipped to the frame)
    r0, r1 = max(int(np.floor((obj.y - half) * size)), 0), min(int(np.ceil((obj.y + half) * size)), size)
    c0, c1 = max(int(np.floor((obj.x - half) * size)), 0), min(int(np.ceil((obj.x + half) * size)), size)
    v = _subsample_centres(r0, r1, size)[:, None] - np.float32(obj.y)  # (h*S, 1) rows, down positive
    u = _subsample_centres(c0, c1, size)[None, :] - np.float32(obj.x)  # (1, w*S) columns
    if obj.shape == "cube":
        inside = (np.abs(u) <= half) & (np.abs(v) <= half)
    elif obj.shape == "ball":
        inside = u * u + v * v <= half * half
    elif obj.shape == "triangle":
        # apex at (0, -half), base from (-half, +half) to (+half, +half)
        inside = (v <= half) & (np.abs(u) <= 0.5 * (v + half))
    else:
        raise ValueError(f"unknown shape {obj.shape!r}")
    return slice(r0, r1), slice(c0, c1), _downsample(inside)


def render(state: WorldState, size: int = 64) -> np.ndarray:
    """(size, size, 3) uint8 RGB frame of the state."""
    img = _empty_table(size).copy()  # (size, size, 3) float32
    for obj in state.objects:
        if obj.alpha <= 0.0 or obj.scale <= 0.0:
            continue
        rows, cols, cover = shape_coverage(obj, size)
        a = (np.float32(obj.alpha) * cover)[..., None]  # (h, w, 1)
        img[rows, cols] = (1.0 - a) * img[rows, cols] + a * object_rgb(obj)
    gain, offset = lighting_transform(state)
    img = img * gain + offset
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
