"""face-api's face networks rebuilt in Keras from its npm weight files: landmarks and expressions in Python.

npm ``@vladmandic/face-api`` ships its networks as TensorFlow.js weight files (a JSON manifest
and a ``.bin`` of uint8-quantised tensors). Two of them share one trunk, face-api's
``FaceFeatureExtractor``: a 112x112 RGB face, four densely connected blocks of depthwise
separable convolutions (each halving the side: 56, 28, 14, 7), a 7x7 average pool and one
dense layer - 136 numbers for the 68-point landmark net, 7 softmax scores for the expression
net. This module reads those files (each checked against its SHA-256, as
:mod:`aiffel_lib.transfer` checks its videos), dequantises them and builds the same network
in Keras, so notebook 04 can find a face's mouth and brows without a browser
(:mod:`aiffel_lib.facewarp`). A browser test checks the Keras networks against face-api's
own in Chromium on the same input.

Faces come in as the web app crops them (:mod:`aiffel_lib.facecrop`: the detector's box plus a
margin); face-api's networks were trained on a tighter box (its SSD detector's, forehead to
chin), which :func:`inner_box` recovers from the page's crop.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .facecrop import PAGE_MARGIN
from .paths import HTML_DIR
from .realfaces import _SSD_TO_PAGE_DOWN, _SSD_TO_PAGE_SIDE

MODEL_DIR = HTML_DIR / "node_modules" / "@vladmandic" / "face-api" / "model"
#: SHA-256 of the weight files in face-api 1.7.15 (the ones the course was measured with).
WEIGHT_FILES = {
    "face_landmark_68_model-weights_manifest.json": "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9",
    "face_landmark_68_model.bin": "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b",
    "face_expression_model-weights_manifest.json": "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
    "face_expression_model.bin": "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
}
INPUT_SIZE = 112
#: Faces converted to the network's input at a time: 2,048 x 112 x 112 x 3 float32 = 308 MB. Converting
#: all of notebook 04's 23,247 transfer copies at once took 3.5 GB, and Keras' predict copied it again.
CHUNK = 2048
#: face-api subtracts this mean colour (0-255) before dividing by 255.
MEAN_RGB = (122.782, 117.001, 104.298)
#: face-api's expression order -> the course's (FER2013) order: course class i is face-api output TO_COURSE[i].
TO_COURSE = (3, 5, 4, 1, 2, 6, 0)
# The page's crop is the tiny face detector's box x(1 + PAGE_MARGIN); that box is the SSD box's larger side
# times _SSD_TO_PAGE_SIDE, its centre _SSD_TO_PAGE_DOWN of that side lower (measured in realfaces). Inverted:
_INNER_SIDE = 1 / (_SSD_TO_PAGE_SIDE * (1 + PAGE_MARGIN))
_INNER_UP = _SSD_TO_PAGE_DOWN * _INNER_SIDE


def read_tfjs_weights(name: str, model_dir: Path = MODEL_DIR, verify: bool = True) -> dict[str, np.ndarray]:
    """The tensors of a TensorFlow.js weight manifest ``<name>-weights_manifest.json``: {name: float32 array}.

    uint8-quantised tensors are dequantised (``q * scale + min``, as tfjs does); float32 ones are
    read as they are. ValueError, saying what to do, when a file is missing, has other bytes than
    :data:`WEIGHT_FILES` records (``verify``), or the ``.bin`` is shorter or longer than the manifest says.
    """
    manifest_path = Path(model_dir) / f"{name}-weights_manifest.json"
    if not manifest_path.is_file():
        raise ValueError(f"{manifest_path} is missing: `make setup` installs face-api (npm ci in html/)")

    def read(f: Path) -> bytes:
        """The file's bytes, read once: checked against WEIGHT_FILES, then parsed."""
        data = f.read_bytes() if f.is_file() else None
        want = WEIGHT_FILES.get(f.name)
        if data is None or (verify and want and hashlib.sha256(data).hexdigest() != want):
            raise ValueError(f"{f} is missing or not face-api 1.7.15's file: reinstall with `make setup`")
        return data

    raw_manifest = read(manifest_path)        # before parsing it: a damaged manifest gets the same clear error
    try:
        manifest = json.loads(raw_manifest.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{manifest_path} is not a weight manifest ({exc}): reinstall with `make setup`") from None
    tensors = {}
    for group in manifest:
        data = b"".join(read(manifest_path.parent / p) for p in group["paths"])
        pos = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"]))
            quant = spec.get("quantization")
            if quant:
                if quant["dtype"] != "uint8":
                    raise ValueError(f"{spec['name']}: only uint8 quantisation is read, got {quant['dtype']}")
                raw = np.frombuffer(data, np.uint8, count, pos)
                values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                pos += count
            else:
                values = np.frombuffer(data, np.float32, count, pos)
                pos += 4 * count
            tensors[spec["name"]] = values.reshape(spec["shape"]).astype(np.float32)
        if pos != len(data):
            raise ValueError(f"{manifest_path.name}: the weights take {pos} bytes, the files hold {len(data)}")
    return tensors


def build_network(kind: str = "landmarks", verify: bool = True):
    """face-api's landmark (``"landmarks"``) or expression (``"expressions"``) net as a Keras model.

    Input (N, 112, 112, 3) float32 RGB 0..255. Output: landmarks (N, 136) = 68 (x, y) pairs as a
    share of the input side; expressions (N, 7) softmax in face-api's order (see :data:`TO_COURSE`).
    """
    import keras

    L = keras.layers
    if kind not in ("landmarks", "expressions"):
        raise ValueError(f"kind must be 'landmarks' or 'expressions', got {kind!r}")
    w = read_tfjs_weights("face_landmark_68_model" if kind == "landmarks" else "face_expression_model",
                          verify=verify)
    mean = np.asarray(MEAN_RGB, np.float32)
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="rgb_face")
    # (x - mean) / 255 as one affine layer: scale 1/255, offset -mean/255 per channel
    x = L.Rescaling(1 / 255.0, offset=(-mean / 255.0).tolist(), name="normalize")(inputs)
    weights = []

    def separable(t, prefix, stride):
        layer = L.SeparableConv2D(w[f"{prefix}/pointwise_filter"].shape[-1], 3, strides=stride, padding="same",
                                  name=prefix.replace("/", "_"))
        weights.append((layer, [w[f"{prefix}/depthwise_filter"], w[f"{prefix}/pointwise_filter"],
                                w[f"{prefix}/bias"]]))
        return layer(t)

    for block in range(4):
        p = f"dense{block}"
        if block == 0:                                   # the first block starts with a plain convolution
            conv = L.Conv2D(w[f"{p}/conv0/filters"].shape[-1], 3, strides=2, padding="same", name=f"{p}_conv0")
            weights.append((conv, [w[f"{p}/conv0/filters"], w[f"{p}/conv0/bias"]]))
            first = conv(x)
        else:
            first = separable(x, f"{p}/conv0", 2)
        # dense connections: each convolution sees the ReLU of the sum of all earlier outputs of the block
        outs = [L.ReLU(name=f"{p}_relu0")(first)]
        for i in (1, 2, 3):
            into = outs[0] if i == 1 else L.ReLU(name=f"{p}_in{i}")(L.Add(name=f"{p}_sum{i}")(outs))
            outs.append(separable(into, f"{p}/conv{i}", 1))
        x = L.ReLU(name=f"{p}_out")(L.Add(name=f"{p}_sum")(outs))
    x = L.Flatten(name="flatten")(L.AveragePooling2D(7, strides=2, padding="valid", name="pool")(x))
    fc = L.Dense(w["fc/weights"].shape[1], name="fc")
    weights.append((fc, [w["fc/weights"], w["fc/bias"]]))
    out = fc(x)
    if kind == "expressions":
        out = L.Softmax(name="probabilities")(out)
    model = keras.Model(inputs, out, name=f"faceapi_{kind}")
    for layer, values in weights:
        layer.set_weights(values)
    return model


def inner_box(side: int) -> tuple[int, int, int]:
    """(x0, y0, n): the square of a page crop of ``side`` pixels that face-api's SSD box would frame."""
    n = int(round(_INNER_SIDE * side))
    x0 = int(round(side / 2 - n / 2))
    y0 = int(round(side / 2 - _INNER_UP * side - n / 2))
    return max(0, min(x0, side - n)), max(0, min(y0, side - n)), n


def to_network_input(faces: np.ndarray) -> np.ndarray:
    """Page crops (N, S, S) uint8 gray -> (N, 112, 112, 3) float32: the inner box, resized, gray to RGB."""
    import cv2

    faces = np.asarray(faces)
    if faces.ndim != 3 or faces.shape[1] != faces.shape[2] or faces.dtype != np.uint8:
        raise ValueError(f"expected square gray uint8 page crops (N, S, S), got {faces.shape} {faces.dtype}")
    x0, y0, n = inner_box(faces.shape[1])
    interp = cv2.INTER_LINEAR if n < INPUT_SIZE else cv2.INTER_AREA
    out = np.zeros((len(faces), INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    for i, f in enumerate(faces):
        out[i] = cv2.resize(f[y0:y0 + n, x0:x0 + n], (INPUT_SIZE, INPUT_SIZE), interpolation=interp)[..., None]
    return out


def find_landmarks(net, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """68 face landmarks (face-api's / iBUG's numbering) of page crops, in the crop's pixels.

    net: ``build_network("landmarks")``. faces: (N, S, S) uint8 gray page crops.
    Returns (N, 68, 2) float32 (x, y): 0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 mouth.
    """
    faces = np.asarray(faces)
    if not len(faces):
        return np.zeros((0, 68, 2), np.float32)
    x0, y0, n = inner_box(faces.shape[1])
    shares = _run_in_chunks(net, faces, batch_size)
    return shares.reshape(-1, 68, 2) * n + np.array([x0, y0], np.float32)


def predict_expressions(net, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """face-api's expression probabilities of page crops, (N, 7) float32 in the course's class order.

    net: ``build_network("expressions")``. faces: (N, S, S) uint8 gray page crops (face-api itself
    sees colour; on gray crops it keeps its top answer for most faces, not all).
    """
    probs = _run_in_chunks(net, faces, batch_size)
    return probs.reshape(-1, len(TO_COURSE))[:, list(TO_COURSE)]



def _run_in_chunks(net, faces: np.ndarray, batch_size: int) -> np.ndarray:
    """The net's outputs (N, K) float32 for page crops (N, S, S) uint8, converted CHUNK faces at a time."""
    faces = np.asarray(faces)
    parts = [np.asarray(net.predict(to_network_input(faces[i:i + CHUNK]), batch_size=batch_size, verbose=0),
                        np.float32) for i in range(0, len(faces), CHUNK)]
    return np.concatenate(parts) if parts else np.zeros((0, net.outputs[0].shape[-1]), np.float32)
