"""The logic of the wheel build, checked quickly and offline (no wheel is built here):
tools/find_pythons.py (which interpreters tools/build_wheels.sh builds for), setup.py's choice
of compiler flags per platform and its probing of each instruction set's flags, and the shell
scripts' syntax. Skipped where the sources are not there (an installed package without the
source tree)."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
TOOLS = PROJECT / "tools"


def load(path, name):
    if not path.is_file():
        pytest.skip(f"{path.name} is not here (not a source tree)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fp():
    return load(TOOLS / "find_pythons.py", "cnn_core_find_pythons")


@pytest.fixture(scope="module")
def setup_py():
    # setup.py builds nothing on import (setup() runs under __main__ only) and imports
    # setuptools, numpy and Cython lazily, so this works in an environment without them.
    return load(PROJECT / "setup.py", "cnn_core_setup")


# --- tools/find_pythons.py ------------------------------------------------------------------

def fake_pyenv(root, names, without_python=()):
    for name in names:
        bin_dir = root / "versions" / name / "bin"
        bin_dir.mkdir(parents=True)
        if name not in without_python:
            exe = bin_dir / "python3"
            exe.write_text("#!/bin/sh\n")
            exe.chmod(0o755)
    return root


def test_pyenv_layout_picks_cpython_3_9_to_3_13_newest_patch(fp, tmp_path):
    root = fake_pyenv(tmp_path, ["2.7.18", "3.8.18", "3.9.18", "3.10.12", "3.10.13", "3.11.7",
                                 "3.12.1", "3.13.0", "3.13.0t", "3.14.0a1", "pypy3.10-7.3.15",
                                 "miniconda3-latest", "3.12.0"], without_python=["3.12.1"])
    (tmp_path / "versions" / "not-a-folder").write_text("")
    chosen, skipped = fp.choose_pyenv(fp.pyenv_entries(str(root)))
    assert {key: version for key, (version, _) in chosen.items()} == {
        (3, 9): (3, 9, 18), (3, 10): (3, 10, 13), (3, 11): (3, 11, 7), (3, 12): (3, 12, 0),
        (3, 13): (3, 13, 0)}
    assert chosen[(3, 13)][1] == str(root / "versions" / "3.13.0" / "bin" / "python3")
    reasons = dict(skipped)
    assert reasons["2.7.18"] == reasons["3.8.18"] == "outside 3.9-3.13"
    assert reasons["3.10.12"] == "3.10.13 is newer"
    assert reasons["3.12.1"] == "no bin/python in it"
    assert "free-threaded" in reasons["3.13.0t"]
    assert reasons["3.14.0a1"] == "a pre-release"
    assert reasons["pypy3.10-7.3.15"] == reasons["miniconda3-latest"] == "not CPython"


def test_patch_versions_compare_as_numbers(fp):
    chosen, skipped = fp.choose_pyenv([("3.11.10", "/a"), ("3.11.9", "/b")])
    assert chosen[(3, 11)] == ((3, 11, 10), "/a") and skipped == [("3.11.9", "3.11.10 is newer")]


def test_main_prints_lines_and_says_what_it_skipped(fp, tmp_path, capsys):
    root = fake_pyenv(tmp_path, ["3.8.18", "3.9.18", "3.13.0"])
    assert fp.main(["--pyenv-root", str(root), "--no-path"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"3.9 {root}/versions/3.9.18/bin/python3",
                                f"3.13 {root}/versions/3.13.0/bin/python3"]
    assert "found 3.9.18" in err and "skipped 3.8.18: outside 3.9-3.13" in err


def test_main_fails_when_nothing_is_found(fp, tmp_path, capsys):
    assert fp.main(["--pyenv-root", str(tmp_path), "--no-path"]) == 1
    assert "no CPython 3.9-3.13" in capsys.readouterr().err


def test_range_can_be_narrowed(fp, tmp_path):
    root = fake_pyenv(tmp_path, ["3.9.18", "3.12.1", "3.13.0"])
    chosen, skipped = fp.choose_pyenv(fp.pyenv_entries(str(root)), (3, 12), (3, 13))
    assert sorted(chosen) == [(3, 12), (3, 13)] and dict(skipped)["3.9.18"] == "outside 3.12-3.13"


def test_given_interpreters_are_asked_for_their_version(fp, tmp_path):
    exe = {}
    for name in ("py39", "py38", "pypy", "py313t", "py313", "broken"):
        exe[name] = tmp_path / name
        exe[name].write_text("")
        exe[name].chmod(0o755)
    facts = {"py39": ("cpython", (3, 9), False), "py38": ("cpython", (3, 8), False),
             "pypy": ("pypy", (3, 10), False), "py313t": ("cpython", (3, 13), True),
             "py313": ("cpython", (3, 13), False), "broken": None}
    ask = lambda path: facts[Path(path).name]                      # noqa: E731
    which = lambda name: str(exe[name]) if name in exe else None   # noqa: E731
    chosen, skipped = fp.check_given(["py313", "py39", "py38", "pypy", "py313t", "broken",
                                      "missing", str(exe["py39"])], which=which, ask=ask)
    assert {key: path for key, (_, path) in chosen.items()} == {
        (3, 13): str(exe["py313"]), (3, 9): str(exe["py39"])}
    reasons = dict(skipped)
    assert "outside 3.9-3.13" in reasons["py38"]
    assert "not CPython" in reasons["pypy"]
    assert "free-threaded" in reasons["py313t"]
    assert reasons["broken"] == "does not run" and reasons["missing"] == "not found"
    assert reasons[str(exe["py39"])] == "Python 3.9 again"


def test_a_python3_x_name_falls_back_to_pyenv(fp, tmp_path):
    """pyenv's shim of python3.13 fails unless 3.13 is activated: the name is looked up in
    the pyenv folders instead."""
    root = fake_pyenv(tmp_path, ["3.13.0", "3.13.1"])
    entries = fp.pyenv_entries(str(root))
    newest = str(root / "versions" / "3.13.1" / "bin" / "python3")
    ask = lambda path: ("cpython", (3, 13), False) if path == newest else None   # noqa: E731
    chosen, skipped = fp.check_given(["python3.13"], which=lambda name: "/shims/" + name,
                                     ask=ask, entries=entries)
    assert chosen == {(3, 13): ((3, 13), newest)} and skipped == []


def test_find_pythons_runs_as_a_script(tmp_path):
    root = fake_pyenv(tmp_path, ["3.8.1"])
    run = subprocess.run([sys.executable, str(TOOLS / "find_pythons.py"), "--pyenv-root", str(root),
                          "--no-path"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "skipped 3.8.1: outside 3.9-3.13" in run.stderr


# --- the shell scripts -------------------------------------------------------------------------

@pytest.mark.parametrize("script", ["build_wheels.sh", "check_wheels.sh"])
def test_shell_script_syntax(script):
    path = TOOLS / script
    if not path.is_file():
        pytest.skip(f"{script} is not here")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    assert subprocess.run([bash, "-n", str(path)], capture_output=True, timeout=60).returncode == 0
    assert os.access(path, os.X_OK)
    run = subprocess.run([bash, str(path), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and f"tools/{script}" in run.stdout


def test_wheelhouse_is_ignored_and_tools_are_in_the_sdist():
    for name, needle in ((".gitignore", "wheelhouse/"), ("MANIFEST.in", "recursive-include tools")):
        if not (PROJECT / name).is_file():
            pytest.skip(f"{name} is not here")
        assert needle in (PROJECT / name).read_text()


# --- setup.py: platform flags ---------------------------------------------------------------------

def test_toolchain_per_platform(setup_py):
    assert setup_py.toolchain("linux", "unix", cc="") == "gcc"
    assert setup_py.toolchain("win32", "msvc") == "msvc"
    assert setup_py.toolchain("win32", "mingw32", cc="") == "gcc"
    assert setup_py.toolchain("darwin", "unix", cc="") == "apple-clang"
    assert setup_py.toolchain("darwin", "unix", cc="clang") == "apple-clang"
    assert setup_py.toolchain("darwin", "unix", cc="/opt/homebrew/bin/gcc-14") == "gcc"


def test_linux_flags_are_gcc_openmp(setup_py):
    flags = setup_py.build_flags("gcc")
    assert flags["compile"] == ["-fopenmp", "-fno-math-errno", "-O3"]
    assert flags["link"] == ["-fopenmp"]
    debug = setup_py.build_flags("gcc", debug=True, sanitize="address")
    assert {"-O1", "-g", "-UNDEBUG", "-fsanitize=address"} <= set(debug["compile"])
    assert "-fsanitize=address" in debug["link"]


def test_macos_flags_use_libomp(setup_py):
    flags = setup_py.build_flags("apple-clang", omp_prefix="/opt/homebrew/opt/libomp")
    assert flags["compile"][:2] == ["-Xpreprocessor", "-fopenmp"] and "-O3" in flags["compile"]
    assert "-fopenmp" not in flags["link"] and "-lomp" in flags["link"]
    assert flags["include_dirs"] == ["/opt/homebrew/opt/libomp/include"]
    assert flags["library_dirs"] == ["/opt/homebrew/opt/libomp/lib"]
    assert setup_py.libomp_prefix({"CNN_CORE_LIBOMP": "/x"}) == "/x"
    assert setup_py.libomp_prefix({}, exists=lambda p: p == "/usr/local/opt/libomp") == "/usr/local/opt/libomp"
    assert setup_py.libomp_prefix({}, exists=lambda p: False) is None
    assert setup_py.build_flags("apple-clang")["include_dirs"] == []


def test_windows_flags_are_msvc(setup_py):
    flags = setup_py.build_flags("msvc")
    assert flags["compile"] == ["/openmp", "/O2"] and flags["link"] == []
    assert not any(f.startswith("-") for f in flags["compile"])
    assert setup_py.ISA_FLAGS["msvc"] == {"baseline": [], "avx2": ["/arch:AVX2"], "avx512": ["/arch:AVX512"]}


def test_non_x86_builds_the_baseline_only(setup_py):
    for machine in ("aarch64", "arm64", "ppc64le", "s390x", "riscv64"):
        assert setup_py.candidate_isas("gcc", machine) == {"baseline": []}
    for machine in ("x86_64", "AMD64"):
        assert list(setup_py.candidate_isas("gcc", machine)) == ["baseline", "avx2", "avx512"]
    assert setup_py.candidate_isas("msvc", "AMD64")["avx512"] == ["/arch:AVX512"]


def test_isas_chosen_by_environment(setup_py, capsys):
    x86 = setup_py.candidate_isas("gcc", "x86_64")
    assert setup_py.requested_isas(x86, "") == x86
    assert setup_py.requested_isas(x86, "baseline") == {"baseline": []}
    assert list(setup_py.requested_isas(x86, "baseline, AVX2")) == ["baseline", "avx2"]
    arm = setup_py.candidate_isas("gcc", "aarch64")
    assert setup_py.requested_isas(arm, "", machine="aarch64") == {"baseline": []}
    assert "aarch64, not x86-64: building the baseline kernels only" in capsys.readouterr().err
    assert setup_py.requested_isas(arm, "avx512", machine="aarch64") == {"baseline": []}
    err = capsys.readouterr().err
    assert "avx512, which this machine (aarch64) cannot build" in err and "building the baseline" in err
    with pytest.raises(SystemExit, match="unknown instruction set"):
        setup_py.requested_isas(x86, "baseline,sse9")


# --- setup.py: probing the compiler ----------------------------------------------------------------

class FakeCompiler:
    """A distutils compiler that rejects some flags, as an old GCC rejects -mavx512f."""

    compiler_type = "unix"

    def __init__(self, rejects=()):
        self.rejects = set(rejects)
        self.calls = []

    def compile(self, sources, output_dir=None, extra_postargs=()):
        self.calls.append(list(extra_postargs))
        source = Path(sources[0]).read_text()
        if self.rejects & set(extra_postargs):
            raise RuntimeError("error: unrecognized command-line option")
        if "#error" in source and "__AVX512F__" in source and "-mavx512f" not in extra_postargs:
            raise RuntimeError("#error __AVX512F__ is not defined")
        return [sources[0] + ".o"]


def test_a_compiler_that_rejects_avx512_builds_the_rest(setup_py, capsys):
    compiler = FakeCompiler(rejects={"-mavx512f"})
    kept = setup_py.usable_isas(compiler, setup_py.candidate_isas("gcc", "x86_64"))
    assert list(kept) == ["baseline", "avx2"]
    assert "does not accept the avx512 flags" in capsys.readouterr().err
    assert len(compiler.calls) == 2                 # avx2 and avx512 probed, the baseline never


def test_the_baseline_always_builds(setup_py, capsys):
    compiler = FakeCompiler(rejects={"-mavx2", "-mavx512f"})
    assert setup_py.usable_isas(compiler, setup_py.candidate_isas("gcc", "x86_64")) == {"baseline": []}
    assert setup_py.usable_isas(compiler, {"avx512": ["-mavx512f"]}) == {"baseline": []}
    assert setup_py.usable_isas(FakeCompiler(), {"baseline": []}) == {"baseline": []}


def test_a_flag_that_is_accepted_but_ignored_fails_the_probe(setup_py):
    """MSVC only warns about an unknown /arch: the probe checks the macro the ISA defines."""
    source = setup_py.probe_source("avx512")
    assert "#ifndef __AVX512F__" in source and "_mm512_add_pd" in source
    assert not setup_py.compiler_accepts(FakeCompiler(), ["-mignored"], source)
    assert setup_py.compiler_accepts(FakeCompiler(), ["-mavx512f"], source)


def real_compiler():
    pytest.importorskip("setuptools")
    import setuptools  # noqa: F401  (makes `distutils` setuptools' copy on Python 3.12+)
    from distutils.ccompiler import new_compiler
    from distutils.sysconfig import customize_compiler
    compiler = new_compiler()
    customize_compiler(compiler)
    if compiler.compiler_type != "unix" or not shutil.which(compiler.compiler[0]):
        pytest.skip("no Unix C compiler here")
    return compiler


@pytest.mark.skipif(sys.platform != "linux", reason="GCC/Clang flags")
def test_probing_with_the_real_compiler(setup_py, capsys):
    compiler = real_compiler()
    import platform
    if not setup_py.is_x86(platform.machine()):
        pytest.skip("x86 flags")
    assert setup_py.compiler_accepts(compiler, ["-mavx2", "-mfma"], setup_py.probe_source("avx2"))
    assert not setup_py.compiler_accepts(compiler, [], setup_py.probe_source("avx2"))
    assert not setup_py.compiler_accepts(compiler, ["-mno-such-flag-cnn-core"], "int x;\n")
    kept = setup_py.usable_isas(compiler, {"baseline": [], "avx512": ["-mno-such-flag-cnn-core"]})
    assert kept == {"baseline": []}
    assert "does not accept the avx512 flags" in capsys.readouterr().err
