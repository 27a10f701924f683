"""GroupDNet's two eval forwards side by side: the plain reference (models/groupdnet.py) and the opt-in folded path
(models/groupdnet_fast.py), same weights, same inputs, interleaved call by call in one process.

    python benchmarks/bench_groupdnet_paths.py [--model smis-toyscapes] [--calls 100] [--threads 2]

Rows: a one-off forward (new label map every call) and a morph tick (cached label-map branch) for each path, and
max |plain - fast| over all calls. Writes benchmarks/results/groupdnet_paths.{md,json}. What the opt-in buys, and
why the style-morphing app takes it (the slider's tick is what its user waits for).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _timing import stats, write_results  # benchmarks/_timing.py

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smis-toyscapes")
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)

    import synthkit
    from synthkit.data.toyscapes import render
    from synthkit.models.groupdnet_fast import FastGroupDNet

    model = synthkit.load(args.model).eval()
    fast = FastGroupDNet(model)
    cfg = model.config
    size = cfg.image_size[0]

    def seg_of(i: int) -> torch.Tensor:
        label = torch.from_numpy(render(seed=11, index=i, size=size).label).long()[None]
        return F.one_hot(label, cfg.num_classes).permute(0, 3, 1, 2).float()

    segs = [seg_of(i) for i in range(8)]
    caches = {"plain": model.precompute_norm_params(segs[0]), "fast": fast.precompute_norm_params(segs[0])}
    gens = {"plain": model, "fast": fast}
    times: dict[str, list[float]] = {f"{k} {m}": [] for k in gens for m in ("one-off", "tick")}
    worst = 0.0
    for i in range(args.calls + 3):
        z = model.sample_latent(1, generator=torch.Generator().manual_seed(i))
        seg = segs[i % len(segs)]
        order = ("plain", "fast") if i % 2 == 0 else ("fast", "plain")
        outs = {}
        for name in order:
            for measure, call in (("one-off", lambda g=gens[name]: g.generate(z, seg)),
                                  ("tick", lambda g=gens[name], c=caches[name]: g.generate(z, norm_cache=c))):
                t0 = time.perf_counter()
                out = call()
                dt = 1e3 * (time.perf_counter() - t0)
                if i >= 3:  # warm-up calls are not timed
                    times[f"{name} {measure}"].append(dt)
                outs[(name, measure)] = out
        worst = max(worst, (outs[("plain", "one-off")] - outs[("fast", "one-off")]).abs().max().item(),
                    (outs[("plain", "tick")] - outs[("fast", "tick")]).abs().max().item())

    rows = {k: stats(v) for k, v in times.items()}
    ratio = {m: rows[f"plain {m}"]["p50_ms"] / rows[f"fast {m}"]["p50_ms"] for m in ("one-off", "tick")}
    lines = [
        f"# GroupDNet eval forwards: plain reference vs opt-in folded path ({args.model}, {size}x{size}, batch 1)",
        "",
        f"`python benchmarks/bench_groupdnet_paths.py --model {args.model} --calls {args.calls}"
        f"{f' --threads {args.threads}' if args.threads else ''}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}, load average {os.getloadavg()[0]:.1f}. "
        "Calls interleaved (the order alternates), same z and label map for both paths.",
        "",
        "| path | measure | calls | p50 ms | p95 ms | max ms | mean ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, r in rows.items():
        path, measure = key.split(" ", 1)
        lines.append(f"| {path} | {measure} | {r['calls']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                     f"{r['max_ms']:.1f} | {r['mean_ms']:.1f} |")
    lines += ["", f"Speed-up of the folded path (ratio of p50): one-off **{ratio['one-off']:.2f}x**, morph tick "
              f"**{ratio['tick']:.2f}x**; max |plain - fast| over all calls {worst:.1e} (float32 rounding; the parity tolerance against the official code is 1e-4).", ""]
    write_results(args.out, "groupdnet_paths", "\n".join(lines),
                  {"model": args.model, "rows": rows, "speedup_p50": ratio, "max_abs_diff": worst,
                   "threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")})


if __name__ == "__main__":
    main()
