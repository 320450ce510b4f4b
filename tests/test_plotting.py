"""Pictures: training curves and backquery images, with and without matplotlib."""
import sys

import numpy
import pytest
from numpy.testing import assert_allclose

import cnn_core
from cnn_core import plotting, reference

from conftest import require_matplotlib


def read_png(path):
    """The pixels of a PNG file (rows, cols, channels), checking its signature first."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    image = require_matplotlib("matplotlib.image")
    return image.imread(path)


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Importing matplotlib fails, as when it is not installed."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


HISTORY = {"loss": [0.09, 0.05, 0.04], "accuracy": [0.95, 0.96, 0.97],
           "val_loss": [0.1, 0.07, 0.06], "val_accuracy": [0.94, 0.95, 0.955]}


def test_plot_history_two_panels_and_one(tmp_path):
    require_matplotlib()
    both = read_png(plotting.plot_history(HISTORY, tmp_path / "both.png", title="t"))
    assert both.shape[:2] == (420, 1100)                    # two panels of 5.5 x 4.2 inches, 100 dpi
    assert both.std() > 0.05                                # something was drawn
    one = read_png(plotting.plot_history({"val_accuracy": [0.5, 0.7]}, tmp_path / "one.png"))
    assert one.shape[:2] == (420, 550)
    written = plotting.plot_history({"loss": [1.0]}, tmp_path / "noext")
    assert written == tmp_path / "noext.png" and written.is_file()


def test_plot_history_refuses_bad_input(tmp_path):
    require_matplotlib()
    with pytest.raises(ValueError, match=r"history has no values to draw; expected lists per epoch"):
        plotting.plot_history({"loss": []}, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"history\['loss'\] must be a list of numbers, one per epoch; got <U3"):
        plotting.plot_history({"loss": ["0.1", "0.2"]}, tmp_path / "x.png")
    with pytest.raises(TypeError, match=r"history must be a dict of per-epoch lists"):
        plotting.plot_history([0.1, 0.2], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"the folder .*missing does not exist"):
        plotting.plot_history(HISTORY, tmp_path / "missing" / "x.png")
    with pytest.raises(ValueError, match=r"matplotlib cannot write .foo files"):
        plotting.plot_history(HISTORY, tmp_path / "x.foo")
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_a_clear_import_error(tmp_path, no_matplotlib):
    with pytest.raises(plotting.PlottingUnavailable, match=r"^plotting needs matplotlib: pip install 'cnn_core\[plot\]'"):
        plotting.plot_history(HISTORY, tmp_path / "x.png")
    with pytest.raises(ImportError, match=r"plotting needs matplotlib"):
        plotting.save_backquery(cnn_core.neuralNetwork(64, 5, 3, 0.1, seed=0), tmp_path / "bq")
    assert list(tmp_path.iterdir()) == []


def test_backquery_images_match_the_numpy_version():
    net = cnn_core.neuralNetwork(64, 12, 4, 0.1, seed=3)
    ref = reference.neuralNetwork(64, 12, 4, 0.1, seed=3)
    images = plotting.backquery_images(net)
    assert images.shape == (4, 8, 8)
    for label in range(4):
        targets = numpy.full(4, 0.01)
        targets[label] = 0.99
        assert_allclose(images[label], ref.backquery(targets).reshape(8, 8), rtol=1e-12, atol=1e-12)
    assert images.min() >= 0.01 - 1e-12 and images.max() <= 0.99 + 1e-12
    with pytest.raises(ValueError, match=r"square image of at least 8 x 8 pixels .*this network has 4 inputs"):
        plotting.backquery_images(cnn_core.neuralNetwork(4, 5, 3, 0.1, seed=0))
    with pytest.raises(ValueError, match=r"this network has 65 inputs"):
        plotting.backquery_images(cnn_core.neuralNetwork(65, 5, 3, 0.1, seed=0))


def test_save_backquery_writes_one_png_per_label_and_a_grid(tmp_path):
    require_matplotlib()
    net = cnn_core.neuralNetwork(64, 12, 3, 0.1, seed=1)
    paths = plotting.save_backquery(net, tmp_path / "bq", names=["a", "b", "c"], scale=4)
    assert [p.name for p in paths] == ["backquery_0.png", "backquery_1.png", "backquery_2.png", "backquery_grid.png"]
    expected = plotting.backquery_images(net)
    for label in range(3):
        pixels = read_png(paths[label])
        assert pixels.shape[:2] == (32, 32)                 # 8 x 8 values, 4 x 4 pixels each
        # Greys: 0 is white, 1 is black; the darkest block is where the backquery is largest
        grey = pixels[::4, ::4, 0]
        assert numpy.unravel_index(numpy.argmin(grey), grey.shape) == numpy.unravel_index(
            numpy.argmax(expected[label]), (8, 8))
    assert read_png(paths[-1]).shape[2] == 4
    with pytest.raises(ValueError, match=r"2 names for 3 output nodes"):
        plotting.save_backquery(net, tmp_path / "bq2", names=["a", "b"])
    with pytest.raises(ValueError, match=r"the folder .*nowhere does not exist"):
        plotting.save_backquery(net, tmp_path / "nowhere" / "bq")
