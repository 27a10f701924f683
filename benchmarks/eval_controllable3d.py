"""Quality of a 3D-controllable model on Toyshapes3D: do its controls do what they say? (ground truth, offline)

    python benchmarks/eval_controllable3d.py [--model controllable3d-toyshapes3d | --run runs/c3d-toyshapes3d]
                                             [--n-scenes 100] [--n-fid 1000]

Rows (synthkit.metrics.controls3d; objects found by colour, a yardstick validated on real images first):
1. the yardstick: object count accuracy and mask IoU of the colour segmentation on held-out *real* images;
2. primitives vs objects: visible primitives matched to the objects in the image (best one-to-one IoU matching),
   their mean IoU, the pixel error between a primitive's projected centre and its object's centroid, and how often
   the number of visible primitives equals the number of objects;
3. translation: each visible primitive moved along x and along z through [-0.6, 0.6]; correlation between where
   the camera projects its centre and where its alpha centroid goes (goal >= 0.9);
4. removal: removing one visible primitive removes exactly one object (goal >= 80% of cases);
5. appearance: resampling every appearance code keeps the alpha masks (IoU, goal >= 0.9);
6. FID / KID on the offline Toyscapes backbone, N generated vs N held-out real images (a backbone trained on
   another toy dataset: numbers compare synthkit models, never the paper);
7. the time of one edited frame (a control moved, the scene re-rendered), p50 at the model's size.

Writes benchmarks/results/<stem>.{md,json} with the provenance; ``--card`` writes the model folder's README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def load_generator(args):
    import synthkit
    from synthkit.models.controllable3d import Controllable3DConfig, Controllable3DGenerator
    from synthkit.train_state import load_run_generator

    if args.run:
        G = Controllable3DGenerator(Controllable3DConfig.from_preset(args.preset))
        step, prefix = load_run_generator(args.run, G)
        return G.eval(), f"{args.run} ({prefix} at step {step})"
    return synthkit.load(args.model).eval(), args.model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="controllable3d-toyshapes3d")
    p.add_argument("--run", default=None, help="a training run folder: evaluate its checkpoint's G_ema instead")
    p.add_argument("--preset", default="toyshapes3d")
    p.add_argument("--n-scenes", type=int, default=100)
    p.add_argument("--n-fid", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--stem", default="controllable3d")
    p.add_argument("--card", default=None, help="also write this model folder's README.md (needs --run, --command)")
    p.add_argument("--command", default=None, help="the exact training command, for the card")
    args = p.parse_args()
    torch.manual_seed(args.seed)

    from synthkit.backbones import load_backbone
    from synthkit.data.toyshapes3d import Toyshapes3DDataset
    from synthkit.metrics import controls3d as M
    from synthkit.metrics import fid, kid
    from synthkit.pipelines.controllable3d import Controllable3DPipeline

    t_start = time.time()
    G, source = load_generator(args)
    pipe = Controllable3DPipeline(G)
    S = G.config.image_size
    payload: dict = {"model": source, "args": vars(args)}
    lines = [f"# 3D-controllable synthesis on Toyshapes3D ({source}, {S}x{S})", ""]

    # 1. the yardstick
    yard = M.segmentation_accuracy(n=200, size=S, seed=args.seed)
    payload["yardstick"] = yard
    lines += ["## The yardstick: objects found by colour in held-out real images", "",
              f"Object count right in {100 * yard['count_accuracy']:.1f}% of {yard['n']} real images; mask IoU with "
              f"the recorded instance maps {yard['mean_iou']:.3f}.", ""]

    # 2-5. the controls, on n scenes
    match, sweeps_p, sweeps_m, per_sweep, removal, appearance = [], [], [], [], [], []
    values = np.linspace(-0.6, 0.6, 7)
    for i in range(args.n_scenes):
        scene = pipe.sample(10_000 + i)
        m = M.match_primitives(scene)
        match.append(m)
        for k, vis in enumerate(scene.visible()):
            if not vis:
                continue
            for axis in (0, 2):
                proj, meas = M.translation_sweep(scene, k, axis, values)
                if proj:
                    sweeps_p += proj
                    sweeps_m += meas
                    per_sweep.append(M.pearson(proj, meas))
            removal.append(M.removal_effect(scene, k))
        appearance.append(M.appearance_invariance(scene, seed=i))
    ious = [m["mean_iou"] for m in match if m["pairs"]]
    errs = [m["centre_error_px"] for m in match if m["centre_error_px"] is not None]
    r = {
        "count_match": float(np.mean([m["count_match"] for m in match])),
        "matched_iou": float(np.mean(ious)) if ious else 0.0,
        "centre_error_px": float(np.median(errs)) if errs else None,
        "translation_correlation_pooled": M.pearson(sweeps_p, sweeps_m),
        "translation_correlation_median": float(np.nanmedian(per_sweep)) if per_sweep else float("nan"),
        "n_sweeps": len(per_sweep),
        "removal_exactly_one": float(np.mean([v == 1 for v in removal])) if removal else 0.0,
        "n_removals": len(removal),
        "appearance_iou": float(np.mean(appearance)),
        "appearance_iou_ge_0.9": float(np.mean([a >= 0.9 for a in appearance])),
        "objects_per_image_generated": float(np.mean([m["n_objects"] for m in match])),
        "visible_primitives_per_image": float(np.mean([m["n_visible_primitives"] for m in match])),
    }
    payload["controls"] = r
    lines += [f"## The controls ({args.n_scenes} generated scenes, seeds 10000..)", "",
              "| check | value | goal |", "|---|---:|---:|",
              f"| visible primitives = objects in the image | {100 * r['count_match']:.1f}% | |",
              f"| matched primitive / object IoU | {r['matched_iou']:.3f} | |",
              f"| projected centre to object centroid (median px) | {r['centre_error_px'] or float('nan'):.2f} | |",
              f"| translation sweep: projected vs alpha-centroid motion, pooled correlation ({r['n_sweeps']} sweeps) "
              f"| {r['translation_correlation_pooled']:.3f} | >= 0.9 |",
              f"| translation sweep: median per-sweep correlation | {r['translation_correlation_median']:.3f} | |",
              f"| removing a visible primitive removes exactly one object ({r['n_removals']} cases) | "
              f"{100 * r['removal_exactly_one']:.1f}% | >= 80% |",
              f"| new appearance codes keep the alpha masks (mean IoU) | {r['appearance_iou']:.3f} | >= 0.9 |",
              f"| objects per generated image (real: 2.0) / visible primitives | "
              f"{r['objects_per_image_generated']:.2f} / {r['visible_primitives_per_image']:.2f} | |", ""]

    # 6. FID / KID
    backbone = load_backbone("toyscapes")
    test = Toyshapes3DDataset(size=S, length=args.n_fid, split="test", seed=args.seed)
    real = torch.stack([test[i]["image"] for i in range(args.n_fid)])
    with torch.no_grad():
        fake = []
        for b in range(0, args.n_fid, 50):
            g = torch.Generator().manual_seed(1000 + b)
            z_pose, z_app = G.sample_z(50, g)
            az, el = G.sample_camera(50, g)
            fake.append(G(z_pose, z_app, az, el).image.clamp(-1, 1))
        fake = torch.cat(fake)[:args.n_fid]
    f, k = fid(real, fake, backbone), kid(real, fake, backbone)
    payload["fid"], payload["kid"] = f.value, k.value
    payload["fid_provenance"] = {"backend": f.backend, "weights_sha256": f.weights_sha256, "n": f.n}
    lines += ["## Image quality", "", f"FID {f.value:.1f}, KID x1e3 {1e3 * k.value:.1f} ({args.n_fid} generated vs "
              f"{args.n_fid} held-out Toyshapes3D test images; backend {f.backend} (trained on Toyscapes, not on "
              f"Toyshapes3D), weights sha256 {str(f.weights_sha256)[:12]}; not comparable with any paper).", ""]

    # 7. an edited frame
    scene = pipe.sample(0)
    times = []
    for j in range(30):
        t0 = time.perf_counter()
        _ = scene.move(0, (float(values[j % 7]), None, None)).camera(azimuth=12.0 * j).image
        times.append(1e3 * (time.perf_counter() - t0))
    payload["frame_ms"] = times
    lines += [f"One edited frame (move + camera + render, {S}x{S}): p50 {statistics.median(times):.1f} ms on "
              f"{torch.get_num_threads()} threads.", "",
              f"`python benchmarks/eval_controllable3d.py "
              f"{' '.join(f'--{k.replace(chr(95), chr(45))} {v}' for k, v in payload['args'].items() if v is not None and k not in ('out', 'stem', 'card', 'command'))}`, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} CPUs, "
              f"torch {torch.__version__}; {time.time() - t_start:.0f} s in all.", ""]
    from _timing import write_results  # benchmarks/_timing.py

    write_results(args.out, args.stem, "\n".join(lines), payload)
    if args.card:
        write_card(args, payload, G)


def write_card(args, r: dict, G) -> None:
    from synthkit.hub import write_model_card

    state = json.loads((Path(args.run) / "checkpoint" / "state.json").read_text())
    c = r["controls"]
    ctl = f"{args.n_scenes} generated scenes; objects found by colour (yardstick: {100 * r['yardstick']['count_accuracy']:.0f}% count accuracy on real images)"
    prov = (f"offline Toyscapes backbone {str(r['fid_provenance']['weights_sha256'])[:12]}, {args.n_fid} generated vs "
            f"{args.n_fid} held-out Toyshapes3D images; not comparable to any paper")
    metrics = {
        "translation control correlation (pooled)": {"value": round(c["translation_correlation_pooled"], 3),
                                                     "provenance": ctl + f", {c['n_sweeps']} sweeps"},
        "removal removes exactly one object": {"value": round(c["removal_exactly_one"], 3), "provenance": ctl},
        "appearance resample keeps alpha (IoU)": {"value": round(c["appearance_iou"], 3), "provenance": ctl},
        "visible primitives = objects": {"value": round(c["count_match"], 3), "provenance": ctl},
        "matched primitive/object IoU": {"value": round(c["matched_iou"], 3), "provenance": ctl},
        "FID (offline backbone)": {"value": round(r["fid"], 1), "provenance": prov},
        "KID x1e3 (offline backbone)": {"value": round(1e3 * r["kid"], 1), "provenance": prov},
    }
    cfg = G.config
    write_model_card(
        args.card, model_name="controllable3d-toyshapes3d",
        description=f"The 3D-controllable GAN of Liao et al. (CVPR 2020) trained on Toyshapes3D "
                    f"{cfg.image_size}x{cfg.image_size}: {cfg.n_primitives} {cfg.primitive} primitives with "
                    f"{cfg.n_points} splatted points each, a shared AdaIN 2D generator ({cfg.channels} channels, "
                    f"{cfg.n_blocks} blocks) and a background generator on ray directions. Exported weights are the "
                    "generator EMA. Use it with `synthkit.pipelines.controllable3d.load_controllable3d()`.",
        paper="controllable3d", paper_url="https://arxiv.org/abs/1912.05237",
        synthkit_class="Controllable3DGenerator", datasets=["toyshapes3d"], training_command=args.command,
        steps=int(state["step"]), wall_time=f"{state['wall_time'] / 60:.1f} min",
        hardware="2 shared CPU cores (1 thread)", metrics=metrics,
        notes="Figures from `python benchmarks/eval_controllable3d.py` (benchmarks/results/controllable3d.md). "
              "A teaching model: small and short-trained on CPU.")


if __name__ == "__main__":
    main()
