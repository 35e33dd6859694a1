"""Draw realistic paper ECG sheets from signals, with their ground truth (our test oracle).

A sheet looks like an ECG-cart printout: a 1 mm / 5 mm grid on white or cream paper, near-black
anti-aliased traces at 25 mm/s and 10 mm/mV, a 1 mV × 0.2 s calibration pulse at the start of
every row, short separator ticks between columns, lead labels, an optional header and a footer.
Traces are not clipped to their row. Optional seeded degradations (rotation, perspective, noise,
blur, JPEG, lighting, black-and-white, fading, cropping) imitate scans and photos.

Coordinates in the metadata are pixels with pixel centres at integers (OpenCV and scikit-image
convention): the page's left edge is at ``x = -0.5`` and a point ``x_mm`` millimetres from it is at
``x_mm * px_per_mm - 0.5``. Boxes are in the undistorted page frame; ``page_to_image`` maps them
into the delivered (degraded, cropped) image.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .config import (
    GRID_COLORS,
    LEAD_NAMES,
    PAPER_COLORS,
    PAPER_SIZES_MM,
    Degradations,
    Layout,
    RenderOptions,
    canonical_lead_name,
    get_layout,
    page_duration_s,
)
from .errors import LayoutError, RecordError
from .io.atomic import atomic_directory, check_writable, commit_files
from .io.wfdb import read_record, standard_leads, write_record

__all__ = [
    "RenderedSheet",
    "page_duration_s",
    "render",
    "render_record",
    "sheet_paths",
    "write_sheet",
]

MINOR_MM = 1.0
"""Minor grid pitch (0.04 s, 0.1 mV at the standard speed and gain)."""
MAJOR_MM = 5.0
"""Major grid pitch."""
TRACE_WIDTH_MM = 0.3
CAL_PULSE_MV = 1.0
CAL_PULSE_S = 0.2

_MINOR_LINE_MM = 0.1
_MAJOR_LINE_MM = 0.2
_MIN_MINOR_LINE_PX = 0.6
_MIN_MAJOR_LINE_PX = 1.0
_PAGE_MARGIN_MM = 5.0
_TOP_MARGIN_MM = 6.0
_HEADER_LINE_MM = 4.5
_FOOTER_MM = 10.0
_BASELINE_FRACTION = 0.6  # baseline position within a row, from its top
# Calibration block before the signal of each row: lead-in, pulse, tail, gap.
_CAL_LEAD_IN_MM = 1.0
_CAL_TAIL_MM = 1.5
_CAL_GAP_MM = 1.0
_LABEL_CAP_MM = 3.0
_LABEL_ABOVE_MM = 4.0
_LABEL_INSET_MM = 0.8
_TICK_MM = (4.0, 7.5)  # separator tick spans this far above the baseline
_TEXT_CAP_MM = 2.2
_SHIFT = 4  # subpixel bits for cv2 drawing (1/16 px)
_HERSHEY_CAP_PX = 20.0  # cap height (px) of FONT_HERSHEY_SIMPLEX at scale 1 (measured)

_INK_RGB = (20, 20, 25)
_PAPER_RGB = {"white": (255, 255, 255), "cream": (252, 248, 234)}
# (minor, major) line colours of each grid colour.
_GRID_RGB: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "red": ((246, 190, 190), (232, 112, 112)),
    "pink": ((250, 212, 222), (240, 150, 172)),
    "orange": ((250, 210, 160), (242, 155, 70)),
    "green": ((190, 228, 196), (105, 185, 120)),
    "blue": ((192, 210, 240), (100, 145, 220)),
    "black": ((185, 185, 185), (90, 90, 90)),
    "grey": ((218, 218, 218), (160, 160, 160)),
}
_MAX_DPI = 600.0


@dataclass(frozen=True)
class RenderedSheet:
    """A rendered ECG sheet and its ground truth.

    Attributes
    ----------
    image : (H, W, 3) uint8 array
        The sheet, RGB.
    truth : (n_samples, 12) float64 array
        What was drawn, in mV at `fs` over the page (10 s at 25 mm/s), channels in
        :data:`~ecgdigitize.config.LEAD_NAMES` order: equal to the source inside the time window(s)
        where the lead was drawn and NaN outside.
    fs : float
        Sampling frequency of `truth`, Hz.
    metadata : dict
        JSON-able description of the page: scale, paper, layout, every panel's box and baseline,
        calibration pulses, degradations and the homography that maps page to image.
    """

    image: np.ndarray
    truth: np.ndarray
    fs: float
    metadata: dict[str, Any]


@dataclass(frozen=True)
class _Geometry:
    """Page geometry in millimetres from the page's top-left corner."""

    width_mm: float
    height_mm: float
    px_per_mm: float
    width_px: int
    height_px: int
    page_duration_s: float
    grid_mm: tuple[float, float, float, float]  # x0, y0, x1, y1
    row_top_mm: tuple[float, ...]
    row_height_mm: float
    cal_x0_mm: float  # left end of the calibration block
    signal_x0_mm: float  # x of page time 0
    header_top_mm: float

    def px(self, mm: float | np.ndarray) -> Any:
        """Millimetres from the page edge to pixel-centre coordinates."""
        return mm * self.px_per_mm - 0.5

    def baseline_mm(self, row: int) -> float:
        return self.row_top_mm[row] + _BASELINE_FRACTION * self.row_height_mm


def _check_options(options: RenderOptions) -> Layout:
    """Validate `options` and return its layout."""
    try:
        layout = get_layout(options.layout, page_duration_s=page_duration_s(options.speed_mm_s))
    except ValueError as exc:
        raise LayoutError(str(exc)) from None
    if not 0 < options.dpi <= _MAX_DPI:
        raise ValueError(f"dpi must be in (0, {_MAX_DPI:g}], got {options.dpi:g}")
    if options.paper not in PAPER_SIZES_MM:
        raise ValueError(f"unknown paper {options.paper!r}; expected one of letter, a4")
    if options.grid_color not in GRID_COLORS:
        raise ValueError(
            f"unknown grid colour {options.grid_color!r}; expected one of {', '.join(GRID_COLORS)}"
        )
    if options.paper_color not in PAPER_COLORS:
        raise ValueError(
            f"unknown paper colour {options.paper_color!r}; "
            f"expected one of {', '.join(PAPER_COLORS)}"
        )
    if not options.speed_mm_s > 0 or not options.gain_mm_mv > 0:
        raise ValueError(
            f"speed and gain must be positive, got {options.speed_mm_s:g} mm/s and "
            f"{options.gain_mm_mv:g} mm/mV"
        )
    if not options.start_s >= 0:
        raise ValueError(f"start_s must be >= 0, got {options.start_s:g}")
    d = options.degradations
    ranges = {
        "perspective": (d.perspective, 0.0, 0.2),
        "noise_std": (d.noise_std, 0.0, 1.0),
        "blur_sigma_px": (d.blur_sigma_px, 0.0, 50.0),
        "lighting": (d.lighting, 0.0, 1.0),
        "faded": (d.faded, 0.0, 1.0),
        "crop_fraction": (d.crop_fraction, 0.0, 0.2),
        "curl": (d.curl, 0.0, 0.1),
    }
    for name, (value, lo, hi) in ranges.items():
        if not lo <= value <= hi:
            raise ValueError(f"degradation {name} must be in [{lo:g}, {hi:g}], got {value:g}")
    if d.jpeg_quality is not None and not 1 <= d.jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be in [1, 100], got {d.jpeg_quality}")
    if not math.isfinite(d.rotation_deg):
        raise ValueError("rotation_deg must be finite")
    return layout


def _header_lines(header: str | None) -> list[str]:
    return [] if not header else header.splitlines()


def _geometry(layout: Layout, options: RenderOptions) -> _Geometry:
    width_mm, height_mm = PAPER_SIZES_MM[options.paper]
    ppm = options.dpi / 25.4
    duration = page_duration_s(options.speed_mm_s)
    cal_mm = (
        _CAL_LEAD_IN_MM + CAL_PULSE_S * options.speed_mm_s + _CAL_TAIL_MM + _CAL_GAP_MM
        if options.calibration
        else 0.0
    )
    content_mm = cal_mm + duration * options.speed_mm_s
    cal_x0 = (width_mm - content_mm) / 2
    grid_w = math.floor((width_mm - 2 * _PAGE_MARGIN_MM) / MAJOR_MM) * MAJOR_MM
    gx0 = (width_mm - grid_w) / 2
    n_header = len(_header_lines(options.header))
    header_h = n_header * _HEADER_LINE_MM + 2.0 if n_header else 0.0
    gy0 = _TOP_MARGIN_MM + header_h
    grid_h = math.floor((height_mm - gy0 - _FOOTER_MM) / MAJOR_MM) * MAJOR_MM
    row_h = grid_h / layout.n_rows
    return _Geometry(
        width_mm=width_mm,
        height_mm=height_mm,
        px_per_mm=ppm,
        width_px=round(width_mm * ppm),
        height_px=round(height_mm * ppm),
        page_duration_s=duration,
        grid_mm=(gx0, gy0, gx0 + grid_w, gy0 + grid_h),
        row_top_mm=tuple(gy0 + r * row_h for r in range(layout.n_rows)),
        row_height_mm=row_h,
        cal_x0_mm=cal_x0,
        signal_x0_mm=cal_x0 + cal_mm,
        header_top_mm=_TOP_MARGIN_MM,
    )


def _coverage(n_px: int, centres_px: np.ndarray, width_px: float) -> np.ndarray:
    """Fraction of each pixel covered by lines of `width_px` centred at `centres_px`.

    Exact box-filter anti-aliasing in 1-D: pixel ``i`` spans ``[i - 0.5, i + 0.5)``.
    """
    edges = np.arange(n_px + 1, dtype=np.float64) - 0.5
    starts = np.asarray(centres_px, dtype=np.float64) - width_px / 2
    covered = np.clip(edges[:, None] - starts[None, :], 0.0, width_px).sum(axis=1)
    return np.clip(np.diff(covered), 0.0, 1.0).astype(np.float32)


def _blend(image: np.ndarray, alpha: np.ndarray, rgb: Sequence[float]) -> None:
    """Blend colour `rgb` into float `image` in place with per-pixel `alpha` (H, W)."""
    for c in range(3):
        channel = image[..., c]
        channel += (np.float32(rgb[c]) - channel) * alpha


def _draw_paper(geom: _Geometry, grid_color: str, paper_color: str) -> np.ndarray:
    """Paper with its grid, float32 RGB in [0, 255]."""
    h, w = geom.height_px, geom.width_px
    paper = np.array(_PAPER_RGB[paper_color], dtype=np.float32)
    image = np.empty((h, w, 3), dtype=np.float32)
    image[:] = paper
    if grid_color == "none":
        return image
    ppm = geom.px_per_mm
    gx0, gy0, gx1, gy1 = geom.grid_mm
    # Lines stop at the outer edge of the border lines.
    pad = max(_MAJOR_LINE_MM * ppm, _MIN_MAJOR_LINE_PX)
    inside_x = _coverage(w, np.array([geom.px((gx0 + gx1) / 2)]), (gx1 - gx0) * ppm + pad)
    inside_y = _coverage(h, np.array([geom.px((gy0 + gy1) / 2)]), (gy1 - gy0) * ppm + pad)
    kx = np.arange(round((gx1 - gx0) / MINOR_MM) + 1)
    ky = np.arange(round((gy1 - gy0) / MINOR_MM) + 1)
    steps = round(MAJOR_MM / MINOR_MM)
    minor_rgb, major_rgb = _GRID_RGB[grid_color]
    for is_major, rgb, width_mm, min_px in (
        (False, minor_rgb, _MINOR_LINE_MM, _MIN_MINOR_LINE_PX),
        (True, major_rgb, _MAJOR_LINE_MM, _MIN_MAJOR_LINE_PX),
    ):
        sel_x = kx[(kx % steps == 0) == is_major]
        sel_y = ky[(ky % steps == 0) == is_major]
        width_px = max(width_mm * ppm, min_px)
        ax = _coverage(w, geom.px(gx0 + sel_x * MINOR_MM), width_px) * inside_x
        ay = _coverage(h, geom.px(gy0 + sel_y * MINOR_MM), width_px) * inside_y
        # Union of vertical and horizontal lines: 1 - (1 - a_x)(1 - a_y).
        alpha = 1.0 - (1.0 - ay[:, None]) * (1.0 - ax[None, :])
        _blend(image, alpha, rgb)
    return image


@functools.lru_cache(maxsize=32)
def _ink_style(width_px: float) -> tuple[int, float, float]:
    """cv2 thickness, blur sigma and gain that draw an anti-aliased line `width_px` wide.

    OpenCV's anti-aliased lines come only in widths of about 1.4, 3.5, 5.5, ... px. We draw the
    nearest narrower one, blur it with a Gaussian of ``sigma`` px and amplify it by ``gain``
    (clipped to full ink), so the line keeps a solid core with soft edges, as a scanned print,
    and its integrated width across is `width_px`. The gain is found by bisection on a
    horizontal test line at eight subpixel offsets.
    """
    thickness = 1
    for t in (1, *range(2, 64, 2)):
        plain = _line_width(t, 0.0, 1.0)
        if abs(plain - width_px) <= 0.25 or (t == 1 and plain > width_px):
            return t, 0.0, 1.0
        if plain > width_px - 0.5:
            break
        thickness = t
    sigma = max(0.5, 0.25 * width_px)
    lo, hi = 1.0, 20.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _line_width(thickness, sigma, mid) < width_px else (lo, mid)
    return thickness, sigma, (lo + hi) / 2


def _line_width(thickness: int, sigma: float, gain: float) -> float:
    """Mean integrated width (px) of a horizontal line drawn by :func:`_ink_alpha`."""
    size = 2 * int(thickness + 6 * sigma) + 16
    widths = []
    for offset in np.arange(8) / 8:
        ink = np.zeros((size, 32), dtype=np.uint8)
        y = size / 2 + offset
        pts = np.round(np.array([[0.0, y], [31.0, y]]) * (1 << _SHIFT)).astype(np.int32)
        cv2.polylines(ink, [pts.reshape(-1, 1, 2)], False, 255, thickness, cv2.LINE_AA, _SHIFT)
        widths.append(float(_ink_alpha(ink, sigma, gain)[:, 16].sum()))
    return float(np.mean(widths))


def _ink_alpha(ink: np.ndarray, sigma: float, gain: float) -> np.ndarray:
    """Coverage in [0, 1] (float32) of a drawn uint8 ink mask, widened by blur and gain."""
    alpha = ink.astype(np.float32) * np.float32(1 / 255)
    if sigma > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
        alpha = np.minimum(alpha * np.float32(gain), np.float32(1.0))
    return alpha


def _polylines(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Fixed-point polylines for cv2 (``shift=_SHIFT``), split where `y` is NaN."""
    finite = np.isfinite(y)
    if not finite.any():
        return []
    pts = np.round(np.stack([x, np.where(finite, y, 0.0)], axis=1) * (1 << _SHIFT))
    pts = pts.astype(np.int32)
    # Runs of finite samples.
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
    runs = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        run = pts[a:b]
        if len(run) == 1:
            run = np.concatenate([run, run])
        runs.append(run.reshape(-1, 1, 2))
    return runs


def _put_text(
    ink: np.ndarray,
    text: str,
    x_px: float,
    y_px: float,
    *,
    cap_mm: float,
    ppm: float,
    thickness: int,
) -> tuple[float, float, float, float]:
    """Draw `text` with its baseline-left at (x, y); return its box [x0, y0, x1, y1]."""
    scale = cap_mm * ppm / _HERSHEY_CAP_PX
    font = cv2.FONT_HERSHEY_SIMPLEX
    text = text.encode("ascii", "replace").decode("ascii")
    org = (round(x_px), round(y_px))
    cv2.putText(ink, text, org, font, scale, 255, thickness, cv2.LINE_AA)
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    return (float(org[0]), float(org[1] - th), float(org[0] + tw), float(org[1] + base))


def _sample_index(t_s: float, fs: float) -> int:
    """Index of the first sample at or after time `t_s` (rounded to the nearest sample)."""
    return math.floor(t_s * fs + 0.5)


def _resolve_signal(
    signal: np.ndarray,
    fs: float,
    lead_names: Sequence[str],
    layout: Layout,
    options: RenderOptions,
    name: str,
) -> tuple[np.ndarray, int]:
    """Return the page's (n, 12) signal in LEAD_NAMES order and its first sample in the source."""
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[1] != len(lead_names):
        raise ValueError(
            f"signal has shape {signal.shape}; expected (n_samples, {len(lead_names)}) "
            "to match lead_names"
        )
    if not fs > 0:
        raise ValueError(f"fs must be positive, got {fs}")
    columns: dict[str, int] = {}
    for i, lead in enumerate(lead_names):
        try:
            columns.setdefault(canonical_lead_name(lead), i)
        except ValueError:
            continue
    needed = sorted({p.lead for p in layout.panels}, key=LEAD_NAMES.index)
    missing = [lead for lead in needed if lead not in columns]
    if missing:
        raise RecordError(
            f"{name}: layout {layout.name} needs lead(s) {', '.join(missing)}; "
            f"found {', '.join(lead_names) or 'none'}"
        )
    duration = signal.shape[0] / fs
    page_s = page_duration_s(options.speed_mm_s)
    n_page = _sample_index(page_s, fs)
    first = _sample_index(options.start_s, fs)
    if signal.shape[0] < n_page:
        raise RecordError(f"{name}: record is {duration:g} s long; a page needs {page_s:g} s")
    if first + n_page > signal.shape[0]:
        raise RecordError(
            f"{name}: a {page_s:g} s page starting at {options.start_s:g} s ends after the "
            f"record, which is {duration:g} s long"
        )
    page = np.full((n_page, len(LEAD_NAMES)), np.nan)
    for j, lead in enumerate(LEAD_NAMES):
        if lead in columns:
            page[:, j] = signal[first : first + n_page, columns[lead]]
    return page, first


def render(
    signal: np.ndarray,
    *,
    fs: float,
    lead_names: Sequence[str] = LEAD_NAMES,
    options: RenderOptions = RenderOptions(),  # noqa: B008 - frozen, safe as a default
) -> RenderedSheet:
    """Draw a paper ECG sheet of `signal` and return it with its ground truth.

    Parameters
    ----------
    signal : (n_samples, n_leads) array
        Signal in mV. It must cover ``options.start_s`` plus one page (10 s at 25 mm/s;
        ``250 / speed_mm_s`` s at faster speeds); samples outside that window are ignored.
    fs : float
        Sampling frequency of `signal`, Hz. The ground truth is at the same rate.
    lead_names : sequence of str
        Name of each column, matched case-insensitively; columns that are not standard leads are
        ignored. Every lead of the layout must be present.
    options : RenderOptions
        ``layout`` (any name accepted by :func:`~ecgdigitize.config.get_layout`), ``dpi``,
        ``paper`` (``letter`` or ``a4``, landscape), ``grid_color``, ``paper_color``,
        ``calibration`` (1 mV × 0.2 s pulse at the start of each row), ``start_s`` (page start
        in the signal, s), ``header`` (text lines printed above the grid), ``speed_mm_s``,
        ``gain_mm_mv``, ``degradations`` and the ``seed`` that drives them.

    Returns
    -------
    RenderedSheet

    Raises
    ------
    LayoutError
        If ``options.layout`` is not a known layout.
    RecordError
        If the signal lacks a lead of the layout or is too short for the page.
    ValueError
        If another option is out of range or `signal` does not match `lead_names`.

    Notes
    -----
    Rows are evenly spaced over the grid area; the panels of a row are contiguous in time
    (column ``k`` of a 3x4 row shows ``[2.5 k, 2.5 k + 2.5)`` s) and traces are not clipped, so
    large complexes may cross into the neighbouring row as on real paper. Inverted panels
    (``-aVR`` of the Cabrera layout) are drawn upside down; their ground truth is the lead itself.
    """
    return _render(signal, fs=fs, lead_names=lead_names, options=options, name="<array>")


def _render(
    signal: np.ndarray,
    *,
    fs: float,
    lead_names: Sequence[str],
    options: RenderOptions,
    name: str,
) -> RenderedSheet:
    layout = _check_options(options)
    page, first = _resolve_signal(signal, fs, lead_names, layout, options, name)
    geom = _geometry(layout, options)
    pen = _Pen(geom, options)
    truth, panels = _draw_panels(pen, page, fs, layout)
    separators = _draw_separators(pen, layout)
    pulses = _draw_pulses(pen, layout) if options.calibration else []
    header, footer = _draw_text(pen)

    image = _draw_paper(geom, options.grid_color, options.paper_color)
    _blend(image, _ink_alpha(pen.ink, pen.sigma, pen.gain), _INK_RGB)
    page_image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    degraded, homography, crop = _degrade(
        page_image,
        options.degradations,
        seed=options.seed,
        paper_rgb=_PAPER_RGB[options.paper_color],
    )
    translate = np.array([[1.0, 0.0, -crop[0]], [0.0, 1.0, -crop[1]], [0.0, 0.0, 1.0]])

    ppm = geom.px_per_mm
    metadata: dict[str, Any] = {
        "generator": "ecgdigitize.render",
        "coordinates": "pixels, pixel centres at integers, boxes in the undistorted page frame",
        "dpi": float(options.dpi),
        "px_per_mm": {"x": ppm, "y": ppm},
        "paper": options.paper,
        "paper_size_mm": [geom.width_mm, geom.height_mm],
        "paper_color": options.paper_color,
        "page_size_px": [geom.width_px, geom.height_px],
        "image_size_px": [int(degraded.shape[1]), int(degraded.shape[0])],
        "layout": layout.name,
        "speed_mm_s": float(options.speed_mm_s),
        "gain_mm_mv": float(options.gain_mm_mv),
        "grid_color": options.grid_color,
        "grid": {
            "minor_mm": MINOR_MM,
            "major_mm": MAJOR_MM,
            "box": [float(geom.px(v)) for v in geom.grid_mm],
        },
        "trace_width_mm": TRACE_WIDTH_MM,
        "fs": float(fs),
        "start_s": first / fs,
        "duration_s": geom.page_duration_s,
        "lead_names": list(LEAD_NAMES),
        "calibration": options.calibration,
        "header": header,
        "footer": footer,
        "seed": options.seed,
        "degradations": dataclasses.asdict(options.degradations),
        "panels": panels,
        "calibration_pulses": pulses,
        "separators": separators,
        "homography": homography.tolist(),
        "crop_offset": [int(crop[0]), int(crop[1])],
        "page_to_image": (translate @ homography).tolist(),
    }
    return RenderedSheet(image=degraded, truth=truth, fs=float(fs), metadata=metadata)


class _Pen:
    """Draws ink (traces, pulses, ticks, text) into one uint8 coverage mask of the page."""

    def __init__(self, geom: _Geometry, options: RenderOptions) -> None:
        self.geom = geom
        self.options = options
        self.ink = np.zeros((geom.height_px, geom.width_px), dtype=np.uint8)
        self.thickness, self.sigma, self.gain = _ink_style(TRACE_WIDTH_MM * geom.px_per_mm)
        self.px_per_s = options.speed_mm_s * geom.px_per_mm
        self.px_per_mv = options.gain_mm_mv * geom.px_per_mm
        self.x0 = float(geom.px(geom.signal_x0_mm))  # x of page time 0

    def x_at(self, t_s: float) -> float:
        return self.x0 + t_s * self.px_per_s

    def baseline(self, row: int) -> float:
        return float(self.geom.px(self.geom.baseline_mm(row)))

    def line(self, x: np.ndarray, y: np.ndarray) -> None:
        """A polyline through (x, y) pixels, with subpixel precision; NaN in y breaks it."""
        cv2.polylines(self.ink, _polylines(x, y), False, 255, self.thickness, cv2.LINE_AA, _SHIFT)

    def text(self, text: str, x: float, y: float, *, cap_mm: float) -> list[float]:
        box = _put_text(
            self.ink, text, x, y, cap_mm=cap_mm, ppm=self.geom.px_per_mm, thickness=self.thickness
        )
        return list(box)


def _draw_panels(
    pen: _Pen, page: np.ndarray, fs: float, layout: Layout
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Draw every panel's trace and label; return the ground truth and the panels' metadata."""
    geom, ppm = pen.geom, pen.geom.px_per_mm
    n = page.shape[0]
    t = np.arange(n) / fs
    truth = np.full_like(page, np.nan)
    panels: list[dict[str, Any]] = []
    for panel in sorted(layout.panels, key=lambda p: (p.row, p.column)):
        j = LEAD_NAMES.index(panel.lead)
        i0 = _sample_index(panel.start_s, fs)
        i1 = min(_sample_index(panel.end_s, fs), n)
        truth[i0:i1, j] = page[i0:i1, j]
        baseline = pen.baseline(panel.row)
        sign = -1.0 if panel.inverted else 1.0
        pen.line(
            pen.x0 + t[i0:i1] * pen.px_per_s, baseline - sign * page[i0:i1, j] * pen.px_per_mv
        )
        xs, xe = pen.x_at(panel.start_s), pen.x_at(panel.end_s)
        label_box = pen.text(
            panel.label,
            xs + _LABEL_INSET_MM * ppm,
            baseline - _LABEL_ABOVE_MM * ppm,
            cap_mm=_LABEL_CAP_MM,
        )
        top = float(geom.px(geom.row_top_mm[panel.row]))
        panels.append(
            {
                "lead": panel.lead,
                "label": panel.label,
                "row": panel.row,
                "column": panel.column,
                "rhythm": panel.rhythm,
                "inverted": panel.inverted,
                "start_s": panel.start_s,
                "end_s": panel.end_s,
                "box": [xs, top, xe, top + geom.row_height_mm * ppm],
                "baseline_y": baseline,
                "x_start": xs,
                "label_box": label_box,
            }
        )
    return truth, panels


def _draw_separators(pen: _Pen, layout: Layout) -> list[dict[str, Any]]:
    """Short vertical ticks above the baseline where one column's panel meets the next."""
    ppm = pen.geom.px_per_mm
    ticks: list[dict[str, Any]] = []
    for row in range(layout.n_rows):
        baseline = pen.baseline(row)
        for panel in layout.row_panels(row)[1:]:
            x = pen.x_at(panel.start_s)
            y0, y1 = baseline - _TICK_MM[1] * ppm, baseline - _TICK_MM[0] * ppm
            pen.line(np.array([x, x]), np.array([y0, y1]))
            ticks.append({"row": row, "x": x, "y0": y0, "y1": y1})
    return ticks


def _draw_pulses(pen: _Pen, layout: Layout) -> list[dict[str, Any]]:
    """A 1 mV x 0.2 s calibration pulse at the left of every row, before the signal."""
    geom = pen.geom
    xa = geom.cal_x0_mm
    xr = xa + _CAL_LEAD_IN_MM
    xf = xr + CAL_PULSE_S * pen.options.speed_mm_s
    xt = xf + _CAL_TAIL_MM
    x = geom.px(np.array([xa, xr, xr, xf, xf, xt]))
    pulses: list[dict[str, Any]] = []
    for row in range(layout.n_rows):
        base = pen.baseline(row)
        top = base - CAL_PULSE_MV * pen.px_per_mv
        pen.line(x, np.array([base, base, top, top, base, base]))
        pulses.append({"row": row, "box": [float(x[1]), top, float(x[3]), base]})
    return pulses


def _draw_text(pen: _Pen) -> tuple[list[str], str]:
    """The header lines above the grid and the speed/gain footer below it."""
    geom, options = pen.geom, pen.options
    header = _header_lines(options.header)
    for k, line in enumerate(header):
        y_mm = geom.header_top_mm + (k + 1) * _HEADER_LINE_MM - 1.5
        pen.text(line, geom.px(geom.grid_mm[0]), geom.px(y_mm), cap_mm=_TEXT_CAP_MM)
    footer = f"{options.speed_mm_s:g} mm/s   {options.gain_mm_mv:g} mm/mV"
    pen.text(footer, geom.px(geom.grid_mm[0] + 2.0), geom.px(geom.grid_mm[3] + 5.5), cap_mm=2.5)
    return header, footer


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """A smooth random field in [0, 1] of `shape`, from a coarse grid of `cells` per side."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    field = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


def _degrade(
    image: np.ndarray, d: Degradations, *, seed: int, paper_rgb: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Apply the degradations `d` to a uint8 RGB page, in the order of a scan or photo.

    Fading (on the paper), page curl, then the geometric warp (rotation about the page centre
    and perspective), cropping, lighting, blur, sensor noise, black-and-white threshold and JPEG.
    Each degradation draws from its own generator ``default_rng([seed, k])``, so turning one on
    does not change the others.

    Returns
    -------
    image, homography, crop_offset
        The degraded image, the 3x3 homography from page to warped (uncropped) image, and the
        (x, y) pixel offset of the crop.
    """

    def rng(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, k])

    h, w = image.shape[:2]
    out = image
    if d.faded > 0:
        keep = 1.0 - np.float32(d.faded) * (0.8 + 0.2 * _smooth_field(rng(1), (h, w), 5))
        paper = np.empty_like(out)
        paper[:] = paper_rgb
        out = cv2.blendLinear(out, paper, keep, 1.0 - keep)

    if d.curl > 0:
        # Page curl: a column at x moves down by curl * h * u^2 (u = 2x/w - 1, -1..1), scaled
        # from 0.75 at the top to 1.25 at the bottom. The homography below ignores it.
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        u = 2.0 * xx / max(w - 1, 1) - 1.0
        sag = np.float32(d.curl * h) * u * u * (0.75 + 0.5 * yy / max(h - 1, 1))
        out = cv2.remap(
            out,
            xx,
            yy - sag,
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(255, 255, 255),
        )

    homography = np.eye(3)
    if d.rotation_deg != 0:
        rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), d.rotation_deg, 1.0)
        homography = np.vstack([rot, [0.0, 0.0, 1.0]]) @ homography
    if d.perspective > 0:
        corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
        jitter = rng(2).uniform(-d.perspective, d.perspective, (4, 2)) * np.array([w, h])
        warp = cv2.getPerspectiveTransform(corners, (corners + jitter).astype(np.float32))
        homography = warp @ homography
    if not np.array_equal(homography, np.eye(3)):
        out = cv2.warpPerspective(
            out,
            homography,
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(255, 255, 255),
        )

    crop = (0, 0)
    if d.crop_fraction > 0:
        u = rng(3).random(2)
        cut_w, cut_h = round(d.crop_fraction * w), round(d.crop_fraction * h)
        crop = (round(u[0] * cut_w), round(u[1] * cut_h))
        out = np.ascontiguousarray(
            out[crop[1] : crop[1] + h - cut_h, crop[0] : crop[0] + w - cut_w]
        )
        h, w = out.shape[:2]

    if d.lighting > 0:
        g = rng(4)
        small = (max(2, h // 8), max(2, w // 8))
        yy, xx = np.mgrid[0 : small[0], 0 : small[1]].astype(np.float32)
        angle = g.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xx / small[1] + np.sin(angle) * yy / small[0]
        cy, cx = g.uniform(0, small[0]), g.uniform(0, small[1])
        radius = g.uniform(0.3, 0.7) * max(small)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        shade = 0.5 * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6) + 0.5 * blob
        shade = (shade - shade.min()) / max(float(np.ptp(shade)), 1e-6)
        shade = cv2.resize(shade.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        gain = 1.0 - np.float32(d.lighting) * shade
        out = cv2.blendLinear(out, np.zeros_like(out), gain, 1.0 - gain)  # out * gain

    if d.blur_sigma_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), d.blur_sigma_px)

    if d.noise_std > 0:
        noise = rng(5).standard_normal(out.shape, dtype=np.float32)
        noise *= np.float32(255 * d.noise_std)
        out = cv2.add(out, noise, dtype=cv2.CV_8U)  # rounds and saturates

    if d.black_white:
        gray = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2GRAY)
        _, bw = cv2.threshold(gray, 127, 255, cv2.THRESH_BINARY)
        out = cv2.cvtColor(bw, cv2.COLOR_GRAY2RGB)

    if d.jpeg_quality is not None:
        bgr = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(d.jpeg_quality)])
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
            raise RuntimeError("JPEG encoding failed")
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if decoded is None:  # pragma: no cover
            raise RuntimeError("JPEG decoding failed")
        out = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)

    return np.ascontiguousarray(out), homography, crop


def render_record(
    path: str | os.PathLike[str],
    *,
    options: RenderOptions = RenderOptions(),  # noqa: B008 - frozen, safe as a default
) -> RenderedSheet:
    """Render the WFDB record at `path` as a sheet (see :func:`render`).

    The 12 standard leads are taken by name, case-insensitively (extra channels such as Frank
    leads are ignored). The page starts at ``options.start_s`` in the record.

    Raises
    ------
    LayoutError
        If ``options.layout`` is unknown (checked before the record is read).
    RecordError
        If the record is missing or unreadable, lacks one of the 12 leads, is shorter than a
        page, or ends before ``options.start_s`` plus a page.
    """
    _check_options(options)
    record = read_record(path)
    signal = standard_leads(record)
    sheet = _render(signal, fs=record.fs, lead_names=LEAD_NAMES, options=options, name=record.name)
    metadata = {"record": Path(record.name).name, **sheet.metadata}
    return dataclasses.replace(sheet, metadata=metadata)


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def sheet_paths(png_path: str | os.PathLike[str]) -> tuple[Path, Path, Path, Path]:
    """Files written by :func:`write_sheet`: image, ``<stem>.json``, ``.dat`` and ``.hea``.

    Raises
    ------
    ValueError
        If the image suffix is not ``.png``, ``.jpg`` or ``.jpeg``.
    """
    image = Path(png_path)
    if image.suffix.lower() not in _IMAGE_SUFFIXES:
        raise ValueError(
            f"{image}: unsupported image format {image.suffix or '(none)'!r}; "
            "expected .png, .jpg or .jpeg"
        )
    stem = image.stem
    if not re.fullmatch(r"[-\w]+", stem, flags=re.ASCII):
        raise ValueError(
            f"{image}: the file name {stem!r} is not a valid WFDB record name for the ground "
            "truth; use letters, digits, '-' and '_' only"
        )
    folder = image.parent
    return image, folder / f"{stem}.json", folder / f"{stem}.dat", folder / f"{stem}.hea"


def write_sheet(
    sheet: RenderedSheet, png_path: str | os.PathLike[str], *, overwrite: bool = False
) -> tuple[Path, Path, Path, Path]:
    """Write a sheet: the image, its ground truth ``<stem>.hea/.dat`` and ``<stem>.json``.

    The image is PNG, or JPEG (quality 95) when the suffix is ``.jpg``/``.jpeg``, with its dpi
    recorded. All four files are written to a temporary folder and then renamed into place, the
    WFDB header last.

    Returns
    -------
    tuple of Path
        Image, JSON, data and header files.

    Raises
    ------
    FileExistsError
        If any of the four files exists and `overwrite` is false (nothing is written).
    ValueError
        If the image suffix is not supported.
    """
    from PIL import Image

    paths = sheet_paths(png_path)
    image_path, json_path, dat_path, hea_path = paths
    check_writable(list(paths), overwrite=overwrite)
    target = image_path.parent
    dpi = float(sheet.metadata.get("dpi", 200.0))
    with atomic_directory(target) as tmp:
        pil = Image.fromarray(np.ascontiguousarray(sheet.image, dtype=np.uint8))
        if image_path.suffix.lower() == ".png":
            pil.save(tmp / image_path.name, format="PNG", dpi=(dpi, dpi))
        else:
            pil.save(tmp / image_path.name, format="JPEG", quality=95, dpi=(round(dpi),) * 2)
        (tmp / json_path.name).write_text(json.dumps(sheet.metadata, indent=1) + "\n")
        source = sheet.metadata.get("record", "<array>")
        write_record(
            tmp / hea_path.stem,
            sheet.truth,
            fs=sheet.fs,
            comments=[
                f"ground truth of {image_path.name} rendered by ecgdigitize",
                f"source {source}, layout {sheet.metadata.get('layout')}, "
                f"start {sheet.metadata.get('start_s', 0.0):g} s",
            ],
            overwrite=True,
        )
        commit_files(tmp, [image_path.name, json_path.name, dat_path.name, hea_path.name], target)
    return paths
