"""A tiny unconditional DCGAN (Radford et al. 2016) on 32x32 images: the smallest task for the training loop.

It exists to test and demonstrate ``synthkit.train`` (d_step / g_step, EMA, checkpoints, resume) in seconds on a
CPU, and to show what a paper module's ``make_task`` looks like. It is not one of the five papers.

Symbols -> variables: z ~ N(0, I) latent (``z``, [B, z_dim]); G(z) image in [-1, 1] (``x_fake``, [B, 3, S, S]);
D(x) one logit per image (``logits_*``, [B]).

Data: Toyscapes images (``synthkit.data.toyscapes.ToyscapesDataset``) when that module is installed, else
``ToyBlobs``, a procedural set of coloured discs on a gradient (deterministic in (seed, index)).

Simplifications: no conditioning, no spectral norm; batch norm in G only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn
from torch import Tensor

from synthkit import losses
from synthkit.configs import PresetConfig
from synthkit.hub import HubMixin


@dataclass(frozen=True)
class ToyConfig(PresetConfig):
    z_dim: int = 64  # latent size (DCGAN: 100)
    base_channels: int = 32  # width of the last G block / first D block; doubles per resolution
    image_size: int = 32  # power of two, >= 8
    dataset: Literal["toyscapes", "blobs"] = "toyscapes"  # blobs: procedural fallback, no dependency
    dataset_length: int = 4096
    seed: int = 0  # of the training set (and, through synthkit train, of the run)
    loss: Literal["hinge", "nonsaturating"] = "hinge"
    r1_gamma: float = 0.0  # R1 weight gamma (0 = off); the penalty is gamma / 2 * R1
    # training settings of the preset (DCGAN: Adam 2e-4, beta1 0.5)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 32


PRESETS: dict[str, ToyConfig] = {
    "tiny_test": ToyConfig(z_dim=16, base_channels=8, image_size=16, dataset="blobs", dataset_length=64),
    "toyscapes32": ToyConfig(z_dim=32, base_channels=16, image_size=32, dataset="toyscapes", dataset_length=1024),
    "blobs32": ToyConfig(dataset="blobs"),
}


def _num_doublings(image_size: int) -> int:
    n = int(round(math.log2(image_size / 4)))
    if image_size < 8 or 4 * 2**n != image_size:
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return n


class ToyGenerator(nn.Module, HubMixin):
    """z [B, z_dim] -> image [B, 3, S, S] in [-1, 1]: a linear layer to 4x4, then (upsample x2, conv) blocks."""

    def __init__(self, config: ToyConfig):
        super().__init__()
        self.config = config
        n = _num_doublings(config.image_size)
        widths = [config.base_channels * 2 ** (n - i) for i in range(n + 1)]  # 4x4 ... SxS
        self.fc = nn.Linear(config.z_dim, widths[0] * 16)
        blocks = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            blocks += [
                nn.BatchNorm2d(c_in),
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.to_rgb = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(), nn.Conv2d(widths[-1], 3, 3, padding=1))
        self.widths = widths

    def sample_latent(self, batch_size: int, device: torch.device | str | None = None) -> Tensor:
        return torch.randn(batch_size, self.config.z_dim, device=device)  # [B, z_dim]

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"z must be [B, {self.config.z_dim}], got {tuple(z.shape)}")
        h = self.fc(z).view(z.shape[0], self.widths[0], 4, 4)  # [B, C0, 4, 4]
        return torch.tanh(self.to_rgb(self.blocks(h)))  # [B, 3, S, S]


class ToyDiscriminator(nn.Module):
    """image [B, 3, S, S] -> one logit per image [B]: stride-2 convs with LeakyReLU down to 4x4, then linear."""

    def __init__(self, config: ToyConfig):
        super().__init__()
        n = _num_doublings(config.image_size)
        widths = [config.base_channels * 2**i for i in range(n + 1)]  # SxS ... 4x4
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, padding=1), nn.LeakyReLU(0.2)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[-1] * 16, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1)).squeeze(1)  # [B]


class ToyBlobs(torch.utils.data.Dataset):
    """Procedural 'discs on a gradient' images, deterministic in (seed, index). Items: {"image", "index"}."""

    def __init__(self, size: int = 32, length: int = 4096, split: str = "train", seed: int = 0):
        self.size, self.length = size, length
        self.seed = seed * 3 + {"train": 0, "val": 1, "test": 2}[split]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(i))
        s = self.size
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, s), torch.linspace(-1, 1, s), indexing="ij")
        top, bottom = torch.rand(3, 1, 1, generator=g), torch.rand(3, 1, 1, generator=g)
        image = top + (bottom - top) * (yy + 1) / 2  # vertical gradient [3, S, S]
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            cx, cy = torch.rand(2, generator=g) * 1.4 - 0.7
            r = 0.15 + 0.35 * torch.rand(1, generator=g)
            colour = torch.rand(3, 1, 1, generator=g)
            inside = ((xx - cx) ** 2 + (yy - cy) ** 2 < r**2).float()
            image = image * (1 - inside) + colour * inside
        return {"image": image * 2 - 1, "index": torch.tensor(int(i))}


class ImagesInMemory(torch.utils.data.Dataset):
    """Keeps the ``"image"`` of each item after its first read: rendering a Toyscapes scene costs ~60 ms, a
    32x32 image 12 kB, so from the second epoch on the toy GAN trains at the speed of its networks."""

    def __init__(self, dataset: torch.utils.data.Dataset):
        self.dataset = dataset
        self.cache: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        i = int(i)
        if i not in self.cache:
            self.cache[i] = self.dataset[i]["image"]
        return {"image": self.cache[i], "index": torch.tensor(i)}


def make_dataset(config: ToyConfig, split: str = "train") -> torch.utils.data.Dataset:
    if config.dataset == "toyscapes":
        try:
            from synthkit.data.toyscapes import ToyscapesDataset
        except ImportError as err:
            raise ValueError("dataset='toyscapes' needs synthkit.data.toyscapes; use dataset=blobs") from err
        return ImagesInMemory(
            ToyscapesDataset(size=config.image_size, length=config.dataset_length, split=split, seed=config.seed)
        )
    if config.dataset == "blobs":
        return ToyBlobs(config.image_size, config.dataset_length, split, config.seed)
    raise ValueError(f"unknown toy dataset {config.dataset!r}; valid: toyscapes, blobs")


class ToyTask:
    """The GANTask of the toy DCGAN (see ``synthkit.train.GANTask`` for the contract)."""

    paper = "toy"

    def __init__(self, config: ToyConfig):
        self.config = config
        self.G = ToyGenerator(config)
        self.D = ToyDiscriminator(config)
        self.E = None

    def make_dataset(self, split: str = "train") -> torch.utils.data.Dataset:
        return make_dataset(self.config, split)

    def d_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x_real = batch["image"]  # [B, 3, S, S]
        with torch.no_grad():  # D step: G is not trained, so no graph through it
            x_fake = self.G(self.G_module().sample_latent(x_real.shape[0], x_real.device))
        r1_on = self.config.r1_gamma > 0
        if r1_on:
            x_real = x_real.detach().requires_grad_(True)
        logits_real, logits_fake = self.D(x_real), self.D(x_fake)
        if self.config.loss == "hinge":
            adv = losses.d_hinge_loss(logits_real, logits_fake)
        else:
            adv = losses.d_logistic_loss(logits_real, logits_fake)
        logs = {"d_real": logits_real.mean().detach(), "d_fake": logits_fake.mean().detach()}  # mean logits
        loss = adv
        if r1_on:
            r1 = losses.r1_penalty(logits_real, x_real)
            loss = loss + self.config.r1_gamma / 2 * r1  # L_D + gamma/2 * R1
            logs.update(d_adv=adv.detach(), r1=r1.detach())
        return {"loss": loss, **logs}

    def g_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        b = batch["image"].shape[0]
        x_fake = self.G(self.G_module().sample_latent(b, batch["image"].device))
        logits_fake = self.D(x_fake)
        if self.config.loss == "hinge":
            loss = losses.g_hinge_loss(logits_fake)
        else:
            loss = losses.g_nonsaturating_loss(logits_fake)
        return {"loss": loss}

    def G_module(self) -> ToyGenerator:
        # self.G may be wrapped by DistributedDataParallel during multi-GPU training
        return getattr(self.G, "module", self.G)

    @torch.no_grad()
    def sample(self, G: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        G = getattr(G, "module", G)
        z = G.sample_latent(batch["image"].shape[0], batch["image"].device)
        return G(z)  # [B, 3, S, S] in [-1, 1]


def make_task(preset: str = "toyscapes32", overrides: dict[str, Any] | None = None) -> ToyTask:
    """The training task of the toy DCGAN, from a preset name and config overrides."""
    return ToyTask(ToyConfig.from_preset(preset, **dict(overrides or {})))
