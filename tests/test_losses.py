"""Losses against values computed by hand (numbers in the comments)."""
import math

import pytest
import torch

from synthkit import losses as L


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_d_hinge_hand_values():
    # real: relu(1 - [2, 0.5, -1]) = [0, 0.5, 2] -> mean 2.5/3; fake: relu(1 + [-2, 0, 1]) = [0, 1, 2] -> mean 1
    loss = L.d_hinge_loss(t(2.0, 0.5, -1.0), t(-2.0, 0.0, 1.0))
    assert loss.item() == pytest.approx(2.5 / 3 + 1.0)


def test_g_hinge_hand_values():
    assert L.g_hinge_loss(t(1.0, 2.0, -0.5)).item() == pytest.approx(-2.5 / 3)


def test_logistic_and_nonsaturating_hand_values():
    sp = lambda x: math.log1p(math.exp(x))  # softplus
    real, fake = t(1.0, -2.0), t(0.5, 3.0)
    expected_d = (sp(-1.0) + sp(2.0)) / 2 + (sp(0.5) + sp(3.0)) / 2
    assert L.d_logistic_loss(real, fake).item() == pytest.approx(expected_d)
    assert L.g_nonsaturating_loss(fake).item() == pytest.approx((sp(-0.5) + sp(-3.0)) / 2)


def test_multiscale_outputs_average_over_scales_and_use_last_block():
    # scale 0 logits [0] -> relu(1-0)=1 ; scale 1 logits [3] -> relu(1-3)=0 ; mean = 0.5
    feats = torch.full((1, 4), 100.0, dtype=torch.float64)  # intermediate features must be ignored
    real = [[feats, t(0.0)], [feats, feats, t(3.0)]]
    fake = [t(-1.0), t(1.0)]  # list of per-scale tensors: relu(1-1)=0, relu(1+1)=2 -> mean 1
    assert L.d_hinge_loss(real, fake).item() == pytest.approx(0.5 + 1.0)
    assert L.g_hinge_loss(fake).item() == pytest.approx(0.0)  # -(-1 + 1)/2
    assert len(L.final_logits(real)) == 2


def test_bad_discriminator_output_is_a_clear_error():
    with pytest.raises(TypeError, match="discriminator output"):
        L.g_hinge_loss([])
    with pytest.raises(TypeError, match="scale 1"):
        L.g_hinge_loss([t(1.0), "x"])


def test_r1_penalty_on_linear_discriminator():
    # D(x) = sum(w * x) -> dD/dx = w for every sample; ||w||^2 = 1 + 4 + 9 = 14
    w = t(1.0, 2.0, 3.0).view(1, 3, 1, 1)
    x = torch.randn(4, 3, 1, 1, dtype=torch.float64, requires_grad=True)
    logits = (w * x).flatten(1).sum(1)
    r1 = L.r1_penalty(logits, x)
    assert r1.item() == pytest.approx(14.0)
    # quadratic D(x) = sum(x^2) -> grad 2x -> penalty mean_b sum 4x^2, and it is differentiable
    x2 = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    r1 = L.r1_penalty(x2.pow(2).sum(1), x2)
    assert r1.item() == pytest.approx((4 * 5 + 4 * 1) / 2)
    (g,) = torch.autograd.grad(r1, x2)
    assert torch.allclose(g, 8 * x2.detach() / 2)  # d/dx of mean_b 4 sum x^2 = 8x / B


def test_r1_requires_grad_error():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="requires_grad"):
        L.r1_penalty(x.sum(1), x)


def test_feature_matching_hand_values():
    # scale 0: |1-0| mean=1 and |[2,2]-[0,1]| mean=1.5 -> 2.5 (logits ignored)
    # scale 1: |3-1| = 2                                   -> 2
    # mean over 2 scales = 2.25
    fake = [[t(1.0), t(2.0, 2.0), t(99.0)], [t(3.0), t(-5.0)]]
    real = [[t(0.0), t(0.0, 1.0), t(0.0)], [t(1.0), t(7.0)]]
    assert L.feature_matching_loss(fake, real).item() == pytest.approx(2.25)


def test_feature_matching_detaches_real_and_checks_structure():
    f = torch.ones(2, requires_grad=True)
    r = torch.zeros(2, requires_grad=True)
    L.feature_matching_loss([[f, f]], [[r, r]]).backward()
    assert f.grad is not None and r.grad is None
    with pytest.raises(ValueError, match="scales"):
        L.feature_matching_loss([[f, f]], [[r, r], [r, r]])
    with pytest.raises(TypeError, match="intermediate features"):
        L.feature_matching_loss([f], [r])


def test_kl_divergence_reductions():
    mu, logvar = t(1.0, 0.0, 2.0, 0.0).view(2, 2), t(0.0, math.log(2.0), 0.0, 0.0).view(2, 2)
    # per element: -0.5(1 + lv - mu^2 - e^lv): [0.5, 0.5(2 - 1 - ln2), 2, 0]
    per = [0.5, 0.5 * (1.0 - math.log(2.0)), 2.0, 0.0]
    assert L.kl_divergence(mu, logvar).item() == pytest.approx(sum(per))
    assert L.kl_divergence(mu, logvar, reduction="batchmean").item() == pytest.approx(sum(per) / 2)
    assert L.kl_divergence(mu, logvar, reduction="mean").item() == pytest.approx(sum(per) / 4)
    assert L.kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0.0
    with pytest.raises(ValueError, match="reduction"):
        L.kl_divergence(mu, logvar, reduction="max")


def test_perceptual_loss_weighted_l1():
    fx = [t(1.0, 3.0), t(0.0)]
    fy = [t(0.0, 0.0), t(4.0)]
    # layer 0: mean |[1,3]| = 2 ; layer 1: 4
    assert L.perceptual_loss(fx, fy).item() == pytest.approx(6.0)
    assert L.perceptual_loss(fx, fy, weights=[0.5, 0.25]).item() == pytest.approx(1.0 + 1.0)
    with pytest.raises(ValueError, match="weights"):
        L.perceptual_loss(fx, fy, weights=[1.0])
    with pytest.raises(ValueError, match="shapes"):
        L.perceptual_loss([t(1.0)], [t(1.0, 2.0)])


# ---- the pieces both SPADE-family papers share ---------------------------------------------------------------


@pytest.mark.parametrize("paper", ["smis", "bachgan"])
def test_missing_perceptual_backbone_is_one_clear_error_for_every_paper(paper, tmp_path, monkeypatch):
    from synthkit.backbones import BackboneWeightsError
    from synthkit.train import resolve_task

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no torchvision weights here
    monkeypatch.setenv("SYNTHKIT_OFFLINE", "1")
    task, _ = resolve_task(paper, "tiny_test", {"perceptual_backbone": "vgg19", "lambda_perceptual": 10.0})
    with pytest.raises(BackboneWeightsError, match="vgg19.*lambda_perceptual=0"):
        task.backbone
    off, _ = resolve_task(paper, "tiny_test", {"perceptual_backbone": "vgg19", "lambda_perceptual": 0.0})
    assert off.backbone is None  # the term is off: nothing to load


def test_backbone_perceptual_loss_uses_the_deepest_spade_weights():
    from synthkit.backbones import load_backbone
    from synthkit.losses import SPADE_PERCEPTUAL_WEIGHTS, backbone_perceptual_loss, perceptual_loss

    bb = load_backbone("toyscapes")
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    layers = list(bb.perceptual_layers)
    fx, fy = bb.features(x, layers), bb.features(y, layers)
    weights = SPADE_PERCEPTUAL_WEIGHTS[-len(layers):]
    expected = perceptual_loss([fx[n] for n in layers], [fy[n] for n in layers], weights)
    torch.testing.assert_close(backbone_perceptual_loss(bb, x, y), expected)
    assert weights[-1] == 1.0
    assert float(backbone_perceptual_loss(bb, x, x)) == 0.0


def test_discriminate_runs_fake_and_real_in_one_batch():
    from synthkit.nn import MultiscaleDiscriminator, discriminate

    torch.manual_seed(0)
    D = MultiscaleDiscriminator(5, 8, 2, 2).eval()
    cond, fake, real = torch.rand(2, 2, 32, 32), torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    pred_fake, pred_real = discriminate(D, cond, fake, real)
    alone = D(torch.cat([cond, fake], 1))
    assert len(pred_fake) == len(pred_real) == 2
    for got, want in zip(pred_fake, alone):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)  # eval mode: batch-independent
