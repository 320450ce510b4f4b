"""scikit-learn estimators: ``MLPClassifier``, ``MLPRegressor`` and ``BookClassifier``.

    >>> from cnn_core.sklearn import MLPClassifier
    >>> from sklearn.model_selection import GridSearchCV
    >>> search = GridSearchCV(MLPClassifier(max_iter=20), {"alpha": [1e-4, 1e-2]}, n_jobs=-1)
    >>> search.fit(X, y).best_params_

``MLPClassifier`` and ``MLPRegressor`` take scikit-learn's ``sklearn.neural_network`` parameters
(the same names, defaults and meaning, except where a class's docstring says otherwise) and
train a :class:`cnn_core.Network` (fitted attribute ``network_``); ``BookClassifier`` is the
book's :class:`cnn_core.neuralNetwork` as a classifier, to cross-validate and grid-search it.

They follow scikit-learn's conventions (the parameters are checked in ``fit``, the data through
``validate_data``) and pass ``sklearn.utils.estimator_checks.check_estimator``
(``BookClassifier()`` all but ``check_classifiers_train``, whose standardized data its default
pixel scaling squeezes to about 0.01; with ``scale_inputs=False`` all of it). Fitted estimators
pickle (the networks through their save format), ``clone`` works, and two fits with the same
``random_state`` give the same results, bit for bit.

Threads (``n_threads``): the networks' matrix products run in the BLAS (SciPy's OpenBLAS). With
``n_threads=None`` (the default) an estimator leaves the BLAS's thread count as it is, except
inside a joblib worker (any backend) or a ``dask.distributed`` worker of a parallel search,
where it uses one thread, so that ``n_jobs`` workers on ``n_jobs`` cores do not each start a
BLAS thread per core. An integer ``n_threads`` is used everywhere (``threadpoolctl`` limits
around ``fit``, ``partial_fit`` and the predictions). ``effective_n_threads(estimator)`` says
which applies.

scikit-learn is an optional extra: ``pip install "cnn_core[sklearn]"``.
"""
import contextlib
import sys
import warnings
from numbers import Integral, Real

import numpy

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import Interval, Options, StrOptions
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.multiclass import (_check_partial_fit_first_call, check_classification_targets,
                                          type_of_target, unique_labels)
    from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                          validate_data)
except ImportError as exc:          # pragma: no cover - depends on the environment
    raise ImportError(f"cnn_core.sklearn needs scikit-learn >= 1.6: pip install "
                      f"\"cnn_core[sklearn]\" (or pip install scikit-learn) ({exc}).") from exc

from .book import neuralNetwork
from .datasets import book_targets
from .layers import Dense
from .network import Network
from .optimizers import SGD, Adam

__all__ = ["MLPClassifier", "MLPRegressor", "BookClassifier", "effective_n_threads"]

# scikit-learn's activation names -> cnn_core's
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
DTYPES = {"float64": numpy.float64, "float32": numpy.float32}


# ============================================================ Threads

def _in_parallel_worker():
    """Whether this code runs inside a joblib worker (any backend) or a dask.distributed worker."""
    try:
        from joblib.parallel import get_active_backend
        backend, _ = get_active_backend()
        if getattr(backend, "nesting_level", 0) > 0:
            return True
    except Exception:            # an old or absent joblib: no signal from it
        pass
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            distributed.get_worker()
            return True
        except Exception:        # ValueError: not in a worker
            pass
    return False


def effective_n_threads(estimator):
    """The BLAS threads ``estimator`` trains and predicts with: its ``n_threads`` if set; else 1
    inside a joblib or dask.distributed worker; else None (the BLAS's own setting)."""
    n = getattr(estimator, "n_threads", None)
    if n is not None:
        return int(n)
    return 1 if _in_parallel_worker() else None


def _threads(estimator):
    n = effective_n_threads(estimator)
    if n is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=n, user_api="blas")


def _dtype(value):
    return numpy.dtype(DTYPES.get(value, value)).type


_DTYPE_CONSTRAINT = [Options(type, {numpy.float64, numpy.float32}), StrOptions({"float64", "float32"})]


# ============================================================ MLPClassifier and MLPRegressor

class _EpochEnd:
    """``Network.fit``'s callback doing scikit-learn's end-of-epoch bookkeeping (loss curve,
    validation score, no-improvement count, learning-rate schedule, best weights for early
    stopping). Returns True to stop."""

    def __init__(self, est, n_samples, penalty, validation, incremental):
        self.est = est
        self.n_samples = n_samples
        self.penalty = penalty                  # weight_decay: the loss gets 0.5 wd ||coefs||^2
        self.validation = validation            # (X_val, y_val, sw_val) or None
        self.incremental = incremental
        self.stopped = False

    def __call__(self, net, epoch, logs):
        est = self.est
        loss = float(logs["loss"])
        if self.penalty:
            loss += 0.5 * self.penalty * sum(float(numpy.dot(l.W.ravel(), l.W.ravel()))
                                             for l in net.layers)
        est.n_iter_ += 1
        est.t_ += self.n_samples
        est.loss_ = loss
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        # scikit-learn's _update_no_improvement_count
        if self.validation is not None:
            X_val, y_val, sw_val = self.validation
            score = est._score_raw(net, X_val, y_val, sw_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            stalled = score < est.best_validation_score_ + est.tol
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_weights = [[l.W, l.b] for l in net.layers]
        else:
            stalled = loss > est.best_loss_ - est.tol
            if loss < est.best_loss_:
                est.best_loss_ = loss
        est._no_improvement_count = est._no_improvement_count + 1 if stalled else 0
        # the optimizer's iteration_ends: invscaling's rate for the next epoch
        sgd = est.solver == "sgd"
        if sgd and est.learning_rate == "invscaling":
            net.optimizer.lr = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            # trigger_stopping: an adaptive rate is divided by 5 (until 1e-6); otherwise stop
            what = "Validation score" if self.validation is not None else "Training loss"
            why = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")
            if sgd and est.learning_rate == "adaptive" and net.optimizer.lr > 1e-6:
                net.optimizer.lr = net.optimizer.lr / 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{why} Setting learning rate to {net.optimizer.lr:f}")
            else:
                if est.verbose:
                    print(f"{why} Stopping.")
                self.stopped = True
                return True
        return self.incremental


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share (see their docstrings). A subclass gives
    ``_prepare_targets`` (validated y -> the network's target rows (N, n_outputs)), ``_output``
    ((output activation in scikit-learn's naming, cnn_core's activation, loss)) and
    ``_score_raw``."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {numpy.inf})],
        "dtype": _DTYPE_CONSTRAINT,
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    }

    _is_classifier = False

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dtype=numpy.float64, n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.n_threads = n_threads

    # ---------------------------------------------------------------- building

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if not hasattr(sizes, "__iter__") else list(sizes)
        if any(not isinstance(s, Integral) or isinstance(s, bool) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers; got "
                             f"{self.hidden_layer_sizes!r}.")
        return [int(s) for s in sizes]

    def _new_network(self, n_features, n_outputs, rng):
        """Layers initialised as scikit-learn's: uniform(-bound, bound) weights and biases, bound
        sqrt(6 / (fan_in + fan_out)) (sqrt(2 / ...) for logistic), drawn from `rng`."""
        dtype = _dtype(self.dtype)
        sizes = [n_features] + self._hidden_sizes() + [n_outputs]
        out_name, out_act, loss = self._output()
        factor = 2.0 if self.activation == "logistic" else 6.0
        layers = []
        for i in range(len(sizes) - 1):
            fan_in, fan_out = sizes[i], sizes[i + 1]
            act = out_act if i == len(sizes) - 2 else ACTIVATIONS[self.activation]
            layer = Dense(fan_in, fan_out, act, dtype=dtype, seed=0)
            bound = numpy.sqrt(factor / (fan_in + fan_out))
            layer.W = rng.uniform(-bound, bound, (fan_in, fan_out))
            layer.b = rng.uniform(-bound, bound, fan_out)
            layers.append(layer)
        self.out_activation_ = out_name
        return Network(layers, loss=loss, optimizer=self._new_optimizer(1.0))

    def _new_optimizer(self, weight_decay):
        if self.solver == "sgd":
            m = float(self.momentum)
            return SGD(self.learning_rate_init, momentum=m,
                       nesterov=bool(self.nesterovs_momentum) and m > 0, weight_decay=weight_decay)
        return Adam(self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                    weight_decay=weight_decay)

    # ---------------------------------------------------------------- fitting

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=not self._is_classifier,
                             dtype=(numpy.float64, numpy.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _fit(self, X, y, sample_weight, incremental):
        first = (not hasattr(self, "network_")) or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first)
        T = self._prepare_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=numpy.float64)
        if self._is_classifier and self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, y)
            sample_weight = cw if sample_weight is None else sample_weight * cw
        n_outputs = T.shape[1]
        if first:
            self._random_state = check_random_state(self.random_state)
            self.n_outputs_ = n_outputs
            self.n_layers_ = len(self._hidden_sizes()) + 2
            self.network_ = self._new_network(X.shape[1], n_outputs, self._random_state)
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -numpy.inf if self.early_stopping else None
            self.best_loss_ = None if self.early_stopping else numpy.inf
            new_optimizer = True
        else:
            if n_outputs != self.n_outputs_:
                raise ValueError(f"y has {n_outputs} output(s) but the network was fitted with "
                                 f"{self.n_outputs_}; fit again without warm_start.")
            new_optimizer = not incremental        # scikit-learn: warm_start gets a new optimizer
        # early stopping: scikit-learn's split (stratified for single-output classifiers)
        early = self.early_stopping and not incremental
        validation = None
        if early:
            stratify = y if self._is_classifier and numpy.ndim(y) == 1 else None
            weights = () if sample_weight is None else (sample_weight,)
            X, X_val, T, _, _, y_val, *sw = train_test_split(
                X, T, y, *weights, random_state=self._random_state,
                test_size=self.validation_fraction, stratify=stratify)
            sample_weight, sw_val = sw if sw else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(f"The validation set is too small: {X_val.shape[0]} sample(s) "
                                 f"from validation_fraction={self.validation_fraction}. Increase "
                                 f"validation_fraction or give more samples.")
            validation = (X_val, y_val, sw_val)
            self._best_weights = None
        n_train = X.shape[0]
        batch = min(200, n_train) if self.batch_size == "auto" else self.batch_size
        if batch > n_train:            # never with "auto"
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
            batch = n_train
        # Keras-style sample weights, rescaled to mean 1 (see the class docstring)
        mean = 1.0
        if sample_weight is not None:
            total = float(sample_weight.sum())
            if not total > 0:
                raise ValueError("sample_weight must have a positive sum.")
            mean = total / n_train
            sample_weight = sample_weight / mean
        weight_decay = self.alpha / (batch * mean)
        net = self.network_
        if new_optimizer:
            net.optimizer = self._new_optimizer(weight_decay)
        else:
            net.optimizer.weight_decay = weight_decay
        epochs = 1 if incremental else self.max_iter
        end = _EpochEnd(self, n_train, weight_decay, validation, incremental)
        seed = numpy.random.default_rng(self._random_state.randint(numpy.iinfo(numpy.int32).max))
        with _threads(self):
            net.fit(X, T, epochs=epochs, batch_size=batch, shuffle=bool(self.shuffle), seed=seed,
                    callbacks=[end], sample_weight=sample_weight)
        if early and self._best_weights is not None:
            for layer, (W, b) in zip(net.layers, self._best_weights):
                layer.W = W
                layer.b = b
        self._best_weights = None
        self.coefs_ = [numpy.array(layer.W) for layer in net.layers]
        self.intercepts_ = [numpy.array(layer.b) for layer in net.layers]
        if not incremental and not end.stopped:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                          f"the optimization hasn't converged yet.", ConvergenceWarning)
        return self

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(numpy.float64, numpy.float32), reset=False)
        return self._raw(self.network_, X)

    def _raw(self, net, X):
        with _threads(self):
            return net.predict(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train on X (n_samples, n_features) and y for up to ``max_iter`` epochs (see the class
        docstring for early stopping and sample weights). Returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y. Returns self."""
        return self._fit(X, y, sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


_SHARED_DOC = """
    Parameters (scikit-learn's names, defaults and meaning, except as noted)
    ----------------------------------------------------------------------
    hidden_layer_sizes : tuple of int, default (100,)
    activation : {"relu", "logistic", "tanh", "identity"}, default "relu"
        The hidden layers' activation ("logistic" is cnn_core's "sigmoid").
    solver : {"adam", "sgd"}, default "adam"
        Adam (cnn_core.optimizers.Adam(learning_rate_init, betas=(beta_1, beta_2),
        eps=epsilon)) or SGD with momentum (cnn_core.optimizers.SGD(learning_rate_init,
        momentum, nesterov=nesterovs_momentum)). scikit-learn's "lbfgs" is not offered.
        Adam adds epsilon to sqrt(v_hat) (PyTorch's rule), scikit-learn to sqrt(v) with the bias
        correction folded into the rate: the same up to where epsilon matters. SGD's velocity is
        PyTorch's (v = momentum v + g; p -= lr v), scikit-learn's is -lr times it: the same for
        a constant rate.
    alpha : float, default 0.0001
        L2 penalty, mapped to the optimizer's ``weight_decay = alpha / (batch_size * m)``,
        where m is the mean of the sample weights (1 without them). So the gradient of each
        full batch of B rows gets ``alpha * W / B`` as in scikit-learn, which adds
        ``alpha * W / (sum of the batch's sample weights)``. Differences: cnn_core's
        weight_decay applies to the weights W *and the biases b* (scikit-learn penalises the
        coefs only); it is divided by the nominal batch size, so the last, smaller batch of an
        epoch gets ``alpha * W / batch_size`` where scikit-learn divides by that batch's
        (smaller) size or weight sum; with sample weights, by ``batch_size * m`` rather than
        each batch's own weight sum. ``loss_`` adds ``0.5 * weight_decay * ||coefs||^2`` (the
        coefs only), measured at the end of the epoch.
    batch_size : int or "auto", default "auto"
        ``min(200, n_samples)``; larger values are clipped to n_samples (with a warning).
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        For solver="sgd" only, as scikit-learn: "invscaling" sets the rate to
        ``learning_rate_init / (t_ + 1) ** power_t`` at the end of every epoch (``t_`` samples
        seen); "adaptive" divides it by 5 where the no-improvement rule (see early_stopping)
        would stop training, and stops once it is below 1e-6.
    learning_rate_init : float, default 0.001
    power_t : float, default 0.5
    max_iter : int, default 200
        Epochs.
    shuffle : bool, default True
        A new order every epoch.
    random_state : None, int or RandomState
        The initial weights (scikit-learn's Glorot-uniform initialisation), the shuffling and the
        early-stopping split.
    tol : float, default 1e-4
    verbose : bool, default False
        Prints the loss (and validation score) per epoch.
    warm_start : bool, default False
        ``fit`` continues from the fitted network (with a new optimizer, as scikit-learn).
    momentum : float in [0, 1), default 0.9
        SGD only. (scikit-learn allows 1.0; cnn_core's SGD needs momentum < 1.)
    nesterovs_momentum : bool, default True
        SGD only (and only with momentum > 0).
    early_stopping : bool, default False
        Holds out ``validation_fraction`` of the training data (stratified for classifiers,
        drawn from random_state) and stops when its score (accuracy, or R^2) has not improved by
        ``tol`` for more than ``n_iter_no_change`` consecutive epochs; the weights of the best
        validation score are restored at the end, as scikit-learn restores its best coefs.
        Without early_stopping the same rule watches the training loss (the last weights are
        kept). When ``max_iter`` epochs pass without stopping, ``fit`` warns
        (``ConvergenceWarning``). ``partial_fit`` never stops early.
    validation_fraction : float in (0, 1), default 0.1
    beta_1, beta_2 : float in [0, 1), defaults 0.9, 0.999
    epsilon : float, default 1e-8
    n_iter_no_change : int, default 10
    dtype : numpy.float64 (default) or numpy.float32 (or their names)
        The network's floating-point type; inputs are converted to it.
    n_threads : None or int
        BLAS threads; None: 1 in a joblib or dask worker, else the BLAS's own (module docstring).

    ``fit(X, y, sample_weight=None)``: sample weights are rescaled to mean 1 over the training
    rows and go to ``Network.fit``, which weights as Keras does (each sample's loss times its
    weight, the batch's loss their sum divided by the batch's number of rows; scikit-learn
    divides by the batch's weight sum). So the two agree for whole-batch training (batch_size
    >= n_samples, the "auto" batch size for up to 200 samples) and for uniform weights; for
    mini-batches of non-uniform weights cnn_core's batch losses are scaled by (the batch's
    weight sum / number of rows), which averages to 1 over an epoch.

    Fitted attributes: ``network_`` (the trained :class:`cnn_core.Network`), ``coefs_`` and
    ``intercepts_`` (copies of each layer's W (n_in, n_out) and b), ``n_features_in_``,
    ``feature_names_in_`` (with a DataFrame), ``loss_``, ``loss_curve_``, ``best_loss_`` (None
    with early stopping), ``validation_scores_`` and ``best_validation_score_`` (None without
    early stopping), ``n_iter_``, ``t_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = """A multi-layer perceptron classifier on a :class:`cnn_core.Network`.

    Labels may be anything scikit-learn accepts (strings, non-contiguous integers, ...).
    Two classes: one logistic output with the log-loss (binary cross-entropy), as
    scikit-learn; more: a softmax output with the cross-entropy; a multi-label indicator
    matrix y (n_samples, n_labels): one logistic output per label with the binary
    cross-entropy summed over the labels. ``predict_proba`` gives the output probabilities
    (binary: [1 - p, p]), ``predict_log_proba`` their logarithm, ``score`` the accuracy.

    class_weight : None, dict {label: weight} or "balanced"
        cnn_core's addition: multiplies the sample weights, as
        ``sklearn.utils.class_weight.compute_sample_weight(class_weight, y)``.
""" + _SHARED_DOC

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _is_classifier = True

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dtype=numpy.float64, n_threads=None, class_weight=None):
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha,
                         batch_size=batch_size, learning_rate=learning_rate,
                         learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
                         verbose=verbose, warm_start=warm_start, momentum=momentum,
                         nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, n_iter_no_change=n_iter_no_change, dtype=dtype,
                         n_threads=n_threads)
        self.class_weight = class_weight

    def _validate_input(self, X, y, incremental, reset):
        X, y = super()._validate_input(X, y, incremental, reset)
        check_classification_targets(y)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same classes "
                                     f"as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}")
            elif len(numpy.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        return X, y

    def _prepare_targets(self, y):
        return self._label_binarizer.transform(y).astype(_dtype(self.dtype))

    def _output(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", "softmax", "cross_entropy"
        return "logistic", "sigmoid", "binary_cross_entropy"

    def _score_raw(self, net, X, y, sample_weight):
        return accuracy_score(y, self._labels(self._raw(net, X)), sample_weight=sample_weight)

    def _labels(self, out):
        return self._label_binarizer.inverse_transform(out.ravel() if self.n_outputs_ == 1 else out)

    def predict(self, X):
        """The predicted classes (n_samples,), or the indicator matrix for multi-label."""
        return self._labels(self._forward(X))

    def predict_proba(self, X):
        """Probabilities (n_samples, n_classes), classes in the order of ``classes_``."""
        out = self._forward(X)
        if self.n_outputs_ == 1:
            p = out.ravel()
            return numpy.vstack([1 - p, p]).T
        return out

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        p = self.predict_proba(X)
        with numpy.errstate(divide="ignore"):
            return numpy.log(p, out=p)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X, y (``classes``, all the labels, is needed on the first call, as in
        scikit-learn). Returns self."""
        if _check_partial_fit_first_call(self, classes):
            labels = y if type_of_target(y).startswith("multilabel") else classes
            self._label_binarizer = LabelBinarizer().fit(labels)
        return self._fit(X, y, sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """A multi-layer perceptron regressor on a :class:`cnn_core.Network`: identity
    outputs (one per target; y may be (n_samples, n_targets)) and the squared error.

    The loss is cnn_core's squared error, ``0.5 * sum_k (y_k - o_k)^2`` averaged over the
    samples; scikit-learn also averages over the targets. For one target they are the same; with
    n_targets outputs cnn_core's loss (and its gradient) is n_targets times scikit-learn's.
    ``score`` is R^2 (uniform average over the targets), also for early stopping.
""" + _SHARED_DOC

    def _prepare_targets(self, y):
        T = numpy.asarray(y, dtype=_dtype(self.dtype))
        return T.reshape(-1, 1) if T.ndim == 1 else T

    def _output(self):
        return "identity", "identity", "squared_error"

    def _score_raw(self, net, X, y, sample_weight):
        out = self._raw(net, X)
        return r2_score(y, out.ravel() if out.shape[1] == 1 else out, sample_weight=sample_weight)

    def predict(self, X):
        """Predictions (n_samples,), or (n_samples, n_targets) for several targets."""
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# ============================================================ The book's network

class BookClassifier(ClassifierMixin, BaseEstimator):
    """The book's three-layer network (:class:`cnn_core.neuralNetwork`) as a scikit-learn
    classifier, for cross-validating and grid-searching the book's experiment.

    Parameters
    ----------
    hidden_nodes : int, default 200
    learning_rate : float, default 0.1
    epochs : int, default 5
        Passes over the training data, one ``train`` step per sample (``neuralNetwork.fit``).
    activation : "sigmoid" (the book, default) or "relu"
        The hidden layer's activation; the output layer is sigmoid.
    scale_inputs : bool, default True
        True: inputs are pixels 0-255 and become the book's ``x / 255 * 0.99 + 0.01``; False:
        they are passed through as they are (scale them yourself, e.g. in a Pipeline).
    shuffle : bool, default False
        The book trains in the data's order; True draws a new order every epoch.
    random_state : None, int or RandomState
        The initial weights (the book's normal(0, nodes**-0.5) draws) and the shuffling.
    dtype : numpy.float64 (default) or numpy.float32
    n_threads : None or int
        The book network's threads; None: 1 in a joblib or dask worker, else its automatic choice.

    The targets are the book's teacher values: 0.99 at the sample's class, 0.01 elsewhere, one
    output node per class (labels of any kind, ``classes_``). ``predict`` is the class of the
    largest output; ``predict_proba`` the sigmoid outputs divided by their sum, so that each row
    sums to 1 (the network's outputs are independent sigmoids, not probabilities: this is a
    normalisation, not a calibration); ``score`` the accuracy. Fitted attributes:
    ``network_`` (the trained :class:`cnn_core.neuralNetwork`), ``classes_``,
    ``n_features_in_``, ``feature_names_in_``.
    """

    _parameter_constraints: dict = {
        "hidden_nodes": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"sigmoid", "relu"})],
        "scale_inputs": ["boolean"],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "dtype": _DTYPE_CONSTRAINT,
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, hidden_nodes=200, learning_rate=0.1, epochs=5, activation="sigmoid",
                 scale_inputs=True, shuffle=False, random_state=None, dtype=numpy.float64,
                 n_threads=None):
        self.hidden_nodes = hidden_nodes
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.activation = activation
        self.scale_inputs = scale_inputs
        self.shuffle = shuffle
        self.random_state = random_state
        self.dtype = dtype
        self.n_threads = n_threads

    def _inputs(self, X):
        X = numpy.asarray(X, dtype=_dtype(self.dtype))
        return X / 255.0 * 0.99 + 0.01 if self.scale_inputs else X

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the book's network on X (n_samples, n_features) and labels y. Returns self."""
        X, y = validate_data(self, X, y, dtype=(numpy.float64, numpy.float32))
        check_classification_targets(y)
        self.classes_, codes = numpy.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        T = book_targets(codes, n_classes)
        seed = int(check_random_state(self.random_state).randint(numpy.iinfo(numpy.int32).max))
        net = neuralNetwork(X.shape[1], self.hidden_nodes, n_classes, self.learning_rate,
                            dtype=_dtype(self.dtype), seed=seed, activation=self.activation,
                            n_threads=effective_n_threads(self))
        net.fit(self._inputs(X), T, epochs=self.epochs, shuffle=bool(self.shuffle),
                seed=seed + 1)
        if self.n_threads is None:
            net.n_threads = None       # a copy sent elsewhere chooses its threads there
        self.network_ = net
        return self

    def _outputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(numpy.float64, numpy.float32), reset=False)
        return self.network_.predict(self._inputs(X))

    def predict(self, X):
        """The class of the largest output, for each row of X."""
        out = self._outputs(X)
        return self.classes_[numpy.argmax(out, axis=1)]

    def predict_proba(self, X):
        """The outputs normalised to sum 1 per row (see the class docstring)."""
        out = self._outputs(X).astype(numpy.float64)
        return out / out.sum(axis=1, keepdims=True)
