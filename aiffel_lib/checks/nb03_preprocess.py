"""Notebook 03's check: the classifier's preprocessing (central crop, resize, scale).

The outcome is compared, not the code: the learner's input is turned back into pixel levels
(``x * std + mean``) and aligned with crops of the photo, so a crop side rounded with int()
instead of round(), a centre rounded the other way or another resize interpolation passes,
while a squashed photo, a crop of another size or an off-centre crop is named as such.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from aiffel_lib.checks._core import Notes, Verdict, _call, _Mistake, _numeric_array, _verdict

#: After alignment, the mean |difference| from an INTER_AREA resize of the same crop, in pixel
#: levels of 0..255. Measured on the check's photos: INTER_LINEAR 0.5-0.8, PIL bilinear 0.4-0.6,
#: INTER_CUBIC 1.0-1.6, INTER_LANCZOS4 1.2-1.8; INTER_NEAREST 3.0-6.4 and a 1-pixel shift of the
#: crop 2.6-8.1 lie above it.
PIXEL_BOUND = 2.5
#: How far (pixels of the photo) the crop's side and corner may be from the reference.
CROP_SLACK = 1
PHOTOS = ("chelsea", "rocket", "coffee")
_TORCH_MEAN, _TORCH_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _render(img: np.ndarray, side: int, y0: int, x0: int, size: int, interpolation: int | None = None) -> np.ndarray:
    import cv2

    crop = img[y0:y0 + side, x0:x0 + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if interpolation is None else interpolation
                      ).astype(np.float32)


def _error(levels: np.ndarray, render: np.ndarray) -> float:
    return float(np.abs(levels - render).mean())


def _best_crop(levels: np.ndarray, img: np.ndarray, size: int, sides, corner) -> tuple[float, tuple[int, int, int]]:
    """The square crop (side, y0, x0) among the candidates that best explains ``levels``."""
    h, w = img.shape[:2]
    best = (np.inf, (0, 0, 0))
    for side in sides:
        if not 1 <= side <= min(h, w):
            continue
        for y0, x0 in corner(side):
            if 0 <= y0 <= h - side and 0 <= x0 <= w - side:
                err = _error(levels, _render(img, side, y0, x0, size))
                if err < best[0]:
                    best = (err, (side, y0, x0))
    return best


def check_preprocess(preprocess: Callable, classifier: Any) -> Verdict:
    """``preprocess(image_rgb) -> (224, 224, 3) float32``: the central square of
    ``classifier.crop_fraction`` x the shorter side, resized to the input size, scaled as
    ``(pixel - mean) / std``; compared with ``classifier.preprocess`` on three real photos of
    different shapes. Passes when the crop's side and corner are within 1 pixel of the
    reference and the pixels, after alignment, differ from an INTER_AREA resize by at most
    2.5 levels of 255 on average (any common interpolation)."""
    from aiffel_lib.photos import load_photo

    def body(notes: Notes) -> int:
        size = classifier.input_size
        for name in PHOTOS:
            img = load_photo(name)
            got = _call(preprocess, img.copy(), what=f"preprocess({name})")
            ref = np.asarray(classifier.preprocess(img))
            arr = _numeric_array(got, f"preprocess({name})")
            _check_shape(arr, ref.shape, name, size)
            if not np.issubdtype(arr.dtype, np.floating):
                raise _Mistake(f"preprocess({name}) returns {arr.dtype} pixels: the network takes scaled float32",
                               f"(image.astype(np.float32) - {classifier.mean:g}) / {classifier.std:g}")
            if arr.dtype != np.float32:
                notes.append(f"your input is {arr.dtype}; the model computes in float32 and converts it "
                             "(float32 is what it expects, at half the memory of float64)")
            _check_scale(arr.astype(np.float64), img, classifier, name)
            levels = arr.astype(np.float32) * np.float32(classifier.std) + np.float32(classifier.mean)
            _check_crop(levels, img, classifier, name, notes)
        return len(PHOTOS)

    return _verdict("preprocess", body)


def _check_shape(arr: np.ndarray, want: tuple, name: str, size: int) -> None:
    if arr.shape == want:
        return
    if arr.ndim == 4 and arr.shape[1:] == want:
        raise _Mistake(f"preprocess returned a batch {arr.shape}; return one image {want}",
                       "drop the batch axis (or np.expand_dims): the notebook stacks images itself")
    if arr.shape == (want[2], want[0], want[1]):
        raise _Mistake(f"preprocess({name}) is channels-first {arr.shape}; Keras takes {want} (channels last)",
                       "do not transpose the image")
    raise _Mistake(f"preprocess({name}) has shape {arr.shape}, expected {want}",
                   f"crop the central square, then resize to {size}x{size}")


def _check_scale(x: np.ndarray, img: np.ndarray, classifier: Any, name: str) -> None:
    lo, hi = float(x.min()), float(x.max())
    scale = f"(pixel - {classifier.mean:g}) / {classifier.std:g}"
    if lo >= 0 and hi > 2:
        raise _Mistake(f"values run {lo:.1f}..{hi:.1f}: the pixels were not scaled",
                       f"the network was trained on {scale}")
    if lo >= 0 and hi <= 1:
        raise _Mistake(f"values run {lo:.2f}..{hi:.2f} (0..1), the network expects about -1..1",
                       f"use {scale}")
    crop = np.asarray(classifier.crop(img), dtype=np.float64)
    if np.abs(x - (crop / 255 - _TORCH_MEAN) / _TORCH_STD).mean() < 0.05:
        raise _Mistake("the values use the ImageNet mean/std of PyTorch models; this network was trained "
                       f"with {scale}", f"use {scale}")
    levels = x * classifier.std + classifier.mean
    if levels.min() < -40 or levels.max() > 295:
        raise _Mistake(f"values run {lo:.2f}..{hi:.2f}; {scale} of 0..255 pixels runs "
                       f"{-classifier.mean / classifier.std:.2f}..{(255 - classifier.mean) / classifier.std:.2f}",
                       f"use {scale}")


def _check_crop(levels: np.ndarray, img: np.ndarray, classifier: Any, name: str, notes: Notes) -> None:
    import cv2

    size, h, w = classifier.input_size, *img.shape[:2]
    short = min(h, w)
    side0 = max(1, int(round(classifier.crop_fraction * short)))
    ref = (side0, (h - side0) // 2, (w - side0) // 2)
    near = range(-CROP_SLACK - 1, CROP_SLACK + 2)

    def around(side):
        cy, cx = (h - side) // 2, (w - side) // 2
        return [(cy + dy, cx + dx) for dy in near for dx in near]

    err, found = _best_crop(levels, img, size, [side0 + d for d in near], around)
    swapped, _ = _best_crop(levels[..., ::-1], img, size, [side0], around)
    if swapped < min(err, PIXEL_BOUND) and swapped < 0.5 * err:
        raise _Mistake(f"{name}: red and blue are swapped", "the classifier takes RGB as loaded; do not convert to BGR")
    off = max(abs(a - b) for a, b in zip(found, ref))
    if err <= PIXEL_BOUND and off <= CROP_SLACK:
        if off:
            notes.append(f"{name}: your crop ({found[0]} px at row {found[1]}, column {found[2]}) is within "
                         f"a pixel of the reference ({ref[0]} px at row {ref[1]}, column {ref[2]})")
        return
    if off <= CROP_SLACK:
        nearest = min(_error(levels, _render(img, *g, size, interpolation=cv2.INTER_NEAREST)) for g in (ref, found))
        if nearest < 0.5:
            raise _Mistake(f"{name}: the resize uses INTER_NEAREST: it keeps single pixels and drops the rest "
                           f"(mean difference {err:.1f} levels from an area-averaging resize; bound {PIXEL_BOUND})",
                           "cv2.resize's default INTER_LINEAR, or INTER_AREA, averages neighbouring pixels")
        raise _Mistake(f"{name}: the crop is right, but the pixels differ from an INTER_AREA resize by "
                       f"{err:.1f} levels of 255 on average (bound {PIXEL_BOUND})",
                       "resize the crop with cv2.resize(square, (224, 224), interpolation=cv2.INTER_AREA)")
    if err <= PIXEL_BOUND:
        raise _Mistake(f"{name}: your crop is {found[0]} px at row {found[1]}, column {found[2]}; the reference is "
                       f"{ref[0]} px at row {ref[1]}, column {ref[2]} (round({classifier.crop_fraction} x {short}), "
                       "centred)", "side = round(crop_fraction * min(h, w)); y0, x0 = (h - side) // 2, (w - side) // 2")
    _name_crop_mistake(levels, img, classifier, name, ref, err)


def _name_crop_mistake(levels: np.ndarray, img: np.ndarray, classifier: Any, name: str,
                       ref: tuple[int, int, int], err: float) -> None:
    """The crop is not near the reference: say what it is instead (squashed, other size, off-centre),
    whichever explains the learner's pixels best and clearly better than the reference crop does."""
    import cv2

    size, h, w = classifier.input_size, *img.shape[:2]
    short, frac = min(h, w), classifier.crop_fraction
    squash_hint = (f"crop a SQUARE first: side = round({frac} x the shorter side), centred; then resize it. "
                   "Squashing a wide photo distorts the shapes the network learned")
    dy, dx = int((h - h * frac) / 2), int((w - w * frac) / 2)
    candidates: list[tuple[float, _Mistake]] = []
    for region, message in ((img, "the whole photo is squashed into the square"),
                            (img[dy:h - dy, dx:w - dx], f"the central {frac:g} of the height AND of the width is "
                             "squashed into the square (that crop is not square: tf.image.central_crop does that)")):
        render = cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
        candidates.append((_error(levels, render), _Mistake(f"{name}: {message}", squash_hint)))
    side_err, (side, _, _) = _best_crop(levels, img, size, range(max(8, short // 3), short + 1),
                                        lambda s: [((h - s) // 2, (w - s) // 2)])
    candidates.append((side_err, _Mistake(
        f"{name}: your crop is {side / short:.0%} of the shorter side ({side} px); the network was trained on the "
        f"central {frac:.1%} ({ref[0]} px)", f"side = round(clf.crop_fraction * min(h, w)) with crop_fraction = {frac}")))
    corner_err, _ = _best_crop(levels, img, size, [ref[0], short], lambda s: [(0, 0)])
    candidates.append((corner_err, _Mistake(f"{name}: your crop starts at the top-left corner; it should be centred",
                                            "y0, x0 = (h - side) // 2, (w - side) // 2")))
    best_err, mistake = min(candidates, key=lambda c: c[0])
    if best_err < 0.5 * err:
        raise mistake
    raise _Mistake(f"{name}: differs from the classifier's preprocessing by {err:.1f} levels of 255 on average "
                   "(no centred square crop explains it)",
                   f"crop the central square ({frac} x the shorter side), resize it to {size}x{size}, "
                   f"then scale with (pixel - {classifier.mean:g}) / {classifier.std:g}")
