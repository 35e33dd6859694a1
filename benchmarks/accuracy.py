"""Accuracy of the digitizer on sheets rendered from PTB-XL development records.

Run from the repository root::

    python -m benchmarks.accuracy [--first 1] [--last 400] [--sets clean,degraded] [--jobs 2]
                                  [--out benchmarks/out/accuracy] [--no-real]

For each record (PTB-XL 00001–00400 by default — the development split; 00401–00500 are
reserved for evaluation and refused here) and each set, a sheet is rendered with
:func:`ecgdigitize.render.render_record`, digitized with :func:`ecgdigitize.digitize` and scored
against the renderer's ground truth with the PhysioNet 2024 metrics
(:func:`ecgdigitize.metrics.score_signals`, alignment on). Sets:

- ``clean``: 3x4+II, 200 dpi, red grid, no degradation.
- ``degraded``: per record, seeded by its number: rotation in ±5°, Gaussian noise (σ 0–0.04),
  blur (σ 0–1.2 px), JPEG quality 60, grid colour drawn from all colours, black-and-white in
  one of six, 100–300 dpi.

Single-factor sets (3x4+II, red grid, 200 dpi unless the factor changes it; every random draw
is seeded by the set's name and the record's number, so a set is the same on every run):

- ``rotation``: ±15°. ``perspective``: corner jitter 3–8 % of the page (phone photo).
- ``noise``: Gaussian σ 0.02–0.06. ``blur``: σ 0.5–2 px. ``jpeg``: quality 40–70.
- ``grid-<colour>``: one set per grid colour (red, pink, orange, green, blue, black, grey,
  none); ``grid`` selects all eight.
- ``bw``: black-and-white threshold, grid colour drawn from all colours.
- ``faded``: 0.3–0.7. ``lighting``: uneven lighting 0.3–0.7. ``dpi``: 72–600 (log-uniform).
- ``crop``: 2–8 % of the width and height cut off random margins.
- ``curl``: mild page curl, lines bowing by 1–3 % of the page height at the sides.
- ``orientation``: the page turned by 90°, 180° or 270° (``np.rot90`` of the image).
- ``layout``: a layout drawn from all common layouts (3x4, 3x4 with 1–3 rhythm strips, 6x2,
  6x2+II, 12x1, Cabrera, Cabrera+II), auto-detected; the rate of correct detection is printed.
- ``combined``: photo-like, several at once: perspective 2–6 %, rotation ±5°, lighting 0.2–0.5,
  noise σ 0.01–0.03, blur σ 0.5–1.2 px, JPEG 50–80, 150–300 dpi, any grid colour but none.

``--sets factors`` selects every single-factor set and ``combined``; ``--sets all`` adds
``clean`` and ``degraded``.

Prints pooled SNR, SNR-median, KS, ASCI and WAD per set, per-lead SNR, and every failure with
its error message. The real clinical scans in ``../shared/data/real-scans`` (no ground truth)
are digitized too; their overlays are saved under ``--out`` for inspection, and the heart rate
from our lead II is printed beside the rate printed on the sheet where there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGDIGITIZE_SHARED", REPO.parent / "shared")) / "data"
RECORDS = SHARED / "ptbxl" / "records500" / "00000"
GRID_COLOURS = ("red", "pink", "orange", "green", "blue", "black", "grey")
METRICS = ("snr", "snr-median", "ks", "asci", "wad")


FACTOR_SETS = (
    "rotation",
    "perspective",
    "noise",
    "blur",
    "jpeg",
    *(f"grid-{c}" for c in ("red", "pink", "orange", "green", "blue", "black", "grey", "none")),
    "bw",
    "faded",
    "lighting",
    "dpi",
    "crop",
    "curl",
    "orientation",
    "layout",
    "combined",
)
ALL_SETS = ("clean", "degraded", *FACTOR_SETS)


def expand_sets(names: str) -> list[str]:
    """Set names from ``--sets``, with the groups ``grid``, ``factors`` and ``all`` expanded."""
    out: list[str] = []
    for name in names.split(","):
        if name == "all":
            group: tuple[str, ...] = ALL_SETS
        elif name == "factors":
            group = FACTOR_SETS
        elif name == "grid":
            group = tuple(f for f in FACTOR_SETS if f.startswith("grid-"))
        elif name in ALL_SETS:
            group = (name,)
        else:
            raise ValueError(
                f"unknown set {name!r}; expected one of {', '.join(ALL_SETS)}, grid, factors, all"
            )
        out.extend(g for g in group if g not in out)
    return out


def render_options(ecg_id: int, set_name: str):  # type: ignore[no-untyped-def]
    from ecgdigitize.config import Degradations, RenderOptions

    if set_name == "clean":
        return RenderOptions()
    if set_name == "degraded":
        rng = np.random.default_rng(1000 + ecg_id)
        bw = rng.random() < 1 / 6
        return RenderOptions(
            dpi=float(rng.choice([100, 150, 200, 250, 300])),
            grid_color=str(rng.choice(GRID_COLOURS)),
            seed=ecg_id,
            degradations=Degradations(
                rotation_deg=float(rng.uniform(-5, 5)),
                noise_std=float(rng.uniform(0, 0.04)),
                blur_sigma_px=float(rng.uniform(0, 1.2)),
                jpeg_quality=60,
                black_white=bool(bw),
            ),
        )
    if set_name not in FACTOR_SETS:
        raise ValueError(f"unknown set {set_name!r}; expected one of {', '.join(ALL_SETS)}")
    # One generator per (set, record): the draws of a set never depend on the other sets.
    rng = np.random.default_rng([zlib.crc32(set_name.encode()), ecg_id])
    u = rng.uniform
    if set_name.startswith("grid-"):
        return RenderOptions(grid_color=set_name[5:], seed=ecg_id)
    if set_name == "orientation":
        return RenderOptions(seed=ecg_id)  # turned after rendering (see quarter_turns)
    if set_name == "bw":
        return RenderOptions(
            grid_color=str(rng.choice((*GRID_COLOURS, "none"))),
            seed=ecg_id,
            degradations=Degradations(black_white=True),
        )
    if set_name == "dpi":
        return RenderOptions(dpi=round(float(np.exp(u(np.log(72), np.log(600))))), seed=ecg_id)
    if set_name == "layout":
        from ecgdigitize.config import LAYOUT_NAMES

        return RenderOptions(layout=str(rng.choice(LAYOUT_NAMES)), seed=ecg_id)
    if set_name == "combined":
        return RenderOptions(
            dpi=float(rng.choice([150, 200, 250, 300])),
            grid_color=str(rng.choice(GRID_COLOURS)),
            seed=ecg_id,
            degradations=Degradations(
                perspective=float(u(0.02, 0.06)),
                rotation_deg=float(u(-5, 5)),
                lighting=float(u(0.2, 0.5)),
                noise_std=float(u(0.01, 0.03)),
                blur_sigma_px=float(u(0.5, 1.2)),
                jpeg_quality=int(rng.integers(50, 81)),
            ),
        )
    single = {
        "rotation": lambda: Degradations(rotation_deg=float(u(-15, 15))),
        "perspective": lambda: Degradations(perspective=float(u(0.03, 0.08))),
        "noise": lambda: Degradations(noise_std=float(u(0.02, 0.06))),
        "blur": lambda: Degradations(blur_sigma_px=float(u(0.5, 2.0))),
        "jpeg": lambda: Degradations(jpeg_quality=int(rng.integers(40, 71))),
        "faded": lambda: Degradations(faded=float(u(0.3, 0.7))),
        "lighting": lambda: Degradations(lighting=float(u(0.3, 0.7))),
        "crop": lambda: Degradations(crop_fraction=float(u(0.02, 0.08))),
        "curl": lambda: Degradations(curl=float(u(0.01, 0.03))),
    }
    return RenderOptions(seed=ecg_id, degradations=single[set_name]())


def quarter_turns(ecg_id: int, set_name: str) -> int:
    """Counter-clockwise quarter turns applied to the rendered image (``orientation`` set)."""
    if set_name != "orientation":
        return 0
    rng = np.random.default_rng([zlib.crc32(b"orientation-turn"), ecg_id])
    return int(rng.integers(1, 4))


def run_one(args: tuple[int, str]) -> dict:  # type: ignore[type-arg]
    from ecgdigitize import metrics
    from ecgdigitize.config import LEAD_NAMES
    from ecgdigitize.pipeline import digitize
    from ecgdigitize.render import render_record

    ecg_id, set_name = args
    opts = render_options(ecg_id, set_name)
    sheet = render_record(RECORDS / f"{ecg_id:05d}_hr", options=opts)
    turns = quarter_turns(ecg_id, set_name)
    image = np.ascontiguousarray(np.rot90(sheet.image, turns)) if turns else sheet.image
    t0 = time.perf_counter()
    try:
        result = digitize(image)
    except Exception as exc:  # report every failure, never crash the benchmark
        return {"id": ecg_id, "set": set_name, "error": f"{type(exc).__name__}: {exc}"}
    seconds = time.perf_counter() - t0
    scores = metrics.score_signals(
        sheet.truth,
        result.signal,
        fs=sheet.fs,
        ref_leads=LEAD_NAMES,
        est_leads=result.lead_names,
        metrics=METRICS,
    )
    return {
        "id": ecg_id,
        "set": set_name,
        "seconds": seconds,
        "scores": scores,
        "layout": result.diagnostics.layout,
        "drawn_layout": opts.layout,
        "dpi": opts.dpi,
        "grid": opts.grid_color,
        "rotation": opts.degradations.rotation_deg,
        "turned": 90 * turns,
        "found_orientation": result.diagnostics.orientation_deg,
        "perspective_corrected": result.diagnostics.perspective_corrected,
        "curl_px": result.diagnostics.curl_px,
    }


# Heart rates printed on real sheets (read off the sheet's header by eye), in bpm.
PRINTED_RATE_BPM = {"fullScan.png": 44.0, "rotatedFullScan.png": 44.0}


def heart_rate_bpm(signal: np.ndarray, fs: float) -> float:
    """Heart rate from one lead: median R-R interval of its QRS peaks (NaN if under 3 beats).

    Peaks are the samples of largest absolute deviation from the median, at least 0.3 s apart
    and at least half as prominent as the largest complex.
    """
    from scipy.signal import find_peaks

    x = signal[np.isfinite(signal)]
    if x.size < fs:
        return float("nan")
    x = np.abs(x - np.median(x))
    peaks, _ = find_peaks(x, distance=max(1, round(0.3 * fs)), prominence=0.5 * float(x.max()))
    if peaks.size < 3:
        return float("nan")
    return float(60.0 * fs / np.median(np.diff(peaks)))


def real_scans(out: Path) -> list[str]:
    from ecgdigitize.config import LEAD_NAMES
    from ecgdigitize.pipeline import digitize

    lines = []
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((SHARED / "real-scans").glob("*/*")):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"):
            continue
        try:
            r = digitize(path, keep_overlay=True)
            r.save_overlay(out / f"{path.stem}_overlay.png", overwrite=True)
            d = r.diagnostics
            kept = sum(ld.kept for ld in d.leads)
            rate = heart_rate_bpm(r.signal[:, LEAD_NAMES.index("II")], r.fs)
            printed = PRINTED_RATE_BPM.get(path.name)
            rate_text = f"HR {rate:5.1f} bpm" + (
                f" (printed {printed:g})" if printed is not None else ""
            )
            lines.append(
                f"{path.name:24s} ok     {d.layout:12s} {kept:2d}/12 leads  "
                f"{d.px_per_mm_x:6.2f} px/mm  rot {d.rotation_deg:+.2f}  {rate_text}  "
                f"{'; '.join(d.warnings)}"
            )
        except Exception as exc:
            lines.append(f"{path.name:24s} error  {type(exc).__name__}: {exc}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--last", type=int, default=400)
    ap.add_argument(
        "--sets",
        default="clean,degraded",
        help="comma-separated sets (clean, degraded, rotation, perspective, ..., combined) or "
        "the groups grid, factors, all",
    )
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "accuracy")
    ap.add_argument("--no-real", action="store_true", help="skip the real scans")
    a = ap.parse_args(argv)
    if not 1 <= a.first <= a.last <= 400:
        ap.error("records must lie in 1..400 (401-500 are reserved for evaluation)")
    if not RECORDS.is_dir():
        print(f"shared data not found at {RECORDS}", file=sys.stderr)
        return 2
    try:
        sets = expand_sets(a.sets)
    except ValueError as exc:
        ap.error(str(exc))
    jobs = [(i, s) for s in sets for i in range(a.first, a.last + 1)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        results = list(pool.map(run_one, jobs, chunksize=4))
    wall = time.perf_counter() - t0

    from ecgdigitize.config import LEAD_NAMES

    print(
        f"# Digitizer accuracy: PTB-XL {a.first:05d}-{a.last:05d}, sets {', '.join(sets)} "
        f"({wall:.0f} s wall, {a.jobs} workers)\n"
    )
    print("| set | pages | failed | SNR dB | SNR-median dB | KS | ASCI | WAD mV | s/page |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in sets:
        ok = [r for r in results if r["set"] == s and "scores" in r]
        failed = [r for r in results if r["set"] == s and "error" in r]
        pooled = {
            m: float(np.nanmean([v for r in ok for v in r["scores"][m].values()]))
            if ok
            else float("nan")
            for m in METRICS
        }
        # Failed pages count as SNR 0 (the challenge's rule for a missing output).
        n_leads = 12 * (len(ok) + len(failed))
        snr_all = (
            (sum(v for r in ok for v in r["scores"]["snr"].values() if np.isfinite(v)) / n_leads)
            if n_leads
            else float("nan")
        )
        secs = np.median([r["seconds"] for r in ok]) if ok else float("nan")
        print(
            f"| {s} | {len(ok) + len(failed)} | {len(failed)} | {snr_all:.2f} | "
            f"{pooled['snr-median']:.2f} | {pooled['ks']:.3f} | {pooled['asci']:.3f} | "
            f"{pooled['wad']:.4f} | {secs:.2f} |"
        )
    geometry = []
    for s in sets:
        ok = [r for r in results if r["set"] == s and "scores" in r]
        if s == "orientation" and ok:
            right = sum(r["found_orientation"] == r["turned"] for r in ok)
            geometry.append(f"- orientation: turn found on {right}/{len(ok)} pages")
        if s == "layout" and ok:
            right = sum(r["layout"] == r["drawn_layout"] for r in ok)
            wrong = sorted(
                {f"{r['drawn_layout']} read as {r['layout']}" for r in ok}
                - {f"{r['layout']} read as {r['layout']}" for r in ok}
            )
            geometry.append(
                f"- layout: auto-detected on {right}/{len(ok)} pages"
                + (f" (misread: {'; '.join(wrong)})" if wrong else "")
            )
        if s == "curl" and ok:
            fixed = sum(r["curl_px"] > 0 for r in ok)
            geometry.append(f"- curl: straightened on {fixed}/{len(ok)} pages")
        if s in ("perspective", "combined") and ok:
            fixed = sum(bool(r["perspective_corrected"]) for r in ok)
            geometry.append(f"- {s}: perspective corrected on {fixed}/{len(ok)} pages")
    if geometry:
        print("\nGeometry:\n")
        print("\n".join(geometry))
    print("\nPer-lead SNR (dB):\n")
    print("| set | " + " | ".join(LEAD_NAMES) + " |")
    print("|---|" + "---|" * 12)
    for s in sets:
        ok = [r for r in results if r["set"] == s and "scores" in r]
        vals = [
            np.nanmean([r["scores"]["snr"][lead] for r in ok]) if ok else np.nan
            for lead in LEAD_NAMES
        ]
        print(f"| {s} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
    failures = [r for r in results if "error" in r]
    print(f"\nFailures: {len(failures)}")
    for r in failures:
        print(f"- {r['set']} {r['id']:05d}: {r['error']}")
    worst = sorted(
        (r for r in results if "scores" in r),
        key=lambda r: np.nanmean(list(r["scores"]["snr"].values())),
    )[:5]
    print("\nLowest-scoring pages:")
    for r in worst:
        print(
            f"- {r['set']} {r['id']:05d}: {np.nanmean(list(r['scores']['snr'].values())):.1f}"
            f" dB (dpi {r['dpi']:g}, grid {r['grid']}, rotation {r['rotation']:+.1f})"
        )
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    if not a.no_real:
        print(
            "\nReal clinical scans (no ground truth; overlays in "
            f"{a.out.relative_to(REPO) if a.out.is_relative_to(REPO) else a.out}):\n"
        )
        for line in real_scans(a.out):
            print("    " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
