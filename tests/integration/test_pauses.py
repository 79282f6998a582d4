"""A lead's clocks list their pauses (the lead page shows them): SPEC §4 rule 3."""

from __future__ import annotations

from pathlib import Path

from leadsla.config import build_rulebook, load_config
from leadsla.core.clock import Cycle
from leadsla.core.events import parse_instant
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.service.queries import lead_detail, pause_spans
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "leadsla.yaml"


def test_pause_spans_by_hand() -> None:
    running = Cycle("p", 1, "c", started_at=10, segments=[[10, 20], [30, 40], [50, None]])
    assert pause_spans(running) == [(20, 30), (40, 50)]
    paused_now = Cycle("p", 1, "c", started_at=10, segments=[[10, 20]])
    assert pause_spans(paused_now) == [(20, None)]
    stopped_while_paused = Cycle("p", 1, "c", started_at=10, segments=[[10, 20]], stopped_at=35)
    assert pause_spans(stopped_while_paused) == [(20, 35)]
    stopped_running = Cycle("p", 1, "c", started_at=10, segments=[[10, 20]], stopped_at=20)
    assert pause_spans(stopped_running) == []
    started_paused = Cycle("p", 1, "c", started_at=10, segments=[[15, None]])
    assert pause_spans(started_paused) == [(10, 15)]
    never_ran = Cycle("p", 1, "c", started_at=10, segments=[], stopped_at=12)
    assert pause_spans(never_ran) == [(10, 12)]


def test_lead_detail_lists_each_pause(database_url: str, tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "    target: {default: 7 days}\n",
        "    target: {default: 7 days}\n    pause: {status: [Demo Request]}\n",
    )
    config = tmp_path / "leadsla.yaml"
    config.write_text(text, encoding="utf-8")
    rules = build_rulebook(load_config(config))
    rows = [
        ("2026-03-02T09:00:00-05:00", "status", "New"),
        ("2026-03-02T10:00:00-05:00", "status", "Contacted"),
        ("2026-03-03T10:00:00-05:00", "status", "Demo Request"),
        ("2026-03-04T10:00:00-05:00", "status", "Contacted"),
        ("2026-03-05T10:00:00-05:00", "status", "Demo Request"),
    ]
    engine = open_database(database_url)
    with engine.begin() as connection:
        ingest(
            connection,
            rules,
            [IncomingEvent("P1", parse_instant(at), name, value) for at, name, value in rows],
            source="test",
            recorded_at=parse_instant("2026-03-06T00:00:00Z"),
        )
    with engine.connect() as connection:
        detail = lead_detail(connection, rules, "P1", parse_instant("2026-03-06T12:00:00-05:00"))
        earlier = lead_detail(connection, rules, "P1", parse_instant("2026-03-03T12:00:00-05:00"))
    engine.dispose()
    assert detail is not None and earlier is not None
    by_policy = {c["policy"]: c for c in detail["clocks"]}
    assert by_policy["follow_up"]["pauses"] == []
    assert by_policy["qualification"]["state"] == "paused"
    assert by_policy["qualification"]["pauses"] == [
        {"from": "2026-03-03T10:00:00-05:00", "to": "2026-03-04T10:00:00-05:00"},
        {"from": "2026-03-05T10:00:00-05:00", "to": None},
    ]
    # Judged earlier, only the pause begun by then shows, still running then.
    (qualification,) = [c for c in earlier["clocks"] if c["policy"] == "qualification"]
    assert qualification["pauses"] == [{"from": "2026-03-03T10:00:00-05:00", "to": None}]
