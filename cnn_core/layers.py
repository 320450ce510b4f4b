"""Layers of the deep networks: ``Dense``, a fully connected layer ``Y = f(X @ W + b)``.

A layer owns its parameters and every buffer its kernels write (outputs and gradients for the
largest batch seen so far), so training allocates nothing per batch after the first. Its
``forward`` caches what ``backward`` needs, and the two sit side by side below. The loops are in
the kernels (``cnn_core/_dense.pxi``); a :class:`cnn_core.Network` with ``backend="numpy"`` runs
the same layer on the NumPy twins of those kernels (``cnn_core._dense_numpy``).

What a layer provides to a network (and its trainer, ``cnn_core._trainer``). These are a
protocol between the modules of this package, not public API, hence the leading underscore:
they take the kernel module ``K`` of the network's backend and validate nothing (the public
``forward``, ``backward``, ``parameters`` and ``gradients`` check their arguments and run on
the compiled kernels).

- ``_params``, ``_grads``: the flat parameter and gradient vectors (W then b), live; ``W``,
  ``b``, ``dW``, ``db`` are views of them. One optimizer call per layer updates ``_params``.
- ``_prepare(rows, need_dX=False)``: buffers for batches of ``rows`` rows (made once for the
  largest batch; ``_forward`` prepares by itself).
- ``_forward(K, X, logits_only=False)`` -> (output, finite): the output buffer (Z only, with
  ``logits_only``, for a fused softmax-cross-entropy) and whether it is finite.
- ``_loss_buffers()`` -> (Y, dZ): where a loss kernel writes the output layer's probabilities
  (fused) and the gradient the backward pass starts from.
- ``_backward(K, dY, need_dX, from_logits=False)`` -> dX: sets the gradients from dY.
- ``_per_sample(need_dX)`` -> (activation code, slope, bias, Y, Z, dZ, dX): everything the
  per-sample SGD kernel (``sgd_train_samples``) takes of the layer; the layer then holds no
  forward pass that ``backward`` could use.
- ``_join(network)`` and ``_network()``: the network the layer belongs to (it takes the
  network's locks), or None.
- ``_record()`` and ``Dense._from_record(...)``: the layer in a network's file.
"""
import threading
import weakref

import numpy

from . import _npzfile
from . import _validation as check
from . import activations
from ._dispatch import kernels as _compiled
from ._interrupts import StepLock, fork_safe
from .errors import DivergenceError

__all__ = ["Dense", "INITS"]

INITS = ("book", "he", "xavier")
FILE_KIND = "cnn_core.Dense"
FORMAT_VERSION = 1
_IDENTITY = activations.ACTIVATIONS["identity"].code


# a normal draw is never this many standard deviations out (the chance is below 1e-300):
# a std that times this fits the dtype draws finite weights
_MOST_SIGMAS = 40


def init_std(init, n_in, n_out):
    """The standard deviation of the initial weights for `init`:
    "xavier" sqrt(2 / (n_in + n_out)) (Glorot, as torch.nn.init.xavier_normal_),
    "he" sqrt(2 / n_in) (as torch.nn.init.kaiming_normal_), "book" n_out**-0.5 (as the book
    draws wih and who), or a positive number used as the standard deviation itself."""
    if isinstance(init, str):
        if init == "xavier":
            return (2.0 / (n_in + n_out)) ** 0.5
        if init == "he":
            return (2.0 / n_in) ** 0.5
        if init == "book":
            return n_out ** -0.5
        raise ValueError(f"Unknown init {init!r}; expected one of {list(INITS)} or a positive "
                         f"number (the standard deviation).")
    try:
        return check.positive_float(init, "init")
    except TypeError:
        raise TypeError(f"init must be one of {list(INITS)} or a positive number (the standard "
                        f"deviation); got {init!r} ({type(init).__name__}).") from None


class Dense(_npzfile.PicklesThroughFile):
    """A fully connected layer: ``Y = f(X @ W + b)`` for a batch ``X`` of shape (N, n_in).

    Parameters
    ----------
    n_in, n_out : positive int
        Inputs and outputs (units). ``W`` has shape (n_in, n_out), ``b`` shape (n_out,).
    activation : "sigmoid", "relu", "tanh", "identity" or "softmax"
        ``f``. Softmax works on rows; in a :class:`~cnn_core.Network` it is for the output layer
        only, with the cross-entropy loss.
    bias : bool
        With ``bias=False`` the layer has no ``b`` (``b`` and ``db`` are None).
    init : "xavier" (default), "he", "book" or a positive number
        Initial weights are normal(0, std) with std sqrt(2 / (n_in + n_out)), sqrt(2 / n_in),
        n_out**-0.5 (the book), or the number given (0.01 in the Fashion-MNIST tutorial). Biases
        start at 0.
    slope : positive float
        The sigmoid's epsilon: f(x) = 1 / (1 + exp(-epsilon x)). Only for "sigmoid".
    dtype : numpy.float64 (default) or numpy.float32
    seed : None, int or numpy Generator
        None: weights from ``numpy.random.normal`` (so ``numpy.random.seed(k)`` fixes them, as in
        the book); otherwise from ``numpy.random.default_rng(seed)``.

    ``forward`` and ``backward`` return read-only views of the layer's own buffers, which the
    next call overwrites (copy them to keep them). ``W``, ``b``, ``dW``, ``db`` read as read-only
    copies; assign ``W`` and ``b`` to change them. ``parameters()`` and ``gradients()`` give the
    live arrays, for optimizers: ``SGD(0.1).update(layer.parameters(), layer.gradients())``.

    A layer given to a :class:`~cnn_core.Network` belongs to it (no other network may take it
    while that one exists) and locks with it: an assignment to ``W`` or ``b`` waits for a fit in
    progress, ``forward`` and the getters for the batch in progress.
    """

    def __init__(self, n_in, n_out, activation="sigmoid", *, bias=True, init="xavier", slope=1.0,
                 dtype=numpy.float64, seed=None):
        n_in, n_out, act, bias, slope, dtype, std = _checked(n_in, n_out, activation, bias, init,
                                                             slope, dtype)
        if not std * _MOST_SIGMAS <= float(numpy.finfo(dtype).max):
            raise ValueError(f"init: a standard deviation of {std!r} draws weights too large for "
                             f"{numpy.dtype(dtype).name} (up to {_MOST_SIGMAS} times the std, above "
                             f"{float(numpy.finfo(dtype).max):.3g}); use 'xavier', 'he' or a std "
                             f"of about 0.01 to 1.")
        normal = check.normal_sampler(seed)
        W = normal(0.0, std, (n_in, n_out))
        self._setup(n_in, n_out, act, bias, slope, dtype, init, W, None)

    def _setup(self, n_in, n_out, act, bias, slope, dtype, init, W, b):
        self._n_in, self._n_out = n_in, n_out
        self._act = act
        self._bias = bias
        self._slope = slope
        self._dtype = dtype
        self._init = init
        # W and b are views of one array (one optimizer call per layer); likewise dW and db
        size = n_in * n_out + (n_out if bias else 0)
        self._params = numpy.zeros(size, dtype)
        self._grads = numpy.zeros(size, dtype)
        self._W = self._params[:n_in * n_out].reshape(n_in, n_out)
        self._b = self._params[n_in * n_out:]             # length 0 without bias
        self._dW = self._grads[:n_in * n_out].reshape(n_in, n_out)
        self._db = self._grads[n_in * n_out:]
        numpy.copyto(self._W, W, casting="unsafe")
        if bias and b is not None:
            numpy.copyto(self._b, b, casting="unsafe")
        # buffers for up to `_capacity` rows, and views of them for the current batch size
        self._capacity = 0
        self._rows = -1
        self._Yfull = self._Zfull = self._dZfull = self._dXfull = self._Xfull = None
        self._no_dX = numpy.zeros((0, n_in), dtype)
        self._X = None                                      # the input of the last forward
        # _training serializes changes of the parameters (assignment), _lock guards parameters
        # and buffers for one call; a Network that takes the layer gives it its own (_join).
        self._training = threading.RLock()
        self._lock = StepLock()
        fork_safe(self)
        self._owner = None                                  # weak reference to its Network

    # ---------------------------------------------------------------- description

    n_in = property(lambda self: self._n_in, doc="Number of inputs.")
    n_out = property(lambda self: self._n_out, doc="Number of outputs (units).")
    activation = property(lambda self: self._act.name, doc="The activation's name.")
    slope = property(lambda self: self._slope, doc="The sigmoid's slope epsilon (1.0 otherwise).")
    bias = property(lambda self: self._bias, doc="Whether the layer has a bias b.")
    dtype = property(lambda self: self._dtype, doc="numpy.float64 or numpy.float32.")
    init = property(lambda self: self._init, doc="How the weights were initialised.")

    def __repr__(self):
        extra = "" if self._bias else ", bias=False"
        extra += f", slope={self._slope!r}" if self._slope != 1 else ""
        return (f"Dense({self._n_in}, {self._n_out}, {self._act.name!r}{extra}, "
                f"dtype=numpy.{self._dtype.name})")

    # ---------------------------------------------------------------- parameters

    @property
    def W(self):
        """Weights (n_in, n_out): a read-only copy. Assign to change them (validated)."""
        with self._lock:
            return _read_only(self._W.copy())

    @W.setter
    def W(self, value):
        self._assign(self._W, value, "W")

    @property
    def b(self):
        """Biases (n_out,): a read-only copy, or None without bias. Assign to change them."""
        with self._lock:
            return _read_only(self._b.copy()) if self._bias else None

    @b.setter
    def b(self, value):
        if not self._bias:
            raise ValueError("this layer has no bias (it was made with bias=False); make it "
                             "with bias=True to have one.")
        self._assign(self._b, value, "b")

    def _assign(self, live, value, name):
        """Copy `value`, checked as `name` (shape, dtype, finite), into the live array."""
        array = check.matrix(value, name, live.shape, self._dtype)
        with self._training, self._lock:
            numpy.copyto(live, array)

    @property
    def dW(self):
        """Gradient of W set by the last backward: a read-only copy."""
        with self._lock:
            return _read_only(self._dW.copy())

    @property
    def db(self):
        """Gradient of b set by the last backward: a read-only copy (None without bias)."""
        with self._lock:
            return _read_only(self._db.copy()) if self._bias else None

    def parameters(self):
        """The live parameter arrays [W, b] (or [W]), for an optimizer to update in place."""
        return [self._W, self._b] if self._bias else [self._W]

    def gradients(self):
        """The live gradient arrays [dW, db] (or [dW]), matching ``parameters()``."""
        return [self._dW, self._db] if self._bias else [self._dW]

    # ---------------------------------------------------------------- forward and backward

    def forward(self, X):
        """Y = f(X @ W + b) for X of shape (N, n_in) (one sample may be n_in values); returns Y
        (N, n_out), a read-only view of the layer's buffer. Caches X and Y for ``backward``."""
        X = check.rows(X, "X", self._n_in, "n_in", self._dtype)
        with self._lock:
            self._prepare(len(X), copy_input=True)
            Xin = self._Xfull[:len(X)]
            numpy.copyto(Xin, X)               # owned: changing X afterwards cannot spoil backward
            Y, finite = self._forward(_compiled, Xin)
        if not finite:
            raise DivergenceError("Dense.forward: X @ W + b is not finite: the weights are not "
                                  "finite (training diverged) or the inputs are too large.")
        return _read_only(Y.view())

    def backward(self, dY):
        """From dY (N, n_out), the gradient of some loss with respect to this layer's last output,
        set ``dW`` and ``db`` and return dX (N, n_in), the gradient with respect to its input (a
        read-only view of the layer's buffer). dY is not modified."""
        with self._lock:
            if self._X is None:
                raise RuntimeError("backward needs the forward pass it differentiates: call "
                                   "layer.forward(X) first.")
            n = len(self._X)
            dY = check.rows(dY, "dY", self._n_out, "n_out", self._dtype)
            if len(dY) != n:
                raise ValueError(f"dY has {len(dY)} row(s) but the last forward had {n}; give "
                                 f"one gradient row per input row.")
            return _read_only(self._backward(_compiled, dY, need_dX=True).view())

    # ---------------------------------------------------------------- saving and pickling

    def _record(self):
        """(spec, arrays): the layer as a file stores it, a JSON-able dict and copies of W
        (and b). Called under the layer's lock."""
        spec = {"n_in": self._n_in, "n_out": self._n_out, "activation": self._act.name,
                "bias": self._bias, "slope": self._slope,
                "init": self._init if isinstance(self._init, str) else float(self._init)}
        arrays = {"W": self._W.copy()}
        if self._bias:
            arrays["b"] = self._b.copy()
        return spec, arrays

    @classmethod
    def _from_record(cls, f, spec, dtype, prefix, label):
        """The layer `spec` describes (checked as by the constructor), its arrays "<prefix>W",
        "<prefix>b" read from `f` (an NpzReader) once the spec is valid, finite and of `dtype`;
        `label` starts messages about them ("layer 0: ")."""
        n_in, n_out, act, bias, slope, dtype, _ = _checked(
            spec.get("n_in"), spec.get("n_out"), spec.get("activation"), spec.get("bias"),
            spec.get("init"), spec.get("slope"), dtype)
        names = [prefix + "W"] + ([prefix + "b"] if bias else [])
        shapes = [(n_in, n_out), (n_out,)]
        arrays = f.read(names, expect={
            name: (shape, dtype, f"{label}{name[len(prefix):]} must have shape {shape}; got shape {{got}}")
            for name, shape in zip(names, shapes)})
        W = check.matrix(arrays[prefix + "W"], "W", (n_in, n_out), dtype)
        b = check.matrix(arrays[prefix + "b"], "b", (n_out,), dtype) if bias else None
        layer = cls.__new__(cls)
        layer._setup(n_in, n_out, act, bias, slope, dtype, spec["init"], W, b)
        return layer

    def _write(self, file):
        """The layer's own file (what pickling carries): its spec, W, b and the gradients."""
        with self._lock:
            spec, arrays = self._record()
            arrays["dW"] = self._dW.copy()
            if self._bias:
                arrays["db"] = self._db.copy()
        _npzfile.write_config_file(file, FILE_KIND, FORMAT_VERSION,
                                   {"dtype": self._dtype.name, "layer": spec}, arrays)

    @classmethod
    def _read(cls, file):
        with _npzfile.NpzReader(file, "cnn_core Dense file") as f:
            config = _npzfile.read_config(f, FILE_KIND, FORMAT_VERSION)
            with f.checking():
                dtype = check.float_dtype(_npzfile.field(config.get("dtype"), "dtype", str))
                layer = cls._from_record(f, _npzfile.field(config.get("layer"), "layer", dict),
                                         dtype, "", "")
                grads = ["dW"] + (["db"] if layer._bias else [])
                found = f.read(grads, expect={k: (a.shape, dtype) for k, a in
                                              zip(grads, layer.gradients())})
                for (k, g), live in zip(found.items(), layer.gradients()):
                    numpy.copyto(live, check.matrix(g, k, live.shape, dtype))
        return layer

    # pickle, copy.copy and copy.deepcopy (PicklesThroughFile): a new layer of no network, with
    # the same parameters and gradients but not forward's cached batch (call forward again).

    # ---------------------------------------------------------------- what a network calls
    # (the protocol of the module docstring: no validation; `K` is the backend's kernel module)

    def _network(self):
        """The Network this layer belongs to, or None."""
        return self._owner() if self._owner is not None else None

    def _join(self, network):
        """Belong to `network` (a weak reference): lock with its locks from now on."""
        with self._training, self._lock:
            self._owner = weakref.ref(network)
            self._training, self._lock = network._training, network._lock

    def _prepare(self, n, need_dX=False, copy_input=False):
        """Buffers for n rows (and X's copy, with `copy_input`); views of them for this n."""
        if n > self._capacity:
            self._Yfull = numpy.empty((n, self._n_out), self._dtype)
            self._dZfull = numpy.empty((n, self._n_out), self._dtype)
            self._Zfull = (numpy.empty((n, self._n_out), self._dtype)
                           if self._act.output_only else self._Yfull)
            if self._dXfull is not None:
                self._dXfull = numpy.empty((n, self._n_in), self._dtype)
            if self._Xfull is not None:
                self._Xfull = numpy.empty((n, self._n_in), self._dtype)
            self._capacity = n
            self._rows = -1
        if need_dX and self._dXfull is None:
            self._dXfull = numpy.empty((self._capacity, self._n_in), self._dtype)
            self._rows = -1
        if copy_input and self._Xfull is None:
            self._Xfull = numpy.empty((self._capacity, self._n_in), self._dtype)
        if n != self._rows:
            self._rows = n
            self._Y, self._Z, self._dZ = self._Yfull[:n], self._Zfull[:n], self._dZfull[:n]
            self._dX = self._dXfull[:n] if self._dXfull is not None else None

    def _forward(self, K, X, logits_only=False):
        """Y = f(X @ W + b), or only Z = X @ W + b with `logits_only`, into the layer's buffer."""
        if len(X) != self._rows:
            self._prepare(len(X))
        self._X = X
        if logits_only:
            return self._Z, K.dense_forward(X, self._W, self._b, _IDENTITY, 1.0, self._Z, self._Z)
        return self._Y, K.dense_forward(X, self._W, self._b, self._act.code, self._slope,
                                        self._Z, self._Y)

    def _loss_buffers(self):
        """(Y, dZ) of the current batch, for a loss kernel to write."""
        return self._Y, self._dZ

    def _per_sample(self, need_dX):
        """What the per-sample SGD kernel takes of this layer (whole buffers; dX empty unless
        `need_dX`). It overwrites them, so the layer forgets its cached forward pass."""
        self._X = None
        self._prepare(1, need_dX=need_dX)
        return (self._act.code, self._slope, self._bias, self._Yfull, self._Zfull, self._dZfull,
                self._dXfull if need_dX else self._no_dX)

    def _backward(self, K, dY, need_dX, from_logits=False):
        """dW, db (and dX) from dY, with respect to Z when `from_logits` (dY may then be the
        layer's own dZ buffer)."""
        if need_dX:
            self._prepare(len(dY), need_dX=True)
        dX = self._dX if need_dX else self._no_dX
        if from_logits:
            K.dense_backward(self._X, self._W, self._Y, dY, _IDENTITY, 1.0, self._dZ,
                             self._dW, self._db, dX)
        else:
            K.dense_backward(self._X, self._W, self._Y, dY, self._act.code, self._slope,
                             self._dZ, self._dW, self._db, dX)
        return dX


def _checked(n_in, n_out, activation, bias, init, slope, dtype):
    """The constructor's arguments checked: (n_in, n_out, Activation, bias, slope, dtype, the
    initial weights' standard deviation)."""
    n_in = check.positive_int(n_in, "n_in")
    n_out = check.positive_int(n_out, "n_out")
    act = activations.get(activation)
    bias = check.boolean(bias, "bias")
    slope = check.positive_float(slope, "slope")
    if slope != 1 and not act.has_slope:
        raise ValueError(f"slope applies to the sigmoid only; got slope={slope!r} with "
                         f"activation {act.name!r}.")
    dtype = check.float_dtype(dtype)
    std = init_std(init, n_in, n_out)
    return n_in, n_out, act, bias, slope, dtype, std


def _read_only(array):
    array.flags.writeable = False
    return array
