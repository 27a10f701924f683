"""SMIS pipeline behaviour on a tiny GroupDNet (random weights, saved and loaded through a real folder), and the
mCSD / mOCD metric on constructed generators whose locality is known.

Locality of a *trained* model (morph of class c leaves the rest nearly unchanged) is tested on the bundled model in
tests/test_smis_quality.py: with random weights the CG-Norm does not yet gate codes by the masks, so nothing
local is expected here.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from synthkit.backbones import ToyscapesBackbone
from synthkit.data.palette import labels_to_color
from synthkit.data.toyscapes import CLASSES, render
from synthkit.metrics.diversity import all_pairs, mcsd_mocd, pairwise_region_distances
from synthkit.metrics.lpips import LPIPS
from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig
from synthkit.pipelines.smis import SMISPipeline, load_smis, sample_images

SIZE = 32


@pytest.fixture(scope="module")
def pipe(tmp_path_factory) -> SMISPipeline:
    torch.manual_seed(0)
    model = GroupDNet(GroupDNetConfig.from_preset("tiny_test")).eval()
    # give the eval-mode batch norms non-trivial statistics, as a trained model has
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    folder = tmp_path_factory.mktemp("smis_tiny")
    model.save_pretrained(folder)
    return load_smis(folder)


@pytest.fixture(scope="module")
def scene():
    """A real Toyscapes scene at the tiny model's size, with at least two classes."""
    for i in range(20):
        s = render(seed=5, index=i, size=SIZE)
        if len(np.unique(s.label)) >= 3:
            return s
    raise AssertionError("no Toyscapes scene with 3 classes in 20 renders")


def _present(label) -> list[int]:
    return [int(c) for c in np.unique(label)]


# ---- sampling, resampling, mixing -------------------------------------------------------------------------------
def test_sample_shapes_and_seed_determinism(pipe, scene):
    a, b, c = pipe.sample(scene.label, seed=3), pipe.sample(scene.label, seed=3), pipe.sample(scene.label, seed=4)
    assert a.image.shape == (SIZE, SIZE, 3) and a.image.dtype == np.uint8
    assert tuple(a.z.shape) == (1, 12, 8, 4, 4)
    assert np.array_equal(a.image, b.image) and torch.equal(a.z, b.z)
    assert not torch.equal(a.z, c.z) and not np.array_equal(a.image, c.image)
    assert a.notes == [] and np.array_equal(a.label, scene.label)


def test_resample_class_changes_only_that_code(pipe, scene):
    base = pipe.sample(scene.label, seed=0)
    c = _present(scene.label)[-1]
    r1 = pipe.resample_class(scene.label, base.z, CLASSES[c], seed=7)
    r2 = pipe.resample_class(scene.label, base.z, c, seed=7)
    assert torch.equal(r1.z, r2.z) and np.array_equal(r1.image, r2.image)  # name or id, same seed -> same result
    changed = (r1.z != base.z).flatten(2).any(-1)[0]  # [C]: which classes' codes differ
    assert changed.tolist() == [k == c for k in range(12)]
    r3 = pipe.resample_class(scene.label, base.z, c, seed=8)
    assert not torch.equal(r3.z, r1.z)


def test_mix_appearance_takes_each_class_from_its_source(pipe, scene):
    za, zb = pipe.sample(scene.label, seed=1).z, pipe.sample(scene.label, seed=2).z
    c1, c2 = _present(scene.label)[:2]
    mixed = pipe.mix_appearance(scene.label, [za, zb], {c1: 1})
    assert torch.equal(mixed.z[:, c1], zb[:, c1])
    others = [k for k in range(12) if k != c1]
    assert torch.equal(mixed.z[:, others], za[:, others])
    # base=1, class c2 from source 0
    mixed2 = pipe.mix_appearance(scene.label, [za, zb], {c2: 0}, base=1)
    assert torch.equal(mixed2.z[:, c2], za[:, c2]) and torch.equal(mixed2.z[:, c1], zb[:, c1])
    with pytest.raises(ValueError, match="source index"):
        pipe.mix_appearance(scene.label, [za, zb], {c1: 2})
    with pytest.raises(ValueError, match="base"):
        pipe.mix_appearance(scene.label, [za, zb], {c1: 0}, base=5)


# ---- morphing ---------------------------------------------------------------------------------------------------
def test_morph_endpoints_equal_the_endpoint_codes_images(pipe, scene):
    za, zb = pipe.sample(scene.label, seed=1).z, pipe.sample(scene.label, seed=2).z
    c = _present(scene.label)[0]
    at0 = pipe.morph(scene.label, za, zb, 0.0, cls=c)
    at1 = pipe.morph(scene.label, za, zb, 1.0, cls=c)
    assert torch.equal(at0.z, za)
    assert np.array_equal(at0.image, pipe.manipulate(scene.label, za).image)
    swapped = pipe.mix_appearance(scene.label, [za, zb], {c: 1})  # class c's code from b, the rest from a
    assert torch.equal(at1.z, swapped.z) and np.array_equal(at1.image, swapped.image)
    every = pipe.morph(scene.label, za, zb, 1.0)  # all classes
    assert torch.equal(every.z, zb)
    mid = pipe.morph(scene.label, za, zb, 0.25, cls=c)
    torch.testing.assert_close(mid.z[:, c], 0.75 * za[:, c] + 0.25 * zb[:, c])


def test_morpher_equals_uncached_pipeline(pipe, scene):
    za, zb = pipe.sample(scene.label, seed=1).z, pipe.sample(scene.label, seed=2).z
    c = _present(scene.label)[0]
    morpher = pipe.morpher(scene.label, za, zb, cls=[c])
    seg = pipe.seg_from_label(scene.label)
    for t in (0.0, 0.3, 0.7, 1.0):
        cached = morpher.tensor(t)
        uncached = pipe.generate(morpher.latent(t), seg)  # every CG-Norm branch recomputed from seg
        assert float((cached - uncached).abs().max()) <= 1e-5
        assert np.array_equal(morpher(t), pipe.morph(scene.label, za, zb, t, cls=c).image)


def test_morph_rejects_bad_t_and_latents(pipe, scene):
    za = pipe.sample(scene.label, seed=1).z
    with pytest.raises(ValueError, match=r"t must be a number in \[0, 1\]"):
        pipe.morph(scene.label, za, za, 1.5)
    with pytest.raises(ValueError, match="expected a latent"):
        pipe.morph(scene.label, za, za[:, :, :, :2], 0.5)
    with pytest.raises(TypeError, match="torch tensor"):
        pipe.morph(scene.label, za, za.numpy(), 0.5)


# ---- encoding and manipulation ----------------------------------------------------------------------------------
def test_encode_real_image_mean_and_posterior_sample(pipe, scene):
    e1 = pipe.encode(scene.image, scene.label)
    e2 = pipe.encode(Image.fromarray(scene.image), scene.label)  # PIL in, same numbers
    assert tuple(e1.z.shape) == (1, 12, 8, 4, 4) and torch.equal(e1.z, e2.z)
    assert e1.image.shape == (SIZE, SIZE, 3)
    s1 = pipe.encode(scene.image, scene.label, sample=True, seed=0)
    s2 = pipe.encode(scene.image, scene.label, sample=True, seed=0)
    assert torch.equal(s1.z, s2.z) and not torch.equal(s1.z, e1.z)
    # the encoder reads each class's crop only: changing the pixels of class c changes only z_c
    c = _present(scene.label)[0]
    edited = scene.image.copy()
    edited[scene.label == c] = 255 - edited[scene.label == c]
    e3 = pipe.encode(edited, scene.label)
    changed = (e3.z != e1.z).flatten(2).any(-1)[0]
    assert changed.tolist() == [k == c for k in range(12)]


def test_encode_converts_rgba_and_grayscale_with_notes(pipe, scene):
    rgba = np.dstack([scene.image, np.full(scene.label.shape, 255, np.uint8)])
    r = pipe.encode(rgba, scene.label)
    assert any("RGBA" in n for n in r.notes)
    assert torch.equal(r.z, pipe.encode(scene.image, scene.label).z)  # opaque alpha: same pixels
    grey = scene.image.mean(-1).astype(np.uint8)
    g = pipe.encode(grey, scene.label)
    assert any("grayscale" in n for n in g.notes)
    big = np.asarray(Image.fromarray(scene.image).resize((2 * SIZE, 2 * SIZE)))
    assert any("resized (bilinear)" in n for n in pipe.encode(big, scene.label).notes)
    with pytest.raises(TypeError, match="uint8"):
        pipe.encode(scene.image.astype(np.float32) / 255, scene.label)


def test_manipulate_edits_the_map_and_keeps_the_codes(pipe, scene):
    z = pipe.sample(scene.label, seed=0).z
    res = pipe.manipulate(scene.label, z, edits=[((0, 0, 8, 8), "car")])
    assert (res.label[:8, :8] == CLASSES.index("car")).all()
    assert np.array_equal(res.label[8:], scene.label[8:]) and torch.equal(res.z, z)
    same = pipe.manipulate(res.label, z)
    assert np.array_equal(same.image, res.image)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[-4:] = True
    res2 = pipe.manipulate(scene.label, z, edits=[(mask, "road")])
    assert (res2.label[-4:] == CLASSES.index("road")).all()
    with pytest.raises(ValueError, match="box"):
        pipe.manipulate(scene.label, z, edits=[((5, 5, 5, 9), "car")])


# ---- label-map inputs -------------------------------------------------------------------------------------------
def test_colour_label_map_with_off_palette_pixels_gets_a_note(pipe, scene):
    colour = labels_to_color(scene.label, "toyscapes")
    assert pipe.sample(colour, seed=0).notes == []
    noisy = colour.astype(np.int16)
    noisy[::5, ::5] += 6  # small drift: still nearest to the right class
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    res = pipe.sample(noisy, seed=0)
    assert any("nearest class" in n for n in res.notes)
    assert np.array_equal(res.label, scene.label)
    assert np.array_equal(res.image, pipe.sample(scene.label, seed=0).image)


def test_label_map_of_another_size_is_resized_with_a_note(pipe, scene):
    big = np.repeat(np.repeat(scene.label, 2, 0), 2, 1)  # 64x64, each pixel doubled
    res = pipe.sample(Image.fromarray(big), seed=0)
    assert any("resized (nearest) from 64x64 to 32x32" in n for n in res.notes)
    assert np.array_equal(res.label, scene.label)


def test_absent_and_unknown_classes_raise_clear_errors(pipe, scene):
    z = pipe.sample(scene.label, seed=0).z
    absent = next(k for k in range(12) if k not in _present(scene.label))
    with pytest.raises(ValueError, match=f"{CLASSES[absent]!r} .* is not in this label map"):
        pipe.resample_class(scene.label, z, absent)
    with pytest.raises(ValueError, match="not in this label map"):
        pipe.morph(scene.label, z, z, 0.5, cls=CLASSES[absent])
    with pytest.raises(ValueError, match="unknown class 'unicorn'"):
        pipe.resample_class(scene.label, z, "unicorn")
    with pytest.raises(ValueError, match="out of range"):
        pipe.resample_class(scene.label, z, 12)


def test_sample_images_for_the_cli(pipe):
    images = sample_images(pipe.model, n=2, seed=0)
    assert len(images) == 2 and all(im.shape == (SIZE, SIZE, 3) and im.dtype == np.uint8 for im in images)
    assert not np.array_equal(images[0], images[1])


# ---- mCSD / mOCD on constructed generators ---------------------------------------------------------------------
C, LAT = 4, (4, 8, 2, 2)


def _colour_of(z: torch.Tensor) -> torch.Tensor:
    """[B, C, 8, h, w] -> an RGB colour per class in [-1, 1]: [B, C, 3]."""
    return torch.tanh(z[:, :, :3].mean(dim=(-1, -2)))


def _local_generator(z, seg):
    """Class c's code paints class c's pixels only: perfect per-class locality."""
    return torch.einsum("bck,bchw->bkhw", _colour_of(z), seg)


def _leaky_generator(z, seg):
    """Like the local one, plus a global brightness shift driven by every class's code."""
    return (_local_generator(z, seg) + 0.5 * torch.tanh(z.mean(dim=(1, 2, 3, 4)))[:, None, None, None]).clamp(-1, 1)


@pytest.fixture(scope="module")
def lpips_offline() -> LPIPS:
    torch.manual_seed(0)  # a random-init trunk: these properties hold for any feature network
    backbone = ToyscapesBackbone(**{"widths": (4, 8, 8, 8, 8), "fc_dim": 16, "seg_channels": 8}).freeze()
    return LPIPS("offline", backbone=backbone)


def _maps():
    a = np.zeros((32, 32), np.int64)
    a[16:] = 1
    a[4:12, 4:12] = 2
    b = np.full((32, 32), 3, np.int64)
    b[:, :10] = 0
    return [a, b]


def test_all_pairs():
    assert all_pairs(4) == ([0, 0, 0, 1, 1, 2], [1, 2, 3, 2, 3, 3])
    with pytest.raises(ValueError):
        all_pairs(1)


def test_identical_images_have_zero_region_distances(lpips_offline):
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[:10] = True
    inside, outside = pairwise_region_distances(x.expand(3, -1, -1, -1), mask, lpips_offline)
    assert inside.shape == (3,) and float(inside.abs().max()) == 0.0 and float(outside.abs().max()) == 0.0


def test_mocd_is_zero_for_a_perfectly_local_generator(lpips_offline):
    res = mcsd_mocd(_local_generator, _maps(), num_classes=C, latent_shape=LAT, lpips=lpips_offline,
                    num_samples=3, seed=0)
    assert res["mocd"].value == 0.0 and res["mcsd"].value > 0
    assert res["ratio"].value == 0.0
    assert res["mcsd"].extra["samples_per_class"] == 3 and res["mcsd"].extra["mask_mode"] == "mask-image"
    assert res["mcsd"].backend.startswith("lpips-like") and not res["mcsd"].comparable_to_paper
    assert set(res["mcsd"].extra["per_class"]) == {"0", "1", "2", "3"}
    # area normalisation: class 3 covers 22 of 32 columns of the second map only
    share = 22 / 32
    assert res["mcsd"].extra["per_class"]["3"] == pytest.approx(res["mcsd"].extra["raw_per_class"]["3"] / share)
    raw = mcsd_mocd(_local_generator, _maps(), num_classes=C, latent_shape=LAT, lpips=lpips_offline,
                    num_samples=3, seed=0, area_normalized=False)
    assert raw["mcsd"].extra["per_class"] == res["mcsd"].extra["raw_per_class"]


def test_leaky_generator_has_a_larger_ocd_ratio(lpips_offline):
    kw = dict(num_classes=C, latent_shape=LAT, lpips=lpips_offline, num_samples=3, seed=0)
    local, leaky = mcsd_mocd(_local_generator, _maps(), **kw), mcsd_mocd(_leaky_generator, _maps(), **kw)
    assert leaky["mocd"].value > 0 and leaky["ratio"].value > local["ratio"].value
    # spatial-map masking lets a change leak through the receptive field: an upper bound on mOCD
    spatial = mcsd_mocd(_local_generator, _maps(), mode="spatial-map", **kw)
    assert spatial["mocd"].value > 0 and spatial["mcsd"].value > spatial["mocd"].value


def test_mcsd_mocd_errors():
    with pytest.raises(ValueError, match="num_classes and latent_shape"):
        mcsd_mocd(_local_generator, _maps())
    with pytest.raises(ValueError, match="num_samples"):
        mcsd_mocd(_local_generator, _maps(), num_classes=C, latent_shape=LAT, num_samples=1)
