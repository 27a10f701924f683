"""Quality of the bundled BachGAN (bachgan-toyscapes) on held-out Toyscapes layouts, next to its no-retrieval ablation.

    python benchmarks/eval_bachgan.py [--n 1000] [--card]
        [--checkpoint 1000=runs/main-snapshots/step_1000.safetensors]          # main run's raw G at that step
        [--checkpoint 1600:ema=runs/bachgan-toyscapes/checkpoint/state.safetensors]   # ... or its EMA G
        [--ablation runs/ablation-model-step1000 --ablation runs/ablation-model-step1600]   # use_retrieval=false

For N held-out layouts (Toyscapes split "test", 64x64, seed 0) each model generates one image from the layout's
boxes (seed 0: the best 3 retrieved layouts). The offline Toyscapes backbone (synthkit.backbones, "toyscapes")
then measures:

- **objects where the boxes are**: the backbone segments each image; for each box, *box pixel accuracy* is the
  share of the box's pixels labelled with the box's class, and a box is *found* when the box's class is the most
  frequent object class (tree / building / car) predicted inside it. Both are averaged over all boxes, and the
  same numbers on the real test images give the reference: ``ratio = generated / real`` (target >= 0.70).
- **plausible backgrounds**: FID and KID between the backbone's ``pool`` features (128-d) of generated and real
  test images; "real vs real" (another N real test images) is the floor of each metric at this N.

As in the paper's ablation (BachGAN Table 3: with vs without the background-retrieval module), the table puts the
model trained without retrieval next to the main one, and a second table pairs the rows **at equal training steps**
(same N, same seed, same layouts): the fair comparison. All numbers use the offline backbone and 64x64 Toyscapes:
they are NOT comparable to the paper's (Cityscapes / ADE20K, Inception FID, DRN/UperNet segmenters).
Writes benchmarks/results/bachgan_quality.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from synthkit.pipelines.bachgan import box_scores  # per box: pixel accuracy, found (the metric's definition)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# How the bundled checkpoint was made (recorded from the runs; `--card` writes them into its model card).
_MAIN = ("OMP_NUM_THREADS=1 synthkit train bachgan --preset toyscapes --set lambda_perceptual=0 --set lambda_seg=1 "
         "--set dataset_length=2000 --set index_path=runs/bachgan-toyscapes/retrieval_index.safetensors "
         "--set progress=false")
_ABLATION = ("OMP_NUM_THREADS=1 synthkit train bachgan --preset toyscapes --set use_retrieval=false --set lambda_perceptual=0 "
             "--set lambda_seg=1 --set dataset_length=2000 --set ema_decay=none --set progress=false")
_FINETUNE = ("OMP_NUM_THREADS=1 synthkit train bachgan --preset toyscapes --set lambda_perceptual=10 --set lambda_seg=1 "
             "--set dataset_length=2000 --set progress=false --set ema_decay=none --set ckpt_every=50 --steps 1000")

TRAINING = {
    # stage by stage; every resume continues exactly (same weights, optimiser moments, RNG and data order)
    "commands": [  # (command, what it did)
        (f"{_MAIN} --steps 1400 --out runs/bachgan-toyscapes", "stopped after the step-1000 checkpoint (35-min budget)"),
        (f"{_MAIN} --steps 1600 --out runs/bachgan-toyscapes", "resumed at step 1000, trained to 1600 (the run's "
         "checkpoint folder at 1600 was copied to runs/main-checkpoint-step1600)"),
        (f"{_FINETUNE} --set index_path=runs/bachgan-toyscapes/retrieval_index.safetensors "
         "--set init_from=runs/main-checkpoint-step1600 --out runs/bachgan-ft-vgg",
         "a new run from the step-1600 weights (fresh optimisers), now WITH the perceptual loss on the offline "
         "backbone (lambda_perceptual=10, the official weight): 1000 steps, 626 s; its exported raw G is the bundled model"),
    ],
    "steps": 2600,
    "steps_label": "1600+1000p",  # the rows' steps column: 1600 without, then 1000 with the perceptual loss
    "weights": "raw G",
    # seconds of training: 2039.7 s for 0 -> 1000 (12:14-12:49 UTC 2026-11-25) + 976.8 s for 1000 -> 1600
    # (14:31-14:47 UTC) + 626.3 s for the perceptual fine-tune (16:12-16:23 UTC)
    "wall_time": 3642.8,
    "hardware": "1 CPU thread on a 2-core machine shared with other jobs (1-min load average 1-11)",
    "ablation_commands": [
        (f"{_ABLATION} --steps 400 --out runs/bachgan-toyscapes-noretrieval", "steps 0 -> 400 (501.6 s)"),
        (f"{_ABLATION} --steps 1000 --out runs/bachgan-toyscapes-noretrieval", "resumed at 400; model/ at 1000 (1066.8 s in all)"),
        (f"{_ABLATION} --steps 1600 --out runs/bachgan-toyscapes-noretrieval", "resumed at 1000; model/ at 1600 (1996.9 s in all)"),
        (f"{_FINETUNE} --set use_retrieval=false --set init_from=runs/ablation-checkpoint-step1600 "
         "--out runs/bachgan-ft-vgg-noretrieval",
         "the same perceptual fine-tune from the ablation's step-1600 checkpoint: the equal-recipe partner of the "
         "bundled model (steps 1600+1000p)"),
    ],
}

CARD_NOTES = """\
**What this is.** A small BachGAN (SPADE generator with the background-retrieval fusion module, K = 3) trained on
*Toyscapes* 64x64 scenes: boxes of the object classes tree, building and car -> image. The retrieval memory is
`retrieval_index.safetensors` in this folder: the label maps of the 2000 training scenes on a 32x32 grid (the same
maps the model was trained to retrieve from; `config.json`'s `index_path` is where training wrote it). Use it with
`synthkit.pipelines.bachgan.load_bachgan()`.

**Differences from the `toyscapes` preset and the paper's recipe** (CPU budget: about 50 minutes of training):

- two phases: 1600 steps without the perceptual loss (`lambda_perceptual=0`: the offline backbone was still being trained
  when the run started; hinge + 10 x feature matching + 1 x the official `--seg` auxiliary NLL, `lambda_seg=1`), then
  1000 steps from those weights with it (`lambda_perceptual=10`, the official weight, on the offline Toyscapes backbone
  instead of VGG-19). The perceptual phase is what made the images usable: FID 26.8 -> 15.1 and box pixel accuracy
  0.91 -> 1.04 of real (rows below), and, looked at, cleaner objects and backgrounds; more steps without it
  (4000, measured) did not;
- 2000 training scenes (`dataset_length=2000`), which are also the retrieval memory;
- 2600 steps of batch 8 in all (0 -> 1000, an exact resume 1000 -> 1600, then the 1000-step perceptual phase; the
  commands below), the paper: 60-150 epochs of Cityscapes / ADE20K on GPUs;
- the weights are the raw generator, not an EMA: with decay 0.999 the EMA of the 1600-step run still held
  0.999^1600 = 20% of the initial weights and scored far worse (row below); the perceptual phase ran without EMA.

**Longer without the perceptual loss did not help.** The first run resumed 1600 -> 4000 with the same recipe (the row
"run at 4000 steps" below, raw G): objects placed worse, backgrounds only a little better than at 1600.

**Looked at** (8 held-out layouts side by side, 1600 vs 4000 vs the bundled weights): every version is blurry; the
bundled one has the clearest objects and backgrounds. These are small CPU models: do not expect the paper's images.

**Quality** (`python benchmarks/eval_bachgan.py --card ...`, the full command in
`benchmarks/results/bachgan_quality.md`; held-out Toyscapes layouts, offline backbone, NOT comparable to the paper's
numbers): see the Metrics table and the tables below.

"""


@torch.no_grad()
def segment(backbone, images: torch.Tensor, batch: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(images), batch):
        out.append(backbone.segment(images[i:i + batch]).argmax(1).numpy())
    return np.concatenate(out)


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 [H, W, 3] list -> [N, 3, H, W] in [-1, 1]."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def load_generator(config_folder: Path, snapshot: Path, prefix: str = "G."):
    """A generator with the weights of a training checkpoint (synthkit.train keys: 'G.*' raw, 'G_ema.*' EMA)."""
    from safetensors.torch import load_file

    from synthkit.models.bachgan import BachGANGenerator, BachGANConfig

    config = json.loads((config_folder / "config.json").read_text())
    config = config.get("config", config)
    known = set(BachGANConfig.__dataclass_fields__)
    G = BachGANGenerator(BachGANConfig(**{k: v for k, v in config.items() if k in known}))
    state = load_file(str(snapshot))
    G.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, strict=True)
    return G.eval()


def model_card_steps(folder: Path) -> str:
    card = folder / "README.md"
    if card.is_file():
        for line in card.read_text().splitlines():
            if line.startswith("- steps:"):
                return line.split(":", 1)[1].strip()
    return "?"


TABLE_HEADER = ("| model | retrieval | steps | weights | box pixel acc | ratio to real | boxes found | ratio to real "
                "| FID | KID ×1e3 (± std) |")
TABLE_RULE = "|---|---|---|---|---|---|---|---|---|---|"


def table_row(r: dict) -> str:
    return (f"| {r['model']} | {r['retrieval']} | {r['steps']} | {r.get('weights', '-')} | {r['box_pixel_acc']:.3f} "
            f"| {r['box_pixel_acc_ratio']:.2f} | {r['box_found']:.3f} | {r['box_found_ratio']:.2f} | {r['fid']:.2f} "
            f"| {1e3 * r['kid']:.2f} ± {1e3 * r['kid_std']:.2f} |")


def equal_step_rows(rows: list[dict]) -> list[dict]:
    """For each no-retrieval row: the retrieval rows with the same steps and the same kind of weights, then it."""
    out = []
    for abl in [r for r in rows if r["retrieval"].startswith("no")]:
        same = [r for r in rows if r["retrieval"].startswith("yes") and r["steps"] == abl["steps"]
                and r.get("weights") == abl.get("weights")]
        if same:
            out += [same[0], abl]
    return out


def ablation_verdict(pairs: list[dict]) -> str:
    """One sentence per (with retrieval, without) pair of equal_step_rows: which backgrounds score better."""
    out, holds = [], []
    for w, wo in zip(pairs[::2], pairs[1::2]):
        spread = float(np.hypot(w["kid_std"], wo["kid_std"]))  # std of the KID difference, subsets independent
        d_kid = wo["kid"] - w["kid"]
        fid_side = "with" if w["fid"] < wo["fid"] else "without"
        kid_side = "with" if d_kid > 0 else "without"
        out.append(f"at {w['steps']} steps FID {w['fid']:.2f} with retrieval vs {wo['fid']:.2f} without (lower "
                   f"{fid_side}), KID x1e3 {1e3 * w['kid']:.0f} vs {1e3 * wo['kid']:.0f} (lower {kid_side}, by "
                   f"about {abs(d_kid) / spread:.1f} x the combined std over subsets)")
        holds.append((w["steps"], fid_side == kid_side == "with"))
    yes = [st for st, ok in holds if ok]
    no = [st for st, ok in holds if not ok]
    verdict = ("the paper's ablation result (retrieval -> better FID / KID) holds at "
               + (", ".join(yes) if yes else "none of the step counts") + " steps"
               + (f" and not at {', '.join(no)} steps" if no and yes else "") + ".")
    return "Backgrounds: " + "; ".join(out) + ". On this toy data " + verdict


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="held-out layouts (and real images)")
    p.add_argument("--model", default="bachgan-toyscapes")
    p.add_argument("--ablation", action="append", default=None,
                   help="[STEPS=]folder of a model trained with use_retrieval=false (repeatable; steps from its model card "
                        "unless given; "
                        "default runs/bachgan-toyscapes-noretrieval/model; '' for none)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="STEPS[:ema]=PATH",
                   help="a training checkpoint (state.safetensors) of the main run: its raw G ('G.*'), or with ':ema' "
                        "its EMA ('G_ema.*'), is evaluated with the bundled memory (repeatable)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "bachgan_quality"))
    p.add_argument("--card", action="store_true", help="also write the bundled model's card with these numbers")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from synthkit.backbones import load_backbone
    from synthkit.metrics.fid import extract_features, fid_from_features, kid_from_features
    from synthkit.pipelines.bachgan import BachGANPipeline, _model_folder, load_bachgan, test_layouts

    t_start = time.perf_counter()
    backbone = load_backbone("toyscapes")
    prov = backbone.provenance
    main_pipe = load_bachgan(args.model)
    size = main_pipe.image_size[0]
    things = list(main_pipe.config.thing_classes)
    layouts = test_layouts(2 * args.n, size=size, seed=0)
    held_out, other_real = layouts[: args.n], layouts[args.n:]
    real = to_tensor([s.image for s in held_out])
    real_feats = extract_features(real, backbone)
    other_feats = extract_features(to_tensor([s.image for s in other_real]), backbone)

    def evaluate(name: str, images: list[np.ndarray] | None, retrieval: str, steps: str, secs: float | None):
        x = real if images is None else to_tensor(images)
        pred = segment(backbone, x)
        acc, found = [], []
        for s, pr in zip(held_out, pred):
            a, f = box_scores(pr, s.boxes, things)
            acc += a
            found += f
        feats = real_feats if images is None else extract_features(x, backbone)
        row = {"model": name, "retrieval": retrieval, "steps": steps, "n_images": len(x), "n_boxes": len(acc),
               "box_pixel_acc": float(np.mean(acc)), "box_found": float(np.mean(found)),
               "gen_seconds": secs}
        ref_feats = other_feats if images is None else real_feats
        fid = fid_from_features(ref_feats, feats, backend=prov["backend"], weights_sha256=prov["weights_sha256"])
        kid = kid_from_features(ref_feats, feats, backend=prov["backend"], weights_sha256=prov["weights_sha256"],
                                num_subsets=100, subset_size=max(2, args.n // 2), seed=0)
        row.update(fid=fid.value, kid=kid.value, kid_std=kid.extra["std"])
        return row

    def generate(pipe: BachGANPipeline) -> tuple[list[np.ndarray], float]:
        t = time.perf_counter()
        images = [pipe.layout_to_image(s.boxes, seed=0).image for s in held_out]
        return images, time.perf_counter() - t

    rows = [evaluate("real test images (reference)", None, "-", "-", None)]
    rows[0]["model"] = "real test images (reference; FID/KID: vs another N real)"
    rows[0]["weights"] = "-"
    folder = _model_folder(args.model)
    imgs, secs = generate(main_pipe)
    bundled = args.model == "bachgan-toyscapes"  # TRAINING records how the bundled weights were made
    steps = TRAINING["steps_label"] if bundled else model_card_steps(folder)
    rows.append(evaluate(f"{args.model}" + (" (bundled)" if bundled else ""), imgs, "yes (K=3)", steps, secs))
    rows[-1]["weights"] = TRAINING["weights"] if bundled else "?"
    for spec in args.checkpoint:
        steps, path = spec.split("=", 1)
        steps, _, kind = steps.partition(":")
        prefix, weights = ("G_ema.", "EMA G") if kind == "ema" else ("G.", "raw G")
        G = load_generator(folder, Path(path), prefix).fold_spectral_norm()
        imgs, secs = generate(BachGANPipeline(G, main_pipe.index))
        rows.append(evaluate(f"{args.model} run at {steps} steps, {weights}", imgs, "yes (K=3)", steps, secs))
        rows[-1].update(weights=weights, source=path)
    ablations = [str(ROOT / "runs/bachgan-toyscapes-noretrieval/model")] if args.ablation is None else args.ablation
    for spec in [a for a in ablations if a]:
        steps, _, path = spec.rpartition("=")  # "STEPS=PATH" names the steps; a bare PATH: from its model card
        abl = load_bachgan(path)
        imgs, secs = generate(abl)
        steps = steps or model_card_steps(Path(path))
        rows.append(evaluate(f"no-retrieval ablation at {steps} steps", imgs, "no (box layout only)", steps, secs))
        rows[-1].update(weights="raw G", source=path)
    ref = rows[0]
    for r in rows:
        r["box_pixel_acc_ratio"] = r["box_pixel_acc"] / ref["box_pixel_acc"]
        r["box_found_ratio"] = r["box_found"] / ref["box_found"]

    provenance = {
        "command": "python benchmarks/eval_bachgan.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "backbone": prov.get("backend"), "backbone_weights_sha256": prov.get("weights_sha256"),
        "fid_layer": backbone.fid_layer, "comparable_to_paper": False,
        "data": f"Toyscapes split 'test', seed 0, {size}x{size}, first {args.n} layouts (FID/KID reference: the next "
                f"{args.n} real test images for the real-vs-real row, the first {args.n} for the models)",
        "generation": "layout_to_image(boxes, seed=0): best 3 retrieved layouts from the bundled 2000-map memory",
        "kid": f"100 random subsets of {max(2, args.n // 2)} (half of N, so the std means something), seed 0, cubic kernel",
        "torch": torch.__version__, "python": platform.python_version(), "threads": args.threads,
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
    }
    lines = [
        "# BachGAN on Toyscapes: objects in their boxes, plausible backgrounds (offline backbone)",
        "",
        f"{args.n} held-out Toyscapes layouts ({size}x{size}, split 'test'), one image each (seed 0). Offline Toyscapes "
        f"backbone sha256 `{(prov.get('weights_sha256') or 'none')[:16]}…`: **not comparable to the paper's numbers**.",
        "",
        TABLE_HEADER,
        TABLE_RULE,
        *[table_row(r) for r in rows],
    ]
    pairs = equal_step_rows(rows)
    if pairs:
        lines += ["", "**At equal training steps** (with vs without retrieval; the same layouts, N and seed):", "",
                  TABLE_HEADER, TABLE_RULE, *[table_row(r) for r in pairs], "", ablation_verdict(pairs)]
    lines += [
        "",
        "- box pixel acc: share of a box's pixels that the backbone labels with the box's class, mean over "
        f"{rows[0]['n_boxes']} boxes; boxes found: the box's class is the most frequent object class predicted in it.",
        "- ratio to real: the same figure on the real test images is 1.00 (target for the bundled model: >= 0.70).",
        "- FID / KID: backbone `pool` features (128-d); the real row compares two disjoint sets of real test images "
        "(the floor at this N).",
        "- steps: optimiser steps of batch 8; weights: the raw generator or its EMA (decay 0.999). The ablation was "
        "trained with `ema_decay=none`, so its equal-step partner is the main run's raw G at the same step.",
        "",
        "Provenance: " + "; ".join(f"{k}: {v}" for k, v in provenance.items()),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "provenance": provenance}, indent=1), encoding="utf-8")
    print(f"wrote {out.with_suffix('.md')} and .json")
    if args.card:
        write_card(folder, rows, provenance, args.n)
    return 0


def write_card(folder: Path, rows: list[dict], provenance: dict, n: int) -> None:
    from synthkit.hub import write_model_card

    main_row = rows[1]
    where = (f"offline Toyscapes backbone sha256 {str(provenance['backbone_weights_sha256'])[:12]}…, {n} held-out "
             "Toyscapes test layouts (64x64, seed 0), not comparable to the paper")
    metrics = {
        "box pixel accuracy (ratio to real images)": {
            "value": f"{main_row['box_pixel_acc']:.3f} ({main_row['box_pixel_acc_ratio']:.2f})",
            "provenance": where + "; share of box pixels segmented as the box class; real images: "
                          f"{rows[0]['box_pixel_acc']:.3f}"},
        "boxes found (ratio to real images)": {
            "value": f"{main_row['box_found']:.3f} ({main_row['box_found_ratio']:.2f})",
            "provenance": where + f"; box class = most frequent object class in the box; real: {rows[0]['box_found']:.3f}"},
        "FID (backbone pool features)": {"value": f"{main_row['fid']:.2f}", "provenance": where + " (real vs real: "
                                         f"{rows[0]['fid']:.2f})"},
        "KID x1e3": {"value": f"{1e3 * main_row['kid']:.2f} ± {1e3 * main_row['kid_std']:.2f}",
                     "provenance": where + f"; {provenance['kid']}"},
    }
    notes = CARD_NOTES
    notes += (f"Target (objects where the boxes are, >= 0.70 of the real images' figure): boxes found "
              f"{main_row['box_found_ratio']:.2f} {'meets' if main_row['box_found_ratio'] >= 0.7 else 'misses'} it; "
              f"box pixel accuracy {main_row['box_pixel_acc_ratio']:.2f} "
              f"{'meets' if main_row['box_pixel_acc_ratio'] >= 0.7 else 'misses'} it.\n")
    earlier = [r for r in rows[2:] if r["retrieval"].startswith("yes") and r.get("weights") == main_row.get("weights")
               and r["steps"] != main_row["steps"]]
    if earlier:
        e = min(earlier, key=lambda r: int(r["steps"]) if str(r["steps"]).isdigit() else 0)
        notes += (f"\n**What longer training did.** From step {e['steps']} to {main_row['steps']}: box pixel accuracy "
                  f"ratio {e['box_pixel_acc_ratio']:.2f} -> {main_row['box_pixel_acc_ratio']:.2f}, boxes found "
                  f"{e['box_found_ratio']:.2f} -> {main_row['box_found_ratio']:.2f}, background FID {e['fid']:.1f} -> "
                  f"{main_row['fid']:.1f} (the table below has every stage).\n")
    others = [r for r in rows[2:] if r["retrieval"].startswith("yes")]
    if others:
        notes += ("\nThe main run's other generators on the same layouts (the bundled weights are the better one on "
                  "box pixel accuracy):\n\n" + "\n".join([TABLE_HEADER, TABLE_RULE, table_row(main_row),
                                                           *[table_row(r) for r in others]]) + "\n")
    pairs = equal_step_rows(rows)
    if pairs:
        notes += ("\n**Ablation at equal steps** (the paper's with / without retrieval; same layouts, N and seed; the "
                  "ablation has no EMA, so both sides are raw G):\n\n"
                  + "\n".join([TABLE_HEADER, TABLE_RULE, *[table_row(r) for r in pairs]]) + "\n\n"
                  + ablation_verdict(pairs) + "\n")
    notes += "\nTraining stages of the bundled model (each resume continues exactly: weights, optimiser moments, RNG "
    notes += "and data order):\n\n" + "".join(f"- `{c}`: {what}\n" for c, what in TRAINING["commands"])
    notes += "\nNo-retrieval ablation (the same recipe with `use_retrieval=false`, no EMA):\n\n"
    notes += "".join(f"- `{c}`: {what}\n" for c, what in TRAINING["ablation_commands"])
    write_model_card(
        folder,
        model_name="bachgan-toyscapes",
        description="BachGAN (Li et al., CVPR 2020, \"BachGAN: High-Resolution Image Synthesis from Salient Object "
                    "Layout\") layout-to-image generator with background retrieval, trained "
                    "on synthkit's procedural Toyscapes scenes at 64x64 (12 classes; boxes for tree, building, car).",
        paper="bachgan",
        paper_url="https://arxiv.org/abs/2003.11690",
        synthkit_class="synthkit.models.bachgan:BachGANGenerator",
        tags=["bachgan", "layout-to-image", "toyscapes"],
        training_command=" && ".join(c for c, _ in TRAINING["commands"]),
        steps=TRAINING["steps"],
        wall_time=TRAINING["wall_time"],
        hardware=TRAINING["hardware"],
        metrics=metrics,
        notes=notes,
    )
    print(f"wrote {folder / 'README.md'}")


if __name__ == "__main__":
    sys.exit(main())
