"""A short run of the fuzzer (stress/fuzz.py runs 10,000+ cases; see its docstring)."""
import os
import subprocess
import sys

import cnn_core

FUZZ = os.path.join(os.path.dirname(__file__), os.pardir, "stress", "fuzz.py")


def test_fuzz_finds_nothing():
    here = os.path.dirname(os.path.dirname(os.path.abspath(cnn_core.__file__)))   # the cnn_core under test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, FUZZ, "--cases", "400", "--seed", "1"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "DONE 400 cases, 0 findings" in result.stdout
    assert "train ok" in result.stdout and "train ValueError" in result.stdout
