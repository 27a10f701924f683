"""Toyscapes: procedural outdoor scenes with the ground truth of every factor.

Why a toy dataset: the datasets of the papers (Cityscapes, ADE20K, DeepFashion, Places365) cannot be downloaded
where synthkit is built and tested, and students without a GPU need something that trains in minutes. A procedural
dataset also gives what no real dataset gives: each class's appearance is drawn *independently* per image and
recorded, so a student can check whether a model's per-class latent (SMIS) controls exactly that class.

Label convention: every pixel is labelled; id 0 is a real class (``sky``), there is no "unlabeled" id.

A scene is built in two steps:

1. ``_layout(seed, index, scene)`` draws a size-independent list of primitives in normalised coordinates
   (x, y in [0, 1], y pointing down) from the *layout* random stream ``default_rng([seed, index, 0])``: the scene
   category, horizon, sky objects, mountain ridges, ground bands, lakes, roads and the things (trees, buildings,
   cars) standing on the ground, sorted far to near.
2. ``_Canvas`` rasterises the primitives in that order (painter's algorithm) at the requested size. Colours come
   from per-class appearance fields whose mode, jitter and texture noise are drawn from the class's *own* stream
   ``default_rng([seed, index, 1, class_id])``, independent of the scene, of the layout and of every other class.
   (SeedSequence pads entropy to 4 words with zeros, so the streams never coincide while seed and index are
   below 2**32, one word each; `render` checks this.)

Boxes (BachGAN's layout input) are the bounding boxes of the *visible* pixels of each instance after occlusion,
``(class_id, x0, y0, x1, y1)`` in pixels with x1, y1 exclusive; instance k + 1 owns boxes[k].

``styles`` records, for every class present in the label map, ``{"mode": int, "brightness", "tint_r", "tint_g",
"tint_b", "texture_scale"}``; ``STYLE_MODES[class][mode]`` names the mode. Swapping one class's stream swaps exactly
that class's pixels (tested), which is what SMIS's per-class latents should learn to control.

Determinism: numpy's PCG64 streams are the same on every platform, and pixel values use only IEEE-exact
arithmetic (+, -, *, /, sqrt, floor, comparisons, each a separate numpy ufunc; no sin/exp/pow/np.interp/BLAS,
whose last bits vary between libm builds or fused multiply-adds), so the bytes are the same on any machine.
The same ``(seed, index)`` at 64, 128 or 256 px gives the same layout, rasterised at that size.

Typical use::

    from synthkit.data.toyscapes import render, ToyscapesDataset
    s = render(seed=0, index=3, size=128)          # s.image [H,W,3] uint8, s.label [H,W] uint8, s.boxes, s.styles
    ds = ToyscapesDataset(size=64, length=1000, split="train")
    item = ds[0]                                     # dict of tensors, see ToyscapesDataset
"""
from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

# --------------------------------------------------------------------------------------------------------------------
# Classes, scenes, appearance modes
# --------------------------------------------------------------------------------------------------------------------

CLASSES: tuple[str, ...] = (
    "sky", "cloud", "sun", "mountain", "water", "sand", "grass", "snow", "road", "tree", "building", "car",
)
NUM_CLASSES = len(CLASSES)
SKY, CLOUD, SUN, MOUNTAIN, WATER, SAND, GRASS, SNOW, ROAD, TREE, BUILDING, CAR = range(NUM_CLASSES)

# "Things" have instances and boxes (BachGAN's layout input); the rest is "stuff".
THING_CLASSES: tuple[str, ...] = ("tree", "building", "car")
THING_IDS: tuple[int, ...] = tuple(CLASSES.index(c) for c in THING_CLASSES)

SCENES: tuple[str, ...] = ("coast", "forest", "mountains", "city", "desert", "winter")

# Classes every scene of a category is guaranteed to contain (checked by the tests).
SCENE_CLASSES: dict[str, tuple[str, ...]] = {
    "coast": ("sky", "water", "sand"),
    "forest": ("sky", "grass", "tree"),
    "mountains": ("sky", "mountain", "grass"),
    "city": ("sky", "building", "road"),
    "desert": ("sky", "sand"),
    "winter": ("sky", "snow", "tree"),
}

# Fixed label colour per class (the "toyscapes" palette of synthkit.data.palette).
CLASS_COLORS: tuple[tuple[int, int, int], ...] = (  # chosen far apart, so blurred or hand-drawn maps decode well
    (70, 130, 180),   # sky
    (185, 185, 255),  # cloud
    (255, 215, 0),    # sun
    (140, 70, 20),    # mountain
    (0, 40, 220),     # water
    (240, 195, 120),  # sand
    (90, 205, 50),    # grass
    (255, 255, 255),  # snow
    (90, 90, 90),     # road
    (0, 110, 0),      # tree
    (220, 40, 40),    # building
    (170, 0, 210),    # car
)

STYLE_MODES: dict[str, tuple[str, ...]] = {
    "sky": ("day", "sunset", "overcast", "night"),
    "cloud": ("white", "grey", "pink"),
    "sun": ("yellow", "orange", "pale"),
    "mountain": ("grey_rock", "green", "red_rock", "blue_distant"),
    "water": ("calm", "choppy", "tropical", "murky"),
    "sand": ("pale", "golden", "red"),
    "grass": ("summer", "dry", "mowed"),
    "snow": ("fresh", "icy", "dirty"),
    "road": ("asphalt", "dirt", "cobble"),
    "tree": ("summer", "autumn", "pine", "blossom"),
    "building": ("brick", "concrete", "glass", "painted"),
    "car": ("red", "blue", "yellow", "white", "black"),
}

# Two colours per mode: the texture field t in [0, 1] mixes them, colour = (1 - t) * a + t * b.
_MODE_COLORS: dict[str, tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]] = {
    "sky": (((40, 105, 215), (150, 200, 245)), ((70, 40, 125), (255, 140, 55)),
            ((125, 128, 138), (190, 192, 196)), ((4, 6, 28), (30, 40, 85))),
    "cloud": (((255, 255, 255), (200, 206, 220)), ((150, 150, 160), (90, 90, 102)),
              ((255, 195, 210), (215, 130, 170))),
    "sun": (((255, 240, 90), (255, 215, 40)), ((255, 150, 30), (240, 95, 20)), ((255, 255, 240), (235, 240, 255))),
    "mountain": (((130, 128, 125), (65, 63, 62)), ((80, 135, 65), (40, 85, 40)),
                 ((200, 100, 55), (135, 55, 35)), ((135, 140, 190), (105, 110, 160))),
    "water": (((35, 85, 165), (70, 130, 195)), ((15, 35, 75), (215, 230, 240)),
              ((35, 195, 195), (140, 235, 220)), ((85, 95, 55), (120, 125, 80))),
    "sand": (((240, 228, 190), (215, 198, 155)), ((235, 175, 75), (180, 120, 45)), ((195, 90, 50), (145, 60, 38))),
    "grass": (((85, 170, 60), (45, 115, 35)), ((200, 180, 95), (145, 125, 55)), ((160, 215, 70), (95, 165, 40))),
    "snow": (((250, 252, 255), (222, 230, 245)), ((175, 215, 245), (120, 170, 215)), ((205, 198, 185), (125, 115, 105))),
    "road": (((65, 65, 70), (40, 40, 45)), ((155, 112, 70), (115, 80, 48)), ((175, 165, 150), (105, 95, 85))),
    "tree": (((70, 165, 55), (25, 95, 30)), ((240, 130, 30), (175, 45, 20)), ((20, 85, 65), (8, 45, 38)),
             ((255, 175, 210), (255, 240, 248))),
    "building": (((170, 70, 50), (205, 195, 180)), ((205, 205, 200), (160, 160, 158)),
                 ((60, 120, 165), (165, 210, 235)), ((245, 215, 120), (225, 190, 95))),
    "car": (((210, 30, 30), (150, 15, 15)), ((30, 75, 210), (15, 40, 140)), ((245, 205, 30), (200, 160, 10)),
            ((240, 240, 240), (200, 200, 205)), ((35, 35, 40), (15, 15, 18))),
}
_TRUNK = np.array((95, 62, 35), np.float32) / 255
_WHEEL = np.array((20, 20, 22), np.float32) / 255
_CAR_GLASS = np.array((110, 160, 195), np.float32) / 255
_WINDOW = {  # building mode -> (window glass colour, frame / unlit colour)
    0: ((45, 45, 55), None), 1: ((70, 85, 105), None), 2: ((120, 180, 215), (35, 45, 55)), 3: ((80, 130, 190), (255, 255, 255)),
}

# Bump when a change alters any rendered byte: it names on-disk caches, and tests pin digests of version 1.
RENDER_VERSION = 1
MAX_BOXES = 16  # at most this many thing instances per scene; ToyscapesDataset pads boxes to this length
MIN_SIZE = 32


@dataclass(frozen=True)
class ToyscapesSample:
    """One rendered scene.

    image: uint8 [H, W, 3]; label: uint8 [H, W] (index into CLASSES, every pixel labelled);
    instances: int32 [H, W] (0 = stuff, 1..N = thing instances, numbered far to near);
    boxes: list of (class_id, x0, y0, x1, y1) in pixels, x1/y1 exclusive, boxes[k] belongs to instance k + 1;
    scene: index into SCENES; styles: class name -> {"mode": int, "brightness", "tint_r", "tint_g", "tint_b",
    "texture_scale"} for every class present in `label`.
    """

    image: np.ndarray
    label: np.ndarray
    instances: np.ndarray
    boxes: list[tuple[int, int, int, int, int]]
    scene: int
    styles: dict[str, dict[str, float]]
    seed: int = 0
    index: int = 0

    @property
    def scene_name(self) -> str:
        return SCENES[self.scene]

    def style_mode_names(self) -> dict[str, str]:
        """class name -> readable mode name, e.g. {"sky": "sunset", ...}."""
        return {c: STYLE_MODES[c][int(s["mode"])] for c, s in self.styles.items()}


# --------------------------------------------------------------------------------------------------------------------
# Small exact helpers
# --------------------------------------------------------------------------------------------------------------------

def _tri(x: np.ndarray) -> np.ndarray:
    """Triangle wave with period 1 in [0, 1]: a sin-free, bit-exact stand-in for 0.5 + 0.5 cos(2 pi x)."""
    return np.abs(2.0 * (x - np.floor(x)) - 1.0)


def _sq(x):
    """x * x (not x ** 2, which may go through the platform's pow())."""
    return x * x


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


@functools.lru_cache(maxsize=64)
def _interp_table(size: int, grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear lookup of a (grid+1)-point lattice at the `size` pixel centres: (i0, i1, w1)."""
    u = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * np.float32(grid / size)
    i0 = np.floor(u).astype(np.int64)
    out = (i0, np.minimum(i0 + 1, grid), (u - i0).astype(np.float32))
    for a in out:
        a.setflags(write=False)  # shared by every render at this size
    return out


def _value_noise(lattice: np.ndarray, size: int, r0: int, r1: int) -> np.ndarray:
    """Bilinear value noise in [0, 1] on rows r0:r1 of a size x size image; lattice is [g+1, g+1] float32.

    The lattice is drawn at a fixed resolution, so the noise is the same function of normalised position at any size.
    """
    g = lattice.shape[0] - 1
    i0, i1, w = _interp_table(size, g)
    rows = lattice[:, i0] * (1 - w) + lattice[:, i1] * w                      # [g+1, W]
    a, b, wy = i0[r0:r1], i1[r0:r1], w[r0:r1, None]
    return rows[a] * (1 - wy) + rows[b] * wy                                   # [r1-r0, W]


def _curve(x: np.ndarray, xp: np.ndarray, yp: np.ndarray) -> np.ndarray:
    """Piecewise-linear curve through (xp, yp) evaluated at x (clamped at the ends).

    Like np.interp, but built from separate ufuncs, so no compiler can fuse a multiply-add and the result is
    bit-identical on every platform.
    """
    x = np.asarray(x, np.float64)
    k = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    x0, x1, y0, y1 = xp[k], xp[k + 1], yp[k], yp[k + 1]
    t = np.clip((x - x0) / (x1 - x0), 0.0, 1.0)
    return y0 + t * (y1 - y0)


@functools.lru_cache(maxsize=16)
def _centres(size: int) -> np.ndarray:
    """Normalised pixel-centre coordinates (i + 0.5) / size, float32 [size]."""
    xs = (np.arange(size, dtype=np.float32) + np.float32(0.5)) / np.float32(size)
    xs.setflags(write=False)
    return xs


def _ridge(rng: np.random.Generator, y_mean: float, amp: float, rough: float = 0.55, levels: int = 5):
    """Midpoint-displacement curve: (xp, yp) arrays with 2**levels + 1 points spanning x in [-0.05, 1.05]."""
    n = 2 ** levels
    y = np.zeros(n + 1)
    y[0], y[n] = rng.uniform(-amp, amp, 2)
    step, scale = n, amp
    while step > 1:
        half = step // 2
        mids = np.arange(half, n, step)
        y[mids] = 0.5 * (y[mids - half] + y[mids + half]) + rng.uniform(-scale, scale, mids.size)
        step, scale = half, scale * rough
    xp = np.linspace(-0.05, 1.05, n + 1)
    return xp, y_mean + y


def _flat(y: float, wobble: float = 0.0, rng: np.random.Generator | None = None):
    """A nearly horizontal curve at height y, optionally gently wavy *upwards* (never below y, so a ground band
    starting at the horizon covers every point an object may stand on)."""
    xp = np.linspace(-0.05, 1.05, 9)
    yp = np.full(9, y) if rng is None or wobble == 0 else y - rng.uniform(0, wobble, 9)
    return xp, yp


# --------------------------------------------------------------------------------------------------------------------
# Step 1: layout (size independent)
# --------------------------------------------------------------------------------------------------------------------

@dataclass
class _Prim:
    """A primitive in normalised coordinates. kind decides how params are read (see _Canvas.paint)."""

    cls: int
    kind: str
    params: dict
    shade: float = 1.0
    depth: float = 0.0  # ground-contact y of things; larger = nearer, drawn later


@dataclass
class _Layout:
    scene: int
    horizon: float
    stuff: list = field(default_factory=list)
    things: list = field(default_factory=list)
    keepout: list = field(default_factory=list)  # lakes and roads: ("lake", cx, cy, rx, ry) / ("road", params)


def _scale_at(y: float, horizon: float) -> float:
    """Perspective: apparent size of an object standing at ground height y (1 at the bottom edge)."""
    return float(np.clip((y - horizon) / (1.0 - horizon), 0.12, 1.0))


def _add_tree(L: _Layout, rng, x: float, y: float, size: float, conical: bool | None = None):
    s = _scale_at(y, L.horizon) * size
    h = s * rng.uniform(0.32, 0.48)
    w = h * rng.uniform(0.45, 0.7)
    if conical is None:
        conical = bool(rng.random() < 0.4)
    L.things.append(_Prim(TREE, "tree", dict(x=x, y=y, w=w, h=h, conical=conical),
                          shade=rng.uniform(0.85, 1.1), depth=y))


def _add_building(L: _Layout, rng, x: float, y: float, w: float, h: float):
    roof = "gable" if rng.random() < 0.3 else "flat"
    L.things.append(_Prim(BUILDING, "building", dict(
        x0=x - w / 2, x1=x + w / 2, y=y, h=h, roof=roof, roof_h=h * rng.uniform(0.15, 0.3),
        ncols=int(max(2, round(w / 0.045))), nrows=int(max(2, round(h / 0.06)))),
        shade=rng.uniform(0.85, 1.1), depth=y))


def _add_car(L: _Layout, rng, x: float, y: float, size: float):
    s = _scale_at(y, L.horizon) * size
    w = s * rng.uniform(0.2, 0.26)
    h = w * rng.uniform(0.42, 0.5)
    L.things.append(_Prim(CAR, "car", dict(x=x, y=y, w=w, h=h, facing=1 if rng.random() < 0.5 else -1),
                          shade=rng.uniform(0.9, 1.08), depth=y))


def _sky_objects(L: _Layout, rng, p_sun: float, n_clouds: tuple[int, int]):
    """Sun and clouds, drawn straight after the sky (behind everything else)."""
    has_sun = rng.random() < p_sun
    sx, sy, sr = rng.uniform(0.1, 0.9), rng.uniform(0.08, L.horizon * 0.6), rng.uniform(0.04, 0.075)
    if has_sun:
        L.stuff.append(_Prim(SUN, "ellipses", dict(blobs=[(sx, sy, sr, sr)])))
    for _ in range(int(rng.integers(n_clouds[0], n_clouds[1] + 1))):
        cx, cy = rng.uniform(0.0, 1.0), rng.uniform(0.05, max(0.08, L.horizon * 0.55))
        w = rng.uniform(0.1, 0.22)
        k = int(rng.integers(3, 6))
        offs = rng.uniform(-1, 1, (k, 3))
        blobs = [(cx + o[0] * w * 0.6, cy + o[1] * w * 0.12, w * (0.25 + 0.1 * o[2]), w * (0.16 + 0.05 * o[2]))
                 for o in offs]
        L.stuff.append(_Prim(CLOUD, "ellipses", dict(blobs=blobs), shade=rng.uniform(0.92, 1.05)))


def _mountains(L: _Layout, rng, height: float, snow_p: float, layers: int = 1):
    """Mountain ranges rising above the horizon, farthest first, optionally with snow caps (class snow).

    A range is the upper envelope of a few triangular peaks plus midpoint-displacement roughness.
    """
    for k in range(layers):
        xp, rough = _ridge(rng, 0.0, amp=height * 0.12, rough=0.6, levels=6)
        peaks = np.zeros_like(xp)
        for _ in range(int(rng.integers(2, 5))):
            px, ph = rng.uniform(-0.1, 1.1), height * (1.0 - 0.3 * k) * rng.uniform(0.55, 1.0)
            slope = ph / rng.uniform(0.15, 0.35)
            peaks = np.maximum(peaks, ph - slope * np.abs(xp - px))
        yp = np.minimum(L.horizon - peaks + rough, L.horizon - 0.005)
        shade = 1.0 - 0.12 * (layers - 1 - k)
        L.stuff.append(_Prim(MOUNTAIN, "band", dict(top=(xp, yp), bottom=_flat(L.horizon + 0.02)), shade=shade))
        if rng.random() < snow_p:
            # snow covers everything above a snow line a fraction of the way down from the highest peak
            snowline = float(yp.min() + (L.horizon - yp.min()) * rng.uniform(0.25, 0.45))
            L.stuff.append(_Prim(SNOW, "band", dict(top=(xp, yp), bottom=_flat(snowline, 0.012, rng)), shade=shade))


def _perspective_road(L: _Layout, rng, cls: int = ROAD):
    cx = rng.uniform(0.3, 0.7)
    q = dict(cx_far=cx, cx_near=cx + rng.uniform(-0.3, 0.3), half_near=rng.uniform(0.18, 0.32), horizon=L.horizon)
    L.stuff.append(_Prim(cls, "road", q))
    L.keepout.append(("road", q))


def _lake(L: _Layout, rng, cx: tuple, dy: tuple, rx: tuple, ry: tuple):
    """An elliptic lake below the horizon; ranges for its centre x, depth below the horizon and radii."""
    blob = (rng.uniform(*cx), L.horizon + rng.uniform(*dy), rng.uniform(*rx), rng.uniform(*ry))
    L.stuff.append(_Prim(WATER, "ellipses", dict(blobs=[blob])))
    L.keepout.append(("lake",) + blob)


def _is_free(L: _Layout, x: float, y: float, half_w: float) -> bool:
    """Can an object with ground contact (x, y) and half width half_w stand here (not in a lake, not on a road)?"""
    for k in L.keepout:
        if k[0] == "lake":
            _, cx, cy, rx, ry = k
            if _sq((x - cx) / (rx + half_w)) + _sq((y - cy) / (ry + 0.01)) < 1:
                return False
        else:
            q = k[1]
            d = (y - q["horizon"]) / (1 - q["horizon"])
            if d > 0 and abs(x - (q["cx_far"] + (q["cx_near"] - q["cx_far"]) * d * d)) < q["half_near"] * d + half_w:
                return False
    return True


def _spot(L: _Layout, rng, draw, half_w: float = 0.05, tries: int = 6):
    """Draw ground positions with `draw()` until one is free; None if all `tries` are blocked."""
    for _ in range(tries):
        x, y = draw()
        if _is_free(L, x, y, half_w * _scale_at(y, L.horizon)):
            return x, y
    return None


def _layout(seed: int, index: int, scene: int | None) -> _Layout:
    rng = np.random.default_rng([seed, index, 0])
    drawn = int(rng.integers(len(SCENES)))  # always consumed, so forcing a scene does not shift the stream
    sc = drawn if scene is None else scene
    name = SCENES[sc]
    hz = {"coast": (0.38, 0.52), "forest": (0.4, 0.55), "mountains": (0.55, 0.68), "city": (0.5, 0.6),
          "desert": (0.45, 0.6), "winter": (0.45, 0.6)}[name]
    L = _Layout(scene=sc, horizon=float(rng.uniform(*hz)))
    hzn = L.horizon
    L.stuff.append(_Prim(SKY, "fill", {}))

    if name == "coast":
        _sky_objects(L, rng, 0.7, (1, 4))
        if rng.random() < 0.35:  # a distant island
            x0 = rng.uniform(-0.1, 0.6)
            xp = np.linspace(x0, x0 + rng.uniform(0.25, 0.5), 9)
            a = np.abs(np.linspace(-1, 1, 9))
            yp = hzn - rng.uniform(0.03, 0.1) * (1 - a * np.sqrt(a))
            L.stuff.append(_Prim(MOUNTAIN, "band", dict(top=(xp, yp), bottom=_flat(hzn + 0.005), xrange=(xp[0], xp[-1]))))
        L.stuff.append(_Prim(WATER, "band", dict(top=_flat(hzn), bottom=None)))
        shore = rng.uniform(0.62, 0.8)
        sxp, syp = _ridge(rng, shore, 0.06, rough=0.5, levels=3)
        L.stuff.append(_Prim(SAND, "band", dict(top=(sxp, syp), bottom=None)))
        if rng.random() < 0.4:  # grass dune at the bottom
            gxp, gyp = _ridge(rng, rng.uniform(0.88, 0.95), 0.04, levels=3)
            L.stuff.append(_Prim(GRASS, "band", dict(top=(gxp, gyp), bottom=None)))
        for _ in range(int(rng.integers(0, 4))):
            x = rng.uniform(0.0, 1.0)
            y = float(_curve(np.array([x]), sxp, syp)[0]) + rng.uniform(0.04, 0.25)
            _add_tree(L, rng, x, min(y, 0.99), 1.1)
        for _ in range(int(rng.integers(0, 3))):
            x = rng.uniform(0.05, 0.95)
            y = float(_curve(np.array([x]), sxp, syp)[0]) + rng.uniform(0.04, 0.12)  # on the sand, not in the sea
            s = _scale_at(y, hzn)
            _add_building(L, rng, x, y, s * rng.uniform(0.18, 0.3), s * rng.uniform(0.15, 0.28))

    elif name == "forest":
        _sky_objects(L, rng, 0.5, (0, 3))
        if rng.random() < 0.5:
            _mountains(L, rng, rng.uniform(0.1, 0.2), 0.2)
        L.stuff.append(_Prim(GRASS, "band", dict(top=_flat(hzn, 0.01, rng), bottom=None)))
        if rng.random() < 0.25:
            _lake(L, rng, (0.2, 0.8), (0.08, 0.2), (0.12, 0.25), (0.03, 0.06))
        if rng.random() < 0.35:
            _perspective_road(L, rng)
        def draw():
            u = rng.uniform(0.02, 1.0)
            return rng.uniform(-0.05, 1.05), hzn + (1 - hzn) * u * np.sqrt(u)  # u^1.5: more trees far away

        for _ in range(int(rng.integers(7, 14))):
            if (xy := _spot(L, rng, draw)) is not None:
                _add_tree(L, rng, *xy, 1.2)

    elif name == "mountains":
        _sky_objects(L, rng, 0.5, (0, 3))
        _mountains(L, rng, rng.uniform(0.3, 0.45), 0.75, layers=int(rng.integers(1, 3)))
        L.stuff.append(_Prim(GRASS, "band", dict(top=_flat(hzn, 0.012, rng), bottom=None)))
        if rng.random() < 0.5:
            _lake(L, rng, (0.25, 0.75), (0.07, 0.15), (0.15, 0.3), (0.03, 0.06))
        if rng.random() < 0.3:
            _perspective_road(L, rng)
        for _ in range(int(rng.integers(0, 7))):
            if (xy := _spot(L, rng, lambda: (rng.uniform(0.0, 1.0), hzn + (1 - hzn) * rng.uniform(0.05, 1.0)))):
                _add_tree(L, rng, *xy, 1.0)

    elif name == "city":
        _sky_objects(L, rng, 0.5, (0, 3))
        if rng.random() < 0.3:
            _mountains(L, rng, rng.uniform(0.1, 0.2), 0.3)
        road_top = rng.uniform(0.7, 0.78)
        L.stuff.append(_Prim(GRASS, "band", dict(top=_flat(hzn), bottom=None)))
        L.stuff.append(_Prim(ROAD, "band", dict(top=_flat(road_top), bottom=None, lane=(road_top + 1.0) / 2)))
        x = rng.uniform(-0.1, 0.0)
        while x < 1.0 and len(L.things) < 7:  # a row of buildings standing on the horizon line
            w = rng.uniform(0.12, 0.26)
            _add_building(L, rng, x + w / 2, hzn + rng.uniform(0.0, 0.02), w, rng.uniform(0.18, 0.42))
            x += w + rng.uniform(-0.02, 0.05)
        for _ in range(int(rng.integers(0, 4))):  # trees on the verge between buildings and road
            _add_tree(L, rng, rng.uniform(0.0, 1.0), rng.uniform(hzn + 0.06, road_top - 0.01), 1.3)
        for _ in range(int(rng.integers(1, 5))):
            y = rng.uniform(road_top + 0.1, 0.99)
            _add_car(L, rng, rng.uniform(0.05, 0.95), y, 1.1)

    elif name == "desert":
        _sky_objects(L, rng, 0.9, (0, 2))
        if rng.random() < 0.6:
            _mountains(L, rng, rng.uniform(0.08, 0.2), 0.0)
        for k in range(3):  # dunes, far to near, each a little darker so their edges show
            yk = hzn + (1 - hzn) * 0.3 * k
            xp, yp = _ridge(rng, yk, 0.04 if k else 0.01, rough=0.5, levels=3)
            L.stuff.append(_Prim(SAND, "band", dict(top=(xp, yp), bottom=None), shade=1.0 - 0.07 * k))
        if rng.random() < 0.4:
            _perspective_road(L, rng)
        if rng.random() < 0.2:
            _lake(L, rng, (0.2, 0.8), (0.1, 0.2), (0.06, 0.12), (0.02, 0.04))
            cx, cy = L.keepout[-1][1:3]
            for _ in range(int(rng.integers(1, 3))):  # an oasis: palms around the pool
                if (xy := _spot(L, rng, lambda: (cx + rng.uniform(-0.2, 0.2), cy + rng.uniform(-0.02, 0.12)))):
                    _add_tree(L, rng, *xy, 1.0)
        for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.35 else 0):  # a small adobe village
            if (xy := _spot(L, rng, lambda: (rng.uniform(0.05, 0.95), hzn + rng.uniform(0.03, 0.15)), 0.15)):
                s = _scale_at(xy[1], hzn)
                _add_building(L, rng, *xy, s * rng.uniform(0.2, 0.35), s * rng.uniform(0.12, 0.22))

    elif name == "winter":
        _sky_objects(L, rng, 0.4, (0, 4))
        if rng.random() < 0.8:
            _mountains(L, rng, rng.uniform(0.15, 0.35), 0.9)
        L.stuff.append(_Prim(SNOW, "band", dict(top=_flat(hzn, 0.01, rng), bottom=None)))
        if rng.random() < 0.3:
            _lake(L, rng, (0.2, 0.8), (0.08, 0.15), (0.12, 0.25), (0.03, 0.05))
        if rng.random() < 0.3:
            _perspective_road(L, rng)
        if rng.random() < 0.5:  # a cabin
            if (xy := _spot(L, rng, lambda: (rng.uniform(0.1, 0.9), hzn + rng.uniform(0.05, 0.2)), 0.2)):
                s = _scale_at(xy[1], hzn)
                _add_building(L, rng, *xy, s * rng.uniform(0.25, 0.35), s * rng.uniform(0.2, 0.3))

        def draw():
            u = rng.uniform(0.03, 1.0)
            return rng.uniform(0.0, 1.0), hzn + (1 - hzn) * u * np.sqrt(u)

        for _ in range(int(rng.integers(3, 10))):
            if (xy := _spot(L, rng, draw)) is not None:
                _add_tree(L, rng, *xy, 1.1, conical=bool(rng.random() < 0.75))

    # Painter's algorithm: far things (small ground y) first; stable sort keeps generation order for ties.
    L.things.sort(key=lambda p: p.depth)
    del L.things[MAX_BOXES:]
    return L


# --------------------------------------------------------------------------------------------------------------------
# Per-class appearance (independent random stream per class)
# --------------------------------------------------------------------------------------------------------------------

def _draw_styles(seed: int, index: int) -> list[dict]:
    """Draw mode, jitter and texture lattices for every class, each from its own stream [seed, index, 1, class_id]."""
    out = []
    for c, name in enumerate(CLASSES):
        rng = np.random.default_rng([seed, index, 1, c])
        mode = int(rng.integers(len(STYLE_MODES[name])))
        tint = rng.uniform(-0.05, 0.05, 3)
        st = {"mode": mode, "brightness": float(rng.uniform(0.9, 1.1)), "tint_r": float(tint[0]),
              "tint_g": float(tint[1]), "tint_b": float(tint[2]), "texture_scale": float(rng.uniform(0.8, 1.25))}
        # texture lattices come next from the same stream, drawn only if the class is painted (see _lattices)
        out.append({"record": st, "rng": rng, "lattices": None})
    return out


def _lattices(style: dict) -> list[np.ndarray]:
    """Value-noise lattices (5x5, 13x13, 41x41) of one class, drawn on first use from the class's own stream."""
    if style["lattices"] is None:
        style["lattices"] = [style["rng"].random((g + 1, g + 1), dtype=np.float32) for g in (4, 12, 40)]
    return style["lattices"]


def _y_extent(p: _Prim) -> tuple[float, float]:
    """Normalised rows [y0, y1] a primitive can cover (used to size the colour fields)."""
    q = p.params
    if p.kind == "fill":
        return 0.0, 1.0
    if p.kind == "band":
        return float(np.min(q["top"][1])), 1.0 if q["bottom"] is None else float(np.max(q["bottom"][1]))
    if p.kind == "ellipses":
        return min(b[1] - b[3] for b in q["blobs"]), max(b[1] + b[3] for b in q["blobs"])
    if p.kind == "road":
        return q["horizon"], 1.0
    if p.kind == "building":
        return q["y"] - q["h"] - q["roof_h"], q["y"]
    return q["y"] - q["h"], q["y"]  # tree, car


class _Canvas:
    """Rasterises primitives at one size; owns the image, label and instance buffers."""

    def __init__(self, size: int, styles: list[dict], horizon: float):
        self.S = size
        self.xs = _centres(size)
        self.img = np.zeros((size, size, 3), np.float32)
        self.label = np.zeros((size, size), np.uint8)
        self.inst = np.zeros((size, size), np.int32)
        self.styles = styles
        self.horizon = np.float32(horizon)
        self._fields: dict[int, tuple[int, np.ndarray]] = {}
        self.windows: list[tuple[int, int, int, int]] = []  # window each instance was drawn in

    # ---- appearance fields -----------------------------------------------------------------------------------------

    def field(self, c: int, r0: int, r1: int) -> np.ndarray:
        """Colour of class c on rows r0:r1, [r1-r0, W, 3] float32, computed once per class over a row span."""
        have = self._fields.get(c)
        if have is None or have[0] > r0 or have[0] + have[1].shape[0] < r1:
            lo = r0 if have is None else min(r0, have[0])
            hi = r1 if have is None else max(r1, have[0] + have[1].shape[0])
            have = (lo, self._class_colour(c, lo, hi))
            self._fields[c] = have
        return have[1][r0 - have[0]:r1 - have[0]]

    def _class_colour(self, c: int, r0: int, r1: int) -> np.ndarray:
        st = self.styles[c]
        rec, lat = st["record"], _lattices(st)
        m, k = rec["mode"], np.float32(rec["texture_scale"])
        S = self.S
        X = self.xs[None, :]                                   # [1, W]
        Y = self.xs[r0:r1, None]                               # [h, 1]
        n1 = _value_noise(lat[0], S, r0, r1)                   # coarse noise [h, W]
        n2 = _value_noise(lat[1], S, r0, r1)                   # medium noise
        fbm = 0.6 * n1 + 0.4 * n2
        name = CLASSES[c]
        if c == SKY:
            t = np.clip(Y / self.horizon, 0, 1) + 0 * X        # vertical gradient, top colour -> horizon colour
            if m == 2:                                         # overcast: mottled grey
                t = 0.5 * t + 0.5 * fbm
            if m == 3:                                         # night: stars from a fine lattice, nearest lookup
                g = lat[2].shape[0] - 1
                u = self.xs * np.float32(g)
                idx = np.minimum(u.astype(np.int64), g - 1)
                centre = np.abs(_frac(u) - np.float32(0.5)) < np.float32(0.3)     # a dot in the middle of a cell
                stars = (lat[2][idx[r0:r1, None], idx[None, :]] > 0.985) & centre[r0:r1, None] & centre[None, :]
                t = np.where(stars, np.float32(6.0), t)
        elif c in (CLOUD, SUN):
            t = fbm if c == CLOUD else 0.5 * n2
        elif c == MOUNTAIN:
            if m == 0:
                t = np.clip(1.6 * (0.3 * n1 + 0.7 * n2) - 0.3, 0, 1)             # rough grey rock
            elif m == 2:
                t = 0.6 * _tri(Y * (14 * k) + 1.5 * n1) + 0.4 * n2             # horizontal strata
            else:
                t = 0.5 * fbm if m == 3 else fbm
        elif c == WATER:
            if m == 1:                                                           # choppy: white-capped streaks
                t = (_tri(Y * (45 * k) + 3.0 * n2 + X * 2) > 0.8).astype(np.float32) * (0.5 + 0.5 * n1)
            else:
                t = 0.55 * _tri(Y * (25 * k) + 2.0 * n1) + 0.45 * n2          # gentle waves
        elif c == SAND:
            t = 0.5 * _tri((X * 0.6 + Y) * (28 * k) + 2.0 * n1) + 0.5 * n2 if m == 1 else fbm
        elif c == GRASS:
            if m == 1:
                t = 0.5 * _tri(X * (70 * k) + 3.0 * n2) + 0.5 * fbm            # dry: vertical streaks
            elif m == 2:
                t = (_tri((X - Y * 0.6) * (6 * k)) > 0.5) * np.float32(0.7) + 0.3 * n2  # mowed stripes
            else:
                t = fbm
        elif c == SNOW:
            if m == 1:
                t = 0.6 * _tri((X + Y * 0.5) * (16 * k) + 2 * n1) + 0.4 * n2   # icy sheen
            elif m == 2:
                t = np.clip(2.0 * fbm - 0.5, 0, 1)                               # dirty blotches
            else:
                t = 0.6 * n2
        elif c == ROAD:
            if m == 2:                                                           # cobbles: mortar grid
                t = ((_tri(X * (36 * k)) < 0.18) | (_tri(Y * (36 * k) + (np.floor(X * 36 * k) * 0.5)) < 0.18)
                     ).astype(np.float32) * 0.8 + 0.2 * n2
            else:
                t = (0.3 if m == 0 else 1.0) * fbm
        elif c == TREE:
            n3 = _value_noise(lat[2], S, r0, r1)
            if m == 2:
                t = 0.6 * _tri(X * (60 * k) + 2 * n2) + 0.4 * n3               # pine: needle streaks
            elif m == 3:
                t = (n3 > 0.62).astype(np.float32) * 0.8 + 0.2 * n2            # blossom: white dots
            else:
                t = np.clip(1.5 * (0.4 * n2 + 0.6 * n3) - 0.25, 0, 1)          # leafy blotches
        elif c == BUILDING:
            if m == 0:                                                           # brick courses with mortar lines
                row = np.floor(Y * (64 * k))
                t = ((_frac(Y * (64 * k)) < 0.25) | (_frac(X * (24 * k) + 0.5 * row) < 0.12)).astype(np.float32)
                t = t * 0.9 + 0.1 * n2
            elif m == 2:
                t = np.clip(_frac(Y * 3 + X * 2 + n1), 0, 1)                    # sky reflections
            else:
                t = 0.4 * n2
        else:  # CAR: glossy shading
            t = 0.5 * n1
        # jitter: colour = brightness * (1 + tint) * mix(a, b, t), folded into the two end colours
        gain = np.float32(rec["brightness"]) * (1 + np.array([rec["tint_r"], rec["tint_g"], rec["tint_b"]], np.float32))
        a, b = (np.array(v, np.float32) / 255 * gain for v in _MODE_COLORS[name][m])
        t = np.broadcast_to(t, (r1 - r0, S))[..., None]
        col = a + (b - a) * t                                                    # [h, W, 3]
        if c == SKY and m == 3:
            col = np.where(t > 2, np.float32(0.95) * gain, col)                 # stars
        return col

    # ---- geometry ---------------------------------------------------------------------------------------------------

    def _win(self, x0: float, y0: float, x1: float, y1: float):
        S = self.S
        c0 = max(0, int(np.floor(x0 * S)))
        c1 = min(S, int(np.ceil(x1 * S)))
        r0 = max(0, int(np.floor(y0 * S)))
        r1 = min(S, int(np.ceil(y1 * S)))
        return r0, r1, c0, c1

    def _put(self, c: int, win, mask: np.ndarray, colour: np.ndarray | None = None, inst: int = 0, shade: float = 1.0):
        r0, r1, c0, c1 = win
        if colour is None:
            colour = self.field(c, r0, r1)[:, c0:c1]
        if shade != 1.0:
            colour = colour * np.float32(shade)
        np.copyto(self.img[r0:r1, c0:c1], colour, where=mask[..., None])
        np.copyto(self.label[r0:r1, c0:c1], np.uint8(c), where=mask)
        np.copyto(self.inst[r0:r1, c0:c1], np.int32(inst), where=mask)
        if inst:
            self.windows.append(win)

    def reserve(self, prims: Sequence[_Prim]) -> None:
        """Compute each class's colour field once, over the union of the rows its primitives may cover."""
        spans: dict[int, list[float]] = {}
        for p in prims:
            y0, y1 = _y_extent(p)
            lo, hi = spans.setdefault(p.cls, [y0, y1])
            spans[p.cls] = [min(lo, y0), max(hi, y1)]
        for c, (y0, y1) in spans.items():
            r0, r1, _, _ = self._win(0.0, y0, 1.0, y1)
            if r1 > r0:
                self.field(c, r0, r1)

    def paint(self, p: _Prim, inst: int = 0):
        n = len(self.windows)
        getattr(self, "_paint_" + p.kind)(p, inst)
        if inst and len(self.windows) == n:  # a thing outside the image drew nothing: record an empty window
            self.windows.append((0, 0, 0, 0))

    def _paint_fill(self, p: _Prim, inst: int):
        self.img[...] = self.field(p.cls, 0, self.S) * np.float32(p.shade)
        self.label[...] = p.cls
        self.inst[...] = 0

    def _paint_band(self, p: _Prim, inst: int):
        (txp, typ), bottom = p.params["top"], p.params["bottom"]
        y_lo = float(np.min(typ))
        y_hi = 1.0 if bottom is None else float(np.max(bottom[1]))
        xr = p.params.get("xrange", (0.0, 1.0))
        win = self._win(xr[0], y_lo, xr[1], y_hi)
        r0, r1, c0, c1 = win
        if r1 <= r0 or c1 <= c0:
            return
        X, Y = self.xs[None, c0:c1], self.xs[r0:r1, None]
        top = _curve(X, txp, typ).astype(np.float32)
        mask = Y >= top
        if bottom is not None:
            mask &= Y < _curve(X, bottom[0], bottom[1]).astype(np.float32)
        if "xrange" in p.params:
            mask &= (X >= xr[0]) & (X <= xr[1])
        col = self.field(p.cls, r0, r1)[:, c0:c1]
        if p.cls == ROAD and self.styles[ROAD]["record"]["mode"] == 0 and "lane" in p.params:
            # asphalt: dashed white lane line along the street
            lane = np.float32(p.params["lane"])
            dash = (np.abs(Y - lane) < 0.012) & (_frac(X * 6) < 0.55)
            col = np.where(dash[..., None], np.float32(0.92), col)
        self._put(p.cls, win, mask, col, shade=p.shade)

    def _paint_ellipses(self, p: _Prim, inst: int):
        blobs = p.params["blobs"]
        x0 = min(b[0] - b[2] for b in blobs)
        x1 = max(b[0] + b[2] for b in blobs)
        y0 = min(b[1] - b[3] for b in blobs)
        y1 = max(b[1] + b[3] for b in blobs)
        win = self._win(x0, y0, x1, y1)
        r0, r1, c0, c1 = win
        if r1 <= r0 or c1 <= c0:
            return
        X, Y = self.xs[None, c0:c1], self.xs[r0:r1, None]
        mask = np.zeros((r1 - r0, c1 - c0), bool)
        for cx, cy, rx, ry in blobs:
            mask |= _sq((X - np.float32(cx)) / np.float32(rx)) + _sq((Y - np.float32(cy)) / np.float32(ry)) < 1
        col = self.field(p.cls, r0, r1)[:, c0:c1]
        if p.cls == CLOUD:  # darker underside
            col = col * (1 - 0.15 * np.clip((Y - np.float32(y0)) / np.float32(max(y1 - y0, 1e-3)), 0, 1))[..., None]
        self._put(p.cls, win, mask, col, shade=p.shade)

    def _paint_road(self, p: _Prim, inst: int):
        hz = np.float32(p.params["horizon"])
        win = self._win(0.0, float(hz), 1.0, 1.0)
        r0, r1, c0, c1 = win
        X, Y = self.xs[None, c0:c1], self.xs[r0:r1, None]
        d = np.clip((Y - hz) / (1 - hz), 0, 1)                         # 0 at the horizon, 1 at the bottom edge
        cx = np.float32(p.params["cx_far"]) + (np.float32(p.params["cx_near"] - p.params["cx_far"])) * d * d
        u = (X - cx) / np.maximum(np.float32(p.params["half_near"]) * d, np.float32(1e-4))  # -1..1 across the road
        mask = (np.abs(u) < 1) & (Y > hz)
        col = self.field(ROAD, r0, r1)[:, c0:c1]
        if self.styles[ROAD]["record"]["mode"] == 0:
            # centre dashes, equally spaced in depth: 1/(y - horizon) is proportional to distance
            depth = np.float32(0.05) / np.maximum(Y - hz, np.float32(1e-3))
            dash = (np.abs(u) < 0.05) & (_frac(depth * 2) < 0.5)
            col = np.where(dash[..., None], np.float32(0.92), col)
        self._put(ROAD, win, mask, col, shade=p.shade)

    def _paint_tree(self, p: _Prim, inst: int):
        q = p.params
        x, y, w, h = (np.float32(q[k]) for k in ("x", "y", "w", "h"))
        win = self._win(x - w / 2, y - h, x + w / 2, y)
        r0, r1, c0, c1 = win
        if r1 <= r0 or c1 <= c0:
            return
        X, Y = self.xs[None, c0:c1], self.xs[r0:r1, None]
        trunk = (np.abs(X - x) < w * 0.09) & (Y > y - h * 0.35) & (Y < y)
        if q["conical"]:
            # two stacked triangles: half-width grows linearly from the apex
            canopy = np.zeros_like(trunk)
            for top, base in ((0.0, 0.55), (0.3, 0.82)):
                ya, yb = y - h + h * top, y - h + h * base
                hw = (w / 2) * (0.75 + 0.25 * base) * (Y - ya) / (yb - ya)
                canopy |= (Y >= ya) & (Y < yb) & (np.abs(X - x) < hw)
        else:
            canopy = np.zeros_like(trunk)
            for dx, dy, r in ((0.0, 0.38, 0.5), (-0.22, 0.55, 0.34), (0.22, 0.55, 0.34), (0.0, 0.2, 0.33)):
                cx, cy, rx, ry = x + dx * w, y - h + dy * h, r * w, r * h * 0.8
                canopy |= _sq((X - cx) / rx) + _sq((Y - cy) / ry) < 1
        trunk &= ~canopy
        col = self.field(TREE, r0, r1)[:, c0:c1]
        col = np.where(trunk[..., None], _TRUNK, col)
        self._put(TREE, win, canopy | trunk, col, inst, shade=p.shade)

    def _paint_building(self, p: _Prim, inst: int):
        q = p.params
        x0, x1, y, h, rh = (np.float32(q[k]) for k in ("x0", "x1", "y", "h", "roof_h"))
        gable = q["roof"] == "gable"
        top = y - h - (rh if gable else 0)
        win = self._win(x0, top, x1, y)
        r0, r1, c0, c1 = win
        if r1 <= r0 or c1 <= c0:
            return
        X, Y = self.xs[None, c0:c1], self.xs[r0:r1, None]
        body = (X >= x0) & (X < x1) & (Y >= y - h) & (Y < y)
        mask = body.copy()
        roof = np.zeros_like(body)
        if gable:
            xc, hw = (x0 + x1) / 2, (x1 - x0) / 2
            roof = (Y >= top) & (Y < y - h) & (np.abs(X - xc) < hw * (Y - top) / rh)
            mask |= roof
        m = self.styles[BUILDING]["record"]["mode"]
        col = self.field(BUILDING, r0, r1)[:, c0:c1]
        # window grid in building-local coordinates U, V in [0, 1)
        U = (X - x0) / (x1 - x0) * np.float32(q["ncols"])
        V = (Y - (y - h)) / h * np.float32(q["nrows"])
        glass_c, frame_c = (np.array(v, np.float32) / 255 if v is not None else None for v in _WINDOW[m])
        fu, fv = _frac(U), _frac(V)
        if m == 2:    # glass: curtain wall, thin dark frames
            frame = ((fu < 0.08) | (fv < 0.1)) & body
            col = np.where(frame[..., None], frame_c, col)
        else:
            lo, hi = (0.3, 0.7) if m == 0 else (0.22, 0.78)
            win_m = body & (fu > lo) & (fu < hi) & (fv > 0.3) & (fv < 0.78) & (V < q["nrows"] - 0.4)
            if m == 3:    # painted: white frames around blue windows
                fr = body & (fu > lo - 0.08) & (fu < hi + 0.08) & (fv > 0.22) & (fv < 0.86) & (V < q["nrows"] - 0.4)
                col = np.where(fr[..., None], frame_c, col)
            col = np.where(win_m[..., None], glass_c, col)
        if gable:
            col = np.where(roof[..., None], col * np.float32(0.7), col)
        self._put(BUILDING, win, mask, col, inst, shade=p.shade)

    def _paint_car(self, p: _Prim, inst: int):
        q = p.params
        x, y, w, h = (np.float32(q[k]) for k in ("x", "y", "w", "h"))
        f = np.float32(q["facing"])
        win = self._win(x - w / 2, y - h, x + w / 2, y)
        r0, r1, c0, c1 = win
        if r1 <= r0 or c1 <= c0:
            return
        X, Y = self.xs[None, c0:c1], self.xs[r0:r1, None]
        rw = h * 0.2                                                    # wheel radius
        body = (np.abs(X - x) < w / 2) & (Y >= y - h * 0.62) & (Y < y - rw * 0.6)
        # cabin: trapezoid, sloped windscreen on the facing side
        v = np.clip((Y - (y - h)) / (h * 0.4), 0, 1)                   # 0 at the roof, 1 at the waist line
        rel = (X - x) * f
        cabin = (Y >= y - h) & (Y < y - h * 0.6) & (rel < w * (0.12 + 0.16 * v)) & (rel > -w * (0.32 + 0.06 * v))
        wheels = np.zeros_like(body)
        for dx in (-0.3, 0.3):
            wheels |= _sq(X - (x + dx * w)) + _sq(Y - (y - rw)) < rw * rw
        glass = cabin & (Y > y - h * 0.92) & (np.abs(rel + w * 0.1) > w * 0.025) & (rel < w * (0.08 + 0.16 * v)) \
            & (rel > -w * (0.28 + 0.06 * v))
        col = self.field(CAR, r0, r1)[:, c0:c1]
        col = np.where(glass[..., None], _CAR_GLASS, col)
        col = np.where(wheels[..., None], _WHEEL, col)
        self._put(CAR, win, body | cabin | wheels, col, inst, shade=p.shade)


# --------------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------------

def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ValueError(f"size must be a positive int >= {MIN_SIZE} (e.g. 64, 128 or 256), got {size!r}")
    return int(size)


def _check_scene(scene) -> int | None:
    if scene is None:
        return None
    if isinstance(scene, str):
        if scene not in SCENES:
            raise ValueError(f"unknown Toyscapes scene {scene!r}; valid scenes: {', '.join(SCENES)}")
        return SCENES.index(scene)
    if isinstance(scene, (int, np.integer)) and not isinstance(scene, bool) and 0 <= scene < len(SCENES):
        return int(scene)
    raise ValueError(f"scene must be None, a name ({', '.join(SCENES)}) or an id 0..{len(SCENES) - 1}, got {scene!r}")


def render(seed: int, index: int, size: int = 128, scene: str | int | None = None) -> ToyscapesSample:
    """Render scene `index` of stream `seed` at `size` x `size` pixels (scene: force a category by name or id)."""
    for name, v in (("seed", seed), ("index", index)):
        # below 2**32 each is one SeedSequence word, so no two (seed, index) pairs share a random stream
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < 2**32:
            raise ValueError(f"{name} must be an int in [0, 2**32), got {v!r}")
    size = _check_size(size)
    sc = _check_scene(scene)
    L = _layout(int(seed), int(index), sc)
    styles = _draw_styles(int(seed), int(index))
    cv = _Canvas(size, styles, L.horizon)
    cv.reserve(L.stuff + L.things)
    for p in L.stuff:
        cv.paint(p)
    for k, p in enumerate(L.things, start=1):
        cv.paint(p, inst=k)

    # Boxes from the *visible* pixels of each instance (occlusion only shrinks them); instances hidden
    # completely are dropped and the rest renumbered 1..N so that boxes[k] belongs to instance k + 1.
    inst = cv.inst
    boxes: list[tuple[int, int, int, int, int]] = []
    remap = np.zeros(len(L.things) + 1, np.int32)
    for k, (p, win) in enumerate(zip(L.things, cv.windows), start=1):
        r0, r1, c0, c1 = win
        m = inst[r0:r1, c0:c1] == k
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        if rows.size == 0:
            continue
        boxes.append((p.cls, c0 + int(cols[0]), r0 + int(rows[0]), c0 + int(cols[-1]) + 1, r0 + int(rows[-1]) + 1))
        remap[k] = len(boxes)
    inst = remap[inst]

    image = (np.clip(cv.img, 0, 1) * 255 + 0.5).astype(np.uint8)
    present = np.flatnonzero(np.bincount(cv.label.ravel(), minlength=NUM_CLASSES))
    rec = {CLASSES[c]: dict(styles[c]["record"]) for c in present}
    return ToyscapesSample(image=image, label=cv.label, instances=inst, boxes=boxes, scene=L.scene, styles=rec,
                           seed=int(seed), index=int(index))


SPLITS = ("train", "val", "test")


def split_seed(seed: int, split: str) -> int:
    """Render seed of a split: seed * 3 + {train: 0, val: 1, test: 2}; distinct for every (seed, split) pair."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return int(seed) * len(SPLITS) + SPLITS.index(split)


def _sample_to_npz(s: ToyscapesSample, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    np.savez(tmp, image=s.image, label=s.label, instances=s.instances,
             boxes=np.array(s.boxes, np.int32).reshape(-1, 5), scene=s.scene,
             styles=np.array(json.dumps(s.styles)), seed=s.seed, index=s.index)
    os.replace(tmp, path)  # atomic, so DataLoader workers never read half a file


def _sample_from_npz(path: Path) -> ToyscapesSample:
    with np.load(path) as z:
        return ToyscapesSample(image=z["image"], label=z["label"], instances=z["instances"],
                               boxes=[tuple(int(v) for v in b) for b in z["boxes"]], scene=int(z["scene"]),
                               styles=json.loads(str(z["styles"])), seed=int(z["seed"]), index=int(z["index"]))


class ToyscapesDataset:
    """Torch dataset over `render`. Items are dicts of tensors (the contract of CONTRIBUTING.md):

    image float [3,H,W] in [-1,1]; label long [H,W]; seg float one-hot [C,H,W]; instances long [H,W];
    boxes float [MAX_BOXES,5] rows (class_id, x0, y0, x1, y1) padded with -1; num_boxes long; scene long;
    style_modes long [C] (mode id per class, -1 = class absent); index long.

    Split `split` of `seed` renders with `split_seed(seed, split)`, so the splits never share a scene.
    `cache_dir`: optional folder; rendered samples are stored there as .npz and read back next time.
    """

    def __init__(self, size: int = 128, length: int = 1000, split: Literal["train", "val", "test"] = "train",
                 seed: int = 0, cache_dir: str | os.PathLike | None = None, scene: str | None = None):
        self.size = _check_size(size)
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0:
            raise ValueError(f"length must be a positive int, got {length!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32 // 3:
            raise ValueError(f"seed must be an int in [0, {2**32 // 3}) (split seeds are seed * 3 + split), got {seed!r}")
        if length > 2**32:
            raise ValueError(f"length must be at most 2**32, got {length}")
        self.length, self.split, self.seed = int(length), split, int(seed)
        self.render_seed = split_seed(seed, split)
        self.scene = scene
        _check_scene(scene)
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / (
            f"toyscapes_v{RENDER_VERSION}_s{self.render_seed}_{self.size}" + (f"_{scene}" if scene else ""))

    def __len__(self) -> int:
        return self.length

    def sample(self, i: int) -> ToyscapesSample:
        """The raw ToyscapesSample behind item i (numpy arrays, boxes, style records)."""
        if not -self.length <= i < self.length:
            raise IndexError(f"index {i} out of range for a ToyscapesDataset of length {self.length}")
        i = i % self.length
        if self.cache_dir is not None:
            path = self.cache_dir / f"{i:07d}.npz"
            if path.exists():
                return _sample_from_npz(path)
            s = render(self.render_seed, i, self.size, self.scene)
            _sample_to_npz(s, path)
            return s
        return render(self.render_seed, i, self.size, self.scene)

    def __getitem__(self, i: int) -> dict:
        import torch

        s = self.sample(int(i))
        image = torch.from_numpy(s.image).permute(2, 0, 1).float().div_(127.5).sub_(1.0)      # [3, H, W]
        label = torch.from_numpy(s.label.astype(np.int64))                                      # [H, W]
        seg = torch.zeros(NUM_CLASSES, *label.shape).scatter_(0, label[None], 1.0)              # one-hot [C, H, W]
        boxes = torch.full((MAX_BOXES, 5), -1.0)
        if s.boxes:
            boxes[:len(s.boxes)] = torch.tensor(s.boxes, dtype=torch.float32)
        modes = torch.full((NUM_CLASSES,), -1, dtype=torch.long)
        for name, st in s.styles.items():
            modes[CLASSES.index(name)] = int(st["mode"])
        return {
            "image": image, "label": label, "seg": seg,
            "instances": torch.from_numpy(s.instances.astype(np.int64)),
            "boxes": boxes, "num_boxes": torch.tensor(len(s.boxes), dtype=torch.long),
            "scene": torch.tensor(s.scene, dtype=torch.long), "style_modes": modes,
            "index": torch.tensor(int(i) % self.length, dtype=torch.long),
        }


def preview_grid(n: int = 16, size: int = 128, seed: int = 0, out: str | os.PathLike | None = None,
                 scene: str | None = None, ncols: int = 4) -> "Path | np.ndarray":
    """A grid of n scenes (`ncols` per row), each image next to its coloured label map with boxes.

    With `out`: writes the grid as PNG and returns the Path. Without: returns the grid, uint8 [H, W, 3].
    Used by ``synthkit data preview toyscapes --n 16 --size 128 --out grid.png``.
    """
    from synthkit.viz import colorize, draw_boxes, make_grid
    from synthkit.data.palette import get_palette

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}")
    size = _check_size(size)
    pal = get_palette("toyscapes")
    tiles = []
    for i in range(n):
        s = render(seed, i, size, scene)
        tiles.append(s.image)
        tiles.append(draw_boxes(colorize(s.label, pal), s.boxes, pal, labels=size >= 192))
    grid = make_grid(tiles, nrow=2 * max(1, min(ncols, n)))
    if out is not None:
        from PIL import Image

        out = Path(out)
        if out.suffix.lower() not in (".png", ""):
            raise ValueError(f"preview grids are written as PNG; give an output path ending in .png, got {str(out)!r}")
        out = out.with_suffix(".png")
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(out)
        return out
    return grid


__all__ = [
    "CLASSES", "NUM_CLASSES", "THING_CLASSES", "THING_IDS", "SCENES", "SCENE_CLASSES", "STYLE_MODES", "CLASS_COLORS",
    "MAX_BOXES", "RENDER_VERSION", "SPLITS", "ToyscapesSample", "ToyscapesDataset", "render", "split_seed", "preview_grid",
]
