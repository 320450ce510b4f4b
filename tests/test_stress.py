"""Short runs of the stress scripts (stress/fuzz.py: 10,000+ cases; stress/soak.py: 1,000,000
train calls; see their docstrings for the full runs)."""
import os
import re
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
    """1,000 cases, half on the book network, half on the deep networks; the summary shows
    that each kind of call was made, worked (and agreed with NumPy) and was refused."""
    result = run("fuzz.py", "--cases", "1000", "--seed", "1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "DONE 1000 cases, 0 findings" in result.stdout
    summary = next(line for line in result.stdout.splitlines() if line.startswith("OUTCOMES"))
    for outcome in ["train ok", "train ValueError", "fit ok", "save ok",
                    "Dense() ok", "Dense() TypeError", "Dense.forward/backward ok",
                    "Dense.forward/backward ValueError", "Dense.W = ok", "Dense.W = ValueError",
                    "Network() ValueError", "net.fit ok (agrees)", "net.fit ValueError",
                    "net.fit TypeError", "net.fit DivergenceError", "net.predict ok (agrees)",
                    "net.loss ok (agrees)", "net.accuracy ok (agrees)", "net.gradient ok (agrees)",
                    "Network.save/load ok", "Network.load bytes ValueError",
                    "Network.load truncated ValueError", "Network.load corrupted ValueError",
                    "Network.load mutated ValueError", "Optimizer() ok", "Optimizer.update ok",
                    "Optimizer.update ValueError"]:
        assert f"; {outcome} " in f"; {summary[len('OUTCOMES '):]}", outcome


def test_fuzz_reports_a_crash_of_the_child(tmp_path):
    """A segfault in the child is caught and reported with the case it happened in."""
    crash = tmp_path / "sitecustomize.py"
    crash.write_text("import os, signal, cnn_core\n"
                     "from cnn_core.layers import Dense\n"
                     "Dense.forward = lambda self, X: os.kill(os.getpid(), signal.SIGSEGV)\n")
    here = os.path.dirname(os.path.dirname(os.path.abspath(cnn_core.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), here])}
    result = subprocess.run([sys.executable, os.path.join(STRESS, "fuzz.py"), "--cases", "200",
                             "--kinds", "deep"], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 1
    # status -11 (SIGSEGV); under AddressSanitizer, whose handler reports the SEGV, 1
    assert re.search(r"CRASH: the child process died \(status (-11|1)\) during: case \d+ step \d+: "
                     r"deep forward", result.stdout), result.stdout[-2000:]


@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="RSS says nothing under AddressSanitizer (its quarantine keeps freed memory)")
def test_soak_keeps_memory_flat():
    result = run("soak.py", "--scale", "0.01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "largest RSS growth over a phase" in result.stdout
