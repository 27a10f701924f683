"""StyleGAN2 (Karras et al., CVPR 2020, arXiv 1912.04958): the generator Image2StyleGAN++ embeds images into.

Pure PyTorch on CPU and GPU: no compiled extensions (custom CUDA ops that fail to build at import are the most
common complaint of StyleGAN inversion users). Read it top to bottom: config -> equalized-lr layers -> FIR
resampling -> modulated convolution -> synthesis -> mapping -> generator -> discriminator -> training task.

Symbol table (paper -> code)::

    z ~ N(0, I)        latent [B, style_dim]                      z
    f: Z -> W          mapping network, n_mlp layers              StyleGAN2Generator.mapping
    w                  style [B, style_dim]                       w
    W+                 one w per synthesis layer [B, n_latent, style_dim]   wplus  (n_latent = 2 log2(size) - 2)
    s = A(w)           per-layer style (affine, bias 1)           ModulatedConv2d.modulation
    w'_ijk = s_i w_ijk / sqrt(sum_ik (s_i w_ijk)^2 + eps)    Eq. (1)-(3), modulation + demodulation
    B * n              per-pixel noise, learned scale             NoiseInjection (noise maps: noise[i], [B, 1, h, w])
    tRGB               skip generator: 1x1 modulated conv, no demodulation, summed over upsampled resolutions

Layer order (rosinality/stylegan2-pytorch ``Generator``, whose checkpoints most public PyTorch StyleGAN2 weights
use): const 4x4 -> conv (w_0, noise 0) -> tRGB (w_1) -> per resolution 8..size: up-conv (w_i, noise) -> conv
(w_{i+1}, noise) -> tRGB (w_{i+2}) + upsampled skip. ``noise[k]`` has resolution 2 ** ((k + 5) // 2).

Equalized learning rate (Karras et al. 2018): weights are stored as N(0, 1) / lr_mul and scaled at run time by
lr_mul / sqrt(fan_in), so every layer learns at the same speed; a checkpoint holds the raw weights.

Simplifications vs the official code: one ``upfirdn2d`` written with plain torch ops (zero insertion, padding, a
depthwise conv) instead of a CUDA kernel; leaky ReLU with its sqrt(2) gain as two torch ops instead of the fused op.

Not implemented: the official TensorFlow checkpoints (convert them to rosinality's format first), StyleGAN3,
progressive growing, lazy regularisation's exact NVIDIA schedule for path length decay (rosinality's is used).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthkit import losses
from synthkit.configs import PresetConfig
from synthkit.hub import HubMixin

NoiseMode = Literal["random", "const", "zero"]
SQRT2 = math.sqrt(2.0)


# ================================================================================================================
# Config and presets


def channel_table(size: int, channel_multiplier: int = 2, base: int = 512) -> tuple[int, ...]:
    """The official width per resolution 4, 8, ..., size: 512 up to 32, then 256 cm, 128 cm, 64 cm, 32 cm, 16 cm."""
    official = {4: base, 8: base, 16: base, 32: base, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
                256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return tuple(official[2**i] for i in range(2, int(math.log2(size)) + 1))


@dataclass(frozen=True)
class StyleGAN2Config(PresetConfig):
    """Everything that defines a StyleGAN2 and its training (rosinality's train.py defaults)."""

    image_size: int = 256  # power of two >= 8
    style_dim: int = 512  # dimension of z and w
    n_mlp: int = 8  # mapping layers
    channels: tuple[int, ...] = channel_table(256)  # width at 4, 8, ..., image_size
    lr_mlp: float = 0.01  # learning-rate multiplier of the mapping network (not stored in checkpoints)
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)  # FIR filter of every resampling
    # ---- discriminator and training ----
    d_channels: tuple[int, ...] = ()  # D width at 4, ..., image_size; () = channels
    lr_g: float = 0.002
    lr_d: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    batch_size: int = 16
    ema_decay: float | None = 0.5 ** (32 / 10_000)  # rosinality: accumulate 0.5 ** (32 / (10 * 1000))
    r1_gamma: float = 10.0  # R1 weight gamma; the penalty is gamma / 2 * R1 (lazy: every d_reg_every D steps)
    d_reg_every: int = 16
    path_weight: float = 2.0  # path-length regularisation weight (lazy: every g_reg_every G steps); 0 = off
    g_reg_every: int = 4
    path_batch_shrink: int = 2
    mixing: float = 0.9  # style-mixing probability
    dataset_length: int = 10_000  # Toyscapes training images
    seed: int = 0

    def __post_init__(self) -> None:
        n = int(math.log2(self.image_size)) if self.image_size > 0 else 0
        if self.image_size < 8 or 2**n != self.image_size:
            raise ValueError(f"image_size must be a power of two >= 8, got {self.image_size}")
        for name in ("channels", "d_channels"):
            table = getattr(self, name)
            if table and len(table) != n - 1:
                raise ValueError(f"{name} needs one width per resolution 4..{self.image_size} ({n - 1}), got {table}")
        if self.n_mlp < 1 or self.style_dim < 1:
            raise ValueError("n_mlp and style_dim must be >= 1")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.image_size))

    @property
    def n_latent(self) -> int:
        """Rows of W+: one w per style input (2 per resolution from 8 up, 2 at 4x4)."""
        return 2 * self.log_size - 2

    @property
    def num_noise(self) -> int:
        return 2 * (self.log_size - 2) + 1


PRESETS: dict[str, StyleGAN2Config] = {
    # config-f at 1024x1024 (FFHQ): 512-d z/w, 8 mapping layers, channel multiplier 2.
    "ffhq1024": StyleGAN2Config(image_size=1024, channels=channel_table(1024), batch_size=4),
    "ffhq256": StyleGAN2Config(image_size=256, channels=channel_table(256)),
    # Toyscapes 64x64 on 2 CPU cores: ~1/8 of the official widths, a short mapping network.
    "toyscapes64": StyleGAN2Config(image_size=64, style_dim=128, n_mlp=4, channels=(128, 128, 96, 64, 32),
                                   batch_size=8, dataset_length=4000,
                                   r1_gamma=0.1),  # StyleGAN2-ADA's heuristic 0.0002 * 64**2 / batch 8
    "tiny_test": StyleGAN2Config(image_size=32, style_dim=16, n_mlp=2, channels=(16, 16, 8, 8), batch_size=2,
                                 dataset_length=16, d_reg_every=2, g_reg_every=2),
}


# ================================================================================================================
# Equalized-lr layers, leaky ReLU with gain


class EqualLinear(nn.Module):
    """y = x W^T (lr_mul / sqrt(in)) + b lr_mul; with ``activation`` a leaky ReLU(0.2) times sqrt(2) follows."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x: Tensor) -> Tensor:
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(out, 0.2) * SQRT2 if self.activation else out


class EqualConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale, self.stride, self.padding = 1 / math.sqrt(in_ch * kernel**2), stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class BiasLeakyReLU(nn.Module):
    """leaky_relu(x + b, 0.2) * sqrt(2): the gain keeps the activations' variance (the official fused op)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2


# ================================================================================================================
# FIR resampling


def fir_kernel(taps: Sequence[int]) -> Tensor:
    """Separable FIR taps -> normalised 2D kernel k k^T / sum."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample by zero insertion, pad, filter with ``kernel`` (a true convolution), downsample: x [B, C, H, W].

    The reference operation of StyleGAN2's resampling, written with plain torch ops; every channel is filtered
    alone (a depthwise conv).
    """
    B, C, H, W = x.shape
    if up > 1:  # x_up[2i] = x[i], zeros in between: [B, C, H*up, W*up]
        x = F.pad(x.reshape(B, C, H, 1, W, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(B, C, H * up, W * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = torch.flip(kernel, (0, 1)).to(x).expand(C, 1, *kernel.shape)  # flip: conv2d correlates
    x = F.conv2d(x, k, groups=C)
    return x[:, :, ::down, ::down] if down > 1 else x


class Blur(nn.Module):
    def __init__(self, taps: Sequence[int], pad: tuple[int, int], gain: float = 1.0):
        super().__init__()
        self.register_buffer("kernel", fir_kernel(taps) * gain)
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """x2 upsampling of the RGB skip: zero insertion, then the FIR filter (gain 4 keeps the mean)."""

    def __init__(self, taps: Sequence[int]):
        super().__init__()
        self.register_buffer("kernel", fir_kernel(taps) * 4)
        p = len(taps) - 2
        self.pad = ((p + 1) // 2 + 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=2, pad=self.pad)


# ================================================================================================================
# Modulated convolution, noise, styled conv, tRGB


class ModulatedConv2d(nn.Module):
    """Eq. (1)-(3): scale the weights per input channel by the style s = A(w), then (optionally) demodulate.

    ``upsample``: a stride-2 transposed conv followed by the FIR blur (as the official code).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)  # s = A(w), initialised around 1
        self.scale = 1 / math.sqrt(in_ch * kernel**2)
        self.in_ch, self.out_ch, self.kernel, self.demodulate, self.upsample = in_ch, out_ch, kernel, demodulate, upsample
        if upsample:
            p = (len(blur_kernel) - 2) - (kernel - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        s = self.modulation(w)  # [B, in]
        # Run the equivalent form (below): one shared-weight conv. For a frozen G (embedding) autograd then needs
        # no gradient of the conv weights at all, only of the activations; _per_sample_weights is the reference.
        return self._modulate_activations(x, s)

    def _per_sample_weights(self, x: Tensor, s: Tensor) -> Tensor:
        """The equations as written: each sample's own weights, one grouped conv (groups = batch)."""
        B, _, H, W = x.shape
        weight = self.scale * self.weight * s.view(B, 1, -1, 1, 1)  # Eq. (1): w'_ijk = s_i w_ijk, [B, out, in, k, k]
        if self.demodulate:  # Eq. (3): w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps)
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        x = x.reshape(1, B * self.in_ch, H, W)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(B * self.in_ch, self.out_ch, self.kernel, self.kernel)
            out = F.conv_transpose2d(x, weight, stride=2, groups=B)
            return self.blur(out.reshape(B, self.out_ch, *out.shape[-2:]))
        out = F.conv2d(x, weight.reshape(B * self.out_ch, self.in_ch, self.kernel, self.kernel),
                       padding=self.kernel // 2, groups=B)
        return out.reshape(B, self.out_ch, H, W)

    def _modulate_activations(self, x: Tensor, s: Tensor) -> Tensor:
        """The same result for a batch, cheaper: conv is linear, so scaling the weights' input channels by s equals
        scaling the input activations by s, and demodulation is one factor per (sample, output channel):
            conv(x; w * s) * d = conv(x * s; w) * d,   d_j = 1 / sqrt(sum_i s_i^2 sum_k w_ijk^2 + eps)
        One ordinary conv with shared weights instead of a grouped conv with B weight copies (the official
        ``fused_modconv=False`` path)."""
        weight = self.scale * self.weight[0]  # [out, in, k, k]
        x = x * s[:, :, None, None]
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        else:
            out = F.conv2d(x, weight, padding=self.kernel // 2)
        if self.demodulate:
            demod = torch.rsqrt(s.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # [B, out]
            out = out * demod[:, :, None, None]
        return self.blur(out) if self.upsample else out  # the blur is linear: demodulating before it is the same


class NoiseInjection(nn.Module):
    """x + strength * noise, noise [B, 1, H, W] (one map per layer, broadcast over channels)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor) -> Tensor:
        return x + self.weight * noise


class StyledConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, style_dim: int, upsample: bool, blur_kernel: Sequence[int]):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = BiasLeakyReLU(out_ch)

    def forward(self, x: Tensor, w: Tensor, noise: Tensor) -> Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    """tRGB: a 1x1 modulated conv without demodulation, plus the upsampled RGB of the previous resolution."""

    def __init__(self, in_ch: int, style_dim: int, upsample: bool, blur_kernel: Sequence[int]):
        super().__init__()
        self.upsample = Upsample(blur_kernel) if upsample else None
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, w: Tensor, skip: Tensor | None = None) -> Tensor:
        rgb = self.conv(x, w) + self.bias
        return rgb if skip is None else rgb + self.upsample(skip)


# ================================================================================================================
# Generator


class StyleGAN2Generator(nn.Module, HubMixin):
    """G(z) or G.synthesis(W+): image in [-1, 1] (roughly; StyleGAN2 does not clamp).

    mapping(z [B, style_dim]) -> w [B, style_dim];  synthesis(wplus [B, n_latent, style_dim], noise) -> [B, 3, S, S].
    ``noise``: a list of ``num_noise`` maps [B or 1, 1, h_k, h_k], or "random" (fresh N(0, I)), "const" (the
    stored maps ``noise_k``, what an embedding starts from), "zero".
    """

    def __init__(self, config: StyleGAN2Config):
        super().__init__()
        self.config = cfg = config
        ch, sd, bk = cfg.channels, cfg.style_dim, cfg.blur_kernel
        self.mapping = nn.Sequential(*(EqualLinear(sd, sd, lr_mul=cfg.lr_mlp, activation=True) for _ in range(cfg.n_mlp)))
        self.const = nn.Parameter(torch.randn(1, ch[0], 4, 4))  # the learned constant input
        self.conv4 = StyledConv(ch[0], ch[0], sd, upsample=False, blur_kernel=bk)
        self.to_rgb4 = ToRGB(ch[0], sd, upsample=False, blur_kernel=bk)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for c_in, c_out in zip(ch[:-1], ch[1:]):  # resolutions 8 .. image_size
            self.convs.append(StyledConv(c_in, c_out, sd, upsample=True, blur_kernel=bk))
            self.convs.append(StyledConv(c_out, c_out, sd, upsample=False, blur_kernel=bk))
            self.to_rgbs.append(ToRGB(c_out, sd, upsample=True, blur_kernel=bk))
        for k, res in enumerate(self.noise_sizes()):
            self.register_buffer(f"noise_{k}", torch.randn(1, 1, res, res))

    def noise_sizes(self) -> list[int]:
        return [2 ** ((k + 5) // 2) for k in range(self.config.num_noise)]

    # ---- z -> w ----------------------------------------------------------------------------------------------
    def map(self, z: Tensor) -> Tensor:
        """The mapping network f: z -> w, after pixel norm z / sqrt(mean(z^2) + 1e-8)."""
        if z.ndim != 2 or z.shape[1] != self.config.style_dim:
            raise ValueError(f"z must be [B, {self.config.style_dim}], got {tuple(z.shape)}")
        return self.mapping(z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8))

    @torch.no_grad()
    def mean_w(self, n: int = 10_000, seed: int = 0) -> Tensor:
        """The mean w over ``n`` mapped z ([1, style_dim]): the truncation centre and where W+ embedding starts."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.config.style_dim, generator=g).to(self.const.device)
        return self.map(z).mean(0, keepdim=True)

    def noise_maps(self, mode: NoiseMode = "random", batch: int = 1,
                   generator: torch.Generator | None = None) -> list[Tensor]:
        """One noise map per layer: fresh N(0, I), the stored constants, or zeros."""
        dev = self.const.device
        if mode == "const":
            return [getattr(self, f"noise_{k}").expand(batch, -1, -1, -1) for k in range(self.config.num_noise)]
        if mode == "zero":
            return [torch.zeros(batch, 1, r, r, device=dev) for r in self.noise_sizes()]
        if mode == "random":
            return [torch.randn(batch, 1, r, r, generator=generator).to(dev) for r in self.noise_sizes()]
        raise ValueError(f"noise must be a list of maps or one of 'random', 'const', 'zero', got {mode!r}")

    # ---- W+ -> image -----------------------------------------------------------------------------------------
    def synthesis(self, wplus: Tensor, noise: Sequence[Tensor] | NoiseMode = "random",
                  return_features: bool = False,
                  edit: Callable[[int, Tensor], Tensor] | None = None) -> Tensor | tuple[Tensor, list[Tensor]]:
        """W+ [B, n_latent, style_dim] -> image [B, 3, S, S]; ``return_features`` also gives each resolution's
        feature map (index 0 = 4x4 .. SxS). ``edit(i, x)`` may replace the feature map of resolution i before it
        goes on (Image2StyleGAN++'s activation-tensor manipulation)."""
        cfg = self.config
        if wplus.ndim != 3 or tuple(wplus.shape[1:]) != (cfg.n_latent, cfg.style_dim):
            raise ValueError(f"wplus must be [B, {cfg.n_latent}, {cfg.style_dim}], got {tuple(wplus.shape)}; "
                             "a single w [B, style_dim] becomes W+ with w[:, None].repeat(1, n_latent, 1)")
        B = wplus.shape[0]
        noise = self.noise_maps(noise, B) if isinstance(noise, str) else list(noise)
        if len(noise) != cfg.num_noise:
            raise ValueError(f"noise needs {cfg.num_noise} maps (sizes {self.noise_sizes()}), got {len(noise)}")
        x = self.conv4(self.const.expand(B, -1, -1, -1), wplus[:, 0], noise[0])  # [B, c_4, 4, 4]
        x = edit(0, x) if edit is not None else x
        rgb = self.to_rgb4(x, wplus[:, 1])
        feats = [x]
        for i, to_rgb in enumerate(self.to_rgbs):
            x = self.convs[2 * i](x, wplus[:, 2 * i + 1], noise[2 * i + 1])  # up-conv: [B, c, 2h, 2w]
            x = self.convs[2 * i + 1](x, wplus[:, 2 * i + 2], noise[2 * i + 2])
            x = edit(i + 1, x) if edit is not None else x
            rgb = to_rgb(x, wplus[:, 2 * i + 3], rgb)  # skip: upsampled previous RGB + this resolution's
            feats.append(x)
        return (rgb, feats) if return_features else rgb

    def forward(self, z: Tensor, noise: Sequence[Tensor] | NoiseMode = "random", truncation: float = 1.0,
                w_mean: Tensor | None = None) -> Tensor:
        """z [B, style_dim] -> image; ``truncation`` psi < 1 pulls w towards ``w_mean`` (w = w_mean + psi (w - w_mean))."""
        w = self.map(z)
        if truncation != 1.0:
            w_mean = self.mean_w() if w_mean is None else w_mean
            w = w_mean + truncation * (w - w_mean)
        return self.synthesis(w[:, None].repeat(1, self.config.n_latent, 1), noise)


# ================================================================================================================
# Discriminator (rosinality's residual D with minibatch standard deviation)


class ConvLayer(nn.Sequential):
    """[blur] -> equalized conv (stride 2 when downsampling) -> [bias + leaky ReLU * sqrt(2)]."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, downsample: bool = False, activate: bool = True,
                 bias: bool = True, blur_kernel: Sequence[int] = (1, 3, 3, 1)):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
        layers.append(EqualConv2d(in_ch, out_ch, kernel, stride=2 if downsample else 1,
                                  padding=0 if downsample else kernel // 2, bias=bias and not activate))
        if activate:
            layers.append(BiasLeakyReLU(out_ch))
        super().__init__(*layers)


class DResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, blur_kernel: Sequence[int]):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, activate=False, bias=False, blur_kernel=blur_kernel)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2  # unit variance after the residual sum


class StyleGAN2Discriminator(nn.Module, HubMixin):
    """D(x): [B, 3, S, S] -> logits [B, 1]. fromRGB, residual blocks down to 4x4, minibatch stddev, conv, 2 FCs."""

    def __init__(self, config: StyleGAN2Config, stddev_group: int = 4):
        super().__init__()
        self.config = config
        ch = config.d_channels or config.channels
        self.from_rgb = ConvLayer(3, ch[-1], 1)
        self.blocks = nn.Sequential(*(DResBlock(ch[i], ch[i - 1], config.blur_kernel)
                                      for i in range(len(ch) - 1, 0, -1)))
        self.stddev_group = stddev_group
        self.final_conv = ConvLayer(ch[0] + 1, ch[0], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[0] * 16, ch[0], activation=True), EqualLinear(ch[0], 1))

    def forward(self, x: Tensor) -> Tensor:
        out = self.blocks(self.from_rgb(x))  # [B, c_4, 4, 4]
        B, C, H, W = out.shape
        g = min(B, self.stddev_group)
        if B % g:
            g = 1
        # minibatch standard deviation: one extra channel, the mean std over groups of g samples
        std = out.reshape(g, B // g, 1, C, H, W).var(0, unbiased=False).add(1e-8).sqrt().mean((2, 3, 4))  # [B/g, 1]
        std = std.reshape(B // g, 1, 1, 1).repeat(g, 1, H, W)
        out = self.final_conv(torch.cat([out, std], 1))
        return self.final_linear(out.flatten(1))


# ================================================================================================================
# Training task (synthkit.train.GANTask): non-saturating loss, lazy R1 and path-length regularisation


class StyleGAN2Task:
    """L_D = softplus(D(G(z))) + softplus(-D(x)) (+ gamma/2 R1 every d_reg_every steps, scaled by d_reg_every);
    L_G = softplus(-D(G(z))) (+ path-length penalty every g_reg_every steps); style mixing with p = mixing."""

    paper = "image2stylegan"

    def __init__(self, config: StyleGAN2Config):
        self.config = config
        self.G = StyleGAN2Generator(config)
        self.D = StyleGAN2Discriminator(config)
        self.d_steps = self.g_steps = 0
        self.mean_path_length = torch.zeros(())

    def make_dataset(self, split: str = "train") -> Any:
        from synthkit.data.toyscapes import ToyscapesDataset

        cfg = self.config
        return ToyscapesDataset(size=cfg.image_size, length=cfg.dataset_length, split=split, seed=cfg.seed)

    def _wplus(self, B: int, device: Any) -> Tensor:
        """W+ for a batch: one w per sample, or (with probability ``mixing``) two, switched at a random layer."""
        cfg = self.config
        z = torch.randn(2, B, cfg.style_dim, device=device)
        w = self.G.map(z.flatten(0, 1)).reshape(2, B, 1, cfg.style_dim).repeat(1, 1, cfg.n_latent, 1)
        if torch.rand(()) < cfg.mixing:
            cut = int(torch.randint(1, cfg.n_latent, ()))
            return torch.cat([w[0, :, :cut], w[1, :, cut:]], 1)
        return w[0]

    def d_step(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        x_real = batch["image"]
        with torch.no_grad():
            x_fake = self.G.synthesis(self._wplus(x_real.shape[0], x_real.device))
        loss = losses.d_logistic_loss(self.D(x_real), self.D(x_fake))
        logs = {"d_logistic": loss.detach()}
        self.d_steps += 1
        cfg = self.config
        if cfg.r1_gamma > 0 and self.d_steps % cfg.d_reg_every == 0:
            x = x_real.detach().requires_grad_(True)
            r1 = losses.r1_penalty(self.D(x), x)
            loss = loss + cfg.r1_gamma / 2 * r1 * cfg.d_reg_every  # lazy: the penalty of d_reg_every steps at once
            logs["r1"] = r1.detach()
        return {"loss": loss, **logs}

    def g_step(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        B, dev, cfg = batch["image"].shape[0], batch["image"].device, self.config
        loss = losses.g_nonsaturating_loss(self.D(self.G.synthesis(self._wplus(B, dev))))
        logs = {"g_nonsat": loss.detach()}
        self.g_steps += 1
        if cfg.path_weight > 0 and self.g_steps % cfg.g_reg_every == 0:
            wplus = self._wplus(max(1, B // cfg.path_batch_shrink), dev)
            image = self.G.synthesis(wplus)
            penalty, self.mean_path_length, length = losses.path_length_penalty(
                image, wplus, self.mean_path_length.to(dev))
            loss = loss + cfg.path_weight * cfg.g_reg_every * penalty
            logs["path_length"] = length.detach()
        return {"loss": loss, **logs}

    @torch.no_grad()
    def sample(self, G: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        z = torch.randn(batch["image"].shape[0], self.config.style_dim,
                        generator=torch.Generator().manual_seed(0)).to(batch["image"].device)
        return G(z, noise="const").clamp(-1, 1)


def make_task(preset: str = "toyscapes64", overrides: dict[str, Any] | None = None) -> StyleGAN2Task:
    """``synthkit train image2stylegan --preset toyscapes64``: the StyleGAN2 the embeddings run on."""
    return StyleGAN2Task(StyleGAN2Config.from_preset(preset, **dict(overrides or {})))
