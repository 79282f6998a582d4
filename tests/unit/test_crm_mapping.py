"""Issue 16, parts 1-3: CRM activity records become SPEC §3/§9.1 activities by a declared
table (each default rule, overrides from ``connectors.<crm>.activity_map``, bad rules
refused with file, line and field), reps' CRM ids map owners (both Salesforce id forms),
account keys by email domain without free mail, and the Lead History report export in
two locales and zones."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from leadsla.config import ConfigError, build_rulebook, load_config, load_config_text
from leadsla.connectors import (
    ConnectorError,
    Converted,
    ConvertedRow,
    ImportMapping,
    RejectedRow,
    SkippedRow,
    convert,
    detect_format,
    hubspot,
    load_mapping,
)
from leadsla.connectors.salesforce import REPORT_DATE_FORMATS, task_activity
from leadsla.core.crm_activity import HUBSPOT_DISPOSITIONS
from leadsla.core.crm_identity import CrmSettings, id18
from leadsla.core.events import parse_instant
from leadsla.core.routing import Assignment, RoutingRule, RoutingState, account_keys, route

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
REPORTS = ROOT / "tests" / "fixtures" / "salesforce_reports"
LEAD = "00Q5g00000Ab1CdEAJ"
SAM_SF = "0058c00000AbCdE"  # r1's Salesforce id in the example config (15 characters)


@pytest.fixture(scope="module")
def mapping() -> ImportMapping:
    return ImportMapping().with_rules(build_rulebook(load_config(CONFIG)))


def lines(*rows: str) -> list[str]:
    return [row + "\n" for row in rows]


def events(results: Iterable[Converted]) -> list[ConvertedRow]:
    return [r for r in results if isinstance(r, ConvertedRow)]


def task(mapping: ImportMapping, **fields: str) -> str | None:
    record = {"IsClosed": "true", **fields}
    return task_activity(record, mapping).activity


# -- Salesforce: each default rule -------------------------------------------------------

SALESFORCE_DEFAULTS = [
    # (task fields, expected activity)
    ({"TaskSubtype": "ListEmail", "Type": "Email"}, "email:automated"),
    ({"TaskSubtype": "Cadence"}, None),
    ({"TaskSubtype": "Call", "CallDisposition": "Connected"}, "call:connected"),
    ({"TaskSubtype": "Call", "CallDisposition": "Meeting Booked"}, "call:connected"),
    ({"TaskSubtype": "Call", "CallDisposition": "Left Voicemail"}, "call:voicemail"),
    ({"TaskSubtype": "Call", "CallDisposition": "left message"}, "call:voicemail"),
    ({"TaskSubtype": "Call", "CallDisposition": "No Answer"}, "call:no_answer"),
    ({"TaskSubtype": "Call", "CallDisposition": "Busy"}, "call:no_answer"),
    ({"TaskSubtype": "Call", "CallDisposition": "Wrong Number"}, "call:no_answer"),
    # A blank disposition is an attempt, never a connect (the 100% connect rate).
    ({"TaskSubtype": "Call", "CallDisposition": ""}, "call:attempted"),
    ({"TaskSubtype": "Task", "Type": "Call"}, "call:attempted"),
    ({"CallType": "Outbound"}, "call:attempted"),
    ({"TaskSubtype": "Email"}, "email:sent"),
    ({"TaskSubtype": "Task", "Type": "Email"}, "email:sent"),
    ({"TaskSubtype": "Task", "Type": "Meeting"}, "meeting:held"),
    ({"TaskSubtype": "SMS"}, "sms:sent"),
    ({"Type": "Text"}, "sms:sent"),
    ({"TaskSubtype": "LinkedIn"}, None),
    ({"TaskSubtype": "Task", "Type": "Other"}, None),
]


@pytest.mark.parametrize(("fields", "expected"), SALESFORCE_DEFAULTS)
def test_each_salesforce_default_rule(
    mapping: ImportMapping, fields: dict[str, str], expected: str | None
) -> None:
    assert task(mapping, **fields) == expected


def test_open_tasks_are_skipped_with_a_reason_not_rejected(mapping: ImportMapping) -> None:
    export = lines(
        "Id,WhoId,CreatedDate,CompletedDateTime,TaskSubtype,CallDisposition,Status,IsClosed",
        f"T1,{LEAD},2026-03-02T14:00:00Z,,Call,,Not Started,false",
        f"T2,{LEAD},2026-03-02T15:00:00Z,2026-03-02T15:05:00Z,Call,,Completed,true",
        f"T3,{LEAD},2026-03-02T16:00:00Z,,Call,Connected,In Progress,",
        f"T4,{LEAD},2026-03-02T17:00:00Z,,Call,Connected,Done,",
        f"T5,{LEAD},2026-03-02T18:00:00Z,,Call,Connected,,maybe",
    )
    results = list(convert(export, mapping, source="Task.csv"))
    skipped = {r.line: r.reason for r in results if isinstance(r, SkippedRow)}
    assert set(skipped) == {2, 4, 5}
    assert "IsClosed false" in skipped[2]
    assert 'Status "In Progress"' in skipped[4]
    assert "connectors.salesforce.closed_statuses" in skipped[5]
    assert [(e.line, e.value) for e in events(results)] == [(3, "call:attempted")]
    [bad] = [r for r in results if isinstance(r, RejectedRow)]
    assert (bad.line, bad.reason) == (6, 'IsClosed: "maybe" is neither true nor false')


def test_closed_statuses_come_from_the_config() -> None:
    text = CONFIG.read_text(encoding="utf-8").replace(
        "  salesforce:\n    activity_map:",
        "  salesforce:\n    closed_statuses: [Completed, Done]\n    activity_map:",
    )
    custom = ImportMapping().with_rules(build_rulebook(load_config_text(text)))
    assert task(custom, IsClosed="", Status="Done", TaskSubtype="Email") == "email:sent"
    assert task(custom, IsClosed="", Status="Waiting", TaskSubtype="Email") is None


def test_a_task_export_that_cannot_tell_open_from_done_is_refused(
    mapping: ImportMapping,
) -> None:
    """Without IsClosed, Status or CompletedDateTime a to-do looks like a done call: the
    old "assumed completed" counted planned calls as attempts."""
    export = lines("WhoId,CreatedDate,TaskSubtype", f"{LEAD},2026-03-02T14:00:00Z,Call")
    with pytest.raises(ConnectorError, match="IsClosed or Status or CompletedDateTime"):
        list(convert(export, mapping))
    # CompletedDateTime alone says it: Salesforce stamps it when a task closes.
    done = lines(
        "WhoId,CreatedDate,CompletedDateTime,TaskSubtype",
        f"{LEAD},2026-03-02T14:00:00Z,2026-03-02T14:10:00Z,Call",
        f"{LEAD},2026-03-02T15:00:00Z,,Call",
    )
    results = list(convert(done, mapping))
    assert [(e.line, e.value) for e in events(results)] == [(2, "call:attempted")]
    assert [r.line for r in results if isinstance(r, SkippedRow)] == [3]


# -- HubSpot: each default rule ------------------------------------------------------------

CONNECTED = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
HUBSPOT_DEFAULTS = [
    ({"type": "EMAIL", "source": "SEQUENCES"}, "email:automated"),
    ({"type": "MARKETING_EMAIL"}, "email:automated"),
    ({"type": "CALL", "disposition": CONNECTED}, "call:connected"),
    ({"type": "CALL", "disposition": "Connected"}, "call:connected"),
    ({"type": "CALL", "disposition": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff"}, "call:connected"),
    ({"type": "CALL", "disposition": "b2cf5968-551e-4856-9783-52b3da59a7d0"}, "call:voicemail"),
    ({"type": "CALL", "disposition": "9d9162e7-6cf3-4944-bf63-4dff82258764"}, "call:no_answer"),
    ({"type": "CALL", "disposition": "73a0d17f-1163-4015-bdd5-ec830791da20"}, "call:no_answer"),
    ({"type": "CALL", "disposition": "17b47fee-58de-441e-a44c-c6300d46f273"}, "call:no_answer"),
    ({"type": "CALL", "status": "NO_ANSWER"}, "call:no_answer"),
    ({"type": "CALL", "status": "QUEUED"}, None),
    ({"type": "CALL", "disposition": ""}, "call:attempted"),
    ({"type": "INCOMING_EMAIL"}, "email:replied"),
    ({"type": "EMAIL", "direction": "INCOMING_EMAIL"}, "email:replied"),
    ({"type": "EMAIL", "status": "BOUNCED"}, "email:bounced"),
    ({"type": "EMAIL", "status": "SCHEDULED"}, None),
    ({"type": "EMAIL", "status": "SENT"}, "email:sent"),
    ({"type": "FORWARDED_EMAIL"}, "email:sent"),
    ({"type": "MEETING", "status": "NO_SHOW"}, None),
    ({"type": "MEETING", "status": "COMPLETED"}, "meeting:held"),
    ({"type": "SMS"}, "sms:sent"),
    ({"type": "LINKEDIN_MESSAGE"}, None),
    ({"type": "NOTE"}, None),
    ({"type": "TASK"}, None),
]


@pytest.mark.parametrize(("fields", "expected"), HUBSPOT_DEFAULTS)
def test_each_hubspot_default_rule(
    mapping: ImportMapping, fields: dict[str, str], expected: str | None
) -> None:
    assert hubspot.engagement_activity(fields, mapping).activity == expected


def test_every_documented_hubspot_disposition_is_mapped(mapping: ImportMapping) -> None:
    for guid in HUBSPOT_DISPOSITIONS:
        decision = hubspot.engagement_activity({"type": "CALL", "disposition": guid}, mapping)
        assert decision.rule is not None and decision.activity not in (None, "call:attempted")


def test_hubspot_api_properties_become_the_record_the_rules_read(mapping: ImportMapping) -> None:
    record = hubspot.engagement_record(
        "emails", {"hs_email_direction": "INCOMING_EMAIL", "hs_email_status": None}
    )
    assert hubspot.engagement_activity(record, mapping).activity == "email:replied"
    call = hubspot.engagement_record("calls", {"hs_call_disposition": CONNECTED})
    assert hubspot.engagement_activity(call, mapping).activity == "call:connected"


# -- overrides and bad rules -------------------------------------------------------------


def test_config_rules_override_the_defaults(mapping: ImportMapping) -> None:
    # The example config maps CallDisposition "Gatekeeper" and Type "Demo".
    assert task(mapping, TaskSubtype="Call", CallDisposition="Gatekeeper") == "call:no_answer"
    assert task(mapping, TaskSubtype="Task", Type="Demo") == "meeting:held"
    gatekeeper = {"type": "CALL", "disposition": "Reached gatekeeper"}
    assert hubspot.engagement_activity(gatekeeper, mapping).activity == "call:no_answer"
    # An override can turn a default off: ListEmail as no activity at all.
    text = CONFIG.read_text(encoding="utf-8").replace(
        '      - {when: {Type: Demo}, activity: "meeting:held"}',
        '      - {when: {Type: Demo}, activity: "meeting:held"}\n'
        "      - {when: {TaskSubtype: ListEmail}, activity: null, reason: marketing's}",
    )
    custom = ImportMapping().with_rules(build_rulebook(load_config_text(text)))
    decision = task_activity({"IsClosed": "true", "TaskSubtype": "ListEmail"}, custom)
    assert (decision.activity, decision.reason) == (None, "marketing's")
    assert decision.rule is not None
    assert decision.rule.origin == "connectors.salesforce.activity_map[2]"


def test_the_mapping_files_activity_entries_still_apply(mapping: ImportMapping) -> None:
    legacy = load_mapping('activity: {"Spoke to gatekeeper": "call:no_answer"}')
    with_config = legacy.with_rules(build_rulebook(load_config(CONFIG)))
    assert task(with_config, TaskSubtype="Call", CallDisposition="spoke to gatekeeper") == (
        "call:no_answer"
    )
    # defaults: false drops the built-in table: an unmapped task is no activity.
    bare = load_mapping("defaults: false")
    assert task(bare, TaskSubtype="Call") is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            '{when: {Typo: Call}, activity: "call:attempted"}',
            'connectors.salesforce.activity_map[0].when: "Typo" is not a field a rule can '
            'test (did you mean "Type"?)',
        ),
        (
            '{when: {Type: Call}, activity: "call:maybe"}',
            'connectors.salesforce.activity_map[0].activity: "call:maybe" is not kind:outcome',
        ),
        ("{when: {Type: Call}}", "connectors.salesforce.activity_map[0].activity: "),
        ('{when: {}, activity: "call:attempted"}', "connectors.salesforce.activity_map[0].when"),
    ],
)
def test_a_bad_rule_is_a_config_error_naming_file_line_and_field(rule: str, message: str) -> None:
    text = CONFIG.read_text(encoding="utf-8")
    start = text.index("connectors:")
    end = text.index("\nnotifications:")
    bad = (
        text[:start]
        + f"connectors:\n  salesforce:\n    activity_map:\n      - {rule}\n"
        + text[end:]
    )
    line = bad[: bad.index("      - {when")].count("\n") + 1
    with pytest.raises(ConfigError) as caught:
        load_config_text(bad, "leadsla.yaml")
    assert f"leadsla.yaml:{line}: {message}" in str(caught.value)


def test_a_crm_id_is_one_rep_and_well_formed() -> None:
    text = CONFIG.read_text(encoding="utf-8")
    twice = text.replace("hubspot: 70012002", "hubspot: 70012001")
    with pytest.raises(ConfigError, match='hubspot id "70012001" is already given'):
        load_config_text(twice)
    # The 18-character form of r1's id is r1's id.
    widened = text.replace("salesforce: 0058c00000FgHiJ", f"salesforce: {id18(SAM_SF)}")
    with pytest.raises(ConfigError, match=r"is already given at teams\.east\.reps"):
        load_config_text(widened)
    with pytest.raises(ConfigError, match="is not a HubSpot owner id"):
        load_config_text(text.replace("hubspot: 70012003", "hubspot: ana"))
    with pytest.raises(ConfigError, match="is not a Salesforce user id"):
        load_config_text(text.replace("salesforce: 0058c00000KlMnO", "salesforce: 005short"))


# -- owners ------------------------------------------------------------------------------


def test_owner_ids_map_through_reps_crm_ids_in_both_salesforce_forms(
    mapping: ImportMapping,
) -> None:
    crm: CrmSettings = mapping.crm
    assert crm.rep_for("salesforce", SAM_SF) == "r1"
    assert crm.rep_for("salesforce", id18(SAM_SF)) == "r1"
    assert crm.rep_for("hubspot", "70012003") == "r3"
    assert crm.owner("hubspot", "99999999") == "99999999"  # unknown: kept as written
    export = lines(
        "Id,CreatedDate,Status,OwnerId",
        f"{LEAD},2026-03-02T14:00:00Z,New,{id18(SAM_SF)}",
        f"00Q5g00000Ab1CeEAJ,2026-03-02T14:00:00Z,New,{SAM_SF}",
        "00Q5g00000Ab1CfEAJ,2026-03-02T14:00:00Z,New,0058c00000ZzZzZ",
    )
    owners = [e.value for e in events(convert(export, mapping)) if e.field == "owner"]
    # An unknown user is kept, in the 18-character form (one user, whatever the file wrote).
    assert owners == ["r1", "r1", id18("0058c00000ZzZzZ")]
    # The mapping's owner: section wins over the config's ids.
    local = load_mapping(f"owner: {{{SAM_SF}: r2}}").with_rules(build_rulebook(load_config(CONFIG)))
    assert next(e.value for e in events(convert(export, local)) if e.field == "owner") == "r2"


# -- account keys ------------------------------------------------------------------------

RULE = RoutingRule("all", (), ("r1", "r2"))


def test_account_keys_use_the_email_domain_but_not_free_mail() -> None:
    assignment = Assignment((RULE,), account_field="company", email_field="email")
    assert account_keys(assignment, {"company": " Acme ", "email": "jo@Acme.COM"}) == (
        "acme",
        "@acme.com",
    )
    assert account_keys(assignment, {"email": "jo@gmail.com"}) == ()
    assert account_keys(assignment, {"email": "not an email"}) == ()
    mine = Assignment(
        (RULE,), account_field="company", email_field="email", free_mail_domains=frozenset()
    )
    assert account_keys(mine, {"email": "jo@gmail.com"}) == ("@gmail.com",)


def test_a_lead_follows_the_owner_of_its_email_domain() -> None:
    assignment = Assignment((RULE,), account_field="company", email_field="email")
    state = RoutingState(accounts={"@globex.com": "r2"})
    routed = route(assignment, {"company": "Globex Europe", "email": "a@globex.com"}, 0, state)
    assert (routed.rep, routed.method) == ("r2", "account_match")
    assert routed.reason == "email domain globex.com is owned by r2"
    free = route(
        assignment, {"email": "a@gmail.com"}, 0, RoutingState(accounts={"@gmail.com": "r2"})
    )
    assert free.method == "round_robin"


# -- the Lead History report ---------------------------------------------------------------


def report(name: str, zone: str, locale: str, rules_mapping: ImportMapping) -> list[Converted]:
    data = rules_mapping.model_dump(exclude_defaults=True)
    dated = ImportMapping.model_validate(
        {**data, "timezone": zone, "date_format": REPORT_DATE_FORMATS[locale]}
    ).with_rules(build_rulebook(load_config(CONFIG)))
    with (REPORTS / name).open(newline="", encoding="utf-8") as handle:
        return list(convert(handle, dated, source=name))


def test_the_report_export_is_detected_and_read_in_two_locales(mapping: ImportMapping) -> None:
    with (REPORTS / "lead_history_en_US.csv").open(newline="", encoding="utf-8") as handle:
        header = next(iter(handle)).strip().replace('"', "").split(",")
    assert detect_format(header) == "salesforce-history-report"
    us = report("lead_history_en_US.csv", "America/New_York", "en_US", mapping)
    gb = report("lead_history_en_GB.csv", "Europe/London", "en_GB", mapping)
    assert not [r for r in us + gb if isinstance(r, RejectedRow)]
    got = [(e.lead_id, e.at, e.field, e.value, e.key) for e in events(us)]
    assert got == [(e.lead_id, e.at, e.field, e.value, e.key) for e in events(gb)]
    by_change = {(e.lead_id[:15], e.field, e.value): e for e in events(us)}
    status = by_change[("00Q5g00000Ab1Cd", "status", "Contacted")]
    assert status.at == parse_instant("2026-03-02T11:20:00-05:00")
    assert status.lead_id == LEAD  # 15-character report ids widened
    assert status.previous == "New"
    # After the US change to summer time (8 March), before the UK's.
    omar = by_change[("00Q5g00000Ab1Ce", "status", "Contacted")]
    assert omar.at == parse_instant("2026-03-09T09:00:00-04:00")
    # Owner names are the reps' names in the config; conversion is the qualified status.
    owner = by_change[("00Q5g00000Ab1Cf", "owner", "r2")]
    assert owner.previous == "r1"
    assert ("00Q5g00000Ab1Cd", "status", "Qualified") in by_change
    assert by_change[("00Q5g00000Ab1Cd", "grade", "A")].previous == "B"
    skipped = sorted(r.reason for r in us if isinstance(r, SkippedRow))
    assert skipped.count("the report's footer") == 4
    assert skipped.count("the lead's creation carries no value") == 3
    assert 'field "Email" maps to no lead field' in skipped


def test_the_report_needs_its_zone_and_locale(mapping: ImportMapping) -> None:
    with (
        (REPORTS / "lead_history_en_GB.csv").open(newline="", encoding="utf-8") as handle,
        pytest.raises(ConnectorError, match="--zone America/New_York --locale en_US"),
    ):
        list(convert(handle, mapping, source="report.csv"))
    # Read in the wrong locale, a British date is refused row by row, never misread,
    # where the day is past 12; ICU's comma after the date is read.
    wrong = report("lead_history_en_GB.csv", "Europe/London", "en_US", mapping)
    assert any(isinstance(r, RejectedRow) for r in wrong)
    comma = ImportMapping(timezone="America/New_York", date_format=REPORT_DATE_FORMATS["en_US"])
    export = lines(
        '"Lead ID","Field / Event","Old Value","New Value","Edit Date"',
        f'"{LEAD[:15]}","Lead Status","","Working - Contacted","3/2/2026, 9:05\u202fAM"',
    )
    [event] = events(convert(export, comma))
    assert event.at == parse_instant("2026-03-02T09:05:00-05:00")


# -- the docs show each rule ---------------------------------------------------------------


def _doc_rows(section: str) -> list[str]:
    text = (ROOT / "docs" / "crm.md").read_text(encoding="utf-8")
    body = text[text.index(section) :]
    table = body[body.index("| # | when | activity |") :]
    rows: list[str] = []
    for line in table.splitlines()[2:]:
        if not line.startswith("| "):
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize(
    ("section", "rules"),
    [("### Salesforce `Task`", "salesforce"), ("### HubSpot engagements", "hubspot")],
)
def test_docs_show_each_default_rule_in_order(section: str, rules: str) -> None:
    """docs/crm.md's tables are the code's: same count, order, activity and values."""
    from leadsla.core.crm_activity import HUBSPOT_DEFAULT_RULES, SALESFORCE_DEFAULT_RULES
    from leadsla.core.crm_activity import fold_value as fold

    table = SALESFORCE_DEFAULT_RULES if rules == "salesforce" else HUBSPOT_DEFAULT_RULES
    rows = _doc_rows(section)
    assert len(rows) == len(table)
    for row, rule in zip(rows, table, strict=True):
        _, number, when, activity, _ = (cell.strip() for cell in row.split("|"))
        expected = f"`{rule.activity}`" if rule.activity else f"none: {rule.reason}"
        assert activity == expected, number
        shown = fold(when.replace("`", ""))
        for field, values in rule.when:
            assert fold(field) in shown, (number, field)
            # GUIDs are in the disposition table; labels are in the row.
            labels = [v for v in values if v and not any(c.isdigit() for c in v)]
            assert all(label in shown for label in labels), (number, labels)


def test_the_import_commands_locales_are_the_connectors() -> None:
    from leadsla.cli.imports import REPORT_LOCALES

    assert tuple(REPORT_DATE_FORMATS) == REPORT_LOCALES
