"""Benchmark of the shipped classifier: AUROC on PTB-XL fold 10 and inference time.

Run from the repository root::

    python -m benchmarks.classify [--ptbxl DIR] [--labels DIR]

``--ptbxl`` is a folder holding PTB-XL ``records100/`` (default: ``$ECGDIGITIZE_PTBXL100`` or
``../cache/ptbxl100/Data``, where the training instructions in the model card put it);
``--labels`` holds ``ptbxl_database*.csv`` and ``scp_statements.csv`` (default:
``../shared/data/ptbxl-labels``). Records with ecg_id 401–500 are never used. Without the
signals, only the inference time (on a synthetic record) is measured, and the script says so.

Rows: the fold-10 records as digital 100 Hz signals; with the 3x4 sheet mask (each lead only in
its 2.5 s column, II for 10 s); and decimated to 50 Hz (the lowest accepted rate). Macro-AUROC
comes with a 95 % bootstrap interval over records (1,000 resamples, seed 0). With ``--sheets N``
the first N fold-10 records are also rendered as clean 3x4+II sheets, digitized with
:func:`ecgdigitize.pipeline.digitize` and classified (about 1 s per record).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgdigitize.classify.model import CLASSES, classify, load_model
from ecgdigitize.classify.train import (
    TEST_FOLD,
    apply_3x4,
    auroc_table,
    load_labels,
    load_signals,
)
from ecgdigitize.config import LEAD_NAMES

REPO = Path(__file__).resolve().parents[1]


def _default_ptbxl() -> Path:
    env = os.environ.get("ECGDIGITIZE_PTBXL100")
    return Path(env) if env else REPO.parent / "cache" / "ptbxl100" / "Data"


def _bootstrap_macro(y: np.ndarray, probs: np.ndarray, n: int = 1000) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    values = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        values.append(auroc_table(y[idx], probs[idx])["macro"])
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _synthetic_record(fs: float = 500.0) -> np.ndarray:
    t = np.arange(int(10 * fs)) / fs
    beat = np.exp(-(((t % 0.8) - 0.3) ** 2) / (2 * 0.012**2))
    return np.stack([beat * (0.5 + 0.1 * k) for k in range(12)], axis=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classify")
    parser.add_argument("--ptbxl", type=Path, default=_default_ptbxl())
    parser.add_argument(
        "--labels", type=Path, default=REPO.parent / "shared" / "data" / "ptbxl-labels"
    )
    parser.add_argument(
        "--sheets",
        type=int,
        default=0,
        help="also render the first N fold-10 records as sheets, digitize and classify them",
    )
    args = parser.parse_args(argv)

    _, meta = load_model()
    print(f"model: sha256 {meta['sha256'][:16]}…, {meta['n_params']:,} parameters")

    signal = _synthetic_record()
    classify(signal, 500.0, LEAD_NAMES)  # warm-up (session load)
    reps = 50
    t0 = time.perf_counter()
    for _ in range(reps):
        classify(signal, 500.0, LEAD_NAMES)
    synth_ms = (time.perf_counter() - t0) / reps * 1000
    print(f"inference, synthetic 10 s 500 Hz record: {synth_ms:.1f} ms/record (one thread)")

    records = args.ptbxl / "records100"
    if not records.is_dir() or not args.labels.is_dir():
        print(
            f"PTB-XL cache ABSENT: no records100/ under {args.ptbxl} (or no labels at "
            f"{args.labels}); AUROC NOT computed. See the model card for how to fetch it."
        )
        return 0

    labels = load_labels(args.labels)
    test = labels.subset(labels.fold == TEST_FOLD)
    x = load_signals(args.ptbxl, test.filename_lr).astype(np.float64)
    variants = {
        "digital 100 Hz": (x, 100.0),
        "3x4 mask": (apply_3x4(x), 100.0),
        "digital 50 Hz": (x[:, ::2], 50.0),
    }
    rows = []
    times: list[float] = []
    for name, (data, fs) in variants.items():
        probs = np.empty((len(data), len(CLASSES)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for i, rec in enumerate(data):
                t0 = time.perf_counter()
                p = classify(rec, fs, LEAD_NAMES)
                times.append(time.perf_counter() - t0)
                probs[i] = [p[c] for c in CLASSES]
        table = auroc_table(test.y, probs)
        rows.append((name, table, _bootstrap_macro(test.y, probs)))

    print(f"\nPTB-XL fold 10: {len(test.y)} labelled records (ecg_id 401–500 excluded)")
    header = f"{'input':<16} {'macro':>6} {'95% CI':>13} " + " ".join(f"{c:>6}" for c in CLASSES)
    print(header)
    print("-" * len(header))
    for name, table, (lo, hi) in rows:
        cells = " ".join(f"{table[c]:6.3f}" for c in CLASSES)
        print(f"{name:<16} {table['macro']:6.3f} {f'{lo:.3f}–{hi:.3f}':>13} {cells}")
    print(
        f"\ninference incl. preprocessing, 100 Hz records: median "
        f"{np.median(times) * 1000:.1f} ms/record, p95 {np.percentile(times, 95) * 1000:.1f} ms"
    )
    if args.sheets > 0:
        _sheets(test.y[: args.sheets], x[: args.sheets])
    else:
        print("\nrendered-and-digitized sheets: skipped (pass --sheets N)")
    return 0


def _sheets(y: np.ndarray, x: np.ndarray) -> None:
    """Render each record as a 3x4+II sheet, digitize it, classify; compare on the same set."""
    from ecgdigitize.config import RenderOptions
    from ecgdigitize.errors import EcgDigitizeError
    from ecgdigitize.pipeline import digitize
    from ecgdigitize.render import render

    rows = {name: np.full((len(x), len(CLASSES)), np.nan) for name in ("digital", "3x4", "sheet")}
    failed = 0
    t0 = time.perf_counter()
    for i, rec in enumerate(x):
        rows["digital"][i] = list(classify(rec, 100.0, LEAD_NAMES).values())
        rows["3x4"][i] = list(classify(apply_3x4(rec[None])[0], 100.0, LEAD_NAMES).values())
        try:
            sheet = render(rec, fs=100.0, lead_names=LEAD_NAMES, options=RenderOptions(seed=i))
            d = digitize(sheet.image)
            rows["sheet"][i] = list(classify(d.signal, d.fs, d.lead_names).values())
        except EcgDigitizeError:
            failed += 1
    ok = np.isfinite(rows["sheet"]).all(axis=1)
    seconds = time.perf_counter() - t0
    print(
        f"\nrendered 3x4+II sheets (200 dpi, clean), digitized, classified: {int(ok.sum())} of "
        f"{len(x)} fold-10 records ({failed} failed to digitize; {seconds / len(x):.2f} s/record)"
    )
    header = f"{'input':<16} {'macro':>6} " + " ".join(f"{c:>6}" for c in CLASSES)
    print(header)
    print("-" * len(header))
    for name, probs in rows.items():
        table = auroc_table(y[ok], probs[ok])
        cells = " ".join(f"{table[c]:6.3f}" for c in CLASSES)
        print(f"{name:<16} {table['macro']:6.3f} {cells}")


if __name__ == "__main__":
    sys.exit(main())
