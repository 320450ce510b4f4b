"""Your own handwriting, as in part 3 of *Make Your Own Neural Network*: score a folder of
pictures of digits with a trained network and show each with the network's answer.

Each picture (PNG, JPEG, ...; any size, colour or grey, dark-on-light or light-on-dark) becomes
the network's 784 inputs with ``cnn_core.datasets.load_image`` (greyscale, inverted when the
background is light, resized to 28 x 28, scaled x / 255 * 0.99 + 0.01). The answer is the
largest output; a file name that starts with a digit (``3_mine.png``) counts as its label for
the score. Without ``--model`` the book's network (784-200-10, lr 0.1) is first trained for one
epoch on MNIST with ``fit`` (a few seconds). Needs Pillow (``pip install "cnn_core[images]"``);
the picture grid needs matplotlib, else the answers are printed only.

    python python/own_images.py my_digits/                          # train, then score
    python python/own_images.py my_digits/ --model mnist.npz --out answers.png
"""
import argparse
import sys
from pathlib import Path

import numpy

import cnn_core
from cnn_core import datasets

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def trained_network(args):
    if args.model:
        return cnn_core.neuralNetwork.load(args.model)
    x_train, y_train, _, _ = datasets.load_mnist("digits", data_dir=args.data_dir)
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    numpy.random.seed(0)
    net = cnn_core.neuralNetwork(784, 200, 10, 0.1)
    net.fit(datasets.book_inputs(x_train), datasets.book_targets(y_train), epochs=args.epochs)
    print(f"trained 784-200-10 on {len(x_train)} MNIST images x {args.epochs} epoch(s)")
    return net


def draw(results, path):
    """A grid: each picture as the network sees it (28 x 28), titled with its answer."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    columns = min(len(results), 6)
    rows = -(-len(results) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.8 * columns, 2.1 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, inputs, answer, confidence, label) in zip(axes.ravel(), results):
        ax.imshow(inputs.reshape(28, 28), cmap="Greys", interpolation="none")
        mark = "" if label is None else (" ✓" if label == answer else f" ✗ ({label})")
        ax.set_title(f"{name[:14]}\n{answer} ({confidence:.2f}){mark}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="folder of pictures of digits")
    parser.add_argument("--model", help="a network saved with neuralNetwork.save (default: train one)")
    parser.add_argument("--limit", type=int, help="train on the first N MNIST images only")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-dir", help="folder with mnist/ (default: $CNN_CORE_DATA)")
    parser.add_argument("--out", default="own_images.png", help="the picture grid (PNG)")
    args = parser.parse_args(argv)

    files = sorted(p for p in Path(args.folder).iterdir() if p.suffix.lower() in SUFFIXES)
    if not files:
        print(f"error: no pictures ({', '.join(sorted(SUFFIXES))}) in {args.folder}", file=sys.stderr)
        return 2
    try:
        net = trained_network(args)
    except (datasets.DataNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = []
    for path in files:
        try:
            inputs = datasets.load_image(path)
        except datasets.ImagesUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        outputs = net.query(inputs).ravel()
        answer = int(numpy.argmax(outputs))
        label = int(path.name[0]) if path.name[0].isdigit() else None
        results.append((path.name, inputs, answer, float(outputs[answer]), label))
        print(f"{path.name}: the network says {answer} (output {outputs[answer]:.3f})"
              + ("" if label is None else f", label {label}: {'right' if answer == label else 'wrong'}"))
    labelled = [r for r in results if r[4] is not None]
    if labelled:
        print(f"score: {sum(r[2] == r[4] for r in labelled)}/{len(labelled)} labelled pictures right")
    try:
        draw(results, args.out)
        print(f"drew the pictures and answers to {args.out}")
    except ImportError:
        print("(matplotlib is not installed: answers printed only; pip install \"cnn_core[plot]\")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
