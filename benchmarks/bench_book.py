"""Benchmark of the book network (784-200-10 and 4-8-3): cnn_core against the NumPy version,
PyTorch and scikit-learn, ratios measured side by side in one run. See cnn_core/benchmark.py.

    python benchmarks/bench_book.py [--quick] [--repeats N] [--no-others]
"""
import sys

from cnn_core.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
