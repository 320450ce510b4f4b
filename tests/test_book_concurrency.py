"""Threads, the GIL and Ctrl-C around neuralNetwork's training."""
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy
import pytest
from numpy.testing import assert_array_equal

import cnn_core

from conftest import NEUTRAL_CWD, child_env, ticks_while


def data(n, inodes=784, onodes=10, seed=0):
    rng = numpy.random.default_rng(seed)
    return rng.uniform(0.01, 1, (n, inodes)), rng.uniform(0.01, 0.99, (n, onodes))


@pytest.mark.parametrize("kernel", ["book_fit", "book_train"])
def test_kernels_release_the_gil(kernel):
    """While one long kernel call runs in a thread, Python code keeps running in another."""
    net = cnn_core.neuralNetwork(784, 100, 10, 0.1, seed=0, n_threads=1)
    X, T = data(4000)
    order = numpy.tile(numpy.arange(4000), 3)
    if kernel == "book_fit":
        call = lambda: net._kernel.fit_rows(X, T, order, 0.1, 1, 1, 32)  # noqa: E731
    else:
        call = lambda: net._kernel.train_rows(X, T, order, 0.1, 1, 1)  # noqa: E731
    ticks, elapsed = ticks_while(call)
    assert elapsed > 0.05, "the kernel call was too short to tell"
    assert ticks >= 0.3 * elapsed / 0.001, (ticks, elapsed)


def test_concurrent_fits_are_serialized():
    X, T = data(300, 100, 5)
    first, second = (X[:150], T[:150]), (X[150:], T[150:])
    net = cnn_core.neuralNetwork(100, 50, 5, 0.1, seed=1)
    threads = [threading.Thread(target=net.fit, args=part, kwargs={"epochs": 3}) for part in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = []
    for a, b in ((first, second), (second, first)):
        ref = cnn_core.neuralNetwork(100, 50, 5, 0.1, seed=1)
        ref.fit(*a, epochs=3)
        ref.fit(*b, epochs=3)
        results.append((ref.wih, ref.who))
    assert any(numpy.array_equal(net.wih, w) and numpy.array_equal(net.who, v) for w, v in results)


def test_queries_during_fit_see_whole_samples():
    """Every weight snapshot read while fit runs is the state at a chunk boundary of that fit."""
    X, T = data(6000, 784, 10)
    boundaries = []
    ref = cnn_core.neuralNetwork(784, 60, 10, 0.1, seed=2)
    ref.fit(X, T, progress=lambda *a: boundaries.append(ref._kernel.weights()[0].tobytes()))
    boundaries = set(boundaries) | {cnn_core.neuralNetwork(784, 60, 10, 0.1, seed=2).wih.tobytes()}

    net = cnn_core.neuralNetwork(784, 60, 10, 0.1, seed=2)
    worker = threading.Thread(target=net.fit, args=(X, T))
    seen = []
    worker.start()
    while worker.is_alive():
        seen.append(net.wih.tobytes())
        net.query(X[0])
    worker.join()
    assert len(seen) > 1
    assert all(w in boundaries for w in seen)


INTERRUPT = textwrap.dedent("""
    import os, signal, threading, time, numpy, cnn_core
    rng = numpy.random.default_rng(0)
    X, T = rng.uniform(0.01, 1, (60000, 784)), rng.uniform(0.01, 0.99, (60000, 10))
    net = cnn_core.neuralNetwork(784, 200, 10, 0.1, seed=3, activation={activation!r})
    sent = []
    threading.Timer(0.5, lambda: (sent.append(time.perf_counter()), os.kill(os.getpid(), signal.SIGINT))).start()
    try:
        net.fit(X, T, epochs=20)
        raise SystemExit("fit was not interrupted")
    except cnn_core.FitInterrupted as exc:
        delay = time.perf_counter() - sent[0]
        seen = exc.samples_seen
        assert isinstance(exc, KeyboardInterrupt)
        assert str(seen) in str(exc)
    assert 0 < seen < 20 * 60000, seen
    replay = cnn_core.neuralNetwork(784, 200, 10, 0.1, seed=3, activation={activation!r})
    epochs, rest = divmod(seen, 60000)       # a fast machine gets past the first epoch
    if epochs:
        replay.fit(X, T, epochs=epochs)
    if rest:
        replay.fit(X[:rest], T[:rest])
    assert numpy.array_equal(replay.wih, net.wih) and numpy.array_equal(replay.who, net.who)
    print(f"{{delay:.3f}} {{seen}}")
""")


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_ctrl_c_stops_fit_quickly_at_a_sample_boundary(activation):
    result = subprocess.run([sys.executable, "-c", INTERRUPT.format(activation=activation)],
                            capture_output=True, text=True, timeout=300, env=child_env(), cwd=NEUTRAL_CWD)
    assert result.returncode == 0, result.stderr
    delay, seen = result.stdout.split()
    assert float(delay) < 0.2, f"took {delay} s to stop after SIGINT"


def test_adaptive_threads_keep_the_faster_count_and_probe_the_other():
    from cnn_core._threads import AdaptiveThreads
    plan = AdaptiveThreads((2, 1))
    speed = {2: 100.0, 1: 300.0}             # a busy machine: one thread is faster
    used = []
    for _ in range(200):
        n = plan.next()
        used.append(n)
        plan.record(n, speed[n], 1.0)
    assert used[:4] == [2, 2, 1, 1]          # each tried twice (the first run is start-up)
    assert used[4:].count(1) > 0.9 * len(used[4:])
    assert 2 in used[40:]                    # and two threads tried again now and then
    speed[2] = 1000.0                        # the machine became idle: back to two threads
    for _ in range(100):
        n = plan.next()
        used.append(n)
        plan.record(n, speed[n], 1.0)
    assert used[-50:].count(2) > 45


def test_adaptive_threads_soon_revisit_a_choice_made_in_a_busy_moment():
    """Two threads measured slow at first (another job had the second core), fast afterwards:
    the plan goes back to two threads within a few chunks, not after THREAD_PROBE_EVERY."""
    from cnn_core._threads import AdaptiveThreads
    plan = AdaptiveThreads((2, 1))
    used = []
    for chunk in range(40):
        n = plan.next()
        used.append(n)
        busy = chunk < 4
        plan.record(n, {2: 50.0 if busy else 500.0, 1: 300.0}[n], 1.0)
    assert used[:4] == [2, 2, 1, 1]
    assert used[4] == 1                       # two threads looked slower
    assert used.index(2, 4) < 10              # re-tried soon
    assert used[-20:].count(2) >= 18            # but for a probe of one thread now and then


def test_automatic_threads_give_the_same_bits_as_one_thread():
    X, T = data(700, 784, 10, seed=5)
    auto = cnn_core.neuralNetwork(784, 80, 10, 0.1, seed=4)
    one = cnn_core.neuralNetwork(784, 80, 10, 0.1, seed=4, n_threads=1)
    auto.fit(X, T, epochs=3)
    one.fit(X, T, epochs=3)
    assert_array_equal(auto.wih, one.wih)
    assert_array_equal(auto.who, one.who)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_buffers_the_threads_write_start_on_cache_lines(dtype, tmp_path):
    """Two threads write their own rows of wih and their parts of hin (the scratch): buffers
    that start on a 64-byte line keep them from writing to one line (which costs a transfer
    between the cores at every sample). Also for a loaded network."""
    net = cnn_core.neuralNetwork(784, 200, 10, 0.1, seed=0, dtype=dtype, n_threads=2)
    X, T = data(64)
    net.fit(X, T)
    net.save(tmp_path / "net.npz")
    for each in (net, cnn_core.neuralNetwork.load(tmp_path / "net.npz")):
        arrays = [each._kernel.raw_arrays()[k] for k in ("wih", "who", "xp", "s", "work")]
        assert all(a.ctypes.data % 64 == 0 and a.flags.c_contiguous for a in arrays)
