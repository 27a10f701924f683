"""The controls of a 3D-controllable scene: each edit changes what it says, and only that."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synthkit.models.controllable3d import Controllable3DConfig, Controllable3DGenerator
from synthkit.pipelines.controllable3d import Controllable3DPipeline, sample_images


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    cfg = Controllable3DConfig.from_preset("tiny_test", image_size=32)
    return Controllable3DPipeline(Controllable3DGenerator(cfg))


def test_sample_is_deterministic_and_returns_an_image(pipe):
    a, b = pipe.sample(3), pipe.sample(3)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.image.shape == (32, 32, 3) and a.image.dtype == np.uint8
    assert not np.array_equal(a.image, pipe.sample(4).image)
    assert len(sample_images(pipe.G, n=2)) == 2


def test_edits_return_new_scenes_and_change_only_their_part(pipe):
    s = pipe.sample(1)
    moved = s.move(0, (0.5, None, -0.5))
    assert moved.translation(0)[0] == pytest.approx(0.5) and moved.translation(0)[2] == pytest.approx(-0.5)
    assert moved.translation(0)[1] == pytest.approx(s.translation(0)[1])
    assert moved.translation(1) == s.translation(1)
    assert s.translation(0) != moved.translation(0)  # the original is untouched
    turned = s.rotate(1, 90)
    assert torch.equal(turned.poses.rotation[0, 0], s.poses.rotation[0, 0])
    r0, r1 = s.poses.rotation[0, 1], turned.poses.rotation[0, 1]
    assert torch.allclose(r1[1], r0[1], atol=1e-6)  # a turn about the up axis keeps the up row
    bigger = s.scale(0, 1.2)
    assert (bigger.poses.scale[0, 0] >= s.poses.scale[0, 0]).all()
    recoloured = s.swap_appearance(0, seed=5)
    assert torch.equal(recoloured.poses.translation, s.poses.translation)
    np.testing.assert_array_equal(recoloured.render().rendered_alpha.numpy(), s.render().rendered_alpha.numpy())
    assert not torch.equal(recoloured.z_app[0, 0], s.z_app[0, 0]) and torch.equal(recoloured.z_app[0, 1], s.z_app[0, 1])


def test_remove_and_add(pipe):
    s = pipe.sample(2)
    one = s.remove(0)
    assert one.keep == (False, True) and (one.render().alpha[0, 0] == 0).all()
    none = one.remove(1)
    assert "background alone" in " ".join(none.notes)
    assert np.allclose(none.render().image.numpy(), none.render().background.numpy())
    assert none.add().keep == (True, False) and none.add(1).keep == (False, True)
    with pytest.raises(ValueError, match="already in the scene"):
        s.add()


def test_camera_and_turntable(pipe):
    s = pipe.sample(0, azimuth=10, elevation=30)
    assert (s.azimuth, s.elevation) == (10, 30)
    assert s.camera(azimuth=370).azimuth == pytest.approx(10)
    high = s.camera(elevation=95)
    assert high.elevation == 80 and any("clamped" in n for n in high.notes)
    frames = s.turntable(6)
    assert len(frames) == 6 and np.array_equal(frames[0], s.image)
    assert not np.array_equal(frames[0], frames[3])


@pytest.mark.parametrize("call, message", [
    (lambda s: s.move(2, (0, 0, 0)), "object must be an index 0..1"),
    (lambda s: s.move(-1, (0, 0, 0)), "object must be an index 0..1"),
    (lambda s: s.move(0, (0, 0)), "translation needs 3 values"),
    (lambda s: s.move(0, ("a", 0, 0)), "x position must be a finite number"),
    (lambda s: s.rotate(0, float("nan")), "angle must be a finite number"),
    (lambda s: s.scale(0, 0), "scale factor must be > 0"),
    (lambda s: s.turntable(0), "n_frames must be an int in 1..360"),
])
def test_bad_controls_are_clear_errors(pipe, call, message):
    with pytest.raises(ValueError, match=message):
        call(pipe.sample(0))


def test_out_of_range_values_are_clamped_and_said(pipe):
    s = pipe.sample(0).move(0, (5.0, None, None))
    assert s.translation(0)[0] == pytest.approx(pipe.G.config.translation_range[0])
    assert "clamped" in s.notes[0]
    with pytest.raises(ValueError, match="seed must be"):
        pipe.sample(-1)
