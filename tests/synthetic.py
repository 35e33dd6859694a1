"""Synthetic signals shared by the tests (imported as ``from synthetic import ...``)."""

from __future__ import annotations

import numpy as np


def synthetic_ecg(fs: float = 500.0, seconds: float = 10.0) -> np.ndarray:
    """12 leads of Gaussian P, QRS and T waves at 75 bpm with lead-specific gains (mV)."""
    t = np.arange(int(fs * seconds)) / fs
    beat = np.zeros_like(t)
    for onset in np.arange(0.3, seconds, 0.8):
        for centre, width, amp in ((0.0, 0.025, 0.15), (0.16, 0.012, 1.0), (0.42, 0.05, 0.3)):
            beat += amp * np.exp(-0.5 * ((t - onset - centre) / width) ** 2)
    gains = np.array([0.8, 1.2, 0.5, -0.9, 0.3, 0.9, -0.6, 0.4, 1.1, 1.5, 1.3, 1.0])
    return beat[:, None] * gains[None, :]
