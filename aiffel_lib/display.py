"""How the course shows things in a notebook: one image grid, one widget display.

:func:`image_grid` draws every grid of pictures in the package (``masking.show_masking``,
``histsearch.show_result`` / ``show_samples``, ``saliency.plot_images`` / ``plot_maps``,
``synthfaces.plot_examples``, ``emotion.show_faces``); :class:`WidgetView` gives the
interactive panels (``masking.MaskPanel``, ``histsearch.SearchPicker``) their display:
the widget itself, and a one-line text form for plain-text viewers and nbval.

matplotlib is imported when a figure is drawn, not at import.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["image_grid", "WidgetView"]


def image_grid(images: Iterable[np.ndarray | None], titles: Iterable[str] | None = None, cols: int = 4,
               size: float | tuple[float, float] = 2.0, *, cmap: str | None = None,
               vmin: float | None = None, vmax: float | None = None, fontsize: float | None = 8,
               row_labels: Sequence[str] | None = None, label_width: float = 1.6,
               suptitle: str | None = None):
    """A grid of images filled row by row, each with an optional title. Returns the matplotlib Figure.

    images: arrays as matplotlib shows them: (H, W), (H, W, 1), (H, W, 3) RGB (flip OpenCV's
        BGR first: ``img[..., ::-1]``) uint8 or float in [0, 1]; ``None`` leaves a cell empty.
    titles: one per image (``""`` for none). cols: cells per row; as many rows as needed.
    size: a cell's width and height in inches (one number: square cells).
    cmap, vmin, vmax: how one-channel images are coloured (matplotlib's defaults when None);
        colour images ignore them.
    fontsize: of the titles (None: matplotlib's default).
    row_labels: one label per row, written left of it in an extra ``label_width`` inches.
    suptitle: a line above the grid.
    Every cell exists (``rows * cols`` axes, frames off), so a figure's size and axes count
    depend only on the number of images, ``cols`` and ``size``.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    titles = [""] * len(images) if titles is None else list(titles)
    if len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images: give one title per image (or none)")
    if int(cols) < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    rows = max(1, -(-len(images) // cols))
    width, height = (size, size) if np.isscalar(size) else size
    extra = label_width if row_labels is not None else 0.0
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + extra, height * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, title in zip(axes.ravel(), images, titles):
        if img is None:
            continue
        ax.imshow(np.squeeze(np.asarray(img)), cmap=cmap, vmin=vmin, vmax=vmax)
        if title:
            ax.set_title(title, fontsize=fontsize)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    if row_labels is None:
        fig.tight_layout()
        return fig
    if len(row_labels) != rows:
        raise ValueError(f"{len(row_labels)} row labels for {rows} rows")
    for ax, label in zip(axes[:, 0], row_labels):
        ax.text(-0.08, 0.5, label, transform=ax.transAxes, ha="right", va="center", fontsize=fontsize)
    fig.subplots_adjust(left=extra / (width * cols + extra), right=0.99, wspace=0.05, hspace=0.05)
    return fig


class WidgetView:
    """Mixin for an object that holds an ipywidgets panel in ``self.widget``.

    Jupyter shows the panel; the text form (what nbval and plain-text viewers see) is
    ``repr(self)``: a widget's own text form embeds image bytes and object ids, which
    would change on every run.
    """

    widget: Any

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle  # ipywidgets 7 returned (data, metadata)
        data = dict(data or {})
        data["text/plain"] = repr(self)
        return data
