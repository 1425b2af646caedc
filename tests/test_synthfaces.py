"""Synthetic practice faces: format, determinism, real variation, and masks that sit on the expression."""

from __future__ import annotations

import numpy as np
import pytest

from aiffel_lib import fer, synthfaces


@pytest.fixture(scope="module")
def faces():
    return synthfaces.make_faces(700, seed=11, class_freq="uniform")


def test_fer2013_format_and_shapes(faces):
    assert faces.images.shape == (700, 48, 48) and faces.images.dtype == np.uint8
    assert faces.labels.shape == (700,) and faces.labels.dtype == np.int64
    assert faces.regions.shape == (700, 3, 48, 48) and faces.regions.dtype == bool
    assert faces.masks.shape == (700, 48, 48)
    assert set(np.unique(faces.labels)) == set(range(len(fer.EMOTIONS)))
    assert len(faces) == 700
    for key in ("intensity", "occluded", "sunglasses", "angle_deg", "face_px", "blur", "noise"):
        assert faces.params[key].shape == (700,)
    np.testing.assert_array_equal(faces.region("mouth"), faces.regions[:, 0])
    with pytest.raises(ValueError, match="unknown region"):
        faces.region("nose")


def test_deterministic_and_prefix_stable(faces):
    again = synthfaces.make_faces(700, seed=11, class_freq="uniform")
    np.testing.assert_array_equal(again.images, faces.images)
    np.testing.assert_array_equal(again.regions, faces.regions)
    prefix = synthfaces.make_faces(100, seed=11, class_freq="uniform")
    np.testing.assert_array_equal(prefix.images, faces.images[:100])
    np.testing.assert_array_equal(prefix.labels, faces.labels[:100])
    other = synthfaces.make_faces(100, seed=12, class_freq="uniform")
    assert (other.images != prefix.images).mean() > 0.5
    assert len(synthfaces.make_faces(0)) == 0


def test_class_frequencies():
    fer_like = synthfaces.make_faces(3000, seed=0)            # default: FER2013's imbalance
    share = np.bincount(fer_like.labels, minlength=7) / 3000
    expected = np.array(synthfaces.FER2013_TRAIN_COUNTS) / sum(synthfaces.FER2013_TRAIN_COUNTS)
    np.testing.assert_allclose(share, expected, atol=0.02)
    assert share[1] < 0.03                                     # Disgust is tiny, as in FER2013
    only_happy = synthfaces.make_faces(50, seed=0, class_freq=[0, 0, 0, 1, 0, 0, 0])
    assert set(only_happy.labels) == {3}
    with pytest.raises(ValueError, match="class_freq"):
        synthfaces.make_faces(10, class_freq=[1, 2])
    with pytest.raises(ValueError, match="n must be"):
        synthfaces.make_faces(-1)


def test_real_variation(faces):
    p = faces.params
    means = faces.images.reshape(700, -1).mean(axis=1)
    stds = faces.images.reshape(700, -1).std(axis=1)
    assert means.std() > 15 and np.ptp(means) > 80           # brightness varies
    assert np.ptp(stds) > 25                                   # contrast varies
    assert np.ptp(p["angle_deg"]) > 30 and np.ptp(p["face_px"]) > 5
    assert 0.1 < p["occluded"].mean() < 0.35 and 0.02 < p["sunglasses"].mean() < 0.2
    assert (p["blur"] > 0.3).mean() > 0.4 and p["noise"].max() > 0.03
    assert p["intensity"].min() < 0.75 < 1.0 < p["intensity"].max()   # weak to exaggerated expressions
    # faces move: the mouth's centroid wanders by several pixels
    mouth = faces.region("mouth")
    has = mouth.any(axis=(1, 2))
    ys, xs = np.mgrid[0:48, 0:48]
    cx = (mouth * xs).sum(axis=(1, 2))[has] / mouth.sum(axis=(1, 2))[has]
    assert cx.std() > 1.5
    # no two faces alike
    assert len({img.tobytes() for img in faces.images}) == 700


def test_masks_sit_on_the_face_parts(faces):
    """Brows above eyes above mouth (rotation is at most 22 degrees), sensible sizes."""
    ys = np.mgrid[0:48, 0:48][0]

    def centroid_y(mask):
        area = mask.sum(axis=(1, 2))
        return np.where(area > 0, (mask * ys).sum(axis=(1, 2)) / np.maximum(area, 1), np.nan)

    mouth, brows, eyes = (centroid_y(faces.region(r)) for r in synthfaces.REGIONS)
    ok = ~np.isnan(mouth) & ~np.isnan(brows) & ~np.isnan(eyes)
    assert ok.mean() > 0.95
    assert (brows[ok] < eyes[ok]).mean() > 0.97
    assert (eyes[ok] + 5 < mouth[ok]).mean() > 0.97
    area = faces.masks.mean(axis=(1, 2))
    assert 0.03 < area.mean() < 0.2 and area.max() < 0.35
    # occluders remove what they hide from the masks
    occ = faces.params["occluded"] | faces.params["sunglasses"]
    assert area[occ].mean() < area[~occ].mean()


def test_masks_carry_the_drawn_features(faces):
    """Expression parts are drawn darker than the skin around them (teeth aside)."""
    import cv2

    darker = []
    for img, mask in zip(faces.images[:200], faces.masks[:200]):
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~mask
        if mask.sum() > 20 and ring.sum() > 20:
            darker.append(img[mask].mean() < img[ring].mean())
    assert np.mean(darker) > 0.85


def test_expression_changes_inside_the_masks_only():
    """Same seed, different class: the pixels that change are (mostly) inside the masks."""
    a = synthfaces.make_faces(200, seed=5, class_freq=[0, 0, 0, 0, 0, 0, 1])   # all Neutral
    b = synthfaces.make_faces(200, seed=5, class_freq=[0, 0, 0, 1, 0, 0, 0])   # all Happy
    # with a single class the label draw is constant, so every other random number matches
    changed = np.abs(a.images.astype(int) - b.images.astype(int)) > 12
    inside = changed & (a.masks | b.masks)
    assert changed.sum() > 0
    assert inside.sum() / changed.sum() > 0.9


def test_not_solvable_by_pixel_templates():
    """Faces move, turn and change lighting, so a nearest-class-mean template on (normalised)
    pixels stays near chance: a model must find the mouth, brows and eyes. (That a small CNN
    does learn it is tested in test_emotion.py.)"""
    f = synthfaces.make_faces(2100, seed=21, class_freq="uniform")
    x = f.images.reshape(len(f), -1).astype(np.float32)
    x = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)
    train, test = slice(0, 1600), slice(1600, None)
    means = np.stack([x[train][f.labels[train] == k].mean(axis=0) for k in range(7)])
    pred = ((x[test][:, None, :] - means[None]) ** 2).sum(axis=2).argmin(axis=1)
    acc = (pred == f.labels[test]).mean()
    assert acc < 0.3
