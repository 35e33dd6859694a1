"""CSV output: one time column and one column per lead."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_directory, check_writable, commit_files


def write_csv(
    path: str | os.PathLike[str],
    signal: np.ndarray,
    *,
    fs: float,
    lead_names: tuple[str, ...],
    overwrite: bool = False,
) -> Path:
    """Write ``path.csv`` (a ``.csv`` suffix is added if absent), atomically.

    Columns: ``time_s`` then one column per lead in mV with 4 decimals (0.1 µV); a sample that
    is NaN (not drawn) is an empty field.
    """
    p = Path(path)
    if p.suffix.lower() != ".csv":
        p = p.with_name(p.name + ".csv")
    check_writable([p], overwrite=overwrite)
    t = np.arange(signal.shape[0]) / fs
    lines = [",".join(("time_s", *lead_names))]
    for ti, row in zip(t, signal, strict=True):
        fields = [f"{ti:.6f}"] + ["" if not np.isfinite(v) else f"{v:.4f}" for v in row]
        lines.append(",".join(fields))
    with atomic_directory(p.parent) as tmp:
        (tmp / p.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        commit_files(tmp, [p.name], p.parent)
    return p
