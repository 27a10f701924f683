"""synthkit.retrieval: the live BachGAN retrieval memory, checked against brute-force pooled IoU on dense masks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synthkit.models.bachgan import rasterize_boxes, valid_boxes
from synthkit.retrieval import (
    RetrievalIndex,
    _disjoint_rects,
    build_index,
    build_toyscapes_index,
    pooled_iou_bruteforce,
    resize_labels_nearest,
    retrieve_maps,
)

C = 6
THINGS = (3, 4, 5)


def _random_boxes(rng: np.random.Generator, H: int, W: int, n: int) -> list[tuple[int, int, int, int, int]]:
    """Boxes of the thing classes, some overlapping, some partly outside the image, some empty."""
    boxes = []
    for _ in range(n):
        x = np.sort(rng.integers(-6, W + 6, 2))
        y = np.sort(rng.integers(-6, H + 6, 2))
        boxes.append((int(rng.choice(THINGS)), int(x[0]), int(y[0]), int(x[1]), int(y[1])))
    return boxes


def _blocky_maps(rng: np.random.Generator, n: int, H: int, W: int) -> np.ndarray:
    """Label maps made of random rectangles, so masks have structure (pure noise would make every score alike)."""
    maps = rng.integers(0, 3, size=(n, 1, 1)).repeat(H, 1).repeat(W, 2).astype(np.uint8)
    for m in maps:
        for _ in range(4):
            x0, y0 = rng.integers(0, W - 1), rng.integers(0, H - 1)
            m[y0 : y0 + rng.integers(1, H), x0 : x0 + rng.integers(1, W)] = rng.integers(0, C)
    return maps


@pytest.mark.parametrize("image_size,grid", [((48, 48), (16, 16)), ((40, 64), (16, 24)), ((32, 32), (32, 32))])
def test_scores_equal_bruteforce_pooled_iou(image_size, grid):
    rng = np.random.default_rng(1)
    H, W = image_size
    index = build_index(_blocky_maps(rng, 120, H, W), None, num_classes=C, box_classes=THINGS, size=grid)
    for _ in range(60):
        boxes = _random_boxes(rng, H, W, int(rng.integers(0, 6)))
        layout = rasterize_boxes(boxes, C, H, W).numpy()
        dense = resize_labels_nearest(layout, grid)  # boxes rasterised at full size, then nearest-downsampled
        classes = [b[0] for b in valid_boxes(boxes, C, H, W)]
        ref = pooled_iou_bruteforce(index.labels, dense, classes)
        np.testing.assert_allclose(index.scores(boxes), ref, rtol=0, atol=1e-12)


def test_overlapping_boxes_of_one_class_are_counted_once():
    rects = [(0, 10, 0, 10), (5, 15, 5, 15), (2, 4, 2, 20)]
    mask = np.zeros((20, 20), bool)
    for y0, y1, x0, x1 in rects:
        mask[y0:y1, x0:x1] = True
    parts = _disjoint_rects(rects)
    cover = np.zeros((20, 20), int)
    for y0, y1, x0, x1 in parts:
        cover[y0:y1, x0:x1] += 1
    assert cover.max() == 1  # disjoint
    assert (cover.astype(bool) == mask).all()  # same union


def test_planted_exact_match_ranks_first_with_score_one():
    rng = np.random.default_rng(2)
    maps = _blocky_maps(rng, 50, 32, 32)
    maps[maps >= 3] = 0  # no thing class anywhere ...
    boxes = [(3, 2, 4, 12, 20), (5, 16, 16, 30, 30)]
    maps[37, 4:20, 2:12] = 3  # ... except in map 37, exactly under the boxes
    maps[37, 16:30, 16:30] = 5
    index = build_index(maps, None, num_classes=C, box_classes=THINGS, size=32)
    indices, scores = index.query(boxes, k=3)
    assert indices[0] == 37 and scores[0] == pytest.approx(1.0)
    assert scores[1] == 0.0  # nobody else has these classes
    # excluding the planted map (the query's own map when it comes from the training set)
    indices, _ = index.query(boxes, k=3, exclude=[37])
    assert 37 not in indices


def test_top_k_is_sorted_best_first_ties_by_index():
    rng = np.random.default_rng(3)
    maps = _blocky_maps(rng, 300, 32, 32)
    maps[::7] = maps[0]  # many exact ties
    index = build_index(maps, None, num_classes=C, box_classes=THINGS, size=16)
    for _ in range(20):
        boxes = _random_boxes(rng, 32, 32, 3)
        s = index.scores(boxes)
        expected = np.lexsort((np.arange(len(s)), -s))[:10]  # descending score, then ascending index
        indices, scores = index.query(boxes, k=10)
        np.testing.assert_array_equal(indices, expected)
        np.testing.assert_array_equal(scores, s[expected])
        assert np.all(np.diff(scores) <= 0)


def test_retrieved_maps_keep_background_and_paste_boxes():
    rng = np.random.default_rng(4)
    maps = _blocky_maps(rng, 30, 16, 16)
    index = build_index(maps, None, num_classes=C, box_classes=THINGS, size=16)
    boxes = [(3, 4, 4, 20, 20), (4, 10, 0, 32, 12)]
    layout = rasterize_boxes(boxes, C, 32, 32)  # the image is 32x32, the index maps 16x16 (upsampled 2x)
    out = retrieve_maps(index, [5, 9], layout)
    assert out.shape == (2, C, 32, 32)
    in_box = layout[list(THINGS)].amax(0) > 0
    for k, i in enumerate([5, 9]):
        up = np.kron(maps[i], np.ones((2, 2), np.uint8))  # nearest 2x upsampling
        onehot = torch.nn.functional.one_hot(torch.from_numpy(up.astype(np.int64)), C).permute(2, 0, 1).float()
        stuff = [c for c in range(C) if c not in THINGS]
        # outside the boxes: the candidate's stuff classes; its things are removed (only the query's objects)
        assert torch.equal(out[k][stuff][:, ~in_box], onehot[stuff][:, ~in_box])
        assert out[k][list(THINGS)][:, ~in_box].sum() == 0
        # inside the boxes: exactly the query's box channels (multi-hot where boxes overlap)
        assert out[k][stuff][:, in_box].sum() == 0
        assert torch.equal(out[k][list(THINGS)], layout[list(THINGS)])


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_load_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(5)
    index = build_index(_blocky_maps(rng, 40, 24, 24), tmp_path / f"idx{suffix}", num_classes=C, box_classes=THINGS,
                        size=12, meta={"source": "test"})
    loaded = RetrievalIndex.load(tmp_path / f"idx{suffix}")
    np.testing.assert_array_equal(loaded.labels, index.labels)
    np.testing.assert_array_equal(loaded.class_area, index.class_area)
    assert (loaded.num_classes, loaded.box_classes, loaded.image_size) == (C, THINGS, (24, 24))
    assert loaded.meta == {"source": "test"}
    boxes = _random_boxes(rng, 24, 24, 4)
    np.testing.assert_array_equal(loaded.scores(boxes), index.scores(boxes))


def test_clear_errors(tmp_path):
    maps = np.zeros((4, 16, 16), np.uint8)
    index = build_index(maps, None, num_classes=C, box_classes=(4,), size=8)
    with pytest.raises(ValueError, match="not a box class"):
        index.query([(3, 0, 0, 5, 5)])
    with pytest.raises(ValueError, match="k must be"):
        index.query([(4, 0, 0, 5, 5)], k=5)
    with pytest.raises(ValueError, match="outside 0..5"):
        build_index(np.full((2, 8, 8), 9, np.uint8), None, num_classes=C)
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        build_index(np.zeros((8, 8), np.uint8), None, num_classes=C)
    with pytest.raises(FileNotFoundError, match="build-index"):
        RetrievalIndex.load(tmp_path / "nope.safetensors")
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a synthkit retrieval index"):
        RetrievalIndex.load(tmp_path / "other.safetensors")


def test_query_without_boxes_returns_first_k_with_zero_scores():
    index = build_index(np.zeros((5, 8, 8), np.uint8), None, num_classes=C, box_classes=THINGS, size=8)
    indices, scores = index.query([], k=3)
    np.testing.assert_array_equal(indices, [0, 1, 2])
    assert (scores == 0).all()


def test_build_toyscapes_index(tmp_path):
    from synthkit.data.toyscapes import NUM_CLASSES, THING_IDS, ToyscapesDataset

    out = build_toyscapes_index(n=12, size=32, out=tmp_path / "toy.safetensors", seed=0, grid=16)
    index = RetrievalIndex.load(out)
    assert len(index) == 12 and index.num_classes == NUM_CLASSES and index.box_classes == tuple(sorted(THING_IDS))
    assert index.meta["split"] == "train"
    # the index holds the train split's maps: map i is the label map of ToyscapesDataset(...)[i] on the grid
    dataset = ToyscapesDataset(size=32, length=12, split="train", seed=0)
    with_boxes = [i for i in range(12) if dataset.sample(i).boxes]
    assert with_boxes, "Toyscapes scenes should have thing boxes"
    for i in with_boxes:
        sample = dataset.sample(i)
        np.testing.assert_array_equal(index.labels[i], resize_labels_nearest(sample.label, (16, 16)))
        assert index.scores(sample.boxes)[i] > 0  # its own objects lie under its own boxes


def test_retrieval_finds_scenes_of_the_same_kind():
    """Boxes say a lot about a Toyscapes scene (cars and buildings: city; trees: forest or winter): the retrieved
    training maps should share the query's scene type far more often than chance."""
    from synthkit.data.toyscapes import SCENES, ToyscapesDataset

    n = 400
    index = build_toyscapes_index(n=n, size=32, out=None, seed=0, grid=16)
    train = ToyscapesDataset(size=32, length=n, split="train", seed=0)
    train_scenes = np.array([train.sample(i).scene for i in range(n)])
    chance = sum((train_scenes == k).mean() ** 2 for k in range(len(SCENES)))  # P(two random scenes agree)
    val = ToyscapesDataset(size=32, length=60, split="val", seed=0)
    rates = []
    for i in range(len(val)):
        sample = val.sample(i)
        if sample.boxes:
            indices, _ = index.query(sample.boxes, k=3)
            rates.append((train_scenes[indices] == sample.scene).mean())
    assert len(rates) >= 20
    assert np.mean(rates) > 2 * chance, (np.mean(rates), chance)


def test_cli_build_index(tmp_path, capsys):
    from synthkit.cli import main

    out = tmp_path / "memory.safetensors"
    assert main(["bachgan", "build-index", "--n", "10", "--size", "32", "--out", str(out)]) == 0
    index = RetrievalIndex.load(out)
    assert len(index) == 10 and index.image_size == (32, 32) and index.grid == (32, 32)
    assert main(["bachgan", "build-index", "--n", "0", "--size", "32", "--out", str(out)]) == 2
    assert "n, size and grid must be positive" in capsys.readouterr().err
