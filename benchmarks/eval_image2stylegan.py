"""Quality of the Toyscapes StyleGAN2 and of Image2StyleGAN++ embeddings on it (held-out Toyscapes, offline backbone).

    python benchmarks/eval_image2stylegan.py [--model stylegan2-toyscapes64 | --run runs/sg2-toyscapes64]
                                             [--n-fid 1000] [--n-embed 8] [--steps-w 300] [--steps-noise 200]

Rows:
1. the generator: FID / KID on the offline Toyscapes backbone, N generated vs N held-out test images;
2. reconstruction PSNR of held-out images: W+ only, W+ then noise (sequential, the paper), W+ and noise jointly,
   and a single w (Image2StyleGAN's W baseline); the paper's abstract: ~20 dB -> ~45 dB at 1024x1024 (StyleGAN v1);
3. ground-truth inversion: images generated from known W+ and noise, embedded back: PSNR and the error of each
   W+ row (mean |w_hat - w| / mean |w - w_mean|), which no experiment on real photos can report;
4. inpainting of a centred square hole: PSNR and the offline LPIPS-like distance inside the hole, against filling
   the hole with the known pixels' mean colour and against a W-only embedding.

Numbers come from the offline backbone and a toy dataset: they compare methods inside synthkit, never with the
paper. Writes benchmarks/results/image2stylegan.{md,json} with the provenance.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def load_generator(args):
    import synthkit
    from synthkit.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
    from synthkit.train_state import load_run_generator

    if args.run:
        G = StyleGAN2Generator(StyleGAN2Config.from_preset(args.preset))
        step, _ = load_run_generator(args.run, G, prefix="G_ema")
        return G.eval(), f"{args.run} (G_ema at step {step})"
    return synthkit.load(args.model).eval(), args.model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="stylegan2-toyscapes64")
    p.add_argument("--run", default=None, help="a training run folder: evaluate its checkpoint's G_ema instead")
    p.add_argument("--preset", default="toyscapes64")
    p.add_argument("--n-fid", type=int, default=1000)
    p.add_argument("--n-embed", type=int, default=8)
    p.add_argument("--steps-w", type=int, default=300)
    p.add_argument("--steps-noise", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--stem", default="image2stylegan")
    p.add_argument("--card", default=None, help="also write this model folder's README.md (needs --run, --command)")
    p.add_argument("--command", default=None, help="the exact training command, for the card")
    args = p.parse_args()
    torch.manual_seed(args.seed)

    from synthkit.backbones import load_backbone
    from synthkit.data.toyscapes import ToyscapesDataset
    from synthkit.metrics import fid, kid
    from synthkit.metrics.reconstruction import psnr
    from synthkit.pipelines.image2stylegan import Image2StyleGANPipeline

    t_start = time.time()
    G, source = load_generator(args)
    S = G.config.image_size
    backbone = load_backbone("toyscapes")
    pipe = Image2StyleGANPipeline(G, backbone)
    test = ToyscapesDataset(size=S, length=max(args.n_fid, args.n_embed), split="test", seed=args.seed)
    lines = [f"# Image2StyleGAN++ on the Toyscapes StyleGAN2 ({source}, {S}x{S})", ""]
    payload: dict = {"model": source, "args": vars(args)}

    # 1. the generator
    real = torch.stack([test[i]["image"] for i in range(args.n_fid)])
    with torch.no_grad():
        fake = torch.cat([G(torch.randn(50, G.config.style_dim, generator=torch.Generator().manual_seed(1000 + b)),
                            noise="random").clamp(-1, 1) for b in range(0, args.n_fid, 50)])[:args.n_fid]
    f, k = fid(real, fake, backbone), kid(real, fake, backbone)
    payload["fid"], payload["kid"] = f.value, k.value
    payload["fid_provenance"] = {"backend": f.backend, "weights_sha256": f.weights_sha256, "n": f.n}
    lines += ["## The generator", "", f"FID {f.value:.1f}, KID x1e3 {1e3 * k.value:.1f} ({args.n_fid} generated vs "
              f"{args.n_fid} held-out test images; backend {f.backend}, weights sha256 {str(f.weights_sha256)[:12]}; "
              "not comparable with any paper).", ""]

    # 2. reconstruction of held-out images
    steps = {"steps_w": args.steps_w, "steps_noise": args.steps_noise}
    variants = {
        "W+ only": dict(steps_w=args.steps_w, steps_noise=0),
        "W+ then noise (sequential, the paper)": dict(steps),
        "W+ and noise jointly": dict(steps, schedule="joint"),
        "single w, then noise": dict(steps, space="w"),
    }
    recon: dict[str, list[float]] = {v: [] for v in variants}
    t_embed = []
    for i in range(args.n_embed):
        x = test[i]["image"][None]
        for name, kw in variants.items():
            t0 = time.time()
            recon[name].append(pipe.embed(x, **kw).psnr)
            if name.startswith("W+ then"):
                t_embed.append(time.time() - t0)
    payload["reconstruction_psnr"] = recon
    payload["embed_seconds"] = t_embed
    lines += ["## Reconstruction of held-out images (PSNR dB, mean over "
              f"{args.n_embed}; {args.steps_w} W+ steps at lr 0.01, {args.steps_noise} noise steps at lr 5)", "",
              "| embedding | mean PSNR | min | max |", "|---|---:|---:|---:|"]
    for name, v in recon.items():
        lines.append(f"| {name} | {statistics.mean(v):.2f} | {min(v):.2f} | {max(v):.2f} |")
    lines += ["", f"One default embedding (W+ then noise) took {statistics.median(t_embed):.1f} s (median) on "
              f"{torch.get_num_threads()} threads.", ""]

    # 3. ground-truth inversion
    g = torch.Generator().manual_seed(args.seed + 7)
    w_mean = pipe.mean_w()
    row_err, gt_psnr = [], []
    for i in range(args.n_embed):
        with torch.no_grad():
            w = G.map(torch.randn(1, G.config.style_dim, generator=g))[:, None].repeat(1, G.config.n_latent, 1)
            noise = G.noise_maps("random", 1, generator=g)
            x = G.synthesis(w, noise).clamp(-1, 1)
        res = pipe.embed(x, **steps)
        gt_psnr.append(res.psnr)
        row_err.append(((res.wplus - w).abs().mean(-1) / (w - w_mean).abs().mean(-1))[0].tolist())
    per_row = [statistics.mean(r[j] for r in row_err) for j in range(G.config.n_latent)]
    payload["ground_truth"] = {"psnr": gt_psnr, "row_error": per_row}
    lines += ["## Ground-truth inversion (images generated from known W+ and noise, then embedded)", "",
              f"PSNR mean {statistics.mean(gt_psnr):.2f} dB; relative error of each W+ row (|w_hat - w| / "
              "|w - w_mean|, 0 = recovered, 1 = no better than the mean w):", "",
              "| row | " + " | ".join(str(j) for j in range(len(per_row))) + " |",
              "|---|" + "---:|" * len(per_row),
              "| error | " + " | ".join(f"{e:.2f}" for e in per_row) + " |", ""]

    # 4. inpainting
    hole = torch.zeros(1, 1, S, S)
    hole[..., S // 4: 3 * S // 4, S // 4: 3 * S // 4] = 1
    rows = {"mean-colour fill": [], "W-only embedding": [], "Image2StyleGAN++ (W+ then noise)": []}
    dist = {k: [] for k in rows}
    for i in range(args.n_embed):
        x = test[args.n_embed + i]["image"][None]
        known = 1 - hole
        mean_col = (x * known).sum((2, 3), keepdim=True) / known.sum()
        outs = {"mean-colour fill": x * known + mean_col * hole,
                "W-only embedding": pipe.inpaint(x, hole[0, 0].numpy(), space="w", **steps).tensor,
                "Image2StyleGAN++ (W+ then noise)": pipe.inpaint(x, hole[0, 0].numpy(), **steps).tensor}
        for name, out in outs.items():
            rows[name].append(psnr(out, x, hole))
            with torch.no_grad():
                d = backbone.lpips_like(out.clamp(-1, 1), x, spatial=True)  # [1, 1, H, W]
                d = torch.nn.functional.interpolate(d, size=(S, S), mode="bilinear") if d.shape[-1] != S else d
            dist[name].append(float((d * hole).sum() / hole.sum()))
    payload["inpainting"] = {"psnr_in_hole": rows, "lpips_like_in_hole": dist}
    lines += [f"## Inpainting a centred {S // 2}x{S // 2} hole ({args.n_embed} held-out images)", "",
              "| method | PSNR in the hole (dB) | offline LPIPS-like in the hole (lower is better) |", "|---|---:|---:|"]
    for name in rows:
        lines.append(f"| {name} | {statistics.mean(rows[name]):.2f} | {statistics.mean(dist[name]):.3f} |")
    lines += ["", f"`python benchmarks/eval_image2stylegan.py {' '.join(f'--{k.replace(chr(95), chr(45))} {v}' for k, v in vars(args).items() if v is not None and k not in ('out', 'stem'))}`, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} CPUs, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads; {time.time() - t_start:.0f} s in all. "
              "Offline backbone numbers: for comparing methods inside synthkit only.", ""]
    from _timing import write_results  # benchmarks/_timing.py

    write_results(args.out, args.stem, "\n".join(lines), payload)
    if args.card:
        write_card(args, payload, G)


def write_card(args, r: dict, G) -> None:
    from synthkit.hub import write_model_card

    state = json.loads((Path(args.run) / "checkpoint" / "state.json").read_text())
    prov = (f"offline Toyscapes backbone {str(r['fid_provenance']['weights_sha256'])[:12]}, {args.n_fid} generated vs "
            f"{args.n_fid} held-out test images; not comparable to any paper")
    emb = f"{args.n_embed} held-out images, {args.steps_w} W+ + {args.steps_noise} noise steps"
    rec = r["reconstruction_psnr"]
    inp = r["inpainting"]
    metrics = {
        "FID (offline backbone)": {"value": round(r["fid"], 1), "provenance": prov},
        "KID x1e3 (offline backbone)": {"value": round(1e3 * r["kid"], 1), "provenance": prov},
        **{f"reconstruction PSNR dB, {k}": {"value": round(statistics.mean(v), 2), "provenance": emb}
           for k, v in rec.items()},
        "ground-truth inversion PSNR dB": {"value": round(statistics.mean(r["ground_truth"]["psnr"]), 2),
                                           "provenance": emb + ", images generated from known W+ and noise"},
        **{f"inpainting PSNR dB in the hole, {k}": {"value": round(statistics.mean(v), 2),
                                                     "provenance": emb + ", centred half-size hole"}
           for k, v in inp["psnr_in_hole"].items()},
    }
    cfg = G.config
    write_model_card(
        args.card, model_name="stylegan2-toyscapes64",
        description=f"StyleGAN2 (Karras et al. 2020) trained on Toyscapes {cfg.image_size}x{cfg.image_size} "
                    f"(style_dim {cfg.style_dim}, {cfg.n_mlp} mapping layers, widths {list(cfg.channels)}): the "
                    "generator the Image2StyleGAN++ embeddings run on. Exported weights are the generator EMA. Use it "
                    "with `synthkit.pipelines.image2stylegan.load_image2stylegan()`.",
        paper="image2stylegan", paper_url="https://arxiv.org/abs/1911.11544", synthkit_class="StyleGAN2Generator",
        datasets=["toyscapes"], training_command=args.command, steps=int(state["step"]),
        wall_time=f"{state['wall_time'] / 60:.1f} min", hardware="2 shared CPU cores (1 thread)",
        metrics=metrics,
        notes="Figures from `python benchmarks/eval_image2stylegan.py` (benchmarks/results/image2stylegan.md). "
              "A teaching model: small and short-trained, its samples are blurry Toyscapes-like scenes.")


if __name__ == "__main__":
    main()
