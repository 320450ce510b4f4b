"""Backpropagation against central differences (float64): every activation, both losses, with
and without bias, one and several samples, one and several layers, both backends."""
import numpy
import pytest

import cnn_core
from cnn_core.layers import Dense


def rel_error(a, b):
    """||a - b|| / max(||a||, ||b||) over all arrays of two gradient lists."""
    flat_a = numpy.concatenate([x.ravel() for pair in a for x in pair if x is not None])
    flat_b = numpy.concatenate([x.ravel() for pair in b for x in pair if x is not None])
    scale = max(numpy.linalg.norm(flat_a), numpy.linalg.norm(flat_b), 1e-300)
    return numpy.linalg.norm(flat_a - flat_b) / scale


def check_network(net, X, T):
    before = [layer.W.tobytes() for layer in net.layers]
    analytic = net.gradient(X, T)
    numeric = net.numerical_gradient(X, T, eps=1e-5)
    assert [layer.W.tobytes() for layer in net.layers] == before       # parameters untouched
    assert len(analytic) == len(net.layers)
    for (dW, db), layer in zip(analytic, net.layers):
        assert dW.shape == (layer.n_in, layer.n_out)
        assert (db is None) == (not layer.bias)
    assert rel_error(analytic, numeric) < 1e-6


HIDDEN = [("sigmoid", 1.0), ("sigmoid", 0.5), ("sigmoid", 2.0), ("relu", 1.0), ("tanh", 1.0),
          ("identity", 1.0)]


@pytest.mark.parametrize("hidden, slope", HIDDEN)
@pytest.mark.parametrize("output", ["identity", "sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("n", [1, 5])
def test_squared_error_gradients(backend, hidden, slope, output, n):
    rng = numpy.random.default_rng(abs(hash((hidden, slope, output, n))) % 2**32)
    layers = [Dense(3, 4, hidden, slope=slope, seed=1), Dense(4, 2, output, seed=2)]
    if output == "relu":   # keep the outputs away from the kink
        layers[1].b = [1.0, 1.5]
    layers[0].b = rng.normal(size=4) * 0.5
    net = cnn_core.Network(layers, loss="squared_error", backend=backend)
    check_network(net, rng.normal(size=(n, 3)), rng.normal(size=(n, 2)))


@pytest.mark.parametrize("hidden, slope", HIDDEN)
@pytest.mark.parametrize("n", [1, 6])
def test_cross_entropy_gradients(backend, hidden, slope, n):
    rng = numpy.random.default_rng(n + len(hidden))
    net = cnn_core.Network([Dense(4, 5, hidden, slope=slope, seed=3), Dense(5, 3, "softmax", seed=4)],
                           loss="cross_entropy", backend=backend)
    X = rng.normal(size=(n, 4))
    check_network(net, X, rng.integers(0, 3, n))                        # labels
    check_network(net, X, rng.dirichlet(numpy.ones(3), size=n))          # probability rows


@pytest.mark.parametrize("loss, out", [("squared_error", "sigmoid"), ("cross_entropy", "softmax")])
def test_deep_network_without_biases(backend, loss, out):
    rng = numpy.random.default_rng(8)
    net = cnn_core.Network([Dense(5, 6, "tanh", seed=1), Dense(6, 6, "relu", bias=False, seed=2),
                            Dense(6, 4, "sigmoid", slope=1.5, seed=3), Dense(4, 3, out, bias=False, seed=4)],
                           loss=loss, backend=backend)
    X = rng.normal(size=(7, 5))
    T = rng.integers(0, 3, 7) if loss == "cross_entropy" else rng.random((7, 3))
    check_network(net, X, T)


def test_single_layer_network(backend):
    rng = numpy.random.default_rng(9)
    net = cnn_core.Network([Dense(3, 2, "identity", seed=1)], backend=backend)
    check_network(net, rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))


@pytest.mark.parametrize("act, slope", HIDDEN + [("softmax", 1.0)])
@pytest.mark.parametrize("n", [1, 4])
def test_dense_backward_is_the_gradient_of_its_forward(act, slope, n):
    """For L = sum(forward(X) * G), backward(G) gives dL/dX and sets dL/dW, dL/db."""
    rng = numpy.random.default_rng(n * 3 + len(act))
    layer = Dense(3, 4, act, slope=slope, seed=5)
    layer.b = rng.normal(size=4)
    X, G = rng.normal(size=(n, 3)), rng.normal(size=(n, 4))
    layer.forward(X)
    dX = layer.backward(G).copy()
    dW, db = layer.dW, layer.db

    def L(X=X):
        return float(numpy.sum(layer.forward(X) * G))

    eps = 1e-6

    def numeric(array_getter, setter, shape):
        out = numpy.zeros(shape)
        for idx in numpy.ndindex(*shape):
            base = array_getter()
            plus, minus = base.copy(), base.copy()
            plus[idx] += eps
            minus[idx] -= eps
            setter(plus)
            up = L()
            setter(minus)
            down = L()
            setter(base)
            out[idx] = (up - down) / (2 * eps)
        return out

    W0 = layer.W.copy()
    nW = numeric(lambda: W0, lambda w: setattr(layer, "W", w), W0.shape)
    b0 = layer.b.copy()
    nb = numeric(lambda: b0, lambda v: setattr(layer, "b", v), b0.shape)
    nX = numpy.zeros_like(X)
    for idx in numpy.ndindex(*X.shape):
        plus, minus = X.copy(), X.copy()
        plus[idx] += eps
        minus[idx] -= eps
        nX[idx] = (L(plus) - L(minus)) / (2 * eps)
    for a, b in ((dW, nW), (db, nb), (dX, nX)):
        assert numpy.linalg.norm(a - b) / max(numpy.linalg.norm(b), 1e-12) < 1e-6
