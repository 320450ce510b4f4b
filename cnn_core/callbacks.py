"""Callbacks for :meth:`cnn_core.Network.fit`, with the semantics of Keras's.

    >>> from cnn_core.callbacks import EarlyStopping, ReduceLROnPlateau, ModelCheckpoint
    >>> net.fit(X, y, epochs=100, batch_size=32, validation_data=(X_val, y_val),
    ...         callbacks=[EarlyStopping(patience=5, restore_best_weights=True),
    ...                    ReduceLROnPlateau(factor=0.5, patience=2),
    ...                    ModelCheckpoint("best.npz", save_best_only=True)])

Each is a function ``callback(network, epoch, logs)`` as ``Network.fit`` calls them after every
epoch (``epoch`` counted from 1 in each fit, ``logs`` with "loss", "accuracy", "val_loss",
"val_accuracy" and "lr"; NaN where not measured); one returning True stops training. A callback
starts afresh at epoch 1 of a fit (Keras's ``on_train_begin``), so one object can serve several
fits, one after the other. The value watched (``monitor``) must be measured: a name missing from
the logs, or NaN in them ("val_loss" without ``validation_data``, "accuracy" of a network with
one output), raises a ValueError naming the values that are available.

``mode`` "auto" watches for a maximum when the name contains "acc" (accuracy), for a minimum
otherwise; "min" and "max" say it. An improvement is a value better than the best so far by more
than ``min_delta``.
"""
import math
import os

__all__ = ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "Callback"]


class Callback:
    """Base class: keeps the monitor, its mode and min_delta, and reads the watched value."""

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be the name of a logged value such as 'val_loss'; got "
                            f"{monitor!r}.")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}.")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = _number(min_delta, "min_delta", non_negative=True)
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self._maximize = mode == "max"
        self._reset()

    def _reset(self):
        self.best = -math.inf if self._maximize else math.inf

    def _better(self, current, reference, delta):
        if self._maximize:
            return current - delta > reference
        return current + delta < reference

    def _value(self, logs):
        """The monitored value of this epoch's logs, or a ValueError saying what is logged."""
        value = logs.get(self.monitor) if isinstance(logs, dict) else None
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = math.nan
        if math.isnan(value):
            measured = [k for k, v in (logs or {}).items() if isinstance(v, (int, float))
                        and not math.isnan(float(v))]
            why = ("is not measured in this fit (NaN)" if self.monitor in (logs or {}) else
                   "is not in the logs")
            hint = (" (val_* values need validation_data=(X_val, T_val) in fit)"
                    if self.monitor.startswith("val_") else "")
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, which {why}"
                             f"{hint}; the values available are {measured} (logged: "
                             f"{sorted(logs or {})}).")
        return value


def _number(value, name, non_negative=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{name} must be a number; got {value!r}.")
    if non_negative and value < 0:
        raise ValueError(f"{name} must be >= 0; got {float(value)!r}.")
    return float(value)


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {value!r}.")
    return value


def _weights(network):
    """Read-only copies [W, b] of every layer (b None without bias)."""
    return [[layer.W, layer.b] for layer in network.layers]


def _set_weights(network, weights):
    for layer, (W, b) in zip(network.layers, weights):
        layer.W = W
        if b is not None:
            layer.b = b


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras's EarlyStopping).

    After each epoch: a value better than the best so far by more than ``min_delta`` resets the
    count of epochs without improvement; otherwise the count grows, and once it reaches
    ``patience`` (0: the first epoch without improvement) training stops (the callback returns
    True), never after the first epoch of a fit. ``restore_best_weights``: when it stops, the
    layers' weights become those of the end of the best epoch (kept as read-only copies of each
    layer's W and b, assigned back through ``layer.W = ...``); if training runs to its last epoch
    without stopping, the last weights are kept, as in Keras. ``baseline``: training stops
    unless the value gets better than it within ``patience`` epochs.

    Attributes after a fit: ``best`` (the best value), ``best_epoch``, ``stopped_epoch`` (0 if
    it did not stop) and ``wait``.
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                 restore_best_weights=False, baseline=None):
        super().__init__(monitor, mode, min_delta)
        self.patience = _count(patience, "patience")
        if not isinstance(restore_best_weights, bool):
            raise TypeError(f"restore_best_weights must be True or False; got "
                            f"{restore_best_weights!r}.")
        self.restore_best_weights = restore_best_weights
        self.baseline = None if baseline is None else _number(baseline, "baseline")

    def _reset(self):
        super()._reset()
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights = None

    def __call__(self, network, epoch, logs):
        if epoch == 1:
            self._reset()
        current = self._value(logs)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _weights(network)     # Keras: the first epoch's, to begin with
        self.wait += 1
        if self._better(current, self.best, self.min_delta):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _weights(network)
            if self.baseline is None or self._better(current, self.baseline, self.min_delta):
                self.wait = 0
                return False
        if self.wait >= self.patience and epoch > 1:
            self.stopped_epoch = epoch
            if self.restore_best_weights and self.best_weights is not None:
                _set_weights(network, self.best_weights)
            return True
        return False

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta!r}, mode={self.mode!r}, "
                f"restore_best_weights={self.restore_best_weights})")


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has stopped improving (Keras's
    ReduceLROnPlateau).

    After ``patience`` epochs without an improvement by more than ``min_delta`` the optimizer's
    rate becomes ``max(lr * factor, min_lr)`` (``network.optimizer.lr = ...``; the next epoch's
    logs show it), then ``cooldown`` epochs pass before counting again. A rate already at or
    below ``min_lr`` is left alone. An optimizer whose rate is a schedule is refused (assigning
    a number would replace the schedule). Attributes: ``best``, ``wait``.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0,
                 mode="auto", cooldown=0):
        super().__init__(monitor, mode, min_delta)
        factor = _number(factor, "factor")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1) (the rate is multiplied by it); got "
                             f"{factor!r}.")
        self.factor = factor
        self.min_lr = _number(min_lr, "min_lr", non_negative=True)
        self.patience = _count(patience, "patience")
        self.cooldown = _count(cooldown, "cooldown")

    def _reset(self):
        super()._reset()
        self.wait = 0
        self.cooldown_counter = 0

    def __call__(self, network, epoch, logs):
        if epoch == 1:
            self._reset()
        current = self._value(logs)
        optimizer = network.optimizer
        if optimizer.schedule is not None:
            raise ValueError(f"ReduceLROnPlateau sets the learning rate, but this optimizer's rate "
                             f"is a schedule ({optimizer.schedule!r}); use a constant rate, or the "
                             f"schedule alone.")
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best, self.min_delta):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.lr)
                if old > self.min_lr:
                    optimizer.lr = max(old * self.factor, self.min_lr)
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
        return False

    def __repr__(self):
        return (f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor!r}, "
                f"patience={self.patience}, min_delta={self.min_delta!r}, min_lr={self.min_lr!r})")


class ModelCheckpoint(Callback):
    """Save the network after every epoch (Keras's ModelCheckpoint), through
    ``network.save(path)``, which is atomic (a temporary file, fsync, then a rename): a crash
    leaves the previous file whole.

    ``path`` may hold ``str.format`` fields, filled from the epoch and the logs:
    ``"net-{epoch:03d}-{val_loss:.4f}.npz"``. ``save_best_only``: save only when ``monitor``
    improves on the best so far (by more than ``min_delta``, 0 by default, as Keras); otherwise
    every epoch (``monitor`` not read). Attributes: ``best``, ``last_saved`` (the last path
    written, or None).
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto", min_delta=0.0):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path (str or os.PathLike); got "
                            f"{type(path).__name__}.")
        super().__init__(monitor, mode, min_delta)
        if not isinstance(save_best_only, bool):
            raise TypeError(f"save_best_only must be True or False; got {save_best_only!r}.")
        self.path = path
        self.save_best_only = save_best_only

    def _reset(self):
        super()._reset()
        self.last_saved = None

    def __call__(self, network, epoch, logs):
        if epoch == 1:
            self._reset()
        if self.save_best_only:
            current = self._value(logs)
            if not self._better(current, self.best, self.min_delta):
                return False
            self.best = current
        path = os.fspath(self.path)
        if "{" in path:
            try:
                path = path.format(epoch=epoch, **logs)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"ModelCheckpoint path {self.path!r} has a field that the epoch "
                                 f"and the logs {sorted(logs)} cannot fill ({exc!r}).") from None
        network.save(path)
        self.last_saved = path
        return False

    def __repr__(self):
        return (f"ModelCheckpoint({self.path!r}, monitor={self.monitor!r}, "
                f"save_best_only={self.save_best_only})")
