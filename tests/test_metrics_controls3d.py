"""The yardsticks of the 3D controls (synthkit.metrics.controls3d): the colour segmentation finds real objects, the
matching is the best one, and the control measurements run on a model's scenes."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from synthkit.data import toyshapes3d as T
from synthkit.metrics import controls3d as M


def test_segmentation_finds_the_objects_of_real_images():
    acc = M.segmentation_accuracy(n=40, size=64, seed=0)
    assert acc["n"] == 40
    assert acc["count_accuracy"] >= 0.9 and acc["mean_iou"] >= 0.95, acc


def test_painted_squares_are_counted_and_grey_is_not():
    ground = np.full((64, 64, 3), (150, 145, 135), np.uint8)
    assert M.count_objects(ground) == 0
    img = ground.copy()
    colours = [np.round(np.array(c) * 255).astype(np.uint8) for c in T.COLORS.values()]
    img[5:20, 5:20] = colours[0]
    img[30:50, 30:50] = colours[1]
    img[60:61, 60:61] = colours[2]  # one pixel: below MIN_OBJECT_PIXELS
    seg = M.segment_objects(img)
    assert (seg[5:20, 5:20] == 1).all() and (seg[30:50, 30:50] == 2).all() and (seg[:5] == 0).all()
    assert M.count_objects(img) == 2
    shaded = img.copy()
    shaded[30:50, 30:50] = (colours[1] * 0.6).astype(np.uint8)  # a face in shade keeps its hue
    assert (M.segment_objects(shaded)[30:50, 30:50] == 2).all()


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2)])
def test_best_matching_is_the_minimum_over_all_assignments(shape):
    cost = np.random.default_rng(sum(shape)).random(shape)
    pairs = M._best_matching(cost)
    assert len(pairs) == min(shape) and len({i for i, _ in pairs}) == len({j for _, j in pairs}) == min(shape)
    n, m = shape
    if n <= m:
        best = min(sum(cost[i, j] for i, j in enumerate(c)) for c in itertools.permutations(range(m), n))
    else:
        best = min(sum(cost[i, j] for j, i in enumerate(r)) for r in itertools.permutations(range(n), m))
    assert sum(cost[i, j] for i, j in pairs) == pytest.approx(best)


def test_pearson():
    assert M.pearson([0, 1, 2], [0, 2, 4]) == pytest.approx(1.0)
    assert M.pearson([0, 1, 2], [2, 1, 0]) == pytest.approx(-1.0)
    assert np.isnan(M.pearson([1, 1], [0, 1]))


@pytest.fixture(scope="module")
def scene():
    from synthkit.models.controllable3d import Controllable3DConfig, Controllable3DGenerator
    from synthkit.pipelines.controllable3d import Controllable3DPipeline

    with torch.random.fork_rng():
        torch.manual_seed(0)
        G = Controllable3DGenerator(Controllable3DConfig.from_preset("tiny_test", image_size=32))
    return Controllable3DPipeline(G).sample(0)


def test_measurements_run_on_a_scene(scene):
    m = M.match_primitives(scene)
    assert {"n_objects", "n_visible_primitives", "count_match", "pairs", "mean_iou", "centre_error_px"} <= set(m)
    assert m["count_match"] == (m["n_objects"] == m["n_visible_primitives"])
    assert isinstance(M.removal_effect(scene, 0), int)
    # the renderer's silhouettes do not depend on the appearance codes (the 2D generator's alpha may)
    assert 0.0 <= M.appearance_invariance(scene, seed=3) <= 1.0
    proj, meas = M.translation_sweep(scene, 0, 0, np.linspace(-0.5, 0.5, 5))
    assert len(proj) == len(meas) in (0, 5)
    if proj:
        assert proj[0] == 0.0 and proj[-1] > 0  # measured along the projected direction of motion
