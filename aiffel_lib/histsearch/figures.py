"""Figures for notebook 02: search results (:func:`show_result`), example images per label
(:func:`show_samples`) and an image with its histograms (:func:`draw_color_histogram`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from aiffel_lib.display import image_grid
from aiffel_lib.histsearch.images import read_image, to_bgr8
from aiffel_lib.histsearch.index import HistogramIndex


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
    return image_grid([img[..., ::-1] for _, img in panels],  # BGR -> RGB for matplotlib
                      [caption for caption, _ in panels], cols=len(panels), size=(size, size + 0.5),
                      fontsize=7, suptitle=title)


def show_samples(data: Any, per_label: int = 4, max_labels: int = 16, size: float = 0.75):
    """A grid of example images: one row per label (first ``per_label`` of each). Returns the figure.

    data: a ``datasets.ImageSet`` (BGR images with names and labels).
    """
    labels = list(dict.fromkeys(data.labels))[:max_labels]
    cells = []
    for label in labels:
        rows = [i for i, lab in enumerate(data.labels) if lab == label][:per_label]
        cells += [data.images[i][..., ::-1] for i in rows] + [None] * (per_label - len(rows))
    return image_grid(cells, cols=per_label, size=size, row_labels=labels)


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
