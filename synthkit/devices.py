"""One rule for choosing a device: ``resolve_device("auto")`` is CUDA when available, else Apple's MPS when it
is available and built, else the CPU. Every ``device=`` argument of synthkit's loaders accepts "auto", a device
string ("cpu", "cuda", "cuda:1", "mps") or a ``torch.device``; an unknown string is a clear error.
"""
from __future__ import annotations

import torch

__all__ = ["module_device", "resolve_device"]


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (else first buffer); the CPU for a module with neither. Pipelines
    put their inputs there, so a model moved with ``.to(device)`` takes its inputs along."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available() and mps.is_built():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device, got {device!r}") from None
