"""Semantic Pyramid for Image Generation (Shocher, Gandelsman et al., CVPR 2020, arXiv 2003.06221).

A *frozen* classifier reads a reference image ``x``. Its features at every stage, shallow to deep, form the
*semantic pyramid* ``phi_1(x) .. phi_L(x)`` (VGG-16: CONV1..CONV5 then the fully connected FC7, FC8). The generator
mirrors the classifier, one block per level, deep to shallow. At every level the classifier's feature map is
multiplied by a mask, passed through a 1x1 conv (a Linear for vector levels) and *added* to the block's activations
(paper Fig. 3b)::

    h_l  <-  block_l(h_{l+1}) + conv1x1_l( m_l * phi_l(x) )                          # one level, spatial
    z ~ N(0, I)  ->  MLP, with Linear_l(m_l * phi_l(x)) added after each layer         # vector levels (FC)

Training picks, per sample, ONE level whose mask is all ones, switches the deeper levels off and, with probability
``p_region`` (0.3), keeps the shallower levels only outside a random hole (:func:`sample_pyramid_masks`). The same
trained model therefore serves: generation from any level (mask = 1 at that level only: shallow levels give a near
copy, deep levels only the semantics), semantic inpainting / re-painting (shallow features outside the hole, a deep
level everywhere) and compositing (feature maps of two images pasted into one layout).

Symbols (paper -> here):

==========================  ===========================  ============================================================
paper                       here                         shape
==========================  ===========================  ============================================================
C (the classifier)          ``backbone``                 ``synthkit.backbones.FeatureBackbone``, frozen
phi_l(x), level l           ``feats[l]``                 [B, C_l, h_l, w_l] (spatial) or [B, C_l] (vector)
m_l                         ``masks[l]``                 [B, 1, h_l, w_l] or [B, 1]; 1 = use the feature there
z                           ``z``                        [B, z_dim], N(0, I)
G(phi, m, z)                ``G(feats, masks, z)``       [B, 3, H, W] in [-1, 1]
D                           ``D(x)``                     [B] logits (one score per image)
P (2x2 max-pool)            ``F.max_pool2d(., 2)``       tolerates small shifts in the reconstruction loss
lambda_rec, lambda_div      ``config.lambda_rec/_div``   see the loss table below
alpha_l                     ``config.rec_weights[l]``    weight of level l in L_rec
==========================  ===========================  ============================================================

Losses (each a small pure function below; weights from the config; ``vgg16_places`` = the ports' values,
``toyscapes64`` = the bundled model's):

================  ==========================================================  ==================  ====================
term              definition                                                  vgg16_places        toyscapes64
                                                                              (the ports)         (bundled model)
================  ==========================================================  ==================  ====================
adversarial, G    LSGAN ``L_adv = E[(D(G(phi, m, z)) - 1)^2]``                1                   1
adversarial, D    ``L_D = E[(D(x) - 1)^2] + E[D(G(phi, m, z))^2]``            1                   1
reconstruction    ``L_rec = sum_l alpha_l * sum(P(m_l) |P(phi_l(G)) -         lambda_rec = 0.1,   lambda_rec = 1,
                  P(phi_l(x))|) / (sum(P(m_l) C_l) * s_l)``: the generated    alpha_l = 1,        alpha = (4, 3, 2, 1,
                  image through the same frozen classifier, masked L1 per     s_l = 1             1, 0.5, 0.5) for
                  level after 2x2 max-pooling P (vector levels unpooled);                         conv1..fc8,
                  s_l = mean |phi_l(x)| with ``rec_normalize``                                    s_l = mean |phi_l|
diversity         "ratio": ``L_div = E|z1 - z2| / (E|G(z1) - G(z2)| + eps)``; "ratio",            "dsgan",
                  "dsgan": ``L_div = -E_i min(r_i, tau)``, ``r_i =            lambda_div = 0.1    lambda_div = 5,
                  mean|G(z1)_i - G(z2)_i| / mean|z1_i - z2_i|`` per sample                        tau = 0.25
                  (two noises, same features and masks)
================  ==========================================================  ==================  ====================

Mask sampling (all presets): one level per sample all ones, deeper levels 0, shallower ones kept outside a random
hole with probability ``p_region = 0.3``; the level is drawn with weight 1 for spatial levels and
``vector_level_weight`` for vector levels (1 in the ports' common recipe; 2 = CRSP and ``toyscapes64``).

``L_G = L_adv + lambda_rec * L_rec + lambda_div * L_div``; D minimises ``L_D``.

The paper's text was not available to us; the ``vgg16_places`` terms and weights are where the three public ports
(rosinality, ChristophReich1996, slideflow) agree (see docs/papers/pyramid_3d_i2s.md, A1). Check them against the
PDF before quoting them as the paper's.

Why the Toyscapes recipe differs (measured on held-out scenes, benchmarks/bench_pyramid.py; details in the model
card of pyramid-toyscapes). With the ports' recipe (alpha_l = 1, ratio diversity) a few thousand CPU steps gave the
*reverse* of the paper's trend: generations from conv1 were not copies (the generator reproduced conv1 features
with 76% relative L1 error, while conv5..fc8 were matched to 14-20%), so the noise set their colours and they were
the most diverse; generations from fc7 / fc8 collapsed to one image per scene. Three changes, each a standard
tool, restore the trend:

* ``alpha_l`` decreasing with depth, on a relative error per level (``rec_normalize``: the fc8 logits are ~8x
  larger than the conv features and otherwise dominate L_rec): the shallow levels hold most of the picture and are
  the hardest to match; weighting them more makes "generate from conv1" a near copy (the paper's Fig. 1 top row).
  The vector levels get 0.5 and are drawn twice as often (CRSP): matched less tightly, seen more often.
* the capped per-sample diversity term of Yang et al. (2019, "diversity-sensitive conditional GANs") instead of
  the batch ratio: every sample is pushed apart by the same amount until its two generations differ by ``tau``,
  so levels that leave freedom (deep ones) use it, while at shallow levels the reconstruction term wins; the
  ratio's ``1 / |G(z1) - G(z2)|`` gradient is largest exactly for the near copies that *should* not vary.
* ``z_to_blocks``: the noise also modulates every level block (scale and shift after its first norm, BigGAN's
  hierarchical latent; the ports' generators are BigGAN-style). Without it z enters only the MLP, where the fc7 /
  fc8 injections drown it, and generation from a vector level ignores z.

Simplifications vs the paper:

- The classifier is the small offline Toyscapes network of ``synthkit.backbones`` (5 conv levels + 2 vector levels,
  mirroring VGG-16) instead of a Places365 VGG-16; the ``vgg16_places`` preset records the paper's sizes.
- Plain residual blocks with GroupNorm (batch-independent: one image at inference = training statistics); no
  spectral norm in G, no self-attention block, no class-conditional BatchNorm (so no "re-label" control).
- The injected features are RMS-normalised per position (``phi / sqrt(mean_c phi^2)``) before masking, so levels
  of very different magnitudes enter on one scale (slideflow adds BN + ReLU at the same place).
- The discriminator is unconditional (no projection of the class label). G EMA comes from ``synthkit.train``
  (decay 0.995 for the short Toyscapes run; rosinality 0.999).
- Random holes are unions of 1-3 rectangles (the ports use dilated blobs or random shapes), and they are also used
  when a vector level is the chosen one (rosinality's port uses them only for spatial levels).
- The Toyscapes preset uses ``lambda_rec = 1`` and the recipe above (half an hour of CPU training instead of days
  on a TPU pod).

Not implemented: re-labelling (changing the class fed to conditional BN / replacing FC8), sketch-to-photo
evaluation, the AMT studies, training at 224/256 px on Places365. The per-level FID table is measured on the offline
backbone (``synthkit.pipelines.pyramid.fid_kid_by_level``), not with Inception on Places365.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from synthkit.backbones import level_specs_from_backbone  # noqa: F401  (the measured pyramid of a backbone)
from synthkit.configs import PresetConfig
from synthkit.losses import d_lsgan_loss, g_lsgan_loss  # Mao et al. 2017, the ports' adversarial loss
from synthkit.hub import HubMixin

__all__ = [
    "PyramidConfig",
    "PRESETS",
    "TINY_BACKBONE",
    "build_backbone",
    "level_specs_from_backbone",
    "FeatureInjection",
    "UpBlock",
    "SemanticPyramidGenerator",
    "PyramidDiscriminator",
    "random_holes",
    "sample_pyramid_masks",
    "level_masks",
    "semantic_reconstruction_loss",
    "diversity_loss",
    "diversity_sensitive_loss",
    "SemanticPyramidTask",
    "make_task",
]


# ----------------------------------------------------------------------------------------------------------------
# Config and presets
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PyramidConfig(PresetConfig):
    """Everything that defines a Semantic Pyramid model and its training.

    The pyramid is described by three parallel tuples, shallow -> deep, that must match the backbone's
    ``features(x)`` at ``image_size`` (:func:`level_specs_from_backbone` measures them): ``level_names``,
    ``level_channels`` (C_l) and ``level_sizes`` (h_l = w_l of a spatial level, 0 for a vector level). Vector levels
    come after all spatial ones, as in VGG.
    """

    image_size: int = 256  # CRSP trains at 256 (rosinality at 224)
    backbone: str = "vgg16"  # name for synthkit.backbones.load_backbone
    level_names: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc7", "fc8")
    level_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 4096, 365)  # pool1..pool5, fc7, fc8 (Places365)
    level_sizes: tuple[int, ...] = (128, 64, 32, 16, 8, 0, 0)
    z_dim: int = 128  # rosinality: z 128
    mlp_dim: int = 512  # width of the z MLP that receives the vector levels
    g_channels: tuple[int, ...] = (64, 128, 256, 512, 512)  # G width at each spatial level, shallow -> deep
    head_channels: int = 64  # width of the extra x2 blocks between the shallowest level and the image
    d_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 1024)  # D widths, each block halves the resolution
    normalize_features: bool = True
    # hierarchical latent (BigGAN): z also modulates every level block (scale and shift after its first norm)
    z_to_blocks: bool = False
    # losses: L_G = L_adv + lambda_rec * L_rec + lambda_div * L_div (rosinality, CRSP: 0.1, 0.1)
    lambda_rec: float = 0.1
    lambda_div: float = 0.1
    rec_pool: int = 2  # 2x2 max-pool before the reconstruction L1
    # alpha_l, one weight per level in L_rec (shallow -> deep); () = all 1 (the ports)
    rec_level_weights: tuple[float, ...] = ()
    # divide each level's L1 by the mean |phi_l(x)| of the batch (relative error: levels of different scales,
    # e.g. fc8 logits ~5x the conv features, weigh alpha_l each)
    rec_normalize: bool = False
    # diversity term: "ratio" = the ports' mode-seeking ratio; "dsgan" = per-sample ratio capped at div_tau
    # (Yang et al. 2019, diversity-sensitive cGAN), see diversity_sensitive_loss
    diversity: str = "ratio"
    div_tau: float = 0.0
    # mask sampling (rosinality mask.py: crop_prob 0.3; CRSP doubles the odds of the vector levels)
    p_region: float = 0.3
    vector_level_weight: float = 1.0
    # optimiser (rosinality: Adam 1e-4, betas (0, 0.999), batch 32)
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.999)
    batch_size: int = 32
    ema_decay: float | None = 0.999  # generator EMA (the Toyscapes presets: 0.995, a faster EMA for short runs)
    dataset_length: int = 0  # Toyscapes presets: training images rendered per epoch
    backbone_sha256: str = ""  # recorded at training time: the backbone the model was trained with
    seed: int = 0

    def __post_init__(self) -> None:
        # JSON round trips turn tuples into lists; keep the dataclass hashable and immutable.
        for name in ("level_names", "level_channels", "level_sizes", "g_channels", "d_channels", "betas",
                     "rec_level_weights"):
            cast = {"level_names": str, "betas": float, "rec_level_weights": float}.get(name, int)
            object.__setattr__(self, name, tuple(cast(v) for v in getattr(self, name)))
        n = len(self.level_names)
        if n == 0 or len(self.level_channels) != n or len(self.level_sizes) != n:
            raise ValueError(
                f"level_names, level_channels and level_sizes must have the same non-zero length; got "
                f"{len(self.level_names)}, {len(self.level_channels)}, {len(self.level_sizes)}"
            )
        sizes = self.level_sizes
        spatial = [s for s in sizes if s > 0]
        if not spatial:
            raise ValueError("the pyramid needs at least one spatial level (level_sizes > 0)")
        first_vector = next((i for i, s in enumerate(sizes) if s == 0), n)
        if any(s > 0 for s in sizes[first_vector:]):
            raise ValueError(f"vector levels (size 0) must come after all spatial levels; got level_sizes {sizes}")
        for deep, shallow in zip(spatial[1:], spatial[:-1]):
            if shallow % deep or (shallow // deep) & (shallow // deep - 1):
                raise ValueError(f"spatial level sizes must shrink by powers of 2 with depth; got {spatial}")
        if self.image_size % spatial[0] or (self.image_size // spatial[0]) & (self.image_size // spatial[0] - 1):
            raise ValueError(
                f"image_size {self.image_size} must be the shallowest level size {spatial[0]} times a power of 2"
            )
        if len(self.g_channels) != len(spatial):
            raise ValueError(f"g_channels needs one width per spatial level ({len(spatial)}), got {self.g_channels}")
        if not 0.0 <= self.p_region <= 1.0:
            raise ValueError(f"p_region is a probability, got {self.p_region}")
        if self.rec_level_weights and (len(self.rec_level_weights) != n or min(self.rec_level_weights) < 0):
            raise ValueError(
                f"rec_level_weights needs {n} non-negative weights (one per level, shallow -> deep) or () for all 1; "
                f"got {self.rec_level_weights}"
            )
        if self.diversity not in ("ratio", "dsgan"):
            raise ValueError(f"diversity must be 'ratio' (the ports) or 'dsgan' (capped per sample), got {self.diversity!r}")
        if self.diversity == "dsgan" and self.div_tau <= 0:
            raise ValueError(f"diversity='dsgan' needs a cap div_tau > 0, got {self.div_tau}")

    @property
    def num_levels(self) -> int:
        return len(self.level_names)

    @property
    def rec_weights(self) -> tuple[float, ...]:
        """alpha_l of L_rec per level (shallow -> deep): ``rec_level_weights`` or all 1."""
        return self.rec_level_weights or (1.0,) * self.num_levels

    def is_spatial(self, level: int) -> bool:
        return self.level_sizes[level] > 0

    def level_index(self, level: str | int) -> int:
        """Index of a level given by name (``"conv3"``) or index; ValueError listing the valid names."""
        if isinstance(level, int) and not isinstance(level, bool):
            if not -self.num_levels <= level < self.num_levels:
                raise ValueError(f"level index {level} out of range; this pyramid has {self.num_levels} levels")
            return level % self.num_levels
        if level not in self.level_names:
            raise ValueError(f"unknown pyramid level {level!r}; valid levels (shallow -> deep): {list(self.level_names)}")
        return self.level_names.index(level)


# Backbone name of the tiny_test preset: a ToyscapesBackbone with the backbone's own "tiny_test" widths, random
# weights from seed 0 (see build_backbone); not a trained network.
TINY_BACKBONE = "toyscapes-tiny-random"

PRESETS: dict[str, PyramidConfig] = {
    # The paper's sizes (Places365 VGG-16 at 256 px, CRSP); documented, not trained here. G ~ 60M params.
    "vgg16_places": PyramidConfig(),
    # Toyscapes at 64 px with the offline Toyscapes classifier of synthkit.backbones (level shapes measured with
    # level_specs_from_backbone(load_backbone("toyscapes"), 64)). ~1M params, < 10 MB fp32.
    "toyscapes64": PyramidConfig(
        image_size=64,
        backbone="toyscapes",
        level_names=("conv1", "conv2", "conv3", "conv4", "conv5", "fc7", "fc8"),
        level_channels=(16, 32, 64, 96, 128, 256, 6),
        level_sizes=(32, 16, 8, 4, 2, 0, 0),
        z_dim=64,
        mlp_dim=128,
        g_channels=(24, 48, 64, 96, 128),
        head_channels=16,
        d_channels=(16, 32, 64, 128),
        lambda_rec=1.0,
        # the Toyscapes recipe (module docstring, "Why the Toyscapes recipe differs"); pilot runs of 700 steps,
        # 48 held-out scenes: ports' recipe -> diversity conv1 0.33 > fc8 0.10; this one -> 0.14 < 0.30
        rec_level_weights=(4.0, 3.0, 2.0, 1.0, 1.0, 0.5, 0.5),
        rec_normalize=True,
        diversity="dsgan",
        div_tau=0.25,
        lambda_div=5.0,
        z_to_blocks=True,
        vector_level_weight=2.0,  # CRSP doubles the odds of the fc levels
        lr_g=2e-4,
        lr_d=2e-4,
        batch_size=8,  # more steps rather than bigger batches in a 35-minute CPU budget
        ema_decay=0.995,
        dataset_length=1200,  # rendered once (set SYNTHKIT_TOYSCAPES_CACHE to keep them on disk), then reused
    ),
    # A few-kB model for CPU smoke tests, on a randomly initialised tiny Toyscapes backbone (TINY_BACKBONE).
    "tiny_test": PyramidConfig(
        image_size=32,
        backbone=TINY_BACKBONE,
        level_names=("conv1", "conv2", "conv3", "conv4", "conv5", "fc7", "fc8"),
        level_channels=(4, 8, 8, 8, 8, 16, 6),
        level_sizes=(16, 8, 4, 2, 1, 0, 0),
        z_dim=8,
        mlp_dim=16,
        g_channels=(8, 8, 16, 16, 16),
        head_channels=8,
        d_channels=(8, 16),
        batch_size=2,
        ema_decay=0.995,
        dataset_length=8,
    ),
}


def build_backbone(name: str) -> Any:
    """The frozen backbone a config names: ``load_backbone(name)``, or the random tiny one of ``tiny_test``."""
    if name == TINY_BACKBONE:
        from synthkit.backbones import ToyscapesBackbone, ToyscapesBackboneConfig

        tiny = ToyscapesBackboneConfig.PRESETS["tiny_test"]
        with torch.random.fork_rng():
            torch.manual_seed(0)
            backbone = ToyscapesBackbone(widths=tiny.widths, fc_dim=tiny.fc_dim, seg_channels=tiny.seg_channels)
        return backbone.freeze()
    from synthkit.backbones import load_backbone

    return load_backbone(name)


# ----------------------------------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------------------------------
def _groupnorm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, 8), channels)


class FeatureInjection(nn.Module):
    """One level's entry into the generator (Fig. 3b): ``conv1x1(m * phi)``, to be added to the activations.

    No bias, so a level whose mask is 0 contributes exactly 0. With ``normalize``, phi is first divided by its
    root-mean-square over channels at each position (vector levels: over the vector).
    """

    def __init__(self, in_channels: int, out_channels: int, spatial: bool, normalize: bool = True) -> None:
        super().__init__()
        self.spatial, self.normalize = spatial, normalize
        if spatial:
            self.proj = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        else:
            self.proj = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, feat: Tensor, mask: Tensor) -> Tensor:
        if self.normalize:
            # phi / sqrt(mean_c phi^2 + eps): one scale for every level, computed per position (mask-compatible)
            feat = feat * torch.rsqrt(feat.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        return self.proj(feat * mask)  # [B, C_out, h, w] or [B, C_out]


class UpBlock(nn.Module):
    """Residual block ``x -> x * up`` in resolution (``up`` = 1, 2, 4 ...): GN, ReLU, upsample, conv3x3, GN, ReLU, conv3x3.

    With ``z_dim > 0`` the first norm is modulated by the noise (BigGAN's hierarchical latent / conditional norm):
    ``GN(x) * (1 + gamma(z)) + beta(z)``, gamma, beta = Linear(z) (zero-initialised: the block starts unmodulated).
    """

    def __init__(self, in_channels: int, out_channels: int, up: int, z_dim: int = 0) -> None:
        super().__init__()
        self.up = up
        self.norm1, self.conv1 = _groupnorm(in_channels), nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2, self.conv2 = _groupnorm(out_channels), nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        self.z_mod = nn.Linear(z_dim, 2 * in_channels) if z_dim > 0 else None
        if self.z_mod is not None:
            nn.init.zeros_(self.z_mod.weight)
            nn.init.zeros_(self.z_mod.bias)

    def _upsample(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=self.up, mode="nearest") if self.up > 1 else x

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        h = self.norm1(x)  # [B, C_in, H, W]
        if self.z_mod is not None:
            if z is None:
                raise ValueError("this UpBlock is noise-modulated (z_to_blocks): pass z [B, z_dim]")
            gamma, beta = self.z_mod(z)[:, :, None, None].chunk(2, dim=1)  # [B, C_in, 1, 1] each
            h = h * (1 + gamma) + beta
        h = self.conv1(self._upsample(F.relu(h)))
        h = self.conv2(F.relu(self.norm2(h)))
        return h + self.skip(self._upsample(x))  # [B, C_out, H * up, W * up]


# ----------------------------------------------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------------------------------------------
class SemanticPyramidGenerator(nn.Module, HubMixin):
    """G(phi, m, z): the generator whose blocks mirror the classifier's levels, deep to shallow.

    Vector levels (deepest first) enter the z MLP: ``h = LReLU(Linear_k(h)) + Linear(m_k * phi_k)``. A Linear maps h to
    the deepest spatial level's grid; then, for each spatial level (deep -> shallow), an :class:`UpBlock` brings h to
    that level's resolution and the level's :class:`FeatureInjection` is added. Extra x2 blocks reach ``image_size``.
    """

    def __init__(self, config: PyramidConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        spatial = [i for i in range(c.num_levels) if c.is_spatial(i)]
        vectors = [i for i in range(c.num_levels) if not c.is_spatial(i)]
        self.spatial_levels, self.vector_levels = spatial, vectors

        # z MLP, one layer per vector level (at least one); vector level k is added after layer k (deep -> shallow)
        widths = [c.z_dim] + [c.mlp_dim] * max(1, len(vectors))
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.vector_inject = nn.ModuleDict(
            {c.level_names[i]: FeatureInjection(c.level_channels[i], c.mlp_dim, False, c.normalize_features) for i in vectors}
        )
        # h -> [B, C_deep, s_deep, s_deep]
        deepest = spatial[-1]
        self.start_size, self.start_channels = c.level_sizes[deepest], c.g_channels[-1]
        self.to_grid = nn.Linear(c.mlp_dim, self.start_channels * self.start_size**2)

        blocks, inject = [], {}
        size, channels = self.start_size, self.start_channels
        for j in reversed(range(len(spatial))):  # deep -> shallow
            i = spatial[j]
            blocks.append(UpBlock(channels, c.g_channels[j], up=c.level_sizes[i] // size, z_dim=c.z_dim if c.z_to_blocks else 0))
            size, channels = c.level_sizes[i], c.g_channels[j]
            inject[c.level_names[i]] = FeatureInjection(c.level_channels[i], channels, True, c.normalize_features)
        self.blocks = nn.ModuleList(blocks)
        self.spatial_inject = nn.ModuleDict(inject)
        head = []
        while size < c.image_size:
            head.append(UpBlock(channels, c.head_channels, up=2))
            size, channels = size * 2, c.head_channels
        self.head = nn.ModuleList(head)
        self.to_rgb = nn.Sequential(_groupnorm(channels), nn.ReLU(), nn.Conv2d(channels, 3, 3, padding=1), nn.Tanh())

    def _check(self, feats: Sequence[Tensor], masks: Sequence[Tensor]) -> int:
        c = self.config
        if len(feats) != c.num_levels or len(masks) != c.num_levels:
            raise ValueError(
                f"expected {c.num_levels} feature tensors and masks (levels {list(c.level_names)}), got "
                f"{len(feats)} and {len(masks)}"
            )
        batch = feats[0].shape[0]
        for name, ch, s, f, m in zip(c.level_names, c.level_channels, c.level_sizes, feats, masks):
            want_f = (batch, ch, s, s) if s > 0 else (batch, ch)
            want_m = (batch, 1, s, s) if s > 0 else (batch, 1)
            if tuple(f.shape) != want_f or tuple(m.shape) != want_m:
                raise ValueError(
                    f"level {name!r}: features {tuple(f.shape)} / mask {tuple(m.shape)}, expected {want_f} / "
                    f"{want_m}; is the backbone the one in config.backbone ({c.backbone!r}) at {c.image_size} px?"
                )
        return batch

    def forward(
        self, feats: Sequence[Tensor] | Mapping[str, Tensor], masks: Sequence[Tensor], z: Tensor | None = None
    ) -> Tensor:
        """``feats``: per level (a list shallow -> deep, or the backbone's dict); ``masks``: per level, see the
        symbol table; ``z``: [B, z_dim] (drawn from N(0, I) if None). Returns [B, 3, H, W] in [-1, 1]."""
        c = self.config
        if isinstance(feats, Mapping):
            feats = [feats[name] for name in c.level_names]
        batch = self._check(feats, masks)
        if z is None:
            z = torch.randn(batch, c.z_dim, device=feats[0].device)

        h = z  # [B, z_dim]
        for k, layer in enumerate(self.mlp):
            h = F.leaky_relu(layer(h), 0.2)  # [B, mlp_dim]
            if k < len(self.vector_levels):
                i = self.vector_levels[::-1][k]  # deepest vector level first (FC8, then FC7)
                h = h + self.vector_inject[c.level_names[i]](feats[i], masks[i])
        h = rearrange(self.to_grid(h), "b (c h w) -> b c h w", h=self.start_size, w=self.start_size)  # [B, C, s, s]
        for block, i in zip(self.blocks, reversed(self.spatial_levels)):
            # h_l = block_l(h_{l+1}) + conv1x1_l(m_l * phi_l(x))   (Fig. 3b)
            h = block(h, z) + self.spatial_inject[c.level_names[i]](feats[i], masks[i])  # [B, C_l, h_l, w_l]
        for block in self.head:
            h = block(h)
        return self.to_rgb(h)  # [B, 3, H, W]


# ----------------------------------------------------------------------------------------------------------------
# Discriminator
# ----------------------------------------------------------------------------------------------------------------
class _DBlock(nn.Module):
    """SN residual block that halves the resolution: LReLU, conv3x3, LReLU, conv3x3, avg-pool (+ 1x1 skip)."""

    def __init__(self, in_channels: int, out_channels: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv1 = spectral_norm(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.leaky_relu(x, 0.2)
        h = self.conv2(F.leaky_relu(self.conv1(h), 0.2))
        return F.avg_pool2d(h, 2) + F.avg_pool2d(self.skip(x), 2)


class PyramidDiscriminator(nn.Module, HubMixin):
    """Unconditional SN-ResNet discriminator: blocks that halve the resolution, sum-pool, linear -> [B] logits."""

    def __init__(self, config: PyramidConfig) -> None:
        super().__init__()
        self.config = config
        widths = (3,) + tuple(config.d_channels)
        self.blocks = nn.ModuleList(_DBlock(a, b, first=k == 0) for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])))
        self.linear = spectral_norm(nn.Linear(widths[-1], 1))

    def forward(self, x: Tensor) -> Tensor:
        h = x  # [B, 3, H, W]
        for block in self.blocks:
            h = block(h)
        h = F.leaky_relu(h, 0.2).sum(dim=(2, 3))  # [B, C]
        return self.linear(h).squeeze(1)  # [B]


# ----------------------------------------------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------------------------------------------
def random_holes(batch: int, size: int, generator: torch.Generator | None = None, device: Any = None) -> Tensor:
    """Union of 1-3 random axis-aligned rectangles per sample, sides 25-60% of ``size``: [B, 1, size, size], 1 = hole."""
    holes = torch.zeros(batch, 1, size, size, device=device)
    for b in range(batch):
        for _ in range(int(torch.randint(1, 4, (1,), generator=generator))):
            h, w = (torch.rand(2, generator=generator) * 0.35 + 0.25).mul(size).long().clamp(min=1).tolist()
            y0 = int(torch.randint(0, size - h + 1, (1,), generator=generator))
            x0 = int(torch.randint(0, size - w + 1, (1,), generator=generator))
            holes[b, :, y0 : y0 + h, x0 : x0 + w] = 1.0
    return holes


def _downsample_hole(hole: Tensor, size: int) -> Tensor:
    """Hole [B, 1, H, W] at a level's grid: a cell is in the hole if any of its pixels is (max-pool)."""
    return F.adaptive_max_pool2d(hole, size) if hole.shape[-1] != size else hole


def level_masks(config: PyramidConfig, full: Tensor, keep: Tensor, region: Tensor) -> list[Tensor]:
    """Masks per level from per-sample choices.

    ``full``: [B, L] bool, levels whose mask is all ones; ``keep``: [B, L] bool, levels given only where ``region``
    is 1; ``region``: [B, 1, H, W] (image resolution, 1 = feature kept). Other levels are 0. Spatial masks are
    [B, 1, h_l, w_l] (region resized with max-pool of its complement, so a hole never shrinks away); vector masks
    [B, 1] (a vector level in ``keep`` is 0: a vector has no place to keep).
    """
    masks = []
    for i, s in enumerate(config.level_sizes):
        on = full[:, i].float()
        if s > 0:
            kept_region = 1.0 - _downsample_hole(1.0 - region, s)  # [B, 1, s, s]
            m = on.view(-1, 1, 1, 1) + keep[:, i].float().view(-1, 1, 1, 1) * kept_region * (1 - on.view(-1, 1, 1, 1))
            masks.append(m.expand(-1, 1, s, s).contiguous())
        else:
            masks.append(on.view(-1, 1))
    return masks


def sample_pyramid_masks(
    config: PyramidConfig, batch: int, generator: torch.Generator | None = None, device: Any = None
) -> tuple[list[Tensor], Tensor, Tensor]:
    """Training masks (Sec. 3.2, as in the ports): per sample

    1. choose one level l with probability proportional to 1 (spatial) or ``vector_level_weight`` (vector);
       its mask is all ones;
    2. every deeper level gets 0;
    3. shallower levels get 0, except with probability ``p_region``: then every shallower *spatial* level is kept
       outside one shared random hole (:func:`random_holes`), resized to its grid.

    Returns ``(masks, chosen [B] long, has_region [B] bool)``.
    """
    c = config
    weights = torch.tensor([1.0 if c.is_spatial(i) else c.vector_level_weight for i in range(c.num_levels)])
    chosen = torch.multinomial(weights, batch, replacement=True, generator=generator)  # [B]
    has_region = torch.rand(batch, generator=generator) < c.p_region  # [B]
    region = 1.0 - random_holes(batch, c.image_size, generator)  # [B, 1, H, W], 1 = kept
    levels = torch.arange(c.num_levels)
    full = levels[None, :] == chosen[:, None]  # [B, L]
    keep = (levels[None, :] < chosen[:, None]) & has_region[:, None]  # [B, L]
    masks = level_masks(c, full, keep, region)
    return [m.to(device) for m in masks], chosen, has_region


# ----------------------------------------------------------------------------------------------------------------
# Losses (pure functions)
# ----------------------------------------------------------------------------------------------------------------
def semantic_reconstruction_loss(
    feats_fake: Sequence[Tensor],
    feats_real: Sequence[Tensor],
    masks: Sequence[Tensor],
    pool: int = 2,
    weights: Sequence[float] | None = None,
    normalize: bool = False,
) -> Tensor:
    """L_rec = sum_l alpha_l * sum(P(m_l) * |P(phi_l(G)) - P(phi_l(x))|) / (sum(P(m_l) * C_l) * s_l); P = pool x pool
    max-pool; s_l = 1, or with ``normalize`` s_l = mean |phi_l(x)| over the batch (a relative error per level).

    Spatial levels ([B, C, h, w]) are pooled (features and mask, when h >= pool); vector levels ([B, C]) are not. A
    level whose mask is 0 everywhere adds 0. ``feats_real`` is the target (detached). ``weights``: alpha_l per
    level (default all 1).
    """
    if not (len(feats_fake) == len(feats_real) == len(masks)) or not masks:
        raise ValueError(f"need as many fake/real features as masks, got {len(feats_fake)}/{len(feats_real)}/{len(masks)}")
    weights = [1.0] * len(masks) if weights is None else list(weights)
    if len(weights) != len(masks):
        raise ValueError(f"need one reconstruction weight per level ({len(masks)}), got {len(weights)}")
    loss = feats_fake[0].new_zeros(())
    for fake, real, m, alpha in zip(feats_fake, feats_real, masks, weights):
        real = real.detach()
        scale = real.abs().mean().clamp(min=1e-6) if normalize else 1.0  # s_l
        if fake.dim() == 4 and pool > 1 and fake.shape[-1] >= pool:
            fake, real, m = F.max_pool2d(fake, pool), F.max_pool2d(real, pool), F.max_pool2d(m, pool)
        if alpha > 0:  # an empty mask adds 0 (its numerator is 0), with no host round trip to test it
            weight = (m.sum() * fake.shape[1]).clamp(min=torch.finfo(fake.dtype).tiny)
            loss = loss + alpha * (m * (fake - real).abs()).sum() / (weight * scale)
    return loss


def diversity_loss(z1: Tensor, z2: Tensor, x1: Tensor, x2: Tensor, eps: float = 1e-5) -> Tensor:
    """Mode-seeking ratio (rosinality / CRSP ``diversity_loss``): L_div = E|z1 - z2| / (E|G(z1) - G(z2)| + eps)."""
    return (z1 - z2).abs().mean() / ((x1 - x2).abs().mean() + eps)


def diversity_sensitive_loss(z1: Tensor, z2: Tensor, x1: Tensor, x2: Tensor, tau: float) -> Tensor:
    """Capped per-sample diversity term (Yang et al. 2019, "diversity-sensitive conditional GANs"):

        r_i   = mean|G(z1)_i - G(z2)_i| / mean|z1_i - z2_i|          per sample i (same features and masks)
        L_div = - E_i[ min(r_i, tau) ]

    Every sample gets the same push (gradient 1 per unit of r_i) until its two generations differ by tau, then none.
    Unlike the ratio 1/r, it does not blow up for samples whose features leave no freedom (a generation from a
    shallow level *should* be a near copy), and a sample's push does not depend on the rest of the batch.
    x: [B, ...], z: [B, z_dim]. Returns a scalar in [-tau, 0].
    """
    if tau <= 0:
        raise ValueError(f"diversity_sensitive_loss: the cap tau must be > 0, got {tau}")
    dx = (x1 - x2).abs().flatten(1).mean(1)  # [B]
    dz = (z1 - z2).abs().flatten(1).mean(1).clamp(min=1e-8)  # [B]
    return -(dx / dz).clamp(max=tau).mean()


# ----------------------------------------------------------------------------------------------------------------
# Training task (synthkit.train.GANTask)
# ----------------------------------------------------------------------------------------------------------------
class SemanticPyramidTask:
    """What ``synthkit.train.train`` needs (see ``synthkit.train.GANTask``): G, D, ``d_step`` / ``g_step`` returning
    ``{"loss": tensor, ...logs}`` (the loop back-propagates and steps Adam with the config's ``lr_g``, ``lr_d``,
    ``betas``), the dataset and the sample grid.

    The frozen backbone is both the feature source and the loss network. Features of a batch are computed once and
    shared by ``d_step`` and ``g_step`` of the same batch.
    """

    paper = "pyramid"

    def __init__(self, config: PyramidConfig, backbone: Any) -> None:
        self.config = config
        self.backbone = backbone
        for p in backbone.parameters():
            p.requires_grad_(False)
        torch.manual_seed(config.seed)
        self.G = SemanticPyramidGenerator(config)
        self.D = PyramidDiscriminator(config)
        self.mask_generator = torch.Generator().manual_seed(config.seed)
        self._cache: tuple[Tensor, list[Tensor]] | None = None

    def features(self, x: Tensor) -> list[Tensor]:
        """Pyramid features phi_l(x), shallow -> deep (gradients flow to x, not to the backbone)."""
        feats = self.backbone.features(x, layers=list(self.config.level_names))
        return [feats[name] for name in self.config.level_names]

    def _real_features(self, x_real: Tensor) -> list[Tensor]:
        if self._cache is None or self._cache[0] is not x_real:
            with torch.no_grad():
                self._cache = (x_real, self.features(x_real))
        return self._cache[1]

    def _inputs(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        x_real = batch["image"]
        masks, _, _ = sample_pyramid_masks(self.config, x_real.shape[0], self.mask_generator, x_real.device)
        return x_real, self._real_features(x_real), masks

    def d_step(self, batch: Mapping[str, Tensor]) -> dict[str, Any]:
        x_real, feats, masks = self._inputs(batch)
        with torch.no_grad():
            x_fake = self.G(feats, masks)
        # L_D = E[(D(x) - 1)^2] + E[D(G)^2]
        return {"loss": d_lsgan_loss(self.D(x_real), self.D(x_fake))}

    def g_step(self, batch: Mapping[str, Tensor]) -> dict[str, Any]:
        c = self.config
        x_real, feats, masks = self._inputs(batch)
        z1 = torch.randn(x_real.shape[0], c.z_dim, device=x_real.device)
        x_fake = self.G(feats, masks, z1)
        self.D.requires_grad_(False)  # G's loss must not leave gradients in D
        adv = g_lsgan_loss(self.D(x_fake))
        self.D.requires_grad_(True)
        rec = semantic_reconstruction_loss(self.features(x_fake), feats, masks, c.rec_pool, c.rec_weights, c.rec_normalize)
        # L_G = L_adv + lambda_rec * L_rec + lambda_div * L_div
        loss = adv + c.lambda_rec * rec
        logs: dict[str, Any] = {"loss_g_adv": adv.detach(), "loss_rec": rec.detach()}
        if c.lambda_div > 0:
            z2 = torch.randn_like(z1)
            x_fake2 = self.G(feats, masks, z2)
            if c.diversity == "dsgan":
                div = diversity_sensitive_loss(z1, z2, x_fake, x_fake2, c.div_tau)
            else:
                div = diversity_loss(z1, z2, x_fake, x_fake2)
            loss = loss + c.lambda_div * div
            logs["loss_div"] = div.detach()
        return {"loss": loss, **logs}

    def make_dataset(self, split: str = "train") -> Any:
        """Toyscapes at ``image_size``; rendered samples are cached in ``$SYNTHKIT_TOYSCAPES_CACHE`` when it is set
        (rendering a 64 px scene costs about as much as a training step on 2 CPU cores)."""
        from synthkit.data.toyscapes import ToyscapesDataset

        return ToyscapesDataset(
            size=self.config.image_size, length=max(self.config.dataset_length, 1), split=split, seed=self.config.seed,
            cache_dir=os.environ.get("SYNTHKIT_TOYSCAPES_CACHE") or None,
        )

    @torch.no_grad()
    def sample(self, G: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
        """Sample grid rows: for the first ``num_levels + 1`` images of the batch, the image then one generation
        per level, shallow -> deep (the loop's square grid then shows one source per row)."""
        L = self.config.num_levels
        rows = []
        for x in batch["image"][: L + 1]:
            x = x[None]
            feats = [f.expand(L, *f.shape[1:]) for f in self.features(x)]
            eye = torch.eye(L, dtype=torch.bool)
            masks = level_masks(self.config, eye, torch.zeros_like(eye), torch.ones(1, 1, *x.shape[-2:]))
            z = torch.randn(L, self.config.z_dim, generator=torch.Generator().manual_seed(0)).to(x.device)
            rows += [x, G(feats, [m.to(x.device) for m in masks], z)]
        return torch.cat(rows)  # [rows * (1 + L), 3, H, W]


def make_task(preset: str = "toyscapes64", overrides: Mapping[str, Any] | None = None, backbone: Any = None) -> SemanticPyramidTask:
    """The training task of a preset (``synthkit train pyramid --preset toyscapes64``).

    The backbone named in the config is loaded (unless given) and its sha256 recorded in the config.
    """
    config = PyramidConfig.from_preset(preset, **dict(overrides or {}))
    if backbone is None:
        backbone = build_backbone(config.backbone)
    sha = (getattr(backbone, "provenance", None) or {}).get("weights_sha256") or ""
    if sha and not config.backbone_sha256:
        config = replace(config, backbone_sha256=sha)
    return SemanticPyramidTask(config, backbone)
