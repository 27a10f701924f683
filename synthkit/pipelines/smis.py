"""SMIS (GroupDNet) applications: class-wise resampling, encoding, appearance mixture, style morphing, manipulation.

The only API that notebooks, demos and the CLI call for ``synthkit.models.groupdnet``::

    from synthkit.pipelines.smis import load_smis
    pipe = load_smis()                                   # bundled "smis-toyscapes"
    a = pipe.sample(label_map, seed=0)                   # a.image uint8 [H, W, 3]; a.z [1, C, 8, h, w]; a.notes
    b = pipe.resample_class(label_map, a.z, "sky", seed=1)   # only the sky's code redrawn
    e = pipe.encode(photo, label_map)                    # the codes of a real image (broken in the official code)
    m = pipe.mix_appearance(label_map, [a.z, e.z], {"sky": 1, "water": 1})   # sky and water from source 1
    f = pipe.morph(label_map, a.z, e.z, t=0.5, cls="sky")    # interpolate the sky's code only
    g = pipe.manipulate(label_map, a.z, edits=[((0, 40, 20, 64), "building")])  # new layout, same codes
    morpher = pipe.morpher(label_map, a.z, e.z, cls="sky")    # for sliders: morpher(t) -> uint8 image, fast

Every method also exists at module level (``sample(label_map, seed, pipeline=None)``, ...), using the bundled
pipeline when ``pipeline`` is None.

How each application edits the per-class latent Z = {z_c}, z [B, C, 8, h, w] (author's recipe, SMIS issue #8;
only resampling ships in the official code):

=================  ============================================================  ===========================
application        latent                                                         label map
=================  ============================================================  ===========================
sample             z ~ N(0, I)                                                    given
resample_class     z_c ~ N(0, I), z_k (k != c) kept                               given
encode             z = mu_E(crops of the image)   (sample=True: mu + eps sigma)   given (the image's own)
mix_appearance     z_c = z^(s_c)_c: class c's code from source s_c                given
morph              z_c(t) = (1 - t) z^a_c + t z^b_c for c in the chosen classes   given
manipulate         z kept                                                          edited
=================  ============================================================  ===========================

Inputs. Label maps: class-id arrays [H, W], palette-coloured RGB images / arrays, PIL images or paths (decoded by
``synthkit.data.palette.load_label_map``: off-palette colours go to the nearest class, with a note). Images: uint8
arrays [H, W, 3] (RGBA composited over white, grayscale expanded, each with a note), PIL images or paths. A map or
image of another size is resized to the model's (nearest for maps, bilinear for images), with a note. Classes are
given by id or by name. A class that is not in the label map raises ValueError: its code would change nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthkit.data.palette import Palette, get_palette, load_label_map
from synthkit.inputs import to_rgb_float
from synthkit.models.groupdnet import GroupDNet, NormCache
from synthkit.models.groupdnet_fast import FastGroupDNet
from synthkit.viz import to_uint8

__all__ = [
    "DEFAULT_MODEL",
    "SMISResult",
    "SMISPipeline",
    "Morpher",
    "load_smis",
    "sample",
    "resample_class",
    "encode",
    "mix_appearance",
    "morph",
    "manipulate",
    "sample_images",
]

DEFAULT_MODEL = "smis-toyscapes"
# palette of a model, by its number of classes (the bundled Toyscapes model and the official converted ones)
_PALETTE_BY_CLASSES = {12: "toyscapes", 8: "deepfashion", 35: "cityscapes"}

ClassRef = int | str


@dataclass
class SMISResult:
    """``image``: uint8 [H, W, 3]; ``z``: the latent that made it [1, C, 8, h, w]; ``label``: the label map used
    (uint8 [H, W], after decoding / resizing / edits); ``notes``: what was done to the inputs."""

    image: np.ndarray
    z: Tensor
    label: np.ndarray
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------------------
# Conversions
# ----------------------------------------------------------------------------------------------------------------
def _check_latent(z: Any, model: GroupDNet, what: str = "z") -> Tensor:
    cfg = model.config
    expected = (cfg.num_classes, cfg.latent_channels, *cfg.latent_size)
    if not isinstance(z, Tensor):
        raise TypeError(f"{what}: expected a torch tensor [1, {', '.join(map(str, expected))}] (e.g. result.z), "
                        f"got {type(z).__name__}")
    if z.dim() != 5 or z.shape[0] != 1 or tuple(z.shape[1:]) != expected:
        raise ValueError(f"{what}: expected a latent [1, {', '.join(map(str, expected))}] (per-class codes, e.g. "
                         f"result.z), got {tuple(z.shape)}")
    return z.detach().float().to(model.G.fc.weight.device)


# ----------------------------------------------------------------------------------------------------------------
# The pipeline
# ----------------------------------------------------------------------------------------------------------------
class SMISPipeline:
    """A GroupDNet (generator + encoder) with its palette; every method returns an ``SMISResult``."""

    def __init__(self, model: GroupDNet, palette: str | Palette | None = None, fast: bool = False):
        if not isinstance(model, GroupDNet):
            raise TypeError(f"SMISPipeline needs a GroupDNet, got {type(model).__name__}")
        C = model.config.num_classes
        if palette is None:
            if C not in _PALETTE_BY_CLASSES:
                raise ValueError(f"no default palette for a {C}-class model; pass palette=")
            palette = _PALETTE_BY_CLASSES[C]
        self.palette = get_palette(palette)
        if len(self.palette) != C:
            raise ValueError(f"palette {self.palette.name!r} has {len(self.palette)} classes, the model {C}")
        self.model = model.eval()
        # what generates: the model itself (the reference equations), or with fast=True its folded-weight forward
        self.generator: GroupDNet | FastGroupDNet = FastGroupDNet(self.model) if fast else self.model
        self.fast = bool(fast)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.model.config.image_size)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.palette.names

    @property
    def device(self) -> torch.device:
        return self.model.G.fc.weight.device

    # ---- inputs ----------------------------------------------------------------------------------------------
    def class_id(self, cls: ClassRef) -> int:
        """A class given by id or name -> its id."""
        if isinstance(cls, str):
            if cls not in self.class_names:
                raise ValueError(f"unknown class {cls!r}; valid: {', '.join(self.class_names)}")
            return self.class_names.index(cls)
        if isinstance(cls, (bool, np.bool_)) or not isinstance(cls, (int, np.integer)):
            raise TypeError(f"a class is an id (int) or a name (str), got {cls!r}")
        if not 0 <= int(cls) < len(self.class_names):
            raise ValueError(f"class id {cls} out of range [0, {len(self.class_names)})")
        return int(cls)

    def prepare_label(self, label_map: Any) -> tuple[np.ndarray, Tensor, list[str]]:
        """Label map in any accepted form -> (ids uint8 [H, W] at the model's size, seg [1, C, H, W], notes)."""
        notes: list[str] = []
        if isinstance(label_map, Tensor):
            label_map = label_map.detach().cpu().numpy()
        label, info = load_label_map(label_map, self.palette, return_info=True)
        if info.get("off_palette"):
            notes.append(f"label map: {info['off_palette']} pixels were not exactly {self.palette.name!r} palette "
                         "colours and were given the nearest class")
        H, W = self.image_size
        if label.shape != (H, W):
            notes.append(f"label map: resized (nearest) from {label.shape[0]}x{label.shape[1]} to {H}x{W}")
            t = torch.from_numpy(label.astype(np.int64))[None, None].float()
            label = F.interpolate(t, size=(H, W), mode="nearest")[0, 0].to(torch.uint8).numpy()
        return label, self.seg_from_label(label), notes

    def seg_from_label(self, label: np.ndarray) -> Tensor:
        """ids [H, W] -> one-hot seg [1, C, H, W] on the model's device."""
        ids = torch.from_numpy(np.ascontiguousarray(label).astype(np.int64)).to(self.device)
        return F.one_hot(ids, len(self.class_names)).permute(2, 0, 1)[None].float()

    def prepare_image(self, image: Any) -> tuple[Tensor, list[str]]:
        """Image in any accepted form -> ([1, 3, H, W] in [-1, 1] at the model's size, notes)."""
        notes: list[str] = []
        a = to_rgb_float(image, "image", notes)
        x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None] * 2 - 1  # [1, 3, h, w]
        H, W = self.image_size
        if tuple(x.shape[-2:]) != (H, W):
            notes.append(f"image: resized (bilinear) from {x.shape[-2]}x{x.shape[-1]} to {H}x{W}")
            x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False, antialias=True).clamp(-1, 1)
        return x.to(self.device), notes

    def _present(self, label: np.ndarray, cls: ClassRef) -> int:
        c = self.class_id(cls)
        if not (label == c).any():
            present = [self.class_names[k] for k in np.unique(label)]
            raise ValueError(f"class {self.class_names[c]!r} (id {c}) is not in this label map, so its code changes "
                             f"nothing; classes present: {', '.join(present)}")
        return c

    def _classes(self, label: np.ndarray, cls: ClassRef | Sequence[ClassRef] | None) -> list[int] | None:
        if cls is None:
            return None
        refs = [cls] if isinstance(cls, (str, int, np.integer)) else list(cls)
        if not refs:
            raise ValueError("cls: give a class, a list of classes, or None for all classes")
        return [self._present(label, c) for c in refs]

    # ---- core ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: Tensor, seg: Tensor | None = None, norm_cache: NormCache | None = None) -> Tensor:
        """G(z, seg) -> [B, 3, H, W] in [-1, 1] (eval mode)."""
        return self.generator.generate(z, seg, norm_cache=norm_cache)

    def _result(self, z: Tensor, label: np.ndarray, seg: Tensor, notes: list[str]) -> SMISResult:
        return SMISResult(to_uint8(self.generate(z, seg)[0]), z.cpu(), label, notes)

    def random_latent(self, seed: int = 0) -> Tensor:
        """z ~ N(0, I) [1, C, 8, h, w] from a seeded generator (the official test-time prior)."""
        cfg = self.model.config
        g = torch.Generator().manual_seed(int(seed))  # on the CPU, so a seed gives the same z on every device
        z = torch.randn((1, cfg.num_classes, cfg.latent_channels, *cfg.latent_size), generator=g)
        return z.to(self.device)

    # ---- applications ----------------------------------------------------------------------------------------
    def sample(self, label_map: Any, seed: int = 0) -> SMISResult:
        """An image of ``label_map`` with every class's code drawn from N(0, I)."""
        label, seg, notes = self.prepare_label(label_map)
        return self._result(self.random_latent(seed), label, seg, notes)

    def resample_class(self, label_map: Any, z: Tensor, cls: ClassRef, seed: int = 0) -> SMISResult:
        """SMIS proper: redraw class ``cls``'s code z_c ~ N(0, I), keep every other class's code."""
        label, seg, notes = self.prepare_label(label_map)
        c = self._present(label, cls)
        z = _check_latent(z, self.model).clone()
        z[:, c] = self.random_latent(seed)[:, c].to(z.device)
        return self._result(z, label, seg, notes)

    @torch.no_grad()
    def encode(self, image: Any, label_map: Any, sample: bool = False, seed: int = 0) -> SMISResult:
        """The per-class codes of a real image under its label map; ``image`` of the result is G(z, seg).

        z = mu (deterministic) by default; ``sample=True``: z = mu + eps * exp(logvar / 2) (the training posterior).
        """
        label, seg, notes = self.prepare_label(label_map)
        x, img_notes = self.prepare_image(image)
        mu, logvar = self.model.encode(x, seg)  # [1, C, 8, h, w] each
        z = mu
        if sample:
            g = torch.Generator().manual_seed(int(seed))
            z = mu + torch.randn(mu.shape, generator=g).to(mu.device) * torch.exp(0.5 * logvar)
        return self._result(z, label, seg, notes + img_notes)

    def mix_appearance(self, label_map: Any, sources: Sequence[Tensor], choice: Mapping[ClassRef, int],
                       base: int = 0) -> SMISResult:
        """Appearance mixture: class c takes its code from ``sources[choice[c]]``; the others from ``sources[base]``.

        sources: latents [1, C, 8, h, w] (e.g. ``encode(...).z`` of several images); choice: {class: source index}.
        """
        label, seg, notes = self.prepare_label(label_map)
        if not sources:
            raise ValueError("mix_appearance: give at least one source latent")
        zs = [_check_latent(s, self.model, f"sources[{i}]") for i, s in enumerate(sources)]
        if not 0 <= base < len(zs):
            raise ValueError(f"mix_appearance: base={base} is not a source index (0..{len(zs) - 1})")
        z = zs[base].clone()
        for cls, k in choice.items():
            c = self._present(label, cls)
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < len(zs):
                raise ValueError(f"mix_appearance: class {self.class_names[c]!r} -> {k!r} is not a source index "
                                 f"(0..{len(zs) - 1})")
            z[:, c] = zs[k][:, c]
        return self._result(z, label, seg, notes)

    def morph(self, label_map: Any, z_a: Tensor, z_b: Tensor, t: float,
              cls: ClassRef | Sequence[ClassRef] | None = None) -> SMISResult:
        """Style morphing: z_c(t) = (1 - t) z^a_c + t z^b_c for the chosen classes (None = all); others keep z^a."""
        label, seg, notes = self.prepare_label(label_map)
        z = _morph_latent(_check_latent(z_a, self.model, "z_a"), _check_latent(z_b, self.model, "z_b"),
                          _check_t(t), self._class_mask(self._classes(label, cls)))
        return self._result(z, label, seg, notes)

    def manipulate(self, label_map: Any, z: Tensor,
                   edits: Sequence[tuple[Any, ClassRef]] = ()) -> SMISResult:
        """Semantic manipulation: generate from an edited label map with the same codes.

        edits: (region, class) pairs applied in order; region is a box (x0, y0, x1, y1) in pixels of the model's
        size (x1, y1 exclusive) or a boolean mask [H, W]. With no edits, ``label_map`` itself is the new layout.
        A class that an edit paints gets whatever code z holds for it (e.g. from the image it was encoded from).
        """
        label, _, notes = self.prepare_label(label_map)
        label = label.copy()
        H, W = self.image_size
        for region, cls in edits:
            c = self.class_id(cls)
            if isinstance(region, np.ndarray) and region.dtype == bool:
                if region.shape != (H, W):
                    raise ValueError(f"manipulate: a mask region must be bool [{H}, {W}], got {region.shape}")
                label[region] = c
            elif isinstance(region, (tuple, list)) and len(region) == 4:
                x0, y0, x1, y1 = (int(v) for v in region)
                if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
                    raise ValueError(f"manipulate: box {tuple(region)} is empty or outside the {W}x{H} map "
                                     "(x0, y0, x1, y1 with x1, y1 exclusive)")
                label[y0:y1, x0:x1] = c
            else:
                raise TypeError("manipulate: each edit is (region, class) with region a box (x0, y0, x1, y1) or a "
                                f"bool mask [{H}, {W}]")
        z = _check_latent(z, self.model)
        return self._result(z, label, self.seg_from_label(label), notes)

    def morpher(self, label_map: Any, z_a: Tensor, z_b: Tensor,
                cls: ClassRef | Sequence[ClassRef] | None = None) -> "Morpher":
        """A ``Morpher`` for sliders: label-map branches computed once, then ``morpher(t)`` per frame."""
        return Morpher(self, label_map, z_a, z_b, cls)

    def _class_mask(self, classes: list[int] | None) -> Tensor:
        """[1, C, 1, 1, 1] with 1 for the morphed classes (all when None)."""
        C = len(self.class_names)
        m = torch.zeros(1, C, 1, 1, 1, dtype=torch.bool, device=self.device)
        m[:, classes if classes is not None else slice(None)] = True
        return m


def _check_t(t: float) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must be a number in [0, 1], got {t!r}")
    return float(t)


def _morph_latent(z_a: Tensor, z_b: Tensor, t: float, mask: Tensor) -> Tensor:
    """z(t) = where(mask, lerp(z_a, z_b, t), z_a); lerp is exact at both ends (t=0 -> z_a, t=1 -> z_b)."""
    return torch.where(mask, torch.lerp(z_a, z_b, t), z_a)


class Morpher:
    """Style morphing for a live slider: built once per (label map, z_a, z_b, classes), then ``morpher(t)``.

    Building it runs every CG-Norm's label-map branch once (``precompute_norm_params``); each call then only runs
    the code path of the generator: z(t) -> fc -> res-blocks with the cached label-map branch -> image. The result equals
    ``SMISPipeline.morph(label_map, z_a, z_b, t, cls).image``.
    """

    def __init__(self, pipeline: SMISPipeline, label_map: Any, z_a: Tensor, z_b: Tensor,
                 cls: ClassRef | Sequence[ClassRef] | None = None):
        self.pipeline = pipeline
        self.label, seg, self.notes = pipeline.prepare_label(label_map)
        self.z_a = _check_latent(z_a, pipeline.model, "z_a")
        self.z_b = _check_latent(z_b, pipeline.model, "z_b")
        self.classes = pipeline._classes(self.label, cls)
        self.mask = pipeline._class_mask(self.classes)
        with torch.no_grad():
            self.cache = pipeline.generator.precompute_norm_params(seg)

    def latent(self, t: float) -> Tensor:
        return _morph_latent(self.z_a, self.z_b, _check_t(t), self.mask)

    @torch.no_grad()
    def tensor(self, t: float) -> Tensor:
        """The frame at t as [1, 3, H, W] in [-1, 1]."""
        return self.pipeline.generate(self.latent(t), norm_cache=self.cache)

    def __call__(self, t: float) -> np.ndarray:
        """uint8 [H, W, 3] at position t in [0, 1]."""
        return to_uint8(self.tensor(t)[0])


# ----------------------------------------------------------------------------------------------------------------
# Loading and module-level functions
# ----------------------------------------------------------------------------------------------------------------
_CACHE: dict[str, SMISPipeline] = {}


def load_smis(name_or_path: str | os.PathLike = DEFAULT_MODEL, device: str = "auto", fast: bool = False) -> SMISPipeline:
    """An ``SMISPipeline`` for a registry name (default: bundled "smis-toyscapes"), a folder or a Hub repo id.

    ``fast=True``: generate with ``synthkit.models.groupdnet_fast`` (folded eval weights; same images within 1e-5)."""
    import synthkit

    model = synthkit.load(name_or_path, device=device)
    if not isinstance(model, GroupDNet):
        raise TypeError(f"{name_or_path!r} holds a {type(model).__name__}, not a GroupDNet (SMIS) model")
    if model.E is None:
        raise ValueError(f"{name_or_path!r} has no encoder; encode / mix_appearance of real images need one")
    return SMISPipeline(model, fast=fast)


def _default(pipeline: SMISPipeline | None) -> SMISPipeline:
    if pipeline is not None:
        return pipeline
    if DEFAULT_MODEL not in _CACHE:
        _CACHE[DEFAULT_MODEL] = load_smis(DEFAULT_MODEL)
    return _CACHE[DEFAULT_MODEL]


def sample(label_map: Any, seed: int = 0, *, pipeline: SMISPipeline | None = None) -> SMISResult:
    return _default(pipeline).sample(label_map, seed)


def resample_class(label_map: Any, z: Tensor, cls: ClassRef, seed: int = 0, *,
                   pipeline: SMISPipeline | None = None) -> SMISResult:
    return _default(pipeline).resample_class(label_map, z, cls, seed)


def encode(image: Any, label_map: Any, sample: bool = False, seed: int = 0, *,
           pipeline: SMISPipeline | None = None) -> SMISResult:
    return _default(pipeline).encode(image, label_map, sample, seed)


def mix_appearance(label_map: Any, sources: Sequence[Tensor], choice: Mapping[ClassRef, int], base: int = 0, *,
                   pipeline: SMISPipeline | None = None) -> SMISResult:
    return _default(pipeline).mix_appearance(label_map, sources, choice, base)


def morph(label_map: Any, z_a: Tensor, z_b: Tensor, t: float, cls: ClassRef | Sequence[ClassRef] | None = None, *,
          pipeline: SMISPipeline | None = None) -> SMISResult:
    return _default(pipeline).morph(label_map, z_a, z_b, t, cls)


def manipulate(label_map: Any, z: Tensor, edits: Sequence[tuple[Any, ClassRef]] = (), *,
               pipeline: SMISPipeline | None = None) -> SMISResult:
    return _default(pipeline).manipulate(label_map, z, edits)


def sample_images(model: GroupDNet, n: int = 4, seed: int = 0) -> list[np.ndarray]:
    """For ``synthkit sample``: ``n`` images of random held-out Toyscapes label maps (uint8 [H, W, 3])."""
    from synthkit.data.toyscapes import ToyscapesDataset

    pipe = SMISPipeline(model)
    H, W = pipe.image_size
    if H != W:
        raise ValueError(f"sample_images draws square Toyscapes maps; this model is {H}x{W}")
    data = ToyscapesDataset(size=H, length=max(n, 1), split="test", seed=seed)
    return [pipe.sample(data.sample(i).label, seed=seed + i).image for i in range(n)]
