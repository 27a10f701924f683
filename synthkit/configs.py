"""What every paper's config shares: one way to get a preset, one name per shared field.

Each model file defines a frozen ``@dataclass`` config that inherits :class:`PresetConfig`, and a module-level
``PRESETS: dict[str, Config]`` (official sizes, Toyscapes sizes, ``tiny_test``). Then, for every paper::

    cfg = GroupDNetConfig.from_preset("toyscapes64", lr_g=2e-4)     # unknown names -> ValueError listing valid ones

The shared field names and their meaning are tabled in CONTRIBUTING.md ("One config vocabulary"). Fields that were
renamed when the vocabulary was unified are in ``RENAMED_FIELDS``: older ``config.json`` files and recorded
``--set`` commands that use the old name still load, with a warning naming the new one.
"""
from __future__ import annotations

import json
import sys
import types
import typing
import warnings
from dataclasses import asdict, fields, replace
from typing import Any, Literal, Mapping, Sequence, TypeVar

C = TypeVar("C", bound="PresetConfig")

# old name -> new name (the unified vocabulary, synthkit 0.x -> now)
RENAMED_FIELDS: dict[str, str] = {
    "disc_channels": "d_base_channels",  # GroupDNet
    "disc_layers": "d_layers",  # GroupDNet
    "disc_scales": "d_scales",  # GroupDNet
    "d_num_layers": "d_layers",  # BachGAN
    "d_num_scales": "d_scales",  # BachGAN
    "lambda_vgg": "lambda_perceptual",  # BachGAN (the backbone is not always a VGG)
    "train_images": "dataset_length",  # GroupDNet
    "data_seed": "seed",  # toy
}


def rename_legacy_fields(values: Mapping[str, Any], valid: set[str], where: str) -> dict[str, Any]:
    """Map old field names in ``values`` to the current ones (only where the new name is a field of the target)."""
    out = dict(values)
    for old, new in RENAMED_FIELDS.items():
        if old in out and old not in valid and new in valid:
            if new in out:
                raise ValueError(f"{where}: both {old!r} (old name) and {new!r} are given; keep {new!r}")
            warnings.warn(f"{where}: {old!r} is now called {new!r}", FutureWarning, stacklevel=3)
            out[new] = out.pop(old)
    return out


class PresetConfig:
    """Mixin for a paper's frozen dataclass config: ``from_preset``, ``presets``, ``to_dict``."""

    @classmethod
    def presets(cls: type[C]) -> dict[str, C]:
        """The named presets: the ``PRESETS`` dict of the module that defines the class."""
        presets = getattr(sys.modules[cls.__module__], "PRESETS", None)
        if not isinstance(presets, Mapping):
            raise TypeError(f"{cls.__module__} defines no PRESETS dict for {cls.__name__}")
        return dict(presets)

    @classmethod
    def from_preset(cls: type[C], name: str, **overrides: Any) -> C:
        """The preset ``name`` with some fields replaced; a clear ValueError for an unknown preset or field."""
        presets = cls.presets()
        if name not in presets:
            model = cls.__name__.removesuffix("Config")
            raise ValueError(f"unknown {model} preset {name!r}; valid presets: {', '.join(presets)}")
        valid = {f.name for f in fields(cls)}
        overrides = rename_legacy_fields(overrides, valid, f"{cls.__name__}.from_preset")
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields: {sorted(valid)}")
        return replace(presets[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- typed values of `--set key=value` (and of a --config file's strings) -----------------------------------------


def _parse_value(text: str, tp: Any, key: str) -> Any:
    """Parse the string of ``--set key=text`` into the type of the dataclass field ``key``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):  # Optional[X], X | None
        if type(None) in args and text.strip().lower() in ("none", "null"):
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _parse_value(text, a, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        for a in args:
            if str(a) == text:
                return a
        raise ValueError(f"--set {key}={text}: must be one of {', '.join(map(str, args))}")
    if tp is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={text}: expected true or false")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"--set {key}={text}: expected an int") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"--set {key}={text}: expected a number") from None
    if tp is str:
        return text
    if tp is tuple or origin is tuple:
        parts = [p.strip() for p in text.strip().strip("()[]").split(",") if p.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse_value(p, args[0], key) for p in parts)
        if args and len(args) != len(parts):
            raise ValueError(f"--set {key}={text}: expected {len(args)} comma-separated values")
        return tuple(_parse_value(p, a, key) for p, a in zip(parts, args or [str] * len(parts)))
    try:  # anything else (Any, lists, ...): JSON, else the raw string
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(overrides: Sequence[str] | Mapping[str, Any] | None) -> dict[str, str | Any]:
    """``["lr_g=1e-4", "betas=0,0.99"]`` -> ``{"lr_g": "1e-4", "betas": "0,0.99"}`` (values parsed later)."""
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    out: dict[str, str] = {}
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like KEY=VALUE (e.g. --set lr_g=1e-4)")
        out[key.strip()] = value.strip()
    return out
