"""Tests of the PTB-XL superclass classifier: preprocessing, shipped model, errors, CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import types
import warnings
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

import ecgdigitize
from ecgdigitize.classify import CLASSES, classify
from ecgdigitize.classify.model import (
    WEIGHTS_DIR,
    lead_order,
    load_model,
    model_inputs,
    prepare_signal,
    split_windows,
)
from ecgdigitize.cli.classify import parse_threshold
from ecgdigitize.cli.main import cli
from ecgdigitize.config import LEAD_NAMES
from ecgdigitize.errors import ModelError
from ecgdigitize.io.wfdb import read_record, write_record

# Probabilities of the shipped model (computed once with it; they change only with the weights).
# Model sha256 0cc0372b553a6e39…; PTB-XL 00001 is labelled NORM (and lies in training fold 3).
SYNTHETIC_PROBS = {
    "NORM": 0.978430,
    "MI": 0.010722,
    "STTC": 0.004686,
    "CD": 0.014238,
    "HYP": 0.014372,
}
PTBXL_00001_PROBS = {
    "NORM": 0.960865,
    "MI": 0.038708,
    "STTC": 0.018846,
    "CD": 0.003910,
    "HYP": 0.002197,
}
PTBXL_00001_3X4_PROBS = {
    "NORM": 0.938648,
    "MI": 0.083368,
    "STTC": 0.009227,
    "CD": 0.006391,
    "HYP": 0.004088,
}
TOL = 1e-5


def synthetic_ecg(fs: float = 500.0, duration_s: float = 10.0) -> np.ndarray:
    """A deterministic 12-lead ECG-like signal (mV): Gaussian P, QRS and T waves at 72 bpm."""
    t = np.arange(round(duration_s * fs)) / fs
    phase = t % (60.0 / 72.0)

    def wave(centre_s: float, width_s: float) -> np.ndarray:
        return np.exp(-0.5 * ((phase - centre_s) / width_s) ** 2)

    p, q, r, s, tw = (
        wave(0.10, 0.02),
        wave(0.20, 0.008),
        wave(0.22, 0.01),
        wave(0.24, 0.008),
        wave(0.45, 0.04),
    )
    gains = np.linspace(0.6, 1.4, 12)
    leads = [g * (0.12 * p - 0.1 * q + 1.0 * r - 0.25 * s + 0.3 * tw) for g in gains]
    leads[3] = -leads[3]  # aVR points the other way
    return np.stack(leads, axis=1)


def sheet_3x4(signal: np.ndarray, fs: float) -> np.ndarray:
    """NaN outside each lead's window of a 10 s 3x4+II sheet."""
    out = np.full_like(signal, np.nan)
    cols = {"I": 0, "II": 0, "III": 0, "aVR": 1, "aVL": 1, "aVF": 1}
    for j, lead in enumerate(LEAD_NAMES):
        if lead == "II":
            out[:, j] = signal[:, j]
            continue
        k = cols.get(lead, 2 if lead in ("V1", "V2", "V3") else 3)
        a, b = round(2.5 * k * fs), round(2.5 * (k + 1) * fs)
        out[a:b, j] = signal[a:b, j]
    return out


def assert_probs(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert list(actual) == list(CLASSES)
    for c in CLASSES:
        assert actual[c] == pytest.approx(expected[c], abs=TOL), c


# ------------------------------------------------------------------------------------------
# Shipped model
# ------------------------------------------------------------------------------------------
def test_shipped_weights_match_their_card() -> None:
    onnx_path = WEIGHTS_DIR / "model.onnx"
    meta = json.loads((WEIGHTS_DIR / "model.json").read_text(encoding="utf-8"))
    assert onnx_path.stat().st_size < 10 * 2**20
    assert hashlib.sha256(onnx_path.read_bytes()).hexdigest() == meta["sha256"]
    card = (WEIGHTS_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert meta["sha256"] in card
    assert "CC BY 4.0" in card and "Wagner" in card and "Strodthoff" in card
    assert tuple(meta["classes"]) == CLASSES
    assert set(meta["thresholds"]) == set(CLASSES)


def test_synthetic_signal_gives_stored_probabilities() -> None:
    assert_probs(classify(synthetic_ecg(), 500.0, LEAD_NAMES), SYNTHETIC_PROBS)


def test_ptbxl_record_gives_stored_probabilities(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    rec = read_record(ptbxl_record(1))
    assert_probs(classify(rec.signal, rec.fs, rec.lead_names), PTBXL_00001_PROBS)
    masked = sheet_3x4(rec.signal, rec.fs)
    assert_probs(classify(masked, rec.fs, rec.lead_names), PTBXL_00001_3X4_PROBS)


def test_top_level_api_is_the_same_function() -> None:
    sig = synthetic_ecg()
    # mypy sees the subpackage ecgdigitize/classify/; at run time it is callable.
    top = ecgdigitize.classify(sig, 500.0, LEAD_NAMES)  # type: ignore[operator]
    assert top == classify(sig, 500.0, LEAD_NAMES)


def test_inference_does_not_import_torch() -> None:
    code = (
        "import sys, numpy as np; from ecgdigitize.classify import classify; "
        "classify(np.sin(np.arange(1000)[:, None] / 10 + np.arange(12)), 100.0, "
        "['i','ii','iii','avr','avl','avf','v1','v2','v3','v4','v5','v6']); "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------
# Preprocessing
# ------------------------------------------------------------------------------------------
def test_leads_are_matched_case_insensitively_and_extras_ignored() -> None:
    names = ["vx", "V6", "v5", "V4", "v3", "V2", "v1", "AVF", "avl", "aVR", "iii", "II", "i"]
    assert lead_order(names) == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    sig = synthetic_ecg()
    shuffled = np.concatenate([np.zeros((len(sig), 1)), sig[:, ::-1]], axis=1)
    assert classify(shuffled, 500.0, names) == classify(sig, 500.0, LEAD_NAMES)


def test_resampling_keeps_gaps_where_they_are() -> None:
    fs = 500.0
    sig = sheet_3x4(synthetic_ecg(fs), fs)
    out = prepare_signal(sig, fs, LEAD_NAMES)
    assert out.shape == (1000, 12)
    finite = np.isfinite(out)
    assert finite[:, 1].all()  # II: rhythm strip
    assert np.flatnonzero(finite[:, 0]).tolist() == list(range(250))  # I: 0-2.5 s
    assert np.flatnonzero(finite[:, 3]).tolist() == list(range(250, 500))  # aVR: 2.5-5 s
    assert np.flatnonzero(finite[:, 11]).tolist() == list(range(750, 1000))  # V6: 7.5-10 s


def test_resampling_preserves_a_slow_sine() -> None:
    fs = 360.0  # MIT-BIH-like rate: ratio 5/18
    t = np.arange(round(10 * fs)) / fs
    sig = np.repeat(np.sin(2 * np.pi * 1.3 * t)[:, None], 12, axis=1)
    out = prepare_signal(sig, fs, LEAD_NAMES)
    t100 = np.arange(out.shape[0]) / 100.0
    inner = slice(20, -20)  # away from the edges
    np.testing.assert_allclose(out[inner, 0], np.sin(2 * np.pi * 1.3 * t100)[inner], atol=2e-3)


def test_100_hz_input_is_taken_as_is() -> None:
    sig = synthetic_ecg(100.0)
    np.testing.assert_array_equal(prepare_signal(sig, 100.0, LEAD_NAMES), sig)


def test_windows_of_long_and_short_records() -> None:
    sig = np.arange(2500)[:, None] * np.ones(12)
    w = split_windows(sig)
    assert w.shape == (3, 1000, 12)
    assert [w[0, 0, 0], w[1, 0, 0], w[2, 0, 0], w[2, -1, 0]] == [0, 1000, 1500, 2499]
    short = split_windows(np.ones((300, 12)))
    assert short.shape == (1, 1000, 12)
    assert np.isfinite(short[0, :300]).all() and np.isnan(short[0, 300:]).all()
    gap = np.ones((2000, 12))
    gap[:1000] = np.nan
    assert split_windows(gap).shape == (1, 1000, 12)  # the empty window is dropped


def test_long_record_is_the_mean_of_its_windows() -> None:
    one = synthetic_ecg(500.0, 10.0)
    two = np.concatenate([one, one])
    for c, p in classify(two, 500.0, LEAD_NAMES).items():
        assert p == pytest.approx(classify(one, 500.0, LEAD_NAMES)[c], abs=1e-6)


def test_model_inputs_centre_mask_and_clip() -> None:
    w = np.full((1, 1000, 12), np.nan)
    w[0, :, 0] = 2.0 + np.r_[np.zeros(500), np.ones(500)]  # median 2.5
    w[0, 100:200, 1] = 50.0  # lead II: 1 s of a constant offset, NaN elsewhere
    x = model_inputs(w)
    assert x.shape == (1, 24, 1000) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0], np.r_[np.full(500, -0.5), np.full(500, 0.5)])
    np.testing.assert_array_equal(x[0, 1], np.zeros(1000))  # centred to 0, NaN -> 0
    np.testing.assert_array_equal(x[0, 12], np.ones(1000))
    np.testing.assert_array_equal(x[0, 13], np.r_[np.zeros(100), np.ones(100), np.zeros(800)])
    np.testing.assert_array_equal(x[0, 14], np.zeros(1000))
    w[0, :10, 3] = 100.0  # a glitch: clipped to 10 mV after centring (median 0)
    w[0, 10:, 3] = 0.0
    np.testing.assert_array_equal(model_inputs(w)[0, 3], np.r_[np.full(10, 10.0), np.zeros(990)])


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------
def test_missing_leads_are_named() -> None:
    sig = synthetic_ecg()[:, :10]
    with pytest.raises(ModelError) as err:
        classify(sig, 500.0, LEAD_NAMES[:10], name="rec7")
    assert str(err.value) == (
        "rec7: the classifier needs the 12 standard leads; missing V5, V6 "
        "(found I, II, III, aVR, aVL, aVF, V1, V2, V3, V4)"
    )


def test_all_nan_signal() -> None:
    with pytest.raises(ModelError, match=r"^rec: all samples of the 12 standard leads are NaN$"):
        classify(np.full((1000, 12), np.nan), 100.0, LEAD_NAMES, name="rec")


def test_sampling_rate_too_low() -> None:
    with pytest.raises(ModelError, match=r"^rec: sampling rate 40 Hz is too low"):
        classify(np.zeros((400, 12)), 40.0, LEAD_NAMES, name="rec")


def test_sampling_rate_between_50_and_100_warns() -> None:
    sig = synthetic_ecg(100.0)[::2]
    with pytest.warns(UserWarning, match="sampling rate 50 Hz is below the classifier.s 100 Hz"):
        probs = classify(sig, 50.0, LEAD_NAMES)
    assert set(probs) == set(CLASSES)


@pytest.mark.parametrize(("seconds", "shown"), [(2.0, "2"), (61.0, "61")])
def test_duration_out_of_range(seconds: float, shown: str) -> None:
    sig = synthetic_ecg(100.0, seconds)
    with pytest.raises(ModelError) as err:
        classify(sig, 100.0, LEAD_NAMES, name="rec")
    assert str(err.value) == (
        f"rec: duration {shown} s is outside the 2.5–60 s the classifier accepts"
    )


def test_duration_limits_are_inclusive() -> None:
    for seconds in (2.5, 60.0):
        assert set(classify(synthetic_ecg(100.0, seconds), 100.0, LEAD_NAMES)) == set(CLASSES)


def test_channel_and_name_count_must_agree() -> None:
    with pytest.raises(ModelError, match="12 channels but 11 lead names"):
        classify(synthetic_ecg(), 500.0, LEAD_NAMES[:11])


# ------------------------------------------------------------------------------------------
# ONNX export (only with torch)
# ------------------------------------------------------------------------------------------
def test_onnx_export_equals_torch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import onnxruntime as ort

    from ecgdigitize.classify.train import build_model, export_onnx

    torch.manual_seed(0)
    model = build_model().eval()
    export_onnx(model, tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(3, 24, 1000)).astype(np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(x))).numpy()
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {"x": x})
    np.testing.assert_allclose(actual, expected, atol=1e-5)


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------
@pytest.fixture
def record(tmp_path: Path) -> Path:
    path = tmp_path / "syn"
    write_record(path, synthetic_ecg(), fs=500.0)
    return path


def test_cli_table(record: Path) -> None:
    result = CliRunner().invoke(cli, ["classify", str(record)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    width = len(str(record))
    assert lines[0] == f"{'record':<{width}}   NORM     MI   STTC     CD    HYP  labels"
    probs = classify(read_record(record).signal, 500.0, LEAD_NAMES)
    cells = "  ".join(f"{probs[c]:5.3f}" for c in CLASSES)
    assert lines[1].startswith(f"{record}  {cells}  ")
    assert len(lines) == 2


def test_cli_csv_and_json_agree(record: Path) -> None:
    runner = CliRunner()
    csv_out = runner.invoke(cli, ["classify", str(record), str(record), "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    header, row1, row2 = csv_out.output.splitlines()
    assert header == "record,NORM,MI,STTC,CD,HYP,labels"
    assert row1 == row2
    json_out = runner.invoke(
        cli, ["classify", str(record), "--format", "json", "--threshold", "0"]
    )
    assert json_out.exit_code == 0, json_out.output
    doc = json.loads(json_out.output)
    entry = doc["records"][0]
    assert entry["record"] == str(record)
    assert entry["labels"] == list(CLASSES)  # threshold 0: every class
    cells = row1.split(",")
    for k, c in enumerate(CLASSES):
        assert float(cells[1 + k]) == pytest.approx(entry["probabilities"][c], abs=1e-6)


def test_cli_output_file(record: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(cli, ["classify", str(record), "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert json.loads(out.read_text(encoding="utf-8"))["records"][0]["record"] == str(record)
    again = CliRunner().invoke(cli, ["classify", str(record), "-o", str(out)])
    assert again.exit_code == 2
    assert again.output == (
        f"Error: {out} already exists; pass --overwrite (overwrite=True) to replace it\n"
    )
    replaced = CliRunner().invoke(cli, ["classify", str(record), "-o", str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert out.read_text(encoding="utf-8").startswith("record")


def test_cli_missing_lead_message(tmp_path: Path) -> None:
    path = tmp_path / "ten"
    write_record(path, synthetic_ecg()[:, :11], fs=500.0, lead_names=LEAD_NAMES[:11])
    result = CliRunner().invoke(cli, ["classify", str(path)])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {path}: the classifier needs the 12 standard leads; missing V6 "
        "(found I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5)\n"
    )


def test_cli_bad_threshold(record: Path) -> None:
    result = CliRunner().invoke(cli, ["classify", str(record), "--threshold", "XX=0.2"])
    assert result.exit_code == 2
    assert "Invalid value for --threshold: 'XX=0.2': expected a number or CLASS=VALUE" in (
        result.output
    )


def test_parse_threshold() -> None:
    defaults = dict.fromkeys(CLASSES, 0.5)
    assert parse_threshold(None, defaults) == defaults
    assert parse_threshold("0.3", defaults) == dict.fromkeys(CLASSES, 0.3)
    assert parse_threshold("mi=0.2, HYP=0.1", defaults) == {**defaults, "MI": 0.2, "HYP": 0.1}
    for bad, message in [
        ("1.5", "'1.5' is not in [0, 1]"),
        ("MI=2", "'MI=2': value not in [0, 1]"),
        ("MI=x", "'MI=x': value not in [0, 1]"),
        ("MI", "'MI': expected a number or CLASS=VALUE with CLASS one of NORM, MI, STTC, CD, HYP"),
    ]:
        with pytest.raises(click.BadParameter) as err:
            parse_threshold(bad, defaults)
        assert err.value.message == message


def test_cli_routes_images_to_the_digitizer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sig = synthetic_ecg()
    calls = []

    def digitize(path: object, options: object = None) -> types.SimpleNamespace:
        calls.append(path)
        return types.SimpleNamespace(signal=sheet_3x4(sig, 500.0), fs=500.0, lead_names=LEAD_NAMES)

    fake = types.ModuleType("ecgdigitize.pipeline")
    fake.digitize = digitize  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ecgdigitize.pipeline", fake)
    scan = tmp_path / "scan.PNG"
    scan.write_bytes(b"")
    result = CliRunner().invoke(cli, ["classify", str(scan), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert calls == [scan]
    expected = classify(sheet_3x4(sig, 500.0), 500.0, LEAD_NAMES)
    got = json.loads(result.output)["records"][0]["probabilities"]
    assert got == {c: round(expected[c], 6) for c in CLASSES}


def test_cli_classifies_a_rendered_sheet(tmp_path: Path, ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("ecgdigitize.pipeline")
    from ecgdigitize.render import render, write_sheet

    rec = read_record(ptbxl_record(1))
    png = tmp_path / "sheet.png"
    write_sheet(render(rec.signal, fs=rec.fs, lead_names=rec.lead_names), png)
    result = CliRunner().invoke(cli, ["classify", str(png), "--format", "json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)["records"][0]["probabilities"]
    # The digitization of a clean sheet must classify like the 3x4-masked digital record.
    for c in CLASSES:
        assert got[c] == pytest.approx(PTBXL_00001_3X4_PROBS[c], abs=0.1), c


def test_model_is_loaded_once() -> None:
    load_model.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        classify(synthetic_ecg(), 500.0, LEAD_NAMES)
        classify(synthetic_ecg(), 500.0, LEAD_NAMES)
    assert load_model.cache_info().misses == 1
