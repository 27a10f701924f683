"""The shape of the code base: one paper table read by every layer, no import cycles, files within the budget.

These checks keep the template that new papers copy honest (CONTRIBUTING.md, "How to add a paper").
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

from synthkit import papers, registry, train

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "synthkit"
CODE_LINE_BUDGET = 450  # PHILOSOPHY.md: "model files about 400 lines of code"; every synthkit file stays within this


# ---- the paper table -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [k for k, p in papers.PAPERS.items() if p.status != "planned"])
def test_every_paper_row_points_at_real_files(key):
    paper = papers.PAPERS[key]
    model = importlib.import_module(paper.model_import)
    assert papers.of_module(model.__name__) == key
    assert importlib.util.find_spec(paper.pipeline_module) is not None, paper.pipeline_module
    if paper.task:
        assert callable(getattr(model, paper.task)), f"{paper.model_import} has no {paper.task}"
        assert train.TASKS[key] == paper.task_target
    if paper.notebook:
        assert (ROOT / "notebooks" / f"{paper.notebook}.ipynb").exists()
        assert (ROOT / "notebooks" / f"{paper.notebook}.py").exists()
    for demo in paper.demos:
        assert (ROOT / "demos" / f"{demo}.py").exists(), demo


def test_demo_tabs_cover_every_paper_demo():
    from demos.app import TABS  # imports gradio only through the module-level import of demos.common

    tab_modules = {module for _, module in TABS}
    for paper in papers.PAPERS.values():
        for demo in paper.demos:
            assert f"demos.{demo}" in tab_modules, f"{paper.key}'s demo {demo} is not a tab of demos/app.py"


def test_registry_papers_come_from_the_table():
    for entry in registry.list_models(verbose=True):
        assert entry["paper"] in papers.PAPERS or entry["paper"] in papers.NON_PAPER_KINDS
    with pytest.raises(ValueError, match="unknown paper 'groupdnet'.*smis"):
        registry.register("never-registered", paper="groupdnet", repo_id="org/x")


def test_paper_of_a_loaded_model_uses_the_table():
    import synthkit

    model = synthkit.load("toy-toyscapes32")
    assert registry.paper_of("not-a-registered-name", model) == "toy"
    assert papers.of_module("synthkit.models.groupdnet_fast") == "smis"
    assert papers.of_module("synthkit.models.semantic_pyramid") == "pyramid"
    assert papers.of_module("synthkit.backbones") is None


def test_no_second_paper_map_in_the_package():
    """The model-module names appear as import paths only, never as keys of a dict that maps them to papers."""
    offenders = []
    for path in PKG.rglob("*.py"):
        if path.name == "papers.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                values = {v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
                if {"groupdnet", "semantic_pyramid"} & keys or {"smis", "pyramid"} <= values:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"paper string maps outside synthkit/papers.py: {offenders}"
