#!/usr/bin/env python
"""Face2Emoji training on the offline default: time, accuracy and model size (not a test).

    .venv/bin/python benchmarks/bench_training.py            # notebook 04's settings (9,000 faces, 14 epochs)
    .venv/bin/python benchmarks/bench_training.py --quick    # 3,000 faces, 4 epochs: a smoke run
    .venv/bin/python benchmarks/bench_training.py --inference-only   # size and speed of build/models/face2emoji.keras

Measures on this machine, with the CPU load printed beside the figures (the CPU may be
shared: wall time is what a learner waits, CPU time is what the work costs):
1. synthetic practice faces per second (aiffel_lib.synthfaces);
2. training with emotion.train: wall and CPU seconds, per epoch, faces per second;
3. test accuracy and the lowest per-class accuracy;
4. model size: parameters, weights as float32 / float16 against the web app's 2 MB
   target, the saved .keras file;
5. Keras inference (a traced tf.function, as model.predict runs it), ms per face,
   batch 1 (the live app's case) and batch 64.
The trained model is written to a temporary folder, not over build/models/.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def timed(fn, *args, **kwargs):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def report_model(model, path: Path, faces) -> None:
    """Print sections 4 (size) and 5 (Keras inference speed) for ``model`` saved at ``path``."""
    import tensorflow as tf

    from aiffel_lib import emotion

    params = model.count_params()
    print(f"\n4. model: {params:,} parameters; weights {params * 4 / 1e6:.2f} MB float32, "
          f"{params * 2 / 1e6:.2f} MB float16 (web app target <= 2 MB: "
          f"{params * 2 / 2e6:.0%} of it); .keras file {path.stat().st_size / 1e6:.2f} MB")
    infer = tf.function(lambda x: model(x, training=False))
    times = {}
    for batch, reps in ((1, 200), (64, 20)):
        x = tf.constant(emotion.to_model_input(faces[:batch]))
        infer(x)                                          # trace once per shape
        t = time.perf_counter()
        for _ in range(reps):
            infer(x).numpy()
        times[batch] = (time.perf_counter() - t) / reps / batch * 1000
    print(f"\n5. Keras inference: {times[1]:.2f} ms per face at batch 1, {times[64]:.3f} ms per face at "
          f"batch 64 (batching {times[1] / times[64]:.0f}x cheaper per face)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3,000 faces, 4 epochs")
    parser.add_argument("--faces", type=int, default=None, help="synthetic faces (default 9,000)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 14, emotion.train's)")
    parser.add_argument("--inference-only", action="store_true",
                        help="only sections 4-5, for the saved build/models/face2emoji.keras (run notebook 04 first)")
    args = parser.parse_args(argv)
    n = args.faces or (3000 if args.quick else 9000)
    epochs = args.epochs or (4 if args.quick else 14)

    import numpy as np

    from aiffel_lib import emotion, fer, notebook, synthfaces

    notebook.setup(tensorflow=True)
    print(f"start: {load()}")
    if args.inference_only:
        faces = synthfaces.make_faces(64, seed=1).images
        report_model(emotion.load_model(), emotion.DEFAULT_MODEL_PATH, faces)
        return 0
    faces, w, c = timed(synthfaces.make_faces, 10000, seed=0)
    print(f"\n1. synthetic faces: 10,000 in {w:.1f} s wall / {c:.1f} s CPU = {10000 / w:,.0f} faces/s")

    data = emotion.load_dataset(None, n_synthetic=n, seed=0)
    split = emotion.split_dataset(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "face2emoji.keras"
        result, w, c = timed(emotion.train, split, epochs=epochs, seed=42, path=path, verbose=0)
        seen = result.epochs_run * len(split.y_train)
        print(f"\n2. training ({n:,} faces: {split.summary()})")
        print(f"   {result.epochs_run} epochs (best {result.best_epoch}) in {w:.0f} s wall / {c:.0f} s CPU "
              f"(CPU/wall {c / w:.2f}); {w / result.epochs_run:.1f} s per epoch; "
              f"{seen / w:,.0f} faces/s wall, {seen / c:,.0f} per CPU-second; {load()}")
        ev = emotion.evaluate(result.model, split.x_test, split.y_test)
        print(f"\n3. test accuracy {ev.accuracy:.3f} on {len(split.y_test)} faces; "
              f"lowest class {np.nanmin(ev.per_class):.2f} "
              f"({fer.EMOTIONS[int(np.nanargmin(ev.per_class))]})")
        print(ev.report())
        report_model(result.model, path, split.x_test)
    print(f"\nend: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
