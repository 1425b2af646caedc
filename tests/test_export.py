"""Keras 3 -> TensorFlow.js export, proven in headless Chromium against Keras itself.

Reference: ``model.predict`` in Keras on the same float32 batch (real face crops
from scikit-image's LFW subset). The models get random BatchNorm statistics and
weights so their outputs vary strongly with the input: an export that mixes up
weights, layouts or BatchNorm folding cannot pass by accident.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from aiffel_lib import export

pytestmark = pytest.mark.browser

LABELS = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
EMOJI = ["🤬", "🤢", "😱", "😄", "😢", "😲", "😐"]
FLOAT32_TOL = 1e-4
FLOAT16_TOL = 5e-2  # half-precision weights: reported, bounded loosely


def lfw_faces(n: int = 12, size: int = 48) -> np.ndarray:
    """(n, size, size, 1) float32 in 0..255: real gray face crops (scikit-image's LFW subset)."""
    import cv2
    import skimage.data

    faces = skimage.data.lfw_subset()[:n]  # the first 100 of the 200 crops are faces
    return np.stack([cv2.resize((f * 255).astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
                     for f in faces])[..., None]


def randomize(model, seed: int, calibration: np.ndarray):
    """Random BatchNorm scales/offsets, moving statistics measured on ``calibration``
    (as training would), and a larger random classifier: outputs far from uniform."""
    import keras

    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.5, beta.shape), mean, var])
        layer.momentum = 0.0  # one training-mode pass then stores exactly this batch's statistics
    model(calibration, training=True)
    for layer in norms:
        layer.momentum = 0.99
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 4.0, rng.normal(0, 0.5, bias.shape)])
    return model


def mobilenet(seed: int = 0):
    """The course's network: MobileNetV2 on 48x48 gray, 7 classes, softmax (small width).
    Takes pixels scaled to [-1, 1], as keras.applications.mobilenet_v2.preprocess_input does."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(input_shape=(48, 48, 1), alpha=0.35, weights=None, classes=7)
    return randomize(model, seed, lfw_faces(40)[20:] / 127.5 - 1)


def branchy_cnn(seed: int = 1):
    """A different architecture: in-model rescaling, two branches, separable conv, LeakyReLU,
    average pooling, dropout, and raw logits (no softmax) as output."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((48, 48, 1))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inp)
    x = layers.Conv2D(16, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.1)(x)
    a = layers.SeparableConv2D(16, 5, strides=2, padding="same", activation="relu")(x)
    b = layers.AveragePooling2D(2)(layers.Conv2D(8, 1, activation="tanh")(x))
    x = layers.Concatenate()([a, b])
    x = layers.Conv2D(32, 3, strides=2, padding="valid", activation="elu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(7)(x)
    return randomize(keras.Model(inp, out, name="branchy"), seed, lfw_faces(40)[20:])


@pytest.fixture(scope="module")
def faces():
    """12 real faces, 0..255 (not the ones used to set BatchNorm statistics)."""
    return lfw_faces()


@pytest.fixture(scope="module")
def faces_pm1(faces):
    """The same faces scaled to [-1, 1] for MobileNetV2."""
    return faces / 127.5 - 1


@pytest.fixture(scope="module")
def mnv2():
    return mobilenet()


@pytest.fixture(scope="module")
def exports(tmp_path_factory, mnv2):
    """MobileNetV2 exported as float32 and float16."""
    root = tmp_path_factory.mktemp("exports")
    prep = {"color": "gray", "scale": 1 / 127.5, "offset": -1.0, "resize": "face box -> 48x48",
            "description": "gray pixels scaled to [-1, 1]"}
    return {
        "float32": export.export_tfjs(mnv2, root / "mnv2", LABELS, emoji=EMOJI, preprocessing=prep,
                                      name="face2emoji-test", extra_metadata={"trainedOn": "nothing"}),
        "float16": export.export_tfjs(mnv2, root / "mnv2-f16", LABELS, emoji=EMOJI, preprocessing=prep,
                                      quantize="float16"),
    }


@pytest.fixture(scope="module")
def browser_runs(exports, faces_pm1):
    """Browser outputs of the float32 export on every backend, and of the float16 one on wasm."""
    runs = export.run_in_browser(exports["float32"]["dir"], faces_pm1, backends=export.BACKENDS)
    runs["float16-wasm"] = export.run_in_browser(exports["float16"]["dir"], faces_pm1)["wasm"]
    return runs


def test_reference_outputs_depend_on_the_input(mnv2, faces_pm1):
    """Guard for the comparisons below: a constant output would make them pass trivially."""
    ref = mnv2.predict(faces_pm1, verbose=0)
    assert ref.shape == (len(faces_pm1), 7)
    np.testing.assert_allclose(ref.sum(axis=1), 1.0, atol=1e-5)
    assert export.max_abs_diff(ref, ref[::-1]) > 0.05
    assert ref.max() > 0.3


@pytest.mark.parametrize("backend", export.BACKENDS)
def test_mobilenet_float32_in_browser_matches_keras(backend, mnv2, faces_pm1, browser_runs):
    ref = mnv2.predict(faces_pm1, verbose=0)
    got = browser_runs[backend]["outputs"]
    assert got.shape == ref.shape and got.dtype == np.float32
    diff = export.max_abs_diff(got, ref)
    print(f"MobileNetV2 float32 {backend}: max |browser - keras| = {diff:.2e}")
    assert diff <= FLOAT32_TOL
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))


def test_mobilenet_float16_is_half_the_size_and_close(mnv2, faces_pm1, exports, browser_runs):
    ref = mnv2.predict(faces_pm1, verbose=0)
    diff16 = export.max_abs_diff(browser_runs["float16-wasm"]["outputs"], ref)
    diff32 = export.max_abs_diff(browser_runs["wasm"]["outputs"], ref)
    print(f"MobileNetV2 float16 wasm: max |browser - keras| = {diff16:.2e} (float32: {diff32:.2e})")
    assert diff16 <= FLOAT16_TOL
    assert diff16 > diff32  # the weights really are rounded to half precision
    size32, size16 = (export.export_size(exports[k]["dir"])["weights"] for k in ("float32", "float16"))
    assert 0.45 < size16 / size32 < 0.55
    assert export.read_metadata(exports["float16"]["dir"])["quantization"] == "float16"


def test_face_api_bundled_tfjs_loads_the_same_export(mnv2, faces_pm1, exports):
    """The Face2Emoji page loads our model with faceapi.tf (no second tf.min.js on that page)."""
    ref = mnv2.predict(faces_pm1, verbose=0)
    got = export.predict_in_browser(exports["float32"]["dir"], faces_pm1, runtime="face-api")
    assert export.max_abs_diff(got, ref) <= FLOAT32_TOL


def test_second_architecture_logits_match_keras(tmp_path, faces):
    model = branchy_cnn()
    ref = model.predict(faces, verbose=0)
    assert np.abs(ref).max() > 1.0 and export.max_abs_diff(ref, ref[::-1]) > 0.5  # raw, varied logits
    paths = export.export_tfjs(model, tmp_path / "branchy", LABELS, preprocessing="gray 0..255")
    runs = export.run_in_browser(paths["dir"], faces, backends=("wasm", "cpu"))
    for backend, run in runs.items():
        diff = export.max_abs_diff(run["outputs"], ref)
        print(f"branchy CNN float32 {backend}: max |browser - keras| = {diff:.2e}")
        assert diff <= FLOAT32_TOL
    half = export.export_tfjs(model, tmp_path / "branchy-f16", LABELS, quantize="float16")
    diff16 = export.max_abs_diff(export.predict_in_browser(half["dir"], faces), ref)
    print(f"branchy CNN float16 wasm: max |browser - keras| = {diff16:.2e} (logits up to {np.abs(ref).max():.1f})")
    assert diff16 <= FLOAT16_TOL * np.abs(ref).max()  # logits, not probabilities: relative bound
    meta = export.read_metadata(paths["dir"])
    assert meta["outputActivation"] == "linear" and meta["modelName"] == "branchy"
    assert meta["preprocessing"] == {"color": "gray", "description": "gray 0..255"}


def test_a_different_model_does_not_pass_the_comparison(faces_pm1, exports, browser_runs):
    """The comparison can fail: another MobileNetV2 (other weights) is far from this export."""
    other = mobilenet(seed=5).predict(faces_pm1, verbose=0)
    assert export.max_abs_diff(browser_runs["wasm"]["outputs"], other) > 100 * FLOAT32_TOL


def test_metadata_follows_teachable_machine_and_says_how_to_feed_the_model(exports):
    import keras
    import tensorflow as tf
    import tensorflowjs

    paths = exports["float32"]
    assert paths["model"].name == "model.json" and paths["metadata"].name == "metadata.json"
    assert paths["weights"] and all(p.exists() and p.suffix == ".bin" for p in paths["weights"])
    assert paths["bytes"] == export.export_size(paths["dir"])["total"]
    meta = json.loads(paths["metadata"].read_text(encoding="utf-8"))
    # Teachable Machine's keys
    assert meta["labels"] == LABELS
    assert meta["imageSize"] == 48
    assert meta["tfjsVersion"] == tensorflowjs.__version__
    assert meta["modelName"] == "face2emoji-test"
    assert meta["userMetadata"] == {"trainedOn": "nothing"}
    # ours
    assert meta["emoji"] == EMOJI
    assert meta["modelFormat"] == "graph" and meta["loader"] == "tf.loadGraphModel"
    assert meta["inputShape"] == [None, 48, 48, 1] and meta["outputShape"] == [None, 7]
    assert meta["outputActivation"] == "softmax"
    assert meta["preprocessing"]["color"] == "gray" and meta["preprocessing"]["offset"] == -1.0
    assert meta["quantization"] is None
    assert meta["tensorflowVersion"] == tf.__version__ and meta["kerasVersion"] == keras.__version__
    assert meta["weightsBytes"] == export.export_size(paths["dir"])["weights"]
    assert not any("time" in k.lower() or "date" in k.lower() for k in meta), "outputs must be reproducible"
    model_json = json.loads(paths["model"].read_text())
    assert model_json["format"] == "graph-model"


def test_export_is_atomic_and_reproducible(tmp_path, monkeypatch):
    from tensorflowjs.converters import tf_saved_model_conversion_v2 as conv

    model = branchy_cnn()  # small: three exports below
    out = tmp_path / "web" / "model"
    first = export.export_tfjs(model, out, LABELS, emoji=EMOJI)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(saved_model_dir, output_dir, **kwargs):
        with open(os.path.join(output_dir, "model.json"), "w") as f:  # a truncated file, then a crash
            f.write("{")
        raise RuntimeError("converter crashed half-way")

    monkeypatch.setattr(conv, "convert_tf_saved_model", broken)
    with pytest.raises(RuntimeError, match="half-way"):
        export.export_tfjs(model, out, LABELS)
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before, "a failed export damaged the previous one"
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"], "temporary folders were left behind"

    # Same model, same weights and metadata bytes (no time stamps, stable shard order). model.json
    # differs only in TensorFlow's graph node names, which count the traces made in this process.
    second = export.export_tfjs(model, out, LABELS, emoji=EMOJI)
    again = {p.name: p.read_bytes() for p in out.iterdir()}
    assert second["weights"] == first["weights"]
    for name in [p.name for p in first["weights"]] + ["metadata.json"]:
        assert again[name] == before[name], name

    def shapes(raw: bytes) -> list:
        return [(w["shape"], w["dtype"]) for g in json.loads(raw)["weightsManifest"] for w in g["weights"]]

    assert shapes(again["model.json"]) == shapes(before["model.json"])


def test_bad_export_arguments_raise_clear_errors(tmp_path, mnv2):
    import keras

    out = tmp_path / "m"
    with pytest.raises(ValueError, match="6 labels for a model with 7 outputs"):
        export.export_tfjs(mnv2, out, LABELS[:6])
    with pytest.raises(ValueError, match="8 emoji for a model with 7 outputs"):
        export.export_tfjs(mnv2, out, LABELS, emoji=EMOJI + ["🙂"])
    with pytest.raises(ValueError, match="unique"):
        export.export_tfjs(mnv2, out, LABELS[:6] + ["Angry"])
    with pytest.raises(ValueError, match="list of 7 strings"):
        export.export_tfjs(mnv2, out, "Angry,Disgust")
    with pytest.raises(ValueError, match="quantize"):
        export.export_tfjs(mnv2, out, LABELS, quantize="int8")
    with pytest.raises(ValueError, match="Keras 3 keras.Model"):
        export.export_tfjs(object(), out, LABELS)
    with pytest.raises(ValueError, match="load it first"):
        export.export_tfjs("model.keras", out, LABELS)
    with pytest.raises(ValueError, match="color"):
        export.export_tfjs(mnv2, out, LABELS, preprocessing={"color": "rgb"})
    with pytest.raises(ValueError, match="JSON"):
        export.export_tfjs(mnv2, out, LABELS, extra_metadata={"x": object()})
    free = keras.Model(inp := keras.Input((None, None, 3)), keras.layers.GlobalAveragePooling2D()(inp))
    with pytest.raises(ValueError, match="fixed size"):
        export.export_tfjs(free, out, ["r", "g", "b"])
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    two = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, b]))))
    with pytest.raises(ValueError, match="2 inputs"):
        export.export_tfjs(two, out, ["x", "y"])
    # Never wipe a folder that is not an export (html/ itself, say).
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "index.html").write_text("keep me")
    with pytest.raises(ValueError, match="refusing to replace"):
        export.export_tfjs(mnv2, precious, LABELS)
    assert (precious / "index.html").read_text() == "keep me"
    assert not out.exists(), "a rejected export must not create its folder"


def test_bad_browser_arguments_raise_clear_errors(tmp_path, exports, faces, monkeypatch):
    model_dir = exports["float32"]["dir"]
    with pytest.raises(ValueError, match=r"shape \(N, 48, 48, 1\)"):
        export.predict_in_browser(model_dir, faces[0])
    with pytest.raises(ValueError, match=r"shape \(N, 48, 48, 1\)"):
        export.predict_in_browser(model_dir, np.zeros((2, 32, 32, 1), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        export.predict_in_browser(model_dir, np.full((1, 48, 48, 1), np.nan, np.float32))
    with pytest.raises(ValueError, match="backend"):
        export.predict_in_browser(model_dir, faces, backend="webgpu")
    with pytest.raises(FileNotFoundError, match="notebook 05"):
        export.predict_in_browser(tmp_path / "nothing", faces)
    monkeypatch.setattr(export, "HTML_DIR", tmp_path)  # a checkout without `make setup`
    with pytest.raises(RuntimeError, match="make setup"):
        export.predict_in_browser(model_dir, faces)


def test_the_course_original_route_fails_in_the_browser(tmp_path, faces):
    """Why export_tfjs exists: Keras 3 -> save_keras_model -> tf.loadLayersModel breaks."""
    import keras

    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])
    export.save_layers_model(model, tmp_path / "layers")
    topology = json.loads((tmp_path / "layers" / "model.json").read_text())["modelTopology"]
    assert "batch_shape" in json.dumps(topology) and "batch_input_shape" not in json.dumps(topology)
    with pytest.raises(RuntimeError, match="batchInputShape"):
        export.predict_in_browser(tmp_path / "layers", faces)


@pytest.mark.slow
def test_imagenet_classifier_exports_and_matches_in_browser(tmp_path):
    """The course's second network: the offline ImageNet classifier (aiffel_lib.imagenet, issue 4)."""
    from aiffel_lib import photos
    from aiffel_lib.imagenet import load_imagenet_classifier

    clf = load_imagenet_classifier()
    x = clf.preprocess([photos.load_photo(name) for name in ("chelsea", "coffee", "astronaut")])
    ref = clf.predict_preprocessed(x)
    paths = export.export_tfjs(clf.model, tmp_path / "imagenet", clf.labels, preprocessing=clf.preprocessing,
                               name=clf.name)
    got = export.predict_in_browser(paths["dir"], x)
    diff = export.max_abs_diff(got, ref)
    print(f"{clf.name} float32 wasm: max |browser - keras| = {diff:.2e}")
    assert diff <= FLOAT32_TOL
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    half = export.export_tfjs(clf.model, tmp_path / "imagenet-f16", clf.labels, quantize="float16")
    got16 = export.predict_in_browser(half["dir"], x)
    diff16 = export.max_abs_diff(got16, ref)
    print(f"{clf.name} float16 wasm: max |browser - keras| = {diff16:.2e}")
    assert diff16 <= FLOAT16_TOL
    np.testing.assert_array_equal(got16[:2].argmax(1), ref[:2].argmax(1))  # the cat and the espresso
    assert ref[:2].max(axis=1).min() > 0.3  # confident on the cat and the espresso: not a flat output
    meta = export.read_metadata(paths["dir"])
    assert meta["imageSize"] == clf.input_size and len(meta["labels"]) == 1000


def test_model_check_page_says_which_notebook_exports_a_missing_model(open_browser, html_server):
    with open_browser(camera=False) as s:
        s.page.goto(html_server + "predict.html?model=models/not-exported-yet/")
        s.page.wait_for_function("window.tfjsRunner.ready || window.tfjsRunner.error", timeout=30000)
        assert "05_export_tfjs.ipynb" in s.page.inner_text("#status")
        assert s.page.get_attribute("#status", "class") == "status error"


# ---- bad input (issue 11 section 3) ----------------------------------------------------

def test_reexport_keeps_the_users_other_files_and_drops_old_shards(tmp_path):
    model = branchy_cnn()
    out = tmp_path / "face2emoji"
    export.export_tfjs(model, out, LABELS)
    mine = {"notes.txt": "my notes", "recording.csv": "emotion,pixels,Usage\n", "data/a.png": "png"}
    for rel, text in mine.items():
        (out / rel).parent.mkdir(exist_ok=True)
        (out / rel).write_text(text)
    (out / "group1-shard2of2.bin").write_bytes(b"a shard of an earlier, bigger export")
    paths = export.export_tfjs(model, out, LABELS, emoji=EMOJI)
    for rel, text in mine.items():
        assert (out / rel).read_text() == text, f"{rel} was lost"
    owned = sorted(p.name for p in out.iterdir() if p.is_file() and export.is_export_file(p.name))
    assert owned == sorted(["model.json", "metadata.json", *(p.name for p in paths["weights"])])
    assert export.read_metadata(out)["emoji"] == EMOJI
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face2emoji"], "temporary folders were left behind"


def test_damaged_model_json_and_metadata_get_messages_not_tracebacks(tmp_path, faces):
    model = branchy_cnn()
    out = tmp_path / "m"
    export.export_tfjs(model, out, LABELS)
    good = (out / "model.json").read_text()
    (out / "model.json").write_text(good[: len(good) // 2])  # truncated
    for call in (lambda: export.predict_in_browser(out, faces), lambda: export.export_size(out)):
        with pytest.raises(ValueError, match=r"model.json is not valid JSON .*export the model again \(notebook 05"):
            call()
    (out / "model.json").write_text('{"format": "graph-model"}')
    with pytest.raises(ValueError, match="no valid weightsManifest"):
        export.predict_in_browser(out, faces)
    (out / "model.json").write_text(good)
    shard = json.loads(good)["weightsManifest"][0]["paths"][0]
    (out / shard).rename(out / "moved.bin")
    with pytest.raises(FileNotFoundError, match=f"lacks the weight file.*{shard}"):
        export.predict_in_browser(out, faces)
    (out / "metadata.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="metadata.json is not a text JSON file"):
        export.read_metadata(out)
    (out / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not the export's metadata"):
        export.read_metadata(out)
    # a damaged export is still recognised as one: exporting again repairs it
    (out / "model.json").unlink()
    export.export_tfjs(model, out, LABELS)
    assert export.export_size(out)["weights"] > 0


def test_a_killed_export_is_cleaned_up_and_never_leaves_a_half_model(tmp_path):
    """SIGKILL while the files move: no model.json (the page says to export again), then a
    new export removes the killed one's staging folder and writes a complete model."""
    import subprocess
    import sys

    out = tmp_path / "face2emoji"
    script = f"""
import os
from pathlib import Path
import keras
from aiffel_lib import atomic, export
inp = keras.Input((8, 8, 1))
model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inp)))
export.export_tfjs(model, {str(out)!r}, ["a", "b"])
real = os.replace
def replace(src, dst):
    if Path(dst).name == "model.json":
        os._exit(9)
    real(src, dst)
atomic.os.replace = replace
export.export_tfjs(model, {str(out)!r}, ["a", "b"])
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert not (out / "model.json").exists()
    staging = [p for p in tmp_path.iterdir() if p.name.startswith(".face2emoji.tmp-")]
    assert len(staging) == 1 and (staging[0] / "model.json").is_file()  # the killed export's files
    with pytest.raises(FileNotFoundError, match="export a model there first"):
        export.predict_in_browser(out, np.zeros((1, 8, 8, 1), np.float32))
    import keras

    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inp)))
    export.export_tfjs(model, out, ["a", "b"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face2emoji"]
    assert export.export_size(out)["weights"] == export.read_metadata(out)["weightsBytes"] > 8 * 8 * 2 * 4
