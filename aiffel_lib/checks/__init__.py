"""Friendly automatic checks for the exercise notebooks.

Each ``check_*`` function runs a learner's answer on small known cases and judges the
OUTCOME (the same mask, the same ranking, the same crop within a pixel), not one way of
writing it: correct code that differs from the worked solution passes, with a note when a
difference is worth knowing. When the outcome is wrong it PRINTS the real mistake in plain
words (shape, dtype, value range, order, which example) and a hint; nothing a learner
writes makes it print a traceback. Each returns a :class:`Verdict`, truthy when it passed.

One module per notebook: ``nb01_masking`` ... ``nb06_saliency``; ``_core`` holds what they share.
"""

from aiffel_lib.checks._core import FAIL, PASS, Verdict
from aiffel_lib.checks.nb01_masking import check_blue_mask
from aiffel_lib.checks.nb02_histograms import (check_build_histogram_db, check_get_histogram, check_search,
                                               check_show_result)
from aiffel_lib.checks.nb03_preprocess import check_preprocess
from aiffel_lib.checks.nb04_training import check_emoji_head, check_fit
from aiffel_lib.checks.nb05_export import check_face2emoji_export
from aiffel_lib.checks.nb06_saliency import (check_class_visualization_update_step, check_fooling_step,
                                             check_vanilla_saliency)

__all__ = ["FAIL", "PASS", "Verdict", "check_blue_mask", "check_build_histogram_db",
           "check_class_visualization_update_step", "check_emoji_head",
           "check_face2emoji_export", "check_fit", "check_fooling_step", "check_get_histogram", "check_preprocess",
           "check_search", "check_show_result", "check_vanilla_saliency"]
