"""Fixtures for browser tests: a local page server and headless Debian chromium
whose camera plays a real photo."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from aiffel_lib import browser, photos, serve
from aiffel_lib.paths import HTML_DIR


@pytest.fixture(scope="session")
def html_server():
    """Base URL (``http://127.0.0.1:PORT/``) of ``html/`` served on an ephemeral port."""
    if not (HTML_DIR / "vendor").is_dir():
        pytest.fail("html/vendor/ is missing: run `make setup` (npm ci + copy) before the browser tests")
    with serve.serving(HTML_DIR) as url:
        yield url


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory):
    """``fake_camera("astronaut")`` -> path of a .y4m video of that real photo (640x480)."""
    folder = tmp_path_factory.mktemp("camera")
    made: dict[str, Path] = {}

    def make(name: str, width: int = 640, height: int = 480) -> Path:
        key = f"{name}-{width}x{height}"
        if key not in made:
            made[key] = browser.write_y4m(photos.camera_frame(name, width, height), folder / f"{key}.y4m")
        return made[key]

    return make


@pytest.fixture
def open_browser(html_server):
    """Context-manager factory: ``with open_browser(fake_video=..., camera=True) as s: s.page...``.

    Fails the test if the page tried to reach anything but the local server.
    """
    origin = html_server.rstrip("/")

    @contextlib.contextmanager
    def _open(**kwargs):
        try:
            browser.find_chromium()
        except RuntimeError as exc:
            pytest.fail(str(exc))
        with browser.chromium_session(allowed_origins=(origin,), **kwargs) as session:
            yield session
            assert not session.blocked, f"page tried to reach the network: {session.blocked}"

    return _open
