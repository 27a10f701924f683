"""The project's public location is written once (synthkit/project.py, pyproject's [project.urls]); every badge,
install line and Space requirement derives from it, and no placeholder or bare `synthkit` requirement is left."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import nbformat
import pytest

from synthkit import project

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".yml", ".yaml", ".ipynb", ".sh", ".cfg", ".json"}


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in out.splitlines()
            if Path(f).suffix in TEXT_SUFFIXES and not f.startswith("benchmarks/results/") and (ROOT / f).is_file()]


def test_pyproject_is_the_constants():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["name"] == project.DIST_NAME
    assert meta["urls"]["Repository"] == project.REPO_URL and meta["urls"]["Homepage"] == project.REPO_URL
    import synthkit

    assert meta["version"] == synthkit.__version__


def test_no_placeholder_and_one_spelling_of_the_repository():
    bad, other_repos = [], []
    this = Path(__file__).name
    for f in tracked_text_files():
        if f.name == this:
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        if re.search(r"YOUR[-_]ORG|<your[-_ ]org>", text, re.I):
            bad.append(str(f.relative_to(ROOT)))
        for m in re.finditer(r"github\.com/([\w.-]+)/synthkit\b", text):
            if m.group(1) != project.GITHUB.split("/")[0]:
                other_repos.append(f"{f.relative_to(ROOT)}: {m.group(0)}")
    assert not bad, f"placeholders left in: {bad}"
    assert not other_repos, f"a second spelling of the repository: {other_repos}"


def test_nobody_is_told_to_pip_install_the_namesake():
    # `pip install synthkit`, `pip install "synthkit[...]"`, `synthkit @ git+...`: all install the unrelated package
    pattern = re.compile(r"pip install (-[-\w]+ )*['\"]?synthkit(\[[^\]]*\])?(['\"\s]|$)|^synthkit( @|==)", re.M)
    hits = []
    for f in tracked_text_files():
        if f.name == Path(__file__).name:
            continue
        for m in pattern.finditer(f.read_text(encoding="utf-8", errors="replace")):
            hits.append(f"{f.relative_to(ROOT)}: {m.group(0).strip()}")
    assert not hits, hits


def test_a_pip_hint_names_our_distribution():
    assert project.pip_hint("notebooks").startswith(f'pip install "{project.DIST_NAME}[notebooks] @ git+')
    assert project.install_spec(None, "1.2.3") == f"{project.DIST_NAME} @ git+{project.REPO_URL}@v1.2.3"


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_badge_and_install_line_derive_from_the_constants(path: Path):
    nb = nbformat.read(path, as_version=4)
    first_md = next(c.source for c in nb.cells if c.cell_type == "markdown")
    assert project.colab_url(path.stem) in first_md
    setup = next(c.source for c in nb.cells if c.cell_type == "code")
    assert f'%pip install -q "{project.install_spec()}"' in setup
    assert "%pip uninstall -y synthkit" in setup  # the namesake is removed before ours goes in
    assert '_installed("synthkit-cvpr20")' in setup and project.DIST_NAME == "synthkit-cvpr20"


@pytest.mark.parametrize("req", sorted((ROOT / "spaces").glob("*/requirements.txt")), ids=lambda p: p.parent.name)
def test_space_installs_this_release(req: Path):
    lines = [ln.strip() for ln in req.read_text().splitlines() if ln.strip() and not ln.startswith(("#", "-"))]
    assert project.install_spec("demo") in lines, f"{req}: expected the line {project.install_spec('demo')!r}"


def test_the_installed_synthkit_is_ours():
    assert project.is_ours(), project.installed_distributions()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_prints_its_device_first(path: Path):
    """Each notebook says, in its first cells, where training runs (issue 15: a Colab GPU runtime must be visible)."""
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"][:2]
    text = "\n".join(code)
    assert 'DEVICE = resolve_device("auto")' in text and '"| training device:", DEVICE' in text
