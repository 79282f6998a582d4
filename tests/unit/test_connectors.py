"""CRM export connectors: the example exports convert to the expected events, bad rows are
rejected with line and reason while the rest go through, keys are stable and distinct, and
mapping files name the key and line of each problem."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import pytest

from leadsla.config import load_config
from leadsla.connectors import (
    CONNECTORS,
    ConnectorError,
    Converted,
    ConvertedRow,
    ImportMapping,
    MappingError,
    RejectedRow,
    convert,
    detect_format,
    hubspot,
    load_mapping,
    mapping_from_dict,
    salesforce,
)
from leadsla.connectors.salesforce import id18
from leadsla.core.events import parse_instant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SALESFORCE = EXAMPLES / "salesforce"
HUBSPOT = EXAMPLES / "hubspot"
REPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce_reports"

LEAD_1 = "00Q5g00000Ab1CdEAJ"  # Maya Chen, converted
LEAD_2 = "00Q5g00000Ab1CeEAJ"  # Omar Haddad
LEAD_3 = "00Q5g00000Ab1CfEAJ"  # Grace Liu, reassigned from Sam to Priya
SAM, PRIYA = "0055g00000SamOrAAJ", "0055g00000PriNaAAJ"


def at(text: str) -> int:
    return parse_instant(text)


def run(path: Path, mapping: ImportMapping | None = None) -> list[Converted]:
    mapping = mapping if mapping is not None else mapping_of(path.parent)
    with path.open(newline="", encoding="utf-8") as lines:
        return list(convert(lines, mapping, source=path.name))


def mapping_of(folder: Path) -> ImportMapping:
    path = folder / "mapping.yaml"
    return load_mapping(path.read_text(encoding="utf-8"), str(path))


def events(results: Iterable[Converted]) -> list[ConvertedRow]:
    return [result for result in results if isinstance(result, ConvertedRow)]


def rejected(results: Iterable[Converted]) -> list[RejectedRow]:
    return [result for result in results if isinstance(result, RejectedRow)]


def on_line(results: Iterable[Converted], line: int) -> dict[str, str | None]:
    return {event.field: event.value for event in events(results) if event.line == line}


def header_of(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as lines:
        return next(csv.reader(lines))


def lines(*rows: str) -> list[str]:
    return [row + "\n" for row in rows]


# -- the example exports -------------------------------------------------------------------


def test_examples_speak_the_example_configs_statuses_grades_and_reps() -> None:
    config = load_config(EXAMPLES / "leadsla.yaml")
    allowed = {
        "status": {status.name for status in config.statuses},
        "grade": {grade.name for grade in config.grades},
        "owner": {rep.id for team in config.teams.values() for rep in team.reps},
    }
    for path in [*SALESFORCE.glob("*.csv"), *HUBSPOT.glob("*.csv")]:
        for event in events(run(path)):
            if event.field in allowed and event.value is not None:
                assert event.value in allowed[event.field], (path.name, event)


def test_every_example_converts_without_rejections() -> None:
    for path in [*SALESFORCE.glob("*.csv"), *HUBSPOT.glob("*.csv")]:
        results = run(path)
        assert rejected(results) == [], path
        assert events(results), path


def test_salesforce_lead_rows_are_events_at_created_date() -> None:
    results = run(SALESFORCE / "Lead.csv")
    first = [event for event in events(results) if event.line == 2]
    assert {event.lead_id for event in first} == {LEAD_1}
    assert {event.at for event in first} == {at("2026-03-02T09:00:00-05:00")}
    assert on_line(results, 2) == {
        "status": "Qualified",  # Closed - Converted, by default
        "owner": "r1",
        "grade": "A",  # Hot
        "source": "Web",
        "industry": "Healthcare",
        "country": "United States",
    }
    # The org's own status, from the example mapping; names, emails and flags are not events.
    assert on_line(results, 4)["status"] == "Attempting to Contact"
    assert on_line(results, 7)["status"] == "Not a Lead"
    # No rating: no grade event, rather than a cleared one.
    assert "grade" not in on_line(results, 9)
    assert len(events(results)) == 59


def test_salesforce_history_keeps_id_owner_rows_and_conversions() -> None:
    results = run(SALESFORCE / "LeadHistory.csv")
    by_line = {event.line: event for event in events(results)}
    assert by_line[3] == ConvertedRow(
        3,
        LEAD_1,
        at("2026-03-02T16:20:41Z"),
        "status",
        "Contacted",
        "sf:LeadHistory:0175g00000Hx002AAB",
        previous="New",  # OldValue "Open - Not Contacted", mapped
    )
    # leadConverted is the converted status, at the conversion's instant.
    assert (by_line[5].field, by_line[5].value) == ("status", "Qualified")
    assert by_line[5].at == by_line[4].at
    # The owner change is kept once, from the row with ids; the names twin makes nothing.
    assert (by_line[9].lead_id, by_line[9].field, by_line[9].value) == (LEAD_3, "owner", "r2")
    assert 10 not in by_line
    # A queue handing the lead to a rep.
    assert (by_line[17].field, by_line[17].value) == ("owner", "r3")
    assert 18 not in by_line
    assert (by_line[14].field, by_line[14].value) == ("grade", "A")
    # "created" rows and untracked fields (Phone) make nothing.
    assert {2, 6, 12, 16, 20}.isdisjoint(by_line)
    assert len(by_line) == 13


def test_salesforce_tasks_are_completed_activities_with_leads() -> None:
    results = run(SALESFORCE / "Task.csv")
    by_line = {event.line: event for event in events(results)}
    assert {event.field for event in by_line.values()} == {"activity"}
    assert by_line[3].value == "call:connected"
    assert by_line[3].at == at("2026-03-02T11:20:00-05:00")
    assert by_line[3].key == "sf:Task:00T5g00000Tk002EAB"
    assert by_line[4].value == "call:no_answer"
    assert by_line[5].value == "call:voicemail"
    assert by_line[7].value == "call:no_answer"  # Busy
    assert by_line[10].value == "email:automated"  # ListEmail: a mass send, no attempt
    # No CompletedDateTime: the time it was logged.
    assert by_line[2].at == at("2026-03-02T15:05:00Z")
    # A meeting planned on the 3rd and held on the 4th counts when it was held.
    assert (by_line[9].value, by_line[9].at) == ("meeting:held", at("2026-03-04T10:00:00Z"))
    # A call logged without a disposition: an attempt, not a connect.
    assert by_line[13].value == "call:attempted"
    # A contact's task, an open task and a to-do make nothing.
    assert {14, 15, 16}.isdisjoint(by_line)
    assert len(by_line) == 12


def test_hubspot_contacts_read_local_dates_in_the_mapping_zone() -> None:
    results = run(HUBSPOT / "contacts.csv")
    first = [event for event in events(results) if event.line == 2]
    assert {event.at for event in first} == {at("2026-03-02T09:05:00-05:00")}
    assert {event.lead_id for event in first} == {"51234501"}
    assert on_line(results, 2) == {
        "lifecycle_stage": "Marketing Qualified Lead",
        "status": "Qualified",  # Open deal
        "owner": "r1",  # Sam Ortiz
        "score": "92",
        "industry": "Healthcare",
        "country": "United States",
    }
    assert on_line(results, 4)["status"] == "Attempting to Contact"  # Attempted to contact
    assert on_line(results, 6)["status"] == "Contacted"  # In progress
    assert on_line(results, 8)["status"] == "Deferred"  # Bad timing
    assert on_line(results, 11)["status"] == "New"  # Open
    assert "owner" not in on_line(results, 9)  # unassigned
    assert on_line(results, 10) == {
        "lifecycle_stage": "Subscriber",
        "industry": "Education",
        "country": "United States",
    }
    assert {event.key for event in events(results) if event.line == 2} == {
        f"hs:contact:51234501:{field}" for field in on_line(results, 2)
    }


def test_hubspot_history_maps_internal_values_and_clears() -> None:
    results = run(HUBSPOT / "property_history.csv")
    by_line = {event.line: event for event in events(results)}
    assert 2 not in by_line  # email is not a lead field
    assert (by_line[4].field, by_line[4].value) == ("status", "New")
    assert by_line[4].at == at("2026-03-02T14:05:12.481Z")
    assert (by_line[5].field, by_line[5].value) == ("owner", "r1")  # hubspot_owner_id 70012001
    assert (by_line[6].field, by_line[6].value) == ("score", "92")
    assert (by_line[8].field, by_line[8].value) == ("status", "Qualified")  # OPEN_DEAL
    assert by_line[11].value == "Attempting to Contact"  # ATTEMPTED_TO_CONNECT
    assert (by_line[16].field, by_line[16].value) == ("owner", "r1")  # reassigned
    assert (by_line[20].field, by_line[20].value) == ("status", "Not a Lead")  # UNQUALIFIED
    assert (by_line[21].field, by_line[21].value) == ("industry", None)  # cleared
    assert by_line[22].value == "New"  # OPEN
    assert len(by_line) == 21


def test_detect_format_on_every_example_header() -> None:
    expected = {
        SALESFORCE / "Lead.csv": "salesforce-lead",
        SALESFORCE / "LeadHistory.csv": "salesforce-history",
        SALESFORCE / "Task.csv": "salesforce-task",
        HUBSPOT / "contacts.csv": "hubspot-contacts",
        HUBSPOT / "property_history.csv": "hubspot-history",
        EXAMPLES / "events.csv": "native",
        REPORTS / "lead_history_en_US.csv": "salesforce-history-report",
    }
    for path, name in expected.items():
        assert detect_format(header_of(path)) == name, path
    assert salesforce.detect(header_of(SALESFORCE / "Task.csv"))
    assert not salesforce.detect(header_of(HUBSPOT / "contacts.csv"))
    assert hubspot.detect(header_of(HUBSPOT / "property_history.csv"))
    assert not hubspot.detect(header_of(SALESFORCE / "Lead.csv"))
    assert set(CONNECTORS) == set(expected.values()) - {"native"}


def test_detect_format_refuses_an_unknown_header_listing_what_it_expects() -> None:
    with pytest.raises(ConnectorError) as caught:
        detect_format(["Name", "Email", "Phone"])
    message = str(caught.value)
    assert "Name, Email, Phone" in message
    for name in ("native", *CONNECTORS):
        assert f"  {name}: " in message
    assert "lead_id, at, field, value" in message


def test_detect_format_ignores_case_and_a_byte_order_mark() -> None:
    assert detect_format(["\ufeffRecord ID", "Create Date", "Lead Status"]) == "hubspot-contacts"
    assert detect_format(["id", "createddate", "status"]) == "salesforce-lead"
    results = list(
        convert(
            lines("\ufeffRecord ID,Create Date,Lead Status", "7,2026-03-02T09:00:00Z,NEW"),
            ImportMapping(),
        )
    )
    assert [(e.lead_id, e.field, e.value) for e in events(results)] == [("7", "status", "New")]


def test_module_convert_dispatches_on_the_header() -> None:
    with (SALESFORCE / "Task.csv").open(newline="", encoding="utf-8") as file:
        via_module = list(salesforce.convert(file, mapping_of(SALESFORCE)))
    assert via_module == run(SALESFORCE / "Task.csv")
    with pytest.raises(ConnectorError, match="not a HubSpot export"):
        hubspot.convert(lines("Id,CreatedDate,Status"), ImportMapping())


# -- keys ------------------------------------------------------------------------------------


def test_keys_are_stable_across_runs_and_distinct_across_events() -> None:
    for path in [*SALESFORCE.glob("*.csv"), *HUBSPOT.glob("*.csv")]:
        first, second = run(path), run(path)
        assert [e.key for e in events(first)] == [e.key for e in events(second)], path
        keys = [event.key for event in events(first)]
        assert len(keys) == len(set(keys)), path


def test_rows_without_ids_are_keyed_by_content() -> None:
    history = [
        "LeadId,CreatedDate,Field,OldValue,NewValue",
        "L1,2026-03-02T14:00:00Z,Status,Open - Not Contacted,Working - Contacted",
        "L1,2026-03-03T14:00:00Z,Status,Working - Contacted,Closed - Converted",
        "L2,2026-03-02T14:00:00Z,Status,Open - Not Contacted,Working - Contacted",
    ]
    keys = [e.key for e in events(convert(lines(*history), ImportMapping()))]
    again = [e.key for e in events(convert(lines(*history), ImportMapping()))]
    assert keys == again
    assert len(set(keys)) == 3
    assert all(key.startswith("sf:LeadHistory:~") for key in keys)
    # The key does not depend on where the row sits in the file.
    reordered = [history[0], history[3], history[1], history[2]]
    assert sorted(e.key for e in events(convert(lines(*reordered), ImportMapping()))) == sorted(
        keys
    )


# -- bad rows --------------------------------------------------------------------------------


def test_bad_lead_rows_are_rejected_with_line_and_reason_and_the_rest_go_through() -> None:
    export = lines(
        "Id,CreatedDate,Status,OwnerId,Rating",
        "00Q000000000001,2026-03-02T14:00:00.000+0000,Open - Not Contacted,005000000000001,Hot",
        "00Q000000000002,yesterday,Open - Not Contacted,005000000000001,Hot",
        ",2026-03-02T14:00:00.000+0000,Open - Not Contacted,005000000000001,Hot",
        "00Q000000000004,2026-03-02T09:00:00,Open - Not Contacted,005000000000001,Hot",
        "00Q000000000005,2026-03-02T14:00:00Z,Working - Contacted",
        "",
        "00Q000000000006,2026-03-02T14:00:00Z,Working - Contacted,005000000000001,Cold",
    )
    results = list(convert(export, ImportMapping(), source="Lead.csv"))
    bad = {row.line: row for row in rejected(results)}
    assert set(bad) == {3, 4, 5, 6}
    assert bad[3].reason.startswith('CreatedDate: "yesterday" is not an ISO 8601 instant')
    assert bad[3].raw[0] == "00Q000000000002"
    assert bad[4].reason == "Id: empty: every row needs the lead's id"
    assert "has no UTC offset" in bad[5].reason and "timezone:" in bad[5].reason
    assert bad[6].reason == "has 3 fields but the header has 5"
    good = events(results)
    assert {event.line for event in good} == {2, 8}
    assert on_line(results, 8) == {
        "status": "Contacted",
        "owner": "005000000000001AAA",
        "grade": "C",
    }


def test_data_loader_offsets_and_z_are_the_same_instant() -> None:
    export = lines(
        "Id,CreatedDate,Status",
        "A,2026-03-02T14:15:00.000+0000,New",
        "B,2026-03-02T14:15:00Z,New",
        "C,2026-03-02T09:15:00.000-0500,New",
    )
    assert {e.at for e in events(convert(export, ImportMapping()))} == {at("2026-03-02T14:15:00Z")}


def test_local_times_are_read_in_the_mapping_zone_across_dst() -> None:
    mapping = ImportMapping(timezone="America/New_York")
    assert mapping.instant("2026-03-06 09:00") == at("2026-03-06T09:00:00-05:00")
    assert mapping.instant("2026-03-09 09:00") == at("2026-03-09T09:00:00-04:00")
    assert mapping.instant("2026-03-09T09:00:00.250") == at("2026-03-09T13:00:00.250Z")
    # Offsets written in the file win over the mapping's zone.
    assert mapping.instant("2026-03-09T09:00:00Z") == at("2026-03-09T09:00:00Z")
    us_report = ImportMapping(timezone="America/New_York", date_format="%m/%d/%Y %I:%M %p")
    assert us_report.instant("3/9/2026 9:00 AM") == at("2026-03-09T09:00:00-04:00")
    with pytest.raises(ValueError, match="date_format"):
        ImportMapping(timezone="America/New_York").instant("3/9/2026 9:00 AM")


def test_tasks_with_unknown_dispositions_are_rejected_only_when_strict() -> None:
    export = lines(
        "Id,WhoId,CreatedDate,TaskSubtype,CallDisposition,Status",
        "T1,L1,2026-03-02T14:00:00Z,Call,Gatekeeper,Completed",
        "T2,L1,2026-03-02T15:00:00Z,Call,No Answer,Completed",
        "T3,L1,2026-03-02T16:00:00Z,Demo,,Completed",
        "T4,,2026-03-02T17:00:00Z,Call,Connected,Completed",
        "T5,L2,not a date,Call,Connected,Completed",
    )
    strict = list(convert(export, ImportMapping(strict=True), source="Task.csv"))
    bad = {row.line: row.reason for row in rejected(strict)}
    assert set(bad) == {2, 4, 5, 6}
    assert bad[2].startswith('CallDisposition: "Gatekeeper" is not in the mapping\'s activity')
    assert bad[4].startswith('TaskSubtype: "Demo" is not in the mapping\'s activity')
    assert bad[5] == "WhoId: empty: the task names no lead"
    assert bad[6].startswith('CreatedDate: "not a date"')
    assert [(e.line, e.value) for e in events(strict)] == [(3, "call:no_answer")]
    # Not strict: an unknown disposition falls back to the task's kind (a call with no known
    # outcome is an attempt); unknown kinds are skipped.
    lenient = list(convert(export, ImportMapping(), source="Task.csv"))
    assert [(e.line, e.value) for e in events(lenient)] == [
        (2, "call:attempted"),
        (3, "call:no_answer"),
    ]
    assert {row.line for row in rejected(lenient)} == {5, 6}
    # Mapping them settles it either way.
    mapped = ImportMapping(strict=True, activity={"gatekeeper": "call:no_answer", "Demo": None})
    assert [(e.line, e.value) for e in events(convert(export, mapped))] == [
        (2, "call:no_answer"),
        (3, "call:no_answer"),
    ]


def test_history_rows_with_bad_dates_or_no_lead_are_rejected() -> None:
    export = lines(
        "Id,LeadId,CreatedDate,Field,OldValue,NewValue",
        "H1,L1,2026-03-02T14:00:00.000+0000,Status,Open - Not Contacted,Working - Contacted",
        "H2,,2026-03-02T14:00:00.000+0000,Status,Open - Not Contacted,Working - Contacted",
        "H3,L1,2026-02-30T14:00:00.000+0000,Status,Working - Contacted,Closed - Converted",
        "H4,L1,2026-03-03T14:00:00.000+0000,Industry,Retail,",
    )
    results = list(convert(export, ImportMapping()))
    assert {row.line: row.reason.split(":")[0] for row in rejected(results)} == {
        3: "LeadId",
        4: "CreatedDate",
    }
    assert [(e.line, e.field, e.value) for e in events(results)] == [
        (2, "status", "Contacted"),
        (5, "industry", None),
    ]


def test_conversion_rows_follow_converted_status() -> None:
    export = lines(
        "Id,LeadId,CreatedDate,Field,OldValue,NewValue",
        "H1,L1,2026-03-04T20:00:12.000+0000,leadConverted,,",
    )
    assert [(e.field, e.value) for e in events(convert(export, ImportMapping()))] == [
        ("status", "Qualified")
    ]
    custom = ImportMapping(converted_status="Demo Request")
    assert [e.value for e in events(convert(export, custom))] == ["Demo Request"]
    assert events(convert(export, ImportMapping(converted_status=None))) == []


def test_owner_history_without_datatype_keeps_the_row_with_ids() -> None:
    export = lines(
        "Id,LeadId,CreatedDate,Field,OldValue,NewValue",
        "H1,00Q000000000001,2026-03-02T14:00:00Z,Owner,Sam Ortiz,Priya Nair",
        f"H2,00Q000000000001,2026-03-02T14:00:00Z,Owner,{SAM},{PRIYA}",
    )
    mapping = load_mapping(f"owner: {{{SAM}: r1, {PRIYA}: r2}}")
    assert [(e.line, e.field, e.value) for e in events(convert(export, mapping))] == [
        (3, "owner", "r2")
    ]


def test_fifteen_character_ids_are_widened_to_eighteen() -> None:
    assert id18("001A0000006Vm9r") == "001A0000006Vm9rIAC"  # Salesforce's documented example
    assert id18(LEAD_1) == LEAD_1
    assert id18("L001") == "L001"
    report = lines(
        "Lead ID,Created Date,Lead Status,OwnerId",
        f"{LEAD_1[:15]},2026-03-02T14:00:00Z,New,{SAM[:15]}",
    )
    mapping = load_mapping(f"owner: {{{SAM}: r1}}")
    got = events(convert(report, mapping))
    assert {e.lead_id for e in got} == {LEAD_1}
    assert on_line(got, 2) == {"status": "New", "owner": "r1"}
    tasks = lines(
        "WhoId,CreatedDate,Type,IsClosed", f"{LEAD_1[:15]},2026-03-02T15:00:00Z,Call,true"
    )
    assert [e.lead_id for e in events(convert(tasks, mapping))] == [LEAD_1]


def test_hubspot_history_reads_epoch_milliseconds_and_rejects_bad_rows() -> None:
    export = lines(
        "vid,property,value,source-type,timestamp",
        "901,hs_lead_status,NEW,FORM,1772460312481",
        ",hs_lead_status,NEW,FORM,1772460312481",
        "902,,NEW,FORM,1772460312481",
        "903,hs_lead_status,CONNECTED,CRM_UI,soon",
        "904,hubspotscore,55,CALCULATED,2026-03-02T14:05:12Z",
    )
    results = list(convert(export, ImportMapping()))
    assert {row.line for row in rejected(results)} == {3, 4, 5}
    assert [(e.lead_id, e.at, e.field, e.value) for e in events(results)] == [
        ("901", at("2026-03-02T14:05:12.481Z"), "status", "New"),
        ("904", at("2026-03-02T14:05:12Z"), "score", "55"),
    ]


def test_unreadable_csv_rows_are_rejected_and_reading_goes_on() -> None:
    huge = "x" * 200_000  # above csv's field size limit
    export = lines(
        "Id,CreatedDate,Status", f'A,2026-03-02T14:00:00Z,"{huge}"', "B,2026-03-02T14:00:00Z,New"
    )
    results = list(convert(export, ImportMapping()))
    assert [(row.line, row.raw) for row in rejected(results)] == [(2, [])]
    assert "field larger than field limit" in rejected(results)[0].reason
    assert [(e.line, e.lead_id) for e in events(results)] == [(3, "B")]


# -- headers ---------------------------------------------------------------------------------


def test_missing_columns_and_empty_files_are_refused_at_once() -> None:
    with pytest.raises(ConnectorError, match="the file is empty"):
        convert([], ImportMapping(), source="x.csv")
    with pytest.raises(
        ConnectorError,
        match=r"x\.csv: not a Salesforce LeadHistory export: "
        r"missing column NewValue; CreatedDate",
    ):
        CONNECTORS["salesforce-history"].convert(
            lines("LeadId,Field,OldValue"), ImportMapping(), source="x.csv"
        )
    with pytest.raises(ConnectorError, match="no column maps to a lead field"):
        convert(lines("Id,CreatedDate,FirstName,Email"), ImportMapping())
    with pytest.raises(ConnectorError, match="native events file"):
        convert(lines("lead_id,at,field,value"), ImportMapping())
    with pytest.raises(ConnectorError, match="unknown export format"):
        convert(lines("Id,CreatedDate,Status"), ImportMapping(), format="pipedrive")


# -- mappings --------------------------------------------------------------------------------


def test_defaults_map_standard_values_and_pass_others_through() -> None:
    mapping = ImportMapping()
    assert mapping.translate("status", "Open - Not Contacted") == "New"
    assert mapping.translate("status", "Working - Contacted") == "Contacted"
    assert mapping.translate("status", "Closed - Converted") == "Qualified"
    assert mapping.translate("status", "Closed - Not Converted") == "Not a Lead"
    expected_hubspot = {
        "NEW": "New",
        "ATTEMPTED_TO_CONNECT": "Attempting to Contact",
        "CONNECTED": "Contacted",
        "IN_PROGRESS": "Contacted",
        "OPEN_DEAL": "Qualified",
        "UNQUALIFIED": "Not a Lead",
        "BAD_TIMING": "Deferred",
    }
    for source, ours in expected_hubspot.items():
        assert mapping.translate("status", source) == ours
    assert [mapping.translate("grade", r) for r in ("Hot", "warm", "COLD")] == ["A", "B", "C"]
    assert mapping.translate("status", "Recycled") == "Recycled"
    assert mapping.translate("industry", "Hot") == "Hot"
    assert mapping.target("LeadSource") == "source"
    assert mapping.target("Email") is None


def test_user_maps_lay_over_defaults_and_null_drops() -> None:
    mapping = load_mapping(
        "status: {Open - Not Contacted: Demo Request, Archived: null}\n"
        "fields: {Industry: null, Segment__c: segment}\n"
    )
    assert mapping.translate("status", "Open - Not Contacted") == "Demo Request"
    assert mapping.translate("status", "Working - Contacted") == "Contacted"
    assert mapping.translate("status", "Archived") is None
    assert mapping.target("Industry") is None
    assert mapping.target("segment__c") == "segment"
    export = lines(
        "Id,CreatedDate,Status,Industry,Segment__c", "A,2026-03-02T14:00:00Z,Archived,Retail,SMB"
    )
    assert on_line(convert(export, mapping), 2) == {"segment": "SMB"}
    bare = load_mapping("defaults: false\nfields: {Status: status}\n")
    assert bare.translate("status", "Working - Contacted") == "Working - Contacted"
    assert bare.target("Rating") is None


def test_mapping_section_rating_alias_and_numeric_keys() -> None:
    mapping = load_mapping(
        "calendars: {}\nmapping:\n  rating: {Lukewarm: B}\n  owner: {70012001: r1}\n"
    )
    assert mapping.translate("grade", "Lukewarm") == "B"
    assert mapping.translate("grade", "Hot") == "A"
    assert mapping.translate("owner", "70012001") == "r1"
    assert load_mapping("") == ImportMapping()
    assert load_mapping("mapping:\n") == ImportMapping()
    from_dict = mapping_from_dict({"status": {"Nurture": "Recycled"}, "strict": True})
    assert from_dict.strict and from_dict.translate("status", "nurture") == "Recycled"


def test_mapping_anchors_aliases_and_merge_keys_are_read_as_in_leadsla_yaml() -> None:
    text = (
        "shared:\n"
        "  owners: &owners {Sam Ortiz: r1, Priya Natarajan: r2}\n"
        "  ratings: &ratings {Lukewarm: B}\n"
        "mapping:\n"
        "  owner:\n"
        "    <<: *owners\n"
        "    Sam Ortiz: r3\n"
        "  rating: *ratings\n"
    )
    mapping = load_mapping(text, "m.yaml")
    # A key beside the merge overrides the merged one (no duplicate-key refusal).
    assert mapping.translate("owner", "Sam Ortiz") == "r3"
    assert mapping.translate("owner", "Priya Natarajan") == "r2"
    assert mapping.translate("grade", "Lukewarm") == "B"
    # A bad value that came in through a merge is named by its key, on the merging key's line.
    with pytest.raises(MappingError) as caught:
        load_mapping(text.replace("Priya Natarajan: r2", "Priya Natarajan: [r2]"), "m.yaml")
    expected = 'm.yaml:5: mapping.owner."Priya Natarajan": expected text, got a list'
    assert str(caught.value) == expected


def test_a_mapping_alias_cycle_is_a_located_problem_not_a_crash() -> None:
    with pytest.raises(MappingError) as caught:
        load_mapping("status:\n  Open: &loop {again: *loop}\n", "m.yaml")
    assert str(caught.value) == "m.yaml:2: status.Open: expected text, got a mapping"


MAPPING_ERRORS = [
    ("statuz: {}\n", 'm.yaml:1: statuz: unknown key "statuz" (did you mean "status"?)'),
    (
        "timezone: Mars/Olympus\n",
        'm.yaml:1: timezone: unknown time zone "Mars/Olympus"',
    ),
    (
        "activity:\n  Left Voicemail: call:voicemal\n",
        'm.yaml:2: activity."Left Voicemail": "call:voicemal" is not <kind>:<outcome>',
    ),
    (
        "owner:\n  Sam: r1\n  yes: r2\n",
        "m.yaml:3: owner.True: expected text, got true (YAML reads yes/no",
    ),
    (
        "status:\n  New: New\n  NEW: Contacted\n",
        'm.yaml:3: status.NEW: "NEW" and "New" are one key',
    ),
    (
        "status:\n  New: a\n  New: b\n",
        "m.yaml:3: status.New: duplicate key (first given at line 2)",
    ),
    ("fields: [Status]\n", "m.yaml:1: fields: expected a mapping of source values to ours"),
    ("strict: maybe\n", 'm.yaml:1: strict: expected true or false, got "maybe"'),
    ("rating: {Hot: A}\ngrade: {Warm: B}\n", "m.yaml:2: grade: give grade or rating, not both"),
    ("rating:\n  Hot: [A]\n", "m.yaml:2: rating.Hot: expected text, got a list"),
    ("date_format: yyyy-mm-dd\n", 'm.yaml:1: date_format: "yyyy-mm-dd" has no strftime'),
    ("- status\n", "m.yaml:1: expected a mapping of keys such as status"),
    ("status: {New: [\n", "m.yaml:2: invalid YAML"),
    (
        "calendars: {}\nmapping:\n  owner: {005A: 1}\n  fields:\n    Industry: {x: y}\n",
        "m.yaml:5: mapping.fields.Industry: expected text, got a mapping",
    ),
]


@pytest.mark.parametrize(("text", "expected"), MAPPING_ERRORS)
def test_mapping_errors_name_the_key_and_line(text: str, expected: str) -> None:
    with pytest.raises(MappingError) as caught:
        load_mapping(text, "m.yaml")
    assert str(caught.value).startswith(expected), str(caught.value)


def test_all_mapping_problems_are_reported_together() -> None:
    text = "timezone: Nowhere\nstatus:\n  New: ''\nstrict: 3\n"
    with pytest.raises(MappingError) as caught:
        load_mapping(text, "m.yaml")
    assert [problem.line for problem in caught.value.problems] == [1, 3, 4]


def test_a_mapping_alias_bomb_is_refused() -> None:
    levels = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]" for k in range(1, 6)]
    with pytest.raises(MappingError) as caught:
        load_mapping("\n".join(levels) + "\n", "m.yaml")
    assert "expands to more than 100,000 values through its aliases" in str(caught.value)
