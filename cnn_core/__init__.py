"""cnn_core: the network of *Make Your Own Neural Network* (and more), on Cython kernels.

    >>> import cnn_core
    >>> net = cnn_core.neuralNetwork(784, 200, 10, 0.1)
    >>> net.train(inputs, targets)          # as the book's NumPy version, many times faster
    >>> net.query(inputs).shape
    (10, 1)

``cnn_core.reference`` holds the NumPy version that every result is compared with.
"""
from . import reference
from ._dispatch import isa as _isa
from ._dispatch import show_config
from .book import DivergenceError, FitInterrupted, neuralNetwork

__version__ = "0.1.0"

__all__ = ["neuralNetwork", "reference", "DivergenceError", "FitInterrupted", "show_config",
           "__version__"]
