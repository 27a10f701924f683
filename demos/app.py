"""The synthkit demo: one Gradio 6 app, one tab per application.

    synthkit demo [--host H] [--port P] [--share]      (or: python -m demos.app)

Each entry of ``TABS`` names an app module that exposes ``build_tab()`` (it creates its components inside the
``gr.Tab`` opened here and registers its events with explicit ``api_name``s) and a standalone ``build_demo()``
(served by its Hugging Face Space). To add an application, append ``("Tab title", "demos.my_app")`` to ``TABS``.

A tab whose module fails to import or to build does not take the app down: it shows a message saying what
failed, the traceback goes to the log, and the other tabs work.
"""
from __future__ import annotations

import argparse
import html
import importlib
import logging
import os
from collections.abc import Sequence
from typing import Any

import gradio as gr

from demos.common import AppBlocks, launch_kwargs

log = logging.getLogger("synthkit.demos")

# (tab title, module). Later applications are appended here by their authors.
TABS: list[tuple[str, str]] = [
    ("Toyscapes", "demos.toyscapes_explorer"),
    ("Layout (BachGAN)", "demos.layout_to_image"),
    ("Morphing (SMIS)", "demos.style_morphing"),
    ("Inpainting (Pyramid)", "demos.semantic_inpainting"),
    ("Embed & edit (I2S++)", "demos.embed_and_edit"),
    ("3D controls (Liao)", "demos.controls_3d"),
]

TITLE = "synthkit: CVPR 2020 image synthesis, hands on"

INTRO = """\
<div id="synthkit-header">

# synthkit

**Five CVPR 2020 image-synthesis papers, small enough to read and to run on a CPU.**
Every tab runs offline on bundled checkpoints trained on *Toyscapes* (the 3D tab: *Toyshapes3D*), procedural
datasets whose every factor (classes, layout, appearance, 3D pose) is known, so you can check what each model
really controls.

</div>
"""

# Queue settings and the concurrency design (demos.common.direct_events has the whole of it). The page calls every
# quick event (3-40 ms of work) directly, without the queue: one POST answered with the result, run in Gradio's
# worker threads concurrently with every other call (at most launch's max_threads, 40, at once). Measured in
# Chromium, the queue's own round trip (join request, event stream, 3-5 status messages, each a walk of the page's
# component tree) cost more than these functions (benchmarks/results/bench_apps_browser.md). A direct event that
# fails runs once more through the queue, which shows our message (Gradio 6.31 shows none for a direct failure).
# Its images come back inside the answer (demos.common.inline_images), not as files fetched one request each.
# Queued: the Image2StyleGAN++ embedding (seconds, streamed previews, a Stop button; its own slot of 1), the 3D
# turntable GIF (its own slot), and every API call (gradio_client, /gradio_api/call): there each event runs one
# call at a time, and the bounded waiting line answers "too busy" when full instead of piling up work. Why 1 per
# event for the API: measured on 2 cores (benchmarks/results/load_test*.md), Gradio's per-request Python work under
# the GIL (~40 ms per new session, queue bookkeeping, PNG encoding) bounds the server; concurrency 1 and 4 gave the
# same throughput.
DEFAULT_CONCURRENCY_LIMIT = int(os.environ.get("SYNTHKIT_DEMO_CONCURRENCY", "1"))
MAX_QUEUE_SIZE = int(os.environ.get("SYNTHKIT_DEMO_MAX_QUEUE", "64"))


def _failed_tab(title: str, module: str, exc: BaseException, stage: str) -> None:
    """Inside an open ``gr.Tab``: explain that this tab failed to load (the rest of the app works)."""
    reason = html.escape(f"{type(exc).__name__}: {exc}", quote=False)
    gr.Markdown(
        f"### {title} is unavailable\n\n"
        f"The module `{module}` failed to {stage}:\n\n`{reason}`\n\n"
        "The other tabs work. If you run the app yourself, the full traceback is in its log; a missing "
        "package or checkpoint is the usual cause (`pip install -e \".[dev]\"`, then `synthkit list`).",
        elem_classes=["tab-error"],
    )


def build_demo(tabs: Sequence[tuple[str, str]] | None = None) -> gr.Blocks:
    """Build the tabbed app (not launched). ``tabs`` defaults to ``TABS``."""
    tabs = TABS if tabs is None else tabs
    with AppBlocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            for title, module_name in tabs:
                with gr.Tab(title, id=module_name.rsplit(".", 1)[-1]):
                    try:
                        module = importlib.import_module(module_name)
                    except Exception as exc:  # noqa: BLE001 - any import failure must leave the app usable
                        log.exception("demo tab %r: cannot import %s", title, module_name)
                        _failed_tab(title, module_name, exc, "import")
                        continue
                    # Build into a column we can hide if build_tab fails half-way, so no broken half-UI shows.
                    with gr.Column() as body:
                        try:
                            module.build_tab()
                            failed: BaseException | None = None
                        except Exception as exc:  # noqa: BLE001
                            log.exception("demo tab %r: %s.build_tab() failed", title, module_name)
                            failed = exc
                    if failed is not None:
                        body.visible = False
                        _failed_tab(title, module_name, failed, "build its tab")
        gr.Markdown(
            "<small>synthkit demos run on CPU with small, labelled self-trained checkpoints; "
            "see each tab's notes for what differs from the paper.</small>"
        )
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY_LIMIT, max_size=MAX_QUEUE_SIZE)
    return demo


def launch(host: str | None = None, port: int | None = None, share: bool = False, **kwargs: Any) -> gr.Blocks:
    """Build and launch the app; blocks until interrupted unless ``prevent_thread_lock=True`` is passed.

    ``host`` defaults to ``$GRADIO_SERVER_NAME`` or 127.0.0.1 (loopback: the app is not exposed by accident);
    ``port`` to ``$GRADIO_SERVER_PORT`` or the first free port from 7860. Other keyword arguments go to
    ``Blocks.launch``. Returns the launched ``gr.Blocks`` (``.local_url``, ``.close()``).
    """
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    if port is None and os.environ.get("GRADIO_SERVER_PORT"):
        try:
            port = int(os.environ["GRADIO_SERVER_PORT"])
        except ValueError as err:
            raise ValueError(f"GRADIO_SERVER_PORT must be an integer port, got {os.environ['GRADIO_SERVER_PORT']!r}") from err
    demo = build_demo()
    demo.launch(server_name=host, server_port=port, share=share, **{**launch_kwargs(), **kwargs})
    return demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demos.app", description="Launch the synthkit Gradio demo.")
    parser.add_argument("--host", default=None, help="address to bind (default $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default $GRADIO_SERVER_PORT, else the first free port from 7860)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (needs network)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    launch(host=args.host, port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
