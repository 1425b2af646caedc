"""Colour-histogram image search (notebook 02): the course's program, made exact, fast and measured.

The course describes an image by its colour histogram -- per channel
``cv2.calcHist`` with 4 bins over [0, 256], the three channels concatenated,
L2-normalised with ``cv2.normalize`` -- and ranks a folder of CIFAR-100 images
by ``cv2.compareHist`` against a query, one image at a time in a Python loop.

Entry points
    :func:`color_histogram`  the course's ``get_histogram`` for any ``bins``.
    :class:`HistogramIndex`  ``build`` / ``search`` / ``save`` / ``load``: all
        histograms in one array, every comparison method vectorised with NumPy,
        scores equal to ``cv2.compareHist`` (same formulas, same float32 inputs,
        computed in float64) and ties broken by name.
    :func:`precision_at_k`, :func:`precision_table`  retrieval quality by label.
The course's own program flow is kept with its names: :func:`get_histogram`,
:func:`build_histogram_db`, :func:`get_target_histogram`, :func:`search`,
:func:`show_result` (the dict + ``compareHist`` loop, used as the reference).
"""

from __future__ import annotations

import base64
import difflib
import html
import os
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from aiffel_lib.atomic import atomic_path

#: Comparison methods by name -> OpenCV constant. ``hellinger`` is OpenCV's other
#: name for ``bhattacharyya`` (same constant, same formula).
METHODS: dict[str, int] = {
    "correl": cv2.HISTCMP_CORREL,
    "chisqr": cv2.HISTCMP_CHISQR,
    "chisqr_alt": cv2.HISTCMP_CHISQR_ALT,
    "intersect": cv2.HISTCMP_INTERSECT,
    "bhattacharyya": cv2.HISTCMP_BHATTACHARYYA,
    "kl_div": cv2.HISTCMP_KL_DIV,
}
ALIASES = {"hellinger": "bhattacharyya"}
#: Methods where larger means more similar (sorted descending); the rest are distances.
SIMILARITIES = frozenset({"correl", "intersect"})
#: Scores equal to this many decimals count as ties and are ordered by name. Float
#: rounding makes mathematically equal scores differ in the last bits, differently
#: in OpenCV and NumPy; 1e-10 is far below any real difference between two images.
TIE_DECIMALS = 10
FILE_FORMAT = "aiffel-histogram-index"
FILE_VERSION = 1

_DBL_EPSILON = float(np.finfo(np.float64).eps)
_FLT_EPSILON = float(np.finfo(np.float32).eps)
# Elements per temporary float64 block while scoring (~8 MB): fits in cache, bounds memory.
_BLOCK = 1 << 20


class SkippedFilesWarning(UserWarning):
    """Some files of an image folder could not be decoded and were left out."""


def method_name(method: str | int) -> str:
    """Canonical method name for a name (any case, ``hellinger`` allowed) or an OpenCV constant."""
    if isinstance(method, (int, np.integer)) and not isinstance(method, bool):
        for name, code in METHODS.items():
            if code == int(method):
                return name
    elif isinstance(method, str):
        key = method.strip().lower()
        key = ALIASES.get(key, key)
        if key in METHODS:
            return key
    known = ", ".join(list(METHODS) + list(ALIASES))
    raise ValueError(f"unknown comparison method {method!r:.60}; use one of: {known} "
                     "(or a cv2.HISTCMP_* constant)")


# ---------------------------------------------------------------------------------------
# Images and histograms
# ---------------------------------------------------------------------------------------

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


#: Largest image, in pixels (width x height), the readers here decode: 2**26 = 67 M, room for
#: a 50-megapixel photo. A PNG of 20000 x 20000 zeros is 431 KB on disk but 1.2 GB once decoded
#: as BGR: its size is read from the header first and the file refused. Raise it for bigger images.
MAX_IMAGE_PIXELS = 1 << 26

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (they carry the size); C4, C8 and CC are other segments.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ImageTooLargeError(ValueError):
    """An image file whose header announces more than :data:`MAX_IMAGE_PIXELS` pixels."""


def _jpeg_size(buf: memoryview) -> tuple[int, int] | None:
    i, n = 2, len(buf)
    while i + 9 <= n:
        if buf[i] != 0xFF:
            return None  # not at a marker: a damaged file
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length field
            i += 2
        elif marker in _JPEG_SOF:
            return int.from_bytes(buf[i + 7:i + 9], "big"), int.from_bytes(buf[i + 5:i + 7], "big")
        else:
            i += 2 + int.from_bytes(buf[i + 2:i + 4], "big")
    return None


def image_size(data: bytes | bytearray | memoryview | np.ndarray | os.PathLike | str) -> tuple[int, int] | None:
    """(width, height) of an encoded image, read from its header without decoding the pixels.

    data: the file's bytes (or a uint8 array of them), or its path. PNG and JPEG headers are
    parsed here (fast); other formats by Pillow's lazy ``Image.open``, which reads
    only the header. Returns None when the format is not recognised. Raises
    :class:`ImageTooLargeError` for images Pillow itself refuses to open (over
    ~179 M pixels) without saying their size.
    """
    if isinstance(data, (str, os.PathLike)):
        data = np.fromfile(os.fspath(data), dtype=np.uint8)
    if isinstance(data, np.ndarray) and data.dtype != np.uint8:
        raise ValueError(f"data must be a file's bytes (uint8), got an array of {data.dtype}")
    try:
        buf = memoryview(np.ascontiguousarray(data).reshape(-1) if isinstance(data, np.ndarray) else data).cast("B")
    except TypeError:
        raise ValueError(f"data must be an image file's bytes or its path, got {type(data).__name__}") from None
    if len(buf) >= 24 and bytes(buf[:8]) == _PNG_MAGIC and bytes(buf[12:16]) == b"IHDR":
        return int.from_bytes(buf[16:20], "big"), int.from_bytes(buf[20:24], "big")
    if bytes(buf[:2]) == b"\xff\xd8":
        return _jpeg_size(buf)
    import io

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(buf)) as im:
                width, height = im.size
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} M pixels") from None
    except Exception:  # noqa: BLE001 - any unrecognised or damaged header means "unknown"
        return None
    return int(width), int(height)


def check_image_size(data: bytes | bytearray | memoryview | np.ndarray, name: str) -> None:
    """Raise :class:`ImageTooLargeError` (naming ``name``) when the header of ``data``
    announces more than :data:`MAX_IMAGE_PIXELS` pixels. Unknown formats pass."""
    try:
        size = image_size(data)
    except ImageTooLargeError as exc:
        size, shape = None, str(exc)
    else:
        if size is None or size[0] * size[1] <= MAX_IMAGE_PIXELS:
            return
        shape = f"{size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:,.0f} M)"
    raise ImageTooLargeError(f"{name} is {shape}, more than the {MAX_IMAGE_PIXELS / 1e6:.0f} M pixels "
                             "the course decodes (histsearch.MAX_IMAGE_PIXELS): shrink it first")


def decode_image(data: bytes | bytearray | memoryview | np.ndarray, name: str,
                 flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """``cv2.imdecode`` after :func:`check_image_size`; None (silently) when OpenCV cannot decode it.

    Raises :class:`ImageTooLargeError` before decoding anything too large.
    """
    raw = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if raw.size == 0:
        return None
    check_image_size(raw, name)
    # OpenCV logs an [ERROR] line for a broken file; callers count or report skipped files instead.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(raw, flags)
    finally:
        cv2.utils.logging.setLogLevel(level)


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
    Files whose header announces more than :data:`MAX_IMAGE_PIXELS` pixels are
    not decoded (None too).
    """
    return _read_image(path)[0]


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
                [f"{len(too_large)} larger than {MAX_IMAGE_PIXELS / 1e6:.0f} M pixels "
                 f"(histsearch.MAX_IMAGE_PIXELS), not decoded: {shown(too_large)}"] if too_large else [])
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
# ---------------------------------------------------------------------------------------

def _score_block(q32: np.ndarray, cols: np.ndarray, method: str,
                 cached: Callable[[str], np.ndarray]) -> np.ndarray:
    """compareHist(query_b, hist_j, method) for every pair, as OpenCV computes it.

    q32: (B, D) float32 query histograms. cols: (D, n) float32, one histogram per
    column. cached(name): per-column values computed once per index, for this block:
    ``"sum"``, ``"sumsq"`` (n,) and ``"log"`` (D, n), the float64 log of each bin
    with OpenCV's 1e-10 for empty bins.
    Returns (B, n) float64. Follows OpenCV's formulas: float32 inputs, float64
    arithmetic, the same guards against zero denominators (so no NaN).
    """
    b, d = q32.shape
    n = cols.shape[1]
    q64 = q32.astype(np.float64)
    out = np.zeros((b, n))
    if method in ("chisqr", "chisqr_alt", "kl_div"):
        # OpenCV sums these dimension by dimension; so does this loop (same rounding).
        for j in range(d):
            h32 = cols[j][None, :]
            if method == "kl_div":
                p = q64[:, j, None]
                live = np.abs(p) > _DBL_EPSILON
                if not live.any():
                    continue
                # p*log(p/q) as p*(log p - log q): the candidates' logs are computed once
                # per index, not per query (equal to OpenCV's to ~1e-16).
                p_safe = np.where(live, p, 1.0)
                out += np.where(live, p_safe * (np.log(p_safe) - cached("log")[j][None, :]), 0.0)
                continue
            h64 = h32.astype(np.float64)
            a = q64[:, j, None] - h64
            den = q64[:, j, None] if method == "chisqr" else q64[:, j, None] + h64
            live = np.abs(den) > _DBL_EPSILON
            # a * a * (1 / den): OpenCV's vectorised loop multiplies by the reciprocal.
            out += np.where(live, a * a * (1.0 / np.where(live, den, 1.0)), 0.0)
        if method == "chisqr_alt":
            out *= 2
        return out
    if method == "intersect":
        for j in range(d):
            out += np.minimum(q32[:, j, None], cols[j][None, :]).astype(np.float64)
        return out
    s2, s22 = cached("sum"), cached("sumsq")
    s1 = q64.sum(axis=1)[:, None]
    if method == "correl":
        s11 = (q64 * q64).sum(axis=1)[:, None]
        s12 = np.zeros((b, n))
        for j in range(d):  # a loop of vector ops, not BLAS: no thread start-up per query
            s12 += q64[:, j, None] * cols[j][None, :].astype(np.float64)
        scale = 1.0 / d
        num = s12 - s1 * s2[None, :] * scale
        denom2 = (s11 - s1 * s1 * scale) * (s22[None, :] - s2[None, :] * s2[None, :] * scale)
        live = np.abs(denom2) > _DBL_EPSILON
        return np.where(live, num / np.sqrt(np.where(live, np.abs(denom2), 1.0)), 1.0)
    if method == "bhattacharyya":
        for j in range(d):
            out += np.sqrt(q64[:, j, None] * cols[j][None, :].astype(np.float64))
        s = s1 * s2[None, :]
        live = np.abs(s) > _FLT_EPSILON
        s = np.where(live, 1.0 / np.sqrt(np.where(live, np.abs(s), 1.0)), 1.0)
        return np.sqrt(np.maximum(1.0 - out * s, 0.0))
    raise ValueError(f"unknown method {method!r}")


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


# ---------------------------------------------------------------------------------------
# The index
# ---------------------------------------------------------------------------------------

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
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path (str or pathlib.Path), got {type(path).__name__}")
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        if path.is_dir():
            raise ValueError(f"cannot save the index as {path}: it is a folder; give a file name like index.npz")
        arrays = {"format": np.array(FILE_FORMAT), "version": np.array(FILE_VERSION),
                  "bins": np.array(self.bins), "names": np.array(self.names, dtype=str),
                  "hists": np.ascontiguousarray(self.hists)}
        if self.labels is not None:
            arrays["labels"] = np.array(self.labels, dtype=str)
        if self.folder is not None:
            arrays["folder"] = np.array(self.folder.as_posix())
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path: os.PathLike | str) -> "HistogramIndex":
        """Read an index written by :meth:`save`. Never unpickles (``allow_pickle=False``).

        ``path`` may omit the ``.npz`` that :meth:`save` appends (``save("x")`` then
        ``load("x")`` works). Raises FileNotFoundError when there is no such file and
        ValueError for a file that is not such an index (truncated, wrong format,
        missing or mistyped arrays, inconsistent shapes, NaN histograms); both say what to do.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path (str or pathlib.Path), got {type(path).__name__}")
        path = Path(path)
        if not path.exists() and path.suffix != ".npz" and path.with_name(path.name + ".npz").is_file():
            path = path.with_name(path.name + ".npz")  # what save() wrote for this name
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise FileNotFoundError(f"no histogram index at {path}: it {what}. Build one with "
                                    "HistogramIndex.build(folder) and write it with index.save(path)")
        rebuild = "build the index again (HistogramIndex.build) and save it"
        unreadable = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zlib.error)

        def damaged(exc: Exception) -> ValueError:
            return ValueError(f"{path.name} is not a histogram index (.npz without pickles), or it is truncated "
                              f"or damaged ({type(exc).__name__}: {exc}): {rebuild}")

        try:
            loaded = np.load(path, allow_pickle=False)
        except unreadable as exc:
            raise damaged(exc) from None
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy holds one array
            raise ValueError(f"{path.name} is a single NumPy array, not a histogram index (.npz): {rebuild}")
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
                                 f"{rebuild}")
        if int(data["version"]) > FILE_VERSION:
            raise ValueError(f"{path.name} was written by a newer version (format {int(data['version'])}): "
                             "update aiffel_lib or rebuild the index")
        for key in ("labels", "folder"):
            if key in data and data[key].dtype.kind != "U":
                raise ValueError(f"{path.name}: '{key}' has the wrong type: the file is damaged; {rebuild}")
        labels = data["labels"].tolist() if "labels" in data else None
        folder = str(data["folder"]) if "folder" in data else None
        try:
            index = cls(data["names"].tolist(), data["hists"], int(data["bins"]), labels=labels)
        except ValueError as exc:
            raise ValueError(f"{path.name}: {exc}: the file is damaged; {rebuild}") from None
        index.folder = None if folder is None else Path(folder)
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
# ---------------------------------------------------------------------------------------

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
                    methods: Iterable[str] = tuple(METHODS), k: int = 5,
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
# ---------------------------------------------------------------------------------------

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
    code = METHODS[name]
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


def image_loader(images: Any) -> Callable[[str], np.ndarray]:
    """name -> BGR image, from a folder path, an ``ImageSet``, a mapping or a ``HistogramIndex``."""
    if isinstance(images, HistogramIndex):
        return images.image
    if isinstance(images, (str, os.PathLike)):
        folder = Path(images)

        def from_folder(name: str) -> np.ndarray:
            img = read_image(folder / name)
            if img is None:
                raise ValueError(f"cannot read {name} from {folder.name}/")
            return img

        return from_folder
    if hasattr(images, "names") and hasattr(images, "images"):
        row = {n: i for i, n in enumerate(images.names)}
        return lambda name: images.images[row[name]]
    if isinstance(images, Mapping):
        return lambda name: to_bgr8(images[name])
    raise ValueError("images must be a folder, an ImageSet, a mapping or a HistogramIndex")


def show_result(result: Mapping[str, float] | list[tuple[str, float]], images: Any,
                query: str | np.ndarray | None = None, size: float = 1.4, title: str = ""):
    """The course's ``show_result``: the found images in a row, titled with name and score.

    result: ``search(...)``'s dict or ``HistogramIndex.search``'s list.
    images: where to read them (folder, ImageSet, mapping or HistogramIndex).
    query: optionally shown first (a name or a BGR array). title: a line above the row.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, (Mapping, list, tuple)):
        raise ValueError(f"result must be search()'s dict or HistogramIndex.search()'s list of (name, score), "
                         f"got {type(result).__name__}")
    pairs = list(result.items()) if isinstance(result, Mapping) else list(result)
    if not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
        raise ValueError("result must hold (name, score) pairs, as search() and HistogramIndex.search() return")
    load = image_loader(images)
    panels = []
    if query is not None:
        panels.append(("query" if not isinstance(query, str) else f"query\n{query}",
                       load(query) if isinstance(query, str) else to_bgr8(query)))
    panels += [(f"{name}\n{score:.4f}", load(name)) for name, score in pairs]
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.5), squeeze=False)
    for ax, (caption, img) in zip(axes[0], panels):
        ax.imshow(img[..., ::-1])  # BGR -> RGB for matplotlib
        ax.set_title(caption, fontsize=7)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def show_samples(data: Any, per_label: int = 4, max_labels: int = 16, size: float = 0.75):
    """A grid of example images: one row per label (first ``per_label`` of each). Returns the figure.

    data: a ``datasets.ImageSet`` (BGR images with names and labels).
    """
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(data.labels))[:max_labels]
    fig, axes = plt.subplots(len(labels), per_label, figsize=(size * per_label + 1.6, size * len(labels)),
                             squeeze=False)
    for ax_row, label in zip(axes, labels):
        rows = [i for i, lab in enumerate(data.labels) if lab == label][:per_label]
        for j, ax in enumerate(ax_row):
            ax.axis("off")
            if j < len(rows):
                ax.imshow(data.images[rows[j]][..., ::-1])
        ax_row[0].text(-4, 16, label, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(left=0.3, wspace=0.05, hspace=0.05)
    return fig


def draw_color_histogram(image_bgr: np.ndarray, bins: int = 256, title: str = ""):
    """The course's ``draw_color_histogram_from_image``: the image and its B, G, R histograms."""
    import matplotlib.pyplot as plt

    img = to_bgr8(image_bgr)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 2.4), gridspec_kw={"width_ratios": [1, 2]})
    left.imshow(img[..., ::-1])
    left.set_title(title or "image")
    left.axis("off")
    for i, colour in enumerate("bgr"):  # channel 0 is blue in OpenCV's order
        hist = cv2.calcHist([img], [i], None, [bins], [0, 256]).reshape(-1)
        if bins > 32:
            right.plot(hist, color=colour)
        else:  # few bins: grouped bars, one group per bin
            right.bar(np.arange(bins) + (i - 1) * 0.27, hist, width=0.27, color=colour)
    right.set_title(f"histogram ({bins} bins per channel)")
    if bins > 32:
        right.set_xlim(0, bins - 1)
    else:
        right.set_xticks(range(bins), [f"{256 * b // bins}-{256 * (b + 1) // bins - 1}" for b in range(bins)])
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------
# The ipywidgets picker
# ---------------------------------------------------------------------------------------

def _png_data_uri(img_bgr: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", img_bgr)
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def results_html(pairs: list[tuple[str, float]], load: Callable[[str], np.ndarray],
                 query_img: np.ndarray | None = None, labels: Mapping[str, str] | None = None,
                 px: int = 96) -> str:
    """An HTML row of thumbnails (pixelated upscale) with name, score and label."""
    cells = []
    style = f"width:{px}px;height:{px}px;image-rendering:pixelated;object-fit:contain"
    if query_img is not None:
        cells.append(f'<figure style="margin:4px;border-right:2px solid #888;padding-right:6px">'
                     f'<img src="{_png_data_uri(to_bgr8(query_img))}" style="{style}"/>'
                     f'<figcaption style="font-size:11px">query</figcaption></figure>')
    for name, score in pairs:
        label = f"<br/>{html.escape(labels[name])}" if labels and name in labels else ""
        cells.append(f'<figure style="margin:4px"><img src="{_png_data_uri(load(name))}" style="{style}"/>'
                     f'<figcaption style="font-size:11px">{html.escape(name)}<br/>{score:.4f}{label}'
                     f'</figcaption></figure>')
    return '<div style="display:flex;flex-wrap:wrap">' + "".join(cells) + "</div>"


class SearchPicker:
    """Pick (or upload) a query image, see its top k: an ipywidgets panel over an index.

    ``picker.widget`` is the panel; displaying the picker shows it. The text form
    (what a plain-text viewer or nbval sees) is a short, deterministic summary.
    """

    def __init__(self, index: HistogramIndex, images: Any = None, query: str | None = None,
                 method: str = "chisqr", top_k: int = 5, max_options: int = 2000):
        import ipywidgets as widgets

        self.index = index
        self._load = image_loader(images if images is not None else index)
        self._labels = dict(zip(index.names, index.labels)) if index.labels is not None else None
        options = list(index.names[:: max(1, len(index) // max_options)])[:max_options]
        self.query = query if query is not None else index.names[0]
        self.upload_image: np.ndarray | None = None
        self.last_results: list[tuple[str, float]] = []
        self.name_box = widgets.Combobox(value=self.query, options=options, ensure_option=False,
                                         description="image", placeholder="type an image name")
        self.method_box = widgets.Dropdown(options=list(METHODS), value=method_name(method),
                                           description="method")
        self.k_slider = widgets.IntSlider(value=top_k, min=1, max=12, description="top k")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload query")
        self.status = widgets.HTML()
        self.results = widgets.HTML()
        for w in (self.name_box, self.method_box, self.k_slider):
            w.observe(self._on_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.name_box, self.upload]),
                                    widgets.HBox([self.method_box, self.k_slider]),
                                    self.status, self.results])
        self.update()

    def _on_change(self, change: dict) -> None:
        if change["owner"] is self.name_box:
            self.query = change["new"]
            self.upload_image = None
        self.update()

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = str(item.get("name", "upload"))
        try:
            img = decode_image(bytes(item["content"]), name)
            if img is None:
                raise ValueError(f"{name} is not a decodable image")
            self.upload_image = to_bgr8(img)
        except ValueError as exc:  # too large, not an image, or an unsupported pixel type
            self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
            return
        self.update()

    def update(self) -> list[tuple[str, float]]:
        """Run the search for the current controls and redraw; returns the results."""
        method, k = self.method_box.value, self.k_slider.value
        try:
            if self.upload_image is not None:
                pairs = self.index.search(self.upload_image, top_k=k, method=method)
                query_img = self.upload_image
                what = "uploaded image"
            else:
                pairs = self.index.search(self.query, top_k=k, method=method)
                query_img = self._load(self.query)
                what = html.escape(self.query)
        except ValueError as exc:
            self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
            self.results.value = ""
            return []
        order = "lower is closer" if method not in SIMILARITIES else "higher is closer"
        self.status.value = f"top {k} for <b>{what}</b> by <code>{method}</code> ({order})"
        self.results.value = results_html(pairs, self._load, query_img, self._labels)
        self.last_results = pairs
        return pairs

    def __repr__(self) -> str:
        query = "uploaded image" if self.upload_image is not None else repr(self.query)
        return (f"SearchPicker({len(self.index)} images, {self.index.bins} bins; query {query}, "
                f"method {self.method_box.value}, top {self.k_slider.value})")

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data = dict(data or {})
        data["text/plain"] = repr(self)  # widget reprs embed image bytes; keep the text short
        return data


def search_picker(index: HistogramIndex, images: Any = None, query: str | None = None,
                  method: str = "chisqr", top_k: int = 5) -> SearchPicker:
    """The interactive query picker for notebook 02 (see :class:`SearchPicker`)."""
    return SearchPicker(index, images=images, query=query, method=method, top_k=top_k)
