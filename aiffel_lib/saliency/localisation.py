"""Localisation: does a map point at what carries the answer in *this* image?

The pointing game (Zhang et al. 2016: is the map's peak inside the object's mask?) and
the map's mass inside the mask, each against two baselines: the mask's area (a random
point) and another image's masks (a map that only knows where such regions usually are).
"""

from __future__ import annotations

import numpy as np

#: Localisation verdict: the pointing game must hit the masks at least this many times
#: their area (chance) ...
LOCALISATION_CHANCE_FACTOR = 3.0
#: ... and hit its own image's masks this much more often than another image's (12 of
#: 120 faces): the map follows *this* face, not where such regions usually are.
LOCALISATION_MIN_GAIN = 0.1
#: ... and the map's mass inside the masks must be at least this many times their area.
LOCALISATION_MASS_FACTOR = 1.5


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


def peak(maps: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) of each map's peak, as :func:`pointing_game` chooses it."""
    m = np.asarray(maps)
    return [tuple(int(v) for v in np.unravel_index(i, m.shape[1:])) for i in _peak_indices(m)]


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


def centre_prior(n: int, height: int, width: int, sigma: float | None = None) -> np.ndarray:
    """A "map" that always looks at the middle: (n, height, width) float32 Gaussian bumps.

    The pointing game's classic baseline (Zhang et al. 2016): it knows nothing about the
    image, only where objects usually are. sigma: default a sixth of the smaller side.
    """
    sigma = min(height, width) / 6.0 if sigma is None else sigma
    yy, xx = np.mgrid[:height, :width]
    bump = np.exp(-((yy - (height - 1) / 2) ** 2 + (xx - (width - 1) / 2) ** 2) / (2 * sigma ** 2))
    return np.repeat(bump[None].astype(np.float32), n, axis=0)


def localisation_passed(score: dict[str, float]) -> bool:
    """The localisation verdict for one method's :func:`localisation_scores` entry."""
    return (score["pointing"] >= LOCALISATION_CHANCE_FACTOR * score["area"]
            and score["pointing"] - score["pointing_other"] >= LOCALISATION_MIN_GAIN)


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
