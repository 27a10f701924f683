"""Quality of an SMIS model on held-out Toyscapes label maps (the figures quoted by the bundled model's card).

    python benchmarks/eval_smis.py                            # bundled "smis-toyscapes"
    python benchmarks/eval_smis.py --model runs/smis/model --maps 32 --pairs 16

Figures (all with the offline Toyscapes backbone, so NOT comparable to the paper's numbers):

1. mIoU ratio: mIoU of the backbone's segmentation of generated images (codes from the prior N(0, I)) against the
   label maps they were generated from, divided by the mIoU the backbone reaches on the real images of the same
   maps. Target >= 0.70.
2. mCSD / mOCD (synthkit.metrics.diversity; protocol in its docstring), their ratio mOCD / mCSD (target <= 0.2),
   with the LPIPS backend's provenance; both masking modes are reported.
3. Mode transfer: encode A and B, give A class c's code from B; how often c then shows B's recorded Toyscapes
   mode (nearest-prototype colour classifier), and how often the other classes keep their mode.

Writes benchmarks/results/smis_quality.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def held_out(size: int, n: int, seed: int = 0):
    """n held-out Toyscapes scenes (the "test" split: never seen in training, which uses "train")."""
    from synthkit.data.toyscapes import ToyscapesDataset

    data = ToyscapesDataset(size=size, length=n, split="test", seed=seed)
    return [data.sample(i) for i in range(n)]


@torch.no_grad()
def miou_ratio(pipe, scenes, backbone, seed: int = 0) -> dict:
    from synthkit.metrics.segmentation import segmentation_scores

    labels = torch.stack([torch.from_numpy(s.label.astype(np.int64)) for s in scenes])
    real = torch.stack([torch.from_numpy(s.image).permute(2, 0, 1).float() / 127.5 - 1 for s in scenes])
    fake = torch.cat([pipe.generate(pipe.random_latent(seed + i), pipe.seg_from_label(s.label)).cpu()
                      for i, s in enumerate(scenes)])
    r = segmentation_scores(real, labels, backbone, ignore_index=None)
    f = segmentation_scores(fake, labels, backbone, ignore_index=None)
    return {"miou_generated": f["miou"].value, "miou_real": r["miou"].value,
            "ratio": f["miou"].value / r["miou"].value,
            "acc_generated": f["pixel_accuracy"].value, "acc_real": r["pixel_accuracy"].value,
            "per_class_iou_generated": f["miou"].extra["per_class_iou"], "n_maps": len(scenes),
            "backend": f["miou"].backend, "weights_sha256": f["miou"].weights_sha256}


@torch.no_grad()
def morph_locality(pipe, scenes, seed: int = 0, min_pixels: int = 16) -> dict:
    """Pixel-level: resample one class's code (morph t=1 of that class); mean |change| outside c / inside c."""
    ratios = []
    for i, s in enumerate(scenes):
        za, zb = pipe.random_latent(seed + 2 * i), pipe.random_latent(seed + 2 * i + 1)
        base = pipe.morph(s.label, za, zb, 0.0).image.astype(np.float64)
        for c in np.unique(s.label):
            m = s.label == c
            if m.sum() < min_pixels or m.all():
                continue
            moved = pipe.morph(s.label, za, zb, 1.0, cls=int(c)).image.astype(np.float64)
            d = np.abs(moved - base).mean(-1)
            ratios.append(d[~m].mean() / max(d[m].mean(), 1e-6))
    return {"pixel_ratio_mean": float(np.mean(ratios)), "pixel_ratio_p90": float(np.percentile(ratios, 90)),
            "trials": len(ratios)}


@torch.no_grad()
def morph_speed(pipe, scene, repeats: int = 10) -> dict:
    """Milliseconds per frame: Morpher (label-map branches cached) vs the uncached pipeline.morph."""
    za, zb = pipe.random_latent(0), pipe.random_latent(1)
    c = int(np.unique(scene.label)[0])
    morpher = pipe.morpher(scene.label, za, zb, cls=c)
    out = {}
    for name, fn in (("morpher_ms", lambda t: morpher(t)), ("uncached_ms", lambda t: pipe.morph(scene.label, za, zb, t, c))):
        fn(0.5)
        times = []
        for k in range(repeats):
            t0 = time.perf_counter()
            fn(k / max(repeats - 1, 1))
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = float(np.median(times))
    return out


def evaluate(model: str = "smis-toyscapes", n_maps: int = 32, n_div: int = 12, n_samples: int = 4,
             n_pairs: int = 16, seed: int = 0) -> dict:
    from synthkit.backbones import load_backbone
    from synthkit.metrics.diversity import fit_mode_prototypes, mcsd_mocd, mode_transfer
    from synthkit.metrics.lpips import LPIPS
    from synthkit.pipelines.smis import load_smis

    torch.manual_seed(seed)
    pipe = load_smis(model)
    size = pipe.image_size[0]
    backbone = load_backbone("toyscapes")
    out: dict = {"model": str(model), "image_size": size, "seed": seed}
    t0 = time.perf_counter()
    scenes = held_out(size, max(n_maps, n_div, 2 * n_pairs), seed)
    out["miou"] = miou_ratio(pipe, scenes[:n_maps], backbone, seed)
    lp = LPIPS("auto", backbone=backbone)
    labels = [s.label for s in scenes[:n_div]]
    for mode in ("mask-image", "spatial-map"):
        res = mcsd_mocd(pipe.model, labels, lpips=lp, num_samples=n_samples, mode=mode, seed=seed,
                        class_names=pipe.class_names)
        out[f"diversity_{mode}"] = {k: v.as_dict() for k, v in res.items()}
    out["morph_locality"] = morph_locality(pipe, scenes[:n_div], seed)
    out["morph_speed"] = morph_speed(pipe, scenes[0])
    protos = fit_mode_prototypes(size=size, seed=seed)
    pairs = [(scenes[2 * i], scenes[2 * i + 1]) for i in range(n_pairs)]
    out["mode_transfer"] = mode_transfer(pipe, pairs, protos)
    out["seconds"] = time.perf_counter() - t0
    out["lpips_provenance"] = lp.provenance
    out["machine"] = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, " \
                     f"{torch.get_num_threads()} threads"
    return out


def table(r: dict) -> str:
    m, mt, loc = r["miou"], r["mode_transfer"], r["morph_locality"]
    rows = [
        ("mIoU generated / real (target >= 0.70)", f"{m['miou_generated']:.3f} / {m['miou_real']:.3f} = "
                                                    f"**{m['ratio']:.3f}**", f"{m['n_maps']} held-out maps"),
    ]
    for mode, title in (("mask-image", "mask-image, per pixel of region (target ratio <= 0.2)"),
                        ("spatial-map", "spatial-map (leaks through the receptive field: upper bound)")):
        d = r[f"diversity_{mode}"]
        rows.append((f"mCSD / mOCD, {title}",
                     f"{d['mcsd']['value']:.4f} / {d['mocd']['value']:.4f}, ratio **{d['ratio']['value']:.3f}**",
                     f"{d['mcsd']['extra']['label_maps']} maps, K={d['mcsd']['extra']['samples_per_class']}, "
                     f"all pairs, n={d['mcsd']['n']} pairs"))
    raw = r["diversity_mask-image"]
    raw_csd = float(np.mean(list(raw["mcsd"]["extra"]["raw_per_class"].values())))
    raw_ocd = float(np.mean(list(raw["mocd"]["extra"]["raw_per_class"].values())))
    rows.append(("mCSD / mOCD, mask-image, not area-normalised", f"{raw_csd:.4f} / {raw_ocd:.4f}, ratio "
                 f"{raw_ocd / raw_csd:.3f}", "same pairs"))
    rows.append(("morph locality, pixels: mean abs change outside c / inside c",
                 f"mean {loc['pixel_ratio_mean']:.3f}, p90 {loc['pixel_ratio_p90']:.3f}", f"{loc['trials']} trials"))
    rows.append(("mode transfer: c shows B's recorded mode", f"**{mt['transfer_rate']:.3f}** "
                 f"(before the swap: {mt['baseline_rate']:.3f})", f"{mt['trials']} trials"))
    rows.append(("mode transfer: other classes keep their mode", f"{mt['others_kept_rate']:.3f}",
                 f"{mt['others']} (trial, class) checks"))
    rows.append(("A's reconstruction shows A's recorded modes", f"{mt['recon_rate']:.3f}",
                 f"prototype classifier on real test images: {mt['prototype_accuracy_real']:.3f}"))
    sp = r["morph_speed"]
    rows.append(("style morphing, ms per frame (p50): Morpher / uncached", f"{sp['morpher_ms']:.1f} / "
                 f"{sp['uncached_ms']:.1f}", "batch 1, shared CPU"))
    prov = r["lpips_provenance"]
    lines = [f"# SMIS quality on held-out Toyscapes ({r['model']}, {r['image_size']} px)", "",
             "| figure | value | sample |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", f"Segmenter and LPIPS backend: {prov['backend']} (weights sha256 "
              f"{(prov.get('weights_sha256') or 'none')[:16]}…). {prov.get('reason', '')}. "
              "**Not comparable to the paper's numbers** (toy data, toy backbone, our masking protocol).",
              "", f"Per-class IoU (generated): {r['miou']['per_class_iou_generated']}",
              f"Per-class mode transfer: {mt['per_class']}",
              f"Per-class CSD (mask-image): {r['diversity_mask-image']['mcsd']['extra']['per_class']}",
              f"Per-class OCD (mask-image): {r['diversity_mask-image']['mocd']['extra']['per_class']}",
              "", f"{r['seconds']:.0f} s on {r['machine']}; seed {r['seed']}.", ""]
    return "\n".join(lines)


def write_card(folder: str | Path, r: dict, run_dir: str | Path, command: str, notes: str = "") -> Path:
    """The bundled model's card: training command, steps, wall time (from the run's checkpoint) and the figures."""
    from synthkit.hub import write_model_card

    state = json.loads((Path(run_dir) / "checkpoint" / "state.json").read_text())
    m, mt, dm = r["miou"], r["mode_transfer"], r["diversity_mask-image"]
    ds = r["diversity_spatial-map"]
    prov = (f"offline Toyscapes backbone {(m['weights_sha256'] or '')[:12]}…, {m['n_maps']} held-out test maps "
            f"at {r['image_size']} px, seed {r['seed']}; not comparable to the paper")
    div = (f"{dm['mcsd']['extra']['label_maps']} held-out maps, K={dm['mcsd']['extra']['samples_per_class']} "
           f"codes per (map, class), all pairs, {dm['mcsd']['backend']}; not comparable to the paper")
    metrics = {
        "mIoU generated / mIoU real (>= 0.70)": {"value": round(m["ratio"], 3), "provenance": prov},
        "mIoU generated": {"value": round(m["miou_generated"], 3), "provenance": prov},
        "mIoU real (same maps)": {"value": round(m["miou_real"], 3), "provenance": prov},
        "mOCD / mCSD, mask-image (<= 0.2)": {"value": round(dm["ratio"]["value"], 3), "provenance": div},
        "mCSD / mOCD, mask-image": {"value": f"{dm['mcsd']['value']:.4f} / {dm['mocd']['value']:.4f}",
                                    "provenance": div},
        "mOCD / mCSD, spatial-map (upper bound)": {"value": round(ds["ratio"]["value"], 3), "provenance": div},
        "mode transfer: swapped class shows B's mode": {
            "value": f"{mt['transfer_rate']:.3f} (before swap {mt['baseline_rate']:.3f})",
            "provenance": f"{mt['trials']} trials, nearest-prototype colour classifier"},
        "mode transfer: other classes keep their mode": {"value": round(mt["others_kept_rate"], 3),
                                                         "provenance": f"{mt['others']} checks"},
    }
    return write_model_card(
        folder, model_name="smis-toyscapes",
        description="GroupDNet (SMIS, Zhu et al. CVPR 2020) with encoder, trained on Toyscapes "
                    f"{r['image_size']}x{r['image_size']}: per-class latent codes for class-wise resampling, "
                    "appearance mixture and style morphing. Use it with `synthkit.pipelines.smis.load_smis()`.",
        paper="smis", paper_url="https://arxiv.org/abs/2003.12697", synthkit_class="GroupDNet",
        datasets=["toyscapes"], training_command=command, steps=int(state["step"]),
        wall_time=f"{state['wall_time'] / 60:.1f} min", hardware="2 shared CPU cores (about 6 jobs at once)",
        metrics=metrics, notes=(notes + "\n\nFigures from `python benchmarks/eval_smis.py` "
                                "(benchmarks/results/smis_quality.md).").strip())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="smis-toyscapes")
    p.add_argument("--maps", type=int, default=32, help="held-out maps for the mIoU ratio")
    p.add_argument("--div-maps", type=int, default=12, help="maps for mCSD / mOCD and morph locality")
    p.add_argument("--samples", type=int, default=4, help="K codes per (map, class) for mCSD / mOCD")
    p.add_argument("--pairs", type=int, default=16, help="(A, B) pairs for mode transfer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "smis_quality"))
    p.add_argument("--card", default=None, help="also write this model folder's README.md (needs --run, --command)")
    p.add_argument("--run", default=None, help="training run folder (its checkpoint/state.json: steps, wall time)")
    p.add_argument("--command", default=None, help="the exact training command")
    p.add_argument("--notes", default="", help="extra notes for the card")
    p.add_argument("--card-only", action="store_true", help="write the card from the saved --out .json")
    a = p.parse_args()
    out = Path(a.out)
    if a.card_only:
        r = json.loads(out.with_suffix(".json").read_text())
    else:
        r = evaluate(a.model, a.maps, a.div_maps, a.samples, a.pairs, a.seed)
        text = table(r)
        print(text)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text, encoding="utf-8")
        out.with_suffix(".json").write_text(json.dumps(r, indent=1, default=str), encoding="utf-8")
        print(f"wrote {out.with_suffix('.md')} and .json")
    if a.card:
        print(f"wrote {write_card(a.card, r, a.run, a.command, a.notes)}")


if __name__ == "__main__":
    main()
