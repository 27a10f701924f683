"""Tests of the Semantic Pyramid model (synthkit.models.semantic_pyramid) and its pipeline (synthkit.pipelines.pyramid).

Most tests use the ``tiny_test`` preset and its backbone: the real ``synthkit.backbones.ToyscapesBackbone`` class
with the backbone's tiny widths and random weights (seed 0). Tests of the bundled checkpoint use the trained one.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from synthkit.models import semantic_pyramid as sp
from synthkit.models.semantic_pyramid import (
    diversity_loss,
    level_masks,
    level_specs_from_backbone,
    PyramidConfig,
    PyramidDiscriminator,
    sample_pyramid_masks,
    semantic_reconstruction_loss,
    SemanticPyramidGenerator,
)


@pytest.fixture(scope="module")
def backbone():
    return sp.build_backbone(sp.TINY_BACKBONE)


@pytest.fixture(scope="module")
def config() -> sp.PyramidConfig:
    return PyramidConfig.from_preset("tiny_test")


def _inputs(config, backbone, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, config.image_size, config.image_size, generator=g) * 2 - 1
    feats = backbone.features(x)
    return x, [feats[n] for n in config.level_names]


def _only(config, level: int, batch: int = 1) -> list[torch.Tensor]:
    full = torch.zeros(batch, config.num_levels, dtype=torch.bool)
    full[:, level] = True
    return level_masks(config, full, torch.zeros_like(full), torch.ones(batch, 1, config.image_size, config.image_size))


# ----------------------------------------------------------------------------------------------------------------
# config


def test_tiny_test_preset_matches_the_test_backbone(backbone, config):
    specs = level_specs_from_backbone(backbone, config.image_size)
    assert specs == {"level_names": config.level_names, "level_channels": config.level_channels, "level_sizes": config.level_sizes}


def test_config_rejects_bad_pyramids():
    with pytest.raises(ValueError, match="same non-zero length"):
        PyramidConfig.from_preset("tiny_test", level_channels=(8, 16))
    with pytest.raises(ValueError, match="vector levels"):
        PyramidConfig.from_preset("tiny_test", level_sizes=(16, 0, 4, 2, 1, 0, 0))
    with pytest.raises(ValueError, match="g_channels"):
        PyramidConfig.from_preset("tiny_test", g_channels=(8,))
    with pytest.raises(ValueError, match="unknown PyramidConfig field"):
        PyramidConfig.from_preset("tiny_test", lambda_foo=1)
    with pytest.raises(ValueError, match="valid levels"):
        PyramidConfig.from_preset("tiny_test").level_index("conv9")


def test_toyscapes64_preset_matches_the_toyscapes_backbone():
    from synthkit.backbones import ToyscapesBackbone

    specs = level_specs_from_backbone(ToyscapesBackbone().freeze(), 64)
    c = PyramidConfig.from_preset("toyscapes64")
    assert specs == {"level_names": c.level_names, "level_channels": c.level_channels, "level_sizes": c.level_sizes}


def test_presets_sizes():
    # the Toyscapes checkpoint must ship in <= 10 MB fp32
    G = SemanticPyramidGenerator(PyramidConfig.from_preset("toyscapes64"))
    assert sum(p.numel() for p in G.parameters()) * 4 < 10e6
    paper = PyramidConfig.from_preset("vgg16_places")
    assert PyramidConfig.from_preset("toyscapes64").backbone == "toyscapes"
    assert paper.level_names == ("conv1", "conv2", "conv3", "conv4", "conv5", "fc7", "fc8")
    assert paper.level_sizes[:5] == (128, 64, 32, 16, 8) and paper.image_size == 256


# ----------------------------------------------------------------------------------------------------------------
# generator / discriminator


def test_forward_backward_shapes(backbone, config):
    torch.manual_seed(0)
    G, D = SemanticPyramidGenerator(config), PyramidDiscriminator(config)
    _, feats = _inputs(config, backbone)
    masks, _, _ = sample_pyramid_masks(config, 2, torch.Generator().manual_seed(0))
    x_fake = G(feats, masks)
    assert x_fake.shape == (2, 3, 32, 32) and x_fake.abs().max() <= 1
    logits = D(x_fake)
    assert logits.shape == (2,)
    logits.mean().backward()
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad and p.grad is not None)
    grads = [p.grad.abs().sum().item() for p in G.parameters() if p.grad is not None]
    assert len(grads) > 0 and sum(grads) > 0


def test_generator_rejects_wrong_feature_shapes(backbone, config):
    G = SemanticPyramidGenerator(config)
    _, feats = _inputs(config, backbone)
    masks = _only(config, 0, batch=2)
    bad = list(feats)
    bad[1] = bad[1][:, :, :4, :4]
    with pytest.raises(ValueError, match="level 'conv2'"):
        G(bad, masks)
    with pytest.raises(ValueError, match="expected 7 feature tensors"):
        G(feats[:3], masks[:3])


@pytest.mark.parametrize("level", range(7))
def test_a_level_switched_off_contributes_nothing(backbone, config, level):
    torch.manual_seed(0)
    G = SemanticPyramidGenerator(config).eval()
    _, feats = _inputs(config, backbone, batch=1)
    z = torch.randn(1, config.z_dim)
    on = (level + 1) % config.num_levels  # some other level is the one in use
    masks = _only(config, on)
    out = G(feats, masks, z)
    changed = list(feats)
    changed[level] = torch.randn_like(feats[level]) * 5
    assert torch.equal(G(changed, masks, z), out)
    # and the same change with the level switched on does change the output
    assert not torch.allclose(G(changed, _only(config, level), z), G(feats, _only(config, level), z))


def test_spatial_mask_zero_region_ignores_the_features_there(backbone, config):
    torch.manual_seed(0)
    G = SemanticPyramidGenerator(config).eval()
    _, feats = _inputs(config, backbone, batch=1)
    z = torch.randn(1, config.z_dim)
    masks = _only(config, 0)
    masks[0] = masks[0].clone()
    masks[0][..., :, 8:] = 0  # conv1 (16x16): right half off
    changed = list(feats)
    changed[0] = feats[0].clone()
    changed[0][..., :, 8:] = torch.randn_like(feats[0][..., :, 8:]) * 5
    assert torch.equal(G(changed, masks, z), G(feats, masks, z))
    changed[0][..., :, :8] += 1.0  # inside the kept region: it matters
    assert not torch.allclose(G(changed, masks, z), G(feats, masks, z))


def test_noise_gives_diversity_and_seed_gives_determinism(backbone, config):
    torch.manual_seed(0)
    G = SemanticPyramidGenerator(config).eval()
    _, feats = _inputs(config, backbone, batch=1)
    masks = _only(config, config.num_levels - 1)  # deepest level: z matters
    z1, z2 = torch.randn(2, 1, config.z_dim)
    assert not torch.allclose(G(feats, masks, z1), G(feats, masks, z2))
    assert torch.equal(G(feats, masks, z1), G(feats, masks, z1.clone()))


def test_save_and_load_round_trip(tmp_path, config, backbone):
    torch.manual_seed(0)
    G = SemanticPyramidGenerator(config).eval()
    G.save_pretrained(tmp_path / "m")
    G2 = SemanticPyramidGenerator.from_pretrained(tmp_path / "m")
    assert G2.config == config
    _, feats = _inputs(config, backbone, batch=1)
    z = torch.randn(1, config.z_dim)
    masks = _only(config, 1)
    assert torch.equal(G(feats, masks, z), G2(feats, masks, z))


# ----------------------------------------------------------------------------------------------------------------
# masks


def test_mask_sampler_distribution(config):
    n = 4000
    c = PyramidConfig.from_preset("tiny_test", vector_level_weight=2.0)  # CRSP's doubled odds for vector levels
    masks, chosen, has_region = sample_pyramid_masks(c, n, torch.Generator().manual_seed(1))
    # 1. level frequencies proportional to (1, 1, 1, 1, 1, 2, 2)
    freq = torch.bincount(chosen, minlength=7).float() / n
    assert torch.allclose(freq, torch.tensor([1, 1, 1, 1, 1, 2, 2]) / 9.0, atol=0.02)
    # region on with probability p_region = 0.3
    assert abs(has_region.float().mean().item() - 0.3) < 0.025
    for b in range(n):
        l = int(chosen[b])
        for i, m in enumerate(masks):
            m = m[b]
            if i == l:
                assert torch.all(m == 1)  # the chosen level is fully on
            elif i > l:
                assert torch.all(m == 0)  # deeper levels off
            elif not has_region[b]:
                assert torch.all(m == 0)  # shallower levels off without a region
    # with a region: shallower spatial levels keep the same region (resized), partly on, partly off
    idx = [b for b in range(n) if has_region[b] and chosen[b] == 2][:50]
    assert len(idx) > 20
    for b in idx:
        m0, m1 = masks[0][b], masks[1][b]
        assert 0 < m0.mean() < 1 and set(m0.unique().tolist()) <= {0.0, 1.0}
        # a cell of conv2 (8x8) is kept only if all 4 conv1 (16x16) cells under it are kept
        assert torch.equal(m1, -F.max_pool2d(-m0, 2))


def test_mask_sampler_is_seeded(config):
    a, ca, ra = sample_pyramid_masks(config, 8, torch.Generator().manual_seed(5))
    b, cb, rb = sample_pyramid_masks(config, 8, torch.Generator().manual_seed(5))
    assert torch.equal(ca, cb) and torch.equal(ra, rb) and all(torch.equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------------------------------------------------
# losses


def test_semantic_reconstruction_loss_by_hand():
    real = [torch.zeros(1, 2, 4, 4), torch.zeros(1, 3)]
    fake = [torch.zeros(1, 2, 4, 4), torch.tensor([[1.0, 2.0, 3.0]])]
    fake[0][0, :, 0, 0] = 4.0  # one pixel off by 4 in both channels
    on = [torch.ones(1, 1, 4, 4), torch.ones(1, 1)]
    # level 0: after 2x2 max-pool: 2x2 grid, one cell off by 4 in 2 channels -> 8 / (4 cells * 2 ch) = 1
    # level 1: mean |(1, 2, 3)| = 2
    assert semantic_reconstruction_loss(fake, real, on).item() == pytest.approx(3.0)
    off = [torch.ones(1, 1, 4, 4), torch.zeros(1, 1)]
    assert semantic_reconstruction_loss(fake, real, off).item() == pytest.approx(1.0)
    hole = [torch.ones(1, 1, 4, 4), torch.zeros(1, 1)]
    hole[0][..., :2, :2] = 0  # the whole pooled cell containing the error is masked out
    assert semantic_reconstruction_loss(fake, real, hole).item() == pytest.approx(0.0)


def test_lsgan_and_diversity_losses_by_hand():
    assert sp.d_lsgan_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])).item() == pytest.approx(0.5 + 2.0)
    assert sp.g_lsgan_loss(torch.tensor([1.0, -1.0])).item() == pytest.approx(2.0)
    z1, z2 = torch.zeros(2, 4), torch.ones(2, 4)
    x1, x2 = torch.zeros(2, 3, 2, 2), torch.full((2, 3, 2, 2), 0.5)
    assert diversity_loss(z1, z2, x1, x2, eps=0.0).item() == pytest.approx(2.0)


def test_diversity_sensitive_loss_by_hand_is_per_sample_and_capped():
    z1, z2 = torch.zeros(2, 4), torch.ones(2, 4)  # mean |dz| = 1 for both samples
    x1 = torch.zeros(2, 3, 2, 2)
    x2 = torch.stack([torch.full((3, 2, 2), 0.1), torch.full((3, 2, 2), 0.9)])  # r = 0.1 and 0.9
    # L = -mean(min(r_i, tau)): tau 0.5 caps the second sample -> -(0.1 + 0.5) / 2
    assert sp.diversity_sensitive_loss(z1, z2, x1, x2, tau=0.5).item() == pytest.approx(-0.3)
    x2.requires_grad_(True)
    sp.diversity_sensitive_loss(z1, z2, x1, x2, tau=0.5).backward()
    assert x2.grad[0].abs().sum() > 0 and x2.grad[1].abs().sum() == 0  # a capped sample is not pushed further
    with pytest.raises(ValueError, match="tau"):
        sp.diversity_sensitive_loss(z1, z2, x1, x2, tau=0.0)


def test_reconstruction_weights_scale_each_level():
    real = [torch.zeros(1, 2, 4, 4), torch.zeros(1, 3)]
    fake = [torch.ones(1, 2, 4, 4), torch.tensor([[1.0, 2.0, 3.0]])]  # L1 1 and 2
    on = [torch.ones(1, 1, 4, 4), torch.ones(1, 1)]
    assert semantic_reconstruction_loss(fake, real, on, weights=(3.0, 0.5)).item() == pytest.approx(3.0 + 1.0)
    with pytest.raises(ValueError, match="one reconstruction weight per level"):
        semantic_reconstruction_loss(fake, real, on, weights=(1.0,))
    with pytest.raises(ValueError, match="rec_level_weights"):
        PyramidConfig.from_preset("tiny_test", rec_level_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="div_tau"):
        PyramidConfig.from_preset("tiny_test", diversity="dsgan", div_tau=0.0)
    with pytest.raises(ValueError, match="diversity must be"):
        PyramidConfig.from_preset("tiny_test", diversity="msgan")
    assert PyramidConfig.from_preset("tiny_test").rec_weights == (1.0,) * 7


def test_noise_reaches_every_level_block_with_z_to_blocks(backbone, config):
    # the hierarchical latent: with z_to_blocks, z modulates each level block (zero-initialised, so train a step)
    c = replace(config, z_to_blocks=True)
    torch.manual_seed(0)
    G = SemanticPyramidGenerator(c)
    assert all(b.z_mod is not None for b in G.blocks) and all(b.z_mod is None for b in G.head)
    for b in G.blocks:
        torch.nn.init.normal_(b.z_mod.weight, std=0.5)
    G.to_grid.weight.data.zero_()  # z's only route left is the block modulation
    G.to_grid.bias.data.zero_()
    _, feats = _inputs(c, backbone, batch=1)
    masks = _only(c, c.num_levels - 1)
    z1, z2 = torch.randn(2, 1, c.z_dim)
    with torch.no_grad():
        assert not torch.allclose(G(feats, masks, z1), G(feats, masks, z2))


# ----------------------------------------------------------------------------------------------------------------
# training task


def _toy_batch(config, n=2):
    g = torch.Generator().manual_seed(3)
    return {"image": torch.rand(n, 3, config.image_size, config.image_size, generator=g) * 2 - 1}


@pytest.mark.parametrize("div", [{"lambda_div": 0.1}, {"lambda_div": 5.0, "diversity": "dsgan", "div_tau": 0.25,
                                                      "z_to_blocks": True, "rec_level_weights": (4, 3, 2, 1, 1, 1, 1)}])
def test_task_steps_give_losses_with_graphs_and_leave_the_backbone_alone(backbone, div):
    task = sp.make_task("tiny_test", div, backbone=backbone)
    batch = _toy_batch(task.config)
    out_d = task.d_step(batch)
    out_d["loss"].backward()
    assert all(p.grad is None for p in task.G.parameters())  # fakes made under no_grad
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in task.D.parameters())
    task.D.zero_grad(set_to_none=True)
    out_g = task.g_step(batch)
    assert set(out_g) >= {"loss", "loss_g_adv", "loss_rec", "loss_div"}
    out_g["loss"].backward()
    assert all(p.grad is None for p in task.D.parameters())  # G's loss leaves D untouched
    assert all(p.grad is None for p in backbone.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in task.G.parameters())
    samples = task.sample(task.G, batch)
    assert samples.shape == (2 * (1 + task.config.num_levels), 3, 32, 32)  # 2 images in the batch
    assert torch.equal(samples[0], batch["image"][0])


def test_train_loop_two_steps_exports_a_loadable_model(tmp_path):
    from synthkit.pipelines.pyramid import load_pyramid
    from synthkit.train import resolve_task, train

    task, cfg = resolve_task("pyramid", "tiny_test", {"steps": "2", "log_every": "1"})
    cfg = replace(cfg, out_dir=str(tmp_path / "run"), progress=False, cpu=True)
    history = train(task, cfg)
    assert len(history) == 2 and all(np.isfinite(v) for row in history for v in row.values())
    assert {"loss_d", "loss_g", "loss_rec"} <= set(history[-1])
    res = load_pyramid(str(tmp_path / "run" / "model")).generate_from_level(_rgb(), "conv3")
    assert res.image.shape == (32, 32, 3)


def test_reconstruction_loss_trains_the_generator_towards_the_features(backbone):
    # only L_rec, from conv1 (near copy): a few steps must reduce it
    task = sp.make_task("tiny_test", {"lambda_div": 0.0, "lambda_rec": 1.0}, backbone=backbone)
    opt = torch.optim.Adam(task.G.parameters(), lr=2e-3, betas=(0.0, 0.999))
    config = task.config
    x, feats = _inputs(config, backbone, batch=2)
    masks = _only(config, 0, batch=2)
    z = torch.randn(2, config.z_dim)

    def rec():
        return semantic_reconstruction_loss(task.features(task.G(feats, masks, z)), feats, masks)

    start = rec().item()
    for _ in range(20):
        loss = rec()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert rec().item() < 0.7 * start


# ----------------------------------------------------------------------------------------------------------------
# pipeline (synthkit.pipelines.pyramid) on a tiny model saved to and loaded from a folder


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from synthkit.pipelines.pyramid import load_pyramid

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pyramid") / "tiny"
    SemanticPyramidGenerator(PyramidConfig.from_preset("tiny_test")).save_pretrained(folder)
    return load_pyramid(str(folder))


def _rgb(size=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_generate_by_level_matches_generate_from_level_and_fid_table_has_every_level(pipe):
    from synthkit.pipelines.pyramid import PAPER_FID_BY_LEVEL, fid_kid_by_level, generate_by_level

    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 3, 32, 32, generator=g) * 2 - 1
    batch = generate_by_level(pipe, x, "conv3", seed=5, batch=4)  # 3 chunks, seeds 5, 9, 13
    chunk = generate_by_level(pipe, x[4:8], "conv3", seed=9)  # the second chunk alone, with its seed
    assert batch.shape == x.shape and torch.allclose(batch[4:8], chunk, atol=1e-5)
    assert not torch.allclose(batch[:4], generate_by_level(pipe, x[:4], "conv3", seed=6), atol=1e-3)

    rows = fid_kid_by_level(pipe, x[:6], x[6:])
    assert [r["level"] for r in rows] == ["real vs real", *pipe.levels]
    assert all(np.isfinite(r["fid"]) and np.isfinite(r["kid"]) and r["n"] == 6 for r in rows)
    assert rows[1]["paper_fid"] == PAPER_FID_BY_LEVEL["conv1"] and rows[0]["paper_fid"] is None
    same = fid_kid_by_level(pipe, x[:6], x[:6])  # identical sets: FID 0 up to round-off
    assert abs(same[0]["fid"]) < 1e-6
    with pytest.raises(ValueError, match="image batches"):
        fid_kid_by_level(pipe, x[0], x[6:])


def test_generate_from_level_shapes_notes_and_seeds(pipe):
    img = _rgb()
    res = pipe.generate_from_level(img, "conv2", seed=3)
    assert res.image.dtype == np.uint8 and res.image.shape == (32, 32, 3)
    assert res.notes == [] and res.levels == ("conv2",) and res.seed == 3
    again = pipe.generate_from_level(img, "conv2", seed=3)
    assert np.array_equal(res.image, again.image)  # determinism with a seed
    deep = [pipe.generate_from_level(img, "fc8", seed=s).image for s in (0, 1)]
    assert not np.array_equal(deep[0], deep[1])  # noise input: another seed, another image
    # tensor [-1, 1] and PIL inputs give the same result as the uint8 array
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1
    assert np.array_equal(pipe.generate_from_level(t, 1, seed=3).image, res.image)
    assert np.array_equal(pipe.generate_from_level(Image.fromarray(img), "conv2", seed=3).image, res.image)


def test_module_level_functions_take_a_pipeline(pipe):
    from synthkit.pipelines import pyramid

    img = _rgb()
    assert np.array_equal(
        pyramid.generate_from_level(img, "conv3", seed=1, pipeline=pipe).image,
        pipe.generate_from_level(img, "conv3", seed=1).image,
    )


def test_inputs_of_other_size_mode_or_aspect_are_converted_and_said_so(pipe):
    wide = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 64, 3), dtype=np.uint8))
    res = pipe.generate_from_level(wide, "conv3")
    assert res.image.shape == (32, 32, 3)
    assert any("centre-cropped to 40x40" in n for n in res.notes)
    assert any("resized from 40x40" in n for n in res.notes)
    rgba = pipe.generate_from_level(Image.fromarray(_rgb()).convert("RGBA"), "conv3")
    assert any("RGBA" in n and "RGB" in n for n in rgba.notes)
    gray = pipe.generate_from_level(_rgb()[..., 0], "conv3")
    assert any("grayscale" in n for n in gray.notes) and gray.image.shape == (32, 32, 3)
    # an opaque RGBA image is the RGB image
    assert np.array_equal(rgba.image, pipe.generate_from_level(_rgb(), "conv3").image)


def test_bad_inputs_raise_clear_errors(pipe):
    with pytest.raises(ValueError, match="valid levels"):
        pipe.generate_from_level(_rgb(), "conv9")
    with pytest.raises(TypeError, match="uint8"):
        pipe.generate_from_level(_rgb().astype(np.float64), "conv1")
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        pipe.generate_from_level(torch.zeros(2, 3, 32, 32), "conv1")
    with pytest.raises(TypeError, match="PIL image"):
        pipe.generate_from_level(b"picture.png", "conv1")
    # one input contract for every pipeline (synthkit.inputs): a path is read, a missing one is named
    with pytest.raises(FileNotFoundError, match="'picture.png' does not exist"):
        pipe.generate_from_level("picture.png", "conv1")
    with pytest.raises(ValueError, match="at least one level"):
        pipe.inpaint(_rgb(), np.ones((32, 32), bool), levels=[])


def test_inpaint_empty_full_and_partial_masks(pipe):
    img = _rgb()
    empty = pipe.inpaint(img, np.zeros((32, 32), bool), levels=["conv4"], seed=0)
    assert np.array_equal(empty.image, img) and any("nothing to regenerate" in n for n in empty.notes)
    full = pipe.inpaint(img, np.ones((32, 32), np.uint8) * 255, levels=["conv4"], seed=0)
    assert any("whole image" in n for n in full.notes)
    assert np.array_equal(full.image, pipe.generate_from_level(img, "conv4", seed=0).image)
    hole = np.zeros((32, 32), bool)
    hole[8:20, 10:24] = True
    part = pipe.inpaint(img, hole, levels=["conv4"], seed=0)
    assert part.notes == [] and not np.array_equal(part.image, full.image)
    # a mask of another size than its image is resized to it
    small = pipe.inpaint(img, Image.fromarray(hole.astype(np.uint8) * 255).resize((64, 64), Image.NEAREST), ["conv4"])
    assert any("resized to it" in n for n in small.notes) and np.array_equal(small.image, part.image)


def test_features_of_a_single_image_are_computed_once_and_forgotten_when_the_backbone_changes(pipe):
    """PyramidPipeline.features keeps the features of the last few single images (the classifier is frozen), so the
    inpainting app's Regenerate with another seed, level or region skips it; results are those computed afresh."""
    calls = []
    backbone = pipe.backbone
    original = backbone.features

    def counted(x, layers):
        calls.append(tuple(x.shape))
        return original(x, layers=layers)

    img, other = _rgb(seed=1), _rgb(seed=2)
    hole = np.zeros((32, 32), bool)
    hole[8:20, 10:24] = True
    pipe.clear_cache()
    backbone.features = counted
    try:
        first = pipe.inpaint(img, hole, levels=["conv4"], seed=0).image
        again = [pipe.inpaint(img, hole, levels=[lv], seed=k).image for lv, k in (("conv4", 0), ("conv4", 1),
                                                                                     ("fc7", 0))]
        assert len(calls) == 1, calls  # one classifier pass for the 4 calls on one image
        assert np.array_equal(first, again[0]) and not np.array_equal(first, again[1])
        pipe.inpaint(other, hole, levels=["conv4"], seed=0)
        assert len(calls) == 2  # another image: computed
        x = torch.rand(2, 3, 32, 32) * 2 - 1
        pipe.features(x)
        pipe.features(x)
        assert len(calls) == 4  # batches are not kept
        for i in range(pipe.FEATURE_CACHE_SIZE):
            pipe.features(torch.full((1, 3, 32, 32), i / 10))
        calls.clear()
        pipe.inpaint(img, hole, levels=["conv4"], seed=0)
        assert len(calls) == 1  # pushed out by newer images (least recently used first)
        pipe.clear_cache()
        fresh = pipe.inpaint(img, hole, levels=["conv4"], seed=0).image
        assert len(calls) == 2 and np.array_equal(fresh, first)
        # the returned list is the caller's: changing it (as composite does) leaves the kept features alone
        x1 = torch.rand(1, 3, 32, 32) * 2 - 1
        feats = pipe.features(x1)
        feats[0] = torch.zeros_like(feats[0])
        assert not torch.equal(pipe.features(x1)[0], feats[0])
    finally:
        del backbone.features  # the instance attribute: back to the class's method
        pipe.clear_cache()
    pipe.features(torch.rand(1, 3, 32, 32))
    assert len(pipe._feature_cache) == 1
    pipe.to("cpu")  # moving the pipeline forgets them
    assert not pipe._feature_cache


def test_inpaint_keeps_shallow_features_only_outside_the_hole(pipe):
    c = pipe.config
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 8:24, 8:24] = 1
    masks = pipe._masks([c.level_index("conv3")], 1 - hole)
    assert torch.all(masks[2] == 1)  # the chosen level everywhere
    assert masks[0][0, 0, 4:12, 4:12].sum() == 0 and masks[0][0, 0, :4].min() == 1  # conv1: 16x16, hole 4..11
    assert masks[1][0, 0, 2:6, 2:6].sum() == 0 and masks[1].sum() == 64 - 16  # conv2: 8x8
    assert all(torch.all(m == 0) for m in masks[3:])  # deeper levels off


def test_composite_empty_full_and_level_behaviour(pipe):
    bg, obj = _rgb(seed=1), _rgb(seed=2)
    m = np.zeros((32, 32), bool)
    empty = pipe.composite(bg, obj, m, "conv3")
    assert np.array_equal(empty.image, bg) and any("no object" in n for n in empty.notes)
    full = pipe.composite(bg, obj, ~m, "conv3", seed=4)
    assert any("whole image" in n for n in full.notes)
    assert np.array_equal(full.image, pipe.generate_from_level(obj, "conv3", seed=4).image)
    m[4:20, 4:20] = True
    part = pipe.composite(bg, obj, m, "conv3", seed=4)
    assert part.image.shape == (32, 32, 3) and part.notes == []
    assert not np.array_equal(part.image, full.image)
    vec = pipe.composite(bg, obj, m, "fc8", seed=4)
    assert vec.image.shape == (32, 32, 3)


def test_load_pyramid_errors_name_what_to_do(tmp_path):
    from synthkit.pipelines.pyramid import load_pyramid

    with pytest.raises(ValueError, match="not a registered name"):
        load_pyramid(str(tmp_path / "no-such-folder"))
    # a folder holding another model is refused, naming its class
    PyramidDiscriminator(PyramidConfig.from_preset("tiny_test")).save_pretrained(tmp_path / "d")
    with pytest.raises(TypeError, match="PyramidDiscriminator, not a Semantic Pyramid generator"):
        load_pyramid(str(tmp_path / "d"))


def test_pipeline_refuses_a_backbone_of_another_pyramid(backbone):
    from synthkit.pipelines.pyramid import PyramidPipeline

    with pytest.raises(ValueError, match="does not match"):
        PyramidPipeline(SemanticPyramidGenerator(PyramidConfig.from_preset("toyscapes64")), backbone)


def test_sample_images_for_the_cli(pipe):
    from synthkit.pipelines.pyramid import sample_images

    images = sample_images(pipe.G, n=2, seed=0)
    assert len(images) == 2 and all(i.shape == (32, 32, 3) and i.dtype == np.uint8 for i in images)


# ----------------------------------------------------------------------------------------------------------------
# the bundled checkpoint (synthkit/pretrained/pyramid-toyscapes) with the trained offline backbone

BUNDLED = Path(sp.__file__).resolve().parents[1] / "pretrained" / "pyramid-toyscapes"
needs_bundled = pytest.mark.skipif(
    not (BUNDLED / "model.safetensors").is_file(), reason="bundled pyramid-toyscapes checkpoint not built"
)


@needs_bundled
def test_bundled_checkpoint_loads_with_the_backbone_it_was_trained_with():
    from synthkit.data.toyscapes import ToyscapesDataset
    from synthkit.pipelines.pyramid import load_pyramid

    pipe = load_pyramid()
    assert pipe.config == PyramidConfig.from_preset("toyscapes64", backbone_sha256=pipe.config.backbone_sha256)
    assert pipe.config.backbone_sha256 == pipe.backbone.provenance["weights_sha256"]
    assert pipe.notes == []  # the backbone on disk is the one it was trained with
    assert (BUNDLED / "model.safetensors").stat().st_size < 10e6
    image = ToyscapesDataset(size=64, length=1, split="test")[0]["image"]  # [3, 64, 64] in [-1, 1]
    res = pipe.generate_from_level(image, "conv1", seed=0)
    assert res.image.shape == (64, 64, 3) and res.notes == []


@needs_bundled
def test_bundled_model_shows_the_papers_trend_with_depth():
    # Issue #5's quality target on held-out scenes: generations from deeper levels are further from the source and
    # more diverse, while the deepest level keeps the scene. 32 scenes x 2 seeds per level (benchmarks/bench_pyramid.py
    # gives the 200-scene table of the model card).
    from synthkit.data.toyscapes import ToyscapesDataset
    from synthkit.pipelines.pyramid import generate_by_level, load_pyramid

    pipe = load_pyramid()
    n = 32
    data = ToyscapesDataset(size=64, length=n, split="test")
    x = torch.stack([data[i]["image"] for i in range(n)])
    bb = pipe.backbone
    dist, div = [], []
    with torch.no_grad():
        for level in pipe.levels:
            a, b = generate_by_level(pipe, x, level, seed=0), generate_by_level(pipe, x, level, seed=1000)
            dist.append(bb.lpips_like(a, x).mean().item())
            div.append(bb.lpips_like(a, b).mean().item())
        agree = (bb.classify(a).argmax(1) == bb.classify(x).argmax(1)).float().mean().item()  # a: from fc8
    rises = sum(d2 > d1 for d1, d2 in zip(dist[:-1], dist[1:]))
    assert rises >= 5, f"distance to the source should grow with depth (5 of 6 steps at least): {dist}"
    assert dist[-1] > dist[0] + 0.1, f"fc8 should be clearly further from the source than conv1: {dist}"
    assert div[-1] > div[0], f"the deepest level should leave more diversity than the shallowest: {div}"
    assert agree >= 0.8, f"scene agreement from fc8 {agree:.2f} < 0.8"


def test_features_cache_gives_every_thread_the_serial_result(pipe):
    """The apps call the pipeline from Gradio's worker threads at once (demos.common.direct_events): with the
    feature cache shared, each call still gets exactly what it gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    hole = np.zeros((32, 32), bool)
    hole[4:28, 6:20] = True
    jobs = [(_rgb(seed=k % 3), "conv4" if k % 2 else "fc7", k) for k in range(24)]
    pipe.clear_cache()
    alone = []
    for img, level, seed in jobs:
        pipe.clear_cache()
        alone.append(pipe.inpaint(img, hole, levels=[level], seed=seed).image)
    pipe.clear_cache()
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda j: pipe.inpaint(j[0], hole, levels=[j[1]], seed=j[2]).image, jobs))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))
    assert 1 <= len(pipe._feature_cache) <= pipe.FEATURE_CACHE_SIZE
