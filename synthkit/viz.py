"""Small visualisation helpers shared by notebooks, demos, the CLI and the train loop.

Everything returns uint8 numpy arrays [H, W, 3] so the result can go straight to PIL, Gradio or matplotlib.
Tensors are accepted where noted and are assumed to be images in [-1, 1] (the range of every synthkit generator).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["to_uint8", "make_grid", "colorize", "draw_boxes", "plot_loss_curve"]


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def to_uint8(x, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Image(s) -> uint8 numpy, channels last.

    - torch tensor: layout [3, H, W], [1, H, W], [B, 3, H, W] or [H, W], values in `value_range` (default [-1, 1],
      the range of every synthkit generator); u = round((x - lo) / (hi - lo) * 255), clipped, channels moved last.
    - numpy float: channels last, values in `value_range` as for tensors (pass value_range=(0, 1) for [0, 1] images).
    - numpy uint8: returned as is (a [H, W, 1] array becomes [H, W]); PIL images are converted to RGB.
    """
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range!r}")
    if _is_tensor(x):
        a = x.detach().float().cpu().numpy()
        if a.ndim == 4:
            a = a.transpose(0, 2, 3, 1)
        elif a.ndim == 3:
            a = a.transpose(1, 2, 0)
        elif a.ndim != 2:
            raise ValueError(f"to_uint8 expects a tensor [H,W], [C,H,W] or [B,C,H,W], got shape {tuple(x.shape)}")
        a = np.clip(np.round((a - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    elif isinstance(x, np.ndarray):
        if x.dtype == np.uint8:
            a = x
        elif np.issubdtype(x.dtype, np.floating):
            a = np.clip(np.round((x - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
        elif np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
            if x.size and (x.min() < 0 or x.max() > 255):
                raise ValueError("integer image values must lie in 0..255; convert label maps with colorize()")
            a = x.astype(np.uint8)
        else:
            raise TypeError(f"to_uint8 cannot convert an array of dtype {x.dtype}")
    elif isinstance(x, Image.Image):
        a = np.asarray(x.convert("RGB"))
    else:
        raise TypeError(f"to_uint8 expects a torch tensor, a numpy array or a PIL image, got {type(x).__name__}")
    if a.ndim >= 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return a


def _as_rgb(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        return np.repeat(a[..., None], 3, axis=-1)
    if a.ndim == 3 and a.shape[-1] == 4:
        return a[..., :3]
    if a.ndim == 3 and a.shape[-1] == 3:
        return a
    raise ValueError(f"expected an image [H,W], [H,W,3] or [H,W,4], got shape {a.shape}")


def make_grid(images, nrow: int = 8, padding: int = 2, pad_value: int = 255,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Tile images into a grid with `nrow` images per row.

    images: a sequence of uint8 arrays / tensors in `value_range` (all the same H, W), a batch tensor [B, C, H, W]
    or a uint8 batch [B, H, W, 3]. Returns uint8 [rows * (H + p) + p, nrow * (W + p) + p, 3].
    """
    if (_is_tensor(images) or isinstance(images, np.ndarray)) and images.ndim == 4:
        tiles = list(to_uint8(images, value_range))
    else:
        tiles = [to_uint8(im, value_range) for im in images]
    if not tiles:
        raise ValueError("make_grid needs at least one image")
    if isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow <= 0:
        raise ValueError(f"nrow must be a positive int, got {nrow!r}")
    tiles = [_as_rgb(t) for t in tiles]
    h, w = tiles[0].shape[:2]
    for t in tiles:
        if t.shape[:2] != (h, w):
            raise ValueError(f"all images must have the same size; got {t.shape[:2]} and {(h, w)}")
    ncol = min(nrow, len(tiles))
    rows = (len(tiles) + ncol - 1) // ncol
    p = padding
    grid = np.full((rows * (h + p) + p, ncol * (w + p) + p, 3), pad_value, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, ncol)
        grid[p + r * (h + p):p + r * (h + p) + h, p + c * (w + p):p + c * (w + p) + w] = t
    return grid


def _palette_array(palette) -> np.ndarray:
    pal = np.asarray(palette.colors if hasattr(palette, "colors") else palette, dtype=np.uint8)
    if pal.ndim != 2 or pal.shape[1] != 3:
        raise ValueError(f"palette must be [N, 3] RGB colours, got shape {pal.shape}")
    return pal


def colorize(label, palette) -> np.ndarray:
    """Index map [H, W] (numpy or tensor) -> RGB uint8 [H, W, 3] using palette colours ([N, 3] or a Palette)."""
    pal = _palette_array(palette)
    lab = label.detach().cpu().numpy() if _is_tensor(label) else np.asarray(label)
    if lab.ndim == 3 and lab.shape[0] == len(pal):  # a one-hot / logits map [C, H, W]
        lab = lab.argmax(0)
    if lab.ndim != 2:
        raise ValueError(f"colorize expects a label map [H, W] (or one-hot [C, H, W]), got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"label map must hold integer class ids, got dtype {lab.dtype}")
    if lab.size and (lab.min() < 0 or lab.max() >= len(pal)):
        bad = np.unique(lab[(lab < 0) | (lab >= len(pal))])
        raise ValueError(f"label ids {bad.tolist()[:10]} are outside the palette (ids 0..{len(pal) - 1})")
    return pal[lab]


def _text_colour(rgb) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rgb)
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def draw_boxes(image, boxes, palette=None, labels: bool = True, class_names: Sequence[str] | None = None,
               width: int = 1) -> np.ndarray:
    """Draw boxes (class_id, x0, y0, x1, y1), pixel coords with x1/y1 exclusive, on a copy of `image`.

    boxes: list of tuples, numpy [N, 5] or a tensor [N, 5]; rows whose class is negative (padding) are skipped.
    The outline takes the class colour from `palette` (white if None); `labels` writes the class name (or id).
    """
    img = Image.fromarray(_as_rgb(to_uint8(image)).copy())
    b = boxes.detach().cpu().numpy() if _is_tensor(boxes) else np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return np.asarray(img)
    if b.ndim != 2 or b.shape[1] != 5:
        raise ValueError(f"boxes must be [N, 5] rows (class_id, x0, y0, x1, y1), got shape {b.shape}")
    pal = None if palette is None else _palette_array(palette)
    names = class_names if class_names is not None else getattr(palette, "names", None)
    d = ImageDraw.Draw(img)
    for c, x0, y0, x1, y1 in b.tolist():
        if c < 0:
            continue
        c = int(c)
        col = (255, 255, 255) if pal is None or c >= len(pal) else tuple(int(v) for v in pal[c])
        # x1/y1 are exclusive; PIL's rectangle includes its end point
        d.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=(0, 0, 0), width=width + 1)
        d.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=col, width=width)
        if labels:
            text = names[c] if names is not None and c < len(names) else str(c)
            tx, ty = x0 + 1, max(0, y0 - 10) if y0 >= 10 else y0 + 1
            tb = d.textbbox((tx, ty), text)
            d.rectangle(tb, fill=col)
            d.text((tx, ty), text, fill=_text_colour(col))
    return np.asarray(img)


def plot_loss_curve(history: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
                    path: str | os.PathLike, title: str | None = None, smooth: int = 0) -> Path:
    """Plot training losses to a PNG (matplotlib Agg, safe on headless machines).

    history: {"loss_g": [...], "loss_d": [...], "step": [...]} (optional "step" gives the x axis), or a list of
    per-step dicts [{"step": 0, "loss_g": ..}, ...]. smooth: moving-average window (0 = none).
    """
    from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches pyplot's GUI state

    # collect (x, y) pairs per series; rows of a list may carry different keys
    pairs: dict[str, tuple[list, list]] = {}
    if isinstance(history, Mapping):
        steps = history.get("step")
        for k, v in history.items():
            if k != "step":
                v = list(v)
                xs = list(steps)[:len(v)] if steps is not None and len(steps) >= len(v) else list(range(len(v)))
                pairs[k] = (xs, v)
    else:
        for i, row in enumerate(history):
            for k, v in row.items():
                if k != "step":
                    xs, ys = pairs.setdefault(k, ([], []))
                    xs.append(row.get("step", i))
                    ys.append(v)
    numeric = (int, float, np.integer, np.floating)
    pairs = {k: (x, y) for k, (x, y) in pairs.items()
             if y and all(isinstance(v, numeric) and not isinstance(v, bool) for v in y)}
    if not pairs:
        raise ValueError("history has no numeric series to plot (expected e.g. {'loss_g': [...], 'loss_d': [...]})")
    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    for k, (xs, ys) in pairs.items():
        x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        if smooth and smooth > 1 and len(y) >= smooth:  # moving average, aligned with the window's last step
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            x = x[smooth - 1:]
        ax.plot(x, y, label=k, linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def save_fig(fig, name: str, folder: str | os.PathLike | None = None):
    """Write a matplotlib ``fig`` to ``<folder>/<name>.png`` and return it; ``folder`` defaults to
    ``$SYNTHKIT_FIGURES``, and nothing is written when neither is set. The notebooks call it on every figure so that
    a test run (which sets the variable) leaves PNGs that can be looked at."""
    folder = folder if folder is not None else os.environ.get("SYNTHKIT_FIGURES")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(folder) / f"{name}.png", dpi=100, bbox_inches="tight")
    return fig
