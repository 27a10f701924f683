"""Layout-to-image app (demos/layout_to_image.py) on the bundled bachgan-toyscapes checkpoint.

Level 1: the event functions called in-process, every bad input included. Level 2: the standalone app on a
loopback port, driven with gradio_client (named endpoints; bad input -> AppError with our message, never Gradio's
generic text). Level 3 (marked ``browser``): a box drawn on the canvas in Chromium reaches the model in the right
place, at 1:1 and with the canvas shown smaller than its image (gradio_image_annotation #33).
"""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from demos import layout_to_image as app
from synthkit.pipelines.bachgan import test_layouts
from conftest import next_frames

GENERIC_UPSTREAM = "The upstream Gradio app has raised an exception"
CAR, TREE = 11, 9


@pytest.fixture(scope="module")
def pipe():
    return app.get_pipeline()


def _canvas(boxes, size=256):
    return {"image": np.full((size, size, 3), 200, np.uint8), "boxes": boxes}


# ---------------------------------------------------------------------------------------------------------- level 1
def test_generate_from_table_outputs(pipe):
    rows = [["car", 4, 40, 20, 52], ["tree", 30, 10, 40, 50]]
    canvas, table, image, gallery, fused, notes = app.generate_from_table(rows, 0)
    expected = pipe.layout_to_image([("car", 4, 40, 20, 52), ("tree", 30, 10, 40, 50)], seed=0)
    np.testing.assert_array_equal(image, expected.image)
    assert table == [["car", 4, 40, 20, 52], ["tree", 30, 10, 40, 50]]
    assert len(gallery) == 4 and all(g[0].shape == (64, 64, 3) for g in gallery)
    assert "pooled IoU" in gallery[0][1] and "box layout" in gallery[3][1]
    assert fused.shape == (64, 64, 3) and notes == ""
    # the canvas shows the generated image enlarged 4x with the boxes in canvas pixels
    assert canvas["image"].shape == (256, 256, 3)
    np.testing.assert_array_equal(canvas["image"][::4, ::4], image)
    assert canvas["boxes"][0] == {"label": "car", "color": canvas["boxes"][0]["color"], "xmin": 16, "ymin": 160,
                                  "xmax": 80, "ymax": 208}


def test_table_accepts_dataframe_dicts_strings_and_blank_rows(pipe):
    a = app.generate_from_table({"headers": app.TABLE_HEADERS, "data": [["car", "4", "40", "20", "52"], ["", "", "", "", ""]]}, "0")
    b = app.generate_from_table([["CAR", 4.0, 40.0, 20.0, 52.0]], 0)
    np.testing.assert_array_equal(a[2], b[2])


def test_generate_from_canvas_rescales_canvas_pixels(pipe):
    canvas = _canvas([{"label": "car", "xmin": 16, "ymin": 160, "xmax": 80, "ymax": 208, "color": (0, 0, 0)}])
    _, table, image, *_ , notes = app.generate_from_canvas(canvas, 0)
    assert table == [["car", 4, 40, 20, 52]]
    np.testing.assert_array_equal(image, app.generate_from_table([["car", 4, 40, 20, 52]], 0)[2])
    assert "256×256 canvas" in notes


def test_seed_changes_the_background(pipe):
    rows = [["building", 8, 10, 30, 40]]
    images = [app.generate_from_table(rows, s)[2] for s in (0, 1, 2)]
    assert any(not np.array_equal(images[0], im) for im in images[1:])


def test_empty_and_clipped_and_ignored_boxes_give_notes(pipe):
    *_, notes = app.generate_from_table([], 0)
    assert "background only" in notes
    *_, notes = app.generate_from_table([["car", -10, 40, 20, 70], ["tree", 5, 5, 5, 20], ["tree", 30, 20, 20, 40]], 0)
    assert "Box 1 (car) extends outside the canvas: clipped" in notes
    assert "Box 2 (tree) has zero area: ignored" in notes and "Box 3 (tree) has inverted" in notes


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: app.generate_from_table([["dog", 1, 1, 9, 9]], 0), "unknown box class 'dog'; boxes can be: tree (9), building (10), car (11)"),
        (lambda: app.generate_from_table([["sky", 1, 1, 9, 9]], 0), "cannot be drawn as a box"),
        (lambda: app.generate_from_table([["car", 1, 1, 9, 9]] * 17, 0), "17 boxes given; this model was trained on scenes with at most 16 objects"),
        (lambda: app.generate_from_table([["car", 1, "", 9, 9]], 0), "Table row 1: y0 is empty"),
        (lambda: app.generate_from_table([["car", 1, "two", 9, 9]], 0), "Table row 1: y0 must be a number of pixels, got 'two'"),
        (lambda: app.generate_from_table([["car", 1, 2, 9]], 0), "Table row 1 has 4 cells"),
        (lambda: app.generate_from_table([["car", 1, 1, 9, 9]], -3), "Seed must be a whole number between 0 and"),
        (lambda: app.generate_from_table([["car", 1, 1, 9, 9]], 1.5), "Seed must be a whole number"),
        (lambda: app.generate_from_canvas(None, 0), "The canvas has no image"),
        (lambda: app.generate_from_canvas(_canvas([{"label": "", "xmin": 1, "ymin": 1, "xmax": 50, "ymax": 50}]), 0),
         "Box 1 on the canvas has no class: select it and choose one of tree, building, car"),
        (lambda: app.generate_from_canvas(_canvas([{"label": "lamp", "xmin": 1, "ymin": 1, "xmax": 50, "ymax": 50}]), 0),
         "unknown box class 'lamp'"),
        (lambda: app.generate_from_canvas(_canvas([{"label": "car", "xmin": 1, "ymin": 1, "xmax": 50}]), 0),
         "Box 1 on the canvas has no ymax: draw it again"),
        (lambda: app.generate_from_canvas(_canvas(["car 1 1 50 50"]), 0), "Box 1 on the canvas is not a box (str)"),
        (lambda: app.generate_from_canvas(_canvas([{"label": "car", "xmin": 1, "ymin": 1, "xmax": 50, "ymax": 50}] * 17), 0),
         "17 boxes given; this model was trained on scenes with at most 16 objects"),
        (lambda: app.generate_from_canvas(_canvas([{"label": "car", "xmin": 1, "ymin": 1, "xmax": "wide", "ymax": 50}]), 0),
         "coordinates must be numbers"),
        (lambda: app.generate_from_table([["car", 1, 1, "inf", 9]], 0), "coordinates must be finite numbers"),
        (lambda: app.generate_from_table([5, 6], 0), "Table row 1 must be 5 cells"),
        (lambda: app.generate_from_table("car 1 1 9 9", 0), "The boxes table must be rows"),
        (lambda: app.generate_from_table([["car", 1, 1, 9, 9]], None), "Seed is empty"),
    ],
)
def test_bad_input_raises_gr_error_with_message(pipe, call, message):
    with pytest.raises(gr.Error) as err:
        call()
    assert message in str(err.value.message)


def test_canvas_boxes_outside_zero_area_inverted_and_empty(pipe):
    """The issue's bad-input list through the canvas (canvas pixels, 4 per model pixel)."""
    box = lambda x0, y0, x1, y1: {"label": "car", "xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}  # noqa: E731
    _, table, *_, notes = app.generate_from_canvas(
        _canvas([box(-40, 160, 80, 300), box(20, 20, 20, 80), box(120, 80, 60, 160), box(300, 300, 400, 400)]), 0)
    assert table == [["car", 0, 40, 20, 64]]  # clipped to the 64x64 grid
    assert "Box 1 (car) extends outside the canvas: clipped" in notes
    assert "Box 2 (car) has zero area: ignored" in notes and "Box 3 (car) has inverted" in notes
    assert "Box 4 (car) lies entirely outside the 256×256 canvas: ignored" in notes
    _, table, image, *_, notes = app.generate_from_canvas(_canvas([]), 0)
    assert table == [] and image.shape == (64, 64, 3) and "background only" in notes


def test_reset_and_examples(pipe):
    canvas, table = app.reset_canvas()
    assert canvas["image"].shape == (256, 256, 3) and canvas["boxes"] == [] and table == []
    examples = app.example_tables()
    assert len(examples) == app.N_EXAMPLES
    readable = [s for s in test_layouts(60, size=64) if app._readable(s.boxes)][: app.N_EXAMPLES]
    assert [t for t, _ in examples] == [[[pipe.class_names[c], *xy] for c, *xy in s.boxes] for s in readable]
    assert all(len(t) <= 8 for t, _ in examples)
    for table, seed in examples:  # every example runs without a note (held-out layouts are valid boxes)
        assert app.generate_from_table(table, seed)[5] == ""


def test_standalone_demo_builds_with_named_endpoints():
    demo = app.build_demo()
    public = {dep.api_name for dep in demo.fns.values() if dep.api_visibility == "public"}
    assert {"layout_generate", "layout_from_canvas", "layout_reset"} <= public
    for dep in demo.fns.values():
        if dep.api_visibility == "public":
            assert getattr(dep.fn, "__synthkit_user_errors__", False), dep.api_name


def test_app_has_the_tab():
    from demos import app as full

    assert ("Layout (BachGAN)", "demos.layout_to_image") in full.TABS


# ---------------------------------------------------------------------------------------------------------- level 2
@pytest.fixture(scope="module")
def client(launch_blocks):
    from gradio_client import Client

    demo = app.build_demo()
    url = launch_blocks(demo)
    yield Client(url, verbose=False)
    demo.close()


def test_client_view_api(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/layout_generate", "/layout_from_canvas", "/layout_reset"} <= set(api)
    params = [p["parameter_name"] for p in api["/layout_generate"]["parameters"]]
    assert params == ["table", "seed"]
    returns = [r["component"] for r in api["/layout_generate"]["returns"]]
    assert returns[2:] == ["Image", "Gallery", "Image", "Markdown"]


def test_client_generates_the_same_image_as_the_pipeline(client, pipe, read_png):
    table = {"headers": app.TABLE_HEADERS, "data": [["car", 4, 40, 20, 52], ["tree", 30, 10, 40, 50]]}
    canvas, rows, image, gallery, fused, notes = client.predict(table, 2, api_name="/layout_generate")
    expected = pipe.layout_to_image([("car", 4, 40, 20, 52), ("tree", 30, 10, 40, 50)], seed=2)
    np.testing.assert_array_equal(read_png(image), expected.image)
    np.testing.assert_array_equal(read_png(fused), expected.fused_colors())
    assert len(gallery) == 4
    np.testing.assert_array_equal(read_png(gallery[0]["image"]), expected.retrieved_colors()[0])
    assert rows["data"] == [["car", 4, 40, 20, 52], ["tree", 30, 10, 40, 50]]


@pytest.mark.parametrize(
    "data, seed, message",
    [
        ([["dog", 1, 1, 9, 9]], 0, "unknown box class"),
        ([["car", 1, 1, 9, 9]] * 17, 0, "17 boxes given"),
        ([["car", 1, "two", 9, 9]], 0, "Table row 1: y0 must be a number of pixels"),
        ([["sky", 1, 1, 9, 9]], 0, "cannot be drawn as a box"),
        ([["car", 1, 1, 9, 9]], -1, "Seed must be a whole number"),
    ],
)
def test_client_bad_input_gets_our_message(client, data, seed, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict({"headers": app.TABLE_HEADERS, "data": data}, seed, api_name="/layout_generate")
    assert message in str(err.value) and GENERIC_UPSTREAM not in str(err.value)


def test_client_canvas_without_image_gets_our_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(None, 0, api_name="/layout_from_canvas")
    assert "The canvas has no image" in str(err.value) and GENERIC_UPSTREAM not in str(err.value)


def test_client_empty_table_is_a_note_not_an_error(client):
    *_, notes = client.predict({"headers": app.TABLE_HEADERS, "data": []}, 0, api_name="/layout_generate")
    assert "background only" in notes


# ---------------------------------------------------------------------------------------------------------- level 3
def _draw_box(page, x0, y0, x1, y1, label):
    """As a user: tool "Create box", drag on the canvas (CSS pixels from its top-left), pick the class, OK."""
    page.locator("#layout-canvas button[title='Create box (C)']").click()
    canvas = page.locator("#layout-canvas canvas").first
    canvas.scroll_into_view_if_needed()
    bb = canvas.bounding_box()  # viewport coordinates, which page.mouse uses
    page.mouse.move(bb["x"] + x0, bb["y"] + y0)
    page.mouse.down()
    page.mouse.move(bb["x"] + (x0 + x1) / 2, bb["y"] + (y0 + y1) / 2, steps=5)
    page.mouse.move(bb["x"] + x1, bb["y"] + y1, steps=5)
    page.mouse.up()
    field = page.locator(".modal-container input[aria-label=Label]")
    field.wait_for(state="visible")
    field.click()
    page.locator("ul.options li[aria-label='%s']" % label).click()
    ok = page.locator(".modal-container button", has_text="OK")
    if ok.evaluate("b => { const r = b.getBoundingClientRect(); return r.right <= window.innerWidth; }"):
        ok.click()
    else:
        # on a narrow screen the annotator's label dialog is wider than the viewport and its OK button lies
        # off-screen (a user must scroll sideways); press it programmatically
        ok.dispatch_event("click")
    page.locator(".modal-container").wait_for(state="hidden")
    next_frames(page)  # the annotator applies its new value (the box) once the dialog has closed
    return bb


def _table_rows(page):
    """Rows of the boxes table (textContent: Gradio 6 also keeps a hidden sizing copy of the rows; deduplicated)."""
    rows = page.evaluate(
        "() => [...document.querySelectorAll('#layout-table tbody tr')].map("
        "tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()))"
    )
    unique = []
    for r in rows:
        if r not in unique:
            unique.append(r)
    return unique


@pytest.fixture(scope="module")
def app_url(launch_blocks):
    from demos.common import launch_kwargs

    demo = app.build_demo()
    url = launch_blocks(demo, **launch_kwargs())
    yield url
    demo.close()


@pytest.mark.browser
@pytest.mark.parametrize("viewport_width", [1280, 220])
def test_browser_box_drawn_on_the_canvas_reaches_the_model(app_url, browser, artifacts_dir, viewport_width):
    """At 1280 px the 256 px canvas image is shown at 1:1; at 220 px the component is narrower than the image,
    the case of gradio_image_annotation #33 (boxes rescaled wrongly)."""
    context = browser.new_context(viewport={"width": viewport_width, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(app_url)
        page.wait_for_load_state("networkidle")
        page.locator("#layout-reset").click()
        page.wait_for_function(
            "() => ![...document.querySelectorAll('#layout-table td')].some(td => td.textContent.trim() === 'tree')"
        )
        canvas = page.locator("#layout-canvas canvas").first
        canvas.scroll_into_view_if_needed()
        bb = canvas.bounding_box()
        # where the 256x256 image is drawn inside the canvas element: centred, scaled to fit
        scale = min(bb["width"], bb["height"]) / 256
        off_x, off_y = (bb["width"] - 256 * scale) / 2, (bb["height"] - 256 * scale) / 2
        # a car box from model pixel (8, 36) to (28, 52), i.e. canvas image pixels (32, 144) to (112, 208)
        target = (8, 36, 28, 52)
        css = [off_x + 4 * target[0] * scale, off_y + 4 * target[1] * scale,
               off_x + 4 * target[2] * scale, off_y + 4 * target[3] * scale]
        _draw_box(page, *css, "car")
        page.locator("#layout-generate-canvas").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('#layout-table tbody tr td')].some(td => td.textContent.trim() === 'car')"
        )
        page.wait_for_load_state("networkidle")
        rows = [r for r in _table_rows(page) if r and r[0] == "car"]
        page.screenshot(path=str(artifacts_dir / f"demo_layout_canvas_{viewport_width}.png"), full_page=True)
        assert len(rows) == 1, rows
        got = [int(float(v)) for v in rows[0][1:5]]
        shown = f"canvas element {bb['width']:.0f}x{bb['height']:.0f} CSS px, image scale {scale:.3f}"
        assert max(abs(g - t) for g, t in zip(got, target)) <= 1, f"drawn {target}, the model got {got} ({shown})"
        if viewport_width < 256:
            assert scale < 1, f"the #33 case needs the image shown smaller than 256 px ({shown})"
        assert errors == [], errors
    finally:
        context.close()


def test_canvas_endpoint_accepts_its_own_api_default(client, read_png):
    """The API page's default for /layout_from_canvas is the annotator's own output (box colours as [r, g, b]);
    gradio_image_annotation's preprocess read colours only as "rgb(r, g, b)" and failed on it (TypeError)."""
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/layout_from_canvas"]
    default = api["parameters"][0]["parameter_default"]
    assert default["boxes"] and isinstance(default["boxes"][0]["color"], list)
    canvas, rows, image, gallery, fused, notes = client.predict(default, 0, api_name="/layout_from_canvas")
    s = app.CANVAS_SCALE
    expected = [[b["label"], b["xmin"] // s, b["ymin"] // s, b["xmax"] // s, b["ymax"] // s] for b in default["boxes"]]
    assert rows["data"] == expected
    assert read_png(image).shape[2] == 3
