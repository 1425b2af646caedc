"""Figures of maps: :func:`plot_maps` (one row per image, one column per method) and
:func:`plot_images` (any grid of pictures: ``aiffel_lib.display.image_grid``)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from aiffel_lib.display import image_grid
from aiffel_lib.saliency.images import normalize, overlay

#: Methods whose maps are drawn over the photo (coarse maps); the others are shown as gray maps.
OVERLAID = ("Grad-CAM", "Grad-CAM++", "occlusion")

#: A grid of images with optional titles (the package's one grid): see :func:`aiffel_lib.display.image_grid`.
plot_images = image_grid


def _gray(heat: np.ndarray) -> np.ndarray:
    """A map in [0, 1] as a (H, W, 3) uint8 gray picture (0 black, 1 white)."""
    level = np.round(normalize(heat) * 255.0).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=2)


def plot_maps(images: np.ndarray, maps: dict[str, np.ndarray], titles: list[str] | None = None,
              size: float = 1.6, overlaid: Iterable[str] = OVERLAID):
    """One row per image: the image, then each method's map (:func:`normalize`-d).

    images: (N, H, W, 3) or (N, H, W) uint8 for display; maps: name -> (N, H, W).
    Coarse maps (``overlaid``) are blended over the image, pixel maps shown in gray.
    Returns the matplotlib Figure.
    """
    images = np.asarray(images)
    overlaid = set(overlaid)
    cells, captions = [], []
    for r, img in enumerate(images):
        cells.append(img)
        captions.append(titles[r] if titles is not None else "")
        for name, m in maps.items():
            cells.append(overlay(img, m[r]) if name in overlaid else _gray(m[r]))
            captions.append(name if r == 0 else "")
    return image_grid(cells, captions, cols=len(maps) + 1, size=size, cmap="gray")
