"""Real photos that ship inside installed packages: the course's offline data.

scikit-image's ``skimage/data`` and scikit-learn's sample images are real
photographs, so notebooks and tests can use them with no download.
"""

from __future__ import annotations

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


def camera_frame(name: str, width: int = 640, height: int = 480) -> np.ndarray:
    """A real photo as a webcam would deliver it: centre-cropped and resized to ``width x height``.

    Used to feed Chromium's fake camera in browser tests and to compare the
    page's results with Keras on the same frame. Returns (height, width, 3) uint8 RGB.
    """
    import cv2

    img = load_photo(name)
    h, w = img.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    y0 = (resized.shape[0] - height) // 2
    x0 = (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])
