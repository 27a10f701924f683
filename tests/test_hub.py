"""Checkpoint hub: save/load round trip, registry, offline Hub cache, refusal of unsafe or damaged files."""
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import synthkit
from synthkit import hub, publish, registry
from synthkit.models.toy import ToyConfig, ToyGenerator

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    G = ToyGenerator(ToyConfig.from_preset("tiny_test")).eval()
    folder = tmp_path / "toy"
    G.save_pretrained(folder, card={"steps": 12, "training_command": "synthkit train toy --preset tiny_test",
                                    "metrics": {"FID": {"value": 99.0, "provenance": "offline backbone, N=64"}}})
    return G, folder


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_writes_three_files_and_class(saved):
    G, folder = saved
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    config = json.loads((folder / "config.json").read_text())
    assert config["synthkit_class"] == "synthkit.models.toy:ToyGenerator"
    assert config["z_dim"] == 16 and config["image_size"] == 16
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: synthkit" in card and "license: mit" in card
    assert "synthkit train toy --preset tiny_test" in card and "| FID | 99.0 | offline backbone, N=64 |" in card


def test_round_trip_by_folder_and_by_class(saved):
    G, folder = saved
    for loaded in (synthkit.load(folder), ToyGenerator.from_pretrained(folder)):
        assert type(loaded) is ToyGenerator
        assert loaded.config == G.config and isinstance(loaded.config, ToyConfig)
        assert _same_weights(G, loaded)
        assert not loaded.training
    z = torch.randn(2, 16)
    assert torch.equal(G(z), synthkit.load(str(folder))(z))


def test_write_model_card_fields(tmp_path):
    path = hub.write_model_card(tmp_path / "m", model_name="toy", paper="smis", steps=100, wall_time=12.34,
                                metrics={"mIoU": 0.5}, tags=["toyscapes"])
    text = path.read_text()
    assert "- steps: 100" in text and "12.3 s" in text and "| mIoU | 0.5 | not recorded |" in text
    assert "- smis" in text and "- toyscapes" in text


def _populate_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """The layout hf_hub_download leaves: blobs/<sha256>, snapshots/<rev>/<file> -> ../../blobs/<sha256>, refs/main."""
    org, name = repo_id.split("/")
    repo = cache / f"models--{org}--{name}"
    (repo / "blobs").mkdir(parents=True)
    snap = repo / "snapshots" / REVISION
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    for f in ("config.json", "model.safetensors", "README.md"):
        digest = hashlib.sha256((folder / f).read_bytes()).hexdigest()
        shutil.copy(folder / f, repo / "blobs" / digest)
        (snap / f).symlink_to(Path("..") / ".." / "blobs" / digest)
    return snap


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE=1 and HF_HUB_CACHE=tmp: huggingface_hub reads both at import, so patch its constants too."""
    from huggingface_hub import constants

    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_load_repo_id_from_offline_cache(saved, offline_cache):
    G, folder = saved
    snap = _populate_cache(offline_cache, "synthkit-test/toy-tiny", folder)
    model = synthkit.load("synthkit-test/toy-tiny")
    assert _same_weights(G, model)
    model2 = ToyGenerator.from_pretrained("synthkit-test/toy-tiny")
    assert _same_weights(G, model2) and model2.config == G.config
    assert (snap / "model.safetensors").is_symlink()


def test_registry_entry_with_repo_id_resolves_offline_and_checks_hash(saved, offline_cache, monkeypatch):
    G, folder = saved
    _populate_cache(offline_cache, "synthkit-test/toy-reg", folder)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register("toy-hub", paper="toy", repo_id="synthkit-test/toy-reg", revision=REVISION,
                      sha256=hub.sha256_of(folder / "model.safetensors"))
    registry.register("toy-hub-bad", paper="toy", repo_id="synthkit-test/toy-reg", revision=REVISION, sha256="a" * 64)
    assert _same_weights(G, synthkit.load("toy-hub"))
    with pytest.raises(hub.CheckpointError, match="sha256 mismatch"):
        synthkit.load("toy-hub-bad")


def test_missing_repo_offline_is_one_clear_error(offline_cache):
    with pytest.raises(hub.CheckpointNotAvailable) as info:
        synthkit.load("synthkit-test/not-cached")
    msg = str(info.value)
    assert "synthkit-test/not-cached" in msg and "config.json" in msg
    assert "HF_HUB_OFFLINE=1" in msg and "local folder" in msg and str(offline_cache) in msg
    with pytest.raises(hub.CheckpointNotAvailable, match="not-cached"):
        ToyGenerator.from_pretrained("synthkit-test/not-cached")


def test_load_repo_id_in_subprocess_with_real_env(saved, tmp_path):
    """The real thing: the env vars set before huggingface_hub is imported, no patching."""
    G, folder = saved
    cache = tmp_path / "cache2"
    _populate_cache(cache, "synthkit-test/toy-env", folder)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    code = (
        "import synthkit, torch; m = synthkit.load('synthkit-test/toy-env'); "
        "torch.manual_seed(1); print(float(m(torch.randn(1, 16)).sum()))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    torch.manual_seed(1)
    with torch.no_grad():
        expected = float(G(torch.randn(1, 16)).sum())
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(expected, abs=1e-6)


@pytest.fixture
def registered(saved, monkeypatch):
    """A registry entry for the saved folder (the registry is restored afterwards)."""
    G, folder = saved
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "PRETRAINED_DIR", folder.parent)
    sha = hub.sha256_of(folder / "model.safetensors")
    registry.register("toy-test", paper="toy", folder=folder.name, sha256=sha, description="test entry")
    return G, folder, sha


def test_registry_name_loads_and_lists(registered):
    G, folder, sha = registered
    assert "toy-test" in synthkit.list_models()
    rows = synthkit.list_models(verbose=True)
    row = next(r for r in rows if r["name"] == "toy-test")
    assert row["sha256"] == sha and row["paper"] == "toy"
    assert _same_weights(G, synthkit.load("toy-test"))
    assert registry.paper_of("toy-test") == "toy"


def test_sha_mismatch_names_file_and_both_hashes(registered, monkeypatch):
    G, folder, sha = registered
    wrong = "0" * 64
    monkeypatch.setitem(registry._REGISTRY, "toy-test", registry._REGISTRY["toy-test"].__class__(
        "toy-test", "toy", "", folder.name, None, None, wrong))
    with pytest.raises(hub.CheckpointError) as info:
        synthkit.load("toy-test")
    msg = str(info.value)
    assert str(folder / "model.safetensors") in msg and wrong in msg and sha in msg


def test_unknown_name_lists_valid_names(registered):
    with pytest.raises(ValueError) as info:
        synthkit.load("no-such-model")
    assert "no-such-model" in str(info.value) and "toy-test" in str(info.value)
    with pytest.raises(KeyError, match="toy-test"):
        registry.get("no-such-model")


def test_truncated_or_corrupted_safetensors_names_the_file(saved):
    _, folder = saved
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(hub.CheckpointError, match="model.safetensors.*corrupted or truncated"):
        synthkit.load(folder)
    weights.write_bytes(b"\x00" * 64)  # garbage
    with pytest.raises(hub.CheckpointError, match=str(weights)):
        synthkit.load(folder)


def test_corrupted_config_and_wrong_shapes(saved, tmp_path):
    _, folder = saved
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    (other / "config.json").write_text('{"z_dim": 16, "synthk')
    with pytest.raises(hub.CheckpointError, match="config.json.*not valid JSON"):
        synthkit.load(other)
    config = json.loads((folder / "config.json").read_text())
    config["base_channels"] = 4  # the weights no longer fit
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(hub.CheckpointError, match="do not fit ToyGenerator"):
        synthkit.load(other)


@pytest.mark.parametrize("name", ["os:system", "synthkit.hub:HubMixin", "synthkit.models.toy:ToyDiscriminator",
                                  "synthkit.models.toy:get_config", "builtins:eval"])
def test_only_synthkit_model_classes_are_built(saved, name):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    config["synthkit_class"] = name
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(hub.CheckpointError, match="refused"):
        synthkit.load(folder)


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the legacy pickle below uses protocol 4
def test_pickle_with_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": _Evil(str(marker))}, evil)
    assert not marker.exists()
    with pytest.raises(hub.CheckpointError, match="refused: not a weights-only checkpoint") as info:
        hub.load_official_pth(evil)
    assert str(evil) in str(info.value)
    assert not marker.exists()
    # the same with a plain (non-zip) pickle file
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps(_Evil(str(marker))))
    with pytest.raises(hub.CheckpointError, match="refused"):
        hub.load_official_pth(legacy)
    assert not marker.exists()
    # sanity: the payload really would have created the file if unpickled unsafely
    pickle.loads(legacy.read_bytes())
    assert marker.exists()


def test_official_pth_weights_only_loads_and_checks_hash(tmp_path):
    path = tmp_path / "ok.pth"
    torch.save({"conv.weight": torch.ones(2, 3)}, path)
    sd = hub.load_official_pth(path, sha256=hub.sha256_of(path))
    assert torch.equal(sd["conv.weight"], torch.ones(2, 3))
    with pytest.raises(hub.CheckpointError, match="sha256 mismatch"):
        hub.load_official_pth(path, sha256="f" * 64)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(hub.CheckpointError, match="ok.pth"):
        hub.load_official_pth(path)


def test_push_validates_before_any_network(tmp_path, saved):
    _, folder = saved
    with pytest.raises(ValueError, match="ORG/NAME"):
        publish.push_to_hub(folder, "no-slash")
    with pytest.raises(FileNotFoundError):
        publish.push_to_hub(tmp_path / "nope", "org/name")
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="missing model.safetensors"):
        publish.push_to_hub(incomplete, "org/name")
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(hub.CheckpointError, match="safetensors"):
        publish.push_to_hub(folder, "org/name")


def test_register_validates_entries(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", {})
    with pytest.raises(ValueError, match="exactly one"):
        registry.register("x", paper="toy")
    with pytest.raises(ValueError, match="sha256"):
        registry.register("x", paper="toy", folder="x", sha256="abc")
    with pytest.raises(ValueError, match="ORG/NAME"):
        registry.register("x", paper="toy", repo_id="bad")
    # a Hub entry is pinned: a 40-hex commit (not a branch) and the sha256 of its weights
    for kwargs in ({}, {"revision": "main", "sha256": "a" * 64}, {"revision": REVISION}):
        with pytest.raises(ValueError, match="pinned"):
            registry.register("x", paper="toy", repo_id="org/x", **kwargs)
    with pytest.raises(ValueError, match="hub_repo"):
        registry.register("x", paper="toy", repo_id="org/x", revision=REVISION, sha256="a" * 64, hub_repo="org/y")
    with pytest.raises(ValueError, match="hub_revision"):
        registry.register("x", paper="toy", folder="x", hub_repo="org/x", hub_revision="main", sha256="a" * 64)
    registry.register("x", paper="toy", repo_id="org/x", revision=REVISION, sha256="a" * 64)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("x", paper="toy", folder="x")


class KwModel(torch.nn.Module, hub.HubMixin):
    """A model configured by plain keyword arguments (no dataclass)."""

    def __init__(self, channels: int = 4, widths: tuple = (1, 2)):
        super().__init__()
        self.channels, self.widths = channels, widths
        self.conv = torch.nn.Conv2d(3, channels, 1)


def test_keyword_config_model_round_trip_but_not_loadable_by_name(tmp_path):
    m = KwModel(channels=6)
    m.save_pretrained(tmp_path / "kw")
    config = json.loads((tmp_path / "kw" / "config.json").read_text())
    assert config["channels"] == 6 and config["synthkit_class"].endswith(":KwModel")
    back = KwModel.from_pretrained(tmp_path / "kw")
    assert back.channels == 6 and back.widths == (1, 2) and _same_weights(m, back)
    with pytest.raises(hub.CheckpointError, match="only classes under synthkit.models"):
        synthkit.load(tmp_path / "kw")  # a class outside synthkit.models is never imported by name


def test_dataclass_config_rebuilt_with_tuples_and_nesting():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Inner:
        sizes: tuple[int, ...] = (1, 2)

    @dataclass(frozen=True)
    class Outer:
        inner: Inner = Inner()
        betas: tuple[float, float] = (0.0, 0.9)
        name: str | None = None

    data = json.loads(json.dumps({"inner": {"sizes": [3, 4, 5]}, "betas": [0.5, 0.99], "name": None, "extra": 1}))
    cfg = hub._dataclass_from_dict(Outer, data)
    assert cfg == Outer(Inner((3, 4, 5)), (0.5, 0.99), None)
    hash(cfg)  # frozen + tuples: hashable, as a config should be


def test_bundled_toy_checkpoint_loads_and_generates():
    assert "toy-toyscapes32" in synthkit.list_models()
    entry = registry.get("toy-toyscapes32")
    assert entry.path.is_dir() and hub.sha256_of(entry.path / "model.safetensors") == entry.sha256
    assert sum(p.stat().st_size for p in entry.path.iterdir()) < 1_000_000
    G = synthkit.load("toy-toyscapes32")
    assert type(G) is ToyGenerator and G.config.image_size == 32
    with torch.no_grad():
        x = G(G.sample_latent(4))
    assert x.shape == (4, 3, 32, 32) and x.min() >= -1 and x.max() <= 1 and x.std() > 0.05


def test_config_json_with_a_renamed_field_loads_with_a_warning(tmp_path):
    G = ToyGenerator(ToyConfig.from_preset("tiny_test", seed=3)).eval()
    G.save_pretrained(tmp_path / "old")
    path = tmp_path / "old" / "config.json"
    config = json.loads(path.read_text())
    fields = config["config"] if isinstance(config.get("config"), dict) else config
    fields["data_seed"] = fields.pop("seed")  # as saved before the vocabulary was unified
    path.write_text(json.dumps(config))
    with pytest.warns(FutureWarning, match="'data_seed' is now called 'seed'"):
        loaded = synthkit.load(tmp_path / "old")
    assert loaded.config.seed == 3


def test_bundled_configs_use_the_current_field_names():
    from synthkit.configs import RENAMED_FIELDS
    from synthkit.registry import PRETRAINED_DIR

    for path in sorted(PRETRAINED_DIR.glob("*/config.json")):
        config = json.loads(path.read_text())
        keys = set(config) | set(config.get("config", {}) if isinstance(config.get("config"), dict) else ())
        old = sorted(keys & set(RENAMED_FIELDS)) if "backbone" not in path.parent.name else []
        assert not old, f"{path} still uses renamed fields {old}"


# ------------------------------------------------------------------------------------ bundled checkpoints on the Hub
@pytest.mark.parametrize("name", registry.names())
def test_every_bundled_card_is_ready_to_publish(name):
    """Licence, recipe, measured figures, each with its provenance: what `synthkit push NAME` requires."""
    assert publish.card_problems(registry.get(name).path) == []
    assert registry.get(name).hub_repo == f"synthkit-cvpr20/{name}"


def test_card_problems_name_what_is_missing(tmp_path):
    good = (registry.get("toy-toyscapes32").path / "README.md").read_text()
    for broken, says in [(good.replace("license: mit\n", ""), "licence"),
                         (good.replace("- command: `", "- commando: `"), "training command"),
                         (good.split("## Metrics")[0], "measured figures"),
                         (good.replace("| 28.48 | offline", "| 28.48 | not recorded |"), "without provenance")]:
        (tmp_path / "README.md").write_text(broken)
        problems = publish.card_problems(tmp_path)
        assert len(problems) == 1 and says in problems[0], (says, problems)


def test_bundled_name_loads_the_bundled_copy_offline_and_says_when_no_hub_copy_is_pinned(offline_cache):
    bundled = registry.get("toy-toyscapes32")
    assert bundled.hub_revision is None  # nothing published from here (no network): the message must say so
    model = synthkit.load("toy-toyscapes32")  # the default: bundled, nothing asked of the Hub
    assert model.config.image_size == 32
    with pytest.raises(hub.CheckpointNotAvailable, match="no pinned Hub copy yet.*synthkit push toy-toyscapes32"):
        synthkit.load("toy-toyscapes32", source="hub")
    with pytest.raises(ValueError, match="source must be"):
        synthkit.load("toy-toyscapes32", source="internet")


def test_source_hub_loads_the_pinned_commit_from_a_prepopulated_cache(offline_cache, monkeypatch):
    import dataclasses

    entry = registry.get("toy-toyscapes32")
    pinned = dataclasses.replace(entry, hub_revision=REVISION)
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY, entry.name: pinned})
    snap = _populate_cache(offline_cache, entry.hub_repo, entry.path)
    from_hub = synthkit.load(entry.name, source="hub")
    assert _same_weights(from_hub, synthkit.load(entry.name, source="bundled"))
    # the pinned sha256 is checked on the Hub copy too
    blob = (snap / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(hub.CheckpointError, match="sha256 mismatch"):
        synthkit.load(entry.name, source="hub")
    # a cache without that commit: the message says which file to put where
    shutil.rmtree(offline_cache / "models--synthkit-cvpr20--toy-toyscapes32")
    with pytest.raises(hub.CheckpointNotAvailable) as info:
        synthkit.load(entry.name, source="hub")
    where = offline_cache / "models--synthkit-cvpr20--toy-toyscapes32" / "snapshots" / REVISION / "config.json"
    assert str(where) in str(info.value) and f"--revision {REVISION}" in str(info.value)


def test_a_file_put_where_the_message_says_loads(offline_cache, monkeypatch):
    """Following the offline message literally (plain files in snapshots/<commit>/) makes the load work."""
    import dataclasses

    entry = registry.get("toy-toyscapes32")
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY,
                                                entry.name: dataclasses.replace(entry, hub_revision=REVISION)})
    snap = offline_cache / "models--synthkit-cvpr20--toy-toyscapes32" / "snapshots" / REVISION
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(entry.path / f, snap / f)
    assert _same_weights(synthkit.load(entry.name, source="hub"), synthkit.load(entry.name))


def test_push_bundled_dry_run_lists_the_files_and_offline_push_says_why(tmp_path):
    entry = registry.get("bachgan-toyscapes")
    out = subprocess.run([sys.executable, "-m", "synthkit", "push", entry.name, "--dry-run"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"https://huggingface.co/{entry.hub_repo}" in lines[0]
    listed = [ln.split()[0] for ln in lines[1:]]
    assert listed == [r[0] for r in publish.push_files(entry.path)] and "model.safetensors" in listed
    assert "README.md" in listed and "config.json" in listed
    offline = subprocess.run([sys.executable, "-m", "synthkit", "push", entry.name], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2 and "HF_HUB_OFFLINE" in offline.stderr and "Traceback" not in offline.stderr
