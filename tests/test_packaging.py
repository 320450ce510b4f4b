"""What the package ships besides code: version, type information, the extension's stub, and
the console script; checked on the installed package (in CI: the wheel pip built)."""
import ast
import importlib.metadata
import inspect
import re
from pathlib import Path

import pytest

import cnn_core
from cnn_core._dispatch import kernels

PACKAGE = Path(cnn_core.__file__).resolve().parent
PROJECT = Path(__file__).resolve().parents[1]


def test_version_is_one_value():
    assert re.fullmatch(r"\d+\.\d+\.\d+", cnn_core.__version__)
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnn_core.__version__"}
    try:
        installed = importlib.metadata.version("cnn_core")
    except importlib.metadata.PackageNotFoundError:
        return                                      # a source checkout on PYTHONPATH
    if PACKAGE.parent != PROJECT:                   # the installed package is the one imported
        assert installed == cnn_core.__version__


def test_type_information_is_shipped():
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_kernels.pyi").is_file()


def stub_functions():
    tree = ast.parse((PACKAGE / "_kernels.pyi").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    names = set(functions)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return functions, names


def test_stub_matches_the_compiled_module():
    """Every public name of the loaded kernel build is in _kernels.pyi with the same parameters
    (names and defaults), and the stub names nothing the module lacks."""
    functions, names = stub_functions()
    public = {name for name in dir(kernels) if not name.startswith("_")}
    assert public == names, f"in the module only: {sorted(public - names)}; in the stub only: {sorted(names - public)}"
    for name, node in functions.items():
        actual = inspect.signature(getattr(kernels, name))
        params = [a.arg for a in node.args.args]
        defaults = [ast.literal_eval(d) for d in node.args.defaults]
        assert params == list(actual.parameters), name
        expected_defaults = [p.default for p in actual.parameters.values() if p.default is not inspect.Parameter.empty]
        assert defaults == expected_defaults, name
    assert {a.name: a.value for a in kernels.Activation} == {
        "IDENTITY": 0, "SIGMOID": 1, "RELU": 2, "TANH": 3, "SOFTMAX": 4}


def test_console_script_and_extras():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"cnn-core": "cnn_core.cli:main"}
    assert {"plot", "progress", "test"} <= set(project["optional-dependencies"])
    assert project["license"] == "MIT" and (PROJECT / "LICENSE").is_file()


def test_sources_are_listed_for_the_sdist():
    manifest = (PROJECT / "MANIFEST.in").read_text()
    assert "recursive-include cnn_core *.pyx *.pxd *.pxi *.h *.pyi py.typed" in manifest
