"""``MetricResult``: a number that always says where it came from.

A FID of 12.3 means nothing without its feature network, its weights, its sample count, its seed and its resize
(metrics_research.md §2). Every metric in ``synthkit.metrics`` returns a ``MetricResult`` and its ``str`` prints
the provenance next to the value, with a warning banner when the number is not comparable to the papers'.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["MetricResult", "NOT_COMPARABLE_BANNER"]

NOT_COMPARABLE_BANNER = "[!] not comparable to published numbers"


@dataclass(frozen=True)
class MetricResult:
    """One metric value and its provenance.

    value: the number; name: e.g. "fid", "kid", "miou"; backend: the feature network (e.g. "offline-toyscapes",
    "torchvision-vgg16", "lpips-alex-v0.1"); weights_sha256: hash of that network's weight file (None if random
    or unknown); n: sample count (images, or pairs for distances); seed: of any random choice (subsets, z);
    resize: how images were resized before the network ("none" if not); comparable_to_paper: True only with the
    papers' own reference networks and protocol; extra: anything else worth printing (std, per-class values, ...).
    """

    value: float
    name: str
    backend: str
    weights_sha256: str | None
    n: int
    seed: int | None = None
    resize: str = "none"
    comparable_to_paper: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        sha = (self.weights_sha256[:12] + "…") if self.weights_sha256 else "none"
        parts = [f"backend={self.backend}", f"weights_sha256={sha}", f"n={self.n}", f"seed={self.seed}",
                 f"resize={self.resize}"]
        parts += [f"{k}={_short(v)}" for k, v in self.extra.items()]
        text = f"{self.name} = {self.value:.6g}  ({', '.join(parts)})"
        if not self.comparable_to_paper:
            text += f"  {NOT_COMPARABLE_BANNER}"
        return text


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and len(v) > 6:
        return f"[{len(v)} values]"
    return str(v)
