"""Demo tests, level 2: the full app (demos/app.py) on a loopback port, driven with gradio_client.

What a user of the API sees: the named endpoints, real PNG files of the right size, and for bad input an
``AppError`` carrying a message that says what was wrong, never Gradio's generic "upstream app has raised an
exception" text.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

GENERIC_UPSTREAM = "The upstream Gradio app has raised an exception"


@pytest.fixture(scope="module")
def app_url(launch_blocks):
    from demos import app

    demo = app.build_demo()
    url = launch_blocks(demo)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def _endpoint(api: dict, name: str) -> dict:
    endpoints = api["named_endpoints"]
    assert f"/{name}" in endpoints, f"/{name} not among {sorted(endpoints)}"
    return endpoints[f"/{name}"]


def test_view_api_lists_the_named_endpoints_with_choices(client):
    api = client.view_api(return_format="dict", print_info=False)
    render = _endpoint(api, "toyscapes_render")
    _endpoint(api, "toyscapes_random_seed")
    params = {p["parameter_name"]: p for p in render["parameters"]}
    assert list(params) == ["scene", "seed", "index", "size"]
    from synthkit.data import toyscapes

    assert params["scene"]["type"]["enum"] == ["random", *toyscapes.SCENES]
    assert params["size"]["type"]["enum"] == [64, 128, 256]
    assert params["seed"]["component"] == "Number" and params["seed"]["type"]["type"] == "integer"
    assert [r["component"] for r in render["returns"]] == ["Image", "Image", "Image", "Markdown"]


@pytest.mark.parametrize("size", [64, 256])
def test_render_returns_decodable_images_of_the_right_size(client, size, read_png):
    from synthkit.data import toyscapes

    image_path, labels_path, boxes_path, legend = client.predict(
        "coast", 7, 2, size, api_name="/toyscapes_render"
    )
    image, labels, boxed = (read_png(p) for p in (image_path, labels_path, boxes_path))
    for arr in (image, labels, boxed):
        assert arr.shape == (size, size, 3)
    # the served image is the sample itself, bit for bit (PNG is lossless)
    np.testing.assert_array_equal(image, toyscapes.render(7, 2, size=size, scene="coast").image)
    assert "**Scene:** coast" in legend and "| sky |" in legend


def test_render_differs_for_different_seeds(client, read_png):
    a = read_png(client.predict("random", 1, 0, 128, api_name="/toyscapes_render")[0])
    b = read_png(client.predict("random", 2, 0, 128, api_name="/toyscapes_render")[0])
    a2 = read_png(client.predict("random", 1, 0, 128, api_name="/toyscapes_render")[0])
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, a2)


def test_random_seed_endpoint(client):
    seeds = {client.predict(api_name="/toyscapes_random_seed") for _ in range(3)}
    assert all(isinstance(s, (int, float)) and 0 <= s <= 99_999 for s in seeds)


def test_negative_seed_gets_our_message(client):
    with pytest.raises(AppError) as info:
        client.predict("random", -5, 0, 128, api_name="/toyscapes_render")
    message = str(info.value)
    assert "Seed must be a whole number between 0 and" in message and "got -5" in message
    assert GENERIC_UPSTREAM not in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("random", 0, 0, 7), "not in the list of choices: [64, 128, 256]"),  # Gradio's Radio check, a clear AppError
        (("moon", 0, 0, 64), "not in the list of choices"),
        (("random", 0, -3, 64), "Index must be a whole number"),
    ],
    ids=["size-7", "unknown-scene", "negative-index"],
)
def test_other_bad_inputs_are_app_errors_with_a_message(client, args, expected):
    with pytest.raises(AppError) as info:
        client.predict(*args, api_name="/toyscapes_render")
    assert expected in str(info.value)
    assert GENERIC_UPSTREAM not in str(info.value)


def test_unexpected_exceptions_reach_the_client_as_a_friendly_message(launch_blocks):
    """The contrast TESTING.md describes: a bare exception gives the generic text, @user_errors a real message."""
    from demos.common import user_errors

    def bare(x: str) -> str:
        raise RuntimeError("internal")

    @user_errors
    def wrapped(x: str) -> str:
        raise RuntimeError("internal")

    with gr.Blocks(analytics_enabled=False) as demo:
        box = gr.Textbox()
        out = gr.Textbox()
        box.submit(bare, box, out, api_name="bare")
        box.submit(wrapped, box, out, api_name="wrapped")
    url = launch_blocks(demo)
    try:
        c = Client(url, verbose=False)
        with pytest.raises(AppError, match=GENERIC_UPSTREAM):
            c.predict("x", api_name="/bare")
        with pytest.raises(AppError) as info:
            c.predict("x", api_name="/wrapped")
        assert GENERIC_UPSTREAM not in str(info.value)
        assert "Something went wrong on the server" in str(info.value) and "RuntimeError" in str(info.value)
    finally:
        demo.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launch_respects_gradio_server_env(monkeypatch):
    """`synthkit demo` calls demos.app.launch(host=None, port=None): the GRADIO_SERVER_* variables decide."""
    from demos import app

    port = _free_port()
    monkeypatch.setenv("GRADIO_SERVER_NAME", "127.0.0.1")
    monkeypatch.setenv("GRADIO_SERVER_PORT", str(port))
    demo = app.launch(prevent_thread_lock=True, quiet=True)
    try:
        assert demo.local_url.rstrip("/") == f"http://127.0.0.1:{port}"
        api = Client(demo.local_url, verbose=False).view_api(return_format="dict", print_info=False)
        assert "/toyscapes_render" in api["named_endpoints"]
    finally:
        demo.close()


def test_launch_rejects_a_bad_port_variable(monkeypatch):
    from demos import app

    monkeypatch.setenv("GRADIO_SERVER_PORT", "eighty")
    with pytest.raises(ValueError, match="GRADIO_SERVER_PORT must be an integer"):
        app.launch(prevent_thread_lock=True, quiet=True)


@pytest.mark.slow
def test_synthkit_demo_command_serves_the_app(tmp_path, read_png):
    """`synthkit demo` (the CLI path users take) in its own process, on the port GRADIO_SERVER_PORT names."""
    repo = Path(__file__).resolve().parents[1]
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(repo))
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "synthkit.cli", "demo"], cwd=repo, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"synthkit demo exited ({proc.returncode}):\n{(tmp_path / 'server.log').read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "synthkit demo did not answer within 90 s"
                time.sleep(0.5)
        image_path = Client(url, verbose=False).predict("city", 4, 0, 64, api_name="/toyscapes_render")[0]
        assert read_png(image_path).shape == (64, 64, 3)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ----------------------------------------------------------------------------------- every endpoint, bad inputs
def _fuzz_files(tmp: Path) -> dict[str, Path]:
    import io

    from PIL import Image

    def png(image: Image.Image, name: str) -> Path:
        path = tmp / name
        image.save(path, format="PNG")
        return path

    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buf, format="PNG")
    files = {"truncated": tmp / "truncated.png", "text": tmp / "notes.png", "empty": tmp / "empty.png"}
    files["truncated"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    files["text"].write_text("this is not an image")
    files["empty"].write_bytes(b"")
    rng = np.random.default_rng(0)
    files["rgba"] = png(Image.fromarray(rng.integers(0, 255, (96, 80, 4), dtype=np.uint8), "RGBA"), "rgba.png")
    files["gray16"] = png(Image.fromarray(rng.integers(0, 65535, (70, 90), dtype=np.uint16)), "gray16.png")
    files["layer"] = png(Image.fromarray(np.full((50, 100, 4), 255, np.uint8), "RGBA"), "layer.png")  # wrong size
    # more pixels than the apps accept (demos.common.MAX_UPLOAD_PIXELS = 50 MP); zeros compress to a small file
    files["huge"] = png(Image.new("L", (7200, 7200)), "huge.png")
    return files


def _bad_values(component: str, files: dict[str, Path]) -> list[object]:
    """Values a careless API user (or a stale page) sends for a parameter of this component type."""
    from gradio_client import handle_file

    f = {k: handle_file(str(v)) for k, v in files.items()}
    if component in ("Number", "Slider"):
        return [None, "abc", 1e12, -1e12]
    if component in ("Dropdown", "Radio", "Textbox"):
        return [None, 12345, "no such choice"]
    if component == "Checkbox":
        return [None, "yes"]
    if component == "Image":
        return ["not a file", {"path": "x.png"}, f["truncated"], f["text"], f["empty"], f["rgba"], f["gray16"],
                f["huge"]]
    if component == "Imageeditor":
        return ["not a file", {"layers": []}, {"background": f["truncated"], "layers": [], "composite": f["truncated"]},
                {"background": f["text"], "layers": [f["text"]], "composite": None},
                {"background": f["empty"], "layers": [], "composite": f["empty"]},
                {"background": f["rgba"], "layers": [f["layer"]], "composite": f["rgba"]},
                {"background": f["gray16"], "layers": [f["layer"]], "composite": f["gray16"]},
                {"background": f["huge"], "layers": [], "composite": f["huge"]}]
    if component == "Image_annotator":
        return ["not a file", {"boxes": []}, {"image": f["truncated"], "boxes": [{"xmin": 1}]},
                {"image": f["text"], "boxes": []}, {"image": f["gray16"], "boxes": [{"label": "car", "xmin": 0,
                 "ymin": 0, "xmax": 40, "ymax": 40, "color": "red"}]}, {"image": f["huge"], "boxes": []}]
    if component == "Dataframe":
        return [None, "abc", {"headers": ["class"], "data": [["dragon", "a"]]}, {"headers": [], "data": []}]
    return [None]


# What each endpoint needs so that its default call is quick (the embedding's optimiser runs for `steps` steps).
_FAST = {"/embed_run": {"steps_w": 2, "steps_noise": 0}}


def test_every_endpoint_answers_bad_input_with_a_message(client, tmp_path):
    """Each public endpoint of the tabbed app, one parameter at a time replaced by a bad value (null, wrong type,
    out of range; a truncated, empty, text, RGBA, 16-bit gray or 52-megapixel PNG; an editor layer of the wrong
    size; a dict missing its fields): the call succeeds or fails with our message, never Gradio's generic "upstream app has raised an exception" (which is what the page shows
    as a bare "Error"); and the server still works afterwards."""
    files = _fuzz_files(tmp_path)
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    bare, calls = [], 0
    for name, ep in sorted(api.items()):
        params = ep["parameters"]
        base = [p.get("parameter_default") for p in params]
        for i, p in enumerate(params):
            base[i] = _FAST.get(name, {}).get(p["parameter_name"], base[i])
        try:  # the API page's own defaults: a result, or our message (e.g. "no class chosen"), never the bare one
            client.predict(*base, api_name=name)
        except AppError as exc:
            if GENERIC_UPSTREAM in str(exc) or not str(exc).strip():
                bare.append(f"{name} with the API page's defaults")
        # endpoints with many similar parameters (3D controls: 6 per object): each component type at most 3 times
        seen: dict[str, int] = {}
        for i, p in enumerate(params):
            seen[p["component"]] = seen.get(p["component"], 0) + 1
            if seen[p["component"]] > 3:
                continue
            for bad in _bad_values(p["component"], files):
                args = list(base)
                args[i] = bad
                calls += 1
                try:
                    client.predict(*args, api_name=name)
                except AppError as exc:
                    if GENERIC_UPSTREAM in str(exc) or not str(exc).strip():
                        bare.append(f"{name} {p['parameter_name']}={bad!r:.60}")
    assert calls > 150
    # the message names the parameter at fault and the format to send
    with pytest.raises(AppError, match=r"/layout_from_canvas could not be read: parameter 1 of 2, “Canvas"):
        client.predict("not a file", 0, api_name="/layout_from_canvas")
    assert bare == [], f"{len(bare)} of {calls} bad calls got the bare error:\n" + "\n".join(bare)
    # nothing crashed: a normal call still works
    image, *_ = client.predict("coast", 1, 0, 64, api_name="/toyscapes_render")
    assert Path(image).stat().st_size > 0


def test_direct_calls_answer_as_the_page_sees_them(app_url, client, read_png):
    """The page calls the quick events directly (one POST to /gradio_api/run/<api_name>, demos.common.direct_events):
    a good call answers with the outputs in the response, its images inline as PNG data URLs
    (demos.common.inline_images) holding the same pixels as the files an API client downloads; a bad one with HTTP
    500 and our message in the body (the page then runs the event's failure report through the queue, which shows
    it: test_demo_browser), never an empty error; slow events stay behind the queue's door."""
    import httpx

    config = httpx.get(f"{app_url}config", timeout=30).json()
    deps = {d.get("api_name"): d for d in config["dependencies"] if d.get("api_name")}
    direct = sorted(name for name, d in deps.items() if d.get("queue") is False)
    for name in ("toyscapes_render", "layout_generate", "pyramid_inpaint", "morph_tick", "controls_render"):
        assert name in direct, f"/{name} is not direct: {sorted(direct)}"
    assert deps["embed_run"].get("queue") is not False  # streams its previews: through the queue

    def run(name: str, data: list) -> httpx.Response:
        return httpx.post(f"{app_url}gradio_api/run/{name}", timeout=60,
                          json={"data": data, "fn_index": deps[name]["id"], "session_hash": "directtest01"})

    ok = run("toyscapes_render", ["random", 3, 0, 64])
    assert ok.status_code == 200, ok.text[:300]
    images = ok.json()["data"][:3]
    files = client.predict("random", 3, 0, 64, api_name="/toyscapes_render")[:3]  # through the queue: files
    for image, file in zip(images, files):
        assert image["path"] is None and image["url"].startswith("data:image/png;base64,"), str(image)[:200]
        decoded = read_png(image["url"])
        assert decoded.shape == (64, 64, 3)
        np.testing.assert_array_equal(decoded, read_png(file))
    assert not np.array_equal(*[read_png(f) for f in files[:2]])  # image and label map: not one image twice

    retrieved = run("layout_generate", [{"headers": ["class", "x0", "y0", "x1", "y1"],
                                         "data": [["car", 10, 40, 30, 60]]}, 1])
    assert retrieved.status_code == 200, retrieved.text[:300]
    canvas, _, image, gallery, fused, _ = retrieved.json()["data"]
    assert all(v["url"].startswith("data:image/png;base64,") for v in (image, fused))
    assert gallery and all(g["image"]["url"].startswith("data:image/png;base64,") and g["caption"] for g in gallery)
    # the canvas is also an input (the page sends it back, and Gradio reads inputs only from uploaded files): a file
    assert canvas is None or not str(canvas).count("data:image"), str(canvas)[:200]
    for data, expected in [(["random", -5, 0, 64], "Seed must be a whole number"),
                           (["random", None, 0, 64], "Seed"), (["random", 0, 0, 7], "not in the list of choices"),
                           ([None, None, None, None], "")]:
        bad = run("toyscapes_render", data)
        assert bad.status_code == 500, (data, bad.status_code)
        message = bad.json().get("error")
        assert message and expected in message and GENERIC_UPSTREAM not in message, (data, message)
    assert run("embed_run", [None] * 7).status_code == 404  # queued events cannot be called around the queue
