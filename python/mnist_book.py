"""The MNIST experiment of *Make Your Own Neural Network*, on cnn_core and on the NumPy version.

The book's recipe: pixels scaled x / 255 * 0.99 + 0.01, targets 0.01 everywhere and 0.99 at the
label, a 784-200-10 network with learning rate 0.1, trained one sample at a time for 5 epochs,
then scored on the 10,000 test images. cnn_core runs it twice, with the book's loop of train()
calls and with fit() (the same training, whole epochs in compiled code); the NumPy version once.
All start from the same weights (numpy.random.seed) and see the same samples; the script prints
each one's accuracy and training time, and the speed-ups.

    CNN_CORE_DATA=../shared/datasets python python/mnist_book.py                  # both backends
    CNN_CORE_DATA=../shared/datasets python python/mnist_book.py --backend cython
"""
import argparse
import sys
import time

import numpy

import cnn_core
from cnn_core import datasets, reference
from cnn_core.datasets import book_inputs, book_targets


def run(network_class, method, args, x_train, t_train, x_test, y_test):
    """Train as the book does (train() per sample, epoch after epoch) or with fit(), then the
    book's scorecard (query() per test image)."""
    numpy.random.seed(args.seed)
    net = network_class(784, args.hidden, 10, args.lr, dtype=args.dtype)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        if method == "fit":
            net.fit(x_train, t_train)
        else:
            for inputs, targets in zip(x_train, t_train):
                net.train(inputs, targets)
    seconds = time.perf_counter() - start
    scorecard = [int(numpy.argmax(net.query(inputs))) == label for inputs, label in zip(x_test, y_test)]
    return net, float(numpy.mean(scorecard)), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["cython", "numpy", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="numpy.random.seed before each network")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--method", choices=["train", "fit", "both"], default="both",
                        help="cnn_core: train() per sample as the book, fit() per epoch (same "
                             "result, whole epochs in compiled code), or both")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ (default: $CNN_CORE_DATA)")
    args = parser.parse_args(argv)

    try:
        x_train, y_train, x_test, y_test = datasets.load_mnist("digits", data_dir=args.data_dir)
    except datasets.DataNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train, t_train, x_test = book_inputs(x_train), book_targets(y_train), book_inputs(x_test)
    print(f"MNIST: {len(x_train)} training and {len(x_test)} test images; 784-{args.hidden}-10, "
          f"lr {args.lr}, {args.epochs} epochs, {args.dtype}, cnn_core kernels: {cnn_core._isa}")

    runs = []                  # (label, backend, method)
    if args.backend in ("cython", "both"):
        runs += [("cython", "cython", m) for m in (["train", "fit"] if args.method == "both" else [args.method])]
    if args.backend in ("numpy", "both"):
        runs.append(("numpy", "numpy", "train"))
    results = {}
    for label, backend, method in runs:
        cls = cnn_core.neuralNetwork if backend == "cython" else reference.neuralNetwork
        net, accuracy, seconds = run(cls, method, args, x_train, t_train, x_test, y_test)
        results[(backend, method)] = (net, accuracy, seconds)
        rate = len(x_train) * args.epochs / seconds
        print(f"{label:>6} {method + '()':<8}: accuracy {accuracy:.4f}   training {seconds:7.2f} s   "
              f"({rate:,.0f} samples/s)")
    if ("numpy", "train") in results:
        b, _, s_b = results[("numpy", "train")]
        for (backend, method), (a, _, s_a) in results.items():
            if backend == "cython":
                diff = max(numpy.abs(a.wih - b.wih).max(), numpy.abs(a.who - b.who).max())
                print(f"cython {method}() was {s_b / s_a:.1f}x faster than the NumPy version on the "
                      f"same run; largest weight difference {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
