"""HSV colour masking (notebook 01): the course's webcam loop, runnable anywhere.

The course converts each webcam frame from BGR to HSV, keeps the pixels whose
hue, saturation and value lie in a range (``cv2.inRange``) and shows the frame,
the mask and the masked frame (``cv2.bitwise_and``) in three windows until Esc.

Here the same steps are functions (:func:`hsv_mask`, :func:`apply_mask`,
:func:`mask_frame`), with what a notebook needs on top: several ranges joined
(red wraps around hue 0), a colour picker (:func:`pick_color_range`), an
ipywidgets slider panel (:func:`mask_panel`), a frame source that uses a webcam
when there is one and otherwise says so and plays a short video made from real
photos (:func:`open_source`, :func:`demo_video`), and the desktop loop itself::

    python -m aiffel_lib.masking --camera 0       # webcam, windows, Esc quits
    python -m aiffel_lib.masking --video clip.mp4 # any video file
    python -m aiffel_lib.masking --help
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import cv2
import numpy as np

from aiffel_lib.display import WidgetView, image_grid

HSV = tuple[int, int, int]
Range = tuple[HSV, HSV]

#: The course's blue: hue 110-130 (OpenCV hue = degrees / 2), saturation and value >= 50.
BLUE_RANGE: Range = ((110, 50, 50), (130, 255, 255))
#: Ready-made ranges. Red needs two, one on each side of hue 0 (= 180).
PRESETS: dict[str, list[Range]] = {
    "blue": [BLUE_RANGE],
    "green": [((40, 50, 50), (80, 255, 255))],
    "yellow": [((20, 80, 80), (35, 255, 255))],
    "red": [((0, 70, 50), (10, 255, 255)), ((170, 70, 50), (179, 255, 255))],
}
ESC = 27
HUE_MAX, SV_MAX = 179, 255


# ---------------------------------------------------------------------------------------
# The masking steps
# ---------------------------------------------------------------------------------------

def _check_frame(frame_bgr: Any) -> np.ndarray:
    frame = np.asarray(frame_bgr)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
        raise ValueError(f"expected a (H, W, 3) uint8 BGR frame, got {frame.shape} {frame.dtype}")
    return frame


def _check_range(lower: Sequence[int], upper: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    try:
        lo = np.asarray(lower, dtype=np.int64).reshape(-1)
        hi = np.asarray(upper, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"a range is two (H, S, V) triples of integers, got {lower!r:.60} and {upper!r:.60}") from None
    if lo.size != 3 or hi.size != 3:
        raise ValueError(f"a range is two (H, S, V) triples, got {lower!r:.60} and {upper!r:.60}")
    top = np.array([HUE_MAX, SV_MAX, SV_MAX])
    if (lo < 0).any() or (hi > top).any() or (lo > hi).any():
        raise ValueError(f"range {tuple(lo)}..{tuple(hi)} is outside H 0-179, S/V 0-255 or low > high "
                         "(for red use two ranges, e.g. PRESETS['red'])")
    return lo.astype(np.uint8), hi.astype(np.uint8)


def to_hsv(frame_bgr: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)``: (H, W, 3) uint8, hue 0-179, S and V 0-255."""
    return cv2.cvtColor(_check_frame(frame_bgr), cv2.COLOR_BGR2HSV)


def hsv_mask(frame_bgr: np.ndarray, lower: Sequence[int], upper: Sequence[int]) -> np.ndarray:
    """The course's mask: pixels whose HSV lies in [lower, upper] -> 255, others 0.

    frame_bgr: (H, W, 3) uint8 BGR. lower/upper: (H, S, V) with H in 0-179.
    Returns (H, W) uint8 (``cv2.inRange`` on the HSV frame).
    """
    lo, hi = _check_range(lower, upper)
    return cv2.inRange(to_hsv(frame_bgr), lo, hi)


def mask_ranges(frame_bgr: np.ndarray, ranges: Iterable[Range]) -> np.ndarray:
    """Union of several HSV ranges (``cv2.bitwise_or`` of their masks): (H, W) uint8 0/255.

    Red sits at both ends of OpenCV's hue circle (0 and 179), so one red range
    is two ranges joined, e.g. ``PRESETS["red"]``.
    """
    hsv = to_hsv(frame_bgr)
    mask = np.zeros(hsv.shape[:2], np.uint8)
    count = 0
    for lower, upper in normalize_ranges(ranges):  # also a preset name or one (lower, upper) pair
        lo, hi = _check_range(lower, upper)
        mask = cv2.bitwise_or(mask, cv2.inRange(hsv, lo, hi))
        count += 1
    if count == 0:
        raise ValueError("no HSV range given")
    return mask


def _frame_and_mask(frame_bgr: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(checked frame, mask); ValueError unless the mask is (H, W) uint8 of the frame's size."""
    frame = _check_frame(frame_bgr)
    mask = np.asarray(mask)
    if mask.shape != frame.shape[:2] or mask.dtype != np.uint8:
        raise ValueError(f"the mask and the frame must match in size, and the mask be uint8 (as hsv_mask "
                         f"gives it): frame {frame.shape[:2]}, mask {mask.shape} {mask.dtype}")
    return frame, mask


def apply_mask(frame_bgr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The course's ``cv2.bitwise_and(frame, frame, mask=mask)``: masked-out pixels become black."""
    frame, mask = _frame_and_mask(frame_bgr, mask)
    return cv2.bitwise_and(frame, frame, mask=mask)


def mask_frame(frame_bgr: np.ndarray, ranges: Iterable[Range] = (BLUE_RANGE,)) -> tuple[np.ndarray, np.ndarray]:
    """One step of the course's loop: returns (mask (H, W) uint8, result (H, W, 3) uint8 BGR)."""
    mask = mask_ranges(frame_bgr, ranges)
    return mask, apply_mask(frame_bgr, mask)


def normalize_ranges(spec: Any) -> list[Range]:
    """A preset name (``"red"``), one ``(lower, upper)`` pair or a list of pairs -> list of pairs."""
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown colour {spec!r}; presets: {', '.join(PRESETS)}")
        return list(PRESETS[spec])
    usage = ("ranges must be a preset name (" + ", ".join(PRESETS) + "), one (lower, upper) pair of "
             "(H, S, V) triples or a list of such pairs")
    try:
        spec = list(spec)
        if len(spec) == 2 and np.asarray(spec[0]).size == 3 and np.asarray(spec[0]).ndim == 1:
            spec = [tuple(spec)]
        pairs = [tuple(pair) for pair in spec]
    except (TypeError, ValueError):
        raise ValueError(f"{usage}, got {spec!r:.60}") from None
    out = []
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"{usage}, got {pair!r:.60}")
        lo, hi = _check_range(*pair)
        out.append((tuple(int(v) for v in lo), tuple(int(v) for v in hi)))
    return out


def side_by_side(frame_bgr: np.ndarray, mask: np.ndarray, result_bgr: np.ndarray,
                 gap: int = 4) -> np.ndarray:
    """Frame, mask and result in one row, as the course's three windows: (H, 3W + 2*gap, 3) uint8 RGB."""
    frame, mask = _frame_and_mask(frame_bgr, mask)
    result = _check_frame(result_bgr)
    if result.shape != frame.shape:
        raise ValueError(f"frame {frame.shape} and result {result.shape} must match in size")
    spacer = np.full((frame.shape[0], gap, 3), 255, np.uint8)
    panels = [frame[..., ::-1], np.repeat(mask[..., None], 3, axis=2), result[..., ::-1]]
    return np.concatenate([panels[0], spacer, panels[1], spacer, panels[2]], axis=1)


def show_masking(frame_bgr: np.ndarray, ranges: Any = (BLUE_RANGE,), title: str = "", size: float = 2.6):
    """Matplotlib figure with the course's three windows: frame, mask, res. Returns the figure."""
    mask, result = mask_frame(frame_bgr, normalize_ranges(ranges))
    return image_grid([frame_bgr[..., ::-1], mask, result[..., ::-1]],
                      [f"{title} {name}".strip() for name in ("frame", "mask", "res")], cols=3,
                      size=(size, size * frame_bgr.shape[0] / frame_bgr.shape[1] + 0.4), cmap="gray",
                      vmin=0, vmax=255, fontsize=None)


def masked_fraction(mask: np.ndarray) -> float:
    """Share of pixels kept by a 0/255 mask (0.0-1.0)."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"mask must be a non-empty (H, W) array, got shape {mask.shape}")
    return float(np.count_nonzero(mask)) / mask.size


# ---------------------------------------------------------------------------------------
# Pick a colour
# ---------------------------------------------------------------------------------------

def bgr_to_hsv(bgr: Sequence[int]) -> HSV:
    """One BGR colour -> OpenCV HSV (H 0-179, S, V 0-255), via a 1x1 image."""
    try:
        px = np.asarray(bgr, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        px = np.zeros(0)
    if px.size != 3 or (px < 0).any() or (px > 255).any():
        raise ValueError(f"a BGR colour is three values 0-255, got {bgr!r:.60}")
    h, s, v = cv2.cvtColor(px.astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_BGR2HSV)[0, 0]
    return int(h), int(s), int(v)


def pick_color_range(bgr: Sequence[int], hue_tolerance: int = 10, min_saturation: int = 50,
                     min_value: int = 50, gray_saturation: int = 40) -> list[Range]:
    """A sensible HSV range (or two, across red's wrap-around) around one BGR colour.

    Coloured pixels: hue +/- ``hue_tolerance``, saturation and value from
    ``min_saturation`` / ``min_value`` (or the colour's own, if lower) up to 255 --
    the rule behind the course's blue: ``pick_color_range((255, 0, 0))`` gives
    ``[((110, 50, 50), (130, 255, 255))]``.
    Grays (saturation below ``gray_saturation``) have no meaningful hue: any hue,
    low saturation, and value within +/-50 of the colour's.
    Returns a list of ``(lower, upper)`` for :func:`mask_ranges`.
    """
    numbers = (hue_tolerance, min_saturation, min_value, gray_saturation)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in numbers):
        raise ValueError(f"hue_tolerance, min_saturation, min_value and gray_saturation must be whole numbers, "
                         f"got {numbers!r:.80}")
    if not 0 <= hue_tolerance <= 89:
        raise ValueError(f"hue_tolerance must be 0-89 (OpenCV hue runs 0-179), got {hue_tolerance}")
    h, s, v = bgr_to_hsv(bgr)
    if s < gray_saturation:
        return [((0, 0, max(0, v - 50)), (HUE_MAX, min(SV_MAX, s + gray_saturation), min(SV_MAX, v + 50)))]
    s_lo, v_lo = min(min_saturation, s), min(min_value, v)
    lo, hi = h - hue_tolerance, h + hue_tolerance
    if lo < 0:  # wraps below 0: add the top of the hue circle
        return [((0, s_lo, v_lo), (hi, SV_MAX, SV_MAX)), ((lo + 180, s_lo, v_lo), (HUE_MAX, SV_MAX, SV_MAX))]
    if hi > HUE_MAX:
        return [((lo, s_lo, v_lo), (HUE_MAX, SV_MAX, SV_MAX)), ((0, s_lo, v_lo), (hi - 180, SV_MAX, SV_MAX))]
    return [((lo, s_lo, v_lo), (hi, SV_MAX, SV_MAX))]


def color_at(image_bgr: np.ndarray, x: int, y: int, radius: int = 2) -> tuple[int, int, int]:
    """The median BGR colour of the (2*radius+1)^2 patch around pixel (x, y)."""
    img = _check_frame(image_bgr)
    h, w = img.shape[:2]
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (x, y, radius)) or radius < 0:
        raise ValueError(f"x, y and radius must be whole numbers (radius >= 0), got {x!r:.60}, {y!r:.60}, {radius!r:.60}")
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"pixel ({x}, {y}) is outside the {w}x{h} image")
    patch = img[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1].reshape(-1, 3)
    b, g, r = np.median(patch, axis=0)
    return int(b), int(g), int(r)


# ---------------------------------------------------------------------------------------
# The ipywidgets panel
# ---------------------------------------------------------------------------------------

def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError("could not encode PNG")
    return buf.tobytes()


class MaskPanel(WidgetView):
    """H/S/V sliders that re-render frame | mask | result live on a chosen image.

    ``panel.widget`` is the ipywidgets box (displaying the panel shows it; the text form
    is the one-line ``repr``).
    ``panel.ranges`` is the current list of ranges; ``panel.set_range`` moves the
    sliders from code. "wrap hue" selects hues *outside* the slider's interval,
    i.e. a range that crosses 179 -> 0, as red needs.
    """

    def __init__(self, images: dict[str, np.ndarray], lower: HSV = BLUE_RANGE[0],
                 upper: HSV = BLUE_RANGE[1], width: int = 240):
        import ipywidgets as widgets

        if not images:
            raise ValueError("give at least one image: {name: BGR array}")
        self.images = {}
        for name, img in images.items():
            img = _check_frame(img)
            scale = width / img.shape[1]
            self.images[name] = cv2.resize(img, (width, max(1, round(img.shape[0] * scale))),
                                           interpolation=cv2.INTER_AREA)
        self.chooser = widgets.Dropdown(options=list(self.images), description="image")
        self.preset = widgets.Dropdown(options=["custom"] + list(PRESETS), value="custom", description="preset")
        layout = widgets.Layout(width="420px")
        self.hue = widgets.IntRangeSlider(min=0, max=HUE_MAX, description="H (hue)", layout=layout)
        self.sat = widgets.IntRangeSlider(min=0, max=SV_MAX, description="S (sat.)", layout=layout)
        self.val = widgets.IntRangeSlider(min=0, max=SV_MAX, description="V (value)", layout=layout)
        self.wrap = widgets.Checkbox(value=False, description="wrap hue (red)", indent=False)
        self.view = widgets.Image(format="png")
        self.info = widgets.HTML()
        self._quiet = False
        self.set_range(lower, upper)
        self.chooser.observe(lambda _change: self.render(), names="value")
        for w in (self.hue, self.sat, self.val, self.wrap):
            w.observe(self._on_slider, names="value")
        self.preset.observe(self._on_preset, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.chooser, self.preset]), self.hue, self.sat,
                                    self.val, self.wrap, self.view, self.info])
        self.render()

    @property
    def ranges(self) -> list[Range]:
        """The sliders as a list of (lower, upper) HSV ranges (two when hue wraps)."""
        (h0, h1), (s0, s1), (v0, v1) = self.hue.value, self.sat.value, self.val.value
        if not self.wrap.value:
            return [((h0, s0, v0), (h1, s1, v1))]
        out = []
        if h0 > 0:
            out.append(((0, s0, v0), (h0, s1, v1)))
        if h1 < HUE_MAX:
            out.append(((h1, s0, v0), (HUE_MAX, s1, v1)))
        return out or [((0, s0, v0), (HUE_MAX, s1, v1))]

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Move widgets from code without each move re-rendering (render once afterwards)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def set_range(self, lower: HSV, upper: HSV, wrap: bool = False) -> None:
        """Move the sliders to one range (``wrap=True``: hues outside [lower H, upper H])."""
        _check_range(lower, upper)
        with self._quietly():
            self.hue.value = (int(lower[0]), int(upper[0]))
            self.sat.value = (int(lower[1]), int(upper[1]))
            self.val.value = (int(lower[2]), int(upper[2]))
            self.wrap.value = bool(wrap)
        self.render()

    def _on_slider(self, _change: dict) -> None:
        if not self._quiet and self.preset.value != "custom":
            with self._quietly():  # a hand-moved slider is no longer the preset
                self.preset.value = "custom"
        self.render()

    def _on_preset(self, change: dict) -> None:
        ranges = PRESETS.get(change["new"])
        if ranges is None:
            return
        if len(ranges) == 1:
            self.set_range(*ranges[0])
        else:  # red: [0, a] + [b, 179] is "outside (a, b)" with wrap on
            (lo1, hi1), (lo2, hi2) = ranges[0], ranges[-1]
            self.set_range((hi1[0], lo1[1], lo1[2]), (lo2[0], hi1[1], hi1[2]), wrap=True)

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """Recompute the mask for the current image and sliders; returns (mask, result)."""
        if self._quiet:
            return None, None
        frame = self.images[self.chooser.value]
        ranges = self.ranges
        mask, result = mask_frame(frame, ranges)
        self.view.value = _png(side_by_side(frame, mask, result))
        code = " | ".join(f"inRange(hsv, {lo}, {hi})" for lo, hi in ranges)
        self.info.value = (f"kept {100 * masked_fraction(mask):.1f}% of the pixels &nbsp; "
                           f"<code>{code}</code>")
        return mask, result

    def __repr__(self) -> str:
        ranges = ", ".join(f"{lo}-{hi}" for lo, hi in self.ranges)
        return f"MaskPanel(image {self.chooser.value!r}, ranges {ranges})"


def mask_panel(images: dict[str, np.ndarray] | np.ndarray, lower: HSV = BLUE_RANGE[0],
               upper: HSV = BLUE_RANGE[1], width: int = 240) -> MaskPanel:
    """The slider panel for notebook 01. images: ``{name: BGR array}`` or one BGR array."""
    if isinstance(images, np.ndarray):
        images = {"image": images}
    if not isinstance(images, dict):
        raise ValueError(f"images must be one BGR array or a dict {{name: BGR array}}, got {type(images).__name__}")
    return MaskPanel(images, lower, upper, width)


# ---------------------------------------------------------------------------------------
# Frames: a webcam if there is one, else a video file (never a hang)
# ---------------------------------------------------------------------------------------

def demo_frames(size: tuple[int, int] = (320, 240), n: int = 48,
                photos: Sequence[str] = ("rocket", "china", "astronaut")) -> np.ndarray:
    """A slow pan across real photos (blue sky, a flag), as a camera might see them.

    Returns (n, height, width, 3) uint8 BGR; the same on every machine.
    """
    from aiffel_lib.photos import load_photo

    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        width = height = 0
    if width < 16 or height < 16 or int(n) < 1:
        raise ValueError(f"size must be (width, height) of at least 16 pixels and n >= 1, got {size!r:.60}, {n!r}")
    per = max(1, n // len(photos))
    frames = []
    for k, name in enumerate(photos):
        img = load_photo(name, "bgr")
        scale = max(width / img.shape[1], height / img.shape[0]) * 1.4  # zoom in to leave room to pan
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
        span_x, span_y = img.shape[1] - width, img.shape[0] - height
        count = per if k < len(photos) - 1 else n - per * (len(photos) - 1)
        for i in range(count):
            t = i / max(1, count - 1)
            x, y = round(span_x * t), round(span_y * (0.5 - 0.5 * t) if k % 2 else span_y * 0.5 * t)
            frames.append(img[y:y + height, x:x + width])
    return np.stack(frames)


def video_writer(path: os.PathLike | str, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    """An opened writer for ``path``: lossless FFV1 through FFmpeg when available, else Motion-JPEG.

    size: (width, height). Lossless matters for masking: JPEG noise moves pixels
    that sit near a range's edge (the rocket's sky is at hue ~110) in or out of the mask.
    """
    folder = Path(path).parent
    if not folder.is_dir():
        raise OSError(f"cannot write video to {path}: the folder {folder} does not exist (create it first)")
    if Path(path).is_dir():
        raise OSError(f"cannot write video to {path}: it is a folder; give a file name such as masked.avi")
    writer = cv2.VideoWriter(os.fspath(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), fps, size)
    if not writer.isOpened():  # OpenCV built without FFmpeg: its own MJPEG writer always exists
        writer = cv2.VideoWriter(os.fspath(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                                 fps, size)
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write video to {Path(path).name} (is the folder writable?)")
    return writer


def demo_video(path: os.PathLike | str | None = None, fps: int = 12) -> Path:
    """Write :func:`demo_frames` as an ``.avi`` video (see :func:`video_writer`).

    path: where to write (default: the course cache). Reuses an existing file.
    Returns the path.
    """
    from aiffel_lib.atomic import atomic_path
    from aiffel_lib.paths import cache_dir

    path = Path(path) if path is not None else cache_dir("masking") / "demo.avi"
    if path.is_file() and path.stat().st_size > 0:
        return path
    frames = demo_frames()
    with atomic_path(path, suffix=".avi") as tmp:
        writer = video_writer(tmp, fps, (frames.shape[2], frames.shape[1]))
        for frame in frames:
            writer.write(frame)
        writer.release()
    return path


def _open_with_timeout(index: int, timeout: float) -> tuple[cv2.VideoCapture | None, str]:
    """Open camera ``index`` and read one frame in a helper thread, giving up after ``timeout``.

    Some drivers block for a long time on a missing or busy device; the daemon
    thread is abandoned then, so the caller never hangs.
    """
    box: dict[str, Any] = {}
    lock = threading.Lock()

    def worker() -> None:
        try:
            cap = cv2.VideoCapture(index)
            ok = cap.isOpened() and cap.read()[0]
        except Exception as exc:  # a driver error is just "no camera" here
            box["error"] = exc
            return
        with lock:
            if box.get("abandoned"):  # answered too late: free the device
                cap.release()
            else:
                box["cap"], box["ok"] = cap, ok

    thread = threading.Thread(target=worker, name=f"open-camera-{index}", daemon=True)
    thread.start()
    thread.join(timeout)
    with lock:
        if thread.is_alive():
            box["abandoned"] = True
            return None, f"camera {index} did not answer within {timeout:g} s"
    if "error" in box:
        return None, f"camera {index} failed: {box['error']}"
    if not box.get("ok"):
        if box.get("cap") is not None:
            box["cap"].release()
        return None, f"camera {index} opened but gave no frame (busy or no permission?)"
    return box["cap"], f"camera {index}"


def camera_status(index: int = 0) -> tuple[bool, str]:
    """Quick check (no device opened) whether camera ``index`` can exist: (maybe, reason).

    On Linux a camera is a ``/dev/videoN`` device; without it there is nothing to
    open. ``AIFFEL_NO_CAMERA=1`` forces "no camera" (CI, demos).
    """
    if os.environ.get("AIFFEL_NO_CAMERA") == "1":
        return False, "AIFFEL_NO_CAMERA=1 is set"
    if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
        return False, f"no camera device /dev/video{index}"
    return True, "a camera device exists"


@dataclass
class FrameSource:
    """Frames from a webcam or a video file. ``description`` says which; iterate for frames."""

    capture: cv2.VideoCapture
    description: str
    is_camera: bool
    messages: list[str] = field(default_factory=list)

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The course's ``cap.read()``: (ok, (H, W, 3) uint8 BGR frame or None)."""
        return self.capture.read()

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self.capture.read()
            if not ok:  # end of the file, or the camera went away
                return
            yield frame

    def release(self) -> None:
        self.capture.release()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def open_video(path: os.PathLike | str) -> FrameSource:
    """A video file as a :class:`FrameSource`; ValueError if it cannot be read."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"video must be a file path (str or pathlib.Path), got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no video file at {path.name!r}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise ValueError(f"OpenCV cannot read {path.name!r} as a video")
    return FrameSource(cap, f"video file {path.name}", is_camera=False)


def open_source(camera: int | None = 0, video: os.PathLike | str | None = None,
                timeout: float = 3.0, verbose: bool = True) -> FrameSource:
    """A webcam when one answers, else ``video`` (default: :func:`demo_video`), with a message.

    camera: webcam index (None: go straight to the video). Returns within about
    ``timeout`` seconds even when a driver hangs; never raises for a missing camera.
    """
    messages = []
    if camera is not None and (isinstance(camera, bool) or not isinstance(camera, (int, np.integer)) or camera < 0):
        raise ValueError(f"camera must be a webcam index 0, 1, ... or None, got {camera!r:.60}")
    if camera is not None:
        maybe, reason = camera_status(camera)
        if maybe:
            cap, reason = _open_with_timeout(camera, timeout)
            if cap is not None:
                source = FrameSource(cap, reason, is_camera=True)
                if verbose:
                    print(f"using {reason}")
                return source
        messages.append(f"no webcam ({reason})")
    path = Path(video) if video is not None else demo_video()
    source = open_video(path)
    source.messages = messages
    if verbose:
        prefix = f"{messages[0]}: " if messages else ""
        print(f"{prefix}using the {source.description}")
    return source


# ---------------------------------------------------------------------------------------
# The desktop loop (python -m aiffel_lib.masking)
# ---------------------------------------------------------------------------------------

def has_display() -> bool:
    """True when windows can open (Linux needs $DISPLAY or $WAYLAND_DISPLAY)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def is_quit_key(code: int) -> bool:
    """Esc (27) or q, after ``& 0xFF``.

    ``cv2.waitKey`` returns -1 when no key was pressed, and on some systems the
    key code carries modifier flags (e.g. NumLock) above the low byte; masking with
    ``0xFF`` keeps only the byte that names the key.
    """
    return code != -1 and (code & 0xFF) in (ESC, ord("q"))


@dataclass
class LoopStats:
    """What a masking loop did: frames shown and the mean share of pixels kept."""

    frames: int = 0
    kept: list[float] = field(default_factory=list)
    stopped_by_key: bool = False

    @property
    def mean_kept(self) -> float:
        return float(np.mean(self.kept)) if self.kept else 0.0


def run_loop(source: FrameSource, ranges: Iterable[Range] = (BLUE_RANGE,), show: bool = True,
             max_frames: int | None = None, wait_ms: int = 5,
             output: os.PathLike | str | None = None, fps: int = 12) -> LoopStats:
    """The course's loop: read, BGR->HSV, inRange, bitwise_and, show frame/mask/res; Esc quits.

    show: open the three windows (needs a display). max_frames: stop after that
    many frames (None: until the video ends or Esc). output: also save
    frame | mask | res side by side as an ``.avi`` (:func:`video_writer`).
    """
    ranges = list(ranges)
    stats = LoopStats()
    writer = None
    try:
        while max_frames is None or stats.frames < max_frames:
            ok, frame = source.read()  # the course wrote `_, frame`: ok=False would then crash cvtColor
            if not ok:
                break
            mask, res = mask_frame(frame, ranges)
            stats.frames += 1
            stats.kept.append(masked_fraction(mask))
            if output is not None:
                row = np.ascontiguousarray(side_by_side(frame, mask, res)[..., ::-1])
                if writer is None:
                    writer = video_writer(output, fps, (row.shape[1], row.shape[0]))
                writer.write(row)
            if show:
                cv2.imshow("frame", frame)
                cv2.imshow("mask", mask)
                cv2.imshow("res", res)
                if is_quit_key(cv2.waitKey(wait_ms)):
                    stats.stopped_by_key = True
                    break
    finally:
        if writer is not None:
            writer.release()
        if show:
            cv2.destroyAllWindows()
    return stats


def _positive(kind: type, minimum: float, what: str):
    """An argparse type: a ``kind`` number >= ``minimum``, with a message saying so."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value < minimum or value != value:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def check_output_path(path: os.PathLike | str) -> Path:
    """Where ``--output`` will write: its folder must exist and be writable (OSError saying so)."""
    path = Path(path)
    if path.is_dir():
        raise OSError(f"--output {path} is a folder: give a file name such as {path / 'masked.avi'}")
    folder = path.parent
    if not folder.is_dir():
        raise OSError(f"--output {path}: the folder {folder} does not exist; create it first "
                      f"(mkdir -p {folder}) or write somewhere else")
    if not os.access(folder, os.W_OK):
        raise OSError(f"--output {path}: the folder {folder} is not writable; choose another place")
    return path


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m aiffel_lib.masking`` (fixed width: same help everywhere)."""
    parser = argparse.ArgumentParser(
        prog="python -m aiffel_lib.masking",
        description="The course's HSV colour-masking loop: shows frame, mask and result;\n"
                    "Esc (or q) quits. Uses the webcam when there is one, otherwise says so\n"
                    "and plays a short video made from real photos.",
        epilog="examples:\n  python -m aiffel_lib.masking --camera 0\n"
               "  python -m aiffel_lib.masking --video clip.mp4 --color red\n"
               "  python -m aiffel_lib.masking --lower 100 80 50 --upper 125 255 255\n"
               "  python -m aiffel_lib.masking --no-window --max-frames 30 --output masked.avi",
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=88))
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--camera", type=_positive(int, 0, "a camera index 0, 1, ..."), metavar="N", default=None,
                     help="webcam index (default 0); falls back to the demo video if it does not answer")
    src.add_argument("--video", metavar="FILE", help="read frames from a video file instead")
    parser.add_argument("--color", choices=sorted(PRESETS), default="blue",
                        help="preset HSV range (default blue, the course's 110-130)")
    parser.add_argument("--lower", type=int, nargs=3, metavar=("H", "S", "V"), help="custom lower HSV bound")
    parser.add_argument("--upper", type=int, nargs=3, metavar=("H", "S", "V"), help="custom upper HSV bound")
    parser.add_argument("--no-window", action="store_true",
                        help="do not open windows (automatic when there is no display)")
    parser.add_argument("--max-frames", type=_positive(int, 1, "a whole number >= 1"), metavar="N",
                        help="stop after N frames")
    parser.add_argument("--output", metavar="FILE", help="also write frame|mask|res side by side to an .avi")
    parser.add_argument("--timeout", type=_positive(float, 0.1, "a number of seconds >= 0.1"), default=3.0,
                        help="seconds to wait for a webcam (default 3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.lower is None) != (args.upper is None):
        print("error: give both --lower and --upper (three numbers each)", file=sys.stderr)
        return 2
    try:
        ranges = normalize_ranges([(args.lower, args.upper)] if args.lower else args.color)
        if args.output:
            check_output_path(args.output)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.video:
            source = open_video(args.video)
            print(f"using the {source.description}")
        else:
            source = open_source(camera=0 if args.camera is None else args.camera, timeout=args.timeout)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    show = not args.no_window
    if show and not has_display():
        print("no display (no $DISPLAY): running without windows; use --output FILE to save the result")
        show = False
    max_frames = args.max_frames
    if not show and max_frames is None and source.is_camera:
        max_frames = 100  # a headless webcam loop would never end (no Esc without a window)
    with source:
        print("ranges: " + ", ".join(f"{lo}..{hi}" for lo, hi in ranges)
              + (" -- press Esc (or q) in a window to quit" if show else ""))
        try:
            stats = run_loop(source, ranges, show=show, max_frames=max_frames, output=args.output)
        except OSError as exc:  # e.g. the disk filled up while writing --output
            print(f"error: {exc}", file=sys.stderr)
            return 2
    how = "stopped by key" if stats.stopped_by_key else "done"
    print(f"{how}: {stats.frames} frames, on average {100 * stats.mean_kept:.1f}% of pixels in range")
    if args.output and stats.frames:
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
