"""Convert the official SMIS checkpoints (Seanseattle/SMIS ``latest_net_G.pth``, ``latest_net_E.pth``) to synthkit.

Key map (official -> ``synthkit.models.groupdnet.GroupDNet``; blocks head_0, G_middle_0, G_middle_1, up_0..up_3
are ``G.blocks.0`` .. ``G.blocks.6``):

=========================================================  =======================================================
official                                                   synthkit
=========================================================  =======================================================
``fc.*``, ``conv_img.*``                                   ``G.fc.*``, ``G.conv_img.*``
``<blk>.conv_{0,1,s}.weight_{orig,u,v}`` (old spectral     ``G.blocks.i.conv_*.weight`` = W / (u^T W v) (folded;
norm hook)                                                 or ``parametrizations.weight.*`` with keep_spectral_norm)
``<blk>.conv_{0,1}.bias``                                  ``G.blocks.i.conv_*.bias``
``<blk>.norm_*.param_free_norm.*`` (SyncBN buffers)        ``G.blocks.i.norm_*.param_free_norm.*`` (BatchNorm2d)
``<blk>.norm_*.mlp_shared.0.*``                            ``G.blocks.i.norm_*.mlp_shared.*``
``<blk>.norm_*.mlp_{gamma,beta}.*``                        same under ``G.blocks.i``
``up_4.*`` (ADE20K only)                                   dropped: built by ``ADE20KGenerator`` but its forward
                                                           never calls it (the call is commented out)
E: ``layer{k}.0.weight_{orig,u,v}``                        ``E.layers.{k-1}.0.weight`` (folded)
E: ``fc_mu.*``, ``fc_var.*``                               ``E.fc_mu.*``, ``E.fc_var.*``
=========================================================  =======================================================

ADE20K's ``conv_img`` is 2*ngf wide because its up_3 outputs 2*ngf; the ``ade20k`` preset's block table has that
width, so no special case is needed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from torch import Tensor

from synthkit.convert.common import (
    ConversionReport,
    fold_spectral_norm,
    load_official_state,
    spectral_norm_to_parametrizations,
)
from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig

__all__ = [
    "OFFICIAL_BLOCK_NAMES",
    "UNUSED_OFFICIAL_MODULES",
    "convert_generator_state",
    "convert_encoder_state",
    "convert_state_dicts",
    "load_official_model",
    "convert_smis",
]

OFFICIAL_BLOCK_NAMES = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3")
UNUSED_OFFICIAL_MODULES = {
    "up_4": "ADE20KGenerator builds up_4 (2*ngf -> ngf) but its forward never calls it (commented out)",
}


def _official_to_synthkit(key: str, keep_spectral_norm: bool) -> str:
    """Where the value of one official key lands (a folded weight_orig/_u/_v triple lands on ``X.weight``)."""
    for suffix, param_name in (
        ("weight_orig", "parametrizations.weight.original"),
        ("weight_u", "parametrizations.weight.0._u"),
        ("weight_v", "parametrizations.weight.0._v"),
    ):
        if key.endswith("." + suffix):
            key = key[: -len(suffix)] + (param_name if keep_spectral_norm else "weight")
    return key


def _convert(
    state: Mapping[str, Tensor], rename, keep_spectral_norm: bool
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Fold (or rename) spectral norm, drop the unused modules, rename every other key with ``rename``."""
    report = ConversionReport()
    for key in state:
        module = key.split(".", 1)[0]
        if module in UNUSED_OFFICIAL_MODULES:
            report.dropped[key] = UNUSED_OFFICIAL_MODULES[module]
        else:
            report.converted[key] = rename(_official_to_synthkit(key, keep_spectral_norm))
    kept = {k: v for k, v in state.items() if k not in report.dropped}
    prepared = spectral_norm_to_parametrizations(kept) if keep_spectral_norm else fold_spectral_norm(kept)
    return {rename(k): v for k, v in prepared.items()}, report


def _rename_generator_key(key: str) -> str:
    block, _, rest = key.partition(".")
    if block in OFFICIAL_BLOCK_NAMES:
        return f"blocks.{OFFICIAL_BLOCK_NAMES.index(block)}.{rest.replace('mlp_shared.0.', 'mlp_shared.')}"
    return key  # fc.*, conv_img.*


def _rename_encoder_key(key: str) -> str:
    match = re.match(r"^layer(\d+)\.(.*)$", key)
    return f"layers.{int(match.group(1)) - 1}.{match.group(2)}" if match else key  # fc_mu.*, fc_var.*


def convert_generator_state(
    state: Mapping[str, Tensor], keep_spectral_norm: bool = False
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Official generator state_dict -> keys of ``GroupDNetGenerator`` (without the ``G.`` prefix)."""
    return _convert(state, _rename_generator_key, keep_spectral_norm)


def convert_encoder_state(
    state: Mapping[str, Tensor], keep_spectral_norm: bool = False
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Official ``ConvEncoder`` state_dict -> keys of ``GroupDNetEncoder`` (without the ``E.`` prefix)."""
    return _convert(state, _rename_encoder_key, keep_spectral_norm)


def convert_state_dicts(
    generator_state: Mapping[str, Tensor],
    encoder_state: Mapping[str, Tensor] | None = None,
    keep_spectral_norm: bool = False,
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Both official state_dicts -> one ``GroupDNet`` state_dict (``G.*`` and ``E.*``) and a report."""
    g_state, report = convert_generator_state(generator_state, keep_spectral_norm)
    state = {f"G.{k}": v for k, v in g_state.items()}
    report.converted = {k: f"G.{v}" for k, v in report.converted.items()}
    if encoder_state is not None:
        e_state, e_report = convert_encoder_state(encoder_state, keep_spectral_norm)
        state.update({f"E.{k}": v for k, v in e_state.items()})
        report.converted.update({f"E:{k}": f"E.{v}" for k, v in e_report.converted.items()})
    return state, report


def load_official_model(
    generator_state: Mapping[str, Tensor],
    encoder_state: Mapping[str, Tensor] | None = None,
    config: GroupDNetConfig | str = "deepfashion",
    keep_spectral_norm: bool = False,
) -> tuple[GroupDNet, ConversionReport]:
    """Build a ``GroupDNet`` holding the official weights, loaded strictly, in eval mode."""
    if isinstance(config, str):
        config = GroupDNetConfig.from_preset(config)
    # Folded weights need a model without spectral norm; kept ones need it.
    from dataclasses import replace

    config = replace(config, spectral_norm=keep_spectral_norm)
    state, report = convert_state_dicts(generator_state, encoder_state, keep_spectral_norm)
    model = GroupDNet(config, with_encoder=encoder_state is not None)
    reference = model.state_dict()
    unexpected = sorted(set(state) - set(reference))
    missing = sorted(set(reference) - set(state))
    wrong = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(reference[k].shape)}"
        for k, v in state.items()
        if k in reference and v.shape != reference[k].shape
    ]
    if unexpected or missing or wrong:
        raise ValueError(
            "the official checkpoint does not fit the GroupDNet preset; is it the right --preset "
            "(deepfashion, cityscapes, ade20k)?\n"
            f"  unexpected keys: {unexpected[:6]}{' ...' if len(unexpected) > 6 else ''}\n"
            f"  missing keys: {missing[:6]}{' ...' if len(missing) > 6 else ''}\n"
            f"  shape mismatches: {wrong[:4]}{' ...' if len(wrong) > 4 else ''}"
        )
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()}, strict=True)
    return model.eval(), report


def convert_smis(
    generator_pth: str | Path,
    encoder_pth: str | Path | None = None,
    preset: str = "deepfashion",
    out_dir: str | Path = "smis-converted",
    keep_spectral_norm: bool = False,
) -> Path:
    """Official ``latest_net_G.pth`` (+ ``latest_net_E.pth``) -> synthkit folder; prints the dropped keys.

    Writes ``config.json``, ``model.safetensors``, ``README.md`` (``GroupDNet.save_pretrained``) and
    ``conversion.json`` (official key -> synthkit key, dropped keys with reasons). Load it with
    ``synthkit.load(out_dir)``.
    """
    g_state = load_official_state(generator_pth, what="SMIS generator latest_net_G.pth")
    e_state = load_official_state(encoder_pth, what="SMIS encoder latest_net_E.pth") if encoder_pth else None
    model, report = load_official_model(g_state, e_state, preset, keep_spectral_norm)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(
        out,
        card={
            "description": f"SMIS / GroupDNet ({preset}) converted from the official Seanseattle/SMIS checkpoint.",
            "license": "cc-by-nc-sa-4.0",
            "paper": "smis",
            "paper_url": "https://arxiv.org/abs/2003.12697",
            "notes": "Weights by the SMIS authors (CC BY-NC-SA 4.0). Dropped official keys: see conversion.json.",
        },
    )
    (out / "conversion.json").write_text(report.to_json())
    for key, reason in report.dropped.items():
        print(f"dropped {key}: {reason}")
    return out
