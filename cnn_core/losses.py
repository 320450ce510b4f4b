"""The losses of the deep networks: one entry per loss (scikit-learn's LOSS_FUNCTIONS idea).

Each :class:`Loss` says which kernel computes it (in ``cnn_core._kernels`` and its NumPy twin
in ``cnn_core._dense_numpy``), which output activations it goes with, which one its kernel
applies itself (fused: the gradient is then taken with respect to the logits), and its code
for the per-sample kernel (``_dense.pxi`` ``LossKind``). A new loss is one entry here and its
kernel.

A batch's loss is the mean over its rows of the per-sample loss: 1/2 sum_k (t_k - o_k)^2,
-sum_k t_k log y_k after a softmax, or -sum_k [t_k log y_k + (1 - t_k) log(1 - y_k)] after a
sigmoid (binary and multi-label classifiers).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ["Loss", "LOSS_FUNCTIONS"]


@dataclass(frozen=True)
class Loss:
    name: str
    kernel: str                           # its kernel's name in _kernels and in _dense_numpy
    output_activations: Tuple[str, ...]   # the output layer's activations it goes with
    fused_activation: Optional[str]       # the kernel applies this output activation itself and
                                          # gives the gradient with respect to the logits
    code: int                             # the per-sample kernel's loss kind (_dense.pxi LossKind)
    classifier: bool                      # a classifier even with one output (accuracy measured)


LOSS_FUNCTIONS = {
    "squared_error": Loss("squared_error", "squared_error",
                          ("identity", "relu", "sigmoid", "tanh"), None, 0, False),
    "cross_entropy": Loss("cross_entropy", "softmax_cross_entropy",
                          ("softmax",), "softmax", 1, False),
    # sigmoid outputs, each a yes/no (binary and multi-label classifiers)
    "binary_cross_entropy": Loss("binary_cross_entropy", "sigmoid_cross_entropy",
                                 ("sigmoid",), "sigmoid", 2, True),
}
