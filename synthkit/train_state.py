"""The state of one training run and its checkpoints: what makes ``synthkit.train`` resume exactly.

``out_dir/checkpoint/`` holds ``state.safetensors`` (G, D, E, G_ema and both optimisers' tensors), ``state.json``
(step, history, optimiser scalars, the TrainConfig; written last, so its presence marks a complete checkpoint) and
one ``rng_rank<k>.json`` per process (torch, python and numpy RNG states). A checkpoint is written into
``checkpoint.tmp`` and swapped in with two renames, so a run killed at any moment resumes from the last complete one.
"""
from __future__ import annotations

import copy
import json
import os
import random
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # annotations only
    from synthkit.train import GANTask, TrainConfig

CHECKPOINT = "checkpoint"  # out_dir/checkpoint/{state.safetensors, state.json, rng_rank*.json}




def _rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state().tolist(),
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [np.random.get_state()[0], np.random.get_state()[1].tolist(), *map(float, np.random.get_state()[2:])],
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _optimizer_split(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Optimizer state_dict -> (tensors for safetensors, the rest for JSON)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, per_param in sd["state"].items():
        for k, v in per_param.items():
            if isinstance(v, Tensor):
                tensors[f"{prefix}.{idx}.{k}"] = v
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_join(opt: torch.optim.Optimizer, prefix: str, tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = v
    for key, v in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    groups = [{**g, **({"betas": tuple(g["betas"])} if "betas" in g else {})} for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())


def find_checkpoint(out_dir: str | Path) -> Path | None:
    """The last complete checkpoint folder of a run, or None. ``checkpoint.old`` is the previous one, kept only
    during the swap; a half-written ``checkpoint.tmp`` is never used."""
    out_dir = Path(out_dir)
    for name in (CHECKPOINT, CHECKPOINT + ".old"):
        if (out_dir / name / "state.json").is_file():
            return out_dir / name
    return None


def load_run_generator(run_dir: str | Path, G: Any, prefix: str | None = None) -> tuple[int, str]:
    """Load the generator weights of a run's last checkpoint into ``G``, strictly (for evaluating a run that has not
    been exported). ``prefix``: "G_ema" or "G"; None takes G_ema when the checkpoint has one, else G. Returns
    (the checkpoint's step, the prefix used)."""
    from synthkit.hub import CheckpointError, load_safetensors

    folder = find_checkpoint(run_dir)
    if folder is None:
        raise CheckpointError(f"{run_dir}: no checkpoint (expected {CHECKPOINT}/state.json and state.safetensors)")
    tensors = load_safetensors(folder / "state.safetensors", device="cpu")
    if prefix is None:
        prefix = "G_ema" if any(k.startswith("G_ema.") for k in tensors) else "G"
    G.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")})
    return int(json.loads((folder / "state.json").read_text(encoding="utf-8"))["step"]), prefix


class _Run:
    """The mutable state of one training run (models, optimisers, step, history); one per ``train`` call."""

    def __init__(self, task: GANTask, cfg: TrainConfig, accelerator: Any):
        self.task, self.cfg, self.acc = task, cfg, accelerator
        self.G, self.D, self.E = task.G, task.D, getattr(task, "E", None)
        self.G_ema = None
        if cfg.ema_decay is not None:
            self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.self_stepping = hasattr(task, "opt_g") and hasattr(task, "opt_d")
        if self.self_stepping:
            self.opt_g, self.opt_d = task.opt_g, task.opt_d
        elif hasattr(task, "optimizers"):
            self.opt_g, self.opt_d = task.optimizers(cfg)
        else:
            g_params = list(self.G.parameters()) + (list(self.E.parameters()) if isinstance(self.E, nn.Module) else [])
            self.opt_g = torch.optim.Adam(g_params, lr=cfg.lr_g, betas=cfg.betas)
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.pending: dict[str, list[float]] = {}  # logs since the last history row
        self.wall_time = 0.0

    def modules(self) -> dict[str, nn.Module]:
        unwrap = self.acc.unwrap_model
        mods = {"G": unwrap(self.G), "D": unwrap(self.D)}
        if isinstance(self.E, nn.Module):
            mods["E"] = unwrap(self.E)
        if self.G_ema is not None:
            mods["G_ema"] = self.G_ema
        return mods

    # -- save -------------------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Write out_dir/checkpoint atomically: into checkpoint.tmp, then swap with two renames."""
        from safetensors.torch import save_file

        out = Path(self.cfg.out_dir)
        tmp, final, old = out / (CHECKPOINT + ".tmp"), out / CHECKPOINT, out / (CHECKPOINT + ".old")
        acc = self.acc
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        _write_json(tmp / f"rng_rank{acc.process_index}.json", _rng_state())  # every process has its own RNG
        if acc.is_main_process:
            tensors: dict[str, Tensor] = {}
            for prefix, module in self.modules().items():
                tensors.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
            opt_meta = {}
            for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
                t, meta = _optimizer_split(opt, prefix)
                tensors.update(t)
                opt_meta[prefix] = meta
            tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in tensors.items()}
            save_file(tensors, str(tmp / "state.safetensors"))
            with open(tmp / "state.safetensors", "rb+") as f:
                os.fsync(f.fileno())
            scaler = getattr(acc, "scaler", None)
            state = {
                "step": self.step,
                "history": self.history,
                "pending": self.pending,
                "wall_time": self.wall_time,
                "optimizers": opt_meta,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "num_processes": acc.num_processes,
                "train_config": asdict(self.cfg),
            }
            _write_json(tmp / "state.json", state)  # written last: its presence marks a complete checkpoint
            shutil.rmtree(old, ignore_errors=True)
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)  # from here on the new checkpoint is the one resume uses
            shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    # -- load -------------------------------------------------------------------------------------------------------
    def load_weights(self, folder: Path) -> None:
        """Only the modules' weights of a checkpoint (``init_from``); G_ema starts as G when the source has none."""
        from synthkit.hub import CheckpointError, load_safetensors

        path = Path(folder) / "state.safetensors"
        if not path.is_file():
            raise CheckpointError(
                f"init_from={folder}: no checkpoint there (expected a run folder with checkpoint/state.safetensors, "
                "or a checkpoint folder)"
            )
        tensors = load_safetensors(path, device="cpu")
        for prefix, module in self.modules().items():
            sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
            if not sub and prefix == "G_ema":
                sub = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
            try:
                module.load_state_dict(sub, strict=True)
            except RuntimeError as err:
                raise CheckpointError(
                    f"init_from={folder}: {prefix} does not fit this model ({err}); the source run has another "
                    "architecture"
                ) from err

    def load_checkpoint(self, folder: Path) -> None:
        from synthkit.hub import CheckpointError, load_safetensors

        try:
            state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{folder / 'state.json'}: corrupted ({err}); delete the folder to start over") from err
        tensors = load_safetensors(folder / "state.safetensors", device="cpu")
        for prefix, module in self.modules().items():
            sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
            try:
                module.load_state_dict(sub, strict=True)
            except RuntimeError as err:
                raise CheckpointError(
                    f"{folder / 'state.safetensors'}: {prefix} does not fit this model ({err}). The run in "
                    f"{self.cfg.out_dir} was made with another config; use another --out or delete the checkpoint."
                ) from err
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            _optimizer_join(opt, prefix, tensors, state["optimizers"][prefix])
        scaler = getattr(self.acc, "scaler", None)
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        self.step, self.history, self.wall_time = int(state["step"]), state["history"], float(state["wall_time"])
        self.pending = {k: list(v) for k, v in state["pending"].items()}
        rng = folder / f"rng_rank{self.acc.process_index}.json"
        if rng.is_file():
            _set_rng_state(json.loads(rng.read_text(encoding="utf-8")))
        elif self.acc.is_main_process:
            print(f"warning: {rng} missing (run resumed with more processes): this process starts a fresh RNG stream")
