"""Face2Emoji model, data splits and evaluation helpers (references: scikit-learn, Keras itself)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiffel_lib import emotion, fer


# ---------------------------------------------------------------- evaluation helpers vs scikit-learn
def test_confusion_matrix_and_per_class_accuracy_match_sklearn():
    from sklearn.metrics import confusion_matrix, recall_score

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 7, 500)
    y_pred = np.where(rng.random(500) < 0.6, y_true, rng.integers(0, 7, 500))
    cm = emotion.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(cm, confusion_matrix(y_true, y_pred, labels=range(7)))
    np.testing.assert_allclose(emotion.per_class_accuracy(cm), recall_score(y_true, y_pred, average=None))
    # a class with no faces has no accuracy (NaN), not 0
    cm2 = emotion.confusion_matrix([0, 0, 2], [0, 1, 2])
    acc = emotion.per_class_accuracy(cm2)
    assert acc[0] == 0.5 and acc[2] == 1.0 and np.isnan(acc[1])
    with pytest.raises(ValueError, match="differ"):
        emotion.confusion_matrix([0, 1], [0])


def test_class_weights_match_sklearn_balanced():
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([0] * 50 + [1] * 3 + [3] * 120 + [4] * 40 + [5] * 20 + [6] * 60 + [2] * 30)
    want = compute_class_weight("balanced", classes=np.arange(7), y=labels)
    got = emotion.class_weights(labels)
    np.testing.assert_allclose([got[k] for k in range(7)], want)
    assert got[1] > 10 * got[3]                       # the tiny class weighs most
    assert emotion.class_weights(np.array([0, 0, 3]))[1] == 0.0


def test_evaluate_and_misclassified_with_a_fixed_model():
    import keras

    # a "model" that predicts class = image mean // 40: we know every answer
    inp = keras.Input((48, 48, 1))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    x = keras.layers.Dense(7, kernel_initializer=keras.initializers.Constant(
        np.arange(7, dtype=np.float32)[None] * 2.0), bias_initializer=keras.initializers.Constant(
        -np.arange(7, dtype=np.float32) ** 2 * 40))(x)
    out = keras.layers.Activation("softmax")(x)
    model = keras.Model(inp, out)
    images = np.repeat(np.array([10, 50, 90, 130, 170, 210, 250], np.uint8), 48 * 48).reshape(7, 48, 48)
    probs = emotion.predict(model, images)
    pred = probs.argmax(1)
    labels = pred.copy()
    labels[[1, 4]] = [6, 0]                           # two wrong labels
    ev = emotion.evaluate(model, images, labels)
    assert ev.accuracy == pytest.approx(5 / 7)
    np.testing.assert_array_equal(ev.predictions, pred)
    assert ev.confusion.sum() == 7 and np.trace(ev.confusion) == 5
    wrong = emotion.misclassified(ev, k=5)
    assert sorted(wrong.tolist()) == [1, 4]
    assert probs[wrong[0], pred[wrong[0]]] >= probs[wrong[1], pred[wrong[1]]]
    assert "Disgust" in ev.report() and "all" in ev.report()


# ---------------------------------------------------------------- data and splits
def _dataset(n_per_usage=(40, 10, 10), seed=0):
    rng = np.random.default_rng(seed)
    n = sum(n_per_usage)
    usage = np.repeat(fer.USAGES, n_per_usage)
    return emotion.Dataset(rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n), usage, "test")


def test_split_follows_usage_and_removes_cross_split_duplicates():
    data = _dataset()
    # FER2013 has pixel-identical faces in different splits: plant some
    data.images[0] = data.images[55]                  # train == test
    data.images[1] = data.images[45]                  # train == validation
    data.images[42] = data.images[58]                 # validation == test
    split = emotion.split_dataset(data)
    assert len(split.x_test) == 10 and len(split.x_val) == 9 and len(split.x_train) == 38
    assert split.removed_duplicates == 3
    keys = {name: {img.tobytes() for img in arr} for name, arr in
            (("train", split.x_train), ("val", split.x_val), ("test", split.x_test))}
    assert not keys["train"] & keys["val"] and not keys["train"] & keys["test"] and not keys["val"] & keys["test"]
    np.testing.assert_array_equal(split.x_test, data.images[50:])   # test = the PrivateTest rows, untouched
    assert "train 38 | validation 9 | test 10" in split.summary()


def test_split_carves_validation_per_class_when_there_is_no_public_test():
    # the image-folder layout: Training and PrivateTest only
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(7), [100, 10, 100, 200, 100, 80, 100])
    usage = np.where(rng.random(len(labels)) < 0.8, "Training", "PrivateTest")
    images = rng.integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    split = emotion.split_dataset(emotion.Dataset(images, labels, usage, "folder"), val_fraction=0.1)
    train_counts = np.bincount(labels[usage == "Training"], minlength=7)
    np.testing.assert_array_equal(np.bincount(split.y_val, minlength=7), np.round(train_counts * 0.1))
    assert len(split.y_train) + len(split.y_val) == (usage == "Training").sum()
    np.testing.assert_array_equal(split.x_test, images[usage == "PrivateTest"])
    assert "no PublicTest rows" in split.summary() and "no PrivateTest" not in split.summary()
    # validation = the last rows of each class (file order), not a random pick
    happy = np.flatnonzero((usage == "Training") & (labels == 3))
    np.testing.assert_array_equal(split.x_val[split.y_val == 3], images[happy[-round(0.1 * len(happy)):]])


def test_split_of_a_recording_keeps_consecutive_frames_together():
    """A web-app recording has only Training rows, consecutive frames nearly identical:
    test and validation are the last blocks of each class, so twins stay on one side."""
    rng = np.random.default_rng(2)
    labels = np.repeat([3, 5, 6], 40)                       # happy, surprise, neutral, 40 frames each
    base = rng.integers(0, 256, (3, 48, 48))
    frames = np.clip(base[np.repeat([0, 1, 2], 40)] + rng.integers(-2, 3, (120, 48, 48)), 0, 255).astype(np.uint8)
    data = emotion.Dataset(frames, labels, np.full(120, "Training"), "recording")
    split = emotion.split_dataset(data)
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (87, 9, 24)
    for k in (3, 5, 6):
        rows = np.flatnonzero(labels == k)
        np.testing.assert_array_equal(split.x_test[split.y_test == k], frames[rows[-8:]])
        np.testing.assert_array_equal(split.x_val[split.y_val == k], frames[rows[-11:-8]])
    assert "no PrivateTest rows" in split.summary()
    with pytest.raises(ValueError, match="too few"):
        emotion.split_dataset(emotion.Dataset(frames[:3], labels[:3], np.full(3, "Training"), "tiny"))


def test_load_dataset_sources(tmp_path, monkeypatch):
    syn = emotion.load_dataset(None, n_synthetic=300, seed=4)
    assert syn.synthetic and "synthetic practice faces" in syn.source
    for k in range(7):                                # 80/10/10 inside every class
        n_k = (syn.labels == k).sum()
        for u, frac in zip(fer.USAGES, (0.8, 0.1, 0.1)):
            assert abs(((syn.labels == k) & (syn.usage == u)).sum() - frac * n_k) <= 1
    # the same loader reads a FER2013-format CSV (e.g. a web-app recording) ...
    path = fer.write_fer2013_csv(tmp_path / "rec.csv", syn.images[:20], syn.labels[:20], syn.usage[:20])
    real = emotion.load_dataset(path)
    assert not real.synthetic and "rec.csv" in real.source
    np.testing.assert_array_equal(real.images, syn.images[:20])
    # ... and "auto" finds it through $AIFFEL_FER2013
    monkeypatch.setenv(emotion.SOURCE_ENV, str(path))
    assert emotion.find_fer2013() == path
    np.testing.assert_array_equal(emotion.load_dataset("auto").labels, syn.labels[:20])
    monkeypatch.setenv(emotion.SOURCE_ENV, str(tmp_path / "nowhere.csv"))
    with pytest.raises(ValueError, match="AIFFEL_FER2013"):
        emotion.find_fer2013()


def test_to_model_input():
    x = emotion.to_model_input(np.full((2, 48, 48), 200, np.uint8))
    assert x.shape == (2, 48, 48, 1) and x.dtype == np.float32 and x.max() == 200.0
    with pytest.raises(ValueError, match=r"\(N, 48, 48\)"):
        emotion.to_model_input(np.zeros((2, 32, 32), np.uint8))


# ---------------------------------------------------------------- the model
@pytest.fixture(scope="module")
def model():
    return emotion.build_model(weights=None)


def test_model_is_small_standard_and_browser_ready(model):
    import keras

    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)
    # only standard layers: model.export -> tfjs graph model can convert them
    kinds = {type(layer).__name__ for layer in model.layers}
    assert not kinds & {"Lambda", "TFOpLambda"}
    assert {"Rescaling", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Dense"} <= kinds
    params = model.count_params()
    assert params * 2 < 2_000_000                     # float16 weights <= 2 MB (web app target)
    assert model.get_layer(emotion.LOGITS_LAYER).output.shape[-1] == 7
    assert len(model.get_layer(emotion.LAST_CONV_LAYER).output.shape) == 4
    assert all(layer.momentum == 0.9 for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))
    # the model takes raw pixels 0-255 and rescales them itself, as PREPROCESSING says
    rescale = model.get_layer("to_minus1_1")
    assert rescale.scale == pytest.approx(1 / 127.5) and rescale.offset == -1.0
    assert emotion.PREPROCESSING["input_range"] == [0, 255]
    assert emotion.PREPROCESSING["scale"] == 1.0 and emotion.PREPROCESSING["offset"] == 0.0
    assert emotion.PREPROCESSING["input_shape"] == list(model.input_shape[1:])
    p = emotion.predict(model, np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8))
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)


def test_imagenet_weights_only_when_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(emotion.Path, "home", lambda: tmp_path)
    assert emotion.imagenet_weights_file(0.35, 48) is None
    m = emotion.build_model(weights="auto")           # nothing cached: random init, no download attempt
    assert m.weights_source == "random initialisation" and m.input_shape == (None, 48, 48, 1)
    (tmp_path / "models").mkdir()
    f = tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    f.write_bytes(b"")
    assert emotion.imagenet_weights_file(0.35, 48) == f   # 48 px uses the 224 file, like Keras
    with pytest.raises(ValueError, match="weights must be"):
        emotion.build_model(weights="faces")


def test_save_and_load_round_trip(model, tmp_path):
    path = emotion.save_model(model, tmp_path / "m" / "face2emoji.keras", {"data": "unit test"})
    again = emotion.load_model(path)
    x = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(emotion.predict(again, x), emotion.predict(model, x), atol=1e-6)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["labels"] == fer.EMOTIONS and meta["emoji"] == fer.EMOJI and meta["data"] == "unit test"
    assert emotion.model_info(path)["preprocessing"] == emotion.PREPROCESSING
    assert sorted(p.name for p in path.parent.iterdir()) == ["face2emoji.json", "face2emoji.keras"]
    with pytest.raises(ValueError, match="run notebooks/04_face2emoji_training.ipynb"):
        emotion.load_model(tmp_path / "missing.keras")


# ---------------------------------------------------------------- training (small and quick)
def test_training_learns_well_above_chance_and_saves(tmp_path):
    """Three well-separated practice classes, 960 training faces, 4 epochs: the whole train()
    path (augmentation, class weights, cosine decay, early stopping, atomic save) must learn."""
    from aiffel_lib import synthfaces

    faces = synthfaces.make_faces(1200, seed=5, class_freq=[0, 0, 0, 1, 0, 1, 1])   # Happy, Surprise, Neutral
    usage = emotion._stratified_usage(faces.labels, (0.8, 0.1, 0.1), seed=0)
    split = emotion.split_dataset(emotion.Dataset(faces.images, faces.labels, usage, "unit test"))
    path = tmp_path / "models" / "face2emoji.keras"
    result = emotion.train(split, epochs=4, seed=0, path=path, info={"data": "unit test"}, verbose=0)
    assert result.epochs_run == 4 and len(result.history["val_accuracy"]) == 4
    assert set(result.class_weight) == set(range(7)) and result.class_weight[0] == 0.0
    ev = emotion.evaluate(result.model, split.x_test, split.y_test)
    assert ev.accuracy > 1 / 3 + 0.2, ev.report()        # chance is 1/3
    # the kept weights are the best validation epoch's
    best = result.best_epoch - 1
    val = emotion.evaluate(result.model, split.x_val, split.y_val)
    assert val.accuracy == pytest.approx(result.history["val_accuracy"][best], abs=1e-6)
    # saved model = returned model; sidecar says what it is
    assert result.path == path
    x = split.x_test[:8]
    np.testing.assert_allclose(emotion.predict(emotion.load_model(path), x), emotion.predict(result.model, x),
                               atol=1e-6)
    info = emotion.update_model_info(path, test_accuracy=round(ev.accuracy, 4))
    assert info["data"] == "unit test" and info["epochs_run"] == 4 and info["labels"] == fer.EMOTIONS
    assert emotion.model_info(path)["test_accuracy"] == round(ev.accuracy, 4)
