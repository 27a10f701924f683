"""Embed and edit (Image2StyleGAN++ on StyleGAN2): put an image into the generator's W+ and noise space, then edit.

Pick an example (held-out Toyscapes scenes) or upload an image; choose what to do; paint on the image where the
operation needs a region; press **Run**. The embedding streams its progress (the current image every few steps)
and **Stop** cancels it (the result so far is kept). Operations:

- **Reconstruct**: W+ first (noise frozen), then the noise maps (W+ frozen): the paper's sequential schedule.
- **Inpaint**: paint the hole; W+ is fitted to the pixels outside it, then the noise, tied to the first pass inside.
- **Scribble edit**: paint colours onto the image; they guide the embedding where painted, the rest stays.
- **Crossover**: paint where the *second image* should show; the embedding blends the two.
- **Local style transfer**: paint where the *second image's style* should go.

    python -m demos.embed_and_edit            # this tab alone, on 127.0.0.1

API (``gradio_client``): ``/embed_run(editor, operation, second, steps_w, steps_noise, schedule) -> (image, notes)``
streams (the last message is the result); ``/embed_example(name) -> editor value``; ``/embed_second_example(name)``.
The model can be replaced with ``SYNTHKIT_STYLEGAN2_MODEL=<registry name | folder | Hub id>`` (the tests use a tiny
one). One embedding runs at a time (the others wait in the queue); the example buttons are not blocked by it.
"""
from __future__ import annotations

import functools
import os
import queue
import threading
from typing import Any, Iterator

import gradio as gr
import numpy as np

from demos.common import (
    DEMO_DEVICE,
    AppBlocks, editor_event, editor_mask, launch_kwargs, notes_markdown, read_image_upload, user_errors, whole_number,
)
from synthkit.pipelines.image2stylegan import DEFAULT_MODEL, Image2StyleGANPipeline, load_image2stylegan
from synthkit.viz import to_uint8

MODEL_ENV = "SYNTHKIT_STYLEGAN2_MODEL"
DISPLAY_SIZE = 256
N_EXAMPLES = 6
PREVIEW_EVERY = 10  # steps between streamed previews
OPERATIONS = ("Reconstruct", "Inpaint", "Scribble edit", "Crossover", "Local style transfer")
NEEDS_REGION = {"Inpaint": "the hole to fill", "Scribble edit": "colours to guide the edit",
                "Crossover": "where the second image goes", "Local style transfer": "where the style goes"}
NEEDS_SECOND = ("Crossover", "Local style transfer")


@functools.lru_cache(maxsize=1)
def get_pipeline() -> Image2StyleGANPipeline:
    """The served pipeline (``$SYNTHKIT_STYLEGAN2_MODEL`` or the bundled StyleGAN2), loaded once per process."""
    return load_image2stylegan(os.environ.get(MODEL_ENV) or DEFAULT_MODEL, device=DEMO_DEVICE)


@functools.lru_cache(maxsize=1)
def example_images() -> dict[str, np.ndarray]:
    from synthkit.data.toyscapes import SCENES, ToyscapesDataset

    S = get_pipeline().image_size
    data = ToyscapesDataset(size=max(S, 32), length=N_EXAMPLES, split="test", seed=0)
    out = {}
    for i in range(N_EXAMPLES):
        s = data.sample(i)
        out[f"{i + 1}: {SCENES[s.scene]}"] = s.image
    return out


def enlarge(image: np.ndarray) -> np.ndarray:
    k = max(1, DISPLAY_SIZE // image.shape[0])
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1)


def _example(name: Any) -> np.ndarray:
    examples = example_images()
    if name not in examples:
        raise ValueError(f"unknown example {name!r}; choose one of: {', '.join(examples)}")
    return examples[name]


@user_errors
def example_editor(name: Any) -> dict[str, Any]:
    return {"background": enlarge(_example(name)), "layers": [], "composite": enlarge(_example(name))}


@user_errors
def second_example(name: Any) -> np.ndarray:
    return enlarge(_example(name))


def _as_image(value: Any, what: str, notes: list[str]) -> np.ndarray | None:
    """An image from a component value: None, a numpy array or a file path (uploads are read carefully)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, dict) and "path" in value:  # a gradio_client FileData
        value = value["path"]
    return read_image_upload(value, notes, what=what)


def _editor_parts(editor: Any, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(image, painted mask or None, composite with the paint) of the editor value."""
    if not isinstance(editor, dict) or editor.get("background") is None:
        raise gr.Error("No image yet: pick an example or upload an image first.", print_exception=False)
    image = _as_image(editor["background"], "image", notes)
    composite = _as_image(editor.get("composite"), "image", []) if editor.get("composite") is not None else None
    mask = editor_mask({**editor, "background": image}, size=image.shape[:2])
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if composite is not None and composite.ndim == 3 and composite.shape[2] == 4:
        composite = composite[..., :3]
    return image, mask, composite


def _embed_call(pipe: Image2StyleGANPipeline, operation: str, image: np.ndarray, mask: np.ndarray | None,
                composite: np.ndarray | None, second: np.ndarray | None, kw: dict, notes: list[str]):
    if operation in NEEDS_REGION and mask is None:
        raise gr.Error(f"{operation} needs a painted region: paint {NEEDS_REGION[operation]} with the Brush.",
                       print_exception=False)
    if operation in NEEDS_SECOND and second is None:
        raise gr.Error(f"{operation} needs a second image: pick or upload one on the right.", print_exception=False)
    if mask is not None and mask.all() and operation != "Inpaint":
        notes.append("The painted region covers the whole image: that is a plain reconstruction of "
                     + ("the second image." if operation == "Crossover" else "the image."))
    if operation == "Reconstruct":
        return lambda **c: pipe.reconstruct(image, **kw, **c)
    if operation == "Inpaint":
        if mask.all():
            raise gr.Error("The hole covers the whole image: leave some pixels unpainted to embed from.",
                           print_exception=False)
        return lambda **c: pipe.inpaint(image, mask, **kw, **c)
    if operation == "Scribble edit":
        return lambda **c: pipe.scribble_edit(image, composite if composite is not None else image, mask, **kw, **c)
    if operation == "Crossover":
        return lambda **c: pipe.crossover(second, image, mask, **kw, **c)
    if operation == "Local style transfer":
        return lambda **c: pipe.local_style_transfer(image, second, mask, **kw, **c)
    raise ValueError(f"unknown operation {operation!r}; choose one of: {', '.join(OPERATIONS)}")


@user_errors
def run_event(editor: Any, operation: Any, second: Any, steps_w: Any = 100, steps_noise: Any = 50,
              schedule: Any = "sequential") -> Iterator[tuple[np.ndarray, str]]:
    """Stream (preview, status) while embedding, then (result, notes). Closing the stream stops the embedding."""
    pipe = get_pipeline()
    notes: list[str] = []
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; choose one of: {', '.join(OPERATIONS)}")
    if schedule not in ("sequential", "joint"):
        raise ValueError(f"schedule must be 'sequential' or 'joint', got {schedule!r}")
    kw = {"steps_w": whole_number(steps_w, "W+ steps", 0, 5000),
          "steps_noise": whole_number(steps_noise, "noise steps", 0, 5000), "schedule": schedule}
    if kw["steps_w"] + kw["steps_noise"] == 0:
        raise ValueError("W+ steps and noise steps are both 0: nothing to optimise; set at least one above 0")
    image, mask, composite = _editor_parts(editor, notes)
    second_img = _as_image(second, "second image", notes)
    call = _embed_call(pipe, operation, image, mask, composite, second_img, kw, notes)

    previews: queue.Queue = queue.Queue()
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def callback(stage: str, step: int, losses: dict, img: Any) -> bool:
        previews.put((stage, step, losses, to_uint8(img[0].clamp(-1, 1))))
        return stop.is_set()

    def work() -> None:
        try:
            outcome["result"] = call(callback=callback, callback_every=PREVIEW_EVERY)
        except Exception as exc:  # noqa: BLE001 - re-raised in the event below
            outcome["error"] = exc
        finally:
            previews.put(None)

    thread = threading.Thread(target=work, name="embed", daemon=True)
    thread.start()
    total = kw["steps_w"] + kw["steps_noise"]
    done = 0
    try:
        while True:
            item = previews.get()
            if item is None:
                break
            stage, step, losses, frame = item
            done += PREVIEW_EVERY
            yield enlarge(frame), (f"**Embedding** ({stage} stage, step {step}; about {min(done, total)} of {total} "
                                   f"steps): loss {losses['loss']:.4f}")
    finally:  # done, or the client went away / pressed Stop: the embedding stops at its next preview
        stop.set()
        while thread.is_alive():  # drain so the worker never blocks, and return only once it has stopped
            try:
                previews.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    res = outcome["result"]
    notes = notes + res.notes
    if res.psnr is not None:
        notes.append(f"PSNR {res.psnr:.1f} dB against the image where it was matched.")
    yield enlarge(res.image), notes_markdown(notes, title="Done")


def build_tab() -> None:
    pipe = get_pipeline()
    examples = list(example_images())
    gr.Markdown(f"**Image2StyleGAN++** (Abdal, Qin, Wonka, CVPR 2020): embed an image into a StyleGAN2's W+ and "
                f"noise space, then edit it. The generator is small and trained on Toyscapes "
                f"({pipe.image_size}×{pipe.image_size}), so expect Toyscapes-like results.")
    with gr.Row():
        with gr.Column():
            example = gr.Dropdown(examples, value=examples[0], label="Example", elem_id="embed-example")
            editor = gr.ImageEditor(value=example_editor(examples[0]), label="Image (paint here)",
                                    type="numpy", elem_id="embed-editor", height=DISPLAY_SIZE + 120,
                                    brush=gr.Brush(colors=["#ff00c8", "#ffffff", "#000000", "#2060ff", "#30b030"]))
            operation = gr.Radio(list(OPERATIONS), value="Reconstruct", label="Operation", elem_id="embed-operation")
        with gr.Column():
            second_ex = gr.Dropdown(examples, value=examples[1], label="Second image (crossover, style)")
            second = gr.Image(value=second_example(examples[1]), type="numpy", label="Second image",
                              elem_id="embed-second", height=DISPLAY_SIZE, format="png")
            with gr.Row():
                steps_w = gr.Number(value=100, precision=0, label="W+ steps", minimum=0, maximum=5000)
                steps_noise = gr.Number(value=50, precision=0, label="noise steps", minimum=0, maximum=5000)
            schedule = gr.Radio(["sequential", "joint"], value="sequential", label="Schedule")
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="embed-run")
                stop = gr.Button("Stop", elem_id="embed-stop")
        with gr.Column():
            result = gr.Image(label="Result", type="numpy", elem_id="embed-result", height=DISPLAY_SIZE, format="png",
                              interactive=False)
            status = gr.Markdown(elem_id="embed-status")
    job = editor_event(run.click, run_event, [editor, operation, second, steps_w, steps_noise, schedule],
                       [result, status], api_name="embed_run", concurrency_limit=1, concurrency_id="embed",
                       trigger_mode="once")  # a click while it embeds starts nothing (Stop ends it)
    stop.click(None, cancels=[job])
    # .change: a Dropdown's .input fires twice per mouse pick in Gradio 6.31 (see semantic_inpainting)
    editor_event(example.change, example_editor, [example], [editor], api_name="embed_example")
    second_ex.change(second_example, inputs=second_ex, outputs=second, api_name="embed_second_example")


def build_demo() -> gr.Blocks:
    with AppBlocks(title="Embed and edit (Image2StyleGAN++)") as demo:
        build_tab()
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


if __name__ == "__main__":
    build_demo().launch(**launch_kwargs())
