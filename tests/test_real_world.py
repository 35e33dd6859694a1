"""Real-world sheet detectors: grid remnants, pulses beside grid lines, scale without a grid,
Cabrera order; and rendered sheets with dark grids, no grid and black-and-white scans."""

from __future__ import annotations

import numpy as np
import pytest

from ecgdigitize import metrics
from ecgdigitize.binarize import clear_lines, remove_page_lines, remove_straight_segments
from ecgdigitize.config import LEAD_NAMES, Degradations, RenderOptions, get_layout
from ecgdigitize.layout import CalibrationPulse, Row, find_pulse
from ecgdigitize.leads import infer_layout, is_cabrera, limb_lead_residual
from ecgdigitize.pipeline import digitize, pulses_fit_grid, scale_from_row_extents
from ecgdigitize.render import render_record


def wavy_trace(mask: np.ndarray, y0: int, x0: int, x1: int) -> None:
    """Draw a 3 px thick trace along row `y0` that leaves it for a 'wave' every 40 px."""
    for x in range(x0, x1):
        y = y0 - (12 if (x - x0) % 40 in range(10, 16) else 0)
        mask[y : y + 3, x] = True
        if (x - x0) % 40 in (10, 16):
            mask[y0 - 12 : y0 + 3, x] = True


# ------------------------------------------------------------------------------ grid remnants


def test_remove_page_lines_takes_the_border_and_keeps_traces() -> None:
    mask = np.zeros((200, 400), bool)
    mask[10, 5:395] = True  # top border: a thin unbroken line across the page
    mask[:, 3] = True  # left border
    wavy_trace(mask, 100, 20, 380)  # a trace along row 100, broken by its waves
    mask[150:153, 10:390] = True  # a flat trace, thicker than a grid line
    out = remove_page_lines(mask, max_thickness_px=2)
    assert not out[10].any() and not out[:, 3].any()
    assert (out[100:103, 20:380] == mask[100:103, 20:380]).all()
    assert out[150:153, 10:390].all()


def test_clear_lines_keeps_ink_crossing_or_along_a_line() -> None:
    mask = np.zeros((60, 30), bool)
    mask[:, 14:16] = True  # a vertical grid line, 2 px wide
    mask[20:23, 0:30] = True  # a trace crossing it
    mask[40:44, 13:17] = True  # a pulse edge drawn on the line, wider than it
    out = clear_lines(mask, mask.mean(axis=0) > 0.5)
    assert not out[0:20, 14:16].any() and not out[45:, 14:16].any()
    assert out[20:23, :].all()
    assert out[40:44, 13:17].all()


def test_remove_straight_segments_takes_isolated_lines_only() -> None:
    mask = np.zeros((60, 120), bool)
    mask[5, 10:50] = True  # a piece of horizontal grid line
    mask[10:50, 100] = True  # a piece of vertical grid line
    mask[30:32, 10:60] = True  # a trace piece with a bump: not straight
    mask[26:30, 30:34] = True
    mask[50, 10:14] = True  # too short to tell: kept
    out = remove_straight_segments(mask, min_length_px=20, max_thickness_px=2)
    assert not out[5].any() and not out[:, 100].any()
    assert out[30:32, 10:60].all() and out[26:30, 30:34].all()
    assert out[50, 10:14].all()


def test_pulse_height_ignores_grid_pieces_beside_it() -> None:
    band = np.zeros((140, 80), bool)
    foot, top = 110, 30  # 80 px = 10 mm at 8 px/mm
    band[foot - 1 : foot + 1, 0:10] = True
    band[top : foot + 1, 10:12] = True
    band[top : top + 2, 10:50] = True
    band[top : foot + 1, 49:51] = True
    band[foot - 1 : foot + 1, 50:80] = True
    band[8, 0:30] = True  # grid remnants above and below, reaching into the pulse's columns
    band[foot + 8, 20:45] = True
    pulse = find_pulse(band, side="left", px_per_mm_x=8.0, px_per_mm_y=8.0, gain_mm_mv=10)
    assert pulse is not None
    assert (pulse.top_y, pulse.foot_y) == (30.0, 110.0)


# ------------------------------------------------------------------------------------ scale


def _row(x_start: int, x_end: int, ink: tuple[int, int], pulse_h: float | None) -> Row:
    pulse = None if pulse_h is None else CalibrationPulse(0, 10, 100.0, 100.0 - pulse_h, "left")
    return Row(100.0, 0, 200, x_start, x_end, pulse, ink[0], ink[1])


def test_pulses_fit_grid() -> None:
    # 10 mm at 8 px/mm (line width 2: height 81 - 1 counted between line centres)
    assert pulses_fit_grid([_row(12, 990, (20, 990), 81.0)], px_per_mm_y=8.0, line_width_px=2.0)
    assert pulses_fit_grid([_row(12, 990, (20, 990), 41.0)], px_per_mm_y=8.0, line_width_px=2.0)
    # 7.4 mm: no standard gain, the "grid" is wrong
    assert not pulses_fit_grid(
        [_row(12, 990, (20, 990), 60.2)], px_per_mm_y=8.0, line_width_px=2.0
    )
    assert pulses_fit_grid([_row(12, 990, (20, 990), None)], px_per_mm_y=8.0, line_width_px=2.0)


def test_scale_from_row_extents_uses_the_longest_rows() -> None:
    rows = [
        _row(12, 2017, (18, 2017), None),  # 2000 px + line width 2 -> 250 mm at 8 px/mm
        _row(12, 2018, (18, 2019), None),
        _row(12, 1100, (18, 1100), None),  # a short row: ignored
    ]
    assert scale_from_row_extents(rows, 250.0, line_width_px=2.0) == pytest.approx(8.0, rel=2e-3)
    assert scale_from_row_extents([_row(0, 10, (-1, -1), None)], 250.0, line_width_px=2.0) is None


# ---------------------------------------------------------------------------------- Cabrera


def _limb_rows(order: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Six 10 s rows (100 Hz) of a 6x2 page whose left half holds limb leads in `order`."""
    i = np.cumsum(rng.normal(size=1000))
    ii = np.cumsum(rng.normal(size=1000))
    limb = {
        "I": i,
        "II": ii,
        "III": ii - i,
        "aVR": -(i + ii) / 2,
        "aVL": i - ii / 2,
        "aVF": ii - i / 2,
    }
    rows = []
    for panel in get_layout(order).row_panels(0)[:1] + tuple(
        get_layout(order).row_panels(r)[0] for r in range(1, 6)
    ):
        row = np.full(1000, np.nan)
        row[:500] = (-1 if panel.inverted else 1) * limb[panel.lead][:500]
        row[500:] = rng.normal(size=500).cumsum()  # the chest leads: unrelated
        rows.append(row + rng.normal(scale=0.5, size=1000) + 40)  # noise, arbitrary baseline
    return rows


def test_limb_lead_relations_tell_cabrera_from_standard() -> None:
    rng = np.random.default_rng(3)
    cab, std = _limb_rows("cabrera", rng), _limb_rows("6x2", rng)
    assert is_cabrera(cab) and not is_cabrera(std)
    half = [r[:500] for r in std]
    standard = limb_lead_residual(half, ("I", "II", "III", "aVR", "aVL", "aVF"))
    assert standard < 0.5 * limb_lead_residual(half, ("aVL", "I", "-aVR", "II", "aVF", "III"))
    assert infer_layout(cab).layout.name == "cabrera"
    assert infer_layout(std).layout.name == "6x2"


def test_cabrera_sheet_is_detected(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    sheet = render_record(ptbxl_record(2), options=RenderOptions(layout="cabrera", dpi=150))
    result = digitize(sheet.image)
    assert result.diagnostics.layout == "cabrera"
    snr = [metrics.snr(sheet.truth[:, j], result.signal[:, j], fs=sheet.fs) for j in range(12)]
    assert float(np.mean(snr)) >= 12.0


# ------------------------------------------------------------------------- rendered sheets


@pytest.mark.parametrize(
    ("grid", "bw"), [("black", False), ("grey", False), ("none", False), ("black", True)]
)
def test_dark_grid_no_grid_and_black_and_white(ptbxl_record, grid: str, bw: bool) -> None:  # type: ignore[no-untyped-def]
    options = RenderOptions(
        grid_color=grid, dpi=150, degradations=Degradations(black_white=bw), seed=2
    )
    sheet = render_record(ptbxl_record(2), options=options)
    result = digitize(sheet.image)
    d = result.diagnostics
    assert d.layout == "3x4+II"
    assert d.calibration_source == "pulse"
    # The time scale is right to 0.5 % with or without a grid (10 s over the page).
    assert d.px_per_mm_x == pytest.approx(150 / 25.4, rel=0.005)
    snr = [metrics.snr(sheet.truth[:, j], result.signal[:, j], fs=sheet.fs) for j in range(12)]
    assert float(np.mean(snr)) >= 12.0
    assert len(LEAD_NAMES) == sum(ld.kept for ld in d.leads)


def test_six_lead_limb_sheet_is_detected(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    sheet = render_record(ptbxl_record(2), options=RenderOptions(layout="6x1", dpi=150))
    result = digitize(sheet.image)
    assert result.diagnostics.layout == "6x1"
    limb = [metrics.snr(sheet.truth[:, j], result.signal[:, j], fs=sheet.fs) for j in range(6)]
    assert float(np.mean(limb)) >= 12.0
    assert np.isnan(result.signal[:, 6:]).all()  # V1-V6 were not drawn


def test_six_rows_of_limb_leads_infer_6x1() -> None:
    rng = np.random.default_rng(4)
    rows = _limb_rows("6x2", rng)
    i, ii = rows[0][:500] - 40, rows[1][:500] - 40
    # Continue the limb leads over the second half instead of chest leads.
    for k, (a, b) in enumerate([(1, 0), (0, 1), (-1, 1), (-0.5, -0.5), (1, -0.5), (-0.5, 1)]):
        rows[k][500:] = a * i[::-1] + b * ii[::-1] + 40
    assert infer_layout(rows).layout.name == "6x1"
    assert infer_layout(_limb_rows("6x2", rng)).layout.name == "6x2"


def test_header_text_and_no_calibration_pulse(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    header = (
        "Name: Test Patient   ID: 0002\nVent. rate 63 bpm   PR 160 ms   QRS 90 ms\nSinus rhythm"
    )
    sheet = render_record(
        ptbxl_record(2), options=RenderOptions(dpi=150, header=header, calibration=False)
    )
    result = digitize(sheet.image)
    d = result.diagnostics
    assert d.layout == "3x4+II" and d.n_rows == 4  # the header lines are not trace rows
    assert d.calibration_source == "grid"  # no pulse: the gain is the given 10 mm/mV
    snr = [metrics.snr(sheet.truth[:, j], result.signal[:, j], fs=sheet.fs) for j in range(12)]
    assert float(np.mean(snr)) >= 12.0


def test_rows_shorter_than_the_page_are_not_guessed(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    from ecgdigitize.config import DigitizeOptions
    from ecgdigitize.errors import LayoutError

    # The left 60 % of a sheet: its rows span about 6 s of the 10 s every layout draws.
    sheet = render_record(ptbxl_record(2), options=RenderOptions(dpi=100))
    short = np.ascontiguousarray(sheet.image[:, : int(0.6 * sheet.image.shape[1])])
    with pytest.raises(
        LayoutError, match=r"the longest trace row spans [56]\.\d s, but every layout"
    ):
        digitize(short)
    # Told the layout, it digitizes what is there (NaN where nothing was drawn).
    result = digitize(short, DigitizeOptions(layout="3x4+II"))
    assert result.diagnostics.layout == "3x4+II"
    assert np.isnan(result.signal[-100:, LEAD_NAMES.index("II")]).all()


# ------------------------------------------------------------------------------- page curl


def test_estimate_curl_measures_a_bow_and_leaves_straight_lines() -> None:
    from ecgdigitize.curl import estimate_curl, uncurl

    h, w = 400, 800
    yy, xx = np.mgrid[0:h, 0:w]
    u = 2 * xx / (w - 1) - 1
    bow = 12.0 * u * u  # lines 12 px lower at the sides than in the middle
    straight = ((yy % 40) < 2).astype(float) + ((yy % 8) == 0) * 0.3
    bent = (((yy - bow) % 40) < 2).astype(float) + (np.round(yy - bow) % 8 == 0) * 0.3
    flat = estimate_curl(straight)
    assert flat.reliable and flat.max_shift_px < 0.5
    curl = estimate_curl(bent)
    assert curl.reliable
    assert curl.shift[:, 0] == pytest.approx(np.full(4, 12.0), abs=1.0)
    assert curl.shift[:, w // 2] == pytest.approx(np.zeros(4), abs=0.5)
    fixed = uncurl((bent * 255).astype(np.uint8)[..., None].repeat(3, axis=2), curl)
    # The lines are horizontal again: some rows are nearly all line (none were before).
    assert (bent * 255).mean(axis=1).max() < 0.5 * 255
    assert fixed[..., 0].mean(axis=1).max() > 0.8 * 255


def test_curled_sheet_digitizes_and_straight_ones_are_untouched(ptbxl_record) -> None:  # type: ignore[no-untyped-def]
    sheet = render_record(
        ptbxl_record(2), options=RenderOptions(dpi=150, degradations=Degradations(curl=0.02))
    )
    result = digitize(sheet.image)
    assert result.diagnostics.curl_px > 20
    snr = [metrics.snr(sheet.truth[:, j], result.signal[:, j], fs=sheet.fs) for j in range(12)]
    assert float(np.mean(snr)) >= 15.0
    flat = digitize(render_record(ptbxl_record(2), options=RenderOptions(dpi=150)).image)
    assert flat.diagnostics.curl_px == 0.0
