"""Real datasets from disk, in the layouts the official SMIS / SPADE / BachGAN loaders read.

| layout | images | label maps | classes | official size |
|---|---|---|---|---|
| ``deepfashion`` (SMIS release) | ``<root>/{train,test}/*.jpg`` | ``<root>/cihp_{train,test}_mask/*.png`` (8 ids) | 8 | 256x256 |
| ``cityscapes`` | ``<root>/leftImg8bit/<split>/<city>/*_leftImg8bit.png`` | ``<root>/gtFine/<split>/<city>/*_gtFine_labelIds.png`` | 35 (+ instance edges) | 512x256 |
| ``ade20k`` | ``<root>/images/{training,validation}/*.jpg`` | ``<root>/annotations/{training,validation}/*.png`` | 151 | 256x256 |

    pairs = pairs_from_folder("/content/drive/MyDrive/deepfashion", "deepfashion", "train")
    data = FolderDataset(pairs, size=(256, 256), num_classes=8)
    train(task, cfg, dataset=data)                          # synthkit.train: the same loop as on Toyscapes

BachGAN's boxes come from the instance maps (Cityscapes, :func:`cityscapes_boxes`) or from the connected regions
of the object classes (ADE20K, :func:`ade20k_boxes`), with the official loaders' quirks kept and documented.
None of these datasets can be downloaded without an account; the tests run these loaders on small folders written
in the same layouts.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

# Cityscapes label ids of the "thing" classes (person, rider, car, truck, bus, caravan, trailer, train, motorcycle,
# bicycle): the classes that get boxes (BachGAN data/cityscapes_dataset.py).
CITYSCAPES_THINGS = (24, 25, 26, 27, 28, 29, 30, 31, 32, 33)

_LabelOf = Callable[[Path, Path, str], Path]
LAYOUTS: dict[str, tuple[str, _LabelOf]] = {  # (image glob, image path -> label path)
    "deepfashion": ("{split}/*.jpg", lambda p, root, split: root / f"cihp_{split}_mask" / (p.stem + ".png")),
    "cityscapes": ("leftImg8bit/{split}/*/*_leftImg8bit.png",
                   lambda p, root, split: root / "gtFine" / split / p.parent.name
                   / p.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")),
    "ade20k": ("images/{split}/*.jpg", lambda p, root, split: root / "annotations" / split / (p.stem + ".png")),
}


def pairs_from_folder(root: str | os.PathLike, layout: str, split: str) -> list[tuple[Path, Path]]:
    """(image, label map) paths of one split in an official dataset layout; a missing label map is an error."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    root = Path(root)
    pattern, label_of = LAYOUTS[layout]
    images = sorted(root.glob(pattern.format(split=split)))
    if not images:
        raise FileNotFoundError(f"no images match {root / pattern.format(split=split)}: is {root} a {layout} folder?")
    pairs = [(p, label_of(p, root, split)) for p in images]
    missing = [str(lab) for _, lab in pairs if not lab.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} label maps missing, e.g. {missing[0]}")
    return pairs


class FolderDataset(torch.utils.data.Dataset):
    """(image, label map) files -> the batch dict of the SPADE-family tasks:
    ``image`` float [3, H, W] in [-1, 1] (bicubic resize, as the official loaders), ``label`` long [H, W]
    (nearest), ``seg`` float one-hot [C, H, W]. Ids >= ``num_classes`` are an error naming the file."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], size: tuple[int, int], num_classes: int):
        if not pairs:
            raise ValueError("FolderDataset: no (image, label) pairs; build them with pairs_from_folder")
        self.pairs, self.size, self.num_classes = list(pairs), tuple(size), int(num_classes)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image_path, label_path = self.pairs[i]
        H, W = self.size
        with Image.open(image_path) as img:
            img = img.convert("RGB").resize((W, H), Image.BICUBIC)
        with Image.open(label_path) as lab:
            label = np.asarray(lab.resize((W, H), Image.NEAREST), dtype=np.int64)
        if label.size and int(label.max()) >= self.num_classes:
            raise ValueError(f"{label_path}: label id {int(label.max())} >= num_classes={self.num_classes}")
        label_t = torch.from_numpy(label)
        image = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)  # [3, H, W]
        seg = torch.nn.functional.one_hot(label_t, self.num_classes).permute(2, 0, 1).float()  # [C, H, W]
        return {"image": image, "label": label_t, "seg": seg}


def cityscapes_boxes(instance_ids: np.ndarray, crowd: bool = True) -> list[tuple[int, int, int, int, int]]:
    """Cityscapes ``*_instanceIds.png`` [H, W] -> boxes (class, x0, y0, x1, y1), x1 / y1 exclusive, in order of pixel value.

    A pixel of a countable object holds ``class_id * 1000 + n`` (26003: the fourth car), other pixels their class
    id. The official loader matches instances by string prefix (``str(pixel).startswith("26")``), which also
    matches the bare 26 of a *crowd* region: ``crowd=True`` reproduces that (one big box per crowd region).
    """
    out = []
    for value in np.unique(instance_ids):
        class_id = value // 1000 if value >= 1000 else value  # 26003 -> 26; a crowd region keeps its bare id
        if class_id not in CITYSCAPES_THINGS or (value < 1000 and not crowd):
            continue
        ys, xs = np.nonzero(instance_ids == value)
        out.append((int(class_id), int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return out


def ade20k_boxes(label: np.ndarray, object_classes: set[int], min_area: int = 30) -> list[tuple[int, ...]]:
    """ADE20K label map [H, W] (ids after the official -1 shift) -> one box per connected region of an object class.

    The official loader boxes each ``cv2.findContours`` region of an object class (``stuffOrobject == 2`` in
    CSAILVision/sceneparsing's ``objectSplit35-115.mat``) and skips those with ``(h - 1) * (w - 1) < 30``. Here
    the regions are 8-connected components (scipy); ``RETR_TREE`` contours of holes give the official code a few
    extra boxes.
    """
    try:
        from scipy import ndimage
    except ImportError as err:  # scipy ships with the metrics / notebooks / dev extras
        raise ImportError("ade20k_boxes needs scipy: pip install scipy") from err
    out = []
    for c in sorted(set(np.unique(label).tolist()) & set(object_classes)):
        regions, _ = ndimage.label(label == c, structure=np.ones((3, 3)))
        for sl in ndimage.find_objects(regions):
            y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            if (y1 - 1 - y0) * (x1 - 1 - x0) >= min_area:  # the official size test
                out.append((int(c), int(x0), int(y0), int(x1), int(y1)))
    return out
