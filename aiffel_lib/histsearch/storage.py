"""The index's file: a ``.npz`` of plain arrays (no pickles), written atomically, read with
every array checked, so a damaged or foreign file gets a message instead of a traceback."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from aiffel_lib.atomic import atomic_path

FILE_FORMAT = "aiffel-histogram-index"
FILE_VERSION = 1
#: What every "damaged file" message tells the user to do.
REBUILD = "build the index again (HistogramIndex.build) and save it"


class SavedIndex(NamedTuple):
    """The arrays of an index file, checked: what ``HistogramIndex(...)`` is built from."""

    path: Path
    names: list[str]
    hists: np.ndarray
    bins: int
    labels: list[str] | None
    folder: Path | None


def _as_path(path: os.PathLike | str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or pathlib.Path), got {type(path).__name__}")
    return Path(path)


def write_index_file(path: os.PathLike | str, names: Sequence[str], hists: np.ndarray, bins: int,
                     labels: Sequence[str] | None, folder: Path | None) -> Path:
    """Write an index as ``.npz`` atomically (``.npz`` appended to another suffix); returns the path."""
    path = _as_path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if path.is_dir():
        raise ValueError(f"cannot save the index as {path}: it is a folder; give a file name like index.npz")
    arrays = {"format": np.array(FILE_FORMAT), "version": np.array(FILE_VERSION),
              "bins": np.array(bins), "names": np.array(names, dtype=str),
              "hists": np.ascontiguousarray(hists)}
    if labels is not None:
        arrays["labels"] = np.array(labels, dtype=str)
    if folder is not None:
        arrays["folder"] = np.array(folder.as_posix())
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def read_index_file(path: os.PathLike | str) -> SavedIndex:
    """Read and check the arrays :func:`write_index_file` wrote. Never unpickles.

    ``path`` may omit the ``.npz`` that saving appends. FileNotFoundError when there is no
    such file; ValueError (saying what to do) for a file that is not such an index.
    """
    path = _as_path(path)
    if not path.exists() and path.suffix != ".npz" and path.with_name(path.name + ".npz").is_file():
        path = path.with_name(path.name + ".npz")  # what save() wrote for this name
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"no histogram index at {path}: it {what}. Build one with "
                                "HistogramIndex.build(folder) and write it with index.save(path)")
    unreadable = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zlib.error)

    def damaged(exc: Exception) -> ValueError:
        return ValueError(f"{path.name} is not a histogram index (.npz without pickles), or it is truncated "
                          f"or damaged ({type(exc).__name__}: {exc}): {REBUILD}")

    try:
        loaded = np.load(path, allow_pickle=False)
    except unreadable as exc:
        raise damaged(exc) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy holds one array
        raise ValueError(f"{path.name} is a single NumPy array, not a histogram index (.npz): {REBUILD}")
    try:
        with loaded as npz:  # members are read (and decompressed) here: truncation shows now
            data = {k: npz[k] for k in npz.files}
    except unreadable as exc:
        raise damaged(exc) from None
    if data.get("format", np.array("")).item() != FILE_FORMAT:
        raise ValueError(f"{path.name} is not a histogram index written by HistogramIndex.save")
    for key, kinds in (("version", "iu"), ("bins", "iu"), ("names", "U"), ("hists", "f")):
        if key not in data or data[key].dtype.kind not in kinds:
            raise ValueError(f"{path.name}: '{key}' is missing or has the wrong type: the file is damaged; "
                             f"{REBUILD}")
    if int(data["version"]) > FILE_VERSION:
        raise ValueError(f"{path.name} was written by a newer version (format {int(data['version'])}): "
                         "update aiffel_lib or rebuild the index")
    for key in ("labels", "folder"):
        if key in data and data[key].dtype.kind != "U":
            raise ValueError(f"{path.name}: '{key}' has the wrong type: the file is damaged; {REBUILD}")
    return SavedIndex(path, data["names"].tolist(), data["hists"], int(data["bins"]),
                      data["labels"].tolist() if "labels" in data else None,
                      Path(str(data["folder"])) if "folder" in data else None)
