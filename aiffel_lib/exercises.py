"""Generate the exercise notebooks from the solution notebooks (one source of truth).

    python -m aiffel_lib.exercises build     # notebooks/NN_*.ipynb -> notebooks/exercises/NN_*.ipynb
    python -m aiffel_lib.exercises check     # exit 1 if notebooks/exercises/ is out of date

Instructors mark the learner's part inside a solution cell:

    def get_histogram(image):
        ### BEGIN SOLUTION
        ...worked answer...
        ### END SOLUTION

which becomes ``# [[YOUR CODE]]`` plus a ``raise NotImplementedError`` at the same
indentation that names the gap (inside a function it fires when the function is
called, so the check cell after it still runs and explains). A single line can be an
exercise too: ``lower_blue = np.array([110, 50, 50])  ### SOLUTION`` keeps the
left-hand side and asks for the value (``None``); right after such lines, before the
first statement that could use them, the generator adds a two-line guard that stops
the cell with a message naming the gaps still ``None`` (harmless once they are filled).
So "Run All" on an untouched exercise notebook stops AT the first gap with a message
that says what to write, never with a raw error further down. Cells tagged
``solution-only`` (cell metadata tag) are dropped. Outputs and execution counts are
cleared; each exercise notebook gets a header cell telling learners what to do, and the
note for instructors (generated, edit the solution) goes into the notebook's metadata.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

from aiffel_lib.paths import NOTEBOOKS_DIR

EXERCISES_DIR = NOTEBOOKS_DIR / "exercises"
BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
INLINE = re.compile(r"^(?P<indent>\s*)(?P<lhs>[^=#]+?)\s*=\s*(?P<rhs>.+?)\s*### SOLUTION\s*$")
DEF = re.compile(r"^(?P<indent>\s*)(?:async\s+)?def\s+(?P<name>\w+)\s*\(")
ASSIGNED = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*=[^=]")
GAP = "# [[YOUR CODE]]"
#: Marks the generated guard's lines, so a rebuild (or a reader) can tell them apart.
GUARD_TAG = "# stops here until the gaps above are filled in"
HEADER = (
    "# Exercise version of `{name}`\n\n"
    "**Your task:** fill in every gap marked `# [[YOUR CODE]]` ({gaps}): {what}.\n\n"
    "1. Run the notebook from the top (*Run All*). It stops at the first gap you have not filled in "
    "and says there what to write.\n"
    "2. Write your code in place of the `# [[YOUR CODE]]` line (and of the `raise` under it, if any), "
    "then run that cell.\n"
    "3. Run the **check** cell below it: it tries your code on small known cases and says in plain words "
    "what is right or what differs, with a hint. Correct code written differently from the course's passes.\n"
    "4. *Run All* again to go on to the next gap.\n\n"
    "Stuck? The worked solution is the notebook of the same name one folder up (`../{name}`)."
)
INSTRUCTOR_NOTE = ("Generated from ../{name} by `python -m aiffel_lib.exercises build` (make exercises); "
                   "edit the solution notebook and rebuild: changes made here are overwritten.")


class ExerciseMarkupError(ValueError):
    """A solution notebook's markers are malformed (unclosed or nested BEGIN/END)."""


def _stub_message(function: str | None, assigned: list[str]) -> str:
    if function:
        return (f"{function}() is not written yet: replace the # [[YOUR CODE]] line and this raise with your code, "
                "run its cell, then its check cell.")
    what = f" ({', '.join(assigned)})" if assigned else ""
    return (f"Write your code{what} in place of the # [[YOUR CODE]] line and this raise, "
            "then run this cell again.")


def _guard(indent: str, names: list[str]) -> list[str]:
    listed = ", ".join(names)
    values = ", ".join(names) + ("," if len(names) == 1 else "")
    return [f"{indent}if any(value is None for value in ({values})):  {GUARD_TAG}",
            f'{indent}    raise NotImplementedError("Fill in {listed} at the # [[YOUR CODE]] lines above, '
            'then run this cell again.")']


def _lhs_names(lhs: str) -> list[str]:
    return [part.strip().strip("()") for part in lhs.split(",") if part.strip().strip("()")]


def _strip(source: str, where: str) -> tuple[str, list[str]]:
    """Solution regions -> gaps; returns (new source, one label per gap: "f()" or a variable name)."""
    out: list[str] = []
    labels: list[str] = []
    region: list[str] | None = None
    indent = ""
    functions: list[tuple[str, str]] = []      # (indent, name) of the defs enclosing the current line
    pending: list[str] = []                    # inline gaps not yet guarded
    pending_indent, pending_at = "", 0         # their indentation; output index after the last one

    def flush() -> None:
        nonlocal pending
        if pending:
            out[pending_at:pending_at] = _guard(pending_indent, pending)
            pending = []

    for n, line in enumerate(source.splitlines(), start=1):
        begin = BEGIN.match(line)
        if begin:
            if region is not None:
                raise ExerciseMarkupError(f"{where}, line {n}: BEGIN SOLUTION inside another solution region")
            region, indent = [], begin.group("indent")
            continue
        if END.match(line):
            if region is None:
                raise ExerciseMarkupError(f"{where}, line {n}: END SOLUTION without BEGIN SOLUTION")
            function = next((name for ind, name in reversed(functions) if len(ind) < len(indent)), None)
            assigned = [] if function else list(dict.fromkeys(
                m.group("name") for r in region if (m := ASSIGNED.match(r)) and not r.startswith(indent + " ")))
            flush()
            out.append(f"{indent}{GAP}")
            out.append(f'{indent}raise NotImplementedError("{_stub_message(function, assigned)}")')
            labels.append(f"{function}()" if function else (", ".join(assigned) or "the code"))
            region = None
            continue
        if region is not None:
            region.append(line)
            continue
        stripped = line.strip()
        inline = INLINE.match(line)
        if inline:
            if pending and inline.group("indent") != pending_indent:
                flush()
            names = _lhs_names(inline.group("lhs"))
            value = ", ".join("None" for _ in names)
            out.append(f"{inline.group('indent')}{inline.group('lhs')} = {value}  {GAP}")
            pending += names
            pending_indent, pending_at = inline.group("indent"), len(out)
            labels += names
            continue
        if stripped and not stripped.startswith("#"):
            flush()  # code that may use the gaps comes next: stop before it while they are None
            d = DEF.match(line)
            ind = line[:len(line) - len(line.lstrip())]
            functions = [(i, f) for i, f in functions if len(i) < len(ind)]
            if d:
                functions.append((d.group("indent"), d.group("name")))
        out.append(line)
    if region is not None:
        raise ExerciseMarkupError(f"{where}: BEGIN SOLUTION without END SOLUTION")
    flush()
    return "\n".join(out), labels


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace solution regions in one cell's source; return (new source, number of gaps).

    Raises ExerciseMarkupError for a BEGIN without END, an END without BEGIN, or nesting.
    """
    text, labels = _strip(source, where)
    return text, len(labels)


LEARNER_MODE = ("from aiffel_lib.exercises import learner_mode\n"
                "learner_mode()  # a gap not filled in yet stops Run All with a one-line note instead of a traceback")


def learner_mode() -> bool:
    """In Jupyter, show an unfilled gap's NotImplementedError as its message alone (no traceback).

    The exercise notebooks call it in their setup cell. The cell still fails, so Run All
    stops at the gap; other errors keep their full traceback. Returns False outside IPython.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False

    def show(shell, etype, value, tb, tb_offset=None):
        if GAP in str(value):
            stb = [f"\u270b {value}"]
            shell._showtraceback(etype, value, stb)
            return stb
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None

    shell.set_custom_exc((NotImplementedError,), show)
    return True


def make_exercise(nb: dict, name: str) -> tuple[dict, int]:
    """Exercise notebook (a new dict) from a solution notebook dict; returns (notebook, gaps)."""
    ex = copy.deepcopy(nb)
    cells = []
    labels: list[str] = []
    for i, cell in enumerate(ex["cells"]):
        if "solution-only" in cell.get("metadata", {}).get("tags", []):
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            src, found = _strip(src, where=f"{name}, cell {i}")
            labels += found
            cell["outputs"] = []
            cell["execution_count"] = None
        cell["source"] = src
        cells.append(cell)
    setup = next((c for c in cells if c["cell_type"] == "code" and "notebook.setup(" in c["source"]), None)
    if setup is not None:
        setup["source"] = setup["source"].rstrip("\n") + "\n" + LEARNER_MODE
    else:
        cells.insert(0, {"cell_type": "code", "id": "exercise-setup", "metadata": {}, "outputs": [],
                         "execution_count": None, "source": LEARNER_MODE})
    what = ", ".join(f"`{label}`" for label in dict.fromkeys(labels)) or "none"
    header = {"cell_type": "markdown", "id": "exercise-header", "metadata": {},
              "source": HEADER.format(name=name, gaps=f"{len(labels)} in this notebook", what=what)}
    ex["cells"] = [header] + cells
    ex["metadata"].pop("widgets", None)
    ex["metadata"]["aiffel_exercise"] = {"generated_from": f"../{name}", "gaps": len(labels),
                                         "for_instructors": INSTRUCTOR_NOTE.format(name=name)}
    return ex, len(labels)


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def build(solutions_dir: Path = NOTEBOOKS_DIR, out_dir: Path = EXERCISES_DIR,
          write: bool = True) -> dict[str, int]:
    """Generate every exercise notebook; returns {notebook name: number of gaps}.

    With ``write=False`` nothing is written: returns only the notebooks whose
    exercise file is missing or differs (used by ``check`` and CI).
    """
    result: dict[str, int] = {}
    expected: set[str] = set()
    for path in sorted(solutions_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        ex, gaps = make_exercise(nb, path.name)
        if gaps == 0:
            continue
        expected.add(path.name)
        target = out_dir / path.name
        text = _dump(ex)
        if write:
            out_dir.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
            result[path.name] = gaps
        elif not target.exists() or target.read_text(encoding="utf-8") != text:
            result[path.name] = gaps
    if out_dir.exists():
        for stale in out_dir.glob("[0-9][0-9]_*.ipynb"):
            if stale.name not in expected:
                if write:
                    stale.unlink()
                else:
                    result[stale.name] = -1
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiffel_lib.exercises", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "check"])
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            made = build()
            for name, gaps in made.items():
                print(f"notebooks/exercises/{name}: {gaps} exercise(s)")
            return 0
        stale = build(write=False)
    except ExerciseMarkupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if stale:
        print("out of date: " + ", ".join(sorted(stale)) + " — run `python -m aiffel_lib.exercises build`")
        return 1
    print("exercise notebooks are in sync with the solutions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
