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
from . import errors, reference
from .errors import DivergenceError, FileError, FitInterrupted

try:
    from . import _dispatch
except errors.KernelsMissing as _missing:
    # A source tree that was not built: the NumPy versions (cnn_core.reference) still work;
    # everything compiled says what is missing when it is used.
    _error = str(_missing)

    def __getattr__(name):
        if name in ("neuralNetwork", "Network", "layers", "optimizers", "MAX_THREADS",
                    "show_config", "_isa"):
            raise errors.KernelsMissing(f"cnn_core.{name}: {_error}")
        raise AttributeError(f"module 'cnn_core' has no attribute {name!r}")
else:
    from ._dispatch import isa as _isa
    from ._dispatch import MAX_THREADS, show_config
    from .book import neuralNetwork
    from . import layers, optimizers
    from .network import Network

__version__ = "0.1.0"

__all__ = ["neuralNetwork", "Network", "layers", "optimizers", "reference", "DivergenceError",
           "FitInterrupted", "FileError", "MAX_THREADS", "show_config", "__version__"]
