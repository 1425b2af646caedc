"""Exercise notebooks: generated from the solutions, in sync, and the markers are strict."""

from __future__ import annotations

import json

import pytest

from aiffel_lib import exercises


def nb_with(*sources: str) -> dict:
    return {"cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s,
                       "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}],
                       "execution_count": i + 1} for i, s in enumerate(sources)],
            "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


def test_block_solution_becomes_a_stub_that_raises_at_the_same_indent():
    src = ("def get_histogram(image):\n"
           "    ### BEGIN SOLUTION\n"
           "    h = compute(image)\n"
           "    return h\n"
           "    ### END SOLUTION\n")
    out, gaps = exercises.strip_solutions(src)
    assert gaps == 1
    assert "compute" not in out
    assert out.splitlines() == ["def get_histogram(image):", "    # [[YOUR CODE]]",
                                f'    raise NotImplementedError("{exercises.STUB_MESSAGE}")']
    compile(out, "<stub>", "exec")  # the stub is valid Python


def test_inline_solution_keeps_the_name_and_asks_for_the_value():
    out, gaps = exercises.strip_solutions("lower_blue = np.array([110, 50, 50])  ### SOLUTION\nx = 1")
    assert gaps == 1
    assert out.splitlines() == ["lower_blue = None  # [[YOUR CODE]]", "x = 1"]


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "without END"),
    ("x = 1\n### END SOLUTION\n", "without BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_malformed_markers_are_reported_with_the_cell(src, message):
    with pytest.raises(exercises.ExerciseMarkupError, match=message):
        exercises.strip_solutions(src, where="02_x.ipynb, cell 3")


def test_exercise_notebook_clears_outputs_adds_a_header_and_drops_solution_only_cells():
    nb = nb_with("import numpy as np", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                 "print('answer')")
    nb["cells"][2]["metadata"]["tags"] = ["solution-only"]
    ex, gaps = exercises.make_exercise(nb, "09_demo.ipynb")
    assert gaps == 1
    assert ex["cells"][0]["cell_type"] == "markdown" and "09_demo.ipynb" in ex["cells"][0]["source"]
    code = [c for c in ex["cells"] if c["cell_type"] == "code"]
    assert len(code) == 2
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert nb["cells"][1]["outputs"], "the solution notebook itself is not modified"


def test_build_writes_only_notebooks_with_exercises_and_check_detects_drift(tmp_path):
    sol, out = tmp_path / "notebooks", tmp_path / "notebooks" / "exercises"
    sol.mkdir()
    (sol / "01_a.ipynb").write_text(json.dumps(nb_with("x = 1  ### SOLUTION")))
    (sol / "02_b.ipynb").write_text(json.dumps(nb_with("y = 2")))
    assert exercises.build(sol, out) == {"01_a.ipynb": 1}
    assert sorted(p.name for p in out.iterdir()) == ["01_a.ipynb"]
    assert exercises.build(sol, out, write=False) == {}
    (sol / "01_a.ipynb").write_text(json.dumps(nb_with("x = 3  ### SOLUTION", "z = 0")))
    assert exercises.build(sol, out, write=False) == {"01_a.ipynb": 1}


def test_committed_exercise_notebooks_are_exactly_what_the_build_produces():
    stale = exercises.build(write=False)
    assert not stale, f"run `python -m aiffel_lib.exercises build`; out of date: {sorted(stale)}"


def test_committed_exercise_notebooks_are_release_copies_without_outputs():
    # Deliberate: learners open them clean (like nbgrader's release versions), so nbval skips
    # them (conftest's collect_ignore_glob) and the execution test below runs them instead.
    for path in sorted(exercises.EXERCISES_DIR.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), path.name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01_color_masking", "02_histogram_search", "03_imagenet_classifier"])
def test_running_an_untouched_exercise_notebook_gives_friendly_verdicts(name):
    """What a learner sees running the exercise notebook before filling any gap: every check
    cell prints a plain-words failure (no traceback), whatever the stubs did to earlier cells.
    (04-06 train or load networks for minutes; their checks run on stubs in test_checks.py.)"""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(exercises.EXERCISES_DIR / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(exercises.EXERCISES_DIR)}}).execute()
    check_cells = [c for c in nb.cells if c.cell_type == "code" and "checks.check_" in c.source]
    assert check_cells, "no check cells"
    for cell in check_cells:
        kinds = [o.output_type for o in cell.outputs]
        assert "error" not in kinds, (cell.source, cell.outputs)
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert text.startswith("❌") and "hint" in text and "Traceback" not in text, (cell.source, text)
