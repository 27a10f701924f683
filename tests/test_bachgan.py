"""BachGAN model: box rasterisation, fusion, SPADE generator, discriminator and losses on the tiny_test preset."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthkit.models.bachgan import (
    BachGANConfig,
    BachGANGenerator,
    build_discriminator,
    d_loss,
    g_loss,
    PRESETS,
    rasterize_box_batch,
    rasterize_boxes,
)

TINY = BachGANConfig.from_preset("tiny_test")


# ---------------------------------------------------------------------------------------------------------------
# rasterisation
# ---------------------------------------------------------------------------------------------------------------
def test_overlapping_boxes_are_multi_hot_and_channel_0_is_no_box():
    L = rasterize_boxes([(3, 0, 0, 6, 4), (4, 4, 2, 8, 8), (3, 2, 2, 5, 6)], num_classes=6, height=8, width=10)
    assert L.shape == (6, 8, 10) and L.dtype == torch.float32
    assert L[3, 0, 0] == 1 and L[4, 0, 0] == 0
    assert L[3, 3, 4] == 1 and L[4, 3, 4] == 1  # covered by a class-3 and a class-4 box: both on
    assert L[:, 3, 4].sum() == 2
    covered = (L[1:].sum(0) > 0)
    assert torch.equal(L[0] == 1, ~covered)  # "no box" exactly where no box is
    assert L[3].sum() == 6 * 4 + 3 * 4 - 3 * 2  # union of the two class-3 boxes, overlap counted once
    assert set(L.unique().tolist()) <= {0.0, 1.0}


def test_boxes_are_clipped_and_empty_or_inverted_boxes_ignored():
    L = rasterize_boxes([(2, -5, -5, 3, 2), (2, 8, 6, 20, 20)], num_classes=4, height=8, width=10)
    assert L[2].sum() == 3 * 2 + 2 * 2  # [0,3)x[0,2) and [8,10)x[6,8)
    empty = [(2, 4, 4, 4, 6), (2, 5, 5, 3, 7), (3, 20, 0, 30, 5), (1, 2, 6, 5, 6)]  # zero-area, inverted, outside
    L = rasterize_boxes(empty, num_classes=4, height=8, width=10)
    assert L[1:].sum() == 0 and L[0].sum() == 80


def test_padding_rows_and_bad_classes():
    padded = torch.full((4, 5), -1.0)
    padded[0] = torch.tensor([2.0, 1, 1, 3, 3])
    batch = rasterize_box_batch(padded[None].expand(2, -1, -1), num_classes=4, height=8, width=8)
    assert batch.shape == (2, 4, 8, 8) and batch[:, 2].sum() == 2 * 4
    with pytest.raises(ValueError, match="no box"):
        rasterize_boxes([(0, 1, 1, 3, 3)], 4, 8, 8)
    with pytest.raises(ValueError, match="outside 1..3"):
        rasterize_boxes([(4, 1, 1, 3, 3)], 4, 8, 8)
    with pytest.raises(ValueError, match=r"\[N, 5\]"):
        rasterize_boxes([(1, 2, 3)], 4, 8, 8)
    with pytest.raises(ValueError, match="NaN"):
        rasterize_boxes([(1, 2, 3, float("nan"), 5)], 4, 8, 8)
    with pytest.raises(TypeError, match="must be numbers"):
        rasterize_boxes([("car", 2, 3, 4, 5)], 4, 8, 8)
    # numpy arrays and float tensors are accepted too
    as_array = rasterize_boxes(np.array([[2, 1, 1, 3, 3]]), 4, 8, 8)
    assert torch.equal(as_array, rasterize_boxes(torch.tensor([[2.0, 1, 1, 3, 3]]), 4, 8, 8))


def test_official_no_box_quirk():
    """The official loader scatters the whole map after each box: channel 0 = outside the *first* box."""
    boxes = [(3, 0, 0, 4, 4), (2, 4, 4, 8, 8)]
    L = rasterize_boxes(boxes, 4, 8, 8, no_box="official")
    assert L[0, 0, 0] == 0 and L[0, 5, 5] == 1  # inside box 2 but not box 1: still "no box" there
    assert torch.equal(L[1:], rasterize_boxes(boxes, 4, 8, 8)[1:])
    assert rasterize_boxes([], 4, 8, 8, no_box="official").sum() == 0  # no box at all: all zero
    assert rasterize_boxes([], 4, 8, 8)[0].sum() == 64


def _official_scatter_layout(boxes, num_classes, height, width):
    """The official loader's algorithm, as described in smis_bachgan.md: paint each box's class into one running
    label map, and after every box OR the one-hot of the *whole* map into the layout."""
    painted = torch.zeros(height, width, dtype=torch.long)
    layout = torch.zeros(num_classes, height, width)
    for c, x0, y0, x1, y1 in boxes:
        painted[y0:y1, x0:x1] = c
        layout = torch.maximum(layout, F.one_hot(painted, num_classes).permute(2, 0, 1).float())
    return layout


def test_official_mode_matches_the_scatter_algorithm_on_random_boxes():
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        n = int(torch.randint(0, 6, (1,), generator=g))
        boxes = []
        for _ in range(n):
            # non-empty boxes inside the image, like the instance boxes the official loader sees
            x0, y0 = int(torch.randint(0, 16, (1,), generator=g)), int(torch.randint(0, 12, (1,), generator=g))
            w, h = (int(v) for v in torch.randint(1, 10, (2,), generator=g))
            boxes.append((int(torch.randint(1, 5, (1,), generator=g)), x0, y0, min(x0 + w, 16), min(y0 + h, 12)))
        expected = _official_scatter_layout(boxes, 5, 12, 16)
        assert torch.equal(rasterize_boxes(boxes, 5, 12, 16, no_box="official"), expected)


# ---------------------------------------------------------------------------------------------------------------
# generator
# ---------------------------------------------------------------------------------------------------------------
def _inputs(cfg: BachGANConfig, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    boxes = [[(cfg.thing_classes[0], 2, 3, 20, 18), (cfg.thing_classes[-1], 10, 10, 30, 31)]] * batch
    L = rasterize_box_batch(boxes, cfg.num_classes, cfg.height, cfg.width)
    labels = torch.randint(0, cfg.num_classes, (batch, cfg.num_retrieved, cfg.height, cfg.width), generator=g)
    M = F.one_hot(labels, cfg.num_classes).permute(0, 1, 4, 2, 3).float()  # [B, K, C, H, W]
    return L, M


def test_fusion_follows_the_equations():
    torch.manual_seed(0)
    G = BachGANGenerator(TINY).eval()
    L, M = _inputs(TINY)
    fused = G.fuse(L, M)
    assert fused.shape == L.shape
    enc = G.fusion.encode_shared
    a0, ak = enc(L), [enc(M[:, k]) for k in range(TINY.num_retrieved)]
    m0 = a0 + sum(ak) / len(ak)  # m_0 = a_0 + mean_k a_k
    expected = G.fusion.memory_shared(m0) + a0  # S = m_1 + a_0
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-6)
    # the official [B, K*C, H, W] concatenation gives the same result
    torch.testing.assert_close(G.fuse(L, M.flatten(1, 2)), fused)


def test_forward_backward_tiny():
    torch.manual_seed(0)
    G = BachGANGenerator(TINY).train()
    L, M = _inputs(TINY)
    image, seg_logprob = G(L, M)
    assert image.shape == (2, 3, TINY.height, TINY.width) and image.abs().max() <= 1
    torch.testing.assert_close(seg_logprob.exp().sum(1), torch.ones(2, TINY.height, TINY.width))
    (image.mean() + seg_logprob.mean()).backward()
    no_grad = [n for n, p in G.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f"parameters without gradient: {no_grad}"


def test_retrieval_ablation_uses_only_the_box_layout():
    cfg = BachGANConfig.from_preset("tiny_test", use_retrieval=False)
    G = BachGANGenerator(cfg).eval()
    L, M = _inputs(cfg)
    image, _ = G(L)
    assert image.shape == (2, 3, cfg.height, cfg.width)
    with pytest.raises(ValueError, match="use_retrieval=False"):
        G.fuse(L, M)
    with pytest.raises(ValueError, match="pass retrieved"):
        BachGANGenerator(TINY).fuse(L)


def test_shape_errors_are_clear():
    G = BachGANGenerator(TINY)
    L, M = _inputs(TINY)
    with pytest.raises(ValueError, match="box_layout must be"):
        G.fuse(L[:, :3], M)
    with pytest.raises(ValueError, match="retrieved must be"):
        G.fuse(L, M[:, :2])


def test_folding_spectral_norm_keeps_outputs():
    torch.manual_seed(1)
    G = BachGANGenerator(TINY)
    L, M = _inputs(TINY)
    G(L, M)  # a train-mode pass: BN running statistics and u, v move away from their initial values
    G.eval()
    with torch.no_grad():
        before = G(L, M)[0]
        after = G.fold_spectral_norm()(L, M)[0]
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)


def test_save_and_load_pretrained(tmp_path):
    torch.manual_seed(2)
    G = BachGANGenerator(TINY).eval()
    G.save_pretrained(tmp_path / "g")
    G2 = BachGANGenerator.from_pretrained(tmp_path / "g")
    assert G2.config == TINY
    L, M = _inputs(TINY)
    with torch.no_grad():
        torch.testing.assert_close(G2(L, M)[0], G(L, M)[0])


# ---------------------------------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------------------------------
# Official generator sizes (smis_bachgan.md A2) include 5.23M parameters of unused FCN modules that we do not build.
UNUSED_FCN_PARAMS = (64 * 35 * 9 + 64) + (64 * 70 * 9 + 64) + (64 * 64 * 25 + 64) + (128 * 64 * 9 + 128) \
    + (128 * 128 * 25 + 128) + 128 * 35 * 32 * 32


@pytest.mark.parametrize("preset,official_millions", [("cityscapes", 98.3), ("ade20k", 102.2)])
def test_official_presets_have_official_sizes(preset, official_millions):
    with torch.device("meta"):
        G = BachGANGenerator(PRESETS[preset])
    n = sum(p.numel() for p in G.parameters())
    assert abs((n + UNUSED_FCN_PARAMS) / 1e6 - official_millions) < 0.05
    assert G.config.start_size == {"cityscapes": (4, 8), "ade20k": (8, 8)}[preset]


def test_toyscapes_preset_fits_the_size_budget():
    cfg = BachGANConfig.from_preset("toyscapes")
    from synthkit.data.toyscapes import NUM_CLASSES, THING_IDS

    assert cfg.num_classes == NUM_CLASSES and set(cfg.thing_classes) == set(THING_IDS)
    G = BachGANGenerator(cfg)
    nbytes = sum(t.numel() * 4 for t in list(G.parameters()) + list(G.buffers()))
    assert nbytes <= 10e6, f"toyscapes generator is {nbytes / 1e6:.1f} MB in fp32, budget 10 MB"


def test_config_errors():
    with pytest.raises(ValueError, match="unknown BachGAN preset"):
        BachGANConfig.from_preset("coco")
    with pytest.raises(ValueError, match="unknown BachGANConfig field"):
        BachGANConfig.from_preset("tiny_test", ngf=4)
    with pytest.raises(ValueError, match="divisible"):
        BachGANConfig(height=100)
    with pytest.raises(ValueError, match="thing_classes"):
        BachGANConfig(num_classes=10, thing_classes=(0, 3))


# ---------------------------------------------------------------------------------------------------------------
# discriminator and losses
# ---------------------------------------------------------------------------------------------------------------
def test_discriminator_and_losses_backprop():
    torch.manual_seed(3)
    G, D = BachGANGenerator(TINY), build_discriminator(TINY)
    L, M = _inputs(TINY)
    x_real = torch.rand(2, 3, TINY.height, TINY.width) * 2 - 1
    label = torch.randint(0, TINY.num_classes, (2, TINY.height, TINY.width))
    x_fake, seg_logprob = G(L, M)

    loss_d = d_loss(D, L, x_fake, x_real)
    loss_d.backward()
    assert torch.isfinite(loss_d) and loss_d > 0
    assert all(p.grad is not None for p in D.parameters())
    assert all(p.grad is None for p in G.parameters())  # the fake is detached for the D step

    D.zero_grad()
    total, terms = g_loss(TINY, D, L, x_fake, x_real, seg_logprob, label)
    assert set(terms) == {"g_gan", "g_feat", "g_seg"}
    # logs stay detached tensors on the model's device (no host round trip inside a training step)
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad and v.device == x_fake.device for v in terms.values())
    assert total.item() == pytest.approx(float(sum(terms.values())), rel=1e-5)
    # the NLL term is the auxiliary conv_seg head against the real label map
    assert float(terms["g_seg"]) == pytest.approx(TINY.lambda_seg * F.nll_loss(seg_logprob, label).item(), rel=1e-5)
    total.backward()
    assert G.conv_seg.weight.grad is not None and G.fusion.encode_shared[0].weight.grad is not None


# ---------------------------------------------------------------------------------------------------------------
# training task
# ---------------------------------------------------------------------------------------------------------------
def test_make_task_dataset_and_steps_on_toyscapes():
    from synthkit.data.toyscapes import ToyscapesDataset
    from synthkit.models.bachgan import make_task
    from synthkit.train import GANTask

    torch.manual_seed(4)
    task = make_task("tiny_test", {"dataset_length": 12})
    assert isinstance(task, GANTask)
    ds = task.make_dataset("train")
    item = ds[3]
    cfg = task.config
    assert item["box_layout"].shape == (cfg.num_classes, cfg.height, cfg.width)
    assert item["retrieved"].shape == (cfg.num_retrieved, cfg.num_classes, cfg.height, cfg.width)
    scene = ToyscapesDataset(size=cfg.height, length=12, split="train", seed=cfg.seed)[3]
    assert torch.equal(item["box_layout"], rasterize_boxes(scene["boxes"], cfg.num_classes, cfg.height, cfg.width))
    # every retrieved map carries the query's boxes and is one-hot (or empty) elsewhere
    things = list(cfg.thing_classes)
    assert torch.equal(item["retrieved"][:, things], item["box_layout"][things].expand(cfg.num_retrieved, -1, -1, -1))
    assert item["retrieved"].sum(1).max() <= max(1.0, item["box_layout"][things].sum(0).max())
    batch = torch.utils.data.default_collate([ds[i] for i in range(2)])
    out_d = task.d_step(batch)
    out_d["loss"].backward()
    out_g = task.g_step(batch)
    out_g["loss"].backward()
    assert torch.isfinite(out_d["loss"]) and torch.isfinite(out_g["loss"])
    assert task.sample(task.G, batch).shape == (2, 3, cfg.height, cfg.width)


def test_make_task_without_retrieval():
    from synthkit.models.bachgan import make_task

    task = make_task("tiny_test", {"dataset_length": 4, "use_retrieval": False})
    batch = torch.utils.data.default_collate([task.make_dataset()[i] for i in range(2)])
    assert "retrieved" not in batch
    task.g_step(batch)["loss"].backward()
