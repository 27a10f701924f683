"""The embed-and-edit app (demos/embed_and_edit.py) on a tiny saved StyleGAN2: in-process events (streaming,
cancel, bad input) and the API through gradio_client on loopback (a second user is served during an embedding)."""
from __future__ import annotations

import os
import threading
import time

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from demos import embed_and_edit as app


@pytest.fixture(scope="module", autouse=True)
def tiny_model(tmp_path_factory):
    import torch

    from synthkit.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

    folder = tmp_path_factory.mktemp("sg2") / "tiny"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        StyleGAN2Generator(StyleGAN2Config.from_preset("tiny_test")).save_pretrained(folder)
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
def names():
    return list(app.example_images())


def _editor(image, painted=None, colour=(255, 0, 200)):
    big = app.enlarge(image)
    layers = []
    composite = big.copy()
    if painted is not None:
        layer = np.zeros((*big.shape[:2], 4), np.uint8)
        layer[painted] = (*colour, 255)
        composite[painted] = colour
        layers = [layer]
    return {"background": big, "layers": layers, "composite": composite}


def _box(shape, y0, y1, x0, x1):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_reconstruct_streams_previews_then_the_result(names):
    image = app.example_images()[names[0]]
    outs = list(app.run_event(_editor(image), "Reconstruct", None, 20, 10))
    assert len(outs) >= 3  # 30 steps, a preview every 10, then the result
    assert all(o[0].shape == (256, 256, 3) for o in outs)
    assert "Embedding" in outs[0][1] and "Done" in outs[-1][1] and "PSNR" in outs[-1][1]
    direct = app.get_pipeline().reconstruct(app.enlarge(image), steps_w=20, steps_noise=10)
    np.testing.assert_array_equal(outs[-1][0], app.enlarge(direct.image))  # the app is the pipeline


def test_every_operation_runs(names):
    image, second = app.example_images()[names[0]], app.example_images()[names[1]]
    region = _box((256, 256), 64, 160, 64, 160)
    for op in ("Inpaint", "Scribble edit", "Crossover", "Local style transfer"):
        final = list(app.run_event(_editor(image, region), op, app.enlarge(second), 10, 10))[-1]
        assert final[0].shape == (256, 256, 3) and "Done" in final[1], op


@pytest.mark.parametrize("op, second, painted, message", [
    ("Inpaint", None, None, "needs a painted region"),
    ("Crossover", None, "box", "needs a second image"),
    ("Inpaint", None, "all", "covers the whole image"),
    ("Melt", None, None, "unknown operation"),
])
def test_bad_requests_say_what_to_do(names, op, second, painted, message):
    image = app.example_images()[names[0]]
    mask = {None: None, "box": _box((256, 256), 0, 50, 0, 50), "all": np.ones((256, 256), bool)}[painted]
    with pytest.raises(gr.Error, match=message):
        list(app.run_event(_editor(image, mask), op, second, 5, 5))
    with pytest.raises(gr.Error, match="both 0"):
        list(app.run_event(_editor(image), "Reconstruct", None, 0, 0))
    with pytest.raises(gr.Error, match="No image yet"):
        list(app.run_event(None, "Reconstruct", None, 5, 5))


def test_a_region_covering_everything_is_a_plain_reconstruction_and_said_so(names):
    image, second = app.example_images()[names[0]], app.example_images()[names[1]]
    final = list(app.run_event(_editor(image, np.ones((256, 256), bool)), "Crossover", app.enlarge(second), 5, 0))[-1]
    assert "plain reconstruction of the second image" in final[1]


def test_closing_the_stream_stops_the_embedding(names):
    image = app.example_images()[names[0]]
    gen = app.run_event(_editor(image), "Reconstruct", None, 5000, 0)
    next(gen)  # the first preview: the embedding runs in its thread
    t0 = time.time()
    gen.close()  # what Gradio does on Stop / a closed page
    assert time.time() - t0 < 30 and not [t for t in threading.enumerate() if t.name == "embed"]


def test_odd_uploads_are_converted_and_said_so(names, tmp_path):
    image = app.example_images()[names[0]]
    wide = np.concatenate([image, image], axis=1)  # not square
    final = list(app.run_event(_editor(wide), "Reconstruct", None, 5, 0))[-1]
    assert "centre-cropped" in final[1]


# ---------------------------------------------------------------------------------------------------------- level 2
@pytest.fixture(scope="module")
def client(launch_blocks):
    from gradio_client import Client

    demo = app.build_demo()
    url = launch_blocks(demo)
    yield Client(url, verbose=False)
    demo.close()


def _client_editor(tmp_path, image, mask=None):
    from gradio_client import handle_file

    big = app.enlarge(image)
    Image.fromarray(big).save(tmp_path / "bg.png")
    layers = []
    if mask is not None:
        layer = np.zeros((*big.shape[:2], 4), np.uint8)
        layer[mask] = (255, 0, 200, 255)
        Image.fromarray(layer).save(tmp_path / "layer.png")
        layers = [handle_file(str(tmp_path / "layer.png"))]
    bg = handle_file(str(tmp_path / "bg.png"))
    return {"background": bg, "layers": layers, "composite": bg}


def test_client_api_and_a_streamed_inpainting(client, names, tmp_path, read_png):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/embed_run", "/embed_example", "/embed_second_example"} <= set(api)
    image = app.example_images()[names[0]]
    job = client.submit(_client_editor(tmp_path, image, _box((256, 256), 64, 160, 64, 160)), "Inpaint", None, 20, 10,
                        "sequential", api_name="/embed_run")
    result, notes = job.result(timeout=300)
    assert len(job.outputs()) >= 3 and "Done" in notes  # previews streamed before the result
    assert read_png(result).shape == (256, 256, 3)


def test_client_errors_are_our_message(client, names, tmp_path):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="needs a painted region"):
        client.predict(_client_editor(tmp_path, app.example_images()[names[0]]), "Inpaint", None, 5, 5, "sequential",
                       api_name="/embed_run")


def test_other_users_are_served_while_an_embedding_runs(client, names, tmp_path):
    from gradio_client import Client

    # bounded (a cancelled job may run on in this test process and slow the tests after it): wait for its end
    long = client.submit(_client_editor(tmp_path, app.example_images()[names[0]]), "Reconstruct", None, 600, 0,
                         "sequential", api_name="/embed_run")
    while not long.outputs():  # wait until the embedding streams
        time.sleep(0.1)
    other = Client(client.src, verbose=False)
    example = other.predict(names[2], api_name="/embed_example")
    assert example["background"] is not None and not long.done()  # served while the embedding still runs
    assert "Done" in long.result(timeout=300)[1]
