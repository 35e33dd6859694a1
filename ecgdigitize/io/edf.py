"""EDF+ output via the edfio library."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_directory, check_writable, commit_files


def write_edf(
    path: str | os.PathLike[str],
    signal: np.ndarray,
    *,
    fs: float,
    lead_names: tuple[str, ...],
    annotations: list[tuple[float, float, str]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``path.edf`` (EDF+C, mV, 16-bit), atomically.

    EDF has no missing-value marker, so samples that are NaN (not drawn) are written as 0 mV;
    `annotations` — ``(onset_s, duration_s, text)``, e.g. each lead's drawn window — say which
    stretches hold signal.
    """
    from edfio import Edf, EdfAnnotation, EdfSignal

    p = Path(path)
    if p.suffix.lower() != ".edf":
        p = p.with_name(p.name + ".edf")
    check_writable([p], overwrite=overwrite)
    signals = []
    for j, name in enumerate(lead_names):
        x = np.nan_to_num(np.asarray(signal[:, j], dtype=np.float64), nan=0.0)
        lo, hi = float(min(x.min(), -1.0)), float(max(x.max(), 1.0))
        signals.append(
            EdfSignal(x, fs, label=name, physical_dimension="mV", physical_range=(lo, hi))
        )
    edf = Edf(signals, annotations=[EdfAnnotation(o, d, t) for o, d, t in annotations or []])
    with atomic_directory(p.parent) as tmp:
        edf.write(tmp / p.name)
        commit_files(tmp, [p.name], p.parent)
    return p
