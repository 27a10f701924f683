"""FID and KID from backbone features, with their provenance.

FID (Heusel et al. 2017): fit a Gaussian to each feature set and take the Fréchet distance between them,

    FID = ||mu_r - mu_f||² + Tr(S_r + S_f - 2 (S_r S_f)^{1/2})

KID (Bińkowski et al. 2018): the unbiased estimator of the squared MMD with the cubic polynomial kernel
k(x, y) = (xᵀy / d + 1)³, averaged over random subsets (torch-fidelity / clean-fid defaults: 100 subsets of
1000). Unlike FID it has no bias at small N, so it is the better headline for CPU-sized sample counts.

    MMD²_u = 1/(m(m-1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m-1)) Σ_{i≠j} k(y_i, y_j) - 2/m² Σ_{i,j} k(x_i, y_j)

The papers computed FID on Inception-v3 pool features (2048-d) with pytorch-fid. Here the features come from a
``FeatureBackbone`` (default: the offline Toyscapes backbone's ``pool`` layer, 128-d), so the numbers are
never comparable to the papers'; every result says so. The math itself is the standard one (tested against the
closed form for Gaussians): feed it Inception features and it computes the usual FID.
"""
from __future__ import annotations


import torch
from torch import Tensor

from synthkit.devices import module_device
from synthkit.metrics.provenance import MetricResult

__all__ = ["frechet_distance", "gaussian_stats", "kid_mmd2", "extract_features", "fid", "kid", "fid_from_features",
           "kid_from_features"]


def gaussian_stats(feats: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance of features [N, D] (float64): (mu [D], S [D, D])."""
    if feats.dim() != 2 or feats.shape[0] < 2:
        raise ValueError(f"gaussian_stats: need features [N >= 2, D], got {tuple(feats.shape)}")
    f = feats.double()
    return f.mean(0), torch.cov(f.T)


def _sqrtm_psd(a: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix through its eigen-decomposition."""
    w, v = torch.linalg.eigh((a + a.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^{1/2}).

    Tr((S1 S2)^{1/2}) = Tr((S1^{1/2} S2 S1^{1/2})^{1/2}): the inner matrix is symmetric PSD, so its square root is
    exact through eigh (no complex parts to discard as with scipy's sqrtm on S1 S2).
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"frechet_distance: shapes differ: {tuple(mu1.shape)} vs {tuple(mu2.shape)}")
    s1_half = _sqrtm_psd(sigma1)
    eig = torch.linalg.eigvalsh(s1_half @ sigma2 @ s1_half)
    tr_covmean = eig.clamp_min(0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + torch.trace(sigma1) + torch.trace(sigma2) - 2 * tr_covmean)


def _poly_kernel(x: Tensor, y: Tensor) -> Tensor:
    # k(x, y) = (x . y / d + 1)^3
    return (x @ y.T / x.shape[1] + 1) ** 3


def kid_mmd2(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD² between two feature sets [m, D], [n, D] with the cubic polynomial kernel."""
    x, y = x.double(), y.double()
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("kid_mmd2: need at least 2 samples per set")
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    term_xx = (kxx.sum() - kxx.diag().sum()) / (m * (m - 1))  # i != j only: this is what removes the bias
    term_yy = (kyy.sum() - kyy.diag().sum()) / (n * (n - 1))
    return float(term_xx + term_yy - 2 * kxy.mean())


@torch.no_grad()
def extract_features(images: Tensor, backbone=None, layer: str | None = None, batch_size: int = 64) -> Tensor:
    """Vector features [N, D] of images [N, 3, H, W] in [-1, 1] (default: ``backbone.fid_layer``, "pool")."""
    if backbone is None:
        from synthkit.backbones import load_backbone

        backbone = load_backbone("toyscapes")
    layer = layer or backbone.fid_layer
    device = module_device(backbone)  # each batch goes where the backbone is (a GPU one reads CPU images)
    out = []
    for i in range(0, images.shape[0], batch_size):
        f = backbone.features(images[i:i + batch_size].to(device), [layer])[layer]
        if f.dim() == 4:
            f = f.mean(dim=(2, 3))  # spatial layer -> global average   [B, C]
        out.append(f.double().cpu())
    return torch.cat(out)


def _provenance(backbone, layer: str | None, resize: str) -> dict:
    prov = backbone.provenance
    return dict(backend=prov["backend"], weights_sha256=prov.get("weights_sha256"), resize=resize,
                comparable_to_paper=False, layer=layer or backbone.fid_layer)


def fid_from_features(real: Tensor, fake: Tensor, *, backend: str, weights_sha256: str | None,
                      resize: str = "none", extra: dict | None = None) -> MetricResult:
    """FID between two feature sets [N, D] (see ``frechet_distance``). Warns in ``extra`` when N <= D."""
    mu_r, s_r = gaussian_stats(real)
    mu_f, s_f = gaussian_stats(fake)
    extra = dict(extra or {}, n_real=real.shape[0], n_fake=fake.shape[0], dims=real.shape[1])
    if min(real.shape[0], fake.shape[0]) <= real.shape[1]:
        extra["warning"] = "N <= feature dims: covariance is rank-deficient and FID biased upward; prefer KID"
    return MetricResult(frechet_distance(mu_r, s_r, mu_f, s_f), "fid", backend, weights_sha256,
                        n=min(real.shape[0], fake.shape[0]), seed=None, resize=resize, extra=extra)


def kid_from_features(real: Tensor, fake: Tensor, *, backend: str, weights_sha256: str | None,
                      num_subsets: int = 100, subset_size: int = 1000, seed: int = 0, resize: str = "none",
                      extra: dict | None = None) -> MetricResult:
    """KID = mean over ``num_subsets`` random subsets (size m = min(subset_size, N)) of the unbiased MMD²."""
    m = min(subset_size, real.shape[0], fake.shape[0])
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(num_subsets):
        i = torch.randperm(real.shape[0], generator=gen)[:m]
        j = torch.randperm(fake.shape[0], generator=gen)[:m]
        values.append(kid_mmd2(real[i], fake[j]))
    t = torch.tensor(values, dtype=torch.float64)
    std = float(t.std()) if num_subsets > 1 else 0.0
    extra = dict(extra or {}, std=std, num_subsets=num_subsets, subset_size=m)
    return MetricResult(float(t.mean()), "kid", backend, weights_sha256, n=min(real.shape[0], fake.shape[0]),
                        seed=seed, resize=resize, extra=extra)


def fid(real_images: Tensor, fake_images: Tensor, backbone=None, layer: str | None = None,
        batch_size: int = 64) -> MetricResult:
    """FID between two image sets [N, 3, H, W] in [-1, 1], on ``backbone`` features (offline default)."""
    if backbone is None:
        from synthkit.backbones import load_backbone

        backbone = load_backbone("toyscapes")
    prov = _provenance(backbone, layer, f"none ({real_images.shape[-2]}x{real_images.shape[-1]} input)")
    real = extract_features(real_images, backbone, layer, batch_size)
    fake = extract_features(fake_images, backbone, layer, batch_size)
    return fid_from_features(real, fake, backend=prov["backend"], weights_sha256=prov["weights_sha256"],
                             resize=prov["resize"], extra={"layer": prov["layer"]})


def kid(real_images: Tensor, fake_images: Tensor, backbone=None, layer: str | None = None, num_subsets: int = 100,
        subset_size: int = 1000, seed: int = 0, batch_size: int = 64) -> MetricResult:
    """KID between two image sets [N, 3, H, W] in [-1, 1], on ``backbone`` features (offline default)."""
    if backbone is None:
        from synthkit.backbones import load_backbone

        backbone = load_backbone("toyscapes")
    prov = _provenance(backbone, layer, f"none ({real_images.shape[-2]}x{real_images.shape[-1]} input)")
    real = extract_features(real_images, backbone, layer, batch_size)
    fake = extract_features(fake_images, backbone, layer, batch_size)
    return kid_from_features(real, fake, backend=prov["backend"], weights_sha256=prov["weights_sha256"],
                             num_subsets=num_subsets, subset_size=subset_size, seed=seed, resize=prov["resize"],
                             extra={"layer": prov["layer"]})
