"""Execute every notebook (jupytext percent scripts) with small settings, so none can rot."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

from tests.conftest import SHARED_DATA

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))
SMALL_SETTINGS = {
    "SCALINGLAW_NB_STARTS": "64",
    "SCALINGLAW_NB_RESAMPLES": "20",
    "SCALINGLAW_NB_DRAWS": "100",
    "SCALINGLAW_NB_STUDIES": "2",
    "SCALINGLAW_DATA_DIR": str(SHARED_DATA),
    "MPLBACKEND": "Agg",
}


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch, tmp_path):
    for name, value in SMALL_SETTINGS.items():
        monkeypatch.setenv(name, value)
    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells and all(cell.get("execution_count") for cell in code_cells)
    assert any(cell.get("outputs") for cell in code_cells)  # it showed something
