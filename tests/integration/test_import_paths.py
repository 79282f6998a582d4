"""``leadsla import``'s two ways of writing a chunk give the same database.

A chunk whose leads are all new is prepared away from the database (in forked
workers for large files) and written as rows; any other chunk takes the normal
ingest path. These tests compare the tables each way leaves behind, on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from leadsla.config import build_rulebook, load_config
from leadsla.core.events import EventTable, read_events
from leadsla.core.policy import Rulebook
from leadsla.demo.generate import HistoryShape, write_history
from leadsla.service.imports import chunk_ranges, import_table, row_key
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.store.bulk import attached, insert_packed, pack_rows, unpack_rows
from leadsla.store.database import open_database
from leadsla.store.leads import EVENT_COLUMNS
from leadsla.store.tables import clock_cycles, events, leads

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
START = int(datetime(2026, 1, 5, 14, tzinfo=UTC).timestamp()) * 1_000_000
RECORDED = START + 400 * 86_400_000_000


@pytest.fixture(scope="module")
def rules() -> Rulebook:
    return build_rulebook(load_config(CONFIG))


def history_table(rules: Rulebook, text: str) -> EventTable:
    table, report = read_events(
        io.StringIO(text),
        statuses=list(rules.statuses),
        grades=[g.name for g in rules.grades],
        source="history.csv",
    )
    assert not report.errors
    return table.sorted()


@pytest.fixture(scope="module")
def history_csv() -> str:
    out = io.StringIO()
    write_history(HistoryShape(leads=600, start=START, seed=7, span_days=30), out)
    return out.getvalue()


@pytest.fixture
def engines(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every stored row that the import decides (not the event sequence numbers)."""
    with engine.connect() as connection:
        return {
            "events": sorted(
                connection.execute(
                    select(
                        events.c.lead_id, events.c.at, events.c.field, events.c.value, events.c.key
                    )
                ).all(),
                key=repr,
            ),
            "leads": sorted(
                (tuple(row) for row in connection.execute(select(leads)).all()), key=repr
            ),
            "cycles": sorted(
                (tuple(row) for row in connection.execute(select(clock_cycles)).all()), key=repr
            ),
        }


def normal_path(engine: Engine, rules: Rulebook, table: EventTable) -> None:
    """The rows sent through plain ``ingest`` in batches of a few leads, as the API would."""
    batch: list[IncomingEvent] = []
    for lead_id, start, stop in table.lead_slices():
        for row in range(start, stop):
            at = int(table.at[row])
            field = table.fields[table.field[row]]
            code = int(table.value[row])
            value = None if code < 0 else table.values[code]
            batch.append(
                IncomingEvent(lead_id, at, field, value, row_key(lead_id, at, field, value))
            )
        if len(batch) > 40:
            with engine.begin() as connection:
                ingest(connection, rules, batch, source="import:history.csv", recorded_at=RECORDED)
            batch = []
    with engine.begin() as connection:
        ingest(connection, rules, batch, source="import:history.csv", recorded_at=RECORDED)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "rows"])
def test_prepared_chunks_in_workers_store_what_plain_ingest_stores(
    engines: Engine,
    rules: Rulebook,
    history_csv: str,
    tmp_path: Path,
    packed: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not packed:  # as where Python's sqlite3 cannot serialize a database
        monkeypatch.setattr("leadsla.service.ingest.can_pack", lambda _dialect: False)
    table = history_table(rules, history_csv)
    result = import_table(
        engines,
        rules,
        table,
        source="import:history.csv",
        recorded_at=RECORDED,
        jobs=2,
        chunk_rows=300,
        parallel_rows=0,
    )
    assert result.accepted == len(table) and result.duplicates == 0 and result.leads == 600
    reference = open_database(f"sqlite:///{tmp_path / 'reference.db'}")
    normal_path(reference, rules, table)
    assert snapshot(engines) == snapshot(reference)
    reference.dispose()


def test_packed_rows_arrive_as_they_were(engines: Engine) -> None:
    """Rows packed in a worker (a SQLite database; COPY text, escapes and all) are
    stored, and unpacked for the normal path, exactly as given."""
    rows: list[tuple[object, ...]] = [
        ("P1", 1, "note", "tab\there", "import:x", "k1", 5),
        ("P1", 2, "note", "line\nbreak\r\\N back\\slash \\t", "import:x", "k2", 5),
        ("P2", 3, "status", None, "import:x", None, 5),
        ("P2", 3, "note", "", "import:x", "k4", 5),
        ("P3", -4, "note", "ünïcode ✓ \x1f", "import:y", "k5", 2**62),
    ]
    packed = pack_rows(engines.dialect.name, [(events, EVENT_COLUMNS, rows)])
    assert unpack_rows(packed, events) == rows
    with engines.connect() as connection, attached(connection, packed), connection.begin():
        insert_packed(connection, packed)
    with engines.connect() as connection:
        columns = [events.c[name] for name in EVENT_COLUMNS]
        stored = connection.execute(select(*columns).order_by(events.c.seq)).all()
    assert [tuple(row) for row in stored] == rows


def test_a_file_over_stored_leads_ends_as_if_imported_once(
    engines: Engine, rules: Rulebook, history_csv: str, tmp_path: Path
) -> None:
    lines = history_csv.splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    # A third of the rows first (whole leads and parts of leads), then the whole file.
    first = history_table(rules, header + "".join(rows[::3]))
    whole = history_table(rules, history_csv)
    import_table(
        engines,
        rules,
        first,
        source="import:history.csv",
        recorded_at=RECORDED,
        jobs=1,
        chunk_rows=250,
    )
    again = import_table(
        engines,
        rules,
        whole,
        source="import:history.csv",
        recorded_at=RECORDED,
        jobs=2,
        chunk_rows=250,
        parallel_rows=0,
    )
    assert again.duplicates == len(first)
    assert again.accepted == len(whole) - len(first)
    once = open_database(f"sqlite:///{tmp_path / 'once.db'}")
    import_table(once, rules, whole, source="import:history.csv", recorded_at=RECORDED, jobs=1)
    assert snapshot(engines) == snapshot(once)
    once.dispose()


def test_a_row_repeated_in_the_file_is_stored_once(engines: Engine, rules: Rulebook) -> None:
    text = (
        "lead_id,at,field,value\n"
        "D1,2026-03-02T09:00:00-05:00,grade,A\n"
        "D1,2026-03-02T09:00:00-05:00,status,New\n"
        "D1,2026-03-02T09:00:00-05:00,status,New\n"
        "D2,2026-03-02T10:00:00-05:00,status,New\n"
    )
    table = history_table(rules, text)
    result = import_table(engines, rules, table, source="import:d.csv", recorded_at=RECORDED)
    # The repeated row is identical to one of the same file, not one stored before.
    assert (result.accepted, result.duplicates, result.repeated, result.leads) == (3, 0, 1, 2)
    with engines.connect() as connection:
        stored = connection.execute(select(leads.c.lead_id, leads.c.events)).all()
        cycles = connection.execute(select(clock_cycles.c.lead_id)).all()
    assert sorted(stored) == [("D1", 2), ("D2", 1)]
    assert sorted(c.lead_id for c in cycles) == ["D1", "D2"]


def test_keys_of_an_older_import_are_rewritten_and_still_match(
    database_url: str, rules: Rulebook
) -> None:
    """A database from revision 0002 (keys ``row:<hash>``) upgraded: the same file again
    stores nothing."""
    from alembic import command

    from leadsla.store.database import _alembic_config, connect, upgrade

    engine = connect(database_url)
    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    text = (
        "lead_id,at,field,value\n"
        "K1,2026-03-02T09:00:00-05:00,grade,A\n"
        "K1,2026-03-02T09:00:00-05:00,status,New\n"
        "K2,2026-03-02T10:00:00-05:00,status,New\n"
    )
    table = history_table(rules, text)
    with engine.begin() as connection:
        for lead_id, start, stop in table.lead_slices():
            for row in range(start, stop):
                at = int(table.at[row])
                field = table.fields[table.field[row]]
                value = table.values[int(table.value[row])]
                content = "\x1f".join((lead_id, str(at), field, value))
                old_key = "row:" + hashlib.blake2b(content.encode(), digest_size=16).hexdigest()
                connection.execute(
                    events.insert().values(
                        lead_id=lead_id,
                        at=at,
                        field=field,
                        value=value,
                        source="import:old.csv",
                        key=old_key,
                        recorded_at=RECORDED,
                    )
                )
        connection.execute(
            events.insert().values(
                lead_id="K3",
                at=RECORDED,
                field="status",
                value="New",
                source="api",
                key="api:x1",
                recorded_at=RECORDED,
            )
        )
    upgrade(engine)
    with engine.connect() as connection:
        keys = sorted(connection.scalars(select(events.c.key)))
    assert keys[0] == "api:x1"
    assert [k.split(" ")[0] for k in keys[1:]] == ["row:K1", "row:K1", "row:K2"]
    again = import_table(engine, rules, table, source="import:old.csv", recorded_at=RECORDED)
    assert (again.accepted, again.duplicates) == (0, 3)
    engine.dispose()


@pytest.mark.parametrize(
    ("bounds", "limit", "expected"),
    [
        ([], 10, []),
        ([0, 4, 9, 12], 10, [range(0, 9), range(9, 12)]),  # leads of 4, 5, 3 rows
        ([0, 4, 9, 12], 4, [range(0, 4), range(4, 9), range(9, 12)]),  # 5 > 4: alone
        ([0, 25, 26], 10, [range(0, 25), range(25, 26)]),  # one lead over the limit
        ([0, 3, 6, 9], 6, [range(0, 6), range(6, 9)]),  # exactly at the limit
    ],
)
def test_chunks_cut_between_leads(bounds: list[int], limit: int, expected: list[range]) -> None:
    assert chunk_ranges(bounds, limit) == expected
