"""Tests of the SMIS / GroupDNet model (synthkit.models.groupdnet) and the shared multi-scale PatchGAN."""
from __future__ import annotations

import pytest
import torch

from synthkit.nn.discriminator import MultiscaleDiscriminator, PatchGAN

# ----------------------------------------------------------------------------------------------------------------
# Multi-scale PatchGAN (synthkit/nn/discriminator.py)


def test_discriminator_output_layout_and_shapes():
    D = MultiscaleDiscriminator(in_channels=11, base_channels=8, num_layers=4, num_scales=2)
    out = D(torch.randn(2, 11, 64, 64))
    assert len(out) == 2
    # 4 hidden layers + logits per scale; widths 8, 16, 32, 64 then 1
    assert [t.shape[1] for t in out[0]] == [8, 16, 32, 64, 1]
    # k=4, pad=2: s2 gives floor(H/2)+1, the two s1 convs add +1 each
    assert out[0][0].shape[-1] == 33 and out[0][-1].shape[-1] == 11
    # second scale sees the input average-pooled to 32x32
    assert out[1][0].shape[-1] == 17


def test_discriminator_paper_size_parameter_count_matches_official():
    # SMIS DeepFashion D: input 8 labels + 3 RGB, ndf 64, n_layers_D 4, num_D 2 -> 5.54M parameters (doc section A1).
    D = MultiscaleDiscriminator(in_channels=11)
    assert sum(p.numel() for p in D.parameters()) == 5_544_066


def test_discriminator_spectral_norm_bounds_sigma():
    torch.manual_seed(0)
    patch = PatchGAN(3, base_channels=4, num_layers=3)
    conv = patch.layers[1][0]
    for _ in range(30):  # power iterations run in train mode
        conv.weight
    w = conv.weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_discriminator_backward_and_second_scale_downsample():
    D = MultiscaleDiscriminator(in_channels=5, base_channels=4, num_layers=3)
    x = torch.randn(1, 5, 32, 32, requires_grad=True)
    out = D(x)
    sum(o[-1].mean() for o in out).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    pooled = MultiscaleDiscriminator.downsample(torch.ones(1, 1, 8, 8))
    assert pooled.shape[-1] == 4 and torch.allclose(pooled, torch.ones_like(pooled))  # count_include_pad=False


def test_discriminator_rejects_wrong_channels():
    D = MultiscaleDiscriminator(in_channels=11, base_channels=4)
    with pytest.raises(ValueError, match="concat of seg and image"):
        D(torch.randn(1, 10, 32, 32))
