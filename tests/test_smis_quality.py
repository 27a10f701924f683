"""Quality of the bundled "smis-toyscapes" model on held-out Toyscapes maps (the issue's thresholds).

All measured with the offline Toyscapes backbone (segmenter and LPIPS-like distance); the full-size figures are in
benchmarks/results/smis_quality.md (``python benchmarks/eval_smis.py``). Here a smaller held-out sample keeps the
file near a minute on 2 cores; the sample sizes and the binomial spread are stated next to each threshold.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synthkit.backbones import load_backbone
from synthkit.data.toyscapes import ToyscapesDataset
from synthkit.metrics.diversity import fit_mode_prototypes, mcsd_mocd, mode_transfer
from synthkit.metrics.lpips import LPIPS
from synthkit.metrics.segmentation import segmentation_scores
from synthkit.pipelines.smis import load_smis

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipe():
    return load_smis("smis-toyscapes")


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("toyscapes")


@pytest.fixture(scope="module")
def scenes(pipe):
    """Held-out maps: the "test" split, which training (split "train") never sees."""
    data = ToyscapesDataset(size=pipe.image_size[0], length=24, split="test", seed=1)
    return [data.sample(i) for i in range(24)]


@torch.no_grad()
def test_generated_images_segment_nearly_as_well_as_real_ones(pipe, backbone, scenes):
    labels = torch.stack([torch.from_numpy(s.label.astype(np.int64)) for s in scenes])
    real = torch.stack([torch.from_numpy(s.image).permute(2, 0, 1).float() / 127.5 - 1 for s in scenes])
    fake = torch.cat([pipe.generate(pipe.random_latent(i), pipe.seg_from_label(s.label)) for i, s in enumerate(scenes)])
    miou_real = segmentation_scores(real, labels, backbone, ignore_index=None)["miou"].value
    miou_fake = segmentation_scores(fake, labels, backbone, ignore_index=None)["miou"].value
    assert miou_real > 0.6, f"the backbone itself segments real held-out maps badly ({miou_real:.3f})"
    assert miou_fake >= 0.70 * miou_real, f"mIoU generated {miou_fake:.3f} < 0.70 x real {miou_real:.3f}"


def test_resampling_one_class_changes_mostly_that_class(pipe, backbone, scenes):
    """mOCD <= 0.2 x mCSD: mask-image LPIPS-like, normalised per pixel of each region (the issue's "mean change
    outside c's mask vs inside it"), K=3 codes per (map, class), all pairs, 6 maps."""
    res = mcsd_mocd(pipe.model, [s.label for s in scenes[:6]], lpips=LPIPS("offline", backbone=backbone),
                    num_samples=3, seed=0, class_names=pipe.class_names)
    assert res["mcsd"].value > 0, "resampling a class's code changes nothing: the model ignores its latent"
    assert res["mocd"].value <= 0.2 * res["mcsd"].value, (str(res["mcsd"]), str(res["mocd"]))


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="bundled smis-toyscapes (128 px) does not reach this pixel-level bound: measured outside/"
                          "inside change ratio 0.37 (benchmarks/results/smis_quality.md; the 64 px model: 0.48) "
                          "vs <= 0.2; see its model card")
def test_morphing_one_class_leaves_the_other_pixels_nearly_unchanged(pipe, scenes):
    """Pixel level: mean |change| outside c over mean |change| inside c, for a full morph (t = 1) of class c.

    Not zero by design: the last GroupDNet layers mix groups of classes and conv_img mixes all of them, so a
    class's code reaches the pixels next to its border. The bound 0.2 is the issue's ratio for mOCD / mCSD."""
    ratios = []
    for i, s in enumerate(scenes[:6]):
        za, zb = pipe.random_latent(100 + i), pipe.random_latent(200 + i)
        base = pipe.morph(s.label, za, zb, 0.0).image.astype(np.float64)
        for c in np.unique(s.label):
            m = s.label == c
            if m.sum() < 16 or m.all():
                continue
            d = np.abs(pipe.morph(s.label, za, zb, 1.0, cls=int(c)).image.astype(np.float64) - base).mean(-1)
            ratios.append(d[~m].mean() / max(d[m].mean(), 1e-6))
    assert len(ratios) >= 10
    assert float(np.mean(ratios)) <= 0.2, f"mean outside/inside change ratio {np.mean(ratios):.3f}"


@pytest.fixture(scope="module")
def transfer(pipe, scenes):
    protos = fit_mode_prototypes(size=pipe.image_size[0], n_train=200, n_check=0)
    pairs = [(scenes[2 * i], scenes[2 * i + 1]) for i in range(10)]
    return mode_transfer(pipe, pairs, protos)


def test_swapping_a_class_code_transfers_its_recorded_mode(transfer):
    """Ground truth from Toyscapes: class c of A takes B's recorded appearance mode, the other classes keep theirs.

    Thresholds: after the swap, c shows B's mode at least 0.25 more often than it did before the swap (chance with
    3-5 modes is 0.2-0.33, and the before-swap share is about that); the other classes keep their mode in >= 0.85 of
    the checks."""
    r = transfer
    assert r["trials"] >= 15
    assert r["transfer_rate"] > r["baseline_rate"] + 0.25, r
    assert r["others_kept_rate"] >= 0.85, r


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="bundled smis-toyscapes (128 px) transfers the swapped class's mode in 0.52 of this sample's "
                          "21 trials (0.47 on the 45 of benchmarks/results/smis_quality.md; the 64 px model: 0.585) "
                          "vs the bar 0.6; see its model card")
def test_swapped_class_shows_the_source_mode_most_of_the_time(transfer):
    """The stronger bar (ours, stricter than the issue's "show that it transfers"): transfer rate >= 0.6."""
    assert transfer["transfer_rate"] >= 0.6, transfer
