"""The one setup cell every course notebook starts with (handson-ml style).

What reproduces, and what does not (the committed outputs are written with this in mind):

- On one machine, with one thread count, a notebook gives the same numbers every run:
  every random generator is seeded and TensorFlow's ops are deterministic
  (``enable_op_determinism``).
- Another CPU (AVX2 vs AVX-512 kernels in oneDNN, OpenBLAS, OpenCV and NumPy) or another
  thread count adds up float32 sums in another order, so the last digits differ; chaotic
  procedures (gradient ascent, training) then end somewhere else. Fixing the thread count
  here would not remove the CPU's part and would slow every multi-core laptop, so it is
  left to TensorFlow.
- Hence the notebooks print what holds everywhere -- shapes, classes, counts, verdicts
  against a stated bound -- and keep exact floats in cells marked ``NBVAL_IGNORE_OUTPUT``
  that assert the same bound. ``make nbval-portable`` checks it (one thread, an older
  CPU's SIMD kernels, another Face2Emoji model).
"""

from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np


def setup(seed: int = 42, tensorflow: bool = False) -> dict[str, str]:
    """Print library versions, seed every RNG, set plotting defaults.

    seed: seeds Python's ``random``, NumPy and (with ``tensorflow=True``) TensorFlow,
        and makes TensorFlow ops deterministic, so a rerun on the same machine and thread
        count gives the same numbers (see the module docstring for other machines).
    tensorflow: import TensorFlow/Keras too (slow: ~4 s), for notebooks 03-06.
    Returns the versions printed, ``{"python": "3.11.7", ...}``.
    """
    import cv2
    import matplotlib
    import matplotlib.pyplot as plt

    random.seed(seed)
    np.random.seed(seed)
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "opencv": cv2.__version__, "matplotlib": matplotlib.__version__}
    if tensorflow:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # tensorflowjs imports TF Decision Forests, which prints an HTML banner into notebooks.
        os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
        import keras
        import tensorflow as tf

        tf.random.set_seed(seed)
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
        versions["tensorflow"] = tf.__version__
        versions["keras"] = keras.__version__
    plt.rcParams.update({"figure.figsize": (8, 4), "figure.dpi": 72, "axes.titlesize": 10,
                         "image.interpolation": "nearest", "savefig.bbox": "tight"})
    print(" | ".join(f"{k} {v}" for k, v in versions.items()) + f" | seed {seed}")
    if sys.version_info < (3, 10):
        print("warning: the course is tested on Python 3.11")
    return versions
