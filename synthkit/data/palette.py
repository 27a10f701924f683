"""Label palettes and conversions between index maps and colour maps.

A label map is an integer image [H, W] of class ids. Users often hold a *colour* map instead (a PNG painted with the
dataset palette, maybe anti-aliased or hand-drawn in a demo). This module converts in both directions:

    pal = get_palette("cityscapes")
    rgb = labels_to_color(label, pal)                      # [H, W] ids  -> [H, W, 3] uint8
    label, n_off = color_to_labels(rgb, pal)               # nearest palette colour per pixel
    label = load_label_map("mask.png", pal)                # index PNG (L/P), RGB/RGBA colour map or 0/255 mask

Palettes:

- ``toyscapes``: 12 classes of synthkit.data.toyscapes (id 0 = sky, every pixel labelled).
- ``cityscapes``: the 35 label ids used by SPADE/SMIS/BachGAN (label_nc = 35): ids 0..33 with the colours of
  cityscapesScripts ``helpers/labels.py``; id 34 is "license plate", which is id -1 in the official list (never
  written to ground truth) and gets its official colour (0, 0, 142), the colour of "car".
- ``ade20k``: 151 ids, 0 = "other" (unlabeled, black) then the 150 SceneParsing classes with their standard colours
  (the list of the ADE20K benchmark toolkit, ``color150``).
- ``deepfashion``: the 8 classes SMIS uses (CIHP_PGN parsing regrouped, see SMIS issue #7). The official channel
  order is NOT documented; synthkit uses 0 background, 1 hair, 2 face, 3 skin (incl. arms, hands, legs), 4 top,
  5 bottom, 6 socks, 7 shoes, with colours of our own choosing.

Several official palettes repeat colours (cityscapes ids 0-4 are all black; ade20k "road" and "skyscraper" share
(140, 140, 140)); decoding a colour map returns the lowest id of a shared colour.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["Palette", "PALETTES", "get_palette", "labels_to_color", "color_to_labels", "load_label_map"]


@dataclass(frozen=True, eq=False)
class Palette:
    """A named list of classes with one RGB colour each (`colors`: uint8 [N, 3], row = class id)."""

    name: str
    names: tuple[str, ...]
    colors: np.ndarray

    def __post_init__(self):
        c = np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3).copy()
        c.setflags(write=False)
        object.__setattr__(self, "colors", c)
        if len(self.names) != len(c):
            raise ValueError(f"palette {self.name!r}: {len(self.names)} names but {len(c)} colours")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        return len(self.names)


_CITYSCAPES = (  # (name, colour) for ids 0..34, cityscapesScripts helpers/labels.py
    ("unlabeled", (0, 0, 0)), ("ego vehicle", (0, 0, 0)), ("rectification border", (0, 0, 0)),
    ("out of roi", (0, 0, 0)), ("static", (0, 0, 0)), ("dynamic", (111, 74, 0)), ("ground", (81, 0, 81)),
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("parking", (250, 170, 160)),
    ("rail track", (230, 150, 140)), ("building", (70, 70, 70)), ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)), ("guard rail", (180, 165, 180)), ("bridge", (150, 100, 100)),
    ("tunnel", (150, 120, 90)), ("pole", (153, 153, 153)), ("polegroup", (153, 153, 153)),
    ("traffic light", (250, 170, 30)), ("traffic sign", (220, 220, 0)), ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)), ("person", (220, 20, 60)), ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)), ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("caravan", (0, 0, 90)),
    ("trailer", (0, 0, 110)), ("train", (0, 80, 100)), ("motorcycle", (0, 0, 230)), ("bicycle", (119, 11, 32)),
    ("license plate", (0, 0, 142)),
)

_ADE20K_NAMES = (
    "other", "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool",
    "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture",
    "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
_ADE20K_COLORS = (  # id 0 "other" is black; ids 1..150 follow the standard SceneParsing colour list
    (0, 0, 0),
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80), (140, 140, 140),
    (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70),
    (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200),
    (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220),
    (255, 9, 92), (112, 9, 255), (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140),
    (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0), (0, 0, 255),
    (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255), (11, 200, 200), (255, 82, 0), (0, 255, 245),
    (0, 61, 255), (0, 255, 112), (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0),
    (0, 255, 153), (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194), (0, 255, 82),
    (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255), (0, 255, 163), (255, 153, 0),
    (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112),
    (92, 255, 0), (0, 224, 255), (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0),
    (255, 0, 163), (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255),
    (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255), (255, 255, 0),
    (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0), (0, 133, 255), (255, 214, 0),
    (25, 194, 194), (102, 255, 0), (92, 0, 255),
)

# synthkit's own order and colours; the official SMIS channel order is undocumented (see module docstring).
_DEEPFASHION = (
    ("background", (0, 0, 0)), ("hair", (255, 0, 0)), ("face", (255, 200, 150)), ("skin", (200, 130, 90)),
    ("top", (0, 90, 255)), ("bottom", (0, 170, 80)), ("socks", (255, 255, 0)), ("shoes", (150, 0, 200)),
)


def _toyscapes() -> Palette:
    from synthkit.data.toyscapes import CLASS_COLORS, CLASSES

    return Palette("toyscapes", CLASSES, np.array(CLASS_COLORS))


PALETTES: dict[str, Callable[[], Palette]] = {
    "toyscapes": _toyscapes,
    "cityscapes": lambda: Palette("cityscapes", tuple(n for n, _ in _CITYSCAPES), np.array([c for _, c in _CITYSCAPES])),
    "ade20k": lambda: Palette("ade20k", _ADE20K_NAMES, np.array(_ADE20K_COLORS)),
    "deepfashion": lambda: Palette("deepfashion", tuple(n for n, _ in _DEEPFASHION), np.array([c for _, c in _DEEPFASHION])),
}
_CACHE: dict[str, Palette] = {}


def get_palette(name: "str | Palette") -> Palette:
    """The palette called `name` (toyscapes, cityscapes, ade20k, deepfashion); a Palette is returned as is."""
    if isinstance(name, Palette):
        return name
    if not isinstance(name, str) or name.lower() not in PALETTES:
        raise ValueError(f"unknown palette {name!r}; valid palettes: {', '.join(PALETTES)}")
    key = name.lower()
    if key not in _CACHE:
        _CACHE[key] = PALETTES[key]()
    return _CACHE[key]


def _to_numpy(x) -> np.ndarray:
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_ids(label: np.ndarray, pal: Palette) -> None:
    if not (np.issubdtype(label.dtype, np.integer) or label.dtype == bool):
        if np.issubdtype(label.dtype, np.floating) and np.all(np.floor(label) == label):
            return _check_ids(label.astype(np.int64), pal)
        raise TypeError(f"a label map must hold integer class ids, got dtype {label.dtype}")
    if label.size:
        lo, hi = int(label.min()), int(label.max())
        if lo < 0 or hi >= len(pal):
            bad = np.unique(label[(label < 0) | (label >= len(pal))])
            shown = ", ".join(str(v) for v in bad[:12]) + (", ..." if bad.size > 12 else "")
            raise ValueError(f"label ids [{shown}] are out of range for palette {pal.name!r} "
                             f"(valid ids 0..{len(pal) - 1}); is this map from another dataset?")


def labels_to_color(label, palette: "str | Palette") -> np.ndarray:
    """Index map [H, W] (numpy or tensor, integer ids) -> colour map uint8 [H, W, 3]."""
    pal = get_palette(palette)
    lab = _to_numpy(label)
    if lab.ndim != 2:
        raise ValueError(f"labels_to_color expects a label map [H, W], got shape {lab.shape}")
    _check_ids(lab, pal)
    return pal.colors[lab.astype(np.int64)]


def color_to_labels(rgb, palette: "str | Palette", max_distance: float | None = None,
                    snap_edges: bool = True) -> tuple[np.ndarray, int]:
    """Colour map [H, W, 3] -> (label uint8/int64 [H, W], number of off-palette pixels).

    Each pixel gets the id of the nearest palette colour (Euclidean distance in RGB), which undoes JPEG noise and
    slightly-off hand-drawn colours. Anti-aliased edges mix two class colours, and the mix can lie closest to a
    third class; with `snap_edges` such uncertain pixels (see _snap_edges) take the best-matching class among
    their confidently decoded neighbours instead. Off-palette pixels are those whose colour is not exactly a
    palette colour. With `max_distance`, a pixel farther than that from every palette colour raises ValueError.
    """
    pal = get_palette(palette)
    a = _to_numpy(rgb)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ValueError(f"color_to_labels expects an RGB image [H, W, 3] (or RGBA), got shape {a.shape}")
    a = a[..., :3]
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.size and a.max() <= 1.0:
            raise ValueError("color_to_labels expects uint8 colours 0..255; got floats in [0, 1] (multiply by 255)")
        a = np.clip(np.round(a), 0, 255).astype(np.uint8)
    labels, dist, _ = _nearest(a, pal)
    if snap_edges:
        labels = _snap_edges(a, labels, dist, pal)
    if max_distance is not None and dist.size and float(dist.max()) > max_distance:
        n = int((dist > max_distance).sum())
        raise ValueError(f"{n} pixels are farther than {max_distance} from every {pal.name!r} palette colour "
                         f"(worst distance {float(dist.max()):.0f}); expected a colour map painted with that palette")
    return labels, int((dist > 0).sum())


def _snap_edges(rgb: np.ndarray, labels: np.ndarray, dist: np.ndarray, pal: Palette,
                confident: float = 12.0, passes: int = 3) -> np.ndarray:
    """Relabel uncertain pixels (distance > `confident`) from their 8 neighbours.

    An uncertain pixel takes, among the labels of its confident neighbours, the one whose palette colour is
    closest to the pixel's colour; it then counts as confident for the next pass (so 2-3 px wide blurred edges fill
    in from both sides). Pixels with no confident neighbour keep their nearest-colour label.
    """
    unsure = dist > confident
    if not unsure.any():
        return labels
    labels = labels.copy()
    x = rgb.astype(np.int32)
    P = pal.colors.astype(np.int32)
    h, w = labels.shape
    for _ in range(passes):
        if not unsure.any():
            break
        best = np.full((h, w), np.iinfo(np.int64).max, np.int64)
        best_lab = labels.copy()
        lab_p = np.pad(labels, 1, mode="edge")
        ok_p = np.pad(~unsure, 1, mode="constant", constant_values=False)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == 0 and dx == 0:
                    continue
                nl = lab_p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                ok = ok_p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] & unsure
                d = ((x - P[nl]) ** 2).sum(-1)                       # distance to the neighbour's class colour
                take = ok & (d < best)
                best[take] = d[take]
                best_lab[take] = nl[take]
        resolved = unsure & (best < np.iinfo(np.int64).max)
        labels[resolved] = best_lab[resolved]
        unsure = unsure & ~resolved
    return labels


def _nearest(a: np.ndarray, pal: Palette) -> tuple[np.ndarray, np.ndarray, int]:
    """Nearest palette id per pixel, its distance, and the number of distinct colours (computed per unique colour)."""
    h, w = a.shape[:2]
    packed = (a[..., 0].astype(np.int32) << 16) | (a[..., 1].astype(np.int32) << 8) | a[..., 2].astype(np.int32)
    uniq, inverse = np.unique(packed.ravel(), return_inverse=True)
    cols = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.int32)   # [U, 3]
    P = pal.colors.astype(np.int32)                                                                  # [N, 3]
    ids = np.empty(len(uniq), np.int64)
    d2 = np.empty(len(uniq), np.int64)
    for s in range(0, len(uniq), 16384):  # chunks keep the [U, N] distance table small for photos
        diff = cols[s:s + 16384, None, :] - P[None, :, :]
        dd = (diff * diff).sum(-1)                                    # squared distance [u, N]
        ids[s:s + 16384] = dd.argmin(1)                               # first minimum = lowest id of shared colours
        d2[s:s + 16384] = dd.min(1)
    dtype = np.uint8 if len(pal) <= 256 else np.int64
    labels = ids.astype(dtype)[inverse].reshape(h, w)
    dist = np.sqrt(d2.astype(np.float64))[inverse].reshape(h, w)
    return labels, dist, len(uniq)


def load_label_map(path_or_array, palette: "str | Palette", return_info: bool = False):
    """Read a label map in any common form and return class ids uint8 [H, W].

    Accepted: a path or file object, a PIL image, a numpy array or tensor, holding
      - an index map: PNG mode L / I / P (P: the pixel values are the ids), or an integer array [H, W];
      - a colour map painted with the palette: RGB or RGBA (alpha dropped), decoded to the nearest colour;
      - a 0/255 binary mask (when 255 is not a valid id): 0 -> id 0, 255 -> id 1.
    Raises ValueError for ids out of range (naming them) and for images that are clearly not label maps (e.g. a
    photo). With return_info=True returns (label, {"source": "index"|"color"|"mask", "off_palette": n_pixels}).
    """
    from PIL import Image

    pal = get_palette(palette)
    src = path_or_array
    if isinstance(src, (str, os.PathLike)):
        p = Path(src)
        if not p.is_file():
            raise FileNotFoundError(f"label map {str(p)!r} does not exist")
        src = Image.open(p)
        src.load()
    elif hasattr(src, "read") and not isinstance(src, Image.Image):
        src = Image.open(src)
        src.load()

    if isinstance(src, Image.Image):
        if src.mode == "P":
            idx = np.asarray(src)
            if (idx.size == 0 or int(idx.max()) < len(pal)) and not _p_is_recoloured(src, idx, pal):
                return _finish(idx.astype(np.uint8), pal, "index", 0, return_info)
            src = src.convert("RGB")  # a colour map stored with its own palette order: decode the colours
        if src.mode in ("L", "I", "I;16", "1"):
            arr = np.asarray(src)
            if src.mode == "1":
                arr = arr.astype(np.uint8)
        elif src.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr"):
            arr = np.asarray(src.convert("RGBA" if src.mode in ("RGBA", "LA") else "RGB"))
        else:
            raise ValueError(f"unsupported image mode {src.mode!r} for a label map; save it as an index PNG (mode L/P) "
                             f"or an RGB colour map")
    else:
        arr = _to_numpy(src)

    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        uniq = np.unique(arr)
        if len(pal) <= 255 and uniq.size <= 2 and set(uniq.tolist()) <= {0, 255} and 255 in uniq.tolist():
            return _finish((arr == 255).astype(np.uint8), pal, "mask", 0, return_info)
        _check_ids(arr, pal)
        return _finish(arr.astype(np.uint8 if len(pal) <= 256 else np.int64), pal, "index", 0, return_info)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"a label map must be [H, W] ids or an [H, W, 3] colour map, got shape {arr.shape}")
    rgb = arr[..., :3]
    if rgb.dtype != np.uint8:
        if np.issubdtype(rgb.dtype, np.floating):
            raise TypeError("colour label maps must be uint8 0..255 (got floats); a float image is not a label map")
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    grey = bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))
    labels, dist, n_colours = _nearest(rgb, pal)
    exact = float((dist == 0).mean()) if dist.size else 1.0
    if grey and exact < 0.5:
        # an index map saved as greyscale RGB
        g = rgb[..., 0]
        uniq = np.unique(g)
        if len(pal) <= 255 and set(uniq.tolist()) <= {0, 255} and 255 in uniq.tolist():
            return _finish((g == 255).astype(np.uint8), pal, "mask", 0, return_info)
        if int(g.max()) < len(pal):
            return _finish(g.astype(np.uint8), pal, "index", 0, return_info)
    # A colour map stays close to the palette even after anti-aliasing or JPEG (mean distance < ~10); a photo does
    # not (mean distance > ~40 even for the dense 151-colour ADE20K palette).
    far = float((dist > 48).mean()) if dist.size else 0.0
    mean_dist = float(dist.mean()) if dist.size else 0.0
    if far > 0.25 or mean_dist > 25:
        raise ValueError(
            f"this does not look like a {pal.name!r} label map: {n_colours} distinct colours, {far:.0%} of the pixels "
            f"far from every palette colour (mean distance {mean_dist:.0f}). Expected an index PNG (mode L/P with ids "
            f"0..{len(pal) - 1}) or a colour map painted with the {pal.name!r} palette "
            f"(see synthkit.data.palette.get_palette('{pal.name}')); a photo cannot be used as a label map.")
    labels = _snap_edges(rgb, labels, dist, pal)
    return _finish(labels, pal, "color", int((dist > 0).sum()), return_info)


def _p_is_recoloured(img, idx: np.ndarray, pal: Palette) -> bool:
    """True if a mode-P image shows our palette's colours under *other* indices (e.g. a colour map saved as GIF or
    quantised PNG): then its pixel values are not class ids. An index PNG with our colours, or with an unrelated
    palette (greyscale, VOC), keeps its indices as ids."""
    raw = img.getpalette()
    if not raw:
        return False
    pcols = np.array(raw, np.int32).reshape(-1, 3)
    used = np.unique(idx)
    used = used[used < len(pcols)]
    ours = {tuple(c) for c in pal.colors.tolist()}
    cols = [tuple(pcols[u]) for u in used.tolist()]
    if not cols or not all(c in ours for c in cols):
        return False
    return any(u >= len(pal) or c != tuple(pal.colors[u].tolist()) for u, c in zip(used.tolist(), cols))


def _finish(labels: np.ndarray, pal: Palette, source: str, off: int, return_info: bool):
    _check_ids(labels, pal)
    if return_info:
        return labels, {"source": source, "off_palette": off}
    return labels
