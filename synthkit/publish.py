"""Publishing checkpoints on the Hugging Face Hub: check a folder, check its model card, list and push its files.

``synthkit push NAME`` (a bundled checkpoint, to its ``hub_repo``) or ``synthkit push FOLDER ORG/NAME``; the commit
it prints is what ``hub_revision=`` pins in synthkit/registry.py. Re-exported by :mod:`synthkit.hub`.
"""
from __future__ import annotations

import re
from pathlib import Path

from synthkit.hub import (
    _REPO_ID_RE,
    CARD_NAME,
    CLASS_KEY,
    CONFIG_NAME,
    WEIGHTS_NAME,
    CheckpointError,
    CheckpointNotAvailable,
    _read_config,
    resolve_class,
    sha256_of,
    write_model_card,
)


def check_folder(folder: str | Path) -> Path:
    """Check that a folder is a loadable synthkit checkpoint (config.json with synthkit_class, readable weights)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).is_file()]
    if missing:
        raise ValueError(
            f"{folder}: missing {', '.join(missing)}; a synthkit checkpoint folder holds config.json and "
            "model.safetensors (written by model.save_pretrained(folder) or at the end of `synthkit train`)"
        )
    config = _read_config(folder / CONFIG_NAME)
    if CLASS_KEY not in config:
        raise CheckpointError(f"{folder / CONFIG_NAME}: no {CLASS_KEY!r} key; re-save it with save_pretrained")
    resolve_class(config[CLASS_KEY], folder / CONFIG_NAME)
    from safetensors import safe_open

    try:
        with safe_open(str(folder / WEIGHTS_NAME), framework="pt") as f:
            list(f.keys())
    except Exception as err:
        raise CheckpointError(f"{folder / WEIGHTS_NAME}: not a readable safetensors file ({err})") from err
    return folder


PUSH_PATTERNS = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, "*.png", "*.json", "*.safetensors")


def push_files(folder: str | Path) -> list[tuple[str, int, str]]:
    """What ``push_to_hub`` sends from ``folder``: ``(name, bytes, sha256)`` of each file matching PUSH_PATTERNS."""
    from fnmatch import fnmatch

    folder = Path(folder)
    return [(p.relative_to(folder).as_posix(), p.stat().st_size, sha256_of(p))
            for p in sorted(folder.rglob("*")) if p.is_file()
            and any(fnmatch(p.relative_to(folder).as_posix(), pat) for pat in PUSH_PATTERNS)]


def card_problems(folder: str | Path) -> list[str]:
    """What a published model card lacks: a licence, the recipe (training command), measured figures with their
    provenance (the Metrics table's provenance column filled in on every row)."""
    card = Path(folder) / CARD_NAME
    if not card.is_file():
        return [f"no {CARD_NAME}"]
    text = card.read_text(encoding="utf-8")
    problems = []
    if not re.search(r"^license: \S+", text, flags=re.M):
        problems.append("no licence in the front matter")
    if not re.search(r"^- command: `[^`]+`", text, flags=re.M):
        problems.append("no training command (recipe) under Training")
    rows = [ln for ln in text.split("## Metrics", 1)[-1].split("\n## ", 1)[0].splitlines()
            if ln.startswith("| ") and not ln.startswith(("| metric", "|---"))] if "## Metrics" in text else []
    if not rows:
        problems.append("no measured figures (a ## Metrics table)")
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) < 3 or not cells[2] or cells[2] == "not recorded":
            problems.append(f"a figure without provenance: {row.strip()}")
    return problems


def push_to_hub(
    folder: str | Path, repo_id: str, token: str | None = None, private: bool = False, commit_message: str | None = None
) -> str:
    """Upload a trained folder (config.json, model.safetensors, README.md, *.png) to ``repo_id``; returns the URL
    of the commit (its last path part is the commit to pin in the registry)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(repo_id, str) or not _REPO_ID_RE.match(repo_id):
        raise ValueError(f"repo_id must look like 'ORG/NAME' (your user or organisation, then a name), got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"invalid repo_id {repo_id!r}: {err}") from err
    folder = check_folder(folder)
    if not (folder / CARD_NAME).is_file():
        config = _read_config(folder / CONFIG_NAME)
        write_model_card(folder, model_name=repo_id.split("/")[1], synthkit_class=config[CLASS_KEY])
    from huggingface_hub.errors import OfflineModeIsEnabled

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            allow_patterns=list(PUSH_PATTERNS),
            commit_message=commit_message or f"Upload {folder.name} with synthkit push",
        )
    except OfflineModeIsEnabled as err:
        raise CheckpointNotAvailable(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set ({err}); unset it, or "
                                     "list what would be sent with --dry-run") from None
    return str(info.commit_url)
