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


def test_save_adds_npz_like_numpy(tmp_path):
    net, _, _ = trained()
    net.save(tmp_path / "model")
    assert cnn_core.Network.load(tmp_path / "model.npz").n_in == 4


def fields_of(path):
    with numpy.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("change, match", [
    (lambda f: f.update(kind=numpy.array("cnn_core.neuralNetwork")), r"kind is"),
    (lambda f: f.update(format_version=numpy.array(7)), r"format version 7"),
    (lambda f: f.update(config=numpy.array("{not json")), r"not a valid cnn_core Network file"),
    (lambda f: f.update(layer0_W=numpy.zeros((4, 7))), r"layer 0 W must have shape \(4, 6\)"),
    (lambda f: f.update(layer0_W=numpy.full((4, 6), numpy.nan)), r"layer 0 W must be finite"),
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
    with pytest.raises(ValueError, match=r"not a valid cnn_core network file"):
        cnn_core.Network.load(tmp_path / "obj.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=r"junk.npz: not a valid cnn_core network file"):
        cnn_core.Network.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        cnn_core.Network.load(tmp_path / "missing.npz")
