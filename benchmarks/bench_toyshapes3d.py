"""Toyshapes3D generation speed: images/s at 64 and 128 px (ray casting in numpy, float32).

Three ways of drawing samples, as in bench_toyscapes.py:
  render        `render(seed, i, size)` in one process (numpy arrays: image, instances, depth),
  dataset       `Toyshapes3DDataset[i]` in one process (adds tensors and the padded ground truth),
  loader x2     `DataLoader(Toyshapes3DDataset, num_workers=2, batch_size=32)`: what the training loop sees.

Target: >= 200 images/s at 64 px through the loader on 2 CPU cores (the 3D model trains at 64 px and consumes
about 16 images per 2 s step on CPU, so data is never the bottleneck either way).

    python benchmarks/bench_toyshapes3d.py            # writes benchmarks/results/toyshapes3d.{md,json}
    python benchmarks/bench_toyshapes3d.py --quick    # fewer samples
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench_toyscapes import _loader_rate, _machine, _rate  # benchmarks/bench_toyscapes.py
from synthkit.data.toyshapes3d import Toyshapes3DDataset, render

SIZES = (64, 128)
TARGET_64 = 200.0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer samples (noisier numbers)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"), help="folder for toyshapes3d.md/.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    counts = {64: 600, 128: 200} if not args.quick else {64: 200, 128: 60}
    rows = []
    for size in SIZES:
        n = counts[size]
        ds = Toyshapes3DDataset(size=size, length=n + 1, split="train", seed=0)
        r, r_cpu = _rate(lambda i: render(0, i, size), n)
        d, d_cpu = _rate(lambda i: ds[i], n)
        lo, lo_cpu = _loader_rate(size, 2 * n, dataset_cls=Toyshapes3DDataset)
        rows.append({"size": size, "render": r, "render_cpu": r_cpu, "dataset": d, "dataset_cpu": d_cpu,
                     "loader_2_workers": lo, "loader_cpu": lo_cpu})
        print(f"size {size}: render {r:.0f}/s ({r_cpu:.0f}/s CPU), dataset {d:.0f}/s ({d_cpu:.0f}/s CPU), "
              f"loader x2 {lo:.0f}/s ({lo_cpu:.0f} per CPU-second)", flush=True)
    info = _machine()
    r64 = next(r for r in rows if r["size"] == 64)
    ok = r64["loader_2_workers"] >= TARGET_64
    lines = [
        "# Toyshapes3D generation speed (images/s)", "",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPUs visible, load average at start {info['loadavg_at_start']}; "
        f"python {info['python']}, numpy {info['numpy']}, torch {info['torch']}.", "",
        "| size | render, wall (per CPU-s) | Dataset item, wall (per CPU-s) | DataLoader 2 workers, wall (per CPU-s) |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['size']} | {r['render']:.0f} ({r['render_cpu']:.0f}) | {r['dataset']:.0f} ({r['dataset_cpu']:.0f}) "
              f"| {r['loader_2_workers']:.0f} ({r['loader_cpu']:.0f}) |" for r in rows]
    lines += ["", f"Target: >= {TARGET_64:.0f} images/s at 64 px with 2 workers: {'met' if ok else 'NOT met'} on the "
              f"wall clock; {r64['loader_cpu']:.0f} images per CPU-second through the DataLoader, i.e. about "
              f"{2 * r64['loader_cpu']:.0f}/s on 2 otherwise idle cores.",
              "Wall-clock numbers are lower bounds when the machine is shared (see the load average). 'per CPU-s' = "
              "images per second of CPU time (DataLoader: main process + workers), which is what free cores give.",
              "", f"`python benchmarks/bench_toyshapes3d.py{' --quick' if args.quick else ''}`, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."]
    md = "\n".join(lines) + "\n"
    print()
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "toyshapes3d.md").write_text(md)
    result = {"rows": rows, "machine": info, "target_64_loader": TARGET_64, "target_met": ok, "quick": args.quick,
              "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "toyshapes3d.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
