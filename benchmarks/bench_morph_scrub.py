"""The style-morphing slider in a real browser: precomputed frames scrubbed in the page vs the server round trip.

    python benchmarks/bench_morph_scrub.py [--n 40]

Issue 12 item 2: moving the morph slider must show a new frame in <= 20 ms p50. The app renders
``PREVIEW_FRAMES`` frames of the morph whenever a new morph is set up, and the page shows the nearest one on every
slider ``input`` event (``SCRUB_JS``, no server call); the exact frame is computed on release. Rows, headless
Chromium on loopback, the bundled smis-toyscapes (128x128):

1. ``scrub``: from a slider input event to the image showing the nearest precomputed frame *decoded*
   (``img.decode()`` resolved), timed in the page with ``performance.now()`` (no Playwright round trip inside);
2. ``release -> exact frame``: from releasing the thumb to the server's PNG displayed (Gradio's round trip + one
   tick), timed in Python around the Playwright calls like ``_browser.release_latencies``;
3. ``floor``: the same release on a trivial Gradio app returning a precomputed 128x128 image (Gradio's own floor).

Also the cost of rendering the preview frames once per new morph (server side). Writes
benchmarks/results/bench_morph_scrub.{md,json} with the machine's load average.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"

from _browser import chromium, floor_demo, release_latencies  # noqa: E402
from _timing import stats  # noqa: E402

SCRUB_MEASURE_JS = """async (v) => {
  const input = document.querySelector('#morph-t input[type=range]');
  const img = document.querySelector('#morph-image img');
  const old = img.getAttribute('src');
  const t0 = performance.now();
  input.value = String(v);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  while (img.getAttribute('src') === old) {
    await new Promise((r) => requestAnimationFrame(r));
    if (performance.now() - t0 > 5000) return -1;
  }
  await img.decode();
  return performance.now() - t0;
}"""

EXACT_JS = """(old) => { const i = document.querySelector('#morph-image img'); const s = i && i.getAttribute('src');
  return s && s !== old && !s.startsWith('data:image/jpeg') && i.complete && i.naturalWidth > 0; }"""


def scrub_latencies(url: str, n: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    from demos import style_morphing as app

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.locator("#morph-image img").wait_for(state="visible", timeout=60_000)
            page.wait_for_function(f"() => document.querySelectorAll('#morph-frames .morph-frames img').length"
                                   f" == {app.PREVIEW_FRAMES}")
            step = 1 / (app.PREVIEW_FRAMES - 1)
            for i in range(n + 3):
                v = step * ((i * 7) % app.PREVIEW_FRAMES)  # a new frame each time (7 is coprime with 21)
                ms = page.evaluate(SCRUB_MEASURE_JS, v)
                if ms < 0:
                    raise SystemExit(f"the image did not change for slider value {v:.3f}")
                if i >= 3:
                    out.append(ms)
        finally:
            browser.close()
    return out


def exact_latencies(url: str, n: int) -> list[float]:
    """Release -> the server's exact PNG displayed (the preview shown during the drag does not count)."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.locator("#morph-image img").wait_for(state="visible", timeout=60_000)
            track = page.locator("#morph-t input[type=range]")
            for i in range(n + 3):
                bb = track.bounding_box()
                y = bb["y"] + bb["height"] / 2
                a, b = (0.25, 0.75) if i % 2 == 0 else (0.75, 0.25)
                a, b = a + 0.01 * (i % 5), b - 0.01 * (i % 3)
                old = page.locator("#morph-image img").get_attribute("src")
                page.mouse.move(bb["x"] + a * bb["width"], y)
                page.mouse.down()
                page.mouse.move(bb["x"] + b * bb["width"], y, steps=3)
                t0 = time.perf_counter()
                page.mouse.up()
                page.wait_for_function(EXACT_JS, arg=old, timeout=30_000, polling="raf")
                if i >= 3:
                    out.append(1e3 * (time.perf_counter() - t0))
        finally:
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40, help="timed samples per row (after 3 warm-up ones)")
    args = ap.parse_args()

    from demos import style_morphing as app
    from demos.common import launch_kwargs

    load0 = os.getloadavg()
    session = app.default_session()
    t0 = time.perf_counter()
    for _ in range(5):
        app.preview_frames_html(session)
    frames_ms = 1e3 * (time.perf_counter() - t0) / 5
    html_kb = len(app.preview_frames_html(session)) / 1024

    demo = app.build_demo()
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **launch_kwargs())
    floor = floor_demo([session.frame(t) for t in np.linspace(0, 1, 8)])
    _, floor_url, _ = floor.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        rows = [
            ("scrub: slider input -> nearest precomputed frame decoded (in page)", scrub_latencies(url, args.n)),
            ("release -> exact frame displayed (server round trip)", exact_latencies(url, args.n)),
            ("floor: release -> precomputed image (trivial Gradio app)",
             release_latencies(floor_url, "#floor-slider", "#floor-image", n=args.n)),
        ]
    finally:
        demo.close()
        floor.close()
    load1 = os.getloadavg()
    table = [{"measure": name, **stats(v)} for name, v in rows]
    import torch

    head = (
        "# Style-morph slider in the browser: precomputed frames vs the server\n\n"
        f"`python benchmarks/bench_morph_scrub.py --n {args.n}`; headless Chromium on loopback, bundled "
        f"smis-toyscapes ({session.label.shape[1]}x{session.label.shape[0]}), {app.PREVIEW_FRAMES} preview frames "
        f"(JPEG q{app.PREVIEW_QUALITY}).\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1/5/15-min load "
        f"{'/'.join(f'{x:.1f}' for x in load0)} at start, {'/'.join(f'{x:.1f}' for x in load1)} at end.\n\n"
        f"Rendering the preview frames of one morph (server, once per new morph): {frames_ms:.0f} ms; "
        f"sent to the page: {html_kb:.0f} KB.\n\n"
        "| measure | n | p50 ms | p95 ms | max ms | mean ms |\n|---|---:|---:|---:|---:|---:|\n"
    )
    lines = [f"| {r['measure']} | {r['calls']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} | "
             f"{r['mean_ms']:.1f} |" for r in table]
    target = table[0]["p50_ms"] <= 20.0
    tail = (f"\n\nTarget (issue 12): a new frame on slider input in <= 20 ms p50: "
            f"{'met' if target else 'NOT met'} ({table[0]['p50_ms']:.1f} ms).\n")
    text = head + "\n".join(lines) + tail
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_morph_scrub.md").write_text(text)
    (RESULTS / "bench_morph_scrub.json").write_text(json.dumps(
        {"rows": table, "frames_ms": frames_ms, "html_kb": html_kb, "load": [load0, load1]}, indent=1))


if __name__ == "__main__":
    main()
