"""The ``batch`` command: discovery, manifest, failures, determinism, resume, Dask."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from synthetic import synthetic_ecg

from ecgdigitize.batch import (
    MANIFEST_COLUMNS,
    BatchSettings,
    ManifestRow,
    PageJob,
    PageResult,
    discover_inputs,
    read_manifest,
    record_name,
    run_batch,
)
from ecgdigitize.cli.main import cli
from ecgdigitize.config import DigitizeOptions, RenderOptions
from ecgdigitize.errors import EcgDigitizeError
from ecgdigitize.io.wfdb import read_record, write_record
from ecgdigitize.render import render

REPO = Path(__file__).resolve().parents[1]
GOOD = ["good.png", "nested/deeper/B.PNG", "nested/two pages.pdf", "Ünï codé dir/scan 1.jpg"]
# (input, page, output, status, error) of every page of the tree, in manifest order.
EXPECTED = [
    ("blank.png", "1", "blank", "failed", "no ECG trace found: the page is blank"),
    (
        "corrupt.png",
        "1",
        "corrupt",
        "failed",
        "corrupt or truncated image (image file is truncated)",
    ),
    ("empty.png", "1", "empty", "failed", "file is empty (0 bytes)"),
    ("good.png", "1", "good", "ok", ""),
    ("nested/deeper/B.PNG", "1", "nested/deeper/B", "ok", ""),
    ("nested/two pages.pdf", "1", "nested/two_pages_p1", "ok", ""),
    ("nested/two pages.pdf", "2", "nested/two_pages_p2", "ok", ""),
    ("notes.jpg", "1", "notes", "failed", "not a readable image (unknown or corrupt format)"),
    ("Ünï codé dir/scan 1.jpg", "1", "Ünï codé dir/scan_1", "ok", ""),
]
OK_RECORDS = [e[2] for e in EXPECTED if e[3] == "ok"]


@pytest.fixture(scope="module")
def sheet():  # type: ignore[no-untyped-def]
    # 100 dpi keeps the suite fast; such a sheet digitizes as 3x4+II, 12 leads, ~16 dB.
    return render(synthetic_ecg(), fs=500.0, options=RenderOptions(dpi=100))


def _save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, dpi=(100, 100))


def _save_pdf(image: np.ndarray, path: Path, n_pages: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    h, w = image.shape[:2]
    with PdfPages(path) as doc:
        for _ in range(n_pages):
            fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
            fig.figimage(image, resize=False)
            doc.savefig(fig, dpi=100)
            plt.close(fig)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, sheet) -> Path:  # type: ignore[no-untyped-def]
    """Good pages (nested, upper-case extension, 2-page PDF, unicode name with spaces) and bad
    ones (truncated PNG, zero bytes, text named .jpg, blank page), plus files to ignore."""
    from PIL import Image

    root = tmp_path_factory.mktemp("scans")
    _save_png(sheet.image, root / "good.png")
    _save_png(sheet.image, root / "nested" / "deeper" / "B.PNG")
    _save_pdf(sheet.image, root / "nested" / "two pages.pdf", 2)
    (root / "Ünï codé dir").mkdir()
    Image.fromarray(sheet.image).save(root / "Ünï codé dir" / "scan 1.jpg", quality=95)
    data = (root / "good.png").read_bytes()
    (root / "corrupt.png").write_bytes(data[: len(data) // 3])
    (root / "empty.png").write_bytes(b"")
    (root / "notes.jpg").write_text("not an image", encoding="utf-8")
    _save_png(np.full((850, 1100, 3), 255, np.uint8), root / "blank.png")
    (root / "readme.txt").write_text("ignored", encoding="utf-8")
    _save_png(sheet.image, root / ".hidden" / "ignored.png")
    return root


def _invoke(*args: str) -> object:
    return CliRunner().invoke(cli, ["batch", *args], catch_exceptions=False)


def _summary(n: int, ok: int, failed: int, skipped: int, out: Path) -> str:
    return (
        f"{n} pages: {ok} ok, {failed} failed, {skipped} skipped; manifest {out / 'manifest.csv'}"
    )


def _manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == MANIFEST_COLUMNS
        return list(reader)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.csv"
    }


@pytest.fixture(scope="module")
def run1(tree: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The tree through the CLI with one worker."""
    out = tmp_path_factory.mktemp("run1") / "out"
    result = _invoke(str(tree), "-o", str(out), "--jobs", "1", "--dpi", "100", "--overlay")
    return out, result


# --------------------------------------------------------------------------------------------


def test_tree_exit_code_summary_and_failures(run1) -> None:  # type: ignore[no-untyped-def]
    out, result = run1
    assert result.exit_code == 1
    assert result.stdout == _summary(9, 5, 4, 0, out) + "\n"
    assert "failed: empty.png: file is empty (0 bytes)\n" in result.stderr
    assert "failed: notes.jpg: not a readable image (unknown or corrupt format)\n" in result.stderr
    # Not a terminal: plain progress lines with the rate and the ETA.
    assert "9/9 pages (100%), 4 failed, " in result.stderr
    assert "pages/min, ETA 00:00" in result.stderr


def test_tree_manifest(run1, tree: Path) -> None:  # type: ignore[no-untyped-def]
    from ecgdigitize.io.image import read_page
    from ecgdigitize.pipeline import digitize_page

    out, _ = run1
    rows = _manifest(out)
    assert [
        (r["input"], r["page"], r["output"], r["status"], r["error"]) for r in rows
    ] == EXPECTED
    # The diagnostics columns are the digitizer's, as `extract` would find them.
    d = digitize_page(read_page(tree / "good.png", 1), DigitizeOptions(dpi=100)).diagnostics
    expected = (
        f"{d.px_per_mm_x:.4f}",
        f"{d.px_per_mm_y:.4f}",
        d.layout,
        d.calibration_source,
        str(sum(ld.kept for ld in d.leads)),
        "; ".join(d.warnings),
    )
    assert d.px_per_mm_x == pytest.approx(100 / 25.4, rel=0.005)
    columns = ("px_per_mm_x", "px_per_mm_y", "layout", "calibration_source", "leads_kept")
    for row in rows:
        assert float(row["seconds"]) >= 0
        if row["status"] == "ok":
            assert float(row["seconds"]) > 0
            assert (*(row[c] for c in columns), row["warnings"]) == expected
        else:
            assert all(row[c] == "" for c in columns)


def test_tree_outputs_mirror_the_input(run1) -> None:  # type: ignore[no-untyped-def]
    out, _ = run1
    expected = {f"{name}{suffix}" for name in OK_RECORDS for suffix in (".hea", ".dat")}
    expected |= {f"{name}_overlay.png" for name in OK_RECORDS}
    assert set(_files(out)) == expected  # nothing for failed pages, no temporaries
    record = read_record(out / "Ünï codé dir" / "scan_1")
    assert record.signal.shape == (5000, 12)
    assert record.lead_names[:3] == ("I", "II", "III")


def test_jobs_2_gives_byte_identical_outputs(run1, tree: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out1, _ = run1
    out2 = tmp_path / "out2"
    result = _invoke(str(tree), "-o", str(out2), "--jobs", "2", "--dpi", "100", "--overlay")
    assert result.exit_code == 1
    assert _files(out2) == _files(out1)

    def strip(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert strip(_manifest(out2)) == strip(_manifest(out1))


def test_resume_skips_done_pages_and_retries_failed(run1, tmp_path: Path, tree: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    shutil.copytree(run1[0], out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.hea")}
    result = _invoke(str(tree), "-o", str(out), "--dpi", "100", "--overlay", "-q")
    assert result.exit_code == 1
    assert result.stdout == _summary(9, 0, 4, 5, out) + "\n"
    assert result.stderr == ""  # -q: no progress, no list
    rows = _manifest(out)
    assert [r["status"] for r in rows] == [
        "skipped" if e[3] == "ok" else "failed" for e in EXPECTED
    ]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.hea")} == before
    # Without --overlay the same records count as done; a new format is done again.
    result = _invoke(str(tree), "-o", str(out), "--dpi", "100", "-q", "--format", "csv")
    assert result.stdout == _summary(9, 5, 4, 0, out) + "\n"
    assert (out / "nested" / "two_pages_p2.csv").is_file()


def test_score_all_on_a_batch_output_tree(run1, sheet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = run1
    ref = tmp_path / "ref"
    for name in OK_RECORDS:
        write_record(ref / name, sheet.truth, fs=500.0)
    report = tmp_path / "report.csv"
    result = CliRunner().invoke(
        cli, ["score", "all", str(ref), str(out), "--format", "csv", "-o", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""  # no record missing
    with open(report, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["record"] for r in rows if r["level"] == "record") == sorted(OK_RECORDS)
    assert sum(r["level"] == "lead" for r in rows) == 12 * len(OK_RECORDS)
    (pooled,) = [r for r in rows if r["level"] == "pooled"]
    # Records paired with the wrong reference would score near 0 dB.
    assert float(pooled["snr"]) >= 10.0
    assert float(pooled["coverage"]) >= 0.5


def test_dask_local_cluster_gives_the_same_records(run1, tree: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip(
        "distributed",
        reason="Dask distributed is not installed (pip install 'ecgdigitize[dask]')",
    )
    out1, _ = run1
    out = tmp_path / "dask"
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        result = _invoke(
            str(tree), "-o", str(out), "--scheduler", address, "--dpi", "100", "--overlay"
        )
    assert result.exit_code == 1
    assert result.stdout == _summary(9, 5, 4, 0, out) + "\n"
    assert _files(out) == _files(out1)


def test_kill_and_resume(sheet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scans, out = tmp_path / "scans", tmp_path / "out"
    _save_png(sheet.image, scans / "p01.png")
    for k in range(2, 11):
        shutil.copy(scans / "p01.png", scans / f"p{k:02d}.png")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["-m", "ecgdigitize", "batch", str(scans), "-o", str(out), "--jobs", "1", "-q"]
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, start_new_session=True)
    manifest = out / "manifest.csv"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.is_file() and manifest.read_text(encoding="utf-8").count("\n") >= 2:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes
        proc.wait()
    first = read_manifest(manifest)
    assert 1 <= len(first) < 10, "the run should have been killed part-way"
    assert all(r.status == "ok" for r in first)
    done = {r.output: (out / f"{r.output}.hea").stat().st_mtime_ns for r in first}
    # What a kill during a write leaves behind.
    (out / ".ecgdigitize-tmp-stale").mkdir(exist_ok=True)
    (out / ".ecgdigitize-tmp-stale" / "p09.dat").write_bytes(b"half")

    result = _invoke(str(scans), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert result.stdout == _summary(10, 10 - len(first), 0, len(first), out) + "\n"
    rows = read_manifest(manifest)
    assert [r.input for r in rows] == [f"p{k:02d}.png" for k in range(1, 11)]
    assert {r.output for r in rows if r.status == "skipped"} == set(done)
    assert {r.output: (out / f"{r.output}.hea").stat().st_mtime_ns for r in first} == done
    assert not list(out.rglob(".ecgdigitize-tmp-*"))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.csv"] + [f"p{k:02d}{s}" for k in range(1, 11) for s in (".dat", ".hea")]
    )


# --------------------------------------------------------------------------------------------
# Small cases


def test_record_name_keeps_letters_of_any_script() -> None:
    assert record_name("Mu\u0308ller 2021.03 (copy)") == "Müller_2021_03__copy_"
    assert record_name("心电图-1_a") == "心电图-1_a"


def test_discover_names_collisions_hidden_and_glob(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    for name in [
        "x.png",
        "X.PDF",
        "x y.png",
        "x_y.png",
        "manifest.png",
        "a/b c.tif",
        "doc_p1.bmp",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")  # unreadable: one page each
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(200, 100)
    pdf.new_page(200, 100)
    pdf.save(tmp_path / "doc.pdf")
    for name in ["notes.txt", ".hidden.png", ".cache/y.png", "out/z.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")

    jobs = discover_inputs(tmp_path, exclude=[tmp_path / "out"])
    assert [(j.input, j.page, j.n_pages, j.output) for j in jobs] == [
        ("X.PDF", 1, 1, "X"),
        ("a/b c.tif", 1, 1, "a/b_c"),
        ("doc.pdf", 1, 2, "doc_p1"),
        ("doc.pdf", 2, 2, "doc_p2"),
        ("doc_p1.bmp", 1, 1, "doc_p1_bmp"),
        ("manifest.png", 1, 1, "manifest_png"),
        ("x y.png", 1, 1, "x_y"),
        ("x.png", 1, 1, "x_png"),
        ("x_y.png", 1, 1, "x_y_png"),
    ]
    assert [j.input for j in discover_inputs(tmp_path, glob="X*.P?F")] == ["X.PDF"]
    assert [j.input for j in discover_inputs(tmp_path, glob="a/*")] == ["a/b c.tif"]
    assert [j.input for j in discover_inputs(tmp_path, glob="*/z.png")] == ["out/z.png"]


def test_read_manifest_ignores_an_unfinished_last_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    row = ManifestRow("a b.png", 1, "a_b", "ok", px_per_mm_x=3.9375, leads_kept=12, seconds=0.25)
    header = ",".join(MANIFEST_COLUMNS)
    path.write_text(f"{header}\n{','.join(row.to_fields())}\nc.png,1,c,ok,,3.9", encoding="utf-8")
    assert read_manifest(path) == [row]
    path.write_text("input,status\nx,ok\n", encoding="utf-8")
    with pytest.raises(EcgDigitizeError, match="not a manifest of `ecgdigitize batch`"):
        read_manifest(path)


def test_refuses_a_non_empty_output_folder_without_manifest(tmp_path: Path) -> None:
    scans, out = tmp_path / "scans", tmp_path / "out"
    scans.mkdir()
    (scans / "empty.png").write_bytes(b"")
    out.mkdir()
    (out / "mine.txt").write_text("keep", encoding="utf-8")
    result = _invoke(str(scans), "-o", str(out))
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {out}: folder is not empty and holds no manifest.csv of an earlier batch; "
        "pass --overwrite to write into it anyway\n"
    )
    result = _invoke(str(scans), "-o", str(out), "--overwrite", "-q")
    assert result.exit_code == 1
    assert result.stdout == f"1 page: 0 ok, 1 failed, 0 skipped; manifest {out / 'manifest.csv'}\n"
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep"


def test_usage_errors(tmp_path: Path) -> None:
    result = _invoke(str(tmp_path), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path}: no images or PDFs found (looked for .png")
    result = _invoke(str(tmp_path / "nope"), "-o", str(tmp_path / "out"))
    assert (result.exit_code, result.output) == (
        2,
        f"Error: {tmp_path / 'nope'}: no such folder\n",
    )
    result = _invoke(str(tmp_path), "-o", "x", "--jobs", "2", "--scheduler", "tcp://h:1")
    assert result.exit_code == 2
    assert "--jobs and --scheduler exclude each other" in result.output


def test_library_progress_callback(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "a.png").write_bytes(b"")
    (scans / "b.jpg").write_text("text", encoding="utf-8")
    seen = []
    summary = run_batch(
        scans, tmp_path / "out", options=DigitizeOptions(), jobs=2, progress=seen.append
    )
    assert [(p.done, p.total, p.failed) for p in seen] == [(0, 2, 0), (1, 2, 1), (2, 2, 2)]
    assert seen[0].last is None and seen[-1].last is not None
    assert summary.n_failed == 2
    assert [r.error for r in summary.rows] == [
        "file is empty (0 bytes)",
        "not a readable image (unknown or corrupt format)",
    ]


def _die_on_p2(job: PageJob, settings: BatchSettings) -> PageResult:
    """Stand-in for digitize_job whose worker process dies on page p2 (like a native crash)."""
    if job.input == "p2.png":
        os._exit(3)
    time.sleep(0.05)
    return PageResult(ManifestRow(job.input, job.page, job.output, "ok"))


def test_a_dying_worker_fails_only_its_page(tmp_path: Path) -> None:
    from ecgdigitize.batch import _run_local

    jobs = [PageJob(f"p{k}.png", 1, 1, f"p{k}") for k in range(1, 6)]
    settings = BatchSettings(in_dir=tmp_path, out_dir=tmp_path)
    results: dict[int, ManifestRow] = {}
    _run_local(
        list(enumerate(jobs)),
        settings,
        2,
        lambda i, r: results.__setitem__(i, r.row),
        work=_die_on_p2,
    )
    assert [results[i].status for i in range(5)] == ["ok", "failed", "ok", "ok", "ok"]
    assert results[1].error == (
        "internal error: the worker process died while digitizing this page "
        "(out of memory, or a crash in a native library)"
    )


def test_count_pages_and_read_page(tree: Path) -> None:
    from ecgdigitize.errors import ImageReadError
    from ecgdigitize.io.image import count_pages, read_page

    pdf = tree / "nested" / "two pages.pdf"
    assert count_pages(pdf) == 2
    page = read_page(pdf, 2, pdf_dpi=100)
    assert (page.page_number, page.n_pages, page.label) == (2, 2, f"{pdf} (page 2)")
    assert page.rgb.shape == (850, 1100, 3)
    with pytest.raises(ImageReadError, match=r"has 2 page\(s\); page 3 does not exist"):
        read_page(pdf, 3)
    assert count_pages(tree / "good.png") == 1
    assert read_page(tree / "good.png", 1).dpi == pytest.approx(100, abs=0.01)
    with pytest.raises(ImageReadError, match="file is empty"):
        count_pages(tree / "empty.png")
    with pytest.raises(ImageReadError, match="not a readable image"):
        count_pages(tree / "notes.jpg")
