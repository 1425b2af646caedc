"""Speed of the offline ImageNet classifier (issue 4): not a test, figures for the README.

    .venv/bin/python benchmarks/bench_classifier.py            # all figures
    .venv/bin/python benchmarks/bench_classifier.py --frames 20 --backends wasm webgl cpu

Measures, on this machine:
1. first load (read the PyTorch file, build the Keras network, convert, write the cache)
   against a load from the cache, in fresh processes (TensorFlow import time listed apart);
2. Keras inference, ms per image, batch 1 and batch 16 (TensorFlow uses every core);
3. the browser page html/classify.html in headless Chromium with a fake camera playing the
   cat photo: page load to model-ready, then ms per snapshot per TensorFlow.js backend.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Run in a fresh interpreter so TensorFlow's import and graph tracing are counted honestly.
_LOAD_SNIPPET = """
import json, os, time
t0 = time.perf_counter()
import keras, tensorflow  # noqa: F401
t1 = time.perf_counter()
from aiffel_lib import imagenet
clf = imagenet.load_imagenet_classifier("efficientnet_lite0")
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "source": clf.source}))
"""


def load_times(cache: str) -> dict:
    env = {**os.environ, "AIFFEL_CACHE": cache, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", _LOAD_SNIPPET], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def keras_times(clf, repeats: int) -> dict:
    import numpy as np

    from aiffel_lib import photos

    one = clf.preprocess(photos.load_photo("chelsea"))[None]
    batch = np.repeat(one, 16, axis=0)
    clf.predict_preprocessed(one)  # warm-up (tracing)
    clf.predict_preprocessed(batch)
    single = []
    for _ in range(repeats):
        t = time.perf_counter()
        clf.predict_preprocessed(one)
        single.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for _ in range(max(1, repeats // 4)):
        clf.predict_preprocessed(batch, batch_size=16)
    per_image = (time.perf_counter() - t) * 1000 / (16 * max(1, repeats // 4))
    return {"batch1_ms": statistics.median(single), "batch16_ms_per_image": per_image}


def browser_times(backends: list[str], frames: int) -> dict:
    from aiffel_lib import browser, photos, serve
    from aiffel_lib.paths import HTML_DIR

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        video = browser.write_y4m(photos.camera_frame("chelsea"), Path(tmp) / "chelsea.y4m")
        with serve.serving(HTML_DIR) as url:
            for backend in backends:
                with browser.chromium_session(allowed_origins=(url.rstrip("/"),), fake_video=video) as s:
                    t = time.perf_counter()
                    s.page.goto(f"{url}classify.html?backend={backend}")
                    s.page.wait_for_function("classifyPage.ready && classifyPage.cameraReady || classifyPage.error",
                                             timeout=180_000)
                    ready_s = time.perf_counter() - t
                    error = s.page.evaluate("classifyPage.error")
                    if error:
                        results[backend] = {"error": error}
                        continue
                    ms, total = [], []
                    for i in range(1, frames + 1):
                        s.page.click("#snap")
                        s.page.wait_for_function(f"classifyPage.count >= {i}", timeout=60_000)
                        last = s.page.evaluate("({ms: classifyPage.last.ms, totalMs: classifyPage.last.totalMs, "
                                               "backend: classifyPage.last.backend})")
                        ms.append(last["ms"])
                        total.append(last["totalMs"])
                    results[backend] = {"backend": last["backend"], "ready_s": ready_s,
                                        "ms": statistics.median(ms), "total_ms": statistics.median(total),
                                        "page_load_ms": s.page.evaluate("classifyPage.loadMs")}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20, help="Keras timing repeats (default 20)")
    parser.add_argument("--frames", type=int, default=10, help="snapshots per browser backend (default 10)")
    parser.add_argument("--backends", nargs="+", default=["wasm", "webgl", "cpu"])
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    print(f"machine: {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory(prefix="aiffel-bench-cache-") as cache:
        first = load_times(cache)
        cached = load_times(cache)
    assert first["source"].startswith("converted") and cached["source"].startswith("loaded"), (first, cached)
    print("\n1. Loading EfficientNet-Lite0 (fresh process each; TensorFlow import listed apart)")
    print(f"   TensorFlow + Keras import           {first['import_s']:6.2f} s")
    print(f"   first load (convert + write cache)  {first['load_s']:6.2f} s")
    print(f"   cached load                         {cached['load_s']:6.2f} s   "
          f"(first / cached = {first['load_s'] / cached['load_s']:.2f}x)")

    from aiffel_lib import imagenet, torchfile

    t = time.perf_counter()
    state = torchfile.load_state_dict(imagenet.efficientnet_lite0_weights_file())
    print(f"   of which reading the .pth without torch  {time.perf_counter() - t:.2f} s "
          f"({len(state)} tensors, {sum(v.nbytes for v in state.values()) / 1e6:.1f} MB)")

    clf = imagenet.load_imagenet_classifier("efficientnet_lite0")
    k = keras_times(clf, args.repeats)
    print(f"\n2. Keras inference on {os.cpu_count()} cores (224x224, median)")
    print(f"   batch of 1       {k['batch1_ms']:7.1f} ms / image")
    print(f"   batch of 16      {k['batch16_ms_per_image']:7.1f} ms / image")

    t = time.perf_counter()
    web = imagenet.export_for_browser(clf)
    print(f"\n   export for the browser: {'reused' if web['reused'] else 'written'} in "
          f"{time.perf_counter() - t:.1f} s, {web['bytes'] / 1e6:.1f} MB")
    b = browser_times(args.backends, args.frames)
    print(f"\n3. Browser (headless Chromium, html/classify.html, fake camera, median of {args.frames} snapshots)")
    print("   backend   page->ready   model load   inference   with preprocessing   vs Keras batch 1")
    for backend, r in b.items():
        if "error" in r:
            print(f"   {backend:8s}  failed: {r['error']}")
            continue
        print(f"   {r['backend']:8s}  {r['ready_s']:9.1f} s  {r['page_load_ms'] / 1000:8.1f} s  "
              f"{r['ms']:8.1f} ms  {r['total_ms']:13.1f} ms      {r['ms'] / k['batch1_ms']:8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
