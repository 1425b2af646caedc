"""House rules for the committed notebooks (CI enforces them, not only a hook)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MACHINE_PATH = re.compile(r"(/tmp/|/root/|/home/[a-z]|/work/|/Users/[A-Za-z]|[A-Z]:\\\\Users)")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_course_notebooks_are_numbered_in_order():
    numbers = [int(p.name[:2]) for p in COURSE]
    assert numbers, "no course notebooks found"
    assert numbers == list(range(1, len(numbers) + 1)), f"numbering has gaps or repeats: {numbers}"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_notebook_is_committed_executed_clean_and_small(path):
    nb = load(path)
    cells = code_cells(nb)
    assert cells, "no code"
    first = source(cells[0])
    assert "notebook.setup(" in first and "%matplotlib inline" in first, \
        "the first code cell must be the setup cell (aiffel_lib.notebook.setup + %matplotlib inline)"
    assert any(c["outputs"] for c in cells), "committed without outputs: nbval would compare nothing"
    counts = []
    for i, cell in enumerate(cells):
        if cell["outputs"]:
            assert cell["execution_count"] is not None, f"code cell {i} has outputs but no execution_count"
        if cell["execution_count"] is not None:
            counts.append(cell["execution_count"])
        for out in cell["outputs"]:
            assert out.get("output_type") != "error", f"code cell {i} was committed with an error"
    assert counts == sorted(counts), "cells were executed out of order: re-run top to bottom"
    text = json.dumps(nb)
    hit = MACHINE_PATH.search(text)
    assert not hit, f"machine-specific path in the notebook: ...{text[max(0, hit.start() - 40):hit.end() + 40]}..."
    size = path.stat().st_size
    assert size < 3_000_000, f"{size / 1e6:.1f} MB: shrink figures (dpi, fewer images)"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"
    assert "widgets" not in nb["metadata"], "widget state saved in metadata: clear it (scripts/run_notebooks.py --inplace)"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_ignore_output_markers_are_explained(path):
    """NBVAL_IGNORE_OUTPUT only where output is genuinely variable, and each says why.

    nbval needs the marker alone on its line, so the reason is the comment line below it.
    """
    for cell in code_cells(load(path)):
        lines = [line.strip() for line in source(cell).splitlines()]
        for i, line in enumerate(lines):
            if line.lstrip("#").strip() == "NBVAL_IGNORE_OUTPUT":
                reason = lines[i + 1] if i + 1 < len(lines) else ""
                assert reason.startswith("#") and len(reason.split()) >= 4, (
                    "explain the ignored output on the next line, e.g. "
                    f"'# training logs and timings vary run to run':\n{source(cell)[:200]}")


# Reasons that need no bound: the output is a log, a timing or a machine's state, not a result.
NOT_A_RESULT = re.compile(r"\b(tim(e|es|ing|ings)|wall-clock|clock|logs?|cache|webcam|camera|source)\b", re.I)


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_ignored_results_assert_their_bounds(path):
    """An exact figure hidden from nbval must still be checked: its cell asserts the bound.

    Otherwise a wrong value (a broken export, a model at chance) would pass unnoticed.
    """
    for cell in code_cells(load(path)):
        lines = [line.strip() for line in source(cell).splitlines()]
        if "# NBVAL_IGNORE_OUTPUT" not in lines:
            continue
        reason = lines[lines.index("# NBVAL_IGNORE_OUTPUT") + 1] if len(lines) > 1 else ""
        if NOT_A_RESULT.search(reason):
            continue
        assert any(line.startswith("assert ") for line in lines), (
            "this cell hides exact results from nbval: assert the bound they must meet in the same cell "
            f"(or say in the reason that it is a log, a timing or the machine's state):\n{source(cell)[:300]}")
