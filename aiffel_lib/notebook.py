"""The one setup cell every course notebook starts with (handson-ml style)."""

from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np


def setup(seed: int = 42, tensorflow: bool = False) -> dict[str, str]:
    """Print library versions, seed every RNG, set plotting defaults.

    seed: seeds Python's ``random``, NumPy and (with ``tensorflow=True``) TensorFlow,
        and makes TensorFlow ops deterministic so committed outputs reproduce.
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
