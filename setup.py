"""Build the Cython kernels of cnn_core.

The one kernel module, ``cnn_core/_kernels.pyx`` (with ``_kernels.pxd``, the ``.pxi`` files it
includes and the C helper ``_simd.h``), is compiled once per instruction set into ``cnn_core._kernels_<isa>``; at import,
``cnn_core._dispatch`` loads the best one the CPU supports (``CNN_CORE_ISA`` forces one).

Before compiling, each instruction set's flags are tried on a tiny C file with the compiler
that will build the kernels; a set the compiler rejects (an old compiler without AVX-512, say)
is left out with a message, and on a machine that is not x86-64 only the baseline is built.
The baseline always builds. The compiler flags follow the platform: GCC/Clang on Linux (and
MinGW), Apple Clang with Homebrew's libomp on macOS, MSVC on Windows (see README.md, "Wheels
and source builds").

Environment switches (read at build time):
  CNN_CORE_DEBUG=1           bounds/wraparound/initialized checks on, -O1 -g (slow; for debugging)
  CNN_CORE_SANITIZE=address  build with AddressSanitizer (run with LD_PRELOAD=$(gcc -print-file-name=libasan.so))
  CNN_CORE_ISAS=baseline,avx2  build only these instruction sets (default: all this platform has)
  CNN_CORE_LIBOMP=<prefix>   macOS: where libomp is (default: `brew --prefix libomp`'s usual places)

The functions above ``main()`` are plain functions of their arguments (no build happens on
import), so tests/test_build_wheels.py can check them without a compiler or Cython.
"""
import glob
import os
import platform
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "cnn_core")

# Same source, one module per instruction set. Keep in step with cnn_core/_dispatch.py.
# "gcc" flags serve GCC and Clang (Linux, macOS on Intel, MinGW); "msvc" is cl.exe / clang-cl.
ISA_FLAGS = {
    "gcc": {
        "baseline": [],
        "avx2": ["-mavx2", "-mfma", "-mf16c"],
        "avx512": ["-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw",
                   "-mavx2", "-mfma", "-mf16c", "-mprefer-vector-width=512"],
    },
    "msvc": {
        "baseline": [],
        "avx2": ["/arch:AVX2"],
        "avx512": ["/arch:AVX512"],
    },
}
ISA_FLAGS["apple-clang"] = ISA_FLAGS["gcc"]
X86_ISAS = ISA_FLAGS["gcc"]                  # (name kept for scripts that read it)

# What a compiler that really honours an instruction set's flags defines; the probe checks it,
# so a compiler that only warns about an unknown flag (MSVC does) does not pass.
ISA_PROBE_MACROS = {"avx2": ["__AVX2__"], "avx512": ["__AVX512F__"]}
ISA_PROBE_CODE = {
    "avx2": "__m256d f(__m256d a, __m256d b) { return _mm256_add_pd(a, b); }\n",
    "avx512": "__m512d f(__m512d a, __m512d b) { return _mm512_add_pd(a, b); }\n",
}

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "embedsignature": True,
}

LIBOMP_PREFIXES = ("/opt/homebrew/opt/libomp", "/usr/local/opt/libomp")   # Apple silicon, Intel


def log(message):
    print(f"cnn_core setup: {message}", file=sys.stderr, flush=True)


def toolchain(plat=None, compiler_type="unix", cc=None):
    """Which family of flags to use: "msvc" (Windows cl.exe, clang-cl), "apple-clang" (macOS,
    unless $CC names a real GCC) or "gcc" (GCC or Clang on Linux and the BSDs, MinGW)."""
    plat = sys.platform if plat is None else plat
    if compiler_type == "msvc":
        return "msvc"
    cc = os.environ.get("CC", "") if cc is None else cc
    if plat == "darwin" and "gcc" not in os.path.basename(cc.split(" ")[0] if cc else ""):
        return "apple-clang"
    return "gcc"


def is_x86(machine=None):
    machine = platform.machine() if machine is None else machine
    return machine.lower() in ("x86_64", "amd64", "x64", "i386", "i686", "x86")


def candidate_isas(kind="gcc", machine=None):
    """The instruction sets worth trying on this machine: all three on x86, else the baseline."""
    if is_x86(machine):
        return dict(ISA_FLAGS[kind])
    return {"baseline": []}


def requested_isas(candidates, wanted=None, machine=None):
    """Narrow `candidates` to CNN_CORE_ISAS (a comma-separated list; `wanted` overrides the
    environment). A name this machine cannot build is dropped with a message; an unknown name is
    an error. Never returns an empty dict: with nothing left, the baseline is built."""
    wanted = os.environ.get("CNN_CORE_ISAS", "") if wanted is None else wanted
    names = [name.strip().lower() for name in wanted.split(",") if name.strip()]
    if not names:
        if "avx2" not in candidates:
            log(f"this machine is {machine or platform.machine() or 'unknown'}, not x86-64: "
                "building the baseline kernels only")
        return dict(candidates)
    known = set(ISA_FLAGS["gcc"])
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"cnn_core setup: CNN_CORE_ISAS={wanted!r}: unknown instruction set(s) "
                         f"{unknown}; choose from {sorted(known)}")
    chosen = {}
    for name in names:
        if name in candidates:
            chosen[name] = candidates[name]
        else:
            log(f"CNN_CORE_ISAS asks for {name}, which this machine "
                f"({machine or platform.machine()}) cannot build: left out")
    if not chosen:
        log("nothing left to build of CNN_CORE_ISAS: building the baseline kernels")
        chosen = {"baseline": candidates.get("baseline", [])}
    return chosen


def probe_source(isa):
    """A tiny C file that compiles only when the compiler really targets `isa`."""
    lines = ["#include <immintrin.h>\n"]
    for macro in ISA_PROBE_MACROS.get(isa, []):
        lines.append(f"#ifndef {macro}\n#error {macro} is not defined\n#endif\n")
    lines.append(ISA_PROBE_CODE.get(isa, ""))
    lines.append("int cnn_core_probe(void) { return 0; }\n")
    return "".join(lines)


def compiler_accepts(compiler, flags, source, name="probe"):
    """True when `compiler` (a distutils CCompiler) compiles `source` with `flags`."""
    tmp = tempfile.mkdtemp(prefix="cnn_core_probe_")
    try:
        path = os.path.join(tmp, f"{name}.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            compiler.compile([path], output_dir=tmp, extra_postargs=list(flags))
        except Exception:                   # CompileError, or a compiler that is not there at all
            return False
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def usable_isas(compiler, isas, extra_flags=()):
    """`isas` without the instruction sets whose flags `compiler` rejects (each with a message).
    The baseline is never probed and always kept (or added when nothing else is left)."""
    kept = {}
    for isa, flags in isas.items():
        if isa == "baseline" or compiler_accepts(compiler, list(extra_flags) + list(flags), probe_source(isa), isa):
            kept[isa] = flags
        else:
            log(f"the compiler does not accept the {isa} flags ({' '.join(flags)}): "
                f"building without the {isa} kernels (the baseline always builds)")
    if not kept:
        kept["baseline"] = []
    return kept


def libomp_prefix(env=None, exists=os.path.isdir):
    """macOS: the folder holding libomp's include/ and lib/ ($CNN_CORE_LIBOMP, else Homebrew's)."""
    env = os.environ if env is None else env
    if env.get("CNN_CORE_LIBOMP"):
        return env["CNN_CORE_LIBOMP"]
    for prefix in LIBOMP_PREFIXES:
        if exists(prefix):
            return prefix
    return None


def build_flags(kind, debug=False, sanitize="", omp_prefix=None):
    """Compile and link flags, include and library folders shared by every kernel build, as a
    dict with keys compile, link, include_dirs, library_dirs, for a toolchain() kind."""
    if kind == "msvc":
        compile_args = ["/openmp"] + (["/Od", "/Zi", "/UNDEBUG"] if debug else ["/O2"])
        link_args = ["/DEBUG"] if debug else []
        if sanitize:
            compile_args.append(f"/fsanitize={sanitize}")
        return {"compile": compile_args, "link": link_args, "include_dirs": [], "library_dirs": []}
    if kind == "apple-clang":
        # Apple's clang has no OpenMP runtime of its own: `brew install libomp`.
        compile_args = ["-Xpreprocessor", "-fopenmp", "-fno-math-errno"]
        link_args = ["-lomp"]
        include_dirs, library_dirs = [], []
        if omp_prefix:
            include_dirs.append(os.path.join(omp_prefix, "include"))
            library_dirs.append(os.path.join(omp_prefix, "lib"))
            link_args.append(f"-Wl,-rpath,{os.path.join(omp_prefix, 'lib')}")
    else:
        compile_args = ["-fopenmp", "-fno-math-errno"]
        link_args = ["-fopenmp"]
        include_dirs, library_dirs = [], []
    compile_args += ["-O1", "-g", "-UNDEBUG"] if debug else ["-O3"]
    if sanitize:
        compile_args += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer"]
        link_args += [f"-fsanitize={sanitize}"]
    return {"compile": compile_args, "link": link_args, "include_dirs": include_dirs,
            "library_dirs": library_dirs}


OPENMP_HELP = {
    "apple-clang": "Apple's clang needs the OpenMP runtime from Homebrew: `brew install libomp` "
                   "(or set CNN_CORE_LIBOMP to a folder with include/omp.h and lib/libomp.dylib)",
    "msvc": "MSVC builds with /openmp; install the 'Desktop development with C++' workload",
    "gcc": "GCC ships OpenMP (Debian/Ubuntu: gcc and libgomp1; Fedora: gcc and libgomp); with "
           "Clang install libomp (Debian/Ubuntu: libomp-dev)",
}


OPENMP_PROBE = "#include <omp.h>\nint cnn_core_probe(void) { return omp_get_max_threads(); }\n"


def kernel_extension(isa):
    """Copy the kernel sources under the module name ``_kernels_<isa>`` and declare its Extension.

    Cython names a module after its file (and finds its .pxd the same way), so each build gets
    its own copy of the .pyx/.pxd in build/, next to the shared C helper. The flags are set by
    build_ext, once the compiler is known."""
    import numpy
    from setuptools import Extension

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
        depends=sorted(glob.glob(os.path.join("cnn_core", "*.p[xy][dxi]")) + glob.glob(os.path.join("cnn_core", "*.h"))),
    )


def isa_of(extension_name):
    return extension_name.rsplit("_kernels_", 1)[1]


def make_build_ext():
    from setuptools.command.build_ext import build_ext

    class BuildKernels(build_ext):
        """build_ext that chooses the flags for the compiler at hand and leaves out the
        instruction sets it cannot build."""

        def build_extensions(self):
            kind = toolchain(sys.platform, self.compiler.compiler_type)
            debug = os.environ.get("CNN_CORE_DEBUG", "") not in ("", "0")
            sanitize = os.environ.get("CNN_CORE_SANITIZE", "")
            flags = build_flags(kind, debug, sanitize,
                                libomp_prefix() if kind == "apple-clang" else None)
            probe_flags = flags["compile"] + [f"-I{d}" for d in flags["include_dirs"]]
            if not compiler_accepts(self.compiler, probe_flags, OPENMP_PROBE, "openmp"):
                raise SystemExit(f"cnn_core setup: the C compiler cannot build OpenMP code with "
                                 f"{' '.join(flags['compile'])}. {OPENMP_HELP[kind]}.")
            wanted = {isa_of(ext.name): ISA_FLAGS[kind][isa_of(ext.name)] for ext in self.extensions}
            kept = usable_isas(self.compiler, wanted)
            self.extensions = [ext for ext in self.extensions if isa_of(ext.name) in kept]
            for ext in self.extensions:
                ext.extra_compile_args = flags["compile"] + kept[isa_of(ext.name)]
                ext.extra_link_args = flags["link"]
                ext.include_dirs = ext.include_dirs + flags["include_dirs"]
                ext.library_dirs = ext.library_dirs + flags["library_dirs"]
            log(f"building kernels {', '.join(isa_of(ext.name) for ext in self.extensions)} "
                f"({kind} flags: {' '.join(flags['compile'])})")
            super().build_extensions()

    return BuildKernels


def main():
    from Cython.Build import cythonize
    from setuptools import setup

    debug = os.environ.get("CNN_CORE_DEBUG", "") not in ("", "0")
    directives = dict(COMPILER_DIRECTIVES, boundscheck=debug, wraparound=debug,
                      initializedcheck=debug, cdivision=not debug)
    # Which instruction sets the compiler accepts is only known in build_ext; here the
    # candidates of this machine (all three on x86-64, narrowed by CNN_CORE_ISAS) are cythonized.
    isas = requested_isas(candidate_isas("gcc"))
    setup(
        cmdclass={"build_ext": make_build_ext()},
        options={"build_ext": {"parallel": os.cpu_count() or 1}},
        ext_modules=cythonize(
            [kernel_extension(isa) for isa in isas],
            compiler_directives=directives,
            include_path=[PKG],
        ),
    )


if __name__ == "__main__":
    main()
