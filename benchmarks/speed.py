"""Speed and memory of ``extract`` on 200-dpi letter pages, one core.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.speed [--pages 10] [--repeat 3]

Renders ``--pages`` sheets (PTB-XL development records 00001.., 3x4+II, 200 dpi, letter) to
PNG, then times the whole job of ``ecgdigitize extract`` — read the PNG, digitize, write the
WFDB record — in this process after one warm-up page (imports excluded), and prints the median
time per page and per pipeline stage. Peak memory (max RSS) is measured in a fresh child
process that digitizes one page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGDIGITIZE_SHARED", REPO.parent / "shared")) / "data"
RECORDS = SHARED / "ptbxl" / "records500" / "00000"

_CHILD = """
import resource, sys
from ecgdigitize.pipeline import digitize
digitize(sys.argv[1]).to_wfdb(sys.argv[2], overwrite=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    if not RECORDS.is_dir():
        print(f"shared data not found at {RECORDS}", file=sys.stderr)
        return 2
    from ecgdigitize.pipeline import digitize
    from ecgdigitize.render import render_record, write_sheet

    with tempfile.TemporaryDirectory() as tmp:
        pngs = []
        for i in range(1, a.pages + 1):
            png = Path(tmp) / f"p{i:05d}.png"
            write_sheet(render_record(RECORDS / f"{i:05d}_hr"), png)
            pngs.append(png)
        digitize(pngs[0]).to_wfdb(Path(tmp) / "warm", overwrite=True)  # warm-up
        totals: list[float] = []
        stages: dict[str, list[float]] = {}
        for _ in range(a.repeat):
            for png in pngs:
                t0 = time.perf_counter()
                result = digitize(png)
                t1 = time.perf_counter()
                result.to_wfdb(Path(tmp) / png.stem, overwrite=True)
                t2 = time.perf_counter()
                totals.append(t2 - t0)
                seconds = {"read": (t1 - t0) - sum(result.diagnostics.seconds.values())}
                seconds.update(result.diagnostics.seconds)
                seconds["write WFDB"] = t2 - t1
                for k, v in seconds.items():
                    stages.setdefault(k, []).append(v)
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(pngs[0]), str(Path(tmp) / "mem")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        peak_mb = int(child.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is KiB on Linux

    print(
        f"# extract speed: {a.pages} pages x {a.repeat}, 200 dpi letter (2200x1700 px), "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n"
    )
    print("| stage | median s |")
    print("|---|---|")
    for k, v in stages.items():
        print(f"| {k} | {statistics.median(v):.3f} |")
    print(f"| **end to end (read → WFDB written)** | **{statistics.median(totals):.3f}** |")
    print(
        f"\nmin {min(totals):.3f} s, max {max(totals):.3f} s per page; "
        f"peak memory of one extract process: {peak_mb:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
