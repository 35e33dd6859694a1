"""Page geometry: perspective rectification and quarter-turn orientation."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import synthetic_ecg

from ecgdigitize import metrics
from ecgdigitize.config import Degradations, RenderOptions
from ecgdigitize.geometry import (
    estimate_orientation,
    estimate_page_homography,
    fit_vanishing_point,
    line_angles,
    rectify,
    trace_direction_score,
    upright_evidence,
)
from ecgdigitize.pipeline import digitize
from ecgdigitize.preprocess import _channel_maps, _small_maps, preprocess, rotate_page
from ecgdigitize.render import RenderedSheet, render


def sheet(**options: object) -> RenderedSheet:
    return render(synthetic_ecg(), fs=500.0, options=RenderOptions(**options))  # type: ignore[arg-type]


def small_darkness(rgb: np.ndarray) -> np.ndarray:
    gray, value = _channel_maps(rgb)
    return 1.0 - _small_maps(gray, value)[0]


def pooled_snr(s: RenderedSheet, estimate: np.ndarray) -> float:
    return metrics.pooled(
        metrics.snr(s.truth[:, j], estimate[:, j], fs=s.fs) for j in range(s.truth.shape[1])
    )


def grid_image(h: int, w: int, pitch: float) -> np.ndarray:
    """RGB grid: 1-px lines every `pitch` px, darker every fifth."""
    rgb = np.full((h, w, 3), 255, np.uint8)
    for k in range(int(max(h, w) / pitch) + 1):
        pos = round(k * pitch)
        colour = (230, 110, 110) if k % 5 == 0 else (245, 190, 190)
        rgb[pos : pos + 1, :] = colour
        rgb[:, pos : pos + 1] = colour
    return rgb


# ---------------------------------------------------------------------------- line angles


@pytest.mark.parametrize("angle", [0.0, 2.5, -7.0])
def test_line_angles_of_a_rotated_grid(angle: float) -> None:
    rgb = rotate_page(grid_image(480, 600, 8.0), angle)
    dark = 1.0 - rgb.mean(axis=2) / 255.0
    found = line_angles(dark, n_tiles=(3, 3))
    # Counter-clockwise rotation tilts horizontal lines up to the right: negative with y down.
    inner = found.confidence > 3
    assert inner.sum() >= 7
    # 0.1 deg is a third of a pixel across a 200 px tile.
    assert found.angles_deg[inner] == pytest.approx(-angle, abs=0.1)
    # Vertical lines, measured on the transpose, lean by the same angle.
    vertical = line_angles(np.ascontiguousarray(dark.T), n_tiles=(3, 3))
    inner = vertical.confidence > 3
    assert -vertical.angles_deg[inner] == pytest.approx(-angle, abs=0.1)


def test_fit_vanishing_point_of_converging_and_parallel_lines() -> None:
    points = np.array([[-0.5, -0.4], [0.2, -0.3], [0.6, 0.1], [-0.3, 0.4], [0.1, 0.5]])
    vp = np.array([4.0, 0.5])  # horizontal lines converging to the right
    d = vp - points
    angles = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    point, residual = fit_vanishing_point(points, angles, np.ones(5), vertical=False)
    assert point[:2] / point[2] == pytest.approx(vp, abs=1e-9)
    assert np.abs(residual).max() < 1e-9
    # Parallel lines meet at infinity: third coordinate 0, direction along the lines.
    point, _ = fit_vanishing_point(points, np.full(5, 3.0), np.ones(5), vertical=False)
    assert point[2] == pytest.approx(0.0, abs=1e-12)
    assert np.degrees(np.arctan2(point[1], point[0])) % 180 == pytest.approx(3.0, abs=1e-9)


# ---------------------------------------------------------------------------- perspective


def test_homography_undoes_the_renderer_perspective() -> None:
    s = sheet(dpi=100.0, seed=3, degradations=Degradations(perspective=0.06, rotation_deg=2.0))
    h, w = s.image.shape[:2]
    found = estimate_page_homography(small_darkness(s.image), image_size=(w, h))
    assert found is not None and found.vertical_lines_used
    # Page -> rectified image must be a scale along each axis plus a shift: grid lines of the
    # page come out straight and axis-parallel, within 0.5 px (0.13 mm at 100 dpi).
    to_rectified = found.matrix @ np.array(s.metadata["page_to_image"])
    x0, y0, x1, y1 = s.metadata["grid"]["box"]
    xs, ys = np.meshgrid(np.linspace(x0, x1, 9), np.linspace(y0, y1, 7))
    page = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=1)
    mapped = page @ to_rectified.T
    mapped = mapped[:, :2] / mapped[:, 2:]
    for axis in (0, 1):
        design = np.stack([page[:, axis], np.ones(len(page))], axis=1)
        coef = np.linalg.lstsq(design, mapped[:, axis], rcond=None)[0]
        assert np.abs(design @ coef - mapped[:, axis]).max() < 0.5
        assert coef[0] == pytest.approx(1.0, abs=0.1)  # scale kept near the centre
    # The rectified image holds the whole page.
    out = rectify(s.image, found)
    assert out.shape[:2] == (found.output_size[1], found.output_size[0])


def test_scans_are_left_alone() -> None:
    for degradations in (Degradations(), Degradations(rotation_deg=4.0)):
        s = sheet(dpi=100.0, degradations=degradations)
        h, w = s.image.shape[:2]
        assert estimate_page_homography(small_darkness(s.image), image_size=(w, h)) is None
    # Bit-identical preprocessing on a clean page, geometry on or off.
    s = sheet(dpi=100.0)
    on = preprocess(s.image)
    off = preprocess(s.image, correct_perspective=False, detect_orientation=False)
    assert on.orientation_deg == 0 and not on.perspective_corrected and on.warnings == ()
    assert np.array_equal(on.gray, off.gray) and np.array_equal(on.ink, off.ink)
    assert on.rotation_deg == off.rotation_deg


def test_perspective_photo_digitizes() -> None:
    s = sheet(dpi=150.0, seed=5, degradations=Degradations(perspective=0.06))
    result = digitize(s.image)
    assert result.diagnostics.perspective_corrected
    assert result.diagnostics.orientation_deg == 0
    assert pooled_snr(s, result.signal) >= 15.0


# ---------------------------------------------------------------------------- orientation


def test_direction_and_pulse_cues_on_a_drawn_mask() -> None:
    # Two rows of trace at 4 px/mm, each with a pulse (1 mV = 10 mm up, 5 mm wide) at its left.
    ppm = 4.0
    mask = np.zeros((400, 1000), bool)
    x = np.arange(100, 950)
    for base in (120, 300):
        y = base - np.round(12 * np.exp(-0.5 * (((x - 100) % 80 - 40) / 3.0) ** 2)).astype(int)
        for xi, yi, yj in zip(x[:-1], y[:-1], y[1:], strict=True):
            mask[min(yi, yj) : max(yi, yj) + 1, xi] = True
        mask[base, 60:100] = True  # lead-in and tail of the pulse
        mask[base - 40 : base + 1, 64] = mask[base - 40 : base + 1, 84] = True
        mask[base - 40, 64:85] = True
    assert trace_direction_score(mask) > 0.5
    assert trace_direction_score(mask.T) < -0.5
    up, down, moment = upright_evidence(mask, px_per_mm=ppm)
    assert (up, down) == (2, 0) and moment > 0
    up, down, moment = upright_evidence(mask[::-1, ::-1], px_per_mm=ppm)
    assert (up, down) == (0, 2) and moment < 0


@pytest.fixture(scope="module")
def upright_100dpi() -> RenderedSheet:
    return sheet(dpi=100.0, seed=1)


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_orientation_of_a_turned_sheet(upright_100dpi: RenderedSheet, turns: int) -> None:
    image = np.ascontiguousarray(np.rot90(upright_100dpi.image, turns))
    gray, value = _channel_maps(image)
    found = estimate_orientation(_small_maps(gray, value)[1])
    assert found.degrees == 90 * turns
    assert not found.ambiguous
    assert found.pulses_up + found.pulses_down >= 4  # one per row and mask
    pre = preprocess(image)
    assert pre.orientation_deg == 90 * turns
    assert pre.rgb.shape == upright_100dpi.image.shape
    # Turned back exactly: no resampling, the same pixels.
    assert np.array_equal(pre.rgb, upright_100dpi.image)


def test_turned_photo_digitizes() -> None:
    s = sheet(dpi=100.0, seed=2)
    result = digitize(np.ascontiguousarray(np.rot90(s.image, 1)))
    assert result.diagnostics.orientation_deg == 90
    assert pooled_snr(s, result.signal) >= 15.0


def test_no_pulse_keeps_the_page_upright_with_a_warning() -> None:
    s = sheet(dpi=100.0, calibration=False)
    pre = preprocess(s.image)
    assert pre.orientation_deg == 0
    assert pre.warnings == (
        "page orientation uncertain (no clear calibration pulse or trace direction); "
        "assumed 0 deg",
    )
