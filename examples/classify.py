"""Classify a digitized sheet: PTB-XL superclass probabilities from the shipped model.

Usage, from the repository root::

    python examples/classify.py [SHEET] [--truth RECORD]

SHEET defaults to ``examples/ptbxl_00010.png``. The digitized signal (each lead known only in
the time window where it was drawn, NaN elsewhere) is classified, and so is the ground truth
RECORD (default: the sheet's path without its suffix) when it exists, to show how much the
digitization changes the probabilities. Nothing is written. Research use only: the classifier is
not a medical device (see ``ecgdigitize/classify/weights/MODEL_CARD.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ecgdigitize
from ecgdigitize.classify import CLASSES, classify, default_thresholds
from ecgdigitize.io.wfdb import read_record, standard_leads

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sheet", nargs="?", type=Path, default=HERE / "ptbxl_00010.png")
    parser.add_argument("--truth", type=Path, default=None, help="ground-truth WFDB record")
    args = parser.parse_args(argv)
    truth_path = args.truth or args.sheet.with_suffix("")

    result = ecgdigitize.digitize(args.sheet)
    rows = {"digitized": classify(result.signal, result.fs, result.lead_names)}
    if truth_path.with_suffix(".hea").is_file():
        truth = read_record(truth_path)
        rows["ground truth"] = classify(standard_leads(truth), truth.fs, ecgdigitize.LEAD_NAMES)

    thresholds = default_thresholds()
    print(f"{'':<13}" + "".join(f"{c:>7}" for c in CLASSES) + "  labels")
    for name, probs in rows.items():
        labels = [c for c in CLASSES if probs[c] >= thresholds[c]]
        cells = "".join(f"{probs[c]:7.3f}" for c in CLASSES)
        print(f"{name:<13}{cells}  {','.join(labels) or '-'}")
    print("thresholds   " + "".join(f"{thresholds[c]:7.2f}" for c in CLASSES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
