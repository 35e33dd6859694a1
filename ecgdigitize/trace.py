"""Trace extraction: the least-cost path through the ink of one lead panel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TracePath:
    """A trace recovered from a panel, as sub-column points in page pixels.

    Attributes
    ----------
    x, y : 1-D float arrays
        Points along the trace, strictly increasing in ``x``. Vertical strokes within one
        column contribute their two (or three) ends at sub-column positions.
    gaps : 1-D bool array
        ``gaps[i]`` is True when the trace is broken between point i and i + 1 (no ink over
        more than the allowed gap); values are not interpolated across it.
    coverage : float
        Fraction of the panel's columns where the path found ink.
    continuity : float
        Fraction of steps between consecutive columns where the ink is connected.
    line_width_px : float
        Typical vertical thickness of the drawn line.
    """

    x: np.ndarray
    y: np.ndarray
    gaps: np.ndarray
    coverage: float
    continuity: float
    line_width_px: float


def column_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical runs of True pixels in each column of `mask`.

    Returns
    -------
    col, top, bottom : 1-D int arrays
        For each run: its column, first row and last row + 1; sorted by column then row.
    """
    t = np.ascontiguousarray(mask.T).astype(np.int8)
    padded = np.pad(t, ((0, 0), (1, 1)))
    d = np.diff(padded, axis=1)
    sc, sy = np.nonzero(d == 1)
    _, ey = np.nonzero(d == -1)
    return sc, sy, ey


def estimate_line_width(mask: np.ndarray) -> float:
    """Typical vertical thickness, in pixels, of the ink lines in a binary mask.

    The most common vertical run length is the thickness of flat stretches of trace.
    """
    _, tops, bottoms = column_runs(mask[:, ::2])
    if tops.size == 0:
        return 1.0
    lengths = bottoms - tops
    counts = np.bincount(lengths[lengths < 50])
    return float(np.argmax(counts)) if counts.size > 1 else 1.0


def least_cost_path(
    mask: np.ndarray,
    *,
    start_y: float | None = None,
    angle_weight: float = 0.3,
    jump_weight: float = 1.0,
    skip_cost: float = 1.0,
    edge_skip_cost: float = 20.0,
) -> list[tuple[int, int, int] | None]:
    """Cheapest left-to-right path through the vertical ink runs of `mask`.

    Following Fortune et al. (2022): the candidate nodes are the vertical runs of ink in each
    column; every node is linked to the nodes of the preceding non-empty column; a step costs
    the vertical distance between the two runs (zero when they touch), plus `angle_weight`
    times the change of slope of the path's centre line, plus `skip_cost` per empty column
    crossed. The path may also start late or end early at `edge_skip_cost` per column left
    out, so stray ink at a panel's edge (labels, text) does not capture it. The cheapest path
    is found by dynamic programming with first-order slope tracking.

    Parameters
    ----------
    mask : (h, w) bool array
        Ink of one panel band.
    start_y : float, optional
        Expected row of the trace where the path starts (e.g. the baseline); starting far from
        it costs 0.05 per pixel.

    Returns
    -------
    list
        For every column, ``(top, bottom, index)`` of the chosen run (``bottom`` exclusive), or
        None where the path has no node.
    """
    cols, tops, bottoms = column_runs(mask)
    w = mask.shape[1]
    if cols.size == 0:
        return [None] * w
    counts = np.bincount(cols, minlength=w)
    offsets = np.concatenate([[0], np.cumsum(counts)]).tolist()
    tops_l = tops.tolist()
    bots_l = bottoms.tolist()
    centre = ((tops + bottoms - 1) / 2.0).tolist()
    first_col = int(cols[0])

    n = cols.size
    cost = [0.0] * n
    slope = [0.0] * n
    back = [-1] * n
    prev_col = -1
    for c in range(first_col, w):
        lo, hi = offsets[c], offsets[c + 1]
        if lo == hi:
            continue
        fresh_base = edge_skip_cost * (c - first_col)
        if prev_col >= 0:
            plo, phi = offsets[prev_col], offsets[prev_col + 1]
            dx = c - prev_col
            step_base = skip_cost * (dx - 1)
        for j in range(lo, hi):
            tj, bj, cj = tops_l[j], bots_l[j], centre[j]
            best = fresh_base + (0.0 if start_y is None else 0.05 * abs(cj - start_y))
            arg, best_slope = -1, 0.0
            if prev_col >= 0:
                for k in range(plo, phi):
                    gap = max(0, tj - bots_l[k], tops_l[k] - bj)
                    sl = (cj - centre[k]) / dx
                    total = (
                        cost[k] + step_base + jump_weight * gap + angle_weight * abs(sl - slope[k])
                    )
                    if total < best:
                        best, arg, best_slope = total, k, sl
            cost[j] = best
            back[j] = arg
            slope[j] = best_slope
        prev_col = c

    # End at the node that is cheapest counting the columns it leaves out at the right.
    last_col = prev_col
    j = min(range(n), key=lambda k: cost[k] + edge_skip_cost * (last_col - int(cols[k])))
    path: list[tuple[int, int, int] | None] = [None] * w
    while j >= 0:
        path[int(cols[j])] = (tops_l[j], bots_l[j], j)
        j = back[j]
    return path


def extract_trace(
    mask: np.ndarray,
    *,
    x_offset: int = 0,
    y_offset: int = 0,
    start_y: float | None = None,
    max_gap_px: int = 8,
) -> TracePath:
    """Recover the trace of one panel as sub-column points.

    Each column on the least-cost path contributes one point: on flat stretches and gentle
    slopes the centre of its run (a line of finite width crosses a column over a run centred
    on its value there); at a sharp extremum — a tall run reaching further up (or down) than
    its neighbours' runs — that end of the run, less half the line width; inside a steep
    stroke the mean of the facing ends of the neighbouring columns' runs.

    Parameters
    ----------
    mask : (h, w) bool array
        Ink of the panel band (page rows ``y_offset`` .. , columns ``x_offset`` ..).
    start_y : float, optional
        Expected trace row at the left edge, in page coordinates.
    max_gap_px : int
        Wider stretches without ink are gaps: no value is interpolated across them.
    """
    _h, w = mask.shape
    path = least_cost_path(mask, start_y=None if start_y is None else start_y - y_offset)
    nodes: dict[int, tuple[int, int]] = {c: (p[0], p[1]) for c, p in enumerate(path) if p}
    present = sorted(nodes)
    if not present:
        empty = np.zeros(0)
        return TracePath(empty, empty, np.zeros(0, bool), 0.0, 0.0, 0.0)
    lw = float(np.median([bot - top for top, bot in nodes.values()]))

    def is_tall(c: int | None) -> bool:
        return c is not None and nodes[c][1] - nodes[c][0] > 1.5 * lw + 1

    xs: list[float] = []
    ys: list[float] = []
    gaps: list[bool] = []
    connected = 0
    for i, c in enumerate(present):
        top, bot = nodes[c]
        prev_c = present[i - 1] if i > 0 else None
        next_c = present[i + 1] if i + 1 < len(present) else None
        if prev_c is not None:
            ptop, pbot = nodes[prev_c]
            if c - prev_c == 1 and max(0, top - pbot, ptop - bot) == 0:
                connected += 1
        if gaps and prev_c is not None and c - prev_c > max_gap_px:
            gaps[-1] = True
        tall = is_tall(c)
        nbrs = [nodes[k] for k in (prev_c, next_c) if k is not None and abs(k - c) <= 2]
        if tall and nbrs and all(top <= nb[0] for nb in nbrs):
            # The run reaching highest among its neighbours holds a peak: its upper end.
            y = top + lw / 2.0 - 0.5
        elif tall and nbrs and all(bot >= nb[1] for nb in nbrs):
            y = bot - lw / 2.0 - 0.5
        elif tall and prev_c == c - 1 and next_c == c + 1 and is_tall(prev_c) and is_tall(next_c):
            # Inside a steep stroke: a pen of radius r inks column c from x = c - 1/2 - r to
            # c + 1/2 + r, so the run's centre smears curvature. The facing ends of the
            # neighbouring runs lie at x = c - 1/2 + r and c + 1/2 - r: their mean is the
            # value at c over a much narrower window.
            (ptop, pbot), (ntop, nbot) = nodes[c - 1], nodes[c + 1]
            if ntop + nbot > ptop + pbot:  # descending on the page: prev's bottom, next's top
                est = (pbot - 1 + ntop) / 2.0
            else:
                est = (ptop + nbot - 1) / 2.0
            y = float(np.clip(est, top, bot - 1))
        else:
            # A flat stretch or a gentle slope: a line of finite width crosses column c over
            # a run centred on its value at c.
            y = (top + bot - 1) / 2.0
        xs.append(float(c + x_offset))
        ys.append(y + y_offset)
        gaps.append(False)
    steps = max(1, len(present) - 1)
    return TracePath(
        x=np.asarray(xs),
        y=np.asarray(ys),
        gaps=np.asarray(gaps, dtype=bool),
        coverage=len(present) / max(1, w),
        continuity=connected / steps,
        line_width_px=lw,
    )
