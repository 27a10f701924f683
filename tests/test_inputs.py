"""synthkit.inputs: the one input contract of every pipeline and demo."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from synthkit.inputs import image_hw, to_rgb_float, to_rgb_uint8

RGB = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 4


def test_every_form_of_the_same_image_gives_the_same_pixels(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(RGB).save(path)
    tensor = torch.from_numpy(RGB).permute(2, 0, 1).float() / 127.5 - 1
    for form in (RGB, Image.fromarray(RGB), path, str(path), tensor, tensor[None]):
        notes: list[str] = []
        np.testing.assert_array_equal(to_rgb_uint8(form, notes=notes), RGB)
        np.testing.assert_allclose(to_rgb_float(form), RGB / 255.0, atol=1e-6)
        assert notes == [] and image_hw(form) == (4, 5)


def test_alpha_is_composited_over_white_and_said_so():
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])
    rgba[0, 0, 3] = 0
    notes: list[str] = []
    out = to_rgb_uint8(rgba, "photo", notes)
    assert out[0, 0].tolist() == [255, 255, 255] and (out[1:] == RGB[1:]).all()
    assert notes == ["photo: RGBA array composited over white and converted to RGB"]
    opaque = Image.fromarray(np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)]), "RGBA")
    quiet: list[str] = []
    np.testing.assert_array_equal(to_rgb_uint8(opaque, notes=quiet, note_opaque_alpha=False), RGB)
    assert quiet == []  # browser uploads are always RGBA: an opaque alpha is not worth a note
    loud: list[str] = []
    to_rgb_uint8(opaque, notes=loud)
    assert loud and "RGBA" in loud[0]


def test_grayscale_and_high_bit_depth():
    gray = RGB[..., 0]
    notes: list[str] = []
    out = to_rgb_uint8(Image.fromarray(gray, "L"), notes=notes)
    assert (out == gray[..., None]).all() and any("grayscale" in n for n in notes)
    deep = Image.fromarray((np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000).astype(np.uint16))
    notes = []
    out = to_rgb_uint8(deep, notes=notes)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255 and any("8 bits" in n for n in notes)
    notes = []
    assert to_rgb_float(torch.zeros(1, 4, 5), notes=notes).shape == (4, 5, 3) and "grayscale tensor" in notes[0]


@pytest.mark.parametrize("bad, error, match", [
    (RGB.astype(np.float32), TypeError, "uint8.*astype"),
    (np.zeros((4, 5, 2), np.uint8), ValueError, r"\[H, W, 3\]"),
    (torch.zeros(2, 3, 4, 5), ValueError, r"\[3, H, W\]"),
    (torch.zeros(3, 4, 5, dtype=torch.uint8), TypeError, "float tensor"),
    ([1, 2, 3], TypeError, "got list"),
    ("missing.png", FileNotFoundError, "'missing.png' does not exist"),
])
def test_bad_input_says_what_to_pass(bad, error, match):
    with pytest.raises(error, match=match):
        to_rgb_uint8(bad)
