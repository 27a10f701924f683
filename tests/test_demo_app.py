"""Demo tests, level 1: the app's functions and helpers called in-process (no server).

Level 2 (a real server on 127.0.0.1 driven by gradio_client) is tests/test_demo_client.py; level 3 (headless
Chromium) is tests/test_demo_browser.py.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from demos import common
from demos.common import editor_event, editor_mask, failure_report_of, notes_markdown, read_image_upload, resize_note, user_errors

# ------------------------------------------------------------------------------------------------ read_image_upload


def _save(tmp_path, name, img: Image.Image, **kw) -> str:
    path = tmp_path / name
    img.save(path, **kw)
    return str(path)


def test_read_rgb_png_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    notes: list[str] = []
    out = read_image_upload(_save(tmp_path, "a.png", Image.fromarray(arr)), notes)
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3)
    np.testing.assert_array_equal(out, arr)
    assert notes == []


def test_read_rgba_fills_transparency_with_white_and_says_so(tmp_path):
    arr = np.zeros((8, 8, 4), np.uint8)
    arr[..., 0] = 200
    arr[:4, :, 3] = 255  # top half opaque red-ish, bottom half fully transparent
    notes: list[str] = []
    out = read_image_upload(_save(tmp_path, "t.png", Image.fromarray(arr, "RGBA")), notes)
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[:4], np.broadcast_to([200, 0, 0], (4, 8, 3)))
    np.testing.assert_array_equal(out[4:], 255)
    assert any("transparent" in n for n in notes)


def test_read_opaque_rgba_adds_no_note(tmp_path):
    arr = np.full((4, 4, 4), 255, np.uint8)
    notes: list[str] = []
    read_image_upload(_save(tmp_path, "o.png", Image.fromarray(arr, "RGBA")), notes)
    assert notes == []


def test_read_grayscale_converts_with_note(tmp_path):
    arr = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    notes: list[str] = []
    out = read_image_upload(_save(tmp_path, "g.png", Image.fromarray(arr, "L")), notes)
    assert out.shape == (8, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], arr)
    assert any("grayscale" in n for n in notes)


def test_read_16bit_grayscale_is_scaled_to_8_bits(tmp_path):
    arr = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000).astype(np.uint16)
    path = _save(tmp_path, "g16.png", Image.fromarray(arr))
    notes: list[str] = []
    out = read_image_upload(path, notes)
    assert out.dtype == np.uint8 and out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    assert any("8 bits" in n for n in notes)


def test_read_applies_exif_rotation(tmp_path):
    img = Image.new("RGB", (40, 20), (10, 200, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° CW to display
    path = _save(tmp_path, "r.jpg", img, exif=exif.tobytes())
    notes: list[str] = []
    out = read_image_upload(path, notes)
    assert out.shape == (40, 20, 3)
    assert any("EXIF" in n for n in notes)


def test_read_animated_gif_takes_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 6), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "a.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    notes: list[str] = []
    out = read_image_upload(str(path), notes)
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50
    assert any("first frame" in n for n in notes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is a text file, not a picture\n", "not an image"),
        (b"", "empty file"),
    ],
    ids=["text-renamed-png", "empty"],
)
def test_read_non_images_raise_gr_error_with_message(tmp_path, content, message):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    with pytest.raises(gr.Error) as info:
        read_image_upload(str(path))
    assert message in info.value.message and "fake.png" in info.value.message


def test_read_truncated_png_raises_gr_error(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    data = good.read_bytes()
    bad = tmp_path / "cut.png"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(gr.Error, match="truncated or corrupt"):
        read_image_upload(str(bad))


def test_read_missing_and_none_and_too_large(tmp_path):
    with pytest.raises(gr.Error, match="No image was given"):
        read_image_upload(None)
    with pytest.raises(gr.Error, match="could not be found"):
        read_image_upload(str(tmp_path / "nope.png"))
    path = _save(tmp_path, "big.png", Image.new("RGB", (100, 100)))
    with pytest.raises(gr.Error, match="100×100 pixels, larger than"):
        read_image_upload(path, max_pixels=5_000)


def test_read_escapes_html_in_file_names(tmp_path):
    path = tmp_path / "<b>x.png"
    path.write_bytes(b"nope")
    with pytest.raises(gr.Error) as info:
        read_image_upload(str(path))
    assert "<b>" not in info.value.message and "&lt;b&gt;x.png" in info.value.message


# ------------------------------------------------------------------------------------------------ editor_mask


def _rgba_layer(h, w, painted: tuple[slice, slice] | None = None) -> np.ndarray:
    layer = np.zeros((h, w, 4), np.uint8)
    if painted is not None:
        layer[painted] = (255, 255, 255, 255)
    return layer


def _editor(background, layers, composite=None) -> dict:
    return {"background": background, "layers": layers, "composite": composite if composite is not None else background}


def test_editor_mask_none_and_wrong_type():
    assert editor_mask(None) is None
    with pytest.raises(TypeError, match="dict a gr.ImageEditor returns"):
        editor_mask(np.zeros((4, 4)))


def test_editor_mask_empty_layers_is_none_gradio_10298():
    """gradio #10298: `layers` comes back as an empty list even after painting; nothing to read -> None."""
    bg = np.zeros((32, 48, 4), np.uint8)
    assert editor_mask(_editor(bg, [])) is None
    assert editor_mask({"background": bg, "composite": bg}) is None  # key missing altogether


def test_editor_mask_reads_alpha_of_rgba_layer_exactly():
    """What Gradio 6.31 sends (TESTING.md): RGBA background + one RGBA layer, alpha > 0 where painted."""
    bg = np.full((32, 48, 4), 128, np.uint8)
    painted = (slice(5, 12), slice(20, 40))
    layer = _rgba_layer(32, 48, painted)
    layer[20, 3] = (0, 0, 0, 1)  # faint, but painted: alpha 1 counts
    mask = editor_mask(_editor(bg, [layer]))
    expected = np.zeros((32, 48), bool)
    expected[painted] = True
    expected[20, 3] = True
    assert mask.dtype == bool and mask.shape == (32, 48)
    np.testing.assert_array_equal(mask, expected)


def test_editor_mask_unpainted_layer_is_none():
    bg = np.zeros((16, 16, 4), np.uint8)
    assert editor_mask(_editor(bg, [_rgba_layer(16, 16)])) is None


def test_editor_mask_resized_layer_comes_back_at_background_size_gradio_10298():
    """gradio #10298: the editor output silently resized (1024 -> 675); the mask must match the background."""
    bg = np.zeros((1024, 1024, 4), np.uint8)
    layer = _rgba_layer(675, 675, (slice(0, 338), slice(0, 338)))  # top-left quarter, painted at 675 px
    mask = editor_mask(_editor(bg, [layer], composite=np.zeros((675, 675, 4), np.uint8)))
    assert mask.shape == (1024, 1024)
    assert mask[:500, :500].all() and not mask[520:, :].any() and not mask[:, 520:].any()


def test_editor_mask_grayscale_all_zero_is_none_gradio_8198():
    """gradio #8198: with image_mode="L" the layers come back all zeros: read as 'nothing painted', not a mask."""
    bg = np.full((20, 20), 90, np.uint8)
    assert editor_mask(_editor(bg, [np.zeros((20, 20), np.uint8)])) is None
    layer = np.zeros((20, 20), np.uint8)
    layer[2:5, 2:5] = 255
    assert editor_mask(_editor(bg, [layer])).sum() == 9


def test_editor_mask_single_layer_recipe_gradio_9265_and_union_of_layers():
    """gradio #9265's advice (layers=False, read layers[0]) and several layers (union)."""
    bg = np.zeros((10, 10, 3), np.uint8)  # an RGB background works too
    a = _rgba_layer(10, 10, (slice(0, 2), slice(0, 10)))
    b = _rgba_layer(10, 10, (slice(8, 10), slice(0, 10)))
    assert editor_mask(_editor(bg, [a])).sum() == 20
    assert editor_mask(_editor(bg, [a, b])).sum() == 40
    rgb_layer = np.zeros((10, 10, 3), np.uint8)
    rgb_layer[5, 5] = (0, 9, 0)
    assert editor_mask(_editor(bg, [rgb_layer])).sum() == 1


def test_editor_mask_accepts_pil_and_file_paths_and_size(tmp_path):
    bg = Image.new("RGBA", (40, 20), (1, 2, 3, 255))
    layer = np.zeros((20, 40, 4), np.uint8)
    layer[:, :20, 3] = 255  # left half
    layer_path = tmp_path / "layer.png"
    Image.fromarray(layer, "RGBA").save(layer_path)
    mask = editor_mask({"background": bg, "layers": [str(layer_path)], "composite": bg})
    assert mask.shape == (20, 40) and mask[:, :20].all() and not mask[:, 20:].any()
    small = editor_mask({"background": bg, "layers": [Image.fromarray(layer, "RGBA")]}, size=(10, 20))
    assert small.shape == (10, 20) and small[:, :10].all() and not small[:, 10:].any()
    with pytest.raises(ValueError, match="height, width"):
        editor_mask({"background": bg, "layers": [layer]}, size=(0, 5))


def test_editor_mask_rejects_odd_layer_shapes():
    with pytest.raises(ValueError, match="unexpected shape"):
        editor_mask(_editor(np.zeros((4, 4, 3), np.uint8), [np.zeros((4, 4, 5), np.uint8)]))


# ------------------------------------------------------------------------------------------------ notes


def test_resize_note():
    assert resize_note((64, 64), (64, 64)) is None
    assert resize_note((480, 640), (240, 320)) == "The image was downscaled from 640×480 to 320×240 pixels."
    note = resize_note((100, 300), (256, 256), what="photo", reason="the model works at 256 px")
    assert note == ("The photo was upscaled from 300×100 to 256×256 pixels (the aspect ratio changed): "
                    "the model works at 256 px.")


def test_notes_markdown():
    assert notes_markdown([]) == ""
    assert notes_markdown([None, ""]) == ""
    assert notes_markdown(["a", None, "b", "a"]) == "**Notes**\n\n- a\n- b"


# ------------------------------------------------------------------------------------------------ user_errors


def test_user_errors_turns_value_and_type_errors_into_gr_error():
    @user_errors
    def f(x: int, y: str = "k") -> int:
        """doc"""
        if x < 0:
            raise ValueError("x must be >= 0, got -1 <oops>")
        if x == 0:
            raise TypeError("x must not be zero")
        return x

    assert f(3) == 3
    assert f.__doc__ == "doc" and list(inspect.signature(f).parameters) == ["x", "y"]
    with pytest.raises(gr.Error) as info:
        f(-1)
    assert info.value.message == "x must be &gt;= 0, got -1 &lt;oops&gt;"
    with pytest.raises(gr.Error, match="x must not be zero"):
        f(0)


def test_user_errors_hides_unexpected_errors_but_logs_them(caplog):
    @user_errors
    def boom():
        raise RuntimeError("secret internal detail")

    with caplog.at_level(logging.ERROR, logger="synthkit.demos"):
        with pytest.raises(gr.Error) as info:
            boom()
    assert "RuntimeError" in info.value.message and "secret internal detail" not in info.value.message
    assert "try again" in info.value.message
    assert any("secret internal detail" in (r.exc_text or "") or "secret internal detail" in str(r.exc_info)
               for r in caplog.records)


def test_user_errors_passes_gr_error_and_wraps_generators():
    @user_errors
    def already():
        raise gr.Error("mine")

    with pytest.raises(gr.Error, match="mine"):
        already()

    @user_errors
    def stream(n: int):
        for i in range(n):
            yield i
        raise ValueError("stopped early")

    assert inspect.isgeneratorfunction(stream)  # Gradio streams only if the wrapper is a generator function
    gen = stream(2)
    assert [next(gen), next(gen)] == [0, 1]
    with pytest.raises(gr.Error, match="stopped early"):
        next(gen)


def test_on_gpu_is_a_no_op_without_spaces():
    try:
        import spaces
    except ImportError:
        spaces = None
    if hasattr(spaces, "GPU"):
        pytest.skip("Hugging Face's `spaces` package is installed here")

    def f():
        return 1

    assert common.on_gpu(30)(f) is f


# ------------------------------------------------------------------------------------------------ Toyscapes tab


@pytest.fixture(scope="module")
def toyscapes_explorer():
    import demos.toyscapes_explorer as module

    return module


@pytest.mark.parametrize("size", [64, 128, 256])
def test_render_sample_shapes_and_content(size, toyscapes_explorer):
    from synthkit.data import toyscapes
    from synthkit.data.palette import get_palette
    from synthkit.viz import colorize

    image, labels, boxed, legend = toyscapes_explorer.render_sample("random", 3, 1, size)
    for arr in (image, labels, boxed):
        assert arr.dtype == np.uint8 and arr.shape == (size, size, 3)
    sample = toyscapes.render(3, 1, size=size)
    np.testing.assert_array_equal(image, sample.image)
    np.testing.assert_array_equal(labels, colorize(sample.label, get_palette("toyscapes")))
    if sample.boxes:
        assert not np.array_equal(boxed, image), "boxes were not drawn"
    # legend: every present class with its recorded mode name, and no absent class
    present = {toyscapes.CLASSES[c] for c in np.unique(sample.label)}
    for name in toyscapes.CLASSES:
        assert (f"| {name} |" in legend) == (name in present)
    for name, mode in sample.style_mode_names().items():
        assert f"| {name} |" in legend and mode in legend
    assert f"**Scene:** {toyscapes.SCENES[sample.scene]}" in legend


def test_render_sample_is_deterministic_and_seed_dependent(toyscapes_explorer):
    a = toyscapes_explorer.render_sample("random", 0, 0, 64)[0]
    b = toyscapes_explorer.render_sample("random", 0, 0, 64)[0]
    c = toyscapes_explorer.render_sample("random", 1, 0, 64)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_render_sample_forced_scene(toyscapes_explorer):
    from synthkit.data import toyscapes

    for scene in toyscapes.SCENES:
        legend = toyscapes_explorer.render_sample(scene, 5, 0, 64)[3]
        assert f"**Scene:** {scene} " in legend


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("random", -5, 0, 64), "Seed must be a whole number between 0 and"),
        (("random", 1.5, 0, 64), "Seed must be a whole number"),
        (("random", None, 0, 64), "Seed is empty"),
        (("random", 0, -1, 64), "Index must be a whole number"),
        (("random", 0, 0, 7), "Size must be one of 64, 128, 256 pixels, got 7"),
        (("moon", 0, 0, 64), "Unknown scene 'moon': choose one of random, coast"),
    ],
)
def test_render_sample_bad_input_gives_clear_gr_error(args, message, toyscapes_explorer):
    with pytest.raises(gr.Error) as info:
        toyscapes_explorer.render_sample(*args)
    assert message in info.value.message


def test_toyscapes_standalone_demo_builds_with_named_endpoints(toyscapes_explorer):
    demo = toyscapes_explorer.build_demo()
    names = {dep.api_name for dep in demo.fns.values() if dep.api_name}
    assert {"toyscapes_render", "toyscapes_random_seed"} <= names


# ------------------------------------------------------------------------------------------------ demos/app.py


def _tab_labels(demo: gr.Blocks) -> list[str]:
    return [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]


def _markdown_values(demo: gr.Blocks) -> list[str]:
    return [b.value or "" for b in demo.blocks.values() if isinstance(b, gr.Markdown)]


def test_app_has_one_tab_per_entry_and_named_endpoints():
    from demos import app

    demo = app.build_demo()
    assert _tab_labels(demo) == [title for title, _ in app.TABS]
    names = {dep.api_name for dep in demo.fns.values() if dep.api_name}
    assert "toyscapes_render" in names
    assert demo._queue.max_size == app.MAX_QUEUE_SIZE
    assert demo._queue.default_concurrency_limit == app.DEFAULT_CONCURRENCY_LIMIT


def test_app_survives_a_tab_that_fails_to_import(caplog):
    from demos import app

    tabs = [*app.TABS, ("Broken app", "demos._no_such_module_for_tests")]
    with caplog.at_level(logging.ERROR, logger="synthkit.demos"):
        demo = app.build_demo(tabs)
    assert _tab_labels(demo)[-1] == "Broken app"
    msg = [v for v in _markdown_values(demo) if "Broken app is unavailable" in v]
    assert msg and "demos._no_such_module_for_tests" in msg[0] and "ModuleNotFoundError" in msg[0]
    assert "toyscapes_render" in {dep.api_name for dep in demo.fns.values()}  # the good tab still works
    assert any("cannot import demos._no_such_module_for_tests" in r.getMessage() for r in caplog.records)


def test_app_hides_a_tab_whose_build_fails_half_way(monkeypatch):
    from demos import app

    module = types.ModuleType("demos._half_built_for_tests")

    def build_tab():
        gr.Textbox(label="half-built component")
        raise RuntimeError("checkpoint missing")

    module.build_tab = build_tab
    monkeypatch.setitem(sys.modules, module.__name__, module)
    demo = app.build_demo([("Half", module.__name__)])
    config = demo.get_config_file()  # what the page receives
    box_id = next(c["id"] for c in config["components"] if c["props"].get("label") == "half-built component")

    def path_to(node, target, trail=()):
        trail = (*trail, node["id"])
        if node["id"] == target:
            return trail
        for child in node.get("children", []):
            found = path_to(child, target, trail)
            if found:
                return found
        return None

    props = {c["id"]: c for c in config["components"]}
    ancestors = path_to(config["layout"], box_id)
    hidden = [i for i in ancestors if props.get(i, {}).get("props", {}).get("visible") is False]
    assert hidden and props[hidden[0]]["type"] == "column", "the half-built UI must be hidden"
    msg = [v for v in _markdown_values(demo) if "Half is unavailable" in v]
    assert msg and "RuntimeError: checkpoint missing" in msg[0] and "build its tab" in msg[0]



def event_problems(demo: gr.Blocks) -> list[str]:
    """Contracts every tab must keep (later tabs are covered automatically):

    - a public (API-visible) event runs a function decorated with ``demos.common.user_errors``, so the page never
      shows a bare "Error";
    - a Slider's ``.change`` uses ``trigger_mode="always_last"`` (heavy generators: prefer ``.release``),
      ECOSYSTEM.md section 5, point 9;
    - a Dropdown that no event writes to uses ``.change``, not ``.input`` (Gradio 6.31 fires ``.input`` twice per
      mouse pick; ``.change`` fires once, and only on user picks when no event sets the dropdown);
    - the app is a ``demos.common.AppBlocks``: requests whose inputs Gradio cannot read get a message;
    - no server-side event has a visible ``gr.ImageEditor`` among its inputs or its progress targets (register
      them with ``demos.common.editor_event``): Gradio 6.31 would then re-upload the editor at every status
      change of every later event of the page (tests/test_demo_browser.py counts the uploads);
    - a server event the page calls directly (``queue=False``) has a failure report through the queue (Gradio
      6.31's page shows no message for a failed direct call), and one left in the queue has a reason to be there
      (``demos.common.direct_events``).
    """
    from demos.common import AppBlocks, _queued_by_design, direct_events_enabled, failure_report_of

    problems = [] if isinstance(demo, AppBlocks) else [f"the app is a {type(demo).__name__}, not an AppBlocks"]
    written = {b._id for dep in demo.fns.values() for b in dep.outputs}
    for dep in demo.fns.values():
        if dep.fn is None:
            continue
        if dep.api_visibility == "public" and not getattr(dep.fn, "__synthkit_user_errors__", False):
            problems.append(f"/{dep.api_name}: {dep.name} is not decorated with @user_errors")
        for block_id, event in dep.targets:
            block = demo.blocks.get(block_id)
            if isinstance(block, gr.Slider) and event == "change" and dep.trigger_mode != "always_last":
                problems.append(f"/{dep.api_name}: Slider.change with trigger_mode={dep.trigger_mode!r}")
            if isinstance(block, gr.Dropdown) and event == "input" and block_id not in written:
                problems.append(f"/{dep.api_name}: Dropdown.input (fires twice per pick; use .change)")
        targets = dep.show_progress_on or dep.outputs
        for role, blocks in (("input", dep.inputs), ("progress target", targets)):
            for block in blocks:
                if isinstance(block, gr.ImageEditor) and block.visible is not False:
                    problems.append(f"/{dep.api_name}: the ImageEditor {block.label!r} is a server event's {role} "
                                    "(use demos.common.editor_event)")
    reported = {failure_report_of(d) for d in demo.fns.values()}
    for dep in demo.fns.values():
        if dep.fn is None or failure_report_of(dep) is not None:
            continue
        if not dep.queue and dep._id not in reported:
            problems.append(f"/{dep.api_name}: direct (queue=False) without a failure report: a bare \"Error\" "
                            "in the page when it fails")
        if dep.queue and _queued_by_design(dep) is None and isinstance(demo, AppBlocks) and direct_events_enabled():
            problems.append(f"/{dep.api_name}: queued without a reason (the page pays the queue's round trip)")
    return problems


def test_app_event_lint():
    from demos import app

    problems = event_problems(app.build_demo())
    assert not problems, "\n".join(problems)


def test_event_lint_catches_violations():
    def plain(x: float) -> float:
        return x

    with gr.Blocks() as demo:
        slider = gr.Slider()
        out = gr.Number()
        pick = gr.Dropdown(["a", "b"])
        slider.change(plain, slider, out, api_name="bad", trigger_mode="once")
        slider.release(user_errors(plain), slider, out, api_name="good")
        pick.input(user_errors(plain), pick, out, api_name="twice")
        editor = gr.ImageEditor(label="paint")
        image = gr.Image()
        go = gr.Button()
        go.click(user_errors(lambda e: None), editor, image, api_name="raw_in")
        go.click(user_errors(lambda x: None), image, editor, api_name="raw_out")
        editor_event(go.click, user_errors(lambda e: None), [editor], [image], api_name="relayed_in")
        editor_event(go.click, user_errors(lambda x: None), [image], [editor], api_name="relayed_out")
        go.click(user_errors(lambda: None), None, image, api_name="direct_by_hand", queue=False)
    problems = event_problems(demo)
    assert problems == ["the app is a Blocks, not an AppBlocks", "/bad: plain is not decorated with @user_errors",
                        "/bad: Slider.change with trigger_mode='once'",
                        "/twice: Dropdown.input (fires twice per pick; use .change)",
                        "/raw_in: the ImageEditor 'paint' is a server event's input (use demos.common.editor_event)",
                        "/raw_out: the ImageEditor 'paint' is a server event's progress target (use "
                        "demos.common.editor_event)",
                        '/direct_by_hand: direct (queue=False) without a failure report: a bare "Error" in the page '
                        'when it fails']


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_demos_package_sets_passive_openmp_wait_before_torch(preset, expected):
    """Spinning OpenMP waits stall a busy 2-core Space; `import demos` sets PASSIVE before torch loads (user value wins)."""

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = "import sys, os, demos; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parents[1])).stdout.split()
    assert out == [expected, "False"]


# ---------------------------------------------------------------------------------------------------------------------
# Gradio's output cache: returned images are never rewritten in place (issue 12's truncated responses)


def _noise_image(size: int = 384) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))


def test_output_cache_writer_is_patched_on_import():
    from gradio import processing_utils as pu

    assert common.atomic_output_cache() is True  # idempotent
    assert getattr(pu.save_pil_to_cache, "_synthkit_atomic", False)


def test_output_cache_never_rewrites_a_served_file_in_place(tmp_path):
    """The same image returned twice keeps its file (same inode, untouched); a damaged file at that name (wrong
    size) is replaced by a new inode, and a reader that opened the old one still reads all of its bytes."""
    from gradio import processing_utils as pu

    img = _noise_image()
    path = Path(pu.save_pil_to_cache(img, str(tmp_path), format="png"))
    full = path.read_bytes()
    before = path.stat()
    assert Path(pu.save_pil_to_cache(img, str(tmp_path), format="png")) == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    path.write_bytes(full[:100])  # a short file left at the name (what a crash mid-write would leave)
    with open(path, "rb") as reader:  # a response that opened it
        pu.save_pil_to_cache(img, str(tmp_path), format="png")
        assert reader.read() == full[:100]  # the old inode, untouched
    assert path.read_bytes() == full and path.stat().st_ino != before.st_ino
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_output_cache_readers_never_see_a_short_file_while_the_same_image_is_saved(tmp_path):
    """Two writers saving the same image, two readers doing what a file response does (stat for Content-Length,
    then read): every read is complete. With gradio's own writer (Path.write_bytes) about 5% of such reads were
    short on this machine (benchmarks/results/load_test.md)."""
    import threading
    import time

    from gradio import processing_utils as pu

    img = _noise_image()
    path = pu.save_pil_to_cache(img, str(tmp_path), format="png")
    size = os.path.getsize(path)
    bad, reads = [], [0]
    stop = time.monotonic() + 1.5

    def writer():
        while time.monotonic() < stop:
            pu.save_pil_to_cache(img, str(tmp_path), format="png")

    def reader():
        while time.monotonic() < stop:
            declared = os.stat(path).st_size
            with open(path, "rb") as f:
                got = len(f.read())
            reads[0] += 1
            if declared != size or got != size:
                bad.append((declared, got))

    threads = [threading.Thread(target=writer) for _ in range(2)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads[0] > 100 and not bad, f"{len(bad)} short reads of {reads[0]}: {bad[:3]}"


def test_each_event_shows_progress_on_one_component():
    """AppBlocks gives every multi-output event one progress target (its first image): Gradio 6.31's page pushes a
    status update to every progress target of every event that has run, at each status change of any event, so the
    tabbed app's 71 targets made each call slower in the page (benchmarks/results/bench_apps_browser.md)."""
    from demos import app
    from demos.common import AppBlocks

    with AppBlocks() as demo:
        label, image, notes = gr.Markdown(), gr.Image(), gr.Markdown()
        go = gr.Button()
        go.click(user_errors(lambda: (None, None, None)), None, [label, image, notes])
        go.click(user_errors(lambda: (None, None)), None, [label, notes])
        go.click(user_errors(lambda: None), None, [notes])
    deps = [d for d in demo.fns.values() if d.fn is not None and failure_report_of(d) is None]
    assert [d.show_progress_on for d in deps] == [[image], [label], None]
    tabbed = app.build_demo()
    events = [d for d in tabbed.fns.values() if d.fn is not None]
    targets = {b._id for d in events for b in (d.show_progress_on or d.outputs)}
    # one target per event that has outputs; none for one without (editor_event's "the editor could not be read"
    # message, which only raises gr.Error)
    wrong = [(d.name, len(d.show_progress_on or d.outputs)) for d in events
             if len(d.show_progress_on or d.outputs) != (1 if d.outputs else 0)]
    assert not wrong, wrong
    assert {d.name for d in events if not d.outputs} <= {"_editor_unread"}
    assert len(targets) <= 25, len(targets)


def test_editor_parameters_keep_their_api_defaults():
    """editor_event's hidden twin carries the editor's initial value, so an API call that leaves the editor out
    (gradio_client fills it from the API page's default, as the Space and wheel tests do) still has an image."""
    from demos import app

    info = app.build_demo().get_api_info()
    editors = {(name, p["parameter_name"]): p for name, ep in info["named_endpoints"].items()
               for p in ep["parameters"] if p.get("component") == "Imageeditor"}
    assert ("/pyramid_inpaint", "editor") in editors and ("/embed_run", "editor") in editors, sorted(editors)
    for key in [("/pyramid_inpaint", "editor"), ("/pyramid_composite", "object_editor"), ("/embed_run", "editor")]:
        p = editors[key]
        assert p["parameter_has_default"] and (p["parameter_default"] or {}).get("background"), (key, p)


def test_quick_events_are_direct_with_a_failure_report_and_slow_ones_stay_queued(monkeypatch):
    """demos.common.direct_events, applied by AppBlocks: the page calls a quick event without the queue (one POST,
    no event stream; benchmarks/results/bench_apps_browser.md), except generators, gr.Progress users and events
    that declare a concurrency slot; every direct event gets a queued failure report (same function, inputs and
    outputs, private), because Gradio 6.31's page shows no message for a failed direct call."""
    from demos.common import AppBlocks

    def build():
        with AppBlocks() as demo:
            a, b = gr.Number(), gr.Image()
            go = gr.Button()
            go.click(user_errors(lambda x: None), a, b, api_name="quick")

            def stream(x):
                yield None

            def slow(x, progress=gr.Progress()):
                return None

            go.click(user_errors(stream), a, b, api_name="stream")
            go.click(user_errors(slow), a, b, api_name="progress")
            go.click(user_errors(lambda x: None), a, b, api_name="slot", concurrency_id="one")
            go.click(user_errors(lambda x: None), a, b, api_name="by_hand", queue=False)
        return demo

    monkeypatch.delenv("SYNTHKIT_DIRECT_EVENTS", raising=False)  # the benchmarks' switch to an all-queued app
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    demo = build()
    by_name = {d.api_name: d for d in demo.fns.values() if failure_report_of(d) is None}
    assert {n: d.queue for n, d in by_name.items()} == {"quick": False, "stream": True, "progress": True,
                                                         "slot": True, "by_hand": False}
    reports = {failure_report_of(d): d for d in demo.fns.values() if failure_report_of(d) is not None}
    assert set(reports) == {by_name["quick"]._id, by_name["by_hand"]._id}
    for direct_id, report in reports.items():
        direct = demo.fns[direct_id]
        assert report.queue and report.trigger_after == direct_id and report.trigger_only_on_failure
        assert report.fn is direct.fn and report.inputs == direct.inputs and report.outputs == direct.outputs
        assert report.api_visibility == "private"
    assert not event_problems(demo)
    # the API page lists the endpoints once (reports are private)
    assert sorted(demo.get_api_info()["named_endpoints"]) == ["/by_hand", "/progress", "/quick", "/slot", "/stream"]
    # on a ZeroGPU Space, GPU time is granted through the queue: nothing is made direct
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    zero = build()
    assert {d.api_name: d.queue for d in zero.fns.values() if failure_report_of(d) is None}["quick"] is True
    # ... and an event made direct by hand still gets its failure report there
    by_hand = next(d._id for d in zero.fns.values() if d.api_name == "by_hand")
    assert by_hand in {failure_report_of(d) for d in zero.fns.values()}
    assert not event_problems(zero)


def test_close_waits_for_a_running_direct_call():
    """Direct calls are not in the queue's counts (tests/conftest.py's wait_until_idle reads those): closing the app
    must still let a running direct call finish, even one whose page hung up (a process exiting under a worker
    thread inside a torch op aborts). It does: the request's handler awaits its worker thread, which Gradio does
    not abandon on cancellation, and the server's graceful shutdown waits for the handler. A real server on
    loopback, a real /run call."""
    import httpx

    from demos.common import AppBlocks

    started, proceed, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(x: float) -> float:
        started.set()
        proceed.wait(30)  # runs until the test lets it go, long after its request was dropped
        finished.set()
        return x

    with AppBlocks() as demo:
        a, b = gr.Number(), gr.Number()
        gr.Button().click(user_errors(slow), a, b, api_name="slow")
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    fn_id = next(d._id for d in demo.fns.values() if d.api_name == "slow")

    def call_and_hang_up() -> None:  # the page is closed mid-call: the request is dropped, the function runs on
        with contextlib.suppress(httpx.TimeoutException):
            httpx.post(f"{url}gradio_api/run/slow", json={"data": [3], "fn_index": fn_id, "session_hash": "close01"},
                       timeout=0.3)

    caller = threading.Thread(target=call_and_hang_up)
    caller.start()
    assert started.wait(10), "the direct call did not start"
    caller.join(10)
    assert not finished.is_set()
    closer = threading.Thread(target=demo.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive(), "close() returned while the call was still running"
    proceed.set()
    closer.join(30)
    assert not closer.is_alive() and finished.is_set()


def test_direct_events_send_their_images_inline_to_the_page_only(monkeypatch, read_png):
    """demos.common.inline_images, applied by AppBlocks: an image a direct event returns goes inline (PNG data: URL)
    in the answer to the page's direct call, and as a file everywhere else (the queue, gradio_client, which
    downloads by path); an output that is also an input stays a file (Gradio reads inputs only from uploads);
    values Gradio must convert (float arrays) take Gradio's path."""
    import asyncio

    from gradio.state_holder import SessionState
    from PIL import Image

    from demos.common import _DIRECT_HTTP_CALL, AppBlocks

    monkeypatch.delenv("SYNTHKIT_DIRECT_EVENTS", raising=False)
    monkeypatch.delenv("SYNTHKIT_INLINE_IMAGES", raising=False)
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    picture = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)
    with AppBlocks() as demo:
        n = gr.Number(0)
        shown, echoed, gallery = gr.Image(format="png"), gr.Image(format="png"), gr.Gallery(format="png")
        go = gr.Button()
        go.click(lambda x: (picture, picture, [(picture, "one"), picture]), n, [shown, echoed, gallery],
                 api_name="draw")
        go.click(lambda x: picture.astype(np.float32) / 255, n, shown, api_name="floats")
        echoed.change(lambda im: im, echoed, gr.Image(), api_name="echo")  # `echoed` is also an input

    def run(api_name: str, direct: bool) -> list:
        fn = next(d for d in demo.fns.values() if d.api_name == api_name)
        token = _DIRECT_HTTP_CALL.set(direct)
        try:
            return asyncio.run(demo.process_api(fn, [1], state=SessionState(demo)))["data"]
        finally:
            _DIRECT_HTTP_CALL.reset(token)

    def decode(url: str) -> np.ndarray:
        assert url.startswith("data:image/png;base64,"), url[:40]
        return read_png(url)

    image, echo, items = run("draw", direct=True)
    assert image["path"] is None
    np.testing.assert_array_equal(decode(image["url"]), picture)
    assert [i["caption"] for i in items] == ["one", None]
    for item in items:
        np.testing.assert_array_equal(decode(item["image"]["url"]), picture)
    assert echo["path"] and not echo.get("url", "").startswith("data:")  # also an input: a file
    np.testing.assert_array_equal(np.asarray(Image.open(echo["path"])), picture)
    # the same event through the queue or an API client: files
    image, echo, items = run("draw", direct=False)
    assert image["path"] and items[0]["image"]["path"]
    np.testing.assert_array_equal(np.asarray(Image.open(image["path"])), picture)
    # a float image: Gradio's own conversion, a file
    (floats,) = run("floats", direct=True)
    assert floats["path"] and np.asarray(Image.open(floats["path"])).dtype == np.uint8


def test_run_history_is_off_unless_gradios_variable_turns_it_on(monkeypatch, launch_blocks):
    """launch_kwargs: Gradio 6.31's browser-side run history (each call's inputs and outputs rewritten in
    localStorage 2-3 times per call) is off in every app; GRADIO_RUN_HISTORY=true turns it back on. Checked on the
    config a launched server gives the page."""
    import httpx

    from demos.common import launch_kwargs

    monkeypatch.delenv("GRADIO_RUN_HISTORY", raising=False)
    assert launch_kwargs()["run_history"] is False
    with gr.Blocks() as demo:
        gr.Number()
    url = launch_blocks(demo, **launch_kwargs())
    assert httpx.get(f"{url}config", timeout=30).json()["run_history"] is False
    monkeypatch.setenv("GRADIO_RUN_HISTORY", "True")
    assert launch_kwargs()["run_history"] is True
    monkeypatch.setenv("GRADIO_RUN_HISTORY", "false")
    assert launch_kwargs()["run_history"] is False


def test_editor_event_reads_the_twin_after_a_copy_step_that_only_runs_when_edited():
    """editor_event's events, as the page receives them: the trigger runs a front-end-only step (no inputs, so the
    editor is never gathered there) and then the server event on the hidden twin, ``always_last`` unless asked
    otherwise; one hidden button per editor copies the editor into its twin (front end only) and reports it; the
    editor's own upload / clear events, and events writing it, count as edits. The page-side rules are tested in
    Chromium (tests/test_demo_inpainting.py::test_browser_editor_is_uploaded_only_after_an_edit)."""
    from demos.common import AppBlocks, _twin

    with AppBlocks() as demo:
        editor, image, number = gr.ImageEditor(label="paint", elem_id="paint"), gr.Image(), gr.Number()
        go, again, pick = gr.Button(), gr.Button(), gr.Button()
        editor_event(go.click, user_errors(lambda e, n: None), [editor, number], [image], api_name="read")
        editor_event(again.click, user_errors(lambda e: None), [editor], [image], api_name="read_once",
                     trigger_mode="once")
        editor_event(pick.click, user_errors(lambda n: None), [number], [editor], api_name="write")
    twin = _twin(editor)
    assert twin.visible is False and twin is not editor
    backend = next(f for f in demo.fns.values() if f.api_name == "read")
    assert backend.inputs == [twin, number] and backend.trigger_mode == "always_last"
    ready = demo.fns[backend.trigger_after]
    assert ready.fn is None and ready.inputs == [] and "sk.ensure(id)" in ready.js and '["paint"]' in ready.js
    assert {(demo.blocks[b]._id, e) for b, e in ready.targets} == {(go._id, "click")}
    once = next(f for f in demo.fns.values() if f.api_name == "read_once")
    assert once.inputs == [twin] and once.trigger_mode == "once"
    # the only events with the editor among their inputs: the hidden button's copy into the twin, front end only
    readers = [f for f in demo.fns.values() if editor in f.inputs]
    assert len(readers) == 1 and readers[0].fn is None and readers[0].outputs == [twin]
    (button_id, event), = readers[0].targets
    button = demo.blocks[button_id]
    assert event == "click" and button.visible == "hidden" and button.elem_id == "paint-synthkit-sync"
    reported = [f for f in demo.fns.values() if f.trigger_after == readers[0]._id]
    assert len(reported) == 1 and 'sk.copied("paint")' in reported[0].js
    marks = {e for f in demo.fns.values() if f.fn is None for b, e in f.targets if b == editor._id}
    assert marks == {"upload", "clear"}
    written = next(f for f in demo.fns.values() if f.api_name == "write")
    after = [f for f in demo.fns.values() if f.trigger_after == written._id and f.fn is None]
    assert len(after) == 1 and "sk.mark(id, false, 'written')" in after[0].js
    assert not event_problems(demo)
