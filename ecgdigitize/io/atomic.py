"""Atomic file output: write to a temporary name in the target folder, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_directory(target_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside `target_dir`'s files; on success, nothing is moved.

    The caller writes its files into the yielded folder and then moves them with
    :func:`commit_files`. The folder is removed afterwards whatever happens, so an interrupted
    write never leaves a half-written file under its final name.
    """
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ecgdigitize-tmp-", dir=target))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def commit_files(tmp_dir: Path, names: list[str], target_dir: str | os.PathLike[str]) -> None:
    """Move `names` from `tmp_dir` into `target_dir` with :func:`os.replace` (atomic per file).

    Files are moved in the order given: put the file that marks a record complete (a WFDB
    header) last.
    """
    for name in names:
        os.replace(tmp_dir / name, Path(target_dir) / name)


def check_writable(paths: list[Path], *, overwrite: bool) -> None:
    """Raise :class:`FileExistsError` if any of `paths` exists and `overwrite` is false."""
    if overwrite:
        return
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise FileExistsError(
            f"{existing[0]} already exists; pass --overwrite (overwrite=True) to replace it"
        )
