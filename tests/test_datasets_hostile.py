"""Hostile data files: random, truncated or lying bytes give a ValueError naming the file, never a
crash, a hang or a silent wrong array (hypothesis)."""
import gzip
import struct

import numpy
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cnn_core import datasets

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(data=st.binary(max_size=300), compress=st.booleans())
def test_random_bytes_as_idx(tmp_path, data, compress):
    path = tmp_path / ("f.gz" if compress else "f.idx")
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        array = datasets.read_idx(path)
    except ValueError as exc:
        assert str(path) in str(exc)
        return
    # accepted: then it really was IDX, and the array is exactly its bytes
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    assert array.shape == shape and array.dtype == numpy.uint8
    assert array.tobytes() == data[4 + 4 * ndim:]


@SETTINGS
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=3), cut=st.integers(0, 30),
       extra=st.integers(0, 3), lie=st.integers(-2, 2))
def test_truncated_padded_and_lying_headers(tmp_path, shape, cut, extra, lie):
    body = bytes(range(int(numpy.prod(shape)))) if numpy.prod(shape) else b""
    declared = list(shape)
    declared[0] = max(0, declared[0] + lie)
    data = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *declared) + body + b"\x00" * extra
    data = data[:max(0, len(data) - cut)]
    path = tmp_path / "h.gz"
    path.write_bytes(gzip.compress(data))
    consistent = (cut == 0 and extra == 0 and lie == 0) or (
        len(data) == 4 + 4 * len(shape) + int(numpy.prod(declared)) and len(data) >= 4 + 4 * len(shape))
    try:
        array = datasets.read_idx(path)
    except ValueError as exc:
        assert "h.gz" in str(exc)
        assert not (cut == 0 and extra == 0 and lie == 0)
        return
    assert consistent
    assert array.shape == tuple(declared)


def test_a_huge_declared_size_is_refused_without_allocating(tmp_path):
    data = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**31, 2**31, 2**31) + b"\x00" * 10
    path = tmp_path / "huge.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(ValueError, match="huge.gz"):
        datasets.read_idx(path)


@SETTINGS
@given(text=st.text(alphabet="0123456789,-. \nx", max_size=400))
def test_random_text_as_book_csv(tmp_path, text):
    path = tmp_path / "m.csv"
    path.write_text(text)
    try:
        images, labels = datasets.load_mnist_csv(path)
    except ValueError as exc:
        assert "m.csv" in str(exc)
        return
    assert images.shape[1] == 784 and len(images) == len(labels)


@SETTINGS
@given(text=st.text(alphabet="0123456789,.-abcdefghijklmnopqrstuvwxyz_\n", max_size=300))
def test_random_text_as_iris(tmp_path, text):
    (tmp_path / "iris").mkdir(exist_ok=True)
    path = tmp_path / "iris" / "iris.csv"
    path.write_text(text)
    try:
        X, y, names = datasets.load_iris(data_dir=tmp_path, download=False)
    except ValueError as exc:
        assert "iris.csv" in str(exc)
        return
    assert X.shape == (len(y), 4) and numpy.isfinite(X).all()


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_as_csv_and_iris(tmp_path, data):
    (tmp_path / "iris").mkdir(exist_ok=True)
    (tmp_path / "iris" / "iris.csv").write_bytes(data)
    (tmp_path / "m.csv").write_bytes(data)
    for name, load in (("m.csv", lambda: datasets.load_mnist_csv(tmp_path / "m.csv")),
                       ("iris.csv", lambda: datasets.load_iris(data_dir=tmp_path, download=False))):
        try:
            load()
        except ValueError as exc:
            assert name in str(exc), exc


def test_a_gzip_bomb_is_not_decompressed(tmp_path):
    """10 bytes declared, 200 MB of zeros behind them: refused after reading 11 bytes of data."""
    import zlib
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", 10)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)          # gzip container
    chunks = [compressor.compress(header)]
    zeros = b"\x00" * (1 << 20)
    chunks += [compressor.compress(zeros) for _ in range(200)]
    chunks.append(compressor.flush())
    path = tmp_path / "bomb.gz"
    path.write_bytes(b"".join(chunks))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match=r"bomb.gz: IDX data of shape \(10,\) needs 10 bytes, the file has more \(extra bytes\)"):
        datasets.read_idx(path)
