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


# ---- the import graph and the size budget -------------------------------------------------------------------------


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` / ``if __name__ == "__main__":`` (never run on import)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or "__name__ ==" in test:
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def import_graph() -> dict[str, set[str]]:
    """synthkit module -> the synthkit modules it imports, at module level or inside functions (lazy imports are
    dependencies too: they are how the cycles used to be hidden)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [node.module, *subs]
            graph[name].update(t for t in targets if t in mods and t != name and not name.startswith(t + "."))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_in_synthkit():
    cycles = _cycles(import_graph())
    assert not cycles, f"import cycles (module-level or lazy): {cycles}"


def test_the_cycle_check_can_fail():
    graph = import_graph()
    graph["synthkit.data.palette"].add("synthkit.models.bachgan")
    graph["synthkit.models.bachgan"].add("synthkit.data.palette")
    assert ["synthkit.data.palette", "synthkit.models.bachgan"] in _cycles(graph)


def test_layers_import_downwards():
    """data never imports models / pipelines / demos; models never import pipelines (CONTRIBUTING.md)."""
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith("synthkit.data"):
            assert not {d for d in deps if d.startswith(("synthkit.models", "synthkit.pipelines"))}, name
        if name.startswith("synthkit.models"):
            assert not {d for d in deps if d.startswith("synthkit.pipelines")}, name


def code_lines(path: Path) -> int:
    """Lines of code: not blank, not a comment, not inside a docstring."""
    source = path.read_text(encoding="utf-8")
    doc_lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                doc_lines.update(range(first.lineno, first.end_lineno + 1))
    return sum(1 for i, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and i not in doc_lines)


def test_every_synthkit_file_is_within_the_size_budget():
    over = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py") if (n := code_lines(p)) > CODE_LINE_BUDGET}
    assert not over, f"files over {CODE_LINE_BUDGET} code lines (split where the code splits naturally): {over}"
