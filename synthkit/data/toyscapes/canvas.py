"""Step 2 of a Toyscapes scene: the per-class appearance streams and the canvas that rasterises the primitives
(painter's algorithm) at one size."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from synthkit.data.toyscapes.classes import (
    BUILDING, CAR, CLASSES, CLOUD, GRASS, MOUNTAIN, ROAD, SAND, SKY, SNOW, STYLE_MODES, SUN, TREE, WATER,
)
from synthkit.data.toyscapes.exact import _centres, _curve, _frac, _sq, _tri, _value_noise  # noqa: F401
from synthkit.data.toyscapes.layout import _Prim

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
