"""Pieces shared by the official-checkpoint converters (SMIS, BachGAN, ...).

- :func:`load_official_state`: an official ``.pth`` state_dict, read with ``torch.load(weights_only=True)``.
- :func:`fold_spectral_norm`: old hook-API spectral norm (``X.weight_orig``, ``X.weight_u``, ``X.weight_v``) ->
  one plain ``X.weight = W / sigma``, sigma = u^T W v. This is what the old hook computes in eval mode, so a model
  without spectral norm that loads the folded weight gives the same outputs (and skips the per-call division).
- :func:`spectral_norm_to_parametrizations`: the same three tensors renamed for
  ``torch.nn.utils.parametrizations.spectral_norm`` (keeps spectral norm trainable).
- :class:`ConversionReport`: which official key went where, which were dropped and why, and which source (the
  checkpoint's shapes, ``opt.txt``, an argument, an official default) decided each architecture field.
- :func:`read_opt_txt`, :func:`find_opt_txt`: the options file the official SPADE-family code writes beside its
  checkpoints (``checkpoints/<name>/opt.txt``).
- :class:`ConversionError`: a checkpoint that cannot be mapped; the message names the file, the key or the field.
- :func:`parity_dir`, :func:`load_parity_case`: read the parity fixtures (``../shared/fixtures/parity/``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor

__all__ = [
    "ConversionReport",
    "ConversionError",
    "read_opt_txt",
    "find_opt_txt",
    "semantic_nc_from_opt",
    "check_opt_classes",
    "image_size_from_opt",
    "load_official_state",
    "fold_spectral_norm",
    "spectral_norm_to_parametrizations",
    "parity_dir",
    "load_parity_case",
    "ParityCase",
]

_SN_SUFFIXES = ("weight_orig", "weight_u", "weight_v")


class ConversionError(ValueError):
    """An official checkpoint that cannot be converted as it is: the message says which file, key or field, and
    what to pass or check. Nothing was loaded."""


@dataclass
class ConversionReport:
    """What happened to each official key, and where each architecture field came from."""

    converted: dict[str, str] = field(default_factory=dict)  # official key -> synthkit key
    dropped: dict[str, str] = field(default_factory=dict)  # official key -> reason
    # config field -> {"value": ..., "source": "shapes: fc.weight [128, 8, 3, 3]" | "opt.txt: ngf" | ...}
    inferred: dict[str, dict] = field(default_factory=dict)

    def decide(self, name: str, value, source: str):
        """Record that ``source`` decided config field ``name`` = ``value``; returns ``value``."""
        self.inferred[name] = {"value": value, "source": source}
        return value

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=str)

    def table(self) -> str:
        """One line per inferred field: name, value, source (what ``synthkit convert`` prints)."""
        if not self.inferred:
            return ""
        width = max(len(k) for k in self.inferred)
        return "\n".join(f"  {k:<{width}}  {v['value']!s:<24} <- {v['source']}" for k, v in self.inferred.items())


# ---------------------------------------------------------------------------------------------------------------------
# the official options file


def _opt_value(text: str):
    text = text.strip()
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def read_opt_txt(path: str | Path) -> dict:
    """The options of an official SPADE / SMIS / BachGAN run, from the ``opt.txt`` its training wrote.

    The file has one ``name: value`` line per option (right-aligned names, a ``[default: ...]`` note where the value
    differs from the default). Numbers and booleans are parsed; everything else stays a string. A file with no
    such line is an error naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected the opt.txt of an official training run)")
    opts: dict = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("-----") or ":" not in line:
            continue
        name, _, rest = line.partition(":")
        name = name.strip()
        if not name or " " in name:
            continue
        opts[name] = _opt_value(rest.split("\t[default:", 1)[0])
    if not opts:
        raise ConversionError(f"{path}: no 'name: value' option lines; is it the opt.txt of an official run?")
    return opts


def find_opt_txt(checkpoint: str | Path) -> Path | None:
    """``opt.txt`` beside a checkpoint (the official code saves both in ``checkpoints/<name>/``), or None."""
    candidate = Path(checkpoint).resolve().parent / "opt.txt"
    return candidate if candidate.is_file() else None


def semantic_nc_from_opt(opt: Mapping, edge_counted: bool = True) -> int | None:
    """The class count an official run used: ``semantic_nc`` where the options hold it, else the official rule
    label_nc + 1 with a don't-care label + 1 for the instance-edge channel (not counted where the code does not,
    SMIS on Cityscapes: ``edge_counted=False``). None when the options do not say (no label_nc / no_instance)."""
    if "semantic_nc" in opt:
        return int(opt["semantic_nc"])
    if "label_nc" not in opt or "no_instance" not in opt:
        return None
    nc = int(opt["label_nc"]) + int(bool(opt.get("contain_dontcare_label", False)))
    if edge_counted and not opt["no_instance"]:
        nc += 1
    return nc


def check_opt_classes(opt: Mapping, num_classes: int, edge_counted: bool = True) -> None:
    """ConversionError when the class count the options give is not the checkpoint's (an opt.txt of another run)."""
    nc = semantic_nc_from_opt(opt, edge_counted)
    if nc is not None and nc != num_classes:
        raise ConversionError(f"opt.txt gives semantic_nc {nc} (label_nc {opt.get('label_nc')}, contain_dontcare_label "
                              f"{opt.get('contain_dontcare_label', False)}, no_instance {opt.get('no_instance')}) "
                              f"but the checkpoint has {num_classes} classes: is this opt.txt from the same run?")


_UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}


def image_size_from_opt(opt: Mapping) -> tuple[int, int] | None:
    """(H, W) of the official generator: ``sw = crop_size // 2**n``, ``sh = round(sw / aspect_ratio)``, times 2**n
    (n = 5, 6, 7 for num_upsampling_layers normal / more / most). None when opt has no crop_size."""
    if "crop_size" not in opt:
        return None
    n = _UPSAMPLINGS.get(str(opt.get("num_upsampling_layers", "more")))
    if n is None:
        raise ConversionError(f"opt.txt: num_upsampling_layers {opt['num_upsampling_layers']!r} is not one of "
                              f"{sorted(_UPSAMPLINGS)}")
    sw = int(opt["crop_size"]) // 2**n
    sh = round(sw / float(opt.get("aspect_ratio", 1.0)))
    if sw < 1 or sh < 1:
        raise ConversionError(f"opt.txt: crop_size {opt['crop_size']} is too small for {2**n}x upsampling")
    return sh * 2**n, sw * 2**n


def load_official_state(path: str | Path, what: str = "checkpoint") -> dict[str, Tensor]:
    """An official ``state_dict`` from a ``.pth`` file, weights-only, tensors only.

    Uses ``synthkit.hub.load_official_pth`` (``torch.load(weights_only=True)``: no pickled code runs).
    ``what`` names the expected file in the error message.
    """
    from synthkit.hub import load_official_pth

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected the official {what})")
    state = load_official_pth(path)
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} does not hold a state_dict (got {type(state).__name__}); expected the {what}")
    return {k: v for k, v in state.items() if isinstance(v, Tensor)}


def _sn_prefixes(state: Mapping[str, Tensor]) -> list[str]:
    """'a.b.' for every 'a.b.weight_orig' ('' for a bare module's 'weight_orig')."""
    return [k[: -len("weight_orig")] for k in state if k == "weight_orig" or k.endswith(".weight_orig")]


def fold_spectral_norm(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Replace each ``X.weight_orig/_u/_v`` triple by ``X.weight = W / sigma`` with sigma = u^T (W_mat v).

    W_mat is W reshaped to [out, -1] (``torch.nn.utils.spectral_norm`` with dim=0, the default for Conv2d and
    Linear). Eval mode of the old hook uses the stored u, v without a power iteration, so this is exact.
    Other keys pass through unchanged.
    """
    out = dict(state)
    for prefix in _sn_prefixes(state):
        try:
            w, u, v = (out.pop(f"{prefix}{s}") for s in _SN_SUFFIXES)
        except KeyError as err:
            raise ValueError(f"spectral-norm key {err} missing for {prefix!r}: the checkpoint is incomplete") from None
        w64 = w.double()
        sigma = torch.dot(u.double(), w64.reshape(w.shape[0], -1) @ v.double())  # sigma = u^T W v
        out[f"{prefix}weight"] = (w64 / sigma).to(w.dtype)
    return out


def spectral_norm_to_parametrizations(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename ``X.weight_{orig,u,v}`` to ``X.parametrizations.weight.{original,0._u,0._v}``."""
    new_names = ("parametrizations.weight.original", "parametrizations.weight.0._u", "parametrizations.weight.0._v")
    out = {}
    for key, value in state.items():
        for old, new in zip(_SN_SUFFIXES, new_names):
            if key == old or key.endswith("." + old):
                key = key[: -len(old)] + new
                break
        out[key] = value
    return out


# ---------------------------------------------------------------------------------------------------------------------
# parity fixtures


def parity_dir() -> Path:
    """``<repo root>/../shared/fixtures/parity`` (may not exist in a user's clone)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "parity"


@dataclass
class ParityCase:
    """One fixture: official state_dict (float16 upcast to float32), inputs, outputs and its json metadata."""

    state: dict[str, Tensor]
    inputs: dict[str, Tensor]
    outputs: dict[str, Tensor]
    meta: dict


def load_parity_case(name: str, folder: str | Path | None = None) -> ParityCase:
    """Read ``<name>.safetensors`` + ``<name>.json``. Floating tensors are upcast to float32 (see the README)."""
    from safetensors.torch import load_file

    folder = Path(folder) if folder is not None else parity_dir()
    tensors = load_file(str(folder / f"{name}.safetensors"))
    meta_path = folder / f"{name}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}

    def part(prefix: str) -> dict[str, Tensor]:
        return {
            k[len(prefix):]: (v.float() if v.is_floating_point() else v)
            for k, v in tensors.items()
            if k.startswith(prefix)
        }

    return ParityCase(part("state."), part("input."), part("output."), meta)
