"""Options shared by the commands that digitize (``extract``, ``batch``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..config import LAYOUT_NAMES

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("wfdb", "csv", "edf")


def _layout_option(value: str) -> str:
    from ..config import get_layout

    if value == "auto":
        return value
    try:
        return get_layout(value).name
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_DIGITIZE_OPTIONS = (
    click.option(
        "--layout",
        default="auto",
        show_default=True,
        callback=lambda ctx, param, v: _layout_option(v),
        help=f"Lead layout: auto or one of {', '.join(LAYOUT_NAMES)}.",
    ),
    click.option(
        "--speed",
        type=click.FloatRange(min=1, max=200),
        default=25.0,
        show_default=True,
        help="Paper speed, mm/s (not detected: give it for 50 mm/s sheets).",
    ),
    click.option(
        "--gain",
        type=click.FloatRange(min=0.5, max=100),
        default=10.0,
        show_default=True,
        help="Gain, mm/mV (a calibration pulse overrides a wrong one).",
    ),
    click.option(
        "--fs",
        type=click.FloatRange(min=50, max=10000),
        default=500.0,
        show_default=True,
        help="Output sampling rate, Hz.",
    ),
    click.option(
        "--dpi",
        type=click.FloatRange(min=10, max=2400),
        default=None,
        help="Resolution for PDF rasterisation (default 300) and the scale fallback "
        "when no grid is found.",
    ),
    click.option(
        "--keep-low-confidence",
        is_flag=True,
        help="Keep leads whose trace confidence is below threshold instead of NaN.",
    ),
)


def digitize_options(f: F) -> F:
    """Add --layout, --speed, --gain, --fs, --dpi and --keep-low-confidence to a command."""
    for option in reversed(_DIGITIZE_OPTIONS):
        f = option(f)
    return f
