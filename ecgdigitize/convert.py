"""Conversion of trace pixels to millivolts and seconds, resampled to the output rate."""

from __future__ import annotations

import numpy as np

from .layout import PanelBox
from .trace import TracePath


def panel_samples(
    trace: TracePath,
    box: PanelBox,
    *,
    baseline_y: float,
    px_per_mv: float,
    fs: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample one panel's trace to the output sampling grid.

    Voltage is ``-(y - baseline_y) / px_per_mv`` (image rows grow downwards), negated again
    for an inverted lead (``-aVR``); page time is ``(x - x_origin) / px_per_s``. Samples are
    linearly interpolated between trace points, only inside the panel's time window and never
    across a gap in the trace.

    Returns
    -------
    index : 1-D int array
        Sample indices (``round(t * fs)``) in the page record.
    value : 1-D float array
        Voltages in mV (NaN inside gaps).
    """
    panel = box.panel
    k0 = int(np.ceil(panel.start_s * fs - 1e-9))
    k1 = int(np.ceil(panel.end_s * fs - 1e-9))
    index = np.arange(k0, k1)
    if trace.x.size < 2:
        return index, np.full(index.size, np.nan)
    t = (trace.x - box.x_origin) / box.px_per_s
    v = -(trace.y - baseline_y) / px_per_mv
    if panel.inverted:
        v = -v
    ts = index / fs
    value = np.interp(ts, t, v, left=np.nan, right=np.nan)
    if trace.gaps.any():
        gap_idx = np.flatnonzero(trace.gaps)
        for i in gap_idx:
            value[(ts > t[i]) & (ts < t[i + 1])] = np.nan
    return index, value
