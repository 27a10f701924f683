"""Training and evaluation of the offline Toyscapes backbone (the bundled ``backbone-toyscapes``).

    python -m synthkit.backbones train --out synthkit/pretrained/backbone-toyscapes     # the recorded recipe
    python -m synthkit.backbones eval --size 64 --n 500                                 # a row of its model card

(``python -m synthkit.backbone_training ...`` is the same command.) The network itself, its loading and the
reference VGGs live in :mod:`synthkit.backbones`; this module only trains and measures it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from synthkit.backbones import (
    PRETRAINED_DIR,
    ToyscapesBackbone,
    ToyscapesBackboneConfig,
    _load_toyscapes,
    load_backbone,
    save_backbone,
)
from synthkit.metrics.segmentation import confusion_matrix, iou_from_confusion


@dataclass(frozen=True)
class TrainBackboneConfig:
    """Recipe of the bundled checkpoint (every default is what produced it; see its model card)."""

    preset: str = "toyscapes"
    sizes: tuple[int, ...] = (64, 128)  # batches alternate between these resolutions
    n_train: tuple[int, ...] = (8000, 4000)  # pre-rendered training images per size (rendered once, reused)
    batch_sizes: tuple[int, ...] = (32, 16)  # batch size per entry of `sizes` (a 128 px step costs ~4x a 64 px one)
    steps: int = 3000
    lr: float = 3e-3  # AdamW peak; linear warm-up then cosine decay
    weight_decay: float = 1e-4
    seg_weight: float = 1.0  # L = CE(scene) + seg_weight * CE_w(seg)
    class_balance: float = 0.5  # CE_w weights w_k ∝ freq_k^(-class_balance): small classes (sun, car) count more
    data_seed: int = 0
    seed: int = 0
    threads: int = 1  # on a shared 2-core machine 1 thread ran 2-5x faster per step than 2 (no OpenMP stalls)
    n_eval: int = 500  # held-out test images per size for the model card
    log_every: int = 50
    warmup: float = 0.05  # fraction of training spent warming up the learning rate
    train_time_s: float = 720.0  # wall-time budget of the optimisation (rendering excluded); see train_backbone


def _render_split(size: int, n: int, split: str, seed: int, log=print) -> dict[str, Tensor]:
    """Render n Toyscapes samples once into uint8 tensors (re-rendering every epoch would cost more than training)."""
    from synthkit.data.toyscapes import ToyscapesDataset

    ds = ToyscapesDataset(size=size, length=n, split=split, seed=seed)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.uint8)
    scenes = torch.empty(n, dtype=torch.long)
    t0 = time.time()
    for i in range(n):
        sample = ds.sample(i)  # the raw uint8 sample behind ds[i] (skips the one-hot and box tensors)
        images[i] = torch.from_numpy(sample.image).permute(2, 0, 1)  # [3, H, W] uint8
        labels[i] = torch.from_numpy(sample.label)
        scenes[i] = int(sample.scene)
        if log and (i + 1) % 1000 == 0:
            log(f"  rendered {i + 1}/{n} {split} images at {size} px ({(i + 1) / (time.time() - t0):.0f}/s)")
    return {"image": images, "label": labels, "scene": scenes}


def _as_input(images_u8: Tensor) -> Tensor:
    return images_u8.float() / 127.5 - 1  # uint8 -> [-1, 1]


@torch.no_grad()
def evaluate_backbone(model: ToyscapesBackbone, data: dict[str, Tensor], batch_size: int = 64) -> dict:
    """Pixel accuracy, mIoU, per-class IoU and scene accuracy on pre-rendered data (``_render_split``)."""

    model.eval()
    K = model.num_classes
    conf = torch.zeros(K, K, dtype=torch.long)
    correct = 0
    n = len(data["scene"])
    for i in range(0, n, batch_size):
        x = _as_input(data["image"][i:i + batch_size])
        scene_logits, seg_logits = model(x)
        conf += confusion_matrix(seg_logits.argmax(1), data["label"][i:i + batch_size].long(), K)
        correct += int((scene_logits.argmax(1) == data["scene"][i:i + batch_size]).sum())
    iou = iou_from_confusion(conf)
    present = ~torch.isnan(iou)
    return {
        "n": n,
        "pixel_accuracy": float(conf.diag().sum() / conf.sum()),
        "miou": float(iou[present].mean()),
        "per_class_iou": [None if math.isnan(v) else round(float(v), 4) for v in iou],
        "scene_accuracy": correct / n,
    }


def train_backbone(out: str | os.PathLike | None, config: TrainBackboneConfig = TrainBackboneConfig(),
                   command: str | None = None, log=print) -> tuple[ToyscapesBackbone, dict]:
    """Train the offline backbone: L = CE(fc8(x), scene) + seg_weight * CE_w(segment(x), label), AdamW.

    Renders ``n_train`` images per size once (split "train", seed ``data_seed``), then alternates batches of the
    sizes with random horizontal flips. The learning-rate schedule (warm-up, cosine) runs on
    max(step progress, wall-time progress), so training always ends decayed within ``train_time_s`` on a busy CPU.
    Evaluates on ``n_eval`` held-out "test" images per size, saves the checkpoint and its model card into ``out``
    (if given). Returns (model, report).
    """
    from synthkit.data import toyscapes

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    t_start = time.time()
    preset = ToyscapesBackboneConfig.PRESETS[config.preset]
    cfg = dataclasses.replace(preset, num_classes=len(toyscapes.CLASSES), num_scenes=len(toyscapes.SCENES),
                              class_names=tuple(toyscapes.CLASSES), scene_names=tuple(toyscapes.SCENES))
    model = ToyscapesBackbone(**cfg.to_dict())
    n_params = sum(p.numel() for p in model.parameters())
    log(f"ToyscapesBackbone: {n_params:,} parameters ({n_params * 4 / 2**20:.2f} MiB fp32)")

    train_data = {}
    for size, n in zip(config.sizes, config.n_train):
        train_data[size] = _render_split(size, n, "train", config.data_seed, log)
    t_data = time.time() - t_start
    log(f"training data rendered in {t_data:.0f} s")

    # class weights of the segmentation CE: w_k = freq_k^(-a) / Σ_j freq_j freq_j^(-a)  (so that E_pixels[w] = 1)
    counts = sum(torch.bincount(d["label"].reshape(-1).long(), minlength=cfg.num_classes).double()
                 for d in train_data.values())
    freq = (counts / counts.sum()).clamp_min(1e-6)
    class_weight = (freq.pow(-config.class_balance) / (freq * freq.pow(-config.class_balance)).sum()).float()
    log("class frequencies: " + ", ".join(f"{n} {f:.3f}" for n, f in zip(cfg.class_names, freq.tolist())))
    log("segmentation CE weights: " + ", ".join(f"{w:.2f}" for w in class_weight.tolist()))

    model = model.to(memory_format=torch.channels_last)  # ~1.3x faster convolutions on CPU
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    model.train()
    steps_done, stopped_early = 0, False
    t_train = time.time()
    for step in range(config.steps):
        # progress in [0, 1]: by steps, or by wall time when the shared CPU is slower than planned, so that the
        # schedule always ends with a decayed learning rate. lr = peak * min(1, p / warmup) * (1 + cos(pi p)) / 2
        progress = max(step / config.steps, (time.time() - t_train) / config.train_time_s)
        if progress >= 1:
            log(f"wall-time budget {config.train_time_s:.0f} s reached at step {step}; stopping")
            stopped_early = True
            break
        lr = config.lr * min(1.0, progress / config.warmup) * 0.5 * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = lr
        size = config.sizes[step % len(config.sizes)]
        batch_size = config.batch_sizes[step % len(config.sizes)]
        data = train_data[size]
        idx = torch.randint(len(data["scene"]), (batch_size,), generator=gen)
        x, label, scene = _as_input(data["image"][idx]), data["label"][idx].long(), data["scene"][idx]
        flip = torch.rand(batch_size, generator=gen) < 0.5  # horizontal flip keeps scenes plausible
        x[flip], label[flip] = x[flip].flip(-1), label[flip].flip(-1)
        scene_logits, seg_logits = model(x.contiguous(memory_format=torch.channels_last))
        loss_scene = F.cross_entropy(scene_logits, scene)
        loss_seg = F.cross_entropy(seg_logits, label, weight=class_weight)
        loss = loss_scene + config.seg_weight * loss_seg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps_done = step + 1
        if step % config.log_every == 0 or steps_done == config.steps:
            with torch.no_grad():
                acc = float((seg_logits.argmax(1) == label).float().mean())
            log(f"step {step:5d}  size {size:3d}  loss {loss.item():.3f} (scene {loss_scene.item():.3f}, "
                f"seg {loss_seg.item():.3f})  batch pixel acc {acc:.3f}  lr {lr:.2e}  {time.time() - t_train:.0f} s")
    t_train = time.time() - t_train
    model = model.to(memory_format=torch.contiguous_format).freeze()  # safetensors stores contiguous tensors

    results = {}
    for size in config.sizes:
        test = _render_split(size, config.n_eval, "test", config.data_seed, log=None)
        results[size] = evaluate_backbone(model, test)
        r = results[size]
        log(f"held-out test @{size}px: pixel acc {r['pixel_accuracy']:.4f}  mIoU {r['miou']:.4f}  "
            f"scene acc {r['scene_accuracy']:.4f}")
    report = {
        "config": dataclasses.asdict(config), "n_params": n_params, "steps_done": steps_done,
        "stopped_early": stopped_early, "wall_s_total": round(time.time() - t_start, 1),
        "wall_s_render": round(t_data, 1), "wall_s_train": round(t_train, 1), "test": results,
        "command": command, "torch": torch.__version__,
    }
    if out is not None:
        save_backbone(model, out)
        (Path(out) / "README.md").write_text(_model_card(model, report))
        model = _load_toyscapes(out).freeze()
    return model, report


def _eval_tables(results: dict[int, dict], class_names: Sequence[str]) -> list[str]:
    """Markdown lines: one row per size (pixel accuracy, mIoU, scene accuracy), then per-class IoU per size."""
    sizes = list(results)
    lines = ["| size | images | pixel accuracy | mIoU | scene accuracy |", "|---|---|---|---|---|"]
    for s in sizes:
        r = results[s]
        lines.append(f"| {s} px | {r['n']} | {r['pixel_accuracy']:.4f} | {r['miou']:.4f} | {r['scene_accuracy']:.4f} |")
    lines += ["", "Per-class IoU (mIoU = mean over classes present in ground truth or prediction):", "",
              "| class | " + " | ".join(f"{s} px" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for k, name in enumerate(class_names):
        vals = [results[s]["per_class_iou"][k] for s in sizes]
        lines.append(f"| {k} {name} | " + " | ".join("absent" if v is None else f"{v:.4f}" for v in vals) + " |")
    return lines


def _model_card(model: ToyscapesBackbone, report: dict) -> str:
    c = report["config"]
    cfg = model.config
    lines = [
        "---",
        "library_name: synthkit",
        "tags: [synthkit, toyscapes, feature-backbone, segmentation, scene-classification]",
        "license: mit",
        "---",
        "",
        "# backbone-toyscapes: the offline feature backbone of synthkit",
        "",
        "A small VGG-like network trained from scratch on the procedural Toyscapes dataset (no external data, no "
        "pretrained weights). It classifies the scene category (fc8) and segments the semantic classes (FPN head). "
        "Its features serve synthkit's perceptual loss, the Semantic Pyramid classifier (levels "
        "conv1..conv5, fc7, fc8, mirroring the paper's VGG-16 CONV1..CONV5, FC7, FC8), FID/KID features "
        "(`pool`, the global average of conv5), the LPIPS-like distance and pixel accuracy / mIoU of generated "
        "images.",
        "",
        "**Every number computed with it is offline-only and not comparable to published numbers** (the papers "
        "used Inception-v3, AlexNet-LPIPS, DRN/UperNet segmenters and a Places365 VGG-16).",
        "",
        "## Architecture",
        "",
        f"- stages 1-5: {cfg.convs_per_stage} x (3x3 conv, BN, ReLU) + 2x2 max-pool, widths {list(cfg.widths)}",
        f"- pool = global average of conv5; fc6, fc7: Linear({cfg.fc_dim}) + ReLU; fc8: Linear -> "
        f"{cfg.num_scenes} scenes",
        f"- segmentation: FPN over relu2_2..relu5_2 ({cfg.seg_channels} ch) + a 1x1 skip from relu1_2 -> "
        f"{cfg.num_classes} classes at input resolution",
        f"- {report['n_params']:,} parameters; inputs RGB in [-1, 1] (ImageNet mean/std applied inside), 64-256 px",
        "",
        "## Training",
        "",
        f"- command: `{report['command']}`",
        f"- data: Toyscapes split `train`, data seed {c['data_seed']}, "
        + ", ".join(f"{n} images at {s} px" for s, n in zip(c["sizes"], c["n_train"]))
        + " rendered once, random horizontal flips; batches alternate between sizes",
        f"- loss: CE(scene) + {c['seg_weight']} x CE(segmentation, class weights freq^-{c['class_balance']}); "
        f"AdamW peak lr {c['lr']} (linear warm-up "
        f"{c['warmup']}, cosine decay), weight decay {c['weight_decay']}, batch sizes {list(c['batch_sizes'])} "
        f"(per size), seed {c['seed']}",
        f"- steps: {report['steps_done']} of {c['steps']}" + (
            f" (the schedule followed the {c['train_time_s']:.0f} s wall-time budget, which ran out first; so a "
            "rerun on another machine stops at a different step)" if report["stopped_early"] else ""),
        f"- wall time: {report['wall_s_total']:.0f} s total ({report['wall_s_render']:.0f} s rendering, "
        f"{report['wall_s_train']:.0f} s training) on {c['threads']} CPU threads, torch {report['torch']}",
        "",
        "## Held-out evaluation (Toyscapes split `test`)",
        "",
        f"Indices 0..{c['n_eval'] - 1} of split `test`, data seed {c['data_seed']} (never seen in training: the "
        "splits render with different seeds). Reproduce a row with "
        f"`python -m synthkit.backbones eval --size 64 --n {c['n_eval']} --data-seed {c['data_seed']}`.",
        "",
    ]
    lines += _eval_tables(report["test"], cfg.class_names or [str(i) for i in range(cfg.num_classes)])
    lines += ["", "## Use", "", "```python", "from synthkit.backbones import load_backbone",
              "bb = load_backbone('toyscapes')            # frozen, eval mode",
              "feats = bb.features(x)                      # x: [B, 3, H, W] in [-1, 1]; pyramid levels",
              "labels = bb.segment(x).argmax(1)            # [B, H, W]", "```", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthkit.backbones",
                                     description="Train or evaluate the offline Toyscapes feature backbone.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train and save a Toyscapes backbone (config.json, model.safetensors, README.md)")
    t.add_argument("--out", required=True, help="output folder")
    defaults = TrainBackboneConfig()
    for f in dataclasses.fields(TrainBackboneConfig):
        value = getattr(defaults, f.name)
        if isinstance(value, tuple):
            t.add_argument(f"--{f.name.replace('_', '-')}", type=int, nargs="+", default=list(value))
        else:
            t.add_argument(f"--{f.name.replace('_', '-')}", type=type(value), default=value)
    e = sub.add_parser("eval", help="evaluate a checkpoint on held-out Toyscapes")
    e.add_argument("--path", default=str(PRETRAINED_DIR))
    e.add_argument("--size", type=int, default=128)
    e.add_argument("--n", type=int, default=500)
    e.add_argument("--data-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.cmd == "train":
        kwargs = {f.name: (tuple(v) if isinstance(v := getattr(args, f.name), list) else v)
                  for f in dataclasses.fields(TrainBackboneConfig)}
        cmd = "python -m synthkit.backbones " + " ".join(sys.argv[1:] if argv is None else argv)
        _, report = train_backbone(args.out, TrainBackboneConfig(**kwargs), command=cmd)
        print(json.dumps(report["test"], indent=1))
    else:
        model = load_backbone("toyscapes", path=args.path)
        r = evaluate_backbone(model, _render_split(args.size, args.n, "test", args.data_seed, log=None))
        print(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
