"""Configuration: lead names, lead layouts and the option dataclasses.

All configuration is held in frozen dataclasses passed explicitly to the functions that need
it; there is no global state. Physical conventions (../docs/conventions.md): paper speed 25 mm/s,
gain 10 mm/mV, minor grid 1 mm, major grid 5 mm, a page shows 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LEAD_NAMES: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip
"""The 12 standard leads in their conventional order (the channel order of every output)."""

_LEAD_LOOKUP = {name.lower(): name for name in LEAD_NAMES}

PAGE_DURATION_S = 10.0
"""Seconds of signal shown across the width of a standard page (at 25 mm/s or slower)."""

MAX_SIGNAL_WIDTH_MM = 250.0
"""Width of the signal area of a page: 10 s at 25 mm/s."""


def page_duration_s(speed_mm_s: float) -> float:
    """Seconds of signal on one page at `speed_mm_s` (10 s up to 25 mm/s, fewer above:
    5 s at 50 mm/s)."""
    return min(PAGE_DURATION_S, MAX_SIGNAL_WIDTH_MM / speed_mm_s)


def canonical_lead_name(name: str) -> str:
    """Return the standard spelling of a lead name, matched case-insensitively.

    Parameters
    ----------
    name : str
        A lead name such as ``"avr"``, ``"AVR"`` or ``"v1"``.

    Returns
    -------
    str
        The standard spelling, e.g. ``"aVR"``.

    Raises
    ------
    ValueError
        If `name` is not one of the 12 standard leads.
    """
    try:
        return _LEAD_LOOKUP[name.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown lead name {name!r}; expected one of {', '.join(LEAD_NAMES)}"
        ) from None


@dataclass(frozen=True)
class LeadPanel:
    """Where one lead is drawn on a page.

    Attributes
    ----------
    lead : str
        Standard lead name.
    row, column : int
        Zero-based row (from the top) and column (from the left) of the panel.
    start_s, duration_s : float
        Time window of the record shown in the panel, in seconds from the page start.
    inverted : bool
        True when the lead is drawn upside down (``-aVR`` in the Cabrera sequence).
    rhythm : bool
        True for a full-width rhythm strip below the lead grid.
    """

    lead: str
    row: int
    column: int
    start_s: float
    duration_s: float
    inverted: bool = False
    rhythm: bool = False

    @property
    def label(self) -> str:
        """The label printed on the sheet (``-aVR`` for an inverted aVR)."""
        return f"-{self.lead}" if self.inverted else self.lead

    @property
    def end_s(self) -> float:
        """End of the time window, in seconds from the page start."""
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Layout:
    """A lead layout: which lead is drawn in which row, column and time window."""

    name: str
    panels: tuple[LeadPanel, ...]

    @property
    def n_rows(self) -> int:
        return 1 + max(p.row for p in self.panels)

    @property
    def n_columns(self) -> int:
        """Columns of the short-lead grid (rhythm strips span them all)."""
        return 1 + max(p.column for p in self.panels)

    def row_panels(self, row: int) -> tuple[LeadPanel, ...]:
        """Panels of one row, left to right."""
        return tuple(sorted((p for p in self.panels if p.row == row), key=lambda p: p.column))

    @property
    def rhythm_leads(self) -> tuple[str, ...]:
        """Leads drawn as full-width rhythm strips below the lead grid, top to bottom."""
        return tuple(p.lead for p in self.panels if p.rhythm)


# Grids of leads: rows top to bottom, columns left to right. A leading "-" marks inversion.
_GRIDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "3x4": (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")),
    "6x2": (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6")),
    "12x1": tuple((lead,) for lead in LEAD_NAMES),
    # The six limb leads only, one per row over the whole page (chest leads not recorded).
    "6x1": tuple((lead,) for lead in LEAD_NAMES[:6]),
    # Cabrera sequence (aVL, I, -aVR, II, aVF, III) in the 6x2 arrangement.
    "cabrera": (
        ("aVL", "V1"), ("I", "V2"), ("-aVR", "V3"), ("II", "V4"), ("aVF", "V5"), ("III", "V6"),
    ),
}  # fmt: skip

LAYOUT_NAMES: tuple[str, ...] = (
    "3x4",
    "3x4+II",
    "3x4+II+V1",
    "3x4+V1+II+V5",
    "6x2",
    "6x2+II",
    "12x1",
    "6x1",
    "cabrera",
    "cabrera+II",
)
"""Common layouts. Any ``GRID+LEAD[+LEAD[+LEAD]]`` (up to three rhythm strips) is also accepted,
where GRID is one of ``3x4``, ``6x2``, ``cabrera``. ``6x1`` holds the six limb leads only."""

MAX_RHYTHM_STRIPS = 3


def get_layout(name: str, *, page_duration_s: float = PAGE_DURATION_S) -> Layout:
    """Build the :class:`Layout` called `name`.

    Parameters
    ----------
    name : str
        ``3x4``, ``6x2``, ``12x1``, ``6x1`` (limb leads only) or ``cabrera``; ``3x4``, ``6x2``
        and ``cabrera`` optionally followed by up to three rhythm strips as ``+LEAD`` (e.g.
        ``3x4+II``, ``3x4+V1+II+V5``). Case-insensitive.
    page_duration_s : float
        Seconds shown across the page width.

    Returns
    -------
    Layout

    Raises
    ------
    ValueError
        If the name is not a known layout; the message lists the allowed names.
    """
    parts = [p.strip() for p in name.strip().split("+")]
    grid_name = parts[0].lower()
    allowed = f"expected one of {', '.join(LAYOUT_NAMES)} (or GRID+LEAD[+LEAD[+LEAD]])"
    if grid_name not in _GRIDS:
        raise ValueError(f"unknown layout {name!r}; {allowed}")
    rhythm = parts[1:]
    if len(rhythm) > MAX_RHYTHM_STRIPS or (rhythm and grid_name in ("12x1", "6x1")):
        raise ValueError(f"unknown layout {name!r}; {allowed}")
    try:
        rhythm = [canonical_lead_name(r) for r in rhythm]
    except ValueError as exc:
        raise ValueError(f"unknown layout {name!r}: {exc}") from None

    grid = _GRIDS[grid_name]
    n_cols = len(grid[0])
    col_s = page_duration_s / n_cols
    panels: list[LeadPanel] = []
    for r, row in enumerate(grid):
        for c, label in enumerate(row):
            inverted = label.startswith("-")
            panels.append(LeadPanel(label.lstrip("-"), r, c, c * col_s, col_s, inverted=inverted))
    for k, lead in enumerate(rhythm):
        panels.append(LeadPanel(lead, len(grid) + k, 0, 0.0, page_duration_s, rhythm=True))
    canonical = "+".join([grid_name, *rhythm])
    return Layout(canonical, tuple(panels))


GRID_COLORS: tuple[str, ...] = ("red", "pink", "orange", "green", "blue", "black", "grey", "none")
PAPER_SIZES_MM: dict[str, tuple[float, float]] = {
    "letter": (279.4, 215.9),  # landscape width, height
    "a4": (297.0, 210.0),
}
PAPER_COLORS: tuple[str, ...] = ("white", "cream")


@dataclass(frozen=True)
class Degradations:
    """Seeded image degradations applied to a rendered sheet (all off by default).

    Attributes
    ----------
    rotation_deg : float
        Rotation of the page in degrees (counter-clockwise positive).
    perspective : float
        Strength of a random perspective warp, as a fraction of the page size (0–0.2).
    noise_std : float
        Standard deviation of additive Gaussian noise on [0, 1] intensities.
    blur_sigma_px : float
        Gaussian blur sigma in pixels.
    jpeg_quality : int or None
        Re-encode the page as JPEG at this quality (1–100).
    lighting : float
        Strength of an uneven lighting gradient / shadow (0–1).
    black_white : bool
        Threshold the page to pure black and white (a fax-like scan).
    faded : float
        Fade the ink and grid towards the paper colour (0–1, thermal paper).
    crop_fraction : float
        Cut this fraction of the page width/height off random margins (0–0.2).
    curl : float
        Mild page curl (0–0.1): lines bow vertically, by this fraction of the page height at
        the left and right edges, more towards the bottom of the page (paper bent about a
        vertical axis, as a sheet lifting at its sides on a scanner or under a camera).
    """

    rotation_deg: float = 0.0
    perspective: float = 0.0
    noise_std: float = 0.0
    blur_sigma_px: float = 0.0
    jpeg_quality: int | None = None
    lighting: float = 0.0
    black_white: bool = False
    faded: float = 0.0
    crop_fraction: float = 0.0
    curl: float = 0.0


@dataclass(frozen=True)
class RenderOptions:
    """Options of :func:`ecgdigitize.render`.

    ``paper_color`` is ``"white"`` or ``"cream"``; the other fields are documented in
    :func:`ecgdigitize.render.render`.
    """

    layout: str = "3x4+II"
    dpi: float = 200.0
    paper: str = "letter"
    grid_color: str = "red"
    calibration: bool = True
    start_s: float = 0.0
    seed: int = 0
    header: str | None = None
    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    degradations: Degradations = field(default_factory=Degradations)
    paper_color: str = "white"


@dataclass(frozen=True)
class DigitizeOptions:
    """Options of :func:`ecgdigitize.digitize`.

    Attributes
    ----------
    layout : str
        ``"auto"`` or a layout name accepted by :func:`get_layout`.
    speed_mm_s, gain_mm_mv : float
        Paper speed and gain the sheet was printed with.
    fs : float
        Sampling rate of the output signal, Hz.
    dpi : float or None
        Resolution of the image, used only when neither the grid nor a calibration pulse gives
        the scale. ``None`` reads it from the file when the file records it.
    keep_low_confidence : bool
        Keep leads whose trace confidence is below ``min_confidence`` instead of blanking them.
    min_confidence : float
        Leads below this confidence (0–1) are set to NaN with a warning.
    max_pixels : int
        Refuse images with more pixels than this (memory guard).
    """

    layout: str = "auto"
    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    fs: float = 500.0
    dpi: float | None = None
    keep_low_confidence: bool = False
    min_confidence: float = 0.3
    max_pixels: int = 40_000_000
