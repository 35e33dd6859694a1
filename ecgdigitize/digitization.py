"""The result of digitizing one page: signal, diagnostics and writers."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import LEAD_NAMES


@dataclass(frozen=True)
class LeadDiagnostics:
    """How one lead was recovered.

    Attributes
    ----------
    lead : str
    row, column : int
        Where the lead was found (for a lead drawn twice, the one kept).
    start_s, end_s : float
        Time window of the record the lead covers.
    coverage : float
        Fraction of the panel's columns where ink was followed.
    confidence : float
        Trace evidence in [0, 1]: coverage times continuity of the followed ink.
    kept : bool
        False when the lead was blanked (NaN) for low confidence.
    """

    lead: str
    row: int
    column: int
    start_s: float
    end_s: float
    coverage: float
    confidence: float
    kept: bool = True


@dataclass(frozen=True)
class Diagnostics:
    """Everything the pipeline measured on the way (serialised by ``--json``).

    ``orientation_deg`` is the quarter turn that was removed (0, 90, 180 or 270,
    counter-clockwise as found on the page) and ``perspective_corrected`` tells whether the
    perspective of a photographed page was rectified; ``rotation_deg`` is the fine skew
    removed after both, and ``curl_px`` the largest vertical bow of page curl straightened
    after that (0 when none was found).
    """

    source: str
    page: int
    image_size: tuple[int, int]
    px_per_mm_x: float
    px_per_mm_y: float
    scale_source: str
    grid_confidence: float
    rotation_deg: float
    layout: str
    layout_source: str
    calibration_source: str
    px_per_mv: float
    binarization_threshold: float
    binarization_iterations: int
    n_rows: int
    leads: tuple[LeadDiagnostics, ...]
    warnings: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    orientation_deg: int = 0
    perspective_corrected: bool = False
    curl_px: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class OverlayData:
    """What the QA overlay draws: the deskewed page, each lead's box and followed trace."""

    rgb: np.ndarray
    boxes: tuple[tuple[str, int, int, int, int], ...]
    traces: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    caption: str


@dataclass(frozen=True)
class Digitization:
    """A digitized page.

    Attributes
    ----------
    signal : (n_samples, 12) float64 array
        Voltages in mV, channels in :data:`~ecgdigitize.config.LEAD_NAMES` order; NaN where a
        lead was not drawn or not recovered.
    fs : float
        Sampling frequency, Hz.
    lead_names : tuple of str
    diagnostics : Diagnostics
    """

    signal: np.ndarray
    fs: float
    diagnostics: Diagnostics
    lead_names: tuple[str, ...] = LEAD_NAMES
    overlay_data: OverlayData | None = field(default=None, repr=False, compare=False)

    def save_overlay(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the QA overlay PNG (needs ``digitize(..., keep_overlay=True)``)."""
        from .overlay import write_overlay

        if self.overlay_data is None:
            raise ValueError("no overlay data: digitize with keep_overlay=True")
        return write_overlay(self.overlay_data, path, overwrite=overwrite)

    def to_wfdb(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
        """Write ``path.hea`` + ``path.dat`` (WFDB, mV, 1 µV resolution), atomically."""
        from .io.wfdb import write_record

        d = self.diagnostics
        comments = [
            f"ecgdigitize: source={Path(d.source).name} page={d.page} layout={d.layout}",
            f"ecgdigitize: px_per_mm={d.px_per_mm_x:.4f},{d.px_per_mm_y:.4f} "
            f"calibration={d.calibration_source}",
        ]
        return list(
            write_record(
                path,
                self.signal,
                fs=self.fs,
                lead_names=self.lead_names,
                comments=comments,
                overwrite=overwrite,
            )
        )

    def to_csv(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
        """Write ``path.csv``: a time column (s) and one column per lead (mV, empty = NaN)."""
        from .io.tabular import write_csv

        return [
            write_csv(
                path, self.signal, fs=self.fs, lead_names=self.lead_names, overwrite=overwrite
            )
        ]

    def to_edf(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
        """Write ``path.edf`` (EDF+; NaN stored as 0 with an annotation per lead window)."""
        from .io.edf import write_edf

        return [
            write_edf(
                path,
                self.signal,
                fs=self.fs,
                lead_names=self.lead_names,
                annotations=[
                    (ld.start_s, ld.end_s - ld.start_s, f"{ld.lead} drawn")
                    for ld in self.diagnostics.leads
                    if ld.kept
                ],
                overwrite=overwrite,
            )
        ]

    def diagnostics_json(self) -> str:
        """Diagnostics as pretty JSON text.

        Stage timings are left out so that the same input always gives the same bytes.
        """
        d = self.diagnostics.to_dict()
        d.pop("seconds", None)
        return json.dumps(d, indent=2, sort_keys=True) + "\n"
