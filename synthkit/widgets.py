"""Small ipywidgets helpers shared by the notebooks (``notebooks/*.ipynb``).

    from synthkit.widgets import image_scrubber, live_loss_plot, class_dropdown, seed_slider

    scrub = image_scrubber(grids, description="step", labels=[f"step {s}" for s in steps])
    scrub                                   # last expression of a cell: a slider above the image it selects
    plot = live_loss_plot(title="toy GAN"); plot.show()
    for chunk in ...: plot.update(history)  # redraws the same output in place (no new figure per update)
    dd, sl = class_dropdown(), seed_slider()

Why these and not ``ipywidgets.interact`` everywhere: a scrubber over *precomputed* images (sample grids saved during
training) must not recompute anything when the slider moves, and it must still show something in a notebook that
was executed without a browser (CI, nbviewer): the first image is displayed when the widget is built.

``live_loss_plot`` does not need ipywidgets: it redraws a matplotlib figure into one ``IPython.display`` output
(``display(..., display_id=True)`` then ``handle.update``), which works in Jupyter, JupyterLab, VS Code and Colab,
and leaves a static PNG in the saved notebook. ipywidgets is imported lazily, only by the helpers that build
widgets; a missing install raises an ImportError that says how to install it.
"""
from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from synthkit.project import pip_hint

__all__ = ["LiveLossPlot", "image_scrubber", "live_loss_plot", "class_dropdown", "seed_slider",
           "to_png"]

INSTALL_HINT = ("synthkit.widgets needs ipywidgets (>= 8): `pip install ipywidgets` (Colab has it), or synthkit's "
                f"notebooks extra: `{pip_hint('notebooks')}` (in a checkout: `pip install -e \".[notebooks]\"`). "
                "Jupyter, JupyterLab and Colab then show the widgets.")


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return ipywidgets


def to_png(image: Any) -> bytes:
    """PNG bytes of an image: a path to an image file, PIL image, uint8 array [H, W(, 3)] or tensor in [-1, 1]."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file {str(path)!r} does not exist")
        image = Image.open(path)
    if not isinstance(image, Image.Image):
        from synthkit.viz import to_uint8

        image = Image.fromarray(to_uint8(image))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------------------
# image scrubber: a slider over precomputed images
# ---------------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _scrubber_class():
    widgets = _ipywidgets()

    class ImageScrubber(widgets.VBox):
        """A slider (``.slider``) above an image (``.image``, PNG bytes in ``.image.value``) and a caption
        (``.caption``). Moving the slider shows ``images[slider.value]``; nothing is recomputed, the PNGs are
        encoded once when the widget is built."""

        def __init__(self, pngs: list[bytes], labels: list[str], description: str, width: int | None):
            self.pngs, self.labels = pngs, labels
            self.slider = widgets.IntSlider(value=0, min=0, max=len(pngs) - 1, step=1, description=description,
                                            continuous_update=True, readout=True)
            layout = widgets.Layout(width=f"{width}px") if width else widgets.Layout()
            self.image = widgets.Image(value=pngs[0], format="png", layout=layout)
            self.caption = widgets.Label(value=labels[0])
            self.slider.observe(self._on_change, names="value")
            super().__init__([self.slider, self.caption, self.image])

        @property
        def index(self) -> int:
            return int(self.slider.value)

        def _on_change(self, change: Mapping[str, Any]) -> None:
            i = int(change["new"])
            self.image.value = self.pngs[i]
            self.caption.value = self.labels[i]

    return ImageScrubber


def image_scrubber(images: Sequence[Any], description: str = "index", labels: Sequence[str] | None = None,
                   width: int | None = None):
    """A slider that scrubs through ``images`` (paths, PIL images, uint8 arrays or tensors in [-1, 1]).

    labels: one caption per image (default "1 / N", ...). width: display width in pixels (default: natural size).
    Returns an ``ImageScrubber`` (an ``ipywidgets.VBox``); set ``.slider.value`` to drive it from code.
    """
    images = list(images)
    if not images:
        raise ValueError("image_scrubber needs at least one image (got an empty sequence); did training save "
                         "any sample grids? Check TrainConfig.sample_every and out_dir/samples/")
    if labels is None:
        labels = [f"{i + 1} / {len(images)}" for i in range(len(images))]
    labels = [str(s) for s in labels]
    if len(labels) != len(images):
        raise ValueError(f"image_scrubber: {len(labels)} labels for {len(images)} images; give one label per image")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width <= 0):
        raise ValueError(f"width must be a positive number of pixels or None, got {width!r}")
    cls = _scrubber_class()
    return cls([to_png(im) for im in images], labels, description, width)


# ---------------------------------------------------------------------------------------------------------------------
# live loss plot: one output, redrawn in place
# ---------------------------------------------------------------------------------------------------------------------


class LiveLossPlot:
    """A loss plot that redraws in place while a model trains.

    ``show()`` displays it (once); ``update(history)`` replaces the data with a full history (the list of dicts
    ``synthkit.train.train`` returns, or ``{"loss_g": [...], ...}``); calling the object with one row
    (``plot({"step": 10, "loss_d": 1.2})``) appends it, so it can serve as a per-log-step callback.
    ``figure`` is a matplotlib ``Figure`` (no pyplot state, so no duplicate figure appears at the end of the
    cell); ``png`` holds the last rendering.
    """

    def __init__(self, keys: Sequence[str] | None = None, title: str | None = None, smooth: int = 0,
                 figsize: tuple[float, float] = (6.0, 3.2)):
        from matplotlib.figure import Figure

        if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 0:
            raise ValueError(f"smooth must be an int >= 0 (moving-average window, 0 = off), got {smooth!r}")
        self.keys = list(keys) if keys is not None else None
        self.title, self.smooth = title, smooth
        self.rows: list[dict[str, float]] = []
        self.figure = Figure(figsize=figsize, dpi=100)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.handle = None
        self.png = self._render()

    # data ---------------------------------------------------------------------------------------------------------
    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{key: (steps, values)} of the rows so far (only the chosen ``keys`` if given, else every numeric key)."""
        out: dict[str, tuple[list, list]] = {}
        for i, row in enumerate(self.rows):
            for k, v in row.items():
                if k == "step" or (self.keys is not None and k not in self.keys):
                    continue
                if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                    continue
                xs, ys = out.setdefault(k, ([], []))
                xs.append(row.get("step", i))
                ys.append(float(v))
        return {k: (np.asarray(x, float), np.asarray(y, float)) for k, (x, y) in out.items()}

    def update(self, history: Sequence[Mapping[str, float]] | Mapping[str, Sequence[float]]) -> "LiveLossPlot":
        """Replace the data with ``history`` and redraw."""
        if isinstance(history, Mapping):
            n = max((len(v) for v in history.values()), default=0)
            rows = [{k: v[i] for k, v in history.items() if i < len(v)} for i in range(n)]
        else:
            bad = [r for r in history if not isinstance(r, Mapping)]
            if bad:
                raise TypeError(f"history rows must be dicts like {{'step': 10, 'loss_d': 1.2}}, got {bad[0]!r}")
            rows = [dict(r) for r in history]
        self.rows = rows
        return self._refresh()

    def __call__(self, row: Mapping[str, float]) -> None:
        """Append one logged row (a callback for a loop that reports one dict per log step)."""
        if not isinstance(row, Mapping):
            raise TypeError(f"a logged row must be a dict like {{'step': 10, 'loss_d': 1.2}}, got {type(row).__name__}")
        self.rows.append(dict(row))
        self._refresh()

    # drawing ------------------------------------------------------------------------------------------------------
    def _render(self) -> bytes:
        ax = self.ax
        ax.clear()
        for k, (x, y) in self.series().items():
            if self.smooth > 1 and len(y) >= self.smooth:  # moving average, aligned with the window's last step
                y = np.convolve(y, np.ones(self.smooth) / self.smooth, mode="valid")
                x = x[self.smooth - 1:]
            ax.plot(x, y, label=k, linewidth=1.2)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if self.title:
            ax.set_title(self.title)
        if ax.lines:
            ax.legend(loc="best", fontsize=8)
        else:
            ax.text(0.5, 0.5, "waiting for the first logged step...", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
        ax.grid(alpha=0.3)
        self.figure.tight_layout()
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png")
        return buf.getvalue()

    def _refresh(self) -> "LiveLossPlot":
        self.png = self._render()
        if self.handle is not None:
            from IPython.display import Image

            self.handle.update(Image(data=self.png, format="png"))
        return self

    def show(self) -> "LiveLossPlot":
        """Display the plot (once); later updates replace this output instead of adding new ones."""
        from IPython.display import DisplayHandle, Image

        if self.handle is None:
            self.handle = DisplayHandle()  # one output id; update() replaces what it shows
            self.handle.display(Image(data=self.png, format="png"))
        else:
            self.handle.update(Image(data=self.png, format="png"))
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write the current plot as PNG."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.png)
        return path


def live_loss_plot(keys: Sequence[str] | None = None, title: str | None = None, smooth: int = 0,
                   show: bool = True) -> LiveLossPlot:
    """A ``LiveLossPlot`` (displayed at once unless ``show=False``). keys: the series to draw (default: all)."""
    plot = LiveLossPlot(keys=keys, title=title, smooth=smooth)
    return plot.show() if show else plot


# ---------------------------------------------------------------------------------------------------------------------
# small controls
# ---------------------------------------------------------------------------------------------------------------------


def class_dropdown(classes: Sequence[str] | None = None, value: int | str = 0, description: str = "class"):
    """A Dropdown over class names whose ``.value`` is the class id (index into ``classes``).

    classes: default Toyscapes' ``CLASSES``. value: the initial class, by id or name.
    """
    widgets = _ipywidgets()
    if classes is None:
        from synthkit.data.toyscapes import CLASSES as classes
    classes = [str(c) for c in classes]
    if not classes:
        raise ValueError("class_dropdown needs at least one class name")
    if isinstance(value, str):
        if value not in classes:
            raise ValueError(f"unknown class {value!r}; valid classes: {', '.join(classes)}")
        value = classes.index(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < len(classes):
        raise ValueError(f"value must be a class id 0..{len(classes) - 1} or a class name, got {value!r}")
    return widgets.Dropdown(options=[(f"{i}: {c}", i) for i, c in enumerate(classes)], value=int(value),
                            description=description)


def seed_slider(value: int = 0, min: int = 0, max: int = 99, description: str = "seed",
                continuous_update: bool = False):
    """An IntSlider for seeds / scene indices. ``continuous_update=False`` (default) fires only when the slider is
    released, so a callback that renders or generates runs once per choice, not once per pixel dragged."""
    widgets = _ipywidgets()
    for name, v in (("value", value), ("min", min), ("max", max)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"seed_slider: {name} must be an int >= 0, got {v!r}")
    if not min <= value <= max:
        raise ValueError(f"seed_slider: need min <= value <= max, got min={min}, value={value}, max={max}")
    return widgets.IntSlider(value=int(value), min=int(min), max=int(max), step=1, description=description,
                             continuous_update=continuous_update)


def __getattr__(name: str):
    if name == "ImageScrubber":  # the class exists only once ipywidgets is importable
        return _scrubber_class()
    raise AttributeError(f"module 'synthkit.widgets' has no attribute {name!r}")
