"""Image files in, BGR uint8 arrays out: what the histograms are computed from.

:func:`to_bgr8` accepts any reasonable image array; :func:`read_image` reads a file
(through :func:`aiffel_lib.imagefiles.decode_image`, which refuses oversized files before
decoding them); :func:`_iter_images` walks a folder, a mapping or (name, image) pairs,
counting the files it skips in one :class:`SkippedFilesWarning`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from aiffel_lib import imagefiles
from aiffel_lib.imagefiles import ImageTooLargeError, decode_image


class SkippedFilesWarning(UserWarning):
    """Some files of an image folder could not be decoded and were left out."""


def to_bgr8(image: Any) -> np.ndarray:
    """Any reasonable image array as (H, W, 3) uint8 BGR, the input ``calcHist`` expects.

    Accepts gray (H, W) or (H, W, 1), BGR (H, W, 3), BGRA (H, W, 4: alpha dropped,
    as ``cv2.imread`` does), uint8, uint16 (scaled 65535 -> 255), bool, integer
    arrays within 0..255 and float arrays within [0, 1]. Raises ValueError otherwise.
    """
    img = np.asarray(image)
    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.size:
        return img
    if img.ndim not in (2, 3) or img.size == 0 or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {img.shape}")
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype == np.uint16:
        # Round-to-nearest rescale: 0 -> 0, 65535 -> 255, 257*v -> v exactly.
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        if not np.all(np.isfinite(img)) or img.min() < 0 or img.max() > 1:
            raise ValueError("a float image must hold values in [0, 1]; convert it to uint8 first")
        img = np.rint(img * 255).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.integer) and img.dtype != np.uint8:
        if img.min() < 0 or img.max() > 255:
            raise ValueError(f"{img.dtype} image with values outside 0..255: convert it to uint8 first")
        img = img.astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {img.dtype}")
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(np.ascontiguousarray(img.reshape(img.shape[:2])), cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img)


def _read_image(path: os.PathLike | str) -> tuple[np.ndarray | None, str]:
    """(BGR image, "") or (None, why): why is "too large" or "not decodable"."""
    try:
        raw = np.fromfile(os.fspath(path), dtype=np.uint8)
    except OSError:
        return None, "not decodable"
    try:
        img = decode_image(raw, Path(path).name)
    except ImageTooLargeError:
        return None, "too large"
    if img is None:
        return None, "not decodable"
    try:
        return to_bgr8(img), ""
    except ValueError:
        return None, "not decodable"


def read_image(path: os.PathLike | str) -> np.ndarray | None:
    """Decode an image file to (H, W, 3) uint8 BGR; None when it is not a decodable image.

    Decodes from bytes (``cv2.imdecode``), which stays silent on bad files and
    handles non-ASCII paths; 16-bit, gray and RGBA files are converted by :func:`to_bgr8`.
    Files whose header announces more than ``imagefiles.MAX_IMAGE_PIXELS`` pixels are
    not decoded (None too).
    """
    return _read_image(path)[0]


def _iter_images(images: Any, progress: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    """(name, BGR uint8) pairs from a folder, a mapping or an iterable of pairs.

    Folder files that do not decode are skipped; one :class:`SkippedFilesWarning`
    at the end counts them. Hidden files (``.manifest.json``, ``.DS_Store``) and
    sub-folders are ignored.
    """
    if images is None:
        raise ValueError("images must be a folder, a mapping {name: image} or (name, image) pairs, got None")
    if isinstance(images, (str, os.PathLike)):
        folder = Path(images)
        if not folder.is_dir():
            raise ValueError(f"{os.fspath(images)!r} is not a folder of images")
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if progress:
            from tqdm import tqdm

            files = tqdm(files, desc="reading images", unit="img")
        skipped: list[str] = []
        too_large: list[str] = []
        for path in files:
            img, why = _read_image(path)
            if img is None:
                (too_large if why == "too large" else skipped).append(path.name)
                continue
            yield path.name, img
        if skipped or too_large:
            def shown(names: list[str]) -> str:
                return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")

            parts = ([f"{len(skipped)} not decodable as images: {shown(skipped)}"] if skipped else []) + (
                [f"{len(too_large)} larger than {imagefiles.MAX_IMAGE_PIXELS / 1e6:.0f} M pixels "
                 f"(aiffel_lib.imagefiles.MAX_IMAGE_PIXELS), not decoded: {shown(too_large)}"] if too_large else [])
            warnings.warn(f"skipped {len(skipped) + len(too_large)} file(s): " + "; ".join(parts),
                          SkippedFilesWarning, stacklevel=3)
        return
    if hasattr(images, "names") and hasattr(images, "images"):  # a datasets.ImageSet
        pairs: Iterable = zip(images.names, images.images)
    elif isinstance(images, Mapping):
        pairs = images.items()
    elif isinstance(images, np.ndarray):
        raise ValueError("pass names with the images: a mapping {name: image} or (name, image) pairs")
    else:
        pairs = images
    try:
        pairs = iter(pairs)
    except TypeError:
        raise ValueError("images must be a folder, a mapping {name: image} or (name, image) pairs, "
                         f"got {type(images).__name__}") from None
    if progress:
        from tqdm import tqdm

        pairs = tqdm(pairs, desc="reading images", unit="img")
    for item in pairs:
        try:
            name, img = item
        except (TypeError, ValueError):
            raise ValueError("images must be a folder, a mapping {name: image} or (name, image) pairs") from None
        yield str(name), to_bgr8(img)
