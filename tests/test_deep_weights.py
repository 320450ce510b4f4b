"""Sample and class weights, the binary cross-entropy, validation_split and verbose fit
(issue 15, point 4): kernels against their NumPy twins and central differences, and fits whose
results can be worked out another way."""
import numpy
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import cnn_core
from cnn_core import _dense_numpy as twins
from cnn_core._dispatch import kernels
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD

RTOL = {numpy.float64: 1e-12, numpy.float32: 1e-5}
LOSSES = ["squared_error", "softmax_cross_entropy", "sigmoid_cross_entropy"]


def call(module, name, Z, T, scale, weights):
    Y, dZ = numpy.empty_like(Z), numpy.empty_like(Z)
    if name == "squared_error":
        result = getattr(module, name)(Z, T, dZ, scale, weights)
    else:
        result = getattr(module, name)(Z, T, Y, dZ, scale, weights)
    return result, dZ


def targets_for(name, rng, shape, dtype):
    if name == "softmax_cross_entropy":
        T = numpy.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])]
    elif name == "sigmoid_cross_entropy":
        T = rng.random(shape).astype(dtype)
    else:
        T = rng.normal(size=shape).astype(dtype)
    return T


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_kernels_match_their_numpy_twins(dtype, name, weighted):
    rng = numpy.random.default_rng(0)
    Z = rng.normal(0, 3, (9, 4)).astype(dtype)
    T = targets_for(name, rng, Z.shape, dtype)
    w = rng.random(9).astype(dtype) if weighted else None
    (loss, right), dZ = call(kernels, name, Z, T, 0.25, w)
    (loss_r, right_r), dZ_r = call(twins, name, Z, T, 0.25, w)
    assert right == right_r
    assert_allclose(loss, loss_r, rtol=RTOL[dtype])
    assert_allclose(dZ, dZ_r, rtol=RTOL[dtype], atol=1e-7 if dtype == numpy.float32 else 0)


@pytest.mark.parametrize("module", [kernels, twins], ids=["cython", "numpy"])
@pytest.mark.parametrize("name", LOSSES)
def test_weighted_loss_gradients_against_central_differences(module, name):
    """dZ is the gradient of scale * (the summed weighted loss) with respect to Z (or Y)."""
    rng = numpy.random.default_rng(1)
    Z = rng.normal(0, 2, (5, 3))
    T = targets_for(name, rng, Z.shape, numpy.float64)
    w = rng.random(5) * 3
    scale, eps = 0.2, 1e-6
    _, dZ = call(module, name, Z, T, scale, w)
    numeric = numpy.empty_like(Z)
    for index in numpy.ndindex(Z.shape):
        up, down = Z.copy(), Z.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = scale * (call(module, name, up, T, scale, w)[0][0]
                                  - call(module, name, down, T, scale, w)[0][0]) / (2 * eps)
    assert_allclose(dZ, numeric, rtol=1e-6, atol=1e-8)


def test_the_binary_cross_entropy_is_worked_out_by_hand():
    Z = numpy.array([[0.0], [2.0], [-1000.0]])
    T = numpy.array([[1.0], [0.0], [0.0]])
    (loss, right), dZ = call(kernels, "sigmoid_cross_entropy", Z, T, 1.0, None)
    # log 2 for z = 0; 2 + log(1 + e^-2) for z = 2, t = 0; ~0 for z = -1000, t = 0 (never log 0)
    assert_allclose(loss, numpy.log(2) + 2 + numpy.log1p(numpy.exp(-2)), rtol=1e-15)
    assert right == 1                       # z = 0 is not > 0 for t = 1; z = 2 wrong; z = -1000 right
    assert_allclose(dZ.ravel(), [0.5 - 1, 1 / (1 + numpy.exp(-2)), 0.0], atol=1e-15)


def binary_data(n=60, seed=0):
    rng = numpy.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(numpy.int64)
    return X, y


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_a_binary_classifier_with_one_sigmoid_output(backend):
    X, y = binary_data()
    net = cnn_core.Network([Dense(3, 8, "tanh", seed=0), Dense(8, 1, "sigmoid", seed=1)],
                           loss="binary_cross_entropy", optimizer=SGD(0.5), backend=backend)
    net.fit(X, y, epochs=60, batch_size=10, seed=0)
    assert net.accuracy(X, y) >= 0.95
    assert net.history["accuracy"][-1] >= 0.9
    grads = net.gradient(X, y)
    numeric = net.numerical_gradient(X, y)
    for (dW, db), (nW, nb) in zip(grads, numeric):
        assert_allclose(dW, nW, rtol=1e-5, atol=1e-8)
        assert_allclose(db, nb, rtol=1e-5, atol=1e-8)


def test_binary_cross_entropy_refuses_other_outputs_and_targets():
    with pytest.raises(ValueError, match=r"binary_cross_entropy' needs a sigmoid output layer; the last layer uses 'relu'"):
        cnn_core.Network([Dense(3, 2, "relu")], loss="binary_cross_entropy")
    with pytest.raises(ValueError, match=r"needs a sigmoid output of slope 1"):
        cnn_core.Network([Dense(3, 2, "sigmoid", slope=2.0)], loss="binary_cross_entropy")
    net = cnn_core.Network([Dense(3, 2, "sigmoid")], loss="binary_cross_entropy")
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        net.fit(numpy.zeros((2, 3)), [[0.5, 2.0], [0, 1]])


def per_sample_net(dtype=numpy.float64):
    return cnn_core.Network([Dense(3, 4, "sigmoid", seed=0, dtype=dtype),
                             Dense(4, 2, "softmax", seed=1, dtype=dtype)],
                            loss="cross_entropy", optimizer=SGD(0.1))


@pytest.mark.parametrize("batch_size", [1, 4])
def test_weights_of_one_change_nothing_and_a_weight_of_zero_drops_the_sample(dtype, batch_size):
    X, y = binary_data(12)
    plain, ones = per_sample_net(dtype), per_sample_net(dtype)
    plain.fit(X, y, epochs=2, batch_size=batch_size, shuffle=False)
    ones.fit(X, y, epochs=2, batch_size=batch_size, shuffle=False, sample_weight=numpy.ones(12))
    for a, b in zip(plain.layers, ones.layers):
        assert_array_equal(a._params, b._params)
    if batch_size == 1:                     # per sample, plain SGD: a zero weight is no step
        keep = numpy.arange(12) % 3 != 1
        dropped, short = per_sample_net(dtype), per_sample_net(dtype)
        dropped.fit(X, y, epochs=2, batch_size=1, shuffle=False, sample_weight=keep.astype(float))
        short.fit(X[keep], y[keep], epochs=2, batch_size=1, shuffle=False)
        for a, b in zip(dropped.layers, short.layers):
            assert_array_equal(a._params, b._params)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_the_backends_agree_on_weighted_fits(batch_size):
    X, y = binary_data(20)
    w = numpy.random.default_rng(3).random(20) * 2
    nets = [cnn_core.Network([Dense(3, 4, "relu", seed=0), Dense(4, 2, "softmax", seed=1)],
                             loss="cross_entropy", optimizer=SGD(0.1, momentum=0.5), backend=b)
            for b in ("cython", "numpy")]
    for net in nets:
        net.fit(X, y, epochs=3, batch_size=batch_size, seed=0, sample_weight=w)
    for a, b in zip(*[n.layers for n in nets]):
        assert_allclose(a._params, b._params, rtol=1e-12, atol=1e-14)
    assert_allclose(nets[0].history["loss"], nets[1].history["loss"], rtol=1e-12)


def test_balanced_class_weights_are_the_sample_weights_they_stand_for():
    X, y = binary_data(30)
    y[:20] = 0                              # unbalanced: 20+ of one class
    counts = numpy.bincount(y, minlength=2)
    by_hand = (30 / (2 * counts))[y]
    a, b, c = per_sample_net(), per_sample_net(), per_sample_net()
    a.fit(X, y, epochs=1, batch_size=6, seed=0, class_weight="balanced")
    b.fit(X, y, epochs=1, batch_size=6, seed=0, sample_weight=by_hand)
    c.fit(X, y, epochs=1, batch_size=6, seed=0, class_weight={0: by_hand[y == 0][0], 1: by_hand[y == 1][0]})
    for la, lb, lc in zip(a.layers, b.layers, c.layers):
        assert_array_equal(la._params, lb._params)
        assert_array_equal(la._params, lc._params)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sample_weight=numpy.ones(5)), ValueError, r"sample_weight must have one value per row of X \(12,\); got shape \(5,\)"),
    (dict(sample_weight=-numpy.ones(12)), ValueError, r"sample_weight must be >= 0; got -1.0 at index 0"),
    (dict(sample_weight=numpy.full(12, numpy.nan)), ValueError, r"sample_weight must be finite"),
    (dict(class_weight={5: 1.0}), ValueError, r"class_weight keys must be class labels in \[0, 2\); got 5"),
    (dict(class_weight="even"), ValueError, r"Unknown class_weight 'even'"),
    (dict(class_weight=[1, 2]), TypeError, r"class_weight must be None, a dict"),
    (dict(validation_split=1.0), ValueError, r"validation_split must be a finite number >= 0 and < 1"),
    (dict(validation_split=0.01), ValueError, r"leaves no validation rows"),
    (dict(validation_split=0.5, validation_data=(numpy.zeros((2, 3)), [0, 1])), ValueError, r"not both"),
    (dict(verbose=2), ValueError, r"verbose must be 0 \(quiet\) or 1"),
])
def test_bad_weights_and_splits_are_refused_before_anything_changes(kwargs, error, match):
    X, y = binary_data(12)
    net = per_sample_net()
    before = [layer._params.copy() for layer in net.layers]
    with pytest.raises(error, match=match):
        net.fit(X, y, **kwargs)
    for layer, old in zip(net.layers, before):
        assert_array_equal(layer._params, old)
    assert net.history["loss"] == []


def test_validation_split_is_stratified_reproducible_and_scored():
    X, y = binary_data(100, seed=2)
    nets = [per_sample_net() for _ in range(2)]
    for net in nets:
        net.fit(X, y, epochs=3, batch_size=10, seed=7, validation_split=0.2)
    assert nets[0].history == nets[1].history
    assert len(nets[0].history["val_loss"]) == 3 and all(v == v for v in nets[0].history["val_accuracy"])
    from cnn_core.network import _split_rows
    T = numpy.eye(2)[y]
    train, val = _split_rows(numpy.random.default_rng(7), 100, 0.2, T)
    assert len(set(train) | set(val)) == 100 and not set(train) & set(val)
    for c in (0, 1):        # each class keeps its share
        assert abs(numpy.sum(y[val] == c) - 0.2 * numpy.sum(y == c)) <= 0.5


def test_validation_split_weights_the_validation_loss():
    X, y = binary_data(50)
    w = numpy.where(y == 1, 3.0, 1.0)
    a, b = per_sample_net(), per_sample_net()
    a.fit(X, y, epochs=1, batch_size=5, seed=1, validation_split=0.2)
    b.fit(X, y, epochs=1, batch_size=5, seed=1, validation_split=0.2, sample_weight=w)
    assert a.history["val_loss"][0] != b.history["val_loss"][0]


def test_verbose_prints_a_line_per_epoch(capsys):
    X, y = binary_data(20)
    per_sample_net().fit(X, y, epochs=2, batch_size=5, verbose=1, validation_split=0.25, seed=0)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: loss ") and "val_loss" in lines[1]
    assert "samples/s" in lines[1]
