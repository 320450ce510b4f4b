"""The NumPy versions need nothing compiled, and the activation codes have one source.

``cnn_core.activations`` holds the codes as plain constants; the ``Activation`` enum of
``_kernels.pxd`` mirrors them (checked here). A copy of the package without its compiled
kernels (a source tree that was not built) still runs ``cnn_core.reference``, and says what is
missing when a compiled part is asked for; that runs in a subprocess, with a timeout.
"""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy
import scipy

import cnn_core
from cnn_core import activations
from cnn_core._dispatch import kernels

from conftest import NEUTRAL_CWD

PACKAGE = Path(cnn_core.__file__).resolve().parent


def test_the_kernels_enum_mirrors_the_python_codes():
    assert kernels.ACTIVATION_CODES == activations.CODES
    for name, code in activations.CODES.items():
        assert int(getattr(kernels.Activation, name.upper())) == code == activations.ACTIVATIONS[name].code
    assert len(set(activations.CODES.values())) == len(activations.CODES)


def test_reference_runs_without_the_compiled_kernels(tmp_path):
    copy = tmp_path / "cnn_core"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "*.cpp",
                                                                 "__pycache__", "build"))
    script = textwrap.dedent("""
        import numpy
        import cnn_core.reference as reference
        import cnn_core
        net = reference.neuralNetwork(3, 4, 2, 0.3, seed=0)
        net.train([0.1, 0.5, 0.9], [0.01, 0.99])
        out = net.query([0.1, 0.5, 0.9])
        assert out.shape == (2, 1) and numpy.isfinite(out).all()
        try:
            from cnn_core import neuralNetwork
        except cnn_core.errors.KernelsMissing as exc:
            print("missing:", exc)
        else:
            raise SystemExit("the compiled network imported without its kernels")
    """)
    # -S: no site (so no .pth file, such as an editable install's, can bring the built package
    # back); NumPy and SciPy from where they are installed
    libraries = {str(Path(m.__file__).resolve().parents[1]) for m in (numpy, scipy)}
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(tmp_path), *libraries])}
    done = subprocess.run([sys.executable, "-S", "-c", script], cwd=NEUTRAL_CWD, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cnn_core.neuralNetwork: cnn_core's compiled kernels are missing" in done.stdout
    assert "pip install" in done.stdout
