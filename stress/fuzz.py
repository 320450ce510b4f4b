"""Fuzz every public entry point of cnn_core with random shapes, dtypes, values and layouts.

    python stress/fuzz.py --cases 10000 [--seed 0]

The cases run in a child process, so that a crash of the interpreter (a segfault in compiled
code) is caught and reported with the case that caused it. Each case must either work, and then
agree with the NumPy version (cnn_core.reference), or raise TypeError/ValueError with a message;
after a failed call the network's parameters must be byte-for-byte unchanged. Anything else is a
finding: the script prints it and exits with status 1.
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


class Finding(Exception):
    pass


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
        if not ours_finite:
            # allowed only where the NumPy version left sane numbers too (it has no checks), and
            # then every later call must say so rather than compute with the broken weights
            if ref_scale < 1e100:
                raise Finding(f"{op}: our weights became non-finite, the NumPy version's did not")
            try:
                net.query(numpy.full(inodes, 0.5))
                raise Finding(f"{op}: query with non-finite weights did not raise")
            except cnn_core.DivergenceError:
                return
        if not ref_scale < 1e100:
            return      # beyond 1e100 the order of roundings decides overflow; nothing to compare
        if not (numpy.allclose(net.wih, ref.wih, rtol=tol, atol=tol)
                and numpy.allclose(net.who, ref.who, rtol=tol, atol=tol)):
            with numpy.errstate(all="ignore"):
                raise Finding(f"{op}: weights differ from the NumPy version by "
                              f"{max(numpy.abs(net.wih - ref.wih).max(), numpy.abs(net.who - ref.who).max())} "
                              f"(largest |weight|: ours {max(numpy.abs(net.wih).max(), numpy.abs(net.who).max())}, "
                              f"NumPy {max(numpy.abs(ref.wih).max(), numpy.abs(ref.who).max())})")


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


def child(cases, seed):
    import warnings
    warnings.simplefilter("ignore")            # NumPy warns on casts of NaN to int and such
    rng = numpy.random.default_rng(seed)
    findings = 0
    for i in range(cases):
        try:
            run_case(rng, i, sys.stdout)
        except Finding as exc:
            findings += 1
            print(f"FINDING in case {i}: {exc}", flush=True)
        except Exception:                      # noqa: BLE001
            findings += 1
            print(f"FINDING in case {i}: the harness itself failed:\n{traceback.format_exc()}", flush=True)
    summary = ", ".join(f"{op} {outcome} {n}" for (op, outcome), n in sorted(OUTCOMES.items()))
    print(f"OUTCOMES {summary}", flush=True)
    print(f"DONE {cases} cases, {findings} findings", flush=True)
    return 1 if findings else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.cases, args.seed)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--cases",
                           str(args.cases), "--seed", str(args.seed)],
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
