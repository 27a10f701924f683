"""One rule for choosing a device: ``resolve_device("auto")`` is CUDA when available, else Apple's MPS when it
is available and built, else the CPU. Every ``device=`` argument of synthkit's loaders accepts "auto", a device
string ("cpu", "cuda", "cuda:1", "mps") or a ``torch.device``; an unknown string is a clear error.
"""
from __future__ import annotations

import torch

__all__ = ["resolve_device"]


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
