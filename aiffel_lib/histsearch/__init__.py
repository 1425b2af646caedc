"""Colour-histogram image search (notebook 02): the course's program, made exact, fast and measured.

The course describes an image by its colour histogram -- per channel
``cv2.calcHist`` with 4 bins over [0, 256], the three channels concatenated,
L2-normalised with ``cv2.normalize`` -- and ranks a folder of CIFAR-100 images
by ``cv2.compareHist`` against a query, one image at a time in a Python loop.

One file per concern:

- ``images.py``      image files and arrays -> BGR uint8 (:func:`read_image`, :func:`to_bgr8`);
  oversized files are refused from their header by :mod:`aiffel_lib.imagefiles` (whose
  ``decode_image``, ``image_size``, ``MAX_IMAGE_PIXELS`` are re-exported here);
- ``histograms.py``  :func:`color_histogram` (the course's ``get_histogram`` for any ``bins``)
  and :func:`color_histograms` (many images at once, identical values);
- ``compare.py``     the six ``cv2.compareHist`` methods in one table (:data:`COMPARISONS`:
  constant, direction, formula), scores equal to OpenCV's;
- ``index.py``       :class:`HistogramIndex`: ``build`` / ``search`` / ``save`` / ``load``, all
  histograms in one array, ties broken by name; ``storage.py`` its ``.npz`` file (no pickles);
- ``evaluation.py``  :func:`precision_at_k`, :func:`precision_table`: retrieval quality by label;
- ``course.py``      the course's own program flow with its names (:func:`get_histogram`,
  :func:`build_histogram_db`, :func:`get_target_histogram`, :func:`search`): the dict +
  ``compareHist`` loop, the reference the index must match;
- ``figures.py``, ``widgets.py``  :func:`show_result`, :func:`show_samples`,
  :func:`draw_color_histogram`; the interactive :func:`search_picker`.
"""

from __future__ import annotations

from aiffel_lib.histsearch.compare import (ALIASES, COMPARE_METHODS, COMPARISONS, SIMILARITIES,
                                           TIE_DECIMALS, Comparison, method_name)
from aiffel_lib.histsearch.course import build_histogram_db, get_histogram, get_target_histogram, search
from aiffel_lib.histsearch.evaluation import (Precision, evaluation_queries, format_label_table,
                                              format_precision_table, precision_at_k, precision_table)
from aiffel_lib.histsearch.figures import draw_color_histogram, image_loader, show_result, show_samples
from aiffel_lib.histsearch.histograms import color_histogram, color_histograms
from aiffel_lib.histsearch.images import SkippedFilesWarning, read_image, to_bgr8
from aiffel_lib.imagefiles import MAX_IMAGE_PIXELS, ImageTooLargeError, check_image_size, decode_image, image_size
from aiffel_lib.histsearch.index import HistogramIndex
from aiffel_lib.histsearch.storage import FILE_FORMAT, FILE_VERSION
from aiffel_lib.histsearch.widgets import SearchPicker, results_html, search_picker

__all__ = [
    # images
    "to_bgr8", "read_image", "decode_image", "image_size", "check_image_size", "MAX_IMAGE_PIXELS",
    "ImageTooLargeError", "SkippedFilesWarning",
    # histograms
    "color_histogram", "color_histograms",
    # comparison
    "COMPARISONS", "Comparison", "COMPARE_METHODS", "ALIASES", "SIMILARITIES", "TIE_DECIMALS",
    "method_name",
    # the index
    "HistogramIndex", "FILE_FORMAT", "FILE_VERSION",
    # evaluation
    "Precision", "evaluation_queries", "precision_at_k", "precision_table", "format_precision_table",
    "format_label_table",
    # the course's program
    "get_histogram", "build_histogram_db", "get_target_histogram", "search",
    # display and widgets
    "image_loader", "show_result", "show_samples", "draw_color_histogram", "results_html", "SearchPicker",
    "search_picker",
]
