"""3D-controllable synthesis (Liao et al., CVPR 2020, arXiv 1912.05237): sample a scene, then move, turn, scale,
remove or re-colour its objects and move the camera, and render again.

Every edit returns a new :class:`Scene3D` (nothing is changed in place, so an app can keep any earlier scene)::

    pipe = load_controllable3d()                 # the bundled Toyshapes3D model
    scene = pipe.sample(seed=3)
    scene.image                                  # uint8 [S, S, 3]
    scene.move(0, (0.3, None, -0.2)).rotate(1, 45).camera(azimuth=90).image
    frames = scene.turntable(24)                 # the camera all around: 24 frames

Objects are the model's primitives, numbered 0..N-1. A primitive the model did not place in view (or placed
behind another) can be invisible: :meth:`Scene3D.visible` says which are. Angles are in degrees. Values outside
what the model was trained on are clamped to its ranges and said so in ``scene.notes``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from synthkit.models.controllable3d import Controllable3DGenerator, Poses, SceneRender
from synthkit.nn import render as R3
from synthkit.viz import to_uint8

DEFAULT_MODEL = "controllable3d-toyshapes3d"
VISIBLE_AREA = 0.002  # fraction of the image an object must cover to count as visible
ELEVATION_LIMITS = (0.0, 80.0)  # degrees the camera may take (training range: the config's elevation_deg)


@dataclass(frozen=True, eq=False)
class Scene3D:
    """A sampled scene and its edits; ``image`` renders it (cached)."""

    G: Controllable3DGenerator = field(repr=False)
    z_pose: Tensor = field(repr=False)
    z_app: Tensor = field(repr=False)  # [1, N + 1, app_dim]
    poses: Poses = field(repr=False)
    azimuth: float = 0.0  # degrees
    elevation: float = 30.0  # degrees
    keep: tuple[bool, ...] = ()
    notes: tuple[str, ...] = ()

    # ---- rendering ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self) -> SceneRender:
        G = self.G
        cached = self.__dict__.get("_render")
        if cached is None:
            dev = self.z_app.device
            points = G.g3d.point_cloud(self.z_app[:, :self.n_objects])
            keep = torch.tensor([self.keep], dtype=torch.float32, device=dev)
            cached = G.render(self.poses, points, self.z_app, torch.tensor([math.radians(self.azimuth)], device=dev),
                              torch.tensor([math.radians(self.elevation)], device=dev), keep)
            object.__setattr__(self, "_render", cached)
        return cached

    @property
    def image(self) -> np.ndarray:
        return to_uint8(self.render().image[0].clamp(-1, 1))

    @property
    def n_objects(self) -> int:
        return self.G.config.n_primitives

    def layers(self) -> dict[str, np.ndarray]:
        """What the notebook shows: per object the splatted features, rendered silhouette, alpha, depth and colour."""
        r = self.render()
        return {"features": r.features[0].cpu().numpy(), "rendered_alpha": r.rendered_alpha[0, :, 0].cpu().numpy(),
                "alpha": r.alpha[0, :, 0].cpu().numpy(), "depth": r.depth[0, :, 0].cpu().numpy(),
                "rgb": r.rgb[0].cpu().numpy(), "background": r.background[0].cpu().numpy(),
                "coverage": r.coverage[0, 0].cpu().numpy()}

    def object_areas(self) -> list[float]:
        """Fraction of the image each object shows in the composite (after occlusion)."""
        r = self.render()
        order = r.depth[0].argsort(0)  # front to back per pixel
        a = r.alpha[0].gather(0, order)
        trans = torch.cumprod(torch.cat([torch.ones_like(a[:1]), 1 - a[:-1]], 0), 0)
        seen = torch.zeros_like(a).scatter_(0, order, trans * a)
        return [float(v) for v in seen.mean((1, 2, 3))]

    def visible(self) -> list[bool]:
        return [k and area > VISIBLE_AREA for k, area in zip(self.keep, self.object_areas())]

    def centroid(self, obj: int) -> tuple[float, float] | None:
        """(u, v) pixel centroid of an object's alpha, or None where it covers nothing."""
        a = self.render().alpha[0, self._index(obj), 0]
        if float(a.sum()) < 1e-6:
            return None
        S = a.shape[-1]
        ys, xs = torch.meshgrid(torch.arange(S) + 0.5, torch.arange(S) + 0.5, indexing="ij")
        return float((a * xs).sum() / a.sum()), float((a * ys).sum() / a.sum())

    # ---- edits ----------------------------------------------------------------------------------------------------
    def _index(self, obj: Any) -> int:
        if isinstance(obj, bool) or not isinstance(obj, (int, np.integer)) or not 0 <= obj < self.n_objects:
            raise ValueError(f"object must be an index 0..{self.n_objects - 1} (this model has {self.n_objects} "
                             f"primitives), got {obj!r}")
        return int(obj)

    def _with(self, notes: Sequence[str] = (), **kw: Any) -> "Scene3D":
        return replace(self, notes=tuple(notes), **kw)

    def _edit_pose(self, obj: int, rotation: Tensor | None = None, translation: Tensor | None = None,
                   scale: Tensor | None = None, notes: Sequence[str] = ()) -> "Scene3D":
        k = self._index(obj)
        p = Poses(self.poses.rotation.clone(), self.poses.translation.clone(), self.poses.scale.clone())
        if rotation is not None:
            p.rotation[0, k] = rotation
        if translation is not None:
            p.translation[0, k] = translation
        if scale is not None:
            p.scale[0, k] = scale
        return self._with(notes, poses=p)

    def translation(self, obj: int) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.poses.translation[0, self._index(obj)])

    def move(self, obj: int, translation: Sequence[float | None]) -> "Scene3D":
        """Put object ``obj`` at world position (x, y, z) (y up; None keeps that coordinate), clamped to the
        model's translation range."""
        k = self._index(obj)
        if len(translation) != 3:
            raise ValueError(f"translation needs 3 values (x, y, z; None keeps one), got {translation!r}")
        t = self.poses.translation[0, k].clone()
        rng = self.G.config.translation_range
        notes = []
        for i, (v, name) in enumerate(zip(translation, "xyz")):
            if v is None:
                continue
            v = _number(v, f"{name} position")
            c = min(max(v, -rng[i]), rng[i])
            if c != v:
                notes.append(f"{name} = {v:g} is outside the model's range ±{rng[i]:g}; clamped to {c:g}.")
            t[i] = c
        return self._edit_pose(k, translation=t, notes=notes)

    def rotate(self, obj: int, angle: float) -> "Scene3D":
        """Turn object ``obj`` by ``angle`` degrees about the up axis (on top of its current rotation)."""
        k = self._index(obj)
        a = torch.tensor(math.radians(_number(angle, "angle")), dtype=self.poses.rotation.dtype)
        return self._edit_pose(k, rotation=R3.rotation_y(a).to(self.poses.rotation.device) @ self.poses.rotation[0, k])

    def scale(self, obj: int, factor: float) -> "Scene3D":
        """Multiply object ``obj``'s size by ``factor``, clamped to the model's scale range per axis."""
        k = self._index(obj)
        f = _number(factor, "scale factor")
        if f <= 0:
            raise ValueError(f"scale factor must be > 0, got {f:g}")
        lo, hi = self.G.config.scale_range
        s = self.poses.scale[0, k] * f
        clamped = s.clamp(lo, hi)
        notes = [] if torch.equal(s, clamped) else [
            f"scale x{f:g} leaves the model's size range [{lo:g}, {hi:g}] on some axis; clamped."]
        return self._edit_pose(k, scale=clamped, notes=notes)

    def camera(self, azimuth: float | None = None, elevation: float | None = None) -> "Scene3D":
        """Move the camera on its sphere: azimuth (any, degrees, wraps) and elevation (0..80 degrees)."""
        notes = []
        az = self.azimuth if azimuth is None else _number(azimuth, "azimuth") % 360.0
        el = self.elevation if elevation is None else _number(elevation, "elevation")
        lo, hi = ELEVATION_LIMITS
        if not lo <= el <= hi:
            notes.append(f"elevation {el:g}° is outside {lo:g}..{hi:g}°; clamped.")
            el = min(max(el, lo), hi)
        tlo, thi = self.G.config.elevation_deg
        if not tlo <= el <= thi:
            notes.append(f"elevation {el:g}° is outside the training cameras ({tlo:g}..{thi:g}°): expect artefacts.")
        return self._with(notes, azimuth=az, elevation=el)

    def remove(self, obj: int) -> "Scene3D":
        k = self._index(obj)
        keep = tuple(False if i == k else v for i, v in enumerate(self.keep))
        notes = [] if any(keep) else ["No object left: the image is the background alone."]
        return self._with(notes, keep=keep)

    def add(self, obj: int | None = None) -> "Scene3D":
        """Show a removed object again (``obj``), or the first removed one."""
        if obj is None:
            hidden = [i for i, v in enumerate(self.keep) if not v]
            if not hidden:
                raise ValueError(f"all {self.n_objects} objects are already in the scene; remove one first")
            obj = hidden[0]
        k = self._index(obj)
        notes = [f"object {k} is already in the scene."] if self.keep[k] else []
        return self._with(notes, keep=tuple(True if i == k else v for i, v in enumerate(self.keep)))

    def swap_appearance(self, obj: int | None = None, seed: int = 0) -> "Scene3D":
        """Resample the appearance code of object ``obj`` (None: every object and the background); pose unchanged."""
        z = self.z_app.clone()
        g = torch.Generator().manual_seed(int(seed))
        rows = range(z.shape[1]) if obj is None else [self._index(obj)]
        for r in rows:
            z[0, r] = torch.randn(z.shape[-1], generator=g).to(z.device)
        return self._with(z_app=z)

    def turntable(self, n_frames: int = 24, elevation: float | None = None) -> list[np.ndarray]:
        """Frames with the camera going once around the scene, starting at the current azimuth."""
        if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or not 1 <= n_frames <= 360:
            raise ValueError(f"n_frames must be an int in 1..360, got {n_frames!r}")
        base = self.camera(elevation=elevation) if elevation is not None else self
        return [base.camera(azimuth=base.azimuth + 360.0 * i / n_frames).image for i in range(n_frames)]


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {v!r}")
    return float(v)


class Controllable3DPipeline:
    def __init__(self, G: Controllable3DGenerator):
        self.G = G.eval().requires_grad_(False)

    @property
    def image_size(self) -> int:
        return self.G.config.image_size

    @torch.no_grad()
    def sample(self, seed: int = 0, azimuth: float | None = None, elevation: float | None = None) -> Scene3D:
        """The scene of ``seed`` (its camera drawn from the training range unless given, in degrees)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
        g = torch.Generator().manual_seed(int(seed))
        z_pose, z_app = self.G.sample_z(1, g)
        az, el = self.G.sample_camera(1, g)  # drawn even when given: the scene of a seed does not depend on it
        az_deg = math.degrees(float(az)) if azimuth is None else 0.0  # (a given angle is set by .camera below)
        el_deg = math.degrees(float(el)) if elevation is None else 0.0
        scene = Scene3D(self.G, z_pose, z_app, self.G.g3d.poses(z_pose), az_deg, el_deg,
                        (True,) * self.G.config.n_primitives)
        if azimuth is not None or elevation is not None:
            scene = scene.camera(azimuth, elevation)
        return scene


def load_controllable3d(name_or_path: str = DEFAULT_MODEL, device: str = "auto") -> Controllable3DPipeline:
    """The pipeline for a registry name (default: the bundled Toyshapes3D model), a folder or a Hub repo id."""
    import synthkit

    G = synthkit.load(name_or_path, device=device)
    if not isinstance(G, Controllable3DGenerator):
        raise TypeError(f"{name_or_path!r} holds a {type(G).__name__}, not a Controllable3DGenerator")
    return Controllable3DPipeline(G)


def sample_images(model: Controllable3DGenerator, n: int = 4, seed: int = 0) -> list[np.ndarray]:
    """``synthkit sample``: n scenes, each from its own seed and a camera from the training range."""
    pipe = Controllable3DPipeline(model)
    return [pipe.sample(seed + i).image for i in range(n)]
