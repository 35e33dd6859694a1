"""Tests of the sheet renderer (ecgdigitize.render)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import wfdb

from ecgdigitize.config import LAYOUT_NAMES, LEAD_NAMES, Degradations, RenderOptions
from ecgdigitize.errors import LayoutError, RecordError
from ecgdigitize.render import render, render_record, write_sheet

FS = 500.0
# Time windows (s) of each lead in the 3x4+II layout; II is also the 10 s rhythm strip.
WINDOWS_3X4_II = {
    "I": [(0.0, 2.5)], "II": [(0.0, 10.0)], "III": [(0.0, 2.5)],
    "aVR": [(2.5, 5.0)], "aVL": [(2.5, 5.0)], "aVF": [(2.5, 5.0)],
    "V1": [(5.0, 7.5)], "V2": [(5.0, 7.5)], "V3": [(5.0, 7.5)],
    "V4": [(7.5, 10.0)], "V5": [(7.5, 10.0)], "V6": [(7.5, 10.0)],
}  # fmt: skip
SPIKE_TIMES_S = (1.25, 3.75, 6.25, 8.75)
SPIKE_MV = 1.0
ALL_DEGRADATIONS = Degradations(
    rotation_deg=2.0,
    perspective=0.02,
    noise_std=0.03,
    blur_sigma_px=0.8,
    jpeg_quality=70,
    lighting=0.3,
    faded=0.2,
    crop_fraction=0.05,
)


def synthetic_signal(fs: float = FS, seconds: float = 10.0) -> np.ndarray:
    """Lead j at a constant -0.2 + 0.03 j mV, plus a 1 mV, 40 ms triangle at SPIKE_TIMES_S."""
    t = np.arange(round(seconds * fs)) / fs
    spikes = sum(np.clip(1 - np.abs(t - ts) / 0.02, 0, None) for ts in SPIKE_TIMES_S)
    levels = -0.2 + 0.03 * np.arange(12)
    return levels[None, :] + SPIKE_MV * np.asarray(spikes)[:, None]


def expected_truth(
    signal: np.ndarray, windows: dict[str, list[tuple[float, float]]]
) -> np.ndarray:
    out = np.full_like(signal, np.nan)
    for j, lead in enumerate(LEAD_NAMES):
        for a, b in windows[lead]:
            out[round(a * FS) : round(b * FS), j] = signal[round(a * FS) : round(b * FS), j]
    return out


def ink_alpha(image: np.ndarray) -> np.ndarray:
    """Ink coverage of a sheet rendered on white paper without grid (ink is RGB ~(20, 20, 25))."""
    return (255.0 - image.astype(np.float64).mean(axis=2)) / (255.0 - 65 / 3)


def test_truth_equals_source_inside_windows_and_nan_outside() -> None:
    signal = synthetic_signal()
    sheet = render(signal, fs=FS)
    assert sheet.fs == FS
    assert sheet.truth.shape == (5000, 12)
    np.testing.assert_array_equal(sheet.truth, expected_truth(signal, WINDOWS_3X4_II))


def test_trace_lies_on_its_baseline_at_the_right_place() -> None:
    """Each panel's ink sits at baseline - v * 10 mm/mV (centroid within 0.1 px), 0.25-0.35 mm
    wide; the spikes appear at x_start + (t - start_s) * 25 mm/s (within 1 px); no ink lies
    outside the panels, labels, ticks, pulses and footer."""
    signal = synthetic_signal()
    sheet = render(signal, fs=FS, options=RenderOptions(grid_color="none"))
    meta = sheet.metadata
    ppm = meta["px_per_mm"]["x"]
    assert ppm == pytest.approx(200 / 25.4)
    assert sheet.image.shape == (1700, 2200, 3)
    alpha = ink_alpha(sheet.image)
    ink = alpha > 0.1
    allowed = np.zeros_like(ink)
    rows = np.arange(alpha.shape[0])
    assert len(meta["panels"]) == 13
    for panel in meta["panels"]:
        j = LEAD_NAMES.index(panel["lead"])
        level_y = panel["baseline_y"] - signal[0, j] * 10 * ppm
        x0, y0, x1, y1 = panel["box"]
        assert panel["x_start"] == x0
        assert x1 - x0 == pytest.approx((panel["end_s"] - panel["start_s"]) * 25 * ppm)
        spikes = [t for t in SPIKE_TIMES_S if panel["start_s"] < t < panel["end_s"]]
        spike_x = [x0 + (t - panel["start_s"]) * 25 * ppm for t in spikes]
        band = np.abs(rows - level_y) <= 2 * ppm  # labels and ticks are >= 4 mm up
        checked = 0
        for x in range(int(np.ceil(x0)) + 3, int(x1) - 2):
            if any(abs(x - sx) < 1.5 * ppm for sx in spike_x):
                continue
            a = alpha[band, x]
            assert (a * rows[band]).sum() / a.sum() == pytest.approx(level_y, abs=0.1)
            assert 0.25 * ppm <= a.sum() <= 0.35 * ppm
            checked += 1
        assert checked > 0.8 * (x1 - x0)
        for sx in spike_x:
            cols = np.arange(round(sx) - 15, round(sx) + 16)
            in_row = alpha[round(y0) : round(y1), cols] > 0.5
            tops = round(y0) + np.argmax(in_row, axis=0)
            assert cols[tops == tops.min()].mean() == pytest.approx(sx, abs=1.0)
            assert tops.min() == pytest.approx(level_y - SPIKE_MV * 10 * ppm, abs=3)
        # Allowed ink: the level line, and the spikes up to their apex.
        c0, c1 = int(np.floor(x0)) - 2, int(np.ceil(x1)) + 3
        allowed[round(level_y - 3) : round(level_y + 4), c0:c1] = True
        for sx in spike_x:
            top = round(level_y - SPIKE_MV * 10 * ppm - 3)
            allowed[top : round(level_y + 4), round(sx - ppm) - 3 : round(sx + ppm) + 4] = True
        lx0, ly0, lx1, ly1 = (round(v) for v in panel["label_box"])
        allowed[ly0 - 2 : ly1 + 3, lx0 - 2 : lx1 + 3] = True
        assert y0 < ly0 and ly1 < level_y < y1
    for tick in meta["separators"]:
        allowed[round(tick["y0"]) - 3 : round(tick["y1"]) + 4, round(tick["x"]) - 3 :][:, :7] = (
            True
        )
    assert len(meta["calibration_pulses"]) == 4
    for pulse in meta["calibration_pulses"]:
        px0, py0, px1, py1 = pulse["box"]
        assert py1 - py0 == pytest.approx(10 * ppm)  # 1 mV
        assert px1 - px0 == pytest.approx(0.2 * 25 * ppm)  # 0.2 s
        assert alpha[round(py0), round((px0 + px1) / 2)] > 0.5  # the top of the pulse is inked
        pad = round(2 * ppm)
        allowed[round(py0) - 3 : round(py1) + 4, round(px0) - pad : round(px1) + pad] = True
    grid_bottom = round(meta["grid"]["box"][3])
    allowed[grid_bottom:] = True  # footer text
    assert not (ink & ~allowed).any()


def test_cabrera_draws_minus_avr_inverted() -> None:
    signal = synthetic_signal()
    sheet = render(signal, fs=FS, options=RenderOptions(layout="cabrera", dpi=100))
    ppm = sheet.metadata["px_per_mm"]["y"]
    (panel,) = [p for p in sheet.metadata["panels"] if p["lead"] == "aVR"]
    assert panel["label"] == "-aVR" and panel["inverted"]
    # Grid is red: measure darkness by the green channel, which red grid lines barely touch.
    x = round(panel["box"][0] + 0.6 * (panel["box"][2] - panel["box"][0]))  # 3 s, no spike
    column = 255.0 - sheet.image[:, x, 1].astype(float)
    rows = np.arange(len(column))
    band = np.abs(rows - panel["baseline_y"]) < 4 * ppm
    dark = column[band] > 150
    y = rows[band][dark].mean()
    # aVR (j = 3) is -0.11 mV; inverted it is drawn 1.1 mm *above* the baseline.
    assert signal[0, 3] == pytest.approx(-0.11)
    assert y == pytest.approx(panel["baseline_y"] - 0.11 * 10 * ppm, abs=0.6)
    np.testing.assert_array_equal(
        sheet.truth[1250:2500, 3], signal[1250:2500, 3]
    )  # truth is aVR itself


@pytest.mark.parametrize("layout", [*LAYOUT_NAMES, "3x4+II+V1+V5", "6x2+V2", "cabrera+II"])
def test_every_layout_renders(layout: str) -> None:
    signal = synthetic_signal()
    sheet = render(signal, fs=FS, options=RenderOptions(layout=layout, dpi=50, paper="a4"))
    meta = sheet.metadata
    assert meta["layout"] == layout
    w, h = meta["page_size_px"]
    assert sheet.image.shape == (h, w, 3) == (round(210 * 50 / 25.4), round(297 * 50 / 25.4), 3)
    drawn = np.isfinite(sheet.truth)
    # Every lead is drawn somewhere (only the limb leads on a 6x1 sheet).
    assert drawn.any(axis=0).all() if layout != "6x1" else drawn.any(axis=0).sum() == 6
    for panel in meta["panels"]:
        x0, y0, x1, y1 = panel["box"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        j = LEAD_NAMES.index(panel["lead"])
        i0, i1 = round(panel["start_s"] * FS), round(panel["end_s"] * FS)
        assert drawn[i0:i1, j].all()
    n_rows = 1 + max(p["row"] for p in meta["panels"])
    assert len(meta["calibration_pulses"]) == n_rows
    # The truth holds exactly the union of the panels' windows.
    expected = np.zeros_like(drawn)
    for panel in meta["panels"]:
        j = LEAD_NAMES.index(panel["lead"])
        expected[round(panel["start_s"] * FS) : round(panel["end_s"] * FS), j] = True
    np.testing.assert_array_equal(drawn, expected)


def test_12x1_keeps_10_mm_per_mv_with_overlapping_rows() -> None:
    sheet = render(synthetic_signal(), fs=FS, options=RenderOptions(layout="12x1", dpi=50))
    ppm = sheet.metadata["px_per_mm"]["y"]
    baselines = [p["baseline_y"] for p in sheet.metadata["panels"]]
    assert len(baselines) == 12
    spacing = np.diff(baselines)
    assert np.allclose(spacing, spacing[0]) and spacing[0] < 20 * ppm  # < 2 mV apart
    pulse = sheet.metadata["calibration_pulses"][0]["box"]
    assert pulse[3] - pulse[1] == pytest.approx(10 * ppm)


@pytest.mark.parametrize("grid_color", ["red", "pink", "orange", "green", "blue", "black", "grey"])
def test_grid_has_1_mm_minor_and_5_mm_major_lines(grid_color: str) -> None:
    sheet = render(
        synthetic_signal(), fs=FS, options=RenderOptions(grid_color=grid_color, dpi=254)
    )  # 10 px/mm
    meta = sheet.metadata
    assert meta["px_per_mm"]["x"] == pytest.approx(10.0)
    x0 = meta["grid"]["box"][0]  # centre of the first (major) vertical line
    # A stretch of grid between rows 0 and 1, below row 0's trace.
    y = round(meta["panels"][0]["baseline_y"] + 80)
    darkness = 255.0 - sheet.image[y : y + 60].mean(axis=(0, 2))

    def around(centre: float) -> float:
        return float(darkness[round(centre - 2) : round(centre + 2) + 1].sum())

    on = np.array([around(x0 + 10 * k) for k in range(41)])
    off = np.array([around(x0 + 10 * k + 5) for k in range(40)])
    assert off.max() < 0.5 * on.min()  # a line every millimetre, nothing between
    major, minor = on[::5], np.delete(on, np.s_[::5])
    assert minor.max() < 0.8 * major.min()  # every fifth line is heavier
    assert np.ptp(minor) < 0.01 * minor.mean() and np.ptp(major) < 0.01 * major.mean()


def test_paper_and_speed_and_gain() -> None:
    opts = RenderOptions(speed_mm_s=50.0, gain_mm_mv=20.0, dpi=100, paper_color="cream")
    sheet = render(synthetic_signal(), fs=FS, options=opts)
    meta = sheet.metadata
    ppm = meta["px_per_mm"]["x"]
    assert meta["duration_s"] == 5.0 and sheet.truth.shape == (2500, 12)  # 250 mm of paper
    panel = meta["panels"][0]
    assert (panel["start_s"], panel["end_s"]) == (0.0, 1.25)
    assert panel["box"][2] - panel["box"][0] == pytest.approx(1.25 * 50 * ppm)
    pulse = meta["calibration_pulses"][0]["box"]
    assert pulse[3] - pulse[1] == pytest.approx(20 * ppm)  # 1 mV at 20 mm/mV
    assert tuple(sheet.image[2, 2]) == (252, 248, 234)  # cream paper
    assert meta["footer"] == "50 mm/s   20 mm/mV"


def test_header_moves_rows_down_and_no_calibration() -> None:
    plain = render(synthetic_signal(), fs=FS, options=RenderOptions(dpi=50))
    headed = render(
        synthetic_signal(),
        fs=FS,
        options=RenderOptions(dpi=50, header="Name: test\nRate: 60 bpm", calibration=False),
    )
    assert headed.metadata["header"] == ["Name: test", "Rate: 60 bpm"]
    assert headed.metadata["grid"]["box"][1] > plain.metadata["grid"]["box"][1]
    assert headed.metadata["calibration_pulses"] == []
    top = round(headed.metadata["grid"]["box"][1])
    assert (ink_alpha(headed.image[:top]) > 0.5).any()  # the header text is printed


def test_degradations_are_deterministic_and_seeded() -> None:
    signal = synthetic_signal()
    opts = RenderOptions(dpi=60, degradations=ALL_DEGRADATIONS, seed=3)
    a = render(signal, fs=FS, options=opts)
    b = render(signal, fs=FS, options=opts)
    c = render(signal, fs=FS, options=replace(opts, seed=4))
    np.testing.assert_array_equal(a.image, b.image)
    assert a.metadata == b.metadata
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)
    assert a.metadata["homography"] != c.metadata["homography"]
    np.testing.assert_array_equal(a.truth, c.truth)  # the signal never changes


def test_each_degradation_changes_the_page() -> None:
    signal = synthetic_signal()
    clean = render(signal, fs=FS, options=RenderOptions(dpi=50)).image
    for field, value in {**vars(ALL_DEGRADATIONS), "black_white": True, "curl": 0.02}.items():
        d = replace(Degradations(), **{field: value})
        image = render(signal, fs=FS, options=RenderOptions(dpi=50, degradations=d)).image
        assert image.shape != clean.shape or not np.array_equal(image, clean), field
    bw = render(
        signal,
        fs=FS,
        options=RenderOptions(dpi=50, degradations=Degradations(black_white=True)),
    ).image
    assert set(np.unique(bw)) == {0, 255}
    dark = render(
        signal, fs=FS, options=RenderOptions(dpi=50, degradations=Degradations(lighting=0.5))
    ).image
    assert dark.mean() < clean.mean() - 10
    faded = render(
        signal, fs=FS, options=RenderOptions(dpi=50, degradations=Degradations(faded=0.6))
    ).image
    assert faded.min() > clean.min() + 60  # the darkest ink is paler


def test_homography_and_crop_map_the_page_into_the_image() -> None:
    signal = synthetic_signal()
    base = RenderOptions(dpi=60, grid_color="none")
    clean = render(signal, fs=FS, options=base)
    d = Degradations(rotation_deg=4.0, perspective=0.03, crop_fraction=0.1)
    warped = render(signal, fs=FS, options=replace(base, degradations=d, seed=7))
    meta = warped.metadata
    w, h = meta["page_size_px"]
    assert meta["image_size_px"] == [w - round(0.1 * w), h - round(0.1 * h)]
    cx, cy = meta["crop_offset"]
    assert 0 <= cx <= round(0.1 * w) and 0 <= cy <= round(0.1 * h)
    homography = np.array(meta["homography"])
    translate = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    np.testing.assert_allclose(meta["page_to_image"], translate @ homography)
    # Warping the clean page with page_to_image reproduces the degraded image.
    out_w, out_h = meta["image_size_px"]
    expected = cv2.warpPerspective(
        clean.image,
        np.array(meta["page_to_image"]),
        (out_w, out_h),
        flags=cv2.INTER_LINEAR,
        borderValue=(255, 255, 255),
    )
    diff = np.abs(expected.astype(int) - warped.image.astype(int))
    assert diff.mean() < 0.05 and np.percentile(diff, 99.9) <= 2
    # A point on the rhythm strip's level line lands on ink.
    panel = meta["panels"][-1]
    x = panel["x_start"] + 2.0 * 25 * meta["px_per_mm"]["x"]
    y = panel["baseline_y"] - signal[0, 1] * 10 * meta["px_per_mm"]["y"]
    p = np.array(meta["page_to_image"]) @ [x, y, 1.0]
    u, v = p[:2] / p[2]
    assert ink_alpha(warped.image)[round(v), round(u)] > 0.3


def test_write_sheet_round_trip(tmp_path: Path) -> None:
    signal = synthetic_signal()
    sheet = render(signal, fs=FS, options=RenderOptions(dpi=60))
    paths = write_sheet(sheet, tmp_path / "sheet.png")
    assert [p.name for p in paths] == ["sheet.png", "sheet.json", "sheet.dat", "sheet.hea"]
    rec = wfdb.rdrecord(str(tmp_path / "sheet"))
    assert rec.sig_name == list(LEAD_NAMES) and rec.fs == FS and rec.units == ["mV"] * 12
    np.testing.assert_allclose(
        rec.p_signal, expected_truth(signal, WINDOWS_3X4_II), atol=5e-4 + 1e-12
    )
    assert json.loads((tmp_path / "sheet.json").read_text()) == json.loads(
        json.dumps(sheet.metadata)
    )
    from PIL import Image

    with Image.open(tmp_path / "sheet.png") as im:
        np.testing.assert_array_equal(np.asarray(im), sheet.image)
        assert im.info["dpi"] == pytest.approx((60, 60), abs=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sheet.dat", "sheet.hea", "sheet.json", "sheet.png",
    ]  # fmt: skip


def test_write_sheet_jpeg_and_refuses_to_overwrite(tmp_path: Path) -> None:
    sheet = render(synthetic_signal(), fs=FS, options=RenderOptions(dpi=50))
    write_sheet(sheet, tmp_path / "s.jpg")
    assert (tmp_path / "s.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    (tmp_path / "t.json").write_text("keep")
    with pytest.raises(FileExistsError, match=r"t\.json already exists; pass --overwrite"):
        write_sheet(sheet, tmp_path / "t.png")
    assert not (tmp_path / "t.png").exists() and (tmp_path / "t.json").read_text() == "keep"
    write_sheet(sheet, tmp_path / "t.png", overwrite=True)
    assert (tmp_path / "t.json").read_text() != "keep"
    with pytest.raises(ValueError, match=r"unsupported image format '\.tif'"):
        write_sheet(sheet, tmp_path / "s.tif")


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    opts = RenderOptions(dpi=60, degradations=ALL_DEGRADATIONS, seed=11)
    for folder in ("a", "b"):
        write_sheet(render(synthetic_signal(), fs=FS, options=opts), tmp_path / folder / "x.png")
    for suffix in (".png", ".json", ".hea", ".dat"):
        a = (tmp_path / "a" / f"x{suffix}").read_bytes()
        assert a == (tmp_path / "b" / f"x{suffix}").read_bytes(), suffix


def test_ptbxl_round_trip(ptbxl_record, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = ptbxl_record(1)
    sheet = render_record(path, options=RenderOptions(dpi=60))
    assert sheet.metadata["record"] == "00001_hr"
    write_sheet(sheet, tmp_path / "p.png")
    source = wfdb.rdrecord(str(path))
    truth = wfdb.rdrecord(str(tmp_path / "p"))
    assert source.sig_name[3] == "AVR"  # upper case in PTB-XL
    expected = expected_truth(source.p_signal, WINDOWS_3X4_II)
    np.testing.assert_array_equal(np.isnan(truth.p_signal), np.isnan(expected))
    np.testing.assert_allclose(truth.p_signal, expected, atol=1e-9)  # both 1 µV resolution


def test_ptbdb_record_with_start(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "ptbdb" / "s0010_re"
    sheet = render_record(path, options=RenderOptions(dpi=50, start_s=20.0))
    assert sheet.fs == 1000.0 and sheet.truth.shape == (10000, 12)
    assert sheet.metadata["start_s"] == 20.0
    write_sheet(sheet, tmp_path / "s.png")
    source = wfdb.rdrecord(str(path), channel_names=["i", "ii", "v6"])
    truth = wfdb.rdrecord(str(tmp_path / "s"))
    assert truth.fs == 1000
    # I in the first column, II everywhere (rhythm), V6 in the last column; 1 µV storage.
    np.testing.assert_allclose(
        truth.p_signal[:2500, 0], source.p_signal[20000:22500, 0], atol=5e-4
    )
    assert np.isnan(truth.p_signal[2500:, 0]).all()
    np.testing.assert_allclose(truth.p_signal[:, 1], source.p_signal[20000:30000, 1], atol=5e-4)
    np.testing.assert_allclose(
        truth.p_signal[7500:, 11], source.p_signal[27500:30000, 2], atol=5e-4
    )
    assert np.isnan(truth.p_signal[:7500, 11]).all()


def test_record_errors(shared_data: Path, tmp_path: Path) -> None:
    ptbdb = shared_data / "ptbdb" / "s0010_re"
    with pytest.raises(RecordError) as exc:
        render_record(ptbdb, options=RenderOptions(dpi=50, start_s=30.0))
    assert str(exc.value) == (
        f"{ptbdb}: a 10 s page starting at 30 s ends after the record, which is 38.4 s long"
    )
    with pytest.raises(RecordError) as exc:
        render_record(tmp_path / "nothing")
    assert str(exc.value) == f"{tmp_path / 'nothing'}: no WFDB record here (missing nothing.hea)"
    wfdb.wrsamp(
        "three", fs=500, units=["mV"] * 3, sig_name=["I", "II", "V1"],
        p_signal=np.zeros((5000, 3)), fmt=["16"] * 3, write_dir=str(tmp_path),
    )  # fmt: skip
    with pytest.raises(RecordError) as exc:
        render_record(tmp_path / "three")
    assert str(exc.value) == (
        f"{tmp_path / 'three'}: missing lead(s) III, aVR, aVL, aVF, V2, V3, V4, V5, V6; "
        "found I, II, V1"
    )
    wfdb.wrsamp(
        "short", fs=500, units=["mV"] * 12, sig_name=list(LEAD_NAMES),
        p_signal=np.zeros((2500, 12)), fmt=["16"] * 12, write_dir=str(tmp_path),
    )  # fmt: skip
    with pytest.raises(RecordError) as exc:
        render_record(tmp_path / "short")
    assert str(exc.value) == f"{tmp_path / 'short'}: record is 5 s long; a page needs 10 s"


def test_option_errors() -> None:
    signal = synthetic_signal()
    with pytest.raises(LayoutError, match=r"^unknown layout '5x5'; expected one of 3x4, "):
        render(signal, fs=FS, options=RenderOptions(layout="5x5"))
    with pytest.raises(ValueError, match=r"unknown grid colour 'purple'"):
        render(signal, fs=FS, options=RenderOptions(grid_color="purple"))
    with pytest.raises(ValueError, match=r"degradation crop_fraction must be in \[0, 0.2\]"):
        render(signal, fs=FS, options=RenderOptions(degradations=Degradations(crop_fraction=0.5)))
    with pytest.raises(RecordError, match=r"^<array>: layout 3x4\+II needs lead\(s\) V6; found"):
        render(signal[:, :11], fs=FS, lead_names=LEAD_NAMES[:11])
    # Lead names are matched case-insensitively and unknown channels are ignored.
    names = [n.upper() for n in LEAD_NAMES] + ["vx"]
    sheet = render(
        np.c_[signal, signal[:, 0]], fs=FS, lead_names=names, options=RenderOptions(dpi=50)
    )
    np.testing.assert_array_equal(sheet.truth, expected_truth(signal, WINDOWS_3X4_II))
