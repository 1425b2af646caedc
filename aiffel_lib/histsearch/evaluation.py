"""Retrieval quality by label: precision@k of one index (:func:`precision_at_k`) and of every
(method, bins) pair (:func:`precision_table`), with Markdown tables for the notebook."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiffel_lib.histsearch.compare import COMPARE_METHODS, method_name
from aiffel_lib.histsearch.index import HistogramIndex


@dataclass(frozen=True)
class Precision:
    """Precision@k of one configuration: the mean over queries and the mean per label."""

    method: str
    bins: int
    k: int
    mean: float
    by_label: dict[str, float]
    n_queries: int


def evaluation_queries(labels: Iterable[str], per_label: int | None = 50) -> np.ndarray:
    """Row indices of the query images: the first ``per_label`` of each label (None = all)."""
    labels = list(labels)
    if per_label is None:
        return np.arange(len(labels))
    if isinstance(per_label, bool) or not isinstance(per_label, (int, np.integer)) or per_label < 1:
        raise ValueError(f"per_label must be a whole number >= 1 or None (all images), got {per_label!r:.60}")
    seen: dict[str, int] = {}
    rows = []
    for i, lab in enumerate(labels):
        if seen.get(lab, 0) < per_label:
            seen[lab] = seen.get(lab, 0) + 1
            rows.append(i)
    return np.asarray(rows, dtype=np.int64)


def precision_at_k(index: HistogramIndex, k: int = 5, method: str | int = "chisqr",
                   queries: Iterable[int] | None = None) -> Precision:
    """Share of each query's top ``k`` (itself excluded) that carries the query's label.

    queries: row indices used as queries (default: every image). Averaged per
    label, then over queries. Needs an index built with labels.
    """
    if index.labels is None:
        raise ValueError("precision needs labels: build the index from an ImageSet or pass labels=")
    method = method_name(method)
    rows = np.arange(len(index)) if queries is None else np.asarray(list(queries), dtype=np.int64)
    labels = np.asarray(index.labels)
    top = index.search_rows(rows, top_k=k, method=method, exclude_self=True)
    hits = (labels[top] == labels[rows][:, None]).mean(axis=1)
    by_label = {str(lab): float(hits[labels[rows] == lab].mean()) for lab in sorted(set(labels[rows]))}
    return Precision(method, index.bins, k, float(hits.mean()), by_label, len(rows))


def precision_table(images: Any, bins_list: Iterable[int] = (4, 8, 16),
                    methods: Iterable[str] = tuple(COMPARE_METHODS), k: int = 5,
                    per_label: int | None = 50, progress: bool = False) -> list[Precision]:
    """Precision@k for every (method, bins) pair on a labelled image set (an ``ImageSet``)."""
    results = []
    indexes = {b: HistogramIndex.build(images, bins=b) for b in bins_list}
    for b, index in indexes.items():
        if index.labels is None:
            raise ValueError("precision_table needs labelled images (a datasets.ImageSet)")
        rows = evaluation_queries(index.labels, per_label)
        todo = list(methods)
        if progress:
            from tqdm import tqdm

            todo = tqdm(todo, desc=f"precision@{k}, {b} bins")
        for m in todo:
            results.append(precision_at_k(index, k=k, method=m, queries=rows))
    return results


def format_precision_table(results: list[Precision]) -> str:
    """A Markdown table: one row per method, one column per bin count, mean precision@k."""
    bins = sorted({r.bins for r in results})
    methods = list(dict.fromkeys(r.method for r in results))
    k = results[0].k if results else 5
    cell = {(r.method, r.bins): r.mean for r in results}
    lines = [f"| method | " + " | ".join(f"{b} bins" for b in bins) + " |",
             "|---|" + "---:|" * len(bins)]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(f"{cell[(m, b)]:.3f}" for b in bins) + " |")
    n = results[0].n_queries if results else 0
    return "\n".join(lines) + f"\n\n(precision@{k}, mean over {n} queries; query itself excluded)"


def format_label_table(results: list[Precision]) -> str:
    """A Markdown table of precision@k per label (rows) for the given configurations (columns)."""
    labels = sorted(set().union(*(r.by_label for r in results)))
    head = "| label | " + " | ".join(f"{r.method}, {r.bins} bins" for r in results) + " |"
    lines = [head, "|---|" + "---:|" * len(results)]
    for lab in labels:
        lines.append(f"| {lab} | " + " | ".join(f"{r.by_label.get(lab, float('nan')):.2f}" for r in results) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# The course's program flow (dict + compareHist loop): kept as written, used as reference
