"""A small differentiable renderer in pure PyTorch (CPU and GPU): cameras, rays, soft primitives, splats, blending.

Liao et al. (arXiv 1912.05237) render each 3D primitive into 2D maps that a 2D generator turns into an object. The
official code uses Gaussian point splatting and a SoftRas-style soft cuboid in PyTorch, plus a CUDA mesh renderer;
synthkit needs none of CUDA: every function here is a handful of tensor operations, differentiable with respect
to the primitives' rotation, translation and scale and to the camera.

Conventions (the same for the Toyshapes3D dataset and the model):

- World: y is up, the ground is the plane y = 0. A camera sits on a sphere of ``radius`` around the origin at
  (azimuth, elevation) in radians and looks at the origin; ``focal`` is in units of the image size (f = focal * S
  pixels; 1.3 -> a 42° field of view).
- Camera frame: x right, y up, z forward (depth = z > 0 in front). Pixel (u, v) has u to the right and v downwards,
  with (S / 2, S / 2) the image centre; pixel centres sit at half-integers.
- A primitive's pose: rotation ``R`` [.., 3, 3] (object -> world), translation ``t`` [.., 3] and per-axis
  half-extents ``s`` [.., 3]; in its own frame the cuboid is [-1, 1]^3 and the sphere the unit ball.

Soft silhouettes: a ray's *margin* is positive inside the primitive's silhouette and negative outside, and
continuous across the edge; ``alpha = sigmoid(margin / sigma)``. For the cuboid the margin is the chord length of
the ray through the box (t_far - t_near, world units, negative as a gap when it misses); for the sphere it is
1 - |q|^2 with q the ray's closest point to the centre in the object frame. Depth is the entry distance where the
ray hits and the closest-approach distance where it misses (so depth has a gradient everywhere).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-6


# ---- rotations ---------------------------------------------------------------------------------------------------

def rotation_6d(x: Tensor) -> Tensor:
    """[..., 6] -> [..., 3, 3]: the continuous 6-D rotation of Zhou et al. (Gram-Schmidt on two vectors); columns
    are the object's x, y, z axes in world coordinates."""
    a, b = x[..., :3], x[..., 3:]
    e1 = F.normalize(a, dim=-1)
    e2 = F.normalize(b - (e1 * b).sum(-1, keepdim=True) * e1, dim=-1)
    e3 = torch.cross(e1, e2, dim=-1)
    return torch.stack([e1, e2, e3], dim=-1)


def rotation_y(angle: Tensor) -> Tensor:
    """[...] radians -> [..., 3, 3], a rotation about the world's up axis (counter-clockwise seen from above)."""
    c, s = torch.cos(angle), torch.sin(angle)
    z, o = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([torch.stack([c, z, s], -1), torch.stack([z, o, z], -1), torch.stack([-s, z, c], -1)], -2)


# ---- cameras and rays --------------------------------------------------------------------------------------------

def camera_position(azimuth: Tensor, elevation: Tensor, radius: float | Tensor = 3.0) -> Tensor:
    """[B] angles -> [B, 3]: the camera centre on the sphere (azimuth 0 looks along -z from +z)."""
    ce = torch.cos(elevation)
    return torch.stack([ce * torch.sin(azimuth), torch.sin(elevation), ce * torch.cos(azimuth)], -1) * radius


def look_at(azimuth: Tensor, elevation: Tensor, radius: float | Tensor = 3.0) -> tuple[Tensor, Tensor]:
    """(R [B, 3, 3], c [B, 3]): world -> camera rotation (rows: right, up, forward) and camera centre."""
    c = camera_position(azimuth, elevation, radius)
    fwd = F.normalize(-c, dim=-1)
    up_world = torch.tensor([0.0, 1.0, 0.0], dtype=c.dtype, device=c.device).expand_as(fwd)
    right = F.normalize(torch.cross(fwd, up_world, dim=-1), dim=-1)
    up = torch.cross(right, fwd, dim=-1)
    return torch.stack([right, up, fwd], dim=-2), c


def project(points: Tensor, R: Tensor, c: Tensor, size: int, focal: float = 1.3) -> tuple[Tensor, Tensor]:
    """World points [B, P, 3] -> (pixel coordinates [B, P, 2] as (u, v), depth [B, P])."""
    p = torch.einsum("bij,bpj->bpi", R, points - c[:, None])
    z = p[..., 2].clamp_min(EPS)
    f = focal * size
    uv = torch.stack([f * p[..., 0] / z + size / 2, -f * p[..., 1] / z + size / 2], -1)
    return uv, p[..., 2]


def pixel_rays(R: Tensor, c: Tensor, size: int, focal: float = 1.3) -> tuple[Tensor, Tensor]:
    """(origins [B, H*W, 3], unit directions [B, H*W, 3]) of the pixel centres, row-major from the top left."""
    f = focal * size
    coords = (torch.arange(size, dtype=R.dtype, device=R.device) + 0.5 - size / 2) / f
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    d_cam = torch.stack([u, -v, torch.ones_like(u)], -1).reshape(1, -1, 3)
    d = F.normalize(torch.einsum("bji,bpj->bpi", R, d_cam.expand(R.shape[0], -1, -1)), dim=-1)
    return c[:, None].expand_as(d), d


def to_object_frame(o: Tensor, d: Tensor, R: Tensor, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """Rays [B, P, 3] into the frames of K primitives (R [B, K, 3, 3], t, s [B, K, 3]) -> [B, K, P, 3] each;
    the ray parameter (distance along the world ray) is unchanged."""
    o_obj = torch.einsum("bkji,bkpj->bkpi", R, o[:, None] - t[:, :, None]) / s[:, :, None]
    d_obj = torch.einsum("bkji,bkpj->bkpi", R, d[:, None].expand(-1, R.shape[1], -1, -1)) / s[:, :, None]
    return o_obj, d_obj


def _safe(x: Tensor) -> Tensor:
    return torch.where(x.abs() < EPS, torch.full_like(x, EPS) * torch.where(x < 0, -1.0, 1.0), x)


def box_margin(o: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """Rays in a unit box's frame -> (margin = t_far - t_near, t_near), both [..., P] (slab method)."""
    inv = 1.0 / _safe(d)
    t1, t2 = (-1.0 - o) * inv, (1.0 - o) * inv
    t_near = torch.minimum(t1, t2).amax(-1)
    t_far = torch.maximum(t1, t2).amin(-1)
    return t_far - t_near, t_near


def sphere_margin(o: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """Rays in a unit ball's frame -> (margin = 1 - |q|^2 with q the closest point, entry distance or closest
    approach), both [..., P]."""
    dd = (d * d).sum(-1).clamp_min(EPS)
    t_star = -(o * d).sum(-1) / dd
    q2 = ((o + t_star[..., None] * d) ** 2).sum(-1)
    margin = 1.0 - q2
    half = torch.sqrt(margin.clamp_min(0.0) + EPS) / torch.sqrt(dd)
    return margin, torch.where(margin > 0, t_star - half, t_star)


def render_primitives(kind: str, R: Tensor, t: Tensor, s: Tensor, cam_R: Tensor, cam_c: Tensor, size: int,
                      focal: float = 1.3, sigma: float = 0.02) -> tuple[Tensor, Tensor]:
    """Soft silhouettes of K primitives of one ``kind`` ("cuboid" | "sphere"): (alpha, depth), each [B, K, 1, S, S].

    ``sigma``: softness (cuboid: world units of chord length; sphere: units of 1 - |q|^2). The rays are the camera's
    pixel rays; depth is the distance along the ray (not z), which is what depth ordering needs.
    """
    o, d = pixel_rays(cam_R, cam_c, size, focal)
    o_obj, d_obj = to_object_frame(o, d, R, t, s)
    if kind == "cuboid":
        margin, depth = box_margin(o_obj, d_obj)
    elif kind == "sphere":
        margin, depth = sphere_margin(o_obj, d_obj)
    else:
        raise ValueError(f"unknown primitive kind {kind!r}; use 'cuboid' or 'sphere'")
    B, K = R.shape[:2]
    alpha = torch.sigmoid(margin / sigma)
    return alpha.reshape(B, K, 1, size, size), depth.reshape(B, K, 1, size, size)


def splat_points(uv: Tensor, features: Tensor, size: int, sigma: float) -> Tensor:
    """Gaussian splatting: points at pixel positions uv [B, P, 2] with features [B, P, C] -> [B, C, S, S], summed
    (no self-occlusion, as in the paper's point renderer); ``sigma`` in pixels."""
    coords = torch.arange(size, dtype=uv.dtype, device=uv.device) + 0.5
    gu = torch.exp(-((coords[None, None] - uv[..., :1]) ** 2) / (2 * sigma**2))  # [B, P, S] along u
    gv = torch.exp(-((coords[None, None] - uv[..., 1:]) ** 2) / (2 * sigma**2))  # [B, P, S] along v
    return torch.einsum("bpc,bpy,bpx->bcyx", features, gv, gu)


# ---- combining layers ---------------------------------------------------------------------------------------------

def composite_over(rgb: Tensor, alpha: Tensor, depth: Tensor, background: Tensor) -> tuple[Tensor, Tensor]:
    """Depth-ordered alpha compositing, front to back with "over", per pixel.

    rgb [B, K, C, H, W], alpha / depth [B, K, 1, H, W], background [B, C, H, W] (behind everything) ->
    (image [B, C, H, W], transmittance left for the background [B, 1, H, W]).
    """
    order = depth.argsort(dim=1)
    a = alpha.gather(1, order)
    c = rgb.gather(1, order.expand_as(rgb))
    trans = torch.cumprod(torch.cat([torch.ones_like(a[:, :1]), 1 - a], 1), 1)  # light reaching each layer
    out = (trans[:, :-1] * a * c).sum(1) + trans[:, -1] * background
    return out, trans[:, -1]


def softmax_depth_blend(rgb: Tensor, alpha: Tensor, depth: Tensor, background: Tensor, gamma: float = 0.1,
                        far: float = 10.0) -> Tensor:
    """SoftRas-style blending: weights alpha_k exp(-depth_k / gamma), the background at depth ``far``; soft in depth
    (every layer gets a gradient), converging to hard front-most selection as gamma -> 0."""
    logits = torch.log(alpha.clamp_min(EPS)) - depth / gamma  # [B, K, 1, H, W]
    bg_logit = torch.full_like(logits[:, :1], -far / gamma)
    w = torch.softmax(torch.cat([logits, bg_logit], 1), dim=1)
    return (w[:, :-1] * rgb).sum(1) + w[:, -1] * background


def fov_degrees(focal: float) -> float:
    """The field of view of a camera with ``focal`` in image-size units."""
    return math.degrees(2 * math.atan(0.5 / focal))
