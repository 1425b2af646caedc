#!/usr/bin/env python
"""FER2013 at full size: the previous CSV loader against fer.load_fer2013_csv, side by side (not a test).

    .venv/bin/python benchmarks/bench_fer_loader.py                # practice faces (~30 s to generate)
    .venv/bin/python benchmarks/bench_fer_loader.py --faces noise  # random pixels (~3 s to generate)
    .venv/bin/python benchmarks/bench_fer_loader.py --csv notebooks/data/fer2013.csv   # a real file

Writes a stand-in for ``fer2013.csv`` in its exact format and size with
``fer.write_synthetic_fer2013`` (35,887 rows: 28,709 Training, 3,589 PublicTest,
3,589 PrivateTest; ~300 MB like the real file), then loads it with each loader in a
fresh process, a few times, alternating, and prints the best wall time and the
peak resident memory (VmHWM) of each: the whole process, and above what
the process held after its imports (Python + NumPy), which is the loader's own cost.
"Previous" is the loader as it was before the streaming rewrite (kept below,
verbatim in its parsing): every row split into Python strings, a list of arrays,
``np.stack`` at the end. Both must return identical arrays; the script checks that.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiffel_lib import fer  # noqa: E402


def previous_loader(path: str):
    """The loader before the rewrite (same checks, same messages), for comparison."""
    images, labels, usage = [], [], []
    n_pix = fer.SIZE * fer.SIZE
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        cols = {name.strip().lower(): i for i, name in enumerate(header)}
        i_emo, i_pix, i_use = cols["emotion"], cols["pixels"], cols.get("usage")
        for row_no, row in enumerate(reader, start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            emo = row[i_emo].strip()
            if emo not in {str(k) for k in range(len(fer.EMOTIONS))}:
                raise ValueError(f"row {row_no}: emotion {emo!r}")
            pix = np.array(row[i_pix].split(), dtype=np.int64)
            if pix.size != n_pix or pix.min() < 0 or pix.max() > 255:
                raise ValueError(f"row {row_no}: bad pixels")
            use = row[i_use].strip() if i_use is not None else "Training"
            if use not in fer.USAGES:
                raise ValueError(f"row {row_no}: Usage {use!r}")
            images.append(pix.astype(np.uint8).reshape(fer.SIZE, fer.SIZE))
            labels.append(int(emo))
            usage.append(use)
    return fer.FerData(np.stack(images), np.array(labels, np.int64), np.array(usage))


def peak_rss_mb() -> float:
    """This process' peak resident memory so far, MB.

    Linux: VmHWM, which starts afresh at exec; ru_maxrss can carry the parent's peak
    over a fork + exec, which would hide a child that uses less.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(which: str, path: str, digest_to: str | None) -> None:
    """Run one loader in this (fresh) process and print a JSON line of figures."""
    loader = previous_loader if which == "previous" else fer.load_fer2013_csv
    base = peak_rss_mb()
    start = time.perf_counter()
    data = loader(path)
    wall = time.perf_counter() - start
    peak = peak_rss_mb()
    if digest_to:
        np.savez(digest_to, images=data.images, labels=data.labels, usage=data.usage.astype("U11"))
    print(json.dumps({"wall_s": wall, "peak_mb": peak, "base_mb": base, "rows": len(data.labels),
                      "result_mb": data.images.nbytes / 1e6}))


def run_child(which: str, path: Path, digest_to: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", which, str(path)] + (["--save", str(digest_to)] if digest_to else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", choices=("synthetic", "noise"), default="synthetic",
                        help="pixels of the generated file (default: synthetic practice faces)")
    parser.add_argument("--csv", help="time this FER2013-format file instead of generating one")
    parser.add_argument("--repeats", type=int, default=3, help="runs per loader, best kept (default 3)")
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.save)
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-fer-"))
    try:
        if args.csv:
            path = Path(args.csv)
        else:
            start = time.perf_counter()
            path = fer.write_synthetic_fer2013(work / "fer2013.csv", faces=args.faces, seed=0)
            print(f"generated {path.name} ({args.faces} faces): {path.stat().st_size / 1e6:.0f} MB "
                  f"in {time.perf_counter() - start:.1f} s")
        print(f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}; best of {args.repeats}, "
              "each run in a fresh process\n")
        results: dict[str, list[dict]] = {"previous": [], "streaming": []}
        for r in range(args.repeats):
            for which in results:
                save = work / f"{which}.npz" if r == 0 else None
                results[which].append(run_child(which, path, save))
        with np.load(work / "previous.npz") as a, np.load(work / "streaming.npz") as b:
            same = all(np.array_equal(a[k], b[k]) for k in ("images", "labels", "usage"))
        best = {w: min(rs, key=lambda x: x["wall_s"]) for w, rs in results.items()}
        rows = best["streaming"]["rows"]
        print(f"{rows:,} rows -> images {best['streaming']['result_mb']:.0f} MB; identical arrays: {same}\n")
        print(f"  {'':<30}{'previous':>12}{'streaming':>12}{'ratio':>9}")
        for label, key in (("wall time (s)", "wall_s"), ("peak RSS, whole process (MB)", "peak_mb")):
            old, new = best["previous"][key], best["streaming"][key]
            print(f"  {label:<30}{old:>12.2f}{new:>12.2f}{old / new:>8.1f}x")
        old = best["previous"]["peak_mb"] - best["previous"]["base_mb"]
        new = best["streaming"]["peak_mb"] - best["streaming"]["base_mb"]
        print(f"  {'peak RSS above imports (MB)':<30}{old:>12.0f}{new:>12.0f}{old / new:>8.1f}x")
        gz = work / "fer2013.csv.gz"
        with open(path, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        g = min((run_child("streaming", gz) for _ in range(args.repeats)), key=lambda x: x["wall_s"])
        print(f"\n  gzip-compressed ({gz.stat().st_size / 1e6:.0f} MB), streaming loader: {g['wall_s']:.2f} s, "
              f"peak RSS {g['peak_mb']:.0f} MB ({g['peak_mb'] - g['base_mb']:.0f} MB above imports)")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
