"""The Face2Emoji web app (html/index.html) in headless Chromium, with a real photo as the camera.

The page is served from a temporary copy of html/ (links to the page, js/ and vendor/)
holding a freshly exported test model, so the tests neither need nor touch html/models/.
The model is a small MobileNetV2 (alpha 0.35, 48x48x1, 7 classes) with seeded random
weights: what matters here is that the browser computes what Keras computes on the same
crop, not what the expression is. Its metadata asks for ``pixel / 127.5 - 1``, so a page
that ignored metadata.json's preprocessing would fail the comparison.

References the page is checked against, all independent of its JavaScript:
OpenCV's Haar face detector (where the face is), ``cv2.cvtColor`` + ``cv2.resize(INTER_AREA)``
(the 48x48 crop), Keras (the probabilities), ``aiffel_lib.fer`` (the recorded CSV).
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from aiffel_lib import browser, fer, photos, serve
from aiffel_lib.paths import HTML_DIR

pytestmark = pytest.mark.browser

SCALE, OFFSET = 1 / 127.5, -1.0  # the test model's preprocessing, written into metadata.json
PAGE_TIMEOUT_MS = 120_000  # 2 shared cores: loading tfjs + two models can take a while
WANT_FACES = ("face2emoji.last && face2emoji.last.faces.length >= {n} && face2emoji.frames >= 3")


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


def _page_copy(root: Path) -> Path:
    """A miniature html/: the page, its scripts and styles, the vendored libraries (no models)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "js", "vendor"):
        _link(HTML_DIR / name, root / name)
    return root


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

    root = _page_copy(tmp_path_factory.mktemp("site"))
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
    with serve.serving(_page_copy(tmp_path_factory.mktemp("nomodel"))) as url:
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


def opencv_crop(rgb: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (48, 48) uint8: the training preprocessing done by OpenCV."""
    return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA)


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
