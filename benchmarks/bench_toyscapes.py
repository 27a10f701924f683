"""Toyscapes generation speed: samples/s at 64, 128 and 256 px.

Three ways of drawing samples:
  render        `render(seed, i, size)` in one process (numpy arrays only),
  dataset       `ToyscapesDataset[i]` in one process (adds tensors, one-hot seg, padded boxes),
  loader x2     `DataLoader(ToyscapesDataset, num_workers=2, batch_size=32)`: what a training loop sees.

Target: >= 200 samples/s at 128 px on 2 CPU cores, so that training never waits for data.

    python benchmarks/bench_toyscapes.py              # full run, writes benchmarks/results/toyscapes.{md,json}
    python benchmarks/bench_toyscapes.py --quick      # fewer samples
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from synthkit.data.toyscapes import ToyscapesDataset, render

SIZES = (64, 128, 256)
TARGET_128 = 200.0


def _machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu": cpu, "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_at_start": load, "python": platform.python_version(), "numpy": np.__version__,
        "torch": torch.__version__, "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
    }


def _rate(fn, n: int) -> tuple[float, float]:
    """(wall-clock samples/s, CPU-time samples/s). On a shared machine the CPU-time rate is what one free core gives."""
    fn(0)  # warm-up (lookup tables, imports)
    t, c = time.perf_counter(), time.process_time()
    for i in range(1, n + 1):
        fn(i)
    return n / (time.perf_counter() - t), n / (time.process_time() - c)


def _cpu_seconds() -> float:
    """CPU time of this process plus its finished children (DataLoader workers, once shut down)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _loader_rate(size: int, n: int, workers: int = 2, batch_size: int = 32,
                 dataset_cls: type = ToyscapesDataset) -> tuple[float, float]:
    """(wall samples/s, samples per CPU-second summed over the main process and the workers); ``dataset_cls`` takes
    (size, length, split, seed) like ToyscapesDataset (bench_toyshapes3d.py passes Toyshapes3DDataset)."""
    ds = dataset_cls(size=size, length=n + batch_size, split="train", seed=0)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers, persistent_workers=False)
    c0 = _cpu_seconds()
    it = iter(dl)
    first = next(it)  # worker start-up is not counted in the wall rate
    seen, t = 0, time.perf_counter()
    for batch in it:
        seen += batch["image"].shape[0]
    wall = seen / (time.perf_counter() - t)
    del it, batch  # workers exit; their CPU time shows up in RUSAGE_CHILDREN
    time.sleep(0.5)
    cpu = (seen + first["image"].shape[0]) / max(_cpu_seconds() - c0, 1e-9)
    return wall, cpu


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer samples (noisier numbers)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"), help="folder for toyscapes.md/.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    counts = {64: 400, 128: 300, 256: 100} if not args.quick else {64: 100, 128: 80, 256: 30}

    rows = []
    for size in SIZES:
        n = counts[size]
        ds = ToyscapesDataset(size=size, length=n + 1, split="train", seed=0)
        r, r_cpu = _rate(lambda i: render(0, i, size), n)
        d, d_cpu = _rate(lambda i: ds[i], n)
        lo, lo_cpu = _loader_rate(size, 2 * n)
        rows.append({"size": size, "render": r, "render_cpu": r_cpu, "dataset": d, "dataset_cpu": d_cpu,
                     "loader_2_workers": lo, "loader_cpu": lo_cpu})
        print(f"size {size}: render {r:.0f}/s ({r_cpu:.0f}/s CPU), dataset {d:.0f}/s ({d_cpu:.0f}/s CPU), "
              f"loader x2 {lo:.0f}/s ({lo_cpu:.0f} per CPU-second)", flush=True)

    info = _machine()
    ok = next(r for r in rows if r["size"] == 128)["loader_2_workers"] >= TARGET_128
    lines = [
        "# Toyscapes generation speed (samples/s)", "",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPUs visible, load average at start {info['loadavg_at_start']}; "
        f"python {info['python']}, numpy {info['numpy']}, torch {info['torch']}.", "",
        "| size | render, wall (per CPU-s) | Dataset item, wall (per CPU-s) | DataLoader 2 workers, wall (per CPU-s) |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['size']} | {r['render']:.0f} ({r['render_cpu']:.0f}) | {r['dataset']:.0f} ({r['dataset_cpu']:.0f}) "
              f"| {r['loader_2_workers']:.0f} ({r['loader_cpu']:.0f}) |" for r in rows]
    r128 = next(r for r in rows if r["size"] == 128)
    lines += ["", f"Target: >= {TARGET_128:.0f} samples/s at 128 px with 2 workers: {'met' if ok else 'NOT met'} on the "
              f"wall clock; {r128['loader_cpu']:.0f} samples per CPU-second through the DataLoader, i.e. about "
              f"{2 * r128['loader_cpu']:.0f}/s on 2 otherwise idle cores.",
              "Wall-clock numbers are lower bounds when the machine is shared (see the load average). 'per CPU-s' = "
              "samples per second of CPU time (DataLoader: main process + workers), which is what free cores give."]
    md = "\n".join(lines) + "\n"
    print()
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "toyscapes.md").write_text(md)
    result = {"rows": rows, "machine": info, "target_128_loader": TARGET_128, "target_met": ok,
              "quick": args.quick, "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "toyscapes.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
