"""The `synthkit` command as a user runs it: a real subprocess, checked for output files and for errors that are
one clear line without a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthkit.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("list", "demo", "data", "train", "sample", "convert", "push"):
        assert cmd in r.stdout


@pytest.mark.parametrize("dataset", ["toyscapes", "toyshapes3d"])
def test_data_preview_writes_a_grid(tmp_path: Path, dataset: str):
    out = tmp_path / "grid.png"
    r = run("data", "preview", dataset, "--n", "4", "--size", "64", "--out", str(out))
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[0] >= 64 and img.shape[1] >= 2 * 64   # images next to their label maps
    assert img.std() > 10                                   # not a blank canvas


@pytest.mark.parametrize("args, expected", [
    (("data", "preview", "mnist", "--out", "x.png"), "toyscapes"),         # names the valid dataset
    (("train", "nosuchmodel", "--dry-run"), "smis"),                       # lists valid models
    (("sample", "no-such-model", "--out", "x.png"), "no-such-model"),
    (("convert", "smis", "latest_net_G.pth", "--out", "o"), "latest_net_G.pth: no such file"),  # no preset needed
    (("convert", "smis", "G.pth", "--image-size", "256", "--out", "o"), "--image-size expects HxW"),
    (("convert", "stylegan2", "g.pt", "--preset", "ffhq", "--out", "o"), "reads everything from the checkpoint"),
    (("convert", "places365", "vgg16_places365.pth", "--out", "o"), "vgg16_places365.pth: no such file"),
])
def test_user_mistakes_are_one_line_errors(args, expected, tmp_path):
    r = subprocess.run([sys.executable, "-m", "synthkit.cli", *args], capture_output=True, text=True, cwd=tmp_path,
                       timeout=300)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("error:") and expected in r.stderr


def test_list_shows_bundled_models():
    r = run("list")
    assert r.returncode == 0, r.stderr
    assert "backbone-toyscapes" in r.stdout


def test_train_dry_run_prints_resolved_config():
    r = run("train", "toy", "--preset", "tiny_test", "--set", "lr_g=0.001", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "0.001" in r.stdout
    r = run("train", "toy", "--preset", "tiny_test", "--set", "no_such_field=1", "--dry-run")
    assert r.returncode == 2 and "no_such_field" in r.stderr and "Traceback" not in r.stderr
