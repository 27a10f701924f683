"""StyleGAN2 against rosinality/stylegan2-pytorch's own outputs (../shared/fixtures/parity/stylegan2_rosinality_64),
and the converter on rosinality-format .pt files: local, from an offline Hugging Face cache, of other sizes."""
from __future__ import annotations

import argparse
import hashlib
import re

import pytest
import torch

from synthkit.convert.common import ConversionReport

import synthkit
from synthkit.convert.common import load_parity_case, parity_dir
from synthkit.convert.stylegan2 import (
    config_from_state,
    convert_stylegan2,
    load_rosinality_generator,
    read_rosinality_checkpoint,
)
from synthkit.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

TOL = 1e-4
needs_fixtures = pytest.mark.skipif(not parity_dir().is_dir(),
                                    reason=f"parity fixtures not found at {parity_dir()} (user clone)")


@pytest.fixture(scope="module")
def case():
    return load_parity_case("stylegan2_rosinality_64")


def _noise(case, n):
    return [case.inputs[f"noise_{i}"] for i in range(n)]


@needs_fixtures
@pytest.mark.parity
def test_z_wplus_and_explicit_noise_match_the_official_outputs(case):
    G, report = load_rosinality_generator(case.state)
    assert set(report.converted) == set(case.state) and not report.dropped  # every official key has a home
    cfg = G.config
    opts = case.meta["options"]
    assert (cfg.image_size, cfg.style_dim, cfg.n_mlp, cfg.n_latent) == (opts["size"], opts["style_dim"],
                                                                          opts["n_mlp"], opts["n_latent"])
    assert list(cfg.channels) == [opts["channels"][str(2**i)] for i in range(2, 7)]  # read from the keys
    with torch.no_grad():
        w = G.map(case.inputs["z"])
        assert (w - case.outputs["w"]).abs().max().item() <= TOL
        image = G.synthesis(w[:, None].repeat(1, cfg.n_latent, 1), _noise(case, cfg.num_noise))
        assert (image - case.outputs["image"]).abs().max().item() <= TOL
        image_wplus = G.synthesis(case.inputs["wplus"], _noise(case, cfg.num_noise))
        assert (image_wplus - case.outputs["image_wplus"]).abs().max().item() <= TOL
        # the noise input matters: the stored noise buffers give another image
        assert (G.synthesis(case.inputs["wplus"], "const") - case.outputs["image_wplus"]).abs().max().item() > TOL


@needs_fixtures
@pytest.mark.parity
def test_convert_a_pt_file_to_a_folder_and_reload(case, tmp_path):
    pt = tmp_path / "stylegan2-64.pt"
    args = argparse.Namespace(size=64, channel_multiplier=1)  # what rosinality's train.py saves beside the weights
    torch.save({"g_ema": case.state, "latent_avg": torch.zeros(64), "args": args}, pt)
    out = convert_stylegan2(pt, tmp_path / "sg2")
    G = synthkit.load(out)
    assert isinstance(G, StyleGAN2Generator)
    with torch.no_grad():
        image = G.synthesis(case.inputs["wplus"], _noise(case, G.config.num_noise))
    assert (image - case.outputs["image_wplus"]).abs().max().item() <= TOL
    assert "latent_avg" in (out / "conversion.json").read_text()


@needs_fixtures
@pytest.mark.parity
def test_convert_from_an_offline_hugging_face_cache(case, tmp_path, monkeypatch):
    from huggingface_hub import constants

    pt = tmp_path / "src.pt"
    torch.save({"g_ema": case.state}, pt)
    cache, revision = tmp_path / "hf", "0" * 40
    repo = cache / "models--synthkit-test--stylegan2-tiny"
    digest = hashlib.sha256(pt.read_bytes()).hexdigest()
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / digest).write_bytes(pt.read_bytes())
    (repo / "snapshots" / revision / "weights").mkdir(parents=True)
    (repo / "snapshots" / revision / "weights" / "g64.pt").symlink_to(f"../../../blobs/{digest}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for name, value in (("HF_HUB_OFFLINE", True), ("HF_HUB_CACHE", str(cache))):
        monkeypatch.setenv(name, "1" if value is True else value)
        monkeypatch.setattr(constants, name, value)
    out = convert_stylegan2("synthkit-test/stylegan2-tiny/weights/g64.pt", tmp_path / "out", sha256=digest)
    G = synthkit.load(out)
    with torch.no_grad():
        image = G.synthesis(case.inputs["wplus"], _noise(case, G.config.num_noise))
    assert (image - case.outputs["image_wplus"]).abs().max().item() <= TOL
    from synthkit.hub import CheckpointNotAvailable

    with pytest.raises(CheckpointNotAvailable, match="not in the local Hugging Face cache"):
        convert_stylegan2("synthkit-test/stylegan2-tiny/weights/missing.pt", tmp_path / "none")


def _to_rosinality(G: StyleGAN2Generator) -> dict[str, torch.Tensor]:
    """The inverse key map: a synthkit generator's state_dict under rosinality's names."""
    out = {}
    for key, value in G.state_dict().items():
        m = re.fullmatch(r"mapping\.(\d+)\.(weight|bias)", key)
        if m:
            key = f"style.{int(m.group(1)) + 1}.{m.group(2)}"
        elif key == "const":
            key = "input.input"
        elif key.startswith("conv4."):
            key = "conv1." + key[6:]
        elif key.startswith("to_rgb4."):
            key = "to_rgb1." + key[8:]
        elif key.startswith("noise_"):
            key = "noises." + key
        out[key] = value
    return out


@pytest.mark.parametrize("size, style_dim, n_mlp, channels", [
    (32, 24, 3, (20, 12, 12, 8)),
    (128, 32, 1, (16, 16, 16, 8, 8, 4)),
])
def test_any_size_and_width_is_read_from_the_keys(size, style_dim, n_mlp, channels):
    torch.manual_seed(1)
    src = StyleGAN2Generator(StyleGAN2Config(image_size=size, style_dim=style_dim, n_mlp=n_mlp, channels=channels))
    state = _to_rosinality(src)
    report = ConversionReport()
    cfg = config_from_state(state, report=report)
    assert (cfg.image_size, cfg.style_dim, cfg.n_mlp, cfg.channels) == (size, style_dim, n_mlp, channels)
    assert report.inferred["channel_multiplier"]["value"] == "custom widths"
    assert report.inferred["style_dim"]["source"].startswith("shapes")
    G, _ = load_rosinality_generator(state)
    z = torch.randn(2, style_dim)
    with torch.no_grad():
        assert torch.equal(G(z, "const"), src.eval()(z, "const"))


def test_channel_multiplier_is_recognised():
    """rosinality's own table (512 to 32 px, then 256 x cm at 64 px) is recognised as channel_multiplier 2."""
    cfg = StyleGAN2Config(image_size=64, style_dim=8, n_mlp=1, channels=(512, 512, 512, 512, 512))
    state = _to_rosinality(StyleGAN2Generator(cfg))
    report = ConversionReport()
    config_from_state(state, report=report)
    assert report.inferred["channel_multiplier"]["value"] == 2


def test_wrong_checkpoints_are_named(tmp_path):
    torch.manual_seed(0)
    state = _to_rosinality(StyleGAN2Generator(StyleGAN2Config.from_preset("tiny_test")))
    broken = {k: v for k, v in state.items() if k != "convs.1.conv.modulation.weight"}
    with pytest.raises(ValueError, match=r"missing \['convs.1.conv.modulation.weight'\]"):
        load_rosinality_generator(broken)
    wrong = dict(state)
    wrong["convs.1.conv.weight"] = torch.zeros(1, 8, 5, 3, 3)
    with pytest.raises(ValueError, match="(?s)does not fit.*size mismatch for convs.1.conv.weight"):
        load_rosinality_generator(wrong)
    with pytest.raises(ValueError, match="missing"):
        load_rosinality_generator({"conv.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"key 'discriminator\.weight' is not part of rosinality's"):
        load_rosinality_generator({**state, "discriminator.weight": torch.zeros(1)})
    pt = tmp_path / "evil.pt"
    torch.save({"g_ema": state, "hook": print}, pt)  # a pickled function is refused, never called
    from synthkit.hub import CheckpointError

    with pytest.raises(CheckpointError, match="refused"):
        read_rosinality_checkpoint(pt)
    (tmp_path / "d.pt").write_bytes(b"")
    with pytest.raises(Exception, match="corrupted|cannot read"):
        read_rosinality_checkpoint(tmp_path / "d.pt")
