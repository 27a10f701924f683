"""Convert a Places365 VGG-16 checkpoint (the Semantic Pyramid paper's classifier) onto torchvision's ``vgg16``.

The paper's frozen classifier is VGG-16 trained on Places365 (CSAILVision/places365, ``vgg16_places365``). The
official release is a Caffe model; the PyTorch ports in circulation are plain ``state_dict`` files in one of two
spellings, both handled here:

=====================================  ==============================  ===============================
torchvision spelling (most ports)      Caffe layer names               torchvision ``vgg16`` key
=====================================  ==============================  ===============================
``features.{0,2}.{weight,bias}``       ``conv1_1``, ``conv1_2``        ``features.0``, ``features.2``
``features.{5,7}.*``                   ``conv2_1``, ``conv2_2``        ``features.5``, ``features.7``
``features.{10,12,14}.*``              ``conv3_1`` .. ``conv3_3``      ``features.10`` .. ``features.14``
``features.{17,19,21}.*``              ``conv4_1`` .. ``conv4_3``      ``features.17`` .. ``features.21``
``features.{24,26,28}.*``              ``conv5_1`` .. ``conv5_3``      ``features.24`` .. ``features.28``
``classifier.0.*``  [4096, 25088]      ``fc6``                         ``classifier.0``
``classifier.3.*``  [4096, 4096]       ``fc7``                         ``classifier.3``
``classifier.6.*``  [365, 4096]        ``fc8a`` (or ``fc8``)           ``classifier.6`` (365 outputs)
=====================================  ==============================  ===============================

A ``module.`` prefix (``nn.DataParallel``) and a ``{"state_dict": ...}`` wrapper are accepted. Caffe-style fc6
weights may be stored as a 4-D ``[4096, 512, 7, 7]`` "conv" kernel; they are flattened in the same (C, H, W) order
as torchvision's ``torch.flatten(avgpool(x), 1)``. The result loads *strictly* into
``torchvision.models.vgg16(num_classes=365)``: every expected key present with its exact shape, nothing left over.

Input convention. A Caffe-trained network expects BGR images in [0, 255] minus the Caffe mean, not torchvision's
RGB ImageNet normalisation. Most PyTorch ports keep the Caffe weights as they are, so the caller must feed the Caffe
convention (``caffe_input``). The converter records the convention in its report; it does not guess.

Loading is weights-only (``torch.load(weights_only=True)`` through ``synthkit.convert.common.load_official_state``):
no pickled code from the file runs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor, nn

from synthkit.convert.common import ConversionReport, load_official_state

__all__ = [
    "NUM_CLASSES",
    "CAFFE_MEAN_BGR",
    "expected_shapes",
    "places365_key_to_torchvision",
    "convert_state_dict",
    "build_vgg16_places365",
    "convert_places365",
    "caffe_input",
]

NUM_CLASSES = 365
# The Places365 Caffe models' mean pixel, BGR order, [0, 255] scale (CSAILVision places365 deploy files).
CAFFE_MEAN_BGR = (104.051, 112.514, 116.676)

# torchvision vgg16 "features" indices of the 13 convolutions, in Caffe order conv1_1 .. conv5_3
_CONV_INDEX = {
    name: idx
    for name, idx in zip(
        [f"conv{s}_{k}" for s, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for k in range(1, n + 1)],
        (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    )
}
_FC_INDEX = {"fc6": 0, "fc7": 3, "fc8a": 6, "fc8": 6}


def expected_shapes(num_classes: int = NUM_CLASSES) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's ``vgg16(num_classes=num_classes)`` state_dict (built on the meta device)."""
    import torchvision

    with torch.device("meta"):
        net = torchvision.models.vgg16(weights=None, num_classes=num_classes)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def places365_key_to_torchvision(key: str) -> str | None:
    """The torchvision name of one checkpoint key (either spelling, ``module.`` stripped), or None if unknown."""
    if key.startswith("module."):
        key = key[len("module."):]
    head, _, param = key.rpartition(".")
    if param not in ("weight", "bias"):
        return None
    if head.startswith(("features.", "classifier.")):
        return key
    if head in _CONV_INDEX:
        return f"features.{_CONV_INDEX[head]}.{param}"
    if head in _FC_INDEX:
        return f"classifier.{_FC_INDEX[head]}.{param}"
    return None


def convert_state_dict(
    state: Mapping[str, Tensor], num_classes: int = NUM_CLASSES
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Rename (and, for a 4-D fc6, flatten) a Places365 VGG-16 state_dict into torchvision ``vgg16`` keys.

    Raises ValueError naming every missing key, unexpected key and shape mismatch (so a VGG-19, a ResNet or a
    1000-class ImageNet file is refused with a message instead of loading half-way).
    """
    want = expected_shapes(num_classes)
    out: dict[str, Tensor] = {}
    report = ConversionReport()
    problems: list[str] = []
    for key, value in state.items():
        new = places365_key_to_torchvision(key)
        if new is None or new not in want:
            problems.append(f"unexpected key {key!r} {tuple(value.shape)}")
            continue
        if new == "classifier.0.weight" and value.dim() == 4:
            value = value.reshape(value.shape[0], -1)  # Caffe fc6 as a 7x7 conv: [4096, 512, 7, 7] -> [4096, 25088]
        if tuple(value.shape) != want[new]:
            problems.append(f"{key!r} -> {new!r}: shape {tuple(value.shape)}, torchvision vgg16 expects {want[new]}")
            continue
        if new in out:
            problems.append(f"{key!r} -> {new!r}: two checkpoint keys map to the same torchvision key")
            continue
        out[new] = value.detach() if value.dtype == torch.float32 else value.detach().float()
        report.converted[key] = new
    missing = sorted(set(want) - set(out), key=list(want).index)
    problems += [f"missing {k!r} {want[k]}" for k in missing]
    if problems:
        raise ValueError(
            "not a Places365 VGG-16 state_dict (torchvision `features.N` / `classifier.N` keys or Caffe "
            f"`convS_K` / `fc6` / `fc7` / `fc8a` names, {num_classes} classes): " + "; ".join(problems[:12])
            + (f"; ... and {len(problems) - 12} more" if len(problems) > 12 else "")
        )
    return out, report


def build_vgg16_places365(state: Mapping[str, Tensor], num_classes: int = NUM_CLASSES) -> nn.Module:
    """torchvision ``vgg16(num_classes=365)`` holding the converted weights (strict load), in eval mode."""
    import torchvision

    converted, _ = convert_state_dict(state, num_classes)
    with torch.device("meta"):  # skip the random init of 134M parameters: the file replaces them all
        net = torchvision.models.vgg16(weights=None, num_classes=num_classes)
    net.load_state_dict(converted, strict=True, assign=True)
    return net.eval()


def convert_places365(
    src: str | Path, out: str | Path, num_classes: int = NUM_CLASSES
) -> tuple[Path, ConversionReport]:
    """``.pth`` (weights only) -> ``out/model.safetensors`` (torchvision vgg16 keys) + ``out/conversion.json``.

    ``conversion.json`` lists the key map, the class count and the input convention the weights expect.
    """
    from safetensors.torch import save_file

    state = load_official_state(src, what="Places365 VGG-16 state_dict (e.g. vgg16_places365.pth)")
    converted, report = convert_state_dict(state, num_classes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in converted.items()}, str(out / "model.safetensors"))
    meta = {
        "source": str(src),
        "architecture": f"torchvision.models.vgg16(num_classes={num_classes})",
        "input": f"Caffe convention: BGR, [0, 255], minus mean {list(CAFFE_MEAN_BGR)} (synthkit.convert.places365.caffe_input)",
        "converted": report.converted,
        "dropped": report.dropped,
    }
    (out / "conversion.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out, report


def caffe_input(x: Tensor) -> Tensor:
    """synthkit images [B, 3, H, W] RGB in [-1, 1] -> the Caffe convention: BGR, [0, 255], minus ``CAFFE_MEAN_BGR``."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"caffe_input: expected [B, 3, H, W] RGB in [-1, 1], got {tuple(x.shape)}")
    bgr = (x.flip(1) + 1) * 127.5  # [B, 3, H, W] BGR in [0, 255]
    return bgr - torch.tensor(CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
