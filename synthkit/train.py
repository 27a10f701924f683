"""The one synthkit GAN training loop: read it top to bottom.

    for step in range(start, steps):
        batch = batch_for(seed, step)                     # deterministic in (seed, step): resume = same data order
        D step:  loss_D = task.d_step(batch)["loss"];  D <- D - lr_d * Adam(grad loss_D)
        G step:  loss_G = task.g_step(batch)["loss"];  G <- G - lr_g * Adam(grad loss_G)
        EMA:     theta_ema <- beta * theta_ema + (1 - beta) * theta_G
        every log_every / sample_every / ckpt_every steps: history, sample grid, checkpoint

The paper is in the task (``GANTask``): which losses, which inputs. The loop owns everything else: devices
(Hugging Face Accelerate: the same code on CPU, one GPU, or several GPUs under ``accelerate launch`` / ``torchrun``),
mixed precision, EMA, logging (tqdm, ``history.json``, ``loss_curve.png``), sample grids
(``samples/step_XXXXXX.png``), atomic checkpoints and exact resume, and the export of the trained generator
(``model/``: config.json + model.safetensors + README.md).

Command line (the same as ``synthkit train``; also ``accelerate launch -m synthkit.train ...``)::

    python -m synthkit.train toy --preset tiny_test --steps 20 --out runs/toy --set lr_g=1e-4 --dry-run
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import os
import sys
import time
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from synthkit import papers
from synthkit.configs import _parse_value, parse_overrides, rename_legacy_fields  # noqa: F401  (parse_overrides: public)
from synthkit.train_state import CHECKPOINT, _Run, find_checkpoint  # noqa: F401  (find_checkpoint: public)

# paper key -> "module:make_task", read from the one paper table (synthkit/papers.py)
TASKS: dict[str, str] = {key: papers.PAPERS[key].task_target for key in papers.trainable()}



# ---------------------------------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Everything about *how* to train (the model's config says *what*). Devices and the number of processes come
    from ``accelerate launch`` / ``torchrun``; precision from ``mixed_precision`` or the accelerate config."""

    steps: int = 1000
    batch_size: int = 16  # per process
    lr_g: float = 2e-4
    lr_d: float = 2e-4  # TTUR (Heusel et al. 2017): SPADE / SMIS use lr_g = 1e-4, lr_d = 4e-4
    betas: tuple[float, float] = (0.0, 0.999)
    ema_decay: float | None = 0.999  # beta of the generator EMA; None = no G_ema
    log_every: int = 10
    sample_every: int = 100
    ckpt_every: int = 100
    n_samples: int = 16  # images in each sample grid
    out_dir: str = "runs/run"
    seed: int = 0
    num_workers: int = 0  # DataLoader worker processes
    mixed_precision: Literal["no", "fp16", "bf16"] | None = None  # None: as accelerate is configured
    cpu: bool = False  # force CPU even when a GPU is visible
    progress: bool = True  # tqdm bar
    # Start from the model weights (G, D, E, G_ema) of another run's checkpoint (its run folder or checkpoint folder),
    # with fresh optimisers and step 0: fine-tuning, e.g. a 64 px model at 128 px when the weights fit. Ignored when
    # out_dir already has a checkpoint (that run resumes).
    init_from: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "sample_every", "ckpt_every", "n_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {value!r}")
        if self.num_workers < 0 or self.seed < 0:
            raise ValueError("TrainConfig.num_workers and seed must be >= 0")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1) or None, got {self.ema_decay!r}")
        if len(self.betas) != 2:
            raise ValueError(f"TrainConfig.betas must be two floats, got {self.betas!r}")


# ---------------------------------------------------------------------------------------------------------------------
# the task contract
# ---------------------------------------------------------------------------------------------------------------------


@runtime_checkable
class GANTask(Protocol):
    """What a paper module gives the loop (returned by its ``make_task(preset, overrides)``).

    Required attributes / methods:

    * ``G``, ``D`` (``nn.Module``): generator and discriminator; optional ``E`` (encoder, trained with G).
    * ``config``: the model's dataclass config (saved with the weights, printed by ``--dry-run``).
    * ``make_dataset(split="train")`` -> a map-style dataset whose items are dicts of tensors (a "batch dict"
      after collation, e.g. ``{"image": [B,3,H,W], "seg": [B,C,H,W], ...}``).
    * ``d_step(batch) -> dict``: compute the discriminator loss; return it under ``"loss"`` (a tensor with a graph)
      plus any logs (tensors or floats). Generate fakes under ``torch.no_grad()``: G is not trained here.
    * ``g_step(batch) -> dict``: the same for G (and E): ``"loss"`` + logs.
    * ``sample(G, batch) -> Tensor [N,3,H,W] in [-1,1]``: images for the sample grid (G is G_ema when EMA is on).

    Optional:

    * ``optimizers(cfg) -> (opt_g, opt_d)``; default: Adam over G (+E) with ``lr_g`` and over D with ``lr_d``,
      ``betas`` from TrainConfig (two time-scale update rule when lr_g != lr_d).
    * training settings of the preset: TrainConfig fields that also exist in ``config`` (``lr_g``, ``lr_d``,
      ``betas``, ``batch_size``, ``ema_decay``, ``seed``) are taken from it (see ``resolve_task`` for the order).
    * ``export_model(G) -> nn.Module``: the HubMixin model to save at the end (default: G itself).
    * ``paper: str``: the paper key for the model card.

    A task may also step its own optimisers inside d_step / g_step (attributes ``opt_g`` / ``opt_d``) and return
    only floats, with no ``"loss"`` tensor: the loop then logs, checkpoints those optimisers and does not step.
    Accelerate's mixed-precision scaling is then the task's business.
    """

    G: nn.Module
    D: nn.Module
    config: Any

    def make_dataset(self, split: str = "train") -> Any: ...

    def d_step(self, batch: dict[str, Tensor]) -> dict[str, Any]: ...

    def g_step(self, batch: dict[str, Tensor]) -> dict[str, Any]: ...

    def sample(self, G: nn.Module, batch: dict[str, Tensor]) -> Tensor: ...


# ---------------------------------------------------------------------------------------------------------------------
# resolving "synthkit train <model> --preset P --set k=v"
# ---------------------------------------------------------------------------------------------------------------------


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in fields(cls)}


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A training-settings file: a JSON object of the same ``key: value`` pairs that ``--set`` takes (model and
    training fields together), e.g. ``{"lr_g": 2e-4, "steps": 3000, "block_channels": [96, 96, 48]}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"--config {path}: no such file") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"--config {path}: not valid JSON ({err}); write one object of key: value pairs") from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a JSON object of key: value pairs, got {type(data).__name__}")
    return data


def resolve_task(
    name: str,
    preset: str,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    config_file: str | os.PathLike | Mapping[str, Any] | None = None,
) -> tuple[GANTask, TrainConfig]:
    """Build ``(task, TrainConfig)`` for ``synthkit train <name> --preset P --config FILE --set k=v ...``.

    One precedence rule for every setting, model or training, lowest first::

        TrainConfig defaults  <  the preset  <  the config file  <  --set

    (the preset's training fields are the same-named fields of the model config: ``lr_g``, ``lr_d``, ``betas``,
    ``batch_size``, ``seed``). Each key is parsed to the type of the field it names; a field of the model config
    goes to ``make_task``, a field of TrainConfig to the TrainConfig, a name in both to both. Renamed fields
    (``synthkit.configs.RENAMED_FIELDS``) are accepted under their old name with a warning.
    """
    if name not in TASKS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(TASKS)}")
    module_name = TASKS[name].partition(":")[0]
    try:
        make_task = _import(TASKS[name])
    except (ModuleNotFoundError, AttributeError) as err:
        raise ValueError(f"model {name!r}: cannot import {TASKS[name]} ({err})") from err
    module = sys.modules[module_name]
    presets = getattr(module, "PRESETS", None)
    if isinstance(presets, Mapping):
        if preset not in presets:
            raise ValueError(f"unknown preset {preset!r} for {name}; valid presets: {', '.join(presets)}")
        model_fields = _field_types(type(presets[preset])) if dataclasses.is_dataclass(presets[preset]) else {}
    else:
        probe = make_task(preset, {})
        model_fields = _field_types(type(probe.config)) if dataclasses.is_dataclass(probe.config) else {}
    train_fields = _field_types(TrainConfig)

    if config_file is None:
        from_file: dict[str, Any] = {}
    elif isinstance(config_file, Mapping):
        from_file = dict(config_file)
    else:
        from_file = read_config_file(config_file)
    valid = set(model_fields) | set(train_fields)
    raw = {  # file < --set
        **rename_legacy_fields(from_file, valid, "--config"),
        **rename_legacy_fields(parse_overrides(overrides), valid, "--set"),
    }
    unknown = sorted(k for k in raw if k not in valid)
    if unknown:
        raise ValueError(
            f"unknown override key(s) {', '.join(unknown)} for {name}; valid model keys: "
            f"{', '.join(sorted(model_fields)) or '(none)'}; valid training keys: {', '.join(sorted(train_fields))}"
        )
    model_over, train_over = {}, {}
    for key, value in raw.items():
        if key in model_fields:
            model_over[key] = _parse_value(value, model_fields[key], key) if isinstance(value, str) else value
        if key in train_fields:
            train_over[key] = _parse_value(value, train_fields[key], key) if isinstance(value, str) else value
    for over, types_ in ((model_over, model_fields), (train_over, train_fields)):
        for key, value in over.items():  # JSON lists back to tuples
            if isinstance(value, list) and (types_[key] is tuple or typing.get_origin(types_[key]) is tuple):
                over[key] = tuple(value)

    seed = int(train_over.get("seed", 0))
    torch.manual_seed(seed)  # model initialisation is reproducible too
    task = make_task(preset, model_over)

    values: dict[str, Any] = {}  # TrainConfig defaults < preset (model-config fields) < file < --set
    if dataclasses.is_dataclass(task.config):
        values.update({k: v for k, v in asdict(task.config).items() if k in train_fields})
    values.update(train_over)
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    cfg = TrainConfig(**values)
    task.task_name, task.preset = name, preset  # for the model card
    return task, cfg


def describe(task: GANTask, cfg: TrainConfig) -> dict[str, Any]:
    """The resolved configuration as a JSON-able dict (what ``--dry-run`` prints)."""

    def count(m: nn.Module | None) -> int:
        return sum(p.numel() for p in m.parameters()) if isinstance(m, nn.Module) else 0

    model_config = asdict(task.config) if dataclasses.is_dataclass(task.config) else dict(task.config or {})
    return {
        "model": getattr(task, "task_name", type(task).__name__),
        "preset": getattr(task, "preset", None),
        "model_config": model_config,
        "train_config": asdict(cfg),
        "parameters": {"G": count(task.G), "D": count(task.D), "E": count(getattr(task, "E", None))},
    }


def run_train(
    model: str,
    preset: str,
    overrides: Sequence[str] | None = None,
    steps: int | None = None,
    out: str | None = None,
    dry_run: bool = False,
    config_file: str | None = None,
) -> dict[str, Any] | list[dict[str, float]]:
    """What ``synthkit train`` calls. ``dry_run``: print and return the resolved config, train nothing."""
    overrides = list(overrides or [])
    task, cfg = resolve_task(model, preset, overrides, config_file=config_file)
    cfg = replace(cfg, steps=steps if steps is not None else cfg.steps,
                  out_dir=out if out is not None else (cfg.out_dir if cfg.out_dir != "runs/run" else f"runs/{model}-{preset}"))
    if dry_run:
        info = describe(task, cfg)
        print(json.dumps(info, indent=2, default=str))
        return info
    command = " ".join(["synthkit train", model, "--preset", preset,
                        *([f"--config {config_file}"] if config_file else []), *[f"--set {o}" for o in overrides],
                        *([f"--steps {steps}"] if steps is not None else []), *([f"--out {out}"] if out else [])])
    history = train(task, cfg, command=command)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {cfg.out_dir}/model (exported generator), loss_curve.png, samples/, checkpoint/")
    return history


# ---------------------------------------------------------------------------------------------------------------------
# data: batch k is a function of (seed, k)
# ---------------------------------------------------------------------------------------------------------------------


class StepBatchSampler(torch.utils.data.Sampler):
    """Index lists for steps ``start .. steps-1``: sample number p = (step * world + rank) * B + i of an endless
    stream of epochs, epoch e being ``randperm(N)`` seeded with (seed, e). Resuming at step k yields exactly the
    batches an uninterrupted run would have seen from step k on; each process gets a disjoint slice."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, steps: int, rank: int = 0, world: int = 1):
        if n <= 0:
            raise ValueError("the training dataset is empty")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.steps, self.rank, self.world = start, steps, rank, world
        self._perms: dict[int, list[int]] = {}

    def _perm(self, epoch: int) -> list[int]:
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._perms = {epoch: torch.randperm(self.n, generator=g).tolist()}  # keep one epoch in memory
        return self._perms[epoch]

    def indices(self, step: int) -> list[int]:
        first = (step * self.world + self.rank) * self.batch_size
        out = []
        for p in range(first, first + self.batch_size):
            epoch, pos = divmod(p, self.n)
            out.append(self._perm(epoch)[pos])
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.steps):
            yield self.indices(step)

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


# ---------------------------------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------------------------------


def _optimise(run: _Run, step_fn: Any, batch: dict[str, Tensor], opt: torch.optim.Optimizer, tag: str) -> dict[str, float]:
    """Call d_step or g_step; if it returns a "loss" tensor, back-propagate it and step ``opt``."""
    acc = run.acc
    with acc.autocast():
        out = step_fn(batch)
    loss = out.get("loss") if isinstance(out, Mapping) else None
    if isinstance(loss, Tensor) and loss.requires_grad:
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        opt.step()
    elif not run.self_stepping:
        raise ValueError(
            f"{tag}_step returned no 'loss' tensor with a graph (got keys {sorted(out) if isinstance(out, Mapping) else out!r}); "
            "return {'loss': loss, ...logs} or give the task its own opt_g / opt_d and step them inside"
        )
    logs = {}
    for k, v in (out or {}).items():
        name = f"loss_{tag}" if k == "loss" else k
        logs[name] = float(v.detach().float().mean()) if isinstance(v, Tensor) else float(v)
    return logs


@torch.no_grad()
def _update_ema(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    # theta_ema <- decay * theta_ema + (1 - decay) * theta   (Karras et al. 2018; Yazici et al. 2019)
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):  # BatchNorm running statistics are copied
        b_ema.copy_(b)


def _save_samples(run: _Run, fixed_batch: dict[str, Tensor], path: Path) -> None:
    from PIL import Image

    from synthkit.viz import make_grid

    G = run.G_ema if run.G_ema is not None else run.acc.unwrap_model(run.G)
    was_training = G.training
    G.eval()
    devices = [run.acc.device] if run.acc.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # same noise every time, and the training RNG is left untouched
        torch.manual_seed(run.cfg.seed)
        images = run.task.sample(G, fixed_batch)
    G.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = make_grid(images.detach().float().cpu().clamp(-1, 1), nrow=max(1, int(math.ceil(math.sqrt(len(images))))))
    Image.fromarray(grid).save(path)


def _write_logs(run: _Run) -> None:
    out = Path(run.cfg.out_dir)
    (out / "history.json").write_text(json.dumps(run.history, indent=1), encoding="utf-8")
    if run.history:
        from synthkit.viz import plot_loss_curve

        plot_loss_curve(run.history, out / "loss_curve.png", title=getattr(run.task, "task_name", None))


def export(
    task: GANTask,
    folder: str | Path,
    G: nn.Module | None = None,
    card: Mapping[str, Any] | None = None,
) -> Path:
    """Save a trained generator with ``save_pretrained`` (config.json, model.safetensors, README.md card).

    ``G`` defaults to ``task.G``; the loop passes ``G_ema`` when EMA is on. ``task.export_model(G)``, when the task
    has it, picks what to save (e.g. a wrapper holding G and E); otherwise G itself must be a HubMixin model.
    """
    G = getattr(task.G, "module", task.G) if G is None else G
    model = task.export_model(G) if hasattr(task, "export_model") else G
    if not hasattr(model, "save_pretrained"):
        raise TypeError(f"{type(model).__name__} is not a HubMixin model; give the task an export_model(G) method")
    name = getattr(task, "task_name", type(task).__name__)
    fields = {
        "model_name": name + (f" ({task.preset})" if getattr(task, "preset", None) else ""),
        "paper": getattr(task, "paper", None) or getattr(task, "task_name", None),
        **dict(card or {}),
    }
    folder = Path(folder)
    model.save_pretrained(folder, card=fields)
    return folder


def _export_run(run: _Run, folder: Path, command: str | None) -> Path:
    last = {k: round(v, 4) for k, v in (run.history[-1] if run.history else {}).items() if k != "step"}
    notes = []
    if run.G_ema is not None:
        notes.append(f"Weights: exponential moving average of G (decay {run.cfg.ema_decay}).")
    if last:
        notes.append(f"Last logged losses (mean over {run.cfg.log_every} steps): {json.dumps(last)}.")
    card = {
        "training_command": command,
        "steps": run.step,
        "wall_time": run.wall_time,
        "hardware": f"{run.acc.num_processes} process(es) on {run.acc.device.type}",
        "notes": " ".join(notes) or None,
    }
    return export(run.task, folder, G=run.G_ema, card=card)


def move_task_modules(task: Any, device: torch.device | str) -> list[str]:
    """Move every module the task holds besides G, D and E (a frozen backbone that computes features or a loss, a
    perceptual network) to ``device``; returns their attribute names. Without this a task's frozen network stays on
    the CPU while G trains on the GPU (a device-mismatch error at the first step). Lazily loaded networks (None
    until first use) are moved by their task where it loads them."""
    moved = []
    for name, value in vars(task).items():
        if name in ("G", "D", "E") or not isinstance(value, nn.Module):
            continue
        value.to(device)
        moved.append(name)
    return moved


def place_task(task: Any, device: torch.device | str) -> list[str]:
    """Put everything a training step of ``task`` uses on ``device``: G, D, E and every other module the task
    holds (``move_task_modules``); returns the names moved. The loop calls it before its first step;
    tests/test_train_devices.py runs one step of every paper after it with ``device="meta"``, where any tensor
    a step makes on the CPU, or a module left behind, is a device-mismatch error."""
    moved = []
    for name in ("G", "D", "E"):
        module = getattr(task, name, None)
        if isinstance(module, nn.Module):
            module.to(device)
            moved.append(name)
    return moved + move_task_modules(task, device)


def train(task: GANTask, cfg: TrainConfig, resume: bool = True, command: str | None = None,
          dataset: Any = None) -> list[dict[str, float]]:
    """Train ``task`` for ``cfg.steps`` steps; returns the history (one dict of mean logs per ``log_every`` steps).

    With ``resume`` and a checkpoint in ``cfg.out_dir``, training continues from its step with the same weights,
    optimiser moments, RNG states and data order, so the result equals that of an uninterrupted run.

    ``dataset``: the training set to use instead of ``task.make_dataset("train")`` -- a map-style dataset whose
    items are the task's batch dicts (e.g. built once and reused between training chunks, or a real-data folder
    from ``synthkit.data.folders``), or a callable ``factory() -> dataset``.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    for name in ("G", "D", "d_step", "g_step", "make_dataset", "sample"):
        if not hasattr(task, name):
            raise TypeError(f"{type(task).__name__} is not a GANTask: missing {name!r} (see synthkit.train.GANTask)")
    # Under torchrun / accelerate launch with no GPU, Accelerate only goes multi-process (gloo) when told cpu=True.
    cpu = cfg.cpu or (int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available())
    acc = Accelerator(cpu=cpu, mixed_precision=cfg.mixed_precision)
    out = Path(cfg.out_dir)
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed + acc.process_index)  # python, numpy, torch (+cuda); each process its own noise

    run = _Run(task, cfg, acc)
    place_task(task, acc.device)
    if run.G_ema is not None:
        run.G_ema.to(acc.device)

    ckpt = find_checkpoint(out) if resume else None
    if ckpt is not None:
        run.load_checkpoint(ckpt)
        if acc.is_main_process:
            print(f"resuming from step {run.step} ({ckpt})", flush=True)
    elif cfg.init_from:
        src = find_checkpoint(cfg.init_from) or Path(cfg.init_from)
        run.load_weights(src)
        if acc.is_main_process:
            print(f"initialised the model weights from {src} (fresh optimisers, step 0)", flush=True)

    # Wrap for the device / DDP; the task's step functions then call the wrapped modules.
    prepared = acc.prepare(*(m for m in (run.G, run.D, run.E) if isinstance(m, nn.Module)), run.opt_g, run.opt_d)
    run.G, run.D = prepared[0], prepared[1]
    if isinstance(run.E, nn.Module):
        run.E = prepared[2]
    run.opt_g, run.opt_d = prepared[-2], prepared[-1]
    task.G, task.D = run.G, run.D
    if isinstance(run.E, nn.Module):
        task.E = run.E

    if dataset is None:
        dataset = task.make_dataset("train")
    elif callable(dataset) and not hasattr(dataset, "__getitem__"):
        dataset = dataset()
    if not hasattr(dataset, "__len__") or len(dataset) == 0:
        raise ValueError("train(dataset=...): need a non-empty map-style dataset (with __len__ and __getitem__)")
    sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.seed, run.step, cfg.steps, acc.process_index, acc.num_processes)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(cfg.seed + run.step),  # worker seeds, not drawn from the global RNG
        pin_memory=acc.device.type == "cuda",
    )
    fixed_batch = None
    if acc.is_main_process:
        collate = torch.utils.data.default_collate
        fixed_batch = _to_device(collate([dataset[i % len(dataset)] for i in range(cfg.n_samples)]), acc.device)

    bar = tqdm(total=cfg.steps, initial=run.step, disable=not (cfg.progress and acc.is_main_process),
               desc=getattr(task, "task_name", "train"), dynamic_ncols=True)
    t0 = time.perf_counter()
    for batch in loader:
        batch = _to_device(batch, acc.device)
        # D step, then G step (one each per batch)
        logs = _optimise(run, task.d_step, batch, run.opt_d, "d")
        logs.update(_optimise(run, task.g_step, batch, run.opt_g, "g"))
        if run.G_ema is not None:
            _update_ema(run.G_ema, acc.unwrap_model(run.G), cfg.ema_decay)
        run.step += 1
        bar.update(1)
        for k, v in logs.items():
            run.pending.setdefault(k, []).append(v)

        if run.step % cfg.log_every == 0 or run.step == cfg.steps:
            row = {"step": run.step, **{k: float(np.mean(v)) for k, v in run.pending.items()}}
            run.history.append(row)
            run.pending = {}
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k != "step"})
        if acc.is_main_process and (run.step % cfg.sample_every == 0 or run.step == cfg.steps):
            _save_samples(run, fixed_batch, out / "samples" / f"step_{run.step:06d}.png")
        if run.step % cfg.ckpt_every == 0 or run.step == cfg.steps:
            run.wall_time += time.perf_counter() - t0
            t0 = time.perf_counter()
            if acc.is_main_process:
                _write_logs(run)
            run.save_checkpoint()
    bar.close()
    run.wall_time += time.perf_counter() - t0

    # leave the task with plain modules again, and export the generator
    task.G, task.D = acc.unwrap_model(run.G), acc.unwrap_model(run.D)
    if isinstance(run.E, nn.Module):
        task.E = acc.unwrap_model(run.E)
    if acc.is_main_process:
        _write_logs(run)
        if hasattr(task.G, "save_pretrained") or hasattr(task, "export_model"):
            _export_run(run, out / "model", command)
    acc.wait_for_everyone()
    return run.history


# ---------------------------------------------------------------------------------------------------------------------
# python -m synthkit.train (what `accelerate launch -m synthkit.train` and torchrun run)
# ---------------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m synthkit.train", description="Train a synthkit model (one loop).")
    p.add_argument("model", help=", ".join(TASKS))
    p.add_argument("--preset", default="tiny_test")
    p.add_argument("--config", default=None, metavar="FILE.json")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    try:
        run_train(args.model, args.preset, args.set, steps=args.steps, out=args.out, dry_run=args.dry_run,
                  config_file=args.config)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
