"""Image files, read safely: their size from the header, decoding only what fits in memory.

Shared by every reader of image files in the course (``histsearch``, ``imagenet``, ``fer``,
``realfaces``, ``transfer``): :func:`decode_image` refuses, before decoding, any file whose header
announces more than :data:`MAX_IMAGE_PIXELS` (:class:`ImageTooLargeError`); :func:`image_size` reads
that header; :func:`read_image` reads a file the course relies on, saying what to do when it is not there.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np

__all__ = ["MAX_IMAGE_PIXELS", "ImageTooLargeError", "image_size", "check_image_size", "decode_image", "read_image"]

#: Largest image, in pixels (width x height), the readers here decode: 2**26 = 67 M, room for
#: a 50-megapixel photo. A PNG of 20000 x 20000 zeros is 431 KB on disk but 1.2 GB once decoded
#: as BGR: its size is read from the header first and the file refused. Raise it (here, in
#: ``aiffel_lib.imagefiles``) for bigger images.
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
                             "the course decodes (aiffel_lib.imagefiles.MAX_IMAGE_PIXELS): shrink it first")


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


def read_image(path: os.PathLike | str, color: str = "rgb", fix: str = "") -> np.ndarray:
    """One image file that must be there: (H, W, 3) uint8 RGB, or (H, W) uint8 for ``color="gray"``.

    For files the course itself relies on (package photos): a missing or undecodable file raises
    ValueError naming the file, followed by ``fix`` (what to do about it) when given.
    """
    if color not in ("rgb", "gray"):
        raise ValueError(f"color must be 'rgb' or 'gray', got {color!r}")
    path = Path(path)
    tail = f": {fix}" if fix else ""
    if not path.is_file():
        raise ValueError(f"image {path.name} is missing ({path.parent}){tail}")
    flags = cv2.IMREAD_GRAYSCALE if color == "gray" else cv2.IMREAD_COLOR
    image = decode_image(path.read_bytes(), path.name, flags)
    if image is None:
        raise ValueError(f"{path.name} is not a readable image{tail}")
    return image if color == "gray" else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
