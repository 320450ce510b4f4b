"""Robustness (issue 14): fit's memory does not grow with the epochs; signals other than SIGINT
are held to safe points; non-finite updates are refused; attribute assignments and unusual
array types are validated."""
import subprocess
import sys
import textwrap

import numpy
import pytest

import cnn_core
from cnn_core import book
from cnn_core._dispatch import kernels


def _run(code, timeout=60):
    """Run `code` in a fresh interpreter; its stdout (the test fails on a non-zero exit)."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _data(n, i, o, seed=0):
    rng = numpy.random.default_rng(seed)
    X = rng.random((n, i))
    T = numpy.full((n, o), 0.01)
    T[numpy.arange(n), rng.integers(0, o, n)] = 0.99
    return X, T


# ------------------------------------------------------------------ 7: order made per epoch

def _old_segments(n_samples, epochs, per_call):
    """fit's kernel calls before the order was made per epoch (copied from the old book.py)."""
    total = n_samples * epochs
    if per_call >= n_samples:
        step = per_call // n_samples * n_samples
        return [(b, min(b + step, total)) for b in range(0, total, step)]
    return [(e * n_samples + b, e * n_samples + min(b + per_call, n_samples))
            for e in range(epochs) for b in range(0, n_samples, per_call)]


def _old_fit(net, X, T, epochs, shuffle, seed):
    """What fit computed with the whole run's order made up front."""
    N = len(X)
    if shuffle:
        rng = numpy.random.default_rng(seed)
        order = numpy.concatenate([rng.permutation(N) for _ in range(epochs)])
    else:
        order = numpy.tile(numpy.arange(N), epochs)
    X, T = net._inputs(X), net._targets(T, N)
    blocks = net.hnodes * net.inodes >= book.FIT_BLOCK_MIN_WEIGHTS
    scratch = [book._aligned_zeros(s, net.dtype)
               for s in kernels.book_block_buffers(book.FIT_BLOCK, net.inodes, net.hnodes)]
    for b, e in _old_segments(N, epochs, net._samples_per_call()):
        if blocks:
            kernels.book_fit(net._wih, net._who, X, T, order[b:e], net.lr, net._activation.code,
                             net._work, net._xp, net._s, net._state, *scratch, 1)
        else:
            net._train_rows(X, T, order[b:e], 1)


@pytest.mark.parametrize("sizes, n_rows, chunk_work", [
    ((5, 7, 3), 23, None),              # several epochs per kernel call
    ((5, 7, 3), 23, 7 * 8 * 4),         # several kernel calls per epoch
    ((70, 64, 4), 50, None),            # blocks of samples, several epochs per call
    ((70, 64, 4), 100, 64 * 74 * 40),   # blocks, several calls per epoch
])
@pytest.mark.parametrize("shuffle", [False, True])
def test_fit_order_per_epoch_same_bits(monkeypatch, sizes, n_rows, chunk_work, shuffle):
    if chunk_work is not None:
        monkeypatch.setattr(book, "FIT_CHUNK_WORK", chunk_work)
    X, T = _data(n_rows, sizes[0], sizes[2])
    a = cnn_core.neuralNetwork(*sizes, 0.2, seed=3, n_threads=1)
    b = cnn_core.neuralNetwork(*sizes, 0.2, seed=3, n_threads=1)
    a.fit(X, T, epochs=5, shuffle=shuffle, seed=11)
    _old_fit(b, X, T, 5, shuffle, 11)
    assert a.wih.tobytes() == b.wih.tobytes() and a.who.tobytes() == b.who.tobytes()


def test_fit_memory_does_not_grow_with_epochs():
    out = _run("""
        import resource, numpy, cnn_core
        X = numpy.random.default_rng(0).random((100, 4)); T = numpy.full((100, 2), 0.5)
        net = cnn_core.neuralNetwork(4, 3, 2, 0.1, seed=0, n_threads=1)
        net.fit(X, T, epochs=2)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        calls = []
        def progress(*args):
            calls.append(args)
            if len(calls) == 3:
                raise RuntimeError("stop")
        try:
            net.fit(X, T, epochs=200_000, shuffle=True, seed=1, progress=progress)
        except RuntimeError:
            pass
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) / 1024)
    """)
    grown_mb = float(out)
    # the old order for 100 rows x 200,000 epochs alone was 160 MB
    assert grown_mb < 30, grown_mb
