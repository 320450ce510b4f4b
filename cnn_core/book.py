"""The network of *Make Your Own Neural Network*, on the Cython kernels.

``neuralNetwork`` has the book's API (``train``, ``query``, ``backquery``, ``wih``, ``who``, ...)
and gives the results of the NumPy version (:mod:`cnn_core.reference`) to rounding. It validates
every input before touching its state, which is one ``kernels.BookState`` (``self._kernel``, see
``_book.pxi``): the weights, the pending update of ``wih`` (made by a training step and applied
in the same pass over ``wih`` as the next sample's forward product), the count of samples
trained and the kernels' scratch, in arrays it owns, with a method for every kernel call. The
class applies the pending update before anything reads ``wih``, so it is never visible from
here or from outside. This module adds the checks, the locks (``_training``, ``_lock``), the
thread choice, fit's loop (signals, progress, going back after divergence with
:mod:`cnn_core._rollback`), the book's NumPy path for an assigned activation, and the file format.
"""
import threading
import time
import warnings

import numpy
import scipy.special

from . import _interrupts, _npzfile, _rollback
from . import _validation as check
from . import activations, reference
from .errors import DivergenceError, FitInterrupted, SlowPathWarning
from . import errors
from . import _threads, _tuning
from ._dispatch import kernels

__all__ = ["neuralNetwork", "DivergenceError", "FitInterrupted", "SlowPathWarning"]

HIDDEN_ACTIVATIONS = ("sigmoid", "relu")
INITS = ("documents", "book")          # the initial weights' scales (see neuralNetwork's init)


FILE_KIND = "cnn_core.neuralNetwork"
FORMAT_VERSION = 1
# members that files from before pickling lack (read when present)
_OPTIONAL_FIELDS = ("n_threads", "samples_trained")


class neuralNetwork(_npzfile.PicklesThroughFile):
    """The book's three-layer network: ``wih`` (hnodes, inodes), ``who`` (onodes, hnodes).

    Parameters
    ----------
    inputnodes, hiddennodes, outputnodes : positive int
    learningrate : float >= 0 (0 trains nothing, as the book's class allows)
    dtype : numpy.float64 (default) or numpy.float32
    seed : None or int
        None: the weights come from ``numpy.random.normal`` exactly as the book draws them, so
        ``numpy.random.seed(k)`` gives the same start as the NumPy version. An int: from
        ``numpy.random.default_rng(seed)``.
    activation : "sigmoid" (the book) or "relu", for the hidden layer; the output is sigmoid.
    n_threads : None or positive int
        Threads for ``fit`` and one-sample ``train`` (the rows of ``wih`` are split between
        them). None: ``CNN_CORE_NUM_THREADS`` if set, else automatic: networks large enough to
        gain try one and two threads as they train and keep the faster. Results do not depend
        on it, to the bit.
    init : "documents" (default) or "book"
        The initial weights' scales: "documents" draws wih ~ normal(0, hnodes**-0.5) and who ~
        normal(0, onodes**-0.5) (the specification's documents); "book" draws wih ~
        normal(0, inodes**-0.5) and who ~ normal(0, hnodes**-0.5), the book's notebooks as
        corrected in 2017 (1/sqrt of the links into each node). Both draw wih first, then who,
        so either start is reproduced by ``numpy.random.seed(k)`` in the NumPy version.

    ``wih`` and ``who`` are the network's own arrays (in-place edits change the network; see
    :attr:`wih`); ``activation_function`` and ``inverse_activation_function`` can be assigned as
    in the book (see :attr:`activation_function`).
    """

    def __init__(self, inputnodes, hiddennodes, outputnodes, learningrate, *,
                 dtype=numpy.float64, seed=None, activation="sigmoid", n_threads=None,
                 init="documents"):
        inodes = check.positive_int(inputnodes, "inputnodes")
        hnodes = check.positive_int(hiddennodes, "hiddennodes")
        onodes = check.positive_int(outputnodes, "outputnodes")
        lr = check.nonnegative_float(learningrate, "learningrate")
        dtype = check.float_dtype(dtype)
        if lr != 0:
            check.rate_in_dtype(lr, "learningrate", dtype)     # the kernels compute in dtype
        activation = activations.get(activation, HIDDEN_ACTIVATIONS).name
        init = check.choice(init, "init", INITS)
        n_threads = check.n_threads(n_threads)
        normal = check.normal_sampler(seed)     # numpy.random.normal (the book) for None
        # the book's draws, in the book's order: wih first, then who
        wih_std, who_std = ((pow(inodes, -0.5), pow(hnodes, -0.5)) if init == "book" else
                            (pow(hnodes, -0.5), pow(onodes, -0.5)))
        wih = normal(0.0, wih_std, (hnodes, inodes))
        who = normal(0.0, who_std, (onodes, hnodes))
        self._setup(inodes, hnodes, onodes, lr, dtype, activation, n_threads, wih, who)
        self._init = init

    def _setup(self, inodes, hnodes, onodes, lr, dtype, activation, n_threads, wih, who):
        self._inodes, self._hnodes, self._onodes = inodes, hnodes, onodes
        self._init = None               # the initialisation's name (None: weights from elsewhere)
        self._lr = lr
        self._dtype = dtype
        self._activation = activations.get(activation, HIDDEN_ACTIVATIONS)
        self._n_threads = n_threads
        self._auto_threads = {}         # per kind of work ("fit", "call"): its automatic plan
        self._call_window = _threads.CallWindow()
        # the weights, the pending update, the samples trained, the kernels' scratch (_book.pxi)
        self._kernel = kernels.BookState(wih, who, dtype)
        # _training serializes everything that changes the weights (train, fit, assignment);
        # _lock guards the arrays for one kernel call, so a query made while fit runs in another
        # thread waits for one chunk of a few milliseconds and sees whole samples' updates.
        self._training = threading.RLock()
        self._lock = threading.RLock()
        self._functions = None      # (activation, inverse) once assigned, else the table's pair
        self._numpy_path = False    # an assigned activation the kernels do not have (see below)
        self._warned_slow = False
        self._inverse_assigned = False
        _interrupts.fork_safe(self)

    # ---------------------------------------------------------------- attributes of the book

    inodes = property(lambda self: self._inodes, doc="Number of input nodes.")
    hnodes = property(lambda self: self._hnodes, doc="Number of hidden nodes.")
    onodes = property(lambda self: self._onodes, doc="Number of output nodes.")
    dtype = property(lambda self: self._dtype, doc="numpy.float64 or numpy.float32.")
    activation = property(lambda self: "custom" if self._numpy_path else self._activation.name,
                          doc='The hidden activation: "sigmoid", "relu", or "custom" once an '
                              'activation_function the kernels lack is assigned.')
    init = property(lambda self: self._init,
                    doc='"documents" or "book": how the weights were drawn (None for a network '
                        'loaded or made from arrays).')

    @property
    def lr(self):
        """The learning rate (assignable: 0, which trains nothing as in the book's class, or a
        positive number that the network's dtype holds)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        value = check.nonnegative_float(value, "lr")
        self._lr = check.rate_in_dtype(value, "lr", self._dtype) if value != 0 else value

    @property
    def n_threads(self):
        """Threads used by per-sample training (None: automatic)."""
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value):
        value = check.n_threads(value)
        with self._training, self._lock:
            self._n_threads = value
            self._call_window = _threads.CallWindow()       # the next train() call takes the new count

    @property
    def fit_threads(self):
        """The thread counts ``fit`` runs on: ``(n,)`` when ``n_threads`` or
        ``CNN_CORE_NUM_THREADS`` fixes it, else those the automatic choice measures as it trains
        and chooses between (``(2, 1)`` for networks large enough to gain, else ``(1,)``)."""
        return tuple(self._thread_plan("fit").candidates)

    @property
    def activation_function(self):
        """The activation as a NumPy function (scipy.special.expit for "sigmoid"; the hidden
        layer's for "relu", whose output layer is sigmoid).

        Assignable, as in the book: the book's class uses ``self.activation_function`` for both
        layers and always updates with ``o * (1 - o)``. Assigning ``scipy.special.expit`` (or a
        function giving its values, e.g. ``lambda x: scipy.special.expit(x)``) keeps the compiled
        kernels (a "relu" network becomes a sigmoid one, as the book's would). Any other
        function makes this network do exactly what the book's class does with it (both layers,
        the book's update rule) on a NumPy path, many times slower (a one-time
        :class:`SlowPathWarning` says so); assign ``scipy.special.expit`` back for speed. A
        network on that path cannot be saved or pickled (its function is Python code)."""
        return self._functions[0] if self._functions else self._activation.function

    @activation_function.setter
    def activation_function(self, function):
        function = _checked_function(function, "activation_function")
        with self._training, self._lock:
            inverse = self._functions[1] if self._inverse_assigned else None
            self._choose_path(function)
            # an inverse never assigned follows the function when the kernels have it (a "relu"
            # network given expit backqueries through logit); else it stays as it was
            if inverse is None:
                inverse = (self._activation.inverse if not self._numpy_path
                           else self.inverse_activation_function)
            self._functions = (function, inverse)

    @property
    def inverse_activation_function(self):
        """The activation's inverse (scipy.special.logit for "sigmoid"), as backquery uses it.

        Assignable: backquery runs every layer back through it (the output layer through logit
        while the kernels' sigmoid is the output's function). If it does not invert
        ``activation_function`` (checked on a few points where that function is one-to-one),
        backquery raises a ValueError naming the pair (the book's code would return a picture
        of the wrong function); assign both of a matching pair."""
        return self._functions[1] if self._functions else self._activation.inverse

    @inverse_activation_function.setter
    def inverse_activation_function(self, function):
        function = _checked_function(function, "inverse_activation_function")
        with self._training, self._lock:
            self._functions = (self.activation_function, function)
            self._inverse_assigned = True

    @property
    def wih(self):
        """Input-to-hidden weights (hnodes, inodes): the network's own array, as in the book.

        Reading applies the pending update of the last training step first (under the lock), so
        the array holds every step trained so far; edits in place (``n.wih[0, 0] = 5``,
        ``n.wih *= 0.5``, ``numpy.clip(n.wih, -1, 1, out=n.wih)``) change the network. A
        reference kept across training shows the weights of all steps but the last one until the
        attribute is read again. Assignment (``n.wih = array``) is checked and copied in."""
        with self._lock:
            return self._kernel.wih

    @wih.setter
    def wih(self, value):
        self._assign("wih", value, (self._hnodes, self._inodes), self._kernel.set_wih)

    @property
    def who(self):
        """Hidden-to-output weights (onodes, hnodes): the network's own array, as ``wih``."""
        with self._lock:
            return self._kernel.who

    @who.setter
    def who(self, value):
        self._assign("who", value, (self._onodes, self._hnodes), self._kernel.set_who)

    def _assign(self, name, value, shape, set_weights):
        """``n.wih = value``: checked and copied in by ``set_weights``. After ``n.wih += x``
        (Python assigns the network's own array back to itself) the values are in the network
        already: say so at once when they are not finite."""
        if not self._kernel.owns(value, name):
            array = check.matrix(value, name, shape, self._dtype)
            with self._training, self._lock:
                set_weights(array)
            return
        with self._lock:
            self._kernel.forget_bounds()
            if not kernels.all_finite(value.reshape(-1)):
                raise ValueError(f"{name} now holds non-finite values (written in place, so they "
                                 f"are in the network): assign finite weights to {name}; until "
                                 f"then train() and query() raise DivergenceError.")

    def __repr__(self):
        return (f"neuralNetwork({self._inodes}, {self._hnodes}, {self._onodes}, {self._lr!r}, "
                f"dtype=numpy.{self._dtype.name}, activation={self.activation!r}"
                + (f", init={self._init!r}" if self._init not in (None, "documents") else "") + ")")

    def _repr_html_(self):
        """Jupyter's view: the shape, dtype, activation, initialisation and training so far."""
        import html
        function = self.activation_function
        name = getattr(function, "__name__", None) or repr(function)
        if self._numpy_path:
            activation = f"{name} on both layers (assigned; NumPy path, slow)"
        elif self._activation.name == "relu" and not self._functions:
            activation = "relu (hidden), sigmoid (output)"
        else:
            activation = "sigmoid (scipy.special.expit) on both layers"
        init = {"documents": "documents: wih ~ N(0, hnodes<sup>-1/2</sup>), who ~ N(0, onodes<sup>-1/2</sup>)",
                "book": "book: wih ~ N(0, inodes<sup>-1/2</sup>), who ~ N(0, hnodes<sup>-1/2</sup>)",
                None: "weights from a file or arrays"}[self._init]
        with self._lock:
            samples = self._kernel.samples_trained
        rows = [("shape", f"{self._inodes}-{self._hnodes}-{self._onodes} (input-hidden-output)"),
                ("weights", f"wih {self._hnodes}&times;{self._inodes}, who {self._onodes}&times;"
                            f"{self._hnodes}, {self._dtype.name}"),
                ("learning rate", html.escape(repr(self._lr))),
                ("activation", html.escape(activation)),
                ("init", init),
                ("trained", f"{samples:,} sample{'s' if samples != 1 else ''}")]
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>"
                       for k, v in rows)
        return (f"<div><b>cnn_core.neuralNetwork</b><table>{body}</table></div>")

    # ---------------------------------------------------------------- the book's methods

    def train(self, inputs_list, targets_list):
        """One training step of the book's rule.

        ``inputs_list``: inodes values (one sample) or an (N, inodes) array; ``targets_list``
        likewise with onodes. N rows make one update summed over them, as in the NumPy version.
        """
        with self._training, self._lock:
            if self._train_one(inputs_list, targets_list):
                return                  # one sample, already a finite array of our dtype: fast
        X = self._inputs(inputs_list)
        T = self._targets(targets_list, len(X))
        with self._training, self._lock:
            if len(X) > 1:
                # one update summed over the rows (BLAS); one that is not finite is not made
                self._check_step(self._kernel.train_batch(X, T, self._lr, self._activation.code))
            elif not self._train_one(X[0], T[0]):
                raise RuntimeError(_NOT_FAST.format(call="train"))

    def query(self, inputs_list):
        """Outputs (onodes, 1) for one sample, (onodes, N) for N rows, as the NumPy version."""
        out = numpy.empty(self._onodes, self._dtype)
        with self._lock:
            status = self._kernel.query_one(inputs_list, out, self._activation.code)
        if status < 0:              # not one finite sample of our dtype: convert and check
            X = self._inputs(inputs_list)
            if len(X) > 1:
                with self._lock:
                    return numpy.ascontiguousarray(self._predict(X).T)
            with self._lock:
                status = self._kernel.query_one(X[0], out, self._activation.code)
            if status < 0:
                raise RuntimeError(_NOT_FAST.format(call="query"))
        return _checked(out, status == 1).reshape(self._onodes, 1)

    def backquery(self, targets_list):
        """The book's backquery: an input (inodes, 1) that the network maps towards the given
        outputs (onodes values strictly between 0 and 1, e.g. 0.01 everywhere, 0.99 at a label).
        Each layer's signal is rescaled into [0.01, 0.99] on the way back."""
        T = check.rows(targets_list, "targets", self._onodes, "onodes", self._dtype)
        if len(T) != 1:
            raise ValueError(f"backquery takes one target vector of {self._onodes} values; "
                             f"got {len(T)} rows.")
        t = T[0]
        if not (numpy.all(t > 0) and numpy.all(t < 1)):
            raise ValueError(f"backquery targets must lie strictly between 0 and 1 (the output "
                             f"sigmoid's range); got values from {t.min()} to {t.max()}.")
        if self._functions is not None and (self._numpy_path or not _same_values(
                self._functions[1], self._activation.inverse, _INVERSE_PROBE)):
            return self._backquery_numpy(t)
        with self._lock:
            out, ok = self._kernel.backquery(t, self._activation.code)
        if not ok:
            raise ValueError("backquery: a layer's signal came out constant or not finite, so it "
                             "cannot be rescaled into [0.01, 0.99] (are the weights all equal?).")
        return out.reshape(self._inodes, 1)

    # ---------------------------------------------------------------- beyond the book

    def fit(self, inputs, targets, epochs=1, shuffle=False, seed=None, progress=None):
        """Per-sample training over whole epochs in compiled code.

        The same result as ``for x, t in zip(inputs, targets): train(x, t)`` repeated ``epochs``
        times (in a new random order each epoch with ``shuffle``, from ``seed``).

        ``inputs`` (N, inodes), ``targets`` (N, onodes). ``progress=True`` shows a progress bar
        (tqdm's where installed, ``tqdm.auto``: the widget in Jupyter, else a counter on a
        terminal); a callable is called as ``progress(epoch, samples_done_in_epoch, N)`` every
        few milliseconds. Returns self.

        Ctrl-C stops at a sample boundary and raises :class:`FitInterrupted` (a
        KeyboardInterrupt) saying how many samples were trained. Other signals that have a Python
        handler (a SIGTERM handler raising SystemExit, ...) are held back likewise and their
        handlers run there, between two kernel calls (a few milliseconds apart). Non-finite values raise
        :class:`DivergenceError` and restore the weights of the start of that epoch.
        """
        return self._fit(inputs, targets, epochs, shuffle, seed, progress, self._fit_kernels)

    def _fit(self, inputs, targets, epochs, shuffle, seed, progress, loop):
        """What fit does on either path: the checks, the order's generator (a permutation per
        epoch, made when training reaches it), the progress bar, signals held back (delivered
        between two kernel calls or samples, where the network holds whole samples; progress
        runs with them delivered at once) and Ctrl-C raised as FitInterrupted. `loop(X, T,
        epochs, rng, report, interrupts)` trains; ``report(epoch, done_in_epoch, N)`` or None."""
        X = self._inputs(inputs)
        T = self._targets(targets, len(X))
        epochs = check.positive_int(epochs, "epochs")
        rng = check.rng(seed) if shuffle else None
        bar = _progress_bar(progress, len(X) * epochs)
        if bar is not None:
            def report(epoch, done, n):
                bar(epoch * n + done)
        else:
            report = progress if callable(progress) else None
        with self._training:
            start = self._kernel.samples_trained
            try:
                with _interrupts.DeferredInterrupts() as interrupts:
                    loop(X, T, epochs, rng, report, interrupts)
            except KeyboardInterrupt:
                raise errors.fit_interrupted(self._kernel.samples_trained - start) from None
            finally:
                if bar is not None:
                    bar.close()
        return self

    def _fit_kernels(self, X, T, epochs, rng, report, interrupts):
        """fit's loop over its kernel calls. Divergence goes back to the weights of the start of
        the failing epoch (a snapshot per call that begins an epoch, and a replay of the rows
        trained since up to that epoch: cnn_core._rollback)."""
        N = len(X)
        threads = self._thread_plan("fit")
        kernel, code = self._kernel, self._activation.code
        blocked = self._hnodes * self._inodes >= _tuning.FIT_BLOCK_MIN_WEIGHTS

        def train(rows):
            n_threads = threads.next()
            began = time.perf_counter()
            status = (kernel.fit_rows(X, T, rows, self._lr, code, n_threads, _tuning.FIT_BLOCK)
                      if blocked else kernel.train_rows(X, T, rows, self._lr, code, n_threads))
            threads.record(n_threads, len(rows), time.perf_counter() - began)
            return status

        rollback = _rollback.Rollback(kernel.snapshot, kernel.restore, train)
        for begin, end, rows in _pieces(N, epochs, self._samples_per_call(), rng):
            with self._lock:
                if begin % N == 0:
                    rollback.save()
                    saved_at = begin
                status = train(rows)
                rollback.trained(rows)
                failed_at = begin + status if status >= 0 else None
                if failed_at is None and end % N == 0 and not kernel.weights_finite():
                    failed_at = end - 1
                if failed_at is not None:
                    # replay what came between the snapshot and the failing epoch's start
                    done = numpy.concatenate(rollback.steps)[:failed_at // N * N - saved_at]
                    rollback.back(steps=[done] if len(done) else [])
            if failed_at is not None:
                raise errors.diverged_in_fit(failed_at // N + 1,
                                             f"non-finite values at its sample {failed_at % N}",
                                             "its weights from the start of that epoch", self._lr)
            interrupts.check()
            if report is not None:
                with interrupts.paused():
                    report((end - 1) // N, (end - 1) % N + 1, N)

    # ---------------------------------------------------------------- an assigned activation

    def _choose_path(self, function):
        """Kernels when `function` gives the sigmoid's values, else the NumPy path: the book's
        class's train/query/fit/predict as instance attributes (so the kernel path's methods
        stay as they are, at no cost)."""
        if _same_values(function, scipy.special.expit, _PROBE):
            self._activation = activations.get("sigmoid")
            for name in _NUMPY_METHODS:
                self.__dict__.pop(name, None)
            self._numpy_path = False
            return
        for name in _NUMPY_METHODS:
            setattr(self, name, getattr(self, f"_{name}_numpy"))
        self._numpy_path = True
        if not self._warned_slow:
            self._warned_slow = True
            warnings.warn(_SLOW_PATH.format(name=getattr(function, "__name__", repr(function))),
                          SlowPathWarning, stacklevel=3)

    def _forward_numpy(self, inputs):
        """The book's query on columns `inputs` (inodes, N): (hidden_outputs, final_outputs)."""
        f = self._functions[0]
        hidden = self._apply(f, numpy.dot(self._kernel.wih, inputs))
        return hidden, self._apply(f, numpy.dot(self._kernel.who, hidden))

    def _apply(self, f, x):
        y = numpy.asarray(f(x), dtype=self._dtype)
        if y.shape != x.shape:
            raise ValueError(f"activation_function returned shape {y.shape} for an array of "
                             f"shape {x.shape}; it must work element by element.")
        return y

    def _train_numpy(self, inputs_list, targets_list):
        """The book's train(), with the assigned activation_function on both layers."""
        X = self._inputs(inputs_list)
        T = self._targets(targets_list, len(X))
        with self._training, self._lock:
            self._step_numpy(X.T, T.T)

    def _step_numpy(self, inputs, targets):
        """One step of the book's rule on columns (counted in samples_trained); nothing changes if
        it is not finite."""
        kernel = self._kernel
        with numpy.errstate(over="ignore", invalid="ignore"):
            hidden_outputs, final_outputs = self._forward_numpy(inputs)
            if not numpy.isfinite(final_outputs).all():
                raise errors.diverged_step(self._lr)
            output_errors = targets - final_outputs
            hidden_errors = numpy.dot(kernel.who.T, output_errors)
            who = kernel.who + self._lr * numpy.dot(
                output_errors * final_outputs * (1.0 - final_outputs), hidden_outputs.T)
            wih = kernel.wih + self._lr * numpy.dot(
                hidden_errors * hidden_outputs * (1.0 - hidden_outputs), inputs.T)
        if not (numpy.isfinite(who).all() and numpy.isfinite(wih).all()):
            raise errors.diverged_update(self._lr)
        numpy.copyto(kernel.who, who)
        numpy.copyto(kernel.wih, wih)
        kernel.samples_trained += inputs.shape[1]

    def _query_numpy(self, inputs_list):
        X = self._inputs(inputs_list)
        with self._lock:
            out = self._forward_numpy(X.T)[1]
        return _checked(out, numpy.isfinite(out).all())

    def _predict_numpy(self, inputs):
        return numpy.ascontiguousarray(self._query_numpy(inputs).T)

    def _fit_numpy(self, inputs, targets, epochs=1, shuffle=False, seed=None, progress=None):
        """fit() on the NumPy path: train() row by row (in the same orders as the kernels' fit).
        A step that would make weights non-finite raises DivergenceError and leaves the weights
        of the step before; Ctrl-C raises FitInterrupted between two samples."""
        return self._fit(inputs, targets, epochs, shuffle, seed, progress, self._fit_rows_numpy)

    def _fit_rows_numpy(self, X, T, epochs, rng, report, interrupts):
        N = len(X)
        for epoch in range(epochs):
            order = rng.permutation(N) if rng is not None else range(N)
            for done, j in enumerate(order, 1):
                with self._lock:
                    self._step_numpy(X[j:j + 1].T, T[j:j + 1].T)
                interrupts.check()
                if report is not None and (done % 256 == 0 or done == N):
                    with interrupts.paused():
                        report(epoch, done, N)

    def _backquery_numpy(self, t):
        """The book's backquery with the assigned inverse_activation_function (the output layer
        through logit while the kernels' sigmoid is the output's function)."""
        f, inverse = self._functions
        _check_inverse(f, inverse)
        output_inverse = inverse if self._numpy_path else scipy.special.logit
        with self._lock:
            wih, who = self._kernel.weights()
        with numpy.errstate(all="ignore"):
            final_inputs = numpy.asarray(output_inverse(t.reshape(-1, 1)), self._dtype)
            hidden_outputs = _rescaled(numpy.dot(who.T, final_inputs))
            hidden_inputs = numpy.asarray(inverse(hidden_outputs), self._dtype)
            return _rescaled(numpy.dot(wih.T, hidden_inputs))

    def predict(self, inputs):
        """Outputs for N rows of ``inputs`` (N, inodes), as an (N, onodes) array."""
        X = self._inputs(inputs)
        with self._lock:
            return self._predict(X)

    def save(self, path_or_file):
        """Write the network (.npz, no pickle: weights, sizes, lr, dtype, activation, n_threads,
        samples trained, format version) to a path, exactly as given and atomically (a failed
        save leaves the previous file whole), or to a binary file object open for writing."""
        if self._numpy_path:
            raise ValueError(_NO_SAVE)
        with self._lock:
            wih, who = self._kernel.weights()
            fields = {"kind": FILE_KIND, "format_version": FORMAT_VERSION,
                      "inodes": self._inodes, "hnodes": self._hnodes, "onodes": self._onodes,
                      "lr": self._lr, "dtype": self._dtype.name,
                      "activation": self._activation.name, "n_threads": self._n_threads or 0,
                      "samples_trained": self._kernel.samples_trained, "wih": wih, "who": who}
        _npzfile.write_npz(path_or_file, fields)

    @classmethod
    def load(cls, path_or_file, *, n_threads=None):
        """Read a network written by :meth:`save` from a path or a seekable binary file object.
        Never unpickles; a file that is not a valid network raises
        :class:`cnn_core.FileError` (a ValueError) naming the file and the problem. The network
        trains on the file's ``n_threads`` unless ``n_threads`` is given."""
        fields = read_file(path_or_file)
        net = cls.__new__(cls)
        net._setup(fields["inodes"], fields["hnodes"], fields["onodes"], fields["lr"],
                   fields["dtype"], fields["activation"],
                   check.n_threads(n_threads) if n_threads is not None else fields["n_threads"],
                   fields["wih"], fields["who"])
        net._kernel.samples_trained = fields["samples_trained"]
        return net

    # ---------------------------------------------------------------- interchange (cnn_core.interchange)

    def to_onnx(self, path_or_file=None, *, opset=None):
        """The network as an ``onnx.ModelProto`` (Gemm with transB=1 per weight matrix, then the
        activations); written to a path or binary file object when given. Needs
        ``pip install "cnn_core[onnx]"``. See :func:`cnn_core.interchange.to_onnx`."""
        from . import interchange
        return interchange.to_onnx(self, path_or_file, opset=opset)

    def to_torch(self):
        """An equivalent ``torch.nn.Sequential`` (bias-free Linear, activation, Linear,
        Sigmoid). Needs ``pip install "cnn_core[torch]"``."""
        from . import interchange
        return interchange.book_to_torch(self)

    @classmethod
    def from_torch(cls, module, learningrate, *, n_threads=None):
        """The network of a bias-free Linear-Sigmoid (or ReLU)-Linear-Sigmoid torch module."""
        from . import interchange
        return interchange.book_from_torch(module, learningrate, cls=cls, n_threads=n_threads)

    @classmethod
    def from_arrays(cls, wih, who, learningrate, *, activation="sigmoid", dtype=None, n_threads=None):
        """The network with weights ``wih`` (hnodes, inodes) and ``who`` (onodes, hnodes), as
        the book's code keeps them (checked as assignments to ``wih``/``who`` are)."""
        from . import interchange
        return interchange.book_from_arrays(wih, who, learningrate, activation=activation,
                                            dtype=dtype, cls=cls, n_threads=n_threads)

    @classmethod
    def load_weights(cls, wih_file, who_file, learningrate, *, activation="sigmoid", dtype=None,
                     n_threads=None):
        """The network from the two files a reader of the book saves with ``numpy.save``
        (.npy) or ``numpy.savetxt`` (.csv/.txt)."""
        from . import interchange
        return interchange.load_book_weights(wih_file, who_file, learningrate,
                                             activation=activation, dtype=dtype, cls=cls,
                                             n_threads=n_threads)

    # ---------------------------------------------------------------- internals

    def _inputs(self, value):
        return check.rows(value, "inputs", self._inodes, "inodes", self._dtype)

    def _targets(self, value, n_rows):
        T = check.rows(value, "targets", self._onodes, "onodes", self._dtype)
        if len(T) != n_rows:
            raise ValueError(f"targets has {len(T)} row(s) but inputs has {n_rows}; give one "
                             f"target row per input row.")
        return T

    def _thread_plan(self, kind):
        """The thread plan (cnn_core._threads) for fit() (kind "fit") or for one-sample train()
        calls (kind "call")."""
        return _threads.plan(self._n_threads, self._hnodes * self._inodes, self._auto_threads, kind)

    def _train_one(self, x, t):
        """One sample x (I,), t (O,), if they are finite contiguous arrays of our dtype (else
        False, nothing done): the pending-update kernel, on the thread count of the current
        window of calls (see _threads.CallWindow). True when trained."""
        window = self._call_window
        if window.left == 0:
            n_threads = window.renew(self._thread_plan("call"))
            self._kernel.set_threads(n_threads)
        began = time.perf_counter() if window.timed else None
        status = self._kernel.train_one(x, t, self._lr, self._activation.code)
        if status < 0:
            return False                # refused: neither counted nor timed in the window
        if began is not None:
            window.seconds += time.perf_counter() - began
        window.left -= 1
        self._check_step(status)
        return True

    def _check_step(self, status):
        """Raise DivergenceError for a training step's status 0 (outputs not finite) or 2 (the
        update would make weights non-finite; not made)."""
        if status == 0:
            raise errors.diverged_step(self._lr)
        if status == 2:
            raise errors.diverged_update(self._lr)

    def _predict(self, X):
        return _checked(*self._kernel.query_batch(X, self._activation.code, _tuning.EVAL_CHUNK_ROWS))

    def _samples_per_call(self):
        """Samples per kernel call in fit: a few milliseconds of work, whole blocks."""
        return max(1, _tuning.FIT_CHUNK_WORK // (self._hnodes * (self._inodes + self._onodes))
                   // _tuning.FIT_BLOCK) * _tuning.FIT_BLOCK


def _pieces(n_samples, epochs, per_call, rng):
    """(begin, end, rows) for the kernel calls of fit: ranges [begin, end) over `epochs` *
    `n_samples` positions, pieces of about `per_call` samples that never cross an epoch boundary
    (or whole epochs when an epoch is shorter), and the sample order over them, made one epoch at a
    time (``rng.permutation(n_samples)`` per epoch with a Generator `rng`, else 0 .. N-1), so
    that memory does not grow with the epochs."""
    whole = numpy.arange(n_samples)

    def epoch_order():
        return rng.permutation(n_samples) if rng is not None else whole

    total = n_samples * epochs
    if per_call >= n_samples:                   # several whole epochs per call
        step = per_call // n_samples * n_samples
        buffer = numpy.empty(min(step, total), numpy.intp)     # reused: one call's order
        for b in range(0, total, step):
            e = min(b + step, total)
            for k in range(0, e - b, n_samples):
                buffer[k:k + n_samples] = epoch_order()
            yield b, e, buffer[:e - b]
        return
    for epoch in range(epochs):
        order = epoch_order()
        for b in range(0, n_samples, per_call):
            e = min(b + per_call, n_samples)
            yield epoch * n_samples + b, epoch * n_samples + e, order[b:e]


# ------------------------------------------------------------------ assigned activations

# methods replaced (as instance attributes) while an assigned activation runs on NumPy
_NUMPY_METHODS = ("train", "query", "predict", "fit")
# where an assigned function is compared with the sigmoid (its values, to rounding), and an
# assigned inverse with the kernels' one
_PROBE = numpy.array([-40.0, -8.0, -2.0, -0.5, 0.0, 0.25, 1.0, 3.0, 9.0, 40.0]).reshape(-1, 1)
_INVERSE_PROBE = numpy.array([0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99]).reshape(-1, 1)

_SLOW_PATH = ("activation_function {name} is not the sigmoid the kernels compute: this network now "
              "trains and queries as the book's class does with it (the function on both layers, "
              "the update rule's o * (1 - o)) in NumPy, one sample at a time: tens of times slower. "
              "For speed, assign scipy.special.expit back, or use neuralNetwork(..., "
              "activation='relu') (a ReLU hidden layer with its own derivative, on the kernels), "
              "or cnn_core.Network with the activation you want (exact gradients).")

_NO_SAVE = ("this network uses an assigned activation_function (Python code), which a network file "
            "cannot hold: save its weights instead (numpy.save('wih.npy', net.wih), "
            "numpy.save('who.npy', net.who)), or assign scipy.special.expit back first.")


def _checked_function(value, name):
    """`value` if it is a function of NumPy arrays giving an array of the same shape."""
    if not callable(value):
        raise TypeError(f"{name} must be a function of a NumPy array, e.g. scipy.special.expit; "
                        f"got {value!r} ({type(value).__name__}).")
    probe = numpy.array([[-1.0], [0.5], [0.25]])
    try:
        with numpy.errstate(all="ignore"):
            shape = numpy.shape(value(probe.copy()))
    except Exception as exc:
        raise TypeError(f"{name} must take a NumPy array and work element by element; calling it "
                        f"on a (3, 1) array raised {type(exc).__name__}: {exc}") from None
    if shape != probe.shape:
        raise ValueError(f"{name} must work element by element: for a (3, 1) array it returned "
                         f"shape {shape}.")
    return value


def _same_values(f, g, probe):
    """Whether f gives g's values (to rounding) on the column `probe`."""
    if f is g:
        return True
    try:
        with numpy.errstate(all="ignore"):
            y = numpy.asarray(f(probe.copy()), dtype=numpy.float64)
    except Exception:
        return False
    return y.shape == probe.shape and bool(numpy.allclose(y, g(probe), rtol=1e-12, atol=1e-300,
                                                          equal_nan=True))


def _check_inverse(f, inverse):
    """ValueError unless inverse(f(x)) == x (to 1e-6) where f is one-to-one on [-2, 2]."""
    x = numpy.linspace(-2.0, 2.0, 9).reshape(-1, 1)
    with numpy.errstate(all="ignore"):
        y = numpy.asarray(f(x), dtype=numpy.float64).reshape(-1, 1)
        _, first, counts = numpy.unique(y.ravel(), return_index=True, return_counts=True)
        keep = numpy.sort(first[counts == 1])
        back = numpy.asarray(inverse(y[keep]), dtype=numpy.float64).reshape(-1)
    if not numpy.allclose(back, x[keep].ravel(), rtol=1e-6, atol=1e-6):
        name = getattr(inverse, "__name__", repr(inverse))
        fname = getattr(f, "__name__", repr(f))
        bad = int(numpy.flatnonzero(~numpy.isclose(back, x[keep].ravel(), rtol=1e-6, atol=1e-6))[0])
        raise ValueError(f"backquery: inverse_activation_function {name} does not invert "
                         f"activation_function {fname} (inverse(f({x[keep][bad, 0]:g})) = "
                         f"{back[bad]:g}): assign a matching pair, e.g. scipy.special.expit with "
                         f"scipy.special.logit, or numpy.tanh with numpy.arctanh.")


def _rescaled(v):
    """The book's rescaling of a layer's signal into [0.01, 0.99] (in place), once it is known
    that it can be rescaled."""
    low, high = numpy.min(v), numpy.max(v)
    if not (numpy.isfinite(low) and numpy.isfinite(high)) or high == low:
        raise ValueError("backquery: a layer's signal came out constant or not finite, so it "
                         "cannot be rescaled into [0.01, 0.99] (are the weights all equal, or "
                         "the inverse function undefined at the values it was given?).")
    return reference._rescaled(v)


def _progress_bar(progress, total):
    """fit's progress=: True shows a bar (cnn_core._progress: tqdm's widget in Jupyter, a bar on
    a terminal), None/False nothing, a callable is called as progress(epoch, done_in_epoch, N).
    The bar (``bar(done)``, ``bar.close()``), or None."""
    if progress is True:
        from ._progress import Progress
        return Progress("fit", total)
    if progress is None or progress is False or callable(progress):
        return None
    raise TypeError(f"progress must be True (a progress bar), None/False or a callable "
                    f"progress(epoch, samples_done, n_samples); got {progress!r}.")


# checked inputs always take the one-sample kernels' fast path; if they did not, say so loudly
_NOT_FAST = ("cnn_core internal error: {call} refused a checked sample (a contiguous finite array "
             "of the network's dtype); please report it.")

def _checked(out, ok):
    if not ok:
        raise errors.not_finite("query", "weights")
    return out


def read_file(source):
    """The fields of a book-network file (a path or a binary file object) written by
    ``neuralNetwork.save``, all checked: {"inodes", "hnodes", "onodes", "lr", "dtype",
    "activation", "n_threads", "samples_trained", "wih", "who"}. Anything wrong raises
    FileError naming the file; the weights are read only once their declared shapes match."""
    with _npzfile.NpzReader(source, "cnn_core network file") as f:
        _npzfile.check_kind(f, FILE_KIND, FORMAT_VERSION)
        extra = tuple(k for k in _OPTIONAL_FIELDS if f.has(k))
        fields = f.read(("inodes", "hnodes", "onodes", "lr", "dtype", "activation") + extra)

        def number(key, kind=int, absent=None):
            if key not in fields:
                return absent
            return _npzfile.scalar(f, fields[key], kind, key)

        with f.checking():
            inodes, hnodes, onodes = (check.positive_int(number(k), k)
                                      for k in ("inodes", "hnodes", "onodes"))
            lr = check.nonnegative_float(number("lr", float), "lr")
            dtype = check.float_dtype(str(fields["dtype"]))
            activation = activations.get(str(fields["activation"]), HIDDEN_ACTIVATIONS).name
            n_threads = check.n_threads(number("n_threads", absent=0) or None)
            samples = number("samples_trained", absent=0)
            if samples < 0:
                raise ValueError(f"samples_trained must be >= 0; got {samples}")
        weights = f.read(("wih", "who"), expect={"wih": ((hnodes, inodes), None),
                                                 "who": ((onodes, hnodes), None)})
        with f.checking():
            if weights["wih"].dtype != dtype or weights["who"].dtype != dtype:
                raise ValueError(f"weights are {weights['wih'].dtype}/{weights['who'].dtype}, "
                                 f"the file says {dtype.name}")
            wih = check.matrix(weights["wih"], "wih", (hnodes, inodes), dtype)
            who = check.matrix(weights["who"], "who", (onodes, hnodes), dtype)
    return {"inodes": inodes, "hnodes": hnodes, "onodes": onodes, "lr": lr, "dtype": dtype,
            "activation": activation, "n_threads": n_threads, "samples_trained": samples,
            "wih": wih, "who": who}
