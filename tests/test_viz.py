"""viz helpers: tensor/array conversion, grids, colouring, boxes, loss curves."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from synthkit.data.palette import get_palette
from synthkit.data.toyscapes import render
from synthkit.viz import colorize, draw_boxes, make_grid, plot_loss_curve, to_uint8


def test_to_uint8_maps_minus_one_one_to_0_255():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 4).expand(3, 1, 4)
    u = to_uint8(x)
    assert u.shape == (1, 4, 3) and u.dtype == np.uint8
    assert u[0, :, 0].tolist() == [0, 128, 255, 255]
    assert to_uint8(torch.zeros(2, 3, 5, 6)).shape == (2, 5, 6, 3)
    a = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert to_uint8(a) is a
    bright = np.full((2, 2, 3), 0.5, np.float32)  # no negative values, still read as [-1, 1] unless told otherwise
    assert to_uint8(bright)[0, 0, 0] == 191 and to_uint8(bright, value_range=(0, 1))[0, 0, 0] == 128
    with pytest.raises(TypeError):
        to_uint8("image.png")


def test_make_grid_layout_and_values():
    tiles = [np.full((8, 10, 3), v, np.uint8) for v in (10, 20, 30, 40, 50)]
    g = make_grid(tiles, nrow=2, padding=1, pad_value=0)
    assert g.shape == (3 * 9 + 1, 2 * 11 + 1, 3)
    assert g[1, 1, 0] == 10 and g[1, 12, 0] == 20 and g[10, 1, 0] == 30 and g[19, 1, 0] == 50
    assert g[19, 12, 0] == 0  # empty slot stays padding
    t = make_grid(torch.ones(4, 3, 8, 8) * -1, nrow=4)
    assert t.shape == (12, 42, 3) and t[2:10, 2:10].max() == 0
    with pytest.raises(ValueError, match="same size"):
        make_grid([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)])


def test_colorize_uses_palette_and_checks_ids():
    pal = get_palette("toyscapes")
    s = render(0, 0, 64)
    rgb = colorize(s.label, pal)
    assert rgb.shape == (64, 64, 3) and np.array_equal(rgb[0, 0], pal.colors[s.label[0, 0]])
    assert np.array_equal(colorize(torch.from_numpy(s.label.astype(np.int64)), pal), rgb)
    with pytest.raises(ValueError, match="outside the palette"):
        colorize(np.array([[0, 12]]), pal)


def test_draw_boxes_outlines_each_box_in_its_class_colour():
    pal = get_palette("toyscapes")
    img = np.zeros((40, 40, 3), np.uint8)
    out = draw_boxes(img, [(9, 5, 6, 20, 30), (-1, -1, -1, -1, -1)], pal, labels=False)
    assert out is not img and img.max() == 0
    assert np.array_equal(out[15, 5], pal.colors[9])      # left edge at x0
    assert np.array_equal(out[15, 19], pal.colors[9])     # right edge at x1 - 1 (x1 exclusive)
    assert np.array_equal(out[6, 10], pal.colors[9]) and np.array_equal(out[29, 10], pal.colors[9])
    assert out[15, 12].max() == 0                           # inside untouched
    labelled = draw_boxes(img, torch.tensor([[10.0, 5, 15, 30, 35]]), pal, labels=True)
    assert (labelled[5:15, 5:30] != 0).any()                 # the name tag above the box
    with pytest.raises(ValueError, match="N, 5"):
        draw_boxes(img, [(1, 2, 3)], pal)


def test_plot_loss_curve_writes_png(tmp_path):
    path = plot_loss_curve({"step": [0, 1, 2, 3], "loss_g": [2.0, 1.5, 1.2, 1.0], "loss_d": [0.7, 0.6, 0.6, 0.5]},
                           tmp_path / "curves" / "loss.png", title="test")
    im = Image.open(path)
    assert im.size[0] > 100 and im.size[1] > 100 and np.asarray(im.convert("L")).std() > 5
    rows = [{"step": 10, "loss_g": 1.0}, {"step": 20, "loss_g": 0.5, "loss_d": 0.7}, {"step": 30, "loss_g": 0.4}]
    p2 = plot_loss_curve(rows, tmp_path / "l2.png", smooth=2)  # a key missing from some rows is fine
    assert p2.exists()
    with pytest.raises(ValueError, match="numeric"):
        plot_loss_curve({"step": [0, 1]}, tmp_path / "l3.png")


def test_save_fig_writes_png_only_when_a_folder_is_given(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from synthkit.viz import save_fig

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    monkeypatch.delenv("SYNTHKIT_FIGURES", raising=False)
    assert save_fig(fig, "nothing") is fig and not list(tmp_path.iterdir())
    monkeypatch.setenv("SYNTHKIT_FIGURES", str(tmp_path / "figs"))
    save_fig(fig, "curve")
    assert (tmp_path / "figs" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)
