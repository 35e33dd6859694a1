"""Page curl: lines that bow vertically across the page, measured and straightened.

A sheet that lifts at its sides (on a scanner glass, or photographed on a desk) bends its
horizontal grid lines and trace rows into shallow arcs; rotation and perspective, already
removed, cannot straighten them. The page is cut into narrow vertical strips and, within a few
horizontal bands, each strip's row profile (mean darkness per row) is compared with its
neighbour's: the lag of their cross-correlation is how far the content moved down from one
strip to the next. Accumulated from the centre outwards and smoothed by a low-order polynomial,
these give the vertical displacement of every column in each band, which is undone by
resampling (the dewarping-by-line-tracking idea of document image rectification, e.g. Liang,
DeMenthon and Doermann 2008, reduced to vertical displacement only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Curl:
    """Vertical displacement of the page content, per band of rows.

    Attributes
    ----------
    band_centres : (n_bands,) float array
        Rows of the band centres.
    shift : (n_bands, W) float array
        Downward displacement (px) of each column's content in each band, relative to the
        page centre.
    reliable : bool
        Whether every band's measurement can be trusted: no step between neighbouring strips
        reached the search limit, and the polynomial fits the steps' sum within
        `max_residual_px` (on pages without a grid, or with other distortions, the lags are
        noise and the sum a random walk).
    """

    band_centres: np.ndarray
    shift: np.ndarray
    reliable: bool = True

    @property
    def max_shift_px(self) -> float:
        return float(np.abs(self.shift).max())


def _lag(reference: np.ndarray, moved: np.ndarray, max_lag: int) -> float:
    """Sub-pixel lag by which `moved` is `reference` shifted down (max of the correlation)."""
    n = reference.size
    a = reference[max_lag : n - max_lag]
    scores = np.array(
        [
            float(np.dot(a, moved[max_lag + k : n - max_lag + k]))
            for k in range(-max_lag, max_lag + 1)
        ]
    )
    i = int(np.argmax(scores))
    if 0 < i < scores.size - 1:
        y0, y1, y2 = scores[i - 1], scores[i], scores[i + 1]
        denom = y0 - 2 * y1 + y2
        offset = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    else:
        offset = 0.0
    return float(i - max_lag + offset)


def estimate_curl(
    darkness: np.ndarray,
    *,
    n_strips: int = 48,
    n_bands: int = 4,
    degree: int = 4,
    max_step_fraction: float = 0.008,
    max_residual_px: float = 1.0,
) -> Curl:
    """Measure the vertical displacement of the content of a page across its width.

    Parameters
    ----------
    darkness : (H, W) float array
        Page darkness (grid and ink high), upright and deskewed.
    n_strips, n_bands : int
        Vertical strips compared, and horizontal bands measured separately.
    degree : int
        Degree of the polynomial in x fitted to each band's displacements.
    max_step_fraction : float
        Largest displacement between neighbouring strips, as a fraction of the page height
        (mild curl; it keeps the lag below half the 5 mm grid period).
    max_residual_px : float
        Largest RMS departure of the measured displacements from the fitted polynomial for
        the measurement to count as reliable.

    Returns
    -------
    Curl
    """
    d = np.asarray(darkness, dtype=np.float32)
    h, w = d.shape
    x_edges = np.linspace(0, w, n_strips + 1).round().astype(int)
    y_edges = np.linspace(0, h, n_bands + 1).round().astype(int)
    x_centres = (x_edges[:-1] + x_edges[1:]) / 2.0
    max_lag = max(2, round(max_step_fraction * h))
    centre = n_strips // 2
    shifts = np.zeros((n_bands, w))
    centres = (y_edges[:-1] + y_edges[1:]) / 2.0
    cols = np.arange(w)
    reliable = True
    for b in range(n_bands):
        y0, y1 = y_edges[b], y_edges[b + 1]
        profiles = []
        for k in range(n_strips):
            p = d[y0:y1, x_edges[k] : x_edges[k + 1]].mean(axis=1, dtype=np.float64)
            profiles.append(p - p.mean())
        steps = np.zeros(n_strips)
        for k in range(centre + 1, n_strips):
            steps[k] = _lag(profiles[k - 1], profiles[k], max_lag)
        for k in range(centre - 1, -1, -1):
            steps[k] = _lag(profiles[k + 1], profiles[k], max_lag)
        s = np.zeros(n_strips)
        s[centre + 1 :] = np.cumsum(steps[centre + 1 :])
        s[:centre] = np.cumsum(steps[:centre][::-1])[::-1]
        u = (x_centres - w / 2.0) / (w / 2.0)
        coef = np.polynomial.polynomial.polyfit(u, s, degree)
        residual = s - np.polynomial.polynomial.polyval(u, coef)
        if np.abs(steps).max() >= max_lag - 0.5 or np.sqrt(np.mean(residual**2)) > max_residual_px:
            reliable = False
        fitted = np.polynomial.polynomial.polyval((cols - w / 2.0) / (w / 2.0), coef)
        shifts[b] = fitted - np.polynomial.polynomial.polyval(0.0, coef)
    return Curl(band_centres=centres, shift=shifts, reliable=reliable)


def uncurl(image: np.ndarray, curl: Curl) -> np.ndarray:
    """Resample `image` so that the content of every column is where the page centre has it.

    Between band centres the displacement is interpolated linearly in y (held constant
    beyond the first and last). Uncovered pixels become white.
    """
    import cv2

    h, w = image.shape[:2]
    yy = np.arange(h, dtype=np.float64)
    # Displacement at every (y, x): interpolate the bands along y, column by column.
    weights = np.empty((h, curl.band_centres.size))
    for b in range(curl.band_centres.size):
        unit = np.zeros(curl.band_centres.size)
        unit[b] = 1.0
        weights[:, b] = np.interp(yy, curl.band_centres, unit)
    field = (weights @ curl.shift).astype(np.float32)
    map_x = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w))
    map_y = yy.astype(np.float32)[:, None] + field
    border = (255,) * (image.shape[2] if image.ndim == 3 else 1)
    return cv2.remap(
        image,
        np.ascontiguousarray(map_x),
        map_y,
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )
