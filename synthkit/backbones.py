"""Feature backbones: a frozen classifier seen as a pyramid of features, from shallow to deep.

Five uses in synthkit, one interface (``FeatureBackbone``):

* perceptual loss (Johnson et al. 2016; SPADE / SMIS / BachGAN ``VGGLoss``): ``features(x, perceptual_layers)``;
* the Semantic Pyramid classifier (Shocher et al. 2020, Fig. 1): ``features(x, pyramid_levels)``. The paper taps a
  VGG-16 (Places365) at CONV1 ... CONV5 (the output of each conv stage, after its max-pool, as in both public
  ports), FC7 and FC8. Both backbones here name those levels ``conv1 ... conv5, fc7, fc8``;
* FID / KID features: ``features(x, ["pool"])["pool"]``, the global average of ``conv5`` (``[B, C5]``);
* an LPIPS-like distance: ``lpips_like(x, y)`` (NOT LPIPS, see its docstring);
* per-pixel class prediction for pixel accuracy / mIoU of generated images: ``segment(x)`` (Toyscapes only).

Two backbones behind it (``load_backbone(name)``):

``"toyscapes"`` (offline default)
    A small VGG-like network (5 conv stages of 2 convs, widths 16-32-64-96-128, BN, max-pool; global pool;
    fc6, fc7, fc8 = 6 scene logits) plus a light FPN segmentation head (12 classes), trained on the procedural
    Toyscapes data by ``train_backbone`` (``python -m synthkit.backbones train --out DIR``). Bundled in
    ``synthkit/pretrained/backbone-toyscapes/``. Its numbers are never comparable to published ones.

``"vgg16"`` / ``"vgg19"`` (reference, ImageNet)
    torchvision's VGG with its ImageNet weights, read from torchvision's cache file
    (``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth``), whose sha256 we check ourselves (torch.hub checks it
    only while downloading). No segmentation head.

Layer names (both backbones)::

    relu{s}_{k}   ReLU after conv k of stage s             [B, C_s, H/2^(s-1), W/2^(s-1)]
    conv{s}       output of stage s, after its max-pool    [B, C_s, H/2^s, W/2^s]     (pyramid levels 1-5)
    pool          global average of conv5                  [B, C_5]                   (FID / KID features)
    fc6, fc7      fully connected layers, after ReLU        [B, D]
    fc8           class logits (6 scenes / 1000 ImageNet)   [B, K]                     (pyramid level 7)

Inputs are RGB in [-1, 1], ``[B, 3, H, W]``; both backbones map them to ImageNet mean/std inside
(``(x + 1) / 2``, then ``(x - mean) / std``), so a generator's tanh output goes in as it is.

Simplifications vs the paper: the Semantic Pyramid paper's classifier is VGG-16 trained on Places365 (365 scene
classes); offline we use a 6-scene Toyscapes classifier, online torchvision's ImageNet VGG-16 (as the rosinality
port does). Places365 weights are not loaded here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

try:  # the project's Hub base class (save_pretrained / from_pretrained); plain nn.Module if absent
    from synthkit.hub import HubMixin as _HubBase  # type: ignore
except Exception:  # pragma: no cover - hub.py not written yet, or huggingface_hub missing
    class _HubBase:  # noqa: D401 - placeholder with no behaviour
        """Stand-in when ``synthkit.hub`` is unavailable: saving goes through ``save_backbone``."""


__all__ = [
    "BACKBONES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG_WEIGHT_FILES",
    "FeatureBackbone",
    "ToyscapesBackboneConfig",
    "ToyscapesBackbone",
    "VGGBackbone",
    "BackboneWeightsError",
    "load_backbone",
    "save_backbone",
    "sha256_file",
    "to_imagenet_normalized",
    "lpips_like_distance",
    "PRETRAINED_DIR",
]

BACKBONES = ("toyscapes", "vgg16", "vgg19")
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained" / "backbone-toyscapes"

# ImageNet statistics of torchvision's VGG (and LPIPS's ScalingLayer: the same map on [-1, 1] inputs).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's cache file names. torch.hub names each file "<arch>-<first 8 hex of its sha256>.pth"; these
# 8-hex prefixes are what we verify (the full 64-hex digests are not written in here because we could not check
# them on a machine with the real files; pass ``expected_sha256=`` a full digest to check all 64 characters).
VGG_WEIGHT_FILES = {
    "vgg16": ("vgg16-397923af.pth", "397923af", "https://download.pytorch.org/models/vgg16-397923af.pth"),
    "vgg19": ("vgg19-dcbb9e9d.pth", "dcbb9e9d", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
}


class BackboneWeightsError(RuntimeError):
    """A reference backbone's weight file is missing or is not the expected file."""


# --------------------------------------------------------------------------------------------------------------
# Shared pieces: input check, normalisation, the LPIPS-like formula
# --------------------------------------------------------------------------------------------------------------
def _check_images(x: Tensor, who: str, min_size: int = 32) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: expected a torch.Tensor [B, 3, H, W] in [-1, 1], got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(
            f"{who}: expected images [B, 3, H, W] (RGB, channels first), got shape {tuple(x.shape)}; "
            "add a batch dimension with x[None] or move channels first with x.permute(0, 3, 1, 2)"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{who}: expected float images in [-1, 1], got dtype {x.dtype}; for uint8 use x.float() / 127.5 - 1"
        )
    if min(x.shape[-2:]) < min_size:
        raise ValueError(f"{who}: images of {tuple(x.shape[-2:])} px are too small; need at least {min_size} px")
    if x.device.type == "meta":  # shapes only (a device check with meta weights): no values to range-check
        return
    lo, hi = float(x.detach().amin()), float(x.detach().amax())
    if lo < -1.5 or hi > 1.5:
        raise ValueError(
            f"{who}: images must be in [-1, 1], got values in [{lo:.3g}, {hi:.3g}]; "
            "map [0, 255] with x / 127.5 - 1 and [0, 1] with 2 * x - 1"
        )


def to_imagenet_normalized(x: Tensor) -> Tensor:
    """[-1, 1] RGB -> ImageNet-normalised input: x01 = (x + 1) / 2; x_n = (x01 - mean) / std.   [B, 3, H, W]"""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std


def _unit_normalize(f: Tensor, eps: float = 1e-10) -> Tensor:
    """f / ||f||_2 over channels, at every position (LPIPS Eq. 1's f-hat).   [B, C, h, w] -> [B, C, h, w]"""
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def lpips_like_distance(
    feats_x: Sequence[Tensor], feats_y: Sequence[Tensor], spatial: bool = False, size: tuple[int, int] | None = None
) -> Tensor:
    """An LPIPS-like distance from given layer features: LPIPS's formula with all head weights equal to 1.

    d_l(x, y)[h, w] = || f̂_l(x)[:, h, w] - f̂_l(y)[:, h, w] ||²   (f̂ = f / ||f|| over channels), in [0, 4]
    d(x, y)        = (1/L) Σ_l mean_{h,w} d_l(x, y)[h, w]                                 -> [B]
    spatial=True:    (1/L) Σ_l upsample_bilinear(d_l, size)                              -> [B, 1, H, W]

    This is the "lin=False" baseline of Zhang et al. 2018 (channel sum, no learned heads), averaged over layers;
    it is NOT LPIPS and its values are not comparable to published LPIPS numbers.
    """
    if len(feats_x) != len(feats_y) or len(feats_x) == 0:
        raise ValueError(f"lpips_like_distance: {len(feats_x)} vs {len(feats_y)} feature maps; need the same, > 0")
    per_layer = []
    for fx, fy in zip(feats_x, feats_y):
        d = (_unit_normalize(fx) - _unit_normalize(fy)).pow(2).sum(dim=1, keepdim=True)  # [B, 1, h, w]
        if spatial:
            if size is None:
                raise ValueError("lpips_like_distance: spatial=True needs size=(H, W)")
            per_layer.append(F.interpolate(d, size=size, mode="bilinear", align_corners=False))
        else:
            per_layer.append(d.mean(dim=(1, 2, 3)))  # [B]
    return torch.stack(per_layer).mean(dim=0)


# --------------------------------------------------------------------------------------------------------------
# The common interface
# --------------------------------------------------------------------------------------------------------------
class FeatureBackbone(nn.Module):
    """A frozen classifier read as a pyramid of features. Subclasses implement ``_conv_stages`` and ``_fc_head``.

    Attributes every backbone sets: ``name``, ``layer_names`` (all tappable layers, shallow to deep),
    ``pyramid_levels`` (the Semantic Pyramid levels: conv1..conv5, fc7, fc8), ``perceptual_layers`` (default taps
    of the perceptual loss), ``lpips_layers`` (taps of ``lpips_like``), ``fid_layer`` ("pool"), ``num_scenes``
    (width of fc8), ``provenance`` (dict: backend, weights, weights_sha256, comparable_to_paper, ...).
    """

    name: str = "backbone"
    layer_names: tuple[str, ...] = ()
    pyramid_levels: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc7", "fc8")
    perceptual_layers: tuple[str, ...] = ()
    lpips_layers: tuple[str, ...] = ()
    fid_layer: str = "pool"

    # --- to be provided by subclasses ---------------------------------------------------------------------------
    def _conv_stages(self) -> list[list[tuple[str | None, nn.Module]]]:
        """Per stage, the (name or None, module) sequence; a named entry's output is the tap of that name."""
        raise NotImplementedError

    def _fc_head(self, conv5: Tensor) -> Iterable[tuple[str, Tensor]]:
        """Yield ("pool", ...), ("fc6", ...), ("fc7", ...), ("fc8", ...) from the conv5 map."""
        raise NotImplementedError

    # --- the interface ------------------------------------------------------------------------------------------
    def features(self, x: Tensor, layers: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Run the network up to the deepest requested layer and return {layer name: feature}.

        x: [B, 3, H, W] in [-1, 1]. ``layers`` default to ``pyramid_levels``; order of the dict = order asked.
        Gradients flow to ``x`` (for perceptual losses); ``load_backbone`` returns the weights frozen.
        """
        _check_images(x, f"{self.name}.features")
        if layers is None:
            layers = self.pyramid_levels
        if isinstance(layers, str):
            layers = [layers]
        if len(layers) == 0:
            raise ValueError(f"{self.name}.features: empty layer list; valid layers: {list(self.layer_names)}")
        unknown = [n for n in layers if n not in self.layer_names]
        if unknown:
            raise ValueError(f"{self.name}: unknown layer(s) {unknown}; valid layers: {list(self.layer_names)}")
        wanted = set(layers)
        deepest = max(self.layer_names.index(n) for n in layers)
        out: dict[str, Tensor] = {}
        h = to_imagenet_normalized(x)
        done = False
        for stage in self._conv_stages():
            for tap, module in stage:
                h = module(h)
                if tap is not None:
                    if tap in wanted:
                        out[tap] = h
                    if self.layer_names.index(tap) >= deepest:
                        done = True
                        break
            if done:
                break
        if not done:
            for tap, value in self._fc_head(h):
                if tap in wanted:
                    out[tap] = value
                if self.layer_names.index(tap) >= deepest:
                    break
        return {n: out[n] for n in layers}

    def classify(self, x: Tensor) -> Tensor:
        """Class logits (fc8): 6 Toyscapes scenes or 1000 ImageNet classes.   [B, 3, H, W] -> [B, K]"""
        return self.features(x, ["fc8"])["fc8"]

    def segment(self, x: Tensor) -> Tensor:
        """Per-pixel class logits [B, num_classes, H, W]. Only the Toyscapes backbone has a segmentation head."""
        raise NotImplementedError(
            f"backbone '{self.name}' has no segmentation head; use load_backbone('toyscapes') for Toyscapes label "
            "maps, or a real segmenter (DRN-D-105 / UperNet, see docs/metrics_research.md) for real datasets"
        )

    def embed(self, x: Tensor) -> Tensor:
        """FID / KID feature vector: the global average of conv5.   [B, 3, H, W] -> [B, C5]"""
        return self.features(x, [self.fid_layer])[self.fid_layer]

    def lpips_like(self, x: Tensor, y: Tensor, spatial: bool = False, layers: Sequence[str] | None = None) -> Tensor:
        """LPIPS-like distance between two image batches ([-1, 1], same shape): [B], or [B, 1, H, W] if spatial.

        Formula in ``lpips_like_distance``: unit-normalised channel features, squared difference summed over
        channels, averaged over space, averaged over ``lpips_layers``. 0 for identical images, symmetric.
        NOT LPIPS (no learned heads, a different trunk): never compare its values with published LPIPS numbers;
        for real LPIPS use ``synthkit.metrics.lpips`` with the ``lpips`` backend.
        """
        if x.shape != y.shape:
            raise ValueError(f"{self.name}.lpips_like: x and y differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        layers = list(layers or self.lpips_layers)
        fx = self.features(x, layers)
        fy = self.features(y, layers)
        return lpips_like_distance(
            [fx[n] for n in layers], [fy[n] for n in layers], spatial=spatial, size=tuple(x.shape[-2:])
        )

    def freeze(self) -> "FeatureBackbone":
        """eval() mode and requires_grad=False on every weight (gradients still flow to the input)."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self


# --------------------------------------------------------------------------------------------------------------
# The offline Toyscapes backbone
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyscapesBackboneConfig:
    """Architecture of the offline backbone. Presets: ``PRESETS["toyscapes"]`` (bundled), ``PRESETS["tiny_test"]``."""

    widths: tuple[int, ...] = (16, 32, 64, 96, 128)  # channels of stages 1..5 (VGG-16: 64-128-256-512-512)
    convs_per_stage: int = 2  # VGG-16 has 2-2-3-3-3; two everywhere keeps it small
    fc_dim: int = 256  # width of fc6 / fc7 (VGG-16: 4096)
    seg_channels: int = 32  # width of the FPN segmentation head
    num_classes: int = 12  # Toyscapes semantic classes (segmentation)
    num_scenes: int = 6  # Toyscapes scene categories (classification, fc8)
    class_names: tuple[str, ...] = ()
    scene_names: tuple[str, ...] = ()

    PRESETS = None  # filled below (a dataclass field cannot hold instances of its own class)

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


ToyscapesBackboneConfig.PRESETS = {
    "toyscapes": ToyscapesBackboneConfig(),
    "tiny_test": ToyscapesBackboneConfig(widths=(4, 8, 8, 8, 8), fc_dim=16, seg_channels=8),
}


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    # y = ReLU(BN(W * x)); BN makes a 15-minute CPU training converge, and folds into an affine map at eval
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class ToyscapesBackbone(FeatureBackbone, _HubBase):
    """Small VGG-like scene classifier + segmenter trained on Toyscapes (the offline default backbone).

    ``stages[s]``: ``convs_per_stage`` x (3x3 conv, BN, ReLU) then 2x2 max-pool; ``fc6``/``fc7``: Linear + ReLU on
    the global average of conv5; ``fc8``: Linear -> scene logits. Segmentation head (FPN, Lin et al. 2017):

        p5 = L5(relu5_2);  p_s = L_s(relu{s}_2) + up2(p_{s+1})  for s = 4, 3, 2     (L_s: 1x1 conv, [B, S, H/2^(s-1)])
        logits = up2(head(p2)) + L1(relu1_2)                                          [B, num_classes, H, W]

    The L1 term lets the full-resolution stage-1 features sharpen class boundaries at almost no cost.
    """

    name = "toyscapes"

    def __init__(
        self,
        widths: Sequence[int] = (16, 32, 64, 96, 128),
        convs_per_stage: int = 2,
        fc_dim: int = 256,
        seg_channels: int = 32,
        num_classes: int = 12,
        num_scenes: int = 6,
        class_names: Sequence[str] = (),
        scene_names: Sequence[str] = (),
    ):
        super().__init__()
        self.config = ToyscapesBackboneConfig(
            tuple(widths), convs_per_stage, fc_dim, seg_channels, num_classes, num_scenes,
            tuple(class_names), tuple(scene_names),
        )
        if len(widths) != 5:
            raise ValueError(f"ToyscapesBackbone: widths must list 5 stage widths (VGG has 5 stages), got {widths}")
        self.num_classes, self.num_scenes = num_classes, num_scenes
        stages, c_in, names = [], 3, []
        for s, c in enumerate(widths, start=1):
            layers = []
            for k in range(1, convs_per_stage + 1):
                layers.append(_conv_bn_relu(c_in, c))
                names.append(f"relu{s}_{k}")
                c_in = c
            layers.append(nn.MaxPool2d(2))
            names.append(f"conv{s}")
            stages.append(nn.ModuleList(layers))
        self.stages = nn.ModuleList(stages)
        self.fc6 = nn.Linear(widths[-1], fc_dim)
        self.fc7 = nn.Linear(fc_dim, fc_dim)
        self.fc8 = nn.Linear(fc_dim, num_scenes)
        self.layer_names = tuple(names + ["pool", "fc6", "fc7", "fc8"])
        last = f"_{convs_per_stage}"
        self.perceptual_layers = tuple(f"relu{s}{last}" for s in range(1, 6))
        self.lpips_layers = self.perceptual_layers
        # segmentation head
        self.lateral = nn.ModuleList([nn.Conv2d(widths[s - 1], seg_channels, 1) for s in (2, 3, 4, 5)])
        self.seg_head = nn.Sequential(
            nn.Conv2d(seg_channels, seg_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(seg_channels),
            nn.ReLU(),
            nn.Conv2d(seg_channels, num_classes, 1),
        )
        self.seg_skip1 = nn.Conv2d(widths[0], num_classes, 1)
        self._provenance = {"backend": "offline-toyscapes", "weights_sha256": None,
                            "weights": "unknown (random init, or not loaded through load_backbone)"}

    # the (tap name, module) plan used by FeatureBackbone.features
    def _conv_stages(self):
        plan = []
        for s, stage in enumerate(self.stages, start=1):
            entries = [(f"relu{s}_{k}", m) for k, m in enumerate(stage[:-1], start=1)]
            entries.append((f"conv{s}", stage[-1]))
            plan.append(entries)
        return plan

    def _fc_head(self, conv5: Tensor):
        pooled = conv5.mean(dim=(2, 3))  # [B, C5]
        yield "pool", pooled
        h6 = F.relu(self.fc6(pooled))  # [B, fc_dim]
        yield "fc6", h6
        h7 = F.relu(self.fc7(h6))
        yield "fc7", h7
        yield "fc8", self.fc8(h7)  # [B, num_scenes]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(scene logits [B, num_scenes], segmentation logits [B, num_classes, H, W]) in one pass (training)."""
        last = self.config.convs_per_stage
        taps = [f"relu{s}_{last}" for s in range(1, 6)] + ["fc8"]
        f = self.features(x, taps)
        return f["fc8"], self._seg_from(f, x.shape[-2:])

    def _seg_from(self, f: dict[str, Tensor], size) -> Tensor:
        last = self.config.convs_per_stage
        p = None
        for lateral, s in zip(reversed(self.lateral), (5, 4, 3, 2)):
            l_s = lateral(f[f"relu{s}_{last}"])  # [B, S, H/2^(s-1), W/2^(s-1)]
            p = l_s if p is None else l_s + F.interpolate(p, size=l_s.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.seg_head(p)  # [B, K, H/2, W/2]
        logits = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)  # [B, K, H, W]
        return logits + self.seg_skip1(f[f"relu1_{last}"])

    def segment(self, x: Tensor) -> Tensor:
        """Per-pixel class logits.   [B, 3, H, W] in [-1, 1] -> [B, num_classes, H, W]; argmax(1) = label map."""
        last = self.config.convs_per_stage
        f = self.features(x, [f"relu{s}_{last}" for s in range(1, 6)])
        return self._seg_from(f, x.shape[-2:])

    @property
    def provenance(self) -> dict:
        return dict(self._provenance, name=self.name, comparable_to_paper=False,
                    note="offline Toyscapes backbone: numbers are not comparable to published ones")


# --------------------------------------------------------------------------------------------------------------
# torchvision VGG16 / VGG19 (ImageNet), the reference backbone
# --------------------------------------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _torch_hub_checkpoints() -> Path:
    # torch.hub.get_dir() = $TORCH_HOME/hub (default ~/.cache/torch/hub), read at call time
    return Path(torch.hub.get_dir()) / "checkpoints"


def _vgg_state_dict(arch: str, expected_sha256: str | None, allow_download: bool | None) -> tuple[dict, str, Path]:
    """Find, verify and load torchvision's cached ImageNet weights of ``arch``; returns (state_dict, sha256, path)."""
    filename, prefix, url = VGG_WEIGHT_FILES[arch]
    folder = _torch_hub_checkpoints()
    path = folder / filename
    if allow_download is None:
        offline_vars = ("HF_HUB_OFFLINE", "SYNTHKIT_OFFLINE")
        allow_download = not any(os.environ.get(v, "0") not in ("", "0") for v in offline_vars)
    if not path.is_file() and allow_download:
        try:  # the same call torchvision makes; it writes the file into `folder` and checks the prefix
            folder.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix, progress=False)
        except Exception as e:  # no network, proxy, disk full: fall through to the one clear message
            path.unlink(missing_ok=True)
            download_error = f" (download failed: {type(e).__name__}: {e})"
        else:
            download_error = ""
    else:
        download_error = ""
    if not path.is_file():
        raise BackboneWeightsError(
            f"{arch} ImageNet weights not found: put the file '{filename}' into the folder '{folder}' "
            f"(get it from {url}, or run torchvision.models.{arch}(weights='IMAGENET1K_V1') once on a machine with "
            f"network and copy it from its torch hub cache). Offline alternative: load_backbone('toyscapes')."
            + download_error
        )
    digest = sha256_file(path)
    expected = (expected_sha256 or prefix).lower()
    if not digest.startswith(expected):
        raise BackboneWeightsError(
            f"{path} is not torchvision's {arch} ImageNet file: its sha256 is {digest}, expected one starting with "
            f"{expected}. Delete it and put the genuine '{filename}' there (from {url})."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state, digest, path


class VGGBackbone(FeatureBackbone):
    """torchvision VGG16 / VGG19 behind the ``FeatureBackbone`` interface (ImageNet classes, no segmentation).

    Build with ``load_backbone("vgg16")`` (verified ImageNet weights) or, in tests only,
    ``VGGBackbone("vgg16", state_dict=None)`` (random weights, labelled so in ``provenance``).
    """

    def __init__(self, arch: Literal["vgg16", "vgg19"] = "vgg16", state_dict: dict | None = None,
                 provenance: dict | None = None):
        super().__init__()
        import torchvision  # only the reference backbone needs torchvision

        if arch not in VGG_WEIGHT_FILES:
            raise ValueError(f"VGGBackbone: arch must be one of {list(VGG_WEIGHT_FILES)}, got {arch!r}")
        self.name = arch
        build = getattr(torchvision.models, arch)
        if state_dict is None:
            net = build(weights=None)  # random init (tests only)
        else:
            with torch.device("meta"):  # skip the random init of 138M parameters: the file replaces them all
                net = build(weights=None)
            net.load_state_dict(state_dict, strict=True, assign=True)
        self.vgg_features, self.avgpool, self.classifier = net.features, net.avgpool, net.classifier
        stages, current, s, k, names = [], [], 1, 0, []
        for module in self.vgg_features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # taps must not be overwritten by the next layer
                k += 1
                current.append((f"relu{s}_{k}", module))
                names.append(f"relu{s}_{k}")
            elif isinstance(module, nn.MaxPool2d):
                current.append((f"conv{s}", module))
                names.append(f"conv{s}")
                stages.append(current)
                current, s, k = [], s + 1, 0
            else:
                current.append((None, module))
        self._stages = stages
        self.layer_names = tuple(names + ["pool", "fc6", "fc7", "fc8"])
        self.num_scenes = 1000
        # SPADE's VGGLoss taps (VGG19 relu1_1 ... relu5_1); LPIPS-vgg taps (last ReLU of each stage)
        self.perceptual_layers = tuple(f"relu{s}_1" for s in range(1, 6))
        self.lpips_layers = tuple(max((n for n in names if n.startswith(f"relu{s}_")), key=lambda n: int(n[6:]))
                                  for s in range(1, 6))
        self._provenance = provenance or {"backend": f"torchvision-{arch}", "weights": "random init (tests only)",
                                          "weights_sha256": None}

    def _conv_stages(self):
        return self._stages

    def _fc_head(self, conv5: Tensor):
        yield "pool", conv5.mean(dim=(2, 3))  # [B, 512]
        h = torch.flatten(self.avgpool(conv5), 1)  # [B, 512*7*7]
        c = self.classifier  # Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
        h6 = c[2](c[1](c[0](h)))
        yield "fc6", h6
        h7 = c[5](c[4](c[3](h6)))
        yield "fc7", h7
        yield "fc8", c[6](h7)  # [B, 1000]

    @property
    def provenance(self) -> dict:
        real = self._provenance.get("weights_sha256") is not None
        return dict(self._provenance, name=self.name, comparable_to_paper=False,
                    note=("torchvision ImageNet VGG: the Semantic Pyramid paper used a Places365 VGG-16"
                          if real else "random weights: plumbing tests only, numbers mean nothing"))


# --------------------------------------------------------------------------------------------------------------
# Loading and saving
# --------------------------------------------------------------------------------------------------------------
def save_backbone(model: ToyscapesBackbone, folder: str | os.PathLike) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (through ``HubMixin.save_pretrained`` when available)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(folder, config=model.config.to_dict())
    else:
        from safetensors.torch import save_model

        save_model(model, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    return folder


def _load_toyscapes(folder: str | os.PathLike) -> ToyscapesBackbone:
    from safetensors.torch import load_model

    folder = Path(folder)
    cfg_path, weights_path = folder / "config.json", folder / "model.safetensors"
    if not (cfg_path.is_file() and weights_path.is_file()):
        raise FileNotFoundError(
            f"Toyscapes backbone checkpoint not found in '{folder}': it needs config.json and model.safetensors. "
            "The bundled one lives in synthkit/pretrained/backbone-toyscapes/; retrain it with "
            "`python -m synthkit.backbones train --out synthkit/pretrained/backbone-toyscapes`."
        )
    config = json.loads(cfg_path.read_text())
    known = {f.name for f in dataclasses.fields(ToyscapesBackboneConfig)}
    model = ToyscapesBackbone(**{k: v for k, v in config.items() if k in known})
    load_model(model, str(weights_path), strict=True)
    model._provenance = {"backend": "offline-toyscapes", "weights": str(weights_path),
                         "weights_sha256": sha256_file(weights_path)}
    return model


def load_backbone(
    name: str = "toyscapes",
    device: str | torch.device = "cpu",
    *,
    path: str | os.PathLike | None = None,
    expected_sha256: str | None = None,
    allow_download: bool | None = None,
) -> FeatureBackbone:
    """Load a frozen feature backbone (eval mode, weights without gradients).

    name: "toyscapes" (bundled offline network; ``path`` = another checkpoint folder), "vgg16" or "vgg19"
    (torchvision ImageNet weights from ``$TORCH_HOME/hub/checkpoints/``; downloaded there first when allowed and
    missing: ``allow_download`` defaults to False when HF_HUB_OFFLINE or SYNTHKIT_OFFLINE is set).
    expected_sha256: override the hash the VGG file must have (full 64 hex, or a prefix).
    """
    if name == "toyscapes":
        model: FeatureBackbone = _load_toyscapes(path or PRETRAINED_DIR)
    elif name in VGG_WEIGHT_FILES:
        state, digest, file = _vgg_state_dict(name, expected_sha256, allow_download)
        model = VGGBackbone(name, state, provenance={
            "backend": f"torchvision-{name}", "weights": str(file), "weights_sha256": digest,
            "hash_check": f"sha256 starts with {(expected_sha256 or VGG_WEIGHT_FILES[name][1]).lower()}"})
    else:
        raise ValueError(f"unknown backbone {name!r}; valid names: {list(BACKBONES)}")
    from synthkit.devices import resolve_device

    return model.freeze().to(resolve_device(device))


@torch.no_grad()
def level_specs_from_backbone(backbone: "FeatureBackbone", image_size: int) -> dict[str, tuple]:
    """Measure ``level_names`` / ``level_channels`` / ``level_sizes`` of a backbone at ``image_size``.

    Returns a dict to pass to ``PyramidConfig.from_preset`` (synthkit.models.semantic_pyramid) as overrides. Raises ValueError for non-square feature maps.
    """
    names = tuple(backbone.pyramid_levels)
    feats = backbone.features(torch.zeros(1, 3, image_size, image_size), layers=list(names))
    channels, sizes = [], []
    for name in names:
        f = feats[name]
        if f.dim() == 4:
            if f.shape[-1] != f.shape[-2]:
                raise ValueError(f"level {name!r}: non-square feature map {tuple(f.shape)}")
            channels.append(f.shape[1])
            sizes.append(f.shape[-1])
        elif f.dim() == 2:
            channels.append(f.shape[1])
            sizes.append(0)
        else:
            raise ValueError(f"level {name!r}: expected [B, C, h, w] or [B, C] features, got {tuple(f.shape)}")
    return {"level_names": names, "level_channels": tuple(channels), "level_sizes": tuple(sizes)}


def load_perceptual_backbone(name: str | None, weight: float, who: str) -> FeatureBackbone | None:
    """The one policy of every paper for the backbone of its perceptual loss term.

    ``None`` when the term is off (``name`` None or ``weight`` 0). Otherwise the loaded frozen backbone; when its
    weights cannot be loaded, a :class:`BackboneWeightsError` that says how to get them or how to turn the term
    off. Training never silently drops a loss term: a run with a different objective is a different recipe.
    """
    if name is None or not weight:
        return None
    try:
        return load_backbone(name)
    except ValueError:
        raise
    except Exception as err:  # missing / corrupted weights, offline without a cached download
        raise BackboneWeightsError(
            f"{who}: the perceptual loss needs the backbone {name!r}, which cannot be loaded ({err}). Put its "
            f"weights where the message says, or train without the term: --set lambda_perceptual=0 "
            f"(or --set perceptual_backbone=none)"
        ) from err


if __name__ == "__main__":  # `python -m synthkit.backbones train|eval ...`: the training CLI, kept under this name
    from synthkit.backbone_training import main

    sys.exit(main())
