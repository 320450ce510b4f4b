"""Build the Cython kernels of cnn_core.

The one kernel module, ``cnn_core/_kernels.pyx`` (with ``_kernels.pxd``, the ``.pxi`` files it
includes and the C helper ``_simd.h``), is compiled once per instruction set into ``cnn_core._kernels_<isa>``; at import,
``cnn_core._dispatch`` loads the best one the CPU supports (``CNN_CORE_ISA`` forces one).

Environment switches (read at build time):
  CNN_CORE_DEBUG=1           bounds/wraparound/initialized checks on, -O1 -g (slow; for debugging)
  CNN_CORE_SANITIZE=address  build with AddressSanitizer (run with LD_PRELOAD=$(gcc -print-file-name=libasan.so))
  CNN_CORE_ISAS=baseline,avx2  build only these instruction sets (default: all this platform has)
"""
import glob
import os
import platform
import shutil

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "cnn_core")
DEBUG = os.environ.get("CNN_CORE_DEBUG", "") not in ("", "0")
SANITIZE = os.environ.get("CNN_CORE_SANITIZE", "")

# Same source, one module per instruction set. Keep in step with cnn_core/_dispatch.py.
X86_ISAS = {
    "baseline": [],
    "avx2": ["-mavx2", "-mfma", "-mf16c"],
    "avx512": ["-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw",
               "-mavx2", "-mfma", "-mf16c", "-mprefer-vector-width=512"],
}
IS_X86 = platform.machine().lower() in ("x86_64", "amd64")
ISAS = X86_ISAS if IS_X86 else {"baseline": []}
if os.environ.get("CNN_CORE_ISAS"):
    ISAS = {name: ISAS[name] for name in os.environ["CNN_CORE_ISAS"].split(",")}

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

COMMON_FLAGS = ["-fopenmp", "-fno-math-errno"]
COMMON_FLAGS += ["-O1", "-g", "-UNDEBUG"] if DEBUG else ["-O3"]
LINK_FLAGS = ["-fopenmp"]
if SANITIZE:
    COMMON_FLAGS += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer"]
    LINK_FLAGS += [f"-fsanitize={SANITIZE}"]


def kernel_extension(isa, flags):
    """Copy the kernel sources under the module name ``_kernels_<isa>`` and declare its Extension.

    Cython names a module after its file (and finds its .pxd the same way), so each build gets
    its own copy of the .pyx/.pxd in build/, next to the shared C helper."""
    src = os.path.join("build", "isa_src", isa, "cnn_core")
    os.makedirs(src, exist_ok=True)
    open(os.path.join(src, "__init__.py"), "w").close()
    for ext in ("pyx", "pxd"):
        shutil.copyfile(os.path.join(PKG, f"_kernels.{ext}"), os.path.join(src, f"_kernels_{isa}.{ext}"))
    return Extension(
        f"cnn_core._kernels_{isa}",
        [os.path.join(src, f"_kernels_{isa}.pyx")],
        include_dirs=[numpy.get_include(), PKG],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMMON_FLAGS + flags,
        extra_link_args=LINK_FLAGS,
        depends=sorted(glob.glob(os.path.join("cnn_core", "*.p[xy][dxi]")) + glob.glob(os.path.join("cnn_core", "*.h"))),
    )


setup(
    options={"build_ext": {"parallel": os.cpu_count() or 1}},
    ext_modules=cythonize(
        [kernel_extension(isa, flags) for isa, flags in ISAS.items()],
        compiler_directives=COMPILER_DIRECTIVES,
        include_path=[PKG],
    ),
)
