"""Shared, UI-independent helpers for the synthkit Gradio apps.

Every paper app in ``demos/`` takes its inputs through these helpers so that the usual ways a Gradio demo
fails (an upload that is not an image, an empty ImageEditor, an unexpected exception shown as a bare "Error")
are handled once, the same way, and tested once (``tests/test_demo_app.py``).

- ``read_image_upload(path, notes)``: decode and validate an upload taken as ``gr.Image(type="filepath")``.
  Gradio's own ``type="numpy"`` decoding fails *before* the app's function runs on a file that is not an
  image, and the page then shows a bare "Error" with no message; decoding ourselves lets us say what is wrong.
- ``editor_mask(editor_value, size)``: turn a ``gr.ImageEditor`` value into a boolean mask, robust to the
  known upstream regressions (gradio #10298, #8198, #9265).
- ``resize_note`` / ``notes_markdown``: tell the user what we changed about their input.
- ``user_errors``: a decorator that turns the ``ValueError`` / ``TypeError`` raised by synthkit for bad input into
  a ``gr.Error`` carrying the same message, and any other exception into a friendly ``gr.Error`` while the
  traceback goes to the server log.
- ``AppBlocks``: ``gr.Blocks`` for every app: a request whose inputs Gradio itself cannot read (validated and
  preprocessed before the function runs, so ``user_errors`` never sees it) gets a message naming the parameter.
- ``editor_event(trigger, fn, inputs, outputs, **kw)``: register an event whose inputs or outputs include a
  ``gr.ImageEditor``; every app uses it for those events (tests/test_demo_app.py lints the built apps). Gradio
  6.31's front end asks every component that has ever had a loading status for its value (``get_data``) at each
  status change of *any* event, and an ImageEditor answers by re-exporting its canvas and uploading it: once an
  editor had been an event's input or output, every later event of the page made about 15 uploads (a 3D slider in
  another tab waited ~400 ms more; every upload stays in Gradio's cache). Here the editor never gets a loading
  status: the backend event reads a hidden twin (``gr.ImageEditor(visible=False)``, so the server's own validation
  and preprocessing are unchanged, and so is the API: the backend event's parameter is an ImageEditor), and an
  editor among the outputs is left out of the progress targets (``show_progress_on``). The page copies an editor
  into its twin (export + upload of its layers, ~45 ms) only when it was edited since the last copy: by itself
  when a stroke ends (other edits: 0.3 s after), or, at the latest, before the call. A Regenerate with the editor
  untouched uploads nothing (``_EDITOR_SYNC_JS`` says what counts as an edit).
- ``direct_events(demo)`` (applied by ``AppBlocks``): the page calls every quick event directly (one HTTP POST,
  ``queue=False``) instead of through Gradio's queue; see its docstring for the concurrency design.
- ``inline_images(demo)`` (applied by ``AppBlocks``): the images a direct event returns to the page travel inside
  its answer as PNG ``data:`` URLs, not as files written, path-checked and fetched one request each; the queue and
  API clients still get files. ``SYNTHKIT_INLINE_IMAGES=0`` turns it off (only to measure it, benchmarks/).
- ``on_gpu(duration)``: ``spaces.GPU`` on a ZeroGPU Space, a no-op anywhere else.
- ``THEME`` / ``CSS`` / ``launch_kwargs()``: the look shared by ``demos/app.py`` and every Space (Gradio 6 takes
  theme and CSS in ``launch()``, not in ``gr.Blocks``), and Gradio's browser-side run history off (its cost per
  call: see ``launch_kwargs``).
- ``atomic_output_cache()``: applied when this module is imported, so every app and Space gets it. Gradio writes
  each returned image to ``<cache>/<sha256 of its bytes>/image.<fmt>`` with ``Path.write_bytes``, which truncates
  and rewrites the file in place. When two requests return the same image (two users asking for the same render,
  the same seed, a default view), the second write truncates the file while the first response is streaming it:
  h11 raises "Too little data for declared Content-Length" and the browser gets a PNG that does not decode (the
  load-test failures and the flaky browser tests of issue 12). The patched writers write a temporary file in the
  same folder and ``os.replace`` it into place: a response that already opened the file keeps reading the old,
  complete inode, and one that opens it later gets the new, complete one (the same bytes: the name is their hash).
"""
from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import html
import inspect
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import gradio as gr
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from synthkit.inputs import to_rgb_uint8

__all__ = [
    "CSS",
    "atomic_output_cache",
    "MAX_UPLOAD_PIXELS",
    "THEME",
    "editor_mask",
    "launch_kwargs",
    "notes_markdown",
    "editor_event",
    "direct_events",
    "direct_events_enabled",
    "failure_report_of",
    "image_data_url",
    "inline_images",
    "zero_gpu_space",
    "on_gpu",
    "read_image_upload",
    "resize_note",
    "user_errors",
]

log = logging.getLogger("synthkit.demos")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees a partial file (temp file + ``os.replace``)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_output_cache() -> bool:
    """Make Gradio's writers of returned images / bytes atomic (see the module docstring). Idempotent; returns
    True when it patched (False when this Gradio's writers changed shape and were left alone, logged)."""
    from gradio import processing_utils as pu

    if getattr(pu.save_pil_to_cache, "_synthkit_atomic", False):
        return True
    if not all(hasattr(pu, name) for name in ("save_pil_to_cache", "save_bytes_to_cache", "encode_pil_to_bytes",
                                              "hash_bytes")):
        log.warning("gradio.processing_utils has changed: output-cache writes left as they are (issue 12)")
        return False

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = pu.encode_pil_to_bytes(img, format)
        return _cache_file(Path(cache_dir), f"{name}.{format}", data)

    def _cache_file(cache_dir: Path, name: str, data: bytes) -> str:
        """``<cache>/<hash of data>/<name>``, written atomically unless it is already there (same name = same
        bytes: keep it)."""
        folder = cache_dir / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / name).resolve()
        if not (path.is_file() and path.stat().st_size == len(data)):
            _atomic_write_bytes(path, data)
        return str(path)

    original_bytes = pu.save_bytes_to_cache

    def save_bytes_to_cache(data: bytes, file_name: str, cache_dir: str) -> str:
        if Path(file_name).suffix:
            return _cache_file(Path(cache_dir), Path(file_name).name, data)
        return original_bytes(data, file_name, cache_dir)  # audio without a suffix: gradio detects its format

    save_pil_to_cache._synthkit_atomic = True  # type: ignore[attr-defined]
    pu.save_pil_to_cache = save_pil_to_cache
    pu.save_bytes_to_cache = save_bytes_to_cache
    return True


if os.environ.get("SYNTHKIT_ATOMIC_OUTPUT_CACHE", "1") != "0":  # "0" only to measure the failure it prevents
    atomic_output_cache()

F = TypeVar("F", bound=Callable[..., Any])

# Where the apps' pipelines run. The CPU: the models take 6-20 ms per image there, Gradio's round trip is ~80 ms,
# the apps keep per-session tensors (latents, scenes) on the CPU, and a Space's free hardware is a CPU. The
# library's loaders default to device="auto"; the apps pass this instead.
DEMO_DEVICE = "cpu"

# A 50-megapixel upload is a photo straight off a camera; decoding and resizing it on a 2-core CPU Space takes
# seconds and hundreds of MB. Refuse larger ones with a message rather than stall the queue.
MAX_UPLOAD_PIXELS = 50_000_000

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="sky", neutral_hue="slate")

# Small label maps (64 px) are shown enlarged; `pixelated` keeps class boundaries crisp instead of blurred.
CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
.pixelated img { width: 100%; height: 100%; object-fit: contain; }
#synthkit-header { text-align: center; }
#synthkit-header h1 { margin-bottom: 0.2em; }
#morph-frames { display: none; }
.tab-error { border-left: 4px solid var(--error-border-color, #ef4444); padding-left: 1em; }
"""


def launch_kwargs() -> dict[str, Any]:
    """Keyword arguments every synthkit app passes to ``Blocks.launch``: theme, CSS, and the run history off.

    Gradio 6.31 keeps, by default, a *run history* in the visitor's browser: every call of a public event is
    saved with its inputs and outputs in ``localStorage`` (up to 100 runs per app), the whole list parsed and
    rewritten 2-3 times per call. Measured in Chromium on the Toyscapes render (CPU profile of 20 clicks,
    benchmarks/results/profile_page_script.md): its functions (``localStorage.setItem`` and the list's parse and
    write) take ~10 of the page's ~48 ms of script per click with files, and ~41 of 87 with images sent inline
    (``inline_images``), as the list then holds the pictures. Here every call is a slider move or a click whose
    result is on screen; the runs page adds little. Off unless ``GRADIO_RUN_HISTORY`` (Gradio's own variable) says
    otherwise."""
    history = os.environ.get("GRADIO_RUN_HISTORY")
    return {"theme": THEME, "css": CSS,
            "run_history": history.lower() == "true" if history is not None else False}


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------

GENERIC_ERROR_MESSAGE = (
    "Something went wrong on the server while running this step ({kind}). "
    "It is not a problem with your input as far as we can tell: please try again, or try other settings. "
    "The details were written to the server log."
)


def _user_message(exc: BaseException) -> str:
    # gr.Error renders its message as HTML; our messages may quote user input (file names, values).
    return html.escape(str(exc) or type(exc).__name__, quote=False)


def _input_label(block: Any) -> str:
    label = getattr(block, "label", None)
    kind = block.get_block_name() if hasattr(block, "get_block_name") else type(block).__name__
    return f"“{label}” ({kind})" if label else kind


def _validation_reason(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic.ValidationError: field path + message for the first few problems
        try:
            parts = [f"{'.'.join(str(x) for x in e.get('loc', ())) or 'value'}: {e.get('msg', '')}"
                     for e in errors()[:3]]
            return "; ".join(parts)
        except Exception:  # noqa: BLE001 - fall back to the plain message
            pass
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:200] if text else ''}"


def input_error_message(block_fn: Any, inputs: list[Any], exc: Exception) -> str:
    """A readable message for a request whose *inputs* Gradio could not read (before the app's function runs):
    which endpoint, which parameter (label and component), what was wrong, and what to send instead."""
    api = getattr(block_fn, "api_name", None)
    where = f" to /{api}" if api else ""
    blocks = list(getattr(block_fn, "inputs", []) or [])
    culprit = None
    model_name = getattr(exc, "title", None)
    for i, block in enumerate(blocks):  # re-validate one input at a time to name the one at fault
        model = getattr(block, "data_model", None)
        if model is None or i >= len(inputs) or inputs[i] is None:
            continue
        try:
            model.model_validate(inputs[i], context={"validate_meta": True})
        except Exception:  # noqa: BLE001 - this is the one
            culprit = i
            break
    if culprit is None:  # a component's preprocess failed: Gradio's ComponentProcessingError names the index
        found = re.search(r"component at index (\d+)", str(exc))
        culprit = int(found.group(1)) if found and int(found.group(1)) < len(blocks) else None
    if culprit is None and model_name:
        culprit = next((i for i, b in enumerate(blocks)
                        if getattr(getattr(b, "data_model", None), "__name__", None) == model_name), None)
    if culprit is None and "input values" in str(exc):  # Gradio's own count check says what it expected
        return _user_message(exc)
    which = (f"parameter {culprit + 1} of {len(blocks)}, {_input_label(blocks[culprit])}"
             if culprit is not None else "one of the parameters")
    return _user_message(ValueError(
        f"The request{where} could not be read: {which}: {_validation_reason(exc)}. Send each parameter in the "
        "format this endpoint's API page shows (“Use via API”); files go as gradio_client.handle_file(path) or "
        "{'path': ..., 'meta': {'_type': 'gradio.FileData'}}."
    ))


def one_progress_target(demo: gr.Blocks) -> int:
    """Give every server event with several outputs and no ``show_progress_on`` one progress target: its first image
    (``gr.Image`` / ``gr.Gallery``, not an editor), else its first output; returns how many events were changed.

    Why: Gradio 6.31's page keeps a loading status for every progress target of every event that has run, and at
    each status change of *any* event (3-5 per call) it pushes an update to all of them. In the tabbed app, after a
    visit to each tab, that was ~70 components: the 3D slider's call left the page ~100 ms after the release, against
    ~25 ms in the 3D app alone (benchmarks/results/bench_apps_browser.md). One target per event keeps that list to
    about one component per event, and the spinner covers the main image instead of every control."""
    changed = 0
    for fn in demo.fns.values():
        if fn.fn is None or fn.show_progress_on or len(fn.outputs) < 2:
            continue
        images = [b for b in fn.outputs if isinstance(b, (gr.Image, gr.Gallery)) and not isinstance(b, gr.ImageEditor)]
        others = [b for b in fn.outputs if not isinstance(b, gr.ImageEditor)]
        fn.show_progress_on = [(images or others or fn.outputs)[0]]
        changed += 1
    return changed


def zero_gpu_space() -> bool:
    """True on a Hugging Face ZeroGPU Space, where GPU calls must go through the queue (``SPACES_ZERO_GPU`` read as
    the ``spaces`` package reads it: 1, t or true)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def direct_events_enabled() -> bool:
    """Whether ``direct_events`` makes quick events direct here: not on a ZeroGPU Space, and not with
    ``SYNTHKIT_DIRECT_EVENTS=0`` (set only to measure the all-queued apps, benchmarks/)."""
    return not zero_gpu_space() and os.environ.get("SYNTHKIT_DIRECT_EVENTS", "1") != "0"


def _queued_by_design(fn: Any) -> str | None:
    """Why the event ``fn`` (a ``BlockFunction``) must stay in Gradio's queue, or None when it may be direct."""
    f = fn.fn
    if f is None:
        return "front-end only"
    if inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f):
        return "streams its outputs (generator)"
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return "signature unreadable"
    if any(isinstance(p.default, gr.Progress) for p in params):
        return "reports progress (gr.Progress)"
    if fn.concurrency_limit != "default" or fn.concurrency_id != str(id(f)):
        return "declares a concurrency slot (concurrency_id / concurrency_limit)"
    if getattr(fn, "every", None) or getattr(fn, "batch", False):
        return "timer or batched"
    return None


def direct_events(demo: gr.Blocks) -> int:
    """Let the page call every quick event directly (``queue=False``), and give every direct event (also one made
    with ``queue=False`` by hand) a failure report through the queue; returns how many events were made direct.

    The concurrency design of the synthkit apps:

    - **Direct** (the default for an event): the page sends one ``POST /gradio_api/run/<api_name>`` and the result
      comes back in its answer. Gradio runs the function in its worker threads (at most ``max_threads``, 40, at
      once; the rest wait for a thread): calls run concurrently, with each other and with every other event. Why:
      these functions take 3-40 ms and release the GIL inside torch, while the queue's own work per call (the
      join request, the event stream, 3-5 status messages, each making the page walk its component tree) costs
      more than the function itself: measured in Chromium, the floor app's click -> image went from ~45 ms
      through the queue to ~29 ms direct (benchmarks/results/bench_apps_browser.md). The per-call work is
      synchronous tensor code on module-level pipelines in eval mode with local ``torch.Generator``s, so
      concurrent calls do not share mutable state; per-session state lives in ``gr.State``.
    - **Queued**, with the reason (``_queued_by_design``): generators (streamed previews, the Image2StyleGAN++
      embedding with its Stop button), functions taking ``gr.Progress``, events that declare a concurrency slot
      (``concurrency_id`` / ``concurrency_limit``: the embedding has a slot of 1, the 3D turntable GIF its own),
      and on a ZeroGPU Space every event (GPU time is granted through the queue). Their limits are the
      ``queue()`` settings of each app.
    - API clients (``gradio_client``, ``/gradio_api/call``) always go through the queue, where each event runs
      one call at a time (``default_concurrency_limit``) behind a bounded waiting line (``max_size``): a script
      hammering an endpoint waits its turn and is answered "too busy" when the line is full, while pages stay
      responsive.
    """
    from gradio.events import EventListenerMethod

    enabled = direct_events_enabled()
    changed = 0
    reported = {failure_report_of(fn) for fn in demo.fns.values()}
    for fn in list(demo.fns.values()):
        if fn.fn is None or failure_report_of(fn) is not None or fn._id in reported:
            continue
        if fn.queue:
            if not enabled or _queued_by_design(fn) is not None:
                continue
            fn.queue = False
            changed += 1
        # Gradio 6.31's page shows no message for a direct event that fails (its client passes the error on without
        # `visible`, and the toast is only made for visible errors): the status tracker says a bare "Error". So a
        # direct event that fails runs once more through the queue, whose failure the page does show as a toast
        # with our gr.Error message (same function, inputs and outputs; only ever runs after a failure).
        report, _ = demo.default_config.set_event_trigger(
            [EventListenerMethod(None, "failure")], fn.fn, fn.inputs, fn.outputs,
            preprocess=fn.preprocess, postprocess=fn.postprocess, show_progress=fn.show_progress,
            show_progress_on=fn.show_progress_on, js=fn.js, queue=True, trigger_after=fn._id,
            trigger_only_on_failure=True, api_visibility="private")
        report._synthkit_reports_for = fn._id
    return changed


# True while Gradio processes a direct call from the page (``POST /gradio_api/run/<api_name>``; set by
# ``AppBlocks.process_api``): the images it returns are sent inline (``inline_images``).
_DIRECT_HTTP_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("synthkit_direct_http_call", default=False)


def _inlinable(value: Any) -> bool:
    """A PIL image, or a uint8 array that is gray ``[H, W]`` or RGB(A) ``[H, W, 3|4]`` (anything else goes through
    Gradio's own conversion)."""
    if isinstance(value, Image.Image):
        return True
    return (isinstance(value, np.ndarray) and value.dtype == np.uint8
            and (value.ndim == 2 or (value.ndim == 3 and value.shape[-1] in (3, 4))))


def _watermarked(block: Any) -> bool:
    """Whether Gradio would add a watermark to this image output (then its own postprocessing does it)."""
    options = getattr(block, "watermark", None)
    return options is not None and getattr(options, "watermark", options) is not None


def image_data_url(image: np.ndarray | Image.Image, format: str = "png") -> str:
    """``data:image/<format>;base64,...`` of a PIL image or an array accepted by ``_inlinable``: the bytes Gradio
    would write to its file (``processing_utils.encode_pil_to_bytes``: same encoder, PNG text / EXIF kept)."""
    from gradio import processing_utils as pu

    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))
    data = base64.b64encode(pu.encode_pil_to_bytes(pil, format)).decode("ascii")
    return f"data:image/{format.lower()};base64,{data}"


def inline_images(demo: gr.Blocks) -> int:
    """Send the images that direct events return inside the answer (``data:`` URLs) instead of as files.

    For each ``gr.Image`` and ``gr.Gallery`` output of a direct event that is no event's input: during a direct
    call from the page, a returned PIL image or uint8 array travels as ``ImageData(url="data:image/png;base64,...")``
    in the POST's answer. Anywhere else Gradio's own postprocessing writes the file as before: calls through the
    queue and API clients (``gradio_client`` downloads outputs by their server path), the initial values, values
    Gradio must convert (floats, paths), watermarked images. Why: for each returned file Gradio hashes and writes
    it and checks its path against the allowed folders, and the page then fetches it with one more request
    (benchmarks/results/bench_apps_browser.md, columns call_rtt and files); inline, a 128x128 PNG is 5-30 KB more
    in the answer and nothing else. An output that is also an input stays a file: the page would send its value
    back, and Gradio accepts only uploaded files as inputs. Memory: Gradio keeps each session's last output values
    in its copy of the config (``SessionState``, ~380 KB per session of the tabbed app before any call); inline,
    one call of each tab's main action adds ~100 KB there (measured), against ~0.3 KB for the files' paths (the files
    themselves stay in Gradio's cache folder). Returns how many outputs were set up."""
    if os.environ.get("SYNTHKIT_INLINE_IMAGES", "1") == "0":
        return 0
    inputs = {block._id for fn in demo.fns.values() for block in fn.inputs}
    done = 0
    for fn in demo.fns.values():
        if fn.queue or fn.fn is None:
            continue
        for block in fn.outputs:
            if (type(block) not in (gr.Image, gr.Gallery) or block._id in inputs
                    or getattr(block, "_synthkit_inline", False)):
                continue
            block.postprocess = functools.partial(_inline_postprocess, block, block.postprocess)
            block._synthkit_inline = True
            done += 1
    return done


def _inline_postprocess(block: Any, original: Callable[[Any], Any], value: Any) -> Any:
    """``block.postprocess`` of an output set up by ``inline_images``."""
    from gradio.components.gallery import GalleryData, GalleryImage
    from gradio.data_classes import ImageData

    if not _DIRECT_HTTP_CALL.get() or _watermarked(block):
        return original(value)
    fmt = (block.format or "png").lower()

    def inline(image: Any) -> ImageData:
        return ImageData(url=image_data_url(image, fmt), orig_name=f"image.{fmt}", mime_type=f"image/{fmt}")

    try:
        if isinstance(block, gr.Gallery):
            if not isinstance(value, (list, tuple)) or not value:
                return original(value)
            items = [item if isinstance(item, (list, tuple)) else (item, None) for item in value]
            if not all(len(item) == 2 and _inlinable(item[0]) for item in items):
                return original(value)
            return GalleryData(root=[GalleryImage(image=inline(img), caption=caption) for img, caption in items])
        return inline(value) if _inlinable(value) else original(value)
    except (OSError, ValueError, KeyError) as exc:  # a mode the format cannot hold (RGBA as JPEG...): Gradio's way
        log.debug("inline image for %s fell back to a file: %s", getattr(block, "label", "?"), exc)
        return original(value)


def failure_report_of(fn: Any) -> int | None:
    """The id of the direct event whose failures the event ``fn`` reports (see ``direct_events``), else None."""
    return getattr(fn, "_synthkit_reports_for", None)


class AppBlocks(gr.Blocks):
    """``gr.Blocks`` whose requests with unreadable inputs get a message instead of a bare "Error".

    Gradio validates and preprocesses each input *before* the app's function runs (``Blocks.preprocess_data``):
    a file parameter sent as a string or without its ``meta``, a dict missing a field, a value its component cannot
    preprocess end there as a pydantic ``ValidationError`` or ``ComponentProcessingError``, which the page and the
    API show as the bare "Error" / "The upstream Gradio app has raised an exception". ``user_errors`` cannot see
    them. Every synthkit app (and the tabbed app) is built with this class, so the rule holds by construction.
    """

    def __exit__(self, exc_type: Any = None, *args: Any) -> None:
        if exc_type is None and self.parent is None:
            direct_events(self)  # registers events: inside the open context
        super().__exit__(exc_type, *args)
        if exc_type is None and self.parent is None:
            one_progress_target(self)
            inline_images(self)

    async def process_api(self, block_fn: Any, inputs: list[Any], state: Any = None, request: Any = None,
                          *args: Any, event_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        # A direct call from the page (POST /gradio_api/run/...: Gradio runs it with a request and no event id;
        # the queue always mints one) gets its images inline (inline_images). Other calls leave the flag as it is:
        # False, unless a benchmark or test in this process runs an event as the page's direct call would.
        if request is None or event_id is not None:
            return await super().process_api(block_fn, inputs, state, request, *args, event_id=event_id, **kwargs)
        token = _DIRECT_HTTP_CALL.set(True)
        try:
            return await super().process_api(block_fn, inputs, state, request, *args, event_id=event_id, **kwargs)
        finally:
            _DIRECT_HTTP_CALL.reset(token)

    def queue(self, *args: Any, api_open: bool | None = False, **kwargs: Any) -> "AppBlocks":
        """``gr.Blocks.queue`` with ``api_open=False`` by default: a queued event (the embedding, the turntable)
        cannot be called around the queue with a direct POST to ``/gradio_api/run/<api_name>`` (it would escape
        its concurrency slot); the direct events (``direct_events``) are served there, API clients use the queue."""
        return super().queue(*args, api_open=api_open, **kwargs)

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - converting is the point
            log.info("unreadable input for %s: %s", getattr(block_fn, "api_name", "?"), exc)
            raise gr.Error(input_error_message(block_fn, inputs, exc), print_exception=False) from exc


def user_errors(fn: F) -> F:
    """Decorate a Gradio event function so that the page never shows a bare "Error".

    - ``gr.Error`` passes through unchanged.
    - ``ValueError`` / ``TypeError`` are synthkit's "bad input" errors (the message says what was wrong and what to
      do): they become ``gr.Error`` with the same message.
    - Anything else is a bug or an environment problem: the traceback is logged server-side and the user gets a
      generic, friendly ``gr.Error`` naming only the exception type.

    Works for plain functions and generator functions (streamed outputs); ``functools.wraps`` keeps the signature,
    which Gradio reads to build the API and to find ``gr.Progress`` parameters.
    """

    def convert(exc: Exception) -> gr.Error:
        if isinstance(exc, gr.Error):
            return exc
        if isinstance(exc, (ValueError, TypeError)):
            log.info("user error in %s: %s", fn.__qualname__, exc)
            return gr.Error(_user_message(exc), print_exception=False)
        log.exception("unexpected error in demo function %s", fn.__qualname__)
        return gr.Error(GENERIC_ERROR_MESSAGE.format(kind=type(exc).__name__), print_exception=False)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - converting is the point
                raise convert(exc) from exc

        gen_wrapper.__synthkit_user_errors__ = True  # type: ignore[attr-defined]  (checked by the app lint test)
        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise convert(exc) from exc

    wrapper.__synthkit_user_errors__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------------------------
# events with gr.ImageEditor inputs / outputs (see the module docstring: Gradio 6.31's get_data at every status change)

def _twin(editor: gr.ImageEditor) -> gr.ImageEditor:
    """The hidden ImageEditor that carries ``editor``'s value into backend events (one per editor, made on first
    use inside the Blocks being built). Never rendered, so the front end never calls its ``get_data``."""
    twin = getattr(editor, "_synthkit_twin", None)
    if twin is None:
        # the same initial value, so the API page's default for the backend event's parameter stays the editor's
        value = editor.value
        if isinstance(value, dict):
            path = lambda f: f.get("path") if isinstance(f, dict) else f  # noqa: E731 - processed FileData -> file
            value = {"background": path(value.get("background")), "layers": [path(x) for x in value.get("layers") or []],
                     "composite": path(value.get("composite"))}
        twin = gr.ImageEditor(value=value, visible=False, type=editor.type, image_mode=editor.image_mode,
                              format=editor.format, label=editor.label, layers=False, transforms=())
        editor._synthkit_twin = twin  # type: ignore[attr-defined]
    return twin


def _start(trigger: Any, fn: Any, inputs: list[Any], outputs: list[Any], after: str, **kwargs: Any) -> Any:
    if isinstance(trigger, gr.events.Dependency):
        return getattr(trigger, after)(fn, inputs, outputs, **kwargs)
    triggers = list(trigger) if isinstance(trigger, (list, tuple)) else [trigger]
    return gr.on(triggers=triggers, fn=fn, inputs=inputs, outputs=outputs, **kwargs)


# The page side of editor_event: which editors were edited since their value was last copied into their twin.
# One object per page (window.__synthkitEditors), made by the first event that needs it. Per editor (by elem_id):
# `gen` counts the edits seen, `synced` is the `gen` whose value the twin holds (-1: unknown, copy first).
# An edit is anything that can change an editor's value: a pointer pressed in it (brush, eraser, its toolbar's
# clear / undo / redo / upload / paste buttons) and released anywhere, a key, a drop, a paste or a file input's
# change in it, Gradio's own upload / clear events of the editor (an upload finished loading, also a value set by
# the server) and every server event that writes the editor. A copy counts only if it started at least SETTLE ms
# after the last edit (the end of a stroke on the canvas: at once, see strokeEnded) and with no pointer held, so an
# editor caught mid-update is copied again at the next call; a copy in flight is awaited. After the user's last
# edit in the page the copy starts by itself (a stroke: when it ends; another edit: SETTLE ms later), while the
# user moves to the button; not after a value set by the server (the page makes no upload of its own).
# Every rule can only make a copy happen when none was needed, never skip a needed one.
_EDITOR_SYNC_JS = """(() => {
  if (window.__synthkitEditors) return window.__synthkitEditors;
  const SETTLE = %(settle)d, TIMEOUT = %(timeout)d;
  const states = new Map();
  const state = (id) => {
    let s = states.get(id);
    if (!s) { s = {gen: 0, synced: -1, last: 0, why: null, pointer: false, stroke: false, pending: null,
                   idle: null, done: null, seen: {}};
              states.set(id, s); }
    return s;
  };
  const owner = (node) => {
    for (const id of states.keys()) {
      const el = document.getElementById(id);
      if (el && node instanceof Node && el.contains(node)) return id;
    }
    return null;
  };
  // the end of a stroke (a press on the canvas, released) is settled at once: the brush and the eraser commit it
  // in the same pointerup dispatch (Gradio 6.31's on_pointer_up -> commit_stroke, synchronous), before a timer of
  // ours can run. A toolbar button acts in its click handler, maybe asynchronously: SETTLE.
  const strokeEnded = (s) => s.why === "release" && s.stroke;
  const sk = {
    state,
    mark(id, user, why) {  // user: an edit in the page (then the copy starts by itself once the editor is still)
      const s = state(id);
      s.gen += 1; s.last = performance.now(); s.why = why; s.seen[why] = (s.seen[why] || 0) + 1;
      clearTimeout(s.idle);
      if (user) s.idle = setTimeout(() => { if (!s.pointer) sk.copy(id); }, strokeEnded(s) ? 0 : SETTLE + 20);
    },
    copy(id) {  // start copying the editor into its twin (the hidden button's event), unless one is in flight
      const s = state(id);
      if (s.pending) return s.pending;
      if (s.synced === s.gen) return null;
      const button = document.getElementById(id + "-synthkit-sync");
      if (!button) return null;
      const g = s.gen, settled = !s.pointer && (strokeEnded(s) || performance.now() - s.last >= SETTLE);
      let finish;
      s.pending = new Promise((resolve) => { finish = resolve; });
      const timer = setTimeout(() => s.done(false), TIMEOUT);
      s.done = (ok) => {
        clearTimeout(timer);
        if (ok && settled) s.synced = Math.max(s.synced, g);
        s.pending = null; s.done = null; finish(ok);
      };
      button.click();
      return s.pending;
    },
    copied(id) { const s = state(id); if (s.done) s.done(true); },
    async ensure(id) {  // before a backend event reads the twin: its value is the editor's
      const s = state(id);
      if (s.pending) await s.pending;
      if (s.synced === s.gen) return;
      const copying = sk.copy(id);
      if (copying && !(await copying)) {
        throw new Error("synthkit: the editor '" + id + "' could not be read (no answer in " + TIMEOUT + " ms)");
      }
    },
  };
  const edited = (ev) => {
    const id = owner(ev.target);
    if (id === null) return;
    if (ev.type === "pointerdown") {
      const s = state(id);
      s.pointer = true; s.stroke = ev.target instanceof HTMLCanvasElement;
    }
    sk.mark(id, true, ev.type);
  };
  for (const type of ["pointerdown", "keydown", "drop", "paste", "change", "input"]) {
    document.addEventListener(type, edited, true);
  }
  const released = () => {
    for (const [id, s] of states) if (s.pointer) { s.pointer = false; sk.mark(id, true, "release"); }
  };
  for (const type of ["pointerup", "pointercancel"]) window.addEventListener(type, released, true);
  window.__synthkitEditors = sk;
  return sk;
})()"""
EDITOR_SETTLE_MS = 300
EDITOR_COPY_TIMEOUT_MS = 60_000


def _editor_js(body: str) -> str:
    """A front-end-only event's ``js``: ``body`` runs with ``sk``, the page's editor bookkeeping."""
    lib = _EDITOR_SYNC_JS % {"settle": EDITOR_SETTLE_MS, "timeout": EDITOR_COPY_TIMEOUT_MS}
    return f"async (...args) => {{ const sk = {lib}; {body} }}"


def _editor_id(editor: gr.ImageEditor) -> str:
    if not editor.elem_id:
        editor.elem_id = f"synthkit-editor-{editor._id}"
    return editor.elem_id


def _watch(editor: gr.ImageEditor) -> gr.ImageEditor:
    """The editor's hidden twin, and once per editor the events that keep it: a hidden button whose click copies
    the editor into the twin (front end only), and the marks of Gradio's upload / clear events."""
    twin = _twin(editor)
    if getattr(editor, "_synthkit_sync", None) is None:
        eid = json.dumps(_editor_id(editor))
        sync = gr.Button("sync", visible="hidden", elem_id=f"{editor.elem_id}-synthkit-sync")
        sync.click(None, [editor], [twin], js="(value) => value", queue=False, api_visibility="private",
                   trigger_mode="multiple").then(None, js=_editor_js(f"sk.copied({eid}); return [];"), queue=False,
                                                 api_visibility="private", trigger_mode="multiple")
        for listener, why in ((editor.upload, "upload"), (editor.clear, "clear")):
            listener(None, js=_editor_js(f"sk.mark({eid}, false, {why!r}); return [];"), queue=False,
                     api_visibility="private", trigger_mode="multiple")
        editor._synthkit_sync = sync  # type: ignore[attr-defined]
    return twin


@user_errors
def _editor_unread() -> None:
    """What the page shows when it could not copy an editor into its twin (the copy's upload got no answer within
    ``EDITOR_COPY_TIMEOUT_MS``): the event did not run."""
    raise gr.Error("The page could not send your picture to the server: its upload got no answer within "
                   f"{EDITOR_COPY_TIMEOUT_MS // 1000} s, so nothing was run. Check your connection and try again; "
                   "if it keeps failing, reload the page.", print_exception=False)


def editor_event(trigger: Any, fn: Callable[..., Any], inputs: Iterable[Any], outputs: Iterable[Any],
                 after: str = "then", **kwargs: Any) -> Any:
    """``gr.on(triggers, fn, inputs, outputs, **kwargs)`` (or ``dependency.then`` / ``.success`` when ``trigger`` is
    an event already registered, chosen by ``after``) for events with ``gr.ImageEditor`` inputs or outputs.

    Editors among ``inputs``: ``fn`` runs on each editor's hidden twin, in the same place and with the same
    preprocessing, and the twin holds the editor's value: a front-end-only step first copies each editor that was
    edited since its last copy (``_EDITOR_SYNC_JS``; the copy exports and uploads the editor's layers, ~45 ms on
    the test machine, and starts by itself when a stroke ends, 0.3 s after other edits), so a call with an editor
    left as it was uploads nothing; when the copy gets no answer, the event does not run and the page says so
    (``_editor_unread``). The backend event's ``trigger_mode`` defaults to ``"always_last"``: a trigger while it
    runs (a level released, a box ticked) runs it once more on the latest inputs, instead of being dropped.
    Editors among ``outputs``: the progress indicator goes on the other outputs (else on the non-editor inputs),
    and the editor counts as edited. Returns the backend event (for ``.then``, ``cancels=``)."""
    inputs, outputs = list(inputs), list(outputs)
    is_editor = lambda c: isinstance(c, gr.ImageEditor)  # noqa: E731
    if any(is_editor(c) for c in outputs) and "show_progress_on" not in kwargs:
        shown = [c for c in outputs if not is_editor(c)] or [c for c in inputs if not is_editor(c)]
        if not shown:
            raise ValueError("editor_event: an event whose only outputs and inputs are ImageEditors has nowhere to "
                             "show its progress; pass show_progress_on=[a component]")
        kwargs["show_progress_on"] = shown
    editors = list(dict.fromkeys(c for c in inputs if is_editor(c)))
    written = list(dict.fromkeys(c for c in outputs if is_editor(c)))
    if editors:
        twins = [_watch(e) for e in editors]
        ids = json.dumps([_editor_id(e) for e in editors])
        kwargs.setdefault("trigger_mode", "always_last")
        ready = _start(trigger, None, [], [], after, js=_editor_js(f"for (const id of {ids}) await sk.ensure(id); "
                                                                    "return [];"),
                       api_visibility="private", queue=False, trigger_mode="multiple")
        ready.failure(_editor_unread, None, None, api_visibility="private", show_progress="hidden")
        swap = dict(zip(map(id, editors), twins))
        event = ready.then(fn, [swap.get(id(c), c) for c in inputs], outputs, **kwargs)
    else:
        event = _start(trigger, fn, inputs, outputs, after, **kwargs)
    if written:
        ids = json.dumps([_editor_id(e) for e in written])
        event.then(None, js=_editor_js(f"for (const id of {ids}) sk.mark(id, false, 'written'); return [];"),
                   queue=False, api_visibility="private", trigger_mode="multiple")
    return event


def on_gpu(duration: int = 60) -> Callable[[F], F]:
    """``@spaces.GPU(duration=...)`` on a Hugging Face ZeroGPU Space; does nothing anywhere else.

    Decorate only the function that runs the generator (ZeroGPU gives a GPU for the duration of that call).
    """
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        spaces = None
    # getattr: from a synthkit checkout, `import spaces` can find the repository's own spaces/ folder
    # (a namespace package without GPU) instead of Hugging Face's package.
    gpu = getattr(spaces, "GPU", None)
    if gpu is None:
        return lambda fn: fn
    return gpu(duration=duration)


# --------------------------------------------------------------------------------------------------------------
# Uploaded images
# --------------------------------------------------------------------------------------------------------------


def read_image_upload(
    path: str | os.PathLike | None,
    notes: list[str] | None = None,
    *,
    what: str = "image",
    max_pixels: int = MAX_UPLOAD_PIXELS,
) -> np.ndarray:
    """Decode an uploaded file (from ``gr.Image(type="filepath")`` or ``gr.File``) into RGB uint8 ``[H, W, 3]``.

    Conversions that change what the user gave us are appended to ``notes`` (show them with ``notes_markdown``):
    transparency flattened onto white, grayscale / palette / 16-bit converted to RGB, EXIF rotation applied,
    first frame of an animation taken. Anything that is not a decodable image raises ``gr.Error`` saying so.
    """
    if notes is None:
        notes = []
    if path is None or (isinstance(path, str) and not path.strip()):
        raise gr.Error(f"No {what} was given: upload an image file (PNG or JPEG) first.", print_exception=False)
    path = os.fspath(path)
    name = html.escape(os.path.basename(path), quote=False)
    if not os.path.isfile(path):
        raise gr.Error(f"The uploaded {what} ({name}) could not be found on the server: please upload it again.",
                       print_exception=False)
    if os.path.getsize(path) == 0:
        raise gr.Error(f"The uploaded {what} ({name}) is an empty file: upload a PNG or JPEG image.",
                       print_exception=False)
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise gr.Error(
                    f"The uploaded {what} ({name}) is {width}×{height} pixels, larger than this demo accepts "
                    f"({max_pixels / 1e6:.0f} megapixels): downscale it first.",
                    print_exception=False,
                )
            if getattr(img, "n_frames", 1) > 1:
                notes.append(f"The {what} is animated: only its first frame is used.")
                img.seek(0)
            img.load()  # forces a full decode: truncated files fail here, not later
            oriented = ImageOps.exif_transpose(img)
            if oriented is not None and oriented.size != img.size:
                notes.append(f"The {what} was rotated according to its EXIF orientation tag.")
            rgb = to_rgb_uint8(oriented if oriented is not None else img, what, notes, note_opaque_alpha=False)
    except gr.Error:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise gr.Error(
            f"The uploaded file ({name}) is not an image that can be read ({type(exc).__name__}): "
            "upload a PNG or JPEG image.",
            print_exception=False,
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated / corrupt data (PIL raises all three)
        raise gr.Error(
            f"The uploaded file ({name}) looks like an image but could not be decoded (it may be truncated or "
            "corrupt): save it again as PNG or JPEG and re-upload.",
            print_exception=False,
        ) from exc
    return rgb


def resize_note(
    original_size: tuple[int, int],
    new_size: tuple[int, int],
    *,
    what: str = "image",
    reason: str = "",
) -> str | None:
    """A sentence telling the user their input was resized, or ``None`` when the size did not change.

    Sizes are ``(height, width)``, as in ``array.shape[:2]``.
    """
    (h0, w0), (h1, w1) = tuple(original_size), tuple(new_size)
    if (h0, w0) == (h1, w1):
        return None
    verb = "downscaled" if h1 * w1 < h0 * w0 else "upscaled"
    note = f"The {what} was {verb} from {w0}×{h0} to {w1}×{h1} pixels"
    if (h0 * w1) != (h1 * w0):
        note += " (the aspect ratio changed)"
    return note + (f": {reason}." if reason else ".")


MAX_SEED = 2**31 - 1  # seeds the apps accept (torch and numpy generators take any of them)


def whole_number(value: Any, name: str, lo: int = 0, hi: int = MAX_SEED) -> int:
    """A number typed into a box or sent through the API, as an int in [lo, hi]; ValueError saying what to enter."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{name} is empty: enter a whole number between {lo} and {hi:,}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number between {lo} and {hi:,}, got {value!r}.") from None
    if not number.is_integer() or not lo <= number <= hi:
        raise ValueError(f"{name} must be a whole number between {lo} and {hi:,}, got {value!r}.")
    return int(number)


def notes_markdown(notes: Iterable[str | None], *, title: str = "Notes") -> str:
    """Render notes (``None`` entries skipped, duplicates removed) as a Markdown bullet list; ``""`` if none."""
    unique: list[str] = []
    for note in notes:
        if note and note not in unique:
            unique.append(note)
    if not unique:
        return ""
    return f"**{title}**\n\n" + "\n".join(f"- {note}" for note in unique)


# --------------------------------------------------------------------------------------------------------------
# gr.ImageEditor values -> mask
# --------------------------------------------------------------------------------------------------------------


def _as_array(value: Any) -> np.ndarray | None:
    """ImageEditor parts arrive as numpy arrays, PIL images or file paths, depending on the component's ``type``."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Image.Image):
        return np.asarray(value)
    if isinstance(value, (str, os.PathLike)):
        with Image.open(value) as img:
            return np.asarray(img.convert("RGBA") if img.mode in ("RGBA", "LA", "P") else img)
    if isinstance(value, dict) and "path" in value:  # FileData-like dict from the API
        return _as_array(value["path"])
    raise TypeError(f"Unsupported ImageEditor image of type {type(value).__name__}: expected an array, a PIL "
                    "image or a file path.")


def _painted(layer: np.ndarray) -> np.ndarray:
    """Where a layer was painted, as bool ``[H, W]``."""
    if layer.ndim == 2:
        # Grayscale layer (image_mode="L"): no alpha to read, so painted = non-zero. Upstream returns all zeros
        # in this mode (gradio #8198), which therefore reads as "nothing painted" rather than a wrong mask.
        return layer > 0
    if layer.ndim == 3 and layer.shape[2] in (2, 4):
        return layer[..., -1] > 0  # alpha > 0 exactly where the brush went
    if layer.ndim == 3 and layer.shape[2] == 3:
        return layer.any(axis=2)  # RGB layer: black is "unpainted"
    if layer.ndim == 3 and layer.shape[2] == 1:
        return layer[..., 0] > 0
    raise ValueError(f"An ImageEditor layer has an unexpected shape {tuple(layer.shape)}; expected [H, W], "
                     "[H, W, 3] or [H, W, 4].")


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if mask.shape == tuple(size):
        return mask
    # nearest keeps the mask binary; PIL size is (width, height)
    img = Image.fromarray(mask.astype(np.uint8) * 255).resize((size[1], size[0]), Image.NEAREST)
    return np.asarray(img) > 127


def editor_mask(editor_value: Any, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """Normalise a ``gr.ImageEditor`` value into a bool mask ``[H, W]`` (True = painted), or ``None``.

    ``editor_value`` is the dict the component passes (``background``, ``layers``, ``composite``). ``size`` is the
    ``(height, width)`` of the mask to return; by default the background's size.

    - ``None`` / no dict / ``layers`` empty or missing -> ``None`` (gradio #10298 returns ``layers=[]``; with nothing
      painted Gradio 6 does the same): the caller says "nothing painted" instead of failing.
    - Several layers are merged (union); a single layer with ``layers=False`` is the #9265 recipe.
    - A layer whose size differs from the background (output silently resized, #10298) is resized to the
      background's size with nearest-neighbour sampling.
    - A layer with nothing painted (all alpha 0, or the all-zero result of ``image_mode="L"``, #8198) -> ``None``.
    """
    if editor_value is None:
        return None
    if not isinstance(editor_value, dict):
        raise TypeError(f"editor_mask expects the dict a gr.ImageEditor returns (background, layers, composite), "
                        f"got {type(editor_value).__name__}.")
    layers = [a for a in (_as_array(v) for v in (editor_value.get("layers") or [])) if a is not None]
    if not layers:
        return None
    background = _as_array(editor_value.get("background"))
    if background is None:
        background = _as_array(editor_value.get("composite"))
    target = tuple(background.shape[:2]) if background is not None else tuple(layers[0].shape[:2])
    mask = np.zeros(target, dtype=bool)
    for layer in layers:
        mask |= _resize_mask(_painted(layer), target)
    if not mask.any():
        return None
    if size is not None:
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (height, width) with positive entries, got {size!r}.")
        mask = _resize_mask(mask, (int(size[0]), int(size[1])))
    return mask

