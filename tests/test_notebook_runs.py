"""The notebooks' full-mode runs are recorded (notebooks/record_run.py) and not stale (issue 14 item 5).

A recorded run names the sha256 of the bundled model its notebook teaches; when that model is retrained the row no
longer matches and this test fails until the notebook is run again (``python notebooks/record_run.py NAME``). A
notebook with no recorded full run yet is an expected failure that says so, not a pass.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from synthkit import registry

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("record_run", ROOT / "notebooks" / "record_run.py")
record_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record_run)


def test_every_notebook_is_mapped_to_its_model():
    names = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.ipynb"))
    assert sorted(record_run.MODEL_OF) == names
    assert all(m in registry.names() for m in record_run.MODEL_OF.values())


@pytest.mark.parametrize("name", sorted(record_run.MODEL_OF))
def test_recorded_full_run_is_for_the_current_model(name):
    rows = record_run.read_rows()
    if (name, "full") not in rows:
        pytest.xfail(f"{name}: no full-mode run recorded yet (python notebooks/record_run.py {name})")
    row = rows[(name, "full")]
    model = record_run.MODEL_OF[name]
    assert row[6] == f"{model} {registry.get(model).sha256[:12]}", (
        f"{name}: its recorded full run used {row[6]}, but {model} is now {registry.get(model).sha256[:12]}: "
        f"run python notebooks/record_run.py {name}")
    figures = ROOT / "notebooks" / "recorded" / "full" / name  # committed beside the README
    pngs = sorted(figures.glob("*.png"))
    assert pngs and row[8].startswith(f"{len(pngs)} in "), (row[8], len(pngs))


def test_table_round_trips(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("# notebooks\n")
    monkeypatch.setattr(record_run, "README", readme)
    row = ["`00_tour`", "full", "2026-12-03 18:00", "abc1234", "cpu (2 cores)", "3.0 min", "toy-toyscapes32 3fd5",
           "1.0 → 2.0", "5 in [recorded/full/00_tour/](recorded/full/00_tour/)"]
    record_run.write_rows({("00_tour", "full"): row})
    assert record_run.read_rows() == {("00_tour", "full"): row}
    record_run.write_rows({("00_tour", "full"): row, ("01_smis", "full"): ["`01_smis`", *row[1:]]})
    assert len(record_run.read_rows()) == 2 and readme.read_text().count(record_run.BEGIN) == 1
