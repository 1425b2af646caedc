"""Notebook 05's check: the files the web app loads after the tfjs export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiffel_lib.checks._core import Notes, Verdict, _Mistake, _verdict


def _read_json(path: Any, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _Mistake(f"{what} is missing ({Path(path).name})", "run the export cell again; it writes every file") from None
    except (OSError, ValueError, TypeError) as exc:
        raise _Mistake(f"{what} cannot be read: {type(exc).__name__}", "run the export cell again") from None


def page_preprocessing(meta: dict, channels: int) -> dict:
    """What html/js/face2emoji.js makes of metadata.json's ``preprocessing`` (same defaults)."""
    prep = dict(meta.get("preprocessing") or {})
    if "scale" not in prep and isinstance(prep.get("input_range"), list) and len(prep["input_range"]) == 2:
        lo, hi = prep["input_range"]
        prep["scale"], prep["offset"] = (hi - lo) / 255, lo
    prep.setdefault("scale", 1)
    prep.setdefault("offset", 0)
    prep["color"] = prep.get("color") or ("gray" if channels == 1 else "rgb")
    return prep


def check_face2emoji_export(paths: Any) -> Verdict:
    """``paths``: what ``export.export_tfjs`` returned for the web app's float32 model. Judges the
    files the page (html/index.html) loads, as the page reads them: the folder, a graph model
    with float32 weights whose shards exist, the labels and emoji in FER2013 order, a 48x48x1
    input, and pixels fed as raw 0..255 gray (scale 1, offset 0, after the page's defaults)."""
    from aiffel_lib import fer
    from aiffel_lib.paths import WEB_MODELS_DIR

    def body(notes: Notes) -> int:
        if paths is None:
            raise _Mistake("the export result is None",
                           "assign what export.export_tfjs(model, WEB_MODELS_DIR / 'face2emoji', fer.EMOTIONS, ...) returns")
        if not isinstance(paths, dict) or not {"dir", "model", "metadata"} <= set(paths):
            raise _Mistake(f"expected the dict export_tfjs returns (dir, model, weights, metadata), "
                           f"got {type(paths).__name__}", "web32 = export.export_tfjs(...)")
        where = Path(paths["dir"]).resolve()
        if where != (WEB_MODELS_DIR / "face2emoji").resolve():
            raise _Mistake(f"the model went to {where.name}/, but the web app loads html/models/face2emoji/",
                           "export to WEB_MODELS_DIR / 'face2emoji'")
        model_json = _read_json(paths["model"], "model.json")
        if model_json.get("format") != "graph-model":
            raise _Mistake(f"model.json is a {model_json.get('format')!r}, the page loads a graph model",
                           "use export.export_tfjs (the graph-model route), not save_keras_model")
        groups = model_json.get("weightsManifest", [])
        weights = [w for group in groups for w in group.get("weights", [])]
        if any(w.get("quantization") or w.get("dtype") == "float16" for w in weights):
            raise _Mistake("the web app's model is quantised",
                           "leave quantize at None here: float32 matches Keras to ~1e-6; float16 goes to face2emoji-float16")
        shards = [where / p for group in groups for p in group.get("paths", [])]
        absent = [p.name for p in shards if not p.is_file()]
        if not shards or absent:
            raise _Mistake(f"weight files listed in model.json are missing: {absent[:2]}", "run the export cell again")
        meta = _read_json(paths["metadata"], "metadata.json")
        shape = list(meta.get("inputShape") or [])
        if meta.get("imageSize") != 48 or shape[1:] != [48, 48, 1]:
            raise _Mistake(f"the model's input is {meta.get('inputShape')}, expected [null, 48, 48, 1]",
                           "export the Face2Emoji model that notebook 04 trained")
        if list(meta.get("labels") or []) != fer.EMOTIONS:
            raise _Mistake(f"metadata labels are {meta.get('labels')}, expected {fer.EMOTIONS} in that order",
                           "pass fer.EMOTIONS: the page shows label k for output k")
        if list(meta.get("emoji") or []) != fer.EMOJI:
            raise _Mistake("metadata has no (or other) emoji", "pass emoji=fer.EMOJI: the page shows them big")
        prep = page_preprocessing(meta, shape[3])
        if prep["scale"] != 1 or prep["offset"] != 0:
            raise _Mistake(f"the page would feed pixel x {prep['scale']} + {prep['offset']}; the model takes raw "
                           "0..255 (scale 1, offset 0)",
                           "the model rescales 0..255 itself: pass preprocessing=emotion.PREPROCESSING")
        if prep["color"] != "gray":
            raise _Mistake(f"preprocessing says color {prep['color']!r}; the page feeds gray faces",
                           "pass preprocessing=emotion.PREPROCESSING")
        if "input_range" not in (meta.get("preprocessing") or {}):
            notes.append("metadata.json's preprocessing is not emotion.PREPROCESSING; the page reads only scale, "
                         "offset and color, which are right. preprocessing=emotion.PREPROCESSING also records "
                         "the resize and the gray formula for whoever reuses the model")
        return 7

    return _verdict("face2emoji export", body)
