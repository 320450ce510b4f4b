"""Regression with a hidden layer (the study notes): y = 2 x0 + 3 x1 learned from points x in
[0, 1)^2 by a 2-5-1 network, sigmoid versus ReLU hidden units.

Both networks have 5 hidden units with biases and an identity output, start from the same
weights (Xavier normal, seeded), see the same 1000 random points one at a time (1000 online
steps of SGD, learning rate 0.07) and minimise the squared error. cnn_core's squared-error loss
is 1/2 (t - o)^2 per sample (gradient o - t); the script reports the mean squared error,
MSE = mean (t - o)^2, on 500 fixed test points after every step, for --runs runs with different
seeds (the points and the start change, both networks always share them).

Prints each run's final MSE for both and the means, and plots the MSE curves (mean of the runs,
and the spread) to --plot (needs matplotlib: pip install "cnn_core[plot]").

    python python/regression.py
"""
import argparse
import sys
import time

import numpy

import cnn_core
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD


def target(X):
    return (2 * X[:, 0] + 3 * X[:, 1]).reshape(-1, 1)


def train(hidden, X, T, X_test, T_test, seed, args):
    """1000 online steps; the test MSE after each one (and before the first)."""
    net = cnn_core.Network([Dense(2, args.hidden, hidden, seed=seed), Dense(args.hidden, 1, "identity", seed=seed + 1)],
                           loss="squared_error", optimizer=SGD(args.lr), backend=args.backend)
    curve = [2 * net.loss(X_test, T_test)]              # MSE = 2 x the mean of 1/2 (t - o)^2
    for i in range(len(X)):
        net.fit(X[i:i + 1], T[i:i + 1], epochs=1, batch_size=1, shuffle=False)
        curve.append(2 * net.loss(X_test, T_test))
    return numpy.array(curve)


def plot(path, curves, args):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('plot skipped: matplotlib is not installed (pip install "cnn_core[plot]")')
        return
    fig, ax = plt.subplots(figsize=(7, 4.2))
    steps = numpy.arange(args.steps + 1)
    for name, color in (("sigmoid", "tab:blue"), ("relu", "tab:red")):
        c = numpy.array(curves[name])
        ax.plot(steps, c.mean(axis=0), color=color, label=f"{name} hidden layer (mean of {len(c)} runs)")
        ax.fill_between(steps, c.min(axis=0), c.max(axis=0), color=color, alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("online step (one sample each)")
    ax.set_ylabel("test MSE")
    ax.set_title(f"y = 2 x0 + 3 x1, 2-{args.hidden}-1, SGD lr {args.lr} (band: min to max of the runs)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot saved to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="online steps (training points)")
    parser.add_argument("--hidden", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.07)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["cython", "numpy"], default="cython")
    parser.add_argument("--plot", default="regression_loss.png", help="where to save the plot")
    args = parser.parse_args(argv)

    print(f"y = 2 x0 + 3 x1 on [0, 1)^2: 2-{args.hidden}-1 with biases, identity output, squared "
          f"error, SGD lr {args.lr}, {args.steps} online steps; test MSE on 500 fixed points")
    X_test = numpy.random.default_rng(12345).random((500, 2))
    T_test = target(X_test)
    curves = {"sigmoid": [], "relu": []}
    start = time.perf_counter()
    for run in range(args.runs):
        seed = args.seed * 1000 + 10 * run
        X = numpy.random.default_rng(seed).random((args.steps, 2))
        for name in curves:
            curves[name].append(train(name, X, target(X), X_test, T_test, seed, args))
        s, r = curves["sigmoid"][-1], curves["relu"][-1]
        print(f"run {run + 1:2d}: final test MSE  sigmoid {s[-1]:.5f}   relu {r[-1]:.5f}")
    final = {name: numpy.array([c[-1] for c in cs]) for name, cs in curves.items()}
    half = {name: numpy.array([c[args.steps // 2] for c in cs]) for name, cs in curves.items()}
    print(f"mean final test MSE over {args.runs} runs: sigmoid {final['sigmoid'].mean():.5f}, "
          f"relu {final['relu'].mean():.5f} (relu lower in {int((final['relu'] < final['sigmoid']).sum())} "
          f"of {args.runs} runs); after {args.steps // 2} steps: sigmoid {half['sigmoid'].mean():.5f}, "
          f"relu {half['relu'].mean():.5f}; {time.perf_counter() - start:.1f} s")
    plot(args.plot, curves, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
