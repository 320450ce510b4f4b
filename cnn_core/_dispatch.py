"""Choose the kernel build for this CPU: `kernels` is the loaded ``_kernels_<isa>`` module.

The same kernel source is compiled for several instruction sets (see setup.py). At import the
best one the CPU supports is loaded; ``CNN_CORE_ISA=baseline|avx2|avx512`` forces one (an error
if this machine or this build cannot run it). Thread count for the per-sample kernels comes from
``CNN_CORE_NUM_THREADS`` or the ``n_threads`` keyword of the networks.
"""
import importlib
import os

ISAS = ("avx512", "avx2", "baseline")        # best first; keep in step with setup.py


def _built():
    found = []
    for isa in ISAS:
        try:
            found.append((isa, importlib.import_module(f"cnn_core._kernels_{isa}")))
        except ImportError:
            pass
    if not found:
        raise ImportError(
            "cnn_core's compiled kernels are missing: the package was not built. Install it with "
            "`pip install .` (or `pip install -e .` in a source checkout), which compiles them.")
    return found


def _select():
    built = dict(_built())
    baseline = built.get("baseline") or next(iter(built.values()))
    forced = os.environ.get("CNN_CORE_ISA", "").strip().lower()
    if forced:
        if forced not in ISAS:
            raise ImportError(f"CNN_CORE_ISA={forced!r} is not one of {list(ISAS)[::-1]}.")
        if forced not in built:
            raise ImportError(f"CNN_CORE_ISA={forced!r}: this build of cnn_core has no {forced} "
                              f"kernels (built: {sorted(built)}).")
        if forced != "baseline" and not baseline.cpu_supports(forced):
            raise ImportError(f"CNN_CORE_ISA={forced!r}: this CPU does not support {forced}.")
        return forced, built[forced]
    for isa in ISAS:
        if isa in built and (isa == "baseline" or baseline.cpu_supports(isa)):
            return isa, built[isa]
    raise ImportError("no cnn_core kernel build runs on this CPU")


isa, kernels = _select()


def default_threads():
    """Threads for the per-sample kernels when a network is not told: CNN_CORE_NUM_THREADS, or
    None (meaning: let the network decide from its size)."""
    value = os.environ.get("CNN_CORE_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"CNN_CORE_NUM_THREADS must be a positive integer; got {value!r}.") from None
    if n < 1:
        raise ValueError(f"CNN_CORE_NUM_THREADS must be a positive integer; got {value!r}.")
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
    import sys
    out = file or sys.stdout
    for key, value in config().items():
        print(f"{key + ':':<32} {value}", file=out)
