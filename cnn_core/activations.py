"""Activation functions: one table, used by every network and layer.

``ACTIVATIONS[name]`` gives the NumPy function, its derivative written with the output
(y = f(x)), its inverse (for the book's backquery) and the code the Cython kernels use. Adding an
activation is one entry here and one case in ``_kernels.activate``/``derivative_from_output``.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy
import scipy.special

from ._dispatch import kernels

__all__ = ["Activation", "ACTIVATIONS", "get"]


@dataclass(frozen=True)
class Activation:
    name: str
    code: int                                   # kernels.ACTIVATION_CODES[name]
    function: Callable                          # y = f(x), element-wise (softmax: per row)
    derivative: Optional[Callable]              # f'(x) as a function of y (None for softmax)
    inverse: Optional[Callable]                 # x = f^-1(y) where it exists (backquery)


def _softmax(x):
    z = numpy.exp(x - numpy.max(x, axis=-1, keepdims=True))
    return z / numpy.sum(z, axis=-1, keepdims=True)


ACTIVATIONS = {
    a.name: a for a in (
        Activation("identity", kernels.ACTIVATION_CODES["identity"],
                   lambda x: x, lambda y: numpy.ones_like(y), lambda y: y),
        Activation("sigmoid", kernels.ACTIVATION_CODES["sigmoid"],
                   scipy.special.expit, lambda y: y * (1 - y), scipy.special.logit),
        Activation("relu", kernels.ACTIVATION_CODES["relu"],
                   lambda x: numpy.maximum(x, 0), lambda y: (y > 0).astype(y.dtype),
                   lambda y: y),   # ReLU is the identity where it can be inverted (y > 0)
        Activation("tanh", kernels.ACTIVATION_CODES["tanh"],
                   numpy.tanh, lambda y: 1 - y * y, numpy.arctanh),
        Activation("softmax", kernels.ACTIVATION_CODES["softmax"], _softmax, None, None),
    )
}


def get(name, allowed=None):
    """The Activation called `name`; ValueError naming the choices when it is unknown or not in
    `allowed`."""
    options = sorted(allowed if allowed is not None else ACTIVATIONS)
    if not isinstance(name, str) or name not in options:
        raise ValueError(f"Unknown activation {name!r}; expected one of {options}.")
    return ACTIVATIONS[name]
