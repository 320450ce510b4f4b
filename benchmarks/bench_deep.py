"""Mini-batch training speed of a deep network: cnn_core (Cython kernels) against the same model
on cnn_core's NumPy backend and on PyTorch (CPU), all measured in the same run.

The model is the Fashion-MNIST tutorial's: 784-128-128-10, ReLU, softmax with cross-entropy,
weights normal(0, 0.01), plain SGD (lr 0.1), trained on --samples random inputs in [0, 1) with
random labels, in mini-batches of 100 and 1000 (no shuffling, so every backend does the same
work), in float32 and float64, with 1 and 2 threads. Each thread count runs in its own process
with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS set before NumPy is imported, and
threadpoolctl (when installed) limits the BLAS libraries once they are loaded; PyTorch gets
torch.set_num_threads. Timings alternate between the backends, --repeats times, after one
warm-up pass each; the table gives samples per second (median, min, max) and the ratios of the
medians to the NumPy backend and to PyTorch. PyTorch columns are left out when it is not installed.

    python benchmarks/bench_deep.py                # the full table
    python benchmarks/bench_deep.py --quick        # fewer samples and repeats
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time


def child(args):
    """Run in a subprocess with the thread count already in the environment."""
    import numpy
    import cnn_core
    from cnn_core.layers import Dense
    from cnn_core.optimizers import SGD
    try:
        import torch
    except ImportError:
        torch = None
    threads = args.threads
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(threads)     # after the imports: every BLAS is loaded
        blas = sorted({f"{i['internal_api']} {i.get('version') or ''} ({i['prefix']})".strip()
                       for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})
    except ImportError:
        blas = ["threadpoolctl not installed: threads set by environment variables"]
    if torch is not None:
        torch.set_num_threads(threads)

    rng = numpy.random.default_rng(0)
    results = []
    for dtype in args.dtypes:
        X = rng.random((args.samples, 784)).astype(dtype)
        y = rng.integers(0, 10, args.samples)
        init = [rng.normal(0, 0.01, (a, b)).astype(dtype) for a, b in ((784, 128), (128, 128), (128, 10))]
        for batch in args.batches:
            runners = {}
            for backend in ("cython", "numpy"):
                layers = [Dense(a.shape[0], a.shape[1], "relu" if a.shape[1] != 10 else "softmax",
                                init=0.01, dtype=dtype, seed=0) for a in init]
                for layer, W in zip(layers, init):
                    layer.W = W
                net = cnn_core.Network(layers, loss="cross_entropy", optimizer=SGD(0.1), backend=backend)
                runners[backend] = (lambda net=net: net.fit(X, y, epochs=args.epochs, batch_size=batch,
                                                            shuffle=False))
            if torch is not None:
                tdtype = torch.float32 if dtype == "float32" else torch.float64
                model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                            torch.nn.Linear(128, 128), torch.nn.ReLU(),
                                            torch.nn.Linear(128, 10)).to(tdtype)
                with torch.no_grad():
                    for lin, W in zip(model[::2], init):
                        lin.weight.copy_(torch.from_numpy(W.T.copy()))
                        lin.bias.zero_()
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                tX, ty = torch.from_numpy(X), torch.from_numpy(y)
                loss_fn = torch.nn.CrossEntropyLoss()

                def torch_fit():
                    for _ in range(args.epochs):
                        for a in range(0, args.samples, batch):
                            opt.zero_grad(set_to_none=True)
                            loss = loss_fn(model(tX[a:a + batch]), ty[a:a + batch])
                            loss.backward()
                            opt.step()
                runners["pytorch"] = torch_fit
            times = {name: [] for name in runners}
            for run in runners.values():           # warm-up: buffers, BLAS threads, caches
                run()
            for _ in range(args.repeats):
                for name, run in runners.items():
                    start = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - start)
            n = args.samples * args.epochs
            for name, ts in times.items():
                rates = sorted(n / t for t in ts)
                results.append({"backend": name, "dtype": dtype, "threads": threads, "batch": batch,
                                "median": rates[len(rates) // 2] if len(rates) % 2 else
                                0.5 * (rates[len(rates) // 2 - 1] + rates[len(rates) // 2]),
                                "min": rates[0], "max": rates[-1]})
    print(json.dumps({"results": results, "blas": blas, "isa": cnn_core._isa,
                      "torch": None if torch is None else torch.__version__,
                      "numpy": numpy.__version__}))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000, help="training samples per timed pass")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per timed pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--quick", action="store_true", help="5,000 samples, 3 repeats")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.repeats = 5_000, 3
    if args.child:
        args.threads = args.threads[0]
        child(args)
        return 0

    results, info = [], {}
    for threads in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--threads", str(threads),
               "--samples", str(args.samples), "--epochs", str(args.epochs), "--repeats", str(args.repeats),
               "--batches", *map(str, args.batches), "--dtypes", *args.dtypes]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        data = json.loads(out.stdout.strip().splitlines()[-1])
        results += data["results"]
        info = data

    print(f"cnn_core deep-network training benchmark: 784-128-128-10 ReLU/softmax, cross-entropy, SGD, "
          f"{args.samples * args.epochs} samples per pass, {args.repeats} repeats")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; cnn_core kernels {info['isa']}; NumPy "
          f"{info['numpy']}; PyTorch {info['torch'] or 'not installed'}")
    print(f"BLAS: {'; '.join(info['blas'])}")
    has_torch = any(r["backend"] == "pytorch" for r in results)
    header = "| backend | dtype | threads | batch | samples/s median | min | max | vs NumPy backend |"
    header += " vs PyTorch |" if has_torch else ""
    print()
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    key = lambda r: (r["dtype"], r["threads"], r["batch"])
    by = {(r["backend"],) + key(r): r for r in results}
    for r in sorted(results, key=lambda r: (r["dtype"], r["threads"], r["batch"],
                                            ["cython", "numpy", "pytorch"].index(r["backend"]))):
        numpy_rate = by[("numpy",) + key(r)]["median"]
        name = {"cython": "cnn_core", "numpy": "cnn_core NumPy backend", "pytorch": "PyTorch"}[r["backend"]]
        row = (f"| {name} | {r['dtype']} | {r['threads']} | {r['batch']} | {r['median']:,.0f} | "
               f"{r['min']:,.0f} | {r['max']:,.0f} | {r['median'] / numpy_rate:.2f}x |")
        if has_torch:
            row += f" {r['median'] / by[('pytorch',) + key(r)]['median']:.2f}x |"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
