"""The report as text: JSON as SPEC §8 shapes it, a flat CSV, or a small HTML page."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

GROUPS = ("overall", "by_grade", "by_owner", "by_team", "by_month", "by_score_band")


def render_report(
    report: Mapping[str, Any], fmt: str, charts: Mapping[str, str] | None = None
) -> str:
    """The report as ``json``, ``csv`` or ``html``; ``charts`` (title → inline SVG) are
    embedded in the HTML page, which stays one self-contained file."""
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["group", "key", "figure", "value"])
        writer.writerows(report_rows(report))
        return out.getvalue()
    return _html(report, charts or {})


def report_rows(report: Mapping[str, Any]) -> Iterator[tuple[str, str, str, object]]:
    """One row per figure: (group, key, figure, value); nested figures are dotted."""
    for group in GROUPS:
        value = report.get(group)
        if group == "overall" and isinstance(value, Mapping):
            for name, figure in _flat(value):
                yield group, "", name, figure
        elif isinstance(value, Mapping):
            for key, figures in value.items():
                for name, figure in _flat(figures):
                    yield group, str(key), name, figure
    for commitment in report.get("commitments", []):
        for name, figure in _flat(commitment):
            yield "commitments", str(commitment.get("name", "")), name, figure
    yield from analytics_rows(report)


def analytics_rows(report: Mapping[str, Any]) -> Iterator[tuple[str, str, str, object]]:
    """The analytics keys (``waterfall``, ``speed_to_lead``, ``speed_legs``,
    ``touch_decay``, ``burn_up``) and the acceptance tables (``acceptance``,
    ``qualification_outcomes``) as report rows."""
    for name, table in analytics_tables(report).items():
        header, rows = table
        # Two key columns (group and key, or commitment and date): "waterfall.by_grade", "A".
        width = 2 if header[1] in ("key", "date") else 1
        for row in rows:
            group = f"{name}.{row[0]}" if width == 2 else name
            key = str(row[width - 1])
            for column, value in zip(header[width:], row[width:], strict=True):
                yield group, key, column, "" if value is None else value


Table = tuple[list[str], list[list[object]]]


def analytics_tables(report: Mapping[str, Any]) -> dict[str, Table]:
    """The analytics keys as tables (header, rows) for CSV files and report rows."""
    tables: dict[str, Table] = {}
    waterfall = report.get("waterfall")
    if isinstance(waterfall, Mapping):
        tables["waterfall"] = grouped_table(waterfall)
    speed = report.get("speed_to_lead")
    if isinstance(speed, Mapping):
        tables["speed_to_lead"] = wide_table([], [((), b) for b in speed["buckets"]])
    legs = report.get("speed_legs")
    if isinstance(legs, Mapping):
        tables["speed_legs"] = grouped_table(legs)
    decay = report.get("touch_decay")
    if isinstance(decay, Mapping):
        tables["touch_decay"] = wide_table([], [((), point) for point in decay["points"]])
        summary = {k: v for k, v in decay.items() if k != "points"}
        tables["touch_decay_loss"] = wide_table([], [((), summary)])
    burn = report.get("burn_up")
    if isinstance(burn, list):
        rows = [
            ((entry["name"], day["date"]), {"count": day["count"], "target": entry["target"]})
            for entry in burn
            for day in entry["days"]
        ]
        tables["burn_up"] = wide_table(["commitment", "date"], rows)
    acceptance = report.get("acceptance")
    if isinstance(acceptance, Mapping):
        tables["acceptance"] = grouped_table(acceptance)
    outcomes = report.get("qualification_outcomes")
    if isinstance(outcomes, Mapping):
        tables["qualification_outcomes"] = wide_table(
            ["policy"], [((policy,), split) for policy, split in outcomes.items()]
        )
    return tables


def grouped_table(groups: Mapping[str, Any]) -> Table:
    """``overall`` plus ``by_*`` groups of figure objects: one row per (group, key)."""
    rows: list[tuple[tuple[object, ...], Mapping[str, Any]]] = []
    for group, value in groups.items():
        if group == "overall":
            rows.append(((group, ""), value))
        elif isinstance(value, Mapping):
            rows.extend(((group, key), figures) for key, figures in value.items())
    return wide_table(["group", "key"], rows)


def wide_table(keys: list[str], rows: Sequence[tuple[tuple[object, ...], Any]]) -> Table:
    """Rows of flattened figures under one header (the union of their dotted names)."""
    flat = [(key, dict(_flat(figures))) for key, figures in rows]
    columns: dict[str, None] = {}
    for _, figures in flat:
        columns.update(dict.fromkeys(figures))
    body = [[*key, *(figures.get(c, "") for c in columns)] for key, figures in flat]
    return [*keys, *columns], body


def _flat(figures: Any, prefix: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(figures, Mapping):
        for key, value in figures.items():
            yield from _flat(value, f"{prefix}{key}.")
    elif isinstance(figures, list):
        yield prefix.rstrip("."), json.dumps(figures)
    else:
        yield prefix.rstrip("."), "" if figures is None else figures


def _html(report: Mapping[str, Any], charts: Mapping[str, str]) -> str:
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in report_rows(report)
    )
    as_of = html.escape(str(report.get("as_of", "")))
    figures = "\n".join(
        f'<figure id="{html.escape(name)}">{svg}</figure>' for name, svg in charts.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>leadsla report {as_of}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25rem .5rem}}th{{background:#eee}}
figure{{margin:1rem 0}}figure svg{{max-width:100%;height:auto}}</style></head>
<body><h1>SLA report as of {as_of}</h1>
{figures}
<table><thead><tr><th>group</th><th>key</th><th>figure</th><th>value</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
