"""The training loop on the toy DCGAN: outputs, exact resume (also after SIGKILL), config resolution."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import synthkit
from synthkit import train as T
from synthkit.hub import CheckpointError

FAST = ["batch_size=4", "progress=false"]


@pytest.fixture(autouse=True)
def one_thread():
    # 2 shared cores: two intra-op threads spin against each other and make tiny steps ~50x slower
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _run(out, steps, extra=(), resume=True):
    task, cfg = T.resolve_task("toy", "tiny_test", [*FAST, *extra])
    cfg = replace(cfg, steps=steps, out_dir=str(out))
    history = T.train(task, cfg, resume=resume)
    return task, cfg, history


def _state(out):
    return load_file(str(Path(out) / "checkpoint" / "state.safetensors"))


def _assert_same_state(a, b, atol=0.0):
    assert a.keys() == b.keys()
    for k in a:
        if atol == 0.0:
            assert torch.equal(a[k], b[k]), k
        else:
            assert torch.allclose(a[k].double(), b[k].double(), atol=atol, rtol=0), k


def test_short_run_writes_curve_samples_checkpoint_and_model(tmp_path):
    out = tmp_path / "run"
    task, cfg, history = _run(out, 6, ["log_every=2", "sample_every=3", "ckpt_every=3"])
    assert [row["step"] for row in history] == [2, 4, 6]
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(history[0])
    assert all(torch.isfinite(torch.tensor(row["loss_d"])) for row in history)
    assert json.loads((out / "history.json").read_text()) == history
    assert (out / "loss_curve.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000003.png", "step_000006.png"]
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["step"] == 6 and state["history"] == history
    assert not (out / "checkpoint.tmp").exists() and not (out / "checkpoint.old").exists()
    tensors = _state(out)
    assert any(k.startswith("G_ema.") for k in tensors) and any(k.startswith("opt_d.") for k in tensors)
    # the exported model is G_ema, loadable by folder with no knowledge of its class
    model = synthkit.load(out / "model")
    for k, v in model.state_dict().items():
        assert torch.equal(v, tensors[f"G_ema.{k}"]), k
    card = (out / "model" / "README.md").read_text()
    assert "- steps: 6" in card and "exponential moving average" in card
    # and the weights did move: G differs from its initialisation
    torch.manual_seed(cfg.seed)
    fresh = T.resolve_task("toy", "tiny_test", FAST)[0].G
    assert not all(torch.equal(v, tensors[f"G.{k}"]) for k, v in fresh.state_dict().items())


def test_resume_in_process_equals_uninterrupted(tmp_path):
    extra = ["log_every=2", "sample_every=100", "ckpt_every=2"]
    _, _, h_full = _run(tmp_path / "full", 8, extra)
    _run(tmp_path / "split", 4, extra)
    _, _, h_split = _run(tmp_path / "split", 8, extra)  # resumes at step 4
    assert h_split == h_full
    _assert_same_state(_state(tmp_path / "full"), _state(tmp_path / "split"))


SCRIPT = """
import sys, time
from dataclasses import replace
import torch
torch.set_num_threads(1)
from synthkit.train import resolve_task, train
out, steps, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
task, cfg = resolve_task("toy", "tiny_test", ["batch_size=4", "progress=false", "ckpt_every=3", "log_every=3",
                                              "sample_every=1000"])
d_step = task.d_step
def slow_d_step(batch):  # slow the run down so the test can kill it in the middle; numerics unchanged
    time.sleep(delay)
    return d_step(batch)
task.d_step = slow_d_step
train(task, replace(cfg, steps=steps, out_dir=out))
"""


@pytest.mark.slow  # two fresh Python processes importing torch: ~35 s on 2 shared cores
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    steps = 30
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(steps), "0.15"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if json.loads((out / "checkpoint" / "state.json").read_text())["step"] >= 6:
                    break
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                pass
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    ckpt = T.find_checkpoint(out)
    killed_at = json.loads((ckpt / "state.json").read_text())["step"]
    assert 6 <= killed_at < steps
    assert not (out / "model").exists()  # it really did not finish

    resumed = subprocess.run([sys.executable, str(script), str(out), str(steps), "0"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from step {killed_at}" in resumed.stdout
    assert json.loads((out / "checkpoint" / "state.json").read_text())["step"] == steps

    # the same run, never interrupted (in this process, same seed): identical weights, EMA and Adam moments
    task, cfg = T.resolve_task("toy", "tiny_test", ["batch_size=4", "progress=false", "ckpt_every=3",
                                                    "log_every=3", "sample_every=1000"])
    T.train(task, replace(cfg, steps=steps, out_dir=str(tmp_path / "straight")))
    _assert_same_state(_state(out), _state(tmp_path / "straight"))  # bitwise
    assert json.loads((out / "history.json").read_text()) == json.loads((tmp_path / "straight" / "history.json").read_text())


def test_half_written_checkpoint_is_ignored_and_old_one_used(tmp_path):
    out = tmp_path / "run"
    _run(out, 3, ["ckpt_every=3", "sample_every=100"])
    # a crash after "checkpoint -> checkpoint.old" but before "checkpoint.tmp -> checkpoint"
    os.replace(out / "checkpoint", out / "checkpoint.old")
    (out / "checkpoint.tmp").mkdir()
    (out / "checkpoint.tmp" / "state.safetensors").write_bytes(b"half")
    assert T.find_checkpoint(out) == out / "checkpoint.old"
    _, _, history = _run(out, 6, ["ckpt_every=3", "sample_every=100"])
    assert history[-1]["step"] == 6
    assert T.find_checkpoint(out) == out / "checkpoint"
    assert not (out / "checkpoint.old").exists() and not (out / "checkpoint.tmp").exists()


def test_corrupted_checkpoint_names_the_file(tmp_path):
    out = tmp_path / "run"
    _run(out, 2, ["ckpt_every=2", "sample_every=100"])
    weights = out / "checkpoint" / "state.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="state.safetensors"):
        _run(out, 4)


def test_checkpoint_of_another_config_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    _run(out, 2, ["ckpt_every=2", "sample_every=100"])
    with pytest.raises(CheckpointError, match="does not fit"):
        _run(out, 4, ["base_channels=4"])


def test_resolve_task_overrides_are_typed():
    task, cfg = T.resolve_task("toy", "tiny_test", ["lr_g=1e-4", "betas=0,0.99", "ema_decay=none", "z_dim=8",
                                                    "loss=nonsaturating", "cpu=true"])
    assert cfg.lr_g == 1e-4 and cfg.betas == (0.0, 0.99) and cfg.ema_decay is None and cfg.cpu is True
    assert task.config.z_dim == 8 and task.config.loss == "nonsaturating"
    assert task.G.fc.in_features == 8
    # preset defaults (toy: lr 2e-4, betas (0.5, 0.999)) apply when not overridden
    _, cfg = T.resolve_task("toy", "tiny_test", [])
    assert cfg.betas == (0.5, 0.999)


@pytest.mark.parametrize("args, match", [
    (("nope", "tiny_test", []), "unknown model 'nope'; valid: toy, smis, pyramid, bachgan, controllable3d, image2stylegan"),
    (("toy", "huge", []), "unknown preset 'huge' for toy; valid presets: tiny_test"),
    (("toy", "tiny_test", ["lr=1"]), "unknown override key.*lr.*valid model keys.*z_dim.*valid training keys.*lr_g"),
    (("toy", "tiny_test", ["steps=ten"]), "steps=ten: expected an int"),
    (("toy", "tiny_test", ["loss=l2"]), "must be one of hinge, nonsaturating"),
    (("toy", "tiny_test", ["lr_g"]), "KEY=VALUE"),
    (("toy", "tiny_test", ["steps=0"]), "steps must be a positive int"),
])
def test_resolve_task_errors(args, match):
    with pytest.raises(ValueError, match=match):
        T.resolve_task(*args)


def test_one_precedence_rule_defaults_preset_file_set(tmp_path):
    """TrainConfig defaults < preset < --config file < --set, for training and model fields alike."""
    _, cfg = T.resolve_task("toy", "tiny_test", [])
    assert cfg.lr_g == 2e-4 and cfg.lr_d == 2e-4  # the preset (DCGAN), not TrainConfig's own default
    assert cfg.ema_decay == T.TrainConfig().ema_decay  # a field the preset does not set: TrainConfig default
    assert cfg.batch_size == 32 != T.TrainConfig().batch_size
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"lr_g": 3e-4, "lr_d": 5e-4, "z_dim": 12, "betas": [0.0, 0.9], "steps": 9}))
    task, cfg = T.resolve_task("toy", "tiny_test", [], config_file=settings)
    assert (cfg.lr_g, cfg.lr_d, cfg.betas, cfg.steps) == (3e-4, 5e-4, (0.0, 0.9), 9)  # file over preset
    assert task.config.z_dim == 12
    task, cfg = T.resolve_task("toy", "tiny_test", ["lr_g=1e-5", "z_dim=4"], config_file=settings)
    assert cfg.lr_g == 1e-5 and cfg.lr_d == 5e-4 and task.config.z_dim == 4  # --set over file, file kept elsewhere
    # the same rule through the command line
    info = T.run_train("toy", "tiny_test", ["lr_d=1e-3"], dry_run=True, config_file=str(settings))
    assert info["train_config"]["lr_d"] == 1e-3 and info["train_config"]["lr_g"] == 3e-4


@pytest.mark.parametrize("content, match", [
    ("[1, 2]", "expected a JSON object"),
    ("{lr_g: 1}", "not valid JSON"),
    ('{"lr": 1}', "unknown override key.*lr"),
])
def test_config_file_errors_say_what_to_do(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        T.resolve_task("toy", "tiny_test", [], config_file=path)
    with pytest.raises(ValueError, match="no such file"):
        T.resolve_task("toy", "tiny_test", [], config_file=tmp_path / "missing.json")


def test_renamed_fields_still_work_with_a_warning():
    with pytest.warns(FutureWarning, match="'train_images' is now called 'dataset_length'"):
        task, _ = T.resolve_task("smis", "tiny_test", ["train_images=5", "perceptual_backbone=none"])
    assert task.config.dataset_length == 5
    with pytest.warns(FutureWarning, match="'lambda_vgg' is now called 'lambda_perceptual'"):
        task, _ = T.resolve_task("bachgan", "tiny_test", ["lambda_vgg=0.5"])
    assert task.config.lambda_perceptual == 0.5
    with pytest.raises(ValueError, match="both 'disc_channels'.*and 'd_base_channels'"):
        T.resolve_task("smis", "tiny_test", ["disc_channels=4", "d_base_channels=8"])


def test_dry_run_prints_config_and_trains_nothing(tmp_path, capsys):
    info = T.run_train("toy", "tiny_test", ["lr_d=4e-4"], steps=7, out=str(tmp_path / "x"), dry_run=True)
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(info))
    assert info["train_config"]["lr_d"] == 4e-4 and info["train_config"]["steps"] == 7
    assert info["model_config"]["z_dim"] == 16 and info["parameters"]["G"] > 0
    assert not (tmp_path / "x").exists()


def test_batches_depend_only_on_seed_and_step():
    full = list(T.StepBatchSampler(10, 4, seed=3, start=0, steps=6))
    resumed = list(T.StepBatchSampler(10, 4, seed=3, start=4, steps=6))
    assert resumed == full[4:]
    assert sorted(full[0] + full[1] + full[2][:2]) == list(range(10))  # first epoch: a permutation
    r0 = list(T.StepBatchSampler(10, 2, seed=3, start=0, steps=2, rank=0, world=2))
    r1 = list(T.StepBatchSampler(10, 2, seed=3, start=0, steps=2, rank=1, world=2))
    assert not set(r0[0]) & set(r1[0]) and r0[0] + r1[0] == full[0]


def test_task_without_loss_is_a_clear_error(tmp_path):
    task, cfg = T.resolve_task("toy", "tiny_test", FAST)
    task.d_step = lambda batch: {"d_adv": 1.0}
    with pytest.raises(ValueError, match="d_step returned no 'loss' tensor"):
        T.train(task, replace(cfg, steps=1, out_dir=str(tmp_path / "r")))


@pytest.mark.slow  # three torchrun launches of two processes each: ~1 min on 2 shared cores
def test_two_processes_under_torchrun_resume_exactly(tmp_path):
    """The same loop, no code change, as 2 CPU processes (gloo DDP) under torchrun; resume restores both RNGs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def launch(out, steps):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "synthkit.train", "toy", "--preset", "tiny_test", "--steps", str(steps), "--out", str(out),
               "--set", "batch_size=4", "--set", "progress=false", "--set", "ckpt_every=2", "--set", "log_every=2",
               "--set", "sample_every=100"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:  # a hang: end torchrun and its workers (their own process group)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 0, output
        return output

    launch(tmp_path / "split", 2)
    state = json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())
    assert state["num_processes"] == 2
    assert {p.name for p in (tmp_path / "split" / "checkpoint").glob("rng_rank*.json")} == {"rng_rank0.json", "rng_rank1.json"}
    assert "resuming from step 2" in launch(tmp_path / "split", 4)
    launch(tmp_path / "full", 4)
    _assert_same_state(_state(tmp_path / "split"), _state(tmp_path / "full"))


def test_toy_r1_and_nonsaturating_variant_trains(tmp_path):
    _, _, history = _run(tmp_path / "r1", 2, ["r1_gamma=1.0", "loss=nonsaturating", "log_every=2", "sample_every=100"])
    row = history[-1]
    assert {"r1", "d_adv", "loss_d", "loss_g"} <= set(row)
    assert row["r1"] > 0 and row["loss_d"] > row["d_adv"]  # L_D = L_adv + gamma/2 * R1


def test_init_from_starts_at_step_0_with_the_source_weights(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, 2, ["ckpt_every=2", "sample_every=100"])
    # lr 0: Adam then moves nothing, so B's weights after its one step are exactly what init_from loaded
    _, _, history = _run(b, 1, ["ckpt_every=1", "sample_every=100", f"init_from={a}", "lr_g=0", "lr_d=0",
                                "ema_decay=none"])
    sa, sb = _state(a), _state(b)
    batchnorm_stats = ("running_mean", "running_var", "num_batches_tracked")  # these move in train mode, lr or not
    for prefix in ("G.", "D."):
        keep = [k for k in sa if k.startswith(prefix) and not k.endswith(batchnorm_stats)]
        assert len(keep) > 2
        _assert_same_state({k: sa[k] for k in keep}, {k: sb[k] for k in keep})
    state = json.loads((b / "checkpoint" / "state.json").read_text())
    assert state["step"] == 1 and [row["step"] for row in history] == [1]   # a new run, not a resume of A
    fresh = T.resolve_task("toy", "tiny_test", FAST)[0].G.state_dict()
    assert any(not torch.equal(fresh[k], sb["G." + k]) for k in fresh)     # not the random init


def test_init_from_errors_say_what_is_wrong(tmp_path):
    a = tmp_path / "a"
    _run(a, 2, ["ckpt_every=2", "sample_every=100"])
    with pytest.raises(CheckpointError, match="does not fit"):
        _run(tmp_path / "b", 1, [f"init_from={a}", "base_channels=4"])
    with pytest.raises(CheckpointError, match="no checkpoint there"):
        _run(tmp_path / "c", 1, [f"init_from={tmp_path / 'nowhere'}"])


def test_frozen_modules_of_a_task_follow_the_model_to_its_device():
    """Semantic Pyramid's frozen backbone (features and loss) must move with G; `meta` stands in for a GPU here."""
    from synthkit.models.semantic_pyramid import make_task
    from synthkit.train import move_task_modules

    task = make_task("tiny_test")
    assert move_task_modules(task, "meta") == ["backbone"]
    assert all(p.device.type == "meta" for p in task.backbone.parameters())
    assert all(p.device.type == "cpu" for p in task.G.parameters())  # G, D, E are the loop's own business


def test_load_run_generator_reads_the_checkpoints_ema(tmp_path):
    from synthkit.train_state import load_run_generator

    task, cfg = T.resolve_task("toy", "tiny_test", [])
    T.train(task, replace(cfg, steps=2, out_dir=str(tmp_path / "run"), progress=False, ema_decay=0.5))
    exported = synthkit.load(tmp_path / "run" / "model")  # the loop exports G_ema
    fresh, _ = T.resolve_task("toy", "tiny_test", [])
    assert load_run_generator(tmp_path / "run", fresh.G) == (2, "G_ema")
    assert all(torch.equal(a, b) for a, b in zip(fresh.G.state_dict().values(), exported.state_dict().values()))
    assert load_run_generator(tmp_path / "run", fresh.G, prefix="G")[1] == "G"
    assert not all(torch.equal(a, b) for a, b in zip(fresh.G.state_dict().values(), exported.state_dict().values()))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_run_generator(tmp_path / "nothing", fresh.G)
