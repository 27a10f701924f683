"""Feature backbones: shapes of every level, the bundled checkpoint's accuracy, and the VGG cache/hash path."""
from __future__ import annotations

import json

import pytest
import torch

from synthkit.backbones import (
    BACKBONES,
    PRETRAINED_DIR,
    VGG_WEIGHT_FILES,
    BackboneWeightsError,
    ToyscapesBackbone,
    ToyscapesBackboneConfig,
    VGGBackbone,
    load_backbone,
    save_backbone,
    sha256_file,
)

PYRAMID = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc7", "fc8")


def _images(n=2, size=64, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def toy():
    return load_backbone("toyscapes")


@pytest.fixture(scope="module")
def toy_test_batch():
    from synthkit.data.toyscapes import ToyscapesDataset

    out = {}
    for size in (64, 128):
        ds = ToyscapesDataset(size=size, length=16, split="test", seed=0)
        items = [ds[i] for i in range(16)]
        out[size] = (torch.stack([it["image"] for it in items]), torch.stack([it["label"] for it in items]),
                     torch.stack([it["scene"] for it in items]))
    return out


# ------------------------------------------------------------------------------------------------ Toyscapes
def test_toyscapes_levels_and_shapes(toy):
    assert toy.pyramid_levels == PYRAMID
    x = _images(2, 128)
    f = toy.features(x, toy.layer_names)
    widths = toy.config.widths
    for s in range(1, 6):
        assert f[f"conv{s}"].shape == (2, widths[s - 1], 128 >> s, 128 >> s)
        assert f[f"relu{s}_1"].shape == (2, widths[s - 1], 128 >> (s - 1), 128 >> (s - 1))
    assert f["pool"].shape == (2, widths[-1])
    assert f["fc6"].shape == f["fc7"].shape == (2, toy.config.fc_dim)
    assert f["fc8"].shape == (2, 6)
    assert list(toy.features(x).keys()) == list(PYRAMID)  # default = the pyramid, in order
    assert toy.segment(x).shape == (2, 12, 128, 128)
    assert toy.segment(_images(1, 64)).shape == (1, 12, 64, 64)
    assert toy.classify(x).shape == (2, 6)
    assert toy.embed(x).shape == (2, widths[-1])


def test_toyscapes_features_match_full_forward_and_pass_gradients(toy):
    x = _images(2, 64).requires_grad_(True)
    shallow = toy.features(x, ["relu2_1"])  # stops early
    full = toy.features(x, toy.layer_names)
    assert torch.allclose(shallow["relu2_1"], full["relu2_1"])
    full["conv3"].sum().backward()  # perceptual loss use: gradients reach the image, not the frozen weights
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in toy.parameters())


def test_bad_inputs_raise_clear_errors(toy):
    with pytest.raises(ValueError, match="unknown layer"):
        toy.features(_images(), ["conv9"])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        toy.features(_images() * 127.5 + 127.5)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        toy.features(_images()[0])
    with pytest.raises(TypeError, match="uint8"):
        toy.features(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="valid names"):
        load_backbone("resnet50")


def test_lpips_like_properties(toy):
    x, y = _images(3, 64, 0), _images(3, 64, 1)
    assert torch.allclose(toy.lpips_like(x, x), torch.zeros(3), atol=1e-6)
    assert torch.allclose(toy.lpips_like(x, y), toy.lpips_like(y, x), atol=1e-6)
    near = (x + 0.05 * torch.randn_like(x)).clamp(-1, 1)
    assert (toy.lpips_like(x, near) < toy.lpips_like(x, y)).all()
    d = toy.lpips_like(x, y)
    assert ((d >= 0) & (d <= 4)).all()  # unit vectors: |a - b|^2 <= 4
    dmap = toy.lpips_like(x, y, spatial=True)
    assert dmap.shape == (3, 1, 64, 64)
    assert torch.allclose(dmap.mean(dim=(1, 2, 3)), d, rtol=0.05)  # averaging the map ~ the spatial mean


def test_bundled_checkpoint_is_accurate_on_held_out_data(toy, toy_test_batch):
    """The bundled weights must segment and classify unseen Toyscapes scenes (split 'test') at 64 and 128 px."""
    for size, (images, labels, scenes) in toy_test_batch.items():
        with torch.no_grad():
            pred = toy.segment(images).argmax(1)
            scene_pred = toy.classify(images).argmax(1)
        pixel_acc = float((pred == labels).float().mean())
        assert pixel_acc >= 0.85, f"{size} px: pixel accuracy {pixel_acc:.3f}"
        assert float((scene_pred == scenes).float().mean()) >= 0.75, size


def test_bundled_checkpoint_files_and_provenance(toy):
    cfg = json.loads((PRETRAINED_DIR / "config.json").read_text())
    assert cfg["widths"] == list(toy.config.widths) and len(cfg["class_names"]) == 12
    card = (PRETRAINED_DIR / "README.md").read_text()
    assert "python -m synthkit.backbones train" in card and "mIoU" in card and "scene accuracy" in card
    weights = PRETRAINED_DIR / "model.safetensors"
    assert weights.stat().st_size < 3.5 * 2**20
    prov = toy.provenance
    assert prov["weights_sha256"] == sha256_file(weights) and prov["comparable_to_paper"] is False


def test_save_and_reload_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = ToyscapesBackbone(**ToyscapesBackboneConfig.PRESETS["tiny_test"].to_dict()).eval()
    save_backbone(model, tmp_path / "bb")
    loaded = load_backbone("toyscapes", path=tmp_path / "bb")
    x = _images(1, 64)
    assert torch.allclose(model.segment(x), loaded.segment(x), atol=1e-6)
    assert loaded.config == model.config
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_backbone("toyscapes", path=tmp_path / "missing")


# ------------------------------------------------------------------------------------------------ VGG
@pytest.mark.slow  # builds two 138M-parameter VGGs with random weights
@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_vgg_levels_and_shapes_random_weights(arch):
    pytest.importorskip("torchvision")
    vgg = VGGBackbone(arch).freeze()  # random weights: the test-only path, no download
    assert vgg.pyramid_levels == PYRAMID
    assert "random" in vgg.provenance["weights"]
    x = _images(1, 64)
    f = vgg.features(x, ["relu1_1", "conv1", "conv3", "conv5", "pool", "fc6", "fc7", "fc8"])
    assert f["relu1_1"].shape == (1, 64, 64, 64)
    assert f["conv1"].shape == (1, 64, 32, 32)
    assert f["conv3"].shape == (1, 256, 8, 8)
    assert f["conv5"].shape == (1, 512, 2, 2)
    assert f["pool"].shape == (1, 512)
    assert f["fc6"].shape == f["fc7"].shape == (1, 4096) and f["fc8"].shape == (1, 1000)
    n_relu3 = 3 if arch == "vgg16" else 4
    assert vgg.lpips_layers[2] == f"relu3_{n_relu3}"
    assert vgg.perceptual_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    # the fc path equals torchvision's own classifier output
    import torchvision

    with torch.device("meta"):
        ref = getattr(torchvision.models, arch)(weights=None)
    ref.load_state_dict({k.replace("vgg_features", "features"): v for k, v in vgg.state_dict().items()}, assign=True)
    ref.eval()
    from synthkit.backbones import to_imagenet_normalized

    assert torch.allclose(ref(to_imagenet_normalized(x)), f["fc8"], atol=1e-5)
    with pytest.raises(NotImplementedError, match="no segmentation head"):
        vgg.segment(x)


def test_vgg_offline_missing_file_gives_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("SYNTHKIT_OFFLINE", "1")
    with pytest.raises(BackboneWeightsError) as err:
        load_backbone("vgg16")
    msg = str(err.value)
    assert "vgg16-397923af.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg and "toyscapes" in msg


@pytest.mark.slow  # writes, hashes and loads a 528 MB stand-in file
def test_vgg_cache_file_hash_is_verified(tmp_path, monkeypatch):
    torchvision = pytest.importorskip("torchvision")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("SYNTHKIT_OFFLINE", "1")
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    with torch.device("meta"):
        shapes = torchvision.models.vgg16(weights=None).state_dict()
    g = torch.Generator().manual_seed(0)
    fake = {k: torch.randn(v.shape, generator=g) * 0.01 for k, v in shapes.items()}
    path = folder / VGG_WEIGHT_FILES["vgg16"][0]
    torch.save(fake, path)  # right name, wrong content: the sha256 prefix 397923af cannot match
    with pytest.raises(BackboneWeightsError, match="sha256") as err:
        load_backbone("vgg16")
    assert "397923af" in str(err.value)
    digest = sha256_file(path)
    vgg = load_backbone("vgg16", expected_sha256=digest)  # test-only override: the same loading path then works
    assert vgg.provenance["weights_sha256"] == digest and vgg.provenance["weights"] == str(path)
    assert torch.equal(vgg.vgg_features[0].weight, fake["features.0.weight"])  # our file's weights, loaded
    assert vgg.features(_images(1, 64), ["fc7"])["fc7"].shape == (1, 4096)


def test_backbone_names():
    assert BACKBONES == ("toyscapes", "vgg16", "vgg19")


def test_vgg_failed_download_gives_the_same_clear_message(tmp_path, monkeypatch):
    """With downloads allowed but the server unreachable (a closed local port), the message still names file+folder."""
    import synthkit.backbones as bb

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("SYNTHKIT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    name, prefix, _ = bb.VGG_WEIGHT_FILES["vgg19"]
    monkeypatch.setitem(bb.VGG_WEIGHT_FILES, "vgg19", (name, prefix, f"http://127.0.0.1:9/{name}"))
    with pytest.raises(BackboneWeightsError, match="download failed") as err:
        load_backbone("vgg19")
    assert name in str(err.value) and str(tmp_path / "hub" / "checkpoints") in str(err.value)
    assert not (tmp_path / "hub" / "checkpoints" / name).exists()  # no partial file left behind


def test_training_command_end_to_end(tmp_path):
    """`python -m synthkit.backbones train` (tiny preset, 2 steps) writes a loadable checkpoint and its model card."""
    import subprocess
    import sys

    out = tmp_path / "bb"
    cmd = [sys.executable, "-m", "synthkit.backbones", "train", "--out", str(out), "--preset", "tiny_test",
           "--n-train", "32", "16", "--steps", "2", "--n-eval", "8"]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    config = json.loads((out / "config.json").read_text())
    assert config["synthkit_class"] == "synthkit.backbones:ToyscapesBackbone" and config["widths"] == [4, 8, 8, 8, 8]
    card = (out / "README.md").read_text()
    assert "python -m synthkit.backbones train --out" in card and "| 64 px | 8 |" in card
    model = load_backbone("toyscapes", path=out)
    assert model.segment(_images(1, 64)).shape == (1, 12, 64, 64)
