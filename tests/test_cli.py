"""The command line, run as a user runs it: ``python -m cnn_core ...`` in a subprocess.

Every command, its output and its error paths (exit code 2 with one line on stderr, never a
traceback). The subprocesses import the same cnn_core as these tests and inherit the guard of
conftest.py (downloads go to a closed local port, the cache is a temporary folder).
"""
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest

import cnn_core
from cnn_core import cli
from conftest import require_matplotlib
from test_datasets import tiny_mnist
from test_download import Server, Handler, partial, threading   # the local HTTP server

PACKAGE_PARENT = str(Path(cnn_core.__file__).resolve().parents[1])
ACCURACY = re.compile(r"^accuracy (\d\.\d{4})$", re.MULTILINE)


def run(*args, cwd, hide=(), env=None, timeout=300):
    """``python -m cnn_core *args`` in `cwd`; `hide` names modules made unimportable there."""
    path = [PACKAGE_PARENT]
    if hide:
        fake = Path(cwd) / "_hidden_modules"
        for name in hide:
            (fake / name).mkdir(parents=True, exist_ok=True)
            message = f"No module named {name!r} (hidden by the test)"
            (fake / name / "__init__.py").write_text(f"raise ImportError({message!r})\n")
        path.insert(0, str(fake))
    environment = dict(os.environ if env is None else env, PYTHONPATH=os.pathsep.join(path))
    if environment.get("CNN_CORE_DATA"):     # CI gives ../shared/datasets; the child runs in `cwd`
        environment["CNN_CORE_DATA"] = os.path.abspath(environment["CNN_CORE_DATA"])
    return subprocess.run([sys.executable, "-m", "cnn_core", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def assert_usage_error(result, *fragments):
    """Exit code 2, exactly one line on stderr holding every fragment, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("python -m cnn_core"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def accuracy_of(result):
    found = ACCURACY.findall(result.stdout)
    assert len(found) == 1, result.stdout
    return float(found[0])


@pytest.fixture
def tiny_data(tmp_path):
    """A tiny MNIST (40 training, 20 test images) under tmp_path/data/mnist."""
    tiny_mnist(tmp_path / "data", n_train=40, n_test=20)
    return tmp_path / "data"


@pytest.fixture
def no_shared_data(monkeypatch):
    monkeypatch.delenv("CNN_CORE_DATA", raising=False)


# ------------------------------------------------------------------ help and usage

def test_help_and_version(tmp_path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    for command in ("train", "compare", "bench", "backquery"):
        assert command in result.stdout
    result = run("train", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--dataset", "--hidden", "--lr", "--epochs", "--dtype", "--threads", "--backend",
                   "--save", "--plot"):
        assert option in result.stdout
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"cnn_core {cnn_core.__version__}"


@pytest.mark.parametrize("args, fragments", [
    ((), ["choose a command: train, compare, bench, backquery"]),
    (("fly",), ["invalid choice: 'fly'"]),
    (("train", "--epochs", "0"), ["argument --epochs: expected a positive integer, got '0'", "train --help"]),
    (("train", "--lr", "-1"), ["argument --lr: expected a positive number, got '-1'"]),
    (("train", "--lr", "nan"), ["argument --lr: expected a positive number, got 'nan'"]),
    (("train", "--dataset", "cifar"), ["argument --dataset: invalid choice: 'cifar'"]),
    (("train", "--backend", "torch"), ["argument --backend: invalid choice: 'torch'"]),
    (("train", "--dtype", "float16"), ["argument --dtype: invalid choice: 'float16'"]),
    (("compare", "--samples", "many"), ["argument --samples: expected a positive integer, got 'many'"]),
    (("backquery",), ["the following arguments are required: model"]),
    (("train", "--save", "no/such/folder/net.npz"), ["--save no/such/folder/net.npz: the folder no/such/folder does not exist"]),
])
def test_bad_usage_is_one_line_and_exit_code_2(tmp_path, args, fragments):
    assert_usage_error(run(*args, cwd=tmp_path), *fragments)


# ------------------------------------------------------------------ train

def test_train_on_tiny_files_from_data_dir(tmp_path, tiny_data, no_shared_data):
    result = run("train", "--data-dir", tiny_data, "--epochs", "2", "--hidden", "8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("MNIST digits: 40 training and 20 test samples; network 784-8-10, lr 0.1, 2 epochs, "
                        f"float64; backend cython ({cnn_core._isa} kernels, 1 thread)")
    assert re.match(r"epoch 1/2: train loss 0\.\d{4} accuracy 0\.\d{4}, test loss 0\.\d{4} accuracy 0\.\d{4} \(", lines[1])
    assert lines[2].startswith("epoch 2/2: ")
    assert 0.0 <= accuracy_of(result) <= 1.0
    assert re.match(r"time \d+\.\d\d s training \([\d,]+ samples/s\), \d+\.\d\d s scoring$", lines[4])


def test_train_missing_data_says_where_to_put_it(tmp_path, no_shared_data):
    line = assert_usage_error(run("train", "--data-dir", tmp_path / "empty", cwd=tmp_path),
                              "python -m cnn_core train: error: mnist/train-images-idx3-ubyte.gz not found (looked in ",
                              str(tmp_path / "empty" / "mnist"), "the download failed", "cannot connect",
                              "set CNN_CORE_DATA to a folder holding mnist/train-images-idx3-ubyte.gz",
                              "--data-dir", "CNN_CORE_MIRROR")
    assert "Connection refused" in line


def test_train_downloads_from_a_mirror(tmp_path, data_dir, no_shared_data, monkeypatch):
    """End to end: no local files, CNN_CORE_MIRROR names a local server holding the real iris.csv."""
    root = tmp_path / "served"
    (root / "iris").mkdir(parents=True)
    (root / "iris" / "iris.csv").write_bytes((data_dir / "iris" / "iris.csv").read_bytes())
    httpd = Server(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    httpd.root, httpd.requests, httpd.behaviour = root, [], {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("CNN_CORE_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        result = run("train", "--dataset", "iris", "--epochs", "20", cwd=tmp_path)
        again = run("train", "--dataset", "iris", "--epochs", "20", cwd=tmp_path)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 0, result.stderr
    assert "cnn_core: downloading http://127.0.0.1:" in result.stderr
    assert (tmp_path / "xdg" / "cnn_core" / "iris" / "iris.csv").is_file()
    assert httpd.requests == ["/iris/iris.csv"]                  # the second run used the cache
    assert again.returncode == 0 and "downloading" not in again.stderr
    assert accuracy_of(again) == accuracy_of(result)


def test_train_iris_saves_plots_and_both_backends_agree(tmp_path, data_dir):
    require_matplotlib()
    result = run("train", "--dataset", "iris", "--save", "iris", "--plot", "iris.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert header.startswith("Iris: 120 training and 30 test samples; network 4-10-3, lr 0.2, 200 epochs")
    assert "every fifth row of iris.csv is the test set" in header
    assert accuracy_of(result) >= 0.9
    assert f"saved the network to iris.npz" in result.stdout         # numpy adds .npz; we say so
    net = cnn_core.neuralNetwork.load(tmp_path / "iris.npz")
    assert (net.inodes, net.hnodes, net.onodes) == (4, 10, 3)
    assert (tmp_path / "iris.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    numpy_run = run("train", "--dataset", "iris", "--backend", "numpy", "--save", "ref.npz", cwd=tmp_path)
    assert numpy_run.returncode == 0, numpy_run.stderr
    assert "backend numpy (the NumPy version" in numpy_run.stdout
    assert accuracy_of(numpy_run) == accuracy_of(result)            # same start, same order
    ref = cnn_core.neuralNetwork.load(tmp_path / "ref.npz")
    numpy.testing.assert_allclose(ref.wih, net.wih, rtol=0, atol=1e-10)


def test_train_mnist_slice(tmp_path, mnist):
    result = run("train", "--limit", "3000", "--epochs", "1", "--dtype", "float32", "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MNIST digits: 3000 training and 10000 test samples; network 784-200-10, lr 0.1, 1 epoch, float32" in result.stdout
    assert accuracy_of(result) >= 0.85


def test_plot_without_matplotlib_fails_before_training(tmp_path, tiny_data):
    result = run("train", "--data-dir", tiny_data, "--plot", "h.png", cwd=tmp_path, hide=["matplotlib"])
    assert_usage_error(result, "python -m cnn_core train: error: plotting needs matplotlib: pip install 'cnn_core[plot]'")
    assert result.stdout == "" and not (tmp_path / "h.png").exists()


def test_plot_to_a_bad_path(tmp_path, tiny_data):
    require_matplotlib()
    assert_usage_error(run("train", "--data-dir", tiny_data, "--plot", "h.doc", cwd=tmp_path),
                       "--plot h.doc: matplotlib cannot write .doc files")


def test_train_without_tqdm(tmp_path, tiny_data):
    result = run("train", "--data-dir", tiny_data, "--epochs", "1", "--hidden", "4", cwd=tmp_path, hide=["tqdm"])
    assert result.returncode == 0, result.stderr
    assert ACCURACY.search(result.stdout)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("with_tqdm", [True, False], ids=["tqdm", "plain"])
def test_progress_bar_on_a_terminal(monkeypatch, with_tqdm):
    if with_tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)
    stream = FakeTerminal()
    progress = cli._Progress("epoch 2/5", 60000, stream=stream)
    for done in (0, 30000, 60000):
        time.sleep(0.25)                      # both bars redraw at most every 0.1-0.2 s
        progress(done)
    progress.close()
    shown = stream.getvalue()
    if with_tqdm:
        assert "epoch 2/5" in shown and "samples/s" in shown and "60.0k/60.0k" in shown
    else:
        assert "\repoch 2/5: 60000/60000 samples (100%), " in shown and "samples/s, ETA 0 s" in shown
        assert shown.endswith("\r\033[K")                        # the line is cleared at the end
    quiet = io.StringIO()                                        # not a terminal: nothing drawn
    progress = cli._Progress("epoch 1/1", 10, stream=quiet)
    progress(10)
    progress.close()
    assert quiet.getvalue() == ""


# ------------------------------------------------------------------ compare

def test_compare_on_tiny_files(tmp_path, tiny_data, no_shared_data):
    result = run("compare", "--data-dir", tiny_data, "--hidden", "16", "--epochs", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("compare on MNIST digits: 40 training samples x 3 epochs, network 784-16-10, lr 0.1, "
                          "float64, same initial weights (seed 0); accuracy on 20 test samples")
    rows = {m[0]: m[1:] for m in re.findall(r"^  (cython|numpy) +(\d+\.\d{3}) s +([\d,]+) +(\d\.\d{4})$", out, re.M)}
    assert set(rows) == {"cython", "numpy"}
    assert rows["cython"][2] == rows["numpy"][2]                 # same accuracy
    ratio = float(re.search(r"speed ratio \(cython over numpy\): (\d+\.\d)x", out).group(1))
    assert ratio > 0
    difference = float(re.search(r"largest weight difference: (\S+)", out).group(1))
    assert difference < 1e-10


def test_compare_mnist_default_slice(tmp_path, mnist):
    result = run("compare", "--samples", "2000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2000 training samples x 1 epoch, network 784-200-10" in result.stdout
    assert float(re.search(r"largest weight difference: (\S+)", result.stdout).group(1)) < 1e-10
    accuracies = re.findall(r"^  (?:cython|numpy) .* (\d\.\d{4})$", result.stdout, re.M)
    assert len(accuracies) == 2 and accuracies[0] == accuracies[1] and float(accuracies[0]) > 0.8


def test_compare_missing_data(tmp_path, no_shared_data):
    assert_usage_error(run("compare", "--dataset", "fashion", "--data-dir", tmp_path, cwd=tmp_path),
                       "python -m cnn_core compare: error: fashion-mnist/train-images-idx3-ubyte.gz not found")


# ------------------------------------------------------------------ bench

def test_bench_quick_prints_a_table(tmp_path):
    result = run("bench", "--quick", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    table = [line for line in result.stdout.splitlines() if "samples/s" in line or re.search(r"\d+\.\d+x", line)]
    assert len(table) >= 2, result.stdout


def test_bench_is_forwarded_to_the_benchmark_module(monkeypatch):
    """`bench` hands --quick (or nothing) to cnn_core.benchmark.main and returns its exit code."""
    calls = []
    fake = type(sys)("cnn_core.benchmark")
    fake.main = lambda argv=None: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "cnn_core.benchmark", fake)
    assert cli.main(["bench", "--quick"]) == 0 and cli.main(["bench"]) == 0
    assert calls == [["--quick"], []]


# ------------------------------------------------------------------ backquery

@pytest.fixture
def tiny_model(tmp_path, tiny_data, no_shared_data):
    result = run("train", "--data-dir", tiny_data, "--epochs", "1", "--hidden", "20", "--save", "tiny.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "tiny.npz"


def test_backquery_writes_ten_pictures_and_a_grid(tmp_path, tiny_model):
    require_matplotlib()
    result = run("backquery", tiny_model, "--out", "pictures", "--names", "fashion", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "pictures").iterdir())
    assert names == sorted([f"backquery_{k}.png" for k in range(10)] + ["backquery_grid.png"])
    assert "wrote 10 backquery images and their grid to pictures" in result.stdout
    for name in names:
        assert (tmp_path / "pictures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_backquery_bad_model_files(tmp_path):
    assert_usage_error(run("backquery", "nothing.npz", cwd=tmp_path),
                       "python -m cnn_core backquery: error: nothing.npz: no such file")
    (tmp_path / "text.npz").write_text("not a network")
    assert_usage_error(run("backquery", "text.npz", cwd=tmp_path), "text.npz: not a network file")
    numpy.savez(tmp_path / "other.npz", weights=numpy.zeros(3))
    assert_usage_error(run("backquery", "other.npz", cwd=tmp_path), "other.npz: not a valid cnn_core network file")


def test_backquery_errors(tmp_path, tiny_model):
    assert_usage_error(run("backquery", tiny_model, cwd=tmp_path, hide=["matplotlib"]),
                       "plotting needs matplotlib: pip install 'cnn_core[plot]'")
    require_matplotlib()
    cnn_core.neuralNetwork(4, 5, 3, 0.1, seed=0).save(tmp_path / "iris.npz")
    assert_usage_error(run("backquery", "iris.npz", cwd=tmp_path),
                       "iris.npz: backquery images need a network whose inputs are a square image")
    assert_usage_error(run("backquery", tiny_model, "--names", "a,b", cwd=tmp_path), "2 names for 10 output nodes")
    assert_usage_error(run("backquery", tiny_model, "--out", "no/such/dir", cwd=tmp_path),
                       "the folder no/such does not exist")
    assert not (tmp_path / "backquery").exists()
