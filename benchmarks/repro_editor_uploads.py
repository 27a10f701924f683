"""Does this Gradio re-upload an ImageEditor at every later event of the page? (the reason for demos.common.editor_event)

    python benchmarks/repro_editor_uploads.py

A minimal app: tab A holds an ImageEditor and a button whose event reads it; tab B a button returning an image.
In headless Chromium the script clicks A's button once, then B's button four times, and counts the page's /upload
posts during each B click. With Gradio 6.31 and the editor as a plain event input, every B click made 15 uploads
(the page asks every component that ever had a loading status for its value at each status change, and the editor
answers by exporting and uploading its canvas); registered with ``editor_event`` (a hidden twin), 0. Run it after a
Gradio upgrade: when the plain variant prints 0 too, the workaround can go (and the minimal app makes an upstream
report).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _browser import chromium  # noqa: E402  (benchmarks/_browser.py)


def build(variant: str):
    import gradio as gr

    from demos.common import editor_event

    image = np.zeros((128, 128, 4), np.uint8)
    image[..., 3] = 255
    layer = np.zeros_like(image)
    layer[40:80, 40:80] = (255, 0, 200, 255)
    count = [0]

    def frame() -> np.ndarray:  # a new picture every call, so the page always has a new src to wait for
        count[0] += 1
        return np.random.default_rng(count[0]).integers(0, 255, (64, 64, 3), dtype=np.uint8)

    with gr.Blocks() as demo:
        with gr.Tab("A"):
            editor = gr.ImageEditor(value={"background": image, "layers": [layer], "composite": image}, type="numpy",
                                    layers=False, transforms=())
            read, shown = gr.Button("read", elem_id="read"), gr.Image(type="numpy")
            if variant == "plain":
                read.click(lambda e: e["composite"][..., :3], editor, shown)
            else:
                editor_event(read.click, lambda e: e["composite"][..., :3], [editor], [shown])
        with gr.Tab("B"):
            go, out = gr.Button("go", elem_id="go"), gr.Image(type="numpy", elem_id="out")
            go.click(frame, None, out)
    return demo


def uploads_per_click(variant: str) -> list[int]:
    from playwright.sync_api import sync_playwright

    demo = build(variant)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"], headless=True)
            page = browser.new_page()
            posts: list[str] = []
            page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and "/upload" in r.url else None)
            page.goto(url)
            page.wait_for_load_state("networkidle")
            page.locator("#read").click()
            page.wait_for_timeout(2000)
            page.get_by_role("tab", name="B").click()
            counts = []
            for _ in range(4):
                before = len(posts)
                old = page.locator("#out img").get_attribute("src") if page.locator("#out img").count() else None
                page.locator("#go").click()
                page.wait_for_function("([old]) => { const i = document.querySelector('#out img');"
                                       " return !!i && i.getAttribute('src') !== old && i.complete; }", arg=[old],
                                       timeout=30_000)
                time.sleep(0.5)  # uploads triggered by the event's last status change
                counts.append(len(posts) - before)
            browser.close()
    finally:
        demo.close()
    return counts


def main() -> int:
    import gradio as gr

    print(f"gradio {gr.__version__}")
    for variant in ("plain", "editor_event"):
        print(f"{variant:>12}: /upload posts during each of 4 clicks in the other tab: {uploads_per_click(variant)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
