"""Layout to image (BachGAN): draw a few labelled boxes, get a scene with a retrieved background.

Draw boxes on the canvas (tool "Create box", then pick the class), or type them in the table, and press
Generate. The app shows the generated image, the K layouts retrieved from the training memory (the boxes pasted
in, as the generator sees them) and the fused layout S that drives the generator. ``seed`` picks which K of the
2K best-matching layouts are fused (0 = the best K): the same boxes get other backgrounds.

    python -m demos.layout_to_image            # this tab alone, on 127.0.0.1

API (``gradio_client``), both returning ``(canvas, table, image, retrieved, fused, notes)``:

- ``/layout_generate(table, seed)``: boxes as a table with columns class, x0, y0, x1, y1 in model pixels (64x64);
- ``/layout_from_canvas(canvas, seed)``: the ``gradio_image_annotation`` value (image + boxes in canvas pixels).

The canvas is 256x256 (4 canvas pixels per model pixel), shown at 1:1 on a desktop screen. The annotator's known
bug, boxes rescaled wrongly when the image is larger than the component (gradio_image_annotation #33), was checked
in Chromium (``tests/test_demo_layout.py``, level 3): with the canvas shown at 1:1 and shrunk to 156 px on a 220 px
wide screen, a drawn box reaches the model within one model pixel. On such a narrow screen the annotator's label
dialog is wider than the screen (its OK button needs a sideways scroll). The table is the fallback editor.
"""
from __future__ import annotations

import functools
from typing import Any

import gradio as gr
import numpy as np

from demos.common import DEMO_DEVICE, AppBlocks, launch_kwargs, notes_markdown, user_errors, whole_number
from synthkit.pipelines.bachgan import BachGANPipeline, BachGANResult, load_bachgan, test_layouts

try:  # the box-drawing canvas (pinned in pyproject: gradio-image-annotation>=0.5.6,<0.6)
    from gradio_image_annotation import image_annotator
except ImportError:  # pragma: no cover - the table still works
    image_annotator = None

CANVAS_SCALE = 4  # canvas pixels per model pixel: 64x64 model -> 256x256 canvas
TABLE_HEADERS = ["class", "x0", "y0", "x1", "y1"]
N_EXAMPLES = 6

DESCRIPTION = """\
**BachGAN** (Li et al., CVPR 2020) makes a whole scene from a few **object boxes**: it *retrieves* training
layouts whose objects sit where your boxes are, pastes your boxes into them, *fuses* them into one soft layout
and renders it with a SPADE generator. Draw boxes for **tree**, **building** or **car** on the canvas
(coordinates 0–256; the model works at 64×64) or type them in the table (model pixels 0–64), then press
Generate. *Seed* 0 fuses the best 3 retrieved layouts; other seeds pick 3 of the best 6, so the background changes.
"""


@functools.lru_cache(maxsize=1)
def get_pipeline() -> BachGANPipeline:
    """The bundled model and its retrieval memory, loaded once per process."""
    return load_bachgan(device=DEMO_DEVICE)


# ----------------------------------------------------------------------------------------------------------------
# Conversions between the canvas, the table and the pipeline
# ----------------------------------------------------------------------------------------------------------------

def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, float) and np.isnan(cell)) or (isinstance(cell, str) and not cell.strip())


def table_rows(table: Any) -> list[list[Any]]:
    """A gr.Dataframe value (list of rows, dict with "data", or a pandas DataFrame) -> rows; empty rows dropped."""
    if table is None:
        return []
    if hasattr(table, "values") and hasattr(table, "columns"):  # pandas
        table = table.values.tolist()
    elif isinstance(table, dict):
        table = table.get("data") or []
    if isinstance(table, (str, bytes)) or not hasattr(table, "__iter__"):
        raise ValueError(f"The boxes table must be rows of class, x0, y0, x1, y1; got {type(table).__name__}.")
    rows = []
    for i, row in enumerate(table, start=1):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__iter__"):
            raise ValueError(f"Table row {i} must be 5 cells (class, x0, y0, x1, y1), got {row!r}.")
        row = list(row)
        if all(_blank(c) for c in row):
            continue
        if len(row) != 5:
            raise ValueError(f"Table row {i} has {len(row)} cells; each row is class, x0, y0, x1, y1.")
        cells = []
        for name, cell in zip(TABLE_HEADERS, row):
            if _blank(cell):
                raise ValueError(f"Table row {i}: {name} is empty; fill in class, x0, y0, x1, y1 or clear the row.")
            if name != "class" and isinstance(cell, str):
                try:
                    cell = float(cell)
                except ValueError:
                    raise ValueError(f"Table row {i}: {name} must be a number of pixels, got {cell!r}.") from None
            cells.append(cell)
        rows.append(cells)
    return rows


BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")


def normalized_canvas_boxes(boxes: Any) -> list[dict[str, Any]]:
    """The annotator's boxes as its own ``preprocess`` can read them, or a ``gr.Error`` saying what is wrong.

    gradio_image_annotation 0.5.6 reads a box colour only as the page sends it ("rgb(r, g, b)"), but gives it out
    as a list ([r, g, b]) from ``postprocess``; so the value its API page shows as the default failed with
    ``TypeError: expected string or bytes-like object``, and a box without a coordinate with ``KeyError``."""
    if not isinstance(boxes, (list, tuple)):
        raise gr.Error(f"The canvas boxes must be a list of boxes, got {type(boxes).__name__}.", print_exception=False)
    out = []
    for i, box in enumerate(boxes, start=1):
        if not isinstance(box, dict):
            raise gr.Error(f"Canvas box {i} is a {type(box).__name__}, not a dict with label, {', '.join(BOX_KEYS)}.",
                           print_exception=False)
        missing = [k for k in BOX_KEYS if k not in box]
        if missing:
            raise gr.Error(f"Canvas box {i} has no {', '.join(missing)}: each box needs label, {', '.join(BOX_KEYS)} "
                           "(canvas pixels).", print_exception=False)
        color = box.get("color")
        if isinstance(color, (list, tuple)) and len(color) == 3:
            box = {**box, "color": "rgb({}, {}, {})".format(*(int(c) for c in color))}
        elif color is not None and not isinstance(color, str):
            box = {k: v for k, v in box.items() if k != "color"}  # only the label decides the class
        out.append(box)
    return out


def _reads_its_own_output(canvas: Any) -> Any:
    """Give this annotator a ``preprocess`` that accepts the boxes its ``postprocess`` produces (see
    ``normalized_canvas_boxes``); an instance attribute, so the component class and its frontend stay the same."""
    original = canvas.preprocess

    def preprocess(payload: Any) -> Any:
        if payload is not None:
            payload = payload.model_copy(update={"boxes": normalized_canvas_boxes(payload.boxes)})
        return original(payload)

    canvas.preprocess = preprocess
    return canvas


def canvas_boxes(canvas: Any) -> tuple[list[list[Any]], tuple[int, int]]:
    """The annotator's value -> (rows (label, xmin, ymin, xmax, ymax) in canvas pixels, canvas (H, W))."""
    if not isinstance(canvas, dict) or canvas.get("image") is None:
        raise ValueError("The canvas has no image: press 'Reset canvas' or pick an example, then draw boxes.")
    image = canvas["image"]
    shape = np.asarray(image).shape if not isinstance(image, str) else None
    if shape is None or len(shape) < 2:
        raise ValueError("The canvas image could not be read: press 'Reset canvas' and draw the boxes again.")
    boxes = canvas.get("boxes") or []
    if not isinstance(boxes, (list, tuple)):
        raise ValueError(f"The canvas boxes must be a list, got {type(boxes).__name__}: press 'Reset canvas'.")
    rows = []
    for i, box in enumerate(boxes, start=1):
        if not isinstance(box, dict):
            raise ValueError(f"Box {i} on the canvas is not a box ({type(box).__name__}): delete it or reset the canvas.")
        label = box.get("label")
        label = label.strip() if isinstance(label, str) else label
        if label is None or label == "":
            raise ValueError(
                f"Box {i} on the canvas has no class: select it and choose one of "
                f"{', '.join(get_pipeline().box_class_names)}."
            )
        missing = [k for k in ("xmin", "ymin", "xmax", "ymax") if box.get(k) is None]
        if missing:
            raise ValueError(f"Box {i} on the canvas has no {', '.join(missing)}: draw it again.")
        rows.append([label, box["xmin"], box["ymin"], box["xmax"], box["ymax"]])
    return rows, (int(shape[0]), int(shape[1]))


def _class_colors() -> dict[str, tuple[int, int, int]]:
    from synthkit.data.palette import get_palette

    pipe = get_pipeline()
    colors = get_palette("toyscapes").colors
    return {pipe.class_names[c]: tuple(int(v) for v in colors[c]) for c in pipe.config.thing_classes}


def canvas_value(result: BachGANResult) -> dict[str, Any]:
    """The annotator's value: the generated image enlarged to the canvas, with the boxes used, in canvas pixels."""
    pipe = get_pipeline()
    s = CANVAS_SCALE
    image = np.repeat(np.repeat(result.image, s, axis=0), s, axis=1)  # nearest, [4H, 4W, 3]
    colors = _class_colors()
    boxes = []
    for c, x0, y0, x1, y1 in result.boxes:
        name = pipe.class_names[c]
        boxes.append({"label": name, "color": colors[name], "xmin": x0 * s, "ymin": y0 * s, "xmax": x1 * s,
                      "ymax": y1 * s})
    return {"image": image, "boxes": boxes}


def _outputs(result: BachGANResult) -> tuple[Any, ...]:
    pipe = get_pipeline()
    table = [[pipe.class_names[c], x0, y0, x1, y1] for c, x0, y0, x1, y1 in result.boxes]
    gallery = [
        (rgb, f"memory #{int(i)} · pooled IoU {s:.2f}")
        for rgb, i, s in zip(result.retrieved_colors(), result.retrieved_indices, result.retrieved_scores)
    ]
    gallery.append((result.layout_colors(), "box layout L (your boxes)"))
    canvas = canvas_value(result) if image_annotator is not None else None
    return canvas, table, result.image, gallery, result.fused_colors(), notes_markdown(result.notes)


# ----------------------------------------------------------------------------------------------------------------
# Events
# ----------------------------------------------------------------------------------------------------------------
@user_errors
def generate_from_table(table: Any, seed: Any) -> tuple[Any, ...]:
    """Boxes typed in the table (model pixels) -> (canvas, table, image, retrieved gallery, fused, notes)."""
    result = get_pipeline().layout_to_image(table_rows(table), seed=whole_number(seed, "Seed"))
    return _outputs(result)


@user_errors
def generate_from_canvas(canvas: Any, seed: Any) -> tuple[Any, ...]:
    """Boxes drawn on the canvas (canvas pixels) -> (canvas, table, image, retrieved gallery, fused, notes)."""
    rows, size = canvas_boxes(canvas)
    result = get_pipeline().layout_to_image(rows, seed=whole_number(seed, "Seed"), canvas_size=size)
    return _outputs(result)


@user_errors
def reset_canvas() -> tuple[Any, list]:
    """An empty grey canvas with no boxes, and an empty table."""
    H, W = get_pipeline().image_size
    image = np.full((H * CANVAS_SCALE, W * CANVAS_SCALE, 3), 200, dtype=np.uint8)
    image[:: 8 * CANVAS_SCALE] = 170  # a grid line every 8 model pixels
    image[:, :: 8 * CANVAS_SCALE] = 170
    return {"image": image, "boxes": []}, []


def _readable(boxes: list) -> bool:
    """An example worth showing: at most 8 boxes, the largest at least 150 model pixels (about 12x12)."""
    return 0 < len(boxes) <= 8 and max((x1 - x0) * (y1 - y0) for _, x0, y0, x1, y1 in boxes) >= 150


def example_tables(n: int = N_EXAMPLES) -> list[list[Any]]:
    """Held-out Toyscapes layouts (split "test", the first ``n`` readable ones) as (table, seed) examples."""
    pipe = get_pipeline()
    out = []
    for sample in test_layouts(10 * n, size=pipe.image_size[0]):
        if _readable(sample.boxes):
            out.append([[[pipe.class_names[c], x0, y0, x1, y1] for c, x0, y0, x1, y1 in sample.boxes], 0])
        if len(out) == n:
            break
    return out


def build_tab() -> None:
    """Create the app's components inside the caller's ``gr.Tab`` (or Blocks) and register its events."""
    pipe = get_pipeline()
    gr.Markdown(DESCRIPTION)
    examples = example_tables()
    first = pipe.layout_to_image(table_rows(examples[0][0]), seed=0)
    canvas0, table0, image0, gallery0, fused0, notes0 = _outputs(first)
    H, W = pipe.image_size
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            if image_annotator is not None:
                canvas = image_annotator(
                    canvas0,
                    label=f"Canvas ({W * CANVAS_SCALE}×{H * CANVAS_SCALE}): draw boxes, pick a class",
                    label_list=list(pipe.box_class_names),
                    label_colors=[_class_colors()[n] for n in pipe.box_class_names],
                    sources=None,
                    show_clear_button=False,
                    show_download_button=False,
                    show_share_button=False,
                    box_min_size=4,
                    height=H * CANVAS_SCALE + 60,
                    width=W * CANVAS_SCALE + 20,
                    elem_id="layout-canvas",
                )
                _reads_its_own_output(canvas)
                with gr.Row():
                    canvas_btn = gr.Button("Generate from canvas", variant="primary", elem_id="layout-generate-canvas")
                    reset_btn = gr.Button("Reset canvas", elem_id="layout-reset")
            else:
                canvas = gr.State(None)
                gr.Markdown("*The drawing canvas needs `gradio_image_annotation`; use the table below.*")
            seed = gr.Number(value=0, precision=0, label="Seed", info="0 = the best 3 retrieved layouts",
                             elem_id="layout-seed")
            table = gr.Dataframe(
                value=table0, headers=TABLE_HEADERS, datatype=["str", "number", "number", "number", "number"],
                column_count=5, row_count=1, type="array", interactive=True,
                label=f"Boxes (model pixels, 0–{W}; x1, y1 exclusive)", elem_id="layout-table",
            )
            table_btn = gr.Button("Generate from table", elem_id="layout-generate-table")
        with gr.Column(scale=2):
            with gr.Row():
                image = gr.Image(image0, label=f"Generated image ({W}×{H})", type="numpy", format="png",
                                 height=256, interactive=False, elem_classes=["pixelated"], elem_id="layout-image")
                fused = gr.Image(fused0, label="Fused layout S (argmax of its channels)", type="numpy",
                                 format="png", height=256, interactive=False, elem_classes=["pixelated"],
                                 elem_id="layout-fused")
            gallery = gr.Gallery(gallery0, label="Retrieved layouts (your boxes pasted in; black = removed objects)",
                                 columns=4, height=220, format="png", elem_classes=["pixelated"],
                                 elem_id="layout-retrieved")
            notes = gr.Markdown(notes0, elem_id="layout-notes")

    outputs = [canvas, table, image, gallery, fused, notes]
    gr.on(triggers=[table_btn.click, seed.submit], fn=generate_from_table, inputs=[table, seed], outputs=outputs,
          api_name="layout_generate")
    if image_annotator is not None:
        canvas_btn.click(generate_from_canvas, inputs=[canvas, seed], outputs=outputs, api_name="layout_from_canvas")
        reset_btn.click(reset_canvas, outputs=[canvas, table], api_name="layout_reset")
    gr.Examples(
        examples=examples,
        inputs=[table, seed],
        outputs=outputs,
        fn=generate_from_table,
        run_on_click=True,
        cache_examples=False,
        label="Held-out Toyscapes layouts",
        example_labels=[f"test layout {i} ({len(t)} boxes)" for i, (t, _) in enumerate(examples)],
        api_name="layout_example",
    )


def build_demo() -> gr.Blocks:
    """The app alone (its Space serves this)."""
    with AppBlocks(title="Layout to image: BachGAN (synthkit)", analytics_enabled=False) as demo:
        gr.Markdown("# Layout to image (BachGAN)\nA scene from a few boxes, with retrieved backgrounds.")
        build_tab()
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


if __name__ == "__main__":
    build_demo().launch(server_name="127.0.0.1", **launch_kwargs())
