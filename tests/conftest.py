"""Shared pytest fixtures.

Gradio apps (see TESTING.md, "Gradio apps" and "Real browser"):

- ``launch_blocks(demo, **launch_kwargs) -> url``: launch a ``gr.Blocks`` on 127.0.0.1 (first free port from 7860,
  not blocking) and return its local URL; every server launched this way is closed at the end of the session
  (or call ``demo.close()`` yourself; it first waits until no event is running: ``wait_until_idle``). Use it from a
  module-scoped fixture to share one server per test file.
- ``browser``: a headless Debian Chromium driven by Playwright (session-scoped). Missing Chromium fails with
  the install command, unless ``SYNTHKIT_SKIP_BROWSER=1`` (then browser tests are skipped).
- ``browser_page``: a fresh page (1280x900) whose JavaScript errors are collected in ``.errors``.
- ``artifacts_dir``: ``<repo>/test-artifacts/`` for screenshots and other files worth looking at after a run.

Heavy imports (gradio, playwright) happen inside the fixtures, so test files that do not use them pay nothing.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `demos` and `spaces` are importable from a plain checkout
    sys.path.insert(0, str(REPO_ROOT))

# No telemetry or update checks from test servers (the machines have no network).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# One torch thread per process: the suite runs servers, notebook kernels and Chromium beside the test process on
# 2 cores, and two OpenMP threads that wait on each other made small ops 5-60x slower here. The variable also
# reaches the subprocesses (CLI runs, notebook kernels). Set OMP_NUM_THREADS yourself to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass

CHROMIUM_INSTALL_HINT = (
    "Chromium is needed for the browser tests and was not found on PATH. Install Debian's build with "
    "`apt-get update && apt-get install -y chromium` (Playwright's own browser download does not work offline), "
    "or set SYNTHKIT_SKIP_BROWSER=1 to skip the browser tests."
)


@pytest.fixture(scope="session")
def read_png() -> Callable[[Any], Any]:
    """``read_png(source)``: an image a Gradio server returned, as a uint8 RGB array: a file path, a binary file
    object, or a ``data:`` URL (an image a direct event returned inline: demos.common.inline_images). Asserts it
    is a PNG: outputs must be lossless, or label colours would not survive the round trip."""

    def _read(source: Any) -> Any:
        import base64
        import io

        import numpy as np
        from PIL import Image

        if isinstance(source, str) and source.startswith("data:"):
            header, payload = source.split(",", 1)
            assert header.endswith(";base64"), header
            source = io.BytesIO(base64.b64decode(payload))
        with Image.open(source) as img:
            assert img.format == "PNG", f"outputs must be lossless PNG (label colours), got {img.format}"
            return np.asarray(img.convert("RGB"))

    return _read


@pytest.fixture(scope="session")
def shown_png(read_png: Callable[[Any], Any]) -> Callable[[Any, str], Any]:
    """``shown_png(page, src)``: the picture an ``<img>`` of the page shows (``read_png``): a ``data:`` URL as it
    is, a file of the server fetched with the page's own request context."""

    def _read(page: Any, src: str) -> Any:
        import io

        if src.startswith("data:"):
            return read_png(src)
        response = page.request.get(src)
        assert response.ok, f"GET {src} -> {response.status}"
        return read_png(io.BytesIO(response.body()))

    return _read


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``<repo>/test-artifacts/``, created if needed (git-ignored output: screenshots, tables)."""
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def next_frames(page: Any, n: int = 2) -> None:
    """Until the page has rendered ``n`` more frames (requestAnimationFrame): Svelte applies a component's new value
    in a microtask and paints it on the next frame, so after two frames what an event changed is on the page. A
    condition of the page, not a fixed time: on a loaded machine frames come later and this waits longer."""
    page.evaluate("(n) => new Promise(done => { const step = k => k ? requestAnimationFrame(() => step(k - 1)) "
                  ": done(); step(n); })", n)


def wait_until_still(locator: Any, frames: int = 3, timeout_s: float = 20.0) -> None:
    """Until the element's box is the same for ``frames`` rendered frames in a row (a toast that slid in, a dialog
    that finished opening), so a screenshot shows it at rest."""

    page = locator.page
    deadline, last, same = time.monotonic() + timeout_s, None, 0
    while same < frames:
        if time.monotonic() > deadline:
            raise AssertionError(f"{locator} kept moving for {timeout_s:.0f} s (last box {last})")
        next_frames(page, 1)
        box = locator.bounding_box()
        same = same + 1 if box == last else 0
        last = box


class PageNetwork:
    """The page's requests in flight, and the server events it started, counted (``calls``: their bodies): a queued
    event's ``/queue/join`` post, a direct one's ``/gradio_api/run/<api_name>`` post (demos.common.direct_events)."""

    def __init__(self, page):
        self.in_flight, self.calls, self.log = set(), [], []
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    def _start(self, request):
        if "/heartbeat/" in request.url:  # Gradio's per-page keep-alive stream (apps with State): never finishes
            return
        self.in_flight.add(request)
        self.log.append(("start", request.method, request.url[-40:]))
        if request.method == "POST" and ("/queue/join" in request.url or "/gradio_api/run/" in request.url):
            self.calls.append(request.post_data_json)

    def _end(self, request):
        self.in_flight.discard(request)
        self.log.append(("end", request.method, request.url[-40:], request.failure))

    def uploads(self) -> int:
        """How many uploads the page has started (an ImageEditor's copy sends up to 3)."""
        return sum(1 for entry in self.log if entry[0] == "start" and entry[1] == "POST" and "/upload" in entry[2])


def wait_until_settled(page, net, elem_id, timeout_s=30.0):
    """Until nothing is in flight and the component's status tracker is hidden, five checks in a row: an editor
    that gets a new value loads its images (requests in flight) before the canvas shows them, and painting before
    that ends can be overwritten."""
    hidden = f"() => {{ const s = document.querySelector('#{elem_id} [data-testid=status-tracker]');" \
             " return !s || s.classList.contains('hide') }"
    deadline, calm = time.monotonic() + timeout_s, 0
    while calm < 5:
        if time.monotonic() > deadline:
            tracker = page.evaluate(f"() => {{ const s = document.querySelector('#{elem_id} [data-testid=status-tracker]');"
                                    " return s && [s.className, s.innerText.slice(0, 200)] }")
            raise AssertionError(f"#{elem_id} did not settle in {timeout_s:.0f} s: {len(net.in_flight)} requests "
                                 f"in flight ({[r.url[-50:] for r in net.in_flight][:5]}); its status tracker: "
                                 f"{tracker}; last requests: {net.log[-12:]}; toasts: "
                                 f"{page.locator('.toast-body').all_inner_texts()}")
        calm = calm + 1 if not net.in_flight and page.evaluate(hidden) else 0
        page.wait_for_timeout(50)


def wait_until_idle(demo: Any, timeout_s: float = 60.0) -> None:
    """Until the app's queue has no running or waiting event. A test ends when the page shows what it waits for,
    while events it started may still run (e.g. the morph's preview frames, rendered after the first image): closing
    the server, or the interpreter exiting, under a worker thread inside a torch op aborted the process ("terminate
    called without an active exception", exit 134 after all tests passed)."""

    queue = getattr(demo, "_queue", None)
    if queue is None:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        waiting = sum(len(q.queue) for q in list(queue.event_queue_per_concurrency_id.values()))
        if queue.get_active_worker_count() == 0 and waiting == 0:
            return
        time.sleep(0.05)


@pytest.fixture(scope="session")
def launch_blocks() -> Iterator[Callable[..., str]]:
    """Factory fixture: ``url = launch_blocks(demo, **launch_kwargs)``; servers closed at session end."""
    launched: list[Any] = []

    def _launch(demo: Any, **launch_kwargs: Any) -> str:
        kwargs = {"server_name": "127.0.0.1", "server_port": None, "prevent_thread_lock": True, "quiet": True}
        kwargs.update(launch_kwargs)
        _, local_url, _ = demo.launch(**kwargs)
        launched.append(demo)
        close = demo.close

        def close_when_idle(*args: Any, **kw: Any) -> Any:
            wait_until_idle(demo)
            return close(*args, **kw)

        demo.close = close_when_idle  # every fixture's demo.close() first lets the running events finish
        return local_url

    yield _launch
    for demo in reversed(launched):
        try:
            demo.close()
        except Exception:  # noqa: BLE001 - already closed by the test
            pass


def chromium_executable() -> str:
    """Path of the system Chromium; ``pytest.skip`` / ``pytest.fail`` with the install command if absent."""
    if os.environ.get("SYNTHKIT_SKIP_BROWSER") == "1":
        pytest.skip("SYNTHKIT_SKIP_BROWSER=1: browser tests skipped")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(CHROMIUM_INSTALL_HINT, pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), shared by the session."""
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is needed for the browser tests: pip install playwright", pytrace=False)
    with sync_playwright() as p:
        # --no-sandbox: the test machines and CI containers run as root
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


@dataclass
class BrowserPage:
    """A Playwright page plus the JavaScript errors (``pageerror``) it raised so far."""

    page: Any
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def browser_page(browser: Any) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    bp = BrowserPage(page)
    page.on("pageerror", lambda exc: bp.errors.append(str(exc)))
    page.on("console", lambda msg: bp.console_errors.append(msg.text) if msg.type == "error" else None)
    yield bp
    context.close()
