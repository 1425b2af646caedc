#!/usr/bin/env python
"""Histogram search: the course's dict + compareHist loop against HistogramIndex, side by side.

    .venv/bin/python benchmarks/bench_histsearch.py              # 50,000 images + 1,000,000 histograms
    .venv/bin/python benchmarks/bench_histsearch.py --quick      # 10,000 / 100,000 (a smoke run)

Images are 32x32 crops of real photos (the offline gallery, CIFAR-sized), all in
memory so only the histogram work is timed. Each figure is the best of several
repeats, the two sides alternating (the machine may be shared). Single-threaded
on both sides, apart from whatever OpenCV does inside one call. Targets from issue 3: build >= 2x, one query
>= 30x faster at 50,000 images, identical top 5.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import cv2
import numpy as np

from aiffel_lib import datasets, histsearch
from aiffel_lib.histsearch import HistogramIndex

BUILD_TARGET, QUERY_TARGET = 2.0, 30.0


def best_of(fn, repeats: int) -> tuple[float, object]:
    """(fastest wall time in seconds, result of the last call)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms" if seconds < 1 else f"{seconds:8.2f} s "


def row(what: str, course: float, ours: float, target: float | None = None) -> None:
    ratio = course / ours
    verdict = "" if target is None else ("  ok (target >= %gx)" % target if ratio >= target
                                         else "  BELOW TARGET %gx" % target)
    print(f"  {what:<34} {fmt_time(course)}   {fmt_time(ours)}   {ratio:7.1f}x{verdict}")


def header(title: str) -> None:
    print(f"\n{title}\n  {'':<34} {'course loop':>11}   {'HistogramIndex':>11}   {'ratio':>8}")


def gallery_images(n: int) -> datasets.ImageSet:
    per_photo = -(-n // len(datasets.GALLERY_PHOTOS))
    data = datasets.offline_gallery(per_photo=per_photo)
    keep = slice(0, n)
    return datasets.ImageSet(data.images[keep], data.names[keep], data.labels[keep], data.source, data.kind)


def jittered(images: np.ndarray, seed: int) -> np.ndarray:
    """The same crops with a random per-channel gain and offset: new, realistic histograms."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(images)
    for c in range(3):
        gain, offset = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
        lut = np.clip(np.arange(256) * gain + offset, 0, 255).astype(np.uint8)
        out[..., c] = cv2.LUT(images[..., c], lut)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 images and 100,000 histograms")
    parser.add_argument("--bins", type=int, default=4, help="bins per channel (the course: 4)")
    args = parser.parse_args(argv)
    n, n_big = (10_000, 100_000) if args.quick else (50_000, 1_000_000)
    bins = args.bins

    print(f"preparing {n:,} CIFAR-sized images (32x32 crops of real photos) ...", flush=True)
    data = gallery_images(n)
    pairs = list(data.items())

    header(f"{n:,} images, {bins} bins per channel")
    t_course_build = t_index_build = float("inf")
    for _ in range(5):  # alternate the two, so both see the same machine load
        t, db = best_of(lambda: histsearch.build_histogram_db(pairs, bins=bins, progress=False), 1)
        t_course_build = min(t_course_build, t)
        t, index = best_of(lambda: HistogramIndex.build(data, bins=bins), 1)
        t_index_build = min(t_index_build, t)
    same_hists = np.array_equal(np.stack([db[name] for name in index.names]), index.hists)
    row("build (histogram every image)", t_course_build, t_index_build, BUILD_TARGET)

    queries = [data.names[i] for i in range(0, n, n // 5)][:5]
    all_same = True
    worst_diff = 0.0
    for method in histsearch.COMPARE_METHODS:
        t_course = t_ours = 0.0
        for name in queries:
            target = histsearch.get_target_histogram(db, name)
            tc, course = best_of(lambda: histsearch.search(db, target, top_k=5, method=method), 2)
            to, ours = best_of(lambda: index.search(name, top_k=5, method=method), 7)
            t_course += tc / len(queries)
            t_ours += to / len(queries)
            all_same &= list(course) == [x for x, _ in ours]
            worst_diff = max(worst_diff, float(np.max(np.abs(np.array(list(course.values()))
                                                             - np.array([s for _, s in ours])))))
        row(f"one query, {method}", t_course, t_ours, QUERY_TARGET if method == "chisqr" else None)
    print(f"  identical histograms: {same_hists}; identical top 5 (all methods, {len(queries)} queries each): "
          f"{all_same}; max |score difference| {worst_diff:.1e}")

    tracemalloc.start()
    db_copy = {name: h.copy() for name, h in db.items()}
    dict_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del db_copy
    print(f"  memory: dict of {n:,} histograms {dict_bytes / 2**20:.1f} MiB, "
          f"index {index.hists.nbytes / 2**20:.1f} MiB (+ names)")

    # ---- 1,000,000 histograms --------------------------------------------------------
    copies = -(-n_big // n)
    print(f"\npreparing {n_big:,} histograms ({copies} colour-jittered copies of the {n:,} crops) ...", flush=True)
    start = time.perf_counter()
    parts = [index.hists] + [histsearch.color_histograms(jittered(data.images, seed), bins)
                             for seed in range(1, copies)]
    t_hist_big = time.perf_counter() - start
    hists = np.concatenate(parts)[:n_big]
    names = [f"img_{i:07d}.png" for i in range(n_big)]
    big = HistogramIndex.from_histograms(names, hists, bins)
    header(f"{n_big:,} histograms, {bins} bins per channel")
    print(f"  vectorised histograms of {n_big - n:,} more images: {t_hist_big:.1f} s")
    big_db = {name: hists[i].reshape(-1, 1) for i, name in enumerate(names)}
    query = big.histogram(names[12345])
    big.search(query, top_k=5)  # first call builds the name ranks (sorted once, then cached)
    for method in ("chisqr", "correl", "bhattacharyya"):
        tc, course = best_of(lambda: histsearch.search(big_db, query, top_k=5, method=method), 1)
        to, ours = best_of(lambda: big.search(query, top_k=5, method=method), 3)
        same = list(course) == [x for x, _ in ours]
        row(f"one query, {method}" + ("" if same else " (TOP 5 DIFFERS)"), tc, to)
    tracemalloc.start()
    big.search(query, top_k=5, method="chisqr")
    peak_query = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    names_bytes = sum(len(x) + 49 for x in names) + 8 * len(names)  # str objects + the tuple's pointers
    print(f"  memory: histograms {big.hists.nbytes / 2**20:.0f} MiB float32 "
          f"(+ {big.nbytes - big.hists.nbytes:,} bytes cached row sums), names ~{names_bytes / 2**20:.0f} MiB; "
          f"extra peak during one query {peak_query / 2**20:.1f} MiB")
    tracemalloc.start()
    sample = {name: hists[i].reshape(-1, 1).copy() for i, name in enumerate(names[:100_000])}
    per_entry = tracemalloc.get_traced_memory()[0] / len(sample)
    tracemalloc.stop()
    del sample
    print(f"  the course's dict at {n_big:,} entries: ~{per_entry * n_big / 2**20:.0f} MiB "
          f"({per_entry:.0f} bytes per entry, measured on 100,000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
