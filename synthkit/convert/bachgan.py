"""Convert the official BachGAN generator (Cold-Winter/BachGAN ``*_net_G.pth``) into a synthkit folder.

The official checkpoint is a CPU ``state_dict`` of ``SPADEGenerator`` built with ``--retrival_memory``. Key map
(official -> ``synthkit.models.bachgan.BachGANGenerator``):

===========================================  ==========================================================
official                                     synthkit
===========================================  ==========================================================
``encode_shared.0.*``, ``memory_shared.0.*``  ``fusion.encode_shared.0.*``, ``fusion.memory_shared.0.*``
``<blk>.conv_{0,1,s}.weight_orig``             ``<blk>.conv_*.parametrizations.weight.original``
``<blk>.conv_{0,1,s}.weight_u`` / ``_v``       ``<blk>.conv_*.parametrizations.weight.0._u`` / ``._v``
``<blk>.norm_*.param_free_norm.*`` (SyncBN)    same key (``BatchNorm2d(affine=False)``)
everything else (``fc``, ``mlp_*``, ``conv_img``, ``conv_seg``, ``conv_*.bias``)  same key
``conv1_1``, ``conv1_1_memory``, ``conv1_2``,  dropped: the commented-out FCN fusion; the forward pass never
``conv2_1``, ``conv2_2``, ``upscore``          uses them (5.23M parameters in the Cityscapes checkpoint)
===========================================  ==========================================================

In eval mode the parametrised spectral norm computes sigma = u^T W v from the stored u, v exactly like the old
hook, so the converted generator reproduces the official outputs (``tests/test_parity_bachgan.py``, fixture
``bachgan_tiny``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor

from synthkit.convert.common import ConversionReport, load_official_state, spectral_norm_to_parametrizations
from synthkit.models.bachgan import BachGANConfig, BachGANGenerator

__all__ = ["UNUSED_OFFICIAL_MODULES", "official_key_to_synthkit", "convert_state_dict", "load_official_generator",
           "convert_bachgan"]

# Modules of the official generator that its forward pass never calls (the FCN fusion left commented out).
UNUSED_OFFICIAL_MODULES = {
    "conv1_1": "FCN fusion leftover (box layout encoder), commented out in SPADEGenerator.forward",
    "conv1_1_memory": "FCN fusion leftover (layout + memory encoder), commented out in SPADEGenerator.forward",
    "conv1_2": "FCN fusion leftover, commented out in SPADEGenerator.forward",
    "conv2_1": "FCN fusion leftover, commented out in SPADEGenerator.forward",
    "conv2_2": "FCN fusion leftover, commented out in SPADEGenerator.forward",
    "upscore": "FCN fusion leftover (ConvTranspose2d 128->35, k32 s16), commented out in SPADEGenerator.forward",
}

def official_key_to_synthkit(key: str) -> str | None:
    """The synthkit name of one official key, or None for the keys of unused modules."""
    module = key.split(".", 1)[0]
    if module in UNUSED_OFFICIAL_MODULES:
        return None
    if module in ("encode_shared", "memory_shared"):
        key = "fusion." + key
    (key,) = spectral_norm_to_parametrizations({key: None})  # X.weight_orig -> X.parametrizations.weight.original
    return key


def _check_config(state: Mapping[str, Tensor], config: BachGANConfig) -> None:
    """Raise a clear error when the checkpoint's widths are not those of the chosen preset."""
    if "fc.weight" not in state or "conv_img.weight" not in state:
        raise ValueError(
            "this does not look like a BachGAN generator state_dict (no fc.weight / conv_img.weight); pass the "
            "official *_net_G.pth"
        )
    num_classes, base = state["fc.weight"].shape[1], state["conv_img.weight"].shape[1]
    if "up_4.conv_0.bias" in state:
        base *= 2
    if (num_classes, base) != (config.num_classes, config.base_channels):
        raise ValueError(
            f"checkpoint has {num_classes} classes and base width (ngf) {base}, but the config has "
            f"{config.num_classes} and {config.base_channels}; choose the matching preset "
            "(cityscapes: 35/64, ade20k: 151/64) or override num_classes / base_channels"
        )


def convert_state_dict(
    state: Mapping[str, Tensor], config: BachGANConfig
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Official generator state_dict -> (synthkit state_dict, report). Raises on missing or misshapen keys."""
    _check_config(state, config)
    with torch.device("meta"):  # names and shapes only, no memory or init work
        reference = BachGANGenerator(config).state_dict()
    report = ConversionReport()
    out: dict[str, Tensor] = {}
    unexpected = []
    for key, value in state.items():
        new = official_key_to_synthkit(key)
        if new is None:
            report.dropped[key] = UNUSED_OFFICIAL_MODULES[key.split(".", 1)[0]]
            continue
        if new not in reference:
            unexpected.append(key)
            continue
        if tuple(reference[new].shape) != tuple(value.shape):
            raise ValueError(
                f"official key {key} has shape {tuple(value.shape)}, synthkit {new} expects "
                f"{tuple(reference[new].shape)}: wrong preset (num_upsampling_layers, spade_hidden)?"
            )
        out[new] = value.to(dtype=reference[new].dtype)
        report.converted[key] = new
    missing = sorted(set(reference) - set(out))
    if unexpected or missing:
        raise ValueError(
            f"checkpoint does not match BachGANGenerator({config.num_upsampling_layers!r} upsampling): "
            f"unexpected official keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}, "
            f"missing synthkit keys {missing[:8]}{'...' if len(missing) > 8 else ''}"
        )
    return out, report


def load_official_generator(
    state: Mapping[str, Tensor], config: BachGANConfig
) -> tuple[BachGANGenerator, ConversionReport]:
    """Build a synthkit generator holding the official weights (eval mode)."""
    new_state, report = convert_state_dict(state, config)
    G = BachGANGenerator(config)
    G.load_state_dict(new_state, strict=True)
    return G.eval(), report


def convert_bachgan(
    generator_pth: str | Path, preset: str = "cityscapes", out_dir: str | Path = "bachgan-converted",
    overrides: dict | None = None,
) -> Path:
    """Official ``*_net_G.pth`` -> synthkit folder (config.json, model.safetensors, conversion.json).

    ``preset``: ``cityscapes`` (``city_model/60_net_G.pth``) or ``ade20k`` (``ade_model/150_net_G.pth``).
    Dropped keys and their reasons are written to ``conversion.json`` and printed.
    """
    config = BachGANConfig.from_preset(preset, **dict(overrides or {}))
    what = "BachGAN generator (city_model/60_net_G.pth or ade_model/150_net_G.pth from BachGan.zip)"
    G, report = load_official_generator(load_official_state(generator_pth, what=what), config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    card = {
        "model_name": f"BachGAN {preset} (official weights)",
        "paper": "bachgan",
        "paper_url": "https://arxiv.org/abs/2003.11690",
        "license": "cc-by-nc-sa-4.0",  # the authors' weights and code are CC BY-NC-SA 4.0
        "notes": f"Converted from {Path(generator_pth).name} with `synthkit convert bachgan`; the unused FCN "
                 "modules were dropped (see conversion.json).",
    }
    G.save_pretrained(out, card=card)
    (out / "conversion.json").write_text(report.to_json())
    for key, reason in report.dropped.items():
        print(f"dropped {key}: {reason}")
    return out
