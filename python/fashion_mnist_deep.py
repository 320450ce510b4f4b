"""A deep network on Fashion-MNIST (the fourth tutorial): 784-128-128-10, ReLU, softmax with
cross-entropy, weights normal(0, 0.01), SGD with learning rate 0.1 on mini-batches of 1000, for
10,000 iterations.

Pixels are scaled to [0, 1] (x / 255). Every epoch (60 iterations over the 60,000 training
images, shuffled) is followed by the accuracy on the 10,000 test images; the last, partial epoch
brings the total to exactly --iterations. Prints the final accuracy on the whole training set and
on the test set (the tutorial: about 92% and 88%) and the training time, and plots the accuracy
and loss per epoch to --plot (needs matplotlib: pip install "cnn_core[plot]"). The training
curve is the accuracy on the batches as they were trained during each epoch.

    CNN_CORE_DATA=../shared/datasets python python/fashion_mnist_deep.py
"""
import argparse
import sys
import time

import numpy

import cnn_core
from cnn_core import datasets
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD


def plot(path, history, train_acc, test_acc, args):
    """Accuracy and loss per epoch, train and test, with cnn_core.plotting.plot_history."""
    try:
        from cnn_core.plotting import PlottingUnavailable, plot_history
        plot_history({"loss": history["loss"], "val_loss": history["val_loss"],
                      "accuracy": history["accuracy"], "val_accuracy": history["val_accuracy"]},
                     path, title=f"Fashion-MNIST, 784-128-128-10 ReLU, SGD lr {args.lr}, batch "
                                 f"{args.batch_size}, {args.iterations} iterations: final train "
                                 f"{100 * train_acc:.1f}%, test {100 * test_acc:.1f}%")
    except PlottingUnavailable:
        print('plot skipped: matplotlib is not installed (pip install "cnn_core[plot]")')
        return
    print(f"plot saved to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--init", type=float, default=0.01, help="standard deviation of the weights")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backend", choices=["cython", "numpy"], default="cython")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads (needs threadpoolctl; default: the BLAS default)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--plot", default="fashion_mnist_accuracy.png", help="where to save the plot")
    parser.add_argument("--save", default=None, help="save the trained network (.npz) there")
    parser.add_argument("--data-dir", default=None, help="folder with fashion-mnist/ (default: $CNN_CORE_DATA)")
    args = parser.parse_args(argv)

    if args.threads:
        try:
            import threadpoolctl
        except ImportError:
            print("error: --threads needs threadpoolctl (pip install threadpoolctl), or set "
                  "OPENBLAS_NUM_THREADS before starting Python", file=sys.stderr)
            return 2
        threadpoolctl.threadpool_limits(args.threads)       # cnn_core is imported: its BLAS too
    try:
        x_train, y_train, x_test, y_test = datasets.load_mnist("fashion", data_dir=args.data_dir)
    except datasets.DataNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train = (x_train / 255.0).astype(args.dtype)
    x_test = (x_test / 255.0).astype(args.dtype)
    sizes = (784, 128, 128, 10)
    layers = [Dense(a, b, "relu" if b != 10 else "softmax", init=args.init, dtype=args.dtype,
                    seed=args.seed * 10 + i) for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    net = cnn_core.Network(layers, loss="cross_entropy", optimizer=SGD(args.lr), backend=args.backend)
    N, B = len(x_train), args.batch_size
    per_epoch = -(-N // B)
    epochs, rest = divmod(args.iterations, per_epoch)
    print(f"Fashion-MNIST: {N} training and {len(x_test)} test images; 784-128-128-10 ReLU + softmax, "
          f"cross-entropy, init {args.init}, SGD lr {args.lr}, batch {B}, {args.iterations} iterations "
          f"({epochs} epochs{f' + {rest} batches' if rest else ''}), {args.dtype}, backend "
          f"{args.backend}, kernels {cnn_core._isa}, BLAS threads {args.threads or 'default'}")

    def report(network, epoch, logs):
        if epoch % 20 == 0 or epoch == 1:
            print(f"epoch {epoch:4d}: train (batches) {logs['accuracy']:.4f}  test {logs['val_accuracy']:.4f}  "
                  f"loss {logs['loss']:.4f}")

    start = time.perf_counter()
    if epochs:
        net.fit(x_train, y_train, epochs=epochs, batch_size=B, seed=args.seed,
                validation_data=(x_test, y_test), callbacks=[report])
    if rest:   # the first `rest` batches of one more shuffled epoch
        part = numpy.random.default_rng(args.seed + 1).permutation(N)[:rest * B]
        net.fit(x_train[part], y_train[part], epochs=1, batch_size=B, seed=args.seed + 2,
                validation_data=(x_test, y_test))
    seconds = time.perf_counter() - start
    train_acc, test_acc = net.accuracy(x_train, y_train), net.accuracy(x_test, y_test)
    print(f"after {net.optimizer.iterations} iterations: train accuracy {100 * train_acc:.2f}%, test "
          f"accuracy {100 * test_acc:.2f}% (the tutorial: about 92% / 88%); training {seconds:.1f} s "
          f"({net.optimizer.iterations * B / seconds:,.0f} samples/s, including the per-epoch test scoring)")
    last = slice(-11, -1) if rest else slice(-10, None)          # the last 10 whole epochs
    test_curve, train_curve = numpy.array(net.history["val_accuracy"][last]), numpy.array(net.history["accuracy"][last])
    print(f"last {len(test_curve)} whole epochs: test accuracy {100 * test_curve.mean():.2f}% on average "
          f"({100 * test_curve.min():.2f}% to {100 * test_curve.max():.2f}%), train accuracy on the batches "
          f"{100 * train_curve.mean():.2f}% on average (SGD's final iterate wanders around these)")
    if args.save:
        net.save(args.save)
        print(f"network saved to {args.save}")
    plot(args.plot, net.history, train_acc, test_acc, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
