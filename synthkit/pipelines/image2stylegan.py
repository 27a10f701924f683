"""Image2StyleGAN++ (Abdal, Qin, Wonka, CVPR 2020, arXiv 1911.11544): embed an image into StyleGAN2's W+ and
noise space, then edit the embedding. There is no official code; this follows the paper and the ports compared in
``../shared/docs/papers/pyramid_3d_i2s.md``.

**One loss, masks decide the application** (paper Sec. 3)::

    L(W+, n) = l_s * L_style(M_s * G, M_s * y) + l_mse * || M_m * (G - x) ||^2 + l_mse2 * || (1 - M_m) * (G - y) ||^2
               + l_p * L_percept(M_p * G, M_p * x)

x is the image to embed, y a second image (crossover, inpainting's first pass, style source), M_m / M_p / M_s the
MSE, perceptual and style masks (Gaussian-blurred by the applications so seams do not show).

**Sequential schedule** (the paper's key finding): stage 1 optimises W+ (from the mean w) with the noise frozen,
stage 2 optimises the noise maps with W+ frozen, on the MSE terms only, with a much higher learning rate (a port's
Adam lr: 0.01 for W+, 5 for noise). ``schedule="joint"`` optimises both at once from the start, as rosinality's and
NVIDIA's projectors do, so the claim can be checked.

Applications (each returns an :class:`EmbedResult`: image, W+, noise, loss history, PSNR, notes):
``reconstruct``, ``inpaint``, ``crossover``, ``local_style_transfer``, ``scribble_edit``, and
``activation_blend`` (two embeddings' feature maps mixed under a mask at one synthesis resolution).

Perceptual and style features: the offline Toyscapes backbone by default (its relu1..relu4 taps; the paper uses
VGG-16 conv1_1, conv1_2, conv3_2, conv4_2 on 256x256 images: ``backbone="vgg16"`` selects those).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthkit.inputs import to_rgb_float
from synthkit.metrics.reconstruction import psnr
from synthkit.models.stylegan2 import StyleGAN2Generator
from synthkit.viz import to_uint8

DEFAULT_MODEL = "stylegan2-toyscapes64"
Schedule = Literal["sequential", "joint"]
VGG_LAYERS = ("relu1_1", "relu1_2", "relu3_2", "relu4_2")  # the ports' VGG-16 perceptual taps


@dataclass
class EmbedResult:
    image: np.ndarray  # uint8 [H, W, 3] of G(W+, noise)
    wplus: Tensor  # [1, n_latent, style_dim]
    noise: list[Tensor]  # one [1, 1, h, h] map per layer
    history: list[dict[str, float]] = field(default_factory=list)  # per step: stage, step, each loss term
    psnr: float | None = None  # dB against x where M_m = 1 (the whole image for a reconstruction)
    notes: list[str] = field(default_factory=list)
    tensor: Tensor | None = None  # the image as [1, 3, H, W] in [-1, 1]


def gaussian_blur(mask: Tensor, sigma: float) -> Tensor:
    """Blur a mask [B, 1, H, W] with a separable Gaussian (reflect padding); sigma 0 returns it unchanged."""
    if sigma <= 0:
        return mask
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=mask.dtype, device=mask.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    pad = min(radius, mask.shape[-1] - 1, mask.shape[-2] - 1)
    x = F.pad(mask, (pad, pad, pad, pad), mode="reflect") if pad > 0 else mask
    x = F.conv2d(F.pad(x, (radius - pad, radius - pad, 0, 0)), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius - pad, radius - pad)), k.view(1, 1, -1, 1))


def gram(f: Tensor) -> Tensor:
    """Gram matrix of features [B, C, h, w] -> [B, C, C], normalised by C h w (Gatys et al.)."""
    B, C, h, w = f.shape
    f = f.reshape(B, C, h * w)
    return f @ f.transpose(1, 2) / (C * h * w)


class Image2StyleGANPipeline:
    """A StyleGAN2 generator (eval, frozen) and the feature backbone of the perceptual / style losses."""

    def __init__(self, G: StyleGAN2Generator, backbone: Any = "toyscapes"):
        if not isinstance(G, StyleGAN2Generator):
            raise TypeError(f"Image2StyleGANPipeline needs a StyleGAN2Generator, got {type(G).__name__}")
        self.G = G.eval().requires_grad_(False)
        if isinstance(backbone, str):
            from synthkit.backbones import load_backbone

            backbone = load_backbone(backbone)
        self.backbone = backbone.eval().requires_grad_(False).to(G.const.device) if backbone is not None else None
        names = tuple(getattr(self.backbone, "layer_names", ()) or ())
        if self.backbone is None:
            self.layers: tuple[str, ...] = ()
        elif all(n in names for n in VGG_LAYERS):
            self.layers = VGG_LAYERS
        else:
            self.layers = tuple(self.backbone.perceptual_layers[:4])
        self.style_layer = self.layers[len(self.layers) // 2] if self.layers else None
        self._w_mean: Tensor | None = None

    @property
    def image_size(self) -> int:
        return self.G.config.image_size

    def mean_w(self) -> Tensor:
        if self._w_mean is None:
            self._w_mean = self.G.mean_w(10_000)
        return self._w_mean

    # ---- inputs ----------------------------------------------------------------------------------------------
    def prepare_image(self, image: Any, what: str = "image") -> tuple[Tensor, list[str]]:
        """Any accepted image -> [1, 3, S, S] in [-1, 1]: centre-cropped to a square and resized, said in notes."""
        notes: list[str] = []
        a = to_rgb_float(image, what, notes)
        h, w = a.shape[:2]
        if h != w:
            s = min(h, w)
            top, left = (h - s) // 2, (w - s) // 2
            a = a[top:top + s, left:left + s]
            notes.append(f"{what}: {w}x{h} is not square; centre-cropped to {s}x{s}")
        x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None] * 2 - 1
        S = self.image_size
        if x.shape[-1] != S:
            notes.append(f"{what}: resized from {x.shape[-1]}x{x.shape[-1]} to {S}x{S}, the generator's size")
            x = F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False, antialias=True)
        return x.clamp(-1, 1), notes

    def prepare_mask(self, mask: Any, what: str = "mask", image_hw: tuple[int, int] | None = None) -> Tensor:
        """A mask (bool / 0-1 / 0-255 array [H, W], tensor, or PIL) -> float [1, 1, S, S] in {0, 1} (nearest resize,
        centre-cropped like its image)."""
        if isinstance(mask, Tensor):
            m = mask.detach().float().cpu()
        else:
            from PIL import Image

            if isinstance(mask, Image.Image):
                mask = np.asarray(mask.convert("L"))
            m = torch.from_numpy(np.asarray(mask, dtype=np.float32).copy())
        while m.ndim > 2 and m.shape[0] == 1:
            m = m[0]
        if m.ndim == 3 and m.shape[-1] in (3, 4):  # an RGB(A) drawing: any painted channel counts
            m = m[..., :3].amax(-1)
        if m.ndim != 2:
            raise ValueError(f"{what}: expected a 2-D mask [H, W], got shape {tuple(m.shape)}")
        m = (m > (127 if m.max() > 1 else 0.5)).float()
        h, w = m.shape
        if h != w:
            s = min(h, w)
            m = m[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        S = self.image_size
        return F.interpolate(m[None, None], size=(S, S), mode="nearest")

    # ---- the loss --------------------------------------------------------------------------------------------
    def _features(self, x: Tensor) -> dict[str, Tensor]:
        return self.backbone.features(x, list(self.layers))

    def _loss(self, img: Tensor, x: Tensor, y: Tensor | None, m_mse: Tensor, m_p: Tensor | None,
              m_s: Tensor | None, lambdas: dict[str, float], feats_x: dict | None, gram_y: Tensor | None,
              mse_only: bool, outside: bool) -> tuple[Tensor, dict[str, Tensor]]:
        """The masked loss and its terms (detached tensors, left on the device: the caller reads them when it
        needs numbers, so a step does not wait for the GPU). ``outside``: M_m is 0 somewhere (decided once, on the
        host, before the loop)."""
        terms: dict[str, Tensor] = {}
        area = m_mse.mean().clamp_min(1e-8)
        terms["mse"] = lambdas["mse"] * ((img - x).pow(2) * m_mse).mean() / area  # MSE where M_m = 1
        if y is not None and lambdas["mse2"] > 0 and outside:
            terms["mse2"] = lambdas["mse2"] * ((img - y).pow(2) * (1 - m_mse)).mean() / (1 - m_mse).mean()
        if not mse_only and self.backbone is not None and (m_p is not None or m_s is not None):
            img_f = img.clamp(-1, 1)  # the backbone takes images in [-1, 1]; the MSE terms see the raw output
            f = self._features(img_f * m_p if m_p is not None else img_f)
            if m_p is not None and lambdas["perceptual"] > 0:
                terms["perceptual"] = lambdas["perceptual"] * sum(
                    F.mse_loss(f[n], feats_x[n]) for n in self.layers) / len(self.layers)
            if m_s is not None and gram_y is not None and lambdas["style"] > 0:
                fs = self.backbone.features(img_f * m_s, [self.style_layer])[self.style_layer]
                terms["style"] = lambdas["style"] * F.mse_loss(gram(fs), gram_y)
        total = sum(terms.values())
        return total, {k: v.detach() for k, v in terms.items()}

    # ---- the embedding ---------------------------------------------------------------------------------------
    def embed(
        self,
        image: Any,
        *,
        y: Any = None,
        mask_mse: Any = None,
        mask_perceptual: Any = None,
        mask_style: Any = None,
        steps_w: int = 300,
        steps_noise: int = 200,
        lr_w: float = 0.01,
        lr_noise: float = 5.0,
        schedule: Schedule = "sequential",
        lambda_mse: float = 1.0,
        lambda_mse2: float = 1.0,
        lambda_perceptual: float = 1.0,
        lambda_style: float = 0.0,
        w_rows: Sequence[int] | None = None,
        space: Literal["w+", "w"] = "w+",
        init_wplus: Tensor | None = None,
        init_noise: Sequence[Tensor] | None = None,
        callback: Callable[[str, int, dict[str, float], Tensor], bool | None] | None = None,
        callback_every: int = 25,
        progress: bool = False,
    ) -> EmbedResult:
        """Embed ``image`` (x) with the masked loss (module docstring) and the chosen schedule.

        Masks default to all ones (M_m, M_p) and off (M_s). ``w_rows``: only these rows of W+ move (the others
        stay at their start). ``space="w"``: one w shared by every layer (Image2StyleGAN's baseline: less exact,
        more editable). ``callback(stage, step, losses, image_tensor)`` every ``callback_every`` steps;
        returning True stops the embedding there (the result so far is returned, with a note).
        """
        if schedule not in ("sequential", "joint"):
            raise ValueError(f"schedule must be 'sequential' or 'joint', got {schedule!r}")
        if steps_w < 0 or steps_noise < 0 or steps_w + steps_noise == 0:
            raise ValueError("steps_w and steps_noise must be >= 0 and not both 0")
        G, dev = self.G, self.G.const.device
        x, notes = self.prepare_image(image)
        x = x.to(dev)
        y_t = None
        if y is not None:
            y_t, y_notes = (y.to(dev), []) if isinstance(y, Tensor) and y.ndim == 4 else self.prepare_image(y, "y")
            y_t = y_t.to(dev)
            notes += y_notes
        ones = torch.ones(1, 1, self.image_size, self.image_size)
        m_mse = ones if mask_mse is None else self._mask_tensor(mask_mse)
        if float(m_mse.sum()) == 0:  # checked where the mask was made (the CPU for arrays), before the loop
            raise ValueError("the MSE mask is empty: nothing of the image would be matched; paint a region")
        outside = bool((m_mse < 1).any())
        m_mse = m_mse.to(dev)
        m_p = ones.to(dev) if mask_perceptual is None else self._mask_tensor(mask_perceptual).to(dev)
        m_s = None if mask_style is None else self._mask_tensor(mask_style).to(dev)
        lambdas = {"mse": lambda_mse, "mse2": lambda_mse2, "perceptual": lambda_perceptual if self.layers else 0.0,
                   "style": lambda_style}
        with torch.no_grad():
            feats_x = self._features(x * m_p) if self.layers and lambdas["perceptual"] > 0 else None
            gram_y = None
            if m_s is not None and y_t is not None and self.style_layer and lambda_style > 0:
                gram_y = gram(self.backbone.features(y_t * m_s, [self.style_layer])[self.style_layer])

        start = init_wplus.detach().clone().to(dev) if init_wplus is not None else \
            self.mean_w()[:, None].repeat(1, G.config.n_latent, 1)
        if space not in ("w+", "w"):
            raise ValueError(f"space must be 'w+' or 'w', got {space!r}")
        wplus = (start[:, :1] if space == "w" else start).clone().requires_grad_(True)
        row_mask = None
        if w_rows is not None:
            row_mask = torch.zeros(1, G.config.n_latent, 1, device=dev)
            row_mask[:, list(w_rows)] = 1
        noise = [n.detach().clone().to(dev).requires_grad_(True) for n in
                 (init_noise if init_noise is not None else G.noise_maps("const", 1))]

        def current_wplus() -> Tensor:
            full = wplus.expand(-1, G.config.n_latent, -1) if space == "w" else wplus
            return full if row_mask is None else start + row_mask * (full - start)

        stages: list[tuple[str, int, list[dict], bool]]
        if schedule == "sequential":
            stages = [("w", steps_w, [{"params": [wplus], "lr": lr_w}], False),
                      ("noise", steps_noise, [{"params": noise, "lr": lr_noise}], True)]
        else:
            stages = [("joint", steps_w + steps_noise,
                       [{"params": [wplus], "lr": lr_w}, {"params": noise, "lr": lr_noise}], False)]
        steps_log: list[tuple[str, int, Tensor, dict[str, Tensor]]] = []  # read on the host at callbacks and the end
        stopped = False
        from tqdm.auto import tqdm

        bar = tqdm(total=steps_w + steps_noise, disable=not progress, desc="embedding")
        for stage, steps, groups, mse_only in stages:
            if steps == 0 or stopped:
                continue
            opt = torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8)
            for step in range(steps):
                img = G.synthesis(current_wplus(), noise)
                loss, terms = self._loss(img, x, y_t, m_mse, m_p, m_s, lambdas, feats_x, gram_y, mse_only, outside)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps_log.append((stage, step, loss.detach(), terms))
                bar.update(1)
                if callback is not None and (step + 1) % callback_every == 0:
                    if callback(stage, step + 1, _history(steps_log[-1:])[0], img.detach()):
                        notes.append(f"stopped by the caller at {stage} step {step + 1}")
                        stopped = True
                        break
        bar.close()
        with torch.no_grad():
            final_w = current_wplus().detach()
            final_noise = [n.detach() for n in noise]
            out = G.synthesis(final_w, final_noise).clamp(-1, 1)
        image_out = to_uint8(out[0])  # the first copy to the host, after all the device's work
        return EmbedResult(image_out, final_w.cpu(), [n.cpu() for n in final_noise], _history(steps_log),
                           psnr(out, x, m_mse), notes, out.cpu())

    def _mask_tensor(self, mask: Any) -> Tensor:
        """A mask as float [1, 1, S, S]: a 4-D tensor as it is (on its device), anything else via prepare_mask."""
        if isinstance(mask, Tensor) and mask.ndim == 4:
            return mask.float()
        return self.prepare_mask(mask)

    # ---- applications ----------------------------------------------------------------------------------------
    def reconstruct(self, image: Any, **kw: Any) -> EmbedResult:
        """W+ then noise on the whole image (MSE + perceptual, then MSE)."""
        return self.embed(image, **kw)

    def inpaint(self, image: Any, hole: Any, blur: float = 2.0, **kw: Any) -> EmbedResult:
        """Fill ``hole`` (1 = missing): W+ on the known pixels only, then noise with MSE to the image on the known
        pixels and to the first pass's output in the hole (so the noise cannot paint the hole)."""
        h = self.prepare_mask(hole, "hole")
        if float(h.sum()) == 0:
            raise ValueError("the hole mask is empty: there is nothing to inpaint (use reconstruct)")
        known = 1 - h
        if float(known.sum()) == 0:
            raise ValueError("the hole covers the whole image: nothing is known to embed from")
        steps_noise = kw.pop("steps_noise", 200)
        first = self.embed(image, mask_mse=known, mask_perceptual=known, steps_noise=0, **kw)
        if steps_noise == 0:
            return first
        soft = gaussian_blur(known, blur) * known  # known pixels, fading towards the hole edge
        kw.pop("steps_w", None)
        second = self.embed(image, y=first.tensor, mask_mse=soft.clamp(0, 1), init_wplus=first.wplus, steps_w=0,
                            steps_noise=steps_noise, **kw)
        second.history = first.history + second.history
        second.psnr = psnr(second.tensor, self.prepare_image(image)[0], known)
        return second

    def crossover(self, image_a: Any, image_b: Any, mask: Any, blur: float = 2.0, **kw: Any) -> EmbedResult:
        """One image: ``image_a`` inside ``mask``, ``image_b`` outside, with a blurred seam."""
        m = gaussian_blur(self.prepare_mask(mask), blur)
        return self.embed(image_a, y=image_b, mask_mse=m, mask_perceptual=m, **kw)

    def local_style_transfer(self, image: Any, style_image: Any, mask: Any, lambda_style: float = 50.0,
                             blur: float = 2.0, **kw: Any) -> EmbedResult:
        """``image``'s content where ``mask`` is 0, ``style_image``'s style (Gram matrices) inside ``mask``."""
        m = gaussian_blur(self.prepare_mask(mask), blur)
        return self.embed(image, y=style_image, mask_mse=1 - m, mask_perceptual=1 - m, mask_style=m,
                          lambda_mse2=0.0, lambda_style=lambda_style, **kw)

    def scribble_edit(self, image: Any, scribbled: Any, mask: Any, blur: float = 4.0, **kw: Any) -> EmbedResult:
        """Colours painted into ``scribbled`` (where ``mask`` is 1) guide the embedding; the rest keeps ``image``.
        A wide blur makes the scribble a hint rather than a paste."""
        m = gaussian_blur(self.prepare_mask(mask), blur)
        kw.setdefault("lambda_perceptual", 0.0)  # colours only: no perceptual pull towards the scribble's strokes
        return self.embed(scribbled, y=image, mask_mse=m, **kw)

    @torch.no_grad()
    def activation_blend(self, a: EmbedResult, b: EmbedResult, mask: Any, resolution: int = 16,
                         blur: float = 1.0) -> EmbedResult:
        """Mix two embeddings' feature maps at one synthesis resolution: m * f_a + (1 - m) * f_b, then continue the
        forward pass with a's W+ and noise (paper Sec. 5, activation-tensor manipulation)."""
        sizes = [2 ** (i + 2) for i in range(self.G.config.log_size - 1)]
        if resolution not in sizes:
            raise ValueError(f"resolution must be one of {sizes}, got {resolution}")
        G, dev = self.G, self.G.const.device
        level = sizes.index(resolution)
        m = F.interpolate(gaussian_blur(self.prepare_mask(mask), blur), size=(resolution, resolution),
                          mode="bilinear", align_corners=False).to(dev)
        _, feats_b = G.synthesis(b.wplus.to(dev), [n.to(dev) for n in b.noise], return_features=True)
        out = G.synthesis(a.wplus.to(dev), [n.to(dev) for n in a.noise],
                          edit=lambda i, f: m * f + (1 - m) * feats_b[i] if i == level else f).clamp(-1, 1)
        return EmbedResult(to_uint8(out[0]), a.wplus, a.noise, [], None,
                           [f"feature maps blended at {resolution}x{resolution}"], out.cpu())


def _history(steps_log: list[tuple[str, int, Tensor, dict[str, Tensor]]]) -> list[dict[str, Any]]:
    """The per-step log as ``{"stage", "step", "loss", term: value}`` dicts of floats: one copy to the host for
    all the steps given."""
    if not steps_log:
        return []
    names = [list(terms) for _, _, _, terms in steps_log]
    flat = torch.stack([t.float() for _, _, loss, terms in steps_log for t in (loss, *terms.values())]).cpu().tolist()
    rows, i = [], 0
    for (stage, step, _, _), keys in zip(steps_log, names):
        values = flat[i:i + 1 + len(keys)]
        i += 1 + len(keys)
        rows.append({"stage": stage, "step": step, "loss": values[0], **dict(zip(keys, values[1:]))})
    return rows


def load_image2stylegan(name_or_path: str = DEFAULT_MODEL, backbone: Any = "toyscapes",
                        device: str = "auto") -> Image2StyleGANPipeline:
    """The pipeline for a registry name (default: the bundled Toyscapes StyleGAN2), a folder or a Hub repo id."""
    import synthkit

    G = synthkit.load(name_or_path, device=device)
    if not isinstance(G, StyleGAN2Generator):
        raise TypeError(f"{name_or_path!r} holds a {type(G).__name__}, not a StyleGAN2Generator")
    return Image2StyleGANPipeline(G, backbone)


def sample_images(model: StyleGAN2Generator, n: int = 4, seed: int = 0) -> list[np.ndarray]:
    """``synthkit sample``: n images from z ~ N(0, I) with the model's stored noise."""
    z = torch.randn(n, model.config.style_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        images = model.eval()(z.to(model.const.device), noise="const").clamp(-1, 1)
    return [to_uint8(x) for x in images]
