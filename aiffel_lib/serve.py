"""Serve the course's web pages (``html/``) locally.

    python -m aiffel_lib.serve                 # http://127.0.0.1:8000/
    python -m aiffel_lib.serve --port 9000
    python -m aiffel_lib.serve --https         # phones on the LAN (self-signed)

Browsers only give a page the camera in a *secure context*: ``http://localhost``
and ``http://127.0.0.1`` count, ``http://<LAN IP>`` does not. So plain HTTP binds
to 127.0.0.1 only, and ``--https`` (which binds every interface, and says so)
is the way to try the app on a phone.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

from aiffel_lib.paths import HTML_DIR, cache_dir

# Python's mimetypes table depends on the OS; pin the types the pages rely on.
# Chromium refuses to stream-compile WebAssembly served as anything but application/wasm.
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".csv": "text/csv; charset=utf-8",
    ".ico": "image/x-icon",
}


class CourseRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with fixed MIME types, no caching, and quiet logs."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    quiet = False

    def end_headers(self) -> None:
        # Re-exported models must be picked up on reload, not served from cache.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        if not self.quiet:
            super().log_message(format, *args)


class _QuietHandler(CourseRequestHandler):
    quiet = True


#: Seconds a client may take to complete the TLS handshake, and may stay idle on an HTTPS
#: connection, before it is dropped (its own thread only: other clients are never held up).
TLS_HANDSHAKE_TIMEOUT_S = 10.0
TLS_IDLE_TIMEOUT_S = 60.0


class TLSThreadingHTTPServer(http.server.ThreadingHTTPServer):
    """HTTPS where each connection does its TLS handshake in its own thread, with a timeout.

    Wrapping the *listening* socket (``context.wrap_socket(server.socket)``) makes
    ``accept()`` run the handshake in the server's only loop: one client that
    connects and never speaks TLS (a port scanner, a plain-HTTP request) then
    freezes the server for everyone. Here ``accept()`` returns the raw socket and
    the handshake happens in the connection's worker thread.
    """

    daemon_threads = True

    def __init__(self, address, handler, context: ssl.SSLContext,
                 handshake_timeout: float = TLS_HANDSHAKE_TIMEOUT_S, idle_timeout: float = TLS_IDLE_TIMEOUT_S):
        self.context = context
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
        super().__init__(address, handler)

    def finish_request(self, request, client_address) -> None:  # runs in the connection's thread
        request.settimeout(self.handshake_timeout)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):  # timed out, not TLS, or hung up: drop this client only
            return
        try:
            tls.settimeout(self.idle_timeout)
            self.RequestHandlerClass(tls, client_address, self)
        except OSError:  # the client went away mid-request
            pass
        finally:
            tls.close()


def check_port(port) -> int:
    """``port`` as an int in 0-65535 (0 = any free port); ValueError saying so otherwise."""
    number = None
    if isinstance(port, int) and not isinstance(port, bool):
        number = port
    elif isinstance(port, str):
        with contextlib.suppress(ValueError):
            number = int(port.strip(), 10)
    if number is None or not 0 <= number <= 65535:
        raise ValueError(f"port must be a whole number from 0 to 65535 (0 = any free port), got {port!r:.60}")
    return number


def make_server(root: os.PathLike | str = HTML_DIR, host: str = "127.0.0.1", port: int = 0,
                quiet: bool = False, tls: ssl.SSLContext | None = None) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``root`` on ``host:port`` (port 0 = any free port).

    tls: an ``ssl.SSLContext`` (server side) for HTTPS; every connection then does its
    handshake in its own thread (:class:`TLSThreadingHTTPServer`).
    Raises FileNotFoundError when ``root`` is not a folder, ValueError for a port
    outside 0-65535, OSError when the port cannot be bound.
    """
    root = Path(root)
    if not root.is_dir():
        what = "is a file" if root.is_file() else "does not exist"
        raise FileNotFoundError(f"nothing to serve: {root} {what}; give a folder (default: html/)")
    port = check_port(port)
    handler = functools.partial(_QuietHandler if quiet else CourseRequestHandler, directory=str(root))
    if tls is not None:
        return TLSThreadingHTTPServer((host, port), handler, tls)
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


@contextlib.contextmanager
def serving(root: os.PathLike | str = HTML_DIR, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``root`` in a background thread; yield its base URL (ending in ``/``)."""
    server = make_server(root, host, port, quiet=True)
    thread = threading.Thread(target=server.serve_forever, name="aiffel-serve", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def app_copy(root: os.PathLike | str, names=("index.html", "js", "vendor")) -> Path:
    """A miniature html/ in ``root`` for serving other models: links to the Face2Emoji page, its scripts and the
    vendored libraries, no ``models/`` (tests, benchmarks and scripts export theirs into ``root/models/``)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).symlink_to(HTML_DIR / name, target_is_directory=(HTML_DIR / name).is_dir())
    return root


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (best effort, no traffic sent)."""
    addrs: set[str] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addrs.add(info[4][0])
    return sorted(a for a in addrs if not ipaddress.ip_address(a).is_loopback)


def self_signed_certificate(addresses: list[str]) -> tuple[Path, Path]:
    """Create (or reuse) a self-signed certificate valid for localhost and ``addresses``.

    Uses the ``openssl`` command; the files live in the course cache.
    """
    if not isinstance(addresses, (str, bytes)):
        try:
            addresses = list(addresses)
        except TypeError:
            raise ValueError(f"addresses must be a list of IP address strings, got {type(addresses).__name__}") from None
    if isinstance(addresses, (str, bytes)) or not all(isinstance(a, str) for a in addresses):
        raise ValueError(f"addresses must be a list of IP address strings, got {addresses!r:.60}")
    for a in addresses:
        try:
            ipaddress.ip_address(a)
        except ValueError:
            raise ValueError(f"{a!r:.60} is not an IP address (e.g. '192.168.1.23')") from None
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("--https needs the `openssl` command (Debian: apt-get install openssl)")
    folder = cache_dir("https")
    names = ["DNS:localhost", "IP:127.0.0.1"] + [f"IP:{a}" for a in addresses]
    tag = "-".join(a.replace(".", "_") for a in addresses) or "local"
    cert, key = folder / f"cert-{tag}.pem", folder / f"key-{tag}.pem"
    if not (cert.exists() and key.exists()):
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
             "-subj", "/CN=aiffel-course", "-addext", "subjectAltName=" + ",".join(names),
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True)
    return cert, key


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side SSL context for the certificate and key files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _https_context(addresses: list[str]) -> ssl.SSLContext:
    """The self-signed context, made again once if the cached files are damaged."""
    cert, key = self_signed_certificate(addresses)
    try:
        return tls_context(cert, key)
    except (ssl.SSLError, OSError):
        cert.unlink(missing_ok=True)
        key.unlink(missing_ok=True)
        cert, key = self_signed_certificate(addresses)
        return tls_context(cert, key)


def _port_arg(text: str) -> int:
    try:
        return check_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiffel_lib.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=_port_arg, default=8000, help="port to listen on, 0-65535 (default 8000)")
    parser.add_argument("--root", default=str(HTML_DIR), help="folder to serve (default: html/)")
    parser.add_argument("--https", action="store_true",
                        help="serve HTTPS with a self-signed certificate on all interfaces (for phones)")
    args = parser.parse_args(argv)

    root = Path(args.root)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        print(f"error: --root {args.root} {what}: give the folder to serve (default: html/ of the course)",
              file=sys.stderr)
        return 2
    if not (root / "vendor").is_dir() and root.resolve() == HTML_DIR.resolve():
        print("warning: html/vendor/ is missing: run `make setup` first (it copies tfjs and face-api from npm).",
              file=sys.stderr)
    host = "0.0.0.0" if args.https else "127.0.0.1"
    context = None
    lan: list[str] = []
    if args.https:
        lan = lan_addresses()
        try:
            context = _https_context(lan)
        except (RuntimeError, subprocess.CalledProcessError, ssl.SSLError, OSError) as exc:
            detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) \
                else str(exc)
            print(f"error: cannot make the self-signed HTTPS certificate: {detail}", file=sys.stderr)
            return 2
    try:
        server = make_server(root, host, args.port, tls=context)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"error: cannot listen on port {args.port}: {reason}. Try --port {min(args.port + 1, 65535)}"
              " (or --port 0 for any free port).", file=sys.stderr)
        return 2
    scheme = "http"
    port = server.server_address[1]  # the real one, also with --port 0
    if args.https:
        scheme = "https"
        print("HTTPS on ALL interfaces (other machines on your network can reach this server).")
        for a in lan:
            print(f"  on your phone: https://{a}:{port}/  (accept the self-signed certificate warning once)")
    print(f"Serving {root} at {scheme}://127.0.0.1:{port}/  (Ctrl+C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
