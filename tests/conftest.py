"""Shared test fixtures.

Real data come from ``../shared/data`` beside the repository (or ``$ECGDIGITIZE_SHARED``); tests
that need it are skipped with a clear message when it is absent, so a bare clone still tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("ECGDIGITIZE_SHARED")
    base = Path(env) if env else REPO.parent / "shared"
    return base / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when it is not there."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set ECGDIGITIZE_SHARED)")
    return path


@pytest.fixture(scope="session")
def ptbxl_record(shared_data: Path):  # type: ignore[no-untyped-def]
    """A function giving the path (without extension) of PTB-XL record `ecg_id` (1–400)."""

    def path(ecg_id: int) -> Path:
        if not 1 <= ecg_id <= 400:
            raise ValueError("tests use only development records 1-400")
        return shared_data / "ptbxl" / "records500" / "00000" / f"{ecg_id:05d}_hr"

    return path
