"""The score every map explains, and what all the methods share before they start.

:class:`_Scorer` finds a Keras classifier's *pre-softmax* class scores (one per model,
cached); :func:`_prepare` is every method's first line: it checks the images and class
ids and hands back the scorer with them; :func:`_batches` and :func:`_auto_batch` cut
the work into network calls.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any, Callable, Iterable

import numpy as np


class _Scorer:
    """Pre-softmax class scores of a Keras model, and compiled versions of the methods' tapes.

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
        self._spec_x = tf.TensorSpec((None,) + self.input_shape[1:], tf.float32)
        self._spec_c = tf.TensorSpec((None,), tf.int32)
        self._compiled: dict[tuple, Callable] = {}
        self._with_layer: dict[str, Any] = {}
        #: ``scores(x) -> (N, classes)``: :meth:`forward` compiled (one graph per model).
        self.scores = tf.function(self.forward, input_signature=[self._spec_x], autograph=False)

    def forward(self, x):
        """Pre-softmax scores (N, classes) of a batch ``x``, eagerly differentiable (inference mode)."""
        return self.head(self._features(x, training=False))

    def head(self, features):
        """The scores from the last layer's input: the Dense layer's matmul without its softmax."""
        if self._dense is None:
            return features
        import tensorflow as tf

        out = tf.matmul(features, tf.convert_to_tensor(self._dense.kernel))
        if self._dense.use_bias:
            out = out + tf.convert_to_tensor(self._dense.bias)
        return out

    def with_layer(self, layer_name: str):
        """A Keras model ``x -> (output of layer_name, input of the head)``, for CAM methods."""
        if layer_name not in self._with_layer:
            import keras

            layer = self.model.get_layer(layer_name)
            self._with_layer[layer_name] = keras.Model(self._input, [layer.output, self._head_input])
        return self._with_layer[layer_name]

    def compiled(self, fn: Callable, *args: Any) -> Callable:
        """``fn(*args, x, class_ids)`` compiled for (N, H, W, C) float32 ``x`` and (N,) int32 ids.

        The methods write their GradientTape as plain Python; compiled, one call costs about
        a third of the same tape run eagerly around the compiled scores. One graph per
        (fn, args), kept with the model.
        """
        key = (fn,) + args
        if key not in self._compiled:
            import tensorflow as tf

            self._compiled[key] = tf.function(lambda x, c: fn(*args, x, c),
                                              input_signature=[self._spec_x, self._spec_c], autograph=False)
        return self._compiled[key]


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


def _prepare(model: Any, images: Any, class_ids: Any = None) -> tuple[_Scorer, np.ndarray, np.ndarray | None]:
    """Every method's preamble: (the model's scorer, images as a checked (N, H, W, C) float32
    batch, class ids as (N,) int32 - or None when ``class_ids`` is None)."""
    s = _scorer(model)
    x = _as_batch(images, s)
    return s, x, None if class_ids is None else _class_array(class_ids, len(x))


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
