"""Activation functions: one table, used by every network and layer.

``ACTIVATIONS[name]`` gives the NumPy function, its derivative written with the output
(y = f(x)), its inverse (for the book's backquery) and the code the Cython kernels use. The
codes are plain constants here (so the NumPy versions need nothing compiled); the ``Activation``
enum of ``_kernels.pxd`` mirrors them, and a test checks that the two agree. Adding an
activation is one code and one entry here, the same code in the .pxd, one case in
``_kernels.activate``/``derivative_from_output`` and, for the deep networks' NumPy backend,
nothing more (``_dense_numpy`` uses this table).

The sigmoid takes a slope epsilon, f(x) = 1 / (1 + exp(-epsilon x)), f'(x) = epsilon y (1 - y):
``apply(x, slope)`` and ``derivative_from_output(y, slope)`` give f and f' with it (``function``
and ``derivative`` are the plain slope-1 functions, as the book uses them). Softmax works on rows
(the last axis) and has no element-wise derivative: its backward is the Jacobian product
``y * (dy - sum(dy * y))``; a network may use it only on its output layer.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy
import scipy.special

__all__ = ["Activation", "ACTIVATIONS", "CODES", "get", "by_code"]

# The kernels' activation codes (mirrored by the Activation enum of _kernels.pxd).
IDENTITY, SIGMOID, RELU, TANH, SOFTMAX = 0, 1, 2, 3, 4
CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "relu": RELU, "tanh": TANH, "softmax": SOFTMAX}


@dataclass(frozen=True)
class Activation:
    name: str
    code: int                                   # CODES[name], as the kernels know it
    function: Callable                          # y = f(x), element-wise (softmax: per row)
    derivative: Optional[Callable]              # f'(x) as a function of y (None for softmax)
    inverse: Optional[Callable]                 # x = f^-1(y) where it exists (backquery)
    has_slope: bool = False                     # takes the slope epsilon (the sigmoid)
    output_only: bool = False                   # only for an output layer (softmax)

    def apply(self, x, slope=1.0):
        """f(x); with a slope (the sigmoid's epsilon) f(slope * x), as the kernels compute it."""
        return self.function(x) if slope == 1 else self.function(self._slope(slope) * x)

    def derivative_from_output(self, y, slope=1.0):
        """f'(x) written with y = f(x): slope * derivative(y) for a sloped sigmoid."""
        return self.derivative(y) if slope == 1 else self._slope(slope) * self.derivative(y)

    def _slope(self, slope):
        if not self.has_slope:
            raise ValueError(f"slope applies to the sigmoid only; got slope={slope!r} with "
                             f"activation {self.name!r}.")
        return slope


def _softmax(x):
    z = numpy.exp(x - numpy.max(x, axis=-1, keepdims=True))
    return z / numpy.sum(z, axis=-1, keepdims=True)


ACTIVATIONS = {
    a.name: a for a in (
        Activation("identity", IDENTITY,
                   lambda x: x, lambda y: numpy.ones_like(y), lambda y: y),
        Activation("sigmoid", SIGMOID,
                   scipy.special.expit, lambda y: y * (1 - y), scipy.special.logit,
                   has_slope=True),
        Activation("relu", RELU,
                   lambda x: numpy.maximum(x, 0), lambda y: (y > 0).astype(y.dtype),
                   lambda y: y),   # ReLU is the identity where it can be inverted (y > 0)
        Activation("tanh", TANH,
                   numpy.tanh, lambda y: 1 - y * y, numpy.arctanh),
        Activation("softmax", SOFTMAX, _softmax, None, None,
                   output_only=True),
    )
}

_BY_CODE = {a.code: a for a in ACTIVATIONS.values()}


def get(name, allowed=None):
    """The Activation called `name`; ValueError naming the choices when it is unknown or not in
    `allowed`."""
    options = sorted(allowed if allowed is not None else ACTIVATIONS)
    if not isinstance(name, str) or name not in options:
        raise ValueError(f"Unknown activation {name!r}; expected one of {options}.")
    return ACTIVATIONS[name]


def by_code(code):
    """The Activation whose kernel code (CODES) is `code`."""
    return _BY_CODE[int(code)]
