"""Every check passes on the solution and fails with a plain-words message on the stub and
on at least one typical mistake (never a traceback)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from aiffel_lib import checks, histsearch


def stub(*args, **kwargs):
    raise NotImplementedError(checks.__name__)


def verdict(capsys, ok, expect_pass, *phrases):
    out = capsys.readouterr().out
    assert bool(ok) is expect_pass, out
    assert "Traceback" not in out
    assert out.startswith(checks.PASS if expect_pass else checks.FAIL), out
    for phrase in phrases:
        assert phrase in out, out
    return out


# ---- get_histogram -----------------------------------------------------------------------

def course_get_histogram(image):
    histogram = [cv2.calcHist([image], [i], None, [4], [0, 256]) for i in range(3)]
    histogram = np.concatenate(histogram)
    return cv2.normalize(histogram, histogram)


def test_get_histogram_check(capsys):
    verdict(capsys, checks.check_get_histogram(course_get_histogram), True, "all")
    verdict(capsys, checks.check_get_histogram(stub), False, "not written yet", "[[YOUR CODE]]")
    not_normalised = lambda img: np.concatenate([cv2.calcHist([img], [i], None, [4], [0, 256]) for i in range(3)])
    verdict(capsys, checks.check_get_histogram(not_normalised), False, "not normalised", "cv2.normalize")
    rgb = lambda img: course_get_histogram(np.ascontiguousarray(img[..., ::-1]))
    verdict(capsys, checks.check_get_histogram(rgb), False, "wrong order")
    eight_bins = lambda img: cv2.normalize(np.concatenate([cv2.calcHist([img], [i], None, [8], [0, 256]) for i in range(3)]), None)
    verdict(capsys, checks.check_get_histogram(eight_bins), False, "24 values")
    crashing = lambda img: cv2.calcHist([img], [3], None, [4], [0, 256])  # channel 3 of a 3-channel image
    verdict(capsys, checks.check_get_histogram(crashing), False, "raised")


# ---- build_histogram_db / search / show_result ---------------------------------------------

def course_build_histogram_db(folder):
    return {f: course_get_histogram(cv2.imread(os.path.join(folder, f))) for f in os.listdir(folder)}


def course_search(histogram_db, target_histogram, top_k=5):
    results = {n: cv2.compareHist(target_histogram, h, cv2.HISTCMP_CHISQR) for n, h in histogram_db.items()}
    return dict(sorted(results.items(), key=lambda item: item[1])[:top_k])


def test_build_histogram_db_check(capsys):
    verdict(capsys, checks.check_build_histogram_db(course_build_histogram_db), True)
    verdict(capsys, checks.check_build_histogram_db(stub), False, "not written yet")
    full_paths = lambda folder: {os.path.join(folder, f): course_get_histogram(cv2.imread(os.path.join(folder, f)))
                                 for f in os.listdir(folder)}
    verdict(capsys, checks.check_build_histogram_db(full_paths), False, "file names")


def test_search_check(capsys):
    verdict(capsys, checks.check_search(course_search), True)
    verdict(capsys, checks.check_search(stub), False, "not written yet")
    descending = lambda db, t, top_k=5: dict(sorted(course_search(db, t, len(db)).items(),
                                                    key=lambda kv: -kv[1])[:top_k])
    verdict(capsys, checks.check_search(descending), False, "SMALLEST")
    everything = lambda db, t, top_k=5: course_search(db, t, top_k=len(db))
    verdict(capsys, checks.check_search(everything), False, "top 5")
    correl = lambda db, t, top_k=5: dict(sorted({n: cv2.compareHist(t, h, cv2.HISTCMP_CORREL)
                                                 for n, h in db.items()}.items(), key=lambda kv: kv[1])[:top_k])
    verdict(capsys, checks.check_search(correl), False, "HISTCMP_CHISQR")


def test_show_result_check(capsys, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for i, name in enumerate(("chelsea", "coffee", "rocket")):
        img = np.zeros((32, 32, 3), np.uint8)
        img[..., i] = 200
        img[..., 2 - i] = 30
        cv2.imwrite(str(tmp_path / f"{name}.png"), img)
    images_dir_path = str(tmp_path)  # noqa: F841 — read by the check from the function's globals
    namespace = {"images_dir_path": images_dir_path, "plt": plt, "cv2": cv2, "os": os}
    exec("def good(result):\n"
         "    f = plt.figure()\n"
         "    for i, n in enumerate(result):\n"
         "        f.add_subplot(1, len(result), i + 1).imshow(cv2.imread(os.path.join(images_dir_path, n))[..., ::-1])\n"
         "def bgr(result):\n"
         "    f = plt.figure()\n"
         "    for i, n in enumerate(result):\n"
         "        f.add_subplot(1, len(result), i + 1).imshow(cv2.imread(os.path.join(images_dir_path, n)))\n"
         "def first_only(result):\n"
         "    f = plt.figure()\n"
         "    n = next(iter(result))\n"
         "    f.add_subplot(1, 1, 1).imshow(cv2.imread(os.path.join(images_dir_path, n))[..., ::-1])\n",
         namespace)
    verdict(capsys, checks.check_show_result(namespace["good"]), True)
    verdict(capsys, checks.check_show_result(namespace["bgr"]), False, "swapped")
    verdict(capsys, checks.check_show_result(namespace["first_only"]), False, "3 images")


# ---- masking ---------------------------------------------------------------------------------

def test_blue_mask_check(capsys):
    from aiffel_lib.photos import load_photo

    frame = cv2.resize(load_photo("rocket", "bgr"), (160, 107))
    lo, hi = np.array([110, 50, 50]), np.array([130, 255, 255])
    mask = cv2.inRange(cv2.cvtColor(frame, cv2.COLOR_BGR2HSV), lo, hi)
    res = cv2.bitwise_and(frame, frame, mask=mask)
    verdict(capsys, checks.check_blue_mask(lo, hi, mask, res, frame), True)
    verdict(capsys, checks.check_blue_mask(None, None, None, None, frame), False, "not set")
    verdict(capsys, checks.check_blue_mask(np.array([220, 50, 50]), np.array([260, 255, 255]), mask, res, frame),
            False, "0-179")
    verdict(capsys, checks.check_blue_mask(hi, lo, mask, res, frame), False, "above")
    verdict(capsys, checks.check_blue_mask(lo, hi, mask, frame, frame), False, "not applied")
    rgb_mask = cv2.inRange(cv2.cvtColor(frame, cv2.COLOR_RGB2HSV), lo, hi)
    verdict(capsys, checks.check_blue_mask(lo, hi, rgb_mask, res, frame), False, "RGB")


# ---- preprocessing -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier():
    from aiffel_lib.models import load_imagenet_classifier

    return load_imagenet_classifier(prefer="efficientnet_lite0")


def test_preprocess_check(capsys, classifier):
    verdict(capsys, checks.check_preprocess(classifier.preprocess, classifier), True)
    verdict(capsys, checks.check_preprocess(stub, classifier), False, "not written yet")
    squash = lambda img: classifier.scale(cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA))
    verdict(capsys, checks.check_preprocess(squash, classifier), False, "crop first")
    unit = lambda img: classifier.crop(img).astype(np.float32) / 255
    verdict(capsys, checks.check_preprocess(unit, classifier), False, "0..1")
    bgr = lambda img: classifier.preprocess(np.ascontiguousarray(img[..., ::-1]))
    verdict(capsys, checks.check_preprocess(bgr, classifier), False, "swapped")


# ---- saliency and fooling ---------------------------------------------------------------------

def test_fooling_step_check(capsys):
    good = lambda x, g, lr: x + lr * g / np.linalg.norm(g)
    verdict(capsys, checks.check_fooling_step(good), True)
    verdict(capsys, checks.check_fooling_step(lambda x, g, lr: x - lr * g / np.linalg.norm(g)), False, "against")
    verdict(capsys, checks.check_fooling_step(lambda x, g, lr: x + lr * g), False, "normalised")
    verdict(capsys, checks.check_fooling_step(lambda x, g, lr: x + g / np.linalg.norm(g)), False, "lr")


def test_vanilla_saliency_check(capsys):
    import tensorflow as tf

    def solution(model, images, class_ids):
        x = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.gather(model(x), class_ids, axis=1, batch_dims=1)
        return tf.reduce_max(tf.abs(tape.gradient(scores, x)), axis=-1).numpy()

    def softmax_twice(model, images, class_ids):
        x = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.gather(tf.nn.softmax(model(x)), class_ids, axis=1, batch_dims=1)
        return tf.reduce_max(tf.abs(tape.gradient(scores, x)), axis=-1).numpy()

    def averaged(model, images, class_ids):
        x = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.gather(model(x), class_ids, axis=1, batch_dims=1)
        return tf.reduce_mean(tf.abs(tape.gradient(scores, x)), axis=-1).numpy()

    verdict(capsys, checks.check_vanilla_saliency(solution), True)
    verdict(capsys, checks.check_vanilla_saliency(stub), False, "not written yet")
    verdict(capsys, checks.check_vanilla_saliency(softmax_twice), False, "softmax")
    verdict(capsys, checks.check_vanilla_saliency(averaged), False, "averaged")


# ---- 04: emoji head and training call ----------------------------------------------------------

def test_emoji_head_check(capsys):
    import keras

    from aiffel_lib import emotion

    L = keras.layers

    def flattened(features, num_classes=7, dropout=0.2):
        x = L.Dropout(dropout)(L.Flatten()(features))
        return L.Activation("softmax")(L.Dense(num_classes, name="logits")(x))

    def softmax_twice(features, num_classes=7, dropout=0.2):
        x = L.Dropout(dropout)(L.GlobalAveragePooling2D()(features))
        x = L.Dense(num_classes, activation="softmax", name="logits")(x)
        return L.Activation("softmax")(x)

    def no_softmax(features, num_classes=7, dropout=0.2):
        x = L.Dropout(dropout)(L.GlobalAveragePooling2D()(features))
        return L.Dense(num_classes, name="logits")(x)

    def unnamed(features, num_classes=7, dropout=0.2):
        x = L.Dropout(dropout)(L.GlobalAveragePooling2D()(features))
        return L.Activation("softmax")(L.Dense(num_classes)(x))

    def fixed_dropout(features, num_classes=7, dropout=0.2):
        x = L.Dropout(0.5)(L.GlobalAveragePooling2D()(features))
        return L.Activation("softmax")(L.Dense(num_classes, name="logits")(x))

    def no_pooling(features, num_classes=7, dropout=0.2):
        return L.Dense(num_classes, activation="softmax", name="logits")(L.Dropout(dropout)(features))

    verdict(capsys, checks.check_emoji_head(emotion.emoji_head), True)
    verdict(capsys, checks.check_emoji_head(stub), False, "not written yet")
    verdict(capsys, checks.check_emoji_head(lambda features, **kw: None), False, "returned None")
    verdict(capsys, checks.check_emoji_head(flattened), False, "flattened", "GlobalAveragePooling2D")
    verdict(capsys, checks.check_emoji_head(softmax_twice), False, "softmax is applied twice")
    verdict(capsys, checks.check_emoji_head(no_softmax), False, "softmax is missing")
    verdict(capsys, checks.check_emoji_head(unnamed), False, "'logits'")
    verdict(capsys, checks.check_emoji_head(fixed_dropout), False, "`dropout` argument")
    verdict(capsys, checks.check_emoji_head(no_pooling), False, "(None, 7)", "pool")


def test_fit_check(capsys):
    from aiffel_lib import emotion

    def leaky(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
        return net.fit(emotion.to_model_input(split.x_train), split.y_train,
                       validation_data=(emotion.to_model_input(split.x_test), split.y_test),
                       class_weight=class_weight, callbacks=callbacks, epochs=epochs, batch_size=batch_size)

    def no_weights(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
        return net.fit(emotion.to_model_input(split.x_train), split.y_train,
                       validation_data=(emotion.to_model_input(split.x_val), split.y_val),
                       callbacks=callbacks, epochs=epochs, batch_size=batch_size)

    def raw_uint8(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
        return net.fit(split.x_train, split.y_train, validation_data=(split.x_val, split.y_val),
                       class_weight=class_weight, callbacks=callbacks, epochs=epochs, batch_size=batch_size)

    def val_split(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
        return net.fit(emotion.to_model_input(split.x_train), split.y_train, validation_split=0.1,
                       class_weight=class_weight, callbacks=callbacks, epochs=epochs, batch_size=batch_size)

    def no_return(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
        emotion.fit_model(net, split, class_weight=class_weight, callbacks=callbacks, epochs=epochs,
                          batch_size=batch_size, verbose=verbose)

    def fixed_epochs(net, split, class_weight, callbacks, epochs, batch_size, verbose=2):
        return emotion.fit_model(net, split, class_weight=class_weight, callbacks=callbacks, epochs=14,
                                 batch_size=batch_size, verbose=verbose)

    verdict(capsys, checks.check_fit(emotion.fit_model), True)
    verdict(capsys, checks.check_fit(stub), False, "not written yet")
    verdict(capsys, checks.check_fit(leaky), False, "TEST split", "validate on split.x_val")
    verdict(capsys, checks.check_fit(no_weights), False, "class weights")
    verdict(capsys, checks.check_fit(raw_uint8), False, "channel axis")
    verdict(capsys, checks.check_fit(val_split), False, "validation_split")
    verdict(capsys, checks.check_fit(no_return), False, "History")
    verdict(capsys, checks.check_fit(fixed_epochs), False, "epochs=14")


def test_fit_check_real_keras_model(capsys, monkeypatch):
    """The solution also trains a real (tiny) Keras model through emotion.train's fit hook."""
    import keras

    from aiffel_lib import emotion, synthfaces

    faces = synthfaces.make_faces(40, seed=9, class_freq="uniform")
    split = emotion.Split(faces.images[:24], faces.labels[:24], faces.images[24:32], faces.labels[24:32],
                          faces.images[32:], faces.labels[32:])
    net = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Rescaling(1 / 255),
                            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])
    net.compile("adam", "sparse_categorical_crossentropy")
    hist = emotion.fit_model(net, split, class_weight=emotion.class_weights(split.y_train),
                             callbacks=[], epochs=2, batch_size=8, verbose=0)
    assert sorted(hist.history) == ["loss", "val_loss"] and len(hist.history["loss"]) == 2


# ---- 05: export call ----------------------------------------------------------------------------

def test_face2emoji_export_check(capsys, tmp_path, monkeypatch):
    import keras

    from aiffel_lib import emotion, export, fer, paths

    monkeypatch.setattr(paths, "WEB_MODELS_DIR", tmp_path)
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Conv2D(2, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])
    prep = {**emotion.PREPROCESSING, "scale": 1.0, "offset": 0.0}
    good = export.export_tfjs(model, tmp_path / "face2emoji", fer.EMOTIONS, emoji=fer.EMOJI, preprocessing=prep)
    verdict(capsys, checks.check_face2emoji_export(good), True)
    verdict(capsys, checks.check_face2emoji_export(None), False, "None")
    half = export.export_tfjs(model, tmp_path / "face2emoji", fer.EMOTIONS, emoji=fer.EMOJI,
                              preprocessing=prep, quantize="float16")
    verdict(capsys, checks.check_face2emoji_export(half), False, "quantised")
    no_emoji = export.export_tfjs(model, tmp_path / "face2emoji", fer.EMOTIONS, preprocessing=prep)
    verdict(capsys, checks.check_face2emoji_export(no_emoji), False, "emoji")
    elsewhere = export.export_tfjs(model, tmp_path / "model", fer.EMOTIONS, emoji=fer.EMOJI, preprocessing=prep)
    verdict(capsys, checks.check_face2emoji_export(elsewhere), False, "html/models/face2emoji/")
    sorted_labels = export.export_tfjs(model, tmp_path / "face2emoji", sorted(fer.EMOTIONS), emoji=fer.EMOJI,
                                       preprocessing=prep)
    verdict(capsys, checks.check_face2emoji_export(sorted_labels), False, "in that order")
