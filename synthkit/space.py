"""Hugging Face Space folders: assemble one from ``spaces/<name>/`` of a checkout, list it, upload it.

A built Space is self-contained. Its ``requirements.txt`` pins every package synthkit's apps import, at the versions
this project is tested with (``SPACE_PINS``; ``tests/test_space_build.py`` checks they are the installed ones), and
synthkit itself comes one of two ways:

* **bundled** (default): the wheel of this checkout (or ``wheel=``) unpacked into the folder, next to ``app.py``:
  the Space runs ``python app.py`` in that folder, so ``import synthkit`` finds the copy. The wheel is *unpacked*,
  not listed in requirements.txt, because the Spaces builder installs requirements.txt on its own, before it copies
  the repository (``RUN --mount=target=/tmp/requirements.txt,source=requirements.txt pip install -r
  /tmp/requirements.txt``): a ``./synthkit.whl`` line would not be there to install.
* **release** (``release=True``): a ``synthkit-cvpr20[demo] @ git+<repository>@v<version>`` line, for a tag that
  has been published (``synthkit/project.py`` writes the address once).

    synthkit space list
    synthkit space build style-morphing --out build/style-morphing            # bundled, from this checkout
    synthkit space build style-morphing --out build/sm --release              # installs the release tag
    synthkit space deploy style-morphing --repo ORG/synthkit-style-morphing --dry-run

The sources (``README.md`` with the Space's YAML front matter, ``app.py``) live in the repository's ``spaces/``
folder, so building a Space needs a checkout; an installed wheel says so.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from synthkit import project

# What a Space installs besides synthkit: every third-party package synthkit and its apps import, pinned to the
# versions this project is tested with (tests/test_space_build.py fails when one differs from the installed one).
# gradio is the Space's sdk_version (the Hub installs gradio==sdk_version itself; the line keeps pip consistent).
SPACE_PINS: dict[str, str] = {
    "torch": "2.14.1",
    "torchvision": "0.29.1",
    "numpy": "2.4.6",
    "pillow": "12.3.0",
    "safetensors": "0.8.0",
    "huggingface-hub": "2.4.0",
    "einops": "0.8.2",
    "matplotlib": "3.11.2",
    "tqdm": "4.70.1",
    "gradio": "6.31.0",
    "gradio-image-annotation": "0.5.6",
}
# The Hub's card colours (Spaces configuration reference); other values are rejected at upload.
HUB_COLORS = frozenset({"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"})
REQUIRED_FIELDS = ("title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "python_version", "app_file",
                   "license", "pinned")
# Never uploaded: what running the app in the folder leaves behind.
IGNORE_PATTERNS = ("__pycache__/*", "*/__pycache__/*", "*.pyc", ".gradio/*", "flagged/*")


class SpaceError(ValueError):
    """A Space cannot be built or uploaded as asked; the message says what to change."""


# ------------------------------------------------------------------------------------------------ sources
def spaces_dir() -> Path:
    """The checkout's ``spaces/`` folder (beside the ``synthkit`` package); a clear error from an installed wheel."""
    here = Path(__file__).resolve().parents[1] / "spaces"
    if not (here / "template" / "app.py").is_file():
        raise SpaceError(f"no spaces/ folder beside {Path(__file__).resolve().parent}: building a Space needs a "
                         f"checkout of {project.REPO_URL} (git clone it, then run `synthkit space build` there)")
    return here


def space_names() -> list[str]:
    """The Spaces there are: every folder of ``spaces/`` with an ``app.py``."""
    return sorted(p.name for p in spaces_dir().iterdir() if p.is_dir() and (p / "app.py").is_file())


def source_folder(name: str) -> Path:
    names = space_names()
    if name not in names:
        raise SpaceError(f"no Space named {name!r}; there are: {', '.join(names)}")
    return spaces_dir() / name


def front_matter(text: str, where: str = "README.md") -> dict[str, Any]:
    """The YAML block between the leading ``---`` lines of a Space README."""
    import yaml

    match = re.match(r"\A---\r?\n(.*?)\r?\n---\r?\n", text, flags=re.S)
    if match is None:
        raise SpaceError(f"{where} does not start with a YAML front matter block (--- ... ---)")
    data = yaml.safe_load(match.group(1))
    if not isinstance(data, dict):
        raise SpaceError(f"{where}: the front matter is not a mapping: {data!r}")
    return data


def front_matter_problems(fm: dict[str, Any], folder: Path) -> list[str]:
    """What the Hub would reject or misread in a Space's front matter (empty when it is valid)."""
    problems = [f"lacks {k!r}" for k in REQUIRED_FIELDS if k not in fm]
    if problems:
        return problems
    if not (isinstance(fm["title"], str) and fm["title"].strip()):
        problems.append("title must be a non-empty string")
    if not (isinstance(fm["emoji"], str) and fm["emoji"].strip() and not fm["emoji"].isascii()):
        problems.append(f"emoji must be one emoji, got {fm['emoji']!r}")
    for key in ("colorFrom", "colorTo"):
        if fm[key] not in HUB_COLORS:
            problems.append(f"{key} must be one of {sorted(HUB_COLORS)}, got {fm[key]!r}")
    if fm["sdk"] != "gradio":
        problems.append(f"sdk must be gradio, got {fm['sdk']!r}")
    if not (isinstance(fm["sdk_version"], str) and re.fullmatch(r"\d+\.\d+\.\d+", fm["sdk_version"])):
        problems.append(f"sdk_version must be a full x.y.z version string (\"6.31\" fails the build), "
                        f"got {fm['sdk_version']!r}")
    elif fm["sdk_version"] != SPACE_PINS["gradio"]:
        problems.append(f"sdk_version {fm['sdk_version']} is not the tested Gradio {SPACE_PINS['gradio']}")
    if not (isinstance(fm["python_version"], str) and re.fullmatch(r"3\.\d{1,2}", fm["python_version"])):
        problems.append(f"python_version must be a quoted string like \"3.11\" (YAML reads 3.10 as 3.1), "
                        f"got {fm['python_version']!r}")
    if not (isinstance(fm["app_file"], str) and (folder / fm["app_file"]).is_file()):
        problems.append(f"app_file {fm['app_file']!r} is not a file of {folder}")
    if not (isinstance(fm["license"], str) and fm["license"].strip()):
        problems.append("license must be a licence id")
    if not isinstance(fm["pinned"], bool):
        problems.append(f"pinned must be true or false, got {fm['pinned']!r}")
    return problems


# ------------------------------------------------------------------------------------------------ requirements
def requirements_text(release: bool, version: str | None = None) -> str:
    """The ``requirements.txt`` of a built Space (``release``: synthkit from its tag; else bundled in the folder)."""
    lines = [
        "# Written by `synthkit space build` (synthkit/space.py): edit SPACE_PINS there, not this file.",
        "# CPU wheels of torch: the free CPU Space hardware has no GPU, and the default CUDA wheels are several GB.",
        "--extra-index-url https://download.pytorch.org/whl/cpu",
    ]
    if release:
        lines += ["# synthkit (distribution synthkit-cvpr20, with its `demos` package) from a released tag.",
                  project.install_spec("demo", version=version)]
    else:
        lines += ["# synthkit itself is bundled in this folder (synthkit/, demos/ and its .dist-info, unpacked from",
                  "# its wheel): the Spaces builder installs this file before it copies the folder."]
    lines += [f"{name}=={pin}" for name, pin in SPACE_PINS.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ build
def checkout_root() -> Path:
    """The checkout this synthkit is imported from (its pyproject names our distribution)."""
    root = Path(__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or f'name = "{project.DIST_NAME}"' not in pyproject.read_text(encoding="utf-8"):
        raise SpaceError(f"synthkit is not imported from a checkout ({root} has no pyproject.toml of "
                         f"{project.DIST_NAME}): pass wheel=PATH (`--wheel`) or release=True (`--release`)")
    return root


def build_wheel(out_dir: Path) -> Path:
    """This checkout's wheel (``pip wheel --no-deps``, no build isolation: nothing is downloaded) in ``out_dir``."""
    root = checkout_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out_dir),
           str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(out_dir.glob("synthkit_cvpr20-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise SpaceError(f"building the wheel failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    return wheels[-1]


def _unpack_wheel(wheel: Path, out: Path) -> list[str]:
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            if not any(n.startswith("synthkit/") for n in names) or not any(n.startswith("demos/") for n in names):
                raise SpaceError(f"{wheel} is not a synthkit wheel with its demos package (no synthkit/ or demos/)")
            zf.extractall(out)
    except zipfile.BadZipFile as err:
        raise SpaceError(f"{wheel} is not a readable wheel ({err}); rebuild it (python -m build)") from None
    return names


def build_space(name: str, out: str | Path, *, wheel: str | Path | None = None, release: bool = False,
                version: str | None = None) -> Path:
    """Assemble the Space ``name`` into the folder ``out`` (new or empty); returns ``out``.

    ``release``: synthkit installed from the release tag (requirements.txt); otherwise bundled, from ``wheel`` or
    from a wheel of this checkout. ``out`` may be the Space's own source folder only with ``release``: then only
    its requirements.txt is rewritten.
    """
    src = source_folder(name)
    out = Path(out)
    readme = (src / "README.md").read_text(encoding="utf-8")
    fm = front_matter(readme, f"spaces/{name}/README.md")
    problems = front_matter_problems(fm, src)
    if problems:
        raise SpaceError(f"spaces/{name}/README.md front matter: " + "; ".join(problems))
    if release and wheel is not None:
        raise SpaceError("give either a wheel (bundled synthkit) or release=True (synthkit from its tag), not both")
    if out.resolve() == src.resolve():
        if not release:
            raise SpaceError(f"the source folder {src} can only be rewritten with --release (it is committed "
                             "without a bundled synthkit); build a bundled Space into another folder")
        (out / "requirements.txt").write_text(requirements_text(True, version), encoding="utf-8")
        return out
    if out.exists() and any(out.iterdir()):
        raise SpaceError(f"{out} is not empty; give a new or empty folder (nothing was written)")
    out.mkdir(parents=True, exist_ok=True)
    for item in ("README.md", fm["app_file"]):
        shutil.copy2(src / item, out / item)
    (out / "requirements.txt").write_text(requirements_text(release, version), encoding="utf-8")
    if not release:
        if wheel is None:
            with tempfile.TemporaryDirectory(prefix="synthkit-wheel-") as tmp:
                _unpack_wheel(build_wheel(Path(tmp)), out)
        else:
            wheel = Path(wheel)
            if not wheel.is_file():
                raise SpaceError(f"no wheel at {wheel}")
            _unpack_wheel(wheel, out)
    return out


# ------------------------------------------------------------------------------------------------ deploy
def _ignored(rel: str) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(rel, pat) for pat in IGNORE_PATTERNS)


def upload_list(folder: str | Path) -> list[tuple[str, int, str]]:
    """Exactly what ``deploy`` sends: ``(path in the Space repository, bytes, sha256)`` for every file of the
    folder that is not ignored (``IGNORE_PATTERNS``: caches the app leaves when run), sorted by path."""
    from synthkit.hub import sha256_of

    folder = Path(folder)
    rows = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if not _ignored(rel):
            rows.append((rel, path.stat().st_size, sha256_of(path)))
    return rows


def deploy_space(folder: str | Path, repo_id: str, *, dry_run: bool = False, private: bool = False,
                 token: str | None = None) -> list[tuple[str, int, str]]:
    """Upload a built Space folder to the Space repository ``repo_id`` (created as a Gradio Space if missing).

    ``dry_run``: nothing is sent; returns what would be. The upload uses huggingface_hub's ``create_repo``
    (``repo_type="space", space_sdk="gradio"``) and ``upload_folder`` with the same ignore patterns.
    """
    folder = Path(folder)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", repo_id or ""):
        raise SpaceError(f"--repo must be ORG/NAME (e.g. {project.HUB_ORG}/synthkit-style-morphing), got {repo_id!r}")
    fm = front_matter((folder / "README.md").read_text(encoding="utf-8"), f"{folder}/README.md") \
        if (folder / "README.md").is_file() else None
    if fm is None or front_matter_problems(fm, folder):
        raise SpaceError(f"{folder} is not a built Space (README.md with valid front matter); "
                         "build it with `synthkit space build NAME --out DIR`")
    files = upload_list(folder)
    if dry_run:
        return files
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="space",
                          ignore_patterns=list(IGNORE_PATTERNS),
                          commit_message=f"synthkit {project.release_tag()}: {fm['title']}")
    except OfflineModeIsEnabled as err:
        raise SpaceError(f"cannot upload to {repo_id}: HF_HUB_OFFLINE is set ({err}); unset it, or use --dry-run "
                         "to list what would be sent") from None
    return files


def default_repo(name: str) -> str:
    """Where ``synthkit space deploy NAME`` uploads by default: ``<HUB_ORG>/synthkit-<name>``."""
    return f"{project.HUB_ORG}/{name if name.startswith('synthkit') else 'synthkit-' + name}"
