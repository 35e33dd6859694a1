"""Render every PTB-XL record in ../shared/data (and the PTB record s0010_re) as a sheet.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.render_all [--dpi 100] [--data DIR] [--out DIR]

Rendering only (nothing is tuned here, so the evaluation records 00401-00500 may be rendered):
each record is drawn in the default 3x4+II layout at ``--dpi`` and its ground truth is checked
against the source inside every drawn window (to 1 µV) and NaN outside. s0010_re (1000 Hz,
38.4 s, lower-case lead names plus Frank leads) is drawn from 10 s in. A last row times a sample
of 20 development records at 200 dpi. With ``--out``, the sheets are written there.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from ecgdigitize.config import LEAD_NAMES, RenderOptions
from ecgdigitize.errors import EcgDigitizeError
from ecgdigitize.io.wfdb import read_record, standard_leads
from ecgdigitize.render import RenderedSheet, render_record, write_sheet

REPO = Path(__file__).resolve().parents[1]


def _check_truth(sheet: RenderedSheet, path: Path, start_s: float) -> None:
    """Raise AssertionError unless the truth equals the source in each window, NaN outside."""
    source = standard_leads(read_record(path))
    first = round(start_s * sheet.fs)
    source = source[first : first + sheet.truth.shape[0]]
    drawn = np.zeros(sheet.truth.shape, dtype=bool)
    for panel in sheet.metadata["panels"]:
        i0, i1 = round(panel["start_s"] * sheet.fs), round(panel["end_s"] * sheet.fs)
        drawn[i0:i1, LEAD_NAMES.index(panel["lead"])] = True
    assert np.array_equal(np.isfinite(sheet.truth), drawn), "truth is not NaN outside windows"
    assert np.allclose(sheet.truth[drawn], source[drawn], rtol=0, atol=1e-3), "truth differs"


def _run(
    paths: list[Path], options: RenderOptions, out: Path | None
) -> tuple[list[float], list[str]]:
    times: list[float] = []
    failures: list[str] = []
    for path in paths:
        try:
            t0 = time.perf_counter()
            sheet = render_record(path, options=options)
            times.append(time.perf_counter() - t0)
            _check_truth(sheet, path, options.start_s)
            if out is not None:
                write_sheet(sheet, out / f"{path.name}.png", overwrite=True)
        except (EcgDigitizeError, AssertionError, ValueError) as exc:
            failures.append(f"{path.name}: {exc}")
    return times, failures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--dpi", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=None, help="write the sheets here")
    args = parser.parse_args(argv)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)

    ptbxl = sorted((args.data / "ptbxl" / "records500").glob("*/*_hr.hea"))
    ptbxl = [p.with_suffix("") for p in ptbxl]
    ptbdb = [args.data / "ptbdb" / "s0010_re"]
    dev_sample = [p for p in ptbxl if int(p.name[:5]) <= 400][::20]
    runs = [
        (f"PTB-XL ({len(ptbxl)} records)", ptbxl, RenderOptions(dpi=args.dpi)),
        ("PTB s0010_re from 10 s", ptbdb, RenderOptions(dpi=args.dpi, start_s=10.0)),
        (f"PTB-XL dev sample ({len(dev_sample)})", dev_sample, RenderOptions(dpi=200.0)),
    ]
    print(f"{'set':30s} {'dpi':>4s} {'ok':>5s} {'failed':>6s} {'median s':>9s} {'max s':>7s}")
    all_failures: list[str] = []
    for name, paths, options in runs:
        times, failures = _run(paths, options, args.out if options.dpi == args.dpi else None)
        all_failures += failures
        median = statistics.median(times) if times else float("nan")
        longest = max(times) if times else float("nan")
        print(
            f"{name:30s} {options.dpi:4.0f} {len(paths) - len(failures):5d} "
            f"{len(failures):6d} {median:9.3f} {longest:7.3f}"
        )
    for failure in all_failures:
        print(f"FAILED {failure}")


if __name__ == "__main__":
    main()
