"""``ecgdigitize render``: draw a paper ECG sheet (with ground truth) from a WFDB record."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import GRID_COLORS, PAPER_COLORS, PAPER_SIZES_MM


def _check_output(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    from ..render import sheet_paths

    try:
        sheet_paths(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


@click.command("render")
@click.argument("record", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_check_output,
    help="Sheet image (.png, .jpg or .jpeg). The ground truth is written beside it as "
    "<stem>.hea/.dat and the page description (boxes, scale) as <stem>.json.",
)
@click.option(
    "--layout",
    default="3x4+II",
    show_default=True,
    help="Lead layout: 3x4, 6x2, 12x1, 6x1 (limb leads) or cabrera; 3x4, 6x2 and cabrera "
    "with up to three rhythm strips (+II, +V1...).",
)
@click.option(
    "--dpi", type=click.FloatRange(10, 600), default=200.0, show_default=True, help="Resolution."
)
@click.option(
    "--paper", type=click.Choice(list(PAPER_SIZES_MM)), default="letter", show_default=True
)
@click.option(
    "--paper-color", type=click.Choice(list(PAPER_COLORS)), default="white", show_default=True
)
@click.option(
    "--grid-color", type=click.Choice(list(GRID_COLORS)), default="red", show_default=True
)
@click.option("--no-calibration", is_flag=True, help="Leave out the 1 mV calibration pulses.")
@click.option(
    "--start",
    "start_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Start of the page in the record, seconds.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the degradations.")
@click.option(
    "--header",
    multiple=True,
    help="A line of text printed above the grid (repeat for more lines).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=25.0,
    show_default=True,
    help="Paper speed, mm/s.",
)
@click.option(
    "--gain",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Gain, mm/mV.",
)
@click.option(
    "--rotate",
    type=click.FloatRange(-180, 180),
    default=0.0,
    help="Rotate the page about its centre, degrees (counter-clockwise).",
)
@click.option(
    "--perspective",
    type=click.FloatRange(0, 0.2),
    default=0.0,
    help="Random perspective warp, fraction of the page size.",
)
@click.option(
    "--noise", type=click.FloatRange(0, 1), default=0.0, help="Gaussian noise std (0-1 scale)."
)
@click.option(
    "--blur", type=click.FloatRange(0, 50), default=0.0, help="Gaussian blur sigma, pixels."
)
@click.option(
    "--jpeg-quality", type=click.IntRange(1, 100), default=None, help="Re-encode as JPEG."
)
@click.option(
    "--lighting", type=click.FloatRange(0, 1), default=0.0, help="Uneven lighting strength."
)
@click.option("--black-white", is_flag=True, help="Threshold to pure black and white.")
@click.option("--faded", type=click.FloatRange(0, 1), default=0.0, help="Fade ink and grid (0-1).")
@click.option(
    "--crop",
    type=click.FloatRange(0, 0.2),
    default=0.0,
    help="Cut this fraction of the width/height off random margins.",
)
@click.option(
    "--curl",
    type=click.FloatRange(0, 0.1),
    default=0.0,
    help="Page curl: lines bow by this fraction of the page height at the sides.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def render(
    record: Path,
    output: Path,
    layout: str,
    dpi: float,
    paper: str,
    paper_color: str,
    grid_color: str,
    no_calibration: bool,
    start_s: float,
    seed: int,
    header: tuple[str, ...],
    speed: float,
    gain: float,
    rotate: float,
    perspective: float,
    noise: float,
    blur: float,
    jpeg_quality: int | None,
    lighting: float,
    black_white: bool,
    faded: float,
    crop: float,
    curl: float,
    overwrite: bool,
) -> None:
    """Draw a paper ECG sheet from the WFDB RECORD, with its ground truth.

    Writes the image, the signal exactly as drawn (NaN outside each lead's window) as a WFDB
    record beside it, and a JSON description of the page (scale, panel boxes, baselines,
    calibration pulses, degradations).
    """
    from ..config import Degradations, RenderOptions
    from ..io.atomic import check_writable
    from ..render import render_record, sheet_paths, write_sheet

    options = RenderOptions(
        layout=layout,
        dpi=dpi,
        paper=paper,
        paper_color=paper_color,
        grid_color=grid_color,
        calibration=not no_calibration,
        start_s=start_s,
        seed=seed,
        header="\n".join(header) if header else None,
        speed_mm_s=speed,
        gain_mm_mv=gain,
        degradations=Degradations(
            rotation_deg=rotate,
            perspective=perspective,
            noise_std=noise,
            blur_sigma_px=blur,
            jpeg_quality=jpeg_quality,
            lighting=lighting,
            black_white=black_white,
            faded=faded,
            crop_fraction=crop,
            curl=curl,
        ),
    )
    check_writable(list(sheet_paths(output)), overwrite=overwrite)
    sheet = render_record(record, options=options)
    image, json_path, _, hea = write_sheet(sheet, output, overwrite=overwrite)
    h, w = sheet.image.shape[:2]
    click.echo(
        f"{image}: {sheet.metadata['layout']} sheet, {w}x{h} px at {dpi:g} dpi; "
        f"ground truth {hea.with_suffix('')}, metadata {json_path}"
    )
