"""Short runs of the stress scripts (stress/fuzz.py: 10,000+ cases; stress/soak.py: 1,000,000
train calls; see their docstrings for the full runs)."""
import os
import subprocess
import sys

import pytest

import cnn_core

STRESS = os.path.join(os.path.dirname(__file__), os.pardir, "stress")


def run(script, *args):
    here = os.path.dirname(os.path.dirname(os.path.abspath(cnn_core.__file__)))   # the cnn_core under test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, os.path.join(STRESS, script), *args],
                          capture_output=True, text=True, timeout=600, env=env)


def test_fuzz_finds_nothing():
    result = run("fuzz.py", "--cases", "400", "--seed", "1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "DONE 400 cases, 0 findings" in result.stdout
    assert "train ok" in result.stdout and "train ValueError" in result.stdout


@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="RSS says nothing under AddressSanitizer (its quarantine keeps freed memory)")
def test_soak_keeps_memory_flat():
    result = run("soak.py", "--scale", "0.01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "largest RSS growth over a phase" in result.stdout
