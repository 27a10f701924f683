"""What every paper's config shares: one way to get a preset, one name per shared field.

Each model file defines a frozen ``@dataclass`` config that inherits :class:`PresetConfig`, and a module-level
``PRESETS: dict[str, Config]`` (official sizes, Toyscapes sizes, ``tiny_test``). Then, for every paper::

    cfg = GroupDNetConfig.from_preset("toyscapes64", lr_g=2e-4)     # unknown names -> ValueError listing valid ones

The shared field names and their meaning are tabled in CONTRIBUTING.md ("One config vocabulary"). Fields that were
renamed when the vocabulary was unified are in ``RENAMED_FIELDS``: older ``config.json`` files and recorded
``--set`` commands that use the old name still load, with a warning naming the new one.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import asdict, fields, replace
from typing import Any, Mapping, TypeVar

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
