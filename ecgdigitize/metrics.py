"""Scores of a digitized ECG against its reference (PhysioNet/CinC Challenge 2024 metrics).

Our own implementation of the signal metrics of the George B. Moody PhysioNet Challenge 2024
(Reyna et al., "Digitization and Classification of ECG Images: The George B. Moody PhysioNet
Challenge 2024", Computing in Cardiology 2024), as fixed in the project design (§4 Metrics).
For one lead, with reference ``r`` and estimate ``e`` (mV, same fs):

- the estimate is first aligned to the reference (:func:`align`): a horizontal lag and a vertical
  offset are estimated and applied only when ``|lag| <= 0.5 s`` and ``|offset| <= 1 mV``;
  samples shifted out of the record become NaN;
- the mask ``m = finite(r) & finite(e)`` selects the compared samples and the coverage is
  ``c = |m| / |finite(r)|``;
- :func:`snr` ``= 10 log10(mean(r[m]^2) / mean((r - e)[m]^2)) * c`` dB; :func:`snr_median`
  uses the median of the squared noise instead of its mean;
- :func:`ks` ``= 1 - max |F_r - F_e|`` with ``F`` the normalised cumulative sum of ``|x[m]|``;
- :func:`asci` ``=`` mean over ``m`` of ``+1`` where ``|r - e| <= 0.05 std(r)``, else ``-1``;
- :func:`wad` ``= sum(w |r - e|) / sum(w)`` over ``m`` (mV), ``w = 1 - 0.5 a / max(a)``, ``a`` the
  zero-phase 0.1 s moving average of ``r``.

Conventions shared by all metrics
---------------------------------
- An estimate shorter than the reference is padded with NaN, a longer one is truncated: scores
  are always over the reference's samples.
- A reference without any finite sample scores NaN (nothing to score).
- When the reference has data but nothing overlaps (a lead or a whole record missing from the
  estimate), the coverage is 0, so SNR and SNR-median are 0 dB; KS, ASCI and WAD are computed
  against an all-zero estimate over the reference's finite samples, which is how the challenge's
  scoring code treats a missing output (it replaces missing samples by zeros). KS is then 0,
  ASCI counts +1 for the reference samples within tolerance of zero and -1 for the others, and
  WAD is the weighted mean of ``|r|``. So a missing lead is penalised, not ignored, in pooled
  scores.
- A value that is undefined or not representable is NaN: identical signals (infinite SNR), a
  reference that is zero on the overlap (SNR of minus infinity), a WAD weight normalisation
  ``max(a) <= 0``, overflow.
- Multi-lead and multi-record results are pooled with :func:`pooled`, the NaN-ignoring mean over
  all (record, lead) pairs.

Differences from the challenge's published scoring code, all by design: missing samples inside
a lead are excluded (mask and coverage factor) rather than replaced by zeros; KS and ASCI use the
masked samples; WAD smooths with a 0.1 s moving average rather than a Butterworth low-pass;
estimates are aligned first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter1d
from scipy.signal import fftconvolve

from .config import canonical_lead_name
from .errors import RecordError
from .io.wfdb import Record, read_record, record_path

METRICS: tuple[str, ...] = ("snr", "snr-median", "ks", "asci", "wad")
"""Names of the metrics, in report order."""

METRIC_UNITS: dict[str, str] = {"snr": "dB", "snr-median": "dB", "ks": "", "asci": "", "wad": "mV"}
"""Unit of each metric ('' for dimensionless)."""


_VOLT_SCALE_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}

# Alignment search: columns of the rasterised traces are pooled to about this rate for the 2-D
# cross-correlation (float32, by FFT); the lag is then refined at full rate within one pooled
# column of the correlation peak.
_COARSE_RATE_HZ = 50.0
_BLUR_SIGMA = 1.0  # Gaussian blur of the rasters, in (amplitude bins, pooled columns)
# The best lag inside the allowed window is taken when its correlation reaches this fraction of
# the global peak (periodic beats give near-equal peaks one RR interval apart).
_WINDOW_PEAK_RATIO = 0.8
# Noise-to-signal power ratio below which two traces are identical up to float64 round-off
# (SNR above about 289 dB); such an SNR is infinite, reported as NaN.
_ROUNDOFF_POWER_RATIO = (16 * np.finfo(np.float64).eps) ** 2


# --------------------------------------------------------------------------------- alignment


@dataclass(frozen=True)
class Alignment:
    """Horizontal lag and vertical offset between an estimate and its reference.

    The aligned estimate is ``est[n + lag_samples] + offset_mv``: a positive lag means the
    estimate is late (its features come ``lag_samples`` after the reference's) and the offset is
    what is added to the estimate.

    Attributes
    ----------
    lag_samples : int
        Estimated lag of the estimate behind the reference, in samples.
    offset_mv : float
        Estimated vertical offset to add to the estimate, in mV.
    applied : bool
        Whether the lag and offset were within the allowed window, so :meth:`apply` shifts the
        estimate. When false, the estimate is scored as it is.
    """

    lag_samples: int
    offset_mv: float
    applied: bool

    def apply(self, est: np.ndarray) -> np.ndarray:
        """Return the aligned copy of `est` (1-D), or a float copy if not :attr:`applied`.

        Samples shifted out of the record become NaN.
        """
        est = np.asarray(est, dtype=np.float64)
        if not self.applied:
            return est.copy()
        return _shift(est, self.lag_samples) + self.offset_mv


def _shift(x: np.ndarray, lag: int) -> np.ndarray:
    """``out[n] = x[n + lag]``, NaN where ``n + lag`` is outside ``x``."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if abs(lag) >= n:
        return out
    if lag >= 0:
        out[: n - lag] = x[lag:]
    else:
        out[-lag:] = x[: n + lag]
    return out


def _rasterise(x: np.ndarray, *, lo: float, hi: float, n_bins: int, pool: int) -> np.ndarray:
    """Draw trace `x` into an ``(n_bins, ceil(n / pool))`` image of ink counts.

    Amplitude bin ``floor((x - lo) / (hi - lo) * n_bins)``; each sample draws a vertical segment
    up to the next finite sample (so steep QRS slopes stay connected, as on paper); columns are
    pooled by summing `pool` consecutive samples. Non-finite samples draw nothing.
    """
    n = x.shape[0]
    n_cols = -(-n // pool)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros((n_bins, n_cols), dtype=np.float32)
    # Halves avoid overflow of hi - lo for extreme values; a range that vanishes (denormal
    # amplitudes) puts every sample in the first bin.
    half_range = hi / 2 - lo / 2
    if half_range > 0:
        frac = np.nan_to_num(
            (x[finite] / 2 - lo / 2) / half_range, nan=0.0, posinf=1.0, neginf=0.0
        )
    else:
        frac = np.zeros(int(finite.sum()))
    bins = np.full(n, -1, dtype=np.int64)
    bins[finite] = np.clip(np.floor(frac * n_bins), 0, n_bins - 1).astype(np.int64)
    nxt = np.empty_like(bins)
    nxt[:-1] = bins[1:]
    nxt[-1] = -1
    nxt = np.where(nxt < 0, bins, nxt)
    idx = np.flatnonzero(finite)
    low = np.minimum(bins[idx], nxt[idx])
    high = np.maximum(bins[idx], nxt[idx])
    cols = idx // pool
    size = (n_bins + 1) * n_cols
    diff = np.bincount(low * n_cols + cols, minlength=size) - np.bincount(
        (high + 1) * n_cols + cols, minlength=size
    )
    img = np.cumsum(diff.reshape(n_bins + 1, n_cols), axis=0)[:n_bins]
    return img.astype(np.float32)


def align(
    ref: np.ndarray,
    est: np.ndarray,
    *,
    fs: float,
    max_lag_s: float = 0.5,
    max_offset_mv: float = 1.0,
    n_bins: int = 256,
) -> Alignment:
    """Estimate the lag and offset of `est` relative to `ref` by 2-D cross-correlation.

    Both traces are rasterised into images (`n_bins` amplitude bins over their joint finite
    range, columns pooled to about 50 Hz, consecutive samples joined by vertical segments) and
    lightly blurred (Gaussian, sigma of one bin and one column); the peak of the images' 2-D
    cross-correlation (computed by FFT over all lags) gives a coarse lag. The peak is searched
    over all lags; the best lag inside the allowed window is preferred when its correlation is
    at least 80 % of the global peak, so that a periodic
    signal (a 2.5 s lead window showing beats like its neighbours') is not matched to a beat
    further away. The lag is then refined at full rate within one pooled column, and the
    vertical offset is estimated to sub-bin accuracy as the median of ``ref - shifted est`` over
    their overlap: each candidate lag is scored by the mean absolute deviation of ``ref`` from
    the shifted estimate plus that median offset (a least-absolute-deviation fit, robust to
    spurious samples), and the best one is kept.

    Parameters
    ----------
    ref, est : (n,) float arrays
        Reference and estimate of one lead, mV, same sampling rate; NaN where there is no sample.
        `est` is padded with NaN or truncated to the length of `ref`.
    fs : float
        Sampling frequency, Hz.
    max_lag_s : float
        Largest lag, in seconds, that is applied.
    max_offset_mv : float
        Largest vertical offset, in mV, that is applied.
    n_bins : int
        Amplitude bins of the rasterised traces (at least 2).

    Returns
    -------
    Alignment
        The estimated lag and offset, and whether they are within the allowed window. When
        either trace has no finite sample, or both are the same constant, the alignment is
        ``(0, 0.0, applied=False)``.

    Raises
    ------
    ValueError
        If `ref` or `est` is not 1-D, `fs` is not positive or `n_bins` is below 2.

    Notes
    -----
    The correlation is global, so a clearly better match beyond `max_lag_s` is found and then
    not applied. On a strictly periodic signal, a shift by one period is indistinguishable from
    no shift; with real ECGs (RR of 0.5–1.2 s) a lag larger than about half an RR interval may
    therefore be matched to a neighbouring beat and applied.
    """
    r, e = _prepare(ref, est, fs=fs)
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2; got {n_bins}")
    none = Alignment(0, 0.0, applied=False)
    fr, fe = np.isfinite(r), np.isfinite(e)
    if not fr.any() or not fe.any():
        return none
    lo = float(min(r[fr].min(), e[fe].min()))
    hi = float(max(r[fr].max(), e[fe].max()))
    if not hi > lo:
        return none
    n = r.shape[0]
    pool = max(1, int(fs // _COARSE_RATE_HZ))
    img_r = gaussian_filter(_rasterise(r, lo=lo, hi=hi, n_bins=n_bins, pool=pool), _BLUR_SIGMA)
    img_e = gaussian_filter(_rasterise(e, lo=lo, hi=hi, n_bins=n_bins, pool=pool), _BLUR_SIGMA)
    # corr[dy, dx] = sum R[y, x] E[y - dy, x - dx]: R(x) ~ E(x - dx), the estimate is early by dx.
    peak = fftconvolve(img_r, img_e[::-1, ::-1], mode="full").max(axis=0)
    lags = -(np.arange(peak.shape[0]) - (img_e.shape[1] - 1)) * pool
    in_window = np.flatnonzero(np.abs(lags) <= max_lag_s * fs + pool)
    best_in_window = in_window[np.argmax(peak[in_window])] if in_window.size else None
    if best_in_window is not None and peak[best_in_window] >= _WINDOW_PEAK_RATIO * peak.max():
        coarse_lag = int(lags[best_in_window])
    else:
        coarse_lag = int(lags[int(np.argmax(peak))])

    best: tuple[float, int, float] | None = None
    candidates = sorted(
        range(coarse_lag - pool, coarse_lag + pool + 1), key=lambda k: abs(k - coarse_lag)
    )
    with np.errstate(over="ignore", invalid="ignore"):
        for lag in candidates:
            if abs(lag) >= n:
                continue
            shifted = _shift(e, lag)
            m = fr & np.isfinite(shifted)
            if not m.any():
                continue
            d = r[m] - shifted[m]
            offset = float(np.median(d))
            cost = float(np.mean(np.abs(d - offset)))
            if best is None or cost < best[0] or (math.isnan(best[0]) and not math.isnan(cost)):
                best = (cost, lag, offset)
    if best is None:
        return none
    _, lag, offset = best
    applied = (
        abs(lag) <= max_lag_s * fs + 1e-9
        and math.isfinite(offset)
        and abs(offset) <= max_offset_mv
    )
    return Alignment(int(lag), offset, applied=bool(applied))


# ----------------------------------------------------------------------------- one-lead metrics


def _prepare(ref: np.ndarray, est: np.ndarray, *, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Validate; return float64 ``ref`` and ``est`` padded with NaN / truncated to its length."""
    r = np.asarray(ref, dtype=np.float64)
    e = np.asarray(est, dtype=np.float64)
    if r.ndim != 1 or e.ndim != 1:
        raise ValueError(f"ref and est must be 1-D; got shapes {r.shape} and {e.shape}")
    if not (math.isfinite(fs) and fs > 0):
        raise ValueError(f"fs must be a positive number of Hz; got {fs!r}")
    n = r.shape[0]
    if e.shape[0] >= n:
        return r, e[:n]
    out = np.full(n, np.nan)
    out[: e.shape[0]] = e
    return r, out


def _aligned(
    ref: np.ndarray, est: np.ndarray, *, fs: float, align_traces: bool
) -> tuple[np.ndarray, np.ndarray, Alignment]:
    r, e = _prepare(ref, est, fs=fs)
    if not align_traces:
        return r, e, Alignment(0, 0.0, applied=False)
    alignment = align(r, e, fs=fs)
    return r, alignment.apply(e), alignment


def _finite_or_nan(value: float) -> float:
    return float(value) if math.isfinite(value) else math.nan


def _compared(r: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Return ``(finite(r), mask, estimate)`` for KS/ASCI/WAD, or None if `r` has no data.

    When nothing overlaps, the estimate is all zeros over the reference's finite samples (the
    challenge's treatment of a missing output).
    """
    fr = np.isfinite(r)
    if not fr.any():
        return None
    m = fr & np.isfinite(e)
    if not m.any():
        return fr, fr, np.where(fr, 0.0, np.nan)
    return fr, m, e


def _snr_core(r: np.ndarray, e: np.ndarray, *, median: bool) -> float:
    fr = np.isfinite(r)
    n_ref = int(fr.sum())
    if n_ref == 0:
        return math.nan
    m = fr & np.isfinite(e)
    n = int(m.sum())
    if n == 0:
        return 0.0  # coverage 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        signal = float(np.mean(r[m] ** 2))
        noise2 = (r[m] - e[m]) ** 2
        noise = float(np.median(noise2) if median else np.mean(noise2))
        # Noise at floating-point round-off level means identical traces: infinite SNR.
        if not (signal > 0 and noise > signal * _ROUNDOFF_POWER_RATIO):
            return math.nan
        ratio = signal / noise
        if not (0 < ratio < math.inf):  # overflow of either power
            return math.nan
        return _finite_or_nan(10 * math.log10(ratio) * n / n_ref)


def _normalised_cumsum(x: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``|x|`` ending at 1 (all zeros if ``x`` is all zero)."""
    a = np.abs(x)
    peak = float(a.max())
    if not math.isfinite(peak):
        return np.full(a.shape, np.nan)
    if peak == 0:
        return np.zeros(a.shape)
    c = np.cumsum(a / peak)  # scaled by the maximum first, so the sum cannot overflow
    return c / c[-1]


def _ks_core(r: np.ndarray, e: np.ndarray) -> float:
    compared = _compared(r, e)
    if compared is None:
        return math.nan
    _, m, e = compared
    diff = np.abs(_normalised_cumsum(r[m]) - _normalised_cumsum(e[m]))
    return _finite_or_nan(1.0 - float(np.max(diff)))


def _std(x: np.ndarray) -> float:
    """Population standard deviation, computed on scaled values so it does not overflow."""
    scale = float(np.max(np.abs(x)))
    if scale == 0 or not math.isfinite(scale):
        return 0.0 if scale == 0 else math.inf
    return float(np.std(x / scale)) * scale


def _asci_core(r: np.ndarray, e: np.ndarray) -> float:
    compared = _compared(r, e)
    if compared is None:
        return math.nan
    fr, m, e = compared
    tolerance = 0.05 * _std(r[fr])
    with np.errstate(over="ignore", invalid="ignore"):
        close = np.abs(r[m] - e[m]) <= tolerance
    return float(np.mean(np.where(close, 1.0, -1.0)))


def _moving_average_window(fs: float) -> int:
    """Samples in a 0.1 s centred window, rounded to an odd count (so it is zero-phase)."""
    size = max(1, round(0.1 * fs))
    return size if size % 2 else size + 1


def _wad_core(r: np.ndarray, e: np.ndarray, *, fs: float) -> float:
    compared = _compared(r, e)
    if compared is None:
        return math.nan
    fr, m, e = compared
    x = np.where(fr, r, 0.0)
    scale = float(np.max(np.abs(x)))
    if scale > 0 and math.isfinite(scale):
        x = x / scale  # a / max(a) does not depend on the scale; scaling avoids overflow
    size = _moving_average_window(fs)
    # NaN-aware centred moving average: the mean of the finite samples in the window.
    total = uniform_filter1d(x, size, mode="constant")
    count = uniform_filter1d(fr.astype(np.float64), size, mode="constant")
    a = total / np.maximum(count, 1e-12)
    a_max = float(a[fr].max())
    if not (a_max > 0 and math.isfinite(a_max)):
        return math.nan
    with np.errstate(invalid="ignore", over="ignore"):
        w = 1.0 - 0.5 * a[m] / a_max
        value = float(np.sum(w * np.abs(r[m] - e[m])) / np.sum(w))
    return _finite_or_nan(value)


def snr(ref: np.ndarray, est: np.ndarray, *, fs: float, align: bool = True) -> float:
    """Signal-to-noise ratio of `est` against `ref`, scaled by coverage, in dB.

    ``10 log10(mean(r[m]^2) / mean((r - e)[m]^2)) * c`` with ``m`` the samples finite in both
    traces and ``c = |m| / |finite(r)|`` (PhysioNet Challenge 2024).

    Parameters
    ----------
    ref, est : (n,) float arrays
        Reference and estimate of one lead, mV, NaN where there is no sample. `est` is padded
        with NaN or truncated to the length of `ref`.
    fs : float
        Sampling frequency of both, Hz.
    align : bool
        Align the estimate first (:func:`align`).

    Returns
    -------
    float
        SNR in dB; 0 if the reference has data but nothing overlaps; NaN if `ref` has no finite
        sample or the ratio is 0 or infinite (identical signals, also up to float64 round-off:
        a noise power below ``(16 eps)^2`` times the signal power, i.e. above about 289 dB).

    Raises
    ------
    ValueError
        If `ref` or `est` is not 1-D or `fs` is not positive (likewise for the other metrics).
    """
    r, e, _ = _aligned(ref, est, fs=fs, align_traces=align)
    return _snr_core(r, e, median=False)


def snr_median(ref: np.ndarray, est: np.ndarray, *, fs: float, align: bool = True) -> float:
    """Like :func:`snr`, with the median of the squared noise instead of its mean (dB).

    The signal power stays the mean of ``r[m]^2``. NaN also when more than half of the compared
    samples are exact (zero median noise). Parameters as :func:`snr`.
    """
    r, e, _ = _aligned(ref, est, fs=fs, align_traces=align)
    return _snr_core(r, e, median=True)


def ks(ref: np.ndarray, est: np.ndarray, *, fs: float, align: bool = True) -> float:
    """Kolmogorov–Smirnov-style similarity of the amplitude distributions along time.

    ``1 - max |F_r - F_e|`` where ``F_x`` is the cumulative sum of ``|x|`` over the compared
    samples, normalised to end at 1 (left at 0 when ``x`` is all zero, as in the challenge's
    code). In [0, 1], 1 for proportional traces, symmetric in `ref` and `est` (without
    alignment); not scaled by coverage. Parameters as :func:`snr`.

    Returns
    -------
    float
        KS; 0 if the reference has data but nothing overlaps (unless it is all zero); NaN if
        `ref` has no finite sample.
    """
    r, e, _ = _aligned(ref, est, fs=fs, align_traces=align)
    return _ks_core(r, e)


def asci(ref: np.ndarray, est: np.ndarray, *, fs: float, align: bool = True) -> float:
    """Adaptive signed correlation index.

    Mean over the compared samples of +1 where ``|r - e| <= 0.05 std(r)`` and -1 elsewhere;
    ``std(r)`` is the population standard deviation of all finite reference samples (a
    property of the reference, independent of what the estimate covers). In [-1, 1]; not scaled
    by coverage. Parameters as :func:`snr`.

    Returns
    -------
    float
        ASCI; NaN if `ref` has no finite sample. If nothing overlaps, it is computed against an
        all-zero estimate (near -1 for an ECG lead).
    """
    r, e, _ = _aligned(ref, est, fs=fs, align_traces=align)
    return _asci_core(r, e)


def wad(ref: np.ndarray, est: np.ndarray, *, fs: float, align: bool = True) -> float:
    """Weighted absolute difference, mV.

    ``sum(w |r - e|) / sum(w)`` over the compared samples, with ``w = 1 - 0.5 a / max(a)`` and
    ``a`` the zero-phase moving average of the signed ``r`` over a centred window of 0.1 s
    (rounded to an odd number of samples; near the edges and NaN gaps it averages the finite
    samples in the window), as in the challenge (which low-passes ``r`` instead). The weight is
    0.5 where the smoothed reference is at its maximum, 1 where it is 0, and above 1 where it is
    negative, so errors on negative deflections weigh more. Parameters as :func:`snr`.

    Returns
    -------
    float
        WAD in mV (0 is perfect); NaN if `ref` has no finite sample or ``max(a) <= 0`` (weights
        undefined). If nothing overlaps, it is computed against an all-zero estimate.
    """
    r, e, _ = _aligned(ref, est, fs=fs, align_traces=align)
    return _wad_core(r, e, fs=fs)


def _metric_values(
    r: np.ndarray, e: np.ndarray, *, fs: float, metrics: Sequence[str]
) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in metrics:
        if name == "snr":
            out[name] = _snr_core(r, e, median=False)
        elif name == "snr-median":
            out[name] = _snr_core(r, e, median=True)
        elif name == "ks":
            out[name] = _ks_core(r, e)
        elif name == "asci":
            out[name] = _asci_core(r, e)
        else:
            out[name] = _wad_core(r, e, fs=fs)
    return out


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; expected {', '.join(METRICS)}")
    return tuple(dict.fromkeys(metrics))


# ---------------------------------------------------------------------------------- multi-lead


def pooled(values: Iterable[float]) -> float:
    """NaN-ignoring mean of `values` (e.g. one metric over all (record, lead) pairs).

    Returns NaN, without a warning, when no value is finite.
    """
    arr = np.fromiter((float(v) for v in values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


def _lead_key(name: str) -> str:
    """Standard spelling of a standard lead; other names stripped (matched lower-case)."""
    try:
        return canonical_lead_name(name)
    except ValueError:
        return name.strip()


@dataclass(frozen=True)
class _LeadResult:
    lead: str
    values: dict[str, float]
    coverage: float
    alignment: Alignment


def _score_leads(
    ref: np.ndarray,
    est: np.ndarray,
    *,
    fs: float,
    ref_leads: Sequence[str],
    est_leads: Sequence[str],
    metrics: Sequence[str],
    align: bool,
) -> list[_LeadResult]:
    ref = np.asarray(ref, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[1] != len(ref_leads):
        raise ValueError(f"ref has shape {ref.shape}; expected (n_samples, {len(ref_leads)})")
    if est.ndim != 2 or est.shape[1] != len(est_leads):
        raise ValueError(f"est has shape {est.shape}; expected (n_samples, {len(est_leads)})")
    metrics = _check_metrics(metrics)
    est_columns: dict[str, int] = {}
    for j, name in enumerate(est_leads):
        est_columns.setdefault(_lead_key(name).lower(), j)
    missing = np.full(ref.shape[0], np.nan)
    results: list[_LeadResult] = []
    seen: set[str] = set()
    for i, name in enumerate(ref_leads):
        key = _lead_key(name)
        if key.lower() in seen:
            continue
        seen.add(key.lower())
        col = est_columns.get(key.lower())
        column = est[:, col] if col is not None else missing
        r, e, alignment = _aligned(ref[:, i], column, fs=fs, align_traces=align)
        fr = np.isfinite(r)
        n_ref = int(fr.sum())
        coverage = float((fr & np.isfinite(e)).sum()) / n_ref if n_ref else math.nan
        values = _metric_values(r, e, fs=fs, metrics=metrics)
        results.append(_LeadResult(key, values, coverage, alignment))
    return results


def score_signals(
    ref: np.ndarray,
    est: np.ndarray,
    *,
    fs: float,
    ref_leads: Sequence[str],
    est_leads: Sequence[str],
    metrics: Sequence[str] = METRICS,
    align: bool = True,
) -> dict[str, dict[str, float]]:
    """Score every lead of a multi-lead estimate against its reference.

    Leads are matched by name, case-insensitively (standard leads by their standard spelling, so
    ``AVR`` matches ``aVR``). A reference lead absent from the estimate is scored as all-NaN
    (SNR 0, see the module notes); estimate leads absent from the reference are ignored. Each
    lead is aligned once and all metrics use the same alignment.

    Parameters
    ----------
    ref : (n, n_ref_leads) float array
        Reference signal, mV.
    est : (m, n_est_leads) float array
        Estimate, mV, same sampling rate; padded with NaN or truncated to ``n`` samples.
    fs : float
        Sampling frequency, Hz.
    ref_leads, est_leads : sequence of str
        Lead names of the columns of `ref` and `est`.
    metrics : sequence of str
        Metrics to compute, among :data:`METRICS`.
    align : bool
        Align each lead first (:func:`align`).

    Returns
    -------
    dict
        ``{metric: {lead: value}}``, leads keyed by their standard spelling (other names as
        given), in reference order; a lead repeated in the reference is scored once.

    Raises
    ------
    ValueError
        If a shape does not match its lead names or a metric is unknown.
    """
    results = _score_leads(
        ref, est, fs=fs, ref_leads=ref_leads, est_leads=est_leads, metrics=metrics, align=align
    )
    return {
        name: {res.lead: res.values[name] for res in results} for name in _check_metrics(metrics)
    }


# ------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class LeadScore:
    """Scores of one lead of one record.

    Attributes
    ----------
    record : str
        Record name (relative path without extension when scoring folders).
    lead : str
        Lead name (standard spelling for the standard leads).
    values : dict
        ``{metric: value}``.
    coverage : float
        Fraction of the reference's finite samples that the (aligned) estimate covers.
    lag_s, offset_mv : float
        Estimated lag of the estimate (s, positive: late) and offset added to it (mV).
    aligned : bool
        Whether that lag and offset were applied.
    missing : bool
        True when the test record is missing (scored as an all-NaN estimate).
    """

    record: str
    lead: str
    values: dict[str, float]
    coverage: float
    lag_s: float = 0.0
    offset_mv: float = 0.0
    aligned: bool = False
    missing: bool = False


@dataclass(frozen=True)
class ScoreReport:
    """Per-lead scores of one or more records, with per-record and pooled means.

    Attributes
    ----------
    metrics : tuple of str
        Metrics computed.
    align : bool
        Whether alignment was enabled.
    rows : tuple of LeadScore
        One row per (record, lead), records in order.
    missing : tuple of str
        Reference records without a test record (scored as all-NaN estimates).
    """

    metrics: tuple[str, ...]
    align: bool
    rows: tuple[LeadScore, ...]
    missing: tuple[str, ...] = field(default=())

    @property
    def records(self) -> tuple[str, ...]:
        """Record names, in order."""
        return tuple(dict.fromkeys(row.record for row in self.rows))

    @property
    def record_means(self) -> dict[str, dict[str, float]]:
        """``{record: {metric: NaN-mean over the record's leads}}``."""
        return {
            rec: {
                name: pooled(row.values[name] for row in self.rows if row.record == rec)
                for name in self.metrics
            }
            for rec in self.records
        }

    @property
    def pooled_means(self) -> dict[str, float]:
        """``{metric: NaN-mean over all (record, lead) pairs}``."""
        return {name: pooled(row.values[name] for row in self.rows) for name in self.metrics}


def _signal_mv(record: Record, *, ref_name: str, test_name: str) -> np.ndarray:
    out = np.empty_like(record.signal)
    for i, unit in enumerate(record.units):
        scale = _VOLT_SCALE_TO_MV.get(unit.strip().lower())
        if scale is None:
            raise RecordError(
                f"{record.name}.hea: lead {record.lead_names[i]} has unit {unit!r}; expected mV, "
                f"uV or V (scoring {test_name} against {ref_name})"
            )
        out[:, i] = record.signal[:, i] * scale
    return out


def _score_pair(
    ref_path: Path, test_path: Path | None, *, label: str, metrics: tuple[str, ...], align: bool
) -> list[LeadScore]:
    ref = read_record(ref_path)
    test_name = str(test_path) if test_path is not None else "a missing record"
    ref_signal = _signal_mv(ref, ref_name=ref.name, test_name=test_name)
    if test_path is None:
        results = _score_leads(
            ref_signal,
            np.empty((0, 0)),
            fs=ref.fs,
            ref_leads=ref.lead_names,
            est_leads=(),
            metrics=metrics,
            align=False,
        )
        return [
            LeadScore(label, res.lead, res.values, res.coverage, missing=True) for res in results
        ]
    test = read_record(test_path)
    if not math.isclose(test.fs, ref.fs, rel_tol=1e-9):
        raise RecordError(
            f"{test.name}.hea: sampling rate {test.fs:g} Hz differs from the reference "
            f"{ref.name}.hea ({ref.fs:g} Hz); resample the estimate first"
        )
    test_signal = _signal_mv(test, ref_name=ref.name, test_name=test.name)
    results = _score_leads(
        ref_signal,
        test_signal,
        fs=ref.fs,
        ref_leads=ref.lead_names,
        est_leads=test.lead_names,
        metrics=metrics,
        align=align,
    )
    return [
        LeadScore(
            label,
            res.lead,
            res.values,
            res.coverage,
            lag_s=res.alignment.lag_samples / ref.fs,
            offset_mv=res.alignment.offset_mv,
            aligned=res.alignment.applied,
        )
        for res in results
    ]


def score_records(
    ref_path: str | os.PathLike[str],
    test_path: str | os.PathLike[str],
    *,
    metrics: Sequence[str] = METRICS,
    align: bool = True,
) -> ScoreReport:
    """Score one WFDB record against its reference record.

    Parameters
    ----------
    ref_path, test_path : str or path-like
        Record paths, with or without ``.hea``.
    metrics : sequence of str
        Metrics to compute, among :data:`METRICS`.
    align : bool
        Align each lead first (:func:`align`).

    Returns
    -------
    ScoreReport
        Rows for the reference's leads, labelled with the reference record's name.

    Raises
    ------
    RecordError
        If the reference is missing, a record is unreadable, the sampling rates differ, or a
        unit is not a voltage. A missing test record is not an error: it is reported in
        ``missing`` and scored as an empty estimate (SNR 0 for every lead).
    """
    ref = record_path(ref_path)
    test = record_path(test_path)
    chosen = _check_metrics(metrics)
    # A missing estimate is scored as the challenge scores it (SNR 0 for every lead).
    present = test.with_suffix(".hea").is_file()
    rows = _score_pair(ref, test if present else None, label=ref.name, metrics=chosen, align=align)
    return ScoreReport(chosen, align, tuple(rows), missing=() if present else (str(test),))


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def score_folders(
    ref_dir: str | os.PathLike[str],
    test_dir: str | os.PathLike[str],
    *,
    metrics: Sequence[str] = METRICS,
    align: bool = True,
) -> ScoreReport:
    """Score every record of `test_dir` against the record of `ref_dir` with the same path.

    Reference records are found by walking `ref_dir` for ``*.hea`` files (hidden folders
    skipped), in sorted order; the test record with the same relative path is scored against
    each. A missing test record is listed in :attr:`ScoreReport.missing` and scored like the
    challenge scores a missing output: every lead as an all-NaN estimate (SNR 0, KS 0; ASCI and
    WAD against an all-zero estimate, see the module notes). Test records without a reference
    are ignored.

    Parameters
    ----------
    ref_dir, test_dir : str or path-like
        Folders of reference and test records.
    metrics : sequence of str
        Metrics to compute, among :data:`METRICS`.
    align : bool
        Align each lead first (:func:`align`).

    Returns
    -------
    ScoreReport
        Rows labelled with the records' relative paths (POSIX, without extension).

    Raises
    ------
    RecordError
        If `ref_dir` holds no record, a record is unreadable, the sampling rates of a pair differ
        or a unit is not a voltage.
    FileNotFoundError
        If either folder does not exist.
    """
    ref_root, test_root = Path(ref_dir), Path(test_dir)
    for folder in (ref_root, test_root):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder")
    chosen = _check_metrics(metrics)
    headers = sorted(
        rel
        for rel in (p.relative_to(ref_root) for p in ref_root.rglob("*.hea"))
        if not _is_hidden(rel)
    )
    if not headers:
        raise RecordError(f"{ref_root}: no WFDB records (*.hea) found")
    rows: list[LeadScore] = []
    missing: list[str] = []
    for rel in headers:
        label = rel.with_suffix("").as_posix()
        test = test_root / rel.with_suffix("")
        present = test.with_suffix(".hea").is_file()
        if not present:
            missing.append(label)
        rows += _score_pair(
            ref_root / rel.with_suffix(""),
            test if present else None,
            label=label,
            metrics=chosen,
            align=align,
        )
    return ScoreReport(chosen, align, tuple(rows), tuple(missing))
