"""The per-instruction-set builds: each one loads when forced and gives the NumPy version's results."""
import os
import subprocess
import sys
import textwrap

import pytest

from cnn_core import _dispatch

from conftest import NEUTRAL_CWD, child_env

CHECK = textwrap.dedent("""
    import numpy, cnn_core
    from cnn_core import reference, _dispatch
    assert _dispatch.isa == {isa!r}, _dispatch.isa
    for dtype, tol in ((numpy.float64, 1e-12), (numpy.float32, 2e-5)):
        rng = numpy.random.default_rng(0)
        X, T = rng.uniform(0.01, 1, (120, 784)), rng.uniform(0.01, 0.99, (120, 10))
        nets = [cnn_core.neuralNetwork(784, 30, 10, 0.1, seed=1, dtype=dtype, n_threads=n) for n in (1, 2)]
        ref = reference.neuralNetwork(784, 30, 10, 0.1, seed=1, dtype=dtype)
        for net in nets:
            net.fit(X, T)
        ref.fit(X, T)
        assert numpy.array_equal(nets[0].wih, nets[1].wih) and numpy.array_equal(nets[0].who, nets[1].who)
        assert numpy.abs(nets[0].wih - ref.wih).max() <= tol, numpy.abs(nets[0].wih - ref.wih).max()
        one = cnn_core.neuralNetwork(784, 30, 10, 0.1, seed=1, dtype=dtype)
        for x, t in zip(X, T):
            one.train(x, t)
        assert numpy.abs(one.wih - ref.wih).max() <= tol
        assert numpy.abs(one.predict(X) - ref.predict(X)).max() <= tol
    print("ok", _dispatch.isa)
""")


def run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(**env), cwd=NEUTRAL_CWD, timeout=300)


@pytest.mark.parametrize("isa", list(_dispatch.ISAS))
def test_each_build_matches_numpy(isa):
    if isa not in [name for name, _ in _dispatch._built()]:
        pytest.skip(f"{isa} kernels were not built here")
    if isa != "baseline" and not _dispatch.kernels.cpu_supports(isa):
        pytest.skip(f"this CPU cannot run {isa}")
    result = run(CHECK.format(isa=isa), CNN_CORE_ISA=isa)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ok {isa}"


def test_unknown_isa_is_refused():
    result = run("import cnn_core", CNN_CORE_ISA="sse9")
    assert result.returncode != 0
    assert "CNN_CORE_ISA='sse9' is not one of ['baseline', 'avx2', 'avx512']" in result.stderr


def test_bad_thread_variable_is_refused():
    result = run("import cnn_core; n = cnn_core.neuralNetwork(3, 2, 1, 0.1); n.fit([[1, 2, 3]], [[0.5]])",
                 CNN_CORE_NUM_THREADS="two")
    assert result.returncode != 0
    assert "CNN_CORE_NUM_THREADS must be a positive integer; got 'two'" in result.stderr


def test_show_config(capsys):
    import cnn_core
    cnn_core.show_config()
    out = capsys.readouterr().out
    assert f"_kernels_{_dispatch.isa}" in out and "OpenMP max threads" in out and "blas" in out
