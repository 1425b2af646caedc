"""HSV masking (notebook 01) against OpenCV's own cvtColor / inRange / bitwise_and."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from aiffel_lib import masking
from aiffel_lib.paths import REPO_ROOT
from aiffel_lib.photos import load_photo


def hsv_pixel(h, s, v):
    """One BGR pixel with the given OpenCV HSV."""
    return cv2.cvtColor(np.array([[[h, s, v]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0]


@pytest.fixture(scope="module")
def rocket():
    return load_photo("rocket", "bgr")[::2, ::2].copy()


def test_course_pipeline_equals_opencv_calls(rocket):
    hsv = cv2.cvtColor(rocket, cv2.COLOR_BGR2HSV)
    ref_mask = cv2.inRange(hsv, np.array([110, 50, 50]), np.array([130, 255, 255]))
    ref_res = cv2.bitwise_and(rocket, rocket, mask=ref_mask)
    mask, res = masking.mask_frame(rocket)
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_array_equal(res, ref_res)
    np.testing.assert_array_equal(masking.hsv_mask(rocket, *masking.BLUE_RANGE), ref_mask)
    # the rocket photo has a blue sky: a real share of it is kept, not all
    assert 0.1 < masking.masked_fraction(mask) < 0.9
    assert res[mask == 0].max() == 0 and np.array_equal(res[mask > 0], rocket[mask > 0])


def test_blue_range_keeps_blue_and_drops_other_colours():
    img = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [120, 40, 30]]], np.uint8)
    mask = masking.hsv_mask(img, *masking.BLUE_RANGE)
    assert mask.tolist() == [[255, 0, 0, 0, 255]]
    assert masking.bgr_to_hsv((255, 0, 0)) == (120, 255, 255)


def test_red_needs_two_ranges_across_hue_zero():
    img = np.stack([hsv_pixel(h, 200, 200) for h in (2, 8, 172, 178, 90)])[None]
    both = masking.mask_ranges(img, masking.PRESETS["red"])
    assert both.tolist() == [[255, 255, 255, 255, 0]]
    low, high = masking.PRESETS["red"]
    np.testing.assert_array_equal(both, cv2.bitwise_or(masking.hsv_mask(img, *low), masking.hsv_mask(img, *high)))
    assert masking.hsv_mask(img, *high).tolist() == [[0, 0, 255, 255, 0]]


def test_pick_color_reproduces_the_course_blue_and_contains_its_colour():
    assert masking.pick_color_range((255, 0, 0)) == [masking.BLUE_RANGE]
    red = masking.pick_color_range((0, 0, 255))
    assert len(red) == 2 and red[0][0][0] == 0 and red[1][1][0] == 179
    rng = np.random.default_rng(0)
    for bgr in rng.integers(0, 256, (300, 3)):
        ranges = masking.pick_color_range(tuple(int(x) for x in bgr))
        assert masking.mask_ranges(bgr.astype(np.uint8).reshape(1, 1, 3), ranges)[0, 0] == 255, bgr
    gray = masking.pick_color_range((128, 128, 128))
    assert gray == [((0, 0, 78), (179, 40, 178))]


def test_color_at_takes_the_median_of_a_patch(rocket):
    patch_centre = (20, 10)
    b, g, r = masking.color_at(rocket, *patch_centre, radius=2)
    ref = np.median(rocket[8:13, 18:23].reshape(-1, 3), axis=0).astype(int)
    assert (b, g, r) == tuple(ref)
    with pytest.raises(ValueError, match="outside"):
        masking.color_at(rocket, 10_000, 0)


@pytest.mark.parametrize("lower, upper", [((130, 50, 50), (110, 255, 255)), ((0, 0, 0), (180, 255, 255)),
                                          ((-1, 0, 0), (10, 255, 255)), ((0, 0), (10, 255, 255))])
def test_bad_ranges_raise_value_error(lower, upper):
    with pytest.raises(ValueError):
        masking.hsv_mask(np.zeros((2, 2, 3), np.uint8), lower, upper)


def test_bad_frames_raise_value_error():
    with pytest.raises(ValueError, match="uint8 BGR frame"):
        masking.mask_frame(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="unknown colour"):
        masking.normalize_ranges("purple")


def test_normalize_ranges_accepts_names_pairs_and_lists():
    assert masking.normalize_ranges("blue") == [masking.BLUE_RANGE]
    assert masking.normalize_ranges(masking.BLUE_RANGE) == [masking.BLUE_RANGE]
    assert masking.normalize_ranges([masking.BLUE_RANGE, masking.BLUE_RANGE]) == [masking.BLUE_RANGE] * 2


def test_side_by_side_is_frame_mask_result_in_rgb(rocket):
    mask, res = masking.mask_frame(rocket)
    row = masking.side_by_side(rocket, mask, res, gap=4)
    h, w = rocket.shape[:2]
    assert row.shape == (h, 3 * w + 8, 3)
    np.testing.assert_array_equal(row[:, :w], rocket[..., ::-1])
    np.testing.assert_array_equal(row[:, w + 4:2 * w + 4, 0], mask)
    np.testing.assert_array_equal(row[:, 2 * w + 8:], res[..., ::-1])


def test_quit_key_masks_the_high_bits():
    assert masking.is_quit_key(27) and masking.is_quit_key(0x100000 | 27) and masking.is_quit_key(ord("q"))
    assert not masking.is_quit_key(-1) and not masking.is_quit_key(ord("a"))


# ---- panel -----------------------------------------------------------------------------

def test_mask_panel_renders_the_same_mask_and_handles_red_wrap(rocket):
    panel = masking.mask_panel({"rocket": rocket, "chelsea": load_photo("chelsea", "bgr")}, width=120)
    assert panel.ranges == [masking.BLUE_RANGE]
    mask, _ = panel.render()
    np.testing.assert_array_equal(mask, masking.mask_frame(panel.images["rocket"])[0])
    assert panel.images["rocket"].shape[1] == 120
    png = cv2.imdecode(np.frombuffer(panel.view.value, np.uint8), cv2.IMREAD_COLOR)
    assert png.shape[1] == 3 * 120 + 8
    panel.preset.value = "red"
    assert panel.ranges == [((0, 70, 50), (10, 255, 255)), ((170, 70, 50), (179, 255, 255))]
    panel.chooser.value = "chelsea"
    mask, _ = panel.render()
    np.testing.assert_array_equal(mask, masking.mask_ranges(panel.images["chelsea"], masking.PRESETS["red"]))
    assert "inRange(hsv, (0, 70, 50), (10, 255, 255))" in panel.info.value
    assert repr(panel).startswith("MaskPanel(image 'chelsea', ranges (0, 70, 50)-(10, 255, 255)")
    assert panel._repr_mimebundle_()["text/plain"] == repr(panel)
    assert panel.preset.value == "red"
    panel.sat.value = (100, 255)  # moved by hand: no longer the preset
    assert panel.preset.value == "custom" and panel.ranges[0] == ((0, 100, 50), (10, 255, 255))
    panel.set_range((35, 10, 10), (85, 255, 255))
    assert panel.ranges == [((35, 10, 10), (85, 255, 255))]


# ---- frame sources ---------------------------------------------------------------------

def test_demo_video_round_trip(tmp_path):
    path = masking.demo_video(tmp_path / "demo.avi")
    with masking.open_video(path) as source:
        frames = list(source)
    assert len(frames) == 48 and frames[0].shape == (240, 320, 3)
    # lossless (FFV1): the frames read back are exactly the photos' pan
    np.testing.assert_array_equal(np.stack(frames), masking.demo_frames())


def test_missing_camera_falls_back_to_the_video_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIFFEL_NO_CAMERA", "1")
    video = masking.demo_video(tmp_path / "demo.avi")
    with masking.open_source(camera=0, video=video) as source:
        assert not source.is_camera and source.read()[0]
    out = capsys.readouterr().out
    assert "no webcam (AIFFEL_NO_CAMERA=1 is set): using the video file demo.avi" in out


def test_a_camera_that_hangs_does_not_hang_us(tmp_path, monkeypatch, capsys):
    release = threading.Event()
    real = cv2.VideoCapture
    video = masking.demo_video(tmp_path / "demo.avi")

    def capture(source):
        if isinstance(source, int):
            release.wait(30)  # a driver stuck on a busy device
            return real()  # then: an unopened capture
        return real(source)

    monkeypatch.delenv("AIFFEL_NO_CAMERA", raising=False)
    monkeypatch.setattr(masking, "camera_status", lambda index: (True, "test"))
    monkeypatch.setattr(masking.cv2, "VideoCapture", capture)
    try:
        with masking.open_source(camera=0, video=video, timeout=0.3) as source:
            assert not source.is_camera and source.read()[0]
        assert "no webcam (camera 0 did not answer within 0.3 s): using the video file" in capsys.readouterr().out
    finally:
        release.set()


def test_camera_status_without_device(monkeypatch):
    monkeypatch.delenv("AIFFEL_NO_CAMERA", raising=False)
    if sys.platform.startswith("linux") and not os.path.exists("/dev/video7"):
        assert masking.camera_status(7) == (False, "no camera device /dev/video7")


def test_run_loop_stops_on_escape_and_counts_frames(tmp_path, monkeypatch):
    video = masking.demo_video(tmp_path / "demo.avi")
    keys = iter([-1, ord("a"), 0x100000 | 27])
    shown = []
    monkeypatch.setattr(masking.cv2, "imshow", lambda name, img: shown.append(name))
    monkeypatch.setattr(masking.cv2, "waitKey", lambda ms: next(keys))
    monkeypatch.setattr(masking.cv2, "destroyAllWindows", lambda: None)
    with masking.open_video(video) as source:
        stats = masking.run_loop(source, show=True)
    assert stats.frames == 3 and stats.stopped_by_key
    assert shown == ["frame", "mask", "res"] * 3
    with masking.open_video(video) as source:
        stats = masking.run_loop(source, show=False, output=tmp_path / "out.avi")
    assert stats.frames == 48 and not stats.stopped_by_key
    with masking.open_video(tmp_path / "out.avi") as out:
        first = out.read()[1]
    assert first.shape == (240, 3 * 320 + 8, 3)


# ---- command line ----------------------------------------------------------------------

def run_cli(*args, env_extra=None):
    env = {**os.environ, "AIFFEL_NO_CAMERA": "1", **(env_extra or {})}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "aiffel_lib.masking", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=120)


def test_cli_help():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "--camera N" in proc.stdout and "--video FILE" in proc.stdout and "Esc" in proc.stdout


def test_cli_video_headless_and_camera_fallback(tmp_path):
    video = masking.demo_video(tmp_path / "demo.avi")
    proc = run_cli("--video", str(video), "--max-frames", "5", "--color", "red")
    assert proc.returncode == 0, proc.stderr
    assert "no display" in proc.stdout and "done: 5 frames" in proc.stdout
    proc = run_cli("--camera", "0", "--max-frames", "3", env_extra={"AIFFEL_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert "no webcam" in proc.stdout and "using the video file demo.avi" in proc.stdout
    assert "done: 3 frames" in proc.stdout


def test_cli_bad_arguments_give_messages_not_tracebacks(tmp_path):
    proc = run_cli("--video", str(tmp_path / "missing.avi"))
    assert proc.returncode == 2 and "no video file" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("--lower", "1", "2", "3")
    assert proc.returncode == 2 and "both --lower and --upper" in proc.stderr
    proc = run_cli("--lower", "130", "0", "0", "--upper", "110", "255", "255")
    assert proc.returncode == 2 and "low > high" in proc.stderr


@pytest.mark.parametrize("args, says", [
    (("--output", "{tmp}/missing/out.avi"), "the folder {tmp}/missing does not exist; create it first"),
    (("--output", "{tmp}"), "is a folder: give a file name"),
    (("--max-frames", "0"), "argument --max-frames: must be a whole number >= 1"),
    (("--max-frames", "ten"), "argument --max-frames: must be a whole number >= 1"),
    (("--timeout", "-1"), "argument --timeout: must be a number of seconds"),
    (("--timeout", "nan"), "argument --timeout: must be a number of seconds"),
    (("--camera", "-1"), "argument --camera: must be a camera index"),
])
def test_cli_bad_output_and_numbers_give_messages_before_anything_runs(tmp_path, args, says):
    video = masking.demo_video(tmp_path / "demo.avi")
    proc = run_cli(*[a.format(tmp=tmp_path) for a in args],
                   *(("--video", str(video)) if "--camera" not in args else ()))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert says.format(tmp=tmp_path) in proc.stderr
    assert not (tmp_path / "missing").exists()


def test_ranges_colours_and_pixels_of_the_wrong_kind_get_messages(rocket):
    for bad in (None, 5, [(1, 2)], [((1, 2, 3),)], [("a", "b")], [((0, 0, "x"), (10, 255, 255))]):
        with pytest.raises(ValueError, match="range"):
            masking.mask_ranges(rocket, bad)
    mask, _ = masking.mask_frame(rocket, "red")  # a preset name works wherever ranges go
    np.testing.assert_array_equal(mask, masking.mask_ranges(rocket, masking.PRESETS["red"]))
    with pytest.raises(ValueError, match="three values 0-255"):
        masking.pick_color_range(None)
    with pytest.raises(ValueError, match="whole numbers"):
        masking.color_at(rocket, 1.5, 2)
    with pytest.raises(ValueError, match="must match in size"):
        masking.side_by_side(rocket, np.zeros((2, 2), np.uint8), rocket)
    with pytest.raises(ValueError, match="file path"):
        masking.open_video(None)
    with pytest.raises(OSError, match="does not exist"):
        masking.video_writer("/nonexistent-folder/x.avi", 12, (32, 32))


def test_other_public_functions_refuse_bad_arguments_with_messages(rocket):
    for bad in (None, np.zeros(0, np.uint8), "mask"):
        with pytest.raises(ValueError, match="mask must be a non-empty"):
            masking.masked_fraction(bad)
    with pytest.raises(ValueError, match="one BGR array or a dict"):
        masking.mask_panel("rocket.png")
    with pytest.raises(ValueError, match="at least 16 pixels"):
        masking.demo_frames(size=320)
    with pytest.raises(ValueError, match="webcam index"):
        masking.open_source(camera=-1, verbose=False)
    with pytest.raises(ValueError, match="whole numbers"):
        masking.pick_color_range((255, 0, 0), hue_tolerance="10")
    with pytest.raises(ValueError) as err:  # a big array in the message is cut short
        masking.pick_color_range(np.zeros((100, 100)))
    assert len(str(err.value)) < 150
