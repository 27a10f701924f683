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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/synthkit-cvpr20/synthkit/blob/main/notebooks/05_image2stylegan.ipynb)
#
# # 05 · Image2StyleGAN++: embedding images into StyleGAN2, and editing them there
#
# Abdal, Qin, Wonka, *Image2StyleGAN++: How to Edit the Embedded Images?*, CVPR 2020 (arXiv 1911.11544), on the
# StyleGAN2 generator (Karras et al., CVPR 2020).
#
# A GAN maps a latent code to an image. *Embedding* goes back: given a photo, find the code whose image is the
# photo. Image2StyleGAN showed that StyleGAN's extended space **W+** (one style vector per layer) reconstructs far
# better than W (one vector for all layers); Image2StyleGAN++ adds the per-layer **noise maps**, **masks** in the
# loss, and edits of the **activations**. In this notebook:
#
# 1. StyleGAN2's synthesis path: where w, W+ and the noise enter;
# 2. the **noise-map inspector**: zero one resolution's noise and look;
# 3. **embedding**: W+ only, W+ then noise (the paper's sequential schedule), and both at once;
# 4. the **masked loss**, one mechanism for every application, drawn as masks;
# 5. the applications: inpainting, crossover, local style transfer, scribble edit, activation blending;
# 6. the PSNR table, exercises with checkable answers, and the switch to FFHQ weights on Colab.
#
# The generator is synthkit's small StyleGAN2 trained on 64×64 Toyscapes on a CPU, and the perceptual loss uses the
# offline Toyscapes backbone instead of VGG-16: the mechanics are the paper's, the numbers are not comparable.

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
STEPS_W, STEPS_NOISE = by_mode((40, 30), (300, 200), (1500, 1000))


def show_row(images, titles, name=None, size=2.0):
    """A row of images (uint8 [H, W, 3] or [-1, 1] tensors) with titles; saved as `name` if given."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size + 0.4))
    for ax, im, title in zip(np.atleast_1d(axes), images, titles):
        im = im if isinstance(im, np.ndarray) else to_uint8(im.reshape(-1, *im.shape[-3:])[0].clamp(-1, 1))
        ax.imshow(im, interpolation="nearest", cmap=None if im.ndim == 3 else "gray")
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
# ## 1. The synthesis path
#
# `z ~ N(0, I)` goes through the **mapping network** (**pixel norm**: divide `z` by its root mean square; then a
# few linear layers with an **equalized learning rate**: weights stored at unit scale and multiplied by their
# He-init constant at run time, so Adam moves every layer at the same pace) to `w`. The synthesis network starts from a learned 4×4 constant; at every resolution one *up-conv* and one conv,
# each **modulated** by its own style `s = A(w)` (Eq. 1: scale the weights' input channels by `s`; Eq. 3: divide
# each output filter by its norm, *demodulation*), then **noise**: `x + B · n` with one noise map `n` per layer. A
# 1×1 *tRGB* per resolution adds to the upsampled RGB of the previous one (the skip generator).
#
# So a 64×64 generator has 10 style inputs (W+ is `[10, style_dim]`: one row per modulated conv and tRGB) and 9 noise
# maps (4², 8², 8², ... 64²). A single `w` repeated 10 times is a point of W; any 10 rows are a point of W+.

# %%
from synthkit.pipelines.image2stylegan import load_image2stylegan

pipe = load_image2stylegan(device="cpu")  # the bundled "stylegan2-toyscapes64" and the offline backbone
G = pipe.G
cfg = G.config
print(f"{cfg.image_size}x{cfg.image_size}: W+ has {cfg.n_latent} rows of {cfg.style_dim}, {cfg.num_noise} noise maps",
      [f"{r}²" for r in G.noise_sizes()])
with torch.no_grad():
    z = torch.randn(6, cfg.style_dim, generator=torch.Generator().manual_seed(0))
    samples = G(z, noise="const").clamp(-1, 1)
show_row(list(samples), [f"z #{i}" for i in range(6)], "01_samples")

# %%
# Where the style rows go: each row of W+ drives one layer. Swap the rows of two samples from row k on.
with torch.no_grad():
    w = G.map(z[:2])[:, None].repeat(1, cfg.n_latent, 1)  # [2, n_latent, style_dim]
    rows = []
    for k in (0, 2, 4, 6, 8, cfg.n_latent):
        mixed = torch.cat([w[:1, :k], w[1:, k:]], 1)  # rows < k from sample 0, the rest from sample 1
        rows.append(G.synthesis(mixed, "const").clamp(-1, 1))
show_row(rows, [f"rows < {k} from A" for k in (0, 2, 4, 6, 8, cfg.n_latent)], "02_style_mixing_rows")

# %% [markdown]
# Early rows (4×4, 8×8) carry the layout, late rows the colours and texture: that is why W+ can fit images that no
# single `w` makes, and why editing W+ rows one resolution at a time is meaningful.
#
# ## 2. The noise-map inspector
#
# The noise adds per-pixel detail. Zero the noise of one resolution and see what changes.

# %%
with torch.no_grad():
    w0 = G.map(z[2:3])[:, None].repeat(1, cfg.n_latent, 1)
    base_noise = G.noise_maps("const", 1)
    ref = G.synthesis(w0, base_noise).clamp(-1, 1)
    panels, titles = [ref], ["all noise"]
    for res in sorted(set(G.noise_sizes())):
        noise = [torch.zeros_like(n) if n.shape[-1] == res else n for n in base_noise]
        out = G.synthesis(w0, noise).clamp(-1, 1)
        panels.append(((out - ref).abs().mean(1) * 4).clamp(0, 1)[0].numpy())  # where it changed
        titles.append(f"|change|, no {res}² noise")
show_row(panels, titles, "03_noise_inspector")
strengths = [round(float(c.noise.weight), 3) for c in (G.conv4, *G.convs)]
print("learned noise strength per layer:", strengths)

# %% [markdown]
# ## 3. Embedding: W+ first, then the noise
#
# Embedding optimises the inputs, never the weights. The loss compares the generated image with the target:
# the **MSE** (mean squared error over the pixels) plus a perceptual term (backbone features; 00 defines it). How
# close a result is we report as **PSNR**, the peak signal-to-noise ratio $10 \log_{10}(\text{range}^2 /
# \text{MSE})$ in decibels (images in [-1, 1]: range 2): higher is closer, and each 10 dB is a tenth of the MSE. The paper's schedule is **sequential**: first W+ (from the mean
# w, noise frozen), then the noise maps (W+ frozen, MSE only, a much larger learning rate). Optimising both from the
# start (**joint**, what many projectors do) lets the noise explain the image before W+ has found the layout.

# %%
from synthkit.data.toyscapes import ToyscapesDataset

test = ToyscapesDataset(size=cfg.image_size, length=8, split="test", seed=0)  # held-out scenes
x = test[1]["image"][None]
runs = {
    "W+ only": pipe.embed(x, steps_w=STEPS_W, steps_noise=0),
    "W+ then noise": pipe.embed(x, steps_w=STEPS_W, steps_noise=STEPS_NOISE),
    "joint": pipe.embed(x, steps_w=STEPS_W, steps_noise=STEPS_NOISE, schedule="joint"),
    "one w, then noise": pipe.embed(x, steps_w=STEPS_W, steps_noise=STEPS_NOISE, space="w"),
}
show_row([x] + [r.image for r in runs.values()],
         ["target"] + [f"{k}\n{r.psnr:.1f} dB" for k, r in runs.items()], "04_embeddings")
fig, ax = plt.subplots(figsize=(6, 3))
for name, r in runs.items():
    ax.plot([h["mse"] for h in r.history], label=name)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("MSE term")
ax.legend(fontsize=8)
save_fig(fig, "05_loss_curves")
plt.show()

# %% [markdown]
# What the noise buys, and what it costs: the noise maps reconstruct detail W+ cannot, but that detail is glued to
# pixel positions. Edit W+ after embedding (below: move it towards the mean w) and the noise no longer fits.

# %%
emb = runs["W+ then noise"]
with torch.no_grad():
    w_mean = pipe.mean_w()[:, None]
    edited = []
    for t in (0.0, 0.3, 0.6):
        w_t = emb.wplus + t * (w_mean - emb.wplus)
        edited.append(G.synthesis(w_t, emb.noise).clamp(-1, 1))
        edited.append(G.synthesis(w_t, "const").clamp(-1, 1))
show_row(edited, [f"{t:.1f} to mean, {n}" for t in (0.0, 0.3, 0.6) for n in ("fitted noise", "stored noise")],
         "06_edit_with_and_without_noise")

# %% [markdown]
# ## 4. One masked loss for every application
#
# $$L = \lambda_s L_{style}(M_s \odot G, M_s \odot y) + \lambda_{mse}\|M_m \odot (G - x)\|^2
#       + \lambda_{mse2}\|(1 - M_m) \odot (G - y)\|^2 + \lambda_p L_{percept}(M_p \odot G, M_p \odot x)$$
#
# `x` is the image to match, `y` a second image, $G$ the generated image. $M_m$, $M_p$, $M_s$ are masks (1 where
# the term applies): the MSE to `x` counts inside $M_m$ and the MSE to `y` outside it; $L_{percept}$ is the
# perceptual loss inside $M_p$; $L_{style}$ compares **Gram matrices** inside $M_s$ (for a layer's features $f$,
# $\mathrm{Gram}_{ij} = \sum_p f_i(p) f_j(p)$ over the pixels $p$: which channels fire together, i.e. texture and
# colour, with the positions summed away). The applications only choose `x`, `y` and the masks (blurred so the
# seams do not show):

# %%
from synthkit.pipelines.image2stylegan import gaussian_blur

S = cfg.image_size
square = torch.zeros(1, 1, S, S)
square[..., S // 4: 3 * S // 4, S // 4: 3 * S // 4] = 1
left = torch.zeros(1, 1, S, S)
left[..., :, : S // 2] = 1
masks = {
    "inpaint: M_m = known": (1 - square)[0, 0].numpy(),
    "crossover: M_m (x inside)": gaussian_blur(left, 2.0)[0, 0].numpy(),
    "style: M_s (style of y)": gaussian_blur(square, 2.0)[0, 0].numpy(),
    "style: M_m = M_p (content)": (1 - gaussian_blur(square, 2.0))[0, 0].numpy(),
}
show_row(list(masks.values()), list(masks), "07_masks")

# %% [markdown]
# ## 5. The applications

# %%
a, b = test[1]["image"][None], test[4]["image"][None]
hole = square[0, 0].numpy()
results = {
    "inpaint": pipe.inpaint(a, hole, steps_w=STEPS_W, steps_noise=STEPS_NOISE),
    "crossover (a left)": pipe.crossover(a, b, left[0, 0].numpy(), steps_w=STEPS_W, steps_noise=STEPS_NOISE),
    "style of b inside": pipe.local_style_transfer(a, b, hole, steps_w=STEPS_W, steps_noise=0),
}
scribbled = a.clone()
scribbled[..., 8:20, 8:40] = torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1)  # a red stroke
stroke = torch.zeros(S, S)
stroke[8:20, 8:40] = 1
results["scribble edit"] = pipe.scribble_edit(a, scribbled, stroke.numpy(), steps_w=STEPS_W, steps_noise=0)
emb_a, emb_b = runs["W+ then noise"], pipe.embed(b, steps_w=STEPS_W, steps_noise=STEPS_NOISE)
results["activation blend 16²"] = pipe.activation_blend(emb_a, emb_b, left[0, 0].numpy(), resolution=16)
show_row([a, b, scribbled] + [r.image for r in results.values()],
         ["a", "b", "a + scribble"] + list(results), "08_applications")

# %% [markdown]
# The activation blend edits no latent: it runs both embeddings to the synthesis block of resolution $r$, mixes
# their feature maps (activation tensors) $A_r$ there with the blurred mask $M_r$ (resized to $r \times r$), and
# continues the forward pass from the mix with a's $W^+$ and noise $n_a$:
#
# $$A_r \leftarrow M_r \odot A_r(w^+_a, n_a) + (1 - M_r) \odot A_r(w^+_b, n_b).$$
#
# `pipe.activation_blend(emb_a, emb_b, mask, resolution=r)` is that line (the `edit` hook of `G.synthesis`). Scrub
# through it at every resolution: blending at 4² or 8² mixes *layouts*, at 32² or 64² only textures.

# %%
from synthkit.widgets import image_scrubber

blends = [pipe.activation_blend(emb_a, emb_b, left[0, 0].numpy(), resolution=r).image
          for r in (4, 8, 16, 32, 64)]
image_scrubber(blends, description="resolution", labels=["4²", "8²", "16²", "32²", "64²"], width=256)

# %% [markdown]
# ## 6. The PSNR table
#
# `python benchmarks/eval_image2stylegan.py` measures these over held-out images, plus ground-truth inversion
# (images generated from known W+ and noise), and inpainting against a mean fill and a W-only embedding; its table is
# in `benchmarks/results/image2stylegan.md`. The paper reports about 20 dB for W+ alone and 45 dB with noise at
# 1024² on FFHQ with StyleGAN v1; our 64² Toyscapes model is far smaller, so compare the *order*, not the values.

# %%
for name, r in runs.items():
    print(f"{name:>20}: {r.psnr:5.2f} dB")

# %% [markdown]
# ## Exercises
#
# Each exercise ends with a `course.check_...` call that says **Right** or **Not yet**, and why. The checks recompute
# the answer from the model in front of you, so they stay true if the bundled model is retrained. Solutions are in
# the collapsed cells that start `if course.SOLUTIONS:` (expand one to read it; it runs only with
# `SYNTHKIT_SOLUTIONS=1`, so running all cells never overwrites your answer).
#
# 1. **The mean w.** `pipe.mean_w()` averages 10 000 mapped `z`. Is the image of the mean w closer (in MSE) to the
#    average of many generated images than a random sample is? Run the cell: the assert is the check.
# 2. **The noise that matters.** (a) Write `zero_noise(noise, resolution)` returning a *new* list in which every map of
#    side `resolution` is zeros and the others are unchanged. (b) Using it on the sequential embedding
#    `runs["W+ then noise"]`, find the resolution whose noise, zeroed, costs the most PSNR.
# 3. **Noise learning rate.** The ports use lr 5 for the noise stage. Of 0.05, 5 and 50, which one drives the noise
#    maps furthest from the unit Gaussian they started as (the noise then *is* the image: overfitting)? Predict, then
#    check (the check runs three short noise-only embeddings).

# %%
with torch.no_grad():
    many = G(torch.randn(256, cfg.style_dim, generator=torch.Generator().manual_seed(1)), noise="const").clamp(-1, 1)
    avg = many.mean(0, keepdim=True)
    at_mean = G.synthesis(pipe.mean_w()[:, None].repeat(1, cfg.n_latent, 1), "const").clamp(-1, 1)
    mse_mean = float((at_mean - avg).pow(2).mean())
    mse_rand = float((many[:16] - avg).pow(2).mean())
print(f"MSE to the average image: mean w {mse_mean:.4f}, random samples {mse_rand:.4f}")
assert mse_mean < mse_rand, "exercise 1: the mean w should look like the average image"

# %%
from synthkit import course


def zero_noise(noise, resolution):
    raise NotImplementedError("exercise 2a: your code here")


answer_2b = None  # exercise 2b: a resolution, e.g. 16

# %% tags=["solution"] jupyter={"source_hidden": true}
if course.SOLUTIONS:
    def zero_noise(noise, resolution):  # noqa: F811 - the solution replaces the stub above
        return [torch.zeros_like(n) if n.shape[-1] == resolution else n for n in noise]

    drops = course.noise_psnr_drops(pipe, runs["W+ then noise"], x)
    answer_2b = max(drops, key=drops.get)

# %%
seq = runs["W+ then noise"]
course.show(course.check_zero_noise(zero_noise, seq))
course.show(course.check_noise_that_matters(answer_2b, pipe, seq, x))

# %%
answer_3 = None  # exercise 3: 0.05, 5 or 50

# %% tags=["solution"] jupyter={"source_hidden": true}
if course.SOLUTIONS:  # the largest steps move the maps furthest from N(0, 1)
    answer_3 = 50

# %%
course.show(course.check_noise_lr(answer_3, pipe, x))

# %% [markdown]
# ## On Colab: FFHQ weights
#
# The same code runs on a real StyleGAN2. Convert a rosinality-format FFHQ checkpoint (several Hub repositories
# publish `stylegan2-ffhq-config-f.pt`; check its sha256 against its repository's) and use the paper's VGG-16
# layers. Its licence carries over: NVIDIA's non-commercial StyleGAN2 licence and FFHQ's CC BY-NC-SA 4.0.
#
# ```python
# !synthkit convert stylegan2 ORG/NAME/stylegan2-ffhq-config-f.pt --sha256 <sha256> --out stylegan2-ffhq1024
# from synthkit.pipelines.image2stylegan import load_image2stylegan
# pipe = load_image2stylegan("stylegan2-ffhq1024", backbone="vgg16", device="cuda")
# res = pipe.reconstruct("face.png", steps_w=5000, steps_noise=1000)   # the port's iterations
# ```
