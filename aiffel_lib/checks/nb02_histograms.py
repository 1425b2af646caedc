"""Notebook 02's checks: get_histogram, build_histogram_db, search, show_result.

The reference is OpenCV itself (cv2.calcHist, cv2.normalize, cv2.compareHist), computed here
rather than borrowed from aiffel_lib.histsearch, so the checks stay independent of the package.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import numpy as np

from aiffel_lib.checks._core import Notes, Verdict, _call, _Mistake, _numeric_array, _verdict

BINS = 4


def _sample_bgr_images() -> dict[str, np.ndarray]:
    """Small known BGR test images: real photo crops plus a black and a pure-blue image."""
    import cv2

    from aiffel_lib.photos import load_photo

    out = {}
    for name in ("chelsea", "coffee", "rocket"):
        out[f"{name}.png"] = cv2.resize(load_photo(name, "bgr"), (32, 32), interpolation=cv2.INTER_AREA)
    out["black.png"] = np.zeros((32, 32, 3), np.uint8)
    blue = np.zeros((32, 32, 3), np.uint8)
    blue[..., 0] = 255
    out["blue.png"] = blue
    return out


def _counts(image: np.ndarray, bins: int = BINS, upper: int = 256) -> np.ndarray:
    """(3 * bins, 1) float32 pixel counts per channel, in the image's channel order."""
    import cv2

    return np.concatenate([cv2.calcHist([image], [i], None, [bins], [0, upper]) for i in range(3)])


def course_histogram(image: np.ndarray) -> np.ndarray:
    """The course's get_histogram: (12, 1) float32, 4 bins per B, G, R channel over [0, 256), L2 norm 1."""
    import cv2

    h = _counts(image)
    return cv2.normalize(h, h)


# How a histogram can be scaled, and how to say it; the course's is the first (length 1).
_NORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "L2": (lambda h: h / np.linalg.norm(h), "length 1 (L2 norm, cv2.normalize's default)"),
    "L1": (lambda h: h / h.sum(), "values that sum to 1 (L1 norm: cv2.NORM_L1, or dividing by the sum)"),
    "max": (lambda h: h / h.max(), "a largest value of 1 (cv2.NORM_INF or cv2.NORM_MINMAX, or dividing by the maximum)"),
    "minmax": (lambda h: (h - h.min()) / (h.max() - h.min()), "values stretched to 0..1 (cv2.NORM_MINMAX)"),
    "channel L2": (lambda h: h / np.linalg.norm(h.reshape(3, -1), axis=1).repeat(h.size // 3),
                   "each channel scaled to length 1 on its own (the course scales the 12 values together)"),
    "pixels": (lambda h: h / (h.sum() / 3), "each channel divided by the number of pixels (each sums to 1)"),
    "counts": (lambda h: h, "pixel counts, not normalised"),
}


def _describe_histogram(flat: np.ndarray, image: np.ndarray) -> tuple[str, str] | None:
    """Which (pixels, scaling) the 12 values match: e.g. ("BGR", "L1"); None when nothing known."""
    import cv2

    sources = {"BGR": image, "RGB": np.ascontiguousarray(image[..., ::-1]),
               "HSV": cv2.cvtColor(image, cv2.COLOR_BGR2HSV)}
    for source, img in sources.items():
        for upper in (256, 255):
            raw = _counts(img, upper=upper).ravel().astype(np.float64)
            for norm, (scale, _) in _NORMS.items():
                with np.errstate(all="ignore"):
                    cand = scale(raw)
                if np.all(np.isfinite(cand)) and np.allclose(flat, cand, rtol=1e-4, atol=1e-5):
                    return source + ("" if upper == 256 else " 255"), norm
    return None


def check_get_histogram(get_histogram: Callable) -> Verdict:
    """``get_histogram(image) -> histogram``: 4-bin cv2.calcHist of the B, G and R channels over
    [0, 256), concatenated (12 values) and scaled to length 1 (L2), float32 so that
    cv2.compareHist takes it. Any code with that outcome passes (np.histogram, another shape
    holding the same 12 values in order)."""
    import cv2

    def body(notes: Notes) -> int:
        n = 0
        shapes = set()
        for name, img in _sample_bgr_images().items():
            got = _call(get_histogram, img.copy(), what=f"get_histogram({name})")
            if isinstance(got, (list, tuple)):
                raise _Mistake(f"get_histogram({name}) returned a {type(got).__name__}; the course's histogram "
                               "is one NumPy array of 12 values",
                               "join the three channel histograms with np.concatenate(histogram)")
            arr = _numeric_array(got, f"the histogram of {name}")
            flat = arr.astype(np.float64).ravel()
            if flat.size != 3 * BINS:
                bins = flat.size / 3
                hint = ("compute all three channels: channels=[i] for i in 0, 1, 2" if flat.size == BINS else
                        f"use histSize=[4] (you have {bins:g} bins per channel)" if bins.is_integer() else
                        "one 4-bin histogram per channel, concatenated: 3 x 4 = 12 values")
                raise _Mistake(f"the histogram of {name} has {flat.size} values, expected 12 (3 channels x 4 bins)",
                               hint)
            found = _describe_histogram(flat, img)
            if found != ("BGR", "L2"):
                raise _histogram_mistake(found, name, flat, course_histogram(img).ravel())
            if arr.dtype != np.float32:
                raise _Mistake(f"the histogram of {name} has the right values but is {arr.dtype}: "
                               "cv2.compareHist (the search below) accepts only float32",
                               "cv2.calcHist and cv2.normalize keep float32; or return histogram.astype(np.float32)")
            shapes.add(arr.shape)
            n += 1
        if shapes != {(12, 1)}:
            notes.append(f"your histogram has shape {sorted(shapes)[0]}; the course's is (12, 1), as np.concatenate "
                         "of three calcHist results gives. cv2.compareHist reads both the same way")
        return n

    return _verdict("get_histogram", body)


def _histogram_mistake(found: tuple[str, str] | None, name: str, flat: np.ndarray, ref: np.ndarray) -> _Mistake:
    if found is None:
        worst = int(np.argmax(np.abs(flat - ref)))
        return _Mistake(f"the histogram of {name} differs from the course's at value {worst}: "
                        f"{flat[worst]:.4f} instead of {ref[worst]:.4f}",
                        "calcHist(images=[image], channels=[i], mask=None, histSize=[4], ranges=[0, 256]) "
                        "for i = 0, 1, 2, then np.concatenate and cv2.normalize")
    source, norm = found
    if source == "RGB":
        return _Mistake(f"the channels of {name} come out in the wrong order (R, G, B)",
                        "OpenCV images are BGR: keep channel 0 (blue) first; do not convert to RGB")
    if source == "HSV":
        return _Mistake(f"the histogram of {name} is of the HSV image; the course counts the B, G, R values",
                        "pass the image itself to cv2.calcHist")
    if source.endswith(" 255"):
        return _Mistake(f"the histogram of {name} uses ranges=[0, 255]: the upper end is excluded, so pixels of "
                        "255 are not counted and the bins are not 64 values wide", "ranges=[0, 256]")
    return _Mistake(f"the histogram of {name} has {_NORMS[norm][1]}; the course scales it to "
                    f"{_NORMS['L2'][1]}",
                    "finish with histogram = cv2.normalize(histogram, histogram) (NORM_L2 by default)")


def check_build_histogram_db(build_histogram_db: Callable) -> Verdict:
    """``build_histogram_db(images_dir_path) -> {file name: histogram}`` on a small folder of
    known images: one entry per file, keyed by the file name (with extension), holding the
    course's histogram of the image as cv2.imread reads it (BGR)."""
    import cv2

    def body(notes: Notes) -> int:
        images = _sample_bgr_images()
        with tempfile.TemporaryDirectory(prefix="check-db-") as folder:
            for name, img in images.items():
                cv2.imwrite(os.path.join(folder, name), img)
            db = _call(build_histogram_db, folder, what="build_histogram_db(folder)")
        if not isinstance(db, dict):
            raise _Mistake(f"build_histogram_db should return a dict, got {type(db).__name__}",
                           "start with histogram_db = {} and fill histogram_db[file_name] = histogram")
        keys = list(db)
        if len(db) != len(images):
            hint = ("read the folder passed as the argument (the check gives its own small folder)"
                    if len(db) > len(images) else "loop over every file of os.listdir(images_dir_path)")
            raise _Mistake(f"the folder holds {len(images)} images but your dict has {len(db)} entries", hint)
        if set(map(str, keys)) != set(images) or not all(isinstance(k, str) for k in keys):
            example = keys[0]
            if all(os.path.basename(str(k)) in images for k in keys):
                what = ("Path objects" if not isinstance(example, str) else "full paths")
                raise _Mistake(f"the keys are {what} (e.g. {str(example)!r}); the course keys by file name, "
                               f"e.g. {sorted(images)[0]!r}", "use the name from os.listdir as the key")
            if {f"{k}.png" for k in map(str, keys)} == set(images):
                raise _Mistake(f"the keys drop the extension (e.g. {example!r}); the notebook looks images up "
                               f"by file name, e.g. {sorted(images)[0]!r}", "keep the name from os.listdir as it is")
            raise _Mistake(f"the keys should be the file names, e.g. {sorted(images)[0]!r}; got {example!r}",
                           "use the file name, not the full path or the image, as the key")
        learner_hist = getattr(build_histogram_db, "__globals__", {}).get("get_histogram")
        for name, img in images.items():
            value = db[name]
            if not isinstance(value, np.ndarray):
                raise _Mistake(f"the value stored for {name} is a {type(value).__name__}, not the histogram array",
                               "store what get_histogram returns: histogram_db[file_name] = get_histogram(image)")
            got = value.astype(np.float64).ravel()
            if got.size == 12 and np.allclose(got, course_histogram(img).ravel(), atol=1e-5):
                if value.dtype != np.float32:
                    raise _Mistake(f"the histogram stored for {name} is {value.dtype}; cv2.compareHist accepts "
                                   "only float32", "store get_histogram(image) as it is")
                continue
            if callable(learner_hist):
                try:
                    mine = np.asarray(learner_hist(img.copy()), dtype=np.float64).ravel()
                except Exception:  # noqa: BLE001 — their get_histogram is judged by its own check
                    mine = None
                if mine is not None and mine.shape == got.shape and np.allclose(got, mine, atol=1e-6):
                    raise _Mistake("build_histogram_db does its job, but the histograms come from your "
                                   "get_histogram, which differs from the course's",
                                   "fix get_histogram first (its check above says how), run its cell, then this check")
            if got.size == 12 and np.allclose(got, course_histogram(np.ascontiguousarray(img[..., ::-1])).ravel(),
                                              atol=1e-5):
                raise _Mistake(f"the histogram stored for {name} is of the image in RGB order",
                               "read the file with cv2.imread (BGR), as get_histogram expects")
            raise _Mistake(f"the histogram stored for {name} is not get_histogram of that image",
                           "read the file with cv2.imread(os.path.join(images_dir_path, file_name)) "
                           "and store get_histogram(image)")
        return 3

    return _verdict("build_histogram_db", body)


def _methods() -> list[tuple[int, str]]:
    """OpenCV's compare methods and their names, to name the one a learner's values come from."""
    import cv2

    return [(cv2.HISTCMP_CHISQR, "HISTCMP_CHISQR"), (cv2.HISTCMP_CHISQR_ALT, "HISTCMP_CHISQR_ALT"),
            (cv2.HISTCMP_CORREL, "HISTCMP_CORREL"), (cv2.HISTCMP_INTERSECT, "HISTCMP_INTERSECT"),
            (cv2.HISTCMP_BHATTACHARYYA, "HISTCMP_BHATTACHARYYA"), (cv2.HISTCMP_KL_DIV, "HISTCMP_KL_DIV")]


def _search_db() -> dict[str, np.ndarray]:
    images = _sample_bgr_images()
    rng = np.random.default_rng(0)
    for i in range(6):  # a few more, so that top 5 is a real choice
        images[f"noise_{i}.png"] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return {name: course_histogram(img) for name, img in images.items()}


def check_search(search: Callable) -> Verdict:
    """``search(histogram_db, target_histogram, top_k=5) -> {name: distance}``: a dict of the
    top_k closest names, closest first, with the chi-square distance of cv2.compareHist
    (target as H1, method HISTCMP_CHISQR). Same names, same order and the same distances (to
    1e-5) pass, however they are computed."""
    import cv2

    def body(notes: Notes) -> int:
        db = _search_db()
        target_name = "coffee.png"
        target = db[target_name]
        got = _call(search, dict(db), target.copy(), what="search(histogram_db, target_histogram)")
        got = _as_result(got)
        ref = {n: cv2.compareHist(target, h, cv2.HISTCMP_CHISQR) for n, h in db.items()}
        unknown = [n for n in got if n not in ref]
        if unknown:
            raise _Mistake(f"{unknown[0]!r} is not a name from histogram_db",
                           "use the keys of histogram_db as the result's keys")
        try:
            values = {n: float(v) for n, v in got.items()}
        except (TypeError, ValueError):
            raise _Mistake("the values of your result should be the distances (numbers)",
                           "results[file_name] = cv2.compareHist(...)") from None
        _check_distances(values, db, target, ref)
        order = list(values.values())
        if len(values) == len(db):
            raise _Mistake(f"search returned all {len(db)} results, expected the top 5",
                           "keep only the first top_k items after sorting: sorted(...)[:top_k]")
        if order != sorted(order):
            if order == sorted(order, reverse=True):
                raise _Mistake("the results are sorted from the largest distance to the smallest",
                               "chi-square is a distance: the most similar image has the SMALLEST value; "
                               "sort ascending (no reverse=True)")
            raise _Mistake("the results are not in order of distance",
                           "sort the items by value: sorted(results.items(), key=lambda item: item[1])")
        best = [n for n, _ in sorted(ref.items(), key=lambda kv: kv[1])]
        if target_name not in values and list(values) == [n for n in best if n != target_name][:len(values)]:
            raise _Mistake("the query image itself is left out; the course's search keeps it (distance 0, first)",
                           "compare the target with every histogram in histogram_db, itself included")
        if len(values) != 5:
            raise _Mistake(f"search returned {len(values)} results, expected top_k = 5",
                           "keep the first top_k items after sorting: sorted(...)[:top_k]")
        if list(values) != best[:5]:
            raise _Mistake(f"the top 5 should be {best[:5]}, got {list(values)}",
                           "compare the target with EVERY histogram in histogram_db before sorting")
        three = _as_result(_call(search, dict(db), target.copy(), top_k=3,
                                 what="search(histogram_db, target_histogram, top_k=3)"))
        if list(three) != best[:3]:
            raise _Mistake(f"search(..., top_k=3) returned {len(three)} results: top_k is not used",
                           "slice with [:top_k], not a fixed number")
        return 5

    return _verdict("search", body)


def _as_result(got: Any) -> dict:
    if isinstance(got, dict):
        return got
    if isinstance(got, (list, tuple)) and got and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in got):
        raise _Mistake(f"search returned a {type(got).__name__} of (name, distance) pairs; the course's search "
                       "returns a dict {name: distance}, closest first (show_result calls result.keys(), "
                       "and the notebook compares list(result) with the package's names)",
                       "return dict(sorted(results.items(), key=lambda item: item[1])[:top_k])")
    if isinstance(got, (list, tuple)) and got and all(isinstance(p, str) for p in got):
        raise _Mistake(f"search returned a {type(got).__name__} of names; the course's search returns a dict "
                       "{name: distance}, closest first", "keep the distances: return dict(sorted_items[:top_k])")
    if got is None:
        raise _Mistake("search returned None", "end with return results")
    raise _Mistake(f"search should return a dict {{name: distance}}, got {type(got).__name__}")


def _check_distances(values: dict[str, float], db: dict[str, np.ndarray], target: np.ndarray,
                     ref: dict[str, float]) -> None:
    import cv2

    wrong = [n for n, v in values.items() if not np.isclose(v, ref[n], rtol=1e-5, atol=1e-6)]
    if not wrong:
        return
    for method, label in _methods():
        for first in ("target", "candidate"):
            cand = {n: cv2.compareHist(target, db[n], method) if first == "target" else
                    cv2.compareHist(db[n], target, method) for n in values}
            if all(np.isclose(v, cand[n], rtol=1e-5, atol=1e-6) for n, v in values.items()):
                if label == "HISTCMP_CHISQR":
                    raise _Mistake("the distances are chi-square with the two histograms swapped: chi-square "
                                   "divides by H1, so the order matters",
                                   "cv2.compareHist(target_histogram, histogram, cv2.HISTCMP_CHISQR): the target first")
                raise _Mistake(f"the values are cv2.{label}, the course compares with HISTCMP_CHISQR",
                               "method=cv2.HISTCMP_CHISQR, with the target as H1")
    n = wrong[0]
    raise _Mistake(f"the distance of {n} is {values[n]:.4f}; cv2.compareHist with HISTCMP_CHISQR gives {ref[n]:.4f}",
                   "use cv2.compareHist(target_histogram, histogram, cv2.HISTCMP_CHISQR)")


def check_show_result(show_result: Callable) -> Verdict:
    """``show_result(result)`` draws one panel per result, in the result's order, each the
    file's image in RGB (matplotlib's order). Any way of drawing passes (plt.show() or not,
    plt.subplots, PIL, plt.imread, a resized picture) as long as each panel shows its image."""
    import cv2
    import matplotlib.pyplot as plt

    def body(notes: Notes) -> int:
        folder = getattr(show_result, "__globals__", {}).get("images_dir_path")
        if folder is None:
            raise _Mistake("images_dir_path is not defined in this notebook", "run the cells above first")
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".png", ".jpg", ".jpeg")))
        if len(files) < 3:
            raise _Mistake(f"{folder} holds fewer than 3 images", "run the cells above that write the images")
        names = [files[len(files) // 2], files[0], files[-1]]  # not in name order: panels follow the result
        result = {name: float(i) for i, name in enumerate(names)}
        figures: list = []
        try:
            _call(show_result, dict(result), what="show_result(result)", figures=figures)
            shown = [im.get_array() for fig in figures for ax in fig.axes for im in ax.get_images()]
        finally:
            for fig in figures:
                plt.close(fig)
        if not figures:
            raise _Mistake("show_result drew nothing", "draw into the figure f: f.add_subplot(1, len(result), idx + 1)"
                                                       ".imshow(image)")
        if len(shown) != len(result):
            hint = ("draw one panel per file name inside the loop: f.add_subplot(1, len(result), idx + 1)"
                    if len(shown) < len(result) else "draw only the images of the result, one each")
            raise _Mistake(f"{len(result)} results should give {len(result)} images, your figure shows {len(shown)}",
                           hint)
        rgb = {n: cv2.imread(os.path.join(folder, n))[..., ::-1] for n in names}
        matches = [_which_image(np.asarray(arr), rgb) for arr in shown]
        for name, (found, how) in zip(names, matches):
            if found is None:
                raise _Mistake(f"panel {names.index(name) + 1} does not show any of the result's images",
                               "read each file with cv2.imread(os.path.join(images_dir_path, file_name))")
            if how == "gray":
                raise _Mistake(f"{found} is shown in gray", "show the colour image: img[..., ::-1] (BGR -> RGB)")
            if how == "bgr":
                raise _Mistake(f"{found} is shown with blue and red swapped",
                               "cv2.imread gives BGR; show img[..., ::-1] or cv2.cvtColor(img, cv2.COLOR_BGR2RGB)")
        if [f for f, _ in matches] != names:
            raise _Mistake("the panels are not in the result's order (closest first)",
                           "loop over result in its order: for idx, file_name in enumerate(result)")
        if any(how == "resized" for _, how in matches):
            notes.append("your panels show resized images; the course shows the files at their own size")
        return 3

    return _verdict("show_result", body)


def _which_image(arr: np.ndarray, rgb: dict[str, np.ndarray]) -> tuple[str | None, str]:
    """Which file a panel shows and how: ("name", "rgb" | "bgr" | "gray" | "resized")."""
    import cv2

    arr = np.asarray(arr)
    floats = np.issubdtype(arr.dtype, np.floating)
    arr = arr.astype(np.float64)
    if arr.ndim == 3:
        arr = arr[..., :3]
    if floats and arr.max(initial=0) <= 1.0:
        arr = arr * 255  # matplotlib shows floats in 0..1
    best: tuple[float, str | None, str] = (np.inf, None, "")
    for name, img in rgb.items():
        if arr.shape[:2] != img.shape[:2]:
            img = cv2.resize(img, (arr.shape[1], arr.shape[0]), interpolation=cv2.INTER_AREA)
            tol, ok = 12.0, "resized"
        else:
            tol, ok = 1.0, "rgb"
        img = img.astype(np.float64)
        if arr.ndim == 2:
            gray = img @ [0.299, 0.587, 0.114]
            candidates = {"gray": gray}
        else:
            candidates = {ok: img, "bgr": img[..., ::-1]}
        for how, cand in candidates.items():
            err = float(np.abs(arr - cand).mean())
            if err <= tol and err < best[0]:
                best = (err, name, how)
    return best[1], best[2]
