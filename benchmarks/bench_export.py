#!/usr/bin/env python
"""Size and speed of the TensorFlow.js export, side by side with Keras.

    .venv/bin/python benchmarks/bench_export.py                 # Face2Emoji model
    .venv/bin/python benchmarks/bench_export.py --imagenet      # also the ImageNet classifier (wasm only)
    .venv/bin/python benchmarks/bench_export.py --repeats 50 --backends wasm cpu

For each model: export time, model size as float32 and float16, the browser's
time from page load to a ready model, and inference milliseconds per face in
headless Chromium (wasm, webgl, cpu; one face per call as the live app runs it,
and a batch of 8) next to Keras on the same CPU. Medians of ``--repeats`` calls
after a warm-up (a fifth of them for the batch of 8). The ImageNet classifier
(224x224, 4.7 M parameters) runs on wasm only unless ``--imagenet-backends`` says
otherwise: software webgl and plain-JS cpu take seconds per image there. Uses the trained model (build/models/face2emoji.keras) when it
exists, else the same architecture untrained: size and speed do not depend on
the weights.
"""

from __future__ import annotations

import argparse
import builtins
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiffel_lib import export  # noqa: E402


def face2emoji_model():
    from aiffel_lib import emotion, fer

    if emotion.DEFAULT_MODEL_PATH.is_file():
        return emotion.load_model(), "trained (build/models/face2emoji.keras)", fer.EMOTIONS
    return emotion.build_model(weights=None), "untrained stand-in (notebook 04 not run yet)", fer.EMOTIONS


def imagenet_model():
    from aiffel_lib.imagenet import load_imagenet_classifier

    clf = load_imagenet_classifier()
    return clf.model, clf.name, clf.labels


def bench(name: str, model, labels, note: str, backends: list[str], repeats: int, work: Path) -> None:
    print = functools.partial(builtins.print, flush=True)  # noqa: A001 (show progress as it happens)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    one = rng.uniform(0, 255, (1,) + shape).astype(np.float32)
    eight = rng.uniform(0, 255, (8,) + shape).astype(np.float32)
    print(f"\n== {name}: {note}; input {shape}, {model.count_params():,} parameters")

    sizes, seconds = {}, {}
    for quantize in (None, "float16"):
        kind = quantize or "float32"
        t0 = time.perf_counter()
        paths = export.export_tfjs(model, work / f"{name}-{kind}", labels, quantize=quantize)
        seconds[kind] = time.perf_counter() - t0
        sizes[kind] = export.export_size(paths["dir"])
    for kind, size in sizes.items():
        print(f"{kind:<8} weights {size['weights'] / 1e6:6.2f} MB  all files {size['total'] / 1e6:6.2f} MB  "
              f"(export {seconds[kind]:.1f} s)")
    print(f"float16 / float32 size: {sizes['float16']['total'] / sizes['float32']['total']:.2f}")

    keras1 = float(np.median(export.time_keras(model, one, repeats)))
    repeats8 = max(3, repeats // 5)
    keras8 = float(np.median(export.time_keras(model, eight, repeats8))) / 8
    runs1 = export.run_in_browser(work / f"{name}-float32", one, backends=backends, repeats=repeats)
    runs8 = export.run_in_browser(work / f"{name}-float32", eight, backends=backends, repeats=repeats8)
    print(f"{'':<16}{'ms/input (1)':>13}{'p90':>8}{'ms/input (8)':>14}{'vs Keras (1)':>14}{'ready ms':>10}")
    print(f"{'Keras (CPU)':<16}{keras1:>13.2f}{'':>8}{keras8:>14.2f}{1.0:>13.2f}x{'':>10}")
    for backend in backends:
        ms1 = float(np.median(runs1[backend]["ms"]))
        p90 = float(np.percentile(runs1[backend]["ms"], 90))
        ms8 = float(np.median(runs8[backend]["ms"])) / 8
        print(f"{'browser ' + backend:<16}{ms1:>13.2f}{p90:>8.2f}{ms8:>14.2f}{ms1 / keras1:>13.2f}x"
              f"{runs1[backend]['ready_ms']:>10.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per measurement (default 30)")
    parser.add_argument("--backends", nargs="+", default=list(export.BACKENDS), choices=export.BACKENDS)
    parser.add_argument("--imagenet", action="store_true", help="also benchmark the ImageNet classifier")
    parser.add_argument("--imagenet-backends", nargs="+", default=["wasm"], choices=export.BACKENDS)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
          f"headless Chromium, no GPU (webgl runs in software)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        model, note, labels = face2emoji_model()
        bench("face2emoji", model, labels, note, args.backends, args.repeats, Path(tmp))
        if args.imagenet:
            model, note, labels = imagenet_model()
            bench("imagenet", model, labels, note, args.imagenet_backends, args.repeats, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
