"""What a user waits for in every app, measured in a real browser beside Gradio's own floor, in one run.

    python benchmarks/bench_apps_browser.py [--runs 30] [--only toyscapes,inpaint]

Serves the tabbed demo (``python -m demos.app``) and a trivial floor app in two subprocesses on loopback and drives
both with headless Chromium (Playwright). For each app's main action, a timer *in the page* runs from the user's
input (the button's click, the slider's pointer release) to the moment every output ``<img>`` that the action
changes has its new ``src`` decoded (``complete`` and a natural width), checked on every animation frame. Playwright's
own round trips are outside the timer.

The floor app answers a button click with one precomputed image (no work per call) of the same size as the action's
main output, so the same number of pixels travels; its latency is what a server round trip through Gradio costs
on this machine at this load. The issue's goal for every action is p50 within 1.5x the floor.

Each action also gets a breakdown from the page's own records (``fetch`` wrapped before the app loads, and the
resource timing of the images): input -> the call sent (a queued event's join request, or a direct event's POST;
the front end preparing the call, e.g. an image editor exporting its layers), the call's round trip, call answered
-> first output file requested (queued: the server's work, our function included, and the result message), and
the files' fetch and decode. Uploads made after the input are counted and timed. A second floor, the same app
without the queue (``queue=False``, as the apps' quick events are), is sampled beside them for reference.

Writes benchmarks/results/bench_apps_browser.{md,json} with the machine's load average.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import _serve  # benchmarks/_serve.py
from _browser import chromium, drag_slider  # benchmarks/_browser.py
from _timing import latency_table, stats, write_results  # benchmarks/_timing.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
FLOOR_FACTOR = 1.5

# Installed before any page script runs: every fetch is recorded with its start and end (ms, performance.now()),
# and the last user input's time is kept in window.__t0 (capture phase: before Gradio's own handlers).
INIT_JS = """
window.__fetches = [];
const _fetch = window.fetch;
window.fetch = async function(input, init) {
  const url = typeof input === 'string' ? input : (input && input.url) || String(input);
  const rec = {url, start: performance.now(), end: null};
  window.__fetches.push(rec);
  const r = await _fetch.apply(this, arguments);
  rec.end = performance.now();
  return r;
};
window.__t0 = null;
performance.setResourceTimingBufferSize(1000000);  // the default 250 entries fill up within a few dozen runs
for (const ev of ['click', 'pointerup']) {
  document.addEventListener(ev, () => { window.__t0 = performance.now(); }, true);
}
"""

# true (the time, ms) once every listed <img> shows a new, decoded picture
DONE_JS = """([sels, olds]) => {
  for (let k = 0; k < sels.length; k++) {
    const i = document.querySelector(sels[k] + ' img');
    if (!(i && i.src !== olds[k] && i.complete && i.naturalWidth > 0)) return false;
  }
  return performance.now();
}"""

BREAKDOWN_JS = """([t0, t1]) => {
  const after = (window.__fetches || []).filter(f => f.start >= t0 - 1);
  // the call: a queued event's join request, or a direct event's POST .../run/<api_name> (demos.common.direct_events)
  const join = after.find(f => f.url.includes('/queue/join') || /\/gradio_api\/run\//.test(f.url));
  const uploads = after.filter(f => f.url.includes('/upload'));
  // output files: requested after the call was answered (an image editor re-fetches its own uploads before that)
  const since = join && join.end ? join.end : t0 - 1;
  const files = performance.getEntriesByType('resource').filter(e => e.startTime >= since && e.name.includes('/file='));
  const firstFile = files.length ? Math.min(...files.map(e => e.startTime)) : null;
  const lastFile = files.length ? Math.max(...files.map(e => e.responseEnd)) : null;
  return {
    to_call: join ? join.start - t0 : null,
    call_rtt: join && join.end ? join.end - join.start : null,
    // no file fetched (images inline in a direct call's answer): after_call runs to the pictures decoded
    after_call: join && join.end ? (firstFile !== null ? firstFile : t1) - join.end : null,
    files: firstFile !== null ? lastFile - firstFile : null,
    decode: lastFile !== null ? t1 - lastFile : null,
    n_uploads: uploads.length,
    uploads_ms: uploads.length ? Math.max(...uploads.map(u => (u.end || t1) - t0)) : 0,
    n_files: files.length,
    file_kb: files.reduce((s, e) => s + (e.encodedBodySize || 0), 0) / 1024,
    file_names: files.map(e => [e.name.slice(-60), Math.round(e.startTime - t0), Math.round(e.responseEnd - t0)]),
  };
}"""


FLOOR_APP = """
import sys, numpy as np, gradio as gr
sys.path.insert(0, {root!r})
from synthkit.data import toyscapes
SIZES = (64, 128, 256)
FRAMES = {{s: [np.repeat(np.repeat(toyscapes.render(7, i, size=64).image, s // 64, 0), s // 64, 1) for i in range(8)]
          for s in SIZES}}
count = {{s: 0 for s in SIZES}}
def make(s):
    def frame():
        count[s] += 1
        return FRAMES[s][count[s] % len(FRAMES[s])]
    return frame
def make_slider(s):
    def frame(v):
        return FRAMES[s][int(v) % len(FRAMES[s])]
    return frame
with gr.Blocks(analytics_enabled=False) as demo:
    for s in SIZES:
        b = gr.Button(f"{{s}}", elem_id=f"floor-btn-{{s}}")
        img = gr.Image(FRAMES[s][0], type="numpy", format="png", interactive=False, elem_id=f"floor-img-{{s}}")
        b.click(make(s), None, img, api_name=f"floor_{{s}}")
        sl = gr.Slider(0, 360, value=0, step=1, elem_id=f"floor-slider-{{s}}")
        simg = gr.Image(FRAMES[s][0], type="numpy", format="png", interactive=False, elem_id=f"floor-simg-{{s}}")
        sl.release(make_slider(s), sl, simg, api_name=f"floor_slider_{{s}}")
        # the same without Gradio's queue (queue=False, as demos.common.direct_events makes the apps' quick events)
        db = gr.Button(f"{{s}} direct", elem_id=f"floor-dbtn-{{s}}")
        dimg = gr.Image(FRAMES[s][0], type="numpy", format="png", interactive=False, elem_id=f"floor-dimg-{{s}}")
        db.click(make(s), None, dimg, api_name=f"floor_direct_{{s}}", queue=False)
        dsl = gr.Slider(0, 360, value=0, step=1, elem_id=f"floor-dslider-{{s}}")
        dsimg = gr.Image(FRAMES[s][0], type="numpy", format="png", interactive=False, elem_id=f"floor-dsimg-{{s}}")
        dsl.release(make_slider(s), dsl, dsimg, api_name=f"floor_direct_slider_{{s}}", queue=False)
demo.queue(default_concurrency_limit=1, max_size=64)
demo.launch(quiet=True)  # GRADIO_SERVER_NAME / GRADIO_SERVER_PORT come from _serve.start
"""


# --- the actions ----------------------------------------------------------------------------------------------
# Each: (name, tab title or None, outputs to wait for, prepare(page, i), trigger(page, i) -> None, floor size)
def _set_number(page: Any, sel: str, value: int) -> None:
    box = page.locator(f"{sel} input")
    box.fill(str(value))


def _click(sel: str):
    def trigger(page: Any, i: int) -> None:
        page.locator(sel).click()
    return trigger


def _release(sel: str):
    def trigger(page: Any, i: int) -> None:
        drag_slider(page, sel, i)
        page.mouse.up()
    return trigger


def _seed(sel: str, seeds: Any = None):
    """Type the i-th seed into ``sel``; ``seeds`` (a callable giving the list, computed once) when some seeds give the
    same picture as the one before (then the output would not change and there would be nothing to time)."""
    chosen: list[int] = []

    def prepare(page: Any, i: int) -> None:
        if seeds is not None and not chosen:
            chosen.extend(seeds())
        _set_number(page, sel, chosen[i % len(chosen)] if chosen else 1000 + i)
    return prepare


def _stroke_then_seed(pause_ms: int):
    """Type a new seed, paint a short Brush stroke on the inpainting editor (a new place each time, so the region
    changes), and wait ``pause_ms`` before the click: 0 is the worst case (the click lands while the editor's value
    is still to be copied), ~500 ms is about the least a person takes to go from the canvas to the button."""
    seed = _seed("#pyramid-seed")

    def prepare(page: Any, i: int) -> None:
        seed(page, i)  # first: the stroke is the last thing before the pause and the click
        editor = page.locator("#pyramid-editor")
        brush = editor.get_by_role("button", name="Brush", exact=True)
        if "highlight" not in (brush.get_attribute("class") or ""):
            brush.click()
        bb = editor.locator("canvas").first.bounding_box()
        x, y = 0.36 + 0.05 * (i % 6), 0.12 + 0.15 * ((i // 6) % 6)
        page.mouse.move(bb["x"] + bb["width"] * x, bb["y"] + bb["height"] * y)
        page.mouse.down()
        page.mouse.move(bb["x"] + bb["width"] * (x + 0.04), bb["y"] + bb["height"] * y, steps=4)
        page.mouse.up()
        if pause_ms:
            page.wait_for_timeout(pause_ms)
    return prepare


def _layout_seeds(n: int = 80) -> list[int]:
    """Seeds whose layout-tab image differs from the previous seed's, for the tab's first canvas (BachGAN draws the
    retrieved background at random among the best matches: two seeds can pick the same one)."""
    from demos import layout_to_image as app

    pipe = app.get_pipeline()
    canvas = app._outputs(pipe.layout_to_image(app.table_rows(app.example_tables()[0][0]), seed=0))[0]
    out, last = [], None
    for s in range(1000, 1000 + 4 * n):
        image = app.generate_from_canvas(canvas, s)[2]
        if last is None or not np.array_equal(image, last):
            out.append(s)
            last = image
        if len(out) == n:
            break
    return out


# name -> (title, tab in the tabbed app, standalone module, outputs to wait for, prepare, trigger, kind); the floor is
# the same kind of input (a button click, a slider release) returning one image of the main output's size
ACTIONS = {
    "toyscapes": ("Toyscapes: Render (3 images)", "Toyscapes", "demos.toyscapes_explorer",
                  ["#toyscapes-image", "#toyscapes-labels", "#toyscapes-boxes"], _seed("#toyscapes-seed"),
                  _click("#toyscapes-render"), "click"),
    "layout": ("Layout: Generate from canvas", "Layout (BachGAN)", "demos.layout_to_image", ["#layout-image"],
               _seed("#layout-seed", _layout_seeds), _click("#layout-generate-canvas"), "click"),
    "inpaint": ("Inpainting: Regenerate region", "Inpainting (Pyramid)", "demos.semantic_inpainting",
                ["#pyramid-result"], _seed("#pyramid-seed"), _click("#pyramid-run"), "click"),
    "inpaint_stroke": ("Inpainting: brush stroke, Regenerate at once", "Inpainting (Pyramid)",
                       "demos.semantic_inpainting", ["#pyramid-result"], _stroke_then_seed(0), _click("#pyramid-run"),
                       "click"),
    "inpaint_stroke_pause": ("Inpainting: brush stroke, Regenerate 0.5 s later", "Inpainting (Pyramid)",
                             "demos.semantic_inpainting", ["#pyramid-result"], _stroke_then_seed(500),
                             _click("#pyramid-run"), "click"),
    "controls3d": ("3D controls: azimuth released", "3D controls (Liao)", "demos.controls_3d", ["#c3d-image"], None,
                   _release("#c3d-azimuth"), "release"),
}
SIZES = (64, 128, 256)
NATURAL_WIDTH_JS = "sel => document.querySelector(sel + ' img')?.naturalWidth ?? 0"


def sample(page: Any, outputs: list[str], prepare: Any, trigger: Any, i: int) -> tuple[float | None, dict | None]:
    """One input -> (ms until every output shows its new picture decoded, the breakdown), timed in the page."""
    if prepare is not None:
        prepare(page, i)
    olds = [page.locator(f"{sel} img").first.get_attribute("src") for sel in outputs]
    page.evaluate("window.__t0 = null")
    trigger(page, i)
    t1 = page.wait_for_function(DONE_JS, arg=[outputs, olds], timeout=60_000, polling="raf").json_value()
    t0 = page.evaluate("window.__t0")
    page.wait_for_timeout(50)  # let the page finish its own follow-ups (status trackers) before the next input
    if t0 is None:
        return None, None
    return t1 - t0, page.evaluate(BREAKDOWN_JS, [t0, t1])


def measure(pages: list[tuple[Any, list[str], Any, Any]], runs: int) -> list[tuple[list[float], list[dict]]]:
    """Alternate one input on each page (the floor, then the app), ``runs`` times after 3 untimed rounds, so a
    change of the machine's load during the measure hits both alike."""
    out: list[tuple[list[float], list[dict]]] = [([], []) for _ in pages]
    for i in range(runs + 3):
        for k, (page, outputs, prepare, trigger) in enumerate(pages):
            ms, parts = sample(page, outputs, prepare, trigger, i)
            if i >= 3 and ms is not None:
                out[k][0].append(ms)
                out[k][1].append(parts)
    return out


def summarise(parts: list[dict]) -> dict[str, float | None]:
    out = {}
    for k in parts[0]:
        if k == "file_names":
            if os.environ.get("BENCH_DEBUG_FILES"):
                print("  files of the last 3 samples:", [p[k] for p in parts[-3:]], flush=True)
            continue
        vals = [p[k] for p in parts if p[k] is not None]
        out[k] = float(np.median(vals)) if vals else None
    return out


def open_page(browser: Any, url: str, ready: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.add_init_script(INIT_JS)
    page.goto(url)
    page.locator(f"{ready} img").first.wait_for(state="visible", timeout=120_000)
    return page


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--only", default=",".join(ACTIONS), help=f"comma-separated subset of {', '.join(ACTIONS)}")
    p.add_argument("--name", default="bench_apps_browser",
                   help="file name stem of the results (e.g. bench_apps_browser_all_queued with SYNTHKIT_DIRECT_EVENTS=0)")
    p.add_argument("--where", default="standalone,tabbed",
                   help="standalone (each app as its Space serves it), tabbed (the `synthkit demo` page), or both")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in ACTIONS]
    if unknown:
        p.error(f"unknown actions {unknown}; valid: {', '.join(ACTIONS)}")
    wheres = [w for w in args.where.split(",") if w]
    from playwright.sync_api import sync_playwright

    load0 = os.getloadavg()[0]
    log = Path(os.environ["BENCH_SERVER_LOG"]) if os.environ.get("BENCH_SERVER_LOG") else None
    floor, floor_url = _serve.start(["-c", FLOOR_APP.format(root=str(ROOT))], log=log, timeout_s=240)
    servers = [floor]
    rows: dict[str, dict[str, float]] = {}
    breakdown: dict[str, dict[str, Any]] = {}
    ratios: dict[str, float] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"], headless=True)
            try:
                floor_page = open_page(browser, floor_url, "#floor-img-64")
                tabbed = None
                for where in wheres:
                    for name in names:
                        title, tab, module, outputs, prepare, trigger, kind = ACTIONS[name]
                        if where == "tabbed":
                            if tabbed is None:
                                proc, url = _serve.start(["-m", "demos.app"], log=log, timeout_s=240)
                                servers.append(proc)
                                tabbed = open_page(browser, url, "#toyscapes-image")
                            page = tabbed
                            page.get_by_role("tab", name=tab).click()
                            page.locator(f"{outputs[0]} img").first.wait_for(state="visible", timeout=60_000)
                        else:
                            proc, url = _serve.start(["-m", module], log=log, timeout_s=240)
                            servers.append(proc)
                            page = open_page(browser, url, outputs[0])
                        width = page.evaluate(NATURAL_WIDTH_JS, outputs[0])
                        size = min(SIZES, key=lambda s: abs(s - width))
                        if kind == "click":
                            f_out, f_trigger = f"#floor-img-{size}", _click(f"#floor-btn-{size}")
                            d_out, d_trigger = f"#floor-dimg-{size}", _click(f"#floor-dbtn-{size}")
                        else:
                            f_out, f_trigger = f"#floor-simg-{size}", _release(f"#floor-slider-{size}")
                            d_out, d_trigger = f"#floor-dsimg-{size}", _release(f"#floor-dslider-{size}")
                        (f_times, f_parts), (d_times, _), (a_times, a_parts) = measure(
                            [(floor_page, [f_out], None, f_trigger), (floor_page, [d_out], None, d_trigger),
                             (page, outputs, prepare, trigger)], args.runs)
                        label = f"{title} [{where}]"
                        rows[f"{label}: floor, {kind} -> one {size}² image (no work)"] = stats(f_times)
                        rows[f"{label}: floor without the queue (queue=False), for reference"] = stats(d_times)
                        rows[label] = stats(a_times)
                        ratios[label] = rows[label]["p50_ms"] / stats(f_times)["p50_ms"]
                        breakdown[label] = {"app": summarise(a_parts), "floor": summarise(f_parts)}
                        print(f"{label}: p50 {rows[label]['p50_ms']:.0f} ms, floor {stats(f_times)['p50_ms']:.0f} ms,"
                              f" {ratios[label]:.2f}x", flush=True)
                        if where == "standalone":
                            page.close()
                            _serve.stop(servers.pop())
            finally:
                browser.close()
    finally:
        for proc in servers:
            _serve.stop(proc)
    load1 = os.getloadavg()[0]
    meta = {"runs": args.runs, "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_1min": [round(load0, 1), round(load1, 1)],
            "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "goal": f"p50 <= {FLOOR_FACTOR}x floor",
            "direct_events": os.environ.get("SYNTHKIT_DIRECT_EVENTS", "1") != "0",
            "inline_images": os.environ.get("SYNTHKIT_INLINE_IMAGES", "1") != "0",
            "run_history": os.environ.get("GRADIO_RUN_HISTORY", "false").lower() == "true"}
    lines = ["# The apps in a real browser, beside Gradio's floor", "",
             f"`python benchmarks/bench_apps_browser.py --runs {args.runs} --where {args.where}` (headless "
             "Chromium; each app as its Space serves it (standalone) and the `synthkit demo` page (tabbed), and a "
             "floor app, each its own process on loopback; timer in the page from the input event to every changed "
             "output image decoded; the floor is the same kind of input returning one precomputed image of the "
             "main output's size, sampled alternately with the app so that load changes hit both).",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (1-min load average {load0:.1f} at start, "
             f"{load1:.1f} at end); {meta['date_utc']}.",
             "The apps' quick events: " + ("called directly (demos.common.direct_events)." if meta["direct_events"]
                                           else "all through the queue (SYNTHKIT_DIRECT_EVENTS=0, to compare).")
             + " Their images: " + ("inline in the answer (demos.common.inline_images)." if meta["inline_images"]
                                    else "files (SYNTHKIT_INLINE_IMAGES=0, to compare).")
             + " Gradio's run history in the apps' pages: " + ("on (GRADIO_RUN_HISTORY=true)." if meta["run_history"]
                                                              else "off (demos.common.launch_kwargs); the floor "
                                                                   "app keeps Gradio's default (on)."),
             "", *latency_table(rows), "",
             "| action | p50 / floor p50 | goal <= 1.5x |", "|---|---:|---|"]
    for title, r in ratios.items():
        lines.append(f"| {title} | {r:.2f}x | {'met' if r <= FLOOR_FACTOR else 'NOT met'} |")
    lines += ["", "The floor is a default Gradio app (its click goes through the queue). The apps' quick events are "
              "called without the queue (demos.common.direct_events), which is how an action can come in under the "
              "floor; the floor without the queue is the least a direct call can cost on this machine. Their "
              "images come inline in the call's answer (no file written, path-checked and fetched per image), and "
              "the apps' pages keep no run history (Gradio 6.31 rewrites the saved runs, inputs and outputs, in "
              "localStorage 2-3 times per call). What is left above the floor is our function, Gradio's processing "
              "of each output and the page's own work per call, which in Gradio 6.31 grows with the number of "
              "components of the page (the tabbed rows). An ImageEditor is read from its hidden copy "
              "(demos.common.editor_event): a Regenerate with the editor untouched uploads nothing; after a stroke "
              "the editor exports and uploads its layers (~45 ms), which starts by itself when the stroke ends "
              "(the 'brush stroke' rows: clicked at once, the click waits for that copy; 0.5 s later, it is "
              "done)."]
    lines += ["", "Where the time goes (medians, ms). The call is a queued event's `/queue/join` request or a direct "
              "event's `POST /gradio_api/run/<api_name>` (demos.common.direct_events; the apps' rows). `to_call`: "
              "input to the call sent, i.e. the front end gathering the inputs (an edited editor's copy, when "
              "one is still to make or in flight); "
              "`call_rtt`: that request's round trip (direct: the whole server side, our function "
              "included); `after_call`: the call answered to the first output file requested, or, with no file to "
              "fetch (images inline), to the pictures decoded (queued: the queue, our function, Gradio's "
              "processing and the result message; both: the page applying the result); `files`: output files "
              "fetched; `decode`: to decoded:",
              "", "| action | to_call | call_rtt | after_call | files | decode | uploads (n, ms) | files (n, KB) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.0f}"

    for title, b in breakdown.items():
        for who in ("app", "floor"):
            d = b[who]
            lines.append(f"| {title} ({who}) | {f(d['to_call'])} | {f(d['call_rtt'])} | {f(d['after_call'])} | "
                         f"{f(d['files'])} | {f(d['decode'])} | {f(d['n_uploads'])}, {f(d['uploads_ms'])} | "
                         f"{f(d['n_files'])}, {f(d['file_kb'])} |")
    write_results(RESULTS, args.name, "\n".join(lines) + "\n",
                  {"rows": rows, "ratios": ratios, "breakdown": breakdown, "meta": meta})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
