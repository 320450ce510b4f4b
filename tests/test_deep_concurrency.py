"""Threads, the GIL and Ctrl-C around Network.fit (and the layers' locks)."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy
import pytest
from numpy.testing import assert_array_equal

import cnn_core
from cnn_core import _trainer
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD, Adam

from conftest import NEUTRAL_CWD, child_env, ticks_while


def data(n, n_in=784, n_out=10, seed=0):
    rng = numpy.random.default_rng(seed)
    return rng.uniform(0, 1, (n, n_in)), rng.integers(0, n_out, n)


def network(sizes=(784, 256, 10), optimizer=None, seed=0):
    layers = [Dense(a, b, "relu" if i < len(sizes) - 2 else "softmax", seed=seed + i)
              for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    return cnn_core.Network(layers, loss="cross_entropy", optimizer=optimizer or SGD(0.01))


def params(net):
    return [layer._params.copy() for layer in net.layers]


def same(a, b):
    return all(numpy.array_equal(p, q) for p, q in zip(a, b))


# ------------------------------------------------------------------------------------------
# The GIL
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["fit in mini-batches", "fit per sample", "predict"])
def test_fit_and_predict_release_the_gil(what):
    """While fit or predict runs in a thread, Python code keeps running in another: it ticks
    about once a millisecond, where kernels holding the GIL would let it tick only between
    kernel calls (tens of milliseconds each here)."""
    net = network((784, 256, 10))
    X, y = data(2048)
    once = {"fit in mini-batches": lambda: net.fit(X, y, batch_size=2048, shuffle=False),
            "fit per sample": lambda: net.fit(X[:500], y[:500], batch_size=1, shuffle=False),
            "predict": lambda: net.predict(numpy.tile(X, (2, 1)))}[what]

    def call():                         # for at least 0.3 s
        start = time.perf_counter()
        while time.perf_counter() - start < 0.3:
            once()
    ticks, elapsed = ticks_while(call)
    assert ticks >= 0.3 * elapsed / 0.001, (ticks, elapsed)


# ------------------------------------------------------------------------------------------
# Locks
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size, make_opt", [(10, lambda: Adam(1e-3)), (1, lambda: SGD(0.05, momentum=0.9))])
def test_concurrent_fits_are_serialized(batch_size, make_opt):
    """Two threads fitting one network: the result is one fit after the other (in some order),
    never an interleaving of their batches."""
    X, y = data(400, 100, 5)
    halves = (X[:200], y[:200]), (X[200:], y[200:])
    net = network((100, 40, 5), make_opt())
    threads = [threading.Thread(target=net.fit, args=half, kwargs=dict(epochs=3, batch_size=batch_size, seed=i))
               for i, half in enumerate(halves)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = []
    for order in ((0, 1), (1, 0)):
        ref = network((100, 40, 5), make_opt())
        for i in order:
            ref.fit(*halves[i], epochs=3, batch_size=batch_size, seed=i)
        results.append(params(ref))
    assert any(same(params(net), r) for r in results)
    assert net.optimizer.iterations == 2 * 3 * 200 // batch_size


def _as_layer(state, layers, i):
    """Layer i's W and b in a `state` (a list of the layers' parameter vectors)."""
    n = layers[i].n_in * layers[i].n_out
    p = state[i]

    class View:
        W = p[:n].reshape(layers[i].n_in, layers[i].n_out)
        b = p[n:]
    return View


def boundary_states(make, X, y, batch, per_step):
    """Parameters and predict(X[:1]) after every step of fit(X, y, batch_size=batch,
    shuffle=False), where a step is `per_step` rows (a batch, or a kernel call's samples)."""
    ref = make()
    states = [(params(ref), ref.predict(X[:1]).tobytes())]
    for a in range(0, len(X), per_step):
        ref.fit(X[a:a + per_step], y[a:a + per_step], batch_size=batch, shuffle=False)
        states.append((params(ref), ref.predict(X[:1]).tobytes()))
    return states


@pytest.mark.parametrize("batch, make_opt", [(64, lambda: Adam(1e-3)), (1, lambda: SGD(0.01))])
def test_readers_during_fit_see_whole_steps(tmp_path, batch, make_opt):
    """predict, the layers' W and save, called from another thread while fit runs, see the
    parameters between two whole batches (per-sample SGD: two kernel calls), and they do get
    in between: more than the start and end states are seen."""
    make = lambda: network((784, 256, 10), make_opt())  # noqa: E731
    X, y = data(6400 if batch > 1 else 3000)
    net = make()
    per_step = batch if batch > 1 else _trainer.samples_per_call(net.layers)
    states = boundary_states(make, X, y, batch, per_step)
    outputs = {out: k for k, (_, out) in enumerate(states)}
    # each layer's W and b, as read separately: (layer, "W" or "b") -> the values at boundaries
    layers = net.layers
    known = {(i, name): {getattr(_as_layer(p, layers, i), name).tobytes() for p, _ in states}
             for i in range(len(layers)) for name in ("W", "b")}

    saved = 0
    # a torn state fails at once; getting in between steps needs the reader to be scheduled
    # within the 5 ms the trainer waits for it, which a loaded machine may deny a whole fit:
    # up to three fits from the same start for that
    for attempt in range(3):
        if attempt:
            net = make()
            layers = net.layers
        worker = threading.Thread(target=net.fit, args=(X, y),
                                  kwargs=dict(batch_size=batch, shuffle=False))
        seen = []
        worker.start()
        while worker.is_alive():
            seen.append(outputs.get(net.predict(X[:1]).tobytes(), "torn predict"))
            for (i, name), values in known.items():
                if getattr(layers[i], name).tobytes() not in values:
                    seen.append(f"torn {name} of layer {i}")
            if saved < 3:
                net.save(tmp_path / f"during{saved}.npz")
                saved += 1
        worker.join()
        assert not [s for s in seen if isinstance(s, str)], seen
        if len(set(seen)) > 2:
            break
    assert len(set(seen)) > 2, f"the readers saw only {sorted(set(seen))} of {len(states)} states"
    for k in range(saved):
        back = params(cnn_core.Network.load(tmp_path / f"during{k}.npz"))
        assert any(same(back, s) for s, _ in states), "a file saved during fit holds a torn state"


def test_a_layer_belongs_to_one_network_and_locks_with_it():
    layers = [Dense(4, 3, "relu", seed=0), Dense(3, 2, "softmax", seed=1)]
    net = cnn_core.Network(layers, loss="cross_entropy")
    assert layers[0]._lock is net._lock and layers[1]._training is net._training
    with pytest.raises(ValueError, match=r"layers\[0\] already belongs to another Network"):
        cnn_core.Network(layers[:1])
    # an assignment to W waits for the fit in progress (it takes the network's training lock)
    order = []
    X, y = data(3000, 4, 2)
    slow = lambda network, epoch, logs: (order.append(f"epoch {epoch}"), time.sleep(0.05))  # noqa: E731
    worker = threading.Thread(target=net.fit, args=(X, y), kwargs=dict(epochs=3, callbacks=[slow]))
    worker.start()
    while not order:
        time.sleep(0.001)
    layers[0].W = numpy.zeros((4, 3))
    order.append("assigned")
    worker.join()
    assert order == ["epoch 1", "epoch 2", "epoch 3", "assigned"]
    assert_array_equal(net.layers[0].W, numpy.zeros((4, 3)))
    del net
    import gc
    gc.collect()
    assert cnn_core.Network(layers[:1]).n_in == 4       # free again once its network is gone


# ------------------------------------------------------------------------------------------
# Ctrl-C
# ------------------------------------------------------------------------------------------

class InterruptingAdam(Adam):
    """Adam that raises SIGINT while updating the first layer of update number `at` (counted
    from 1): the worst moment, between the layers' updates of one batch."""

    def __init__(self, *args, at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.at, self.calls = at, 0

    def _step(self, p, g, state, lr, t):
        self.calls += 1
        if t == self.at and self.calls % 3 == 1:
            signal.raise_signal(signal.SIGINT)
        return super()._step(p, g, state, lr, t)


def interrupted(call):
    """The FitInterrupted that call() raises (a plain KeyboardInterrupt fails the test rather than
    stopping the test session)."""
    try:
        call()
    except cnn_core.FitInterrupted as exc:
        return exc
    except KeyboardInterrupt:
        pytest.fail("a plain KeyboardInterrupt escaped from fit, not FitInterrupted at a boundary")
    pytest.fail("fit was not interrupted")


def three_layers(optimizer):
    return network((6, 5, 4, 3), optimizer)


def test_ctrl_c_between_the_layers_updates_finishes_the_batch():
    """SIGINT in the middle of a batch's updates: the batch is finished on every layer, then
    fit raises FitInterrupted saying how many samples; the parameters equal training on exactly
    those samples. (Before, KeyboardInterrupt left the batch applied to some layers only.)"""
    X, y = data(40, 6, 3)
    net = three_layers(InterruptingAdam(0.01, at=7))
    before = signal.getsignal(signal.SIGINT)
    exc = interrupted(lambda: net.fit(X, y, epochs=2, batch_size=4, shuffle=False))
    assert str(exc) == ("fit interrupted after 28 samples (0 whole epochs and 28 samples of the next); "
                        "the network holds the training of exactly those samples, in whole batches.")
    assert isinstance(exc, KeyboardInterrupt) and exc.samples_seen == 28
    assert signal.getsignal(signal.SIGINT) is before
    twin = three_layers(Adam(0.01))
    twin.fit(X[:28], y[:28], batch_size=4, shuffle=False)
    assert same(params(net), params(twin))
    assert net.optimizer.iterations == 7
    assert net.history["loss"] == []                    # no whole epoch
    # and training goes on from there as if never interrupted
    net.fit(X[28:], y[28:], batch_size=4, shuffle=False)
    twin.fit(X[28:], y[28:], batch_size=4, shuffle=False)
    assert same(params(net), params(twin))


def test_ctrl_c_in_a_later_epoch_of_shuffled_training():
    X, y = data(30, 6, 3)
    net = three_layers(InterruptingAdam(0.01, at=12))          # 8 batches an epoch: the 4th of epoch 2
    exc = interrupted(lambda: net.fit(X, y, epochs=3, batch_size=4, seed=5))
    assert exc.samples_seen == 30 + 16
    assert "1 whole epoch and 16 samples of the next" in str(exc)
    twin = three_layers(Adam(0.01))
    twin.fit(X, y, epochs=1, batch_size=4, seed=5)
    rng = numpy.random.default_rng(5)
    rng.permutation(30)
    order = rng.permutation(30)[:16]
    twin.fit(X[order], y[order], batch_size=4, shuffle=False)
    assert same(params(net), params(twin))
    assert len(net.history["loss"]) == 1


def test_ctrl_c_in_a_callback_stops_after_whole_epochs():
    X, y = data(20, 6, 3)
    net = three_layers(Adam(0.01))

    def callback(network, epoch, logs):
        if epoch == 2:
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.01)                # the handler runs here: KeyboardInterrupt at once
            raise AssertionError("SIGINT was held back in a callback")

    exc = interrupted(lambda: net.fit(X, y, epochs=5, batch_size=3, callbacks=[callback]))
    assert "after 40 samples (2 whole epochs)" in str(exc)
    assert len(net.history["loss"]) == 2


def test_a_sigint_handler_of_the_user_runs_at_the_batch_boundary():
    """A handler that does not raise: it runs once, at the end of the batch, and fit goes on."""
    X, y = data(40, 6, 3)
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        net = three_layers(InterruptingAdam(0.01, at=3))
        net.fit(X, y, epochs=1, batch_size=4, shuffle=False)
        assert calls == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)
    twin = three_layers(Adam(0.01))
    twin.fit(X, y, epochs=1, batch_size=4, shuffle=False)
    assert same(params(net), params(twin))


def test_fit_in_a_thread_leaves_sigint_alone():
    X, y = data(40, 6, 3)
    net = three_layers(Adam(0.01))
    handlers = []
    worker = threading.Thread(target=lambda: net.fit(X, y, callbacks=lambda *a: handlers.append(signal.getsignal(signal.SIGINT))))
    worker.start()
    worker.join()
    assert handlers == [signal.getsignal(signal.SIGINT)]


INTERRUPT = textwrap.dedent("""
    import os, signal, threading, time, numpy, cnn_core
    from cnn_core.layers import Dense
    from cnn_core.optimizers import SGD, Adam
    rng = numpy.random.default_rng(0)
    N = 10000
    X, y = rng.uniform(0, 1, (N, 784)), rng.integers(0, 10, N)
    B = {batch}

    def make():
        return cnn_core.Network([Dense(784, 128, "relu", seed=0), Dense(128, 128, "relu", seed=1),
                                 Dense(128, 10, "softmax", seed=2)], loss="cross_entropy",
                                optimizer={optimizer})

    net = make()
    sent = []
    threading.Timer(0.5, lambda: (sent.append(time.perf_counter()), os.kill(os.getpid(), signal.SIGINT))).start()
    try:
        net.fit(X, y, epochs=50, batch_size=B, seed=7)
        raise SystemExit("fit was not interrupted")
    except cnn_core.FitInterrupted as exc:
        delay = time.perf_counter() - sent[0]
        seen = exc.samples_seen
        assert isinstance(exc, KeyboardInterrupt)
        assert str(seen) in str(exc)
    assert 0 < seen, seen
    epochs, rest = divmod(seen, N)
    assert rest % B == 0, (seen, B)                          # whole batches
    replay = make()
    if epochs:
        replay.fit(X, y, epochs=epochs, batch_size=B, seed=7)
    if rest:                                                 # and part of the next epoch
        order = numpy.random.default_rng(7)
        for _ in range(epochs + 1):
            rows = order.permutation(N)
        replay.fit(X[rows[:rest]], y[rows[:rest]], batch_size=B, shuffle=False)
    for a, b in zip(net.layers, replay.layers):
        assert numpy.array_equal(a._params, b._params)
    assert net.optimizer.iterations == replay.optimizer.iterations
    print(f"{{delay:.3f}} {{seen}}")
""")


@pytest.mark.parametrize("batch, optimizer", [(1, "SGD(0.01)"), (32, "Adam(1e-3)"), (1000, "SGD(0.1, momentum=0.9)")],
                         ids=["per-sample SGD", "Adam batch 32", "momentum batch 1000"])
def test_ctrl_c_stops_fit_quickly_at_a_batch_boundary(batch, optimizer):
    """SIGINT to the process during a long fit: FitInterrupted within 0.2 s, and the parameters
    equal training on exactly the samples it reports (replayed in the same shuffled order)."""
    result = subprocess.run([sys.executable, "-c", INTERRUPT.format(batch=batch, optimizer=optimizer)],
                            capture_output=True, text=True, timeout=300, env=child_env(), cwd=NEUTRAL_CWD)
    assert result.returncode == 0, result.stderr
    delay, seen = result.stdout.split()
    print(f"batch {batch}: stopped {delay} s after SIGINT, {seen} samples")
    assert float(delay) < 0.2, f"took {delay} s to stop after SIGINT"
