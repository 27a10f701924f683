"""Tests of the Places365 VGG-16 converter (synthkit.convert.places365).

No Places365 file is available offline, so the tests write real ``.pth`` files holding state_dicts with the key
names and shapes of the two spellings in circulation (torchvision ``features.N`` and Caffe ``convS_K`` / ``fc8a``).
To keep the 134M-parameter files small on disk, each tensor is a stride-0 ``expand`` of a small base that encodes
which layer (and which position) it came from; ``torch.save`` stores only the base, ``torch.load`` restores the view,
so every key and shape is the real one.
"""
from __future__ import annotations

import json

import pytest
import torch

from synthkit.convert.places365 import (
    CAFFE_MEAN_BGR,
    NUM_CLASSES,
    build_vgg16_places365,
    caffe_input,
    convert_places365,
    convert_state_dict,
    expected_shapes,
    places365_key_to_torchvision,
)

TV_TO_CAFFE = {
    **{f"features.{i}": n for i, n in zip((0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
                                          ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
                                           "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"])},
    "classifier.0": "fc6", "classifier.3": "fc7", "classifier.6": "fc8a",
}


def _tag(tv_key: str) -> float:
    """A distinct value per torchvision key (its position in the state_dict, + 0.5 for biases)."""
    keys = list(expected_shapes())
    return float(keys.index(tv_key)) + (0.5 if tv_key.endswith("bias") else 0.0)


def _lazy(shape: tuple[int, ...], value: float) -> torch.Tensor:
    return torch.full((1,) * len(shape), value).expand(*shape)  # real shape, 4 bytes of storage


def _state(spelling: str, fc6_4d: bool = False) -> dict[str, torch.Tensor]:
    state = {}
    for key, shape in expected_shapes().items():
        module, param = key.rsplit(".", 1)
        name = key if spelling == "torchvision" else f"{TV_TO_CAFFE[module]}.{param}"
        if fc6_4d and key == "classifier.0.weight":
            # Caffe fc6 as a 7x7 convolution; its (C, H, W) positions numbered so the flatten order can be checked
            base = torch.arange(512 * 7 * 7, dtype=torch.float32).view(1, 512, 7, 7)
            state[name] = base.expand(4096, 512, 7, 7)
        else:
            state[name] = _lazy(shape, _tag(key))
    return state


def test_key_map_of_both_spellings():
    assert places365_key_to_torchvision("conv1_1.weight") == "features.0.weight"
    assert places365_key_to_torchvision("conv3_3.bias") == "features.14.bias"
    assert places365_key_to_torchvision("conv5_3.weight") == "features.28.weight"
    assert places365_key_to_torchvision("fc7.bias") == "classifier.3.bias"
    assert places365_key_to_torchvision("fc8a.weight") == "classifier.6.weight"
    assert places365_key_to_torchvision("module.features.24.weight") == "features.24.weight"
    assert places365_key_to_torchvision("fc8.running_mean") is None
    assert places365_key_to_torchvision("layer1.0.conv1.weight") is None


@pytest.mark.parametrize("spelling", ["torchvision", "caffe"])
def test_real_pth_converts_and_loads_strictly_into_torchvision_vgg16(tmp_path, spelling):
    path = tmp_path / "vgg16_places365.pth"
    torch.save(_state(spelling), path)
    assert path.stat().st_size < 1_000_000  # the stride-0 trick: shapes are real, storage is not
    from synthkit.convert.common import load_official_state

    state = load_official_state(path)
    net = build_vgg16_places365(state)
    assert net.classifier[6].out_features == NUM_CLASSES
    sd = net.state_dict()
    for key in expected_shapes():
        assert sd[key].flatten()[0].item() == _tag(key), key  # each tensor landed in its own slot
    assert net.classifier[0].in_features == 512 * 7 * 7 and not net.training


def test_caffe_fc6_as_7x7_kernel_is_flattened_in_torchvision_order():
    converted, report = convert_state_dict(_state("caffe", fc6_4d=True))
    w = converted["classifier.0.weight"]
    assert w.shape == (4096, 25088)
    # torchvision flattens avgpool(x) [B, 512, 7, 7] as (C, H, W): column c*49 + h*7 + w must hold kernel[c, h, w]
    assert torch.equal(w[0], torch.arange(25088, dtype=torch.float32))
    assert w[4095, 7 * 49 + 3 * 7 + 2].item() == 7 * 49 + 3 * 7 + 2
    assert report.converted["fc6.weight"] == "classifier.0.weight"
    assert len(report.converted) == len(expected_shapes())


def test_wrong_files_are_refused_with_what_is_wrong(tmp_path):
    imagenet = _state("torchvision")
    imagenet["classifier.6.weight"] = _lazy((1000, 4096), 0.0)
    imagenet["classifier.6.bias"] = _lazy((1000,), 0.0)
    with pytest.raises(ValueError, match=r"classifier.6.weight.*\(1000, 4096\).*\(365, 4096\)"):
        convert_state_dict(imagenet)
    partial = {k: v for k, v in _state("caffe").items() if not k.startswith("conv5_3")}
    with pytest.raises(ValueError, match="missing 'features.28.weight'"):
        convert_state_dict(partial)
    extra = dict(_state("torchvision"), **{"fc9.weight": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="unexpected key 'fc9.weight'"):
        convert_state_dict(extra)
    with pytest.raises(FileNotFoundError, match="Places365 VGG-16"):
        convert_places365(tmp_path / "nope.pth", tmp_path / "out")


def test_pickled_code_in_the_file_is_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Evil()}, path)
    with pytest.raises(Exception):
        convert_places365(path, tmp_path / "out")
    assert not marker.exists()


def test_caffe_input_convention():
    x = torch.tensor([1.0, 0.0, -1.0]).view(1, 3, 1, 1)  # R = 255, G = 127.5, B = 0
    y = caffe_input(x).flatten().tolist()
    assert y == pytest.approx([0 - CAFFE_MEAN_BGR[0], 127.5 - CAFFE_MEAN_BGR[1], 255 - CAFFE_MEAN_BGR[2]])
    with pytest.raises(ValueError, match="RGB"):
        caffe_input(torch.zeros(3, 4, 4))


@pytest.mark.slow
def test_convert_places365_writes_safetensors_and_report(tmp_path):
    path = tmp_path / "vgg16_places365.pth"
    torch.save(_state("caffe"), path)
    out, report = convert_places365(path, tmp_path / "out")
    from safetensors.torch import load_file

    weights = load_file(str(out / "model.safetensors"))
    assert {k: tuple(v.shape) for k, v in weights.items()} == expected_shapes()
    assert weights["classifier.6.bias"][0].item() == _tag("classifier.6.bias")
    meta = json.loads((out / "conversion.json").read_text())
    assert meta["converted"]["fc8a.weight"] == "classifier.6.weight" and "BGR" in meta["input"]
