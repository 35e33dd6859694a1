"""Time to render one 10 s, 3x4+II, 200-dpi letter sheet on one core.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.render_speed [--repeat 15] [--record PATH]

Prints the median (and min/max) wall time of :func:`ecgdigitize.render.render` on a signal
already in memory, of :func:`~ecgdigitize.render.render_record` (reading the WFDB record too),
of a render with every degradation on, and of :func:`~ecgdigitize.render.write_sheet` (PNG
encoding and the ground-truth record). The default record is PTB-XL 00001 from
``../shared/data``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ecgdigitize.config import Degradations, RenderOptions
from ecgdigitize.io.wfdb import read_record, standard_leads
from ecgdigitize.render import render, render_record, write_sheet

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RECORD = REPO.parent / "shared" / "data" / "ptbxl" / "records500" / "00000" / "00001_hr"
DEGRADED = Degradations(
    rotation_deg=3.0,
    perspective=0.02,
    noise_std=0.03,
    blur_sigma_px=1.0,
    jpeg_quality=70,
    lighting=0.3,
    faded=0.2,
    crop_fraction=0.05,
)


def _times(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up (imports, caches)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD)
    parser.add_argument("--dpi", type=float, default=200.0)
    args = parser.parse_args(argv)

    record = read_record(args.record)
    signal = standard_leads(record)
    options = RenderOptions(dpi=args.dpi)
    degraded = RenderOptions(dpi=args.dpi, degradations=DEGRADED, seed=1)
    sheet = render(signal, fs=record.fs, options=options)

    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def write() -> None:
            write_sheet(sheet, Path(tmp) / f"s{next(counter)}.png")

        rows = [
            ("render (signal in memory)", _times(
                lambda: render(signal, fs=record.fs, options=options), args.repeat)),
            ("render_record (+ read WFDB)", _times(
                lambda: render_record(args.record, options=options), args.repeat)),
            ("render, all degradations", _times(
                lambda: render(signal, fs=record.fs, options=degraded), args.repeat)),
            ("write_sheet (PNG + WFDB + JSON)", _times(write, args.repeat)),
        ]  # fmt: skip

    h, w = sheet.image.shape[:2]
    print(f"record {args.record.name}, layout 3x4+II, {args.dpi:g} dpi ({w}x{h} px), "
          f"{args.repeat} runs each")  # fmt: skip
    print(f"{'step':34s} {'median s':>9s} {'min s':>7s} {'max s':>7s}")
    for name, t in rows:
        print(f"{name:34s} {statistics.median(t):9.3f} {min(t):7.3f} {max(t):7.3f}")


if __name__ == "__main__":
    main()
