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
from typing import Any, Dict, List, Optional, Tuple

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

def activate_array(z: _Floats, activation: int, slope: float = 1.0) -> None:
    """z = f(z) in place for a 1-D array (element-wise activations; the sigmoid vectorized)."""

# ---------------------------------------------------------------- the book network (_book.pxi)

class BookState:
    """The state of one book network (wih (H, I), who (O, H), the pending update of wih,
    [pending?, samples trained], the kernels' scratch) in arrays it owns, aligned on cache
    lines, and every operation on them. Whatever reads wih applies the pending update first.
    Not thread-safe (the network holds its locks); never pickled or copied."""
    dtype: numpy.dtype[Any]
    n_in: int
    n_hidden: int
    n_out: int
    def __init__(self, wih: npt.ArrayLike, who: npt.ArrayLike,
                 dtype: Optional[npt.DTypeLike] = None) -> None: ...
    @property
    def wih(self) -> _Floats:
        """wih, the pending update applied: the state's own array."""
    @property
    def who(self) -> _Floats:
        """who: the state's own array."""
    @property
    def pending(self) -> bool:
        """Whether wih owes the update of the last training step."""
    samples_trained: int
    def owns(self, array: object, name: str) -> bool:
        """Whether `array` is this state's wih (name "wih") or who ("who")."""
    def weights(self) -> Tuple[_Floats, _Floats]:
        """Copies of (wih, who), the pending update applied."""
    def set_wih(self, array: _Floats) -> None:
        """Copy `array` into wih (dropping the pending update)."""
    def set_who(self, array: _Floats) -> None:
        """Copy `array` into who."""
    def flush(self) -> None:
        """Apply the pending update, if any: wih += outer(s, xp)."""
    def weights_finite(self) -> bool:
        """Whether the weights, the pending update applied, are all finite."""
    def snapshot(self) -> List[npt.NDArray[Any]]:
        """Copies of [wih, who, xp, s, state] (the pending update kept pending)."""
    def restore(self, saved: List[npt.NDArray[Any]]) -> None:
        """Write back what snapshot() returned."""
    def raw_arrays(self) -> Dict[str, npt.NDArray[Any]]:
        """The arrays themselves (wih still owing its pending update): for layout tests."""
    def set_threads(self, n_threads: int) -> None:
        """Train one sample on `n_threads` threads from now on."""
    def forget_bounds(self) -> None:
        """The weights were written from outside: train_one rechecks them exactly next time."""
    def train_one(self, x: object, t: object, lr: float, activation: int) -> int:
        """One training step on x (I,), t (O,) if both are finite contiguous 1-D arrays of the
        network's dtype: 1 trained, 0 forward pass not finite, 2 update would not be finite (no
        step in either case), -1 not such arrays (nothing done)."""
    def query_one(self, x: object, out: _Floats, activation: int) -> int:
        """out (O,) = the outputs for x (I,), under the same condition: 1 done, 0 a
        pre-activation not finite, -1 x not such an array (nothing done)."""
    def train_rows(self, X: _Floats, T: _Floats, order: _Indices, lr: float, activation: int,
                   n_threads: int = 1) -> int:
        """Per-sample training on rows ``order`` of X (N, I) and T (N, O), leaving the last
        update of wih pending. Returns -1, or the position in `order` of the sample whose
        forward pass was not finite (nothing was updated for it)."""
    def fit_rows(self, X: _Floats, T: _Floats, order: _Indices, lr: float, activation: int,
                 n_threads: int = 1, block: int = 32) -> int:
        """train_rows' result in blocks of `block` samples (wih read twice per block; the same
        rule, sums in another order). Applies a pending update first; leaves none."""
    def train_batch(self, X: _Floats, T: _Floats, lr: float, activation: int) -> int:
        """One update summed over the N rows of X and T (the NumPy version with a 2-D input),
        by BLAS: 1 done, 0 a forward value not finite (no change), 2 the update was not finite
        (undone)."""
    def query_batch(self, X: _Floats, activation: int,
                    chunk_rows: int = 4096) -> Tuple[_Floats, bool]:
        """(out (N, O), finite?) = sigmoid(f(X @ wih.T) @ who.T) by BLAS."""
    def backquery(self, targets: _Floats, activation: int) -> Tuple[_Floats, bool]:
        """(out (I,), ok): the book's backquery from targets (O,) in (0, 1); each layer's
        signal rescaled into [0.01, 0.99]. ok is False when a signal is constant or not
        finite."""

# ---------------------------------------------------------------- deep networks (_dense.pxi)

def dense_forward(X: _Floats, W: _Floats, b: Optional[_Floats], activation: int, slope: float,
                  Z: _Floats, Y: _Floats) -> bool:
    """Z = X @ W + b and Y = f(Z) (row-wise softmax for the softmax code); False when Z is not
    finite."""

def dense_backward(X: _Floats, W: _Floats, Y: _Floats, dY: _Floats, activation: int,
                   slope: float, dZ: _Floats, dW: _Floats, db: _Floats, dX: _Floats) -> None:
    """From dY (the gradient with respect to Y = f(X @ W + b)): dZ = dY * f'(Y), dW = X.T @ dZ,
    db = column sums of dZ ((0,) for no bias), dX = dZ @ W.T ((0, I) when not wanted)."""

def squared_error(Y: _Floats, T: _Floats, dY: _Floats, scale: float,
                  weights: Optional[_Floats] = None) -> Tuple[float, int]:
    """(sum over rows of w_n 1/2 sum_k (t_k - y_k)^2, rows whose largest output is at the
    target's largest); dY = scale * w_n * (Y - T) (w_n = weights[n], or 1)."""

def softmax_cross_entropy(Z: _Floats, T: _Floats, Y: _Floats, dZ: _Floats,
                          scale: float, weights: Optional[_Floats] = None) -> Tuple[float, int]:
    """Y = softmax(Z) and (summed cross-entropy against T, times w_n, rows classified right),
    max-shifted, never log(0); dZ = scale * w_n * (Y * sum_k t_k - T)."""

def sigmoid_cross_entropy(Z: _Floats, T: _Floats, Y: _Floats, dZ: _Floats,
                          scale: float, weights: Optional[_Floats] = None) -> Tuple[float, int]:
    """Y = sigmoid(Z) and (summed binary cross-entropy against T, times w_n, rows whose every
    output is right), from the logits (softplus), never log(0); dZ = scale * w_n * (Y - T)."""

def sgd_update(p: _Floats, g: _Floats, v: _Floats, lr: float, momentum: float, nesterov: bool,
               weight_decay: float) -> bool:
    """One SGD step as torch.optim.SGD (dampening 0) in place; False if p became non-finite."""

def adagrad_update(p: _Floats, g: _Floats, h: _Floats, lr: float, eps: float,
                   weight_decay: float) -> bool:
    """One AdaGrad step as torch.optim.Adagrad in place; False if p became non-finite."""

def rmsprop_update(p: _Floats, g: _Floats, v: _Floats, lr: float, alpha: float, eps: float,
                   weight_decay: float) -> bool:
    """One RMSprop step as torch.optim.RMSprop in place; False if p became non-finite."""

def adam_update(p: _Floats, g: _Floats, m: _Floats, v: _Floats, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, step: int) -> bool:
    """One Adam step (step counts this update, from 1) in place; False if p became non-finite."""

def sgd_train_samples(X: _Floats, T: _Floats, order: _Indices, params: List[_Floats],
                      grads: List[_Floats], velocities: List[_Floats], outputs: List[_Floats],
                      logits: List[_Floats], deltas: List[_Floats], input_grads: List[_Floats],
                      sizes: _Indices, codes: npt.NDArray[numpy.intc],
                      slopes: npt.NDArray[numpy.float64], bias: _Indices, loss_kind: int,
                      rates: npt.NDArray[numpy.float64], momentum: float, nesterov: bool,
                      weight_decay: float,
                      weights: Optional[npt.NDArray[numpy.float64]] = None) -> Tuple[float, int, int, int]:
    """Per-sample SGD through all layers for rows ``order`` of X, T; returns (summed loss,
    correct samples, failed position or -1, failure kind)."""

# ---------------------------------------------------------------- machine facts

def cpu_supports(feature: str) -> bool:
    """True when the CPU and OS can run the kernels built for `feature` ("avx2" or "avx512")."""

def openmp_max_threads() -> int:
    """Threads OpenMP would use by default (OMP_NUM_THREADS or the number of cores)."""

def openmp_team_size(n_threads: int) -> int:
    """Threads OpenMP gives a region asking for `n_threads` (fewer under OMP_THREAD_LIMIT,
    OMP_DYNAMIC, OMP_MAX_ACTIVE_LEVELS, nesting, or in a child of fork() that runs serially)."""

def openmp_fork_serial() -> bool:
    """True in a child of fork() whose OpenMP pool could not be released before the fork (the
    kernels then run on one thread)."""
