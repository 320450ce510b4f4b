"""The kernels themselves, in both dtypes, against NumPy/SciPy."""
import warnings

import numpy
import pytest
import scipy.special
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import cnn_core
from cnn_core import _dispatch
from cnn_core._dispatch import kernels

from conftest import RTOL


def test_the_best_supported_build_is_loaded():
    assert _dispatch.isa in _dispatch.ISAS
    assert kernels.__name__ == f"cnn_core._kernels_{_dispatch.isa}"


def test_logit_and_sigmoid_are_inverse(dtype):
    y = numpy.linspace(0.01, 0.99, 99).astype(dtype)
    out = numpy.empty_like(y)
    kernels.logit(y, out)
    assert_allclose(out, scipy.special.logit(y), rtol=RTOL[dtype] * 10)


def test_sigmoid_is_stable_for_any_input(dtype):
    """A 1-row batch through the batch kernel: no overflow warning at |x| = 1000."""
    x = numpy.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype)
    wih = numpy.eye(5, dtype=dtype)
    who = numpy.eye(5, dtype=dtype) * 0 + numpy.eye(5, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, ok = kernels.BookState(wih, who).query_batch(x, kernels.ACTIVATION_CODES["identity"])
        assert ok
    assert_allclose(out, scipy.special.expit(x.astype(float)), rtol=RTOL[dtype])
    assert out[0, 0] == 0.0 and out[0, -1] == 1.0 and numpy.isfinite(out).all()


@pytest.mark.parametrize("act, reference", [
    ("sigmoid", scipy.special.expit), ("relu", lambda x: numpy.maximum(x, 0)), ("tanh", numpy.tanh),
    ("identity", lambda x: x)])
def test_activations_through_the_batch_kernel(dtype, act, reference):
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(7, 5)).astype(dtype) * 3
    wih = rng.normal(size=(6, 5)).astype(dtype)
    who = rng.normal(size=(4, 6)).astype(dtype)
    out, _ = kernels.BookState(wih, who).query_batch(X, kernels.ACTIVATION_CODES[act])
    expected = scipy.special.expit(reference(X.astype(float) @ wih.T.astype(float)) @ who.T.astype(float))
    assert_allclose(out, expected, rtol=RTOL[dtype] * 100, atol=RTOL[dtype] * 10)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 13), cols=st.integers(1, 70), dtype=st.sampled_from([numpy.float64, numpy.float32]),
       with_update=st.booleans(), with_dot=st.booleans())
def test_rows_update_dot_against_numpy(rows, cols, dtype, with_update, with_dot):
    """The fused pass (book_train_loop's building block, via BookState.flush / query_one)."""
    rng = numpy.random.default_rng(rows * 100 + cols)
    W = rng.normal(size=(rows, cols)).astype(dtype)
    xp, s, x = rng.normal(size=cols).astype(dtype), rng.normal(size=rows).astype(dtype), rng.normal(size=cols).astype(dtype)
    expected = W.astype(float) + (numpy.outer(s, xp) if with_update else 0)
    state = numpy.array([int(with_update), 0], numpy.intp)
    who = numpy.eye(1, rows, dtype=dtype)           # out = sigmoid(first hidden value)
    book = kernels.BookState(W, who)
    book.restore([W, who, xp, s, state])
    if with_dot:
        out = numpy.empty(1, dtype)
        assert book.query_one(x, out, kernels.ACTIVATION_CODES["identity"]) >= 0
        work = book.raw_arrays()["work"]
        assert_allclose(work[:rows], expected @ x, rtol=RTOL[dtype] * 1000, atol=RTOL[dtype] * 100)
    else:
        book.flush()
    assert not book.pending
    assert_allclose(book.wih, expected, rtol=RTOL[dtype] * 10, atol=RTOL[dtype])


def test_wrong_dtype_and_layout_are_refused_by_the_kernels():
    book = kernels.BookState(numpy.zeros((3, 4)), numpy.zeros((2, 3)))
    X, T, order = numpy.zeros((5, 4)), numpy.zeros((5, 2)), numpy.arange(5)
    for train in (book.train_rows, book.fit_rows):
        with pytest.raises(ValueError, match="Buffer dtype mismatch"):
            train(X.astype(numpy.float32), T, order, 0.1, 1)
        with pytest.raises(ValueError, match="contiguous"):
            train(numpy.asfortranarray(X), T, order, 0.1, 1)
        with pytest.raises(ValueError, match="inconsistent shapes"):
            train(numpy.zeros((5, 5)), T, order, 0.1, 1)
    with pytest.raises(ValueError, match="float32 or float64"):
        kernels.BookState(numpy.zeros((3, 4), numpy.float16), numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        kernels.BookState(numpy.zeros((3, 4)), numpy.zeros((2, 4)))


def test_all_finite(dtype):
    x = numpy.ones(100, dtype)
    assert kernels.all_finite(x)
    for bad in (numpy.nan, numpy.inf, -numpy.inf):
        y = x.copy()
        y[57] = bad
        assert not kernels.all_finite(y)
    assert kernels.all_finite(numpy.zeros(0, dtype))


@pytest.mark.parametrize("split", [1, 7, 64])
def test_vector_sigmoid_against_scipy(dtype, split):
    """The vectorized sigmoid: within 4 ulp of expit, 0 where the exact value underflows, NaN
    for NaN, and the same bits for an element wherever it sits in the array."""
    x = numpy.concatenate([numpy.linspace(-1000, 1000, 20001), [-numpy.inf, numpy.inf, -50, 0.0, -0.0]]).astype(dtype)
    z = x.copy()
    kernels.activate_array(z, kernels.ACTIVATION_CODES["sigmoid"])
    exact = scipy.special.expit(x.astype(numpy.float64))
    big = x >= (-708 if dtype == numpy.float64 else -87)     # below: exp underflows, the result is 0
    eps = numpy.finfo(dtype).eps
    assert numpy.all(numpy.abs(z[big] - exact[big]) <= 4 * eps * exact[big])
    assert numpy.all(z[~big] == 0)
    assert z[x == numpy.inf][0] == 1.0 and z[x == -numpy.inf][0] == 0.0
    nan = numpy.array([numpy.nan, 1.0], dtype)
    kernels.activate_array(nan, kernels.ACTIVATION_CODES["sigmoid"])
    assert numpy.isnan(nan[0]) and nan[1] == pytest.approx(scipy.special.expit(1.0))
    pieces = [x[i:i + split].copy() for i in range(0, len(x), split)]
    for p in pieces:
        kernels.activate_array(p, kernels.ACTIVATION_CODES["sigmoid"])
    assert_array_equal(numpy.concatenate(pieces), z)


def test_one_sample_fast_path_takes_only_finite_contiguous_vectors_of_the_dtype():
    """BookState.train_one / query_one: 1 (done) for a finite contiguous 1-D array of the
    network's dtype, -1 (nothing done, the caller converts and checks) for anything else."""
    net = cnn_core.neuralNetwork(4, 3, 2, 0.1, seed=0)
    x, t, out = numpy.full(4, 0.5), numpy.full(2, 0.5), numpy.empty(2)
    buffers, code = net._kernel, kernels.ACTIVATION_CODES["sigmoid"]
    assert buffers.train_one(x, t, 0.1, code) == 1
    assert buffers.query_one(x, out, code) == 1
    refused = [x.astype(numpy.float32), x[None, :], x.astype(">f8"), numpy.full(5, 0.5),
               numpy.full(8, 0.5)[::2], numpy.array([0.5, numpy.nan, 0.5, 0.5]), [0.5] * 4, None]
    before = net.wih, net.who, buffers.snapshot()[4]
    for bad in refused:
        assert buffers.train_one(bad, t, 0.1, code) == -1, bad
        assert buffers.train_one(x, bad, 0.1, code) == -1, bad
        assert buffers.query_one(bad, out, code) == -1, bad
    assert_array_equal(net.wih, before[0])
    assert_array_equal(net.who, before[1])
    assert_array_equal(buffers.snapshot()[4], before[2])


def test_book_state_owns_its_arrays_and_tells_wih_from_who():
    """BookState copies what it is given; assigning who to wih (square network) copies it in
    (only the array itself given back, as n.wih += x does, counts as written in place)."""
    wih, who = numpy.ones((3, 3)), numpy.full((3, 3), 2.0)
    book = kernels.BookState(wih, who)
    assert book.wih is not wih and book.owns(book.wih, "wih") and not book.owns(book.who, "wih")
    net = cnn_core.neuralNetwork(3, 3, 3, 0.1, seed=0)
    net.wih = net.who
    assert_array_equal(net.wih, net.who)
    assert net.wih is not net.who
