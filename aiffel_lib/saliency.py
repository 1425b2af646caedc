"""CS231n lecture 12, "Visualizing and Understanding", for any Keras 3 classifier.

Every method works on a batch exactly as the model takes it and explains the
*pre-softmax* class score (CS231n's choice: the softmax couples all classes, so
its gradient for one class mostly says "make the others smaller"):

- :func:`vanilla_saliency`  |d score / d x|, max over channels (Simonyan et al. 2014);
- :func:`smoothgrad`        the gradient averaged over noisy copies (Smilkov et al. 2017),
  all copies in batched passes;
- :func:`integrated_gradients` path integral from a baseline (Sundararajan et al. 2017);
- :func:`grad_cam`          gradient-weighted class activation map of the last conv layer
  (Selvaraju et al. 2017), optionally Grad-CAM++ (Chattopadhyay et al. 2018);
- :func:`occlusion`         drop in class probability under a sliding grey patch (Zeiler & Fergus 2014);
- :func:`class_visualization` gradient ascent from noise with L2, jitter and blur
  (CS231n assignment 3 defaults);
- :func:`fooling_image`     normalised gradient steps until the argmax is the target class;
- :func:`first_layer_filters`, :func:`penultimate_features`, :func:`nearest_neighbours`,
  :func:`embed_2d` for the "what do the layers see" part of the lecture;
- sanity checks: :func:`randomize_top_layers`, :func:`spearman`, :func:`edge_map`,
  :func:`pointing_game`, :func:`mass_in_mask` (Adebayo et al. 2018; Zhang et al. 2016).

Shapes: ``images`` is ``(N, H, W, C) float32`` in the model's input space (already
preprocessed); ``class_ids`` an int or ``(N,)`` ints; every map is ``(N, H, W) float32``
at input resolution, non-negative, in its method's own units (use :func:`normalize`
to scale each map to [0, 1] for display). ``batch_size`` (images per network call)
defaults to about a million input values: 6 images of 224x224x3, 64 faces of 48x48.

TensorFlow is imported lazily (importing this module is cheap and has no side effects).
"""

from __future__ import annotations

import weakref
from typing import Any, Iterable, NamedTuple

import numpy as np

__all__ = [
    "score_function", "input_gradients", "vanilla_saliency", "smoothgrad", "integrated_gradients", "grad_cam",
    "find_last_conv_layer", "occlusion", "class_visualization", "fooling_image", "FoolingResult",
    "first_layer_filters", "penultimate_features", "nearest_neighbours", "embed_2d",
    "randomize_top_layers", "spearman", "edge_map", "pointing_game", "mass_in_mask",
    "normalize", "overlay", "deprocess", "compute_maps", "randomization_check", "RandomizationCheck",
    "localisation_scores", "letterbox", "box_mask", "peak", "collage", "METHODS", "RANDOMIZATION_THRESHOLD",
    "CHELSEA_CAT_BOX", "weighted_layer_names", "plot_maps", "plot_images", "top1_under_views",
    "centre_prior", "localisation_passed", "LOCALISATION_CHANCE_FACTOR", "LOCALISATION_MIN_GAIN",
]


# --------------------------------------------------------------------------- scores

class _Scorer:
    """Pre-softmax class scores of a Keras model, plus compiled gradient functions.

    Keras classifiers usually end in softmax (a ``Dense(..., activation="softmax")``
    or a separate ``Activation``/``Softmax`` layer). We rebuild the score from the
    input of that last layer, reusing the model's own variables, so a model trained
    or modified later is explained with its current weights.
    """

    def __init__(self, model: Any):
        import keras
        import tensorflow as tf

        self.model = model
        last = model.layers[-1]
        act = getattr(last, "activation", None)
        act_name = getattr(act, "__name__", "") if act is not None else ""
        if isinstance(last, keras.layers.Softmax) or (
                isinstance(last, keras.layers.Activation) and act_name == "softmax"):
            head_input, self._dense = last.input, None
            self.kind = f"input of the final {type(last).__name__} layer {last.name!r}"
        elif isinstance(last, keras.layers.Dense) and act_name == "softmax":
            head_input, self._dense = last.input, last
            self.kind = f"final Dense layer {last.name!r} without its softmax"
        elif act_name in ("sigmoid",):
            raise ValueError(f"the model ends in a sigmoid ({last.name!r}): explain its logits instead "
                             "(build the model with a linear last layer)")
        else:
            head_input, self._dense = model.outputs[0], None
            self.kind = "model output (already linear)"
        if len(model.inputs) != 1:
            raise ValueError(f"saliency maps need a model with one input, this one has {len(model.inputs)}")
        self._head_input = head_input
        self._input = model.inputs[0]  # a tensor, not a list: Keras warns when the call structure differs
        self.input_shape = tuple(self._input.shape)
        self._features = keras.Model(self._input, head_input)
        self._conv_models: dict[str, Any] = {}
        spec_x = tf.TensorSpec((None,) + self.input_shape[1:], tf.float32)
        spec_c = tf.TensorSpec((None,), tf.int32)

        @tf.function(input_signature=[spec_x], autograph=False)
        def scores(x):
            return self.forward(x)

        @tf.function(input_signature=[spec_x, spec_c], autograph=False)
        def input_gradients(x, cls):
            with tf.GradientTape() as tape:
                tape.watch(x)
                picked = tf.gather(self.forward(x), cls, axis=1, batch_dims=1)
                # Summing over the batch is exact: image i's score depends only on image i
                # (inference mode: batch-norm uses its moving statistics).
                total = tf.reduce_sum(picked)
            return tape.gradient(total, x), picked

        self.scores = scores
        self.input_gradients = input_gradients
        self._spec_x, self._spec_c = spec_x, spec_c

    def forward(self, x):
        """Pre-softmax scores (N, classes) of a batch ``x``, eagerly differentiable (inference mode)."""
        return self._head(self._features(x, training=False))

    def _head(self, features):
        if self._dense is None:
            return features
        import tensorflow as tf

        out = tf.matmul(features, tf.convert_to_tensor(self._dense.kernel))
        if self._dense.use_bias:
            out = out + tf.convert_to_tensor(self._dense.bias)
        return out

    def conv_gradients(self, layer_name: str):
        """Compiled ``f(x, cls) -> (A, dscore/dA)`` for the named 4-D layer."""
        if layer_name not in self._conv_models:
            import keras
            import tensorflow as tf

            layer = self.model.get_layer(layer_name)
            both = keras.Model(self._input, [layer.output, self._head_input])

            @tf.function(input_signature=[self._spec_x, self._spec_c], autograph=False)
            def fn(x, cls):
                with tf.GradientTape() as tape:
                    acts, feats = both(x, training=False)
                    tape.watch(acts)
                    s = self._head(feats)
                    total = tf.reduce_sum(tf.gather(s, cls, axis=1, batch_dims=1))
                return acts, tape.gradient(total, acts)

            self._conv_models[layer_name] = fn
        return self._conv_models[layer_name]

    def penultimate(self, x):
        """What the last Dense layer (the classifier) sees: its input, for a batch ``x``."""
        if not hasattr(self, "_penultimate"):
            import keras

            dense = [layer for layer in self.model.layers if isinstance(layer, keras.layers.Dense)]
            if not dense:
                raise ValueError("the model has no Dense layer: no penultimate features to take")
            self._penultimate = keras.Model(self._input, dense[-1].input)
        return self._penultimate(x, training=False)


_SCORERS: "weakref.WeakKeyDictionary[Any, _Scorer]" = weakref.WeakKeyDictionary()


def _scorer(model: Any) -> _Scorer:
    s = _SCORERS.get(model)
    if s is None:
        _quiet_retracing_warning()
        s = _SCORERS[model] = _Scorer(model)
    return s


class _DropOwnRetracingWarning:
    """Logging filter: each model gets its own compiled functions, so explaining several
    models (the randomisation check builds one per level) traces the same Python code
    again on purpose; TensorFlow's "triggered tf.function retracing" advice is noise there."""

    def filter(self, record) -> bool:
        msg = record.getMessage()
        return not ("retracing" in msg and "_Scorer" in msg)


_FILTER = _DropOwnRetracingWarning()


def _quiet_retracing_warning() -> None:
    import logging

    logger = logging.getLogger("tensorflow")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def score_function(model: Any):
    """``f(images) -> (N, classes)`` pre-softmax scores of ``model`` (a compiled tf.function).

    Also says where the score was taken: ``f.kind`` is e.g. "final Dense layer
    'predictions' without its softmax".
    """
    s = _scorer(model)

    def f(images):
        return s.scores(_as_batch(images, s)).numpy()

    f.kind = s.kind
    return f


def score_model(model: Any):
    """``scores(x) -> (N, classes)`` pre-softmax scores as a differentiable TensorFlow call.

    x: (N, H, W, C) float32 tensor as ``model`` takes it. Unlike :func:`score_function`
    (NumPy in, NumPy out) this can run inside a learner's own ``tf.GradientTape``, which is
    what notebook 06's saliency exercise does. Uses the model's current weights.
    """
    s = _scorer(model)

    def scores(x):
        return s.forward(x)

    scores.kind = s.kind
    return scores


# --------------------------------------------------------------------------- input checks

def _as_batch(images: Any, scorer: _Scorer) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype == np.uint8:
        raise ValueError("images are uint8: pass them through the model's preprocessing first "
                         "(e.g. clf.preprocess(images)) so they are in the space the model takes")
    x = x.astype(np.float32, copy=False)
    want = scorer.input_shape[1:]
    if x.ndim == len(want):
        raise ValueError(f"images must be a batch {('N',) + want}; got one image {x.shape}: use images[None]")
    if x.ndim != len(want) + 1 or any(w is not None and w != g for w, g in zip(want, x.shape[1:])):
        raise ValueError(f"images must have shape {('N',) + want} (the model's input), got {x.shape}")
    return x


def _class_array(class_ids: Any, n: int) -> np.ndarray:
    c = np.asarray(class_ids)
    if c.ndim == 0:
        c = np.full(n, int(c))
    if c.shape != (n,):
        raise ValueError(f"class_ids must be one int or {n} ints (one per image), got shape {c.shape}")
    return c.astype(np.int32)


def _batches(n: int, size: int) -> Iterable[slice]:
    for i in range(0, n, size):
        yield slice(i, min(i + size, n))


def _auto_batch(batch_size: int | None, x: np.ndarray, forward_only: bool = False) -> int:
    """Images per network call. Default: about a million input values (6 images of
    224x224x3, 64 faces of 48x48) for a gradient, twice that for a forward pass. On a
    CPU the time per image hardly depends on the batch (measured: 64-76 ms for
    EfficientNet-Lite0 at batch 1-32), while memory and cache misses grow with it."""
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return int(batch_size)
    budget = (2 << 20) if forward_only else (1 << 20)
    return int(max(1, min(64, budget // max(1, int(np.prod(x.shape[1:]))))))


# --------------------------------------------------------------------------- gradient maps

def input_gradients(model: Any, images: Any, class_ids: Any, batch_size: int | None = None) -> np.ndarray:
    """Signed gradient of each image's pre-softmax class score with respect to its pixels.

    images: (N, H, W, C) float32 as the model takes them; class_ids: int or (N,) ints.
    Returns (N, H, W, C) float32 (the raw material of every gradient map below).
    """
    s = _scorer(model)
    x = _as_batch(images, s)
    c = _class_array(class_ids, len(x))
    out = np.empty(x.shape, np.float32)
    for sl in _batches(len(x), _auto_batch(batch_size, x)):
        out[sl] = s.input_gradients(x[sl], c[sl])[0].numpy()
    return out


def vanilla_saliency(model: Any, images: Any, class_ids: Any, batch_size: int | None = None) -> np.ndarray:
    """CS231n saliency: ``|d score_c / d x|``, max over colour channels.

    model: Keras classifier; images: (N, H, W, C) float32 as the model takes them;
    class_ids: int or (N,) ints. Returns (N, H, W) float32 >= 0.
    """
    s = _scorer(model)
    x = _as_batch(images, s)
    c = _class_array(class_ids, len(x))
    out = np.empty(x.shape[:3], np.float32)
    for sl in _batches(len(x), _auto_batch(batch_size, x)):
        g, _ = s.input_gradients(x[sl], c[sl])
        out[sl] = np.abs(g.numpy()).max(axis=-1)
    return out


def _sum_rows_into(total: np.ndarray, which: np.ndarray, rows: np.ndarray) -> None:
    """total[which[k]] += rows[k]; ``which`` is sorted (pairs are laid out image by image)."""
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    for start, part in zip(starts, np.add.reduceat(rows, starts, axis=0)):
        total[which[start]] += part


def _noise_scale(x: np.ndarray, sigma: float) -> np.ndarray:
    # Smilkov et al. set the noise relative to each image's value range (10-20 % works).
    span = x.reshape(len(x), -1).max(axis=1) - x.reshape(len(x), -1).min(axis=1)
    return (sigma * np.where(span > 0, span, 1.0)).astype(np.float32)


def smoothgrad(model: Any, images: Any, class_ids: Any, n: int = 25, sigma: float = 0.15,
               batch_size: int | None = None, seed: int = 0, squared: bool = False) -> np.ndarray:
    """SmoothGrad: average the gradient over ``n`` noisy copies, then |.| max over channels.

    sigma: noise standard deviation as a fraction of each image's value range
        (max - min); ``n=1, sigma=0`` gives exactly :func:`vanilla_saliency`.
    squared: average ``g**2`` instead of ``g`` (the paper's "SmoothGrad-squared").
    All ``N * n`` noisy copies go through the network in full batches of ``batch_size``
    (default: see below), not one image at a time. Returns (N, H, W) float32 >= 0.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 noisy copies, got {n}")
    s = _scorer(model)
    x = _as_batch(images, s)
    c = _class_array(class_ids, len(x))
    rng = np.random.default_rng(seed)
    scale = _noise_scale(x, sigma)
    # Flatten (image, copy) pairs into one long batch so every forward pass is full.
    idx = np.repeat(np.arange(len(x)), n)
    total = np.zeros(x.shape, np.float32)
    for sl in _batches(len(idx), _auto_batch(batch_size, x)):
        which = idx[sl]
        noisy = x[which] + rng.standard_normal(x[which].shape, dtype=np.float32) * scale[which, None, None, None]
        g, _ = s.input_gradients(noisy, c[which])
        g = g.numpy()
        _sum_rows_into(total, which, g * g if squared else g)
    mean = total / n
    return (mean if squared else np.abs(mean)).max(axis=-1).astype(np.float32)


def integrated_gradients(model: Any, images: Any, class_ids: Any, baseline: Any = 0.0,
                         steps: int = 32, batch_size: int | None = None, signed: bool = False) -> np.ndarray:
    """Integrated gradients from ``baseline`` to each image (trapezoidal rule, ``steps`` intervals).

    baseline: scalar or array broadcastable to one image, in the model's input space
        (0.0 = the middle grey of a [-1, 1] model, black for a [0, 1] model).
    Attributions ``(x - x0) * mean_alpha grad(x0 + alpha (x - x0))`` are summed over
    channels; by completeness they add up to ``score(x) - score(baseline)``.
    signed: return the signed channel sum (its total is that difference) instead of
        its absolute value. Returns (N, H, W) float32.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    s = _scorer(model)
    x = _as_batch(images, s)
    c = _class_array(class_ids, len(x))
    base = np.broadcast_to(np.asarray(baseline, np.float32), x.shape[1:])
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, np.float32)
    weights[[0, -1]] *= 0.5  # trapezoid: end points count half
    delta = x - base[None]
    # All (image, alpha) pairs in one long sequence, cut into full batches.
    which = np.repeat(np.arange(len(x)), len(alphas))
    a = np.tile(alphas, len(x))
    wt = np.tile(weights, len(x))
    avg = np.zeros(x.shape, np.float32)
    for sl in _batches(len(which), _auto_batch(batch_size, x)):
        path = base[None] + a[sl, None, None, None] * delta[which[sl]]
        g, _ = s.input_gradients(path, c[which[sl]])
        _sum_rows_into(avg, which[sl], g.numpy() * wt[sl, None, None, None])
    attr = (delta * avg).sum(axis=-1)
    return (attr if signed else np.abs(attr)).astype(np.float32)


def find_last_conv_layer(model: Any) -> str:
    """Name of the last layer whose output is a 4-D feature map ``(N, h, w, k)`` with h*w > 1.

    That is the rectified output of the last convolution in a CNN classifier
    (e.g. MobileNetV2's ``out_relu``), the layer Grad-CAM uses by default.
    """
    for layer in reversed(model.layers):
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and (shape[1] or 2) * (shape[2] or 2) > 1:
            return layer.name
    raise ValueError("no layer with a 4-D (N, h, w, k) output: Grad-CAM needs a convolutional model; "
                     "pass layer=... explicitly")


def grad_cam(model: Any, images: Any, class_ids: Any, layer: str | None = None,
             plus_plus: bool = False, batch_size: int | None = None) -> np.ndarray:
    """Grad-CAM: ReLU(sum_k w_k A_k) with w_k the spatial mean of d score / d A_k.

    layer: name of a layer with a 4-D output; default :func:`find_last_conv_layer`.
    plus_plus: Grad-CAM++ weights (pixel-wise alpha from 2nd/3rd-order terms of the
        exponential score) instead of plain means.
    The (h, w) map is resized bilinearly to the input size. Returns (N, H, W) float32 >= 0.
    """
    import tensorflow as tf

    s = _scorer(model)
    x = _as_batch(images, s)
    c = _class_array(class_ids, len(x))
    fn = s.conv_gradients(layer or find_last_conv_layer(model))
    out = np.empty(x.shape[:3], np.float32)
    for sl in _batches(len(x), _auto_batch(batch_size, x)):
        acts, grads = fn(x[sl], c[sl])
        if plus_plus:
            g2, g3 = grads ** 2, grads ** 3
            denom = 2.0 * g2 + tf.reduce_sum(acts, axis=(1, 2), keepdims=True) * g3
            alpha = g2 / tf.where(denom != 0.0, denom, tf.ones_like(denom))
            w = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2), keepdims=True)
        else:
            w = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(w * acts, axis=-1, keepdims=True))
        out[sl] = tf.image.resize(cam, x.shape[1:3], method="bilinear")[..., 0].numpy()
    return np.maximum(out, 0.0)


def _positions(size: int, patch: int, stride: int) -> list[int]:
    pos = list(range(0, max(size - patch, 0) + 1, stride))
    if pos[-1] + patch < size:  # cover the last rows/columns too
        pos.append(size - patch)
    return pos


def occlusion(model: Any, images: Any, class_ids: Any, patch: int | None = None, stride: int | None = None,
              fill: float | str = "mean", probability: bool = True, batch_size: int | None = None) -> np.ndarray:
    """Occlusion sensitivity: how much the class probability drops when a square is covered.

    patch, stride: square side and step in pixels; every pixel is covered at least once.
        Defaults: a seventh of the image side and half of that (32 and 16 px at 224).
    fill: value of the square in the model's input space, or "mean" (each image's
        per-channel mean: a neutral grey whatever the preprocessing).
    probability: measure the softmax probability (Zeiler & Fergus); False = pre-softmax score.
    Each pixel gets the mean drop over the squares covering it; rises are clipped to 0.
    All (image, square) pairs go through the network in full batches. Returns (N, H, W) float32 >= 0.
    """
    import tensorflow as tf

    s = _scorer(model)
    x = _as_batch(images, s)
    c = _class_array(class_ids, len(x))
    h, w = x.shape[1:3]
    patch = max(1, round(min(h, w) / 7)) if patch is None else patch
    stride = max(1, patch // 2) if stride is None else stride
    if not 0 < patch <= min(h, w) or stride < 1:
        raise ValueError(f"need 0 < patch <= {min(h, w)} and stride >= 1, got patch={patch}, stride={stride}")
    boxes = [(y, xx) for y in _positions(h, patch, stride) for xx in _positions(w, patch, stride)]
    if isinstance(fill, str) and fill != "mean":
        raise ValueError(f"fill must be a number or 'mean', got {fill!r}")
    values = x.mean(axis=(1, 2)) if isinstance(fill, str) else np.full((len(x), x.shape[-1]), fill, np.float32)

    def measure(batch):
        sc = s.scores(batch)
        return (tf.nn.softmax(sc) if probability else sc).numpy()

    batch_size = _auto_batch(batch_size, x, forward_only=True)
    ref = np.concatenate([measure(x[sl]) for sl in _batches(len(x), batch_size)])[np.arange(len(x)), c]
    # Every (image, square) pair in one long sequence, cut into full batches.
    pairs = [(i, y, xx) for i in range(len(x)) for y, xx in boxes]
    drop = np.zeros(x.shape[:3], np.float32)
    count = np.zeros(x.shape[1:3], np.float32)
    for y, xx in boxes:
        count[y:y + patch, xx:xx + patch] += 1
    for sl in _batches(len(pairs), batch_size):
        chunk = pairs[sl]
        batch = x[[i for i, _, _ in chunk]]
        for j, (i, y, xx) in enumerate(chunk):
            batch[j, y:y + patch, xx:xx + patch] = values[i]
        got = measure(batch)
        for j, (i, y, xx) in enumerate(chunk):
            drop[i, y:y + patch, xx:xx + patch] += ref[i] - got[j, c[i]]
    return np.maximum(drop / count, 0.0)


# --------------------------------------------------------------------------- images from gradients

def _gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect").astype(np.float32)


def class_visualization(model: Any, class_id: int, *, value_range: tuple[float, float] = (-1.0, 1.0),
                        iterations: int = 100, lr: float = 25.0, l2_reg: float = 1e-3,
                        max_jitter: int = 16, blur_every: int = 10, blur_sigma: float = 0.5,
                        init_range: float = 1.0, scale_jitter: float = 0.0, max_rotation: float = 0.0,
                        seed: int = 0, return_history: int = 0) -> np.ndarray | tuple[np.ndarray, list]:
    """Class model visualisation by gradient ascent (Simonyan et al. 2014; CS231n assignment 3).

    Starts from uniform noise and repeats ``iterations`` times: roll the image by a
    random jitter of at most ``max_jitter`` px, step ``lr * g / ||g||_2`` up the
    gradient of ``score_c(x) - l2_reg * ||x - centre||^2``, roll back, clip to
    ``value_range`` (the model's preprocessed input range; centre = its middle) and
    every ``blur_every`` iterations blur with a Gaussian of ``blur_sigma`` px.
    The defaults are the assignment's.

    What makes modern networks (batch norm, depthwise convolutions) give recognisable
    pictures instead of high-frequency patterns (notebook 06 shows both):
    init_range: start from noise over this fraction of the range around the centre
        (1.0 = the whole range, as the assignment).
    scale_jitter, max_rotation: besides the shift, zoom by a random factor in
        ``1 +- scale_jitter`` and rotate by up to ``max_rotation`` degrees before each
        gradient (which is warped back): the picture must work from slightly different
        views, which a pixel-level pattern does not.
    return_history: also return the image every k iterations (a list) if k > 0.
    Returns (H, W, C) float32 in the model's input space (see :func:`deprocess`).
    """
    import cv2

    s = _scorer(model)
    lo, hi = value_range
    centre = (lo + hi) / 2.0
    shape = s.input_shape[1:]
    if any(v is None for v in shape):
        raise ValueError("the model has no fixed input size: class_visualization needs one")
    h, w, _ = shape
    rng = np.random.default_rng(seed)
    half = init_range * (hi - lo) / 2.0
    x = (centre + rng.uniform(-half, half, shape)).astype(np.float32)
    cls = np.array([class_id], np.int32)
    history = []
    for t in range(iterations):
        oy, ox = rng.integers(-max_jitter, max_jitter + 1, size=2)
        view = np.roll(x, (oy, ox), axis=(0, 1))
        warp = None
        if scale_jitter or max_rotation:
            warp = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(rng.uniform(-max_rotation, max_rotation)),
                                           float(rng.uniform(1 - scale_jitter, 1 + scale_jitter)))
            view = cv2.warpAffine(view, warp, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT).reshape(shape)
        g, _ = s.input_gradients(view[None], cls)
        g = g.numpy()[0]
        if warp is not None:  # back to the unwarped image's pixels
            g = cv2.warpAffine(g, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(shape)
        g = np.roll(g, (-oy, -ox), axis=(0, 1)) - 2.0 * l2_reg * (x - centre)  # + the L2 penalty's gradient
        x = np.clip(x + lr * g / (np.linalg.norm(g) + 1e-12), lo, hi).astype(np.float32)
        if blur_every and t % blur_every == 0:
            x = _gaussian_blur(x[None], blur_sigma)[0]
        if return_history and (t + 1) % return_history == 0:
            history.append(x.copy())
    return (x, history) if return_history else x


def top1_under_views(model: Any, image: np.ndarray, blur_sigma: float = 1.5) -> dict[str, int]:
    """Top-1 class of a generated image as it is, blurred, and at half resolution.

    image: (H, W, C) float32 in the model's input space. An adversarial pattern loses
    its class under these mild changes; a picture of the class keeps it.
    Returns {"as is": id, "blurred": id, "half size": id}.
    """
    import cv2

    img = np.asarray(image, np.float32)
    h, w = img.shape[:2]
    blurred = _gaussian_blur(img[None], blur_sigma)[0]
    small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    halved = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(img.shape)
    scores = score_function(model)(np.stack([img, blurred, halved]))
    return dict(zip(("as is", "blurred", "half size"), (int(i) for i in scores.argmax(axis=1))))


class FoolingResult(NamedTuple):
    """``image``: the fooled image, (H, W, C) float32; ``steps``: gradient steps it took."""

    image: np.ndarray
    steps: int


def fooling_step(image: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
    """One fooling step: ``image + lr * grad / ||grad||_2`` (arrays of one shape, float32)."""
    return image + lr * grad / (np.linalg.norm(grad) + 1e-12)


def fooling_image(model: Any, image: Any, target_class: int, lr: float = 1.0, max_steps: int = 100,
                  value_range: tuple[float, float] | None = None, step=None) -> FoolingResult:
    """Fooling image (CS231n assignment 3): step ``lr * g / ||g||_2`` up the target's score.

    image: (H, W, C) float32 in the model's input space; target_class: the class to reach.
    Stops as soon as the model's argmax is ``target_class``. value_range: clip each step
    to it (the valid preprocessed range) if given.
    step: ``f(image, grad, lr) -> new image`` (default :func:`fooling_step`; notebook 06's
    exercise passes the learner's).
    Returns ``FoolingResult(image, steps)``; raises RuntimeError if ``max_steps`` were not enough.
    """
    s = _scorer(model)
    x = _as_batch(np.asarray(image)[None], s).copy()
    cls = np.array([target_class], np.int32)
    move = step or fooling_step
    for n_steps in range(max_steps + 1):
        scores = s.scores(x).numpy()[0]
        if int(scores.argmax()) == target_class:
            return FoolingResult(x[0], n_steps)
        if n_steps == max_steps:
            break
        g, _ = s.input_gradients(x, cls)
        x = np.asarray(move(x, g.numpy(), lr), np.float32)
        if value_range is not None:
            x = np.clip(x, *value_range)
    raise RuntimeError(f"still not class {target_class} after {max_steps} steps "
                       f"(argmax {int(scores.argmax())}): raise max_steps or lr")


# --------------------------------------------------------------------------- what the layers see

def first_layer_filters(model: Any) -> np.ndarray:
    """Weights of the model's first Conv2D, each filter scaled to [0, 1] for display.

    Returns (K, kh, kw, C) float32 (depthwise/grouped layers are skipped: CS231n
    shows the first dense convolution).
    """
    import keras

    for layer in _walk_layers(model):
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D) \
                and getattr(layer, "groups", 1) == 1:
            k = np.asarray(layer.kernel)  # (kh, kw, C, K)
            k = np.moveaxis(k, -1, 0)
            lo = k.min(axis=(1, 2, 3), keepdims=True)
            hi = k.max(axis=(1, 2, 3), keepdims=True)
            return ((k - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)
    raise ValueError("the model has no Conv2D layer")


def _walk_layers(model: Any):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _walk_layers(layer)
        else:
            yield layer


def penultimate_features(model: Any, images: Any, batch_size: int | None = None) -> np.ndarray:
    """The vector the classifier's last Dense layer sees (after global pooling), one per image.

    CS231n's "last layer" features: nearest neighbours in this space are
    semantically close even when the pixels are not. Returns (N, D) float32.
    """
    s = _scorer(model)
    x = _as_batch(images, s)
    feats = [np.asarray(s.penultimate(x[sl])) for sl in _batches(len(x), _auto_batch(batch_size, x, True))]
    f = np.concatenate(feats).astype(np.float32)
    return f.reshape(len(f), -1)


def nearest_neighbours(queries: np.ndarray, gallery: np.ndarray, k: int = 5,
                       metric: str = "euclidean", exclude_self: bool = False) -> np.ndarray:
    """Indices of the ``k`` nearest gallery rows for each query row (closest first).

    queries: (Q, D), gallery: (G, D) float; metric "euclidean" or "cosine".
    exclude_self: queries are gallery rows 0..Q-1 in order; skip each one's own index.
    Returns (Q, k) int64.
    """
    q = np.asarray(queries, np.float64)
    g = np.asarray(gallery, np.float64)
    if metric == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    d = (q ** 2).sum(1)[:, None] - 2 * q @ g.T + (g ** 2).sum(1)[None]
    if exclude_self:
        d[np.arange(len(q)), np.arange(len(q))] = np.inf
    # stable sort: ties keep gallery order, so results reproduce exactly
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def embed_2d(features: np.ndarray, method: str = "pca", seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D embedding of feature vectors for a scatter plot: "pca" or "tsne" (scikit-learn).

    features: (N, D). Returns (N, 2) float32.
    """
    f = np.asarray(features, np.float64)
    if method == "pca":
        from sklearn.decomposition import PCA

        out = PCA(n_components=2, random_state=seed).fit_transform(f)
        # PCA's sign is arbitrary: fix it so the plot is the same on every machine
        out *= np.sign(out[np.abs(out).argmax(axis=0), [0, 1]])
    elif method == "tsne":
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        pre = PCA(n_components=min(50, *f.shape), random_state=seed).fit_transform(f)
        out = TSNE(n_components=2, perplexity=min(perplexity, (len(f) - 1) / 3), init="pca",
                   random_state=seed).fit_transform(pre)
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    return out.astype(np.float32)


# --------------------------------------------------------------------------- sanity checks

def randomize_top_layers(model: Any, n_layers: int, seed: int = 0) -> Any:
    """A copy of ``model`` whose top ``n_layers`` weighted layers are re-initialised.

    Adebayo et al. (2018)'s cascading model-parameter randomisation: counting only
    layers that hold weights, from the output down; every other layer keeps the
    trained weights. The original model is not changed. For a reproducible draw this
    re-seeds Keras' global random state (Python, NumPy, TensorFlow) with ``seed``.
    """
    import keras

    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(model)
    weighted = [i for i, layer in enumerate(model.layers) if layer.weights]
    if not 0 <= n_layers <= len(weighted):
        raise ValueError(f"n_layers must be between 0 and {len(weighted)} (layers with weights), got {n_layers}")
    keep = set(weighted[:len(weighted) - n_layers])
    for i, (old, new) in enumerate(zip(model.layers, fresh.layers)):
        if i in keep:
            new.set_weights(old.get_weights())
    return fresh


def weighted_layer_names(model: Any) -> list[str]:
    """Names of the layers that hold weights, from the output down (the randomisation order)."""
    return [layer.name for layer in reversed(model.layers) if layer.weights]


def spearman(maps_a: np.ndarray, maps_b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between corresponding maps, one value per map.

    maps_a, maps_b: (N, H, W). Returns (N,) float64 (NaN where a map is constant).
    """
    from scipy.stats import rankdata

    a = np.asarray(maps_a, np.float64).reshape(len(maps_a), -1)
    b = np.asarray(maps_b, np.float64).reshape(len(maps_b), -1)
    if a.shape != b.shape:
        raise ValueError(f"map shapes differ: {np.shape(maps_a)} vs {np.shape(maps_b)}")
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(1) / den


def edge_map(images: Any) -> np.ndarray:
    """Sobel gradient magnitude of each image, max over channels: a "saliency map" that
    ignores the model entirely (Adebayo et al.'s warning example).

    images: (N, H, W, C) float. Returns (N, H, W) float32.
    """
    import cv2

    x = np.asarray(images, np.float32)
    out = np.empty(x.shape[:3], np.float32)
    for i, img in enumerate(x):
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.sqrt(gx ** 2 + gy ** 2)
        out[i] = mag.max(axis=-1) if mag.ndim == 3 else mag
    return out


def _peak_indices(maps: np.ndarray) -> np.ndarray:
    """Flat index of each map's peak: the maximum, or on a plateau of equal maxima (an
    occlusion square, an upsampled Grad-CAM cell) the tied pixel nearest their centroid."""
    m = np.asarray(maps)
    flat = m.reshape(len(m), -1)
    w = m.shape[2]
    out = np.empty(len(m), np.int64)
    for i, row in enumerate(flat):
        ties = np.flatnonzero(row == row.max())
        if len(ties) == 1:
            out[i] = ties[0]
            continue
        ys, xs = np.divmod(ties, w)
        d = (ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2
        out[i] = ties[np.argmin(d)]
    return out


def pointing_game(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Pointing game (Zhang et al. 2016): does each map's peak fall inside its mask?

    maps: (N, H, W) float; masks: (N, H, W) bool. The peak is the maximum; on a plateau
    of equal maxima, the tied pixel nearest their centroid (not the plateau's corner).
    Returns (N,) bool.
    """
    maps = np.asarray(maps)
    masks = np.asarray(masks, bool)
    if maps.shape != masks.shape:
        raise ValueError(f"maps {maps.shape} and masks {masks.shape} must have the same shape")
    return masks.reshape(len(masks), -1)[np.arange(len(masks)), _peak_indices(maps)]


def mass_in_mask(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Fraction of each (non-negative) map's total inside its mask: (N,) float64.

    Chance level is the mask's area fraction, ``masks.mean(axis=(1, 2))``.
    """
    maps = np.maximum(np.asarray(maps, np.float64), 0.0)
    masks = np.asarray(masks, bool)
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return inside / total


#: Spearman rank correlation a map method must stay *below* between the trained network
#: and the same network with its top layers re-initialised. rho = 0.5 leaves a quarter of
#: the rank variance shared (rho**2 = 0.25): the map must have lost most of its ordering
#: when the classifier it claims to explain is gone. A map of the input alone (the
#: edge detector, Adebayo et al.'s warning) scores exactly 1.0 and fails.
RANDOMIZATION_THRESHOLD = 0.5

#: The map methods of the sanity checks, in display order ("edge detector" is the control).
METHODS = ("vanilla", "SmoothGrad", "integrated gradients", "Grad-CAM", "Grad-CAM++", "occlusion")


def compute_maps(model: Any, images: Any, class_ids: Any, methods: Iterable[str] = METHODS,
                 smoothgrad_n: int = 25, ig_steps: int = 32, occlusion_patch: int | None = None,
                 occlusion_stride: int | None = None, grad_cam_layer: str | None = None,
                 edge: bool = True) -> dict[str, np.ndarray]:
    """Every method's maps for the same batch: name -> (N, H, W) float32.

    methods: names from :data:`METHODS`; edge: add the model-free "edge detector" control.
    smoothgrad_n, ig_steps, occlusion_patch, occlusion_stride: the methods' cost knobs
    (fewer copies/steps, a larger stride = faster and coarser; defaults as the functions').
    grad_cam_layer: the layer Grad-CAM(++) explains (default: the last conv layer).
    """
    table = {
        "vanilla": lambda: vanilla_saliency(model, images, class_ids),
        "SmoothGrad": lambda: smoothgrad(model, images, class_ids, n=smoothgrad_n),
        "integrated gradients": lambda: integrated_gradients(model, images, class_ids, steps=ig_steps),
        "Grad-CAM": lambda: grad_cam(model, images, class_ids, layer=grad_cam_layer),
        "Grad-CAM++": lambda: grad_cam(model, images, class_ids, layer=grad_cam_layer, plus_plus=True),
        "occlusion": lambda: occlusion(model, images, class_ids, patch=occlusion_patch, stride=occlusion_stride),
    }
    unknown = [m for m in methods if m not in table]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(table)}")
    out = {m: table[m]() for m in methods}
    if edge:
        out["edge detector"] = edge_map(images)
    return out


class RandomizationCheck(NamedTuple):
    """Result of :func:`randomization_check`.

    rho: method -> (N,) Spearman correlation, trained vs re-initialised, per image.
    trained, randomized: method -> (N, H, W) maps. layers: the re-initialised layer names.
    """

    rho: dict
    trained: dict
    randomized: dict
    layers: list

    def passed(self, threshold: float = RANDOMIZATION_THRESHOLD) -> dict[str, bool]:
        """method -> mean rho below ``threshold`` (the map depends on the top layers)."""
        return {m: bool(np.nanmean(r) < threshold) for m, r in self.rho.items()}

    def table(self, threshold: float = RANDOMIZATION_THRESHOLD) -> str:
        """One line per method: per-image rho, mean, verdict."""
        lines = [f"{'method':22s} {'rho per image':>22s} {'mean':>6s}  verdict (rho < {threshold})"]
        for m, r in self.rho.items():
            ok = np.nanmean(r) < threshold
            lines.append(f"{m:22s} {' '.join(f'{v:6.2f}' for v in r):>22s} {np.nanmean(r):6.2f}  "
                         f"{'passes: depends on the model' if ok else 'FAILS: ignores the top layers'}")
        return "\n".join(lines)


def randomization_check(model: Any, images: Any, class_ids: Any, n_layers: int = 3,
                        methods: Iterable[str] = METHODS, seed: int = 0, trained: dict | None = None,
                        **settings: Any) -> RandomizationCheck:
    """Adebayo et al. (2018)'s model-parameter randomisation test.

    Re-initialises the top ``n_layers`` weighted layers (:func:`randomize_top_layers`),
    recomputes every map for the same ``class_ids`` and returns the Spearman rank
    correlation with the trained network's maps (absolute maps, as the paper ranks them).
    trained: maps already computed by :func:`compute_maps` for this model (saves time).
    settings: passed to :func:`compute_maps` (smoothgrad_n, ig_steps).
    """
    methods = list(methods)
    if trained is None:
        trained = compute_maps(model, images, class_ids, methods, **settings)
    fresh = randomize_top_layers(model, n_layers, seed=seed)
    randomized = compute_maps(fresh, images, class_ids, methods, **settings)
    rho = {m: spearman(np.abs(trained[m]), np.abs(randomized[m])) for m in randomized}
    return RandomizationCheck(rho, trained, randomized, weighted_layer_names(model)[:n_layers])


def centre_prior(n: int, height: int, width: int, sigma: float | None = None) -> np.ndarray:
    """A "map" that always looks at the middle: (n, height, width) float32 Gaussian bumps.

    The pointing game's classic baseline (Zhang et al. 2016): it knows nothing about the
    image, only where objects usually are. sigma: default a sixth of the smaller side.
    """
    sigma = min(height, width) / 6.0 if sigma is None else sigma
    yy, xx = np.mgrid[:height, :width]
    bump = np.exp(-((yy - (height - 1) / 2) ** 2 + (xx - (width - 1) / 2) ** 2) / (2 * sigma ** 2))
    return np.repeat(bump[None].astype(np.float32), n, axis=0)


#: Localisation verdict: the pointing game must hit the masks at least this many times
#: their area (chance) ...
LOCALISATION_CHANCE_FACTOR = 3.0
#: ... and hit its own image's masks this much more often than another image's (12 of
#: 120 faces): the map follows *this* face, not where such regions usually are.
LOCALISATION_MIN_GAIN = 0.1


def localisation_passed(score: dict[str, float]) -> bool:
    """The localisation verdict for one method's :func:`localisation_scores` entry."""
    return (score["pointing"] >= LOCALISATION_CHANCE_FACTOR * score["area"]
            and score["pointing"] - score["pointing_other"] >= LOCALISATION_MIN_GAIN)


#: ... and the map's mass inside the masks must be at least this many times their area.
LOCALISATION_MASS_FACTOR = 1.5


def localisation_verdict(score: dict[str, float]) -> str:
    """One word for a :func:`localisation_scores` entry, as notebook 06 prints it.

    ``"pass"``: above chance (pointing >= 3x the masks' area and mass >= 1.5x it) *and*
    specific to this face (:func:`localisation_passed`); ``"above chance"``: the first
    two only - the map hits where expressions usually are, about as well on another face;
    ``"FAIL"``: not above chance.
    """
    above = (score["pointing"] >= LOCALISATION_CHANCE_FACTOR * score["area"]
             and score["mass"] >= LOCALISATION_MASS_FACTOR * score["area"])
    if above and localisation_passed(score):
        return "pass"
    return "above chance" if above else "FAIL"


def localisation_scores(maps: dict[str, np.ndarray], masks: np.ndarray) -> dict[str, dict[str, float]]:
    """Pointing game and mass-in-mask per method, with two baselines.

    maps: method -> (N, H, W); masks: (N, H, W) bool. Returns method -> {
    "pointing": hit rate, "mass": mean fraction inside the masks,
    "area": mean mask area fraction (what a random point scores),
    "pointing_other", "mass_other": the same scores against the masks of *another*
    image (image i's map vs image (i + N//2)'s masks) - what a map scores that only
    knows where such regions usually are (a fixed "look at the eyes" prior scores as
    well there as on its own image), not where they are in this image}.
    """
    masks = np.asarray(masks, bool)
    area = float(masks.mean())
    other = masks[np.roll(np.arange(len(masks)), len(masks) // 2)]
    return {m: {"pointing": float(pointing_game(v, masks).mean()),
                "mass": float(np.nanmean(mass_in_mask(v, masks))), "area": area,
                "pointing_other": float(pointing_game(v, other).mean()),
                "mass_other": float(np.nanmean(mass_in_mask(v, other)))}
            for m, v in maps.items()}


#: Chelsea the cat in scikit-image's ``chelsea`` photo (451 x 300 px), as (x0, y0, x1, y1)
#: photo pixels, checked by eye on a 50-px grid: the fur reaches the top and bottom edges
#: between x = 30 and x = 355; left of x = 30 at the top and right of x = 355 is the blurred
#: room behind her (her right ear tip, x 330-400 at the very top, is left out of the box).
CHELSEA_CAT_BOX = (30, 0, 355, 300)


def letterbox(image: np.ndarray, size: int = 224, fill: int = 127) -> tuple[np.ndarray, tuple[float, int, int]]:
    """Fit a whole photo into a ``size`` x ``size`` square (no crop), padding with ``fill``.

    Unlike the classifier's centre crop, the background stays in the picture, so a map
    can be wrong by pointing at it. image: (H, W, 3) uint8.
    Returns (square (size, size, 3) uint8, (scale, x0, y0)): photo (x, y) -> square
    (x * scale + x0, y * scale + y0).
    """
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    out = np.full((size, size, 3), fill, np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, (scale, x0, y0)


def box_mask(box: tuple[int, int, int, int], transform: tuple[float, int, int], size: int = 224) -> np.ndarray:
    """(size, size) bool mask of a photo box (x0, y0, x1, y1) after :func:`letterbox`."""
    scale, ox, oy = transform
    x0, y0, x1, y1 = box
    mask = np.zeros((size, size), bool)
    mask[int(round(y0 * scale + oy)):int(round(y1 * scale + oy)),
         int(round(x0 * scale + ox)):int(round(x1 * scale + ox))] = True
    return mask


def collage(images: list[np.ndarray], size: int = 224) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Four photos in a 2 x 2 grid (each centre-cropped to a square): one picture, four objects.

    images: four (H, W, 3) uint8 RGB photos. Returns (square (size, size, 3) uint8, boxes),
    boxes[i] = (x0, y0, x1, y1) of photo i in the square (top-left, top-right,
    bottom-left, bottom-right).
    """
    import cv2

    if len(images) != 4:
        raise ValueError(f"collage takes exactly 4 photos, got {len(images)}")
    t = size // 2
    out = np.zeros((size, size, 3), np.uint8)
    boxes = []
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        side = min(h, w)
        y, x = (h - side) // 2, (w - side) // 2
        tile = cv2.resize(img[y:y + side, x:x + side], (t, t), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, 2)
        out[r * t:(r + 1) * t, c * t:(c + 1) * t] = tile
        boxes.append((c * t, r * t, (c + 1) * t, (r + 1) * t))
    return out, boxes


def peak(maps: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) of each map's peak, as :func:`pointing_game` chooses it."""
    m = np.asarray(maps)
    return [tuple(int(v) for v in np.unravel_index(i, m.shape[1:])) for i in _peak_indices(m)]


# --------------------------------------------------------------------------- display

def normalize(maps: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale each map to [0, 1] by its ``percentile`` (gradient maps have a few huge pixels).

    maps: (N, H, W) or (H, W). Returns float32 of the same shape.
    """
    m = np.asarray(maps, np.float32)
    one = m.ndim == 2
    m = m[None] if one else m
    top = np.percentile(m.reshape(len(m), -1), percentile, axis=1)
    top = np.where(top > 0, top, m.reshape(len(m), -1).max(axis=1))
    out = np.clip(m / np.where(top > 0, top, 1.0)[:, None, None], 0.0, 1.0)
    return out[0] if one else out


def deprocess(x: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Model-space image(s) back to uint8 RGB for display: linear map of ``value_range`` to 0..255."""
    lo, hi = value_range
    y = (np.asarray(x, np.float32) - lo) / (hi - lo) * 255.0
    return np.clip(np.round(y), 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a heat map over an image. image: (H, W, 3) or (H, W) uint8; heat: (H, W) float
    (scaled by :func:`normalize`). Returns (H, W, 3) uint8."""
    import matplotlib

    img = np.asarray(image)
    if img.ndim == 2 or img.shape[-1] == 1:
        img = np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2)
    colours = matplotlib.colormaps[cmap](normalize(heat))[..., :3] * 255.0
    return np.clip((1 - alpha) * img + alpha * colours, 0, 255).astype(np.uint8)


#: Methods whose maps are drawn over the photo (coarse maps); the others are shown as gray maps.
OVERLAID = ("Grad-CAM", "Grad-CAM++", "occlusion")


def plot_maps(images: np.ndarray, maps: dict[str, np.ndarray], titles: list[str] | None = None,
              size: float = 1.6, overlaid: Iterable[str] = OVERLAID):
    """One row per image: the image, then each method's map (:func:`normalize`-d).

    images: (N, H, W, 3) or (N, H, W) uint8 for display; maps: name -> (N, H, W).
    Coarse maps (``overlaid``) are blended over the image, pixel maps shown in gray.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    rows, cols = len(images), len(maps) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for r, img in enumerate(images):
        axes[r, 0].imshow(img, cmap="gray" if img.ndim == 2 or img.shape[-1] == 1 else None)
        if titles is not None:
            axes[r, 0].set_title(titles[r], fontsize=8)
        for c, (name, m) in enumerate(maps.items(), start=1):
            if name in overlaid:
                axes[r, c].imshow(overlay(img, m[r]))
            else:
                axes[r, c].imshow(normalize(m[r]), cmap="gray", vmin=0, vmax=1)
            if r == 0:
                axes[r, c].set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_images(images: Iterable[np.ndarray], titles: Iterable[str] | None = None, cols: int = 4,
                size: float = 2.0, cmap: str | None = None):
    """A grid of images with optional titles. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    images = list(images)
    titles = list(titles) if titles is not None else [""] * len(images)
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, title in zip(axes.ravel(), images, titles):
        ax.imshow(np.squeeze(img), cmap=cmap)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig
