"""Data layer: the procedural Toyscapes dataset and label palettes (see CONTRIBUTING.md, section data)."""
from synthkit.data.palette import Palette, color_to_labels, get_palette, labels_to_color, load_label_map
from synthkit.data.toyscapes import (
    CLASSES, MAX_BOXES, NUM_CLASSES, SCENES, STYLE_MODES, THING_CLASSES, ToyscapesDataset, ToyscapesSample,
    preview_grid, render,
)

__all__ = [
    "CLASSES", "MAX_BOXES", "NUM_CLASSES", "SCENES", "STYLE_MODES", "THING_CLASSES", "ToyscapesDataset",
    "ToyscapesSample", "preview_grid", "render", "Palette", "get_palette", "labels_to_color", "color_to_labels",
    "load_label_map",
]
