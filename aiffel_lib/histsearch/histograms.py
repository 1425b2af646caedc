"""Colour histograms: the course's ``get_histogram`` (:func:`color_histogram`) and the same
values for many images at once (:func:`color_histograms`), identical bit for bit."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from aiffel_lib.histsearch.images import to_bgr8


def _check_bins(bins: int) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 1 <= int(bins) <= 256:
        raise ValueError(f"bins must be an integer from 1 to 256, got {bins!r:.60}")
    return int(bins)


def color_histogram(image_bgr: Any, bins: int = 4) -> np.ndarray:
    """The course's ``get_histogram``: per-channel calcHist, concatenated, L2-normalised.

    image_bgr: (H, W, 3) uint8 BGR (gray, BGRA and 16-bit images are converted first).
    bins: bins per channel over [0, 256] (the course uses 4).
    Returns (3 * bins,) float32, order B bins, G bins, R bins; unit L2 norm.
    """
    bins = _check_bins(bins)
    img = to_bgr8(image_bgr)
    hist = np.concatenate([cv2.calcHist([img], [i], None, [bins], [0, 256]) for i in range(3)])
    hist = cv2.normalize(hist, hist)
    return hist.reshape(-1)


@lru_cache(maxsize=None)
def _bin_lut(bins: int) -> np.ndarray:
    """(256,) uint8: the calcHist bin of every 8-bit value, asked of calcHist itself.

    Building the table from calcHist's own answers makes the vectorised
    histograms identical to the course's by construction, bin edges included.
    """
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256)
    lut = np.empty(256, np.uint8)
    for v in range(256):
        mask = (ramp == v).astype(np.uint8)
        hist = cv2.calcHist([ramp], [0], mask, [bins], [0, 256]).reshape(-1)
        lut[v] = int(np.argmax(hist))
    return lut


def _packs_channels(bins: int) -> bool:
    """Whether to count the three channels in one pass (small ``bins`` only).

    Each pixel's three bins are packed into one 8-bit code, B*bins^2 + G*bins + R,
    so one 2-D calcHist (image id x code) counts all channels at once; summing the
    joint counts over the other two channels gives each channel's histogram. Worth
    it only while the joint histogram stays small (bins^3 <= 64).
    """
    return bins ** 3 <= 64


@lru_cache(maxsize=None)
def _marginals(bins: int) -> np.ndarray:
    """(bins^3, 3*bins) float32 0/1 matrix: packed code B*bins^2 + G*bins + R -> its B, G and R bins."""
    out = np.zeros((bins ** 3, 3 * bins), np.float32)
    for code in range(bins ** 3):
        b, g, r = code // (bins * bins), (code // bins) % bins, code % bins
        out[code, [b, bins + g, 2 * bins + r]] = 1.0
    return out


def _normalize_rows(counts: np.ndarray) -> np.ndarray:
    """Row-wise ``cv2.normalize(h, h)`` (L2), bit-for-bit.

    OpenCV takes the norm in float64, then multiplies the float32 values by the
    float32 scale 1/norm; an all-zero row stays zero.
    """
    c64 = counts.astype(np.float64)
    norm = np.sqrt(np.einsum("ij,ij->i", c64, c64))
    inverse = np.zeros_like(norm)
    np.divide(1.0, norm, out=inverse, where=norm > 0)
    return counts.astype(np.float32) * inverse.astype(np.float32)[:, None]


def color_histograms(images: np.ndarray, bins: int = 4, progress: bool = False) -> np.ndarray:
    """:func:`color_histogram` of many same-size images at once, identical values.

    images: (N, H, W, 3) uint8 BGR.
    Counts 256 images per OpenCV call -- a 2-D histogram of image id x value
    (or x packed channel code, see :func:`_packs_channels`) -- instead of three calls
    per image, then normalises all rows together. Returns (N, 3 * bins) float32.
    """
    bins = _check_bins(bins)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
    n, h, w, _ = images.shape
    if n == 0:
        return np.zeros((0, 3 * bins), np.float32)
    if h * w >= 1 << 24:  # float32 counts stop being exact; use OpenCV image by image
        return np.stack([color_histogram(img, bins) for img in images])
    packed = _packs_channels(bins)
    lut = _bin_lut(bins) if packed else None
    mix = np.array([[bins * bins, bins, 1]], np.float32)
    k = bins ** 3 if packed else 3 * bins
    per_call = max(1, min(256, (1 << 18) // (h * w)))
    ids = np.repeat(np.arange(per_call, dtype=np.uint8), h * w).reshape(per_call * h, w)
    raw = np.empty((n, k), np.float32)  # joint (packed) or per-channel counts, exact integers
    starts = range(0, n, per_call)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"histograms ({bins} bins)", unit="batch")
    for s in starts:
        chunk = images[s:s + per_call]
        m = len(chunk)
        flat = np.ascontiguousarray(chunk).reshape(m * h, w, 3)
        if packed:
            code = cv2.transform(cv2.LUT(flat, lut), mix)  # B*bins^2 + G*bins + R per pixel
            raw[s:s + m] = cv2.calcHist([ids[:m * h], code], [0, 1], None, [per_call, k],
                                        [0, per_call, 0, k])[:m]
        else:
            # Image id x value: calcHist bins the values itself, exactly as per image.
            for ch in range(3):
                part = cv2.calcHist([ids[:m * h], flat], [0, 1 + ch], None, [per_call, bins],
                                    [0, per_call, 0, 256])
                raw[s:s + m, ch * bins:(ch + 1) * bins] = part[:m]
    # Packed: sum the joint counts into per-channel bins, all images in one product with a
    # 0/1 matrix (integer counts below 2^24 stay exact in float32, in any summation order).
    counts = raw @ _marginals(bins) if packed else raw
    return _normalize_rows(counts)
