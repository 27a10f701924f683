# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/synthkit-cvpr20/synthkit/blob/main/notebooks/04_controllable3d.ipynb)
#
# # 04 · 3D-controllable image synthesis: a GAN that thinks in primitives
#
# Liao, Schwarz, Mescheder, Geiger, *Towards Unsupervised Learning of Generative Models for 3D Controllable Image
# Synthesis*, CVPR 2020 (arXiv 1912.05237).
#
# A 2D GAN maps a code to pixels, and nothing in it says "this is the red cube, 40 cm to the left". Liao et al. put
# a small 3D scene in the middle: a **3D generator** places a few primitives (pose, size, a point cloud of features
# each), a **differentiable renderer** projects them through a camera, and a **2D generator** turns each projection
# into colour, alpha and depth; the layers are composited back to front. It is trained on images alone, with an
# adversarial loss, yet pose and camera come out as controls, because they are *inputs* to the renderer. In this
# notebook:
#
# 0. why a 2D GAN entangles pose;
# 1. Toyshapes3D, a procedural dataset whose 3D ground truth we keep (for measuring, never for training);
# 2. the camera: how a 3D point becomes a pixel;
# 3. soft silhouettes: why the renderer must be soft to be differentiable;
# 4. the model, layer by layer, and compositing;
# 5. training a tiny model for a few steps (the recipe of the bundled one);
# 6. the controls: move, rotate, scale, remove, re-colour, orbit the camera;
# 7. measured controls, exercises with checkable answers, and the lecture mode on a GPU.
#
# The bundled `controllable3d-toyshapes3d` model is small (64×64, trained on a CPU); the paper's models are larger
# and trained on Clevr-like scenes, cars and indoor rooms. The mechanics are the paper's, the numbers are not
# comparable with it.

# %%
# Setup. Installs synthkit (the distribution `synthkit-cvpr20`) only where it is missing (Colab, a fresh
# environment); a checkout installed with `pip install -e ".[notebooks,train]"` skips it. It is pinned to a released
# tag, so this notebook and the library it calls match. The PyPI package named `synthkit` is an unrelated project
# with the same import name, so the check reads the installed distributions, not just `import synthkit`.
from importlib import metadata


def _installed(dist):
    try:
        return metadata.distribution(dist) is not None
    except metadata.PackageNotFoundError:
        return False


if _installed("synthkit"):  # the namesake from PyPI: it would shadow ours
    print("an unrelated package called 'synthkit' is installed here: removing it")
    # %pip uninstall -y synthkit
if not _installed("synthkit-cvpr20"):
    print("synthkit is not installed here: installing synthkit-cvpr20 0.1.0 ...")
    # %pip install -q "synthkit-cvpr20[notebooks,train] @ git+https://github.com/synthkit-cvpr20/synthkit@v0.1.0"
    import importlib

    importlib.invalidate_caches()  # let this running kernel see the package just installed
import synthkit

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from synthkit.course import by_mode, mode_note, run_mode

# SYNTHKIT_FAST=1: the tests (fewer steps and images, same code); SYNTHKIT_LECTURE=1: more training for a
# GPU lecture slot (see notebooks/README.md); neither: the full CPU run
MODE = run_mode()
FAST = MODE == "fast"
from synthkit.viz import save_fig, to_uint8

if FAST:
    torch.set_num_threads(1)


def show_row(images, titles, name=None, size=2.0, cmap=None):
    """A row of images (uint8 [H, W, 3], [H, W] floats, or [-1, 1] tensors) with titles; saved as `name`."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size + 0.4))
    for ax, im, title in zip(np.atleast_1d(axes), images, titles):
        if isinstance(im, torch.Tensor):
            im = to_uint8(im.reshape(-1, *im.shape[-3:])[0].clamp(-1, 1)) if im.shape[-3:-2] == (3,) else im.numpy()
        ax.imshow(im, interpolation="nearest", cmap=cmap if im.ndim == 2 else None)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if name:
        save_fig(fig, name)
    plt.show()
    return fig


from synthkit.devices import resolve_device

# Training below runs on DEVICE (a GPU when the runtime has one: Colab > Runtime > Change runtime type); the small
# pretrained pipelines run on the CPU (device="cpu": a few ms per image, and this notebook's cells hand them CPU tensors)
DEVICE = resolve_device("auto")
print("synthkit", synthkit.__version__, "| torch", torch.__version__, "| training device:", DEVICE,
      mode_note(MODE, DEVICE))

# %% [markdown]
# ## 0. Why a 2D GAN entangles pose
#
# Take the 2D StyleGAN2 of notebook 05 (trained on Toyscapes) and walk in a straight line between two codes. Every
# pixel depends on every latent coordinate, and nothing in the architecture says which coordinates are *where*
# things are and which are *what they look like*: layout, colours and textures change together, and there is no
# direction that moves one object and keeps the rest. Getting such a direction out of a 2D GAN takes supervision
# or a search after training; Liao et al. build it into the generator instead.

# %%
from synthkit.pipelines.image2stylegan import load_image2stylegan

sg2 = load_image2stylegan(backbone=None, device="cpu").G
with torch.no_grad():
    za, zb = torch.randn(2, sg2.config.style_dim, generator=torch.Generator().manual_seed(3))
    walk = [sg2(torch.lerp(za, zb, float(t))[None], noise="const").clamp(-1, 1) for t in np.linspace(0, 1, 6)]
show_row(walk, [f"t = {t:.1f}" for t in np.linspace(0, 1, 6)], "00_2d_gan_walk", size=1.8)

# %% [markdown]
# ## 1. Toyshapes3D
#
# One to three cubes, spheres and cylinders of distinct colours stand on a ground plane; a camera at distance 3
# looks at the origin from any azimuth and 20-45° of elevation. Every image is ray-cast from a seed, and we keep
# what made it: each object's kind, position, angle and size, the camera, the instance map and the depth. The
# model never sees any of that (it learns from the images); we use it to check what the model learned.

# %%
from synthkit.data import toyshapes3d as T

grid = T.preview_grid(n=16, size=64, seed=0)
fig, ax = plt.subplots(figsize=(6, 6))
ax.imshow(grid, interpolation="nearest")
ax.set_title("Toyshapes3D, 16 training images (64×64)")
ax.axis("off")
save_fig(fig, "01_toyshapes3d")
plt.show()

r = T.render(T.split_seed(0, "test"), 3, 64)
depth = np.where(np.isfinite(r.depth), r.depth, np.nan)
show_row([r.image, r.instances, depth], ["image", "instance map", "depth (distance along the ray)"],
         "02_ground_truth", size=2.6, cmap="viridis")
for o in r.scene.objects:
    print(f"{o.color:>7} {o.kind:<8} at x={o.translation[0]:+.2f} z={o.translation[2]:+.2f}, "
          f"angle {math.degrees(o.angle):5.1f}°")
print(f"camera: azimuth {math.degrees(r.scene.azimuth):.1f}°, elevation {math.degrees(r.scene.elevation):.1f}°")

# %% [markdown]
# ## 2. The camera
#
# The camera sits on a sphere of radius $r$ around the origin, at azimuth $\phi$ and elevation $\theta$:
#
# $$c = r\,(\cos\theta \sin\phi,\ \sin\theta,\ \cos\theta\cos\phi),$$
#
# and looks at the origin. Its rotation $R$ has three rows, *right*, *up* and *forward* (forward $= -c/|c|$, right
# $=$ forward $\times$ world-up, up $=$ right $\times$ forward). A world point $p$ in camera coordinates is
# $q = R\,(p - c)$, and the pinhole projects it to the pixel
#
# $$u = f\,\frac{q_x}{q_z} + \frac{S}{2}, \qquad v = -f\,\frac{q_y}{q_z} + \frac{S}{2}, \qquad f = \text{focal} \cdot S,$$
#
# with $v$ growing *downwards* (image rows). `synthkit.nn.render.look_at` and `project` are exactly these lines;
# the dataset uses the same camera, so projecting the recorded object centres must land on the objects.

# %%
from synthkit.nn import render as R3

cam_R, cam_c = R3.look_at(torch.tensor([r.scene.azimuth]), torch.tensor([r.scene.elevation]), T.RADIUS)
centres = torch.tensor([[o.translation for o in r.scene.objects]])
uv, dist = R3.project(centres, cam_R, cam_c, 64, T.FOCAL)
fig, ax = plt.subplots(figsize=(3.2, 3.2))
ax.imshow(r.image, interpolation="nearest", extent=(0, 64, 64, 0))
ax.scatter(uv[0, :, 0], uv[0, :, 1], marker="+", s=120, c="black")
ax.set_title("recorded centres, projected", fontsize=9)
ax.axis("off")
save_fig(fig, "03_projection")
plt.show()
print(f"field of view {R3.fov_degrees(T.FOCAL):.1f}°; depths of the centres:", [round(float(d), 2) for d in dist[0]])

# %% [markdown]
# ## 3. Soft silhouettes
#
# To place primitives by gradient descent, the image must change *smoothly* with the pose. A hard silhouette
# (inside: 1, outside: 0) does not: moving a cube by a hair changes no pixel's value until an edge crosses it, and
# then by a whole step; its gradient is zero almost everywhere. The renderer instead casts one ray per pixel into
# each primitive's frame and measures how deep the ray goes inside, a *margin* $m$ (for the cuboid, the chord length
# $t_{far} - t_{near}$ from the slab test; for the sphere, $1 - |q|^2$ with $q$ the ray's closest point to the
# centre), and turns it into
#
# $$\alpha = \sigma(m / s),$$
#
# a sigmoid of softness $s$. Far inside $\alpha \to 1$, far outside $\to 0$, and near the edge every pixel feels
# the pose. Smaller $s$ is sharper and has narrower gradients.

# %%
az, el = torch.tensor([0.6]), torch.tensor([0.5])
cam = R3.look_at(az, el)
rot = R3.rotation_y(torch.tensor([[0.4]]))
t = torch.tensor([[[0.0, 0.25, 0.0]]])
s = torch.tensor([[[0.3, 0.25, 0.3]]])
panels, titles = [], []
for sigma in (0.002, 0.02, 0.1):
    a, _ = R3.render_primitives("cuboid", rot, t, s, *cam, 64, sigma=sigma)
    panels.append(a[0, 0, 0])
    titles.append(f"cuboid, s = {sigma}")
a, d = R3.render_primitives("sphere", rot, t, s, *cam, 64, sigma=0.05)
panels += [a[0, 0, 0], torch.where(a[0, 0, 0] > 0.5, d[0, 0, 0], torch.nan)]
titles += ["sphere, s = 0.05", "sphere depth"]
show_row(panels, titles, "04_soft_silhouettes", size=2.2, cmap="gray")

# the gradient of one pixel-sum loss with respect to the position: non-zero only because alpha is soft
t_var = t.clone().requires_grad_(True)
for sigma in (0.02, 0.0):
    a, _ = R3.render_primitives("cuboid", rot, t_var, s, *cam, 64, sigma=max(sigma, 1e-9))
    a = a if sigma else (a > 0.5).float()  # the hard silhouette: a step, no gradient
    loss = a[..., :32].sum()  # "how much of the cube is in the left half"
    g = torch.autograd.grad(loss, t_var, allow_unused=True)[0] if loss.requires_grad else None
    print(f"{'soft' if sigma else 'hard'} silhouette: d(loss)/d(translation) =",
          None if g is None else [round(v, 2) for v in g[0, 0].tolist()])

# %% [markdown]
# ## 4. The model, layer by layer
#
# For $N$ primitives (3 here) the generator draws a pose code and $N + 1$ appearance codes (one per primitive, one
# for the background) and a camera, then:
#
# - **3D generator**: MLPs map the pose code to each primitive's rotation (the continuous 6-D parametrisation),
#   translation $t = \tanh(\cdot)\cdot$range and per-axis size $s \in [s_{lo}, s_{hi}]$ (sigmoid); another MLP maps
#   each appearance code to a point cloud (positions in the unit cube and a feature vector per point);
# - **renderer**: the points are posed, projected and splatted (a Gaussian per point) into a feature image per
#   primitive; the primitive's soft silhouette gives its mask and depth;
# - **2D generator** (shared by all primitives; **AdaIN**, adaptive instance normalisation, injects the appearance
#   code: each channel of a primitive's feature map is normalised on its own, then scaled and shifted by values an
#   MLP computes from the code): feature image → RGB, alpha
#   (kept only inside the silhouette) and a depth offset; a small background generator paints the sky and ground
#   from the camera's ray directions;
# - **compositing**, front to back: a layer at depth rank $k$ gets the light that the nearer layers let through,
#
# $$I = \sum_k \Big(\prod_{j \text{ nearer than } k} (1 - \alpha_j)\Big)\,\alpha_k\, c_k \;+\; \prod_j (1 - \alpha_j)\, c_{bg}.$$
#
# In training, each primitive is dropped at random (so the model cannot rely on all of them being there), a
# **compactness** loss keeps silhouettes from covering the whole image, and a **3D-consistency** loss asks that an
# image rendered from a turned camera agree with the first one where the geometry says they see the same point.

# %%
from synthkit.pipelines.controllable3d import load_controllable3d

pipe = load_controllable3d(device="cpu")  # the bundled "controllable3d-toyshapes3d"
G, cfg = pipe.G, pipe.G.config
n_params = sum(p.numel() for p in G.parameters())
print(f"{cfg.image_size}×{cfg.image_size}, {cfg.n_primitives} {cfg.primitive} primitives, {n_params:,} parameters")
scene = pipe.sample(7)
layers = scene.layers()
show_row([scene.image] + [layers["rendered_alpha"][k] for k in range(cfg.n_primitives)]
         + [np.moveaxis((layers["background"] + 1) / 2, 0, -1).clip(0, 1)],
         ["composite"] + [f"silhouette {k}" for k in range(cfg.n_primitives)] + ["background"], "05_layers", size=2.0,
         cmap="gray")


def unit(f):
    f = f[:3] if f.shape[0] >= 3 else np.repeat(f[:1], 3, 0)
    return np.moveaxis((f - f.min()) / (np.ptp(f) + 1e-6), 0, -1)


show_row([unit(layers["features"][k]) for k in range(cfg.n_primitives)]
         + [np.moveaxis((layers["rgb"][k] + 1) / 2, 0, -1).clip(0, 1) * layers["alpha"][k][..., None]
            for k in range(cfg.n_primitives)],
         [f"features {k}" for k in range(cfg.n_primitives)] + [f"rgb × alpha {k}" for k in range(cfg.n_primitives)],
         "06_features_and_colour", size=2.0)

# %% [markdown]
# The features are what the 2D generator sees: a blurry splat of each primitive's points. The silhouettes decide
# where it may paint; the depths decide who is in front (exercise 2).
#
# ## 5. Training, small
#
# The bundled model was trained with `synthkit train controllable3d --preset toyshapes3d` (its model card has the
# exact command, steps and wall time). Here the same loop trains the `tiny_test` preset (16×16, 2 primitives) for a
# few steps, to see the losses and the pieces move; it does not learn 3D in that time.

# %%
import dataclasses
import shutil

from synthkit.train import describe, resolve_task, train
from synthkit.widgets import image_scrubber, live_loss_plot

STEPS, CHUNK = by_mode((6, 3), (300, 50), (3000, 250))
task, tcfg = resolve_task("controllable3d", "tiny_test", {"dataset_length": by_mode(64, 2000, 4000), "image_size": 32})
tcfg = dataclasses.replace(tcfg, steps=STEPS, log_every=1, sample_every=CHUNK, ckpt_every=CHUNK, n_samples=4,
                           out_dir="runs/c3d_nb/tiny", progress=False)
print(describe(task, tcfg)["parameters"], "| batch", tcfg.batch_size, "| lr_g", tcfg.lr_g, "| lr_d", tcfg.lr_d)
shutil.rmtree(tcfg.out_dir, ignore_errors=True)  # a fresh run each time this cell runs
dataset = task.make_dataset("train")
plot = live_loss_plot(keys=["d_logistic", "g_nonsat", "compact"], title="controllable3d tiny_test")
for end in range(CHUNK, STEPS + 1, CHUNK):
    history = train(task, dataclasses.replace(tcfg, steps=end), dataset=dataset)
    plot.update(history)
save_fig(plot.figure, "07_training_losses")
print("last logged step:", {k: round(v, 3) for k, v in history[-1].items()})

# %%
grids = sorted(Path(tcfg.out_dir, "samples").glob("step_*.png"))
image_scrubber(grids, description="step", labels=[p.stem for p in grids], width=256)

# %% [markdown]
# ## 6. The controls
#
# A `Scene3D` (what `pipe.sample(seed)` returns) is immutable: each edit returns a new scene, re-rendered with
# everything else fixed. `move` and `scale` clamp to the ranges the model was trained on and say so in
# `scene.notes`; the camera outside the training elevations renders but warns.

# %%
base = pipe.sample(3)
x0, _, z0 = base.translation(0)
edits = {
    "sampled": base,
    "object 0 → x + 0.4": base.move(0, (x0 + 0.4, None, None)),
    "object 0 turned 45°": base.rotate(0, 45),
    "object 0 × 1.4": base.scale(0, 1.4),
    "object 0 removed": base.remove(0),
    "object 0 new look": base.swap_appearance(0, seed=11),
    "camera + 60°": base.camera(azimuth=base.azimuth + 60),
}
show_row([e.image for e in edits.values()], list(edits), "08_controls", size=1.9)
for name, e in edits.items():
    if e.notes:
        print(name, "→", "; ".join(e.notes))

# %%
frames = base.turntable(12 if FAST else 36)
image_scrubber(frames, description="azimuth", labels=[f"{i * 360 // len(frames)}°" for i in range(len(frames))],
               width=256)

# %%
# Sliders for one object; each change re-renders (about the time of one forward pass at 64²).
import ipywidgets as widgets
from IPython.display import display

from synthkit.widgets import to_png

out = widgets.Image(value=to_png(np.repeat(np.repeat(base.image, 4, 0), 4, 1)), width=256)
tr = cfg.translation_range
xs = widgets.FloatSlider(value=round(x0, 2), min=-tr[0], max=tr[0], step=0.02, description="x")
zs = widgets.FloatSlider(value=round(z0, 2), min=-tr[2], max=tr[2], step=0.02, description="z")
rs = widgets.FloatSlider(value=0, min=-180, max=180, step=5, description="rotation °")
cs = widgets.FloatSlider(value=0, min=0, max=360, step=5, description="camera °")


def redraw(_=None):
    s = base.move(0, (xs.value, None, zs.value)).rotate(0, rs.value)
    s = s.camera(azimuth=base.azimuth + cs.value)
    out.value = to_png(np.repeat(np.repeat(s.image, 4, 0), 4, 1))


for w in (xs, zs, rs, cs):
    w.observe(redraw, names="value")
display(widgets.HBox([widgets.VBox([xs, zs, rs, cs]), out]))

# %% [markdown]
# ## 7. Does it control what it claims?
#
# `python benchmarks/eval_controllable3d.py` measures the bundled model against Toyshapes3D's ground truth, with a
# colour segmentation of the objects that is first validated on real images: do the visible primitives match the
# objects one to one, does moving a primitive move an object, does removing one remove one object, does a new
# appearance keep the shape? Its table (`benchmarks/results/controllable3d.md`) is read here, with its provenance.
# The FID there uses synthkit's offline backbone: it ranks our models, it is not the paper's FID.
#
# Read the sweep below with care: the alpha a primitive may paint is its rendered silhouette times the 2D
# generator's alpha, so moving the primitive moves its alpha almost by construction (r close to 1 says the
# pipeline is wired right, not that the model learned much). The demanding checks are the others: whether what the
# 2D generator paints inside each silhouette is one object of the image (found by colour), and whether a new
# appearance code keeps the shape.

# %%
from synthkit.metrics import controls3d as M

k = next((i for i, v in enumerate(base.visible()) if v), 0)
proj, meas = M.translation_sweep(base, k, 0, np.linspace(-0.6, 0.6, 7))
if proj:
    fig, ax = plt.subplots(figsize=(3.4, 3.0))
    ax.plot(proj, meas, "o-")
    ax.set_xlabel("projected centre moves (px)")
    ax.set_ylabel("alpha centroid moves (px)")
    ax.set_title(f"object {k}, x sweep: r = {M.pearson(proj, meas):.2f}", fontsize=9)
    save_fig(fig, "09_translation_sweep")
    plt.show()
m = M.match_primitives(base)
print(f"this scene: {m['n_visible_primitives']} visible primitives, {m['n_objects']} objects found by colour, "
      f"matched IoU {m['mean_iou']:.2f}")

# %%
import json

results = Path(synthkit.__file__).resolve().parents[1] / "benchmarks" / "results" / "controllable3d.json"
if results.exists():
    data = json.loads(results.read_text())
    y, c = data["yardstick"], data["controls"]
    print(f"model {data['model']}, {data['args']['n_scenes']} generated scenes, seed {data['args']['seed']}")
    print(f"yardstick on real images: object count right {100 * y['count_accuracy']:.1f}% of {y['n']}, "
          f"mask IoU {y['mean_iou']:.3f}")
    for key in ("count_match", "matched_iou", "translation_correlation_pooled", "removal_exactly_one",
                "appearance_iou"):
        print(f"{key:>32}: {c[key]:.3f}")
    prov = data["fid_provenance"]
    print(f"FID {data['fid']:.1f} (backend {prov['backend']}, weights {str(prov['weights_sha256'])[:12]}, "
          f"N = {prov['n']}; offline backbone: not comparable with the paper)")
else:
    print("no measurements next to this install (they live in the repository's benchmarks/results/)")

# %% [markdown]
# ## Exercises
#
# Each exercise ends with a `course.check_...` call that says **Right** or **Not yet**, and why. The checks recompute
# the answer from the renderer in front of you. Solutions are in the collapsed cells that start
# `if course.SOLUTIONS:` (expand one to read it; it runs only with `SYNTHKIT_SOLUTIONS=1`, so running all cells
# never overwrites your answer).
#
# 1. **Project a point.** Write `project_point(point, azimuth_deg, elevation_deg, size, focal, radius)` returning
#    the pixel `(u, v)` of a world point, from the equations of section 2 (you may use `R3.look_at` for $R, c$, not
#    `R3.project`).
# 2. **Who is in front?** Write `front_object(render, y, x)`: the index of the primitive the composite shows at
#    pixel `(y, x)` (the one whose "over" weight is the largest), or `None` where the background gets more light
#    than any primitive. `render.alpha[0, :, 0, y, x]` and `render.depth[0, :, 0, y, x]` are the $N$ layers there.
# 3. **Fit a silhouette.** A sphere is hidden at an unknown position; you see only its soft silhouette `target`.
#    Starting from `t = (0, 0.3, 0)`, find its position by gradient descent on the difference between your render and
#    the target (section 3 says why this works only with soft silhouettes).

# %%
from synthkit import course


def project_point(point, azimuth_deg, elevation_deg, size, focal, radius):
    raise NotImplementedError("exercise 1: your code here")


# %% tags=["solution"] jupyter={"source_hidden": true}
if course.SOLUTIONS:
    def project_point(point, azimuth_deg, elevation_deg, size, focal, radius):  # noqa: F811
        R, c = R3.look_at(torch.tensor([math.radians(azimuth_deg)]), torch.tensor([math.radians(elevation_deg)]),
                          radius)
        q = R[0] @ (torch.tensor(point, dtype=torch.float32) - c[0])
        f = focal * size
        return float(f * q[0] / q[2] + size / 2), float(-f * q[1] / q[2] + size / 2)

# %%
course.show(course.check_projection(project_point))

# %%
with torch.no_grad():
    z_pose, z_app = G.sample_z(1, torch.Generator().manual_seed(5))
    render = G(z_pose, z_app, torch.tensor([0.8]), torch.tensor([0.6]))


def front_object(render, y, x):
    raise NotImplementedError("exercise 2: your code here")


# %% tags=["solution"] jupyter={"source_hidden": true}
if course.SOLUTIONS:
    def front_object(render, y, x):  # noqa: F811
        a, d = render.alpha[0, :, 0, y, x], render.depth[0, :, 0, y, x]
        light, best, who = 1.0, 0.0, None
        for k in d.argsort().tolist():  # nearest first
            if light * float(a[k]) > best:
                best, who = light * float(a[k]), k
            light *= 1 - float(a[k])
        return who if best > light else None

# %%
course.show(course.check_front_object(front_object, render))

# %%
hidden = torch.tensor([[[0.35, 0.3, -0.25]]])  # (do not peek: the check compares with it)
sphere_R, sphere_s = torch.eye(3)[None, None], torch.full((1, 1, 3), 0.25)
cam3 = R3.look_at(torch.tensor([0.3]), torch.tensor([0.6]))
target, _ = R3.render_primitives("sphere", sphere_R, hidden, sphere_s, *cam3, 64, sigma=0.05)
t_fit = torch.tensor([[[0.0, 0.3, 0.0]]], requires_grad=True)
# exercise 3: optimise t_fit here (torch.optim.Adam([t_fit], lr=...) and a loss between your render and `target`)

# %% tags=["solution"] jupyter={"source_hidden": true}
if course.SOLUTIONS:
    opt = torch.optim.Adam([t_fit], lr=0.02)
    for _ in range(300):
        a, _ = R3.render_primitives("sphere", sphere_R, t_fit, sphere_s, *cam3, 64, sigma=0.05)
        loss = (a - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

# %%
with torch.no_grad():
    fitted, _ = R3.render_primitives("sphere", sphere_R, t_fit, sphere_s, *cam3, 64, sigma=0.05)
show_row([target[0, 0, 0], fitted[0, 0, 0]], ["target", "your fit"], "10_silhouette_fit", size=2.2, cmap="gray")
course.show(course.check_silhouette_fit(t_fit, hidden))

# %% [markdown]
# ## Lecture mode on a GPU
#
# On Colab with a GPU, train the bundled recipe yourself and watch the primitives organise (about 2 s per step on
# two CPU cores: its model card's wall time over its steps; not measured on a GPU here):
#
# ```python
# !synthkit train controllable3d --preset toyshapes3d --steps 3000 --out runs/c3d
# from synthkit.pipelines.controllable3d import load_controllable3d
# pipe = load_controllable3d("runs/c3d/model")
# ```
#
# The `paper` preset has the official widths (128-channel 2D generator, 4 blocks, 3 primitives); the paper trains
# far longer on 64×64 images. Turning off the consistency loss (`--set lambda_consistency=0`) is the ablation to
# run: watch whether turning the camera still keeps each object's colour on its object.
