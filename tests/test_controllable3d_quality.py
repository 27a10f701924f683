"""Quality of the bundled "controllable3d-toyshapes3d" model against Toyshapes3D's ground truth (the issue's goals).

The full figures (100 scenes, FID on 1000 images) are in benchmarks/results/controllable3d.md
(``python benchmarks/eval_controllable3d.py``); here the first 40 of the same scenes keep the file quick.
"""
from __future__ import annotations

import numpy as np
import pytest

from synthkit.metrics import controls3d as M
from synthkit.pipelines.controllable3d import load_controllable3d

pytestmark = pytest.mark.slow
N = 40


@pytest.fixture(scope="module")
def scenes():
    pipe = load_controllable3d("controllable3d-toyshapes3d")
    return [pipe.sample(10_000 + i) for i in range(N)]


def test_the_yardstick_finds_real_objects():
    acc = M.segmentation_accuracy(n=100, size=64, seed=0)
    assert acc["count_accuracy"] >= 0.95 and acc["mean_iou"] >= 0.98, acc


def test_moving_a_primitive_moves_its_alpha(scenes):
    proj, meas = [], []
    for s in scenes[:10]:
        for k, vis in enumerate(s.visible()):
            if vis:
                p, m = M.translation_sweep(s, k, 0, np.linspace(-0.6, 0.6, 5))
                proj += p
                meas += m
    assert len(proj) >= 20 and M.pearson(proj, meas) >= 0.9


def test_a_new_appearance_keeps_the_masks(scenes):
    iou = float(np.mean([M.appearance_invariance(s, seed=i) for i, s in enumerate(scenes)]))
    assert iou >= 0.9, iou


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="bundled controllable3d-toyshapes3d removes exactly one colour-found object in 25% of 299 "
                          "cases (benchmarks/results/controllable3d.md) vs the goal 80%: its 2D generator often paints "
                          "a primitive's faces in two hues; see its model card")
def test_removing_a_primitive_removes_one_object(scenes):
    effects = [M.removal_effect(s, k) for s in scenes for k, vis in enumerate(s.visible()) if vis]
    rate = float(np.mean([e == 1 for e in effects]))
    assert rate >= 0.8, rate
