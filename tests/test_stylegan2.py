"""StyleGAN2 (synthkit.models.stylegan2) on the tiny preset: shapes, noise, W+, D, losses, one training step."""
from __future__ import annotations

import math

import pytest
import torch

from synthkit import losses
from synthkit.models.stylegan2 import (
    PRESETS,
    StyleGAN2Config,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    channel_table,
    fir_kernel,
    make_task,
    upfirdn2d,
)


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return StyleGAN2Generator(StyleGAN2Config.from_preset("tiny_test")).eval()


def test_presets_and_latent_layout():
    f = PRESETS["ffhq1024"]
    assert f.n_latent == 18 and f.num_noise == 17 and f.style_dim == 512 and f.n_mlp == 8  # config-f: W+ is 18x512
    assert f.channels == (512, 512, 512, 512, 512, 256, 128, 64, 32)
    assert PRESETS["ffhq256"].n_latent == 14 and channel_table(256, 1)[-1] == 64
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Config(image_size=48)
    with pytest.raises(ValueError, match="one width per resolution"):
        StyleGAN2Config(image_size=16, channels=(8, 8))
    with pytest.raises(ValueError, match="unknown StyleGAN2 preset"):
        StyleGAN2Config.from_preset("ffhq512")


def test_generator_shapes_noise_modes_and_features(G):
    cfg = G.config
    z = torch.randn(2, cfg.style_dim)
    with torch.no_grad():
        x = G(z, noise="const")
        assert x.shape == (2, 3, 32, 32)
        assert torch.equal(x, G(z, noise="const"))  # fixed noise: deterministic
        wplus = G.map(z)[:, None].repeat(1, cfg.n_latent, 1)
        torch.testing.assert_close(G.synthesis(wplus, "const"), x)
        image, feats = G.synthesis(wplus, "const", return_features=True)
        assert [f.shape[-1] for f in feats] == [4, 8, 16, 32]
        G.convs[0].noise.weight.fill_(1.0)  # a visible noise strength: random noise must change the image
        assert not torch.equal(G.synthesis(wplus, "random"), G.synthesis(wplus, "random"))
        G.convs[0].noise.weight.zero_()
    assert [n.shape[-1] for n in G.noise_maps("zero")] == [4, 8, 8, 16, 16, 32, 32]


def test_truncation_pulls_towards_the_mean_w(G):
    z = torch.randn(4, G.config.style_dim)
    w_mean = G.mean_w(n=2000)
    with torch.no_grad():
        torch.testing.assert_close(G(z, "const", truncation=0.0, w_mean=w_mean),
                                   G.synthesis(w_mean[:, None].repeat(4, G.config.n_latent, 1), "const"))


def test_bad_inputs_say_what_to_pass(G):
    with pytest.raises(ValueError, match=r"z must be \[B, 16\]"):
        G(torch.randn(2, 8))
    with pytest.raises(ValueError, match=r"wplus must be \[B, 8, 16\].*repeat"):
        G.synthesis(torch.randn(2, 16))
    with pytest.raises(ValueError, match="noise needs 7 maps"):
        G.synthesis(torch.randn(1, 8, 16), noise=[torch.zeros(1, 1, 4, 4)])
    with pytest.raises(ValueError, match="'random', 'const', 'zero'"):
        G.synthesis(torch.randn(1, 8, 16), noise="fresh")


def test_upfirdn2d_is_the_filtered_zero_insertion():
    x = torch.randn(1, 2, 5, 5)
    k = fir_kernel((1, 3, 3, 1)) * 4
    up = upfirdn2d(x, k, up=2, pad=(2, 1))
    assert up.shape == (1, 2, 10, 10)
    assert up.mean().item() == pytest.approx(x.mean().item(), abs=0.1)  # gain 4 keeps the mean (interior)
    const = upfirdn2d(torch.ones(1, 1, 6, 6), k, up=2, pad=(2, 1))
    assert torch.allclose(const[..., 2:-2, 2:-2], torch.ones(1, 1, 8, 8))  # a constant stays constant inside
    down = upfirdn2d(torch.ones(1, 1, 8, 8), fir_kernel((1, 3, 3, 1)), down=2, pad=(1, 1))
    assert down.shape == (1, 1, 4, 4) and torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1, 1, 2, 2))


def test_modulated_conv_demodulation_normalises_each_output_filter(G):
    conv = G.convs[1].conv
    w = torch.randn(3, G.config.style_dim)
    x = torch.randn(3, conv.in_ch, 8, 8)
    out = conv(x, w)
    s = conv.modulation(w)
    weight = conv.scale * conv.weight * s.view(3, 1, -1, 1, 1)
    weight = weight * torch.rsqrt(weight.pow(2).sum((2, 3, 4), keepdim=True) + 1e-8)
    assert torch.allclose(weight.pow(2).sum((2, 3, 4)), torch.ones(3, conv.out_ch), atol=1e-4)
    ref = torch.cat([torch.nn.functional.conv2d(x[b:b + 1], weight[b], padding=1) for b in range(3)])
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    # the batched path (activations modulated) equals the per-sample weights of the equations, also when upsampling
    for c in (G.convs[0].conv, G.convs[1].conv):
        xin = torch.randn(3, c.in_ch, 8, 8)
        torch.testing.assert_close(c._modulate_activations(xin, c.modulation(w)),
                                   c._per_sample_weights(xin, c.modulation(w)), rtol=1e-4, atol=1e-5)


def test_discriminator_and_losses_backprop():
    cfg = StyleGAN2Config.from_preset("tiny_test")
    D = StyleGAN2Discriminator(cfg)
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    logits = D(x)
    assert logits.shape == (4, 1)
    r1 = losses.r1_penalty(logits, x)
    assert r1.item() > 0
    (losses.d_logistic_loss(logits, D(torch.randn(4, 3, 32, 32))) + r1).backward()
    assert all(p.grad is not None for p in D.parameters())


def test_path_length_penalty_matches_its_definition():
    torch.manual_seed(0)
    G = StyleGAN2Generator(StyleGAN2Config.from_preset("tiny_test"))
    wplus = G.map(torch.randn(3, 16))[:, None].repeat(1, 8, 1)
    images = G.synthesis(wplus, "const")
    torch.manual_seed(1)
    penalty, a, lengths = losses.path_length_penalty(images, wplus, torch.zeros(()))
    torch.manual_seed(1)
    y = torch.randn_like(images) / math.sqrt(32 * 32)
    (grad,) = torch.autograd.grad((images * y).sum(), wplus, retain_graph=True)
    expected = grad.pow(2).sum(2).mean(1).sqrt()
    torch.testing.assert_close(lengths, expected)
    assert a.item() == pytest.approx(0.01 * expected.mean().item(), rel=1e-5)
    assert penalty.item() == pytest.approx((expected - a).pow(2).mean().item(), rel=1e-5)
    penalty.backward()
    assert G.mapping[0].weight.grad is not None


def test_training_task_steps_with_lazy_regularisation():
    from synthkit.train import resolve_task

    task, cfg = resolve_task("image2stylegan", "tiny_test", {})
    assert (cfg.lr_g, cfg.betas, cfg.batch_size) == (0.002, (0.0, 0.99), 2)  # the preset's training settings
    data = task.make_dataset("train")
    batch = torch.utils.data.default_collate([data[0], data[1]])
    logs = [task.d_step(batch) for _ in range(2)]
    assert "r1" not in logs[0] and "r1" in logs[1]  # d_reg_every = 2
    logs[1]["loss"].backward()
    g = [task.g_step(batch) for _ in range(2)]
    assert "path_length" in g[1] and torch.isfinite(g[1]["loss"])
    g[1]["loss"].backward()
    assert task.G.mapping[0].weight.grad is not None
    assert task.sample(task.G.eval(), batch).shape == (2, 3, 32, 32)
    assert make_task("tiny_test").config == task.config.from_preset("tiny_test")


def test_save_and_load_roundtrip(tmp_path, G):
    import synthkit

    G.save_pretrained(tmp_path / "g")
    loaded = synthkit.load(tmp_path / "g")
    z = torch.randn(1, 16)
    with torch.no_grad():
        assert torch.equal(loaded(z, "const"), G(z, "const"))
