"""Turning what a user hands us into what a model takes: one contract for every pipeline and demo.

Images (:func:`to_rgb_uint8`, :func:`to_rgb_float`) accept

* a path to an image file, or a PIL image of any mode: RGBA / LA / PA / P with transparency are composited over
  white, grayscale (L, 1) is repeated to three channels, 16-bit and float grayscale (I, I;16, F) is scaled from its
  own range to 0..255, CMYK and other modes are converted by PIL;
* a uint8 numpy array [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] (RGBA composited over white);
* a float tensor [3, H, W], [1, 3, H, W], [1, H, W] or [H, W] with values in [-1, 1] (the range of every generator).

Every conversion that changes the input appends a sentence to ``notes`` (shown by the apps); bad input raises
TypeError / ValueError / FileNotFoundError saying what was wrong and what to pass instead.

Label maps have their own reader, :func:`load_label_map` (index maps, palette colour maps with nearest-colour
decoding, binary masks), re-exported here so that every input conversion is found in one place.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from synthkit.data.palette import load_label_map  # noqa: F401  (re-exported: the label-map reader)

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_HIGH_DEPTH_GRAY = ("I", "I;16", "I;16B", "I;16L", "F")


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _pil_to_rgb(img: Any, what: str, notes: list[str], note_opaque_alpha: bool) -> np.ndarray:
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8).copy()
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        if note_opaque_alpha or (np.asarray(rgba)[..., 3] < 255).any():
            notes.append(f"{what}: {mode} image composited over white (transparent areas become white) "
                         "and converted to RGB")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8).copy()
    if mode in ("L", "1", *_HIGH_DEPTH_GRAY):
        if mode in _HIGH_DEPTH_GRAY:
            # 16-bit / float grayscale: scale its actual range to 0..255 rather than clip it
            arr = np.asarray(img, dtype=np.float64)
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
            img = Image.fromarray(arr.round().astype(np.uint8))
            notes.append(f"{what}: {mode} (high bit depth) grayscale image scaled to 8 bits")
        notes.append(f"{what}: grayscale image converted to RGB (all three channels equal)")
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    if mode != "P":
        notes.append(f"{what}: {mode} image converted to RGB")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _array_to_rgb(a: np.ndarray, what: str, notes: list[str]) -> np.ndarray:
    if a.dtype != np.uint8:
        raise TypeError(
            f"{what}: expected a uint8 numpy array [H, W], [H, W, 3] or [H, W, 4], got dtype {a.dtype}; "
            "for values in [0, 1] convert with (array * 255).round().astype(np.uint8)"
        )
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        notes.append(f"{what}: grayscale array converted to RGB")
        return np.repeat(a[..., None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 4:
        notes.append(f"{what}: RGBA array composited over white and converted to RGB")
        alpha = a[..., 3:].astype(np.float32) / 255.0
        rgb = a[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 3:
        return a
    raise ValueError(f"{what}: expected an array [H, W], [H, W, 3] or [H, W, 4], got shape {a.shape}")


def _tensor_to_float(x: Any, what: str, notes: list[str]) -> np.ndarray:
    shape = tuple(x.shape)
    if not x.is_floating_point():
        raise TypeError(f"{what}: expected a float tensor in [-1, 1], got {x.dtype}; use x.float() / 127.5 - 1")
    t = x.detach().float().cpu()
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"{what}: expected a tensor [3, H, W] or [1, 3, H, W] in [-1, 1], got shape {shape}")
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
        notes.append(f"{what}: grayscale tensor expanded to RGB")
    return ((t.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy().astype(np.float32)


def _open(path: str | os.PathLike, what: str) -> Any:
    from PIL import Image

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {os.fspath(path)!r} does not exist: pass the path of an image file, "
                                "a PIL image, a uint8 numpy array or a float tensor")
    img = Image.open(path)
    img.load()
    return img


def to_rgb_float(image: Any, what: str = "image", notes: list[str] | None = None) -> np.ndarray:
    """Any accepted image (module docstring) -> float32 [H, W, 3] in [0, 1]."""
    notes = [] if notes is None else notes
    if _is_tensor(image):
        return _tensor_to_float(image, what, notes)
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 4:
        notes.append(f"{what}: RGBA array composited over white and converted to RGB")
        a = image.astype(np.float32) / 255.0  # composite in float: no rounding of half-transparent pixels
        return a[..., :3] * a[..., 3:] + (1.0 - a[..., 3:])
    return to_rgb_uint8(image, what, notes).astype(np.float32) / 255.0


def to_rgb_uint8(image: Any, what: str = "image", notes: list[str] | None = None, *,
                 note_opaque_alpha: bool = True) -> np.ndarray:
    """Any accepted image (module docstring) -> uint8 [H, W, 3].

    ``note_opaque_alpha=False``: an alpha channel that is fully opaque is dropped without a note (browser uploads
    always arrive as RGBA, so the apps would otherwise note every PNG).
    """
    from PIL import Image

    notes = [] if notes is None else notes
    if isinstance(image, (str, os.PathLike)):
        image = _open(image, what)
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, what, notes, note_opaque_alpha)
    if _is_tensor(image):
        return np.round(_tensor_to_float(image, what, notes) * 255.0).astype(np.uint8)
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image, what, notes)
    raise TypeError(
        f"{what}: expected a path, a PIL image, a uint8 numpy array or a float tensor in [-1, 1], "
        f"got {type(image).__name__}"
    )


def image_hw(image: Any) -> tuple[int, int]:
    """(H, W) of an accepted image without converting it (PIL sizes are (W, H))."""
    if isinstance(image, np.ndarray):
        return int(image.shape[0]), int(image.shape[1])
    if _is_tensor(image):
        return int(image.shape[-2]), int(image.shape[-1])
    if isinstance(image, (str, os.PathLike)):
        image = _open(image, "image")
    width, height = image.size
    return int(height), int(width)
