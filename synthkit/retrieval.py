"""Live layout retrieval for BachGAN: find the training label maps whose objects sit where the query's boxes are.

BachGAN's official code ships the retrieval results as precomputed pickles; here the memory is an on-disk index of
training label maps and every query is scored at run time.

Score of candidate map s for the query boxes q (the pooled IoU of the official retrieval scripts)::

    score(s, q) = sum_c |seg_s == c  AND  B_c| / sum_c |seg_s == c  OR  B_c|,   c in classes of the query's boxes

where B_c is the union of the query's boxes of class c. Candidates are stored at a small grid (``size``, e.g.
32x32, nearest-downsampled), and the score is computed exactly on that grid:

- |seg_s == c|: per-class areas, stored with the index;
- |B_c|: the area of a union of rectangles, split into disjoint rectangles by coordinate compression;
- |seg_s == c AND B_c|: for each disjoint rectangle, 4 lookups in the summed-area table of class c,
  ``I[y1, x1] - I[y0, x1] - I[y1, x0] + I[y0, x0]``. The tables are laid out ``[class, y, x, candidate]``, so one
  lookup reads one contiguous vector over all candidates and scoring 10,000 maps is a few numpy vector ops;
- |A OR B| = |A| + |B| - |A AND B|.

Then the top K (default 3) are turned into the generator's "retrieved maps" (``retrieve_maps``): nearest-upsampled
to the image size, one-hot, zeroed inside the query's boxes, and the query's box channels pasted in, so each map is
"retrieved background + query boxes", as in the official data loaders.

A box (x0, y0, x1, y1) in image pixels (x1, y1 exclusive) covers grid cell j iff its nearest source pixel
floor(j * W / size) lies in [x0, x1): cells ceil(x0 * size / W) .. ceil(x1 * size / W) - 1. This is exactly what
rasterising the box at full resolution and nearest-downsampling gives, so the brute-force check in
``tests/test_retrieval.py`` agrees to rounding.

Memory: the tables take ``len(box_classes) * (size + 1)^2 * N`` uint16 values, 65 MB for 3 box classes, a 32x32 grid
and 10,000 maps (Toyscapes); with ADE20K's 115 object classes use a smaller grid or fewer maps.

Simplifications vs the official code: scoring is on the index grid, not the full-resolution maps (an image whose
object masks are thinner than a grid cell can be mis-scored); a query with no box scores every candidate 0 and
returns the first K (the official code uses one fixed fallback entry).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthkit.data.boxes import valid_boxes  # one definition of a valid box

__all__ = [
    "RetrievalIndex",
    "build_index",
    "build_toyscapes_index",
    "resize_labels_nearest",
    "pooled_iou_bruteforce",
    "retrieve_maps",
]

FORMAT = "synthkit.bachgan.retrieval.v1"


# ----------------------------------------------------------------------------------------------------------------
# Grid helpers
# ----------------------------------------------------------------------------------------------------------------
def _nearest_source(out_size: int, in_size: int) -> np.ndarray:
    """Source index of each output index for nearest resizing: floor(j * in / out), integer arithmetic."""
    return (np.arange(out_size) * in_size) // out_size


def resize_labels_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Label map(s) [..., H, W] -> [..., h, w] by nearest neighbour (source pixel floor(j * H / h))."""
    h, w = size
    ys = _nearest_source(h, labels.shape[-2])
    xs = _nearest_source(w, labels.shape[-1])
    return labels[..., ys[:, None], xs[None, :]]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _box_to_grid(box: Sequence[int], image_size: tuple[int, int], grid: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1) in image pixels -> (gy0, gy1, gx0, gx1), the grid cells it covers."""
    x0, y0, x1, y1 = box
    (H, W), (gh, gw) = image_size, grid
    return _ceil_div(y0 * gh, H), _ceil_div(y1 * gh, H), _ceil_div(x0 * gw, W), _ceil_div(x1 * gw, W)


def _disjoint_rects(rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Union of rectangles (y0, y1, x0, x1) as disjoint rectangles (coordinate compression, runs merged along x)."""
    rects = [r for r in rects if r[1] > r[0] and r[3] > r[2]]
    if len(rects) <= 1:
        return rects
    ys = sorted({v for r in rects for v in r[:2]})
    xs = sorted({v for r in rects for v in r[2:]})
    yi, xi = {v: i for i, v in enumerate(ys)}, {v: i for i, v in enumerate(xs)}
    cover = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)
    for y0, y1, x0, x1 in rects:
        cover[yi[y0] : yi[y1], xi[x0] : xi[x1]] = True
    out = []
    for i in range(len(ys) - 1):
        j = 0
        while j < len(xs) - 1:
            if not cover[i, j]:
                j += 1
                continue
            k = j
            while k < len(xs) - 1 and cover[i, k]:
                k += 1
            out.append((ys[i], ys[i + 1], xs[j], xs[k]))
            j = k
    return out


def _clean_boxes(boxes: Any, image_size: tuple[int, int], num_classes: int) -> list[tuple[int, int, int, int, int]]:
    """Valid integer boxes (class, x0, y0, x1, y1), clipped; padding (class -1) and empty boxes dropped."""

    return valid_boxes(boxes, num_classes, image_size[0], image_size[1])


# ----------------------------------------------------------------------------------------------------------------
# The index
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class RetrievalIndex:
    """A memory of training label maps at a small grid, with per-class areas and summed-area tables.

    Attributes:
        labels: uint8 [N, gh, gw], the candidate label maps on the grid.
        class_area: int64 [N, C], |seg == c| on the grid.
        num_classes: C.
        box_classes: the classes a query box may have (foreground / "thing" classes).
        image_size: (H, W) of the images the boxes refer to (the maps' original size).
        meta: free-form provenance (source, seed, ...).
    """

    labels: np.ndarray
    class_area: np.ndarray
    num_classes: int
    box_classes: tuple[int, ...]
    image_size: tuple[int, int]
    meta: dict

    def __post_init__(self) -> None:
        N, gh, gw = self.labels.shape
        dtype = np.uint16 if gh * gw < 2**16 else np.int32
        # sat[i, y, x, n] = |{(y', x') : y' < y, x' < x, labels[n, y', x'] == box_classes[i]}|
        self.sat = np.zeros((len(self.box_classes), gh + 1, gw + 1, N), dtype=dtype)
        for i, c in enumerate(self.box_classes):
            mask = (self.labels == c).astype(np.int32)  # [N, gh, gw]
            table = mask.cumsum(axis=1).cumsum(axis=2)
            self.sat[i, 1:, 1:] = np.moveaxis(table, 0, -1)  # [gh, gw, N]
        self._slot = {c: i for i, c in enumerate(self.box_classes)}

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def grid(self) -> tuple[int, int]:
        return self.labels.shape[1], self.labels.shape[2]

    # -- scoring ------------------------------------------------------------------------------------------------
    def scores(self, boxes: Any, image_size: tuple[int, int] | None = None) -> np.ndarray:
        """Pooled IoU of every candidate with the query boxes: float64 [N]."""
        image_size = tuple(image_size or self.image_size)
        kept = _clean_boxes(boxes, image_size, self.num_classes)
        per_class: dict[int, list] = {}
        for c, *box in kept:
            if c not in self._slot:
                raise ValueError(
                    f"box class {c} is not a box class of this index {self.box_classes}; rebuild the index with "
                    "box_classes including it"
                )
            per_class.setdefault(c, []).append(_box_to_grid(box, image_size, self.grid))
        N = len(self)
        inter = np.zeros(N, dtype=np.int64)
        union = np.zeros(N, dtype=np.int64)
        for c, rects in per_class.items():
            sat = self.sat[self._slot[c]]  # [gh+1, gw+1, N]
            inter_c = np.zeros(N, dtype=np.int64)
            box_area = 0
            for y0, y1, x0, x1 in _disjoint_rects(rects):
                # |seg == c within the rectangle| = I[y1,x1] - I[y0,x1] - I[y1,x0] + I[y0,x0]
                inter_c += sat[y1, x1].astype(np.int64) - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
                box_area += (y1 - y0) * (x1 - x0)
            inter += inter_c
            union += self.class_area[:, c] + box_area - inter_c  # |A or B| = |A| + |B| - |A and B|
        return np.divide(inter, union, out=np.zeros(N), where=union > 0)

    def query(
        self, boxes: Any, k: int = 3, exclude: Iterable[int] = (), image_size: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k candidates by pooled IoU: (indices int64 [k], scores float64 [k]), best first, ties by index.

        ``exclude``: candidate indices to skip (the query's own map when it comes from the training set).
        """
        if not 1 <= k <= len(self):
            raise ValueError(f"k must be in 1..{len(self)} (the index holds {len(self)} maps), got {k}")
        s = self.scores(boxes, image_size)
        excluded = np.asarray(list(exclude), dtype=np.int64)
        if excluded.size:
            s = s.copy()
            s[excluded] = -1.0
        if k < len(s):
            # candidates whose score reaches the k-th best, then an exact stable sort among them
            kth = np.partition(s, len(s) - k)[len(s) - k]
            cand = np.flatnonzero(s >= kth)
        else:
            cand = np.arange(len(s))
        order = cand[np.lexsort((cand, -s[cand]))][:k]
        return order.astype(np.int64), s[order]

    # -- files ------------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write a ``.safetensors`` file (or ``.npz``): label maps, class areas and JSON metadata; no pickle."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT,
            "num_classes": self.num_classes,
            "box_classes": list(self.box_classes),
            "image_size": list(self.image_size),
            "meta": self.meta,
        }
        arrays = {"labels": np.ascontiguousarray(self.labels), "class_area": np.ascontiguousarray(self.class_area)}
        if path.suffix == ".npz":
            np.savez_compressed(path, header=np.array(json.dumps(header)), **arrays)
        else:
            from safetensors.numpy import save_file

            save_file(arrays, str(path), metadata={"synthkit": json.dumps(header)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "RetrievalIndex":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; build one with `synthkit bachgan build-index --out {path}`")
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                arrays = {k: z[k] for k in ("labels", "class_area")}
        else:
            from safetensors import safe_open
            from safetensors.numpy import load_file

            with safe_open(str(path), framework="np") as f:
                raw = (f.metadata() or {}).get("synthkit")
            if raw is None:
                raise ValueError(f"{path} is not a synthkit retrieval index (no 'synthkit' metadata)")
            header = json.loads(raw)
            arrays = load_file(str(path))
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: unknown index format {header.get('format')!r}, expected {FORMAT!r}")
        return cls(
            labels=arrays["labels"].astype(np.uint8),
            class_area=arrays["class_area"].astype(np.int64),
            num_classes=int(header["num_classes"]),
            box_classes=tuple(int(c) for c in header["box_classes"]),
            image_size=tuple(int(v) for v in header["image_size"]),
            meta=header.get("meta", {}),
        )

    # -- retrieved maps ------------------------------------------------------------------------------------------
    def retrieve(
        self, boxes: Any, box_layout: Tensor, k: int = 3, exclude: Iterable[int] = ()
    ) -> tuple[Tensor, np.ndarray, np.ndarray]:
        """Query with ``boxes`` and build the K retrieved maps for ``box_layout`` [C, H, W]: (maps, indices, scores)."""
        H, W = box_layout.shape[-2:]
        indices, scores = self.query(boxes, k, exclude, image_size=(H, W))
        return retrieve_maps(self, indices, box_layout), indices, scores


def retrieve_maps(index: RetrievalIndex, indices: Sequence[int], box_layout: Tensor) -> Tensor:
    """Candidates -> retrieved maps [K, C, H, W] for a box layout [C, H, W] (its H, W set the output size).

    M_k = onehot(upsample(seg_k)) with every channel zeroed inside the boxes, then the box classes' channels
    replaced by the query's (BG data loaders: ``label_back_tensor[:, in_box] = 0``;
    ``label_back_tensor[fg] = box_layout[fg]``): the retrieved background around the user's objects.
    """
    C, H, W = box_layout.shape
    if C != index.num_classes:
        raise ValueError(f"box_layout has {C} channels, the index has {index.num_classes} classes")
    labels = resize_labels_nearest(index.labels[np.asarray(indices, dtype=np.int64)], (H, W))  # [K, H, W]
    maps = F.one_hot(torch.from_numpy(labels.astype(np.int64)), C).permute(0, 3, 1, 2)  # [K, C, H, W]
    maps = maps.to(device=box_layout.device, dtype=box_layout.dtype)
    things = list(index.box_classes)
    in_box = box_layout[things].amax(dim=0) > 0  # [H, W], union of all the query's boxes
    maps[:, :, in_box] = 0
    maps[:, things] = box_layout[things]  # paste the query's boxes (whole channels)
    return maps.contiguous()  # [K, C, H, W]


def pooled_iou_bruteforce(labels: np.ndarray, box_layout: np.ndarray, query_classes: Sequence[int]) -> np.ndarray:
    """Reference pooled IoU on dense masks: labels [N, h, w], box_layout [C, h, w] (0/1) -> [N].

    score = sum_c |labels == c and B_c| / sum_c |labels == c or B_c| over ``query_classes``, the classes of the
    query's boxes (a class counts even if its boxes cover no cell of the grid: it still adds |labels == c|).
    """
    inter = np.zeros(len(labels))
    union = np.zeros(len(labels))
    for c in set(query_classes):
        B = box_layout[c] > 0
        A = labels == c
        inter += (A & B).sum(axis=(1, 2))
        union += (A | B).sum(axis=(1, 2))
    return np.divide(inter, union, out=np.zeros(len(labels)), where=union > 0)


# ----------------------------------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------------------------------
def _iter_label_maps(source: Any) -> Iterable[np.ndarray]:
    if isinstance(source, (np.ndarray, Tensor)):
        arr = source.detach().cpu().numpy() if isinstance(source, Tensor) else source
        if arr.ndim != 3:
            raise ValueError(f"label maps must be [N, H, W] integer ids, got shape {tuple(arr.shape)}")
        yield from arr
        return
    for item in source:
        if isinstance(item, dict):
            if "label" not in item:
                raise ValueError("dataset items must have a 'label' entry (an [H, W] map of class ids)")
            item = item["label"]
        elif hasattr(item, "label"):
            item = item.label
        yield item.detach().cpu().numpy() if isinstance(item, Tensor) else np.asarray(item)


def build_index(
    source: Any,
    out_path: str | Path | None,
    num_classes: int,
    box_classes: Sequence[int] | None = None,
    size: int | tuple[int, int] = 32,
    meta: dict | None = None,
) -> RetrievalIndex:
    """Build (and save, unless ``out_path`` is None) a retrieval index from training label maps.

    ``source``: an array / tensor [N, H, W] of class ids, or an iterable of [H, W] maps, or a dataset whose items
    are dicts with ``"label"`` (``ToyscapesDataset``). ``box_classes`` default to every class but 0.
    """
    gh, gw = (size, size) if isinstance(size, int) else size
    box_classes = tuple(range(1, num_classes)) if box_classes is None else tuple(int(c) for c in box_classes)
    grids, areas, image_size = [], [], None
    for i, label in enumerate(_iter_label_maps(source)):
        label = np.asarray(label)
        if label.ndim == 3 and label.shape[0] == 1:
            label = label[0]
        if label.ndim != 2:
            raise ValueError(f"label map {i} must be [H, W] class ids, got shape {label.shape}")
        if image_size is None:
            image_size = label.shape
        elif label.shape != image_size:
            raise ValueError(f"label map {i} is {label.shape}, the first one was {image_size}; use one size")
        if label.min() < 0 or label.max() >= num_classes:
            raise ValueError(
                f"label map {i} has ids outside 0..{num_classes - 1} (min {label.min()}, max {label.max()})"
            )
        g = resize_labels_nearest(label, (gh, gw)).astype(np.uint8)
        grids.append(g)
        areas.append(np.bincount(g.ravel(), minlength=num_classes))
    if not grids:
        raise ValueError("no label maps in the source; the index needs at least one")
    index = RetrievalIndex(
        labels=np.stack(grids),
        class_area=np.stack(areas).astype(np.int64),
        num_classes=num_classes,
        box_classes=box_classes,
        image_size=tuple(int(v) for v in image_size),
        meta=dict(meta or {}),
    )
    if out_path is not None:
        index.save(out_path)
    return index


def build_toyscapes_index(n: int = 10000, size: int = 64, out: str | Path | None = None, seed: int = 0,
                          grid: int = 32) -> Path | RetrievalIndex:
    """The CLI's ``synthkit bachgan build-index``: ``n`` Toyscapes train label maps rendered at ``size``,
    indexed on a ``grid`` x ``grid`` grid with the Toyscapes thing classes as box classes."""
    from synthkit.data.toyscapes import NUM_CLASSES, THING_IDS, ToyscapesDataset

    if n < 1 or size < 1 or grid < 1:
        raise ValueError(f"n, size and grid must be positive, got n={n}, size={size}, grid={grid}")
    dataset = ToyscapesDataset(size=size, length=n, split="train", seed=seed)
    labels = (dataset.sample(i).label for i in range(n))  # map i = label of training item i (exclusion by index)
    meta = {"source": "toyscapes", "split": "train", "n": n, "size": size, "seed": seed}
    index = build_index(labels, out, num_classes=NUM_CLASSES, box_classes=sorted(THING_IDS), size=min(grid, size),
                        meta=meta)
    return Path(out) if out is not None else index
