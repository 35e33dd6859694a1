"""Lead identification: which layout a page has and which lead each rhythm strip shows.

A rhythm strip repeats, over the time window of one column, exactly the signal of the short
panel of the same lead in the lead grid above it (both are the same 10 s of the same record).
Correlating each rhythm strip with every panel over that panel's window therefore names the
strip's lead, and tells a 3x4 page with three rhythm strips from a 6x2 page (both have six
rows): on a 6x2 page no such match exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import LEAD_NAMES, MAX_RHYTHM_STRIPS, PAGE_DURATION_S, Layout, get_layout
from .errors import LayoutError

MATCH_THRESHOLD = 0.9
"""Rank correlation above which a rhythm strip is taken to repeat a panel."""

FAIR_MATCH = 0.5
"""Lower bar for naming a strip by its best panel once the page is known to have strips (six
rows that are not a 6x2 page)."""

CONVENTIONAL_RHYTHM_LEADS: dict[int, tuple[str, ...]] = {
    0: (),
    1: ("II",),
    2: ("V1", "II"),
    3: ("V1", "II", "V5"),
}
"""Rhythm leads assumed, top to bottom, for strips that match no panel (common cart
conventions, e.g. GE MAC: V1, II, V5). A conventional lead that another strip already matched
is replaced by the first of II, V1, V5 (then I to V6) not yet shown."""


@dataclass(frozen=True)
class LayoutGuess:
    """The inferred layout and the evidence for each rhythm strip.

    Attributes
    ----------
    layout : Layout
    rhythm_scores : tuple of float
        For each rhythm strip, the correlation with the panel it matched (NaN when the strip's
        lead was assumed, not matched).
    """

    layout: Layout
    rhythm_scores: tuple[float, ...]


def _window_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two windows: Spearman's rank correlation over the samples where both are
    finite (robust to the odd stray point a trace follower picks up at a row's end), minus the
    absolute log ratio of their interquartile ranges."""
    from scipy.stats import rankdata

    m = np.isfinite(a) & np.isfinite(b)
    if m.sum() < 20:
        return float("nan")
    ra, rb = rankdata(a[m]), rankdata(b[m])
    x, y = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
    if den <= 0:
        return float("nan")
    # The same lead printed twice also has the same amplitude: penalise unequal spreads.
    qa = np.subtract(*np.percentile(a[m], [75, 25]))
    qb = np.subtract(*np.percentile(b[m], [75, 25]))
    spread = abs(float(np.log(qa / qb))) if qa > 0 and qb > 0 else 0.0
    return float(np.dot(x, y) / den) - spread


def match_rhythm_strip(
    strip: np.ndarray, grid_rows: list[np.ndarray], grid: Layout
) -> tuple[str, float]:
    """Name the lead of a rhythm strip by matching it against the panels of `grid`.

    Parameters
    ----------
    strip : 1-D array
        The strip's signal over the page (any fixed rate), NaN where not recovered.
    grid_rows : list of 1-D arrays
        The signals of the grid rows, same rate and length as `strip`.
    grid : Layout
        The lead grid (without rhythm strips) the rows follow.

    Returns
    -------
    (lead, correlation)
        The best-matching panel's lead, and the correlation (NaN if nothing could be compared).
    """
    n = strip.size
    best, best_lead = -np.inf, ""
    for panel in grid.panels:
        k0 = round(panel.start_s / PAGE_DURATION_S * n)
        k1 = round(panel.end_s / PAGE_DURATION_S * n)
        row = grid_rows[panel.row][k0:k1]
        c = _window_corr(strip[k0:k1], -row if panel.inverted else row)
        if np.isfinite(c) and c > best:
            best, best_lead = c, panel.lead
    return best_lead, (best if np.isfinite(best) else float("nan"))


# The six limb leads as combinations of I and II (Einthoven's and Goldberger's relations).
_LIMB_FROM_I_II: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "-aVR": (0.5, 0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}
_LIMB_ORDER = {
    "6x2": ("I", "II", "III", "aVR", "aVL", "aVF"),
    "cabrera": ("aVL", "I", "-aVR", "II", "aVF", "III"),
}


def limb_lead_residual(left_column: list[np.ndarray], order: tuple[str, ...]) -> float:
    """How well six simultaneous rows follow the limb-lead relations in the given `order`.

    Leads I and II are taken from their rows and the other four rows predicted from them
    (III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2); the result is the median
    over those rows of the RMS prediction error relative to the row's RMS, each signal taken
    about its median (row baselines are unknown). The median lets one badly traced row pass.
    NaN with too few common samples.
    """
    centred = []
    for r in left_column:
        centred.append(r - np.nanmedian(r) if np.isfinite(r).any() else r)
    i, ii = centred[order.index("I")], centred[order.index("II")]
    errors = []
    for row, lead in zip(centred, order, strict=True):
        if lead in ("I", "II"):
            continue
        a, b = _LIMB_FROM_I_II[lead]
        pred = a * i + b * ii
        m = np.isfinite(pred) & np.isfinite(row)
        ref = float(np.sqrt(np.mean(row[m] ** 2))) if m.sum() >= 20 else 0.0
        if ref > 0:
            errors.append(float(np.sqrt(np.mean((pred[m] - row[m]) ** 2))) / ref)
    return float(np.median(errors)) if errors else float("nan")


def is_cabrera(left_column: list[np.ndarray]) -> bool:
    """Whether the six rows of a 6x2 page follow the Cabrera sequence.

    The first 5 s of the rows hold the limb leads: I, II, III, aVR, aVL, aVF in the standard
    order, aVL, I, -aVR, II, aVF, III in Cabrera's. The page is Cabrera when the limb-lead
    relations (:func:`limb_lead_residual`) fit that order clearly better: residual under 0.7
    and under half that of the standard order.
    """
    half = [r[: r.size // 2] for r in left_column]
    cabrera = limb_lead_residual(half, _LIMB_ORDER["cabrera"])
    standard = limb_lead_residual(half, _LIMB_ORDER["6x2"])
    if not np.isfinite(cabrera):
        return False
    return cabrera < 0.7 and (not np.isfinite(standard) or cabrera < 0.5 * standard)


def limb_leads_fit(rows: list[np.ndarray], *, max_residual: float = 0.85) -> bool:
    """Whether the first half of six rows follows the limb-lead relations in the standard or
    the Cabrera order (as on every 6x2 page; on a 3x4 page with three rhythm strips the last
    three rows are V1, II, V5 or the like, and do not)."""
    half = [r[: r.size // 2] for r in rows[:6]]
    residuals = [limb_lead_residual(half, order) for order in _LIMB_ORDER.values()]
    finite = [r for r in residuals if np.isfinite(r)]
    return not finite or min(finite) <= max_residual


def is_limb_leads_only(rows: list[np.ndarray]) -> bool:
    """Whether six rows hold the limb leads over the whole page (a six-lead sheet).

    On a 6x2 page the second half of the rows holds V1–V6, which follow no limb-lead
    relation; on a six-lead page the limb leads continue there, in the standard order.
    """
    second = [r[r.size // 2 :] for r in rows]
    residual = limb_lead_residual(second, _LIMB_ORDER["6x2"])
    return bool(np.isfinite(residual) and residual < 0.5)


def infer_layout(row_signals: list[np.ndarray]) -> LayoutGuess:
    """Infer the layout of a page from the signals of its rows.

    Parameters
    ----------
    row_signals : list of 1-D arrays
        One signal per trace row, top to bottom, each over the full page at a common rate
        (NaN where not recovered).

    Returns
    -------
    LayoutGuess

    Raises
    ------
    LayoutError
        If the number of rows fits no known layout.
    """
    n_rows = len(row_signals)
    if n_rows == 12:
        return LayoutGuess(get_layout("12x1"), ())
    candidates: list[tuple[str, int]] = []  # (grid, number of grid rows)
    if 3 <= n_rows <= 3 + MAX_RHYTHM_STRIPS:
        candidates.append(("3x4", 3))
    if 6 <= n_rows <= 6 + MAX_RHYTHM_STRIPS:
        candidates.append(("6x2", 6))
    if not candidates:
        raise LayoutError(
            f"found {n_rows} trace rows; cannot infer the layout (auto-detection knows 3–6 rows "
            "for 3x4 with 0–3 rhythm strips, 6–9 for 6x2 with 0–3, and 12 for 12x1); pass "
            "--layout"
        )
    if n_rows == 6 and is_limb_leads_only(row_signals):
        return LayoutGuess(get_layout("6x1"), ())
    if ("6x2", 6) in candidates and is_cabrera(row_signals[:6]):
        candidates[candidates.index(("6x2", 6))] = ("cabrera", 6)
    guesses = []
    for grid_name, n_grid in candidates:
        grid = get_layout(grid_name)
        matches = [
            match_rhythm_strip(strip, row_signals[:n_grid], grid) for strip in row_signals[n_grid:]
        ]
        guesses.append((grid_name, [m[0] for m in matches], [m[1] for m in matches]))

    def all_matched(scores: list[float]) -> bool:
        return all(np.isfinite(sc) and sc >= MATCH_THRESHOLD for sc in scores)

    # Prefer a grid whose rhythm strips all repeat one of its panels (3x4+3 over 6x2 on six
    # rows only when the three strips really repeat panels).
    matched = [g for g in guesses if g[1] and all_matched(g[2])]
    if matched:
        grid_name, leads, scores = max(matched, key=lambda g: len(g[1]))
    else:
        # Otherwise the grid needing the fewest strips — unless six rows break the limb-lead
        # relations a 6x2 (or Cabrera) page must follow: then 3x4 with three strips, each
        # named by its best panel when that match is fair. A strip that matched keeps its
        # lead, the others take the conventional rhythm leads in order (II; V1, II; V1, II, V5).
        threshold = MATCH_THRESHOLD
        if n_rows == 6 and not limb_leads_fit(row_signals):
            grid_name, leads, scores = next(g for g in guesses if g[0] == "3x4")
            threshold = FAIR_MATCH
        else:
            grid_name, leads, scores = min(guesses, key=lambda g: len(g[1]))
        ok = [np.isfinite(sc) and sc >= threshold for sc in scores]
        for k, lead in enumerate(leads):  # one lead, one strip: the better match keeps it
            if any(
                ok[j] and leads[j] == lead and scores[j] > scores[k] for j in range(len(leads))
            ):
                ok[k] = False
        conventional = CONVENTIONAL_RHYTHM_LEADS[len(leads)]
        matched_leads = {lead for lead, good in zip(leads, ok, strict=True) if good}
        # A conventional lead already shown by a matched strip goes to the next unused one.
        taken = matched_leads | {c for c, good in zip(conventional, ok, strict=True) if not good}
        spare = [c for c in ("II", "V1", "V5", *LEAD_NAMES) if c not in taken]
        leads = [
            lead if good else (conv if conv not in matched_leads else spare.pop(0))
            for lead, good, conv in zip(leads, ok, conventional, strict=True)
        ]
        scores = [sc if good else float("nan") for sc, good in zip(scores, ok, strict=True)]
    return LayoutGuess(get_layout("+".join([grid_name, *leads])), tuple(scores))
