"""``ecgdigitize batch``: digitize every scan in a folder tree, in parallel, resumably."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from .options import FORMATS, digitize_options

if TYPE_CHECKING:
    from ..batch import BatchProgress

EXIT_FAILED_PAGES = 1
EXIT_INTERRUPTED = 130
_MAX_FAILURES_SHOWN = 20


@click.command("batch")
@digitize_options
@click.argument("in_dir", metavar="IN", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    metavar="OUT",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: records mirror the tree of IN, plus OUT/manifest.csv.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes.  [default: all CPUs]",
)
@click.option(
    "--glob",
    "pattern",
    default=None,
    help="Only files matching this pattern, case-insensitively: the file name (e.g. "
    "'*_hr.png'), or the path under IN if it holds a '/'.",
)
@click.option(
    "--resume/--overwrite",
    default=True,
    show_default=True,
    help="--resume keeps the pages an earlier run finished (per OUT/manifest.csv); "
    "--overwrite digitizes everything again and replaces existing records.",
)
@click.option("--overlay", is_flag=True, help="Also write each page's QA overlay image.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="wfdb",
    show_default=True,
    help="Record format.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run on this Dask distributed scheduler (e.g. tcp://10.0.0.5:8786) instead of local "
    "processes; IN and OUT must be at the same paths on every worker. Needs the 'dask' extra.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress and no list of failures.")
def batch(
    in_dir: Path,
    out_dir: Path,
    jobs: int | None,
    pattern: str | None,
    resume: bool,
    overlay: bool,
    fmt: str,
    scheduler: str | None,
    layout: str,
    speed: float,
    gain: float,
    fs: float,
    dpi: float | None,
    keep_low_confidence: bool,
    quiet: bool,
) -> None:
    """Digitize every image and PDF page under the folder IN into records under OUT.

    IN is searched recursively for PNG, JPEG, TIFF, BMP and PDF files (any case of the
    extension; hidden files and folders skipped). Every page becomes a record at the same
    relative place in OUT: `a/scan 1.png` gives `OUT/a/scan_1.hea` + `.dat` (record names keep
    letters, digits, '-' and '_'; other characters become '_'), and the pages of `doc.pdf` give
    `doc_p1`, `doc_p2`, .... OUT/manifest.csv gets one row per page as pages finish: input,
    page, output, status (ok, failed, skipped), error, scale, layout, calibration, leads kept,
    seconds and warnings.

    A page that cannot be digitized is recorded as failed and the run goes on. An interrupted
    run (Ctrl-C, killed) is resumed by running the same command again: finished pages are
    skipped; records are written under a temporary name and renamed, so none is ever
    half-written.

    \b
    Exit status: 0 when every page is ok or skipped, 1 when any page failed (see the
    manifest), 2 on a usage error, 130 when interrupted.

    \b
    Examples:
      ecgdigitize batch scans/ -o records/
      ecgdigitize batch scans/ -o records/ --jobs 4 --overlay --glob '*.pdf'
      ecgdigitize batch /shared/scans -o /shared/records --scheduler tcp://head:8786
    """
    from ..batch import run_batch
    from ..config import DigitizeOptions

    if scheduler is not None and jobs is not None:
        raise click.UsageError(
            "--jobs and --scheduler exclude each other: the cluster's workers set the parallelism"
        )
    options = DigitizeOptions(
        layout=layout,
        speed_mm_s=speed,
        gain_mm_mv=gain,
        fs=fs,
        dpi=dpi,
        keep_low_confidence=keep_low_confidence,
    )
    reporter = None if quiet else _Progress(sys.stderr)
    try:
        summary = run_batch(
            in_dir,
            out_dir,
            options=options,
            fmt=fmt,
            overlay=overlay,
            glob=pattern,
            pdf_dpi=dpi or 300.0,
            jobs=jobs,
            resume=resume,
            scheduler=scheduler,
            progress=reporter,
        )
    except KeyboardInterrupt:
        if reporter is not None:
            reporter.close()
        done = f"{reporter.done} page(s) finished; " if reporter is not None else ""
        click.echo(
            f"Interrupted: {done}run the same command again to resume "
            f"(see {out_dir / 'manifest.csv'}).",
            err=True,
        )
        click.get_current_context().exit(EXIT_INTERRUPTED)
    if reporter is not None:
        reporter.close()
        failures = [r for r in summary.rows if r.status == "failed"]
        for row in failures[:_MAX_FAILURES_SHOWN]:
            where = row.input if row.page == 1 else f"{row.input} (page {row.page})"
            click.echo(f"failed: {where}: {row.error}", err=True)
        if len(failures) > _MAX_FAILURES_SHOWN:
            click.echo(f"... and {len(failures) - _MAX_FAILURES_SHOWN} more failed", err=True)
    click.echo(summary.summary_line())
    if summary.n_failed:
        click.get_current_context().exit(EXIT_FAILED_PAGES)


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
        if s >= 3600
        else f"{s // 60:02d}:{s % 60:02d}"
    )


class _Progress:
    """Progress on `stream`: a bar on a terminal, else a plain line now and then.

    The bar (click's progress bar) shows pages done, percentage and ETA, with the rate and the
    failures beside it. Elsewhere (a log file, a pipe) a line such as ``12/200 pages (6%),
    1 failed, 31.0 pages/min, ETA 06:04`` is printed at every 5 % and at least every 30 s.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.bar: Any = None  # click's ProgressBar while a bar is shown
        self.done = 0
        self.last_line = -math.inf
        self.last_step = -1

    def __call__(self, p: BatchProgress) -> None:
        self.done = p.done
        if p.last is None:
            if p.skipped:
                click.echo(
                    f"Resuming: {p.skipped} page(s) done by an earlier run are skipped.",
                    file=self.stream,
                )
            if self.tty and p.total:
                self.bar = click.progressbar(
                    length=p.total,
                    label="Digitizing",
                    show_eta=True,
                    show_pos=True,
                    item_show_func=self._describe,
                    file=self.stream,
                )
                self.bar.__enter__()
            return
        if self.bar is not None:
            self.bar.update(1, p)
            return
        step = 20 * p.done // max(p.total, 1)
        now = time.monotonic()
        if p.done == p.total or step > self.last_step or now - self.last_line >= 30:
            self.last_step, self.last_line = step, now
            pct = 100 * p.done // max(p.total, 1)
            click.echo(
                f"{p.done}/{p.total} pages ({pct}%), {self._describe(p)}, ETA {_clock(p.eta_s)}",
                file=self.stream,
            )

    @staticmethod
    def _describe(p: BatchProgress | None) -> str:
        if p is None:
            return ""
        rate = p.pages_per_min
        return f"{p.failed} failed, " + (f"{rate:.1f} pages/min" if rate == rate else "-")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
