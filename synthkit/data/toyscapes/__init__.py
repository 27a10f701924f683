"""Toyscapes: procedural outdoor scenes with the ground truth of every factor.

Why a toy dataset: the datasets of the papers (Cityscapes, ADE20K, DeepFashion, Places365) cannot be downloaded
where synthkit is built and tested, and students without a GPU need something that trains in minutes. A procedural
dataset also gives what no real dataset gives: each class's appearance is drawn *independently* per image and
recorded, so a student can check whether a model's per-class latent (SMIS) controls exactly that class.

Label convention: every pixel is labelled; id 0 is a real class (``sky``), there is no "unlabeled" id.

A scene is built in two steps:

1. ``layout._layout(seed, index, scene)`` (``toyscapes/layout.py``) draws a size-independent list of primitives in normalised coordinates
   (x, y in [0, 1], y pointing down) from the *layout* random stream ``default_rng([seed, index, 0])``: the scene
   category, horizon, sky objects, mountain ridges, ground bands, lakes, roads and the things (trees, buildings,
   cars) standing on the ground, sorted far to near.
2. ``canvas._Canvas`` (``toyscapes/canvas.py``) rasterises the primitives in that order (painter's algorithm) at the requested size. Colours come
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

Files: ``classes.py`` (class, scene and style tables), ``exact.py`` (bit-exact helpers), ``layout.py`` (step 1),
``canvas.py`` (step 2), this file (``render``, ``ToyscapesDataset``, ``preview_grid``).

Typical use::

    from synthkit.data.toyscapes import render, ToyscapesDataset
    s = render(seed=0, index=3, size=128)          # s.image [H,W,3] uint8, s.label [H,W] uint8, s.boxes, s.styles
    ds = ToyscapesDataset(size=64, length=1000, split="train")
    item = ds[0]                                     # dict of tensors, see ToyscapesDataset
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from synthkit.data.toyscapes.canvas import _Canvas, _draw_styles
from synthkit.data.toyscapes.classes import (  # noqa: F401  (class ids re-exported: toyscapes.TREE, ...)
    BUILDING, CAR, CLASS_COLORS, CLASSES, CLOUD, GRASS, MAX_BOXES, MIN_SIZE, MOUNTAIN, NUM_CLASSES, RENDER_VERSION,
    ROAD, SAND, SCENE_CLASSES, SCENES, SKY, SNOW, STYLE_MODES, SUN, THING_CLASSES, THING_IDS, TREE, WATER,
)
from synthkit.data.toyscapes.layout import _layout


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

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}")
    size = _check_size(size)
    pal = np.array(CLASS_COLORS, np.uint8)  # the "toyscapes" palette of synthkit.data.palette
    tiles = []
    for i in range(n):
        s = render(seed, i, size, scene)
        tiles.append(s.image)
        tiles.append(draw_boxes(colorize(s.label, pal), s.boxes, pal, labels=size >= 192, class_names=CLASSES))
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
