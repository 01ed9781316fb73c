"""The course notebooks: every one runs from a clean kernel without error (the stored outputs are not trusted),
draws figures whose axes are labelled and titled (with a legend wherever several things are drawn), opens with
what it builds on and what the student can do after it, and closes with a summary and exercises whose solutions
file runs."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.py"))
# the models in the notebooks are tiny: one thread runs them fastest, and keeps a shared machine responsive
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

# Run first in every notebook: plt.show() checks each figure before drawing it, and counts the figures it checked.
FIGURE_CHECK = '''
import matplotlib.pyplot as _plt
_figures_checked, _show = [], _plt.show
def _figure_problems(fig):
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.has_data():
            continue
        siblings = ax.get_shared_x_axes().get_siblings(ax)
        if not any(a.get_xlabel() for a in siblings):
            problems.append(f"axes {i} has no x label")
        if not ax.get_ylabel() and not ax.images:  # a heat map's rows are named by its tick labels
            problems.append(f"axes {i} has no y label")
        if not ax.get_title() and not fig._suptitle:
            problems.append(f"axes {i} has no title")
        labels = [label for label in ax.get_legend_handles_labels()[1]]
        if len(labels) > 1 and ax.get_legend() is None and not fig.legends:
            problems.append(f"axes {i} draws {len(labels)} labelled things and has no legend")
    return problems
def _checked_show(*args, **kwargs):
    for num in _plt.get_fignums():
        problems = _figure_problems(_plt.figure(num))
        assert not problems, "figure check: " + "; ".join(problems)
        _figures_checked.append(num)
    return _show(*args, **kwargs)
_plt.show = _checked_show
'''


def test_there_is_a_notebook_per_stage():
    names = " ".join(p.name for p in NOTEBOOKS)
    for topic in ("tinyworld", "pretraining", "sft", "sampling", "reward_model", "rl_primer", "ppo", "dpo",
                  "overoptimisation", "grpo", "tool_use"):
        assert topic in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path):
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nb.cells.insert(0, nbformat.v4.new_code_cell(FIGURE_CHECK))
    nb.cells.append(nbformat.v4.new_code_cell("print('figures checked:', len(_figures_checked))"))
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute(
        env=ONE_THREAD)
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert figures, f"{path.name} draws no figure"
    checked = int(nb.cells[-1].outputs[0]["text"].split()[-1])
    assert checked == len(figures), f"{path.name}: {len(figures)} figures drawn, {checked} through plt.show()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_opens_with_its_place_and_closes_with_exercises(path):
    nb = nbformat.read(path, as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert markdown[0].startswith("# ") and "**After it you can**" in markdown[0], f"{path.name}: no opening"
    assert "**Builds on**" in markdown[0] or "**Where this sits.**" in markdown[0], f"{path.name}: builds on what?"
    last = markdown[-1]
    assert "## Summary" in last and "## Exercises" in last, f"{path.name}: no summary and exercises at the end"
    exercises = last.split("## Exercises")[1]
    assert "\n1. " in exercises and "\n2. " in exercises, f"{path.name}: fewer than two exercises"
    solution = f"notebooks/solutions/{path.stem}.py"
    assert solution in last and (ROOT / solution).exists(), f"{path.name}: exercises without {solution}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_solution_runs(path):
    """A teacher's solution file runs from the repository root and prints its answers."""
    done = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=ONE_THREAD, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
