"""Reconstruction quality: PSNR, optionally inside a mask (an embedding's fidelity, an inpainting's hole)."""
from __future__ import annotations

import math

from torch import Tensor


def psnr(x: Tensor, y: Tensor, mask: Tensor | None = None, data_range: float = 2.0) -> float:
    """PSNR in dB of images in [-1, 1] (``data_range`` 2): 10 log10(range^2 / MSE), the MSE over the pixels where
    ``mask`` [B or 1, 1, H, W] is 1 (all pixels without a mask). Identical images give inf."""
    if x.shape != y.shape:
        raise ValueError(f"psnr: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
    err = (x.float() - y.float()).pow(2)
    if mask is None:
        mse = err.mean()
    else:
        m = mask.float().expand_as(err[:, :1]).expand_as(err)
        if m.sum() == 0:
            raise ValueError("psnr: the mask is empty")
        mse = (err * m).sum() / m.sum()
    return math.inf if mse.item() == 0 else 10 * math.log10(data_range**2 / mse.item())
