"""Tests of the SMIS / GroupDNet model (synthkit.models.groupdnet) and the shared multi-scale PatchGAN."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from synthkit.nn.discriminator import MultiscaleDiscriminator, PatchGAN

# ----------------------------------------------------------------------------------------------------------------
# Multi-scale PatchGAN (synthkit/nn/discriminator.py)


def test_discriminator_output_layout_and_shapes():
    D = MultiscaleDiscriminator(in_channels=11, base_channels=8, num_layers=4, num_scales=2)
    out = D(torch.randn(2, 11, 64, 64))
    assert len(out) == 2
    # 4 hidden layers + logits per scale; widths 8, 16, 32, 64 then 1
    assert [t.shape[1] for t in out[0]] == [8, 16, 32, 64, 1]
    # k=4, pad=2: s2 gives floor(H/2)+1, the two s1 convs add +1 each
    assert out[0][0].shape[-1] == 33 and out[0][-1].shape[-1] == 11
    # second scale sees the input average-pooled to 32x32
    assert out[1][0].shape[-1] == 17


def test_discriminator_paper_size_parameter_count_matches_official():
    # SMIS DeepFashion D: input 8 labels + 3 RGB, ndf 64, n_layers_D 4, num_D 2 -> 5.54M parameters (doc section A1).
    D = MultiscaleDiscriminator(in_channels=11)
    assert sum(p.numel() for p in D.parameters()) == 5_544_066


def test_discriminator_spectral_norm_bounds_sigma():
    torch.manual_seed(0)
    patch = PatchGAN(3, base_channels=4, num_layers=3)
    conv = patch.layers[1][0]
    for _ in range(30):  # power iterations run in train mode
        conv.weight
    w = conv.weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_discriminator_backward_and_second_scale_downsample():
    D = MultiscaleDiscriminator(in_channels=5, base_channels=4, num_layers=3)
    x = torch.randn(1, 5, 32, 32, requires_grad=True)
    out = D(x)
    sum(o[-1].mean() for o in out).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    pooled = MultiscaleDiscriminator.downsample(torch.ones(1, 1, 8, 8))
    assert pooled.shape[-1] == 4 and torch.allclose(pooled, torch.ones_like(pooled))  # count_include_pad=False


def test_discriminator_rejects_wrong_channels():
    D = MultiscaleDiscriminator(in_channels=11, base_channels=4)
    with pytest.raises(ValueError, match="concat of seg and image"):
        D(torch.randn(1, 10, 32, 32))


# ----------------------------------------------------------------------------------------------------------------
# GroupDNet (synthkit/models/groupdnet.py)

from synthkit.models.groupdnet import (  # noqa: E402
    PRESETS,
    GroupDNet,
    GroupDNetConfig,
    class_crops,
    latent_from_official,
    latent_to_official,
    reparameterize,
)
from synthkit.models.groupdnet_fast import FastGroupDNet  # noqa: E402


def _seg(config: GroupDNetConfig, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A blocky random label map (8x8-pixel cells), one-hot [B, C(+edge), H, W]."""
    g = torch.Generator().manual_seed(seed)
    H, W = config.image_size
    cells = torch.randint(0, config.num_classes, (batch, H // 8, W // 8), generator=g)
    label = cells.repeat_interleave(8, 1).repeat_interleave(8, 2)
    seg = torch.nn.functional.one_hot(label, config.num_classes).permute(0, 3, 1, 2).float()
    if config.instance_edge:
        seg = torch.cat([seg, torch.zeros(batch, 1, H, W)], dim=1)
    return seg


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return GroupDNet(GroupDNetConfig.from_preset("tiny_test"))


def test_presets_build_and_official_group_counts():
    df = PRESETS["deepfashion"]
    assert df.block_groups == (8, 8, 4, 4, 2, 2, 1) and df.block_channels[0] == 16 * 160
    assert df.latent_size == (4, 4) and PRESETS["cityscapes"].latent_size == (4, 8)
    assert PRESETS["ade20k"].block_channels == (2416, 2048, 1024, 1024, 512, 256, 128)
    for name in ("tiny_test", "toyscapes64", "toyscapes128"):
        GroupDNet(GroupDNetConfig.from_preset(name))


def test_official_parameter_counts_at_paper_size():
    # Section A1 of the SMIS notes: G params 96.3M (DeepFashion), 76.5M (Cityscapes); ADE20K 68.3M includes the
    # unused up_4 block (2*64 -> 64), which is not built here.
    with torch.device("meta"):
        # spectral_norm=False: the same parameters (SN only adds u, v buffers) and much faster to build on meta
        counts = {n: sum(p.numel() for p in GroupDNet(replace(PRESETS[n], spectral_norm=False), False).parameters())
                  for n in ("deepfashion", "cityscapes", "ade20k")}
    assert round(counts["deepfashion"] / 1e6, 1) == 96.3
    assert round(counts["cityscapes"] / 1e6, 1) == 76.5
    assert 66e6 < counts["ade20k"] < 68.3e6


def test_toyscapes_presets_fit_the_size_budget():
    for name in ("toyscapes64", "toyscapes128"):
        model = GroupDNet(GroupDNetConfig.from_preset(name))
        size_mb = sum(t.numel() * 4 for t in model.state_dict().values()) / 1e6
        assert size_mb <= 10.0, f"{name}: {size_mb:.1f} MB in fp32"


def test_forward_shapes_and_range(tiny):
    seg = _seg(tiny.config)
    z = tiny.sample_latent(2, generator=torch.Generator().manual_seed(1))
    assert z.shape == (2, 12, 8, 4, 4)
    image = tiny.eval().generate(z, seg)
    assert image.shape == (2, 3, 32, 32) and image.abs().max() <= 1.0


def test_latent_layout_matches_official_view():
    # The official test code draws z as [B, C, 8, 16] and views it to [B, 8C, 4, 4]; our [B, C, 8, 4, 4] is the
    # same memory, and class c owns official channels [8c, 8c + 8).
    flat = torch.randn(2, 5, 8, 16)
    official = flat.view(2, 5 * 8, 4, 4)
    ours = latent_from_official(official, 5)
    assert torch.equal(ours, flat.view(2, 5, 8, 4, 4))
    for c in range(5):
        assert torch.equal(ours[:, c], official[:, 8 * c: 8 * c + 8])
    assert torch.equal(latent_to_official(ours), official)
    assert latent_to_official(ours).data_ptr() == official.data_ptr()  # a view, no copy


def test_fc_is_grouped_per_class(tiny):
    # Changing class c's code changes only fc's output group c (channels [c*w, (c+1)*w), w = width / C).
    C, width = tiny.config.num_classes, tiny.config.block_channels[0]
    w = width // C
    z = tiny.sample_latent(1, generator=torch.Generator().manual_seed(0))
    base = tiny.G.fc(latent_to_official(z))
    for c in range(C):
        z2 = z.clone()
        z2[:, c] = torch.randn_like(z2[:, c])
        changed = (tiny.G.fc(latent_to_official(z2)) - base).abs().amax(dim=(0, 2, 3)) > 0  # [width]
        expected = torch.zeros(width, dtype=torch.bool)
        expected[c * w: (c + 1) * w] = True
        assert torch.equal(changed, expected), f"class {c}"


def test_encoder_groups_keep_classes_apart(tiny):
    # mu of class c depends only on class c's crop.
    E, C = tiny.E.eval(), tiny.config.num_classes
    crops = torch.randn(1, 3 * C, 32, 32)
    mu, _ = E(crops)
    crops2 = crops.clone()
    crops2[:, 3:6] = torch.randn(1, 3, 32, 32)  # class 1's crop
    mu2, _ = E(crops2)
    changed = (mu2 - mu).abs().flatten(2).amax(-1)[0] > 0  # [C]
    assert changed.tolist() == [c == 1 for c in range(C)]


def test_class_crops_box_and_absent_class():
    image = torch.arange(3 * 8 * 8, dtype=torch.float32).view(1, 3, 8, 8)
    seg = torch.zeros(1, 3, 8, 8)
    seg[0, 0, 2:4, 4:8] = 1  # class 0: a 2x4 box
    seg[0, 1] = 1 - seg[0, 0]
    crops = class_crops(image, seg, (2, 4))  # class 2 is absent
    assert crops.shape == (1, 9, 2, 4)
    assert torch.equal(crops[0, 0:3], image[0, :, 2:4, 4:8])
    assert torch.equal(crops[0, 6:9], torch.zeros(3, 2, 4))


def test_class_crops_are_the_nearest_resized_boxes():
    """The one-gather class_crops picks exactly the pixels of cropping image * m_c to m_c's box and resizing it with
    F.interpolate(mode="nearest"), for boxes, one-hot maps and sparse soft masks of odd sizes."""
    g = torch.Generator().manual_seed(0)

    def reference(image, seg, size):
        B, C = seg.shape[:2]
        out = image.new_zeros(B, C, 3, *size)
        for b in range(B):
            for c in range(C):
                ys, xs = torch.where(seg[b, c] != 0)
                if len(ys):
                    crop = (image[b] * seg[b, c])[None, :, ys.min():ys.max() + 1, xs.min():xs.max() + 1]
                    out[b, c] = F.interpolate(crop, size=size, mode="nearest")[0]
        return out.flatten(1, 2)

    for trial in range(60):
        B, C, H, W = 2, 1 + trial % 5, 5 + (7 * trial) % 31, 3 + (11 * trial) % 29
        size = (1 + (5 * trial) % 23, 2 + (3 * trial) % 19)
        image = torch.randn(B, 3, H, W, generator=g)
        if trial % 2:
            seg = F.one_hot(torch.randint(0, C, (B, H, W), generator=g), C).permute(0, 3, 1, 2).float()
            seg[:, -1] = 0  # an absent class
        else:
            seg = (torch.rand(B, C, H, W, generator=g) < 0.1) * torch.rand(B, C, H, W, generator=g)
        assert torch.equal(class_crops(image, seg, size), reference(image, seg, size)), (trial, H, W, size)


def test_forward_backward_one_training_step(tiny):
    cfg = tiny.config
    tiny.train()
    seg, x_real = _seg(cfg), torch.rand(2, 3, 32, 32) * 2 - 1
    mu, logvar = tiny.encode(x_real, seg)
    z = reparameterize(mu, logvar)
    x_fake = tiny.generate(z, seg)
    x_fake.mean().backward()
    grads = {n: p.grad for n, p in tiny.named_parameters()}
    assert all(g is not None for g in grads.values()), [n for n, g in grads.items() if g is None]
    assert grads["E.fc_mu.weight"].abs().sum() > 0  # the encoder is trained through z


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_norm_cache_equals_uncached_forward(tiny, mode):
    if mode == "train":
        # train-mode spectral norm runs a power iteration per call, so two calls differ anyway; test without it
        tiny = GroupDNet(GroupDNetConfig.from_preset("tiny_test", spectral_norm=False))
    tiny.train(mode == "train")
    seg = _seg(tiny.config, batch=1)
    z = tiny.sample_latent(3, generator=torch.Generator().manual_seed(2))
    seg3 = seg.expand(3, -1, -1, -1)
    with torch.no_grad():
        reference = tiny.generate(z, seg3)
        cache = tiny.precompute_norm_params(seg)  # batch 1, broadcast against 3 codes
        cached = tiny.generate(z, norm_cache=cache)
    assert (cached - reference).abs().max().item() <= 1e-5


def test_norm_cache_is_tied_to_its_forward(tiny):
    seg = _seg(tiny.config, batch=1)
    tiny.eval()
    fast = FastGroupDNet(tiny)
    with pytest.raises(ValueError, match="plain vs FastGroupDNet"):
        tiny.generate(tiny.sample_latent(1), norm_cache=fast.precompute_norm_params(seg))
    with pytest.raises(ValueError, match="plain vs FastGroupDNet"):
        fast.generate(tiny.sample_latent(1), norm_cache=tiny.precompute_norm_params(seg))
    tiny.train()
    with pytest.raises(ValueError, match="eval mode"):
        fast.generate(tiny.sample_latent(1), seg)


def test_norm_cache_is_tied_to_the_mode(tiny):
    seg = _seg(tiny.config, batch=1)
    cache = tiny.eval().precompute_norm_params(seg)
    tiny.train()
    with pytest.raises(ValueError, match="train/eval mode"):
        tiny.generate(tiny.sample_latent(1), norm_cache=cache)


def test_eval_cgnorm_folding_equals_the_equation(tiny):
    # Eval mode folds BN statistics into (scale, shift); compare with Eq. PFN(x)(1 + gamma) + beta computed directly.
    norm = tiny.G.blocks[1].norm_0
    norm.param_free_norm.running_mean.uniform_(-1, 1)
    norm.param_free_norm.running_var.uniform_(0.5, 2)
    norm.eval()
    x, m = torch.randn(2, norm.param_free_norm.num_features, 8, 8), _seg(tiny.config)[:, :, ::4, ::4]
    actv = torch.relu(norm.mlp_shared(m))
    expected = norm.param_free_norm(x) * (1 + norm.mlp_gamma(actv)) + norm.mlp_beta(actv)
    assert torch.allclose(norm(x, m), expected, atol=1e-5)


def test_bad_inputs_raise_clear_errors(tiny):
    seg = _seg(tiny.config)
    with pytest.raises(ValueError, match="latent_from_official"):
        tiny.generate(torch.randn(2, 96, 4, 4), seg)
    with pytest.raises(ValueError, match="one_hot"):
        tiny.generate(tiny.sample_latent(2), seg[:, :3])
    with pytest.raises(ValueError, match="unknown GroupDNet preset"):
        GroupDNetConfig.from_preset("nope")
    with pytest.raises(ValueError, match="divisible"):
        GroupDNetConfig(num_classes=4, image_size=(32, 32), block_channels=(32, 30), block_groups=(4, 4))


def test_save_and_load_roundtrip(tmp_path, tiny):
    import synthkit

    tiny.eval()
    tiny.save_pretrained(tmp_path / "m")
    loaded = synthkit.load(str(tmp_path / "m"))
    assert isinstance(loaded, GroupDNet) and loaded.config == tiny.config
    z, seg = tiny.sample_latent(1), _seg(tiny.config, batch=1)
    with torch.no_grad():
        assert torch.equal(loaded.generate(z, seg), tiny.generate(z, seg))


# ----------------------------------------------------------------------------------------------------------------
# Eval fast path: folded weights, in-place ops, shortcut fold (GroupDNetGenerator.folded)


def _randomize_norm_stats(model: GroupDNet, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for module in model.G.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.rand(module.running_mean.shape, generator=g) * 2 - 1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=g) * 1.5 + 0.5)


def _reference_eval_forward(G, z: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """The generator's equations written out with the modules themselves (no folding, no cache, no in-place)."""
    F = torch.nn.functional

    def cgnorm(norm, x, m):  # PFN(x) * (1 + gamma(m)) + beta(m), PFN with running statistics in eval mode
        actv = torch.relu(norm.mlp_shared(m))
        return norm.param_free_norm(x) * (1 + norm.mlp_gamma(actv)) + norm.mlp_beta(actv)

    m = G.norm_input(seg)
    x = G.fc(latent_to_official(z))
    for i, block in enumerate(G.blocks):
        if i > 0:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        mi = F.interpolate(m, size=x.shape[2:], mode="nearest")
        x_s = block.conv_s(cgnorm(block.norm_s, x, mi)) if block.learned_shortcut else x
        dx = block.conv_0(F.leaky_relu(cgnorm(block.norm_0, x, mi), 0.2))
        dx = block.conv_1(F.leaky_relu(cgnorm(block.norm_1, dx, mi), 0.2))
        x = x_s + dx
    return torch.tanh(G.conv_img(F.leaky_relu(x, 0.2)))


@pytest.mark.parametrize("preset", ["tiny_test", "cityscapes_small", "ade20k_small"])
def test_eval_fast_path_equals_the_equations(preset):
    torch.manual_seed(0)
    if preset == "cityscapes_small":  # the Cityscapes CG-Norm (instance-edge channel, no shortcut fold)
        config = GroupDNetConfig(4, (32, 64), (32, 32, 16, 8), (4, 4, 2, 1), "cityscapes", instance_edge=True,
                                 encoder_channels=8)
    elif preset == "ade20k_small":  # the ADE20K CG-Norm (class-grouped shared conv, hidden 2C or C*G)
        config = GroupDNetConfig(4, (32, 32), (32, 32, 16, 8), (4, 4, 2, 1), "ade20k", encoder_channels=8)
    else:
        config = GroupDNetConfig.from_preset(preset)
    model = GroupDNet(config, with_encoder=False)
    _randomize_norm_stats(model)
    model.eval()
    seg, z = _seg(config, batch=2), model.sample_latent(2, generator=torch.Generator().manual_seed(1))
    fast = FastGroupDNet(model)
    with torch.no_grad():
        expected = _reference_eval_forward(model.G, z, seg)
        plain = model.generate(z, seg)
        one_off = fast.generate(z, seg)
        cached = fast.generate(z, norm_cache=fast.precompute_norm_params(seg))
    with torch.inference_mode():
        in_inference_mode = fast.generate(z, seg)
    with_grad = fast.generate(z, seg)  # autograd on: weights folded afresh, no in-place on saved tensors
    for name, out in (("plain", plain), ("one-off", one_off), ("cache", cached),
                      ("inference_mode", in_inference_mode), ("grad enabled", with_grad)):
        assert (out - expected).abs().max().item() <= 1e-5, name
    folds = [f.shift_through_shortcut for f in fast.fast_G._fold().blocks]
    shortcut = [b.learned_shortcut for b in model.G.blocks]
    if config.cgnorm in ("deepfashion", "ade20k"):  # every shortcut narrows: its shift conv goes through conv_s
        assert folds == shortcut and any(folds)
    else:  # Cityscapes: conv_s groups do not read whole groups of the shift conv -> plain form
        assert not any(folds)


@pytest.mark.parametrize("path", ["plain", "fast"])
def test_eval_forward_with_grad_reaches_codes_and_weights(tiny, path):
    tiny.eval()
    gen = FastGroupDNet(tiny) if path == "fast" else tiny
    z = tiny.sample_latent(1).requires_grad_(True)
    image = gen.generate(z, _seg(tiny.config, batch=1))
    image.square().mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    last = tiny.G.blocks[-1]
    assert last.learned_shortcut
    # the fast path folds the shortcut's shift conv through conv_s: its weights still get gradients
    assert last.norm_s.mlp_beta.weight.grad.abs().sum() > 0
    assert tiny.G.blocks[0].conv_0.parametrizations.weight.original.grad.abs().sum() > 0


def test_folded_weights_follow_weight_changes(tiny):
    """The no-grad fold is reused across calls, but never after the weights changed."""
    tiny.eval()
    z, seg = tiny.sample_latent(1), _seg(tiny.config, batch=1)
    torch.manual_seed(5)
    other = GroupDNet(tiny.config)
    _randomize_norm_stats(other, seed=3)
    other.eval()
    fast, fast_other = FastGroupDNet(tiny), FastGroupDNet(other)
    with torch.no_grad():
        before = fast.generate(z, seg)
        assert fast.fast_G.folded() is fast.fast_G.folded()  # reused while nothing changes
        tiny.load_state_dict(other.state_dict())
        after = fast.generate(z, seg)
        expected = fast_other.generate(z, seg)
        assert not torch.allclose(before, after)
        assert torch.equal(after, expected)
        tiny.G.conv_img.bias.add_(0.5)  # an in-place edit counts too
        assert not torch.equal(fast.generate(z, seg), expected)


def test_one_off_forward_does_not_touch_a_norm_cache(tiny):
    tiny.eval()
    fast = FastGroupDNet(tiny)
    seg = _seg(tiny.config, batch=1)
    with torch.no_grad():
        cache = fast.precompute_norm_params(seg)
        snapshot = [{k: tuple(t.clone() for t in v) for k, v in p.items()} for p in cache.params]
        z = tiny.sample_latent(1)
        first = fast.generate(z, norm_cache=cache)
        fast.generate(z, seg)  # a one-off forward overwrites its own label-map tensors, never the cache's
        second = fast.generate(z, norm_cache=cache)
    assert torch.equal(first, second)
    for p, q in zip(cache.params, snapshot):
        assert all(torch.equal(a, b) for k in p for a, b in zip(p[k], q[k]))


# ----------------------------------------------------------------------------------------------------------------
# Training task


def test_make_task_steps_on_toyscapes():
    from synthkit.models.groupdnet import make_task

    torch.manual_seed(0)
    from synthkit.train import resolve_task

    _, train_cfg = resolve_task("smis", "tiny_test", {"perceptual_backbone": "none"})
    assert train_cfg.lr_g == 1e-4 and train_cfg.lr_d == 4e-4
    assert train_cfg.betas == (0.0, 0.9) and train_cfg.ema_decay is None
    torch.manual_seed(0)
    task = make_task("tiny_test", {"perceptual_backbone": None})
    data = task.make_dataset("train")
    batch = torch.utils.data.default_collate([data[0], data[1]])
    d = task.d_step(batch)
    d["loss"].backward()
    assert all(p.grad is not None for p in task.D.parameters())
    assert all(p.grad is None for p in task.G.parameters())  # the D step does not reach G
    g = task.g_step(batch)
    assert set(g) >= {"loss", "g_hinge", "feat", "kld"}
    g["loss"].backward()
    assert task.E.fc_mu.weight.grad is not None and task.G.fc.weight.grad is not None
    assert task.sample(task.G.eval(), batch).shape == (2, 3, 32, 32)


def test_make_task_rejects_non_toyscapes_presets():
    from synthkit.models.groupdnet import make_task

    with pytest.raises(ValueError, match="toyscapes64"):
        # an official class count (8) at a small width: the task builds, its data does not exist offline
        make_task("deepfashion", {"block_channels": (128, 128, 128, 64, 32, 16, 8), "encoder_channels": 8}).make_dataset()


@pytest.mark.slow
def test_train_two_steps_and_export(tmp_path):
    import synthkit
    from synthkit.train import run_train

    run_train("smis", "tiny_test", ["perceptual_backbone=none", "progress=false"], steps=2, out=str(tmp_path / "run"))
    model = synthkit.load(str(tmp_path / "run" / "model"))
    assert isinstance(model, GroupDNet) and model.E is not None


# ----------------------------------------------------------------------------------------------------------------
# Converter helpers (synthkit/convert/common.py)


def test_fold_spectral_norm_matches_old_hook():
    """The folded weight equals what torch's old spectral_norm hook computes in eval mode."""
    torch.manual_seed(0)
    conv = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 4, 3, groups=2))
    conv.train()
    for _ in range(3):
        conv(torch.randn(1, 6, 8, 8))  # power iterations update u, v
    conv.eval()
    x = torch.randn(1, 6, 8, 8)
    expected = conv(x)
    from synthkit.convert.common import fold_spectral_norm

    folded = fold_spectral_norm({k: v for k, v in conv.state_dict().items()})
    plain = torch.nn.Conv2d(6, 4, 3, groups=2)
    plain.load_state_dict(folded, strict=True)
    assert torch.allclose(plain(x), expected, atol=1e-6)
