"""Train the PTB-XL superclass classifier and export it to ONNX (needs the ``train`` extra).

Usage::

    OMP_NUM_THREADS=1 python -m ecgdigitize.classify.train --ptbxl DIR --out DIR

``--ptbxl DIR`` is a PTB-XL v1.0.1 folder holding ``records100/`` (the 100 Hz signals);
``--labels DIR`` (default: ``--ptbxl``) holds ``ptbxl_database.csv`` (or
``ptbxl_database_subset.csv``) and ``scp_statements.csv``. The run is seeded and single-threaded
(CPU), and writes into ``--out``: ``model.onnx`` + ``model.json`` (what
:mod:`ecgdigitize.classify.model` loads), ``model.pt`` (torch state dict), ``metrics.json``,
``MODEL_CARD.md`` and ``train_log.jsonl``.

Method
------
- Labels: PTB-XL diagnostic superclasses (NORM, MI, STTC, CD, HYP) from ``scp_statements.csv``
  rows with ``diagnostic == 1`` (any likelihood); records without a superclass are dropped, as in
  the benchmark of Strodthoff et al. 2020. Split as there: ``strat_fold`` 1–8 train, 9
  validation (early stopping, thresholds), 10 test. Records with ecg_id 401–500 are reserved for
  the project's evaluation and excluded from every split.
- Input: see :mod:`ecgdigitize.classify.model` (10 s at 100 Hz, 12 leads + 12 mask channels).
- Augmentation (training only): amplitude scaling, baseline wander, Gaussian noise, time shifts
  (vacated samples masked), short random gaps, and with probability ``--p-3x4`` the 3x4 mask
  (each lead kept only in its 2.5 s column, lead II for 10 s, or, one time in six, only in its
  column as on a sheet without rhythm strip).
- Model: a 1D ResNet (He et al. 2016 basic blocks; the 1D adaptation follows the xresnet1d /
  resnet1d baselines of Strodthoff et al. 2020 in spirit, not in code), global average and max
  pooling, a linear layer and a sigmoid.
- Optional self-supervised pre-training (``--pretrain-epochs``) on the PTB-XL records without a
  label here: masked-segment reconstruction (the encoder sees the 3x4 mask and random masked
  segments and a small decoder reconstructs the hidden samples).
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import LEAD_NAMES
from .model import (
    CLASSES,
    LEADS_3X4_WINDOW_S,
    MODEL_FS_HZ,
    WINDOW_SAMPLES,
    lead_order,
    model_inputs,
)

RESERVED_IDS = range(401, 501)
"""ecg_id values reserved for the project's evaluation: never trained, tuned or tested on."""
TRAIN_FOLDS = tuple(range(1, 9))
VAL_FOLD = 9
TEST_FOLD = 10


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelledSet:
    """PTB-XL records with superclass labels.

    Attributes
    ----------
    ecg_id, fold : (n,) int arrays
    filename_lr : tuple of str
        Record paths relative to the PTB-XL folder (``records100/.../NNNNN_lr``).
    y : (n, 5) float32 array
        Multi-hot superclass labels in :data:`CLASSES` order.
    """

    ecg_id: np.ndarray
    fold: np.ndarray
    filename_lr: tuple[str, ...]
    y: np.ndarray

    def subset(self, keep: np.ndarray) -> LabelledSet:
        idx = np.flatnonzero(keep)
        return LabelledSet(
            self.ecg_id[idx], self.fold[idx], tuple(self.filename_lr[i] for i in idx), self.y[idx]
        )


def load_labels(labels_dir: str | os.PathLike[str], *, reserved: bool = False) -> LabelledSet:
    """Read PTB-XL metadata and map SCP codes to diagnostic superclasses.

    Records without any diagnostic superclass are dropped, and so are records with ecg_id
    401–500 (reserved for evaluation) unless `reserved` is true — then only those are kept,
    for the evaluation benchmark; nothing is ever trained or tuned on them.

    Parameters
    ----------
    labels_dir : path
        Folder holding ``ptbxl_database.csv`` (or ``ptbxl_database_subset.csv``) and
        ``scp_statements.csv``.
    """
    folder = Path(labels_dir)
    db = folder / "ptbxl_database.csv"
    if not db.is_file():
        db = folder / "ptbxl_database_subset.csv"
    statements = folder / "scp_statements.csv"
    for p in (db, statements):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: PTB-XL metadata not found")
    superclass: dict[str, str] = {}
    with statements.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code = row[""] if "" in row else next(iter(row.values()))
            if row.get("diagnostic", "").strip() and float(row["diagnostic"]) == 1.0:
                if row.get("diagnostic_class", "").strip():
                    superclass[code] = row["diagnostic_class"].strip()
    ids, folds, files, ys = [], [], [], []
    with db.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            ecg_id = int(float(row["ecg_id"]))
            if (ecg_id in RESERVED_IDS) != reserved:
                continue
            codes = ast.literal_eval(row["scp_codes"])
            classes = {superclass[c] for c in codes if c in superclass}
            if not classes:
                continue
            ids.append(ecg_id)
            folds.append(int(float(row["strat_fold"])))
            files.append(row["filename_lr"])
            ys.append([c in classes for c in CLASSES])
    return LabelledSet(
        np.array(ids), np.array(folds), tuple(files), np.array(ys, dtype=np.float32)
    )


def read_ptbxl_100(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one PTB-XL 100 Hz record as a (1000, 12) float32 array in mV, standard lead order."""
    import wfdb

    rec = wfdb.rdrecord(str(path))
    if rec.fs != MODEL_FS_HZ or rec.p_signal is None or rec.sig_name is None:
        raise ValueError(f"{path}: expected a 100 Hz PTB-XL record")
    sig = np.asarray(rec.p_signal, dtype=np.float32)[:, lead_order(rec.sig_name, name=str(path))]
    out = np.full((WINDOW_SAMPLES, 12), np.nan, dtype=np.float32)
    n = min(len(sig), WINDOW_SAMPLES)
    out[:n] = sig[:n]
    return out


def load_signals(ptbxl_dir: str | os.PathLike[str], files: Sequence[str]) -> np.ndarray:
    """Read PTB-XL 100 Hz records (paths relative to `ptbxl_dir`) into (n, 1000, 12) float32."""
    base = Path(ptbxl_dir)
    out = np.empty((len(files), WINDOW_SAMPLES, 12), dtype=np.float32)
    for i, f in enumerate(files):
        out[i] = read_ptbxl_100(base / f)
    return out


def unlabelled_files(ptbxl_dir: str | os.PathLike[str], exclude_ids: set[int]) -> list[str]:
    """Relative paths of the 100 Hz records whose ecg_id is not in `exclude_ids` nor reserved."""
    base = Path(ptbxl_dir)
    out = []
    for hea in sorted((base / "records100").glob("*/*_lr.hea")):
        ecg_id = int(hea.name.split("_")[0])
        if ecg_id in RESERVED_IDS or ecg_id in exclude_ids:
            continue
        out.append(str(hea.with_suffix("").relative_to(base)))
    return out


# --------------------------------------------------------------------------------------------
# Masks, augmentation, metrics (numpy only)
# --------------------------------------------------------------------------------------------
def mask_3x4(*, rhythm_strip: bool = True) -> np.ndarray:
    """(1000, 12) bool: where each lead is drawn on a 10 s 3x4(+II) sheet."""
    t = np.arange(WINDOW_SAMPLES) / MODEL_FS_HZ
    mask = np.zeros((WINDOW_SAMPLES, 12), dtype=bool)
    for j, lead in enumerate(LEAD_NAMES):
        start, end = LEADS_3X4_WINDOW_S[lead]
        if lead == "II" and not rhythm_strip:
            start, end = 0.0, 2.5
        mask[:, j] = (t >= start) & (t < end)
    return mask


def apply_3x4(x: np.ndarray) -> np.ndarray:
    """Set samples outside each lead's 3x4 window (II: 10 s rhythm strip) to NaN."""
    return np.where(mask_3x4()[None], x, np.nan).astype(x.dtype)


def augment(
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    p_3x4: float = 0.5,
    p_shift: float = 0.5,
    p_gaps: float = 0.2,
) -> np.ndarray:
    """Randomly perturb a batch of (B, 1000, 12) windows in mV (NaN = no sample).

    Amplitude scaling (log-normal, σ = 0.1, per record), baseline wander (one sinusoid of
    0.05–0.5 Hz per lead, up to 0.2 mV), Gaussian noise (σ up to 0.03 mV), time shifts up to
    ±0.3 s (vacated samples become NaN), 1–3 random gaps of 0.1–0.5 s in random leads, and the
    3x4 sheet mask.
    """
    b, n, n_leads = x.shape
    out = x.astype(np.float64, copy=True)
    out *= np.exp(rng.normal(0.0, 0.1, (b, 1, 1)))
    t = np.arange(n)[None, :, None] / MODEL_FS_HZ
    freq = rng.uniform(0.05, 0.5, (b, 1, n_leads))
    phase = rng.uniform(0.0, 2 * np.pi, (b, 1, n_leads))
    amp = rng.uniform(0.0, 0.2, (b, 1, 1)) * rng.uniform(0.5, 1.0, (b, 1, n_leads))
    out += amp * np.sin(2 * np.pi * freq * t + phase)
    out += rng.normal(0.0, 1.0, out.shape) * rng.uniform(0.0, 0.03, (b, 1, 1))
    max_shift = int(0.3 * MODEL_FS_HZ)
    for i in range(b):
        if rng.random() < p_shift:
            s = int(rng.integers(-max_shift, max_shift + 1))
            out[i] = np.roll(out[i], s, axis=0)
            if s > 0:
                out[i, :s] = np.nan
            elif s < 0:
                out[i, s:] = np.nan
        if rng.random() < p_gaps:
            for _ in range(int(rng.integers(1, 4))):
                length = int(rng.integers(10, 51))
                start = int(rng.integers(0, n - length))
                out[i, start : start + length, int(rng.integers(0, n_leads))] = np.nan
        if rng.random() < p_3x4:
            out[i] = np.where(mask_3x4(rhythm_strip=rng.random() >= 1 / 6), out[i], np.nan)
    return out


def auroc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve = Mann–Whitney U / (n_pos · n_neg); NaN if one class is empty."""
    from scipy.stats import mannwhitneyu

    pos, neg = score[y_true > 0.5], score[y_true <= 0.5]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def auroc_table(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Per-class AUROC and their mean (``"macro"``)."""
    per = {c: auroc(y[:, k], probs[:, k]) for k, c in enumerate(CLASSES)}
    return {**per, "macro": float(np.mean(list(per.values())))}


def best_f1_thresholds(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Per-class threshold maximising F1 (grid 0.05–0.95 in steps of 0.01)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    out = {}
    for k, c in enumerate(CLASSES):
        pred = probs[:, k][:, None] >= grid[None, :]
        tp = (pred & (y[:, k][:, None] > 0.5)).sum(0)
        f1 = 2 * tp / np.maximum(pred.sum(0) + (y[:, k] > 0.5).sum(), 1)
        out[c] = float(grid[int(np.argmax(f1))])
    return out


# --------------------------------------------------------------------------------------------
# Model (torch imported lazily so the helpers above work without it)
# --------------------------------------------------------------------------------------------
def build_model(
    widths: Sequence[int] = (32, 64, 96, 128), *, kernel: int = 7, dropout: float = 0.3
) -> Any:
    """The classifier as a ``torch.nn.Module`` returning logits for (B, 24, 1000) inputs.

    It has ``.encoder`` (B, 24, 1000) -> (B, widths[-1], 63) and ``.head``.
    """
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, c_in: int, c_out: int, stride: int) -> None:
            super().__init__()
            pad = kernel // 2
            self.body = nn.Sequential(
                nn.Conv1d(c_in, c_out, kernel, stride, pad, bias=False),
                nn.BatchNorm1d(c_out),
                nn.ReLU(inplace=True),
                nn.Conv1d(c_out, c_out, kernel, 1, pad, bias=False),
                nn.BatchNorm1d(c_out),
            )
            self.shortcut: nn.Module = nn.Identity()
            if c_in != c_out or stride != 1:
                self.shortcut = nn.Sequential(
                    nn.Conv1d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm1d(c_out)
                )
            self.act = nn.ReLU(inplace=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.body(x) + self.shortcut(x))

    class Head(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.fc = nn.Linear(2 * c, len(CLASSES))

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            pooled = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)
            out: torch.Tensor = self.fc(self.drop(pooled))
            return out

    class EcgResNet1d(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = [
                nn.Conv1d(24, widths[0], 15, 2, 7, bias=False),
                nn.BatchNorm1d(widths[0]),
                nn.ReLU(inplace=True),
            ]
            c = widths[0]
            for i, w in enumerate(widths):
                layers.append(BasicBlock(c, w, 1 if i == 0 else 2))
                c = w
            self.encoder = nn.Sequential(*layers)
            self.head = Head(c)
            self.width = c

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.head(self.encoder(x))
            return out

    return EcgResNet1d()


def build_decoder(width: int) -> Any:
    """Decoder for pre-training: (B, width, 63) -> (B, 12, 1000) reconstructed leads."""
    from torch import nn

    def up(c_in: int, c_out: int) -> list[nn.Module]:
        return [
            nn.Upsample(scale_factor=2.0),
            nn.Conv1d(c_in, c_out, 7, 1, 3, bias=False),
            nn.BatchNorm1d(c_out),
            nn.ReLU(inplace=True),
        ]

    return nn.Sequential(
        *up(width, 64), *up(64, 48), *up(48, 32), *up(32, 32), nn.Conv1d(32, 12, 7, 1, 3)
    )


def export_onnx(model: Any, path: str | os.PathLike[str]) -> None:
    """Export `model` (logits) as an ONNX graph ``x`` (B, 24, 1000) -> ``probabilities`` (B, 5).

    Uses the TorchScript-based exporter (``dynamo=False``), which needs only the ``onnx``
    package (the newer exporter would also need ``onnxscript``).
    """
    import warnings

    import torch

    class WithSigmoid(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.inner(x))

    wrapped = WithSigmoid(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapped,
            (torch.zeros(1, 24, WINDOW_SAMPLES),),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["probabilities"],
            dynamic_axes={"x": {0: "batch"}, "probabilities": {0: "batch"}},
            opset_version=17,
        )


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _predict(model: Any, x: np.ndarray, batch: int = 256) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(torch.sigmoid(model(torch.from_numpy(x[i : i + batch]))).numpy())
    return np.concatenate(out).astype(np.float64)


def _log(log_path: Path, record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)
    with log_path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def pretrain(
    model: Any,
    signals: np.ndarray,
    *,
    epochs: int,
    rng: np.random.Generator,
    log_path: Path,
    batch_size: int = 64,
    lr: float = 2e-3,
) -> None:
    """Masked-segment reconstruction pre-training of ``model.encoder`` on unlabelled windows.

    The encoder sees each window with the 3x4 mask (probability 0.5) or random 0.5–2 s segments
    hidden in each lead (otherwise); a small decoder reconstructs the median-centred leads, and
    the loss is the mean squared error over the hidden samples.
    """
    import torch

    decoder = build_decoder(model.width)
    params = list(model.encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    steps = epochs * (len(signals) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    n = WINDOW_SAMPLES
    for epoch in range(epochs):
        t0 = time.time()
        model.encoder.train()
        decoder.train()
        order = rng.permutation(len(signals))
        losses = []
        for i in range(0, len(order) - batch_size + 1, batch_size):
            clean = augment(signals[order[i : i + batch_size]], rng, p_3x4=0.0, p_gaps=0.0)
            hidden = np.zeros(clean.shape, dtype=bool)
            for k in range(len(clean)):
                if rng.random() < 0.5:
                    hidden[k] = ~mask_3x4()
                else:
                    for lead in range(12):
                        for _ in range(int(rng.integers(1, 4))):
                            length = int(rng.integers(50, 201))
                            start = int(rng.integers(0, n - length))
                            hidden[k, start : start + length, lead] = True
            target = model_inputs(clean)[:, :12]
            x = model_inputs(np.where(hidden, np.nan, clean))
            weight = (hidden & np.isfinite(clean)).transpose(0, 2, 1).astype(np.float32)
            pred = decoder(model.encoder(torch.from_numpy(x)))[..., :n]
            w = torch.from_numpy(weight)
            loss = ((pred - torch.from_numpy(target)) ** 2 * w).sum() / w.sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        _log(
            log_path,
            {
                "stage": "pretrain",
                "epoch": epoch + 1,
                "loss": round(float(np.mean(losses)), 5),
                "seconds": round(time.time() - t0, 1),
            },
        )


def train_supervised(
    model: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    val_inputs: dict[str, np.ndarray],
    y_val: np.ndarray,
    *,
    epochs: int,
    patience: int,
    rng: np.random.Generator,
    log_path: Path,
    p_3x4: float,
    batch_size: int = 64,
    lr: float = 3e-3,
) -> dict[str, Any]:
    """Train with BCE, cosine-annealed AdamW; keep the epoch with the best validation score.

    The validation score is the mean of the fold-9 macro-AUROCs on digital and 3x4-masked
    inputs. Training stops after `patience` epochs without improvement.
    """
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    steps = epochs * (len(x_train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.2
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best: dict[str, Any] = {"score": -1.0}
    since_best = 0
    for epoch in range(epochs):
        t0 = time.time()
        model.train()
        order = rng.permutation(len(x_train))
        losses = []
        for i in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[i : i + batch_size]
            x = model_inputs(augment(x_train[idx], rng, p_3x4=p_3x4))
            logits = model(torch.from_numpy(x))
            loss = loss_fn(logits, torch.from_numpy(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        val = {k: auroc_table(y_val, _predict(model, v))["macro"] for k, v in val_inputs.items()}
        score = float(np.mean(list(val.values())))
        improved = score > best["score"]
        if improved:
            best = {
                "score": score,
                "epoch": epoch + 1,
                "val": val,
                "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            }
            since_best = 0
        else:
            since_best += 1
        _log(
            log_path,
            {
                "stage": "train",
                "epoch": epoch + 1,
                "loss": round(float(np.mean(losses)), 5),
                **{f"val_auroc_{k}": round(v, 4) for k, v in val.items()},
                "best": improved,
                "seconds": round(time.time() - t0, 1),
            },
        )
        if since_best >= patience:
            break
    model.load_state_dict(best["state"])
    return {k: v for k, v in best.items() if k != "state"}


MODEL_CARD = """# ecgdigitize PTB-XL superclass classifier

**What it does.** Multi-label probabilities of the five PTB-XL diagnostic superclasses
(NORM normal ECG, MI myocardial infarction, STTC ST/T change, CD conduction disturbance,
HYP hypertrophy) from a 12-lead ECG, including digitized 3x4 sheets where each lead is known
only in its own 2.5 s column (lead II for 10 s). A first read for research, **not a medical
device**; never use it for diagnosis.

**Model.** 1D ResNet ({n_params:,} parameters): 24 input channels (12 leads, median-centred, mV,
and 12 masks), 10 s at 100 Hz, widths {widths}, kernel {kernel}, global average + max pooling,
linear layer, sigmoid. File `model.onnx` (opset 17), sha256 `{sha256}`.
Inference with onnxruntime (CPU, one thread).

**Data.** PTB-XL v1.0.1, 100 Hz signals (Wagner et al. 2020; PhysioNet; licence CC BY 4.0).
Labels: the 3,519 records whose metadata rows are reachable here (of 21,837), of which
{n_labelled:,} are used (ecg_id 401–500 and records without a superclass removed);
superclasses from `scp_statements.csv` rows with `diagnostic == 1`, any likelihood; records
without a superclass dropped (as Strodthoff et al. 2020). Records with ecg_id 401–500 are
excluded from training, validation and test (reserved for the project's evaluation).
Split by `strat_fold` as Strodthoff et al. 2020: folds 1–8 train ({n_train:,} records), fold 9
validation ({n_val:,}; early stopping and thresholds), fold 10 test ({n_test:,}).
{pretrain_text}

**Reproduce.** Signals: PTB-XL v1.0.1 `records100/` from PhysioNet
(https://physionet.org/content/ptb-xl/1.0.1/), or the copy under `Data/records100/` of the public
GitHub repository `ea-g/ISYE6740_ECG_Proj`; labels: `ptbxl_database.csv` and
`scp_statements.csv` (this run: the 3,519-row subset of ecgdigitize's shared data). Then
`pip install "ecgdigitize[train]"` (torch, onnx) and run the command below with
`OMP_NUM_THREADS=1`.

**Training.** `{command}`; seed {seed}; torch {torch_version}, single thread, CPU;
{epochs_run} epochs (best: epoch {best_epoch}); wall time {wall_min:.1f} min. Augmentation:
amplitude scaling, baseline wander, Gaussian noise, time shifts, random gaps, and the 3x4 sheet
mask with probability {p_3x4}.

**Metrics** (AUROC on fold 10, {n_test} records; "3x4" = each lead kept only in its 3x4 column
window, II for 10 s):

| input | macro | NORM | MI | STTC | CD | HYP |
|---|---|---|---|---|---|---|
{metric_rows}

For comparison, the best 1D CNNs of Strodthoff et al. 2020, trained on folds 1–8 of all 21,837
PTB-XL records (about 17,000 labelled records), reach 0.925–0.930 macro-AUROC on this task (on
the full fold 10); this model saw {n_train:,} labelled records. With about 350 test records,
AUROCs are uncertain by a few hundredths (see `benchmarks/classify.py` for bootstrap intervals).

**Thresholds** (per class, maximising F1 on fold 9, digital input): {thresholds}.

**Limitations.** Trained on one German hospital's recordings (PTB-XL); not validated on other
populations, devices, paediatric ECGs or pacemaker rhythms. Digitization errors propagate.
Records longer than 10 s are classified in 10 s windows whose probabilities are averaged.

**Cite.** Wagner P, Strodthoff N, Bousseljot R-D, et al. PTB-XL, a large publicly available
electrocardiography dataset. Scientific Data 7, 154 (2020). Strodthoff N, Wagner P, Schaeffter
T, Samek W. Deep learning for ECG analysis: benchmarks and insights from PTB-XL. IEEE Journal of
Biomedical and Health Informatics 25(5), 1519–1528 (2020). Goldberger AL et al. PhysioBank,
PhysioToolkit, and PhysioNet. Circulation 101(23), e215–e220 (2000).
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m ecgdigitize.classify.train``)."""
    parser = argparse.ArgumentParser(
        prog="python -m ecgdigitize.classify.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--ptbxl", required=True, help="PTB-XL folder holding records100/")
    parser.add_argument("--labels", help="folder with ptbxl_database*.csv, scp_statements.csv")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--epochs", type=int, default=60, help="maximum epochs; length of the LR schedule"
    )
    parser.add_argument(
        "--patience", type=int, default=15, help="stop after this many epochs without gain"
    )
    parser.add_argument(
        "--p-3x4", type=float, default=0.5, dest="p_3x4", help="probability of the 3x4 mask"
    )
    parser.add_argument(
        "--pretrain-epochs",
        type=int,
        default=0,
        help="epochs of self-supervised pre-training on the unlabelled records (0: none)",
    )
    parser.add_argument("--widths", default="32,64,96,128", help="channels of the 4 stages")
    parser.add_argument("--kernel", type=int, default=7, help="convolution kernel size")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (AdamW)")
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train_log.jsonl"
    log_path.write_text("", encoding="utf-8")

    labels = load_labels(args.labels or args.ptbxl)
    x_all = load_signals(args.ptbxl, labels.filename_lr)
    train_sel = np.isin(labels.fold, TRAIN_FOLDS)
    val_sel, test_sel = labels.fold == VAL_FOLD, labels.fold == TEST_FOLD
    x_train, y_train = x_all[train_sel], labels.y[train_sel]
    x_val, y_val = x_all[val_sel], labels.y[val_sel]
    x_test, y_test = x_all[test_sel], labels.y[test_sel]
    _log(
        log_path,
        {
            "stage": "data",
            "labelled": len(labels.ecg_id),
            "train": int(train_sel.sum()),
            "val": int(val_sel.sum()),
            "test": int(test_sel.sum()),
            "seconds": round(time.time() - t_start, 1),
        },
    )
    widths = tuple(int(w) for w in args.widths.split(","))
    model = build_model(widths, kernel=args.kernel)
    n_params = sum(p.numel() for p in model.parameters())

    n_unlabelled = 0
    if args.pretrain_epochs > 0:
        files = unlabelled_files(args.ptbxl, set(labels.ecg_id.tolist()))
        n_unlabelled = len(files)
        x_unl = load_signals(args.ptbxl, files)
        _log(log_path, {"stage": "unlabelled", "records": n_unlabelled})
        pretrain(model, x_unl, epochs=args.pretrain_epochs, rng=rng, log_path=log_path)
        del x_unl

    val_inputs = {"digital": model_inputs(x_val), "3x4": model_inputs(apply_3x4(x_val))}
    best = train_supervised(
        model,
        x_train,
        y_train,
        val_inputs,
        y_val,
        epochs=args.epochs,
        patience=args.patience,
        rng=rng,
        log_path=log_path,
        p_3x4=args.p_3x4,
        lr=args.lr,
    )
    model.eval()
    val_probs = _predict(model, val_inputs["digital"])
    thresholds = best_f1_thresholds(y_val, val_probs)
    test_metrics = {
        "digital": auroc_table(y_test, _predict(model, model_inputs(x_test))),
        "3x4": auroc_table(y_test, _predict(model, model_inputs(apply_3x4(x_test)))),
    }
    val_metrics = {
        "digital": auroc_table(y_val, val_probs),
        "3x4": auroc_table(y_val, _predict(model, val_inputs["3x4"])),
    }

    torch.save(model.state_dict(), out / "model.pt")
    onnx_path = out / "model.onnx"
    export_onnx(model, onnx_path)
    sha256 = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    # The exported graph must reproduce torch.
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    probe = model_inputs(apply_3x4(x_test[:8]))
    (onnx_probs,) = session.run(None, {"x": probe})
    max_diff = float(np.abs(onnx_probs - _predict(model, probe)).max())
    if max_diff > 1e-4:
        raise RuntimeError(f"ONNX export differs from torch by {max_diff}")

    wall_min = (time.time() - t_start) / 60
    command = "python -m ecgdigitize.classify.train " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    meta = {
        "classes": list(CLASSES),
        "thresholds": thresholds,
        "fs_hz": MODEL_FS_HZ,
        "window_samples": WINDOW_SAMPLES,
        "input": "x (batch, 24, 1000) float32: 12 median-centred leads (mV) + 12 masks",
        "output": "probabilities (batch, 5)",
        "sha256": sha256,
        "n_params": n_params,
        "widths": list(widths),
        "kernel": args.kernel,
        "training_data": "PTB-XL v1.0.1 (CC BY 4.0), Wagner et al. 2020",
    }
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    metrics = {
        "test_fold10": test_metrics,
        "val_fold9": val_metrics,
        "best_epoch": best["epoch"],
        "n_params": n_params,
        "n_train": int(train_sel.sum()),
        "n_val": int(val_sel.sum()),
        "n_test": int(test_sel.sum()),
        "n_unlabelled_pretrain": n_unlabelled,
        "pretrain_epochs": args.pretrain_epochs,
        "onnx_max_abs_diff": max_diff,
        "wall_minutes": round(wall_min, 2),
        "command": command,
        "seed": args.seed,
        "torch": torch.__version__,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    rows = "\n".join(
        f"| {name} | {m['macro']:.3f} | " + " | ".join(f"{m[c]:.3f}" for c in CLASSES) + " |"
        for name, m in test_metrics.items()
    )
    epochs_run = sum(
        1
        for line in log_path.read_text(encoding="utf-8").splitlines()
        if '"stage": "train"' in line
    )
    if args.pretrain_epochs > 0:
        pretrain_text = (
            f"Self-supervised pre-training: {args.pretrain_epochs} epochs of masked-segment "
            f"reconstruction on {n_unlabelled:,} PTB-XL records without a label here (ecg_id "
            "401–500 and the labelled records excluded; their folds are unknown, so some may "
            "come from fold-9/10 patients: their signals, never their labels, were seen)."
        )
    else:
        pretrain_text = "No self-supervised pre-training."
    card = MODEL_CARD.format(
        n_params=n_params,
        widths=", ".join(map(str, widths)),
        kernel=args.kernel,
        sha256=sha256,
        n_labelled=len(labels.ecg_id),
        n_train=int(train_sel.sum()),
        n_val=int(val_sel.sum()),
        n_test=int(test_sel.sum()),
        pretrain_text=pretrain_text,
        command=command,
        seed=args.seed,
        torch_version=torch.__version__,
        epochs_run=epochs_run,
        best_epoch=best["epoch"],
        wall_min=wall_min,
        p_3x4=args.p_3x4,
        metric_rows=rows,
        thresholds=", ".join(f"{c} {v:.2f}" for c, v in thresholds.items()),
    )
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    _log(log_path, {"stage": "done", "test": test_metrics, "wall_minutes": round(wall_min, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
