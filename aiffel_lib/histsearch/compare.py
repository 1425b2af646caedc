"""Histogram comparison: ``cv2.compareHist``'s six methods, vectorised, in one table.

:data:`COMPARISONS` maps each method's name to its OpenCV constant, whether larger means
more alike, and its formula: a function scoring a block of queries against a block of
histograms exactly as OpenCV does (float32 inputs, float64 arithmetic, the same order of
summation and the same guards against zero denominators, so no NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

#: Scores equal to this many decimals count as ties and are ordered by name. Float
#: rounding makes mathematically equal scores differ in the last bits, differently
#: in OpenCV and NumPy; 1e-10 is far below any real difference between two images.
TIE_DECIMALS = 10

_DBL_EPSILON = float(np.finfo(np.float64).eps)
_FLT_EPSILON = float(np.finfo(np.float32).eps)

#: ``cached(name)``: per-histogram values an index computes once and reuses for every query:
#: ``"sum"``, ``"sumsq"`` (n,) and ``"log"`` (D, n) (float64; the log with OpenCV's 1e-10
#: for empty bins).
Cached = Callable[[str], np.ndarray]
#: ``formula(q32, cols, cached) -> (B, n) float64``: q32 (B, D) float32 queries, cols
#: (D, n) float32 histograms, one per column.
Formula = Callable[[np.ndarray, np.ndarray, Cached], np.ndarray]


def _per_bin(q32: np.ndarray, cols: np.ndarray, term) -> np.ndarray:
    """sum_j term(p_j, h_j) bin by bin, as OpenCV sums: p (B, 1) float32 query bins,
    h (1, n) float32 histogram bins; term returns (B, n) float64."""
    out = np.zeros((len(q32), cols.shape[1]))
    for j in range(cols.shape[0]):
        out += term(q32[:, j, None], cols[j][None, :])
    return out


def _over(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where |den| > DBL_EPSILON, else 0; as ``num * (1 / den)``, OpenCV's
    vectorised loop multiplies by the reciprocal."""
    live = np.abs(den) > _DBL_EPSILON
    return np.where(live, num * (1.0 / np.where(live, den, 1.0)), 0.0)


def _chisqr(q32: np.ndarray, cols: np.ndarray, cached: Cached) -> np.ndarray:
    """Chi-square: sum (p - h)^2 / p."""
    def term(p32, h32):
        p = p32.astype(np.float64)
        a = p - h32.astype(np.float64)
        return _over(a * a, p)

    return _per_bin(q32, cols, term)


def _chisqr_alt(q32: np.ndarray, cols: np.ndarray, cached: Cached) -> np.ndarray:
    """Alternative chi-square: 2 sum (p - h)^2 / (p + h)."""
    def term(p32, h32):
        p, h = p32.astype(np.float64), h32.astype(np.float64)
        a = p - h
        return _over(a * a, p + h)

    return 2 * _per_bin(q32, cols, term)


def _kl_div(q32: np.ndarray, cols: np.ndarray, cached: Cached) -> np.ndarray:
    """Kullback-Leibler divergence: sum p log(p / h), bins with p = 0 left out."""
    logs = cached("log")
    out = np.zeros((len(q32), cols.shape[1]))
    for j in range(cols.shape[0]):
        p = q32[:, j, None].astype(np.float64)
        live = np.abs(p) > _DBL_EPSILON
        if not live.any():
            continue
        # p*log(p/h) as p*(log p - log h): the histograms' logs are computed once per index,
        # not per query (equal to OpenCV's to ~1e-16).
        p_safe = np.where(live, p, 1.0)
        out += np.where(live, p_safe * (np.log(p_safe) - logs[j][None, :]), 0.0)
    return out


def _intersect(q32: np.ndarray, cols: np.ndarray, cached: Cached) -> np.ndarray:
    """Intersection: sum min(p, h) (taken in float32, summed in float64)."""
    return _per_bin(q32, cols, lambda p32, h32: np.minimum(p32, h32).astype(np.float64))


def _correl(q32: np.ndarray, cols: np.ndarray, cached: Cached) -> np.ndarray:
    """Correlation: Pearson's r between the two histograms' bins; 1 when one is constant."""
    q64 = q32.astype(np.float64)
    d = q32.shape[1]
    s2, s22 = cached("sum")[None, :], cached("sumsq")[None, :]
    s1 = q64.sum(axis=1)[:, None]
    s11 = (q64 * q64).sum(axis=1)[:, None]
    # a loop of vector ops, not BLAS: no thread start-up per query
    s12 = _per_bin(q32, cols, lambda p32, h32: p32.astype(np.float64) * h32.astype(np.float64))
    scale = 1.0 / d
    num = s12 - s1 * s2 * scale
    denom2 = (s11 - s1 * s1 * scale) * (s22 - s2 * s2 * scale)
    live = np.abs(denom2) > _DBL_EPSILON
    return np.where(live, num / np.sqrt(np.where(live, np.abs(denom2), 1.0)), 1.0)


def _bhattacharyya(q32: np.ndarray, cols: np.ndarray, cached: Cached) -> np.ndarray:
    """Bhattacharyya (Hellinger) distance: sqrt(1 - sum sqrt(p h) / sqrt(sum p sum h))."""
    bc = _per_bin(q32, cols, lambda p32, h32: np.sqrt(p32.astype(np.float64) * h32.astype(np.float64)))
    s = q32.astype(np.float64).sum(axis=1)[:, None] * cached("sum")[None, :]
    live = np.abs(s) > _FLT_EPSILON
    s = np.where(live, 1.0 / np.sqrt(np.where(live, np.abs(s), 1.0)), 1.0)
    return np.sqrt(np.maximum(1.0 - bc * s, 0.0))


@dataclass(frozen=True)
class Comparison:
    """One ``cv2.compareHist`` method: its constant, its direction and its formula."""

    code: int
    similarity: bool  # larger = more alike (sorted descending); otherwise a distance
    formula: Formula


#: The six methods, by name.
COMPARISONS: dict[str, Comparison] = {
    "correl": Comparison(cv2.HISTCMP_CORREL, True, _correl),
    "chisqr": Comparison(cv2.HISTCMP_CHISQR, False, _chisqr),
    "chisqr_alt": Comparison(cv2.HISTCMP_CHISQR_ALT, False, _chisqr_alt),
    "intersect": Comparison(cv2.HISTCMP_INTERSECT, True, _intersect),
    "bhattacharyya": Comparison(cv2.HISTCMP_BHATTACHARYYA, False, _bhattacharyya),
    "kl_div": Comparison(cv2.HISTCMP_KL_DIV, False, _kl_div),
}
#: Comparison methods by name -> OpenCV constant (what ``cv2.compareHist`` takes).
COMPARE_METHODS: dict[str, int] = {name: c.code for name, c in COMPARISONS.items()}
#: ``hellinger`` is OpenCV's other name for ``bhattacharyya`` (same constant, same formula).
ALIASES = {"hellinger": "bhattacharyya"}
#: Methods where larger means more similar (sorted descending); the rest are distances.
SIMILARITIES = frozenset(name for name, c in COMPARISONS.items() if c.similarity)


def method_name(method: str | int) -> str:
    """Canonical method name for a name (any case, ``hellinger`` allowed) or an OpenCV constant."""
    if isinstance(method, (int, np.integer)) and not isinstance(method, bool):
        for name, code in COMPARE_METHODS.items():
            if code == int(method):
                return name
    elif isinstance(method, str):
        key = method.strip().lower()
        key = ALIASES.get(key, key)
        if key in COMPARE_METHODS:
            return key
    known = ", ".join(list(COMPARE_METHODS) + list(ALIASES))
    raise ValueError(f"unknown comparison method {method!r:.60}; use one of: {known} "
                     "(or a cv2.HISTCMP_* constant)")


def _score_block(q32: np.ndarray, cols: np.ndarray, method: str, cached: Cached) -> np.ndarray:
    """compareHist(query_b, hist_j, method) for every pair: (B, n) float64 (see :data:`COMPARISONS`)."""
    return COMPARISONS[method].formula(q32, cols, cached)


def _sort_keys(scores: np.ndarray, method: str) -> np.ndarray:
    """Ascending keys: rounded distances, or negated rounded similarities."""
    rounded = np.round(scores, TIE_DECIMALS)
    return -rounded if method in SIMILARITIES else rounded


def _top_rows(keys: np.ndarray, k: int, rank: np.ndarray) -> np.ndarray:
    """Indices of the k smallest keys, ties ordered by name rank, best first."""
    n = len(keys)
    k = min(k, n)
    if k < n:
        part = np.argpartition(keys, k - 1)[:k]
        threshold = keys[part].max()
        cand = np.flatnonzero(keys <= threshold)  # everything tied with the k-th too
    else:
        cand = np.arange(n)
    order = np.lexsort((rank[cand], keys[cand]))
    return cand[order][:k]
