"""Where synthkit lives, written once: every badge, install line, Space requirement and error message derives
from these constants (``tests/test_project.py`` fails on a placeholder or a second spelling).

The *distribution* is ``synthkit-cvpr20`` (the PyPI name ``synthkit`` belongs to an unrelated project that also
imports as ``synthkit``); the *import package* stays ``synthkit``. Never tell users ``pip install synthkit``.
"""
from __future__ import annotations

DIST_NAME = "synthkit-cvpr20"  # checked free on pypi.org (2026-12-03: `pip download --no-deps` finds nothing)
GITHUB = "synthkit-cvpr20/synthkit"  # owner/name of the repository
REPO_URL = f"https://github.com/{GITHUB}"
HUB_ORG = "synthkit-cvpr20"  # the Hugging Face organisation of the published checkpoints and Spaces


def release_tag(version: str | None = None) -> str:
    """The git tag of a release, ``v<version>`` (default: this package's version)."""
    if version is None:
        from synthkit import __version__ as version
    return f"v{version}"


def install_spec(extras: str | None = "notebooks,train", version: str | None = None) -> str:
    """The pip requirement that installs this release from the repository, e.g. for a Colab setup cell."""
    extra = f"[{extras}]" if extras else ""
    return f"{DIST_NAME}{extra} @ git+{REPO_URL}@{release_tag(version)}"


def colab_url(notebook: str, branch: str = "main") -> str:
    """The Open-in-Colab address of ``notebooks/<notebook>.ipynb``."""
    return f"https://colab.research.google.com/github/{GITHUB}/blob/{branch}/notebooks/{notebook}.ipynb"


def installed_distributions() -> list[str]:
    """The installed distributions that provide the import package ``synthkit`` (ours, or the unrelated one)."""
    from importlib import metadata

    return sorted(set(metadata.packages_distributions().get("synthkit", [])))


def is_ours() -> bool:
    """Whether the importable ``synthkit`` is this project (its distribution metadata says ``synthkit-cvpr20``)."""
    dists = {d.lower().replace("_", "-") for d in installed_distributions()}
    return DIST_NAME in dists


def pip_hint(extras: str | None = None) -> str:
    """What to tell a user who lacks an extra: the command that installs ours, not the PyPI namesake."""
    return f"pip install \"{install_spec(extras)}\""
