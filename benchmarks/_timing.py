"""Timing helpers shared by the benchmark scripts (run them as `python benchmarks/<script>.py`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np


def timed(fn: Callable[..., Any], args_list: Sequence[Sequence[Any]], warmup: int = 3) -> list[float]:
    """Milliseconds per call of ``fn(*args)`` for each args in ``args_list``, after ``warmup`` untimed calls."""
    for a in args_list[:warmup]:
        fn(*a)
    out = []
    for a in args_list:
        t = time.perf_counter()
        fn(*a)
        out.append(1e3 * (time.perf_counter() - t))
    return out


def stats(ms: Sequence[float]) -> dict[str, float]:
    """calls, p50/p90/p95, max and mean of a list of milliseconds."""
    a = np.asarray(ms)
    return {"calls": len(a), "p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "p95_ms": float(np.percentile(a, 95)), "max_ms": float(a.max()), "mean_ms": float(a.mean())}


def latency_table(rows: dict[str, dict[str, float]]) -> list[str]:
    """Markdown lines: one row per measure with calls, p50, p90, max and mean in ms (as ``stats`` returns them)."""
    lines = ["| measure | calls | p50 ms | p90 ms | max ms | mean ms |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['calls']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['max_ms']:.1f} | {r['mean_ms']:.1f} |")
    return lines


def write_results(folder, stem: str, text: str, payload: dict[str, Any]) -> None:
    """Print the Markdown ``text`` and save it as ``<folder>/<stem>.md`` with ``payload`` as ``<stem>.json``."""
    import json
    from pathlib import Path

    print(text)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.md").write_text(text, encoding="utf-8")
    (folder / f"{stem}.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")


def run_worker(script: str, argv: Sequence[str], wait_policy: str = "default") -> Any:
    """Run ``script *argv --worker FILE`` in a fresh interpreter under one OpenMP wait policy ("default" = unset,
    else the OMP_WAIT_POLICY value; libgomp reads it when torch loads, hence a new process) and return the JSON
    the worker wrote to FILE."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy != "default":
        env["OMP_WAIT_POLICY"] = wait_policy
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "worker.json"
        subprocess.run([sys.executable, script, *argv, "--worker", str(out)], env=env, check=True)
        return json.loads(out.read_text())
