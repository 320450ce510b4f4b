"""The command line: ``python -m cnn_core <command>`` or the ``cnn-core`` script.

    cnn-core train                          # the book's MNIST run: 784-200-10, lr 0.1, 5 epochs
    cnn-core train --dataset iris --plot iris.png --save iris.npz
    cnn-core compare                        # the NumPy version and cnn_core, same start, same data
    cnn-core sweep                          # the book's experiments: accuracy against lr, epochs, hidden nodes
    cnn-core bench --quick                  # the benchmark table
    cnn-core backquery mnist.npz --out pictures

Exit codes: 0 success; 2 bad usage, missing data or an unreadable file, with a one-line reason on
stderr (no traceback); 130 after Ctrl-C. The numerical work is done by the networks (``fit``,
``predict``, ``backquery``); this module only loads data, drives them and reports.
"""
import argparse
import math
import os
import sys
import time
import zipfile
from collections import namedtuple
from pathlib import Path

import numpy

from . import __version__, _validation, datasets, plotting, reference
from ._dispatch import MAX_THREADS, default_threads, isa
from ._progress import Progress as _Progress
from .book import neuralNetwork
from .errors import DivergenceError

__all__ = ["main"]

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130

# Per data set: its title and the defaults of `train` (the book's MNIST recipe; for Iris a
# small network that reaches about 96% on the fixed split, 93-97% over seeds) and of `compare`.
DATASETS = {
    "mnist": dict(title="MNIST digits", hidden=200, lr=0.1, epochs=5, compare_samples=10000,
                  compare_epochs=1),
    "fashion": dict(title="Fashion-MNIST", hidden=200, lr=0.1, epochs=5, compare_samples=10000,
                    compare_epochs=1),
    "iris": dict(title="Iris", hidden=10, lr=0.2, epochs=200, compare_samples=None,
                 compare_epochs=200),
}
# Per-epoch loss and accuracy on the training set are measured on (at most) its first rows.
TRAIN_SCORE_ROWS = 10000
# The NumPy version has no progress callback: it is given this many samples per fit() call.
NUMPY_SLICE = 500

Data = namedtuple("Data", "title x_train t_train y_train x_test t_test y_test names shuffle note")


class UsageError(Exception):
    """Bad usage, missing data or an unreadable file: a one-line reason, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ------------------------------------------------------------------ argument types

def _positive(text, convert, what):
    """`text` as convert(text) if that is a positive finite number, else ArgumentTypeError."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}")
    return value


def _positive_int(text):
    return _positive(text, int, "integer")


def _positive_float(text):
    return _positive(text, float, "number")


def _thread_count(text):
    """--threads: an integer from 1 to MAX_THREADS (checked as the networks check n_threads)."""
    try:
        return _validation.n_threads(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of threads from 1 to {MAX_THREADS}, "
                                         f"got {text!r}") from None


def _environment():
    """Refuse a bad CNN_CORE_NUM_THREADS as a usage error before any work (CNN_CORE_ISA is
    checked when the package is imported, see cnn_core._dispatch)."""
    try:
        default_threads()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _parser(prog):
    parser = _Parser(prog=prog, description="cnn_core: the network of 'Make Your Own Neural "
                     "Network' on Cython kernels. Exit codes: 0 success, 2 bad usage or missing data.")
    parser.add_argument("--version", action="version", version=f"cnn_core {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=_Parser)

    def network_options(p, epochs_help):
        p.add_argument("--dataset", choices=sorted(DATASETS), default="mnist",
                       help="mnist (default), fashion (Fashion-MNIST) or iris")
        p.add_argument("--hidden", type=_positive_int, help="hidden nodes (default: 200; Iris 10)")
        p.add_argument("--lr", type=_positive_float, help="learning rate (default: 0.1; Iris 0.2)")
        p.add_argument("--epochs", type=_positive_int, help=epochs_help)
        p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
        p.add_argument("--threads", type=_thread_count,
                       help=f"threads of the cython backend, 1 to {MAX_THREADS} (default: "
                       f"CNN_CORE_NUM_THREADS if set, else automatic)")
        p.add_argument("--seed", type=int, default=0,
                       help="numpy.random.seed before the weights are drawn (default: 0)")
        p.add_argument("--init", choices=["documents", "book"], default="documents",
                       help="initial weights: documents (default; wih ~ normal(0, hidden**-0.5), "
                       "who ~ normal(0, outputs**-0.5)) or book (the book's notebooks: "
                       "normal(0, inputs**-0.5), normal(0, hidden**-0.5))")
        p.add_argument("--data-dir", help="folder with mnist/, fashion-mnist/, iris/ (searched "
                       "before $CNN_CORE_DATA and the cache; missing files are downloaded)")

    train = commands.add_parser(
        "train", help="train the book's network and report the test accuracy",
        description="Train the book's network (per sample, as the book) and report the test "
        "accuracy. With no options: the book's MNIST experiment (784-200-10, lr 0.1, 5 epochs). "
        "Iris: 4-10-3, lr 0.2, 200 epochs in a shuffled order, features divided by the training "
        "maximum then scaled as the book's pixels; every fifth row of iris.csv is the test set.")
    network_options(train, "epochs (default: 5; Iris 200)")
    train.add_argument("--backend", choices=["cython", "numpy"], default="cython",
                       help="cython (cnn_core, default) or numpy (the NumPy version)")
    train.add_argument("--limit", type=_positive_int,
                       help="train on the first N training samples only")
    train.add_argument("--save", metavar="PATH", help="write the trained network (.npz)")
    train.add_argument("--plot", metavar="PATH",
                       help="draw loss and accuracy per epoch to a PNG (needs matplotlib)")

    compare = commands.add_parser(
        "compare", help="the NumPy version against cnn_core: time, speed ratio, weight difference",
        description="Train the NumPy version and cnn_core from the same initial weights on the "
        "same samples, then print the time of each, the speed ratio, the largest weight "
        "difference and both test accuracies. Default: the first 10000 MNIST training images, "
        "1 epoch (Iris: the 120 training rows, 200 epochs).")
    network_options(compare, "epochs (default: 1; Iris 200)")
    compare.add_argument("--samples", type=_positive_int,
                         help="training samples to use (default: 10000; Iris all 120)")

    sweep = commands.add_parser(
        "sweep", help="the book's experiments: accuracy against lr, epochs, hidden nodes",
        description="The book's studies on MNIST with several seeds each, trained with fit: "
        "accuracy against the learning rate (1 epoch, 200 hidden nodes), against the epochs "
        "(lr 0.1, 200 hidden nodes, scored after each epoch) and against the hidden nodes "
        "(lr 0.1, 1 epoch). Prints the table and draws each study (mean and the spread over "
        "seeds) to <out>/sweep_<study>.png (needs matplotlib unless --no-plot).")
    sweep.add_argument("--study", choices=["lr", "epochs", "hidden", "all"], default="all")
    sweep.add_argument("--seeds", type=_positive_int, default=3,
                       help="numpy.random.seed 0 .. N-1 per point (default: 3)")
    sweep.add_argument("--limit", type=_positive_int,
                       help="train on the first N training images (default: all 60000)")
    sweep.add_argument("--test-limit", type=_positive_int,
                       help="score on the first N test images (default: all 10000)")
    sweep.add_argument("--init", choices=["documents", "book"], default="documents")
    sweep.add_argument("--out", default="docs", help="folder for the pictures (default: docs)")
    sweep.add_argument("--no-plot", action="store_true", help="print the table only")
    sweep.add_argument("--data-dir", help="folder with mnist/ (searched before $CNN_CORE_DATA)")

    bench = commands.add_parser("bench", help="the benchmark table (see BENCHMARKS.md)",
                                description="Run cnn_core's benchmark table.")
    bench.add_argument("--quick", action="store_true", help="small sizes, noisier (about 15 s)")

    backquery = commands.add_parser(
        "backquery", help="pictures of what a saved network imagines for each label",
        description="For a network saved with 'train --save', write backquery_<label>.png per "
        "output node (the book's backquery: the network run backwards from 0.99 at the label) "
        "and backquery_grid.png with all of them. Needs matplotlib.")
    backquery.add_argument("model", help="a network file written by 'train --save'")
    backquery.add_argument("--out", default="backquery", help="output folder (default: backquery)")
    backquery.add_argument("--names", default=None,
                           help="titles in the grid: 'digits', 'fashion' or a comma-separated "
                           "list (default: the label numbers)")
    return parser


# ------------------------------------------------------------------ data

def _load(name, data_dir, limit=None):
    """The data set `name`, encoded for the book's network (inputs in [0.01, 1], targets
    0.01/0.99), as Data. DataNotFoundError when the files are missing."""
    title = DATASETS[name]["title"]
    try:
        return _load_encoded(name, title, data_dir, limit)
    except ValueError as exc:              # a damaged file: the message names it
        raise UsageError(str(exc)) from None


def _load_encoded(name, title, data_dir, limit):
    if name == "iris":
        features, labels, names = datasets.load_iris(data_dir=data_dir)
        x_train, y_train, x_test, y_test = datasets.iris_split(features, labels)
        maximum = x_train.max(axis=0)
        x_train, x_test = datasets.book_scale(x_train, maximum), datasets.book_scale(x_test, maximum)
        note = "every fifth row of iris.csv is the test set"
        shuffle = True
    else:
        x_train, y_train, x_test, y_test = datasets.load_mnist(
            "digits" if name == "mnist" else "fashion", data_dir=data_dir)
        names = datasets.FASHION_CLASSES if name == "fashion" else tuple("0123456789")
        x_train, x_test = datasets.book_inputs(x_train), datasets.book_inputs(x_test)
        note = None
        shuffle = False
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return Data(title, x_train, datasets.book_targets(y_train, len(names)), y_train,
                x_test, datasets.book_targets(y_test, len(names)), y_test, names, shuffle, note)


def _settings(args, command):
    """hidden, lr, epochs: the options given, else the data set's defaults."""
    spec = DATASETS[args.dataset]
    epochs = spec["compare_epochs"] if command == "compare" else spec["epochs"]
    return (args.hidden or spec["hidden"], args.lr or spec["lr"], args.epochs or epochs)


# ------------------------------------------------------------------ networks

def _network(backend, data, hidden, lr, args):
    """The book's network for `data` with the --dtype, --threads and --init of `args`, weights
    drawn after numpy.random.seed(args.seed) as the book does, so that both backends start from
    the same weights."""
    numpy.random.seed(args.seed)
    shape = (data.x_train.shape[1], hidden, data.t_train.shape[1], lr)
    if backend == "numpy":
        return reference.neuralNetwork(*shape, dtype=args.dtype, init=args.init)
    return neuralNetwork(*shape, dtype=args.dtype, n_threads=args.threads, init=args.init)


def _epoch_data(data, seed, epochs):
    """(X, T) of each epoch: the training set in file order (MNIST, as the book), or shuffled
    per epoch from `seed` (Iris, whose file is sorted by species)."""
    rng = numpy.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(data.x_train)) if data.shuffle else slice(None)
        yield data.x_train[order], data.t_train[order]


def _fit_epoch(net, X, T, progress):
    """One epoch of per-sample training; progress(samples_done) is called along the way."""
    if isinstance(net, neuralNetwork):
        net.fit(X, T, progress=lambda epoch, done, n: progress(done))
        return
    # the NumPy version: fit() slice by slice, which is the same per-sample training in order
    for begin in range(0, len(X), NUMPY_SLICE):
        end = min(len(X), begin + NUMPY_SLICE)
        net.fit(X[begin:end], T[begin:end])
        progress(end)


def _scores(net, X, T, labels):
    """(loss, accuracy): the book's squared error 1/2 sum (t - o)^2 averaged over the samples,
    and the share of samples whose largest output is at the label."""
    outputs = net.predict(X)
    loss = 0.5 * float(numpy.mean(numpy.sum((T - outputs) ** 2, axis=1)))
    return loss, float(numpy.mean(numpy.argmax(outputs, axis=1) == labels))


def _plural(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _backend_text(net):
    if isinstance(net, neuralNetwork):
        candidates = net.fit_threads
        if len(candidates) > 1:
            return (f"{isa} kernels, {' or '.join(map(str, sorted(candidates)))} "
                    f"threads, whichever is faster")
        return f"{isa} kernels, {_plural(candidates[0], 'thread')}"
    return "the NumPy version, its BLAS chooses the threads"


def _as_cnn_core(net):
    """A cnn_core network with the weights of `net` (for saving the NumPy version's result)."""
    if isinstance(net, neuralNetwork):
        return net
    copy = neuralNetwork(net.inodes, net.hnodes, net.onodes, net.lr, dtype=net.dtype, seed=0)
    copy.wih, copy.who = net.wih, net.who
    return copy


def _save_path(text):
    """Where neuralNetwork.save(text) writes (numpy adds .npz); its folder must exist."""
    path = Path(text)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if not path.parent.is_dir():
        raise UsageError(f"--save {text}: the folder {path.parent} does not exist; create it or "
                         f"choose another path")
    return path


def _plot_path(text):
    try:
        return plotting.check_image_path(text)
    except ValueError as exc:
        raise UsageError(f"--plot {exc}") from None


# ------------------------------------------------------------------ commands

def cmd_train(args):
    hidden, lr, epochs = _settings(args, "train")
    save_path = _save_path(args.save) if args.save else None
    plot_path = _plot_path(args.plot) if args.plot else None        # before any work
    data = _load(args.dataset, args.data_dir, args.limit)
    net = _network(args.backend, data, hidden, lr, args)
    n, n_in, n_out = len(data.x_train), data.x_train.shape[1], data.t_train.shape[1]
    print(f"{data.title}: {n} training and {len(data.x_test)} test samples; network "
          f"{n_in}-{hidden}-{n_out}, lr {lr}, {_plural(epochs, 'epoch')}, {args.dtype}; backend "
          f"{args.backend} ({_backend_text(net)})" + (f"; {data.note}" if data.note else ""), flush=True)
    if args.threads and args.backend == "numpy":
        print("note: --threads applies to the cython backend only", file=sys.stderr)

    score_rows = slice(0, min(n, TRAIN_SCORE_ROWS))
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    train_seconds = eval_seconds = 0.0
    report_every = 1 if epochs <= 20 else epochs // 10
    for epoch, (X, T) in enumerate(_epoch_data(data, args.seed, epochs)):
        progress = _Progress(f"epoch {epoch + 1}/{epochs}", n)
        start = time.perf_counter()
        try:
            _fit_epoch(net, X, T, progress)
        finally:
            progress.close()
        seconds = max(time.perf_counter() - start, 1e-9)
        train_seconds += seconds
        start = time.perf_counter()
        loss, accuracy = _scores(net, data.x_train[score_rows], data.t_train[score_rows],
                                 data.y_train[score_rows])
        val_loss, val_accuracy = _scores(net, data.x_test, data.t_test, data.y_test)
        eval_seconds += time.perf_counter() - start
        for key, value in zip(history, (loss, accuracy, val_loss, val_accuracy)):
            history[key].append(value)
        if (epoch + 1) % report_every == 0 or epoch + 1 == epochs:
            print(f"epoch {epoch + 1}/{epochs}: train loss {loss:.4f} accuracy {accuracy:.4f}, "
                  f"test loss {val_loss:.4f} accuracy {val_accuracy:.4f} "
                  f"({seconds:.2f} s, {n / seconds:,.0f} samples/s)", flush=True)

    print(f"accuracy {history['val_accuracy'][-1]:.4f}")
    print(f"time {train_seconds:.2f} s training ({n * epochs / train_seconds:,.0f} samples/s), "
          f"{eval_seconds:.2f} s scoring")
    if save_path:
        _as_cnn_core(net).save(save_path)
        print(f"saved the network to {save_path}")
    if plot_path:
        title = f"{data.title}: {n_in}-{hidden}-{n_out}, lr {lr}, backend {args.backend} (val_ = test set)"
        written = plotting.plot_history(history, plot_path, title)
        print(f"plotted loss and accuracy per epoch to {written}")
    return EXIT_OK


def cmd_compare(args):
    hidden, lr, epochs = _settings(args, "compare")
    limit = args.samples or DATASETS[args.dataset]["compare_samples"]
    data = _load(args.dataset, args.data_dir, limit)
    n, n_in, n_out = len(data.x_train), data.x_train.shape[1], data.t_train.shape[1]
    epoch_data = list(_epoch_data(data, args.seed, epochs))
    results = {}
    # cnn_core first: NumPy's BLAS threads keep spinning for a moment after its last call and
    # would slow down whatever runs next on a small machine.
    for backend in ("cython", "numpy"):
        net = _network(backend, data, hidden, lr, args)
        start_weights = (numpy.array(net.wih), numpy.array(net.who))
        if results:                             # the point of the comparison; never skipped
            assert all(numpy.array_equal(w, v) for w, v in zip(start_weights, results["cython"][0]))
        progress = _Progress(f"{backend}", n * epochs)
        start = time.perf_counter()
        try:
            for epoch, (X, T) in enumerate(epoch_data):
                _fit_epoch(net, X, T, lambda done, base=epoch * n: progress(base + done))
        finally:
            progress.close()
        seconds = max(time.perf_counter() - start, 1e-9)
        _, accuracy = _scores(net, data.x_test, data.t_test, data.y_test)
        results[backend] = (start_weights, net, seconds, accuracy)
    (_, a, s_numpy, acc_numpy), (_, b, s_cython, acc_cython) = results["numpy"], results["cython"]
    difference = max(float(numpy.max(numpy.abs(a.wih - b.wih))), float(numpy.max(numpy.abs(a.who - b.who))))
    print(f"compare on {data.title}: {n} training samples x {_plural(epochs, 'epoch')}, network "
          f"{n_in}-{hidden}-{n_out}, lr {lr}, {args.dtype}, same initial weights (seed {args.seed}); "
          f"accuracy on {len(data.x_test)} test samples")
    print(f"  {'backend':<8} {'training':>10} {'samples/s':>11} {'accuracy':>9}")
    for name, seconds, accuracy in (("cython", s_cython, acc_cython), ("numpy", s_numpy, acc_numpy)):
        print(f"  {name:<8} {seconds:>8.3f} s {n * epochs / seconds:>11,.0f} {accuracy:>9.4f}")
    print(f"  speed ratio (cython over numpy): {s_numpy / s_cython:.1f}x")
    print(f"  largest weight difference: {difference:.1e}")
    print(f"  cython: {_backend_text(b)}; numpy: {_backend_text(a)}")
    return EXIT_OK


# The book's studies: the values tried (the book's own grids, a little wider) and the settings
# held fixed while each varies.
SWEEP_GRIDS = {
    "lr": (0.01, 0.05, 0.1, 0.2, 0.3, 0.6, 0.9),
    "epochs": (1, 2, 3, 4, 5, 6, 7),
    "hidden": (5, 10, 25, 50, 100, 200),
}
SWEEP_FIXED = {"lr": "1 epoch, 200 hidden nodes", "epochs": "lr 0.1, 200 hidden nodes",
               "hidden": "lr 0.1, 1 epoch"}
SWEEP_LABELS = {"lr": "learning rate", "epochs": "epochs", "hidden": "hidden nodes"}


def run_sweep(study, inputs, targets, test_inputs, test_labels, seeds=3, init="documents"):
    """One of the book's studies ("lr", "epochs" or "hidden"): {value: [test accuracy per
    seed]}, each network drawn after numpy.random.seed(seed) and trained with fit. The epochs
    study trains one network per seed and scores it after each epoch."""
    results = {value: [] for value in SWEEP_GRIDS[study]}

    def score(net):
        return float(numpy.mean(numpy.argmax(net.predict(test_inputs), axis=1) == test_labels))

    def network(hidden, lr, seed):
        numpy.random.seed(seed)
        return neuralNetwork(inputs.shape[1], hidden, targets.shape[1], lr, init=init)

    for seed in range(seeds):
        if study == "epochs":
            net = network(200, 0.1, seed)
            for epochs in SWEEP_GRIDS["epochs"]:
                net.fit(inputs, targets)
                results[epochs].append(score(net))
            continue
        for value in SWEEP_GRIDS[study]:
            net = network(200, value, seed) if study == "lr" else network(value, 0.1, seed)
            results[value].append(score(net.fit(inputs, targets)))
    return results


def plot_sweep(study, results, path, title):
    """The accuracies of one study against its values: the mean over seeds with error bars of
    one standard deviation, the band from the lowest to the highest seed. A small PNG."""
    Figure, FigureCanvasAgg, _ = plotting.require_matplotlib()
    values = numpy.array(list(results), dtype=float)
    accuracies = numpy.array([results[v] for v in results])
    mean, std = accuracies.mean(axis=1), accuracies.std(axis=1)
    figure = Figure(figsize=(4.8, 3.2), dpi=80)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.fill_between(values, accuracies.min(axis=1), accuracies.max(axis=1), alpha=0.2,
                    label="lowest to highest seed")
    ax.errorbar(values, mean, yerr=std, marker="o", capsize=3, label="mean ± 1 std")
    if study == "lr":
        ax.set_xscale("log")
        ax.set_xticks(values, [f"{v:g}" for v in values], fontsize=7)
    elif study == "hidden":
        ax.set_xscale("log")
        ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.set_xlabel(SWEEP_LABELS[study])
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if study != "lr" else "lower center")
    figure.tight_layout()
    figure.savefig(path)
    return path


def cmd_sweep(args):
    studies = ["lr", "epochs", "hidden"] if args.study == "all" else [args.study]
    out = Path(args.out)
    if not args.no_plot:
        plotting.require_matplotlib()        # before any work
        if not out.is_dir():
            raise UsageError(f"--out {out}: no such folder; create it or choose another")
    data = _load("mnist", args.data_dir, args.limit)
    x_test, y_test = data.x_test[:args.test_limit], data.y_test[:args.test_limit]
    print(f"the book's experiments on MNIST: {len(data.x_train)} training and {len(x_test)} test "
          f"images, {_plural(args.seeds, 'seed')} per point (numpy.random.seed 0..{args.seeds - 1}), "
          f"init {args.init}, trained with fit", flush=True)
    for study in studies:
        start = time.perf_counter()
        results = run_sweep(study, data.x_train, data.t_train, x_test, y_test, args.seeds, args.init)
        seconds = time.perf_counter() - start
        print(f"accuracy against {SWEEP_LABELS[study]} ({SWEEP_FIXED[study]}; {seconds:.0f} s):")
        print(f"  {SWEEP_LABELS[study]:>14}  {'mean':>7}  {'std':>6}  {'lowest':>7}  {'highest':>7}")
        for value, accuracies in results.items():
            a = numpy.array(accuracies)
            print(f"  {value:>14g}  {a.mean():7.4f}  {a.std():6.4f}  {a.min():7.4f}  {a.max():7.4f}")
        if not args.no_plot:
            title = (f"MNIST, {SWEEP_FIXED[study]}\n{len(data.x_train)} training images, "
                     f"{_plural(args.seeds, 'seed')}, init {args.init}")
            path = plot_sweep(study, results, out / f"sweep_{study}.png", title)
            print(f"  drew {path}", flush=True)
    return EXIT_OK


def cmd_bench(args):
    import importlib
    try:                                     # imported only when asked: it is the heaviest module
        benchmark = importlib.import_module("cnn_core.benchmark")
    except ModuleNotFoundError as exc:
        if exc.name != "cnn_core.benchmark":
            raise
        raise UsageError("this build of cnn_core has no benchmark module (cnn_core.benchmark)") from None
    return benchmark.main(["--quick"] if args.quick else [])


def cmd_backquery(args):
    model = Path(args.model)
    if not model.is_file():
        raise UsageError(f"{model}: no such file; give a network written by 'train --save PATH'")
    if not zipfile.is_zipfile(model):
        raise UsageError(f"{model}: not a network file (an .npz archive written by 'train --save "
                         f"PATH' or neuralNetwork.save)")
    try:
        net = neuralNetwork.load(model)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    plotting.require_matplotlib()
    names = None
    if args.names in ("digits", "fashion"):
        names = tuple("0123456789") if args.names == "digits" else datasets.FASHION_CLASSES
    elif args.names:
        names = [name.strip() for name in args.names.split(",")]
    try:
        paths = plotting.save_backquery(net, args.out, names)
    except ValueError as exc:
        raise UsageError(f"{model}: {exc}") from None
    print(f"wrote {len(paths) - 1} backquery images and their grid to {Path(args.out)}: "
          f"{', '.join(p.name for p in paths)}")
    return EXIT_OK


COMMANDS = {"train": cmd_train, "compare": cmd_compare, "bench": cmd_bench, "backquery": cmd_backquery,
            "sweep": cmd_sweep}


def main(argv=None):
    """Run the command line with `argv` (default: sys.argv[1:]); returns the exit code."""
    prog = "python -m cnn_core" if os.path.basename(sys.argv[0]) == "__main__.py" else "cnn-core"
    parser = _parser(prog)
    command = None
    try:
        args = parser.parse_args(argv)
        command = args.command
        if command is None:
            raise UsageError(f"choose a command: {', '.join(COMMANDS)} (see '{prog} --help')")
        _environment()
        return COMMANDS[command](args)
    except SystemExit as exc:                # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, datasets.DataNotFoundError, plotting.PlottingUnavailable, DivergenceError,
            OSError) as exc:
        # PlottingUnavailable says what to install; DivergenceError what to try; OSError is a
        # file that cannot be written. Anything else is a bug and keeps its traceback.
        where = f"{prog} {command}" if command else prog
        message = " ".join(str(exc).split())
        print(f"{where}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
