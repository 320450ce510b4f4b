"""Objects and worker functions for the process tests (test_pickle.py): importable by name, as
spawn and forkserver children need, and small enough to run in a second."""
import numpy

import cnn_core
from cnn_core import optimizers
from cnn_core.layers import Dense


def data(n=40, i=6, o=3, seed=0):
    rng = numpy.random.default_rng(seed)
    X = rng.random((n, i))
    T = numpy.full((n, o), 0.01)
    T[numpy.arange(n), numpy.arange(n) % o] = 0.99
    return X, T


def book(dtype=numpy.float64, n_threads=None):
    net = cnn_core.neuralNetwork(6, 5, 3, 0.3, dtype=dtype, seed=1, n_threads=n_threads)
    X, T = data()
    net.fit(X, T)                       # leaves an update pending
    return net


def deep(dtype=numpy.float64, optimizer=None):
    net = cnn_core.Network([Dense(6, 8, "relu", dtype=dtype, seed=1),
                            Dense(8, 3, "softmax", dtype=dtype, seed=2)],
                           loss="cross_entropy",
                           optimizer=optimizer or optimizers.Adam(optimizers.StepDecay(0.01, 7)))
    X, T = data()
    net.fit(X, T, epochs=2, batch_size=8, seed=0)
    return net


def continue_training(net):
    """Train `net` further (the same samples for any copy) and return it."""
    X, T = data(seed=5)
    if isinstance(net, cnn_core.Network):
        net.fit(X, T, epochs=2, batch_size=8, seed=1)
    else:
        for x, t in zip(X, T):
            net.train(x, t)
    return net


def fingerprint(net):
    """Every byte of a network's weights (and optimizer state, iteration count, history)."""
    if isinstance(net, cnn_core.Network):
        iterations, state = net.optimizer._get_state()
        parts = [layer._params.tobytes() for layer in net.layers]
        parts += [a.tobytes() for s in state or [] for a in s]
        parts.append(repr((iterations, {k: [repr(v) for v in vs] for k, vs in net.history.items()})).encode())
    else:
        parts = [net.wih.tobytes(), net.who.tobytes(), repr(net.lr).encode()]
    return b"".join(parts)


def train_and_return(net):
    """A worker: continue training the network it was given and send it back."""
    return continue_training(net)


def predict_book(net):
    X, _ = data(seed=9)
    return net.predict(X)
