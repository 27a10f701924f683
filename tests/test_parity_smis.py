"""Parity of synthkit's GroupDNet with the official SMIS networks (fixtures in ../shared/fixtures/parity/).

Each case holds an official state_dict (random weights, non-trivial BN statistics), the inputs of one forward call
and the official outputs. The converter maps the keys, the synthkit model loads them strictly and must reproduce
the outputs within 1e-4 (max abs diff). Without the fixtures folder (a user's clone) the tests skip; where the
folder exists a missing case file is a failure, never a skip.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from synthkit.convert.common import load_parity_case
from synthkit.convert.smis import convert_generator_state, convert_smis, infer_config, load_official_model
from synthkit.models.groupdnet import (
    GroupDNet,
    GroupDNetConfig,
    GroupDNetGenerator,
    class_crops,
    latent_from_official,
)

PARITY = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "parity"
TOL = 1e-4

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(not PARITY.is_dir(), reason=f"parity fixtures not found at {PARITY} (CI provides them)"),
]

GENERATOR_CASES = ("smis_deepfashion_tiny", "smis_cityscapes_tiny")  # converted with no preset: read from the keys


def _case(name: str):
    path = PARITY / f"{name}.safetensors"
    assert path.is_file(), f"{path} is missing although the fixtures folder exists"
    return load_parity_case(name, PARITY)


def _seg(case, config: GroupDNetConfig) -> torch.Tensor:
    seg = F.one_hot(case.inputs["label"][:, 0].long(), config.num_classes).permute(0, 3, 1, 2).float()
    if config.instance_edge:
        seg = torch.cat([seg, case.inputs["edge"].float()], dim=1)  # edge channel last, as the official input
    return seg


def test_every_smis_fixture_is_covered():
    cases = {p.stem for p in PARITY.glob("smis_*.safetensors")} | {p.stem for p in PARITY.glob("smis_*.json")}
    covered = set(GENERATOR_CASES) | {"smis_deepfashion_encoder_tiny", "smis_ade20k_manifest"}
    assert cases <= covered, f"SMIS fixtures without a parity test: {sorted(cases - covered)}"


@pytest.mark.parametrize(
    "name",
    [
        "smis_deepfashion_tiny",
        pytest.param("smis_cityscapes_tiny", marks=pytest.mark.slow),  # 35 groups x 1225 hidden at 256x512: ~10 s
    ],
)
def test_generator_parity(name):
    case = _case(name)
    model, report = load_official_model(case.state, None)  # the inference path: no preset
    # every official key was converted (nothing dropped for these classes)
    assert set(report.converted) == set(case.state) and not report.dropped
    assert model.config.cgnorm == case.meta["options"]["dataset_mode"]
    assert model.config.num_classes == case.meta["options"]["semantic_nc"]
    assert report.inferred["block_channels"]["source"].startswith("shapes")
    z = latent_from_official(case.inputs["z"], model.config.num_classes)
    with torch.no_grad():
        image = model.generate(z, _seg(case, model.config))
    assert image.shape == case.outputs["image"].shape
    diff = (image - case.outputs["image"]).abs().max().item()
    assert diff <= TOL, f"{name}: max abs diff {diff:.3g} > {TOL}"


def test_generator_parity_with_trainable_spectral_norm():
    # keep_spectral_norm=True loads weight_orig/u/v into torch parametrizations instead of folding them
    case = _case("smis_deepfashion_tiny")
    model, _ = load_official_model(case.state, None, keep_spectral_norm=True)
    assert any("parametrizations.weight.original" in k for k in model.state_dict())
    z = latent_from_official(case.inputs["z"], 8)
    with torch.no_grad():
        image = model.generate(z, _seg(case, model.config))
    assert (image - case.outputs["image"]).abs().max().item() <= TOL


def test_generator_parity_with_norm_cache():
    case = _case("smis_deepfashion_tiny")
    model, _ = load_official_model(case.state, None)
    z = latent_from_official(case.inputs["z"], 8)
    with torch.no_grad():
        cache = model.precompute_norm_params(_seg(case, model.config))
        image = model.generate(z, norm_cache=cache)
    assert (image - case.outputs["image"]).abs().max().item() <= TOL


def test_fast_generator_parity_one_off_and_cached():
    from synthkit.models.groupdnet_fast import FastGroupDNet

    case = _case("smis_deepfashion_tiny")
    model, _ = load_official_model(case.state, None)
    fast = FastGroupDNet(model)
    z = latent_from_official(case.inputs["z"], 8)
    seg = _seg(case, model.config)
    with torch.no_grad():
        for image in (fast.generate(z, seg), fast.generate(z, norm_cache=fast.precompute_norm_params(seg))):
            assert (image - case.outputs["image"]).abs().max().item() <= TOL


def test_encoder_parity():
    """Official ConvEncoder: per-class crops (trans_img) and grouped encoder -> mu, logvar."""
    e_case, g_case = _case("smis_deepfashion_encoder_tiny"), _case("smis_deepfashion_tiny")
    model, report = load_official_model(g_case.state, e_case.state)
    assert {k for k in report.converted if k.startswith("E:")} == {f"E:{k}" for k in e_case.state}
    seg = _seg(e_case, model.config)
    crops = class_crops(e_case.inputs["real_image"], seg, model.config.encoder_size)
    assert crops.shape == e_case.inputs["crops"].shape
    assert (crops - e_case.inputs["crops"]).abs().max().item() <= TOL  # the crops themselves match trans_img
    with torch.no_grad():
        mu, logvar = model.E(e_case.inputs["crops"])
        mu_img, logvar_img = model.encode(e_case.inputs["real_image"], seg)
    for name, ours in (("mu", mu), ("logvar", logvar), ("mu", mu_img), ("logvar", logvar_img)):
        official = latent_from_official(e_case.outputs[name], 8)  # [B, 8C, 4, 4] -> [B, C, 8, 4, 4]
        diff = (ours - official).abs().max().item()
        assert diff <= TOL, f"encoder {name}: max abs diff {diff:.3g}"


@pytest.mark.parametrize("keep_spectral_norm", [False, True])
def test_ade20k_manifest_keys_and_shapes(keep_spectral_norm):
    """Paper-size ADE20K: every official key is converted or dropped (up_4 only), and the converted names and
    shapes are exactly those of the ``ade20k`` preset. Tensors live on the meta device: nothing is allocated."""
    manifest = json.loads((PARITY / "smis_ade20k_manifest.json").read_text())
    shapes = manifest["state_shapes"]

    def meta(key, shape):
        dtype = torch.int64 if key.endswith("num_batches_tracked") else torch.float32
        return torch.empty(shape, dtype=dtype, device="meta")

    state = {k: meta(k, v) for k, v in shapes.items()}
    converted, report = convert_generator_state(state, keep_spectral_norm=keep_spectral_norm)
    assert set(report.converted) | set(report.dropped) == set(shapes)
    assert report.dropped and all(k.startswith("up_4.") for k in report.dropped)
    assert {k for k in shapes if k.startswith("up_4.")} == set(report.dropped)
    assert tuple(converted["conv_img.weight"].shape) == (3, 128, 3, 3)  # the 2*ngf-wide conv_img

    config = GroupDNetConfig.from_preset("ade20k", spectral_norm=keep_spectral_norm)
    # read from the keys alone (no preset), the architecture is the paper-size ADE20K one
    inferred = infer_config(state)
    for field in ("num_classes", "block_channels", "block_groups", "cgnorm", "image_size", "input_groups"):
        assert getattr(inferred, field) == getattr(config, field), field
    with torch.device("meta"):
        G = GroupDNetGenerator(config)
    expected = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in converted.items()}
    assert got == expected
    # nhidden rule for C = 151 (prime): 2C where C % G == 0 (G = 151 or 1), else C * G
    assert G.blocks[0].norm_0.mlp_shared.out_channels == 302  # head_0, G = 151
    assert G.blocks[1].norm_0.mlp_shared.out_channels == 151 * 16  # G_middle_0, G = 16
    assert G.blocks[6].norm_0.mlp_shared.out_channels == 302  # up_3, G = 1


def test_convert_smis_end_to_end_from_pth_files(tmp_path):
    """Official-format .pth files -> convert_smis -> synthkit.load -> same outputs as the official networks."""
    import synthkit

    g_case, e_case = _case("smis_deepfashion_tiny"), _case("smis_deepfashion_encoder_tiny")
    torch.save(g_case.state, tmp_path / "latest_net_G.pth")
    torch.save(e_case.state, tmp_path / "latest_net_E.pth")
    out = convert_smis(
        tmp_path / "latest_net_G.pth", tmp_path / "latest_net_E.pth", out_dir=tmp_path / "m"
    )
    assert {"config.json", "model.safetensors", "README.md", "conversion.json"} <= {p.name for p in out.iterdir()}
    model = synthkit.load(str(out))
    assert isinstance(model, GroupDNet) and model.E is not None and not model.training
    report = json.loads((out / "conversion.json").read_text())
    assert len(report["converted"]) == len(g_case.state) + len(e_case.state)
    z = latent_from_official(g_case.inputs["z"], 8)
    with torch.no_grad():
        image = model.generate(z, _seg(g_case, model.config))
        mu, logvar = model.E(e_case.inputs["crops"])
    assert (image - g_case.outputs["image"]).abs().max().item() <= TOL
    assert (mu - latent_from_official(e_case.outputs["mu"], 8)).abs().max().item() <= TOL
    assert (logvar - latent_from_official(e_case.outputs["logvar"], 8)).abs().max().item() <= TOL


def test_preset_is_only_a_check():
    case = _case("smis_deepfashion_tiny")
    with pytest.raises(ValueError, match=r"not the 'cityscapes' preset[\s\S]*cgnorm: checkpoint 'deepfashion'"):
        load_official_model(case.state, None, "cityscapes")
    # the official width (ngf 160) is not this checkpoint's: the check names the widths
    with pytest.raises(ValueError, match=r"not the 'deepfashion' preset[\s\S]*block_channels: checkpoint \(128,"):
        load_official_model(case.state, None, "deepfashion")
