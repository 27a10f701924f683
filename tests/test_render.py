"""synthkit.nn.render: geometry lands where a camera puts it, and the soft renderer's gradients are right."""
from __future__ import annotations

import math

import pytest
import torch

from synthkit.nn import render as R3

S = 32


def _cam(az=0.3, el=0.5, dtype=torch.float64):
    return R3.look_at(torch.tensor([az], dtype=dtype), torch.tensor([el], dtype=dtype), 3.0)


def _pose(t=(0.0, 0.0, 0.0), s=(0.3, 0.3, 0.3), angle=0.0, dtype=torch.float64):
    rot = R3.rotation_y(torch.tensor([[angle]], dtype=dtype))
    return rot, torch.tensor([[t]], dtype=dtype), torch.tensor([[s]], dtype=dtype)


def _centroid(alpha):
    a = alpha[0, 0, 0]
    ys, xs = torch.meshgrid(torch.arange(S, dtype=a.dtype) + 0.5, torch.arange(S, dtype=a.dtype) + 0.5, indexing="ij")
    return float((a * xs).sum() / a.sum()), float((a * ys).sum() / a.sum())


@pytest.mark.parametrize("kind", ["cuboid", "sphere"])
@pytest.mark.parametrize("az,el", [(0.0, 0.3), (1.2, 0.7), (-2.5, 0.1)])
def test_an_origin_centred_primitive_lands_at_the_image_centre(kind, az, el):
    cam_R, cam_c = _cam(az, el)
    alpha, depth = R3.render_primitives(kind, *_pose(), cam_R, cam_c, S)
    cx, cy = _centroid(alpha)
    assert abs(cx - S / 2) < 0.5 and abs(cy - S / 2) < 0.5
    assert alpha[0, 0, 0, S // 2, S // 2] > 0.99 and alpha[0, 0, 0, 0, 0] < 0.01
    # the entry depth at the centre is the camera distance minus about the primitive's half-size
    assert 3.0 - 0.3 * math.sqrt(3) - 1e-6 <= float(depth[0, 0, 0, S // 2, S // 2]) <= 3.0 - 0.3 + 0.02


def test_projection_matches_the_renderer_and_the_camera_frame():
    cam_R, cam_c = _cam(0.8, 0.4)
    uv, z = R3.project(torch.zeros(1, 1, 3, dtype=torch.float64), cam_R, cam_c, S)
    assert torch.allclose(uv, torch.full_like(uv, S / 2)) and torch.allclose(z, torch.tensor([[3.0]], dtype=z.dtype))
    # a point to the camera's right lands right of the centre, a point above lands above (smaller v)
    right, up = cam_R[0, 0], cam_R[0, 1]
    uv2, _ = R3.project(torch.stack([0.2 * right, 0.2 * up])[None], cam_R, cam_c, S)
    assert uv2[0, 0, 0] > S / 2 and abs(float(uv2[0, 0, 1]) - S / 2) < 1e-6
    assert uv2[0, 1, 1] < S / 2 and abs(float(uv2[0, 1, 0]) - S / 2) < 1e-6
    # moving a box to +right moves its rendered silhouette to the right
    a0, _ = R3.render_primitives("cuboid", *_pose(), cam_R, cam_c, S)
    a1, _ = R3.render_primitives("cuboid", *_pose(t=tuple((0.3 * right).tolist())), cam_R, cam_c, S)
    assert _centroid(a1)[0] > _centroid(a0)[0] + 2


def test_rotation_6d_is_a_rotation():
    rot = R3.rotation_6d(torch.randn(10, 6, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64).expand(10, 3, 3)
    assert torch.allclose(rot.transpose(1, 2) @ rot, eye, atol=1e-10)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(10, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["cuboid", "sphere"])
def test_gradients_wrt_pose_are_non_zero_and_match_finite_differences(kind):
    cam_R, cam_c = _cam(0.4, 0.5)
    weights = torch.rand(1, 1, 1, S, S, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t0 = torch.tensor([[[0.1, 0.05, -0.1]]], dtype=torch.float64)
    s0 = torch.tensor([[[0.3, 0.25, 0.35]]], dtype=torch.float64)
    a0 = torch.tensor([[0.3]], dtype=torch.float64)

    def f(t, s, angle):
        alpha, depth = R3.render_primitives(kind, R3.rotation_y(angle), t, s, cam_R, cam_c, S, sigma=0.1 if
                                            kind == "cuboid" else 0.2)
        return (alpha * weights).sum() + 0.1 * (alpha * depth * weights).sum()

    params = [t0.clone().requires_grad_(), s0.clone().requires_grad_(), a0.clone().requires_grad_()]
    f(*params).backward()
    for i, p in enumerate(params):
        grad = p.grad.flatten()
        assert grad.abs().max() > 1e-3, f"no gradient reaches parameter {i}"
        base = [q.detach() for q in params]
        for j in range(grad.numel()):
            if i == 2 and kind == "sphere":
                continue  # a sphere is rotation invariant: its gradient is 0 there, checked below
            h = 1e-5
            plus = [b.clone() for b in base]
            minus = [b.clone() for b in base]
            plus[i].view(-1)[j] += h
            minus[i].view(-1)[j] -= h
            fd = (f(*plus) - f(*minus)) / (2 * h)
            assert abs(float(fd) - float(grad[j])) <= 1e-4 * max(1.0, abs(float(fd))), (i, j, float(fd), float(grad[j]))


def test_splat_and_compositing():
    uv = torch.tensor([[[8.0, 24.0]]])
    img = R3.splat_points(uv, torch.tensor([[[1.0, 2.0]]]), 32, sigma=1.5)
    assert img.shape == (1, 2, 32, 32)
    y, x = divmod(int(img[0, 0].argmax()), 32)
    assert (x, y) in {(7, 23), (8, 24), (7, 24), (8, 23)} and torch.allclose(img[0, 1], 2 * img[0, 0])
    # two layers: the nearer one wins where it is opaque, whatever its index
    H = 4
    rgb = torch.stack([torch.zeros(3, H, H), torch.ones(3, H, H)])[None]  # layer 0 black, layer 1 white
    alpha = torch.ones(1, 2, 1, H, H)
    depth = torch.stack([torch.full((1, H, H), 2.0), torch.full((1, H, H), 1.0)])[None]
    out, trans = R3.composite_over(rgb, alpha, depth, torch.zeros(1, 3, H, H))
    assert torch.allclose(out, torch.ones_like(out)) and torch.allclose(trans, torch.zeros_like(trans))
    half = alpha * 0.5
    out, trans = R3.composite_over(rgb, half, depth, torch.zeros(1, 3, H, H))
    assert torch.allclose(out, torch.full_like(out, 0.5)) and torch.allclose(trans, torch.full_like(trans, 0.25))
    soft = R3.softmax_depth_blend(rgb, alpha, depth, torch.zeros(1, 3, H, H), gamma=0.01)
    assert torch.allclose(soft, torch.ones_like(soft), atol=1e-6)


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="'cuboid' or 'sphere'"):
        R3.render_primitives("cone", *_pose(), *_cam(), S)
