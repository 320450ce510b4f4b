"""The book's experiments, fast: accuracy against the learning rate, the epochs and the hidden
nodes on MNIST, several seeds per point, trained with ``fit``, drawn to docs/sweep_*.png.

The same as ``cnn-core sweep`` (see ``cnn-core sweep --help``): learning rates 0.01-0.9 for 1
epoch, 1-7 epochs at lr 0.1 (one network per seed scored after each epoch), 5-200 hidden nodes at
lr 0.1 for 1 epoch, all 784-h-10 from numpy.random.seed 0, 1, 2. The whole run takes a few
minutes on 2 cores; ``--limit 20000`` trains on fewer images.

    CNN_CORE_DATA=../shared/datasets python python/book_experiments.py
    CNN_CORE_DATA=../shared/datasets python python/book_experiments.py --study hidden --seeds 5
"""
import sys

from cnn_core import cli

if __name__ == "__main__":
    sys.exit(cli.main(["sweep", *sys.argv[1:]]))
