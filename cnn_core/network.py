"""Deep networks: a stack of Dense layers trained by backpropagation with exact gradients.

    >>> from cnn_core import Network
    >>> from cnn_core.layers import Dense
    >>> from cnn_core.optimizers import SGD
    >>> net = Network([Dense(784, 128, "relu", init=0.01), Dense(128, 128, "relu", init=0.01),
    ...                Dense(128, 10, "softmax", init=0.01)],
    ...               loss="cross_entropy", optimizer=SGD(0.1))
    >>> net.fit(x_train, y_train, epochs=10, batch_size=1000)
    >>> net.accuracy(x_test, y_test)

The losses (``LOSS_FUNCTIONS``, listed under ``Network``) are batch means of a per-sample loss;
the cross-entropy is fused with the softmax (the gradient with respect to the logits is
(y - t) / N). The two backends (``Network``) give the same results, to rounding.

``Network`` is the model: its layers (``cnn_core.layers``, through the protocol listed there),
the loss (``cnn_core.losses``), the forward pass with the loss and the backward pass, the queries
and the file format. ``fit`` checks its arguments and hands the training loop to
``cnn_core._trainer``; the optimizer (``cnn_core.optimizers``) updates the parameters.
"""
import json
import os
import threading
from contextlib import contextmanager

import numpy

from . import _validation as check
from . import activations
from . import optimizers as _optimizers
from . import _dense_numpy
from ._dispatch import kernels as _compiled
from . import _interrupts, _npzfile, _trainer, _tuning
from . import errors
from .errors import DivergenceError
from .layers import Dense
from .losses import LOSS_FUNCTIONS, Loss

__all__ = ["Network", "Loss", "LOSS_FUNCTIONS", "BACKENDS"]

FILE_KIND = "cnn_core.Network"
FORMAT_VERSION = 1
BACKENDS = {"cython": _compiled, "numpy": _dense_numpy}


class Network(_npzfile.PicklesThroughFile):
    """A feed-forward network of :class:`~cnn_core.layers.Dense` layers.

    Parameters
    ----------
    layers : list of Dense
        In order from input to output; each layer's n_in is the previous layer's n_out, all of
        one dtype. Softmax only on the last layer.
    loss : "squared_error", "cross_entropy" or "binary_cross_entropy"
        The batch mean of 1/2 sum_k (t_k - o_k)^2, of -sum_k t_k log y_k (softmax output), or
        of -sum_k [t_k log y_k + (1 - t_k) log(1 - y_k)] (sigmoid outputs, slope 1: binary and
        multi-label classifiers, targets in [0, 1]).
    optimizer : Optimizer, name or None
        An instance from :mod:`cnn_core.optimizers`, a name ("sgd", "adam", ...) for its
        defaults, or None for ``SGD(0.01)``. It belongs to this network (its state is made for
        these parameters).
    backend : "cython" or "numpy"
        The compiled kernels, or their NumPy twins (``cnn_core._dense_numpy``).

    Targets ``T`` are given as rows (N, n_out) (one-hot, teacher values such as 0.1/0.9, or
    continuous values), or as integer labels (N,) in [0, n_out) for classifiers. ``history``
    holds, per epoch, "loss" and "accuracy" over the training batches as they were seen,
    "val_loss" and "val_accuracy" on ``validation_data`` and "lr" (NaN where not measured;
    accuracy only for classifiers: n_out >= 2, or the binary cross-entropy).

    The layers' buffers are the network's working memory: ``predict``, ``loss`` etc. overwrite
    what a layer cached from an earlier ``forward``; a layer belongs to one network (``Dense``).

    Threads: the kernels run without the GIL. Fits of one network, and assignments to its
    optimizer and to its layers' ``W`` and ``b``, run one after the other; ``predict``, ``loss``,
    ``save`` etc. from another thread wait for the batch in progress and see the parameters
    between two whole batches. Ctrl-C during ``fit`` stops at a batch boundary
    (:class:`cnn_core.FitInterrupted`).
    """

    def __init__(self, layers, loss="squared_error", optimizer=None, backend="cython"):
        layers = _check_layers(layers)
        loss = LOSS_FUNCTIONS[check.choice(loss, "loss", LOSS_FUNCTIONS)]
        _check_pairing(layers, loss)
        backend = check.choice(backend, "backend", BACKENDS)
        optimizer = _make_optimizer(optimizer)
        self._layers = layers
        self._loss = loss
        self._backend = backend
        self._K = BACKENDS[backend]
        self._loss_kernel = getattr(self._K, loss.kernel)
        self._fused = loss.fused_activation is not None
        self._classifier = loss.classifier or layers[-1].n_out >= 2
        self._dtype = layers[0].dtype
        self._params = [layer._params for layer in layers]     # one flat vector per layer
        self._grads = [layer._grads for layer in layers]
        # _training serializes fit and the assignments (Threads, above); _lock guards
        # parameters, buffers, optimizer state and history for one step. The layers take both.
        self._training = threading.RLock()
        self._lock = _interrupts.StepLock()
        _interrupts.fork_safe(self)
        self._optimizer = None
        self._adopt(optimizer)
        self.history = _new_history()
        self._batches = _trainer.Batches()      # row-gathering buffers of shuffled fit
        for layer in layers:
            layer._join(self)

    # ---------------------------------------------------------------- description

    layers = property(lambda self: list(self._layers), doc="The layers, input to output.")
    backend = property(lambda self: self._backend, doc='"cython" or "numpy".')
    dtype = property(lambda self: self._dtype, doc="numpy.float64 or numpy.float32.")
    n_in = property(lambda self: self._layers[0].n_in, doc="Inputs of the first layer.")
    n_out = property(lambda self: self._layers[-1].n_out, doc="Outputs of the last layer.")
    loss_function = property(lambda self: self._loss.name, doc="The loss's name.")

    @property
    def optimizer(self):
        """The optimizer (assignable: an Optimizer, a name, or None for SGD(0.01))."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, value):
        self._adopt(_make_optimizer(value))

    @contextmanager
    def _changing(self):
        """Both locks: for a change of the optimizer's settings, between two fits' batches."""
        with self._training, self._lock:
            yield

    def _adopt(self, optimizer):
        optimizer._check_for(self, self._params)
        if optimizer.schedule is None:
            check.rate_in_dtype(optimizer.lr, "the optimizer's lr", self._dtype)
        with self._training, self._lock:
            optimizer._join(self, self._K)
            if self._optimizer is not None and self._optimizer is not optimizer:
                self._optimizer._leave()
            self._optimizer = optimizer

    def __repr__(self):
        inner = ",\n    ".join(repr(layer) for layer in self._layers)
        return (f"Network([\n    {inner}],\n    loss={self._loss.name!r}, "
                f"optimizer={self._optimizer!r}, backend={self._backend!r})")

    # ---------------------------------------------------------------- training

    def fit(self, X, T, epochs=1, batch_size=1, shuffle=True, seed=None, validation_data=None,
            callbacks=None, *, validation_split=0.0, sample_weight=None, class_weight=None,
            verbose=0):
        """Train with mini-batches of ``batch_size`` rows (the last batch of an epoch may be
        smaller; a batch_size above N means whole-batch training), one optimizer update per batch.

        ``X`` (N, n_in); ``T`` rows (N, n_out) or integer labels (N,). ``shuffle`` draws a new
        order every epoch from ``numpy.random.default_rng(seed)``. ``validation_data`` is
        ``(X_val, T_val)``, scored after every epoch; or ``validation_split`` (a fraction in
        [0, 1)) keeps that share of the rows for it: the last rows of a permutation drawn from
        ``seed``, stratified by class for integer labels (or one-hot rows). ``callbacks`` are
        called after every epoch as ``callback(network, epoch, logs)`` (epoch counted from 1 in
        this call, logs the epoch's metrics; see :mod:`cnn_core.callbacks`); one returning True
        stops training. ``verbose=1`` prints a line per epoch, with a progress bar on a terminal
        (tqdm's where installed). Returns self.

        ``sample_weight`` (N,) (finite, >= 0) multiplies each sample's loss, and so its gradient:
        a batch's loss is sum_n w_n l_n / (rows in the batch), as Keras weighs. ``class_weight``
        ({label: weight} or "balanced": N / (classes * rows of the class)) multiplies it by the
        sample's class weight (integer labels or one-hot rows). The validation rows of
        ``validation_split`` keep their weights for ``val_loss``.

        Non-finite values raise :class:`cnn_core.DivergenceError`; the network then keeps its
        last finite parameters (those before the failing batch's update).

        Ctrl-C stops training at the next batch boundary (after the batch in progress; for
        per-sample SGD within a few milliseconds) and raises :class:`cnn_core.FitInterrupted`, a
        KeyboardInterrupt whose ``samples_seen`` counts the samples of the batches applied in
        this call, over all its epochs: parameters and optimizer are exactly those of training on
        them, never a batch applied to some layers only. ``history`` holds the epochs whose
        batches were all applied. Other signals that have a Python handler (a SIGTERM handler
        raising SystemExit, a SIGALRM timeout, ...) are held back to the same points, and their
        handlers run there in the order the signals came. (Threads: see the class docstring.)
        """
        X = self._inputs(X, "X")
        labels = _labels_of(T)
        T = self._targets(T, len(X), "T")
        epochs = check.positive_int(epochs, "epochs")
        batch_size = check.positive_int(batch_size, "batch_size")
        shuffle = check.boolean(shuffle, "shuffle")
        if isinstance(verbose, str) or verbose not in (0, 1):
            raise ValueError(f"verbose must be 0 (quiet) or 1 (a line per epoch); got {verbose!r}.")
        split = check.real(validation_split, "validation_split", low=0, high=1, high_open=True)
        weights = _sample_weights(sample_weight, class_weight, len(X), T, labels, self._classifier)
        rng = check.rng(seed) if shuffle or split else None
        validation = None                           # (X, T, weights or None)
        if split:
            if validation_data is not None:
                raise ValueError("give validation_data or validation_split, not both.")
            train_rows, val_rows = _split_rows(rng, len(X), split, T if self._classifier else None)
            Wv = None if weights is None else weights[val_rows].astype(self._dtype)
            validation = (X[val_rows], T[val_rows], Wv)
            X, T = X[train_rows], T[train_rows]
            if weights is not None:
                weights = weights[train_rows]
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a pair (X_val, T_val).")
            Xv = self._inputs(validation_data[0], "validation X")
            validation = (Xv, self._targets(validation_data[1], len(Xv), "validation T"), None)
        if callbacks is None:
            callbacks = []
        elif callable(callbacks):
            callbacks = [callbacks]
        if not all(callable(c) for c in callbacks):
            raise TypeError("callbacks must be a list of functions callback(network, epoch, logs).")
        if self._optimizer.schedule is not None:    # (a constant rate is checked when set)
            check.rate_in_dtype(self._optimizer.lr, "the optimizer's lr (its schedule's value "
                                f"at step {self._optimizer.iterations})", self._dtype)
        return _trainer.fit(self, X, T, weights, epochs, batch_size, rng if shuffle else None,
                            validation, callbacks, verbose)

    # ---------------------------------------------------------------- forward and backward
    # (the passes of a training step, for the trainer, and of the queries below)

    def _forward_loss(self, X, T, W=None):
        """The batch through every layer and the loss kernel (rows weighted by W, or not); the
        output layer's dZ buffer then holds the gradient the backward pass starts from. Returns
        (summed loss, correct, finite)."""
        K = self._K
        finite = True
        h = X
        for layer in self._layers[:-1]:
            h, ok = layer._forward(K, h)
            finite &= ok
        out = self._layers[-1]
        scale = 1.0 / len(X)
        o, ok = out._forward(K, h, logits_only=self._fused)      # Z when fused, else Y
        Y, dZ = out._loss_buffers()
        if self._fused:
            loss, correct = self._loss_kernel(o, T, Y, dZ, scale, W)
        else:
            loss, correct = self._loss_kernel(o, T, dZ, scale, W)
        return loss, correct, finite and ok

    def _backward(self):
        """Backpropagation from the gradient _forward_loss left: every layer's gradients."""
        K = self._K
        layers = self._layers
        out = layers[-1]
        g = out._backward(K, out._loss_buffers()[1], need_dX=len(layers) > 1,
                          from_logits=self._fused)
        for i in range(len(layers) - 2, -1, -1):
            g = layers[i]._backward(K, g, need_dX=i > 0)

    # ---------------------------------------------------------------- using the network

    def predict(self, X):
        """Outputs for X (N, n_in) (one sample may be n_in values): an (N, n_out) array."""
        X = self._inputs(X, "X")
        with self._lock, _trainer.quiet():
            out = numpy.empty((len(X), self.n_out), self._dtype)
            finite = True
            for a in range(0, len(X), _tuning.EVAL_CHUNK_ROWS):
                h = X[a:a + _tuning.EVAL_CHUNK_ROWS]
                for layer in self._layers:
                    h, ok = layer._forward(self._K, h)
                    finite &= ok
                out[a:a + len(h)] = h
        if not finite:
            raise errors.not_finite("predict", "parameters")
        return out

    def loss(self, X, T):
        """The loss on X, T: the mean over the rows of the per-sample loss."""
        X = self._inputs(X, "X")
        T = self._targets(T, len(X), "T")
        with self._lock, _trainer.quiet():
            total, _ = self._evaluate(X, T)
        return total / len(X)

    def accuracy(self, X, labels):
        """The fraction of rows whose largest output is at the label (integer labels (N,), or
        rows (N, n_out) whose largest value marks the class); with the binary cross-entropy,
        whose every output is on the side of 0.5 of its target (labels 0/1 for one output)."""
        if not self._classifier:
            raise ValueError("accuracy needs a classifier: an output layer with one unit per "
                             "class (n_out >= 2), or loss='binary_cross_entropy'; this network "
                             "has n_out = 1. Use loss() instead.")
        X = self._inputs(X, "X")
        T = self._targets(labels, len(X), "labels")
        with self._lock, _trainer.quiet():
            _, correct = self._evaluate(X, T)
        return correct / len(X)

    def _evaluate(self, X, T, between=None, weights=None):
        """(summed loss, correct rows) over X, T (rows weighted by `weights`, or not) in chunks,
        through the training path; calls `between()` after each chunk when given."""
        total, correct = 0.0, 0
        for a in range(0, len(X), _tuning.EVAL_CHUNK_ROWS):
            with self._lock:
                loss, right, finite = self._forward_loss(
                    X[a:a + _tuning.EVAL_CHUNK_ROWS], T[a:a + _tuning.EVAL_CHUNK_ROWS],
                    None if weights is None else weights[a:a + _tuning.EVAL_CHUNK_ROWS])
            if between is not None:
                between()
            if not finite:
                raise errors.not_finite("", "parameters")
            total += loss
            correct += right
        return total, correct

    def gradient(self, X, T):
        """The gradient of ``loss(X, T)`` by backpropagation: a list with one (dW, db) pair per
        layer (db None for a layer without bias). The parameters are not changed."""
        X = self._inputs(X, "X")
        T = self._targets(T, len(X), "T")
        with self._lock, _trainer.quiet():
            _, _, finite = self._forward_loss(X, T)
            if not finite:
                raise DivergenceError("gradient: the forward pass is not finite (parameters not "
                                      "finite, or inputs too large).")
            self._backward()
            return [(dW.copy(), db[0].copy() if db else None)
                    for dW, *db in (layer.gradients() for layer in self._layers)]

    def numerical_gradient(self, X, T, eps=1e-5):
        """The gradient of ``loss(X, T)`` by central differences, (L(p + eps) - L(p - eps)) /
        (2 eps) for every parameter in turn; the same structure as ``gradient``. Slow (two loss
        evaluations per parameter): for checking ``gradient`` on small networks, in float64."""
        X = self._inputs(X, "X")
        T = self._targets(T, len(X), "T")
        eps = check.positive_float(eps, "eps")
        result = []
        with self._lock, _trainer.quiet():
            self._check_step(eps)
            for layer in self._layers:
                p = layer._params
                g = numpy.empty(p.shape, numpy.float64)
                for i in range(p.size):
                    original = p[i]
                    try:
                        p[i] = original + eps
                        up, plus = p[i], self._evaluate(X, T)[0]
                        p[i] = original - eps
                        down, minus = p[i], self._evaluate(X, T)[0]
                    finally:
                        p[i] = original          # exactly as it was, whatever happened
                    g[i] = (plus - minus) / len(X) / (float(up) - float(down))
                g = g.astype(self._dtype)
                k = layer.n_in * layer.n_out
                result.append((g[:k].reshape(layer.n_in, layer.n_out),
                               g[k:].copy() if layer.bias else None))
        return result

    def _check_step(self, eps):
        """numerical_gradient's steps p + eps and p - eps (run under quiet()) must be finite and
        differ for every parameter p in the network's dtype (else the quotient divides by zero)."""
        dtype = self._dtype
        for i, layer in enumerate(self._layers):
            p = layer._params
            up = (p.astype(numpy.float64) + eps).astype(dtype)
            down = (p.astype(numpy.float64) - eps).astype(dtype)
            apart = numpy.abs(up.astype(numpy.float64) - down) >= numpy.finfo(dtype).tiny
            bad = ~(numpy.isfinite(up) & numpy.isfinite(down) & apart)
            if bad.any():
                j = int(numpy.flatnonzero(bad)[0])
                what = ("out of range" if not (numpy.isfinite(up[j]) and numpy.isfinite(down[j]))
                        else "the same number, or too close")
                raise ValueError(
                    f"eps must be a step that changes every parameter in {dtype.name}; with "
                    f"eps={eps!r}, p + eps and p - eps are {what} for layers[{i}]'s parameter "
                    f"{float(p[j])!r}. Use a step of about 1e-5 times the parameters' size "
                    f"(float64), or 1e-2 (float32).")

    # ---------------------------------------------------------------- saving

    def save(self, path_or_file):
        """Write the network (.npz, no pickle: layers, parameters, loss, backend, the optimizer
        with its state, and the history) to a path, exactly as given and atomically (a failed
        save leaves the previous file whole), or to a binary file object open for writing."""
        with self._lock:
            layers = [layer._record() for layer in self._layers]
            opt_spec, arrays = self._optimizer._record()
            config = {"loss": self._loss.name, "dtype": self._dtype.name, "backend": self._backend,
                      "layers": [spec for spec, _ in layers], "optimizer": opt_spec,
                      "history": {k: list(v) for k, v in self.history.items()}}
        for i, (_, params) in enumerate(layers):
            arrays.update({f"layer{i}_{k}": a for k, a in params.items()})
        _npzfile.write_config_file(path_or_file, FILE_KIND, FORMAT_VERSION, config, arrays)

    @classmethod
    def load(cls, path_or_file, backend=None):
        """Read a network written by :meth:`save` from a path or a seekable binary file object,
        on ``backend`` (None: the one it was saved with). Never unpickles, and trusts nothing
        the file says: a file that is not a valid network (truncated, corrupted, holding
        objects, or whose parts do not match) raises :class:`cnn_core.FileError` (a
        ValueError) naming the file and the problem."""
        if backend is not None:
            backend = check.choice(backend, "backend", BACKENDS)
        with _npzfile.NpzReader(path_or_file, "cnn_core Network file") as f:
            config = _npzfile.read_config(f, FILE_KIND, FORMAT_VERSION)
            with f.checking():
                return cls._from_config(f, config, backend)

    @classmethod
    def _from_config(cls, f, config, backend):
        """The network a file's `config` describes, its arrays read from `f` (an NpzReader)."""
        dtype = check.float_dtype(_npzfile.field(config.get("dtype"), "dtype", str))
        if backend is None:
            backend = check.choice(config.get("backend", "cython"), "backend", BACKENDS)
        specs = _npzfile.field(config.get("layers"), "layers", list)
        if not specs:
            raise ValueError("it has no layers")
        layers = []
        for i, spec in enumerate(specs):
            try:
                layers.append(Dense._from_record(f, _npzfile.field(spec, f"layers[{i}]", dict),
                                                 dtype, f"layer{i}_", f"layer {i}: "))
            except _npzfile.FileError:
                raise
            except (TypeError, ValueError) as exc:
                raise ValueError(f"layer {i}: {str(exc).rstrip('.')}") from None
        sizes = [layer._params.size for layer in layers]
        optimizer = _optimizers.Optimizer._from_record(
            f, _npzfile.field(config.get("optimizer"), "optimizer", dict), dtype, sizes)
        net = cls(layers, loss=config.get("loss"), optimizer=optimizer, backend=backend)
        history = _new_history()
        saved = _npzfile.field(config.get("history", {}), "history", dict)
        for key in history:
            values = _npzfile.field(saved.get(key, []), f"history {key!r}", list)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ValueError(f"history {key!r} must hold numbers")
            history[key] = [float(v) for v in values]
        if len({len(v) for v in history.values()}) != 1:
            raise ValueError("the history's lists differ in length")
        net.history = history
        return net

    # ---------------------------------------------------------------- interchange (cnn_core.interchange)

    def to_onnx(self, path_or_file=None, *, opset=None):
        """The network as an ``onnx.ModelProto`` (a Gemm per layer, then its activation);
        written to a path or binary file object when given. Needs ``pip install
        "cnn_core[onnx]"``. See :func:`cnn_core.interchange.to_onnx`."""
        from . import interchange
        return interchange.to_onnx(self, path_or_file, opset=opset)

    def to_torch(self):
        """An equivalent ``torch.nn.Sequential`` (Linear and activation modules). Needs
        ``pip install "cnn_core[torch]"``."""
        from . import interchange
        return interchange.network_to_torch(self)

    @classmethod
    def from_torch(cls, module, *, loss=None, optimizer=None):
        """A network from a ``torch.nn.Sequential`` of Linear and activation modules (ReLU,
        Sigmoid, Tanh, Softmax, Identity); the first unsupported layer is named."""
        from . import interchange
        return interchange.network_from_torch(module, cls=cls, loss=loss, optimizer=optimizer)

    # ---------------------------------------------------------------- input checks

    def _inputs(self, value, name):
        return check.rows(value, name, self.n_in, "n_in of the first layer", self._dtype)

    def _targets(self, value, n_rows, name):
        """Targets as rows (n_rows, n_out) of the network's dtype: integer labels become one-hot
        rows (classifiers); a 1-D array is one target row, or the column of targets when
        n_out == 1."""
        O = self.n_out
        check.refuse_unsupported(value, name, "numbers (target rows or integer labels)")
        try:
            array = numpy.asarray(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} must be a rectangular array of numbers (target rows or "
                             f"integer labels); {exc}") from None
        if array.dtype.kind == "c":
            raise TypeError(f"{name} must be real numbers; got complex values (dtype {array.dtype}).")
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be numbers (target rows or integer labels); got an "
                            f"array of dtype {array.dtype}.")
        if array.ndim == 1 and O >= 2 and array.dtype.kind in "iu":
            if len(array) != n_rows:
                raise ValueError(f"{name} has {len(array)} label(s) but X has {n_rows} row(s); "
                                 f"give one label per input row.")
            bad = numpy.flatnonzero((array < 0) | (array >= O))
            if len(bad):
                raise ValueError(f"{name} must be integer labels in [0, {O}) (one per output "
                                 f"unit); got {array[bad[0]]} at index {bad[0]}.")
            T = numpy.zeros((n_rows, O), self._dtype)
            T[numpy.arange(n_rows), array] = 1
            return T
        if array.ndim == 1 and O == 1 and len(array) == n_rows:
            array = array.reshape(n_rows, 1)
        elif array.ndim == 1 and O >= 2 and len(array) == n_rows != 1:
            raise ValueError(f"{name} is 1-D with {n_rows} values of dtype {array.dtype}: give "
                             f"integer labels (an integer array, e.g. {name}.astype(int)) or "
                             f"target rows of shape ({n_rows}, {O}).")
        T = check.rows(array, name, O, "n_out of the last layer", self._dtype)
        if len(T) != n_rows:
            raise ValueError(f"{name} has {len(T)} row(s) but X has {n_rows}; give one target row "
                             f"(or label) per input row.")
        if self._loss.name == "cross_entropy" and T.size and T.min() < 0:
            where = tuple(int(i) for i in numpy.argwhere(T < 0)[0])
            raise ValueError(f"{name} for cross_entropy must be >= 0 (one-hot rows or "
                             f"probabilities); got {T[where]} at index {where}. Or pass integer "
                             f"labels.")
        if self._loss.name == "binary_cross_entropy" and T.size and (T.min() < 0 or T.max() > 1):
            where = tuple(int(i) for i in numpy.argwhere((T < 0) | (T > 1))[0])
            raise ValueError(f"{name} for binary_cross_entropy must lie in [0, 1] (0/1 labels or "
                             f"probabilities); got {T[where]} at index {where}.")
        return T


# ---------------------------------------------------------------- helpers


def _new_history():
    return {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "lr": []}


def _make_optimizer(value):
    if value is None:
        return _optimizers.SGD(0.01)
    if isinstance(value, str):
        return _optimizers.get(value)
    if not isinstance(value, _optimizers.Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (e.g. cnn_core.optimizers.SGD(0.1)), a "
                        f"name such as 'adam', or None; got {type(value).__name__}.")
    return value


def _check_layers(layers):
    if isinstance(layers, Dense) or not isinstance(layers, (list, tuple)):
        raise TypeError(f"layers must be a list of cnn_core.layers.Dense; got "
                        f"{type(layers).__name__}.")
    if not layers:
        raise ValueError("layers must hold at least one Dense layer; got an empty list.")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Dense):
            raise TypeError(f"layers[{i}] must be a cnn_core.layers.Dense; got {type(layer).__name__}.")
        if layer._network() is not None:
            raise ValueError(f"layers[{i}] already belongs to another Network (a layer holds its "
                             f"network's batch values and is locked with it); give each network "
                             f"its own layers, e.g. a new Dense with W and b copied.")
        for j in range(i):
            if layers[j] is layer:
                raise ValueError(f"layers[{i}] is the same object as layers[{j}]; each position "
                                 f"needs its own Dense (a layer keeps one batch's values).")
    for i in range(1, len(layers)):
        if layers[i].dtype != layers[0].dtype:
            raise ValueError(f"all layers must have one dtype; layers[0] is "
                             f"{layers[0].dtype.name} and layers[{i}] is {layers[i].dtype.name}.")
        if layers[i].n_in != layers[i - 1].n_out:
            raise ValueError(f"layers[{i}] takes {layers[i].n_in} inputs but layers[{i - 1}] gives "
                             f"{layers[i - 1].n_out} outputs; make layers[{i}] "
                             f"Dense({layers[i - 1].n_out}, {layers[i].n_out}, ...).")
    return list(layers)


def _check_pairing(layers, loss):
    for i, layer in enumerate(layers[:-1]):
        if activations.ACTIVATIONS[layer.activation].output_only:
            raise ValueError(f"layers[{i}] uses {layer.activation!r}, which is for the output layer "
                             f"only (with loss='cross_entropy'); use 'relu', 'sigmoid' or 'tanh' "
                             f"for hidden layers.")
    out = layers[-1].activation
    if loss.name == "binary_cross_entropy" and out == "sigmoid" and layers[-1].slope != 1:
        raise ValueError(f"loss='binary_cross_entropy' needs a sigmoid output of slope 1; the last "
                         f"layer has slope={layers[-1].slope!r}.")
    if out not in loss.output_activations:
        if loss.name == "binary_cross_entropy":
            raise ValueError(f"loss='binary_cross_entropy' needs a sigmoid output layer; the last "
                             f"layer uses {out!r}. Make it Dense(..., 'sigmoid').")
        if loss.name == "cross_entropy":
            raise ValueError(f"loss='cross_entropy' needs a softmax output layer; the last layer "
                             f"uses {out!r}. Make it Dense(..., 'softmax') or use "
                             f"loss='squared_error'.")
        raise ValueError(f"a {out!r} output layer goes with loss='cross_entropy', not "
                         f"loss={loss.name!r}.")


def _labels_of(T):
    """The integer labels (N,) that `T` gives as such, else None."""
    try:
        array = numpy.asarray(T)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 and array.dtype.kind in "iu" else None


def _sample_weights(sample_weight, class_weight, n_rows, T, labels, classifier):
    """The per-row loss factors (n_rows,) float64 from sample_weight and class_weight, or None."""
    weights = None
    if sample_weight is not None:
        weights = check.real_array(sample_weight, "sample_weight", numpy.float64)
        if weights.shape != (n_rows,):
            raise ValueError(f"sample_weight must have one value per row of X ({n_rows},); got "
                             f"shape {weights.shape}.")
        if weights.size and weights.min() < 0:
            raise ValueError(f"sample_weight must be >= 0; got {weights.min()} at index "
                             f"{int(weights.argmin())}.")
        weights = weights.copy()
    if class_weight is not None:
        if not classifier:
            raise ValueError("class_weight needs a classifier (n_out >= 2, or "
                             "loss='binary_cross_entropy').")
        classes = labels if labels is not None else (
            T[:, 0].round().astype(numpy.intp) if T.shape[1] == 1 else numpy.argmax(T, axis=1))
        n_classes = max(T.shape[1], 2)
        if isinstance(class_weight, str):
            check.choice(class_weight, "class_weight", ("balanced",))
            counts = numpy.bincount(classes, minlength=n_classes).astype(numpy.float64)
            table = numpy.divide(n_rows, n_classes * counts, out=numpy.zeros(n_classes),
                                 where=counts > 0)
        elif isinstance(class_weight, dict):
            table = numpy.ones(n_classes)
            for label, value in class_weight.items():
                if isinstance(label, bool) or not isinstance(label, (int, numpy.integer)) \
                        or not 0 <= label < n_classes:
                    raise ValueError(f"class_weight keys must be class labels in [0, {n_classes}); "
                                     f"got {label!r}.")
                table[label] = check.real(value, f"class_weight[{label}]", low=0)
        else:
            raise TypeError(f"class_weight must be None, a dict {{label: weight}} or 'balanced'; "
                            f"got {type(class_weight).__name__}.")
        factors = table[classes]
        weights = factors if weights is None else weights * factors
    return weights


def _split_rows(rng, n_rows, fraction, T):
    """(training rows, validation rows) for validation_split: the last `fraction` of a
    permutation from `rng`, per class when `T` (one-hot or 0/1 rows) is given."""
    order = rng.permutation(n_rows)
    if T is None:
        n_val = int(round(fraction * n_rows))
        groups = [order]
        takes = [n_val]
    else:
        classes = (T[:, 0] > 0.5).astype(numpy.intp) if T.shape[1] == 1 else numpy.argmax(T, axis=1)
        groups = [order[classes[order] == c] for c in numpy.unique(classes)]
        takes = [int(round(fraction * len(g))) for g in groups]
    val = numpy.concatenate([g[len(g) - k:] if k else g[:0] for g, k in zip(groups, takes)])
    if len(val) == 0 or len(val) == n_rows:
        raise ValueError(f"validation_split={fraction!r} of {n_rows} rows leaves "
                         f"{'no validation rows' if len(val) == 0 else 'no training rows'}; give a "
                         f"larger fraction or more rows.")
    keep = numpy.ones(n_rows, bool)
    keep[val] = False
    return order[keep[order]], numpy.sort(val)
