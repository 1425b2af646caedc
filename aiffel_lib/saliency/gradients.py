"""Gradient maps: how much each pixel moves the class score.

Read from the top: :func:`class_score_gradients` is the whole GradientTape (CS231n's
saliency in five lines); :func:`vanilla_saliency` takes its absolute value, max over
colour channels; :func:`smoothgrad` and :func:`integrated_gradients` average it over
many images made from each input (noisy copies, points on a path).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiffel_lib.saliency.scorer import _auto_batch, _batches, _prepare, _Scorer


def class_score_gradients(scores, images, class_ids):
    """d scores(images)[i, class_ids[i]] / d images[i] for a batch, as a tensor.

    scores: ``x -> (n, classes)`` pre-softmax scores; images: (n, H, W, C) float32 tensor;
    class_ids: (n,) int32. Returns (n, H, W, C) float32, the same shape as ``images``.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(images)  # pixels are not variables: the tape follows only what it is told to
        picked = tf.gather(scores(images), class_ids, axis=1, batch_dims=1)  # (n,): image i's own class
    # One gradient for the whole batch is exact: image i's score depends only on image i
    # (inference mode, so batch norm uses its moving statistics).
    return tape.gradient(picked, images)


def _gradients(s: _Scorer, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """:func:`class_score_gradients` of one batch, compiled once per model: (n, H, W, C) float32."""
    return s.compiled(class_score_gradients, s.forward)(x, classes).numpy()


def input_gradients(model: Any, images: Any, class_ids: Any, batch_size: int | None = None) -> np.ndarray:
    """Signed gradient of each image's pre-softmax class score with respect to its pixels.

    images: (N, H, W, C) float32 as the model takes them; class_ids: int or (N,) ints.
    Returns (N, H, W, C) float32 (the raw material of every gradient map).
    """
    s, x, classes = _prepare(model, images, class_ids)
    out = np.empty(x.shape, np.float32)
    for batch in _batches(len(x), _auto_batch(batch_size, x)):
        out[batch] = _gradients(s, x[batch], classes[batch])
    return out


def vanilla_saliency(model: Any, images: Any, class_ids: Any, batch_size: int | None = None) -> np.ndarray:
    """CS231n saliency: ``|d score_c / d x|``, max over colour channels.

    model: Keras classifier; images: (N, H, W, C) float32 as the model takes them;
    class_ids: int or (N,) ints. Returns (N, H, W) float32 >= 0.
    """
    return np.abs(input_gradients(model, images, class_ids, batch_size)).max(axis=-1)


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
    (default: about a million input values per call), not one image at a time.
    Returns (N, H, W) float32 >= 0.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 noisy copies, got {n}")
    s, x, classes = _prepare(model, images, class_ids)
    rng = np.random.default_rng(seed)
    scale = _noise_scale(x, sigma)
    # Flatten (image, copy) pairs into one long batch so every forward pass is full.
    idx = np.repeat(np.arange(len(x)), n)
    total = np.zeros(x.shape, np.float32)
    for batch in _batches(len(idx), _auto_batch(batch_size, x)):
        which = idx[batch]
        noisy = x[which] + rng.standard_normal(x[which].shape, dtype=np.float32) * scale[which, None, None, None]
        g = _gradients(s, noisy, classes[which])
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
    s, x, classes = _prepare(model, images, class_ids)
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
    for batch in _batches(len(which), _auto_batch(batch_size, x)):
        path = base[None] + a[batch, None, None, None] * delta[which[batch]]
        g = _gradients(s, path, classes[which[batch]])
        _sum_rows_into(avg, which[batch], g * wt[batch, None, None, None])
    attr = (delta * avg).sum(axis=-1)
    return (attr if signed else np.abs(attr)).astype(np.float32)
