"""synthkit.data.folders on small folders written in the official layouts, and train(dataset=...)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from synthkit.data.folders import FolderDataset, ade20k_boxes, cityscapes_boxes, pairs_from_folder
from synthkit.data.toyscapes import render


def _deepfashion_folder(root, n=3, size=32):
    (root / "train").mkdir(parents=True)
    (root / "cihp_train_mask").mkdir(parents=True)
    for i in range(n):
        s = render(seed=0, index=i, size=size)
        Image.fromarray(s.image).save(root / "train" / f"{i:05d}.jpg", quality=95)
        Image.fromarray(s.label).save(root / "cihp_train_mask" / f"{i:05d}.png")
    return root


def test_deepfashion_layout_gives_the_task_batches(tmp_path):
    root = _deepfashion_folder(tmp_path / "df")
    pairs = pairs_from_folder(root, "deepfashion", "train")
    assert [p.name for p, _ in pairs] == ["00000.jpg", "00001.jpg", "00002.jpg"]
    data = FolderDataset(pairs, size=(16, 16), num_classes=12)
    item = data[1]
    assert item["image"].shape == (3, 16, 16) and -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["seg"].shape == (12, 16, 16) and torch.equal(item["seg"].argmax(0), item["label"])
    expected = np.asarray(Image.fromarray(render(seed=0, index=1, size=32).label).resize((16, 16), Image.NEAREST))
    np.testing.assert_array_equal(item["label"].numpy(), expected)


def test_folder_errors_say_what_is_wrong(tmp_path):
    root = _deepfashion_folder(tmp_path / "df")
    with pytest.raises(ValueError, match="unknown layout 'coco'; valid: deepfashion, cityscapes, ade20k"):
        pairs_from_folder(root, "coco", "train")
    with pytest.raises(FileNotFoundError, match="is .* a cityscapes folder"):
        pairs_from_folder(root, "cityscapes", "train")
    (root / "cihp_train_mask" / "00002.png").unlink()
    with pytest.raises(FileNotFoundError, match="1 label maps missing"):
        pairs_from_folder(root, "deepfashion", "train")
    pairs = pairs_from_folder(_deepfashion_folder(tmp_path / "df2"), "deepfashion", "train")
    with pytest.raises(ValueError, match="label id .* >= num_classes=4"):
        FolderDataset(pairs, size=(16, 16), num_classes=4)[0]


def test_train_on_a_folder_dataset_without_touching_the_task(tmp_path):
    from synthkit.train import resolve_task, train

    pairs = pairs_from_folder(_deepfashion_folder(tmp_path / "df", n=4), "deepfashion", "train")
    data = FolderDataset(pairs, size=(32, 32), num_classes=12)
    task, cfg = resolve_task("smis", "tiny_test", {"perceptual_backbone": "none"})

    def refuse(split="train"):
        raise AssertionError("train(dataset=...) must not build the task's own dataset")

    task.make_dataset = refuse
    cfg = dataclasses.replace(cfg, steps=2, log_every=1, sample_every=2, ckpt_every=2, n_samples=2,
                              out_dir=str(tmp_path / "run"), progress=False)
    history = train(task, cfg, dataset=lambda: data)  # a factory works too
    assert history and (tmp_path / "run" / "model" / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="non-empty map-style dataset"):
        train(task, dataclasses.replace(cfg, out_dir=str(tmp_path / "run2")), dataset=[])


def test_cityscapes_boxes_keep_the_official_crowd_quirk():
    ids = np.full((8, 16), 7)  # road
    ids[4:7, 1:5], ids[3:7, 9:14], ids[1:7, 6:8], ids[6:8, 14:16] = 26000, 26001, 24000, 33  # 2 cars, a person, crowd
    # sorted by pixel value: the crowd region (bare 33) comes before the instances (24000, 26000, 26001)
    assert cityscapes_boxes(ids) == [(33, 14, 6, 16, 8), (24, 6, 1, 8, 7), (26, 1, 4, 5, 7), (26, 9, 3, 14, 7)]
    assert cityscapes_boxes(ids, crowd=False) == [(24, 6, 1, 8, 7), (26, 1, 4, 5, 7), (26, 9, 3, 14, 7)]


def test_ade20k_boxes_one_per_region_and_the_official_size_test():
    label = np.zeros((32, 32), int)
    label[20:30, 2:12], label[22:28, 20:31], label[5:7, 5:7] = 7, 7, 7  # two beds and a speck
    assert ade20k_boxes(label, object_classes={7}) == [(7, 2, 20, 12, 30), (7, 20, 22, 31, 28)]
    assert ade20k_boxes(label, object_classes={3}) == []
