"""Where the course keeps things: the repository, the user cache, generated output.

Every file a notebook writes goes under one of these folders, so the names are
predictable and git ignores them.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root (the folder holding ``notebooks/`` and ``html/``).
REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
HTML_DIR = REPO_ROOT / "html"
#: Exported web models live here so the pages in ``html/`` find them (git-ignored).
WEB_MODELS_DIR = HTML_DIR / "models"
#: Executed notebooks, figures and other run output (git-ignored).
BUILD_DIR = REPO_ROOT / "build"
#: What the notebooks write as they run: exported images, saved indexes, demo videos (git-ignored).
OUTPUT_DIR = NOTEBOOKS_DIR / "output"
#: Notebook 02's image folder: the data set written out as PNG files, the course's ``images`` folder.
OUTPUT_IMAGES_DIR = OUTPUT_DIR / "images"


def output_path(*parts: str) -> Path:
    """A path under :data:`OUTPUT_DIR`, its folder created on demand: ``output_path("index.npz")``."""
    path = OUTPUT_DIR.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(*parts: str) -> Path:
    """The user's cache folder for this course, created on demand.

    ``$AIFFEL_CACHE`` wins; otherwise ``$XDG_CACHE_HOME/aiffel_lib`` or
    ``~/.cache/aiffel_lib``. Downloads and converted weights are kept here so
    they happen once per machine, not once per notebook run.
    """
    base = os.environ.get("AIFFEL_CACHE")
    if base:
        root = Path(base)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "aiffel_lib"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def display_path(path: os.PathLike | str) -> str:
    """``path`` relative to the repository (or ``~``) for printing in notebooks.

    Notebook outputs are committed, so they must not carry machine-specific
    absolute paths.
    """
    p = Path(path).resolve()
    for base, label in ((REPO_ROOT, ""), (Path.home().resolve(), "~/")):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return f"{label}{rel.as_posix()}" if label else rel.as_posix()
    return p.name
