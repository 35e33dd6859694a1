"""Digitizer stages on tiny synthetic arrays built in the tests."""

from __future__ import annotations

import numpy as np
import pytest

from ecgdigitize.binarize import binarize, grid_residual
from ecgdigitize.config import get_layout
from ecgdigitize.errors import GridNotFoundError
from ecgdigitize.grid import estimate_grid_pitch
from ecgdigitize.layout import find_pulse
from ecgdigitize.leads import infer_layout
from ecgdigitize.preprocess import estimate_rotation, rotate_page
from ecgdigitize.trace import column_runs, estimate_line_width, extract_trace, least_cost_path


def grid_image(h: int, w: int, pitch: float, *, minor: bool = True) -> np.ndarray:
    """Darkness map of a grid: faint 1 mm lines every `pitch` px, strong 5 mm lines."""
    img = np.zeros((h, w))
    for k in range(int(max(h, w) / pitch) + 1):
        pos = round(k * pitch)
        strength = 0.6 if k % 5 == 0 else (0.25 if minor else 0.0)
        if pos < w:
            img[:, pos] = np.maximum(img[:, pos], strength)
        if pos < h:
            img[pos, :] = np.maximum(img[pos, :], strength)
    return img


@pytest.mark.parametrize("pitch", [3.0, 7.874, 11.8])
def test_grid_pitch_from_minor_and_major_lines(pitch: float) -> None:
    # A strip of a landscape page: 280 mm wide, 60 mm tall; the prior is the page-width guess.
    w = round(280 * pitch)
    g = estimate_grid_pitch(grid_image(round(60 * pitch), w, pitch), prior_mm_px=w / 280)
    assert g.px_per_mm_x == pytest.approx(pitch, rel=0.005)
    assert g.px_per_mm_y == pytest.approx(pitch, rel=0.005)
    assert g.minor_lines_visible


def test_grid_with_only_5mm_lines_uses_the_page_size_prior() -> None:
    # 5 mm lines every 30 px: 6 px/mm when the page is ~280 mm wide (1680 px).
    img = grid_image(600, 1680, 6.0, minor=False)
    g = estimate_grid_pitch(img, prior_mm_px=1680 / 280)
    assert g.px_per_mm_x == pytest.approx(6.0, rel=0.01)
    assert not g.minor_lines_visible


def test_no_grid_raises_with_search_range() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(GridNotFoundError, match=r"no ECG grid found \(searched 1.5–40 px/mm\)"):
        estimate_grid_pitch(rng.random((200, 300)) * 0.01)


@pytest.mark.parametrize("angle", [-6.0, 2.5])
def test_rotation_estimate(angle: float) -> None:
    rgb = np.full((600, 900, 3), 255, np.uint8)
    rgb[(grid_image(600, 900, 8.0) > 0)] = (230, 120, 120)
    rgb[300:303, 100:800] = 0  # a flat trace
    rotated = rotate_page(rgb, angle)
    gray = rotated.mean(axis=2) / 255.0
    assert estimate_rotation(1.0 - gray) == pytest.approx(angle, abs=0.1)


def test_binarize_removes_grid_and_keeps_trace() -> None:
    ink = grid_image(300, 600, 8.0) * 0.5  # grid at darkness up to 0.3
    ink[150:153, 20:580] = 0.9  # trace
    tm = binarize(ink, px_per_mm_x=8.0, px_per_mm_y=8.0)
    assert tm.mask[150:153, 20:580].all()
    assert tm.mask.sum() == 3 * 560
    assert grid_residual(tm.mask, px_per_mm_x=8.0, px_per_mm_y=8.0) < 0.3


def test_column_runs_and_line_width() -> None:
    mask = np.zeros((10, 4), bool)
    mask[2:5, 0] = True
    mask[7:9, 0] = True
    mask[3:6, 2] = True
    cols, tops, bottoms = column_runs(mask)
    assert cols.tolist() == [0, 0, 2]
    assert tops.tolist() == [2, 7, 3]
    assert bottoms.tolist() == [5, 9, 6]
    assert estimate_line_width(np.pad(mask[:, [0, 0, 2, 2]], 1)) in (2.0, 3.0)


def test_least_cost_path_ignores_label_and_crossing_ink() -> None:
    mask = np.zeros((60, 80), bool)
    mask[40:42, :] = True  # the trace
    mask[5:15, 0:6] = True  # a label at the left edge, above the trace
    mask[2:30, 50:52] = True  # a tall QRS from the row above, not touching the trace
    path = least_cost_path(mask, start_y=40.5)
    assert all(p is not None and p[0] == 40 for p in path)


def test_extract_trace_keeps_spike_peak() -> None:
    mask = np.zeros((100, 40), bool)
    mask[80:82, :] = True
    mask[20:82, 20] = True  # a one-column spike to row 20
    trace = extract_trace(mask)
    assert trace.coverage == 1.0
    peak = trace.y[np.argmin(trace.y)]
    assert peak == pytest.approx(20 + trace.line_width_px / 2 - 0.5, abs=0.01)
    assert trace.y[0] == pytest.approx(80.5)


def test_find_pulse() -> None:
    band = np.zeros((120, 80), bool)
    px = 8.0
    foot, top = 100, 20  # 80 px = 10 mm at 8 px/mm
    band[foot - 1 : foot + 1, 0:10] = True
    band[top : foot + 1, 10:12] = True  # rising edge
    band[top : top + 2, 10:50] = True  # 40 px = 5 mm = 0.2 s
    band[top : foot + 1, 49:51] = True  # falling edge
    band[foot - 1 : foot + 1, 50:80] = True
    pulse = find_pulse(band, side="left", px_per_mm_x=px, px_per_mm_y=px, gain_mm_mv=10)
    assert pulse is not None
    assert (pulse.x0, pulse.x1, pulse.top_y, pulse.foot_y) == (10, 50, 20.0, 100.0)
    assert (
        find_pulse(band[:, 52:], side="left", px_per_mm_x=px, px_per_mm_y=px, gain_mm_mv=10)
        is None
    )


def _row_signals(layout_name: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Row signals (100 Hz, 10 s) of a page drawn in `layout_name` from random 12-lead data."""
    from ecgdigitize.config import LEAD_NAMES

    leads = {name: np.cumsum(rng.normal(size=1000)) for name in LEAD_NAMES}
    # Limb leads obey Einthoven's and Goldberger's relations, as on any real ECG.
    i, ii = leads["I"], leads["II"]
    leads.update(III=ii - i, aVR=-(i + ii) / 2, aVL=i - ii / 2, aVF=ii - i / 2)
    layout = get_layout(layout_name)
    rows = [np.full(1000, np.nan) for _ in range(layout.n_rows)]
    for p in layout.panels:
        k0, k1 = round(p.start_s * 100), round(p.end_s * 100)
        rows[p.row][k0:k1] = (-1 if p.inverted else 1) * leads[p.lead][k0:k1]
    return rows


@pytest.mark.parametrize(
    "name", ["3x4", "3x4+II", "3x4+V1+II", "3x4+V1+II+V5", "6x2", "6x2+II", "6x2+V5", "12x1"]
)
def test_layout_inferred_from_rhythm_strip_matches(name: str) -> None:
    guess = infer_layout(_row_signals(name, np.random.default_rng(1)))
    assert guess.layout.name == name
    assert all(s > 0.99 for s in guess.rhythm_scores)


def test_unmatched_rhythm_strips_take_conventional_leads() -> None:
    rng = np.random.default_rng(2)
    rows = [*_row_signals("3x4", rng), np.cumsum(rng.normal(size=1000))]
    guess = infer_layout(rows)
    assert guess.layout.name == "3x4+II"
    assert np.isnan(guess.rhythm_scores[0])
    two = [
        *_row_signals("3x4", rng),
        np.cumsum(rng.normal(size=1000)),
        np.cumsum(rng.normal(size=1000)),
    ]
    assert infer_layout(two).layout.name == "3x4+V1+II"


def test_layout_inference_and_errors() -> None:
    with pytest.raises(ValueError, match="found 11 trace rows; cannot infer the layout"):
        infer_layout([np.zeros(1000)] * 11)
    with pytest.raises(ValueError, match=r"unknown layout '4x4'; expected one of 3x4, 3x4\+II"):
        get_layout("4x4")
    cab = get_layout("cabrera+ii")
    assert cab.name == "cabrera+II"
    assert [p.label for p in cab.row_panels(2)] == ["-aVR", "V3"]
    assert cab.rhythm_leads == ("II",)


def test_unmatched_strip_never_repeats_a_matched_lead() -> None:
    rng = np.random.default_rng(5)
    rows = _row_signals("3x4+II", rng)  # the strip repeats lead II
    rows.append(np.cumsum(rng.normal(size=1000)))  # a second strip matching nothing
    guess = infer_layout(rows)
    # Conventionally (V1, II) for two strips; II is taken by the match, so V1 stays first.
    assert guess.layout.name == "3x4+II+V1"
    assert guess.layout.rhythm_leads == ("II", "V1")


def test_a_period_in_one_direction_far_from_the_prior_is_no_grid() -> None:
    # Columns repeat every 20 px (beats), rows not at all: with the page-size prior at 6 px/mm
    # this is not a 4 px/mm grid.
    img = np.zeros((300, 1680))
    img[:, ::100] = 1.0
    with pytest.raises(GridNotFoundError):
        estimate_grid_pitch(img, prior_mm_px=6.0)


def test_six_rows_that_are_not_6x2_take_weakly_matching_strips() -> None:
    rng = np.random.default_rng(6)
    rows = _row_signals("3x4+V1+II+V5", rng)
    # Poorly traced strips: each still most like its own panel, but not all at the 0.9 match
    # (which alone would make these six rows a 6x2 page).
    for k in (3, 4, 5):
        walk = np.cumsum(rng.normal(size=1000))
        rows[k] = rows[k] + 0.25 * np.std(rows[k]) * (walk - walk.mean()) / np.std(walk)
    guess = infer_layout(rows)
    scores = guess.rhythm_scores
    assert min(scores) < 0.9 and all(sc >= 0.5 for sc in scores), scores
    # Read as 3x4 with three strips (not 6x2). With this much noise the II strip matches the
    # aVF panel about as well as its own (aVF = II - I/2 here), so only V1 and V5 are checked.
    leads = guess.layout.rhythm_leads
    assert guess.layout.name.startswith("3x4+") and len(leads) == 3
    assert (leads[0], leads[2]) == ("V1", "V5")
    # A true 6x2 page (its limb leads obey Einthoven's law) stays 6x2.
    assert infer_layout(_row_signals("6x2", rng)).layout.name == "6x2"
