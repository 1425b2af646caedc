#!/usr/bin/env python
"""Per-image time of every saliency method on the offline ImageNet classifier, and
SmoothGrad batched vs one noisy copy at a time.

    .venv/bin/python benchmarks/bench_saliency.py            # default: 2 photos, 3 repeats
    .venv/bin/python benchmarks/bench_saliency.py --quick    # 1 repeat

Prints wall-clock seconds per image (median of the repeats, after one warm-up call
that traces the tf.functions) and the SmoothGrad speed-up. The two SmoothGrad
variants get the same noisy copies and must give the same map (checked below), so
the ratio compares only how the work is fed to the network:

- batched: ``saliency.smoothgrad`` (all N x n noisy copies through the network in
  full batches, its default batch size);
- loop, compiled: a Python loop calling ``saliency.input_gradients`` on one noisy copy
  at a time (the same compiled gradient function, batch of 1);
- loop, eager: a Python loop with a fresh ``tf.GradientTape`` around ``model(x)`` per
  copy, as one writes it first in a notebook.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds of one call, medians over ``repeats`` after a warm-up call.

    CPU time (all threads of this process) is the steadier figure on a shared machine.
    """
    fn()  # warm-up: traces tf.functions, allocates
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repeat instead of three")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads (default 2 cores)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from aiffel_lib import photos, saliency
    from aiffel_lib.imagenet import load_imagenet_classifier

    clf = load_imagenet_classifier("efficientnet_lite0")
    names = ["chelsea", "coffee"]
    x = clf.preprocess(np.stack([photos.camera_frame(n, 320, 320) for n in names]))
    classes = clf.predict_preprocessed(x).argmax(axis=1)
    model, n_img = clf.model, len(x)
    print(f"{clf.name}, input {x.shape[1]}x{x.shape[2]}, {n_img} images, {args.threads} threads, "
          f"median of {repeats} after a warm-up")

    methods = {
        "vanilla saliency": lambda: saliency.vanilla_saliency(model, x, classes),
        "SmoothGrad (n=25)": lambda: saliency.smoothgrad(model, x, classes, n=25),
        "integrated gradients (32 steps)": lambda: saliency.integrated_gradients(model, x, classes, steps=32),
        "Grad-CAM": lambda: saliency.grad_cam(model, x, classes),
        "Grad-CAM++": lambda: saliency.grad_cam_plus_plus(model, x, classes),
        "occlusion (32 px, stride 16)": lambda: saliency.occlusion(model, x, classes, patch=32, stride=16),
        "edge map (Sobel, no model)": lambda: saliency.edge_map(x),
    }
    print(f"\n{'method':34s} {'wall s/image':>12s} {'CPU s/image':>12s}")
    for name, fn in methods.items():
        wall, cpu = timed(fn, repeats)
        print(f"{name:34s} {wall / n_img:12.3f} {cpu / n_img:12.3f}")

    # SmoothGrad: the same noisy copies, fed three ways.
    n, sigma, seed = 25, 0.15, 0
    one, cls = x[:1], classes[:1]
    rng = np.random.default_rng(seed)
    span = float(one.max() - one.min())
    noisy = one + rng.standard_normal((n,) + one.shape[1:], dtype=np.float32) * np.float32(sigma * span)

    def batched():
        return saliency.smoothgrad(model, one, cls, n=n, sigma=sigma, seed=seed)

    def loop_compiled():
        total = np.zeros(one.shape[1:], np.float32)
        for k in range(n):
            total += saliency.input_gradients(model, noisy[k:k + 1], cls)[0]
        return np.abs(total / n).max(axis=-1)[None]

    logits_model = _logits_model(model)

    def loop_eager():
        total = np.zeros(one.shape[1:], np.float32)
        for k in range(n):
            xk = tf.convert_to_tensor(noisy[k:k + 1])
            with tf.GradientTape() as tape:
                tape.watch(xk)
                score = logits_model(xk, training=False)[0, int(cls[0])]
            total += tape.gradient(score, xk).numpy()[0]
        return np.abs(total / n).max(axis=-1)[None]

    ref = batched()
    for name, fn in (("loop, compiled", loop_compiled), ("loop, eager", loop_eager)):
        # Batched and single-image convolutions round differently in float32, and a ReLU6 input
        # sitting on 0 or 6 can flip: a few pixels differ slightly, the map as a whole does not.
        other = fn()
        diff = np.abs(other - ref).max() / ref.max()
        rho = saliency.spearman(other, ref)[0]
        assert diff < 2e-2 and rho > 0.999, f"{name} gives a different map (max rel. diff {diff:.1e}, rho {rho:.4f})"
    rows = [("batched (saliency.smoothgrad)", timed(batched, repeats)),
            ("loop, compiled gradient", timed(loop_compiled, repeats)),
            ("loop, eager GradientTape", timed(loop_eager, repeats))]
    (wb, cb) = rows[0][1]
    print(f"\nSmoothGrad, one image, n={n} noisy copies (same copies, same map); time relative to batched:")
    print(f"{'':34s} {'wall s':>8s} {'x':>6s} {'CPU s':>8s} {'x':>6s}")
    for name, (w, c) in rows:
        print(f"{name:34s} {w:8.3f} {w / wb:6.1f} {c:8.3f} {c / cb:6.1f}")


def _logits_model(model):
    import keras

    last = model.layers[-1]
    return keras.Model(model.inputs, last.input)


if __name__ == "__main__":
    main()
