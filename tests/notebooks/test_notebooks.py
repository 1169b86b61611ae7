"""The notebooks in notebooks/ run headless (nbclient, CPU, small organisms from the shared test
cache) and show their figures inline."""

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
PLOTLY = "application/vnd.plotly.v1+json"
BUILD_CALL = re.compile(r'build\("(\w+)", SIZE, (\d+)')


def organisms_built_by(nb) -> list[tuple[str, int]]:
    """``(name, seed)`` of every ``build("name", SIZE, seed ...)`` call in the notebook's code cells."""
    return [(name, int(seed)) for c in nb.cells if c.cell_type == "code" for name, seed in BUILD_CALL.findall(c.source)]


def test_the_four_notebooks_exist():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]


def test_the_organisms_each_notebook_builds_are_found():
    """The cache is warmed from these calls; a notebook that builds an organism another way would
    build it inside a timed cell."""
    found = {p.stem: organisms_built_by(nbformat.read(p, as_version=4)) for p in NOTEBOOKS}
    assert found["01_facts_tour"] == [("facts", 0)]
    assert found["02_moe_experts"] == [("moe", 1)]
    assert found["03_skills_key_space"] == [("moe", 0)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_and_shows_figures(path, organism_home, monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARNSCOPE_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    from unlearnscope.organisms import build

    for name, seed in organisms_built_by(nb):  # warm the shared cache first: the cell limit times the notebook
        build(name, "small", seed, progress=False, log=lambda m: None)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if PLOTLY in o.get("data", {})]
    n_plot_cells = sum(
        1
        for c in nb.cells
        if c.cell_type == "code" and ("plot()" in c.source or "figure(" in c.source or "heatmap(" in c.source)
    )
    assert len(figures) >= max(1, n_plot_cells), (
        f"{path.name}: {len(figures)} inline figures for {n_plot_cells} plotting cells"
    )
    for f in figures:
        assert f["data"][PLOTLY]["data"], "an inline figure without traces"
    assert os.environ["UNLEARNSCOPE_ORGANISM_SIZE"] == "small"
