"""Convert rosinality-format StyleGAN2 checkpoints (``*.pt`` with ``g_ema``) into a synthkit folder.

rosinality/stylegan2-pytorch's format is what most public PyTorch StyleGAN2 weights use, including FFHQ models
converted from NVIDIA's TensorFlow release (its ``convert_weight.py``). The architecture is read from the keys, so no
preset is needed: size from the number of ``to_rgbs``, channel widths from the conv weights, style dimension and
mapping depth from ``style.N``. Only ``lr_mlp`` (the mapping network's learning-rate multiplier, applied at run
time) is not stored; every public checkpoint uses the default 0.01.

Key map (rosinality -> synthkit)::

    style.{i}.{weight,bias}   (i = 1 .. n_mlp; style.0 is PixelNorm)      mapping.{i-1}.{weight,bias}
    input.input                                                           const
    conv1.*  /  to_rgb1.*                                                 conv4.*  /  to_rgb4.*
    convs.{k}.*  /  to_rgbs.{k}.*  /  noises.noise_{k}                    convs.{k}.*  /  to_rgbs.{k}.*  /  noise_{k}

``torch.load(weights_only=True)`` only; a training checkpoint's ``args`` (an ``argparse.Namespace``) is allowed as
plain data, nothing else that is not a tensor or a container.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from synthkit.convert.common import ConversionError, ConversionReport
from synthkit.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator, fir_kernel

__all__ = ["config_from_state", "convert_stylegan2", "load_rosinality_generator", "read_rosinality_checkpoint",
           "resolve_checkpoint"]


def resolve_checkpoint(source: str | Path, revision: str | None = None) -> Path:
    """A local ``.pt`` path, or ``ORG/NAME/path/in/repo.pt`` on the Hugging Face Hub (downloaded once into the
    Hugging Face cache; with ``HF_HUB_OFFLINE=1`` read from that cache only)."""
    path = Path(source)
    if path.is_file():
        return path
    parts = str(source).split("/")
    if len(parts) >= 3 and not str(source).startswith((".", "/")):
        from synthkit.hub import _hub_file

        return _hub_file("/".join(parts[:2]), "/".join(parts[2:]), revision)
    raise FileNotFoundError(f"{source}: no such file; give a local .pt or ORG/NAME/file.pt on the Hugging Face Hub")


def read_rosinality_checkpoint(path: str | Path, sha256: str | None = None) -> tuple[dict[str, Tensor], Any]:
    """(g_ema state_dict, latent_avg or None) of a rosinality ``.pt`` file, read weights-only."""
    from synthkit.hub import load_official_pth

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected a rosinality-format StyleGAN2 .pt with 'g_ema')")
    with torch.serialization.safe_globals([argparse.Namespace]):  # train.py checkpoints carry their args
        ckpt = load_official_pth(path, sha256=sha256)
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"{path}: expected a dict with 'g_ema', got {type(ckpt).__name__}")
    if "g_ema" in ckpt:
        state = ckpt["g_ema"]
    elif "style.1.weight" in ckpt:  # a bare generator state_dict
        state = ckpt
    else:
        raise ValueError(f"{path}: no 'g_ema' generator in it (keys: {sorted(ckpt)[:10]}); is it a StyleGAN2 "
                         "checkpoint in rosinality's format?")
    return {k: v for k, v in state.items() if isinstance(v, Tensor)}, ckpt.get("latent_avg")


# rosinality's channel table: 512 up to 32 px, then 256, 128, 64, 32, 16 x channel_multiplier at 64 .. 1024 px
_ROSINALITY_WIDTHS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}


def _channel_multiplier(channels: tuple[int, ...]) -> int | None:
    """The channel_multiplier of rosinality's table that gives these widths (4 px first), or None (custom widths)."""
    for cm in (1, 2, 4):
        table = [_ROSINALITY_WIDTHS[4 * 2**i] * (cm if 4 * 2**i >= 64 else 1) for i in range(len(channels))]
        if list(channels) == table:
            return cm
    return None


def config_from_state(state: Mapping[str, Tensor], lr_mlp: float = 0.01,
                      report: ConversionReport | None = None) -> StyleGAN2Config:
    """The architecture of a rosinality generator state_dict, read from its keys and shapes (each field's source
    goes into ``report.inferred`` when a report is given)."""
    report = report if report is not None else ConversionReport()
    missing = [k for k in ("style.1.weight", "input.input", "conv1.conv.weight", "to_rgb1.conv.weight") if k not in state]
    if missing:
        raise ConversionError(f"not a rosinality StyleGAN2 generator: missing {missing}")
    n_mlp = len([k for k in state if re.fullmatch(r"style\.\d+\.weight", k)])
    n_rgbs = len([k for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    style_dim = state["style.1.weight"].shape[1]
    for i in range(n_rgbs):
        if f"convs.{2 * i}.conv.weight" not in state:
            raise ConversionError(f"not a complete rosinality generator: to_rgbs.{i} exists but convs.{2 * i}.conv.weight "
                                  "is missing")
    channels = [state["input.input"].shape[1]] + [state[f"convs.{2 * i}.conv.weight"].shape[1] for i in range(n_rgbs)]
    size = 2 ** (n_rgbs + 2)
    report.decide("image_size", size, f"keys: {n_rgbs} to_rgbs blocks after 4x4 (4 * 2**{n_rgbs})")
    report.decide("style_dim", style_dim, "shapes: style.1.weight in-features")
    report.decide("n_mlp", n_mlp, "keys: style.N.weight layers of the mapping network")
    report.decide("channels", tuple(channels), "shapes: input.input and each convs.2i.conv.weight out-channels")
    cm = _channel_multiplier(tuple(channels))
    report.decide("channel_multiplier", cm if cm else "custom widths",
                  "channels compared with rosinality's table" if cm else "the widths match no channel_multiplier of "
                  "rosinality's table (kept as read)")
    report.decide("lr_mlp", lr_mlp, "given (--lr-mlp; not stored in the checkpoint, rosinality's default 0.01)")
    return StyleGAN2Config(image_size=size, style_dim=style_dim, n_mlp=n_mlp, channels=tuple(channels),
                           lr_mlp=lr_mlp)


def _synthkit_key(key: str) -> str | None:
    m = re.fullmatch(r"style\.(\d+)\.(weight|bias)", key)
    if m:
        return f"mapping.{int(m.group(1)) - 1}.{m.group(2)}"
    if key == "input.input":
        return "const"
    for old, new in (("conv1.", "conv4."), ("to_rgb1.", "to_rgb4."), ("noises.", "")):
        if key.startswith(old):
            return new + key[len(old):]
    if key.startswith(("convs.", "to_rgbs.")):
        return key
    return None


def load_rosinality_generator(state: Mapping[str, Tensor], lr_mlp: float = 0.01) -> tuple[StyleGAN2Generator, ConversionReport]:
    """A synthkit StyleGAN2Generator (eval mode) holding the weights of a rosinality ``g_ema`` state_dict."""
    report = ConversionReport()
    config = config_from_state(state, lr_mlp, report)
    G = StyleGAN2Generator(config)
    new_state: dict[str, Tensor] = {}
    for key, value in state.items():
        target = _synthkit_key(key)
        if target is None:
            raise ConversionError(f"key {key!r} is not part of rosinality's StyleGAN2 Generator (style.*, input.input, "
                                  "conv1, to_rgb1, convs.*, to_rgbs.*, noises.*); nothing was loaded")
        if target.endswith("kernel"):  # FIR buffers: must be the [1, 3, 3, 1] filter this model builds
            expected = G.state_dict()[target]
            if value.shape != expected.shape or not torch.allclose(value.float(), expected, atol=1e-6):
                raise ValueError(f"{key}: blur kernel {value.shape} is not the [1, 3, 3, 1] FIR filter "
                                 f"(expected {fir_kernel((1, 3, 3, 1)).shape} x gain); this checkpoint uses another filter")
        new_state[target] = value.float()
        report.converted[key] = target
    try:
        missing, unexpected = G.load_state_dict(new_state, strict=False)
    except RuntimeError as err:  # a tensor of the wrong shape: name it
        raise ConversionError(f"the checkpoint does not fit the architecture read from its keys ({config.image_size}px, "
                         f"widths {list(config.channels)}): {err}") from None
    if missing or unexpected:
        raise ConversionError(f"the checkpoint does not fit the architecture read from its keys: missing {missing[:8]}, "
                         f"unexpected {unexpected[:8]}")
    return G.eval(), report


def convert_stylegan2(checkpoint: str | Path, out_dir: str | Path = "stylegan2-converted", lr_mlp: float = 0.01,
                      sha256: str | None = None) -> Path:
    # checkpoint: a local file or ORG/NAME/file.pt on the Hub (resolve_checkpoint); sha256: checked when given
    """``synthkit convert stylegan2 FILE.pt --out DIR``: writes config.json, model.safetensors, README.md and
    conversion.json (key map, the checkpoint's latent_avg shape). Load with ``synthkit.load(DIR)``."""
    checkpoint = resolve_checkpoint(checkpoint)
    state, latent_avg = read_rosinality_checkpoint(checkpoint, sha256=sha256)
    G, report = load_rosinality_generator(state, lr_mlp)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = G.config
    G.save_pretrained(out, card={
        "description": f"StyleGAN2 {cfg.image_size}x{cfg.image_size} (style_dim {cfg.style_dim}, {cfg.n_mlp} mapping "
                       f"layers, widths {list(cfg.channels)}) converted from the rosinality-format checkpoint "
                       f"{Path(checkpoint).name}.",
        "paper": "image2stylegan",
        "paper_url": "https://arxiv.org/abs/1911.11544",
        "notes": "The licence of the source weights carries over (FFHQ models: NVIDIA's non-commercial licence and "
                 "FFHQ's CC BY-NC-SA 4.0).",
    })
    if latent_avg is not None:
        report.dropped["latent_avg"] = (f"shape {list(latent_avg.shape)}: the truncation centre; synthkit computes "
                                        "the mean w from 10 000 mapped z (G.mean_w), the embedding's start")
    (out / "conversion.json").write_text(report.to_json())
    print("architecture read from the checkpoint:\n" + report.table())
    return out
