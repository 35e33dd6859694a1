"""End-to-end digitization of rendered sheets, and the ``extract`` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ecgdigitize import metrics
from ecgdigitize.cli.main import cli
from ecgdigitize.config import LEAD_NAMES, RenderOptions
from ecgdigitize.errors import ImageReadError, TraceNotFoundError
from ecgdigitize.pipeline import digitize
from ecgdigitize.render import render, render_record, write_sheet

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ptbxl_00010.png"


def synthetic_ecg(fs: float = 500.0, seconds: float = 10.0) -> np.ndarray:
    """A 12-lead ECG-like signal: Gaussian P, QRS and T waves at 75 bpm, lead-specific gains."""
    t = np.arange(int(fs * seconds)) / fs
    beat = np.zeros_like(t)
    for onset in np.arange(0.3, seconds, 0.8):
        for centre, width, amp in (
            (0.0, 0.025, 0.15),
            (0.16, 0.012, 1.0),
            (0.13, 0.01, -0.15),
            (0.19, 0.012, -0.25),
            (0.42, 0.05, 0.3),
        ):
            beat += amp * np.exp(-0.5 * ((t - onset - centre) / width) ** 2)
    gains = np.array([0.8, 1.2, 0.5, -0.9, 0.3, 0.9, -0.6, 0.4, 1.1, 1.5, 1.3, 1.0])
    return beat[:, None] * gains[None, :]


def pooled_snr(truth: np.ndarray, estimate: np.ndarray, fs: float) -> float:
    return metrics.pooled(
        metrics.snr(truth[:, j], estimate[:, j], fs=fs) for j in range(truth.shape[1])
    )


def test_synthetic_sheet_digitizes_at_15db() -> None:
    sheet = render(synthetic_ecg(), fs=500.0)
    result = digitize(
        sheet.image,
    )
    assert result.signal.shape == (5000, 12)
    assert result.diagnostics.layout == "3x4+II"
    assert result.diagnostics.calibration_source == "pulse"
    assert result.diagnostics.px_per_mm_x == pytest.approx(200 / 25.4, rel=0.002)
    assert pooled_snr(sheet.truth, result.signal, 500.0) >= 15.0
    # Each short lead holds values only in its own 2.5 s window; II (rhythm) all 10 s.
    v1 = LEAD_NAMES.index("V1")
    assert np.isnan(result.signal[:2400, v1]).all() and np.isnan(result.signal[3800:, v1]).all()
    assert np.isfinite(result.signal[2600:3700, v1]).all()
    assert np.isfinite(result.signal[100:4900, 1]).all()


def test_rendered_ptbxl_sheet_digitizes_at_15db(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    sheet = render_record(ptbxl_record(1))
    result = digitize(sheet.image)
    assert pooled_snr(sheet.truth, result.signal, sheet.fs) >= 15.0


def test_rotated_sheet(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    from ecgdigitize.config import Degradations

    opts = RenderOptions(degradations=Degradations(rotation_deg=3.0))
    sheet = render_record(ptbxl_record(2), options=opts)
    result = digitize(sheet.image)
    assert result.diagnostics.rotation_deg == pytest.approx(3.0, abs=0.15)
    assert pooled_snr(sheet.truth, result.signal, sheet.fs) >= 10.0


def test_blank_page_is_a_clear_error() -> None:
    with pytest.raises(TraceNotFoundError, match=r"^<array>: no ECG trace found"):
        digitize(
            np.full((850, 1100, 3), 255, np.uint8),
        )


def test_corrupt_image(tmp_path: Path) -> None:
    bad = tmp_path / "scan.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    with pytest.raises(ImageReadError, match=r"scan\.png: not a readable image"):
        digitize(bad)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty.jpg: file is empty \(0 bytes\)"):
        digitize(empty)


@pytest.fixture(scope="module")
def sheet_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sheet") / "sheet.png"
    write_sheet(render(synthetic_ecg(), fs=500.0), path)
    return path


def test_cli_extract_writes_record_json_overlay(sheet_png: Path, tmp_path: Path) -> None:
    import wfdb

    out = tmp_path / "rec"
    res = CliRunner().invoke(
        cli,
        [
            "extract",
            str(sheet_png),
            "-o",
            str(out),
            "--json",
            "--overlay",
            str(tmp_path / "qa.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "3x4+II (auto), 12/12 leads" in res.output
    rec = wfdb.rdrecord(str(out))
    assert rec.sig_name == list(LEAD_NAMES) and rec.fs == 500 and rec.sig_len == 5000
    assert rec.units == ["mV"] * 12
    assert (tmp_path / "rec.json").read_text().count('"lead"') == 12
    assert (tmp_path / "qa.png").stat().st_size > 10_000


def test_cli_extract_is_deterministic_and_refuses_overwrite(
    sheet_png: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert (
            runner.invoke(cli, ["extract", str(sheet_png), "-o", str(out), "--json"]).exit_code
            == 0
        )
    for suffix in (".dat", ".json"):
        assert a.with_suffix(suffix).read_bytes() == b.with_suffix(suffix).read_bytes()
    res = runner.invoke(cli, ["extract", str(sheet_png), "-o", str(a)])
    assert res.exit_code == 2
    assert res.output == (
        f"Error: {a}.hea already exists; pass --overwrite (overwrite=True) to replace it\n"
    )


@pytest.mark.parametrize("fmt,suffix", [("csv", ".csv"), ("edf", ".edf")])
def test_cli_extract_other_formats(sheet_png: Path, tmp_path: Path, fmt: str, suffix: str) -> None:
    out = tmp_path / "rec"
    res = CliRunner().invoke(cli, ["extract", str(sheet_png), "-o", str(out), "--format", fmt])
    assert res.exit_code == 0, res.output
    assert out.with_suffix(suffix).stat().st_size > 1000
    if fmt == "csv":
        header = out.with_suffix(".csv").read_text().splitlines()[0]
        assert header == "time_s," + ",".join(LEAD_NAMES)


def test_cli_extract_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["extract", str(tmp_path / "none.png"), "-o", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert res.output == f"Error: {tmp_path / 'none.png'}: no such file\n"
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    res = runner.invoke(cli, ["extract", str(txt), "-o", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "unsupported file type '.txt'" in res.output
    res = runner.invoke(cli, ["extract", str(txt), "-o", "r", "--layout", "5x5"])
    assert res.exit_code == 2
    assert "Invalid value for '--layout': unknown layout '5x5'" in res.output


def test_multipage_pdf(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    sheet = render(synthetic_ecg(), fs=500.0, options=RenderOptions(dpi=100))
    pdf = tmp_path / "two pages.pdf"
    with PdfPages(pdf) as doc:
        for _ in range(2):
            h, w = sheet.image.shape[:2]
            fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
            fig.figimage(sheet.image, resize=False)
            doc.savefig(fig, dpi=100)
            plt.close(fig)
    res = CliRunner().invoke(
        cli, ["extract", str(pdf), "-o", str(tmp_path / "out"), "--dpi", "200"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out_p1.hea").exists() and (tmp_path / "out_p2.hea").exists()
    assert "(page 2)" in res.output


def test_readme_example_is_shipped() -> None:
    assert EXAMPLE.exists()
    result = digitize(EXAMPLE)
    truth = np.asarray(__import__("wfdb").rdrecord(str(EXAMPLE.with_suffix(""))).p_signal)
    assert pooled_snr(truth, result.signal, 500.0) >= 12.0


@pytest.mark.parametrize("speed,gain", [(50.0, 10.0), (25.0, 5.0), (25.0, 20.0)])
def test_speed_and_gain(speed: float, gain: float) -> None:
    from ecgdigitize.config import DigitizeOptions

    sheet = render(
        synthetic_ecg(), fs=500.0, options=RenderOptions(speed_mm_s=speed, gain_mm_mv=gain)
    )
    # The speed must be given; the gain is read from the calibration pulse.
    result = digitize(sheet.image, DigitizeOptions(speed_mm_s=speed))
    assert result.signal.shape == sheet.truth.shape == (round(250 / speed * 500), 12)
    assert result.diagnostics.calibration_source == "pulse"
    assert result.diagnostics.px_per_mv == pytest.approx(gain * 200 / 25.4, rel=0.01)
    assert pooled_snr(sheet.truth, result.signal, 500.0) >= 15.0
