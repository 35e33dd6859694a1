"""The price of paper: the classifier on the reserved PTB-XL records 00401–00500.

Run from the repository root::

    python -m benchmarks.classify_eval [--jobs 2]

Records 00401–00500 of ``../shared/data/ptbxl`` are reserved for evaluation: nothing in the
project is trained or tuned on them. Each record is classified three ways with the shipped
model: from its digital 500 Hz signal; from a clean 3x4+II sheet rendered at 200 dpi and
digitized; and from a degraded sheet (seeded per record like the ``degraded`` set of
``benchmarks.accuracy``: rotation ±5°, noise, blur, JPEG 60, any grid colour, black-and-white in
one of six, 100–300 dpi). Prints macro- and per-class AUROC (PTB-XL diagnostic superclasses,
Strodthoff et al. 2020) for each, and the pooled digitization SNR of the sheets.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGDIGITIZE_SHARED", REPO.parent / "shared")) / "data"
PTBXL = SHARED / "ptbxl"
RESERVED = range(401, 501)


def run_one(ecg_id: int) -> dict:  # type: ignore[type-arg]
    from benchmarks.accuracy import render_options
    from ecgdigitize import metrics
    from ecgdigitize.classify.model import CLASSES, classify
    from ecgdigitize.config import LEAD_NAMES, RenderOptions
    from ecgdigitize.io.wfdb import read_record, standard_leads
    from ecgdigitize.pipeline import digitize
    from ecgdigitize.render import render_record

    path = PTBXL / "records500" / "00000" / f"{ecg_id:05d}_hr"
    rec = read_record(path)
    out: dict = {"id": ecg_id}  # type: ignore[type-arg]
    probs = classify(standard_leads(rec), rec.fs, LEAD_NAMES)
    out["digital"] = [probs[c] for c in CLASSES]
    for name, opts in (
        ("sheet", RenderOptions()),
        ("degraded", render_options(ecg_id, "degraded")),
    ):
        sheet = render_record(path, options=opts)
        try:
            d = digitize(sheet.image)
        except Exception as exc:
            out[name] = None
            out[name + "_error"] = f"{type(exc).__name__}: {exc}"
            continue
        probs = classify(d.signal, d.fs, d.lead_names)
        out[name] = [probs[c] for c in CLASSES]
        out[name + "_snr"] = metrics.pooled(
            metrics.snr(sheet.truth[:, j], d.signal[:, j], fs=sheet.fs) for j in range(12)
        )
    return out


def main(argv: list[str] | None = None) -> int:
    from ecgdigitize.classify.model import CLASSES
    from ecgdigitize.classify.train import auroc_table, load_labels

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args(argv)
    if not PTBXL.is_dir():
        print(f"shared data not found at {PTBXL}", file=sys.stderr)
        return 2
    labels = load_labels(PTBXL, reserved=True)
    ids = [int(i) for i in labels.ecg_id]
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        results = {r["id"]: r for r in pool.map(run_one, ids)}
    y = labels.y.astype(float)
    print(
        f"# Classifier on the reserved PTB-XL records 00401-00500 ({len(ids)} with a "
        "diagnostic superclass)\n"
    )
    print("| input | records | macro-AUROC | " + " | ".join(CLASSES) + " | pooled SNR dB |")
    print("|---|---|---|" + "---|" * len(CLASSES) + "---|")
    for name in ("digital", "sheet", "degraded"):
        ok = [k for k, i in enumerate(ids) if results[i][name] is not None]
        probs = np.array([results[ids[k]][name] for k in ok])
        table = auroc_table(y[ok], probs)
        snr = (
            f"{np.nanmean([results[ids[k]][name + '_snr'] for k in ok]):.2f}"
            if name != "digital"
            else "—"
        )
        print(
            f"| {name} | {len(ok)} | {table['macro']:.3f} | "
            + " | ".join(f"{table[c]:.3f}" for c in CLASSES)
            + f" | {snr} |"
        )
    failed = [
        (i, results[i][n + "_error"])
        for i in ids
        for n in ("sheet", "degraded")
        if results[i][n] is None
    ]
    print(f"\nSheets that failed to digitize: {len(failed)}")
    for i, err in failed:
        print(f"- {i:05d}: {err}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
