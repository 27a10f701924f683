"""BachGAN inference: an image from a few labelled boxes, with retrieved backgrounds (Li et al., CVPR 2020).

The only API notebooks, demos and the CLI call for ``synthkit.models.bachgan``::

    from synthkit.pipelines.bachgan import load_bachgan, layout_to_image
    pipe = load_bachgan()                                    # bundled "bachgan-toyscapes" + its retrieval index
    res = pipe.layout_to_image([("car", 8, 40, 24, 52), ("tree", 40, 20, 56, 50)], seed=0)
    res.image            # uint8 [H, W, 3], the generated image
    res.retrieved        # uint8 [K, H, W], the K retrieved maps as the generator sees them (boxes pasted in,
                         #   255 = no class: a retrieved object of a box class, removed as the official code does)
    res.backgrounds      # uint8 [K, H, W], the same maps before the boxes were pasted (what retrieval found)
    res.fused            # float32 [C, H, W], the fused layout S that drives every SPADE layer
    res.notes            # what was done to the input (clipped boxes, ignored boxes, ...)

``layout_to_image(boxes, seed)`` also exists at module level (bundled pipeline when ``pipeline`` is None).

Boxes are ``(class, x0, y0, x1, y1)`` rows: ``class`` a box-class name (``"car"``) or id, coordinates in pixels
of the model's image (x1 / y1 exclusive), or of a canvas of another size given as ``canvas_size=(H, W)`` (e.g. the
256x256 drawing canvas of the demo; they are rescaled to the model's grid).

What each step does (paper section 3; the symbols of ``synthkit.models.bachgan``)::

    boxes --rasterize--> L [C, H, W]                     multi-hot box layout, channel 0 = "no box"
    boxes --retrieval--> top-2K memory maps by pooled IoU, K of them kept (seed 0: the best K, as the official code)
          --retrieve_maps--> M_1..M_K [K, C, H, W]       background of each map, query boxes pasted in
    (L, M) --fusion--> S [C, H, W]                       S = ReLU(conv(a_0 + mean_k a_k)) + a_0
    S --SPADE generator--> image [3, H, W]

The generator has no latent (the official BachGAN runs SPADE with ``use_vae=False``), so ``seed`` chooses which
K of the top 2K retrieved layouts are fused: ``seed=0`` takes the best K (the official choice), other seeds draw K
of the top 2K at random. Different seeds therefore give different backgrounds for the same boxes.

Bad input, and what happens (also in the result's ``notes``):

- no box: a background-only image, from K memory maps drawn at random by ``seed`` (a note says so);
- a box partly outside the canvas: clipped to it; a box entirely outside, of zero area, or inverted (x1 <= x0 or
  y1 <= y0): ignored with a note;
- more boxes than the pipeline takes (``max_boxes``: 16 for Toyscapes models, the most objects a training scene
  has; give ``load_bachgan(..., max_boxes=N)`` for real scenes, e.g. a Cityscapes street with dozens of
  instances): ValueError saying how many;
- an unknown class: ValueError listing the box classes; a non-finite coordinate: ValueError.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from synthkit.devices import module_device, resolve_device
from synthkit.models.bachgan import BachGANGenerator, rasterize_boxes
from synthkit.retrieval import RetrievalIndex, resize_labels_nearest, retrieve_maps
from synthkit.viz import to_uint8

__all__ = [
    "DEFAULT_MODEL",
    "INDEX_FILE",
    "NO_CLASS",
    "DEFAULT_MAX_BOXES",
    "OTHER_MAX_BOXES",
    "BachGANResult",
    "BachGANPipeline",
    "load_bachgan",
    "layout_to_image",
    "sample_images",
    "test_layouts",
    "box_scores",
]

DEFAULT_MODEL = "bachgan-toyscapes"
INDEX_FILE = "retrieval_index.safetensors"  # the retrieval memory, next to model.safetensors
NO_CLASS = 255  # in BachGANResult.retrieved: a pixel where every channel of the retrieved map is off
DEFAULT_MAX_BOXES = 16  # synthkit.data.toyscapes.MAX_BOXES: the most objects a Toyscapes training scene has
# Models with other classes (converted Cityscapes / ADE20K weights) rasterise any number of boxes (L is multi-hot);
# this is only a guard against pasting a whole annotation file, not a limit the model was trained with.
OTHER_MAX_BOXES = 256


def _check_max_boxes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"max_boxes must be a whole number >= 1, got {value!r}")
    return int(value)


@dataclass
class BachGANResult:
    """One generation. Images are uint8; maps are at the model's resolution (H, W).

    ``image`` [H, W, 3]; ``retrieved`` uint8 [K, H, W] class ids of the retrieved maps M_k as the generator sees
    them (box pixels show the box class; ``NO_CLASS`` = 255 where every channel is off: the official loaders replace
    the box-class channels of a retrieved map by the query's, so the retrieved map's own objects vanish);
    ``backgrounds`` uint8 [K, H, W] the retrieved label
    maps themselves; ``retrieved_indices`` / ``retrieved_scores`` their memory indices and pooled IoU;
    ``fused`` float32 [C, H, W] the fused layout S; ``box_layout`` float32 [C, H, W] the multi-hot L; ``boxes``
    the boxes used, in model pixels ``(class_id, x0, y0, x1, y1)``; ``notes`` what was done to the input.
    """

    image: np.ndarray
    retrieved: np.ndarray
    backgrounds: np.ndarray
    retrieved_indices: np.ndarray
    retrieved_scores: np.ndarray
    fused: np.ndarray
    box_layout: np.ndarray
    boxes: list[tuple[int, int, int, int, int]]
    notes: list[str] = field(default_factory=list)
    seed: int = 0

    # -- display helpers (palette colours) ----------------------------------------------------------------
    def retrieved_colors(self) -> list[np.ndarray]:
        """The K retrieved maps (boxes pasted in) as palette colours, uint8 [H, W, 3] each."""
        return [_colorize(m) for m in self.retrieved]  # NO_CLASS pixels black

    def background_colors(self) -> list[np.ndarray]:
        """The K retrieved label maps as found in the memory, uint8 [H, W, 3] each."""
        return [_colorize(m) for m in self.backgrounds]

    def fused_colors(self) -> np.ndarray:
        """S shown as argmax over its C channels in the class palette, uint8 [H, W, 3].

        S is a learned feature map with one channel per class (fusion convs keep C channels), so the argmax is a
        reading aid, not a segmentation."""
        return _colorize(self.fused.argmax(0).astype(np.int64))

    def layout_colors(self) -> np.ndarray:
        """The box layout L (no-box pixels black, then each box in its class colour, later boxes on top)."""
        label = np.zeros(self.box_layout.shape[1:], dtype=np.int64)
        for c, x0, y0, x1, y1 in self.boxes:
            label[y0:y1, x0:x1] = c
        rgb = _colorize(label)
        rgb[label == 0] = 0
        return rgb


def _colorize(label: np.ndarray) -> np.ndarray:
    """Class ids -> palette colours; ``NO_CLASS`` pixels black."""
    from synthkit.data.palette import get_palette
    from synthkit.viz import colorize

    label = np.asarray(label, dtype=np.int64)
    empty = label == NO_CLASS
    rgb = colorize(np.where(empty, 0, label), get_palette("toyscapes"))
    rgb[empty] = 0
    return rgb


# ----------------------------------------------------------------------------------------------------------------
# Boxes: validation with notes
# ----------------------------------------------------------------------------------------------------------------
def _class_names(num_classes: int) -> tuple[str, ...]:
    from synthkit.data import toyscapes

    if num_classes == toyscapes.NUM_CLASSES:
        return toyscapes.CLASSES
    return tuple(f"class {i}" for i in range(num_classes))


def _rows(boxes: Any) -> list[Sequence[Any]]:
    """Boxes as a list of rows; accepts lists of tuples / lists, numpy arrays [N, 5] and tensors [N, 5]."""
    if boxes is None:
        return []
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    if isinstance(boxes, np.ndarray):
        if boxes.size == 0:
            return []
        if boxes.ndim != 2:
            raise ValueError(f"boxes must be rows (class, x0, y0, x1, y1), got an array of shape {boxes.shape}")
        return [list(r) for r in boxes.tolist()]
    if isinstance(boxes, (str, bytes)) or not hasattr(boxes, "__iter__"):
        raise TypeError(
            f"boxes must be a list of (class, x0, y0, x1, y1) rows, got {type(boxes).__name__}"
        )
    return [r for r in boxes]


class BachGANPipeline:
    """A BachGAN generator with its retrieval memory. ``layout_to_image(boxes, seed)`` is the whole application."""

    def __init__(
        self,
        G: BachGANGenerator,
        index: RetrievalIndex | None,
        notes: Sequence[str] = (),
        max_boxes: int | None = None,
        num_candidates: int | None = None,
    ) -> None:
        cfg = G.config
        if cfg.use_retrieval:
            if index is None:
                raise ValueError("this BachGAN model fuses retrieved maps: give it a RetrievalIndex")
            if index.num_classes != cfg.num_classes or tuple(index.box_classes) != tuple(cfg.thing_classes):
                raise ValueError(
                    f"the retrieval index has {index.num_classes} classes and box classes {index.box_classes}; "
                    f"the model expects {cfg.num_classes} and {cfg.thing_classes}"
                )
            if len(index) < cfg.num_retrieved:
                raise ValueError(f"the retrieval index holds {len(index)} maps, fewer than K = {cfg.num_retrieved}")
        self.G = G.eval()
        self.index = index
        self.notes = list(notes)
        # max_boxes: see load_bachgan; None = 16 for the Toyscapes classes (its training scenes' maximum), else 256
        if max_boxes is None:
            from synthkit.data import toyscapes

            toy = cfg.num_classes == toyscapes.NUM_CLASSES
            max_boxes = DEFAULT_MAX_BOXES if toy else OTHER_MAX_BOXES
            self._limit_reason = (f"this model was trained on scenes with at most {max_boxes} objects" if toy else
                                  f"this pipeline takes at most {max_boxes} boxes")
        else:
            max_boxes = _check_max_boxes(max_boxes)
            self._limit_reason = f"this pipeline was loaded with max_boxes={max_boxes}"
        self.max_boxes = max_boxes
        # the official retrieval keeps the first K of the top 6 = 2K candidates
        self.num_candidates = int(num_candidates or 2 * cfg.num_retrieved)
        self.class_names = _class_names(cfg.num_classes)

    @property
    def config(self):
        return self.G.config

    @property
    def device(self) -> torch.device:
        """Where the generator is; layouts go there (move it with ``pipe.to(device)``)."""
        return module_device(self.G)

    def to(self, device: str | torch.device) -> "BachGANPipeline":
        """Move the generator (``"auto"``: CUDA when available, else MPS, else CPU); retrieval stays on the CPU."""
        self.G.to(resolve_device(device))
        return self

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the generated images."""
        return self.config.height, self.config.width

    @property
    def box_class_names(self) -> list[str]:
        """Names of the classes a box may have, in id order."""
        return [self.class_names[c] for c in self.config.thing_classes]

    # -- input ------------------------------------------------------------------------------------------------
    def class_id(self, value: Any) -> int:
        """A box class given as a name (case-insensitive) or an id -> its id; ValueError listing the valid ones."""
        valid = ", ".join(f"{self.class_names[c]} ({c})" for c in self.config.thing_classes)
        if isinstance(value, str):
            name = value.strip().lower()
            if name.lstrip("-").isdigit():
                value = int(name)
            else:
                lowered = [n.lower() for n in self.class_names]
                if name not in lowered:
                    raise ValueError(f"unknown box class {value!r}; boxes can be: {valid}")
                value = lowered.index(name)
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"box class must be a class name or an integer id, got {value!r}; boxes can be: {valid}")
        value = int(value)
        if value not in self.config.thing_classes:
            what = f"{self.class_names[value]!r} ({value})" if 0 <= value < len(self.class_names) else str(value)
            raise ValueError(
                f"class {what} cannot be drawn as a box (BachGAN takes boxes for object classes only; the "
                f"background comes from retrieval); boxes can be: {valid}"
            )
        return value

    def prepare_boxes(
        self, boxes: Any, canvas_size: tuple[int, int] | None = None
    ) -> tuple[list[tuple[int, int, int, int, int]], list[str]]:
        """Validate user boxes -> (boxes in model pixels, clipped, integer; notes).

        ``canvas_size``: (H, W) of the frame the coordinates refer to (default: the model's image size).
        """
        H, W = self.image_size
        ch, cw = (H, W) if canvas_size is None else (int(canvas_size[0]), int(canvas_size[1]))
        if ch <= 0 or cw <= 0:
            raise ValueError(f"canvas_size must be (height, width) with positive entries, got {canvas_size!r}")
        rows = _rows(boxes)
        if len(rows) > self.max_boxes:
            raise ValueError(
                f"{len(rows)} boxes given; {self._limit_reason}. Remove {len(rows) - self.max_boxes} of them "
                "(in code, load_bachgan(..., max_boxes=N) raises the limit, e.g. for real Cityscapes scenes)."
            )
        notes: list[str] = []
        if (ch, cw) != (H, W):
            notes.append(f"Box coordinates are on a {cw}×{ch} canvas; they were rescaled to the model's {W}×{H} grid.")
        sy, sx = H / ch, W / cw
        kept: list[tuple[int, int, int, int, int]] = []
        for i, row in enumerate(rows, start=1):
            if isinstance(row, dict):
                row = [row.get(k) for k in ("label", "xmin", "ymin", "xmax", "ymax")]
            row = list(row)
            if len(row) != 5:
                raise ValueError(f"box {i} has {len(row)} values {row!r}; each box is (class, x0, y0, x1, y1)")
            c = self.class_id(row[0])
            try:
                coords = [float(v) for v in row[1:]]
            except (TypeError, ValueError):
                raise ValueError(f"box {i} ({self.class_names[c]}): coordinates must be numbers, got {row[1:]!r}") from None
            if not all(math.isfinite(v) for v in coords):
                raise ValueError(f"box {i} ({self.class_names[c]}): coordinates must be finite numbers, got {row[1:]!r}")
            x0, y0, x1, y1 = coords[0] * sx, coords[1] * sy, coords[2] * sx, coords[3] * sy
            name = self.class_names[c]
            if x1 <= x0 or y1 <= y0:
                kind = "zero area" if (x1 == x0 or y1 == y0) else "inverted (x1 < x0 or y1 < y0)"
                notes.append(f"Box {i} ({name}) has {kind}: ignored. Give x0 < x1 and y0 < y1.")
                continue
            # pixel edges, x1 / y1 exclusive (the same rounding as synthkit.data.boxes.valid_boxes)
            ix0, iy0, ix1, iy1 = (int(np.floor(v + 0.5)) for v in (x0, y0, x1, y1))
            cx0, cy0, cx1, cy1 = max(0, min(ix0, W)), max(0, min(iy0, H)), max(0, min(ix1, W)), max(0, min(iy1, H))
            if cx1 <= cx0 or cy1 <= cy0:
                if (ix1 <= 0 or ix0 >= W or iy1 <= 0 or iy0 >= H):
                    notes.append(f"Box {i} ({name}) lies entirely outside the {cw}×{ch} canvas: ignored.")
                else:
                    notes.append(f"Box {i} ({name}) is smaller than one pixel of the {W}×{H} model grid: ignored.")
                continue
            if (cx0, cy0, cx1, cy1) != (ix0, iy0, ix1, iy1):
                notes.append(
                    f"Box {i} ({name}) extends outside the canvas: clipped to x {cx0}–{cx1}, y {cy0}–{cy1} "
                    f"(model pixels)."
                )
            kept.append((c, cx0, cy0, cx1, cy1))
        if not kept:
            notes.append(
                "No (valid) box: the image is generated from retrieved background only, "
                "K memory layouts drawn at random with this seed."
                if rows else
                "No box given: the image is generated from retrieved background only, "
                "K memory layouts drawn at random with this seed. Draw boxes to place objects."
            )
        return kept, notes

    # -- retrieval --------------------------------------------------------------------------------------------
    def choose_retrieved(self, boxes: list[tuple[int, int, int, int, int]], seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Memory indices and scores of the K maps to fuse: the best K (seed 0) or K of the top 2K (other seeds)."""
        K = self.config.num_retrieved
        rng = np.random.default_rng(seed)
        if not boxes:  # every candidate scores 0: draw K backgrounds from the whole memory
            idx = np.sort(rng.choice(len(self.index), size=K, replace=False))
            return idx.astype(np.int64), np.zeros(K)
        n = min(self.num_candidates, len(self.index))
        idx, scores = self.index.query(boxes, k=n, image_size=self.image_size)
        if seed == 0:
            pick = np.arange(K)
        else:
            pick = np.sort(rng.choice(n, size=K, replace=False))  # keep the ranking order
        return idx[pick], scores[pick]

    # -- the application --------------------------------------------------------------------------------------
    @torch.no_grad()
    def layout_to_image(
        self, boxes: Any, seed: int = 0, canvas_size: tuple[int, int] | None = None
    ) -> BachGANResult:
        """Boxes ``(class, x0, y0, x1, y1)`` -> image, retrieved maps and fused layout (see the module docstring)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
        seed = int(seed)
        kept, notes = self.prepare_boxes(boxes, canvas_size)
        cfg = self.config
        H, W = self.image_size
        box_layout = rasterize_boxes(kept, cfg.num_classes, H, W)  # L: [C, H, W]
        if cfg.use_retrieval:
            indices, scores = self.choose_retrieved(kept, seed)
            maps = retrieve_maps(self.index, indices, box_layout)  # M_k: [K, C, H, W]
            backgrounds = resize_labels_nearest(self.index.labels[indices], (H, W)).astype(np.uint8)
            fused = self.G.fuse(box_layout[None].to(self.device), maps[None].to(self.device))  # S: [1, C, H, W]
            retrieved = maps.argmax(1).to(torch.uint8)  # [K, H, W]
            retrieved[maps.amax(1) == 0] = NO_CLASS
            retrieved = retrieved.numpy()
        else:
            indices, scores = np.zeros(0, dtype=np.int64), np.zeros(0)
            backgrounds = retrieved = np.zeros((0, H, W), dtype=np.uint8)
            fused = self.G.fuse(box_layout[None].to(self.device))
            notes.append("This model was trained without retrieval (the paper's ablation): no background maps.")
        image, _ = self.G.decode(fused, with_seg=False)  # [1, 3, H, W] in [-1, 1]
        return BachGANResult(
            image=to_uint8(image[0]),
            retrieved=retrieved,
            backgrounds=backgrounds,
            retrieved_indices=np.asarray(indices, dtype=np.int64),
            retrieved_scores=np.asarray(scores, dtype=np.float64),
            fused=fused[0].float().cpu().numpy(),
            box_layout=box_layout.numpy(),
            boxes=kept,
            notes=self.notes + notes,
            seed=seed,
        )


# ----------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------
def _model_folder(name: str) -> Path:
    """The folder a registry name / folder / Hub repo id resolves to (where the index file lives)."""
    from synthkit import hub, registry

    if name in registry.names():
        entry = registry.get(name)
        if entry.folder is not None:
            return entry.path
        return hub._download_folder(entry.repo_id, entry.revision, None)
    if Path(name).is_dir():
        return Path(name)
    if name == DEFAULT_MODEL:
        folder = registry.PRETRAINED_DIR / DEFAULT_MODEL
        if (folder / "config.json").is_file():
            return folder
        raise FileNotFoundError(
            f"the bundled BachGAN checkpoint {DEFAULT_MODEL!r} is not in this install ({folder}); train one with "
            "`synthkit train bachgan --preset toyscapes --out DIR` and call load_bachgan('DIR/model')"
        )
    return hub._download_folder(name, None, None)


def load_bachgan(
    name: str = DEFAULT_MODEL, index_path: str | Path | None = None, *, max_boxes: int | None = None,
    device: str | torch.device = "auto",
) -> BachGANPipeline:
    """The generator (registry name, folder or Hub repo id) and its retrieval memory, ready for inference.

    The memory is ``<folder>/retrieval_index.safetensors`` unless ``index_path`` is given. Spectral norm is folded
    into the weights (W / sigma), which gives the same outputs in eval mode without the per-call power iteration.

    ``max_boxes``: the most boxes ``layout_to_image`` accepts. Default: ``DEFAULT_MAX_BOXES`` (16) for a model with
    the Toyscapes classes (its training scenes never had more), ``OTHER_MAX_BOXES`` (256) otherwise. Real scenes
    can hold many more instances than Toyscapes (a Cityscapes street: dozens of people and cars), e.g.
    ``load_bachgan("bachgan-cityscapes", index_path="city_index.safetensors", max_boxes=128)``.

    ``device``: where the generator runs ("auto": CUDA when available, else MPS, else CPU); retrieval (a nearest
    neighbour search over a few thousand small maps) stays on the CPU.
    """
    import synthkit

    if max_boxes is not None:
        max_boxes = _check_max_boxes(max_boxes)

    folder = _model_folder(str(name))
    G = synthkit.load(str(folder) if str(name) == DEFAULT_MODEL and str(name) not in _registered() else str(name),
                      device=device)
    if not isinstance(G, BachGANGenerator):
        raise TypeError(f"{name!r} is a {type(G).__name__}, not a BachGAN generator")
    G.fold_spectral_norm().eval()
    index = None
    if G.config.use_retrieval:
        path = Path(index_path) if index_path is not None else folder / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{name!r} needs its retrieval memory {path}; build one with `synthkit bachgan build-index "
                f"--n 2000 --size {G.config.height} --out {path}`"
            )
        index = RetrievalIndex.load(path)
    return BachGANPipeline(G, index, max_boxes=max_boxes)


def _registered() -> list[str]:
    from synthkit import registry

    return registry.names()


_DEFAULT: BachGANPipeline | None = None


def _default(pipeline: BachGANPipeline | None) -> BachGANPipeline:
    global _DEFAULT
    if pipeline is not None:
        return pipeline
    if _DEFAULT is None:
        _DEFAULT = load_bachgan()
    return _DEFAULT


def layout_to_image(
    boxes: Any, seed: int = 0, *, canvas_size: tuple[int, int] | None = None, pipeline: BachGANPipeline | None = None
) -> BachGANResult:
    """See :meth:`BachGANPipeline.layout_to_image` (bundled model when ``pipeline`` is None)."""
    return _default(pipeline).layout_to_image(boxes, seed, canvas_size)


# ----------------------------------------------------------------------------------------------------------------
# Held-out layouts, CLI sampling
# ----------------------------------------------------------------------------------------------------------------
def test_layouts(n: int, size: int = 64, seed: int = 0) -> list[Any]:
    """``n`` held-out Toyscapes scenes (split "test") at ``size``: ToyscapesSample with ``image``, ``label``,
    ``boxes``. The demo's examples and ``benchmarks/eval_bachgan.py`` use these."""
    from synthkit.data.toyscapes import ToyscapesDataset

    data = ToyscapesDataset(size=size, length=max(n, 1), split="test", seed=seed)
    return [data.sample(i) for i in range(n)]


test_layouts.__test__ = False  # not a pytest test


def box_scores(pred: np.ndarray, boxes: Sequence[Sequence[int]], thing_classes: Sequence[int]) -> tuple[list[float], list[float]]:
    """"Are the objects where the boxes are?", per box, from a segmentation ``pred`` [H, W] of the image.

    For each box ``(c, x0, y0, x1, y1)`` (x1 / y1 exclusive):

        pixel_acc_b = |{p in box : pred[p] == c}| / |box|                  share of the box labelled with its class
        found_b     = 1 if argmax_{t in things} |{p in box : pred[p] == t}| == c (and some thing pixel exists)

    Returns the two lists (empty boxes skipped). ``benchmarks/eval_bachgan.py`` averages them over held-out
    layouts and divides by the same figure on the real images (the issue's target: ratio >= 0.70).
    """
    acc, found = [], []
    for c, x0, y0, x1, y1 in boxes:
        region = pred[y0:y1, x0:x1]
        if region.size == 0:
            continue
        acc.append(float((region == c).mean()))
        counts = [(region == t).sum() for t in thing_classes]
        found.append(float(max(counts) > 0 and thing_classes[int(np.argmax(counts))] == c))
    return acc, found


def _index_for(G: BachGANGenerator) -> tuple[RetrievalIndex, list[str]]:
    """A retrieval memory that fits a model given without its folder: the bundled one, its config's, or a new one."""
    from synthkit import registry
    from synthkit.retrieval import build_toyscapes_index

    cfg = G.config
    candidates = [registry.PRETRAINED_DIR / DEFAULT_MODEL / INDEX_FILE]
    if cfg.index_path:
        candidates.append(Path(cfg.index_path))
    for path in candidates:
        if path.is_file():
            index = RetrievalIndex.load(path)
            if index.num_classes == cfg.num_classes and tuple(index.box_classes) == tuple(cfg.thing_classes):
                return index, []
    index = build_toyscapes_index(n=2000, size=cfg.height, grid=cfg.index_size)
    return index, ["retrieval memory built on the fly (2000 Toyscapes train maps)"]


def sample_images(model: BachGANGenerator, n: int = 4, seed: int = 0) -> list[np.ndarray]:
    """For ``synthkit sample``: ``n`` images from held-out Toyscapes layouts (uint8 [H, W, 3])."""
    index, notes = _index_for(model) if model.config.use_retrieval else (None, [])
    pipe = BachGANPipeline(model.eval(), index, notes)
    return [pipe.layout_to_image(s.boxes, seed=seed).image for s in test_layouts(n, model.config.height, seed)]
