"""Run notebooks top to bottom in their full (or lecture) mode and record the run in notebooks/README.md.

    python notebooks/record_run.py                         # every notebook, full mode
    python notebooks/record_run.py 02_semantic_pyramid     # one notebook
    python notebooks/record_run.py --mode lecture          # SYNTHKIT_LECTURE=1 (meant for a GPU)

Each run executes the notebook with nbclient (``SYNTHKIT_SOLUTIONS=1``, ``MPLBACKEND=Agg``), saves its figures
(``save_fig``) under ``notebooks/recorded/<mode>/<name>/`` (committed) and writes one row of the "Recorded runs" table in
notebooks/README.md: date, commit, device, wall time, the sha256 of the bundled model the notebook teaches (so a
retrained model shows which recorded run is out of date; ``tests/test_notebook_runs.py`` checks it), the load of the
machine, and the figures. The FAST mode is what the tests run; this is the mode a student runs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
BEGIN, END = "<!-- recorded-runs:begin -->", "<!-- recorded-runs:end -->"
HEADER = ("| notebook | mode | date (UTC) | commit | device | wall time | model (sha256) | machine load | figures |\n"
          "|---|---|---|---|---|---|---|---|---|")
# the bundled checkpoint each notebook is about (its row goes stale when that model is retrained)
MODEL_OF = {
    "00_tour": "toy-toyscapes32",
    "01_smis": "smis-toyscapes",
    "02_semantic_pyramid": "pyramid-toyscapes",
    "03_bachgan": "bachgan-toyscapes",
    "04_controllable3d": "controllable3d-toyshapes3d",
    "05_image2stylegan": "stylegan2-toyscapes64",
}


def read_rows(text: str | None = None) -> dict[tuple[str, str], list[str]]:
    """``(notebook, mode) -> cells`` of the recorded-runs table in notebooks/README.md."""
    text = README.read_text(encoding="utf-8") if text is None else text
    if BEGIN not in text or END not in text:
        return {}
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = {}
    for line in body.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9:
            rows[(cells[0].strip("`"), cells[1])] = cells
    return rows


def write_rows(rows: dict[tuple[str, str], list[str]]) -> None:
    text = README.read_text(encoding="utf-8")
    table = "\n".join([HEADER] + ["| " + " | ".join(rows[k]) + " |" for k in sorted(rows)])
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Recorded runs\n\n" + block + "\n"
    README.write_text(text, encoding="utf-8")


def run_notebook(name: str, mode: str, timeout_s: int) -> list[str]:
    import nbformat
    import torch
    from nbclient import NotebookClient

    from synthkit import registry

    figures = HERE / "recorded" / mode / name  # committed (runs/ is ignored: training outputs)
    figures.mkdir(parents=True, exist_ok=True)
    for old in figures.glob("*.png"):
        old.unlink()
    env = {"SYNTHKIT_SOLUTIONS": "1", "SYNTHKIT_FIGURES": str(figures), "MPLBACKEND": "Agg"}
    if mode == "lecture":
        env["SYNTHKIT_LECTURE"] = "1"
    saved = {k: os.environ.get(k) for k in [*env, "SYNTHKIT_FAST", "SYNTHKIT_LECTURE"]}
    for k in ("SYNTHKIT_FAST", "SYNTHKIT_LECTURE"):
        os.environ.pop(k, None)
    os.environ.update(env)
    nb = nbformat.read(HERE / f"{name}.ipynb", as_version=4)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wall = time.perf_counter() - t0
    load = f"{load0:.1f} → {os.getloadavg()[0]:.1f}"
    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    # edits not committed (besides what this script writes) make the commit an approximation: say so
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!notebooks/README.md",
                              ":!notebooks/recorded"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if changed:
        commit += "+uncommitted"
    model = MODEL_OF[name]
    sha = registry.get(model).sha256
    pngs = sorted(p.name for p in figures.glob("*.png"))
    return [f"`{name}`", mode, dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"), commit, device,
            f"{wall / 60:.1f} min", f"{model} {sha[:12]}", load,
            f"{len(pngs)} in [recorded/{mode}/{name}/](recorded/{mode}/{name}/)"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help=f"notebooks (default all: {', '.join(MODEL_OF)})")
    p.add_argument("--mode", choices=["full", "lecture"], default="full")
    p.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    args = p.parse_args(argv)
    names = args.names or list(MODEL_OF)
    unknown = [n for n in names if n not in MODEL_OF]
    if unknown:
        print(f"error: unknown notebooks {unknown}; valid: {', '.join(MODEL_OF)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"running {name} in {args.mode} mode ...", flush=True)
        row = run_notebook(name, args.mode, args.timeout)
        rows = read_rows()
        rows[(name, args.mode)] = row
        write_rows(rows)
        print("  " + " | ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
