"""The index: every histogram of an image collection in one array, searchable like the
course's loop but vectorised (:class:`HistogramIndex`); its file format is in ``storage.py``."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from aiffel_lib.histsearch.compare import _DBL_EPSILON, TIE_DECIMALS, _score_block, _sort_keys, _top_rows, method_name
from aiffel_lib.histsearch.histograms import _check_bins, color_histogram, color_histograms
from aiffel_lib.histsearch.images import _iter_images, read_image
from aiffel_lib.histsearch.storage import REBUILD, read_index_file, write_index_file
from aiffel_lib.imagefiles import decode_image

# Elements per temporary float64 block while scoring (~8 MB): fits in cache, bounds memory.
_BLOCK = 1 << 20


def _closest(name: str, names: Iterable[str], n: int = 5) -> list[str]:
    names = list(names)
    # difflib is slow on huge lists: look first among names sharing the first letter.
    same = [x for x in names if x[:1] == name[:1]] or names
    return difflib.get_close_matches(name, same, n=n, cutoff=0.5) or sorted(same)[:n]


def _unknown_name(name: str, names: Iterable[str]) -> ValueError:
    close = ", ".join(_closest(name, names))
    return ValueError(f"unknown image name {name!r}: it is not in the index. Closest names: {close}")


def _check_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r:.60}")
    return int(top_k)


# ---------------------------------------------------------------------------------------
# Scoring: cv2.compareHist for a block of queries against a block of histograms


class HistogramIndex:
    """Colour histograms of a collection of images, searchable like the course's loop but fast.

    names: N unique image names. hists: (N, 3 * bins) float32, each row exactly
    :func:`color_histogram` of that image. labels: optional N class names (for
    :func:`precision_at_k`). folder: where the images live when built from a folder.
    """

    def __init__(self, names: Iterable[str], hists: np.ndarray, bins: int,
                 labels: Iterable[str] | None = None, folder: os.PathLike | str | None = None):
        bins = _check_bins(bins)
        names = tuple(map(str, names))
        hists = np.asarray(hists)
        if hists.ndim != 2 or hists.shape != (len(names), 3 * bins):
            raise ValueError(f"hists must be ({len(names)}, {3 * bins}) for {len(names)} names and "
                             f"{bins} bins, got {hists.shape}")
        if not np.issubdtype(hists.dtype, np.floating) or not np.all(np.isfinite(hists)) or (hists < 0).any():
            raise ValueError("histograms must be finite, non-negative floats")
        if len(set(names)) != len(names):
            raise ValueError("image names must be unique")
        self.names = names
        self.bins = bins
        self.labels = None if labels is None else tuple(map(str, labels))
        if self.labels is not None and len(self.labels) != len(names):
            raise ValueError(f"{len(self.labels)} labels for {len(names)} images")
        self.folder = None if folder is None else Path(folder)
        # One histogram per column: per-dimension loops then read contiguous memory.
        self._cols = np.ascontiguousarray(hists.astype(np.float32).T)
        self._cols.setflags(write=False)
        self._row: dict[str, int] | None = None
        self._rank: np.ndarray | None = None
        self._cache: dict[str, np.ndarray] = {}

    # -- construction ---------------------------------------------------------------
    @classmethod
    def build(cls, images: Any, bins: int = 4, labels: Mapping[str, str] | Iterable[str] | None = None,
              progress: bool = False) -> "HistogramIndex":
        """Histogram every image once, vectorised.

        images: a folder path (files in name order; undecodable ones skipped with
            one warning), a mapping ``{name: BGR array}``, an iterable of
            ``(name, BGR array)`` or a ``datasets.ImageSet`` (its labels come along).
        bins: bins per channel. labels: ``{name: label}`` or a sequence aligned with the images.
        Raises ValueError when no image is found.
        """
        bins = _check_bins(bins)
        folder = Path(images) if isinstance(images, (str, os.PathLike)) else None
        if labels is None and hasattr(images, "labels") and hasattr(images, "names"):
            labels = images.labels  # aligned with images.names
        arrays: list[np.ndarray] = []
        stacked = getattr(images, "images", None)
        names: list[str] | tuple[str, ...]
        if isinstance(stacked, np.ndarray) and stacked.dtype == np.uint8 and stacked.ndim == 4:
            names = tuple(images.names)  # already one array: no per-image work
        else:
            names = []
            for name, img in _iter_images(images, progress=progress):
                names.append(name)
                arrays.append(img)
        if not len(names):
            where = f"folder {folder.as_posix()!r}" if folder is not None else "the input"
            raise ValueError(f"no images found in {where}: nothing to index")
        hists = np.empty((len(names), 3 * bins), np.float32)
        if not arrays:
            hists[:] = color_histograms(stacked, bins, progress=progress)
        else:
            by_shape: dict[tuple, list[int]] = {}
            for i, img in enumerate(arrays):
                by_shape.setdefault(img.shape, []).append(i)
            for shape, rows in by_shape.items():
                for s in range(0, len(rows), 4096):  # stack a slice at a time: bounded memory
                    part = rows[s:s + 4096]
                    hists[part] = color_histograms(np.stack([arrays[i] for i in part]), bins)
        label_seq = None
        if labels is not None:
            if isinstance(labels, Mapping):
                missing = [x for x in names if x not in labels]
                if missing:
                    raise ValueError(f"no label for {len(missing)} image(s), e.g. {missing[0]!r}")
                label_seq = [labels[x] for x in names]
            else:
                label_seq = labels
        return cls(names, hists, bins, labels=label_seq, folder=folder)

    @classmethod
    def from_histograms(cls, names: Iterable[str], hists: np.ndarray, bins: int,
                        labels: Iterable[str] | None = None) -> "HistogramIndex":
        """An index over histograms computed elsewhere: hists (N, 3 * bins) float32."""
        return cls(names, hists, bins, labels=labels)

    # -- basics -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._rows()

    def __repr__(self) -> str:
        labels = f", {len(set(self.labels))} labels" if self.labels is not None else ""
        return f"HistogramIndex({len(self)} images, {self.bins} bins per channel{labels})"

    @property
    def hists(self) -> np.ndarray:
        """(N, 3 * bins) float32 histograms, read-only."""
        return self._cols.T

    @property
    def nbytes(self) -> int:
        """Bytes held by the histograms and the per-image values cached by earlier queries."""
        extra = sum(a.nbytes for a in self._cache.values())
        return self._cols.nbytes + extra

    def _rows(self) -> dict[str, int]:
        if self._row is None:
            self._row = {name: i for i, name in enumerate(self.names)}
        return self._row

    def _ranks(self) -> np.ndarray:
        if self._rank is None:
            order = np.argsort(np.array(self.names), kind="stable")
            rank = np.empty(len(order), np.int64)
            rank[order] = np.arange(len(order))
            self._rank = rank
        return self._rank

    def _cached(self, name: str) -> np.ndarray:
        """Per-image values reused by every query: row sums, sums of squares, bin logs (float64)."""
        if name not in self._cache:
            if name == "log":
                cols = self._cols.astype(np.float64)
                self._cache[name] = np.log(np.where(np.abs(cols) <= _DBL_EPSILON, 1e-10, cols))
            else:
                total = np.zeros(len(self))
                for j in range(self._cols.shape[0]):  # dimension by dimension, like OpenCV
                    col = self._cols[j].astype(np.float64)
                    total += col if name == "sum" else col * col
                self._cache[name] = total
        return self._cache[name]

    def histogram(self, name: str) -> np.ndarray:
        """The stored (3 * bins,) float32 histogram of ``name`` (ValueError if unknown)."""
        row = self._rows().get(name)
        if row is None:
            raise _unknown_name(name, self.names)
        return self._cols[:, row].copy()

    def label(self, name: str) -> str | None:
        """The label of ``name`` (None when the index has no labels)."""
        row = self._rows().get(name)
        if row is None:
            raise _unknown_name(name, self.names)
        return None if self.labels is None else self.labels[row]

    # -- search -----------------------------------------------------------------------
    def _query(self, query: Any) -> tuple[np.ndarray, int | None]:
        """(float32 histogram, row in the index or None) for a name, file, histogram or image."""
        if isinstance(query, (str, os.PathLike)):
            key = os.fspath(query)
            row = self._rows().get(key)
            if row is not None:
                return self._cols[:, row], row
            if Path(key).is_file():
                raw = np.fromfile(key, dtype=np.uint8)
                img = decode_image(raw, Path(key).name)  # ImageTooLargeError says so
                if img is None:
                    raise ValueError(f"{key!r} is not a decodable image file")
                return color_histogram(img, self.bins), None
            raise _unknown_name(key, self.names)
        if query is None or isinstance(query, (bytes, dict, set)):
            raise ValueError(f"query must be an image name, an image file path, a BGR image array or a "
                             f"({3 * self.bins},) histogram, got {type(query).__name__}")
        arr = np.asarray(query)
        if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1 and arr.shape[0] == 3 * self.bins):
            flat = arr.reshape(-1)
            if flat.size != 3 * self.bins or not np.issubdtype(flat.dtype, np.floating):
                raise ValueError(f"a histogram query must be {3 * self.bins} floats "
                                 f"(3 channels x {self.bins} bins), got {arr.shape} {arr.dtype}")
            if not np.all(np.isfinite(flat)):
                raise ValueError("the query histogram holds NaN or infinite values")
            return flat.astype(np.float32), None
        return color_histogram(arr, self.bins), None

    def scores(self, query: Any, method: str | int = "chisqr") -> np.ndarray:
        """``cv2.compareHist(query_hist, hist, method)`` for every image: (N,) float64, index order."""
        method = method_name(method)
        q, _ = self._query(query)
        return self._scores(q[None, :], method)[0]

    def _scores(self, q32: np.ndarray, method: str) -> np.ndarray:
        n = len(self)
        step = max(1, _BLOCK // max(1, len(q32) * self._cols.shape[0]))
        if step >= n:
            return _score_block(q32, self._cols, method, self._cached)
        out = np.empty((len(q32), n))
        for s in range(0, n, step):
            block = slice(s, s + step)
            out[:, block] = _score_block(q32, self._cols[:, block], method,
                                         lambda name, block=block: self._cached(name)[..., block])
        return out

    def search(self, query: Any, top_k: int = 5, method: str | int = "chisqr",
               exclude_self: bool = False) -> list[tuple[str, float]]:
        """The ``top_k`` images most like ``query``, best first, as ``[(name, score), ...]``.

        query: a name in the index, a path to an image file, a BGR image array or a
            (3 * bins,) histogram. method: ``correl``, ``chisqr`` (the course's),
            ``chisqr_alt``, ``intersect``, ``bhattacharyya`` / ``hellinger``, ``kl_div``
            or a ``cv2.HISTCMP_*`` constant.
        Scores equal ``cv2.compareHist(query_hist, image_hist, method)`` (within 1e-10);
        distances come ascending, similarities (correl, intersect) descending; ties by name.
        exclude_self: leave the query's own entry out (for evaluation).
        """
        top_k = _check_top_k(top_k)
        method = method_name(method)
        q, row = self._query(query)
        scores = self._scores(q[None, :], method)[0]
        keys = _sort_keys(scores, method)
        if exclude_self and row is not None:
            keys[row] = np.inf
            top_k = min(top_k, len(self) - 1)
            if top_k < 1:
                return []
        best = _top_rows(keys, top_k, self._ranks())
        rounded = np.round(scores[best], TIE_DECIMALS)
        return [(self.names[i], float(s)) for i, s in zip(best, rounded)]

    def search_rows(self, rows: Iterable[int], top_k: int = 5, method: str | int = "chisqr",
                    exclude_self: bool = True, batch: int = 256) -> np.ndarray:
        """Top ``top_k`` row indices for many stored images at once: (len(rows), top_k) int.

        The same scores and order as :meth:`search` with ``exclude_self`` (scored a
        batch of queries per block instead of one by one).
        """
        top_k = _check_top_k(top_k)
        method = method_name(method)
        rows = np.asarray(list(rows), dtype=np.int64)
        k = min(top_k, len(self) - (1 if exclude_self else 0))
        out = np.empty((len(rows), max(k, 0)), np.int64)
        rank = self._ranks()
        for s in range(0, len(rows), batch):
            part = rows[s:s + batch]
            scores = self._scores(np.ascontiguousarray(self._cols[:, part].T), method)
            keys = _sort_keys(scores, method)
            for i, row in enumerate(part):
                if exclude_self:
                    keys[i, row] = np.inf
                out[s + i] = _top_rows(keys[i], k, rank)
        return out

    # -- files --------------------------------------------------------------------------
    def save(self, path: os.PathLike | str) -> Path:
        """Write the index as ``.npz`` (plain arrays, no pickle), atomically.

        A crash mid-write leaves the previous file intact. ``.npz`` is appended
        when ``path`` has another suffix. Returns the path written.
        """
        return write_index_file(path, self.names, self.hists, self.bins, self.labels, self.folder)

    @classmethod
    def load(cls, path: os.PathLike | str) -> "HistogramIndex":
        """Read an index written by :meth:`save`. Never unpickles (``allow_pickle=False``).

        ``path`` may omit the ``.npz`` that :meth:`save` appends (``save("x")`` then
        ``load("x")`` works). Raises FileNotFoundError when there is no such file and
        ValueError for a file that is not such an index (truncated, wrong format,
        missing or mistyped arrays, inconsistent shapes, NaN histograms); both say what to do.
        """
        saved = read_index_file(path)
        try:
            index = cls(saved.names, saved.hists, saved.bins, labels=saved.labels)
        except ValueError as exc:
            raise ValueError(f"{saved.path.name}: {exc}: the file is damaged; {REBUILD}") from None
        index.folder = saved.folder
        return index

    # -- images (for display) -----------------------------------------------------------
    def image(self, name: str) -> np.ndarray:
        """Read ``name`` back from the folder the index was built from: (H, W, 3) uint8 BGR."""
        if self.folder is None:
            raise ValueError("this index was not built from a folder; pass the images to show_result")
        if name not in self:
            raise _unknown_name(name, self.names)
        img = read_image(self.folder / name)
        if img is None:
            raise ValueError(f"{name} cannot be read from {self.folder.name}/ any more")
        return img


# ---------------------------------------------------------------------------------------
# Retrieval quality
