"""The fuzzer's cases for objects that leave the process, files that cannot be written, and the
environments OpenMP runs in (imported by fuzz.py; see its docstring).

- "objects": a random network (book or deep, either dtype, trained or not, with an update
  pending or not, any optimizer and schedule), a random Dense or optimizer, through pickle
  (any protocol), copy.deepcopy, copy.copy, joblib, or a damaged pickle; the copy must equal
  the original, be independent of it, and continue training bit for bit as it does; a damaged
  pickle must raise the FileError that load raises.
- "files": save under a fault (a file-size limit, /dev/full, a folder, a read-only file
  system, an empty path, a text-mode file object); the save must raise an OSError, TypeError
  or ValueError, leave the network unchanged and the previous good file whole and loadable.
- "env": training in a forked child (after the parent trained on several threads), and in a
  new interpreter under OMP_THREAD_LIMIT, OMP_DYNAMIC or OMP_MAX_ACTIVE_LEVELS with any
  n_threads: it must finish in time and give the same bits as one thread here.
"""
import copy
import io
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile

import numpy

CHILD_TIMEOUT = 60


class Finding(Exception):
    pass


def _net_fingerprint(net):
    import cnn_core
    if isinstance(net, cnn_core.Network):
        iterations, state = net.optimizer._get_state()
        parts = [layer._params.tobytes() for layer in net.layers]
        parts += [a.tobytes() for s in state or [] for a in s]
        parts.append(repr((iterations, net.history)).encode())
        return b"".join(parts)
    if isinstance(net, cnn_core.neuralNetwork):
        return net.wih.tobytes() + net.who.tobytes() + repr((net.lr, net.n_threads)).encode()
    if hasattr(net, "_params"):             # Dense
        return net._params.tobytes() + net._grads.tobytes()
    iterations, state = net._get_state()    # an optimizer
    return repr((iterations, net.get_config())).encode() + b"".join(
        a.tobytes() for s in state or [] for a in s)


def _random_network(rng):
    import cnn_core
    from cnn_core import optimizers
    from cnn_core.layers import Dense
    dtype = numpy.float64 if rng.random() < 0.6 else numpy.float32
    n_in, n_hidden, n_out = (int(rng.integers(1, 9)) for _ in range(3))
    X = rng.random((int(rng.integers(1, 30)), n_in))
    if rng.random() < 0.5:
        net = cnn_core.neuralNetwork(n_in, n_hidden, n_out, float(rng.uniform(0.01, 0.5)),
                                     dtype=dtype, seed=int(rng.integers(0, 99)),
                                     activation=str(rng.choice(["sigmoid", "relu"])),
                                     n_threads=[None, 1, 2][int(rng.integers(0, 3))])
        T = rng.uniform(0.01, 0.99, (len(X), n_out))
        how = rng.integers(0, 3)
        if how == 1:
            net.fit(X, T, epochs=int(rng.integers(1, 3)), shuffle=bool(rng.random() < 0.5), seed=1)
        elif how == 2:
            net.train(X[0], T[0])           # an update pending
        return net, X, T
    names = list(optimizers.OPTIMIZERS)
    name = names[int(rng.integers(0, len(names)))]
    lr = float(rng.uniform(0.001, 0.1))
    if rng.random() < 0.4:
        lr = [optimizers.StepDecay(lr, 3), optimizers.ExponentialDecay(lr, 0.9, 2),
              optimizers.InverseTimeDecay(lr, 0.5)][int(rng.integers(0, 3))]
    opt = optimizers.OPTIMIZERS[name](lr)
    out = "softmax" if rng.random() < 0.5 else "sigmoid"
    net = cnn_core.Network([Dense(n_in, n_hidden, str(rng.choice(["relu", "tanh", "sigmoid"])),
                                  dtype=dtype, seed=1, bias=bool(rng.random() < 0.8)),
                            Dense(n_hidden, max(2, n_out), out, dtype=dtype, seed=2)],
                           loss="cross_entropy" if out == "softmax" else "squared_error",
                           optimizer=opt, backend="cython" if rng.random() < 0.8 else "numpy")
    T = rng.integers(0, net.n_out, len(X))
    if rng.random() < 0.7:
        net.fit(X, T, epochs=int(rng.integers(1, 3)), batch_size=int(rng.integers(1, 8)), seed=2)
    return net, X, T


def _continue(net, X, T):
    import cnn_core
    if isinstance(net, cnn_core.Network):
        net.fit(X, T, epochs=1, batch_size=3, seed=4)
    else:
        for x, t in zip(X, T):
            net.train(x, t)


def objects_case(rng, log, count):
    """A random object through a random copier; see the module docstring."""
    import cnn_core
    from cnn_core import _npzfile, optimizers
    from cnn_core.layers import Dense
    net, X, T = _random_network(rng)
    how = ["pickle", "deepcopy", "copy", "joblib", "damaged"][int(rng.integers(0, 5))]
    subject = net
    if rng.random() < 0.15:
        subject = net.layers[0] if isinstance(net, cnn_core.Network) else Dense(3, 2, seed=0)
    elif rng.random() < 0.15:
        subject = net.optimizer if isinstance(net, cnn_core.Network) else optimizers.Adam()
    log.write(f"    objects: {type(subject).__name__} via {how}\n")
    before = _net_fingerprint(subject)
    if how == "damaged":
        buffer = io.BytesIO()
        subject._write(buffer)
        data = buffer.getvalue()
        cut = data[:int(rng.integers(0, len(data)))]
        try:
            _npzfile.restore(type(subject), cut)
        except _npzfile.FileError as exc:
            if "not a valid cnn_core" not in str(exc):
                raise Finding(f"a damaged pickle of a {type(subject).__name__}: {exc}")
            count("pickle damaged", "FileError")
            return
        raise Finding(f"{len(cut)} of {len(data)} bytes unpickled as a {type(subject).__name__}")
    if how == "pickle":
        twin = pickle.loads(pickle.dumps(subject, protocol=int(rng.integers(2, pickle.HIGHEST_PROTOCOL + 1))))
    elif how == "deepcopy":
        twin = copy.deepcopy(subject)
    elif how == "copy":
        twin = copy.copy(subject)
    else:
        import joblib
        with tempfile.TemporaryDirectory() as folder:
            joblib.dump(subject, os.path.join(folder, "o.joblib"))
            twin = joblib.load(os.path.join(folder, "o.joblib"), mmap_mode="r")
    if type(twin) is not type(subject) or _net_fingerprint(twin) != _net_fingerprint(subject):
        raise Finding(f"{how} of a {type(subject).__name__} is not equal to it")
    if _net_fingerprint(subject) != before:
        raise Finding(f"{how} changed the {type(subject).__name__} copied")
    if subject is net:
        _continue(twin, X, T)
        if _net_fingerprint(net) != before:
            raise Finding(f"training the {how} copy changed the original")
        _continue(net, X, T)
        if _net_fingerprint(twin) != _net_fingerprint(net):
            raise Finding(f"the {how} copy of a {type(net).__name__} trained to other bits")
    count(f"{how} {type(subject).__name__}", "ok")


def files_case(rng, log, count):
    """A save under a random fault; see the module docstring."""
    net, X, T = _random_network(rng)
    with tempfile.TemporaryDirectory() as folder:
        good = os.path.join(folder, "net.npz")
        net.save(good)
        with open(good, "rb") as f:
            good_bytes = f.read()
        fault = ["size-limit", "/dev/full", "folder", "read-only", "empty", "text-file",
                 "missing-folder"][int(rng.integers(0, 7))]
        log.write(f"    files: {fault}\n")
        target = {"/dev/full": "/dev/full", "folder": folder, "read-only": "/sys/net.npz",
                  "empty": "", "missing-folder": os.path.join(folder, "no", "net.npz")}.get(fault, good)
        before = _net_fingerprint(net)
        limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            if fault == "size-limit":
                resource.setrlimit(resource.RLIMIT_FSIZE, (int(rng.integers(0, len(good_bytes))), limits[1]))
            try:
                net.save(io.StringIO() if fault == "text-file" else target)
            except (OSError, TypeError, ValueError) as exc:
                outcome = type(exc).__name__
                if not str(exc).strip():
                    raise Finding(f"save under {fault}: {outcome} without a message")
            else:
                raise Finding(f"save under {fault} returned normally")
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, limits)
            signal.signal(signal.SIGXFSZ, handler)
        if _net_fingerprint(net) != before:
            raise Finding(f"a failed save under {fault} changed the network")
        with open(good, "rb") as f:
            if f.read() != good_bytes:
                raise Finding(f"a failed save under {fault} changed the previous file")
        leftovers = sorted(set(os.listdir(folder)) - {"net.npz"})
        if leftovers:
            raise Finding(f"a failed save under {fault} left {leftovers} behind")
        back = type(net).load(good)
        if _net_fingerprint(back) != _net_fingerprint(net):
            raise Finding(f"the previous file no longer loads as the network after {fault}")
        count(f"save {fault}", outcome)


_ENV_SCRIPT = """
import sys, hashlib, numpy, cnn_core
n_in, n_hidden, n_out, n_threads, rows, seed = map(int, sys.argv[1:7])
rng = numpy.random.default_rng(seed)
X = rng.random((rows, n_in)); T = rng.uniform(0.01, 0.99, (rows, n_out))
net = cnn_core.neuralNetwork(n_in, n_hidden, n_out, 0.1, seed=seed, n_threads=n_threads)
net.fit(X, T, epochs=2)
for x, t in zip(X[:20], T[:20]):
    net.train(x, t)
print(hashlib.sha256(net.wih.tobytes() + net.who.tobytes()).hexdigest())
"""


def _expected(n_in, n_hidden, n_out, rows, seed):
    import hashlib
    import cnn_core
    rng = numpy.random.default_rng(seed)
    X = rng.random((rows, n_in))
    T = rng.uniform(0.01, 0.99, (rows, n_out))
    net = cnn_core.neuralNetwork(n_in, n_hidden, n_out, 0.1, seed=seed, n_threads=1)
    net.fit(X, T, epochs=2)
    for x, t in zip(X[:20], T[:20]):
        net.train(x, t)
    return hashlib.sha256(net.wih.tobytes() + net.who.tobytes()).hexdigest(), net


def env_case(rng, log, count):
    """Training in a forked child, or in a new interpreter under an OpenMP setting."""
    import cnn_core
    big = rng.random() < 0.5                 # the block kernel of fit (wih >= 4096 weights)
    n_in, n_hidden, n_out = (int(rng.integers(100, 300)), int(rng.integers(16, 40)), 10) if big else \
        (int(rng.integers(1, 20)), int(rng.integers(1, 20)), int(rng.integers(1, 6)))
    rows, seed, n_threads = int(rng.integers(20, 80)), int(rng.integers(0, 1000)), int(rng.integers(1, 5))
    want, _ = _expected(n_in, n_hidden, n_out, rows, seed)
    if rng.random() < 0.95:
        # the parent trains on several threads first (libgomp's team exists), then forks
        warm = cnn_core.neuralNetwork(n_in, n_hidden, n_out, 0.1, seed=0, n_threads=2)
        warm.fit(numpy.random.default_rng(1).random((40, n_in)), numpy.full((40, n_out), 0.5))
        log.write(f"    env: fork, {n_in}-{n_hidden}-{n_out}, n_threads={n_threads}\n")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                namespace = {}
                sys.argv = ["x", *map(str, (n_in, n_hidden, n_out, n_threads, rows, seed))]
                out = io.StringIO()
                sys.stdout = out
                exec(_ENV_SCRIPT, namespace)
                os.write(write_end, out.getvalue().encode())
            finally:
                os._exit(0)
        os.close(write_end)
        got = _wait_child(pid, read_end)
        what = "a forked child"
    else:
        env = dict(os.environ)
        setting = [("OMP_THREAD_LIMIT", "1"), ("OMP_THREAD_LIMIT", "2"), ("OMP_DYNAMIC", "true"),
                   ("OMP_MAX_ACTIVE_LEVELS", "0"), ("OMP_NUM_THREADS", "1")][int(rng.integers(0, 5))]
        env[setting[0]] = setting[1]
        log.write(f"    env: {setting[0]}={setting[1]}, {n_in}-{n_hidden}-{n_out}, n_threads={n_threads}\n")
        try:
            result = subprocess.run([sys.executable, "-c", _ENV_SCRIPT,
                                     *map(str, (n_in, n_hidden, n_out, n_threads, rows, seed))],
                                    capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env,
                                    cwd=tempfile.gettempdir())    # not a source tree's cnn_core
        except subprocess.TimeoutExpired:
            raise Finding(f"training under {setting[0]}={setting[1]} with n_threads={n_threads} hung")
        if result.returncode != 0:
            raise Finding(f"training under {setting[0]}={setting[1]} failed ({result.returncode}): "
                          f"{result.stderr[-500:]}")
        got = result.stdout.strip()
        what = f"{setting[0]}={setting[1]}"
    if got != want:
        raise Finding(f"training in {what} with n_threads={n_threads} gave other bits than one "
                      f"thread ({got[:12]} vs {want[:12]})")
    count(f"env {what.split('=')[0]}", "ok")


def _wait_child(pid, read_end):
    import time
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_end)
            raise Finding("training in a forked child hung")
        time.sleep(0.005)
    with os.fdopen(read_end) as f:
        text = f.read().strip()
    if os.waitstatus_to_exitcode(status) != 0 or not text:
        raise Finding(f"training in a forked child failed (status {status})")
    return text
