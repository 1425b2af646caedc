"""FER2013 as learners get it: the ``fer2013.csv`` file and the image-folder layout.

FER2013 (Goodfellow et al., ICML 2013 representation-learning challenge) holds
35,887 gray 48x48 faces in seven expression classes. It comes in two shapes:

* ``fer2013.csv`` with columns ``emotion,pixels,Usage``: ``emotion`` is the
  class id 0-6, ``pixels`` 2304 space-separated values 0-255 (row-major), and
  ``Usage`` one of ``Training`` (28,709 rows), ``PublicTest`` (3,589) and
  ``PrivateTest`` (3,589; the course evaluates on these).
* a folder ``train/<class>/*.png`` + ``test/<class>/*.png`` (the Kaggle image
  version), class folders named like :data:`EMOTIONS` in any case.

Faces recorded in the course's web app are downloaded as a CSV in the same
format, so they load with :func:`load_fer2013_csv` too.
:func:`write_synthetic_fer2013` writes a stand-in of the real file's exact format
and size (practice faces or noise), to test and time the full-size route offline.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import os
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple, TextIO

import numpy as np

from .atomic import atomic_path

#: FER2013 class names, indexed by the ``emotion`` column.
EMOTIONS = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
#: The course's emoji for each class id (0 🤬, 1 🤢, 2 😱, 3 😄, 4 😢, 5 😲, 6 😐).
EMOJI = ["🤬", "🤢", "😱", "😄", "😢", "😲", "😐"]
#: Valid values of the ``Usage`` column, in FER2013's order.
USAGES = ["Training", "PublicTest", "PrivateTest"]
SIZE = 48
#: Rows of the real ``fer2013.csv`` per usage and class (Angry ... Neutral): 28,709 + 3,589 + 3,589.
FER2013_COUNTS = {"Training": (3995, 436, 4097, 7215, 4830, 3171, 4965),
                  "PublicTest": (467, 56, 496, 895, 653, 415, 607),
                  "PrivateTest": (491, 55, 528, 879, 594, 416, 626)}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm"}


class FerData(NamedTuple):
    """Faces in FER2013's format; unpacks as ``images, labels, usage = ...``.

    images: (N, 48, 48) uint8 gray.
    labels: (N,) int64 class ids into :data:`EMOTIONS`.
    usage: (N,) str, one of :data:`USAGES` per face.
    """

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray


def _check_path(path, what: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a file path (str or pathlib.Path), got {type(path).__name__}")
    return Path(path)


class _TextSource(NamedTuple):
    """How to read a CSV's text: gzip-compressed or not, and its character encoding."""

    path: Path
    compressed: bool
    encoding: str

    def binary(self) -> BinaryIO:
        return gzip.open(self.path, "rb") if self.compressed else open(self.path, "rb")

    def text(self) -> io.TextIOWrapper:
        return io.TextIOWrapper(self.binary(), encoding=self.encoding, newline="")


def _sniff_text(path: Path) -> _TextSource:
    """Find out how to read ``path`` from its first bytes; ValueError naming the file otherwise.

    gzip is recognised by its magic bytes, UTF-8 (with or without BOM) and UTF-16
    (BOM, or the NUL bytes every ASCII character carries) by the start of the text.
    """
    name = path.name
    with open(path, "rb") as f:
        head = f.read(512)
    compressed = head[:2] == b"\x1f\x8b"
    if compressed:
        try:
            with gzip.open(path, "rb") as g:
                head = g.read(512)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{name} is a damaged gzip file ({exc}): download it again "
                             "or pass the uncompressed CSV") from None
    if head[:4] == b"PK\x03\x04":
        raise ValueError(f"{name} is a zip archive, not a CSV: extract fer2013.csv from it and pass that file")
    if head[257:262] == b"ustar":
        raise ValueError(f"{name} is a tar archive, not a CSV: extract it (tar xf {name}) "
                         "and pass the fer2013.csv inside")
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif len(head) >= 4 and b"\x00" not in head[0::2] and not head[1::2].strip(b"\x00"):
        encoding = "utf-16-le"  # ASCII text saved as UTF-16 without a BOM: every odd byte is NUL
    elif len(head) >= 4 and b"\x00" not in head[1::2] and not head[0::2].strip(b"\x00"):
        encoding = "utf-16-be"
    elif b"\x00" in head:
        raise ValueError(f"{name} is not a text file (it holds binary data): pass the FER2013 CSV itself")
    else:
        encoding = "utf-8"
    return _TextSource(path, compressed, encoding)


def _count_lines(source: _TextSource) -> int:
    """Lines in the file (an upper bound on its rows), decoding it all once.

    Decoding here means a file that is not valid text fails before any parsing,
    with the line of the first bad byte.
    """
    name = source.path.name
    decoder = codecs.getincrementaldecoder(source.encoding)()
    newlines = returns = 0
    try:
        with source.binary() as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    line = newlines + chunk[:max(exc.start, 0)].count(b"\n") + 1
                    bad = exc.object[exc.start:exc.start + 1].hex()
                    raise ValueError(
                        f"{name} is not {source.encoding.upper().replace('-SIG', '')} text: line {line} holds "
                        f"byte 0x{bad} (saved as Latin-1 / Windows-1252?). FER2013 holds only digits and "
                        "ASCII words: save the file as UTF-8 (Excel: 'CSV UTF-8') and load it again") from None
                newlines += text.count("\n")
                returns += text.count("\r")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ValueError(f"{name} ends in the middle of a character: the file is truncated; "
                         "download or save it again") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{name} is a damaged gzip file ({exc or type(exc).__name__}): download it again "
                         "or pass the uncompressed CSV") from None
    # "\n", "\r\n" and old Mac "\r" line ends; a last line without one counts too.
    return max(newlines, returns) + 1


def _preview(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _parse_pixels(text: str, where: str, out: np.ndarray) -> None:
    """Parse ``SIZE*SIZE`` space-separated integers 0-255 into the uint8 row ``out``.

    NumPy parses the common case in C; anything odd is re-read the slow way to
    name the first bad value (the same messages as before the fast path).
    """
    try:
        pix = np.fromstring(text, dtype=np.int64, sep=" ")
    except (DeprecationWarning, ValueError):  # a token that is not an integer (see load_fer2013_csv)
        pix = None
    if pix is None or pix.size != out.size:
        try:
            pix = np.array(text.split(), dtype=np.int64)
        except ValueError:
            bad = next(t for t in text.split() if not _is_int(t))
            raise ValueError(f"{where}: pixel value {bad!r} is not an integer") from None
        if pix.size != out.size:
            raise ValueError(f"{where}: pixels has {pix.size} values, expected {out.size} (48x48)")
    if pix.min() < 0 or pix.max() > 255:
        bad = int(pix[(pix < 0) | (pix > 255)][0])
        raise ValueError(f"{where}: pixel value {bad} is outside 0-255")
    out[:] = pix


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True


def load_fer2013_csv(path: os.PathLike | str) -> FerData:
    """Read a FER2013-format CSV (``emotion,pixels,Usage``), e.g. ``fer2013.csv``.

    The ``Usage`` column may be missing (every face is then ``Training``);
    extra columns are ignored; header names may carry spaces (as in Kaggle's
    ``icml_face_data.csv``). Any malformed row raises ``ValueError`` naming the
    row and the problem: wrong pixel count, a pixel that is not an integer in
    0-255, an unknown class id, an unknown usage.
    Reads UTF-8 (with or without BOM), UTF-16 and gzip-compressed files
    (``fer2013.csv.gz``); anything else gets a ValueError naming the file.
    Streams the rows into one preallocated array: the full 35,887-row file takes
    a few seconds and little more memory than the result (~83 MB).
    Returns :class:`FerData`: images (N, 48, 48) uint8, labels (N,) int64, usage (N,) str.
    """
    path = _check_path(path)
    if path.is_dir():
        raise ValueError(f"{path.name} is a folder, not a CSV file: for the train/<class>/*.png layout "
                         "use fer.load_image_folder (or fer.load_fer2013, which takes either)")
    if not path.is_file():
        raise ValueError(f"{path.name}: no such file. Download fer2013.csv (Kaggle, "
                         "'Challenges in Representation Learning: Facial Expression Recognition') "
                         "and pass its path, or record faces in the web app.")
    source = _sniff_text(path)
    capacity = _count_lines(source)
    emotion_ids = {str(k): k for k in range(len(EMOTIONS))}
    usage_ids = {u: k for k, u in enumerate(USAGES)}
    with source.text() as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ValueError(f"{path.name} line 1 is not CSV: {exc}") from None
        if header is None:
            raise ValueError(f"{path.name} is empty; expected a header 'emotion,pixels,Usage'")
        cols = {name.strip().lower(): i for i, name in enumerate(header)}
        if "emotion" not in cols or "pixels" not in cols:
            first = ",".join(header)
            if header and (header[0].strip().isdigit() or any(len(c.split()) > 100 for c in header)):
                raise ValueError(f"{path.name}: no header row: the first line must be emotion,pixels,Usage "
                                 f"(add it; line 1 holds data: {_preview(first)})")
            raise ValueError(f"{path.name}: header {_preview(first, 80)} lacks 'emotion' and 'pixels' columns; "
                             "expected the FER2013 format 'emotion,pixels,Usage'")
        i_emo, i_pix, i_use = cols["emotion"], cols["pixels"], cols.get("usage")
        width = max(i_emo, i_pix, -1 if i_use is None else i_use) + 1
        images = np.empty((capacity, SIZE, SIZE), np.uint8)
        labels = np.empty(capacity, np.int64)
        usage = np.zeros(capacity, np.uint8)  # index into USAGES; 0 = Training when there is no column
        n = 0
        row_no = 0
        try:
            with warnings.catch_warnings():
                # np.fromstring only warns when it stops at a token that is not an integer.
                warnings.simplefilter("error", DeprecationWarning)
                for row_no, row in enumerate(reader, start=1):
                    where = f"{path.name} row {row_no} (line {reader.line_num})"
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # a trailing blank line is not a face
                    if len(row) < width:
                        raise ValueError(f"{where}: {len(row)} columns, expected {width} ({', '.join(header)})")
                    emo = row[i_emo].strip()
                    if emo not in emotion_ids:
                        raise ValueError(f"{where}: emotion {_preview(emo)} is not a class id 0-6 "
                                         f"({', '.join(f'{k} {name}' for k, name in enumerate(EMOTIONS))})")
                    if n == capacity:  # more rows than lines counted: cannot happen, but never overflow
                        capacity = 2 * capacity
                        images, labels, usage = (np.resize(a, (capacity, *a.shape[1:]))
                                                 for a in (images, labels, usage))
                    _parse_pixels(row[i_pix], where, images[n].reshape(-1))
                    if i_use is not None:
                        use = row[i_use].strip()
                        if use not in usage_ids:
                            raise ValueError(f"{where}: Usage {_preview(use)} is not one of {', '.join(USAGES)}")
                        usage[n] = usage_ids[use]
                    labels[n] = emotion_ids[emo]
                    n += 1
        except csv.Error as exc:
            raise ValueError(f"{path.name} row {row_no + 1} (line {reader.line_num}) is not valid CSV: {exc}") from None
    if n == 0:
        raise ValueError(f"{path.name} has a header but no faces")
    if n < capacity:  # give back the spare rows (the header, a blank last line) without a copy
        images.resize((n, SIZE, SIZE), refcheck=False)
        labels.resize(n, refcheck=False)
        usage.resize(n, refcheck=False)
    return FerData(images, labels, np.asarray(USAGES)[usage])


def _row_text(images: np.ndarray) -> list[str]:
    """Each (48, 48) uint8 image as FER2013's pixel string: ``"70 80 82 ..."``."""
    lut = _PIXEL_TEXT
    return [" ".join([lut[v] for v in img.ravel().tolist()]) for img in images]


_PIXEL_TEXT = [str(v) for v in range(256)]


def write_fer2013_csv(path: os.PathLike | str, images: np.ndarray, labels, usage="Training") -> Path:
    """Write faces as a FER2013-format CSV (``emotion,pixels,Usage``), atomically.

    images: (N, 48, 48) uint8 gray. labels: (N,) class ids 0-6.
    usage: one of :data:`USAGES` for all rows, or (N,) of them.
    This is also the format of the web app's "record" download. Returns the path.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE) or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, 48, 48) uint8, got {images.shape} {images.dtype}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must be ({len(images)},), got {labels.shape}")
    if len(labels) and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(EMOTIONS)):
        raise ValueError(f"labels must be class ids 0-6 (integers), got {labels.dtype} values "
                         f"{labels.min()}..{labels.max()}")
    usage = np.asarray(usage)
    if usage.shape not in ((), labels.shape):
        raise ValueError(f"usage must be one string or ({len(labels)},) strings, got shape {usage.shape}")
    usage = np.broadcast_to(usage, labels.shape)
    unknown = sorted(set(usage.tolist()) - set(USAGES))
    if unknown:
        raise ValueError(f"usage {unknown[0]!r} is not one of {', '.join(USAGES)}")
    path = _check_path(path)
    with atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            f.write("emotion,pixels,Usage\n")
            _write_rows(f, images, labels, usage)
    return path


def join_fer2013_csv(paths, out_path: os.PathLike | str) -> Path:
    """Several FER2013-format CSVs (e.g. web-app recordings made in separate sittings) as one, in order.

    paths: CSV paths (each read with :func:`load_fer2013_csv`); rows keep their order and Usage.
    Returns ``out_path``, written atomically.
    """
    parts = [load_fer2013_csv(p) for p in paths]
    if not parts:
        raise ValueError("join_fer2013_csv needs at least one CSV")
    return write_fer2013_csv(out_path, np.concatenate([d.images for d in parts]),
                             np.concatenate([d.labels for d in parts]),
                             np.concatenate([np.asarray(d.usage) for d in parts]))


def _write_rows(f: TextIO, images: np.ndarray, labels: np.ndarray, usage) -> None:
    for start in range(0, len(images), 1024):  # a block at a time: bounded memory for the text
        part = slice(start, start + 1024)
        f.writelines(f"{int(lab)},{pix},{use}\n"
                     for lab, pix, use in zip(labels[part], _row_text(images[part]), usage[part]))


def write_synthetic_fer2013(path: os.PathLike | str, faces: str = "synthetic", seed: int = 0,
                            counts: dict[str, tuple[int, ...]] | None = None) -> Path:
    """Write a stand-in for ``fer2013.csv`` in its exact format and size, atomically.

    Header ``emotion,pixels,Usage``; by default 35,887 rows, with FER2013's own
    class counts per usage (:data:`FER2013_COUNTS`: 28,709 Training, then 3,589
    PublicTest, then 3,589 PrivateTest, as the real file orders them), labels
    shuffled within each usage. For testing and timing the loader and notebook 04
    at full size; the faces are NOT real.

    faces: ``"synthetic"`` (``synthfaces.make_faces`` of the row's class, ~30 s for
        the full file) or ``"noise"`` (uniform random pixels, ~3 s).
    counts: rows per usage and class, {usage: 7 counts}, to write a smaller file.
    Generated and written a block at a time (memory stays ~50 MB). Returns the path.
    """
    if faces not in ("synthetic", "noise"):
        raise ValueError(f"faces must be 'synthetic' or 'noise', got {faces!r}")
    counts = FER2013_COUNTS if counts is None else counts
    for use, per_class in counts.items():
        if use not in USAGES or len(per_class) != len(EMOTIONS) or min(per_class) < 0:
            raise ValueError(f"counts must map usages ({', '.join(USAGES)}) to 7 non-negative counts, "
                             f"got {use!r}: {per_class!r}")
    path = _check_path(path)
    rng = np.random.default_rng(seed)
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write("emotion,pixels,Usage\n")
        for u, use in enumerate(USAGES):
            if use not in counts:
                continue
            order = rng.permutation(np.repeat(np.arange(len(EMOTIONS)), counts[use]))
            streams = {k: _face_stream(faces, k, (seed, u, k)) for k in range(len(EMOTIONS))}
            for start in range(0, len(order), 1024):
                lab = order[start:start + 1024]
                block = np.stack([next(streams[k]) for k in lab.tolist()])
                _write_rows(f, block, lab, [use] * len(lab))
    return path


def _face_stream(faces: str, label: int, key: tuple[int, ...]) -> Iterator[np.ndarray]:
    """Endless (48, 48) uint8 faces of one class, made 512 at a time."""
    from . import synthfaces

    for block in itertools.count():
        seq = np.random.SeedSequence([*key, block])
        if faces == "noise":
            yield from np.random.default_rng(seq).integers(0, 256, (512, SIZE, SIZE), dtype=np.uint8)
        else:
            weights = np.eye(len(EMOTIONS))[label]
            yield from synthfaces.make_faces(512, seed=int(seq.generate_state(1)[0]), class_freq=weights).images


def load_image_folder(root: os.PathLike | str, resize: bool = False) -> FerData:
    """Read the FER2013 image-folder layout: ``root/train/<class>/*.png`` and ``root/test/<class>/*.png``.

    Class folders are matched to :data:`EMOTIONS` ignoring case (``angry``,
    ``Disgust``, ...). ``train/`` faces get usage ``Training``; ``test/`` plays the
    role of ``PrivateTest`` (the validation split is then carved out of train).
    Images that are not 48x48 raise ``ValueError`` unless ``resize=True``
    (area interpolation, as for any downscaled face crop); colour images are
    converted to gray (OpenCV, BT.601 weights). Hidden folders and files (names
    starting with ".", e.g. the ``.ipynb_checkpoints/`` Jupyter creates) are ignored.
    An image whose header announces more than ``imagefiles.MAX_IMAGE_PIXELS``
    pixels raises ValueError before it is decoded.
    Returns :class:`FerData` sorted by split, class and file name.
    """
    import cv2

    from .imagefiles import decode_image

    root = _check_path(root, "root")
    if not root.is_dir():
        raise ValueError(f"{root.name}: no such folder; expected train/<class>/*.png and test/<class>/*.png")
    by_name = {name.lower(): k for k, name in enumerate(EMOTIONS)}
    images, labels, usage = [], [], []
    splits = {"train": "Training", "test": "PrivateTest"}
    found = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower() in splits]
    if not found:
        raise ValueError(f"{root.name} holds no train/ or test/ folder; expected "
                         "train/<class>/*.png and test/<class>/*.png")
    for split_dir in found:
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            key = class_dir.name.lower()
            if key not in by_name:
                raise ValueError(f"{split_dir.name}/{class_dir.name}: unknown class folder; "
                                 f"expected one of {', '.join(n.lower() for n in EMOTIONS)}")
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() not in _IMAGE_SUFFIXES or file.name.startswith(".") or not file.is_file():
                    continue
                where = f"{split_dir.name}/{class_dir.name}/{file.name}"
                # imdecode, not imread: non-ASCII paths work on Windows too; the size is checked first.
                img = decode_image(np.fromfile(file, dtype=np.uint8), where, cv2.IMREAD_GRAYSCALE)
                if img is None:
                    raise ValueError(f"{where}: not a readable image")
                if img.shape != (SIZE, SIZE):
                    if not resize:
                        raise ValueError(f"{where}: {img.shape[1]}x{img.shape[0]} pixels, expected 48x48 "
                                         "(pass resize=True to resize)")
                    img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
                images.append(img)
                labels.append(by_name[key])
                usage.append(splits[split_dir.name.lower()])
    if not images:
        raise ValueError(f"{root.name}: no images found under train/<class>/ or test/<class>/")
    return FerData(np.stack(images).astype(np.uint8), np.array(labels, np.int64), np.array(usage))


def load_fer2013(path: os.PathLike | str) -> FerData:
    """Load either layout: a ``.csv`` file or a folder with ``train/`` and ``test/``."""
    path = _check_path(path)
    return load_image_folder(path) if path.is_dir() else load_fer2013_csv(path)


def class_counts(labels: np.ndarray, usage: np.ndarray | None = None) -> dict[str, dict[str, int]]:
    """Faces per class, per usage: ``{"Training": {"Angry": 3995, ...}, ..., "total": {...}}``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(f"labels must be a 1-D array of class ids 0-6, got {labels.dtype} of shape {labels.shape}")
    groups: dict[str, np.ndarray] = {}
    if usage is not None:
        usage = np.asarray(usage)
        for u in USAGES:
            if (usage == u).any():
                groups[u] = labels[usage == u]
    groups["total"] = labels
    return {g: {name: int((lab == k).sum()) for k, name in enumerate(EMOTIONS)} for g, lab in groups.items()}


def format_class_counts(labels: np.ndarray, usage: np.ndarray | None = None) -> str:
    """A text table of :func:`class_counts` with each class' share of the total."""
    counts = class_counts(labels, usage)
    total = max(sum(counts["total"].values()), 1)
    cols = list(counts)
    lines = [f"{'class':<14}" + "".join(f"{c:>13}" for c in cols) + f"{'share':>8}"]
    for k, name in enumerate(EMOTIONS):
        lines.append(f"{k} {EMOJI[k]} {name:<9}" + "".join(f"{counts[c][name]:>13}" for c in cols)
                     + f"{100 * counts['total'][name] / total:>7.1f}%")
    lines.append(f"{'all':<14}" + "".join(f"{sum(counts[c].values()):>13}" for c in cols) + f"{100.0:>7.1f}%")
    return "\n".join(lines)
