"""synthkit.devices.resolve_device: 'auto' picks the best available device; loaders accept it."""
from __future__ import annotations

import pytest
import torch

from synthkit.devices import resolve_device


def test_auto_is_the_best_available_device():
    want = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() and torch.backends.mps.is_built() else "cpu")
    assert resolve_device("auto").type == want and resolve_device(None).type == want
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("meta")).type == "meta"


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu'"):
        resolve_device("gpu0")


def test_loaders_accept_auto():
    from synthkit.backbones import load_backbone
    from synthkit.pipelines.controllable3d import load_controllable3d

    auto = resolve_device("auto")
    assert next(load_backbone("toyscapes", device="auto").parameters()).device.type == auto.type
    assert next(load_controllable3d(device="auto").G.parameters()).device.type == auto.type
