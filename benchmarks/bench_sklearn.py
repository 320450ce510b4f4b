"""Training speed of cnn_core.sklearn.MLPClassifier against scikit-learn's MLPClassifier, side by
side in one run, and against the GEMM-only bound of the same training.

Both train the same model on the same data: MNIST (inputs scaled to [0, 1]), 784-100-10, ReLU,
softmax output with the log-loss, adam (learning_rate_init 0.001), batch 200, shuffled every
epoch, alpha 1e-4, a fixed number of epochs (tol=0 and n_iter_no_change=epochs, so neither
stops early), in float64 and float32 (scikit-learn trains in the dtype of X), with 1 and 2
threads. Threads are BLAS threads for both (cnn_core's GEMMs and scikit-learn's all go through
OpenBLAS), set with threadpoolctl.threadpool_limits; cnn_core's estimator gets n_threads too.

The GEMM-only bound is the time the training's matrix products alone take here: per batch of
200 rows the forward X @ W1 and H @ W2, the backward dW2 = H.T @ dZ2, dH = dZ2 @ W2.T and
dW1 = X.T @ dZ1 (five GEMMs; the input layer needs no dX), timed with numpy.dot into
preallocated arrays of the same shapes and dtype, on the same batches, for the same epochs.

Repeats are interleaved (every case once, then again, ...); the table gives the median and the
range of samples/s (training samples x epochs / fit time), the final test accuracy, and ratios of
the medians. Run on the CPU as it is; OpenBLAS variables (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE)
are reported, and the BLAS kernel in use is printed (threadpoolctl.threadpool_info()).

    CNN_CORE_DATA=../shared/datasets python benchmarks/bench_sklearn.py            # 60,000 x 5 epochs, 3 repeats
    CNN_CORE_DATA=../shared/datasets python benchmarks/bench_sklearn.py --quick    # 10,000 x 2 epochs, 2 repeats
"""
import argparse
import os
import platform
import statistics
import sys
import time
import warnings


def gemm_bound(X, epochs, batch, hidden, n_out, dtype, rng):
    """Seconds for the five GEMMs of every batch of `epochs` epochs of X, numpy.dot with out=."""
    import numpy
    N, d = X.shape
    W1 = rng.normal(0, 0.05, (d, hidden)).astype(dtype)
    W2 = rng.normal(0, 0.05, (hidden, n_out)).astype(dtype)
    H = numpy.empty((batch, hidden), dtype)
    Z2 = numpy.empty((batch, n_out), dtype)
    dZ2 = rng.normal(0, 0.05, (batch, n_out)).astype(dtype)
    dZ1 = rng.normal(0, 0.05, (batch, hidden)).astype(dtype)
    dW1 = numpy.empty((d, hidden), dtype)
    dW2 = numpy.empty((hidden, n_out), dtype)
    dH = numpy.empty((batch, hidden), dtype)
    batches = [X[a:a + batch] for a in range(0, N - batch + 1, batch)]
    tail = N % batch
    began = time.perf_counter()
    for _ in range(epochs):
        for xb in batches:
            numpy.dot(xb, W1, out=H)
            numpy.dot(H, W2, out=Z2)
            numpy.dot(H.T, dZ2, out=dW2)
            numpy.dot(dZ2, W2.T, out=dH)
            numpy.dot(xb.T, dZ1, out=dW1)
        if tail:
            xb = X[N - tail:]
            h = xb @ W1
            _ = h @ W2
            _ = h.T @ dZ2[:tail]
            _ = dZ2[:tail] @ W2.T
            _ = xb.T @ dZ1[:tail]
    return time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 samples, 2 epochs, 2 repeats")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    args = parser.parse_args()
    samples = args.samples or (10000 if args.quick else 60000)
    epochs = args.epochs or (2 if args.quick else 5)
    repeats = args.repeats or (2 if args.quick else 3)

    import numpy
    import sklearn
    import threadpoolctl
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP
    import cnn_core
    from cnn_core.datasets import load_mnist
    from cnn_core.sklearn import MLPClassifier as CnnMLP

    x_train, y_train, x_test, y_test = load_mnist(data_dir=os.environ.get("CNN_CORE_DATA"))
    x_train, y_train = x_train[:samples], y_train[:samples]
    data = {dt: (numpy.ascontiguousarray(x_train / 255.0, dtype=dt),
                 numpy.ascontiguousarray(x_test / 255.0, dtype=dt)) for dt in args.dtypes}

    common = dict(hidden_layer_sizes=(100,), activation="relu", solver="adam", alpha=1e-4,
                  batch_size=200, learning_rate_init=0.001, max_iter=epochs, shuffle=True,
                  random_state=0, tol=0.0, n_iter_no_change=epochs)

    def timed_fit(est, dt, threads):
        """(fit seconds, test accuracy) of `est` on the `dt` data with `threads` BLAS threads."""
        Xtr, Xte = data[dt]
        with threadpoolctl.threadpool_limits(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t = time.perf_counter()
            est.fit(Xtr, y_train)
            t = time.perf_counter() - t
        assert est.n_iter_ == epochs
        return t, est.score(Xte, y_test)

    def run_sklearn(dt, threads):
        return timed_fit(SkMLP(**common), dt, threads)

    def run_cnn(dt, threads):
        return timed_fit(CnnMLP(dtype=dt, n_threads=threads, **common), dt, threads)

    def run_gemm(dt, threads):
        Xtr, _ = data[dt]
        with threadpoolctl.threadpool_limits(threads):
            return gemm_bound(Xtr, epochs, 200, 100, 10, dt, numpy.random.default_rng(0)), numpy.nan

    tools = {"cnn_core": run_cnn, "scikit-learn": run_sklearn, "GEMM-only": run_gemm}
    cases = [(dt, th) for dt in args.dtypes for th in args.threads]
    times = {(tool, dt, th): [] for tool in tools for dt, th in cases}
    accuracy = {}
    for r in range(repeats):
        for dt, th in cases:
            for tool, run in tools.items():
                t, acc = run(dt, th)
                times[(tool, dt, th)].append(t)
                accuracy.setdefault((tool, dt, th), acc)
                print(f"  repeat {r + 1}/{repeats}: {tool:12s} {dt} {th} thread(s): {t:7.3f} s"
                      + ("" if numpy.isnan(acc) else f", test accuracy {acc:.4f}"),
                      file=sys.stderr, flush=True)

    info = threadpoolctl.threadpool_info()
    blas = sorted({f"{i['internal_api']} {i.get('version')} {i.get('architecture')} "
                   f"({i['prefix']}, {i['num_threads']} threads by default)" for i in info
                   if i["user_api"] == "blas"})
    print(f"MNIST {samples} training samples x {epochs} epochs, 10000 test samples; 784-100-10 "
          f"relu, adam lr 0.001, batch 200, alpha 1e-4, shuffled; {repeats} interleaved repeats")
    print(f"Python {platform.python_version()}, NumPy {numpy.__version__}, scikit-learn "
          f"{sklearn.__version__}, cnn_core {cnn_core.__version__} ({cnn_core._isa} kernels)")
    print(f"BLAS: {'; '.join(blas)}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')!r} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')!r}")
    print()
    print("| dtype | threads | tool | samples/s median | min | max | test accuracy | "
          "cnn_core vs scikit-learn | time vs GEMM-only bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    n = samples * epochs
    for dt, th in cases:
        med = {tool: statistics.median(times[(tool, dt, th)]) for tool in tools}
        for tool in tools:
            ts = times[(tool, dt, th)]
            acc = accuracy[(tool, dt, th)]
            ratio = f"{med['scikit-learn'] / med['cnn_core']:.2f}x" if tool == "cnn_core" else ""
            bound = f"{med[tool] / med['GEMM-only']:.2f}x" if tool != "GEMM-only" else "1.00x"
            print(f"| {dt} | {th} | {tool} | {n / med[tool]:,.0f} | {n / max(ts):,.0f} | "
                  f"{n / min(ts):,.0f} | {'' if numpy.isnan(acc) else f'{acc:.4f}'} | {ratio} | "
                  f"{bound} |")


if __name__ == "__main__":
    main()
