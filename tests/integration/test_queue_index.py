"""The at-risk list read through the open-cycle index equals the list that judges every
lead's clocks, on the demo company at instants across a week (SQLite file)."""

from __future__ import annotations

import pytest

from leadsla.config import build_rulebook, load_config
from leadsla.core.columns import MICROS_PER_HOUR
from leadsla.core.events import parse_instant
from leadsla.demo.setup import prepare_demo
from leadsla.service import queries
from leadsla.service.queries import lead_list
from leadsla.store.database import open_database

NOW = parse_instant("2026-03-04T15:30:00Z")  # Wednesday 10:30 in New York


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    setup = prepare_demo(tmp_path_factory.mktemp("demo"), now=NOW, leads=600, months=1, seed=3)
    return build_rulebook(load_config(setup.config)), open_database(setup.database_url)


@pytest.mark.parametrize("hours", [4, 8, 40])
@pytest.mark.parametrize(
    "at",
    [
        "2026-03-04T15:30:00Z",  # Wednesday morning in New York: offices open
        "2026-03-05T03:00:00Z",  # Wednesday night in New York, Thursday early in Berlin
        "2026-03-07T12:00:00Z",  # Saturday: every office closed
        "2026-03-10T14:00:00Z",  # the next Tuesday: leads breached since
    ],
)
def test_the_indexed_at_risk_list_is_the_judged_one(
    demo: tuple[object, object], monkeypatch: pytest.MonkeyPatch, hours: int, at: str
) -> None:
    rules, engine = demo
    as_of = parse_instant(at)
    with engine.connect() as connection:  # type: ignore[attr-defined]
        indexed = lead_list(
            connection, rules, as_of, at_risk_within=hours * MICROS_PER_HOUR, limit=10_000
        )  # type: ignore[arg-type]
        # Without the index bound: every lead's clocks judged.
        monkeypatch.setattr(queries, "at_risk_span", lambda *_: None)
        judged = lead_list(
            connection, rules, as_of, at_risk_within=hours * MICROS_PER_HOUR, limit=10_000
        )  # type: ignore[arg-type]
    assert [lead["lead_id"] for lead in indexed] == [lead["lead_id"] for lead in judged]
    assert indexed == judged
    if at == "2026-03-04T15:30:00Z":
        assert judged  # the instant the demo was made for has leads at risk
