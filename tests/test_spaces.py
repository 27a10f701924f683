"""Every Space folder (``spaces/*/``) has valid front matter, consistent requirements, and an app that builds.

New Spaces are covered automatically: the folders are discovered, not listed.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

SPACES_DIR = Path(__file__).resolve().parents[1] / "spaces"
SPACE_DIRS = sorted(p for p in SPACES_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

# The Hub's card colours (Spaces configuration reference).
HUB_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
REQUIRED = ("title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "python_version", "app_file",
            "license", "pinned")


def front_matter(readme: Path) -> dict:
    """Parse the YAML block between the leading ``---`` lines of a Space README."""
    text = readme.read_text(encoding="utf-8")
    match = re.match(r"\A---\r?\n(.*?)\r?\n---\r?\n", text, flags=re.S)
    if match is None:
        raise AssertionError(f"{readme} does not start with a YAML front matter block (--- ... ---)")
    data = yaml.safe_load(match.group(1))
    if not isinstance(data, dict):
        raise AssertionError(f"{readme}: front matter is not a mapping: {data!r}")
    return data


def requirement_pins(req: Path) -> dict[str, str]:
    """``name -> full requirement line`` for the non-option, non-comment lines of requirements.txt."""
    pins = {}
    for raw in req.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        name = re.match(r"[A-Za-z0-9_.\-]+", line).group(0).lower().replace("_", "-")
        pins[name] = line
    return pins


def test_there_is_at_least_the_template():
    assert (SPACES_DIR / "template") in SPACE_DIRS


def test_front_matter_parser_rejects_the_known_traps(tmp_path):
    """The checks below must catch an abbreviated sdk_version and an unquoted python_version."""
    bad = tmp_path / "README.md"
    bad.write_text("---\nsdk_version: 6.31\npython_version: 3.10\n---\n", encoding="utf-8")
    fm = front_matter(bad)
    assert not re.fullmatch(r"\d+\.\d+\.\d+", str(fm["sdk_version"]))
    assert fm["python_version"] == 3.1  # YAML reads it as a float: exactly the trap the str check catches
    (tmp_path / "NO_FM.md").write_text("# title\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="front matter"):
        front_matter(tmp_path / "NO_FM.md")


@pytest.mark.parametrize("space", SPACE_DIRS, ids=lambda p: p.name)
def test_space_front_matter(space: Path):
    fm = front_matter(space / "README.md")
    missing = [k for k in REQUIRED if k not in fm]
    assert not missing, f"{space.name}: front matter lacks {missing}"
    assert isinstance(fm["title"], str) and fm["title"].strip()
    assert isinstance(fm["emoji"], str) and fm["emoji"].strip() and not fm["emoji"].isascii()
    assert fm["colorFrom"] in HUB_COLORS and fm["colorTo"] in HUB_COLORS, (fm["colorFrom"], fm["colorTo"])
    assert fm["sdk"] == "gradio"
    assert isinstance(fm["sdk_version"], str) and re.fullmatch(r"\d+\.\d+\.\d+", fm["sdk_version"]), (
        f"{space.name}: sdk_version must be a full x.y.z version string, got {fm['sdk_version']!r}")
    assert isinstance(fm["python_version"], str) and re.fullmatch(r"3\.\d{1,2}", fm["python_version"]), (
        f"{space.name}: python_version must be a quoted string like \"3.11\", got {fm['python_version']!r}")
    assert isinstance(fm["app_file"], str) and (space / fm["app_file"]).is_file(), (
        f"{space.name}: app_file {fm['app_file']!r} does not exist")
    assert isinstance(fm["license"], str) and fm["license"].strip()
    assert isinstance(fm["pinned"], bool)


@pytest.mark.parametrize("space", SPACE_DIRS, ids=lambda p: p.name)
def test_space_requirements(space: Path):
    import gradio

    fm = front_matter(space / "README.md")
    pins = requirement_pins(space / "requirements.txt")
    assert "synthkit-cvpr20" in pins, f"{space.name}: requirements.txt must install synthkit-cvpr20 (ours, not PyPI's synthkit)"
    assert re.search(r"@ git\+https://github\.com/[^/]+/synthkit@\S+$|==\d", pins["synthkit-cvpr20"]), (
        f"{space.name}: pin synthkit-cvpr20 to a tag or version, got {pins['synthkit-cvpr20']!r}")
    assert pins.get("gradio") == f"gradio=={fm['sdk_version']}", (
        f"{space.name}: requirements.txt must pin gradio=={fm['sdk_version']} (the sdk_version)")
    # The Space runs the Gradio major version the demos are written and tested against.
    assert fm["sdk_version"].split(".")[0] == gradio.__version__.split(".")[0]


@pytest.mark.parametrize("space", SPACE_DIRS, ids=lambda p: p.name)
def test_space_app_builds(space: Path):
    import gradio as gr

    app_file = space / front_matter(space / "README.md")["app_file"]
    module_name = f"_synthkit_space_{space.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, app_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)  # the `if __name__ == "__main__"` launch does not run
        assert callable(getattr(module, "build_demo", None)), f"{app_file} must define build_demo()"
        demo = module.build_demo()
        assert isinstance(demo, gr.Blocks)
        named = [dep.api_name for dep in demo.fns.values() if dep.api_name]
        assert named, f"{space.name}: the app registers no named API endpoints"
    finally:
        sys.modules.pop(module_name, None)
