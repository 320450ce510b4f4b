"""Network: both backends agree, training does what the documents' loops do, softmax properties,
history, callbacks, divergence."""
import re

import numpy
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import cnn_core
import cnn_core._dense_numpy
from cnn_core import _trainer
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD, AdaGrad, Adam, ExponentialDecay, RMSprop


def make(backend="cython", dtype=numpy.float64, optimizer=None, loss="cross_entropy", sizes=(6, 8, 7, 4),
         hidden="relu", seed=0):
    out = "softmax" if loss == "cross_entropy" else "sigmoid"
    layers = [Dense(a, b, hidden if i < len(sizes) - 2 else out, dtype=dtype, seed=seed + i)
              for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    return cnn_core.Network(layers, loss=loss, optimizer=optimizer or SGD(0.1), backend=backend)


def data(n=40, n_in=6, n_out=4, seed=1, dtype=numpy.float64):
    rng = numpy.random.default_rng(seed)
    return rng.normal(size=(n, n_in)).astype(dtype), rng.integers(0, n_out, n)


def params(net):
    return [a for layer in net.layers for a in (layer.W, layer.b) if a is not None]


@pytest.mark.parametrize("make_opt", [lambda: SGD(0.1), lambda: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                      lambda: AdaGrad(0.05), lambda: RMSprop(0.005), lambda: Adam(0.01),
                                      lambda: SGD(ExponentialDecay(0.2, 0.5, decay_steps=7))])
@pytest.mark.parametrize("loss, hidden", [("cross_entropy", "relu"), ("squared_error", "tanh"),
                                          ("squared_error", "sigmoid")])
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_backends_agree_to_1e12_in_float64(make_opt, loss, hidden, batch_size):
    X, y = data()
    nets = [make(b, optimizer=make_opt(), loss=loss, hidden=hidden) for b in ("cython", "numpy")]
    for net in nets:
        net.fit(X, y, epochs=4, batch_size=batch_size, seed=3, validation_data=(X[:10], y[:10]))
    for a, b in zip(params(nets[0]), params(nets[1])):
        assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert_allclose(nets[0].history[key], nets[1].history[key], rtol=1e-12)
    assert_allclose(nets[0].predict(X), nets[1].predict(X), rtol=1e-12, atol=1e-14)


def test_backends_agree_in_float32():
    X, y = data(dtype=numpy.float32)
    nets = [make(b, dtype=numpy.float32, optimizer=SGD(0.1, momentum=0.5)) for b in ("cython", "numpy")]
    for net in nets:
        net.fit(X, y, epochs=3, batch_size=5, seed=0)
    for a, b in zip(params(nets[0]), params(nets[1])):
        assert a.dtype == numpy.float32
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_whole_batch_step_is_gradient_descent(backend):
    X, y = data(n=12)
    net = make(backend, optimizer=SGD(0.3))
    before = params(net)
    grads = [g for pair in net.gradient(X, y) for g in pair]
    loss_before = net.loss(X, y)
    net.fit(X, y, epochs=1, batch_size=12, shuffle=False)
    for p0, g, p1 in zip(before, grads, params(net)):
        assert_allclose(p1, p0 - 0.3 * g, rtol=1e-13, atol=1e-15)
    assert net.history["loss"] == [pytest.approx(loss_before, rel=1e-13)]
    assert net.loss(X, y) < loss_before


def test_mini_batches_are_consecutive_slices_without_shuffle(backend):
    """fit(batch_size=5, shuffle=False) = gradient steps on rows 0-4, 5-9, 10-11 (the last
    batch smaller, its loss the mean over its own rows)."""
    X, y = data(n=12)
    net, manual = make(backend), make(backend)
    net.fit(X, y, batch_size=5, shuffle=False)
    total = 0.0
    for a, b in ((0, 5), (5, 10), (10, 12)):
        total += manual.loss(X[a:b], y[a:b]) * (b - a)
        grads = [g for pair in manual.gradient(X[a:b], y[a:b]) for g in pair]
        for layer, (dW, db) in zip(manual.layers, zip(grads[::2], grads[1::2])):
            layer.W, layer.b = layer.W - 0.1 * dW, layer.b - 0.1 * db
    for p, q in zip(params(net), params(manual)):
        assert_allclose(p, q, rtol=1e-13, atol=1e-15)
    assert net.history["loss"][0] == pytest.approx(total / 12, rel=1e-13)


def test_per_sample_training_matches_the_study_notes_loop(backend):
    """The notes' loop, in NumPy: per sample, forward, delta = (y - t) * f'(u), update."""
    rng = numpy.random.default_rng(4)
    X, T = rng.random((9, 2)), rng.random((9, 1))
    net = cnn_core.Network([Dense(2, 5, "sigmoid", seed=1), Dense(5, 1, "identity", seed=2)],
                           optimizer=SGD(0.07), backend=backend)
    W1, b1, W2, b2 = (a.copy() for a in (net.layers[0].W, net.layers[0].b, net.layers[1].W, net.layers[1].b))
    net.fit(X, T, batch_size=1, shuffle=False)
    for x, t in zip(X, T):
        x = x[None]
        h = 1 / (1 + numpy.exp(-(x @ W1 + b1)))
        o = h @ W2 + b2
        d2 = o - t
        d1 = (d2 @ W2.T) * h * (1 - h)
        W2, b2 = W2 - 0.07 * h.T @ d2, b2 - 0.07 * d2.sum(0)
        W1, b1 = W1 - 0.07 * x.T @ d1, b1 - 0.07 * d1.sum(0)
    for p, q in zip(params(net), (W1, b1, W2, b2)):
        assert_allclose(p, q, rtol=1e-13, atol=1e-15)


def test_shuffle_is_reproducible_from_the_seed(backend):
    X, y = data()
    a, b, c = make(backend), make(backend), make(backend)
    a.fit(X, y, epochs=2, batch_size=4, seed=11)
    b.fit(X, y, epochs=2, batch_size=4, seed=11)
    c.fit(X, y, epochs=2, batch_size=4, seed=12)
    assert all(numpy.array_equal(p, q) for p, q in zip(params(a), params(b)))
    assert not all(numpy.array_equal(p, q) for p, q in zip(params(a), params(c)))


def test_targets_as_labels_or_one_hot_rows_are_the_same(backend):
    X, y = data()
    a, b = make(backend), make(backend)
    a.fit(X, y, epochs=2, batch_size=8, seed=0)
    b.fit(X, numpy.eye(4)[y], epochs=2, batch_size=8, seed=0)
    assert all(numpy.array_equal(p, q) for p, q in zip(params(a), params(b)))
    assert a.accuracy(X, y) == b.accuracy(X, numpy.eye(4)[y])


def test_history_and_callbacks(backend):
    X, y = data()
    net = make(backend, optimizer=SGD(ExponentialDecay(0.1, 0.5, decay_steps=10)))
    seen = []

    def stop_after_three(network, epoch, logs):
        seen.append((epoch, logs["loss"]))
        return epoch == 3

    net.fit(X, y, epochs=10, batch_size=10, validation_data=(X[:8], y[:8]), callbacks=[stop_after_three])
    assert [e for e, _ in seen] == [1, 2, 3]
    assert {k: len(v) for k, v in net.history.items()} == {k: 3 for k in net.history}
    assert net.history["lr"] == pytest.approx([0.1, 0.1 * 0.5 ** 0.4, 0.1 * 0.5 ** 0.8])
    assert net.history["val_accuracy"][-1] == net.accuracy(X[:8], y[:8])
    assert net.history["val_loss"][-1] == pytest.approx(net.loss(X[:8], y[:8]), rel=1e-12)
    net.fit(X, y, epochs=1)                                  # history goes on across calls
    assert len(net.history["loss"]) == 4 and numpy.isnan(net.history["val_loss"][-1])


def test_regression_has_no_accuracy(backend):
    rng = numpy.random.default_rng(0)
    X = rng.random((20, 2))
    net = cnn_core.Network([Dense(2, 3, "relu", seed=0), Dense(3, 1, "identity", seed=1)], backend=backend)
    net.fit(X, X @ [2.0, 3.0], epochs=2)                      # a 1-D target column for n_out == 1
    assert numpy.isnan(net.history["accuracy"]).all()
    with pytest.raises(ValueError, match=r"accuracy needs a classifier"):
        net.accuracy(X, numpy.zeros(20, int))


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 12), shift=st.floats(-500, 500),
       scale=st.floats(0.01, 300), seed=st.integers(0, 2**16), module=st.sampled_from(["cython", "numpy"]))
def test_softmax_rows_sum_to_one_and_are_shift_invariant(rows, cols, shift, scale, seed, module):
    kernels = cnn_core._dispatch.kernels if module == "cython" else cnn_core._dense_numpy
    code = cnn_core.activations.ACTIVATIONS["softmax"].code
    X = numpy.random.default_rng(seed).normal(size=(rows, cols)) * scale
    W, b = numpy.eye(cols), numpy.zeros(cols)

    def softmax(A):
        Z, Y = numpy.empty_like(A), numpy.empty_like(A)
        assert kernels.dense_forward(A, W, b, code, 1.0, Z, Y)
        return Y

    Y = softmax(X)
    assert numpy.isfinite(Y).all() and (Y >= 0).all()
    assert_allclose(Y.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(softmax(X + shift), Y, rtol=1e-9, atol=1e-12 * max(1.0, abs(shift)))
    assert_array_equal(Y.argmax(axis=1), X.argmax(axis=1))


def test_divergence_keeps_the_last_finite_parameters(backend):
    """ReLU with a huge rate overflows. The network keeps the parameters from before the failing
    batch: the same as training a twin exactly up to that batch."""
    X = numpy.random.default_rng(0).random((30, 6)) * 10
    T = numpy.random.default_rng(1).random((30, 4)) * 100
    def net_():
        return cnn_core.Network([Dense(6, 8, "relu", seed=0), Dense(8, 4, "identity", seed=1)],
                                optimizer=SGD(1e30), backend=backend)
    net = net_()
    with pytest.raises(cnn_core.DivergenceError, match=r"Training diverged at epoch \d+ .*smaller learning rate") as info:
        net.fit(X, T, epochs=5, batch_size=1, shuffle=False)
    epoch, batch = map(int, re.search(r"epoch (\d+) \(non-finite .* at batch (\d+) of", str(info.value)).groups())
    assert all(numpy.isfinite(p).all() for p in params(net))
    twin = net_()
    if epoch > 1:
        twin.fit(X, T, epochs=epoch - 1, batch_size=1, shuffle=False)
    if batch > 1:
        twin.fit(X[:batch - 1], T[:batch - 1], batch_size=1, shuffle=False)
    assert all(numpy.array_equal(p, q) for p, q in zip(params(net), params(twin)))
    assert net.optimizer.iterations == twin.optimizer.iterations
    assert len(net.history["loss"]) == epoch - 1


def test_divergence_in_a_shuffled_mini_batch_epoch_with_momentum(backend):
    X = numpy.random.default_rng(0).random((50, 6)) * 10
    T = numpy.random.default_rng(1).random((50, 4)) * 1e3
    net = cnn_core.Network([Dense(6, 8, "relu", seed=0), Dense(8, 4, "identity", seed=1)],
                           optimizer=SGD(1e12, momentum=0.9), backend=backend)
    with pytest.raises(cnn_core.DivergenceError):
        net.fit(X, T, epochs=20, batch_size=7, seed=5)
    assert all(numpy.isfinite(p).all() for p in params(net))
    assert all(numpy.isfinite(s).all() for slot in net.optimizer._state for s in slot)


def test_an_update_that_overflows_is_undone(backend):
    """float32 parameters overflow in the update while the loss (summed in float64) is still
    finite: the epoch is replayed up to the batch before, giving the same parameters as a twin
    trained exactly that far."""
    X = numpy.ones((5, 2), numpy.float32)
    T = numpy.full((5, 1), 1e20, numpy.float32)

    def net_():
        return cnn_core.Network([Dense(2, 1, "identity", init=0.1, dtype=numpy.float32, seed=0)],
                                optimizer=SGD(1e10, momentum=0.5), backend=backend)
    net = net_()
    with pytest.raises(cnn_core.DivergenceError,
                       match=r"epoch 1 \(non-finite parameters after the update at batch 2 of 5\)"):
        net.fit(X, T, batch_size=1, shuffle=False)
    twin = net_()
    twin.fit(X[:1], T[:1], batch_size=1, shuffle=False)
    assert all(numpy.array_equal(p, q) for p, q in zip(params(net), params(twin)))
    assert all(numpy.isfinite(p).all() for p in params(net))
    assert net.optimizer.iterations == 1
    assert_array_equal(net.optimizer._state[0][0], twin.optimizer._state[0][0])


@pytest.mark.parametrize("shuffle", [False, True])
def test_training_allocates_nothing_per_batch(shuffle, monkeypatch):
    """After the first batch the layers' buffers are reused: while a batch is gathered, run
    forward and backward and the optimizer updates, the traced memory peaks far below the size of
    that batch's smallest array (any per-batch array would show)."""
    import tracemalloc
    rng = numpy.random.default_rng(0)
    X, T = rng.random((20_000, 20)), numpy.eye(10)[rng.integers(0, 10, 20_000)]
    net = cnn_core.Network([Dense(20, 64, "relu", seed=0), Dense(64, 10, "softmax", seed=1)],
                           loss="cross_entropy", optimizer=SGD(0.1, momentum=0.9))
    net.fit(X, T, epochs=1, batch_size=2000, shuffle=shuffle, seed=0)       # warm up: buffers made
    peaks = []

    def watched(method):
        def run(*args):
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            result = method(*args)
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
            return result
        return run

    monkeypatch.setattr(_trainer.Batches, "take", watched(_trainer.Batches.take))
    monkeypatch.setattr(_trainer._Fit, "step", watched(_trainer._Fit.step))
    tracemalloc.start()
    try:
        net.fit(X, T, epochs=2, batch_size=2000, shuffle=shuffle, seed=1)
    finally:
        tracemalloc.stop()
    assert len(peaks) == 2 * 2 * 10
    smallest_batch_array = 2000 * 10 * 8                                     # the output's dZ
    assert max(peaks) < smallest_batch_array / 20, peaks


class _SteppedSGD(SGD):
    """SGD through the general per-batch path (a subclass with its own _step is not run by the
    per-sample kernel)."""

    def _step(self, *args):
        return super()._step(*args)


@pytest.mark.parametrize("loss, hidden", [("cross_entropy", "relu"), ("squared_error", "sigmoid")])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}])
def test_per_sample_kernel_equals_the_step_by_step_path(backend, loss, hidden, kwargs):
    """fit(batch_size=1) with SGD runs many samples per kernel call (sgd_train_samples); it must
    give exactly what the batch-by-batch path gives, schedule and history included."""
    X, y = data(n=25)
    rate = ExponentialDecay(0.2, 0.5, decay_steps=10)
    fast = make(backend, optimizer=SGD(rate, **kwargs), loss=loss, hidden=hidden, sizes=(6, 5, 5, 4))
    slow = make(backend, optimizer=_SteppedSGD(rate, **kwargs), loss=loss, hidden=hidden, sizes=(6, 5, 5, 4))
    assert fast.optimizer._runs_per_sample() and not slow.optimizer._runs_per_sample()
    T = y if loss == "cross_entropy" else numpy.eye(4)[y] * 0.8 + 0.1
    for net in (fast, slow):
        net.fit(X, T, epochs=3, batch_size=1, seed=2)
    for p, q in zip(params(fast), params(slow)):        # the same operations: the same bits
        assert_array_equal(p, q)
    for key in fast.history:
        assert_allclose(fast.history[key], slow.history[key], rtol=1e-14)
    assert fast.optimizer.iterations == slow.optimizer.iterations == 75
    if kwargs:
        assert_array_equal(fast.optimizer._state[0][0], slow.optimizer._state[0][0])


def test_divergence_seen_on_the_validation_data_says_the_epoch_and_what_to_try(backend):
    """Training stays finite, the validation data's forward pass does not: a DivergenceError
    naming the epoch with advice (it used to be the generic message of predict), and the
    network keeps its finite parameters of the end of that epoch."""
    X, y = data(n=12)
    net, twin = make(backend), make(backend)
    for n in (net, twin):
        n.layers[0].W = numpy.full((6, 8), 0.5)           # 6 inputs of 1e308: Z = 3e308, not finite
    with pytest.raises(cnn_core.DivergenceError,
                       match=r"^Training diverged at epoch 1: the forward pass of the validation data is "
                             r"not finite \(the parameters have grown to \d.*, or the validation inputs "
                             r"are too large\); the network keeps its parameters from the end of that "
                             r"epoch, which are finite\. Try a smaller learning rate \(now 0\.1\)"):
        net.fit(X, y, epochs=3, batch_size=4, shuffle=False, validation_data=(numpy.full_like(X, 1e308), y))
    twin.fit(X, y, epochs=1, batch_size=4, shuffle=False)
    assert all(numpy.array_equal(p, q) for p, q in zip(params(net), params(twin)))
    assert net.history["loss"] == []


@pytest.mark.parametrize("make_opt, dtype, batch_size", [
    (lambda: Adam(1e17), numpy.float32, 4),
    (lambda: RMSprop(1e36), numpy.float32, 1),
    (lambda: AdaGrad(1e300), numpy.float64, 3),
    (lambda: SGD(ExponentialDecay(1e30, 0.5, decay_steps=3), momentum=0.9), numpy.float64, 1),
    (lambda: SGD(1e25), numpy.float32, 20),
], ids=["Adam float32", "RMSprop float32 per sample", "AdaGrad float64", "SGD schedule per sample", "SGD whole batch"])
def test_divergence_with_any_optimizer_keeps_the_last_finite_parameters(backend, make_opt, dtype, batch_size):
    """Whatever the optimizer and path (per-sample kernel, mini-batches, whole batch), a rate
    that blows the parameters up gives a DivergenceError naming the epoch and batch, with
    advice, and the network keeps the parameters (and optimizer state) from before that batch:
    those of a twin trained exactly up to it."""
    rng = numpy.random.default_rng(3)
    X, T = (rng.random((20, 6)) * 10).astype(dtype), (rng.random((20, 4)) * 100).astype(dtype)

    def net_():
        return cnn_core.Network([Dense(6, 8, "relu", seed=0, dtype=dtype), Dense(8, 4, "identity", seed=1, dtype=dtype)],
                                optimizer=make_opt(), backend=backend)
    net = net_()
    with pytest.raises(cnn_core.DivergenceError) as info:
        net.fit(X, T, epochs=50, batch_size=batch_size, shuffle=False)
    message = str(info.value)
    match = re.match(r"Training diverged at epoch (\d+) \(non-finite (values in the forward pass|loss|parameters "
                     r"after the update) at batch (\d+) of (\d+)\); the network keeps its last finite parameters, "
                     r"from before that batch\. Try a smaller learning rate \(now \S+\) or inputs scaled to about "
                     r"\[0, 1\]\.$", message)
    assert match, message
    epoch, batch, batches = int(match.group(1)), int(match.group(3)), int(match.group(4))
    assert batches == -(-20 // batch_size)
    assert all(numpy.isfinite(p).all() for p in params(net))
    assert all(numpy.isfinite(a).all() for slot in (net.optimizer._state or []) for a in slot)
    twin = net_()
    if epoch > 1:
        twin.fit(X, T, epochs=epoch - 1, batch_size=batch_size, shuffle=False)
    if batch > 1:
        twin.fit(X[:(batch - 1) * batch_size], T[:(batch - 1) * batch_size], batch_size=batch_size, shuffle=False)
    assert all(numpy.array_equal(p, q) for p, q in zip(params(net), params(twin)))
    assert net.optimizer.iterations == twin.optimizer.iterations
    assert len(net.history["loss"]) == epoch - 1
    try:                                    # the last finite parameters may still be huge:
        assert numpy.isfinite(net.predict(X[:1])).all()     # finite outputs, or an error saying so
    except cnn_core.DivergenceError as exc:
        assert "not finite" in str(exc)


@pytest.mark.parametrize("lr, batch_size", [(10, 3), (30, 3), (1.3, 1)],
                         ids=["epoch 3", "epoch 2", "per sample"])
def test_divergence_in_shuffled_epochs_goes_back_to_the_batch_before(backend, lr, batch_size):
    """A failed update in a shuffled epoch: the network goes back to the epoch's start and
    replays that epoch's finite batches in the epoch's order, so it equals a twin trained on
    exactly the batches before the failing one (the earlier epochs, then the rows of that
    epoch's order up to it)."""
    rng = numpy.random.default_rng(3)
    X, T = (rng.random((20, 6)) * 10).astype(numpy.float32), (rng.random((20, 4)) * 100).astype(numpy.float32)

    def net_():
        return cnn_core.Network([Dense(6, 8, "relu", seed=0, dtype=numpy.float32),
                                 Dense(8, 4, "identity", seed=1, dtype=numpy.float32)],
                                optimizer=SGD(lr, momentum=0.9), backend=backend)
    net = net_()
    with pytest.raises(cnn_core.DivergenceError) as info:
        net.fit(X, T, epochs=50, batch_size=batch_size, seed=7)
    match = re.match(r"Training diverged at epoch (\d+) \(non-finite parameters after the update at batch "
                     r"(\d+) of", str(info.value))
    assert match, str(info.value)
    epoch, batch = int(match.group(1)), int(match.group(2))
    assert epoch > 1 or batch > 2                       # something to replay
    twin = net_()
    orders = numpy.random.default_rng(7)
    if epoch > 1:
        twin.fit(X, T, epochs=epoch - 1, batch_size=batch_size, seed=7)
        for _ in range(epoch - 1):
            orders.permutation(20)
    rows = orders.permutation(20)[:(batch - 1) * batch_size]
    if len(rows):
        twin.fit(X[rows], T[rows], batch_size=batch_size, shuffle=False)
    assert all(numpy.array_equal(p, q) for p, q in zip(params(net), params(twin)))
    assert net.optimizer.iterations == twin.optimizer.iterations
    assert len(net.history["loss"]) == epoch - 1
