"""Semantic inpainting and compositing (Semantic Pyramid): paint a region, choose how much of it to keep.

**Inpaint.** Pick an example (held-out Toyscapes scenes) or upload an image, paint the region to regenerate with
the Brush, choose a pyramid level and a seed. Outside the painted region the generator receives every level
shallower than the chosen one (so it keeps the pixels' texture there); inside it only the chosen level. Level 1
(conv1) keeps the texture of the region too (a near copy), the deepest level (fc8) keeps only what the classifier
thinks the image is, so the region is free to change. The generator redraws the whole image; by default the
app pastes the original pixels back outside the region (untick "Keep the original pixels" to see all of it).

**Composite.** Paint the object to take from a second image; it is pasted into the background at the chosen level
(the background's features outside the object, the object's inside), and the generator blends the two.

    python -m demos.semantic_inpainting            # this tab alone, on 127.0.0.1

API (``gradio_client``):

- ``/pyramid_inpaint(editor, level, seed, keep_outside) -> (input_with_region, result, notes)``: ``editor`` is the
  ``gr.ImageEditor`` value (``background``, ``layers``, ``composite``); ``level`` 1 (conv1) .. 7 (fc8);
  ``keep_outside`` (default True) pastes the original pixels back outside the region;
- ``/pyramid_composite(background, object_editor, level, seed) -> (cut_and_paste, result, notes)``: ``background``
  an image file;
- ``/pyramid_example(name) -> editor value`` and ``/pyramid_background_example(name) -> image``: the examples;
- ``/pyramid_level_info(level) -> markdown``: what a level keeps.

The model runs at its own resolution (64x64 for the bundled ``pyramid-toyscapes``); the editor shows examples
enlarged ``display_scale()`` times (nearest neighbour) so that painting is comfortable, and the app undoes that
enlargement exactly. Any other image is centre-cropped to a square and resized, and the notes say so. The model
can be replaced with ``SYNTHKIT_PYRAMID_MODEL=<registry name | folder | Hub id>`` (the tests use a tiny one).
"""
from __future__ import annotations

import functools
import os
import random
from typing import Any

import gradio as gr
import numpy as np

from demos.common import (
    DEMO_DEVICE,
    AppBlocks,
    MAX_UPLOAD_PIXELS,
    editor_event,
    editor_mask,
    launch_kwargs,
    notes_markdown,
    on_gpu,
    read_image_upload,
    user_errors,
    whole_number,
)
from synthkit.pipelines.pyramid import PyramidPipeline, PyramidResult, load_pyramid, to_image_tensor, to_mask_tensor
from synthkit.viz import to_uint8

MODEL_ENV = "SYNTHKIT_PYRAMID_MODEL"
DISPLAY_SIZE = 256  # pixels of the editor's canvas and of the shown results
N_EXAMPLES = 6
REGION_COLOR = np.array([255, 0, 200], dtype=np.float32)  # brush colour, also used to tint the region in the input view
MASK_COVERAGE = 0.3  # a model pixel is in the region when at least this share of its display pixels were painted

DESCRIPTION = """\
**Semantic Pyramid** (Shocher, Gandelsman et al., CVPR 2020) generates images from the features a *frozen
classifier* computes on a reference image, at one chosen depth of the classifier: shallow levels (conv1) still
hold the texture, deep ones (fc7, fc8) only the meaning. Paint a region with the **Brush**: the generator keeps the
shallow features outside it and regenerates the inside from the **level** you choose; the **seed** draws another
version. The model is small and trained on Toyscapes, so expect Toyscapes-like scenes at {size}×{size}.
"""


@functools.lru_cache(maxsize=1)
def get_pipeline() -> PyramidPipeline:
    """The Semantic Pyramid pipeline (``$SYNTHKIT_PYRAMID_MODEL`` or the bundled model), loaded once per process."""
    return load_pyramid(os.environ.get(MODEL_ENV) or None, device=DEMO_DEVICE)


def display_scale(pipe: PyramidPipeline | None = None) -> int:
    """How many display pixels one model pixel gets in the editor (256 // model size, at least 1)."""
    pipe = pipe or get_pipeline()
    return max(1, DISPLAY_SIZE // pipe.image_size)


# ----------------------------------------------------------------------------------------------------------------
# Levels
# ----------------------------------------------------------------------------------------------------------------
def level_name(level: Any, pipe: PyramidPipeline | None = None) -> str:
    """Slider value 1..L (or a level name such as "conv3") -> the level's name; ValueError naming the valid range."""
    pipe = pipe or get_pipeline()
    names = pipe.levels
    if isinstance(level, str) and level.strip() in names:
        return level.strip()
    valid = f"a whole number from 1 ({names[0]}, keep texture) to {len(names)} ({names[-1]}, keep only meaning)"
    if level is None or (isinstance(level, str) and not level.strip()):
        raise ValueError(f"Level is empty: choose {valid}.")
    try:
        number = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"Level must be {valid} or a level name ({', '.join(names)}), got {level!r}.") from None
    if not number.is_integer() or not 1 <= number <= len(names):
        raise ValueError(f"Level must be {valid}, got {level!r}.")
    return names[int(number) - 1]


def level_description(name: str, pipe: PyramidPipeline | None = None) -> str:
    """One line on what a level is and what it keeps, from the model's config."""
    pipe = pipe or get_pipeline()
    c = pipe.config
    i = c.level_index(name)
    depth = i / max(1, c.num_levels - 1)
    if c.is_spatial(i):
        shape = f"a {c.level_sizes[i]}×{c.level_sizes[i]} map of {c.level_channels[i]} channels"
        keeps = ("colours and texture, almost a copy" if depth < 0.2 else
                 "the parts and their rough colours" if depth < 0.45 else
                 "where each kind of thing is (the layout), not how it looks")
    else:
        shape = f"a vector of {c.level_channels[i]} numbers (no layout)"
        keeps = ("what the scene contains, nowhere in particular" if i < c.num_levels - 1 else
                 "only the classifier's class scores: the meaning, nothing else")
    return f"**{name}** (level {i + 1} of {c.num_levels}): {shape}; keeps {keeps}."


@user_errors
def level_info(level: Any) -> str:
    """Markdown for the level slider's current value."""
    return level_description(level_name(level))



# ----------------------------------------------------------------------------------------------------------------
# Images: the editor's display size <-> the model's resolution
# ----------------------------------------------------------------------------------------------------------------
def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement [H, W, C] -> [H * scale, W * scale, C] (exactly invertible by slicing)."""
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def _as_uint8_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8:
            raise TypeError(f"The {what} must be 8-bit (uint8), got {value.dtype}.")
        return value
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(value, Image.Image):
        return np.asarray(value.convert("RGBA" if "A" in value.getbands() else value.mode))
    if isinstance(value, (str, os.PathLike)):
        return read_image_upload(value, what=what)
    raise TypeError(f"The {what} must be an image, got {type(value).__name__}.")


def model_input(image: np.ndarray, pipe: PyramidPipeline, notes: list[str], what: str = "image") -> np.ndarray:
    """An image from the editor -> what to give the pipeline: uint8 [S, S, 3] when it is exactly the app's own
    enlargement of an S x S image (undone silently), otherwise the image itself (the pipeline crops, resizes and
    converts it, and says so). Fully opaque RGBA (how the editor sends every image) loses its alpha silently."""
    a = image
    if a.ndim == 3 and a.shape[2] == 4 and (a[..., 3] == 255).all():
        a = a[..., :3]
    if a.ndim == 3 and a.shape[2] == 3 and a.shape[0] > 1 and (a[..., 0] == a[..., 1]).all() and (
        a[..., 1] == a[..., 2]
    ).all():
        notes.append(f"The {what} is grayscale (R = G = B): the model, trained on colour scenes, sees a gray image.")
    S, k = pipe.image_size, display_scale(pipe)
    if a.ndim == 3 and a.shape[2] == 3 and a.shape[:2] == (S * k, S * k) and k > 1:
        small = a[::k, ::k]
        if np.array_equal(enlarge(small, k), a):
            return np.ascontiguousarray(small)
    return a


def model_mask(mask: np.ndarray, image: np.ndarray, pipe: PyramidPipeline) -> np.ndarray:
    """A painted bool mask at the editor's size -> the mask to give the pipeline with ``image`` (from
    :func:`model_input`): block-averaged to S x S when ``image`` was reduced to S x S (a model pixel is in the
    region when >= ``MASK_COVERAGE`` of it was painted), else unchanged (the pipeline resizes it with the image)."""
    S = pipe.image_size
    if image.shape[:2] == (S, S) and mask.shape != (S, S) and mask.shape[0] % S == 0 and mask.shape[1] % S == 0:
        kh, kw = mask.shape[0] // S, mask.shape[1] // S
        share = mask.reshape(S, kh, S, kw).mean(axis=(1, 3))  # [S, S]: painted share of each model pixel
        return share >= MASK_COVERAGE
    return mask


def tint_region(image: np.ndarray, mask: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """uint8 [H, W, 3] with the region (bool [H, W]) tinted in the brush colour, to show what will be regenerated."""
    out = image.astype(np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * REGION_COLOR
    return out.round().astype(np.uint8)


def _resize_mask_to(mask: np.ndarray, size: int) -> np.ndarray:
    """Bool mask [h, w] -> [size, size] after the pipeline's centre crop, for the input view only."""
    t, _ = to_mask_tensor(mask, mask.shape[:2], size)
    return t[0, 0].numpy() > 0.5


def _shown_input(pipe: PyramidPipeline, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The model-resolution image the pipeline saw, with the region tinted."""
    x, _ = to_image_tensor(image, pipe.image_size)  # [1, 3, S, S], cropped / resized / converted as the model saw it
    return tint_region(to_uint8(x[0]), _resize_mask_to(mask, pipe.image_size))


def _editor_parts(editor: Any, pipe: PyramidPipeline, notes: list[str], what: str) -> tuple[np.ndarray, np.ndarray]:
    """The ImageEditor value -> (image for the pipeline, mask for the pipeline); clear errors for what is missing."""
    if editor is None or not isinstance(editor, dict) or editor.get("background") is None:
        if isinstance(editor, dict) and editor.get("composite") is not None:
            editor = {**editor, "background": editor["composite"]}
        else:
            raise ValueError(f"There is no {what}: pick an example or upload an image, then paint on it.")
    raw = _as_uint8_array(editor["background"], what)
    if raw.ndim not in (2, 3) or min(raw.shape[:2]) < 2:
        raise ValueError(f"The {what} of shape {raw.shape} is not an image.")
    if raw.shape[0] * raw.shape[1] > MAX_UPLOAD_PIXELS:
        raise ValueError(f"The {what} is {raw.shape[1]}×{raw.shape[0]} pixels, larger than this demo accepts "
                         f"({MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels): downscale it first.")
    image = model_input(raw, pipe, notes, what)
    painted = editor_mask(editor, size=raw.shape[:2])
    if painted is None:
        raise ValueError(
            f"Nothing to regenerate: no region is painted on the {what}. Choose the Brush and paint over the part "
            "to change (or several parts), then press the button again."
        )
    mask = model_mask(painted, image, pipe)
    if not mask.any():
        raise ValueError(
            f"The painted strokes on the {what} are too thin: they cover less than {MASK_COVERAGE:.0%} of any model "
            f"pixel (one model pixel = {display_scale(pipe)} screen pixels). Paint with a larger brush."
        )
    return image, mask


def _result_notes(result: PyramidResult, pipe: PyramidPipeline, extra: list[str]) -> str:
    return notes_markdown([*extra, *result.notes, *pipe.notes])


# ----------------------------------------------------------------------------------------------------------------
# Events
# ----------------------------------------------------------------------------------------------------------------
@on_gpu(duration=30)
def _inpaint(pipe: PyramidPipeline, image: np.ndarray, mask: np.ndarray, level: str, seed: int) -> PyramidResult:
    return pipe.inpaint(image, mask, levels=[level], seed=seed)


def paste_outside(generated: np.ndarray, original: np.ndarray, region: np.ndarray) -> np.ndarray:
    """y = M * G + (1 - M) * x: the generated pixels inside the region, the original ones outside (uint8 [S, S, 3])."""
    return np.where(region[..., None], generated, original)


@user_errors
def inpaint_event(editor: Any, level: Any, seed: Any, keep_outside: Any = True) -> tuple[np.ndarray, np.ndarray, str]:
    """Editor value (image + painted region), level 1..L, seed, whether to paste the original pixels back outside
    the region -> (input with the region tinted, result, notes)."""
    pipe = get_pipeline()
    name, seed_i = level_name(level, pipe), whole_number(seed, "Seed")
    notes: list[str] = []
    image, mask = _editor_parts(editor, pipe, notes, "image")
    result = _inpaint(pipe, image, mask, name, seed_i)
    out = result.image
    if keep_outside:
        # The generator redraws the whole image (outside the region from the shallow features it was given, so
        # close to the input but not equal); the demo keeps the user's pixels there, as inpainting tools do.
        x, _ = to_image_tensor(image, pipe.image_size)
        out = paste_outside(out, to_uint8(x[0]), _resize_mask_to(mask, pipe.image_size))
    return _shown_input(pipe, image, mask), out, _result_notes(result, pipe, notes)


@on_gpu(duration=30)
def _composite(pipe: PyramidPipeline, background: np.ndarray, obj: np.ndarray, mask: np.ndarray, level: str,
               seed: int) -> PyramidResult:
    return pipe.composite(background, obj, mask, level=level, seed=seed)


@user_errors
def composite_event(background: Any, object_editor: Any, level: Any, seed: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """Background file, editor value (object image + painted object), level, seed -> (cut and paste, result, notes)."""
    pipe = get_pipeline()
    name, seed_i = level_name(level, pipe), whole_number(seed, "Seed")
    notes: list[str] = []
    if background is None:
        raise ValueError("There is no background image: pick a background example or upload an image.")
    bg = read_image_upload(background, notes, what="background") if isinstance(background, (str, os.PathLike)) \
        else model_input(_as_uint8_array(background, "background"), pipe, notes, "background")
    obj, mask = _editor_parts(object_editor, pipe, notes, "object image")
    result = _composite(pipe, bg, obj, mask, name, seed_i)
    # the naive pixel cut-and-paste, for comparison: what the generator has to blend
    S = pipe.image_size
    b, _ = to_image_tensor(bg, S)
    o, _ = to_image_tensor(obj, S)
    m, _ = to_mask_tensor(mask, mask.shape[:2], S)
    pasted = to_uint8(((1 - m) * b + m * o)[0])  # x = (1 - M) * background + M * object
    return pasted, result.image, _result_notes(result, pipe, notes)


@functools.lru_cache(maxsize=1)
def example_images() -> dict[str, np.ndarray]:
    """Held-out Toyscapes scenes (split "test") at the model's resolution: name -> uint8 [S, S, 3]."""
    from synthkit.data.toyscapes import SCENES, ToyscapesDataset

    pipe = get_pipeline()
    data = ToyscapesDataset(size=pipe.image_size, length=N_EXAMPLES, split="test", seed=0)
    out = {}
    for i in range(N_EXAMPLES):
        sample = data.sample(i)
        scene = SCENES[sample.scene] if isinstance(sample.scene, (int, np.integer)) else str(sample.scene)
        out[f"test scene {i} ({scene})"] = np.asarray(sample.image, dtype=np.uint8)
    return out


def _example(name: Any) -> np.ndarray:
    examples = example_images()
    if name not in examples:
        raise ValueError(f"Unknown example {name!r}: choose one of {', '.join(examples)}.")
    return examples[name]


@user_errors
def example_editor(name: Any) -> dict[str, Any]:
    """An example, enlarged for the editor, with nothing painted."""
    big = enlarge(_example(name), display_scale())
    return {"background": big, "layers": [], "composite": big}


@user_errors
def example_background(name: Any) -> np.ndarray:
    """An example as a background image (model resolution)."""
    return _example(name)


@user_errors
def random_seed() -> int:
    return random.randint(0, 99_999)


def _default_region(S: int, k: int) -> np.ndarray:
    """An RGBA layer (display size) painting the lower-middle of the scene, so the first result shows something."""
    layer = np.zeros((S * k, S * k, 4), dtype=np.uint8)
    y0, y1, x0, x1 = S * k * 9 // 16, S * k * 15 // 16, S * k // 4, S * k * 3 // 4
    layer[y0:y1, x0:x1, :3] = REGION_COLOR.astype(np.uint8)
    layer[y0:y1, x0:x1, 3] = 255
    return layer


def _editor(label: str, elem_id: str, value: Any) -> gr.ImageEditor:
    return gr.ImageEditor(
        value=value, label=label, type="numpy", image_mode="RGBA", sources=("upload", "clipboard"),
        layers=False, transforms=(), canvas_size=(DISPLAY_SIZE, DISPLAY_SIZE), format="png",
        brush=gr.Brush(colors=["rgb(255, 0, 200)"], color_mode="fixed", default_size=DISPLAY_SIZE // 16),
        eraser=gr.Eraser(default_size=DISPLAY_SIZE // 16), height=DISPLAY_SIZE + 140, elem_id=elem_id,
    )


def _image(label: str, elem_id: str, value: Any = None) -> gr.Image:
    return gr.Image(value, label=label, type="numpy", format="png", height=DISPLAY_SIZE, interactive=False,
                    elem_classes=["pixelated"], elem_id=elem_id)


def build_tab() -> None:
    """Create the app's components inside the caller's ``gr.Tab`` (or Blocks) and register its events."""
    pipe = get_pipeline()
    L, S, k = len(pipe.levels), pipe.image_size, display_scale(pipe)
    gr.Markdown(DESCRIPTION.format(size=S))
    names = list(example_images())
    first = enlarge(example_images()[names[0]], k)
    first_value = {"background": first, "layers": [_default_region(S, k)], "composite": first}
    default_level = next((i + 1 for i in range(L - 1, -1, -1) if pipe.config.is_spatial(i)), L)  # deepest map
    init_input, init_result, init_notes = inpaint_event(first_value, default_level, 0)
    slider_label = f"Level: 1 = {pipe.levels[0]} (keep texture) … {L} = {pipe.levels[-1]} (keep only meaning)"

    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            editor = _editor(f"Image: paint the region to regenerate (model {S}×{S}, shown ×{k})",
                             "pyramid-editor", first_value)
            example = gr.Dropdown(names, value=names[0], label="Example (held-out Toyscapes scenes)",
                                  elem_id="pyramid-example")
        with gr.Column(scale=2, min_width=240):
            level = gr.Slider(1, L, value=default_level, step=1, label=slider_label, elem_id="pyramid-level")
            info = gr.Markdown(level_description(pipe.levels[default_level - 1], pipe),
                               elem_id="pyramid-level-info")
            seed = gr.Number(value=0, precision=0, label="Seed", info="another seed, another version",
                             elem_id="pyramid-seed")
            keep = gr.Checkbox(True, label="Keep the original pixels outside the region",
                               info="off: show the generator's whole image (it redraws everything)",
                               elem_id="pyramid-keep")
            with gr.Row():
                run = gr.Button("Regenerate region", variant="primary", elem_id="pyramid-run")
                dice = gr.Button("Random seed", elem_id="pyramid-dice")
    with gr.Row():
        shown = _image(f"Input ({S}×{S}) with the region", "pyramid-input", init_input)
        result = _image("Result", "pyramid-result", init_result)
    notes = gr.Markdown(init_notes, elem_id="pyramid-notes")

    with gr.Accordion("Composite: paste an object from a second image", open=False,
                      elem_id="pyramid-composite"):
        gr.Markdown("Paint the **object** on the second image; it is pasted into the background at the chosen "
                    "level and the generator blends it in. Compare with the plain cut-and-paste.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=240):
                background = gr.Image(example_images()[names[0]], label="Background", type="filepath",
                                      sources=["upload", "clipboard"], format="png", height=DISPLAY_SIZE,
                                      elem_classes=["pixelated"], elem_id="pyramid-background")
                bg_example = gr.Dropdown(names, value=names[0], label="Background example",
                                         elem_id="pyramid-bg-example")
            with gr.Column(scale=3, min_width=300):
                obj_first = enlarge(example_images()[names[1]], k)
                obj_editor = _editor("Object image: paint the object to paste", "pyramid-object-editor",
                                     {"background": obj_first, "layers": [], "composite": obj_first})
                obj_example = gr.Dropdown(names, value=names[1], label="Object example",
                                          elem_id="pyramid-obj-example")
            with gr.Column(scale=2, min_width=240):
                c_level = gr.Slider(1, L, value=default_level, step=1, label=slider_label,
                                    elem_id="pyramid-c-level")
                c_info = gr.Markdown(level_description(pipe.levels[default_level - 1], pipe))
                c_seed = gr.Number(value=0, precision=0, label="Seed", elem_id="pyramid-c-seed")
                c_run = gr.Button("Composite", variant="primary", elem_id="pyramid-c-run")
        with gr.Row():
            pasted = _image("Cut and paste (pixels)", "pyramid-pasted")
            c_result = _image("Composite (Semantic Pyramid)", "pyramid-c-result")
        c_notes = gr.Markdown("", elem_id="pyramid-c-notes")

    # events that read or set an editor go through editor_event (demos/common.py: Gradio 6.31 re-uploads an
    # editor at every status change of any event once it has had a loading status)
    editor_event([run.click, seed.submit, keep.input], inpaint_event, [editor, level, seed, keep],
                 [shown, result, notes], api_name="pyramid_inpaint")
    editor_event(level.release, inpaint_event, [editor, level, seed, keep], [shown, result, notes],
                 api_visibility="private")
    level.change(level_info, inputs=level, outputs=info, api_name="pyramid_level_info", trigger_mode="always_last")
    editor_event(dice.click(random_seed, outputs=seed, api_name="pyramid_random_seed"), inpaint_event,
                 [editor, level, seed, keep], [shown, result, notes], api_visibility="private")
    # .change, not .input: Gradio 6.31 fires a Dropdown's .input twice for one mouse pick (the second reply
    # reset the editor again, after the user may have started painting); .change fires once, mouse or keyboard
    editor_event(example.change, example_editor, [example], [editor], api_name="pyramid_example")

    editor_event([c_run.click, c_seed.submit], composite_event, [background, obj_editor, c_level, c_seed],
                 [pasted, c_result, c_notes], api_name="pyramid_composite")
    c_level.change(level_info, inputs=c_level, outputs=c_info, api_visibility="private", trigger_mode="always_last")
    bg_example.change(example_background, inputs=bg_example, outputs=background, api_name="pyramid_background_example")
    editor_event(obj_example.change, example_editor, [obj_example], [obj_editor], api_visibility="private")


def build_demo() -> gr.Blocks:
    """The app alone (its Space serves this)."""
    with AppBlocks(title="Semantic inpainting: Semantic Pyramid (synthkit)", analytics_enabled=False) as demo:
        gr.Markdown("# Semantic inpainting (Semantic Pyramid)\nRegenerate a painted region from one level of a "
                    "classifier's features, or paste an object from another image.")
        build_tab()
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


if __name__ == "__main__":
    build_demo().launch(server_name="127.0.0.1", **launch_kwargs())
