"""Palettes: official colours, round trips, nearest-colour decoding, label-map loading, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from synthkit.data.palette import PALETTES, color_to_labels, get_palette, labels_to_color, load_label_map
from synthkit.data.toyscapes import render


def test_palette_sizes_and_known_colours():
    city, ade, df, toy = (get_palette(n) for n in ("cityscapes", "ade20k", "deepfashion", "toyscapes"))
    assert (len(city), len(ade), len(df), len(toy)) == (35, 151, 8, 12)
    # spot checks against cityscapesScripts labels.py and the ADE20K colour list
    assert tuple(city.colors[city.names.index("road")]) == (128, 64, 128)
    assert tuple(city.colors[26]) == (0, 0, 142) and city.names[26] == "car"
    assert tuple(city.colors[23]) == (70, 130, 180) and city.names[23] == "sky"
    assert tuple(city.colors[33]) == (119, 11, 32) and city.names[33] == "bicycle"
    assert ade.names[0] == "other" and tuple(ade.colors[0]) == (0, 0, 0)
    assert ade.names[1] == "wall" and tuple(ade.colors[1]) == (120, 120, 120)
    assert ade.names[3] == "sky" and tuple(ade.colors[3]) == (6, 230, 230)
    assert ade.names[150] == "flag" and tuple(ade.colors[150]) == (92, 0, 255)
    assert df.names[0] == "background"
    assert len({tuple(c) for c in toy.colors}) == 12 and len({tuple(c) for c in df.colors}) == 8


def test_get_palette_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError) as e:
        get_palette("coco")
    for name in PALETTES:
        assert name in str(e.value)
    assert get_palette("CityScapes") is get_palette("cityscapes")


@pytest.mark.parametrize("name", ["toyscapes", "cityscapes", "ade20k", "deepfashion"])
def test_round_trip_index_colour_index(name):
    pal = get_palette(name)
    rng = np.random.default_rng(0)
    label = rng.integers(0, len(pal), (40, 50))
    back, n_off = color_to_labels(labels_to_color(label, pal), pal)
    assert n_off == 0
    # shared colours decode to the lowest id with that colour
    first = {}
    for i, c in enumerate(map(tuple, pal.colors)):
        first.setdefault(c, i)
    canon = np.array([first[tuple(c)] for c in pal.colors])[label]
    assert np.array_equal(back, canon)


def _interior(label: np.ndarray, r: int = 2) -> np.ndarray:
    """Pixels at least r px away from any label boundary."""
    edge = np.zeros(label.shape, bool)
    for d in range(1, r + 1):
        dy, dx = label[d:] != label[:-d], label[:, d:] != label[:, :-d]
        edge[d:] |= dy
        edge[:-d] |= dy
        edge[:, d:] |= dx
        edge[:, :-d] |= dx
    return ~edge


def test_nearest_colour_decoding_of_a_blurred_map():
    pal = get_palette("toyscapes")
    acc, acc_plain = [], []
    for i in range(4):
        s = render(0, i, 128)
        rgb = labels_to_color(s.label, pal)
        blurred = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(1.0))).astype(int)
        noisy = np.clip(blurred + np.random.default_rng(i).integers(-6, 7, blurred.shape), 0, 255).astype(np.uint8)
        lab, n_off = color_to_labels(noisy, pal)
        assert n_off > 0.5 * lab.size  # nearly every pixel was moved off-palette by the noise
        assert (lab == s.label)[_interior(s.label)].mean() > 0.999  # away from edges: exact
        acc.append((lab == s.label).mean())
        acc_plain.append((color_to_labels(noisy, pal, snap_edges=False)[0] == s.label).mean())
    # along blurred edges, snapping to a neighbouring class beats plain nearest colour
    assert np.mean(acc) > 0.975 and np.mean(acc) > np.mean(acc_plain) + 0.005, (acc, acc_plain)
    with pytest.raises(ValueError, match="farther than"):
        color_to_labels(noisy, pal, max_distance=1)


def test_labels_to_color_names_out_of_range_ids():
    pal = get_palette("deepfashion")
    with pytest.raises(ValueError, match=r"\[8, 200\]"):
        labels_to_color(np.array([[0, 8], [200, 1]]), pal)
    with pytest.raises(ValueError, match="out of range"):
        labels_to_color(np.array([[-1, 0]]), pal)


def test_load_label_map_accepts_common_formats(tmp_path):
    pal = get_palette("toyscapes")
    s = render(1, 0, 64)
    colour = labels_to_color(s.label, pal)

    Image.fromarray(s.label, mode="L").save(tmp_path / "index_L.png")
    p_img = Image.fromarray(s.label, mode="L").convert("P")
    p_img.putpalette(pal.colors.ravel().tolist())
    p_img.save(tmp_path / "index_P.png")
    Image.fromarray(colour).save(tmp_path / "colour.png")
    Image.fromarray(np.dstack([colour, np.full(s.label.shape, 255, np.uint8)])).save(tmp_path / "colour.png".replace(".", "_a."))
    Image.fromarray(colour).quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(tmp_path / "colour_P.png")
    for f in ("index_L.png", "index_P.png", "colour.png", "colour_a.png", "colour_P.png"):
        lab = load_label_map(tmp_path / f, pal)
        assert lab.dtype == np.uint8 and np.array_equal(lab, s.label), f
    lab, info = load_label_map(colour, "toyscapes", return_info=True)
    assert np.array_equal(lab, s.label) and info == {"source": "color", "off_palette": 0}
    lab, info = load_label_map(Image.fromarray(s.label), pal, return_info=True)
    assert info["source"] == "index"

    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    lab, info = load_label_map(tmp_path / "mask.png", "deepfashion", return_info=True)
    assert info["source"] == "mask" and set(np.unique(lab).tolist()) == {0, 1} and lab[7, 7] == 1


def test_load_label_map_rejects_photos_and_bad_ids(tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    photo = np.stack([x * 4, y * 4, (x * y) % 256], -1).astype(np.uint8) + rng.integers(0, 3, (64, 64, 3)).astype(np.uint8)
    with pytest.raises(ValueError, match="does not look like"):
        load_label_map(photo, "cityscapes")
    for name in ("toyscapes", "cityscapes", "ade20k", "deepfashion"):  # a rendered scene is a photo, not a map
        with pytest.raises(ValueError, match="does not look like"):
            load_label_map(render(0, 1, 64).image, name)
    with pytest.raises(ValueError, match=r"\[12, 40\]"):
        load_label_map(np.array([[0, 12], [40, 3]], np.uint8), "toyscapes")
    with pytest.raises(FileNotFoundError):
        load_label_map(tmp_path / "nope.png", "toyscapes")
    with pytest.raises(ValueError, match="unknown palette"):
        load_label_map(np.zeros((4, 4), np.uint8), "voc")


@pytest.mark.parametrize("name", ["toyscapes", "ade20k", "deepfashion"])
def test_load_label_map_accepts_a_jpeg_compressed_colour_map(name):
    import io

    pal = get_palette(name)
    label = np.random.default_rng(0).integers(0, len(pal), (8, 8)).repeat(16, 0).repeat(16, 1)
    buf = io.BytesIO()
    Image.fromarray(labels_to_color(label, pal)).save(buf, "JPEG", quality=75)
    lab, info = load_label_map(Image.open(buf), pal, return_info=True)
    assert info["source"] == "color" and info["off_palette"] > 0
    assert (lab == label).mean() > 0.95
