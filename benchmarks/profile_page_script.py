"""Where the page's own script time goes per action: a Chromium CPU profile of the Toyscapes "Render" click.

    python benchmarks/profile_page_script.py [--clicks 20]

The Toyscapes app (standalone, as its Space serves it) in headless Chromium; 3 untimed clicks, then ``--clicks``
clicks (a new seed each, waiting for the new image decoded) under the DevTools sampling profiler (100 us). Four
configurations, each its own server process: Gradio's run history on / off (``GRADIO_RUN_HISTORY``; the apps turn
it off in ``demos.common.launch_kwargs``) x the direct event's images inline / as files (``SYNTHKIT_INLINE_IMAGES``,
``demos.common.inline_images``). Per click: the page's busy script time (every sample but idle, "(program)" i.e.
the browser's own native work, and the garbage collector) and the functions that took most of it, by name (Gradio's
bundle is minified: ``setItem`` is ``localStorage.setItem``, the run history's writes).

Writes benchmarks/results/profile_page_script.md. The machine is shared: compare configurations within one run.
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _serve  # noqa: E402  (benchmarks/_serve.py)
from _browser import chromium  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
NOT_SCRIPT = {"(idle)", "(program)", "(garbage collector)", "(root)"}

WAIT_NEW_JS = """(old) => { const i = document.querySelector('#toyscapes-image img');
  return i && i.src !== old && i.complete && i.naturalWidth > 0; }"""


def profile(history: bool, inline: bool, clicks: int) -> dict:
    from playwright.sync_api import sync_playwright

    env = {"GRADIO_RUN_HISTORY": "true" if history else "false", "SYNTHKIT_INLINE_IMAGES": "1" if inline else "0"}
    proc, url = _serve.start(["-m", "demos.toyscapes_explorer"], env=env, timeout_s=240)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"], headless=True)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#toyscapes-image img", timeout=60_000)

            def click(i: int) -> None:
                page.locator("#toyscapes-seed input").fill(str(1000 + i))
                page.locator("#toyscapes-seed input").press("Tab")
                page.wait_for_timeout(100)
                old = page.locator("#toyscapes-image img").first.get_attribute("src")
                page.click("#toyscapes-render")
                page.wait_for_function(WAIT_NEW_JS, arg=old, timeout=60_000, polling="raf")
                page.wait_for_timeout(100)  # the page's own follow-ups belong to this click

            for i in range(3):
                click(i)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 100})
            cdp.send("Profiler.start")
            for i in range(3, 3 + clicks):
                click(i)
            prof = cdp.send("Profiler.stop")["profile"]
            history_keys = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('gradio:run-history:'))")
            browser.close()
    finally:
        _serve.stop(proc)
    nodes = {n["id"]: n["callFrame"] for n in prof["nodes"]}
    self_ms: collections.Counter = collections.Counter()
    for sample, dt in zip(prof["samples"], prof["timeDeltas"][1:] + [0]):
        self_ms[nodes[sample]["functionName"] or "(anonymous)"] += dt / 1000
    busy = sum(v for k, v in self_ms.items() if k not in NOT_SCRIPT)
    top = [(k, v / clicks) for k, v in self_ms.most_common() if k not in NOT_SCRIPT][:6]
    return {"history": history, "inline": inline, "busy_ms": busy / clicks,
            "native_ms": self_ms["(program)"] / clicks, "gc_ms": self_ms["(garbage collector)"] / clicks,
            "set_item_ms": self_ms["setItem"] / clicks, "top": top, "history_keys": len(history_keys)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clicks", type=int, default=20)
    args = p.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows = [profile(h, i, args.clicks) for h in (True, False) for i in (False, True)]
    load1 = os.getloadavg()[0]
    lines = ["# The page's script time per Toyscapes click (Chromium CPU profile)", "",
             f"`python benchmarks/profile_page_script.py --clicks {args.clicks}` (see its docstring). Machine: "
             f"{platform.machine()}, {os.cpu_count()} CPUs (1-min load average {load0:.1f} at start, {load1:.1f} "
             f"at end); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| run history | images | script ms / click | localStorage.setItem ms | native ms | GC ms | "
             "run-history keys after | top functions (self ms / click) |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        top = ", ".join(f"`{k}` {v:.1f}" for k, v in r["top"])
        lines.append(f"| {'on' if r['history'] else 'off'} | {'inline' if r['inline'] else 'files'} | "
                     f"{r['busy_ms']:.1f} | {r['set_item_ms']:.1f} | {r['native_ms']:.1f} | {r['gc_ms']:.1f} | "
                     f"{r['history_keys']} | {top} |")
    lines += ["", "`native`: the profiler's \"(program)\" samples, the browser's own work outside script (layout, "
              "paint, image decoding, network). With the run history on, Gradio 6.31 writes the list of saved runs "
              "(inputs and outputs) to localStorage 2-3 times per call; with images inline, those outputs are the "
              "pictures themselves."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "profile_page_script.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
