"""Delivery in the recipient's hours (SPEC §9.4), with real workers, a real SMTP server on
loopback, and the workers' clock pinned to instants the test steps through.

The floor is ``tests/hours_floor.py``: New York and London, a 24-hour follow-up whose
step 1 (owner and manager) falls when it breaches and whose step 2 (executives) is
urgent; ``deliver: recipient_hours`` and an unassigned desk.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import Engine, select, text

from hours_floor import floor, floor_text
from leadsla.bootstrap import Wiring
from leadsla.config import Config, build_rulebook, load_config_text
from leadsla.core.policy import Rulebook
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.service.timers import next_wake
from leadsla.store import database
from leadsla.store.database import open_database
from leadsla.store.tables import notifications
from leadsla.worker import run_worker
from mail_server import Inbox

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
HOUR = 3_600_000_000
WORKERS = 3
LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def at(zone: ZoneInfo, *parts: int) -> int:
    return int(datetime(*parts, tzinfo=zone).timestamp()) * 1_000_000  # type: ignore[misc]


THURSDAY_EVENING = at(NEW_YORK, 2026, 4, 16, 18)  # the lead arrives, New
FRIDAY_EVENING = at(NEW_YORK, 2026, 4, 17, 18)  # 24 hours on: breached, step 1
FRIDAY_LATER = at(NEW_YORK, 2026, 4, 17, 20)  # 26 hours on: step 2, urgent
MONDAY_OPENING = at(LONDON, 2026, 4, 20, 8, 30)  # London opens again


@dataclass
class Floor:
    """The floor's config and rules, a database, and the SMTP server's inbox."""

    inbox: Inbox
    port: int
    config: Config
    rules: Rulebook
    engine: Engine

    def lead(self, lead: str, owner: str | None, new_at: int = THURSDAY_EVENING) -> None:
        """A lead that turns New at ``new_at`` with ``owner`` (None: no owner)."""
        rows = [IncomingEvent(lead, new_at, "status", "New", f"{lead}:s")]
        if owner is not None:
            rows.append(IncomingEvent(lead, new_at, "owner", owner, f"{lead}:o"))
        with self.engine.begin() as connection:
            ingest(connection, self.rules, rows, source="test", recorded_at=new_at)

    def once(self, instant: int) -> None:
        """One ``--once`` run of a worker at ``instant``."""
        senders, _ = Wiring({}).senders(self.config, self.rules)
        run_worker(self.engine, self.rules, self.config, senders, lambda: instant, once=True,
                   log=print)  # fmt: skip


@pytest.fixture
def hours(database_url: str, smtp: tuple[Inbox, int]) -> Iterator[Floor]:
    inbox, port = smtp
    config = floor(port)
    engine = open_database(database_url)
    yield Floor(inbox, port, config, build_rulebook(config), engine)
    engine.dispose()


class Woken(Exception):
    """Raised by a worker's sleep when the test is over: ends its loop."""


class PinnedClock:
    """The workers' clock, pinned to one instant at a time.

    Each worker runs its real loop (``run_worker``); its sleep waits until the test moves
    the clock. The test moves it only once every worker has finished a round at the
    current instant and gone to sleep, so each instant is worked by all of them at once.
    """

    def __init__(self, start: int, workers: int) -> None:
        self.now = start
        self.generation = 0
        self.stopped = False
        self.asleep: list[int | None] = [None] * workers
        self.condition = threading.Condition()

    def read(self) -> int:
        return self.now

    def sleeper(self, worker: int) -> Callable[[float], None]:
        def sleep(_seconds: float) -> None:
            with self.condition:
                done = self.generation
                self.asleep[worker] = done
                self.condition.notify_all()
                self.condition.wait_for(lambda: self.stopped or self.generation > done)
                self.asleep[worker] = None
                if self.stopped:
                    raise Woken

        return sleep

    def settle(self) -> None:
        """Wait until every worker has worked the current instant and sleeps."""
        with self.condition:
            settled = self.condition.wait_for(
                lambda: all(seen == self.generation for seen in self.asleep), timeout=60
            )
        assert settled, "a worker did not finish its round"

    def move(self, instant: int) -> None:
        self.settle()
        with self.condition:
            self.now = instant
            self.generation += 1
            self.condition.notify_all()
        self.settle()

    def stop(self) -> None:
        with self.condition:
            self.stopped = True
            self.condition.notify_all()


@contextmanager
def running_workers(place: Floor, start: int) -> Iterator[tuple[PinnedClock, list[str]]]:
    """WORKERS workers, each in its own thread with the pinned clock; their log lines."""
    engine, config, rules = place.engine, place.config, place.rules
    clock = PinnedClock(start, WORKERS)
    senders, _ = Wiring({}).senders(config, rules)
    lines: list[str] = []
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            run_worker(engine, rules, config, senders, clock.read, once=False,
                       log=lines.append, sleep=clock.sleeper(worker))  # fmt: skip
        except Woken:
            pass
        except BaseException as exc:  # surfaced below: a thread cannot fail the test
            errors.append(exc)
            clock.stop()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    try:
        clock.settle()
        yield clock, lines
    finally:
        clock.stop()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert not [line for line in lines if '"worker.error"' in line], lines


def totals(lines: list[str]) -> list[int]:
    """How many emails the workers' rounds queued, held and sent, all told."""
    # The rounds' lines (the dashboard refresh beside them logs its own).
    rounds = [parsed for line in lines if "figures" not in (parsed := json.loads(line))]
    return [sum(r[key] for r in rounds) for key in ("queued", "held", "sent")]


def received(inbox: Inbox) -> list[tuple[str, str]]:
    return sorted((m["To"], m["Subject"].removeprefix("[leadsla] ")) for m in inbox.messages)


def outbox(engine: Engine) -> list[tuple[Any, ...]]:
    """(recipient, step, state, fire_at, deliver_at, sent_at) of every notification."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                notifications.c.recipient,
                notifications.c.step,
                notifications.c.state,
                notifications.c.fire_at,
                notifications.c.deliver_at,
                notifications.c.sent_at,
            ).order_by(notifications.c.step, notifications.c.recipient)
        )
        return [tuple(row) for row in rows]


STEP_1 = "H1 follow_up: escalation 1 of 2"
STEP_2 = "H1 follow_up: escalation 2 of 2"


def test_a_friday_evening_breach_reaches_a_london_manager_on_monday_once(hours: Floor) -> None:
    """SPEC §9.4, the issue's case: a breach on Friday 18:00 New York for a London manager
    arrives Monday 08:30 London, once, with three workers; the urgent step goes at once."""
    inbox, engine = hours.inbox, hours.engine
    hours.lead("H1", "r3")  # Ana, of the London team: Tom is her manager
    before = at(NEW_YORK, 2026, 4, 17, 17, 59)
    with running_workers(hours, before) as (clock, lines):
        assert received(inbox) == []
        clock.move(FRIDAY_EVENING)
        # Step 1 has fired, for Ana and Tom, but London closed at 16:00: nothing is sent.
        assert received(inbox) == []
        clock.move(FRIDAY_EVENING + 60_000_000)
        clock.move(FRIDAY_LATER)
        # Step 2 is urgent: the executives get it at once, Chris's London hours or not.
        assert received(inbox) == [("ceo@example.com", STEP_2), ("coo@example.com", STEP_2)]
        for instant in (
            at(LONDON, 2026, 4, 18, 12),  # Saturday
            at(LONDON, 2026, 4, 19, 23),  # Sunday night
            MONDAY_OPENING - 1,
        ):
            clock.move(instant)
            assert len(inbox.messages) == 2
        clock.move(MONDAY_OPENING)
        monday = received(inbox)
        for instant in (MONDAY_OPENING + 60_000_000, at(LONDON, 2026, 4, 20, 12)):
            clock.move(instant)
    assert monday == received(inbox)
    assert monday == [
        ("ana@example.com", STEP_1),
        ("ceo@example.com", STEP_2),
        ("coo@example.com", STEP_2),
        ("tom@example.com", STEP_1),
    ]
    # Recorded once each: fired Friday 18:00, delivered and sent Monday 08:30 London.
    assert outbox(engine) == [
        ("ana@example.com", 1, "sent", FRIDAY_EVENING, MONDAY_OPENING, MONDAY_OPENING),
        ("tom@example.com", 1, "sent", FRIDAY_EVENING, MONDAY_OPENING, MONDAY_OPENING),
        ("ceo@example.com", 2, "sent", FRIDAY_LATER, FRIDAY_LATER, FRIDAY_LATER),
        ("coo@example.com", 2, "sent", FRIDAY_LATER, FRIDAY_LATER, FRIDAY_LATER),
    ]
    assert totals(lines) == [4, 2, 4]


def test_a_step_inside_the_recipients_hours_is_sent_at_once(hours: Floor) -> None:
    # A New York lead at 09:00 on a Monday: step 1 falls Tuesday 09:00 New York, inside
    # Sam's and Dana's hours; step 2 at 11:00 is urgent anyway.
    inbox, engine = hours.inbox, hours.engine
    monday = at(NEW_YORK, 2026, 4, 20, 9)
    hours.lead("E1", "r1", monday)
    step_1 = monday + 24 * HOUR
    with running_workers(hours, step_1 - 1) as (clock, lines):
        clock.move(step_1)
        assert received(inbox) == [
            ("dana@example.com", "E1 follow_up: escalation 1 of 2"),
            ("sam@example.com", "E1 follow_up: escalation 1 of 2"),
        ]
    assert [row[4] for row in outbox(engine)] == [step_1, step_1]  # delivered as it fell
    assert totals(lines) == [2, 0, 2]


def test_the_steps_of_a_lead_without_an_owner_go_to_the_unassigned_desk_once(hours: Floor) -> None:
    # Step 1 names the owner and the manager: with no owner both resolve to the desk,
    # which gets one email per person. The Lead desk keeps London hours (held to
    # Monday), the Night desk the default New York hours (held to Monday 09:00 there).
    inbox, engine = hours.inbox, hours.engine
    hours.lead("U1", None)
    new_york_opening = at(NEW_YORK, 2026, 4, 20, 9)
    with running_workers(hours, FRIDAY_EVENING) as (clock, _lines):
        assert [m["To"] for m in inbox.messages] == []
        clock.move(FRIDAY_LATER)
        clock.move(MONDAY_OPENING)
        assert [m["To"] for m in inbox.messages if "1 of 2" in m["Subject"]] == [
            "leads@example.com"
        ]
        clock.move(new_york_opening)
        clock.move(new_york_opening + HOUR)
    step_1 = [m["To"] for m in inbox.messages if m["Subject"].endswith("escalation 1 of 2")]
    assert sorted(step_1) == ["leads@example.com", "night@example.com"]
    assert [row[:3] for row in outbox(engine) if row[1] == 1] == [
        ("leads@example.com", 1, "sent"),
        ("night@example.com", 1, "sent"),
    ]


def test_a_held_message_is_judged_stale_from_its_steps_instant(hours: Floor) -> None:
    """max_delay (72 hours here) counts from the step's instant to its delivery (SPEC
    §9.4): a held step first claimed more than 72 hours after its instant is skipped,
    however recently its recipient's hours opened."""
    inbox, engine = hours.inbox, hours.engine
    hours.lead("H1", "r3")
    # Friday 18:00: step 1 is held to Monday 08:30 London; step 2 is not due yet.
    hours.once(FRIDAY_EVENING)
    # No worker runs again until Monday 18:00:01 New York, 72 hours and a second after
    # step 1: it is recorded as skipped, never sent. Step 2 (urgent, 70 hours old) goes.
    hours.once(FRIDAY_EVENING + 72 * HOUR + 1_000_000)
    assert [(row[0], row[1], row[2]) for row in outbox(engine)] == [
        ("ana@example.com", 1, "skipped"),
        ("tom@example.com", 1, "skipped"),
        ("ceo@example.com", 2, "sent"),
        ("coo@example.com", 2, "sent"),
    ]
    assert sorted(m["To"] for m in inbox.messages) == ["ceo@example.com", "coo@example.com"]


def test_a_hold_longer_than_max_delay_is_skipped_when_the_step_fires(
    database_url: str, smtp: tuple[Inbox, int]
) -> None:
    """With the default 24 hours, a weekend hold (57.5 hours) would deliver the step too
    late: it is recorded as skipped at once, as a stale step always was."""
    inbox, port = smtp
    config = load_config_text(
        floor_text(port).replace("max_delay: 72 hours", "max_delay: 24 hours")
    )
    engine = open_database(database_url)
    try:
        short = Floor(inbox, port, config, build_rulebook(config), engine)
        short.lead("H1", "r3")
        short.once(FRIDAY_EVENING)
        assert [row[:3] for row in outbox(engine)] == [
            ("ana@example.com", 1, "skipped"),
            ("tom@example.com", 1, "skipped"),
        ]
    finally:
        engine.dispose()
    assert inbox.messages == []


def test_a_held_message_within_max_delay_of_its_step_is_sent(
    hours: Floor, database_url: str, tmp_path: Path
) -> None:
    # Step 1 (Friday 23:00 London) first found on Sunday noon, 37 hours after its
    # instant, is held to Monday 08:30 (57.5 hours after it, within 72 hours).
    inbox, engine = hours.inbox, hours.engine
    hours.lead("H1", "r3")
    hours.once(at(LONDON, 2026, 4, 19, 12))
    assert [row[:3] for row in outbox(engine)] == [
        ("ana@example.com", 1, "queued"),
        ("tom@example.com", 1, "queued"),
        # Step 2 is urgent, so not held: 35 hours after its own instant, sent at once.
        ("ceo@example.com", 2, "sent"),
        ("coo@example.com", 2, "sent"),
    ]
    # No timer left: a running worker would sleep until the held emails' opening.
    with engine.connect() as connection:
        assert next_wake(connection, now=at(LONDON, 2026, 4, 19, 12)) == MONDAY_OPENING
    # The outbox listing says until when each waits (in the default zone, New York).
    path = tmp_path / "leadsla.yaml"
    path.write_text(floor_text(hours.port), encoding="utf-8")
    listed = subprocess.run(
        [LEADSLA, "notifications", "list", "--config", str(path), "--database", database_url,
         "--state", "queued"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    rows = [line.split("\t") for line in listed.strip().splitlines()[1:]]
    assert sorted((cells[3], cells[8]) for cells in rows) == [  # recipient, held to
        ("ana@example.com", "2026-04-20T03:30:00-04:00"),
        ("tom@example.com", "2026-04-20T03:30:00-04:00"),
    ]
    hours.once(MONDAY_OPENING)
    assert [m for m in received(inbox) if m[1] == STEP_1] == [
        ("ana@example.com", STEP_1),
        ("tom@example.com", STEP_1),
    ]


def test_a_notification_queued_before_the_migration_is_delivered_as_it_fell(
    database_url: str,
) -> None:
    # Revision 0008 adds deliver_at: rows already in the outbox get their own instant.
    engine = database.connect(database_url)
    alembic = database._alembic_config(engine)
    with engine.begin() as connection:
        alembic.attributes["connection"] = connection
        command.upgrade(alembic, "0007")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO notifications (lead_id, policy, cycle, kind, step, recipient, "
                "channel, state, fire_at, attempts, next_attempt_at, created_at) VALUES "
                "('L1', 'follow_up', 1, 'warning', 0, 'sam@example.com', 'email', 'queued', "
                "1000, 0, 1000, 1000)"
            )
        )
    database.upgrade(engine)
    with engine.connect() as connection:
        row = connection.execute(select(notifications.c.fire_at, notifications.c.deliver_at))
        assert [tuple(r) for r in row] == [(1000, 1000)]
    engine.dispose()
