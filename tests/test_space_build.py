"""Spaces that build and run (issue 15 item 3): ``synthkit space build`` makes a self-contained folder, and that
folder runs as the Space runtime would run it.

For each Space: build it (synthkit bundled from a wheel of this checkout); install its ``requirements.txt`` *alone*
(copied to another folder first, as the Spaces builder mounts only that file) into a fresh venv (tests/freshvenv.py);
run ``python app.py`` in the folder with the port in ``GRADIO_SERVER_PORT``; drive its main endpoint with
gradio_client. Then ``synthkit space deploy --dry-run`` lists exactly what would be uploaded.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from freshvenv import free_port, make_venv, run, serve, shared_deps, stop

from synthkit import space

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

# Space -> (its main endpoint, keyword arguments). A new Space fails below until it is added here.
MAIN = {
    "template": ("/toyscapes_render", {"scene": "coast", "seed": 7, "index": 2, "size": 128}),
    "style-morphing": ("/morph_tick", {"t": 0.5}),
    "semantic-inpainting": ("/pyramid_inpaint", {"seed": 2}),
    "layout-to-image": ("/layout_generate", {"seed": 1}),
    "3d-controls": ("/controls_render", {"seed": 0, "azimuth": 40.0}),
    "embed-and-edit": ("/embed_run", {"operation": "Reconstruct", "steps_w": 4, "steps_noise": 2}),
    "hub": ("/toyscapes_render", {"scene": "coast", "seed": 7, "index": 2, "size": 128}),
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return space.build_wheel(tmp_path_factory.mktemp("space-wheel"))


@pytest.fixture(scope="module")
def deps(tmp_path_factory) -> Path:
    return shared_deps(tmp_path_factory.mktemp("space-deps") / "deps")


def test_every_space_has_a_main_endpoint_here():
    assert sorted(MAIN) == space.space_names()


def test_space_pins_are_the_tested_versions():
    """SPACE_PINS are versions that exist: the ones installed here, which this test suite runs on."""
    from importlib.metadata import version

    wrong = {name: (pin, version(name)) for name, pin in space.SPACE_PINS.items()
             if version(name).split("+")[0] != pin}
    assert not wrong, f"synthkit/space.py SPACE_PINS differ from the tested environment (pin, installed): {wrong}"


@pytest.mark.parametrize("name", sorted(MAIN))
def test_built_space_installs_from_its_requirements_alone_and_serves(name, wheel, deps, tmp_path, read_png):
    out = space.build_space(name, tmp_path / "space", wheel=wheel)
    top = sorted(p.name for p in out.iterdir())
    assert top == ["README.md", "app.py", "demos", "requirements.txt", "synthkit", "synthkit_cvpr20-0.1.0.dist-info"]
    text = (out / "README.md").read_text(encoding="utf-8")
    assert space.front_matter_problems(space.front_matter(text), out) == []
    assert "YOUR" not in text and "YOUR" not in (out / "requirements.txt").read_text()
    # the Spaces builder installs requirements.txt before the folder exists: give pip that file and nothing else
    alone = tmp_path / "mounted"
    alone.mkdir()
    shutil.copy(out / "requirements.txt", alone / "requirements.txt")
    python = make_venv(tmp_path / "venv", deps)
    proc = run([python, "-m", "pip", "install", "--no-index", "-r", "requirements.txt"], cwd=alone)
    assert "Successfully installed" not in proc.stdout, proc.stdout[-2000:]  # every pin is an existing version
    where = run([python, "-c", "import synthkit, demos; from synthkit import project; "
                 "print(synthkit.__file__, demos.__file__, project.is_ours())"], cwd=out).stdout.split()
    assert where == [str(out / "synthkit" / "__init__.py"), str(out / "demos" / "__init__.py"), "True"], where
    port = free_port()
    server = serve([python, "app.py"], cwd=out, port=port, log=tmp_path / "app.log",
                   GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    try:
        from gradio_client import Client

        endpoint, kwargs = MAIN[name]
        result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(**kwargs, api_name=endpoint)
        values = result if isinstance(result, (list, tuple)) else [result]
        files = [v for v in values if isinstance(v, str) and v.lower().endswith((".png", ".webp", ".jpg", ".jpeg"))]
        assert files, (name, endpoint, result)
        for f in files:
            image = read_png(f)
            assert image.ndim == 3 and image.shape[2] == 3 and image.std() > 1, (name, f, image.shape)
        if endpoint == "/toyscapes_render":
            from synthkit.data import toyscapes

            np.testing.assert_array_equal(read_png(files[0]), toyscapes.render(7, 2, size=128, scene="coast").image)
    finally:
        stop(server)
    log = (tmp_path / "app.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def test_deploy_dry_run_lists_exactly_what_would_be_sent(wheel, tmp_path):
    out = space.build_space("template", tmp_path / "space", wheel=wheel)
    # what running the app leaves behind is never sent
    (out / "synthkit" / "__pycache__").mkdir(exist_ok=True)
    (out / "synthkit" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"x")
    (out / ".gradio").mkdir()
    (out / ".gradio" / "cache.txt").write_text("x")
    expected = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
                      and "__pycache__" not in p.parts and ".gradio" not in p.parts)
    proc = subprocess.run([sys.executable, "-m", "synthkit", "space", "deploy", "template", "--folder", str(out),
                           "--repo", "someone/toyscapes", "--dry-run"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"would upload {len(expected)} files") and "spaces/someone/toyscapes" in lines[0]
    assert [ln.split()[0] for ln in lines[1:]] == expected
    assert [r[0] for r in space.upload_list(out)] == expected


def test_deploy_offline_says_why_and_sends_nothing(wheel, tmp_path, monkeypatch):
    out = space.build_space("template", tmp_path / "space", wheel=wheel)
    proc = subprocess.run([sys.executable, "-m", "synthkit", "space", "deploy", "template", "--folder", str(out),
                           "--repo", "someone/toyscapes"], capture_output=True, text=True,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "HF_HUB_OFFLINE" in proc.stderr and "--dry-run" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_build_refuses_what_it_cannot_do(tmp_path, wheel):
    with pytest.raises(space.SpaceError, match="no Space named 'nope'; there are: 3d-controls"):
        space.build_space("nope", tmp_path / "a")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(space.SpaceError, match="not empty"):
        space.build_space("template", tmp_path / "full", wheel=wheel)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"  # nothing lost
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(space.SpaceError, match="not a readable wheel"):
        space.build_space("template", tmp_path / "b", wheel=tmp_path / "bad.whl")
    with pytest.raises(space.SpaceError, match="only be rewritten with --release"):
        space.build_space("template", ROOT / "spaces" / "template", wheel=wheel)
    with pytest.raises(space.SpaceError, match="ORG/NAME"):
        space.deploy_space(tmp_path, "not a repo", dry_run=True)
