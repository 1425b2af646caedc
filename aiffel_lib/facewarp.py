"""Landmark-guided expression warps: a real face made sadder, for the distillation's transfer faces.

The real faces notebook 04 distils on are mostly neutral and smiling: fer's FER2013 model calls
about 50 of 1,831 Sad, and for most of those its answer flips when the face is mirrored
(:func:`aiffel_lib.distill.mirror_agreement`), so the student never learns Sad. A sad face
differs from a neutral one mainly in two places (the facial action coding system's AU 15 and
AU 1+4): the mouth corners are pulled down and the inner ends of the brows are raised and
drawn together. :func:`sadden` moves exactly those landmarks (found by face-api's landmark
net, :mod:`aiffel_lib.faceapi_nets`) on a real face and bends the pixels around them with a
smooth displacement field: skin, light and identity stay real. The teacher then labels the
warped face like any other copy (it is not told it was made sadder; at strength 1.5 it calls 0.29
of 300 saddened transfer faces Sad, against 0.01 of the faces themselves), so no label is invented
here. Notebook 04 shows it, and what it did to the student (not kept in the recipe: see there).
"""

from __future__ import annotations

import numpy as np

MOUTH = tuple(range(48, 68))
INNER_BROWS = (20, 21, 22, 23)
OUTER_BROWS = (17, 18, 25, 26)
#: Landmarks that stay where they are (jaw, nose, eyes): they pin the field so only mouth and brows move.
ANCHORS = tuple(range(0, 17, 2)) + (27, 30, 33) + tuple(range(36, 48, 3))
#: Displacements as shares of the face height (brows to chin) at strength 1.
MOUTH_DOWN = 0.05          # corners down (a parabola along the mouth: the middle stays)
MOUTH_NARROW = 0.01        # corners towards the middle
BROW_UP = 0.035            # inner brow ends up ...
BROW_IN = 0.01             # ... and together
OUTER_BROW_DOWN = 0.01
#: Width of the field around each landmark, as a share of the face height.
SIGMA = 0.1
#: Gain on the normalised field: a weighted mean of the landmarks' moves reaches about half of each.
GAIN = 2.0
#: Strength range of :func:`saddened_copies` (drawn uniformly per face).
STRENGTHS = (0.8, 1.6)


def face_height(points: np.ndarray) -> float:
    """Chin to the middle of the brows, in pixels: the unit of every move. points: (68, 2) float32."""
    return float(np.linalg.norm(points[8] - (points[19] + points[24]) / 2))


def landmark_moves(points: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """How :func:`sadden` moves each of the 68 landmarks: (68, 2) float32 pixels (x right, y down).

    points: (68, 2) float32 landmarks of one face (:func:`aiffel_lib.faceapi_nets.find_landmarks`).
    """
    points = np.asarray(points, np.float32)
    if points.shape != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks, got shape {points.shape}")
    height = face_height(points)
    mid_x = (points[39, 0] + points[42, 0]) / 2                                   # between the inner eye corners
    move = np.zeros_like(points)
    mouth = list(MOUTH)
    centre = (points[48, 0] + points[54, 0]) / 2
    half = max((points[54, 0] - points[48, 0]) / 2, 1.0)
    u = np.clip((points[mouth, 0] - centre) / half, -1.2, 1.2)                  # -1 left corner, +1 right
    move[mouth, 1] += MOUTH_DOWN * height * strength * u ** 2
    move[mouth, 0] -= MOUTH_NARROW * height * strength * u
    inner = list(INNER_BROWS)
    move[inner, 1] -= BROW_UP * height * strength
    move[inner, 0] += BROW_IN * height * strength * np.sign(mid_x - points[inner, 0])
    move[list(OUTER_BROWS), 1] += OUTER_BROW_DOWN * height * strength
    return move


def sadden(face: np.ndarray, points: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """``face`` made sadder: mouth corners down, inner brows up and together (see the module).

    face: (S, S) uint8 gray. points: (68, 2) its landmarks in pixels. strength: 0 leaves the face
    as it is, 1 moves the mouth corners 5 % of the face height. Returns (S, S) uint8.
    The field is a normalised Gaussian mean of the landmarks' moves (the anchors' moves are 0),
    so it never overshoots and fades to nothing away from the face.
    """
    import cv2

    face = np.asarray(face)
    if face.ndim != 2 or face.dtype != np.uint8:
        raise ValueError(f"expected a gray uint8 face (S, S), got {face.shape} {face.dtype}")
    points = np.asarray(points, np.float32)
    move = landmark_moves(points, strength)
    used = sorted(set(ANCHORS) | set(np.flatnonzero(np.abs(move).sum(1))))
    centres, moves = points[used], move[used]
    sigma = max(SIGMA * face_height(points), 1.0)
    h, w = face.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xs.ravel(), ys.ravel()], 1)
    weight = np.exp(-((grid[:, None, :] - centres[None]) ** 2).sum(-1) / (2 * sigma ** 2))
    # + e^-2: a pixel two sigmas from every landmark keeps about a tenth of the nearest move, farther ones none
    field = GAIN * (weight @ moves) / (weight.sum(1, keepdims=True) + np.exp(-2.0))
    field = field.reshape(h, w, 2).astype(np.float32)
    # backward mapping: each output pixel takes the input pixel it moved from
    return cv2.remap(face, xs - field[..., 0], ys - field[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def saddened_copies(faces: np.ndarray, points: np.ndarray, share: float, seed: int = 0,
                    strengths: tuple[float, float] = STRENGTHS) -> tuple[np.ndarray, np.ndarray]:
    """A saddened copy of a random ``share`` of the faces: (copies (M, S, S) uint8, index (M,) int into faces).

    faces: (N, S, S) uint8 gray page crops; points: (N, 68, 2) their landmarks. Each picked face
    gets one strength drawn uniformly from ``strengths``.
    """
    faces, points = np.asarray(faces), np.asarray(points, np.float32)
    if len(faces) != len(points):
        raise ValueError(f"{len(faces)} faces but {len(points)} sets of landmarks")
    if not 0 <= share <= 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(faces), int(round(share * len(faces))), replace=False))
    amount = rng.uniform(*strengths, len(index))
    copies = [sadden(faces[i], points[i], s) for i, s in zip(index, amount)]
    shape = (0,) + faces.shape[1:]
    return (np.stack(copies) if copies else np.zeros(shape, np.uint8)), index
