"""Binarization: Otsu's threshold followed by an iterative grid-removal loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TraceMask:
    """Binary mask of trace ink.

    Attributes
    ----------
    mask : (H, W) bool array
        True where a pixel is trace ink.
    threshold : float
        Final darkness threshold (ink where darkness > threshold).
    iterations : int
        Passes of the grid-removal loop (0 when Otsu's threshold already removed the grid).
    grid_residual : float
        Periodic grid energy left in the mask, in [0, 1] (see :func:`grid_residual`).
    """

    mask: np.ndarray
    threshold: float
    iterations: int
    grid_residual: float


def grid_residual(mask: np.ndarray, *, px_per_mm_x: float, px_per_mm_y: float) -> float:
    """Strength of grid lines left in a binary mask.

    Grid lines that survive binarization make the column-wise and row-wise densities of white
    (ink) points periodic with the grid pitch; the normalised autocorrelation of the density
    profiles at one grid period measures it (0: no grid left, 1: a perfect grid).
    """
    scores = []
    for axis, pitch in ((0, px_per_mm_x), (1, px_per_mm_y)):
        density = mask.mean(axis=axis, dtype=np.float64)
        x = density - density.mean()
        var = float(np.dot(x, x))
        if var <= 0 or density.max() < 0.02:
            scores.append(0.0)
            continue
        best = 0.0
        for period in (pitch, 5 * pitch):
            lag = round(period)
            if 1 <= lag < x.size // 2:
                r = float(np.dot(x[:-lag], x[lag:])) / var * x.size / (x.size - lag)
                # Lines must also cover a good part of the page to count as grid.
                best = max(best, r if np.percentile(density, 99) > 0.25 else 0.0)
        scores.append(best)
    return float(np.clip(max(scores), 0.0, 1.0))


def remove_grid_lines(mask: np.ndarray, *, min_density: float = 0.2) -> np.ndarray:
    """Clear the rows and columns of `mask` that are mostly ink (straight grid lines).

    A trace covers a small fraction of any one column, and of any one row except along a long
    flat stretch; lines printed across the page cover most of it. Ink that is wider than the
    line (the trace crossing it or running along it) is kept: see :func:`clear_lines`.
    """
    out = clear_lines(mask, mask.mean(axis=0) > min_density)
    return clear_lines(out.T, mask.mean(axis=1) > min_density).T


def clear_lines(mask: np.ndarray, line_cols: np.ndarray) -> np.ndarray:
    """Clear the columns `line_cols` of `mask` where they hold nothing but a printed line.

    Each run of adjacent line columns is one printed line (its thickness: the median run
    width). On each row, the line's pixels are kept when the ink there is wider than a line
    or continues beside it, as where the trace crosses the line or runs along it.
    """
    out = mask.copy()
    idx = np.flatnonzero(line_cols)
    if idx.size == 0:
        return out
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    thickness = float(np.median([r.size for r in runs]))
    for run in runs:
        a, b = int(run[0]), int(run[-1])
        keep = mask[:, a : b + 1].sum(axis=1) > thickness
        if a > 0:
            keep |= mask[:, a - 1]
        if b + 1 < mask.shape[1]:
            keep |= mask[:, b + 1]
        out[~keep, a : b + 1] = False
    return out


def remove_dark_lines(mask: np.ndarray, ink: np.ndarray, *, threshold: float) -> np.ndarray:
    """Clear grid lines dark enough to survive thresholding in pieces.

    A printed line is dark along three quarters of its row (or column) at least: the grid box
    spans most of the page, while a trace, even a flat one, leaves its row for every wave.
    Rows and columns whose lower-quartile darkness reaches 70 % of the `threshold` are lines
    that thresholding leaves in pieces, mostly where they meet the trace; they are cleared
    where they hold nothing but the line (:func:`clear_lines`). Pale grids (red, pink, ...)
    have no such lines and are untouched.
    """
    step = 4  # a subsample of the other axis is enough for a quantile
    rows = np.percentile(ink[:, ::step], 25, axis=1) >= 0.7 * threshold
    cols = np.percentile(ink[::step, :], 25, axis=0) >= 0.7 * threshold
    if not rows.any() and not cols.any():
        return mask
    out = clear_lines(mask, cols)
    return clear_lines(out.T, rows).T


def remove_page_lines(
    mask: np.ndarray, *, max_thickness_px: float, min_fraction: float = 0.5
) -> np.ndarray:
    """Remove lines that run across most of the page.

    A column that is ink over more than `min_fraction` of the page height is a grid line (a
    trace never is). A row holding one unbroken run of ink over more than `min_fraction` of
    the width is removed when the band of such rows is at most `max_thickness_px` tall: grid
    lines are printed thinner than the trace, and a trace along one row is broken by every
    wave that leaves it (a lead that is off, drawn flat across the page, is lost).
    """
    out = mask.copy()
    out[:, mask.mean(axis=0) > min_fraction] = False
    full = np.array(
        [
            y
            for y in np.flatnonzero(out.mean(axis=1) > min_fraction)
            if _longest_run(out[y]) > min_fraction * mask.shape[1]
        ],
        dtype=int,
    )
    if full.size:
        for run in np.split(full, np.flatnonzero(np.diff(full) > 1) + 1):
            if run.size <= max_thickness_px:
                out[run, :] = False
    return out


def _longest_run(row: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D bool array."""
    d = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return int((ends - starts).max()) if starts.size else 0


def remove_straight_segments(
    mask: np.ndarray, *, min_length_px: float, max_thickness_px: float
) -> np.ndarray:
    """Remove connected components that are thin straight horizontal or vertical lines.

    Pieces of grid lines left by thresholding (often in the page margins, where background
    flattening leaves them darkest) are components no thicker than a printed line and at
    least `min_length_px` long along an axis; any stretch of trace long enough to count has
    some extent across it as well.
    """
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.copy()
    w = stats[:, cv2.CC_STAT_WIDTH]
    h = stats[:, cv2.CC_STAT_HEIGHT]
    line = ((h <= max_thickness_px) & (w >= min_length_px)) | (
        (w <= max_thickness_px) & (h >= min_length_px)
    )
    line[0] = False
    return mask & ~line[labels]


def binarize(
    ink: np.ndarray,
    *,
    px_per_mm_x: float,
    px_per_mm_y: float,
    step: float = 0.05,
    max_iterations: int = 30,
    residual_limit: float = 0.3,
    min_object_px: int | None = None,
) -> TraceMask:
    """Separate trace ink from grid and paper.

    Otsu's threshold (Otsu 1979, :func:`skimage.filters.threshold_otsu`) is applied to the ink
    darkness; while grid lines are still detectable in the result (:func:`grid_residual` above
    `residual_limit`), the threshold is moved by `step` (5 %) towards the ink and the page is
    binarized again (the loop of Nguyen et al.'s classical digitizer). Specks smaller than
    `min_object_px` are removed afterwards.

    Parameters
    ----------
    ink : (H, W) float array in [0, 1]
        Ink darkness (trace high), e.g. :attr:`Preprocessed.ink`.
    px_per_mm_x, px_per_mm_y : float
        Grid pitch, used to detect residual grid lines.
    step : float
        Relative threshold change per iteration.
    max_iterations : int
        Bound on the loop.
    residual_limit : float
        Grid residual below which the grid counts as removed.
    min_object_px : int, optional
        Connected components smaller than this are dropped; default a quarter of a square mm.

    Returns
    -------
    TraceMask
    """
    from skimage.filters import threshold_otsu
    from skimage.morphology import remove_small_objects

    ink = np.asarray(ink, dtype=np.float32)
    # Otsu on a subsample of the darkest part of the histogram is as good and much faster.
    sample = ink[::2, ::2]
    if float(sample.max()) - float(sample.min()) < 1e-3:
        threshold = 0.5
    else:
        threshold = float(threshold_otsu(sample))
    # Never call faint paper texture ink: keep the threshold clear of the paper level.
    threshold = max(threshold, 0.12)
    mask = ink > threshold
    residual = grid_residual(mask, px_per_mm_x=px_per_mm_x, px_per_mm_y=px_per_mm_y)
    iterations = 0
    while residual > residual_limit and iterations < max_iterations and threshold < 0.95:
        threshold = (
            threshold + step * (1.0 - threshold) if threshold > 0.5 else threshold * (1.0 + step)
        )
        mask = ink > threshold
        residual = grid_residual(mask, px_per_mm_x=px_per_mm_x, px_per_mm_y=px_per_mm_y)
        iterations += 1
    if residual > residual_limit:
        # The grid is as dark as the trace (black-and-white or black-grid pages): no threshold
        # separates them. Grid lines cross the whole page, so rows and columns whose ink
        # density is far above the trace's are grid lines: remove them (the trace loses a
        # pixel where it crosses one; the trace follower bridges such gaps).
        mask = remove_grid_lines(mask)
        residual = grid_residual(mask, px_per_mm_x=px_per_mm_x, px_per_mm_y=px_per_mm_y)
    # Grid lines can survive even a good threshold (the border, the darkest major lines, pieces
    # in the margins): remove what is still a line.
    thin = max(2.0, 0.3 * min(px_per_mm_x, px_per_mm_y))
    mask = remove_dark_lines(mask, ink, threshold=threshold)
    mask = remove_page_lines(mask, max_thickness_px=thin)
    mask = remove_straight_segments(
        mask, min_length_px=2.5 * min(px_per_mm_x, px_per_mm_y), max_thickness_px=thin
    )
    if min_object_px is None:
        min_object_px = max(4, int(0.25 * px_per_mm_x * px_per_mm_y))
    mask = remove_small_objects(mask, max_size=min_object_px - 1)
    return TraceMask(mask=mask, threshold=threshold, iterations=iterations, grid_residual=residual)
