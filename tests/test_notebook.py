"""examples/book_network.ipynb runs in a real Jupyter kernel of this Python, with no error."""
import json
import sys
from pathlib import Path

import pytest

from conftest import PACKAGE_PARENT, UNDER_ASAN

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "book_network.ipynb"


def test_book_notebook_runs(tmp_path, monkeypatch):
    if UNDER_ASAN:
        pytest.skip("matplotlib aborts under a preloaded AddressSanitizer")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    # A kernel spec of our own, first on JUPYTER_PATH, that starts this very interpreter: a
    # "python3" spec installed for the user could name another Python.
    spec = tmp_path / "jupyter" / "kernels" / "cnn-core-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cnn_core tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("PYTHONPATH", PACKAGE_PARENT)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    client = nbclient.NotebookClient(nb, timeout=300, startup_timeout=120,
                                     kernel_name="cnn-core-test",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()

    outputs = [(i, out) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
               for out in cell.get("outputs", [])]
    errors = [f"cell {i}: {out.get('ename')}: {out.get('evalue')}" for i, out in outputs
              if out.output_type == "error"]
    errors += [f"cell {i}: {out.text}" for i, out in outputs
               if out.output_type == "stream" and out.name == "stderr"
               and ("Traceback" in out.text or "Error" in out.text)]
    assert not errors, errors
    assert nb.cells[0].outputs[0].text.strip() == sys.executable     # this venv's Python
    kinds = {kind for _, out in outputs for kind in out.get("data", {})}
    assert "image/png" in kinds                          # matplotlib drew inline
    assert "text/html" in kinds                          # the network's _repr_html_
    text = "".join(out.get("text", "") for _, out in outputs)
    assert "performance =" in text
    fit_cell = next(c for c in nb.cells if "progress=True" in c.source)
    shown = [out for out in fit_cell.outputs
             if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
             or (out.output_type == "stream" and "fit:" in out.text)]
    assert shown, fit_cell.outputs                        # fit(progress=True) showed its bar
    assert not [out for out in fit_cell.outputs if "TqdmWarning" in out.get("text", "")]
