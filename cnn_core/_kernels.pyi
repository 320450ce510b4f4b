"""Type stubs of the compiled kernel module (source: ``_kernels.pyx`` and the ``.pxi`` files it
includes).

The module is built once per instruction set as ``cnn_core._kernels_<isa>`` (``baseline``,
``avx2``, ``avx512``) and the best one the CPU runs is loaded by ``cnn_core._dispatch`` as
``kernels``; every build has exactly this interface. The functions are private: the networks
validate user input and own the buffers. Each array argument is a C-contiguous NumPy array, and
the floating arrays of one call share one dtype, float32 or float64 (Cython fused types). Shape
mismatches raise ValueError; wrong dtypes or layouts raise ValueError or TypeError from the typed
memoryviews.
"""
import enum
from typing import Any, Dict

import numpy
import numpy.typing as npt

_Floats = npt.NDArray[numpy.floating[Any]]     # float32 or float64, C-contiguous
_Indices = npt.NDArray[numpy.intp]

class Activation(enum.IntEnum):
    """Activation codes understood by the kernels (``cpdef enum`` of ``_kernels.pxd``)."""
    IDENTITY = 0
    SIGMOID = 1
    RELU = 2
    TANH = 3
    SOFTMAX = 4

ACTIVATION_CODES: Dict[str, Activation]
"""Activation name ("identity", "sigmoid", "relu", "tanh", "softmax") to its code."""

# ---------------------------------------------------------------- element-wise helpers

def all_finite(x: _Floats) -> bool:
    """True when every value of the 1-D array `x` is finite."""

def logit(y: _Floats, out: _Floats) -> None:
    """out = log(y / (1 - y)) for 1-D arrays of equal length."""

# ---------------------------------------------------------------- the book network

def book_work_size(hnodes: int, onodes: int) -> int:
    """Length of the `work` buffer of a book network: 3 * hnodes + 2 * onodes."""

def book_train(wih: _Floats, who: _Floats, X: _Floats, T: _Floats, order: _Indices, lr: float,
               activation: int, work: _Floats, xp: _Floats, s: _Floats, state: _Indices,
               n_threads: int = 1) -> int:
    """Per-sample training on rows ``order`` of X (N, I) and T (N, O), updating wih (H, I) and
    who (O, H) in place, with the update of wih left pending in xp (I,), s (H,) and
    state (2,) = [pending, samples trained]. Returns -1, or the position in `order` of the
    sample whose forward pass was not finite (nothing was updated for it)."""

def book_query_one(wih: _Floats, who: _Floats, x: _Floats, activation: int, work: _Floats,
                   xp: _Floats, s: _Floats, state: _Indices, out: _Floats) -> bool:
    """out (O,) = sigmoid(who @ f(wih @ x)) for one sample x (I,), applying a pending update on
    the way. False when a pre-activation is not finite."""

def book_flush(wih: _Floats, xp: _Floats, s: _Floats, state: _Indices) -> None:
    """Apply the pending update, if any: wih += outer(s, xp)."""

def book_query_batch(wih: _Floats, who: _Floats, X: _Floats, activation: int, hidden: _Floats,
                     out: _Floats) -> bool:
    """out (N, O) = sigmoid(f(X @ wih.T) @ who.T) by BLAS, with scratch hidden (N, H). False
    when a pre-activation is not finite."""

def book_train_batch(wih: _Floats, who: _Floats, X: _Floats, T: _Floats, lr: float,
                     activation: int, hidden: _Floats, out: _Floats, err: _Floats,
                     hidden_err: _Floats) -> bool:
    """One update summed over the N rows of X and T (what the NumPy version does with a 2-D
    input), by BLAS; scratch hidden (N, H), out, err (N, O), hidden_err (N, H). False, changing
    no weight, when a forward value is not finite."""

def book_backquery(wih: _Floats, who: _Floats, targets: _Floats, activation: int,
                   hidden: _Floats, out: _Floats) -> bool:
    """The book's backquery from targets (O,) in (0, 1) into out (I,), scratch hidden (H,); each
    layer's signal rescaled into [0.01, 0.99]. False when a signal is constant or not finite."""

# ---------------------------------------------------------------- machine facts

def cpu_supports(feature: str) -> bool:
    """True when the CPU and OS can run the kernels built for `feature` ("avx2" or "avx512")."""

def openmp_max_threads() -> int:
    """Threads OpenMP would use by default (OMP_NUM_THREADS or the number of cores)."""
