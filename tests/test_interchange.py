"""cnn_core.interchange: ONNX export checked by onnx.checker and run by onnxruntime, PyTorch in
and out, the book's weights from arrays and files (issue 16).

Every exported model is loaded in onnxruntime and compared with ``predict``: max abs difference
<= 1e-12 in float64 and <= 1e-6 in float32. ``python tests/test_interchange.py`` prints the
largest differences measured per activation and dtype (onnxruntime and torch).
"""
import io
import os
import pickle
import sys

import numpy
import pytest

import cnn_core
from cnn_core import interchange
from cnn_core.layers import Dense

DTYPES = [numpy.float64, numpy.float32]
TOL = {numpy.float64: 1e-12, numpy.float32: 1e-6}
BATCHES = [1, 7, 5000]

# name: (hidden activation, output activation, slope, bias) of a 3-layer Network 6-9-8-4,
# or ("book", hidden activation) for the book network 6-9-4
CASES = {
    "book-sigmoid": ("book", "sigmoid"),
    "book-relu": ("book", "relu"),
    "sigmoid": ("sigmoid", "sigmoid", 1.0, True),
    "sigmoid-slope0.7": ("sigmoid", "sigmoid", 0.7, True),
    "sigmoid-slope2": ("sigmoid", "sigmoid", 2.0, True),
    "relu": ("relu", "sigmoid", 1.0, True),
    "tanh": ("tanh", "tanh", 1.0, True),
    "identity": ("identity", "identity", 1.0, True),
    "softmax": ("relu", "softmax", 1.0, True),
    "no-bias": ("tanh", "sigmoid", 1.0, False),
}


def make_net(case, dtype, seed=0):
    spec = CASES[case]
    if spec[0] == "book":
        net = cnn_core.neuralNetwork(6, 9, 4, 0.1, dtype=dtype, activation=spec[1], seed=seed)
        return net
    hidden, out, slope, bias = spec
    rng = numpy.random.default_rng(seed + 100)
    layers = [Dense(6, 9, hidden, bias=bias, dtype=dtype, seed=seed,
                    slope=slope if hidden == "sigmoid" else 1.0),
              Dense(9, 8, hidden, bias=bias, dtype=dtype, seed=seed + 1,
                    slope=slope if hidden == "sigmoid" else 1.0),
              Dense(8, 4, out, bias=bias, dtype=dtype, seed=seed + 2,
                    slope=slope if out == "sigmoid" else 1.0)]
    net = cnn_core.Network(layers, loss="cross_entropy" if out == "softmax" else "squared_error")
    for layer in net.layers:
        if layer.bias:
            layer.b = rng.normal(0, 0.5, layer.n_out)
    return net


def deep_net(dtype):
    """Every activation in one network, a slope and a layer without bias."""
    layers = [Dense(6, 9, "relu", dtype=dtype, seed=1),
              Dense(9, 8, "sigmoid", slope=0.7, dtype=dtype, seed=2),
              Dense(8, 7, "tanh", bias=False, dtype=dtype, seed=3),
              Dense(7, 5, "identity", dtype=dtype, seed=4),
              Dense(5, 4, "softmax", dtype=dtype, seed=5)]
    net = cnn_core.Network(layers, loss="cross_entropy")
    rng = numpy.random.default_rng(7)
    for layer in net.layers:
        if layer.bias:
            layer.b = rng.normal(0, 0.5, layer.n_out)
    return net


def inputs(n, dtype, seed=0):
    # as the book scales its pixels: x / 255 * 0.99 + 0.01
    pixels = numpy.random.default_rng(seed).integers(0, 256, (n, 6))
    return (pixels / 255 * 0.99 + 0.01).astype(dtype)


def ort_session(model):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed "
                              "(pip install onnxruntime)")
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_onnx(model, X):
    return ort_session(model).run(None, {"input": X})[0]


def torch_predict(module, X):
    torch = sys.modules["torch"]
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


def max_diff(a, b):
    return float(numpy.max(numpy.abs(numpy.asarray(a, numpy.float64) - numpy.asarray(b, numpy.float64))))


# ==================================================================== ONNX

try:
    import onnx
except ImportError:
    onnx = None
requires_onnx = pytest.mark.skipif(onnx is None, reason='onnx is not installed '
                                   '(pip install "cnn_core[onnx]")')


@requires_onnx
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_onnx_runtime_matches_predict(case, dtype, batch):
    net = make_net(case, dtype)
    model = interchange.to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    X = inputs(batch, dtype, seed=batch)
    Y = run_onnx(model, X)
    assert Y.dtype == dtype and Y.shape == (batch, 4)
    assert max_diff(Y, net.predict(X)) <= TOL[dtype]


NEWEST_OPSET = onnx.defs.onnx_opset_version() if onnx is not None else 17
OPSETS = list(range(13, NEWEST_OPSET + 1))


@requires_onnx
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opset", OPSETS)
def test_every_opset(opset, dtype):
    """onnx.checker passes for every opset from 13 to the newest onnx knows; onnxruntime runs
    each one it supports (with this onnxruntime: all of them) and the test is skipped, after
    the checker passed, for an opset the installed onnxruntime does not support."""
    X = inputs(7, dtype)
    for net in (deep_net(dtype), make_net("book-relu", dtype), make_net("book-sigmoid", dtype)):
        model = interchange.to_onnx(net, opset=opset)
        assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
        assert model.ir_version == onnx.helper.find_min_ir_version_for(list(model.opset_import))
        onnx.checker.check_model(model, full_check=True)
        try:
            session = ort_session(model)
        except Exception as exc:        # onnxruntime older than onnx: only the checker applies
            text = str(exc).lower()
            if "opset" in text or "ir version" in text or "ir_version" in text:
                pytest.skip(f"the installed onnxruntime does not load opset {opset} (or its IR "
                            f"version): {exc}")
            raise
        assert max_diff(session.run(None, {"input": X})[0], net.predict(X)) <= TOL[dtype]


@requires_onnx
def test_default_opset_and_ir_version():
    model = interchange.to_onnx(make_net("sigmoid", numpy.float64))
    assert interchange.DEFAULT_OPSET == 17
    assert model.opset_import[0].version == 17
    assert model.ir_version == 8            # the smallest IR version opset 17 allows


@requires_onnx
@pytest.mark.parametrize("opset, error, match", [
    (12, ValueError, r"opset must be from 13 to \d+ .*got 12"),
    (NEWEST_OPSET + 1, ValueError, rf"opset must be from 13 to {NEWEST_OPSET} .*got {NEWEST_OPSET + 1}"),
    ("17", TypeError, r"opset must be None or an int"),
    (17.0, TypeError, r"opset must be None or an int"),
    (True, TypeError, r"opset must be None or an int"),
])
def test_opset_refused(opset, error, match):
    with pytest.raises(error, match=match):
        interchange.to_onnx(make_net("sigmoid", numpy.float64), opset=opset)


@requires_onnx
def test_not_a_network():
    with pytest.raises(TypeError, match=r"expected a cnn_core.neuralNetwork or a cnn_core.Network; got Dense"):
        interchange.to_onnx(Dense(2, 2))


def ops(model):
    return [n.op_type for n in model.graph.node]


@requires_onnx
def test_book_graph():
    net = make_net("book-relu", numpy.float32)
    model = interchange.to_onnx(net)
    assert ops(model) == ["Gemm", "Relu", "Gemm", "Sigmoid", "Identity"]
    for node in model.graph.node[::2][:2]:
        assert len(node.input) == 2                 # no bias (C)
        assert {a.name: a.i for a in node.attribute} == {"transB": 1}
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    numpy.testing.assert_array_equal(weights["layer0.W"], net.wih)     # Y = X @ wih.T
    numpy.testing.assert_array_equal(weights["layer1.W"], net.who)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["N", 6]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["N", 4]


@requires_onnx
def test_network_graph():
    model = interchange.to_onnx(deep_net(numpy.float64))
    assert ops(model) == ["Gemm", "Relu", "Gemm", "Mul", "Sigmoid", "Gemm", "Tanh", "Gemm",
                          "Gemm", "Softmax", "Identity"]
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    assert [len(n.input) for n in gemms] == [3, 3, 2, 3, 3]    # the tanh layer has no bias
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    assert {a.name: a.i for a in softmax.attribute} == {"axis": -1}
    slope = next(t for t in model.graph.initializer if t.name == "layer1.slope")
    assert onnx.numpy_helper.to_array(slope) == 0.7 and slope.data_type == onnx.TensorProto.DOUBLE
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


@requires_onnx
def test_one_identity_layer():
    net = cnn_core.Network([Dense(6, 3, "identity", dtype=numpy.float32, seed=0)])
    model = interchange.to_onnx(net)
    assert ops(model) == ["Gemm", "Identity"]
    X = inputs(7, numpy.float32)
    assert max_diff(run_onnx(model, X), net.predict(X)) <= 1e-6


@requires_onnx
def test_metadata():
    props = lambda m: {p.key: p.value for p in m.metadata_props}
    book = interchange.to_onnx(make_net("book-relu", numpy.float64))
    assert book.producer_name == "cnn_core" and book.producer_version == cnn_core.__version__
    p = props(book)
    assert p["cnn_core_version"] == cnn_core.__version__
    assert p["network"] == "neuralNetwork" and p["sizes"] == "6-9-4" and p["dtype"] == "float64"
    assert p["activations"] == '["relu", "sigmoid"]'
    assert p["input_scaling"] == ("inputs as given to query(); the book's MNIST recipe scales "
                                  "pixels x / 255 * 0.99 + 0.01")
    assert "x / 255 * 0.99 + 0.01" in book.doc_string and "relu" in book.doc_string
    deep = props(interchange.to_onnx(deep_net(numpy.float32)))
    assert deep["network"] == "Network" and deep["sizes"] == "6-9-8-7-5-4"
    assert deep["activations"] == '["relu", "sigmoid", "tanh", "identity", "softmax"]'
    assert deep["slopes"] == "[1.0, 0.7, 1.0, 1.0, 1.0]"
    assert deep["biases"] == "[true, true, false, true, true]"
    assert "input_scaling" not in deep


# -------------------------------------------------------------------- writing

@requires_onnx
def test_write_to_path_str_and_pathlike(tmp_path):
    net = make_net("tanh", numpy.float64)
    X = inputs(7, numpy.float64)
    for target in (tmp_path / "a.onnx", str(tmp_path / "b.onnx")):
        model = interchange.to_onnx(net, target)
        with open(target, "rb") as f:
            data = f.read()
        assert data == model.SerializeToString()
        assert max_diff(run_onnx(onnx.load(target), X), net.predict(X)) <= 1e-12
    assert sorted(os.listdir(tmp_path)) == ["a.onnx", "b.onnx"]     # no temporary file left


@requires_onnx
def test_write_replaces_and_keeps_permissions(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    interchange.to_onnx(make_net("relu", numpy.float32), target)
    assert onnx.load(target).graph.node[0].op_type == "Gemm"
    assert (os.stat(target).st_mode & 0o777) == 0o640


@requires_onnx
def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")

    def broken(*args):
        raise OSError("disk full")
    monkeypatch.setattr(interchange.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        interchange.to_onnx(make_net("relu", numpy.float64), target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.onnx"]


@requires_onnx
def test_write_to_binary_file_object():
    buffer = io.BytesIO(b"head")
    buffer.seek(4)
    model = interchange.to_onnx(make_net("softmax", numpy.float64), buffer)
    assert buffer.getvalue() == b"head" + model.SerializeToString()


@requires_onnx
def test_write_errors(tmp_path):
    net = make_net("relu", numpy.float64)
    with pytest.raises(TypeError, match=r"to_onnx needs a binary file object \(opened with 'wb'.*text-mode StringIO"):
        interchange.to_onnx(net, io.StringIO())
    with pytest.raises(TypeError, match=r"path must be a file name \(str or os.PathLike\); got int"):
        interchange.to_onnx(net, 3)
    with pytest.raises(FileNotFoundError, match=r"the folder .*nowhere does not exist; create it"):
        interchange.to_onnx(net, tmp_path / "nowhere" / "m.onnx")
    with pytest.raises(IsADirectoryError, match=r"is a folder; give a file name in it"):
        interchange.to_onnx(net, tmp_path)
    with pytest.raises(ValueError, match=r"the path is empty"):
        interchange.to_onnx(net, "")


def test_without_onnx(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'to_onnx needs the onnx package: pip install "cnn_core\[onnx\]"'):
        interchange.to_onnx(make_net("relu", numpy.float64))


# ==================================================================== PyTorch

@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason='PyTorch is not installed (pip install "cnn_core[torch]")')


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_torch_both_ways(torch, case, dtype):
    net = make_net(case, dtype)
    book = CASES[case][0] == "book"
    module = interchange.book_to_torch(net) if book else interchange.network_to_torch(net)
    assert isinstance(module, torch.nn.Sequential)
    assert all(p.dtype == {numpy.float64: torch.float64, numpy.float32: torch.float32}[dtype]
               for p in module.parameters())
    X = inputs(5000, dtype)
    expected = net.predict(X)
    Y = torch_predict(module, X)
    assert Y.dtype == dtype and max_diff(Y, expected) <= TOL[dtype]
    back = (interchange.book_from_torch(module, 0.1) if book
            else interchange.network_from_torch(module))
    assert type(back) is type(net) and back.dtype == dtype
    numpy.testing.assert_array_equal(back.predict(X), expected)     # the same weights, exactly
    if book:
        assert (back.activation, back.lr) == (net.activation, 0.1)
    else:
        assert [(l.activation, l.slope, l.bias) for l in back.layers] == \
               [(l.activation, l.slope, l.bias) for l in net.layers]
        assert back.loss_function == net.loss_function


def test_torch_modules(torch):
    nn = torch.nn
    module = interchange.network_to_torch(deep_net(numpy.float64))
    assert [type(m).__name__ for m in module] == ["Linear", "ReLU", "Linear", "SlopedSigmoid",
                                                  "Linear", "Tanh", "Linear", "Linear", "Softmax"]
    assert module[3].slope == 0.7 and module[8].dim == -1 and module[4].bias is None
    assert isinstance(module[3], interchange.SlopedSigmoid)
    book = interchange.book_to_torch(make_net("book-sigmoid", numpy.float64))
    assert [type(m) for m in book] == [nn.Linear, nn.Sigmoid, nn.Linear, nn.Sigmoid]


def test_torch_module_pickles(torch):
    net = deep_net(numpy.float32)
    module = pickle.loads(pickle.dumps(interchange.network_to_torch(net)))
    X = inputs(7, numpy.float32)
    assert max_diff(torch_predict(module, X), net.predict(X)) <= 1e-6


def test_from_a_torch_model(torch):
    """A model made in PyTorch (its own initialisation; Identity and in-place ReLU) gives a
    Network that predicts what it does."""
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(6, 10), nn.ReLU(inplace=True), nn.Identity(), nn.Linear(10, 5),
                           nn.Tanh(), nn.Linear(5, 3), nn.Identity(), nn.Linear(3, 3),
                           nn.Softmax(dim=1)).double()
    net = interchange.network_from_torch(module)
    assert [l.activation for l in net.layers] == ["relu", "tanh", "identity", "softmax"]
    assert net.loss_function == "cross_entropy"
    X = inputs(5000, numpy.float64)
    assert max_diff(net.predict(X), torch_predict(module, X)) <= 1e-12
    pytest.importorskip("onnx", reason='onnx is not installed (pip install "cnn_core[onnx]")')
    model = interchange.to_onnx(net)                    # and on to ONNX
    assert max_diff(run_onnx(model, X), torch_predict(module, X)) <= 1e-12


def test_from_torch_errors(torch):
    nn = torch.nn
    with pytest.raises(ValueError, match=r"^from_torch: layer 2 is Conv2d; expected Linear, ReLU, "
                                         r"Sigmoid, Tanh, Softmax or Identity\.$"):
        interchange.network_from_torch(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Conv2d(1, 1, 1)))
    with pytest.raises(ValueError, match=r"layer 0 is ReLU before any Linear"):
        interchange.network_from_torch(nn.Sequential(nn.ReLU(), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match=r"layer 2 is Sigmoid, a second activation after the Linear at layer 0"):
        interchange.network_from_torch(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Sigmoid()))
    with pytest.raises(ValueError, match=r"layer 1 is Softmax\(dim=0\).*expected Softmax\(dim=-1\)"):
        interchange.network_from_torch(nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=0)))
    with pytest.raises(ValueError, match=r"has no Linear layer"):
        interchange.network_from_torch(nn.Sequential(nn.Identity()))
    with pytest.raises(TypeError, match=r"expected a torch.nn.Sequential .*got Linear.*Wrap"):
        interchange.network_from_torch(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"layer 0 \(Linear\) has dtype torch.float16.*\.double\(\)"):
        interchange.network_from_torch(nn.Sequential(nn.Linear(2, 2).half()))
    with pytest.raises(ValueError, match=r"layer 1 \(Linear\) is torch.float64 but the earlier layers are torch.float32"):
        interchange.network_from_torch(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2).double()))
    with pytest.raises(ValueError, match=r"layers\[1\] takes 3 inputs but layers\[0\] gives 2"):
        interchange.network_from_torch(nn.Sequential(nn.Linear(2, 2), nn.Linear(3, 2)))
    broken = nn.Linear(2, 2)
    with torch.no_grad():
        broken.weight[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"from_torch: the Linear at layer 2: W must be finite"):
        interchange.network_from_torch(nn.Sequential(nn.Linear(2, 2), nn.Identity(), broken))


def test_book_from_torch_errors(torch):
    nn = torch.nn
    good = [nn.Linear(3, 4, bias=False), nn.Sigmoid(), nn.Linear(4, 2, bias=False), nn.Sigmoid()]
    interchange.book_from_torch(nn.Sequential(*good), 0.1)
    with pytest.raises(ValueError, match=r"Linear layer 1 has a bias; the book network has none"):
        interchange.book_from_torch(nn.Sequential(*good[:2], nn.Linear(4, 2), good[3]), 0.1)
    with pytest.raises(ValueError, match=r"the hidden activation is tanh; expected Sequential"):
        interchange.book_from_torch(nn.Sequential(good[0], nn.Tanh(), *good[2:]), 0.1)
    with pytest.raises(ValueError, match=r"the output activation is identity"):
        interchange.book_from_torch(nn.Sequential(*good[:3]), 0.1)
    with pytest.raises(ValueError, match=r"has 3 Linear layer\(s\)"):
        interchange.book_from_torch(nn.Sequential(*good, nn.Linear(2, 2, bias=False), nn.Sigmoid()), 0.1)
    with pytest.raises(ValueError, match=r"learningrate must be a positive"):
        interchange.book_from_torch(nn.Sequential(*good), -1)


def test_wrong_network_kind(torch):
    with pytest.raises(TypeError, match=r"network_to_torch expects a cnn_core.Network; got neuralNetwork \(use book_to_torch"):
        interchange.network_to_torch(make_net("book-relu", numpy.float64))
    with pytest.raises(TypeError, match=r"book_to_torch expects a cnn_core.neuralNetwork; got Network"):
        interchange.book_to_torch(make_net("relu", numpy.float64))


def test_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    for call in (lambda: interchange.network_to_torch(make_net("relu", numpy.float64)),
                 lambda: interchange.book_to_torch(make_net("book-relu", numpy.float64))):
        with pytest.raises(ImportError, match=r'needs PyTorch: pip install "cnn_core\[torch\]"'):
            call()


# ==================================================================== the book's weights

def book_weights(dtype=numpy.float64, h=5, i=3, o=2):
    rng = numpy.random.default_rng(3)
    return rng.normal(0, h ** -0.5, (h, i)).astype(dtype), rng.normal(0, o ** -0.5, (o, h)).astype(dtype)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_book_from_arrays(dtype, activation):
    wih, who = book_weights(dtype)
    net = interchange.book_from_arrays(wih, who, 0.3, activation=activation)
    assert (net.inodes, net.hnodes, net.onodes, net.lr) == (3, 5, 2, 0.3)
    assert net.dtype == dtype and net.activation == activation
    numpy.testing.assert_array_equal(net.wih, wih)
    numpy.testing.assert_array_equal(net.who, who)
    same = cnn_core.neuralNetwork(3, 5, 2, 0.3, dtype=dtype, activation=activation)
    same.wih, same.who = wih, who
    X = numpy.random.default_rng(0).random((7, 3))
    numpy.testing.assert_array_equal(net.query(X), same.query(X))


def test_book_from_arrays_dtype_and_class():
    wih, who = book_weights(numpy.float32)
    assert interchange.book_from_arrays(wih, who, 0.1).dtype == numpy.float32
    assert interchange.book_from_arrays(wih.astype(float), who, 0.1).dtype == numpy.float64
    assert interchange.book_from_arrays(wih.tolist(), who.tolist(), 0.1).dtype == numpy.float64
    assert interchange.book_from_arrays(wih, who, 0.1, dtype=numpy.float64).dtype == numpy.float64

    class Mine(cnn_core.neuralNetwork):
        pass
    assert type(interchange.book_from_arrays(wih, who, 0.1, cls=Mine)) is Mine


@pytest.mark.parametrize("change, error, match", [
    (lambda wih, who: (wih, who.T), ValueError, r"who must have shape \(onodes, hnodes\) with hnodes = 5, the rows of wih \(hnodes, inodes\) \(5, 3\); got who of shape \(5, 2\)"),
    (lambda wih, who: (wih[0], who), ValueError, r"wih must be a 2-D array; got shape \(3,\)"),
    (lambda wih, who: (wih, numpy.where(who > 0, numpy.nan, who)), ValueError, r"who must be finite"),
    (lambda wih, who: (wih + 1j, who), TypeError, r"wih must be real numbers"),
    (lambda wih, who: (wih.astype(str), who), TypeError, r"wih must be numbers"),
    (lambda wih, who: (None, who), TypeError, r"wih must be a 2-D array of numbers; got NoneType"),
    (lambda wih, who: ([[1, 2], [3]], who), ValueError, r"wih must be a rectangular 2-D array"),
])
def test_book_from_arrays_refuses(change, error, match):
    wih, who = change(*book_weights())
    with pytest.raises(error, match=match):
        interchange.book_from_arrays(wih, who, 0.1)


def test_book_from_arrays_bad_arguments():
    wih, who = book_weights()
    with pytest.raises(ValueError, match=r"Unknown activation 'tanh'"):
        interchange.book_from_arrays(wih, who, 0.1, activation="tanh")
    with pytest.raises(ValueError, match=r"dtype must be numpy.float64 or numpy.float32"):
        interchange.book_from_arrays(wih, who, 0.1, dtype=numpy.int32)


def save_as(path, array):
    suffix = path.suffix
    if suffix == ".npy":
        numpy.save(path, array)
    elif suffix == ".csv":
        numpy.savetxt(path, array, delimiter=",")
    else:
        numpy.savetxt(path, array)                    # whitespace separated, '%.18e'


@pytest.mark.parametrize("wih_ext, who_ext", [(".npy", ".npy"), (".csv", ".csv"), (".txt", ".txt"),
                                              (".npy", ".csv")])
def test_load_book_weights(tmp_path, wih_ext, who_ext):
    wih, who = book_weights()
    wih_file, who_file = tmp_path / f"wih{wih_ext}", tmp_path / f"who{who_ext}"
    save_as(wih_file, wih)
    save_as(who_file, who)
    net = interchange.load_book_weights(wih_file, str(who_file), 0.2, activation="relu")
    assert (net.inodes, net.hnodes, net.onodes, net.activation) == (3, 5, 2, "relu")
    numpy.testing.assert_array_equal(net.wih, wih)      # savetxt's %.18e keeps every bit
    numpy.testing.assert_array_equal(net.who, who)


def test_load_book_weights_float32_and_single_rows(tmp_path):
    wih, who = book_weights(numpy.float32, h=1, i=4, o=1)
    numpy.save(tmp_path / "wih.npy", wih)
    numpy.savetxt(tmp_path / "who.txt", who)
    net = interchange.load_book_weights(tmp_path / "wih.npy", tmp_path / "who.txt", 0.1)
    assert (net.inodes, net.hnodes, net.onodes, net.dtype) == (4, 1, 1, numpy.float64)
    numpy.save(tmp_path / "who.npy", who)
    net = interchange.load_book_weights(tmp_path / "wih.npy", tmp_path / "who.npy", 0.1)
    assert net.dtype == numpy.float32


def test_load_book_weights_errors(tmp_path):
    wih, who = book_weights()
    numpy.save(tmp_path / "wih.npy", wih)
    numpy.save(tmp_path / "who.npy", who)
    numpy.save(tmp_path / "one_d.npy", who[0])
    numpy.savez(tmp_path / "both.npz", wih=wih, who=who)
    numpy.save(tmp_path / "objects.npy", numpy.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "words.csv").write_text("1,2,x\n3,4,5\n")
    (tmp_path / "ragged.txt").write_text("1 2 3\n4 5\n")
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    (tmp_path / "binary.bin").write_bytes(b"\xff\xfe\x00\x81")
    w, h = tmp_path / "wih.npy", tmp_path / "who.npy"
    cases = [
        ((tmp_path / "missing.npy", h), FileNotFoundError, r"wih: no file .*missing\.npy"),
        ((w, tmp_path), IsADirectoryError, r"who: .* is a folder"),
        ((tmp_path / "both.npz", h), ValueError, r"wih: .*both\.npz is a zip archive \(\.npz\).*neuralNetwork\.load"),
        ((w, tmp_path / "objects.npy"), ValueError, r"who: .*objects\.npy could not be read as a \.npy array"),
        ((w, tmp_path / "one_d.npy"), ValueError, r"who: .*one_d\.npy holds an array of shape \(5,\); expected a 2-D matrix \(onodes, hnodes\)"),
        ((tmp_path / "words.csv", h), ValueError, r"wih: .*words\.csv is not a matrix of numbers \(comma separated"),
        ((tmp_path / "ragged.txt", h), ValueError, r"wih: .*ragged\.txt is not a matrix of numbers \(whitespace separated"),
        ((tmp_path / "empty.txt", h), ValueError, r"wih: .*empty\.txt holds no numbers"),
        ((tmp_path / "binary.bin", h), ValueError, r"wih: .*binary\.bin is neither a \.npy file"),
        ((h, w), ValueError, r"load_book_weights\('.*who\.npy', '.*wih\.npy'\): who must have shape"),
        ((3, h), TypeError, r"wih must be a path"),
    ]
    for args, error, match in cases:
        with pytest.raises(error, match=match):
            interchange.load_book_weights(*args, 0.1)


# ==================================================================== the measurements

def measure():
    """The largest difference from predict per case and dtype over batches 1, 7 and 5,000:
    onnxruntime (default opset) and torch."""
    import torch  # noqa: F401  (torch_predict finds it in sys.modules)
    rows = []
    for case in CASES:
        for dtype in DTYPES:
            net = make_net(case, dtype)
            model = interchange.to_onnx(net)
            module = (interchange.book_to_torch(net) if CASES[case][0] == "book"
                      else interchange.network_to_torch(net))
            d_ort = d_torch = 0.0
            for n in BATCHES:
                X = inputs(n, dtype, seed=n)
                P = net.predict(X)
                d_ort = max(d_ort, max_diff(run_onnx(model, X), P))
                d_torch = max(d_torch, max_diff(torch_predict(module, X), P))
            rows.append((case, numpy.dtype(dtype).name, d_ort, d_torch))
    return rows


if __name__ == "__main__":
    print(f"{'case':18} {'dtype':8} {'onnxruntime':>12} {'torch':>12}")
    for case, dtype, d_ort, d_torch in measure():
        print(f"{case:18} {dtype:8} {d_ort:12.2e} {d_torch:12.2e}")


# ==================================================================== the methods

@requires_onnx
def test_the_methods_are_the_functions(tmp_path):
    book = cnn_core.neuralNetwork(4, 3, 2, 0.1, seed=0)
    deep = make_net("relu", numpy.float64)
    for net in (book, deep):
        assert net.to_onnx() == interchange.to_onnx(net)
        net.to_onnx(tmp_path / "m.onnx")
        assert (tmp_path / "m.onnx").read_bytes() == interchange.to_onnx(net).SerializeToString()
    back = cnn_core.neuralNetwork.from_arrays(book.wih, book.who, 0.1)
    numpy.testing.assert_array_equal(back.query([0.1, 0.2, 0.3, 0.4]), book.query([0.1, 0.2, 0.3, 0.4]))
    numpy.save(tmp_path / "wih.npy", book.wih)
    numpy.savetxt(tmp_path / "who.csv", book.who, delimiter=",")
    loaded = cnn_core.neuralNetwork.load_weights(tmp_path / "wih.npy", tmp_path / "who.csv", 0.1)
    numpy.testing.assert_array_equal(loaded.wih, book.wih)


def test_the_torch_methods(torch):
    book = cnn_core.neuralNetwork(4, 3, 2, 0.1, seed=0)
    deep = make_net("tanh", numpy.float64)
    again = cnn_core.neuralNetwork.from_torch(book.to_torch(), 0.1)
    numpy.testing.assert_array_equal(again.wih, book.wih)
    X = numpy.random.default_rng(0).random((5, deep.n_in))
    numpy.testing.assert_array_equal(cnn_core.Network.from_torch(deep.to_torch()).predict(X), deep.predict(X))
