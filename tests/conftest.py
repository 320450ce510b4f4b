import os
import socket
import tempfile
from pathlib import Path

import numpy
import pytest

import cnn_core
from cnn_core import datasets

# matplotlib's compiled parts abort under a preloaded AddressSanitizer (its __cxa_throw
# interceptor finds no C++ runtime to forward to): tests that draw are skipped there.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def require_matplotlib(module="matplotlib"):
    """Import matplotlib (or one of its modules), or skip the test: when it is not installed,
    and under AddressSanitizer."""
    if UNDER_ASAN:
        pytest.skip("matplotlib aborts under a preloaded AddressSanitizer")
    return pytest.importorskip(module)


DTYPES = [numpy.float64, numpy.float32]
# Tolerances against the NumPy version: float64 to ~1e-12 absolute, float32 relative.
RTOL = {numpy.float64: 1e-12, numpy.float32: 1e-5}
ATOL = {numpy.float64: 1e-12, numpy.float32: 1e-6}


def closed_port_url():
    """http://127.0.0.1:<port>/ where nothing listens (a port just bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


CLOSED_URL = closed_port_url()


@pytest.fixture(autouse=True)
def _no_internet_no_user_cache(tmp_path_factory, monkeypatch):
    """No test reaches the internet or writes the user's cache: downloads go to a local port
    where nothing listens unless a test names its own mirror, and the cache is a fresh
    temporary folder. Subprocesses (the CLI tests) inherit both."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("CNN_CORE_MIRROR", CLOSED_URL)


def shared_data_dir():
    """$CNN_CORE_DATA, or ../shared/datasets beside the project, when it exists."""
    candidates = [os.environ.get("CNN_CORE_DATA"), Path(__file__).resolve().parents[2] / "shared" / "datasets"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def data_dir():
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data sets not found: set CNN_CORE_DATA to the folder holding mnist/, "
                    "fashion-mnist/ and iris/ (e.g. ../shared/datasets)")
    os.environ.setdefault("CNN_CORE_DATA", str(d))      # for the scripts and CLI run as subprocesses
    return d


@pytest.fixture(scope="session")
def mnist(data_dir):
    try:
        return datasets.load_mnist("digits", data_dir=data_dir)
    except datasets.DataNotFoundError as exc:
        pytest.skip(f"MNIST files missing: {exc}")


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture(params=["cython", "numpy"])
def backend(request):
    """The two backends of cnn_core.Network: compiled kernels and their NumPy twins."""
    return request.param


# Subprocesses must import the cnn_core under test (in CI: the installed wheel), never the source
# folder (which has no compiled kernels): its parent goes first on PYTHONPATH, and `python -c`
# runs in a neutral folder because it puts the current folder first on sys.path.
PACKAGE_PARENT = str(Path(cnn_core.__file__).resolve().parents[1])
NEUTRAL_CWD = tempfile.gettempdir()


def child_env(*first, **variables):
    """os.environ with PYTHONPATH = `first` folders, then the cnn_core under test."""
    path = [*first, PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")]
    return {**os.environ, **variables, "PYTHONPATH": os.pathsep.join(filter(None, path))}


def ticks_while(call):
    """Run call() in another thread while this one ticks once a millisecond; (ticks, seconds).
    A kernel that holds the GIL leaves this thread few ticks."""
    import threading
    import time
    worker = threading.Thread(target=call)
    ticks = 0
    worker.start()
    start = time.perf_counter()
    while worker.is_alive():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    worker.join()
    return ticks, elapsed
