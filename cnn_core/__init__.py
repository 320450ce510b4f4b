"""cnn_core: the network of *Make Your Own Neural Network* (and more), on Cython kernels.

    >>> import cnn_core
    >>> net = cnn_core.neuralNetwork(784, 200, 10, 0.1)
    >>> net.train(inputs, targets)          # as the book's NumPy version, many times faster
    >>> net.query(inputs).shape
    (10, 1)

Deep networks (biases, ReLU/tanh/sigmoid/softmax, cross-entropy, mini-batches, optimizers):

    >>> from cnn_core.layers import Dense
    >>> net = cnn_core.Network([Dense(784, 128, "relu"), Dense(128, 10, "softmax")],
    ...                        loss="cross_entropy", optimizer=cnn_core.optimizers.SGD(0.1))
    >>> net.fit(x_train, y_train, epochs=5, batch_size=100)

``cnn_core.reference`` holds the NumPy version that every result is compared with.
"""
from . import reference
from ._dispatch import isa as _isa
from ._dispatch import MAX_THREADS, show_config
from .errors import DivergenceError, FileError, FitInterrupted
from .book import neuralNetwork
from . import layers, optimizers
from .network import Network

__version__ = "0.1.0"

__all__ = ["neuralNetwork", "Network", "layers", "optimizers", "reference", "DivergenceError",
           "FitInterrupted", "FileError", "MAX_THREADS", "show_config", "__version__"]
