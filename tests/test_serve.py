"""The local page server: right MIME types (wasm!), loopback only, a usable CLI."""

import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from aiffel_lib import serve


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def test_serves_pages_and_vendored_files_with_correct_types(tmp_path):
    (tmp_path / "a.html").write_text("<p>hi</p>")
    (tmp_path / "m.wasm").write_bytes(b"\0asm\1\0\0\0")
    (tmp_path / "model.json").write_text("{}")
    (tmp_path / "w.bin").write_bytes(b"\1\2")
    (tmp_path / "x.js").write_text("1")
    with serve.serving(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        assert fetch(url + "a.html")[1].startswith("text/html")
        status, ctype, body = fetch(url + "m.wasm")
        assert (status, ctype, body[:4]) == (200, "application/wasm", b"\0asm")
        assert fetch(url + "model.json")[1] == "application/json"
        assert fetch(url + "w.bin")[1] == "application/octet-stream"
        assert fetch(url + "x.js")[1].startswith("text/javascript")
        with pytest.raises(urllib.error.HTTPError) as err:
            fetch(url + "missing.json")
        assert err.value.code == 404


def test_refuses_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError):
        serve.make_server(tmp_path / "nope")


def test_cli_help_explains_https_for_phones():
    out = subprocess.run([sys.executable, "-m", "aiffel_lib.serve", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--https" in out.stdout and "--port" in out.stdout and "secure context" in out.stdout


def test_self_signed_certificate_names_the_lan_address(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFFEL_CACHE", str(tmp_path))
    cert, key = serve.self_signed_certificate(["192.168.1.23"])
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "IP Address:192.168.1.23" in text and "DNS:localhost" in text
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
