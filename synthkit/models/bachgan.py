"""BachGAN: an image from a few boxes, with retrieved backgrounds fused in (Li et al., CVPR 2020, arXiv 2003.11690).

The user gives only the *salient objects* as boxes ``(class_id, x0, y0, x1, y1)``. BachGAN

1. rasterises the boxes into a multi-hot **box layout** ``L`` (one channel per class, channel 0 = "no box");
2. **retrieves** K = 3 full segmentation maps from a memory of training layouts, the ones whose class masks overlap
   the boxes best (``synthkit.retrieval``), zeroes them inside the boxes and pastes the boxes in;
3. **fuses** them with the layout into a soft layout ``S`` (the background fusion module);
4. runs a **SPADE generator** with ``S`` in place of a label map, and judges ``concat(L, image)`` with the
   multi-scale PatchGAN of SPADE.

Symbols (paper / official code -> here):

===========================  ==========================  ============================================
paper / official             here                        shape / note
===========================  ==========================  ============================================
L, ``input``                 ``box_layout``              [B, C, H, W] multi-hot, C = ``num_classes``
M_1..M_K, ``retrival_...``   ``retrieved``               [B, K, C, H, W] (or [B, K*C, H, W])
``encode_shared``            ``fusion.encode_shared``    3x3 conv C->C + ReLU, shared by all K+1 maps
a_0, a_1..a_K                ``a[:, 0]``, ``a[:, 1:]``   [B, C, H, W] each
m_0 = a_0 + mean_k a_k       ``m0``                      [B, C, H, W]
``memory_shared``            ``fusion.memory_shared``    3x3 conv C->C + ReLU
S = m_1 + a_0                ``fused``                   [B, C, H, W], the "label map" of every SPADE
SPADE(x, S)                  ``SPADE``                   BN(x) * (1 + gamma(S)) + beta(S)
ngf                          ``base_channels``           64 in the paper
nhidden                      ``spade_hidden``            128 in the paper (hard-coded there)
``conv_seg`` + LogSoftmax    ``seg_logprob``             [B, C, H, W], auxiliary head (``--seg``)
===========================  ==========================  ============================================

Channel 0 of the box layout means "no box". As in the official ADE20K setting (where it is also "wall"), it is a
real class in the retrieved maps of Toyscapes (``sky``); boxes are only ever drawn for thing classes.

Training (``make_task``): hinge GAN + 10 x feature matching + 10 x perceptual (VGG19 for the official presets, the
offline Toyscapes backbone for ``toyscapes``), Adam (0, 0.9) with lr_G 1e-4 / lr_D 4e-4; the discriminator sees
``concat(L, image)``; retrieval skips the training scene itself.

Simplifications vs the official code:

- No option parser: a frozen ``BachGANConfig`` with presets. Spectral norm uses
  ``torch.nn.utils.parametrizations.spectral_norm`` (``G.fold_spectral_norm()`` bakes W / sigma in for inference);
  SyncBatchNorm is a plain ``BatchNorm2d(affine=False)`` (same keys, same eval maths).
- Retrieval is live (``synthkit.retrieval``) instead of precomputed pickles; it is scored on label maps stored at a
  reduced grid (32x32 by default).
- The official code fills "no box" (channel 0) as a side effect of scattering after every box: channel 0 ends up on
  outside the *first* box only, and the layout of an image with no box is all zero. ``rasterize_boxes`` marks the
  pixels covered by *no* box by default (``no_box="uncovered"``); ``no_box="official"`` reproduces the quirk.
- The FCN fusion leftovers of the official generator (``conv1_1``, ``conv1_1_memory``, ``conv1_2``, ``conv2_1``,
  ``conv2_2``, ``upscore``) are never used by its forward pass, so they are not built; the converter drops them.
- The generator resizes the fused layout once per resolution and shares it between the SPADE layers of that
  resolution (the official code resizes it in every SPADE layer; the result is the same).

Not implemented: the other modes of the official repository (``--box``, ``--retrival``, ``--dual``,
``--dual_segspade``, ``--box_unpair``), the VAE encoder path (``use_vae``), SyncBatchNorm across GPUs, and the
Cityscapes / ADE20K data loaders (box extraction from instance maps / ``objectSplit35-115.mat``); the official
presets therefore have no ``make_dataset`` data (use them for converted weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from synthkit.configs import PresetConfig
from synthkit.data.boxes import valid_boxes
from synthkit.data.folders import CITYSCAPES_THINGS  # the Cityscapes classes that get boxes
from synthkit.data.toyscapes import NUM_CLASSES as TOYSCAPES_CLASSES
from synthkit.data.toyscapes import THING_IDS as TOYSCAPES_THINGS
from synthkit.hub import HubMixin
from synthkit.nn.discriminator import MultiscaleDiscriminator, discriminate

__all__ = [
    "BachGANConfig",
    "PRESETS",
    "valid_boxes",
    "rasterize_boxes",
    "rasterize_box_batch",
    "SPADE",
    "SPADEResBlock",
    "BackgroundFusion",
    "BachGANGenerator",
    "build_discriminator",
    "d_loss",
    "g_loss",
    "seg_nll_loss",
    "BachGANToyscapes",
    "BachGANTask",
    "build_memory",
    "make_task",
]

UpsamplingMode = Literal["normal", "more", "most"]
NoBoxMode = Literal["uncovered", "official"]
_NUM_UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}



# ----------------------------------------------------------------------------------------------------------------
# Config and presets
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BachGANConfig(PresetConfig):
    """Everything that defines a BachGAN model and its training; paper defaults, each with its source."""

    num_classes: int = 35  # semantic_nc: Cityscapes 35 (--no_instance), ADE20K 150 + dontcare = 151
    height: int = 256  # Cityscapes is trained at 512x256 (BG:data/cityscapes_dataset.py, aspect_ratio 2)
    width: int = 512
    base_channels: int = 64  # ngf
    num_upsampling_layers: UpsamplingMode = "more"  # Cityscapes: 'more' (start grid 4x8), ADE20K: 'normal'
    spade_hidden: int = 128  # nhidden in SPADE, hard-coded
    spade_kernel: int = 3  # 'spadesyncbatch3x3'
    num_retrieved: int = 3  # K: the first 3 of the top-6 retrievals are kept
    use_retrieval: bool = True  # False = the paper's ablation: the fusion module sees only the box layout
    thing_classes: tuple[int, ...] = CITYSCAPES_THINGS  # classes that can be drawn as boxes
    # discriminator (SPADE defaults: num_D 2, n_layers_D 4, ndf 64)
    d_base_channels: int = 64
    d_layers: int = 4
    d_scales: int = 2
    # losses: hinge + lambda_feat * FM + lambda_perceptual * perceptual (+ lambda_seg * NLL with --seg); no KL
    lambda_feat: float = 10.0
    lambda_perceptual: float = 10.0  # lambda_vgg in the official options
    lambda_seg: float = 0.0
    perceptual_backbone: str | None = "vgg19"  # None: no perceptual term
    # optimiser (SPADE TTUR defaults: base lr 2e-4, beta = (0, 0.9))
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.9)
    batch_size: int = 6  # run_scripts.txt, Cityscapes, 2 GPUs
    # training data (Toyscapes presets only) and its retrieval memory
    dataset_length: int = 0
    index_size: int = 32  # retrieval grid (synthkit.retrieval)
    index_path: str | None = None  # a prebuilt memory (`synthkit bachgan build-index`); built in memory if None
    seed: int = 0

    def __post_init__(self) -> None:
        # JSON round trips (config.json) turn tuples into lists; keep the dataclass hashable and immutable.
        object.__setattr__(self, "thing_classes", tuple(int(c) for c in self.thing_classes))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.num_upsampling_layers not in _NUM_UPSAMPLINGS:
            raise ValueError(
                f"num_upsampling_layers must be one of {sorted(_NUM_UPSAMPLINGS)}, got {self.num_upsampling_layers!r}"
            )
        n = _NUM_UPSAMPLINGS[self.num_upsampling_layers]
        if self.height % 2**n or self.width % 2**n:
            raise ValueError(
                f"height and width must be divisible by 2**{n} = {2**n} with num_upsampling_layers="
                f"{self.num_upsampling_layers!r}; got {self.height}x{self.width}"
            )
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (channel 0 is 'no box'), got {self.num_classes}")
        bad = [c for c in self.thing_classes if not 1 <= c < self.num_classes]
        if bad:
            raise ValueError(f"thing_classes {bad} are outside 1..{self.num_classes - 1} (0 is the no-box channel)")
        if self.num_retrieved < 1:
            raise ValueError(f"num_retrieved must be >= 1, got {self.num_retrieved}")

    @property
    def start_size(self) -> tuple[int, int]:
        """(sh, sw): the grid the generator starts from, ``H / 2**n`` by ``W / 2**n``."""
        n = _NUM_UPSAMPLINGS[self.num_upsampling_layers]
        return self.height // 2**n, self.width // 2**n


PRESETS: dict[str, BachGANConfig] = {
    # Official sizes (BG:options, data/*_dataset.py). G: 98.3M params (City), 102.2M (ADE) with the dead FCN modules.
    "cityscapes": BachGANConfig(),
    "ade20k": BachGANConfig(
        num_classes=151,
        height=256,
        width=256,
        num_upsampling_layers="normal",
        # object classes come from objectSplit35-115.mat (115 of 150); pass them as thing_classes when known
        thing_classes=tuple(range(1, 151)),
        batch_size=16,
    ),
    # Toyscapes (synthkit.data.toyscapes): 12 classes at 64x64, small enough to train on 2 CPU cores in ~35 min
    # and to ship (<= 10 MB fp32).
    "toyscapes": BachGANConfig(
        num_classes=TOYSCAPES_CLASSES,
        height=64,
        width=64,
        base_channels=8,
        num_upsampling_layers="normal",
        spade_hidden=32,
        thing_classes=tuple(sorted(TOYSCAPES_THINGS)),  # tree, building, car
        d_base_channels=32,
        d_layers=3,
        lambda_perceptual=10.0,
        perceptual_backbone="toyscapes",
        lr_g=1e-4,
        lr_d=4e-4,
        batch_size=8,
        dataset_length=4000,
        index_size=32,
    ),
    # A few-kB model for the CPU smoke tests, on 32x32 Toyscapes (12 classes).
    "tiny_test": BachGANConfig(
        num_classes=12,
        height=32,
        width=32,
        base_channels=2,
        num_upsampling_layers="normal",
        spade_hidden=8,
        thing_classes=(9, 10, 11),
        d_base_channels=8,
        d_layers=2,
        d_scales=2,
        lambda_perceptual=0.0,
        perceptual_backbone=None,
        lambda_seg=1.0,
        batch_size=2,
        dataset_length=16,
        index_size=16,
    ),
}


# ----------------------------------------------------------------------------------------------------------------
# Boxes -> box layout
# ----------------------------------------------------------------------------------------------------------------
def rasterize_boxes(
    boxes: Any, num_classes: int, height: int, width: int, no_box: NoBoxMode = "uncovered"
) -> Tensor:
    """Boxes -> multi-hot box layout ``L`` [C, H, W] (float 0/1), as BachGAN's data loaders build it.

    ``L[c, y, x] = 1`` iff some box of class c covers pixel (x, y): overlapping boxes switch several channels on.
    Channel 0 is "no box": with ``no_box="uncovered"`` it is on where no box is; ``"official"`` reproduces the
    official code (on outside the first valid box, all zero when there is no box; see the module docstring).
    """
    if no_box not in ("uncovered", "official"):
        raise ValueError(f"no_box must be 'uncovered' or 'official', got {no_box!r}")
    layout = torch.zeros(num_classes, height, width)
    kept = valid_boxes(boxes, num_classes, height, width)
    covered = torch.zeros(height, width, dtype=torch.bool)
    for c, x0, y0, x1, y1 in kept:
        layout[c, y0:y1, x0:x1] = 1.0
        covered[y0:y1, x0:x1] = True
    if no_box == "uncovered":
        layout[0] = (~covered).float()
    elif kept:
        _, x0, y0, x1, y1 = kept[0]
        layout[0] = 1.0
        layout[0, y0:y1, x0:x1] = 0.0
    return layout


def rasterize_box_batch(
    boxes: Tensor | Sequence[Any], num_classes: int, height: int, width: int, no_box: NoBoxMode = "uncovered"
) -> Tensor:
    """A batch of box lists ([B, N, 5] padded with -1, or a list of B box lists) -> [B, C, H, W]."""
    return torch.stack([rasterize_boxes(b, num_classes, height, width, no_box) for b in boxes])


# ----------------------------------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------------------------------
class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. 2019), driven here by the fused layout S.

    out = BN(x) * (1 + gamma(S)) + beta(S),   gamma, beta = conv(ReLU(conv(S)))

    BN is parameter-free (batch statistics in training, running statistics in eval). ``seg`` must already be at
    x's resolution (the generator resizes S once per resolution, nearest).
    """

    def __init__(self, channels: int, label_channels: int, hidden: int = 128, kernel: int = 3) -> None:
        super().__init__()
        pad = kernel // 2
        self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, kernel, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, kernel, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, channels, kernel, padding=pad)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        actv = self.mlp_shared(seg)  # [B, hidden, h, w]
        # SPADE: y = BN(x) * (1 + gamma(S)) + beta(S)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResBlock(nn.Module):
    """SPADE ResNet block: x_s + conv_1(lrelu(SPADE_1(conv_0(lrelu(SPADE_0(x, S))), S))).

    The shortcut is learned (SPADE_s, then a 1x1 conv without bias) when the width changes. Convs carry
    spectral norm (``norm_G='spectralspadesyncbatch3x3'``).
    """

    def __init__(self, in_channels: int, out_channels: int, label_channels: int, hidden: int, kernel: int) -> None:
        super().__init__()
        middle = min(in_channels, out_channels)
        self.learned_shortcut = in_channels != out_channels
        self.conv_0 = spectral_norm(nn.Conv2d(in_channels, middle, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(middle, out_channels, 3, padding=1))
        self.norm_0 = SPADE(in_channels, label_channels, hidden, kernel)
        self.norm_1 = SPADE(middle, label_channels, hidden, kernel)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(in_channels, out_channels, 1, bias=False))
            self.norm_s = SPADE(in_channels, label_channels, hidden, kernel)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class BackgroundFusion(nn.Module):
    """The background fusion module: box layout L and K retrieved maps M_k -> fused layout S.

    a_k = ReLU(conv_enc(X_k)) for X_0 = L, X_k = M_k (one shared encoder)
    m_0 = a_0 + 1/K sum_k a_k,   m_1 = ReLU(conv_mem(m_0)),   S = m_1 + a_0

    Without retrieval (``use_retrieval=False``, the paper's ablation) m_0 = a_0.
    """

    def __init__(self, num_classes: int, use_retrieval: bool = True) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.use_retrieval = use_retrieval
        self.encode_shared = nn.Sequential(nn.Conv2d(num_classes, num_classes, 3, padding=1), nn.ReLU())
        self.memory_shared = nn.Sequential(nn.Conv2d(num_classes, num_classes, 3, padding=1), nn.ReLU())

    def forward(self, box_layout: Tensor, retrieved: Tensor | None = None) -> Tensor:
        B = box_layout.shape[0]
        if not self.use_retrieval:
            if retrieved is not None:
                raise ValueError("this model was built with use_retrieval=False; call fuse(box_layout) without maps")
            a0 = self.encode_shared(box_layout)  # [B, C, H, W]
            m0 = a0
        else:
            if retrieved is None:
                raise ValueError("this model fuses retrieved maps: pass retrieved [B, K, C, H, W] (synthkit.retrieval)")
            if retrieved.ndim == 4:  # [B, K*C, H, W], the official concatenation
                retrieved = rearrange(retrieved, "b (k c) h w -> b k c h w", c=self.num_classes)
            layouts = torch.cat([box_layout[:, None], retrieved], dim=1)  # [B, 1+K, C, H, W]
            a = self.encode_shared(rearrange(layouts, "b k c h w -> (b k) c h w"))  # one shared encoder
            a = rearrange(a, "(b k) c h w -> b k c h w", b=B)
            a0 = a[:, 0]
            m0 = a0 + a[:, 1:].mean(dim=1)  # m_0 = a_0 + mean_k a_k
        m1 = self.memory_shared(m0)
        return m1 + a0  # S = m_1 + a_0, [B, C, H, W]


# ----------------------------------------------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------------------------------------------
class BachGANGenerator(nn.Module, HubMixin):
    """Boxes (+ retrieved maps) -> image. ``fuse`` builds S; ``decode`` is the SPADE generator on S.

    Example::

        G = BachGANGenerator(BachGANConfig.from_preset("tiny_test")).eval()               # 12 classes, 32x32
        L = rasterize_box_batch([[(11, 4, 4, 20, 20)]], 12, 32, 32)        # a car box -> [1, 12, 32, 32]
        image, seg_logprob = G(L, retrieved)                                # retrieved [1, 3, 12, 32, 32]
        S = G.fuse(L, retrieved); image, _ = G.decode(S, with_seg=False)   # the same, in two stages
    """

    def __init__(self, config: BachGANConfig) -> None:
        super().__init__()
        if isinstance(config, dict):  # from a config.json
            config = BachGANConfig(**config)
        self.config = config
        nf, C = config.base_channels, config.num_classes
        block = lambda i, o: SPADEResBlock(i, o, C, config.spade_hidden, config.spade_kernel)  # noqa: E731
        self.fusion = BackgroundFusion(C, config.use_retrieval)
        # fc: 3x3 conv on S resized to the start grid (the "deterministic" SPADE, no z)
        self.fc = nn.Conv2d(C, 16 * nf, 3, padding=1)
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final = nf
        if config.num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final = nf // 2
        self.conv_img = nn.Conv2d(final, 3, 3, padding=1)
        self.conv_seg = nn.Conv2d(final, C, 3, padding=1)  # auxiliary segmentation head (--seg)

    # -- the two stages -------------------------------------------------------------------------------------
    def fuse(self, box_layout: Tensor, retrieved: Tensor | None = None) -> Tensor:
        """L [B, C, H, W] and retrieved maps [B, K, C, H, W] -> fused layout S [B, C, H, W]."""
        self._check_layout(box_layout, "box_layout")
        if retrieved is not None:
            cfg = self.config
            expected = {(box_layout.shape[0], cfg.num_retrieved, cfg.num_classes, cfg.height, cfg.width),
                        (box_layout.shape[0], cfg.num_retrieved * cfg.num_classes, cfg.height, cfg.width)}
            if tuple(retrieved.shape) not in expected:
                raise ValueError(
                    f"retrieved must be [B, K={cfg.num_retrieved}, C={cfg.num_classes}, {cfg.height}, {cfg.width}] "
                    f"or [B, K*C, H, W]; got {tuple(retrieved.shape)}"
                )
        return self.fusion(box_layout, retrieved)

    def decode(self, fused: Tensor, with_seg: bool = True) -> tuple[Tensor, Tensor | None]:
        """S [B, C, H, W] -> (image [B, 3, H, W] in [-1, 1], seg_logprob [B, C, H, W] or None)."""
        self._check_layout(fused, "fused")
        pyramid: dict[tuple[int, int], Tensor] = {}

        def seg_at(x: Tensor) -> Tensor:  # S resized (nearest) to x's grid, once per resolution
            size = (x.shape[-2], x.shape[-1])
            if size not in pyramid:
                pyramid[size] = F.interpolate(fused, size=size, mode="nearest")
            return pyramid[size]

        def up(x: Tensor) -> Tensor:
            return F.interpolate(x, scale_factor=2, mode="nearest")

        x = self.fc(F.interpolate(fused, size=self.config.start_size, mode="nearest"))  # [B, 16nf, sh, sw]
        x = self.head_0(x, seg_at(x))
        x = up(x)
        x = self.G_middle_0(x, seg_at(x))
        if self.config.num_upsampling_layers in ("more", "most"):
            x = up(x)
        x = self.G_middle_1(x, seg_at(x))
        for name in ("up_0", "up_1", "up_2", "up_3") + (("up_4",) if hasattr(self, "up_4") else ()):
            x = up(x)
            x = getattr(self, name)(x, seg_at(x))
        x = F.leaky_relu(x, 0.2)  # [B, nf, H, W]
        seg_logprob = F.log_softmax(self.conv_seg(x), dim=1) if with_seg else None
        image = torch.tanh(self.conv_img(x))
        return image, seg_logprob

    def forward(self, box_layout: Tensor, retrieved: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(L, retrieved) -> (image, seg_logprob): what the official ``SPADEGenerator`` returns."""
        return self.decode(self.fuse(box_layout, retrieved), with_seg=True)

    # -- helpers ----------------------------------------------------------------------------------------------
    def _check_layout(self, t: Tensor, name: str) -> None:
        cfg = self.config
        if t.ndim != 4 or t.shape[1:] != (cfg.num_classes, cfg.height, cfg.width):
            raise ValueError(
                f"{name} must be [B, {cfg.num_classes}, {cfg.height}, {cfg.width}] (one channel per class); "
                f"got {tuple(t.shape)}"
            )

    @torch.no_grad()
    def fold_spectral_norm(self) -> "BachGANGenerator":
        """Replace each spectrally normalised weight by W / sigma (computed from the stored u, v) for inference.

        The result is a plain conv: no per-call sigma, identical outputs in eval mode. Not reversible, and the
        folded state_dict (``X.weight``) no longer matches the class: fold after loading, never before saving.
        """
        was_training = self.training
        self.eval()
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        self.train(was_training)
        return self


# ----------------------------------------------------------------------------------------------------------------
# Discriminator and losses
# ----------------------------------------------------------------------------------------------------------------
def build_discriminator(config: BachGANConfig) -> MultiscaleDiscriminator:
    """SPADE's multi-scale PatchGAN on concat(L, image): C + 3 channels. D sees the box layout, not S."""
    return MultiscaleDiscriminator(
        in_channels=config.num_classes + 3,
        base_channels=config.d_base_channels,
        num_layers=config.d_layers,
        num_scales=config.d_scales,
    )


def seg_nll_loss(seg_logprob: Tensor, label: Tensor) -> Tensor:
    """Auxiliary segmentation loss of the official ``--seg`` option: L_seg = -E[log p(label | G)] (NLL)."""
    return F.nll_loss(seg_logprob, label)


def d_loss(D: nn.Module, box_layout: Tensor, x_fake: Tensor, x_real: Tensor) -> Tensor:
    """L_D = E[max(0, 1 - D(L, x_real))] + E[max(0, 1 + D(L, G(L, M)))] (hinge, mean over the 2 scales)."""
    from synthkit.losses import d_hinge_loss

    pred_fake, pred_real = discriminate(D, box_layout, x_fake.detach(), x_real)
    return d_hinge_loss(pred_real, pred_fake)


def g_loss(
    config: BachGANConfig,
    D: nn.Module,
    box_layout: Tensor,
    x_fake: Tensor,
    x_real: Tensor,
    seg_logprob: Tensor | None = None,
    label: Tensor | None = None,
    backbone: nn.Module | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """BachGAN's generator objective (SPADE's, without KL):

    L_G = -E[D(L, x_fake)] + lambda_feat * L_FM + lambda_perceptual * L_perc (+ lambda_seg * L_seg)

    Returns (total, {term: detached value}) for logging; the values stay tensors on the model's device (a
    ``float()`` here would make every training step wait for the GPU; the loop converts them after stepping).
    """
    from synthkit.losses import backbone_perceptual_loss, feature_matching_loss, g_hinge_loss

    pred_fake, pred_real = discriminate(D, box_layout, x_fake, x_real)
    terms = {"g_gan": g_hinge_loss(pred_fake)}
    if config.lambda_feat > 0:
        terms["g_feat"] = config.lambda_feat * feature_matching_loss(pred_fake, pred_real)
    if config.lambda_perceptual > 0:
        if backbone is None:
            raise ValueError("lambda_perceptual > 0 needs a feature backbone (synthkit.backbones.load_backbone)")
        # L1 on the backbone's perceptual layers with SPADE's weights 1/32 ... 1 (losses.SPADE_PERCEPTUAL_WEIGHTS)
        terms["g_vgg"] = config.lambda_perceptual * backbone_perceptual_loss(backbone, x_fake, x_real)
    if config.lambda_seg > 0:
        if seg_logprob is None or label is None:
            raise ValueError("lambda_seg > 0 needs seg_logprob and the label map")
        terms["g_seg"] = config.lambda_seg * seg_nll_loss(seg_logprob, label)
    total = sum(terms.values())
    return total, {k: v.detach() for k, v in terms.items()}


# ----------------------------------------------------------------------------------------------------------------
# Training task (synthkit.train.GANTask)
# ----------------------------------------------------------------------------------------------------------------
class BachGANToyscapes(torch.utils.data.Dataset):
    """Toyscapes scenes as BachGAN training pairs: (box layout, retrieved maps) -> image.

    Items: ``image`` [3, H, W] in [-1, 1], ``label`` [H, W], ``box_layout`` [C, H, W], ``retrieved`` [K, C, H, W]
    (only with ``use_retrieval``), ``index``. Retrieval uses the memory of the *train* split and skips the scene
    itself, as the official Cityscapes loader skips a self-match.
    """

    def __init__(self, config: BachGANConfig, split: str, memory: Any | None) -> None:
        from synthkit.data.toyscapes import ToyscapesDataset

        from synthkit.data.toyscapes import NUM_CLASSES, THING_IDS

        if config.num_classes != NUM_CLASSES or set(config.thing_classes) != set(THING_IDS):
            raise ValueError(
                f"synthkit trains BachGAN on Toyscapes ({NUM_CLASSES} classes, things {sorted(THING_IDS)}); this "
                f"config has {config.num_classes} classes. Use the 'toyscapes' or 'tiny_test' preset (the "
                "cityscapes / ade20k presets are for converted official weights)"
            )
        if config.height != config.width:
            raise ValueError(f"Toyscapes scenes are square; got height {config.height} != width {config.width}")
        if config.use_retrieval and memory is None:
            raise ValueError("use_retrieval=True needs a retrieval memory (synthkit.retrieval.RetrievalIndex)")
        self.config, self.split, self.memory = config, split, memory
        self.scenes = ToyscapesDataset(size=config.height, length=config.dataset_length, split=split, seed=config.seed)

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        cfg = self.config
        item = self.scenes[i]
        box_layout = rasterize_boxes(item["boxes"], cfg.num_classes, cfg.height, cfg.width)  # [C, H, W]
        out = {"image": item["image"], "label": item["label"], "box_layout": box_layout, "index": item["index"]}
        if cfg.use_retrieval:
            exclude = [int(item["index"])] if self.split == "train" else []
            out["retrieved"], _, _ = self.memory.retrieve(item["boxes"], box_layout, cfg.num_retrieved, exclude)
        return out


def build_memory(config: BachGANConfig) -> Any:
    """The retrieval memory of a Toyscapes preset: loaded from ``index_path`` if it exists, else built."""
    from pathlib import Path

    from synthkit.retrieval import RetrievalIndex, build_toyscapes_index

    if config.index_path is not None and Path(config.index_path).is_file():
        memory = RetrievalIndex.load(config.index_path)
    else:
        memory = build_toyscapes_index(n=config.dataset_length, size=config.height, out=config.index_path,
                                       seed=config.seed, grid=config.index_size)
        if config.index_path is not None:
            memory = RetrievalIndex.load(memory)
    if memory.num_classes != config.num_classes or tuple(memory.box_classes) != tuple(config.thing_classes):
        raise ValueError(
            f"retrieval memory {config.index_path} has {memory.num_classes} classes and box classes "
            f"{memory.box_classes}; the model expects {config.num_classes} and {config.thing_classes}"
        )
    return memory


class BachGANTask:
    """The GANTask of BachGAN (contract: ``synthkit.train.GANTask``). D step, then G step, on Toyscapes."""

    paper = "bachgan"

    def __init__(self, config: BachGANConfig) -> None:
        self.config = config
        self.G = BachGANGenerator(config)
        self.D = build_discriminator(config)
        self._memory = None
        self._backbone = None

    @property
    def backbone(self) -> nn.Module | None:
        cfg = self.config
        if self._backbone is None and cfg.perceptual_backbone and cfg.lambda_perceptual > 0:
            from synthkit.backbones import load_perceptual_backbone

            self._backbone = load_perceptual_backbone(cfg.perceptual_backbone, cfg.lambda_perceptual, "BachGAN")
        return self._backbone

    def make_dataset(self, split: str = "train") -> BachGANToyscapes:
        if self.config.use_retrieval and self._memory is None:
            self._memory = build_memory(self.config)
        return BachGANToyscapes(self.config, split, self._memory)

    def _inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        return batch["box_layout"], batch.get("retrieved") if self.config.use_retrieval else None

    def d_step(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        box_layout, retrieved = self._inputs(batch)
        with torch.no_grad():  # D step: no graph through G
            x_fake, _ = self.G(box_layout, retrieved)
        loss = d_loss(self.D, box_layout, x_fake, batch["image"])
        return {"loss": loss, "d_hinge": loss.detach()}

    def g_step(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        box_layout, retrieved = self._inputs(batch)
        x_fake, seg_logprob = self.G(box_layout, retrieved)
        backbone = self.backbone
        if backbone is not None:
            backbone.to(x_fake.device)
        total, terms = g_loss(self.config, self.D, box_layout, x_fake, batch["image"], seg_logprob,
                              batch.get("label"), backbone)
        return {"loss": total, **terms}

    @torch.no_grad()
    def sample(self, G: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        box_layout, retrieved = self._inputs(batch)
        return G(box_layout, retrieved)[0]  # [B, 3, H, W] in [-1, 1]


def make_task(preset: str = "toyscapes", overrides: dict[str, Any] | None = None) -> BachGANTask:
    """``synthkit train bachgan --preset toyscapes --set lr_g=2e-4``: the task for the training loop."""
    return BachGANTask(BachGANConfig.from_preset(preset, **dict(overrides or {})))
