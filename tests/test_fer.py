"""FER2013 loaders: the CSV (also the web app's recording format) and the image-folder layout."""

from __future__ import annotations

import numpy as np
import pytest

from aiffel_lib import fer


def _faces(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n)


def _csv_text(rows: list[tuple[object, object, object]], header: str = "emotion,pixels,Usage") -> str:
    """A CSV written by hand (no csv module), as FER2013 ships it."""
    lines = [header]
    for emo, pix, use in rows:
        pix = pix if isinstance(pix, str) else " ".join(str(int(v)) for v in np.ravel(pix))
        lines.append(f"{emo},{pix},{use}")
    return "\n".join(lines) + "\n"


def test_constants_follow_the_course():
    assert fer.EMOTIONS == ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
    assert fer.EMOJI == ["🤬", "🤢", "😱", "😄", "😢", "😲", "😐"]
    assert fer.USAGES == ["Training", "PublicTest", "PrivateTest"]


def test_csv_reads_hand_written_fer2013_rows(tmp_path):
    imgs, labels = _faces(5)
    usage = ["Training", "Training", "PublicTest", "PrivateTest", "PrivateTest"]
    path = tmp_path / "fer2013.csv"
    path.write_text(_csv_text(list(zip(labels, imgs, usage))))
    data = fer.load_fer2013_csv(path)
    images, got_labels, got_usage = data  # unpacks like a tuple
    assert images.dtype == np.uint8 and images.shape == (5, 48, 48)
    np.testing.assert_array_equal(images, imgs)
    # row-major: the first 48 values are the top row
    assert images[0, 0].tolist() == imgs[0].ravel()[:48].tolist()
    assert got_labels.tolist() == labels.tolist() and got_labels.dtype == np.int64
    assert got_usage.tolist() == usage


def test_write_then_load_round_trips(tmp_path):
    imgs, labels = _faces(7, seed=1)
    usage = np.array(["Training"] * 4 + ["PublicTest", "PrivateTest", "PrivateTest"])
    path = fer.write_fer2013_csv(tmp_path / "out" / "faces.csv", imgs, labels, usage)
    text = path.read_text().splitlines()
    assert text[0] == "emotion,pixels,Usage"
    assert text[1] == f"{labels[0]},{' '.join(map(str, imgs[0].ravel()))},Training"
    back = fer.load_fer2013_csv(path)
    np.testing.assert_array_equal(back.images, imgs)
    np.testing.assert_array_equal(back.labels, labels)
    assert back.usage.tolist() == usage.tolist()
    # no temporary files left behind by the atomic write
    assert sorted(p.name for p in path.parent.iterdir()) == ["faces.csv"]


def test_web_app_recording_format_loads(tmp_path):
    # html/js/face2emoji.js writes `${emotion},${pixels.join(' ')},Training` under this header,
    # and browsers may add a BOM / CRLF when saving.
    imgs, labels = _faces(3, seed=2)
    body = "\r\n".join(["emotion,pixels,Usage"] + [f"{e},{' '.join(map(str, p.ravel()))},Training"
                                                   for e, p in zip(labels, imgs)]) + "\r\n"
    path = tmp_path / "face2emoji-recording.csv"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    data = fer.load_fer2013_csv(path)
    np.testing.assert_array_equal(data.images, imgs)
    assert set(data.usage) == {"Training"}


def test_usage_column_optional_and_spaced_headers(tmp_path):
    imgs, labels = _faces(2, seed=3)
    path = tmp_path / "no_usage.csv"
    path.write_text("emotion,pixels\n" + "".join(f"{e},{' '.join(map(str, p.ravel()))}\n"
                                                  for e, p in zip(labels, imgs)))
    data = fer.load_fer2013_csv(path)
    assert data.usage.tolist() == ["Training", "Training"]
    # Kaggle's icml_face_data.csv: "emotion, Usage, pixels" with spaces after commas
    path2 = tmp_path / "icml.csv"
    path2.write_text("emotion, Usage, pixels\n" + "".join(f"{e},PrivateTest, {' '.join(map(str, p.ravel()))}\n"
                                                          for e, p in zip(labels, imgs)))
    data2 = fer.load_fer2013_csv(path2)
    np.testing.assert_array_equal(data2.images, imgs)
    assert set(data2.usage) == {"PrivateTest"}


@pytest.mark.parametrize("bad_row, message", [
    (("3", " ".join(["7"] * 2303), "Training"), "2303 values, expected 2304"),
    (("3", " ".join(["7"] * 2305), "Training"), "2305 values"),
    (("9", " ".join(["7"] * 2304), "Training"), "emotion '9' is not a class id 0-6"),
    (("happy", " ".join(["7"] * 2304), "Training"), "emotion 'happy'"),
    (("3", " ".join(["7"] * 2304), "Train"), "Usage 'Train' is not one of Training, PublicTest, PrivateTest"),
    (("3", " ".join(["7"] * 2303 + ["x1"]), "Training"), "pixel value 'x1' is not an integer"),
    (("3", " ".join(["7"] * 2303 + ["256"]), "Training"), "pixel value 256 is outside 0-255"),
])
def test_malformed_row_names_row_and_problem(tmp_path, bad_row, message):
    imgs, labels = _faces(2)
    rows = [(labels[0], imgs[0], "Training"), (labels[1], imgs[1], "PublicTest"), bad_row]
    path = tmp_path / "bad.csv"
    path.write_text(_csv_text(rows))
    with pytest.raises(ValueError) as err:
        fer.load_fer2013_csv(path)
    text = str(err.value)
    assert "row 3 (line 4)" in text and "bad.csv" in text
    assert message in text


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        fer.load_fer2013_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        fer.load_fer2013_csv(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("label,image\n1,2\n")
    with pytest.raises(ValueError, match="lacks 'emotion' and 'pixels'"):
        fer.load_fer2013_csv(tmp_path / "header.csv")
    (tmp_path / "short.csv").write_text("emotion,pixels,Usage\n3\n")
    with pytest.raises(ValueError, match="row 1 .*1 columns, expected 3"):
        fer.load_fer2013_csv(tmp_path / "short.csv")
    (tmp_path / "only_header.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(ValueError, match="no faces"):
        fer.load_fer2013_csv(tmp_path / "only_header.csv")


def test_writer_refuses_wrong_input(tmp_path):
    imgs, labels = _faces(2)
    with pytest.raises(ValueError, match=r"\(N, 48, 48\) uint8"):
        fer.write_fer2013_csv(tmp_path / "x.csv", imgs.astype(np.float32), labels)
    with pytest.raises(ValueError, match="class ids 0-6"):
        fer.write_fer2013_csv(tmp_path / "x.csv", imgs, np.array([0, 7]))
    with pytest.raises(ValueError, match="usage 'Test'"):
        fer.write_fer2013_csv(tmp_path / "x.csv", imgs, labels, usage="Test")
    assert not (tmp_path / "x.csv").exists()


def _write_folder(root, layout):
    import cv2

    for rel, img in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), img)


def test_image_folder_layout(tmp_path):
    imgs, _ = _faces(4, seed=5)
    _write_folder(tmp_path, {"train/happy/a.png": imgs[0], "train/Angry/b.png": imgs[1],
                             "test/sad/c.png": imgs[2], "test/disgust/d.png": imgs[3]})
    (tmp_path / "train" / "happy" / "notes.txt").write_text("not an image")
    data = fer.load_image_folder(tmp_path)
    # sorted by split (test, train), class folder name, file name
    assert data.labels.tolist() == [1, 4, 0, 3]
    assert data.usage.tolist() == ["PrivateTest", "PrivateTest", "Training", "Training"]
    np.testing.assert_array_equal(data.images, imgs[[3, 2, 1, 0]])
    np.testing.assert_array_equal(fer.load_fer2013(tmp_path).images, data.images)


def test_image_folder_errors_and_resize(tmp_path):
    import cv2

    big = np.random.default_rng(0).integers(0, 256, (96, 96), dtype=np.uint8)
    _write_folder(tmp_path / "a", {"train/happy/big.png": big})
    with pytest.raises(ValueError, match="train/happy/big.png: 96x96 pixels, expected 48x48"):
        fer.load_image_folder(tmp_path / "a")
    data = fer.load_image_folder(tmp_path / "a", resize=True)
    np.testing.assert_array_equal(data.images[0], cv2.resize(big, (48, 48), interpolation=cv2.INTER_AREA))
    _write_folder(tmp_path / "b", {"train/smiling/x.png": big[:48, :48]})
    with pytest.raises(ValueError, match="train/smiling: unknown class folder"):
        fer.load_image_folder(tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(ValueError, match="no train/ or test/"):
        fer.load_image_folder(tmp_path / "c")


def test_class_counts_report():
    labels = np.array([0, 0, 3, 3, 3, 1, 6])
    usage = np.array(["Training"] * 5 + ["PrivateTest"] * 2)
    counts = fer.class_counts(labels, usage)
    assert counts["Training"]["Happy"] == 3 and counts["PrivateTest"]["Disgust"] == 1
    assert counts["total"] == {"Angry": 2, "Disgust": 1, "Fear": 0, "Happy": 3, "Sad": 0,
                               "Surprise": 0, "Neutral": 1}
    assert "PublicTest" not in counts
    table = fer.format_class_counts(labels, usage)
    assert "1 🤢 Disgust" in table and "14.3%" in table and "42.9%" in table
