"""FER2013 loaders: the CSV (also the web app's recording format) and the image-folder layout."""

from __future__ import annotations

import codecs
import gzip
import re
import tarfile
import zipfile

import numpy as np
import pytest
from badfiles import png_bomb

from aiffel_lib import fer, synthfaces


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


# ---- full size (issue 13 item 6) ------------------------------------------------------

# The real fer2013.csv, per usage and class (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral).
REAL_COUNTS = {"Training": [3995, 436, 4097, 7215, 4830, 3171, 4965],
               "PublicTest": [467, 56, 496, 895, 653, 415, 607],
               "PrivateTest": [491, 55, 528, 879, 594, 416, 626]}


@pytest.mark.slow
def test_full_size_file_loads_with_fer2013_counts_and_bounded_memory(tmp_path):
    import tracemalloc

    path = fer.write_synthetic_fer2013(tmp_path / "fer2013.csv", faces="noise", seed=7)
    tracemalloc.start()
    try:
        data = fer.load_fer2013_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.images.shape == (35887, 48, 48) and data.images.dtype == np.uint8
    assert {u: int((data.usage == u).sum()) for u in fer.USAGES} == {
        "Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    for use, counts in REAL_COUNTS.items():
        assert np.bincount(data.labels[data.usage == use], minlength=7).tolist() == counts
    # the real file's order: all Training rows, then PublicTest, then PrivateTest
    assert data.usage[28708] == "Training" and data.usage[28709] == "PublicTest"
    assert data.usage[-1] == "PrivateTest"
    # memory: the result (83 MB) plus little, not a list of rows stacked at the end (2x)
    assert peak < 1.25 * data.images.nbytes, f"peak {peak / 1e6:.0f} MB for {data.images.nbytes / 1e6:.0f} MB"
    # a few rows read back by hand from the text, independently of the loader
    wanted = {1: 0, 2: 1, 28710: 28709, 35888: 35886}  # file line (header = line 0) -> row
    with open(path, encoding="utf-8") as f:
        assert f.readline() == "emotion,pixels,Usage\n"
        for line_no, line in enumerate(f, start=1):
            if line_no in wanted:
                emo, pixels, use = line.rstrip("\n").split(",")
                row = wanted[line_no]
                assert data.images[row].ravel().tolist() == [int(v) for v in pixels.split(" ")]
                assert (int(emo), use) == (data.labels[row], data.usage[row])
        assert line_no == 35887


def test_synthetic_stand_in_writes_practice_faces_in_the_exact_format(tmp_path):
    counts = {"Training": (2, 1, 0, 3, 0, 0, 1), "PrivateTest": (0, 0, 1, 1, 0, 0, 0)}
    path = fer.write_synthetic_fer2013(tmp_path / "small.csv", counts=counts, seed=3)
    lines = path.read_text().splitlines()
    assert lines[0] == "emotion,pixels,Usage" and len(lines) == 1 + 7 + 2
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == ["Training"] * 7 + ["PrivateTest"] * 2
    data = fer.load_fer2013_csv(path)
    assert np.bincount(data.labels[:7], minlength=7).tolist() == list(counts["Training"])
    # practice faces, not noise: smooth images (neighbouring pixels close), not constant
    diffs = np.abs(np.diff(data.images.astype(int), axis=2)).mean()
    assert diffs < 20 and data.images.std() > 10
    noise = fer.load_fer2013_csv(fer.write_synthetic_fer2013(tmp_path / "n.csv", faces="noise", counts=counts))
    assert np.abs(np.diff(noise.images.astype(int), axis=2)).mean() > 60
    with pytest.raises(ValueError, match="'synthetic' or 'noise'"):
        fer.write_synthetic_fer2013(tmp_path / "x.csv", faces="real")
    with pytest.raises(ValueError, match="7 non-negative counts"):
        fer.write_synthetic_fer2013(tmp_path / "x.csv", counts={"Test": (1,) * 7})


# ---- bad files (issue 11 section 3) ----------------------------------------------------

def _encoded(tmp_path, name, encode):
    imgs, labels = _faces(3, seed=11)
    text = _csv_text(list(zip(labels, imgs, ["Training", "PublicTest", "PrivateTest"])))
    path = tmp_path / name
    path.write_bytes(encode(text))
    return path, imgs, labels


@pytest.mark.parametrize("name, encode", [
    ("utf16.csv", lambda t: t.encode("utf-16")),                     # Windows "Unicode text": BOM + LE
    ("utf16be.csv", lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be")),
    ("utf16-nobom.csv", lambda t: t.encode("utf-16-le")),
    ("bom.csv", lambda t: codecs.BOM_UTF8 + t.encode()),
    ("crlf.csv", lambda t: t.replace("\n", "\r\n").encode()),
    ("old-mac.csv", lambda t: t.replace("\n", "\r").encode()),
    ("fer2013.csv.gz", lambda t: gzip.compress(t.encode())),
    ("utf16.csv.gz", lambda t: gzip.compress(t.encode("utf-16"))),
])
def test_other_encodings_and_gzip_load_the_same_faces(tmp_path, name, encode):
    path, imgs, labels = _encoded(tmp_path, name, encode)
    data = fer.load_fer2013_csv(path)
    np.testing.assert_array_equal(data.images, imgs)
    assert data.labels.tolist() == labels.tolist()
    assert data.usage.tolist() == ["Training", "PublicTest", "PrivateTest"]


def test_unreadable_files_name_the_file_and_say_what_to_do(tmp_path):
    # Latin-1 / Windows-1252: a stray "é" in line 3
    path, _, _ = _encoded(tmp_path, "latin1.csv", lambda t: t.replace("PublicTest", "PublicTesté").encode("latin-1"))
    with pytest.raises(ValueError) as err:
        fer.load_fer2013_csv(path)
    msg = str(err.value)
    assert "latin1.csv" in msg and "line 3" in msg and "UTF-8" in msg and "0xe9" in msg
    # archives: say to extract them
    zpath = tmp_path / "fer2013.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("fer2013.csv", "emotion,pixels,Usage\n")
    with pytest.raises(ValueError, match="fer2013.zip is a zip archive.*extract fer2013.csv"):
        fer.load_fer2013_csv(zpath)
    tpath = tmp_path / "fer2013.tar.gz"
    member = tmp_path / "fer2013.csv"
    member.write_text("emotion,pixels,Usage\n")
    with tarfile.open(tpath, "w:gz") as t:
        t.add(member, arcname="fer2013/fer2013.csv")
    with pytest.raises(ValueError, match=r"fer2013.tar.gz is a tar archive.*tar xf fer2013.tar.gz"):
        fer.load_fer2013_csv(tpath)
    broken = tmp_path / "cut.csv.gz"
    broken.write_bytes(gzip.compress(member.read_bytes() * 50)[:40])
    with pytest.raises(ValueError, match="cut.csv.gz is a damaged gzip file"):
        fer.load_fer2013_csv(broken)
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(ValueError, match="photo.csv is not a text file"):
        fer.load_fer2013_csv(binary)
    with pytest.raises(ValueError, match="is a folder, not a CSV file.*load_image_folder"):
        fer.load_fer2013_csv(tmp_path)
    with pytest.raises(TypeError, match="must be a file path"):
        fer.load_fer2013_csv(None)


def test_a_file_without_header_gets_a_short_message(tmp_path):
    imgs, labels = _faces(2)
    path = tmp_path / "noheader.csv"
    path.write_text(_csv_text(list(zip(labels, imgs, ["Training"] * 2))).split("\n", 1)[1])
    with pytest.raises(ValueError) as err:
        fer.load_fer2013_csv(path)
    msg = str(err.value)
    assert "noheader.csv: no header row: the first line must be emotion,pixels,Usage" in msg
    assert len(msg) < 200
    long_header = tmp_path / "wide.csv"
    long_header.write_text(",".join(f"column{i}" for i in range(500)) + "\n")
    with pytest.raises(ValueError, match="lacks 'emotion' and 'pixels'") as err:
        fer.load_fer2013_csv(long_header)
    assert len(str(err.value)) < 250


@pytest.mark.parametrize("last, message", [
    ("7.5", "pixel value '7.5' is not an integer"),   # the fast parser stops at "." here
    ("1e2", "pixel value '1e2' is not an integer"),
    ("", "pixels has 2303 values"),
])
def test_a_bad_last_pixel_is_found_even_when_the_count_is_right(tmp_path, last, message):
    path = tmp_path / "last.csv"
    path.write_text(_csv_text([(3, " ".join(["7"] * 2303 + [last]), "Training")]))
    with pytest.raises(ValueError, match="last.csv row 1 \\(line 2\\): " + re.escape(message)):
        fer.load_fer2013_csv(path)


def test_a_field_too_large_for_csv_names_the_row(tmp_path):
    path = tmp_path / "huge.csv"
    imgs, labels = _faces(1)
    path.write_text(_csv_text([(labels[0], imgs[0], "Training"), (3, '"' + "9 " * 80000 + '"', "Training")]))
    with pytest.raises(ValueError, match="huge.csv row 2 .*not valid CSV"):
        fer.load_fer2013_csv(path)


def test_writer_refuses_float_labels_and_misshapen_usage(tmp_path):
    imgs, labels = _faces(2)
    with pytest.raises(ValueError, match="integers"):
        fer.write_fer2013_csv(tmp_path / "x.csv", imgs, labels.astype(float) + 0.5)
    with pytest.raises(ValueError, match=r"one string or \(2,\) strings"):
        fer.write_fer2013_csv(tmp_path / "x.csv", imgs, labels, usage=["Training"] * 3)


def test_image_folder_ignores_jupyter_checkpoints_and_hidden_files(tmp_path):
    imgs, _ = _faces(3, seed=8)
    _write_folder(tmp_path, {"train/happy/a.png": imgs[0], "test/sad/b.png": imgs[1],
                             "train/.ipynb_checkpoints/happy/a-checkpoint.png": imgs[2],
                             "train/happy/.ipynb_checkpoints/a-checkpoint.png": imgs[2],
                             "test/.DS_Store/x.png": imgs[2]})
    (tmp_path / "train" / "happy" / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble junk")
    data = fer.load_image_folder(tmp_path)
    assert data.labels.tolist() == [4, 3] and data.usage.tolist() == ["PrivateTest", "Training"]
    np.testing.assert_array_equal(data.images, imgs[[1, 0]])


def test_image_folder_refuses_a_huge_image_before_decoding_it(tmp_path):
    (tmp_path / "train" / "happy").mkdir(parents=True)
    png_bomb(tmp_path / "train" / "happy" / "bomb.png")  # 48 KB on disk, 400 MB decoded
    with pytest.raises(ValueError, match=r"train/happy/bomb.png is 20000x20000 pixels .*shrink it first"):
        fer.load_image_folder(tmp_path, resize=True)


def test_class_counts_refuses_what_is_not_labels():
    for bad in ("Happy", np.array([0.5, 1.0]), np.zeros((2, 2), int)):
        with pytest.raises(ValueError, match="1-D array of class ids"):
            fer.class_counts(bad)


def test_join_keeps_every_row_in_order_with_its_usage(tmp_path):
    faces = synthfaces.make_faces(30, seed=4)
    a = fer.write_fer2013_csv(tmp_path / "a.csv", faces.images[:10], faces.labels[:10])
    b = fer.write_fer2013_csv(tmp_path / "b.csv", faces.images[10:], faces.labels[10:], usage="PrivateTest")
    joined = fer.load_fer2013_csv(fer.join_fer2013_csv([a, b], tmp_path / "ab.csv"))
    assert np.array_equal(joined.images, faces.images) and np.array_equal(joined.labels, faces.labels)
    assert joined.usage.tolist() == ["Training"] * 10 + ["PrivateTest"] * 20
    with pytest.raises(ValueError, match="at least one CSV"):
        fer.join_fer2013_csv([], tmp_path / "none.csv")
