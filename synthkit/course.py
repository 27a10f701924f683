"""Checks for the notebooks' exercises: each says *right* or *not yet*, and why.

A check never just compares with a typed answer: it recomputes the answer from the model in front of the student
(so it stays true when a bundled model is retrained) and explains the evidence. The notebook tests run every check
against its solution, so the checks cannot rot::

    from synthkit import course
    course.check_zero_noise(my_zero_noise, res)   # -> Verdict, shown as a green / orange line in Jupyter

Solutions live in the notebooks, in collapsed cells that start ``if course.SOLUTIONS:``: they run only when
``SYNTHKIT_SOLUTIONS=1`` (the notebook tests set it), so "Run all" never overwrites a student's own answer. With it
set, :func:`show` also raises on a check that is not right, which is how the tests see a check that rotted.
"""
from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


SOLUTIONS = os.environ.get("SYNTHKIT_SOLUTIONS") == "1"

# ------------------------------------------------------------------------------------------------ run modes
MODES = ("fast", "full", "lecture")


def run_mode(environ: dict[str, str] | None = None) -> str:
    """How much a notebook trains: ``"fast"`` (``SYNTHKIT_FAST=1``: the tests, minutes on a CPU), ``"lecture"``
    (``SYNTHKIT_LECTURE=1``: sized for a Colab GPU lecture slot) or ``"full"`` (neither: a CPU at home)."""
    env = os.environ if environ is None else environ
    fast, lecture = env.get("SYNTHKIT_FAST") == "1", env.get("SYNTHKIT_LECTURE") == "1"
    if fast and lecture:
        raise ValueError("SYNTHKIT_FAST=1 and SYNTHKIT_LECTURE=1 are both set: unset one (fast: a few CPU minutes "
                         "for the tests; lecture: more steps for a GPU)")
    return "fast" if fast else "lecture" if lecture else "full"


def by_mode(fast: Any, full: Any, lecture: Any = None, mode: str | None = None) -> Any:
    """The value for the current run mode (``lecture`` defaults to ``full``): ``STEPS = by_mode(20, 500, 5000)``."""
    mode = run_mode() if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return {"fast": fast, "full": full, "lecture": full if lecture is None else lecture}[mode]


def mode_note(mode: str, device: Any) -> str:
    """One line for a notebook's first cell: the mode, and a warning when lecture mode runs without a GPU."""
    if mode == "lecture" and str(device) == "cpu":
        return ("| lecture mode ON A CPU: its training is sized for a GPU and will take hours here; pick a GPU "
                "runtime (Colab: Runtime > Change runtime type) or unset SYNTHKIT_LECTURE")
    return f"| {mode} mode"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one exercise check; ``bool(verdict)`` is whether it is right."""

    ok: bool
    exercise: str
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return f"{'Right' if self.ok else 'Not yet'} ({self.exercise}): {self.message}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1b7f3b" if self.ok else "#b35900"
        head = "Right" if self.ok else "Not yet"
        return (f"<div style='border-left:4px solid {colour};padding:4px 10px'><b style='color:{colour}'>{head}</b>"
                f" ({html.escape(self.exercise)}): {html.escape(self.message)}</div>")


def verdict(ok: bool, exercise: str, right: str, not_yet: str) -> Verdict:
    return Verdict(bool(ok), exercise, right if ok else not_yet)


def show(v: Verdict) -> Verdict:
    """Display a verdict in a notebook (or print it); with ``SYNTHKIT_SOLUTIONS=1`` a wrong one raises."""
    try:
        from IPython.display import display

        display(v)
    except ImportError:
        print(v)
    if os.environ.get("SYNTHKIT_SOLUTIONS") == "1" and not v.ok:
        raise AssertionError(f"a solution fails its own check: {v}")
    return v


def _call(fn: Callable[..., Any], exercise: str, *args: Any) -> tuple[Any, Verdict | None]:
    """Run the student's function; an exception becomes a 'not yet' naming it instead of a traceback."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - reported to the student
        return None, Verdict(False, exercise, f"your function raised {type(exc).__name__}: {exc}")


def _call_scalar(fn: Callable[..., Any], exercise: str, *args: Any) -> tuple[float | None, Verdict | None]:
    """``_call`` for a function that must return one number (a Python number or a 0-d tensor)."""
    got, err = _call(fn, exercise, *args)
    if err is not None:
        return None, err
    try:
        return float(got), None
    except (TypeError, ValueError, RuntimeError):
        return None, Verdict(False, exercise, f"return one number (a 0-d tensor is fine), got {type(got).__name__}")


# --- notebook 00: the tour ---------------------------------------------------------------------------------------

def check_d_hinge(fn: Callable[[Tensor, Tensor], Tensor], seed: int = 0) -> Verdict:
    """Exercise 00.1: ``fn(real_logits, fake_logits)`` is the discriminator's hinge loss."""
    from synthkit.losses import d_hinge_loss

    ex = "00 exercise 1, the hinge loss"
    g = torch.Generator().manual_seed(seed)
    for shape in ((8,), (4, 1, 6, 6), (2, 3)):
        real, fake = 2 * torch.randn(shape, generator=g), 2 * torch.randn(shape, generator=g)
        want = float(d_hinge_loss(real, fake))
        got, err = _call_scalar(fn, ex, real.clone(), fake.clone())
        if err is not None:
            return err
        if abs(got - want) > 1e-5:
            no_relu = float((1 - real).mean() + (1 + fake).mean())
            hint = ("without the max(0, .) the loss keeps pushing logits that are already right; clamp each term"
                    if abs(got - no_relu) < 1e-5 else "real logits should be above +1, fake ones below -1")
            return Verdict(False, ex, f"logits of shape {shape}: the hinge loss is {want:.4f}, yours {got:.4f}; {hint}")
    return Verdict(True, ex, "E[max(0, 1 - D(real))] + E[max(0, 1 + D(fake))]: logits past the margin cost nothing")


def check_ema(fn: Callable[[Tensor, Tensor, float], Tensor], seed: int = 0) -> Verdict:
    """Exercise 00.2: ``fn(ema, theta, decay)`` returns the new EMA of the weights."""
    ex = "00 exercise 2, the weight average"
    g = torch.Generator().manual_seed(seed)
    ema = want = torch.zeros(5)
    for _ in range(20):
        theta = torch.randn(5, generator=g)
        want = 0.9 * want + 0.1 * theta
        got, err = _call(fn, ex, ema.clone(), theta.clone(), 0.9)
        if err is not None:
            return err
        if not isinstance(got, Tensor) or got.shape != want.shape:
            return Verdict(False, ex, "return the new average, a tensor shaped like the weights")
        ema = got
    if not torch.allclose(ema, want, atol=1e-5):
        return Verdict(False, ex, "after 20 steps with decay 0.9 your average is off: the *old average* gets the "
                       "weight decay (0.9), the new weights 1 - decay (0.1)")
    return Verdict(True, ex, "ema <- decay * ema + (1 - decay) * theta: it remembers about 1 / (1 - decay) steps")


def reference_nearest_colour(rgb: Any, colors: Any) -> Any:
    import numpy as np

    d = ((np.asarray(rgb, np.int64)[..., None, :] - np.asarray(colors, np.int64)[None, None]) ** 2).sum(-1)
    return d.argmin(-1)


def check_nearest_colour(fn: Callable[[Any, Any], Any], rgb: Any, colors: Any) -> Verdict:
    """Exercise 00.3: ``fn(rgb uint8 [H, W, 3], colors uint8 [K, 3])`` -> the nearest palette index per pixel."""
    import numpy as np

    ex = "00 exercise 3, decode a colour map"
    want = reference_nearest_colour(rgb, colors)
    got, err = _call(fn, ex, np.array(rgb, copy=True), np.array(colors, copy=True))
    if err is not None:
        return err
    got = np.asarray(got)
    if got.shape != want.shape:
        return Verdict(False, ex, f"return one id per pixel, shape {want.shape}, got {got.shape}")
    wrong = float((got != want).mean())
    if wrong:
        hint = ("uint8 arithmetic wraps around (3 - 5 = 254): convert to int before subtracting"
                if np.array_equal(got, _uint8_nearest(rgb, colors)) else
                "compare each pixel with every palette colour (squared distance over r, g, b) and take the argmin")
        return Verdict(False, ex, f"{100 * wrong:.1f}% of the pixels get another id than the nearest colour; {hint}")
    return Verdict(True, ex, "every pixel gets the nearest palette colour (what color_to_labels does before it "
                   "snaps the uncertain edge pixels)")


def _uint8_nearest(rgb: Any, colors: Any) -> Any:
    """The classic bug: the distance computed in uint8, which wraps around."""
    import numpy as np

    diff = np.asarray(rgb, np.uint8)[..., None, :] - np.asarray(colors, np.uint8)[None, None]
    return (diff.astype(np.int64) ** 2).sum(-1).argmin(-1)


# --- notebook 01: SMIS / GroupDNet --------------------------------------------------------------------------------

def first_mixing_block(block_groups: Sequence[int], num_classes: int, a: int, b: int) -> int | None:
    """The first block whose grouped convolutions put classes ``a`` and ``b`` in one group (None: never)."""
    for block, groups in enumerate(block_groups):
        per_group = num_classes // groups
        if a // per_group == b // per_group:
            return block
    return None


def check_first_mixing_block(answer: Any, config: Any, a: int, b: int, names: Sequence[str]) -> Verdict:
    """Exercise 01.1: in which block can class ``a``'s code first change class ``b``'s channels?"""
    ex = f"01 exercise 1, where {names[a]} meets {names[b]}"
    want = first_mixing_block(config.block_groups, config.num_classes, a, b)
    groups = ", ".join(f"block {i}: G={g}" for i, g in enumerate(config.block_groups))
    try:
        answer = None if answer is None else int(answer)
    except (TypeError, ValueError):
        return Verdict(False, ex, f"answer with a block index, got {answer!r}")
    return verdict(answer == want, ex, f"block {want}: its {config.block_groups[want]} groups are the first to hold "
                   f"both classes' channels ({groups}); before it, the grouped convs keep them apart",
                   f"not block {answer}; class c sits in group c // (C / G) of a block with G groups ({groups})")


def check_resample_class(fn: Callable[[Tensor, int, int], Tensor], z: Tensor, c: int) -> Verdict:
    """Exercise 01.2: ``fn(z, c, seed)`` redraws class c's code from N(0, I) and keeps every other class's code."""
    ex = "01 exercise 2, resample one class"
    original = z.clone()
    got, err = _call(fn, ex, z, c, 3)
    if err is not None:
        return err
    if not torch.equal(z, original):
        z.copy_(original)
        return Verdict(False, ex, "your function changed the z it was given (restored now): clone it first, so the "
                       "original image can still be made")
    if not isinstance(got, Tensor) or got.shape != z.shape:
        return Verdict(False, ex, f"return a tensor shaped like z {tuple(z.shape)}")
    others = [k for k in range(z.shape[1]) if k != c]
    if not torch.equal(got[:, others], z[:, others]):
        return Verdict(False, ex, "the other classes' codes changed: only z[:, c] may change")
    if torch.equal(got[:, c], z[:, c]):
        return Verdict(False, ex, "class c's code is unchanged: draw a new one with torch.randn")
    again, _ = _call(fn, ex, z, c, 3)
    if again is None or not torch.equal(again, got):
        return Verdict(False, ex, "the same seed should give the same code (use torch.Generator().manual_seed(seed))")
    std = float(got[:, c].std())
    if not 0.6 < std < 1.5:
        return Verdict(False, ex, f"the new code has std {std:.2f}; the prior is N(0, I) (std 1)")
    return Verdict(True, ex, "only z_c is redrawn from the prior, deterministically per seed: that is SMIS's "
                   "class-wise resampling (SMISPipeline.resample_class)")


def check_morph_code(fn: Callable[[Tensor, Tensor, float, int], Tensor], z_a: Tensor, z_b: Tensor, c: int) -> Verdict:
    """Exercise 01.3: ``fn(z_a, z_b, t, c)`` is the code of the style morph at ``t`` for class ``c`` alone."""
    from synthkit.pipelines.smis import _morph_latent

    ex = "01 exercise 3, the morph code"
    mask = torch.zeros(1, z_a.shape[1], 1, 1, 1, dtype=torch.bool)
    mask[:, c] = True
    for t in (0.0, 0.3, 1.0):
        want = _morph_latent(z_a, z_b, t, mask)
        got, err = _call(fn, ex, z_a.clone(), z_b.clone(), t, c)
        if err is not None:
            return err
        if not isinstance(got, Tensor) or got.shape != want.shape:
            return Verdict(False, ex, f"return a code shaped like z_a {tuple(z_a.shape)}")
        if not torch.allclose(got, want, atol=1e-6):
            where = "class c's code" if torch.allclose(got[:, [k for k in range(z_a.shape[1]) if k != c]],
                                                      want[:, [k for k in range(z_a.shape[1]) if k != c]]) else \
                "the other classes' codes (they stay z_a's)"
            return Verdict(False, ex, f"at t = {t}, {where} differ from the morph: z_c(t) = (1 - t) z_a,c + t z_b,c")
    return Verdict(True, ex, "z_c moves on the straight line from z_a to z_b, the rest stays z_a: the morph of "
                   "SMISPipeline.morph (exact at t = 0 and 1)")


# --- notebook 02: Semantic Pyramid --------------------------------------------------------------------------------

def check_masked_l1(fn: Callable[[Tensor, Tensor, Tensor], Tensor], seed: int = 0) -> Verdict:
    """Exercise 02.1: ``fn(fake, real, mask)`` is one spatial level's masked reconstruction error (no pooling)."""
    from synthkit.models.semantic_pyramid import semantic_reconstruction_loss

    ex = "02 exercise 1, the masked reconstruction term"
    g = torch.Generator().manual_seed(seed)
    fake, real = torch.randn(2, 5, 8, 8, generator=g), torch.randn(2, 5, 8, 8, generator=g)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 1:5] = 1
    want = float(semantic_reconstruction_loss([fake], [real], [mask], pool=1))
    got, err = _call_scalar(fn, ex, fake.clone(), real.clone(), mask.clone())
    if err is not None:
        return err
    if abs(got - want) > 1e-5:
        everywhere = float((mask * (fake - real).abs()).sum() / (fake - real).abs().numel())
        hint = ("divide by the number of *masked* values (sum of the mask times the channels), not by all of them: "
                "a small kept region must not count less" if abs(got - everywhere) < 1e-5 else
                "sum(m |phi(G) - phi(x)|) / (sum(m) * C): the mask [B, 1, h, w] broadcasts over the C channels")
        return Verdict(False, ex, f"the term is {want:.4f}, yours {got:.4f}; {hint}")
    return Verdict(True, ex, "the mean absolute feature error over the masked positions only: where m = 0 the "
                   "generator is free")


def check_capped_diversity(fn: Callable[..., Tensor], seed: int = 0) -> Verdict:
    """Exercise 02.2: ``fn(z1, z2, x1, x2, tau)`` is the capped per-sample diversity loss."""
    from synthkit.models.semantic_pyramid import diversity_sensitive_loss

    ex = "02 exercise 2, the capped diversity term"
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    x1 = torch.randn(6, 3, 8, 8, generator=g)
    x2 = x1 + torch.linspace(0.05, 3.0, 6).view(6, 1, 1, 1) * torch.randn(6, 3, 8, 8, generator=g)
    for tau in (0.5, 2.0):
        want = float(diversity_sensitive_loss(z1, z2, x1, x2, tau))
        got, err = _call_scalar(fn, ex, z1, z2, x1, x2, tau)
        if err is not None:
            return err
        if abs(got - want) > 1e-5:
            return Verdict(False, ex, f"with tau = {tau} the term is {want:.4f}, yours {got:.4f}: per sample i, "
                           "r_i = mean|x1_i - x2_i| / mean|z1_i - z2_i|, then -mean_i min(r_i, tau)")
    return Verdict(True, ex, "each sample is pushed apart until its two images differ by tau, then left alone")


def seed_spread_by_level(pipe: Any, image: Any, seeds: Sequence[int] = (0, 1, 2)) -> dict[str, float]:
    """Mean absolute pixel difference (0..255) between generations of ``image`` from each level with different seeds."""
    import numpy as np

    out = {}
    for level in pipe.levels:
        imgs = [pipe.generate_from_level(image, level, seed=s).image.astype(np.float64) for s in seeds]
        out[level] = float(np.mean([np.abs(a - b).mean() for i, a in enumerate(imgs) for b in imgs[i + 1:]]))
    return out


def check_near_copy_level(answer: Any, pipe: Any, image: Any) -> Verdict:
    """Exercise 02.3: from which level do different seeds give (almost) the same image?"""
    ex = "02 exercise 3, the level that copies"
    spread = seed_spread_by_level(pipe, image)
    want = min(spread, key=spread.get)
    table = ", ".join(f"{k}: {v:.1f}" for k, v in spread.items())
    if answer not in spread:
        return Verdict(False, ex, f"answer with a level name, one of {list(spread)}; got {answer!r}")
    return verdict(answer == want, ex, f"{want}: the seeds differ least there (mean |difference| per pixel, 0..255: "
                   f"{table}); its features pin the image down",
                   f"not {answer}; measure the seed-to-seed difference per level ({table})")


# --- notebook 03: BachGAN ----------------------------------------------------------------------------------------

def check_box_layout(fn: Callable[[Any, int, int, int], Any], boxes: Sequence[Any], num_classes: int, height: int,
                     width: int) -> Verdict:
    """Exercise 03.1: ``fn(boxes, C, H, W)`` is the multi-hot box layout L (channel 0: under no box)."""
    import numpy as np

    from synthkit.models.bachgan import rasterize_boxes

    ex = "03 exercise 1, boxes to L"
    want = rasterize_boxes(boxes, num_classes, height, width).numpy()
    got, err = _call(fn, ex, list(boxes), num_classes, height, width)
    if err is not None:
        return err
    got = np.asarray(got.detach().cpu() if isinstance(got, Tensor) else got, dtype=np.float64)
    if got.shape != want.shape:
        return Verdict(False, ex, f"L is [C, H, W] = {want.shape}, got {got.shape}")
    bad = [c for c in range(num_classes) if not np.array_equal(got[c], want[c])]
    if not bad:
        return Verdict(True, ex, "one channel per class, several on where boxes of different classes overlap, "
                       "channel 0 on where no box is")
    if bad == [0]:
        return Verdict(False, ex, "the box channels are right; channel 0 should be 1 exactly where no box covers "
                       "the pixel")
    if (got[1:].sum(0) <= 1).all() and (want[1:].sum(0) > 1).any():
        return Verdict(False, ex, f"channels {bad} differ: where boxes overlap both channels stay on (multi-hot, "
                       "not the last box wins); x1 and y1 are exclusive")
    return Verdict(False, ex, f"channels {bad} differ from rasterize_boxes; box (c, x0, y0, x1, y1) fills "
                   "L[c, y0:y1, x0:x1], x1 and y1 exclusive")


def reference_classless_score(labels: Any, box_layout: Any, thing_classes: Sequence[int]) -> Any:
    """IoU between the union of all query boxes and the union of a candidate's thing pixels, per candidate."""
    import numpy as np

    B = np.asarray(box_layout)[1:].max(0) > 0
    A = np.isin(np.asarray(labels), list(thing_classes))
    inter = (A & B).sum(axis=(1, 2))
    union = (A | B).sum(axis=(1, 2))
    return np.divide(inter, union, out=np.zeros(len(A)), where=union > 0)


def check_pooled_iou(fn: Callable[[Any, Any, Sequence[int]], Any], labels: Any, box_layout: Any,
                     query_classes: Sequence[int]) -> Verdict:
    """Exercise 03.2: ``fn(labels [N, h, w], L_grid [C, h, w], query_classes)`` is BachGAN's pooled IoU."""
    import numpy as np

    from synthkit.retrieval import pooled_iou_bruteforce

    ex = "03 exercise 2, the pooled IoU"
    want = pooled_iou_bruteforce(labels, box_layout, query_classes)
    got, err = _call(fn, ex, np.array(labels, copy=True), np.array(box_layout, copy=True), list(query_classes))
    if err is not None:
        return err
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        return Verdict(False, ex, f"one score per candidate, shape {want.shape}, got {got.shape}")
    if np.allclose(got, want, atol=1e-9):
        return Verdict(True, ex, "intersections and unions are summed over the query's classes before dividing "
                       "(pooled), so a large class does not drown in an average of per-class IoUs")
    per_class_mean = np.mean([pooled_iou_bruteforce(labels, box_layout, [c]) for c in set(query_classes)], axis=0)
    hint = ("that is the mean of per-class IoUs; pool first: sum the intersections and the unions over the classes, "
            "then divide once" if np.allclose(got, per_class_mean, atol=1e-9) else
            "score = sum_c |s = c and B_c| / sum_c |s = c or B_c| over the classes of the query's boxes")
    return Verdict(False, ex, f"scores differ (e.g. candidate 0: {want[0]:.4f}, yours {got[0]:.4f}); {hint}")


def check_classless_score(fn: Callable[[Any, Any, Sequence[int]], Any], labels: Any, box_layout: Any,
                          thing_classes: Sequence[int]) -> Verdict:
    """Exercise 03.3: the class-agnostic score (all boxes vs all thing pixels) of every candidate."""
    import numpy as np

    ex = "03 exercise 3, retrieval without classes"
    want = reference_classless_score(labels, box_layout, thing_classes)
    got, err = _call(fn, ex, np.array(labels, copy=True), np.array(box_layout, copy=True), list(thing_classes))
    if err is not None:
        return err
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-9):
        return Verdict(False, ex, "the union of all boxes is L[1:].max(0) > 0, a candidate's objects are its pixels "
                       "of any thing class; score = |A and B| / |A or B| per candidate")
    return Verdict(True, ex, f"it ranks candidate {int(want.argmax())} first; compare its top maps with the pooled "
                   "IoU's: without the class term a tree box can be matched by a building")


# --- notebook 04: 3D-controllable synthesis ------------------------------------------------------------------------

PROJECTION_CASES = ((0.0, 0.0, 0.0, 0.0, 30.0), (0.3, 0.2, -0.4, 45.0, 25.0), (-0.5, 0.1, 0.2, 200.0, 40.0),
                    (0.2, 0.5, 0.6, 300.0, 10.0))  # (x, y, z, azimuth°, elevation°)


def check_projection(fn: Callable[..., Any], size: int = 64, focal: float = 1.3, radius: float = 3.0) -> Verdict:
    """Exercise 04.1: ``fn(point, azimuth_deg, elevation_deg, size, focal, radius) -> (u, v)`` in pixels."""
    import math

    from synthkit.nn import render as R3

    ex = "04 exercise 1, project a point"
    for x, y, z, az, el in PROJECTION_CASES:
        R, c = R3.look_at(torch.tensor([math.radians(az)]), torch.tensor([math.radians(el)]), radius)
        want = R3.project(torch.tensor([[[x, y, z]]]), R, c, size, focal)[0][0, 0].tolist()
        got, err = _call(fn, ex, (x, y, z), az, el, size, focal, radius)
        if err is not None:
            return err
        try:
            u, v = (float(g) for g in got)
        except (TypeError, ValueError):
            return Verdict(False, ex, f"return two numbers (u, v), got {got!r}")
        if math.hypot(u - want[0], v - want[1]) > 1e-3:
            hint = ("v grows downwards in an image: flip the sign of the camera's up coordinate"
                    if abs(u - want[0]) < 1e-3 else "subtract the camera centre, rotate with R, divide by depth")
            return Verdict(False, ex, f"point {(x, y, z)} seen from azimuth {az:g}°, elevation {el:g}° lands at "
                           f"({want[0]:.2f}, {want[1]:.2f}), you said ({u:.2f}, {v:.2f}); {hint}")
    return Verdict(True, ex, f"{len(PROJECTION_CASES)} points land where the renderer puts them: "
                   "u = f x/z + S/2, v = -f y/z + S/2 in camera coordinates, f = focal x S")


def reference_front_object(render: Any, y: int, x: int) -> int | None:
    """Which primitive the composite shows at pixel (y, x) of batch item 0 (None: the background)."""
    a = render.alpha[0, :, 0, y, x]
    d = render.depth[0, :, 0, y, x]
    order = d.argsort()
    light, weights = 1.0, torch.zeros_like(a)
    for k in order.tolist():
        weights[k] = light * a[k]
        light = light * (1 - a[k])
    k = int(weights.argmax())
    return k if float(weights[k]) > float(light) else None


def check_front_object(fn: Callable[[Any, int, int], Any], render: Any, n_pixels: int = 300, seed: int = 0) -> Verdict:
    """Exercise 04.2: ``fn(render, y, x)`` names the primitive that the composite shows at a pixel, or None."""
    ex = "04 exercise 2, who is in front"
    S = render.image.shape[-1]
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.randint(0, S, (n_pixels,), generator=g), torch.randint(0, S, (n_pixels,), generator=g)
    covered = render.coverage[0, 0] > 0.5  # make sure pixels with objects are among the tested ones
    if covered.any():
        cy, cx = torch.nonzero(covered, as_tuple=True)
        pick = torch.randint(0, len(cy), (n_pixels // 2,), generator=g)
        ys, xs = torch.cat([ys, cy[pick]]), torch.cat([xs, cx[pick]])
    for y, x in zip(ys.tolist(), xs.tolist()):
        want = reference_front_object(render, y, x)
        got, err = _call(fn, ex, render, y, x)
        if err is not None:
            return err
        if got != want and not (got is not None and want is not None and int(got) == want):
            d = ", ".join(f"{float(v):.2f}" for v in render.depth[0, :, 0, y, x])
            a = ", ".join(f"{float(v):.2f}" for v in render.alpha[0, :, 0, y, x])
            return Verdict(False, ex, f"at pixel (y={y}, x={x}) the composite shows "
                           f"{'the background' if want is None else f'primitive {want}'}, you said {got!r} "
                           f"(alpha {a}; depth {d}): light passes front to back, each layer takes alpha of what is "
                           "left")
    return Verdict(True, ex, f"right at all {len(ys)} pixels: the nearest layers take their alpha of the light first")


def check_silhouette_fit(translation: Any, target_translation: Any, tol: float = 0.05) -> Verdict:
    """Exercise 04.3: gradient descent through the soft silhouette found the hidden sphere's position."""
    ex = "04 exercise 3, fit a silhouette"
    try:
        t = torch.as_tensor(translation, dtype=torch.float32).detach().reshape(3)
    except (TypeError, ValueError, RuntimeError):
        return Verdict(False, ex, f"give the fitted translation as 3 numbers, got {translation!r}")
    want = torch.as_tensor(target_translation, dtype=torch.float32).reshape(3)
    err = float((t - want).norm())
    return verdict(err <= tol, ex, f"found within {err:.3f} of the hidden position: the soft silhouette's gradient "
                   "points the sphere towards the target, the hard one (alpha > 0.5) would give none",
                   f"{err:.3f} away from the hidden position (needs <= {tol}); more steps, a larger learning rate, "
                   "or a loss that compares the soft alpha (not a thresholded one) with the target")


# --- notebook 05: Image2StyleGAN++ --------------------------------------------------------------------------------

def reference_zero_noise(noise: Sequence[Tensor], resolution: int) -> list[Tensor]:
    """The maps of ``noise`` with every map of side ``resolution`` replaced by zeros (inputs untouched)."""
    return [torch.zeros_like(n) if n.shape[-1] == resolution else n for n in noise]


def noise_psnr_drops(pipe: Any, res: Any, target: Any) -> dict[int, float]:
    """PSNR loss (dB, against ``target``) of an embedding when one resolution's noise is zeroed, per resolution."""
    from synthkit.metrics.reconstruction import psnr

    target = pipe.prepare_image(target)[0].to(res.wplus.device)
    with torch.no_grad():
        base = psnr(pipe.G.synthesis(res.wplus, res.noise).clamp(-1, 1), target)
        out = {}
        for r in sorted({n.shape[-1] for n in res.noise}):
            img = pipe.G.synthesis(res.wplus, reference_zero_noise(res.noise, r)).clamp(-1, 1)
            out[r] = float(base - psnr(img, target))
    return out


def _restore(noise: Sequence[Tensor], originals: Sequence[Tensor]) -> None:
    with torch.no_grad():
        for n, o in zip(noise, originals):
            n.copy_(o)


def check_zero_noise(fn: Callable[[list[Tensor], int], list[Tensor]], res: Any) -> Verdict:
    """Exercise 05.2a: ``fn(noise, resolution)`` zeroes that resolution's maps, keeps the others, copies nothing back."""
    ex = "05 exercise 2a, zero one resolution's noise"
    originals = [n.clone() for n in res.noise]
    for r in sorted({n.shape[-1] for n in res.noise}):
        got, err = _call(fn, ex, list(res.noise), r)
        if err is not None:
            _restore(res.noise, originals)
            return err
        want = reference_zero_noise(originals, r)
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            return Verdict(False, ex, f"return a list of {len(want)} maps, one per layer (got {type(got).__name__})")
        for i, (g, w) in enumerate(zip(got, want)):
            if not isinstance(g, Tensor) or g.shape != w.shape:
                return Verdict(False, ex, f"map {i} should keep shape {tuple(w.shape)}")
            if not torch.equal(g, w):
                what = "be all zeros" if w.shape[-1] == r else "be left as it was"
                return Verdict(False, ex, f"at resolution {r}, map {i} ({w.shape[-1]}²) should {what}")
        if any(not torch.equal(a, b) for a, b in zip(res.noise, originals)):
            _restore(res.noise, originals)
            return Verdict(False, ex, "your function changed the embedding's own noise maps in place (restored "
                           "now); build new ones, e.g. with torch.zeros_like")
    return Verdict(True, ex, "each resolution's maps are zeroed and the others kept, without touching the input")


def check_noise_that_matters(answer: Any, pipe: Any, res: Any, target: Any) -> Verdict:
    """Exercise 05.2b: which noise resolution, zeroed, costs the reconstruction of ``target`` the most PSNR?"""
    ex = "05 exercise 2b, the noise that matters"
    drops = noise_psnr_drops(pipe, res, target)
    best = max(drops, key=drops.get)
    table = ", ".join(f"{r}²: -{d:.1f} dB" for r, d in drops.items())
    try:
        answer = int(answer)
    except (TypeError, ValueError):
        return Verdict(False, ex, f"answer with a resolution (one of {sorted(drops)}), got {answer!r}")
    return verdict(answer == best, ex, f"zeroing {best}² costs the most ({table}): the embedding stored detail there",
                   f"{answer}² is not the one; measure it with your function (PSNR drops: {table})")


def noise_std_by_lr(pipe: Any, image: Any, lrs: Sequence[float] = (0.05, 5.0, 50.0), steps: int = 30,
                    seed: int = 0) -> dict[float, float]:
    """Std of the embedded noise maps after a noise-only stage at each learning rate (start: unit Gaussian)."""
    out = {}
    for lr in lrs:
        torch.manual_seed(seed)
        r = pipe.embed(image, steps_w=0, steps_noise=steps, lr_noise=lr, progress=False)
        out[lr] = float(torch.cat([n.flatten() for n in r.noise]).std())
    return out


def check_noise_lr(answer: Any, pipe: Any, image: Any) -> Verdict:
    """Exercise 05.3: which noise learning rate pushes the maps furthest from unit Gaussian noise (overfits)?"""
    ex = "05 exercise 3, noise learning rate"
    stds = noise_std_by_lr(pipe, image)
    worst = max(stds, key=lambda lr: abs(stds[lr] - 1.0))
    table = ", ".join(f"lr {lr:g}: std {s:.2f}" for lr, s in stds.items())
    try:
        answer = float(answer)
    except (TypeError, ValueError):
        return Verdict(False, ex, f"answer with a learning rate (one of {list(stds)}), got {answer!r}")
    return verdict(answer == worst, ex,
                   f"lr {worst:g} drives the noise furthest from N(0, 1) ({table}): the maps carry the image itself "
                   "(NVIDIA's StyleGAN2 projector adds a noise regulariser against exactly this)",
                   f"not lr {answer:g}; look at the maps' statistics ({table})")
