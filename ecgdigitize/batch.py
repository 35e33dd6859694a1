"""Digitizing folders of scans: discovery, output names, the manifest and parallel execution.

A batch turns every page of every image and PDF under a folder ``IN`` into a record under
``OUT``, mirroring the folder tree, and keeps ``OUT/manifest.csv`` — one row per page — up to
date as pages finish. The work runs in a local process pool or on a Dask distributed cluster;
every page is digitized independently by :func:`digitize_job`, so the records are the same
whatever the parallelism.

Guarantees
----------
- **One bad page never stops the run.** Every error raised for a page (unreadable file, no grid,
  no trace, an unexpected exception, a worker process that died) becomes a ``failed`` row with a
  message; the other pages go on.
- **No half-written record.** Records and overlays are written to a temporary folder beside
  their final name and renamed into place (:mod:`ecgdigitize.io.atomic`); leftovers of a killed
  run (``.ecgdigitize-tmp-*``) are removed when the next run starts and ends.
- **Truthful manifest.** At the start the manifest is rewritten (temporary file, then rename)
  with its header and the pages carried over from an earlier run; then each finished page is
  appended as one complete line with a single ``write`` call (no user-space buffering), after
  its record is in place; at the end the whole manifest is rewritten, again atomically, in input
  order. A killed run therefore leaves a manifest listing exactly the pages whose records are
  complete (plus failures). Should a power cut truncate the last line, :func:`read_manifest`
  drops the unterminated line, and its page is simply done again.
- **Resumable.** With ``resume=True`` a page is skipped when the manifest says it was done
  (``ok`` or ``skipped``) to the same record name and its files (and overlay, if asked) exist.
  Failed pages are tried again.
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import io
import math
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from .config import DigitizeOptions
from .errors import EcgDigitizeError, TraceNotFoundError
from .io.image import PDF_SUFFIXES, SUPPORTED_SUFFIXES

MANIFEST_NAME = "manifest.csv"
"""File name of the manifest, at the top of the output folder."""

MANIFEST_COLUMNS: tuple[str, ...] = (
    "input",
    "page",
    "output",
    "status",
    "error",
    "px_per_mm_x",
    "px_per_mm_y",
    "layout",
    "calibration_source",
    "leads_kept",
    "seconds",
    "warnings",
)
"""Columns of ``manifest.csv``, in order."""

STATUSES: tuple[str, ...] = ("ok", "failed", "skipped")
FORMATS: tuple[str, ...] = ("wfdb", "csv", "edf")
OUTPUT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "wfdb": (".hea", ".dat"),
    "csv": (".csv",),
    "edf": (".edf",),
}
OVERLAY_SUFFIX = "_overlay.png"
"""An overlay is written beside its record as ``<record>_overlay.png``."""

TEMP_PREFIX = ".ecgdigitize-tmp-"  # the prefix io.atomic gives its temporary folders

_RESERVED_NAMES = frozenset({Path(MANIFEST_NAME).stem.casefold()})


@dataclass(frozen=True)
class PageJob:
    """One page to digitize.

    Attributes
    ----------
    input : str
        File path relative to the input folder, POSIX style.
    page : int
        1-based page number in the file.
    n_pages : int
        Pages in the file (1 when the file cannot be opened: reading it then gives the error).
    output : str
        Record path relative to the output folder, POSIX style, without extension.
    """

    input: str
    page: int
    n_pages: int
    output: str


@dataclass(frozen=True)
class BatchSettings:
    """What every page of a batch is digitized with (sent to the workers with each job)."""

    in_dir: Path
    out_dir: Path
    options: DigitizeOptions = field(default_factory=DigitizeOptions)
    fmt: str = "wfdb"
    overlay: bool = False
    pdf_dpi: float = 300.0


@dataclass(frozen=True)
class ManifestRow:
    """One row of ``manifest.csv`` (see :data:`MANIFEST_COLUMNS`).

    Attributes
    ----------
    input, page, output
        As in :class:`PageJob`.
    status : {"ok", "failed", "skipped"}
        ``skipped``: done by an earlier run and kept; its other columns are that run's.
    error : str
        Why the page failed, without the file name (empty unless failed).
    px_per_mm_x, px_per_mm_y : float or None
        Scale found on the page.
    layout, calibration_source : str
        Lead layout and the source of the mV scale (``pulse``, ``grid`` or ``dpi``).
    leads_kept : int or None
        Leads with a trace kept (out of 12).
    seconds : float or None
        Wall time for the page in its worker: reading, digitizing and writing.
    warnings : str
        Warnings of the digitizer, separated by ``"; "``.
    """

    input: str
    page: int
    output: str
    status: str
    error: str = ""
    px_per_mm_x: float | None = None
    px_per_mm_y: float | None = None
    layout: str = ""
    calibration_source: str = ""
    leads_kept: int | None = None
    seconds: float | None = None
    warnings: str = ""

    def to_fields(self) -> list[str]:
        """The row as CSV fields, in :data:`MANIFEST_COLUMNS` order."""

        def num(value: float | int | None, fmt: str) -> str:
            return "" if value is None else format(value, fmt)

        return [
            self.input,
            str(self.page),
            self.output,
            self.status,
            _one_line(self.error),
            num(self.px_per_mm_x, ".4f"),
            num(self.px_per_mm_y, ".4f"),
            self.layout,
            self.calibration_source,
            num(self.leads_kept, "d"),
            num(self.seconds, ".3f"),
            _one_line(self.warnings),
        ]

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> ManifestRow:
        """Parse CSV fields (in :data:`MANIFEST_COLUMNS` order); ValueError if malformed."""
        if len(fields) != len(MANIFEST_COLUMNS):
            raise ValueError(f"expected {len(MANIFEST_COLUMNS)} fields, found {len(fields)}")
        values = dict(zip(MANIFEST_COLUMNS, fields, strict=True))
        if values["status"] not in STATUSES:
            raise ValueError(f"unknown status {values['status']!r}")

        def opt(name: str, kind: Callable[[str], Any]) -> Any:
            return kind(values[name]) if values[name] else None

        return cls(
            input=values["input"],
            page=int(values["page"]),
            output=values["output"],
            status=values["status"],
            error=values["error"],
            px_per_mm_x=opt("px_per_mm_x", float),
            px_per_mm_y=opt("px_per_mm_y", float),
            layout=values["layout"],
            calibration_source=values["calibration_source"],
            leads_kept=opt("leads_kept", int),
            seconds=opt("seconds", float),
            warnings=values["warnings"],
        )


@dataclass(frozen=True)
class PageResult:
    """What a worker reports for one page: the manifest row and where it ran."""

    row: ManifestRow
    worker: str = ""
    peak_rss_mb: float = math.nan


@dataclass(frozen=True)
class BatchProgress:
    """Progress of a run, given to the progress callback after every page.

    Attributes
    ----------
    done, total : int
        Pages finished in this run, and pages this run has to do (skipped ones excluded).
    failed : int
        Pages of this run that failed so far.
    skipped : int
        Pages done by an earlier run.
    elapsed_s : float
        Seconds since the run started working on pages.
    last : PageResult or None
        The page that just finished (None for the first call, before any page).
    """

    done: int
    total: int
    failed: int
    skipped: int
    elapsed_s: float
    last: PageResult | None = None

    @property
    def pages_per_min(self) -> float:
        """Rate of this run so far (NaN before the first page)."""
        return 60.0 * self.done / self.elapsed_s if self.done and self.elapsed_s > 0 else math.nan

    @property
    def eta_s(self) -> float:
        """Seconds left at the current rate (NaN before the first page)."""
        rate = self.pages_per_min
        return 60.0 * (self.total - self.done) / rate if rate > 0 else math.nan


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of :func:`run_batch`.

    Attributes
    ----------
    rows : tuple of ManifestRow
        Every page, in input order (as written to the manifest).
    manifest : Path
    elapsed_s : float
        Wall time of the run.
    workers : dict
        Peak resident memory (MB) of each worker process that digitized a page, by worker
        (``host:pid``).
    """

    rows: tuple[ManifestRow, ...]
    manifest: Path
    elapsed_s: float
    workers: dict[str, float] = field(default_factory=dict)

    def count(self, status: str) -> int:
        """Number of pages with `status`."""
        return sum(r.status == status for r in self.rows)

    @property
    def n_failed(self) -> int:
        return self.count("failed")

    def summary_line(self) -> str:
        """``"N pages: A ok, B failed, C skipped; manifest OUT/manifest.csv"``."""
        n = len(self.rows)
        return (
            f"{n} page{'' if n == 1 else 's'}: {self.count('ok')} ok, {self.count('failed')} "
            f"failed, {self.count('skipped')} skipped; manifest {self.manifest}"
        )


# --------------------------------------------------------------------------------------------
# Discovery and output names


def record_name(stem: str) -> str:
    """A WFDB-safe record name for a file stem.

    WFDB record names may hold only letters, digits, ``-`` and ``_`` (letters and digits of any
    script). The stem is normalised to Unicode NFC (macOS stores decomposed accents) and every
    other character (space, dot, brackets, …) becomes ``_``.

    Examples
    --------
    >>> record_name("Müller 2021.03 (copy)")
    'Müller_2021_03__copy_'
    """
    name = re.sub(r"[^-\w]", "_", unicodedata.normalize("NFC", stem))
    return name or "record"


def _page_names(base: str, n_pages: int) -> list[str]:
    from .pipeline import output_names

    return [p.as_posix() for p in output_names(PurePosixPath(base), n_pages)]


def discover_inputs(
    in_dir: str | os.PathLike[str],
    *,
    glob: str | None = None,
    exclude: Sequence[str | os.PathLike[str]] = (),
) -> list[PageJob]:
    """Find every page to digitize under `in_dir` and name its output record.

    Files are found recursively by extension (case-insensitive: PNG, JPEG, TIFF, BMP, PDF);
    names starting with ``.`` (hidden files and folders) are skipped, and so are the folders in
    `exclude` (an output folder inside the input folder). Every page of a PDF or multi-frame
    TIFF is a job; the pages are counted without decoding them. A file that cannot be opened
    gives one job, which fails with the reason when it is digitized.

    Output records mirror the tree: ``a/b/scan 1.png`` gives ``a/b/scan_1`` (see
    :func:`record_name`), and the pages of ``a/doc.pdf`` give ``a/doc_p1``, ``a/doc_p2``, ….
    When two files would get the same record name in a folder (``x.png`` and ``x.pdf``, or
    ``x y.png`` and ``x_y.png``; compared case-insensitively, and ``manifest`` is reserved at
    the top), the later one in sorted order gets its extension appended (``x_pdf``), then a
    number (``x_pdf_2``). Names thus depend only on the set of files, not on the run.

    Parameters
    ----------
    in_dir : str or path-like
        Folder to search.
    glob : str, optional
        Keep only files matching this shell pattern, case-insensitively: against the file name,
        or against the path relative to `in_dir` when the pattern holds a ``/`` (``*`` then
        also matches ``/``).
    exclude : sequence of path-like
        Folders not to enter.

    Returns
    -------
    list of PageJob
        In sorted order of the relative paths, pages in order.

    Raises
    ------
    FileNotFoundError
        If `in_dir` does not exist.
    EcgDigitizeError
        If `in_dir` is not a folder.
    """
    from .io.image import count_pages

    root = Path(in_dir)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder")
    if not root.is_dir():
        raise EcgDigitizeError(
            f"{root}: is a file, not a folder; use `ecgdigitize extract` for a single file"
        )
    excluded = {Path(e).resolve() for e in exclude}
    pattern = glob.casefold() if glob else None
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [
            d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in excluded
        ]
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            rel = (here / name).relative_to(root).as_posix()
            if pattern is not None:
                subject = rel if "/" in pattern else name
                if not fnmatch.fnmatchcase(subject.casefold(), pattern):
                    continue
            files.append(rel)
    files.sort()

    taken = set(_RESERVED_NAMES)
    jobs: list[PageJob] = []
    for rel in files:
        try:
            n_pages = count_pages(root / rel)
        except Exception:  # reading the page later reports the error
            n_pages = 1
        n_pages = max(n_pages, 1)
        path = PurePosixPath(rel)
        stem = record_name(path.stem)
        parent = "" if str(path.parent) == "." else f"{path.parent}/"
        candidates = _candidates(stem, path.suffix.lower().lstrip("."))
        for candidate in candidates:
            names = _page_names(parent + candidate, n_pages)
            keys = {n.casefold() for n in names}
            if not keys & taken:
                taken |= keys
                break
        jobs += [PageJob(rel, k + 1, n_pages, name) for k, name in enumerate(names)]
    return jobs


def _candidates(stem: str, ext: str) -> Iterator[str]:
    yield stem
    yield f"{stem}_{ext}"
    k = 2
    while True:
        yield f"{stem}_{ext}_{k}"
        k += 1


def output_files(settings: BatchSettings, job: PageJob) -> list[Path]:
    """The files a finished page leaves in the output folder (record files, then overlay)."""
    base = settings.out_dir / job.output
    files = [base.with_name(base.name + s) for s in OUTPUT_SUFFIXES[settings.fmt]]
    if settings.overlay:
        files.append(base.with_name(base.name + OVERLAY_SUFFIX))
    return files


# --------------------------------------------------------------------------------------------
# The manifest


def _one_line(text: str) -> str:
    return " ".join(text.split()) if ("\n" in text or "\r" in text) else text


def _csv_line(fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestRow]:
    """Read a ``manifest.csv`` written by :func:`run_batch`.

    A last line without its newline (a write cut short by a crash) and malformed rows are
    ignored: their pages count as not done.

    Raises
    ------
    EcgDigitizeError
        If the file's header is not :data:`MANIFEST_COLUMNS`.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete = lines[:-1]  # the text after the last newline is empty or an unfinished row
    if not complete or next(csv.reader([complete[0]]), []) != list(MANIFEST_COLUMNS):
        raise EcgDigitizeError(
            f"{p}: not a manifest of `ecgdigitize batch` (expected the columns "
            f"{','.join(MANIFEST_COLUMNS)}); pass --overwrite to start afresh"
        )
    rows = []
    for fields in csv.reader(complete[1:]):
        try:
            rows.append(ManifestRow.from_fields(fields))
        except ValueError:
            continue
    return rows


def write_manifest(path: str | os.PathLike[str], rows: Iterable[ManifestRow]) -> None:
    """Write a complete manifest atomically (temporary file in the same folder, then rename)."""
    p = Path(path)
    text = _csv_line(MANIFEST_COLUMNS) + "".join(_csv_line(r.to_fields()) for r in rows)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + "manifest-", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _ManifestAppender:
    """Appends complete rows to the manifest, one ``os.write`` per row."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def append(self, row: ManifestRow) -> None:
        data = memoryview(_csv_line(row.to_fields()).encode("utf-8"))
        while data:
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        os.close(self._fd)


def remove_temporaries(out_dir: str | os.PathLike[str]) -> int:
    """Remove leftovers of interrupted writes (``.ecgdigitize-tmp-*``) under `out_dir`.

    Returns the number of entries removed.
    """
    removed = 0
    for dirpath, dirnames, filenames in os.walk(out_dir):
        for name in [d for d in dirnames if d.startswith(TEMP_PREFIX)]:
            shutil.rmtree(Path(dirpath) / name, ignore_errors=True)
            dirnames.remove(name)
            removed += 1
        for name in filenames:
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(Path(dirpath) / name)
                removed += 1
    return removed


# --------------------------------------------------------------------------------------------
# One page (runs in a worker)

_PDF_LOCK = threading.Lock()  # pdfium is not thread-safe (threaded Dask workers)


def digitize_job(job: PageJob, settings: BatchSettings) -> PageResult:
    """Read, digitize and write one page; never raises for a bad page.

    Errors become a ``failed`` row: :class:`~ecgdigitize.errors.EcgDigitizeError` with its
    message, a failed write as ``cannot write ...``, and anything else as
    ``internal error: <type>: <message>``. A page that fails leaves no record (one left at its
    name by an earlier run is removed, so the output folder agrees with the manifest). A page
    on which no lead was recovered (all below the confidence threshold) fails.
    """
    from .io.image import read_page
    from .pipeline import digitize_page

    t0 = time.perf_counter()
    source = settings.in_dir / job.input
    base = settings.out_dir / job.output
    row = ManifestRow(job.input, job.page, job.output, "failed")
    try:
        lock = _PDF_LOCK if source.suffix.lower() in PDF_SUFFIXES else contextlib.nullcontext()
        with lock:
            page = read_page(
                source,
                job.page,
                pdf_dpi=settings.pdf_dpi,
                max_pixels=settings.options.max_pixels,
            )
        result = digitize_page(page, settings.options, keep_overlay=settings.overlay)
        d = result.diagnostics
        kept = sum(ld.kept for ld in d.leads)
        if kept == 0:
            raise TraceNotFoundError(
                f"no lead recovered (all below confidence {settings.options.min_confidence:g})"
            )
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            writer = {"wfdb": result.to_wfdb, "csv": result.to_csv, "edf": result.to_edf}
            writer[settings.fmt](base, overwrite=True)
            if settings.overlay:
                result.save_overlay(base.with_name(base.name + OVERLAY_SUFFIX), overwrite=True)
        except OSError as exc:
            raise _WriteError(f"cannot write {job.output}: {exc}") from exc
        row = replace(
            row,
            status="ok",
            px_per_mm_x=d.px_per_mm_x,
            px_per_mm_y=d.px_per_mm_y,
            layout=d.layout,
            calibration_source=d.calibration_source,
            leads_kept=kept,
            warnings="; ".join(d.warnings),
        )
    except (EcgDigitizeError, _WriteError) as exc:
        row = replace(row, error=_strip_source(str(exc), source, job))
    except MemoryError:
        row = replace(row, error="out of memory while digitizing this page")
    except Exception as exc:
        row = replace(row, error=f"internal error: {type(exc).__name__}: {exc}")
    if row.status == "failed":
        for path in output_files(settings, job):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
    row = replace(row, seconds=round(time.perf_counter() - t0, 3))
    return PageResult(row, worker=_worker_id(), peak_rss_mb=_peak_rss_mb())


class _WriteError(Exception):
    pass


def _strip_source(message: str, source: Path, job: PageJob) -> str:
    """Drop the leading ``file:`` / ``file (page k):`` of a message (the row names them)."""
    message = _one_line(message)
    for prefix in (f"{source} (page {job.page}): ", f"{source}: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message.replace(str(source), job.input)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return math.nan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024.0 * 1024.0) if os.uname().sysname == "Darwin" else peak / 1024.0


# --------------------------------------------------------------------------------------------
# Running a batch


def default_jobs() -> int:
    """Number of CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def run_batch(
    in_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    options: DigitizeOptions | None = None,
    fmt: str = "wfdb",
    overlay: bool = False,
    glob: str | None = None,
    pdf_dpi: float = 300.0,
    jobs: int | None = None,
    resume: bool = True,
    scheduler: str | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
) -> BatchSummary:
    """Digitize every page under `in_dir` into records under `out_dir`.

    See the module notes for what is guaranteed on failures and interruptions.

    Parameters
    ----------
    in_dir, out_dir : path-like
        Input folder (searched recursively, see :func:`discover_inputs`) and output folder.
    options : DigitizeOptions, optional
        Digitizer options, the same for every page.
    fmt : {"wfdb", "csv", "edf"}
        Record format.
    overlay : bool
        Also write each page's QA overlay as ``<record>_overlay.png``.
    glob : str, optional
        Keep only the files matching this pattern (see :func:`discover_inputs`).
    pdf_dpi : float
        Resolution at which PDF pages are rasterised.
    jobs : int, optional
        Worker processes (default: every CPU this process may use). Ignored with `scheduler`.
    resume : bool
        Keep the pages an earlier run finished (``skipped`` rows). With False, every page is
        digitized again and existing records are replaced.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``) to run the pages on
        instead of local processes; needs the ``dask`` extra. The input and output folders must
        be reachable at the same paths from every worker.
    progress : callable, optional
        Called with a :class:`BatchProgress` once before the first page and after every page,
        in the calling process.

    Returns
    -------
    BatchSummary

    Raises
    ------
    FileNotFoundError
        If `in_dir` does not exist.
    FileExistsError
        If `out_dir` is not empty, holds no manifest and `resume` is true (it is not the output
        of an earlier batch: pass ``resume=False`` to write into it).
    EcgDigitizeError
        If no input is found, the manifest is not one of ours, or the scheduler is unreachable.
    KeyboardInterrupt
        After the pages in progress have finished and the manifest has been written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    t_start = time.perf_counter()
    out = Path(out_dir).absolute()
    settings = BatchSettings(
        in_dir=Path(in_dir).absolute(),
        out_dir=out,
        options=options or DigitizeOptions(),
        fmt=fmt,
        overlay=overlay,
        pdf_dpi=float(pdf_dpi),
    )
    all_jobs = discover_inputs(settings.in_dir, glob=glob, exclude=[out])
    if not all_jobs:
        raise EcgDigitizeError(
            f"{in_dir}: no images or PDFs found"
            + (f" matching {glob!r}" if glob else "")
            + f" (looked for {', '.join(SUPPORTED_SUFFIXES)} in every subfolder)"
        )
    manifest = out / MANIFEST_NAME
    previous = _previous_rows(manifest, Path(out_dir), resume=resume)

    rows: dict[int, ManifestRow] = {}
    todo: list[tuple[int, PageJob]] = []
    for index, job in enumerate(all_jobs):
        before = previous.get((job.input, job.page))
        if (
            before is not None
            and before.status in ("ok", "skipped")
            and before.output == job.output
            and all(p.is_file() for p in output_files(settings, job))
        ):
            rows[index] = replace(before, status="skipped")
        else:
            todo.append((index, job))

    # Connect before writing anything, so that a wrong address leaves OUT untouched.
    client = _dask_client(scheduler) if todo and scheduler is not None else None
    out.mkdir(parents=True, exist_ok=True)
    remove_temporaries(out)
    write_manifest(manifest, [rows[i] for i in sorted(rows)])
    appender = _ManifestAppender(manifest)
    workers: dict[str, float] = {}
    n_skipped = len(rows)
    done = failed = 0
    t_work = time.perf_counter()
    if progress is not None:
        progress(BatchProgress(0, len(todo), 0, n_skipped, 0.0))

    def on_result(index: int, result: PageResult) -> None:
        nonlocal done, failed
        appender.append(result.row)
        rows[index] = result.row
        if result.worker:
            workers[result.worker] = max(workers.get(result.worker, 0.0), result.peak_rss_mb)
        done += 1
        failed += result.row.status == "failed"
        if progress is not None:
            elapsed = time.perf_counter() - t_work
            progress(BatchProgress(done, len(todo), failed, n_skipped, elapsed, result))

    try:
        if client is not None:
            with client:
                _run_dask(todo, settings, client, on_result)
        elif todo:
            _run_local(todo, settings, min(jobs or default_jobs(), len(todo)), on_result)
    finally:
        appender.close()
        write_manifest(manifest, [rows[i] for i in sorted(rows)])
        remove_temporaries(out)
    return BatchSummary(
        rows=tuple(rows[i] for i in sorted(rows)),
        manifest=Path(out_dir) / MANIFEST_NAME,
        elapsed_s=time.perf_counter() - t_start,
        workers=workers,
    )


def _previous_rows(
    manifest: Path, out: Path, *, resume: bool
) -> dict[tuple[str, int], ManifestRow]:
    if not resume:
        return {}
    if manifest.is_file():
        return {(r.input, r.page): r for r in read_manifest(manifest)}
    if out.is_dir() and any(not p.name.startswith(TEMP_PREFIX) for p in out.iterdir()):
        raise FileExistsError(
            f"{out}: folder is not empty and holds no {MANIFEST_NAME} of an earlier batch; "
            "pass --overwrite to write into it anyway"
        )
    return {}


def _failed(job: PageJob, message: str) -> PageResult:
    return PageResult(ManifestRow(job.input, job.page, job.output, "failed", error=message))


_WORKER_DIED = (
    "internal error: the worker process died while digitizing this page "
    "(out of memory, or a crash in a native library)"
)


def _init_worker(lifeline: Any) -> None:
    """Pool worker set-up: leave Ctrl-C to the parent, one OpenCV thread, exit with the parent.

    `lifeline` is the read end of a pipe whose write end only the parent holds and never
    writes to: reading it returns (end of file) once the parent has gone, however it died, and
    the worker then exits instead of idling forever.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):
        import cv2

        cv2.setNumThreads(1)

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


# Modules the pipeline imports on first use, imported once in the fork server (not per worker).
_PRELOAD = (
    "ecgdigitize.batch",
    "ecgdigitize.pipeline",
    "ecgdigitize.overlay",
    "ecgdigitize.io.wfdb",
    "ecgdigitize.io.tabular",
    "wfdb",
    "cv2",
    "PIL.Image",
    "PIL.ImageOps",
    "PIL.PngImagePlugin",
    "PIL.JpegImagePlugin",
    "PIL.TiffImagePlugin",
    "pypdfium2",
    "scipy.ndimage",
    "scipy.signal",
    "skimage.filters",
    "skimage.filters.thresholding",
    "skimage.morphology",
    "skimage.morphology.misc",
)


def _mp_context() -> Any:
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # Import the pipeline once in the fork server, not once per worker.
        ctx.set_forkserver_preload(list(_PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - macOS, Windows


def _run_local(
    todo: list[tuple[int, PageJob]],
    settings: BatchSettings,
    jobs: int,
    on_result: Callable[[int, PageResult], None],
    *,
    work: Callable[[PageJob, BatchSettings], PageResult] = digitize_job,
) -> None:
    """Run `todo` in a process pool; a pool broken by a dying worker is replaced.

    The pages in flight when a worker died are then run one at a time in their own pool, so
    only the page that kills its worker is reported as failed. `work` (a module-level
    function) digitizes one page; tests replace it.
    """
    ctx = _mp_context()
    lifeline, keep_alive = ctx.Pipe(duplex=False)
    try:
        _run_pools(todo, settings, jobs, on_result, ctx, lifeline, work)
    finally:  # after every pool has shut down
        lifeline.close()
        keep_alive.close()


def _run_pools(
    todo: list[tuple[int, PageJob]],
    settings: BatchSettings,
    jobs: int,
    on_result: Callable[[int, PageResult], None],
    ctx: Any,
    lifeline: Any,
    work: Callable[[PageJob, BatchSettings], PageResult],
) -> None:
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = deque(todo)
    suspects: deque[tuple[int, PageJob]] = deque()

    def new_pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(lifeline,)
        )

    while queue or suspects:
        if suspects:
            index, job = suspects.popleft()
            with new_pool(1) as pool:
                try:
                    on_result(index, pool.submit(work, job, settings).result())
                except BrokenProcessPool:
                    on_result(index, _failed(job, _WORKER_DIED))
            continue
        pending: dict[Future[PageResult], tuple[int, PageJob]] = {}
        with new_pool(jobs) as pool:
            try:
                while queue or pending:
                    while queue and len(pending) < 2 * jobs:
                        future = pool.submit(work, queue[0][1], settings)
                        pending[future] = queue.popleft()
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        result = future.result()  # BrokenProcessPool if a worker died
                        on_result(pending.pop(future)[0], result)
            except BrokenProcessPool:
                # Keep what finished before the pool broke; the rest become suspects.
                for future, (index, job) in pending.items():
                    if future.done() and future.exception() is None:
                        on_result(index, future.result())
                    else:
                        suspects.append((index, job))
                pending.clear()
            except KeyboardInterrupt:
                _finish_in_flight(pending, on_result)
                raise


def _finish_in_flight(
    pending: dict[Any, tuple[int, PageJob]], on_result: Callable[[int, PageResult], None]
) -> None:
    """After Ctrl-C: drop the pages not started, wait for (and record) those in progress."""
    from concurrent.futures import wait

    running = {f: item for f, item in pending.items() if not f.cancel()}
    for future in wait(running).done:
        with contextlib.suppress(Exception):
            on_result(running[future][0], future.result())


def _dask_client(scheduler: str) -> Any:
    """A Dask distributed client connected to `scheduler`, or a clear error."""
    try:
        from distributed import Client
    except ImportError:
        raise EcgDigitizeError(
            "--scheduler needs Dask distributed: pip install 'ecgdigitize[dask]'"
        ) from None
    try:
        return Client(scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise EcgDigitizeError(
            f"cannot connect to the Dask scheduler at {scheduler}: {exc}"
        ) from exc


def _run_dask(
    todo: list[tuple[int, PageJob]],
    settings: BatchSettings,
    client: Any,
    on_result: Callable[[int, PageResult], None],
) -> None:
    """Run `todo` on a Dask distributed cluster, a few pages per worker thread at a time."""
    from distributed import as_completed

    threads = max(1, sum(client.nthreads().values()))
    window = max(4, 2 * threads)
    token = f"ecgdigitize-page-{os.getpid()}-{time.time_ns()}"
    queue = deque(todo)
    pending: dict[Any, tuple[int, PageJob]] = {}

    def submit() -> Any:
        index, job = queue.popleft()
        future = client.submit(
            digitize_job, job, settings, key=f"{token}-{index}", pure=False, retries=0
        )
        pending[future] = (index, job)
        return future

    try:
        first = [submit() for _ in range(min(window, len(queue)))]
        completed = as_completed(first, loop=client.loop)
        for future in completed:
            index, job = pending.pop(future)
            try:
                result = future.result()
            except Exception as exc:  # e.g. KilledWorker after repeated worker deaths
                result = _failed(job, f"internal error: {type(exc).__name__}: {exc}")
            on_result(index, result)
            if queue:
                completed.add(submit())
    except KeyboardInterrupt:
        client.cancel(list(pending))
        raise
