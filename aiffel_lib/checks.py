"""Friendly automatic checks for the exercise notebooks.

Each ``check_*`` function runs a learner's function on small known cases, compares
it with an independent reference (OpenCV's own functions, the package's tested
implementation) and PRINTS a verdict in plain words: what passed, or what differs
(shape, dtype, value range, ordering, which example) with a hint. It never lets a
traceback from deep inside OpenCV or TensorFlow reach the learner. Each returns a
:class:`Verdict`, truthy when it passed, so the test-suite can assert on it.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

PASS, FAIL = "✅", "❌"


class _Mistake(Exception):
    """One thing the learner's code got wrong; ``hint`` says what to try."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def _call(fn: Callable, *args: Any, what: str = "your function", **kwargs: Any) -> Any:
    """Call the learner's function; turn its exceptions into a plain-words mistake."""
    if not callable(fn):
        raise _Mistake(f"expected a function, got {type(fn).__name__}",
                       "pass the function itself, without calling it: check_x(my_function)")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # keep the learner's debug prints out of the verdict
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise _Mistake(f"{what} is not written yet", "replace the # [[YOUR CODE]] line with your code, "
                       "run that cell, then run this check again") from None
    except _Mistake:
        raise
    except Exception as exc:  # noqa: BLE001 — any learner error becomes a message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise _Mistake(f"{what} raised {type(exc).__name__}: {first[:200]}",
                       "read the message above; print the shapes of your inputs to see what arrives") from None


class Verdict:
    """What a check found: truthy when it passed. Displays as nothing in a notebook (the
    verdict is already printed), so a check cell shows just the plain-words message."""

    def __init__(self, name: str, passed: bool, message: str):
        self.name, self.passed, self.message = name, passed, message

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"Verdict({self.name!r}, passed={self.passed})"

    def _ipython_display_(self) -> None:
        pass


def _verdict(name: str, body: Callable[[], int]) -> Verdict:
    """Run the checks in ``body`` (returns how many passed) and print one verdict."""
    try:
        n = body()
    except _Mistake as m:
        message = f"{FAIL} {name}: {m}" + (f"\n   hint: {m.hint}" if m.hint else "")
        print(message)
        return Verdict(name, False, message)
    message = f"{PASS} {name}: all {n} checks passed"
    print(message)
    return Verdict(name, True, message)


def _expect_array(value: Any, shape: tuple | None, dtype: Any | None, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise _Mistake(f"{what} should be a NumPy array, got {type(value).__name__}",
                       "return the array itself (np.concatenate / cv2 functions return arrays)")
    if shape is not None and value.shape != shape:
        raise _Mistake(f"{what} has shape {value.shape}, expected {shape}")
    if dtype is not None and value.dtype != np.dtype(dtype):
        raise _Mistake(f"{what} has dtype {value.dtype}, expected {np.dtype(dtype)}",
                       "OpenCV histograms are float32; avoid converting with np.array(..., dtype=float)")
    return value


def _sample_bgr_images() -> dict[str, np.ndarray]:
    """Small known BGR test images: real photo crops plus a black and a pure-blue image."""
    from aiffel_lib.photos import load_photo
    import cv2

    out = {}
    for name in ("chelsea", "coffee", "rocket"):
        out[f"{name}.png"] = cv2.resize(load_photo(name, "bgr"), (32, 32), interpolation=cv2.INTER_AREA)
    out["black.png"] = np.zeros((32, 32, 3), np.uint8)
    blue = np.zeros((32, 32, 3), np.uint8)
    blue[..., 0] = 255
    out["blue.png"] = blue
    return out


# ---- 02: histogram search -------------------------------------------------------------

def check_get_histogram(get_histogram: Callable) -> Verdict:
    """The course's ``get_histogram(image)``: per-channel calcHist with 4 bins over [0, 256],
    concatenated, L2-normalised with cv2.normalize; compared with aiffel_lib.histsearch."""
    import cv2

    from aiffel_lib import histsearch

    def body() -> int:
        n = 0
        for name, img in _sample_bgr_images().items():
            got = _call(get_histogram, img.copy(), what=f"get_histogram({name})")
            got = _expect_array(got, None, np.float32, f"the histogram of {name}")
            flat = got.reshape(-1)
            if flat.size != 12:
                raise _Mistake(f"the histogram of {name} has {flat.size} values, expected 12 "
                               "(3 channels x 4 bins)", "use histSize=[4] and concatenate the 3 channels")
            ref = histsearch.color_histogram(img, bins=4)
            if not np.isclose(np.linalg.norm(flat), 1.0, atol=1e-4) and name != "black.png":
                raise _Mistake(f"the histogram of {name} is not normalised: its length is "
                               f"{np.linalg.norm(flat):.3f}, expected 1 (L2)", "finish with histogram = cv2.normalize(histogram, histogram)")
            swapped = ref.reshape(3, 4)[::-1].reshape(-1)
            if np.allclose(flat, swapped, atol=1e-5) and not np.allclose(flat, ref, atol=1e-5):
                raise _Mistake(f"the channels of {name} come out in the wrong order",
                               "OpenCV images are BGR: channel 0 is blue; loop i = 0, 1, 2 over [image]")
            if not np.allclose(flat, ref, atol=1e-5):
                raw = np.concatenate([cv2.calcHist([img], [i], None, [4], [0, 256]) for i in range(3)]).reshape(-1)
                if np.allclose(flat, raw, atol=1e-3):
                    raise _Mistake(f"the histogram of {name} is not normalised (values are pixel counts)",
                                   "finish with histogram = cv2.normalize(histogram, histogram)")
                worst = int(np.argmax(np.abs(flat - ref)))
                raise _Mistake(f"the histogram of {name} differs from OpenCV's at value {worst}: "
                               f"{flat[worst]:.4f} instead of {ref[worst]:.4f}",
                               "calcHist(images=[image], channels=[i], mask=None, histSize=[4], ranges=[0, 256])")
            n += 1
        return n

    return _verdict("get_histogram", body)


def check_build_histogram_db(build_histogram_db: Callable) -> Verdict:
    """``build_histogram_db(images_dir_path) -> {file name: histogram}`` on a small folder
    of known images (compared with cv2.calcHist through aiffel_lib.histsearch)."""
    import cv2

    from aiffel_lib import histsearch

    def body() -> int:
        images = _sample_bgr_images()
        with tempfile.TemporaryDirectory(prefix="check-db-") as folder:
            for name, img in images.items():
                cv2.imwrite(os.path.join(folder, name), img)
            db = _call(build_histogram_db, folder, what="build_histogram_db(folder)")
        if not isinstance(db, dict):
            raise _Mistake(f"build_histogram_db should return a dict, got {type(db).__name__}",
                           "start with histogram_db = {} and fill histogram_db[file_name] = histogram")
        if len(db) != len(images):
            raise _Mistake(f"the folder holds {len(images)} images but your dict has {len(db)} entries",
                           "loop over every file of os.listdir(folder)")
        if set(db) != set(images):
            extra = sorted(set(db) - set(images))[:2]
            raise _Mistake(f"the keys should be the file names (e.g. {sorted(images)[0]!r}), got {extra}",
                           "use the file name, not the full path or the image, as the key")
        for name, img in images.items():
            got = np.asarray(db[name], dtype=np.float32).reshape(-1)
            if not np.allclose(got, histsearch.color_histogram(img), atol=1e-5):
                raise _Mistake(f"the histogram stored for {name} is not get_histogram of that image",
                               "read the file with cv2.imread(os.path.join(folder, file_name)) and call get_histogram")
        return 3

    return _verdict("build_histogram_db", body)


def check_search(search: Callable) -> Verdict:
    """``search(histogram_db, target_histogram, top_k=5) -> {name: distance}``: chi-square
    distances from cv2.compareHist, closest first, exactly top_k entries."""
    import cv2

    from aiffel_lib import histsearch

    def body() -> int:
        images = _sample_bgr_images()
        rng = np.random.default_rng(0)
        for i in range(6):  # a few more, so that top 5 is a real choice
            images[f"noise_{i}.png"] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        db = {name: histsearch.color_histogram(img).reshape(-1, 1) for name, img in images.items()}
        target = db["coffee.png"]
        got = _call(search, db, target, what="search(histogram_db, target_histogram)")
        if isinstance(got, list):
            got = dict(got)
        if not isinstance(got, dict):
            raise _Mistake(f"search should return a dict {{name: distance}}, got {type(got).__name__}")
        if len(got) != 5:
            raise _Mistake(f"search returned {len(got)} results, expected the top 5",
                           "keep only the first top_k items after sorting: sorted(...)[:top_k]")
        ref = {n: cv2.compareHist(target, h, cv2.HISTCMP_CHISQR) for n, h in db.items()}
        for name, value in got.items():
            if name not in ref:
                raise _Mistake(f"{name!r} is not a name from histogram_db")
            if not np.isclose(float(value), ref[name], rtol=1e-5, atol=1e-6):
                raise _Mistake(f"the distance of {name} is {float(value):.4f}, cv2.compareHist with "
                               f"HISTCMP_CHISQR gives {ref[name]:.4f}",
                               "use method=cv2.HISTCMP_CHISQR, with the target as H1")
        values = [float(v) for v in got.values()]
        if values == sorted(values, reverse=True) and values != sorted(values):
            raise _Mistake("the results are sorted from the largest distance to the smallest",
                           "chi-square is a distance: the most similar image has the SMALLEST value; "
                           "sort ascending (no reverse=True)")
        if values != sorted(values):
            raise _Mistake("the results are not in order of distance", "sort by value: key=lambda item: item[1]")
        best = sorted(ref.items(), key=lambda kv: kv[1])[:5]
        if [n for n, _ in best] != list(got):
            raise _Mistake(f"the top 5 should be {[n for n, _ in best]}, got {list(got)}",
                           "compare the target with EVERY histogram in histogram_db before sorting")
        if list(got)[0] != "coffee.png":
            raise _Mistake("the query image itself should come first (distance 0)")
        return 4

    return _verdict("search", body)


def check_show_result(show_result: Callable) -> Verdict:
    """``show_result(result)`` draws one panel per result, in RGB (matplotlib's order)."""
    import matplotlib.pyplot as plt

    from aiffel_lib.histsearch import read_image

    def body() -> int:
        folder = _call(lambda: show_result.__globals__.get("images_dir_path"), what="reading images_dir_path")
        if folder is None:
            raise _Mistake("images_dir_path is not defined in this notebook", "run the cells above first")
        names = sorted(f for f in os.listdir(folder) if f.endswith(".png"))[:3]
        result = {name: float(i) for i, name in enumerate(names)}
        plt.close("all")
        _call(show_result, result, what="show_result(result)")
        fig = plt.gcf()
        shown = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
        plt.close(fig)
        if len(shown) != len(result):
            raise _Mistake(f"{len(result)} results should give {len(result)} images, your figure has {len(shown)}",
                           "add one subplot per file name: f.add_subplot(1, len(result), idx + 1)")
        for name, arr in zip(names, shown):
            bgr = read_image(os.path.join(folder, name))
            arr = np.asarray(arr)[..., :3]
            if arr.shape[:2] != bgr.shape[:2]:
                raise _Mistake(f"{name} is shown at {arr.shape[:2]}, the file is {bgr.shape[:2]}")
            if np.array_equal(arr, bgr) and not np.array_equal(arr, bgr[..., ::-1]):
                raise _Mistake(f"{name} is shown with blue and red swapped",
                               "cv2.imread gives BGR; show img[..., ::-1] or open the file with PIL.Image.open")
        return 2

    return _verdict("show_result", body)


# ---- 01: colour masking -----------------------------------------------------------------

def check_blue_mask(lower_blue: Any, upper_blue: Any, mask: Any, res: Any, frame: np.ndarray) -> Verdict:
    """The course's blue range in OpenCV's HSV (H 0-179), the mask from cv2.inRange on the
    HSV frame, and ``res`` = cv2.bitwise_and(frame, frame, mask=mask)."""
    import cv2

    def body() -> int:
        if lower_blue is None or upper_blue is None:
            raise _Mistake("lower_blue / upper_blue are not set yet", "fill in the two np.array([...]) ranges")
        lo, hi = np.asarray(lower_blue).ravel(), np.asarray(upper_blue).ravel()
        if lo.size != 3 or hi.size != 3:
            raise _Mistake("each range needs three numbers: (H, S, V)")
        if lo[0] > 179 or hi[0] > 179:
            raise _Mistake(f"hue {max(lo[0], hi[0])} is outside OpenCV's hue scale 0-179",
                           "OpenCV stores hue as degrees / 2: blue (about 240 degrees) is about 120")
        if np.any(lo > hi):
            raise _Mistake("lower_blue is above upper_blue in some channel, so nothing can match",
                           "lower holds the minimum of each channel, upper the maximum")
        pure_blue = cv2.cvtColor(np.uint8([[[255, 0, 0]]]), cv2.COLOR_BGR2HSV)[0, 0]
        if not (np.all(lo <= pure_blue) and np.all(pure_blue <= hi)):
            raise _Mistake(f"pure blue is HSV {tuple(int(v) for v in pure_blue)}, outside your range",
                           "the course's range is [110, 50, 50] .. [130, 255, 255]")
        if mask is None or res is None:
            raise _Mistake("mask / res are not computed yet")
        hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
        ref_mask = cv2.inRange(hsv, lo.astype(np.uint8), hi.astype(np.uint8))
        mask_arr = _expect_array(mask, frame.shape[:2], np.uint8, "mask")
        if not np.array_equal(mask_arr, ref_mask):
            rgb_mask = cv2.inRange(cv2.cvtColor(frame, cv2.COLOR_RGB2HSV), lo.astype(np.uint8), hi.astype(np.uint8))
            if np.array_equal(mask_arr, rgb_mask):
                raise _Mistake("the mask was computed from an RGB conversion", "frames from OpenCV are BGR: cv2.COLOR_BGR2HSV")
            raise _Mistake("mask differs from cv2.inRange(hsv, lower_blue, upper_blue)",
                           "threshold the HSV image, not the BGR frame")
        res_arr = _expect_array(res, frame.shape, np.uint8, "res")
        ref_res = cv2.bitwise_and(frame, frame, mask=ref_mask)
        if not np.array_equal(res_arr, ref_res):
            if np.array_equal(res_arr, frame):
                raise _Mistake("res is the whole frame: the mask was not applied",
                               "cv2.bitwise_and(frame, frame, mask=mask)")
            raise _Mistake("res differs from cv2.bitwise_and(frame, frame, mask=mask)")
        return 4

    return _verdict("blue mask", body)


# ---- 03: classifier preprocessing ---------------------------------------------------------

def check_preprocess(preprocess: Callable, classifier: Any) -> Verdict:
    """``preprocess(image_rgb) -> model input``: central crop, resize, scale — compared with
    the classifier's own ``.preprocess`` on real photos of different shapes."""
    from aiffel_lib.photos import load_photo

    def body() -> int:
        size = classifier.input_size
        n = 0
        for name in ("chelsea", "rocket", "coffee"):
            img = load_photo(name)
            got = _call(preprocess, img.copy(), what=f"preprocess({name})")
            ref = classifier.preprocess(img)
            got = _expect_array(got, None, None, f"preprocess({name})")
            if got.shape != ref.shape:
                if got.ndim == 4 and got.shape[1:] == ref.shape:
                    raise _Mistake(f"preprocess returned a batch {got.shape}; return one image {ref.shape}")
                raise _Mistake(f"preprocess({name}) has shape {got.shape}, expected {ref.shape}",
                               f"crop the central square, then resize to {size}x{size}")
            if got.dtype != np.float32:
                raise _Mistake(f"preprocess({name}) is {got.dtype}, the model takes float32")
            lo, hi = float(got.min()), float(got.max())
            if lo >= 0 and hi > 2:
                raise _Mistake(f"values run {lo:.1f}..{hi:.1f}: the pixels were not scaled",
                               f"the network was trained on (pixel - {classifier.mean:g}) / {classifier.std:g}")
            if lo >= 0 and hi <= 1:
                raise _Mistake(f"values run {lo:.2f}..{hi:.2f} (0..1), the network expects about -1..1",
                               f"use (pixel - {classifier.mean:g}) / {classifier.std:g}")
            if np.allclose(got, ref[..., ::-1], atol=0.02) and not np.allclose(got, ref, atol=0.02):
                raise _Mistake(f"{name}: red and blue are swapped", "the classifier takes RGB; do not convert to BGR")
            err = float(np.abs(got - ref).max())
            if err > 0.02:
                raise _Mistake(f"{name}: differs from the classifier's preprocessing by up to {err:.3f}",
                               "crop first (the central square of 0.875 x the shorter side), then resize "
                               "with cv2.INTER_AREA, then scale; squashing the whole photo distorts it")
            n += 1
        return n

    return _verdict("preprocess", body)


# ---- 04: the emoji model's head and training call ---------------------------------------

def check_emoji_head(head: Callable) -> Verdict:
    """``head(features, num_classes=7, dropout=0.2) -> probabilities``: global average pooling,
    dropout, Dense ``"logits"``, softmax — built on a small Keras feature map and compared
    numerically with that recipe (dropout is off at inference, so the output is exact)."""
    import keras

    def body() -> int:
        rng = np.random.default_rng(4)
        features = keras.Input((3, 3, 16), name="features")
        out = _call(head, features, num_classes=7, dropout=0.2, what="your head")
        if out is None:
            raise _Mistake("your head returned None", "return the output of the last layer (the softmax)")
        try:
            model = keras.Model(features, out)
        except Exception as exc:  # noqa: BLE001 — not a tensor built on `features`
            raise _Mistake(f"could not build a model from what your head returned ({type(out).__name__}): "
                           f"{str(exc).splitlines()[0][:150] if str(exc) else ''}",
                           "call each layer on the previous layer's output, starting from `features`, "
                           "and return the last one") from None
        shape = tuple(model.output_shape)
        if len(shape) != 2 or shape[-1] != 7:
            hint = ("pool the (h, w) grid away first: keras.layers.GlobalAveragePooling2D()" if len(shape) == 4
                    else "the last Dense layer needs num_classes units")
            raise _Mistake(f"the output has shape {shape}, expected (None, 7): one score per class", hint)
        try:
            logits = model.get_layer("logits")
        except ValueError:
            raise _Mistake("there is no layer named 'logits'",
                           "name the Dense layer: keras.layers.Dense(num_classes, name='logits') — "
                           "saliency maps (notebook 06) explain its output, the score before softmax") from None
        if not isinstance(logits, keras.layers.Dense):
            raise _Mistake(f"the layer named 'logits' is a {type(logits).__name__}, expected Dense")
        kernel_in = logits.kernel.shape[0]
        if kernel_in == 3 * 3 * 16:
            raise _Mistake("the feature map was flattened (3 x 3 x 16 = 144 inputs to the Dense layer)",
                           "use keras.layers.GlobalAveragePooling2D(): one average per channel, "
                           "far fewer weights to overfit")
        rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
        if not rates:
            raise _Mistake("there is no Dropout layer", "add keras.layers.Dropout(dropout) before the Dense layer")
        if not any(abs(r - 0.2) < 1e-9 for r in rates):
            raise _Mistake(f"the Dropout rate is {rates[0]}, not the `dropout` argument (0.2 here)",
                           "use keras.layers.Dropout(dropout), not a fixed number")
        w = rng.normal(size=(kernel_in, 7)).astype(np.float32)
        b = rng.normal(size=7).astype(np.float32)
        if kernel_in != 16 or len(logits.get_weights()) != 2:
            raise _Mistake(f"the 'logits' Dense layer has {kernel_in} inputs, expected 16 (one per channel)",
                           "features -> GlobalAveragePooling2D -> Dropout -> Dense(num_classes, name='logits')")
        logits.set_weights([w, b])
        x = rng.normal(size=(5, 3, 3, 16)).astype(np.float32)
        got = np.asarray(model(x, training=False), np.float64)
        z = x.mean(axis=(1, 2)) @ w + b

        def softmax(v):
            e = np.exp(v - v.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        if np.allclose(got, softmax(z), atol=1e-5):
            return 5
        if np.allclose(got, softmax(softmax(z)), atol=1e-5):
            raise _Mistake("softmax is applied twice (the outputs are squeezed towards 1/7 each)",
                           "keep Dense(..., name='logits') linear and apply softmax once, in the last layer")
        if np.allclose(got, z, atol=1e-4):
            raise _Mistake("the outputs are raw scores: the softmax is missing (they do not sum to 1)",
                           "end with keras.layers.Activation('softmax', name='probabilities')")
        raise _Mistake("the probabilities differ from pooling -> Dense -> softmax",
                       "features -> GlobalAveragePooling2D -> Dropout -> Dense(num_classes, name='logits') "
                       "-> Activation('softmax')")

    return _verdict("emoji head", body)


class _FakeHistory:
    history = {"loss": [1.0], "val_loss": [1.0]}


class _RecordingNet:
    """Stands in for the compiled Keras model: records how ``fit`` is called, trains nothing."""

    def __init__(self):
        self.calls: list[dict[str, Any]] = []
        self.history = _FakeHistory()

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        import inspect
        import keras

        try:
            bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        except TypeError as exc:
            raise _Mistake(f"net.fit was called with arguments it does not take: {exc}",
                           "net.fit(x, y, validation_data=(x_val, y_val), class_weight=..., callbacks=..., "
                           "epochs=..., batch_size=...)") from None
        bound.apply_defaults()
        args_ = dict(bound.arguments)
        args_.pop("self", None)
        args_.update(args_.pop("kwargs", {}) or {})
        self.calls.append(args_)
        return self.history


def check_fit(fit: Callable) -> Verdict:
    """``fit(net, split, class_weight, callbacks, epochs, batch_size, verbose=2) -> History``:
    one ``net.fit`` on the train split, validated on the validation split (never the test
    split), with the class weights, callbacks, epochs and batch size it was given."""
    from aiffel_lib import emotion

    def body() -> int:
        rng = np.random.default_rng(5)

        def faces(n):
            return rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8), rng.integers(0, 7, size=n)

        (xt, yt), (xv, yv), (xs, ys) = faces(12), faces(4), faces(4)
        split = emotion.Split(xt, yt, xv, yv, xs, ys)
        net = _RecordingNet()
        weights = {k: 1.0 + k / 10 for k in range(7)}
        callbacks = [object()]
        out = _call(fit, net, split, class_weight=weights, callbacks=callbacks, epochs=3, batch_size=4,
                    verbose=0, what="your fit")
        if not net.calls:
            raise _Mistake("your function never called net.fit", "call net.fit(...) and return what it returns")
        if len(net.calls) > 1:
            raise _Mistake(f"net.fit was called {len(net.calls)} times; call it once with every epoch")
        call = net.calls[0]
        if out is not net.history:
            raise _Mistake("your function does not return net.fit's History",
                           "return net.fit(...): emotion.train reads the learning curves from it")

        def same(a, b):
            a = np.asarray(a)
            return a.shape == b.shape and np.array_equal(a, b)

        x, y = call.get("x"), call.get("y")
        x_arr = np.asarray(x) if x is not None else None
        if x_arr is None:
            raise _Mistake("net.fit got no training images", "pass them first: net.fit(x, y, ...)")
        want = emotion.to_model_input(xt)
        for name, other in (("test", xs), ("validation", xv)):
            if x_arr.shape[0] == len(other) and np.array_equal(x_arr.reshape(other.shape), other):
                raise _Mistake(f"net.fit trained on the {name} split", "train on split.x_train / split.y_train")
        if x_arr.shape == xt.shape:
            raise _Mistake(f"the training images have shape {x_arr.shape}: the channel axis is missing",
                           "the model takes (N, 48, 48, 1) float32: emotion.to_model_input(split.x_train)")
        if not same(x_arr, want):
            if x_arr.shape == want.shape and np.allclose(x_arr, want / 255.0):
                raise _Mistake("the pixels were divided by 255", "the model rescales 0..255 itself: "
                               "pass emotion.to_model_input(split.x_train) unchanged")
            raise _Mistake(f"the training images ({x_arr.shape}, {x_arr.dtype}) are not "
                           "emotion.to_model_input(split.x_train)")
        if y is None or not same(y, yt):
            raise _Mistake("the labels passed to net.fit are not split.y_train")
        val = call.get("validation_data")
        if val is None:
            if call.get("validation_split"):
                raise _Mistake("validation_split takes the last rows of the training data, not the "
                               "validation split that split_dataset made without leakage",
                               "validation_data=(emotion.to_model_input(split.x_val), split.y_val)")
            raise _Mistake("no validation data: early stopping has nothing to watch",
                           "validation_data=(emotion.to_model_input(split.x_val), split.y_val)")
        vx, vy = np.asarray(val[0]), np.asarray(val[1])
        if vx.shape[0] == len(xs) and np.array_equal(vx.reshape(-1), xs.reshape(-1)) and not np.array_equal(xs, xv):
            raise _Mistake("the TEST split is used as validation data: early stopping would pick the "
                           "epoch that suits the test faces, so the test accuracy would no longer be honest",
                           "validate on split.x_val / split.y_val; keep the test split for the very end")
        if not (same(vx, emotion.to_model_input(xv)) and same(vy, yv)):
            raise _Mistake("validation_data is not (emotion.to_model_input(split.x_val), split.y_val)")
        if call.get("class_weight") is not weights and call.get("class_weight") != weights:
            raise _Mistake("the class weights were not passed",
                           "class_weight=class_weight: Disgust has ~10x fewer faces than Happy")
        got_cb = list(call.get("callbacks") or [])
        if not all(any(c is g for g in got_cb) for c in callbacks):
            raise _Mistake("the callbacks (early stopping) were not passed", "callbacks=callbacks")
        if call.get("epochs") != 3:
            raise _Mistake(f"epochs={call.get('epochs')}, but the function was asked for 3", "epochs=epochs")
        if call.get("batch_size") != 4:
            raise _Mistake(f"batch_size={call.get('batch_size')}, but the function was asked for 4",
                           "batch_size=batch_size")
        return 7

    return _verdict("fit", body)


# ---- 05: the tfjs export call ---------------------------------------------------------------

def check_face2emoji_export(paths: Any) -> Verdict:
    """``paths``: what ``export.export_tfjs`` returned for the web app's float32 model. Checks the
    files the page (html/index.html) loads: place, format, precision, labels, emoji, input."""
    import json

    from aiffel_lib import fer
    from aiffel_lib.paths import WEB_MODELS_DIR

    def body() -> int:
        if paths is None:
            raise _Mistake("the export result is None",
                           "assign what export.export_tfjs(model, WEB_MODELS_DIR / 'face2emoji', fer.EMOTIONS, ...) returns")
        if not isinstance(paths, dict) or not {"dir", "model", "metadata"} <= set(paths):
            raise _Mistake(f"expected the dict export_tfjs returns (dir, model, weights, metadata), "
                           f"got {type(paths).__name__}")
        where = Path(paths["dir"]).resolve()
        if where != (WEB_MODELS_DIR / "face2emoji").resolve():
            raise _Mistake(f"the model went to {where.name}/, but the web app loads html/models/face2emoji/",
                           "export to WEB_MODELS_DIR / 'face2emoji'")
        model_json = json.loads(Path(paths["model"]).read_text(encoding="utf-8"))
        if model_json.get("format") != "graph-model":
            raise _Mistake(f"model.json is a {model_json.get('format')!r}, the page loads a graph model",
                           "use export.export_tfjs (the graph-model route), not save_keras_model")
        weights = [w for group in model_json.get("weightsManifest", []) for w in group.get("weights", [])]
        if any(w.get("quantization") or w.get("dtype") == "float16" for w in weights):
            raise _Mistake("the web app's model is quantised",
                           "leave quantize at None here: float32 matches Keras to ~1e-6; float16 goes to face2emoji-float16")
        meta = json.loads(Path(paths["metadata"]).read_text(encoding="utf-8"))
        if meta.get("labels") != fer.EMOTIONS:
            raise _Mistake(f"metadata labels are {meta.get('labels')}, expected {fer.EMOTIONS} in that order",
                           "pass fer.EMOTIONS: the page shows label k for output k")
        if meta.get("emoji") != fer.EMOJI:
            raise _Mistake("metadata has no (or other) emoji", "pass emoji=fer.EMOJI: the page shows them big")
        if meta.get("imageSize") != 48 or list(meta.get("inputShape", []))[1:] != [48, 48, 1]:
            raise _Mistake(f"the model's input is {meta.get('inputShape')}, expected [null, 48, 48, 1]",
                           "export the Face2Emoji model that notebook 04 trained")
        prep = meta.get("preprocessing", {})
        if prep.get("scale") != 1.0 or prep.get("offset") != 0.0:
            raise _Mistake(f"preprocessing scale/offset are {prep.get('scale')}/{prep.get('offset')}, expected 1/0",
                           "the model rescales 0..255 itself: pass preprocessing=emotion.PREPROCESSING")
        return 6

    return _verdict("face2emoji export", body)


# ---- 06: saliency and fooling -------------------------------------------------------------

def check_fooling_step(fooling_step: Callable) -> Verdict:
    """``fooling_step(image, grad, lr) -> image + lr * grad / ||grad||_2`` (CS231n's normalised step)."""

    def body() -> int:
        rng = np.random.default_rng(1)
        img = rng.normal(size=(1, 8, 8, 3)).astype(np.float32)
        grad = rng.normal(size=img.shape).astype(np.float32)
        got = np.asarray(_call(fooling_step, img.copy(), grad.copy(), 1.0, what="fooling_step"), dtype=np.float64)
        ref = img + grad / np.linalg.norm(grad)
        if got.shape != img.shape:
            raise _Mistake(f"the new image has shape {got.shape}, expected {img.shape}")
        if np.allclose(got, img - grad / np.linalg.norm(grad), atol=1e-4):
            raise _Mistake("the step goes against the gradient",
                           "to INCREASE the target score, move along the gradient: image + lr * g / ||g||")
        if np.allclose(got, img + grad, atol=1e-4):
            raise _Mistake("the gradient was not normalised", "divide by its L2 norm: tf.norm(g) or np.linalg.norm(g)")
        if not np.allclose(got, ref, atol=1e-4):
            raise _Mistake("the step differs from image + lr * g / ||g||_2")
        got2 = np.asarray(_call(fooling_step, img.copy(), grad.copy(), 0.5, what="fooling_step"), dtype=np.float64)
        if not np.allclose(got2, img + 0.5 * grad / np.linalg.norm(grad), atol=1e-4):
            raise _Mistake("the learning rate lr is not used", "multiply the normalised gradient by lr")
        return 2

    return _verdict("fooling_step", body)


def check_vanilla_saliency(saliency_fn: Callable) -> Verdict:
    """``saliency_fn(model, images, class_ids) -> (N, H, W)``: |d score / d x| max over channels,
    where ``model`` returns class scores — checked on a linear model where the answer is exact."""
    import keras
    import tensorflow as tf

    def body() -> int:
        rng = np.random.default_rng(2)
        h = w = 6
        inputs = keras.Input((h, w, 3))
        scores = keras.layers.Dense(4, use_bias=False, name="scores")(keras.layers.Flatten()(inputs))
        model = keras.Model(inputs, scores)
        weights = rng.normal(size=(h * w * 3, 4)).astype(np.float32)
        model.get_layer("scores").set_weights([weights])
        images = rng.normal(size=(2, h, w, 3)).astype(np.float32)
        classes = np.array([1, 3])
        got = np.asarray(_call(saliency_fn, model, images, classes, what="saliency"), dtype=np.float64)
        if got.shape != (2, h, w):
            raise _Mistake(f"the maps have shape {got.shape}, expected (N, H, W) = {(2, h, w)}",
                           "take the max of |gradient| over the channel axis (axis=-1)")
        # Linear scores: the gradient of class c's score is exactly its weight column.
        cols = [weights[:, c].reshape(h, w, 3) for c in classes]
        ref = np.stack([np.abs(g).max(axis=-1) for g in cols])
        if np.allclose(got, ref, rtol=1e-4, atol=1e-6):
            return 2
        if np.allclose(got, np.stack([np.abs(g).mean(axis=-1) for g in cols]), rtol=1e-4, atol=1e-6):
            raise _Mistake("the channels were averaged", "CS231n takes the MAX of |gradient| over channels")
        if np.allclose(got, np.stack([g.max(axis=-1) for g in cols]), rtol=1e-4, atol=1e-6):
            raise _Mistake("the absolute value is missing", "saliency is tf.abs(gradient), then the max over channels")
        x = tf.constant(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            p = tf.gather(tf.nn.softmax(model(x)), classes, axis=1, batch_dims=1)
        soft = np.abs(tape.gradient(p, x).numpy()).max(axis=-1)
        if np.allclose(got, soft, rtol=1e-3, atol=1e-7):
            raise _Mistake("the gradient was taken of the softmax probability",
                           "use the raw class score (before softmax): the probability also depends on the other classes")
        raise _Mistake("the maps differ from |d score / d image| (max over channels)",
                       "pick each image's own class score with tf.gather(scores, class_ids, axis=1, batch_dims=1), "
                       "differentiate with tf.GradientTape, take tf.abs, then reduce_max over the channel axis")

    return _verdict("saliency", body)
