"""Does a 3D-controllable model control what it claims? Measured with ground truth no anchor has.

Toyshapes3D objects are saturated, each of a different palette colour, on a grey-beige ground, so the objects of
any image (real or generated) can be found by colour: :func:`segment_objects` (validated on real images against
the recorded instance maps by :func:`segmentation_accuracy`). With it:

- :func:`match_primitives`: learned primitives matched one-to-one to the objects found in the image (Hungarian
  matching on alpha / object IoU, brute force over N <= 4), the pixel error between each primitive's projected
  centre and its object's centroid, and whether the number of visible primitives equals the number of objects;
- :func:`translation_sweep`: a primitive moved along x and z; correlation between where the camera projects its
  centre and where its rendered alpha's centroid goes (the paper's "object translation" control);
- :func:`removal_effect`: removing one visible primitive removes exactly one object from the image;
- :func:`appearance_invariance`: resampling every appearance code keeps each primitive's alpha mask (IoU).

All numbers describe synthkit models on Toyshapes3D; none is comparable with the paper's (it reports FID only).
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

MIN_OBJECT_PIXELS = 0.004  # fraction of the image an object needs to count
SATURATION = 0.12  # max - min channel (in [0, 1]) above which a pixel belongs to an object


def _palette() -> np.ndarray:
    from synthkit.data.toyshapes3d import COLORS

    rgb = np.array(list(COLORS.values()), np.float64)
    return rgb / rgb.sum(1, keepdims=True)


def segment_objects(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> int [H, W]: 0 ground / sky, c + 1 = pixels of palette colour c (chromaticity)."""
    x = image.astype(np.float64) / 255.0
    fg = (x.max(-1) - x.min(-1)) > SATURATION
    chroma = x / np.clip(x.sum(-1, keepdims=True), 1e-6, None)
    dist = ((chroma[..., None, :] - _palette()[None, None]) ** 2).sum(-1)
    return np.where(fg, dist.argmin(-1) + 1, 0)


def count_objects(image: np.ndarray) -> int:
    seg = segment_objects(image)
    need = MIN_OBJECT_PIXELS * seg.size
    return int(sum((seg == c).sum() >= need for c in range(1, len(_palette()) + 1)))


def segmentation_accuracy(n: int = 200, size: int = 64, seed: int = 0) -> dict[str, float]:
    """How well the colour segmentation finds the objects of real Toyshapes3D images (the yardstick's error)."""
    from synthkit.data import toyshapes3d as T

    right, ious = 0, []
    for i in range(n):
        r = T.render(T.split_seed(seed, "test"), i, size)
        seg = segment_objects(r.image)
        visible = [k for k in range(1, len(r.scene.objects) + 1)
                   if (r.instances == k).sum() >= MIN_OBJECT_PIXELS * r.instances.size]
        right += count_objects(r.image) == len(visible)
        for k in visible:
            c = list(T.COLORS).index(r.scene.objects[k - 1].color) + 1
            ious.append(_iou(seg == c, r.instances == k))
    return {"count_accuracy": right / n, "mean_iou": float(np.mean(ious)), "n": n}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _best_matching(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one matching of rows to columns (brute force; N, M <= 4)."""
    n, m = cost.shape
    best, pairs = math.inf, []
    if n <= m:
        for cols in itertools.permutations(range(m), n):
            c = sum(cost[i, j] for i, j in enumerate(cols))
            if c < best:
                best, pairs = c, list(enumerate(cols))
    else:
        for rows in itertools.permutations(range(n), m):
            c = sum(cost[i, j] for j, i in enumerate(rows))
            if c < best:
                best, pairs = c, [(i, j) for j, i in enumerate(rows)]
    return pairs


def _visible_masks(scene: Any) -> list[np.ndarray]:
    """Each primitive's visible part of the composite (after occlusion), boolean [S, S]."""
    r = scene.render()
    a = r.alpha[0, :, 0]
    order = r.depth[0, :, 0].argsort(0)
    front = order[0]
    covered = a.gather(0, order[:1])[0] > 0.5
    return [((front == k) & covered).cpu().numpy() for k in range(a.shape[0])]


def match_primitives(scene: Any) -> dict[str, Any]:
    """Match a generated scene's visible primitives to the objects its image shows."""
    from synthkit.nn import render as R3

    img = scene.image
    seg = segment_objects(img)
    need = MIN_OBJECT_PIXELS * seg.size
    objects = [seg == c for c in range(1, len(_palette()) + 1) if (seg == c).sum() >= need]
    masks = _visible_masks(scene)
    prims = [k for k, m in enumerate(masks) if scene.keep[k] and m.sum() >= need]
    out: dict[str, Any] = {"n_objects": len(objects), "n_visible_primitives": len(prims)}
    out["count_match"] = len(objects) == len(prims)
    if not objects or not prims:
        out.update(pairs=[], mean_iou=0.0, centre_error_px=None)
        return out
    cost = np.array([[1 - _iou(masks[p], o) for o in objects] for p in prims])
    pairs = _best_matching(cost)
    r = scene.render()
    cam_R, cam_c = r.camera
    uv, _ = R3.project(scene.poses.translation, cam_R, cam_c, img.shape[0], scene.G.config.focal)
    errs = []
    for pi, oj in pairs:
        ys, xs = np.nonzero(objects[oj])
        u, v = uv[0, prims[pi]].tolist()
        errs.append(math.hypot(u - (xs.mean() + 0.5), v - (ys.mean() + 0.5)))
    out.update(pairs=pairs, mean_iou=float(np.mean([1 - cost[p, o] for p, o in pairs])),
               centre_error_px=float(np.mean(errs)))
    return out


def translation_sweep(scene: Any, obj: int, axis: int, values: np.ndarray) -> tuple[list[float], list[float]]:
    """Move primitive ``obj`` along world ``axis`` (0 = x, 2 = z) through ``values``: (projected centre moves,
    alpha centroid moves) along the image direction of that axis, in pixels, relative to the first value."""
    from synthkit.nn import render as R3

    t0 = list(scene.translation(obj))
    proj, meas = [], []
    for v in values:
        t = list(t0)
        t[axis] = float(v)
        s = scene.move(obj, t)
        c = s.centroid(obj)
        r = s.render()
        uv, _ = R3.project(s.poses.translation[:, obj:obj + 1], *r.camera, s.image.shape[0], s.G.config.focal)
        proj.append(uv[0, 0].tolist())
        meas.append(c)
    if any(m is None for m in meas):
        return [], []
    p, m = np.array(proj), np.array(meas)
    direction = p[-1] - p[0]
    norm = np.linalg.norm(direction)
    if norm < 1e-6:
        return [], []
    direction /= norm
    return list((p - p[0]) @ direction), list((m - m[0]) @ direction)


def removal_effect(scene: Any, obj: int) -> int:
    """How many objects disappear from the image when primitive ``obj`` is removed."""
    return count_objects(scene.image) - count_objects(scene.remove(obj).image)


def appearance_invariance(scene: Any, seed: int = 0) -> float:
    """Mean IoU of the primitives' alpha masks (> 0.5) before and after resampling every appearance code."""
    before = scene.render().alpha[0, :, 0] > 0.5
    after = scene.swap_appearance(None, seed=seed).render().alpha[0, :, 0] > 0.5
    ious = [_iou(b.numpy(), a.numpy()) for b, a, k in zip(before, after, scene.keep) if k and b.any()]
    return float(np.mean(ious)) if ious else 1.0


def pearson(a: list[float], b: list[float]) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])

