"""The course's own program, kept with its names: a dict of histograms and a
``cv2.compareHist`` loop (:func:`get_histogram`, :func:`build_histogram_db`,
:func:`get_target_histogram`, :func:`search`). :class:`HistogramIndex` must match it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from aiffel_lib.histsearch.compare import COMPARE_METHODS, _sort_keys, method_name
from aiffel_lib.histsearch.histograms import _check_bins, color_histogram
from aiffel_lib.histsearch.images import _iter_images
from aiffel_lib.histsearch.index import HistogramIndex, _check_top_k, _unknown_name


def get_histogram(image: np.ndarray) -> np.ndarray:
    """The course's name: :func:`color_histogram` with its 4 bins. Returns (12,) float32."""
    return color_histogram(image, bins=4)


def build_histogram_db(images: Any, bins: int = 4, progress: bool = True) -> dict[str, np.ndarray]:
    """The course's ``build_histogram_db``: ``{file name: histogram}``, one image at a time.

    images: a folder (as in the course), a mapping or (name, image) pairs.
    Undecodable files are skipped with one warning; an empty folder raises ValueError.
    """
    bins = _check_bins(bins)
    histogram_db = {}
    for file_name, image in _iter_images(images, progress=progress):
        histogram_db[file_name] = color_histogram(image, bins)
    if not histogram_db:
        raise ValueError("no images found: the histogram database is empty")
    return histogram_db


def get_target_histogram(histogram_db: Mapping[str, np.ndarray], filename: str) -> np.ndarray:
    """The course's ``get_target_histogram`` without ``input()``: the histogram of ``filename``.

    Unknown names raise ValueError listing the closest names (the course printed a
    message and returned None, which then failed later inside ``search``).
    """
    if not isinstance(histogram_db, Mapping):
        raise ValueError(f"histogram_db must be the dict from build_histogram_db, got {type(histogram_db).__name__}")
    if not isinstance(filename, str):
        raise ValueError(f"filename must be an image name (a str such as {next(iter(histogram_db), 'x.png')!r}), "
                         f"got {type(filename).__name__}")
    if filename not in histogram_db:
        raise _unknown_name(filename, histogram_db.keys())
    return histogram_db[filename]


def search(histogram_db: Mapping[str, np.ndarray], target_histogram: np.ndarray, top_k: int = 5,
           method: str | int = "chisqr", progress: bool = False) -> dict[str, float]:
    """The course's ``search``: ``cv2.compareHist`` against every entry, sorted, top ``top_k``.

    Returns ``{name: score}`` in rank order (distances ascending, similarities
    descending, ties by name) -- the reference :meth:`HistogramIndex.search` must match.
    """
    top_k = _check_top_k(top_k)
    name = method_name(method)
    code = COMPARE_METHODS[name]
    if not isinstance(histogram_db, Mapping):
        hint = " (for a HistogramIndex call index.search(query))" if isinstance(histogram_db, HistogramIndex) else ""
        raise ValueError(f"histogram_db must be the dict from build_histogram_db, got "
                         f"{type(histogram_db).__name__}{hint}")
    target = _check_target(target_histogram, histogram_db)
    items = histogram_db.items()
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="comparing")
    results = {}
    for file_name, histogram in items:
        if np.size(histogram) != target.size:
            raise ValueError(f"histogram_db[{file_name!r}] has {np.size(histogram)} values, the target "
                             f"{target.size}: all histograms must come from the same bins (rebuild the database)")
        if getattr(histogram, "dtype", None) != np.float32:  # compareHist needs both float32
            histogram = np.asarray(histogram, np.float32)
        results[file_name] = cv2.compareHist(H1=target, H2=histogram, method=code)
    # Sort by (rounded score, name): equal scores come in name order, as in HistogramIndex.
    keys = _sort_keys(np.fromiter(results.values(), dtype=np.float64, count=len(results)), name)
    ranked = sorted(zip(keys.tolist(), results.items()), key=lambda item: (item[0], item[1][0]))
    return dict(pair for _, pair in ranked[:top_k])


def _check_target(target_histogram: Any, histogram_db: Mapping[str, np.ndarray]) -> np.ndarray:
    """The query histogram as float32, checked against the database's histogram length."""
    example = next(iter(histogram_db.values()), None)
    size = None if example is None else int(np.size(example))
    want = f"{size} floats, like the database's histograms" if size else "a histogram"
    if target_histogram is None or isinstance(target_histogram, (str, bytes)):
        raise ValueError(f"target_histogram must be {want}, got {target_histogram!r:.60}: "
                         "use get_target_histogram(histogram_db, file_name)")
    target = np.asarray(target_histogram)
    if target.dtype.kind not in "fiu" or target.size == 0 or (size and target.size != size):
        raise ValueError(f"target_histogram must be {want}, got shape {target.shape} {target.dtype}: "
                         "compute it with the same bins (get_target_histogram(histogram_db, file_name))")
    target = target.astype(np.float32).reshape(np.shape(example) if size else (-1, 1))
    if not np.all(np.isfinite(target)):
        raise ValueError("target_histogram holds NaN or infinite values")
    return target
