"""Toyscapes explorer: look at the procedural dataset every synthkit checkpoint is trained on.

Pick a scene category, a seed and an index: the app shows the rendered image, its coloured label map, the image
with the object boxes (BachGAN's layout input) and a legend of the classes present with the appearance mode
Toyscapes recorded for each one (the ground truth SMIS's per-class latents are checked against).

    python -m demos.toyscapes_explorer            # this tab alone, on 127.0.0.1

API (``gradio_client``): ``/toyscapes_render(scene, seed, index, size) -> (image, label_colors, boxes, legend)``.
"""
from __future__ import annotations

import random
from typing import Any

import gradio as gr
import numpy as np

from demos.common import AppBlocks, launch_kwargs, user_errors, whole_number
from synthkit.data import toyscapes
from synthkit.data.palette import get_palette
from synthkit.viz import colorize, draw_boxes

SIZES = (64, 128, 256)
RANDOM_SCENE = "random"

DESCRIPTION = """\
**Toyscapes** draws outdoor scenes procedurally, deterministically for each `(seed, index)`. Every class's
appearance mode (sky: day / sunset / ..., tree: summer / autumn / ...) is drawn independently and *recorded*, which
is what lets synthkit check whether a model's per-class latent controls only its class. The boxes are the
instance layout BachGAN generates from.
"""


def scene_choices() -> list[str]:
    """Dropdown choices: ``"random"`` (let ``(seed, index)`` decide) then every scene category."""
    return [RANDOM_SCENE, *toyscapes.SCENES]



def _scene_arg(scene: str | None) -> str | None:
    if scene is None or scene == RANDOM_SCENE:
        return None
    if scene not in toyscapes.SCENES:
        raise ValueError(f"Unknown scene {scene!r}: choose one of {', '.join(scene_choices())}.")
    return scene


def _swatch(rgb: tuple[int, int, int]) -> str:
    r, g, b = (int(c) for c in rgb)
    return (f'<span style="display:inline-block;width:1em;height:1em;border:1px solid #8886;'
            f'vertical-align:middle;background:rgb({r},{g},{b})"></span>')


def legend_markdown(sample: Any) -> str:
    """A Markdown table of the classes present: colour, share of pixels, instances, recorded appearance mode."""
    label = np.asarray(sample.label)
    counts = np.bincount(label.ravel(), minlength=len(toyscapes.CLASSES))
    n_boxes = np.bincount([int(b[0]) for b in sample.boxes], minlength=len(toyscapes.CLASSES))
    palette = get_palette("toyscapes").colors  # [C, 3] uint8, the colours of the label map
    scene = sample.scene
    scene_name = toyscapes.SCENES[scene] if isinstance(scene, (int, np.integer)) else str(scene)
    rows = [
        f"**Scene:** {scene_name} &nbsp; **size:** {label.shape[1]}×{label.shape[0]} &nbsp; "
        f"**objects:** {len(sample.boxes)}",
        "",
        "| | class | pixels | objects | appearance mode |",
        "|---|---|---:|---:|---|",
    ]
    for class_id, name in enumerate(toyscapes.CLASSES):
        if counts[class_id] == 0:
            continue
        style = sample.styles.get(name) if isinstance(sample.styles, dict) else None
        mode = "–"
        if style is not None and "mode" in style:
            modes = toyscapes.STYLE_MODES.get(name, ())
            mode_id = int(style["mode"])
            mode = f"{modes[mode_id]} ({mode_id})" if 0 <= mode_id < len(modes) else str(mode_id)
        share = 100.0 * counts[class_id] / label.size
        objects = str(n_boxes[class_id]) if n_boxes[class_id] else ""
        rows.append(f"| {_swatch(palette[class_id])} | {name} | {share:.1f}% | {objects} | {mode} |")
    return "\n".join(rows)


@user_errors
def render_sample(scene: str, seed: float, index: float, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Render one Toyscapes sample: ``(image, coloured label map, image with boxes, legend markdown)``.

    Images are uint8 ``[size, size, 3]``. Bad values raise ``ValueError`` (shown to the user by ``user_errors``).
    """
    seed_i = whole_number(seed, "Seed")
    index_i = whole_number(index, "Index")
    if size not in SIZES:
        raise ValueError(f"Size must be one of {', '.join(map(str, SIZES))} pixels, got {size!r}.")
    sample = toyscapes.render(seed_i, index_i, size=int(size), scene=_scene_arg(scene))
    palette = get_palette("toyscapes")
    label_rgb = colorize(sample.label, palette)
    # class names need ~10 px of text: at 64 px they would hide the objects, so only outlines there
    boxed = draw_boxes(sample.image, sample.boxes, palette=palette, labels=size >= 128)
    return sample.image, label_rgb, boxed, legend_markdown(sample)


@user_errors
def random_seed() -> int:
    """A fresh seed for the 'Random seed' button."""
    return random.randint(0, 99_999)


def build_tab() -> None:
    """Create the explorer's components inside the caller's ``gr.Tab`` (or Blocks) and register its events."""
    gr.Markdown(DESCRIPTION)
    initial = render_sample(RANDOM_SCENE, 0, 0, 128)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=240):
            scene = gr.Dropdown(scene_choices(), value=RANDOM_SCENE, label="Scene category",
                                info="'random' lets the seed and index decide", elem_id="toyscapes-scene")
            seed = gr.Number(value=0, precision=0, label="Seed", info="any whole number ≥ 0",
                             elem_id="toyscapes-seed")
            index = gr.Number(value=0, precision=0, label="Index",
                              info="sample number within the seed", elem_id="toyscapes-index")
            size = gr.Radio(list(SIZES), value=128, label="Size (pixels)", elem_id="toyscapes-size")
            with gr.Row():
                render_btn = gr.Button("Render", variant="primary", elem_id="toyscapes-render")
                dice_btn = gr.Button("Random seed", elem_id="toyscapes-dice")
        with gr.Column(scale=3):
            with gr.Row():
                image = gr.Image(initial[0], label="Image", type="numpy", format="png", height=256,
                                 interactive=False, elem_classes=["pixelated"], elem_id="toyscapes-image")
                labels = gr.Image(initial[1], label="Labels (palette colours)", type="numpy", format="png",
                                  height=256, interactive=False, elem_classes=["pixelated"],
                                  elem_id="toyscapes-labels")
                boxes = gr.Image(initial[2], label="Boxes (BachGAN layout)", type="numpy", format="png",
                                 height=256, interactive=False, elem_classes=["pixelated"],
                                 elem_id="toyscapes-boxes")
            legend = gr.Markdown(initial[3], elem_id="toyscapes-legend")

    inputs = [scene, seed, index, size]
    outputs = [image, labels, boxes, legend]
    gr.on(
        triggers=[render_btn.click, scene.change, size.change, seed.submit, index.submit],
        fn=render_sample,
        inputs=inputs,
        outputs=outputs,
        api_name="toyscapes_render",
        trigger_mode="always_last",
    )
    dice_btn.click(random_seed, outputs=seed, api_name="toyscapes_random_seed").then(
        render_sample, inputs=inputs, outputs=outputs, api_visibility="private"
    )


def build_demo() -> gr.Blocks:
    """The explorer alone (its Space serves this)."""
    with AppBlocks(title="Toyscapes explorer (synthkit)", analytics_enabled=False) as demo:
        gr.Markdown("# Toyscapes explorer\nThe procedural dataset behind every synthkit checkpoint.")
        build_tab()
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


if __name__ == "__main__":
    build_demo().launch(server_name="127.0.0.1", **launch_kwargs())
