"""Run every example script in ``examples/`` as a user would, into a temporary folder.

Each script runs in a subprocess with the ``ecgdigitize`` command of this interpreter on PATH.
Scripts that need ``../shared/data`` are skipped when it is absent. No script may write into
``examples/`` itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ecgdigitize
from ecgdigitize import metrics
from ecgdigitize.io.wfdb import read_record, standard_leads

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".sh"))
TESTED = {
    "archive.sh",
    "classify.py",
    "make_pdf_example.py",
    "one_sheet.sh",
    "python_api.py",
    "scoring.py",
}


def _snapshot() -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in EXAMPLES.iterdir()}


@pytest.fixture(autouse=True)
def examples_untouched() -> Iterator[None]:
    """Fail a test whose script created, changed or removed anything in examples/."""
    before = _snapshot()
    yield
    assert _snapshot() == before, "an example script wrote into examples/"


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    if shutil.which("ecgdigitize", path=path) is None:
        pytest.skip("the ecgdigitize command is not installed beside this interpreter")
    return {**os.environ, "PATH": path, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}


def run(
    script: str, *args: str | Path, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    path = EXAMPLES / script
    command = ["bash", str(path)] if path.suffix == ".sh" else [sys.executable, str(path)]
    result = subprocess.run(
        [*command, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result


def pooled_snr(table: str) -> float:
    """Pooled SNR (dB) from the table that ``ecgdigitize score`` prints."""
    match = re.search(r"^pooled\s+\d+ leads\s+(-?[\d.]+)", table, flags=re.MULTILINE)
    assert match is not None, table
    return float(match.group(1))


def test_every_script_is_tested() -> None:
    assert set(SCRIPTS) == TESTED


def test_one_sheet_on_the_6x2_sample(env: dict[str, str], tmp_path: Path) -> None:
    sheet = EXAMPLES / "ptbxl_00020_6x2.png"
    result = run("one_sheet.sh", sheet, tmp_path / "out", env=env, cwd=tmp_path)
    assert "6x2+II (auto), 12/12 leads" in result.stdout
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    stem = "ptbxl_00020_6x2"
    assert names == sorted(f"{stem}{s}" for s in (".dat", ".hea", ".json", "_overlay.png"))
    assert pooled_snr(result.stdout) > 10.0  # 15.7 dB at commit 82cdfcc


def test_archive(env: dict[str, str], shared_data: Path, tmp_path: Path) -> None:
    env = {**env, "ECGDIGITIZE_SHARED": str(shared_data.parent), "JOBS": "1"}
    result = run("archive.sh", tmp_path / "arch", env=env, cwd=tmp_path)
    records = tmp_path / "arch" / "records"
    for rel in ("ward_a/00001", "ward_a/00002", "ward_b/00003"):
        assert (records / f"{rel}.hea").is_file()
        assert (records / f"{rel}_overlay.png").is_file()
    manifest = (records / "manifest.csv").read_text(encoding="utf-8").splitlines()
    assert len(manifest) == 4 and all(",ok," in row for row in manifest[1:])
    assert pooled_snr(result.stdout) > 8.0  # 15.2 dB over the 36 leads at 82cdfcc


def test_python_api(env: dict[str, str], tmp_path: Path) -> None:
    result = run("python_api.py", "--out", tmp_path / "out", env=env, cwd=tmp_path)
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["rec.csv", "rec.dat", "rec.hea", "rec.json", "rec_overlay.png"]
    assert "signal (5000, 12) at 500 Hz" in result.stdout
    match = re.search(r"same NaN pattern True, largest difference ([\d.]+) uV", result.stdout)
    assert match is not None and float(match.group(1)) <= 0.5  # stored to the microvolt


def test_scoring(env: dict[str, str], tmp_path: Path) -> None:
    result = run("scoring.py", "--out", tmp_path / "out", env=env, cwd=tmp_path)
    pool = re.search(r"^pool\s+(\S+)", result.stdout, flags=re.MULTILINE)
    files = re.search(r"from the WFDB files: pooled SNR (\S+) dB", result.stdout)
    assert pool is not None and files is not None
    # The record on disk holds the same signal to 1 µV: the scores agree to 0.01 dB.
    assert float(files.group(1)) == pytest.approx(float(pool.group(1)), abs=0.01)
    assert float(pool.group(1)) > 10.0  # 18.4 dB at commit 82cdfcc


def test_classify(env: dict[str, str], tmp_path: Path) -> None:
    result = run("classify.py", env=env, cwd=tmp_path)
    rows = {
        line[:13].strip(): [float(v) for v in line[13:48].split()]
        for line in result.stdout.splitlines()[1:3]
    }
    assert set(rows) == {"digitized", "ground truth"}
    for probs in rows.values():
        assert len(probs) == 5 and all(0.0 <= p <= 1.0 for p in probs)
    # The digitization changes the probabilities little on this clean sheet.
    np.testing.assert_allclose(rows["digitized"], rows["ground truth"], atol=0.1)


def test_make_pdf_example_reproduces_the_shipped_pdf(
    env: dict[str, str], shared_data: Path, tmp_path: Path
) -> None:
    import pypdfium2 as pdfium

    env = {**env, "ECGDIGITIZE_SHARED": str(shared_data.parent)}
    out = tmp_path / "ptbxl_00030.pdf"
    run("make_pdf_example.py", out, env=env, cwd=tmp_path)
    pdf = pdfium.PdfDocument(str(out))
    try:
        assert len(pdf) == 1
        assert pdf[0].get_size() == pytest.approx((792.0, 612.0))  # letter, landscape
    finally:
        pdf.close()
    # The ground truth written beside it is the shipped one, byte for byte.
    shipped = EXAMPLES / "ptbxl_00030.dat"
    assert (tmp_path / "ptbxl_00030.dat").read_bytes() == shipped.read_bytes()


def test_shipped_pdf_digitizes_against_its_ground_truth() -> None:
    pages = ecgdigitize.digitize_file(EXAMPLES / "ptbxl_00030.pdf", pdf_dpi=150)
    assert len(pages) == 1
    result = pages[0]
    assert result.diagnostics.layout == "3x4+II"
    assert all(lead.kept for lead in result.diagnostics.leads)
    truth = read_record(EXAMPLES / "ptbxl_00030")
    scores = metrics.score_signals(
        standard_leads(truth),
        result.signal,
        fs=truth.fs,
        ref_leads=ecgdigitize.LEAD_NAMES,
        est_leads=result.lead_names,
        metrics=("snr",),
    )
    assert metrics.pooled(scores["snr"].values()) > 10.0  # 20.6 dB at commit 82cdfcc


def test_shipped_6x2_sample_holds_record_00020(shared_data: Path) -> None:
    """The 6x2 sample's ground truth is PTB-XL 00020 inside each drawn window, NaN outside."""
    source = standard_leads(read_record(shared_data / "ptbxl/records500/00000/00020_hr"))
    record = read_record(EXAMPLES / "ptbxl_00020_6x2")
    truth, fs = standard_leads(record), record.fs
    drawn = np.isfinite(truth)
    layout = ecgdigitize.get_layout("6x2+II")
    for j, lead in enumerate(ecgdigitize.LEAD_NAMES):
        panels = [p for p in layout.panels if p.lead == lead]
        start = min(p.start_s for p in panels)
        end = max(p.end_s for p in panels)
        expected = np.zeros(truth.shape[0], dtype=bool)
        expected[round(start * fs) : round(end * fs)] = True
        np.testing.assert_array_equal(drawn[:, j], expected, err_msg=lead)
    np.testing.assert_allclose(truth[drawn], source[: truth.shape[0]][drawn], atol=5e-4)
