#!/usr/bin/env python
"""Execute the course notebooks headless, top to bottom, in order.

    python scripts/run_notebooks.py                 # all -> build/executed/ (committed notebooks untouched)
    python scripts/run_notebooks.py 02 04           # only notebooks whose name starts with 02 or 04
    python scripts/run_notebooks.py --inplace 02    # maintainers: refresh the committed outputs

Each notebook runs in its own fresh kernel with ``notebooks/`` as the working
folder (as in JupyterLab and nbval). The terminal gets one line per notebook
(progress while it runs, then ok/FAILED and the time); everything else the
kernels write -- TensorFlow's start-up messages, warnings, progress bars -- goes
to a log file (default ``build/logs/course.log``). When a cell fails, its error
is shown and the log named. ``--inplace`` also strips volatile metadata so diffs
stay small.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "executed"
LOG = ROOT / "build" / "logs" / "course.log"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def course_notebooks(prefixes: list[str]) -> list[Path]:
    found = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        found = [p for p in found if any(p.name.startswith(x) or p.stem == x for x in prefixes)]
    return found


def rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop metadata that changes on every run (timings, widget state, kernel paths)."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":
            # TensorFlow/absl log lines and progress bars go to stderr: noise in a committed
            # notebook (they are in the log file), and nbval does not compare stderr anyway.
            cell.outputs = [o for o in cell.outputs
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


class StatusLine:
    """One terminal line per notebook: redrawn in place on a terminal, printed once otherwise."""

    def __init__(self, label: str, n_cells: int, stream=None):
        self.label, self.n_cells, self.stream = label, n_cells, stream or sys.stdout
        self.live = self.stream.isatty()
        self.cell = 0
        self.start = time.perf_counter()
        self._lock = threading.Lock()
        self._done = threading.Event()
        if self.live:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _draw(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        text = f"{self.label}  cell {self.cell}/{self.n_cells}  {self.elapsed():4.0f} s"
        with self._lock:
            self.stream.write("\r" + text[:width - 1].ljust(width - 1))
            self.stream.flush()

    def _tick(self) -> None:
        while not self._done.wait(1.0):
            self._draw()

    def at_cell(self, number: int) -> None:
        self.cell = number
        if self.live:
            self._draw()

    def finish(self, verdict: str) -> None:
        self._done.set()
        line = f"{self.label}  {verdict}"
        with self._lock:
            if self.live:
                width = shutil.get_terminal_size((100, 20)).columns
                self.stream.write("\r" + " " * (width - 1) + "\r")
            self.stream.write(line + "\n")
            self.stream.flush()


def error_summary(exc: Exception, max_lines: int = 12) -> list[str]:
    """The failing cell's error as a few readable lines (no ANSI colours, traceback tail)."""
    if isinstance(exc, CellExecutionError):
        lines = [line for line in ANSI.sub("", exc.traceback).splitlines() if line.strip()]
        # nbclient's text: the cell source, its streams, then the traceback; keep the end.
        tail = lines[-max_lines:]
        head = f"{exc.ename}: {exc.evalue}"
        return [head] + [line for line in tail if line.strip() != head.strip()]
    return [f"{type(exc).__name__}: {ANSI.sub('', str(exc)).strip()[:500]}"]


def execute(path: Path, dest: Path, timeout: int, log, status: StatusLine) -> None:
    """Run ``path`` in a fresh kernel, write the result (also on failure) to ``dest``.

    The kernel's own stdout/stderr (TensorFlow's C++ messages) and every cell's stderr
    output go to ``log``.
    """
    nb = nbformat.read(path, as_version=4)
    code_index = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            code_index[i] = len(code_index) + 1

    def on_cell_start(cell, cell_index, **_):
        if cell_index in code_index:
            status.at_cell(code_index[cell_index])

    def on_cell_executed(cell, cell_index, **_):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                log.write(f"[{path.stem} code cell {code_index.get(cell_index, '?')}, stderr]\n{out.text}")
                if not out.text.endswith("\n"):
                    log.write("\n")
        log.flush()

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}},
                            on_cell_start=on_cell_start, on_cell_executed=on_cell_executed)
    try:
        # The kernel process inherits these file objects as its fd 1 and 2.
        client.execute(stdout=log, stderr=log)
    finally:
        clean(nb)
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="run only notebooks whose name starts with these")
    parser.add_argument("--inplace", action="store_true", help="write outputs back into notebooks/")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for the executed copies (default {rel(OUT)})")
    parser.add_argument("--online", action="store_true",
                        help="allow downloads (CIFAR-100, Keras weights); default: offline defaults, as in the tests")
    parser.add_argument("--timeout", type=int, default=2000, help="seconds per cell (default 2000, as nbval)")
    parser.add_argument("--log", type=Path, default=LOG,
                        help=f"file for the kernels' messages (default {rel(LOG)}; overwritten each run)")
    args = parser.parse_args(argv)

    if not args.online:
        # Same guard as the tests: kernels refuse non-loopback connections, so the
        # notebooks use (and say they use) the embedded offline defaults.
        site = ROOT / "tests" / "offline_site"
        os.environ["AIFFEL_BLOCK_NETWORK"] = "1"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    paths = course_notebooks(args.prefixes)
    if not paths:
        print("no notebooks matched", args.prefixes, file=sys.stderr)
        return 2
    log_path = args.log.resolve()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    width = max(len(p.stem) for p in paths)
    where = "notebooks/ (in place)" if args.inplace else rel(args.out) + "/"
    print(f"Running {len(paths)} notebook(s) headless -> {where}; kernel messages: {rel(log_path)}", flush=True)
    failed = []
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        log.write(f"scripts/run_notebooks.py {' '.join(argv if argv is not None else sys.argv[1:])}\n"
                  f"started {datetime.now().isoformat(timespec='seconds')}\n")
        for k, path in enumerate(paths, 1):
            dest = path if args.inplace else args.out / path.name
            n_cells = sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
            label = f"[{k}/{len(paths)}] {path.stem:<{width}}"
            log.write(f"\n===== {path.name} ({datetime.now().isoformat(timespec='seconds')}) =====\n")
            log.flush()
            status = StatusLine(label, n_cells)
            try:
                execute(path, dest, args.timeout, log, status)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                failed.append(path.name)
                status.finish(f"FAILED in code cell {status.cell}/{n_cells} after {status.elapsed():.0f} s")
                summary = error_summary(exc)
                log.write(f"\n----- {path.name} FAILED in code cell {status.cell} -----\n"
                          f"{ANSI.sub('', str(exc))}\n")
                log.flush()
                for line in summary:
                    print(f"      {line}")
                print(f"      executed copy (with the error): {rel(dest)}")
                print(f"      full log: {rel(log_path)}", flush=True)
                continue
            status.finish(f"ok  {status.elapsed():4.0f} s")
            log.write(f"----- {path.name} ok in {status.elapsed():.0f} s -----\n")
            log.flush()
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)} (details: {rel(log_path)})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
