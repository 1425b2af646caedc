"""face-api's networks rebuilt in Keras (aiffel_lib.faceapi_nets) and the landmark-guided sad warp (facewarp)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from aiffel_lib import faceapi_nets, facewarp, references, transfer
from aiffel_lib.fer import EMOTIONS

SAD = EMOTIONS.index("Sad")


@pytest.fixture(scope="module")
def faces():
    """200 real transfer faces (96x96 page crops), spread over every source."""
    t = transfer.load_transfer_faces()
    return t.faces[np.linspace(0, len(t.faces) - 1, 200).astype(int)]


@pytest.fixture(scope="module")
def landmark_net():
    return faceapi_nets.build_network("landmarks")


@pytest.fixture(scope="module")
def points(landmark_net, faces):
    return faceapi_nets.find_landmarks(landmark_net, faces)


def test_keras_networks_equal_face_apis_own_in_chromium(faces, landmark_net):
    """The same 8 inputs through face-api in Chromium (its own tfjs code and weights) and through the
    Keras rebuild: landmarks and expression probabilities agree to 1e-4 (a wrong padding, channel
    order, dequantisation or block wiring gives differences of 1e-2 and more)."""
    from aiffel_lib.browser import chromium_session, run_outside_event_loop
    from aiffel_lib.paths import HTML_DIR
    from aiffel_lib.serve import serving

    x = faceapi_nets.to_network_input(faces[::25])
    x[1] = x[1][:, ::-1]                                         # one mirrored, one with colour
    x[2, ..., 0] = np.clip(x[2, ..., 0] * 1.3, 0, 255)

    def work():
        with serving(HTML_DIR) as url, chromium_session(allowed_origins=(url.rstrip("/"),)) as s:
            s.page.goto(url + "faceapi_reference.html")
            s.page.wait_for_function("window.faceapiReference.ready || window.faceapiReference.error",
                                     timeout=120_000)
            assert not s.page.evaluate("window.faceapiReference.error")
            return s.page.evaluate("([d, n]) => window.faceapiReference.nets(d, n)",
                                   [x.ravel().tolist(), len(x)])

    browser = run_outside_event_loop(work)
    keras_landmarks = landmark_net.predict(x, verbose=0)
    keras_expressions = faceapi_nets.build_network("expressions").predict(x, verbose=0)
    d_land = np.abs(keras_landmarks - np.asarray(browser["landmarks"])).max()
    d_expr = np.abs(keras_expressions - np.asarray(browser["expressions"])).max()
    print(f"Keras vs face-api in Chromium: landmarks {d_land:.1e} (share of the side), expressions {d_expr:.1e}")
    assert d_land < 1e-4 and d_expr < 1e-4


def test_networks_read_many_faces_a_chunk_at_a_time_with_the_same_answers(faces, landmark_net, monkeypatch):
    """Notebook 04 labels 23,247 copies: converted all at once to 112x112x3 float32 they took 3.5 GB (12.9 GB
    peak in all). In chunks, no call of the net sees more than CHUNK faces, and the answers are the ones
    of a single pass over all faces."""
    expressions = faceapi_nets.build_network("expressions")
    whole = expressions.predict(faceapi_nets.to_network_input(faces), verbose=0)[:, list(faceapi_nets.TO_COURSE)]
    whole_points = faceapi_nets.find_landmarks(landmark_net, faces)
    seen = []

    class Recording:
        def __init__(self, net):
            self.net, self.outputs = net, net.outputs

        def predict(self, x, **kw):
            seen.append(len(x))
            return self.net.predict(x, **kw)

    monkeypatch.setattr(faceapi_nets, "CHUNK", 64)
    chunked = faceapi_nets.predict_expressions(Recording(expressions), faces)
    chunked_points = faceapi_nets.find_landmarks(Recording(landmark_net), faces)
    assert seen == [64, 64, 64, 8] * 2
    assert chunked.shape == (len(faces), 7) and np.abs(chunked - whole).max() < 1e-5
    assert np.abs(chunked_points - whole_points).max() < 1e-3
    assert faceapi_nets.predict_expressions(expressions, faces[:0]).shape == (0, 7)


def test_landmarks_fall_on_the_face_in_order(points):
    """Brows above eyes above nose tip above mouth above chin, left eye left of right eye, inside the crop:
    on nearly every face (a few crops are Haar's false finds or turned heads, where landmarks are guesses)."""
    brows, eyes = points[:, 17:27, 1].mean(1), points[:, 36:48, 1].mean(1)
    nose_tip, mouth, chin = points[:, 33, 1], points[:, 48:68, 1].mean(1), points[:, 8, 1]
    in_order = (brows < eyes) & (eyes < nose_tip) & (nose_tip < mouth) & (mouth < chin)
    in_order &= points[:, 36:42, 0].mean(1) < points[:, 42:48, 0].mean(1)
    inside = (points.min((1, 2)) > -5) & (points.max((1, 2)) < 101)
    print(f"landmarks in order on {in_order.mean():.3f} of {len(points)} faces, inside the crop on {inside.mean():.3f}")
    assert in_order.mean() >= 0.95 and inside.mean() >= 0.95


def test_sadden_moves_mouth_corners_down_and_inner_brows_up_and_nothing_else(faces, points):
    """Read off the warp itself: warping images whose pixels hold their own x or y coordinate (x2) tells
    where each output pixel came from. At the landmarks of 20 real faces, strength 1.5: the mouth corners
    come down and the inner brows go up by pixels, the eyes (just under the brows) and the jaw a fraction of one; strength 0
    returns the face unchanged."""
    assert np.array_equal(facewarp.sadden(faces[0], points[0], 0.0), faces[0])
    side = faces.shape[1]
    ramp_y, ramp_x = (np.mgrid[0:side, 0:side] * 2).astype(np.uint8)
    moves = []
    for p in points[::10]:
        src_y = facewarp.sadden(ramp_y, p, 1.5).astype(float) / 2
        src_x = facewarp.sadden(ramp_x, p, 1.5).astype(float) / 2
        at = np.clip(np.round(p).astype(int), 0, side - 1)
        moves.append(np.stack([at[:, 0] - src_x[at[:, 1], at[:, 0]], at[:, 1] - src_y[at[:, 1], at[:, 0]]], 1))
    moves = np.array(moves)                                     # (faces, 68, 2): how far each landmark's pixel moved
    corners_down = moves[:, [48, 54], 1].mean()
    brows_up = -moves[:, [21, 22], 1].mean()
    eyes, jaw = np.abs(moves[:, 36:48]).mean(), np.abs(moves[:, 0:17]).mean()
    print(f"sadden(1.5): corners {corners_down:+.1f} px down, inner brows {brows_up:+.1f} px up, "
          f"eyes {eyes:.2f} px, jaw {jaw:.2f} px")
    assert corners_down > 1.5 and brows_up > 1.5 and eyes < 1.0 and jaw < 0.5   # eyes sit under the brows


def test_the_teacher_reads_saddened_faces_as_sad_far_more_often(faces, points):
    """fer's FER2013 model (not made here) calls few of the real faces Sad and many of their saddened copies."""
    teacher = references.load_fer_model()
    before = references.predict_fer(teacher, faces).argmax(1)
    warped = np.stack([facewarp.sadden(f, p, 1.5) for f, p in zip(faces, points)])
    after = references.predict_fer(teacher, warped).argmax(1)
    print(f"the teacher calls Sad: {np.mean(before == SAD):.2f} of the faces, {np.mean(after == SAD):.2f} saddened")
    assert np.mean(after == SAD) > np.mean(before == SAD) + 0.15


def test_saddened_copies_picks_a_share_and_checks_its_input(faces, points):
    copies, index = facewarp.saddened_copies(faces, points, 0.25, seed=3)
    assert copies.shape == (50,) + faces.shape[1:] and copies.dtype == np.uint8
    assert len(np.unique(index)) == 50 and np.all(np.diff(index) > 0)
    assert np.array_equal(facewarp.saddened_copies(faces, points, 0.25, seed=3)[0], copies)
    assert not np.array_equal(copies[0], faces[index[0]])
    with pytest.raises(ValueError, match="200 faces but 199"):
        facewarp.saddened_copies(faces, points[:-1], 0.5)
    with pytest.raises(ValueError, match="share"):
        facewarp.saddened_copies(faces, points, 1.5)
    with pytest.raises(ValueError, match="68"):
        facewarp.landmark_moves(np.zeros((5, 2)))


def test_changed_or_missing_weight_files_are_refused(tmp_path):
    """A weight file with other bytes than face-api 1.7.15's, or none at all, gives a clear error, not a wrong net."""
    for name in ("face_landmark_68_model-weights_manifest.json", "face_landmark_68_model.bin"):
        shutil.copy(faceapi_nets.MODEL_DIR / name, tmp_path / name)
    assert set(faceapi_nets.read_tfjs_weights("face_landmark_68_model", tmp_path)) >= {"fc/weights", "fc/bias"}
    data = bytearray((tmp_path / "face_landmark_68_model.bin").read_bytes())
    data[100] ^= 0xFF
    (tmp_path / "face_landmark_68_model.bin").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="make setup"):
        faceapi_nets.read_tfjs_weights("face_landmark_68_model", tmp_path)
    with pytest.raises(ValueError, match="missing"):
        faceapi_nets.read_tfjs_weights("face_expression_model", tmp_path)
    (tmp_path / "face_landmark_68_model-weights_manifest.json").write_text("[{\"paths\": [")
    for verify in (True, False):                        # damaged: refused by its checksum, or by its JSON
        with pytest.raises(ValueError, match="make setup"):
            faceapi_nets.read_tfjs_weights("face_landmark_68_model", tmp_path, verify=verify)
