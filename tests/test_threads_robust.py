"""Threads that OpenMP does not give, and thread counts that cannot be given (issue 14).

The book kernels ask OpenMP for n_threads but must work with whatever team they get: one thread
in a child of os.fork() after the parent ran a team, under OMP_THREAD_LIMIT, OMP_DYNAMIC or
OMP_MAX_ACTIVE_LEVELS=0; and their results must be the bits of a one-thread run. Every such case
runs in a subprocess with a timeout (and the forked grandchildren under an alarm), so a hang or
a crash fails its test instead of stopping the run. Thread counts above MAX_THREADS are refused
before anything changes, by the networks and by the command line (exit status 2, one line).
"""
import hashlib
import re
import subprocess
import sys
import textwrap

import numpy
import pytest

import cnn_core
from cnn_core import _dispatch
from cnn_core._dispatch import MAX_THREADS

from conftest import NEUTRAL_CWD, child_env

# The networks and data of the subprocesses: big enough for fit's block kernel (784-100-10),
# then one-sample train() calls (the pending-update kernel); digest() is the bits of the weights.
SETUP = textwrap.dedent("""
    import hashlib, os, signal, sys
    import numpy, cnn_core
    from cnn_core._dispatch import kernels

    def data(n=300):
        rng = numpy.random.default_rng(0)
        return rng.uniform(0.01, 1, (n, 784)), rng.uniform(0.01, 0.99, (n, 10))

    def digest(n_threads, n=300, calls=20):
        X, T = data(n)
        net = cnn_core.neuralNetwork(784, 100, 10, 0.1, seed=1, n_threads=n_threads)
        net.fit(X, T)
        for x, t in zip(X[:calls], T[:calls]):
            net.train(x, t)
        return hashlib.sha256(net.wih.tobytes() + net.who.tobytes()).hexdigest()
""")


def one_thread_digest(n=300, calls=20):
    """digest(1) of SETUP, computed here (same kernels build: the children inherit CNN_CORE_ISA)."""
    rng = numpy.random.default_rng(0)
    X, T = rng.uniform(0.01, 1, (n, 784)), rng.uniform(0.01, 0.99, (n, 10))
    net = cnn_core.neuralNetwork(784, 100, 10, 0.1, seed=1, n_threads=1)
    net.fit(X, T)
    for x, t in zip(X[:calls], T[:calls]):
        net.train(x, t)
    return hashlib.sha256(net.wih.tobytes() + net.who.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def reference():
    return one_thread_digest()


def run_python(code, timeout=60, **env):
    """`code` (after SETUP) in a fresh interpreter; a hang fails the test after `timeout` s."""
    return subprocess.run([sys.executable, "-c", SETUP + textwrap.dedent(code)], capture_output=True,
                          text=True, env=child_env(**env), cwd=NEUTRAL_CWD, timeout=timeout)


def lines_of(result):
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout.split()


# ------------------------------------------------------------------ os.fork after a two-thread run

FORK = """
    signal.alarm(50)                       # a hung process dies instead of spinning forever
    parent_before = digest(2)              # the parent ran a two-thread team: its pool exists
    pid = os.fork()
    if pid == 0:
        signal.alarm(50)                   # (alarms are not inherited)
        try:
            # the pool was handed back before the fork: the child gets real teams again
            print(kernels.openmp_team_size(2), int(kernels.openmp_fork_serial()), digest(2),
                  digest(1), flush=True)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    print(parent_before, digest(2), kernels.openmp_team_size(2))   # the parent trains on too
"""


def test_fork_after_a_two_thread_fit_trains_in_the_child(reference):
    words = lines_of(run_python(FORK))
    team, serial, child_two, child_one, parent_before, parent_after, parent_team = words
    assert (team, serial, parent_team) == ("2", "0", "2")
    assert child_two == child_one == parent_before == parent_after == reference


def test_fork_children_of_a_pool_train_bit_identically(reference):
    """Several children, through multiprocessing's fork start method, after fit and train()."""
    code = """
        import multiprocessing
        signal.alarm(50)
        digest(2)
        with multiprocessing.get_context("fork").Pool(2, signal.alarm, (50,)) as pool:
            print(*pool.map(digest, [2, 2, 1, 3]))
    """
    words = lines_of(run_python(code))
    assert words == [reference] * 4


# ------------------------------------------------------------------ OpenMP gives fewer threads

@pytest.mark.parametrize("env, asked, team", [
    ({"OMP_THREAD_LIMIT": "1"}, 2, 1),
    ({"OMP_THREAD_LIMIT": "2"}, 3, 2),
    ({"OMP_MAX_ACTIVE_LEVELS": "0"}, 2, 1),
    ({"OMP_DYNAMIC": "true"}, 2, None),    # the team depends on the machine's load
], ids=["thread-limit-1", "thread-limit-2-of-3", "max-active-levels-0", "dynamic"])
def test_smaller_team_than_asked_gives_the_same_bits(reference, env, asked, team):
    code = f"""
        print(kernels.openmp_team_size({asked}), digest({asked}))
    """
    got_team, got = lines_of(run_python(code, **env))
    if team is not None:
        assert int(got_team) == team
    assert 1 <= int(got_team) <= asked
    assert got == reference


# ------------------------------------------------------------------ the cap on n_threads

def small_net(n_threads=None):
    return cnn_core.neuralNetwork(6, 5, 3, 0.3, seed=1, n_threads=n_threads)


def small_data():
    rng = numpy.random.default_rng(0)
    return rng.uniform(0.01, 1, (30, 6)), rng.uniform(0.01, 0.99, (30, 3))


def weights(net):
    """The weights (with any pending update applied) and the count of samples trained."""
    return net.wih.copy(), net.who.copy(), net._kernel.samples_trained


def assert_same(a, b):
    assert all(numpy.array_equal(x, y) for x, y in zip(a[:2], b[:2])) and a[2] == b[2]


@pytest.mark.parametrize("value", [0, -1, MAX_THREADS + 1, 2000, 2**31, 2**64])
def test_constructor_refuses_thread_counts_out_of_range(value):
    with pytest.raises(ValueError, match=rf"n_threads must be a positive integer no larger than "
                                         rf"{MAX_THREADS}; got {value}\."):
        small_net(value)


@pytest.mark.parametrize("value", [2.0, "2", True])
def test_constructor_refuses_thread_counts_that_are_not_integers(value):
    with pytest.raises(TypeError, match="n_threads must be None"):
        small_net(value)


def test_max_threads_is_accepted_and_a_documented_constant():
    assert MAX_THREADS == 64 and "MAX_THREADS" in (_dispatch.__doc__ or "")
    assert small_net(MAX_THREADS).n_threads == MAX_THREADS
    assert small_net(numpy.int64(3)).n_threads == 3


@pytest.mark.parametrize("value", [0, MAX_THREADS + 1, 2**31])
def test_setter_refuses_and_changes_nothing(value):
    X, T = small_data()
    net, twin = small_net(2), small_net(2)
    net.fit(X, T)
    twin.fit(X, T)
    before = weights(net)
    with pytest.raises(ValueError, match=str(MAX_THREADS)):
        net.n_threads = value
    assert net.n_threads == 2
    assert_same(weights(net), before)
    net.fit(X, T)                          # trains on as before the refused call
    twin.fit(X, T)
    assert_same(weights(net), weights(twin))


def test_load_refuses_a_thread_count_out_of_range(tmp_path):
    net = small_net(2)
    net.fit(*small_data())
    path = tmp_path / "net.npz"
    net.save(path)
    with pytest.raises(ValueError, match=rf"no larger than {MAX_THREADS}; got 2000"):
        cnn_core.neuralNetwork.load(path, n_threads=2000)
    assert cnn_core.neuralNetwork.load(path, n_threads=MAX_THREADS).n_threads == MAX_THREADS


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", str(MAX_THREADS + 1), "99999999999"])
def test_bad_thread_variable_is_refused_before_any_change(monkeypatch, value):
    X, T = small_data()
    net, twin = small_net(), small_net()
    net.fit(X[:10], T[:10])
    twin.fit(X[:10], T[:10])
    before = weights(net)
    monkeypatch.setenv("CNN_CORE_NUM_THREADS", value)
    bound = f" no larger than {MAX_THREADS}" if value.isdigit() and int(value) > 0 else ""
    with pytest.raises(ValueError, match=rf"CNN_CORE_NUM_THREADS must be a positive integer"
                                         rf"{bound}; got '{re.escape(value)}'\. .* from 1 to "
                                         rf"{MAX_THREADS}"):
        net.fit(X, T)
    with pytest.raises(ValueError, match="CNN_CORE_NUM_THREADS"):
        net.train(X[0], T[0])
    assert_same(weights(net), before)
    monkeypatch.setenv("CNN_CORE_NUM_THREADS", "2")
    net.fit(X, T)
    net.train(X[0], T[0])
    twin.fit(X, T)
    twin.train(X[0], T[0])
    assert_same(weights(net), weights(twin))


def test_thread_counts_under_an_address_space_limit():
    """Under a 2 GiB RLIMIT_AS, 2000 threads are refused (libgomp used to end the process) and
    MAX_THREADS threads run."""
    code = """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from cnn_core._dispatch import MAX_THREADS
        X, T = data(40)
        try:
            cnn_core.neuralNetwork(784, 100, 10, 0.1, seed=1, n_threads=2000)
        except ValueError as exc:
            print("refused", "2000" in str(exc))
        net = cnn_core.neuralNetwork(784, 100, 10, 0.1, seed=1, n_threads=MAX_THREADS)
        net.fit(X, T)
        net.train(X[0], T[0])
        one = cnn_core.neuralNetwork(784, 100, 10, 0.1, seed=1, n_threads=1)
        one.fit(X, T)
        one.train(X[0], T[0])
        print(numpy.array_equal(net.wih, one.wih) and numpy.array_equal(net.who, one.who))
    """
    assert lines_of(run_python(code)) == ["refused", "True", "True"]


# ------------------------------------------------------------------ the command line

@pytest.mark.parametrize("args, env, fragments", [
    (["--threads", "0"], {}, ["--threads", f"from 1 to {MAX_THREADS}", "'0'"]),
    (["--threads", "100000"], {}, ["--threads", f"from 1 to {MAX_THREADS}", "'100000'"]),
    (["--threads", "two"], {}, ["--threads", "'two'"]),
    ([], {"CNN_CORE_NUM_THREADS": "abc"}, ["CNN_CORE_NUM_THREADS", "'abc'", str(MAX_THREADS)]),
    ([], {"CNN_CORE_NUM_THREADS": "0"}, ["CNN_CORE_NUM_THREADS", "'0'"]),
    ([], {"CNN_CORE_NUM_THREADS": "99999999999"}, ["CNN_CORE_NUM_THREADS", "'99999999999'"]),
    ([], {"CNN_CORE_ISA": "sse9"}, ["CNN_CORE_ISA='sse9' is not one of", "unset it"]),
], ids=["threads-0", "threads-100000", "threads-text", "env-abc", "env-0", "env-huge", "isa-sse9"])
def test_cli_bad_thread_settings_exit_2_with_one_line(tmp_path, args, env, fragments):
    from test_cli import assert_usage_error, run
    from test_datasets import tiny_mnist
    tiny_mnist(tmp_path / "data", n_train=20, n_test=10)
    result = run("train", "--data-dir", tmp_path / "data", "--epochs", "1", *args, cwd=tmp_path,
                 env=child_env(**env), timeout=60)
    assert_usage_error(result, *fragments)
    assert result.stdout == ""             # refused before any work


def test_cli_accepts_max_threads(tmp_path):
    from test_cli import accuracy_of, run
    from test_datasets import tiny_mnist
    tiny_mnist(tmp_path / "data", n_train=20, n_test=10)
    result = run("train", "--data-dir", tmp_path / "data", "--epochs", "1", "--hidden", "8",
                 "--threads", str(MAX_THREADS), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 0 <= accuracy_of(result) <= 1


def test_cli_script_reports_a_bad_isa_in_one_line(tmp_path):
    script = [p for p in (sys.prefix + "/bin/cnn-core",) if __import__("os").path.exists(p)]
    if not script:
        pytest.skip("the cnn-core script is not installed here")
    result = subprocess.run([script[0], "train"], capture_output=True, text=True, cwd=tmp_path,
                            env=child_env(CNN_CORE_ISA="sse9"), timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnn-core: error: CNN_CORE_ISA='sse9'"), result.stderr


def test_library_import_with_a_bad_isa_still_raises_import_error():
    result = subprocess.run([sys.executable, "-c", "import cnn_core"], capture_output=True,
                            text=True, env=child_env(CNN_CORE_ISA="sse9"), cwd=NEUTRAL_CWD,
                            timeout=60)
    assert result.returncode == 1 and "ImportError: CNN_CORE_ISA='sse9'" in result.stderr


def test_fit_threads_says_which_counts_fit_chooses_among(monkeypatch):
    """The public report of the thread choice (the CLI prints it): fixed by n_threads or
    CNN_CORE_NUM_THREADS, else automatic: one thread for a small network."""
    monkeypatch.delenv("CNN_CORE_NUM_THREADS", raising=False)
    assert small_net(3).fit_threads == (3,)
    assert cnn_core.neuralNetwork(4, 3, 2, 0.1, seed=0).fit_threads == (1,)
    monkeypatch.setenv("CNN_CORE_NUM_THREADS", "2")
    assert cnn_core.neuralNetwork(4, 3, 2, 0.1, seed=0).fit_threads == (2,)
