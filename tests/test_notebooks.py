"""Every notebook is executed top to bottom in fast mode (SYNTHKIT_FAST=1 shrinks training steps), and checked for
the things that break notebooks for students: a stale .ipynb that differs from its paired jupytext .py file,
committed outputs, a missing Colab badge or a missing install cell.

Figures that the notebooks save under $SYNTHKIT_FIGURES go to test-artifacts/notebooks/ so they can be looked at.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells if c.source.strip()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_paired_and_clean(path: Path):
    py = path.with_suffix(".py")
    assert py.exists(), f"{path.name} has no paired jupytext file {py.name}"
    nb = nbformat.read(path, as_version=4)
    paired = jupytext.read(py)
    assert _sources(nb) == _sources(paired), (
        f"{path.name} and {py.name} differ: run `jupytext --sync {py.relative_to(ROOT)}`")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name} is committed with outputs; strip them"
    first_md = next(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "colab.research.google.com" in first_md and "colab-badge" in first_md, f"{path.name}: no Open-in-Colab badge"
    first_code = next(c.source for c in nb.cells if c.cell_type == "code")
    assert "pip install" in first_code and "synthkit" in first_code, (
        f"{path.name}: the first code cell must install synthkit where it is missing")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_in_fast_mode(path: Path, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    figures = ARTIFACTS / path.stem
    figures.mkdir(parents=True, exist_ok=True)
    env_before = dict(os.environ)
    os.environ.update({"SYNTHKIT_FAST": "1", "SYNTHKIT_SOLUTIONS": "1", "SYNTHKIT_FIGURES": str(figures), "MPLBACKEND": "Agg"})
    try:
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(figures.glob("*.png")), f"{path.name} saved no figure to $SYNTHKIT_FIGURES"
