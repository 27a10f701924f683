"""3D controls (Liao et al., CVPR 2020): a GAN that builds its image from 3D primitives, so you can move, turn,
scale, remove and re-colour each object and move the camera, and the picture follows.

Pick a seed (a scene); each object has its own sliders (x and z position on the ground, rotation about the up
axis, size, shown or not, a look seed: 0 keeps the sampled appearance). The camera orbits the scene (azimuth) and
rises (elevation; the model saw 20-45 degrees in training). **Turntable** renders the camera all around as a GIF.
**Layers** shows what the renderer gives the 2D generator for one object: its splatted point features, its soft
silhouette, the alpha the generator keeps and its depth.

    python -m demos.controls_3d            # this tab alone, on 127.0.0.1

API (``gradio_client``): ``/controls_scene(seed) -> (image, notes, azimuth, elevation, then per object x, z,
rotation, scale, shown, look)``: the sampled scene and its slider values; ``/controls_render(seed, azimuth,
elevation, layers_of, x0, z0, rot0, scale0, shown0, look0, x1, ...) -> (image, layers, notes)``;
``/controls_turntable(<the same inputs>, frames) -> gif path``. The model can be replaced with
``SYNTHKIT_CONTROLS3D_MODEL=<registry name | folder | Hub id>`` (the tests use a tiny one).
"""
from __future__ import annotations

import functools
import os
import tempfile
from typing import Any

import gradio as gr
import numpy as np

from demos.common import DEMO_DEVICE, AppBlocks, launch_kwargs, notes_markdown, user_errors, whole_number
from synthkit.pipelines.controllable3d import DEFAULT_MODEL, Controllable3DPipeline, Scene3D, load_controllable3d

MODEL_ENV = "SYNTHKIT_CONTROLS3D_MODEL"
DISPLAY = 256
PER_OBJECT = ("x", "z", "rotation", "scale", "shown", "look")
SCALE_RANGE = (0.5, 2.0)
NO_LAYERS = "none"


@functools.lru_cache(maxsize=1)
def get_pipeline() -> Controllable3DPipeline:
    return load_controllable3d(os.environ.get(MODEL_ENV) or DEFAULT_MODEL, device=DEMO_DEVICE)


def enlarge(image: np.ndarray, size: int = DISPLAY) -> np.ndarray:
    k = max(1, size // image.shape[0])
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1)


def _number(v: Any, what: str) -> float:
    if v is None or isinstance(v, bool):
        raise ValueError(f"{what} is empty: send a number.")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {v!r}.") from None
    if not np.isfinite(f):
        raise ValueError(f"{what} must be a finite number, got {v!r}.")
    return f


def _n_objects() -> int:
    return get_pipeline().G.config.n_primitives


def build_scene(seed: Any, azimuth: Any, elevation: Any, per_object: list[Any]) -> Scene3D:
    """The scene of ``seed`` with every control applied (per object: x, z, rotation, scale, shown, look)."""
    pipe, n = get_pipeline(), _n_objects()
    if len(per_object) != n * len(PER_OBJECT):
        raise ValueError(f"expected {n * len(PER_OBJECT)} object values ({', '.join(PER_OBJECT)} for each of {n} "
                         f"objects), got {len(per_object)}")
    scene = pipe.sample(whole_number(seed, "Seed"))
    scene = scene.camera(_number(azimuth, "Azimuth"), _number(elevation, "Elevation"))
    notes = list(scene.notes)
    lo, hi = SCALE_RANGE
    for k in range(n):
        x, z, rot, scale, shown, look = per_object[k * 6:(k + 1) * 6]
        name = f"object {k + 1}"
        s = _number(scale, f"{name} scale")
        if not lo <= s <= hi:
            notes.append(f"{name}: scale {s:g} is outside {lo:g}..{hi:g}; clamped.")
            s = min(max(s, lo), hi)
        scene = scene.move(k, (_number(x, f"{name} x"), None, _number(z, f"{name} z")))
        notes += [f"{name}: {n}" for n in scene.notes]
        scene = scene.rotate(k, _number(rot, f"{name} rotation")).scale(k, s)
        notes += [f"{name}: {n}" for n in scene.notes]
        look_seed = whole_number(look, f"{name} look seed")
        if look_seed:
            scene = scene.swap_appearance(k, seed=look_seed)
        if shown is False or shown in ("false", "False", 0):
            scene = scene.remove(k)
            notes += scene.notes
        elif shown not in (True, 1, "true", "True"):
            raise ValueError(f"{name} shown must be true or false, got {shown!r}")
    return _with_notes(scene, notes)


def _with_notes(scene: Scene3D, notes: list[str]) -> Scene3D:
    from dataclasses import replace

    return replace(scene, notes=tuple(dict.fromkeys(notes)))


def _layers_strip(scene: Scene3D, obj: int) -> np.ndarray:
    """Features | silhouette | alpha | depth of one object, side by side (uint8)."""
    L = scene.layers()
    f = L["features"][obj]
    f = (f - f.min()) / (np.ptp(f) + 1e-6)
    feat = np.moveaxis(f[:3] if f.shape[0] >= 3 else np.repeat(f[:1], 3, 0), 0, -1)
    gray = lambda a: np.repeat(np.clip(a, 0, 1)[..., None], 3, -1)  # noqa: E731
    d = L["depth"][obj]
    shown = L["alpha"][obj] > 0
    dn = np.where(shown, 1 - (d - d[shown].min()) / (np.ptp(d[shown]) + 1e-6), 0) if shown.any() else np.zeros_like(d)
    tiles = [feat, gray(L["rendered_alpha"][obj]), gray(L["alpha"][obj]), gray(dn)]
    strip = np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=1) for t in tiles], 1)
    k = max(1, 128 // scene.G.config.image_size)  # tiles of about 128 px
    strip = (strip * 255).astype(np.uint8)
    return np.repeat(np.repeat(strip, k, axis=0), k, axis=1)


def _layers_index(layers_of: Any) -> int | None:
    n = _n_objects()
    if layers_of in (None, NO_LAYERS, ""):
        return None
    choices = [f"object {k + 1}" for k in range(n)]
    if layers_of not in choices:
        raise ValueError(f"layers of {layers_of!r}: there is no such object; choose one of {', '.join(choices)} "
                         f"or {NO_LAYERS!r}")
    return choices.index(layers_of)


@user_errors
def scene_defaults(seed: Any) -> list[Any]:
    """The sampled scene of ``seed``: its image, notes, camera and each object's slider values."""
    scene = get_pipeline().sample(whole_number(seed, "Seed"))
    out: list[Any] = [enlarge(scene.image), _notes(scene), round(scene.azimuth, 1), round(scene.elevation, 1)]
    for k in range(_n_objects()):
        x, _, z = scene.translation(k)
        out += [round(x, 3), round(z, 3), 0.0, 1.0, True, 0]
    return out


def _notes(scene: Scene3D) -> str:
    vis = scene.visible()
    lines = list(scene.notes)
    hidden = [str(k + 1) for k, v in enumerate(vis) if not v and scene.keep[k]]
    if hidden:
        lines.append(f"Object {', '.join(hidden)} is shown but not visible (out of view, behind another, or the "
                     "model drew it empty).")
    return notes_markdown(lines)


@user_errors
def render_event(seed: Any, azimuth: Any, elevation: Any, layers_of: Any, *per_object: Any):
    """(image, layers strip or None, notes) of the scene with every control applied."""
    obj = _layers_index(layers_of)
    scene = build_scene(seed, azimuth, elevation, list(per_object))
    layers = _layers_strip(scene, obj) if obj is not None else None
    return enlarge(scene.image), layers, _notes(scene)


@user_errors
def turntable_event(seed: Any, azimuth: Any, elevation: Any, layers_of: Any, *rest: Any) -> str:
    """A GIF of the camera going once around the edited scene (a new file per call: a served file never changes)."""
    *per_object, frames = rest
    n = whole_number(frames, "Frames", 4, 120)
    scene = build_scene(seed, azimuth, elevation, list(per_object))
    from PIL import Image

    images = [Image.fromarray(enlarge(f)) for f in scene.turntable(n)]
    fd, path = tempfile.mkstemp(prefix="turntable-", suffix=".gif")
    os.close(fd)
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0)
    return path


def build_tab() -> None:
    pipe = get_pipeline()
    cfg = pipe.G.config
    n = cfg.n_primitives
    first = scene_defaults(0)
    gr.Markdown(f"**3D-controllable synthesis** (Liao et al., CVPR 2020): the generator places {n} 3D primitives, "
                f"renders them with a camera and paints each with a 2D generator, so pose, camera and look are "
                f"separate controls, learned from images alone. Small model trained on Toyshapes3D "
                f"({cfg.image_size}×{cfg.image_size}); the camera saw {cfg.elevation_deg[0]:g}-"
                f"{cfg.elevation_deg[1]:g}° elevation in training.")
    tr = cfg.translation_range
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            with gr.Row():
                seed = gr.Number(value=0, precision=0, label="Seed", elem_id="c3d-seed", minimum=0)
                new = gr.Button("New scene", elem_id="c3d-new")
            azimuth = gr.Slider(0, 360, value=first[2], step=1, label="Camera azimuth (°)", elem_id="c3d-azimuth")
            elevation = gr.Slider(0, 80, value=first[3], step=1, label="Camera elevation (°)", elem_id="c3d-elevation")
            per_object: list[Any] = []
            for k in range(n):
                v = first[4 + 6 * k: 10 + 6 * k]
                with gr.Accordion(f"Object {k + 1}", open=k == 0):
                    per_object += [
                        gr.Slider(-tr[0], tr[0], value=v[0], step=0.01, label="x", elem_id=f"c3d-x{k}"),
                        gr.Slider(-tr[2], tr[2], value=v[1], step=0.01, label="z", elem_id=f"c3d-z{k}"),
                        gr.Slider(-180, 180, value=0, step=1, label="rotation (°)", elem_id=f"c3d-rot{k}"),
                        gr.Slider(*SCALE_RANGE, value=1.0, step=0.05, label="size ×", elem_id=f"c3d-scale{k}"),
                        gr.Checkbox(value=True, label="shown", elem_id=f"c3d-shown{k}"),
                        gr.Number(value=0, precision=0, minimum=0, label="look seed (0 = sampled)",
                                  elem_id=f"c3d-look{k}"),
                    ]
        with gr.Column(scale=2):
            image = gr.Image(first[0], label="Image", type="numpy", format="png", height=DISPLAY, interactive=False,
                             elem_classes=["pixelated"], elem_id="c3d-image")
            notes = gr.Markdown(first[1], elem_id="c3d-notes")
            # a Dropdown that lets any value through, so an API call with an unknown object gets our message
            # (which names the valid choices) rather than Gradio's own preprocessing error
            layers_of = gr.Dropdown([NO_LAYERS] + [f"object {k + 1}" for k in range(n)], value=NO_LAYERS,
                                    allow_custom_value=True, label="Layers of (features | silhouette | alpha | depth)",
                                    elem_id="c3d-layers-of")
            layers = gr.Image(label="Layers", type="numpy", format="png", interactive=False, elem_id="c3d-layers")
            with gr.Row():
                frames = gr.Number(value=24, precision=0, minimum=4, maximum=120, label="Turntable frames")
                spin = gr.Button("Turntable (GIF)", elem_id="c3d-turntable")
            gif = gr.Image(label="Turntable", type="filepath", interactive=False, elem_id="c3d-gif")
    inputs = [seed, azimuth, elevation, layers_of, *per_object]
    controls = [c for c in per_object]
    gr.on(triggers=[azimuth.release, elevation.release, layers_of.change]
          + [c.release if isinstance(c, gr.Slider) else (c.change if isinstance(c, gr.Checkbox) else c.submit)
             for c in controls],
          fn=render_event, inputs=inputs, outputs=[image, layers, notes], api_name="controls_render",
          trigger_mode="always_last")
    gr.on(triggers=[new.click, seed.submit], fn=scene_defaults, inputs=seed,
          outputs=[image, notes, azimuth, elevation, *per_object], api_name="controls_scene")
    spin.click(turntable_event, inputs=[*inputs, frames], outputs=gif, api_name="controls_turntable",
               concurrency_id="c3d-gif")


def build_demo() -> gr.Blocks:
    with AppBlocks(title="3D controls (synthkit)", analytics_enabled=False) as demo:
        gr.Markdown("# 3D controls (Liao et al.)\nMove, turn, remove and re-colour the objects of a generated scene.")
        build_tab()
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


if __name__ == "__main__":
    build_demo().launch(**launch_kwargs())
