"""Downloads, checksums and the Keras cache: the one place the course finds and verifies files.

- :func:`sha256sum`: a file's SHA-256, read in pieces.
- :func:`checksum_path`, :func:`write_checksum`, :func:`checksum_problem`: a ``.sha256``
  file (``sha256sum`` format) beside a file the course wrote into its cache, so bytes changed
  on disk are noticed before they are loaded.
- :func:`keras_home`, :func:`keras_cache_file`, :func:`find_in_keras_cache`: where Keras
  keeps what ``keras.utils.get_file`` downloaded, found without importing Keras.
- :func:`reachable`: whether a download site answers at all, in a few seconds.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

from aiffel_lib.atomic import atomic_path

__all__ = ["sha256sum", "checksum_path", "write_checksum", "checksum_problem", "keras_home",
           "keras_cache_file", "find_in_keras_cache", "reachable"]


def sha256sum(path: os.PathLike | str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: os.PathLike | str) -> Path:
    """The checksum file kept beside ``path``: ``<name>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_checksum(path: os.PathLike | str, digest: str) -> Path:
    """Record ``digest`` for ``path`` in :func:`checksum_path` (``sha256sum`` format), atomically.

    Write it *after* the file itself: a crash in between leaves no checksum, which
    :func:`checksum_problem` reports, so the file is made again rather than trusted.
    """
    side = checksum_path(path)
    with atomic_path(side, suffix=".sha256") as tmp:
        tmp.write_text(f"{digest}  {Path(path).name}\n", encoding="ascii")
    return side


def checksum_problem(path: os.PathLike | str) -> str | None:
    """Why ``path`` cannot be trusted, or None when its SHA-256 matches the recorded one.

    A cached file whose bytes changed on disk may load without any error and silently give
    wrong results, so the bytes are checked, not just opened.
    """
    try:
        recorded = checksum_path(path).read_text(encoding="ascii").split()[0].lower()
    except (OSError, UnicodeDecodeError, IndexError):
        return "it has no readable checksum file"
    if sha256sum(path) != recorded:
        return "its SHA-256 does not match the one recorded when it was written (the file is damaged)"
    return None


def keras_home() -> Path:
    """Keras's cache root: ``$KERAS_HOME`` or ``~/.keras``, read at call time (Keras reads it once, at import)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def keras_cache_file(name: str, subdir: str = "models") -> Path:
    """Where ``keras.utils.get_file`` keeps ``name``: ``<keras home>/<subdir>/<name>`` (it may not exist yet)."""
    return keras_home() / subdir / name


def find_in_keras_cache(name: str, subdir: str = "models") -> Path | None:
    """The cached ``name`` if Keras downloaded it before, else None.

    Looks in :func:`keras_home` and in ``/tmp/.keras``, where Keras saves when the home
    folder is not writable (the system's temporary folder where there is no ``/tmp``).
    """
    fallback = Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()) / ".keras"
    for base in (keras_home(), fallback):
        path = base / subdir / name
        if path.is_file():
            return path
    return None


def reachable(url: str, timeout: float = 3.0) -> bool:
    """True when a TCP connection to the URL's host opens within ``timeout`` seconds.

    Quick and silent, so an offline machine (or the tests' network guard) falls
    back at once instead of waiting for a download to time out.
    """
    if not isinstance(url, str):
        raise ValueError(f"url must be a string like 'https://host/file', got {type(url).__name__}")
    parts = urlsplit(url)
    if not parts.hostname:
        return False  # getaddrinfo(None) would mean this machine
    port = parts.port or (443 if parts.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    # The name lookup ignores the socket timeout (a broken DNS can stall for long): bound it too.
    thread = threading.Thread(target=probe, name="aiffel-reachable", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(answer and answer[0])
