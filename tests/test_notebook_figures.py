"""Numbers in the notebooks' prose come from a source, never typed by hand (issue 14 item 4).

Every decimal number and percentage in a markdown cell of a notebook is either

- a *quoted figure*: listed in ``QUOTED`` with the file or object it comes from, and the test recomputes it there,
  so a retrained model or a rerun benchmark that changes it fails here until the prose follows; or
- a *setting or definition* (a hyperparameter value the text tells the student to use, a licence version, a paper
  section): listed in ``SETTINGS`` with what it is. Where the setting lives in code, it is checked against it too.

A new number in the prose fails the test until it is listed, so figures cannot slip in typed.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])|\b\d+(?:\.\d+)? ?%")
ARXIV = re.compile(r"\d{4}\.\d{5}")
PRETRAINED = ROOT / "synthkit" / "pretrained"


def _card_field(model: str, field: str) -> str:
    text = (PRETRAINED / model / "README.md").read_text()
    found = re.search(rf"^- {re.escape(field)}: (.+)$", text, re.M)
    assert found, f"{model}'s card has no '- {field}:' line"
    return found.group(1).strip()


def _pyramid_size_and_steps() -> tuple[str, str]:
    from safetensors import safe_open

    with safe_open(str(PRETRAINED / "pyramid-toyscapes" / "model.safetensors"), "pt") as f:
        n = sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())
    return f"{n / 1e6:.1f}", _card_field("pyramid-toyscapes", "steps")


def _numel(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def _c3d_seconds_per_step() -> tuple[str]:
    minutes = float(_card_field("controllable3d-toyshapes3d", "wall time").split()[0])
    steps = int(_card_field("controllable3d-toyshapes3d", "steps"))
    return (f"{round(minutes * 60 / steps)}",)


def _task(name: str, preset: str, train: bool = False):
    from synthkit.train import resolve_task

    task, cfg = resolve_task(name, preset)
    return cfg if train else task


def _train_default(field: str):
    from synthkit.train import TrainConfig

    return getattr(TrainConfig(out_dir="x"), field)


# notebook stem -> [(regex over the markdown, its groups being the quoted figures, source -> the same strings)]
QUOTED = {
    "02_semantic_pyramid": [(r"a (\d+\.\d) M-parameter generator after (\d+) steps", _pyramid_size_and_steps)],
    "04_controllable3d": [(r"about (\d+) s per step on\s+two CPU cores: its model card", _c3d_seconds_per_step)],
}

# notebook stem -> {number as written: (what it is, None or a function returning the value it must equal)}
SETTINGS = {
    "00_tour": {
        "0.999": ("the default generator EMA decay", lambda: _train_default("ema_decay")),
        "0.99": ("the short run's EMA decay (set in the notebook's code)", None),
        "5%": ("an exercise's threshold", None),
    },
    "01_smis": {
        "3.3": ("the paper's section number", None),
        "0.05": ("lambda_kld of the objective", lambda: _task("smis", "toyscapes64").config.lambda_kld),
        "0.005": ("a KL weight an exercise asks to try", None),
    },
    "02_semantic_pyramid": {
        "0.3": ("p_region", lambda: __import__("synthkit.models.semantic_pyramid", fromlist=["x"])
                .PyramidConfig.__dataclass_fields__["p_region"].default),
        "0.1": ("a loss weight an exercise asks to try", None),
        "1.0": ("a loss weight an exercise asks to try", None),
    },
    "03_bachgan": {
        "0.9": ("Adam's beta2 of the bundled recipe", lambda: _task("bachgan", "toyscapes", train=True).betas[1]),
        "4.0": ("the CC BY-NC-SA licence version", None),
    },
    "04_controllable3d": {"0.3": ("an exercise's starting point", None)},
    "05_image2stylegan": {"0.05": ("a learning rate an exercise asks to try", None)},
}


def _markdown(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    # one text per cell, joined; line comments of the paired .py are not part of it
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_in_the_prose_has_a_source(path: Path):
    text = _markdown(path)
    stem = path.stem
    quoted: set[str] = set()
    for pattern, source in QUOTED.get(stem, []):
        found = re.search(pattern, text)
        assert found, f"{stem}: the quoted figure /{pattern}/ is gone from the prose; update QUOTED"
        expected = tuple(str(v) for v in source())
        assert found.groups() == expected, f"{stem}: the prose says {found.groups()}, its source says {expected}"
        quoted.update(found.groups())
    settings = SETTINGS.get(stem, {})
    unlisted = []
    for m in NUMBER.finditer(text):
        value = m.group().replace(" ", "")
        if ARXIV.fullmatch(value) or value in quoted:
            continue
        if value not in settings:
            unlisted.append(f"{value!r} in ...{text[max(0, m.start() - 60):m.end() + 20]!r}")
    assert not unlisted, (f"{stem}: numbers typed in the prose without a source (compute them in a cell, quote a "
                          f"results file, or list them in QUOTED / SETTINGS):\n" + "\n".join(unlisted))
    for value, (what, actual) in settings.items():
        assert value in text, f"{stem}: SETTINGS lists {value!r} ({what}), no longer in the prose: remove it"
        if actual is not None:
            assert float(value.rstrip("%")) == pytest.approx(float(actual())), f"{stem}: {what} is {actual()}, not {value}"


def test_a_typed_figure_is_caught(tmp_path):
    """The check itself: a markdown cell quoting an unlisted measurement fails it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("The model reaches FID 12.7 after training.")]
    path = tmp_path / "03_bachgan.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(AssertionError, match="12.7"):
        test_every_number_in_the_prose_has_a_source(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_display_equation_stands_right_above_the_code_that_computes_it(path):
    """Issue 14 item 3: a paper notebook's key equations are display math ($$ ... $$) in the markdown cell just
    above the code cell that computes them (the library function shown or re-derived)."""
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    with_eq = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "$$" in c.source]
    if path.stem != "00_tour":
        assert len(with_eq) >= 1 and sum(cells[i].source.count("$$") // 2 for i in with_eq) >= 2, (
            f"{path.name}: fewer than two display equations")
    for i in with_eq:
        nxt = cells[i + 1] if i + 1 < len(cells) else None
        first = cells[i].source.split("$$")[1].strip()[:60]
        assert nxt is not None and nxt.cell_type == "code" and nxt.source.strip(), (
            f"{path.name}: the equation {first!r} (cell {i}) is not followed by the code that computes it")
