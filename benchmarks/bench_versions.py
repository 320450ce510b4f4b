"""Two builds of cnn_core side by side: is a change (a refactoring) free of slowdowns?

    python benchmarks/bench_versions.py --before /tmp/before-tree [--after .] [--repeats 7]

``--before`` and ``--after`` are folders holding a built ``cnn_core`` package (a checkout after
``python setup.py build_ext --inplace``, or a site-packages folder); ``--after`` defaults to
the one this Python imports. Every workload runs in a fresh process per build and per repeat,
with ``PYTHONPATH`` set to that folder, one thread (OMP/OpenBLAS/``n_threads``) pinned to one
core (``--cpu``), and the builds
alternate within each repeat (before, after, after, before, ...), so that a busy moment of a
shared machine falls on both. The table gives samples per second (median, and min-max over
the repeats) and the ratio after/before of the medians: 1.00 is no change, below 1 slower.

Workloads: the book network (784-200-10 and a small 20-10-3) through ``fit``, one-sample
``train`` and ``query`` calls, and ``predict``; the deep network (784-128-128-10, ReLU,
softmax + cross-entropy) through ``fit`` with per-sample SGD (batch 1), Adam in batches of 32,
SGD in batches of 1000, and ``predict``; float64 and float32.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent('''
    import json, os, sys, time
    if os.environ.get("BENCH_CPU"):          # one core: no migrations between repeats
        os.sched_setaffinity(0, {int(os.environ["BENCH_CPU"])})
    import numpy, cnn_core
    from cnn_core.layers import Dense
    from cnn_core.optimizers import SGD, Adam
    name, dtype, samples = sys.argv[1], getattr(numpy, sys.argv[2]), int(sys.argv[3])
    rng = numpy.random.default_rng(0)

    def book(i, h, o):
        net = cnn_core.neuralNetwork(i, h, o, 0.1, dtype=dtype, seed=0, n_threads=1)
        X = rng.random((samples, i)).astype(dtype) * 0.99 + 0.01
        T = numpy.full((samples, o), 0.01, dtype)
        T[numpy.arange(samples), rng.integers(0, o, samples)] = 0.99
        return net, X, T

    def deep(optimizer):
        layers = [Dense(784, 128, "relu", init=0.01, dtype=dtype, seed=1),
                  Dense(128, 128, "relu", init=0.01, dtype=dtype, seed=2),
                  Dense(128, 10, "softmax", init=0.01, dtype=dtype, seed=3)]
        net = cnn_core.Network(layers, loss="cross_entropy", optimizer=optimizer)
        X = rng.random((samples, 784)).astype(dtype)
        y = rng.integers(0, 10, samples)
        return net, X, y

    kind, size = name.split(":")
    if kind.startswith("book"):
        net, X, T = book(*map(int, size.split("-")))
        run = {"book_fit": lambda: net.fit(X, T),
               "book_train": lambda: [net.train(x, t) for x, t in zip(X, T)],
               "book_query": lambda: [net.query(x) for x in X],
               "book_predict": lambda: net.predict(X)}[kind]
    else:
        batch = int(size)
        net, X, y = deep(Adam(0.001) if kind == "deep_adam" else SGD(0.01))
        run = (lambda: net.predict(X)) if kind == "deep_predict" else (
            lambda: net.fit(X, y, epochs=1, batch_size=batch, shuffle=False))
    run()                                   # warm-up: first-touch, thread start-up
    began = time.perf_counter()
    run()
    print(json.dumps(samples / (time.perf_counter() - began)))
''')

WORKLOADS = [  # (name, samples per timed pass)
    ("book_fit:784-200-10", 4000), ("book_train:784-200-10", 2000),
    ("book_query:784-200-10", 4000), ("book_predict:784-200-10", 20000),
    ("book_fit:20-10-3", 500000), ("book_train:20-10-3", 100000), ("book_query:20-10-3", 100000),
    ("deep_sgd:1", 3000), ("deep_adam:32", 6000), ("deep_sgd:1000", 20000),
    ("deep_predict:0", 20000),
]


def measure(folder, name, dtype, samples, cpu):
    env = {**os.environ, "BENCH_CPU": "" if cpu is None else str(cpu), "PYTHONPATH": os.path.abspath(folder), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CNN_CORE_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, name, dtype, str(samples)], env=env,
                          capture_output=True, text=True, timeout=600, cwd="/")
    if done.returncode != 0:
        raise SystemExit(f"{name} {dtype} in {folder} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="folder holding the old built cnn_core")
    parser.add_argument("--after", default=None, help="folder holding the new one (default: "
                        "the cnn_core this Python imports)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--only", nargs="*", default=None, help="workload names to run")
    parser.add_argument("--cpu", type=int, default=0, help="the core every run is pinned to "
                        "(-1: not pinned; unpinned runs here were bimodal, 1.6x apart, for both "
                        "builds alike)")
    args = parser.parse_args(argv)
    after = args.after
    if after is None:
        import cnn_core
        after = os.path.dirname(os.path.dirname(os.path.abspath(cnn_core.__file__)))
    rows = []
    cpu = None if args.cpu < 0 or not hasattr(os, "sched_setaffinity") else args.cpu
    print(f"before: {os.path.abspath(args.before)}\nafter:  {os.path.abspath(after)}\n"
          f"{args.repeats} repeats, builds alternating; one thread"
          f"{'' if cpu is None else f' pinned to CPU {cpu}'}; samples/s", flush=True)
    header = f"{'workload':<26} {'dtype':<8} {'before (min-max)':>28} {'after (min-max)':>28} {'after/before':>12}"
    print(header)
    for name, samples in WORKLOADS:
        if args.only and name not in args.only:
            continue
        for dtype in args.dtypes:
            times = {"before": [], "after": []}
            for r in range(args.repeats):
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                for which in order:
                    folder = args.before if which == "before" else after
                    times[which].append(measure(folder, name, dtype, samples, cpu))
            b, a = (statistics.median(times[k]) for k in ("before", "after"))
            cell = lambda k, m: f"{m:,.0f} ({min(times[k]):,.0f}-{max(times[k]):,.0f})"
            print(f"{name:<26} {dtype:<8} {cell('before', b):>28} {cell('after', a):>28} "
                  f"{a / b:>12.2f}", flush=True)
            rows.append((name, dtype, b, a))
    ratios = [a / b for _, _, b, a in rows]
    print(f"\nmedian ratio after/before over {len(rows)} rows: {statistics.median(ratios):.3f} "
          f"(lowest {min(ratios):.2f}, highest {max(ratios):.2f})")


if __name__ == "__main__":
    main()
