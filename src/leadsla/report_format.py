"""The report as text: JSON as SPEC §8 shapes it, a flat CSV, or a small HTML page."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

GROUPS = ("overall", "by_grade", "by_owner", "by_team", "by_month")


def render_report(report: Mapping[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["group", "key", "figure", "value"])
        writer.writerows(report_rows(report))
        return out.getvalue()
    return _html(report)


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


def _flat(figures: Any, prefix: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(figures, Mapping):
        for key, value in figures.items():
            yield from _flat(value, f"{prefix}{key}.")
    elif isinstance(figures, list):
        yield prefix.rstrip("."), json.dumps(figures)
    else:
        yield prefix.rstrip("."), "" if figures is None else figures


def _html(report: Mapping[str, Any]) -> str:
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in report_rows(report)
    )
    as_of = html.escape(str(report.get("as_of", "")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>leadsla report {as_of}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25rem .5rem}}th{{background:#eee}}</style></head>
<body><h1>SLA report as of {as_of}</h1>
<table><thead><tr><th>group</th><th>key</th><th>figure</th><th>value</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
