"""The digitization pipeline: one call per stage, diagnostics collected in one place."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import numpy as np

from .binarize import TraceMask, binarize
from .config import LEAD_NAMES, DigitizeOptions, get_layout, page_duration_s
from .convert import panel_samples
from .digitization import Diagnostics, Digitization, LeadDiagnostics, OverlayData
from .errors import EcgDigitizeError, GridNotFoundError, LayoutError, TraceNotFoundError
from .grid import estimate_grid_pitch
from .io.image import Page, page_from_array, read_pages
from .layout import CalibrationPulse, Row, analyse_rows, place_panels, row_origin
from .leads import infer_layout
from .preprocess import preprocess
from .trace import estimate_line_width, extract_trace

# A landscape page is about 280 mm wide: the expected scale, used only to tell the 1 mm grid
# from the 5 mm grid when only one of them is visible.
_TYPICAL_PAGE_WIDTH_MM = 280.0
# Grids whose periodicity is weaker than this are checked against the calibration pulses.
_WEAK_GRID = 0.3


def digitize(
    image: str | os.PathLike[str] | np.ndarray | Page,
    options: DigitizeOptions | None = None,
    *,
    keep_overlay: bool = False,
) -> Digitization:
    """Digitize one ECG page.

    Parameters
    ----------
    image : path, array or Page
        An image file (PNG, JPEG, TIFF, BMP; for a PDF, its first page — use
        :func:`digitize_file` for every page), an (H, W[, 3]) image array, or a :class:`Page`.
    options : DigitizeOptions, optional
    keep_overlay : bool
        Keep what :meth:`Digitization.save_overlay` needs (the deskewed page and traces).

    Returns
    -------
    Digitization

    Raises
    ------
    EcgDigitizeError
        With the file name, when the page cannot be read or digitized.
    """
    options = options or DigitizeOptions()
    if isinstance(image, Page):
        page = image
    elif isinstance(image, np.ndarray):
        page = page_from_array(image, dpi=options.dpi)
    else:
        page = read_pages(image, max_pixels=options.max_pixels)[0]
    return digitize_page(page, options, keep_overlay=keep_overlay)


def digitize_file(
    path: str | os.PathLike[str],
    options: DigitizeOptions | None = None,
    *,
    pdf_dpi: float = 300,
    keep_overlay: bool = False,
) -> list[Digitization]:
    """Digitize every page of an image or PDF file."""
    options = options or DigitizeOptions()
    return [
        digitize_page(p, options, keep_overlay=keep_overlay)
        for p in read_pages(path, pdf_dpi=pdf_dpi, max_pixels=options.max_pixels)
    ]


def digitize_page(
    page: Page, options: DigitizeOptions, *, keep_overlay: bool = False
) -> Digitization:
    """Run every stage on one page; errors are prefixed with the page's name."""
    try:
        return _digitize(page, options, keep_overlay=keep_overlay)
    except EcgDigitizeError as exc:
        label = page.label
        msg = str(exc)
        raise type(exc)(msg if msg.startswith(label) else f"{label}: {msg}") from exc


def _digitize(page: Page, options: DigitizeOptions, *, keep_overlay: bool) -> Digitization:
    seconds: dict[str, float] = {}
    warnings: list[str] = []
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    h, w = page.rgb.shape[:2]
    if h * w > options.max_pixels:
        raise EcgDigitizeError(
            f"image has {h * w:,} pixels, above the limit {options.max_pixels:,}"
        )

    # 1. preprocess
    pre = preprocess(page.rgb)
    warnings.extend(pre.warnings)
    if float(np.percentile(1.0 - pre.gray[::3, ::3], 99.9)) < 0.05:
        raise TraceNotFoundError("no ECG trace found: the page is blank")
    lap("preprocess")
    # Width of the upright, rectified page: the scale prior (the image may have been turned).
    page_w = pre.gray.shape[1]

    # 2. grid: scale from the grid, else from the resolution
    dpi = options.dpi or page.dpi

    @functools.cache
    def pulse_scale_or_none() -> tuple[float, float] | None:
        scale = scale_from_pulses(
            pre.ink,
            prior_px_per_mm=page_w / _TYPICAL_PAGE_WIDTH_MM,
            gain_mm_mv=options.gain_mm_mv,
            speed_mm_s=options.speed_mm_s,
        )
        # A pulse is as wide (0.2 s) and as tall (1 mV) as the given speed and gain say; one
        # whose width and height disagree (merged with other ink, or an unusual gain) is
        # no scale. Its height is read more precisely than its width: square pixels.
        if scale is None or abs(np.log(scale[0] / scale[1])) > np.log(1.2):
            return None
        return scale[1], scale[1]

    try:
        pitch = estimate_grid_pitch(1.0 - pre.gray, prior_mm_px=page_w / _TYPICAL_PAGE_WIDTH_MM)
        px_x, px_y, scale_source, grid_conf = (
            pitch.px_per_mm_x,
            pitch.px_per_mm_y,
            "grid",
            pitch.confidence,
        )
        if pitch.confidence < _WEAK_GRID:
            # A weak periodicity may be no grid at all (QRS complexes, text): check it against
            # the calibration pulses, which do not depend on it.
            pulse_scale = pulse_scale_or_none()
            if pulse_scale is not None and abs(np.log(pulse_scale[1] / px_y)) > np.log(1.15):
                px_x, px_y = pulse_scale
                scale_source = "pulse"
                warnings.append(
                    f"weak grid ({pitch.confidence:.2f}) disagrees with the calibration pulses; "
                    "scale taken from the pulses"
                )
    except GridNotFoundError:
        # Fall back to the calibration pulses (1 mV x 0.2 s), then to the file's resolution.
        pulse_scale = pulse_scale_or_none()
        if pulse_scale is not None:
            px_x, px_y = pulse_scale
            scale_source, grid_conf = "pulse", 0.0
            warnings.append("no grid found; scale taken from the calibration pulses")
        elif dpi is not None:
            px_x = px_y = dpi / 25.4
            scale_source, grid_conf = "dpi", 0.0
            warnings.append(f"no grid found; scale taken from {dpi:g} dpi")
        else:
            raise GridNotFoundError(
                "no ECG grid found (searched 1.5–40 px/mm), no calibration pulse, and the file "
                "records no resolution; pass --dpi"
            ) from None
    lap("grid")

    # 3. binarize, 4. rows and pulses (a page holds 10 s at 25 mm/s, 5 s at 50 mm/s)
    page_s = page_duration_s(options.speed_mm_s)
    tm, rows, row_warnings = binarize_and_find_rows(pre.ink, px_x, px_y, options)
    line_width = estimate_line_width(tm.mask)
    if scale_source == "grid" and not pulses_fit_grid(
        rows, px_per_mm_y=px_y, line_width_px=line_width
    ):
        # Pulses whose height is no standard gain at the grid's scale: the "grid" may be the
        # periodicity of something else (beats, text) on a page without one.
        pulse_scale = pulse_scale_or_none()
        if pulse_scale is not None and abs(np.log(pulse_scale[1] / px_y)) > np.log(1.15):
            warnings.append(
                f"grid ({px_y:.2f} px/mm) disagrees with the calibration pulses "
                f"({pulse_scale[1]:.2f} px/mm); scale taken from the pulses"
            )
            px_x, px_y = pulse_scale
            scale_source = "pulse"
            tm, rows, row_warnings = binarize_and_find_rows(pre.ink, px_x, px_y, options)
            line_width = estimate_line_width(tm.mask)
    if scale_source != "grid":
        # Without a grid, the time scale is best read off the rows' length: every supported
        # layout draws the full page duration on a row.
        from_rows = scale_from_row_extents(
            rows, page_s * options.speed_mm_s, line_width_px=line_width
        )
        if from_rows is not None:
            px_x = from_rows
    warnings.extend(row_warnings)
    if tm.grid_residual > 0.3:
        warnings.append(f"grid lines remain after binarization (residual {tm.grid_residual:.2f})")
    lap("binarize")
    if options.layout == "auto":
        check_rows_span_page(
            tm.mask,
            rows,
            px_per_mm_x=px_x,
            px_per_mm_y=px_y,
            page_s=page_s,
            speed_mm_s=options.speed_mm_s,
        )
        guess = infer_layout(
            row_signals(tm.mask, rows, px_per_mm_x=px_x, speed_mm_s=options.speed_mm_s)
        )
        layout, layout_source = get_layout(guess.layout.name, page_duration_s=page_s), "auto"
    else:
        layout, layout_source = get_layout(options.layout, page_duration_s=page_s), "user"
    boxes = place_panels(
        rows, layout, px_per_mm_x=px_x, speed_mm_s=options.speed_mm_s, page_duration_s=page_s
    )
    lap("layout")

    # 5. trace, per panel
    traces = []
    margin = max(1, round(0.4 * px_x))  # separator ticks sit on panel boundaries
    for box in boxes:
        row = rows[box.row_index]
        x0 = box.x0 + (margin if box.panel.column > 0 else 0)
        x1 = box.x1 - (margin if box.x1 < row.x_end else 0)
        x0, x1 = max(x0, row.x_start), min(x1, row.x_end + 1)
        sub = tm.mask[row.y0 : row.y1, x0:x1]
        start_y = row.pulse.foot_y if row.pulse is not None else row.baseline_y
        traces.append(
            extract_trace(
                sub,
                x_offset=x0,
                y_offset=row.y0,
                start_y=start_y,
                max_gap_px=max(2, round(1.0 * px_x)),
            )
        )
    lap("trace")

    # 6. convert: baseline and gain from the calibration pulse when there is one
    px_per_mv, calibration, gain_warning = calibrate(
        [r.pulse for r in rows if r.pulse is not None],
        px_per_mm_y=px_y,
        gain_mm_mv=options.gain_mm_mv,
        line_width_px=line_width,
        scale_source=scale_source,
    )
    if gain_warning:
        warnings.append(gain_warning)

    fs = float(options.fs)
    n = round(page_s * fs)
    signal = np.full((n, len(LEAD_NAMES)), np.nan)
    lead_diag: dict[str, LeadDiagnostics] = {}
    for box, trace in zip(boxes, traces, strict=True):
        row = rows[box.row_index]
        baseline = row.pulse.foot_y - line_width / 2.0 if row.pulse is not None else row.baseline_y
        index, value = panel_samples(trace, box, baseline_y=baseline, px_per_mv=px_per_mv, fs=fs)
        lead = box.panel.lead
        confidence = float(trace.coverage * (0.5 + 0.5 * trace.continuity))
        diag = LeadDiagnostics(
            lead,
            box.panel.row,
            box.panel.column,
            box.panel.start_s,
            box.panel.end_s,
            round(trace.coverage, 4),
            round(confidence, 4),
        )
        previous = lead_diag.get(lead)
        # A lead drawn twice (a column and a rhythm strip) takes the rhythm strip.
        if previous is not None and not box.panel.rhythm:
            continue
        j = LEAD_NAMES.index(lead)
        if previous is not None:
            signal[:, j] = np.nan
        keep = confidence >= options.min_confidence or options.keep_low_confidence
        ok = (index >= 0) & (index < n)
        if keep:
            signal[index[ok], j] = value[ok]
        else:
            warnings.append(
                f"lead {lead}: confidence {confidence:.2f} below "
                f"{options.min_confidence:g}; set to NaN"
            )
        lead_diag[lead] = LeadDiagnostics(**{**diag.__dict__, "kept": keep})
    lap("convert")

    diagnostics = Diagnostics(
        source=page.source,
        page=page.page_number,
        image_size=(w, h),
        px_per_mm_x=round(px_x, 5),
        px_per_mm_y=round(px_y, 5),
        scale_source=scale_source,
        grid_confidence=round(grid_conf, 4),
        rotation_deg=round(pre.rotation_deg, 3),
        layout=layout.name,
        layout_source=layout_source,
        calibration_source=calibration,
        px_per_mv=round(px_per_mv, 4),
        binarization_threshold=round(tm.threshold, 4),
        binarization_iterations=tm.iterations,
        n_rows=len(rows),
        leads=tuple(lead_diag[k] for k in LEAD_NAMES if k in lead_diag),
        warnings=tuple(warnings),
        seconds=seconds,
        orientation_deg=pre.orientation_deg,
        perspective_corrected=pre.perspective_corrected,
        curl_px=pre.curl_px,
    )
    overlay = None
    if keep_overlay:
        overlay = OverlayData(
            rgb=pre.rgb,
            boxes=tuple(
                (b.panel.label, b.x0, rows[b.row_index].y0, b.x1, rows[b.row_index].y1)
                for b in boxes
            ),
            traces=tuple((b.panel.label, t.x, t.y) for b, t in zip(boxes, traces, strict=True)),
            caption=(
                f"ecgdigitize: {layout.name}, {px_x:.2f} x {px_y:.2f} px/mm ({scale_source}),"
                f" calibration {calibration}, rotation {pre.rotation_deg:.2f} deg"
                + (f", turned {pre.orientation_deg} deg" if pre.orientation_deg else "")
                + (", perspective corrected" if pre.perspective_corrected else "")
                + (f", curl {pre.curl_px:.0f} px straightened" if pre.curl_px else "")
            ),
        )
    return Digitization(signal=signal, fs=fs, diagnostics=diagnostics, overlay_data=overlay)


STANDARD_GAINS_MM_MV = (2.5, 5.0, 10.0, 20.0, 40.0)


def binarize_and_find_rows(
    ink: np.ndarray, px_x: float, px_y: float, options: DigitizeOptions
) -> tuple[TraceMask, list[Row], list[str]]:
    """Binarize the page and analyse its rows at the scale (`px_x`, `px_y`) px/mm."""
    tm = binarize(ink, px_per_mm_x=px_x, px_per_mm_y=px_y)

    def rows(close_gaps: bool) -> list[Row]:
        return analyse_rows(
            tm.mask,
            px_per_mm_x=px_x,
            px_per_mm_y=px_y,
            gain_mm_mv=options.gain_mm_mv,
            speed_mm_s=options.speed_mm_s,
            close_gaps=close_gaps,
        )

    try:
        return tm, rows(False), []
    except TraceNotFoundError:
        # Perhaps a thin trace broken into pieces: bridge 1 mm gaps and look again.
        return tm, rows(True), ["trace broken into pieces; rows found after bridging 1 mm gaps"]


def check_rows_span_page(
    mask: np.ndarray,
    rows: list[Row],
    *,
    px_per_mm_x: float,
    px_per_mm_y: float,
    page_s: float,
    speed_mm_s: float,
) -> None:
    """Refuse to guess the layout of a page whose rows are much shorter than the page.

    Every layout that auto-detection knows draws the full page duration (10 s at 25 mm/s) on a
    row; a page whose longest row spans under 80 % of it is another format (a one-column or
    short-format sheet, or a page cut short) or its scale was misread, and guessing would name
    the leads wrongly. A
    row's span is measured on all its ink within 3 mm of the baseline (a trace broken into
    pieces still spans the page), from after a left pulse to before a right one, over the
    columns where at least 10 % of a 5 mm window holds ink.

    Raises
    ------
    LayoutError
        With the longest row's duration, when it is under 80 % of `page_s`.
    """
    from scipy.ndimage import uniform_filter1d

    h, w = mask.shape
    half = max(1, round(3 * px_per_mm_y))
    window = max(3, round(5 * px_per_mm_x))
    spans = []
    for r in rows:
        x0 = r.pulse.x1 + 1 if r.pulse is not None and r.pulse.side == "left" else 0
        x1 = r.pulse.x0 if r.pulse is not None and r.pulse.side == "right" else w
        y = round(r.baseline_y)
        cols = mask[max(0, y - half) : min(h, y + half + 1), x0:x1].any(axis=0)
        if cols.size == 0:
            continue
        inked = np.flatnonzero(uniform_filter1d(cols.astype(np.float32), window) >= 0.1)
        if inked.size:
            spans.append((inked[-1] - inked[0]) / (px_per_mm_x * speed_mm_s))
    if spans and max(spans) < 0.8 * page_s:
        raise LayoutError(
            f"the longest trace row spans {max(spans):.1f} s, but every layout auto-detection "
            f"knows draws {page_s:g} s per row at {px_per_mm_x:.2f} px/mm: a one-column or "
            "short-format page, or a misread scale; pass --layout to digitize it anyway"
        )


def pulses_fit_grid(rows: list[Row], *, px_per_mm_y: float, line_width_px: float) -> bool:
    """Whether the rows' calibration pulses are a standard gain tall at `px_per_mm_y`.

    True when there are no pulses (nothing contradicts the grid).
    """
    pulses = [r.pulse for r in rows if r.pulse is not None]
    if not pulses:
        return True
    mm = pulse_height_mm(pulses, px_per_mm_y=px_per_mm_y, line_width_px=line_width_px)
    return any(abs(mm / g - 1.0) <= 0.15 for g in STANDARD_GAINS_MM_MV)


def pulse_height_mm(
    pulses: list[CalibrationPulse], *, px_per_mm_y: float, line_width_px: float
) -> float:
    """Median height of calibration pulses, line centre to line centre, in mm."""
    heights = [p.height_px + 1.0 - line_width_px for p in pulses]
    return float(np.median(heights)) / px_per_mm_y


def scale_from_row_extents(
    rows: list[Row], page_mm: float, *, line_width_px: float
) -> float | None:
    """Horizontal pixels per mm from the length of the longest rows (`page_mm` long each).

    Rows within 3 % of the longest count; None when no row has a known ink extent.
    """
    spans = np.array(
        [r.ink_x1 - r.ink_x0 + 1.0 - line_width_px for r in rows if r.ink_x0 >= 0], dtype=float
    )
    spans = spans[spans > 0]
    if spans.size == 0:
        return None
    return float(np.median(spans[spans >= 0.97 * spans.max()])) / page_mm


def scale_from_pulses(
    ink: np.ndarray, *, prior_px_per_mm: float, gain_mm_mv: float, speed_mm_s: float
) -> tuple[float, float] | None:
    """Pixels per mm (x, y) from the calibration pulses, for pages whose grid is not found.

    The page is binarized and its rows analysed at a rough scale (the page-width guess); a
    pulse is 1 mV tall (``gain_mm_mv`` mm) and 0.2 s wide (``0.2 * speed_mm_s`` mm), line
    centre to line centre. Returns None when no pulse is found.
    """
    try:
        tm = binarize(ink, px_per_mm_x=prior_px_per_mm, px_per_mm_y=prior_px_per_mm)
        rows = analyse_rows(
            tm.mask,
            px_per_mm_x=prior_px_per_mm,
            px_per_mm_y=prior_px_per_mm,
            gain_mm_mv=gain_mm_mv,
            speed_mm_s=speed_mm_s,
        )
    except EcgDigitizeError:
        return None
    pulses = [r.pulse for r in rows if r.pulse is not None]
    if not pulses:
        return None
    lw = estimate_line_width(tm.mask)
    height = float(np.median([p.height_px for p in pulses])) + 1.0 - lw
    width = float(np.median([p.x1 - p.x0 for p in pulses])) + 1.0 - lw
    return width / (0.2 * speed_mm_s), height / gain_mm_mv


def calibrate(
    pulses: list[CalibrationPulse],
    *,
    px_per_mm_y: float,
    gain_mm_mv: float,
    line_width_px: float,
    scale_source: str,
) -> tuple[float, str, str | None]:
    """Pixels per millivolt, the calibration source and a warning (or None).

    The grid measures millimetres far more precisely than a pulse's height can be read, so
    the pulse serves to confirm the gain: when its height matches the given gain within 15 %,
    ``gain * px_per_mm`` is used (source ``"pulse"``, the gain it confirmed). When it matches
    another standard gain (2.5, 5, 10, 20 or 40 mm/mV) that gain is used with a warning; a
    pulse matching no standard gain is not trusted (the given gain is used, with a warning).
    Without pulses the given gain is trusted (source ``"grid"`` or ``"dpi"``).
    """
    grid_px_per_mv = gain_mm_mv * px_per_mm_y
    if not pulses:
        return grid_px_per_mv, scale_source, None
    measured_mm = pulse_height_mm(pulses, px_per_mm_y=px_per_mm_y, line_width_px=line_width_px)
    if abs(measured_mm / gain_mm_mv - 1.0) <= 0.15:
        return grid_px_per_mv, "pulse", None
    nearest = min(STANDARD_GAINS_MM_MV, key=lambda g: abs(np.log(measured_mm / g)))
    if abs(measured_mm / nearest - 1.0) <= 0.15:
        return (
            nearest * px_per_mm_y,
            "pulse",
            (
                f"calibration pulse is {measured_mm:.1f} mm tall: gain {nearest:g} mm/mV used "
                f"instead of {gain_mm_mv:g} mm/mV"
            ),
        )
    return (
        grid_px_per_mv,
        scale_source,
        (
            f"calibration pulse is {measured_mm:.1f} mm tall, which matches no standard gain; "
            f"using {gain_mm_mv:g} mm/mV"
        ),
    )


def row_signals(
    mask: np.ndarray,
    rows: list[Row],
    *,
    px_per_mm_x: float,
    speed_mm_s: float,
    fs: float = 100.0,
) -> list[np.ndarray]:
    """Each row traced end to end, as a signal in pixels (up positive) over the page at `fs`.

    Used only to infer the layout (rhythm-strip matching), so units and baseline do not
    matter; NaN where the row has no trace.
    """
    px_per_s = px_per_mm_x * speed_mm_s
    page_s = page_duration_s(speed_mm_s)
    width = page_s * px_per_s
    t = np.arange(round(page_s * fs)) / fs
    out = []
    for row in rows:
        x0, x1 = row.x_start, row.x_end + 1
        trace = extract_trace(
            mask[row.y0 : row.y1, x0:x1], x_offset=x0, y_offset=row.y0, start_y=row.baseline_y
        )
        origin = row_origin(row, width_px=width, tolerance_px=5 * px_per_mm_x)
        if trace.x.size < 2:
            out.append(np.full(t.size, np.nan))
            continue
        out.append(
            np.interp(t, (trace.x - origin) / px_per_s, -trace.y, left=np.nan, right=np.nan)
        )
    return out


def output_names(out: str | os.PathLike[str], n_pages: int) -> list[Path]:
    """Record paths for a file's pages: ``OUT`` for one page, ``OUT_p1``, ``OUT_p2``, … else."""
    base = Path(out)
    if n_pages == 1:
        return [base]
    return [base.with_name(f"{base.name}_p{k}") for k in range(1, n_pages + 1)]
