"""Network.save / Network.load: round trips (parameters, optimizer state, history) and bad files."""
import json

import numpy
import pytest
from numpy.testing import assert_array_equal

import cnn_core
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD, Adam, InverseTimeDecay


def trained(dtype=numpy.float64, optimizer=None, backend="cython"):
    net = cnn_core.Network([Dense(4, 6, "tanh", seed=0, dtype=dtype),
                            Dense(6, 5, "sigmoid", slope=0.5, bias=False, init="book", seed=1, dtype=dtype),
                            Dense(5, 3, "softmax", init=0.01, seed=2, dtype=dtype)],
                           loss="cross_entropy", optimizer=optimizer or Adam(0.01), backend=backend)
    rng = numpy.random.default_rng(0)
    X, y = rng.random((30, 4)), rng.integers(0, 3, 30)
    net.fit(X, y, epochs=3, batch_size=4, seed=1, validation_data=(X[:5], y[:5]))
    return net, X, y


@pytest.mark.parametrize("make_opt", [lambda: Adam(0.01), lambda: SGD(InverseTimeDecay(0.1, 0.5, 10), momentum=0.9)])
def test_round_trip(tmp_path, dtype, make_opt):
    net, X, y = trained(dtype, make_opt())
    net.save(tmp_path / "net.npz")
    back = cnn_core.Network.load(tmp_path / "net.npz")
    assert [repr(l) for l in back.layers] == [repr(l) for l in net.layers]
    assert back.loss_function == "cross_entropy" and back.dtype == dtype
    assert back.layers[1].slope == 0.5 and back.layers[1].b is None and back.layers[1].init == "book"
    assert back.layers[2].init == 0.01
    for a, b in zip(net.layers, back.layers):
        assert_array_equal(a.W, b.W)
        if a.bias:
            assert_array_equal(a.b, b.b)
    assert_array_equal(back.predict(X), net.predict(X))
    assert back.history == net.history or all(
        numpy.allclose(back.history[k], net.history[k], equal_nan=True) for k in net.history)
    assert type(back.optimizer) is type(net.optimizer)
    assert back.optimizer.get_config() == net.optimizer.get_config()
    assert back.optimizer.iterations == net.optimizer.iterations
    # training goes on exactly as it would have: the optimizer state came back too
    net.fit(X, y, epochs=2, batch_size=4, seed=9)
    back.fit(X, y, epochs=2, batch_size=4, seed=9)
    for a, b in zip(net.layers, back.layers):
        assert_array_equal(a.W, b.W)


def test_load_on_the_other_backend(tmp_path):
    net, X, _ = trained()
    net.save(tmp_path / "net.npz")
    back = cnn_core.Network.load(tmp_path / "net.npz", backend="numpy")
    assert back.backend == "numpy"
    numpy.testing.assert_allclose(back.predict(X), net.predict(X), rtol=1e-12)


def test_save_writes_exactly_the_path_given(tmp_path):
    """numpy.savez adds ".npz" to a name without it, so load(p) after save(p) failed; save writes
    exactly to p now (issue 14)."""
    net, _, _ = trained()
    net.save(tmp_path / "model")
    assert not (tmp_path / "model.npz").exists()
    assert cnn_core.Network.load(tmp_path / "model").n_in == 4


def fields_of(path):
    with numpy.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("change, match", [
    (lambda f: f.update(kind=numpy.array("cnn_core.neuralNetwork")), r"kind is"),
    (lambda f: f.update(format_version=numpy.array(7)), r"format version 7"),
    (lambda f: f.update(config=numpy.array("{not json")), r"not a valid cnn_core Network file"),
    (lambda f: f.update(layer0_W=numpy.zeros((4, 7))), r"layer 0: W must have shape \(4, 6\)"),
    (lambda f: f.update(layer0_W=numpy.full((4, 6), numpy.nan)), r"layer 0: W must be finite"),
    (lambda f: f.pop("layer2_b"), r"lacks \['layer2_b'\]"),
    (lambda f: f.update(layer0_W=numpy.zeros((4, 6), numpy.float32)), r"layer0_W is float32, the file says float64"),
    (lambda f: f.update(config=numpy.array(json.dumps({**json.loads(str(f["config"])), "loss": "hinge"}))),
     r"Unknown loss 'hinge'"),
    (lambda f: f.update(optimizer0_0=numpy.zeros(3)), r"optimizer state 0 does not match layer 0"),
])
def test_bad_files_are_refused(tmp_path, change, match):
    net, _, _ = trained()
    net.save(tmp_path / "good.npz")
    fields = fields_of(tmp_path / "good.npz")
    change(fields)
    numpy.savez(tmp_path / "bad.npz", **fields)
    with pytest.raises(ValueError, match=match):
        cnn_core.Network.load(tmp_path / "bad.npz")


def test_pickles_and_other_files_are_refused(tmp_path):
    numpy.save(tmp_path / "obj.npy", numpy.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"obj.npy: not a valid cnn_core Network file: it is not an .npz archive\.$"):
        cnn_core.Network.load(tmp_path / "obj.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=r"junk.npz: not a valid cnn_core Network file"):
        cnn_core.Network.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        cnn_core.Network.load(tmp_path / "missing.npz")


# ------------------------------------------------------------------------------------------
# Hostile, truncated, corrupted and inconsistent files: always a ValueError naming the file
# ------------------------------------------------------------------------------------------

def members_of(path):
    import zipfile
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def write_members(path, members, compression=None):
    import zipfile
    with zipfile.ZipFile(path, "w", compression or zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def npy_header(shape, descr="<f8"):
    import io
    buf = io.BytesIO()
    numpy.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def pickled_object_array():
    import io
    buf = io.BytesIO()
    numpy.save(buf, numpy.array([{"payload": 1}], dtype=object), allow_pickle=True)
    return buf.getvalue()


def refused(path, match):
    with pytest.raises(ValueError, match=match) as info:
        cnn_core.Network.load(path)
    assert str(info.value).startswith(f"{path}: not a valid cnn_core Network file: "), str(info.value)
    assert str(info.value).count("not a valid") == 1, str(info.value)
    return str(info.value)


@pytest.fixture
def saved(tmp_path):
    net, X, y = trained()
    net.save(tmp_path / "good.npz")
    return tmp_path / "good.npz"


def test_a_header_declaring_a_huge_array_is_refused_without_allocating(saved, tmp_path):
    """numpy.load allocates what a member's header declares before reading: a MemoryError for
    10**13 values. The header must agree with the size the archive holds."""
    members = members_of(saved)
    members["layer0_W.npy"] = npy_header((10 ** 9, 10 ** 4)) + bytes(64)
    write_members(tmp_path / "huge.npz", members)
    refused(tmp_path / "huge.npz", r"layer0_W is truncated or corrupted: its header declares "
                                   r"80000000000000 bytes of data \(shape \(1000000000, 10000\), float64\), "
                                   r"the archive holds 64")


@pytest.mark.parametrize("member", ["layer0_W.npy", "config.npy", "optimizer1_0.npy", "kind.npy"])
def test_pickled_object_arrays_are_never_loaded(saved, tmp_path, member):
    members = members_of(saved)
    members[member] = pickled_object_array()
    write_members(tmp_path / "hostile.npz", members)
    refused(tmp_path / "hostile.npz", rf"{member[:-4]} holds Python objects \(pickled data\), which are never loaded")


def test_every_truncation_is_refused(saved, tmp_path):
    data = saved.read_bytes()
    for n in list(range(0, 600, 3)) + list(range(600, len(data), 97)) + [len(data) - 1]:
        (tmp_path / "cut.npz").write_bytes(data[:n])
        refused(tmp_path / "cut.npz", r".")


def test_flipped_bytes_are_refused_or_harmless(saved, tmp_path):
    """A flipped byte in the data is caught by the archive's CRC-32, in a header or directory by
    the checks; a flip the format cannot see (e.g. in a local header's timestamp) loads the very
    same network."""
    data = saved.read_bytes()
    good = cnn_core.Network.load(saved)
    rng = numpy.random.default_rng(0)
    loaded = 0
    for position in rng.choice(len(data), 300, replace=False):
        corrupt = bytearray(data)
        corrupt[position] ^= 1 << int(rng.integers(0, 8))
        (tmp_path / "flip.npz").write_bytes(bytes(corrupt))
        try:
            net = cnn_core.Network.load(tmp_path / "flip.npz")
        except ValueError as exc:
            assert str(exc).startswith(f"{tmp_path / 'flip.npz'}: not a valid cnn_core Network file: ")
            continue
        loaded += 1
        for a, b in zip(good.layers, net.layers):
            assert a._params.tobytes() == b._params.tobytes()
    assert loaded < 60


def test_other_compression_methods_and_versions_are_refused(saved, tmp_path):
    import zipfile
    write_members(tmp_path / "bz.npz", members_of(saved), zipfile.ZIP_BZIP2)
    refused(tmp_path / "bz.npz", r"kind is stored with compression method 12; numpy.savez writes 0 \(stored\) or 8 \(deflate\)")
    write_members(tmp_path / "deflated.npz", members_of(saved), zipfile.ZIP_DEFLATED)
    assert cnn_core.Network.load(tmp_path / "deflated.npz").n_in == 4        # numpy.savez_compressed's
    members = members_of(saved)
    members["layer0_W.npy"] = b"\x93NUMPY\x09\x00" + members["layer0_W.npy"][8:]
    write_members(tmp_path / "v9.npz", members)
    refused(tmp_path / "v9.npz", r"layer0_W (has .npy format version|is not a .npy array)")
    members["layer0_W.npy"] = b"not an npy"
    write_members(tmp_path / "garbage.npz", members)
    refused(tmp_path / "garbage.npz", r"layer0_W is not a .npy array")


def config_of(path):
    return json.loads(str(fields_of(path)["config"]))


def with_config(saved, tmp_path, change):
    fields = fields_of(saved)
    config = json.loads(str(fields["config"]))
    change(config)
    fields["config"] = numpy.array(json.dumps(config))
    numpy.savez(tmp_path / "changed.npz", **fields)
    return tmp_path / "changed.npz"


@pytest.mark.parametrize("change, match", [
    # Adam keeps 2 arrays per layer; a file saying 1 used to load, then fit raised IndexError
    (lambda c: c["optimizer"].update(state=[1, 1, 1]), r"the optimizer state holds \[1, 1, 1\] arrays; Adam keeps 2 per layer for 3 layers"),
    (lambda c: c["optimizer"].update(state=[2, 2]), r"the optimizer state holds \[2, 2\] arrays"),
    (lambda c: c["optimizer"].update(state="2"), r"optimizer state must be a JSON array"),
    # an init that is no init used to load, and then save() failed with a TypeError
    (lambda c: c["layers"][0].update(init={"x": 1}), r"layer 0: init must be one of \['book', 'he', 'xavier'\] or a positive number"),
    (lambda c: c["layers"][0].update(init="glorot"), r"layer 0: Unknown init 'glorot'"),
    # a slope on a tanh layer used to load although Dense refuses it
    (lambda c: c["layers"][0].update(slope=2.0), r"layer 0: slope applies to the sigmoid only; got slope=2.0 with activation 'tanh'"),
    (lambda c: c["layers"][0].update(n_in=True), r"layer 0: n_in must be a positive integer; got True"),
    (lambda c: c["layers"][0].update(activation=None), r"layer 0: Unknown activation None"),
    (lambda c: c["layers"][1].update(bias="no"), r"layer 1: bias must be True or False"),
    (lambda c: c["layers"].clear(), r"it has no layers"),
    (lambda c: c.update(layers={"0": 1}), r"layers must be a JSON array; got \{'0': 1\}"),
    (lambda c: c.update(dtype="float16"), r"dtype must be numpy.float64 or numpy.float32; got 'float16'"),
    (lambda c: c.update(loss=7), r"Unknown loss 7"),
    # iterations beyond what a kernel takes used to load, and then fit raised OverflowError
    (lambda c: c["optimizer"].update(iterations=10 ** 30), r"optimizer iterations must be an integer >= 0, got 10{30}"),
    (lambda c: c["optimizer"].update(iterations=True), r"optimizer iterations must be an integer >= 0, got True"),
    (lambda c: c["optimizer"].update(name="AdamW"), r"unknown optimizer 'AdamW'"),
    (lambda c: c["optimizer"].update(config={"lr": -1}), r"lr must be a positive finite number; got -1"),
    (lambda c: c["optimizer"].update(config={"lr": 0.1, "amsgrad": True}), r"unexpected keyword argument 'amsgrad'"),
    (lambda c: c["history"].update(loss=c["history"]["loss"][:-1]), r"the history's lists differ in length"),
    (lambda c: c["history"].update(loss=["x"] * len(c["history"]["loss"])), r"history 'loss' must hold numbers"),
])
def test_inconsistent_configurations_are_refused(saved, tmp_path, change, match):
    refused(with_config(saved, tmp_path, change), match)


@pytest.mark.parametrize("text, match", [
    pytest.param("[" * 100_000 + "]" * 100_000, r"maximum recursion depth", id="nested-100000-deep"),  # was a RecursionError
    ("[]", r"config must be a JSON object; got \[\]"),
    ('{"dtype": "float64"}', r"layers must be a JSON array; got None"),
])
def test_config_texts_that_are_no_configuration(saved, tmp_path, text, match):
    fields = fields_of(saved)
    fields["config"] = numpy.array(text)
    numpy.savez(tmp_path / "text.npz", **fields)
    refused(tmp_path / "text.npz", match)


@pytest.mark.parametrize("slot, value, match", [
    (1, numpy.nan, r"optimizer state 0 \(exp_avg_sq\) is not finite"),
    (1, -1.0, r"optimizer state 0 \(exp_avg_sq\) has negative values"),
    (0, numpy.inf, r"optimizer state 0 \(exp_avg\) is not finite"),
])
def test_optimizer_state_that_is_not_a_state_is_refused(saved, tmp_path, slot, value, match):
    fields = fields_of(saved)
    fields[f"optimizer0_{slot}"] = numpy.full_like(fields[f"optimizer0_{slot}"], value)
    numpy.savez(tmp_path / "state.npz", **fields)
    refused(tmp_path / "state.npz", match)


def test_fields_of_the_wrong_kind_are_refused(saved, tmp_path):
    for change, match in [(dict(kind=numpy.array([FILE_KIND])), r"kind is array\(\['cnn_core.Network'\]"),
                          (dict(kind=numpy.array(b"cnn_core.Network")), r"kind is array\(b'cnn_core.Network'"),
                          (dict(format_version=numpy.array(1.0)), r"format_version must be a single integer"),
                          (dict(config=numpy.array([1, 2])), r"config must be a JSON text; got array\(\[1, 2\]\)"),
                          (dict(layer0_W=numpy.zeros((4, 6), ">f8")), r"layer0_W is >f8, the file says float64")]:
        fields = fields_of(saved)
        fields.update(change)
        numpy.savez(tmp_path / "kind.npz", **fields)
        refused(tmp_path / "kind.npz", match)


def test_a_path_must_be_a_path():
    with pytest.raises(TypeError, match=r"path must be a file name \(str or os.PathLike\); got int"):
        cnn_core.Network.load(3)


def test_a_directory_is_refused(tmp_path):
    refused(tmp_path, r"IsADirectoryError")


FILE_KIND = "cnn_core.Network"
