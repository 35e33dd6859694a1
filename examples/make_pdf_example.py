"""Make a one-page PDF holding a rendered ECG sheet (what an ECG cart's PDF export looks like).

Usage, from the repository root::

    python examples/make_pdf_example.py OUT.pdf [--record PATH] [--dpi 150]

The sheet of a WFDB record (default: PTB-XL development record 00030 in ``../shared/data``) is
rendered with :func:`ecgdigitize.render_record` (3x4+II, red grid, letter paper) at ``--dpi``
and placed pixel for pixel on a letter-size page with matplotlib's ``figimage`` and
``PdfPages`` at the same resolution. The ground truth of the drawn signal is written beside the
PDF as ``OUT.hea`` + ``OUT.dat`` so the PDF can be digitized and scored::

    ecgdigitize extract OUT.pdf -o rec --dpi 150
    ecgdigitize score all OUT rec

``examples/ptbxl_00030.pdf`` (with its ``.hea``/``.dat``) was made by::

    python examples/make_pdf_example.py examples/ptbxl_00030.pdf

The output is deterministic: the PDF's creation date is fixed and the render is seeded.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGDIGITIZE_SHARED", REPO.parent / "shared")) / "data"
DEFAULT_RECORD = SHARED / "ptbxl" / "records500" / "00000" / "00030_hr"


def make_pdf(record: Path, out: Path, *, dpi: float = 150.0) -> Path:
    """Render `record` as a sheet and write it as a one-page PDF `out` plus its ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    import ecgdigitize
    from ecgdigitize.io.wfdb import write_record

    options = ecgdigitize.RenderOptions(
        dpi=dpi,
        header=(
            f"PTB-XL record {record.name[:5]} (Wagner et al. 2020, CC BY 4.0)"
            " - rendered by ecgdigitize"
        ),
    )
    sheet = ecgdigitize.render_record(record, options=options)
    height, width = sheet.image.shape[:2]
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    fig.figimage(sheet.image, xo=0, yo=0, origin="upper")
    out.parent.mkdir(parents=True, exist_ok=True)
    # A fixed creation date keeps the file byte-identical from run to run.
    metadata = {"Title": f"ECG sheet of {record.name}", "Creator": "ecgdigitize example"}
    with PdfPages(out, metadata={**metadata, "CreationDate": None}) as pdf:
        pdf.savefig(fig, dpi=dpi)
    write_record(
        out.with_suffix(""),
        sheet.truth,
        fs=sheet.fs,
        comments=[f"ground truth of {out.name} rendered by ecgdigitize from {record.name}"],
        overwrite=True,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="PDF file to write (ground truth goes beside it)")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help="WFDB record")
    parser.add_argument("--dpi", type=float, default=150.0, help="resolution of the sheet")
    args = parser.parse_args(argv)
    if args.out.suffix.lower() != ".pdf":
        parser.error(f"{args.out}: the output must end in .pdf")
    if not args.record.with_suffix(".hea").is_file():
        print(f"{args.record}: no WFDB record here (set ECGDIGITIZE_SHARED)", file=sys.stderr)
        return 2
    path = make_pdf(args.record, args.out, dpi=args.dpi)
    print(f"{path}: {path.stat().st_size / 1e3:.0f} kB; ground truth {path.with_suffix('')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
