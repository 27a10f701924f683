"""Multi-scale PatchGAN discriminator (pix2pixHD / SPADE), shared by SMIS (GroupDNet) and BachGAN.

Both papers train with the SPADE discriminator unchanged: ``num_scales`` PatchGANs, the k-th one sees the input
average-pooled k times. Each PatchGAN returns its intermediate features as well as its logits, because the
generator's feature-matching loss compares them between real and fake.

One scale (paper defaults: ``base_channels=64``, ``num_layers=4``, 4x4 kernels, padding 2)::

    x [B, C_in, H, W]
    -> conv s2                       + LeakyReLU(0.2)   # no norm on the first layer
    -> SN conv s2 (no bias) + IN     + LeakyReLU(0.2)   # 64 -> 128
    -> SN conv s2 (no bias) + IN     + LeakyReLU(0.2)   # 128 -> 256
    -> SN conv s1 (no bias) + IN     + LeakyReLU(0.2)   # 256 -> 512 (last hidden layer has stride 1)
    -> conv s1 -> logits [B, 1, h, w]                    # one real/fake score per patch

SN = spectral norm (Miyato et al. 2018), IN = InstanceNorm without affine parameters. Widths double per layer and
are capped at ``max_channels`` (512). Between scales: ``avg_pool2d(3, stride 2, padding 1, count_include_pad=False)``.

The input is ``concat(seg, image)`` along channels: the conditional-GAN discriminator judges image *and* layout.

The losses that read this list-of-lists output (hinge, feature matching) are in ``synthkit.losses``.

Simplifications vs the official code: no option parser; the module names are ``scales.k.layers.n`` instead of
``discriminator_k.model<n>``; spectral norm uses ``torch.nn.utils.parametrizations.spectral_norm``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["PatchGAN", "MultiscaleDiscriminator", "DiscriminatorOutput"]

# Output of MultiscaleDiscriminator: one list per scale, each [feat_1, ..., feat_{n}, logits].
DiscriminatorOutput = list[list[torch.Tensor]]


class PatchGAN(nn.Module):
    """One PatchGAN scale (the official ``NLayerDiscriminator``).

    Args:
        in_channels: channels of ``concat(seg, image)``.
        base_channels: width of the first layer (``ndf``, 64 in SPADE / SMIS / BachGAN).
        num_layers: number of 4x4 conv layers before the logit conv (``n_layers_D``, 4).
        max_channels: width cap (512).
        use_spectral_norm: wrap the normalised convs in spectral norm (SPADE's ``norm_D='spectralinstance'``).
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 64,
        num_layers: int = 4,
        max_channels: int = 512,
        use_spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or base_channels < 1 or num_layers < 1:
            raise ValueError(
                f"PatchGAN needs positive in_channels, base_channels and num_layers; got "
                f"{in_channels}, {base_channels}, {num_layers}."
            )
        k, pad = 4, 2  # pad = ceil((k - 1) / 2), as in pix2pixHD
        width = base_channels
        layers: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, width, k, stride=2, padding=pad), nn.LeakyReLU(0.2))
        ]
        for n in range(1, num_layers):
            prev, width = width, min(width * 2, max_channels)
            stride = 1 if n == num_layers - 1 else 2
            # bias=False: a bias is cancelled by the InstanceNorm that follows.
            conv = nn.Conv2d(prev, width, k, stride=stride, padding=pad, bias=False)
            if use_spectral_norm:
                conv = spectral_norm(conv)
            layers.append(nn.Sequential(conv, nn.InstanceNorm2d(width, affine=False), nn.LeakyReLU(0.2)))
        layers.append(nn.Sequential(nn.Conv2d(width, 1, k, stride=1, padding=pad)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x [B, C_in, H, W] -> [feat_1, ..., feat_{num_layers}, logits [B, 1, h, w]]."""
        outputs = []
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs on an image pyramid (the official ``MultiscaleDiscriminator``, ``num_D=2``).

    Example::

        D = MultiscaleDiscriminator(in_channels=8 + 3)
        out = D(torch.cat([seg, image], dim=1))   # out[k][-1] are the logits of scale k
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 64,
        num_layers: int = 4,
        num_scales: int = 2,
        max_channels: int = 512,
        use_spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales}.")
        self.in_channels = in_channels
        self.scales = nn.ModuleList(
            PatchGAN(in_channels, base_channels, num_layers, max_channels, use_spectral_norm)
            for _ in range(num_scales)
        )

    @staticmethod
    def downsample(x: torch.Tensor) -> torch.Tensor:
        """Half resolution between scales: 3x3 average, stride 2, border pixels averaged over valid taps only."""
        return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> DiscriminatorOutput:
        """x = concat(seg, image) [B, C_in, H, W] -> per scale, [features..., logits]."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"MultiscaleDiscriminator expects [B, {self.in_channels}, H, W] (concat of seg and image), "
                f"got {tuple(x.shape)}."
            )
        results = []
        for k, scale in enumerate(self.scales):
            if k > 0:
                x = self.downsample(x)
            results.append(scale(x))
        return results


def discriminate(D: nn.Module, cond: torch.Tensor, x_fake: torch.Tensor, x_real: torch.Tensor) -> tuple[list, list]:
    """A conditional D on concat(cond, fake) and concat(cond, real) in ONE batch, as pix2pixHD / SPADE do (so batch
    statistics and the cost are shared) -> (pred_fake, pred_real), each a list per scale of lists per layer."""
    B = x_fake.shape[0]
    pred = D(torch.cat([torch.cat([cond, x_fake], 1), torch.cat([cond, x_real], 1)], 0))  # [2B, ...] per output
    return [[f[:B] for f in scale] for scale in pred], [[f[B:] for f in scale] for scale in pred]
