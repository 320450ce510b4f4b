"""The book's rotation experiment (part 3): training on each MNIST image plus copies rotated by
+10 and -10 degrees, against the plain training, both from the same start.

The book trains 784-200-10 at lr 0.01 (a smaller rate: each image is seen three times per epoch)
and reports about 97.5% after 10 epochs with the rotations. ``cnn_core.datasets.rotated`` makes
the copies (``scipy.ndimage.rotate(image, angle, cval=0.01, order=1, reshape=False)``) and
``fit`` trains them in the book's order (each image, then its rotations).

    CNN_CORE_DATA=../shared/datasets python python/rotation_augmentation.py               # the book's run
    CNN_CORE_DATA=../shared/datasets python python/rotation_augmentation.py --limit 5000 --epochs 2
"""
import argparse
import sys
import time

import numpy

import cnn_core
from cnn_core import datasets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="train on the first N MNIST images only")
    parser.add_argument("--test-limit", type=int, help="score on the first N test images only")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--angle", type=float, default=10.0, help="rotate by +- this (degrees)")
    parser.add_argument("--seed", type=int, default=0, help="numpy.random.seed before each network")
    parser.add_argument("--data-dir", help="folder with mnist/ (default: $CNN_CORE_DATA)")
    args = parser.parse_args(argv)
    try:
        x_train, y_train, x_test, y_test = datasets.load_mnist("digits", data_dir=args.data_dir)
    except datasets.DataNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    inputs, targets = datasets.book_inputs(x_train), datasets.book_targets(y_train)
    test_inputs = datasets.book_inputs(x_test)
    start = time.perf_counter()
    more_inputs, more_targets = datasets.rotated(inputs, targets, angles=(args.angle, -args.angle))
    print(f"{len(inputs)} training images, {len(more_inputs)} with the rotated copies "
          f"(made in {time.perf_counter() - start:.1f} s); 784-{args.hidden}-10, lr {args.lr}, "
          f"{args.epochs} epochs; {len(x_test)} test images")
    for name, X, T in (("plain", inputs, targets), (f"rotated +-{args.angle:g}", more_inputs, more_targets)):
        numpy.random.seed(args.seed)
        net = cnn_core.neuralNetwork(784, args.hidden, 10, args.lr)
        start = time.perf_counter()
        net.fit(X, T, epochs=args.epochs)
        seconds = time.perf_counter() - start
        accuracy = float(numpy.mean(net.predict(test_inputs).argmax(axis=1) == y_test))
        print(f"{name:<14} accuracy {accuracy:.4f}  ({seconds:.1f} s training)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
