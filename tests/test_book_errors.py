"""Every kind of bad input: a clear exception, and the network exactly as it was."""
import contextlib

import numpy
import pytest

import cnn_core
import cnn_core._tuning


@pytest.fixture
def net():
    n = cnn_core.neuralNetwork(4, 3, 2, 0.3, seed=0)
    n.train([0.1, 0.2, 0.3, 0.4], [0.9, 0.1])     # leave an update pending, as in real use
    return n


@contextlib.contextmanager
def unchanged(net):
    """The weights (bytes) and the outputs are the same after the block as before."""
    wih, who = net.wih.tobytes(), net.who.tobytes()
    yield
    assert net.wih.tobytes() == wih and net.who.tobytes() == who


GOOD_X, GOOD_T = [0.5, 0.5, 0.5, 0.5], [0.2, 0.8]


@pytest.mark.parametrize("inputs, error, match", [
    ([0.1, 0.2, 0.3], ValueError, r"inputs must have 4 values \(inodes\); got shape \(3,\)"),
    ([0.1] * 5, ValueError, r"got shape \(5,\)"),
    ([], ValueError, r"got shape \(0,\)"),
    (numpy.zeros((0, 4)), ValueError, r"4 columns \(inodes\).*got shape \(0, 4\)"),
    (numpy.zeros((4, 1)), ValueError, r"got shape \(4, 1\)\. Pass one sample as a 1-D array"),
    (numpy.zeros((2, 2, 4)), ValueError, r"got shape \(2, 2, 4\)"),
    ([0.1, float("nan"), 0.3, 0.4], ValueError, r"inputs must be finite; got nan at index 1"),
    ([0.1, 0.2, float("inf"), 0.4], ValueError, r"inputs must be finite; got inf at index 2"),
    (numpy.array([[0.1, 0.2, 0.3, 0.4], [0, 0, -numpy.inf, 0]]), ValueError, r"-inf at index \(1, 2\)"),
    (None, TypeError, r"inputs must be numbers .*got NoneType"),
    ("0.1,0.2,0.3,0.4", TypeError, r"got str"),
    (["a", "b", "c", "d"], TypeError, r"dtype <U1"),
    ([0.1, None, 0.3, 0.4], TypeError, r"dtype object"),
    (numpy.array([1, 2, 3, 4], dtype=object), TypeError, r"dtype object"),
    (numpy.ones(4, dtype=complex), TypeError, r"complex"),
    ([[0.1, 0.2], [0.3]], ValueError, r"rectangular"),
])
def test_bad_inputs(net, inputs, error, match):
    for call in (lambda: net.train(inputs, GOOD_T), lambda: net.query(inputs),
                 lambda: net.predict(inputs), lambda: net.fit(inputs, [GOOD_T])):
        with unchanged(net), pytest.raises(error, match=match):
            call()


@pytest.mark.parametrize("targets, error, match", [
    ([0.5], ValueError, r"targets must have 2 values \(onodes\); got shape \(1,\)"),
    ([0.5, float("nan")], ValueError, r"targets must be finite"),
    (None, TypeError, r"targets must be numbers"),
    ([[0.5, 0.5], [0.5, 0.5]], ValueError, r"targets has 2 row\(s\) but inputs has 1"),
])
def test_bad_targets(net, targets, error, match):
    with unchanged(net), pytest.raises(error, match=match):
        net.train(GOOD_X, targets)


def test_float32_overflow_is_reported(net):
    small = cnn_core.neuralNetwork(4, 3, 2, 0.3, dtype=numpy.float32, seed=0)
    with unchanged(small), pytest.raises(ValueError, match=r"got 1e\+39 at index 0 \(too large for float32\)"):
        small.train([1e39, 0, 0, 0], GOOD_T)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((0, 3, 2, 0.1), {}, ValueError, r"inputnodes must be a positive integer; got 0"),
    ((4, -1, 2, 0.1), {}, ValueError, r"hiddennodes must be a positive integer; got -1"),
    ((4, 3.0, 2, 0.1), {}, TypeError, r"hiddennodes must be a positive integer; got 3.0 \(float\)"),
    ((4, 3, "2", 0.1), {}, TypeError, r"outputnodes must be a positive integer; got '2' \(str\)"),
    ((4, 3, True, 0.1), {}, TypeError, r"outputnodes .* \(bool\)"),
    ((4, 3, 2, -0.1), {}, ValueError, r"learningrate must be a positive finite number"),
    ((4, 3, 2, float("nan")), {}, ValueError, r"learningrate must be a positive finite number; got nan"),
    ((4, 3, 2, float("inf")), {}, ValueError, r"got inf"),
    ((4, 3, 2, "0.1"), {}, TypeError, r"learningrate must be a positive number; got '0.1'"),
    ((4, 3, 2, 0.1), {"dtype": numpy.int32}, ValueError, r"dtype must be numpy.float64 or numpy.float32; got 'int32'"),
    ((4, 3, 2, 0.1), {"dtype": "float16"}, ValueError, r"got 'float16'"),
    ((4, 3, 2, 0.1), {"dtype": "nonsense"}, TypeError, r"dtype must be"),
    ((4, 3, 2, 0.1), {"activation": "rellu"}, ValueError,
     r"Unknown activation 'rellu'; expected one of \['relu', 'sigmoid'\]"),
    ((4, 3, 2, 0.1), {"n_threads": 0}, ValueError, r"n_threads must be a positive integer"),
    ((4, 3, 2, 0.1), {"seed": "abc"}, TypeError, r"seed must be None"),
    ((4, 3, 2, 0.1), {"seed": -1}, ValueError, r"seed must be None, a non-negative int"),
])
def test_bad_constructor_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        cnn_core.neuralNetwork(*args, **kwargs)


def test_numpy_integers_are_node_counts():
    net = cnn_core.neuralNetwork(numpy.int64(4), numpy.int32(3), 2, numpy.float32(0.5))
    assert (net.inodes, net.hnodes, net.onodes) == (4, 3, 2)


@pytest.mark.parametrize("name, value, error, match", [
    ("wih", numpy.zeros((3, 5)), ValueError, r"wih must have shape \(3, 4\); got shape \(3, 5\)"),
    ("wih", numpy.zeros((4, 3)), ValueError, r"got shape \(4, 3\)"),
    ("who", numpy.full((2, 3), numpy.nan), ValueError, r"who must be finite"),
    ("who", None, TypeError, r"who must be numbers"),
    ("wih", numpy.zeros((3, 4), dtype=complex), TypeError, r"complex"),
])
def test_bad_weight_assignment(net, name, value, error, match):
    with unchanged(net), pytest.raises(error, match=match):
        setattr(net, name, value)


def test_bad_learning_rate_assignment(net):
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        net.lr = -1
    assert net.lr == 0.3


def test_weights_read_are_the_live_arrays(net):
    # issue 19 reversed the read-only copies: wih/who behave like the book's arrays
    w = net.wih
    w[0, 0] = 1.0
    assert net.wih[0, 0] == 1.0
    net.train(GOOD_X, GOOD_T)
    assert net.wih is w                           # the same array, trained


@pytest.mark.parametrize("targets, match", [
    ([0.0, 0.5], r"strictly between 0 and 1"),
    ([1.0, 0.5], r"strictly between 0 and 1"),
    ([0.5], r"targets must have 2 values"),
    ([[0.5, 0.5], [0.4, 0.4]], r"one target vector"),
])
def test_bad_backquery(net, targets, match):
    with unchanged(net), pytest.raises(ValueError, match=match):
        net.backquery(targets)


def test_bad_fit_arguments(net):
    X = numpy.full((3, 4), 0.5)
    T = numpy.full((3, 2), 0.5)
    with unchanged(net), pytest.raises(ValueError, match=r"epochs must be a positive integer; got 0"):
        net.fit(X, T, epochs=0)
    with unchanged(net), pytest.raises(ValueError, match=r"targets has 2 row\(s\) but inputs has 3"):
        net.fit(X, T[:2])


def test_divergence_keeps_the_last_finite_weights():
    """(The book's sigmoid network saturates instead of diverging; ReLU with a huge rate does.)"""
    net = cnn_core.neuralNetwork(4, 3, 2, 1e200, seed=0, activation="relu")
    X = numpy.full((50, 4), 1.0)
    T = numpy.tile([0.99, 0.01], (50, 1))
    before = (net.wih.copy(), net.who.copy())
    with pytest.raises(cnn_core.DivergenceError, match=r"Training diverged at epoch 1 .*smaller learning rate"):
        net.fit(X, T, epochs=3)
    numpy.testing.assert_array_equal(net.wih, before[0])
    numpy.testing.assert_array_equal(net.who, before[1])
    with pytest.raises(cnn_core.DivergenceError, match=r"non-finite values, so no update was made"):
        for x, t in zip(X, T):
            net.train(x, t)
    # whatever state training left, answers are never silently NaN
    try:
        assert numpy.isfinite(net.query(X[0])).all()
    except cnn_core.DivergenceError as exc:
        assert "not finite" in str(exc)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_divergence_in_block_training_keeps_the_last_finite_weights(n_threads):
    net = cnn_core.neuralNetwork(784, 20, 3, 1e200, seed=0, activation="relu", n_threads=n_threads)
    assert 784 * 20 >= cnn_core._tuning.FIT_BLOCK_MIN_WEIGHTS
    X = numpy.full((100, 784), 0.5)
    T = numpy.tile([0.99, 0.01, 0.01], (100, 1))
    before = (net.wih.copy(), net.who.copy())
    with pytest.raises(cnn_core.DivergenceError, match=r"Training diverged at epoch 1 \(non-finite values at its sample \d+\)"):
        net.fit(X, T, epochs=2)
    numpy.testing.assert_array_equal(net.wih, before[0])
    numpy.testing.assert_array_equal(net.who, before[1])
