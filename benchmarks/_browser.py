"""What a user waits for, measured in a real browser: a slider released to the new image displayed.

Shared by the app benchmarks (run them as ``python benchmarks/<script>.py``). Two pieces:

- :func:`floor_demo`: Gradio's own floor, a trivial app whose slider returns precomputed images (no model);
- :func:`release_latencies`: in headless Chromium (Playwright), drag a slider's thumb, release it, and time from the
  release to the moment the ``<img>`` of the output has a new ``src`` *and* is decoded (``complete`` with a natural
  width). The timer runs in Python around the Playwright calls: each sample includes a few ms of Playwright's own
  round trips, the same for the app and its floor.

Measure an app and its floor in the same run, on the same machine load, and compare them, never against numbers
from another day.
"""
from __future__ import annotations

import shutil
import time
from typing import Any

import numpy as np

WAIT_JS = """([sel, old]) => { const i = document.querySelector(sel + ' img');
  return i && i.src !== old && i.complete && i.naturalWidth > 0; }"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise SystemExit("Chromium is needed for the browser measures: apt-get install -y chromium "
                         "(or pass --no-browser)")
    return path


def floor_demo(frames: Any) -> Any:
    """A Blocks app: slider ``#floor-slider`` (0..360) -> one of ``frames`` (uint8 [H, W, 3] images, precomputed: no
    work per call) as ``#floor-image`` on release. Pass images like the app's own outputs, so that the PNGs that
    travel have the same size."""
    import gradio as gr

    frames = [np.asarray(f, dtype=np.uint8) for f in frames]

    def frame(v: float) -> np.ndarray:
        return frames[int(v) % len(frames)]

    with gr.Blocks(analytics_enabled=False) as demo:
        s = gr.Slider(0, 360, value=0, step=1, label="value", elem_id="floor-slider")
        img = gr.Image(frames[0], type="numpy", format="png", interactive=False, elem_id="floor-image")
        s.release(frame, s, img, api_name="floor", trigger_mode="always_last")
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


def drag_slider(page: Any, slider: str, i: int) -> None:
    """Grab ``slider``'s thumb track (a CSS id) and drag it, mouse still down: the i-th drag goes between two ends of
    the track (alternating direction, slightly different each time, so each release changes the value). The caller
    releases with ``page.mouse.up()``."""
    track = page.locator(f"{slider} input[type=range]")
    track.scroll_into_view_if_needed()
    bb = track.bounding_box()
    y = bb["y"] + bb["height"] / 2
    a, b = (0.25, 0.75) if i % 2 == 0 else (0.75, 0.25)
    a, b = a + 0.01 * (i % 5), b - 0.01 * (i % 3)
    page.mouse.move(bb["x"] + a * bb["width"], y)
    page.mouse.down()
    page.mouse.move(bb["x"] + b * bb["width"], y, steps=3)


def release_latencies(url: str, slider: str, image: str, n: int = 30, tab: str | None = None,
                      settle_ms: int = 0) -> list[float]:
    """Milliseconds from releasing ``slider`` (a CSS id, e.g. "#c3d-azimuth") to ``image``'s new picture decoded,
    for ``n`` releases alternating between two ends of the track (each release changes the value); 3 untimed
    warm-up releases first. ``tab``: the title of a ``gr.Tab`` to open first."""
    from playwright.sync_api import sync_playwright

    out: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            if tab:
                page.get_by_role("tab", name=tab).click()
            page.locator(f"{image} img").wait_for(state="visible", timeout=60_000)
            for i in range(n + 3):
                old = page.locator(f"{image} img").get_attribute("src")
                drag_slider(page, slider, i)
                t0 = time.perf_counter()
                page.mouse.up()
                page.wait_for_function(WAIT_JS, arg=[image, old], timeout=30_000, polling="raf")
                if i >= 3:
                    out.append(1e3 * (time.perf_counter() - t0))
                if settle_ms:
                    page.wait_for_timeout(settle_ms)
        finally:
            browser.close()
    return out
