"""Draw the pictures of ``docs/pipeline.md``: every stage of the pipeline on one sheet.

Run from the repository root::

    MPLBACKEND=Agg OMP_NUM_THREADS=1 python docs/make_figures.py [--sheet PNG] [--out docs/img]

The sheet (default ``examples/ptbxl_00010.png``, with its ground truth ``ptbxl_00010.hea``) is
taken through the stages in the order :func:`ecgdigitize.pipeline.digitize` runs them (the
stage calls below mirror ``pipeline._digitize``) and each intermediate result is drawn:

- ``original.png``: the input sheet;
- ``ink.png``: a detail of the deskewed page and of its ink map, where the red grid vanishes;
- ``grid.png``: the autocorrelation of the page's column profile, with the detected pitch;
- ``mask.png``: the binary trace mask after Otsu's threshold and the grid-removal loop;
- ``layout.png``: rows, their search bands, calibration pulses and the lead panel boxes;
- ``overlay.png`` and ``overlay_detail.png``: the QA overlay that ``extract --overlay`` writes;
- ``score.png``: lead II digitized against the ground truth, with its PhysioNet 2024 scores.

Pictures of whole pages are downscaled and stored with a reduced palette so that all of them
together stay small (about 1 MB). The output is deterministic.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ecgdigitize.layout import PanelBox, Row

REPO = Path(__file__).resolve().parents[1]
PAGE_WIDTH_PX = 1000  # width of the whole-page pictures
DETAIL = (slice(95, 425), slice(60, 760))  # rows, columns of the detail crops (200 dpi sheet)
LEAD = "II"  # the lead compared with the ground truth


def _save_page(image: np.ndarray, path: Path, *, colours: int = 128) -> Path:
    """Write an RGB (or gray) uint8 image as a palette PNG, downscaled to PAGE_WIDTH_PX."""
    import cv2
    from PIL import Image

    if image.shape[1] > PAGE_WIDTH_PX:
        h = round(image.shape[0] * PAGE_WIDTH_PX / image.shape[1])
        image = cv2.resize(image, (PAGE_WIDTH_PX, h), interpolation=cv2.INTER_AREA)
    pil = Image.fromarray(np.ascontiguousarray(image))
    if pil.mode == "RGB":
        pil = pil.quantize(colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    pil.save(path, optimize=True)
    return path


def _save_figure(fig: Figure, path: Path) -> Path:
    """Save a matplotlib figure without the version stamp (byte-stable output)."""
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def _ink_figure(rgb: np.ndarray, ink: np.ndarray, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.imshow(rgb[DETAIL], interpolation="nearest")
    left.set_title("deskewed page (detail)")
    right.imshow(ink[DETAIL], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    right.set_title("ink map 1 − max(R, G, B), background flattened")
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    return _save_figure(fig, path)


def _grid_figure(darkness: np.ndarray, px_per_mm: float, path: Path) -> Path:
    from matplotlib.figure import Figure
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import correlate

    profile = darkness.mean(axis=0, dtype=np.float64)
    x = profile - uniform_filter1d(profile, size=round(25 * px_per_mm), mode="nearest")
    acf = correlate(x, x, mode="full", method="fft")[x.size - 1 :]
    acf /= np.arange(x.size, 0, -1)  # unbiased: divide by the overlap
    acf /= acf[0]
    lags = np.arange(acf.size)
    shown = lags <= 12 * px_per_mm

    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(lags[shown], acf[shown], color="black", lw=1)
    for k in range(1, 13):
        major = k % 5 == 0
        ax.axvline(
            k * px_per_mm,
            color="tab:red",
            lw=1.2 if major else 0.6,
            ls="-" if major else ":",
            label=("5 mm" if k == 5 else "1 mm multiples" if k == 1 else None),
        )
    ax.set_xlabel("lag (pixels)")
    ax.set_ylabel("autocorrelation")
    ax.set_title(
        f"column profile of the page: grid pitch {px_per_mm:.3f} px/mm "
        f"(a 200-dpi page has {200 / 25.4:.3f})"
    )
    ax.legend(loc="upper right")
    ax.set_xlim(0, lags[shown][-1])
    return _save_figure(fig, path)


def _layout_figure(mask: np.ndarray, rows: list[Row], boxes: list[PanelBox], path: Path) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    h, w = mask.shape
    fig = Figure(figsize=(10, 10 * h / w + 0.4), layout="constrained")
    ax = fig.subplots()
    ax.imshow(mask, cmap="gray_r", vmin=0, vmax=2.5, interpolation="antialiased")
    baselines = [row.baseline_y for row in rows]
    spacing = float(np.median(np.diff(baselines))) if len(rows) > 1 else 0.2 * h
    colours = ("tab:purple", "tab:orange")
    for i, row in enumerate(rows):
        ax.axhline(
            row.baseline_y, color="tab:green", lw=0.8, label="row baseline" if i == 0 else None
        )
        ax.plot(
            [row.x_start, row.x_end],
            [row.baseline_y] * 2,
            "|",
            color="tab:blue",
            ms=14,
            mew=1.5,
            label="signal start and end" if i == 0 else None,
        )
        if row.pulse is not None:
            p = row.pulse
            ax.add_patch(
                Rectangle(
                    (p.x0 - 5, p.top_y - 5),
                    p.x1 - p.x0 + 10,
                    p.foot_y - p.top_y + 10,
                    fill=False,
                    color="tab:red",
                    lw=1.5,
                    label="calibration pulse" if i == 0 else None,
                )
            )
    for box in boxes:
        row = rows[box.row_index]
        half = 0.42 * spacing
        colour = "tab:cyan" if box.panel.rhythm else colours[box.panel.column % 2]
        ax.add_patch(
            Rectangle(
                (box.x0, row.baseline_y - half),
                box.x1 - box.x0,
                2 * half,
                fill=False,
                color=colour,
                lw=1.2,
            )
        )
        ax.text(
            box.x0 + 12,
            row.baseline_y + half - 12,
            f"{box.panel.label}  {box.panel.start_s:g}–{box.panel.end_s:g} s",
            color=colour,
            fontsize=9,
            fontweight="bold",
        )
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="lower right", ncols=3, fontsize=9)
    return _save_figure(fig, path)


def _score_figure(reference: np.ndarray, estimate: np.ndarray, fs: float, path: Path) -> Path:
    from matplotlib.figure import Figure

    from ecgdigitize import metrics

    al = metrics.align(reference, estimate, fs=fs)
    aligned = al.apply(estimate)
    values = {
        "SNR": (metrics.snr(reference, estimate, fs=fs), "dB"),
        "KS": (metrics.ks(reference, estimate, fs=fs), ""),
        "ASCI": (metrics.asci(reference, estimate, fs=fs), ""),
        "WAD": (metrics.wad(reference, estimate, fs=fs), "mV"),
    }
    t = np.arange(reference.size) / fs
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    axes = fig.subplot_mosaic([["top", "top"], ["zoom", "err"]])
    top, zoom, err = axes["top"], axes["zoom"], axes["err"]
    top.plot(t, reference, color="black", lw=1.0, label="ground truth")
    top.plot(t, aligned, color="tab:blue", lw=0.8, alpha=0.9, label="digitized (aligned)")
    top.set_xlim(0, t[-1])
    top.set_ylabel("mV")
    top.legend(loc="upper right", ncols=2)
    summary = ", ".join(f"{k} {v:.3g}{(' ' + u) if u else ''}" for k, (v, u) in values.items())
    top.set_title(
        f"lead {LEAD} (10 s rhythm strip): {summary}; lag {al.lag_samples / fs * 1000:.0f} ms, "
        f"offset {al.offset_mv * 1000:.0f} µV"
    )
    peak = int(np.nanargmax(np.abs(reference)))
    window = (t >= t[peak] - 0.4) & (t <= t[peak] + 0.6)
    zoom.plot(t[window], reference[window], color="black", lw=1.2, label="ground truth")
    zoom.plot(t[window], aligned[window], color="tab:blue", lw=1.0, label="digitized")
    zoom.set_title("one beat (1 s)")
    zoom.set_xlabel("time (s)")
    zoom.set_ylabel("mV")
    err.plot(t, (aligned - reference) * 1000, color="tab:red", lw=0.6)
    err.set_xlim(0, t[-1])
    err.set_title("digitized − ground truth")
    err.set_xlabel("time (s)")
    err.set_ylabel("µV")
    return _save_figure(fig, path)


def make_figures(sheet: Path, out: Path) -> list[Path]:
    """Write every picture for `sheet` into `out`; return their paths."""
    import matplotlib

    matplotlib.use("Agg")

    import ecgdigitize
    from ecgdigitize.binarize import binarize
    from ecgdigitize.grid import estimate_grid_pitch
    from ecgdigitize.io.image import read_pages
    from ecgdigitize.io.wfdb import read_record, standard_leads
    from ecgdigitize.layout import analyse_rows, infer_layout, place_panels
    from ecgdigitize.preprocess import preprocess

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    page = read_pages(sheet)[0]
    w = page.rgb.shape[1]
    written.append(_save_page(page.rgb, out / "original.png"))

    # The stages, called as pipeline._digitize calls them with the default options.
    options = ecgdigitize.DigitizeOptions()
    pre = preprocess(page.rgb)
    written.append(_ink_figure(pre.rgb, pre.ink, out / "ink.png"))
    pitch = estimate_grid_pitch(1.0 - pre.gray, prior_mm_px=w / 280.0)
    written.append(_grid_figure(1.0 - pre.gray, pitch.px_per_mm_x, out / "grid.png"))
    tm = binarize(pre.ink, px_per_mm_x=pitch.px_per_mm_x, px_per_mm_y=pitch.px_per_mm_y)
    written.append(_save_page(np.where(tm.mask, 0, 255).astype(np.uint8), out / "mask.png"))
    rows = analyse_rows(
        tm.mask,
        px_per_mm_x=pitch.px_per_mm_x,
        px_per_mm_y=pitch.px_per_mm_y,
        gain_mm_mv=options.gain_mm_mv,
    )
    layout = infer_layout(len(rows))
    boxes = place_panels(
        rows, layout, px_per_mm_x=pitch.px_per_mm_x, speed_mm_s=options.speed_mm_s
    )
    written.append(_layout_figure(tm.mask, rows, boxes, out / "layout.png"))

    # The whole pipeline, and its QA overlay.
    result = ecgdigitize.digitize(sheet, options, keep_overlay=True)
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        full = result.save_overlay(Path(tmp) / "overlay.png")
        overlay = np.asarray(Image.open(full).convert("RGB"))
    written.append(_save_page(overlay, out / "overlay.png"))
    detail = Image.fromarray(np.ascontiguousarray(overlay[DETAIL]))
    detail = detail.quantize(128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    detail.save(out / "overlay_detail.png", optimize=True)
    written.append(out / "overlay_detail.png")

    # One lead against the ground truth written beside the sheet by `ecgdigitize render`.
    truth = standard_leads(read_record(sheet.with_suffix("")))
    j = ecgdigitize.LEAD_NAMES.index(LEAD)
    written.append(_score_figure(truth[:, j], result.signal[:, j], result.fs, out / "score.png"))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sheet", type=Path, default=REPO / "examples" / "ptbxl_00010.png")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    paths = make_figures(args.sheet, args.out)
    total = sum(p.stat().st_size for p in paths)
    for p in paths:
        print(f"{p}  {p.stat().st_size / 1e3:6.0f} kB")
    print(f"total {total / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
