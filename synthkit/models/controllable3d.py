"""3D-controllable image synthesis (Liao, Schwarz, Mescheder, Geiger, CVPR 2020, arXiv 1912.05237), on a CPU.

A GAN whose generator first builds a scene of N 3D primitives, renders each with a camera, turns each rendering
into an object with a shared 2D generator and composites them by depth. Because pose, camera and appearance are
separate inputs, they are separately controllable at test time, learned from images alone (no pose labels).

Paper -> code (read top to bottom)::

    z = (z_pose, z_app)           z_pose [B, pose_dim] (the scene layout); z_app [B, N + 1, app_dim] (one
                                  appearance code per primitive and one for the background)
    3D generator                  Generator3D: pose MLP -> per primitive 6-D rotation, tanh translation, bounded
                                  scale; point MLP -> n_points points (xyz in the object frame, features)
    differentiable renderer       synthkit.nn.render: soft cuboid (or sphere) silhouette -> alpha, depth; Gaussian
                                  splats of the points -> feature map (sigma = S / 32 px, as the paper)
    2D generator (shared)         Generator2D: features -> conv, stride-2, ResNet blocks with AdaIN from z_app_k,
                                  up -> RGB, alpha, depth offset; alpha_k = predicted x [rendered alpha > 0.5]
    background                    the same 2D generator class on the camera's ray directions (a pure-torch
                                  replacement of the paper's textured background sphere), depth = far
    compositing                   synthkit.nn.render.composite_over: per pixel, front to back by depth
    primitive dropping            training drops a random 0..N-1 primitives per sample (``drop_primitives``)

Losses (each a pure function below, weights in the config):

    L_D = softplus(-D(x)) + softplus(D(G(z))) + gamma / 2 * R1        gamma = r1_gamma = 10 (the paper)
    L_G = softplus(-D(G(z))) + lambda_compact * L_compact + lambda_consistency * L_3D
    L_compact = mean_k max(area_k, compact_min)     area_k = mean rendered alpha;   weight 0.03, floor 0.1
    L_3D      = the scene re-rendered with the camera turned by up to 30° about the up axis; each view's depth is
                unprojected, moved into the other view and compared (L1 on depth, 5 x L1 on RGB, inside the
                alpha), both directions; weight 0.1. The 3D generator's outputs are detached for it (the paper
                zeroes its gradient), so it trains only the 2D generator to be 3D-consistent.

Simplifications vs the official code (autonomousvision/controllable_image_synthesis): one appearance code per
primitive (the official splits one z into pose / appearance halves) so that one object's look can be resampled;
Adam(0, 0.99) instead of RMSprop; a plain conv discriminator with R1 instead of the SN-ResNet; the background is a
2D generator on ray directions instead of a textured sphere rendered by the CUDA mesh renderer; one label for D
(no separate background-only reals). Not implemented: the mesh (cuboid/sphere texture) primitives of the paper's
ablation, which need the CUDA renderer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from synthkit import losses
from synthkit.configs import PresetConfig
from synthkit.hub import HubMixin
from synthkit.nn import render as R3


@dataclass(frozen=True)
class Controllable3DConfig(PresetConfig):
    image_size: int = 64
    n_primitives: int = 3
    primitive: str = "cuboid"  # silhouette that gives alpha and depth: "cuboid" | "sphere"
    n_points: int = 32  # splatted points per primitive (the paper's `point` primitive)
    feature_dim: int = 3  # feature channels per point (the 2D generator's input)
    pose_dim: int = 64
    app_dim: int = 64
    mlp_widths: tuple[int, ...] = (128, 256, 512)  # pose and point MLPs (the paper: 64 -> 128 -> 256 -> 512)
    channels: int = 128  # 2D generator width
    n_blocks: int = 4  # AdaIN ResNet blocks
    bg_channels: int = 64  # background generator width (0: a constant white background, the paper's `bg_color`)
    translation_range: tuple[float, float, float] = (1.0, 1.0, 1.0)  # tanh * range (the paper: [-1, 1]^3)
    scale_range: tuple[float, float] = (0.1, 0.6)  # per-axis half-extent: sigmoid -> [lo, hi] (the paper)
    depth_offset: float = 0.3  # max |predicted depth offset| (world units)
    render_sigma: float = 0.02  # softness of the rendered silhouette
    camera_radius: float = 3.0
    focal: float = 1.3  # in image-size units
    elevation_deg: tuple[float, float] = (20.0, 45.0)  # training cameras (azimuth: all around)
    far: float = 10.0
    drop_primitives: bool = True
    # ---- discriminator and training ----
    d_channels: tuple[int, ...] = (64, 128, 256, 512)  # one stride-2 stage each
    lambda_compact: float = 0.03
    compact_min: float = 0.1
    lambda_consistency: float = 0.1
    consistency_max_deg: float = 30.0
    consistency_rgb_weight: float = 5.0
    consistency_every: int = 1  # lazy: every k-th G step, weighted by k (the same expected gradient, k x cheaper)
    r1_gamma: float = 10.0
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.99)
    batch_size: int = 32
    ema_decay: float | None = 0.999
    dataset_length: int = 20_000
    background: str = "ground"  # Toyshapes3D background of the training images: "ground" | "white"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.primitive not in ("cuboid", "sphere"):
            raise ValueError(f"primitive must be 'cuboid' or 'sphere', got {self.primitive!r}")
        if self.image_size < 16 or self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 and >= 16, got {self.image_size}")
        if self.n_primitives < 1:
            raise ValueError(f"n_primitives must be >= 1, got {self.n_primitives}")

    @property
    def z_dim(self) -> int:
        return self.pose_dim + (self.n_primitives + 1) * self.app_dim


PRESETS: dict[str, Controllable3DConfig] = {
    "paper": Controllable3DConfig(),  # 64², 3 primitives, the official widths and loss weights
    "toyshapes3d": Controllable3DConfig(  # CPU size, sized to Toyshapes3D's scenes
        channels=32, n_blocks=2, bg_channels=16, mlp_widths=(128, 128), d_channels=(32, 64, 128, 128),
        consistency_every=4,
        translation_range=(0.8, 0.45, 0.8), scale_range=(0.1, 0.45), batch_size=16, lr_g=2e-4, lr_d=2e-4),
    "tiny_test": Controllable3DConfig(
        image_size=16, n_primitives=2, n_points=8, pose_dim=8, app_dim=8, mlp_widths=(16,), channels=8,
        n_blocks=1, bg_channels=4, d_channels=(8, 16), batch_size=2, dataset_length=8),
}


def mlp(dims: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


@dataclass
class Poses:
    """Per primitive: rotation [B, N, 3, 3] (object -> world), translation [B, N, 3], half-extents [B, N, 3]."""

    rotation: Tensor
    translation: Tensor
    scale: Tensor

    def detach(self) -> "Poses":
        return Poses(self.rotation.detach(), self.translation.detach(), self.scale.detach())


class Generator3D(nn.Module):
    """z_pose -> the N primitives' poses; z_app_k -> primitive k's points (object frame) and their features."""

    def __init__(self, cfg: Controllable3DConfig):
        super().__init__()
        self.cfg, N = cfg, cfg.n_primitives
        self.pose = mlp((cfg.pose_dim, *cfg.mlp_widths, 12 * N))
        self.points = mlp((cfg.app_dim, *cfg.mlp_widths, cfg.n_points * (3 + cfg.feature_dim)))
        self.register_buffer("trange", torch.tensor(cfg.translation_range))

    def poses(self, z_pose: Tensor) -> Poses:
        cfg = self.cfg
        p = self.pose(z_pose).reshape(-1, cfg.n_primitives, 12)
        lo, hi = cfg.scale_range
        return Poses(R3.rotation_6d(p[..., :6]), torch.tanh(p[..., 6:9]) * self.trange,
                     lo + (hi - lo) * torch.sigmoid(p[..., 9:]))

    def point_cloud(self, z_app: Tensor) -> tuple[Tensor, Tensor]:
        """z_app [B, N, app_dim] -> (xyz [B, N, P, 3] in [-1, 1] object frame, features [B, N, P, C])."""
        cfg = self.cfg
        out = self.points(z_app).reshape(*z_app.shape[:2], cfg.n_points, 3 + cfg.feature_dim)
        return torch.tanh(out[..., :3]), out[..., 3:]


class AdaIN(nn.Module):
    def __init__(self, channels: int, code_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.style = nn.Linear(code_dim, 2 * channels)

    def forward(self, x: Tensor, code: Tensor) -> Tensor:
        gamma, beta = self.style(code)[..., None, None].chunk(2, 1)
        return self.norm(x) * (1 + gamma) + beta


class AdaINBlock(nn.Module):
    """x + 0.1 * conv(relu(AdaIN(conv(relu(AdaIN(x)))))) (the paper scales the residual by 0.1)."""

    def __init__(self, ch: int, code_dim: int):
        super().__init__()
        self.n1, self.c1 = AdaIN(ch, code_dim), nn.Conv2d(ch, ch, 3, padding=1)
        self.n2, self.c2 = AdaIN(ch, code_dim), nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor, code: Tensor) -> Tensor:
        h = self.c1(F.leaky_relu(self.n1(x, code), 0.2))
        return x + 0.1 * self.c2(F.leaky_relu(self.n2(h, code), 0.2))


class Generator2D(nn.Module):
    """A rendered map [B, in_ch, S, S] and a code [B, code_dim] -> [B, out_ch, S, S] (tanh)."""

    def __init__(self, in_ch: int, ch: int, n_blocks: int, code_dim: int, out_ch: int):
        super().__init__()
        self.inp = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.down = nn.Conv2d(ch, ch, 4, stride=2, padding=1)
        self.blocks = nn.ModuleList(AdaINBlock(ch, code_dim) for _ in range(n_blocks))
        self.up = nn.ConvTranspose2d(ch, ch, 4, stride=2, padding=1)
        self.out = nn.Conv2d(ch, out_ch, 3, padding=1)

    def forward(self, x: Tensor, code: Tensor) -> Tensor:
        h = F.leaky_relu(self.down(F.leaky_relu(self.inp(x), 0.2)), 0.2)
        for block in self.blocks:
            h = block(h, code)
        return torch.tanh(self.out(F.leaky_relu(self.up(h), 0.2)))


@dataclass
class SceneRender:
    """Everything one forward pass computes (the notebook's figures show each)."""

    image: Tensor  # [B, 3, S, S] composite in [-1, 1]
    rgb: Tensor  # [B, N, 3, S, S] per-primitive colour from the 2D generator
    alpha: Tensor  # [B, N, 1, S, S] per-primitive alpha after the rendered mask and dropping
    depth: Tensor  # [B, N, 1, S, S] rendered depth + predicted offset
    features: Tensor  # [B, N, C, S, S] splatted point features (the 2D generator's input)
    rendered_alpha: Tensor  # [B, N, 1, S, S] soft silhouette of each primitive
    background: Tensor  # [B, 3, S, S]
    fg_depth: Tensor  # [B, 1, S, S] composited depth (background: far)
    coverage: Tensor  # [B, 1, S, S] 1 - transmittance: how much of each pixel objects cover
    poses: Poses
    camera: tuple[Tensor, Tensor]  # (world -> camera rotation [B, 3, 3], centre [B, 3])


class Controllable3DGenerator(nn.Module, HubMixin):
    """G(z, azimuth, elevation): a 3D scene of primitives rendered, decoded and composited into an image."""

    def __init__(self, config: Controllable3DConfig):
        super().__init__()
        self.config = cfg = config
        self.g3d = Generator3D(cfg)
        self.g2d = Generator2D(cfg.feature_dim, cfg.channels, cfg.n_blocks, cfg.app_dim, 5)
        self.bg = Generator2D(3, cfg.bg_channels, 1, cfg.app_dim, 3) if cfg.bg_channels else None

    def sample_z(self, batch: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        cfg, dev = self.config, next(self.parameters()).device
        z_pose = torch.randn(batch, cfg.pose_dim, generator=generator).to(dev)
        z_app = torch.randn(batch, cfg.n_primitives + 1, cfg.app_dim, generator=generator).to(dev)
        return z_pose, z_app

    def sample_camera(self, batch: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        lo, hi = (math.radians(a) for a in self.config.elevation_deg)
        az = torch.rand(batch, generator=generator) * 2 * math.pi
        el = lo + (hi - lo) * torch.rand(batch, generator=generator)
        dev = next(self.parameters()).device
        return az.to(dev), el.to(dev)

    def render(self, poses: Poses, points: tuple[Tensor, Tensor], z_app: Tensor, azimuth: Tensor,
               elevation: Tensor, keep: Tensor | None = None) -> SceneRender:
        """Render given poses and point clouds from a camera; ``keep`` [B, N] (1 = shown) removes primitives."""
        cfg, S = self.config, self.config.image_size
        B, N = poses.translation.shape[:2]
        cam_R, cam_c = R3.look_at(azimuth, elevation, cfg.camera_radius)
        ralpha, rdepth = R3.render_primitives(cfg.primitive, poses.rotation, poses.translation, poses.scale,
                                              cam_R, cam_c, S, cfg.focal, cfg.render_sigma)
        xyz, feats = points
        world = torch.einsum("bnij,bnpj->bnpi", poses.rotation, xyz * poses.scale[:, :, None]) \
            + poses.translation[:, :, None]
        uv, _ = R3.project(world.flatten(1, 2), cam_R, cam_c, S, cfg.focal)
        uv = uv.reshape(B * N, -1, 2)
        fmap = R3.splat_points(uv, feats.flatten(0, 1), S, sigma=S / 32)  # [B*N, C, S, S]
        out = self.g2d(fmap, z_app[:, :N].flatten(0, 1)).reshape(B, N, 5, S, S)
        rgb = out[:, :, :3]
        hard = (ralpha > 0.5).to(ralpha.dtype)
        alpha = (out[:, :, 3:4] + 1) / 2 * hard
        if keep is not None:
            alpha = alpha * keep[:, :, None, None, None].to(alpha.dtype)
        depth = rdepth.clamp(0, cfg.far) + cfg.depth_offset * out[:, :, 4:5]
        depth = torch.where(alpha > 0, depth, torch.full_like(depth, cfg.far))
        if self.bg is not None:
            _, dirs = R3.pixel_rays(cam_R, cam_c, S, cfg.focal)
            background = self.bg(dirs.transpose(1, 2).reshape(B, 3, S, S), z_app[:, N])
        else:
            background = torch.ones(B, 3, S, S, device=rgb.device, dtype=rgb.dtype)
        image, trans = R3.composite_over(rgb, alpha, depth, background)
        fg_depth, _ = R3.composite_over(depth, alpha, depth, torch.full_like(trans, cfg.far))
        return SceneRender(image, rgb, alpha, depth, fmap.reshape(B, N, -1, S, S), ralpha, background, fg_depth,
                           1 - trans, poses, (cam_R, cam_c))

    def forward(self, z_pose: Tensor, z_app: Tensor, azimuth: Tensor, elevation: Tensor,
                keep: Tensor | None = None) -> SceneRender:
        N = self.config.n_primitives
        return self.render(self.g3d.poses(z_pose), self.g3d.point_cloud(z_app[:, :N]), z_app, azimuth, elevation,
                           keep)


class Discriminator(nn.Module):
    """Conv stages (stride 2, LeakyReLU) -> linear logit."""

    def __init__(self, cfg: Controllable3DConfig):
        super().__init__()
        layers, prev = [], 3
        for ch in cfg.d_channels:
            layers += [nn.Conv2d(prev, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            prev = ch
        self.features = nn.Sequential(*layers)
        side = cfg.image_size // 2 ** len(cfg.d_channels)
        self.logit = nn.Linear(prev * side * side, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.logit(self.features(x).flatten(1))


# ---- the paper's losses ------------------------------------------------------------------------------------------

def compactness_loss(rendered_alpha: Tensor, floor: float = 0.1) -> Tensor:
    """L_compact = mean_k max(area_k, floor): area = mean rendered alpha (fraction of the image) per primitive."""
    return rendered_alpha.mean((2, 3, 4)).clamp_min(floor).mean()


def _warp(src: SceneRender, dst: SceneRender, focal: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pixels of ``src`` unprojected with their depth and looked up in ``dst``: (dst rgb, dst depth, distance of
    the point to dst's camera, validity) at src's pixels."""
    R_s, c_s = src.camera
    R_d, c_d = dst.camera
    B, _, S, _ = src.image.shape
    _, dirs = R3.pixel_rays(R_s, c_s, S, focal)
    pts = c_s[:, None] + dirs * src.fg_depth.flatten(1)[..., None]  # [B, S*S, 3]
    uv, _ = R3.project(pts, R_d, c_d, S, focal)
    grid = (uv / S * 2 - 1).reshape(B, S, S, 2)
    look = lambda t: F.grid_sample(t, grid, align_corners=False, padding_mode="border")  # noqa: E731
    inside = ((grid.abs() <= 1).all(-1))[:, None].to(src.image.dtype)
    dist = (pts - c_d[:, None]).norm(dim=-1).reshape(B, 1, S, S)
    return look(dst.image), look(dst.fg_depth), dist, inside * look(dst.coverage)


def consistency_loss(a: SceneRender, b: SceneRender, focal: float, rgb_weight: float = 5.0) -> Tensor:
    """L_3D: two renders of one scene from two cameras agree where both see objects (L1 depth + w x L1 RGB),
    both directions; masked by the source's coverage and the target's coverage at the warped position."""
    total = a.image.new_zeros(())
    for src, dst in ((a, b), (b, a)):
        rgb, depth, dist, valid = _warp(src, dst, focal)
        mask = src.coverage * valid
        err = (depth - dist).abs() + rgb_weight * (rgb - src.image).abs().mean(1, keepdim=True)
        total = total + (mask * err).sum() / mask.sum().clamp_min(1.0)
    return total / 2


def random_keep(B: int, N: int, device: Any = None) -> Tensor:
    """[B, N] 0/1: per sample a random 0..N-1 primitives are dropped (at least one stays)."""
    n_drop = torch.randint(0, N, (B,), device=device)
    ranks = torch.rand(B, N, device=device).argsort(1).argsort(1)  # a random permutation rank per primitive
    return (ranks >= n_drop[:, None]).float()


class Controllable3DTask:
    """The GAN task of the training loop (see the module docstring for the losses and their weights)."""

    paper = "controllable3d"

    def __init__(self, config: Controllable3DConfig):
        self.config = config
        self.G = Controllable3DGenerator(config)
        self.D = Discriminator(config)
        self.g_steps = 0

    def make_dataset(self, split: str = "train") -> Any:
        from synthkit.data.toyshapes3d import Toyshapes3DDataset

        cfg = self.config
        return Toyshapes3DDataset(size=cfg.image_size, length=cfg.dataset_length, split=split, seed=cfg.seed,
                                  background=cfg.background)

    def _fake(self, B: int, device: Any) -> SceneRender:
        G, N = self.G, self.config.n_primitives
        z_pose, z_app = G.sample_z(B)
        az, el = G.sample_camera(B)
        keep = random_keep(B, N, device) if self.config.drop_primitives else None
        return G(z_pose.to(device), z_app.to(device), az.to(device), el.to(device), keep)

    def d_step(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        x = batch["image"]
        with torch.no_grad():
            fake = self._fake(x.shape[0], x.device).image
        x = x.detach().requires_grad_(self.config.r1_gamma > 0)
        logits_real = self.D(x)
        loss = losses.d_logistic_loss(logits_real, self.D(fake))
        logs = {"d_logistic": loss.detach()}
        if self.config.r1_gamma > 0:
            r1 = losses.r1_penalty(logits_real, x)
            loss = loss + self.config.r1_gamma / 2 * r1
            logs["r1"] = r1.detach()
        return {"loss": loss, **logs}

    def g_step(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        cfg, G = self.config, self.G
        B, dev = batch["image"].shape[0], batch["image"].device
        z_pose, z_app = (t.to(dev) for t in G.sample_z(B))
        az, el = (t.to(dev) for t in G.sample_camera(B))
        keep = random_keep(B, cfg.n_primitives, dev) if cfg.drop_primitives else None
        poses = G.g3d.poses(z_pose)
        points = G.g3d.point_cloud(z_app[:, :cfg.n_primitives])
        scene = G.render(poses, points, z_app, az, el, keep)
        adv = losses.g_nonsaturating_loss(self.D(scene.image))
        compact = compactness_loss(scene.rendered_alpha, cfg.compact_min)
        loss = adv + cfg.lambda_compact * compact
        logs = {"g_nonsat": adv.detach(), "compact": compact.detach()}
        self.g_steps += 1
        if cfg.lambda_consistency > 0 and self.g_steps % cfg.consistency_every == 0:
            # the 3D generator's outputs detached: only the 2D generator learns from this term
            turn = (torch.rand(B, device=dev) * 2 - 1) * math.radians(cfg.consistency_max_deg)
            pd, qd = poses.detach(), (points[0].detach(), points[1].detach())
            a = G.render(pd, qd, z_app, az, el, keep)
            b = G.render(pd, qd, z_app, az + turn, el, keep)
            cons = consistency_loss(a, b, cfg.focal, cfg.consistency_rgb_weight)
            loss = loss + cfg.lambda_consistency * cfg.consistency_every * cons
            logs["consistency"] = cons.detach()
        return {"loss": loss, **logs}

    @torch.no_grad()
    def sample(self, G: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        B, dev = batch["image"].shape[0], batch["image"].device
        g = torch.Generator().manual_seed(0)
        z_pose, z_app = G.sample_z(B, g)
        az, el = G.sample_camera(B, g)
        return G(z_pose, z_app, az.to(dev), el.to(dev)).image.clamp(-1, 1)


def make_task(preset: str = "toyshapes3d", overrides: dict[str, Any] | None = None) -> Controllable3DTask:
    """``synthkit train controllable3d --preset toyshapes3d``."""
    return Controllable3DTask(Controllable3DConfig.from_preset(preset, **dict(overrides or {})))


def without_consistency(cfg: Controllable3DConfig) -> Controllable3DConfig:
    """The paper's ablation ``point_wo_consistency``: the same model, lambda_consistency = 0."""
    return replace(cfg, lambda_consistency=0.0)
