"""Smoke test of the browser harness: fake camera -> <video> -> snapshot -> <canvas>."""

import numpy as np
import pytest

from aiffel_lib.photos import camera_frame

pytestmark = pytest.mark.browser


def test_snapshot_page_shows_camera_frames_and_copies_them_to_canvas(open_browser, html_server, fake_camera):
    with open_browser(fake_video=fake_camera("chelsea")) as s:
        s.page.goto(html_server + "snapshot.html")
        s.page.wait_for_function("window.snapshotPage.ready || window.snapshotPage.error", timeout=20000)
        assert s.page.evaluate("window.snapshotPage.error") is None
        size = s.page.evaluate("[document.querySelector('video').videoWidth, document.querySelector('video').videoHeight]")
        assert size == [640, 480]
        s.page.click("#snap")
        w, h, rgba = s.page.evaluate("""() => {
            const c = document.querySelector('canvas');
            return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)];
        }""")
        assert (w, h) == (640, 480)
        shot = np.array(rgba, dtype=np.uint8).reshape(h, w, 4)[..., :3].astype(int)
        # The camera shows the photo we fed it (decoded by Chromium, an independent YUV->RGB path):
        # close to the source frame, and far from a blank or test-pattern frame.
        source = camera_frame("chelsea").astype(int)
        assert np.abs(shot - source).mean() < 8
        assert shot.std() > 20
        assert "snapshot 1: 640×480" in s.page.inner_text("#info")


def test_snapshot_page_explains_a_missing_camera(open_browser, html_server):
    with open_browser(camera=False) as s:
        s.page.goto(html_server + "snapshot.html")
        s.page.wait_for_function("window.snapshotPage.error", timeout=20000)
        assert "camera" in s.page.inner_text("#status").lower()
        assert s.page.get_attribute("#status", "class") == "status error"
