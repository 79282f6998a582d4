"""``leadsla import``: native event files and CRM exports into the database."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadsla.bootstrap import now_micros
from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    err,
    fail,
    load_rules,
    open_engine,
    open_input,
    open_output,
    progress_bar,
    read_event_file,
    report_row_errors,
)
from leadsla.core.events import RowError, value_problem
from leadsla.core.policy import Rulebook

# Kept in step with leadsla.connectors.salesforce.REPORT_DATE_FORMATS (a test checks):
# the CLI's help is built at import, before the connectors are loaded.
REPORT_LOCALES = (
    "en_US",
    "en_CA",
    "en_GB",
    "en_IE",
    "en_AU",
    "de_DE",
    "fr_FR",
    "es_ES",
    "nl_NL",
    "ja_JP",
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadsla.connectors import ConvertedRow, ImportMapping
    from leadsla.service.imports import ImportResult
    from leadsla.service.ingest import IncomingEvent


def register(app: typer.Typer) -> None:
    app.command("import")(import_events)


def import_events(
    config_path: ConfigOption,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Native events CSVs, or CRM exports: Salesforce Lead, LeadHistory and Task; "
            "HubSpot contacts and property history (the format is read from the header)."
        ),
    ],
    database: DatabaseOption = None,
    mapping_file: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="YAML mapping of the CRM's statuses, ratings, owners and activities onto ours.",
        ),
    ] = None,
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone",
            help="Time zone of exports written in local time (a Salesforce report: the "
            "exporting user's zone), e.g. America/New_York; overrides the mapping's timezone.",
        ),
    ] = None,
    locale: Annotated[
        str | None,
        typer.Option(
            "--locale",
            help="Locale of a Salesforce report export's dates: "
            + ", ".join(REPORT_LOCALES)
            + " (en_US: 3/2/2026 9:15 AM; en_GB: 02/03/2026 09:15).",
        ),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(
            "--date-format",
            help='strftime pattern of local dates, e.g. "%d/%m/%Y %H:%M"; instead of --locale.',
        ),
    ] = None,
) -> None:
    """Load event files into the database; events already stored are skipped.

    Rejected rows go to FILE.rejected.csv beside each file, with their line and reason.
    """
    from leadsla.connectors.reconcile import reconcile
    from leadsla.service.imports import import_incoming
    from leadsla.service.ingest import IncomingEvent
    from leadsla.store.database import settle_after_import

    rules = load_rules(config_path)
    mapping = _dated(_load_mapping(mapping_file), zone, locale, date_format).with_rules(rules)
    engine = open_engine(database, bulk=True)
    crm_rows: list[ConvertedRow] = []
    crm_files: list[Path] = []
    for path in files:
        kind = _format_of(path)
        if kind == "native":
            _import_native(engine, rules, path)
        else:
            crm_rows.extend(_convert_export(rules, path, kind, mapping))
            crm_files.append(path)
    if crm_files:
        incoming = [
            IncomingEvent(r.lead_id, r.at, r.field, r.value, r.key) for r in reconcile(crm_rows)
        ]
        with progress_bar(len(incoming), "importing") as bar:
            task = bar.add_task("importing", total=len(incoming))
            result = import_incoming(
                engine,
                rules,
                incoming,
                source="import:" + ",".join(p.name for p in crm_files),
                recorded_at=now_micros(),
                progress=lambda done: bar.update(task, completed=done),
            )
        err.print(
            f"leadsla: {stored_summary(result)} (from {', '.join(p.name for p in crm_files)})",
            markup=False,
            soft_wrap=True,
        )
        _say_unmapped_owners(rules, incoming)
    settle_after_import(engine)


def _say_unmapped_owners(rules: Rulebook, incoming: Sequence[IncomingEvent]) -> None:
    """Owners no rep has are stored as written (docs/crm.md); say so once, not per row."""
    unknown = sorted(
        {e.value for e in incoming if e.field == "owner" and e.value} - set(rules.reps)
    )
    if unknown:
        shown = ", ".join(unknown[:3]) + (", …" if len(unknown) > 3 else "")
        err.print(
            f"leadsla: {len(unknown)} owner value(s) are no rep of the config ({shown}): stored "
            "as written; `leadsla doctor` lists them with their leads",
            markup=False,
            soft_wrap=True,
        )


def _load_mapping(path: Path | None) -> ImportMapping:
    from leadsla.connectors import ImportMapping, MappingError, load_mapping

    if path is None:
        return ImportMapping()
    with open_input(path) as handle:
        text = handle.read()
    try:
        return load_mapping(text, str(path))
    except MappingError as exc:
        lines = str(exc).splitlines()
        for line in lines[1:]:
            err.print(line, markup=False, soft_wrap=True)
        fail(lines[0])


def _dated(
    mapping: ImportMapping, zone: str | None, locale: str | None, date_format: str | None
) -> ImportMapping:
    """The mapping with the zone and date format given on the command line."""
    from leadsla.connectors import MappingError, mapping_from_dict
    from leadsla.connectors.salesforce import REPORT_DATE_FORMATS

    if locale is not None and date_format is not None:
        fail("give --locale or --date-format, not both: the locale names a date format")
    if locale is not None:
        known = {name.casefold().replace("-", "_"): name for name in REPORT_DATE_FORMATS}
        name = known.get(locale.casefold().replace("-", "_"))
        if name is None:
            fail(
                f"--locale {locale}: not a locale whose dates this reads; expected one of "
                f"{', '.join(REPORT_DATE_FORMATS)}, or give --date-format"
            )
        date_format = REPORT_DATE_FORMATS[name]
    if zone is None and date_format is None:
        return mapping
    data = mapping.model_dump(exclude_defaults=True)
    if zone is not None:
        data["timezone"] = zone
    if date_format is not None:
        data["date_format"] = date_format
    try:
        return mapping_from_dict(data, source="the command line")
    except MappingError as exc:
        fail(
            str(exc)
            .replace("timezone:", "--zone:")
            .replace("date_format:", "--date-format:")
            .replace("\n", "; ")
        )


def _format_of(path: Path) -> str:
    from leadsla.connectors import ConnectorError, detect_format

    with open_input(path) as handle:
        header = next(csv.reader(handle), None)
    if header is None:
        fail(f"{path}: the file is empty")
    try:
        return detect_format(header)
    except ConnectorError as exc:
        # The formats it could have been go above; the error line stays one line.
        first, *rest = str(exc).splitlines()
        for line in rest:
            err.print(line, markup=False, soft_wrap=True)
        fail(f"{path}: {first}")


def _convert_export(
    rules: Rulebook, path: Path, kind: str, mapping: ImportMapping
) -> list[ConvertedRow]:
    """The events of one CRM export; bad rows (and values the config does not know) rejected."""
    from leadsla.connectors import ConnectorError, RejectedRow, SkippedRow, convert

    statuses = list(rules.statuses)
    grades = [g.name for g in rules.grades]
    good: list[ConvertedRow] = []
    rejected: list[RejectedRow] = []
    skipped: Counter[str] = Counter()
    raw_by_line: dict[int, list[str]] = {}
    with open_input(path) as handle:
        try:
            for item in convert(handle, mapping, source=str(path), format=kind):
                if isinstance(item, RejectedRow):
                    rejected.append(item)
                    continue
                if isinstance(item, SkippedRow):
                    skipped[item.reason] += 1
                    continue
                problem = value_problem(
                    item.field, item.value or "", statuses, grades, rules.acceptance
                )
                if problem is not None:
                    rejected.append(RejectedRow(item.line, [], f"{item.field}: {problem}"))
                else:
                    good.append(item)
        except ConnectorError as exc:
            fail(f"{path}: {exc}")
    if skipped:
        # Not errors: rows that are no events by the rules (docs/crm.md); said, not hidden.
        total = sum(skipped.values())
        err.print(f"leadsla: {path.name}: {total} rows make no event:", markup=False)
        for reason, count in skipped.most_common():
            err.print(f"  {count} × {reason}", markup=False, soft_wrap=True)
    if rejected:
        with open_input(path) as handle:
            reader = csv.reader(handle)
            wanted = {r.line for r in rejected}
            start = 1
            for row in reader:
                if start in wanted:
                    raw_by_line[start] = row
                start = reader.line_num + 1
        target = path.with_name(path.stem + ".rejected.csv")
        with open_output(target) as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["line", "error", "row"])
            for r in rejected:
                writer.writerow([r.line, r.reason, ",".join(r.raw or raw_by_line.get(r.line, []))])
        report_row_errors((f"{path}:{r.line}: {r.reason}" for r in rejected), len(rejected))
        err.print(f"leadsla: rejected rows of {path.name} → {target}", markup=False)
    return good


def _import_native(engine: Engine, rules: Rulebook, events: Path) -> None:
    from leadsla.service.imports import import_table

    table, report = read_event_file(rules, events, keep_errors=True)
    rejected_path = events.with_name(events.stem + ".rejected.csv")
    if report.errors:
        _write_rejects(events, rejected_path, report.errors)
    report_row_errors(report.errors, report.skipped)
    table = table.sorted()
    with progress_bar(len(table), "importing") as bar:
        task = bar.add_task("importing", total=len(table))
        result = import_table(
            engine,
            rules,
            table,
            source=f"import:{events.name}",
            recorded_at=now_micros(),
            progress=lambda done: bar.update(task, completed=done),
        )
    rejects = f"; {report.skipped} rejected → {rejected_path}" if report.skipped else ""
    err.print(f"leadsla: {stored_summary(result)}{rejects}", markup=False, soft_wrap=True)


def stored_summary(result: ImportResult) -> str:
    """What an import did, the file's own repeats apart from what the database held:
    "already there" on a fresh database would send the user looking for a first load."""
    repeated = f", {result.repeated} identical rows in the file" if result.repeated else ""
    return (
        f"{result.accepted} events stored{repeated}, {result.duplicates} already there, "
        f"{result.leads} leads updated"
    )


def _write_rejects(source: Path, target: Path, errors: Sequence[RowError]) -> None:
    """The rejected rows as they were, with their line and the reason."""
    by_line = {e.line: e for e in errors}
    with open_input(source) as handle, open_output(target) as out:
        reader = csv.reader(handle)
        writer = csv.writer(out, lineterminator="\n")
        header = next(reader, [])
        writer.writerow(["line", "error", *header])
        start = reader.line_num + 1
        for row in reader:
            error = by_line.get(start)
            if error is not None:
                column = f"{error.column}: " if error.column else ""
                writer.writerow([start, f"{column}{error.message}", *row])
            start = reader.line_num + 1
