"""Readers of the data sets: tiny files written here, and the real files when they are present."""
import gzip
import struct

import numpy
import pytest
from numpy.testing import assert_array_equal

from cnn_core import datasets


def write_idx(path, array, magic_type=0x08, compress=True, cut=0):
    array = numpy.asarray(array, numpy.uint8)
    data = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    data = data[: len(data) - cut]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def tiny_mnist(root, folder="mnist", n_train=5, n_test=3):
    rng = numpy.random.default_rng(0)
    parts = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=numpy.uint8)
        labels = rng.integers(0, 10, n, dtype=numpy.uint8)
        write_idx(root / folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
        parts[prefix] = (images, labels)
    return parts


@pytest.mark.parametrize("kind, folder", [("digits", "mnist"), ("fashion", "fashion-mnist")])
def test_load_mnist_from_data_dir(tmp_path, kind, folder):
    parts = tiny_mnist(tmp_path, folder)
    x_train, y_train, x_test, y_test = datasets.load_mnist(kind, data_dir=tmp_path)
    assert x_train.shape == (5, 784) and x_train.dtype == numpy.uint8
    assert y_train.dtype == numpy.int64 and x_test.shape == (3, 784)
    assert_array_equal(x_train, parts["train"][0].reshape(5, 784))
    assert_array_equal(y_test, parts["t10k"][1])


def test_environment_variable_and_order(tmp_path, monkeypatch):
    tiny_mnist(tmp_path / "env", n_train=4)
    tiny_mnist(tmp_path / "arg", n_train=2)
    monkeypatch.setenv("CNN_CORE_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert len(datasets.load_mnist()[0]) == 4
    assert len(datasets.load_mnist(data_dir=tmp_path / "arg")[0]) == 2


def test_missing_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_CORE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(datasets.DataNotFoundError, match=r"mnist/train-images-idx3-ubyte.gz not found "
                       r"\(looked in .*nothing/mnist, .*cache/cnn_core/mnist\) and downloading is off "
                       r"\(download=False\)\. .*CNN_CORE_DATA.*CNN_CORE_MIRROR"):
        datasets.load_mnist(data_dir=tmp_path / "nothing", download=False)
    with pytest.raises(datasets.DataNotFoundError, match=r"iris/iris.csv not found .*download=False"):
        datasets.load_iris(data_dir=tmp_path / "nothing", download=False)


def test_unknown_kind():
    with pytest.raises(ValueError, match=r"Unknown kind 'letters'; expected one of \['digits', 'fashion'\]"):
        datasets.load_mnist("letters")


def test_read_idx_refuses_bad_files(tmp_path):
    good = numpy.arange(24, dtype=numpy.uint8).reshape(2, 3, 4)
    assert_array_equal(datasets.read_idx(write_idx(tmp_path / "a.gz", good)), good)
    assert_array_equal(datasets.read_idx(write_idx(tmp_path / "a.idx", good, compress=False)), good)
    with pytest.raises(ValueError, match=r"cut.gz: IDX data of shape \(2, 3, 4\) needs 24 bytes, the file has 21 \(truncated\)"):
        datasets.read_idx(write_idx(tmp_path / "cut.gz", good, cut=3))
    with pytest.raises(ValueError, match=r"magic.gz: not an IDX file of unsigned bytes"):
        datasets.read_idx(write_idx(tmp_path / "magic.gz", good, magic_type=0x0D))
    (tmp_path / "notgzip.gz").write_bytes(b"plain bytes")
    with pytest.raises(ValueError, match=r"notgzip.gz: cannot read the IDX file"):
        datasets.read_idx(tmp_path / "notgzip.gz")
    (tmp_path / "header.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0])))
    with pytest.raises(ValueError, match=r"truncated IDX header"):
        datasets.read_idx(tmp_path / "header.gz")


def test_mnist_csv(tmp_path):
    rows = [[7] + list(range(784)), [0] + [255] * 784]
    rows[0][1:] = [v % 256 for v in rows[0][1:]]
    path = tmp_path / "m.csv"
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    images, labels = datasets.load_mnist_csv(path)
    assert images.shape == (2, 784) and images.dtype == numpy.uint8
    assert_array_equal(labels, [7, 0])
    assert images[1].min() == 255
    path.write_text("7," + ",".join(["1"] * 783) + "\n")
    with pytest.raises(ValueError, match=r"m.csv, line 1: expected 785 values .*got 784"):
        datasets.load_mnist_csv(path)
    path.write_text("7," + ",".join(["300"] * 784) + "\n")
    with pytest.raises(ValueError, match=r"line 1: the label must be 0-9 and the pixels 0-255"):
        datasets.load_mnist_csv(path)
    path.write_text("x," + ",".join(["1"] * 784) + "\n")
    with pytest.raises(ValueError, match=r"line 1: expected comma-separated integers"):
        datasets.load_mnist_csv(path)


def test_iris_tiny(tmp_path):
    (tmp_path / "iris").mkdir()
    (tmp_path / "iris" / "iris.csv").write_text(
        "sepal_length,sepal_width,petal_length,petal_width,species\n"
        "5.1,3.5,1.4,0.2,setosa\n7.0,3.2,4.7,1.4,versicolor\n6.3,3.3,6.0,2.5,Iris-virginica\n")
    X, y, names = datasets.load_iris(data_dir=tmp_path)
    assert X.shape == (3, 4) and X[1, 2] == 4.7
    assert_array_equal(y, [0, 1, 2])
    assert names == ("setosa", "versicolor", "virginica")
    (tmp_path / "iris" / "iris.csv").write_text("a,b,c,d,e\n1,2,3,4,rose\n")
    with pytest.raises(ValueError, match=r"line 2: expected 4 numbers and a species"):
        datasets.load_iris(data_dir=tmp_path)


# ---------------------------------------------------------------- the real files

def test_real_mnist(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert numpy.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert numpy.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_fashion(data_dir):
    x_train, y_train, x_test, y_test = datasets.load_mnist("fashion", data_dir=data_dir)
    assert numpy.bincount(y_train).tolist() == [6000] * 10
    assert numpy.bincount(y_test).tolist() == [1000] * 10


def test_real_csv_is_the_first_mnist_images(data_dir, mnist):
    images, labels = datasets.load_mnist_csv(data_dir / "mnist-csv" / "mnist_test_10.csv")
    assert labels.tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert_array_equal(images, mnist[2][:10])
    train, train_labels = datasets.load_mnist_csv(data_dir / "mnist-csv" / "mnist_train_100.csv")
    assert_array_equal(train, mnist[0][:100])
    assert_array_equal(train_labels, mnist[1][:100])


def test_real_iris(data_dir):
    X, y, _ = datasets.load_iris(data_dir=data_dir)
    assert X.shape == (150, 4)
    assert numpy.bincount(y).tolist() == [50, 50, 50]
    assert_array_equal(numpy.round(X.mean(axis=0), 4), [5.8433, 3.0573, 3.758, 1.1993])


def test_truncated_gzip_and_mismatched_counts(tmp_path):
    good = numpy.arange(24, dtype=numpy.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "whole.gz", good)
    (tmp_path / "cut-stream.gz").write_bytes(path.read_bytes()[:-12])      # gzip stream cut off
    with pytest.raises(ValueError, match=r"cut-stream.gz: cannot read the IDX file: Compressed file ended"):
        datasets.read_idx(tmp_path / "cut-stream.gz")
    parts = tiny_mnist(tmp_path, n_train=5)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", parts["train"][1][:4])
    with pytest.raises(ValueError, match=r"mnist/train: images \(5, 28, 28\) and labels \(4,\) do not match"):
        datasets.load_mnist(data_dir=tmp_path, download=False)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", [1, 2, 3, 4, 12])
    with pytest.raises(ValueError, match=r"mnist/train: labels must be 0-9; found 12"):
        datasets.load_mnist(data_dir=tmp_path, download=False)


def test_mnist_csv_truncated_and_empty(tmp_path):
    line = "3," + ",".join(["7"] * 784)
    path = tmp_path / "cut.csv"
    path.write_text(line + "\n" + ",".join(line.split(",")[:500]))   # the last line was cut off
    with pytest.raises(ValueError, match=r"cut.csv, line 2: expected 785 values .*got 500"):
        datasets.load_mnist_csv(path)
    path.write_text("\n\n")
    with pytest.raises(ValueError, match=r"cut.csv: no data lines"):
        datasets.load_mnist_csv(path)


def test_book_encodings():
    assert_array_equal(datasets.book_inputs(numpy.array([[0, 255]], numpy.uint8)), [[0.01, 1.0]])
    assert datasets.book_inputs(numpy.array([51], numpy.uint8))[0] == 51 / 255.0 * 0.99 + 0.01
    assert_array_equal(datasets.book_scale([0.0, 4.0, 8.0], 8.0), [0.01, 0.505, 1.0])
    assert_array_equal(datasets.book_targets(numpy.array([2, 0]), 3), [[0.01, 0.01, 0.99], [0.99, 0.01, 0.01]])
    with pytest.raises(ValueError, match=r"labels must lie in 0..9 for 10 output nodes; got values from 0 to 10"):
        datasets.book_targets(numpy.array([0, 10]))
    with pytest.raises(ValueError, match=r"labels must be a 1-D array of integers; got float64"):
        datasets.book_targets(numpy.array([0.0, 1.0]))


def test_iris_split_is_every_fifth_row():
    X = numpy.arange(150 * 4).reshape(150, 4)
    y = numpy.repeat([0, 1, 2], 50)
    x_train, y_train, x_test, y_test = datasets.iris_split(X, y)
    assert x_train.shape == (120, 4) and x_test.shape == (30, 4)
    assert_array_equal(x_test[:, 0] // 4, numpy.arange(4, 150, 5))
    assert numpy.bincount(y_test).tolist() == [10, 10, 10]
    assert numpy.bincount(y_train).tolist() == [40, 40, 40]
