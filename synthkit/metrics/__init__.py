"""Metrics of synthkit; every result is a ``MetricResult`` that prints its provenance.

* ``segmentation``: pixel accuracy and mIoU of a segmenter's prediction on generated images (SPADE protocol).
* ``fid``: FID and KID from backbone features (offline Toyscapes backbone by default: not the papers' Inception).
* ``lpips``: LPIPS distance (reference ``lpips`` package when its AlexNet file is cached, else LPIPS-like
  offline) and the masked variant used by SMIS's mCSD / mOCD.
* ``provenance``: ``MetricResult``.
"""
from synthkit.metrics.fid import fid, fid_from_features, frechet_distance, kid, kid_from_features, kid_mmd2
from synthkit.metrics.lpips import LPIPS, lpips_available
from synthkit.metrics.provenance import NOT_COMPARABLE_BANNER, MetricResult
from synthkit.metrics.segmentation import (
    confusion_matrix,
    iou_from_confusion,
    mean_iou,
    pixel_accuracy,
    segmentation_scores,
)

__all__ = [
    "MetricResult",
    "NOT_COMPARABLE_BANNER",
    "confusion_matrix",
    "iou_from_confusion",
    "pixel_accuracy",
    "mean_iou",
    "segmentation_scores",
    "frechet_distance",
    "fid",
    "kid",
    "fid_from_features",
    "kid_from_features",
    "kid_mmd2",
    "LPIPS",
    "lpips_available",
]
