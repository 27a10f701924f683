"""Metrics: hand-computed segmentation scores, FID/KID against closed forms, LPIPS backends and provenance."""
from __future__ import annotations

import math

import pytest
import torch

from synthkit.metrics import (
    LPIPS,
    NOT_COMPARABLE_BANNER,
    MetricResult,
    confusion_matrix,
    fid_from_features,
    frechet_distance,
    iou_from_confusion,
    kid_from_features,
    kid_mmd2,
    mean_iou,
    pixel_accuracy,
    segmentation_scores,
)
from synthkit.metrics.fid import fid, gaussian_stats, kid
from synthkit.metrics.lpips import ALEXNET_FILE, lpips_available, masked_distance_from_map


# ------------------------------------------------------------------------------------------------ segmentation
def test_confusion_matrix_and_scores_hand_computed():
    # target / prediction over 8 pixels, 3 classes, one ignored pixel (255)
    target = torch.tensor([[0, 0, 1, 1], [1, 2, 2, 255]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 0]])
    conf = confusion_matrix(pred, target, num_classes=3)
    # rows = target, cols = prediction; the ignored pixel (pred 0) is dropped
    assert conf.tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 1]]
    assert pixel_accuracy(conf) == pytest.approx(4 / 7)
    # IoU_0 = 1/(2+2-1) = 1/3; IoU_1 = 2/(3+3-2) = 1/2; IoU_2 = 1/(2+2-1) = 1/3
    assert iou_from_confusion(conf).tolist() == pytest.approx([1 / 3, 1 / 2, 1 / 3])
    assert mean_iou(conf) == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)


def test_miou_skips_absent_classes_but_counts_false_positives():
    target = torch.tensor([0, 0, 1, 1])
    # class 2 and 3 never appear in the target; class 2 is predicted once (a false positive), class 3 never
    pred = torch.tensor([0, 0, 1, 2])
    conf = confusion_matrix(pred, target, num_classes=4)
    iou = iou_from_confusion(conf)
    assert iou[0] == 1.0 and iou[1] == 0.5 and iou[2] == 0.0
    assert math.isnan(iou[3])  # absent from both: excluded from the mean
    assert mean_iou(conf) == pytest.approx((1 + 0.5 + 0) / 3)


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 7]), num_classes=3)
    with pytest.raises(ValueError, match="argmax"):
        confusion_matrix(torch.zeros(2, 3, 4, 4).long(), torch.zeros(2, 4, 4).long(), num_classes=3)
    with pytest.raises(TypeError, match="integer"):
        confusion_matrix(torch.zeros(4), torch.zeros(4).long(), num_classes=3)


# ------------------------------------------------------------------------------------------------ FID / KID
def test_frechet_distance_closed_form():
    # diagonal Gaussians: FID = |mu1-mu2|^2 + sum_i (s1_i + s2_i - 2 sqrt(s1_i s2_i))
    #                         = |mu1-mu2|^2 + sum_i (sqrt s1_i - sqrt s2_i)^2
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(expected, abs=1e-9)
    # a full covariance against itself, rotated mean: only the mean term remains
    a = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cov = a @ a.T + 0.1 * torch.eye(5, dtype=torch.float64)
    assert frechet_distance(torch.zeros(5), cov, torch.ones(5), cov) == pytest.approx(5.0, abs=1e-8)


def test_fid_of_identical_features_is_zero_and_grows_with_shift():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(400, 8, generator=g)
    r = fid_from_features(feats, feats.clone(), backend="test", weights_sha256=None)
    assert abs(r.value) < 1e-6
    shifted = fid_from_features(feats, feats + 0.5, backend="test", weights_sha256=None)
    assert shifted.value == pytest.approx(8 * 0.25, rel=1e-6)  # pure mean shift: |d|^2 = 8 * 0.5^2
    mu, cov = gaussian_stats(feats)
    assert cov.shape == (8, 8) and mu.shape == (8,)


def test_kid_is_unbiased_for_same_distribution():
    # two independent samples of the same distribution: the unbiased MMD^2 averages to ~0 (the biased one would
    # be clearly positive: its expectation is ~ (E k(x,x) - E k(x,y)) * (1/m + 1/n) > 0)
    g = torch.Generator().manual_seed(1)
    vals, biased = [], []
    for _ in range(40):
        x, y = torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g)
        vals.append(kid_mmd2(x, y))
        k = lambda a, b: (a @ b.T / 4 + 1) ** 3  # noqa: E731
        biased.append(float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()))
    mean, sem = torch.tensor(vals).mean(), torch.tensor(vals).std() / math.sqrt(len(vals))
    assert abs(float(mean)) < 3 * float(sem)
    assert torch.tensor(biased).mean() > 10 * abs(float(mean))
    # and it sees a real difference
    x, y = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g) + 1.0
    r = kid_from_features(x, y, backend="test", weights_sha256=None, num_subsets=10, subset_size=100, seed=3)
    assert r.value > 0.1 and r.extra["subset_size"] == 100 and r.seed == 3


def test_kid_subsets_are_seeded():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(300, 4, generator=g), torch.randn(300, 4, generator=g) + 0.3
    a = kid_from_features(x, y, backend="t", weights_sha256=None, num_subsets=5, subset_size=50, seed=7)
    b = kid_from_features(x, y, backend="t", weights_sha256=None, num_subsets=5, subset_size=50, seed=7)
    c = kid_from_features(x, y, backend="t", weights_sha256=None, num_subsets=5, subset_size=50, seed=8)
    assert a.value == b.value and a.value != c.value


# ------------------------------------------------------------------------------------------------ provenance
def test_metric_result_always_prints_provenance():
    r = MetricResult(12.5, "fid", "offline-toyscapes", "ab" * 32, n=100, seed=0, resize="none")
    text = str(r)
    for piece in ("fid = 12.5", "backend=offline-toyscapes", "weights_sha256=abababababab", "n=100", "seed=0",
                  "resize=none", NOT_COMPARABLE_BANNER):
        assert piece in text
    ref = MetricResult(0.1, "lpips", "lpips-alex-v0.1", None, n=4, comparable_to_paper=True)
    assert NOT_COMPARABLE_BANNER not in str(ref) and "weights_sha256=none" in str(ref)
    assert float(ref) == 0.1


# ------------------------------------------------------------------------------------------------ with the backbone
@pytest.fixture(scope="module")
def toy_batch():
    from synthkit.data.toyscapes import ToyscapesDataset

    ds = ToyscapesDataset(size=64, length=16, split="test", seed=0)
    items = [ds[i] for i in range(16)]
    return torch.stack([it["image"] for it in items]), torch.stack([it["label"] for it in items])


@pytest.fixture(scope="module")
def backbone():
    from synthkit.backbones import load_backbone

    return load_backbone("toyscapes")


def test_segmentation_scores_on_real_toyscapes(toy_batch, backbone):
    images, labels = toy_batch
    scores = segmentation_scores(images, labels, backbone)
    assert scores["pixel_accuracy"].value >= 0.8
    assert scores["miou"].value >= 0.5
    assert scores["miou"].backend == "offline-toyscapes" and len(scores["miou"].weights_sha256) == 64
    assert "not comparable" in str(scores["miou"])
    # destroyed images must score far lower: the metric measures the images, not the labels
    noise = torch.rand_like(images) * 2 - 1
    assert segmentation_scores(noise, labels, backbone)["pixel_accuracy"].value < scores["pixel_accuracy"].value - 0.3


def test_fid_kid_on_backbone_features(toy_batch, backbone):
    images, _ = toy_batch
    same = fid(images, images.clone(), backbone)
    assert abs(same.value) < 1e-4 and same.extra["layer"] == "pool" and "warning" in same.extra
    noisy = (images + 0.5 * torch.randn_like(images)).clamp(-1, 1)
    assert fid(images, noisy, backbone).value > same.value + 1.0
    k = kid(images[:8], noisy[8:], backbone, num_subsets=5, subset_size=8, seed=0)
    assert k.value > 0 and k.backend == "offline-toyscapes"


def test_lpips_offline_backend_properties(toy_batch, backbone):
    images, _ = toy_batch
    metric = LPIPS("offline", backbone=backbone)
    x, y = images[:4], images[4:8]
    assert torch.allclose(metric(x, x), torch.zeros(4), atol=1e-6)
    assert torch.allclose(metric(x, y), metric(y, x), atol=1e-6)
    slight = (x + 0.05 * torch.randn_like(x)).clamp(-1, 1)
    strong = (x + 0.5 * torch.randn_like(x)).clamp(-1, 1)
    assert (metric(x, slight) < metric(x, strong)).all()
    r = metric.distance(x, y)
    assert r.name == "lpips_like" and not r.comparable_to_paper and "NOT LPIPS" in r.extra["reason"]
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        metric(x * 255, y)


def test_lpips_masked_variants(toy_batch, backbone):
    images, _ = toy_batch
    metric = LPIPS("offline", backbone=backbone)
    x = images[:2]
    y = x.clone()
    y[:, :, :, 32:] = -y[:, :, :, 32:]  # change only the right half
    left = torch.zeros(2, 64, 64, dtype=torch.bool)
    left[:, :, :32] = True
    for mode in ("mask-image", "spatial-map"):
        inside_changed = metric.masked(x, y, ~left, mode)
        inside_same = metric.masked(x, y, left, mode)
        assert (inside_changed > inside_same).all(), mode
    # mask-image: identical masked regions give exactly 0
    assert torch.allclose(metric.masked(x, y, left, "mask-image"), torch.zeros(2), atol=1e-6)
    r = metric.distance(x, y, mask=left, mode="spatial-map")
    assert r.name == "lpips_like_masked" and r.extra["mask_mode"] == "spatial-map"
    empty = torch.zeros(2, 1, 4, 4)
    assert torch.isnan(masked_distance_from_map(torch.ones(2, 1, 4, 4), empty)).all()


def test_lpips_reference_backend_refuses_without_alexnet_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ok, why = lpips_available()
    assert not ok and ALEXNET_FILE in why and str(tmp_path) in why
    with pytest.raises(RuntimeError, match=ALEXNET_FILE):
        LPIPS("lpips")
    auto = LPIPS("auto")  # falls back, and says so in every result
    assert auto.backend == "offline" and "fell back" in auto.provenance["reason"]


@pytest.mark.slow  # builds AlexNet (61M parameters) twice and hashes a 233 MB stand-in file
def test_lpips_reference_backend_with_cached_file(tmp_path, monkeypatch):
    """The real lpips package loads the AlexNet trunk from a pre-placed torch hub cache file, after our hash check."""
    pytest.importorskip("lpips")
    torchvision = pytest.importorskip("torchvision")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), ckpt / ALEXNET_FILE)  # a stand-in file
    ok, why = lpips_available()
    assert not ok and "not torchvision's AlexNet file" in why  # the hash check refuses the stand-in
    with pytest.raises(RuntimeError, match="sha256"):
        LPIPS("lpips")
    from synthkit.backbones import sha256_file

    digest = sha256_file(ckpt / ALEXNET_FILE)
    metric = LPIPS("lpips", expected_sha256=digest)  # test-only override: now the reference path runs
    assert metric.backend == "lpips" and metric.provenance["weights_sha256"] == digest
    assert not metric.provenance["comparable_to_paper"]  # not the genuine file
    # the trunk really is our file (not a download, not random): compare a conv weight
    state = torch.load(ckpt / ALEXNET_FILE, weights_only=True)
    assert torch.equal(metric._net.net.slice1[0].weight, state["features.0.weight"])
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1, torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    d = metric(x, y)
    assert d.shape == (2,) and torch.allclose(metric(x, x), torch.zeros(2), atol=1e-6)
    assert metric.spatial(x, y).shape == (2, 1, 64, 64)
    assert metric.distance(x, y).name == "lpips"
