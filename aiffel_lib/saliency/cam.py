"""Class activation maps: a conv layer's feature maps, weighted by how much each moves the score.

:func:`_cam` is what every CAM shares (pytorch-grad-cam's ``BaseCAM``): the layer's
activations A and d score / d A from :func:`activations_and_gradients`, then
``ReLU(sum_k w_k A_k)`` resized to the input. A method is its weights ``w_k``:
:func:`grad_cam_weights` (Grad-CAM) and :func:`grad_cam_plus_plus_weights` (Grad-CAM++).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiffel_lib.saliency.scorer import _auto_batch, _batches, _prepare


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


def activations_and_gradients(with_layer, head, images, class_ids):
    """The layer's activations A (n, h, w, k) and d score / d A, as tensors.

    with_layer: ``x -> (A, the head's input)`` (a Keras model); head: the head's input ->
    (n, classes) pre-softmax scores; images: (n, H, W, C) float32; class_ids: (n,) int32.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        acts, head_input = with_layer(images, training=False)
        tape.watch(acts)  # inside a compiled graph the ops from A to the score are already recorded
        picked = tf.gather(head(head_input), class_ids, axis=1, batch_dims=1)
    return acts, tape.gradient(picked, acts)


def _cam(model: Any, images: Any, class_ids: Any, layer: str | None, weights, batch_size: int | None) -> np.ndarray:
    """ReLU(sum_k w_k A_k) at input resolution, with ``weights(A, dA) -> (n, 1, 1, k)``."""
    import tensorflow as tf

    s, x, classes = _prepare(model, images, class_ids)
    fn = s.compiled(activations_and_gradients, s.with_layer(layer or find_last_conv_layer(model)), s.head)
    out = np.empty(x.shape[:3], np.float32)
    for batch in _batches(len(x), _auto_batch(batch_size, x)):
        acts, grads = fn(x[batch], classes[batch])
        cam = tf.nn.relu(tf.reduce_sum(weights(acts, grads) * acts, axis=-1, keepdims=True))
        out[batch] = tf.image.resize(cam, x.shape[1:3], method="bilinear")[..., 0].numpy()
    return np.maximum(out, 0.0)


def grad_cam_weights(acts, grads):
    """Grad-CAM (Selvaraju et al. 2017): w_k = the spatial mean of d score / d A_k. (n, 1, 1, k)."""
    import tensorflow as tf

    return tf.reduce_mean(grads, axis=(1, 2), keepdims=True)


def grad_cam_plus_plus_weights(acts, grads):
    """Grad-CAM++ (Chattopadhyay et al. 2018): w_k = sum_ij alpha_ij ReLU(g_ij), with the
    pixel-wise alpha = g^2 / (2 g^2 + sum_ab A_ab g^3) of an exponential score. (n, 1, 1, k)."""
    import tensorflow as tf

    g2, g3 = grads ** 2, grads ** 3
    denom = 2.0 * g2 + tf.reduce_sum(acts, axis=(1, 2), keepdims=True) * g3
    alpha = g2 / tf.where(denom != 0.0, denom, tf.ones_like(denom))
    return tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2), keepdims=True)


def grad_cam(model: Any, images: Any, class_ids: Any, layer: str | None = None,
             plus_plus: bool = False, batch_size: int | None = None) -> np.ndarray:
    """Grad-CAM: ReLU(sum_k w_k A_k) with w_k the spatial mean of d score / d A_k.

    layer: name of a layer with a 4-D output; default :func:`find_last_conv_layer`.
    plus_plus: the same as :func:`grad_cam_plus_plus` (kept for existing calls).
    The (h, w) map is resized bilinearly to the input size. Returns (N, H, W) float32 >= 0.
    """
    weights = grad_cam_plus_plus_weights if plus_plus else grad_cam_weights
    return _cam(model, images, class_ids, layer, weights, batch_size)


def grad_cam_plus_plus(model: Any, images: Any, class_ids: Any, layer: str | None = None,
                       batch_size: int | None = None) -> np.ndarray:
    """Grad-CAM++: Grad-CAM with pixel-wise weights (:func:`grad_cam_plus_plus_weights`).

    Same arguments and result as :func:`grad_cam`: (N, H, W) float32 >= 0.
    """
    return _cam(model, images, class_ids, layer, grad_cam_plus_plus_weights, batch_size)
