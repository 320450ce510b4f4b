"""save / load of neuralNetwork: round trips, and files that must be refused."""
import numpy
import pytest
from numpy.testing import assert_array_equal

import cnn_core


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_round_trip(tmp_path, dtype, activation):
    net = cnn_core.neuralNetwork(6, 5, 3, 0.25, dtype=dtype, activation=activation, seed=1)
    X = numpy.random.default_rng(0).random((20, 6))
    net.fit(X, numpy.full((20, 3), 0.5))        # leaves an update pending: save must include it
    path = tmp_path / "net.npz"
    net.save(path)
    back = cnn_core.neuralNetwork.load(path)
    assert (back.inodes, back.hnodes, back.onodes, back.lr) == (6, 5, 3, 0.25)
    assert back.dtype == dtype and back.activation == activation
    assert_array_equal(back.wih, net.wih)
    assert_array_equal(back.who, net.who)
    assert_array_equal(back.query(X), net.query(X))


def test_save_writes_exactly_the_path_given(tmp_path):
    """numpy.savez adds ".npz" to a name without it, so load(p) after save(p) failed; save writes
    exactly to p now (issue 14)."""
    net = cnn_core.neuralNetwork(2, 2, 2, 0.1)
    net.save(tmp_path / "model")
    assert not (tmp_path / "model.npz").exists()
    assert cnn_core.neuralNetwork.load(tmp_path / "model").inodes == 2


def good_fields(net):
    return dict(kind="cnn_core.neuralNetwork", format_version=1, inodes=net.inodes, hnodes=net.hnodes,
                onodes=net.onodes, lr=net.lr, dtype="float64", activation="sigmoid", wih=net.wih, who=net.who)


@pytest.mark.parametrize("change, match", [
    ({"format_version": 99}, r"format version 99"),
    ({"kind": "something else"}, r"kind is"),
    ({"wih": numpy.zeros((3, 3))}, r"wih must have shape \(2, 4\)"),
    ({"who": numpy.full((3, 2), numpy.nan)}, r"who must be finite"),
    ({"activation": "softmax"}, r"Unknown activation 'softmax'"),
    ({"dtype": "int8"}, r"dtype must be numpy.float64 or numpy.float32"),
    ({"lr": -1.0}, r"lr must be a positive finite number"),
    ({"inodes": 0}, r"inodes must be a positive integer"),
    ({"hnodes": numpy.array([2, 2])}, r"hnodes must be a single integer"),
    ({"wih": numpy.zeros((2, 4), numpy.float32)}, r"weights are float32/float64, the file says float64"),
])
def test_refuses_inconsistent_files(tmp_path, change, match):
    net = cnn_core.neuralNetwork(4, 2, 3, 0.1)
    path = tmp_path / "bad.npz"
    numpy.savez(path, **{**good_fields(net), **change})
    with pytest.raises(ValueError, match=r"bad\.npz: not a valid cnn_core network file: " + match):
        cnn_core.neuralNetwork.load(path)


def test_refuses_missing_fields(tmp_path):
    path = tmp_path / "partial.npz"
    numpy.savez(path, wih=numpy.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"partial\.npz: .*lacks \['kind'"):
        cnn_core.neuralNetwork.load(path)


def test_refuses_pickled_objects(tmp_path):
    net = cnn_core.neuralNetwork(4, 2, 3, 0.1)
    path = tmp_path / "evil.npz"
    numpy.savez(path, **{**good_fields(net), "wih": numpy.array([object()], dtype=object)})
    with pytest.raises(ValueError, match=r"evil\.npz: .*(pickle|Object arrays)"):
        cnn_core.neuralNetwork.load(path)


def test_refuses_truncated_and_foreign_files(tmp_path):
    net = cnn_core.neuralNetwork(4, 2, 3, 0.1)
    path = tmp_path / "net.npz"
    net.save(path)
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz: not a valid cnn_core network file"):
        cnn_core.neuralNetwork.load(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.npz: not a valid cnn_core network file"):
        cnn_core.neuralNetwork.load(tmp_path / "text.npz")
    numpy.save(tmp_path / "plain.npy", numpy.zeros(3))
    with pytest.raises(ValueError, match=r"plain\.npy: .*not an \.npz archive"):
        cnn_core.neuralNetwork.load(tmp_path / "plain.npy")
    with pytest.raises(FileNotFoundError):
        cnn_core.neuralNetwork.load(tmp_path / "missing.npz")


def test_a_header_declaring_a_huge_array_is_refused_without_allocating(tmp_path):
    """numpy.load would allocate the 10**13 values a member's header declares (MemoryError);
    the header must agree with what the archive holds."""
    import io
    import zipfile
    net = cnn_core.neuralNetwork(4, 2, 3, 0.1)
    net.save(tmp_path / "good.npz")
    with zipfile.ZipFile(tmp_path / "good.npz") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = io.BytesIO()
    numpy.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                     "shape": (10 ** 9, 10 ** 4)})
    members["wih.npy"] = header.getvalue() + bytes(64)          # magic, header, 64 bytes of data
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"huge\.npz: not a valid cnn_core network file: wih is truncated "
                                         r"or corrupted: its header declares 80000000000000 bytes"):
        cnn_core.neuralNetwork.load(tmp_path / "huge.npz")


def test_a_bad_field_is_reported_once_as_a_file_error(tmp_path):
    """inodes = 2.5 used to say "not a valid cnn_core network file: ..." twice over."""
    net = cnn_core.neuralNetwork(4, 2, 3, 0.1)
    numpy.savez(tmp_path / "half.npz", **{**good_fields(net), "inodes": 2.5})
    with pytest.raises(cnn_core.FileError) as info:
        cnn_core.neuralNetwork.load(tmp_path / "half.npz")
    assert str(info.value).count("not a valid") == 1, str(info.value)
    assert "inodes must be a single integer" in str(info.value)
