"""SMIS / GroupDNet: Semantically Multi-modal Image Synthesis (Zhu et al., CVPR 2020, arXiv 2003.12697).

GroupDNet gives every semantic class its own latent code. The encoder reads each class's crop of the real image with
*grouped* convolutions (group c sees only class c), the generator starts from the stacked per-class codes with a
grouped convolution, and the number of groups shrinks block by block (8, 8, 4, 4, 2, 2, 1 for DeepFashion) so that
classes mix only in later layers. Changing class c's code therefore changes mostly the pixels of class c: this is
what makes class-wise resampling ("SMIS"), appearance mixture and style morphing plain tensor operations on axis 1
of the latent ``z [B, C, 8, h, w]``.

Symbol table (paper -> code)::

    C                 number of semantic classes              config.num_classes
    m                 one-hot label map [B, C, H, W]           seg   (+ instance-edge channel for Cityscapes)
    Z = {z_c}         per-class latent [B, C, 8, h, w]         z     (official layout: [B, 8C, h, w], class c owns
                                                                      channels [8c, 8c+8); same memory)
    G_l               groups of res-block l                    config.block_groups[l]
    E                 grouped encoder -> mu, logvar            GroupDNetEncoder
    CG-Norm           conditional group normalisation          CGNorm
      PFN(x)          parameter-free batch norm                CGNorm.param_free_norm
      gamma(m), beta(m)  grouped convs of the label map        CGNorm.mlp_shared -> mlp_gamma / mlp_beta
    lambda_FM, lambda_VGG, lambda_KL  = 10, 10, 0.05           config.lambda_feat / lambda_perceptual / lambda_kld
    D                 multi-scale PatchGAN on concat(seg, x)   synthkit.nn.MultiscaleDiscriminator

Morphing fast path: ``G.precompute_norm_params(seg)`` runs every CG-Norm's label-map branch once and returns a
``NormCache``; ``G(z, seg, norm_cache=cache)`` then runs only the code-dependent path (tested equal to the
uncached forward). For a faster eval forward on folded weights, see ``synthkit.models.groupdnet_fast``.

Layer order (official ``DeepFashionGenerator`` / ``CityscapesGenerator`` / ``ADE20KGenerator``, num_upsampling
"more"): ``fc`` (grouped 3x3 conv on the latent grid) -> head_0 -> up -> G_middle_0 -> up -> G_middle_1 -> up ->
up_0 -> up -> up_1 -> up -> up_2 -> up -> up_3 -> conv_img(LeakyReLU) -> tanh. Here the blocks are
``G.blocks[0..]`` in that order; any number of blocks is allowed (Toyscapes uses fewer).

Simplifications vs the official code:
- One generator class with group counts, widths and the CG-Norm variant as config fields, instead of three classes
  with hard-coded numbers; official sizes are presets (``deepfashion``, ``cityscapes``, ``ade20k``).
- Plain ``nn.BatchNorm2d(affine=False)`` instead of SyncBN (identical on one device).
- Spectral norm via ``torch.nn.utils.parametrizations``; converted official checkpoints have it folded into plain
  weights (``spectral_norm=False``), which gives the same eval-mode outputs.
- The per-class crops (``class_crops``) take the bounding box of the class *mask*; the official ``trans_img`` takes
  the box of the non-zero pixels of image x mask, which differs only where a masked pixel's RGB sums to exactly 0.
  Crops are resized to ``encoder_input_size`` (official: always 256x256, 256x512 for Cityscapes).
- ADE20K's ``up_4`` block is built by the official code but never called; it is not built here (the converter
  drops its keys). Its ``conv_img`` is 2*ngf wide because up_3 outputs 2*ngf, which the block table already says.
- This file is the reference: the same equations run in training and eval mode. A fast eval-only forward on
  folded weights (spectral norm applied, batch-norm statistics folded into the CG-Norm convs, the shortcut folded
  into its shift conv, in-place activations) is an opt-in in ``synthkit/models/groupdnet_fast.py``
  (``FastGroupDNet(model)``); same outputs (parity tests), less work (benchmarks/bench_smis.py).
- Training (``make_task``) uses Toyscapes and the offline ``synthkit.backbones`` network for the perceptual loss
  (official: VGG19 on ImageNet weights); the layer weights 1/32 ... 1 are SPADE's.
- Activations run in channels_last (NHWC) memory format, which oneDNN's grouped convs prefer on CPU.

Not implemented: the ``'most'`` upsampling option, the non-VAE ``fc`` on the downsampled label map, the plain
SPADE baseline generator, the multi-GPU / SyncBN machinery, learning-rate decay after ``niter`` epochs, converting
the official discriminator ``latest_net_D.pth``, mCSD / mOCD metrics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from synthkit import losses
from synthkit.configs import PresetConfig
from synthkit.hub import HubMixin
from synthkit.nn.discriminator import MultiscaleDiscriminator, discriminate

CGNormVariant = Literal["deepfashion", "cityscapes", "ade20k"]

# Activations run in channels_last (NHWC): oneDNN's grouped convs (forward and backward) are 1.5-2x faster there
# on CPU than in NCHW, with identical outputs.
MEMORY_FORMAT = torch.channels_last

LATENT_CHANNELS = 8  # per-class code: 8 channels on the start grid (paper Sec. 3, official encoder/generator)


# ================================================================================================================
# Config and presets


@dataclass(frozen=True)
class GroupDNetConfig(PresetConfig):
    """Everything that defines a GroupDNet. Official values are in ``PRESETS``; build one with ``from_preset``."""

    num_classes: int  # C: one-hot channels of seg (without the Cityscapes instance-edge channel)
    image_size: tuple[int, int]  # (H, W) of seg and of the output image
    block_channels: tuple[int, ...]  # output width of each res-block; [0] is also the width of fc's output
    block_groups: tuple[int, ...]  # G_l of each res-block (its convs and CG-Norms)
    cgnorm: CGNormVariant = "deepfashion"  # which of the three official CG-Norm designs
    cgnorm_hidden: int = 128  # hidden width of the "deepfashion" CG-Norm (hard-coded 128 in the official code)
    instance_edge: bool = False  # seg carries a last instance-edge channel, interleaved for CG-Norm (Cityscapes)
    latent_channels: int = LATENT_CHANNELS  # channels of each class's code
    # groups of the input conv fc; None = C (group c sees only class c's code). The official DeepFashionGenerator
    # hard-codes groups=8, which is C only for its own 8 classes (at another class count, groups mix classes).
    fc_groups: int | None = None
    encoder_channels: int = 64  # ndf of the encoder (official: 256 DF, 350 City, 604 ADE)
    encoder_input_size: tuple[int, int] | None = None  # size of each class crop; None = image_size
    spectral_norm: bool = True  # spectral norm on res-block convs and encoder convs (official: on)
    # ---- discriminator and training (make_task); official values from SMIS options / SPADE defaults ----
    d_base_channels: int = 64  # ndf of each PatchGAN scale
    d_layers: int = 4  # n_layers_D
    d_scales: int = 2  # num_D
    lambda_feat: float = 10.0  # feature matching
    lambda_perceptual: float = 10.0  # lambda_vgg (on the offline backbone here: see make_task)
    lambda_kld: float = 0.05  # KL, on the *sum* over all elements
    perceptual_backbone: str | None = "toyscapes"  # synthkit.backbones name; None = no perceptual loss
    lr_g: float = 1e-4  # TTUR: lr / 2 (G and E share one optimiser)
    lr_d: float = 4e-4  # TTUR: 2 lr
    betas: tuple[float, float] = (0.0, 0.9)
    batch_size: int = 8
    ema_decay: float | None = None  # the official code keeps no generator EMA
    dataset_length: int = 20000  # length of the Toyscapes training set (rendered on the fly)

    def __post_init__(self) -> None:
        C, n = self.num_classes, len(self.block_channels)
        if C < 1:
            raise ValueError(f"num_classes must be >= 1, got {C}")
        if n < 1 or len(self.block_groups) != n:
            raise ValueError(
                f"block_channels ({n}) and block_groups ({len(self.block_groups)}) need the same non-zero length"
            )
        H, W = self.image_size
        if H % 2 ** (n - 1) or W % 2 ** (n - 1):
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**(blocks-1) = {2 ** (n - 1)}")
        g_fc = self.input_groups
        if self.block_channels[0] % g_fc or (C * self.latent_channels) % g_fc:
            raise ValueError(
                f"fc: its width block_channels[0]={self.block_channels[0]} and its input C*latent_channels="
                f"{C * self.latent_channels} must be divisible by its group count {g_fc} (fc_groups; default C={C})"
            )
        fin = self.block_channels[0]
        for i, (fout, g) in enumerate(zip(self.block_channels, self.block_groups)):
            for name, width in (("input", fin), ("output", fout), ("middle", min(fin, fout))):
                if width % g:
                    raise ValueError(f"block {i}: {name} width {width} is not divisible by its group count {g}")
            if self.cgnorm == "deepfashion" and (C % g or self.cgnorm_hidden % g):
                raise ValueError(
                    f"block {i}: the 'deepfashion' CG-Norm needs C={C} and cgnorm_hidden={self.cgnorm_hidden} "
                    f"divisible by the group count {g}"
                )
            if self.cgnorm == "cityscapes" and min(fin, fout) % C:
                raise ValueError(f"block {i}: the 'cityscapes' CG-Norm needs widths divisible by C={C}")
            fin = fout
        if self.encoder_channels % C:
            raise ValueError(f"encoder_channels={self.encoder_channels} must be divisible by C={C}")
        eh, ew = self.encoder_size
        lh, lw = self.latent_size
        if eh % lh or ew % lw or eh // lh != ew // lw or not _is_power_of_two(eh // lh):
            raise ValueError(
                f"encoder_input_size {self.encoder_size} must be the latent grid {self.latent_size} times a power of 2"
            )

    @property
    def latent_size(self) -> tuple[int, int]:
        """(h, w) of the start grid: image_size / 2**(blocks-1) (4x4 for DeepFashion/ADE20K, 4x8 for Cityscapes)."""
        s = 2 ** (len(self.block_channels) - 1)
        return self.image_size[0] // s, self.image_size[1] // s

    @property
    def input_groups(self) -> int:
        """Groups of the input conv fc (``fc_groups``, or C)."""
        return self.fc_groups or self.num_classes

    @property
    def encoder_size(self) -> tuple[int, int]:
        return self.encoder_input_size or self.image_size

    @property
    def seg_channels(self) -> int:
        """Channels of the seg the generator takes (and of the label part of D's input)."""
        return self.num_classes + int(self.instance_edge)



def _is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def _official(C: int, ngf: int, image_size, groups, cgnorm, ndf, fc_width=None, first_widths=None, **kw):
    """Official width rule: fc/head 16*ngf, middle 16*ngf, then halving (ADE20K overrides the first three)."""
    widths = first_widths or (16 * ngf, 16 * ngf, 16 * ngf)
    widths = (*widths, *(w for w in (8 * ngf, 4 * ngf, 2 * ngf, ngf)))
    return GroupDNetConfig(C, image_size, widths, groups, cgnorm, encoder_channels=ndf, **kw)


PRESETS: dict[str, GroupDNetConfig] = {
    # SMIS scripts/deepfashion.sh: 8 classes, ngf 160, 256x256, groups C, C, C, C/2, C/2, C/4, C/4, C/8.
    "deepfashion": _official(8, 160, (256, 256), (8, 8, 4, 4, 2, 2, 1), "deepfashion", ndf=256),
    # scripts/cityscapes.sh: 35 classes + instance edges, ngf 280, 256x512 (4x8 grid).
    "cityscapes": _official(
        35, 280, (256, 512), (35, 35, 20, 14, 10, 4, 1), "cityscapes", ndf=350, instance_edge=True
    ),
    # scripts/ade20k.sh: 151 classes, ngf 64; head is 16*C wide, then 32, 16, 16, 8, 4, 2 x ngf.
    "ade20k": GroupDNetConfig(
        151, (256, 256), (16 * 151, 32 * 64, 16 * 64, 16 * 64, 8 * 64, 4 * 64, 2 * 64),
        (151, 16, 16, 8, 4, 2, 1), "ade20k", encoder_channels=151 * 4,
    ),
    # Toyscapes (12 classes): small enough to train on 2 CPU cores; G + E <= 10 MB in fp32.
    "toyscapes64": GroupDNetConfig(
        12, (64, 64), (192, 192, 192, 96, 48), (12, 12, 6, 6, 3), "deepfashion", cgnorm_hidden=48,
        encoder_channels=24, d_base_channels=32, d_layers=3,
    ),
    "toyscapes128": GroupDNetConfig(
        12, (128, 128), (192, 192, 192, 96, 48, 24), (12, 12, 6, 6, 3, 1), "deepfashion", cgnorm_hidden=48,
        encoder_channels=24, d_base_channels=32, d_layers=4, batch_size=4,
    ),
    # Smallest model that exercises every code path (grouped fc, shortcut blocks, group-decreasing CG-Norms).
    "tiny_test": GroupDNetConfig(
        12, (32, 32), (48, 48, 24, 12), (12, 12, 6, 3), "deepfashion", cgnorm_hidden=24, encoder_channels=12,
        d_base_channels=8, d_layers=3, batch_size=2, dataset_length=64,
    ),
}


# ================================================================================================================
# Per-class latent: layout helpers


def latent_to_official(z: torch.Tensor) -> torch.Tensor:
    """[B, C, 8, h, w] -> [B, 8C, h, w] (class c at channels [8c, 8c+8)); a view, no copy."""
    B, C, K, h, w = z.shape
    return z.reshape(B, C * K, h, w)


def latent_from_official(z: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[B, 8C, h, w] -> [B, C, 8, h, w]; a view, no copy."""
    B, CK, h, w = z.shape
    if CK % num_classes:
        raise ValueError(f"official latent has {CK} channels, not a multiple of num_classes={num_classes}")
    return z.reshape(B, num_classes, CK // num_classes, h, w)


# ================================================================================================================
# CG-Norm (paper Sec. 3.2, official GROUP_SPADE)


def _maybe_sn(conv: nn.Conv2d, use: bool) -> nn.Module:
    return _spectral_norm(conv) if use else conv


class CGNorm(nn.Module):
    """Conditional Group Normalisation.

    Eq. (CG-Norm):  y = PFN(x) * (1 + gamma(m)) + beta(m)

    PFN is a batch norm without affine parameters; gamma and beta are computed from the label map m (resized,
    nearest, to x's size) by a *grouped* two-layer conv net, so each group of output channels is modulated only
    by its own subset of classes. The three official designs differ in widths and groups:

    ============  =========  ===============================  ====================  ==============
    variant       m channels hidden                             mlp_shared groups     gamma/beta groups
    ============  =========  ===============================  ====================  ==============
    deepfashion   C          cgnorm_hidden (128)                G                     G
    cityscapes    2C         C*G                               C                     C
    ade20k        C          2C if C % G == 0 else C*G         C                     G
    ============  =========  ===============================  ====================  ==============

    (Cityscapes's m interleaves each class mask with the instance-edge map: [m_0, e, m_1, e, ...].)
    """

    def __init__(self, channels: int, num_classes: int, groups: int, variant: CGNormVariant, hidden: int = 128):
        super().__init__()
        C, G = num_classes, groups
        if variant == "deepfashion":
            seg_in, shared_groups, out_groups = C, G, G
        elif variant == "cityscapes":
            seg_in, hidden, shared_groups, out_groups = 2 * C, C * G, C, C
        elif variant == "ade20k":
            seg_in, hidden, shared_groups, out_groups = C, (2 * C if C % G == 0 else C * G), C, G
        else:
            raise ValueError(f"unknown CG-Norm variant {variant!r}; valid: deepfashion, cityscapes, ade20k")
        self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        self.mlp_shared = nn.Conv2d(seg_in, hidden, 3, padding=1, groups=shared_groups)
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1, groups=out_groups)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1, groups=out_groups)

    def modulation(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The label-map branch: m [B, C_m, h, w] at x's size -> (gamma, beta), each [B, channels, h, w].

        Depends on m only, so a morph computes it once (``GroupDNetGenerator.precompute_norm_params``).
        """
        actv = F.relu(self.mlp_shared(m))  # [B, hidden, h, w]
        return self.mlp_gamma(actv), self.mlp_beta(actv)

    def normalize(self, x: torch.Tensor, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Eq. (CG-Norm) with the label-map branch's (gamma, beta); PFN uses batch statistics in train mode and the
        running ones in eval mode."""
        gamma, beta = params
        return self.param_free_norm(x) * (1.0 + gamma) + beta

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return self.normalize(x, self.modulation(m))


# ================================================================================================================
# Group-decreasing residual block (official SPADEV2ResnetBlock)


class GroupResBlock(nn.Module):
    """Residual block whose three convs and three CG-Norms all use G groups.

    x_s = conv_s(CGN_s(x))  if fin != fout else x
    dx  = conv_0(lrelu(CGN_0(x, m)))          fin -> min(fin, fout)
    dx  = conv_1(lrelu(CGN_1(dx, m)))         -> fout
    out = x_s + dx
    """

    def __init__(self, fin: int, fout: int, groups: int, cfg: GroupDNetConfig):
        super().__init__()
        fmid = min(fin, fout)
        C, var, hid, sn = cfg.num_classes, cfg.cgnorm, cfg.cgnorm_hidden, cfg.spectral_norm
        self.learned_shortcut = fin != fout
        self.conv_0 = _maybe_sn(nn.Conv2d(fin, fmid, 3, padding=1, groups=groups), sn)
        self.conv_1 = _maybe_sn(nn.Conv2d(fmid, fout, 3, padding=1, groups=groups), sn)
        self.norm_0 = CGNorm(fin, C, groups, var, hid)
        self.norm_1 = CGNorm(fmid, C, groups, var, hid)
        if self.learned_shortcut:
            self.conv_s = _maybe_sn(nn.Conv2d(fin, fout, 1, bias=False, groups=groups), sn)
            self.norm_s = CGNorm(fin, C, groups, var, hid)

    def norms(self) -> dict[str, CGNorm]:
        names = ["norm_0", "norm_1"] + (["norm_s"] if self.learned_shortcut else [])
        return {n: getattr(self, n) for n in names}

    def modulation(self, m: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {name: norm.modulation(m) for name, norm in self.norms().items()}

    def forward(self, x: torch.Tensor, params: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """x [B, fin, h, w] -> [B, fout, h, w] with the label-map branch's ``params`` (from ``modulation``)."""
        lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        x_s = self.conv_s(self.norm_s.normalize(x, params["norm_s"])) if self.learned_shortcut else x
        dx = self.conv_0(lrelu(self.norm_0.normalize(x, params["norm_0"])))
        dx = self.conv_1(lrelu(self.norm_1.normalize(dx, params["norm_1"])))
        return x_s + dx


# ================================================================================================================
# Generator


@dataclass
class NormCache:
    """The label-map branch of every CG-Norm for one seg: per block, per norm, (gamma, beta).

    ``folded``: computed by the fast path (``groupdnet_fast``), which stores (scale, shift) instead; each path only
    takes its own. Valid only for the generator, seg and train/eval mode it was computed with (and the weights of
    that moment); its batch may be 1 and be broadcast against a batch of codes. The forward only reads it.
    """

    params: list[dict[str, tuple[torch.Tensor, torch.Tensor]]]
    training: bool
    seg_shape: tuple[int, ...] = field(default=())
    folded: bool = False


class GroupDNetGenerator(nn.Module):
    """G(z, seg): per-class codes + label map -> image in [-1, 1].

    z   [B, C, 8, h, w]   per-class latent (h, w) = config.latent_size
    seg [B, C(+1), H, W]  one-hot label map (+ instance-edge channel when config.instance_edge)
    ->  [B, 3, H, W]
    """

    def __init__(self, cfg: GroupDNetConfig):
        super().__init__()
        self.cfg = cfg
        C, K = cfg.num_classes, cfg.latent_channels
        # Grouped input conv: group c maps class c's 8 channels to its own block of block_channels[0] / C features
        # (with fc_groups = C, the default; see GroupDNetConfig.fc_groups for the official DeepFashion quirk).
        self.fc = nn.Conv2d(C * K, cfg.block_channels[0], 3, padding=1, groups=cfg.input_groups)
        fins = (cfg.block_channels[0], *cfg.block_channels[:-1])
        self.blocks = nn.ModuleList(
            GroupResBlock(fin, fout, g, cfg) for fin, fout, g in zip(fins, cfg.block_channels, cfg.block_groups)
        )
        self.conv_img = nn.Conv2d(cfg.block_channels[-1], 3, 3, padding=1)

    # ---- the label-map side ------------------------------------------------------------------------------------
    def _check_seg(self, seg: torch.Tensor) -> None:
        cfg = self.cfg
        if seg.ndim != 4 or seg.shape[1] != cfg.seg_channels or tuple(seg.shape[2:]) != tuple(cfg.image_size):
            edge = " (C one-hot channels + 1 instance-edge channel, last)" if cfg.instance_edge else ""
            raise ValueError(
                f"seg must be [B, {cfg.seg_channels}, {cfg.image_size[0]}, {cfg.image_size[1]}]{edge}, got "
                f"{tuple(seg.shape)}; build it with F.one_hot(label, {cfg.num_classes}).permute(0, 3, 1, 2).float()"
            )

    def norm_input(self, seg: torch.Tensor) -> torch.Tensor:
        """The m that CG-Norm reads: seg itself, or (Cityscapes) [m_0, e, m_1, e, ...] with e the edge map."""
        if not self.cfg.instance_edge:
            return seg
        masks, edge = seg[:, :-1], seg[:, -1:]  # [B, C, H, W], [B, 1, H, W]
        pairs = torch.stack([masks, edge.expand_as(masks)], dim=2)  # [B, C, 2, H, W]
        return pairs.flatten(1, 2)  # [B, 2C, H, W]

    def block_sizes(self) -> list[tuple[int, int]]:
        """Resolution at which each block runs: latent grid, then doubling."""
        h, w = self.cfg.latent_size
        return [(h * 2**i, w * 2**i) for i in range(len(self.blocks))]

    def resized_maps(self, seg: torch.Tensor) -> list[torch.Tensor]:
        """m at each block's resolution (nearest, from the full-size map as the official code does), each once."""
        self._check_seg(seg)
        m = self.norm_input(seg).contiguous(memory_format=MEMORY_FORMAT)
        resized: dict[tuple[int, int], torch.Tensor] = {}
        for size in self.block_sizes():
            if size not in resized:
                resized[size] = F.interpolate(m, size=size, mode="nearest")
        return [resized[size] for size in self.block_sizes()]

    def precompute_norm_params(self, seg: torch.Tensor) -> NormCache:
        """Run every CG-Norm's label-map branch once (for a fixed seg, e.g. while morphing codes)."""
        params = [block.modulation(m) for block, m in zip(self.blocks, self.resized_maps(seg))]
        return NormCache(params, self.training, tuple(seg.shape))

    # ---- the code side -----------------------------------------------------------------------------------------
    def check_inputs(self, z: torch.Tensor, seg: torch.Tensor | None, norm_cache: NormCache | None,
                     folded: bool = False) -> None:
        """Clear errors for a z of the wrong layout, a missing seg, or a cache that does not belong here."""
        cfg = self.cfg
        expected = (cfg.num_classes, cfg.latent_channels, *cfg.latent_size)
        if z.ndim != 5 or tuple(z.shape[1:]) != expected:
            hint = " (official [B, 8C, h, w] codes: use latent_from_official)" if z.ndim == 4 else ""
            raise ValueError(f"z must be [B, {', '.join(map(str, expected))}], got {tuple(z.shape)}{hint}")
        if norm_cache is None:
            if seg is None:
                raise ValueError("pass seg, or a norm_cache from precompute_norm_params(seg)")
        elif norm_cache.training != self.training:
            raise ValueError("norm_cache was computed in another train/eval mode; recompute it after .train()/.eval()")
        elif norm_cache.folded != folded:
            raise ValueError("norm_cache was computed by the other forward (plain vs FastGroupDNet); recompute it "
                             "with the precompute_norm_params of the generator you call")
        elif len(norm_cache.params) != len(self.blocks):
            raise ValueError("norm_cache was computed by a different generator")
        elif seg is not None and tuple(seg.shape[1:]) != tuple(norm_cache.seg_shape[1:]):
            raise ValueError(f"seg {tuple(seg.shape)} does not match the seg of norm_cache {norm_cache.seg_shape}")

    def forward(
        self, z: torch.Tensor, seg: torch.Tensor | None = None, norm_cache: NormCache | None = None
    ) -> torch.Tensor:
        self.check_inputs(z, seg, norm_cache)
        params = norm_cache.params if norm_cache is not None else self.precompute_norm_params(seg).params
        x = self.fc(latent_to_official(z).contiguous(memory_format=MEMORY_FORMAT))  # [B, block_channels[0], h, w]
        for i, (block, p) in enumerate(zip(self.blocks, params)):
            if i > 0:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # [B, c, 2h, 2w]
            x = block(x, p)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2))).contiguous()  # [B, 3, H, W]


# ================================================================================================================
# Encoder (official ConvEncoder + SmisModel.trans_img)


def class_crops(image: torch.Tensor, seg: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Per-class crops that the encoder reads: [B, 3, H, W], [B, C, H, W] -> [B, 3C, *size].

    For each class c: image * m_c, cropped to the bounding box of m_c, resized (nearest) to ``size``.
    An absent class gives zeros. Channels [3c, 3c+3) belong to class c.

    One gather for all samples and classes, computed where ``seg`` is: no per-class loop and no host round trip
    (the boxes stay tensors), so a training step on a GPU does not wait on B x C synchronisations. The source
    pixels are those of ``F.interpolate(crop, size, mode="nearest")`` (tests/test_groupdnet.py compares them).
    """
    B, C, H, W = seg.shape
    h_out, w_out = size
    present = seg != 0
    y0, y1 = _extent(present.any(dim=3))  # [B, C] first row, last row + 1 (0, H for an absent class)
    x0, x1 = _extent(present.any(dim=2))
    ys = _nearest_source(y0, y1, h_out)  # [B, C, h_out] source rows
    xs = _nearest_source(x0, x1, w_out)
    index = (ys[..., :, None] * W + xs[..., None, :]).flatten(2)  # [B, C, h_out * w_out] flat source pixels
    pixels = image.flatten(2)[:, None].expand(B, C, image.shape[1], H * W)
    crops = pixels.gather(3, index[:, :, None].expand(B, C, image.shape[1], h_out * w_out))
    crops = crops * seg.flatten(2).gather(2, index)[:, :, None]  # image * m_c at the source pixel
    return crops.reshape(B, C * image.shape[1], h_out, w_out)


def _extent(any_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[..., L] bool -> (first True, last True + 1), each [...]; (0, L) where there is none."""
    n = any_.shape[-1]
    hits = any_.to(torch.uint8)
    return hits.argmax(-1), n - hits.flip(-1).argmax(-1)  # argmax gives the first maximum


def _nearest_source(lo: torch.Tensor, hi: torch.Tensor, out: int) -> torch.Tensor:
    """Source indices of a nearest resize of [lo, hi) to ``out`` samples, as ATen computes them: the scale
    in / out in float32, floor(i * scale), clamped to in - 1."""
    n = hi - lo
    scale = n.float() / out
    i = torch.arange(out, device=lo.device, dtype=torch.float32)
    src = torch.floor(i * scale[..., None]).long()
    return lo[..., None] + torch.minimum(src, (n - 1).clamp(min=0)[..., None])


class GroupDNetEncoder(nn.Module):
    """E: class crops [B, 3C, He, We] -> (mu, logvar), each [B, C, 8, h, w].

    Stride-2 3x3 convs, all with groups=C so class c's crop only reaches class c's code; widths ndf, 2, 4, 8, 8,
    8 x ndf; each conv has spectral norm and InstanceNorm (no bias: the norm cancels it) and a LeakyReLU(0.2).
    fc_mu / fc_var are grouped 3x3 convs to 8C channels.
    """

    def __init__(self, cfg: GroupDNetConfig):
        super().__init__()
        self.cfg = cfg
        C, ndf = cfg.num_classes, cfg.encoder_channels
        num_layers = int(math.log2(cfg.encoder_size[0] // cfg.latent_size[0]))
        widths = [3 * C] + [ndf * min(2**i, 8) for i in range(num_layers)]
        self.layers = nn.ModuleList(
            nn.Sequential(
                _maybe_sn(nn.Conv2d(fin, fout, 3, stride=2, padding=1, groups=C, bias=False), cfg.spectral_norm),
                nn.InstanceNorm2d(fout, affine=False),
            )
            for fin, fout in zip(widths[:-1], widths[1:])
        )
        self.fc_mu = nn.Conv2d(widths[-1], cfg.latent_channels * C, 3, padding=1, groups=C)
        self.fc_var = nn.Conv2d(widths[-1], cfg.latent_channels * C, 3, padding=1, groups=C)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        expected = (3 * cfg.num_classes, *cfg.encoder_size)
        if crops.ndim != 4 or tuple(crops.shape[1:]) != expected:
            raise ValueError(
                f"encoder input must be class crops [B, {', '.join(map(str, expected))}] (see class_crops), "
                f"got {tuple(crops.shape)}"
            )
        x = crops
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)  # [B, w, H/2, W/2]
        C = cfg.num_classes
        mu = latent_from_official(self.fc_mu(x), C)  # [B, C, 8, h, w]
        logvar = latent_from_official(self.fc_var(x), C)
        return mu, logvar

    def encode(self, image: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real image [B, 3, H, W] in [-1, 1] and seg [B, C(+1), H, W] -> (mu, logvar)."""
        masks = seg[:, : self.cfg.num_classes]  # the instance-edge channel has no crop
        return self(class_crops(image, masks, self.cfg.encoder_size))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + eps * exp(logvar / 2), eps ~ N(0, I) (VAE reparameterisation trick)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * torch.exp(0.5 * logvar)


# ================================================================================================================
# The saved model: generator + (optional) encoder


class GroupDNet(nn.Module, HubMixin):
    """What a synthkit SMIS folder holds: ``G`` (GroupDNetGenerator) and, when ``with_encoder``, ``E``.

    Example::

        model = GroupDNet(GroupDNetConfig.from_preset("toyscapes64")).eval()
        z = model.sample_latent(1)                    # [1, C, 8, 4, 4]
        z[:, 3] = torch.randn_like(z[:, 3])           # resample class 3 only
        image = model.generate(z, seg)
    """

    def __init__(self, config: GroupDNetConfig, with_encoder: bool = True):
        super().__init__()
        self.config = config
        self.with_encoder = with_encoder
        self.G = GroupDNetGenerator(config)
        self.E = GroupDNetEncoder(config) if with_encoder else None

    def sample_latent(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I) in the per-class layout [B, C, 8, h, w] (the official test-time prior)."""
        cfg = self.config
        shape = (batch_size, cfg.num_classes, cfg.latent_channels, *cfg.latent_size)
        return torch.randn(shape, generator=generator, device=self.G.fc.weight.device)

    def generate(self, z: torch.Tensor, seg: torch.Tensor | None = None, norm_cache: NormCache | None = None):
        return self.G(z, seg, norm_cache=norm_cache)

    def precompute_norm_params(self, seg: torch.Tensor) -> NormCache:
        return self.G.precompute_norm_params(seg)

    def encode(self, image: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.E is None:
            raise ValueError("this GroupDNet was built without an encoder (with_encoder=False); convert or train one")
        return self.E.encode(image, seg)

    def forward(self, z: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        return self.G(z, seg)


# ================================================================================================================
# Training task (synthkit.train.GANTask): E encodes the real image per class, G redraws it, D judges (seg, image)

# SPADE VGGLoss weights for five perceptual layers, shallow to deep (relu1_1 ... relu5_1).


class GroupDNetTask:
    """The SMIS training step on Toyscapes (contract: ``synthkit.train.GANTask``).

    L_G = hinge_G + lambda_feat * L_FM + lambda_perceptual * L_perc + lambda_kld * KL_sum     (G and E)
    L_D = hinge_D(D(seg, x_real), D(seg, x_fake))

    Adam with TTUR, betas (0, 0.9), lr_G 1e-4, lr_D 4e-4; no EMA (the official code keeps none).
    """

    paper = "smis"

    def __init__(self, config: GroupDNetConfig):
        self.config = config
        self.G = GroupDNetGenerator(config)
        self.E = GroupDNetEncoder(config)
        self.D = MultiscaleDiscriminator(
            config.seg_channels + 3, config.d_base_channels, config.d_layers, config.d_scales
        )
        self._backbone: Any = None

    @property
    def backbone(self):
        """The frozen perceptual backbone, loaded on first use (None when the term is off); missing weights are a
        clear error (``synthkit.backbones.load_perceptual_backbone``, the policy of every paper)."""
        cfg = self.config
        if self._backbone is None and cfg.perceptual_backbone and cfg.lambda_perceptual > 0:
            from synthkit.backbones import load_perceptual_backbone

            self._backbone = load_perceptual_backbone(cfg.perceptual_backbone, cfg.lambda_perceptual, "GroupDNet")
        return self._backbone

    def make_dataset(self, split: str = "train"):
        from synthkit.data.toyscapes import NUM_CLASSES, ToyscapesDataset

        cfg = self.config
        if cfg.num_classes != NUM_CLASSES or cfg.instance_edge or cfg.image_size[0] != cfg.image_size[1]:
            raise ValueError(
                f"training data: only Toyscapes ({NUM_CLASSES} classes, square images) is built in; this config has "
                f"{cfg.num_classes} classes at {cfg.image_size}. Use --preset toyscapes64, toyscapes128 or tiny_test."
            )
        return ToyscapesDataset(size=cfg.image_size[0], length=cfg.dataset_length, split=split)

    def _encode_and_generate(self, seg: torch.Tensor, x_real: torch.Tensor):
        crops = class_crops(x_real, seg[:, : self.config.num_classes], self.config.encoder_size)
        mu, logvar = self.E(crops)  # [B, C, 8, h, w] each
        z = reparameterize(mu, logvar)
        return self.G(z, seg), mu, logvar

    def d_step(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        seg, x_real = batch["seg"], batch["image"]
        with torch.no_grad():
            x_fake, _, _ = self._encode_and_generate(seg, x_real)
        pred_fake, pred_real = discriminate(self.D, seg, x_fake, x_real)
        loss = losses.d_hinge_loss(pred_real, pred_fake)
        return {"loss": loss, "d_hinge": loss.detach()}

    def g_step(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        cfg, seg, x_real = self.config, batch["seg"], batch["image"]
        x_fake, mu, logvar = self._encode_and_generate(seg, x_real)
        pred_fake, pred_real = discriminate(self.D, seg, x_fake, x_real)
        terms = {
            "g_hinge": losses.g_hinge_loss(pred_fake),
            "feat": cfg.lambda_feat * losses.feature_matching_loss(pred_fake, pred_real),
            "kld": cfg.lambda_kld * losses.kl_divergence(mu, logvar, reduction="sum"),
        }
        backbone = self.backbone
        if backbone is not None:
            backbone.to(x_fake.device)
            # layer weights 1/32 ... 1 of SPADE (losses.SPADE_PERCEPTUAL_WEIGHTS)
            terms["perceptual"] = cfg.lambda_perceptual * losses.backbone_perceptual_loss(backbone, x_fake, x_real)
        total = sum(terms.values())
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    @torch.no_grad()
    def sample(self, G: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Codes from the prior N(0, I) for the batch's label maps (the official test-time sampling)."""
        cfg, seg = self.config, batch["seg"]
        z = torch.randn(seg.shape[0], cfg.num_classes, cfg.latent_channels, *cfg.latent_size, device=seg.device)
        return G(z, seg)

    def export_model(self, G: nn.Module) -> GroupDNet:
        """The saved folder holds G and E together (``GroupDNet``)."""
        model = GroupDNet(self.config, with_encoder=True)
        model.G.load_state_dict(getattr(G, "module", G).state_dict())
        model.E.load_state_dict(getattr(self.E, "module", self.E).state_dict())
        return model.eval()


def make_task(preset: str = "toyscapes64", overrides: dict[str, Any] | None = None) -> GroupDNetTask:
    """``synthkit train smis --preset toyscapes64 --set lr_g=1e-4``: the task for the training loop."""
    return GroupDNetTask(GroupDNetConfig.from_preset(preset, **dict(overrides or {})))
