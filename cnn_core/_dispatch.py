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
