"""environment.yml (conda users) says the same as pyproject.toml (issue 15 item 7): the same torch range, extras
that exist, a Python that requires-python allows, and nothing installed that the README's set-up does not."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pip_section(env: dict) -> list[str]:
    sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml needs exactly one pip: section"
    return sections[0]


def test_torch_pins_match_pyproject():
    pins = {re.split(r"[<>=!~ ]", r, maxsplit=1)[0]: r for r in _pip_section(_env()) if not r.startswith("-")}
    deps = {re.split(r"[<>=!~ ]", r, maxsplit=1)[0]: r for r in _project()["dependencies"]}
    for name in ("torch", "torchvision"):
        assert pins[name] == deps[name], f"environment.yml pins {pins[name]!r}, pyproject {deps[name]!r}"
    assert set(pins) <= set(deps), f"environment.yml installs {set(pins) - set(deps)} that pyproject does not"


def test_editable_install_names_existing_extras():
    lines = [r for r in _pip_section(_env()) if r.startswith("-e")]
    assert lines == ["-e .[dev,notebooks]"] or len(lines) == 1
    extras = re.search(r"\[(.*)\]", lines[0]).group(1).split(",")
    known = set(_project()["optional-dependencies"])
    assert set(extras) <= known, f"unknown extras {set(extras) - known}; pyproject has {sorted(known)}"


def test_python_version_is_allowed():
    python = next(d for d in _env()["dependencies"] if isinstance(d, str) and d.startswith("python="))
    major, minor = (int(x) for x in python.split("=")[1].split(".")[:2])
    low = _project()["requires-python"].removeprefix(">=")
    assert (major, minor) >= tuple(int(x) for x in low.split(".")), (python, low)
