"""The local page server: right MIME types (wasm!), loopback only, a usable CLI."""

import os
import socket
import ssl
import subprocess
import sys
import threading
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


# ---- bad input (issue 11 section 3) ----------------------------------------------------

@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_cli_refuses_a_port_out_of_range_with_a_message(port):
    out = subprocess.run([sys.executable, "-m", "aiffel_lib.serve", "--port", port],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "argument --port" in out.stderr and "0 to 65535" in out.stderr
    with pytest.raises(ValueError, match="0 to 65535"):
        serve.make_server(serve.HTML_DIR, port=int(port) if port != "http" else port)


def test_cli_says_a_missing_root_is_missing_not_a_port_problem(tmp_path):
    for root, says in ((tmp_path / "nope", "does not exist"), (tmp_path / "f.txt", "is a file")):
        if root.suffix:
            root.write_text("x")
        out = subprocess.run([sys.executable, "-m", "aiffel_lib.serve", "--root", str(root), "--port", "0"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert f"--root {root} {says}" in out.stderr and "port" not in out.stderr


def _https_get(url, cafile):
    context = ssl.create_default_context(cafile=str(cafile))
    with urllib.request.urlopen(url, timeout=30, context=context) as r:
        return r.status, r.read()


def test_https_keeps_answering_while_a_client_never_starts_tls(tmp_path, monkeypatch):
    # A client that connects and says nothing used to block accept() (and so every request).
    monkeypatch.setenv("AIFFEL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "index.html").write_text("<p>phone</p>")
    cert, key = serve.self_signed_certificate([])
    server = serve.make_server(tmp_path, "127.0.0.1", 0, quiet=True, tls=serve.tls_context(cert, key))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        plain = socket.create_connection(("127.0.0.1", port))  # plain HTTP on the HTTPS port
        plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
        for _ in range(3):
            assert _https_get(f"https://localhost:{port}/index.html", cert) == (200, b"<p>phone</p>")
        plain.close()
    finally:
        for s in idle:
            s.close()
        server.shutdown()
        server.server_close()


def test_cli_https_answers_despite_an_idle_client(tmp_path):
    env = {**os.environ, "AIFFEL_CACHE": str(tmp_path / "cache")}
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.html").write_text("ok")
    proc = subprocess.Popen([sys.executable, "-u", "-m", "aiffel_lib.serve", "--https", "--port", "0",
                             "--root", str(tmp_path / "site")], stdout=subprocess.PIPE, text=True, env=env)
    idle = None
    try:
        for line in proc.stdout:
            if line.startswith("Serving"):
                port = int(line.split("https://127.0.0.1:")[1].split("/")[0])
                break
        else:
            pytest.fail("the server printed no 'Serving' line")
        idle = socket.create_connection(("127.0.0.1", port))
        cert = next((tmp_path / "cache" / "https").glob("cert-*.pem"))
        assert _https_get(f"https://localhost:{port}/a.html", cert) == (200, b"ok")
    finally:
        if idle is not None:
            idle.close()
        proc.terminate()
        proc.wait(timeout=30)


def test_certificate_addresses_must_be_ip_addresses(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFFEL_CACHE", str(tmp_path))
    for bad, says in (("192.168.1.2", "list of IP address strings"), (None, "list of IP address strings"),
                      (["my-laptop"], "not an IP address")):
        with pytest.raises(ValueError, match=says):
            serve.self_signed_certificate(bad)
