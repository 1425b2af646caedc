"""Notebook 01's check: the blue range, the mask and the masked frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from aiffel_lib.checks._core import Notes, Verdict, _Mistake, _verdict

COURSE_RANGE = (np.array([110, 50, 50]), np.array([130, 255, 255]))
PURE_BLUE = np.array([120, 255, 255])  # BGR (255, 0, 0) in OpenCV's HSV
# Colours a blue range must leave out (OpenCV HSV: H 0-179, S and V 0-255).
NOT_BLUE = {
    "cyan": (90, 255, 255), "magenta": (150, 255, 255), "green": (60, 255, 255), "red": (0, 255, 255),
    "yellow": (30, 255, 255), "white": (0, 0, 255), "gray": (0, 0, 128), "black": (0, 0, 0),
    "a bluish gray (S 10)": (120, 10, 200), "an almost black blue (V 10)": (120, 255, 10),
}


def _bounds(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise _Mistake(f"{name} should be three numbers (H, S, V), got {type(value).__name__}",
                       "for example np.array([110, 50, 50])") from None
    if arr.size != 3:
        raise _Mistake(f"{name} has {arr.size} numbers; a range bound needs three numbers: (H, S, V)",
                       "for example np.array([110, 50, 50])")
    return arr


def _in_range(hsv: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """uint8 0/255 mask, inclusive bounds as cv2.inRange (bounds beyond 0..255 act like the ends)."""
    inside = np.all((hsv >= lo) & (hsv <= hi), axis=-1)
    return inside.astype(np.uint8) * 255


def _check_range(lo: np.ndarray, hi: np.ndarray) -> None:
    def holds(hsv) -> bool:
        return bool(np.all(lo <= np.asarray(hsv)) and np.all(np.asarray(hsv) <= hi))

    if lo[0] > 179 or (hi[0] > 180 and not holds(PURE_BLUE)):
        raise _Mistake(f"hue {int(max(lo[0], hi[0]))} is outside OpenCV's hue scale 0-179: it looks like degrees",
                       "OpenCV stores hue as degrees / 2: blue (240 degrees) is H = 120")
    if np.all(lo > hi):
        raise _Mistake("lower_blue and upper_blue are swapped: every lower number is above the upper one",
                       "lower holds the minimum of each channel, upper the maximum")
    flipped = [c for c, a, b in zip("HSV", lo, hi) if a > b]
    if flipped:
        raise _Mistake(f"lower_blue is above upper_blue in {', '.join(flipped)}, so nothing can match",
                       "lower holds the minimum of each channel, upper the maximum")
    if not holds(PURE_BLUE):
        out = [f"{c} = {int(v)}" for c, v, a, b in zip("HSV", PURE_BLUE, lo, hi) if not a <= v <= b]
        raise _Mistake(f"pure blue is HSV (120, 255, 255); your range leaves it out ({', '.join(out)} "
                       "is outside your bounds)", "the course's range is [110, 50, 50] .. [130, 255, 255]")
    kept = [name for name, hsv in NOT_BLUE.items() if holds(hsv)]
    if kept:
        name = kept[0]
        why = {"a bluish gray (S 10)": "raise the lower S: below about 50 a pixel is almost gray and its hue "
                                       "means little",
               "an almost black blue (V 10)": "raise the lower V: in near-black pixels the hue is noise"}
        raise _Mistake(f"your range also keeps {', '.join(kept)}: HSV {NOT_BLUE[name]} is inside it",
                       why.get(name, "narrow the hue: blue is about 110-130 in OpenCV's 0-179 scale"))


def check_blue_mask(lower_blue: Any, upper_blue: Any, mask: Any, res: Any, frame: np.ndarray) -> Verdict:
    """The blue range in OpenCV's HSV (H 0-179): it must hold pure blue and leave out the other
    hues, grays and near-black; ``mask`` must be what cv2.inRange gives on the HSV frame with that
    range (uint8, 0 or 255, one channel), and ``res`` what cv2.bitwise_and(frame, frame, mask=mask)
    gives. Any code with those outcomes passes (bounds like 256 or 180 that select the same pixels,
    NumPy instead of OpenCV, another blue range than the course's)."""
    import cv2

    def body(notes: Notes) -> int:
        if lower_blue is None or upper_blue is None:
            raise _Mistake("lower_blue / upper_blue are not set yet", "fill in the two np.array([...]) ranges")
        lo, hi = _bounds(lower_blue, "lower_blue"), _bounds(upper_blue, "upper_blue")
        _check_range(lo, hi)
        hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
        ref_mask = _in_range(hsv, lo, hi)
        if np.any(hi > [179, 255, 255]) or np.any(lo < 0):
            notes.append("a bound beyond the scale (H 0-179, S and V 0-255) selects the same pixels as the "
                         "end of the scale, so your mask is the same")
        if not (np.array_equal(lo, COURSE_RANGE[0]) and np.array_equal(hi, COURSE_RANGE[1])):
            course = _in_range(hsv, *COURSE_RANGE)
            notes.append(f"your range differs from the course's [110, 50, 50] .. [130, 255, 255]: it keeps "
                         f"{(ref_mask > 0).mean():.1%} of this frame, the course's {(course > 0).mean():.1%}")
        ref_mask = _check_mask(mask, ref_mask, frame, hsv, lo, hi)
        _check_res(res, ref_mask, frame, hsv)
        return 4

    return _verdict("blue mask", body)


def _expect_image(value: Any, name: str, how: str) -> None:
    if value is None:
        raise _Mistake(f"{name} is not computed yet", how)
    if not isinstance(value, np.ndarray):
        raise _Mistake(f"{name} should be a NumPy array (an image), got {type(value).__name__}", how)


def _check_mask(mask: Any, ref_mask: np.ndarray, frame: np.ndarray, hsv: np.ndarray,
                lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Raise the mask's mistake, if any; return the reference mask it matches."""
    import cv2

    _expect_image(mask, "mask", "mask = cv2.inRange(hsv, lower_blue, upper_blue)")
    if mask.shape != ref_mask.shape:
        if mask.shape == frame.shape:
            raise _Mistake(f"mask has 3 channels {mask.shape}; a mask has one value per pixel {ref_mask.shape}",
                           "cv2.inRange checks all three channels at once and returns one channel")
        raise _Mistake(f"mask has shape {mask.shape}, expected {ref_mask.shape} (one value per pixel of the frame)")
    # cv2.inRange rounds fractional bounds; NumPy comparisons do not: either is right.
    opencv = cv2.inRange(hsv, np.clip(lo, 0, 255), np.clip(hi, 0, 255))
    if np.array_equal(mask != 0, opencv != 0):
        ref_mask = opencv
    same_pixels = np.array_equal(mask != 0, ref_mask != 0)
    if mask.dtype == bool:
        raise _Mistake("mask is a True/False array" + (" (the right pixels)" if same_pixels else "") +
                       "; OpenCV masks are uint8 images with 0 and 255: cv2.bitwise_and(..., mask=mask) "
                       "rejects bool and cv2.imshow cannot show it",
                       "use cv2.inRange, or convert: mask = mask.astype(np.uint8) * 255")
    if same_pixels and mask.dtype != np.uint8:
        raise _Mistake(f"mask marks the right pixels but is {mask.dtype}; OpenCV masks are uint8 "
                       "(cv2.bitwise_and(..., mask=mask) rejects other types)", "mask = mask.astype(np.uint8)")
    if same_pixels and not np.array_equal(mask, ref_mask):
        values = np.unique(mask)
        raise _Mistake(f"mask marks the right pixels but holds the values {values[:4].tolist()}; cv2.inRange "
                       "gives 0 and 255 (white), so the mask can be shown as an image",
                       "mask = cv2.inRange(hsv, lower_blue, upper_blue), or (condition).astype(np.uint8) * 255")
    if same_pixels:
        return ref_mask
    if np.array_equal(mask != 0, ref_mask == 0):
        raise _Mistake("mask is inverted: it marks every pixel that is NOT blue",
                       "cv2.inRange gives 255 inside the range; drop the cv2.bitwise_not / ~")
    suspects = {
        "the mask was computed from an RGB conversion (cv2.COLOR_RGB2HSV), but OpenCV frames are BGR":
            cv2.cvtColor(frame, cv2.COLOR_RGB2HSV),
        "the mask was computed with cv2.COLOR_BGR2HSV_FULL, whose hue runs 0-255 (degrees x 255/360) "
        "instead of OpenCV's 0-179 that your range is written in": cv2.cvtColor(frame, cv2.COLOR_BGR2HSV_FULL),
        "the mask was computed with cv2.COLOR_RGB2HSV_FULL: the channels are read as RGB and the hue runs "
        "0-255 instead of 0-179": cv2.cvtColor(frame, cv2.COLOR_RGB2HSV_FULL),
        "the mask thresholds the BGR frame itself, not its HSV version": frame,
        "the mask was computed in HLS (cv2.COLOR_BGR2HLS), whose channels are H, L, S":
            cv2.cvtColor(frame, cv2.COLOR_BGR2HLS),
    }
    for message, image in suspects.items():
        if np.array_equal(mask != 0, _in_range(image, lo, hi) != 0):
            raise _Mistake(message, "hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV); "
                                    "mask = cv2.inRange(hsv, lower_blue, upper_blue)")
    if np.array_equal(mask != 0, _in_range(hsv, *COURSE_RANGE) != 0):
        raise _Mistake("mask uses the course's range, not your lower_blue / upper_blue",
                       "pass your two bounds to cv2.inRange")
    wrong = np.argwhere((mask != 0) != (ref_mask != 0))
    r, c = wrong[0]
    raise _Mistake(f"mask differs from cv2.inRange(hsv, lower_blue, upper_blue) at {len(wrong)} of "
                   f"{mask.size} pixels, e.g. row {r}, column {c} (HSV {tuple(int(v) for v in hsv[r, c])}): "
                   f"yours {int(mask[r, c])}, expected {int(ref_mask[r, c])}",
                   "threshold hsv (not frame) with your two bounds")


def _check_res(res: Any, ref_mask: np.ndarray, frame: np.ndarray, hsv: np.ndarray) -> None:
    import cv2

    _expect_image(res, "res", "res = cv2.bitwise_and(frame, frame, mask=mask)")
    ref = cv2.bitwise_and(frame, frame, mask=ref_mask)
    if res.shape != ref.shape:
        if res.shape == ref_mask.shape:
            raise _Mistake(f"res has the mask's shape {res.shape}; res is the frame with only the blue "
                           f"pixels kept, {ref.shape}", "res = cv2.bitwise_and(frame, frame, mask=mask)")
        raise _Mistake(f"res has shape {res.shape}, expected the frame's {ref.shape}")
    if np.array_equal(res, ref):
        if res.dtype != np.uint8:
            raise _Mistake(f"res has the right values but is {res.dtype}; an image of 0..255 should stay "
                           "uint8 (plt.imshow shows floats above 1 as white, cv2.imshow expects uint8)",
                           "res = cv2.bitwise_and(frame, frame, mask=mask), or .astype(np.uint8)")
        return
    known = {
        "res is the whole frame: the mask was not applied": frame,
        "res is the masked HSV image; keep the pixels of the BGR frame": cv2.bitwise_and(hsv, hsv, mask=ref_mask),
        "res has red and blue swapped": ref[..., ::-1],
        "res keeps the pixels outside the mask (the mask is inverted)":
            cv2.bitwise_and(frame, frame, mask=255 - ref_mask),
    }
    for message, image in known.items():
        if np.array_equal(res, image):
            raise _Mistake(message, "res = cv2.bitwise_and(frame, frame, mask=mask)")
    diff = np.argwhere(np.any(res != ref, axis=-1))
    r, c = diff[0]
    raise _Mistake(f"res differs from cv2.bitwise_and(frame, frame, mask=mask) at {len(diff)} pixels, e.g. "
                   f"row {r}, column {c}: yours {res[r, c].tolist()}, expected {ref[r, c].tolist()}",
                   "keep the frame's pixel where the mask is 255 and black (0) elsewhere")
