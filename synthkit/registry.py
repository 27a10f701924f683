"""The registry of named checkpoints: ``name -> where the weights are`` (a bundled folder or a Hub repo id).

Add an entry with :func:`register` at the bottom of this file::

    register(
        "smis-toyscapes64",
        paper="smis",
        folder="smis-toyscapes64",                 # under synthkit/pretrained/
        sha256="<sha256 of model.safetensors>",    # `sha256sum model.safetensors`
        description="GroupDNet trained 20k steps on Toyscapes 64x64",
    )
    register("smis-deepfashion", paper="smis", repo_id="ORG/smis-deepfashion", revision="<40-hex commit>",
             sha256="<sha256 of model.safetensors>")     # a Hub entry is pinned: both are required

A bundled entry may name its published copy, ``hub_repo="ORG/NAME"`` and, once ``synthkit push NAME`` has
uploaded it, ``hub_revision="<the commit it printed>"``: ``synthkit.load(name)`` keeps using the bundled folder
(offline, no download); ``synthkit.load(name, source="hub")`` takes the pinned Hub commit, with the same sha256.

``synthkit.load(name)`` (in :mod:`synthkit.hub`) resolves the entry, checks the sha256 when one is given, and
builds the model class named in the folder's ``config.json``. This module only holds data: it imports nothing
heavy, so ``synthkit list`` is fast.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from synthkit import papers

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Bundled checkpoints are published as <HUB_ORG>/<name> (synthkit/project.py); hub_revision is filled in with the
# commit `synthkit push NAME` prints, once it has been pushed (none has: this machine has no network).
from synthkit.project import HUB_ORG as _HUB_ORG  # noqa: E402


@dataclass(frozen=True)
class ModelEntry:
    """One named checkpoint. Exactly one of ``folder`` (bundled) or ``repo_id`` (Hugging Face Hub) is set."""

    name: str
    paper: str
    description: str = ""
    folder: str | None = None  # relative to synthkit/pretrained/
    repo_id: str | None = None  # "ORG/NAME" on the Hugging Face Hub
    revision: str | None = None  # the commit of repo_id (40 hex digits): a Hub entry is pinned
    sha256: str | None = None  # of model.safetensors; checked on load when given
    # A bundled entry's published copy (``synthkit push NAME``): where, and the commit it is pinned to once pushed
    # (None: not published yet, ``synthkit.load(name, source="hub")`` says so). Same weights, same sha256.
    hub_repo: str | None = None
    hub_revision: str | None = None

    @property
    def pinned_hub(self) -> tuple[str, str] | None:
        """``(repo_id, commit)`` of this entry on the Hub, or None when it has no pinned Hub copy."""
        if self.repo_id is not None:
            return self.repo_id, self.revision
        if self.hub_repo is not None and self.hub_revision is not None:
            return self.hub_repo, self.hub_revision
        return None

    @property
    def path(self) -> Path | None:
        """The bundled folder, or None for a Hub entry."""
        return PRETRAINED_DIR / self.folder if self.folder else None


_REGISTRY: dict[str, ModelEntry] = {}


def register(
    name: str,
    *,
    paper: str,
    description: str = "",
    folder: str | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
    sha256: str | None = None,
    hub_repo: str | None = None,
    hub_revision: str | None = None,
) -> ModelEntry:
    """Add a named checkpoint. Raises ValueError on a duplicate name or an entry that is not well formed."""
    if name in _REGISTRY:
        raise ValueError(f"register: {name!r} is already registered ({_REGISTRY[name]})")
    if paper not in papers.PAPERS and paper not in papers.NON_PAPER_KINDS:
        valid = ", ".join([*papers.PAPERS, *papers.NON_PAPER_KINDS])
        raise ValueError(f"register({name!r}): unknown paper {paper!r}; valid: {valid} (see synthkit/papers.py)")
    if (folder is None) == (repo_id is None):
        raise ValueError(f"register({name!r}): give exactly one of folder= (bundled) or repo_id= (Hub)")
    if repo_id is not None and not _REPO_ID.match(repo_id):
        raise ValueError(f"register({name!r}): repo_id must look like 'ORG/NAME', got {repo_id!r}")
    if sha256 is not None and not _SHA256.match(sha256):
        raise ValueError(f"register({name!r}): sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if repo_id is not None and (revision is None or not _COMMIT.match(revision) or sha256 is None):
        raise ValueError(f"register({name!r}): a Hub entry is pinned: give revision= (the 40-hex commit that "
                         f"`synthkit push` printed, not a branch; got {revision!r}) and sha256= of its "
                         "model.safetensors")
    if hub_repo is not None and (folder is None or not _REPO_ID.match(hub_repo)):
        raise ValueError(f"register({name!r}): hub_repo= is the published copy of a bundled folder= entry, "
                         f"'ORG/NAME'; got {hub_repo!r}")
    if hub_revision is not None and (hub_repo is None or not _COMMIT.match(hub_revision) or sha256 is None):
        raise ValueError(f"register({name!r}): hub_revision= must be the 40-hex commit of hub_repo= (and sha256= "
                         f"given, the same file as the bundled one); got {hub_revision!r}")
    entry = ModelEntry(name, paper, description, folder, repo_id, revision, sha256, hub_repo, hub_revision)
    _REGISTRY[name] = entry
    return entry


def get(name: str) -> ModelEntry:
    """The entry called ``name``; KeyError listing the valid names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model name {name!r}; valid names: {', '.join(sorted(_REGISTRY)) or '(none)'}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


def list_models(verbose: bool = False) -> list[str] | list[dict[str, Any]]:
    """Registered names (sorted), or with ``verbose=True`` one dict per entry (name, paper, folder/repo_id, ...)."""
    if not verbose:
        return names()
    return [asdict(_REGISTRY[n]) for n in names()]


def paper_of(name: str, model: Any = None) -> str:
    """The paper key of a registered name, else of a loaded model (from its class's module under synthkit.models)."""
    if name in _REGISTRY:
        return _REGISTRY[name].paper
    if model is not None:
        key = papers.of_module(type(model).__module__)
        if key is not None:
            return key
    raise KeyError(f"cannot tell which paper {name!r} belongs to; valid names: {', '.join(names()) or '(none)'}")


# --- entries ---------------------------------------------------------------------------------------------------------

register(
    "toy-toyscapes32",
    paper="toy",
    folder="toy-toyscapes32",
    hub_repo=f"{_HUB_ORG}/toy-toyscapes32",
    sha256="3fd5cf85ba789aba8503e0ee00511696b3c99454635c93fac8ddb7c5e3cedd03",
    description="tiny unconditional DCGAN, 32x32 Toyscapes, 3000 steps of synthkit.train on CPU (loop demo)",
)

register(
    "backbone-toyscapes",
    paper="backbone",
    folder="backbone-toyscapes",
    hub_repo=f"{_HUB_ORG}/backbone-toyscapes",
    sha256="1179701b6dcf439a71613e7d92e8559083dd4c37a666c1a0200df4858c70024d",
    description="offline VGG-like feature backbone (scene classes + segmentation), Toyscapes 64/128; mIoU 0.90 @128",
)

register(
    "bachgan-toyscapes",
    paper="bachgan",
    folder="bachgan-toyscapes",
    hub_repo=f"{_HUB_ORG}/bachgan-toyscapes",
    sha256="464a1f4b97963798fb89e0fca3b3c20ec76cca8485aea3e66bef901206df7e2c",
    description="BachGAN (SPADE + background retrieval, K=3) on Toyscapes 64x64 boxes: 1600 steps, then 1000 with "
    "the perceptual loss (raw G); "
    "retrieval memory of 2000 train maps bundled",
)

register(
    "smis-toyscapes",
    paper="smis",
    folder="smis-toyscapes",
    hub_repo=f"{_HUB_ORG}/smis-toyscapes",
    sha256="89e8b4551e29481680752a1dcc51830b15d532697994cfd1a3d05b90df6ad0c9",
    description="GroupDNet (SMIS) + encoder, Toyscapes 128x128: 5720 steps at 64x64, then 4000 steps fine-tuned at "
    "128x128 (init_from), synthkit.train on 2 shared CPU cores",
)

register(
    "pyramid-toyscapes",
    paper="pyramid",
    folder="pyramid-toyscapes",
    hub_repo=f"{_HUB_ORG}/pyramid-toyscapes",
    sha256="30db4290326adb9f2f57c4ea307673f9f22d3e97bf841dc92ee5efe579b1adb7",
    description="Semantic Pyramid generator on the offline backbone's levels (conv1..fc8), Toyscapes 64x64, 3000 CPU steps "
    "(toyscapes64 recipe: alpha_l, capped diversity, z to every block)",
)

register(
    "stylegan2-toyscapes64",
    paper="image2stylegan",
    folder="stylegan2-toyscapes64",
    hub_repo=f"{_HUB_ORG}/stylegan2-toyscapes64",
    sha256="1c609d5d766378d9852b214822bea1da7bdeeb10d662c3d2bfaa2d805fca680a",
    description="StyleGAN2 (pure PyTorch) on Toyscapes 64x64, 3000 CPU steps (G EMA): the generator the "
    "Image2StyleGAN++ embeddings run on",
)

register(
    "controllable3d-toyshapes3d",
    paper="controllable3d",
    folder="controllable3d-toyshapes3d",
    hub_repo=f"{_HUB_ORG}/controllable3d-toyshapes3d",
    sha256="a642d8a3776de71cdd7d90b1a0b9df37e7e8905e1a8d7318bc8ca996e8edbabc",
    description="3D-controllable GAN (Liao et al.) on Toyshapes3D 64x64: 3 cuboid primitives, splatted points, "
    "AdaIN 2D generator, CPU-trained (G EMA): the model of the 3D-controls app and notebook 04",
)
