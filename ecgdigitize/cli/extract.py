"""``ecgdigitize extract``: digitize a scanned ECG sheet into a WFDB record."""

from __future__ import annotations

from pathlib import Path

import click

from .options import FORMATS, digitize_options

_SUFFIXES = {"wfdb": (".hea", ".dat"), "csv": (".csv",), "edf": (".edf",)}


@click.command()
@digitize_options
@click.argument("image", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output record path without extension (OUT.hea + OUT.dat). A multi-page "
    "PDF gives OUT_p1, OUT_p2, ...",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="wfdb",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--overlay",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the QA overlay image (PNG) here.",
)
@click.option("--json", "json_out", is_flag=True, help="Also write diagnostics to OUT.json.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def extract(
    image: Path,
    out: Path,
    layout: str,
    speed: float,
    gain: float,
    fs: float,
    dpi: float | None,
    fmt: str,
    overlay: Path | None,
    json_out: bool,
    keep_low_confidence: bool,
    overwrite: bool,
) -> None:
    """Digitize a paper ECG (PNG, JPEG, TIFF, BMP or PDF) into a 12-lead record.

    The record holds the leads I, II, III, aVR, aVL, aVF, V1-V6 in mV at --fs, over the
    page (10 s at 25 mm/s); each lead has values in the time window where it was drawn and
    NaN elsewhere.
    """
    from ..config import DigitizeOptions
    from ..io.atomic import check_writable
    from ..io.image import read_pages
    from ..pipeline import digitize_page, output_names

    options = DigitizeOptions(
        layout=layout,
        speed_mm_s=speed,
        gain_mm_mv=gain,
        fs=fs,
        dpi=dpi,
        keep_low_confidence=keep_low_confidence,
    )
    pages = read_pages(image, pdf_dpi=dpi or 300.0, max_pixels=options.max_pixels)
    names = output_names(out, len(pages))
    overlays = output_names(overlay.with_suffix(""), len(pages)) if overlay else []
    # Refuse before doing any work if anything would be overwritten.
    planned = [n.with_name(n.name + s) for n in names for s in _SUFFIXES[fmt]]
    planned += [n.with_name(n.name + ".json") for n in names] if json_out else []
    planned += [o.with_name(o.name + ".png") for o in overlays]
    check_writable(planned, overwrite=overwrite)

    for k, (page, name) in enumerate(zip(pages, names, strict=True)):
        result = digitize_page(page, options, keep_overlay=overlay is not None)
        writer = {"wfdb": result.to_wfdb, "csv": result.to_csv, "edf": result.to_edf}[fmt]
        written = writer(name, overwrite=overwrite)
        if json_out:
            from ..io.atomic import atomic_directory, commit_files

            target = name.with_name(name.name + ".json")
            with atomic_directory(target.parent) as tmp:
                (tmp / target.name).write_text(result.diagnostics_json(), encoding="utf-8")
                commit_files(tmp, [target.name], target.parent)
            written.append(target)
        if overlay is not None:
            written.append(
                result.save_overlay(
                    overlays[k].with_name(overlays[k].name + ".png"), overwrite=overwrite
                )
            )
        d = result.diagnostics
        kept = sum(ld.kept for ld in d.leads)
        click.echo(
            f"{page.label}: {d.layout} ({d.layout_source}), {kept}/12 leads, "
            f"{d.px_per_mm_x:.2f} px/mm ({d.scale_source}), calibration "
            f"{d.calibration_source} -> {', '.join(str(w) for w in written)}"
        )
        for warning in d.warnings:
            click.echo(f"warning: {page.label}: {warning}", err=True)
