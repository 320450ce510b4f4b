"""Choose the kernel build for this CPU: `kernels` is the loaded ``_kernels_<isa>`` module.

The same kernel source is compiled for several instruction sets (see setup.py). At import the
best one the CPU supports is loaded; ``CNN_CORE_ISA=baseline|avx2|avx512`` forces one (an error
if this machine or this build cannot run it). Thread count for the per-sample kernels comes from
``CNN_CORE_NUM_THREADS`` or the ``n_threads`` keyword of the networks, from 1 to MAX_THREADS.
"""
import importlib
import os
import sys

ISAS = ("avx512", "avx2", "baseline")        # best first; keep in step with setup.py

# The most threads a network may be given (n_threads, CNN_CORE_NUM_THREADS, --threads); more are
# refused with a ValueError before anything changes. The per-sample kernels meet at a barrier
# twice per sample, so beyond a few threads they only get slower; and every OpenMP thread
# reserves a stack (8 MiB by default), so thousands of them exhaust a limited address space and
# libgomp then ends the process ("Thread creation failed"). 64 threads reserve 512 MiB: they run
# under a 2 GiB RLIMIT_AS (256 did not).
MAX_THREADS = 64


def _built():
    found = []
    for isa in ISAS:
        try:
            found.append((isa, importlib.import_module(f"cnn_core._kernels_{isa}")))
        except ImportError:
            pass
    if not found:
        from .errors import KernelsMissing
        raise KernelsMissing(
            "cnn_core's compiled kernels are missing: the package was not built. Install it with "
            "`pip install .` (or `pip install -e .` in a source checkout), which compiles them.")
    return found


def _command_line():
    """The name the command line reports errors under ("python -m cnn_core", "cnn-core") when
    this import is the start of the command line, else None."""
    argv = getattr(sys, "orig_argv", None) or []
    if "-m" in argv and argv[argv.index("-m") + 1:argv.index("-m") + 2] in (["cnn_core"],
                                                                            ["cnn_core.__main__"]):
        return "python -m cnn_core"
    if not hasattr(sys, "orig_argv") and sys.argv[:1] == ["-m"]:
        # Python 3.9 has no sys.orig_argv; sys.argv[0] is "-m" while a -m module is located
        return "python -m cnn_core"
    if sys.argv and os.path.basename(sys.argv[0]) in ("cnn-core", "cnn-core.exe"):
        return "cnn-core"
    return None


def _refuse(message):
    """An ImportError for a CNN_CORE_ISA that cannot be honoured. The command line imports the
    package before its main() can catch anything, so there it is its usage error instead: one line
    on stderr and exit status 2, no traceback (see cnn_core.cli)."""
    prog = _command_line()
    if prog is None:
        raise ImportError(message)
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _select():
    built = dict(_built())
    baseline = built.get("baseline") or next(iter(built.values()))
    forced = os.environ.get("CNN_CORE_ISA", "").strip().lower()
    if forced:
        if forced not in ISAS:
            _refuse(f"CNN_CORE_ISA={forced!r} is not one of {list(ISAS)[::-1]}. Set it to one of "
                    f"them, or unset it to use the best build this CPU runs.")
        if forced not in built:
            _refuse(f"CNN_CORE_ISA={forced!r}: this build of cnn_core has no {forced} kernels "
                    f"(built: {sorted(built)}). Choose one of those, or unset CNN_CORE_ISA.")
        if forced != "baseline" and not baseline.cpu_supports(forced):
            _refuse(f"CNN_CORE_ISA={forced!r}: this CPU does not support {forced}. Choose "
                    f"{'avx2 or ' if forced == 'avx512' and baseline.cpu_supports('avx2') else ''}"
                    f"baseline, or unset CNN_CORE_ISA.")
        return forced, built[forced]
    for isa in ISAS:
        if isa in built and (isa == "baseline" or baseline.cpu_supports(isa)):
            return isa, built[isa]
    raise ImportError("no cnn_core kernel build runs on this CPU")


isa, kernels = _select()


def default_threads():
    """Threads for the per-sample kernels when a network is not told: CNN_CORE_NUM_THREADS (an
    integer from 1 to MAX_THREADS, else a ValueError), or None (meaning: let the network decide
    from its size)."""
    value = os.environ.get("CNN_CORE_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        n = None
    if n is None or not 1 <= n <= MAX_THREADS:
        bound = "" if n is None or n < 1 else f" no larger than {MAX_THREADS}"
        raise ValueError(f"CNN_CORE_NUM_THREADS must be a positive integer{bound}; got {value!r}. "
                         f"Set it to a number of threads from 1 to {MAX_THREADS}, or unset it for "
                         f"automatic.")
    return n


def config():
    """What cnn_core runs on here, as a dict (see show_config)."""
    import numpy
    import scipy
    built = [name for name, _ in _built()]
    try:
        info = scipy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{info['name']} {info['version']} (SciPy's, through scipy.linalg.cython_blas)"
    except Exception:                           # the layout of SciPy's build information may change
        blas = "SciPy's BLAS (through scipy.linalg.cython_blas)"
    return {
        "kernels": f"_kernels_{isa}",
        "isa": isa,
        "isa builds": built,
        "cpu supports": {name: bool(kernels.cpu_supports(name)) for name in ("avx2", "avx512")},
        "forced by CNN_CORE_ISA": os.environ.get("CNN_CORE_ISA") or None,
        "threads (CNN_CORE_NUM_THREADS)": default_threads(),
        "OpenMP max threads": kernels.openmp_max_threads(),
        "blas": blas,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def show_config(file=None):
    """Print which kernel build is in use (and why), the threads and the BLAS."""
    out = file or sys.stdout
    for key, value in config().items():
        print(f"{key + ':':<32} {value}", file=out)
