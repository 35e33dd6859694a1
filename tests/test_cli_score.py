"""Tests of the ``ecgdigitize score`` command through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from scipy.ndimage import gaussian_filter1d

from ecgdigitize.cli.main import cli
from ecgdigitize.config import LEAD_NAMES
from ecgdigitize.io.wfdb import write_record

HALF_SNR_DB = 10 * math.log10(4.0)  # an estimate at half amplitude: 6.0206 dB


def ecg_like(seed: int, n: int = 1001) -> np.ndarray:
    """(n, 12) smooth traces in mV, multiples of 2 µV so that half of them is exact at 1 µV,
    with zero median so that aligning half of them adds no offset (median(r - r/2) = 0)."""
    rng = np.random.default_rng(seed)
    x = gaussian_filter1d(rng.normal(size=(n, 12)), 8.0, axis=0)
    x = np.round(x / x.std() * 0.5 * 500) / 500
    return x - np.median(x, axis=0)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Reference folder with records a and sub/b; test folder with both at half amplitude."""
    ref, test = tmp_path / "ref", tmp_path / "test"
    for name, seed in (("a", 1), ("sub/b", 2)):
        signal = ecg_like(seed)
        write_record(ref / name, signal, fs=500)
        write_record(test / name, 0.5 * signal, fs=500)
    return ref, test


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["score", *map(str, args)])


def test_table_lists_leads_record_means_and_pooled(folders: tuple[Path, Path]) -> None:
    ref, test = folders
    result = run("snr", ref, test, "--no-align")
    assert result.exit_code == 0, result.output

    def line(record: str, lead: str, snr: str, coverage: str) -> str:
        return f"{record:<6}  {lead:<8}  {snr:>8}  {coverage:>8}"

    rows = [
        line(record, lead, "6.02", "1.000")
        for record in ("a", "sub/b")
        for lead in (*LEAD_NAMES, "mean")
    ]
    expected = [
        "PhysioNet 2024 metrics, 2 record(s), alignment off",
        line("record", "lead", "snr [dB]", "coverage"),
        "  ".join("-" * w for w in (6, 8, 8, 8)),
        *rows,
        "  ".join("-" * w for w in (6, 8, 8, 8)),
        line("pooled", "24 leads", "6.02", "1.000"),
    ]
    assert result.stdout.splitlines() == expected


def test_csv_output(folders: tuple[Path, Path]) -> None:
    ref, test = folders
    result = run("all", ref, test, "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "level", "record", "lead", "snr", "snr-median", "ks", "asci", "wad",
        "coverage", "lag_s", "offset_mv", "aligned", "missing",
    ]  # fmt: skip
    assert [r["level"] for r in rows] == ["lead"] * 24 + ["record"] * 2 + ["pooled"]
    assert [r["record"] for r in rows[24:]] == ["a", "sub/b", ""]
    assert rows[0]["record"] == "a" and rows[0]["lead"] == "I"
    for row in rows[:24]:
        assert float(row["snr"]) == pytest.approx(HALF_SNR_DB, abs=0.01)
        assert float(row["lag_s"]) == 0.0 and row["aligned"] == "true"
        assert float(row["ks"]) == 1.0  # proportional traces
    assert float(rows[-1]["snr"]) == pytest.approx(HALF_SNR_DB, abs=0.01)


def test_json_output_single_record_with_hea_suffix(folders: tuple[Path, Path]) -> None:
    ref, test = folders
    result = run("ks", ref / "sub" / "b.hea", test / "sub" / "b", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["metrics"] == ["ks"] and document["align"] is True
    assert document["missing"] == [] and document["n_leads"] == 12
    assert [r["record"] for r in document["records"]] == ["b"]
    assert [lead["lead"] for lead in document["records"][0]["leads"]] == list(LEAD_NAMES)
    assert document["pooled"]["ks"] == pytest.approx(1.0)


def test_missing_test_record_is_reported_and_scored(folders: tuple[Path, Path]) -> None:
    ref, test = folders
    for suffix in (".hea", ".dat"):
        (test / "sub" / f"b{suffix}").unlink()
    result = run("snr", ref, test, "--no-align")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[-1] == "missing test records (1), scored as empty estimates: sub/b"
    assert lines[-2].split() == ["pooled", "24", "leads", "3.01", "0.500"]  # half the leads at 0

    result = run("snr", ref, test, "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == "warning: 1 test record(s) missing, scored as empty: sub/b\n"
    document = json.loads(result.stdout)
    assert document["missing"] == ["sub/b"]
    assert document["records"][1]["mean"]["snr"] == 0.0


def test_sampling_rate_mismatch_is_an_error(tmp_path: Path) -> None:
    signal = ecg_like(3)
    write_record(tmp_path / "ref", signal, fs=500)
    write_record(tmp_path / "test", signal[::2], fs=250)
    result = run("snr", tmp_path / "ref", tmp_path / "test")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {tmp_path / 'test'}.hea: sampling rate 250 Hz differs from the reference "
        f"{tmp_path / 'ref'}.hea (500 Hz); resample the estimate first\n"
    )


def test_output_file_is_not_overwritten_without_flag(folders: tuple[Path, Path]) -> None:
    ref, test = folders
    out = ref.parent / "scores.csv"
    out.write_text("keep me\n")
    result = run("snr", ref, test, "--format", "csv", "-o", out)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {out} already exists; pass --overwrite (overwrite=True) to replace it\n"
    )
    assert out.read_text() == "keep me\n"

    result = run("snr", ref, test, "--format", "csv", "-o", out, "--overwrite")
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text().startswith("level,record,lead,snr,coverage,")
    assert len(out.read_text().splitlines()) == 1 + 24 + 2 + 1
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_bad_arguments(folders: tuple[Path, Path], tmp_path: Path) -> None:
    ref, test = folders
    result = run("snr", ref, test / "a")
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"Error: REF {ref} is a folder but TEST {test / 'a'} is a record; pass two records or "
        "two folders\n"
    )
    result = run("snr", tmp_path / "nothing", test / "a")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {tmp_path / 'nothing'}: no WFDB record here (missing nothing.hea)\n"
    )
    result = run("psnr", ref, test)
    assert result.exit_code == 2
    assert "'psnr' is not one of" in result.stderr


def test_missing_single_test_record_scores_zero(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, _ = folders
    result = run("snr", ref / "a", tmp_path / "absent", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["missing"] == [str(tmp_path / "absent")]
    assert document["pooled"]["snr"] == 0.0
