"""Digitize a sheet and score it against its ground truth with the Python API.

Usage, from the repository root::

    python examples/scoring.py [SHEET] [--truth RECORD] [--out DIR]

SHEET defaults to ``examples/ptbxl_00010.png`` and RECORD to the sheet's path without its
suffix (``ecgdigitize render`` writes the ground truth there). Scores are the PhysioNet 2024
metrics (SNR, KS, ASCI, WAD), per lead and pooled, computed twice: on the arrays in memory and
on the WFDB record written to ``--out`` (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import ecgdigitize
from ecgdigitize import metrics
from ecgdigitize.io.wfdb import read_record, standard_leads

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sheet", nargs="?", type=Path, default=HERE / "ptbxl_00010.png")
    parser.add_argument("--truth", type=Path, default=None, help="ground-truth WFDB record")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    args = parser.parse_args(argv)
    truth_path = args.truth or args.sheet.with_suffix("")
    out = args.out or Path(tempfile.mkdtemp(prefix="ecgdigitize-example-"))

    # Digitize, and read the reference: the 12 standard leads in mV, NaN where not drawn.
    result = ecgdigitize.digitize(args.sheet)
    truth = read_record(truth_path)
    reference = standard_leads(truth)
    if truth.fs != result.fs:
        raise SystemExit(f"{truth_path}: {truth.fs:g} Hz; digitize with fs={truth.fs:g}")

    # In memory: every lead, matched by name; each lead aligned first (lag <= 0.5 s, 1 mV).
    scores = metrics.score_signals(
        reference,
        result.signal,
        fs=result.fs,
        ref_leads=ecgdigitize.LEAD_NAMES,
        est_leads=result.lead_names,
    )
    names = metrics.METRICS
    print("lead  " + "  ".join(f"{m:>10}" for m in names))
    for lead in ecgdigitize.LEAD_NAMES:
        print(f"{lead:<4}  " + "  ".join(f"{scores[m][lead]:10.3f}" for m in names))
    pooled = {m: metrics.pooled(scores[m].values()) for m in names}
    print("pool  " + "  ".join(f"{pooled[m]:10.3f}" for m in names))

    # One metric on one lead: the 10 s rhythm strip of lead II.
    ii = ecgdigitize.LEAD_NAMES.index("II")
    snr_ii = metrics.snr(reference[:, ii], result.signal[:, ii], fs=result.fs)
    print(f"SNR of lead II alone: {snr_ii:.2f} dB")

    # From files, as `ecgdigitize score all TRUTH rec` does (the record is stored at 1 uV).
    result.to_wfdb(out / "rec", overwrite=True)
    report = metrics.score_records(truth_path, out / "rec")
    print(f"from the WFDB files: pooled SNR {report.pooled_means['snr']:.2f} dB ({out / 'rec'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
