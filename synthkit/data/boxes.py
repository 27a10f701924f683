"""Boxes ``(class_id, x0, y0, x1, y1)`` in pixels, x1 / y1 exclusive: the one definition of a valid box.

Used by BachGAN's box layout (``synthkit.models.bachgan.rasterize_boxes``), the retrieval memory
(``synthkit.retrieval``) and the layout app, so that all three agree on rounding, clipping and padding rows.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _as_box_array(boxes: Any) -> np.ndarray:
    """Boxes as a float array [N, 5] (class_id, x0, y0, x1, y1); accepts tensors, arrays and lists of tuples."""
    try:
        arr = boxes.detach().cpu().numpy() if _is_tensor(boxes) else np.asarray(list(boxes), dtype=float)
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"boxes must be numbers (class_id, x0, y0, x1, y1) per row: {err}") from None
    if arr.size == 0:
        return np.zeros((0, 5))
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(
            f"boxes must have shape [N, 5] = (class_id, x0, y0, x1, y1) per row, got shape {tuple(arr.shape)}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("boxes contain NaN or infinite values; give pixel coordinates")
    return arr


def valid_boxes(boxes: Any, num_classes: int, height: int, width: int) -> list[tuple[int, int, int, int, int]]:
    """Integer boxes clipped to the image, in order; padding rows (class -1) and empty boxes are dropped.

    Coordinates are pixels with x1 / y1 exclusive; they are rounded to the nearest integer, then clipped to
    ``[0, W] x [0, H]``. A box that is empty after clipping (zero area, inverted, or fully outside) is ignored.
    A class outside ``1 .. num_classes - 1`` raises: channel 0 is the "no box" channel.
    """
    out = []
    for row in _as_box_array(boxes):
        c = int(round(row[0]))
        if c == -1:  # padding of ToyscapesDataset's fixed-size box tensor
            continue
        if not 1 <= c < num_classes:
            raise ValueError(
                f"box class {c} is outside 1..{num_classes - 1}; class 0 is the 'no box' channel and -1 marks padding"
            )
        x0, y0, x1, y1 = (int(np.floor(v + 0.5)) for v in row[1:])
        x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
        y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
        if x1 > x0 and y1 > y0:
            out.append((c, x0, y0, x1, y1))
    return out
