"""Tests of ecgdigitize.metrics on hand-computed cases (PhysioNet 2024 signal metrics)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.ndimage import gaussian_filter1d

from ecgdigitize import metrics
from ecgdigitize.config import LEAD_NAMES
from ecgdigitize.errors import RecordError
from ecgdigitize.io.wfdb import read_record, standard_leads, write_record
from ecgdigitize.metrics import (
    Alignment,
    LeadScore,
    ScoreReport,
    align,
    asci,
    ks,
    pooled,
    score_folders,
    score_records,
    score_signals,
    snr,
    snr_median,
    wad,
)

FS = 500.0
ONE_LEAD_METRICS = (snr, snr_median, ks, asci, wad)


def smooth_noise(n: int, seed: int, *, std_mv: float = 0.5) -> np.ndarray:
    """A non-periodic ECG-like test trace: Gaussian noise low-passed over ~16 ms."""
    x = gaussian_filter1d(np.random.default_rng(seed).normal(size=n), 8.0)
    return x / x.std() * std_mv


def theory_snr(r: np.ndarray, noise_std: float) -> float:
    return 10 * math.log10(float(np.mean(r**2)) / noise_std**2)


# ----------------------------------------------------------------------------------------- SNR


@pytest.mark.parametrize("aligned", [True, False])
def test_identical_signals_have_undefined_snr(aligned: bool) -> None:
    r = smooth_noise(2000, 0)
    assert math.isnan(snr(r, r, fs=FS, align=aligned))
    assert math.isnan(snr_median(r, r, fs=FS, align=aligned))
    assert ks(r, r, fs=FS, align=aligned) == 1.0
    assert asci(r, r, fs=FS, align=aligned) == 1.0
    assert wad(r, r, fs=FS, align=aligned) == 0.0


@pytest.mark.parametrize("aligned", [True, False])
def test_white_noise_of_known_power(aligned: bool) -> None:
    r = smooth_noise(50_000, 1)  # 100 s: the noise power is estimated to about 0.03 dB
    noise_std = 0.05
    e = r + np.random.default_rng(2).normal(0.0, noise_std, r.size)
    expected = theory_snr(r, noise_std)
    assert expected == pytest.approx(20.0, abs=0.01)
    assert snr(r, e, fs=FS, align=aligned) == pytest.approx(expected, abs=0.1)


def test_half_amplitude_is_6_02_db(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    r = standard_leads(read_record(ptbxl_record(1)))[:, 1]  # lead II
    assert snr(r, 0.5 * r, fs=FS, align=False) == pytest.approx(6.0206, abs=0.01)
    # With alignment: a zero-median signal, so the offset estimate (median of r - e) is 0.
    t = np.arange(5000) / FS
    sine = np.sin(2 * np.pi * 1.3 * t) + 0.5 * np.sin(2 * np.pi * 7.1 * t)
    sine -= np.median(sine)
    assert snr(sine, 0.5 * sine, fs=FS) == pytest.approx(6.0206, abs=0.01)


def test_half_coverage_halves_snr() -> None:
    r = smooth_noise(4000, 3)
    e = r + np.random.default_rng(4).normal(0.0, 0.1, r.size)
    half = e.copy()
    half[2000:] = np.nan
    full_first_half = snr(r[:2000], e[:2000], fs=FS, align=False)
    assert full_first_half > 10
    assert snr(r, half, fs=FS, align=False) == pytest.approx(0.5 * full_first_half, rel=1e-12)
    # A shorter estimate is padded with NaN: the same as the half-NaN estimate.
    assert snr(r, e[:2000], fs=FS, align=False) == snr(r, half, fs=FS, align=False)
    # A longer one is truncated to the reference.
    assert snr(r, np.concatenate([e, e]), fs=FS, align=False) == snr(r, e, fs=FS, align=False)


def test_snr_median_uses_median_noise_power() -> None:
    r = np.array([1.0, -1.0, 1.0, -1.0, 1.0])
    e = r + np.array([0.1, -0.1, 0.1, 0.2, 0.3])
    # mean(r^2) = 1; squared noise 0.01, 0.01, 0.01, 0.04, 0.09 -> median 0.01 -> 20 dB.
    assert snr_median(r, e, fs=10.0, align=False) == pytest.approx(20.0, abs=1e-9)
    assert snr(r, e, fs=10.0, align=False) == pytest.approx(10 * math.log10(1 / 0.032))


def test_no_overlap_scores_zero_snr_and_all_nan_reference_is_nan() -> None:
    r = np.array([1.0, 2.0, -1.0, 0.5])
    empty = np.full(4, np.nan)
    assert snr(r, empty, fs=10.0) == 0.0
    assert snr_median(r, empty, fs=10.0) == 0.0
    assert ks(r, empty, fs=10.0) == 0.0
    for metric in ONE_LEAD_METRICS:
        assert math.isnan(metric(empty, r, fs=10.0))
    # A reference that is zero where compared: SNR of minus infinity, reported as NaN.
    assert math.isnan(snr(np.zeros(4), r, fs=10.0, align=False))


# ----------------------------------------------------------------------------------- alignment


def test_alignment_removes_a_0_2_s_lag_and_0_3_mv_offset() -> None:
    x = smooth_noise(5100, 5)
    r = x[100:5100]
    e = x[:5000] + 0.3  # the estimate is late by 100 samples (0.2 s) and 0.3 mV high
    a = align(r, e, fs=FS)
    assert a.applied and a.lag_samples == 100
    assert a.offset_mv == pytest.approx(-0.3, abs=1e-9)
    shifted = a.apply(e)
    np.testing.assert_allclose(shifted[:4900], r[:4900], atol=1e-9)
    assert np.isnan(shifted[4900:]).all()  # shifted out of the record
    # Swapping reference and estimate gives the opposite lag and offset.
    back = align(e, r, fs=FS)
    assert (back.lag_samples, back.applied) == (-100, True)
    assert back.offset_mv == pytest.approx(0.3, abs=1e-9)
    # Scored with noise: the theoretical SNR times the coverage (4900 / 5000).
    noisy = e + np.random.default_rng(6).normal(0.0, 0.05, e.size)
    expected = theory_snr(r[:4900], 0.05) * 0.98
    assert snr(r, noisy, fs=FS) == pytest.approx(expected, abs=0.2)
    assert snr(r, noisy, fs=FS, align=False) < 0


def test_alignment_removes_negative_lag_and_offset() -> None:
    x = smooth_noise(5100, 7)
    r = x[:5000]
    e = x[37:5037] - 0.8  # early by 37 samples, 0.8 mV low
    a = align(r, e, fs=FS)
    assert (a.lag_samples, a.applied) == (-37, True)
    assert a.offset_mv == pytest.approx(0.8, abs=1e-9)


def test_alignment_leaves_a_0_7_s_lag() -> None:
    x = smooth_noise(5350, 8)
    r = x[350:5350]
    e = x[:5000]  # late by 0.7 s: found but outside the 0.5 s window
    a = align(r, e, fs=FS)
    assert a.lag_samples == 350 and not a.applied
    np.testing.assert_array_equal(a.apply(e), e)
    assert snr(r, e, fs=FS) == snr(r, e, fs=FS, align=False)


def test_alignment_leaves_an_offset_above_1_mv() -> None:
    r = smooth_noise(3000, 9)
    a = align(r, r + 1.5, fs=FS)
    assert a.lag_samples == 0 and a.offset_mv == pytest.approx(-1.5) and not a.applied
    assert align(r, r + 0.99, fs=FS).applied


def test_alignment_of_empty_or_constant_traces() -> None:
    nan = np.full(100, np.nan)
    assert align(nan, np.ones(100), fs=FS) == Alignment(0, 0.0, applied=False)
    assert align(np.ones(100), nan, fs=FS) == Alignment(0, 0.0, applied=False)
    assert align(np.ones(100), np.ones(100), fs=FS) == Alignment(0, 0.0, applied=False)


def test_alignment_on_a_real_3x4_digitization(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    """PTB-XL record 1 drawn as a 3x4 sheet (each lead in its 2.5 s column), 0.1 s late,
    0.25 mV low, with 10 µV of noise: every lead is realigned exactly."""
    ref = standard_leads(read_record(ptbxl_record(1)))
    est = np.full_like(ref, np.nan)
    rng = np.random.default_rng(10)
    for j in range(12):
        column = j // 3  # I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6
        window = slice(1250 * column, 1250 * (column + 1))
        late = np.full(5000, np.nan)
        late[50:] = ref[:-50, j]
        est[window, j] = late[window] - 0.25 + rng.normal(0.0, 0.01, 1250)
    for j in range(12):
        a = align(ref[:, j], est[:, j], fs=FS)
        assert (a.lag_samples, a.applied) == (50, True), LEAD_NAMES[j]
        assert a.offset_mv == pytest.approx(0.25, abs=0.005), LEAD_NAMES[j]
    aligned = score_signals(ref, est, fs=FS, ref_leads=LEAD_NAMES, est_leads=LEAD_NAMES)
    raw = score_signals(ref, est, fs=FS, ref_leads=LEAD_NAMES, est_leads=LEAD_NAMES, align=False)
    for lead in LEAD_NAMES:
        assert aligned["snr"][lead] > raw["snr"][lead] + 1, lead


# ------------------------------------------------------------------------------ KS, ASCI, WAD


def test_ks_hand_computed() -> None:
    r = np.array([1.0, 1.0, 1.0, 1.0])  # F_r = .25 .5 .75 1
    e = np.array([0.0, 0.0, 2.0, 2.0])  # F_e = 0 0 .5 1 -> max |F_r - F_e| = 0.5
    assert ks(r, e, fs=10.0, align=False) == pytest.approx(0.5)
    assert ks(e, r, fs=10.0, align=False) == pytest.approx(0.5)
    assert ks(r, -3 * r, fs=10.0, align=False) == 1.0  # proportional in |x|
    assert ks(np.zeros(4), np.zeros(4), fs=10.0, align=False) == 1.0
    assert ks(r, np.zeros(4), fs=10.0, align=False) == 0.0
    # Only the compared samples count: the NaN sample of e drops r's first sample too.
    assert ks(np.array([5.0, 1, 1]), np.array([np.nan, 0, 2]), fs=10.0, align=False) == 0.5


def test_asci_hand_computed() -> None:
    r = np.array([0.0, 1.0, 0.0, -1.0])  # std = sqrt(0.5), tolerance 0.05 * 0.7071 = 0.0354
    e = r + np.array([0.0, 0.03, 0.04, -0.1])  # within, within, outside, outside
    assert asci(r, e, fs=10.0, align=False) == 0.0
    assert asci(r, r + np.array([0.0, 0.03, 0.0, 0.0]), fs=10.0, align=False) == 1.0
    assert asci(r, r + 1.0, fs=10.0, align=False) == -1.0
    # No overlap: against zeros, the two zero samples of r are within tolerance.
    assert asci(r, np.full(4, np.nan), fs=10.0) == 0.0


def test_wad_hand_computed() -> None:
    # fs = 10 Hz: the 0.1 s window is one sample, so a = r; max(a) = 2, w = 1 .75 .5 .75.
    r = np.array([0.0, 1.0, 2.0, 1.0])
    assert wad(r, r + 1.0, fs=10.0, align=False) == pytest.approx(1.0)
    assert wad(r, r + np.array([1.0, 0, 0, 0]), fs=10.0, align=False) == pytest.approx(1 / 3)
    assert wad(r, r + np.array([0, 0, 1.0, 0]), fs=10.0, align=False) == pytest.approx(1 / 6)
    # fs = 30 Hz: three-sample window, averaging the samples inside the record at the edges:
    # a = 0 1 1 1 0 0, w = 1 .5 .5 .5 1 1 (sum 4.5).
    r = np.array([0.0, 0.0, 3.0, 0.0, 0.0, 0.0])
    error = np.array([0.0, 0.0, 0.6, 0.0, 0.0, 0.0])
    assert wad(r, r + error, fs=30.0, align=False) == pytest.approx(0.3 / 4.5)
    # Signed reference: a negative deflection weighs more (w = 1 1.5 1 .5).
    r = np.array([0.0, -1.0, 0.0, 1.0])
    assert wad(r, r + np.array([0, 1.0, 0, 0]), fs=10.0, align=False) == pytest.approx(1.5 / 4)
    assert wad(r, r + np.array([0, 0, 0, 1.0]), fs=10.0, align=False) == pytest.approx(0.5 / 4)
    # Weights undefined when the smoothed reference is never positive.
    assert math.isnan(wad(-np.abs(r), r, fs=10.0, align=False))
    # No overlap: against zeros, sum(w |r|) / sum(w) with w = 1 1.5 1 .5.
    assert wad(r, np.full(4, np.nan), fs=10.0) == pytest.approx(2.0 / 4)


def test_one_lead_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="must be 1-D"):
        snr(np.zeros((3, 2)), np.zeros(3), fs=FS)
    with pytest.raises(ValueError, match="fs must be a positive"):
        ks(np.zeros(3), np.zeros(3), fs=0.0)


# ------------------------------------------------------------------------------- multi-lead


def test_score_signals_missing_lead_scores_zero_and_names_match_case_insensitively() -> None:
    rng = np.random.default_rng(11)
    ref = np.stack([smooth_noise(2000, s) for s in range(3)], axis=1)
    est = ref[:, [1, 0]] + rng.normal(0.0, 0.05, (2000, 2))
    scores = score_signals(
        ref, est, fs=FS, ref_leads=("I", "aVR", "V1"), est_leads=("AVR", "i"), align=False
    )
    assert list(scores) == list(metrics.METRICS)
    assert list(scores["snr"]) == ["I", "aVR", "V1"]
    assert scores["snr"]["V1"] == 0.0
    assert scores["ks"]["V1"] == 0.0
    assert scores["snr"]["I"] == pytest.approx(snr(ref[:, 0], est[:, 1], fs=FS, align=False))
    assert scores["snr"]["aVR"] == pytest.approx(theory_snr(ref[:, 1], 0.05), abs=0.3)
    only = score_signals(ref, est, fs=FS, ref_leads=("I", "aVR", "V1"), est_leads=("AVR", "i"),
                         metrics=("wad",))  # fmt: skip
    assert list(only) == ["wad"]
    with pytest.raises(ValueError, match="unknown metric"):
        score_signals(ref, est, fs=FS, ref_leads=("I", "aVR", "V1"), est_leads=("aVR", "I"),
                      metrics=("snr", "psnr"))  # fmt: skip


def test_pooled_is_nan_mean_over_pairs() -> None:
    assert pooled([1.0, math.nan, 3.0]) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pooled([]))
        assert math.isnan(pooled([math.nan, math.nan]))
    rows = (
        LeadScore("a", "I", {"snr": 1.0}, 1.0),
        LeadScore("a", "II", {"snr": 2.0}, 1.0),
        LeadScore("b", "I", {"snr": 6.0}, 1.0),
        LeadScore("b", "II", {"snr": math.nan}, 1.0),
    )
    report = ScoreReport(("snr",), True, rows)
    assert report.records == ("a", "b")
    assert report.record_means == {"a": {"snr": 1.5}, "b": {"snr": 6.0}}
    assert report.pooled_means == {"snr": 3.0}  # over pairs, not the mean of record means


# ---------------------------------------------------------------------------------- records


def _write(path: Path, signal: np.ndarray, fs: float = FS) -> Path:
    write_record(path, signal, fs=fs)
    return path


def test_score_records_and_folders(tmp_path: Path) -> None:
    ref = np.stack([smooth_noise(1000, s) for s in range(12)], axis=1).round(3)
    _write(tmp_path / "ref" / "x" / "a", ref)
    _write(tmp_path / "ref" / "b", ref)
    _write(tmp_path / "test" / "x" / "a", 0.5 * ref)
    report = score_records(tmp_path / "ref/x/a.hea", tmp_path / "test/x/a", align=False)
    assert report.records == ("a",) and len(report.rows) == 12
    assert report.pooled_means["snr"] == pytest.approx(6.02, abs=0.01)

    report = score_folders(tmp_path / "ref", tmp_path / "test", metrics=("snr", "ks"))
    assert report.missing == ("b",)
    assert report.records == ("b", "x/a")
    assert report.record_means["b"] == {"snr": 0.0, "ks": 0.0}
    assert all(row.missing and row.coverage == 0.0 for row in report.rows if row.record == "b")
    assert report.pooled_means["snr"] == pytest.approx(
        pooled(r.values["snr"] for r in report.rows)
    )


def test_score_records_errors_name_both_files(tmp_path: Path) -> None:
    ref = np.stack([smooth_noise(1000, s) for s in range(12)], axis=1)
    a = _write(tmp_path / "a", ref)
    b = _write(tmp_path / "b", ref[::2], fs=250.0)
    with pytest.raises(RecordError) as info:
        score_records(a, b)
    assert str(info.value) == (
        f"{b}.hea: sampling rate 250 Hz differs from the reference {a}.hea (500 Hz); "
        "resample the estimate first"
    )
    c = _write(tmp_path / "c", ref)
    header = c.with_suffix(".hea")
    header.write_text(header.read_text().replace("/mV 16 0", "/degC 16 0", 1))
    with pytest.raises(RecordError) as info:
        score_records(a, c)
    assert str(info.value) == (
        f"{c}.hea: lead I has unit 'degC'; expected mV, uV or V (scoring {c} against {a})"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordError, match="no WFDB records"):
        score_folders(tmp_path / "empty", tmp_path)


# ---------------------------------------------------------------------------------- properties

_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
_fs = st.sampled_from([10.0, 100.0, 500.0])


@settings(max_examples=150, deadline=None)
@given(
    r=arrays(np.float64, st.integers(1, 120), elements=_floats),
    e=arrays(np.float64, st.integers(1, 120), elements=_floats),
    fs=_fs,
    aligned=st.booleans(),
)
def test_no_finite_input_crashes(r: np.ndarray, e: np.ndarray, fs: float, aligned: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or empty-slice warnings either
        values = {f.__name__: f(r, e, fs=fs, align=aligned) for f in ONE_LEAD_METRICS}
    for value in values.values():
        assert isinstance(value, float) and not math.isinf(value)
    assert math.isnan(values["ks"]) or 0.0 <= values["ks"] <= 1.0
    assert -1.0 <= values["asci"] <= 1.0
    assert math.isnan(values["wad"]) or values["wad"] >= 0.0


@settings(max_examples=100, deadline=None)
@given(
    r=arrays(np.float64, st.integers(1, 80), elements=st.floats(-10, 10) | st.just(math.nan)),
    e=arrays(np.float64, st.integers(1, 80), elements=st.floats(-10, 10) | st.just(math.nan)),
    fs=_fs,
)
def test_nan_inputs_do_not_crash(r: np.ndarray, e: np.ndarray, fs: float) -> None:
    scores = score_signals(r[:, None], e[:, None], fs=fs, ref_leads=("II",), est_leads=("ii",))
    assert set(scores) == set(metrics.METRICS)


# Multiples of 2**-10 within +-1024: sums and differences are exact, so symmetry is exact.
_exact = st.integers(-(2**20), 2**20).map(lambda k: k / 1024)


@settings(max_examples=100, deadline=None)
@given(
    data=st.integers(2, 60).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=_exact), arrays(np.float64, n, elements=_exact)
        )
    ),
    fs=_fs,
)
def test_symmetric_cases_stay_symmetric(data: tuple[np.ndarray, np.ndarray], fs: float) -> None:
    r, d = data
    # KS is symmetric in reference and estimate.
    assert ks(r, r + d, fs=fs, align=False) == ks(r + d, r, fs=fs, align=False)
    # The metrics of the error |r - e| score adding or subtracting the same error alike.
    for metric in (snr, snr_median, asci, wad):
        plus, minus = metric(r, r + d, fs=fs, align=False), metric(r, r - d, fs=fs, align=False)
        assert plus == minus or (math.isnan(plus) and math.isnan(minus)), metric.__name__


def test_denormal_amplitudes_do_not_crash() -> None:
    # Found by hypothesis: a range of 5e-324 mV vanished when halved and the bins went negative.
    scores = score_signals(
        np.array([[0.0]]), np.array([[5e-324]]), fs=10.0, ref_leads=("II",), est_leads=("II",)
    )
    assert set(scores) == set(metrics.METRICS)
