"""Model-parameter randomisation (Adebayo et al. 2018): does a map change when the model does?

Re-initialise the top layers (:func:`randomize_top_layers`), compute the maps again
and compare their rank order with the trained network's (:func:`spearman`). A map that
barely changes does not explain the classifier (:data:`RANDOMIZATION_THRESHOLD`).
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple

import numpy as np

from aiffel_lib.saliency.methods import MAP_METHODS, compute_maps

#: Spearman rank correlation a map method must stay *below* between the trained network
#: and the same network with its top layers re-initialised. rho = 0.5 leaves a quarter of
#: the rank variance shared (rho**2 = 0.25): the map must have lost most of its ordering
#: when the classifier it claims to explain is gone. A map of the input alone (the
#: edge detector, Adebayo et al.'s warning) scores exactly 1.0 and fails.
RANDOMIZATION_THRESHOLD = 0.5


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
                        methods: Iterable[str] = MAP_METHODS, seed: int = 0, trained: dict | None = None,
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
