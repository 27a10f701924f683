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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/synthkit-cvpr20/synthkit/blob/main/notebooks/02_semantic_pyramid.ipynb)
#
# # 02 · Semantic Pyramid: generating from one level of a classifier's features
#
# Shocher, Gandelsman et al., *Semantic Pyramid for Image Generation*, CVPR 2020 (arXiv 2003.06221).
#
# A classifier turns an image into features, shallow to deep: the first layers still hold colours and edges, the
# last ones only "this is a city street". The paper trains **one** generator that can start from *any* of these
# levels and produce an image that shares exactly that level with the reference image, and nothing more. From this
# one model come several applications without retraining: a slider from "copy" to "same meaning, new picture",
# semantic inpainting (repaint a region, keep the rest) and semantic compositing (paste an object at a level).
#
# In this notebook:
#
# 1. **feature inversion** and why it is hard: the naive way to go from features back to an image;
# 2. **the mirrored generator**: which feature enters where;
# 3. **training** it (a short run in fast mode) with the paper's mask sampling;
# 4. **what each level keeps**: a grid, rows = levels, columns = samples;
# 5. **inpainting and compositing**;
# 6. **the per-level table**: distance to the reference, diversity, semantics kept, and FID / KID per level next to the paper's;
# 7. exercises, and **the switch to VGG-16** (the paper's classifier) on Colab.
#
# As everywhere in synthkit, the classifier is the small offline Toyscapes network (`synthkit.backbones`), not the
# paper's Places365 VGG-16, and the images are 64×64 Toyscapes scenes.

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

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from synthkit.course import by_mode, mode_note, run_mode

# SYNTHKIT_FAST=1: the tests (fewer steps and images, same code); SYNTHKIT_LECTURE=1: more training for a
# GPU lecture slot (see notebooks/README.md); neither: the full CPU run
MODE = run_mode()
FAST = MODE == "fast"
from synthkit.viz import save_fig  # writes each figure to $SYNTHKIT_FIGURES as PNG when set
if FAST:
    torch.set_num_threads(1)  # shared CI runners: one thread per process is faster than threads that fight


def show_row(images, titles, name=None, size=2.0):
    """A row of uint8 [H, W, 3] images (or [-1, 1] tensors) with titles; saved as `name` if given."""
    from synthkit.viz import to_uint8

    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size + 0.4))
    for ax, im, title in zip(np.atleast_1d(axes), images, titles):
        im = im if isinstance(im, np.ndarray) else to_uint8(im.reshape(-1, *im.shape[-3:])[0])  # [H, W, 3]
        ax.imshow(im, interpolation="nearest")
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
# ## 1. Feature inversion, and why it is hard
#
# The frozen classifier `C` maps an image `x` to its pyramid of features `phi_1(x) .. phi_L(x)`. The Toyscapes
# backbone mirrors VGG-16: five convolutional stages (`conv1`..`conv5`, the output of each pooling) and two
# vectors (`fc7`, and `fc8`, the 6 scene scores).

# %%
from synthkit.backbones import load_backbone
from synthkit.data.toyscapes import SCENES, ToyscapesDataset

backbone = load_backbone("toyscapes")
test = ToyscapesDataset(size=64, length=16, split="test", seed=0)  # held-out scenes
x_ref = test[2]["image"][None]  # [1, 3, 64, 64] in [-1, 1]
feats = backbone.features(x_ref, layers=list(backbone.pyramid_levels))
for name, f in feats.items():
    print(f"{name:6s} {str(tuple(f.shape)):18s} {f[0].numel():6d} numbers")
print("pixels:", x_ref[0].numel(), "numbers | scene:", SCENES[int(test[2]["scene"])])

# %% [markdown]
# The classic way back from features to an image (Mahendran & Vedaldi 2015) is optimisation: start from noise and
# follow the gradient of $\|\phi_l(x) - \phi_l(x_{ref})\|^2 / \|\phi_l(x_{ref})\|^2$ with respect to the *pixels*
# (the cell below is exactly that, with Adam). For a shallow level it works, because conv1 is almost the image.
# For a deep level it cannot: `fc8` has 6 numbers for 12,288 pixel values, so a huge set of images, almost all of
# them noise, share them. Nothing in the loss asks the result to
# look like a *natural* image.

# %%
def invert(level: str, steps: int, seed: int = 0) -> torch.Tensor:
    """x* = argmin_x |phi_l(x) - phi_l(x_ref)|^2 / |phi_l(x_ref)|^2, from noise, with Adam on the pixels."""
    target = feats[level].detach()
    x = (0.1 * torch.randn(x_ref.shape, generator=torch.Generator().manual_seed(seed))).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    for _ in range(steps):
        loss = (backbone.features(x.tanh(), [level])[level] - target).pow(2).sum() / target.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return x.tanh().detach()


INV_STEPS = 40 if FAST else 300
inverted = {level: invert(level, INV_STEPS) for level in ("conv1", "conv3", "conv5", "fc8")}
show_row([x_ref, *inverted.values()], ["reference", *[f"inverted from {k}" for k in inverted]], "01_feature_inversion")

# %% [markdown]
# conv1 comes back recognisably; the deeper the level, the less the result looks like anything, although its
# features match. Run the inversion from `fc8` again from other noise: a different noise image with (almost) the
# same 6 scene scores. The inverse is not unique, and plain optimisation picks an arbitrary one.

# %%
again = invert("fc8", INV_STEPS, seed=1)
with torch.no_grad():
    for label, x in (("reference", x_ref), ("inversion, noise 0", inverted["fc8"]), ("inversion, noise 1", again)):
        print(f"fc8 of {label:18s}", np.round(backbone.classify(x)[0].numpy(), 2))
print(f"mean |pixel difference| between the two inversions: {(inverted['fc8'] - again).abs().mean():.3f} "
      "(on a [-1, 1] scale)")

# %% [markdown]
# The Semantic Pyramid answer: learn a **generator** `G(phi, m, z)` whose outputs are *natural* images (an
# adversarial loss), that reproduce the given features (a reconstruction loss through the same frozen classifier),
# and that differ with the noise `z` wherever the features leave freedom (a diversity loss).
#
# ## 2. The mirrored generator: which features enter where
#
# The generator mirrors the classifier, deep to shallow. The vector levels enter the MLP that reads `z`; each
# spatial level is added to the generator block of the same resolution after a mask and a 1×1 convolution:
#
# ```text
# z ~ N(0, I)  ->  MLP:  h <- LReLU(Linear(h)) + Linear(m_fc8 * phi_fc8(x))   then the same with fc7
# h -> Linear -> grid at conv5's size
# for l = conv5 .. conv1:   h <- UpBlock(h) + conv1x1( m_l * phi_l(x) )      (paper Fig. 3b)
# extra x2 blocks -> RGB (tanh)
# ```
#
# The mask `m_l` (1 = use the feature there) is how one chooses the level, and, for spatial levels, *where*.

# %%
from synthkit.models.semantic_pyramid import SemanticPyramidGenerator, level_specs_from_backbone, PyramidConfig

config = PyramidConfig.from_preset("toyscapes64")
print("measured from the backbone:", level_specs_from_backbone(backbone, 64) ==
      {k: getattr(config, k) for k in ("level_names", "level_channels", "level_sizes")})
G_demo = SemanticPyramidGenerator(config)
print(f"generator: {sum(p.numel() for p in G_demo.parameters()) / 1e6:.2f} M parameters")
for i, name in enumerate(config.level_names):
    where = (f"added after the {config.level_sizes[i]}x{config.level_sizes[i]} block "
             f"({G_demo.spatial_inject[name].proj})" if config.is_spatial(i) else
             f"added to the z MLP ({G_demo.vector_inject[name].proj})")
    print(f"{name:6s} -> {where}")

# %%
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


def draw_pyramid(config, name="02_mirrored_generator"):
    """Classifier (left, shallow at the top) and generator (right, built bottom-up from z), one arrow per level."""
    L = config.num_levels
    fig, ax = plt.subplots(figsize=(9, 0.75 * L + 1.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(-1.2, L + 0.2)
    ax.axis("off")
    for i, lname in enumerate(config.level_names):
        y = L - 1 - i  # shallow at the top
        size = config.level_sizes[i]
        label = (f"{lname}\n{config.level_channels[i]}x{size}x{size}" if size else
                 f"{lname}\n{config.level_channels[i]} (vector)")
        color = "#c7d7f5" if size else "#f5d7c7"
        g_text = (f"UpBlock -> {config.g_channels[i]}x{size}x{size}" if size else "z MLP layer (+ Linear)")
        for x0, text in ((0.3, label), (6.7, g_text)):
            ax.add_patch(FancyBboxPatch((x0, y + 0.1), 3.0, 0.7, boxstyle="round,pad=0.02", fc=color, ec="#444"))
            ax.text(x0 + 1.5, y + 0.45, text, ha="center", va="center", fontsize=8)
        ax.add_patch(FancyArrowPatch((3.35, y + 0.45), (6.65, y + 0.45), arrowstyle="-|>", mutation_scale=12,
                                     color="#333"))
        ax.text(5.0, y + 0.6, "x mask m_l -> 1x1 conv -> +" if size else "x mask m_l -> Linear -> +",
                ha="center", fontsize=7)
    for y in range(L - 1):  # classifier: data flows down (deeper); generator: up (z -> image)
        ax.add_patch(FancyArrowPatch((1.8, L - 1 - y + 0.1), (1.8, L - 2 - y + 0.8), arrowstyle="-|>",
                                     mutation_scale=10, color="#1f4e9c"))
        ax.add_patch(FancyArrowPatch((8.2, L - 2 - y + 0.8), (8.2, L - 1 - y + 0.1), arrowstyle="-|>",
                                     mutation_scale=10, color="#9c3b1f"))
    ax.text(1.8, -0.55, "frozen classifier C(x)\n(image in at the top, shallow -> deep)", ha="center", fontsize=8)
    ax.text(8.2, -0.55, "generator G(phi, m, z)\n(z enters at the bottom, deep -> shallow, image out at the top)",
            ha="center", fontsize=8)
    save_fig(fig, name)
    plt.show()


draw_pyramid(config)

# %% [markdown]
# ## 3. Training: one level at a time, sometimes only outside a hole
#
# For every training image the mask sampler (`sample_pyramid_masks`) picks **one** level whose mask is all ones;
# deeper levels get 0; with probability `p_region` = 0.3 the shallower levels are also given, but only outside a
# random hole. The generator therefore learns both "generate from level l" and "fill a hole from level l, keeping
# the rest", which is exactly what inpainting needs later. The losses (`synthkit/models/semantic_pyramid.py`):
#
# * adversarial, least squares: $L_{adv} = \mathbb E\big[(D(G(\phi, m, z)) - 1)^2\big]$;
# * semantic reconstruction: the *generated* image goes through the same frozen classifier, and per level $l$
#
#   $$L_{rec} = \sum_l \alpha_l\,\frac{\sum P(m_l)\,\big|P(\phi_l(G)) - P(\phi_l(x))\big|}{\sum P(m_l)\; C_l\; s_l},$$
#
#   with $P$ a 2×2 max-pool that forgives small shifts, $C_l$ the level's channels and $s_l$ the mean size of its
#   features (so fc8's logits do not outweigh the rest); $\alpha_l$ decreases with depth (4, 3, 2, 1, 1, 1, 1): the
#   shallow levels carry most of the picture (exercise 1 writes one term);
# * diversity: the ports use the ratio $\mathbb E|z_1 - z_2| \,/\, \mathbb E|G(z_1) - G(z_2)|$; the Toyscapes model
#   uses the capped per-sample version of Yang et al. 2019,
#
#   $$L_{div} = -\,\mathbb E_i\,\min\!\Big(\frac{|G(z_1)_i - G(z_2)_i|}{|z_1 - z_2|_i},\ \tau\Big):$$
#
#   every sample is pushed apart until its two images differ by $\tau$, so levels that leave freedom use it and
#   near copies are left alone (exercise 2 writes it). All three are pure functions of
#   `synthkit/models/semantic_pyramid.py` (`semantic_reconstruction_loss`, `diversity_sensitive_loss`).
#
# The two equations, computed by those functions on images of section 1 (the exercises re-derive them by hand):
# $L_{rec}$ of each inversion against the reference, at the level it was inverted from ($m_l = 1$ everywhere), and
# $L_{div}$ of two pairs of images with their noises.

# %%
from synthkit.models.semantic_pyramid import diversity_sensitive_loss, semantic_reconstruction_loss

with torch.no_grad():
    for level, x_inv in inverted.items():
        real_l = feats[level]
        m_l = torch.ones_like(real_l[:, :1])  # [B, 1, h, w] or [B, 1]: the level is given everywhere
        l_rec = semantic_reconstruction_loss([backbone.features(x_inv, [level])[level]], [real_l], [m_l],
                                             normalize=True)
        print(f"L_rec at {level:5s} of the inversion from {level}: {float(l_rec):.4f}")
    z1, z2 = torch.randn(2, 64, generator=torch.Generator().manual_seed(0)).chunk(2)
    pair_a = torch.cat([inverted["conv1"], inverted["fc8"]])  # G(z1) for two samples
    pair_b = torch.cat([x_ref, again])                         # G(z2) for the same two samples
    zs1, zs2 = z1.repeat(2, 1), z2.repeat(2, 1)
    for tau in (0.05, 1.0):
        print(f"L_div with tau = {tau}: {float(diversity_sensitive_loss(zs1, zs2, pair_a, pair_b, tau)):.4f}")

# %% [markdown]
# The noise enters the z MLP *and* modulates each level block (`z_to_blocks`, BigGAN's hierarchical latent):
# without that route a generation from fc7 / fc8 ignored z (one image per scene). The module docstring of
# `synthkit/models/semantic_pyramid.py` lists every term and weight, and why the Toyscapes recipe differs from the
# ports'.
#
# The masks one training batch gets:

# %%
from synthkit.models.semantic_pyramid import sample_pyramid_masks

masks, chosen, has_region = sample_pyramid_masks(config, 8, torch.Generator().manual_seed(1))
fig, axes = plt.subplots(8, config.num_levels, figsize=(1.1 * config.num_levels, 8.8))
for b in range(8):
    for i, name in enumerate(config.level_names):
        m = masks[i][b, 0] if config.is_spatial(i) else masks[i][b].view(1, 1)  # [h, w] or [1, 1]
        axes[b, i].imshow(m, cmap="gray", vmin=0, vmax=1)
        axes[b, i].set_xticks([])
        axes[b, i].set_yticks([])
        if b == 0:
            axes[b, i].set_title(name, fontsize=9)
    axes[b, 0].set_ylabel(f"{config.level_names[int(chosen[b])]}" + (" +hole" if has_region[b] else ""), fontsize=8)
fig.suptitle("training masks m_l (white = feature given); row label = chosen level", fontsize=10)
save_fig(fig, "03_training_masks")
plt.show()

# %% [markdown]
# Now a short run with the training loop of `00_tour`. In fast mode it is only a few dozen steps (the point is to
# see the loop and the losses); the bundled `pyramid-toyscapes` checkpoint was trained the same way for much
# longer, and the rest of the notebook uses it when it is installed.

# %%
import dataclasses
import shutil

from synthkit.train import describe, resolve_task, train
from synthkit.widgets import live_loss_plot

STEPS, CHUNK = by_mode((30, 10), (600, 100), (6000, 500))
task, cfg = resolve_task("pyramid", "toyscapes64", {"dataset_length": by_mode(96, 1200, 4000)})
cfg = dataclasses.replace(cfg, steps=STEPS, log_every=2 if FAST else 10, sample_every=CHUNK, ckpt_every=CHUNK,
                          out_dir="runs/notebook02/pyramid", progress=False)
print(describe(task, cfg)["parameters"], "| batch", cfg.batch_size, "| EMA", cfg.ema_decay)

shutil.rmtree(cfg.out_dir, ignore_errors=True)  # a fresh run each time this cell runs
dataset = task.make_dataset("train")  # rendered once; every chunk below trains on it (train(..., dataset=))
plot = live_loss_plot(keys=["loss_d", "loss_g_adv", "loss_rec", "loss_div"], title="Semantic Pyramid, toyscapes64")
for end in range(CHUNK, STEPS + 1, CHUNK):
    history = train(task, dataclasses.replace(cfg, steps=end), dataset=dataset)
    plot.update(history)
save_fig(plot.figure, "03b_loss_curve")
print("last logged step:", {k: round(v, 3) for k, v in history[-1].items()})

# %% [markdown]
# `loss_rec` is the one to watch: it falls as the generator learns to reproduce the chosen level's features.
# Now load a pipeline, the notebook API of `synthkit.pipelines.pyramid`: the bundled checkpoint if this install
# has it, otherwise the model just trained (then expect blurry, barely trained images).

# %%
from synthkit.pipelines.pyramid import load_pyramid

try:
    pipe = load_pyramid(device="cpu")  # bundled "pyramid-toyscapes"
    source = "bundled pyramid-toyscapes"
except FileNotFoundError as err:
    print(err)
    pipe = load_pyramid(str(Path(cfg.out_dir) / "model"), device="cpu")
    source = f"the {STEPS}-step model trained above"
print("using", source, "| levels", pipe.levels, "| image size", pipe.image_size, *pipe.notes)

# %% [markdown]
# ## 4. What each level keeps
#
# `pipe.generate_from_level(image, level, seed)` gives the generator one level of the reference's features and
# nothing else. Rows: levels, shallow to deep; columns: different seeds. What the paper shows, read top to
# bottom: near copies, then the same layout with new details, then free variations of the same kind of scene.
# With the bundled model (half an hour of CPU training) the trend is there: conv1 and conv2 give near copies
# (the seeds barely differ), conv3 and conv4 keep the layout but redraw the sky and the details, and the vector
# levels keep only the kind of scene, with the trees, buildings and sky changing from seed to seed. The images
# stay blurry: a 0.9 M-parameter generator after 3000 steps. A model trained with the ports' recipe for the same
# time showed the opposite (exercise 7): conv1 was no copy, and fc7 / fc8 gave one image for every seed.

# %%
from synthkit.viz import make_grid

N_SEEDS = 4 if FAST else 6
ref = test.sample(2).image  # uint8 [64, 64, 3]
rows = []
for level in pipe.levels:
    rows += [ref] + [pipe.generate_from_level(ref, level, seed=s).image for s in range(N_SEEDS)]
grid = make_grid(rows, nrow=N_SEEDS + 1, padding=2)
fig, ax = plt.subplots(figsize=(1.6 * (N_SEEDS + 1), 1.6 * len(pipe.levels)))
ax.imshow(grid, interpolation="nearest")
ax.set_yticks([(64 + 2) * i + 34 for i in range(len(pipe.levels))], pipe.levels)
ax.set_xticks([(64 + 2) * j + 34 for j in range(N_SEEDS + 1)], ["reference"] + [f"seed {s}" for s in range(N_SEEDS)])
ax.tick_params(length=0)
ax.set_title(f"generation from one level ({source})")
save_fig(fig, "04_levels_grid")
plt.show()

# %% [markdown]
# Move through the seeds of one level yourself (the first image is shown at once):

# %%
from synthkit.widgets import image_scrubber

deep = pipe.levels[-2]
image_scrubber([pipe.generate_from_level(ref, deep, seed=s).image for s in range(8)], description="seed",
               labels=[f"{deep}, seed {s}" for s in range(8)], width=192)

# %% [markdown]
# ## 5. Semantic inpainting and compositing
#
# **Inpainting.** Keep the shallow levels outside a hole and give the generator only the chosen level inside it.
# With `conv3` the hole is refilled with what was there (the level still holds the layout); with `fc7` only the
# kind of scene is known, so the region is free to become something else that fits. The demo app
# (`python -m demos.semantic_inpainting`) does this with a painted mask.

# %%
hole = np.zeros((64, 64), bool)
hole[34:60, 8:40] = True  # the lower-left part of the scene
shown = ref.copy()
shown[hole] = (0.45 * shown[hole] + 0.55 * np.array([255, 0, 200])).astype(np.uint8)
levels = [lv for lv in ("conv3", "conv5", "fc7") if lv in pipe.levels]
results = [pipe.inpaint(ref, hole, levels=[lv], seed=1).image for lv in levels]
show_row([shown, *results], ["input + hole", *[f"inpainted from {lv}" for lv in levels]], "05_inpainting")

# %% [markdown]
# **Compositing.** Paste an object from a second image at one level: the feature map at that level is the
# background's outside the object and the object's inside it; shallower levels keep the background outside. The
# generator has to make the two agree, where a pixel cut-and-paste leaves a seam.

# %%
obj = test.sample(5).image
obj_mask = np.zeros((64, 64), bool)
obj_mask[20:56, 24:56] = True
pasted = np.where(obj_mask[..., None], obj, ref)
comp = [pipe.composite(ref, obj, obj_mask, level=lv, seed=0).image for lv in ("conv2", "conv4")]
show_row([ref, obj, pasted, *comp], ["background", "object image", "cut and paste", "composite at conv2",
                                     "composite at conv4"], "06_compositing")

# %% [markdown]
# ## 6. The per-level table
#
# Three numbers per level, over held-out scenes and a few seeds, all measured with the offline backbone:
#
# * **distance to the reference**: `lpips_like(G, x)` (0 = identical): how much of the picture is kept;
# * **diversity**: `lpips_like` between two seeds of the same reference: how much freedom the level leaves;
# * **scene kept**: how often the backbone classifies the generated image as the reference's scene.
#
# Shallow levels should have a small distance and little diversity; deep levels the opposite, while the scene is
# kept at every level (that is the point of the paper). With a barely trained model the trend is weaker.

# %%
from IPython.display import Markdown, display

from synthkit.pipelines.pyramid import to_image_tensor

N_REF, SEEDS = (4, 2) if FAST else (16, 4)
refs = [test.sample(i).image for i in range(N_REF)]
x_refs = torch.cat([to_image_tensor(r, pipe.image_size)[0] for r in refs])  # [N, 3, 64, 64]
scene_ref = backbone.classify(x_refs).argmax(1)
table = ["| level | distance to reference ↓ copy | diversity between seeds ↑ freedom | scene kept |",
         "|---|---:|---:|---:|"]
per_level = {}
with torch.no_grad():
    for level in pipe.levels:
        gens = [torch.cat([to_image_tensor(pipe.generate_from_level(r, level, seed=s).image, 64)[0] for r in refs])
                for s in range(SEEDS)]  # SEEDS x [N, 3, 64, 64]
        dist = torch.stack([backbone.lpips_like(g, x_refs) for g in gens]).mean().item()
        div = torch.stack([backbone.lpips_like(gens[a], gens[b]) for a in range(SEEDS) for b in range(a + 1, SEEDS)]
                          ).mean().item()
        kept = torch.stack([(backbone.classify(g).argmax(1) == scene_ref).float() for g in gens]).mean().item()
        per_level[level] = (dist, div, kept)
        table.append(f"| {level} | {dist:.3f} | {div:.3f} | {kept:.0%} |")
display(Markdown("\n".join(table) + f"\n\n{N_REF} held-out scenes x {SEEDS} seeds; model: {source}."))

# %%
fig, ax = plt.subplots(figsize=(6, 3))
names = list(per_level)
ax.plot(names, [v[0] for v in per_level.values()], "o-", label="distance to reference")
ax.plot(names, [v[1] for v in per_level.values()], "s-", label="diversity between seeds")
ax.set_xlabel("level (shallow -> deep)")
ax.set_ylabel("lpips_like")
ax.legend()
ax.set_title("what each level keeps")
save_fig(fig, "07_per_level")
plt.show()

# %% [markdown]
# **FID / KID per level**, the paper's table "FID from CONV1 to FC8": for each level, the generations from that
# level alone (one per held-out source) against a *different* set of held-out real scenes, on the offline
# backbone's `pool` features (`fid_kid_by_level`). The first row, real vs real, is the floor for this sample size.
# The paper's column used Inception features on Places365: it shows the *shape* of the trend (FID rises with
# depth: deeper levels are freer, so further from the real distribution), never comparable numbers. Only its two
# ends could be found (see `PAPER_FID_SOURCE`); the full-size table is `benchmarks/results/pyramid_fid.md`.

# %%
from synthkit.pipelines.pyramid import PAPER_FID_SOURCE, fid_kid_by_level

N_FID = by_mode(48, 300, 1000)
held_out = ToyscapesDataset(size=pipe.image_size, length=2 * N_FID, split="test")
x_fid = torch.stack([held_out[i]["image"] for i in range(2 * N_FID)])  # [2N, 3, 64, 64]
fid_rows = fid_kid_by_level(pipe, x_fid[:N_FID], x_fid[N_FID:])
lines = ["| level | FID (offline `pool`) | KID x 1e3 | paper FID (Inception, Places365) |", "|---|---:|---:|---:|"]
for r in fid_rows:
    paper = "-" if r["level"] == "real vs real" else ("not found" if r["paper_fid"] is None else f"{r['paper_fid']:.2f}")
    lines.append(f"| {r['level']} | {r['fid']:.3f} | {1e3 * r['kid']:.2f} | {paper} |")
display(Markdown("\n".join(lines) + f"\n\nN = {N_FID} per level; paper column: {PAPER_FID_SOURCE}."))

# %% [markdown]
# ## 7. Exercises
#
# The first three end with a `course.check_...` call that says **Right** or **Not yet**, and why; the checks
# recompute the answer with the library and the model. Solutions are in the collapsed cells that start
# `if course.SOLUTIONS:` (they run only with `SYNTHKIT_SOLUTIONS=1`, so running all cells never overwrites your
# answer). The others are open questions.
#
# 1. **The masked reconstruction term.** Write `masked_l1(fake, real, mask)` for one spatial level without the
#    max-pool: the mean of `|fake - real|` over the positions (and channels) where the mask [B, 1, h, w] is 1.
# 2. **The capped diversity term.** Write `capped_diversity(z1, z2, x1, x2, tau)` from section 3.
# 3. **The level that copies.** From which level of `x_ref` do different seeds give (almost) the same image? Measure
#    it with `pipe.generate_from_level` before answering.
#
# Open questions:
#
# 4. **Two levels at once.** `pipe.inpaint(ref, hole, levels=["conv4", "fc8"])` gives the generator two levels
#    inside the hole. Is the result closer to `conv4` alone or to `fc8` alone? Why might a model trained with one
#    level at a time handle this badly?
# 5. **Inversion with a prior.** Repeat the feature inversion of section 1, but optimise the generator's noise `z`
#    (`pipe.generate(feats, masks, seed)` shows how `z` enters) instead of the pixels. Does the `fc8` inversion now
#    look like a scene?
# 6. **The reconstruction weight.** Train with `resolve_task("pyramid", "toyscapes64", {"lambda_rec": 0.1})`
#    (the ports' value) for the same number of steps. How do the first two columns of the per-level table change?
# 7. **The ports' recipe.** Train 700 steps with `{"rec_level_weights": (), "rec_normalize": False,
#    "diversity": "ratio", "lambda_div": 0.1, "z_to_blocks": False, "vector_level_weight": 1.0}` and compare the
#    level grid with the bundled model's. Which rows lose their diversity, and which stop being copies? Then switch
#    the changes back on one at a time: which one fixes which row?
# 8. **Re-painting.** Paint a hole over the sky only and inpaint from `conv5`, then from `fc7`, with several seeds.
#    Which level lets the sky change mode (day, sunset, night), and which keeps it?

# %%
from synthkit import course


def masked_l1(fake, real, mask):
    raise NotImplementedError("exercise 1: your code here")


def capped_diversity(z1, z2, x1, x2, tau):
    raise NotImplementedError("exercise 2: your code here")


answer_3 = None  # exercise 3: a level name, e.g. "conv3"

# %% tags=["solution"] jupyter={"source_hidden": true}
if course.SOLUTIONS:
    def masked_l1(fake, real, mask):  # noqa: F811 - the solutions replace the stubs above
        return (mask * (fake - real).abs()).sum() / (mask.sum() * fake.shape[1])

    def capped_diversity(z1, z2, x1, x2, tau):  # noqa: F811
        r = (x1 - x2).abs().flatten(1).mean(1) / (z1 - z2).abs().flatten(1).mean(1)
        return -r.clamp(max=tau).mean()

    spread = course.seed_spread_by_level(pipe, x_ref[0])
    answer_3 = min(spread, key=spread.get)

# %%
course.show(course.check_masked_l1(masked_l1))
course.show(course.check_capped_diversity(capped_diversity))
course.show(course.check_near_copy_level(answer_3, pipe, x_ref[0]))

# %% [markdown]
# ## 8. The switch to VGG-16 (Colab, GPU)
#
# The paper's classifier is a VGG-16 trained on Places365 at 256 px (preset `vgg16_places`, about 60 M generator
# parameters: days on a TPU pod). On a Colab GPU you can swap in torchvision's ImageNet VGG-16 (the shortcut
# rosinality's port takes) at 64 or 128 px. `load_backbone("vgg16")` downloads the torchvision weights once (it
# needs the network; here it is skipped), and the generator's pyramid is measured from the backbone itself, so the
# same code trains against it:
#
# ```python
# vgg = load_backbone("vgg16")                                   # pool1..pool5, fc7, fc8 (1000 ImageNet logits)
# specs = level_specs_from_backbone(vgg, 128)                    # level_names / level_channels / level_sizes
# task, cfg = resolve_task("pyramid", "toyscapes64", {"image_size": 128, **specs, "backbone": "vgg16",
#                                                     "g_channels": (64, 128, 256, 512, 512)})
# cfg = dataclasses.replace(cfg, steps=20_000, out_dir="runs/pyramid-vgg16")
# train(task, cfg)                                               # on a GPU: accelerate picks it up
# pipe_vgg = load_pyramid("runs/pyramid-vgg16/model")
# ```
#
# Things to check when you switch: the level sizes (VGG pools halve from 64 px at 128 px input: 64, 32, 16, 8, 4),
# the much larger channel counts (the 1×1 injections grow accordingly), and whether `fc8`'s ImageNet classes mean
# anything for Toyscapes scenes (they barely do; this is why the paper uses a scene classifier).

# %%
USE_VGG16 = False  # set True on Colab (network and a GPU) to measure the VGG-16 pyramid
if USE_VGG16:
    vgg = load_backbone("vgg16")
    print(level_specs_from_backbone(vgg, 128))
else:
    print("VGG-16 skipped (USE_VGG16 = False); the paper's sizes are recorded in the preset:")
    print({k: getattr(PyramidConfig.from_preset("vgg16_places"), k) for k in ("image_size", "level_names", "level_channels",
                                                                "level_sizes")})
