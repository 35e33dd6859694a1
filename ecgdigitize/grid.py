"""Grid detection: pixels per millimetre from the periodicity of the printed grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import GridNotFoundError


@dataclass(frozen=True)
class GridPitch:
    """Scale of an ECG sheet.

    Attributes
    ----------
    px_per_mm_x, px_per_mm_y : float
        Pixels per millimetre along x (time) and y (voltage).
    confidence : float
        Strength of the periodicity, in [0, 1] (normalised autocorrelation at the grid period).
    minor_lines_visible : bool
        False when only the 5 mm lines could be resolved (low resolution or faint grid).
    """

    px_per_mm_x: float
    px_per_mm_y: float
    confidence: float
    minor_lines_visible: bool = True


@dataclass(frozen=True)
class _Period:
    minor_px: float
    strength: float
    minor_visible: bool


def _autocorrelation(profile: np.ndarray) -> np.ndarray:
    """Unbiased, normalised autocorrelation of a 1-D profile (lags 0 .. n/2)."""
    x = profile - profile.mean()
    n = x.size
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[: n // 2]
    acf /= np.arange(n, n - acf.size, -1)  # unbiased: divide by the overlap length
    return acf / acf[0] if acf[0] > 0 else acf


def _peak_near(acf: np.ndarray, lag: float, half_width: float) -> tuple[float, float] | None:
    """Sub-sample position and height of the highest acf value within lag ± half_width."""
    lo, hi = max(1, int(np.floor(lag - half_width))), int(np.ceil(lag + half_width)) + 1
    if hi >= acf.size - 1 or lo >= hi:
        return None
    i = lo + int(np.argmax(acf[lo:hi]))
    if i <= lo or i >= hi - 1:
        return None  # the maximum is on the edge: no local peak here
    a, b, c = acf[i - 1], acf[i], acf[i + 1]
    denom = a - 2 * b + c
    offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return i + offset, float(b)


def _periodicity(
    profile: np.ndarray,
    *,
    min_px: float,
    max_px: float,
    prior_px: float | None,
    min_strength: float = 0.12,
) -> _Period | None:
    """Minor-grid period of a projection profile, or None if it is not periodic."""
    from scipy.ndimage import uniform_filter1d

    n = profile.size
    window = int(min(n // 4, max(9, 12 * max_px)))
    detrended = profile - uniform_filter1d(profile, size=max(3, window), mode="nearest")
    acf = _autocorrelation(detrended)
    # Comb score of each candidate period T: acf at multiples of T minus acf half-way between,
    # over one common lag range. The grid's 1 mm period and its multiples score high, wrong
    # periods (fractions of it, or unrelated structure such as trace rows) score low.
    max_lag = min(acf.size - 2, 0.4 * n, 15 * max_px)
    # At least five repetitions inside the lag range, so every score averages several peaks.
    candidates = np.exp(
        np.arange(np.log(max(min_px, 2.0)), np.log(min(5 * max_px, max_lag / 5)), 0.004)
    )
    if candidates.size == 0:
        return None
    lags = np.arange(acf.size)

    def comb(t: float) -> float:
        k = np.arange(1, int(max_lag / t) + 1)
        return float(
            np.interp(k * t, lags, acf).mean() - np.interp((k - 0.5) * t, lags, acf).mean()
        )

    scores = np.array([comb(t) for t in candidates])
    if scores.max() < min_strength:
        return None
    # The best comb is the 5 mm pattern (every line meets its like), or 1 mm on a uniform grid;
    # its multiples (10 mm, 25 mm) score about as well, so take the first near-maximal one.
    best = int(np.flatnonzero(scores >= 0.9 * scores.max())[0])
    while best + 1 < scores.size and scores[best + 1] > scores[best]:
        best += 1
    fundamental = float(candidates[best])
    strength = float(np.clip(scores[best], 0.0, 1.0))
    # Finer lines inside it: the smallest integer fraction of the period whose comb is still
    # strong (a 5 mm-only grid scores about 1/5 at a fifth, and about 1/2 at a half).
    fifth = fundamental / 5.0
    finer = [
        fundamental / d
        for d in (5, 4, 3, 2)
        if fundamental / d >= max(min_px, 2.0) and comb(fundamental / d) >= 0.6 * comb(fundamental)
    ]
    if finer:
        fundamental, minor_visible = finer[0], True
    else:
        # One period only: either 1 mm lines, or 5 mm lines with the minor lines unresolved:
        # take the reading that makes the scale plausible (within range and, when known,
        # closest to the expected scale).
        options = [c for c in (fundamental, fifth) if min_px <= c <= max_px]
        if not options:
            return None
        chosen = (
            options[0]
            if prior_px is None
            else min(options, key=lambda c: abs(np.log(c / prior_px)))
        )
        minor_visible = chosen == fundamental
        fundamental = chosen
    if prior_px is not None and abs(np.log(fundamental / prior_px)) > np.log(1.8):
        # Far from the expected scale: a fraction of the period that is near it and still
        # periodic is the 1 mm grid (e.g. a 2 or 3 mm period picked on a low-resolution scan).
        for d in (2, 3, 4, 5):
            t = fundamental / d
            if (
                t >= max(min_px, 2.0)
                and abs(np.log(t / prior_px)) < np.log(1.5)
                and comb(t) >= 0.3 * scores.max()
            ):
                fundamental, minor_visible = t, True
                break
        else:
            # Or a multiple of the 5 mm period (10 or 15 mm, when black-and-white thresholding
            # left major lines of unequal width): a fraction near 5 mm that is as periodic.
            for d in (2, 3, 4, 5, 6):
                t = float(candidates[best]) / d
                if abs(np.log(t / (5 * prior_px))) < np.log(1.5) and comb(t) >= 0.5 * scores[best]:
                    fundamental, minor_visible = t / 5, False
                    break
    if not min_px <= fundamental <= max_px:
        return None

    # Refine at a long lag: the position of the k-th peak divided by k is far more precise.
    period = fundamental
    for k in (5, 10, 20, 40):
        lag = k * period
        if lag > 0.45 * n:
            break
        peak = _peak_near(acf, lag, max(1.5, 0.3 * period))
        if peak is None:
            break
        period = peak[0] / k
    return _Period(float(period), strength, minor_visible)


def estimate_grid_pitch(
    darkness: np.ndarray,
    *,
    min_mm_px: float = 1.5,
    max_mm_px: float = 40.0,
    prior_mm_px: float | None = None,
) -> GridPitch:
    """Estimate the grid pitch of an ECG sheet.

    The column and row sums of the page are periodic with the 1 mm grid; the period is the
    first strong peak of their autocorrelation, refined at a long lag to sub-pixel precision.
    When only 5 mm lines are resolvable (low resolution), the 5 mm period is divided by five.

    Parameters
    ----------
    darkness : (H, W) float array
        Darkness of the page (grid and ink high, paper low), deskewed.
    min_mm_px, max_mm_px : float
        Search range for one millimetre, in pixels.
    prior_mm_px : float, optional
        Expected pixels per millimetre (e.g. from the page size); used to decide whether a
        lone period is the 1 mm or the 5 mm grid, and to reject a period found in one
        direction only when it is more than 1.8 times away from it.

    Returns
    -------
    GridPitch

    Raises
    ------
    GridNotFoundError
        If neither direction shows a periodic grid in the search range.
    """
    d = np.asarray(darkness, dtype=np.float64)
    px = _periodicity(d.mean(axis=0), min_px=min_mm_px, max_px=max_mm_px, prior_px=prior_mm_px)
    py = _periodicity(d.mean(axis=1), min_px=min_mm_px, max_px=max_mm_px, prior_px=prior_mm_px)
    if prior_mm_px is not None and (px is None) != (py is None):
        # A period in one direction only, far from the expected scale, is not a grid (the
        # beats of the traces repeat along x on a page whose grid was thresholded away).
        only = px if px is not None else py
        assert only is not None
        if abs(np.log(only.minor_px / prior_mm_px)) > np.log(1.8):
            px = py = None
    if px is None and py is None:
        raise GridNotFoundError(f"no ECG grid found (searched {min_mm_px:g}–{max_mm_px:g} px/mm)")
    if px is not None and py is not None:
        ratio = px.minor_px / py.minor_px
        if not 0.8 < ratio < 1.25:
            # Disagreeing directions: pixels are nearly square, so trust one of them: the
            # one nearer the expected scale when it is known, else the stronger.
            if prior_mm_px is not None:
                keep = min(px, py, key=lambda p: abs(np.log(p.minor_px / prior_mm_px)))
            else:
                keep = px if px.strength >= py.strength else py
            px = py = keep
    x = px if px is not None else py
    y = py if py is not None else px
    assert x is not None and y is not None
    return GridPitch(
        px_per_mm_x=float(x.minor_px),
        px_per_mm_y=float(y.minor_px),
        confidence=float(np.clip(min(x.strength, y.strength), 0.0, 1.0)),
        minor_lines_visible=x.minor_visible and y.minor_visible,
    )
