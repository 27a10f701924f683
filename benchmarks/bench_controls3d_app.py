"""Speed of the 3D-controls app (Liao et al., bundled controllable3d-toyshapes3d at 64x64) on CPU.

    python benchmarks/bench_controls3d_app.py [--runs 40] [--threads 1,2] [--model NAME_OR_FOLDER] [--no-browser]

1. ``frame``: one edited frame through the pipeline (move an object + turn the camera + render + uint8): the
   target is p50 <= 100 ms at 64x64 on 2 cores;
2. ``render_event``: the app's function in-process (all sliders parsed, the scene rebuilt, the 256 px display image);
3. ``/controls_render`` end to end through ``gradio_client`` on loopback;
4. in headless Chromium: the camera-azimuth slider released -> the new image decoded in the page, beside Gradio's
   floor (a trivial app whose slider returns precomputed 256x256 images of this model, same run; benchmarks/_browser.py).
   The goal of the apps issue: within 1.5x the floor.

Writes benchmarks/results/bench_controls3d_app.{md,json}; the 1-min load average is recorded (compare numbers
only within one run).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _timing import latency_table, stats, timed, write_results  # benchmarks/_timing.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
TARGET_MS = 100.0
FLOOR_FACTOR = 1.5


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--model", default=None, help="registry name, folder or Hub id (default: the bundled model)")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium measures")
    args = p.parse_args(argv)
    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]

    from demos import controls_3d as app
    from demos.common import launch_kwargs

    if args.model:
        os.environ[app.MODEL_ENV] = args.model
    app.get_pipeline.cache_clear()
    pipe = app.get_pipeline()
    S, n = pipe.image_size, pipe.G.config.n_primitives
    load0 = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    edits = [(int(i % 20), float(rng.uniform(-0.6, 0.6)), float(rng.uniform(0, 360))) for i in range(args.runs)]
    scenes = {seed: pipe.sample(seed) for seed in range(20)}
    rows: dict[str, dict[str, float]] = {}
    for t in threads:
        torch.set_num_threads(t)
        rows[f"frame (move + camera + render, {S}x{S}), {t} thread(s)"] = stats(timed(
            lambda s, x, az: scenes[s].move(0, (x, None, None)).camera(azimuth=az).image, edits))
    torch.set_num_threads(threads[0])
    defaults = {seed: app.scene_defaults(seed) for seed in range(20)}

    def event(seed: int, x: float, az: float):
        d = defaults[seed]
        per = list(d[4:])
        per[0] = x
        return app.render_event(seed, az, d[3], app.NO_LAYERS, *per)

    rows[f"render_event (app function, {app.DISPLAY}x{app.DISPLAY} output), {threads[0]} thread(s)"] = stats(
        timed(event, edits))

    from gradio_client import Client

    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **{**launch_kwargs(), "server_port": None})
    floor = url_floor = None
    try:
        client = Client(url, verbose=False)
        calls = []
        for seed, x, az in edits[: max(10, args.runs // 2)]:
            d = defaults[seed]
            per = list(d[4:])
            per[0] = x
            calls.append((seed, az, d[3], app.NO_LAYERS, *per))
        rows[f"/controls_render end to end (gradio_client, loopback), {threads[0]} thread(s)"] = stats(
            timed(lambda *a: client.predict(*a, api_name="/controls_render"), calls))
        if not args.no_browser:
            from _browser import floor_demo, release_latencies  # benchmarks/_browser.py

            floor = floor_demo([app.enlarge(scenes[k].image) for k in range(8)])  # the app's own kind of image
            _, url_floor, _ = floor.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1",
                                           server_port=None)
            # interleaved in blocks, so that both see the same machine load
            b_floor, b_app = [], []
            for _ in range(2):
                b_floor += release_latencies(url_floor, "#floor-slider", "#floor-image", n=args.runs // 2)
                b_app += release_latencies(url, "#c3d-azimuth", "#c3d-image", n=args.runs // 2)
            rows[f"browser: trivial app, slider -> {app.DISPLAY}x{app.DISPLAY} image (Gradio's floor)"] = stats(b_floor)
            rows["browser: camera azimuth released -> new image decoded"] = stats(b_app)
    finally:
        demo.close()
        if floor is not None:
            floor.close()
    load1 = os.getloadavg()[0]
    meta = {"model": os.environ.get(app.MODEL_ENV) or "bundled controllable3d-toyshapes3d", "resolution": f"{S}x{S}",
            "n_primitives": n, "torch_threads": threads, "cpus": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "load_avg_1min": [round(load0, 1), round(load1, 1)],
            "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "target": f"frame p50 <= {TARGET_MS:.0f} ms at 64x64 on 2 cores; browser <= {FLOOR_FACTOR}x the floor"}
    lines = ["# 3D-controls app (Liao et al.) speed, CPU", "",
             f"`python benchmarks/bench_controls3d_app.py --runs {args.runs} --threads {args.threads}`; model: "
             f"{meta['model']} ({S}x{S}, {n} primitives); edits: object 1 moved along x, the camera turned; one call "
             "at a time after 3 warm-up calls.",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (1-min load average "
             f"{load0:.1f} at start, {load1:.1f} at end), torch {torch.__version__}; {meta['date_utc']}.", "",
             *latency_table(rows), ""]
    for t in threads:
        p50 = rows[f"frame (move + camera + render, {S}x{S}), {t} thread(s)"]["p50_ms"]
        lines.append(f"- target frame p50 <= {TARGET_MS:.0f} ms, {t} thread(s): "
                     f"**{'met' if p50 <= TARGET_MS else 'NOT met'}** ({p50:.1f} ms)")
    if not args.no_browser:
        fl = rows[f"browser: trivial app, slider -> {app.DISPLAY}x{app.DISPLAY} image (Gradio's floor)"]["p50_ms"]
        ap = rows["browser: camera azimuth released -> new image decoded"]["p50_ms"]
        lines.append(f"- browser: {ap:.0f} ms p50 against Gradio's floor {fl:.0f} ms = {ap / fl:.2f}x "
                     f"(goal <= {FLOOR_FACTOR}x: **{'met' if ap <= FLOOR_FACTOR * fl else 'NOT met'}**)")
    write_results(RESULTS, "bench_controls3d_app", "\n".join(lines) + "\n", {"rows": rows, "meta": meta})
    return 0


if __name__ == "__main__":
    sys.exit(main())
