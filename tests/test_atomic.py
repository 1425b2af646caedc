"""Atomic writes: a crash never leaves a half file, a re-export never deletes the user's files,
and temporaries left by killed writers are cleaned up on the next save."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from aiffel_lib import atomic


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def age(path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "index.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target, suffix=".npz") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    with atomic.atomic_path(target, suffix=".npz") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".index.npz.tmp-") and tmp.suffix == ".npz"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.npz"]


def test_stale_temporaries_of_killed_writers_are_removed_on_the_next_save(tmp_path):
    target = tmp_path / "model.keras"
    dead, alive = dead_pid(), os.getpid()
    junk = [tmp_path / f".model.keras.tmp-{dead}-0badc0de.keras",            # killed writer
            tmp_path / f".model.keras.tmp-{alive}-00000001.keras"]           # alive but 2 h old
    for j in junk:
        j.write_bytes(b"x" * 1000)
    age(junk[1], 7200)
    legacy = tmp_path / ".model.keras.k3j_x9ab.keras"                        # old tempfile name, 2 h
    legacy.write_bytes(b"x")
    age(legacy, 7200)
    killed_dir = tmp_path / f".model.keras.old-{dead}"                       # a folder swap's leftover
    (killed_dir / "sub").mkdir(parents=True)
    (killed_dir / "sub" / "big.bin").write_bytes(b"x" * 5000)
    keep = [tmp_path / f".model.keras.tmp-{alive}-00000002.keras",           # a writer at work right now
            tmp_path / ".model.keras.k3j_x9zz.keras",                        # legacy but recent
            tmp_path / ".model.keras.notes.txt",                             # the user's own hidden file
            tmp_path / f".other.npz.tmp-{dead}-0badc0de.npz",                # another target's (its next save)
            tmp_path / "model.keras.bak"]
    for k in keep:
        k.write_bytes(b"keep")
    age(keep[2], 7200)
    assert atomic.stale_temporaries(target) == sorted(junk + [legacy, killed_dir])
    with atomic.atomic_path(target, suffix=".keras") as tmp:
        tmp.write_bytes(b"model")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([target.name] + [k.name for k in keep])


def test_atomic_dir_and_atomic_files_clean_up_after_killed_exports(tmp_path):
    folder = tmp_path / "face2emoji"
    dead = dead_pid()
    stale = tmp_path / f".face2emoji.tmp-{dead}-12345678"
    (stale / ".saved_model").mkdir(parents=True)
    (stale / ".saved_model" / "variables.data").write_bytes(b"x" * 10_000)
    with atomic.atomic_files(folder, owned=lambda n: n.endswith(".bin"), commit="model.json") as tmp:
        (tmp / "model.json").write_text("{}")
    assert not stale.exists()
    stale.mkdir()
    with atomic.atomic_dir(tmp_path / "pngs") as tmp:
        (tmp / "a.png").write_bytes(b"png")
    assert stale.exists(), "a save cleans only its own target's temporaries"
    with atomic.atomic_dir(folder) as tmp:
        (tmp / "model.json").write_text("{}")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face2emoji", "pngs"]


def test_atomic_files_replaces_only_owned_files_and_commits_last(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name, text in {"model.json": "old", "w1.bin": "old", "w2.bin": "old extra shard",
                       "notes.txt": "mine", "README.md": "mine"}.items():
        (folder / name).write_text(text)
    (folder / "data").mkdir()
    (folder / "data" / "faces.csv").write_text("mine")
    owned = lambda name: name == "model.json" or name.endswith(".bin")  # noqa: E731
    with atomic.atomic_files(folder, owned, commit="model.json") as tmp:
        (tmp / "model.json").write_text("new")
        (tmp / "w1.bin").write_text("new")
        (tmp / "scratch").mkdir()  # scratch subfolders are not moved
        (tmp / "scratch" / "x").write_text("scratch")
    files = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert files == {"model.json": "new", "w1.bin": "new", "notes.txt": "mine", "README.md": "mine",
                     "data/faces.csv": "mine"}
    # A writer that fails changes nothing; one that makes no commit file is refused.
    with pytest.raises(RuntimeError, match="crash"):
        with atomic.atomic_files(folder, owned, commit="model.json") as tmp:
            (tmp / "model.json").write_text("newer")
            raise RuntimeError("crash")
    with pytest.raises(RuntimeError, match="made no model.json"):
        with atomic.atomic_files(folder, owned, commit="model.json") as tmp:
            (tmp / "w1.bin").write_text("newer")
    assert {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()} == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_writer_killed_while_moving_files_leaves_no_commit_file(tmp_path):
    """SIGKILL between two moves: the old model.json must not sit beside the new shards."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text("old")
    (folder / "w1.bin").write_text("old")
    (folder / "notes.txt").write_text("mine")
    script = f"""
import os
from pathlib import Path
from aiffel_lib import atomic
real = os.replace
def replace(src, dst):
    if Path(dst).name == "model.json":
        os._exit(9)  # killed right before the commit: no cleanup runs
    real(src, dst)
atomic.os.replace = replace
with atomic.atomic_files({str(folder)!r}, lambda n: n.endswith(".bin") or n == "model.json", "model.json") as tmp:
    (tmp / "model.json").write_text("new")
    (tmp / "w1.bin").write_text("new")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 9, out.stderr
    assert not (folder / "model.json").exists(), "old model.json left beside new weights"
    assert (folder / "notes.txt").read_text() == "mine"
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".model.tmp-")]
    assert len(leftovers) == 1  # the killed writer's staging folder, until the next export
    with atomic.atomic_files(folder, lambda n: n.endswith(".bin") or n == "model.json", "model.json") as tmp:
        (tmp / "model.json").write_text("again")
        (tmp / "w1.bin").write_text("again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert (folder / "model.json").read_text() == "again" and (folder / "notes.txt").read_text() == "mine"
