"""Image2StyleGAN++ embedding on a tiny random StyleGAN2 (32x32) with the bundled offline backbone: the sequential
schedule, the masked loss, every application, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synthkit.metrics.reconstruction import psnr
from synthkit.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from synthkit.pipelines.image2stylegan import Image2StyleGANPipeline, gaussian_blur, sample_images
from synthkit.viz import to_uint8


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    G = StyleGAN2Generator(StyleGAN2Config.from_preset("tiny_test"))
    with torch.no_grad():
        for conv in G.convs:
            conv.noise.weight.fill_(0.3)  # random G has zero noise strength: give the noise maps an effect
    return Image2StyleGANPipeline(G, "toyscapes")


@pytest.fixture(scope="module")
def target(pipe):
    """An image the generator can make exactly: known W+ (near the mean w) and known noise."""
    G = pipe.G
    g = torch.Generator().manual_seed(3)
    wplus = pipe.mean_w()[:, None].repeat(1, G.config.n_latent, 1) + 0.5 * torch.randn(1, G.config.n_latent,
                                                                                       G.config.style_dim, generator=g)
    noise = G.noise_maps("random", 1, generator=g)
    with torch.no_grad():
        x = G.synthesis(wplus, noise).clamp(-1, 1)
    return x, wplus, noise


def test_sequential_schedule_w_then_noise(pipe, target):
    x, _, _ = target
    start = pipe.G.synthesis(pipe.mean_w()[:, None].repeat(1, 8, 1), "const").clamp(-1, 1)
    w_only = pipe.embed(x, steps_w=60, steps_noise=0, lr_w=0.05)
    assert [h["stage"] for h in w_only.history] == ["w"] * 60
    assert all(torch.equal(a, b) for a, b in zip(w_only.noise, pipe.G.noise_maps("const", 1)))  # noise frozen
    assert w_only.psnr > psnr(start, x) + 3  # W+ alone gets closer than the mean image
    both = pipe.embed(x, steps_w=0, steps_noise=60, lr_noise=0.5, init_wplus=w_only.wplus, init_noise=w_only.noise)
    assert torch.equal(both.wplus, w_only.wplus)  # W+ frozen while the noise moves
    assert {h["stage"] for h in both.history} == {"noise"} and "perceptual" not in both.history[-1]  # MSE only
    assert both.psnr > w_only.psnr  # noise optimisation adds detail on top of W+
    assert both.image.shape == (32, 32, 3) and both.image.dtype == np.uint8


def test_joint_schedule_and_the_row_mask(pipe, target):
    x, _, _ = target
    joint = pipe.embed(x, steps_w=10, steps_noise=10, schedule="joint")
    assert [h["stage"] for h in joint.history] == ["joint"] * 20
    start = pipe.mean_w()[:, None].repeat(1, 8, 1)
    rows = pipe.embed(x, steps_w=10, steps_noise=0, w_rows=[0, 1, 2])
    assert torch.equal(rows.wplus[:, 3:], start[:, 3:]) and not torch.equal(rows.wplus[:, :3], start[:, :3])
    w_space = pipe.embed(x, steps_w=10, steps_noise=0, space="w")
    assert torch.equal(w_space.wplus, w_space.wplus[:, :1].expand_as(w_space.wplus))  # one w for every layer
    with pytest.raises(ValueError, match="'sequential' or 'joint'"):
        pipe.embed(x, schedule="alternating")
    with pytest.raises(ValueError, match="not both 0"):
        pipe.embed(x, steps_w=0, steps_noise=0)


def test_masked_mse_only_sees_its_mask(pipe, target):
    x, _, _ = target
    mask = np.zeros((32, 32), bool)
    mask[:, :16] = True
    other = -x.flip(-1)  # a different image for the right half
    res = pipe.embed(x, y=other, mask_mse=mask, steps_w=40, steps_noise=0, lr_w=0.05, lambda_perceptual=0.0)
    m = pipe.prepare_mask(mask)
    assert res.psnr == pytest.approx(psnr(res.tensor, x, m))  # PSNR is measured where M_m = 1
    assert "mse2" in res.history[-1]  # the complement term pulls the right half towards y
    with pytest.raises(ValueError, match="MSE mask is empty"):
        pipe.embed(x, mask_mse=np.zeros((32, 32)))


def test_inpaint_crossover_style_scribble_and_blend(pipe, target):
    x, _, _ = target
    hole = np.zeros((32, 32), np.uint8)
    hole[8:20, 8:20] = 255
    inp = pipe.inpaint(x, hole, steps_w=20, steps_noise=10)
    assert {h["stage"] for h in inp.history} == {"w", "noise"} and inp.psnr is not None
    with pytest.raises(ValueError, match="hole mask is empty"):
        pipe.inpaint(x, np.zeros((32, 32)))
    with pytest.raises(ValueError, match="whole image"):
        pipe.inpaint(x, np.ones((32, 32)))
    b = -x
    half = np.zeros((32, 32), bool)
    half[:, :16] = True
    cross = pipe.crossover(x, b, half, steps_w=10, steps_noise=5)
    assert "mse2" in cross.history[0]
    style = pipe.local_style_transfer(x, b, half, steps_w=5, steps_noise=0)
    assert "style" in style.history[0]
    scribble = pipe.scribble_edit(x, b, half, steps_w=5, steps_noise=0)
    assert "perceptual" not in scribble.history[0]
    a_res = pipe.embed(x, steps_w=5, steps_noise=0)
    b_res = pipe.embed(b, steps_w=5, steps_noise=0)
    same = pipe.activation_blend(a_res, b_res, np.ones((32, 32)), resolution=16, blur=0)
    np.testing.assert_array_equal(same.image, a_res.image)  # mask 1 everywhere: a's own features
    mixed = pipe.activation_blend(a_res, b_res, half, resolution=16)
    assert not np.array_equal(mixed.image, a_res.image)
    with pytest.raises(ValueError, match="resolution must be one of"):
        pipe.activation_blend(a_res, b_res, half, resolution=12)


def test_callback_previews_and_can_stop(pipe, target):
    x, _, _ = target
    seen = []

    def cb(stage, step, losses, image):
        seen.append((stage, step, image.shape))
        return step >= 10

    res = pipe.embed(x, steps_w=50, steps_noise=20, callback=cb, callback_every=5)
    assert seen == [("w", 5, (1, 3, 32, 32)), ("w", 10, (1, 3, 32, 32))]
    assert len(res.history) == 10 and any("stopped" in n for n in res.notes)


def test_inputs_are_converted_and_said_so(pipe, target):
    x, _, _ = target
    wide = np.concatenate([to_uint8(x[0])] * 2, axis=1)  # 32 x 64
    t, notes = pipe.prepare_image(wide)
    assert t.shape == (1, 3, 32, 32) and any("centre-cropped" in n for n in notes)
    big, notes = pipe.prepare_image(np.zeros((64, 64, 4), np.uint8))
    assert any("resized" in n for n in notes) and any("RGBA" in n for n in notes)
    m = pipe.prepare_mask(np.pad(np.ones((10, 10)), ((0, 54), (0, 54))))
    assert m.shape == (1, 1, 32, 32) and m.sum() == 25
    inner = torch.zeros(1, 1, 32, 32)
    inner[..., 12:20, 12:20] = 1
    blurred = gaussian_blur(inner, 2.0)
    assert blurred.min() == 0 and 0 < blurred[..., 11, 16] < blurred[..., 16, 16] < 1  # a soft edge, no new mass
    assert blurred.sum().item() == pytest.approx(inner.sum().item(), rel=1e-4)


def test_sample_images_for_the_cli(pipe):
    images = sample_images(pipe.G, n=2, seed=1)
    assert len(images) == 2 and images[0].shape == (32, 32, 3)
