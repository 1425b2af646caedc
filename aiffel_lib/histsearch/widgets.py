"""The interactive query picker (ipywidgets): pick or upload an image, see its top k."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any, Callable

import cv2
import numpy as np

from aiffel_lib.display import WidgetView
from aiffel_lib.histsearch.compare import COMPARE_METHODS, SIMILARITIES, method_name
from aiffel_lib.histsearch.figures import image_loader
from aiffel_lib.histsearch.images import to_bgr8
from aiffel_lib.imagefiles import decode_image
from aiffel_lib.histsearch.index import HistogramIndex


def _png_data_uri(img_bgr: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", img_bgr)
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def results_html(pairs: list[tuple[str, float]], load: Callable[[str], np.ndarray],
                 query_img: np.ndarray | None = None, labels: Mapping[str, str] | None = None,
                 px: int = 96) -> str:
    """An HTML row of thumbnails (pixelated upscale) with name, score and label."""
    cells = []
    style = f"width:{px}px;height:{px}px;image-rendering:pixelated;object-fit:contain"
    if query_img is not None:
        cells.append(f'<figure style="margin:4px;border-right:2px solid #888;padding-right:6px">'
                     f'<img src="{_png_data_uri(to_bgr8(query_img))}" style="{style}"/>'
                     f'<figcaption style="font-size:11px">query</figcaption></figure>')
    for name, score in pairs:
        label = f"<br/>{html.escape(labels[name])}" if labels and name in labels else ""
        cells.append(f'<figure style="margin:4px"><img src="{_png_data_uri(load(name))}" style="{style}"/>'
                     f'<figcaption style="font-size:11px">{html.escape(name)}<br/>{score:.4f}{label}'
                     f'</figcaption></figure>')
    return '<div style="display:flex;flex-wrap:wrap">' + "".join(cells) + "</div>"


class SearchPicker(WidgetView):
    """Pick (or upload) a query image, see its top k: an ipywidgets panel over an index.

    ``picker.widget`` is the panel; displaying the picker shows it. The text form
    (what a plain-text viewer or nbval sees) is a short, deterministic summary.
    """

    def __init__(self, index: HistogramIndex, images: Any = None, query: str | None = None,
                 method: str = "chisqr", top_k: int = 5, max_options: int = 2000):
        import ipywidgets as widgets

        self.index = index
        self._load = image_loader(images if images is not None else index)
        self._labels = dict(zip(index.names, index.labels)) if index.labels is not None else None
        options = list(index.names[:: max(1, len(index) // max_options)])[:max_options]
        self.query = query if query is not None else index.names[0]
        self.upload_image: np.ndarray | None = None
        self.last_results: list[tuple[str, float]] = []
        self.name_box = widgets.Combobox(value=self.query, options=options, ensure_option=False,
                                         description="image", placeholder="type an image name")
        self.method_box = widgets.Dropdown(options=list(COMPARE_METHODS), value=method_name(method),
                                           description="method")
        self.k_slider = widgets.IntSlider(value=top_k, min=1, max=12, description="top k")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload query")
        self.status = widgets.HTML()
        self.results = widgets.HTML()
        for w in (self.name_box, self.method_box, self.k_slider):
            w.observe(self._on_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.name_box, self.upload]),
                                    widgets.HBox([self.method_box, self.k_slider]),
                                    self.status, self.results])
        self.update()

    def _on_change(self, change: dict) -> None:
        if change["owner"] is self.name_box:
            self.query = change["new"]
            self.upload_image = None
        self.update()

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = str(item.get("name", "upload"))
        try:
            img = decode_image(bytes(item["content"]), name)
            if img is None:
                raise ValueError(f"{name} is not a decodable image")
            self.upload_image = to_bgr8(img)
        except ValueError as exc:  # too large, not an image, or an unsupported pixel type
            self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
            return
        self.update()

    def update(self) -> list[tuple[str, float]]:
        """Run the search for the current controls and redraw; returns the results."""
        method, k = self.method_box.value, self.k_slider.value
        try:
            if self.upload_image is not None:
                pairs = self.index.search(self.upload_image, top_k=k, method=method)
                query_img = self.upload_image
                what = "uploaded image"
            else:
                pairs = self.index.search(self.query, top_k=k, method=method)
                query_img = self._load(self.query)
                what = html.escape(self.query)
        except ValueError as exc:
            self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
            self.results.value = ""
            return []
        order = "lower is closer" if method not in SIMILARITIES else "higher is closer"
        self.status.value = f"top {k} for <b>{what}</b> by <code>{method}</code> ({order})"
        self.results.value = results_html(pairs, self._load, query_img, self._labels)
        self.last_results = pairs
        return pairs

    def __repr__(self) -> str:
        query = "uploaded image" if self.upload_image is not None else repr(self.query)
        return (f"SearchPicker({len(self.index)} images, {self.index.bins} bins; query {query}, "
                f"method {self.method_box.value}, top {self.k_slider.value})")


def search_picker(index: HistogramIndex, images: Any = None, query: str | None = None,
                  method: str = "chisqr", top_k: int = 5) -> SearchPicker:
    """The interactive query picker for notebook 02 (see :class:`SearchPicker`)."""
    return SearchPicker(index, images=images, query=query, method=method, top_k=top_k)
