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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/synthkit-cvpr20/synthkit/blob/main/notebooks/01_smis.ipynb)
#
# # 01 · SMIS: change the style of one class at a time
#
# **Paper:** Zhu, Xu, Yang, Chen, Wu, Hua. *Semantically Multi-modal Image Synthesis*, CVPR 2020
# ([arXiv 2003.12697](https://arxiv.org/abs/2003.12697)); official code `Seanseattle/SMIS`.
#
# Semantic image synthesis turns a **label map** (one class per pixel) into a photo. SPADE (2019) does it well, but
# its one global latent code changes *everything* at once: draw a new code and the sky, the grass and the cars all
# change together. SMIS asks for control **per class**: a new sky, same grass. Its generator, **GroupDNet**, gives
# every class its own code and keeps those codes apart inside the network with *grouped* convolutions.
#
# In this notebook you will:
#
# 1. see the problem, and the per-class latent `z [B, C, 8, h, w]`;
# 2. look inside GroupDNet: **CG-Norm** and **group decreasing**, with figures of the group structure;
# 3. train a small GroupDNet on Toyscapes (a few steps in fast mode);
# 4. load the bundled checkpoint and run the four applications: class-wise resampling, appearance mixture, style
#    morphing and semantic manipulation, with widgets (class dropdown, morph slider, resample button);
# 5. measure per-class diversity (mCSD / mOCD), then check disentanglement against Toyscapes' **ground truth**;
# 6. switch to a real dataset folder (DeepFashion / Cityscapes / ADE20K) and load the authors' weights.
#
# Start with `00_tour` if Toyscapes, palettes or the training loop are new to you.

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

import os
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


def show_row(images, titles, name=None, size=2.6):
    """A row of images with titles (uint8 [H, W, 3] arrays)."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size + 0.4))
    for ax, im, title in zip(np.atleast_1d(axes), images, titles):
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
# ## 1. The problem, and the per-class latent
#
# A label map from Toyscapes' held-out split, and its real photo. SMIS's generator takes the label map as a one-hot
# tensor `seg [B, C, H, W]` (C = 12 classes) and a latent **per class**:
#
# $$Z = \{z_c\}_{c=1}^{C}, \qquad z_c \in \mathbb{R}^{8 \times h \times w}, \qquad \texttt{z} \in \mathbb{R}^{B \times C \times 8 \times h \times w}$$
#
# The official code stores the same numbers as `[B, 8C, h, w]` (class c owns channels `8c ... 8c+7`); synthkit
# keeps the class axis explicit, so "change the sky" is `z[:, sky] = ...`, a plain tensor operation.

# %%
from synthkit.data.palette import get_palette
from synthkit.data.toyscapes import CLASSES, ToyscapesDataset
from synthkit.viz import colorize, make_grid

pal = get_palette("toyscapes")
test_set = ToyscapesDataset(size=128, length=64, split="test", seed=0)
scene = next(s for s in (test_set.sample(i) for i in range(64)) if len(np.unique(s.label)) >= 6 and (s.label == 0).any())  # 0 = sky
present = [CLASSES[k] for k in np.unique(scene.label)]
print("classes in this map:", present)
show_row([scene.image, colorize(scene.label, pal)], ["real photo (held out)", "label map"], "01_scene")

# %% [markdown]
# ## 2. Inside GroupDNet: grouped codes, CG-Norm, group decreasing
#
# **Encoder.** For each class c, crop the photo to class c's mask, and stack the C crops as 3C channels. Six
# stride-2 convolutions with `groups=C` read them: group c only ever sees class c's pixels, and outputs
# `(mu_c, logvar_c)`, class c's code. (At test time you can also draw `z_c ~ N(0, I)`.)
#
# **Generator.** A grouped 3x3 conv (`groups=C`) turns each class's 8 code channels into its own block of features;
# then residual blocks, each doubling the resolution. Every conv of block l has `G_l` groups, and `G_l` **decreases**
# (12, 12, 6, 6, 3, 1 for the Toyscapes 128 model; 8, 8, 4, 4, 2, 2, 1 for DeepFashion): early blocks keep the
# classes apart, later blocks let neighbouring classes interact (shading, boundaries) so the image is coherent.
#
# **CG-Norm** (conditional group normalisation) injects the label map into every block, like SPADE, but grouped:
#
# $$\mathrm{CGNorm}(x, m) = \mathrm{BN}(x) \odot \big(1 + \gamma(m)\big) + \beta(m), \qquad
#   \gamma, \beta = \text{grouped convs}(\mathrm{ReLU}(\text{grouped conv}(m)))$$
#
# with the same `G_l` groups, so the modulation of group g's channels is computed from the masks of group g's
# classes only. Below, the `toyscapes128` preset (the Toyscapes architecture at 128x128) and the group structure it
# implies. (The bundled checkpoint of section 4 is a narrower variant with groups 12, 12, 6, 6, 3: trained at 64x64,
# then fine-tuned at 128x128 with the same layers, so its code grid is 8x8.)

# %%
from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig

cfg128 = GroupDNetConfig.from_preset("toyscapes128")
print("classes C =", cfg128.num_classes, "| latent per class: 8 x", cfg128.latent_size)
print("block widths:", cfg128.block_channels)
print("block groups:", cfg128.block_groups)

# %% [markdown]
# **Which classes can exchange information in block l?** Two classes do when their channels fall into the same
# group. The figure draws, for each block, a C x C matrix: a coloured cell (i, j) means class i's and class j's
# features are mixed by that block's convolutions.

# %%
C = cfg128.num_classes
fig, axes = plt.subplots(1, len(cfg128.block_groups), figsize=(2.2 * len(cfg128.block_groups), 2.8))
for l, (ax, G) in enumerate(zip(axes, cfg128.block_groups)):
    group_of = np.arange(C) // (C // G)  # class c's channels sit in group c // (C / G)
    ax.imshow(group_of[:, None] == group_of[None, :], cmap="Blues", vmin=0, vmax=1.3)
    ax.set_title(f"block {l}: G={G}", fontsize=9)
    ax.set_xticks(range(C))
    ax.set_yticks(range(C))
    ax.set_xticklabels(CLASSES, rotation=90, fontsize=6)
    ax.set_yticklabels(CLASSES if l == 0 else [], fontsize=6)
fig.suptitle("group decreasing: which classes mix in each block (toyscapes128)", fontsize=10)
save_fig(fig, "02_group_structure")
plt.show()

# %% [markdown]
# That is the design. Let us **measure** it: change one class's code (`sky`) and record, block by block, how much
# each feature channel changes. With grouped convs, only the channels of the sky's group can move until the groups
# merge. The check uses a freshly initialised network, because it is a property of the architecture, not of
# training. (The features also change *spatially* only near the sky mask; the channel test is the sharper one.)

# %%
torch.manual_seed(0)
probe = GroupDNet(GroupDNetConfig.from_preset("toyscapes128")).eval()
label_t = torch.from_numpy(scene.label.astype(np.int64))
seg = torch.nn.functional.one_hot(label_t, C).permute(2, 0, 1)[None].float()  # [1, C, H, W]
feats = {}
hooks = [b.register_forward_hook(lambda m, i, o, l=l: feats.__setitem__(l, o.detach())) for l, b in
         enumerate(probe.G.blocks)]
with torch.no_grad():
    z = probe.sample_latent(1, torch.Generator().manual_seed(1))  # [1, C, 8, h, w]
    probe.generate(z, seg)
    before = dict(feats)
    z2 = z.clone()
    z2[:, CLASSES.index("sky")] = torch.randn(z2[:, 0].shape, generator=torch.Generator().manual_seed(2))
    probe.generate(z2, seg)
for h in hooks:
    h.remove()

fig, axes = plt.subplots(len(before), 1, figsize=(9, 0.55 * len(before) + 0.6), sharex=False)
for l, ax in enumerate(axes):
    change = (feats[l] - before[l]).abs().mean(dim=(0, 2, 3)).numpy()  # [channels]
    ax.imshow(change[None] > 1e-6, aspect="auto", cmap="Oranges", vmin=0, vmax=1.2)
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_ylabel(f"{l}: G={cfg128.block_groups[l]}", rotation=0, ha="right", va="center", fontsize=8)
    print(f"block {l}: {int((change > 1e-6).sum()):4d} of {change.size} channels changed")
axes[0].set_title("channels that change when only z_sky changes (orange), per block", fontsize=10)
save_fig(fig, "03_channels_touched_by_sky")
plt.show()

# %% [markdown]
# Sky is class 0, so it sits in group 0: 1/12 of the channels in blocks 0-1, 1/6 in blocks 2-3, 1/3 in block 4,
# and everything in the last block (G = 1), where the classes finally meet.
#
# **CG-Norm's label-map branch**, `gamma(m)`, is the other half. Grouped, the gamma of the sky's channels is computed
# from the sky's mask alone. Below, for the first block (G = 12), the mean modulation of each group's channels minus
# what an empty map gives (the biases). `modulation(m)` returns `(gamma(m), beta(m))`, the two maps of the equation.
# (The app's fast path, `synthkit/models/groupdnet_fast.py`, folds the batch-norm statistics into one scale map
# `(1 + gamma(m)) / sigma` instead; the grouping is the same.)

# %%
with torch.no_grad():
    norm = probe.G.blocks[0].norm_0
    m = torch.nn.functional.interpolate(seg, size=(64, 64), mode="nearest")  # a finer grid, to see the shape
    gamma, _ = norm.modulation(m)
    gamma0, _ = norm.modulation(torch.zeros_like(m))
    per_group = (gamma - gamma0).abs().reshape(1, C, -1, 64, 64).mean(2)[0]  # [C, 64, 64], group g = class g
show = [k for k in np.unique(scene.label)][:4]
fig, axes = plt.subplots(2, len(show), figsize=(2.3 * len(show), 4.8))
for j, k in enumerate(show):
    axes[0, j].imshow(scene.label == k, cmap="gray")
    axes[0, j].set_title(f"mask: {CLASSES[k]}", fontsize=9)
    axes[1, j].imshow(per_group[k].numpy(), cmap="magma")
    axes[1, j].set_title(f"group {k} modulation", fontsize=9)
for ax in axes.ravel():
    ax.axis("off")
save_fig(fig, "04_cgnorm_gamma_per_group")
plt.show()

# %% [markdown]
# Each group's modulation lights up exactly on (and, through the 3x3 convs, just around) its own class.
#
# One more consequence matters for the applications: **gamma and beta depend on the label map only**. When the map
# is fixed and only codes change (style morphing), they can be computed once. `G.precompute_norm_params(seg)`
# returns that cache, and `G(z, norm_cache=cache)` runs only the code path; the output is identical. That is what
# makes the morph slider of the app (`demos/style_morphing.py`) live.
#
# ## 3. Training a small GroupDNet
#
# The training objective (paper Sec. 3.3; official `smis_model.py`), with E the encoder and D a two-scale PatchGAN:
#
# $$\mathcal{L}_G = -\mathbb{E}[D(G(z, m), m)] + \lambda_{FM}\,\mathcal{L}_{FM} + \lambda_{VGG}\,\mathcal{L}_{perc}
#   + \lambda_{KL}\,\mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2)\,\|\,\mathcal{N}(0, I)\big),
#   \quad z = \mu + \varepsilon\sigma,\ (\mu, \log\sigma^2) = E(x, m)$$
#
# with λ = 10, 10, 0.05 and the KL summed over all elements, and the hinge loss for D. Here the `tiny_test` preset
# (32x32) trains a few steps so you can watch the loop; the bundled model was trained the same way, longer, at
# 64x64 and then 128x128 (its `README.md` holds the exact commands).

# %%
import dataclasses
import shutil

from synthkit.train import describe, resolve_task, train
from synthkit.widgets import image_scrubber, live_loss_plot

STEPS, CHUNK = by_mode((6, 3), (300, 50), (3000, 250))
task, tcfg = resolve_task("smis", "tiny_test", {"dataset_length": by_mode(64, 2000, 4000)})
tcfg = dataclasses.replace(tcfg, steps=STEPS, log_every=1, sample_every=CHUNK, ckpt_every=CHUNK, n_samples=4,
                           ema_decay=0.99, out_dir="runs/smis_nb/tiny", progress=False)
print(describe(task, tcfg)["parameters"], "| batch", tcfg.batch_size, "| lr_g", tcfg.lr_g, "| lr_d", tcfg.lr_d)

shutil.rmtree(tcfg.out_dir, ignore_errors=True)  # a fresh run each time this cell runs
dataset = task.make_dataset("train")  # rendered once; every chunk below trains on it (train(..., dataset=))
plot = live_loss_plot(keys=["loss_d", "loss_g", "feat", "perceptual", "kld"], title="GroupDNet tiny_test")
for end in range(CHUNK, STEPS + 1, CHUNK):
    history = train(task, dataclasses.replace(tcfg, steps=end), dataset=dataset)
    plot.update(history)
save_fig(plot.figure, "05_training_losses")
print("last logged step:", {k: round(v, 3) for k, v in history[-1].items()})

# %%
grids = sorted(Path(tcfg.out_dir, "samples").glob("step_*.png"))
image_scrubber(grids, description="step", labels=[p.stem for p in grids], width=256)

# %% [markdown]
# A few steps of a 32x32 model only learn the colours of the classes. Now the bundled model.
#
# ## 4. The bundled model and the four applications
#
# `load_smis()` loads the bundled `smis-toyscapes` checkpoint (a small 128x128 GroupDNet + its encoder) into an
# `SMISPipeline`, the API that this notebook, the app and the CLI share. Every method returns an `SMISResult` with
# `.image` (uint8), `.z` (the codes), `.label` and `.notes` (what was done to your inputs).
#
# A word of honesty first: the bundled checkpoint is small (trained on shared CPU cores; its model card
# `synthkit/pretrained/smis-toyscapes/README.md` has the exact steps). The cell below prints its measured figures
# from `benchmarks/results/smis_quality.json` (never typed into this text, so they cannot drift): how well its
# images segment against real ones, how much of a class's change stays inside the class, and how often swapping a
# class's code makes it show the other image's recorded appearance mode. Sections 5 and 6 measure the same things
# live, which is the point of having measurements. Exercise 9 trains a better one.

# %%
from synthkit.pipelines.smis import load_smis

try:
    pipe = load_smis(device="cpu")  # bundled "smis-toyscapes"
    MODEL_NAME = "smis-toyscapes (bundled)"
except ValueError as err:  # an install without the bundled checkpoint: use the model trained above
    print("bundled model unavailable:", err, "\n-> using the tiny model trained above")
    pipe = load_smis(Path(tcfg.out_dir, "model"), device="cpu")
    MODEL_NAME = "tiny_test trained above"
H, W = pipe.image_size
data = ToyscapesDataset(size=H, length=64, split="test", seed=0)
scene = next(s for s in (data.sample(i) for i in range(64)) if len(np.unique(s.label)) >= 6 and (s.label == 0).any())  # 0 = sky
print(MODEL_NAME, "| image size", (H, W), "| classes in the map:", [CLASSES[k] for k in np.unique(scene.label)])

import json

quality = Path(synthkit.__file__).resolve().parents[1] / "benchmarks" / "results" / "smis_quality.json"
if quality.is_file():
    q = json.loads(quality.read_text())
    mt, ml, mi = q["mode_transfer"], q["morph_locality"], q["miou"]
    print(f"measured ({q['model']}, {q['image_size']} px, seed {q['seed']}; benchmarks/results/smis_quality.md):\n"
          f"  mIoU of generated / real images {mi['miou_generated']:.2f} / {mi['miou_real']:.2f} "
          f"(ratio {mi['ratio']:.2f})\n"
          f"  change outside / inside the morphed class {ml['pixel_ratio_mean']:.2f} ({ml['trials']} trials)\n"
          f"  swapped class shows the other image's mode: {mt['transfer_rate']:.2f} of {mt['trials']} trials "
          f"(before the swap, by chance: {mt['baseline_rate']:.2f}); other classes keep theirs: "
          f"{mt['others_kept_rate']:.2f}")
else:
    print(f"{quality} is not here (a pip install has no benchmarks/); see the model card instead")

# %% [markdown]
# ### 4a. Class-wise resampling ("SMIS" proper; the only application in the official code)
#
# Keep every class's code and redraw one: `z_c ~ N(0, I)`. Each row redraws one class; the rest should stay put.

# %%
base = pipe.sample(scene.label, seed=0)
classes_shown = [k for k in np.argsort(-np.bincount(scene.label.ravel(), minlength=C)) if (scene.label == k).any()][:3]
rows = []
for k in classes_shown:
    rows += [base.image] + [pipe.resample_class(scene.label, base.z, int(k), seed=s).image for s in (1, 2, 3)]
fig, ax = plt.subplots(figsize=(8, 2.2 * len(classes_shown)))
ax.imshow(make_grid(rows, nrow=4, padding=2))
ax.set_title("rows: " + ", ".join(CLASSES[k] for k in classes_shown) + " redrawn (first column: the base image)",
             fontsize=9)
ax.axis("off")
save_fig(fig, "06_classwise_resampling")
plt.show()

# %% [markdown]
# ### 4b. Encoding a real photo, and appearance mixture
#
# `encode(photo, its label map)` gives the photo's codes (the official test code cannot do this: its encoder is not
# built at test time, SMIS issue #8). Mixing builds a latent whose class c comes from source `choice[c]`.

# %%
photo_a = scene
photo_b = next(s for s in (data.sample(i) for i in range(20, 64))
               if (s.label == CLASSES.index("sky")).any() and s.styles["sky"]["mode"] != scene.styles["sky"]["mode"])
ea = pipe.encode(photo_a.image, photo_a.label)
eb = pipe.encode(photo_b.image, photo_b.label)
mixed = pipe.mix_appearance(photo_a.label, [ea.z, eb.z], {"sky": 1})  # sky from B, the rest from A
show_row([photo_a.image, ea.image, photo_b.image, mixed.image],
         ["photo A", "A re-generated from its codes", "photo B", "A with B's sky"], "07_encode_and_mix")

# %% [markdown]
# ### 4c. Style morphing, with a live slider
#
# $z_c(t) = (1 - t)\,z^A_c + t\,z^B_c$ for the chosen class, every other class keeps $z^A$. A `Morpher` computes
# CG-Norm's label-map branch once; each slider position then runs only the code path.
#
# The widgets: pick a **class**, move the **slider**, press **resample** for a new target style B.

# %%
import ipywidgets
from IPython.display import display

from synthkit.widgets import class_dropdown, to_png

present_names = [CLASSES[k] for k in np.unique(scene.label)]
state = {"z_b": eb.z, "seed": 100}
morpher = pipe.morpher(scene.label, ea.z, state["z_b"], cls="sky")
picker = class_dropdown(present_names, value="sky", description="class")  # .value: index into present_names
slider = ipywidgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="A → B",
                                continuous_update=True)
resample = ipywidgets.Button(description="resample B")
view = ipywidgets.Image(value=to_png(morpher(0.0)), width=256)


def rebuild(*_):
    global morpher
    morpher = pipe.morpher(scene.label, ea.z, state["z_b"], cls=present_names[picker.value])
    view.value = to_png(morpher(slider.value))


def on_resample(_):
    state["seed"] += 1
    state["z_b"] = pipe.random_latent(state["seed"]).cpu()
    rebuild()


picker.observe(rebuild, names="value")
slider.observe(lambda change: setattr(view, "value", to_png(morpher(change["new"]))), names="value")
resample.on_click(on_resample)
display(ipywidgets.VBox([ipywidgets.HBox([picker, resample]), slider, view]))

# %%
ts = [0.0, 0.25, 0.5, 0.75, 1.0]
frames = [morpher(t) for t in ts]
same = all(np.array_equal(f, pipe.morph(scene.label, ea.z, state["z_b"], t, cls=present_names[picker.value]).image)
           for f, t in zip(frames[::2], ts[::2]))
print("cached frames equal the full forward:", same)
show_row(frames, [f"t = {t}" for t in ts], "08_morph_strip", size=2.2)

# %% [markdown]
# ### 4d. Semantic manipulation
#
# Edit the label map, keep the codes: the edited region takes whatever code z holds for the class painted there.

# %%
edited = pipe.manipulate(scene.label, ea.z, edits=[((W // 8, H // 2, W // 2, H - H // 8), "building")])
show_row([colorize(scene.label, pal), ea.image, colorize(edited.label, pal), edited.image],
         ["map", "codes of photo A", "edited map", "same codes"], "09_manipulation")

# %% [markdown]
# ## 5. Measuring per-class control: mCSD and mOCD
#
# For a map L and a class c, generate K images that differ **only in z_c**, and compare every pair with LPIPS:
# inside c's mask (**CSD**, class-specific diversity: higher means c really varies) and outside it (**OCD**,
# other-classes diversity: lower means the rest stays put). mCSD / mOCD average over classes and maps (paper Sec.
# 4). The paper does not pin the masking protocol; `synthkit.metrics.diversity` records its choices in each result.
# With the offline backbone (no network) the numbers are **not comparable** to the paper's; compare models here.

# %%
from synthkit.metrics.diversity import mcsd_mocd

n_maps, k_samples = (1, 2) if FAST else (8, 5)
maps = [data.sample(i).label for i in range(n_maps)]
scores = mcsd_mocd(pipe.model, maps, num_samples=k_samples, class_names=pipe.class_names)
for key in ("mcsd", "mocd", "ratio"):
    r = scores[key]
    print(f"{key:6s} {r.value:.4f}   backend={r.backend}  n={r.n}  comparable_to_paper={r.comparable_to_paper}")
per_c = scores["mcsd"].extra["per_class"]
per_o = scores["mocd"].extra["per_class"]
fig, ax = plt.subplots(figsize=(7, 2.8))
names = list(per_c)
ax.bar(np.arange(len(names)) - 0.2, [per_c[n] for n in names], 0.4, label="CSD (inside c)")
ax.bar(np.arange(len(names)) + 0.2, [per_o[n] for n in names], 0.4, label="OCD (outside c)")
ax.set_xticks(range(len(names)))
ax.set_xticklabels(names, rotation=45, fontsize=8)
ax.legend()
ax.set_title(f"per-class diversity, {MODEL_NAME}", fontsize=9)
save_fig(fig, "10_csd_ocd")
plt.show()

# %% [markdown]
# ## 6. The ground-truth check: does z_c control class c's recorded style?
#
# LPIPS says *something* changed inside the mask. Toyscapes can say *what*: each class's appearance **mode** (sky:
# day / sunset / ...) is drawn independently and recorded. So: encode photos A and B, give A class c's code from B,
# and ask a simple classifier (nearest mean colour per (class, mode), fitted on real images) whether class c now
# shows **B's** mode, and whether every other class kept the mode it had in A's reconstruction.

# %%
from synthkit.metrics.diversity import fit_mode_prototypes, mode_transfer

protos = fit_mode_prototypes(size=H, n_train=60 if FAST else 300, n_check=20 if FAST else 100)
n_pairs = 3 if FAST else 30
pairs = [(data.sample(2 * i), data.sample(2 * i + 1)) for i in range(n_pairs)]
check = mode_transfer(pipe, pairs, protos)
print(f"prototype classifier accuracy on real photos: {check['prototype_accuracy_real']:.2f}")
print(f"trials: {check['trials']}")
print(f"class c shows B's mode after the swap: {check['transfer_rate']:.2f}  "
      f"(it did before the swap, by chance: {check['baseline_rate']:.2f})")
print(f"other classes keep their mode:          {check['others_kept_rate']:.2f}")
print(f"reconstruction shows A's recorded mode: {check['recon_rate']:.2f}")

# %% [markdown]
# Read it as a table of claims: *transfer rate* well above the chance baseline means z_c carries class c's style;
# *others kept* near 1 means it carries nothing else. A model that fails the second test is not really per-class;
# one that passes the second but stays near the baseline in the first keeps classes apart but has not learned to
# put their styles into the codes. Compare your numbers (a small sample in fast mode) with the measured figures
# printed in section 4.
#
# ## 7. Your own data, and the authors' weights (Colab)
#
# **Dataset folders.** The official code reads these layouts (SMIS `data/*_dataset.py`):
#
# | dataset | images | label maps | classes | size |
# |---|---|---|---|---|
# | DeepFashion (SMIS release) | `<root>/{train,test}/*.jpg` | `<root>/cihp_{train,test}_mask/*.png` (8 ids) | 8 | 256x256 |
# | Cityscapes | `<root>/leftImg8bit/<split>/<city>/*_leftImg8bit.png` | `<root>/gtFine/<split>/<city>/*_gtFine_labelIds.png` | 35 (+ instance edges) | 512x256 |
# | ADE20K | `<root>/images/{training,validation}/*.jpg` | `<root>/annotations/{training,validation}/*.png` | 151 | 256x256 |
#
# `synthkit.data.folders.pairs_from_folder` lists (image, label) pairs for a layout, and `FolderDataset` yields the batches the
# training task expects (`image` in [-1, 1], `seg` one-hot). In this notebook it runs on a small folder written
# from Toyscapes in the DeepFashion layout; on Colab, mount Drive and point `DATA_ROOT` at the real folder.

# %%
from PIL import Image

from synthkit.data.folders import FolderDataset, pairs_from_folder

DATA_ROOT = Path(os.environ.get("SMIS_DATA_ROOT", "runs/smis_nb/fake_deepfashion"))
if not os.environ.get("SMIS_DATA_ROOT"):  # write a small stand-in folder in the DeepFashion layout
    for i in range(8):
        s = data.sample(i)
        (DATA_ROOT / "train").mkdir(parents=True, exist_ok=True)
        (DATA_ROOT / "cihp_train_mask").mkdir(parents=True, exist_ok=True)
        Image.fromarray(s.image).save(DATA_ROOT / "train" / f"{i:05d}.jpg", quality=95)
        Image.fromarray(s.label).save(DATA_ROOT / "cihp_train_mask" / f"{i:05d}.png")
folder_pairs = pairs_from_folder(DATA_ROOT, "deepfashion", "train")
folder_set = FolderDataset(folder_pairs, size=(32, 32), num_classes=12)
batch = folder_set[0]
print(len(folder_set), "pairs |", {k: tuple(v.shape) for k, v in batch.items()})

# %% [markdown]
# Training on the folder is the same loop given the folder's dataset (`train(task, cfg, dataset=folder_set)`) (for real data: the `deepfashion`,
# `cityscapes` or `ade20k` preset, `num_classes` of the dataset, a GPU, and many more steps). Two steps, to show
# it runs:

# %%
task_f, cfg_f = resolve_task("smis", "tiny_test", {})
cfg_f = dataclasses.replace(cfg_f, steps=2, log_every=1, sample_every=2, ckpt_every=2, n_samples=2,
                            out_dir="runs/smis_nb/folder", progress=False)
shutil.rmtree(cfg_f.out_dir, ignore_errors=True)
print(train(task_f, cfg_f, dataset=folder_set)[-1])

# %% [markdown]
# **The authors' weights.** The official checkpoints (`latest_net_G.pth`, and `latest_net_E.pth` if the archive
# has it) are in the Google Drive folder linked from the SMIS README; they cannot be fetched from here. On Colab,
# upload them (or mount Drive) and convert them once into a synthkit folder; the converter reads the `.pth` with
# `torch.load(weights_only=True)` (no pickled code runs) and writes `config.json` + `model.safetensors`:
#
# ```bash
# synthkit convert smis latest_net_G.pth --encoder latest_net_E.pth --out weights/smis-deepfashion
# ```
#
# Then `load_smis("weights/smis-deepfashion")` gives the same pipeline as above, with the 8 DeepFashion classes
# (the converter reads the architecture from the checkpoint: Cityscapes, ADE20K or your own run convert the same way,
# with the run's `opt.txt` beside the `.pth` for its image size). At 256x256 and 96M parameters a CPU forward takes seconds.

# %%
G_PTH = Path(os.environ.get("SMIS_G_PTH", "latest_net_G.pth"))
if G_PTH.is_file():
    import subprocess

    E_PTH = G_PTH.with_name("latest_net_E.pth")
    cmd = ["synthkit", "convert", "smis", str(G_PTH), "--out", "weights/smis-deepfashion"]  # architecture read from the file
    if E_PTH.is_file():
        cmd[4:4] = ["--encoder", str(E_PTH)]
    subprocess.run(cmd, check=True)
    official = load_smis("weights/smis-deepfashion", device="cpu")
    print("loaded the authors' generator:", official.image_size, official.class_names)
else:
    print(f"{G_PTH} not found: download the official checkpoint (see above) to use the authors' weights.")

# %% [markdown]
# ## 8. Exercises
#
# The first three end with a `course.check_...` call that says **Right** or **Not yet**, and why; the checks
# recompute the answer from the architecture or the pipeline. Solutions are in the collapsed cells that start
# `if course.SOLUTIONS:` (they run only with `SYNTHKIT_SOLUTIONS=1`, so running all cells never overwrites your
# answer). The others are open questions.
#
# 1. **Where do two classes meet?** From `cfg128.block_groups` and the rule of section 2 (class c's channels sit in
#    group c // (C / G) of a block with G groups), find the first block in which `cloud` can change the sky's
#    channels, and the first for `car` (the channel probe of section 2 shows it, with `cloud` or `car` in place of
#    `sky`).
# 2. **Resample one class.** Write `resample(z, c, seed)` returning a *new* z in which only class c's code is redrawn
#    from N(0, I) (seeded), the others kept.
# 3. **The morph code.** Write `morph_code(z_a, z_b, t, c)`: the code that `pipe.morph` generates from at `t` when
#    only class c morphs.
#
# Open questions:
#
# 4. **Group decreasing, measured.** Re-run the channel probe of section 2 with `cloud` (class 1) and with `car`
#    (class 11). Which block first lets each one touch the sky's channels? Then build a config with
#    `block_groups=(1, 1, 1, 1, 1, 1)` (plain SPADE-like convs) and compare the figure, and the mOCD of section 5
#    after training both for the same number of steps: what does grouping buy?
# 5. **The cache.** Time `pipe.generate(z, seg)` against `pipe.generate(z, norm_cache=cache)` with
#    `cache = pipe.model.precompute_norm_params(seg)` for 20 ticks. Which part of the network is skipped, and why is
#    the output identical, not approximately equal? (Hint: `CGNorm.modulation` in eval mode.)
# 6. **Where does a class's style leak?** For one map, compute the per-pixel LPIPS map between two images that
#    differ only in z_sky (`synthkit.metrics.lpips.LPIPS(...).spatial`, or `backbone.lpips_like(..., spatial=True)`)
#    and overlay it on the sky mask. Is the leak at boundaries (the 3x3 convs) or everywhere (the last, ungrouped
#    blocks)?
# 7. **Ground truth beats LPIPS.** Find a class whose CSD is high but whose mode *transfer rate* is low. What is z_c
#    changing for that class, if not its mode? Look at `scene.styles` for the continuous jitters Toyscapes records.
# 8. **Morph in code space, or in image space?** Compare the morph strip with a plain cross-fade
#    `(1 - t) * image_A + t * image_B` inside the class mask. Which one passes through plausible images?
# 9. **A better checkpoint.** The bundled model's card suggests more steps and a smaller KL weight
#    (`--set lambda_kld=0.005`) to keep the codes informative. On a GPU (Colab), train
#    `synthkit train smis --preset toyscapes64 --steps 20000 --set lambda_kld=0.005 --out runs/smis64`, load
#    `runs/smis64/model` with `load_smis`, and re-run sections 4-6: does the mode *transfer rate* beat its baseline?

# %%
from synthkit import course

answer_cloud, answer_car = None, None  # exercise 1: block indices


def resample(z, c, seed):
    raise NotImplementedError("exercise 2: your code here")


def morph_code(z_a, z_b, t, c):
    raise NotImplementedError("exercise 3: your code here")


# %% tags=["solution"] jupyter={"source_hidden": true}
if course.SOLUTIONS:
    def first_shared(a, b, groups=cfg128.block_groups, C=cfg128.num_classes):
        return next(l for l, G in enumerate(groups) if a // (C // G) == b // (C // G))

    answer_cloud = first_shared(CLASSES.index("cloud"), CLASSES.index("sky"))
    answer_car = first_shared(CLASSES.index("car"), CLASSES.index("sky"))

    def resample(z, c, seed):  # noqa: F811 - the solutions replace the stubs above
        out = z.clone()
        out[:, c] = torch.randn(out[:, c].shape, generator=torch.Generator().manual_seed(seed)).to(z.device)
        return out

    def morph_code(z_a, z_b, t, c):  # noqa: F811
        out = z_a.clone()
        out[:, c] = (1 - t) * z_a[:, c] + t * z_b[:, c]
        return out

# %%
sky = CLASSES.index("sky")
course.show(course.check_first_mixing_block(answer_cloud, cfg128, CLASSES.index("cloud"), sky, CLASSES))
course.show(course.check_first_mixing_block(answer_car, cfg128, CLASSES.index("car"), sky, CLASSES))
course.show(course.check_resample_class(resample, pipe.random_latent(0), sky))
course.show(course.check_morph_code(morph_code, pipe.random_latent(0), pipe.random_latent(1), sky))
