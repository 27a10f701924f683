"""Step 1 of a Toyscapes scene: a size-independent list of primitives, drawn from the layout stream
``default_rng([seed, index, 0])`` (scene category, horizon, sky objects, ridges, ground bands, lakes, roads, things)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synthkit.data.toyscapes.classes import (
    BUILDING, CAR, CLOUD, GRASS, MAX_BOXES, MOUNTAIN, ROAD, SAND, SCENES, SKY, SNOW, SUN, TREE, WATER,
)
from synthkit.data.toyscapes.exact import _curve, _sq  # noqa: F401


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
