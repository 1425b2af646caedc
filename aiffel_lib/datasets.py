"""Course data sets, real when they can be had, embedded when offline.

CIFAR-100 (notebook 02, the course's histogram search)
    :func:`load_cifar100` goes through the real Keras loader
    (``keras.datasets.cifar100.load_data``) when its archive is in the Keras
    cache or the download site is reachable. Every archive is checked against
    :data:`REGISTRY` (URL + SHA-256, d2l style) before a byte of it is parsed.
    :func:`offline_gallery` is the embedded default: several thousand 32x32
    crops cut from the real photos shipped in scikit-image and scikit-learn,
    labelled by their source photo, identical on every machine.
    :func:`cifar100_or_gallery` picks one and says which; :func:`export_pngs`
    writes either out as PNG files named as the course names them.

About pickles: the CIFAR-100 "python version" archive stores pickled dicts.
This module never unpickles a file whose SHA-256 does not match the registry,
and even then only with an unpickler that can build NumPy arrays and nothing
else (no callables), as Keras's own loader does.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import numpy as np

from aiffel_lib.atomic import atomic_dir
from aiffel_lib.downloads import keras_home, reachable, sha256sum
from aiffel_lib.paths import cache_dir, display_path


# ---------------------------------------------------------------------------------------
# CIFAR-100
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemoteFile:
    """A downloadable file and the SHA-256 it must have."""

    url: str
    sha256: str


#: Every file this module may download or parse, with its checksum.
#: The CIFAR-100 hash is the one ``keras.datasets.cifar100.load_data`` checks.
REGISTRY: dict[str, RemoteFile] = {
    "cifar-100-python.tar.gz": RemoteFile(
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
}
CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"
#: Keras 3 stores the archive as ``<keras home>/datasets/cifar-100-python-target_archive``.
KERAS_CIFAR100_FNAME = "cifar-100-python-target"


@dataclass(frozen=True)
class ImageSet:
    """A labelled set of small images, kept in OpenCV's channel order.

    images: (N, H, W, 3) uint8 BGR.
    names: N unique file names (``"bos_taurus_s_000507.png"``), in the order of ``images``.
    labels: N class names (CIFAR-100 fine label, or the source photo of a gallery crop).
    source: one line saying where the images came from (printed by the notebooks).
    kind: ``"cifar100"`` or ``"gallery"``.
    """

    images: np.ndarray
    names: tuple[str, ...]
    labels: tuple[str, ...]
    source: str
    kind: str

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be (N, H, W, 3) uint8, got {self.images.shape} {self.images.dtype}")
        if len(self.names) != n or len(self.labels) != n:
            raise ValueError(f"{n} images but {len(self.names)} names and {len(self.labels)} labels")
        if len(set(self.names)) != n:
            raise ValueError("image names must be unique")

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        n_labels = len(set(self.labels))
        shape = "x".join(map(str, self.images.shape[1:3]))
        return f"ImageSet({self.kind}: {len(self)} images {shape}, {n_labels} labels; {self.source})"

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """(name, BGR image) pairs, the form ``HistogramIndex.build`` accepts."""
        return zip(self.names, self.images)

    def label_of(self) -> dict[str, str]:
        """name -> label."""
        return dict(zip(self.names, self.labels))

    def label_counts(self) -> dict[str, int]:
        """label -> number of images, labels sorted by name."""
        values, counts = np.unique(np.asarray(self.labels), return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts)}


def verify(path: os.PathLike | str, key: str = CIFAR100_ARCHIVE) -> bool:
    """True when ``path`` exists and its SHA-256 is the registry's for ``key``."""
    path = Path(path)
    return path.is_file() and sha256sum(path) == REGISTRY[key].sha256


def cifar100_candidates() -> list[Path]:
    """Where a CIFAR-100 archive may already be: Keras 3's cache name, Keras 2's, the course cache."""
    datasets = keras_home() / "datasets"
    return [datasets / f"{KERAS_CIFAR100_FNAME}_archive",
            datasets / CIFAR100_ARCHIVE,
            cache_dir("cifar-100") / CIFAR100_ARCHIVE]


def find_cifar100_archive() -> Path | None:
    """The first cached CIFAR-100 archive whose SHA-256 matches :data:`REGISTRY`, or None.

    A file with the right name but the wrong hash (truncated download, tampered
    file) is ignored, never parsed.
    """
    for candidate in cifar100_candidates():
        if candidate.is_file() and verify(candidate):
            return candidate
    return None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and NumPy arrays; refuses every other global.

    A pickle can name any importable callable (``os.system``...) and have it
    called while loading; CIFAR-100's files only need NumPy's array rebuilders.
    """

    ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                         ("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct")})

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: the CIFAR-100 files contain "
                                     "only NumPy arrays, this file is corrupted or malicious")


def _read_member(archive: Path, member: str) -> dict:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            f = tar.extractfile(f"cifar-100-python/{member}")
            if f is None:
                raise KeyError(member)
            raw = _NumpyOnlyUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except KeyError:
        raise ValueError(f"{display_path(archive)} has no cifar-100-python/{member}: "
                         "it is not the CIFAR-100 python archive") from None
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError) as exc:
        if isinstance(exc, pickle.UnpicklingError) and "refusing" in str(exc):
            raise
        raise ValueError(f"{display_path(archive)} is not a readable CIFAR-100 archive "
                         f"({type(exc).__name__}: {exc}): delete it and download it again") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{display_path(archive)}: cifar-100-python/{member} holds a {type(raw).__name__}, "
                         "not the expected dict")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def parse_cifar100_archive(archive: os.PathLike | str, split: str = "train",
                           key: str | None = CIFAR100_ARCHIVE) -> dict:
    """Read one split of a CIFAR-100 python archive without extracting it.

    key: registry entry the archive must match (None skips the check; tests use
        that for small hand-made archives).
    Returns ``{"images_rgb": (N, 32, 32, 3) uint8, "fine_labels": (N,) int,
    "filenames": list[str], "fine_label_names": list[str]}``.
    """
    archive = Path(archive)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not archive.is_file():
        raise FileNotFoundError(f"no CIFAR-100 archive at {display_path(archive)}: "
                                "datasets.load_cifar100() finds or downloads it")
    if key is not None and not verify(archive, key):
        raise ValueError(f"{display_path(archive)} does not have the SHA-256 of {key} "
                         f"({REGISTRY[key].sha256[:12]}...): delete it and download it again")
    data = _read_member(archive, split)
    meta = _read_member(archive, "meta")
    pixels = np.asarray(data["data"], dtype=np.uint8)
    # Each row is 1024 red, then 1024 green, then 1024 blue values (row-major 32x32 planes).
    images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return {"images_rgb": np.ascontiguousarray(images),
            "fine_labels": np.asarray(data["fine_labels"], dtype=np.int64),
            "filenames": [f.decode() if isinstance(f, bytes) else str(f) for f in data["filenames"]],
            "fine_label_names": [n.decode() if isinstance(n, bytes) else str(n)
                                 for n in meta["fine_label_names"]]}


def _keras_download() -> Path:
    """Download through Keras's own loader machinery into Keras's cache; return the archive."""
    import keras  # heavy (imports TensorFlow): only on this path

    entry = REGISTRY[CIFAR100_ARCHIVE]
    keras.utils.get_file(fname=KERAS_CIFAR100_FNAME, origin=entry.url, extract=True,
                         file_hash=entry.sha256)
    archive = find_cifar100_archive()
    if archive is None:
        raise OSError("Keras reported a download but no verified CIFAR-100 archive is in its cache")
    return archive


def load_cifar100(split: str = "train", download: bool = True, verbose: bool = True) -> ImageSet | None:
    """CIFAR-100 through the real Keras loader, or None when it is neither cached nor reachable.

    split: ``"train"`` (50,000 images, as the course) or ``"test"`` (10,000).
    download: allow a download (169 MB) when no verified archive is cached and the
        site answers. Returns None (never raises) when offline.
    Pixels and labels come from ``keras.datasets.cifar100.load_data()`` when the
    archive sits in Keras's cache; the file names and class names, which that
    loader drops, are read from the same verified archive.
    Returns an :class:`ImageSet` with BGR images and fine-label class names.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    say = print if verbose else (lambda *a, **k: None)
    archive = find_cifar100_archive()
    if archive is None and download:
        entry = REGISTRY[CIFAR100_ARCHIVE]
        if not reachable(entry.url):
            say(f"CIFAR-100: not cached and {urlsplit(entry.url).hostname} is not reachable")
            return None
        try:
            archive = _keras_download()
        except Exception as exc:  # any download failure means: use the offline default
            say(f"CIFAR-100: download failed ({type(exc).__name__}: {exc})")
            return None
    if archive is None:
        say("CIFAR-100: no verified archive in the Keras cache (~/.keras/datasets) or the course cache")
        return None
    parsed = parse_cifar100_archive(archive, split)
    images_rgb, labels = parsed["images_rgb"], parsed["fine_labels"]
    how = f"archive {display_path(archive)} (SHA-256 verified)"
    if archive.name == f"{KERAS_CIFAR100_FNAME}_archive":
        try:
            import keras

            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar100.load_data(label_mode="fine")
            x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
            if not np.array_equal(x, images_rgb) or not np.array_equal(y.reshape(-1), labels):
                raise ValueError("Keras's arrays differ from the archive's")
            images_rgb, labels = x, y.reshape(-1)
            how = "keras.datasets.cifar100.load_data() (Keras cache, SHA-256 verified)"
        except Exception as exc:  # fall back to the verified archive itself
            say(f"CIFAR-100: Keras loader unavailable ({type(exc).__name__}); reading the verified archive")
    names = parsed["fine_label_names"]
    return ImageSet(images=np.ascontiguousarray(images_rgb[..., ::-1]), names=tuple(parsed["filenames"]),
                    labels=tuple(names[i] for i in labels), source=f"CIFAR-100 {split} via {how}",
                    kind="cifar100")


# ---------------------------------------------------------------------------------------
# The embedded offline gallery
# ---------------------------------------------------------------------------------------

#: Source photos of the gallery: 9 colour photos and 7 gray ones (all shipped in packages).
GALLERY_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                  "immunohistochemistry", "retina", "china", "flower",
                  "camera", "coins", "brick", "grass", "gravel", "moon", "page")


def _count(value, what: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools and fractions refused), ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be a whole number >= {minimum}, got {value!r:.60}")
    return int(value)


def gallery_crops(photo_bgr: np.ndarray, n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` random square crops of one photo, each shrunk to ``size`` x ``size``.

    photo_bgr: (H, W, 3) uint8. Crop sides are uniform between ``size`` and a third
    of the photo's shorter side, so the gallery mixes close-ups and wider views
    (as CIFAR's objects vary in scale). Deterministic for a given ``seed``.
    Returns (n, size, size, 3) uint8.
    """
    import cv2

    photo_bgr = np.asarray(photo_bgr)
    if photo_bgr.ndim != 3 or photo_bgr.shape[2] != 3 or photo_bgr.dtype != np.uint8:
        raise ValueError(f"photo_bgr must be (H, W, 3) uint8, got {photo_bgr.shape} {photo_bgr.dtype}")
    n, size = _count(n, "n", 0), _count(size, "size", 1)
    h, w = photo_bgr.shape[:2]
    if min(h, w) < size:
        raise ValueError(f"a {w}x{h} photo is smaller than the {size}x{size} crops asked for")
    largest = max(size, min(h, w) // 3)
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        side = int(rng.integers(size, largest + 1))
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        crop = photo_bgr[y:y + side, x:x + side]
        # INTER_AREA averages the pixels a small image stands for (no aliasing).
        out[i] = crop if side == size else cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out


def offline_gallery(per_photo: int = 300, size: int = 32, seed: int = 0,
                    photos: tuple[str, ...] = GALLERY_PHOTOS) -> ImageSet:
    """The embedded default for CIFAR-100: crops of real photos, labelled by photo.

    per_photo: crops per photo (default 300 x 16 photos = 4,800 images).
    Names follow CIFAR's pattern, ``<label>_s_<number>.png`` (``chelsea_s_000012.png``).
    Returns an :class:`ImageSet` (BGR), the same on every machine with the pinned packages.
    """
    from aiffel_lib.photos import load_photo

    per_photo = _count(per_photo, "per_photo", 1)
    images, names, labels = [], [], []
    for k, photo in enumerate(photos):
        # One seed per photo so adding a photo does not change the crops of the others.
        images.append(gallery_crops(load_photo(photo, "bgr"), per_photo, size, seed=seed * 1000 + k))
        names += [f"{photo}_s_{i:06d}.png" for i in range(per_photo)]
        labels += [photo] * per_photo
    return ImageSet(images=np.concatenate(images), names=tuple(names), labels=tuple(labels),
                    source=f"offline gallery: {per_photo} crops x {len(photos)} scikit-image/scikit-learn photos",
                    kind="gallery")


def cifar100_or_gallery(download: bool = True, verbose: bool = True, per_photo: int = 300) -> ImageSet:
    """CIFAR-100 train through Keras when cached or reachable, else the offline gallery.

    Prints one line saying which was used (notebooks show it).
    """
    data = load_cifar100("train", download=download, verbose=verbose)
    if data is None:
        data = offline_gallery(per_photo=per_photo)
    if verbose:
        print(f"using {data!r}")
    return data


def export_pngs(data: ImageSet, folder: os.PathLike | str, progress: bool = False) -> Path:
    """Write every image of ``data`` to ``folder/<name>`` as PNG (the course's image folder).

    Reuses the folder when a previous export of the same images completed
    (checked through a manifest holding a digest of names and pixels); otherwise
    writes into a temporary folder and swaps it in, so an interrupted export never
    leaves a half-filled folder that looks complete. A folder holding files it did
    not write is refused (ValueError), since the swap would delete them. Returns the folder.
    """
    import cv2

    if not isinstance(data, ImageSet):
        raise ValueError(f"data must be a datasets.ImageSet (e.g. from cifar100_or_gallery()), "
                         f"got {type(data).__name__}")
    folder = Path(folder)
    digest = hashlib.sha256()
    digest.update("\n".join(data.names).encode())
    digest.update(np.ascontiguousarray(data.images).data)
    manifest = {"count": len(data), "sha256": digest.hexdigest(), "source": data.source}
    # A dot-file: folder readers (HistogramIndex.build) skip hidden files.
    marker = folder / ".manifest.json"
    with contextlib.suppress(OSError, ValueError):
        if json.loads(marker.read_text()) == manifest:
            return folder
    # The folder is replaced as a whole: never one that holds files this function did not write.
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not marker.exists())):
        what = "is a file" if not folder.is_dir() else "holds files export_pngs did not write (no .manifest.json)"
        raise ValueError(f"refusing to write the PNGs into {display_path(folder)}: it {what}. "
                         "Choose a new folder; export_pngs replaces its folder as a whole.")
    iterator = zip(data.names, data.images)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(data), desc="writing PNGs")
    with atomic_dir(folder) as tmp:
        for name, image in iterator:
            if not cv2.imwrite(str(tmp / name), image):
                raise OSError(f"could not write {name}")
        (tmp / ".manifest.json").write_text(json.dumps(manifest))
    return folder
