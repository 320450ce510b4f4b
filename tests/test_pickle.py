"""Objects that leave the process: pickle, copy, deepcopy, joblib, multiprocessing, file objects.

Whatever could crash the interpreter (Cython's automatic pickling did: copy.deepcopy of a
network was a segmentation fault) or hang it (a fork while another thread trains) runs in a
subprocess with a timeout, so that a crash or a hang fails the test instead of the run."""
import copy
import io
import os
import pickle
import subprocess
import sys
import textwrap

import numpy
import pytest

import cnn_core
from conftest import NEUTRAL_CWD, child_env
from cnn_core import _npzfile, optimizers, reference
from cnn_core.layers import Dense

import process_helpers as helpers

HERE = os.path.dirname(os.path.abspath(__file__))


def run_python(code, timeout=120, env=None):
    """Run `code` in a new interpreter (tests/ importable); its CompletedProcess. A crash or a
    hang fails the calling test, not the test run."""
    environment = child_env(HERE, **(env or {}))
    try:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                                text=True, timeout=timeout, env=environment,
                                cwd=NEUTRAL_CWD)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the child hung (no exit within {timeout} s); output so far:\n{exc.stdout}\n{exc.stderr}")
    assert result.returncode == 0, (f"the child exited with {result.returncode}:\n"
                                    f"{result.stdout}\n{result.stderr}")
    return result


COPIERS = {
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "pickle-protocol-2": lambda obj: pickle.loads(pickle.dumps(obj, protocol=2)),
    "deepcopy": copy.deepcopy,
    "copy": copy.copy,
}


# ------------------------------------------------------------------------------------------
# The crash that was: in a subprocess, so that a regression fails this test only
# ------------------------------------------------------------------------------------------

def test_deepcopy_copy_and_pickle_of_every_object_do_not_crash():
    result = run_python("""
        import copy, pickle, numpy, cnn_core
        from cnn_core import optimizers, reference
        from cnn_core.layers import Dense
        from cnn_core._dispatch import kernels
        for dtype in (numpy.float64, numpy.float32):
            net = cnn_core.neuralNetwork(4, 3, 2, 0.3, dtype=dtype)
            for each in (net, reference.neuralNetwork(4, 3, 2, 0.3, dtype=dtype),
                         cnn_core.Network([Dense(4, 3, dtype=dtype)]), Dense(4, 3, dtype=dtype),
                         optimizers.Adam(), optimizers.StepDecay(0.1, 3)):
                copy.deepcopy(each); copy.copy(each); pickle.loads(pickle.dumps(each))
            try:
                pickle.dumps(net._kernel)
            except TypeError as exc:
                assert "cannot be pickled" in str(exc), exc
            else:
                raise AssertionError("BookState pickled")
            try:
                copy.deepcopy(net._kernel)
            except TypeError:
                pass
            else:
                raise AssertionError("BookState copied")
        print("ok")
    """)
    assert result.stdout.strip() == "ok"


# ------------------------------------------------------------------------------------------
# Round trips: independent copies that continue training bit for bit
# ------------------------------------------------------------------------------------------

def make(kind, dtype, trained):
    if kind == "book":
        return helpers.book(dtype) if trained else cnn_core.neuralNetwork(6, 5, 3, 0.3, dtype=dtype, seed=1)
    if kind == "deep-adam":
        return helpers.deep(dtype) if trained else cnn_core.Network(
            [Dense(6, 8, "relu", dtype=dtype, seed=1), Dense(8, 3, "softmax", dtype=dtype, seed=2)],
            loss="cross_entropy", optimizer=optimizers.Adam(optimizers.StepDecay(0.01, 7)))
    if kind == "deep-momentum":
        opt = optimizers.SGD(optimizers.ExponentialDecay(0.1, 0.9, 5), momentum=0.9)
        return helpers.deep(dtype, opt) if trained else cnn_core.Network(
            [Dense(6, 8, "relu", dtype=dtype, seed=1), Dense(8, 3, "softmax", dtype=dtype, seed=2)],
            loss="cross_entropy", optimizer=opt)
    raise AssertionError(kind)


@pytest.mark.parametrize("how", COPIERS)
@pytest.mark.parametrize("trained", [False, True], ids=["new", "trained"])
@pytest.mark.parametrize("kind", ["book", "deep-adam", "deep-momentum"])
def test_a_copy_is_independent_and_continues_training_bit_for_bit(dtype, kind, trained, how):
    original = make(kind, dtype, trained)
    twin = COPIERS[how](original)
    assert type(twin) is type(original)
    assert helpers.fingerprint(twin) == helpers.fingerprint(original)
    assert twin._lock is not original._lock and twin._training is not original._training
    if kind == "book":
        assert twin.wih is not original.wih and twin._kernel is not original._kernel
        assert (twin.lr, twin.n_threads, twin.dtype, twin.activation) == \
               (original.lr, original.n_threads, original.dtype, original.activation)
    else:
        assert twin.optimizer is not original.optimizer
        assert twin.optimizer.iterations == original.optimizer.iterations
        assert twin.optimizer.lr == original.optimizer.lr       # the schedule's position
        assert twin.backend == original.backend
        assert all(a is not b for a, b in zip(twin.layers, original.layers))
        assert all(a._params is not b._params for a, b in zip(twin.layers, original.layers))
    before = helpers.fingerprint(original)
    helpers.continue_training(twin)
    assert helpers.fingerprint(original) == before           # training the copy left it alone
    helpers.continue_training(original)
    assert helpers.fingerprint(twin) == helpers.fingerprint(original)


@pytest.mark.parametrize("how", COPIERS)
def test_the_numpy_version_copies_and_continues_the_same(dtype, how):
    net = reference.neuralNetwork(6, 5, 3, 0.3, dtype=dtype, seed=1)
    X, T = helpers.data()
    net.fit(X, T)
    twin = COPIERS[how](net)
    assert twin.wih is not net.wih and twin.wih.dtype == dtype
    for each in (net, twin):
        each.fit(X, T)
    assert twin.wih.tobytes() == net.wih.tobytes() and twin.who.tobytes() == net.who.tobytes()


def test_the_two_book_classes_read_each_others_pickled_form(tmp_path):
    fast = helpers.book()
    slow = reference.neuralNetwork._read(io.BytesIO(pickle.dumps(fast) and _bytes_of(fast)))
    numpy.testing.assert_array_equal(slow.wih, fast.wih)
    back = cnn_core.neuralNetwork._read(io.BytesIO(_bytes_of(slow)))
    numpy.testing.assert_array_equal(back.who, fast.who)


def _bytes_of(obj):
    buffer = io.BytesIO()
    obj._write(buffer)
    return buffer.getvalue()


def test_a_network_copied_mid_way_through_fit_continues_as_the_original():
    """deepcopy from a callback between epochs: the copy holds the optimizer state, iteration
    count, schedule position and history of that moment."""
    X, T = helpers.data()
    copies = []
    net = make("deep-adam", numpy.float64, trained=False)
    net.fit(X, T, epochs=3, batch_size=8, seed=0,
            callbacks=[lambda n, epoch, logs: copies.append(copy.deepcopy(n)) if epoch == 1 else None])
    twin = copies[0]
    assert len(twin.history["loss"]) == 1 and twin.optimizer.iterations == 5
    reference_run = make("deep-adam", numpy.float64, trained=False)
    reference_run.fit(X, T, epochs=1, batch_size=8, seed=0)
    assert helpers.fingerprint(twin) == helpers.fingerprint(reference_run)


def test_a_pending_update_is_carried(dtype):
    net = cnn_core.neuralNetwork(6, 5, 3, 0.3, dtype=dtype, seed=1)
    X, T = helpers.data()
    net.train(X[0], T[0])               # the update of wih is pending
    assert net._kernel.pending
    twin = pickle.loads(pickle.dumps(net))
    numpy.testing.assert_array_equal(twin.query(X), net.query(X))


def test_a_dense_layer_and_an_optimizer_carry_their_state(dtype):
    layer = Dense(4, 3, "sigmoid", slope=2.0, dtype=dtype, seed=0)
    X = numpy.random.default_rng(0).random((5, 4)).astype(dtype)
    layer.forward(X)
    layer.backward(numpy.ones((5, 3), dtype))
    opt = optimizers.RMSprop(0.01)
    opt.update(layer.parameters(), layer.gradients())
    twin, twin_opt = copy.deepcopy(layer), pickle.loads(pickle.dumps(opt))
    numpy.testing.assert_array_equal(twin.dW, layer.dW)
    assert twin.slope == 2.0 and twin_opt.iterations == 1
    for each, o in ((layer, opt), (twin, twin_opt)):
        o.update(each.parameters(), each.gradients())
    assert twin._params.tobytes() == layer._params.tobytes()
    assert twin_opt._state[0][0].tobytes() == opt._state[0][0].tobytes()


def test_a_layer_of_a_network_copies_into_a_free_layer():
    net = helpers.deep()
    layer = copy.deepcopy(net.layers[0])
    assert layer._owner is None and layer._lock is not net._lock
    cnn_core.Network([layer, Dense(8, 3, "softmax")], loss="cross_entropy")     # free to join


def test_a_network_on_the_numpy_backend_stays_on_it():
    X, T = helpers.data()
    net = cnn_core.Network([Dense(6, 3, "sigmoid", seed=0)], backend="numpy")
    net.fit(X, T, epochs=1, batch_size=4)
    assert pickle.loads(pickle.dumps(net)).backend == "numpy"
    assert cnn_core.Network.load(io.BytesIO(_bytes_of(net)), backend="cython").backend == "cython"


# ------------------------------------------------------------------------------------------
# The pickled form is the save format: checked as load checks, versioned
# ------------------------------------------------------------------------------------------

class _Forged:
    """Pickles as `cls` restored from `data` (what a hostile or damaged pickle holds)."""

    def __init__(self, cls, data):
        self.cls, self.data = cls, data

    def __reduce__(self):
        return _npzfile.restore, (self.cls, self.data)


@pytest.mark.parametrize("cls, good", [
    (cnn_core.neuralNetwork, lambda: helpers.book()),
    (cnn_core.Network, lambda: helpers.deep()),
    (Dense, lambda: Dense(3, 2)),
    (optimizers.Adam, lambda: optimizers.Adam()),
])
def test_a_truncated_or_hostile_pickle_is_refused_as_load_refuses_it(cls, good):
    data = _bytes_of(good())
    for damaged in (data[:len(data) // 2], data[:30], b"not an archive"):
        with pytest.raises(_npzfile.FileError, match=r"<BytesIO>: not a valid cnn_core"):
            pickle.loads(pickle.dumps(_Forged(cls, damaged)))
    with pytest.raises(_npzfile.FileError, match=r"must carry its file as bytes"):
        pickle.loads(pickle.dumps(_Forged(cls, "text")))


def test_a_pickle_carries_the_format_version():
    net = helpers.book()
    fields = dict(numpy.load(io.BytesIO(_bytes_of(net)), allow_pickle=False))
    assert int(fields["format_version"]) == 1 and str(fields["kind"]) == "cnn_core.neuralNetwork"
    fields["format_version"] = numpy.array(99)
    forged = io.BytesIO()
    numpy.savez(forged, **fields)
    with pytest.raises(ValueError, match=r"format version 99; this cnn_core reads version 1"):
        pickle.loads(pickle.dumps(_Forged(cnn_core.neuralNetwork, forged.getvalue())))


def test_a_pickled_optimizer_of_another_class_is_refused():
    with pytest.raises(ValueError, match=r"it holds a Adam, not a SGD"):
        pickle.loads(pickle.dumps(_Forged(optimizers.SGD, _bytes_of(optimizers.Adam()))))


def test_memory_mapped_read_only_loads_train(tmp_path):
    """joblib.load(mmap_mode="r") hands out read-only memory maps for large arrays: what the
    kernels write must be the network's own copy."""
    joblib = pytest.importorskip("joblib")
    for net in (helpers.book(), helpers.deep()):
        joblib.dump(net, tmp_path / "net.joblib")
        back = joblib.load(tmp_path / "net.joblib", mmap_mode="r")
        assert helpers.fingerprint(back) == helpers.fingerprint(net)
        helpers.continue_training(back)
        helpers.continue_training(net)
        assert helpers.fingerprint(back) == helpers.fingerprint(net)


def test_sklearn_clone_of_a_network():
    base = pytest.importorskip("sklearn.base")
    net = helpers.book()
    twin = base.clone(net, safe=False)
    assert helpers.fingerprint(twin) == helpers.fingerprint(net) and twin.wih is not net.wih


# ------------------------------------------------------------------------------------------
# Processes (in a subprocess each: a crash in a worker or in the parent fails only the test)
# ------------------------------------------------------------------------------------------

PROCESS_SCRIPT = """
    import sys, numpy
    import process_helpers as h
    def check(results, originals):
        for got, net in zip(results, originals):
            assert type(got) is type(net)
            assert h.fingerprint(got) == h.fingerprint(h.continue_training(net)), "differs"
    if __name__ == "__main__":
        nets = [h.book(), h.book(numpy.float32, n_threads=2), h.deep(), h.deep(numpy.float32)]
        copies = [h.book(), h.book(numpy.float32, n_threads=2), h.deep(), h.deep(numpy.float32)]
        %s
        check(results, copies)
        print("ok")
"""

PROCESS_RUNS = {
    "multiprocessing-fork": """
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map(h.train_and_return, nets)""",
    "multiprocessing-spawn": """
        import multiprocessing
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            results = pool.map(h.train_and_return, nets)""",
    "multiprocessing-forkserver": """
        import multiprocessing
        with multiprocessing.get_context("forkserver").Pool(2) as pool:
            results = pool.map(h.train_and_return, nets)""",
    "ProcessPoolExecutor": """
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(2) as pool:
            results = list(pool.map(h.train_and_return, nets))""",
    "joblib-loky": """
        from joblib import Parallel, delayed
        results = Parallel(n_jobs=2, backend="loky")(delayed(h.train_and_return)(n) for n in nets)""",
    "joblib-multiprocessing": """
        from joblib import Parallel, delayed
        results = Parallel(n_jobs=2, backend="multiprocessing")(delayed(h.train_and_return)(n) for n in nets)""",
}


@pytest.mark.parametrize("run", PROCESS_RUNS)
def test_networks_go_to_worker_processes_and_come_back(run):
    if run.startswith("joblib"):
        pytest.importorskip("joblib")
    body = textwrap.indent(textwrap.dedent(PROCESS_RUNS[run]).strip(), " " * 4)
    result = run_python(textwrap.dedent(PROCESS_SCRIPT) % body.strip(), timeout=180)
    assert result.stdout.strip().endswith("ok")


def test_joblib_dump_and_load(tmp_path):
    pytest.importorskip("joblib")
    run_python(f"""
        import joblib, process_helpers as h
        for make in (h.book, h.deep):
            joblib.dump(make(), {str(tmp_path / 'net.joblib')!r})
            back = joblib.load({str(tmp_path / 'net.joblib')!r})
            assert h.fingerprint(h.continue_training(back)) == h.fingerprint(h.continue_training(make()))
    """)


@pytest.mark.parametrize("kind", ["book", "deep"])
def test_a_fork_while_fit_runs_in_another_thread_leaves_a_usable_child(kind):
    """The child of a fork taken while another thread trains must not wait for a lock that
    thread held (it does not exist in the child), and its copy must be between two steps."""
    make = ("cnn_core.neuralNetwork(784, 64, 10, 0.1, seed=0, n_threads=2)" if kind == "book" else
            "cnn_core.Network([Dense(784, 64, 'relu', seed=0), Dense(64, 10, 'softmax', seed=1)], "
            "loss='cross_entropy', optimizer=optimizers.SGD(0.1))")
    fit = ("net.fit(X, T, epochs=30)" if kind == "book" else "net.fit(X, labels, epochs=30, batch_size=1)")
    result = run_python(f"""
        import os, sys, threading, time, warnings
        import numpy, cnn_core
        from cnn_core import optimizers
        from cnn_core.layers import Dense
        warnings.simplefilter("ignore", DeprecationWarning)    # fork() with threads, on 3.12+
        rng = numpy.random.default_rng(0)
        X = rng.random((2000, 784)); labels = rng.integers(0, 10, 2000)
        T = numpy.full((2000, 10), 0.01); T[numpy.arange(2000), labels] = 0.99
        net = {make}
        worker = threading.Thread(target=lambda: {fit}, daemon=True)
        worker.start()
        time.sleep(0.3)
        pids = []
        for _ in range(5):
            pid = os.fork()
            if pid == 0:
                # the child: the trainer thread is gone; the network must be usable
                out = net.predict(X[:10])
                assert numpy.isfinite(out).all()
                {fit.replace("epochs=30", "epochs=1")}
                os._exit(0)
            pids.append(pid)
            time.sleep(0.05)
        deadline = time.monotonic() + 90
        for pid in pids:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    assert os.waitstatus_to_exitcode(status) == 0, status
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    print("child hung"); sys.exit(3)
                time.sleep(0.05)
        print("ok", worker.is_alive())
        os._exit(0)
    """, timeout=150)
    assert result.stdout.startswith("ok")


# ------------------------------------------------------------------------------------------
# save and load with file objects
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [helpers.book, helpers.deep], ids=["book", "deep"])
def test_save_and_load_take_file_objects(tmp_path, make):
    net = make()
    cls = type(net)
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    assert helpers.fingerprint(cls.load(buffer)) == helpers.fingerprint(net)
    with open(tmp_path / "net.bin", "wb") as f:
        net.save(f)
    with open(tmp_path / "net.bin", "rb") as f:
        assert helpers.fingerprint(cls.load(f)) == helpers.fingerprint(net)
    import pathlib
    net.save(str(tmp_path / "a.npz"))
    assert helpers.fingerprint(cls.load(pathlib.Path(tmp_path / "a.npz"))) == helpers.fingerprint(net)


@pytest.mark.parametrize("cls", [cnn_core.neuralNetwork, cnn_core.Network])
def test_load_refuses_text_mode_and_unseekable_files(tmp_path, cls):
    with pytest.raises(TypeError, match=r"needs a binary file object .* got a text-mode StringIO"):
        cls.load(io.StringIO("x"))
    (tmp_path / "t.npz").write_text("x")
    with open(tmp_path / "t.npz") as f:
        with pytest.raises(TypeError, match=r"text-mode TextIOWrapper"):
            cls.load(f)
    read_end, write_end = os.pipe()
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        with pytest.raises(TypeError, match=r"needs a seekable binary file object"):
            cls.load(pipe)
    with pytest.raises(TypeError, match=r"path must be a file name \(str or os.PathLike\); got int"):
        cls.load(3)


def test_save_refuses_text_mode_files():
    with pytest.raises(TypeError, match=r"save needs a binary file object"):
        helpers.book().save(io.StringIO())


def test_networks_go_to_dask_workers_and_come_back():
    """A real dask.distributed cluster on 127.0.0.1 (worker processes), started and stopped
    here: networks sent to a worker, trained there and returned equal those trained here."""
    pytest.importorskip("distributed")
    result = run_python("""
        import numpy
        from dask.distributed import Client, LocalCluster
        import process_helpers as h
        if __name__ == "__main__":
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None) as cluster, Client(cluster) as client:
                nets = [h.book(), h.book(numpy.float32), h.deep(), h.deep(numpy.float32)]
                futures = client.map(h.train_and_return, nets, pure=False)
                results = client.gather(futures)
            for got, make, dtype in zip(results, [h.book, h.book, h.deep, h.deep],
                                        [numpy.float64, numpy.float32] * 2):
                assert h.fingerprint(got) == h.fingerprint(h.continue_training(make(dtype)))
            print("ok")
    """, timeout=180)
    assert result.stdout.strip().endswith("ok")
