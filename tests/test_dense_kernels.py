"""The deep-network kernels (_dense.pxi) against their NumPy twins (cnn_core._dense_numpy), in both
dtypes, for one row (the loop path) and several (the BLAS path), with and without bias."""
import numpy
import pytest
from numpy.testing import assert_allclose

from cnn_core import _dense_numpy as twins, activations
from cnn_core._dispatch import kernels

CODES = {name: a.code for name, a in activations.ACTIVATIONS.items()}
TOL = {numpy.float64: dict(rtol=1e-12, atol=1e-13), numpy.float32: dict(rtol=2e-5, atol=2e-6)}


def arrays(rng, dtype, *shapes, scale=1.0):
    return [(rng.normal(size=s) * scale).astype(dtype) for s in shapes]


def run_forward(module, X, W, b, code, slope, dtype):
    N, O = len(X), W.shape[1]
    Z, Y = numpy.full((N, O), numpy.nan, dtype), numpy.full((N, O), numpy.nan, dtype)
    finite = module.dense_forward(X, W, b, code, slope, Z, Y)
    return finite, Z, Y


@pytest.mark.parametrize("n", [1, 2, 9])
@pytest.mark.parametrize("act, slope", [("identity", 1.0), ("sigmoid", 1.0), ("sigmoid", 0.5),
                                        ("relu", 1.0), ("tanh", 1.0), ("softmax", 1.0)])
@pytest.mark.parametrize("bias", [True, False])
def test_dense_forward_matches_its_twin(dtype, n, act, slope, bias):
    rng = numpy.random.default_rng(n * 31 + len(act))
    X, W, b = arrays(rng, dtype, (n, 5), (5, 4), (4,), scale=1.5)
    if not bias:
        b = numpy.zeros(0, dtype)
    ours = run_forward(kernels, X, W, b, CODES[act], slope, dtype)
    twin = run_forward(twins, X, W, b, CODES[act], slope, dtype)
    assert ours[0] is True and twin[0] is True
    assert_allclose(ours[1], twin[1], **TOL[dtype])
    assert_allclose(ours[2], twin[2], **TOL[dtype])
    # and the formula itself, in float64
    z = X.astype(float) @ W.astype(float) + (b.astype(float) if bias else 0)
    assert_allclose(ours[1], z, **TOL[dtype])
    assert_allclose(ours[2], activations.ACTIVATIONS[act].apply(z, slope), **TOL[dtype])


def test_dense_forward_in_place_and_not_finite(dtype):
    rng = numpy.random.default_rng(1)
    X, W, b = arrays(rng, dtype, (3, 4), (4, 2), (2,))
    for module in (kernels, twins):
        Y = numpy.empty((3, 2), dtype)
        assert module.dense_forward(X, W, b, CODES["tanh"], 1.0, Y, Y)     # Y is Z: ends as f(Z)
        assert_allclose(Y, numpy.tanh(X.astype(float) @ W + b), **TOL[dtype])
        W_bad = W.copy()
        W_bad[2, 1] = numpy.nan
        assert module.dense_forward(X, W_bad, b, CODES["relu"], 1.0, Y, Y) is False
        assert module.dense_forward(X * 0, W_bad, b, CODES["relu"], 1.0, Y, Y) is False   # 0 * nan


@pytest.mark.parametrize("n", [1, 2, 9])
@pytest.mark.parametrize("act, slope", [("identity", 1.0), ("sigmoid", 1.0), ("sigmoid", 2.0),
                                        ("relu", 1.0), ("tanh", 1.0), ("softmax", 1.0)])
@pytest.mark.parametrize("bias, want_dX", [(True, True), (False, True), (True, False)])
def test_dense_backward_matches_its_twin(dtype, n, act, slope, bias, want_dX):
    rng = numpy.random.default_rng(n * 7 + len(act))
    X, W, b, dY = arrays(rng, dtype, (n, 6), (6, 3), (3,), (n, 3))
    if not bias:
        b = numpy.zeros(0, dtype)
    _, _, Y = run_forward(twins, X, W, b, CODES[act], slope, dtype)
    results = []
    for module in (kernels, twins):
        dZ = numpy.full((n, 3), numpy.nan, dtype)
        dW = numpy.full((6, 3), numpy.nan, dtype)
        db = numpy.full(3 if bias else 0, numpy.nan, dtype)
        dX = numpy.full((n if want_dX else 0, 6), numpy.nan, dtype)
        dY_before = dY.copy()
        module.dense_backward(X, W, Y, dY, CODES[act], slope, dZ, dW, db, dX)
        assert numpy.array_equal(dY, dY_before)                  # dY is not modified
        results.append((dZ, dW, db, dX))
    for ours, twin in zip(*results):
        assert_allclose(ours, twin, **TOL[dtype])
    # the formulas, in float64
    Yf, dYf = Y.astype(float), dY.astype(float)
    if act == "softmax":
        dZf = Yf * (dYf - (dYf * Yf).sum(axis=1, keepdims=True))
    else:
        dZf = dYf * activations.ACTIVATIONS[act].derivative_from_output(Yf, slope)
    dZ, dW, db, dX = results[0]
    assert_allclose(dW, X.astype(float).T @ dZf, **TOL[dtype])
    if bias:
        assert_allclose(db, dZf.sum(axis=0), **TOL[dtype])
    if want_dX:
        assert_allclose(dX, dZf @ W.astype(float).T, **TOL[dtype])


def test_dense_backward_in_place(dtype):
    """dZ may be dY: the network's output layer starts backward from its own dZ buffer."""
    rng = numpy.random.default_rng(3)
    X, W, b, dY = arrays(rng, dtype, (4, 3), (3, 2), (2,), (4, 2))
    _, _, Y = run_forward(kernels, X, W, b, CODES["sigmoid"], 1.0, dtype)
    expected = dY * Y * (1 - Y)
    for module in (kernels, twins):
        g = dY.copy()
        dW, db, dX = numpy.empty((3, 2), dtype), numpy.empty(2, dtype), numpy.empty((4, 3), dtype)
        module.dense_backward(X, W, Y, g, CODES["sigmoid"], 1.0, g, dW, db, dX)
        assert_allclose(g, expected, **TOL[dtype])
        assert_allclose(dW, X.T @ expected, **TOL[dtype])


@pytest.mark.parametrize("n", [1, 6])
def test_squared_error_matches_its_twin(dtype, n):
    rng = numpy.random.default_rng(n)
    Y, T = arrays(rng, dtype, (n, 4), (n, 4))
    out = []
    for module in (kernels, twins):
        dY = numpy.empty((n, 4), dtype)
        loss, correct = module.squared_error(Y, T, dY, 1.0 / n)
        out.append((loss, correct, dY))
    (l1, c1, d1), (l2, c2, d2) = out
    assert c1 == c2 == int((Y.argmax(1) == T.argmax(1)).sum())
    expected = 0.5 * ((T.astype(float) - Y.astype(float)) ** 2).sum()
    assert l1 == pytest.approx(expected, rel=1e-12) and l2 == pytest.approx(expected, rel=1e-12)
    assert_allclose(d1, d2, **TOL[dtype])
    assert_allclose(d1, (Y.astype(float) - T) / n, **TOL[dtype])


@pytest.mark.parametrize("n", [1, 6])
def test_softmax_cross_entropy_matches_its_twin(dtype, n):
    rng = numpy.random.default_rng(n + 10)
    (Z,) = arrays(rng, dtype, (n, 5), scale=3)
    T = numpy.eye(5, dtype=dtype)[rng.integers(0, 5, n)]
    T[0] = rng.dirichlet(numpy.ones(5)) * 1.5          # a row that is not one-hot (sums to 1.5)
    out = []
    for module in (kernels, twins):
        Y, dZ = numpy.empty((n, 5), dtype), numpy.empty((n, 5), dtype)
        loss, correct = module.softmax_cross_entropy(Z, T, Y, dZ, 1.0 / n)
        out.append((loss, correct, Y, dZ))
    (l1, c1, Y1, d1), (l2, c2, Y2, d2) = out
    Zf = Z.astype(float)
    P = numpy.exp(Zf - Zf.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    expected = -(T * numpy.log(P)).sum()
    rel = 1e-12 if dtype == numpy.float64 else 1e-5
    assert l1 == pytest.approx(expected, rel=rel) and l2 == pytest.approx(expected, rel=rel)
    assert c1 == c2 == int((Z.argmax(1) == T.argmax(1)).sum())
    assert_allclose(Y1, Y2, **TOL[dtype])
    assert_allclose(Y1, P, **TOL[dtype])
    assert_allclose(d1, d2, **TOL[dtype])
    assert_allclose(d1, (P * T.sum(1, keepdims=True) - T) / n, **TOL[dtype])


def test_cross_entropy_never_takes_log_of_zero(dtype):
    """Logits 1000 apart: softmax underflows to exactly 0 for the losing class, yet the loss is
    the exact finite value z_max - z_label, not inf or nan."""
    Z = numpy.array([[0.0, 1000.0], [1000.0, 0.0]], dtype)
    T = numpy.array([[1.0, 0.0], [1.0, 0.0]], dtype)
    for module in (kernels, twins):
        Y, dZ = numpy.empty((2, 2), dtype), numpy.empty((2, 2), dtype)
        with numpy.errstate(divide="raise", invalid="raise", over="raise"):   # underflow is fine
            loss, correct = module.softmax_cross_entropy(Z, T, Y, dZ, 0.5)
        assert loss == pytest.approx(1000.0, rel=1e-6) and correct == 1
        assert numpy.isfinite(dZ).all() and Y[0, 0] == 0.0


OPTIMIZER_CASES = [
    ("sgd_update", lambda n, dt: (numpy.zeros(0, dt),), (0.1, 0.0, False, 0.0)),
    ("sgd_update", lambda n, dt: (numpy.zeros(n, dt),), (0.1, 0.9, False, 0.01)),
    ("sgd_update", lambda n, dt: (numpy.zeros(n, dt),), (0.1, 0.9, True, 0.0)),
    ("adagrad_update", lambda n, dt: (numpy.zeros(n, dt),), (0.1, 1e-10, 0.001)),
    ("rmsprop_update", lambda n, dt: (numpy.zeros(n, dt),), (0.01, 0.99, 1e-8, 0.0)),
    ("adam_update", lambda n, dt: (numpy.zeros(n, dt), numpy.zeros(n, dt)), (0.001, 0.9, 0.999, 1e-8, 0.0)),
]


@pytest.mark.parametrize("name, make_state, args", OPTIMIZER_CASES)
def test_optimizer_kernels_match_their_twins(dtype, name, make_state, args):
    rng = numpy.random.default_rng(5)
    p0 = rng.normal(size=37).astype(dtype)
    grads = [rng.normal(size=37).astype(dtype) for _ in range(3)]
    finals = []
    for module in (kernels, twins):
        p, state = p0.copy(), make_state(37, dtype)
        for t, g in enumerate(grads, 1):
            extra = (t,) if name == "adam_update" else ()
            assert getattr(module, name)(p, g, *state, *args, *extra) is True
        finals.append((p, state))
    assert_allclose(finals[0][0], finals[1][0], **TOL[dtype])
    for a, b in zip(finals[0][1], finals[1][1]):
        assert_allclose(a, b, **TOL[dtype])


def test_optimizer_kernels_report_non_finite(dtype):
    p = numpy.ones(5, dtype)
    g = numpy.array([0, 0, numpy.inf, 0, 0], dtype)
    for module in (kernels, twins):
        assert module.sgd_update(p.copy(), g, numpy.zeros(0, dtype), 0.1, 0.0, False, 0.0) is False


def test_kernels_refuse_inconsistent_shapes():
    X, W, b = numpy.zeros((3, 4)), numpy.zeros((4, 2)), numpy.zeros(2)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        kernels.dense_forward(X, W, b, 0, 1.0, numpy.zeros((3, 3)), numpy.zeros((3, 3)))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        kernels.dense_backward(X, W, numpy.zeros((3, 2)), numpy.zeros((3, 2)), 0, 1.0,
                               numpy.zeros((3, 2)), numpy.zeros((4, 2)), numpy.zeros(2), numpy.zeros((2, 4)))
    with pytest.raises(ValueError, match="Buffer dtype mismatch"):
        kernels.dense_forward(X, W.astype(numpy.float32), b, 0, 1.0, numpy.zeros((3, 2)), numpy.zeros((3, 2)))
    with pytest.raises(ValueError, match="unknown activation code"):
        kernels.dense_forward(X, W, b, 99, 1.0, numpy.zeros((3, 2)), numpy.zeros((3, 2)))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        kernels.sgd_update(numpy.zeros(3), numpy.zeros(4), numpy.zeros(0), 0.1, 0.0, False, 0.0)

