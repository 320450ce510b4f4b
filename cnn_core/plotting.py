"""Pictures as PNG files: training curves and the book's backquery images.

matplotlib is optional (``pip install 'cnn_core[plot]'``). It is imported only when a picture is
drawn, and pictures are drawn on its Agg canvas directly: no window opens and pyplot's backend
(in a notebook, say) is left alone. Without matplotlib every function here raises
:class:`PlottingUnavailable`, an ImportError whose message says what to install.

    >>> from cnn_core.plotting import plot_history
    >>> plot_history({"loss": [0.09, 0.05, 0.04], "val_accuracy": [0.95, 0.96, 0.97]}, "history.png")
"""
import math
from pathlib import Path

import numpy

from .datasets import book_targets

__all__ = ["plot_history", "backquery_images", "save_image", "save_backquery", "check_image_path",
           "require_matplotlib", "PlottingUnavailable", "PLOT_HINT"]

PLOT_HINT = "plotting needs matplotlib: pip install 'cnn_core[plot]'"


class PlottingUnavailable(ImportError):
    """matplotlib is not installed; the message says how to install it."""


def require_matplotlib():
    """The classes this module draws with: (Figure, FigureCanvasAgg, image module).
    PlottingUnavailable when matplotlib cannot be imported."""
    try:
        import matplotlib.image
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlottingUnavailable(f"{PLOT_HINT} ({exc})") from None
    return Figure, FigureCanvasAgg, matplotlib.image


def check_image_path(path):
    """`path` as a Path, if a picture can be written there: its folder exists and matplotlib
    knows its extension (a missing extension means .png). ValueError saying what to change
    otherwise; PlottingUnavailable without matplotlib. Lets a caller refuse a bad path before
    a long computation rather than after it."""
    _, canvas, _ = require_matplotlib()
    path = Path(path)
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    kind = path.suffix[1:].lower()
    if kind not in canvas.get_supported_filetypes():
        raise ValueError(f"{path}: matplotlib cannot write .{kind} files; use one of "
                         f"{sorted(canvas.get_supported_filetypes())} (png is usual).")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: the folder {path.parent} does not exist; create it or choose "
                         f"another path.")
    return path


def plot_history(history, path, title=None):
    """Draw the curves of `history` per epoch into a picture file at `path` (PNG by default).

    `history` maps names to per-epoch values, e.g. ``{"loss": [...], "accuracy": [...],
    "val_loss": [...], "val_accuracy": [...]}``; whichever are present are drawn. Names with
    "loss" in them share the left panel, the others (accuracies) the right one; a history of only
    one kind gives one panel. Returns the path written."""
    if not hasattr(history, "items"):
        raise TypeError(f"history must be a dict of per-epoch lists, e.g. {{'loss': [0.3, 0.2]}}; "
                        f"got {type(history).__name__}.")
    curves = {}
    for name, values in history.items():
        values = numpy.asarray(values)
        if values.ndim != 1 or values.dtype.kind not in "iuf":
            raise ValueError(f"history[{name!r}] must be a list of numbers, one per epoch; got "
                             f"{values.dtype} values of shape {values.shape}.")
        if len(values):
            curves[str(name)] = values.astype(numpy.float64)
    if not curves:
        raise ValueError("history has no values to draw; expected lists per epoch under keys such "
                         "as 'loss', 'accuracy', 'val_loss', 'val_accuracy'.")
    path = check_image_path(path)
    Figure, FigureCanvasAgg, _ = require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    groups = [(label, {k: v for k, v in curves.items() if ("loss" in k) == is_loss})
              for label, is_loss in (("loss", True), ("accuracy", False))]
    groups = [(label, group) for label, group in groups if group]
    fig = Figure(figsize=(5.5 * len(groups), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    for axes, (label, group) in zip(fig.subplots(1, len(groups), squeeze=False)[0], groups):
        for name, values in group.items():
            epochs = numpy.arange(1, len(values) + 1)
            axes.plot(epochs, values, label=name, marker="o" if len(values) <= 30 else None,
                      linestyle="--" if name.startswith("val_") else "-")
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        longest = max(len(values) for values in group.values())
        if longest <= 12:                               # whole epochs, even for one or two
            axes.set_xticks(range(1, longest + 1))
            axes.set_xlim(0.5, longest + 0.5)
        axes.grid(True, alpha=0.3)
        axes.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return path


def backquery_images(network, side=None):
    """The book's backquery for every output node of `network` (anything with ``onodes``,
    ``inodes`` and ``backquery(targets)``): targets 0.01 everywhere and 0.99 at the label.
    Returns an array (onodes, side, side) with values in [0.01, 0.99]; `side` defaults to the
    square root of inodes (28 for MNIST). ValueError when the inputs are not a square image
    of at least 8 x 8 pixels (an Iris network's 4 inputs are measurements, not a picture)."""
    side = side or math.isqrt(network.inodes)
    if side * side != network.inodes or side < 8:
        raise ValueError(f"backquery images need a network whose inputs are a square image of at "
                         f"least 8 x 8 pixels (784 = 28 x 28 for MNIST); this network has "
                         f"{network.inodes} inputs.")
    targets = book_targets(numpy.arange(network.onodes), network.onodes)     # a row per label
    images = [numpy.reshape(network.backquery(row), (side, side)) for row in targets]
    return numpy.array(images, dtype=numpy.float64)


def save_image(image, path, scale=8):
    """Write a 2-D array of values in [0, 1] as a grey-scale PNG, 1 dark as the book's
    ``imshow(..., cmap='Greys')``, each value a `scale` x `scale` block of pixels."""
    _, _, mimage = require_matplotlib()
    image = numpy.asarray(image, dtype=numpy.float64)
    if image.ndim != 2:
        raise ValueError(f"an image must be a 2-D array; got shape {image.shape}.")
    big = numpy.kron(image, numpy.ones((scale, scale)))
    mimage.imsave(path, big, cmap="Greys", vmin=0.0, vmax=1.0, format="png")
    return Path(path)


def save_backquery(network, folder, names=None, scale=8):
    """Write what `network` imagines for each label: ``backquery_<k>.png`` per output node and
    ``backquery_grid.png`` with all of them, titled by `names` (default: the label numbers),
    into `folder` (created if missing; its parent must exist). Returns the paths written."""
    Figure, FigureCanvasAgg, _ = require_matplotlib()
    images = backquery_images(network)
    names = [str(k) for k in range(len(images))] if names is None else [str(n) for n in names]
    if len(names) != len(images):
        raise ValueError(f"{len(names)} names for {len(images)} output nodes; give one name per "
                         f"output node.")
    folder = Path(folder)
    if not folder.parent.is_dir():
        raise ValueError(f"{folder}: the folder {folder.parent} does not exist; create it or choose "
                         f"another output folder.")
    folder.mkdir(exist_ok=True)
    paths = [save_image(image, folder / f"backquery_{k}.png", scale) for k, image in enumerate(images)]

    cols = min(5, len(images))
    rows = -(-len(images) // cols)
    fig = Figure(figsize=(2.0 * cols, 2.2 * rows + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(rows, cols, squeeze=False)
    for k, axes in enumerate(grid.flat):
        axes.set_axis_off()
        if k < len(images):
            axes.imshow(images[k], cmap="Greys", vmin=0.0, vmax=1.0, interpolation="nearest")
            axes.set_title(names[k])
    fig.suptitle("backquery: what the network imagines for each label")
    grid_path = folder / "backquery_grid.png"
    fig.savefig(grid_path, dpi=100)
    return paths + [grid_path]
