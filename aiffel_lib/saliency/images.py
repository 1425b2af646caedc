"""Image helpers around the maps: scaling, colouring, and the test pictures with known answers.

- :func:`normalize`, :func:`deprocess`, :func:`overlay`: a map or a model-space image
  made ready to show;
- :func:`letterbox`, :func:`box_mask`, :data:`CHELSEA_CAT_BOX`, :func:`collage`: photos
  arranged so that where the object is, is known (notebook 06's localisation checks).
"""

from __future__ import annotations

import numpy as np

#: Chelsea the cat in scikit-image's ``chelsea`` photo (451 x 300 px), as (x0, y0, x1, y1)
#: photo pixels, checked by eye on a 50-px grid: the fur reaches the top and bottom edges
#: between x = 30 and x = 355; left of x = 30 at the top and right of x = 355 is the blurred
#: room behind her (her right ear tip, x 330-400 at the very top, is left out of the box).
CHELSEA_CAT_BOX = (30, 0, 355, 300)


def normalize(maps: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale each map to [0, 1] by its ``percentile`` (gradient maps have a few huge pixels).

    maps: (N, H, W) or (H, W). Returns float32 of the same shape.
    """
    m = np.asarray(maps, np.float32)
    one = m.ndim == 2
    m = m[None] if one else m
    top = np.percentile(m.reshape(len(m), -1), percentile, axis=1)
    top = np.where(top > 0, top, m.reshape(len(m), -1).max(axis=1))
    out = np.clip(m / np.where(top > 0, top, 1.0)[:, None, None], 0.0, 1.0)
    return out[0] if one else out


def deprocess(x: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Model-space image(s) back to uint8 RGB for display: linear map of ``value_range`` to 0..255."""
    lo, hi = value_range
    y = (np.asarray(x, np.float32) - lo) / (hi - lo) * 255.0
    return np.clip(np.round(y), 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a heat map over an image. image: (H, W, 3) or (H, W) uint8; heat: (H, W) float
    (scaled by :func:`normalize`). Returns (H, W, 3) uint8."""
    import matplotlib

    img = np.asarray(image)
    if img.ndim == 2 or img.shape[-1] == 1:
        img = np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2)
    colours = matplotlib.colormaps[cmap](normalize(heat))[..., :3] * 255.0
    return np.clip((1 - alpha) * img + alpha * colours, 0, 255).astype(np.uint8)


def letterbox(image: np.ndarray, size: int = 224, fill: int = 127) -> tuple[np.ndarray, tuple[float, int, int]]:
    """Fit a whole photo into a ``size`` x ``size`` square (no crop), padding with ``fill``.

    Unlike the classifier's centre crop, the background stays in the picture, so a map
    can be wrong by pointing at it. image: (H, W, 3) uint8.
    Returns (square (size, size, 3) uint8, (scale, x0, y0)): photo (x, y) -> square
    (x * scale + x0, y * scale + y0).
    """
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    out = np.full((size, size, 3), fill, np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, (scale, x0, y0)


def box_mask(box: tuple[int, int, int, int], transform: tuple[float, int, int], size: int = 224) -> np.ndarray:
    """(size, size) bool mask of a photo box (x0, y0, x1, y1) after :func:`letterbox`."""
    scale, ox, oy = transform
    x0, y0, x1, y1 = box
    mask = np.zeros((size, size), bool)
    mask[int(round(y0 * scale + oy)):int(round(y1 * scale + oy)),
         int(round(x0 * scale + ox)):int(round(x1 * scale + ox))] = True
    return mask


def collage(images: list[np.ndarray], size: int = 224) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Four photos in a 2 x 2 grid (each centre-cropped to a square): one picture, four objects.

    images: four (H, W, 3) uint8 RGB photos. Returns (square (size, size, 3) uint8, boxes),
    boxes[i] = (x0, y0, x1, y1) of photo i in the square (top-left, top-right,
    bottom-left, bottom-right).
    """
    import cv2

    if len(images) != 4:
        raise ValueError(f"collage takes exactly 4 photos, got {len(images)}")
    t = size // 2
    out = np.zeros((size, size, 3), np.uint8)
    boxes = []
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        side = min(h, w)
        y, x = (h - side) // 2, (w - side) // 2
        tile = cv2.resize(img[y:y + side, x:x + side], (t, t), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, 2)
        out[r * t:(r + 1) * t, c * t:(c + 1) * t] = tile
        boxes.append((c * t, r * t, (c + 1) * t, (r + 1) * t))
    return out, boxes
