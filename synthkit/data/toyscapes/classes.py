"""Toyscapes classes, scene categories, per-class appearance modes and label colours (data only)."""
from __future__ import annotations

# --------------------------------------------------------------------------------------------------------------------
# Classes, scenes, appearance modes
# --------------------------------------------------------------------------------------------------------------------

CLASSES: tuple[str, ...] = (
    "sky", "cloud", "sun", "mountain", "water", "sand", "grass", "snow", "road", "tree", "building", "car",
)
NUM_CLASSES = len(CLASSES)
SKY, CLOUD, SUN, MOUNTAIN, WATER, SAND, GRASS, SNOW, ROAD, TREE, BUILDING, CAR = range(NUM_CLASSES)

# "Things" have instances and boxes (BachGAN's layout input); the rest is "stuff".
THING_CLASSES: tuple[str, ...] = ("tree", "building", "car")
THING_IDS: tuple[int, ...] = tuple(CLASSES.index(c) for c in THING_CLASSES)

SCENES: tuple[str, ...] = ("coast", "forest", "mountains", "city", "desert", "winter")

# Classes every scene of a category is guaranteed to contain (checked by the tests).
SCENE_CLASSES: dict[str, tuple[str, ...]] = {
    "coast": ("sky", "water", "sand"),
    "forest": ("sky", "grass", "tree"),
    "mountains": ("sky", "mountain", "grass"),
    "city": ("sky", "building", "road"),
    "desert": ("sky", "sand"),
    "winter": ("sky", "snow", "tree"),
}

# Fixed label colour per class (the "toyscapes" palette of synthkit.data.palette).
CLASS_COLORS: tuple[tuple[int, int, int], ...] = (  # chosen far apart, so blurred or hand-drawn maps decode well
    (70, 130, 180),   # sky
    (185, 185, 255),  # cloud
    (255, 215, 0),    # sun
    (140, 70, 20),    # mountain
    (0, 40, 220),     # water
    (240, 195, 120),  # sand
    (90, 205, 50),    # grass
    (255, 255, 255),  # snow
    (90, 90, 90),     # road
    (0, 110, 0),      # tree
    (220, 40, 40),    # building
    (170, 0, 210),    # car
)

STYLE_MODES: dict[str, tuple[str, ...]] = {
    "sky": ("day", "sunset", "overcast", "night"),
    "cloud": ("white", "grey", "pink"),
    "sun": ("yellow", "orange", "pale"),
    "mountain": ("grey_rock", "green", "red_rock", "blue_distant"),
    "water": ("calm", "choppy", "tropical", "murky"),
    "sand": ("pale", "golden", "red"),
    "grass": ("summer", "dry", "mowed"),
    "snow": ("fresh", "icy", "dirty"),
    "road": ("asphalt", "dirt", "cobble"),
    "tree": ("summer", "autumn", "pine", "blossom"),
    "building": ("brick", "concrete", "glass", "painted"),
    "car": ("red", "blue", "yellow", "white", "black"),
}

# Bump when a change alters any rendered byte: it names on-disk caches, and tests pin digests of version 1.
RENDER_VERSION = 1
MAX_BOXES = 16  # at most this many thing instances per scene; ToyscapesDataset pads boxes to this length
MIN_SIZE = 32
