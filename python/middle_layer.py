"""A middle (hidden) layer with a bias, by hand (the tutorial's layer class): forward, backward
and one weight update on a batch of two samples.

The layer is ``Dense(2, 3, "sigmoid")`` (ReLU and tanh with --activation) with the weights and
biases printed below (fixed numbers, so that the arithmetic can be followed by hand). On the
batch X = [[3, 2], [2, 1]] it computes Y = f(X @ W + b). The signal coming back from the layer
above, dY = [[0.1, 0.2, 0.3], [0.2, 0.1, 0.1]], is the gradient of the error with respect to Y;
``backward`` turns it into this layer's delta, dZ = dY * f'(Y) (for the sigmoid f'(Y) = Y (1 - Y)),
the gradients dW = X.T @ dZ and db = the column sums of dZ, and the signal passed back to the
layer below, dX = dZ @ W.T (the bias has no input, so it sends nothing back). SGD with learning
rate 0.01 then updates W -= 0.01 dW and b -= 0.01 db. Every number is checked against the same
formulas written in plain NumPy.

    python python/middle_layer.py [--activation relu|tanh|sigmoid]
"""
import argparse
import sys

import numpy

from cnn_core.layers import Dense
from cnn_core.optimizers import SGD

W0 = numpy.array([[0.1, 0.2, 0.3],
                  [0.4, 0.5, 0.6]])
B0 = numpy.array([0.1, -0.2, 0.3])
X = numpy.array([[3.0, 2.0], [2.0, 1.0]])
DY = numpy.array([[0.1, 0.2, 0.3], [0.2, 0.1, 0.1]])
LR = 0.01

FUNCTIONS = {   # f and f' written with the output y, the plain way
    "sigmoid": (lambda u: 1 / (1 + numpy.exp(-u)), lambda y: y * (1 - y)),
    "relu": (lambda u: numpy.where(u > 0, u, 0.0), lambda y: numpy.where(y > 0, 1.0, 0.0)),
    "tanh": (numpy.tanh, lambda y: 1 - y ** 2),
}


def show(name, array):
    print(f"{name} =\n{numpy.array2string(numpy.asarray(array), precision=8, suppress_small=True)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", choices=sorted(FUNCTIONS), default="sigmoid")
    args = parser.parse_args(argv)
    numpy.set_printoptions(floatmode="maxprec")

    layer = Dense(2, 3, args.activation)
    layer.W, layer.b = W0, B0
    print(f"Dense(2, 3, {args.activation!r}) with bias, lr {LR}")
    show("W", layer.W)
    show("b", layer.b)
    show("X (2 samples)", X)

    Y = layer.forward(X).copy()
    show("forward output Y = f(X @ W + b)", Y)
    dX = layer.backward(DY).copy()
    show("signal from above dY", DY)
    show("signal passed back dX = (dY * f'(Y)) @ W.T", dX)
    show("dW = X.T @ (dY * f'(Y))", layer.dW)
    show("db", layer.db)
    SGD(LR).update(layer.parameters(), layer.gradients())
    show(f"updated W = W - {LR} dW", layer.W)
    show(f"updated b = b - {LR} db", layer.b)

    f, df = FUNCTIONS[args.activation]
    y = f(X @ W0 + B0)
    delta = DY * df(y)
    expected = {"Y": y, "dX": delta @ W0.T, "W": W0 - LR * X.T @ delta, "b": B0 - LR * delta.sum(axis=0)}
    ours = {"Y": Y, "dX": dX, "W": layer.W, "b": layer.b}
    worst = max(float(numpy.abs(ours[k] - expected[k]).max()) for k in expected)
    print(f"largest difference from the formulas in plain NumPy: {worst:.1e}")
    return 0 if worst < 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main())
