"""Fuzz every public entry point of cnn_core with random shapes, dtypes, values and layouts.

    python stress/fuzz.py --cases 10000 [--seed 0] [--kinds book,deep,objects,files,env]

The cases run in a child process, so that a crash of the interpreter (a segfault in compiled
code) is caught and reported with the case that caused it. Each case must either work, and then
agree with the NumPy version, or raise TypeError/ValueError with a message; after a failed call
the network's parameters must be byte-for-byte unchanged. Anything else is a finding: the script
prints it and exits with status 1.

Half the cases (by default) drive the book network (neuralNetwork against
cnn_core.reference.neuralNetwork), half the deep networks: Dense construction, forward and
backward (against the NumPy twins of the kernels), W and b assignment, Network construction,
fit (batch sizes 1 and up, both losses, integer labels, one-hot and continuous targets,
validation data, every optimizer and schedule), predict, loss, accuracy, gradient (each against
the same network on backend="numpy"), save/load, and Network.load of random bytes, truncated,
byte-flipped and field-changed files (a ValueError naming the file). For the deep networks
"unchanged" covers parameters, optimizer state and history; a DivergenceError from fit must
leave finite parameters and say the epoch and what to try.

The other kinds (stress/fuzz_process.py) send random objects through pickle, copies and joblib
and continue training against the original ("objects"), save under injected file faults
("files"), and train in forked children and under OpenMP environment settings ("env").
"""
import argparse
import os
import subprocess
import sys
import tempfile
import traceback

import numpy

DTYPES = ["bool", "int8", "uint8", "int32", "int64", "uint64", "float16", "float32", "float64",
          ">f8", ">i4", "complex128", "object", "<U3", "datetime64[s]"]
SPECIAL = [numpy.nan, numpy.inf, -numpy.inf, 1e308, -1e308, 1e39, 5e-324, 1e-310, 0.0, -0.0]


from fuzz_process import Finding, env_case, files_case, objects_case  # noqa: E402


OUTCOMES = {}          # (operation, "ok" | exception type) -> count


def count(op, outcome):
    OUTCOMES[(op, outcome)] = OUTCOMES.get((op, outcome), 0) + 1


def random_array(rng, want_shape):
    """Mostly well-formed arrays of `want_shape`, sometimes anything else."""
    r = rng.random()
    if r < 0.55:
        shape = want_shape
    elif r < 0.7:
        shape = tuple(max(0, d + int(rng.integers(-1, 2))) for d in want_shape)
    else:
        ndim = int(rng.integers(0, 4))
        shape = tuple(int(rng.integers(0, 6)) for _ in range(ndim))
    values = rng.uniform(-2, 2, shape) if rng.random() < 0.5 else rng.uniform(0, 1, shape)
    if rng.random() < 0.2 and values.size:
        flat = values.reshape(-1)
        flat[rng.integers(0, flat.size, max(1, flat.size // 10))] = rng.choice(SPECIAL)
    dtype = "float64" if rng.random() < 0.5 else str(rng.choice(DTYPES))
    try:
        array = values.astype(dtype)
    except (TypeError, ValueError):
        array = values
    layout = rng.random()
    if layout < 0.1 and array.ndim == 2:
        array = numpy.asfortranarray(array)
    elif layout < 0.2 and array.ndim >= 1 and array.size:
        array = numpy.repeat(array, 2, axis=-1)[..., ::2]         # non-contiguous view
    elif layout < 0.3:
        array = array.copy()
        array.flags.writeable = False
    kind = rng.random()
    if kind < 0.05:
        return None
    if kind < 0.1:
        return "0.5"
    if kind < 0.2:
        return array.tolist()
    return array


def snapshot(net):
    return net.wih.tobytes() + net.who.tobytes()


def check_failure(exc, before, net, what):
    if not isinstance(exc, (TypeError, ValueError)):
        raise Finding(f"{what}: {type(exc).__name__} instead of TypeError/ValueError: {exc}")
    if not str(exc).strip():
        raise Finding(f"{what}: {type(exc).__name__} without a message")
    if snapshot(net) != before:
        raise Finding(f"{what}: the failed call changed the weights ({type(exc).__name__}: {exc})")


def book_fit_diverged(exc, before, net, ref, x, t, dtype, tol):
    """fit's DivergenceError keeps the weights of the start of the epoch it names: unchanged for
    epoch 1, else those of the epochs before it (checked against the NumPy version where its
    numbers are sane), and always finite."""
    import re
    where = re.search(r"diverged at epoch (\d+)", str(exc))
    if where is None or "learning rate" not in str(exc):
        raise Finding(f"fit: DivergenceError without the epoch and advice: {exc}")
    if not (numpy.isfinite(net.wih).all() and numpy.isfinite(net.who).all()):
        raise Finding(f"fit: DivergenceError left non-finite weights: {exc}")
    epoch = int(where.group(1))
    if epoch == 1:
        if snapshot(net) != before:
            raise Finding(f"fit: a DivergenceError in epoch 1 changed the weights: {exc}")
        return
    X = numpy.asarray(x, dtype=dtype).reshape(-1, net.inodes)
    T = numpy.asarray(t, dtype=dtype).reshape(-1, net.onodes)
    expected = type(ref)(ref.inodes, ref.hnodes, ref.onodes, ref.lr, dtype=dtype, seed=0,
                         activation=ref.activation)
    expected.wih, expected.who = ref.wih.copy(), ref.who.copy()
    with numpy.errstate(all="ignore"):
        expected.fit(X, T, epochs=epoch - 1)
        scale = max(numpy.abs(expected.wih).max(), numpy.abs(expected.who).max())
    if not scale < (1e100 if dtype == numpy.float64 else 1e30):
        return                          # near overflow the order of roundings decides it
    atol = tol * max(1.0, scale)
    if not (numpy.allclose(net.wih, expected.wih, rtol=tol, atol=atol)
            and numpy.allclose(net.who, expected.who, rtol=tol, atol=atol)):
        raise Finding(f"fit: after a DivergenceError in epoch {epoch} the weights are not those "
                      f"of the {epoch - 1} epoch(s) before it")


def run_case(rng, index, log):
    import cnn_core
    from cnn_core import reference
    sizes = tuple(int(rng.integers(1, 12)) for _ in range(3))
    dtype = numpy.float64 if rng.random() < 0.7 else numpy.float32
    activation = "sigmoid" if rng.random() < 0.7 else "relu"
    lr = float(rng.choice([0.1, 0.3, 1e-3, 5.0]))
    seed = int(rng.integers(0, 1000))
    net = cnn_core.neuralNetwork(*sizes, lr, dtype=dtype, activation=activation, seed=seed,
                                 n_threads=int(rng.integers(1, 3)))
    ref = reference.neuralNetwork(*sizes, lr, dtype=dtype, activation=activation, seed=seed)
    inodes, hnodes, onodes = sizes
    tol = 1e-9 if dtype == numpy.float64 else 1e-3
    for step in range(int(rng.integers(1, 6))):
        op = str(rng.choice(["train", "train2d", "query", "query2d", "fit", "predict", "backquery",
                             "assign", "save", "ctor", "load_bytes"]))
        n = int(rng.integers(1, 5))
        target = str(rng.choice(["wih", "who"]))
        x_shape = {"train": (inodes,), "query": (inodes,)}.get(op, (n, inodes))
        if op == "assign":
            x_shape = (hnodes, inodes) if target == "wih" else (onodes, hnodes)
        x = random_array(rng, x_shape)
        t = random_array(rng, (onodes,) if op in ("train", "backquery") else (n, onodes))
        log.write(f"case {index} step {step}: {op} sizes={sizes} {numpy.dtype(dtype).name} "
                  f"{activation} lr={lr} x={describe(x)} t={describe(t)}\n")
        log.flush()
        before = snapshot(net)
        try:
            if op in ("train", "train2d"):
                net.train(x, t)
            elif op in ("query", "query2d"):
                got = net.query(x)
            elif op == "fit":
                epochs = int(rng.integers(1, 3))
                net.fit(x, t, epochs=epochs)
            elif op == "predict":
                got = net.predict(x)
            elif op == "backquery":
                got = net.backquery(t)
            elif op == "assign":
                setattr(net, target, x)
            elif op == "save":
                with tempfile.TemporaryDirectory() as d:
                    net.save(os.path.join(d, "n.npz"))
                    back = cnn_core.neuralNetwork.load(os.path.join(d, "n.npz"))
                    if snapshot(back) != snapshot(net):
                        raise Finding("save/load changed the weights")
                count(op, "ok")
                continue
            elif op == "ctor":
                args = [random_scalar(rng) for _ in range(4)]
                cnn_core.neuralNetwork(*args)
                count(op, "ok")
                continue
            elif op == "load_bytes":
                with tempfile.TemporaryDirectory() as d:
                    path = os.path.join(d, "junk.npz")
                    with open(path, "wb") as f:
                        f.write(rng.bytes(int(rng.integers(0, 400))))
                    cnn_core.neuralNetwork.load(path)
                raise Finding("random bytes loaded as a network")
        except Finding:
            raise
        except Exception as exc:            # noqa: BLE001 - every exception is judged here
            count(op, type(exc).__name__)
            if op == "ctor":
                if not isinstance(exc, (TypeError, ValueError)):
                    raise Finding(f"ctor: {type(exc).__name__}: {exc}")
                continue
            if op == "fit" and isinstance(exc, cnn_core.DivergenceError):
                book_fit_diverged(exc, before, net, ref, x, t, dtype, tol)
                ref.wih, ref.who = net.wih.copy(), net.who.copy()    # go on from where ours is
                continue
            check_failure(exc, before, net, op)
            continue
        # it worked: the NumPy version must agree
        count(op, "ok")
        if op in ("train", "train2d", "fit"):
            X = numpy.asarray(x, dtype=dtype).reshape(-1, inodes)
            T = numpy.asarray(t, dtype=dtype).reshape(-1, onodes)
            if op == "fit":
                ref.fit(X, T, epochs=epochs)
            else:
                ref.train(X if op == "train2d" else X[0], T if op == "train2d" else T[0])
        elif op == "assign":
            ref.wih, ref.who = net.wih.copy(), net.who.copy()
        elif op in ("query", "query2d", "predict"):
            expected = ref.query(numpy.asarray(x, dtype=dtype).reshape(-1, inodes))
            expected = expected.T if op == "predict" else expected
            if got.shape != expected.shape or not numpy.allclose(got, expected, rtol=tol, atol=tol):
                raise Finding(f"{op}: differs from the NumPy version by "
                              f"{numpy.abs(got - expected).max() if got.shape == expected.shape else got.shape}")
        ours_finite = numpy.isfinite(net.wih).all() and numpy.isfinite(net.who).all()
        with numpy.errstate(all="ignore"):
            ref_scale = max(numpy.abs(ref.wih).max(), numpy.abs(ref.who).max())
        limit = 1e100 if dtype == numpy.float64 else 1e30    # "near overflow" beyond this
        if not ours_finite:
            # allowed only where the NumPy version left sane numbers too (it has no checks), and
            # then every later call must say so rather than compute with the broken weights
            if ref_scale < limit:
                raise Finding(f"{op}: our weights became non-finite, the NumPy version's did not")
            try:
                net.query(numpy.full(inodes, 0.5))
                raise Finding(f"{op}: query with non-finite weights did not raise")
            except cnn_core.DivergenceError:
                return
        if not ref_scale < limit:
            return      # near overflow the order of roundings decides it; nothing to compare
        ours_scale = max(numpy.abs(net.wih).max(), numpy.abs(net.who).max())
        if not max(ref_scale, ours_scale) < SATURATED:
            # as params_huge for the deep networks: the sigmoid output is saturated, and the
            # update's o * (1 - o) takes its value from the last bit of exp, which NumPy and
            # the C library compute differently; from here on the two go their own ways
            count(op, "ok (not compared: weights beyond 1e3, the sigmoid output saturated)")
            ref.wih, ref.who = net.wih.copy(), net.who.copy()
            continue
        atol = tol * max(1.0, ref_scale)     # roundings of sums scale with the largest weight
        if not (numpy.allclose(net.wih, ref.wih, rtol=tol, atol=atol)
                and numpy.allclose(net.who, ref.who, rtol=tol, atol=atol)):
            with numpy.errstate(all="ignore"):
                raise Finding(f"{op}: weights differ from the NumPy version by "
                              f"{max(numpy.abs(net.wih - ref.wih).max(), numpy.abs(net.who - ref.who).max())} "
                              f"(largest |weight|: ours {max(numpy.abs(net.wih).max(), numpy.abs(net.who).max())}, "
                              f"NumPy {max(numpy.abs(ref.wih).max(), numpy.abs(ref.who).max())})")


# ------------------------------------------------------------------------------------------
# Deep networks: Dense, Network (against its backend="numpy" twin), optimizers, save/load
# ------------------------------------------------------------------------------------------

DEEP_OPS = ["dense_ctor", "net_ctor", "forward", "assign_W", "assign_b", "fit", "fit", "fit",
            "predict", "loss", "accuracy", "gradient", "save", "load_bytes", "load_truncated",
            "load_corrupted", "load_mutated", "optimizer"]
HIDDEN = ["relu", "tanh", "sigmoid"]
JSON_VALUES = [-1, 0, 1, 2.5, 1e308, -1e308, 10 ** 20, "x", "relu", None, [], {}, True, [1, 2],
               {"a": 1}]


def pick(rng, options):
    """One of `options` (any Python objects), uniformly."""
    return options[int(rng.integers(0, len(options)))]


def deep_spec(rng):
    """A random architecture, loss and optimizer (everything valid)."""
    n_layers = int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 7)) for _ in range(n_layers + 1)]
    loss = "cross_entropy" if rng.random() < 0.5 else "squared_error"
    acts = [str(rng.choice(HIDDEN)) for _ in range(n_layers - 1)]
    acts.append("softmax" if loss == "cross_entropy" else str(rng.choice(["identity"] + HIDDEN)))
    layers = []
    for i, act in enumerate(acts):
        layers.append(dict(n_in=sizes[i], n_out=sizes[i + 1], activation=act,
                           bias=bool(rng.random() < 0.8),
                           slope=float(rng.choice([1.0, 0.5, 2.0])) if act == "sigmoid" else 1.0,
                           init=pick(rng, ["xavier", "he", "book", 0.01, 0.5])))
    lr = float(rng.choice([0.1, 0.01, 1.0, 10.0, 1e30]))
    optimizer = str(rng.choice(["SGD", "SGD+", "Momentum", "Nesterov", "AdaGrad", "RMSprop",
                                "Adam", "SGD/decay", "Adam/step"]))
    return dict(dtype=numpy.float64 if rng.random() < 0.7 else numpy.float32, layers=layers,
                loss=loss, lr=lr, optimizer=optimizer, seed=int(rng.integers(0, 1000)))


def make_optimizer(spec):
    from cnn_core import optimizers as o
    lr = spec["lr"]
    return {"SGD": lambda: o.SGD(lr),
            "SGD+": lambda: o.SGD(lr, momentum=0.9, nesterov=True, weight_decay=0.01),
            "Momentum": lambda: o.Momentum(lr),
            # lr * weight_decay never 1, where p - lr * (g + weight_decay * p) cancels p exactly
            # and the rounding residue (whose sign decides whether a ReLU is on) is all that is left
            "Nesterov": lambda: o.Nesterov(lr, weight_decay=0.003),
            "AdaGrad": lambda: o.AdaGrad(lr),
            "RMSprop": lambda: o.RMSprop(lr * 0.1),
            "Adam": lambda: o.Adam(lr * 0.1),
            "SGD/decay": lambda: o.SGD(o.ExponentialDecay(lr, 0.5, decay_steps=3)),
            "Adam/step": lambda: o.Adam(o.StepDecay(lr * 0.1, 2, gamma=0.5))}[spec["optimizer"]]()


def build(spec, backend):
    import cnn_core
    from cnn_core.layers import Dense
    layers = [Dense(**layer, dtype=spec["dtype"], seed=spec["seed"] + i)
              for i, layer in enumerate(spec["layers"])]
    return cnn_core.Network(layers, loss=spec["loss"], optimizer=make_optimizer(spec), backend=backend)


def deep_state(net):
    """Everything a failed call must leave as it was: parameters, optimizer state, history."""
    opt = net.optimizer
    return (b"".join(layer._params.tobytes() for layer in net.layers),
            b"".join(a.tobytes() for slot in (opt._state or []) for a in slot),
            opt.iterations, repr(net.history))


def sync(ref, net):
    """Make the NumPy twin exactly the network (so that differences never accumulate)."""
    for a, b in zip(ref.layers, net.layers):
        numpy.copyto(a._params, b._params)
    ref.optimizer._set_state(net.optimizer._get_state())
    ref.history = {k: list(v) for k, v in net.history.items()}


def mangle(rng, array):
    """`array` as it might come from a user: another dtype or byte order, Fortran order, a
    non-contiguous view, read-only, or a list."""
    r = rng.random()
    if r < 0.1 and array.dtype.kind == "f":
        array = array.astype(str(rng.choice(["float32", ">f8", "float16"])))
    elif r < 0.15 and array.dtype.kind in "iu":
        array = array.astype(str(rng.choice(["uint8", ">i4", "int16"])))
    layout = rng.random()
    if layout < 0.1 and array.ndim == 2:
        array = numpy.asfortranarray(array)
    elif layout < 0.2 and array.ndim >= 1 and array.size:
        array = numpy.repeat(array, 2, axis=-1)[..., ::2]
    elif layout < 0.3:
        array = array.copy()
        array.flags.writeable = False
    elif layout < 0.4:
        return array.tolist()
    return array


def deep_inputs(rng, n, n_in):
    if rng.random() < 0.75:
        shape = (n, n_in) if n > 1 or rng.random() < 0.5 else (n_in,)
        values = rng.uniform(-2, 2, shape) if rng.random() < 0.5 else rng.uniform(0, 1, shape)
        if rng.random() < 0.05:
            values *= float(rng.choice([1e150, 1e300, 1e-310]))
        return mangle(rng, values)
    return random_array(rng, (n, n_in))


def deep_targets(rng, n, n_out, loss):
    r = rng.random()
    if r < 0.3 and n_out >= 2:                       # integer labels
        labels = rng.integers(0, n_out, n)
        if rng.random() < 0.05:
            labels[rng.integers(0, n)] = int(rng.choice([-1, n_out, 10 ** 6]))
        return mangle(rng, labels)
    if r < 0.5:                                      # one-hot rows
        return mangle(rng, numpy.eye(n_out)[rng.integers(0, n_out, n)])
    if r < 0.8:                                      # continuous targets
        values = rng.uniform(0, 1, (n, n_out)) if loss == "cross_entropy" or rng.random() < 0.5 \
            else rng.uniform(-2, 2, (n, n_out))
        return mangle(rng, values if n > 1 or rng.random() < 0.5 else values[0])
    return random_array(rng, (n, n_out))


def fit_kwargs(rng, n, n_in, n_out, loss):
    kwargs = dict(epochs=int(rng.integers(1, 3)),
                  batch_size=int(rng.choice([1, 1, 2, 3, max(1, n), 100])),
                  shuffle=bool(rng.random() < 0.5), seed=int(rng.integers(0, 100)))
    if rng.random() < 0.25:
        m = int(rng.integers(1, 5))
        kwargs["validation_data"] = (deep_inputs(rng, m, n_in), deep_targets(rng, m, n_out, loss))
    if rng.random() < 0.05:
        key = str(rng.choice(["epochs", "batch_size", "shuffle", "seed", "validation_data"]))
        kwargs[key] = pick(rng, [0, -1, 2.5, True, "2", None, [1, 2]] if key != "validation_data"
                           else ["xy", None, 3, (1, 2, 3)])
    return kwargs


def scale_of(*arrays):
    """The largest |value| of the arrays (infinity if one is infinite; NaN ignored)."""
    largest = 0.0
    with numpy.errstate(all="ignore"):
        for a in arrays:
            a = numpy.abs(numpy.asarray(a, dtype=numpy.float64)).reshape(-1)
            a = a[~numpy.isnan(a)]
            if a.size:
                largest = max(largest, float(a.max()))
    return largest


def close(a, b, dtype, what, allowance=0.0):
    """a and b equal to 1e-9 (float32: 2e-3) of their scale, plus `allowance`."""
    a = numpy.asarray(a, dtype=numpy.float64)
    b = numpy.asarray(b, dtype=numpy.float64)
    if a.shape != b.shape:
        raise Finding(f"{what}: shape {a.shape}, the NumPy twin {b.shape}")
    tol = 1e-9 if dtype == numpy.float64 else 2e-3
    scale = 1.0 + scale_of(a, b)
    with numpy.errstate(all="ignore"):
        if not numpy.allclose(a, b, rtol=tol, atol=tol * scale + allowance, equal_nan=True):
            raise Finding(f"{what}: differs from the NumPy twin by {numpy.nanmax(numpy.abs(a - b))} "
                          f"(scale {scale:.3g})")


def huge(value):
    """Inputs beyond 1e100 (or not numbers at all): where overflow is decided by the order of
    roundings, the two backends may disagree on it."""
    try:
        return not scale_of(numpy.asarray(value, dtype=numpy.float64)) < 1e100
    except (TypeError, ValueError):
        return True


WILD = 1e8
SATURATED = 1e3


def params_huge(net):
    """Parameters beyond WILD (a learning rate of 1e30 got there), or beyond SATURATED in a
    network with sigmoid, tanh or softmax layers. From such a start the two backends' results
    are not compared, only checked (no crash, finite parameters or a DivergenceError, failures
    change nothing): roundings decide them. Adaptive optimizers turn the sign of a near-zero
    gradient into whole steps of the learning rate; a saturated activation's derivative,
    1 - y*y with y within a few ulps of 1, takes its value from the last bit of tanh or exp,
    which NumPy and the C library compute differently."""
    saturating = any(layer.activation in ("sigmoid", "tanh", "softmax") for layer in net.layers)
    limit = SATURATED if saturating else WILD
    return not scale_of(*[layer._params for layer in net.layers]) < limit


def run_deep_case(rng, index, log):
    import cnn_core
    from cnn_core import _dense_numpy as twins
    from cnn_core.layers import Dense
    spec = deep_spec(rng)
    net, ref = build(spec, "cython"), build(spec, "numpy")
    dtype = spec["dtype"]
    n_in, n_out, loss = net.n_in, net.n_out, spec["loss"]
    arch = "-".join(str(s) for s in [n_in] + [l["n_out"] for l in spec["layers"]])
    for step in range(int(rng.integers(1, 6))):
        op = str(rng.choice(DEEP_OPS))
        n = int(rng.integers(1, 7))
        x = deep_inputs(rng, n, n_in)
        t = deep_targets(rng, n, n_out, loss)
        kwargs = fit_kwargs(rng, n, n_in, n_out, loss) if op == "fit" else {}
        log.write(f"case {index} step {step}: deep {op} {arch} {numpy.dtype(dtype).name} "
                  f"{[l['activation'] for l in spec['layers']]} {loss} {spec['optimizer']} "
                  f"lr={spec['lr']} x={describe(x)} t={describe(t)} "
                  f"{ {k: describe(v) for k, v in kwargs.items()} }\n")
        log.flush()
        before = deep_state(net)
        name = {"dense_ctor": "Dense()", "net_ctor": "Network()", "optimizer": "Optimizer()", "forward": "Dense.forward/backward",
                "assign_W": "Dense.W =", "assign_b": "Dense.b =", "save": "Network.save/load"}.get(op, "net." + op)
        try:
            if op == "dense_ctor":
                args = [random_scalar(rng) if rng.random() < 0.3 else int(rng.integers(1, 5))
                        for _ in range(2)]
                kw = {k: pick(rng, v) for k, v in (
                    ("activation", ["relu", "softmax", "sigmoid", "rellu", None, 3]),
                    ("bias", [True, False, 1, None]),
                    ("init", ["he", "book", "glorot", 0.01, -1.0, None, float("nan")]),
                    ("slope", [1.0, 2.0, 0, -1.0, float("inf"), "1"]),
                    ("dtype", [numpy.float32, numpy.float64, numpy.int64, "f4", None, "x"]),
                    ("seed", [None, 1, -1, 1.5, "s"])) if rng.random() < 0.4}
                layer = Dense(*args, **kw)
                y = layer.forward(numpy.ones(layer.n_in))
                if y.shape != (1, layer.n_out):
                    raise Finding(f"dense_ctor: forward of one sample gave shape {y.shape}")
            elif op == "net_ctor":
                valid = lambda: [Dense(**l, dtype=dtype) for l in spec["layers"]]  # noqa: E731
                layers = pick(rng, [lambda: None, lambda: "dense", lambda: Dense(3, 2), lambda: [],
                                    valid, valid, valid, valid,
                                    lambda: [Dense(3, 4), Dense(5, 2)],
                                    lambda: [Dense(3, 4), Dense(4, 2, dtype=numpy.float32)],
                                    lambda: [Dense(3, 4), 3], lambda: [net.layers[0]]])()
                opt = pick(rng, [lambda: None, lambda: "adam", lambda: "sgd", lambda: "bogus",
                                 lambda: 0.1, lambda: net.optimizer, lambda: make_optimizer(spec)])()
                cnn_core.Network(layers, loss=pick(rng, [spec["loss"], spec["loss"], "mse", None, 3]),
                                 optimizer=opt, backend=pick(rng, ["cython", "numpy", "torch"]))
                if net.layers[0]._owner() is not net or net.optimizer._owner() is not net:
                    raise Finding("net_ctor: a new Network took the layers or optimizer of another")
            elif op == "forward":
                i = int(rng.integers(0, len(net.layers)))
                layer = net.layers[i] if rng.random() < 0.7 else Dense(**spec["layers"][i], dtype=dtype, seed=1)
                xi = deep_inputs(rng, n, layer.n_in)
                log.write(f"    layer {i} X={describe(xi)}\n")
                try:
                    Y = layer.forward(xi).copy()
                except ValueError as exc:
                    if isinstance(exc, cnn_core.DivergenceError) and not huge(xi) and not params_huge(net):
                        raise Finding(f"forward: DivergenceError on moderate values: {exc}")
                    raise
                X = numpy.asarray(xi, dtype=dtype).reshape(-1, layer.n_in)
                b = layer.b if layer.bias else numpy.zeros(0, dtype)
                code, slope = layer._act.code, layer.slope
                Z, Yr = numpy.empty_like(Y), numpy.empty_like(Y)
                with numpy.errstate(all="ignore"):
                    twins.dense_forward(X, layer.W, b, code, slope, Z, Yr)
                close(Y, Yr, dtype, "Dense.forward")
                if rng.random() < 0.7:
                    dY = deep_inputs(rng, len(X), layer.n_out)
                    log.write(f"    backward dY={describe(dY)}\n")
                    dX = layer.backward(dY).copy()
                    dYr = numpy.asarray(dY, dtype=dtype).reshape(len(X), layer.n_out)
                    dZ, dW, db = numpy.empty_like(Y), numpy.empty_like(layer.W), numpy.empty(len(b), dtype)
                    dXr = numpy.empty_like(X)
                    with numpy.errstate(all="ignore"):
                        twins.dense_backward(X, layer.W, Yr, dYr, code, slope, dZ, dW, db, dXr)
                    if not huge(dY) and not huge(xi):
                        close(dX, dXr, dtype, "Dense.backward dX")
                        close(layer.dW, dW, dtype, "Dense.backward dW")
                        if layer.bias:
                            close(layer.db, db, dtype, "Dense.backward db")
            elif op in ("assign_W", "assign_b"):
                i = int(rng.integers(0, len(net.layers)))
                layer = net.layers[i]
                shape = (layer.n_in, layer.n_out) if op == "assign_W" else (layer.n_out,)
                value = deep_inputs(rng, *shape) if len(shape) == 2 else random_array(rng, shape)
                setattr(layer, op[-1], value)
                if not numpy.array_equal(getattr(layer, op[-1]), numpy.asarray(value, dtype=dtype).reshape(shape)):
                    raise Finding(f"{op}: the layer does not hold the values assigned")
                sync(ref, net)
            elif op == "fit":
                run_both(spec, net, ref, "fit", (x, t), kwargs, before)
            elif op in ("predict", "loss", "accuracy", "gradient"):
                args = (x,) if op == "predict" else (x, t)
                run_both(spec, net, ref, op, args, {}, before)
            elif op == "optimizer":
                fuzz_optimizer(rng, dtype, log)
            elif op == "save":
                with tempfile.TemporaryDirectory() as d:
                    path = os.path.join(d, "net.npz")
                    net.save(path)
                    back = cnn_core.Network.load(path, backend=str(rng.choice(["cython", "numpy"])))
                    if deep_state(back) != deep_state(net) or repr(back.layers) != repr(net.layers) \
                            or back.optimizer.get_config() != net.optimizer.get_config() \
                            or back.loss_function != net.loss_function:
                        raise Finding("save/load gave another network")
                    back.save(path)
                    if deep_state(cnn_core.Network.load(path)) != deep_state(net):
                        raise Finding("save of a loaded network, loaded again, gave another network")
            else:                                # the load_* operations
                load_hostile(rng, op, net, log)
        except Finding:
            raise
        except Exception as exc:                # noqa: BLE001 - every exception is judged here
            count(name, type(exc).__name__)
            judge_failure(exc, op, before, net)
            sync(ref, net)
            continue
        if op not in ("fit", "predict", "loss", "accuracy", "gradient") and not op.startswith("load_"):
            count(name, "ok")                   # (run_both and load_hostile count their own)
    return


OPTIMIZER_ARGS = {
    "lr": [0.1, 0.01, 1.0, 0.0, -1.0, float("nan"), float("inf"), "0.1", None, True, 1e300],
    "momentum": [0.0, 0.5, 0.9, 1.0, -0.1, "0.9"], "nesterov": [True, False, 1],
    "weight_decay": [0.0, 0.01, -1.0, float("nan")], "eps": [1e-8, 1e-3, 0.0, -1e-8, "e"],
    "alpha": [0.99, 0.5, 1.0, -0.5], "betas": [(0.9, 0.999), [0.5, 0.5], (1.0, 0.9), (0.9,), "ab", None],
}


def fuzz_optimizer(rng, dtype, log):
    """An optimizer built from random arguments (valid or not), then a few update calls with
    random gradients (right or wrong shapes, dtypes, values), each checked against the same
    optimizer on the NumPy twins of the kernels; a refused update changes nothing."""
    from cnn_core import _dense_numpy as twins, optimizers
    cls = pick(rng, [optimizers.SGD, optimizers.Momentum, optimizers.Nesterov, optimizers.AdaGrad,
                     optimizers.RMSprop, optimizers.Adam])
    accepted = [k for k in OPTIMIZER_ARGS if k in cls.__init__.__code__.co_varnames]
    keys = {"lr"} | {k for k in accepted if rng.random() < 0.3}
    if rng.random() < 0.1:
        keys.add(pick(rng, list(OPTIMIZER_ARGS)))           # perhaps one it does not take
    kwargs = {k: pick(rng, OPTIMIZER_ARGS[k][:2] if rng.random() < 0.6 else OPTIMIZER_ARGS[k])
              for k in sorted(keys)}          # (a set's order changes with the hash seed)
    if rng.random() < 0.2:
        kwargs["lr"] = pick(rng, [optimizers.StepDecay(0.1, 2), optimizers.ExponentialDecay(1.0, 0.5),
                                  optimizers.InverseTimeDecay(0.5, 1.0)])
    log.write(f"    {cls.__name__}({kwargs})\n")
    opt = cls(**kwargs)                 # a refusal is judged by the caller
    twin = cls(**kwargs)
    twin._bind(twins)
    shapes = [tuple(int(rng.integers(0, 4)) for _ in range(int(rng.integers(0, 3)))) for _ in range(int(rng.integers(1, 4)))]
    params = [rng.uniform(-1, 1, shape).astype(dtype) for shape in shapes]
    mine, theirs = [p.copy() for p in params], [p.copy() for p in params]
    for step in range(int(rng.integers(1, 4))):
        grads = [rng.uniform(-1, 1, p.shape).astype(dtype) if rng.random() < 0.85 else random_array(rng, p.shape)
                 for p in params]
        if rng.random() < 0.1:
            grads = grads[:-1]
        before = ([p.tobytes() for p in mine], repr(opt._get_state()), opt.iterations)
        try:
            ok = opt.update(mine, grads)
        except (TypeError, ValueError) as exc:
            count("Optimizer.update", type(exc).__name__)
            if not str(exc).strip():
                raise Finding(f"Optimizer.update: {type(exc).__name__} without a message")
            if ([p.tobytes() for p in mine], repr(opt._get_state()), opt.iterations) != before:
                raise Finding(f"Optimizer.update: a refused update changed something ({exc})")
            continue
        count("Optimizer.update", "ok")
        twin_ok = twin.update(theirs, grads)
        if bool(ok) != bool(twin_ok) or opt.iterations != twin.iterations:
            raise Finding(f"Optimizer.update: finite {ok}, the twin {twin_ok}")
        for a, b in zip(mine, theirs):
            close(a, b, dtype, f"{cls.__name__}.update")
        for a, b in zip(opt._get_state()[1] or [], twin._get_state()[1] or []):
            for x, y in zip(a, b):
                close(x, y, dtype, f"{cls.__name__} state")
        if not ok:
            return                      # non-finite: the state is spent


def judge_failure(exc, op, before, net):
    import cnn_core
    if isinstance(exc, RuntimeError) and op == "forward" and "backward needs the forward pass" in str(exc):
        pass
    elif not isinstance(exc, (TypeError, ValueError)):
        raise Finding(f"{op}: {type(exc).__name__} instead of TypeError/ValueError: {exc}")
    if not str(exc).strip():
        raise Finding(f"{op}: {type(exc).__name__} without a message")
    after = deep_state(net)
    if op == "fit" and isinstance(exc, cnn_core.DivergenceError):
        if not all(numpy.isfinite(layer._params).all() for layer in net.layers):
            raise Finding(f"fit: DivergenceError left non-finite parameters: {exc}")
        if not ("epoch" in str(exc) and "learning rate" in str(exc)):
            raise Finding(f"fit: DivergenceError without the epoch and advice: {exc}")
        return
    if after != before:
        raise Finding(f"{op}: the failed call changed the network ({type(exc).__name__}: {exc})")


def run_both(spec, net, ref, method, args, kwargs, before):
    """The same call on the network and on its NumPy twin: both work and agree, or both fail
    alike (divergence may differ only where values are beyond 1e100 or parameters beyond 1e8).

    "Agree" allows what the NumPy twin itself moves when its starting parameters are perturbed
    at the level of rounding (see `sensitivity`): a network trained with a large learning rate
    amplifies the different roundings of the two backends, a correct one never goes further."""
    import cnn_core
    wild = params_huge(net) or params_huge(ref)
    start = snapshot_of(net)
    outcomes = []
    for which in (net, ref):
        try:
            outcomes.append(("ok", getattr(which, method)(*args, **kwargs)))
        except (TypeError, ValueError) as exc:
            outcomes.append((type(exc), exc))
    (kind, ours), (ref_kind, theirs) = outcomes
    validation = kwargs.get("validation_data")
    marginal = wild or any(huge(a) for a in args) or params_huge(net) or params_huge(ref) or (
        isinstance(validation, tuple) and len(validation) == 2 and huge(validation[0]))
    diverged = cnn_core.DivergenceError
    if kind != ref_kind:
        if marginal and diverged in (kind, ref_kind):
            count("net." + method, "DivergenceError near overflow on one backend only")
            if kind is diverged:
                judge_failure(ours, method, before, net)
            sync(ref, net)
            return
        raise Finding(f"{method}: ours {kind if kind == 'ok' else kind.__name__} "
                      f"({ours if kind != 'ok' else ''}), the NumPy twin "
                      f"{ref_kind if ref_kind == 'ok' else ref_kind.__name__} "
                      f"({theirs if ref_kind != 'ok' else ''})")
    if kind != "ok":
        if method == "fit" and kind is diverged and not marginal:      # both kept the same
            agree(spec, start, net, ref, method, args, kwargs, None, None, outcome=None)
        raise ours                      # judged by the caller, like any failure
    if method == "fit" and not all(numpy.isfinite(l._params).all() for l in net.layers):
        raise Finding("fit: returned normally with non-finite parameters")
    if method != "fit" and deep_state(net) != before:
        raise Finding(f"{method}: changed the network")
    if wild or any(huge(a) for a in args) or params_huge(net) or params_huge(ref):
        count("net." + method, "ok (not compared: parameters beyond 1e8, 1e3 with saturating "
                               "activations, or inputs beyond 1e100)")
    elif method == "fit" and kwargs.get("shuffle", True) and kwargs.get("seed") is None:
        count("net." + method, "ok (not compared: shuffled without a seed)")
    else:
        agree(spec, start, net, ref, method, args, kwargs, ours, theirs)
    sync(ref, net)


def snapshot_of(net):
    return ([layer._params.copy() for layer in net.layers], net.optimizer._get_state(),
            {k: list(v) for k, v in net.history.items()})


def quantities(net, method, result):
    """name -> values of what a call gave (continuous ones; accuracies are compared apart)."""
    q = {}
    if method == "fit":
        for i, layer in enumerate(net.layers):
            q[f"layer {i} parameters"] = layer._params
        for key in ("loss", "val_loss", "lr"):
            q[f"history {key}"] = net.history[key]
    elif method == "predict":
        q["predict"] = result
    elif method == "loss":
        q["loss"] = [result]
    elif method == "gradient":
        for i, (dW, db) in enumerate(result):
            q[f"gradient dW {i}"] = dW
            if db is not None:
                q[f"gradient db {i}"] = db
    return q


def twin_run(spec, start, method, args, kwargs, perturb=0.0, dtype=None):
    """quantities() of the call on a NumPy twin started from `start` (parameters, optimizer
    state, history), in `dtype` (default the network's), its parameters perturbed by a relative
    `perturb`; None when the call fails (a chaotic run diverges)."""
    twin = build(dict(spec, dtype=dtype or spec["dtype"]), "numpy")
    params, (iterations, state), history = start
    rng = numpy.random.default_rng(0)
    for layer, p in zip(twin.layers, params):
        numpy.copyto(layer._params, p * (1 + perturb * rng.uniform(-1, 1, p.shape)), casting="unsafe")
    twin.optimizer._set_state((iterations, None if state is None else
                               [[a.astype(twin.dtype) for a in slot] for slot in state]))
    twin.history = {k: list(v) for k, v in history.items()}
    try:
        with numpy.errstate(all="ignore"):
            result = getattr(twin, method)(*args, **kwargs)
    except ValueError:
        return None
    return {k: numpy.array(v, dtype=numpy.float64) for k, v in quantities(twin, method, result).items()}


def adaptive_noise(spec, start, net):
    """What the roundings of a near-zero gradient can move a parameter over the updates made:
    AdaGrad, RMSprop and Adam divide by sqrt(v) + eps, so a gradient that is rounding noise
    (about machine epsilon times its terms) moves a parameter by up to lr * epsilon / eps per
    update, and never more than about 10 lr; the two backends sum in different orders. Zero for
    the other optimizers."""
    opt = net.optimizer
    eps = getattr(opt, "eps", None)
    if eps is None:
        return 0.0
    updates = opt.iterations - start[1][0]
    return 10 * updates * spec["lr"] * min(1.0, 10 * numpy.finfo(net.dtype).eps / eps)


def near_ties(net, X):
    """Rows of X whose two largest outputs (logits for softmax) are within 1e-5 of each other
    (relative): which one is the argmax is a matter of rounding (saturated sigmoid and tanh
    outputs tie exactly)."""
    if net.n_out < 2:
        return 0
    with numpy.errstate(all="ignore"):
        out = numpy.sort(net.predict(X).astype(numpy.float64), axis=1)
    return int(numpy.count_nonzero(out[:, -1] - out[:, -2] <= 1e-5 * (1 + numpy.abs(out[:, -1]))))


def distance(a, b):
    with numpy.errstate(all="ignore"):
        return {k: float(numpy.nanmax(numpy.abs(a[k] - b[k]), initial=0.0)) for k in a}


def agree(spec, start, net, ref, method, args, kwargs, ours, theirs, outcome="ok"):
    """Compare the results of the network and its twin (see run_both); count `outcome` and how
    they agreed."""
    mine, twins = quantities(net, method, ours), quantities(ref, method, theirs)
    strict = True
    try:
        for name in mine:
            close(mine[name], twins[name], net.dtype, f"{method}: {name}")
    except Finding:
        strict = False
        # Training with a large learning rate amplifies the backends' different roundings.
        # float64: allow 10 times what the NumPy twin moves when its start is perturbed by a
        # relative 1e-12. float32: be no further than 10 times the NumPy twin from the same
        # computation in float64.
        if net.dtype == numpy.float64:
            base = {k: numpy.array(v, dtype=numpy.float64) for k, v in twins.items()}
            other = twin_run(spec, start, method, args, kwargs, perturb=1e-12)
        else:
            base = twin_run(spec, start, method, args, kwargs, dtype=numpy.float64)
            other = {k: numpy.array(v, dtype=numpy.float64) for k, v in twins.items()}
        if base is None or other is None:
            if outcome:
                count("net." + method, f"{outcome} (not compared: a NumPy twin diverges when perturbed)")
            return
        allowance = distance(base, other)
        extra = adaptive_noise(spec, start, net)
        try:
            for name in mine:
                close(mine[name], base[name], net.dtype, f"{method}: {name} (from the reference run)",
                      10 * allowance[name] + extra * (1 + scale_of(base[name])))
        except Finding:
            # Parameters that grew a thousandfold in one call: unstable training, where also
            # the absolute rounding noise of saturated activations' derivatives (1 - y*y with
            # y rounded to 1, computed by different tanh implementations) is amplified
            growth = scale_of(*[l._params for l in net.layers]) / max(1.0, scale_of(*start[0]))
            if method != "fit" or growth < 1e3:
                raise
            if outcome:
                count("net." + method, f"{outcome} (not compared: parameters grew 1e3-fold, unstable)")
            return
        if outcome:
            count("net." + method, f"{outcome} (agrees within 10 times the amplification of roundings)")
    else:
        if outcome:
            count("net." + method, f"{outcome} (agrees)")
    if method == "fit":
        if net.optimizer.iterations != ref.optimizer.iterations:
            raise Finding(f"fit: {net.optimizer.iterations} updates, the twin {ref.optimizer.iterations}")
        if not strict:
            return          # parameters apart by roundings' amplification: accuracies may differ
        X = numpy.asarray(args[0], dtype=numpy.float64).reshape(-1, net.n_in)
        validation = kwargs.get("validation_data")
        Xv = numpy.asarray(validation[0], dtype=numpy.float64).reshape(-1, net.n_in) if validation else X
        done = len(start[2]["accuracy"])          # the epochs of earlier calls
        for key, data in (("accuracy", X), ("val_accuracy", Xv)):
            n = len(data)
            for a, b in zip(net.history[key][done:], ref.history[key][done:]):
                if a == a and not (0 <= a <= 1 and abs(a * n - round(a * n)) < 1e-9):
                    raise Finding(f"fit: history {key} {a} is not a count of {n} rows")
                # the rows whose top outputs (nearly) tie may count either way
                if not (abs(a - b) <= (1 + near_ties(net, data)) / n + 1e-12 or (a != a and b != b)):
                    raise Finding(f"fit: history {key} {net.history[key]}, the twin {ref.history[key]}")
    elif method == "accuracy":
        X = numpy.asarray(args[0], dtype=numpy.float64).reshape(-1, net.n_in)
        if abs(ours - theirs) > (1 + near_ties(net, X)) / len(X) + 1e-12:
            raise Finding(f"accuracy {ours}, the twin {theirs}")


def load_hostile(rng, op, net, log):
    """Network.load of random bytes, of a truncated or byte-flipped file, or of a file whose
    configuration has one field changed: a ValueError naming the file, or (for the last two,
    where the change is one the format cannot see) the same or a valid network."""
    import json
    import cnn_core
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "net.npz")
        net.save(path)
        with open(path, "rb") as f:
            good = f.read()
        if op == "load_bytes":
            data = rng.bytes(int(rng.integers(0, 400)))
            if rng.random() < 0.5:
                data = b"PK\x03\x04" + data
        elif op == "load_truncated":
            data = good[:int(rng.integers(0, len(good)))]
        elif op == "load_corrupted":
            data = bytearray(good)
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
            data = bytes(data)
        else:
            with numpy.load(path, allow_pickle=False) as f:
                fields = {k: f[k] for k in f.files}
            config = json.loads(str(fields["config"]))
            where, key = mutate(rng, config)
            log.write(f"    config{where}[{key!r}] changed\n")
            fields["config"] = numpy.array(json.dumps(config))
            numpy.savez(path, **fields)
            data = None
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        try:
            back = cnn_core.Network.load(path)
        except ValueError as exc:
            if not str(exc).startswith(f"{path}: not a valid cnn_core Network file: "):
                raise Finding(f"{op}: the message does not name the file: {exc}")
            count(f"Network.load {op[5:]}", "ValueError")
            return
        count(f"Network.load {op[5:]}", "loaded")
        if op in ("load_bytes", "load_truncated") and data != good:
            raise Finding(f"{op}: {len(data)} bytes loaded as a network")
        if op == "load_corrupted" and deep_state(back) != deep_state(net):
            raise Finding("load_corrupted: a corrupted file loaded as another network")
        # whatever loaded is a working network
        probe = numpy.full(back.n_in, 0.5)
        try:
            back.predict(probe)
        except cnn_core.DivergenceError:
            pass
        back.save(path)
        cnn_core.Network.load(path)


def mutate(rng, config):
    """Change one random field of a saved network's configuration (in place)."""
    places = [((), config, k) for k in config if k != "history"]
    places += [(("layers", i), spec, k) for i, spec in enumerate(config["layers"]) for k in spec]
    places += [(("optimizer",), config["optimizer"], k) for k in config["optimizer"]]
    places += [(("optimizer", "config"), config["optimizer"]["config"], k)
               for k in config["optimizer"]["config"]]
    where, holder, key = places[int(rng.integers(0, len(places)))]
    holder[key] = JSON_VALUES[int(rng.integers(0, len(JSON_VALUES)))]
    return where, key


def random_scalar(rng):
    return rng.choice([0, 1, 3, -2, 2.5, "3", None, True, numpy.int64(4), float("nan"), 1e9, 0.1])


def describe(value):
    if isinstance(value, numpy.ndarray):
        flags = ("F" if value.flags.f_contiguous and not value.flags.c_contiguous else "") + \
                ("" if value.flags.writeable else "ro")
        return f"array{value.shape}:{value.dtype}{':' + flags if flags else ''}"
    if isinstance(value, list):
        return f"list(len {len(value)})"
    return repr(value)


# the book and deep networks' own cases twice as often as those of stress/fuzz_process.py
KINDS = ("book", "deep", "objects", "book", "deep", "files", "env")


def child(cases, seed, kinds):
    import warnings
    warnings.simplefilter("ignore")            # NumPy warns on casts of NaN to int and such
    rng = numpy.random.default_rng(seed)
    runs = {"book": run_case, "deep": run_deep_case,
            "objects": lambda rng, i, log: objects_case(rng, log, count),
            "files": lambda rng, i, log: files_case(rng, log, count),
            "env": lambda rng, i, log: env_case(rng, log, count)}
    findings = 0
    for i in range(cases):
        try:
            runs[kinds[i % len(kinds)]](rng, i, sys.stdout)
        except Finding as exc:
            findings += 1
            print(f"FINDING in case {i}: {exc}", flush=True)
        except Exception:                      # noqa: BLE001
            findings += 1
            print(f"FINDING in case {i}: the harness itself failed:\n{traceback.format_exc()}", flush=True)
    summary = "; ".join(f"{op} {outcome} {n}" for (op, outcome), n in sorted(OUTCOMES.items()))
    print(f"OUTCOMES {summary}", flush=True)
    print(f"DONE {cases} cases, {findings} findings", flush=True)
    return 1 if findings else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"which kinds of case, in turn (default: all: {','.join(KINDS)})")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    if not kinds or any(k not in KINDS for k in kinds):
        parser.error(f"--kinds must list some of {','.join(KINDS)}; got {args.kinds!r}")
    if args.child:
        return child(args.cases, args.seed, kinds)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--cases",
                           str(args.cases), "--seed", str(args.seed), "--kinds", args.kinds],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = proc.stdout.splitlines()
    findings = [line for line in lines if line.startswith("FINDING")]
    done = [line for line in lines if line.startswith("DONE")]
    for line in findings:
        print(line)
    if proc.returncode < 0 or not done:
        last = [line for line in lines if line.startswith("case ")][-1:] or ["(before any case)"]
        print(f"CRASH: the child process died (status {proc.returncode}) during: {last[0]}")
        print(proc.stderr[-2000:])
        return 1
    print(next(line for line in lines if line.startswith("OUTCOMES")))
    print(done[0])
    return 0 if not findings else 1


if __name__ == "__main__":
    sys.exit(main())
