"""Parity with the official BachGAN generator (fixture ``bachgan_tiny`` in ../shared/fixtures/parity/).

The fixture holds a random-weight official ``SPADEGenerator`` (retrieval-memory mode, ngf 8, 35 classes, 128x256),
its inputs and its outputs. The converter + ``BachGANGenerator`` must reproduce both outputs within 1e-4.
"""
from __future__ import annotations

import pytest
import torch

from synthkit.convert.bachgan import (
    UNUSED_OFFICIAL_MODULES,
    convert_bachgan,
    convert_state_dict,
    infer_config,
    load_official_generator,
)
from synthkit.convert.common import load_parity_case, parity_dir
from synthkit.models.bachgan import BachGANConfig, BachGANGenerator

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(not parity_dir().is_dir(), reason=f"parity fixtures not found at {parity_dir()} (user clone)"),
]
TOL = 1e-4


def _write_opt_txt(options: dict, path) -> None:
    """The run's options in the layout of the official ``save_options`` (right-aligned names, ``name: value``)."""
    path.write_text("".join(f"{k:>25}: {v!s:<30}\n" for k, v in sorted(options.items())))


def _tiny_config(meta: dict) -> BachGANConfig:
    """The architecture as the converter reads it from the fixture's state and the run's options (no preset, no
    width typed here)."""
    return infer_config(load_parity_case("bachgan_tiny").state, opt=meta["options"])


@pytest.fixture(scope="module")
def case():
    return load_parity_case("bachgan_tiny")


def test_bachgan_tiny_matches_official_outputs(case):
    # the inference path: architecture from the state's shapes, image size and upsampling mode from the options
    G, report = load_official_generator(case.state, opt=case.meta["options"])
    assert report.inferred["base_channels"]["source"].startswith("shapes")
    assert (G.config.height, G.config.width) == tuple(case.meta["shapes"]["image"][2:])
    box_layout = case.inputs["box_layout"].float()
    retrieved = case.inputs["retrieved"].float()
    with torch.no_grad():
        image, seg_logprob = G(box_layout, retrieved)
    assert image.shape == case.outputs["image"].shape
    assert (image - case.outputs["image"]).abs().max().item() <= TOL
    assert (seg_logprob - case.outputs["seg_logprob"]).abs().max().item() <= TOL
    # every official key was used: nothing dropped in the fixture (it leaves the unused modules out)
    assert set(report.converted) == set(case.state)
    assert not report.dropped


def test_folded_spectral_norm_keeps_parity(case):
    G, _ = load_official_generator(case.state, _tiny_config(case.meta))
    G.fold_spectral_norm()
    assert not any("parametrizations" in k for k in G.state_dict())
    with torch.no_grad():
        fused = G.fuse(case.inputs["box_layout"].float(), case.inputs["retrieved"].float())
        image, seg = G.decode(fused, with_seg=False)
    assert seg is None
    assert (image - case.outputs["image"]).abs().max().item() <= TOL


def _full_official_state(case) -> dict[str, torch.Tensor]:
    """The fixture's state plus the unused FCN modules at their recorded shapes, as in a real checkpoint."""
    state = dict(case.state)
    gen = torch.Generator().manual_seed(0)
    for key, shape in case.meta["unused_state_shapes"].items():
        state[key] = torch.randn(shape, generator=gen)
    return state


def test_unused_official_modules_are_dropped_with_reasons(case):
    state = _full_official_state(case)
    new_state, report = convert_state_dict(state, _tiny_config(case.meta))
    assert set(report.dropped) == set(case.meta["unused_state_shapes"])
    assert all(report.dropped[k] == UNUSED_OFFICIAL_MODULES[k.split(".")[0]] for k in report.dropped)
    # key coverage: converted keys are exactly the synthkit generator's state_dict
    assert set(new_state) == set(BachGANGenerator(_tiny_config(case.meta)).state_dict())
    assert len(report.converted) + len(report.dropped) == len(state)


def test_convert_bachgan_pth_to_folder_and_reload(case, tmp_path):
    """A real-layout checkpoint (with the unused FCN modules) and its opt.txt in one folder: no preset, no
    overrides; the converter reads the architecture from the keys and the size from opt.txt."""
    pth = tmp_path / "60_net_G.pth"
    torch.save(_full_official_state(case), pth)
    _write_opt_txt(case.meta["options"], tmp_path / "opt.txt")
    out = convert_bachgan(pth, out_dir=tmp_path / "converted")
    assert {"config.json", "model.safetensors", "README.md", "conversion.json"} <= {p.name for p in out.iterdir()}
    G = BachGANGenerator.from_pretrained(out)
    with torch.no_grad():
        image, _ = G(case.inputs["box_layout"].float(), case.inputs["retrieved"].float())
    assert (image - case.outputs["image"]).abs().max().item() <= TOL


def test_wrong_preset_gives_clear_error(case):
    wrong = BachGANConfig(num_classes=35, base_channels=16, height=128, width=256)
    with pytest.raises(ValueError, match="base width"):
        convert_state_dict(case.state, wrong)
    with pytest.raises(ValueError, match=r"not the 'cityscapes' preset[\s\S]*base_channels: checkpoint 8, preset 64"):
        load_official_generator(case.state, "cityscapes", opt=case.meta["options"])
    missing = {k: v for k, v in case.state.items() if not k.startswith("up_3.")}
    with pytest.raises(ValueError, match="missing synthkit keys"):
        convert_state_dict(missing, _tiny_config(case.meta))
