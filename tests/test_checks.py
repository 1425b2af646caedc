"""Every exercise check judges the OUTCOME: it passes correct answers written differently from the
worked solution, fails each typical mistake with a message that names it (and not another one),
and never prints a traceback.

Each case is one learner answer: ``Case(label, answer, passes, phrases, absent)``. The labels
are the "learner answer" column of the README's table; ``phrases`` must appear in the verdict,
``absent`` must not (a hint that named the wrong mistake).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import pytest

from aiffel_lib import checks


@dataclass
class Case:
    label: str
    answer: Any
    passes: bool
    phrases: tuple = ()
    absent: tuple = field(default=())


def ids(cases):
    return [c.label for c in cases]


def stub(*args, **kwargs):
    raise NotImplementedError("Fill in the [[YOUR CODE]] part of this cell, then run it again.")


def judge(capsys, verdict, case):
    out = capsys.readouterr().out
    assert bool(verdict) is case.passes, out
    assert "Traceback" not in out
    assert out.startswith(checks.PASS if case.passes else checks.FAIL), out
    for phrase in case.phrases:
        assert phrase in out, out
    for phrase in case.absent:
        assert phrase not in out, out
    return out


# ---- 01: the blue mask ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def frame():
    from aiffel_lib.photos import load_photo

    return cv2.resize(load_photo("rocket", "bgr"), (160, 107))


LO, HI = np.array([110, 50, 50]), np.array([130, 255, 255])


def blue(lo=LO, hi=HI, *, conv=cv2.COLOR_BGR2HSV, mask_fn=None, res_fn=None):
    """A learner's four lines as a function of the frame: -> (lower_blue, upper_blue, mask, res)."""
    def answer(frame):
        src = frame if conv is None else cv2.cvtColor(frame, conv)
        lo_a, hi_a = np.asarray(lo), np.asarray(hi)
        mask = mask_fn(src, lo_a, hi_a) if mask_fn else cv2.inRange(src, lo_a, hi_a)
        res = res_fn(frame, mask, src) if res_fn else cv2.bitwise_and(frame, frame, mask=mask)
        return lo, hi, mask, res
    return answer


def numpy_mask(src, lo, hi):
    return np.all((src >= lo) & (src <= hi), axis=-1).astype(np.uint8) * 255


BLUE_CASES = [
    Case("course solution", blue(), True, ("all 4",)),
    Case("upper bound 256 for S and V", blue(hi=np.array([130, 256, 256])), True, ("same pixels",)),
    Case("bounds as tuples, float bounds", blue((110.0, 50.0, 50.0), (130.0, 255.0, 255.0)), True),
    Case("uint8 bounds", blue(LO.astype(np.uint8), HI.astype(np.uint8)), True),
    Case("mask with NumPy comparisons", blue(mask_fn=numpy_mask), True),
    Case("res = frame * (mask > 0)", blue(res_fn=lambda f, m, s: f * (m[..., None] > 0)), True),
    Case("res with np.where", blue(res_fn=lambda f, m, s: np.where(m[..., None] == 255, f, 0).astype(np.uint8)), True),
    Case("res with cv2.copyTo", blue(res_fn=lambda f, m, s: cv2.copyTo(f, m)), True),
    Case("another blue range [100,100,100]..[140,255,255]", blue(np.array([100, 100, 100]), np.array([140, 255, 255])),
         True, ("differs from the course's",)),
    Case("nothing filled in (None)", lambda f: (None, None, None, None), False, ("not set",)),
    Case("hue in degrees", blue(np.array([220, 50, 50]), np.array([260, 255, 255])), False, ("0-179", "degrees")),
    Case("lower and upper swapped", blue(HI, LO), False, ("swapped",)),
    Case("two numbers per bound", lambda f: (np.array([110, 50]), np.array([130, 255]), None, None), False,
         ("three numbers",)),
    Case("whole HSV cube", blue(np.array([0, 0, 0]), np.array([179, 255, 255])), False, ("also keeps", "cyan")),
    Case("S lower bound 0", blue(np.array([110, 0, 50])), False, ("bluish gray", "raise the lower S")),
    Case("mask not applied (res = frame)", blue(res_fn=lambda f, m, s: f.copy()), False, ("not applied",)),
    Case("RGB conversion", blue(conv=cv2.COLOR_RGB2HSV), False, ("RGB",)),
    Case("COLOR_BGR2HSV_FULL", blue(conv=cv2.COLOR_BGR2HSV_FULL), False, ("COLOR_BGR2HSV_FULL", "0-255", "0-179"),
         ("threshold the HSV image",)),
    Case("inRange on the BGR frame", blue(conv=None), False, ("BGR frame itself",)),
    Case("bool mask", blue(mask_fn=lambda s, lo, hi: np.all((s >= lo) & (s <= hi), axis=-1),
                           res_fn=lambda f, m, s: f * m[..., None]), False,
         ("True/False", "uint8", "255"), ("float32", "histogram")),
    Case("mask of 0 and 1", blue(mask_fn=lambda s, lo, hi: numpy_mask(s, lo, hi) // 255), False, ("0 and 255",)),
    Case("mask inverted", blue(mask_fn=lambda s, lo, hi: cv2.bitwise_not(cv2.inRange(s, lo, hi))), False,
         ("inverted",)),
    Case("mask from the course's range, not the own one",
         blue(np.array([100, 100, 100]), np.array([140, 255, 255]), mask_fn=lambda s, lo, hi: cv2.inRange(s, LO, HI)),
         False, ("course's range",)),
    Case("res of the HSV image", blue(res_fn=lambda f, m, s: cv2.bitwise_and(s, s, mask=m)), False, ("HSV image",)),
    Case("res as float64", blue(res_fn=lambda f, m, s: f * (m[..., None] / 255.0)), False, ("uint8",)),
    Case("res = mask", blue(res_fn=lambda f, m, s: m), False, ("mask's shape",)),
]


@pytest.mark.parametrize("case", BLUE_CASES, ids=ids(BLUE_CASES))
def test_blue_mask_check(capsys, frame, case):
    judge(capsys, checks.check_blue_mask(*case.answer(frame.copy()), frame), case)


# ---- 02: get_histogram ---------------------------------------------------------------------

def course_get_histogram(image):
    histogram = [cv2.calcHist([image], [i], None, [4], [0, 256]) for i in range(3)]
    histogram = np.concatenate(histogram)
    return cv2.normalize(histogram, histogram)


def counts(img, upper=256, bins=4):
    return np.concatenate([cv2.calcHist([img], [i], None, [bins], [0, upper]) for i in range(3)])


def np_histogram(img):
    h = np.concatenate([np.histogram(img[..., i], bins=4, range=(0, 256))[0] for i in range(3)]).astype(np.float32)
    return h / np.linalg.norm(h)


def chatty_histogram(img):
    import matplotlib.pyplot as plt

    h = course_get_histogram(img)
    print("my histogram", h.ravel())
    plt.plot(h)
    plt.show()
    return h


HISTOGRAM_CASES = [
    Case("course solution", course_get_histogram, True, ("all 5",)),
    Case("np.histogram, float32, shape (12,)", np_histogram, True, ("(12,)",)),
    Case("cv2.normalize(h, None, 1, norm_type=NORM_L2)",
         lambda img: cv2.normalize(counts(img), None, alpha=1, norm_type=cv2.NORM_L2), True),
    Case("cv2.split and a loop", lambda img: cv2.normalize(np.concatenate(
        [cv2.calcHist([c], [0], None, [4], [0, 256]) for c in cv2.split(img)]), None), True),
    Case("float64 maths, returned as float32",
         lambda img: (counts(img).astype(np.float64) / np.linalg.norm(counts(img))).astype(np.float32), True),
    Case("prints and a plt.show() inside", chatty_histogram, True),
    Case("not written (stub)", stub, False, ("not written yet", "[[YOUR CODE]]")),
    Case("not normalised", counts, False, ("pixel counts", "cv2.normalize")),
    Case("L1 norm", lambda img: cv2.normalize(counts(img), None, 1, norm_type=cv2.NORM_L1), False,
         ("sum to 1", "L1", "L2"), ("is not normalised",)),
    Case("max norm", lambda img: cv2.normalize(counts(img), None, 1, norm_type=cv2.NORM_INF), False,
         ("largest value of 1", "L2")),
    Case("MINMAX", lambda img: cv2.normalize(counts(img), None, 0, 1, norm_type=cv2.NORM_MINMAX), False,
         ("NORM_MINMAX",)),
    Case("each channel normalised on its own",
         lambda img: np.concatenate([cv2.normalize(c, None) for c in np.split(counts(img), 3)]), False,
         ("each channel",)),
    Case("RGB channel order", lambda img: course_get_histogram(np.ascontiguousarray(img[..., ::-1])), False,
         ("wrong order",)),
    Case("8 bins", lambda img: cv2.normalize(counts(img, bins=8), None), False, ("24 values", "8 bins")),
    Case("ranges [0, 255]", lambda img: cv2.normalize(counts(img, upper=255), None), False, ("ranges=[0, 255]",)),
    Case("float64 result", lambda img: counts(img).astype(np.float64) / np.linalg.norm(counts(img)), False,
         ("float64", "float32", "compareHist")),
    Case("list of three arrays", lambda img: [cv2.calcHist([img], [i], None, [4], [0, 256]) for i in range(3)],
         False, ("np.concatenate",)),
    Case("gray image", lambda img: cv2.normalize(cv2.calcHist([cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)], [0], None,
                                                                [4], [0, 256]), None), False, ("4 values",)),
    Case("HSV image", lambda img: course_get_histogram(cv2.cvtColor(img, cv2.COLOR_BGR2HSV)), False, ("HSV",)),
    Case("crashes (channel 3)", lambda img: cv2.calcHist([img], [3], None, [4], [0, 256]), False, ("raised",)),
]


@pytest.mark.parametrize("case", HISTOGRAM_CASES, ids=ids(HISTOGRAM_CASES))
def test_get_histogram_check(capsys, case):
    judge(capsys, checks.check_get_histogram(case.answer), case)


# ---- 02: build_histogram_db ------------------------------------------------------------------

def course_build_histogram_db(folder):
    return {f: course_get_histogram(cv2.imread(os.path.join(folder, f))) for f in os.listdir(folder)}


def pathlib_db(folder):
    from pathlib import Path

    db = {}
    for p in sorted(Path(folder).glob("*.png")):
        print("reading", p.name)
        db[p.name] = course_get_histogram(cv2.imread(str(p)))
    return db


def pil_db(folder):
    from PIL import Image

    return {f: course_get_histogram(np.asarray(Image.open(os.path.join(folder, f)).convert("RGB")))
            for f in os.listdir(folder)}


def broken_get_histogram_db():
    """build_histogram_db right, but the notebook's get_histogram is L1-normalised."""
    ns = {"cv2": cv2, "np": np, "os": os}
    exec("def get_histogram(image):\n"
         "    h = np.concatenate([cv2.calcHist([image], [i], None, [4], [0, 256]) for i in range(3)])\n"
         "    return cv2.normalize(h, None, 1, norm_type=cv2.NORM_L1)\n"
         "def build_histogram_db(images_dir_path):\n"
         "    return {f: get_histogram(cv2.imread(os.path.join(images_dir_path, f)))\n"
         "            for f in os.listdir(images_dir_path)}\n", ns)
    return ns["build_histogram_db"]


def unwritten_get_histogram_db():
    """build_histogram_db written, get_histogram still the generated stub."""
    from aiffel_lib import exercises

    stub_src, _ = exercises.strip_solutions("def get_histogram(image):\n    ### BEGIN SOLUTION\n    pass\n"
                                            "    ### END SOLUTION\n")
    ns = {"cv2": cv2, "np": np, "os": os}
    exec(stub_src + "\ndef build_histogram_db(images_dir_path):\n"
         "    return {f: get_histogram(cv2.imread(os.path.join(images_dir_path, f)))\n"
         "            for f in os.listdir(images_dir_path)}\n", ns)
    return ns["build_histogram_db"]


def other_folder_db(folder):
    """Reads the notebook's big image folder instead of the argument."""
    db = course_build_histogram_db(folder)
    db.update({f"extra_{i}.png": db[next(iter(db))] for i in range(20)})
    return db


DB_CASES = [
    Case("course solution", course_build_histogram_db, True),
    Case("pathlib + glob, prints", pathlib_db, True),
    Case("not written (stub)", stub, False, ("not written yet",)),
    Case("full paths as keys", lambda folder: {os.path.join(folder, f): course_get_histogram(
        cv2.imread(os.path.join(folder, f))) for f in os.listdir(folder)}, False, ("full paths", "file name")),
    Case("Path objects as keys", lambda folder: {__import__("pathlib").Path(folder, f): course_get_histogram(
        cv2.imread(os.path.join(folder, f))) for f in os.listdir(folder)}, False, ("Path objects",)),
    Case("names without extension", lambda folder: {os.path.splitext(f)[0]: course_get_histogram(
        cv2.imread(os.path.join(folder, f))) for f in os.listdir(folder)}, False, ("extension",)),
    Case("images read with PIL (RGB)", pil_db, False, ("RGB",)),
    Case("its get_histogram is wrong", broken_get_histogram_db(), False, ("your get_histogram", "fix get_histogram first")),
    Case("its get_histogram is still the stub", unwritten_get_histogram_db(), False,
         ("calls get_histogram()", "not written yet", "write get_histogram first")),
    Case("reads another folder than its argument", other_folder_db, False, ("argument",)),
    Case("returns a list", lambda folder: list(course_build_histogram_db(folder).items()), False, ("dict",)),
    Case("stores lists", lambda folder: {k: v.tolist() for k, v in course_build_histogram_db(folder).items()}, False,
         ("not the histogram array",)),
]


@pytest.mark.parametrize("case", DB_CASES, ids=ids(DB_CASES))
def test_build_histogram_db_check(capsys, case):
    judge(capsys, checks.check_build_histogram_db(case.answer), case)


# ---- 02: search --------------------------------------------------------------------------------

def course_search(histogram_db, target_histogram, top_k=5):
    results = {n: cv2.compareHist(target_histogram, h, cv2.HISTCMP_CHISQR) for n, h in histogram_db.items()}
    return dict(sorted(results.items(), key=lambda item: item[1])[:top_k])


def numpy_search(histogram_db, target_histogram, top_k=5):
    import heapq
    from collections import OrderedDict

    t = target_histogram.ravel().astype(np.float64)
    out = {}
    for name, h in histogram_db.items():
        h = h.ravel().astype(np.float64)
        terms = np.where(t != 0, (t - h) ** 2 / np.where(t != 0, t, 1), 0)  # OpenCV skips empty H1 bins
        out[name] = float(terms.sum())
    return OrderedDict(heapq.nsmallest(top_k, out.items(), key=lambda kv: kv[1]))


def sorted_keys_search(histogram_db, target_histogram, top_k=5):
    d = {n: cv2.compareHist(target_histogram, h, cv2.HISTCMP_CHISQR) for n, h in histogram_db.items()}
    return {n: d[n] for n in sorted(d, key=d.get)[:top_k]}


def method_search(method, swap=False):
    def search(histogram_db, target_histogram, top_k=5):
        r = {n: cv2.compareHist(h, target_histogram, method) if swap else cv2.compareHist(target_histogram, h, method)
             for n, h in histogram_db.items()}
        return dict(sorted(r.items(), key=lambda kv: kv[1])[:top_k])
    return search


SEARCH_CASES = [
    Case("course solution", course_search, True, ("all 5",)),
    Case("NumPy chi-square, heapq, OrderedDict", numpy_search, True),
    Case("sorted(d, key=d.get)", sorted_keys_search, True),
    Case("not written (stub)", stub, False, ("not written yet",)),
    Case("list of (name, distance) pairs", lambda db, t, top_k=5: sorted(course_search(db, t, top_k).items(),
                                                                         key=lambda kv: kv[1]), False,
         ("(name, distance) pairs", "dict {name: distance}", "result.keys()")),
    Case("list of names", lambda db, t, top_k=5: list(course_search(db, t, top_k)), False, ("list of names",)),
    Case("returns None", lambda db, t, top_k=5: None, False, ("None",)),
    Case("sorted descending", lambda db, t, top_k=5: dict(sorted(course_search(db, t, len(db)).items(),
                                                                 key=lambda kv: -kv[1])[:top_k]), False, ("SMALLEST",)),
    Case("every result returned", lambda db, t, top_k=5: course_search(db, t, top_k=len(db)), False, ("top 5",)),
    Case("HISTCMP_CORREL", method_search(cv2.HISTCMP_CORREL), False, ("HISTCMP_CORREL", "HISTCMP_CHISQR")),
    Case("target as H2", method_search(cv2.HISTCMP_CHISQR, swap=True), False, ("swapped", "target first")),
    Case("not sorted (first 5 of the dict)", lambda db, t, top_k=5: dict(list(
        {n: cv2.compareHist(t, h, cv2.HISTCMP_CHISQR) for n, h in db.items()}.items())[:top_k]), False,
         ("not in order",)),
    Case("fixed 5 instead of top_k", lambda db, t, top_k=5: course_search(db, t, 5), False, ("top_k",)),
    Case("query left out", lambda db, t, top_k=5: dict(list(course_search(db, t, top_k + 1).items())[1:]), False,
         ("left out",)),
]


@pytest.mark.parametrize("case", SEARCH_CASES, ids=ids(SEARCH_CASES))
def test_search_check(capsys, case):
    judge(capsys, checks.check_search(case.answer), case)


def test_search_reference_has_no_near_ties():
    """The check's top 5 must be unambiguous, or a correct search could order ties differently."""
    from aiffel_lib.checks.nb02_histograms import _search_db

    db = _search_db()
    d = sorted(cv2.compareHist(db["coffee.png"], h, cv2.HISTCMP_CHISQR) for h in db.values())
    assert min(np.diff(d[:7])) > 1e-3


# ---- 02: show_result ------------------------------------------------------------------------------

SHOW_BODIES = {
    "course solution": """
    f = plt.figure(figsize=(10, 3))
    for idx, filename in enumerate(result.keys()):
        img = cv2.imread(os.path.join(images_dir_path, filename))
        ax = f.add_subplot(1, len(result), idx + 1)
        ax.imshow(img[..., ::-1])
""",
    "ends with plt.show()": """
    f = plt.figure(figsize=(10, 3))
    for idx, filename in enumerate(result):
        f.add_subplot(1, len(result), idx + 1).imshow(cv2.imread(os.path.join(images_dir_path, filename))[..., ::-1])
    plt.show()
""",
    "plt.subplots, cvtColor, titles, prints": """
    fig, axes = plt.subplots(1, len(result))
    for ax, (name, dist) in zip(axes, result.items()):
        print(name, dist)
        ax.imshow(cv2.cvtColor(cv2.imread(os.path.join(images_dir_path, name)), cv2.COLOR_BGR2RGB))
        ax.set_title(f"{name} {dist:.2f}")
        ax.axis("off")
    plt.show()
""",
    "PIL.Image.open": """
    from PIL import Image
    for idx, name in enumerate(result):
        plt.subplot(1, len(result), idx + 1)
        plt.imshow(Image.open(os.path.join(images_dir_path, name)))
""",
    "plt.imread (floats 0..1)": """
    for idx, name in enumerate(result):
        plt.subplot(1, len(result), idx + 1)
        plt.imshow(plt.imread(os.path.join(images_dir_path, name)))
    plt.show()
""",
    "resized for display": """
    f = plt.figure()
    for idx, name in enumerate(result):
        img = cv2.resize(cv2.imread(os.path.join(images_dir_path, name)), (96, 96), interpolation=cv2.INTER_LINEAR)
        f.add_subplot(1, len(result), idx + 1).imshow(img[..., ::-1])
""",
    "BGR shown as RGB": """
    f = plt.figure()
    for idx, name in enumerate(result):
        f.add_subplot(1, len(result), idx + 1).imshow(cv2.imread(os.path.join(images_dir_path, name)))
""",
    "first image only": """
    f = plt.figure()
    name = next(iter(result))
    f.add_subplot(1, 1, 1).imshow(cv2.imread(os.path.join(images_dir_path, name))[..., ::-1])
""",
    "panels in file-name order": """
    f = plt.figure()
    for idx, name in enumerate(sorted(result)):
        f.add_subplot(1, len(result), idx + 1).imshow(cv2.imread(os.path.join(images_dir_path, name))[..., ::-1])
""",
    "gray images": """
    f = plt.figure()
    for idx, name in enumerate(result):
        f.add_subplot(1, len(result), idx + 1).imshow(
            cv2.imread(os.path.join(images_dir_path, name), cv2.IMREAD_GRAYSCALE), cmap="gray")
""",
    "draws nothing": """
    for name in result:
        print(name)
""",
}
SHOW_CASES = [Case(label, label, label in {"course solution", "ends with plt.show()", "plt.subplots, cvtColor, titles, "
                                                                                      "prints", "PIL.Image.open",
                                          "plt.imread (floats 0..1)", "resized for display"}, phrases)
              for label, phrases in [("course solution", ("all 3",)), ("ends with plt.show()", ()),
                                     ("plt.subplots, cvtColor, titles, prints", ()), ("PIL.Image.open", ()),
                                     ("plt.imread (floats 0..1)", ()), ("resized for display", ("resized",)),
                                     ("BGR shown as RGB", ("swapped",)), ("first image only", ("3 images",)),
                                     ("panels in file-name order", ("order",)), ("gray images", ("gray",)),
                                     ("draws nothing", ("drew nothing",))]]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from aiffel_lib.photos import load_photo

    folder = tmp_path_factory.mktemp("images")
    for name in ("chelsea", "coffee", "rocket", "astronaut"):
        img = cv2.resize(load_photo(name, "bgr"), (32, 32), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"{name}.png"), img)
    return str(folder)


def notebook_function(source: str, name: str, **globals_):
    """Define a function as a notebook cell would: its globals are the notebook's namespace."""
    import matplotlib.pyplot as plt

    ns = {"plt": plt, "cv2": cv2, "os": os, "np": np, **globals_}
    exec(source, ns)
    return ns[name]


@pytest.fixture
def inline_backend():
    """Jupyter's inline backend, whose plt.show() closes the figures it shows."""
    import matplotlib.pyplot as plt

    previous = plt.get_backend()
    plt.switch_backend("module://matplotlib_inline.backend_inline")
    yield
    plt.close("all")
    plt.switch_backend(previous)


@pytest.mark.parametrize("case", SHOW_CASES, ids=ids(SHOW_CASES))
def test_show_result_check(capsys, image_folder, inline_backend, case):
    import matplotlib.pyplot as plt

    fn = notebook_function("def show_result(result):" + SHOW_BODIES[case.answer], "show_result",
                           images_dir_path=image_folder)
    before = plt.get_fignums()
    judge(capsys, checks.check_show_result(fn), case)
    assert plt.get_fignums() == before, "the check leaves no figure open"


def test_show_result_check_without_images_dir_path(capsys):
    fn = notebook_function("def show_result(result):\n    pass\n", "show_result")
    judge(capsys, checks.check_show_result(fn), Case("no images_dir_path", fn, False, ("images_dir_path",)))


# ---- 03: preprocessing --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier():
    from aiffel_lib.imagenet import load_imagenet_classifier

    return load_imagenet_classifier(prefer="efficientnet_lite0")


def crop_answer(side_fn=lambda f, m: round(f * m), corner="floor", interpolation=cv2.INTER_AREA,
                scale="course", resize=None):
    def make(clf):
        def preprocess(image_rgb):
            h, w = image_rgb.shape[:2]
            side = side_fn(clf.crop_fraction, min(h, w))
            if corner == "floor":
                y0, x0 = (h - side) // 2, (w - side) // 2
            elif corner == "round":
                y0, x0 = round((h - side) / 2 + 0.01), round((w - side) / 2 + 0.01)
            else:
                y0 = x0 = 0
            square = image_rgb[y0:y0 + side, x0:x0 + side]
            size = clf.input_size
            resized = (resize(square, size) if resize else
                       cv2.resize(square, (size, size)) if interpolation is None else
                       cv2.resize(square, (size, size), interpolation=interpolation))
            x = np.asarray(resized, dtype=np.float32)
            if scale == "course":
                return (x - clf.mean) / clf.std
            if scale == "127.5":
                return x / 127.5 - 1
            if scale == "float64":
                return (x.astype(np.float64) - clf.mean) / clf.std
            if scale == "unit":
                return x / 255
            if scale == "torch":
                return ((x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).astype(np.float32)
            if scale == "none":
                return x
            raise ValueError(scale)
        return preprocess
    return make


def pil_resize(square, size):
    from PIL import Image

    return np.asarray(Image.fromarray(square).resize((size, size), Image.BILINEAR))


def tf_resize(square, size):
    import tensorflow as tf

    return tf.image.resize(square, (size, size)).numpy()


def squash(clf):
    return lambda img: clf.scale(cv2.resize(img, (clf.input_size, clf.input_size), interpolation=cv2.INTER_AREA))


def tf_central_crop(clf):
    import tensorflow as tf

    def preprocess(img):
        x = tf.image.resize(tf.image.central_crop(img, clf.crop_fraction), (clf.input_size, clf.input_size))
        return ((x.numpy() - clf.mean) / clf.std).astype(np.float32)
    return preprocess


PREPROCESS_CASES = [
    Case("classifier's own preprocess", lambda clf: clf.preprocess, True, ("all 3",)),
    Case("course solution (round, INTER_AREA)", crop_answer(), True, ("all 3",)),
    Case("clf.crop then clf.scale", lambda clf: lambda img: clf.scale(clf.crop(img)), True),
    Case("side with int() instead of round()", crop_answer(side_fn=lambda f, m: int(f * m)), True),
    Case("side as min * 7 // 8", crop_answer(side_fn=lambda f, m: m * 7 // 8), True),
    Case("corner rounded instead of floored", crop_answer(corner="round"), True),
    Case("default cv2.resize (INTER_LINEAR)", crop_answer(interpolation=None), True),
    Case("int() side and default resize", crop_answer(side_fn=lambda f, m: int(f * m), interpolation=None), True),
    Case("INTER_CUBIC", crop_answer(interpolation=cv2.INTER_CUBIC), True),
    Case("INTER_LANCZOS4", crop_answer(interpolation=cv2.INTER_LANCZOS4), True),
    Case("PIL bilinear resize", crop_answer(resize=pil_resize), True),
    Case("tf.image.resize", crop_answer(resize=tf_resize), True),
    Case("x / 127.5 - 1 scaling", crop_answer(scale="127.5"), True),
    Case("float64 result", crop_answer(scale="float64"), True, ("float64",)),
    Case("not written (stub)", lambda clf: stub, False, ("not written yet",)),
    Case("whole photo squashed", squash, False, ("squashed", "SQUARE"), ("INTER_AREA",)),
    Case("whole photo squashed, default resize", lambda clf: lambda img: clf.scale(
        cv2.resize(img, (clf.input_size, clf.input_size))), False, ("squashed",)),
    Case("tf.image.central_crop then resize", tf_central_crop, False, ("tf.image.central_crop",)),
    Case("full shorter side, no 0.875", crop_answer(side_fn=lambda f, m: m), False, ("100%", "87.5%")),
    Case("top-left crop", crop_answer(corner="zero"), False, ("top-left",)),
    Case("INTER_NEAREST", crop_answer(interpolation=cv2.INTER_NEAREST), False, ("INTER_NEAREST",)),
    Case("pixels / 255", crop_answer(scale="unit"), False, ("0..1",)),
    Case("PyTorch ImageNet mean/std", crop_answer(scale="torch"), False, ("PyTorch",)),
    Case("not scaled", crop_answer(scale="none"), False, ("not scaled",)),
    Case("BGR", lambda clf: lambda img: clf.preprocess(np.ascontiguousarray(img[..., ::-1])), False, ("swapped",)),
    Case("batch of one", lambda clf: lambda img: clf.preprocess(img)[None], False, ("batch",)),
    Case("uint8 pixels returned", lambda clf: lambda img: clf.crop(img), False, ("uint8",)),
]


@pytest.mark.parametrize("case", PREPROCESS_CASES, ids=ids(PREPROCESS_CASES))
def test_preprocess_check(capsys, classifier, case):
    judge(capsys, checks.check_preprocess(case.answer(classifier), classifier), case)


# ---- 04: emoji head --------------------------------------------------------------------------

def head(pool="avg", dropout_at="before", logits_activation=None, final="activation", fixed_rate=None,
         fixed_classes=None, name="logits", use_bias=True, extra=None, flatten=False):
    import keras

    L = keras.layers

    def emoji_head(features, num_classes=7, dropout=0.2):
        if pool == "avg":
            x = L.GlobalAveragePooling2D()(features)
        elif pool == "max":
            x = L.GlobalMaxPooling2D()(features)
        elif pool == "ops":
            x = keras.ops.mean(features, axis=(1, 2))
        else:
            x = L.Flatten()(features)
        if flatten:
            x = L.Flatten()(x)
        if extra:
            x = L.Dense(extra, activation="relu")(x)
        rate = dropout if fixed_rate is None else fixed_rate
        if dropout_at == "before":
            x = L.Dropout(rate)(x)
        x = L.Dense(fixed_classes or num_classes, name=name, activation=logits_activation, use_bias=use_bias)(x)
        if dropout_at == "after":
            x = L.Dropout(rate)(x)
        if final == "activation":
            return L.Activation("softmax", name="probabilities")(x)
        if final == "Softmax":
            return L.Softmax()(x)
        if final == "twice":
            return L.Activation("softmax")(L.Activation("softmax")(x))
        return x
    return emoji_head


def nested_head(features, num_classes=7, dropout=0.2):
    import keras

    L = keras.layers
    return keras.Sequential([L.GlobalAveragePooling2D(), L.Dropout(dropout), L.Dense(num_classes, name="logits"),
                             L.Activation("softmax")])(features)


def model_head(features, num_classes=7, dropout=0.2):
    import keras

    return keras.Model(features, head()(features, num_classes, dropout))


def emotion_head():
    from aiffel_lib import emotion

    return emotion.emoji_head


HEAD_CASES = [
    Case("package's emotion.emoji_head", "emotion", True, ("all 6",)),
    Case("course recipe", head(), True),
    Case("keras.layers.Softmax()", head(final="Softmax"), True),
    Case("keras.ops.mean pooling", head(pool="ops"), True),
    Case("Flatten after the pooling", head(flatten=True), True, ("Flatten",)),
    Case("not written (stub)", stub, False, ("not written yet",)),
    Case("returns None", lambda features, **kw: None, False, ("returned None",)),
    Case("Flatten instead of pooling", head(pool="flatten"), False, ("flattened", "GlobalAveragePooling2D")),
    Case("max pooling", head(pool="max"), False, ("max-pooled",)),
    Case("softmax applied twice", head(logits_activation="softmax"), False, ("softmax", "logits")),
    Case("softmax inside 'logits', returned directly", head(logits_activation="softmax", final=None), False,
         ("already applies softmax",)),
    Case("two Activation('softmax')", head(final="twice"), False, ("softmax is applied twice",)),
    Case("no softmax", head(final=None), False, ("softmax is missing",)),
    Case("Dense not named 'logits'", head(name="scores"), False, ("'logits'",)),
    Case("fixed Dropout(0.5)", head(fixed_rate=0.5), False, ("`dropout` argument",)),
    Case("fixed Dropout(0.2)", head(fixed_rate=0.2), False, ("dropout=0.35", "fixed")),
    Case("fixed 7 classes", head(fixed_classes=7), False, ("num_classes=5",)),
    Case("Dropout after the logits", head(dropout_at="after"), False, ("after the 'logits'",)),
    Case("no Dropout", head(dropout_at="none"), False, ("no Dropout",)),
    Case("Dense without bias", head(use_bias=False), False, ("no bias",)),
    Case("extra Dense(32) layer", head(extra=32), False, ("another layer",)),
    Case("layers in a nested Sequential", nested_head, False, ("nested",)),
    Case("returns a Model", model_head, False, ("returned a Model",)),
    Case("no pooling", lambda features, num_classes=7, dropout=0.2: __import__("keras").layers.Dense(
        num_classes, activation="softmax", name="logits")(__import__("keras").layers.Dropout(dropout)(features)),
         False, ("(None, 3, 3, 7)", "pool")),
]


@pytest.mark.parametrize("case", HEAD_CASES, ids=ids(HEAD_CASES))
def test_emoji_head_check(capsys, case):
    answer = emotion_head() if case.answer == "emotion" else case.answer
    judge(capsys, checks.check_emoji_head(answer), case)


# ---- 04: the training call --------------------------------------------------------------------

def fit_with(**changes):
    """A learner's fit: the course's call with some arguments changed (None removes one)."""
    from aiffel_lib import emotion

    def fit(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
        kw = dict(x=emotion.to_model_input(split.x_train), y=split.y_train,
                  validation_data=(emotion.to_model_input(split.x_val), split.y_val),
                  class_weight=class_weight, callbacks=callbacks, epochs=epochs, batch_size=batch_size,
                  verbose=verbose)
        for key, value in changes.items():
            value = value(split, class_weight) if callable(value) else value
            if value is None:
                kw.pop(key, None)
            else:
                kw[key] = value
        return net.fit(**kw)
    return fit


def dataset_fit(with_batch_size=False, channel=True):
    import tensorflow as tf

    def fit(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
        x = split.x_train[..., None] if channel else split.x_train
        train = (tf.data.Dataset.from_tensor_slices((x.astype("float32"), split.y_train))
                 .shuffle(len(split.y_train), seed=0).batch(batch_size))
        val = tf.data.Dataset.from_tensor_slices((split.x_val[..., None].astype("float32"), split.y_val)).batch(batch_size)
        extra = {"batch_size": batch_size} if with_batch_size else {}
        return net.fit(train, validation_data=val, class_weight=class_weight, callbacks=callbacks,
                       epochs=epochs, verbose=verbose, **extra)
    return fit


def manual_shuffle_fit(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
    from aiffel_lib import emotion

    order = np.random.default_rng(0).permutation(len(split.y_train))
    return net.fit(emotion.to_model_input(split.x_train)[order], split.y_train[order],
                   validation_data=[emotion.to_model_input(split.x_val), split.y_val], class_weight=class_weight,
                   callbacks=callbacks, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=verbose)


def epoch_loop_fit(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
    fit = fit_with(epochs=1)
    for _ in range(epochs):
        history = fit(net, split, class_weight, callbacks, epochs, batch_size, verbose)
    return history


def no_return_fit(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
    fit_with()(net, split, class_weight, callbacks, epochs, batch_size, verbose)


def labels_shuffled_fit(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
    y = np.random.default_rng(1).permutation(split.y_train)
    return fit_with(y=y)(net, split, class_weight, callbacks, epochs, batch_size, verbose)


def package_fit():
    from aiffel_lib import emotion

    return emotion.fit_model


FIT_CASES = [
    Case("package's emotion.fit_model", "package", True, ("all 7",)),
    Case("tf.data.Dataset, shuffled and batched", dataset_fit(), True),
    Case("tf.data.Dataset and batch_size= too", dataset_fit(with_batch_size=True), True),
    Case("uint8 with a channel axis (np.expand_dims)", fit_with(x=lambda s, cw: np.expand_dims(s.x_train, -1),
                                                                validation_data=lambda s, cw: (s.x_val[..., None],
                                                                                               s.y_val)), True),
    Case("sample_weight equal to the class weights", fit_with(class_weight=None, sample_weight=lambda s, cw: np.array(
        [cw[int(k)] for k in s.y_train])), True),
    Case("shuffled by hand, validation as a list", manual_shuffle_fit, True),
    Case("not written (stub)", stub, False, ("not written yet",)),
    Case("test split as validation", fit_with(validation_data=lambda s, cw: (s.x_test[..., None].astype("float32"),
                                                                             s.y_test)), False,
         ("TEST split", "validate on split.x_val")),
    Case("no class weights", fit_with(class_weight=None), False, ("class weights",)),
    Case("no channel axis", fit_with(x=lambda s, cw: s.x_train, validation_data=lambda s, cw: (s.x_val, s.y_val)),
         False, ("channel axis",)),
    Case("dataset without channel axis", dataset_fit(channel=False), False, ("channel axis",)),
    Case("validation_split", fit_with(validation_data=None, validation_split=0.25), False, ("validation_split",)),
    Case("no validation", fit_with(validation_data=None), False, ("no validation data",)),
    Case("History not returned", no_return_fit, False, ("History",)),
    Case("returns history.history", lambda *a, **k: fit_with()(*a, **k).history, False, ("history.history",)),
    Case("fixed epochs=14", fit_with(epochs=14), False, ("14 epochs", "epochs=epochs")),
    Case("fixed batch_size=32", fit_with(batch_size=32), False, ("batch_size=4",)),
    Case("pixels divided by 255", fit_with(x=lambda s, cw: s.x_train[..., None] / 255.0), False, ("255",)),
    Case("one-hot labels", fit_with(y=lambda s, cw: np.eye(7)[s.y_train]), False, ("one-hot",)),
    Case("labels shuffled apart from images", labels_shuffled_fit, False, ("do not belong",)),
    Case("net.fit once per epoch", epoch_loop_fit, False, ("3 times",)),
    Case("no callbacks", fit_with(callbacks=None), False, ("callbacks",)),
    Case("trains on train + validation", fit_with(x=lambda s, cw: np.concatenate([s.x_train, s.x_val])[..., None],
                                                  y=lambda s, cw: np.concatenate([s.y_train, s.y_val])), False,
         ("validation split",)),
]


@pytest.mark.parametrize("case", FIT_CASES, ids=ids(FIT_CASES))
def test_fit_check(capsys, case):
    answer = package_fit() if case.answer == "package" else case.answer
    judge(capsys, checks.check_fit(answer), case)


def test_fit_check_real_keras_model():
    """The course's fit also trains a real (tiny) Keras model (the check only records the call)."""
    import keras

    from aiffel_lib import emotion, synthfaces

    faces = synthfaces.make_faces(40, seed=9, class_freq="uniform")
    split = emotion.Split(faces.images[:24], faces.labels[:24], faces.images[24:32], faces.labels[24:32],
                          faces.images[32:], faces.labels[32:])
    net = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Rescaling(1 / 255),
                            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])
    net.compile("adam", "sparse_categorical_crossentropy")
    for fit in (emotion.fit_model, dataset_fit()):
        hist = fit(net, split, class_weight=emotion.class_weights(split.y_train), callbacks=[], epochs=2,
                   batch_size=8, verbose=0)
        assert sorted(hist.history) == ["loss", "val_loss"] and len(hist.history["loss"]) == 2


# ---- 05: export call ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Exports of a tiny 48x48x1 -> 7 model, as a learner's call could make them."""
    import keras

    from aiffel_lib import emotion, export, fer

    root = tmp_path_factory.mktemp("web_models")
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Conv2D(2, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])

    def make(folder="face2emoji", labels=fer.EMOTIONS, **kw):
        kw = {"emoji": fer.EMOJI, "preprocessing": emotion.PREPROCESSING, **kw}
        kw = {k: v for k, v in kw.items() if v is not None}
        return export.export_tfjs(model, root / folder / "face2emoji" if folder != "face2emoji" else root / folder,
                                  labels, **kw)

    def missing_shard():
        paths = make("broken")
        for p in paths["weights"]:
            p.unlink()
        return paths

    out = {
        "course call": make(),
        "preprocessing left out (None)": make("none", preprocessing=None),
        "paths as strings": {k: str(v) if not isinstance(v, list) else v for k, v in make("strings").items()},
        "float16": make("half", quantize="float16"),
        "no emoji": make("noemoji", emoji=None),
        "labels sorted": make("sorted", labels=sorted(fer.EMOTIONS)),
        "scale 1/255": make("scaled", preprocessing={"color": "gray", "scale": 1 / 255, "offset": 0.0}),
        "weights deleted": missing_shard(),
    }
    out["other folder"] = export.export_tfjs(model, root / "model", fer.EMOTIONS, emoji=fer.EMOJI,
                                             preprocessing=emotion.PREPROCESSING)
    return root, out


EXPORT_CASES = [
    Case("course call", "course call", True, ("all 7",)),
    Case("preprocessing left out (None)", "preprocessing left out (None)", True, ("emotion.PREPROCESSING",)),
    Case("paths as strings", "paths as strings", True),
    Case("nothing assigned (None)", None, False, ("None",)),
    Case("a list instead of the dict", [1, 2], False, ("expected the dict",)),
    Case("float16", "float16", False, ("quantised",)),
    Case("no emoji", "no emoji", False, ("emoji",)),
    Case("labels sorted", "labels sorted", False, ("in that order",)),
    Case("scale 1/255", "scale 1/255", False, ("scale 1, offset 0",)),
    Case("weights deleted", "weights deleted", False, ("missing",)),
    Case("other folder", "other folder", False, ("html/models/face2emoji/",)),
]


@pytest.mark.parametrize("case", EXPORT_CASES, ids=ids(EXPORT_CASES))
def test_face2emoji_export_check(capsys, monkeypatch, exports, case):
    from aiffel_lib import paths as paths_module

    root, made = exports
    answer = made.get(case.answer) if isinstance(case.answer, str) else case.answer
    # each export sits in <root>/<case>/face2emoji (the course's in <root>/face2emoji): point the web
    # folder at its parent so that only "other folder" is in the wrong place
    if isinstance(answer, dict) and case.answer != "other folder":
        monkeypatch.setattr(paths_module, "WEB_MODELS_DIR", __import__("pathlib").Path(answer["dir"]).parent)
    else:
        monkeypatch.setattr(paths_module, "WEB_MODELS_DIR", root)
    judge(capsys, checks.check_face2emoji_export(answer), case)


# ---- 06: fooling step ---------------------------------------------------------------------------

def tf_step(x, g, lr):
    import tensorflow as tf

    return x + lr * g / tf.norm(g)


def in_place_step(x, g, lr):
    x += lr * g / np.sqrt(np.sum(g ** 2))
    return x


def clip_step(x, g, lr):
    import tensorflow as tf

    return (x + lr * tf.clip_by_norm(g, 1.0)).numpy()


FOOLING_CASES = [
    Case("course solution", lambda x, g, lr: x + lr * g / np.linalg.norm(g), True, ("all 3",)),
    Case("TensorFlow, tf.norm", tf_step, True),
    Case("epsilon in the denominator", lambda x, g, lr: x + lr * g / (np.linalg.norm(g) + 1e-12), True),
    Case("per-image norm (keepdims)", lambda x, g, lr: x + lr * g / np.linalg.norm(
        g.reshape(len(g), -1), axis=1).reshape(-1, 1, 1, 1), True),
    Case("in-place update, np.sqrt(sum)", in_place_step, True),
    Case("tf.math.l2_normalize", lambda x, g, lr: x + lr * __import__("tensorflow").math.l2_normalize(g), True),
    Case("not written (stub)", stub, False, ("not written yet",)),
    Case("against the gradient", lambda x, g, lr: x - lr * g / np.linalg.norm(g), False, ("against",)),
    Case("not normalised", lambda x, g, lr: x + lr * g, False, ("not normalised",)),
    Case("lr ignored", lambda x, g, lr: x + g / np.linalg.norm(g), False, ("lr",)),
    Case("sign of the gradient (FGSM)", lambda x, g, lr: x + lr * np.sign(g), False, ("FGSM",)),
    Case("normalised per pixel", lambda x, g, lr: x + lr * g / np.linalg.norm(g, axis=-1, keepdims=True), False,
         ("per pixel",)),
    Case("tf.clip_by_norm", clip_step, False, ("clipped",)),
    Case("divided by the max", lambda x, g, lr: x + lr * g / np.abs(g).max(), False, ("largest value",)),
    Case("np.linalg.norm(g, ord=2) on the image", lambda x, g, lr: x + lr * g / np.linalg.norm(g, ord=2), False,
         ("leave out ord",)),
    Case("returns None", lambda x, g, lr: None, False, ("None",)),
]


@pytest.mark.parametrize("case", FOOLING_CASES, ids=ids(FOOLING_CASES))
def test_fooling_step_check(capsys, case):
    judge(capsys, checks.check_fooling_step(case.answer), case)


# ---- 06: class-visualisation update step -------------------------------------------------------

def cv_step(sign=1.0, l2_factor=2.0, l2_sign=-1.0, normalise="whole", use_lr=True, add_image=True):
    """A NumPy update step; the defaults are the course solution, each argument one way to get it wrong."""
    def fn(image, grad, l2_reg, learning_rate):
        if normalise == "score only":
            step = learning_rate * (grad / np.linalg.norm(grad) + l2_sign * l2_factor * l2_reg * image)
            return image + sign * step
        d = grad + l2_sign * l2_factor * l2_reg * image
        if normalise == "whole":
            d = d / np.linalg.norm(d)
        step = sign * (learning_rate if use_lr else 1.0) * d
        return image + step if add_image else step
    return fn


def tf_cv_step(image, grad, l2_reg, learning_rate):
    import tensorflow as tf

    x = tf.constant(image)
    d = tf.constant(grad) - 2.0 * l2_reg * x
    return x + learning_rate * d / tf.norm(d)


def tf_l2_normalize_cv_step(image, grad, l2_reg, learning_rate):
    import tensorflow as tf

    return image + learning_rate * tf.math.l2_normalize(grad - 2 * l2_reg * image).numpy()


def tape_cv_step(image, grad, l2_reg, learning_rate):
    """The penalty's gradient from a GradientTape instead of by hand."""
    import tensorflow as tf

    x = tf.Variable(image)
    with tf.GradientTape() as tape:
        penalty = l2_reg * tf.reduce_sum(tf.square(x))
    d = grad - tape.gradient(penalty, x)
    return (x + learning_rate * d / tf.norm(d)).numpy()


def in_place_cv_step(image, grad, l2_reg, learning_rate):
    grad -= 2 * l2_reg * image
    image += learning_rate * grad / np.sqrt(np.sum(grad ** 2))
    return image


def clipped_cv_step(image, grad, l2_reg, learning_rate):
    import tensorflow as tf

    return (image + learning_rate * tf.clip_by_norm(grad - 2 * l2_reg * image, 1.0)).numpy()


def batched_cv_step(image, grad, l2_reg, learning_rate):
    d = grad - 2 * l2_reg * image
    return (image + learning_rate * d / np.linalg.norm(d))[None]


def tf_on_numpy_cv_step(image, grad, l2_reg, learning_rate):
    d = grad - 2 * l2_reg * image
    return (image + learning_rate * d / np.linalg.norm(d)).numpy()


CV_STEP_CASES = [
    Case("course solution", cv_step(), True, ("all 3",)),
    Case("TensorFlow, tf.norm", tf_cv_step, True),
    Case("tf.math.l2_normalize", tf_l2_normalize_cv_step, True),
    Case("penalty gradient from a GradientTape", tape_cv_step, True),
    Case("in-place update, np.sqrt(sum)", in_place_cv_step, True),
    Case("epsilon in the denominator", lambda x, g, l2, lr: x + lr * (g - 2 * l2 * x) / (
        np.linalg.norm(g - 2 * l2 * x) + 1e-8), True),
    Case("float64 result", lambda x, g, l2, lr: cv_step()(x.astype(np.float64), g.astype(np.float64), l2, lr), True),
    Case("np.linalg.norm(d.ravel(), ord=2)", lambda x, g, l2, lr: x + lr * (g - 2 * l2 * x) / np.linalg.norm(
        (g - 2 * l2 * x).ravel(), ord=2), True),
    Case("not written (stub)", stub, False, ("not written yet",)),
    Case("gradient descent", cv_step(sign=-1.0), False, ("descent",), ("wrong sign",)),
    Case("L2 term with the wrong sign", cv_step(l2_sign=1.0), False, ("wrong sign",), ("descent",)),
    Case("L2 gradient l2_reg * image (tf.nn.l2_loss)", cv_step(l2_factor=1.0), False, ("2 * l2_reg * image",),
         ("wrong sign", "missing")),
    Case("L2 term missing", cv_step(l2_factor=0.0), False, ("L2 term is missing",)),
    Case("not normalised", cv_step(normalise="none"), False, ("not normalised",)),
    Case("only the score gradient normalised", cv_step(normalise="score only"), False,
         ("only the score's gradient",)),
    Case("lr ignored", cv_step(use_lr=False), False, ("learning rate is not used",)),
    Case("returns the step, not the image", cv_step(add_image=False), False, ("step alone",)),
    Case("tf.clip_by_norm", clipped_cv_step, False, ("clipped",)),
    Case("batch axis added", batched_cv_step, False, ("shape (1, 8, 8, 3)",)),
    Case(".numpy() on a NumPy array", tf_on_numpy_cv_step, False, ("no .numpy() is needed",)),
    Case("np.linalg.norm(d, ord=2) on the image", lambda x, g, l2, lr: x + lr * (g - 2 * l2 * x) / np.linalg.norm(
        g - 2 * l2 * x, ord=2), False, ("leave out ord",)),
    Case("returns None", lambda x, g, l2, lr: None, False, ("None",)),
]


@pytest.mark.parametrize("case", CV_STEP_CASES, ids=ids(CV_STEP_CASES))
def test_class_visualization_update_step_check(capsys, case):
    judge(capsys, checks.check_class_visualization_update_step(case.answer), case)


def test_class_visualization_update_step_reference_is_a_normalised_ascent_step():
    """The check's reference, against the formula written out independently."""
    from aiffel_lib import saliency

    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(2, 5, 5, 3))
    got = saliency.class_visualization_update_step(x, g, 0.3, 4.0)
    d = g - 0.6 * x
    assert np.allclose(got, x + 4.0 * d / np.sqrt((d ** 2).sum()))
    assert np.isclose(np.linalg.norm(got - x), 4.0)


# ---- 06: vanilla saliency ------------------------------------------------------------------------

def saliency_answer(pick="gather", reduce="max", absolute=True, keepdims=False, softmax=False, loop=False,
                    predict=False):
    import tensorflow as tf

    def fn(model, images, class_ids):
        if loop:
            return np.stack([fn_one(model, images[i:i + 1], class_ids[i:i + 1])[0] for i in range(len(images))])
        return fn_one(model, images, class_ids)

    def fn_one(model, images, class_ids):
        x = tf.convert_to_tensor(images, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.constant(model.predict(images, verbose=0)) if predict else model(x)
            if softmax:
                scores = tf.nn.softmax(scores)
            if pick == "gather":
                picked = tf.gather(scores, class_ids, axis=1, batch_dims=1)
            elif pick == "one_hot":
                picked = tf.reduce_sum(scores * tf.one_hot(class_ids, scores.shape[-1]), axis=1)
            elif pick == "first":
                picked = scores[:, int(class_ids[0])]
            elif pick == "no_batch_dims":
                picked = tf.reduce_sum(tf.gather(scores, class_ids, axis=1))
            else:
                picked = tf.reduce_max(scores, axis=1)
            picked = tf.reduce_sum(picked)
        grads = tape.gradient(picked, x)
        g = tf.abs(grads) if absolute else grads
        op = {"max": tf.reduce_max, "mean": tf.reduce_mean, "sum": tf.reduce_sum}[reduce]
        return op(g, axis=-1, keepdims=keepdims).numpy()
    return fn


SALIENCY_CASES = [
    Case("course solution", saliency_answer(), True, ("all 2",)),
    Case("tf.one_hot and reduce_sum", saliency_answer(pick="one_hot"), True),
    Case("one image at a time", saliency_answer(loop=True), True),
    Case("not written (stub)", stub, False, ("not written yet",)),
    Case("softmax probability", saliency_answer(softmax=True), False, ("softmax",)),
    Case("channels averaged", saliency_answer(reduce="mean"), False, ("averaged",)),
    Case("channels summed", saliency_answer(reduce="sum"), False, ("summed",)),
    Case("no abs", saliency_answer(absolute=False), False, ("absolute value",)),
    Case("keepdims=True", saliency_answer(keepdims=True), False, ("keepdims",)),
    Case("first image's class for all", saliency_answer(pick="first"), False, ("first image",)),
    Case("gather without batch_dims", saliency_answer(pick="no_batch_dims"), False, ("SUM",)),
    Case("top class instead of class_ids", saliency_answer(pick="top"), False, ("top class",)),
    Case("model.predict inside the tape", saliency_answer(predict=True), False, ("tape.gradient returned None",)),
]


@pytest.mark.parametrize("case", SALIENCY_CASES, ids=ids(SALIENCY_CASES))
def test_vanilla_saliency_check(capsys, case):
    judge(capsys, checks.check_vanilla_saliency(case.answer), case)


# ---- shared behaviour ---------------------------------------------------------------------------------

def test_a_check_that_meets_an_unforeseen_answer_says_so_without_a_traceback(capsys):
    class Weird:
        def __array__(self, *a, **k):
            raise RuntimeError("cannot be an array")

    ok = checks.check_fooling_step(lambda x, g, lr: Weird())
    out = capsys.readouterr().out
    assert not ok and "Traceback" not in out and out.startswith(checks.FAIL)


def test_passing_the_result_instead_of_the_function_is_explained(capsys):
    ok = checks.check_get_histogram(np.zeros((12, 1), np.float32))
    out = capsys.readouterr().out
    assert not ok and "without calling it" in out
