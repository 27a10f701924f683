"""Toyshapes3D: deterministic scenes whose recorded ground truth matches what is drawn."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synthkit.data import toyshapes3d as T
from synthkit.nn import render as R3


def test_scenes_are_deterministic_and_splits_differ():
    a, b = T.render(0, 5), T.render(0, 5)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.scene == b.scene
    train, test = T.Toyshapes3DDataset(32, 20, "train"), T.Toyshapes3DDataset(32, 20, "test")
    assert all(train.scene(i) != test.scene(i) for i in range(20))


def test_ground_truth_is_within_the_documented_ranges():
    counts = set()
    for i in range(200):
        sc = T.sample_scene(1, i)
        counts.add(len(sc.objects))
        assert math.radians(T.ELEVATION_DEG[0]) <= sc.elevation <= math.radians(T.ELEVATION_DEG[1])
        for o in sc.objects:
            assert o.kind in T.KINDS and o.color in T.COLORS
            assert math.hypot(o.translation[0], o.translation[2]) <= T.PLACEMENT_RADIUS + 1e-9
            assert o.translation[1] == pytest.approx(o.extent[1])  # resting on the ground
        for p in range(len(sc.objects)):  # footprints never overlap
            for q in range(p):
                a, b = sc.objects[p], sc.objects[q]
                d = math.hypot(a.translation[0] - b.translation[0], a.translation[2] - b.translation[2])
                assert d > T._footprint(a.kind, a.extent) + T._footprint(b.kind, b.extent)
    assert counts == {1, 2, 3}


def test_instance_map_sits_where_the_camera_projects_each_object():
    for i in range(30):
        r = T.render(2, i, size=64)
        cam_R, cam_c = R3.look_at(torch.tensor([r.scene.azimuth]), torch.tensor([r.scene.elevation]), T.RADIUS)
        for k, o in enumerate(r.scene.objects):
            ys, xs = np.nonzero(r.instances == k + 1)
            if len(xs) < 30:  # mostly hidden behind another object
                continue
            uv, _ = R3.project(torch.tensor([[o.translation]], dtype=torch.float32), cam_R, cam_c, 64, T.FOCAL)
            u, v = uv[0, 0].tolist()
            assert xs.min() - 1 <= u <= xs.max() + 1 and ys.min() - 1 <= v <= ys.max() + 1, (i, k)
            colour = np.array(T.COLORS[o.color]) * 255
            pix = r.image[ys, xs].astype(float)
            # shading only darkens; hue stays: the brightest pixels are near the object's colour
            assert np.abs(pix.max(0) - colour).max() < 60, (i, k, pix.max(0), colour)


def test_items_and_backgrounds():
    item = T.Toyshapes3DDataset(32, 4)[0]
    assert item["image"].shape == (3, 32, 32) and -1 <= item["image"].min() and item["image"].max() <= 1
    n = int(item["n_objects"])
    assert (item["kinds"][:n] >= 0).all() and (item["kinds"][n:] == -1).all()
    white = T.Toyshapes3DDataset(32, 4, background="white")[0]
    assert (white["image"][:, white["instances"] == 0] == 1).all()
    empty = T.render(0, 0, size=32, n_objects=0)
    assert (empty.instances == 0).all() and len(set(map(tuple, empty.image.reshape(-1, 3)))) <= 2


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="background must be"):
        T.Toyshapes3DDataset(32, 4, background="space")
    with pytest.raises(ValueError, match="n_objects must be in 0..3"):
        T.sample_scene(0, 0, n_objects=5)
    with pytest.raises(ValueError, match="size must be an int in 16..512"):
        T.render(0, 0, size=8)
    with pytest.raises(IndexError):
        T.Toyshapes3DDataset(32, 4).scene(10)
