"""The 3D-controllable GAN (Liao et al.): shapes, losses, one training step, and the controls a scene exposes."""
from __future__ import annotations

import math

import pytest
import torch

from synthkit.models import controllable3d as C


@pytest.fixture(scope="module")
def task():
    torch.manual_seed(0)
    return C.make_task("tiny_test")


@torch.no_grad()
def _scene(G, B=2, seed=0, keep=None):
    g = torch.Generator().manual_seed(seed)
    z_pose, z_app = G.sample_z(B, g)
    az, el = G.sample_camera(B, g)
    return G(z_pose, z_app, az, el, keep), (z_pose, z_app, az, el)


def test_presets_build_and_the_paper_preset_has_the_paper_sizes():
    paper = C.Controllable3DConfig.from_preset("paper")
    assert (paper.image_size, paper.n_primitives, paper.n_points, paper.pose_dim) == (64, 3, 32, 64)
    assert (paper.lambda_compact, paper.lambda_consistency, paper.r1_gamma, paper.lr_g) == (0.03, 0.1, 10.0, 1e-4)
    assert paper.scale_range == (0.1, 0.6) and paper.consistency_max_deg == 30.0
    for name in C.PRESETS:
        cfg = C.Controllable3DConfig.from_preset(name)
        G = C.Controllable3DGenerator(cfg)
        if name != "paper":
            assert sum(p.numel() for p in G.parameters()) * 4 < 10e6  # a bundled model stays under 10 MB
    with pytest.raises(ValueError, match="primitive must be"):
        C.Controllable3DConfig(primitive="cone")


def test_forward_shapes_and_ranges(task):
    G, cfg = task.G, task.config
    s, _ = _scene(G)
    S, N = cfg.image_size, cfg.n_primitives
    assert s.image.shape == (2, 3, S, S) and s.rgb.shape == (2, N, 3, S, S)
    assert s.alpha.shape == s.depth.shape == s.rendered_alpha.shape == (2, N, 1, S, S)
    assert 0 <= float(s.alpha.min()) and float(s.alpha.max()) <= 1
    # the output alpha lives inside the rendered silhouette (hard mask alpha > 0.5)
    assert (s.alpha[s.rendered_alpha <= 0.5] == 0).all()
    lo, hi = cfg.scale_range
    assert float(s.poses.scale.min()) >= lo and float(s.poses.scale.max()) <= hi
    assert (s.poses.translation.abs() <= torch.tensor(cfg.translation_range)).all()


def test_dropping_a_primitive_removes_only_its_layer(task):
    G, N = task.G, task.config.n_primitives
    full, _ = _scene(G)
    keep = torch.ones(2, N)
    keep[:, 0] = 0
    dropped, _ = _scene(G, keep=keep)
    assert (dropped.alpha[:, 0] == 0).all() and torch.equal(dropped.alpha[:, 1:], full.alpha[:, 1:])
    none, _ = _scene(G, keep=torch.zeros(2, N))
    assert torch.allclose(none.image, none.background)


def test_random_keep_drops_zero_to_n_minus_one():
    keep = C.random_keep(2000, 3, None)
    assert (keep.sum(1) >= 1).all()
    assert set(keep.sum(1).long().tolist()) == {1, 2, 3}


def test_compactness_loss_has_a_floor():
    small = torch.full((2, 3, 1, 8, 8), 0.05, requires_grad=True)
    loss = C.compactness_loss(small, 0.1)
    loss.backward()
    assert float(loss) == pytest.approx(0.1) and float(small.grad.abs().sum()) == 0
    big = torch.full((2, 3, 1, 8, 8), 0.3)
    assert float(C.compactness_loss(big, 0.1)) == pytest.approx(0.3)


def test_consistency_loss_is_zero_for_one_view_and_grows_when_views_disagree(task):
    G = task.G
    with torch.no_grad():
        s, (zp, za, az, el) = _scene(G)
    assert float(C.consistency_loss(s, s, task.config.focal)) < 1e-4
    turned = G(zp, za, az + math.radians(20), el)
    other = G(zp, torch.randn_like(za), az + math.radians(20), el)  # other colours: RGB disagrees
    assert float(C.consistency_loss(s, other, task.config.focal)) >= float(
        C.consistency_loss(s, turned, task.config.focal)) - 1e-6


def test_one_training_step_moves_every_part(task):
    cfg = task.config
    batch = {"image": torch.rand(cfg.batch_size, 3, cfg.image_size, cfg.image_size) * 2 - 1}
    out = task.d_step(batch)
    out["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in task.D.parameters())
    task.G.zero_grad()
    task.g_steps = 0  # the consistency term runs on this step (consistency_every = 1)
    out = task.g_step(batch)
    assert {"g_nonsat", "compact", "consistency"} <= set(out)
    out["loss"].backward()
    assert task.G.g3d.pose[0].weight.grad.abs().sum() > 0  # the pose head learns (through the splats)
    assert task.G.g2d.out.weight.grad.abs().sum() > 0 and task.G.bg.out.weight.grad.abs().sum() > 0


def test_consistency_trains_only_the_2d_generator(task):
    G, cfg = task.G, task.config
    G.zero_grad()
    s, (zp, za, az, el) = _scene(G)
    pd = s.poses
    pts = tuple(t.detach() for t in G.g3d.point_cloud(za[:, :cfg.n_primitives]))
    a = G.render(pd, pts, za, az, el)
    b = G.render(pd, pts, za, az + 0.3, el)
    C.consistency_loss(a, b, cfg.focal).backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in G.g3d.parameters())
    assert G.g2d.out.weight.grad.abs().sum() > 0


def test_dataset_of_the_task(task):
    item = task.make_dataset()[0]
    assert item["image"].shape == (3, task.config.image_size, task.config.image_size)
