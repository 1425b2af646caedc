"""Synthetic expression faces: offline practice data in the FER2013 format.

No facial-expression data set ships in any package registry, so the course
draws its own: 48x48 gray faces in the seven FER2013 classes (see
:data:`aiffel_lib.fer.EMOTIONS`). The expression lives in three places, as in
real faces - the mouth (smile, frown, open "O", bared teeth), the brows
(raised, knitted, inner ends up) and the eyes (wide open, squinting) - and
every face varies in ways that have nothing to do with the expression:
position, size, rotation, skin tone, lighting, hair, background clutter,
brightness and contrast, blur, sensor noise, and sometimes a hand-like
occluder or sunglasses hiding part of the face. Expressions also vary in
strength: a weak "sad" is close to "neutral", which is what makes the task
learnable but not trivial.

Because the generator knows where it drew each part, it also returns the
per-image masks of the regions that carry the expression (used by notebook 06
to check that saliency maps point at the mouth, brows and eyes).

Everything is computed on whole batches of coordinate grids with NumPy (one
small OpenCV blur per image), so 10,000 faces take a few seconds. Output is a
pure function of ``(n, seed, class_freq)``, and prefix-stable: the first 100
faces of ``make_faces(1000, seed=0)`` equal ``make_faces(100, seed=0)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SIZE = 48
#: The parts of a face that carry the expression, in the order of :attr:`FaceSet.regions`.
REGIONS = ("mouth", "brows", "eyes")
#: Class frequencies of FER2013's Training rows (Angry ... Neutral): Disgust is tiny (1.5 %).
FER2013_TRAIN_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)
_CHUNK = 512  # faces drawn per batch; fixed so output never depends on n

# Expression prototypes in face units (face half-height = 1, v points down).
# Each face interpolates from NEUTRAL towards its class prototype with a random
# strength, then every parameter gets its own jitter.
_NEUTRAL = dict(eye_h=0.065, brow_raise=0.0, brow_tilt=0.0, brow_arch=0.02, brow_asym=0.0,
                mouth_w=0.24, mouth_curve=0.0, mouth_open=0.0, mouth_tilt=0.0, teeth=0.0, wrinkle=0.0)
_PROTOTYPES = [
    # 0 Angry: knitted brows (inner ends down), narrowed eyes, bared teeth / pressed mouth
    dict(eye_h=0.04, brow_raise=0.08, brow_tilt=-0.9, brow_arch=0.0, mouth_w=0.22,
         mouth_curve=-0.04, mouth_open=0.06, teeth=1.0, wrinkle=0.6),
    # 1 Disgust: one-sided raised lip, lowered brows (one more than the other), nose wrinkles
    dict(eye_h=0.035, brow_raise=0.06, brow_tilt=-0.35, brow_arch=0.0, brow_asym=0.07,
         mouth_w=0.25, mouth_curve=-0.05, mouth_open=0.03, mouth_tilt=0.2, wrinkle=1.0),
    # 2 Fear: raised brows with inner ends up, wide eyes, wide stretched open mouth
    dict(eye_h=0.13, brow_raise=-0.10, brow_tilt=0.6, brow_arch=0.02, mouth_w=0.32,
         mouth_curve=-0.04, mouth_open=0.08, teeth=1.0),
    # 3 Happy: broad smile (corners up, often open with teeth), squinting eyes
    dict(eye_h=0.028, brow_raise=-0.03, brow_arch=0.05, mouth_w=0.36, mouth_curve=0.16,
         mouth_open=0.04, teeth=1.0),
    # 4 Sad: inner brow ends up, drooping eyes, frown (corners down)
    dict(eye_h=0.045, brow_raise=-0.03, brow_tilt=0.75, brow_arch=0.0, mouth_w=0.25,
         mouth_curve=-0.15),
    # 5 Surprise: high arched brows, very wide eyes, round open "O" mouth
    dict(eye_h=0.14, brow_raise=-0.14, brow_arch=0.1, mouth_w=0.14, mouth_open=0.17),
    # 6 Neutral
    dict(),
]
# Per-parameter jitter (std in face units), independent of the class.
_JITTER = dict(eye_h=0.012, brow_raise=0.02, brow_tilt=0.12, brow_arch=0.015, brow_asym=0.01,
               mouth_w=0.03, mouth_curve=0.02, mouth_open=0.012, mouth_tilt=0.02, teeth=0.0, wrinkle=0.1)


@dataclass
class FaceSet:
    """A batch of synthetic faces.

    images: (N, 48, 48) uint8 gray, FER2013's format.
    labels: (N,) int64 class ids into :data:`aiffel_lib.fer.EMOTIONS`.
    regions: (N, 3, 48, 48) bool, the visible mouth, brows and eyes (see :data:`REGIONS`),
        each grown by about 1.5 px and minus any occluder drawn on top.
    params: per-image generation parameters, (N,) arrays: ``intensity`` (expression
        strength, 1 = prototype), ``occluded`` (a hand-like patch was drawn),
        ``sunglasses``, ``angle_deg``, ``face_px`` (face half-height in pixels), ``blur``, ``noise``.
    """

    images: np.ndarray
    labels: np.ndarray
    regions: np.ndarray
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def masks(self) -> np.ndarray:
        """(N, 48, 48) bool: union of the mouth, brows and eyes regions."""
        return self.regions.any(axis=1)

    def region(self, name: str) -> np.ndarray:
        """(N, 48, 48) bool mask of one region: ``"mouth"``, ``"brows"`` or ``"eyes"``."""
        if name not in REGIONS:
            raise ValueError(f"unknown region {name!r}; choose one of {REGIONS}")
        return self.regions[:, REGIONS.index(name)]

    def __len__(self) -> int:
        return len(self.labels)


def _class_probabilities(class_freq) -> np.ndarray:
    if class_freq is None or (isinstance(class_freq, str) and class_freq == "fer2013"):
        p = np.asarray(FER2013_TRAIN_COUNTS, float)
    elif isinstance(class_freq, str) and class_freq == "uniform":
        p = np.ones(7)
    else:
        p = np.asarray(class_freq, float)
        if p.shape != (7,) or (p < 0).any() or p.sum() <= 0:
            raise ValueError("class_freq must be 'fer2013', 'uniform' or 7 non-negative weights, "
                             f"got {class_freq!r}")
    return p / p.sum()


def make_faces(n: int, seed: int = 0, class_freq="fer2013") -> FaceSet:
    """Draw ``n`` synthetic 48x48 gray expression faces.

    n: number of faces (>= 0).
    seed: the output is a pure function of (n, seed, class_freq), and prefix-stable in n.
    class_freq: ``"fer2013"`` (default: FER2013's imbalance, Disgust 1.5 %),
        ``"uniform"``, or 7 weights for Angry ... Neutral.
    Returns a :class:`FaceSet` (images (N, 48, 48) uint8, labels (N,) int64,
    regions (N, 3, 48, 48) bool, params).
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    p = _class_probabilities(class_freq)
    chunks = []
    for k in range(-(-n // _CHUNK)):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), k]))
        chunks.append(_draw_chunk(rng, _CHUNK, p))
    if not chunks:
        return FaceSet(np.zeros((0, SIZE, SIZE), np.uint8), np.zeros(0, np.int64),
                       np.zeros((0, len(REGIONS), SIZE, SIZE), bool),
                       {k: np.zeros(0) for k in ("intensity", "occluded", "sunglasses",
                                                  "angle_deg", "face_px", "blur", "noise")})
    cat = lambda key: np.concatenate([c[key] for c in chunks])[:n]  # noqa: E731
    params = {k: np.concatenate([c["params"][k] for c in chunks])[:n] for k in chunks[0]["params"]}
    return FaceSet(cat("images"), cat("labels"), cat("regions"), params)


# ---------------------------------------------------------------- drawing helpers
def _col(a: np.ndarray) -> np.ndarray:
    """(N,) -> (N, 1, 1) so per-image parameters broadcast over the pixel grid."""
    return np.asarray(a, np.float32)[:, None, None]


def _coverage(dist_px: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage from a signed distance in pixels (negative inside)."""
    return np.clip(0.5 - dist_px, 0.0, 1.0)


def _paint(img: np.ndarray, alpha: np.ndarray, value) -> np.ndarray:
    return img + alpha * (value - img)


def _ellipse_dist(u, v, cu, cv, au, av, scale):
    """Approximate signed distance (pixels) to an axis-aligned ellipse in face units."""
    r = np.sqrt(((u - cu) / au) ** 2 + ((v - cv) / av) ** 2)
    return (r - 1.0) * np.minimum(au, av) * scale


def _draw_chunk(rng: np.random.Generator, n: int, p: np.ndarray) -> dict:
    labels = rng.choice(7, size=n, p=p).astype(np.int64)
    u01 = lambda lo, hi: rng.uniform(lo, hi, n).astype(np.float32)  # noqa: E731

    # --- expression parameters: neutral + strength * (prototype - neutral) + jitter
    intensity = u01(0.7, 1.25)
    expr = {}
    for key, base in _NEUTRAL.items():
        proto = np.array([_PROTOTYPES[c].get(key, base) for c in range(7)], np.float32)
        val = base + intensity * (proto[labels] - base)
        expr[key] = (val + rng.normal(0, _JITTER[key], n)).astype(np.float32)
    expr["eye_h"] = np.maximum(expr["eye_h"], 0.022)
    expr["mouth_open"] = np.maximum(expr["mouth_open"], 0.0)
    expr["mouth_w"] = np.maximum(expr["mouth_w"], 0.1)
    # Happy mouths are open (teeth) only about half the time; disgust is left or right.
    closed_smile = (labels == 3) & (rng.random(n) < 0.5)
    expr["mouth_open"][closed_smile] = 0.0
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32)
    expr["mouth_tilt"] *= side
    expr["brow_asym"] *= side

    # --- geometry: face centre, size, rotation, aspect
    face_px = u01(17.0, 23.5)                         # face half-height in pixels
    cx, cy = 24 + rng.normal(0, 2.2, n), 25 + rng.normal(0, 2.2, n)
    angle = rng.normal(0, 9, n).clip(-22, 22)
    aspect = u01(0.74, 0.88)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    dx, dy = xx[None] - _col(cx), yy[None] - _col(cy)
    t = np.deg2rad(angle)
    S = _col(face_px)
    u = (dx * _col(np.cos(t)) + dy * _col(np.sin(t))) / S
    v = (-dx * _col(np.sin(t)) + dy * _col(np.cos(t))) / S
    abs_u = np.abs(u)

    # --- background: a gradient plus clutter (bars, blobs) in image coordinates
    bg = _col(u01(0.1, 0.9)) + _col(rng.normal(0, 0.15, n)) * (xx[None] - 24) / 24 \
        + _col(rng.normal(0, 0.15, n)) * (yy[None] - 24) / 24
    img = np.broadcast_to(bg, (n, SIZE, SIZE)).astype(np.float32).copy()
    for _ in range(4):
        present = rng.random(n) < 0.5
        kx, ky = _col(rng.uniform(0, SIZE, n)), _col(rng.uniform(0, SIZE, n))
        w, h = _col(rng.uniform(2, 16, n)), _col(rng.uniform(2, 16, n))
        round_ = _col(rng.random(n) < 0.5)
        d_rect = np.maximum(np.abs(xx - kx) - w, np.abs(yy - ky) - h)
        d_ell = (np.sqrt(((xx - kx) / w) ** 2 + ((yy - ky) / h) ** 2) - 1) * np.minimum(w, h)
        alpha = _coverage(np.where(round_ > 0, d_ell, d_rect)) * _col(present)
        img = _paint(img, alpha, _col(rng.uniform(0, 1, n)))

    # --- head: hair behind, neck, ears, face with directional shading
    skin = _col(u01(0.35, 0.88))
    feature = skin * _col(u01(0.1, 0.35))            # dark features, relative to the skin
    hair_tone = _col(u01(0.02, 0.5))
    has_hair = _col(rng.random(n) < 0.7)
    hair_d = _ellipse_dist(u, v, 0, -0.12, _col(aspect) * 1.12, 1.1, S)
    hairline = _col(u01(-0.78, -0.55)) + 0.06 * np.cos(u * _col(u01(3, 9)))
    img = _paint(img, _coverage(hair_d) * has_hair * ((v < 0.1) | (v < hairline)), hair_tone)
    neck = np.maximum(np.abs(u) - 0.42, 0.75 - v) * S
    img = _paint(img, _coverage(neck), skin * 0.8)
    ears = np.minimum(_ellipse_dist(u, v, _col(aspect), -0.05, 0.12, 0.2, S),
                      _ellipse_dist(u, v, -_col(aspect), -0.05, 0.12, 0.2, S))
    img = _paint(img, _coverage(ears), skin * 0.9)
    light = _col(rng.uniform(0, 2 * np.pi, n))
    shade = 1 + _col(u01(0.0, 0.35)) * (u * np.cos(light) + v * np.sin(light))
    face_alpha = _coverage(_ellipse_dist(u, v, 0, 0, _col(aspect), 1.0, S))
    img = _paint(img, face_alpha, skin * shade)
    img = _paint(img, _coverage(hair_d) * has_hair * (v < hairline), hair_tone)   # fringe over the forehead

    # --- eyes: dark ellipses whose height is the openness, with a light glint
    E = {k: _col(val) for k, val in expr.items()}
    eye_y = _col(u01(-0.2, -0.1))
    eye_x = _col(u01(0.28, 0.36))
    eye_d = _ellipse_dist(abs_u, v, eye_x, eye_y, 0.14, E["eye_h"], S)
    eye_alpha = _coverage(eye_d)
    img = _paint(img, eye_alpha, feature)
    glint = _coverage(_ellipse_dist(abs_u, v, eye_x + 0.03, eye_y - E["eye_h"] * 0.3, 0.03, 0.03, S))
    img = _paint(img, glint * (E["eye_h"] > 0.07) * 0.7, skin * 1.1)

    # --- brows: thick curves above the eyes; tilt > 0 lifts the inner ends, arch lifts the middle
    bu = abs_u - (eye_x - 0.02)
    brow_v = eye_y - 0.19 + E["brow_raise"] + E["brow_tilt"] * bu - E["brow_arch"] * (1 - (bu / 0.16) ** 2) \
        + E["brow_asym"] * np.sign(u)
    brow_d = np.maximum(np.abs(v - brow_v) - 0.05, np.abs(bu) - 0.16) * S
    img = _paint(img, _coverage(brow_d), feature * 0.9)

    # --- nose (not expressive) and disgust/anger wrinkles beside it
    nose_d = np.maximum(np.abs(u + 0.04 * (v - 0.15)) - 0.02, np.abs(v - 0.08) - 0.12) * S
    img = _paint(img, _coverage(nose_d) * 0.35, feature)
    wr_v = np.minimum(np.abs(v - 0.02), np.abs(v - 0.09))
    wrinkle_d = np.maximum(wr_v - 0.014, np.abs(abs_u - 0.13) - 0.06) * S
    img = _paint(img, _coverage(wrinkle_d) * np.clip(E["wrinkle"], 0, 1) * 0.8, feature)

    # --- mouth: a curve (smile > 0 lowers the middle), thickened by the opening; teeth inside
    mouth_y = _col(u01(0.42, 0.52))
    mu = u / E["mouth_w"]
    mouth_v = mouth_y + E["mouth_curve"] * (1 - mu ** 2) + E["mouth_tilt"] * mu * -1
    half = 0.03 + E["mouth_open"] * np.sqrt(np.clip(1 - mu ** 2, 0, 1))
    mouth_d = np.maximum(np.abs(v - mouth_v) - half, np.abs(u) - E["mouth_w"]) * S
    mouth_alpha = _coverage(mouth_d)
    img = _paint(img, mouth_alpha, feature * 0.7)
    teeth_on = (E["teeth"] > 0.5) & (E["mouth_open"] > 0.03)
    teeth_d = np.maximum(np.abs(v - (mouth_v - half * 0.45)) - half * 0.35, np.abs(u) - E["mouth_w"] * 0.7) * S
    img = _paint(img, _coverage(teeth_d) * mouth_alpha * teeth_on, np.minimum(skin * 1.4, 1.0))

    # --- region masks, before occluders: the drawn parts grown by ~1.5 px
    regions = np.stack([mouth_d < 1.5, brow_d < 1.5, eye_d < 1.5], axis=1)

    # --- occlusion: sunglasses, or a hand-like patch anywhere over the face
    sunglasses = rng.random(n) < 0.06
    sg_d = np.minimum(_ellipse_dist(abs_u, v, eye_x, eye_y, 0.2, 0.14, S),
                      np.maximum(np.abs(v - eye_y) - 0.02, abs_u - eye_x) * S)
    sg_alpha = _coverage(sg_d) * _col(sunglasses)
    img = _paint(img, sg_alpha, _col(u01(0.0, 0.15)))
    occluded = rng.random(n) < 0.15
    ox, oy = _col(cx + rng.normal(0, 9, n)), _col(cy + rng.normal(0, 9, n))
    ow, oh = _col(rng.uniform(3.5, 9, n)), _col(rng.uniform(3.5, 9, n))
    occ_alpha = _coverage(np.maximum(np.abs(xx - ox) - ow, np.abs(yy - oy) - oh)) * _col(occluded)
    occ_tone = _col(u01(0.1, 0.95)) + 0.05 * np.sin(xx * _col(u01(0.5, 1.5)))
    img = _paint(img, occ_alpha, occ_tone)
    regions &= ~((occ_alpha + sg_alpha) > 0.5)[:, None]

    # --- camera: contrast, brightness, gamma, blur, noise, 8-bit
    img = (img - 0.5) * _col(u01(0.55, 1.25)) + 0.5 + _col(u01(-0.15, 0.15))
    img = np.clip(img, 0, 1) ** _col(np.exp(rng.normal(0, 0.2, n)))
    blur = u01(0.0, 1.1)
    import cv2  # OpenCV's blur is exact and fast; imported here to keep module import light

    for i in np.flatnonzero(blur > 0.3):
        img[i] = cv2.GaussianBlur(img[i], (0, 0), float(blur[i]))
    noise = u01(0.0, 0.04)
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * _col(noise)
    images = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)

    params = dict(intensity=intensity, occluded=occluded, sunglasses=sunglasses,
                  angle_deg=angle.astype(np.float32), face_px=face_px, blur=blur, noise=noise)
    return dict(images=images, labels=labels, regions=regions, params=params)


def plot_examples(faces: FaceSet, per_class: int = 1, show_regions: bool = True):
    """One row of faces per example set, one column per class; below each row the
    expression regions (red mouth, green brows, blue eyes) over the face. Returns the figure."""
    from .display import image_grid
    from .fer import EMOTIONS

    picks = [np.flatnonzero(faces.labels == k)[:per_class] for k in range(len(EMOTIONS))]
    rows = per_class * (2 if show_regions else 1)
    cells: list = [None] * (rows * len(EMOTIONS))
    titles = [""] * len(cells)
    for k, idx in enumerate(picks):
        titles[k] = f"{k} {EMOTIONS[k]}"
        for j, i in enumerate(idx):
            r = j * (2 if show_regions else 1)
            cells[r * len(EMOTIONS) + k] = faces.images[i]
            if show_regions:
                rgb = np.repeat(faces.images[i][..., None], 3, axis=2) / 255.0 * 0.6
                for c in range(3):
                    rgb[..., c] = np.where(faces.regions[i, c], 1.0, rgb[..., c])
                cells[(r + 1) * len(EMOTIONS) + k] = rgb
    return image_grid(cells, titles, cols=len(EMOTIONS), size=(1.1, 1.2), cmap="gray", vmin=0, vmax=255)
