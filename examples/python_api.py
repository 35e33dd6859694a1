"""The Python API in five steps: digitize a sheet, read the diagnostics, write the outputs.

Usage, from the repository root::

    python examples/python_api.py [SHEET] [--out DIR]

SHEET defaults to ``examples/ptbxl_00010.png``; outputs go to ``--out`` (default: a new
temporary folder), never beside the sheet.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import ecgdigitize

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sheet", nargs="?", type=Path, default=HERE / "ptbxl_00010.png")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="ecgdigitize-example-"))
    out.mkdir(parents=True, exist_ok=True)

    # 1. Digitize. The options are a frozen dataclass; these are the defaults, spelled out.
    options = ecgdigitize.DigitizeOptions(layout="auto", speed_mm_s=25.0, gain_mm_mv=10.0, fs=500)
    result = ecgdigitize.digitize(args.sheet, options, keep_overlay=True)

    # 2. The signal: (n_samples, 12) in mV, channels in LEAD_NAMES order, NaN where not drawn.
    print(f"signal {result.signal.shape} at {result.fs:g} Hz, leads {' '.join(result.lead_names)}")

    # 3. Diagnostics: what the pipeline measured, and where each lead came from.
    d = result.diagnostics
    print(
        f"scale {d.px_per_mm_x:.3f} x {d.px_per_mm_y:.3f} px/mm from the {d.scale_source}, "
        f"rotation {d.rotation_deg:.2f} deg, layout {d.layout} ({d.layout_source}), "
        f"calibration from the {d.calibration_source}"
    )
    print("lead   window (s)   coverage  confidence  kept  finite samples")
    for lead in d.leads:
        column = result.signal[:, result.lead_names.index(lead.lead)]
        finite = np.flatnonzero(np.isfinite(column))
        span = (
            f"{finite[0] / result.fs:.2f}-{(finite[-1] + 1) / result.fs:.2f} s"
            if finite.size
            else "-"
        )
        print(
            f"{lead.lead:<5}  {lead.start_s:4.1f}-{lead.end_s:4.1f}    {lead.coverage:8.3f}"
            f"  {lead.confidence:10.3f}  {'yes' if lead.kept else 'no':>4}  {span}"
        )
    for warning in d.warnings:
        print(f"warning: {warning}")

    # 4. Write: WFDB (.hea + .dat, 16-bit at 1 uV), CSV, the QA overlay and the diagnostics.
    written = result.to_wfdb(out / "rec") + result.to_csv(out / "rec")
    written.append(result.save_overlay(out / "rec_overlay.png"))
    (out / "rec.json").write_text(result.diagnostics_json(), encoding="utf-8")
    written.append(out / "rec.json")
    print("wrote", ", ".join(p.name for p in written), "in", out)

    # 5. The WFDB record reads back as written, to the microvolt (NaN stays NaN).
    import wfdb

    back = wfdb.rdrecord(str(out / "rec")).p_signal
    same_nan = bool(np.array_equal(np.isnan(back), np.isnan(result.signal)))
    error = float(np.nanmax(np.abs(back - result.signal)))
    print(f"read back: same NaN pattern {same_nan}, largest difference {error * 1000:.2f} uV")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
