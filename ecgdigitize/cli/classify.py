"""``ecgdigitize classify``: PTB-XL superclass probabilities for WFDB records or ECG images."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from ..classify.model import CLASSES as _CLASSES


def parse_threshold(text: str | None, defaults: dict[str, float]) -> dict[str, float]:
    """Thresholds from ``--threshold``: one number for all classes, or ``CLASS=VALUE,...``.

    Classes not named keep their default. Raises :class:`click.BadParameter` on bad input.
    """
    out = dict(defaults)
    if text is None:
        return out
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not 0.0 <= value <= 1.0:
            raise click.BadParameter(f"{text!r} is not in [0, 1]", param_hint="--threshold")
        return dict.fromkeys(out, value)
    for item in text.split(","):
        cls, sep, raw = item.partition("=")
        cls = cls.strip().upper()
        if not sep or cls not in out:
            raise click.BadParameter(
                f"{item.strip()!r}: expected a number or CLASS=VALUE with CLASS one of "
                f"{', '.join(_CLASSES)}",
                param_hint="--threshold",
            )
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise click.BadParameter(
                f"{item.strip()!r}: value not in [0, 1]", param_hint="--threshold"
            )
        out[cls] = value
    return out


def _labels(probs: dict[str, float], thresholds: dict[str, float]) -> list[str]:
    return [c for c in _CLASSES if probs[c] >= thresholds[c]]


def format_results(
    results: list[tuple[str, dict[str, float]]], thresholds: dict[str, float], fmt: str
) -> str:
    """Render ``(record, probabilities)`` pairs as a table, CSV or JSON text."""
    if fmt == "json":
        doc = {
            "classes": list(_CLASSES),
            "thresholds": thresholds,
            "records": [
                {
                    "record": rec,
                    "probabilities": {c: round(p[c], 6) for c in _CLASSES},
                    "labels": _labels(p, thresholds),
                }
                for rec, p in results
            ],
        }
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["record", *_CLASSES, "labels"])
        for rec, p in results:
            writer.writerow(
                [rec, *(f"{p[c]:.6f}" for c in _CLASSES), ";".join(_labels(p, thresholds))]
            )
        return buffer.getvalue()
    width = max([len("record"), *(len(rec) for rec, _ in results)])
    header = f"{'record':<{width}}  " + "  ".join(f"{c:>5}" for c in _CLASSES) + "  labels"
    lines = [header]
    for rec, p in results:
        cells = "  ".join(f"{p[c]:5.3f}" for c in _CLASSES)
        lines.append(f"{rec:<{width}}  {cells}  {','.join(_labels(p, thresholds)) or '-'}")
    return "\n".join(lines) + "\n"


@click.command(
    "classify",
    epilog="Not a medical device: research use only. Model card: "
    "ecgdigitize/classify/weights/MODEL_CARD.md.",
)
@click.argument("records", nargs=-1, required=True, metavar="REC [REC ...]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option(
    "--threshold",
    metavar="P | CLASS=P,...",
    help="Probability at or above which a class is listed in 'labels': one number for all "
    "classes or e.g. 'MI=0.3,HYP=0.2'. Default: the model's per-class thresholds (best F1 on "
    "PTB-XL validation fold 9).",
)
def classify(
    records: tuple[str, ...],
    fmt: str,
    output: Path | None,
    overwrite: bool,
    threshold: str | None,
) -> None:
    """Probabilities of NORM, MI, STTC, CD and HYP (PTB-XL superclasses) per record.

    Each REC is a WFDB record (12 standard leads, any fs ≥ 100 Hz, 2.5–60 s, NaN gaps allowed)
    or an image/PDF of an ECG sheet (.png .jpg .jpeg .tif .tiff .bmp .pdf; of a PDF, the first
    page), which is digitized first with default options. Records longer than 10 s are
    classified in 10 s windows and the probabilities averaged. All records are classified before
    anything is written; the first failure stops the command.
    """
    from ..classify.model import classify_file, default_thresholds
    from ..io.atomic import atomic_directory, check_writable, commit_files

    if output is not None:
        check_writable([output], overwrite=overwrite)
    thresholds = parse_threshold(threshold, default_thresholds())
    results = [(rec, classify_file(rec)) for rec in records]
    text = format_results(results, thresholds, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        folder = output.parent if str(output.parent) else Path(".")
        with atomic_directory(folder) as tmp:
            (tmp / output.name).write_text(text, encoding="utf-8")
            commit_files(tmp, [output.name], folder)
