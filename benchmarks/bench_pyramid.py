"""Semantic Pyramid: quality by level and inference speed of a trained model (default: the bundled one).

Quality, on held-out Toyscapes scenes (split "test"), for each pyramid level l (generation from l alone):

  dist to source   LPIPS-like distance (offline backbone, NOT LPIPS) between G(phi_l(x), z) and x: should grow with
                   depth (shallow levels give a near copy, deep ones only the semantics);
  diversity        LPIPS-like distance between two generations with different z: should grow with depth;
  scene agreement  fraction of generations that the classifier puts in the same scene as x (target >= 0.8 from
                   the deepest level); also vs the ground-truth scene, and vs the scene predicted for ANOTHER
                   source (the chance level: a model that ignores its input scores this much).

FID / KID per level (the paper's table "FID from CONV1 to FC8"): for each level, N generations (one per held-out
source, one z each) against N *other* held-out real scenes (disjoint from the sources, so a perfect copy does not
score 0), on the offline backbone's ``pool`` features (128-d). The row "real vs real" is the floor: FID between the
sources themselves and the same reference set. Written to results/pyramid_fid.{md,json} next to the paper's column.

Speed: median wall time of one call of generate_from_level / inpaint / composite (one image, batch 1).

    python benchmarks/bench_pyramid.py                         # bundled pyramid-toyscapes, 200 test scenes
    python benchmarks/bench_pyramid.py --model runs/pyr/model --n 64 --quick --fid-n 0
Writes benchmarks/results/pyramid.{md,json} and pyramid_fid.{md,json}. Numbers use the offline Toyscapes backbone: compare them only with
other synthkit runs, never with the paper's tables.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from synthkit.data.toyscapes import ToyscapesDataset
from synthkit.pipelines.pyramid import PAPER_FID_SOURCE, PyramidPipeline, fid_kid_by_level, load_pyramid

TARGET_AGREEMENT = 0.8



@torch.no_grad()
def quality(pipe: PyramidPipeline, n: int, seed: int = 0, batch: int = 50) -> list[dict]:
    """Per level: dist to source, diversity, scene agreement (with the source's predicted and true scenes)."""
    data = ToyscapesDataset(size=pipe.image_size, length=n, split="test", seed=seed,
                            cache_dir=os.environ.get("SYNTHKIT_TOYSCAPES_CACHE") or None)
    items = [data[i] for i in range(n)]
    x_all = torch.stack([it["image"] for it in items])  # [N, 3, S, S]
    scene_all = torch.stack([it["scene"] for it in items])  # [N]
    bb, c = pipe.backbone, pipe.config
    rows = []
    for l, name in enumerate(c.level_names):
        dist, div, agree, agree_true, agree_other = [], [], [], [], []
        for start in range(0, n, batch):
            x, scene = x_all[start : start + batch], scene_all[start : start + batch]
            feats = pipe.features(x)
            masks = pipe._masks([l], torch.zeros(1, 1, c.image_size, c.image_size))
            masks = [m.expand(x.shape[0], *m.shape[1:]) for m in masks]
            a = pipe.generate(feats, masks, seed=start)
            b = pipe.generate(feats, masks, seed=start + 100_000)
            dist.append(bb.lpips_like(a, x))
            div.append(bb.lpips_like(a, b))
            pred_src, pred_gen = bb.classify(x).argmax(1), bb.classify(a).argmax(1)
            agree.append((pred_gen == pred_src).float())
            agree_true.append((pred_gen == scene).float())
            # chance baseline: agreement with the prediction for ANOTHER source image (a shifted batch)
            agree_other.append((pred_gen == pred_src.roll(1)).float())
        rows.append({
            "level": name,
            "dist_to_source": torch.cat(dist).mean().item(),
            "diversity": torch.cat(div).mean().item(),
            "scene_agreement": torch.cat(agree).mean().item(),
            "scene_agreement_true": torch.cat(agree_true).mean().item(),
            "scene_agreement_other_source": torch.cat(agree_other).mean().item(),
        })
    return rows


def fid_per_level(pipe: PyramidPipeline, n: int, seed: int = 0) -> dict:
    """FID / KID per level: generations from test scenes 0..n-1 vs the real test scenes n..2n-1 (disjoint)."""
    data = ToyscapesDataset(size=pipe.image_size, length=2 * n, split="test", seed=seed,
                            cache_dir=os.environ.get("SYNTHKIT_TOYSCAPES_CACHE") or None)
    x_all = torch.stack([data[i]["image"] for i in range(2 * n)])  # [2N, 3, S, S]
    prov = pipe.backbone.provenance
    return {
        "rows": fid_kid_by_level(pipe, x_all[:n], x_all[n:], seed=seed),
        "n": n,
        "layer": pipe.backbone.fid_layer,
        "provenance": dict(prov, n_real=n, n_fake=n, seed=seed),
        "paper_source": PAPER_FID_SOURCE,
    }


def fid_table(result: dict, model: str, image_size: int) -> str:
    prov = result["provenance"]
    lines = [
        f"# Semantic Pyramid: FID / KID per level ({model}, {image_size} px, N={result['n']} generations per level "
        f"vs {result['n']} other held-out scenes, seed {prov['seed']})",
        "",
        f"Features: offline backbone {prov.get('backend')} `{result['layer']}` layer, weights sha256 "
        f"{str(prov.get('weights_sha256'))[:12]}...: NOT Inception, not comparable with the paper's column. "
        "Generation from one level alone, one z per source. KID = mean +- std over 100 random subsets of N/2 (unbiased MMD^2, x 1e3 below).",
        "",
        "| level | FID (offline) | KID x 1e3 (offline) | paper FID (Places365, Inception; UNVERIFIED secondary quote, see below) |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        paper = "-" if r["level"] == "real vs real" else ("not found" if r["paper_fid"] is None else f"{r['paper_fid']:.2f}")
        lines.append(f"| {r['level']} | {r['fid']:.3f} | {1e3 * r['kid']:.3f} +- {1e3 * r['kid_std']:.3f} | {paper} |")
    lines += ["", f"Paper column: {result['paper_source']}."]
    return "\n".join(lines)


def speed(pipe: PyramidPipeline, reps: int) -> list[dict]:
    rng = np.random.default_rng(0)
    s = pipe.image_size
    img, obj = (rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for _ in range(2))
    hole = np.zeros((s, s), bool)
    hole[s // 4 : s // 2, s // 4 : 3 * s // 4] = True
    calls = {
        f"generate_from_level({pipe.levels[0]})": lambda: pipe.generate_from_level(img, pipe.levels[0]),
        f"generate_from_level({pipe.levels[-1]})": lambda: pipe.generate_from_level(img, pipe.levels[-1]),
        "inpaint": lambda: pipe.inpaint(img, hole),
        "composite": lambda: pipe.composite(img, obj, hole, pipe.levels[2]),
    }
    rows = []
    for name, fn in calls.items():
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        rows.append({"call": name, "median_ms": 1000 * float(np.median(times)), "reps": reps})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="registry name, folder or repo id (default: pyramid-toyscapes)")
    ap.add_argument("--n", type=int, default=200, help="held-out scenes for the quality table")
    ap.add_argument("--fid-n", type=int, default=500, help="generations per level for FID/KID (0: skip)")
    ap.add_argument("--quick", action="store_true", help="fewer speed repetitions")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 shared cores: 1 avoids oversubscription)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"), help="folder for pyramid.md/.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    pipe = load_pyramid(args.model)
    q = quality(pipe, args.n)
    sp = speed(pipe, 5 if args.quick else 20)
    dists = [r["dist_to_source"] for r in q]
    rises = sum(b > a for a, b in zip(dists[:-1], dists[1:]))
    deepest = q[-1]["scene_agreement"]
    divs = [r["diversity"] for r in q]
    div_rises = sum(b > a for a, b in zip(divs[:-1], divs[1:]))
    checks = {
        "dist_to_source rises level to level": f"{rises}/{len(dists) - 1}",
        "dist_to_source: deepest > shallowest": bool(dists[-1] > dists[0]),
        "diversity rises level to level": f"{div_rises}/{len(divs) - 1}",
        "diversity: deepest > shallowest": bool(divs[-1] > divs[0]),
        f"scene agreement from the deepest level >= {TARGET_AGREEMENT}": bool(deepest >= TARGET_AGREEMENT),
    }
    prov = dict(pipe.backbone.provenance) if hasattr(pipe.backbone, "provenance") else {}
    result = {
        "model": args.model or "pyramid-toyscapes",
        "config": {"image_size": pipe.image_size, "backbone": pipe.config.backbone},
        "backbone_provenance": prov,
        "n": args.n,
        "seed": 0,
        "quality": q,
        "checks": checks,
        "speed": sp,
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "pipeline_notes": pipe.notes,
    }
    lines = [
        f"# Semantic Pyramid ({result['model']}, {pipe.image_size} px, backbone {pipe.config.backbone}, "
        f"weights sha256 {str(prov.get('weights_sha256'))[:12]}..., N={args.n} test scenes, seed 0)",
        "",
        "LPIPS-like = the offline backbone's distance, not LPIPS; not comparable with published numbers.",
        "",
        "| level | LPIPS-like to source | diversity (2 seeds) | scene agreement (pred.) | (true scene) | (another source: chance) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['level']} | {r['dist_to_source']:.4f} | {r['diversity']:.4f} | {r['scene_agreement']:.3f} | "
        f"{r['scene_agreement_true']:.3f} | {r['scene_agreement_other_source']:.3f} |" for r in q
    ]
    lines += ["", "| check | result |", "|---|---|"] + [f"| {k} | {v} |" for k, v in checks.items()]
    lines += ["", f"| call (batch 1, {args.threads} thread(s)) | median ms |", "|---|---|"]
    lines += [f"| {r['call']} | {r['median_ms']:.1f} |" for r in sp]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pyramid.md").write_text(text + "\n")
    (out / "pyramid.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.fid_n > 0:
        fr = fid_per_level(pipe, args.fid_n)
        fr["model"] = result["model"]
        text = fid_table(fr, result["model"], pipe.image_size)
        print("\n" + text)
        (out / "pyramid_fid.md").write_text(text + "\n")
        (out / "pyramid_fid.json").write_text(json.dumps(fr, indent=2) + "\n")


if __name__ == "__main__":
    main()
