"""Distillation (aiffel_lib.distill) and fine-tuning on a recording (emotion.fine_tune)."""

import cv2
import numpy as np
import pytest

from aiffel_lib import distill, emotion, fer, synthfaces, transfer


def test_soften_keeps_the_order_and_flattens_towards_uniform():
    p = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9]], np.float32)
    assert np.allclose(distill.soften(p, 1.0), p, atol=1e-6)
    q = distill.soften(p, 2.0)
    assert np.allclose(q.sum(1), 1, atol=1e-6) and (q.argmax(1) == p.argmax(1)).all()
    # T=2 is the square root, renormalised
    expected = np.sqrt(p) / np.sqrt(p).sum(1, keepdims=True)
    assert np.allclose(q, expected, atol=1e-6)
    assert q.max(1).tolist() < p.max(1).tolist()


def test_augment_faces_first_copy_is_the_face_and_sizes_show_the_same_change():
    faces = synthfaces.make_faces(5, seed=1).images
    faces96 = np.stack([cv2.resize(f, (96, 96), interpolation=cv2.INTER_LINEAR) for f in faces])
    out = distill.augment_faces(faces96, copies=3, seed=0, low_res=0.5)
    assert out[64].shape == (15, 64, 64) and out[48].shape == (15, 48, 48) and out[48].dtype == np.uint8
    assert np.array_equal(out[48][:5], np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA)
                                                 for f in faces96]))
    assert not np.array_equal(out[48][5:10], out[48][:5])   # later copies are changed
    # the 64 and 48 copies of an entry are the same picture at two sizes
    small = np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA) for f in out[64]]).astype(float)
    assert np.abs(small - out[48]).mean() < 4
    again = distill.augment_faces(faces96, copies=3, seed=0, low_res=0.5)
    assert np.array_equal(again[48], out[48])
    with pytest.raises(ValueError, match="square gray uint8"):
        distill.augment_faces(faces96.astype(np.float32), copies=2)


class _Teacher:
    """A stand-in teacher on 64x64 input: class = brightness bucket (deterministic, independent of Keras)."""

    inputs = [type("T", (), {"shape": (None, 64, 64, 1)})()]

    def predict(self, x, batch_size=256, verbose=0):
        k = np.clip((np.asarray(x).mean(axis=(1, 2, 3)) / 256 * 7).astype(int), 0, 6)
        p = np.full((len(x), 7), 0.02, np.float32)
        p[np.arange(len(x)), k] = 0.88
        return p


def _tiny_transfer(n=12):
    faces = synthfaces.make_faces(n, seed=5).images
    faces96 = np.stack([cv2.resize(f, (96, 96)) for f in faces])
    names = np.array(["franck"] * (n - 2) + ["audrey_photo", "single_face"])
    return transfer.TransferFaces(faces96, names, {})


def test_transfer_set_repeats_photos_labels_every_copy_with_the_teacher_and_softens():
    ts = distill.make_transfer_set(_tiny_transfer(), _Teacher(), copies=2, temperature=2.0, halves=0.0)
    n_faces = 10 + distill.PHOTO_REPEAT + distill.REPEATS["single_face"]
    assert len(ts.faces) == len(ts.targets) == len(ts.source) == 2 * n_faces
    assert (ts.source == "audrey_photo").sum() == 2 * distill.PHOTO_REPEAT
    assert np.allclose(ts.targets, distill.soften(ts.teacher, 2.0), atol=1e-6)
    assert abs(sum(ts.class_shares().values()) - 1) < 0.01 and "teacher-labelled copies" in ts.summary()


class _AlwaysTeacher:
    """A stand-in for face-api's expression net: every face gets one class of face-api's order."""

    def __init__(self, faceapi_class):
        self.faceapi_class = faceapi_class

    def predict(self, x, batch_size=256, verbose=0):
        assert np.asarray(x).shape[1:] == (112, 112, 3)       # faceapi_nets' input, not the student's
        p = np.zeros((len(x), 7), np.float32)
        p[:, self.faceapi_class] = 1.0
        return p


def test_a_second_teacher_is_averaged_with_the_first_on_the_same_copies():
    from aiffel_lib import faceapi_nets

    tiny = _tiny_transfer()
    one = distill.make_transfer_set(tiny, _Teacher(), copies=2)
    happy = fer.EMOTIONS.index("Happy")
    two = distill.make_transfer_set(tiny, _Teacher(), copies=2, second_teacher=_AlwaysTeacher(faceapi_nets.TO_COURSE[happy]))
    assert np.array_equal(two.faces, one.faces) and np.array_equal(two.source, one.source)   # same copies
    expected = (one.teacher + np.eye(7, dtype=np.float32)[happy]) / 2
    assert np.allclose(two.teacher, expected, atol=1e-6)
    assert np.allclose(two.targets, distill.soften(expected, two.temperature), atol=1e-6)
    assert two.teachers_agree == pytest.approx(np.mean(one.teacher.argmax(1) == happy))
    assert one.teachers_agree is None and "face-api" in two.teachers and "two teachers" in two.summary()


@pytest.fixture(scope="module")
def tiny_distilled(tmp_path_factory):
    data = emotion.load_dataset(None, n_synthetic=280, seed=0)
    split = emotion.split_dataset(data)
    ts = distill.make_transfer_set(_tiny_transfer(), _Teacher(), copies=2)
    path = tmp_path_factory.mktemp("distill") / "student.keras"
    result = distill.train_distilled(ts, split, epochs=1, batch_size=64, path=path, verbose=0)
    return result, split, ts


def test_train_distilled_saves_a_course_model_that_says_what_it_learned_from(tiny_distilled):
    result, split, ts = tiny_distilled
    info = emotion.model_info(result.path)
    assert info["distilled"]["real_face_copies"] == len(ts.faces) and info["train_faces"] == len(ts.faces) + len(split.y_train)
    assert info["labels"] == fer.EMOTIONS and info["preprocessing"] == emotion.PREPROCESSING
    model = emotion.load_model(result.path)
    assert model.input_shape == (None, 48, 48, 1) and model.get_layer("logits") is not None
    assert np.allclose(emotion.predict(model, split.x_test[:8]), emotion.predict(result.model, split.x_test[:8]), atol=1e-5)
    assert info["neutral_logit_shift"] == distill.NEUTRAL_SHIFT


def test_shift_logit_multiplies_one_class_odds_and_nothing_else(tiny_distilled):
    """Neutral's odds against every other class grow e^amount-fold; the other classes' ratios stay."""
    result, split, _ = tiny_distilled
    model = emotion.load_model(result.path)
    before = emotion.predict(model, split.x_test[:16]).astype(np.float64)
    distill.shift_logit(model, "Neutral", 0.7)
    after = emotion.predict(model, split.x_test[:16]).astype(np.float64)
    n, happy, sad = (fer.EMOTIONS.index(k) for k in ("Neutral", "Happy", "Sad"))
    assert np.allclose((after[:, n] / after[:, happy]) / (before[:, n] / before[:, happy]), np.exp(0.7), rtol=1e-3)
    assert np.allclose(after[:, sad] / after[:, happy], before[:, sad] / before[:, happy], rtol=1e-3)
    distill.shift_logit(model, "Neutral", 0.0)                  # no change at all
    assert np.allclose(emotion.predict(model, split.x_test[:16]), after, atol=1e-7)


def test_fine_tune_trains_the_head_keeps_batchnorm_statistics_and_drops_stale_real_face_figures(tiny_distilled,
                                                                                                      tmp_path):
    import keras

    result, _, _ = tiny_distilled
    emotion.update_model_info(result.path, real_faces={"passed": False, "agreement": 0.5})
    # a "recording": two classes, 60 frames each, in recording order
    rec = synthfaces.make_faces(400, seed=9)
    keep = np.flatnonzero(np.isin(rec.labels, [3, 4]))[:120]
    csv = fer.write_fer2013_csv(tmp_path / "rec.csv", rec.images[keep], rec.labels[keep])
    recording = emotion.split_dataset(emotion.load_dataset(csv))
    def stats(model):
        return {l.name: (np.array(l.moving_mean), np.array(l.moving_variance)) for l in model.layers
                if isinstance(l, keras.layers.BatchNormalization)}

    before = stats(emotion.load_model(result.path))
    # the mechanics of the head's training, whatever its validation figure (kept_base is tested below)
    tuned = emotion.fine_tune(recording, base=result.path, epochs=3, path=tmp_path / "tuned.keras",
                              min_gain=None, verbose=0)
    base_model = emotion.load_model(result.path)
    assert np.array_equal(base_model.get_layer("Conv1").get_weights()[0], tuned.model.get_layer("Conv1").get_weights()[0])
    assert not np.array_equal(base_model.get_layer("logits").get_weights()[0], tuned.model.get_layer("logits").get_weights()[0])
    with pytest.raises(ValueError, match="train_from 'nope' is not a layer"):
        emotion.fine_tune(recording, base=result.path, train_from="nope", path=None, verbose=0)
    with pytest.raises(ValueError, match=r"keep must be in \[0, 1\)"):
        emotion.fine_tune(recording, base=result.path, keep=1.0, path=None, verbose=0)
    after = stats(tuned.model)
    assert before.keys() == after.keys() and len(before) > 5
    assert all(np.array_equal(before[k][i], after[k][i]) for k in before for i in (0, 1))
    assert not np.array_equal(emotion.predict(tuned.model, recording.x_test), emotion.predict(result.model, recording.x_test))
    info = emotion.model_info(tuned.path)
    assert "real_faces" not in info and info["fine_tune_faces"] == len(recording.y_train)
    assert info["fine_tuned_from"].endswith("student.keras") and info["labels"] == fer.EMOTIONS
    assert np.isfinite(tuned.history["val_loss"]).all()
    assert info["fine_tune_validation"]["kept_base"] is False and tuned.kept_base is False


def test_fine_tune_keeps_the_base_when_fine_tuning_does_not_beat_it_on_the_validation_faces(tiny_distilled,
                                                                                             tmp_path):
    """A base that already reads every validation face has nothing to gain: it comes back unchanged.

    The recording's labels are the base's own answers, so the base scores 1.0 on its validation faces
    and no fine-tuned head can score higher; its weights, and its real-face figures, must be returned
    (even with ``min_gain=1``, the least margin).
    """
    result, _, _ = tiny_distilled
    emotion.update_model_info(result.path, real_faces={"passed": False, "agreement": 0.5})
    base_model = emotion.load_model(result.path)
    faces = synthfaces.make_faces(160, seed=11).images
    labels = emotion.predict(base_model, faces).argmax(axis=1)
    recording = emotion.split_dataset(emotion.load_dataset(
        fer.write_fer2013_csv(tmp_path / "rec.csv", faces, labels)))
    assert emotion.evaluate(base_model, recording.x_val, recording.y_val).accuracy == 1.0
    # keep=0: one-hot targets, not the base's soft answers, so the head does move while it trains
    tuned = emotion.fine_tune(recording, base=result.path, epochs=2, keep=0.0, min_gain=1,
                              path=tmp_path / "tuned.keras", verbose=0)
    assert tuned.kept_base is True and tuned.epochs_run >= 1
    assert all(np.array_equal(a, b) for a, b in zip(base_model.get_weights(), tuned.model.get_weights()))
    info = emotion.model_info(tuned.path)
    check = info["fine_tune_validation"]
    assert check["faces"] == len(recording.y_val) and check["base_accuracy"] == 1.0 and check["kept_base"] is True
    assert check["min_gain"] == 1
    assert 0.0 <= check["fine_tuned_accuracy"] <= 1.0
    assert info["real_faces"] == {"passed": False, "agreement": 0.5}   # still the same weights, still true
    # the held-out figures it hands back are the base's on both sides, as an evaluation from outside gives
    outside = emotion.evaluate(base_model, recording.x_test, recording.y_test)
    assert tuned.held_out_base.correct == tuned.held_out.correct == outside.correct
    saved = emotion.load_model(tuned.path)
    assert np.allclose(emotion.predict(saved, faces[:16]), emotion.predict(base_model, faces[:16]), atol=1e-6)


def test_fine_tune_keeps_the_fine_tuned_model_when_it_reads_more_validation_faces(tiny_distilled, tmp_path):
    """The other side of ``min_gain``: a recording labelled with a class the base rarely answers."""
    result, _, _ = tiny_distilled
    base_model = emotion.load_model(result.path)
    faces = synthfaces.make_faces(160, seed=12).images
    rare = int(np.bincount(emotion.predict(base_model, faces).argmax(axis=1), minlength=7).argmin())
    recording = emotion.split_dataset(emotion.load_dataset(
        fer.write_fer2013_csv(tmp_path / "rec.csv", faces, np.full(len(faces), rare))))
    base_val = emotion.evaluate(base_model, recording.x_val, recording.y_val)
    tuned = emotion.fine_tune(recording, base=result.path, epochs=4, keep=0.0, learning_rate=1e-2, augment=0,
                              path=tmp_path / "tuned.keras", verbose=0)
    check = emotion.model_info(tuned.path)["fine_tune_validation"]
    gained = round((check["fine_tuned_accuracy"] - check["base_accuracy"]) * check["faces"])
    assert check["base_accuracy"] == pytest.approx(base_val.accuracy, abs=1e-4)
    assert gained >= 2 and tuned.kept_base is False and check["kept_base"] is False
    assert tuned.held_out.accuracy == pytest.approx(
        emotion.evaluate(tuned.model, recording.x_test, recording.y_test).accuracy)
    assert tuned.held_out_base.accuracy == pytest.approx(check["held_out_base_accuracy"], abs=1e-4)
    assert not np.array_equal(base_model.get_layer("logits").get_weights()[0],
                              tuned.model.get_layer("logits").get_weights()[0])


def test_evaluate_real_faces_is_reachable_from_emotion():
    from aiffel_lib import realfaces

    assert emotion.evaluate_real_faces.__doc__ and "realfaces.evaluate_real_faces" in emotion.evaluate_real_faces.__doc__
    assert realfaces.evaluate_real_faces is not emotion.evaluate_real_faces


def test_pretend_recording_is_the_wolfgang_video_in_two_stretches():
    faces = transfer.TransferFaces(np.zeros((236, 96, 96), np.uint8) + np.arange(236, dtype=np.uint8)[:, None, None] % 250,
                                   np.array(["wolfgang"] * 236), {})
    images, labels = transfer.pretend_recording(faces)
    sad, happy = fer.EMOTIONS.index("Sad"), fer.EMOTIONS.index("Happy")
    assert images.shape[1:] == (48, 48) and set(labels.tolist()) == {sad, happy}
    assert (np.diff(labels) != 0).sum() == 1 and labels[0] == sad   # one stretch after the other
    assert (labels == sad).sum() == 66 and (labels == happy).sum() == 116
    assert "wolfgang" not in {s.name for s in transfer.SOURCES}   # an unseen person for the recording


def _ring_faces(n=4, side=96):
    """Dark faces with a bright ring at the border: zooming in pushes the ring out of the frame."""
    faces = np.full((n, side, side), 60, np.uint8)
    faces[:, :6, :] = faces[:, -6:, :] = faces[:, :, :6] = faces[:, :, -6:] = 220
    return faces


def _border_brightness(faces):
    f = faces.astype(float)
    return np.mean([f[:, :4].mean(), f[:, -4:].mean(), f[:, :, :4].mean(), f[:, :, -4:].mean()])


def test_tight_copies_zoom_in_and_the_default_recipe_uses_them():
    faces = _ring_faces()
    loose = distill.augment_faces(faces, copies=4, seed=0, strength=0.0, tight=0.0, sizes=(96,))[96][4:]
    tight = distill.augment_faces(faces, copies=4, seed=0, strength=0.0, tight=1.0, sizes=(96,))[96][4:]
    # strength 0 keeps the geometry (zoom 1): the ring stays; a tight copy (zoom >= 1.3) loses it
    assert _border_brightness(loose) > 150 and _border_brightness(tight) < 110
    assert 0 < distill.TIGHT < 1


def test_the_teacher_sees_each_copy_before_blur_noise_and_shrinking():
    faces = np.stack([cv2.resize(f, (96, 96)) for f in synthfaces.make_faces(6, seed=2).images])
    plain = distill.augment_faces(faces, copies=3, seed=0, low_res=1.0)
    clean = distill.augment_faces(faces, copies=3, seed=0, low_res=1.0, clean_sizes=(64,))
    # the student's copies do not change; the teacher's keep their detail (shrunk copies lose it)
    assert np.array_equal(plain[48], clean[48]) and np.array_equal(plain[64][:6], clean[64][:6])

    def sharpness(x):
        return np.mean([cv2.Laplacian(f, cv2.CV_64F).var() for f in x])

    assert sharpness(clean[64][6:]) > 2 * sharpness(plain[64][6:])


def test_join_halves_takes_the_eyes_of_one_face_and_the_mouth_of_another():
    dark, light = np.full((2, 48, 48), 20, np.uint8), np.full((2, 48, 48), 220, np.uint8)
    joined = distill.join_halves(dark, light)
    assert joined.shape == (2, 48, 48) and joined.dtype == np.uint8
    assert (joined[:, :21] == 20).all() and (joined[:, 28:] == 220).all()   # upper from one, lower from the other
    assert np.all(np.diff(joined[0, :, 0].astype(int)) >= 0) and np.abs(np.diff(joined[0, :, 0].astype(int))).max() < 60
    with pytest.raises(ValueError, match="one shape"):
        distill.join_halves(dark, light[:, :40])


def test_joined_copies_are_labelled_by_the_teacher_on_the_joined_face():
    class Recording(_Teacher):
        def predict(self, x, batch_size=256, verbose=0):
            self.seen = np.asarray(x)[..., 0]
            return super().predict(x)

    tiny, teacher = _tiny_transfer(), Recording()
    plain = distill.make_transfer_set(tiny, _Teacher(), copies=2, halves=0.0)
    ts = distill.make_transfer_set(tiny, teacher, copies=2)
    n = len(plain.faces)
    assert ts.joined == round(distill.HALVES * n) > 0 and len(ts.faces) == n + ts.joined
    assert np.array_equal(ts.faces[:n], plain.faces) and "joined halves" in ts.summary()

    def parent(stack, rows):   # which copy a joined face's rows come from, exactly
        return [int(np.flatnonzero((stack[:n, rows] == f[rows]).all(axis=(1, 2)))[0]) for f in stack[n:]]

    seen = teacher.seen
    upper, lower = parent(seen, slice(0, 28)), parent(seen, slice(36, 64))   # the teacher's 64-px view
    assert upper == parent(ts.faces, slice(0, 21)) and lower == parent(ts.faces, slice(27, 48))
    assert any(u != v for u, v in zip(upper, lower))
    # its answer is the teacher's on the joined face it saw
    assert np.allclose(ts.teacher[n:], _Teacher().predict(seen[n:, ..., None]))


def test_camera_views_frame_tight_small_and_tilted_faces():
    faces = _ring_faces()
    views = distill.camera_views(faces)
    assert list(views) == [v[0] for v in distill.DEV_VIEWS]
    assert all(v.shape == faces.shape and v.dtype == np.uint8 for v in views.values())
    assert np.array_equal(views["as cropped"], faces)
    assert _border_brightness(views["tight, 25 px"]) < 110          # zoomed past the ring
    assert not np.array_equal(views["tilted 25°"][0], views["tilted 25°"][0][:, ::-1])
    # a shrunk face keeps its mean brightness but loses its edges
    assert abs(views["small, 24 px"].mean() - faces.mean()) < 3
    with pytest.raises(ValueError, match="square gray uint8"):
        distill.camera_views(faces[:, :50])


def _constant_model(cls):
    import keras

    inputs = keras.Input((48, 48, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    out = keras.layers.Dense(7, activation="softmax", kernel_initializer="zeros",
                             bias_initializer=keras.initializers.Constant(np.eye(7)[cls] * 5))(x)
    return keras.Model(inputs, out)


def test_dev_report_is_made_of_unseen_people_and_fails_a_constant_model():
    faces = transfer.load_dev_faces()
    assert set(faces) == {"man", "woman"} and all(f.shape[1:] == (96, 96) for f in faces.values())
    assert len(faces["man"]) >= 100 and len(faces["woman"]) >= 200
    # the dev people are neither transfer faces nor one another's files
    dev_files = {s.sha256 for s in transfer.DEV_SOURCES} | {transfer.RECORDING_SOURCE.sha256}
    assert not dev_files & {s.sha256 for s in transfer.SOURCES}
    report = distill.dev_report(_constant_model(fer.EMOTIONS.index("Happy")), faces=faces, name="always Happy")
    man = [r for r in report.rows if r["person"] == "man"]
    # the teacher sees the man both smiling and neutral; always answering Happy gets only half
    assert all(set(r["counts"]) >= {"Happy", "Neutral"} and r["balanced"] <= 0.5 for r in man)
    assert report.mean < 0.5 and "always Happy" in report.table() and len(report.rows) == 2 * len(distill.DEV_VIEWS)


def test_per_class_agreement_counts_each_label_class_and_drops_rare_ones():
    labels = np.array([3] * 10 + [4] * 10 + [0] * 2)
    answers = np.array([3] * 9 + [6] + [4] * 3 + [6] * 7 + [0] * 2)
    got = distill.per_class_agreement(answers, labels, min_faces=10)
    assert got == {"Happy": (10, 0.9), "Sad": (10, 0.3)}   # Angry: only 2 faces, left out
    assert distill.per_class_agreement(answers, labels, min_faces=1)["Angry"] == (2, 1.0)
    with pytest.raises(ValueError, match="class indices"):
        distill.per_class_agreement(answers[:5], labels)


class _LeftTeacher:
    """Answers Happy when the left half of the face is brighter than the right, else Neutral: not mirror-safe."""

    inputs = [type("T", (), {"shape": (None, 64, 64, 1)})()]

    def predict(self, x, batch_size=256, verbose=0):
        x = np.asarray(x)[..., 0]
        left = x[:, :, :32].mean(axis=(1, 2)) > x[:, :, 32:].mean(axis=(1, 2)) + 1
        p = np.full((len(x), 7), 0.01, np.float32)
        p[np.arange(len(x)), np.where(left, 3, 6)] = 0.94
        return p


def test_mirror_agreement_catches_answers_that_change_with_the_mirror_image():
    even = np.full((12, 96, 96), 120, np.uint8)
    lopsided = even.copy()
    lopsided[:, :, :48] = 200
    got = distill.mirror_agreement(_LeftTeacher(), np.concatenate([even, lopsided]))
    # symmetric faces keep their answer; every lopsided "Happy" turns Neutral when mirrored
    assert got == {"Happy": (12, 0.0), "Neutral": (12, 1.0)}
    with pytest.raises(ValueError, match="square gray faces"):
        distill.mirror_agreement(_LeftTeacher(), even[:, :, :50])


def test_training_fit_scores_the_student_against_the_teacher_on_its_own_copies():
    faces = np.zeros((40, 48, 48), np.uint8)
    teacher = np.full((40, 7), 0.01, np.float32)
    teacher[:30, 3], teacher[30:, 4] = 0.94, 0.94   # 30 Happy copies, 10 Sad
    ts = distill.TransferSet(faces, teacher, teacher, np.array(["franck"] * 40), 2.0, 0.0)
    got = distill.training_fit(_constant_model(fer.EMOTIONS.index("Happy")), ts, limit=1000)
    assert got == {"Happy": (30, 1.0), "Sad": (10, 0.0)}
    sample = distill.training_fit(_constant_model(3), ts, limit=20, min_faces=1)
    assert sum(n for n, _ in sample.values()) == 20
    assert "Sad 0.00 (10)" in distill.agreement_line("always Happy", got)


def _evaluation(right: int, faces: int) -> emotion.Evaluation:
    """An Evaluation of ``faces`` faces of one class, ``right`` of them read right."""
    labels = np.zeros(faces, np.int64)
    predictions = np.where(np.arange(faces) < right, 0, 1)
    probabilities = np.eye(7, dtype=np.float32)[predictions]
    cm = emotion.confusion_matrix(labels, predictions)
    return emotion.Evaluation(probabilities, predictions, labels, right / faces, cm, emotion.per_class_accuracy(cm))


@pytest.mark.parametrize("val, test, min_gain, kept_base, why", [
    ((11, 14), (35, 35), 2, False, "kept the fine-tuned model"),           # gained 3, lost none
    ((11, 14), (35, 27), 2, True, "read 8 fewer held-out faces"),          # the case seen on one machine
    ((11, 14), (35, 34), 2, True, "read 1 fewer held-out face)"),
    ((13, 14), (35, 36), 2, True, "read 1 more validation face, fewer than 2"),
    ((12, 14), (20, 30), 2, False, "kept the fine-tuned model"),           # gained on both
    ((11, 14), (35, 27), None, False, "kept the fine-tuned model"),        # None: no check at all
])
def test_fine_tune_keeps_the_base_unless_it_gains_on_validation_and_loses_nothing_held_out(val, test, min_gain,
                                                                                            kept_base, why):
    """A validation gain alone is not enough: fine-tuning can learn a recording and lose its later frames."""
    verdict = emotion.fine_tune_verdict(_evaluation(val[0], val[1]), _evaluation(14, 14),
                                        _evaluation(test[0], 36), _evaluation(test[1], 36), min_gain)
    assert verdict[0] is kept_base and why in verdict[1]
