"""Throughput of ``ecgdigitize batch``: pages per minute with 1 and 2 local workers and Dask.

Run from the repository root::

    python -m benchmarks.batch [--pages 200] [--dpi 200] [--no-dask] [--keep DIR]

Renders PTB-XL development records 00001… (``../shared/data``, 3x4+II, letter paper) as PNG
sheets with their ground truth into a temporary folder, then digitizes the folder with
:func:`ecgdigitize.batch.run_batch`:

- ``--jobs 1`` and ``--jobs 2`` (local process pool), and a Dask ``LocalCluster`` with two
  single-threaded worker processes (skipped when Dask distributed is not installed);
- the same pages one by one in this process (read, digitize, write: what ``extract`` does
  after start-up), and one ``ecgdigitize extract`` run as a subprocess (with interpreter
  start-up), to see the per-page overhead of a batch;
- peak resident memory per worker (``ru_maxrss``; it includes the pages shared with the fork
  server, so it overstates what each worker adds), and whether the records of every run are
  byte-identical to those of ``--jobs 1``;
- pooled SNR of the ``--jobs 1`` output against the ground truth (``score_folders``).

Wall times include starting each pool's workers but not the once-per-command start of the fork
server (reported apart), nor starting and warming the Dask cluster, which a user already has.
Numeric libraries are limited to one thread per process.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from ecgdigitize.batch import (  # noqa: E402
    BatchSettings,
    BatchSummary,
    digitize_job,
    discover_inputs,
    run_batch,
)
from ecgdigitize.config import DigitizeOptions, RenderOptions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO.parent / "shared" / "data" / "ptbxl" / "records500" / "00000"
MAX_DEV_RECORD = 400  # 00401-00500 are reserved for evaluation


def render_pages(folder: Path, n: int, dpi: float) -> float:
    """Write sheets of records 00001..n into `folder`; return the seconds it took."""
    from ecgdigitize.render import render_record, write_sheet

    t0 = time.perf_counter()
    for k in range(1, n + 1):
        sheet = render_record(RECORDS / f"{k:05d}_hr", options=RenderOptions(dpi=dpi))
        write_sheet(sheet, folder / f"{k:05d}_hr.png")
    return time.perf_counter() - t0


def one_by_one(folder: Path, out: Path, n: int) -> list[float]:
    """Seconds per page to read, digitize and write the first `n` sheets in this process."""
    from ecgdigitize.io.image import read_page
    from ecgdigitize.pipeline import digitize_page

    options = DigitizeOptions()
    pages = sorted(folder.glob("*.png"))[:n]
    digitize_page(read_page(pages[0], 1), options)  # warm-up: lazy imports
    times = []
    for path in pages:
        t0 = time.perf_counter()
        result = digitize_page(read_page(path, 1), options)
        result.to_wfdb(out / path.stem, overwrite=True)
        times.append(time.perf_counter() - t0)
    return times


def extract_subprocess(path: Path, out: Path) -> float:
    """Wall time of one ``python -m ecgdigitize extract`` run (interpreter start included)."""
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ecgdigitize",
            "extract",
            str(path),
            "-o",
            str(out / "cli"),
            "--overwrite",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def records(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.csv"
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200, help="sheets to render (1-400)")
    parser.add_argument("--dpi", type=float, default=200.0, help="resolution of the sheets")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask run")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    args = parser.parse_args(argv)
    if not 1 <= args.pages <= MAX_DEV_RECORD:
        parser.error(f"--pages must be within 1-{MAX_DEV_RECORD} (development records)")
    if not RECORDS.is_dir():
        parser.error(f"PTB-XL records not found at {RECORDS}")

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        scans = work / "scans"
        scans.mkdir(parents=True, exist_ok=True)
        t_render = render_pages(scans, args.pages, args.dpi)
        print(f"rendered {args.pages} sheets at {args.dpi:g} dpi in {t_render:.1f} s")

        single_dir = work / "single"
        single_dir.mkdir(exist_ok=True)
        per_page = one_by_one(scans, single_dir, min(args.pages, 20))
        t_single = statistics.median(per_page)
        t_cli = extract_subprocess(sorted(scans.glob("*.png"))[0], single_dir)

        # A one-page run first: it starts the fork server that imports the digitizer once per
        # command (the fixed start-up cost of a batch); the timed runs reuse it, as the pools
        # of one command do.
        warm = work / "warm"
        warm.mkdir(exist_ok=True)
        shutil.copy(sorted(scans.glob("*.png"))[0], warm)
        t0 = time.perf_counter()
        run_batch(warm, work / "warm_out", jobs=1, resume=False)
        t_startup = time.perf_counter() - t0 - t_single

        runs: list[tuple[str, BatchSummary, float]] = []
        for jobs in (1, 2):
            out = work / f"jobs{jobs}"
            t0 = time.perf_counter()
            summary = run_batch(scans, out, jobs=jobs, resume=False)
            runs.append((f"--jobs {jobs}", summary, time.perf_counter() - t0))
        if not args.no_dask:
            try:
                from distributed import Client, LocalCluster
            except ImportError:
                print("Dask distributed not installed: no Dask run")
            else:
                with LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    processes=True,
                    protocol="tcp",
                    host="127.0.0.1",
                    dashboard_address=None,
                ) as cluster:
                    # Warm every worker (imports) as a cluster in use would be.
                    with Client(cluster.scheduler_address) as client:
                        settings = BatchSettings(warm.absolute(), (work / "warm_dask").absolute())
                        client.run(digitize_job, discover_inputs(warm)[0], settings)
                    out = work / "dask"
                    t0 = time.perf_counter()
                    summary = run_batch(
                        scans, out, scheduler=cluster.scheduler_address, resume=False
                    )
                    runs.append(("Dask, 2 workers", summary, time.perf_counter() - t0))

        from ecgdigitize.metrics import score_folders

        report = score_folders(scans, work / "jobs1", metrics=("snr",))
        reference = records(work / "jobs1")
        n = args.pages
        base = runs[0][2]
        print(
            f"one page in-process (read+digitize+write): median {t_single:.3f} s "
            f"over {len(per_page)} pages; `ecgdigitize extract` subprocess: {t_cli:.2f} s"
        )
        print(f"fixed start-up of a local batch (fork server, imports): {t_startup:.2f} s")
        print(
            "overhead s/page = wall time x workers / pages - in-process page time "
            "(includes pool start and contention for the shared cores); worker s/page = median "
            "time of a page inside its worker (manifest `seconds`)"
        )
        print(
            f"pooled SNR of --jobs 1 against the ground truth: {report.pooled_means['snr']:.2f} dB"
        )
        print()
        head = (
            f"{'run':16s} {'pages':>5s} {'ok':>4s} {'wall s':>7s} {'pages/min':>9s} "
            f"{'speed-up':>8s} {'s/page':>7s} {'worker s/page':>13s} {'overhead s/page':>15s} "
            f"{'peak MB/worker':>14s} "
            f"{'identical':>9s}"
        )
        print(head)
        print("-" * len(head))
        for name, summary, wall in runs:
            peak = max(summary.workers.values()) if summary.workers else float("nan")
            same = records(summary.manifest.parent) == reference
            workers = max(len(summary.workers), 1)
            # Overhead: wall time per page times workers, minus the in-process page time.
            overhead = wall * workers / n - t_single
            in_worker = statistics.median(r.seconds or 0.0 for r in summary.rows)
            print(
                f"{name:16s} {n:5d} {summary.count('ok'):4d} {wall:7.1f} {60 * n / wall:9.1f} "
                f"{base / wall:8.2f} {wall / n:7.3f} {in_worker:13.3f} {overhead:15.3f} "
                f"{peak:14.0f} {'yes' if same else 'NO':>9s}"
            )


if __name__ == "__main__":
    main()
