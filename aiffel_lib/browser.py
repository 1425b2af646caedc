"""Headless Debian Chromium, driven by Playwright, for browser tests and in-browser inference.

Never downloads a browser (no ``playwright install``): it drives the system
``chromium`` through ``executable_path``. Its camera can be a real photo: Chromium's
fake capture device plays a ``.y4m`` file written by :func:`write_y4m`.

Offline by construction: every request that does not go to the local page server
is aborted and recorded in ``session.blocked`` so tests can fail on it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import urlsplit

import numpy as np

T = TypeVar("T")

# Headless on a shared machine: no background traffic, no sandbox (which refuses to run as root), no GPU.
BASE_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def find_chromium() -> str:
    """Path of the system Chromium, or a RuntimeError that says how to install it."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Chromium not found. On Debian/Ubuntu: `sudo apt-get install chromium` "
                       "(or run `make setup`), or set $CHROMIUM to a Chrome/Chromium binary.")


def write_y4m(frames_rgb: np.ndarray, path: os.PathLike | str, fps: int = 30) -> Path:
    """Write frames as an uncompressed YUV4MPEG2 (4:2:0) video for Chromium's fake camera.

    frames_rgb: (H, W, 3) or (N, H, W, 3) uint8 RGB, H and W even. Chromium loops the file.
    Colour conversion is BT.601 full range (JPEG), matching the ``C420jpeg`` header.
    """
    frames = np.asarray(frames_rgb)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 RGB frames, got {frames.shape} {frames.dtype}")
    n, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"frame size must be even for 4:2:0 video, got {w}x{h}")
    rgb = frames.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b

    def sub(c: np.ndarray) -> np.ndarray:  # 2x2 average = 4:2:0 chroma
        return c.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))

    def u8(c: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(c), 0, 255).astype(np.uint8)

    y8, cb8, cr8 = u8(y), u8(sub(cb)), u8(sub(cr))
    path = Path(path)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(n):
            f.write(b"FRAME\n")
            f.write(y8[i].tobytes())
            f.write(cb8[i].tobytes())
            f.write(cr8[i].tobytes())
    return path


@dataclass
class BrowserSession:
    """A live Chromium page plus the requests it tried to make outside the page server."""

    page: object
    context: object
    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def _is_local(url: str, allowed_origins: tuple[str, ...]) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome-error"):
        return True
    origin = f"{parts.scheme}://{parts.netloc}"
    return any(origin == o for o in allowed_origins)


@contextlib.contextmanager
def chromium_session(allowed_origins: tuple[str, ...] = (), fake_video: os.PathLike | str | None = None,
                     camera: bool = True, permissions: bool = True,
                     viewport: tuple[int, int] = (1000, 800)) -> Iterator[BrowserSession]:
    """Launch headless Chromium with a fresh profile; yield a :class:`BrowserSession`.

    allowed_origins: origins (``http://127.0.0.1:PORT``) the page may load from;
        anything else is aborted and appended to ``session.blocked``.
    fake_video: a ``.y4m``/``.mjpeg`` file played as the camera (None: Chromium's
        built-in test pattern). ``camera=False`` runs with no camera device at all.
    permissions: False makes camera permission prompts auto-deny.
    """
    from playwright.sync_api import sync_playwright  # heavy: import on use

    args = list(BASE_FLAGS)
    if camera:
        args.append("--use-fake-device-for-media-stream")
        if fake_video is not None:
            args.append(f"--use-file-for-fake-video-capture={Path(fake_video).resolve()}")
    if permissions:
        args.append("--use-fake-ui-for-media-stream")
    else:
        args.append("--deny-permission-prompts")
    profile = tempfile.mkdtemp(prefix="aiffel-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=find_chromium(), headless=True, args=args,
                viewport={"width": viewport[0], "height": viewport[1]},
                permissions=["camera"] if (camera and permissions) else [])
            try:
                page = context.pages[0] if context.pages else context.new_page()
                session = BrowserSession(page=page, context=context)

                def route(r):
                    if _is_local(r.request.url, allowed_origins):
                        r.continue_()
                    else:
                        session.blocked.append(r.request.url)
                        r.abort()

                context.route("**/*", route)
                page.on("console", lambda m: session.console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: session.console.append(f"pageerror: {e}"))
                yield session
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def run_outside_event_loop(fn: Callable[[], T]) -> T:
    """Call ``fn()`` in a worker thread.

    Playwright's sync API refuses to run inside a running asyncio loop, which is
    exactly where Jupyter runs notebook code; a plain thread has no loop.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def record_in_page(url: str, video: os.PathLike | str, label_index: int, count: int, out_path: os.PathLike | str,
                   record_every_ms: int = 100, timeout_ms: int = 120_000) -> Path:
    """Use the Face2Emoji page's record mode as a learner does, with ``video`` as the camera.

    url: base URL of a served html/ (``http://127.0.0.1:PORT/``). Chooses class ``label_index``,
    records ``count`` faces (``?recordEvery=record_every_ms``), clicks Download and saves the
    FER2013-format CSV to ``out_path``. RuntimeError if the page reached beyond ``url``.
    """
    origin = url.rstrip("/")
    with chromium_session(allowed_origins=(origin,), fake_video=video) as s:
        s.page.goto(f"{url}index.html?recordEvery={int(record_every_ms)}")
        s.page.wait_for_function("window.face2emoji && (face2emoji.ready || face2emoji.error)", timeout=timeout_ms)
        error = s.page.evaluate("face2emoji.error")
        if error:
            raise RuntimeError(f"the page did not start: {error}")
        s.page.select_option("#record-label", str(int(label_index)))
        s.page.fill("#record-count", str(int(count)))
        s.page.click("#record")
        s.page.wait_for_function(f"face2emoji.recorded.length >= {int(count)} && !face2emoji.recording",
                                 timeout=timeout_ms)
        with s.page.expect_download() as info:
            s.page.click("#download")
        info.value.save_as(out_path)
        if s.blocked:
            raise RuntimeError(f"the page tried to reach the network: {s.blocked}")
    return Path(out_path)
