"""Semantic-inpainting app (demos/semantic_inpainting.py) on a tiny Semantic Pyramid model.

The app runs on a ``tiny_test`` generator (random weights, 32x32, its random tiny backbone) saved with
``save_pretrained`` and loaded through ``$SYNTHKIT_PYRAMID_MODEL``, the same path the bundled model takes: the tests
check the app's plumbing (editor values, masks, notes, errors, endpoints), not image quality.

Level 1: the event functions in-process, every bad input of the issue and the ImageEditor value variants.
Level 2: the standalone app on a loopback port through gradio_client (named endpoints; bad input -> AppError with
our message). Level 3 (``browser``): a region painted with the Brush in Chromium changes the result.
"""
from __future__ import annotations

import os
import time

import gradio as gr
import numpy as np
import pytest
from conftest import PageNetwork, wait_until_settled
from PIL import Image

from demos import semantic_inpainting as app
from synthkit.models.semantic_pyramid import PyramidConfig, SemanticPyramidGenerator

GENERIC_UPSTREAM = "The upstream Gradio app has raised an exception"


@pytest.fixture(scope="module", autouse=True)
def tiny_model(tmp_path_factory):
    """Point the app at a tiny saved model for this module; restore the environment and caches afterwards."""
    import torch

    folder = tmp_path_factory.mktemp("pyramid") / "tiny"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        SemanticPyramidGenerator(PyramidConfig.from_preset("tiny_test")).save_pretrained(folder)
    before = os.environ.get(app.MODEL_ENV)
    os.environ[app.MODEL_ENV] = str(folder)
    app.get_pipeline.cache_clear()
    app.example_images.cache_clear()
    yield folder
    if before is None:
        os.environ.pop(app.MODEL_ENV, None)
    else:
        os.environ[app.MODEL_ENV] = before
    app.get_pipeline.cache_clear()
    app.example_images.cache_clear()


@pytest.fixture(scope="module")
def pipe(tiny_model):
    p = app.get_pipeline()
    assert p.image_size == 32 and p.levels[0] == "conv1" and p.levels[-1] == "fc8"
    return p


@pytest.fixture(scope="module")
def example(pipe):
    name = next(iter(app.example_images()))
    return name, app.example_images()[name]  # uint8 [32, 32, 3]


def _layer(shape, box, alpha=255):
    """An RGBA layer of ``shape`` (H, W) painted (alpha > 0) inside box = (y0, y1, x0, x1), as the editor sends."""
    layer = np.zeros((*shape, 4), np.uint8)
    y0, y1, x0, x1 = box
    layer[y0:y1, x0:x1] = (255, 0, 200, alpha)
    return layer


def _rgba(image):
    return np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=2)


def _editor(background, layers):
    return {"background": background, "layers": layers, "composite": background}


# ---------------------------------------------------------------------------------------------------------- level 1
def test_examples_are_enlarged_exactly(pipe, example):
    name, small = example
    k = app.display_scale(pipe)
    assert k == 8 and small.shape == (32, 32, 3)
    value = app.example_editor(name)
    assert value["background"].shape == (256, 256, 3) and value["layers"] == []
    np.testing.assert_array_equal(value["background"][::k, ::k], small)
    np.testing.assert_array_equal(app.example_background(name), small)
    with pytest.raises(gr.Error, match="Unknown example"):
        app.example_editor("my holiday photo")


def test_inpaint_matches_the_pipeline_on_the_model_pixels_painted(pipe, example):
    _, small = example
    big = app.enlarge(small, 8)
    # paint display rows 64..128, cols 80..200: model rows 8..16, cols 10..25 (80/8 = 10, 200/8 = 25)
    editor = _editor(_rgba(big), [_layer((256, 256), (64, 128, 80, 200))])
    shown, result, notes = app.inpaint_event(editor, 5, 3, False)
    hole = np.zeros((32, 32), bool)
    hole[8:16, 10:25] = True
    expected = pipe.inpaint(small, hole, levels=["conv5"], seed=3)
    np.testing.assert_array_equal(result, expected.image)
    assert notes == ""
    # by default the original pixels are pasted back outside the region: y = M * G + (1 - M) * x
    kept = app.inpaint_event(editor, 5, 3)[1]
    np.testing.assert_array_equal(kept[hole], expected.image[hole])
    np.testing.assert_array_equal(kept[~hole], small[~hole])  # the app's own enlargement and the editor's opaque RGBA are undone silently
    # the input view is the model's input, tinted only in the region
    assert shown.shape == (32, 32, 3)
    np.testing.assert_array_equal(shown[~hole], small[~hole])
    assert not np.array_equal(shown[hole], small[hole])
    # outside the hole shallow features are kept: the result differs from the input mostly inside the hole
    diff = np.abs(result.astype(int) - small.astype(int)).sum(axis=2)
    assert diff[hole].mean() > 0


def test_seed_and_level_change_the_result(pipe, example):
    _, small = example
    editor = _editor(_rgba(app.enlarge(small, 8)), [_layer((256, 256), (0, 128, 0, 256))])
    a = app.inpaint_event(editor, 5, 0)[1]
    assert not np.array_equal(a, app.inpaint_event(editor, 5, 1)[1])
    assert not np.array_equal(a, app.inpaint_event(editor, 7, 0)[1])
    np.testing.assert_array_equal(a, app.inpaint_event(editor, "5", 0.0)[1])  # what the API may send


@pytest.mark.parametrize("layers", [[], None, [np.zeros((256, 256, 4), np.uint8)]],
                         ids=["no-layers", "layers-None", "transparent-layer"])
def test_empty_mask_says_nothing_to_regenerate(pipe, example, layers):
    _, small = example
    with pytest.raises(gr.Error, match="Nothing to regenerate"):
        app.inpaint_event(_editor(app.enlarge(small, 8), layers), 5, 0)


def test_strokes_thinner_than_a_model_pixel_are_refused_with_advice(pipe, example):
    _, small = example
    with pytest.raises(gr.Error, match="too thin"):
        app.inpaint_event(_editor(app.enlarge(small, 8), [_layer((256, 256), (0, 256, 3, 4))]), 5, 0)


def test_mask_covering_everything_is_generation_from_the_level_alone(pipe, example):
    _, small = example
    _, result, notes = app.inpaint_event(_editor(app.enlarge(small, 8), [_layer((256, 256), (0, 256, 0, 256))]), 6, 2)
    assert "covers the whole image" in notes and "fc7 alone" in notes
    np.testing.assert_array_equal(result, pipe.generate_from_level(small, "fc7", seed=2).image)


def test_image_of_another_size_and_aspect_is_cropped_and_resized_and_said_so(pipe):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    layer = _layer((200, 300), (50, 150, 100, 200))
    shown, result, notes = app.inpaint_event(_editor(image, [layer]), 4, 0, False)
    assert "300x200 is not square; centre-cropped to 200x200" in notes
    assert "resized from 200x200 to the model's 32x32" in notes
    assert shown.shape == result.shape == (32, 32, 3)
    hole = np.zeros((200, 300), bool)
    hole[50:150, 100:200] = True
    np.testing.assert_array_equal(result, pipe.inpaint(image, hole, levels=["conv4"], seed=0).image)


def test_a_layer_of_another_size_is_resized_to_the_image(pipe, example):
    """gradio #10298: the layer may come back at another size than the background."""
    _, small = example
    big = app.enlarge(small, 8)
    a = app.inpaint_event(_editor(big, [_layer((256, 256), (0, 128, 0, 128))]), 5, 0)
    b = app.inpaint_event(_editor(big, [_layer((128, 128), (0, 64, 0, 64))]), 5, 0)
    np.testing.assert_array_equal(a[1], b[1])


def test_rgba_with_transparency_and_grayscale_are_converted_and_said_so(pipe, example):
    _, small = example
    layer = [_layer((32, 32), (0, 16, 0, 16))]
    rgba = _rgba(small)
    rgba[:, :8, 3] = 0
    notes = app.inpaint_event(_editor(rgba, layer), 5, 0)[2]
    assert "RGBA array composited over white" in notes
    gray = small.mean(axis=2).astype(np.uint8)
    notes = app.inpaint_event(_editor(gray, layer), 5, 0)[2]
    assert "grayscale array converted to RGB" in notes
    gray3 = _rgba(np.repeat(gray[..., None], 3, axis=2))  # what the editor sends for a grayscale upload
    notes = app.inpaint_event(_editor(gray3, layer), 5, 0)[2]
    assert "grayscale (R = G = B)" in notes


def test_editor_value_variants(pipe, example, tmp_path):
    """PIL images, file paths, RGB layers, several layers (union) and a missing background all work."""
    _, small = example
    big = app.enlarge(small, 8)
    ref = app.inpaint_event(_editor(big, [_layer((256, 256), (0, 64, 0, 256)), _layer((256, 256), (64, 128, 0, 256))]),
                            5, 0)[1]
    one = app.inpaint_event(_editor(big, [_layer((256, 256), (0, 128, 0, 256))]), 5, 0)[1]
    np.testing.assert_array_equal(ref, one)
    as_pil = {"background": Image.fromarray(big), "layers": [Image.fromarray(_layer((256, 256), (0, 128, 0, 256)))],
              "composite": None}
    np.testing.assert_array_equal(app.inpaint_event(as_pil, 5, 0)[1], one)
    Image.fromarray(big).save(tmp_path / "bg.png")
    Image.fromarray(_layer((256, 256), (0, 128, 0, 256))).save(tmp_path / "layer.png")
    as_paths = {"background": str(tmp_path / "bg.png"), "layers": [str(tmp_path / "layer.png")], "composite": None}
    np.testing.assert_array_equal(app.inpaint_event(as_paths, 5, 0)[1], one)
    rgb_layer = _layer((256, 256), (0, 128, 0, 256))[..., :3]
    np.testing.assert_array_equal(app.inpaint_event(_editor(big, [rgb_layer]), 5, 0)[1], one)
    no_background = {"background": None, "layers": [_layer((256, 256), (0, 128, 0, 256))], "composite": big}
    np.testing.assert_array_equal(app.inpaint_event(no_background, 5, 0)[1], one)


@pytest.mark.parametrize(
    "editor, level, seed, message",
    [
        (None, 5, 0, "There is no image"),
        ({"background": None, "layers": [], "composite": None}, 5, 0, "There is no image"),
        ("not an editor", 5, 0, "There is no image"),
        ("EX", 0, 0, "Level must be a whole number from 1 (conv1, keep texture) to 7 (fc8"),
        ("EX", 2.5, 0, "Level must be"),
        ("EX", "deep", 0, "level name"),
        ("EX", 5, -1, "Seed must be a whole number"),
        ("EX", 5, None, "Seed is empty"),
    ],
)
def test_bad_input_raises_gr_error_with_message(pipe, example, editor, level, seed, message):
    if editor == "EX":
        editor = _editor(app.enlarge(example[1], 8), [_layer((256, 256), (0, 128, 0, 256))])
    with pytest.raises(gr.Error) as err:
        app.inpaint_event(editor, level, seed)
    assert message in str(err.value)


def test_level_names_and_info(pipe):
    assert app.level_name(1) == "conv1" and app.level_name("fc7") == "fc7" and app.level_name(7.0) == "fc8"
    assert "keeps colours and texture" in app.level_info(1)
    assert "16×16 map of 4 channels" in app.level_info(1)
    assert "no layout" in app.level_info(7) and "meaning" in app.level_info(7)
    with pytest.raises(gr.Error, match="Level must be"):
        app.level_info(8)


def test_composite_matches_the_pipeline_and_shows_the_cut_and_paste(pipe):
    names = list(app.example_images())
    bg, obj = app.example_images()[names[0]], app.example_images()[names[1]]
    region = np.zeros((32, 32), bool)
    region[16:28, 4:20] = True
    editor = _editor(_rgba(app.enlarge(obj, 8)), [_layer((256, 256), (128, 224, 32, 160))])
    pasted, result, notes = app.composite_event(bg, editor, 4, 1)
    np.testing.assert_array_equal(result, pipe.composite(bg, obj, region, level="conv4", seed=1).image)
    np.testing.assert_array_equal(pasted[region], obj[region])
    np.testing.assert_array_equal(pasted[~region], bg[~region])
    assert notes == ""


def test_composite_bad_inputs(pipe, example, tmp_path):
    _, small = example
    editor = _editor(app.enlarge(small, 8), [_layer((256, 256), (0, 128, 0, 256))])
    with pytest.raises(gr.Error, match="no background image"):
        app.composite_event(None, editor, 4, 0)
    with pytest.raises(gr.Error, match="Nothing to regenerate"):
        app.composite_event(small, _editor(app.enlarge(small, 8), []), 4, 0)
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    with pytest.raises(gr.Error, match="notes.png"):
        app.composite_event(str(fake), editor, 4, 0)
    # an upload of another size as the background is resized, and said so
    Image.fromarray(np.full((40, 80, 3), 90, np.uint8)).save(tmp_path / "wide.png")
    notes = app.composite_event(str(tmp_path / "wide.png"), editor, 4, 0)[2]
    assert "background: 80x40 is not square" in notes


def test_standalone_demo_builds_with_named_endpoints(pipe):
    demo = app.build_demo()
    named = {dep.api_name for dep in demo.fns.values() if dep.api_name}
    assert {"pyramid_inpaint", "pyramid_composite", "pyramid_example", "pyramid_level_info"} <= named


def test_app_has_the_tab():
    from demos import app as full

    assert ("Inpainting (Pyramid)", "demos.semantic_inpainting") in full.TABS


def test_the_bundled_model_serves_the_app(monkeypatch):
    """With no override the app loads the bundled pyramid-toyscapes (64x64), and its level slider means something:
    a hole refilled from conv1 stays closer to the input than one refilled from fc8."""
    from synthkit import registry

    if not (registry.PRETRAINED_DIR / "pyramid-toyscapes" / "config.json").is_file():
        pytest.skip("the bundled pyramid-toyscapes checkpoint is not in this install")
    monkeypatch.delenv(app.MODEL_ENV, raising=False)
    app.get_pipeline.cache_clear()
    app.example_images.cache_clear()
    try:
        pipe = app.get_pipeline()
        assert pipe.image_size == 64 and app.display_scale(pipe) == 4
        errors = {1: [], 7: []}
        for name, small in list(app.example_images().items())[:4]:
            editor = _editor(_rgba(app.enlarge(small, 4)), [_layer((256, 256), (96, 224, 32, 224))])
            for level in errors:
                shown, result, notes = app.inpaint_event(editor, level, 0)
                assert result.shape == (64, 64, 3) and notes == "", notes
                errors[level].append(np.abs(result[24:56, 8:56].astype(float) - small[24:56, 8:56]).mean())
        assert np.mean(errors[1]) < np.mean(errors[7]), errors
    finally:
        app.get_pipeline.cache_clear()
        app.example_images.cache_clear()


# ---------------------------------------------------------------------------------------------------------- level 2
@pytest.fixture(scope="module")
def client(launch_blocks, pipe):
    from gradio_client import Client

    demo = app.build_demo()
    url = launch_blocks(demo)
    yield Client(url, verbose=False)
    demo.close()


def _client_editor(tmp_path, background, layers):
    from gradio_client import handle_file

    Image.fromarray(background).save(tmp_path / "bg.png")
    paths = []
    for i, layer in enumerate(layers):
        Image.fromarray(layer).save(tmp_path / f"layer{i}.png")
        paths.append(handle_file(str(tmp_path / f"layer{i}.png")))
    bg = handle_file(str(tmp_path / "bg.png"))
    return {"background": bg, "layers": paths, "composite": bg}


def test_client_view_api(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/pyramid_inpaint", "/pyramid_composite", "/pyramid_example", "/pyramid_level_info"} <= set(api)
    assert [p["parameter_name"] for p in api["/pyramid_inpaint"]["parameters"]] == ["editor", "level", "seed",
                                                                                   "keep_outside"]
    assert [r["component"] for r in api["/pyramid_inpaint"]["returns"]] == ["Image", "Image", "Markdown"]


def test_client_inpaints_like_the_pipeline(client, pipe, example, tmp_path, read_png):
    _, small = example
    editor = _client_editor(tmp_path, app.enlarge(small, 8), [_layer((256, 256), (64, 128, 80, 200))])
    shown, result, notes = client.predict(editor, 5, 3, False, api_name="/pyramid_inpaint")
    hole = np.zeros((32, 32), bool)
    hole[8:16, 10:25] = True
    np.testing.assert_array_equal(read_png(result), pipe.inpaint(small, hole, levels=["conv5"], seed=3).image)
    assert notes == ""


@pytest.mark.parametrize(
    "layers, level, seed, message",
    [
        ([], 5, 0, "Nothing to regenerate"),
        # the slider's own range check answers first, with a message (not the generic upstream error)
        ([_layer((256, 256), (0, 128, 0, 256))], 9, 0, "greater than maximum value 7"),
        ([_layer((256, 256), (0, 128, 0, 256))], 5, -3, "Seed must be a whole number"),
    ],
)
def test_client_bad_input_gets_our_message(client, example, tmp_path, layers, level, seed, message):
    from gradio_client.exceptions import AppError

    editor = _client_editor(tmp_path, app.enlarge(example[1], 8), layers)
    with pytest.raises(AppError) as err:
        client.predict(editor, level, seed, True, api_name="/pyramid_inpaint")
    assert message in str(err.value) and GENERIC_UPSTREAM not in str(err.value)


def test_client_full_mask_and_other_size_are_notes(client, tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    editor = _client_editor(tmp_path, image, [_layer((60, 90), (0, 60, 0, 90))])
    *_, notes = client.predict(editor, 7, 0, True, api_name="/pyramid_inpaint")
    assert "covers the whole image" in notes and "not square" in notes


def test_client_composite_and_examples(client, pipe, tmp_path, read_png):
    from gradio_client import handle_file

    names = list(app.example_images())
    value = client.predict(names[2], api_name="/pyramid_example")
    np.testing.assert_array_equal(read_png(value["background"]["path"] if isinstance(value["background"], dict)
                                       else value["background"])[::8, ::8], app.example_images()[names[2]])
    bg_path = client.predict(names[0], api_name="/pyramid_background_example")
    obj = app.example_images()[names[1]]
    editor = _client_editor(tmp_path, app.enlarge(obj, 8), [_layer((256, 256), (128, 224, 32, 160))])
    pasted, result, notes = client.predict(handle_file(bg_path), editor, 4, 1, api_name="/pyramid_composite")
    region = np.zeros((32, 32), bool)
    region[16:28, 4:20] = True
    expected = pipe.composite(app.example_images()[names[0]], obj, region, level="conv4", seed=1)
    np.testing.assert_array_equal(read_png(result), expected.image)


# ---------------------------------------------------------------------------------------------------------- level 3
@pytest.fixture(scope="module")
def app_url(launch_blocks, pipe):
    from demos.common import launch_kwargs

    demo = app.build_demo()
    url = launch_blocks(demo, **launch_kwargs())
    yield url
    demo.close()


def _result_src(page, elem_id):
    return page.locator(f"#{elem_id} img").first.get_attribute("src")


def _page_messages(page):
    """What the page shows the user besides the images: the notes and any toasts (for failure messages)."""
    toasts = page.locator(".toast-body").all_inner_texts()
    return {"notes": page.locator("#pyramid-notes").inner_text()[:300], "toasts": toasts}


def _tall_page(browser):
    """A page tall enough for the editor and the results, its JavaScript errors and its network: (context, page,
    errors, net); the caller closes the context."""
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors, PageNetwork(page)


@pytest.mark.browser
def test_browser_painting_with_the_brush_changes_the_result(app_url, browser, artifacts_dir):
    context, page, errors, net = _tall_page(browser)
    try:
        page.goto(app_url)
        page.wait_for_load_state("networkidle")
        before = _result_src(page, "pyramid-result")
        # pick another example: the editor gets a new background and nothing painted, from one event
        page.locator("#pyramid-example input").click()
        page.locator("#pyramid-example [role=option][aria-label^='test scene 2']").click()
        name = list(app.example_images())[2]
        deadline = time.monotonic() + 30
        while not any(j and j.get("data") == [name] for j in net.calls):  # the pick's event was sent
            assert time.monotonic() < deadline, f"no event for the pick; requests: {net.log[-12:]}"
            page.wait_for_timeout(50)
        # its reply applied (the editor loads the new background: requests in flight until it has), and the
        # editor's progress shows on the dropdown (editor_event), so the example's tracker hides at the end
        wait_until_settled(page, net, "pyramid-example")
        picks = [j for j in net.calls if j and j.get("data") == [name]]
        assert len(picks) == 1, f"one pick of an example started {len(picks)} events (Dropdown .input fires twice)"
        # paint with the Brush: a horizontal drag across the lower middle of the image, which the editor shows
        # centred in its canvas element (the canvas is wider than the image)
        brush = page.locator("#pyramid-editor").get_by_role("button", name="Brush", exact=True)
        brush.click()
        page.wait_for_function("(b) => b.classList.contains('highlight')", arg=brush.element_handle())  # active
        bb = page.locator("#pyramid-editor canvas").first.bounding_box()
        page.mouse.move(bb["x"] + bb["width"] * 0.4, bb["y"] + bb["height"] * 0.75, steps=3)
        page.mouse.down()
        for t in np.linspace(0.4, 0.6, 15):
            page.mouse.move(bb["x"] + bb["width"] * t, bb["y"] + bb["height"] * 0.75, steps=2)
        page.mouse.up()
        wait_until_settled(page, net, "pyramid-editor")  # the stroke's layer is uploaded as the editor's value
        page.locator("#pyramid-run").click()
        try:
            page.wait_for_function(
                "(b) => { const i = document.querySelector('#pyramid-result img'); return i && i.src !== b }",
                arg=before,
            )
        except Exception as exc:
            page.screenshot(path=str(artifacts_dir / "demo_inpainting_fail.png"), full_page=True)
            raise AssertionError(f"the result did not change after Regenerate: {_page_messages(page)}") from exc
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts_dir / "demo_inpainting_brush.png"), full_page=True)
        after = _result_src(page, "pyramid-result")
        assert after and after != before
        # the server got a region in the lower part: the tinted input differs from the example only there
        import urllib.request

        with urllib.request.urlopen(_result_src(page, "pyramid-input")) as r:
            shown = np.asarray(Image.open(r).convert("RGB"))
        small = app.example_images()[list(app.example_images())[2]]
        changed = np.abs(shown.astype(int) - small.astype(int)).sum(axis=2) > 0
        assert changed.any() and not changed[:16].any(), np.argwhere(changed)[:5]
        assert errors == [], errors
    finally:
        context.close()


def _stroke(page, y: float) -> None:
    """A Brush stroke across the middle of the canvas at height ``y`` (a fraction of the canvas element)."""
    brush = page.locator("#pyramid-editor").get_by_role("button", name="Brush", exact=True)
    brush.click()
    page.wait_for_function("(b) => b.classList.contains('highlight')", arg=brush.element_handle())
    bb = page.locator("#pyramid-editor canvas").first.bounding_box()
    page.mouse.move(bb["x"] + bb["width"] * 0.4, bb["y"] + bb["height"] * y, steps=3)
    page.mouse.down()
    for t in np.linspace(0.4, 0.6, 12):
        page.mouse.move(bb["x"] + bb["width"] * t, bb["y"] + bb["height"] * y, steps=2)
    page.mouse.up()


def _editor_state(page) -> dict:
    return page.evaluate("() => { const s = window.__synthkitEditors?.state('pyramid-editor');"
                         " return s ? {gen: s.gen, synced: s.synced, seen: s.seen} : null }")


@pytest.mark.browser
def test_browser_editor_is_uploaded_only_after_an_edit(app_url, browser, artifacts_dir, read_png, tmp_path):
    """demos.common.editor_event: a Regenerate with the editor as it was sends no upload (the backend reads the hidden
    twin the last copy filled); every way of editing (a brush stroke, the toolbar's Undo / Redo, a file uploaded into
    the editor, an example picked) makes the next call use the new value, also when the button is clicked at once;
    after a stroke the page makes the copy by itself, so a later click uploads nothing."""
    context, page, errors, net = _tall_page(browser)
    names = list(app.example_images())
    size = app.get_pipeline().image_size

    def regenerate(seed: int) -> tuple[int, np.ndarray]:
        """Type the seed, click Regenerate: (uploads it made, the model-size input the server used)."""
        page.locator("#pyramid-seed input").fill(str(seed))
        before, old = net.uploads(), _result_src(page, "pyramid-result")
        page.locator("#pyramid-run").click()
        try:
            page.wait_for_function("(b) => { const i = document.querySelector('#pyramid-result img');"
                                   " return i && i.src !== b && i.complete && i.naturalWidth > 0 }", arg=old)
        except Exception as exc:
            page.screenshot(path=str(artifacts_dir / "demo_inpainting_edits_fail.png"), full_page=True)
            raise AssertionError(f"no new result: {_page_messages(page)}; editor {_editor_state(page)}") from exc
        wait_until_settled(page, net, "pyramid-result")
        return net.uploads() - before, read_png(_result_src(page, "pyramid-input"))

    def changed_rows(shown: np.ndarray, scene: np.ndarray) -> np.ndarray:
        return np.flatnonzero((np.abs(shown.astype(int) - scene.astype(int)).sum(axis=2) > 0).any(axis=1))

    try:
        page.goto(app_url)
        page.wait_for_load_state("networkidle")
        wait_until_settled(page, net, "pyramid-editor")
        regenerate(1)  # the first call copies the editor (its state in the page is unknown until then)
        n, first = regenerate(2)
        assert n == 0, f"a Regenerate with the editor untouched uploaded {n} files: {net.log[-12:]}"
        n, again = regenerate(3)
        assert n == 0 and np.array_equal(first, again)

        # an example picked (written by the server): nothing painted on scene 2, so nothing to regenerate
        page.locator("#pyramid-example input").click()
        page.locator("#pyramid-example [role=option][aria-label^='test scene 2']").click()
        wait_until_settled(page, net, "pyramid-example")
        scene = app.example_images()[names[2]]
        # a stroke in the upper half, and the button clicked at once (the copy the stroke started may be in flight)
        _stroke(page, 0.3)
        n, shown = regenerate(4)
        rows = changed_rows(shown, scene)
        assert n <= 3 and rows.size and rows.max() < size // 2, (n, rows)
        n, shown2 = regenerate(5)
        assert n == 0 and np.array_equal(shown, shown2), n

        # the toolbar's Undo takes the stroke away: nothing painted, our message
        page.locator("#pyramid-editor").get_by_role("button", name="Undo", exact=True).click()
        page.locator("#pyramid-seed input").fill("6")
        page.locator("#pyramid-run").click()
        page.locator(".toast-body", has_text="Nothing to regenerate").first.wait_for(state="visible")
        wait_until_settled(page, net, "pyramid-result")
        page.locator("#pyramid-editor").get_by_role("button", name="Redo", exact=True).click()
        n, shown3 = regenerate(7)
        assert n <= 3 and np.array_equal(changed_rows(shown3, scene), rows), n

        # a file uploaded into the editor (another scene, at the editor's display size), then a stroke lower down
        other = app.example_images()[names[3]]
        path = tmp_path / "upload.png"
        Image.fromarray(app.enlarge(other, app.display_scale())).save(path)
        seen = (_editor_state(page)["seen"] or {}).get("upload", 0)
        page.locator("#pyramid-editor input[type=file]").set_input_files(str(path))
        page.wait_for_function("(n) => (window.__synthkitEditors.state('pyramid-editor').seen.upload || 0) > n",
                               arg=seen)  # Gradio's upload event of the editor: the image is in the canvas
        _stroke(page, 0.75)
        # the page copies the editor by itself once the stroke ends: a click after that uploads nothing
        page.wait_for_function("() => { const s = window.__synthkitEditors.state('pyramid-editor');"
                               " return s.synced === s.gen && !s.pending }")
        n, shown4 = regenerate(8)
        rows = changed_rows(shown4, other)
        assert n == 0, f"{n} uploads after the editor's own copy"
        assert rows.size and rows.min() >= size // 2, rows  # the uploaded scene, with only the new stroke
        page.screenshot(path=str(artifacts_dir / "demo_inpainting_edits.png"), full_page=True)
        assert errors == [], errors
    finally:
        context.close()
