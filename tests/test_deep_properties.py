"""Property tests (Hypothesis) of the deep networks' entry points: Dense.forward/backward, W and
b assignment, Network.fit/predict/loss/accuracy/gradient.

Any input either works, and then gives the same result whatever its dtype, byte order and memory
layout and on both backends, or raises TypeError/ValueError whose message names the argument and
what was expected, and leaves parameters, optimizer state and history byte for byte as they were.
"""
import re

import numpy
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

import cnn_core
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD, Adam

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD_DTYPES = ["float64", "float32", "float16", ">f8", "<f4", "int64", "int32", "int8", "uint8",
               ">i2", "bool"]
LAYOUTS = ["C", "F", "strided", "read-only", "list"]


# ------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------

@st.composite
def networks(draw):
    """(spec, make) for a small network: make(backend) builds it, the same on each call."""
    n_layers = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 5), min_size=n_layers + 1, max_size=n_layers + 1))
    loss = draw(st.sampled_from(["cross_entropy", "squared_error"]))
    hidden = draw(st.lists(st.sampled_from(["relu", "tanh", "sigmoid"]), min_size=n_layers - 1,
                           max_size=n_layers - 1))
    out = "softmax" if loss == "cross_entropy" else draw(st.sampled_from(["identity", "sigmoid", "tanh", "relu"]))
    bias = draw(st.lists(st.booleans(), min_size=n_layers, max_size=n_layers))
    dtype = draw(st.sampled_from([numpy.float64, numpy.float32]))
    adam = draw(st.booleans())
    seed = draw(st.integers(0, 1000))

    def make(backend="cython"):
        layers = [Dense(a, b, act, bias=bb, dtype=dtype, seed=seed + i)
                  for i, (a, b, act, bb) in enumerate(zip(sizes[:-1], sizes[1:], hidden + [out], bias))]
        return cnn_core.Network(layers, loss=loss, optimizer=Adam(0.01) if adam else SGD(0.1, momentum=0.5),
                                backend=backend)
    return dict(sizes=sizes, loss=loss, dtype=dtype), make


def dress(draw, values, dtype):
    """`values` as the user may hand them: any of GOOD_DTYPES-like `dtype`, any layout."""
    array = values.astype(dtype)
    layout = draw(st.sampled_from(LAYOUTS))
    if layout == "F" and array.ndim == 2:
        return numpy.asfortranarray(array)
    if layout == "strided" and array.ndim >= 1:
        return numpy.repeat(array, 2, axis=-1)[..., ::2]
    if layout == "read-only":
        array = array.copy()
        array.flags.writeable = False
        return array
    if layout == "list":
        return array.tolist()
    return array


@st.composite
def good_values(draw, shape, low=-2.0, high=2.0):
    """Finite numbers of `shape` in [low, high] (subnormals and signed zeros included), as
    floats, integers or bools of any byte order and layout."""
    dtype = numpy.dtype(draw(st.sampled_from(GOOD_DTYPES)))
    if dtype.kind == "b":
        values = draw(hnp.arrays(numpy.bool_, shape))
    elif dtype.kind in "iu":
        values = draw(hnp.arrays(numpy.int64, shape, elements=st.integers(max(0, int(low)), int(high))))
    else:
        floats = st.floats(low, high, allow_nan=False, width=16 if dtype.itemsize == 2 else 64)
        values = draw(hnp.arrays(numpy.float64, shape, elements=floats | st.sampled_from([0.0, -0.0, 5e-324])))
    return dress(draw, values, dtype)


@st.composite
def good_targets(draw, n, spec):
    """Targets for n rows: integer labels (classifiers), one-hot rows or continuous rows."""
    n_out = spec["sizes"][-1]
    kind = draw(st.sampled_from(["labels", "one-hot", "rows"] if n_out >= 2 else ["rows"]))
    if kind == "labels":
        labels = draw(hnp.arrays(numpy.int64, n, elements=st.integers(0, n_out - 1)))
        return dress(draw, labels, draw(st.sampled_from(["int64", "int32", "uint8", ">i4"])))
    if kind == "one-hot":
        labels = draw(hnp.arrays(numpy.int64, n, elements=st.integers(0, n_out - 1)))
        return dress(draw, numpy.eye(n_out)[labels], draw(st.sampled_from(["float64", "float32", "int8", "bool"])))
    low = 0.0 if spec["loss"] == "cross_entropy" else -2.0
    return draw(good_values((n, n_out), low, 2.0))


# Bad arguments: (value, error type, what the message must say besides the argument's name)
BAD_KINDS = ["complex", "object", "strings", "datetime", "bytes", "None", "ragged", "nan", "inf",
             "0-d", "3-D", "no rows", "wrong width"]


@st.composite
def bad_values(draw, shape, dtype):
    """A value that is not `shape` finite real numbers: (value, error, pattern)."""
    kinds = BAD_KINDS + (["too large for float32"] if dtype == numpy.float32 else [])
    if shape[-1] == 1:
        kinds.remove("0-d")                 # a number is one sample of a one-input network
    kind = draw(st.sampled_from(kinds))
    base = numpy.full(shape, 0.5)
    if kind == "complex":
        return base.astype(complex), TypeError, r"must be real numbers; got complex values"
    if kind == "object":
        return base.astype(object), TypeError, r"must be numbers.*dtype object"
    if kind == "strings":
        return base.astype(str), TypeError, r"must be numbers.*dtype <U"
    if kind == "datetime":
        return numpy.zeros(shape, "datetime64[s]"), TypeError, r"must be numbers.*dtype datetime64"
    if kind == "bytes":
        return b"0.5", TypeError, r"must be numbers.*got bytes"
    if kind == "None":
        return None, TypeError, r"must be numbers.*got NoneType"
    if kind == "ragged":
        rows = [[0.5] * shape[-1] for _ in range(2)]
        rows[1] = rows[1] + [0.5]
        return rows, ValueError, r"must be a rectangular array of numbers"
    if kind in ("nan", "inf", "too large for float32"):
        value = base.copy()
        index = tuple(draw(st.integers(0, d - 1)) for d in shape)
        value[index] = {"nan": numpy.nan, "inf": -numpy.inf, "too large for float32": 1e39}[kind]
        return value, ValueError, r"must be finite; got (nan|-inf|1e\+39) at index.*" + (
            r"\(too large for float32\)" if kind == "too large for float32" else "")
    if kind == "0-d":
        return numpy.float64(0.5), ValueError, r"must have \d+ (values|columns).*got shape \(\)"
    if kind == "3-D":
        return numpy.full((1,) + shape, 0.5), ValueError, r"must have \d+ columns.*got shape \(1, "
    if kind == "no rows":
        return numpy.zeros((0,) + shape[1:]), ValueError, r"(at least one row; got shape \(0, \d+\), which has no rows|must have \d+ values.*got shape \(0)"
    return numpy.full(shape[:-1] + (shape[-1] + 1,), 0.5), ValueError, r"must have \d+ (values|columns).*got shape"


def state(net):
    """Everything a failed call must leave as it was."""
    opt = net.optimizer
    return ([layer._params.tobytes() for layer in net.layers],
            [a.tobytes() for slot in (opt._state or []) for a in slot], opt.iterations,
            repr(net.history))


def refused(call, net, error, name, pattern):
    before = state(net)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert re.search(rf"\b{re.escape(name)}\b", message), f"the message does not name {name}: {message}"
    assert re.search(pattern, message), f"{message!r} does not match {pattern!r}"
    assert state(net) == before, "a failed call changed the network"


def canonical(value, dtype, shape=None):
    array = numpy.asarray(value).astype(dtype)
    return array.reshape(shape) if shape is not None else array


def trained(make, backend="cython"):
    """A network after one epoch on fixed data (so that optimizer state and history exist)."""
    net = make(backend)
    rng = numpy.random.default_rng(0)
    X = rng.uniform(0, 1, (4, net.n_in))
    T = numpy.eye(net.n_out)[rng.integers(0, net.n_out, 4)] if net.n_out >= 2 else rng.uniform(0, 1, (4, 1))
    net.fit(X, T, batch_size=2, seed=0)
    return net


# ------------------------------------------------------------------------------------------
# Bad inputs: a clear error, nothing changed
# ------------------------------------------------------------------------------------------

METHODS = ["fit", "predict", "loss", "accuracy", "gradient"]


@SETTINGS
@given(data=st.data(), network=networks(), method=st.sampled_from(METHODS), bad=st.sampled_from(["X", "T"]),
       n=st.integers(1, 4))
def test_bad_inputs_to_network_methods(data, network, method, bad, n):
    spec, make = network
    net = trained(make)
    if method == "accuracy" and net.n_out < 2:
        refused(lambda: net.accuracy(numpy.zeros((n, net.n_in)), numpy.zeros(n)), net, ValueError,
                "accuracy", r"needs a classifier.*n_out >= 2")
        return
    X = numpy.full((n, net.n_in), 0.5)
    T = numpy.zeros((n, net.n_out))
    if bad == "X":
        X, error, pattern = data.draw(bad_values((n, net.n_in), spec["dtype"]))
        name = "X"
    else:
        assume(method != "predict")
        T, error, pattern = data.draw(bad_values((n, net.n_out), spec["dtype"]))
        if isinstance(T, numpy.ndarray) and T.shape == (0, net.n_out):
            pattern = r"has 0 row\(s\) but X has|no rows"
        if isinstance(T, numpy.ndarray) and T.ndim == 2 and T.shape[1] != net.n_out:
            pattern = r"must have \d+ columns"
        name = "labels" if method == "accuracy" else "T"
    args = (X,) if method == "predict" else (X, T)
    refused(lambda: getattr(net, method)(*args), net, error, name, pattern)


@SETTINGS
@given(data=st.data(), network=networks(), n=st.integers(1, 4))
def test_targets_that_do_not_fit_the_network(data, network, n):
    spec, make = network
    net = trained(make)
    X = numpy.full((n, net.n_in), 0.5)
    O = net.n_out
    cases = [(numpy.zeros((n + 1, O)), ValueError, r"T has \d+ row\(s\) but X has \d+"),
             (numpy.zeros((n, O + 1)), ValueError, r"T must have \d+ columns \(n_out of the last layer\)")]
    if O >= 2:
        cases += [(numpy.full(n, O), ValueError, r"T must be integer labels in \[0, \d+\).*got \d+ at index 0"),
                  (numpy.full(n, -1), ValueError, r"T must be integer labels in \[0, \d+\).*got -1 at index 0"),
                  (numpy.zeros(n + 1, int), ValueError, r"T has \d+ label\(s\) but X has \d+ row\(s\)")]
        if n > 1:
            cases.append((numpy.full(n, 0.5), ValueError, r"T is 1-D with \d+ values of dtype float64: give integer labels"))
    if spec["loss"] == "cross_entropy":
        cases.append((-numpy.ones((n, O)), ValueError, r"T for cross_entropy must be >= 0"))
    T, error, pattern = data.draw(st.sampled_from(cases))
    refused(lambda: net.fit(X, T), net, error, "T", pattern)


@SETTINGS
@given(data=st.data(), network=networks(), n=st.integers(1, 4))
def test_bad_inputs_to_dense_forward_backward_and_assignment(data, network, n):
    spec, make = network
    net = trained(make)
    i = data.draw(st.integers(0, len(net.layers) - 1))
    layer = net.layers[i]
    what = data.draw(st.sampled_from(["forward", "backward", "W", "b"]))
    if what == "forward":
        X, error, pattern = data.draw(bad_values((n, layer.n_in), spec["dtype"]))
        refused(lambda: layer.forward(X), net, error, "X", pattern)
    elif what == "backward":
        layer.forward(numpy.full((n, layer.n_in), 0.5))
        dY, error, pattern = data.draw(bad_values((n, layer.n_out), spec["dtype"]))
        if isinstance(dY, numpy.ndarray) and dY.ndim == 2 and dY.shape[0] != n and dY.shape[1] == layer.n_out:
            pattern = r"dY has \d+ row\(s\) but the last forward had \d+|no rows"
        dW, db = layer.dW, layer.db
        refused(lambda: layer.backward(dY), net, error, "dY", pattern)
        assert_array_equal(layer.dW, dW)
    elif what == "W" or layer.bias:
        shape = (layer.n_in, layer.n_out) if what == "W" else (layer.n_out,)
        value, error, pattern = data.draw(bad_values(shape, spec["dtype"]))
        if error is ValueError and "must have" in pattern:
            pattern = r"must have shape"
        if isinstance(value, list):                   # ragged rows
            pattern = r"must be a rectangular array of numbers"
        refused(lambda: setattr(layer, what, value), net, error, what, pattern)
    else:
        refused(lambda: setattr(layer, "b", numpy.zeros(layer.n_out)), net, ValueError, "bias",
                r"this layer has no bias")


# ------------------------------------------------------------------------------------------
# Good inputs: the same result whatever the dtype and layout, and on both backends
# ------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), network=networks(), n=st.integers(1, 5),
       method=st.sampled_from(METHODS), batch_size=st.sampled_from([1, 2, 3, 100]))
def test_good_inputs_agree_across_layouts_and_backends(data, network, n, method, batch_size):
    spec, make = network
    nets = {"dressed": trained(make), "plain": trained(make), "numpy": trained(make, "numpy")}
    assume(not (method == "accuracy" and nets["plain"].n_out < 2))
    n_in, dtype = spec["sizes"][0], spec["dtype"]
    X = data.draw(good_values((n, n_in)) if n > 1 or data.draw(st.booleans()) else good_values((n_in,)))
    T = data.draw(good_targets(n, spec))
    Xc = canonical(X, dtype).reshape(-1, n_in)
    Tc = numpy.asarray(T)
    Tc = Tc.astype(numpy.int64) if Tc.dtype.kind in "iu" and Tc.ndim == 1 and nets["plain"].n_out >= 2 \
        else canonical(T, dtype).reshape(len(Xc), -1)
    kwargs = dict(batch_size=batch_size, epochs=2, seed=1) if method == "fit" else {}
    results = {}
    for key, net in nets.items():
        args = (X, T) if key == "dressed" else (Xc, Tc)
        result = getattr(net, method)(*(args[:1] if method == "predict" else args), **kwargs)
        results[key] = [layer._params.copy() for layer in net.layers] if method == "fit" else result
    if method == "gradient":
        flat = {k: [numpy.asarray(a, dtype=float) for pair in v for a in pair if a is not None]
                for k, v in results.items()}
    else:
        flat = {k: [numpy.asarray(a, dtype=float) for a in (v if isinstance(v, list) else [v])]
                for k, v in results.items()}
    for a, b in zip(flat["dressed"], flat["plain"]):      # layout and dtype change nothing
        assert_array_equal(a, b)
    if dtype == numpy.float64:                            # the NumPy twins to rounding
        for a, b in zip(flat["plain"], flat["numpy"]):
            assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    if method == "fit":
        assert nets["dressed"].history == nets["plain"].history or all(
            numpy.allclose(nets["dressed"].history[k], nets["plain"].history[k], equal_nan=True)
            for k in nets["plain"].history)


@SETTINGS
@given(data=st.data(), network=networks(), n=st.integers(1, 5))
def test_dense_forward_backward_and_assignment_accept_any_layout(data, network, n):
    spec, make = network
    net = make()
    layer = net.layers[data.draw(st.integers(0, len(net.layers) - 1))]
    dtype = spec["dtype"]
    W = data.draw(good_values((layer.n_in, layer.n_out)))
    layer.W = W
    assert_array_equal(layer.W, canonical(W, dtype))
    if layer.bias:
        b = data.draw(good_values((layer.n_out,)))
        layer.b = b
        assert_array_equal(layer.b, canonical(b, dtype))
    X = data.draw(good_values((n, layer.n_in)))
    dY = data.draw(good_values((n, layer.n_out)))
    Y = layer.forward(X).copy()
    dX = layer.backward(dY).copy()
    grads = layer.dW, layer.db
    Y2 = layer.forward(canonical(X, dtype)).copy()
    dX2 = layer.backward(canonical(dY, dtype)).copy()
    assert_array_equal(Y, Y2)
    assert_array_equal(dX, dX2)
    assert_array_equal(grads[0], layer.dW)
    # and the kernels agree with their NumPy twins
    from cnn_core import _dense_numpy as twins
    Xc, dYc = canonical(X, dtype), canonical(dY, dtype)
    b = layer.b if layer.bias else numpy.zeros(0, dtype)
    Z, Yr = numpy.empty_like(Y), numpy.empty_like(Y)
    twins.dense_forward(Xc, layer.W, b, layer._act.code, layer.slope, Z, Yr)
    dZ, dW, db, dXr = numpy.empty_like(Y), numpy.empty_like(layer.W), numpy.empty(len(b), dtype), numpy.empty_like(Xc)
    twins.dense_backward(Xc, layer.W, Yr, dYc, layer._act.code, layer.slope, dZ, dW, db, dXr)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == numpy.float64 else dict(rtol=1e-5, atol=1e-5)
    assert_allclose(Y, Yr, **tol)
    assert_allclose(dX, dXr, **tol)
    assert_allclose(layer.dW, dW, **tol)
