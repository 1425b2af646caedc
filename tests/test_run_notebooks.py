"""scripts/run_notebooks.py (`make course`): one line per notebook, the noise in a log file,
and a failing cell's error on screen."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "run_notebooks.py"


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """The script as a module, reading notebooks from tmp_path/notebooks."""
    spec = importlib.util.spec_from_file_location("run_notebooks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setattr(module, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(module, "OUT", tmp_path / "executed")
    # main() exports these for its kernels; give them back afterwards
    for name in ("PYTHONPATH", "AIFFEL_BLOCK_NETWORK", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    return module


def write(folder: Path, name: str, *sources: str) -> None:
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), folder / "notebooks" / name)


NOISE = ("import os, sys\n"
         "os.write(2, b'E0000 external/local_xla/xla/cuda_dnn.cc: Unable to register cuDNN factory\\n')\n"
         "print('a warning on stderr', file=sys.stderr)\n"
         "print('the result')")


def test_a_good_run_prints_one_line_per_notebook_and_logs_the_noise(runner, tmp_path, capsys):
    write(tmp_path, "01_first.ipynb", NOISE, "1 + 1")
    write(tmp_path, "02_second.ipynb", "x = 2")
    log = tmp_path / "logs" / "course.log"
    assert runner.main(["--log", str(log)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines                      # a header, then one line per notebook
    assert re.fullmatch(r"\[1/2\] 01_first +ok +\d+ s", lines[1]), lines[1]
    assert re.fullmatch(r"\[2/2\] 02_second +ok +\d+ s", lines[2]), lines[2]
    assert "cuDNN" not in "\n".join(lines)
    text = log.read_text()
    assert "Unable to register cuDNN factory" in text   # the kernel's own stderr (C++ logs)
    assert "a warning on stderr" in text                # a cell's stderr output
    executed = nbformat.read(tmp_path / "executed" / "01_first.ipynb", as_version=4)
    assert [o.get("name") for o in executed.cells[0].outputs] == ["stdout"]   # stderr kept out


def test_a_failing_cell_shows_its_error_and_points_to_the_log(runner, tmp_path, capsys):
    write(tmp_path, "01_bad.ipynb", "x = 1", "raise ValueError('the model file is missing: run notebook 04')",
          "print('never')")
    write(tmp_path, "02_good.ipynb", "y = 1")
    log = tmp_path / "course.log"
    assert runner.main(["--log", str(log)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"\[1/2\] 01_bad +FAILED in code cell 2/3", out), out
    assert "ValueError: the model file is missing: run notebook 04" in out
    assert str(log) in out or "course.log" in out
    assert re.search(r"\[2/2\] 02_good +ok", out), "the other notebooks still run"
    assert "1 notebook(s) failed: 01_bad.ipynb" in out
    assert "\x1b[" not in out                           # no terminal colour codes from the traceback
    assert "ValueError" in log.read_text()
    executed = nbformat.read(tmp_path / "executed" / "01_bad.ipynb", as_version=4)
    assert executed.cells[1].outputs[0].output_type == "error"   # the copy shows where it stopped
