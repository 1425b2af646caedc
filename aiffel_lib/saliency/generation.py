"""Images made by gradient ascent on a class score (CS231n assignment 3).

- :func:`class_visualization`: from noise to a picture the network calls class c;
  each step is :func:`class_visualization_update_step` (or yours, ``step=``).
- :func:`fooling_image`: from a photo to a near-copy the network calls class c;
  each step is :func:`fooling_step` (or yours, ``step=``).
- :func:`top1_under_views`: does a generated image keep its class when blurred or halved?
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from aiffel_lib.saliency.gradients import _gradients
from aiffel_lib.saliency.scorer import _prepare, _scorer, score_function


def _gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect").astype(np.float32)


def class_visualization_update_step(image: np.ndarray, grad: np.ndarray, l2_reg: float,
                                    learning_rate: float) -> np.ndarray:
    """One step up ``score_c(image) - l2_reg * ||image||^2``, of length ``learning_rate``.

    image: the current image, centred (the middle of the model's input range subtracted,
    so the L2 penalty pulls it towards grey); grad: d score_c / d image, same shape.
    Returns ``image + learning_rate * d / ||d||_2`` with ``d = grad - 2 * l2_reg * image``
    (the penalty's gradient added): float32 arrays of one shape.
    """
    d = grad - 2.0 * l2_reg * image
    return image + learning_rate * d / (np.linalg.norm(d) + 1e-12)


def class_visualization(model: Any, class_id: int, *, value_range: tuple[float, float] = (-1.0, 1.0),
                        iterations: int = 100, lr: float = 25.0, l2_reg: float = 1e-3,
                        max_jitter: int = 16, blur_every: int = 10, blur_sigma: float = 0.5,
                        init_range: float = 1.0, scale_jitter: float = 0.0, max_rotation: float = 0.0,
                        seed: int = 0, return_history: int = 0,
                        step: Callable[..., np.ndarray] | None = None) -> np.ndarray | tuple[np.ndarray, list]:
    """Class model visualisation by gradient ascent (Simonyan et al. 2014; CS231n assignment 3).

    Starts from uniform noise and repeats ``iterations`` times: roll the image by a
    random jitter of at most ``max_jitter`` px, take the gradient of the class score,
    roll it back, take one ``step`` up ``score_c(x) - l2_reg * ||x - centre||^2`` of
    length ``lr``, clip to ``value_range`` (the model's preprocessed input range;
    centre = its middle) and every ``blur_every`` iterations blur with a Gaussian of
    ``blur_sigma`` px. The defaults are the assignment's.

    step: ``f(image, grad, l2_reg, learning_rate) -> new image`` on the centred image
    (default :func:`class_visualization_update_step`; notebook 06's exercise passes the
    learner's).

    What makes modern networks (batch norm, depthwise convolutions) give recognisable
    pictures instead of high-frequency patterns (notebook 06 shows both):
    init_range: start from noise over this fraction of the range around the centre
        (1.0 = the whole range, as the assignment).
    scale_jitter, max_rotation: besides the shift, zoom by a random factor in
        ``1 +- scale_jitter`` and rotate by up to ``max_rotation`` degrees before each
        gradient (which is warped back): the picture must work from slightly different
        views, which a pixel-level pattern does not.
    return_history: also return the image every k iterations (a list) if k > 0.
    Returns (H, W, C) float32 in the model's input space (see ``deprocess``).
    """
    import cv2

    s = _scorer(model)
    lo, hi = value_range
    centre = (lo + hi) / 2.0
    shape = s.input_shape[1:]
    if any(v is None for v in shape):
        raise ValueError("the model has no fixed input size: class_visualization needs one")
    h, w, _ = shape
    move = step or class_visualization_update_step
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
        g = _gradients(s, view[None], cls)[0]
        if warp is not None:  # back to the unwarped image's pixels
            g = cv2.warpAffine(g, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(shape)
        g = np.roll(g, (-oy, -ox), axis=(0, 1))
        x = np.clip(centre + np.asarray(move(x - centre, g, l2_reg, lr)), lo, hi).astype(np.float32)
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
    s, x, cls = _prepare(model, np.asarray(image)[None], target_class)
    x = x.copy()
    move = step or fooling_step
    for n_steps in range(max_steps + 1):
        scores = s.scores(x).numpy()[0]
        if int(scores.argmax()) == target_class:
            return FoolingResult(x[0], n_steps)
        if n_steps == max_steps:
            break
        x = np.asarray(move(x, _gradients(s, x, cls), lr), np.float32)
        if value_range is not None:
            x = np.clip(x, *value_range)
    raise RuntimeError(f"still not class {target_class} after {max_steps} steps "
                       f"(argmax {int(scores.argmax())}): raise max_steps or lr")
