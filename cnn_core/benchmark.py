"""Speed of the book network: cnn_core against the NumPy version (and PyTorch, scikit-learn when
installed), every ratio measured side by side in the same run.

    python -m cnn_core.benchmark            # or: python benchmarks/bench_book.py, cnn-core bench
    python -m cnn_core.benchmark --quick    # a smaller, noisier run (some seconds)

Each case is timed ``--repeats`` times, the repeats of all cases interleaved so that a busy
moment of the machine does not fall on one case only, after a short rest (SETTLE) so that BLAS
threads left spinning by the case before do not slow it down. The table gives samples per
second (median, min, max) and the ratio of the median to the NumPy version's median for the same operation
("train" for per-sample training and fit) with the same number of threads ("auto", train or
fit choosing its threads, is compared with the one-thread NumPy version).
"""
import argparse
import contextlib
import functools
import os
import platform
import statistics
import sys
import time
import warnings

import numpy

from . import reference
from ._dispatch import isa, kernels
from .book import neuralNetwork
from .datasets import book_targets

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:                                   # optional: BLAS threads then stay as they are
    threadpool_info = threadpool_limits = None


class Case:
    """One row of the table: `run()` processes `items` samples; `op` names the NumPy row that
    its ratio is taken against."""

    def __init__(self, network, name, backend, dtype, threads, op, items, setup):
        self.network, self.name = network, name          # "784-200-10", "fit"
        self.backend, self.dtype, self.threads = backend, dtype, threads
        self.op, self.items, self.setup = op, items, setup
        self.rates = []


def _data(n, inodes, onodes, seed=0):
    rng = numpy.random.default_rng(seed)
    X = rng.uniform(0.01, 1.0, (n, inodes))
    return X, book_targets(rng.integers(0, onodes, n), onodes)


def _per_call(method, *arrays):
    """run(): one call of `method` per sample, method(x, t) for train, method(x) for query."""
    def run():
        for row in zip(*arrays):
            method(*row)
    return run


def book_cases(sizes, n_train, n_predict, threads=(1, 2), numpy_train=None, only_training=False):
    """The cases for a (inodes, hnodes, onodes) network; the NumPy version trains on
    `numpy_train` samples (default n_train)."""
    inodes, hnodes, onodes = sizes
    X, T = _data(n_train, inodes, onodes)
    Xn, Tn = X[:numpy_train], T[:numpy_train]
    Xp, _ = _data(n_predict, inodes, onodes, seed=1)
    label = f"{inodes}-{hnodes}-{onodes}"
    cases = []

    def add(name, backend, dtype, nt, op, items, make):
        if op == "train" or not only_training:
            cases.append(Case(label, name, backend, dtype, nt, op, items, make))

    def numpy_net():
        return reference.neuralNetwork(inodes, hnodes, onodes, 0.1, seed=1)

    for nt in threads:
        add("train", "numpy", "float64", nt, "train", len(Xn),
            lambda: _per_call(numpy_net().train, Xn, Tn))
        add("query", "numpy", "float64", nt, "query", n_train,
            lambda: _per_call(numpy_net().query, X))
        add(f"predict {n_predict}", "numpy", "float64", nt, "predict", n_predict,
            lambda: functools.partial(numpy_net().query, Xp))
    for dtype in ("float64", "float32"):
        Xd, Td, Xpd = X.astype(dtype), T.astype(dtype), Xp.astype(dtype)
        # train() per call and fit() on 1, 2 or "auto" threads (n_threads=None: they measure
        # both and keep the faster); query() per call on one; predict() on BLAS's threads
        for nt in (*threads, "auto") if len(threads) > 1 else threads:
            def ours(dtype=dtype, nt=nt):
                return neuralNetwork(inodes, hnodes, onodes, 0.1, seed=1, dtype=dtype,
                                     n_threads=None if nt == "auto" else nt)
            add("train", "cnn_core", dtype, nt, "train", n_train,
                lambda ours=ours, Xd=Xd, Td=Td: _per_call(ours().train, Xd, Td))
            if nt == 1:
                add("query", "cnn_core", dtype, nt, "query", n_train,
                    lambda ours=ours, Xd=Xd: _per_call(ours().query, Xd))
            add("fit", "cnn_core", dtype, nt, "train", n_train,
                lambda ours=ours, Xd=Xd, Td=Td: functools.partial(ours().fit, Xd, Td))
            if nt != "auto":
                add(f"predict {n_predict}", "cnn_core", dtype, nt, "predict", n_predict,
                    lambda ours=ours, Xpd=Xpd: functools.partial(ours().predict, Xpd))
    return cases


def torch_cases(sizes, n_train, threads=(1, 2)):
    """PyTorch on the CPU, written by hand as the book's update (mv + addr_), float64."""
    try:
        import torch
    except ImportError:
        return []
    inodes, hnodes, onodes = sizes
    X, T = _data(n_train, inodes, onodes)
    cases = []
    for nt in threads:
        def make(nt=nt):
            torch.set_num_threads(nt)
            net = reference.neuralNetwork(inodes, hnodes, onodes, 0.1, seed=1)
            wih, who = torch.from_numpy(net.wih.copy()), torch.from_numpy(net.who.copy())
            xs, ts = torch.from_numpy(X), torch.from_numpy(T)

            def run():
                torch.set_num_threads(nt)
                with torch.no_grad():
                    for x, t in zip(xs, ts):
                        h = torch.sigmoid(torch.mv(wih, x))
                        o = torch.sigmoid(torch.mv(who, h))
                        e = t - o
                        eh = torch.mv(who.t(), e)
                        who.addr_(e * o * (1 - o), h, alpha=0.1)
                        wih.addr_(eh * h * (1 - h), x, alpha=0.1)
            return run
        cases.append(Case(f"{inodes}-{hnodes}-{onodes}", "train", f"torch {torch.__version__.split('+')[0]}",
                          "float64", nt, "train", n_train, make))
    return cases


def sklearn_cases(sizes, n_train):
    """scikit-learn's MLPRegressor with batch_size=1 (per-sample SGD, sigmoid), one thread."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor
    except ImportError:
        return []
    import sklearn
    inodes, hnodes, onodes = sizes
    X, T = _data(n_train, inodes, onodes)

    def make():
        model = MLPRegressor(hidden_layer_sizes=(hnodes,), activation="logistic", solver="sgd",
                             batch_size=1, learning_rate_init=0.1, momentum=0.0, alpha=0.0,
                             max_iter=1, shuffle=False, random_state=0)

        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, T)
        return run
    return [Case(f"{inodes}-{hnodes}-{onodes}", "train", f"sklearn {sklearn.__version__}", "float64", 1,
                 "train", n_train, make)]


def memory_bound(hnodes=200, inodes=784, repeats=50):
    """Samples/s if a sample cost only one read+write pass over wih (float64), measured by timing
    that pass (the kernel that applies a pending update)."""
    book = kernels.BookState(numpy.zeros((hnodes, inodes)), numpy.zeros((1, hnodes)))
    state = book.raw_arrays()["state"]
    times = []
    for _ in range(repeats):
        state[0] = 1                        # an update of wih owed
        start = time.perf_counter()
        book.flush()
        times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)


# Seconds of rest before each case: BLAS threads keep spinning for a while after a product
# (OpenBLAS's default is about 0.1 s) and would take the second core from the next case.
SETTLE = 0.3


def run_cases(cases, repeats, out):
    for rep in range(repeats):
        for case in cases:
            time.sleep(SETTLE)
            blas_threads = 2 if case.threads == "auto" else case.threads
            no_limit = contextlib.nullcontext()
            with threadpool_limits(blas_threads) if threadpool_limits else no_limit:
                run = case.setup()
                run()                                            # warm-up, not timed
                start = time.perf_counter()
                run()
                case.rates.append(case.items / (time.perf_counter() - start))
        print(f"  repeat {rep + 1}/{repeats} done", file=out, flush=True)


def machine_description():
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    blas = "unknown"
    if threadpool_info is not None:
        blas = ", ".join(sorted({f"{i.get('internal_api')} {i.get('version')} ({os.path.basename(i.get('filepath', ''))})"
                                 for i in threadpool_info() if i.get("user_api") == "blas"}))
    return (f"{cpu}, {os.cpu_count()} cores; cnn_core kernels: {isa}; Python {platform.python_version()}, "
            f"NumPy {numpy.__version__}; BLAS: {blas}")


def format_table(cases):
    base = {(c.network, c.op, c.threads): statistics.median(c.rates) for c in cases if c.backend == "numpy"}
    lines = [f"| {'case':<22} | {'backend':<13} | {'dtype':<7} | thr  | {'samples/s median':>16} | "
             f"{'min':>9} | {'max':>9} | vs NumPy |",
             f"|{'-' * 24}|{'-' * 15}|{'-' * 9}|------|{'-' * 18}|{'-' * 11}|{'-' * 11}|----------|"]
    for case in cases:
        median = statistics.median(case.rates)
        key = (case.network, case.op, 1 if case.threads == "auto" else case.threads)
        ratio = f"{median / base[key]:7.1f}x" if key in base else "      -"
        lines.append(f"| {case.network + ' ' + case.name:<22} | {case.backend:<13} | {case.dtype:<7} | {str(case.threads):>4} | "
                     f"{median:>16,.0f} | {min(case.rates):>9,.0f} | {max(case.rates):>9,.0f} | {ratio:>8} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnn_core.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case (default 5, quick 3)")
    parser.add_argument("--no-others", action="store_true", help="skip PyTorch and scikit-learn")
    parser.add_argument("--samples", type=int, default=None,
                        help="training samples per timed run (default 3000, quick 600)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    n_train, n_predict, n_tiny = (300, 2000, 20000) if args.quick else (3000, 10000, 150000)
    if args.samples:
        n_train, n_predict, n_tiny = args.samples, args.samples, 10 * args.samples

    cases = book_cases((784, 200, 10), n_train, n_predict)
    if not args.no_others:
        cases += torch_cases((784, 200, 10), n_train)
        cases += sklearn_cases((784, 200, 10), max(200, n_train // 6))
    # Iris-sized: the NumPy version takes a tenth of the samples (it is slow per sample)
    cases += [c for c in book_cases((4, 8, 3), n_tiny, n_predict, threads=(1,), numpy_train=n_tiny // 10,
                                    only_training=True) if c.backend == "numpy" or c.name == "fit"]

    out = sys.stdout
    print(f"machine: {machine_description()}", file=out)
    print(f"timing {len(cases)} cases x {repeats} repeats ...", file=out, flush=True)
    run_cases(cases, repeats, out)
    print(file=out)
    print(format_table(cases), file=out)
    bound = memory_bound()
    print(f"\nmemory bound (784-200-10 float64): one read+write pass over wih takes "
          f"{1e6 / bound:.1f} us, so a method that streams wih once per sample is capped near "
          f"{bound:,.0f} samples/s on one core.", file=out)
    for case in cases:
        if case.network == "784-200-10" and case.name == "fit" and case.threads == 1:
            flops = 4 * 784 * 200 * statistics.median(case.rates)
            print(f"fit ({case.dtype}, 1 thread) reads wih twice per block of 32 samples and does "
                  f"the 4 * 784 * 200 flops (two multiply-adds per weight) of a sample's forward product and update "
                  f"at {flops / 1e9:.1f} GFlop/s.", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
