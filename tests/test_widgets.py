"""synthkit.widgets: the notebook helpers build without a browser and react to their controls."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("ipywidgets")

from synthkit import widgets  # noqa: E402
from synthkit.data.toyscapes import CLASSES, render  # noqa: E402


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture(scope="module")
def scenes() -> list[np.ndarray]:
    return [render(0, i, size=32).image for i in range(3)]


def test_scrubber_shows_the_image_the_slider_selects(scenes):
    scrub = widgets.image_scrubber(scenes, description="step", labels=["a", "b", "c"])
    assert isinstance(scrub, widgets.ImageScrubber)
    assert (scrub.slider.min, scrub.slider.max, scrub.slider.value) == (0, 2, 0)
    np.testing.assert_array_equal(_decode(scrub.image.value), scenes[0])  # shown before any interaction
    assert scrub.caption.value == "a"
    scrub.slider.value = 2
    np.testing.assert_array_equal(_decode(scrub.image.value), scenes[2])
    assert scrub.caption.value == "c" and scrub.index == 2
    scrub.slider.value = 1
    np.testing.assert_array_equal(_decode(scrub.image.value), scenes[1])


def test_scrubber_reads_files_and_tensors(tmp_path, scenes):
    paths = []
    for i, im in enumerate(scenes[:2]):
        paths.append(tmp_path / f"step_{i}.png")
        Image.fromarray(im).save(paths[-1])
    scrub = widgets.image_scrubber(paths)
    assert scrub.caption.value == "1 / 2"
    scrub.slider.value = 1
    np.testing.assert_array_equal(_decode(scrub.image.value), scenes[1])
    x = torch.tensor(scenes[0]).permute(2, 0, 1).float() / 127.5 - 1  # [3, H, W] in [-1, 1]
    np.testing.assert_array_equal(_decode(widgets.to_png(x)), scenes[0])


def test_scrubber_bad_input():
    with pytest.raises(ValueError, match="at least one image"):
        widgets.image_scrubber([])
    with pytest.raises(ValueError, match="one label per image"):
        widgets.image_scrubber([np.zeros((4, 4, 3), np.uint8)], labels=["a", "b"])
    with pytest.raises(FileNotFoundError):
        widgets.image_scrubber(["/no/such/grid.png"])


def test_live_loss_plot_redraws_from_history_and_rows():
    plot = widgets.live_loss_plot(title="toy", show=False)
    empty = plot.png
    history = [{"step": 5, "loss_d": 2.0, "loss_g": -0.1}, {"step": 10, "loss_d": 1.5, "loss_g": 0.3}]
    plot.update(history)
    assert plot.png != empty
    x, y = plot.series()["loss_d"]
    assert x.tolist() == [5, 10] and y.tolist() == [2.0, 1.5]
    assert sorted(line.get_label() for line in plot.ax.lines) == ["loss_d", "loss_g"]
    before = plot.png
    plot({"step": 15, "loss_d": 1.0, "loss_g": 0.5})  # callback form: append one row
    assert plot.png != before and plot.series()["loss_g"][1].tolist() == [-0.1, 0.3, 0.5]
    only_d = widgets.LiveLossPlot(keys=["loss_d"]).update(history)
    assert list(only_d.series()) == ["loss_d"]
    columns = widgets.LiveLossPlot().update({"step": [1, 2], "loss_d": [0.5, 0.4]})
    assert columns.series()["loss_d"][0].tolist() == [1, 2]


def test_live_loss_plot_updates_one_display(capsys):
    from IPython.display import DisplayHandle

    plot = widgets.live_loss_plot()  # outside a kernel, display() prints a text repr
    handle = plot.handle
    assert isinstance(handle, DisplayHandle)
    plot.update([{"step": 1, "loss_d": 1.0}])
    assert plot.handle is handle  # updates go to the same output id, not a new one
    assert capsys.readouterr().out.count("Image object") == 2  # shown once, updated once


def test_live_loss_plot_bad_input():
    with pytest.raises(ValueError, match="smooth"):
        widgets.LiveLossPlot(smooth=-1)
    with pytest.raises(TypeError, match="dicts"):
        widgets.LiveLossPlot().update([1.0, 2.0])
    with pytest.raises(TypeError, match="dict"):
        widgets.LiveLossPlot()(1.0)


def test_class_dropdown_and_seed_slider():
    dd = widgets.class_dropdown(value="tree")
    assert dd.value == CLASSES.index("tree") and len(dd.options) == len(CLASSES)
    dd.value = 0
    assert dd.label.endswith("sky")
    assert widgets.class_dropdown(["a", "b"], value=1).value == 1
    with pytest.raises(ValueError, match="valid classes"):
        widgets.class_dropdown(value="dragon")
    sl = widgets.seed_slider(value=3, max=10)
    assert (sl.value, sl.max, sl.continuous_update) == (3, 10, False)
    with pytest.raises(ValueError, match="min <= value <= max"):
        widgets.seed_slider(value=20, max=10)


def test_missing_ipywidgets_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` raise ImportError
    widgets._scrubber_class.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install ipywidgets"):
            widgets.seed_slider()
        with pytest.raises(ImportError, match="pip install ipywidgets"):
            widgets.image_scrubber([np.zeros((4, 4, 3), np.uint8)])
        widgets.live_loss_plot(show=False)  # needs no ipywidgets
    finally:
        widgets._scrubber_class.cache_clear()
