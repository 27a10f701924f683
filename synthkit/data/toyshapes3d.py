"""Toyshapes3D: 1-3 shaded primitives (cube, sphere, cylinder) on a ground plane, seen by a camera on a sphere.

The dataset of the 3D-controllable synthesis paper (Liao et al., arXiv 1912.05237) is Blender renders of ShapeNet
cars and furniture (0.5-5 GB). Toyshapes3D keeps what the paper's method relies on (a few rigid objects with their
own pose, size and colour, resting on a ground plane, photographed from random azimuth and elevation) and makes it
procedural, deterministic in ``(seed, index)`` and fast: each image is ray-cast analytically in PyTorch with the
camera conventions of :mod:`synthkit.nn.render` (y up, ground y = 0, camera radius 3, focal 1.3).

Training uses the images only (the paper is unsupervised). Every item also carries the ground truth a Blender
dataset has and never shows the model: each object's kind, translation, rotation about y, half-extents, colour, the
camera, and the instance map. The evaluation of the controllable model is measured against it.

    ds = Toyshapes3DDataset(size=64, length=10_000, split="train")
    ds[0]["image"]                      # [3, 64, 64] in [-1, 1]
    render_scene(sample_scene(seed, i)) # numpy uint8 image + instance map of one scene

``synthkit data preview toyshapes3d --out grid.png`` writes a grid of scenes next to their instance maps.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from synthkit.nn import render as R3

KINDS = ("cube", "sphere", "cylinder")
MAX_OBJECTS = 3
RADIUS, FOCAL = 3.0, 1.3  # camera distance to the origin; focal length in image-size units (42° field of view)
ELEVATION_DEG = (20.0, 45.0)
PLACEMENT_RADIUS = 0.65  # object centres lie in this disc on the ground
LIGHT = tuple(float(v) for v in np.array([-0.45, 0.8, 0.4]) / np.linalg.norm([-0.45, 0.8, 0.4]))
AMBIENT = 0.45
GROUND_RGB = (0.78, 0.76, 0.72)
SKY_RGB = (0.62, 0.74, 0.88)
COLORS = {  # object colours: saturated, distinct from the ground
    "red": (0.85, 0.2, 0.17), "orange": (0.95, 0.55, 0.1), "yellow": (0.92, 0.82, 0.2), "green": (0.25, 0.68, 0.3),
    "teal": (0.1, 0.6, 0.62), "blue": (0.2, 0.35, 0.85), "purple": (0.58, 0.3, 0.75),
}
SPLITS = ("train", "val", "test")
Background = Literal["ground", "white"]


@dataclass(frozen=True)
class Object3D:
    kind: str  # one of KINDS
    translation: tuple[float, float, float]  # centre in world coordinates (y = half-height: it rests on the ground)
    angle: float  # rotation about the world's up axis, radians
    extent: tuple[float, float, float]  # half-extents along the object's x, y, z
    color: str  # key of COLORS


@dataclass(frozen=True)
class Scene:
    objects: tuple[Object3D, ...]
    azimuth: float  # radians
    elevation: float  # radians
    background: Background = "ground"
    seed: int = 0
    index: int = 0


@dataclass
class RenderedScene:
    scene: Scene
    image: np.ndarray  # uint8 [S, S, 3]
    instances: np.ndarray  # uint8 [S, S]: 0 background, k = objects[k - 1]
    depth: np.ndarray = field(repr=False, default=None)  # float32 [S, S], distance along the ray (inf: sky)


def split_seed(seed: int, split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return int(seed) * len(SPLITS) + SPLITS.index(split)


def _footprint(kind: str, extent: tuple[float, float, float]) -> float:
    """Radius of the object's footprint on the ground (any rotation about y)."""
    return math.hypot(extent[0], extent[2]) if kind == "cube" else extent[0]


def sample_scene(seed: int, index: int, n_objects: int | None = None, background: Background = "ground") -> Scene:
    """The scene of ``(seed, index)``: 1-3 non-overlapping objects and a camera (deterministic)."""
    rng = np.random.default_rng([int(seed), int(index), 3])
    n = int(rng.integers(1, MAX_OBJECTS + 1)) if n_objects is None else int(n_objects)
    if not 0 <= n <= MAX_OBJECTS:
        raise ValueError(f"n_objects must be in 0..{MAX_OBJECTS}, got {n}")
    colors = rng.permutation(list(COLORS))
    objects: list[Object3D] = []
    failures = 0
    while len(objects) < n:
        kind = KINDS[int(rng.integers(len(KINDS)))]
        if kind == "cube":
            e = float(rng.uniform(0.18, 0.3))
            extent = (e, e, e)
        elif kind == "sphere":
            e = float(rng.uniform(0.2, 0.32))
            extent = (e, e, e)
        else:
            r = float(rng.uniform(0.15, 0.26))
            extent = (r, float(rng.uniform(0.2, 0.36)), r)
        rho, phi = PLACEMENT_RADIUS * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
        x, z = rho * math.cos(phi), rho * math.sin(phi)
        if all(math.hypot(x - o.translation[0], z - o.translation[2]) > _footprint(kind, extent)
               + _footprint(o.kind, o.extent) + 0.04 for o in objects):
            objects.append(Object3D(kind, (x, extent[1], z), float(rng.uniform(0, 2 * math.pi)), extent,
                                    str(colors[len(objects)])))
        else:
            failures += 1
            if failures % 50 == 0:  # crowded: start the layout again (still deterministic in the rng)
                objects = []
    az = float(rng.uniform(0, 2 * math.pi))
    el = math.radians(float(rng.uniform(*ELEVATION_DEG)))
    return Scene(tuple(objects), az, el, background, int(seed), int(index))


def _hit(kind: str, o: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ray hits of a unit primitive in its own frame: (t [P] with inf for a miss, normal [P, 3] object frame)."""
    inf = torch.full(o.shape[:-1], math.inf, dtype=o.dtype)
    if kind == "cube":
        margin, t = R3.box_margin(o, d)
        hit = (margin > 0) & (t > 0)
        p = o + t[:, None] * d
        axis = p.abs().argmax(-1)
        n = torch.zeros_like(p).scatter_(1, axis[:, None], torch.sign(p.gather(1, axis[:, None])))
        return torch.where(hit, t, inf), n
    if kind == "sphere":
        margin, t = R3.sphere_margin(o, d)
        hit = (margin > 0) & (t > 0)
        return torch.where(hit, t, inf), o + t[:, None] * d
    # cylinder: x^2 + z^2 <= 1, |y| <= 1
    ox, oz, dx, dz = o[:, 0], o[:, 2], d[:, 0], d[:, 2]
    a = (dx * dx + dz * dz).clamp_min(1e-12)
    b = ox * dx + oz * dz
    c = ox * ox + oz * oz - 1
    disc = b * b - a * c
    t_side = (-b - torch.sqrt(disc.clamp_min(0))) / a
    y_side = o[:, 1] + t_side * d[:, 1]
    side_ok = (disc > 0) & (y_side.abs() <= 1) & (t_side > 0)
    dy = torch.where(d[:, 1].abs() < 1e-9, torch.full_like(d[:, 1], 1e-9), d[:, 1])
    t_cap = torch.minimum((1 - o[:, 1]) / dy, (-1 - o[:, 1]) / dy)
    pc = o + t_cap[:, None] * d
    cap_ok = (pc[:, 0] ** 2 + pc[:, 2] ** 2 <= 1) & (t_cap > 0)
    t = torch.minimum(torch.where(side_ok, t_side, inf), torch.where(cap_ok, t_cap, inf))
    p = o + torch.where(torch.isfinite(t), t, torch.zeros_like(t))[:, None] * d
    on_cap = cap_ok & (~side_ok | (t_cap < t_side))
    n_side = torch.stack([p[:, 0], torch.zeros_like(p[:, 0]), p[:, 2]], -1)
    n_cap = torch.stack([torch.zeros_like(p[:, 0]), torch.sign(p[:, 1]), torch.zeros_like(p[:, 0])], -1)
    return t, torch.where(on_cap[:, None], n_cap, n_side)


def object_pose(obj: Object3D) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rotation [3, 3], translation [3], half-extents [3]) of an object."""
    rot = R3.rotation_y(torch.tensor(obj.angle, dtype=torch.float32))
    return rot, torch.tensor(obj.translation, dtype=torch.float32), torch.tensor(obj.extent, dtype=torch.float32)


@torch.no_grad()
def render_scene(scene: Scene, size: int = 64) -> RenderedScene:
    """Ray-cast a scene: Lambert shading with one directional light plus ambient, flat ground, sky (or white)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 16 <= size <= 512:
        raise ValueError(f"size must be an int in 16..512, got {size!r}")
    cam_R, cam_c = R3.look_at(torch.tensor([scene.azimuth], dtype=torch.float32),
                              torch.tensor([scene.elevation], dtype=torch.float32), RADIUS)
    o, d = R3.pixel_rays(cam_R, cam_c, size, FOCAL)
    o, d = o[0], d[0]
    P = o.shape[0]
    light = torch.tensor(LIGHT, dtype=torch.float32)
    best_t = torch.full((P,), math.inf, dtype=torch.float32)
    inst = torch.zeros(P, dtype=torch.uint8)
    rgb = torch.empty(P, 3, dtype=torch.float32)
    if scene.background == "white":
        rgb[:] = 1.0
    else:
        ground_t = torch.where(d[:, 1] < -1e-9, -o[:, 1] / d[:, 1].clamp(max=-1e-9), torch.full_like(d[:, 1], math.inf))
        sky = torch.tensor(SKY_RGB, dtype=torch.float32)
        ground = torch.tensor(GROUND_RGB, dtype=torch.float32) * (AMBIENT + (1 - AMBIENT) * light[1])
        rgb[:] = torch.where(torch.isfinite(ground_t)[:, None], ground, sky)
        best_t = torch.where(torch.isfinite(ground_t), ground_t, best_t)
    obj_t = torch.full((P,), math.inf, dtype=torch.float32)
    for k, obj in enumerate(scene.objects):
        rot, t, s = object_pose(obj)
        oo = ((o - t) @ rot) / s  # R^T (o - t) / s, row vectors
        do = (d @ rot) / s
        th, n_obj = _hit(obj.kind, oo, do)
        closer = th < obj_t
        n_world = torch.nn.functional.normalize((n_obj / s) @ rot.T, dim=-1)
        shade = AMBIENT + (1 - AMBIENT) * (n_world @ light).clamp_min(0)
        color = torch.tensor(COLORS[obj.color], dtype=torch.float32)
        rgb = torch.where(closer[:, None], shade[:, None] * color, rgb)
        inst = torch.where(closer, torch.tensor(k + 1, dtype=torch.uint8), inst)
        obj_t = torch.minimum(obj_t, th)
    best_t = torch.minimum(best_t, obj_t)
    image = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).reshape(size, size, 3).numpy()
    return RenderedScene(scene, image, inst.reshape(size, size).numpy(), best_t.float().reshape(size, size).numpy())


def render(seed: int, index: int, size: int = 64, n_objects: int | None = None,
           background: Background = "ground") -> RenderedScene:
    return render_scene(sample_scene(seed, index, n_objects, background), size)


def with_changes(scene: Scene, **kw) -> Scene:
    """A copy of a scene with fields replaced (e.g. ``azimuth=``); objects via ``objects=``."""
    return replace(scene, **kw)


class Toyshapes3DDataset:
    """Torch dataset over `render`. Items (dicts of tensors):

    image float [3, S, S] in [-1, 1] (all a model trains on); instances long [S, S]; n_objects long;
    kinds long [3] (index in KINDS, -1 = no object); translation [3, 3]; angle [3]; extent [3, 3];
    camera [2] (azimuth, elevation, radians); index long.
    """

    def __init__(self, size: int = 64, length: int = 10_000, split: str = "train", seed: int = 0,
                 background: Background = "ground", n_objects: int | None = None):
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0:
            raise ValueError(f"length must be a positive int, got {length!r}")
        if background not in ("ground", "white"):
            raise ValueError(f"background must be 'ground' or 'white', got {background!r}")
        self.size, self.length, self.split, self.seed = int(size), int(length), split, int(seed)
        self.render_seed = split_seed(seed, split)
        self.background, self.n_objects = background, n_objects

    def __len__(self) -> int:
        return self.length

    def scene(self, i: int) -> Scene:
        if not -self.length <= i < self.length:
            raise IndexError(f"index {i} out of range for a Toyshapes3DDataset of length {self.length}")
        return sample_scene(self.render_seed, i % self.length, self.n_objects, self.background)

    def __getitem__(self, i: int) -> dict:
        r = render_scene(self.scene(int(i)), self.size)
        objs = r.scene.objects
        kinds = torch.full((MAX_OBJECTS,), -1, dtype=torch.long)
        trans, angle, extent = torch.zeros(MAX_OBJECTS, 3), torch.zeros(MAX_OBJECTS), torch.zeros(MAX_OBJECTS, 3)
        for k, o in enumerate(objs):
            kinds[k] = KINDS.index(o.kind)
            trans[k], angle[k], extent[k] = torch.tensor(o.translation), o.angle, torch.tensor(o.extent)
        return {
            "image": torch.from_numpy(r.image).permute(2, 0, 1).float().div_(127.5).sub_(1.0),
            "instances": torch.from_numpy(r.instances.astype(np.int64)),
            "n_objects": torch.tensor(len(objs)), "kinds": kinds, "translation": trans, "angle": angle,
            "extent": extent, "camera": torch.tensor([r.scene.azimuth, r.scene.elevation]),
            "index": torch.tensor(int(i) % self.length),
        }


def preview_grid(n: int = 16, size: int = 64, seed: int = 0, out: str | os.PathLike | None = None,
                 ncols: int = 4) -> "Path | np.ndarray":
    """n scenes, each next to its instance map; written as PNG to ``out`` (returns the Path) or returned."""
    from synthkit.viz import make_grid

    pal = np.array([(40, 40, 40), (230, 80, 60), (70, 170, 90), (70, 110, 230)], np.uint8)
    tiles = []
    for i in range(n):
        r = render(split_seed(seed, "train"), i, size)
        tiles.append(np.concatenate([r.image, pal[r.instances]], 1))
    grid = make_grid(tiles, nrow=ncols)
    if out is None:
        return grid
    from PIL import Image

    Image.fromarray(grid).save(out)
    return Path(out)
