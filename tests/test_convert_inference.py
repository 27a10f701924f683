"""The SMIS and BachGAN converters read the architecture from the checkpoint: no preset, any width / class count /
batch size, strict about what they cannot map.

Official-layout state dicts are built here from synthkit's own models (spectral norm kept, so the old hook's
``weight_orig`` / ``weight_u`` / ``weight_v`` exist; a few train-mode passes give non-trivial batch-norm statistics),
at widths, class counts and CG-Norm variants that no preset has; they must convert back, with nothing but the state
(and, where the weights do not hold the image size, an opt.txt or an explicit size), to the same outputs. Parity
with the *official* code itself is in tests/test_parity_smis.py / test_parity_bachgan.py (fixtures) and
benchmarks/results/official_converter_parity.md (official runs at new sizes).
"""
from __future__ import annotations

import pickle
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from synthkit.convert.bachgan import convert_bachgan, load_official_generator
from synthkit.convert.common import ConversionError, read_opt_txt
from synthkit.convert.smis import OFFICIAL_BLOCK_NAMES, convert_smis, infer_config, load_official_model
from synthkit.hub import CheckpointError
from synthkit.models.bachgan import BachGANConfig, BachGANGenerator
from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig

OPT_DIR = Path(__file__).parent / "data" / "official_opt"
TOL = 1e-5

_SN = (("parametrizations.weight.original", "weight_orig"), ("parametrizations.weight.0._u", "weight_u"),
       ("parametrizations.weight.0._v", "weight_v"))


def _sn_back(key: str) -> str:
    for new, old in _SN:
        if key.endswith(new):
            return key[: -len(new)] + old
    return key


def official_smis_state(model: GroupDNet) -> tuple[dict, dict | None]:
    """synthkit GroupDNet (spectral norm kept) -> official (generator, encoder) state_dicts, official key names."""
    g, e = {}, {}
    for key, value in model.state_dict().items():
        part, _, rest = key.partition(".")
        rest = _sn_back(rest)
        if part == "G":
            m = re.match(r"blocks\.(\d+)\.(.*)", rest)
            if m:
                rest = f"{OFFICIAL_BLOCK_NAMES[int(m.group(1))]}.{m.group(2).replace('mlp_shared.', 'mlp_shared.0.')}"
            g[rest] = value.clone()
        else:
            m = re.match(r"layers\.(\d+)\.(.*)", rest)
            e[f"layer{int(m.group(1)) + 1}.{m.group(2)}" if m else rest] = value.clone()
    return g, (e or None)


def official_bachgan_state(G: BachGANGenerator) -> dict:
    return {_sn_back(k.removeprefix("fusion.")): v.clone() for k, v in G.state_dict().items()}


def _seg(config: GroupDNetConfig, batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, config.num_classes, (batch, *config.image_size), generator=g)
    seg = F.one_hot(label, config.num_classes).permute(0, 3, 1, 2).float()
    if config.instance_edge:
        seg = torch.cat([seg, (torch.rand(batch, 1, *config.image_size, generator=g) < 0.1).float()], 1)
    return seg


def _trained_groupdnet(config: GroupDNetConfig, with_encoder: bool) -> GroupDNet:
    torch.manual_seed(0)
    model = GroupDNet(config, with_encoder=with_encoder)
    model.train()
    with torch.no_grad():  # a few train-mode passes: batch-norm running statistics that are not 0 / 1
        for i in range(2):
            model.generate(model.sample_latent(2), _seg(config, 2, seed=10 + i))
    return model.eval()


# Architectures no preset has: other widths, class counts, group tables, all three CG-Norm variants, the official
# DeepFashion fc quirk (groups 8 at another class count), an encoder. Image sizes are multiples of 64 (7 blocks).
SMIS_CASES = {
    "deepfashion_4classes": GroupDNetConfig(4, (64, 128), (32, 32, 32, 16, 8, 4, 2), (4, 4, 2, 2, 1, 1, 1), "deepfashion",
                                            cgnorm_hidden=16, encoder_channels=8),
    "deepfashion_16classes_fc_groups_8": GroupDNetConfig(16, (64, 64), (64, 64, 64, 32, 16, 8, 4),
                                                         (16, 16, 8, 8, 4, 4, 2), "deepfashion", fc_groups=8,
                                                         encoder_channels=16),
    "cityscapes_5classes": GroupDNetConfig(5, (64, 128), (80, 80, 80, 40, 20, 10, 5), (5, 5, 5, 5, 5, 1, 1),
                                           "cityscapes", instance_edge=True, encoder_channels=10),
    "ade20k_7classes": GroupDNetConfig(7, (64, 64), (112, 128, 64, 64, 32, 16, 8), (7, 4, 4, 2, 2, 1, 1), "ade20k",
                                       encoder_channels=14),
}


@pytest.mark.parametrize("name", sorted(SMIS_CASES))
@pytest.mark.parametrize("batch", [1, 3])
def test_smis_round_trip_without_preset(name, batch):
    config = SMIS_CASES[name]
    with_encoder = name == "deepfashion_4classes"
    model = _trained_groupdnet(config, with_encoder)
    g_state, e_state = official_smis_state(model)
    assert any(k.endswith("weight_orig") for k in g_state) and not any("blocks." in k for k in g_state)
    converted, report = load_official_model(g_state, e_state, overrides={"image_size": config.image_size})
    got = converted.config
    for field in ("num_classes", "block_channels", "block_groups", "cgnorm", "instance_edge", "input_groups",
                  "image_size", "latent_channels"):
        assert getattr(got, field) == getattr(config, field), field
    assert report.inferred["num_classes"]["source"].startswith("shapes")
    assert report.inferred["image_size"]["source"].startswith("given")
    seg = _seg(config, batch, seed=3)
    z = model.sample_latent(batch, torch.Generator().manual_seed(4))
    with torch.no_grad():
        diff = (converted.generate(z, seg) - model.generate(z, seg)).abs().max().item()
        assert diff <= TOL, f"{name}: {diff:.2g}"
        if with_encoder:
            crops = torch.rand(batch, 3 * config.num_classes, *config.encoder_size) * 2 - 1
            for ours, ref in zip(converted.E(crops), model.E(crops)):
                assert (ours - ref).abs().max().item() <= TOL


def test_smis_image_size_is_asked_for_when_nothing_gives_it():
    model = _trained_groupdnet(SMIS_CASES["cityscapes_5classes"], False)
    g_state, _ = official_smis_state(model)
    with pytest.raises(ConversionError, match=r"image size is not stored.*--image-size HxW"):
        load_official_model(g_state)


def test_smis_opt_txt_gives_the_size_and_is_checked(tmp_path):
    """A real opt.txt of the official code (CityscapesGenerator, ngf 140, crop 256, aspect 2): it gives 128x256 and
    its ngf / class count are checked against the weights."""
    opt = read_opt_txt(OPT_DIR / "smis_cityscapes_ngf140_opt.txt")
    assert opt["ngf"] == 140 and opt["crop_size"] == 256 and opt["aspect_ratio"] == 2.0 and opt["no_instance"] is False
    assert opt["dataset_mode"] == "cityscapes" and opt["netG"] == "cityscapes" and opt["model"] == "smis"
    config = GroupDNetConfig(35, (128, 256), tuple(w * 140 for w in (16, 16, 16, 8, 4, 2, 1)),
                             (35, 35, 20, 14, 10, 4, 1), "cityscapes", instance_edge=True, encoder_channels=35)
    with torch.device("meta"):
        g_state, _ = official_smis_state(GroupDNet(config, with_encoder=False))
    got = infer_config(g_state, opt=opt)
    assert got.image_size == (128, 256) and got.block_channels == config.block_channels
    with pytest.raises(ConversionError, match="opt.txt gives ngf 70"):
        infer_config(g_state, opt={**opt, "ngf": 70})
    with pytest.raises(ConversionError, match="dataset_mode 'ade20k'"):
        infer_config(g_state, opt={**opt, "dataset_mode": "ade20k"})
    with pytest.raises(ConversionError, match="semantic_nc 20"):
        infer_config(g_state, opt={**opt, "label_nc": 20})


def test_smis_preset_is_a_check_only():
    model = _trained_groupdnet(SMIS_CASES["deepfashion_4classes"], False)
    g_state, _ = official_smis_state(model)
    with pytest.raises(ConversionError, match=r"not the 'deepfashion' preset[\s\S]*num_classes: checkpoint 4, preset 8"):
        load_official_model(g_state, None, "deepfashion", overrides={"image_size": (64, 128)})


def _smis_state():
    model = _trained_groupdnet(SMIS_CASES["deepfashion_4classes"], True)
    return official_smis_state(model)


def test_smis_unknown_missing_and_misshapen_keys_are_named():
    g_state, e_state = _smis_state()
    size = {"image_size": (64, 128)}
    with pytest.raises(ConversionError, match=r"key 'extra\.weight' belongs to no module"):
        load_official_model({**g_state, "extra.weight": torch.zeros(1)}, overrides=size)
    broken = dict(g_state)
    del broken["up_2.conv_1.bias"]
    with pytest.raises(ConversionError, match=r"missing key 'G\.blocks\.5\.conv_1\.bias'"):
        load_official_model(broken, overrides=size)
    broken = {**g_state, "up_1.norm_1.mlp_gamma.weight": torch.zeros(3, 3, 3, 3)}
    with pytest.raises(ConversionError, match=r"fit no SMIS generator[\s\S]*up_1\.norm_1\.mlp_gamma\.weight"):
        load_official_model(broken, overrides=size)
    broken = dict(g_state)
    del broken["head_0.conv_0.weight_orig"]
    with pytest.raises(ConversionError, match=r"missing key 'head_0\.conv_0\.weight_orig'"):
        load_official_model(broken, overrides=size)
    with pytest.raises(ConversionError, match="no 'layer1.0.weight_orig'"):
        load_official_model(g_state, {"fc_mu.weight": e_state["fc_mu.weight"]}, overrides=size)


def test_smis_convert_command_without_preset(tmp_path, capsys):
    """`synthkit convert smis G.pth --encoder E.pth --image-size 64x128 --out DIR`: no preset, the report printed
    and saved, the folder loads and gives the same images."""
    import json

    import synthkit
    from synthkit.cli import main

    model = _trained_groupdnet(SMIS_CASES["deepfashion_4classes"], True)
    g_state, e_state = official_smis_state(model)
    torch.save(g_state, tmp_path / "latest_net_G.pth")
    torch.save(e_state, tmp_path / "latest_net_E.pth")
    assert main(["convert", "smis", str(tmp_path / "latest_net_G.pth"), "--encoder", str(tmp_path / "latest_net_E.pth"),
                 "--image-size", "64x128", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "architecture read from the checkpoint" in printed and "num_classes" in printed
    report = json.loads((tmp_path / "out" / "conversion.json").read_text())
    assert report["inferred"]["block_groups"]["value"] == [4, 4, 2, 2, 1, 1, 1]
    loaded = synthkit.load(str(tmp_path / "out"))
    z, seg = model.sample_latent(2, torch.Generator().manual_seed(1)), _seg(model.config, 2)
    with torch.no_grad():
        assert (loaded.generate(z, seg) - model.generate(z, seg)).abs().max().item() <= TOL
    # no size anywhere -> a clear command-line error, nothing written
    assert main(["convert", "smis", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "out2")]) == 2
    assert "--image-size" in capsys.readouterr().err and not (tmp_path / "out2").exists()


def test_generator_only_folder_loads(tmp_path):
    """A converted generator without an encoder (the official test checkpoints ship only latest_net_G) loads back:
    config.json records with_encoder."""
    import synthkit

    model = _trained_groupdnet(SMIS_CASES["ade20k_7classes"], False)
    g_state, _ = official_smis_state(model)
    torch.save(g_state, tmp_path / "latest_net_G.pth")
    out = convert_smis(tmp_path / "latest_net_G.pth", out_dir=tmp_path / "out",
                       overrides={"image_size": (64, 64)})
    loaded = synthkit.load(str(out))
    assert loaded.E is None and loaded.config.cgnorm == "ade20k"


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_not_weights_only_and_truncated_files_are_refused(tmp_path):
    g_state, _ = _smis_state()
    evil = tmp_path / "evil_net_G.pth"
    with open(evil, "wb") as f:
        pickle.dump({"fc.weight": _Evil()}, f)
    with pytest.raises(CheckpointError, match=r"evil_net_G\.pth: refused: not a weights-only"):
        convert_smis(evil, out_dir=tmp_path / "a")
    good = tmp_path / "latest_net_G.pth"
    torch.save(g_state, good)
    cut = tmp_path / "cut_net_G.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut_net_G\.pth: cannot read.*corrupted or truncated"):
        convert_smis(cut, out_dir=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------------------------------------------------
# BachGAN


def _trained_bachgan(config: BachGANConfig) -> BachGANGenerator:
    torch.manual_seed(0)
    G = BachGANGenerator(config).train()
    with torch.no_grad():
        for i in range(2):
            G(*_bachgan_inputs(config, 2, seed=20 + i))
    return G.eval()


def _bachgan_inputs(config: BachGANConfig, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    C, H, W = config.num_classes, config.height, config.width
    box = (torch.rand(batch, C, H, W, generator=g) < 0.3).float()
    maps = [F.one_hot(torch.randint(0, C, (batch, H, W), generator=g), C).permute(0, 3, 1, 2).float()
            for _ in range(3)]
    return box, torch.cat(maps, 1)


@pytest.mark.parametrize("mode,size", [("normal", (64, 64)), ("more", (64, 128)), ("most", (128, 128))])
def test_bachgan_round_trip_without_preset(tmp_path, mode, size):
    config = BachGANConfig(num_classes=7, height=size[0], width=size[1], base_channels=4, num_upsampling_layers=mode,
                           spade_hidden=16, thing_classes=(1, 2, 3))
    G = _trained_bachgan(config)
    state = official_bachgan_state(G)
    assert "encode_shared.0.weight" in state and any(k.endswith("weight_orig") for k in state)
    overrides = {"height": size[0], "width": size[1]} | ({} if mode == "most" else {"num_upsampling_layers": mode})
    converted, report = load_official_generator(state, overrides=overrides)
    assert converted.config.num_upsampling_layers == mode
    assert report.inferred["base_channels"]["value"] == 4 and report.inferred["spade_hidden"]["value"] == 16
    if mode == "most":
        assert report.inferred["num_upsampling_layers"]["source"] == "shapes: up_4 is present"
    box, retrieved = _bachgan_inputs(config, 3, seed=5)
    with torch.no_grad():
        for ours, ref in zip(converted(box, retrieved), G(box, retrieved)):
            assert (ours - ref).abs().max().item() <= TOL


def test_bachgan_real_opt_txt_decides_size_and_mode(tmp_path):
    """The official BachGAN's own opt.txt (12 classes, ngf 16, crop 128, 'normal') beside the .pth: convert_bachgan
    finds it, takes 128x128 'normal' from it and checks ngf / label_nc against the weights."""
    opt = read_opt_txt(OPT_DIR / "bachgan_12classes_opt.txt")
    assert opt["retrival_memory"] is True and opt["ngf"] == 16 and opt["label_nc"] == 12
    config = BachGANConfig(num_classes=12, height=128, width=128, base_channels=16, num_upsampling_layers="normal",
                           thing_classes=(1, 2))
    G = _trained_bachgan(config)
    (tmp_path / "opt.txt").write_text((OPT_DIR / "bachgan_12classes_opt.txt").read_text())
    torch.save(official_bachgan_state(G), tmp_path / "latest_net_G.pth")
    import synthkit

    out = convert_bachgan(tmp_path / "latest_net_G.pth", out_dir=tmp_path / "out")
    loaded = synthkit.load(str(out))
    assert (loaded.config.height, loaded.config.width, loaded.config.num_upsampling_layers) == (128, 128, "normal")
    box, retrieved = _bachgan_inputs(config, 2, seed=6)
    with torch.no_grad():
        assert (loaded(box, retrieved)[0] - G(box, retrieved)[0]).abs().max().item() <= TOL
    (tmp_path / "opt.txt").write_text((OPT_DIR / "bachgan_12classes_opt.txt").read_text().replace(
        "                      ngf: 16 ", "                      ngf: 32 "))
    with pytest.raises(ConversionError, match="opt.txt gives ngf 32"):
        convert_bachgan(tmp_path / "latest_net_G.pth", out_dir=tmp_path / "out2")


def test_bachgan_strict_errors():
    config = BachGANConfig(num_classes=7, height=64, width=64, base_channels=4, num_upsampling_layers="normal",
                           spade_hidden=16, thing_classes=(1, 2))
    state = official_bachgan_state(_trained_bachgan(config))
    with pytest.raises(ConversionError, match=r"'normal' vs 'more' upsampling is not stored"):
        load_official_generator(state)
    with pytest.raises(ConversionError, match=r"key 'decoder\.weight' belongs to no module"):
        load_official_generator({**state, "decoder.weight": torch.zeros(1)}, overrides={"height": 64, "width": 64,
                                                                                        "num_upsampling_layers": "normal"})
    broken = {k: v for k, v in state.items() if k != "up_1.norm_0.mlp_beta.bias"}
    with pytest.raises(ConversionError, match=r"missing synthkit keys \['up_1\.norm_0\.mlp_beta\.bias'\]"):
        load_official_generator(broken, overrides={"height": 64, "width": 64, "num_upsampling_layers": "normal"})
    with pytest.raises(ConversionError, match=r"not the 'cityscapes' preset[\s\S]*num_classes: checkpoint 7"):
        load_official_generator(state, "cityscapes", overrides={"height": 64, "width": 64,
                                                                "num_upsampling_layers": "normal"})


def test_groupdnet_fc_groups_config_is_validated():
    with pytest.raises(ValueError, match="fc_groups"):
        replace(SMIS_CASES["deepfashion_4classes"], fc_groups=3)


def test_smis_ambiguous_shapes_say_so_and_how_to_decide():
    """A DeepFashion-variant GroupDNet with 4 classes, every block at 4 groups and CG-Norm width 16 has exactly the
    shapes of an ADE20K-variant one with 8 classes (mlp_shared [16, 1], gamma [w, 4], fc [w, 8] either way): the
    converter must say the shapes are ambiguous and what decides, not pick one."""
    config = GroupDNetConfig(4, (64, 64), (32, 32, 32, 16, 8, 4, 4), (4,) * 7, "deepfashion", cgnorm_hidden=16,
                             encoder_channels=8)
    model = _trained_groupdnet(config, False)
    g_state, _ = official_smis_state(model)
    size = {"image_size": (64, 64)}
    with pytest.raises(ConversionError, match=r"ambiguous.*cgnorm=deepfashion, num_classes=4; cgnorm=ade20k, "
                                              r"num_classes=8.*--opt.*--set cgnorm=NAME"):
        load_official_model(g_state, overrides=size)
    for decided in (load_official_model(g_state, overrides={**size, "cgnorm": "deepfashion"})[0],
                    load_official_model(g_state, opt={"dataset_mode": "deepfashion"}, overrides=size)[0]):
        assert (decided.config.cgnorm, decided.config.num_classes) == ("deepfashion", 4)
        seg, z = _seg(config, 2), model.sample_latent(2, torch.Generator().manual_seed(2))
        with torch.no_grad():
            assert (decided.generate(z, seg) - model.generate(z, seg)).abs().max().item() <= TOL
