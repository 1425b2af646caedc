"""emotion.load_model on damaged files: "corrupt, rerun notebook 04", never Keras' "File not found"."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from aiffel_lib import emotion


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    import keras

    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inp)))
    path = tmp_path_factory.mktemp("model") / "face2emoji.keras"
    model.save(path)
    return path, model


def test_a_good_file_loads(saved):
    path, model = saved
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(emotion.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "flipped"])
def test_a_damaged_file_is_reported_as_corrupt_with_what_to_do(saved, tmp_path, damage):
    path, _ = saved
    data = path.read_bytes()
    bad = tmp_path / "face2emoji.keras"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "text":
        bad.write_text("not a model")
    else:  # one byte changed inside the stored weights: the zip structure is intact
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("model.weights.h5")
        raw = bytearray(data)
        raw[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
        bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError) as err:
        emotion.load_model(bad)
    msg = str(err.value)
    assert "corrupt" in msg and "04_face2emoji_training" in msg, msg
    assert "File not found" not in msg


def test_missing_file_and_wrong_argument(tmp_path):
    with pytest.raises(ValueError, match="no trained model at .*04_face2emoji_training"):
        emotion.load_model(tmp_path / "none.keras")
    with pytest.raises(ValueError, match="model file path"):
        emotion.load_model(None)
