"""Occlusion sensitivity (Zeiler & Fergus 2014): cover part of the image, see the score drop.

No gradient at all: only forward passes, hundreds of them, so every (image, square)
pair goes through the network in full batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiffel_lib.saliency.scorer import _auto_batch, _batches, _prepare


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

    s, x, c = _prepare(model, images, class_ids)
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
