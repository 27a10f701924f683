"""Inference for the toy DCGAN of the training-loop tour (notebook 00): z ~ N(0, I) -> image."""
from __future__ import annotations

import numpy as np
import torch

from synthkit.models.toy import ToyGenerator
from synthkit.viz import to_uint8


@torch.no_grad()
def sample_images(model: ToyGenerator, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``n`` samples as uint8 HxWx3 arrays; the same seed gives the same images."""
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}")
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.config.z_dim, generator=generator)
    images = model.eval()(z)  # [n, 3, H, W] in [-1, 1]
    return [to_uint8(x) for x in images]
