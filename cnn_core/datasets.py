"""The data sets of the documents: MNIST and Fashion-MNIST (IDX), the book's MNIST CSV, Iris.

Files are looked for, in order, in ``data_dir``, in ``$CNN_CORE_DATA`` and in the user cache
(``$XDG_CACHE_HOME/cnn_core`` or ``~/.cache/cnn_core``), each with the layout of the shared
data folder::

    mnist/train-images-idx3-ubyte.gz   (and the three other IDX files)
    fashion-mnist/train-images-idx3-ubyte.gz ...
    iris/iris.csv

A file found nowhere is downloaded (``download=True``, the default of the loaders) into the user
cache: from the public mirrors in ``MIRRORS``, or from ``mirror=`` / ``$CNN_CORE_MIRROR``, a base
URL with the same layout (``<mirror>/mnist/train-images-idx3-ubyte.gz``; a folder served by
``python -m http.server`` in a copy of the data folder is such a mirror). A download is written
to a temporary file beside its destination, checked against the published size, md5 and sha256
(``CHECKSUMS``) and only then renamed into place, so the cache never holds a partial or wrong
file. When nothing works, :class:`DataNotFoundError` says where the file was looked for, why the
download failed and where to put the file.

The book's encodings live here too, so that every script and the CLI use one definition:
:func:`book_inputs` (pixels to [0.01, 1.0]), :func:`book_targets` (0.01 / 0.99 one-hot),
:func:`book_scale` and the fixed Iris split :func:`iris_split`.
"""
import gzip
import math
import hashlib
import http.client
import os
import struct
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy

__all__ = ["load_mnist", "load_mnist_csv", "load_iris", "read_idx", "search_dirs", "find_file",
           "cache_dir", "download_urls", "book_inputs", "book_targets", "book_scale", "iris_split",
           "load_image", "rotated", "ImagesUnavailable",
           "DataNotFoundError", "MIRRORS", "CHECKSUMS", "IRIS_CLASSES", "FASHION_CLASSES"]

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_FOLDERS = {"digits": "mnist", "fashion": "fashion-mnist"}
IRIS_FILE = ("iris", "iris.csv")
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
_IDX_TYPES = {0x08: numpy.uint8}

# Public mirrors per data folder, tried in order; a file's URL is the base plus its name.
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    # seaborn-data at the commit whose iris.csv the checksums below describe
    "iris": ("https://raw.githubusercontent.com/mwaskom/seaborn-data/"
             "71e2436a092d714350de0fc409ca8a8714e7e78f/",),
}

# (folder, name) -> (bytes, md5, sha256) of the canonical releases (../shared/datasets/README.md).
CHECKSUMS = {
    ("mnist", "train-images-idx3-ubyte.gz"): (
        9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    ("mnist", "train-labels-idx1-ubyte.gz"): (
        28881, "d53e105ee54ea40749a09fcbcd1e9432",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    ("mnist", "t10k-images-idx3-ubyte.gz"): (
        1648877, "9fb629c4189551a2d022fa330f9573f3",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    ("mnist", "t10k-labels-idx1-ubyte.gz"): (
        4542, "ec29112dd5afa0611ce80d1b7f02629c",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ("fashion-mnist", "train-images-idx3-ubyte.gz"): (
        26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    ("fashion-mnist", "train-labels-idx1-ubyte.gz"): (
        29515, "25c81989df183df01b3e8a0aad5dffbe",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    ("fashion-mnist", "t10k-images-idx3-ubyte.gz"): (
        4422102, "bef4ecab320f06d8554ea6380940ec79",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    ("fashion-mnist", "t10k-labels-idx1-ubyte.gz"): (
        5148, "bb300cfdad3c16e7a12a480ee83cd310",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ("iris", "iris.csv"): (
        3858, "013d0da08d6506664ce640459139176b",
        "9cc1c345c71bcc9b486b74cbf6063fa66f4bb5e0f603a4b3c3471ec2e5e8e355"),
}

DOWNLOAD_TIMEOUT = 30.0        # seconds without data before a download is given up
_BLOCK = 1 << 16


class DataNotFoundError(FileNotFoundError):
    """A data set file is in none of the places looked at and could not be downloaded; the
    message says where it was looked for, why the download failed and where to put the file."""


class _DownloadFailed(Exception):
    """One URL did not give the file (the reason is the message); the next mirror is tried."""


def search_dirs(data_dir=None):
    """The folders searched for data files, in order: data_dir, $CNN_CORE_DATA, the user cache."""
    given = (data_dir, os.environ.get("CNN_CORE_DATA") or None)
    return [Path(d).expanduser() for d in given if d is not None] + [cache_dir()]


def cache_dir():
    """The user cache folder: $XDG_CACHE_HOME/cnn_core, or ~/.cache/cnn_core."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnn_core"


def download_urls(folder, name, mirror=None):
    """The URLs `folder`/`name` is downloaded from, in order: ``<mirror>/<folder>/<name>`` when
    `mirror` or ``$CNN_CORE_MIRROR`` is given (the argument first), else the public ``MIRRORS``."""
    base = mirror if mirror is not None else os.environ.get("CNN_CORE_MIRROR", "").strip()
    if base:
        if not isinstance(base, str):
            raise TypeError(f"mirror must be a URL string; got {base!r}.")
        return [f"{base.rstrip('/')}/{folder}/{name}"]
    return [f"{url}{name}" for url in MIRRORS.get(folder, ())]


def find_file(folder, name, data_dir=None, download=False, mirror=None):
    """The path of `folder`/`name` in the first search folder that has it (a flat layout, the
    file directly in the search folder, is also accepted). Missing everywhere: with `download`,
    fetched into the user cache and verified (see the module's docstring); otherwise, or when
    that fails, DataNotFoundError."""
    dirs = search_dirs(data_dir)
    for base in dirs:
        for candidate in (base / folder / name, base / name):
            if candidate.is_file():
                return candidate
    looked = ", ".join(str(d / folder) for d in dirs)
    if not download:
        problem = "downloading is off (download=False)"
    elif (folder, name) not in CHECKSUMS:
        problem = "it is not a file cnn_core knows how to download"
    else:
        target = cache_dir() / folder / name
        failures = []
        for url in download_urls(folder, name, mirror):
            try:
                _download(url, target, *CHECKSUMS[folder, name])
                return target
            except _DownloadFailed as exc:
                failures.append(f"{url}: {exc}")
        problem = "the download failed (" + "; ".join(failures) + ")"
    raise DataNotFoundError(
        f"{folder}/{name} not found (looked in {looked}) and {problem}. Put the file there, or "
        f"set CNN_CORE_DATA to a folder holding {folder}/{name} (for example the project's "
        f"../shared/datasets), or pass data_dir= (--data-dir on the command line); to download "
        f"it from elsewhere, set CNN_CORE_MIRROR (or mirror=) to a URL serving "
        f"<mirror>/{folder}/{name}.")


def _download(url, target, size, md5, sha256):
    """Fetch `url` into `target` atomically: a temporary file in the target's folder, checked
    against `size`, `md5` and `sha256`, then renamed. Nothing is left behind on any failure
    (including Ctrl-C); _DownloadFailed says why."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise _DownloadFailed(f"cannot write to the cache folder {target.parent} ({exc}); set "
                              f"XDG_CACHE_HOME to a writable folder") from None
    try:
        hash_md5, hash_sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)
            except urllib.error.HTTPError as exc:
                raise _DownloadFailed(f"HTTP error {exc.code} ({exc.reason})") from None
            except urllib.error.URLError as exc:
                raise _DownloadFailed(f"cannot connect ({exc.reason})") from None
            except ValueError as exc:
                raise _DownloadFailed(f"not a URL ({exc}); a mirror looks like https://host/path/ "
                                      f"or file:///folder/") from None
            except (http.client.HTTPException, OSError) as exc:
                raise _DownloadFailed(f"no answer ({type(exc).__name__}: {exc})") from None
            with response:
                announced = response.headers.get("Content-Length")
                print(f"cnn_core: downloading {url} ({_megabytes(size)}) to {target}",
                      file=sys.stderr, flush=True)
                try:
                    for block in iter(lambda: response.read(_BLOCK), b""):
                        out.write(block)
                        hash_md5.update(block)
                        hash_sha256.update(block)
                        received += len(block)
                except (http.client.HTTPException, OSError) as exc:
                    raise _DownloadFailed(f"the download broke off after {received} bytes "
                                          f"({type(exc).__name__}: {str(exc) or 'no reason given'}); "
                                          f"the partial file was deleted") from None
            out.flush()
            os.fsync(out.fileno())
        if announced is not None and announced.isdigit() and received < int(announced):
            raise _DownloadFailed(f"the download was cut short: {received} of {announced} bytes "
                                  f"arrived; the partial file was deleted")
        if (received, hash_md5.hexdigest(), hash_sha256.hexdigest()) != (size, md5, sha256):
            raise _DownloadFailed(
                f"checksum mismatch: got {received} bytes with sha256 {hash_sha256.hexdigest()}, "
                f"expected {size} bytes with sha256 {sha256} (the published file); the download "
                f"was deleted")
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _megabytes(size):
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


IDX_MAX_BYTES = 1 << 32      # a larger declared size is refused, not allocated


def read_idx(path):
    """An IDX file (gzip-compressed or not) as a NumPy array of its shape: images (N, rows, cols),
    labels (N,). ValueError naming the file when it is truncated, padded, not IDX, or declares
    more than IDX_MAX_BYTES of data; only the declared size is ever read (no gzip bomb)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic "
                                 f"{head.hex() or 'missing'}, expected 0000080N).")
            ndim = head[3]
            dims = f.read(4 * ndim)
            if ndim < 1 or len(dims) < 4 * ndim:
                raise ValueError(f"{path}: truncated IDX header ({4 + len(dims)} bytes, "
                                 f"{ndim} dimensions).")
            shape = struct.unpack(f">{ndim}I", dims)
            expected = math.prod(shape)
            if expected > IDX_MAX_BYTES:
                raise ValueError(f"{path}: the IDX header declares shape {shape}, "
                                 f"{expected} bytes; refusing more than {IDX_MAX_BYTES}.")
            body = f.read(expected + 1)
    except (OSError, EOFError) as exc:      # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot read the IDX file: {exc}.") from None
    if len(body) != expected:
        raise ValueError(f"{path}: IDX data of shape {shape} needs {expected} bytes, the file has "
                         f"{'more' if len(body) > expected else len(body)} "
                         f"({'truncated' if len(body) < expected else 'extra bytes'}).")
    return numpy.frombuffer(body, dtype=_IDX_TYPES[head[2]]).reshape(shape).copy()


def load_mnist(kind="digits", data_dir=None, download=True, mirror=None):
    """MNIST (``kind="digits"``) or Fashion-MNIST (``kind="fashion"``) from the IDX files.

    Returns ``(x_train, y_train, x_test, y_test)``: uint8 images flattened to (N, 784) (0 is
    background, 255 is ink) and int64 labels 0-9. Files are found, or downloaded, as
    :func:`find_file` says."""
    if kind not in MNIST_FOLDERS:
        raise ValueError(f"Unknown kind {kind!r}; expected one of {sorted(MNIST_FOLDERS)}.")
    folder = MNIST_FOLDERS[kind]
    paths = [find_file(folder, name, data_dir, download, mirror) for name in MNIST_FILES]
    x_train, y_train, x_test, y_test = [read_idx(path) for path in paths]
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
    for number, line in enumerate(_text_lines(path), 1):
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


def _text_lines(path):
    """The lines of a text file; ValueError naming the file when it is not UTF-8 text."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            yield from f
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file ({exc}).") from None


def load_iris(data_dir=None, download=True, mirror=None):
    """Fisher's Iris data: ``(features, labels, class_names)`` with float64 features (150, 4) in
    cm (sepal length, sepal width, petal length, petal width), int64 labels 0-2 and the names
    ("setosa", "versicolor", "virginica"). Found and downloaded as :func:`load_mnist`."""
    path = find_file(*IRIS_FILE, data_dir=data_dir, download=download, mirror=mirror)
    features, labels = [], []
    lines = _text_lines(path)
    header = next(lines, "").strip().split(",")
    if len(header) != 5:
        raise ValueError(f"{path}: expected a header of 5 columns; got {header}.")
    for number, line in enumerate(lines, 2):
        if not line.strip():
            continue
        fields = line.strip().split(",")
        species = fields[-1].removeprefix("Iris-")
        if len(fields) != 5 or species not in IRIS_CLASSES:
            raise ValueError(f"{path}, line {number}: expected 4 numbers and a species of "
                             f"{list(IRIS_CLASSES)}; got {line.strip()!r}.")
        try:
            values = [float(v) for v in fields[:4]]
        except ValueError:
            values = []
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"{path}, line {number}: the 4 measurements must be finite numbers; "
                             f"got {fields[:4]}.")
        features.append(values)
        labels.append(IRIS_CLASSES.index(species))
    if not features:
        raise ValueError(f"{path}: no data lines.")
    return numpy.array(features), numpy.array(labels, dtype=numpy.int64), IRIS_CLASSES


# ------------------------------------------------------------------ the book's encodings

def book_scale(values, maximum):
    """The book's input scaling, ``values / maximum * 0.99 + 0.01``: 0 becomes 0.01 and
    `maximum` becomes 1.0 (the sigmoid network learns badly from zero inputs). float64."""
    return numpy.asarray(values, dtype=numpy.float64) / maximum * 0.99 + 0.01


def book_inputs(images):
    """Pixels 0-255 to the book's inputs in [0.01, 1.00] (float64, same shape)."""
    return book_scale(images, 255.0)


def book_targets(labels, onodes=10):
    """Integer labels (N,) to the book's targets (N, onodes): 0.01 everywhere, 0.99 at the label."""
    labels = numpy.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D array of integers; got {labels.dtype} of shape "
                         f"{labels.shape}.")
    if labels.size and (labels.min() < 0 or labels.max() >= onodes):
        raise ValueError(f"labels must lie in 0..{onodes - 1} for {onodes} output nodes; got "
                         f"values from {labels.min()} to {labels.max()}.")
    targets = numpy.full((len(labels), onodes), 0.01)
    targets[numpy.arange(len(labels)), labels] = 0.99
    return targets


def iris_split(features, labels):
    """The fixed Iris split used by the CLI: every fifth row (rows 5, 10, ..., 150 of iris.csv,
    i.e. 0-based indices 4, 9, ..., 149; 10 per species) is the test set, the other 120 rows the
    training set. Returns ``(x_train, y_train, x_test, y_test)``."""
    features, labels = numpy.asarray(features), numpy.asarray(labels)
    test = numpy.arange(len(labels)) % 5 == 4
    return features[~test], labels[~test], features[test], labels[test]


# ------------------------------------------------------------------ your own images (book part 3)

class ImagesUnavailable(ImportError):
    """load_image needs Pillow: ``pip install "cnn_core[images]"``."""


def load_image(path, side=28, invert=None):
    """A picture of a digit (PNG, JPEG, any format Pillow reads; any size; colour or grey;
    dark-on-light or light-on-dark) as the book's network takes it: ``side * side`` inputs
    (784 for MNIST) on the book's scale, float64.

    As the book's part 3, in this order: the picture becomes greyscale (Pillow's "L", luma
    0.299 R + 0.587 G + 0.114 B; a transparent background is laid on white first); it is
    inverted (255 - value) when its background is light, so that the digit is light on dark
    as in MNIST, the background being decided from the border pixels (the outermost rows and
    columns): light when their median is above 127.5 (``invert=True``/``False`` forces it); it
    is resized to side x side by averaging the pixels each output pixel covers (Pillow's box
    filter, in floating point; bilinear when enlarging); and scaled ``x / 255 * 0.99 + 0.01``.
    No centring or cropping is done: MNIST's digits fill about 20 x 20 pixels in the middle,
    and a digit drawn to the edges or off centre is scored worse.

    Needs Pillow (``pip install "cnn_core[images]"``); without it raises
    :class:`ImagesUnavailable` (an ImportError) saying so."""
    try:
        from PIL import Image
    except ImportError:
        raise ImagesUnavailable('load_image needs Pillow: pip install "cnn_core[images]" '
                                '(or pip install Pillow)') from None
    side = int(side)
    if side < 1:
        raise ValueError(f"side must be a positive integer; got {side}.")
    try:
        with Image.open(path) as picture:
            picture.load()
            if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                rgba = picture.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                picture = Image.alpha_composite(white, rgba)
            grey = numpy.asarray(picture.convert("L"), dtype=numpy.float64)
    except OSError as exc:
        raise ValueError(f"{path}: not an image Pillow can read ({exc})") from None
    if invert is None:
        border = numpy.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        invert = bool(numpy.median(border) > 127.5)
    if invert:
        grey = 255.0 - grey
    height, width = grey.shape
    if (width, height) != (side, side):
        resample = (Image.Resampling.BOX if width >= side and height >= side
                    else Image.Resampling.BILINEAR)
        grey = numpy.asarray(Image.fromarray(grey.astype(numpy.float32), mode="F")
                             .resize((side, side), resample), dtype=numpy.float64)
    return book_inputs(numpy.clip(grey, 0.0, 255.0).reshape(side * side))


def rotated(inputs, targets, angles=(-10, 10), side=None):
    """The book's augmentation: each sample followed by its copies rotated by each of `angles`
    (degrees, anticlockwise), as the book trains them (``scipy.ndimage.rotate(image, angle,
    cval=0.01, order=1, reshape=False)`` of the side x side image; the corners that come in
    are 0.01, the book's blank). ``inputs`` (N, side * side) on the book's scale, ``targets``
    (N, onodes); `side` defaults to the square root of the row length. Returns
    ``(inputs, targets)`` with N * (1 + len(angles)) rows: sample 0, its rotations, sample 1, ...
    (float64)."""
    import scipy.ndimage
    X = numpy.asarray(inputs, dtype=numpy.float64)
    T = numpy.asarray(targets)
    X = X.reshape(1, -1) if X.ndim == 1 else X
    T = T.reshape(1, -1) if T.ndim == 1 else T
    if X.ndim != 2 or len(T) != len(X):
        raise ValueError(f"inputs must be (N, side * side) and targets (N, onodes) with the same N; "
                         f"got shapes {X.shape} and {T.shape}.")
    side = int(round(math.sqrt(X.shape[1]))) if side is None else int(side)
    if side * side != X.shape[1]:
        raise ValueError(f"rows of {X.shape[1]} values are not square images; give side= so that "
                         f"side * side == {X.shape[1]}.")
    angles = [float(a) for a in angles]
    copies = 1 + len(angles)
    out = numpy.empty((len(X) * copies, X.shape[1]))
    out[::copies] = X
    images = X.reshape(-1, side, side)
    for k, angle in enumerate(angles, 1):
        for n, image in enumerate(images):
            out[n * copies + k] = scipy.ndimage.rotate(image, angle, cval=0.01, order=1,
                                                       reshape=False).reshape(-1)
    return out, numpy.repeat(T, copies, axis=0)
