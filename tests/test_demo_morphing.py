"""Style-morphing app (demos/style_morphing.py): SMIS's four applications behind one slider.

The app serves the bundled ``smis-toyscapes`` GroupDNet when it is registered; otherwise (while it is being
trained) these tests serve a ``tiny_test`` GroupDNet with random weights, saved and loaded through a real folder.
Random weights are enough here: the tests check the plumbing (what reaches the model, that a slider tick equals
the uncached forward, that only the chosen class's code moves, every bad input's message), not image quality.

Level 1: the event functions in-process, bad inputs included. Level 2: the standalone app on a loopback port driven
with gradio_client (named endpoints, one session per client; bad input -> AppError with our message). Level 3
(``browser``): the slider dragged in Chromium changes the image (screenshots in test-artifacts/).
"""
from __future__ import annotations

import io
import os

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image
from conftest import PageNetwork, next_frames, wait_until_settled

GENERIC_UPSTREAM = "The upstream Gradio app has raised an exception"


def _bundled_available() -> bool:
    try:
        from synthkit import registry

        entry = registry.get("smis-toyscapes") if hasattr(registry, "get") else None
        return entry is not None and entry.path is not None and (entry.path / "model.safetensors").is_file()
    except Exception:  # noqa: BLE001 - not registered yet
        return False


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app module, serving the bundled model or (until it lands) a tiny random GroupDNet from a folder."""
    from demos import style_morphing
    from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig

    before = os.environ.get(style_morphing.MODEL_ENV)
    if not _bundled_available():
        torch.manual_seed(0)
        model = GroupDNet(GroupDNetConfig.from_preset("tiny_test")).eval()
        for m in model.modules():  # non-trivial eval statistics, as a trained model has
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
        folder = tmp_path_factory.mktemp("smis_tiny")
        model.save_pretrained(folder)
        os.environ[style_morphing.MODEL_ENV] = str(folder)
    _clear_caches(style_morphing)
    yield style_morphing
    if before is None:
        os.environ.pop(style_morphing.MODEL_ENV, None)
    else:
        os.environ[style_morphing.MODEL_ENV] = before
    _clear_caches(style_morphing)


def _clear_caches(mod) -> None:
    for fn in (mod.get_pipeline, mod.example_sample, mod.photo_sample, mod.photo_latent, mod._toyscapes_test):
        fn.cache_clear()


@pytest.fixture(scope="module")
def pipe(app):
    return app.get_pipeline()


SEEDS = ("seed", 0, 0, "seed", 1, 0)  # style A = seed 0, style B = seed 1


def _two_classes(pipe, label):
    """(largest class, another class) of a label map."""
    counts = np.bincount(label.ravel(), minlength=len(pipe.class_names))
    order = [int(k) for k in np.argsort(-counts) if counts[k] > 0]
    return order[0], order[1]


def _absent(pipe, label) -> str:
    return next(n for k, n in enumerate(pipe.class_names) if not (label == k).any())


def _png(a: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------- level 1
def test_example_setup_matches_the_pipeline(app, pipe):
    label = app.example_sample(1).label
    c, _ = _two_classes(pipe, label)
    name = pipe.class_names[c]
    label_rgb, dd, image, text, session = app.morph_example(1, name, *SEEDS, 0.4)
    from synthkit.data.palette import labels_to_color

    np.testing.assert_array_equal(label_rgb, labels_to_color(label, pipe.palette))
    assert dd["value"] == name and set(dd["choices"]) == {pipe.class_names[k] for k in np.unique(label)}
    expected = pipe.morph(label, pipe.random_latent(0), pipe.random_latent(1), 0.4, cls=c).image
    np.testing.assert_array_equal(image, expected)  # the cached path gives the uncached forward's image
    assert f"Morphing **{name}** from style A (seed 0) to style B (seed 1)" in text
    assert session.cls == c and session.morpher.classes == [c]


def test_ticks_equal_the_uncached_forward_and_move_only_the_class_code(app, pipe):
    label = app.example_sample(0).label
    c, _ = _two_classes(pipe, label)
    *_, session = app.morph_example(0, pipe.class_names[c], *SEEDS, 0.0)
    frames = []
    for t in (0.0, 0.25, 1.0):
        image, state = app.morph_tick(t, session)
        assert state == gr.skip()  # a tick never writes the session back (it could undo a concurrent click)
        np.testing.assert_array_equal(image, pipe.morph(label, session.z_a, session.z_b, t, cls=c).image)
        z = session.morpher.latent(t)
        others = [k for k in range(len(pipe.class_names)) if k != c]
        assert torch.equal(z[:, others], session.z_a[:, others].to(z.device))
        frames.append(image)
    np.testing.assert_array_equal(frames[0], pipe.sample(label, seed=0).image)  # t = 0 is style A everywhere
    assert not np.array_equal(frames[0], frames[2])


def test_ticks_reuse_the_label_map_cache(app, pipe, monkeypatch):
    """The label-map branches run once per setup, never per tick."""
    *_, session = app.morph_example(0, None, *SEEDS, 0.0)
    calls = []
    assert pipe.fast  # the app serves the folded-weight forward
    original = pipe.generator.precompute_norm_params
    monkeypatch.setattr(pipe.generator, "precompute_norm_params", lambda seg: calls.append(1) or original(seg))
    for t in np.linspace(0, 1, 5):
        app.morph_tick(float(t), session)
    assert calls == []
    app.morph_styles(pipe.class_names[session.cls], *SEEDS, 0.0, session)  # a new setup builds it once
    assert calls == [1]


def test_tick_without_a_session_uses_the_default_one(app, pipe):
    image, session = app.morph_tick(0.5, None)
    d = app.default_session()
    np.testing.assert_array_equal(image, d.frame(0.5))
    assert np.array_equal(session.label, app.example_sample(0).label)


def test_styles_from_photos_are_the_encoded_codes(app, pipe):
    label = app.example_sample(0).label
    c, _ = _two_classes(pipe, label)
    *_, text, session = app.morph_styles(pipe.class_names[c], "photo", 0, 2, "photo", 0, 3, 0.0,
                                         app.default_session())
    for side, p in ((session.z_a, 2), (session.z_b, 3)):
        s = app.photo_sample(p)
        assert torch.equal(side, pipe.encode(s.image, s.label).z)
    assert "style A (photo 2) to style B (photo 3)" in text


def test_resample_other_class_changes_only_its_code_in_both_endpoints(app, pipe):
    label = app.example_sample(0).label
    c, k = _two_classes(pipe, label)
    *_, session = app.morph_example(0, pipe.class_names[c], *SEEDS, 0.0)
    image, notes, new = app.morph_resample(pipe.class_names[k], 0.5, session)
    changed = lambda a, b: [j for j in range(a.shape[1]) if not torch.equal(a[:, j], b[:, j])]  # noqa: E731
    assert changed(session.z_a, new.z_a) == [k] and changed(session.z_b, new.z_b) == [k]
    assert torch.equal(new.z_a[:, k], new.z_b[:, k])
    np.testing.assert_array_equal(image, pipe.morph(label, new.z_a, new.z_b, 0.5, cls=c).image)
    assert f"New code for {pipe.class_names[k]}" in notes and new.draws == 1
    # the morphed class: a new style B only
    _, notes, newer = app.morph_resample(pipe.class_names[c], 0.5, new)
    assert changed(new.z_a, newer.z_a) == [] and changed(new.z_b, newer.z_b) == [c]
    assert "New style B" in notes and newer.draws == 2
    assert not torch.equal(newer.z_b[:, c], new.z_b[:, c])  # another seed than the first draw


def test_mix_copies_the_reference_codes(app, pipe):
    label = app.example_sample(0).label
    c, k = _two_classes(pipe, label)
    *_, session = app.morph_example(0, pipe.class_names[c], *SEEDS, 0.0)
    image, notes, new = app.morph_mix(2, None, [pipe.class_names[k], pipe.class_names[c]], 1.0, session)
    z_ref = app.photo_latent(2)
    assert torch.equal(new.z_a[:, k], z_ref[:, k]) and torch.equal(new.z_b[:, k], z_ref[:, k])
    assert torch.equal(new.z_b[:, c], z_ref[:, c]) and torch.equal(new.z_a[:, c], session.z_a[:, c])
    np.testing.assert_array_equal(image, pipe.morph(label, new.z_a, new.z_b, 1.0, cls=c).image)
    assert "taken from the reference" in notes and "new style B" in notes


def test_new_map_without_the_chosen_class_falls_back_with_a_note(app, pipe):
    label = app.example_sample(3).label
    missing = _absent(pipe, label)
    _, dd, _, text, session = app.morph_example(3, missing, *SEEDS, 0.0)
    assert f"This map has no {missing}" in text
    assert dd["value"] == pipe.class_names[session.cls] and (label == session.cls).any()


def test_upload_off_palette_wrong_size_rgba_and_grayscale(app, pipe, tmp_path):
    H, W = pipe.image_size
    label = app.example_sample(0).label
    rgb = pipe.palette.colors[label]
    # off-palette colours (as a JPEG or a soft brush makes) at twice the size, with an alpha channel
    noisy = np.clip(rgb.astype(int) + np.random.default_rng(0).integers(-6, 7, rgb.shape), 0, 255).astype(np.uint8)
    big = np.repeat(np.repeat(noisy, 2, axis=0), 2, axis=1)
    rgba = np.concatenate([big, np.full((*big.shape[:2], 1), 255, np.uint8)], axis=2)
    rgba[:4, :4, 3] = 0  # a transparent corner
    path = tmp_path / "map.png"
    path.write_bytes(_png(rgba, "RGBA"))
    label_rgb, _, _, text, session = app.morph_upload(str(path), None, *SEEDS, 0.0)
    assert "pixels were not exactly 'toyscapes' palette colours and were given the nearest class" in text
    assert f"resized (nearest) from {2 * H}x{2 * W} to {H}x{W}" in text
    assert "transparent areas" in text
    assert session.label.shape == (H, W)
    assert (session.label[2:, 2:] == label[2:, 2:]).mean() > 0.99  # nearest colour recovers the map
    # grayscale index map: pixel values are class ids
    gpath = tmp_path / "ids.png"
    gpath.write_bytes(_png(label.astype(np.uint8), "L"))
    *_, text, session = app.morph_upload(str(gpath), None, *SEEDS, 0.0)
    assert "L-mode image: its pixel values were read as class ids" in text
    np.testing.assert_array_equal(session.label, label)


def test_canvas_painting_reaches_the_model(app, pipe):
    H, W = pipe.image_size
    label = app.example_sample(0).label
    c = next(k for k in range(len(pipe.class_names)) if not (label == k).all())
    composite = np.concatenate([pipe.palette.colors[label], np.full((H, W, 1), 255, np.uint8)], axis=2)
    composite[: H // 2, : W // 2, :3] = pipe.palette.colors[c]  # a painted square of class c
    editor = {"background": pipe.palette.colors[label], "layers": [], "composite": composite}
    *_, session = app.morph_canvas(editor, None, *SEEDS, 0.0)
    assert (session.label[: H // 2, : W // 2] == c).all()
    np.testing.assert_array_equal(session.label[H // 2:, W // 2:], label[H // 2:, W // 2:])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a, p, s: a.morph_styles(_absent(p, s.label), *SEEDS, 0.0, s), "is not in this label map"),
        (lambda a, p, s: a.morph_resample(_absent(p, s.label), 0.0, s), "is not in this label map"),
        (lambda a, p, s: a.morph_mix(1, None, [_absent(p, s.label)], 0.0, s), "is not in this label map"),
        (lambda a, p, s: a.morph_styles("dragon", *SEEDS, 0.0, s), "Unknown class 'dragon'"),
        (lambda a, p, s: a.morph_styles(None, *SEEDS, 0.0, s), "No class chosen"),
        (lambda a, p, s: a.morph_tick(1.5, s), "between 0 (style A) and 1 (style B)"),
        (lambda a, p, s: a.morph_tick("half", s), "must be a number between 0 and 1"),
        (lambda a, p, s: a.morph_example(0, None, "seed", -1, 0, "seed", 1, 0, 0.0), "Style A seed must be a whole"),
        (lambda a, p, s: a.morph_example(0, None, "seed", 0, 0, "photo", 0, 99, 0.0), "Style B photo must be"),
        (lambda a, p, s: a.morph_example(0, None, "noise", 0, 0, "seed", 1, 0, 0.0), "must be 'seed' or 'photo'"),
        (lambda a, p, s: a.morph_example(42, None, *SEEDS, 0.0), "Example must be a whole number between 0 and"),
        (lambda a, p, s: a.morph_mix(1, None, [], 0.0, s), "No classes chosen for the mixture"),
        (lambda a, p, s: a.morph_canvas(None, None, *SEEDS, 0.0), "The canvas is empty"),
        (lambda a, p, s: a.morph_upload(None, None, *SEEDS, 0.0), "No label map was given"),
    ],
)
def test_bad_input_raises_gr_error_with_message(app, pipe, call, message):
    session = app.default_session()
    with pytest.raises(gr.Error) as err:
        call(app, pipe, session)
    assert message in str(err.value.message)


def test_uploads_that_are_not_label_maps(app, tmp_path):
    text = tmp_path / "notes.png"
    text.write_bytes(b"not an image at all")
    with pytest.raises(gr.Error, match="not an image that can be read"):
        app.morph_upload(str(text), None, *SEEDS, 0.0)
    photo = tmp_path / "photo.png"
    photo.write_bytes(_png(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    with pytest.raises(gr.Error) as err:
        app.morph_upload(str(photo), None, *SEEDS, 0.0)
    assert "does not look like a 'toyscapes' label map" in err.value.message
    ids = tmp_path / "ids.png"
    ids.write_bytes(_png(np.full((32, 32), 40, np.uint8), "L"))
    with pytest.raises(gr.Error, match=r"label ids \[40\] are out of range"):
        app.morph_upload(str(ids), None, *SEEDS, 0.0)


def test_standalone_demo_events(app):
    demo = app.build_demo()
    public = {dep.api_name: dep for dep in demo.fns.values() if dep.api_visibility == "public"}
    assert {"morph_example", "morph_upload", "morph_canvas", "morph_styles", "morph_tick", "morph_resample",
            "morph_mix"} <= set(public)
    for name, dep in public.items():
        assert getattr(dep.fn, "__synthkit_user_errors__", False), name
    # the exact frame on release; while the slider moves, the page shows precomputed frames (JS only, no server)
    tick = public["morph_tick"]
    assert tick.show_progress == "hidden"
    assert [ev for b, ev in tick.targets if isinstance(demo.blocks[b], gr.Slider)] == ["release"]
    scrub = [dep for dep in demo.fns.values() if dep.fn is None and dep.js == app.SCRUB_JS]
    assert len(scrub) == 1 and [ev for _, ev in scrub[0].targets] == ["input"]
    # every event that makes a new session renders the preview frames after it
    frames_deps = [dep for dep in demo.fns.values() if dep.fn is app.preview_frames_html]
    assert len(frames_deps) >= 6
    states = [b for b in demo.blocks.values() if isinstance(b, gr.State)]
    assert len(states) == 1 and states[0].value is None  # per-session Morpher, never a shared one
    # demos/app.py takes every gr.Tab of the app for one of its pages: a tab must not open Tabs of its own
    assert not any(isinstance(b, gr.Tab) for b in demo.blocks.values())


def test_app_has_the_tab():
    from demos import app as full

    assert ("Morphing (SMIS)", "demos.style_morphing") in full.TABS


# ---------------------------------------------------------------------------------------------------------- level 2
@pytest.fixture(scope="module")
def url(app, launch_blocks):
    from demos.common import launch_kwargs

    demo = app.build_demo()
    yield launch_blocks(demo, **launch_kwargs())
    demo.close()


def test_client_named_endpoints(url):
    from gradio_client import Client

    api = Client(url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/morph_example", "/morph_upload", "/morph_canvas", "/morph_styles", "/morph_tick", "/morph_resample",
            "/morph_mix"} <= set(api)
    assert [p["parameter_name"] for p in api["/morph_tick"]["parameters"]] == ["t"]
    # the class is a listed parameter (it was a Button's value, missing from the API page, so calls failed)
    assert [p["parameter_name"] for p in api["/morph_resample"]["parameters"]] == ["cls", "t"]
    assert [r["component"] for r in api["/morph_example"]["returns"]] == ["Image", "Dropdown", "Image", "Markdown"]


def test_client_session_morphs_like_the_pipeline(url, app, pipe, read_png):
    from gradio_client import Client

    client = Client(url, verbose=False)
    label = app.example_sample(2).label
    c, k = _two_classes(pipe, label)
    label_img, cls, image, text = client.predict(2, pipe.class_names[c], *SEEDS, 0.0, api_name="/morph_example")
    assert cls["value"] == pipe.class_names[c]  # an update: the value and the classes of this map
    assert {v for v, _ in cls["choices"]} == {pipe.class_names[j] for j in np.unique(label)}
    np.testing.assert_array_equal(read_png(label_img), pipe.palette.colors[label])
    za, zb = pipe.random_latent(0), pipe.random_latent(1)
    for t in (0.0, 0.6):
        frame = client.predict(t, api_name="/morph_tick")  # the session holds this client's Morpher
        np.testing.assert_array_equal(read_png(frame), pipe.morph(label, za, zb, t, cls=c).image)
    image, notes = client.predict(pipe.class_names[k], 0.6, api_name="/morph_resample")
    assert f"New code for {pipe.class_names[k]}" in notes
    # a second client has its own session: still the default one
    other = Client(url, verbose=False)
    d = app.default_session()
    np.testing.assert_array_equal(read_png(other.predict(0.6, api_name="/morph_tick")), d.frame(0.6))


@pytest.mark.parametrize(
    "endpoint, args, message",
    [
        ("/morph_resample", ("dragon", 0.0), "Unknown class 'dragon'"),
        ("/morph_styles", ("dragon", *SEEDS, 0.0), "Unknown class 'dragon'"),
        ("/morph_mix", (1, None, [], 0.0), "No classes chosen"),
    ],
)
def test_client_bad_input_gets_our_message(url, endpoint, args, message):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        Client(url, verbose=False).predict(*args, api_name=endpoint)
    assert message in str(err.value) and GENERIC_UPSTREAM not in str(err.value)


def test_client_absent_class_and_upload(url, app, pipe, tmp_path, read_png):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(url, verbose=False)
    label = app.example_sample(0).label
    missing = _absent(pipe, label)
    client.predict(0, None, *SEEDS, 0.0, api_name="/morph_example")
    with pytest.raises(AppError, match="is not in this label map"):
        client.predict(missing, 0.0, api_name="/morph_resample")
    path = tmp_path / "ids.png"
    path.write_bytes(_png(label.astype(np.uint8), "L"))
    label_img, _, _, text = client.predict(handle_file(str(path)), None, *SEEDS, 0.0, api_name="/morph_upload")
    assert "read as class ids" in text
    np.testing.assert_array_equal(read_png(label_img), pipe.palette.colors[label])


# ---------------------------------------------------------------------------------------------------------- level 3
@pytest.mark.browser
def test_browser_slider_morphs_the_image(url, app, browser_page, artifacts_dir, shown_png):
    """Dragging the slider shows precomputed frames at once (set by the page, no round trip), then on release the
    exact frame of the slider's position from the server; no fixed waits: each step waits for the page's state."""
    page = browser_page.page
    page.goto(url)
    img = page.locator("#morph-image img")
    img.wait_for(state="visible", timeout=60_000)  # (the page keeps a connection open: no "networkidle")
    page.wait_for_function(f"() => document.querySelectorAll('#morph-frames .morph-frames img').length == "
                           f"{app.PREVIEW_FRAMES}")
    before_src = img.get_attribute("src")
    before = np.asarray(Image.open(io.BytesIO(img.screenshot())).convert("RGB"))
    page.screenshot(path=str(artifacts_dir / "demo_morphing_before.png"), full_page=True)
    # record every src the image gets, in the page
    page.evaluate("""() => { window.__srcs = []; const i = document.querySelector('#morph-image img');
        new MutationObserver(() => window.__srcs.push(i.getAttribute('src').slice(0, 22)))
          .observe(i, {attributes: true, attributeFilter: ['src']}); }""")
    # drag the slider's thumb from the left end (t = 0) to the right end (t = 1), as a user does
    slider = page.locator("#morph-t input[type=range]")
    bb = slider.bounding_box()
    y = bb["y"] + bb["height"] / 2
    page.mouse.move(bb["x"] + 2, y)
    page.mouse.down()
    for f in (0.25, 0.5, 0.75, 1.0):
        page.mouse.move(bb["x"] + f * bb["width"] - 1, y, steps=4)
    previews = page.evaluate("window.__srcs")
    page.mouse.up()
    assert previews and all(p.startswith("data:image/jpeg") for p in previews), previews
    # released: the server's exact frame replaces the preview
    page.wait_for_function(
        "(src) => { const s = document.querySelector('#morph-image img').getAttribute('src');"
        " return s !== src && !s.startsWith('data:image/jpeg') }", arg=before_src)
    value = float(page.locator("#morph-t input[type=number]").input_value())
    served = shown_png(page, img.get_attribute("src"))  # a PNG, not a JPEG preview
    page.screenshot(path=str(artifacts_dir / "demo_morphing_after.png"), full_page=True)
    assert value > 0.9, value
    np.testing.assert_array_equal(served, app.default_session().frame(value))
    after = np.asarray(Image.open(io.BytesIO(img.screenshot())).convert("RGB"))
    assert before.shape == after.shape and np.abs(before.astype(int) - after.astype(int)).mean() > 1.0
    assert browser_page.errors == [], browser_page.errors


@pytest.mark.browser
def test_browser_painting_with_the_palette_brush_reaches_the_model(url, app, pipe, browser_page, artifacts_dir,
                                                                   shown_png):
    """Brush (its default colour is the first class, sky) across the lower part of the map, then 'Use the painted
    map': the label map the model gets has sky there. Guards against the ImageEditor regressions (ECOSYSTEM.md)."""
    page = browser_page.page
    net = PageNetwork(page)
    page.goto(url)
    label_img = page.locator("#morph-label img")
    label_img.wait_for(state="visible", timeout=60_000)
    # the editor has loaded its layers (nothing in flight, its status tracker hidden) and painted them
    wait_until_settled(page, net, "morph-canvas")
    next_frames(page)
    src0 = label_img.get_attribute("src")
    page.locator("#morph-canvas button[aria-label=Brush]").click()
    bb = page.locator("#morph-canvas canvas").last.bounding_box()
    y = bb["y"] + bb["height"] * 0.8
    page.mouse.move(bb["x"] + bb["width"] * 0.3, y)
    page.mouse.down()
    for f in np.linspace(0.3, 0.7, 12):  # one pointer move per rendered frame: the editor samples moves per frame
        page.mouse.move(bb["x"] + bb["width"] * f, y)
        next_frames(page, 1)
    page.mouse.up()
    page.locator("#morph-canvas-apply").click()
    page.wait_for_function(
        "(src) => { const i = document.querySelector('#morph-label img'); return i && i.src !== src; }", arg=src0)
    page.screenshot(path=str(artifacts_dir / "demo_morphing_painted.png"), full_page=True)
    used = shown_png(page, label_img.get_attribute("src"))
    before = app.example_sample(0).label
    sky = pipe.palette.colors[0]
    H = before.shape[0]
    painted = (used == sky).all(-1) & (before != 0)  # newly sky
    assert painted.sum() >= 4, "the stroke did not reach the label map"
    rows = np.nonzero(painted)[0]
    assert rows.min() >= H // 2, f"paint landed in rows {rows.min()}..{rows.max()}, expected the lower half"
    assert browser_page.errors == [], browser_page.errors
