"""One training step of every paper runs where its model is (issue 15 item 5), checked on a CPU-only machine.

``place_task`` (what the training loop calls before its first step) puts the task on ``meta``, a device with no
data; the batch goes there with the loop's own ``_to_device``. Then a D step, a G step (each with backward and an
optimiser step) and the sample grid run. Any tensor a step makes on the CPU, or a frozen network left behind, meets
a meta tensor in its first op and fails with the op's message, as it would on a GPU. A host round trip inside a
step (``.item()``, ``float(t)``, a Python ``if`` on a tensor) cannot run on meta either: that is the other thing
this catches, since on a GPU each one stalls the step until the device catches up.
"""
from __future__ import annotations

import inspect

import pytest
import torch

from synthkit import train as T

META = torch.device("meta")


def _default_preset(name: str) -> str:
    return inspect.signature(T._import(T.TASKS[name])).parameters["preset"].default


def _all_modules(task) -> dict[str, torch.nn.Module]:
    return {k: v for k, v in vars(task).items() if isinstance(v, torch.nn.Module)}


def _step(task, batch) -> dict[str, list[str]]:
    """D step then G step as the loop runs them (loss, backward, optimiser step); returns each step's log keys."""
    keys = {}
    for tag, fn, module in (("d", task.d_step, task.D), ("g", task.g_step, task.G)):
        params = [p for p in module.parameters() if p.requires_grad]
        if tag == "g" and isinstance(getattr(task, "E", None), torch.nn.Module):
            params += [p for p in task.E.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=1e-4, betas=(0.0, 0.99))
        out = fn(batch)
        loss = out["loss"]
        assert loss.device.type == "meta" and loss.requires_grad, f"{tag}_step's loss: {loss.device}, {loss.requires_grad}"
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for k, v in out.items():  # logs are the loop's to convert, after the step: they stay on the device
            assert not isinstance(v, (float, int)) or k == "loss", f"{tag}_step log {k!r} was copied to the host"
        keys[tag] = sorted(out)
    return keys


@pytest.mark.parametrize("preset", ["tiny_test", "default"])
@pytest.mark.parametrize("name", list(T.TASKS))
def test_a_training_step_runs_on_the_models_device(name, preset):
    preset = _default_preset(name) if preset == "default" else preset
    task, _ = T.resolve_task(name, preset, [])
    moved = T.place_task(task, META)
    assert {"G", "D"} <= set(moved)
    for attr, module in _all_modules(task).items():  # frozen backbones and perceptual networks included
        left = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.device != META]
        assert not left, f"{name}/{preset}: task.{attr} kept {left[:3]} on the CPU"
    dataset = task.make_dataset("train")
    batch = T._to_device(torch.utils.data.default_collate([dataset[i] for i in range(2)]), META)
    try:
        keys = _step(task, batch)
        grid = task.sample(task.G, batch)
    except (RuntimeError, NotImplementedError) as exc:
        text = str(exc)
        if "meta" in text:
            pytest.fail(f"{name}/{preset}: a training step left the model's device or copied to the host: {text[:400]}")
        raise
    assert keys["d"] and keys["g"]
    assert grid.device == META and grid.dim() == 4 and grid.shape[1] == 3
    # modules loaded lazily during the step (a perceptual backbone) were put on the model's device too
    for attr, module in _all_modules(task).items():
        assert all(t.device == META for t in [*module.parameters(), *module.buffers()]), f"task.{attr} after the step"


def test_place_task_moves_what_the_loop_needs():
    """The loop's own placement is this function (a module it skipped would be missed by the test above)."""
    src = inspect.getsource(T.train)
    assert "place_task(task, acc.device)" in src
    task, _ = T.resolve_task("pyramid", "tiny_test", [])
    assert T.place_task(task, META) == ["G", "D", "backbone"]
