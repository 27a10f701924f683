"""Time synthkit's GroupDNet generator: one-off forward, and a morph tick with the label-map cache.

Two sizes: a DeepFashion-style model at 128x128 with ngf 32, and the DeepFashion paper size (256x256, ngf 160).
With ``--dump`` (written by ``/work/shared/tools/official-smis-time SMIS_CHECKOUT --dump case.safetensors``) the
paper-size row uses the official weights and input of that dump: the converter loads them, the output is compared
with the official one (max abs diff), and ``--official-seconds`` (the median that tool printed, same machine, same
thread count) gives the speed-up.

    python benchmarks/bench_smis.py [--dump /tmp/df.safetensors --official-seconds 8.6] [--runs 3] [--threads 2]
    python benchmarks/bench_smis.py --dump /tmp/df.safetensors --official-log before.log --official-log after.log

Prints a table and writes benchmarks/results/smis.md and smis.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from synthkit.convert.common import load_parity_case
from synthkit.convert.smis import load_official_model
from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig, latent_from_official

RESULTS = Path(__file__).resolve().parent / "results"


def _median_time(fn, runs: int) -> tuple[float, float, float]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times)


def bench_model(name: str, model: GroupDNet, seg: torch.Tensor, z: torch.Tensor, runs: int) -> dict:
    model.eval()
    with torch.inference_mode():
        forward = _median_time(lambda: model.generate(z, seg), runs)
        precompute = _median_time(lambda: model.precompute_norm_params(seg), runs)
        cache = model.precompute_norm_params(seg)
        z2 = z.clone()
        z2[:, 0] = torch.randn_like(z2[:, 0])  # a morph tick: one class's code changes, the label map does not
        tick = _median_time(lambda: model.generate(z2, norm_cache=cache), runs)
        cache_diff = (model.generate(z2, norm_cache=cache) - model.generate(z2, seg)).abs().max().item()
    params = sum(p.numel() for p in model.G.parameters())
    return {
        "name": name,
        "image_size": list(model.config.image_size),
        "G_params_M": round(params / 1e6, 2),
        "forward_s": forward,
        "precompute_s": precompute,
        "morph_tick_s": tick,
        "cache_vs_uncached_max_abs_diff": cache_diff,
    }


def _official_median(path: str) -> float:
    """The median from the last line of official-smis-time: 'official smis 256 ngf N: median S s (min, max)'."""
    for line in reversed(Path(path).read_text().splitlines()):
        if "median" in line:
            return float(line.split("median")[1].split()[0])
    raise ValueError(f"{path}: no 'median' line; is it the output of official-smis-time?")


def _df_seg(size: int, seed: int = 0) -> torch.Tensor:
    label = torch.randint(0, 8, (1, size // 16, size // 16), generator=torch.Generator().manual_seed(seed))
    label = label.repeat_interleave(16, 1).repeat_interleave(16, 2)
    return F.one_hot(label, 8).permute(0, 3, 1, 2).float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump", default=None, help="official-smis-time --dump file (DeepFashion, paper size)")
    ap.add_argument("--official-seconds", type=float, default=None, help="median the official tool printed")
    ap.add_argument(
        "--official-log", action="append", default=[],
        help="a saved output of official-smis-time (repeat to bracket this run; the mean of their medians is used)",
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip-paper-size", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.official_log:
        medians = [_official_median(p) for p in args.official_log]
        args.official_seconds = statistics.mean(medians)
        print(f"official medians from logs: {medians} -> {args.official_seconds:.2f} s")
    torch.manual_seed(0)
    rows = []

    small = GroupDNetConfig(
        8, (128, 128), (512, 512, 512, 256, 128, 64), (8, 8, 4, 4, 2, 2), "deepfashion", spectral_norm=False
    )
    model = GroupDNet(small, with_encoder=False)
    rows.append(bench_model("deepfashion-style 128x128, ngf 32", model, _df_seg(128), model.sample_latent(1), args.runs))

    parity = None
    if not args.skip_paper_size:
        if args.dump:
            case = load_parity_case(Path(args.dump).stem, Path(args.dump).parent)
            model, _ = load_official_model(case.state, None, "deepfashion")
            seg = F.one_hot(case.inputs["label"][:, 0].long(), 8).permute(0, 3, 1, 2).float()
            z = latent_from_official(case.inputs["z"], 8)
            with torch.inference_mode():
                parity = (model.generate(z, seg) - case.outputs["image"]).abs().max().item()
            name = "DeepFashion paper size (official weights from dump)"
        else:
            model = GroupDNet(GroupDNetConfig.from_preset("deepfashion", spectral_norm=False), with_encoder=False)
            seg, z = _df_seg(256), model.sample_latent(1)
            name = "DeepFashion paper size (random weights)"
        row = bench_model(name, model, seg, z, args.runs)
        if parity is not None:
            row["parity_vs_official_max_abs_diff"] = parity
        if args.official_seconds:
            row["official_forward_s"] = args.official_seconds
            row["speedup_forward"] = round(args.official_seconds / row["forward_s"][0], 2)
            row["speedup_morph_tick"] = round(args.official_seconds / row["morph_tick_s"][0], 2)
        rows.append(row)

    env = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "runs": args.runs,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    lines = [
        "# SMIS / GroupDNet generator timings (CPU, batch 1, median of runs)",
        "",
        f"torch {env['torch']}, {env['threads']} threads, {env['runs']} runs, {env['date_utc']} UTC",
        "",
        "| model | G params | forward s | label-map precompute s | morph tick s (cached) | cache diff | "
        "official forward s | speed-up (forward / tick) | parity vs official |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        official = f"{r['official_forward_s']:.2f}" if "official_forward_s" in r else "-"
        speed = f"{r['speedup_forward']}x / {r['speedup_morph_tick']}x" if "speedup_forward" in r else "-"
        par = f"{r['parity_vs_official_max_abs_diff']:.1e}" if "parity_vs_official_max_abs_diff" in r else "-"
        lines.append(
            f"| {r['name']} | {r['G_params_M']}M | {r['forward_s'][0]:.3f} | {r['precompute_s'][0]:.3f} | "
            f"{r['morph_tick_s'][0]:.3f} | {r['cache_vs_uncached_max_abs_diff']:.1e} | {official} | {speed} | {par} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "smis.md").write_text(text)
    (RESULTS / "smis.json").write_text(json.dumps({"env": env, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
