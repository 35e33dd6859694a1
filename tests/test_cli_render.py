"""Tests of ``ecgdigitize render`` (through click's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from click.testing import CliRunner

from ecgdigitize.cli.main import cli
from ecgdigitize.config import LAYOUT_NAMES


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["render", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_render_writes_sheet_truth_and_metadata(ptbxl_record, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sheet.png"
    code, stdout, stderr = run(
        ptbxl_record(2), "-o", out, "--dpi", "60", "--layout", "6x2+ii", "--header", "Name: x",
        "--header", "Rate: 60 bpm", "--grid-color", "green", "--paper", "a4",
    )  # fmt: skip
    assert (code, stderr) == (0, "")
    assert stdout == (
        f"{out}: 6x2+II sheet, 702x496 px at 60 dpi; ground truth {tmp_path / 'sheet'}, "
        f"metadata {tmp_path / 'sheet.json'}\n"
    )
    meta = json.loads((tmp_path / "sheet.json").read_text())
    assert meta["record"] == "00002_hr"
    assert (meta["layout"], meta["grid_color"], meta["paper"]) == ("6x2+II", "green", "a4")
    assert meta["header"] == ["Name: x", "Rate: 60 bpm"]
    truth = wfdb.rdrecord(str(tmp_path / "sheet"))
    source = wfdb.rdrecord(str(ptbxl_record(2)))
    # 6x2+II: I in [0, 5) s, V1 in [5, 10) s, II everywhere.
    np.testing.assert_allclose(truth.p_signal[:2500, 0], source.p_signal[:2500, 0], atol=1e-9)
    assert np.isnan(truth.p_signal[2500:, 0]).all() and np.isnan(truth.p_signal[:2500, 6]).all()
    np.testing.assert_allclose(truth.p_signal[:, 1], source.p_signal[:, 1], atol=1e-9)


def test_ptbdb_record_with_start_and_degradations(shared_data: Path, tmp_path: Path) -> None:
    record = shared_data / "ptbdb" / "s0010_re"
    args = (
        record, "--start", "12.5", "--dpi", "50", "--rotate", "2", "--perspective", "0.02",
        "--noise", "0.02", "--blur", "0.7", "--jpeg-quality", "80", "--lighting", "0.3",
        "--faded", "0.2", "--crop", "0.05", "--seed", "9", "--no-calibration",
    )  # fmt: skip
    assert run(*args, "-o", tmp_path / "a.png")[0] == 0
    assert run(*args, "-o", tmp_path / "b.png")[0] == 0
    for suffix in (".png", ".json", ".dat"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["start_s"] == 12.5 and meta["fs"] == 1000.0 and meta["seed"] == 9
    assert meta["degradations"]["rotation_deg"] == 2.0 and meta["calibration_pulses"] == []
    truth = wfdb.rdrecord(str(tmp_path / "a"))
    source = wfdb.rdrecord(str(record), sampfrom=12500, sampto=22500, channel_names=["ii"])
    assert truth.sig_len == 10000
    np.testing.assert_allclose(truth.p_signal[:, 1], source.p_signal[:, 0], atol=5e-4)


def test_jpeg_output(ptbxl_record, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, _ = run(ptbxl_record(3), "-o", tmp_path / "s.jpeg", "--dpi", "50")
    assert code == 0
    assert (tmp_path / "s.jpeg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert (tmp_path / "s.hea").is_file() and (tmp_path / "s.json").is_file()


def test_refuses_to_overwrite(ptbxl_record, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "s.png"
    (tmp_path / "s.hea").write_text("keep")
    code, stdout, stderr = run(ptbxl_record(3), "-o", out, "--dpi", "50")
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"Error: {tmp_path / 's.hea'} already exists; pass --overwrite (overwrite=True) to "
        "replace it\n"
    )
    assert not out.exists() and (tmp_path / "s.hea").read_text() == "keep"
    assert run(ptbxl_record(3), "-o", out, "--dpi", "50", "--overwrite")[0] == 0
    assert out.is_file() and (tmp_path / "s.hea").read_text() != "keep"


def test_missing_record(tmp_path: Path) -> None:
    code, _, stderr = run(tmp_path / "nope", "-o", tmp_path / "s.png")
    assert code == 2
    assert stderr == f"Error: {tmp_path / 'nope'}: no WFDB record here (missing nope.hea)\n"
    assert list(tmp_path.iterdir()) == []


def test_record_without_12_leads(tmp_path: Path) -> None:
    wfdb.wrsamp(
        "frank", fs=500, units=["mV"] * 3, sig_name=["vx", "vy", "vz"],
        p_signal=np.zeros((5000, 3)), fmt=["16"] * 3, write_dir=str(tmp_path),
    )  # fmt: skip
    code, _, stderr = run(tmp_path / "frank.hea", "-o", tmp_path / "s.png")
    assert code == 2
    assert stderr == (
        f"Error: {tmp_path / 'frank'}: missing lead(s) I, II, III, aVR, aVL, aVF, V1, V2, V3, "
        "V4, V5, V6; found vx, vy, vz\n"
    )


def test_start_beyond_end(shared_data: Path, tmp_path: Path) -> None:
    record = shared_data / "ptbdb" / "s0010_re"
    code, _, stderr = run(record, "-o", tmp_path / "s.png", "--start", "30")
    assert code == 2
    assert stderr == (
        f"Error: {record}: a 10 s page starting at 30 s ends after the record, which is "
        "38.4 s long\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_layout_is_one_line_listing_the_layouts(tmp_path: Path) -> None:
    # The layout is checked before the record is read.
    code, stdout, stderr = run(tmp_path / "nope", "-o", tmp_path / "s.png", "--layout", "5x5")
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"Error: unknown layout '5x5'; expected one of {', '.join(LAYOUT_NAMES)} "
        "(or GRID+LEAD[+LEAD[+LEAD]])\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--grid-color", "purple"],
            "Invalid value for '--grid-color': 'purple' is not one of 'red', 'pink', 'orange', "
            "'green', 'blue', 'black', 'grey', 'none'.",
        ),
        (["--crop", "0.5"], "Invalid value for '--crop': 0.5 is not in the range 0<=x<=0.2."),
        (["--dpi", "0"], "Invalid value for '--dpi': 0.0 is not in the range 10<=x<=600."),
        (["--start", "-1"], "Invalid value for '--start': -1.0 is not in the range x>=0."),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = run(tmp_path / "r", "-o", tmp_path / "s.png", *args)
    assert code == 2
    assert stderr.splitlines()[-1] == f"Error: {message}"


def test_bad_output_suffix(tmp_path: Path) -> None:
    code, _, stderr = run(tmp_path / "r", "-o", tmp_path / "s.tif")
    assert code == 2
    assert stderr.splitlines()[-1] == (
        f"Error: Invalid value for '-o' / '--output': {tmp_path / 's.tif'}: unsupported image "
        "format '.tif'; expected .png, .jpg or .jpeg"
    )


def test_output_is_required(tmp_path: Path) -> None:
    code, _, stderr = run(tmp_path / "r")
    assert code == 2
    assert stderr.splitlines()[-1] == "Error: Missing option '-o' / '--output'."
