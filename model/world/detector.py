"""
Reads the world state back from an RGB frame, without ground truth. This is
how evaluation judges generated frames.

1. Lighting: the median colour of the table inside the rim (objects cover well
   under half of it) is compared with the table colour under each lighting
   level; the nearest level is undone (the transforms never clip, so undoing
   is exact on rendered frames).
2. Pixel classes: every pixel is explained as a blend of the table and one
   object colour, p = table + a * (colour - table), which is exactly what
   anti-aliased edges and fades are. For each colour we get the coverage a and
   the distance of p from that line; a pixel belongs to the colour with the
   smallest distance if its coverage is at least MIN_COVER and the distance is
   under MAX_RESIDUAL.
3. Connected components per colour (4-connectivity; objects keep a clearance,
   so two objects never share a component).
4. Per component, coverage-weighted moments give the area, the centroid and
   the shape (see TRIANGLE_SKEW, CUBE_CROSS), whatever the object's scale or
   opacity. A triangle's centroid lies 1/6 of its height below its footprint
   centre, which is corrected for.
"""

from __future__ import annotations

import numpy as np

from model.world.render import LIGHTING, OBJECT_RGB, TABLE_RGB
from model.world.scene import COLOURS, OBJECT_SIZE, RIM, WorldState

MIN_COVER = 0.25  # pixels less covered than this are too ambiguous to classify
MAX_RESIDUAL = 30.0  # 0-255 units; distance allowed from a table-to-colour blend line
MIN_AREA = 0.1  # components smaller than this fraction of a full cube are dropped
# Shape from moments of the coverage, which blur, fading (alpha) and scale leave
# nearly unchanged. Triangles are the only shapes skewed in y (-0.57: mass at the
# base). For a square, x and y are independent, so E[dx^2 dy^2] / (var_x var_y)
# is 1 (and stays 1 under blur); for a disc it is 2/3.
TRIANGLE_SKEW = -0.25
CUBE_CROSS = 0.84
SHAPE_AREA = {"cube": 1.0, "ball": np.pi / 4, "triangle": 0.5}  # fraction of the footprint

_TABLE = np.array(TABLE_RGB, dtype=np.float64)
_DIRS = np.array([OBJECT_RGB[c] for c in COLOURS], dtype=np.float64) - _TABLE  # (C, 3)


def _interior(size: int) -> np.ndarray:
    """(size, size) bool: pixels fully inside the rim, with one pixel to spare."""
    c = (np.arange(size) + 0.5) / size
    inside = (c > RIM + 1.0 / size) & (c < 1.0 - RIM - 1.0 / size)
    return inside[:, None] & inside[None, :]


def estimate_lighting(frame: np.ndarray) -> str:
    """The lighting level whose table colour is nearest the frame's median table colour."""
    table = np.median(frame[_interior(frame.shape[0])].astype(np.float64), axis=0)  # (3,)
    def lit_table(level):
        gain, offset = LIGHTING[level]
        return _TABLE * np.array(gain) + np.array(offset)
    return min(LIGHTING, key=lambda level: float(np.sum((lit_table(level) - table) ** 2)))


def classify_pixels(frame: np.ndarray, lighting: str) -> tuple[np.ndarray, np.ndarray]:
    """(class (H, W) int, index into COLOURS or -1 for table; coverage (H, W) float in [0, 1])."""
    gain, offset = LIGHTING[lighting]
    img = (frame.astype(np.float64) - np.array(offset)) / np.array(gain)  # (H, W, 3) under normal light
    q = img - _TABLE  # (H, W, 3) offset from the table colour
    norms = np.sum(_DIRS ** 2, axis=1)  # (C,)
    proj = q @ _DIRS.T  # (H, W, C)
    cover = proj / norms  # (H, W, C) blend weight along each colour's line
    # distance from each line, by Pythagoras
    residual = np.sqrt(np.maximum(np.sum(q ** 2, axis=-1, keepdims=True) - proj ** 2 / norms, 0.0))
    residual = np.where(cover > 0.0, residual, np.inf)  # only blends towards a colour, not away
    # pick the colour first, then drop weak pixels: dropping first would hand a faint
    # edge pixel to whichever other colour's line happens to give it more coverage
    best = np.argmin(residual, axis=-1)  # (H, W)
    best_residual = np.take_along_axis(residual, best[..., None], axis=-1)[..., 0]
    best_cover = np.take_along_axis(cover, best[..., None], axis=-1)[..., 0]
    foreground = (best_residual < MAX_RESIDUAL) & (best_cover >= MIN_COVER) & _interior(frame.shape[0])
    classes = np.where(foreground, best, -1)
    return classes, np.where(foreground, np.clip(best_cover, 0.0, 1.0), 0.0)


def label_components(classes: np.ndarray) -> np.ndarray:
    """
    (H, W) int labels of 4-connected regions of equal class (>= 0), -1 elsewhere.
    Each pixel starts with its own flat index; labels shrink to the smallest
    index in the region by neighbour minima plus pointer jumping.
    """
    h, w = classes.shape
    big = h * w
    labels = np.where(classes >= 0, np.arange(big).reshape(h, w), big)
    same_v = (classes[1:] == classes[:-1]) & (classes[1:] >= 0)  # (h-1, w) vertical neighbours connect
    same_h = (classes[:, 1:] == classes[:, :-1]) & (classes[:, 1:] >= 0)  # (h, w-1)
    while True:
        new = labels.copy()
        new[1:] = np.where(same_v, np.minimum(new[1:], labels[:-1]), new[1:])
        new[:-1] = np.where(same_v, np.minimum(new[:-1], labels[1:]), new[:-1])
        new[:, 1:] = np.where(same_h, np.minimum(new[:, 1:], labels[:, :-1]), new[:, 1:])
        new[:, :-1] = np.where(same_h, np.minimum(new[:, :-1], labels[:, 1:]), new[:, :-1])
        fg = new < big
        new[fg] = np.minimum(new[fg], new.flat[new[fg]])  # pointer jumping: take the label's label
        if np.array_equal(new, labels):
            break
        labels = new
    return np.where(labels < big, labels, -1)


def detect(frame: np.ndarray) -> dict:
    """
    {"lighting": level, "objects": [{"colour", "shape", "x", "y", "area"}, ...]}
    with x, y the footprint centre in table space and area the covered fraction
    of the table; objects are listed in COLOURS order, larger first.
    """
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[0] == frame.shape[1], frame.shape
    size = frame.shape[0]
    lighting = estimate_lighting(frame)
    classes, coverage = classify_pixels(frame, lighting)
    labels = label_components(classes)

    # coverage-weighted moments per component (pixel units)
    fg = labels >= 0
    ids, comp = np.unique(labels[fg], return_inverse=True)  # comp: (N,) component of each fg pixel
    rows, cols = np.nonzero(fg)
    w = coverage[fg]  # (N,)
    k = len(ids)
    mass = np.bincount(comp, w, k)  # (K,) covered pixels
    mx = np.bincount(comp, w * (cols + 0.5), k) / mass  # (K,) centroid column
    my = np.bincount(comp, w * (rows + 0.5), k) / mass
    dx, dy = cols + 0.5 - mx[comp], rows + 0.5 - my[comp]  # (N,)
    var_x = np.bincount(comp, w * dx ** 2, k) / mass
    var_y = np.bincount(comp, w * dy ** 2, k) / mass
    skew_y = np.bincount(comp, w * dy ** 3, k) / mass / np.maximum(var_y, 1e-9) ** 1.5
    cross = np.bincount(comp, w * dx ** 2 * dy ** 2, k) / mass / np.maximum(var_x * var_y, 1e-9)

    objects = []
    min_mass = MIN_AREA * (OBJECT_SIZE * size) ** 2
    for i, label in enumerate(ids):
        if mass[i] < min_mass:
            continue
        shape = "triangle" if skew_y[i] < TRIANGLE_SKEW else "cube" if cross[i] > CUBE_CROSS else "ball"
        y = my[i]
        if shape == "triangle":
            # the centroid of an apex-up triangle of height s is s/6 below its footprint centre;
            # var_y = s^2 / 18 for such a triangle
            y -= np.sqrt(18.0 * var_y[i]) / 6.0
        objects.append({
            "colour": COLOURS[classes.flat[label]],
            "shape": shape,
            "x": float(mx[i] / size),
            "y": float(y / size),
            "area": float(mass[i] / size ** 2),
        })
    objects.sort(key=lambda o: (COLOURS.index(o["colour"]), -o["area"]))
    return {"lighting": lighting, "objects": objects}


def reading_from_state(state: WorldState) -> dict:
    """What a perfect detector would report for a state: same layout as detect()."""
    lighting = state.lighting
    if state.prev_lighting is not None and state.light_blend < 0.5:
        lighting = state.prev_lighting
    objects = []
    for o in state.objects:
        colour = o.prev_colour if o.prev_colour is not None and o.colour_blend < 0.5 else o.colour
        area = o.alpha * SHAPE_AREA[o.shape] * (OBJECT_SIZE * o.scale) ** 2
        objects.append({"colour": colour, "shape": o.shape, "x": o.x, "y": o.y, "area": float(area)})
    objects.sort(key=lambda o: (COLOURS.index(o["colour"]), -o["area"]))
    return {"lighting": lighting, "objects": objects}
