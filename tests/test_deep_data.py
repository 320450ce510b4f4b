"""The deep networks on the real data sets, and the documents' scripts (short runs)."""
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy
import pytest

import cnn_core
from cnn_core import datasets
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD, InverseTimeDecay

from conftest import UNDER_ASAN, child_env

ROOT = Path(__file__).resolve().parents[1]
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
# under AddressSanitizer (see conftest) the scripts run with matplotlib blocked, and say that
# the plot was skipped
PLOTS = HAS_MATPLOTLIB and not UNDER_ASAN


def test_iris_held_out(data_dir, backend):
    X, y, _ = datasets.load_iris(data_dir=data_dir)
    rng = numpy.random.default_rng(0)
    test = numpy.concatenate([rng.permutation(numpy.flatnonzero(y == c))[:10] for c in range(3)])
    train = numpy.setdiff1d(numpy.arange(150), test)
    X = (X - X[train].min(0)) / (X[train].max(0) - X[train].min(0))
    T = numpy.full((150, 3), 0.1)
    T[numpy.arange(150), y] = 0.9
    net = cnn_core.Network([Dense(4, 8, "sigmoid", seed=1), Dense(8, 3, "sigmoid", seed=2)],
                           optimizer=SGD(InverseTimeDecay(1.0, 0.01, decay_steps=len(train))), backend=backend)
    net.fit(X[train], T[train], epochs=100, batch_size=1, seed=0)
    assert net.accuracy(X[test], y[test]) >= 0.9
    assert net.history["loss"][-1] < net.history["loss"][0] / 5


def test_fashion_mnist_subset(data_dir):
    x_train, y_train, x_test, y_test = datasets.load_mnist("fashion", data_dir=data_dir)
    x_train, x_test = x_train[:6000] / 255.0, x_test[:2000] / 255.0
    net = cnn_core.Network([Dense(784, 64, "relu", init="he", seed=0, dtype=numpy.float32),
                            Dense(64, 10, "softmax", seed=1, dtype=numpy.float32)],
                           loss="cross_entropy", optimizer=SGD(0.1, momentum=0.9))
    net.fit(x_train, y_train[:6000], epochs=3, batch_size=100, seed=0, validation_data=(x_test, y_test[:2000]))
    assert net.history["val_accuracy"][-1] > 0.75
    assert net.accuracy(x_test, y_test[:2000]) == net.history["val_accuracy"][-1]


def matplotlib_blocker():
    """A new folder whose package "matplotlib" fails to import (to put first on PYTHONPATH)."""
    folder = Path(tempfile.mkdtemp(prefix="no-matplotlib-"))
    (folder / "matplotlib").mkdir()
    (folder / "matplotlib" / "__init__.py").write_text("raise ImportError('matplotlib blocked')\n")
    return folder


def run_script(name, *args, data_dir=None):
    first = [str(matplotlib_blocker())] if UNDER_ASAN else []
    env = child_env(*first)
    if data_dir is not None:
        env["CNN_CORE_DATA"] = str(data_dir)
    out = subprocess.run([sys.executable, str(ROOT / "python" / name), *args], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def check_plot(stdout, path):
    if PLOTS:
        assert f"plot saved to {path}" in stdout and path.stat().st_size > 10_000
    else:
        assert "plot skipped: matplotlib is not installed" in stdout


def test_middle_layer_script():
    out = run_script("middle_layer.py")
    assert "forward output Y = f(X @ W + b) =\n[[0.76852478 0.80218389 0.9168273 ]" in out
    assert "largest difference from the formulas in plain NumPy: 0.0e+00" in out
    for activation in ("relu", "tanh"):
        assert "largest difference from the formulas in plain NumPy" in run_script("middle_layer.py", "--activation", activation)


def test_regression_script(tmp_path):
    plot = tmp_path / "regression.png"
    out = run_script("regression.py", "--runs", "2", "--steps", "400", "--plot", str(plot))
    assert "mean final test MSE over 2 runs" in out
    check_plot(out, plot)


def test_iris_script(tmp_path, data_dir):
    plot = tmp_path / "iris.png"
    out = run_script("iris_backprop.py", "--runs", "3", "--epochs", "60", "--plot", str(plot), data_dir=data_dir)
    assert "3-fold stratified cross-validation" in out and "mean held-out accuracy over 3 runs" in out
    check_plot(out, plot)


def test_fashion_script(tmp_path, data_dir):
    plot = tmp_path / "fashion.png"
    out = run_script("fashion_mnist_deep.py", "--iterations", "12", "--limit", "5000", "--plot", str(plot),
                     data_dir=data_dir)
    assert "after 12 iterations: train accuracy" in out
    check_plot(out, plot)


def test_scripts_run_without_matplotlib(tmp_path):
    """With matplotlib not importable the scripts still run, and say the plot was skipped."""
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib blocked for this test')\n")
    env = child_env(str(blocker.parent))
    out = subprocess.run([sys.executable, str(ROOT / "python" / "regression.py"), "--runs", "1", "--steps", "50",
                          "--plot", str(tmp_path / "r.png")], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert 'plot skipped: matplotlib is not installed (pip install "cnn_core[plot]")' in out.stdout
    assert not (tmp_path / "r.png").exists()
