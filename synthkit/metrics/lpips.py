"""LPIPS distance (and its masked variant for SMIS's mCSD / mOCD), with one explicit backend per object.

Two backends, never mixed silently:

``"lpips"`` (reference)
    The ``lpips`` package, ``LPIPS(net="alex", version="0.1")`` (Zhang et al. 2018): learned linear heads
    (shipped in the wheel) over an ImageNet AlexNet trunk that torchvision reads from its cache file
    ``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``. We verify that file's sha256 ourselves (torch.hub
    checks it only while downloading). This is the LPIPS of the papers.

``"offline"``
    ``FeatureBackbone.lpips_like`` of the bundled Toyscapes backbone: LPIPS's formula without learned heads on a
    toy trunk. NOT LPIPS: values are on another scale and never comparable to published LPIPS numbers.

``"auto"`` picks "lpips" when the package and the verified AlexNet file are present, else "offline", ONCE, when
the ``LPIPS`` object is built; every result carries the backend that produced it (and why it was chosen).

LPIPS (Eq. 1 of Zhang et al.):  d(x, y) = Σ_l mean_{h,w} || w_l ⊙ (f̂_l(x)[h,w] - f̂_l(y)[h,w]) ||²
with f̂ the channel-unit-normalised features of layer l and w_l the learned per-channel head weights.

Masked distance (for mCSD / mOCD; the SMIS paper does not give the protocol, see metrics_research.md §3.1):

* ``"mask-image"``: d(x ⊙ M, y ⊙ M): pixels outside M are set to 0, i.e. mid-grey in [-1, 1];
* ``"spatial-map"``: D = spatial LPIPS map [B, 1, H, W];  d = Σ(D ⊙ M) / Σ M per image.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from synthkit.metrics.provenance import MetricResult

__all__ = ["LPIPS", "ALEXNET_FILE", "ALEXNET_SHA256_PREFIX", "lpips_available", "masked_distance_from_map"]

Backend = Literal["auto", "lpips", "offline"]
MaskMode = Literal["mask-image", "spatial-map"]

# torchvision's AlexNet cache file; the 8 hex in its name are the first 8 of its sha256 (what we verify)
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_SHA256_PREFIX = "7be5be79"


def _alexnet_path() -> Path:
    from synthkit.backbones import _torch_hub_checkpoints

    return _torch_hub_checkpoints() / ALEXNET_FILE


def lpips_available(expected_sha256: str | None = None) -> tuple[bool, str]:
    """(True, "") if the reference LPIPS can run offline here; else (False, the reason and what to do)."""
    from synthkit.backbones import sha256_file

    if importlib.util.find_spec("lpips") is None:
        return False, "the 'lpips' package is not installed (pip install lpips)"
    path = _alexnet_path()
    if not path.is_file():
        return False, (f"the AlexNet trunk of LPIPS is missing: put '{ALEXNET_FILE}' into the folder '{path.parent}' "
                       "(from https://download.pytorch.org/models/" + ALEXNET_FILE + ", or run "
                       "torchvision.models.alexnet(weights='IMAGENET1K_V1') once on a machine with network)")
    digest = sha256_file(path)
    expected = (expected_sha256 or ALEXNET_SHA256_PREFIX).lower()
    if not digest.startswith(expected):
        return False, (f"{path} is not torchvision's AlexNet file: sha256 {digest}, expected it to start with "
                       f"{expected}; delete it and put the genuine file there")
    return True, digest


def _check_pair(x: Tensor, y: Tensor) -> None:
    if not (isinstance(x, Tensor) and isinstance(y, Tensor)):
        raise TypeError("LPIPS: x and y must be tensors [B, 3, H, W] in [-1, 1]")
    if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"LPIPS: x and y must both be [B, 3, H, W] with the same shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    lo, hi = float(torch.minimum(x.amin(), y.amin())), float(torch.maximum(x.amax(), y.amax()))
    if lo < -1.5 or hi > 1.5:  # the lpips package checks nothing and returns nonsense for [0, 255]
        raise ValueError(f"LPIPS: images must be in [-1, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                         "map [0, 255] with x / 127.5 - 1 and [0, 1] with 2 * x - 1")


def masked_distance_from_map(dmap: Tensor, mask: Tensor) -> Tensor:
    """d_b = Σ_{h,w} D_b ⊙ M_b / Σ_{h,w} M_b   ([B, 1, H, W], [B, 1, H, W] -> [B]); NaN where M_b is empty."""
    m = mask.to(dmap.dtype)
    area = m.sum(dim=(1, 2, 3))
    return torch.where(area > 0, (dmap * m).sum(dim=(1, 2, 3)) / area.clamp_min(1e-12),
                       torch.full_like(area, float("nan")))


class LPIPS:
    """An LPIPS distance with one fixed backend. ``LPIPS("auto")(x, y) -> [B]`` distances per image pair.

    backend: "auto" | "lpips" (reference; raises a clear error if it cannot run) | "offline" (Toyscapes backbone).
    expected_sha256: override of the AlexNet file's expected hash (full or prefix; tests only).
    ``provenance``: dict printed with every result (backend, weights sha256, comparable_to_paper, reason).
    """

    def __init__(self, backend: Backend = "auto", device: str | torch.device = "cpu",
                 expected_sha256: str | None = None, backbone=None):
        if backend not in ("auto", "lpips", "offline"):
            raise ValueError(f"LPIPS: backend must be 'auto', 'lpips' or 'offline', got {backend!r}")
        self.device = torch.device(device)
        reason = ""
        if backend in ("auto", "lpips"):
            ok, info = lpips_available(expected_sha256)
            if backend == "lpips" and not ok:
                raise RuntimeError(f"LPIPS backend 'lpips' cannot run: {info}. Or use LPIPS('offline') "
                                   "(LPIPS-like, not comparable to published numbers).")
            resolved = "lpips" if ok else "offline"
            reason = "requested" if backend == "lpips" else (
                "auto: reference LPIPS available" if ok else f"auto: fell back to offline because {info}")
        else:
            resolved, reason = "offline", "requested"
        self.backend = resolved
        if resolved == "lpips":
            import lpips as lpips_pkg

            self._net = lpips_pkg.LPIPS(net="alex", version="0.1", verbose=False).eval().to(self.device)
            for p in self._net.parameters():
                p.requires_grad_(False)
            self.provenance = {
                "backend": "lpips-alex-v0.1", "weights_sha256": info, "weights": str(_alexnet_path()),
                "comparable_to_paper": expected_sha256 is None, "reason": reason}
        else:
            from synthkit.backbones import load_backbone

            self._net = backbone if backbone is not None else load_backbone("toyscapes", device=self.device)
            prov = self._net.provenance
            self.provenance = {
                "backend": f"lpips-like-{prov['backend']}", "weights_sha256": prov.get("weights_sha256"),
                "weights": prov.get("weights"), "comparable_to_paper": False,
                "reason": reason + "; LPIPS-like (no learned heads, toy trunk): NOT LPIPS"}

    # --- raw tensors ---------------------------------------------------------------------------------------
    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """Distance per image pair, [B]. x, y: [B, 3, H, W] in [-1, 1]."""
        _check_pair(x, y)
        x, y = x.to(self.device), y.to(self.device)
        if self.backend == "lpips":
            return self._net(x, y).reshape(-1)  # [B, 1, 1, 1] -> [B]
        return self._net.lpips_like(x, y)

    def spatial(self, x: Tensor, y: Tensor) -> Tensor:
        """Distance map [B, 1, H, W] (each layer's map upsampled bilinearly to H x W, then summed / averaged)."""
        _check_pair(x, y)
        x, y = x.to(self.device), y.to(self.device)
        if self.backend == "lpips":
            self._net.spatial = True  # the package reads this flag at call time
            try:
                return self._net(x, y)
            finally:
                self._net.spatial = False
        return self._net.lpips_like(x, y, spatial=True)

    def masked(self, x: Tensor, y: Tensor, mask: Tensor, mode: MaskMode = "mask-image") -> Tensor:
        """Distance restricted to ``mask`` ([B, H, W] or [B, 1, H, W], bool or {0, 1}), per pair: [B].

        "mask-image": d(x ⊙ M, y ⊙ M) (outside M becomes mid-grey 0). "spatial-map": Σ(D ⊙ M) / Σ M with D the
        spatial distance map; NaN for an empty mask (the caller decides whether to skip that pair).
        """
        if mask.dim() == 3:
            mask = mask[:, None]
        if mask.dim() != 4 or mask.shape[0] != x.shape[0] or mask.shape[1] != 1 or mask.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"LPIPS.masked: mask must be [B, H, W] or [B, 1, H, W] matching images "
                             f"{tuple(x.shape)}, got {tuple(mask.shape)}")
        m = mask.to(x.device, x.dtype)
        if mode == "mask-image":
            return self(x * m, y * m)
        if mode == "spatial-map":
            return masked_distance_from_map(self.spatial(x, y), m.to(self.device))
        raise ValueError(f"LPIPS.masked: mode must be 'mask-image' or 'spatial-map', got {mode!r}")

    # --- results with provenance ---------------------------------------------------------------------------
    @torch.no_grad()
    def distance(self, x: Tensor, y: Tensor, mask: Tensor | None = None, mode: MaskMode = "mask-image",
                 seed: int | None = None) -> MetricResult:
        """Mean distance over the B pairs (NaN pairs of empty masks skipped) as a ``MetricResult``."""
        d = self(x, y) if mask is None else self.masked(x, y, mask, mode)
        valid = d[~torch.isnan(d)]
        if valid.numel() == 0:
            raise ValueError("LPIPS.distance: every mask is empty; nothing to measure")
        extra = {"reason": self.provenance["reason"], "std": float(valid.std()) if valid.numel() > 1 else 0.0}
        name = "lpips" if self.backend == "lpips" else "lpips_like"
        comparable = self.provenance["comparable_to_paper"]
        if mask is not None:
            name += "_masked"
            extra["mask_mode"] = mode
            comparable = False  # the papers' masking protocol is unknown (metrics_research.md §3.1)
        return MetricResult(float(valid.mean()), name, self.provenance["backend"], self.provenance["weights_sha256"],
                            n=int(valid.numel()), seed=seed, resize=f"none ({x.shape[-2]}x{x.shape[-1]})",
                            comparable_to_paper=comparable, extra=extra)
