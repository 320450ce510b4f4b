"""Bad inputs to Dense, Network and their methods: a clear error, and nothing changed."""
import contextlib

import numpy
import pytest

import cnn_core
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD, Adam


def classifier(backend="cython"):
    net = cnn_core.Network([Dense(4, 5, "relu", seed=0), Dense(5, 3, "softmax", seed=1)],
                           loss="cross_entropy", optimizer=Adam(0.01), backend=backend)
    net.fit(numpy.random.default_rng(0).random((6, 4)), [0, 1, 2, 0, 1, 2], epochs=2, batch_size=2)
    return net


@contextlib.contextmanager
def unchanged(net):
    """Parameters (bytes), optimizer state and history are the same after the block."""
    before = [layer._params.tobytes() for layer in net.layers]
    state = [a.tobytes() for slot in (net.optimizer._state or []) for a in slot]
    iterations, history = net.optimizer.iterations, {k: list(v) for k, v in net.history.items()}
    yield
    assert [layer._params.tobytes() for layer in net.layers] == before
    assert [a.tobytes() for slot in (net.optimizer._state or []) for a in slot] == state
    assert net.optimizer.iterations == iterations
    assert {k: list(v) for k, v in net.history.items()} == history


X4 = numpy.full((3, 4), 0.5)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((0, 3), {}, ValueError, r"n_in must be a positive integer; got 0"),
    ((4, 2.5), {}, TypeError, r"n_out must be a positive integer; got 2.5 \(float\)"),
    ((4, 3, "rellu"), {}, ValueError,
     r"Unknown activation 'rellu'; expected one of \['identity', 'relu', 'sigmoid', 'softmax', 'tanh'\]\."),
    ((4, 3, "relu"), {"slope": 2.0}, ValueError, r"slope applies to the sigmoid only; got slope=2.0 with activation 'relu'"),
    ((4, 3), {"slope": 0}, ValueError, r"slope must be a positive finite number; got 0"),
    ((4, 3), {"init": "glorot"}, ValueError, r"Unknown init 'glorot'; expected one of \['book', 'he', 'xavier'\] or a positive number"),
    ((4, 3), {"init": -0.01}, ValueError, r"init must be a positive finite number; got -0.01"),
    ((4, 3), {"init": None}, TypeError, r"init must be one of \['book', 'he', 'xavier'\] or a positive number"),
    ((4, 3), {"bias": 1}, TypeError, r"bias must be True or False; got 1 \(int\)"),
    ((4, 3), {"dtype": numpy.int64}, ValueError, r"dtype must be numpy.float64 or numpy.float32; got 'int64'"),
    ((4, 3), {"seed": "x"}, TypeError, r"seed must be None, an int or a numpy Generator"),
])
def test_bad_dense_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        Dense(*args, **kwargs)


@pytest.mark.parametrize("make, error, match", [
    (lambda: [Dense(4, 5), Dense(6, 3)], ValueError,
     r"layers\[1\] takes 6 inputs but layers\[0\] gives 5 outputs; make layers\[1\] Dense\(5, 3, \.\.\.\)"),
    (lambda: [Dense(4, 5, "softmax"), Dense(5, 3, "softmax")], ValueError,
     r"layers\[0\] uses 'softmax', which is for the output layer only"),
    (lambda: [Dense(4, 5), Dense(5, 3, "sigmoid")], ValueError,
     r"loss='cross_entropy' needs a softmax output layer; the last layer uses 'sigmoid'"),
    (lambda: [Dense(4, 5), Dense(5, 3, dtype=numpy.float32)], ValueError,
     r"all layers must have one dtype; layers\[0\] is float64 and layers\[1\] is float32"),
    (lambda: [], ValueError, r"at least one Dense layer"),
    (lambda: Dense(4, 5), TypeError, r"layers must be a list of cnn_core.layers.Dense; got Dense"),
    (lambda: [Dense(4, 5), "relu"], TypeError, r"layers\[1\] must be a cnn_core.layers.Dense; got str"),
])
def test_bad_layer_stacks(make, error, match):
    with pytest.raises(error, match=match):
        cnn_core.Network(make(), loss="cross_entropy")


def test_same_layer_twice_and_other_bad_network_arguments():
    a = Dense(4, 4)
    with pytest.raises(ValueError, match=r"layers\[1\] is the same object as layers\[0\]"):
        cnn_core.Network([a, a])
    with pytest.raises(ValueError, match=r"a 'softmax' output layer goes with loss='cross_entropy', not loss='squared_error'"):
        cnn_core.Network([Dense(4, 3, "softmax")], loss="squared_error")
    with pytest.raises(ValueError, match=r"Unknown loss 'mse'; expected one of \['binary_cross_entropy', 'cross_entropy', 'squared_error'\]"):
        cnn_core.Network([Dense(4, 3)], loss="mse")
    with pytest.raises(ValueError, match=r"Unknown backend 'torch'; expected one of \['cython', 'numpy'\]"):
        cnn_core.Network([Dense(4, 3)], backend="torch")
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamw'"):
        cnn_core.Network([Dense(4, 3)], optimizer="adamw")
    with pytest.raises(TypeError, match=r"optimizer must be an Optimizer"):
        cnn_core.Network([Dense(4, 3)], optimizer=0.1)
    opt = SGD(0.1)
    first = cnn_core.Network([Dense(4, 3)], optimizer=opt)
    with pytest.raises(ValueError, match=r"this optimizer already trains another Network"):
        cnn_core.Network([Dense(4, 3)], optimizer=opt)
    assert first.optimizer is opt
    used = Adam()
    used.update([numpy.ones((2, 2))], [numpy.ones((2, 2))])
    with pytest.raises(ValueError, match=r"this optimizer has state .* made for other parameters"):
        cnn_core.Network([Dense(4, 3)], optimizer=used)


GOOD_Y = [0, 1, 2]


@pytest.mark.parametrize("X, T, error, match", [
    (numpy.full((3, 5), 0.5), GOOD_Y, ValueError, r"X must have 4 columns \(n_in of the first layer\), one row per sample; got shape \(3, 5\)"),
    ([0.1, 0.2, 0.3], GOOD_Y[:1], ValueError, r"X must have 4 values \(n_in of the first layer\); got shape \(3,\)"),
    (X4, [0, 1, 3], ValueError, r"T must be integer labels in \[0, 3\) \(one per output unit\); got 3 at index 2"),
    (X4, [0, -1, 2], ValueError, r"T must be integer labels in \[0, 3\) .*got -1 at index 1"),
    (X4, [0, 1], ValueError, r"T has 2 label\(s\) but X has 3 row\(s\)"),
    (X4, numpy.eye(4)[:3], ValueError, r"T must have 3 columns \(n_out of the last layer\)"),
    (X4, numpy.eye(3)[:2], ValueError, r"T has 2 row\(s\) but X has 3"),
    (X4, -numpy.eye(3), ValueError, r"T for cross_entropy must be >= 0 .*got -1.0 at index \(0, 0\)"),
    (X4, [0.0, 1.0, 2.0], ValueError, r"T is 1-D with 3 values of dtype float64: give integer labels"),
    (numpy.array([[0.5, numpy.nan, 0.5, 0.5]] * 3), GOOD_Y, ValueError, r"X must be finite; got nan at index \(0, 1\)"),
    (X4, numpy.array([[1.0, numpy.inf, 0.0]] * 3), ValueError, r"T must be finite"),
    (None, GOOD_Y, TypeError, r"X must be numbers"),
    (X4, None, TypeError, r"T must be numbers \(target rows or integer labels\); got NoneType"),
    (X4, "012", TypeError, r"T must be numbers"),
    # these used to give NumPy's message without the argument, a hint about labels for complex or
    # text values, "must have 4 columns" for an array with 4 columns and no rows, shape (1,) for 0.5
    (X4, [[1, 0, 0], [0, 1]], ValueError, r"T must be a rectangular array of numbers \(target rows or integer labels\); setting an array"),
    (X4, numpy.array([1j, 0, 0]), TypeError, r"T must be real numbers; got complex values \(dtype complex128\)"),
    (X4, numpy.array(["0", "1", "2"]), TypeError, r"T must be numbers \(target rows or integer labels\); got an array of dtype <U1"),
    (numpy.zeros((0, 4)), GOOD_Y, ValueError, r"X must have 4 columns \(n_in of the first layer\) and at least one row; got shape \(0, 4\), which has no rows"),
    (0.5, GOOD_Y, ValueError, r"X must have 4 values \(n_in of the first layer\); got shape \(\)\."),
])
def test_bad_training_data(backend, X, T, error, match):
    net = classifier(backend)
    for call in (lambda: net.fit(X, T), lambda: net.loss(X, T), lambda: net.gradient(X, T),
                 lambda: net.numerical_gradient(X, T)):
        with unchanged(net), pytest.raises(error, match=match):
            call()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, r"epochs must be a positive integer; got 0"),
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer; got 0"),
    ({"batch_size": 2.0}, TypeError, r"batch_size must be a positive integer; got 2.0 \(float\)"),
    ({"shuffle": "yes"}, TypeError, r"shuffle must be True or False"),
    ({"seed": 1.5}, TypeError, r"seed must be None, an int or a numpy Generator"),
    ({"validation_data": X4}, TypeError, r"validation_data must be a pair \(X_val, T_val\)"),
    ({"validation_data": (X4, [0, 1, 5])}, ValueError, r"validation T must be integer labels in \[0, 3\)"),
    ({"validation_data": (numpy.ones((2, 3)), [0, 1])}, ValueError, r"validation X must have 4 columns"),
    ({"callbacks": ["print"]}, TypeError, r"callbacks must be a list of functions"),
])
def test_bad_fit_arguments(backend, kwargs, error, match):
    net = classifier(backend)
    with unchanged(net), pytest.raises(error, match=match):
        net.fit(X4, GOOD_Y, **kwargs)


def test_bad_method_arguments(backend):
    net = classifier(backend)
    with unchanged(net), pytest.raises(ValueError, match=r"eps must be a positive finite number"):
        net.numerical_gradient(X4, GOOD_Y, eps=0)
    with unchanged(net), pytest.raises(ValueError, match=r"labels must be integer labels in \[0, 3\)"):
        net.accuracy(X4, [0, 1, 7])
    with unchanged(net), pytest.raises(ValueError, match=r"X must have 4 columns"):
        net.predict(numpy.ones((2, 2)))


@pytest.mark.parametrize("name, value, error, match", [
    ("W", numpy.zeros((4, 6)), ValueError, r"W must have shape \(4, 5\); got shape \(4, 6\)"),
    ("W", numpy.full((4, 5), numpy.inf), ValueError, r"W must be finite; got inf at index \(0, 0\)"),
    ("b", numpy.zeros(4), ValueError, r"b must have shape \(5,\); got shape \(4,\)"),
    ("b", "zeros", TypeError, r"b must be numbers"),
])
def test_bad_parameter_assignment(name, value, error, match):
    net = classifier()
    with unchanged(net), pytest.raises(error, match=match):
        setattr(net.layers[0], name, value)


def test_layer_without_bias_and_read_only_copies():
    layer = Dense(3, 2, bias=False)
    assert layer.b is None and layer.db is None and len(layer.parameters()) == 1
    with pytest.raises(ValueError, match=r"this layer has no bias \(it was made with bias=False\)"):
        layer.b = [0.0, 0.0]
    W = layer.W
    with pytest.raises(ValueError, match="read-only"):
        W[0, 0] = 1.0
    Y = layer.forward(numpy.ones((2, 3)))
    with pytest.raises(ValueError, match="read-only"):
        Y[0, 0] = 1.0


def test_backward_needs_a_forward_and_matching_rows():
    layer = Dense(3, 2)
    with pytest.raises(RuntimeError, match=r"backward needs the forward pass it differentiates"):
        layer.backward(numpy.ones((1, 2)))
    layer.forward(numpy.ones((4, 3)))
    with pytest.raises(ValueError, match=r"dY has 2 row\(s\) but the last forward had 4"):
        layer.backward(numpy.ones((2, 2)))
    with pytest.raises(ValueError, match=r"dY must have 2 columns \(n_out\)"):
        layer.backward(numpy.ones((4, 3)))


def test_non_finite_parameters_are_reported_not_returned():
    layer = Dense(2, 2, "relu")
    layer.parameters()[0][0, 0] = numpy.nan          # the live array: no validation on this road
    with pytest.raises(cnn_core.DivergenceError, match=r"X @ W \+ b is not finite"):
        layer.forward(numpy.ones((1, 2)))
    net = cnn_core.Network([layer])
    with pytest.raises(cnn_core.DivergenceError, match=r"not finite"):
        net.predict(numpy.ones((1, 2)))


def test_numerical_gradient_that_overflows_restores_every_parameter(backend):
    net = cnn_core.Network([Dense(2, 2, "identity", seed=0)], backend=backend)
    before = net.layers[0]._params.tobytes()
    with pytest.raises(cnn_core.DivergenceError):
        net.numerical_gradient(numpy.array([[1e300, 1e300]]), numpy.zeros((1, 2)), eps=1e300)
    assert net.layers[0]._params.tobytes() == before
