"""The 3D-controls app (demos/controls_3d.py) on a tiny saved model: in-process events equal the pipeline, bad input
is a clear message, the API through gradio_client on loopback, and a slider in a real browser changes the image."""
from __future__ import annotations

import os

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from demos import controls_3d as app


@pytest.fixture(scope="module", autouse=True)
def tiny_model(tmp_path_factory):
    import torch

    from synthkit.models.controllable3d import Controllable3DConfig, Controllable3DGenerator

    folder = tmp_path_factory.mktemp("c3d") / "tiny"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        cfg = Controllable3DConfig.from_preset("tiny_test", image_size=32)
        Controllable3DGenerator(cfg).save_pretrained(folder)
    before = os.environ.get(app.MODEL_ENV)
    os.environ[app.MODEL_ENV] = str(folder)
    app.get_pipeline.cache_clear()
    yield folder
    if before is None:
        os.environ.pop(app.MODEL_ENV, None)
    else:
        os.environ[app.MODEL_ENV] = before
    app.get_pipeline.cache_clear()


@pytest.fixture(scope="module")
def pipe():
    return app.get_pipeline()


def _controls(defaults):
    """The per-object slider values of ``scene_defaults`` (everything after image, notes, azimuth, elevation)."""
    return list(defaults[4:])


def test_scene_defaults_are_the_sampled_scene(pipe):
    out = app.scene_defaults(3)
    scene = pipe.sample(3)
    n = pipe.G.config.n_primitives
    assert len(out) == 4 + 6 * n
    np.testing.assert_array_equal(out[0], app.enlarge(scene.image))
    assert out[2] == pytest.approx(scene.azimuth, abs=0.05) and out[3] == pytest.approx(scene.elevation, abs=0.05)
    for k in range(n):
        x, _, z = scene.translation(k)
        assert out[4 + 6 * k: 10 + 6 * k] == [pytest.approx(x, abs=5e-4), pytest.approx(z, abs=5e-4), 0.0, 1.0,
                                              True, 0]


def test_render_with_defaults_is_the_sample_and_each_control_is_the_pipeline_edit(pipe):
    d = app.scene_defaults(5)
    az, el, per = d[2], d[3], _controls(d)
    image, layers, _ = app.render_event(5, az, el, app.NO_LAYERS, *per)
    base = pipe.sample(5).camera(az, el)
    # the sliders round x/z to 1e-3: moving an object by that little changes few pixels, never the whole image
    assert np.abs(image.astype(int) - app.enlarge(base.image).astype(int)).mean() < 2 and layers is None
    moved = list(per)
    moved[0] = 0.5
    image, _, _ = app.render_event(5, az, el, app.NO_LAYERS, *moved)
    x0, _, z0 = base.translation(0)
    want = base.move(0, (0.5, None, round(z0, 3)))
    for k in range(1, pipe.G.config.n_primitives):
        want = want.move(k, (per[6 * k], None, per[6 * k + 1]))
    np.testing.assert_array_equal(image, app.enlarge(want.image))
    hidden = list(per)
    hidden[4] = False
    image, _, notes = app.render_event(5, az, el, app.NO_LAYERS, *hidden)
    assert not np.array_equal(image, app.enlarge(base.image)) or not base.visible()[0]
    turned, _, _ = app.render_event(5, (az + 90) % 360, el, app.NO_LAYERS, *per)
    assert not np.array_equal(turned, app.enlarge(base.image))


def test_layers_strip_shows_four_tiles(pipe):
    d = app.scene_defaults(1)
    _, layers, _ = app.render_event(1, d[2], d[3], "object 1", *_controls(d))
    assert layers.dtype == np.uint8 and layers.ndim == 3 and layers.shape[2] == 3
    assert layers.shape[1] == pytest.approx(4 * layers.shape[0], rel=0.01)  # four square tiles side by side


def test_remove_every_object_leaves_the_background_and_says_so(pipe):
    d = app.scene_defaults(2)
    per = _controls(d)
    for k in range(pipe.G.config.n_primitives):
        per[6 * k + 4] = False
    image, _, notes = app.render_event(2, d[2], d[3], app.NO_LAYERS, *per)
    assert "background alone" in notes
    scene = pipe.sample(2).camera(d[2], d[3])
    for k in range(pipe.G.config.n_primitives):
        scene = scene.remove(k)
    np.testing.assert_array_equal(image, app.enlarge(scene.image))


def test_out_of_range_values_are_clamped_and_said(pipe):
    d = app.scene_defaults(0)
    per = _controls(d)
    per[0], per[3] = 9.0, 7.0  # x far outside the model's range, size x7
    _, _, notes = app.render_event(0, d[2], 95, app.NO_LAYERS, *per)
    assert "object 1: x = 9 is outside the model's range" in notes
    assert "object 1: scale 7 is outside 0.5..2; clamped" in notes
    assert "elevation 95° is outside" in notes


def test_look_seed_changes_colour_not_silhouette(pipe):
    d = app.scene_defaults(4)
    per = _controls(d)
    looked = list(per)
    looked[5] = 7
    scene = app.build_scene(4, d[2], d[3], looked)
    plain = app.build_scene(4, d[2], d[3], per)
    np.testing.assert_array_equal(scene.render().rendered_alpha.numpy(), plain.render().rendered_alpha.numpy())
    assert not np.array_equal(scene.z_app.numpy(), plain.z_app.numpy())


def test_turntable_writes_a_new_gif_per_call(pipe):
    d = app.scene_defaults(0)
    a = app.turntable_event(0, d[2], d[3], app.NO_LAYERS, *_controls(d), 6)
    b = app.turntable_event(0, d[2], d[3], app.NO_LAYERS, *_controls(d), 6)
    assert a != b
    with Image.open(a) as gif:
        assert gif.n_frames == 6 and gif.size == (app.DISPLAY, app.DISPLAY)
    os.remove(a)
    os.remove(b)


@pytest.mark.parametrize("call, message", [
    (lambda per: app.render_event(-1, 0, 30, app.NO_LAYERS, *per), "Seed must be a whole number"),
    (lambda per: app.render_event(0, "north", 30, app.NO_LAYERS, *per), "Azimuth must be a number"),
    (lambda per: app.render_event(0, 0, None, app.NO_LAYERS, *per), "Elevation is empty"),
    (lambda per: app.render_event(0, 0, 30, "object 9", *per), "there is no such object"),
    (lambda per: app.render_event(0, 0, 30, app.NO_LAYERS, *per[:-1]), "object values"),
    (lambda per: app.render_event(0, 0, 30, app.NO_LAYERS, *([float("nan")] + per[1:])), "object 1 x must be a finite"),
    (lambda per: app.render_event(0, 0, 30, app.NO_LAYERS, *(per[:4] + ["maybe"] + per[5:])),
     "object 1 shown must be true or false"),
    (lambda per: app.turntable_event(0, 0, 30, app.NO_LAYERS, *per, 1000), "Frames must be a whole number"),
])
def test_bad_input_raises_gr_error_with_message(pipe, call, message):
    per = _controls(app.scene_defaults(0))
    with pytest.raises(gr.Error) as err:
        call(per)
    assert message in str(err.value.message)


def test_standalone_demo_events():
    demo = app.build_demo()
    public = {dep.api_name: dep for dep in demo.fns.values() if dep.api_visibility == "public"}
    assert {"controls_scene", "controls_render", "controls_turntable"} <= set(public)
    for name, dep in public.items():
        assert getattr(dep.fn, "__synthkit_user_errors__", False), name
    assert public["controls_render"].trigger_mode == "always_last"
    assert not any(isinstance(b, gr.Tab) for b in demo.blocks.values())


def test_app_has_the_tab():
    from demos import app as full

    assert ("3D controls (Liao)", "demos.controls_3d") in full.TABS


# ---------------------------------------------------------------------------------------------------------- level 2
@pytest.fixture(scope="module")
def url(launch_blocks):
    from demos.common import launch_kwargs

    demo = app.build_demo()
    yield launch_blocks(demo, **launch_kwargs())
    demo.close()


def test_client_scene_then_render(url, pipe, read_png):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(url, verbose=False)
    out = client.predict(6, api_name="/controls_scene")
    np.testing.assert_array_equal(read_png(out[0]), app.enlarge(pipe.sample(6).image))
    per = list(out[4:])
    image, layers, notes = client.predict(6, out[2], out[3], "object 2", *per, api_name="/controls_render")
    np.testing.assert_array_equal(read_png(image), app.render_event(6, out[2], out[3], app.NO_LAYERS, *per)[0])
    assert read_png(layers).shape[1] > read_png(layers).shape[0]
    with pytest.raises(AppError, match="there is no such object"):
        client.predict(6, 0, 30, "object 7", *per, api_name="/controls_render")


# ---------------------------------------------------------------------------------------------------------- level 3
@pytest.mark.browser
def test_browser_camera_slider_turns_the_scene(url, browser_page, artifacts_dir, shown_png):
    page = browser_page.page
    page.goto(url)
    img = page.locator("#c3d-image img")
    img.wait_for(state="visible", timeout=60_000)
    before_src = img.get_attribute("src")  # read before the drag, so a fast answer cannot be missed
    # drag the camera-azimuth thumb most of the way to the right, as a user does (the event runs on release)
    slider = page.locator("#c3d-azimuth input[type=range]")
    bb = slider.bounding_box()
    y = bb["y"] + bb["height"] / 2
    page.mouse.move(bb["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(bb["x"] + 0.6 * bb["width"], y, steps=6)
    page.mouse.up()
    # the render runs on release only (one event per release), so the first new picture is the final one
    page.wait_for_function(
        "(src) => { const i = document.querySelector('#c3d-image img');"
        " return i && i.src !== src && i.complete && i.naturalWidth > 0; }",
        arg=before_src, timeout=30_000)
    azimuth = float(page.locator("#c3d-azimuth input[type=number]").input_value())
    src = page.locator("#c3d-image img").get_attribute("src")
    page.screenshot(path=str(artifacts_dir / "controls3d_tab.png"), full_page=True)
    assert azimuth > 100, azimuth
    shown = shown_png(page, src)
    d = app.scene_defaults(0)
    want = app.render_event(0, azimuth, d[3], app.NO_LAYERS, *_controls(d))[0]
    np.testing.assert_array_equal(shown, want)  # the page shows the model's render at the dragged camera
    assert not np.array_equal(want, app.enlarge(app.get_pipeline().sample(0).image))
    assert browser_page.errors == []
