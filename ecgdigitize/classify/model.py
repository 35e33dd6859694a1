"""Preprocessing and ONNX inference of the PTB-XL superclass classifier.

The classifier is a small 1D ResNet (see :mod:`ecgdigitize.classify.train`) that reads 10 s of
the 12 standard leads at 100 Hz together with one mask channel per lead, so that a lead drawn
only in its own 2.5 s column of a 3x4 sheet is seen as "2.5 s of signal, 7.5 s unknown", not as
a flat line. It predicts the five diagnostic superclasses of PTB-XL (Wagner et al. 2020) as in
the benchmark of Strodthoff et al. 2020. Inference needs only numpy, scipy and onnxruntime; the
weights ship with the package in ``ecgdigitize/classify/weights/``.

Input pipeline (shared with training, so that both see exactly the same arrays):

1. Leads are matched to the 12 standard names case-insensitively; extra channels are ignored.
2. Each lead is resampled to 100 Hz with :func:`scipy.signal.resample_poly`, one run of finite
   samples at a time, so NaN gaps stay gaps.
3. The record is cut into 10 s windows: a record of at most 10 s is one window (padded with
   NaN); a longer one gives consecutive non-overlapping 10 s windows plus, when the record length
   is not a multiple of 10 s, a last window ending at the record's end. Windows without any
   finite sample are skipped, and the probabilities of the remaining windows are averaged.
4. In each window, each lead has its median (over its finite samples) subtracted; amplitudes
   stay in mV (they carry diagnostic information, e.g. voltage criteria for hypertrophy). Values
   are clipped to ±10 mV, NaN becomes 0, and 12 mask channels (1 where the lead has a finite
   sample, else 0) are appended: the network input is (24, 1000) float32.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..config import LEAD_NAMES, canonical_lead_name
from ..errors import EcgDigitizeError, ModelError

CLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")
"""PTB-XL diagnostic superclasses, in the order of the model outputs."""

MODEL_FS_HZ = 100.0
"""Sampling rate the network reads, Hz."""
WINDOW_S = 10.0
"""Length of one network input window, s."""
WINDOW_SAMPLES = int(MODEL_FS_HZ * WINDOW_S)
MIN_FS_HZ = 50.0
"""Lowest accepted sampling rate, Hz (below 100 Hz a warning is issued)."""
MIN_DURATION_S = 2.5
MAX_DURATION_S = 60.0
CLIP_MV = 10.0

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODEL_FILE = "model.onnx"
META_FILE = "model.json"

# Time window (s) of each lead in the standard 3x4 layout (ECG-Image-Kit / PhysioNet 2024):
# column k covers [2.5k, 2.5k + 2.5) s; lead II is also drawn as a 10 s rhythm strip.
LEADS_3X4_WINDOW_S: dict[str, tuple[float, float]] = {
    "I": (0.0, 2.5), "II": (0.0, 10.0), "III": (0.0, 2.5),
    "aVR": (2.5, 5.0), "aVL": (2.5, 5.0), "aVF": (2.5, 5.0),
    "V1": (5.0, 7.5), "V2": (5.0, 7.5), "V3": (5.0, 7.5),
    "V4": (7.5, 10.0), "V5": (7.5, 10.0), "V6": (7.5, 10.0),
}  # fmt: skip


def lead_order(lead_names: Sequence[str], *, name: str = "<array>") -> list[int]:
    """Column of each standard lead in a record whose channels are called `lead_names`.

    Parameters
    ----------
    lead_names : sequence of str
        Channel names, matched to :data:`~ecgdigitize.config.LEAD_NAMES` case-insensitively;
        channels that are not standard leads are ignored (the first of duplicates is used).
    name : str
        Record name used in error messages.

    Returns
    -------
    list of int
        ``columns[j]`` is the channel holding ``LEAD_NAMES[j]``.

    Raises
    ------
    ModelError
        If any of the 12 standard leads is missing; the message names them.
    """
    columns: dict[str, int] = {}
    for i, lead in enumerate(lead_names):
        try:
            columns.setdefault(canonical_lead_name(str(lead)), i)
        except ValueError:
            continue
    missing = [lead for lead in LEAD_NAMES if lead not in columns]
    if missing:
        found = ", ".join(str(n) for n in lead_names) or "none"
        raise ModelError(
            f"{name}: the classifier needs the 12 standard leads; missing "
            f"{', '.join(missing)} (found {found})"
        )
    return [columns[lead] for lead in LEAD_NAMES]


def _resample_runs(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """Resample one lead by ``up/down``, each run of finite samples separately (NaN kept)."""
    from scipy.signal import resample_poly

    n_out = -(-len(x) * up // down)  # ceil
    out = np.full(n_out, np.nan)
    finite = np.isfinite(x)
    if not finite.any():
        return out
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        y = resample_poly(x[a:b], up, down, padtype="line")
        start = round(a * up / down)
        y = y[: n_out - start]
        out[start : start + len(y)] = y
    return out


def prepare_signal(
    signal: np.ndarray,
    fs: float,
    lead_names: Sequence[str] = LEAD_NAMES,
    *,
    name: str = "<array>",
) -> np.ndarray:
    """Check a record and bring its 12 standard leads to the model's 100 Hz.

    Parameters
    ----------
    signal : (n_samples, n_channels) array
        Signal in mV; NaN where there is no sample.
    fs : float
        Sampling rate of `signal`, Hz.
    lead_names : sequence of str
        Name of each channel (matched case-insensitively).
    name : str
        Record name used in error and warning messages.

    Returns
    -------
    (m, 12) float64 array
        The standard leads in :data:`~ecgdigitize.config.LEAD_NAMES` order at 100 Hz, NaN in
        gaps.

    Raises
    ------
    ModelError
        If a standard lead is missing, the signal is all-NaN, ``fs`` is below 50 Hz, or the
        duration is outside 2.5–60 s.

    Warns
    -----
    UserWarning
        If ``50 <= fs < 100`` Hz: the record is upsampled, but frequencies above ``fs/2`` are
        missing. (On PTB-XL fold 10 decimated to 50 Hz, the macro-AUROC of the shipped model
        was unchanged; see ``benchmarks/classify.py``.)
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 2:
        raise ModelError(f"{name}: signal must be 2-D (samples, leads); got shape {signal.shape}")
    if signal.shape[1] != len(lead_names):
        raise ModelError(
            f"{name}: signal has {signal.shape[1]} channels but {len(lead_names)} lead names"
        )
    columns = lead_order(lead_names, name=name)
    if not np.isfinite(fs) or fs < MIN_FS_HZ:
        raise ModelError(
            f"{name}: sampling rate {fs:g} Hz is too low for the classifier (needs ≥ 100 Hz; "
            f"{MIN_FS_HZ:g}–100 Hz is accepted with a warning)"
        )
    duration_s = signal.shape[0] / fs
    if not MIN_DURATION_S - 1e-9 <= duration_s <= MAX_DURATION_S + 1e-9:
        raise ModelError(
            f"{name}: duration {duration_s:.3g} s is outside the {MIN_DURATION_S:g}–"
            f"{MAX_DURATION_S:g} s the classifier accepts"
        )
    leads = signal[:, columns]
    if not np.isfinite(leads).any():
        raise ModelError(f"{name}: all samples of the 12 standard leads are NaN")
    if fs < MODEL_FS_HZ:
        warnings.warn(
            f"{name}: sampling rate {fs:g} Hz is below the classifier's 100 Hz; the record is "
            f"upsampled, and any content above {fs / 2:g} Hz is missing",
            UserWarning,
            stacklevel=2,
        )
    ratio = Fraction(MODEL_FS_HZ / fs).limit_denominator(1000)
    if ratio == 1:
        return leads.copy()
    up, down = ratio.numerator, ratio.denominator
    return np.stack([_resample_runs(leads[:, j], up, down) for j in range(12)], axis=1)


def split_windows(signal100: np.ndarray) -> np.ndarray:
    """Cut a 100 Hz record into the 10 s windows the model reads.

    Parameters
    ----------
    signal100 : (m, 12) array
        Output of :func:`prepare_signal`.

    Returns
    -------
    (k, 1000, 12) float64 array
        Consecutive non-overlapping windows from the start, plus a last one ending at the
        record's end when ``m`` is not a multiple of 1000 (a record shorter than 10 s is padded
        with NaN). Windows with no finite sample are dropped (``k`` may be 0).
    """
    m = signal100.shape[0]
    n = WINDOW_SAMPLES
    if m <= n:
        pad = np.full((n - m, signal100.shape[1]), np.nan)
        windows = np.concatenate([signal100, pad])[None]
    else:
        starts = list(range(0, m - n + 1, n))
        if starts[-1] != m - n:
            starts.append(m - n)
        windows = np.stack([signal100[s : s + n] for s in starts])
    keep = np.isfinite(windows).any(axis=(1, 2))
    return windows[keep]


def model_inputs(windows: np.ndarray) -> np.ndarray:
    """Turn 10 s windows into network inputs: centred leads and their masks.

    Parameters
    ----------
    windows : (k, 1000, 12) array
        Leads in mV at 100 Hz, NaN where there is no sample.

    Returns
    -------
    (k, 24, 1000) float32 array
        Channels 0–11: each lead minus its median over its finite samples, clipped to ±10 mV,
        0 where missing. Channels 12–23: 1 where the lead has a sample, else 0.
    """
    w = np.asarray(windows, dtype=np.float64)
    mask = np.isfinite(w)
    filled = np.where(mask, w, 0.0)
    with warnings.catch_warnings():  # an all-NaN lead has no median: it stays 0
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(w, axis=1, keepdims=True)
    med = np.where(np.isfinite(med), med, 0.0)
    centred = np.where(mask, np.clip(filled - med, -CLIP_MV, CLIP_MV), 0.0)
    out = np.concatenate([centred, mask.astype(np.float64)], axis=2)
    return np.ascontiguousarray(out.transpose(0, 2, 1), dtype=np.float32)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.lru_cache(maxsize=4)
def load_model(weights_dir: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Load the ONNX session and its metadata (cached per process).

    Parameters
    ----------
    weights_dir : str, optional
        Folder holding ``model.onnx`` and ``model.json``; the shipped weights by default.

    Returns
    -------
    (onnxruntime.InferenceSession, dict)
        A single-threaded session, and the metadata (classes, thresholds, sha256, ...).

    Raises
    ------
    ModelError
        If the files are missing or the model file does not match its recorded sha256.
    """
    import onnxruntime as ort

    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    model_path, meta_path = folder / MODEL_FILE, folder / META_FILE
    for p in (model_path, meta_path):
        if not p.is_file():
            raise ModelError(f"{p}: classifier weights not found (reinstall ecgdigitize)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    digest = _sha256(model_path)
    if digest != meta.get("sha256"):
        raise ModelError(
            f"{model_path}: sha256 {digest} does not match {meta.get('sha256')} in {meta_path}"
        )
    if tuple(meta.get("classes", ())) != CLASSES:
        raise ModelError(f"{meta_path}: classes {meta.get('classes')} are not {CLASSES}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return session, meta


def default_thresholds() -> dict[str, float]:
    """Per-class decision thresholds of the shipped model (chosen on validation fold 9)."""
    _, meta = load_model()
    return {c: float(meta["thresholds"][c]) for c in CLASSES}


def predict_inputs(x: np.ndarray, *, weights_dir: str | None = None) -> np.ndarray:
    """Run the network on prepared inputs.

    Parameters
    ----------
    x : (k, 24, 1000) float32 array
        Output of :func:`model_inputs`.
    weights_dir : str, optional
        Folder of another ``model.onnx`` + ``model.json`` (default: the shipped model).

    Returns
    -------
    (k, 5) float64 array
        Probability of each class of :data:`CLASSES`.
    """
    session, _ = load_model(weights_dir)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[1:] != (24, WINDOW_SAMPLES):
        raise ModelError(f"model input must be (k, 24, {WINDOW_SAMPLES}); got {x.shape}")
    if x.shape[0] == 0:
        return np.zeros((0, len(CLASSES)))
    (probs,) = session.run(None, {session.get_inputs()[0].name: x})
    return np.asarray(probs, dtype=np.float64)


def classify(
    signal: np.ndarray,
    fs: float,
    lead_names: Sequence[str] = LEAD_NAMES,
    *,
    name: str = "<array>",
) -> dict[str, float]:
    """Probabilities of the PTB-XL diagnostic superclasses for a 12-lead ECG.

    Parameters
    ----------
    signal : (n_samples, n_channels) array
        Signal in mV, NaN where there is no sample (e.g. a digitized 3x4 sheet, where each lead
        holds only its own 2.5 s column).
    fs : float
        Sampling rate, Hz (≥ 100 Hz; 50–100 Hz is accepted with a warning).
    lead_names : sequence of str
        Channel names, matched case-insensitively; the 12 standard leads must all be present.
    name : str
        Record name used in error messages.

    Returns
    -------
    dict
        ``{"NORM": p, "MI": p, "STTC": p, "CD": p, "HYP": p}``, each in [0, 1]. The classes are
        not exclusive (multi-label). Records longer than 10 s: the mean over 10 s windows.

    Raises
    ------
    ModelError
        If a lead is missing, the signal is all-NaN, ``fs < 50`` Hz or the duration is outside
        2.5–60 s.

    Notes
    -----
    Classes after Strodthoff et al., "Deep learning for ECG analysis: benchmarks and insights
    from PTB-XL", IEEE JBHI 2020; data: Wagner et al., "PTB-XL, a large publicly available
    electrocardiography dataset", Scientific Data 2020 (CC BY 4.0).
    """
    signal100 = prepare_signal(signal, fs, lead_names, name=name)
    windows = split_windows(signal100)
    probs = predict_inputs(model_inputs(windows)).mean(axis=0)
    return {c: float(p) for c, p in zip(CLASSES, probs, strict=True)}


IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pdf")
"""Files with these suffixes are digitized before being classified."""


def read_input(path: str | os.PathLike[str]) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """Read the signal to classify from a WFDB record, or digitize an image or PDF.

    Parameters
    ----------
    path : path-like
        A WFDB record (with or without ``.hea``) or an image/PDF (:data:`IMAGE_SUFFIXES`),
        which is digitized with :func:`ecgdigitize.pipeline.digitize` and default options (of
        a PDF, the first page).

    Returns
    -------
    (signal, fs, lead_names)
        The 12 standard leads in mV (NaN where missing) in
        :data:`~ecgdigitize.config.LEAD_NAMES` order, the sampling rate and the lead names.

    Raises
    ------
    ModelError
        If the record lacks one of the 12 standard leads.
    RecordError, ImageReadError, ...
        If the file cannot be read or digitized.
    """
    p = Path(path)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        try:
            from ..pipeline import digitize
        except ImportError as exc:
            raise EcgDigitizeError(
                f"{p}: classifying an image needs ecgdigitize.pipeline, which is not available "
                f"({exc})"
            ) from exc
        result = digitize(p)
        return (
            np.asarray(result.signal, dtype=np.float64),
            float(result.fs),
            tuple(result.lead_names),
        )
    from ..io.wfdb import read_record, standard_leads

    record = read_record(p)
    lead_order(record.lead_names, name=record.name)  # ModelError naming missing leads
    return standard_leads(record), record.fs, LEAD_NAMES


def classify_file(path: str | os.PathLike[str]) -> dict[str, float]:
    """:func:`classify` the WFDB record or image at `path` (see :func:`read_input`)."""
    signal, fs, lead_names = read_input(path)
    return classify(signal, fs, lead_names, name=str(path))
