"""Static errors (ruff's pyflakes F and syntax E9 rules) in the package, tests, demos, benchmarks, Spaces and the
notebooks' jupytext sources: an undefined name in a Colab-only notebook cell is found here, not in a lecture."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["synthkit", "tests", "demos", "benchmarks", "spaces", "notebooks"]


def test_no_pyflakes_errors():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is needed for this test: pip install -e \".[dev]\" installs it", pytrace=False)
    out = subprocess.run([ruff, "check", "--select", "F,E9", "--output-format", "concise", *TARGETS], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
