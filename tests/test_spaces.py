"""Every Space folder (``spaces/*/``) has valid front matter, consistent requirements, and an app that builds.

New Spaces are covered automatically: the folders are discovered, not listed.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from synthkit import space

SPACES_DIR = Path(__file__).resolve().parents[1] / "spaces"
SPACE_DIRS = sorted(p for p in SPACES_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def front_matter(readme: Path) -> dict:
    """Parse the YAML block between the leading ``---`` lines of a Space README (synthkit.space's parser)."""
    try:
        return space.front_matter(readme.read_text(encoding="utf-8"), str(readme))
    except space.SpaceError as err:
        raise AssertionError(str(err)) from None


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


@pytest.mark.parametrize("space_dir", SPACE_DIRS, ids=lambda p: p.name)
def test_space_front_matter(space_dir: Path):
    fm = front_matter(space_dir / "README.md")
    assert space.front_matter_problems(fm, space_dir) == []


def test_front_matter_problems_name_each_trap(tmp_path):
    """The builder's own check (synthkit.space) rejects what the Hub rejects or misreads, field by field."""
    (tmp_path / "app.py").write_text("")
    good = front_matter(SPACES_DIR / "template" / "README.md")
    assert space.front_matter_problems(good, tmp_path) == []
    for field, value, says in [("sdk_version", "6.31", "full x.y.z"), ("python_version", 3.1, "quoted string"),
                               ("colorFrom", "orange", "colorFrom must be one of"), ("app_file", "main.py", "main.py"),
                               ("pinned", "no", "pinned"), ("emoji", "x", "emoji"), ("sdk", "streamlit", "sdk must"),
                               ("sdk_version", "5.0.0", "not the tested Gradio")]:
        problems = space.front_matter_problems({**good, field: value}, tmp_path)
        assert len(problems) == 1 and says in problems[0], (field, problems)
    assert space.front_matter_problems({k: v for k, v in good.items() if k != "license"}, tmp_path) == ["lacks 'license'"]


@pytest.mark.parametrize("space_dir", SPACE_DIRS, ids=lambda p: p.name)
def test_space_requirements(space_dir: Path):
    import gradio

    fm = front_matter(space_dir / "README.md")
    pins = requirement_pins(space_dir / "requirements.txt")
    assert "synthkit-cvpr20" in pins, f"{space_dir.name}: requirements.txt must install synthkit-cvpr20 (ours, not PyPI's synthkit)"
    assert re.search(r"@ git\+https://github\.com/[^/]+/synthkit@\S+$|==\d", pins["synthkit-cvpr20"]), (
        f"{space_dir.name}: pin synthkit-cvpr20 to a tag or version, got {pins['synthkit-cvpr20']!r}")
    assert pins.get("gradio") == f"gradio=={fm['sdk_version']}", (
        f"{space_dir.name}: requirements.txt must pin gradio=={fm['sdk_version']} (the sdk_version)")
    # The Space runs the Gradio the demos are tested against.
    assert fm["sdk_version"] == gradio.__version__
    # the committed file is what the builder writes for a release (synthkit space build NAME --release --out spaces/NAME)
    assert (space_dir / "requirements.txt").read_text(encoding="utf-8") == space.requirements_text(release=True), (
        f"spaces/{space_dir.name}/requirements.txt differs from synthkit.space.requirements_text(release=True): "
        f"run `synthkit space build {space_dir.name} --release --out spaces/{space_dir.name}`")


@pytest.mark.parametrize("space_dir", SPACE_DIRS, ids=lambda p: p.name)
def test_space_app_builds(space_dir: Path):
    import gradio as gr

    app_file = space_dir / front_matter(space_dir / "README.md")["app_file"]
    module_name = f"_synthkit_space_{space_dir.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, app_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)  # the `if __name__ == "__main__"` launch does not run
        assert callable(getattr(module, "build_demo", None)), f"{app_file} must define build_demo()"
        demo = module.build_demo()
        assert isinstance(demo, gr.Blocks)
        named = [dep.api_name for dep in demo.fns.values() if dep.api_name]
        assert named, f"{space_dir.name}: the app registers no named API endpoints"
    finally:
        sys.modules.pop(module_name, None)
