"""One training step of a 3-3-3 network worked out by hand."""
import math

import numpy
from numpy.testing import assert_allclose

import cnn_core


def test_one_step_by_hand():
    net = cnn_core.neuralNetwork(3, 3, 3, 0.5)
    net.wih = numpy.zeros((3, 3))          # hidden inputs are 0, so hidden outputs are 0.5
    net.who = 2 * numpy.eye(3)             # final inputs are 2 * 0.5 = 1
    x = [1.0, 0.5, -1.0]
    t = [1.0, 0.0, 0.5]

    s1 = 1 / (1 + math.exp(-1.0))          # sigmoid(1) = 0.7310585786300049
    assert_allclose(net.query(x).ravel(), [s1, s1, s1], rtol=1e-15)

    net.train(x, t)

    e = [1.0 - s1, 0.0 - s1, 0.5 - s1]     # output errors
    # who += lr * (e * o * (1 - o)) outer h, with o = s1 and h = 0.5 everywhere
    who = [[2.0 * (k == j) + 0.5 * (e[k] * s1 * (1 - s1)) * 0.5 for j in range(3)] for k in range(3)]
    # hidden errors use who before its update: eh = who.T @ e = 2 e
    # wih += lr * (eh * h * (1 - h)) outer x = 0.5 * (2 e * 0.25) outer x
    wih = [[0.5 * (2 * e[j] * 0.5 * 0.5) * x[i] for i in range(3)] for j in range(3)]
    assert_allclose(net.who, who, rtol=1e-15, atol=1e-16)
    assert_allclose(net.wih, wih, rtol=1e-15, atol=1e-16)
    # e.g. wih[0][0] = 0.5 * (2 * 0.2689414213699951 * 0.25) * 1 = 0.06723535534249878
    assert_allclose(net.wih[0, 0], 0.06723535534249878, rtol=1e-15)
