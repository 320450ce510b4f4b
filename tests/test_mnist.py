"""The book's network on the real MNIST files (skipped when they are absent)."""
import numpy

import cnn_core


def test_one_epoch_784_100_10_reaches_93_percent(mnist):
    x_train, y_train, x_test, y_test = mnist
    inputs = x_train / 255.0 * 0.99 + 0.01
    targets = numpy.full((len(y_train), 10), 0.01)
    targets[numpy.arange(len(y_train)), y_train] = 0.99
    numpy.random.seed(1)
    net = cnn_core.neuralNetwork(784, 100, 10, 0.3)
    net.fit(inputs, targets)
    predicted = numpy.argmax(net.predict(x_test / 255.0 * 0.99 + 0.01), axis=1)
    accuracy = numpy.mean(predicted == y_test)
    assert accuracy >= 0.93, accuracy
