"""Reading and writing WFDB records (via the wfdb package)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import LEAD_NAMES, canonical_lead_name
from ..errors import RecordError
from .atomic import atomic_directory, check_writable, commit_files


@dataclass(frozen=True)
class Record:
    """A multichannel signal in physical units.

    Attributes
    ----------
    signal : (n_samples, n_channels) float64 array
        Physical values; NaN where there is no sample.
    fs : float
        Sampling frequency, Hz.
    lead_names : tuple of str
        Channel names as stored in the record.
    units : tuple of str
        Physical unit of each channel.
    name : str
        Path of the record (without extension), for messages.
    """

    signal: np.ndarray
    fs: float
    lead_names: tuple[str, ...]
    units: tuple[str, ...]
    name: str = "<array>"

    @property
    def duration_s(self) -> float:
        return self.signal.shape[0] / self.fs


_UNIT_SCALE_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}


def record_path(path: str | os.PathLike[str]) -> Path:
    """Strip a ``.hea``/``.dat`` suffix from `path` (users often pass the header file)."""
    p = Path(path)
    if p.suffix.lower() in (".hea", ".dat"):
        p = p.with_suffix("")
    return p


def read_record(path: str | os.PathLike[str]) -> Record:
    """Read a WFDB record.

    Parameters
    ----------
    path : str or path-like
        Record path without extension (a trailing ``.hea`` or ``.dat`` is accepted).

    Returns
    -------
    Record

    Raises
    ------
    RecordError
        If the header is missing or the record cannot be read.
    """
    import wfdb

    p = record_path(path)
    if not p.with_suffix(".hea").is_file():
        raise RecordError(f"{p}: no WFDB record here (missing {p.name}.hea)")
    try:
        rec = wfdb.rdrecord(str(p))
    except Exception as exc:  # wfdb raises many types for malformed files
        raise RecordError(f"{p}: cannot read WFDB record ({type(exc).__name__}: {exc})") from exc
    if rec.p_signal is None or rec.sig_name is None:
        raise RecordError(f"{p}: WFDB record has no signals")
    units = tuple(u if u else "mV" for u in (rec.units or ["mV"] * rec.n_sig))
    return Record(
        signal=np.asarray(rec.p_signal, dtype=np.float64),
        fs=float(rec.fs),
        lead_names=tuple(rec.sig_name),
        units=units,
        name=str(p),
    )


def standard_leads(record: Record, *, required: tuple[str, ...] = LEAD_NAMES) -> np.ndarray:
    """Return the 12 standard leads of `record` in mV, in :data:`LEAD_NAMES` order.

    Lead names are matched case-insensitively; extra channels (e.g. Frank leads) are ignored.
    Leads not in `required` and absent from the record are all-NaN.

    Raises
    ------
    RecordError
        If a lead in `required` is missing or a channel's unit is not a voltage.
    """
    columns: dict[str, int] = {}
    for i, name in enumerate(record.lead_names):
        try:
            columns.setdefault(canonical_lead_name(name), i)
        except ValueError:
            continue
    missing = [lead for lead in required if lead not in columns]
    if missing:
        raise RecordError(
            f"{record.name}: missing lead(s) {', '.join(missing)}; "
            f"found {', '.join(record.lead_names) or 'none'}"
        )
    out = np.full((record.signal.shape[0], len(LEAD_NAMES)), np.nan)
    for j, lead in enumerate(LEAD_NAMES):
        if lead not in columns:
            continue
        i = columns[lead]
        unit = record.units[i].strip().lower()
        if unit not in _UNIT_SCALE_TO_MV:
            raise RecordError(
                f"{record.name}: lead {lead} has unit {record.units[i]!r}; expected mV, uV or V"
            )
        out[:, j] = record.signal[:, i] * _UNIT_SCALE_TO_MV[unit]
    return out


def write_record(
    path: str | os.PathLike[str],
    signal: np.ndarray,
    *,
    fs: float,
    lead_names: tuple[str, ...] = LEAD_NAMES,
    comments: list[str] | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write `signal` (mV) as a WFDB record ``path.hea`` + ``path.dat``, atomically.

    The signal is stored as 16-bit integers at 1 µV resolution (gain 1000/mV, as PTB-XL), so
    values within ±32.767 mV are represented exactly to the microvolt; NaN is stored as the WFDB
    invalid-sample value and read back as NaN.

    Returns
    -------
    (Path, Path)
        The header and data files written.

    Raises
    ------
    FileExistsError
        If either file exists and `overwrite` is false.
    ValueError
        If `signal` does not have one column per lead name.
    """
    import wfdb

    p = record_path(path)
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[1] != len(lead_names):
        raise ValueError(
            f"signal has shape {signal.shape}; expected (n_samples, {len(lead_names)})"
        )
    hea, dat = p.with_suffix(".hea"), p.with_suffix(".dat")
    check_writable([hea, dat], overwrite=overwrite)
    # Clip to the representable range so no value wraps around.
    clipped = np.clip(signal, -32.767, 32.767)
    n = len(lead_names)
    with atomic_directory(p.parent if str(p.parent) else ".") as tmp:
        wfdb.wrsamp(
            p.name,
            fs=float(fs),
            units=["mV"] * n,
            sig_name=list(lead_names),
            p_signal=clipped,
            fmt=["16"] * n,
            adc_gain=[1000.0] * n,
            baseline=[0] * n,
            comments=comments or [],
            write_dir=str(tmp),
        )
        commit_files(tmp, [dat.name, hea.name], p.parent if str(p.parent) else ".")
    return hea, dat
