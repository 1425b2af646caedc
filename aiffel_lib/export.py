"""Export Keras 3 models to TensorFlow.js and run the export in a real browser.

The route (verified in Chromium with tfjs 4.22):

    Keras 3 model --model.export()--> SavedModel
                  --tensorflowjs converter (tf_saved_model -> tfjs_graph_model)--> model.json + shards
                  --tf.loadGraphModel--> the browser

The course's original route (``model.save("model.h5")`` + ``--input_format=keras`` ->
``tf.loadLayersModel``) fails with Keras 3: its ``model.json`` describes the input
with Keras 3's ``batch_shape``, which tfjs' layers loader does not know ("An
InputLayer should be passed either a `batchInputShape` or an `inputShape`").
A *graph* model carries no Keras layer configuration at all, only TensorFlow ops,
so the Keras version no longer matters.

    paths = export_tfjs(model, WEB_MODELS_DIR / "face2emoji", labels, emoji=EMOJI)
    probs = predict_in_browser(paths["dir"], faces)       # (N, 7) float32, from Chromium
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from aiffel_lib import __version__ as AIFFEL_VERSION
from aiffel_lib.atomic import atomic_files
from aiffel_lib.paths import HTML_DIR

#: Backends :func:`predict_in_browser` can ask TensorFlow.js for.
BACKENDS = ("wasm", "webgl", "cpu")
#: Which tfjs copy loads the model: the standalone ``tf.min.js`` or face-api.js' bundled ``faceapi.tf``.
RUNTIMES = ("tfjs", "face-api")
QUANTIZE_OPTIONS = (None, "float16")
#: The page that loads and runs a model (also usable by hand: ``predict.html?model=models/face2emoji/``).
RUNNER_PAGE = HTML_DIR / "predict.html"
#: Files the runner page needs from ``html/vendor/`` (made by ``make setup``), per runtime.
VENDOR_FILES = {"tfjs": ("tf.min.js", "tf-backend-wasm.min.js", "tfjs-backend-wasm.wasm"),
                "face-api": ("face-api.js", "tfjs-backend-wasm.wasm")}


# --------------------------------------------------------------------------- export

#: Weight shard names the tensorflowjs converter writes ("group1-shard1of1.bin").
_SHARD_NAME = re.compile(r"group\d+-shard\d+of\d+(?:\.bin)?")


def is_export_file(name: str) -> bool:
    """Whether a file name in an export folder belongs to the export (``model.json``,
    ``metadata.json``, weight shards). Re-exporting replaces only these; other files stay."""
    return name in ("model.json", "metadata.json") or bool(_SHARD_NAME.fullmatch(name))


def _read_json(path: Path, fix: str) -> Any:
    """A JSON file's content; ValueError naming the file and what to do when it is damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno}): "
                         f"the file is damaged; {fix}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text JSON file: the file is damaged; {fix}") from None


def _weight_files(model_json: Path, spec: Any, fix: str) -> list[str]:
    """Shard names listed in a tfjs model.json's ``weightsManifest``."""
    try:
        names = [p for group in spec["weightsManifest"] for p in group["paths"]]
    except (KeyError, TypeError):
        raise ValueError(f"{model_json} has no valid weightsManifest: it is not a TensorFlow.js model "
                         f"or it is damaged; {fix}") from None
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"{model_json} has a damaged weightsManifest; {fix}")
    return names


_REEXPORT = "export the model again (notebook 05, export.export_tfjs)"


def _present_weight_files(folder: Path, spec: Any) -> list[str]:
    """The shards ``folder/model.json`` lists (its parsed ``spec``), all present: else FileNotFoundError."""
    shards = _weight_files(folder / "model.json", spec, _REEXPORT)
    missing = [p for p in shards if not (folder / p).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks the weight file(s) {', '.join(missing)} that model.json lists: "
                                f"{_REEXPORT}")
    return shards


def _model_io(model) -> tuple[tuple, tuple]:
    """(input shape, output shape) of a single-input, single-output Keras 3 model, batch as None."""
    import keras

    if isinstance(model, (str, os.PathLike)):
        raise ValueError(f"export_tfjs expects a Keras model object, not a path ({model!s}): "
                         "load it first with keras.saving.load_model(path)")
    if not isinstance(model, keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        hint = (" (a tf_keras / Keras 2 model: rebuild it with Keras 3, `import keras`)"
                if "tf_keras" in kind else "")
        raise ValueError(f"export_tfjs needs a Keras 3 keras.Model, got {kind}{hint}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ValueError("the model has no defined inputs/outputs yet: build it with an Input "
                         "(keras.Input(shape=(48, 48, 1))) or call it once on a batch before exporting")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"export_tfjs handles one image input and one output, the model has "
                         f"{len(inputs)} inputs and {len(outputs)} outputs")
    in_shape, out_shape = tuple(inputs[0].shape), tuple(outputs[0].shape)
    if len(in_shape) != 4 or any(d is None for d in in_shape[1:]):
        raise ValueError(f"the model input must be a batch of images of fixed size (None, H, W, C), "
                         f"got {in_shape}: give the Input a full shape, e.g. keras.Input(shape=(48, 48, 1))")
    if len(out_shape) != 2 or out_shape[1] is None:
        raise ValueError(f"the model output must be (None, classes), got {out_shape}")
    return in_shape, out_shape


def _check_labels(labels: Sequence[str], n_out: int, what: str = "labels") -> list[str]:
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        raise ValueError(f"{what} must be a list of {n_out} strings, got {type(labels).__name__}")
    labels = list(labels)
    if len(labels) != n_out:
        raise ValueError(f"{len(labels)} {what} for a model with {n_out} outputs: give exactly one per "
                         f"output, in the model's class order")
    if not all(isinstance(x, str) and x.strip() for x in labels):
        raise ValueError(f"every entry of {what} must be a non-empty string, got {labels!r:.60}")
    return labels


def _preprocessing_dict(preprocessing: str | Mapping[str, Any] | None, channels: int) -> dict[str, Any]:
    """Normalise the ``preprocessing`` argument to the metadata's dict.

    Known keys: ``color`` ("gray" | "rgb" | "bgr"), ``scale`` and ``offset``
    (model input = pixel * scale + offset, pixels 0..255), ``resize`` and
    ``description`` (free text). Other keys are kept as given.
    """
    default_color = "gray" if channels == 1 else "rgb"
    if preprocessing is None:
        return {"color": default_color, "scale": 1.0, "offset": 0.0,
                "description": "not stated by the exporter: raw pixel values 0..255 as float32 assumed"}
    if isinstance(preprocessing, str):
        return {"color": default_color, "description": preprocessing}
    if not isinstance(preprocessing, Mapping):
        raise ValueError("preprocessing must be None, a description string or a dict "
                         "like {'color': 'gray', 'scale': 1/255, 'offset': 0.0, 'description': '...'}")
    out = dict(preprocessing)
    out.setdefault("color", default_color)
    if out["color"] not in ("gray", "rgb", "bgr"):
        raise ValueError(f"preprocessing['color'] must be 'gray', 'rgb' or 'bgr', got {out['color']!r}")
    if (out["color"] == "gray") != (channels == 1):
        raise ValueError(f"preprocessing['color'] is {out['color']!r} but the model takes {channels} channel(s)")
    for key in ("scale", "offset"):
        if key in out:
            value = out[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"preprocessing[{key!r}] must be a finite number, got {value!r}")
            out[key] = float(value)
    return out


def _json_ready(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable (str, numbers, lists, dicts): {exc}") from None


def _output_activation(model) -> str | None:
    """Name of the last layer's activation ("softmax", "linear", ...), best effort."""
    activation = getattr(model.layers[-1], "activation", None) if model.layers else None
    return getattr(activation, "__name__", None)


def _import_tensorflowjs():
    """``import tensorflowjs`` without the advert its dependency tensorflow_decision_forests
    shows on first import (an HTML banner in Jupyter)."""
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    import tensorflowjs

    return tensorflowjs


@contextlib.contextmanager
def _quiet_tensorflow_log(level: int = logging.WARNING):
    """Hide TensorFlow's Python log messages below ``level`` for a while (INFO: "Assets
    written to: /tmp/..."; the .h5 route also warns that HDF5 is legacy, which we know)."""
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    before = [logger.level for logger in loggers]
    for logger, old in zip(loggers, before):
        logger.setLevel(max(old, level))
    try:
        yield
    finally:
        for logger, old in zip(loggers, before):
            logger.setLevel(old)


def export_tfjs(model, out_dir: os.PathLike | str, labels: Sequence[str], *,
                emoji: Sequence[str] | None = None,
                preprocessing: str | Mapping[str, Any] | None = None,
                quantize: str | None = None, name: str | None = None,
                extra_metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``model`` as a TensorFlow.js graph model plus a Teachable-Machine-style metadata.json.

    model: a Keras 3 ``keras.Model`` with one input ``(None, H, W, C)`` float32 and one
        output ``(None, K)`` (class probabilities or scores).
    out_dir: the folder to (re)write, e.g. ``WEB_MODELS_DIR / "face2emoji"``. Only the
        export's own files are replaced (``model.json``, weight shards, ``metadata.json``;
        other files in the folder are kept). The model is converted in a temporary
        sibling folder first, so a failed export leaves the previous one untouched, and
        ``model.json`` is replaced last: an export killed while moving files leaves no
        ``model.json`` (the page then says to export again), never a mix of two models.
        An existing non-empty folder holding no earlier export is refused.
    labels: K class names in output order. emoji: K strings shown by the web app, or None.
    preprocessing: how pixels become the model input (see the keys in the metadata:
        ``color``, ``scale``, ``offset``, ``resize``, ``description``), a description
        string, or None (raw 0..255 pixels).
    quantize: None (float32 weights) or "float16" (half the size; the browser
        dequantises to float32 at load, outputs move by ~1e-3).
    name: the model name in the metadata (default: the folder name).
    extra_metadata: JSON-serialisable dict stored as ``userMetadata``.

    Returns ``{"dir", "model" (model.json), "weights" (list of shard paths),
    "metadata" (metadata.json)}`` as Paths, and ``"bytes"`` (total size).
    The metadata holds no time stamp, so exporting the same model twice writes
    identical metadata (content and versions identify an export).
    """
    in_shape, out_shape = _model_io(model)
    n_out = int(out_shape[1])
    labels = _check_labels(labels, n_out)
    if len(set(labels)) != len(labels):
        twice = sorted({x for x in labels if labels.count(x) > 1})
        raise ValueError(f"labels must be unique; repeated: {', '.join(map(repr, twice))}")
    if emoji is not None:
        emoji = _check_labels(emoji, n_out, what="emoji")
    if quantize not in QUANTIZE_OPTIONS:
        raise ValueError(f"quantize must be None (float32) or 'float16', got {quantize!r}")
    prep = _json_ready(_preprocessing_dict(preprocessing, int(in_shape[3])), "preprocessing")
    user_meta = _json_ready(dict(extra_metadata or {}), "extra_metadata")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError(f"out_dir must be a folder path (str or pathlib.Path), got {type(out_dir).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ValueError(f"out_dir {out_dir} is a file, not a folder")
        if any(out_dir.iterdir()) and not any(is_export_file(p.name) for p in out_dir.iterdir()):
            raise ValueError(f"refusing to replace {out_dir}: it is not empty and holds no model.json "
                             "(not a previous export). Choose a new folder for the model.")

    import keras
    import tensorflow as tf

    tensorflowjs = _import_tensorflowjs()
    from tensorflowjs.converters import tf_saved_model_conversion_v2 as tfjs_saved_model

    h, w, c = (int(d) for d in in_shape[1:])
    metadata = {
        # Teachable Machine's keys first (tfjsVersion, packageName/Version, modelName, labels, imageSize).
        "tfjsVersion": tensorflowjs.__version__,
        "packageName": "aiffel_lib",
        "packageVersion": AIFFEL_VERSION,
        "modelName": name or out_dir.name,
        "labels": labels,
        "imageSize": h if h == w else [h, w],
        "userMetadata": user_meta,
        # Ours: everything a page needs to feed the model and show the result.
        "emoji": emoji,
        "modelFormat": "graph",
        "loader": "tf.loadGraphModel",
        "inputShape": [None, h, w, c],
        "outputShape": [None, n_out],
        "outputActivation": _output_activation(model),
        "preprocessing": prep,
        "quantization": quantize,
        "tensorflowVersion": tf.__version__,
        "kerasVersion": keras.__version__,
    }

    with atomic_files(out_dir, owned=is_export_file, commit="model.json") as tmp:
        # The SavedModel goes in a scratch subfolder of the staging folder (not /tmp): a killed
        # export leaves one hidden sibling of out_dir, which the next export removes.
        saved = tmp / ".saved_model"
        # Both steps report progress with temporary absolute paths (print and TensorFlow's
        # INFO log, which Jupyter shows on stdout): keep notebook outputs clean and reproducible.
        with contextlib.redirect_stdout(io.StringIO()), _quiet_tensorflow_log():
            model.export(str(saved), format="tf_saved_model", verbose=False)
            tfjs_saved_model.convert_tf_saved_model(
                str(saved), str(tmp),
                quantization_dtype_map={"float16": True} if quantize == "float16" else None)
        shutil.rmtree(saved)
        model_json = tmp / "model.json"
        if not model_json.exists():
            raise RuntimeError("the tensorflowjs converter wrote no model.json")
        shard_names = _weight_files(model_json, json.loads(model_json.read_text()), "a tensorflowjs converter bug")
        unexpected = [n for n in (p.name for p in tmp.iterdir()) if not is_export_file(n)]
        if unexpected or not all(is_export_file(n) for n in shard_names):
            raise RuntimeError(f"the tensorflowjs converter wrote unexpected files {unexpected or shard_names}: "
                               "this export cannot tell them from the user's files (is tensorflowjs 4.22?)")
        metadata["weightsBytes"] = sum((tmp / p).stat().st_size for p in shard_names)
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    files = [out_dir / "model.json", *(out_dir / p for p in shard_names), out_dir / "metadata.json"]
    return {"dir": out_dir, "model": out_dir / "model.json", "weights": [out_dir / p for p in shard_names],
            "metadata": out_dir / "metadata.json", "bytes": sum(f.stat().st_size for f in files)}


def save_layers_model(model, out_dir: os.PathLike | str) -> Path:
    """The course's ORIGINAL export, kept to show why it fails: a tfjs *layers* model.

    Same as ``model.save("model.h5")`` + ``tensorflowjs_converter --input_format=keras``.
    With a Keras 3 model the written ``model.json`` describes the input with
    ``batch_shape``, which ``tf.loadLayersModel`` (tfjs 4.22) rejects; use
    :func:`export_tfjs` for anything a page should load. Returns ``out_dir``.
    """
    tensorflowjs = _import_tensorflowjs()
    out_dir = Path(out_dir)
    with atomic_files(out_dir, owned=is_export_file, commit="model.json") as tmp, \
            contextlib.redirect_stdout(io.StringIO()), _quiet_tensorflow_log(logging.ERROR):
        tensorflowjs.converters.save_keras_model(model, str(tmp))
    return out_dir


def read_metadata(model_dir: os.PathLike | str) -> dict[str, Any]:
    """The ``metadata.json`` of an export (FileNotFoundError naming the notebook to run)."""
    path = Path(model_dir) / "metadata.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: export the model first (notebook 05, export_tfjs)")
    meta = _read_json(path, _REEXPORT)
    if not isinstance(meta, dict):
        raise ValueError(f"{path} holds a JSON {type(meta).__name__}, not the export's metadata object; {_REEXPORT}")
    return meta


def export_size(model_dir: os.PathLike | str) -> dict[str, int]:
    """Bytes on disk of an export: ``{"model_json", "weights", "metadata", "total"}``."""
    folder = Path(model_dir)
    model_json = folder / "model.json"
    if not model_json.is_file():
        raise FileNotFoundError(f"{model_json} not found: {_REEXPORT}")
    shards = _present_weight_files(folder, _read_json(model_json, _REEXPORT))
    weights = sum((folder / p).stat().st_size for p in shards)
    sizes = {"model_json": (folder / "model.json").stat().st_size, "weights": weights,
             "metadata": (folder / "metadata.json").stat().st_size if (folder / "metadata.json").exists() else 0}
    sizes["total"] = sum(sizes.values())
    return sizes


# --------------------------------------------------------------------------- browser


def _model_json_spec(model_dir: Path) -> tuple[str, tuple[int | None, ...]]:
    """("graph" | "layers", input shape with None for unknown sizes) from a tfjs model.json."""
    model_json = model_dir / "model.json"
    if not model_json.exists():
        raise FileNotFoundError(f"{model_json} not found: export a model there first (export_tfjs, notebook 05)")
    spec = _read_json(model_json, _REEXPORT)
    kind = spec.get("format") if isinstance(spec, dict) else None
    if isinstance(spec, dict):
        _present_weight_files(model_dir, spec)
    try:
        if kind == "graph-model":
            inputs = spec.get("signature", {}).get("inputs", {})
            if len(inputs) != 1:
                raise ValueError(f"predict_in_browser supports models with one input, {model_json} has {len(inputs)}")
            dims = [int(d.get("size", -1)) for d in next(iter(inputs.values()))["tensorShape"]["dim"]]
            return "graph", tuple(None if d < 0 else d for d in dims)
        if kind == "layers-model":
            # Keras 2 writes batch_input_shape, Keras 3 batch_shape (the key tfjs cannot read).
            layers = spec["modelTopology"]["model_config"]["config"]["layers"]
            config = layers[0]["config"]
            dims = config.get("batch_input_shape") or config.get("batch_shape")
            return "layers", tuple(dims)
    except (KeyError, TypeError, IndexError, AttributeError, StopIteration):
        raise ValueError(f"{model_json} lacks the input description of a {kind}: the file is damaged; "
                         f"{_REEXPORT}") from None
    raise ValueError(f"{model_json} has format {kind!r}, not a tfjs graph or layers model: "
                     "re-export it with aiffel_lib.export.export_tfjs")


def _check_vendor(runtimes: Iterable[str]) -> Path:
    vendor = HTML_DIR / "vendor"
    needed = dict.fromkeys(f for runtime in runtimes for f in VENDOR_FILES[runtime])
    missing = [f for f in needed if not (vendor / f).exists()]
    if missing:
        raise RuntimeError(f"html/vendor/ lacks {', '.join(missing)}: run `make setup` "
                           "(or `bash scripts/setup.sh`), which copies TensorFlow.js from npm")
    if not RUNNER_PAGE.exists():
        raise RuntimeError(f"the runner page {RUNNER_PAGE.name} is missing from html/")
    return vendor


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        dst.symlink_to(src, target_is_directory=src.is_dir())
    except OSError:  # no symlinks (some Windows setups): copy instead
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)


def _as_batch(inputs: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    x = np.asarray(inputs)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"inputs must be numbers, got dtype {x.dtype}")
    expected = "(N, " + ", ".join(str(d) for d in shape[1:]) + ")"
    if x.ndim != len(shape) or any(e is not None and e != a for e, a in zip(shape[1:], x.shape[1:])):
        raise ValueError(f"inputs must have shape {expected} (a batch, even of one), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("inputs is an empty batch")
    x = np.ascontiguousarray(x, dtype="<f4")
    if not np.isfinite(x).all():
        raise ValueError("inputs contain NaN or infinity")
    return x


def run_in_browser(model_dir: os.PathLike | str, inputs: np.ndarray, backends: Sequence[str] = ("wasm",),
                   repeats: int = 0, runtime: str = "tfjs", timeout_s: float = 120.0) -> dict[str, dict]:
    """Load an exported model in headless Chromium and run it on ``inputs``, per backend.

    model_dir: a folder with a tfjs ``model.json``: a graph model (``export_tfjs``) is
        loaded with ``tf.loadGraphModel``, a layers model (``tensorflowjs.converters.
        save_keras_model``, the course's original route) with ``tf.loadLayersModel``.

    inputs: (N, H, W, C) numbers, sent to the page as float32.
    backends: any of "wasm", "webgl", "cpu"; the page is reloaded per backend.
    repeats: extra timed calls after the first (0: outputs only).
    runtime: "tfjs" (tf.min.js + the wasm backend) or "face-api" (face-api.js' bundled ``faceapi.tf``).
    Returns ``{backend: {"outputs": (N, K) float32, "ms": [repeats floats], "ready_ms": ms from navigation to model ready}}``.
    Works in pytest and inside Jupyter (Playwright runs in a worker thread).
    """
    from aiffel_lib import browser, serve

    if not isinstance(model_dir, (str, os.PathLike)):
        raise ValueError(f"model_dir must be the export's folder (str or pathlib.Path), got {type(model_dir).__name__}")
    model_dir = Path(model_dir)
    fmt, shape = _model_json_spec(model_dir)
    x = _as_batch(inputs, shape)
    backends = [backends] if isinstance(backends, str) else list(backends)
    bad = [b for b in backends if b not in BACKENDS]
    if not backends or bad:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {bad or backends}")
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if int(repeats) < 0:
        raise ValueError(f"repeats must be >= 0, got {repeats}")
    vendor = _check_vendor([runtime])
    browser.find_chromium()  # RuntimeError saying how to install it

    def work() -> dict[str, dict]:
        with tempfile.TemporaryDirectory(prefix="aiffel-tfjs-") as tmp:
            root = Path(tmp)
            # A miniature html/: the runner page, its CSS, the vendored tfjs, the model and the inputs.
            _link_or_copy(RUNNER_PAGE, root / "predict.html")
            _link_or_copy(HTML_DIR / "js", root / "js")
            _link_or_copy(vendor, root / "vendor")
            _link_or_copy(model_dir.resolve(), root / "model")
            (root / "inputs.bin").write_bytes(x.tobytes())
            results: dict[str, dict] = {}
            with serve.serving(root) as url, \
                    browser.chromium_session(allowed_origins=(url.rstrip("/"),), camera=False) as s:
                page = s.page
                for backend in backends:
                    page.goto(f"{url}predict.html?model=model/&backend={backend}&runtime={runtime}&format={fmt}")
                    try:
                        page.wait_for_function("window.tfjsRunner && (window.tfjsRunner.ready || "
                                               "window.tfjsRunner.error)", timeout=timeout_s * 1000)
                    except Exception as exc:  # playwright TimeoutError
                        raise RuntimeError(f"the model did not load in {timeout_s:.0f} s on {backend}; "
                                           f"browser console: {s.console[-10:]}") from exc
                    error = page.evaluate("window.tfjsRunner.error")
                    if error:
                        raise RuntimeError(f"in the browser ({runtime}, {backend}): {error}")
                    ready_ms = page.evaluate("performance.now()")
                    got = page.evaluate("([u, s, r]) => window.tfjsRunner.runFile(u, s, r)",
                                        [url + "inputs.bin", list(x.shape), int(repeats)])
                    if got["backend"] != backend:
                        raise RuntimeError(f"asked for the {backend} backend, the page ran on {got['backend']}")
                    out = np.asarray(got["values"], dtype=np.float32).reshape(got["shape"])
                    results[backend] = {"outputs": out, "ms": [float(v) for v in got["ms"]],
                                        "ready_ms": float(ready_ms)}
                if s.blocked:
                    raise RuntimeError(f"the page tried to reach the network: {s.blocked}")
            return results

    from aiffel_lib.browser import run_outside_event_loop

    return run_outside_event_loop(work)


def predict_in_browser(model_dir: os.PathLike | str, inputs: np.ndarray, backend: str = "wasm",
                       runtime: str = "tfjs") -> np.ndarray:
    """Run an exported graph model in headless Chromium: (N, H, W, C) inputs -> (N, K) float32.

    The browser loads ``model_dir/model.json`` with ``tf.loadGraphModel`` on the
    given backend ("wasm", "webgl" or "cpu"), exactly as a web page would; compare the
    result with ``model.predict(inputs)`` to prove the export. ``runtime="face-api"``
    uses the tfjs bundled in face-api.js (``faceapi.tf``) instead of ``tf.min.js``.
    Raises RuntimeError if Chromium or html/vendor/ is missing, or if the page fails.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return run_in_browser(model_dir, inputs, backends=(backend,), runtime=runtime)[backend]["outputs"]


def time_keras(model, inputs: np.ndarray, repeats: int = 20) -> list[float]:
    """Milliseconds per Keras inference call on ``inputs``, after one warm-up call.

    The Python-side counterpart of ``run_in_browser(..., repeats=...)["ms"]``: the model
    runs as one compiled TensorFlow graph (``tf.function``), as ``model.predict`` does,
    without ``predict``'s per-call data-pipeline overhead (several ms for small batches).
    """
    import time

    import tensorflow as tf

    x = tf.constant(np.asarray(inputs, np.float32))
    call = tf.function(lambda t: model(t, training=False))
    call(x).numpy()  # warm-up: traces and optimises the graph once
    ms = []
    for _ in range(int(repeats)):
        t0 = time.perf_counter()
        call(x).numpy()
        ms.append((time.perf_counter() - t0) * 1000)
    return ms


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute element difference of two same-shape arrays (a float)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b)))
