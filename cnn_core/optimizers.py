"""Optimizers and learning-rate schedules for the deep networks.

Each optimizer validates its arguments once and updates parameter arrays in place with one
kernel call per array (``cnn_core/_dense.pxi``; a ``Network(backend="numpy")`` switches it to the
NumPy twins in ``cnn_core._dense_numpy``). State (velocities, running averages) is created lazily
at the first ``update``, one set per parameter array.

    >>> opt = SGD(0.1, momentum=0.9)
    >>> opt.update(layer.parameters(), layer.gradients())   # after layer.backward(...)

The rules are PyTorch's (``torch.optim``), with ``d = g + weight_decay * p``:

- ``SGD``: with momentum ``v = momentum * v + d`` and ``d = v`` (or ``d + momentum * v`` with
  ``nesterov``); ``p -= lr * d``. ``Momentum`` and ``Nesterov`` are SGD with momentum 0.9.
- ``AdaGrad``: ``h += d * d``; ``p -= lr * d / (sqrt(h) + eps)``.
- ``RMSprop``: ``v = alpha * v + (1 - alpha) * d * d``; ``p -= lr * d / (sqrt(v) + eps)``.
- ``Adam``: ``m = beta1 * m + (1 - beta1) * d``, ``v = beta2 * v + (1 - beta2) * d * d``;
  ``p -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)`` at update t = 1, 2, ...

A learning rate is a number or a schedule: ``StepDecay``, ``ExponentialDecay`` or
``InverseTimeDecay``, functions of ``step``, the number of updates made so far
(``optimizer.iterations``). To decay once per epoch, give ``decay_steps`` (or ``step_size``) the
number of updates in an epoch (the number of samples, for per-sample training).

What an optimizer provides to the network it trains and to its trainer (``cnn_core._trainer``)
is a protocol between this package's modules, not public API (no checks; each method documents
itself): ``_update(params, grads)`` (one update at ``lr``; whether finite), ``_rates(n)`` and
``_advance(n)`` (the next n rates; n updates made: the one place ``iterations`` grows in a fit),
``_runs_per_sample()`` and ``_velocities(params)`` (for the per-sample SGD kernel),
``_get_state()`` and ``_set_state(saved)`` (the snapshot a diverged fit goes back to), and
``_check_for(network, params)``, ``_join(network, kernels)`` and ``_leave()`` (for a network).
"""
import weakref
from contextlib import nullcontext

import numpy

from . import _npzfile
from . import _validation as check
from ._npzfile import field as _field
from ._dispatch import kernels as _compiled

__all__ = ["Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
           "Schedule", "StepDecay", "ExponentialDecay", "InverseTimeDecay", "OPTIMIZERS",
           "SCHEDULES", "get"]


# ---------------------------------------------------------------- learning-rate schedules

class Schedule:
    """A learning rate that depends on the number of updates made so far: ``schedule(step)``."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        """The constructor's arguments, as a dict of numbers and bools."""
        raise NotImplementedError

    def __reduce__(self):
        """pickle and copies carry the configuration (what a saved optimizer stores)."""
        return _schedule, (type(self).__name__, self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """``initial * gamma ** (step // step_size)``: the rate is multiplied by ``gamma`` every
    ``step_size`` updates (torch.optim.lr_scheduler.StepLR)."""

    def __init__(self, initial, step_size, gamma=0.1):
        self.initial = check.positive_float(initial, "initial")
        self.step_size = check.positive_int(step_size, "step_size")
        self.gamma = check.real(gamma, "gamma", low=0, high=1, low_open=True)

    def __call__(self, step):
        return self.initial * self.gamma ** (step // self.step_size)

    def get_config(self):
        return {"initial": self.initial, "step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """``initial * decay_rate ** (step / decay_steps)`` (``step // decay_steps`` with
    ``staircase``), as Keras' ExponentialDecay."""

    def __init__(self, initial, decay_rate, decay_steps=1, staircase=False):
        self.initial = check.positive_float(initial, "initial")
        self.decay_rate = check.real(decay_rate, "decay_rate", low=0, high=1, low_open=True)
        self.decay_steps = check.positive_int(decay_steps, "decay_steps")
        self.staircase = check.boolean(staircase, "staircase")

    def __call__(self, step):
        p = step // self.decay_steps if self.staircase else step / self.decay_steps
        return self.initial * self.decay_rate ** p

    def get_config(self):
        return {"initial": self.initial, "decay_rate": self.decay_rate,
                "decay_steps": self.decay_steps, "staircase": self.staircase}


class InverseTimeDecay(Schedule):
    """``initial / (1 + decay_rate * step / decay_steps)`` (``step // decay_steps`` with
    ``staircase``), as Keras' InverseTimeDecay."""

    def __init__(self, initial, decay_rate, decay_steps=1, staircase=False):
        self.initial = check.positive_float(initial, "initial")
        self.decay_rate = check.real(decay_rate, "decay_rate", low=0)
        self.decay_steps = check.positive_int(decay_steps, "decay_steps")
        self.staircase = check.boolean(staircase, "staircase")

    def __call__(self, step):
        p = step // self.decay_steps if self.staircase else step / self.decay_steps
        return self.initial / (1 + self.decay_rate * p)

    def get_config(self):
        return {"initial": self.initial, "decay_rate": self.decay_rate,
                "decay_steps": self.decay_steps, "staircase": self.staircase}


SCHEDULES = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, InverseTimeDecay)}
FILE_KIND = "cnn_core.Optimizer"
FORMAT_VERSION = 1


def _schedule(name, config):
    """The schedule `name` with `config` (what a pickled schedule carries), checked as by its
    constructor."""
    if name not in SCHEDULES:
        raise ValueError(f"Unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}.")
    return SCHEDULES[name](**config)


def _hyperparameter(name, doc, checked):
    """A property whose assignment is checked as the constructor checks the argument (a bad value
    never reaches the kernels) and waits for a fit of the network the optimizer trains (the
    network's locks), as assigning the network's optimizer does. `checked(value)` -> the value."""
    def get(self):
        return getattr(self, "_" + name)

    def set(self, value):
        value = checked(value)
        with self._changing():
            setattr(self, "_" + name, value)
    return property(get, set, doc=doc)


def _rate(value, name="lr"):
    if isinstance(value, Schedule):
        return value
    try:
        return check.positive_float(value, name)
    except TypeError:
        raise TypeError(f"{name} must be a positive number or a schedule (StepDecay, "
                        f"ExponentialDecay, InverseTimeDecay); got {value!r} "
                        f"({type(value).__name__}).") from None


# ---------------------------------------------------------------- optimizers

class Optimizer(_npzfile.PicklesThroughFile):
    """Base class: ``update(params, grads)`` changes each parameter array in place.

    ``params`` and ``grads`` are lists of arrays of the same shapes and dtype (float32 or
    float64, C-contiguous; params writable), e.g. ``layer.parameters()`` and
    ``layer.gradients()``. State is created at the first update, one set per array, and later
    calls must pass arrays of the same shapes in the same order. ``iterations`` counts updates;
    ``lr`` is the rate the next update uses.
    """

    #: names of the per-array state, in order (subclasses)
    state_names = ()
    #: name of the kernel (in _kernels and in _dense_numpy)
    kernel_name = None

    def __init__(self, lr, weight_decay=0.0):
        self._owner = None                  # a weak reference to the Network it trains, if any
        self._state = None
        self._lr = _rate(lr)
        self.weight_decay = weight_decay
        self.iterations = 0
        self._kernel = getattr(_compiled, self.kernel_name)

    weight_decay = _hyperparameter("weight_decay", "The weight decay (assignable: a number >= 0).",
                                   lambda value: check.real(value, "weight_decay", low=0))

    def _network(self):
        """The Network this optimizer trains, or None."""
        return self._owner() if self._owner is not None else None

    def _changing(self):
        """The locks of the network this optimizer trains (a context), or a null context."""
        owner = self._network()
        return owner._changing() if owner is not None else nullcontext()

    # ---------------------------------------------------------------- the learning rate

    @property
    def lr(self):
        """The learning rate of the next update (the schedule's value at ``iterations``)."""
        if isinstance(self._lr, Schedule):
            return float(self._lr(self.iterations))
        return self._lr

    @lr.setter
    def lr(self, value):
        value = _rate(value)
        owner = self._network()
        if owner is not None and not isinstance(value, Schedule):
            check.rate_in_dtype(value, "lr", owner.dtype)
        with self._changing():
            self._lr = value

    @property
    def schedule(self):
        """The schedule given as ``lr``, or None for a constant rate."""
        return self._lr if isinstance(self._lr, Schedule) else None

    # ---------------------------------------------------------------- updating

    def update(self, params, grads):
        """One update of every array of ``params`` in place from ``grads``. Returns whether all
        updated parameters are finite. Bad arguments raise before anything changes."""
        params, grads = self._check(params, grads)
        return self._update(params, grads)

    def _update(self, params, grads):
        """``update`` without the checks, on a network's own arrays; whether finite. It advances
        ``iterations`` by one."""
        if self._state is None:
            self._state = [self._new_state(p) for p in params]
        lr = self.lr
        finite = True
        for p, g, state in zip(params, grads, self._state):
            finite &= bool(self._step(p.reshape(-1), g.reshape(-1), state, lr, self.iterations + 1))
        self._advance(1)
        return finite

    def _rates(self, n):
        """The learning rates of the next `n` updates (float64 (n,)): the schedule's values at
        ``iterations``, ``iterations + 1``, ..., or n times the constant rate."""
        schedule = self.schedule
        if schedule is None:
            return numpy.full(n, self._lr)
        return numpy.array([schedule(self.iterations + k) for k in range(n)], numpy.float64)

    def _advance(self, n):
        """Count `n` updates made (the schedule moves on with them)."""
        self.iterations += n

    def _runs_per_sample(self):
        """Whether the per-sample SGD kernel can train with this optimizer (SGD only)."""
        return False

    def _new_state(self, p):
        return [numpy.zeros(p.size, p.dtype) for _ in self.state_names]

    def _step(self, p, g, state, lr, t):
        raise NotImplementedError

    def _bind(self, kernels):
        """Run on the kernels of `kernels` (the compiled module or cnn_core._dense_numpy)."""
        self._kernel = getattr(kernels, self.kernel_name)

    def _check_for(self, network, params):
        """Raise ValueError unless `network`, with parameter vectors `params`, may take this
        optimizer: it trains no other network, and its state (if any) fits these parameters."""
        owner = self._network()
        if owner is not None and owner is not network:
            raise ValueError("this optimizer already trains another Network: its state belongs "
                             "to that network's parameters. Give each network its own optimizer.")
        if not self._state_fits(params):
            raise ValueError("this optimizer has state (velocities, averages) made for other "
                             "parameters than this network's; give the network a new optimizer.")

    def _state_fits(self, params):
        """Whether the state is None or was made for arrays of the sizes and dtypes of `params`."""
        state = self._state
        return state is None or len(state) == len(params) and not any(
            s and (s[0].size != p.size or s[0].dtype != p.dtype) for s, p in zip(state, params))

    def _join(self, network, kernels):
        """Train `network` (a weak reference; its locks guard changes of the settings), on the
        kernels of its backend."""
        self._bind(kernels)
        self._owner = weakref.ref(network)

    def _leave(self):
        """Train no network any more (it took another optimizer)."""
        self._owner = None

    def _check(self, params, grads):
        if not isinstance(params, (list, tuple)) or not isinstance(grads, (list, tuple)):
            raise TypeError(f"update takes a list of parameter arrays and a list of gradient "
                            f"arrays; got {type(params).__name__} and {type(grads).__name__}.")
        if len(params) != len(grads) or not params:
            raise ValueError(f"update needs as many gradient arrays as parameter arrays (at least "
                             f"one); got {len(params)} parameter(s) and {len(grads)} gradient(s).")
        for i, (p, g) in enumerate(zip(params, grads)):
            if not isinstance(p, numpy.ndarray) or p.dtype not in check.FLOAT_DTYPES:
                raise TypeError(f"params[{i}] must be a float32 or float64 NumPy array (updated in "
                                f"place); got {type(p).__name__}"
                                f"{' of dtype ' + str(p.dtype) if isinstance(p, numpy.ndarray) else ''}.")
            if not p.flags.c_contiguous or not p.flags.writeable:
                raise ValueError(f"params[{i}] must be a writable C-contiguous array (it is updated "
                                 f"in place); pass the layer's live arrays, layer.parameters().")
            if not isinstance(g, numpy.ndarray) or g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(f"grads[{i}] must be an array of the shape and dtype of params[{i}] "
                                 f"({p.shape}, {p.dtype}); got "
                                 f"{(g.shape, str(g.dtype)) if isinstance(g, numpy.ndarray) else type(g).__name__}.")
        grads = [numpy.ascontiguousarray(g) for g in grads]
        if not self._state_fits(params):
            shapes = [(s[0].size if s else None) for s in self._state]
            raise ValueError(f"this optimizer's state was made for {len(self._state)} parameter "
                             f"array(s) of sizes {shapes}; got {len(params)} of sizes "
                             f"{[p.size for p in params]}. Use a new optimizer for other "
                             f"parameters.")
        return list(params), grads

    # ---------------------------------------------------------------- state and configuration

    def get_config(self):
        """The constructor's arguments as a dict of numbers, bools and (for a schedule) a dict."""
        lr = self._lr
        if isinstance(lr, Schedule):
            lr = {"schedule": type(lr).__name__, **lr.get_config()}
        return {"lr": lr, "weight_decay": self.weight_decay, **self._config()}

    def _config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.pop("lr")
        if isinstance(lr, dict):
            lr = dict(lr)
            lr = _schedule(lr.pop("schedule"), lr)
        return cls(lr, **config)

    def _get_state(self):
        """A copy of the state: (iterations, [[arrays] per parameter array] or None)."""
        arrays = None if self._state is None else [[a.copy() for a in s] for s in self._state]
        return self.iterations, arrays

    def _set_state(self, saved):
        """Back to `saved`, a ``_get_state()`` (its arrays copied in)."""
        iterations, arrays = saved
        self.iterations = int(iterations)
        if arrays is None:
            self._state = None
        elif self._state is not None and len(self._state) == len(arrays):
            for mine, theirs in zip(self._state, arrays):
                for a, b in zip(mine, theirs):
                    numpy.copyto(a, b)
        else:
            self._state = [[a.copy() for a in s] for s in arrays]

    # ---------------------------------------------------------------- saving and pickling

    def _record(self):
        """(spec, arrays): the optimizer as a file stores it, a JSON-able dict (name, config,
        iterations, state array counts and sizes) and copies of its state arrays
        "optimizer<i>_<j>" (slot j of parameter array i)."""
        iterations, state = self._get_state()
        spec = {"name": type(self).__name__, "config": self.get_config(),
                "iterations": iterations,
                "state": None if state is None else [len(s) for s in state]}
        if state is not None:
            spec["sizes"] = [int(s[0].size) if s else 0 for s in state]
        arrays = {f"optimizer{i}_{j}": a for i, slot in enumerate(state or [])
                  for j, a in enumerate(slot)}
        return spec, arrays

    @staticmethod
    def _from_record(f, spec, dtype, sizes=None, owner="layer"):
        """The optimizer `spec` describes, its state read from `f` (an NpzReader) once the spec
        is valid. `sizes`: the sizes of the parameter arrays it trains (a network's), else
        those the spec gives; `owner` names a parameter array in messages."""
        name = _field(spec.get("name"), "optimizer name", str)
        cls = OPTIMIZERS.get(name)
        if cls is None:
            raise ValueError(f"unknown optimizer {name!r}")
        optimizer = cls.from_config(_field(spec.get("config"), "optimizer config", dict))
        iterations = spec.get("iterations")
        if (isinstance(iterations, bool) or not isinstance(iterations, int)
                or not 0 <= iterations < 2 ** 62):
            raise ValueError(f"optimizer iterations must be an integer >= 0, got {iterations!r}")
        counts = spec.get("state")
        state = None
        if counts is not None:
            counts = _field(counts, "optimizer state", list)
            if not all(type(n) is int and 0 <= n <= 16 for n in counts):
                raise ValueError(f"optimizer state must list array counts; got {counts!r:.60}")
            if sizes is None:
                sizes = _field(spec.get("sizes"), "optimizer sizes", list)
                if len(sizes) != len(counts) or not all(type(n) is int and 0 <= n < 2 ** 40 for n in sizes):
                    raise ValueError(f"optimizer sizes must list one array size per state; got "
                                     f"{sizes!r:.60}")
            slots = len(optimizer.state_names)
            if len(counts) != len(sizes) or any(n != slots for n in counts):
                raise ValueError(f"the optimizer state holds {counts} arrays; {name} keeps {slots} "
                                 f"per {owner} for {len(sizes)} {owner}s")
            names = [f"optimizer{i}_{j}" for i, n in enumerate(counts) for j in range(n)]
            arrays = f.read(names, expect={
                f"optimizer{i}_{j}": ((sizes[i],), dtype, f"optimizer state {i} does not match "
                                      f"{owner} {i} (shape {{got}}, expected ({sizes[i]},))")
                for i, n in enumerate(counts) for j in range(n)})
            state = []
            for i, n in enumerate(counts):
                slot = [arrays[f"optimizer{i}_{j}"] for j in range(n)]
                for j, a in enumerate(slot):
                    what = f"optimizer state {i} ({optimizer.state_names[j]})"
                    if a.dtype not in check.FLOAT_DTYPES or a.dtype != slot[0].dtype:
                        raise ValueError(f"{what} is {a.dtype}; expected float64 or float32 "
                                         f"arrays, one dtype per parameter array")
                    if not numpy.isfinite(a).all():
                        raise ValueError(f"{what} is not finite")
                    if optimizer.state_names[j] in NONNEGATIVE_STATE and a.size and a.min() < 0:
                        raise ValueError(f"{what} has negative values")
                state.append(slot)
        optimizer._set_state((iterations, state))
        return optimizer

    def _write(self, file):
        """The optimizer's own file (what pickling carries)."""
        spec, arrays = self._record()
        _npzfile.write_config_file(file, FILE_KIND, FORMAT_VERSION, spec, arrays)

    @classmethod
    def _read(cls, file):
        with _npzfile.NpzReader(file, "cnn_core Optimizer file") as f:
            spec = _npzfile.read_config(f, FILE_KIND, FORMAT_VERSION)
            with f.checking():
                optimizer = Optimizer._from_record(f, spec, None, owner="parameter array")
        if not isinstance(optimizer, cls):
            raise _npzfile.FileError(f"{f.name}: not a valid cnn_core Optimizer file: it holds a "
                                     f"{type(optimizer).__name__}, not a {cls.__name__}.")
        return optimizer

    # pickle, copy.copy and copy.deepcopy (PicklesThroughFile): a new optimizer with the same
    # configuration, iteration count and state (its own arrays), training no network yet.

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "lr")
        return f"{type(self).__name__}({self._lr!r}{', ' + args if args else ''})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum and weight decay
    (torch.optim.SGD with dampening 0). State: the velocity, with momentum only."""

    kernel_name = "sgd_update"

    #: True or False for the subclasses whose name says which momentum they use
    _fixed_nesterov = None

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self._momentum, self._nesterov = 0.0, False
        self.state_names = ()
        momentum = check.real(momentum, "momentum", low=0, high=1, high_open=True)
        nesterov = check.boolean(nesterov, "nesterov")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0 (e.g. momentum=0.9).")
        self.momentum = momentum
        self._nesterov = nesterov

    @property
    def momentum(self):
        """The momentum (assignable: a number in [0, 1)). Turning momentum on or off drops the
        velocities: the next update starts them afresh."""
        return self._momentum

    @momentum.setter
    def momentum(self, value):
        value = check.real(value, "momentum", low=0, high=1, high_open=True)
        if value == 0 and self._nesterov:
            raise ValueError(f"{type(self).__name__} uses Nesterov momentum, which needs a "
                             f"momentum > 0; got 0.0 (set nesterov = False first, on an SGD).")
        with self._changing():
            if bool(value) != bool(self._momentum):
                self._state = None           # with or without velocities: made at the next update
                self.state_names = ("velocity",) if value else ()
            self._momentum = value

    @property
    def nesterov(self):
        """Whether the momentum is Nesterov's (assignable on SGD: True needs a momentum > 0)."""
        return self._nesterov

    @nesterov.setter
    def nesterov(self, value):
        value = check.boolean(value, "nesterov")
        if self._fixed_nesterov is not None and value != self._fixed_nesterov:
            raise ValueError(f"{type(self).__name__} always has nesterov={self._fixed_nesterov}; "
                             f"use SGD(lr, momentum, nesterov={value}) to choose.")
        if value and self._momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0 (e.g. momentum=0.9); set the "
                             "momentum first.")
        with self._changing():
            self._nesterov = value

    def _step(self, p, g, state, lr, t):
        v = state[0] if state else _EMPTY[p.dtype]
        return self._kernel(p, g, v, lr, self.momentum, self.nesterov, self.weight_decay)

    def _runs_per_sample(self):
        # the kernel does SGD's own step: a subclass with another _step needs the batch path
        return type(self)._step is SGD._step

    def _velocities(self, params):
        """The velocity of every vector of `params` (state made now if there is none), or
        empty arrays without momentum: what the per-sample kernel updates."""
        if self._state is None:
            self._state = [self._new_state(p) for p in params]
        return [state[0] if state else _EMPTY[p.dtype] for state, p in zip(self._state, params)]

    def _config(self):
        if self._fixed_nesterov is not None:      # Momentum and Nesterov: their name says which
            return {"momentum": self.momentum}
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Momentum(SGD):
    """SGD with momentum (0.9 by default)."""

    _fixed_nesterov = False

    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(lr, momentum=momentum, nesterov=False, weight_decay=weight_decay)


class Nesterov(SGD):
    """SGD with Nesterov momentum (0.9 by default)."""

    _fixed_nesterov = True

    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)


_EPS = _hyperparameter("eps", "The term added to the denominator (assignable: a positive number).",
                       lambda value: check.positive_float(value, "eps"))


class AdaGrad(Optimizer):
    """AdaGrad (torch.optim.Adagrad's defaults: lr 0.01, eps 1e-10). State: the sum of squared
    gradients."""

    kernel_name = "adagrad_update"
    state_names = ("sum",)
    eps = _EPS

    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.eps = eps

    def _step(self, p, g, state, lr, t):
        return self._kernel(p, g, state[0], lr, self.eps, self.weight_decay)

    def _config(self):
        return {"eps": self.eps}


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop's defaults: lr 0.01, alpha 0.99, eps 1e-8). State: the
    running average of squared gradients."""

    kernel_name = "rmsprop_update"
    state_names = ("square_avg",)
    eps = _EPS

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha = alpha
        self.eps = eps

    alpha = _hyperparameter("alpha", "The smoothing constant (assignable: a number in [0, 1)).",
                            lambda value: check.real(value, "alpha", low=0, high=1,
                                                     high_open=True))

    def _step(self, p, g, state, lr, t):
        return self._kernel(p, g, state[0], lr, self.alpha, self.eps, self.weight_decay)

    def _config(self):
        return {"alpha": self.alpha, "eps": self.eps}


class Adam(Optimizer):
    """Adam (torch.optim.Adam's defaults: lr 0.001, betas (0.9, 0.999), eps 1e-8). State: the
    running averages of gradients and of squared gradients."""

    kernel_name = "adam_update"
    state_names = ("exp_avg", "exp_avg_sq")
    eps = _EPS

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.betas = betas
        self.eps = eps

    betas = _hyperparameter("betas", "(beta1, beta2) (assignable: a pair of numbers in [0, 1)).",
                            lambda value: _betas(value))

    def _step(self, p, g, state, lr, t):
        return self._kernel(p, g, state[0], state[1], lr, self.betas[0], self.betas[1], self.eps,
                            self.weight_decay, t)

    def _config(self):
        return {"betas": list(self.betas), "eps": self.eps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["betas"] = tuple(config.get("betas", (0.9, 0.999)))
        return super().from_config(config)


def _betas(value):
    """Adam's `value` as (beta1, beta2), each checked."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2); got {value!r}.")
    return (check.real(value[0], "beta1", low=0, high=1, high_open=True),
            check.real(value[1], "beta2", low=0, high=1, high_open=True))


# state that is a sum or an average of squares: never negative (a saved file is checked for it)
NONNEGATIVE_STATE = ("sum", "square_avg", "exp_avg_sq")

_EMPTY = {dtype: numpy.zeros(0, dtype) for dtype in check.FLOAT_DTYPES}

OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)}
_DEFAULT_RATE = {"SGD": 0.01, "Momentum": 0.01, "Nesterov": 0.01}


def get(name):
    """A new optimizer with default arguments from its name (any case): "sgd" (lr 0.01),
    "momentum", "nesterov", "adagrad", "rmsprop", "adam"."""
    by_lower = {k.lower(): k for k in OPTIMIZERS}
    if not isinstance(name, str) or name.lower() not in by_lower:
        raise ValueError(f"Unknown optimizer {name!r}; expected one of "
                         f"{sorted(by_lower)} or an Optimizer such as SGD(0.1).")
    key = by_lower[name.lower()]
    cls = OPTIMIZERS[key]
    return cls(_DEFAULT_RATE[key]) if key in _DEFAULT_RATE else cls()

