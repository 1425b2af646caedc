"""Real photos that ship inside installed packages: the course's offline data.

scikit-image's ``skimage/data`` and scikit-learn's sample images are real
photographs, so notebooks and tests can use them with no download.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: scikit-image photos (RGB or gray) and what they show.
SKIMAGE_PHOTOS = {
    "astronaut": "astronaut Eileen Collins, smiling (a face)",
    "chelsea": "Chelsea the tabby cat",
    "coffee": "a cup of espresso on a saucer",
    "rocket": "a rocket on the launch pad",
    "horse": "silhouette of a horse (binary)",
    "hubble_deep_field": "Hubble deep field galaxies",
    "immunohistochemistry": "stained tissue under a microscope",
    "retina": "a human retina (fundus photograph)",
    "coins": "Greek coins (gray)",
    "camera": "a cameraman (gray)",
    "brick": "a brick wall texture (gray)",
    "grass": "grass texture (gray)",
    "gravel": "gravel texture (gray)",
    "page": "a scanned page of text (gray)",
    "moon": "the surface of the moon (gray)",
}
SKLEARN_PHOTOS = {"china": "a Chinese temple (china.jpg)", "flower": "a flower (flower.jpg)"}


def list_photos() -> dict[str, str]:
    """Names of all available real photos mapped to a one-line description."""
    return {**SKIMAGE_PHOTOS, **SKLEARN_PHOTOS}


def load_photo(name: str, color: str = "rgb") -> np.ndarray:
    """Load a real photo shipped with scikit-image / scikit-learn.

    name: a key of :func:`list_photos` (e.g. ``"chelsea"``).
    color: ``"rgb"`` or ``"bgr"`` (OpenCV's order). Gray and binary photos are
        expanded to 3 channels; RGBA drops alpha.
    Returns (H, W, 3) uint8.
    """
    if name in SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        img = load_sample_image(f"{name}.jpg")
    elif name in SKIMAGE_PHOTOS:
        from skimage import data

        img = getattr(data, name)()
    else:
        known = ", ".join(sorted(list_photos()))
        raise ValueError(f"unknown photo {name!r}; choose one of: {known}")
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    if color == "bgr":
        img = img[..., ::-1]
    elif color != "rgb":
        raise ValueError(f"color must be 'rgb' or 'bgr', got {color!r}")
    return np.ascontiguousarray(img)


class FrameFit(NamedTuple):
    """How :func:`fit_frame` placed a photo in a frame: frame = photo scaled by ``scale``, shifted by (-x0, -y0)."""

    scale: float
    x0: int
    y0: int

    def box(self, box) -> tuple[float, float, float, float]:
        """A box (x, y, w, h) in photo pixels -> the same box in frame pixels."""
        x, y, w, h = (float(v) for v in box)
        return (x * self.scale - self.x0, y * self.scale - self.y0, w * self.scale, h * self.scale)


def fit_frame(image: np.ndarray, width: int = 640, height: int = 480) -> tuple[np.ndarray, FrameFit]:
    """Any photo as a webcam would deliver it: scaled to cover ``width x height`` (area averaging), centre-cropped.

    image: (H, W, 3) uint8 RGB. Returns the (height, width, 3) uint8 frame and the :class:`FrameFit` that maps
    photo coordinates (face boxes) into it.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB photo, got {img.shape} {img.dtype}")
    h, w = img.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    y0 = (resized.shape[0] - height) // 2
    x0 = (resized.shape[1] - width) // 2
    frame = np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])
    return frame, FrameFit(scale, x0, y0)


def camera_frame(name: str, width: int = 640, height: int = 480) -> np.ndarray:
    """A real photo as a webcam would deliver it: centre-cropped and resized to ``width x height``.

    Used to feed Chromium's fake camera in browser tests and to compare the
    page's results with Keras on the same frame. Returns (height, width, 3) uint8 RGB.
    """
    return fit_frame(load_photo(name), width, height)[0]


def box_iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def count_box_matches(boxes, truth, min_iou: float = 0.3) -> tuple[int, int]:
    """(true boxes found, false boxes) for detector ``boxes`` against ``truth``, both lists of (x, y, w, h).

    Boxes are taken in the order given (pass them best score first); each true box is matched at most
    once, by the first box that overlaps it with IoU >= ``min_iou``; every other box is a false one.
    """
    found, false = set(), 0
    for box in boxes:
        scores = [box_iou(box, t) if j not in found else 0.0 for j, t in enumerate(truth)]
        if scores and max(scores) >= min_iou:
            found.add(int(np.argmax(scores)))
        else:
            false += 1
    return len(found), false


def detection_photos() -> dict[str, tuple[np.ndarray, list]]:
    """The photos face detection is judged on: name -> ((H, W, 3) uint8 RGB photo, true face boxes (x, y, w, h)).

    face-api's six demo photos ``sample1``-``sample6`` (22 faces; the boxes of face-api's SSD detector stored
    with the real-face data, :mod:`aiffel_lib.realfaces`) and two photos without a face, ``chelsea`` (a cat)
    and ``coffee``.
    """
    from .realfaces import load_real_faces

    faces = load_real_faces()
    out = {}
    for i in range(1, 7):
        name = f"sample{i}"
        out[name] = (faces.photos[name], [f["box"] for f in faces.faces if f["photo"] == name])
    out.update({name: (load_photo(name), []) for name in ("chelsea", "coffee")})
    return out
