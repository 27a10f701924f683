"""Per-class diversity of SMIS models: mCSD and mOCD (Zhu et al., CVPR 2020, Sec. 4), and a ground-truth check of
per-class appearance control on Toyscapes (mode transfer).

mCSD / mOCD. For a label map L and a class c present in L, keep every class's code but c's and draw K codes z_c:
images x_1..x_K differ only in z_c (what the official ``SmisModel.vis_test(test_mask=c)`` does). With M = (L == c)
and d an LPIPS distance restricted to a region (``synthkit.metrics.lpips.LPIPS.masked``):

    CSD(L, c) = mean_{i<j} d_M(x_i, x_j)            class-specific diversity    (higher = c really varies)
    OCD(L, c) = mean_{i<j} d_{1-M}(x_i, x_j)         other-classes diversity     (lower = the rest stays put)
    mCSD = mean_c mean_L CSD(L, c),   mOCD = mean_c mean_L OCD(L, c)   (macro average over classes)

The paper's text does not pin the protocol and the official repository has no metric code (metrics_research.md
§3.1; the author points to PerceptualSimilarity, SMIS issue #15). Our choices, recorded in every result's ``extra``:

* samples per (map, class): K = ``num_samples`` (default 5) fresh draws of z_c ~ N(0, I); the other classes keep
  one draw per map (seeded);
* pairing: all K(K-1)/2 unordered pairs;
* masking: ``"mask-image"`` by default (the region is kept, everything else set to 0 = mid-grey in [-1, 1], then
  LPIPS of the two masked images; the unused official option is called "Mask LPIPS"). ``"spatial-map"`` (mask-
  weighted mean of the spatial LPIPS map) is available; it lets a change inside c leak outside through the
  network's receptive field, so its mOCD is an upper bound;
* area normalisation (``area_normalized=True``, mask-image only): LPIPS averages over the whole image, so a
  masked pair's distance scales with the region's share of the image; dividing by that share (HW / |M| inside,
  HW / |1 - M| outside) makes CSD and OCD *mean changes per pixel of their region*, so that mOCD / mCSD compares
  like with like (without it a class covering 5% of the image has a CSD 20x smaller than the same change
  would give a class covering all of it). The raw values are kept in ``extra["raw_per_class"]``;
* classes smaller than ``min_pixels`` in a map are skipped for that map (LPIPS of a handful of pixels is noise);
* distance: ``synthkit.metrics.lpips.LPIPS`` ("auto": the ``lpips`` package, AlexNet v0.1, when its ImageNet trunk
  is cached; else the offline Toyscapes backbone's LPIPS-like distance, whose numbers are NOT comparable to the
  paper). Even with the reference backend the result is marked not comparable: the masking protocol is ours.

Mode transfer (Toyscapes only). Toyscapes draws each class's appearance mode independently and records it, so
per-class control can be checked against ground truth: encode images A and B, give A class c's code from B,
generate with A's label map, and ask a nearest-prototype mode classifier (mean colour of c's pixels against the
mean colour of each (class, mode) in real training images) whether c now shows B's recorded mode, while every
other class keeps the mode it had in A's reconstruction.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from synthkit.metrics.lpips import LPIPS, MaskMode
from synthkit.metrics.provenance import MetricResult

__all__ = [
    "all_pairs",
    "pairwise_region_distances",
    "class_diversity",
    "mcsd_mocd",
    "ModePrototypes",
    "fit_mode_prototypes",
    "mode_transfer",
]

# G(z [B, C, 8, h, w], seg [1, C, H, W]) -> images [B, 3, H, W] in [-1, 1]
GenerateFn = Callable[[Tensor, Tensor], Tensor]


def all_pairs(k: int) -> tuple[list[int], list[int]]:
    """Indices (i, j), i < j, of all K(K-1)/2 unordered pairs among k samples."""
    if k < 2:
        raise ValueError(f"need at least 2 samples to form a pair, got {k}")
    pairs = list(itertools.combinations(range(k), 2))
    return [i for i, _ in pairs], [j for _, j in pairs]


@torch.no_grad()
def pairwise_region_distances(images: Tensor, mask: Tensor, lpips: LPIPS,
                              mode: MaskMode = "mask-image") -> tuple[Tensor, Tensor]:
    """Distances of all pairs of ``images`` [K, 3, H, W] inside and outside ``mask`` [H, W] (bool) -> ([P], [P])."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [K, 3, H, W], got {tuple(images.shape)}")
    if mask.shape != images.shape[-2:]:
        raise ValueError(f"mask must be [H, W] = {tuple(images.shape[-2:])}, got {tuple(mask.shape)}")
    i, j = all_pairs(images.shape[0])
    x, y = images[i], images[j]  # [P, 3, H, W]
    m = mask.bool()[None].expand(len(i), -1, -1)  # [P, H, W]
    return lpips.masked(x, y, m, mode), lpips.masked(x, y, ~m, mode)


def _generate_fn(model: Any) -> GenerateFn:
    """A GroupDNet (or anything with ``generate(z, seg)``) or a plain callable -> GenerateFn."""
    if callable(getattr(model, "generate", None)):
        return lambda z, seg: model.generate(z, seg)
    if callable(model):
        return model
    raise TypeError(f"expected a GroupDNet or a function G(z, seg), got {type(model).__name__}")


@torch.no_grad()
def class_diversity(generate: GenerateFn, seg: Tensor, z: Tensor, c: int, lpips: LPIPS, num_samples: int = 5,
                    generator: torch.Generator | None = None, mode: MaskMode = "mask-image",
                    area_normalized: bool = False) -> tuple[float, float]:
    """(CSD, OCD) of class c for one label map: K images that differ only in z_c, all pairs.

    seg [1, C, H, W] one-hot; z [1, C, 8, h, w] (the codes kept for the other classes).
    area_normalized (mask-image): divide by the region's share of the image (mean change per region pixel).
    """
    K = num_samples
    zs = z.expand(K, *z.shape[1:]).clone()  # [K, C, 8, h, w]
    draw = torch.randn((K, *z.shape[2:]), generator=generator)
    zs[:, c] = draw.to(z.device, z.dtype)
    images = generate(zs, seg.expand(K, *seg.shape[1:]))  # [K, 3, H, W]
    mask = seg[0, c] > 0.5
    inside, outside = pairwise_region_distances(images, mask, lpips, mode)
    csd, ocd = float(inside.mean()), float(outside.mean())
    if area_normalized and mode == "mask-image":
        share = float(mask.float().mean())  # |M| / HW
        csd, ocd = csd / share, ocd / (1.0 - share)
    return csd, ocd


@torch.no_grad()
def mcsd_mocd(model: Any, labels: Sequence[Any], num_classes: int | None = None, lpips: LPIPS | None = None,
              num_samples: int = 5, min_pixels: int = 16, mode: MaskMode = "mask-image",
              seed: int = 0, class_names: Sequence[str] | None = None,
              latent_shape: Sequence[int] | None = None, area_normalized: bool = True) -> dict[str, MetricResult]:
    """mCSD and mOCD of ``model`` over the label maps ``labels`` (integer arrays / tensors [H, W]).

    model: a GroupDNet, or ``G(z, seg) -> images`` with ``num_classes`` and ``latent_shape`` (C, K, h, w). Returns {"mcsd", "mocd",
    "ratio"} as ``MetricResult``s; ``ratio`` = mOCD / mCSD (how much of a class's change leaks to the rest, 0 ideal).
    Per-class values are in ``extra["per_class"]`` (raw, not area-normalised: ``extra["raw_per_class"]``).
    """
    generate = _generate_fn(model)
    cfg = getattr(model, "config", None)
    C = num_classes or (cfg.num_classes if cfg is not None else None)
    if latent_shape is None and cfg is not None:
        latent_shape = (cfg.num_classes, cfg.latent_channels, *cfg.latent_size)
    if C is None or latent_shape is None:
        raise ValueError("mcsd_mocd: pass num_classes and latent_shape when model is a plain function")
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2 (pairs are needed), got {num_samples}")
    if len(labels) == 0:
        raise ValueError("mcsd_mocd: no label maps given")
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    lpips = lpips or LPIPS("auto", device=device)  # the distance network runs where the images are made
    g = torch.Generator().manual_seed(seed)
    csd: dict[int, list[float]] = {}
    ocd: dict[int, list[float]] = {}
    raw: dict[int, list[tuple[float, float]]] = {}
    for label in labels:
        label = torch.as_tensor(np.asarray(label)).long()
        if label.dim() != 2:
            raise ValueError(f"each label map must be [H, W] class ids, got shape {tuple(label.shape)}")
        seg = torch.nn.functional.one_hot(label, C).permute(2, 0, 1)[None].float().to(device)  # [1, C, H, W]
        z = torch.randn((1, *latent_shape), generator=g).to(device)
        counts = torch.bincount(label.flatten(), minlength=C)
        for c in range(C):
            if counts[c] < min_pixels or counts[c] == label.numel():
                continue  # too small to measure, or no "outside"
            s, o = class_diversity(generate, seg, z, c, lpips, num_samples, g, mode)
            raw.setdefault(c, []).append((s, o))
            if area_normalized and mode == "mask-image":
                share = float(counts[c]) / label.numel()
                s, o = s / share, o / (1.0 - share)
            csd.setdefault(c, []).append(s)
            ocd.setdefault(c, []).append(o)
    if not csd:
        raise ValueError(f"mcsd_mocd: no class covers >= {min_pixels} pixels in any label map")
    names = list(class_names) if class_names is not None else [str(c) for c in range(C)]
    per_csd = {names[c]: float(np.mean(v)) for c, v in sorted(csd.items())}
    per_ocd = {names[c]: float(np.mean(v)) for c, v in sorted(ocd.items())}
    mcsd, mocd = float(np.mean(list(per_csd.values()))), float(np.mean(list(per_ocd.values())))
    n_pairs = sum(len(v) for v in csd.values()) * num_samples * (num_samples - 1) // 2
    prov = lpips.provenance
    common = dict(backend=prov["backend"], weights_sha256=prov.get("weights_sha256"), n=n_pairs, seed=seed,
                  resize="none", comparable_to_paper=False)
    protocol = {"samples_per_class": num_samples, "pairing": "all pairs", "mask_mode": mode,
                "area_normalized": bool(area_normalized and mode == "mask-image"),
                "min_pixels": min_pixels, "label_maps": len(labels), "average": "macro over classes",
                "reason": prov.get("reason", "")}
    return {
        "mcsd": MetricResult(mcsd, "mcsd", extra=dict(protocol, per_class=per_csd, raw_per_class={
            names[c]: float(np.mean([v[0] for v in r])) for c, r in sorted(raw.items())}), **common),
        "mocd": MetricResult(mocd, "mocd", extra=dict(protocol, per_class=per_ocd, raw_per_class={
            names[c]: float(np.mean([v[1] for v in r])) for c, r in sorted(raw.items())}), **common),
        "ratio": MetricResult(mocd / mcsd if mcsd > 0 else float("inf"), "mocd_over_mcsd", extra=protocol, **common),
    }


# ----------------------------------------------------------------------------------------------------------------
# Mode transfer: per-class control checked against Toyscapes' recorded appearance modes
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModePrototypes:
    """Nearest-prototype classifier of a class's appearance mode from the mean colour of its pixels.

    prototypes[c][m]: mean RGB in [0, 1] of class c's pixels over real training images whose recorded mode is m
    (NaN row if that mode was never seen). ``accuracy``: its accuracy on the held-out real images it was checked on.
    """

    prototypes: tuple[np.ndarray, ...]
    accuracy: float = float("nan")

    def classify(self, image: np.ndarray, label: np.ndarray, c: int) -> int:
        """Mode of class c in ``image`` (uint8 [H, W, 3]) under ``label`` [H, W]: nearest prototype of its mean colour."""
        mask = label == c
        if not mask.any():
            raise ValueError(f"class {c} has no pixels in this label map")
        colour = image[mask].astype(np.float64).mean(0) / 255.0  # [3]
        d = np.linalg.norm(self.prototypes[c] - colour[None], axis=1)
        return int(np.nanargmin(d))


def _mean_colours(samples) -> dict[tuple[int, int], list[np.ndarray]]:
    from synthkit.data.toyscapes import CLASSES

    out: dict[tuple[int, int], list[np.ndarray]] = {}
    for s in samples:
        for name, st in s.styles.items():
            c = CLASSES.index(name)
            mask = s.label == c
            if mask.sum() >= 4:
                out.setdefault((c, int(st["mode"])), []).append(s.image[mask].astype(np.float64).mean(0) / 255.0)
    return out


def fit_mode_prototypes(size: int = 64, n_train: int = 300, n_check: int = 100, seed: int = 0) -> ModePrototypes:
    """Prototypes from ``n_train`` real Toyscapes training images; accuracy on ``n_check`` real test images."""
    from synthkit.data.toyscapes import CLASSES, STYLE_MODES, ToyscapesDataset

    train = ToyscapesDataset(size=size, length=n_train, split="train", seed=seed)
    colours = _mean_colours(train.sample(i) for i in range(n_train))
    protos = []
    for c, name in enumerate(CLASSES):
        rows = [np.mean(colours[(c, m)], 0) if (c, m) in colours else np.full(3, np.nan)
                for m in range(len(STYLE_MODES[name]))]
        protos.append(np.stack(rows))
    model = ModePrototypes(tuple(protos))
    if n_check <= 0:
        return model
    check = ToyscapesDataset(size=size, length=n_check, split="test", seed=seed)
    hits = total = 0
    for i in range(n_check):
        s = check.sample(i)
        for name, st in s.styles.items():
            c = CLASSES.index(name)
            if (s.label == c).sum() >= 4:
                hits += model.classify(s.image, s.label, c) == int(st["mode"])
                total += 1
    return ModePrototypes(tuple(protos), hits / max(total, 1))


@torch.no_grad()
def mode_transfer(pipeline: Any, pairs: Sequence[tuple[Any, Any]], prototypes: ModePrototypes,
                  min_pixels: int = 16) -> dict[str, Any]:
    """Swap class c's code from B into A, for every class c present in both with different recorded modes.

    pipeline: an ``SMISPipeline``; pairs: (A, B) ``ToyscapesSample``s at the model's size.
    Returns counts and rates: ``transfer_rate`` = P(c shows B's recorded mode after the swap);
    ``baseline_rate`` = P(c showed B's mode in A's plain reconstruction) (chance-level reference);
    ``others_kept_rate`` = P(a class k != c shows the same mode as in A's reconstruction);
    ``recon_rate`` = P(a class shows A's recorded mode in A's reconstruction).
    """
    from synthkit.data.toyscapes import CLASSES

    trials = transferred = baseline = kept = others = recon_hits = recon_total = 0
    per_class: dict[str, list[int]] = {}
    for a, b in pairs:
        ea = pipeline.encode(a.image, a.label)
        eb = pipeline.encode(b.image, b.label)
        present = [CLASSES.index(n) for n in a.styles if (a.label == CLASSES.index(n)).sum() >= min_pixels]
        recon_modes = {k: prototypes.classify(ea.image, ea.label, k) for k in present}
        for k in present:
            recon_hits += recon_modes[k] == int(a.styles[CLASSES[k]]["mode"])
            recon_total += 1
        for c in present:
            name = CLASSES[c]
            if name not in b.styles or (b.label == c).sum() < min_pixels:
                continue
            mode_a, mode_b = int(a.styles[name]["mode"]), int(b.styles[name]["mode"])
            if mode_a == mode_b:
                continue
            mixed = pipeline.mix_appearance(a.label, [ea.z, eb.z], {c: 1}, base=0)
            got = prototypes.classify(mixed.image, mixed.label, c)
            trials += 1
            transferred += got == mode_b
            baseline += recon_modes[c] == mode_b
            per_class.setdefault(name, [0, 0])
            per_class[name][0] += got == mode_b
            per_class[name][1] += 1
            for k in present:
                if k != c:
                    others += 1
                    kept += prototypes.classify(mixed.image, mixed.label, k) == recon_modes[k]
    if trials == 0:
        raise ValueError("mode_transfer: no (A, B, class) trial with the class in both and different modes")
    return {
        "trials": trials, "transfer_rate": transferred / trials, "baseline_rate": baseline / trials,
        "others_kept_rate": kept / max(others, 1), "others": others,
        "recon_rate": recon_hits / max(recon_total, 1), "prototype_accuracy_real": prototypes.accuracy,
        "per_class": {k: v[0] / v[1] for k, v in sorted(per_class.items())},
    }
