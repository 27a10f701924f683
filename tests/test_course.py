"""The exercise checks of synthkit.course: right answers pass, wrong ones get a 'not yet' that says why."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synthkit import course


@pytest.fixture(scope="module")
def embedded():
    from synthkit.data.toyscapes import ToyscapesDataset
    from synthkit.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
    from synthkit.pipelines.image2stylegan import Image2StyleGANPipeline

    torch.manual_seed(0)
    G = StyleGAN2Generator(StyleGAN2Config.from_preset("tiny_test")).eval()
    with torch.no_grad():  # StyleGAN2 starts every noise strength at 0; a trained one has them non-zero
        for name, p in G.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.5)
    pipe = Image2StyleGANPipeline(G, backbone=None)
    x = ToyscapesDataset(size=pipe.image_size, length=2, split="test", seed=0)[0]["image"][None]
    return pipe, x, pipe.embed(x, steps_w=5, steps_noise=20)


def test_verdict_reads_right_or_not_yet():
    assert bool(course.verdict(True, "ex", "yes", "no")) and str(course.verdict(True, "ex", "y", "n")).startswith("Right")
    v = course.verdict(False, "ex", "yes", "because")
    assert not v and str(v) == "Not yet (ex): because" and "Not yet" in v._repr_html_()


def test_show_raises_on_a_wrong_solution_only_in_solution_mode(monkeypatch):
    wrong = course.Verdict(False, "ex", "why")
    monkeypatch.delenv("SYNTHKIT_SOLUTIONS", raising=False)
    assert course.show(wrong) is wrong
    monkeypatch.setenv("SYNTHKIT_SOLUTIONS", "1")
    with pytest.raises(AssertionError, match="fails its own check"):
        course.show(wrong)
    course.show(course.Verdict(True, "ex", "fine"))


def test_zero_noise_check(embedded):
    pipe, x, res = embedded
    assert course.check_zero_noise(course.reference_zero_noise, res)
    everything = course.check_zero_noise(lambda n, r: [m * 0 for m in n], res)
    assert not everything and "should be left as it was" in everything.message

    def in_place(noise, r):
        for n in noise:
            if n.shape[-1] == r:
                n.zero_()
        return noise

    v = course.check_zero_noise(in_place, res)
    assert not v and "in place" in v.message
    assert any(n.abs().sum() > 0 for n in res.noise), "the check restores what a wrong answer zeroed in place"
    crash = course.check_zero_noise(lambda n, r: 1 / 0, res)
    assert not crash and "ZeroDivisionError" in crash.message


def test_noise_that_matters_and_noise_lr_checks(embedded):
    pipe, x, res = embedded
    drops = course.noise_psnr_drops(pipe, res, x)
    best = max(drops, key=drops.get)
    assert course.check_noise_that_matters(best, pipe, res, x)
    other = next(r for r in drops if r != best)
    assert not course.check_noise_that_matters(other, pipe, res, x)
    assert "answer with a resolution" in course.check_noise_that_matters("big", pipe, res, x).message
    stds = course.noise_std_by_lr(pipe, x, steps=5)
    assert stds[50.0] > stds[0.05]


# --- notebook 04 ---------------------------------------------------------------------------------------------------
def _project(point, azimuth, elevation, size, focal, radius):
    import math

    from synthkit.nn import render as R3

    R, c = R3.look_at(torch.tensor([math.radians(azimuth)]), torch.tensor([math.radians(elevation)]), radius)
    p = R[0] @ (torch.tensor(point) - c[0])
    f = focal * size
    return f * p[0] / p[2] + size / 2, -f * p[1] / p[2] + size / 2


def test_check_projection():
    assert course.check_projection(_project)
    flipped = lambda *a: (_project(*a)[0], 64 - _project(*a)[1])  # noqa: E731 - v pointing up
    v = course.check_projection(flipped)
    assert not v and "v grows downwards" in v.message
    assert "raised ZeroDivisionError" in course.check_projection(lambda *a: 1 / 0).message


@pytest.fixture(scope="module")
def scene_render():
    from synthkit.models.controllable3d import Controllable3DConfig, Controllable3DGenerator

    torch.manual_seed(0)
    G = Controllable3DGenerator(Controllable3DConfig.from_preset("tiny_test", image_size=32))
    with torch.no_grad():
        z_pose, z_app = G.sample_z(1)
        return G(z_pose, z_app, torch.tensor([0.5]), torch.tensor([0.5]))


def test_check_front_object(scene_render):
    assert (scene_render.coverage > 0.5).any()  # the test below needs pixels with objects

    def front(render, y, x):  # the answer of the notebook's solution: the largest "over" weight
        a, d = render.alpha[0, :, 0, y, x], render.depth[0, :, 0, y, x]
        light, best, who = 1.0, 0.0, None
        for k in d.argsort().tolist():
            if light * a[k] > best:
                best, who = float(light * a[k]), k
            light *= 1 - float(a[k])
        return who if best > light else None

    assert course.check_front_object(front, scene_render)
    nearest_only = lambda r, y, x: int(r.depth[0, :, 0, y, x].argmin())  # noqa: E731 - ignores alpha
    v = course.check_front_object(nearest_only, scene_render)
    assert not v and "front to back" in v.message
    assert not course.check_front_object(lambda r, y, x: None, scene_render)


def test_check_silhouette_fit():
    assert course.check_silhouette_fit([0.1, 0.2, 0.3], (0.1, 0.21, 0.3))
    v = course.check_silhouette_fit([0.0, 0.0, 0.0], (0.1, 0.2, 0.3))
    assert not v and "away from the hidden position" in v.message
    assert "3 numbers" in course.check_silhouette_fit("left", (0, 0, 0)).message


# --- notebook 00 ---------------------------------------------------------------------------------------------------
def test_check_d_hinge():
    import torch.nn.functional as F

    assert course.check_d_hinge(lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean())
    v = course.check_d_hinge(lambda r, f: (1 - r).mean() + (1 + f).mean())
    assert not v and "max(0, .)" in v.message
    assert not course.check_d_hinge(lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean())


def test_check_ema():
    assert course.check_ema(lambda e, t, d: d * e + (1 - d) * t)
    v = course.check_ema(lambda e, t, d: (1 - d) * e + d * t)
    assert not v and "old average" in v.message
    assert "raised" in course.check_ema(lambda e, t, d: e.nope).message


def test_check_nearest_colour():
    import numpy as np

    from synthkit.data.palette import get_palette

    colors = get_palette("toyscapes").colors
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    good = lambda x, c: (((x[..., None, :].astype(int) - c[None, None].astype(int)) ** 2).sum(-1)).argmin(-1)  # noqa: E731
    assert course.check_nearest_colour(good, rgb, colors)
    v = course.check_nearest_colour(lambda x, c: ((x[..., None, :] - c[None, None]).astype(int) ** 2).sum(-1).argmin(-1),
                                    rgb, colors)
    assert not v and "wraps around" in v.message
    assert not course.check_nearest_colour(lambda x, c: np.zeros(x.shape[:2], int), rgb, colors)


# --- notebook 01 ---------------------------------------------------------------------------------------------------
def test_check_first_mixing_block():
    from synthkit.models.groupdnet import GroupDNetConfig

    cfg = GroupDNetConfig.from_preset("toyscapes128")  # groups (12, 12, 6, 6, 3, 1) over 12 classes
    names = [f"c{i}" for i in range(12)]
    assert course.first_mixing_block(cfg.block_groups, 12, 0, 1) == 2 and course.first_mixing_block((12, 1), 12, 0, 0) == 0
    assert course.check_first_mixing_block(2, cfg, 0, 1, names)
    assert course.check_first_mixing_block(5, cfg, 0, 11, names)
    v = course.check_first_mixing_block(0, cfg, 0, 1, names)
    assert not v and "group c // (C / G)" in v.message


def test_check_resample_class():
    z = torch.randn(1, 4, 8, 2, 2)

    def good(z, c, seed):
        out = z.clone()
        out[:, c] = torch.randn(out[:, c].shape, generator=torch.Generator().manual_seed(seed))
        return out

    assert course.check_resample_class(good, z, 1)

    def in_place(z, c, seed):
        z[:, c] = torch.randn(z[:, c].shape)
        return z

    before = z.clone()
    v = course.check_resample_class(in_place, z, 1)
    assert not v and "changed the z it was given" in v.message and torch.equal(z, before)
    assert "only z[:, c]" in course.check_resample_class(lambda z, c, s: torch.randn(z.shape), z, 1).message
    assert "same seed" in course.check_resample_class(lambda z, c, s: good(z, c, int(torch.randint(0, 99, ()))), z, 1).message


def test_check_morph_code():
    za, zb = torch.randn(1, 4, 8, 2, 2), torch.randn(1, 4, 8, 2, 2)

    def good(a, b, t, c):
        out = a.clone()
        out[:, c] = (1 - t) * a[:, c] + t * b[:, c]
        return out

    assert course.check_morph_code(good, za, zb, 2)
    v = course.check_morph_code(lambda a, b, t, c: (1 - t) * a + t * b, za, zb, 2)
    assert not v and "other classes" in v.message


# --- notebook 03 ---------------------------------------------------------------------------------------------------
BOXES = [(4, 2, 3, 10, 12), (9, 6, 8, 14, 16), (9, 0, 0, 3, 3)]  # two classes overlapping, x1 / y1 exclusive


def test_check_box_layout():
    import numpy as np

    def good(boxes, C, H, W):
        L = np.zeros((C, H, W))
        for c, x0, y0, x1, y1 in boxes:
            L[c, y0:y1, x0:x1] = 1
        L[0] = L[1:].max(0) == 0
        return L

    assert course.check_box_layout(good, BOXES, 12, 16, 16)

    def one_hot(boxes, C, H, W):  # the last box wins
        ids = np.zeros((H, W), int)
        for c, x0, y0, x1, y1 in boxes:
            ids[y0:y1, x0:x1] = c
        return np.eye(C)[ids].transpose(2, 0, 1)

    v = course.check_box_layout(one_hot, BOXES, 12, 16, 16)
    assert not v and "multi-hot" in v.message
    no_zero = lambda *a: np.concatenate([np.zeros((1, 16, 16)), good(*a)[1:]])  # noqa: E731
    assert "channel 0 should be 1" in course.check_box_layout(no_zero, BOXES, 12, 16, 16).message


def test_check_pooled_iou_and_classless():
    import numpy as np

    from synthkit.models.bachgan import rasterize_boxes
    from synthkit.retrieval import pooled_iou_bruteforce

    labels = np.random.default_rng(0).integers(0, 12, (6, 16, 16))
    L = rasterize_boxes(BOXES, 12, 16, 16).numpy()
    classes = [b[0] for b in BOXES]
    assert course.check_pooled_iou(pooled_iou_bruteforce, labels, L, classes)
    mean_iou = lambda lab, Lg, q: np.mean([pooled_iou_bruteforce(lab, Lg, [c]) for c in set(q)], axis=0)  # noqa: E731
    v = course.check_pooled_iou(mean_iou, labels, L, classes)
    assert not v and "mean of per-class IoUs" in v.message
    assert course.check_classless_score(course.reference_classless_score, labels, L, (4, 9))
    assert not course.check_classless_score(lambda lab, Lg, t: np.zeros(len(lab)), labels, L, (4, 9))


# --- notebook 02 ---------------------------------------------------------------------------------------------------
def test_check_masked_l1():
    good = lambda f, r, m: (m * (f - r).abs()).sum() / (m.sum() * f.shape[1])  # noqa: E731
    assert course.check_masked_l1(good)
    v = course.check_masked_l1(lambda f, r, m: (m * (f - r).abs()).sum() / (f - r).numel())
    assert not v and "masked* values" in v.message


def test_check_capped_diversity():
    def good(z1, z2, x1, x2, tau):
        r = (x1 - x2).abs().flatten(1).mean(1) / (z1 - z2).abs().flatten(1).mean(1)
        return -r.clamp(max=tau).mean()

    assert course.check_capped_diversity(good)
    uncapped = lambda z1, z2, x1, x2, tau: -((x1 - x2).abs().flatten(1).mean(1) / (z1 - z2).abs().flatten(1).mean(1)).mean()  # noqa: E731
    assert not course.check_capped_diversity(uncapped)


def test_check_near_copy_level():
    from synthkit.models.semantic_pyramid import make_task
    from synthkit.pipelines.pyramid import PyramidPipeline

    torch.manual_seed(0)
    task = make_task("tiny_test")
    pipe = PyramidPipeline(task.G.eval(), task.backbone)
    image = torch.rand(3, pipe.image_size, pipe.image_size) * 2 - 1
    spread = course.seed_spread_by_level(pipe, image)
    best = min(spread, key=spread.get)
    assert course.check_near_copy_level(best, pipe, image)
    other = next(k for k in spread if k != best)
    v = course.check_near_copy_level(other, pipe, image)
    assert not v and best in v.message
    assert "level name" in course.check_near_copy_level("conv99", pipe, image).message


# ------------------------------------------------------------------------------------------------ run modes
def test_run_mode_reads_the_two_switches_and_refuses_both():
    from synthkit.course import by_mode, mode_note, run_mode

    assert run_mode({}) == "full" and run_mode({"SYNTHKIT_FAST": "1"}) == "fast"
    assert run_mode({"SYNTHKIT_LECTURE": "1"}) == "lecture" and run_mode({"SYNTHKIT_LECTURE": "0"}) == "full"
    with pytest.raises(ValueError, match="both set"):
        run_mode({"SYNTHKIT_FAST": "1", "SYNTHKIT_LECTURE": "1"})
    assert [by_mode(1, 2, 3, mode=m) for m in ("fast", "full", "lecture")] == [1, 2, 3]
    assert by_mode(1, 2, mode="lecture") == 2  # lecture defaults to full
    with pytest.raises(ValueError, match="mode must be"):
        by_mode(1, 2, 3, mode="slow")
    assert "ON A CPU" in mode_note("lecture", "cpu") and mode_note("lecture", "cuda") == "| lecture mode"


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.py")),
                         ids=lambda p: p.stem)
def test_each_notebook_sizes_its_training_for_a_lecture(path):
    """Every notebook's training length has a lecture value larger than its full CPU value."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "by_mode"]
    assert calls, f"{path.name}: no by_mode(fast, full, lecture) call"
    steps = [c for c in calls if len(c.args) == 3]
    assert steps, f"{path.name}: by_mode without a lecture value"
    for c in steps:
        fast, full, lecture = (ast.literal_eval(a) for a in c.args)
        first = (lambda v: v[0] if isinstance(v, tuple) else v)
        assert first(fast) < first(full) < first(lecture), (path.name, ast.unparse(c))
    assert "MODE = run_mode()" in path.read_text() and "mode_note(MODE, DEVICE)" in path.read_text()
