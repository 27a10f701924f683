"""Tick latency of the style-morphing app (SMIS / GroupDNet) on CPU: is the slider live?

    python benchmarks/bench_morph_app.py [--ticks 60] [--threads 1,2] [--model smis-toyscapes] [--no-endpoint]
                                         [--model-128 /tmp/smis128/model] [--wait-policies default,PASSIVE]

Target (issue): p50 <= 30 ms and p95 <= 60 ms per slider tick on 2 cores at the bundled resolution (>= 128x128),
generator only. During a morph the label map is fixed, so ``Morpher`` runs every CG-Norm's label-map branch once
(``precompute_norm_params``) and a tick runs only the code path: z(t) -> fc -> res-blocks with cached
(scale, shift) -> image. Rows, over a sweep of t in [0, 1] on held-out Toyscapes maps, one call at a time:

1. ``full forward``: G(z, seg) with no cache (what a tick would cost without it);
2. ``morpher build``: the label-map branches, once per (map, styles, class);
3. ``tick, generator only``: ``Morpher.tensor(t)`` (the target's measure);
4. ``tick, uint8 frame``: ``Morpher(t)`` (+ the conversion the app sends);
5. ``/morph_tick`` end to end: the app's endpoint through ``gradio_client`` on loopback (adds Gradio's round trip
   and the PNG encoding; one session, so the Morpher is reused as in the browser).

Models: the bundled model (``--model``, 64x64 today) and the 128x128 model the bundled one is being fine-tuned into
(``--model-128``: that folder when it exists, else the same architecture with random weights, which costs the same:
preset toyscapes64 with image_size 128x128, block_channels 96,96,96,48,24, cgnorm_hidden 24).

Also checks that the cached tick equals the uncached forward (max |diff| over the sweep). Each OpenMP wait policy in
``--wait-policies`` runs in its own subprocess (the variable is read when torch loads): ``default`` is what a plain
``python``/``synthkit demo`` gets; ``PASSIVE`` makes idle OpenMP threads sleep instead of spinning, which matters
on a 2-core machine shared with other jobs. Writes benchmarks/results/bench_morph_app.{md,json}; the 1-min load
average is recorded per policy; compare numbers only within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _timing import run_worker, stats, timed  # benchmarks/_timing.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
TARGET_P50_MS, TARGET_P95_MS = 30.0, 60.0
MODEL_128 = "/tmp/smis128/model"  # where the 128x128 fine-tune of the bundled model is exported
# its architecture: synthkit train smis --preset toyscapes64 --set image_size=128,128
#                   --set block_channels=96,96,96,48,24 --set cgnorm_hidden=24 --set d_base_channels=16
CONFIG_128 = {"image_size": (128, 128), "block_channels": (96, 96, 96, 48, 24), "cgnorm_hidden": 24,
              "d_base_channels": 16}





def resolve_model(name: str | None) -> tuple[str, str]:
    """(name or folder to load, description). Falls back to a random toyscapes128 GroupDNet in a temp folder."""
    from synthkit.pipelines.smis import DEFAULT_MODEL, load_smis

    name = name or os.environ.get("SYNTHKIT_SMIS_MODEL") or DEFAULT_MODEL
    try:
        load_smis(name, fast=True)
        return name, name
    except Exception as exc:  # noqa: BLE001 - not trained / registered yet
        from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig

        print(f"cannot load {name!r} ({type(exc).__name__}: {exc}); using toyscapes128 with random weights")
        torch.manual_seed(0)
        folder = Path(tempfile.mkdtemp(prefix="bench_morph_")) / "toyscapes128-random"
        GroupDNet(GroupDNetConfig.from_preset("toyscapes128")).eval().save_pretrained(folder)
        return str(folder), "toyscapes128 preset, RANDOM weights (bundled model not available)"


def pipeline_128(folder: str):
    """(SMISPipeline, description) for the 128x128 model: the fine-tuned folder if present, else random weights."""
    from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig
    from synthkit.pipelines.smis import SMISPipeline, load_smis

    if folder and Path(folder).is_dir():
        return load_smis(folder, fast=True), f"{folder} (fine-tuned weights)"
    torch.manual_seed(0)
    model = GroupDNet(GroupDNetConfig.from_preset("toyscapes64", **CONFIG_128)).eval()
    return SMISPipeline(model, fast=True), "toyscapes64 @128 (96,96,96,48,24), random weights"


def measure(pipe, desc: str, threads: list[int], n_maps: int, n_ticks: int):
    """Rows for one pipeline: full forward, morpher build, ticks (generator only / uint8), on held-out maps."""
    from synthkit.data.toyscapes import ToyscapesDataset

    H, W = pipe.image_size
    data = ToyscapesDataset(size=H, length=n_maps, split="test", seed=0)
    labels = [data.sample(i).label for i in range(n_maps)]
    ts = [float(t) for t in np.linspace(0.0, 1.0, max(n_ticks // n_maps, 2))]
    rows: list[dict] = []
    max_diff = 0.0
    for n in threads:
        torch.set_num_threads(n)
        full, build, tick_g, tick_u8 = [], [], [], []
        for i, label in enumerate(labels):
            z_a, z_b = pipe.random_latent(2 * i), pipe.random_latent(2 * i + 1)
            c = int(np.bincount(label.ravel()).argmax())
            seg = pipe.seg_from_label(label)
            build += timed(lambda: pipe.morpher(label, z_a, z_b, cls=c), [()] * 3, warmup=1)
            morpher = pipe.morpher(label, z_a, z_b, cls=c)
            full += timed(lambda t: pipe.generate(morpher.latent(t), seg), [(t,) for t in ts[::4]], warmup=1)
            tick_g += timed(morpher.tensor, [(t,) for t in ts])
            tick_u8 += timed(morpher, [(t,) for t in ts])
            for t in (0.0, 0.37, 1.0):  # the cache changes nothing: same output as the uncached forward
                diff = (morpher.tensor(t) - pipe.generate(morpher.latent(t), seg)).abs().max().item()
                max_diff = max(max_diff, diff)
        for measure_name, ms in (("full forward, no cache", full), ("morpher build (label-map branches)", build),
                                 ("tick, generator only", tick_g), ("tick, uint8 frame", tick_u8)):
            rows.append({"measure": measure_name, "model": f"{desc} {H}x{W}", "size": H, "threads": n, **stats(ms)})
    return rows, max_diff, ts, labels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ticks", type=int, default=60, help="slider positions per measure")
    p.add_argument("--maps", type=int, default=3, help="held-out label maps (one morph each)")
    p.add_argument("--threads", default="1,2", help="torch thread counts, comma-separated (target: 2 cores); "
                   "the endpoint runs with the first")
    p.add_argument("--model", default=None, help="registry name or folder (default $SYNTHKIT_SMIS_MODEL or the "
                   "bundled smis-toyscapes)")
    p.add_argument("--model-128", default=MODEL_128, help="the 128x128 model folder (random weights of its "
                   "architecture when missing); '' to skip")
    p.add_argument("--no-endpoint", action="store_true", help="skip the gradio_client measure")
    p.add_argument("--wait-policies", default="default,PASSIVE", help="OMP_WAIT_POLICY values, one subprocess "
                   "each ('default' = unset); the endpoint is measured under the first")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: write rows as JSON to this file
    args = p.parse_args(argv)
    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]
    argv = list(argv if argv is not None else sys.argv[1:])

    if args.worker:
        return worker(args, threads)
    rows, metas = [], []
    for i, policy in enumerate(x.strip() for x in args.wait_policies.split(",")):
        part = run_worker(__file__, [*argv, *([] if i == 0 else ["--no-endpoint"])], policy)
        for r in part["rows"]:
            r["omp_wait_policy"] = policy
        rows += part["rows"]
        metas.append({"omp_wait_policy": policy, **part["meta"]})

    verdicts = []
    for r in rows:
        if r["measure"] == "tick, generator only" and r["size"] >= 128:  # 2 cores: 1 or 2 intra-op threads
            met = r["p50_ms"] <= TARGET_P50_MS and r["p95_ms"] <= TARGET_P95_MS
            verdicts.append(f"{r['threads']} thread(s), OMP_WAIT_POLICY {r['omp_wait_policy']}: "
                            f"**{'met' if met else 'NOT met'}** (p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms)")
    meta = {
        "command": "python benchmarks/bench_morph_app.py " + " ".join(argv),
        "models": metas[0]["models"], "torch": torch.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": metas,
        "cache_max_abs_diff": max(m["cache_max_abs_diff"] for m in metas),
        "target": {"p50_ms": TARGET_P50_MS, "p95_ms": TARGET_P95_MS},
        "verdict": "; ".join(verdicts) or "no >= 128x128 model measured",
    }
    write(rows, meta)
    return 0


def worker(args, threads: list[int]) -> int:
    """One OpenMP wait policy (the environment this process was started with): measure and dump the rows."""
    from synthkit.pipelines.smis import load_smis

    model_ref, model_desc = resolve_model(args.model)
    pipe = load_smis(model_ref, fast=True)
    H, W = pipe.image_size
    load0 = os.getloadavg()
    rows, max_diff, ts, labels = measure(pipe, model_desc, threads, args.maps, args.ticks)
    sizes = [(H, W, model_desc)]
    if args.model_128:
        big, desc = pipeline_128(args.model_128)
        more, diff, _, _ = measure(big, desc, threads, args.maps, args.ticks)
        rows += more
        max_diff = max(max_diff, diff)
        sizes.append((*big.image_size, desc))
    if not args.no_endpoint:
        rows.append({"measure": "/morph_tick end to end (gradio_client)", "model": f"{model_desc} {H}x{W}",
                     "size": H, "threads": threads[0],
                     **stats(endpoint_ticks(model_ref, threads[0], ts, len(labels)))})
    load1 = os.getloadavg()
    meta = {"models": [list(x) for x in sizes], "load_start": load0, "load_end": load1, "cache_max_abs_diff": max_diff,
            "omp_wait_policy_env": os.environ.get("OMP_WAIT_POLICY", "(unset)")}
    Path(args.worker).write_text(json.dumps({"rows": rows, "meta": meta}))
    return 0


def endpoint_ticks(model_ref: str, n_threads: int, ts: list[float], n_maps: int) -> list[float]:
    """Latency of ``/morph_tick`` through gradio_client, one session, after ``/morph_example`` set it up."""
    os.environ["SYNTHKIT_SMIS_MODEL"] = model_ref
    torch.set_num_threads(n_threads)
    from gradio_client import Client

    from demos import style_morphing as app

    app.get_pipeline.cache_clear()
    demo = app.build_demo()
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        out: list[float] = []
        for i in range(min(n_maps, app.N_EXAMPLES)):
            client.predict(i, None, "seed", 2 * i, 0, "seed", 2 * i + 1, 0, 0.0, api_name="/morph_example")
            out += timed(lambda t: client.predict(t, api_name="/morph_tick"), [(t,) for t in ts])
        return out
    finally:
        demo.close()


def write(rows: list[dict], meta: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_morph_app.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    loads = "; ".join(
        f"{m['omp_wait_policy']}: {'/'.join(f'{x:.1f}' for x in m['load_start'])} at start, "
        f"{'/'.join(f'{x:.1f}' for x in m['load_end'])} at end" for m in meta["runs"]
    )
    lines = [
        "# Style-morphing app (SMIS) tick latency, CPU", "",
        f"`{meta['command'].strip()}`; models: " + "; ".join(f"{d} at {h}x{w}" for h, w, d in meta["models"]) +
        "; held-out Toyscapes maps, a sweep of t in [0, 1] morphing each map's largest class, one call at a time "
        "after warm-up calls.",
        f"Machine: {meta['machine']}, {meta['cpus']} CPUs shared with other jobs, torch {meta['torch']}; "
        f"{meta['date']}. 1/5/15-min load averages per run ({loads}).",
        "",
        "| model | measure | threads | OMP_WAIT_POLICY | calls | p50 ms | p95 ms | max ms | mean ms |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['measure']} | {r['threads']} | {r['omp_wait_policy']} | {r['calls']} | "
                     f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} | {r['mean_ms']:.1f} |")
    lines += ["", f"Cached tick vs uncached forward: max |diff| = {meta['cache_max_abs_diff']:.1e}.",
              f"Target p50 <= {TARGET_P50_MS:.0f} ms, p95 <= {TARGET_P95_MS:.0f} ms per tick (generator only, "
              f"2 cores, >= 128x128; model {meta['models'][-1][2]}): {meta['verdict']}.", "",
              "On a 2-core machine shared with other jobs, 2 intra-op threads with OpenMP's default (spinning) wait "
              "policy can be far slower than 1: a thread spins at every op's barrier while its peer is descheduled. "
              "With OMP_WAIT_POLICY=PASSIVE (set before torch loads) idle threads sleep instead. Compare rows of "
              "one run only.", ""]
    (RESULTS / "bench_morph_app.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
