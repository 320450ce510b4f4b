"""The deep networks' training loop: what ``Network.fit`` runs once it has checked its arguments.

``Network`` is the model; this module is the loop around it (as scikit-learn's
``_fit_stochastic`` for its MLP, the DLFS book's ``Trainer`` for its networks):

- epochs: a new order of the rows per epoch (shuffle), or the rows in order;
- batches: rows gathered into buffers kept between fits (:class:`Batches`, nothing allocated
  per batch), a step each: forward pass and loss, backward pass, one optimizer update;
- per-sample SGD (``batch_size=1`` with plain SGD): runs of samples in the kernel
  ``sgd_train_samples``, about ``_tuning.FIT_CHUNK_WORK`` multiply-adds per call, at the rates
  the optimizer gives (``_rates``) and counted by it (``_advance``);
- one step at a time under the network's step lock (other threads see whole steps), with
  signals held back to the steps' boundaries (Ctrl-C raises FitInterrupted with the samples
  applied);
- divergence: a :class:`~cnn_core._rollback.Rollback` per epoch; after a failed update the
  network goes back to the epoch's snapshot and replays the finite steps before the failing one,
  a failed forward pass changed nothing; then DivergenceError;
- after an epoch: the logs (validation scored), the history, the verbose report, the callbacks.

What the trainer uses of the network: its locks (``_training``, ``_lock``), ``_layers``,
``_params`` and ``_grads`` (the layers' flat vectors), ``_optimizer``, ``_K`` (the backend's
kernels), ``_dtype``, ``_classifier``, ``_loss``, ``_batches``, ``history``, and the model's
``_forward_loss``, ``_backward`` and ``_evaluate``; of the layers and the optimizer, the
protocols in the docstrings of ``cnn_core.layers`` and ``cnn_core.optimizers``.
"""
import time

import numpy

from . import _interrupts, _tuning, errors
from ._rollback import Rollback
from .errors import DivergenceError

__all__ = ["fit", "Batches", "samples_per_call", "quiet"]

# what a training step found not finite, by the kernels' codes (sgd_train_samples)
STEP_FORWARD, STEP_LOSS, STEP_UPDATE = 1, 2, 3
FAILURES = {STEP_FORWARD: "values in the forward pass", STEP_LOSS: "loss",
            STEP_UPDATE: "parameters after the update"}


def quiet():
    """NumPy's floating-point warnings off, for fit and the network's queries: overflow is
    detected and reported (DivergenceError); the NumPy twin kernels need not warn about it."""
    return numpy.errstate(all="ignore")


def samples_per_call(layers):
    """Samples per call of the per-sample SGD kernel: about FIT_CHUNK_WORK multiply-adds."""
    return max(1, _tuning.FIT_CHUNK_WORK // (3 * sum(l.n_in * l.n_out for l in layers)))


class Batches:
    """The rows of shuffled batches, gathered into buffers that a network keeps between fits."""

    __slots__ = ("_x", "_t", "_w")

    def __init__(self):
        self._x = self._t = self._w = None

    def reserve(self, rows, n_in, n_out, dtype):
        """Buffers for batches of up to `rows` rows of n_in inputs and n_out targets."""
        if self._x is None or self._x.shape[0] < rows or self._x.shape[1] != n_in \
                or self._t.shape[1] != n_out:
            self._x = numpy.empty((rows, n_in), dtype)
            self._t = numpy.empty((rows, n_out), dtype)
            self._w = numpy.empty(rows, dtype)

    def take(self, X, T, W, order, start, stop):
        """Rows start:stop of this epoch's order of X, T and the weights W (or None): views, or
        gathered into the buffers."""
        if order is None:
            return X[start:stop], T[start:stop], None if W is None else W[start:stop]
        if stop - start == 1:                               # one row: a view, nothing to copy
            j = int(order[start])
            return X[j:j + 1], T[j:j + 1], None if W is None else W[j:j + 1]
        idx = order[start:stop]
        xb, tb = self._x[:stop - start], self._t[:stop - start]
        numpy.take(X, idx, axis=0, out=xb, mode="clip")     # "clip": no temporary (idx is valid)
        numpy.take(T, idx, axis=0, out=tb, mode="clip")
        if W is None:
            return xb, tb, None
        wb = self._w[:stop - start]
        numpy.take(W, idx, out=wb, mode="clip")
        return xb, tb, wb


class _ReplayFailed(Exception):
    """A replayed step was not finite (it was before: cannot happen)."""


def fit(net, X, T, weights, epochs, batch_size, rng, validation, callbacks, verbose):
    """Train `net` on X, T (rows of its dtype; `weights` (N,) float64 or None) for `epochs`
    epochs in batches of `batch_size` rows, in a new order from `rng` each epoch (None: in
    order). `validation`: (X, T, weights or None) scored after each epoch, or None. The
    arguments are checked (``Network.fit``)."""
    return _Fit(net, X, T, weights, batch_size, rng).run(epochs, validation, callbacks, verbose)


class _Fit:
    """One call of fit: the data, how it is cut into steps, and the steps themselves."""

    def __init__(self, net, X, T, weights, batch_size, rng):
        self.net, self.X, self.T, self.rng = net, X, T, rng
        self.weights = weights          # float64, for the per-sample kernel
        self.Wn = None if weights is None else weights.astype(net._dtype)   # for the loss kernels
        self.N = len(X)
        self.B = min(batch_size, self.N)

    # ---------------------------------------------------------------- the loop

    def run(self, epochs, validation, callbacks, verbose):
        net, N, B = self.net, self.N, self.B
        report = _EpochReport(epochs, N) if verbose else None
        seen = 0                    # samples of the batches applied in this call
        try:
            with net._training, _interrupts.DeferredInterrupts() as interrupts, quiet():
                self.per_sample = per_sample = B == 1 and net._optimizer._runs_per_sample()
                rows = samples_per_call(net._layers) if per_sample else B
                if self.rng is not None and not per_sample:
                    net._batches.reserve(B, self.X.shape[1], self.T.shape[1], net._dtype)
                rollback = Rollback(self.snapshot, self.restore, self.replay)
                X, T, Wn, take, train = self.X, self.T, self.Wn, net._batches.take, self.step
                for epoch in range(epochs):
                    self.order = order = (self.rng.permutation(N) if self.rng is not None else
                                          numpy.arange(N) if per_sample else None)
                    with net._lock:
                        rollback.save()
                        lr = net._optimizer.lr
                    loss_sum, correct, failure = 0.0, 0, 0
                    if report is not None:
                        report.start(epoch)
                    for step, start in enumerate(range(0, N, rows)):
                        stop = min(start + rows, N)
                        with net._lock:         # other threads see whole steps only
                            if per_sample:
                                loss, right, failed, failure = self.samples(order[start:stop])
                                failed += start
                            else:
                                xb, tb, wb = take(X, T, Wn, order, start, stop)
                                loss, right, failure = train(xb, tb, wb)
                                failed = step
                            if failure:
                                self.recover(rollback, failure, failed)
                        if failure:
                            break
                        loss_sum += loss
                        correct += right
                        seen += stop - start
                        if report is not None:
                            report.bar(stop)
                        # Ctrl-C (any held-back signal) raises here, between whole steps; after
                        # an epoch's last step only once the epoch is in the history (below)
                        if stop < N:
                            interrupts.check()
                        net._lock.let_waiting_in()
                    if failure:
                        what = FAILURES[failure]
                        raise errors.diverged_in_fit(
                            epoch + 1, f"non-finite {what} at batch {failed + 1} of {-(-N // B)}",
                            "its last finite parameters, from before that batch",
                            f"{net._optimizer.lr:g}")
                    logs = {"loss": loss_sum / N,
                            "accuracy": correct / N if net._classifier else float("nan"),
                            "val_loss": float("nan"), "val_accuracy": float("nan"), "lr": lr}
                    if validation is not None:
                        self.score(validation, logs, epoch, interrupts)
                    _append_history(net, logs)
                    if report is not None:
                        report.end(logs)
                    interrupts.check()
                    if callbacks:
                        halt = False
                        with interrupts.paused():   # the user's code: Ctrl-C as usual
                            for callback in callbacks:
                                halt |= callback(net, epoch + 1, dict(logs)) is True
                        if halt:
                            break
        except KeyboardInterrupt:
            raise errors.fit_interrupted(seen, N) from None
        finally:
            if report is not None:
                report.close()
        return net

    def score(self, validation, logs, epoch, interrupts):
        """The epoch's val_loss and val_accuracy into `logs`."""
        net = self.net
        Xv, Tv, Wv = validation
        try:
            v_loss, v_correct = net._evaluate(Xv, Tv, between=interrupts.check, weights=Wv)
        except DivergenceError:
            with net._lock:
                largest = max(float(numpy.abs(p).max()) for p in net._params)
            raise errors.diverged_validation(epoch + 1, largest, f"{net._optimizer.lr:g}") from None
        except BaseException:
            # a signal's handler raised while scoring (Ctrl-C, SystemExit): the epoch is
            # trained, so it goes into the history (unscored) first
            _append_history(net, logs)
            raise
        logs["val_loss"] = v_loss / len(Xv)
        if net._classifier:
            logs["val_accuracy"] = v_correct / len(Xv)

    # ---------------------------------------------------------------- the steps

    def step(self, X, T, W=None):
        """Forward, loss, backward and one optimizer update on a batch (rows weighted by W, or
        not). Returns (summed loss, correct rows, 0) or (..., the STEP_ code of what was not
        finite); nothing is updated in the latter case except by an update that itself produced
        non-finite parameters."""
        net = self.net
        loss, correct, finite = net._forward_loss(X, T, W)
        if not finite:
            return loss, correct, STEP_FORWARD
        if not loss - loss == 0:
            return loss, correct, STEP_LOSS
        net._backward()
        if not net._optimizer._update(net._params, net._grads):
            return loss, correct, STEP_UPDATE
        return loss, correct, 0

    def samples(self, order):
        """Per-sample SGD on rows `order` of X, T: the steps of ``step`` with batches of one row,
        many samples per kernel call. Returns (summed loss, correct, failed position or -1, the
        STEP_ code of what was not finite or 0)."""
        net = self.net
        opt, layers, params = net._optimizer, net._layers, net._params
        kernel_args = [layer._per_sample(need_dX=i > 0) for i, layer in enumerate(layers)]
        codes, slopes, bias, Y, Z, dZ, dX = zip(*kernel_args)
        sizes = numpy.array([layers[0].n_in] + [layer.n_out for layer in layers], numpy.intp)
        codes = numpy.array(codes, numpy.intc)
        slopes = numpy.array(slopes, numpy.float64)
        bias = numpy.array(bias, numpy.intp)
        Y, Z, dZ, dX = list(Y), list(Z), list(dZ), list(dX)
        velocities = opt._velocities(params)
        per_call = samples_per_call(layers)
        loss_sum, correct = 0.0, 0
        for a in range(0, len(order), per_call):
            part = order[a:a + per_call]
            loss, right, failed, kind = net._K.sgd_train_samples(
                self.X, self.T, part, params, net._grads, velocities, Y, Z, dZ, dX, sizes, codes,
                slopes, bias, net._loss.code, opt._rates(len(part)), opt.momentum, opt.nesterov,
                opt.weight_decay, self.weights)
            loss_sum += loss
            correct += right
            if failed >= 0:
                opt._advance(failed + (kind == STEP_UPDATE))
                return loss_sum, correct, a + failed, kind
            opt._advance(len(part))
        return loss_sum, correct, -1, 0

    # ---------------------------------------------------------------- going back after a failure

    def snapshot(self):
        net = self.net
        return [p.copy() for p in net._params], net._optimizer._get_state()

    def restore(self, saved):
        params, opt_state = saved
        for p, s in zip(self.net._params, params):
            numpy.copyto(p, s)
        self.net._optimizer._set_state(opt_state)

    def replay(self, step):
        """Train again a step of this epoch that was finite: batch number `step`, or the
        samples `step` (an array of rows) of per-sample SGD."""
        if self.per_sample:
            failure = self.samples(step)[3]
        else:
            start = step * self.B
            failure = self.step(*self.net._batches.take(self.X, self.T, self.Wn, self.order,
                                                         start, min(start + self.B, self.N)))[2]
        if failure:
            raise _ReplayFailed

    def recover(self, rollback, failure, failed):
        """After a failure at batch (or sample) `failed` of this epoch: the last finite
        parameters again (see the module docstring; a replay is the same computation)."""
        if failure != STEP_UPDATE:
            return
        steps = [self.order[:failed]] if self.per_sample else range(failed)
        try:
            rollback.back(steps=steps)
        except _ReplayFailed:
            rollback.back(keep=0)


def _append_history(net, logs):
    with net._lock:
        for key, value in logs.items():
            net.history[key].append(value)


class _EpochReport:
    """fit(verbose=1): a progress bar per epoch on a terminal, then a line per epoch."""

    def __init__(self, epochs, n_rows):
        self.epochs, self.n_rows = epochs, n_rows
        self.bar = None

    def start(self, epoch):
        from ._progress import Progress
        self.epoch = epoch
        self.began = time.perf_counter()
        self.bar = Progress(f"epoch {epoch + 1}/{self.epochs}", self.n_rows)

    def end(self, logs):
        self.close()
        seconds = time.perf_counter() - self.began
        parts = [f"{key} {value:.4f}" for key, value in logs.items()
                 if key != "lr" and value == value]
        print(f"epoch {self.epoch + 1}/{self.epochs}: {', '.join(parts)}, lr {logs['lr']:.3g} "
              f"({seconds:.2f} s, {self.n_rows / max(seconds, 1e-9):,.0f} samples/s)", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
