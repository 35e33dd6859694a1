"""``ecgdigitize score``: score digitized records against references (PhysioNet 2024 metrics)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..metrics import ScoreReport

METRIC_CHOICES = ("snr", "snr-median", "ks", "asci", "wad", "all")

# Digits shown in the table for each metric (SNR in dB, KS and ASCI unitless, WAD in mV).
_TABLE_DIGITS = {"snr": 2, "snr-median": 2, "ks": 3, "asci": 3, "wad": 4}


@click.command("score")
@click.argument(
    "metric", metavar="METRIC", type=click.Choice(METRIC_CHOICES, case_sensitive=False)
)
@click.argument("ref", type=click.Path(path_type=Path))
@click.argument("test", type=click.Path(path_type=Path))
@click.option(
    "--no-align",
    is_flag=True,
    help="Score the estimate as it is; by default a lag up to 0.5 s and an offset up to 1 mV "
    "are removed first.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Report format: a readable table, or CSV/JSON rows per lead, per record and pooled.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of standard output.",
)
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
def score(
    metric: str,
    ref: Path,
    test: Path,
    no_align: bool,
    fmt: str,
    output: Path | None,
    overwrite: bool,
) -> None:
    """Score the digitized record(s) TEST against the reference record(s) REF.

    METRIC is snr, snr-median, ks, asci, wad or all (PhysioNet/CinC Challenge 2024 metrics).
    REF and TEST are two WFDB records (with or without .hea) or two folders; records in folders
    are paired by their relative path, and a reference without a test record is reported as
    missing and scored as an empty estimate (SNR 0).

    \b
    Examples:
      ecgdigitize score all refs/ out/
      ecgdigitize score snr ref/00001_hr.hea out/00001_hr --format csv -o scores.csv
    """
    from ..io.atomic import check_writable
    from ..metrics import METRICS, score_folders, score_records

    if output is not None:
        check_writable([output], overwrite=overwrite)
    metrics = METRICS if metric.lower() == "all" else (metric.lower(),)
    align = not no_align
    if ref.is_dir() != test.is_dir():
        kinds = ("a folder", "a record") if ref.is_dir() else ("a record", "a folder")
        raise click.UsageError(
            f"REF {ref} is {kinds[0]} but TEST {test} is {kinds[1]}; pass two records or two "
            "folders"
        )
    if ref.is_dir():
        report = score_folders(ref, test, metrics=metrics, align=align)
    else:
        report = score_records(ref, test, metrics=metrics, align=align)

    text = {"table": _format_table, "csv": _format_csv, "json": _format_json}[fmt](report)
    if output is None:
        click.echo(text, nl=False)
    else:
        _write_text(output, text, overwrite=overwrite)
    if report.missing and (fmt != "table" or output is not None):
        click.echo(
            f"warning: {len(report.missing)} test record(s) missing, scored as empty: "
            + ", ".join(report.missing),
            err=True,
        )


def _write_text(path: Path, text: str, *, overwrite: bool) -> None:
    from ..io.atomic import atomic_directory, check_writable, commit_files

    check_writable([path], overwrite=overwrite)
    target = path.parent if str(path.parent) else Path(".")
    with atomic_directory(target) as tmp:
        (tmp / path.name).write_text(text, encoding="utf-8")
        commit_files(tmp, [path.name], target)


def _number(value: float, digits: int) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def _format_table(report: ScoreReport) -> str:
    from ..metrics import METRIC_UNITS

    headers = ["record", "lead"]
    headers += [f"{m} [{METRIC_UNITS[m]}]" if METRIC_UNITS[m] else m for m in report.metrics]
    headers.append("coverage")
    rows: list[list[str]] = []
    means = report.record_means
    for record in report.records:
        leads = [row for row in report.rows if row.record == record]
        for row in leads:
            cells = [record, row.lead]
            cells += [_number(row.values[m], _TABLE_DIGITS[m]) for m in report.metrics]
            cells.append(_number(row.coverage, 3))
            rows.append(cells)
        cells = [record, "mean"]
        cells += [_number(means[record][m], _TABLE_DIGITS[m]) for m in report.metrics]
        cells.append(_number(_mean_coverage(report, record), 3))
        rows.append(cells)
    pooled = report.pooled_means
    footer = ["pooled", f"{len(report.rows)} leads"]
    footer += [_number(pooled[m], _TABLE_DIGITS[m]) for m in report.metrics]
    footer.append(_number(_mean_coverage(report, None), 3))

    widths = [max(len(r[i]) for r in [headers, *rows, footer]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [
        f"PhysioNet 2024 metrics, {len(report.records)} record(s), alignment "
        + ("on" if report.align else "off"),
        line(headers),
        rule,
        *(line(r) for r in rows),
        rule,
        line(footer),
    ]
    if report.missing:
        out.append(
            f"missing test records ({len(report.missing)}), scored as empty estimates: "
            + ", ".join(report.missing)
        )
    return "\n".join(out) + "\n"


def _mean_coverage(report: ScoreReport, record: str | None) -> float:
    from ..metrics import pooled

    return pooled(r.coverage for r in report.rows if record is None or r.record == record)


def _csv_number(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:.6g}"


def _format_csv(report: ScoreReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "level",
            "record",
            "lead",
            *report.metrics,
            "coverage",
            "lag_s",
            "offset_mv",
            "aligned",
            "missing",
        ]
    )
    for row in report.rows:
        writer.writerow(
            [
                "lead",
                row.record,
                row.lead,
                *(_csv_number(row.values[m]) for m in report.metrics),
                _csv_number(row.coverage),
                _csv_number(row.lag_s),
                _csv_number(row.offset_mv),
                str(row.aligned).lower(),
                str(row.missing).lower(),
            ]
        )
    missing = set(report.missing)
    for record, means in report.record_means.items():
        writer.writerow(
            [
                "record",
                record,
                "",
                *(_csv_number(means[m]) for m in report.metrics),
                _csv_number(_mean_coverage(report, record)),
                "",
                "",
                "",
                str(record in missing).lower(),
            ]
        )
    pooled = report.pooled_means
    writer.writerow(
        [
            "pooled",
            "",
            "",
            *(_csv_number(pooled[m]) for m in report.metrics),
            _csv_number(_mean_coverage(report, None)),
            "",
            "",
            "",
            "",
        ]
    )
    return buffer.getvalue()


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _format_json(report: ScoreReport) -> str:
    from ..metrics import METRIC_UNITS

    means = report.record_means
    missing = set(report.missing)
    records: list[dict[str, Any]] = []
    for record in report.records:
        leads = [
            {
                "lead": row.lead,
                **{m: _json_number(row.values[m]) for m in report.metrics},
                "coverage": _json_number(row.coverage),
                "lag_s": _json_number(row.lag_s),
                "offset_mv": _json_number(row.offset_mv),
                "aligned": row.aligned,
            }
            for row in report.rows
            if row.record == record
        ]
        records.append(
            {
                "record": record,
                "missing": record in missing,
                "mean": {m: _json_number(means[record][m]) for m in report.metrics},
                "leads": leads,
            }
        )
    document = {
        "metrics": list(report.metrics),
        "units": {m: METRIC_UNITS[m] for m in report.metrics},
        "align": report.align,
        "pooled": {m: _json_number(v) for m, v in report.pooled_means.items()},
        "n_leads": len(report.rows),
        "records": records,
        "missing": list(report.missing),
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"
