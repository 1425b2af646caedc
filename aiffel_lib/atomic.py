"""Write files so that a crash never leaves a half-written index or model behind.

Every writer here works on a hidden temporary sibling of its target, named
``.<target name>.tmp-<pid>-<random>`` (``.old-`` for a folder being swapped
out), and moves it into place only when it is complete. A writer killed halfway
(Ctrl+C twice, a killed kernel, a power cut) leaves that sibling behind; the next
save to the same target removes the ones whose writer process is gone or that
are older than :data:`STALE_AFTER_S`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

#: A temporary sibling this old is abandoned even if its pid is alive (pids get reused).
STALE_AFTER_S = 3600.0


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_name(path: Path, kind: str = "tmp", suffix: str = "") -> Path:
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else (or cannot tell): keep its files
    return True


def stale_temporaries(path: os.PathLike | str, now: float | None = None) -> list[Path]:
    """Temporary siblings of ``path`` left by killed writers (see the module docstring).

    Ours are ``.<name>.tmp-<pid>-<hex>`` and ``.<name>.old-<pid>-<hex>`` (stale when
    that process is gone or older than :data:`STALE_AFTER_S`); the names earlier
    versions used (``.<name>.<8 random chars>[.ext]`` from ``tempfile``,
    ``.<name>.old-<pid>``) count only by age.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    name = re.escape(path.name)
    ours = re.compile(rf"\.{name}\.(?:tmp|old)-(\d+)(?:-[0-9a-f]+)?(?:\..*)?")
    # tempfile's names: prefix + 8 random characters + the suffix the writer gave (".tmp" or the
    # target's own extension); a folder has none.
    legacy = re.compile(rf"\.{name}\.[a-z0-9_]{{8}}(?:\.tmp|{re.escape(''.join(path.suffixes))})?")
    stale = []
    for entry in folder.iterdir():
        if not entry.name.startswith(f".{path.name}."):
            continue
        try:
            age = now - entry.lstat().st_mtime
        except OSError:
            continue
        match = ours.fullmatch(entry.name)
        if match:
            if age > STALE_AFTER_S or not _pid_alive(int(match.group(1))):
                stale.append(entry)
        elif legacy.fullmatch(entry.name) and age > STALE_AFTER_S:
            stale.append(entry)
    return sorted(stale)


def remove_stale_temporaries(path: os.PathLike | str) -> list[Path]:
    """Delete what :func:`stale_temporaries` finds; returns what was removed (best effort)."""
    removed = []
    for entry in stale_temporaries(path):
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_path(path: os.PathLike | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    ``suffix`` is kept on the temporary name for writers that insist on an
    extension (``np.savez`` appends ``.npz`` otherwise). Stale temporaries of
    ``path`` left by killed writers are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp_path = _temp_name(path, suffix=suffix or ".tmp")
    # O_EXCL: never follow or reuse an existing name; mode as any file the user saves.
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_umask())
    os.close(fd)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def _temp_dir_beside(path: Path) -> Iterator[Path]:
    """A new, empty temporary folder beside ``path`` (stale ones of crashed writers removed
    first); whatever of it is still there on exit is deleted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = _temp_name(path)
    tmp.mkdir(mode=0o777 & ~_umask())
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: os.PathLike | str) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; swap it in only on success.

    The WHOLE folder is replaced: only for folders whose every file the writer
    makes (e.g. ``datasets.export_pngs``). For a folder that may also hold the
    user's files, use :func:`atomic_files`. A reader sees either the old complete
    folder or the new complete one.
    """
    path = Path(path)
    with _temp_dir_beside(path) as tmp:
        yield tmp
        old = None
        if path.exists():
            old = _temp_name(path, "old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_files(folder: os.PathLike | str, owned: Callable[[str], bool], commit: str) -> Iterator[Path]:
    """Yield a temporary folder beside ``folder``; on success move its files into ``folder``.

    Only files are touched, never the folder itself: other files the user keeps
    there stay as they are. Files in ``folder`` for which ``owned(name)`` is true and
    that the new set does not contain are deleted (a previous export's extra shards).
    ``commit`` is the file that makes the set usable (``model.json`` for a tfjs
    model): the old one is removed first and the new one moved in last, so a writer
    killed halfway leaves no ``commit`` file (an incomplete, recognisable set),
    never a mix of the old one with new files. Subfolders of the temporary folder
    are not moved (use them for scratch work).
    """
    folder = Path(folder)
    with _temp_dir_beside(folder) as tmp:
        yield tmp
        new = sorted(p.name for p in tmp.iterdir() if p.is_file())
        if commit not in new:
            raise RuntimeError(f"the writer made no {commit}: nothing was replaced")
        folder.mkdir(mode=0o777 & ~_umask(), exist_ok=True)
        _replace_owned(folder, tmp, new, owned, commit)


def _replace_owned(folder: Path, tmp: Path, new: Iterable[str], owned: Callable[[str], bool], commit: str) -> None:
    new = list(new)
    with contextlib.suppress(FileNotFoundError):
        (folder / commit).unlink()  # from here until the last move, the set is visibly incomplete
    for name in new:
        if name != commit:
            os.replace(tmp / name, folder / name)
    os.replace(tmp / commit, folder / commit)
    keep = set(new)
    for old in folder.iterdir():
        if old.name not in keep and old.is_file() and owned(old.name):
            with contextlib.suppress(OSError):
                old.unlink()
