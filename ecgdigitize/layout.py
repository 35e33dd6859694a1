"""Layout analysis: trace rows, their horizontal extent, calibration pulses and lead panels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import PAGE_DURATION_S, Layout, LeadPanel
from .errors import LayoutError, TraceNotFoundError


@dataclass(frozen=True)
class CalibrationPulse:
    """A 1 mV calibration pulse found at one end of a row.

    Attributes
    ----------
    x0, x1 : int
        Columns of its rising and falling edges.
    foot_y, top_y : float
        Rows of its foot (0 mV) and top (1 mV).
    side : str
        ``"left"`` or ``"right"``.
    """

    x0: int
    x1: int
    foot_y: float
    top_y: float
    side: str

    @property
    def height_px(self) -> float:
        return self.foot_y - self.top_y


@dataclass(frozen=True)
class Row:
    """One row of traces.

    Attributes
    ----------
    baseline_y : float
        Most common trace row (the isoelectric level), from the ink projection.
    y0, y1 : int
        Vertical band searched for this row's trace.
    x_start, x_end : int
        Columns where the signal begins and ends (calibration pulses excluded).
    pulse : CalibrationPulse or None
    ink_x0, ink_x1 : int
        First and last columns of trace ink between `x_start` and `x_end` (the drawn signal
        without the gap after a pulse); -1 when unknown.
    """

    baseline_y: float
    y0: int
    y1: int
    x_start: int
    x_end: int
    pulse: CalibrationPulse | None
    ink_x0: int = -1
    ink_x1: int = -1


@dataclass(frozen=True)
class PanelBox:
    """A lead panel located on the page: columns [x0, x1) of row `row_index`.

    Page time of column ``x`` is ``(x - x_origin) / px_per_s`` seconds.
    """

    panel: LeadPanel
    row_index: int
    x0: int
    x1: int
    x_origin: float
    px_per_s: float


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected component labels and OpenCV stats (left, top, width, height, area)."""
    import cv2

    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats


def trace_components(
    mask: np.ndarray,
    *,
    min_width_px: float,
    components: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Keep connected components at least `min_width_px` wide (trace, not text or specks)."""
    import cv2

    labels, stats = components if components is not None else connected_components(mask)
    keep = np.zeros(stats.shape[0], dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_WIDTH] >= min_width_px
    return keep[labels]


def find_rows(
    mask: np.ndarray,
    *,
    px_per_mm_y: float,
    px_per_mm_x: float,
    min_spacing_mm: float = 9.0,
    components: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[float]:
    """Find the baselines of trace rows from the horizontal projection of trace ink.

    Only components wider than 8 mm count (lead labels and printed text are narrower, and
    header lines are excluded later by their short extent), so the projection peaks at each
    row's isoelectric level.

    Returns
    -------
    list of float
        Baseline rows, top to bottom.

    Raises
    ------
    TraceNotFoundError
        If no trace row is found.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    wide = trace_components(mask, min_width_px=8 * px_per_mm_x, components=components)
    profile = gaussian_filter1d(wide.sum(axis=1).astype(np.float64), sigma=0.7 * px_per_mm_y)
    if profile.max() <= 0:
        raise TraceNotFoundError("no ECG trace found on the page")
    peaks, _ = find_peaks(
        profile,
        distance=max(1, int(min_spacing_mm * px_per_mm_y)),
        height=0.2 * profile.max(),
        prominence=0.1 * profile.max(),
    )
    if peaks.size == 0:
        raise TraceNotFoundError("no ECG trace found on the page")
    # A trace row spans a long stretch of the page; a line of printed text does not.
    extents = []
    for p in peaks:
        band = wide[max(0, p - int(2 * px_per_mm_y)) : p + int(2 * px_per_mm_y) + 1]
        cols = np.flatnonzero(band.any(axis=0))
        extents.append(cols[-1] - cols[0] if cols.size else 0)
    longest = max(extents)
    return [float(p) for p, e in zip(peaks, extents, strict=True) if e >= 0.4 * longest]


def row_bands(baselines: list[float], height: int, *, px_per_mm_y: float) -> list[tuple[int, int]]:
    """Vertical search band of each row: halfway to its neighbours, widened by 40 %."""
    bands = []
    for i, b in enumerate(baselines):
        up = b - baselines[i - 1] if i > 0 else (baselines[1] - b if len(baselines) > 1 else 0)
        down = baselines[i + 1] - b if i + 1 < len(baselines) else up
        up = up or 25 * px_per_mm_y
        down = down or 25 * px_per_mm_y
        y0 = int(max(0, np.floor(b - 0.7 * up)))
        y1 = int(min(height, np.ceil(b + 0.7 * down)))
        bands.append((y0, y1))
    return bands


def _vertical_edges(band: np.ndarray, min_len: int) -> np.ndarray:
    """Columns of `band` holding a vertical ink run at least `min_len` long."""
    padded = np.pad(band, ((1, 1), (0, 0)))
    d = np.diff(padded.astype(np.int8), axis=0)
    cols = np.zeros(band.shape[1], dtype=bool)
    for c in range(band.shape[1]):
        starts = np.flatnonzero(d[:, c] == 1)
        ends = np.flatnonzero(d[:, c] == -1)
        if starts.size and (ends - starts).max() >= min_len:
            cols[c] = True
    return cols


def _pulse_rows(sub: np.ndarray, edges: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Rows of `sub` holding ink connected to the pulse's edges (not grid remnants beside it)."""
    from scipy.ndimage import label

    labels, _ = label(sub, structure=np.ones((3, 3), dtype=bool))
    # The longest vertical run of each edge belongs to the pulse; so do their components.
    keep: list[int] = []
    for group in edges:
        col = sub[:, group].any(axis=1)
        d = np.diff(np.concatenate(([0], col.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        k = int(np.argmax(ends - starts))
        mid = (starts[k] + ends[k]) // 2
        keep.extend(int(v) for v in np.unique(labels[mid, group]) if v > 0)
    return (
        np.flatnonzero(np.isin(labels, keep).any(axis=1))
        if keep
        else np.flatnonzero(sub.any(axis=1))
    )


def find_pulse(
    band: np.ndarray,
    *,
    side: str,
    px_per_mm_x: float,
    px_per_mm_y: float,
    gain_mm_mv: float,
    speed_mm_s: float = 25.0,
    y_offset: int = 0,
    x_offset: int = 0,
) -> CalibrationPulse | None:
    """Find a calibration pulse (two vertical edges 0.2 s apart, 1 mV tall) at one row end.

    Parameters
    ----------
    band : (h, w) bool array
        The first (``side="left"``) or last (``"right"``) ~10 mm of a row's band, from the
        row's first (last) ink column.
    side : {"left", "right"}
    y_offset, x_offset : int
        Position of `band` in the page, added to the returned coordinates.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    expected = gain_mm_mv * px_per_mm_y
    # Edges at least 40 % of the nominal height, so 5 mm/mV pulses are found at 10 mm/mV.
    edges = _vertical_edges(band, int(0.4 * expected))
    cols = np.flatnonzero(edges)
    if cols.size < 2:
        return None
    # Group adjacent edge columns.
    groups = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    if side == "right":
        groups = groups[::-1]
    first = groups[0]
    # 0.2 s wide: 5 mm at 25 mm/s; accept 60-140 %.
    width_lo, width_hi = 0.12 * speed_mm_s * px_per_mm_x, 0.28 * speed_mm_s * px_per_mm_x
    for second in groups[1:]:
        gap = abs(float(second.mean()) - float(first.mean()))
        if width_lo <= gap <= width_hi:
            lo, hi = sorted((first, second), key=lambda g: g[0])
            sub = band[:, lo[0] : hi[-1] + 1]
            rows = _pulse_rows(sub, (lo - lo[0], hi - lo[0]))
            top, foot = float(rows[0]), float(rows[-1])
            # The foot is the lower end of the edges, the top their upper end (line centres).
            return CalibrationPulse(
                x0=int(lo[0]) + x_offset,
                x1=int(hi[-1]) + x_offset,
                foot_y=foot + y_offset,
                top_y=top + y_offset,
                side=side,
            )
    return None


def analyse_rows(
    mask: np.ndarray,
    *,
    px_per_mm_x: float,
    px_per_mm_y: float,
    gain_mm_mv: float,
    speed_mm_s: float = 25.0,
    close_gaps: bool = False,
) -> list[Row]:
    """Find rows, their bands, horizontal extents and calibration pulses.

    With `close_gaps`, components are found after a 1 mm horizontal closing (for traces that
    thresholding broke into pieces; it also merges printed words, so it is a fallback).
    """
    if close_gaps:
        # Components of the mask closed over 1 mm horizontally, so a trace broken by
        # thresholding (thin lines at low resolution) still counts as one long component.
        import cv2

        k = max(3, round(px_per_mm_x) | 1)
        closed = cv2.morphologyEx(
            mask.astype(np.uint8),
            cv2.MORPH_CLOSE,
            cv2.getStructuringElement(cv2.MORPH_RECT, (k, 3)),
        )
        components = connected_components(closed.astype(bool))
    else:
        components = connected_components(mask)
    baselines = find_rows(
        mask, px_per_mm_y=px_per_mm_y, px_per_mm_x=px_per_mm_x, components=components
    )
    bands = row_bands(baselines, mask.shape[0], px_per_mm_y=px_per_mm_y)
    import cv2

    labels, stats = components
    wide_cc = stats[:, cv2.CC_STAT_WIDTH] >= 3 * px_per_mm_x
    wide_cc[0] = False
    rows = []
    for i, (b, (y0, y1)) in enumerate(zip(baselines, bands, strict=True)):
        # The row's extent: wide ink components reaching within half the distance to the
        # neighbouring rows (whole components, so a trace that leaves its row still counts).
        half = 0.45 * min(
            [abs(b - o) for o in baselines[max(0, i - 1) : i + 2] if o != b] or [30 * px_per_mm_y]
        )
        core = labels[max(0, int(b - half)) : int(b + half) + 1]
        ids = np.unique(core)
        ids = ids[wide_cc[ids]]
        if ids.size == 0:
            continue
        left = stats[ids, cv2.CC_STAT_LEFT]
        cols = np.array([left.min(), (left + stats[ids, cv2.CC_STAT_WIDTH]).max() - 1])
        x_first, x_last = int(cols[0]), int(cols[-1])
        span = int(max(10.0, 0.4 * speed_mm_s) * px_per_mm_x)
        pulse = None
        x_start, x_end = x_first, x_last
        for side in ("left", "right"):
            if side == "left":
                xs = slice(x_first, min(mask.shape[1], x_first + span))
                x_off = x_first
            else:
                xs = slice(max(0, x_last - span + 1), x_last + 1)
                x_off = max(0, x_last - span + 1)
            # A pulse rises from the baseline: search from 2.5x its expected height above the
            # baseline to a little below it, not into the neighbouring rows' pulses.
            expected = gain_mm_mv * px_per_mm_y
            py0 = int(max(y0, b - 2.5 * expected))
            py1 = int(min(y1, b + 0.3 * expected + 2))
            found = find_pulse(
                mask[py0:py1, xs],
                side=side,
                px_per_mm_x=px_per_mm_x,
                px_per_mm_y=px_per_mm_y,
                gain_mm_mv=gain_mm_mv,
                speed_mm_s=speed_mm_s,
                y_offset=py0,
                x_offset=x_off,
            )
            if found is None:
                continue
            pulse = pulse or found
            if side == "left":
                x_start = found.x1 + 1
            else:
                x_end = found.x0 - 1
        # The trace's own ink: wide components reaching 3 mm past the pulse (not its foot).
        right = stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH]
        trace_cc = wide_cc & (right > x_start + 3 * px_per_mm_x)
        inked = np.flatnonzero(trace_cc[core[:, x_start : x_end + 1]].any(axis=0))
        ink_x0, ink_x1 = (
            (x_start + int(inked[0]), x_start + int(inked[-1])) if inked.size else (-1, -1)
        )
        rows.append(Row(float(b), y0, y1, x_start, x_end, pulse, ink_x0, ink_x1))
    if not rows:
        raise TraceNotFoundError("no ECG trace found on the page")
    return rows


def row_origin(row: Row, *, width_px: float, tolerance_px: float) -> float:
    """Column where a row's time axis starts (t = 0).

    Cart printouts often join the calibration pulse to the signal with a short baseline
    segment, so the first column after the pulse is not reliably t = 0. The end of the trace
    is, when the row is a full page width: then ``t = 0`` is ``width_px`` before its last ink
    column. Otherwise
    (a right-hand pulse, or a row shorter than the page) the signal starts after the pulse or
    at the first ink.
    """
    from_end = row.x_end - width_px
    right_pulse = row.pulse is not None and row.pulse.side == "right"
    if not right_pulse and row.x_start - 1 <= from_end <= row.x_start + tolerance_px:
        return float(from_end)
    return float(row.x_start)


def place_panels(
    rows: list[Row],
    layout: Layout,
    *,
    px_per_mm_x: float,
    speed_mm_s: float,
    page_duration_s: float = PAGE_DURATION_S,
) -> list[PanelBox]:
    """Assign each lead panel of `layout` to columns of its row.

    Time runs at ``speed_mm_s`` millimetres per second from the row's origin
    (:func:`row_origin`), so panel boundaries follow from the grid scale.

    Raises
    ------
    LayoutError
        If the page does not have the number of rows the layout needs.
    """
    if len(rows) != layout.n_rows:
        raise LayoutError(
            f"layout {layout.name} has {layout.n_rows} rows but {len(rows)} trace rows were "
            "found; check --layout"
        )
    px_per_s = px_per_mm_x * speed_mm_s
    width = page_duration_s * px_per_s
    boxes = []
    for panel in layout.panels:
        row = rows[panel.row]
        origin = row_origin(row, width_px=width, tolerance_px=5 * px_per_mm_x)
        x0 = origin + panel.start_s * px_per_s
        x1 = origin + panel.end_s * px_per_s
        boxes.append(
            PanelBox(panel, panel.row, round(x0), round(x1), float(origin), float(px_per_s))
        )
    return boxes
