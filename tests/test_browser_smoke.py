"""Smoke test of the browser harness: fake camera -> <video> -> snapshot -> <canvas>."""

import numpy as np
import pytest

pytestmark = pytest.mark.browser


def test_snapshot_page_shows_camera_frames_and_copies_them_to_canvas(open_browser, html_server, fake_camera):
    with open_browser(fake_video=fake_camera("chelsea")) as s:
        s.page.goto(html_server + "snapshot.html")
        s.page.wait_for_function("window.snapshotPage.ready || window.snapshotPage.error", timeout=20000)
        assert s.page.evaluate("window.snapshotPage.error") is None
        size = s.page.evaluate("[document.querySelector('video').videoWidth, document.querySelector('video').videoHeight]")
        assert size == [640, 480]
        s.page.click("#snap")
        w, h, pixels = s.page.evaluate("""() => {
            const c = document.querySelector('canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return [c.width, c.height, Array.from(d.filter((_, i) => i % 4 === 0 && i % 997 === 0))];
        }""")
        assert (w, h) == (640, 480)
        red = np.array(pixels)
        # The photo, not a black or uniform frame: plenty of distinct, non-black values.
        assert red.std() > 20 and (red > 30).mean() > 0.5
        assert "snapshot 1: 640×480" in s.page.inner_text("#info")


def test_snapshot_page_explains_a_missing_camera(open_browser, html_server):
    with open_browser(camera=False) as s:
        s.page.goto(html_server + "snapshot.html")
        s.page.wait_for_function("window.snapshotPage.error", timeout=20000)
        assert "camera" in s.page.inner_text("#status").lower()
        assert s.page.get_attribute("#status", "class") == "status error"
