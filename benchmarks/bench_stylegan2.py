"""StyleGAN2 speed, side by side with rosinality/stylegan2-pytorch's own pure-PyTorch path, in one process.

    git --git-dir=<mirror of github.com/rosinality/stylegan2-pytorch> archive HEAD model.py op | tar -x -C /tmp/rosinality
    python benchmarks/bench_stylegan2.py --official /tmp/rosinality [--sizes 64,256] [--rounds 5]

The official ``model.py`` is imported from the checkout at run time (never copied here). Its ``op`` package compiles
CUDA kernels when imported; on CPU it never calls them (``upfirdn2d_native`` and the plain leaky ReLU run instead),
so the compile step is replaced by a stub before the import. The official generator is built with random weights,
its state_dict converted by ``synthkit convert stylegan2``'s code, and both run the same work, interleaved, each
round with new inputs:

1. **embedding step** (batch 1): synthesis from W+ and explicit noise, MSE to a target, backward to W+ and noise;
2. **training step** (batch 4): z -> image with fixed noise, backward to every weight (the G half of a GAN step).

Every output is compared (max |synthkit - official|). Writes benchmarks/results/stylegan2.{md,json}.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def official_generator_class(checkout: Path):
    import torch.utils.cpp_extension as ext

    real_load = ext.load
    ext.load = lambda *a, **k: types.SimpleNamespace()  # the CUDA ops are compiled at import; CPU never uses them
    sys.path.insert(0, str(checkout))
    try:
        from model import Generator  # noqa: E402  (rosinality's model.py, from the checkout)
    finally:
        ext.load = real_load
    return Generator


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_size(Generator, size: int, rounds: int, seed: int) -> dict:
    from synthkit.convert.stylegan2 import load_rosinality_generator

    torch.manual_seed(seed)
    style_dim, n_mlp, cm = (512, 8, 2) if size >= 256 else (256, 8, 1)
    official = Generator(size, style_dim, n_mlp, channel_multiplier=cm).eval()
    ours, _ = load_rosinality_generator(official.state_dict())
    n_latent = ours.config.n_latent
    sizes = ours.noise_sizes()
    times = {"official embed": [], "synthkit embed": [], "official train": [], "synthkit train": []}
    worst_img = worst_grad = 0.0
    for r in range(rounds + 1):  # round 0 warms up
        g = torch.Generator().manual_seed(seed + 100 + r)
        wplus = torch.randn(1, n_latent, style_dim, generator=g)
        noise = [torch.randn(1, 1, s, s, generator=g) for s in sizes]
        target = torch.rand(1, 3, size, size, generator=g) * 2 - 1
        z = torch.randn(4, style_dim, generator=g)
        fixed = [torch.randn(1, 1, s, s, generator=g).expand(4, -1, -1, -1) for s in sizes]

        def embed_official():
            w, n = wplus.clone().requires_grad_(True), [t.clone().requires_grad_(True) for t in noise]
            img = official([w], input_is_latent=True, noise=n, randomize_noise=False)[0]
            (img - target).pow(2).mean().backward()
            return img.detach(), w.grad

        def embed_ours():
            w, n = wplus.clone().requires_grad_(True), [t.clone().requires_grad_(True) for t in noise]
            img = ours.synthesis(w, n)
            (img - target).pow(2).mean().backward()
            return img.detach(), w.grad

        def train_official():
            official.zero_grad(set_to_none=True)
            img = official([z], noise=fixed, randomize_noise=False)[0]
            img.square().mean().backward()
            return img.detach(), official.style[1].weight.grad

        def train_ours():
            ours.zero_grad(set_to_none=True)
            img = ours(z, noise=fixed)
            img.square().mean().backward()
            return img.detach(), ours.mapping[0].weight.grad

        for p in (*official.parameters(), *ours.parameters()):
            p.requires_grad_(False)
        pairs = [("embed", embed_official, embed_ours)]
        outs = {}
        order = [0, 1] if r % 2 == 0 else [1, 0]
        for name, fo, fs in pairs:
            for i in order:
                dt, outs[(name, i)] = timed((fo, fs)[i])
                if r:
                    times[f"{('official', 'synthkit')[i]} {name}"].append(dt)
        for p in (*official.parameters(), *ours.parameters()):
            p.requires_grad_(True)
        for i in order:
            dt, outs[("train", i)] = timed((train_official, train_ours)[i])
            if r:
                times[f"{('official', 'synthkit')[i]} train"].append(dt)
        for name in ("embed", "train"):
            (img_o, g_o), (img_s, g_s) = outs[(name, 0)], outs[(name, 1)]
            worst_img = max(worst_img, (img_o - img_s).abs().max().item())
            worst_grad = max(worst_grad, (g_o - g_s).abs().max().item() / (g_o.abs().max().item() + 1e-12))
        print(f"{size}px round {r}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items() if v), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"size": size, "style_dim": style_dim, "channel_multiplier": cm, "rounds": rounds,
            "median_s": med, "all_s": times, "max_abs_diff_image": worst_img, "max_rel_diff_grad": worst_grad,
            "speedup": {m: med[f"official {m}"] / med[f"synthkit {m}"] for m in ("embed", "train")}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official", required=True, help="a checkout of rosinality/stylegan2-pytorch (model.py, op/)")
    p.add_argument("--sizes", default="64,256")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args()
    Generator = official_generator_class(Path(args.official))
    rows = [bench_size(Generator, int(s), args.rounds, args.seed) for s in args.sizes.split(",")]
    lines = [
        "# StyleGAN2 on CPU: synthkit vs rosinality's pure-PyTorch path, same weights, same inputs, interleaved",
        "",
        f"`python benchmarks/bench_stylegan2.py --official <checkout> --sizes {args.sizes} --rounds {args.rounds}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}. rosinality "
        "bef283a `Generator(size, style_dim, 8, channel_multiplier)`; embedding step = W+ and noise -> image -> MSE "
        "-> backward (batch 1); training step = z -> image (fixed noise) -> backward to the weights (batch 4).",
        "",
        "| size | style_dim, ch. mult. | measure | official median s | synthkit median s | speed-up | target |",
        "|---:|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        for m in ("embed", "train"):
            sp = r["speedup"][m]
            lines.append(f"| {r['size']} | {r['style_dim']}, {r['channel_multiplier']} | {m} step | "
                         f"{r['median_s'][f'official {m}']:.3f} | {r['median_s'][f'synthkit {m}']:.3f} | "
                         f"**{sp:.2f}x** | >= 1.5x: {'met' if sp >= 1.5 else 'NOT met'} |")
    lines += ["", "Parity over all rounds: " + "; ".join(
        f"{r['size']} px images max abs diff {r['max_abs_diff_image']:.1e} (tolerance 1e-4), gradients (W+ of the "
        f"embedding step, first mapping layer of the training step) max abs diff relative to their largest entry "
        f"{r['max_rel_diff_grad']:.1e}" for r in rows), ""]
    from _timing import write_results  # benchmarks/_timing.py

    write_results(args.out, "stylegan2", "\n".join(lines), {"rows": rows})


if __name__ == "__main__":
    main()
