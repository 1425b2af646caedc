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
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .atomic import atomic_path

#: FER2013 class names, indexed by the ``emotion`` column.
EMOTIONS = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
#: The course's emoji for each class id (0 🤬, 1 🤢, 2 😱, 3 😄, 4 😢, 5 😲, 6 😐).
EMOJI = ["🤬", "🤢", "😱", "😄", "😢", "😲", "😐"]
#: Valid values of the ``Usage`` column, in FER2013's order.
USAGES = ["Training", "PublicTest", "PrivateTest"]
SIZE = 48
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


def load_fer2013_csv(path: os.PathLike | str) -> FerData:
    """Read a FER2013-format CSV (``emotion,pixels,Usage``), e.g. ``fer2013.csv``.

    The ``Usage`` column may be missing (every face is then ``Training``);
    extra columns are ignored; header names may carry spaces (as in Kaggle's
    ``icml_face_data.csv``). Any malformed row raises ``ValueError`` naming the
    row and the problem: wrong pixel count, a pixel that is not an integer in
    0-255, an unknown class id, an unknown usage.
    Returns :class:`FerData`: images (N, 48, 48) uint8, labels (N,) int64, usage (N,) str.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path.name}: no such file. Download fer2013.csv (Kaggle, "
                         "'Challenges in Representation Learning: Facial Expression Recognition') "
                         "and pass its path, or record faces in the web app.")
    images, labels, usage = [], [], []
    n_pix = SIZE * SIZE
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path.name} is empty; expected a header 'emotion,pixels,Usage'")
        cols = {name.strip().lower(): i for i, name in enumerate(header)}
        if "emotion" not in cols or "pixels" not in cols:
            raise ValueError(f"{path.name}: header {header!r} lacks 'emotion' and 'pixels' columns; "
                             "expected the FER2013 format 'emotion,pixels,Usage'")
        i_emo, i_pix, i_use = cols["emotion"], cols["pixels"], cols.get("usage")
        width = max(i_emo, i_pix, -1 if i_use is None else i_use) + 1
        for row_no, row in enumerate(reader, start=1):
            where = f"{path.name} row {row_no} (line {reader.line_num})"
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a trailing blank line is not a face
            if len(row) < width:
                raise ValueError(f"{where}: {len(row)} columns, expected {width} ({', '.join(header)})")
            emo = row[i_emo].strip()
            if emo not in {str(k) for k in range(len(EMOTIONS))}:
                raise ValueError(f"{where}: emotion {emo!r} is not a class id 0-6 "
                                 f"({', '.join(f'{k} {n}' for k, n in enumerate(EMOTIONS))})")
            try:
                pix = np.array(row[i_pix].split(), dtype=np.int64)
            except ValueError:
                bad = next(t for t in row[i_pix].split() if not t.lstrip("-").isdigit())
                raise ValueError(f"{where}: pixel value {bad!r} is not an integer") from None
            if pix.size != n_pix:
                raise ValueError(f"{where}: pixels has {pix.size} values, expected {n_pix} (48x48)")
            if pix.min() < 0 or pix.max() > 255:
                bad = int(pix[(pix < 0) | (pix > 255)][0])
                raise ValueError(f"{where}: pixel value {bad} is outside 0-255")
            use = row[i_use].strip() if i_use is not None else "Training"
            if use not in USAGES:
                raise ValueError(f"{where}: Usage {use!r} is not one of {', '.join(USAGES)}")
            images.append(pix.astype(np.uint8).reshape(SIZE, SIZE))
            labels.append(int(emo))
            usage.append(use)
    if not images:
        raise ValueError(f"{path.name} has a header but no faces")
    return FerData(np.stack(images), np.array(labels, np.int64), np.array(usage))


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
    if len(labels) and (labels.min() < 0 or labels.max() >= len(EMOTIONS)):
        raise ValueError("labels must be class ids 0-6")
    usage = np.broadcast_to(np.asarray(usage), labels.shape)
    unknown = sorted(set(usage.tolist()) - set(USAGES))
    if unknown:
        raise ValueError(f"usage {unknown[0]!r} is not one of {', '.join(USAGES)}")
    path = Path(path)
    with atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["emotion", "pixels", "Usage"])
            for img, lab, use in zip(images, labels, usage):
                w.writerow([int(lab), " ".join(map(str, img.ravel().tolist())), use])
    return path


def load_image_folder(root: os.PathLike | str, resize: bool = False) -> FerData:
    """Read the FER2013 image-folder layout: ``root/train/<class>/*.png`` and ``root/test/<class>/*.png``.

    Class folders are matched to :data:`EMOTIONS` ignoring case (``angry``,
    ``Disgust``, ...). ``train/`` faces get usage ``Training``; ``test/`` plays the
    role of ``PrivateTest`` (the validation split is then carved out of train).
    Images that are not 48x48 raise ``ValueError`` unless ``resize=True``
    (area interpolation, as for any downscaled face crop); colour images are
    converted to gray (OpenCV, BT.601 weights).
    Returns :class:`FerData` sorted by split, class and file name.
    """
    import cv2

    root = Path(root)
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
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            key = class_dir.name.lower()
            if key not in by_name:
                raise ValueError(f"{split_dir.name}/{class_dir.name}: unknown class folder; "
                                 f"expected one of {', '.join(n.lower() for n in EMOTIONS)}")
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() not in _IMAGE_SUFFIXES:
                    continue
                where = f"{split_dir.name}/{class_dir.name}/{file.name}"
                img = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
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
    path = Path(path)
    return load_image_folder(path) if path.is_dir() else load_fer2013_csv(path)


def class_counts(labels: np.ndarray, usage: np.ndarray | None = None) -> dict[str, dict[str, int]]:
    """Faces per class, per usage: ``{"Training": {"Angry": 3995, ...}, ..., "total": {...}}``."""
    labels = np.asarray(labels)
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
