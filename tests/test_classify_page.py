"""html/classify.html: the ImageNet classifier exported to TensorFlow.js, in headless Chromium
with a fake camera playing a real photo. The page's probabilities are checked against Keras
on exactly the pixels the page fed its model (read back from its input canvas)."""

from __future__ import annotations

import numpy as np
import pytest

from aiffel_lib import imagenet, photos

pytestmark = pytest.mark.browser

CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
READY = "window.classifyPage && (window.classifyPage.ready || window.classifyPage.error)"


@pytest.fixture(scope="module")
def clf():
    return imagenet.load_imagenet_classifier("efficientnet_lite0")


@pytest.fixture(scope="module")
def web_model(clf):
    """The page's model, exported where the page looks for it (html/models/imagenet/).

    Uses aiffel_lib.export.export_tfjs (via imagenet.export_for_browser): Keras 3
    model.export -> SavedModel -> tensorflowjs converter -> tfjs graph model."""
    return imagenet.export_for_browser(clf)


def input_pixels(page) -> np.ndarray:
    """The page's model-input canvas as (size, size, 3) uint8 RGB."""
    size, data = page.evaluate("""() => {
        const c = document.getElementById('input');
        return [c.width, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)];
    }""")
    return np.asarray(data, np.uint8).reshape(size, size, 4)[..., :3]


def keras_on_page_pixels(clf, page) -> tuple[np.ndarray, np.ndarray]:
    pixels = input_pixels(page)
    return pixels, clf.predict_preprocessed(clf.scale(pixels)[None])[0]


def test_camera_snapshot_of_chelsea_is_a_cat_and_matches_keras(open_browser, html_server, fake_camera, clf,
                                                               web_model):
    with open_browser(fake_video=fake_camera("chelsea")) as s:
        model_requests = []
        s.page.on("request", lambda r: model_requests.append(r.url) if r.url.endswith("model.json") else None)
        s.page.goto(html_server + "classify.html")
        s.page.wait_for_function("classifyPage.ready && classifyPage.cameraReady || classifyPage.error",
                                 timeout=120_000)
        assert s.page.evaluate("classifyPage.error") is None
        assert s.page.evaluate("classifyPage.backend") == "wasm"
        assert s.page.evaluate("[document.querySelector('video').videoWidth, "
                               "document.querySelector('video').videoHeight]") == [640, 480]
        for i in range(1, 3):  # twice: the model is loaded once and reused
            s.page.click("#snap")
            s.page.wait_for_function(f"classifyPage.count >= {i}", timeout=60_000)
        last = s.page.evaluate("classifyPage.last")
        pixels, keras_probs = keras_on_page_pixels(clf, s.page)
        page_probs = np.asarray(last["probabilities"], np.float32)

        assert pixels.std() > 20, "the input canvas holds no photo"
        assert page_probs.shape == (1000,) and abs(page_probs.sum() - 1) < 1e-4
        top1 = last["top"][0]
        assert top1["classId"] in CATS, last["top"]
        assert [t["classId"] for t in last["top"]] == list(np.argsort(-page_probs)[:3])
        diff = float(np.abs(page_probs - keras_probs).max())
        print(f"chelsea via camera: page top-3 {[(t['label'], round(t['probability'], 4)) for t in last['top']]}, "
              f"max |page - Keras| = {diff:.2e}, {last['ms']:.1f} ms on {last['backend']}")
        assert diff < 1e-3
        assert int(np.argmax(keras_probs)) == top1["classId"]
        assert last["backend"] == "wasm" and last["ms"] > 0

        shown = s.page.inner_text("#top")
        assert top1["label"] in shown and f"{100 * top1['probability']:.1f}%" in shown
        assert len(s.page.query_selector_all("#top li")) == 3
        timing = s.page.inner_text("#timing")
        assert "wasm" in timing and "ms" in timing and "EfficientNet-Lite0" in timing
        assert len(model_requests) == 1, f"model.json fetched {len(model_requests)} times"


def test_file_picker_works_without_a_camera_and_rejects_non_images(open_browser, html_server, clf, web_model, tmp_path):
    import cv2

    path = tmp_path / "coffee.png"  # lossless, so the page and Python decode the same pixels
    cv2.imwrite(str(path), photos.load_photo("coffee", color="bgr"))
    with open_browser(camera=False) as s:
        s.page.goto(html_server + "classify.html")
        s.page.wait_for_function("classifyPage.ready && classifyPage.cameraError || classifyPage.error",
                                 timeout=120_000)
        assert s.page.evaluate("classifyPage.error") is None
        message = s.page.inner_text("#camera-status")
        assert "No camera" in message and "choose an image file" in message
        assert s.page.get_attribute("#camera-status", "class") == "status error"
        assert s.page.is_disabled("#snap") and not s.page.is_disabled("#file")
        s.page.set_input_files("#file", str(path))
        s.page.wait_for_function("classifyPage.count >= 1", timeout=60_000)
        last = s.page.evaluate("classifyPage.last")
        assert last["top"][0]["classId"] == 967 and last["top"][0]["label"] == "espresso", last["top"]
        assert last["source"] == "file coffee.png"
        _, keras_probs = keras_on_page_pixels(clf, s.page)
        assert np.abs(np.asarray(last["probabilities"]) - keras_probs).max() < 1e-3
        # The browser resized the crop itself; Keras' own preprocessing of the file agrees on the class.
        assert clf.top_k(imagenet.load_image_rgb(path), 1)[0][0] == 967

        bad = tmp_path / "notes.jpg"
        bad.write_text("not a picture")
        s.page.set_input_files("#file", str(bad))
        s.page.wait_for_function("document.getElementById('status').className === 'status error'",
                                 timeout=30_000)
        assert "not an image" in s.page.inner_text("#status")


def test_permission_denied_is_explained(open_browser, html_server, web_model):
    with open_browser(permissions=False) as s:
        s.page.goto(html_server + "classify.html")
        s.page.wait_for_function("classifyPage.cameraError", timeout=60_000)
        assert "permission was denied" in s.page.inner_text("#camera-status")
        s.page.wait_for_function(READY, timeout=120_000)
        assert s.page.evaluate("classifyPage.ready")  # the file picker still works


def test_insecure_context_is_explained(open_browser, html_server, web_model):
    with open_browser() as s:
        # What a phone sees on http://<LAN IP>: not a secure context, no navigator.mediaDevices.
        s.page.add_init_script("Object.defineProperty(window, 'isSecureContext', {get: () => false});")
        s.page.goto(html_server + "classify.html")
        s.page.wait_for_function("classifyPage.cameraError", timeout=60_000)
        message = s.page.inner_text("#camera-status")
        assert "secure" in message and "--https" in message


def test_missing_model_files_say_which_notebook_makes_them(open_browser, html_server):
    with open_browser() as s:
        s.page.goto(html_server + "classify.html?model=models/not-exported-yet/")
        s.page.wait_for_function("classifyPage.error", timeout=60_000)
        message = s.page.inner_text("#status")
        assert "missing" in message and "notebooks/03_imagenet_classifier.ipynb" in message
        assert "python -m aiffel_lib.imagenet --export" in message
        assert s.page.get_attribute("#status", "class") == "status error"
        assert s.page.is_disabled("#snap") and s.page.is_disabled("#file")


def test_falls_back_to_webgl_when_wasm_cannot_load(open_browser, html_server, fake_camera, clf, web_model):
    with open_browser(fake_video=fake_camera("chelsea")) as s:
        s.page.route("**/*.wasm", lambda route: route.abort())  # e.g. a server without the .wasm files
        s.page.goto(html_server + "classify.html")
        s.page.wait_for_function("classifyPage.ready && classifyPage.cameraReady || classifyPage.error",
                                 timeout=120_000)
        assert s.page.evaluate("classifyPage.error") is None
        assert s.page.evaluate("classifyPage.backend") == "webgl"
        s.page.click("#snap")
        s.page.wait_for_function("classifyPage.count >= 1", timeout=60_000)
        last = s.page.evaluate("classifyPage.last")
        assert last["backend"] == "webgl" and last["top"][0]["classId"] in CATS
        _, keras_probs = keras_on_page_pixels(clf, s.page)
        assert np.abs(np.asarray(last["probabilities"]) - keras_probs).max() < 1e-3
