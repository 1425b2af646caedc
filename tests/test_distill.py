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
    ts = distill.make_transfer_set(_tiny_transfer(), _Teacher(), copies=2, temperature=2.0)
    n_faces = 10 + distill.PHOTO_REPEAT + distill.REPEATS["single_face"]
    assert len(ts.faces) == len(ts.targets) == len(ts.source) == 2 * n_faces
    assert (ts.source == "audrey_photo").sum() == 2 * distill.PHOTO_REPEAT
    assert np.allclose(ts.targets, distill.soften(ts.teacher, 2.0), atol=1e-6)
    assert abs(sum(ts.class_shares().values()) - 1) < 0.01 and "teacher-labelled copies" in ts.summary()


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
    tuned = emotion.fine_tune(recording, base=result.path, epochs=3, path=tmp_path / "tuned.keras", verbose=0)
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
