"""aiffel_lib.downloads: checksums of cached files and where Keras keeps its downloads."""

from __future__ import annotations

import hashlib

import pytest

from aiffel_lib import downloads, paths


def test_sha256sum_is_hashlibs_over_the_whole_file(tmp_path):
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB piece
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert downloads.sha256sum(path) == hashlib.sha256(data).hexdigest()
    assert downloads.sha256sum(path, chunk=7) == hashlib.sha256(data).hexdigest()


def test_a_checksum_file_catches_changed_bytes_and_its_own_absence(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"trained weights")
    assert downloads.checksum_problem(path) == "it has no readable checksum file"
    side = downloads.write_checksum(path, downloads.sha256sum(path))
    assert side == tmp_path / "weights.h5.sha256" == downloads.checksum_path(path)
    # the format of `sha256sum`, so `sha256sum -c` checks it too
    assert side.read_text() == f"{hashlib.sha256(b'trained weights').hexdigest()}  weights.h5\n"
    assert downloads.checksum_problem(path) is None
    path.write_bytes(b"trained weightz")  # same size, one byte changed
    assert "does not match" in downloads.checksum_problem(path)
    side.write_text("")
    assert downloads.checksum_problem(path) == "it has no readable checksum file"


def test_keras_cache_follows_keras_home_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert downloads.keras_home() == tmp_path / "keras"
    assert downloads.keras_cache_file("w.h5") == tmp_path / "keras" / "models" / "w.h5"
    assert downloads.keras_cache_file("c.tar.gz", "datasets") == tmp_path / "keras" / "datasets" / "c.tar.gz"
    assert downloads.find_in_keras_cache("aiffel-test-missing.h5") is None
    cached = downloads.keras_cache_file("aiffel-test-present.h5")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert downloads.find_in_keras_cache("aiffel-test-present.h5") == cached
    monkeypatch.delenv("KERAS_HOME")
    assert downloads.keras_home().name == ".keras"


def test_reachable_answers_quickly_without_a_network():
    # the tests' socket guard refuses every non-loopback connection: "not reachable", no hang
    assert downloads.reachable("https://www.cs.toronto.edu/x.tar.gz", timeout=1.0) is False
    assert downloads.reachable("not a url") is False
    with pytest.raises(ValueError, match="url must be a string"):
        downloads.reachable(None)


def test_output_path_lives_in_the_notebooks_output_folder():
    assert paths.OUTPUT_DIR == paths.NOTEBOOKS_DIR / "output"
    assert paths.OUTPUT_IMAGES_DIR == paths.OUTPUT_DIR / "images"
    path = paths.output_path("aiffel-test", "x.npz")
    assert path == paths.OUTPUT_DIR / "aiffel-test" / "x.npz" and path.parent.is_dir()
    path.parent.rmdir()
