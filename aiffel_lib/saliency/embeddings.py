"""What the layers see: first-layer filters and last-layer features (CS231n lecture 12, part 1 and 6).

:func:`first_layer_filters` for display; :func:`penultimate_features` (the vector the
classifier sees), :func:`nearest_neighbours` in that space and :func:`embed_2d` to
plot it.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from aiffel_lib.saliency.scorer import _auto_batch, _batches, _prepare

# model -> keras.Model from its input to its last Dense layer's input, built once per model.
_PENULTIMATE: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _walk_layers(model: Any):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _walk_layers(layer)
        else:
            yield layer


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


def _penultimate_model(model: Any):
    """``x -> what the last Dense layer (the classifier) sees``, as a Keras model."""
    if model not in _PENULTIMATE:
        import keras

        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        if not dense:
            raise ValueError("the model has no Dense layer: no penultimate features to take")
        _PENULTIMATE[model] = keras.Model(model.inputs[0], dense[-1].input)
    return _PENULTIMATE[model]


def penultimate_features(model: Any, images: Any, batch_size: int | None = None) -> np.ndarray:
    """The vector the classifier's last Dense layer sees (after global pooling), one per image.

    CS231n's "last layer" features: nearest neighbours in this space are
    semantically close even when the pixels are not. Returns (N, D) float32.
    """
    _, x, _ = _prepare(model, images)
    features = _penultimate_model(model)
    parts = [np.asarray(features(x[sl], training=False))
             for sl in _batches(len(x), _auto_batch(batch_size, x, forward_only=True))]
    f = np.concatenate(parts).astype(np.float32)
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
