"""Save, load and publish checkpoints: ``config.json`` + ``model.safetensors`` + ``README.md`` (model card).

Every synthkit model is an ``nn.Module`` that also inherits :class:`HubMixin` (built on huggingface_hub's
``PyTorchModelHubMixin``) and takes its configuration as a dataclass ``config=`` or as plain keyword arguments::

    class Generator(nn.Module, HubMixin):
        def __init__(self, config: ToyConfig): ...

    G.save_pretrained("runs/toy/model")                 # config.json, model.safetensors, README.md
    G = Generator.from_pretrained("runs/toy/model")      # or a Hub repo id "ORG/NAME"
    G = synthkit.load("runs/toy/model")                  # class read from config.json ("synthkit_class")
    G = synthkit.load("toy-toyscapes32")                 # a name in synthkit/registry.py

Safety: weights are only read from safetensors files (no code can run), or from official ``.pth`` files through
:func:`load_official_pth`, which uses ``torch.load(weights_only=True)`` and refuses anything else. The class to
build is named in ``config.json`` and must live under ``synthkit.models``; any other name is refused.

Offline: a Hub repo id resolves from the local Hugging Face cache when ``HF_HUB_OFFLINE=1``; a repo that is not
there raises one :class:`CheckpointNotAvailable` error naming the repo, the file and the two ways to fix it.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import re
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData, PyTorchModelHubMixin

from synthkit import registry
from synthkit.configs import rename_legacy_fields
from synthkit.registry import ModelEntry, register  # noqa: F401  (re-exported: hub.register(...))

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
CLASS_KEY = "synthkit_class"  # "synthkit.models.<module>:<Class>" in config.json
# Only synthkit's own model modules (and the feature backbones) may be named in a checkpoint's config.json.
_CLASS_RE = re.compile(r"^synthkit\.(models(\.[A-Za-z_][A-Za-z0-9_]*)+|backbones):[A-Za-z_][A-Za-z0-9_]*$")
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

__all__ = [
    "HubMixin",
    "CheckpointError",
    "CheckpointNotAvailable",
    "load",
    "list_models",
    "register",
    "write_model_card",
    "render_model_card",
    "load_official_pth",
    "load_safetensors",
    "sha256_of",
]


class CheckpointError(ValueError):
    """A checkpoint file that is corrupted, truncated, refused as unsafe, or whose hash does not match."""


class CheckpointNotAvailable(FileNotFoundError):
    """A checkpoint that cannot be found: not in the local Hugging Face cache while offline, or no such repo."""


# ---------------------------------------------------------------------------------------------------------------------
# files: hashes, safetensors, official .pth
# ---------------------------------------------------------------------------------------------------------------------


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_sha256(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected.lower():
        raise CheckpointError(
            f"{path}: sha256 mismatch: expected {expected.lower()}, got {actual}. The file is corrupted, truncated "
            "or not the registered checkpoint; delete it and download it again (or fix the registry entry)."
        )


def load_safetensors(path: str | Path, device: str = "cpu", sha256: str | None = None) -> dict[str, Any]:
    """Read a safetensors file into a state dict; CheckpointError naming the file if it is corrupted or truncated."""
    import safetensors.torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointNotAvailable(f"{path}: no such file")
    _check_sha256(path, sha256)
    try:
        return safetensors.torch.load_file(str(path), device=device)
    except Exception as err:  # SafetensorError, or a header that is not JSON
        raise CheckpointError(
            f"{path}: cannot read it as a safetensors file ({err}); it is corrupted or truncated: "
            "download or export it again."
        ) from err


def load_official_pth(path: str | Path, sha256: str | None = None) -> Any:
    """Load an official PyTorch checkpoint with ``torch.load(path, map_location="cpu", weights_only=True)``.

    Only tensors, numbers, strings and containers of them are accepted; a pickle that would import or call
    anything (``__reduce__`` tricks, pickled classes) is refused before any of it runs.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointNotAvailable(f"{path}: no such file")
    _check_sha256(path, sha256)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: refused: not a weights-only checkpoint (it contains Python objects or code that "
            f"torch.load(weights_only=True) will not run). Nothing from it was executed. Details: {_why(err)}"
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"{path}: cannot read this PyTorch checkpoint ({err}); it is corrupted or truncated.") from err


def _why(err: Exception) -> str:
    """The informative line of torch's weights_only error ("Unsupported global: GLOBAL posix.system ...")."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    for line in lines:
        if "Unsupported" in line or "GLOBAL" in line:
            return line.split(" Please use")[0]
    return next((line for line in lines if line), type(err).__name__)


# ---------------------------------------------------------------------------------------------------------------------
# model cards
# ---------------------------------------------------------------------------------------------------------------------


def render_model_card(
    *,
    model_name: str = "synthkit model",
    description: str = "",
    paper: str | None = None,
    paper_url: str | None = None,
    synthkit_class: str | None = None,
    license: str = "mit",
    tags: list[str] | None = None,
    datasets: list[str] | None = None,
    training_command: str | None = None,
    steps: int | None = None,
    wall_time: str | float | None = None,
    hardware: str | None = None,
    metrics: dict[str, Any] | None = None,
    notes: str | None = None,
) -> str:
    """The text of a model card: YAML metadata (library_name: synthkit, license, tags) + Markdown sections.

    ``metrics``: ``{"FID": {"value": 41.2, "provenance": "offline backbone sha256 ..., N=1000, seed 0"}}`` or plain
    numbers (then the provenance column says "not recorded": a number without provenance is not comparable).
    """
    card_tags = sorted(set(["synthkit", "image-synthesis", "gan"] + ([paper] if paper else []) + list(tags or [])))
    data = ModelCardData(library_name="synthkit", license=license, tags=card_tags, datasets=datasets)
    lines = ["---", data.to_yaml(), "---", "", f"# {model_name}", ""]
    if description:
        lines += [description, ""]
    lines += ["## How to load", "", "```python", "import synthkit", "", 'model = synthkit.load("<this folder or ORG/NAME>")', "```", ""]
    if synthkit_class or paper or paper_url:
        lines += ["## Model", ""]
        if synthkit_class:
            lines.append(f"- class: `{synthkit_class}`")
        if paper:
            lines.append(f"- paper: {paper}" + (f" ({paper_url})" if paper_url else ""))
        lines.append("")
    lines += ["## Training", ""]
    lines.append(f"- command: `{training_command}`" if training_command else "- command: not recorded")
    lines.append(f"- steps: {steps}" if steps is not None else "- steps: not recorded")
    if wall_time is not None:
        wall = f"{wall_time:.1f} s" if isinstance(wall_time, (int, float)) else str(wall_time)
        lines.append(f"- wall time: {wall}")
    if hardware:
        lines.append(f"- hardware: {hardware}")
    lines.append("")
    lines += ["## Metrics", ""]
    if metrics:
        lines += ["| metric | value | provenance |", "|---|---|---|"]
        for name, m in metrics.items():
            value, prov = (m.get("value"), m.get("provenance", "not recorded")) if isinstance(m, dict) else (m, "not recorded")
            lines.append(f"| {name} | {value} | {prov} |")
    else:
        lines.append("No metrics recorded.")
    lines.append("")
    if notes:
        lines += ["## Notes", "", notes, ""]
    return "\n".join(lines)


def write_model_card(folder: str | Path, **fields: Any) -> Path:
    """Write ``folder/README.md`` from :func:`render_model_card` fields; returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CARD_NAME
    path.write_text(render_model_card(**fields), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Hub downloads with one clear error
# ---------------------------------------------------------------------------------------------------------------------


def _hub_file(repo_id: str, filename: str, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """``hf_hub_download`` (reads the local cache first; offline: only the cache), errors turned into one message."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"Hub repo {repo_id!r}" + (f" (revision {revision!r})" if revision else "")
    cache = cache_dir or constants.HF_HUB_CACHE
    fix = (
        "To fix it: connect to the network (and unset HF_HUB_OFFLINE) so it can be downloaded, or pass a local "
        "folder that holds config.json and model.safetensors (downloaded elsewhere): "
        "synthkit.load('path/to/folder')."
    )
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        mode = "HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else "no connection to the Hub"
        org, name = repo_id.split("/", 1)
        if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
            place = (f" Offline, put the file at {Path(cache) / f'models--{org}--{name}' / 'snapshots' / revision / filename}"
                     f" (with config.json and model.safetensors side by side), or fetch the snapshot elsewhere with "
                     f"`hf download {repo_id} --revision {revision}` and copy its models--{org}--{name} folder "
                     f"into {cache}.")
        else:
            place = (f" Offline, fetch it elsewhere with `hf download {repo_id}` and copy its models--{org}--{name} "
                     f"folder into {cache}.")
        raise CheckpointNotAvailable(
            f"cannot get {filename!r} of {where}: it is not in the local Hugging Face cache ({cache}) and "
            f"{mode}. {fix}{place}"
        ) from err
    except RepositoryNotFoundError as err:
        raise CheckpointNotAvailable(
            f"cannot get {filename!r}: {where} does not exist on the Hub or is private (log in with "
            f"`hf auth login` for a private repo). Check the name, or pass a local folder."
        ) from err
    except RevisionNotFoundError as err:
        raise CheckpointNotAvailable(f"cannot get {filename!r}: {where}: no such revision.") from err
    except EntryNotFoundError as err:
        raise CheckpointNotAvailable(
            f"{where} has no file {filename!r}; a synthkit checkpoint needs config.json and model.safetensors."
        ) from err
    except HfHubHTTPError as err:
        raise CheckpointNotAvailable(f"cannot get {filename!r} of {where}: {err}. {fix}") from err


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointNotAvailable(f"{path}: no such file; a synthkit checkpoint folder holds config.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err}); the file is corrupted or truncated") from err
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return config


# ---------------------------------------------------------------------------------------------------------------------
# the mixin
# ---------------------------------------------------------------------------------------------------------------------


def _dataclass_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (frozen) dataclass from JSON: lists back to tuples, nested dataclasses rebuilt, unknown keys ignored."""
    hints = typing.get_type_hints(cls)
    data = rename_legacy_fields(data, {f.name for f in fields(cls)}, f"config.json of {cls.__name__}")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        kwargs[f.name] = _from_json(hints.get(f.name, Any), data[f.name])
    return cls(**kwargs)


def _from_json(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # Optional[X], X | None
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        tp, origin = (args[0], typing.get_origin(args[0])) if len(args) == 1 else (Any, None)
    if is_dataclass(tp) and isinstance(value, dict):
        return _dataclass_from_dict(tp, value)
    if (tp is tuple or origin is tuple) and isinstance(value, list):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v) for v in value)
        if args and len(args) == len(value):
            return tuple(_from_json(a, v) for a, v in zip(args, value))
        return tuple(value)
    return value


class HubMixin(PyTorchModelHubMixin, library_name="synthkit", license="mit", tags=["synthkit"]):
    """``save_pretrained`` / ``from_pretrained`` for synthkit models (``nn.Module`` subclasses).

    On top of huggingface_hub's ``PyTorchModelHubMixin`` it:

    * records the class as ``"synthkit_class": "module:Class"`` in config.json so :func:`load` can rebuild it;
    * rebuilds a dataclass ``config`` exactly (tuples stay tuples, nested dataclasses, string annotations);
    * loads weights strictly (every key must match) and checks an optional ``sha256=``;
    * writes the synthkit model card (:func:`render_model_card`); pass its fields as ``card={...}``;
    * turns "not in the offline cache" and corrupted files into one clear error naming the file.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Resolve string annotations (`from __future__ import annotations`) so that a dataclass `config`
        # parameter is recognised and rebuilt by from_pretrained.
        try:
            hints = typing.get_type_hints(cls.__init__)
        except Exception:  # a forward reference not yet defined: keep the raw annotations
            return
        cls._hub_mixin_init_parameters = {
            name: p.replace(annotation=hints.get(name, p.annotation))
            for name, p in cls._hub_mixin_init_parameters.items()
        }

    @classmethod
    def _decode_arg(cls, expected_type: Any, value: Any) -> Any:
        decoded = _from_json(expected_type, value)  # dataclasses rebuilt, JSON lists back to tuples
        if decoded is not value:
            return decoded
        return super()._decode_arg(expected_type, value)

    @classmethod
    def synthkit_class_name(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"

    def save_pretrained(self, save_directory: str | Path, *, card: dict[str, Any] | None = None, **kwargs: Any):
        """Write ``config.json`` (+ ``synthkit_class``), ``model.safetensors`` and ``README.md`` into a folder."""
        folder = Path(save_directory)
        (folder / CARD_NAME).unlink(missing_ok=True)  # always regenerate the card
        result = super().save_pretrained(folder, model_card_kwargs=dict(card or {}), **kwargs)
        config_path = folder / CONFIG_NAME
        config = _read_config(config_path) if config_path.exists() else {}
        config[CLASS_KEY] = self.synthkit_class_name()
        # huggingface_hub stores only the dataclass ``config`` when there is one: keep the other simple constructor
        # arguments too (e.g. GroupDNet's with_encoder), read from the attribute of the same name, so that
        # from_pretrained rebuilds the same module tree.
        for name in self._hub_mixin_init_parameters:
            value = getattr(self, name, None)
            if name != "config" and name not in config and isinstance(value, (bool, int, float, str)):
                config[name] = value
        config_path.write_text(json.dumps(config, sort_keys=True, indent=2), encoding="utf-8")
        return result

    def generate_model_card(self, *args: Any, **card: Any) -> ModelCard:
        card.setdefault("model_name", type(self).__name__)
        card.setdefault("synthkit_class", self.synthkit_class_name())
        return ModelCard(render_model_card(**card))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any):
        """Build from a local folder or a Hub repo id (``revision=``, ``cache_dir=``, ``map_location=``, ``sha256=``)."""
        name = str(pretrained_model_name_or_path)
        if os.path.isdir(name):
            _read_config(Path(name) / CONFIG_NAME)  # clear error if missing or corrupted
        elif _REPO_ID_RE.match(name):
            _read_config(_hub_file(name, CONFIG_NAME, kwargs.get("revision"), kwargs.get("cache_dir")))
        else:
            raise CheckpointNotAvailable(f"{name!r} is neither an existing folder nor a Hub repo id 'ORG/NAME'")
        return super().from_pretrained(name, **kwargs)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        sha256: str | None = None,
        **model_kwargs: Any,
    ):
        model_kwargs.pop(CLASS_KEY, None)
        model_kwargs.pop("synthkit_version", None)
        if os.path.isdir(model_id):
            weights = Path(model_id) / WEIGHTS_NAME
        else:
            weights = _hub_file(model_id, WEIGHTS_NAME, revision, cache_dir)
        state = load_safetensors(weights, device=map_location, sha256=sha256)
        model = cls(**model_kwargs)
        try:
            model.load_state_dict(state, strict=strict)
        except RuntimeError as err:
            raise CheckpointError(
                f"{weights}: its tensors do not fit {cls.__name__} built from config.json ({err})"
            ) from err
        model.to(map_location)
        model.eval()
        return model


# ---------------------------------------------------------------------------------------------------------------------
# load by name, folder or repo id
# ---------------------------------------------------------------------------------------------------------------------


def list_models(verbose: bool = False) -> list[str] | list[dict[str, Any]]:
    """Names of the registered checkpoints (``verbose=True``: one dict per entry). See synthkit/registry.py."""
    return registry.list_models(verbose=verbose)


def resolve_class(name: str, where: str | Path = "config.json") -> type:
    """Import ``"synthkit.models.<module>:<Class>"``; refuse anything outside synthkit.models or not a HubMixin model."""
    if not isinstance(name, str) or not _CLASS_RE.match(name):
        raise CheckpointError(
            f"{where}: refused {CLASS_KEY}={name!r}: only classes under synthkit.models "
            "('synthkit.models.<module>:<Class>') or synthkit.backbones can be built from a checkpoint"
        )
    module_name, class_name = name.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise CheckpointError(f"{where}: {CLASS_KEY}={name!r}: no module {module_name!r} in this synthkit") from err
    cls = getattr(module, class_name, None)
    import torch.nn as nn

    if not (isinstance(cls, type) and issubclass(cls, HubMixin) and issubclass(cls, nn.Module)):
        raise CheckpointError(f"{where}: refused {CLASS_KEY}={name!r}: not a synthkit model class (nn.Module + HubMixin)")
    return cls


def _download_folder(repo_id: str, revision: str | None, cache_dir: str | Path | None) -> Path:
    config = _hub_file(repo_id, CONFIG_NAME, revision, cache_dir)
    weights = _hub_file(repo_id, WEIGHTS_NAME, revision, cache_dir)
    if config.parent != weights.parent:  # both come from the same snapshot folder
        raise CheckpointError(f"{repo_id}: config.json and model.safetensors resolved to different snapshots")
    return config.parent


def load(
    name_or_path: str | Path,
    device: str = "cpu",
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    sha256: str | None = None,
    source: str = "auto",
):
    """Build a model from a registry name, a local folder, or a Hub repo id ``"ORG/NAME"``, in eval mode.

    Resolution order: a name in synthkit/registry.py (bundled folder or pinned Hub commit, sha256 checked), an
    existing folder, a Hub repo id (downloaded once into the Hugging Face cache; offline only from the cache).
    ``source`` (registry names): ``"auto"`` the bundled copy when there is one (offline, nothing downloaded), else
    the pinned Hub commit; ``"bundled"`` only the bundled copy; ``"hub"`` the entry's pinned Hub commit (its
    published copy for a bundled entry), checked against the same sha256.
    """
    if source not in ("auto", "bundled", "hub"):
        raise ValueError(f"source must be 'auto', 'bundled' or 'hub', got {source!r}")
    target = str(name_or_path)
    entry: ModelEntry | None = None
    if target in registry.names():
        entry = registry.get(target)
        sha256 = sha256 or entry.sha256
        if source == "hub" or (source == "auto" and entry.folder is None):
            pinned = entry.pinned_hub
            if pinned is None:
                raise CheckpointNotAvailable(
                    f"registered model {target!r} has no pinned Hub copy yet (its hub_repo "
                    f"{entry.hub_repo!r} has no hub_revision in synthkit/registry.py): load the bundled copy "
                    f"(source='bundled'), or publish it with `synthkit push {target}` and record the commit it prints"
                )
            folder = _download_folder(pinned[0], revision or pinned[1], cache_dir)
        elif entry.folder is None:
            raise CheckpointNotAvailable(f"registered model {target!r} is not bundled (it is the Hub repo "
                                         f"{entry.repo_id!r}): use source='auto' or 'hub'")
        else:
            folder = entry.path
            if not folder.is_dir():
                raise CheckpointNotAvailable(
                    f"registered model {target!r}: bundled folder {folder} is missing; reinstall synthkit or "
                    "check the registry entry"
                )
    elif os.path.isdir(target):
        folder = Path(target)
    elif _REPO_ID_RE.match(target) and not os.path.exists(target):
        folder = _download_folder(target, revision, cache_dir)
    else:
        valid = ", ".join(registry.names()) or "(none registered)"
        raise ValueError(
            f"unknown model {target!r}: not a registered name, not an existing folder, not a Hub repo id "
            f"'ORG/NAME'. Valid names: {valid}"
        )
    config_path = folder / CONFIG_NAME
    config = _read_config(config_path)
    if CLASS_KEY not in config:
        raise CheckpointError(
            f"{config_path}: no {CLASS_KEY!r} key, so synthkit cannot tell which model to build; save the model "
            "with save_pretrained of a synthkit model class, or load it with ThatClass.from_pretrained(folder)"
        )
    cls = resolve_class(config[CLASS_KEY], config_path)
    from synthkit.devices import resolve_device

    return cls.from_pretrained(str(folder), map_location=str(resolve_device(device)), sha256=sha256)
# publishing (check_folder, push_files, card_problems, push_to_hub): synthkit/publish.py
