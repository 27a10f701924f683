"""Every technical term a notebook uses is defined before its first use (issue 14 item 3).

The convention: a term is *defined* where it is set in **bold** (a bold span whose text names it), as in a
textbook. In each notebook, the first markdown cell that uses a term of ``TERMS`` must be at or after the cell that
defines it there, unless ``00_tour`` defines it (every other notebook starts by sending newcomers to 00, which
teaches the shared GAN vocabulary). The first markdown cell of a notebook (title and overview, a table of contents
that names what is taught later) is not counted as a use.

What is assumed rather than taught (``PREREQUISITES``: deep-learning basics) must be said in 00's "what you
should know" cell. Any other acronym or CamelCase word in the prose must be a listed term, a prerequisite or a
listed name (``NAMES``: datasets, papers, networks, code identifiers), so a new unexplained abbreviation fails
here until it is defined or listed.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
TOUR = "00_tour"

# term -> regex of its uses (matched case-sensitively; spell out the variants)
TERMS: dict[str, str] = {
    "GAN": r"\bGANs?\b|generative adversarial",
    "logit": r"\blogits?\b",
    "hinge loss": r"\b[Hh]inge\b",
    "non-saturating logistic loss": r"non-saturating|\blogistic\b",
    "least-squares loss (LSGAN)": r"[Ll]east[- ]squares|\bLSGAN\b",
    "R1 penalty": r"\bR1\b",
    "EMA": r"\bEMA\b|moving average|[Ww]eight average",
    "spectral normalisation": r"[Ss]pectral norm",
    "FID": r"\bFID\b",
    "KID": r"\bKID\b",
    "LPIPS": r"\bLPIPS\b",
    "IoU / mIoU": r"\bm?IoU\b|intersection over union",
    "DCGAN": r"\bDCGAN\b",
    "SPADE": r"\bSPADE\b",
    "batch normalisation": r"\bBN\b|[Bb]atch[- ]?norm",
    "PatchGAN": r"\bPatchGAN\b",
    "feature matching": r"[Ff]eature[- ]matching|\bFM\b",
    "perceptual loss": r"[Pp]erceptual (?:loss|term)|\\mathcal\{L\}_\{perc\}|L_\{percept\}",
    "KL divergence": r"\bKL\b|Kullback",
    "reparameterisation trick": r"[Rr]eparameteri[sz]ation",
    "TTUR": r"\bTTUR\b|[Tt]wo[- ]time[- ]scale",
    "AdaIN": r"\bAdaIN\b|adaptive instance norm",
    "NLL": r"\bNLL\b|negative log-likelihood",
    "MSE": r"\bMSE\b|mean squared error",
    "PSNR": r"\bPSNR\b",
    "Gram matrix": r"\bGram\b",
    "W+": r"\bW\+|W\^\+|W\^\{\+\}",
    "mapping network": r"[Mm]apping network",
    "pixel norm": r"[Pp]ixel norm",
    "equalized learning rate": r"[Ee]quali[sz]ed(?:-| )(?:lr|learning rate)",
    "CG-Norm": r"\bCG-?Norm\b",
    "CSD / OCD": r"\bm?CSD\b|\bm?OCD\b",
    "FCN": r"\bFCN\b",
}
# assumed knowledge: each must be named in 00's cell that starts "**What you should know already**"
PREREQUISITES: dict[str, str] = {
    "ReLU": r"\bL?ReLU\b",
    "MLP": r"\bMLPs?\b",
    "Adam": r"\bAdam\b",
    "RGB": r"\bRGB\b",
}
# proper names and identifiers that are not terms to define (datasets, papers, networks, code, places, units)
NAMES = set("""
CVPR SMIS GroupDNet BachGAN BachGan Image2StyleGAN StyleGAN StyleGAN2 BigGAN PyTorch CPU GPU TPU CUDA ADE20K
DeepFashion ImageNet FFHQ NVIDIA DRN VGG VGG19 VGG-16 VGG-like README API CLI ORG NAME JPEG PNGs MB GB CC BY-NC-SA OneDrive
CSAILVision ToyscapesDataset CheckpointNotAvailable SMISPipeline SMISResult FolderDataset BackgroundFusion
BachGANTask UpBlock Toyshapes3D Scene3D CGNorm CONV1 FC8 SOLUTIONS STEPS CHUNK
""".split())
TOKEN = re.compile(r"\b[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*\b")  # CG-Norm is one word
BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)


def _prose(source: str) -> str:
    """Markdown without fenced code, inline code and link targets (identifiers there are code, not prose)."""
    source = re.sub(r"```.*?```", " ", source, flags=re.S)
    source = re.sub(r"`[^`]*`", " ", source)
    return re.sub(r"\]\([^)]*\)", "]", source)


def _cells(nb_path: Path) -> list[str]:
    nb = nbformat.read(nb_path, as_version=4)
    return [_prose(c.source) for c in nb.cells if c.cell_type == "markdown"]


def _defined_at(cells: list[str], pattern: str) -> int | None:
    for i, text in enumerate(cells):
        if any(re.search(pattern, span) for span in BOLD.findall(text)):
            return i
    return None


def _first_use(cells: list[str], pattern: str) -> int | None:
    return next((i for i, text in enumerate(cells) if i > 0 and re.search(pattern, text)), None)


def _tour() -> list[str]:
    return _cells(ROOT / "notebooks" / f"{TOUR}.ipynb")


def test_notebooks_found():
    assert len(NOTEBOOKS) >= 6 and any(p.stem == TOUR for p in NOTEBOOKS)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_term_is_defined_before_its_first_use(nb_path):
    cells, tour = _cells(nb_path), _tour()
    problems = []
    for term, pattern in TERMS.items():
        used = _first_use(cells, pattern)
        if used is None:
            continue
        if nb_path.stem != TOUR and _defined_at(tour, pattern) is not None:
            continue
        defined = _defined_at(cells, pattern)
        if defined is None or defined > used:
            where = "never" if defined is None else f"only in markdown cell {defined}"
            snippet = re.search(pattern, cells[used])
            context = cells[used][max(0, snippet.start() - 60): snippet.end() + 60].replace("\n", " ")
            problems.append(f"{term!r}: first used in markdown cell {used} (...{context}...), defined (bold) {where}")
    assert not problems, f"{nb_path.stem}: terms used before their definition:\n  " + "\n  ".join(problems)


def test_the_tour_says_what_it_assumes():
    tour = _tour()
    said = next((t for t in tour if "**What you should know already**" in t), None)
    assert said is not None, "00_tour needs a cell starting '**What you should know already**'"
    missing = [name for name, pattern in PREREQUISITES.items() if not re.search(pattern, said)]
    assert not missing, f"00_tour's prerequisites cell does not name {missing}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_unlisted_abbreviation(nb_path):
    known = [*TERMS.values(), *PREREQUISITES.values()]
    unknown = {}
    for i, text in enumerate(_cells(nb_path)):
        for token in TOKEN.findall(text):
            if token in NAMES or any(re.fullmatch(p, token) or re.search(p, token) for p in known):
                continue
            unknown.setdefault(token, i)
    assert not unknown, (f"{nb_path.stem}: abbreviations that are neither a defined term, a prerequisite nor a "
                         f"listed name (token: first markdown cell): {unknown}")


def test_the_checks_can_fail():
    cells = ["# overview: KL", "we minimise the KL here", "**KL divergence** is ..."]
    assert _first_use(cells, TERMS["KL divergence"]) == 1 and _defined_at(cells, TERMS["KL divergence"]) == 2
    assert _prose("use `KLD` and ```\nFID\n``` then [PSNR](http://x/MSE)") .count("MSE") == 0
