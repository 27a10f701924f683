"""Every pipeline runs where its model is (issue 15 item 5), checked on a CPU-only machine with the meta device.

A model moved to ``meta`` has no data; any input or constant the pipeline builds on the CPU and forgets to move
meets a meta weight in the first op and raises "... is on device cpu ... meta" / "Expected all tensors to be on the
same device". A pipeline that keeps everything on the model's device runs to the end and only fails where a result
is copied out to numpy (meta tensors have no values), which is what these tests accept.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synthkit.devices import module_device, resolve_device

MISMATCH = ("device", "Expected all tensors")


def _runs_on_meta(fn, copy_out=("to_uint8",)) -> str:
    """Run ``fn``; return how it ended: "done", or "copy-out" (stopped where a meta result became numpy, inside
    one of the functions named in ``copy_out``: the result's conversion, after all the model's work). A device
    mismatch fails the test with the op's message; stopping anywhere else re-raises (the check would be blind)."""
    import traceback

    try:
        fn()
    except (NotImplementedError, RuntimeError) as exc:
        text = str(exc)
        if any(m in text for m in MISMATCH) and "meta" in text:
            pytest.fail(f"a tensor was left on another device than the model: {text[:300]}")
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/synthkit/" in f.filename.replace("\\", "/")]
        if "meta" in text and frames and frames[-1].name in copy_out:
            return "copy-out"
        raise
    return "done"


def test_module_device_and_auto():
    lin = torch.nn.Linear(2, 2)
    assert module_device(lin) == torch.device("cpu") and module_device(torch.nn.Identity()).type == "cpu"
    assert module_device(lin.to("meta")).type == "meta"
    expected = "cuda" if torch.cuda.is_available() else None
    assert resolve_device("auto").type == (expected or resolve_device("auto").type)
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("gpu0")


def test_loaders_default_to_auto():
    import inspect

    from synthkit import backbones, hub
    from synthkit.pipelines import bachgan, controllable3d, image2stylegan, pyramid, smis

    # bare modules (synthkit.load, like from_pretrained; load_backbone) stay on the CPU unless told: the caller's
    # tensors are on the CPU. Pipelines take and return numpy and move their inputs, so they go where the GPU is.
    for fn in (hub.load, backbones.load_backbone):
        assert inspect.signature(fn).parameters["device"].default == "cpu", fn.__qualname__
    for fn in ( smis.load_smis, pyramid.load_pyramid, bachgan.load_bachgan,
               controllable3d.load_controllable3d, image2stylegan.load_image2stylegan):
        assert inspect.signature(fn).parameters["device"].default == "auto", fn.__qualname__


def test_pyramid_pipeline_keeps_inputs_on_the_model_device():
    from synthkit.pipelines.pyramid import load_pyramid

    pipe = load_pyramid(device="cpu")
    S = pipe.image_size
    image = np.random.default_rng(0).integers(0, 255, (S, S, 3), dtype=np.uint8)
    mask = np.zeros((S, S), bool)
    mask[S // 4 : S // 2, S // 4 : S // 2] = True
    pipe.to("meta")
    assert pipe.device.type == "meta" and module_device(pipe.backbone).type == "meta"
    for call in (lambda: pipe.inpaint(image, mask, seed=1), lambda: pipe.composite(image, image[::-1], mask, 0),
                 lambda: pipe.generate_from_level(image, pipe.levels[-1])):
        assert _runs_on_meta(call) in ("done", "copy-out")


def test_bachgan_pipeline_keeps_inputs_on_the_model_device():
    from synthkit.pipelines.bachgan import load_bachgan

    pipe = load_bachgan(device="cpu")
    boxes = [("car", 4, 40, 20, 52), ("tree", 30, 10, 40, 50)]
    pipe.to("meta")
    assert pipe.device.type == "meta"
    assert _runs_on_meta(lambda: pipe.layout_to_image(boxes, seed=2)) in ("done", "copy-out")


def test_smis_pipeline_keeps_inputs_on_the_model_device():
    from synthkit.data import toyscapes
    from synthkit.pipelines.smis import load_smis

    pipe = load_smis(device="cpu")
    label = toyscapes.render(3, 0, size=pipe.image_size[0]).label
    pipe.model.to("meta")
    assert pipe.device.type == "meta"
    assert _runs_on_meta(lambda: pipe.sample(label, seed=0)) in ("done", "copy-out")


def test_controllable3d_pipeline_keeps_inputs_on_the_model_device():
    from synthkit.pipelines.controllable3d import load_controllable3d

    pipe = load_controllable3d(device="cpu")
    for module in vars(pipe).values():
        if isinstance(module, torch.nn.Module):
            module.to("meta")
    assert _runs_on_meta(lambda: pipe.sample(seed=0, azimuth=30.0, elevation=20.0).render()) in ("done", "copy-out")


def test_image2stylegan_pipeline_keeps_inputs_on_the_model_device():
    """The embedding loop (W+ then noise, masked MSE + perceptual + style) with G and the backbone on ``meta``:
    the image, masks, mean w, noise and the style target must follow the model, and no step may read a loss on
    the host (the log is read at callbacks and at the end)."""
    from synthkit.pipelines.image2stylegan import load_image2stylegan

    pipe = load_image2stylegan(device="cpu")
    S = pipe.image_size
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 255, (S, S, 3), dtype=np.uint8) for _ in range(2))
    mask = np.zeros((S, S), bool)
    mask[S // 4 : S // 2, S // 4 : S // 2] = True
    pipe.G.to("meta")
    pipe.backbone.to("meta")
    pipe._w_mean = None
    assert pipe.G.const.device.type == "meta" and module_device(pipe.backbone).type == "meta"
    short = dict(steps_w=2, steps_noise=2)
    for call in (lambda: pipe.reconstruct(a, **short), lambda: pipe.crossover(a, b, mask, **short),
                 lambda: pipe.local_style_transfer(a, b, mask, **short),
                 lambda: pipe.embed(a, schedule="joint", w_rows=[0, 1], **short)):
        assert _runs_on_meta(call) == "copy-out"


def test_metric_features_follow_the_backbone_device():
    """FID/KID features: CPU images are sent, batch by batch, to wherever the backbone is."""
    from synthkit.backbones import load_backbone
    from synthkit.metrics.fid import extract_features

    backbone = load_backbone("toyscapes").to("meta")
    images = torch.zeros(3, 3, 32, 32)
    assert _runs_on_meta(lambda: extract_features(images, backbone, batch_size=2),
                         copy_out=("extract_features",)) == "copy-out"
