#!/usr/bin/env python
"""Execute the course notebooks headless, top to bottom, in order.

    python scripts/run_notebooks.py                 # all -> build/executed/ (committed notebooks untouched)
    python scripts/run_notebooks.py 02 04           # only notebooks whose name starts with 02 or 04
    python scripts/run_notebooks.py --inplace 02    # maintainers: refresh the committed outputs

Each notebook runs in its own fresh kernel with ``notebooks/`` as the working
folder (as in JupyterLab and nbval). ``--inplace`` also strips volatile metadata
so diffs stay small.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "executed"


def course_notebooks(prefixes: list[str]) -> list[Path]:
    found = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        found = [p for p in found if any(p.name.startswith(x) or p.stem == x for x in prefixes)]
    return found


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
            # notebook, and nbval does not compare stderr anyway.
            cell.outputs = [o for o in cell.outputs
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


def execute(path: Path, dest: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    finally:
        clean(nb)
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="run only notebooks whose name starts with these")
    parser.add_argument("--inplace", action="store_true", help="write outputs back into notebooks/")
    parser.add_argument("--online", action="store_true",
                        help="allow downloads (CIFAR-100, Keras weights); default: offline defaults, as in the tests")
    parser.add_argument("--timeout", type=int, default=2000, help="seconds per cell (default 2000, as nbval)")
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
    failed = []
    for path in paths:
        dest = path if args.inplace else OUT / path.name
        print(f"running {path.relative_to(ROOT)} ...", flush=True)
        try:
            seconds = execute(path, dest, args.timeout)
        except CellExecutionError as exc:
            failed.append(path.name)
            print(f"  FAILED: {str(exc).splitlines()[0] if str(exc) else exc}\n  (executed copy: {dest.relative_to(ROOT)})")
            continue
        print(f"  ok in {seconds:.0f} s -> {dest.relative_to(ROOT)}", flush=True)
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
