"""Segmentation-based scores of generated images: pixel accuracy and mIoU (SPADE-family protocol).

The protocol (SPADE, SMIS, BachGAN): run a segmenter on the GENERATED image and compare its prediction with the
label map the image was generated from. High scores mean the generator put each class where it was asked to.

With a confusion matrix C (C[t, p] = number of pixels of true class t predicted as p, ignore pixels dropped):

    pixel accuracy = Σ_k C[k, k] / Σ_{t,p} C[t, p]
    IoU_k          = C[k, k] / (Σ_p C[k, p] + Σ_t C[t, k] - C[k, k])     (NaN when class k is in neither)
    mIoU           = mean of IoU_k over classes present in ground truth or prediction (NaN-mean)

Traps (metrics_research.md §3.3): whether ignore pixels count changes accuracy by >10 points; the segmenter and
the resolution change everything. Both go into the result's provenance.
"""
from __future__ import annotations

import torch
from torch import Tensor

from synthkit.metrics.provenance import MetricResult

__all__ = ["confusion_matrix", "iou_from_confusion", "pixel_accuracy", "mean_iou", "segmentation_scores"]


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = 255) -> Tensor:
    """C[t, p] = #pixels with target t and prediction p, over pixels whose target != ignore_index.   -> [K, K] long

    pred, target: integer label maps of the same shape (e.g. [B, H, W]). Targets outside [0, K) other than
    ``ignore_index`` are an error (a wrong ``num_classes`` would otherwise be silently dropped).
    """
    if pred.shape != target.shape:
        raise ValueError(f"confusion_matrix: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ; "
                         "pass label maps (argmax of the logits over the class dimension), not logits")
    if pred.is_floating_point() or target.is_floating_point():
        raise TypeError("confusion_matrix: pred and target must be integer label maps (use logits.argmax(1))")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    bad = (target < 0) | (target >= num_classes)
    if bool(bad.any()):
        raise ValueError(f"confusion_matrix: target has labels outside [0, {num_classes}) "
                         f"(e.g. {int(target[bad][0])}); set num_classes or ignore_index")
    if bool(((pred < 0) | (pred >= num_classes)).any()):
        raise ValueError(f"confusion_matrix: prediction has labels outside [0, {num_classes})")
    return torch.bincount(target * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_from_confusion(conf: Tensor) -> Tensor:
    """Per-class IoU_k = TP / (TP + FP + FN); NaN for a class absent from both target and prediction.   -> [K]"""
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))


def pixel_accuracy(conf: Tensor) -> float:
    """Σ_k C[k, k] / Σ C over non-ignored pixels."""
    total = conf.sum()
    if total == 0:
        raise ValueError("pixel_accuracy: no labelled pixels (all ignored?)")
    return float(conf.diag().sum().double() / total)


def mean_iou(conf: Tensor) -> float:
    """NaN-mean of the per-class IoU over classes present in ground truth or prediction."""
    iou = iou_from_confusion(conf)
    present = ~torch.isnan(iou)
    if not bool(present.any()):
        raise ValueError("mean_iou: no class present in target or prediction")
    return float(iou[present].mean())


@torch.no_grad()
def segmentation_scores(
    images: Tensor,
    labels: Tensor,
    backbone=None,
    batch_size: int = 32,
    ignore_index: int | None = 255,
) -> dict[str, MetricResult]:
    """Pixel accuracy and mIoU of a segmenter's predictions on ``images`` against ``labels``.

    images: [N, 3, H, W] in [-1, 1] (e.g. generated from ``labels``); labels: [N, H, W] integer class ids.
    backbone: a ``FeatureBackbone`` with ``segment`` (default: the bundled Toyscapes backbone).
    Returns {"pixel_accuracy": MetricResult, "miou": MetricResult}; the mIoU result carries per-class IoU.
    """
    if backbone is None:
        from synthkit.backbones import load_backbone

        backbone = load_backbone("toyscapes")
    if images.shape[0] != labels.shape[0] or images.shape[-2:] != labels.shape[-2:]:
        raise ValueError(f"segmentation_scores: images {tuple(images.shape)} and labels {tuple(labels.shape)} "
                         "must have the same N, H, W")
    K = backbone.num_classes
    conf = torch.zeros(K, K, dtype=torch.long)
    for i in range(0, images.shape[0], batch_size):
        pred = backbone.segment(images[i:i + batch_size]).argmax(1).cpu()
        conf += confusion_matrix(pred, labels[i:i + batch_size].cpu(), K, ignore_index)
    prov = backbone.provenance
    common = dict(backend=prov["backend"], weights_sha256=prov.get("weights_sha256"), n=int(images.shape[0]),
                  resize=f"none (segmented at {images.shape[-2]}x{images.shape[-1]})",
                  comparable_to_paper=False)
    iou = iou_from_confusion(conf)
    per_class = [None if torch.isnan(v) else round(float(v), 4) for v in iou]
    extra = {"ignore_index": ignore_index}
    return {
        "pixel_accuracy": MetricResult(pixel_accuracy(conf), "pixel_accuracy", extra=extra, **common),
        "miou": MetricResult(mean_iou(conf), "miou", extra=dict(extra, per_class_iou=per_class), **common),
    }
