"""Soak test: many calls, and the resident memory must not grow.

    python stress/soak.py [--scale 1.0]

Runs, after a warm-up of each (counts times --scale):
- the book network: 1,000,000 one-sample `train` calls, 10,000 `query` and `predict` calls,
  1,000 save/load cycles, 1,000 network constructions, 10,000 pickle round trips and 10,000
  deep copies;
- the deep networks: 100,000 one-sample `Network.fit` calls (per-sample SGD) and 100,000 with
  Adam, 10,000 mini-batch fits, 10,000 `predict`, `loss`, `gradient` and `Dense.forward` +
  `backward` calls, 10,000 bad inputs, 1,000 save/load cycles, 1,000 constructions, 10,000
  pickle round trips and 10,000 deep copies;
and prints the resident set size (RSS) before and after each. Exits with status 1 if RSS grew
by 1 MB or more over a phase.
"""
import argparse
import copy
import gc
import os
import pickle
import sys
import tempfile
import time

import numpy

import cnn_core

LIMIT_BYTES = 1 << 20


def rss_bytes():
    """Resident set size of this process (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def phase(name, count, step, warmup=None):
    """Run step(i) for i < count after `warmup` calls; return (name, count, RSS growth, seconds)."""
    for i in range(warmup if warmup is not None else max(1, count // 10)):
        step(i)
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    for i in range(count):
        step(i)
    seconds = time.perf_counter() - start
    gc.collect()
    grown = rss_bytes() - before
    print(f"{name:<38} {count:>9,} calls  {seconds:7.1f} s  RSS {before / 2**20:7.1f} MB -> "
          f"{(before + grown) / 2**20:7.1f} MB ({grown / 1024:+.0f} kB)", flush=True)
    return grown


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count by this")
    args = parser.parse_args(argv)
    n = lambda count: max(1, int(count * args.scale))  # noqa: E731
    rng = numpy.random.default_rng(0)
    X = rng.uniform(0.01, 1, (1000, 784))
    T = numpy.full((1000, 10), 0.01)
    T[numpy.arange(1000), rng.integers(0, 10, 1000)] = 0.99
    small = cnn_core.neuralNetwork(4, 8, 3, 0.1, seed=0)
    xs, ts = rng.uniform(0, 1, (1000, 4)), rng.uniform(0.01, 0.99, (1000, 3))
    book = cnn_core.neuralNetwork(784, 100, 10, 0.1, seed=0)
    results = []
    results.append(phase("train (4-8-3), one sample a call", n(1_000_000),
                         lambda i: small.train(xs[i % 1000], ts[i % 1000])))
    results.append(phase("train (784-100-10), list inputs", n(20_000),
                         lambda i: book.train(X[i % 1000].tolist(), T[i % 1000].tolist())))
    results.append(phase("query (784-100-10)", n(10_000), lambda i: book.query(X[i % 1000])))
    results.append(phase("predict 100 rows (784-100-10)", n(10_000), lambda i: book.predict(X[:100])))
    results.append(phase("fit 100 rows (784-100-10)", n(1_000), lambda i: book.fit(X[:100], T[:100])))
    results.append(phase("bad input raising TypeError", n(10_000), lambda i: _raises(book)))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "net.npz")

        def save_load(i):
            book.save(path)
            cnn_core.neuralNetwork.load(path)
        results.append(phase("save + load (784-100-10)", n(1_000), save_load))
    results.append(phase("construct 784-100-10", n(1_000),
                         lambda i: cnn_core.neuralNetwork(784, 100, 10, 0.1, seed=i)))
    results.append(phase("pickle round trip (784-100-10)", n(10_000),
                         lambda i: pickle.loads(pickle.dumps(book))))
    results.append(phase("copy.deepcopy (4-8-3)", n(10_000), lambda i: copy.deepcopy(small)))
    results += deep_phases(n, rng, X)
    worst = max(results)
    print(f"largest RSS growth over a phase: {worst / 1024:+.0f} kB (limit {LIMIT_BYTES // 1024} kB)")
    return 0 if worst < LIMIT_BYTES else 1


def deep_phases(n, rng, X):
    """The deep networks' phases (see the module's docstring)."""
    from cnn_core.layers import Dense
    from cnn_core.optimizers import SGD, Adam

    def network(sizes, optimizer, loss="cross_entropy", seed=0):
        out = "softmax" if loss == "cross_entropy" else "sigmoid"
        return cnn_core.Network([Dense(a, b, "relu" if i < len(sizes) - 2 else out, seed=seed + i)
                                 for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))],
                                loss=loss, optimizer=optimizer)

    xs, ys = rng.uniform(0, 1, (1000, 4)), rng.integers(0, 3, 1000)
    labels = rng.integers(0, 10, len(X))
    small = network((4, 8, 3), SGD(0.01))
    small_adam = network((4, 8, 3), Adam(1e-3), loss="squared_error")
    onehot = numpy.eye(3)[ys]
    deep = network((784, 128, 10), SGD(0.01, momentum=0.9))

    def fit(net, *args, **kwargs):
        # history keeps 5 numbers per epoch by design (about 170 bytes): start it afresh
        net.history = {key: [] for key in net.history}
        net.fit(*args, **kwargs)

    results = []
    results.append(phase("Network.fit (4-8-3), 1 sample SGD", n(100_000),
                         lambda i: fit(small, xs[i % 1000], ys[i % 1000:i % 1000 + 1], shuffle=False)))
    results.append(phase("Network.fit (4-8-3), 1 sample Adam", n(100_000),
                         lambda i: fit(small_adam, xs[i % 1000], onehot[i % 1000], shuffle=False)))
    results.append(phase("Network.fit 100 rows, batch 20", n(10_000),
                         lambda i: fit(deep, X[:100], labels[:100], batch_size=20, seed=i)))
    results.append(phase("Network.predict 100 rows", n(10_000), lambda i: deep.predict(X[:100])))
    results.append(phase("Network.loss and accuracy 100 rows", n(10_000),
                         lambda i: (deep.loss(X[:100], labels[:100]), deep.accuracy(X[:100], labels[:100]))))
    results.append(phase("Network.gradient 10 rows", n(10_000),
                         lambda i: deep.gradient(X[:10], labels[:10])))
    layer = Dense(784, 64, "tanh", seed=0)
    dY = numpy.ones((32, 64))
    results.append(phase("Dense.forward + backward 32 rows", n(10_000),
                         lambda i: (layer.forward(X[:32]), layer.backward(dY))))
    results.append(phase("Network bad input raising ValueError", n(10_000), lambda i: _refused(deep)))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "deep.npz")

        def save_load(i):
            deep.save(path)
            cnn_core.Network.load(path)
        results.append(phase("Network save + load (784-128-10)", n(1_000), save_load))
    results.append(phase("Network pickle round trip (784-128-10)", n(10_000),
                         lambda i: pickle.loads(pickle.dumps(deep))))
    results.append(phase("copy.deepcopy Network (4-8-3, Adam)", n(10_000),
                         lambda i: copy.deepcopy(small_adam)))
    results.append(phase("construct Network 784-128-10", n(1_000),
                         lambda i: network((784, 128, 10), Adam(), seed=i)))
    return results


def _refused(net):
    try:
        net.fit(numpy.ones((3, 5)), [0, 1, 2])
    except ValueError:
        return
    raise AssertionError("no ValueError")


def _raises(net):
    try:
        net.train(None, [0.5] * 10)
    except TypeError:
        return
    raise AssertionError("no TypeError")


if __name__ == "__main__":
    sys.exit(main())
