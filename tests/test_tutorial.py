"""docs/tutorial.ipynb: stored without outputs, and executed on a real kernel with real ImageJ.

The kernel is this interpreter (``sys.executable -m ipykernel_launcher``, through a kernel spec
written into a temporary ``JUPYTER_PATH``), so it runs the project's venv; it inherits
``PYTHONPATH`` with the repository first, so it imports this checkout's ``fiji_bridge``.
The notebook starts its own JVM (one per process) in the kernel.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
#: Per-cell limit (seconds): a hung ImageJ call fails the test instead of blocking the suite.
CELL_TIMEOUT = 300


def test_notebook_is_stored_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, "the tutorial has no code cells"
    stored = [i for i, cell in enumerate(code)
              if cell.get("outputs") or cell.get("execution_count") is not None]
    assert not stored, (
        f"code cells {stored} of {NOTEBOOK.name} hold outputs or execution counts. Fix: clear "
        "them before committing (Jupyter: Edit > Clear Outputs of All Cells; or `jupyter "
        "nbconvert --clear-output --inplace docs/tutorial.ipynb`).")


def test_notebook_markdown_gives_menu_macro_and_python_for_each_step():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    steps = [("".join(cell["source"])) for cell in notebook["cells"]
             if cell["cell_type"] == "markdown" and "| menu |" in "".join(cell["source"])]
    assert len(steps) >= 10
    for text in steps:
        assert "| macro |" in text and "| Python |" in text, text


@pytest.mark.slow
@pytest.mark.subprocess
def test_notebook_runs_on_a_real_kernel(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install nbformat (test extra)")
    nbclient = pytest.importorskip("nbclient", reason="pip install nbclient (test extra)")
    pytest.importorskip("ipykernel", reason="pip install ipykernel (test extra)")

    spec = tmp_path / "jupyter" / "kernels" / "fiji_bridge_test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fiji_bridge test kernel", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("FIJI_BRIDGE_IMAGEJ", raising=False)
    work = tmp_path / "work"
    work.mkdir()

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # one extra cell (not stored): which fiji_bridge the kernel imported
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import fiji_bridge, sys; print('KERNEL', sys.executable, fiji_bridge.__file__)"))
    client = nbclient.NotebookClient(
        notebook, kernel_name="fiji_bridge_test", timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError with the cell and traceback on any error

    outputs = [out for cell in notebook.cells if cell.cell_type == "code"
               for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    # one image per step at least: original, 32-bit, histogram, normalised, noise, maps,
    # aligned, averages, control, Dataset plots
    assert len(images) >= 11, len(images)
    text = "".join(out.get("text", "") for out in outputs)
    assert "ImageJ 1." in text and "read back identical" in text
    assert (work / "einstein_from_noise.nc").is_file()
    # the kernel ran this interpreter and imported this checkout's package
    kernel_line = notebook.cells[-1].outputs[0].text.split()
    assert kernel_line[:2] == ["KERNEL", sys.executable]
    assert Path(kernel_line[2]).resolve() == REPO / "fiji_bridge" / "__init__.py"
