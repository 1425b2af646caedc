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


def test_block_solution_becomes_a_stub_that_raises_at_the_same_indent_and_names_the_function():
    src = ("def get_histogram(image):\n"
           "    ### BEGIN SOLUTION\n"
           "    h = compute(image)\n"
           "    return h\n"
           "    ### END SOLUTION\n")
    out, gaps = exercises.strip_solutions(src)
    assert gaps == 1
    assert "compute" not in out
    lines = out.splitlines()
    assert lines[:2] == ["def get_histogram(image):", "    # [[YOUR CODE]]"]
    assert lines[2].startswith('    raise NotImplementedError("get_histogram() is not written yet')
    ns = {}
    exec(out, ns)  # the stub is valid Python and raises only when called, naming the gap
    with pytest.raises(NotImplementedError, match=r"get_histogram\(\) is not written yet.*\[\[YOUR CODE\]\]"):
        ns["get_histogram"](None)


def test_module_level_block_stops_the_cell_at_the_gap_and_names_what_it_assigns():
    src = ("web32 = None\n"
           "### BEGIN SOLUTION\n"
           "web32 = export(model)\n"
           "### END SOLUTION\n"
           "print(web32['dir'])\n")
    out, gaps = exercises.strip_solutions(src)
    assert gaps == 1 and "export(model)" not in out
    ns = {}
    with pytest.raises(NotImplementedError, match=r"\(web32\).*\[\[YOUR CODE\]\]"):
        exec(out, ns)
    assert ns["web32"] is None, "the names set before the gap stay defined for the check cell"


def test_inline_solutions_keep_the_names_and_a_guard_stops_before_their_first_use():
    src = ("hsv = convert(frame)\n"
           "lower = np.array([110, 50, 50])  ### SOLUTION\n"
           "# a comment between gaps\n"
           "mask = in_range(hsv, lower)  ### SOLUTION\n"
           "\n"
           "print(mask.shape)\n")
    out, gaps = exercises.strip_solutions(src)
    assert gaps == 2
    lines = out.splitlines()
    assert lines[1] == "lower = None  # [[YOUR CODE]]" and lines[3] == "mask = None  # [[YOUR CODE]]"
    assert lines[4].startswith("if any(value is None for value in (lower, mask)):")
    assert "Fill in lower, mask" in lines[5]
    assert lines[-1] == "print(mask.shape)"
    ns = {"convert": lambda f: f, "frame": 1}
    with pytest.raises(NotImplementedError, match="Fill in lower, mask"):
        exec(out, ns)  # stops at the guard, not with AttributeError on None.shape
    import numpy as np

    filled = out.replace("lower = None", "lower = np.array([1, 2])").replace("mask = None", "mask = np.zeros(3)")
    exec(filled, {"np": np, "convert": lambda f: f, "frame": 1})  # filled in: the guard lets it run


def test_inline_gaps_inside_a_function_and_tuple_targets():
    src = ("def f(x):\n"
           "    a, b = x, 2 * x  ### SOLUTION\n"
           "    return a + b\n")
    out, gaps = exercises.strip_solutions(src)
    assert gaps == 2
    assert "    a, b = None, None  # [[YOUR CODE]]" in out.splitlines()
    ns = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError, match="Fill in a, b"):
        ns["f"](1)


def test_a_guard_at_the_end_of_a_cell_too():
    out, gaps = exercises.strip_solutions("x = 3  ### SOLUTION")
    assert gaps == 1
    with pytest.raises(NotImplementedError, match="Fill in x"):
        exec(out, {})


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "without END"),
    ("x = 1\n### END SOLUTION\n", "without BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_malformed_markers_are_reported_with_the_cell(src, message):
    with pytest.raises(exercises.ExerciseMarkupError, match=message):
        exercises.strip_solutions(src, where="02_x.ipynb, cell 3")


def test_exercise_notebook_clears_outputs_adds_a_header_and_drops_solution_only_cells():
    nb = nb_with("from aiffel_lib import notebook\nnotebook.setup(seed=42)\n%matplotlib inline",
                 "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                 "print('answer')", "y = 2  ### SOLUTION")
    nb["cells"][2]["metadata"]["tags"] = ["solution-only"]
    ex, gaps = exercises.make_exercise(nb, "09_demo.ipynb")
    assert gaps == 2
    header = ex["cells"][0]
    assert header["cell_type"] == "markdown" and "09_demo.ipynb" in header["source"]
    code = [c for c in ex["cells"] if c["cell_type"] == "code"]
    assert len(code) == 3
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert nb["cells"][1]["outputs"], "the solution notebook itself is not modified"
    assert code[0]["source"].endswith(exercises.LEARNER_MODE), "the setup cell turns on the one-line gap notes"


def test_the_header_tells_learners_what_to_fill_in_and_the_instructors_note_is_in_the_metadata():
    nb = nb_with("def get_histogram(image):\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                 "lower_blue = 1  ### SOLUTION")
    ex, _ = exercises.make_exercise(nb, "09_demo.ipynb")
    text = ex["cells"][0]["source"]
    assert "fill in every gap" in text and "`get_histogram()`" in text and "`lower_blue`" in text
    assert "Run All" in text and "check" in text
    assert "do not edit" not in text.lower() and "rebuild" not in text
    meta = ex["metadata"]["aiffel_exercise"]
    assert meta["generated_from"] == "../09_demo.ipynb" and "edit the solution notebook" in meta["for_instructors"]


def test_learner_mode_shows_a_gap_as_one_line_and_other_errors_with_their_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    assert exercises.learner_mode() is False  # no IPython here: nothing to do
    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from aiffel_lib.exercises import learner_mode\nlearner_mode()")
        result = shell.run_cell('raise NotImplementedError("f() is not written yet: # [[YOUR CODE]]")')
        out = capsys.readouterr().out
        assert isinstance(result.error_in_exec, NotImplementedError), "the cell still fails: Run All stops"
        assert "\u270b f() is not written yet" in out and "Traceback" not in out
        shell.run_cell('raise NotImplementedError("something else")')
        assert "Traceback" in capsys.readouterr().out
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()


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
def test_running_an_untouched_exercise_notebook_stops_at_a_gap_with_a_one_line_note(name):
    """What a learner sees on Run All before filling any gap: it stops AT the first gap with a
    one-line note naming what to write (no traceback, no raw error further down); running on
    regardless (allow_errors), every check cell prints a plain-words failure with a hint.
    (04-06 train or load networks for minutes; their stubs and checks are tested without a kernel.)"""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(exercises.EXERCISES_DIR / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(exercises.EXERCISES_DIR)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [(c, o) for c in code for o in c.outputs if o.output_type == "error"]
    for cell, err in errors:
        assert err.ename == "NotImplementedError" and len(err.traceback) == 1, (cell.source, err.traceback)
        assert err.traceback[0].startswith("\u270b") and "[[YOUR CODE]]" in err.traceback[0], err.traceback
    if errors:
        assert "[[YOUR CODE]]" in errors[0][0].source, "Run All stops at a gap, not further down"
    check_cells = [c for c in code if "checks.check_" in c.source]
    assert check_cells, "no check cells"
    for cell in check_cells:
        assert not [o for o in cell.outputs if o.output_type == "error"], (cell.source, cell.outputs)
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert text.startswith("\u274c") and "hint" in text and "Traceback" not in text, (cell.source, text)
