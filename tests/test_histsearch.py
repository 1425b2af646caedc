"""Histogram search (notebook 02) against OpenCV's own calcHist / normalize / compareHist."""

from __future__ import annotations

import datetime
import io
import pickle
import tarfile
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from aiffel_lib import datasets, histsearch
from aiffel_lib.histsearch import HistogramIndex
from aiffel_lib.photos import load_photo

ALL_METHODS = list(histsearch.COMPARE_METHODS) + ["hellinger"]


def course_get_histogram(image, bins=4):
    """The course's get_histogram, verbatim apart from the bins argument (the reference)."""
    histogram = []
    for i in range(3):
        histogram.append(cv2.calcHist(images=[image], channels=[i], mask=None, histSize=[bins], ranges=[0, 256]))
    histogram = np.concatenate(histogram)
    return cv2.normalize(histogram, histogram)


def cv_reference(query_hist, index, method):
    """Every compareHist score and the expected order: best first, ties (to 1e-10) by name."""
    code = histsearch.COMPARE_METHODS[histsearch.method_name(method)]
    scores = np.array([cv2.compareHist(query_hist, h, code) for h in index.hists])
    sign = -1 if histsearch.method_name(method) in histsearch.SIMILARITIES else 1
    order = sorted(range(len(index)), key=lambda i: (round(sign * scores[i], 10), index.names[i]))
    return scores, order


@pytest.fixture(scope="module")
def gallery():
    return datasets.offline_gallery(per_photo=40)


@pytest.fixture(scope="module")
def index(gallery):
    return HistogramIndex.build(gallery, bins=4)


# ---- histograms -----------------------------------------------------------------------

@pytest.mark.parametrize("bins", [4, 8, 16])
@pytest.mark.parametrize("photo", ["chelsea", "coffee", "camera"])
def test_color_histogram_is_the_course_get_histogram(photo, bins):
    img = load_photo(photo, "bgr")
    got = histsearch.color_histogram(img, bins=bins)
    assert got.shape == (3 * bins,) and got.dtype == np.float32
    np.testing.assert_array_equal(got, course_get_histogram(img, bins).reshape(-1))
    assert np.isclose(np.linalg.norm(got), 1.0, atol=1e-6)


@pytest.mark.parametrize("bins", [1, 2, 4, 5, 7, 8, 16, 33, 256])
def test_vectorised_histograms_equal_per_image_calchist_bit_for_bit(gallery, bins):
    images = gallery.images[::7]
    ref = np.stack([course_get_histogram(img, bins).reshape(-1) for img in images])
    np.testing.assert_array_equal(histsearch.color_histograms(images, bins), ref)


def test_vectorised_histograms_handle_other_sizes_and_black_and_white():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (300, 17, 23, 3), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    big = load_photo("coffee", "bgr")[None]
    for batch in (images, big):
        for bins in (4, 16):
            ref = np.stack([course_get_histogram(img, bins).reshape(-1) for img in batch])
            np.testing.assert_array_equal(histsearch.color_histograms(batch, bins), ref)


def test_build_from_folder_mapping_pairs_and_imageset_agree(gallery, tmp_path):
    subset = {n: img for n, img in list(gallery.items())[::9]}
    folder = tmp_path / "images"
    folder.mkdir()
    for name, img in subset.items():
        cv2.imwrite(str(folder / name), img)
    a = HistogramIndex.build(folder)
    b = HistogramIndex.build(subset)
    c = HistogramIndex.build(list(subset.items()))
    assert a.names == tuple(sorted(subset)) and a.folder == folder
    for other in (b, c):
        order = [other.names.index(n) for n in a.names]
        np.testing.assert_array_equal(other.hists[order], a.hists)
    full = HistogramIndex.build(gallery)
    assert full.labels == gallery.labels
    np.testing.assert_array_equal(full.hists[0], histsearch.color_histogram(gallery.images[0]))


# ---- search against compareHist --------------------------------------------------------

@pytest.mark.parametrize("method", ALL_METHODS)
def test_search_scores_and_order_equal_comparehist(index, method):
    rng = np.random.default_rng(0)
    for row in rng.choice(len(index), 6, replace=False):
        name = index.names[row]
        cv_scores, order = cv_reference(index.hists[row], index, method)
        np.testing.assert_allclose(index.scores(name, method), cv_scores, rtol=0, atol=1e-5)
        got = index.search(name, top_k=25, method=method)
        assert [n for n, _ in got] == [index.names[i] for i in order[:25]]
        np.testing.assert_allclose([s for _, s in got], cv_scores[order[:25]], rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_course_search_loop_and_index_give_the_same_top5(index, method):
    db = {n: h.reshape(-1, 1) for n, h in zip(index.names, index.hists)}
    for name in index.names[::97]:
        course = histsearch.search(db, histsearch.get_target_histogram(db, name), top_k=5, method=method)
        fast = index.search(name, top_k=5, method=method)
        assert list(course) == [n for n, _ in fast]
        np.testing.assert_allclose(list(course.values()), [s for _, s in fast], atol=1e-5)


def test_ties_are_broken_by_name_and_direction_depends_on_method():
    img = load_photo("chelsea", "bgr")[:32, :32]
    other = load_photo("coffee", "bgr")[:32, :32]
    images = {"b.png": img, "c.png": img, "a.png": img, "z.png": other}
    index = HistogramIndex.build(images)
    assert [n for n, _ in index.search(img, top_k=3, method="chisqr")] == ["a.png", "b.png", "c.png"]
    assert [n for n, _ in index.search(img, top_k=4, method="correl")][:3] == ["a.png", "b.png", "c.png"]
    scores = [s for _, s in index.search(img, top_k=4, method="correl")]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0)
    scores = [s for _, s in index.search(img, top_k=4, method="kl_div")]
    assert scores == sorted(scores) and scores[0] == pytest.approx(0.0, abs=1e-9)


def test_query_forms_name_array_histogram_and_file_agree(index, gallery, tmp_path):
    name, img = gallery.names[5], gallery.images[5]
    path = tmp_path / "query.png"
    cv2.imwrite(str(path), img)
    by_name = index.search(name, top_k=5)
    assert index.search(img, top_k=5) == by_name
    assert index.search(index.histogram(name), top_k=5) == by_name
    assert index.search(index.histogram(name).reshape(-1, 1), top_k=5) == by_name
    assert index.search(str(path), top_k=5) == by_name
    assert index.search(name, top_k=5, method=cv2.HISTCMP_CHISQR) == by_name
    assert by_name[0] == (name, 0.0)
    assert name not in [n for n, _ in index.search(name, top_k=5, exclude_self=True)]


def test_search_rows_batch_equals_one_by_one(index):
    rows = list(range(0, len(index), 37))
    for method in ("chisqr", "correl", "kl_div"):
        batch = index.search_rows(rows, top_k=5, method=method)
        for row, got in zip(rows, batch):
            one = index.search(index.names[row], top_k=5, method=method, exclude_self=True)
            assert [index.names[i] for i in got] == [n for n, _ in one]


def test_top_k_larger_than_the_index_returns_everything():
    index = HistogramIndex.build({"a": np.zeros((4, 4, 3), np.uint8), "b": np.full((4, 4, 3), 200, np.uint8)})
    assert len(index.search("a", top_k=10)) == 2
    assert index.search("a", top_k=10, exclude_self=True)[0][0] == "b"


# ---- bad input -------------------------------------------------------------------------

def test_undecodable_files_are_skipped_with_one_counting_warning(tmp_path):
    img = load_photo("chelsea", "bgr")[:32, :32]
    cv2.imwrite(str(tmp_path / "good.png"), img)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / ".hidden").write_text("ignored")
    (tmp_path / "sub").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = HistogramIndex.build(tmp_path)
    assert index.names == ("good.png",)
    ours = [w for w in caught if issubclass(w.category, histsearch.SkippedFilesWarning)]
    assert len(ours) == 1 and "skipped 3 file(s)" in str(ours[0].message)
    with pytest.warns(histsearch.SkippedFilesWarning, match="skipped 3"):
        db = histsearch.build_histogram_db(tmp_path, progress=False)
    assert list(db) == ["good.png"]


def test_gray_rgba_and_16_bit_images_are_converted(tmp_path):
    bgr = load_photo("coffee", "bgr")[::8, ::8]
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    bgra[..., 3] = 7
    wide = bgr.astype(np.uint16) * 257
    expected = histsearch.color_histogram(bgr)
    np.testing.assert_array_equal(histsearch.color_histogram(bgra), expected)
    np.testing.assert_array_equal(histsearch.color_histogram(wide), expected)
    np.testing.assert_array_equal(histsearch.color_histogram(gray),
                                  histsearch.color_histogram(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)))
    np.testing.assert_array_equal(histsearch.color_histogram(bgr.astype(np.float64) / 255), expected)
    for name, img in {"gray.png": gray, "rgba.png": bgra, "wide.png": wide, "plain.png": bgr}.items():
        assert cv2.imwrite(str(tmp_path / name), img)
    index = HistogramIndex.build(tmp_path)
    for name in ("rgba.png", "wide.png", "plain.png"):
        np.testing.assert_array_equal(index.histogram(name), expected)
    np.testing.assert_array_equal(index.histogram("gray.png"), histsearch.color_histogram(gray))
    with pytest.raises(ValueError, match="float image"):
        histsearch.color_histogram(bgr.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        histsearch.color_histogram(np.zeros((4, 4, 2), np.uint8))


def test_empty_folder_unknown_name_and_bad_top_k_raise_clear_errors(tmp_path, index):
    with pytest.raises(ValueError, match="no images found"):
        HistogramIndex.build(tmp_path)
    with pytest.raises(ValueError, match="no images found"):
        histsearch.build_histogram_db(tmp_path, progress=False)
    with pytest.raises(ValueError, match="not a folder"):
        HistogramIndex.build(tmp_path / "missing")
    wrong = index.names[3].replace("_s_", "_x_")
    with pytest.raises(ValueError, match="Closest names: .*" + index.names[3].replace(".", r"\.")):
        index.search(wrong)
    db = {n: h for n, h in zip(index.names, index.hists)}
    with pytest.raises(ValueError, match="unknown image name"):
        histsearch.get_target_histogram(db, wrong)
    for bad in (0, -1, 2.5, True, "5"):
        with pytest.raises(ValueError, match="top_k"):
            index.search(index.names[0], top_k=bad)
        with pytest.raises(ValueError, match="top_k"):
            histsearch.search(db, index.hists[0], top_k=bad)
    with pytest.raises(ValueError, match="unknown comparison method"):
        index.search(index.names[0], method="euclid")
    with pytest.raises(ValueError, match="bins"):
        HistogramIndex.build({"a": np.zeros((2, 2, 3), np.uint8)}, bins=0)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_black_images_and_zero_histograms_never_give_nan(method):
    black = np.zeros((8, 8, 3), np.uint8)
    images = {"black.png": black, "white.png": np.full((8, 8, 3), 255, np.uint8),
              "photo.png": load_photo("chelsea", "bgr")[:8, :8]}
    index = HistogramIndex.build(images)
    for query in (black, "white.png", "photo.png"):
        result = index.search(query, top_k=3, method=method)
        assert len(result) == 3 and all(np.isfinite(s) for _, s in result)
    zero = HistogramIndex.from_histograms(["zero", "one"], np.array([[0.0] * 12, [0.5] * 4 + [0.0] * 8]), 4)
    for query in (np.zeros(12, np.float32), "one", "zero"):
        scores = zero.scores(query, method)
        q = zero.histogram(query) if isinstance(query, str) else query
        ref = [cv2.compareHist(q.astype(np.float32), h, histsearch.COMPARE_METHODS[histsearch.method_name(method)])
               for h in zero.hists]
        assert np.all(np.isfinite(scores))
        finite = np.isfinite(ref)
        np.testing.assert_allclose(scores[finite], np.asarray(ref)[finite], atol=1e-5)


# ---- files -----------------------------------------------------------------------------

def test_save_load_round_trip_without_pickle(index, tmp_path):
    path = index.save(tmp_path / "index")
    assert path.name == "index.npz"
    loaded = HistogramIndex.load(path)
    assert loaded.names == index.names and loaded.labels == index.labels and loaded.bins == index.bins
    np.testing.assert_array_equal(loaded.hists, index.hists)
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    assert loaded.search(index.names[1]) == index.search(index.names[1])


def test_save_is_atomic(index, tmp_path, monkeypatch):
    path = index.save(tmp_path / "index.npz")
    before = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.npz"]


def test_load_refuses_pickles_and_foreign_files(tmp_path):
    class Boom:
        def __reduce__(self):
            return (Path("pwned").touch, ())

    evil = tmp_path / "evil.npz"
    evil.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError, match="not a histogram index"):
        HistogramIndex.load(evil)
    obj = tmp_path / "obj.npz"
    np.savez(obj, format=np.array("aiffel-histogram-index"), names=np.array([Boom()], dtype=object))
    with pytest.raises(ValueError, match="not a histogram index"):
        HistogramIndex.load(obj)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a histogram index"):
        HistogramIndex.load(other)
    assert not Path("pwned").exists()


def test_loaded_index_rejects_nan_histograms(tmp_path, index):
    path = index.save(tmp_path / "i.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["hists"] = arrays["hists"].copy()
    arrays["hists"][0, 0] = np.nan
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="finite"):
        HistogramIndex.load(path)


# ---- quality and widgets ---------------------------------------------------------------

def test_precision_is_one_for_separable_labels_and_chance_for_random():
    rng = np.random.default_rng(1)
    red = np.zeros((8, 8, 8, 3), np.uint8)
    red[..., 2] = rng.integers(200, 256, (8, 8, 8))
    blue = np.zeros((8, 8, 8, 3), np.uint8)
    blue[..., 0] = rng.integers(200, 256, (8, 8, 8))
    data = datasets.ImageSet(images=np.concatenate([red, blue]), names=tuple(f"{i:02d}.png" for i in range(16)),
                             labels=("red",) * 8 + ("blue",) * 8, source="test", kind="gallery")
    result = histsearch.precision_at_k(HistogramIndex.build(data), k=5, method="chisqr")
    assert result.mean == 1.0 and result.by_label == {"blue": 1.0, "red": 1.0} and result.n_queries == 16
    table = histsearch.precision_table(data, bins_list=(4, 8), methods=("chisqr", "correl"), per_label=4)
    assert len(table) == 4 and all(r.n_queries == 8 for r in table)
    text = histsearch.format_precision_table(table)
    assert "| chisqr | 1.000 | 1.000 |" in text


def test_search_picker_renders_results_and_reports_unknown_names(index, gallery):
    picker = histsearch.search_picker(index, gallery, query=gallery.names[0], top_k=3)
    assert [n for n, _ in picker.last_results][0] == gallery.names[0]
    assert picker.results.value.count("<img") == 4  # the query plus 3 results
    assert repr(picker) == f"SearchPicker({len(index)} images, 4 bins; query '{gallery.names[0]}', method chisqr, top 3)"
    bundle = picker._repr_mimebundle_()
    assert bundle["text/plain"] == repr(picker)
    picker.name_box.value = "nope.png"
    assert "unknown image name" in picker.status.value and picker.results.value == ""
    picker.method_box.value = "correl"
    ok, png = cv2.imencode(".png", gallery.images[7])
    picker.upload.value = ({"name": "q.png", "type": "image/png", "size": len(png), "content": memoryview(png.tobytes()),
                            "last_modified": datetime.datetime(2020, 9, 15, tzinfo=datetime.timezone.utc)},)
    assert picker.last_results == index.search(gallery.images[7], top_k=3, method="correl")


# ---- data sets -------------------------------------------------------------------------

def test_offline_gallery_is_deterministic_and_labelled_by_photo():
    a = datasets.offline_gallery(per_photo=10)
    b = datasets.offline_gallery(per_photo=10)
    assert len(a) == 10 * len(datasets.GALLERY_PHOTOS) and a.images.shape[1:] == (32, 32, 3)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.names[0] == f"{datasets.GALLERY_PHOTOS[0]}_s_000000.png"
    assert set(a.label_counts().values()) == {10}
    assert all(name.startswith(label) for name, label in zip(a.names, a.labels))
    # crops of a colour photo are colour, crops of a gray photo are gray
    lab = np.asarray(a.labels)
    assert a.images[lab == "camera"].std(axis=-1).max() == 0
    assert a.images[lab == "coffee"].std(axis=-1).mean() > 5


def test_export_pngs_writes_course_names_and_reuses_a_complete_folder(tmp_path):
    data = datasets.offline_gallery(per_photo=3)
    folder = datasets.export_pngs(data, tmp_path / "images")
    files = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert files == sorted(data.names)
    np.testing.assert_array_equal(cv2.imread(str(folder / data.names[4])), data.images[4])
    stamp = (folder / data.names[0]).stat().st_mtime_ns
    datasets.export_pngs(data, folder)
    assert (folder / data.names[0]).stat().st_mtime_ns == stamp


def fake_cifar_archive(path: Path, n: int = 6, payload=None) -> Path:
    """A tiny archive in CIFAR-100's python format (pickled dicts of NumPy arrays)."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    train = payload if payload is not None else {
        b"data": data, b"fine_labels": [i % 3 for i in range(n)],
        b"filenames": [f"thing_s_{i:06d}.png".encode() for i in range(n)]}
    meta = {b"fine_label_names": [b"apple", b"bee", b"cloud"]}
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in (("train", train), ("meta", meta)):
            raw = pickle.dumps(obj, protocol=4)  # bytes stay bytes (as in the py2 originals)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def test_cifar_archive_parsing_layout_names_and_labels(tmp_path):
    archive = fake_cifar_archive(tmp_path / "c.tar.gz")
    parsed = datasets.parse_cifar100_archive(archive, key=None)
    raw = np.random.default_rng(0).integers(0, 256, (6, 3072), dtype=np.uint8)
    assert parsed["images_rgb"].shape == (6, 32, 32, 3)
    # first 1024 bytes are the red plane, row by row
    np.testing.assert_array_equal(parsed["images_rgb"][2, :, :, 0], raw[2, :1024].reshape(32, 32))
    np.testing.assert_array_equal(parsed["images_rgb"][2, :, :, 2], raw[2, 2048:].reshape(32, 32))
    assert parsed["filenames"][1] == "thing_s_000001.png"
    assert [parsed["fine_label_names"][i] for i in parsed["fine_labels"][:4]] == ["apple", "bee", "cloud", "apple"]


def test_cifar_archive_with_wrong_hash_or_code_is_refused(tmp_path):
    archive = fake_cifar_archive(tmp_path / "c.tar.gz")
    assert not datasets.verify(archive)
    with pytest.raises(ValueError, match="SHA-256"):
        datasets.parse_cifar100_archive(archive)

    class Boom:
        def __reduce__(self):
            return (Path(tmp_path / "pwned").touch, ())

    evil = fake_cifar_archive(tmp_path / "evil.tar.gz", payload={b"data": Boom()})
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        datasets.parse_cifar100_archive(evil, key=None)
    assert not (tmp_path / "pwned").exists()


def test_cifar_falls_back_offline_and_registry_matches_keras(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("AIFFEL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    fake_cifar_archive(tmp_path / "keras" / "datasets" / "cifar-100-python.tar.gz")  # wrong hash: ignored
    assert datasets.find_cifar100_archive() is None
    assert datasets.load_cifar100() is None  # tests block the network: must not raise
    assert "not reachable" in capsys.readouterr().out
    data = datasets.cifar100_or_gallery(per_photo=2)
    assert data.kind == "gallery" and "offline gallery" in capsys.readouterr().out
    import importlib.util

    keras_src = Path(importlib.util.find_spec("keras").origin).parent / "src" / "datasets" / "cifar100.py"
    text = keras_src.read_text()
    entry = datasets.REGISTRY[datasets.CIFAR100_ARCHIVE]
    assert entry.sha256 in text and entry.url in text and datasets.KERAS_CIFAR100_FNAME in text


# ---- bad input (issue 11 section 3) ----------------------------------------------------

@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm"])
def test_image_size_reads_headers_like_the_decoder_sees_them(ext):
    img = load_photo("coffee", "bgr")[:37, :53]
    ok, buf = cv2.imencode(ext, img)
    assert ok
    assert histsearch.image_size(buf.tobytes()) == (53, 37)
    assert histsearch.image_size(b"not an image at all") is None


def test_a_huge_image_is_skipped_before_decoding_and_counted(tmp_path, monkeypatch):
    from badfiles import png_bomb

    cv2.imwrite(str(tmp_path / "good.png"), load_photo("chelsea", "bgr")[:32, :32])
    bomb = png_bomb(tmp_path / "bomb.png").read_bytes()  # 48 KB on disk, 1.2 GB as a decoded BGR image
    (tmp_path / "notes.txt").write_text("not an image")
    decoded = []  # the bytes OpenCV was asked to decode
    real = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda buf, flags: decoded.append(bytes(buf)) or real(buf, flags))
    with pytest.warns(histsearch.SkippedFilesWarning) as caught:
        index = HistogramIndex.build(tmp_path)
    assert index.names == ("good.png",)
    msg = str(caught[0].message)
    assert "skipped 2 file(s)" in msg and "1 larger than 67 M pixels" in msg and "bomb.png" in msg
    assert "1 not decodable as images: notes.txt" in msg
    assert len(decoded) == 2 and bomb not in decoded, "the huge PNG was handed to the decoder"
    with pytest.raises(histsearch.ImageTooLargeError, match=r"bomb.png is 20000x20000 pixels \(400 M\)"):
        index.search(str(tmp_path / "bomb.png"))
    picker = histsearch.search_picker(index)
    picker._on_upload({"new": [{"name": "bomb.png", "content": (tmp_path / "bomb.png").read_bytes()}]})
    assert "20000x20000" in picker.status.value and picker.upload_image is None
    assert bomb not in decoded


def test_damaged_or_misnamed_index_files_get_messages(index, tmp_path):
    saved = index.save(tmp_path / "x")  # writes x.npz ...
    assert saved.name == "x.npz"
    assert HistogramIndex.load(tmp_path / "x").names == index.names  # ... and load("x") finds it
    with pytest.raises(FileNotFoundError, match="no histogram index at .*HistogramIndex.build"):
        HistogramIndex.load(tmp_path / "missing.npz")
    data = saved.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 10):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated or damaged .*build the index again"):
            HistogramIndex.load(tmp_path / "cut.npz")
    with np.load(saved, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for key in ("bins", "version", "names", "hists"):
        np.savez(tmp_path / "nokey.npz", **{k: v for k, v in arrays.items() if k != key})
        with pytest.raises(ValueError, match=f"'{key}' is missing or has the wrong type.*build the index again"):
            HistogramIndex.load(tmp_path / "nokey.npz")
    np.savez(tmp_path / "badbins.npz", **{**arrays, "bins": np.array("four")})
    with pytest.raises(ValueError, match="'bins' is missing or has the wrong type"):
        HistogramIndex.load(tmp_path / "badbins.npz")
    np.save(tmp_path / "single.npy", index.hists)
    with pytest.raises(ValueError, match="single NumPy array"):
        HistogramIndex.load(tmp_path / "single.npy")
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        index.save(tmp_path / "dir.npz")


def test_the_course_search_loop_checks_its_target(index):
    db = {n: h for n, h in zip(index.names[:20], index.hists[:20])}
    for bad in (None, "cat.png", np.zeros(24, np.float32), np.zeros(0, np.float32), np.array(["a"] * 12)):
        with pytest.raises(ValueError, match="target_histogram must be 12 floats.*get_target_histogram"):
            histsearch.search(db, bad)
    with pytest.raises(ValueError, match="NaN"):
        histsearch.search(db, np.full(12, np.nan, np.float32))
    with pytest.raises(ValueError, match="for a HistogramIndex call index.search"):
        histsearch.search(index, index.hists[0])
    mixed = dict(db, odd=np.zeros(24, np.float32))
    with pytest.raises(ValueError, match=r"histogram_db\['odd'\] has 24 values.*same bins"):
        histsearch.search(mixed, index.hists[0])
    # float64 histograms (made by hand) are compared like float32 ones, as compareHist needs
    as64 = {n: h.astype(np.float64) for n, h in db.items()}
    assert histsearch.search(as64, index.hists[0].astype(np.float64)) == histsearch.search(db, index.hists[0])
    with pytest.raises(ValueError, match="filename must be an image name"):
        histsearch.get_target_histogram(db, None)
    with pytest.raises(ValueError, match="query must be an image name"):
        index.search(None)
    with pytest.raises(ValueError, match="got None"):
        HistogramIndex.build(None)


def test_dataset_helpers_refuse_bad_arguments_and_foreign_folders(tmp_path):
    data = datasets.offline_gallery(per_photo=2, photos=("coffee",))
    mine = tmp_path / "my_photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(ValueError, match="refusing to write the PNGs into .*did not write"):
        datasets.export_pngs(data, mine)
    assert (mine / "holiday.jpg").read_bytes() == b"precious"
    with pytest.raises(ValueError, match="datasets.ImageSet"):
        datasets.export_pngs({"a.png": data.images[0]}, tmp_path / "new")
    with pytest.raises(FileNotFoundError, match="no CIFAR-100 archive"):
        datasets.parse_cifar100_archive(tmp_path / "cifar-100-python.tar.gz", key=None)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ValueError, match="not a readable CIFAR-100 archive"):
        datasets.parse_cifar100_archive(tmp_path / "junk.tar.gz", key=None)
    with pytest.raises(ValueError, match="split must be"):
        datasets.load_cifar100("val", download=False)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="per_photo must be a whole number"):
            datasets.offline_gallery(per_photo=bad)
    with pytest.raises(ValueError, match="smaller than the 32x32 crops"):
        datasets.gallery_crops(np.zeros((20, 20, 3), np.uint8), 3)


def test_other_public_functions_refuse_bad_arguments_with_messages(index, tmp_path):
    for bad in (3.5, True):
        with pytest.raises(ValueError, match="images must be a folder"):
            HistogramIndex.build(bad)
    with pytest.raises(ValueError, match="per_label must be a whole number"):
        histsearch.evaluation_queries(["a", "b"], "5")
    with pytest.raises(ValueError, match="result must be search"):
        histsearch.show_result(None, index)
    with pytest.raises(ValueError, match="image file's bytes or its path"):
        histsearch.image_size(12)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((5, 7, 3), np.uint8))
    assert histsearch.image_size(tmp_path / "a.png") == (7, 5)
    with pytest.raises(ValueError) as err:  # a big array in the message is cut short
        index.search(index.names[0], top_k=np.zeros((50, 50)))
    assert len(str(err.value)) < 120
