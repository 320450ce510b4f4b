"""The data sets of the documents: MNIST and Fashion-MNIST (IDX), the book's MNIST CSV, Iris.

Files are looked for, in order, in ``data_dir``, in ``$CNN_CORE_DATA`` and in the user cache
(``$XDG_CACHE_HOME/cnn_core`` or ``~/.cache/cnn_core``), each with the layout of the shared
data folder::

    mnist/train-images-idx3-ubyte.gz   (and the three other IDX files)
    fashion-mnist/train-images-idx3-ubyte.gz ...
    iris/iris.csv
"""
import gzip
import os
import struct
from pathlib import Path

import numpy

__all__ = ["load_mnist", "load_mnist_csv", "load_iris", "read_idx", "search_dirs", "find_file",
           "DataNotFoundError"]

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_FOLDERS = {"digits": "mnist", "fashion": "fashion-mnist"}
IRIS_FILE = ("iris", "iris.csv")
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
_IDX_TYPES = {0x08: numpy.uint8}


class DataNotFoundError(FileNotFoundError):
    """A data set file is in none of the places looked at; the message says where to put it."""


def search_dirs(data_dir=None):
    """The folders searched for data files, in order: data_dir, $CNN_CORE_DATA, the user cache."""
    dirs = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    if os.environ.get("CNN_CORE_DATA"):
        dirs.append(Path(os.environ["CNN_CORE_DATA"]).expanduser())
    dirs.append(cache_dir())
    return dirs


def cache_dir():
    """The user cache folder: $XDG_CACHE_HOME/cnn_core, or ~/.cache/cnn_core."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnn_core"


def find_file(folder, name, data_dir=None):
    """The path of `folder`/`name` in the first search folder that has it (a flat layout, the
    file directly in the search folder, is also accepted); DataNotFoundError otherwise."""
    dirs = search_dirs(data_dir)
    for base in dirs:
        for candidate in (base / folder / name, base / name):
            if candidate.is_file():
                return candidate
    looked = ", ".join(str(d / folder) for d in dirs)
    raise DataNotFoundError(
        f"{folder}/{name} not found (looked in {looked}). Put the file there, or set "
        f"CNN_CORE_DATA to a folder holding {folder}/{name} (for example the project's "
        f"../shared/datasets), or pass data_dir=.")


def read_idx(path):
    """An IDX file (gzip-compressed or not) as a NumPy array of its shape: images (N, rows, cols),
    labels (N,). ValueError naming the file when it is truncated or not IDX."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:      # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot read the IDX file: {exc}.") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex() or 'missing'}, "
                         f"expected 0000080N).")
    ndim = data[3]
    if ndim < 1 or len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions).")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    expected = int(numpy.prod(shape, dtype=numpy.int64))
    body = memoryview(data)[4 + 4 * ndim:]
    if len(body) != expected:
        raise ValueError(f"{path}: IDX data of shape {shape} needs {expected} bytes, the file has "
                         f"{len(body)} ({'truncated' if len(body) < expected else 'extra bytes'}).")
    return numpy.frombuffer(body, dtype=_IDX_TYPES[data[2]]).reshape(shape).copy()


def load_mnist(kind="digits", data_dir=None):
    """MNIST (``kind="digits"``) or Fashion-MNIST (``kind="fashion"``) from the IDX files.

    Returns ``(x_train, y_train, x_test, y_test)``: uint8 images flattened to (N, 784) (0 is
    background, 255 is ink) and int64 labels 0-9."""
    if kind not in MNIST_FOLDERS:
        raise ValueError(f"Unknown kind {kind!r}; expected one of {sorted(MNIST_FOLDERS)}.")
    folder = MNIST_FOLDERS[kind]
    arrays = [read_idx(find_file(folder, name, data_dir)) for name in MNIST_FILES]
    x_train, y_train, x_test, y_test = arrays
    for images, labels, name in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{folder}/{name}: images {images.shape} and labels {labels.shape} "
                             f"do not match.")
        if labels.size and labels.max() > 9:
            raise ValueError(f"{folder}/{name}: labels must be 0-9; found {labels.max()}.")
    return (x_train.reshape(len(x_train), -1), y_train.astype(numpy.int64),
            x_test.reshape(len(x_test), -1), y_test.astype(numpy.int64))


def load_mnist_csv(path):
    """The book's MNIST CSV (a label, then 784 pixel values, per line; no header).

    Returns ``(images, labels)``: uint8 (N, 784) and int64 (N,)."""
    path = Path(path)
    rows = []
    with open(path, "r") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                values = [int(v) for v in line.split(",")]
            except ValueError:
                raise ValueError(f"{path}, line {number}: expected comma-separated integers.") from None
            if len(values) != 785:
                raise ValueError(f"{path}, line {number}: expected 785 values (a label and 784 "
                                 f"pixels); got {len(values)}.")
            if not 0 <= values[0] <= 9 or min(values[1:]) < 0 or max(values[1:]) > 255:
                raise ValueError(f"{path}, line {number}: the label must be 0-9 and the pixels "
                                 f"0-255.")
            rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no data lines.")
    table = numpy.array(rows, dtype=numpy.int64)
    return table[:, 1:].astype(numpy.uint8), table[:, 0].copy()


def load_iris(data_dir=None):
    """Fisher's Iris data: ``(features, labels, class_names)`` with float64 features (150, 4) in
    cm (sepal length, sepal width, petal length, petal width), int64 labels 0-2 and the names
    ("setosa", "versicolor", "virginica")."""
    path = find_file(*IRIS_FILE, data_dir=data_dir)
    features, labels = [], []
    with open(path, "r") as f:
        header = f.readline().strip().split(",")
        if len(header) != 5:
            raise ValueError(f"{path}: expected a header of 5 columns; got {header}.")
        for number, line in enumerate(f, 2):
            if not line.strip():
                continue
            fields = line.strip().split(",")
            species = fields[-1].removeprefix("Iris-")
            if len(fields) != 5 or species not in IRIS_CLASSES:
                raise ValueError(f"{path}, line {number}: expected 4 numbers and a species of "
                                 f"{list(IRIS_CLASSES)}; got {line.strip()!r}.")
            try:
                features.append([float(v) for v in fields[:4]])
            except ValueError:
                raise ValueError(f"{path}, line {number}: the 4 measurements must be numbers.") from None
            labels.append(IRIS_CLASSES.index(species))
    return numpy.array(features), numpy.array(labels, dtype=numpy.int64), IRIS_CLASSES
