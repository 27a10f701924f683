"""Semantic Pyramid inference: generation from a chosen level, semantic inpainting, compositing.

The only API notebooks, demos and the CLI call for ``synthkit.models.semantic_pyramid``::

    from synthkit.pipelines.pyramid import load_pyramid
    pipe = load_pyramid()                                  # bundled "pyramid-toyscapes" + the backbone it was trained with
    res = pipe.generate_from_level(image, "conv3", seed=0)  # res.image: uint8 [H, W, 3]; res.notes: list of str
    res = pipe.inpaint(image, mask, levels=["conv5"], seed=1)
    res = pipe.composite(background, object_image, mask, level="conv4")

Every function also exists at module level (``generate_from_level(image, level, seed, pipeline=None)``, ...), using
the bundled pipeline when ``pipeline`` is None.

Inputs: PIL images, uint8 numpy arrays ``[H, W]``, ``[H, W, 3]`` or ``[H, W, 4]``, or float tensors
``[3, H, W]`` / ``[1, 3, H, W]`` in [-1, 1]. RGBA is composited over white and grayscale expanded to RGB; an image
that is not square is centre-cropped and one of another size resized to the model's resolution. Each of these is
said in the result's ``notes``. Masks: same kinds (bool, uint8 > 127, float > 0.5 = the region; for RGBA the alpha
channel, for RGB any channel); a mask of another size than its image is resized to it first.

How each application sets the masks of the pyramid (levels shallow -> deep, ``l*`` the deepest chosen level):

=====================  ======================================  ==============================================
application            chosen levels                           other levels
=====================  ======================================  ==============================================
generate_from_level    ``level``: all ones                     0
inpaint                ``levels``: all ones                    shallower than ``l*``: 1 outside the hole;
                                                               deeper than ``l*``: 0
composite              ``level``: background features outside  shallower: background features outside the
                       the mask, the object's inside it         object; deeper: 0
=====================  ======================================  ==============================================

These are the configurations the training mask sampler draws (one full level, shallower levels outside a hole),
so one trained model serves all three.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthkit.devices import module_device, resolve_device
from synthkit.inputs import image_hw, to_rgb_float
from synthkit.models.semantic_pyramid import (
    PyramidConfig,
    SemanticPyramidGenerator,
    build_backbone,
    level_masks,
    level_specs_from_backbone,
)
from synthkit.viz import to_uint8

__all__ = [
    "DEFAULT_MODEL",
    "PyramidResult",
    "PyramidPipeline",
    "load_pyramid",
    "generate_from_level",
    "inpaint",
    "composite",
    "sample_images",
    "PAPER_FID_BY_LEVEL",
    "PAPER_FID_SOURCE",
    "generate_by_level",
    "fid_kid_by_level",
    "to_image_tensor",
    "to_mask_tensor",
]

DEFAULT_MODEL = "pyramid-toyscapes"

# The paper's FID per level (Places365 VGG-16, 256 px, Inception features). Its table could not be read offline
# (docs/papers/pyramid_3d_i2s.md has no body text); the only values found are the two ends, quoted by a secondary,
# machine-written summary of the paper, NOT verified against the PDF. None = not found (never filled from memory).
PAPER_FID_BY_LEVEL: dict[str, float | None] = {
    "conv1": 2.89, "conv2": None, "conv3": None, "conv4": None, "conv5": None, "fc7": None, "fc8": 29.34,
}
PAPER_FID_SOURCE = (
    "conv1 and fc8 only, quoted by a secondary machine-written summary (https://www.emergentmind.com/papers/2003.06221: "
    "'from 2.89 at Conv1 to 29.34 at FC8'), not verified against the paper's PDF; other levels not found offline"
)


@dataclass
class PyramidResult:
    """``image``: uint8 [H, W, 3]; ``notes``: what was done to the inputs or why nothing was generated."""

    image: np.ndarray
    notes: list[str] = field(default_factory=list)
    levels: tuple[str, ...] = ()
    seed: int = 0


# ----------------------------------------------------------------------------------------------------------------
# Input conversion
# ----------------------------------------------------------------------------------------------------------------
def _crop_square(x: Tensor) -> tuple[Tensor, tuple[int, int, int, int] | None]:
    """Centre crop of [B, C, H, W] to a square; returns the crop box (top, left, h, w) or None if already square."""
    h, w = x.shape[-2:]
    if h == w:
        return x, None
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top : top + s, left : left + s], (top, left, s, s)


def to_image_tensor(image: Any, size: int, what: str = "image") -> tuple[Tensor, list[str]]:
    """Any accepted image -> ([1, 3, size, size] in [-1, 1], notes)."""
    notes: list[str] = []
    a = to_rgb_float(image, what, notes)
    h, w = a.shape[:2]
    if h < 2 or w < 2:
        raise ValueError(f"{what}: image of {w}x{h} pixels is too small")
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None] * 2 - 1  # [1, 3, H, W]
    x, box = _crop_square(x)
    if box is not None:
        notes.append(f"{what}: {w}x{h} is not square; centre-cropped to {box[3]}x{box[2]}")
    if x.shape[-1] != size:
        notes.append(f"{what}: resized from {x.shape[-1]}x{x.shape[-2]} to the model's {size}x{size}")
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(-1, 1)
    return x, notes


def to_mask_tensor(mask: Any, image_hw: tuple[int, int], size: int, what: str = "mask") -> tuple[Tensor, list[str]]:
    """Any accepted mask -> ([1, 1, size, size] with values {0, 1}, notes), cropped/resized like its image.

    ``image_hw``: (H, W) of the image the mask belongs to, before any crop.
    """
    notes: list[str] = []
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(mask, Image.Image):
        if mask.mode in ("RGBA", "LA"):
            m = np.asarray(mask.getchannel("A"), dtype=np.float32) / 255.0
        else:
            m = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    elif isinstance(mask, np.ndarray):
        if mask.dtype == np.bool_:
            m = mask.astype(np.float32)
        elif mask.dtype == np.uint8:
            m = mask.astype(np.float32) / 255.0
        elif np.issubdtype(mask.dtype, np.floating):
            m = mask.astype(np.float32)
        else:
            raise TypeError(f"{what}: expected a bool, uint8 or float array, got dtype {mask.dtype}")
        if m.ndim == 3 and m.shape[2] == 4:
            m = m[..., 3]
        elif m.ndim == 3 and m.shape[2] in (1, 3):
            m = m.max(axis=2)
        if m.ndim != 2:
            raise ValueError(f"{what}: expected an array [H, W] (or [H, W, 1/3/4]), got shape {mask.shape}")
    elif isinstance(mask, Tensor):
        t = mask.detach().float().cpu()
        while t.dim() > 2 and t.shape[0] == 1:
            t = t[0]
        if t.dim() != 2:
            raise ValueError(f"{what}: expected a tensor [H, W], [1, H, W] or [1, 1, H, W], got shape {tuple(mask.shape)}")
        m = t.numpy()
    else:
        raise TypeError(f"{what}: expected a PIL image, a numpy array or a tensor, got {type(mask).__name__}")
    t = torch.from_numpy(np.ascontiguousarray(m))[None, None]  # [1, 1, h, w]
    if tuple(t.shape[-2:]) != tuple(image_hw):
        notes.append(f"{what}: {t.shape[-1]}x{t.shape[-2]} differs from its image's {image_hw[1]}x{image_hw[0]}; resized to it")
        t = F.interpolate(t, size=tuple(image_hw), mode="nearest")
    t, _ = _crop_square(t)
    if t.shape[-1] != size:
        t = F.interpolate(t, size=(size, size), mode="area")
    return (t > 0.5).float(), notes


# ----------------------------------------------------------------------------------------------------------------
# The pipeline
# ----------------------------------------------------------------------------------------------------------------
class PyramidPipeline:
    """A trained generator and the frozen classifier it was trained with.

    ``notes``: remarks made while loading (e.g. a backbone whose weights differ from the training run's).
    """

    def __init__(self, G: SemanticPyramidGenerator, backbone: Any, notes: Sequence[str] = ()) -> None:
        if not isinstance(G, SemanticPyramidGenerator):
            raise TypeError(f"PyramidPipeline needs a SemanticPyramidGenerator, got {type(G).__name__}")
        self.G = G.eval()
        self.backbone = backbone.to(module_device(G)) if isinstance(backbone, torch.nn.Module) else backbone
        self.config: PyramidConfig = G.config
        self.notes = list(notes)
        # features of the last few single images (the backbone is frozen: same image, same features), so that a new
        # seed, level or region on the same picture (the inpainting app's Regenerate) skips the classifier
        self._feature_cache: OrderedDict[tuple, list[Tensor]] = OrderedDict()
        self._feature_lock = threading.Lock()
        specs = level_specs_from_backbone(backbone, self.config.image_size)
        mine = {k: getattr(self.config, k) for k in specs}
        if specs != mine:
            raise ValueError(
                f"the backbone's pyramid {specs} does not match the generator's {mine}; load the backbone named in "
                f"the model's config ({self.config.backbone!r})"
            )

    @property
    def levels(self) -> tuple[str, ...]:
        """Level names, shallow -> deep."""
        return self.config.level_names

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def device(self) -> torch.device:
        """Where the generator is; inputs go there (move the model with ``pipe.to(device)``)."""
        return module_device(self.G)

    def to(self, device: str | torch.device) -> "PyramidPipeline":
        """Move the generator and the backbone (``"auto"``: CUDA when available, else MPS, else CPU)."""
        device = resolve_device(device)
        self.G.to(device)
        if isinstance(self.backbone, torch.nn.Module):
            self.backbone.to(device)
        self.clear_cache()
        return self

    FEATURE_CACHE_SIZE = 4

    def clear_cache(self) -> None:
        """Forget the cached features (``features`` keeps those of the last few single images). Call it after
        changing the backbone's weights in place; moving the pipeline (``to``) or assigning another backbone
        clears them by itself."""
        with self._feature_lock:
            self._feature_cache.clear()

    # -- building blocks --------------------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, x: Tensor) -> list[Tensor]:
        """Pyramid features of [B, 3, S, S] images, shallow -> deep (a new list; the tensors are not to be changed
        in place: those of a single image given on the CPU are kept for its next call, see ``clear_cache``)."""
        key = None
        if x.shape[0] == 1 and x.device.type == "cpu" and self.FEATURE_CACHE_SIZE > 0:  # (hashed where it is)
            data = x.detach().to(torch.float32).contiguous().numpy()  # hashed through its buffer, not copied
            key = (self.backbone, str(self.device), tuple(x.shape), hashlib.blake2b(data, digest_size=16).digest())
            with self._feature_lock:
                hit = self._feature_cache.get(key)
                if hit is not None:
                    self._feature_cache.move_to_end(key)
                    return list(hit)
        feats = self.backbone.features(x.to(self.device), layers=list(self.levels))
        out = [feats[n] for n in self.levels]
        if key is not None:
            with self._feature_lock:
                self._feature_cache[key] = out
                while len(self._feature_cache) > self.FEATURE_CACHE_SIZE:
                    self._feature_cache.popitem(last=False)
        return list(out)

    @torch.no_grad()
    def generate(self, feats: Sequence[Tensor], masks: Sequence[Tensor], seed: int = 0) -> Tensor:
        """G(phi, m, z) with z drawn from ``seed``: [B, 3, S, S] in [-1, 1]."""
        gen = torch.Generator().manual_seed(int(seed))  # drawn on the CPU: the same z on every device
        z = torch.randn(feats[0].shape[0], self.config.z_dim, generator=gen)
        dev = self.device
        return self.G([f.to(dev) for f in feats], [m.to(dev) for m in masks], z.to(dev))

    def _indices(self, levels: str | int | Sequence[str | int]) -> list[int]:
        if isinstance(levels, (str, int)):
            levels = [levels]
        if len(levels) == 0:
            raise ValueError(f"choose at least one level; valid levels (shallow -> deep): {list(self.levels)}")
        return sorted({self.config.level_index(level) for level in levels})

    def _masks(self, chosen: Sequence[int], kept_region: Tensor) -> list[Tensor]:
        """Chosen levels all ones; levels shallower than the deepest chosen one kept where ``kept_region`` is 1."""
        full = torch.zeros(1, self.config.num_levels, dtype=torch.bool)
        full[0, list(chosen)] = True
        keep = torch.arange(self.config.num_levels)[None] < max(chosen)
        return level_masks(self.config, full, keep & ~full, kept_region)

    # -- applications -----------------------------------------------------------------------------------------
    def generate_from_level(self, image: Any, level: str | int, seed: int = 0) -> PyramidResult:
        """A new image that shares the features of ``image`` at one level only (shallow: a near copy; deep: the
        semantics, e.g. the scene). Different seeds give different images."""
        (l,) = self._indices(level)
        x, notes = to_image_tensor(image, self.image_size)
        masks = self._masks([l], torch.zeros(1, 1, self.image_size, self.image_size))
        out = self.generate(self.features(x), masks, seed)
        return PyramidResult(to_uint8(out[0]), notes, (self.levels[l],), int(seed))

    def inpaint(
        self, image: Any, mask: Any, levels: str | int | Sequence[str | int] | None = None, seed: int = 0
    ) -> PyramidResult:
        """Regenerate the region where ``mask`` is 1: every level shallower than the deepest chosen one is kept
        outside the hole; inside it only the chosen ``levels`` (default: the deepest spatial level) are given."""
        if levels is None:
            levels = [max(i for i in range(self.config.num_levels) if self.config.is_spatial(i))]
        chosen = self._indices(levels)
        x, notes = to_image_tensor(image, self.image_size)
        hole, mask_notes = to_mask_tensor(mask, image_hw(image), self.image_size)
        notes += mask_notes
        names = tuple(self.levels[i] for i in chosen)
        if hole.sum() == 0:
            notes.append("mask is empty: nothing to regenerate; returned the input image")
            return PyramidResult(to_uint8(x[0]), notes, names, int(seed))
        if hole.min() == 1:
            notes.append(
                f"mask covers the whole image: nothing is kept, so this is generation from {', '.join(names)} alone"
            )
        out = self.generate(self.features(x), self._masks(chosen, 1.0 - hole), seed)
        return PyramidResult(to_uint8(out[0]), notes, names, int(seed))

    def composite(
        self, background: Any, object_image: Any, mask: Any, level: str | int, seed: int = 0
    ) -> PyramidResult:
        """Paste the object (``mask`` = 1, in the object image's frame) into the background at one level.

        Spatial level: its feature map is the background's outside the mask and the object's inside; shallower
        levels keep the background outside the mask. Vector level (no layout): its features are those of the
        pixel cut-and-paste image; shallower spatial levels keep the background outside the mask.
        """
        (l,) = self._indices(level)
        bg, notes = to_image_tensor(background, self.image_size, "background")
        obj, obj_notes = to_image_tensor(object_image, self.image_size, "object_image")
        m, mask_notes = to_mask_tensor(mask, image_hw(object_image), self.image_size)
        notes += obj_notes + mask_notes
        name = (self.levels[l],)
        if m.sum() == 0:
            notes.append("mask is empty: no object to paste; returned the background")
            return PyramidResult(to_uint8(bg[0]), notes, name, int(seed))
        full, m_cpu = bool(m.min() == 1), m  # the level masks are built on the CPU (generate() moves them)
        bg, obj, m = bg.to(self.device), obj.to(self.device), m.to(self.device)
        if full:
            notes.append(f"mask covers the whole image: this is generation from the object's {name[0]} alone")
        feats = self.features(bg)
        if self.config.is_spatial(l):
            s = self.config.level_sizes[l]
            m_l = F.adaptive_max_pool2d(m, s) if s != self.image_size else m  # [1, 1, s, s]
            f_obj = self.features(obj)[l]
            # phi_l = (1 - M_l) * phi_l(background) + M_l * phi_l(object)
            feats[l] = (1 - m_l) * feats[l] + m_l * f_obj
        else:
            pasted = (1 - m) * bg + m * obj  # [1, 3, S, S]
            feats[l] = self.features(pasted)[l]
        out = self.generate(feats, self._masks([l], 1.0 - m_cpu), seed)
        return PyramidResult(to_uint8(out[0]), notes, name, int(seed))


def load_pyramid(name_or_path: str | None = None, device: str | torch.device = "auto") -> PyramidPipeline:
    """The generator (a registry name, a folder or a Hub repo id; default the bundled ``pyramid-toyscapes``) and
    the backbone named in its config, checked against the sha256 recorded at training time; both on ``device``
    ("auto": CUDA when available, else MPS, else CPU)."""
    import synthkit
    from synthkit import registry

    name = name_or_path or DEFAULT_MODEL
    if name == DEFAULT_MODEL and name not in registry.names():
        # not registered (yet): the bundled folder itself, if this install has it
        folder = registry.PRETRAINED_DIR / DEFAULT_MODEL
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"the bundled Semantic Pyramid checkpoint {DEFAULT_MODEL!r} is not in this install ({folder}); "
                "train one with `synthkit train pyramid --preset toyscapes64 --out DIR` and call "
                "load_pyramid('DIR/model')"
            )
        name = str(folder)
    G = synthkit.load(name, device=device)
    if not isinstance(G, SemanticPyramidGenerator):
        raise TypeError(f"{name!r} is a {type(G).__name__}, not a Semantic Pyramid generator")
    backbone = build_backbone(G.config.backbone)
    notes = []
    expected = G.config.backbone_sha256
    actual = (getattr(backbone, "provenance", None) or {}).get("weights_sha256") or ""
    if expected and actual != expected:
        notes.append(
            f"backbone {G.config.backbone!r} has weights sha256 {actual or 'unknown'}, but the model was trained "
            f"with {expected}; results may differ from the model card"
        )
    return PyramidPipeline(G, backbone, notes)


_DEFAULT: PyramidPipeline | None = None


def _default(pipeline: PyramidPipeline | None) -> PyramidPipeline:
    global _DEFAULT
    if pipeline is not None:
        return pipeline
    if _DEFAULT is None:
        _DEFAULT = load_pyramid()
    return _DEFAULT


def generate_from_level(image: Any, level: str | int, seed: int = 0, *, pipeline: PyramidPipeline | None = None) -> PyramidResult:
    """See :meth:`PyramidPipeline.generate_from_level` (bundled model when ``pipeline`` is None)."""
    return _default(pipeline).generate_from_level(image, level, seed)


def inpaint(
    image: Any, mask: Any, levels: str | int | Sequence[str | int] | None = None, seed: int = 0,
    *, pipeline: PyramidPipeline | None = None,
) -> PyramidResult:
    """See :meth:`PyramidPipeline.inpaint` (bundled model when ``pipeline`` is None)."""
    return _default(pipeline).inpaint(image, mask, levels, seed)


def composite(
    background: Any, object_image: Any, mask: Any, level: str | int, seed: int = 0,
    *, pipeline: PyramidPipeline | None = None,
) -> PyramidResult:
    """See :meth:`PyramidPipeline.composite` (bundled model when ``pipeline`` is None)."""
    return _default(pipeline).composite(background, object_image, mask, level, seed)


def sample_images(model: SemanticPyramidGenerator, n: int = 4, seed: int = 0) -> list[np.ndarray]:
    """For ``synthkit sample``: ``n`` held-out Toyscapes scenes regenerated from the deepest level (uint8 [H, W, 3])."""
    from synthkit.data.toyscapes import ToyscapesDataset

    pipe = PyramidPipeline(model, build_backbone(model.config.backbone))
    data = ToyscapesDataset(size=pipe.image_size, length=max(n, 1), split="test", seed=seed)
    return [pipe.generate_from_level(data[i]["image"], pipe.levels[-1], seed=seed + i).image for i in range(n)]


@torch.no_grad()
def generate_by_level(pipe: PyramidPipeline, x: Tensor, level: str | int, seed: int = 0, batch: int = 100) -> Tensor:
    """Generations from one level alone for a batch of sources x [N, 3, S, S] in [-1, 1] -> [N, 3, S, S].

    Chunk k of ``batch`` sources uses noise seed ``seed + k * batch`` (one z per source).
    """
    c = pipe.config
    masks = pipe._masks([c.level_index(level)], torch.zeros(1, 1, c.image_size, c.image_size))
    out = []
    for start in range(0, x.shape[0], batch):
        xb = x[start : start + batch]
        out.append(pipe.generate(pipe.features(xb), [m.expand(xb.shape[0], *m.shape[1:]) for m in masks], seed=seed + start))
    return torch.cat(out)


@torch.no_grad()
def fid_kid_by_level(pipe: PyramidPipeline, sources: Tensor, references: Tensor, seed: int = 0) -> list[dict]:
    """The paper's per-level FID table on the pipeline's backbone: for each level, FID and KID between the
    generations from that level alone (one per source) and a set of *other* real images ``references``.

    sources, references: [N, 3, S, S] in [-1, 1] (keep them disjoint: then a perfect copy scores the real-vs-real
    floor, not 0). The first row, "real vs real", compares the sources themselves with the references.
    KID: 100 random subsets of min(1000, N // 2) samples (mean and spread). FID with N <= 128 features is biased
    upward (rank-deficient covariance): compare rows of one table, prefer KID for small N.
    Features: ``backbone.fid_layer`` (offline Toyscapes: ``pool``, 128-d), through ``synthkit.metrics.fid``; with
    the offline backbone the numbers are never comparable with the paper's (Inception) column.
    Returns [{"level", "fid", "kid", "kid_std", "paper_fid", "n", "warning"}, ...].
    """
    from synthkit.metrics.fid import extract_features, fid_from_features, kid_from_features

    if sources.dim() != 4 or references.dim() != 4 or min(sources.shape[0], references.shape[0]) < 2:
        raise ValueError(
            f"fid_kid_by_level: need image batches [N >= 2, 3, S, S] in [-1, 1], got {tuple(sources.shape)} and "
            f"{tuple(references.shape)}"
        )
    bb = pipe.backbone
    prov = bb.provenance
    kw = dict(backend=prov["backend"], weights_sha256=prov.get("weights_sha256"))
    real = extract_features(references, bb)  # [N_ref, D]

    def row(name: str, images: Tensor) -> dict:
        fake = extract_features(images, bb)
        f = fid_from_features(real, fake, **kw)
        # subsets of half the samples (at most 1000, the torch-fidelity default), so their spread is an error bar
        k = kid_from_features(real, fake, num_subsets=100, subset_size=min(1000, max(2, min(len(real), len(fake)) // 2)),
                              seed=seed, **kw)
        return {"level": name, "fid": f.value, "kid": k.value, "kid_std": k.extra["std"], "n": f.n,
                "paper_fid": PAPER_FID_BY_LEVEL.get(name), "warning": f.extra.get("warning")}

    rows = [row("real vs real", sources)]
    for name in pipe.levels:
        rows.append(row(name, generate_by_level(pipe, sources, name, seed=seed)))
    return rows
