"""GAN losses as small pure functions: one formula per function, the formula in its docstring.

Every function returns a scalar tensor and has no learnable state. Loss weights (``lambda_feat``,
``lambda_kld``, ``gamma`` ...) are applied by the caller, in the paper's ``d_step`` / ``g_step``, where the
student reads them next to the paper's total objective.

Discriminator outputs may come in three shapes; every adversarial loss here accepts all of them:

* a tensor of logits ``[B, 1, h, w]`` (or ``[B]``, ``[B, 1]``): one discriminator;
* a list of tensors: one logits tensor per scale of a multi-scale discriminator;
* a list of lists of tensors, as the multi-scale PatchGAN of pix2pixHD / SPADE returns with intermediate
  features on: per scale, the outputs of every block, the last one being the logits.

With several scales the loss is the mean over scales of the per-scale loss (SPADE ``GANLoss``).

Symbols: ``D(x)`` discriminator logits, ``x_real`` a real image, ``x_fake = G(...)`` a generated one,
``E`` mean over batch and spatial positions.
"""
from __future__ import annotations

import math
from typing import Literal, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

# A discriminator output: a tensor, a list of per-scale tensors, or a list (scales) of lists (block outputs).
DOutput = Union[Tensor, Sequence[Tensor], Sequence[Sequence[Tensor]]]

__all__ = [
    "d_hinge_loss",
    "g_hinge_loss",
    "d_logistic_loss",
    "g_nonsaturating_loss",
    "r1_penalty",
    "feature_matching_loss",
    "kl_divergence",
    "perceptual_loss",
    "final_logits",
]


def final_logits(pred: DOutput) -> list[Tensor]:
    """Return the logits of each scale of a discriminator output, as a list (one tensor per scale).

    ``Tensor`` -> ``[pred]``; ``[t0, t1]`` -> ``[t0, t1]``; ``[[f00, f01, logits0], [f10, logits1]]`` ->
    ``[logits0, logits1]``.
    """
    if isinstance(pred, Tensor):
        return [pred]
    if isinstance(pred, (list, tuple)) and len(pred) > 0:
        scales = []
        for i, scale in enumerate(pred):
            if isinstance(scale, Tensor):
                scales.append(scale)
            elif isinstance(scale, (list, tuple)) and len(scale) > 0 and isinstance(scale[-1], Tensor):
                scales.append(scale[-1])
            else:
                raise TypeError(
                    f"discriminator output, scale {i}: expected a Tensor or a non-empty list of Tensors "
                    f"(last = logits), got {type(scale).__name__}"
                )
        return scales
    raise TypeError(
        "discriminator output: expected a Tensor, a list of Tensors (one per scale) or a list of lists of "
        f"Tensors (per scale, block outputs, last = logits); got {type(pred).__name__}"
        + (" (empty)" if isinstance(pred, (list, tuple)) else "")
    )


def _mean_over_scales(pred: DOutput, per_scale) -> Tensor:
    scales = final_logits(pred)
    return torch.stack([per_scale(logits) for logits in scales]).mean()


def d_hinge_loss(logits_real: DOutput, logits_fake: DOutput) -> Tensor:
    """Hinge loss of the discriminator (Lim & Ye 2017; SAGAN, SPADE, SMIS, BachGAN).

    L_D = E[max(0, 1 - D(x_real))] + E[max(0, 1 + D(x_fake))]

    With several scales each of the two terms is averaged over scales.
    """
    real = _mean_over_scales(logits_real, lambda t: F.relu(1.0 - t).mean())
    fake = _mean_over_scales(logits_fake, lambda t: F.relu(1.0 + t).mean())
    return real + fake


def g_hinge_loss(logits_fake: DOutput) -> Tensor:
    """Hinge loss of the generator: L_G = -E[D(x_fake)] (averaged over scales)."""
    return _mean_over_scales(logits_fake, lambda t: -t.mean())


def d_logistic_loss(logits_real: DOutput, logits_fake: DOutput) -> Tensor:
    """Logistic (non-saturating GAN) loss of the discriminator (Goodfellow et al. 2014; StyleGAN2).

    L_D = E[softplus(-D(x_real))] + E[softplus(D(x_fake))]
        = -E[log sigmoid(D(x_real))] - E[log(1 - sigmoid(D(x_fake)))]
    """
    real = _mean_over_scales(logits_real, lambda t: F.softplus(-t).mean())
    fake = _mean_over_scales(logits_fake, lambda t: F.softplus(t).mean())
    return real + fake


def g_nonsaturating_loss(logits_fake: DOutput) -> Tensor:
    """Non-saturating generator loss: L_G = E[softplus(-D(x_fake))] = -E[log sigmoid(D(x_fake))]."""
    return _mean_over_scales(logits_fake, lambda t: F.softplus(-t).mean())


def r1_penalty(logits_real: DOutput, x_real: Tensor) -> Tensor:
    """R1 gradient penalty on real data (Mescheder et al. 2018; StyleGAN2 ``d_r1_loss``).

    R1 = E_x[ || d D(x_real) / d x_real ||_2^2 ]   (squared norm summed over C, H, W; mean over the batch)

    The caller multiplies by ``gamma / 2`` (and by the lazy-regularisation interval if used). ``x_real`` must
    have ``requires_grad=True`` and ``logits_real`` must have been computed from it; the graph is kept
    (``create_graph=True``) so the penalty can be back-propagated into D. With several scales the logits of
    all scales are summed before taking the gradient.
    """
    if not x_real.requires_grad:
        raise ValueError(
            "r1_penalty: x_real.requires_grad is False; call x_real.requires_grad_(True) before computing "
            "logits_real = D(x_real)"
        )
    total = sum(logits.sum() for logits in final_logits(logits_real))
    (grad_real,) = torch.autograd.grad(outputs=total, inputs=x_real, create_graph=True)
    return grad_real.pow(2).flatten(1).sum(dim=1).mean()  # [B, C, H, W] -> [B] -> scalar


def path_length_penalty(
    images: Tensor, wplus: Tensor, mean_path_length: Tensor, decay: float = 0.01
) -> tuple[Tensor, Tensor, Tensor]:
    """Path-length regularisation of StyleGAN2 (Karras et al. 2020, Eq. (4)):

    L_pl = E_{w, y}[ (|| J_w^T y ||_2 - a)^2 ],   y ~ N(0, I) / sqrt(H W),   a <- a + decay (mean ||J_w^T y|| - a)

    ``images`` [B, 3, H, W] must have been computed from ``wplus`` [B, n_latent, style_dim]; returns
    (penalty, the updated running mean a (detached), the per-sample path lengths).
    """
    y = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad(outputs=(images * y).sum(), inputs=wplus, create_graph=True)
    lengths = grad.pow(2).sum(dim=2).mean(dim=1).sqrt()  # [B]: mean over the W+ rows, as the official code
    a = mean_path_length + decay * (lengths.mean() - mean_path_length)
    return (lengths - a).pow(2).mean(), a.detach(), lengths


def d_lsgan_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """Least-squares GAN, discriminator (Mao et al. 2017; the ports): L_D = E[(D(x) - 1)^2] + E[D(G)^2]."""
    return (logits_real - 1).pow(2).mean() + logits_fake.pow(2).mean()


def g_lsgan_loss(logits_fake: Tensor) -> Tensor:
    """Least-squares GAN, generator: L_adv = E[(D(G) - 1)^2]."""
    return (logits_fake - 1).pow(2).mean()


def feature_matching_loss(feats_fake: DOutput, feats_real: DOutput) -> Tensor:
    """Discriminator feature-matching loss (pix2pixHD, SPADE ``GAN_Feat_loss``).

    L_FM = 1/S * sum_s sum_{i < last} E| D_s^(i)(x_fake) - D_s^(i)(x_real) |

    ``feats_*`` are lists (one per scale ``s``, ``S`` scales) of lists of block outputs, the last being the
    logits, which are left out. Real features are detached: the loss trains G only. The caller multiplies by
    ``lambda_feat`` (10 in SPADE / SMIS).
    """
    if not (isinstance(feats_fake, (list, tuple)) and isinstance(feats_real, (list, tuple))):
        raise TypeError("feature_matching_loss expects lists (scales) of lists (block outputs) of Tensors")
    if len(feats_fake) != len(feats_real) or len(feats_fake) == 0:
        raise ValueError(
            f"feature_matching_loss: {len(feats_fake)} fake scales vs {len(feats_real)} real scales; "
            "both must be the same non-zero number"
        )
    loss = None
    for s, (fake_s, real_s) in enumerate(zip(feats_fake, feats_real)):
        if not (isinstance(fake_s, (list, tuple)) and isinstance(real_s, (list, tuple))):
            raise TypeError(
                f"feature_matching_loss, scale {s}: expected a list of block outputs, got "
                f"{type(fake_s).__name__}; turn intermediate features on in the discriminator"
            )
        if len(fake_s) != len(real_s) or len(fake_s) < 2:
            raise ValueError(
                f"feature_matching_loss, scale {s}: {len(fake_s)} fake vs {len(real_s)} real block outputs; "
                "need the same number, at least 2 (features + logits)"
            )
        for f_fake, f_real in zip(fake_s[:-1], real_s[:-1]):
            term = F.l1_loss(f_fake, f_real.detach())
            loss = term if loss is None else loss + term
    return loss / len(feats_fake)


def kl_divergence(
    mu: Tensor, logvar: Tensor, reduction: Literal["sum", "mean", "batchmean"] = "sum"
) -> Tensor:
    """KL divergence of the encoder's Gaussian from N(0, I) (VAE; SPADE / SMIS ``KLDLoss``).

    KL(N(mu, sigma^2) || N(0, 1)) = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2),  logvar = log sigma^2

    ``reduction``: ``"sum"`` over every element of the batch (what SPADE and SMIS compute; they then multiply
    by ``lambda_kld = 0.05``, so the term grows with batch size and latent size), ``"batchmean"`` (sum over
    latent dimensions, mean over the batch: the textbook VAE term), or ``"mean"`` over every element.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"kl_divergence: mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must match")
    kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())  # per element
    if reduction == "sum":
        return kl.sum()
    if reduction == "batchmean":
        return kl.sum() / mu.shape[0]
    if reduction == "mean":
        return kl.mean()
    raise ValueError(f"kl_divergence: reduction must be 'sum', 'batchmean' or 'mean', got {reduction!r}")


def perceptual_loss(
    feats_x: Sequence[Tensor], feats_y: Sequence[Tensor], weights: Sequence[float] | None = None
) -> Tensor:
    """Perceptual (feature reconstruction) loss on given layer features (Johnson et al. 2016; SPADE ``VGGLoss``).

    L_perc = sum_l w_l * E| phi_l(x) - phi_l(y) |

    ``feats_x`` / ``feats_y``: features of the generated and the target image at the same layers (for example
    from ``synthkit.backbones.load_backbone(...).features(x, layers)``). ``feats_y`` is the target and is
    detached. ``weights`` default to 1 per layer; SPADE uses (1/32, 1/16, 1/8, 1/4, 1) on VGG19 relu1_1..relu5_1.
    """
    feats_x, feats_y = list(feats_x), list(feats_y)
    if len(feats_x) != len(feats_y) or len(feats_x) == 0:
        raise ValueError(
            f"perceptual_loss: {len(feats_x)} vs {len(feats_y)} feature maps; need the same non-zero number"
        )
    if weights is None:
        weights = [1.0] * len(feats_x)
    weights = list(weights)
    if len(weights) != len(feats_x):
        raise ValueError(f"perceptual_loss: {len(weights)} weights for {len(feats_x)} layers")
    loss = feats_x[0].new_zeros(())
    for w, fx, fy in zip(weights, feats_x, feats_y):
        if fx.shape != fy.shape:
            raise ValueError(f"perceptual_loss: feature shapes differ: {tuple(fx.shape)} vs {tuple(fy.shape)}")
        loss = loss + w * F.l1_loss(fx, fy.detach())
    return loss


# SPADE / SMIS / BachGAN's perceptual-layer weights on VGG19 relu1_1 .. relu5_1 (shallow -> deep).
SPADE_PERCEPTUAL_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def backbone_perceptual_loss(
    backbone, x_fake: Tensor, x_real: Tensor, weights: Sequence[float] = SPADE_PERCEPTUAL_WEIGHTS
) -> Tensor:
    """The perceptual term of the SPADE family on a feature backbone's ``perceptual_layers``:

    L_perc = sum_l w_l * E| phi_l(x_fake) - phi_l(x_real) |

    With fewer layers than weights (the offline Toyscapes backbone has 4 or 5 taps), the *deepest* weights are used,
    so the deepest layer always weighs 1 as in SPADE.
    """
    layers = list(backbone.perceptual_layers)
    if len(layers) > len(weights):
        raise ValueError(f"backbone_perceptual_loss: {len(layers)} layers but only {len(weights)} weights")
    f_fake, f_real = backbone.features(x_fake, layers), backbone.features(x_real, layers)
    return perceptual_loss([f_fake[n] for n in layers], [f_real[n] for n in layers], tuple(weights)[-len(layers):])
