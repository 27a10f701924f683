"""Style morphing (SMIS / GroupDNet): change the appearance of one class at a time, live.

Pick a Toyscapes example, upload a label map, or paint one with the class palette; pick a class and two styles
for it (random codes from seeds, or codes encoded from example photos). The slider morphs that class from style
A to style B while every other class keeps its code:

    z_c(t) = (1 - t) z^A_c + t z^B_c        (class c only; z_k = z^A_k for k != c)

The label map does not change during a morph, so every CG-Norm's label-map branch (gamma(m), beta(m)) is computed
once when the morph is set up (``synthkit.pipelines.smis.Morpher``) and each slider tick runs only the code path
of the generator. The "resample" buttons redraw one class's code (z_k ~ N(0, I)); the appearance mixture copies
the codes of chosen classes from a reference photo (encoded with GroupDNet's encoder).

    python -m demos.style_morphing            # this tab alone, on 127.0.0.1

Per-session state (``gr.State``) holds a ``MorphSession``: the label map, both endpoint latents, the morphed class
and its ``Morpher`` (with the label-map cache). API (``gradio_client``, one session per ``Client``); the setup
endpoints return ``(label map used, class, image, notes)``:

- ``/morph_example(example, cls, source_a, seed_a, photo_a, source_b, seed_b, photo_b, t)``: a held-out Toyscapes map;
- ``/morph_upload(label_map, cls, ...)``: an uploaded label map (palette colours or an index PNG);
- ``/morph_canvas(canvas, cls, ...)``: the painted ``gr.ImageEditor`` value;
- ``/morph_styles(cls, source_a, seed_a, photo_a, source_b, seed_b, photo_b, t)``: new class / styles, same map;
- ``/morph_tick(t) -> image``: one frame (the slider's ``.change``, ``trigger_mode="always_last"``);
- ``/morph_resample(cls, t) -> (image, notes)``: redraw class ``cls``'s code;
- ``/morph_mix(ref_photo, ref_upload, classes, t) -> (image, notes)``: appearance mixture from a reference.

Set ``SYNTHKIT_SMIS_MODEL`` to a registry name or a checkpoint folder to serve another GroupDNet (default: the
bundled ``smis-toyscapes``).
"""
from __future__ import annotations

import functools
import html
import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import gradio as gr
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from demos.common import (
    DEMO_DEVICE, MAX_SEED, AppBlocks, editor_event, launch_kwargs, notes_markdown, read_image_upload, user_errors, whole_number,
)
from synthkit.pipelines.smis import DEFAULT_MODEL, Morpher, SMISPipeline, load_smis

MODEL_ENV = "SYNTHKIT_SMIS_MODEL"
N_EXAMPLES = 8  # held-out Toyscapes label maps offered as examples
N_PHOTOS = 8  # held-out Toyscapes photos offered as style / reference sources
PHOTO_OFFSET = 100  # photos are test-split indices 100..107, so they are not the example maps' own photos
RESAMPLE_SEED_BASE = 1_000_000  # seeds of the resample buttons: base + number of draws in this session
StyleSource = Literal["seed", "photo"]
STYLE_SOURCES = ("seed", "photo")

DESCRIPTION = """\
**SMIS** (Zhu et al., *Semantically Multi-modal Image Synthesis*, CVPR 2020) gives every class of the label map its
own latent code, so the appearance of one class can change while the rest of the image stays put. Pick a label
map (a Toyscapes example, an upload, or paint one with the class colours), pick a **class** and two **styles** for
it (random codes from seeds, or codes encoded from example photos), then move the **slider**: the class morphs
from style A to style B, live. The *resample* buttons redraw one class's code; the *appearance mixture* copies
classes from a reference photo.

*Precomputed:* whenever the label map, the class or a style changes, the server renders {n} frames of the morph
(t = 0, {step:g}, …, 1); while you move the slider the page shows the nearest of them at once (no round trip), and
the exact frame for the slider's position is computed when you let go.
"""

# Frames of the morph rendered ahead for the page to show while the slider moves (JPEG: previews; the exact PNG
# frame arrives on release). 21 frames x ~9 ms on 2 CPU cores, after the new map's first image is already shown.
PREVIEW_FRAMES = 21
PREVIEW_QUALITY = 92
# The page's side: on every slider input, show the nearest precomputed frame in the image (no server call).
SCRUB_JS = """(t) => {
  const box = document.querySelector('#morph-frames .morph-frames');
  const img = document.querySelector('#morph-image img');
  if (box && img && box.children.length) {
    if (box.dataset.decoded !== '1') {  // decode every frame once, so that the next moves only swap the src
      box.dataset.decoded = '1';
      for (const f of box.children) f.decode().catch(() => {});
    }
    const n = box.children.length, k = Math.round(Math.min(Math.max(Number(t), 0), 1) * (n - 1));
    const src = box.children[k].getAttribute('src');
    if (img.getAttribute('src') !== src) img.setAttribute('src', src);
  }
  return [];
}"""


# ----------------------------------------------------------------------------------------------------------------
# Model, examples, photos
# ----------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def get_pipeline() -> SMISPipeline:
    """The served GroupDNet (``$SYNTHKIT_SMIS_MODEL`` or the bundled ``smis-toyscapes``), loaded once; it generates
    with the folded-weight forward (``fast=True``: same images, the slider's tick is what the user waits for)."""
    return load_smis(os.environ.get(MODEL_ENV) or DEFAULT_MODEL, device=DEMO_DEVICE, fast=True)


@functools.lru_cache(maxsize=4)
def _toyscapes_test(size: int, length: int):
    from synthkit.data.toyscapes import ToyscapesDataset

    return ToyscapesDataset(size=size, length=length, split="test", seed=0)


def _check_toyscapes(pipe: SMISPipeline, what: str) -> None:
    from synthkit.data.toyscapes import CLASSES

    H, W = pipe.image_size
    if tuple(pipe.class_names) != tuple(CLASSES) or H != W:
        raise ValueError(f"{what} are Toyscapes scenes; this model has other classes or a non-square size "
                         f"({', '.join(pipe.class_names[:4])}..., {H}x{W}): upload a label map instead.")


@functools.lru_cache(maxsize=N_EXAMPLES)
def example_sample(index: int):
    """Held-out Toyscapes example ``index`` (0..N_EXAMPLES-1) at the model's size."""
    pipe = get_pipeline()
    _check_toyscapes(pipe, "The examples")
    return _toyscapes_test(pipe.image_size[0], PHOTO_OFFSET + N_PHOTOS).sample(index)


@functools.lru_cache(maxsize=N_PHOTOS)
def photo_sample(index: int):
    """Style / reference photo ``index`` (0..N_PHOTOS-1): a held-out Toyscapes image with its label map."""
    pipe = get_pipeline()
    _check_toyscapes(pipe, "The example photos")
    return _toyscapes_test(pipe.image_size[0], PHOTO_OFFSET + N_PHOTOS).sample(PHOTO_OFFSET + index)


@functools.lru_cache(maxsize=N_PHOTOS)
def photo_latent(index: int) -> Tensor:
    """The per-class codes of photo ``index`` under its own label map (encoder mean), [1, C, 8, h, w]."""
    s = photo_sample(index)
    return get_pipeline().encode(s.image, s.label).z


def example_choices() -> list[tuple[str, int]]:
    return [(f"example {i} ({example_sample(i).scene_name})", i) for i in range(N_EXAMPLES)]


def photo_choices() -> list[tuple[str, int]]:
    return [(f"photo {i} ({photo_sample(i).scene_name})", i) for i in range(N_PHOTOS)]


# ----------------------------------------------------------------------------------------------------------------
# Input checks (each raises ValueError with what to do; @user_errors shows it)
# ----------------------------------------------------------------------------------------------------------------

def _t(value: Any) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"The morph position must be a number between 0 and 1, got {value!r}.") from None
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"The morph position must be between 0 (style A) and 1 (style B), got {t}.")
    return t


def _class_id(pipe: SMISPipeline, cls: Any, label: np.ndarray | None = None) -> int:
    """A class name (or id) -> id; absent from ``label`` -> ValueError naming the classes present."""
    if cls is None or (isinstance(cls, str) and not cls.strip()):
        raise ValueError(f"No class chosen: pick one of {', '.join(pipe.class_names)}.")
    if isinstance(cls, str):
        name = cls.strip().lower()
        if name not in pipe.class_names:
            raise ValueError(f"Unknown class {cls!r}: this model's classes are {', '.join(pipe.class_names)}.")
        c = pipe.class_names.index(name)
    else:
        c = pipe.class_id(int(cls) if isinstance(cls, float) and cls.is_integer() else cls)
    if label is not None and not (label == c).any():
        present = ", ".join(pipe.class_names[k] for k in np.unique(label))
        raise ValueError(f"The class {pipe.class_names[c]!r} is not in this label map, so changing its style would "
                         f"change nothing. Classes in the map: {present}.")
    return c


def _style(source: StyleSource, seed: Any, photo: Any, which: str) -> tuple[Tensor, str]:
    """A style endpoint -> (latent [1, C, 8, h, w], description)."""
    pipe = get_pipeline()
    if source not in STYLE_SOURCES:
        raise ValueError(f"Style {which} source must be 'seed' or 'photo', got {source!r}.")
    if source == "seed":
        s = whole_number(seed, f"Style {which} seed", 0, MAX_SEED)
        return pipe.random_latent(s).cpu(), f"seed {s}"
    p = whole_number(photo, f"Style {which} photo", 0, N_PHOTOS - 1)
    return photo_latent(p), f"photo {p}"


# ----------------------------------------------------------------------------------------------------------------
# The per-session state
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MorphSession:
    """One user's morph: immutable, so a slider tick never sees a half-updated session (events may overlap).

    ``z_a`` / ``z_b``: the two endpoints [1, C, 8, h, w]; only class ``cls`` differs between the frames of the
    morph (``Morpher`` takes z_k from ``z_a`` for k != cls). ``morpher`` holds the label-map cache.
    """

    label: np.ndarray  # uint8 [H, W] at the model's size
    z_a: Tensor
    z_b: Tensor
    cls: int
    morpher: Morpher
    styles: tuple[str, str] = ("", "")
    draws: int = 0  # resample clicks so far (their seeds)
    notes: tuple[str, ...] = field(default=())

    def frame(self, t: float) -> np.ndarray:
        return self.morpher(t)


def _session(label: np.ndarray, z_a: Tensor, z_b: Tensor, cls: int, **kw: Any) -> MorphSession:
    """Build the Morpher: runs every CG-Norm's label-map branch once for this map."""
    return MorphSession(label, z_a, z_b, cls, get_pipeline().morpher(label, z_a, z_b, cls=cls), **kw)


def _default_class(pipe: SMISPipeline, label: np.ndarray) -> int:
    """The class with most pixels (the most visible morph)."""
    return int(np.bincount(label.ravel(), minlength=len(pipe.class_names)).argmax())


def _absent_from_photo_note(pipe: SMISPipeline, c: int, source: Any, photo: Any, which: str) -> str | None:
    if source != "photo":
        return None
    p = int(float(photo))
    if not (photo_sample(p).label == c).any():
        return (f"Photo {p} (style {which}) has no {pipe.class_names[c]}: its code for that class is what the "
                "encoder makes of an empty crop, so expect a bland, average look.")
    return None


def _setup(label_input: Any, notes: list[str], cls: Any, source_a: Any, seed_a: Any, photo_a: Any,
           source_b: Any, seed_b: Any, photo_b: Any, t: Any, keep_class: bool = False) -> tuple[Any, ...]:
    """A new label map (or new styles): decode it, pick the class, encode the styles, build the Morpher."""
    pipe = get_pipeline()
    t = _t(t)
    label, _, map_notes = pipe.prepare_label(label_input)
    notes = [*notes, *map_notes]
    if keep_class:
        c = _class_id(pipe, cls, label)
    else:  # a new map: keep the chosen class if the map has it, otherwise its largest class (and say so)
        try:
            c = _class_id(pipe, cls, label)
        except ValueError:
            c = _default_class(pipe, label)
            if cls:
                notes.append(f"This map has no {html.escape(str(cls))}: morphing {pipe.class_names[c]} instead.")
    z_a, desc_a = _style(source_a, seed_a, photo_a, "A")
    z_b, desc_b = _style(source_b, seed_b, photo_b, "B")
    for source, photo, which in ((source_a, photo_a, "A"), (source_b, photo_b, "B")):
        notes.append(_absent_from_photo_note(pipe, c, source, photo, which))
    session = _session(label, z_a, z_b, c, styles=(desc_a, desc_b), notes=tuple(n for n in notes if n))
    return _setup_outputs(session, t)


@user_errors
def preview_frames_html(session: MorphSession | None) -> str:
    """The morph's ``PREVIEW_FRAMES`` frames (t = k / (n - 1)) as hidden JPEG data URLs, for the page's scrubbing."""
    import base64
    import io

    session = session or default_session()
    imgs = []
    for k in range(PREVIEW_FRAMES):
        t = k / (PREVIEW_FRAMES - 1)
        buf = io.BytesIO()
        Image.fromarray(session.frame(t)).save(buf, format="JPEG", quality=PREVIEW_QUALITY)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        imgs.append(f'<img alt="" data-t="{t:.4f}" src="data:image/jpeg;base64,{data}">')
    return f'<div class="morph-frames" data-n="{PREVIEW_FRAMES}">{"".join(imgs)}</div>'


def _setup_outputs(session: MorphSession, t: float) -> tuple[Any, ...]:
    pipe = get_pipeline()
    from synthkit.data.palette import labels_to_color

    name = pipe.class_names[session.cls]
    status = (f"Morphing **{name}** from style A ({session.styles[0]}) to style B ({session.styles[1]}); "
              f"the other classes keep style A's codes.")
    notes = notes_markdown(session.notes)
    text = status + ("\n\n" + notes if notes else "")
    present = [pipe.class_names[k] for k in np.unique(session.label)]
    return (labels_to_color(session.label, pipe.palette), gr.update(choices=present, value=name),
            session.frame(t), text, session)


def default_session() -> MorphSession:
    """Example 0 with the widgets' defaults (seed 0 -> seed 1, the largest class)."""
    pipe = get_pipeline()
    label = example_sample(0).label
    return _session(label, pipe.random_latent(0).cpu(), pipe.random_latent(1).cpu(), _default_class(pipe, label),
                    styles=("seed 0", "seed 1"))


# ----------------------------------------------------------------------------------------------------------------
# Label-map inputs
# ----------------------------------------------------------------------------------------------------------------
def read_label_upload(path: Any, notes: list[str]) -> Any:
    """An uploaded label map -> something ``prepare_label`` takes (a path for index PNGs, else an RGB array).

    Index maps (mode L / P / I: pixel value = class id) are read as ids; colour maps go through ``read_image_upload``
    (RGBA flattened on white, grayscale expanded, each with a note) and then to the nearest palette colour.
    """
    rgb_notes: list[str] = []
    rgb = read_image_upload(path, rgb_notes, what="label map")  # validates: a decodable image, not too large
    with Image.open(path) as img:
        mode = img.mode
    if mode in ("L", "P", "I", "I;16", "1"):
        notes.append(f"The label map is a {mode}-mode image: its pixel values were read as class ids.")
        return os.fspath(path)
    notes.extend(rgb_notes)
    return rgb


def read_canvas(editor: Any, notes: list[str]) -> np.ndarray:
    """The ``gr.ImageEditor`` value -> RGB [H, W, 3] of the painted label map (its composite)."""
    if not isinstance(editor, dict):
        raise ValueError("The canvas is empty: pick an example or upload a label map, then paint on it.")
    image = editor.get("composite")
    if image is None:
        image = editor.get("background")
    if image is None:
        raise ValueError("The canvas is empty: pick an example or upload a label map, then paint on it.")
    if isinstance(image, (str, os.PathLike)):
        return read_image_upload(image, notes, what="painted label map")
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[..., 3:].astype(np.float32) / 255.0
        if (alpha < 1).any():
            notes.append("Unpainted transparent areas of the canvas were filled with white.")
        a = (a[..., :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return a.astype(np.uint8)


def editor_value(label_rgb: np.ndarray) -> dict[str, Any]:
    """A fresh canvas showing ``label_rgb`` as its background, ready to paint on."""
    return {"background": label_rgb, "layers": [], "composite": label_rgb}


# ----------------------------------------------------------------------------------------------------------------
# Events
# ----------------------------------------------------------------------------------------------------------------
@user_errors
def morph_example(example: Any, cls: Any, source_a: Any, seed_a: Any, photo_a: Any, source_b: Any, seed_b: Any,
                  photo_b: Any, t: Any, session: MorphSession | None = None) -> tuple[Any, ...]:
    """Held-out Toyscapes example -> (label map used, class dropdown, image at t, notes, session)."""
    i = whole_number(example, "Example", 0, N_EXAMPLES - 1)
    return _setup(example_sample(i).label, [], cls, source_a, seed_a, photo_a, source_b, seed_b, photo_b, t)


@user_errors
def morph_upload(path: Any, cls: Any, source_a: Any, seed_a: Any, photo_a: Any, source_b: Any, seed_b: Any,
                 photo_b: Any, t: Any, session: MorphSession | None = None) -> tuple[Any, ...]:
    """Uploaded label map (file) -> (label map used, class dropdown, image at t, notes, session)."""
    notes: list[str] = []
    label_input = read_label_upload(path, notes)
    return _setup(label_input, notes, cls, source_a, seed_a, photo_a, source_b, seed_b, photo_b, t)


@user_errors
def morph_canvas(editor: Any, cls: Any, source_a: Any, seed_a: Any, photo_a: Any, source_b: Any, seed_b: Any,
                 photo_b: Any, t: Any, session: MorphSession | None = None) -> tuple[Any, ...]:
    """Painted label map (ImageEditor value) -> (label map used, class dropdown, image at t, notes, session)."""
    notes: list[str] = []
    rgb = read_canvas(editor, notes)
    return _setup(rgb, notes, cls, source_a, seed_a, photo_a, source_b, seed_b, photo_b, t)


@user_errors
def morph_styles(cls: Any, source_a: Any, seed_a: Any, photo_a: Any, source_b: Any, seed_b: Any, photo_b: Any,
                 t: Any, session: MorphSession | None = None) -> tuple[Any, ...]:
    """Same label map, new class and/or styles -> (label map used, class dropdown, image at t, notes, session)."""
    session = session or default_session()
    return _setup(session.label, [], cls, source_a, seed_a, photo_a, source_b, seed_b, photo_b, t, keep_class=True)


@user_errors
def morph_tick(t: Any, session: MorphSession | None = None) -> tuple[np.ndarray, Any]:
    """One slider position -> (frame uint8 [H, W, 3], state). Only the generator's code path runs.

    The state is written back only when this tick created the (default) session: a tick that overlaps a resample
    or mixture click must not put the older session back over the newer one.
    """
    if session is not None:
        return session.frame(_t(t)), gr.skip()
    session = default_session()
    return session.frame(_t(t)), session


@user_errors
def morph_resample(cls: Any, t: Any, session: MorphSession | None = None) -> tuple[np.ndarray, str, MorphSession]:
    """Redraw class ``cls``'s code: z_k ~ N(0, I) in both endpoints (for the morphed class: endpoint B only)."""
    pipe = get_pipeline()
    session = session or default_session()
    t = _t(t)
    k = _class_id(pipe, cls, session.label)
    seed = RESAMPLE_SEED_BASE + session.draws
    fresh = pipe.random_latent(seed).cpu()[:, k]
    z_a, z_b = session.z_a.clone(), session.z_b.clone()
    name = pipe.class_names[k]
    if k == session.cls:  # the morphed class: a new target style, so the slider now runs A -> a new B
        z_b[:, k] = fresh
        note = f"New style B for {name} (seed {seed}); style A is kept."
        styles = (session.styles[0], f"seed {seed}")
    else:  # another class: same new code at both ends, so only the morph of the chosen class moves with t
        z_a[:, k] = fresh
        z_b[:, k] = fresh
        note = f"New code for {name} (seed {seed}); the morphed class and the other classes are kept."
        styles = session.styles
    new = replace(session, z_a=z_a, z_b=z_b, styles=styles, draws=session.draws + 1, notes=(note,),
                  morpher=pipe.morpher(session.label, z_a, z_b, cls=session.cls))
    return new.frame(t), notes_markdown([note]), new


def _reference(ref_photo: Any, ref_upload: Any, notes: list[str]) -> Tensor:
    """The reference's codes: an uploaded photo (its label map predicted by the offline Toyscapes segmenter) or an
    example photo (its own label map)."""
    pipe = get_pipeline()
    if ref_upload:
        _check_toyscapes(pipe, "Uploaded reference photos are segmented as Toyscapes scenes; they")
        rgb = read_image_upload(ref_upload, notes, what="reference photo")
        x, img_notes = pipe.prepare_image(rgb)
        notes.extend(img_notes)
        from synthkit.backbones import load_backbone

        with torch.no_grad():
            label = load_backbone("toyscapes").segment(x.cpu()).argmax(1)[0].to(torch.uint8).numpy()
        notes.append("The reference photo's label map was predicted by the offline Toyscapes segmenter.")
        return pipe.encode(rgb, label).z
    p = whole_number(ref_photo, "Reference photo", 0, N_PHOTOS - 1)
    return photo_latent(p)


@user_errors
def morph_mix(ref_photo: Any, ref_upload: Any, classes: Any, t: Any,
              session: MorphSession | None = None) -> tuple[np.ndarray, str, MorphSession]:
    """Appearance mixture: the chosen classes take their codes from the reference (for the morphed class: style B)."""
    pipe = get_pipeline()
    session = session or default_session()
    t = _t(t)
    if not classes:
        raise ValueError("No classes chosen for the mixture: tick the classes that should look like the reference.")
    ids = [_class_id(pipe, c, session.label) for c in ([classes] if isinstance(classes, str) else classes)]
    notes: list[str] = []
    z_ref = _reference(ref_photo, ref_upload, notes).to(session.z_a.device)
    z_a, z_b = session.z_a.clone(), session.z_b.clone()
    styles = session.styles
    for k in ids:
        z_b[:, k] = z_ref[:, k]
        if k == session.cls:
            styles = (styles[0], "reference")
            notes.append(f"{pipe.class_names[k]} is the morphed class: the reference is its new style B (t = 1).")
        else:
            z_a[:, k] = z_ref[:, k]
    names = ", ".join(pipe.class_names[k] for k in ids)
    notes.insert(0, f"Appearance of {names} taken from the reference.")
    new = replace(session, z_a=z_a, z_b=z_b, styles=styles, notes=tuple(notes),
                  morpher=pipe.morpher(session.label, z_a, z_b, cls=session.cls))
    return new.frame(t), notes_markdown(notes), new


def _controls_for(session: MorphSession | None) -> list[Any]:
    """Resample buttons (one per palette class; only the classes in the map are clickable) and the mixture's
    class choices."""
    pipe = get_pipeline()
    session = session or default_session()
    present = set(int(k) for k in np.unique(session.label))
    buttons = [gr.update(interactive=k in present) for k in range(len(pipe.class_names))]
    names = [pipe.class_names[k] for k in sorted(present)]
    return [*buttons, gr.update(choices=names, value=[])]


def _canvas_for(label_rgb: np.ndarray) -> dict[str, Any]:
    return editor_value(np.asarray(label_rgb))


def palette_legend(pipe: SMISPipeline) -> str:
    items = []
    for name, (r, g, b) in zip(pipe.class_names, pipe.palette.colors.tolist()):
        items.append(f'<span style="white-space:nowrap"><span style="display:inline-block;width:0.9em;height:0.9em;'
                     f'border:1px solid #8886;vertical-align:middle;background:rgb({r},{g},{b})"></span> '
                     f"{name} <code>#{r:02x}{g:02x}{b:02x}</code></span>")
    return "**Palette** (brush colours): " + " &nbsp; ".join(items)


# ----------------------------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------------------------
def build_tab() -> None:
    """Create the app's components inside the caller's ``gr.Tab`` (or Blocks) and register its events."""
    pipe = get_pipeline()
    H, W = pipe.image_size
    gr.Markdown(DESCRIPTION.format(n=PREVIEW_FRAMES, step=1 / (PREVIEW_FRAMES - 1)))
    first = default_session()
    from synthkit.data.palette import labels_to_color

    label0 = labels_to_color(first.label, pipe.palette)
    first_class = pipe.class_names[first.cls]
    present0 = [pipe.class_names[k] for k in np.unique(first.label)]
    hexes = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in pipe.palette.colors.tolist()]
    state = gr.State(None, time_to_live=3600)  # MorphSession; None = the default session (built lazily)

    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            example = gr.Dropdown(example_choices(), value=0, label="Toyscapes example (held-out label maps)",
                                  elem_id="morph-example")
            # (no nested gr.Tab here: demos/app.py counts the Tabs of the whole app as its pages)
            with gr.Group():
                canvas = gr.ImageEditor(
                    editor_value(label0), type="numpy", image_mode="RGBA", format="png", sources=("upload",),
                    brush=gr.Brush(colors=hexes, default_color=hexes[0], color_mode="fixed", default_size=6),
                    layers=False, transforms=(), canvas_size=(W, H), height=360,  # no eraser=False: Svelte error (6.31)
                    label=f"Label map ({W}×{H}): paint with the class colours", elem_id="morph-canvas",
                    elem_classes=["pixelated"],
                )
                canvas_btn = gr.Button("Use the painted map", elem_id="morph-canvas-apply")
            with gr.Accordion("Upload a label map", open=False):
                upload = gr.Image(type="filepath", sources=["upload"], image_mode=None,
                                  label="Upload a label map (palette colours, or an index PNG of class ids)",
                                  elem_id="morph-upload")
            gr.Markdown(palette_legend(pipe))
            label_view = gr.Image(label0, label="Label map used (after decoding and resizing)", type="numpy",
                                  format="png", height=200, interactive=False, elem_classes=["pixelated"],
                                  elem_id="morph-label")
        with gr.Column(scale=2):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    image = gr.Image(first.frame(0.0), label=f"Generated image ({W}×{H})", type="numpy",
                                     format="png", height=384, interactive=False, elem_classes=["pixelated"],
                                     elem_id="morph-image")
                    t = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Morph: style A (0) → style B (1)",
                                  elem_id="morph-t")
                    # hidden (CSS) rather than visible=False, which Gradio would not put in the page at all
                    frames = gr.HTML(preview_frames_html(first), elem_id="morph-frames", padding=False)
                with gr.Column(scale=2, min_width=240):
                    # allow_custom_value: an API call naming a class outside the list reaches our check, which
                    # says what is wrong (Gradio's own check would only list the choices)
                    cls = gr.Dropdown(present0, value=first_class, label="Class to morph", allow_custom_value=True,
                                      elem_id="morph-class")
                    with gr.Group():
                        source_a = gr.Radio(list(STYLE_SOURCES), value="seed", label="Style A from")
                        with gr.Row():
                            seed_a = gr.Number(0, precision=0, label="seed A", minimum=0, elem_id="morph-seed-a")
                            photo_a = gr.Dropdown(photo_choices(), value=0, label="photo A")
                    with gr.Group():
                        source_b = gr.Radio(list(STYLE_SOURCES), value="seed", label="Style B from")
                        with gr.Row():
                            seed_b = gr.Number(1, precision=0, label="seed B", minimum=0, elem_id="morph-seed-b")
                            photo_b = gr.Dropdown(photo_choices(), value=0, label="photo B")
                    styles_btn = gr.Button("Apply class and styles", variant="primary", elem_id="morph-apply")
            notes = gr.Markdown(_setup_outputs(first, 0.0)[3], elem_id="morph-notes")
            gr.Markdown("**Resample one class** (a new random code for it; the rest stays):")
            with gr.Row():
                present_ids = set(int(k) for k in np.unique(first.label))
                resample_btns = [
                    gr.Button(name, size="sm", min_width=60, interactive=k in present_ids,
                              elem_id=f"morph-resample-{name}")
                    for k, name in enumerate(pipe.class_names)
                ]
            resample_cls = gr.Textbox(label="Class to resample", visible=False)  # the API's parameter
            with gr.Accordion("Appearance mixture from a reference photo", open=False):
                with gr.Row():
                    ref_photo = gr.Dropdown(photo_choices(), value=1, label="Reference: example photo")
                    ref_upload = gr.Image(type="filepath", sources=["upload"], height=160,
                                          label="...or upload a Toyscapes-like photo", elem_id="morph-ref-upload")
                mix_classes = gr.Dropdown(present0, value=[], multiselect=True, allow_custom_value=True,
                                          label="Classes that take the reference's look", elem_id="morph-mix-classes")
                mix_btn = gr.Button("Mix", elem_id="morph-mix")

    styles = [source_a, seed_a, photo_a, source_b, seed_b, photo_b]
    setup_outputs = [label_view, cls, image, notes, state]
    controls = [*resample_btns, mix_classes]

    def then_frames(event: Any) -> Any:  # every event that makes a new morph renders its preview frames next
        return event.success(preview_frames_html, state, frames, api_visibility="private", show_progress="hidden")

    # .change: a Dropdown's .input fires twice per mouse pick in Gradio 6.31 (see semantic_inpainting)
    picked = example.change(morph_example, [example, cls, *styles, t, state], setup_outputs, api_name="morph_example")
    then_frames(editor_event(picked, _canvas_for, [label_view], [canvas], after="success", api_visibility="private")
                .success(_controls_for, state, controls, api_visibility="private"))
    then_frames(upload.upload(morph_upload, [upload, cls, *styles, t, state], setup_outputs, api_name="morph_upload")
                .success(_controls_for, state, controls, api_visibility="private"))
    then_frames(editor_event(canvas_btn.click, morph_canvas, [canvas, cls, *styles, t, state], setup_outputs,
                             api_name="morph_canvas")
                .success(_controls_for, state, controls, api_visibility="private"))
    then_frames(gr.on([styles_btn.click, cls.input], morph_styles, [cls, *styles, t, state], setup_outputs,
                      api_name="morph_styles"))
    # while the slider moves: the nearest precomputed frame, in the page (no round trip); on release: the exact
    # frame from the server (a server tick per move showed stale frames behind the thumb on a busy server)
    t.input(None, t, None, js=SCRUB_JS)
    t.release(morph_tick, [t, state], [image, state], api_name="morph_tick", show_progress="hidden")
    # each button knows its class (a Button as an input would be missing from the API page's parameters, and a
    # call with the listed ones failed); the API's /morph_resample takes the class name from a hidden field
    for k, btn in enumerate(resample_btns):
        then_frames(btn.click(functools.partial(morph_resample, pipe.class_names[k]), [t, state],
                              [image, notes, state], api_visibility="private"))
    then_frames(resample_cls.submit(morph_resample, [resample_cls, t, state], [image, notes, state],
                                    api_name="morph_resample"))
    then_frames(mix_btn.click(morph_mix, [ref_photo, ref_upload, mix_classes, t, state], [image, notes, state],
                              api_name="morph_mix"))


def build_demo() -> gr.Blocks:
    """The app alone (its Space serves this)."""
    with AppBlocks(title="Style morphing: SMIS / GroupDNet (synthkit)", analytics_enabled=False) as demo:
        gr.Markdown("# Style morphing (SMIS / GroupDNet)\nChange the look of one class at a time, live.")
        build_tab()
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


if __name__ == "__main__":
    build_demo().launch(server_name="127.0.0.1", **launch_kwargs())
