"""The worker: rounds that fire the timers that are due, deliver what they queued, and
every few minutes send the leads of absent reps elsewhere and bring deferred leads back.

It reads neither the clock nor the environment: it is handed a clock and the senders
(:mod:`leadsla.bootstrap` wires them), so the same rounds run at any instant a caller
chooses.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from leadsla.config import build_delivery, build_objectives
from leadsla.config.schema import Config
from leadsla.core.instants import format_instant
from leadsla.core.objectives import Objective
from leadsla.core.policy import Rulebook
from leadsla.core.recipients import Delivery
from leadsla.notify.delivery import DeliveryResult, Failure, RowSender, Sender, deliver
from leadsla.notify.digest import queue_digests
from leadsla.notify.rendering import Templates
from leadsla.service.objectives import check_objectives
from leadsla.service.reroute import reroute
from leadsla.service.revisit import resurface
from leadsla.service.sync import CrmJob, job_summary, run_job
from leadsla.service.timers import FireResult, fire_due_timers, next_wake
from leadsla.store.heartbeat import record_round
from leadsla.web.figures import refresh_due, refresh_snapshots

Clock = Callable[[], int]

# Cycles and emails handled per round of a running worker (--once handles all).
FIRE_BATCH = 1000
DELIVER_BATCH = 100
# Re-routing and revisits scan the open and the nurtured leads: every few minutes is
# soon enough for both (out-of-office lists and revisit dates are not to the second).
ROUTE_EVERY = 5 * 60 * 1_000_000
# How often a running worker asks whether the dashboard's snapshots need a refresh (the
# refresh itself runs beside the rounds: minutes at millions of leads).
FIGURES_CHECK_EVERY = 30 * 1_000_000
# Sleep until the next timer, but look again within 30 s for new events and retries.
LONGEST_PAUSE = 30.0
SHORTEST_PAUSE = 0.5
# A --once run (cron) gives up after this many rounds refused by the database in a row;
# a running worker never does: it is the only thing that delivers.
ONCE_ATTEMPTS = 5


@dataclass(frozen=True)
class Senders:
    """Where notifications can go: what the config asks for and the environment allows."""

    # A sender on a new SMTP session, opened each round: a session kept between rounds
    # would sit idle until the server drops it. None: no email.
    email: Callable[[], Sender] | None = None
    sender_address: str = ""
    # (channel, target) pairs beside email, e.g. ("webhook", URL), and their senders.
    channels: Sequence[tuple[str, str]] = ()
    others: Mapping[str, RowSender] = field(default_factory=dict)


def run_worker(
    engine: Engine,
    rules: Rulebook,
    setup: Config,
    senders: Senders,
    clock: Clock,
    *,
    once: bool,
    at: int | None = None,
    log: Callable[[str], object],
    sleep: Callable[[float], object] = time.sleep,
    crm_jobs: Sequence[CrmJob] = (),
) -> None:
    """Work in rounds until stopped, or one round that handles everything due (``once``).

    Each of ``crm_jobs`` (a CRM's sync, then its write-back) runs when its ``every`` has
    passed since it last ran: beside the rounds in a thread of its own, so that a long
    backfill never holds notifications up (in the round itself when ``once``); one JSON
    line is logged per run, and a run that fails is logged and tried again next time.

    ``clock`` stamps what is recorded and times the pauses; each round acts at ``at``
    when given (replays, tests), else at the clock's instant. ``log`` gets one JSON line
    per round that did something, one per notification given up on after its last try
    (:func:`failure_line`), and one per round the database refused.

    One message never stops the worker: a message that cannot be built or sent is
    retried and then recorded as failed, alone (:func:`leadsla.notify.delivery.deliver`),
    and the round goes on with the others. Only the database refusing the round raises
    out of a ``once`` run, after :data:`ONCE_ATTEMPTS` refusals in a row.

    A running worker takes the next round at once while a round leaves due work
    behind, and sleeps only when nothing more is due. A round that the database
    refuses (locked, connection lost) is logged and taken again after a pause.
    """
    work = _Rounds(engine, rules, setup, senders, clock, at=at, once=once, log=log)
    work.crm_jobs = list(crm_jobs)
    failures = 0
    while True:
        try:
            more = work.round()
        except OperationalError as exc:
            failures += 1
            if once and failures >= ONCE_ATTEMPTS:
                raise
            log(error_line(format_instant(clock(), rules.default_zone), exc, failures))
            # Back off: a database that is down or held should not be hammered.
            sleep(min(LONGEST_PAUSE, SHORTEST_PAUSE * 2 ** (failures - 1)))
            continue
        failures = 0
        if once:
            return
        if more:
            continue
        with engine.connect() as connection:
            wake = next_wake(connection, now=clock())
        if wake is None:
            sleep(LONGEST_PAUSE)
        else:
            sleep(min(LONGEST_PAUSE, max(SHORTEST_PAUSE, (wake - clock()) / 1e6)))


class _Rounds:
    """One worker's rounds, and what it carries from one to the next."""

    def __init__(
        self,
        engine: Engine,
        rules: Rulebook,
        setup: Config,
        senders: Senders,
        clock: Clock,
        *,
        at: int | None,
        once: bool,
        log: Callable[[str], object],
    ) -> None:
        self.engine, self.rules, self.senders, self.clock = engine, rules, senders, clock
        self.at, self.once, self.log = at, once, log
        self.max_delay = setup.notifications.max_delay.micros()
        self.delivery = build_delivery(setup)
        self.templates = Templates(setup.notifications.templates)
        self.base_url = setup.notifications.base_url
        self.objectives = build_objectives(setup)
        self.digest_times = {name: team.digest for name, team in setup.teams.items() if team.digest}
        self.routed_at = 0
        self.setup = setup
        self.figures_checked_at = 0
        self.figures: threading.Thread | None = None
        self.crm_jobs: list[CrmJob] = []
        self.synced_at: dict[str, int] = {}
        self.syncing: threading.Thread | None = None

    def round(self) -> bool:
        """Fire, route and deliver what is due; whether due work was left for another round."""
        engine, rules, senders, once = self.engine, self.rules, self.senders, self.once
        instant = self.clock() if self.at is None else self.at
        if self.digest_times:
            with engine.begin() as connection:
                queue_digests(connection, rules, self.digest_times, instant)
        fired = _fire_due(
            engine, rules, instant, senders, self.delivery, max_delay=self.max_delay, once=once
        )
        moved: dict[str, int] = {}
        if once or instant - self.routed_at >= ROUTE_EVERY:
            moved = _route_again(engine, rules, instant, self.clock)
            moved.update(_check_objectives(engine, rules, self.objectives, instant, senders))
            self.routed_at = instant
        delivered = deliver(
            engine,
            rules,
            instant,
            senders.email() if senders.email is not None else None,
            senders.sender_address,
            limit=None if once else DELIVER_BATCH,
            others=senders.others,
            templates=self.templates,
            base_url=self.base_url,
            max_delay=self.max_delay,
        )
        handled = delivered.sent + delivered.retried + delivered.failed + delivered.skipped
        at = format_instant(instant, rules.default_zone)
        if fired.cycles or moved or handled:
            self.log(round_line(at, fired, moved, delivered))
        for failure in delivered.failures:
            self.log(failure_line(at, failure))
        self._refresh_figures(instant)
        self._sync_crms(instant)
        with engine.begin() as connection:
            record_round(connection, self.clock())
        # A batch that came back full may have left more behind it.
        return fired.cycles >= FIRE_BATCH or handled >= DELIVER_BATCH

    def _refresh_figures(self, instant: int) -> None:
        """Bring the dashboard's report snapshots up to ``instant`` when they miss events
        or have aged: at once in a ``once`` run, else in a thread beside the rounds, so
        that notifications never wait behind a report."""
        if self.figures is not None and self.figures.is_alive():
            return
        if not self.once and instant - self.figures_checked_at < FIGURES_CHECK_EVERY:
            return
        self.figures_checked_at = instant
        with self.engine.connect() as connection:
            if not refresh_due(connection, self.rules, instant):
                return
        if self.once:
            refresh_snapshots(self.engine, self.rules, self.setup, instant, self.clock)
            return
        self.figures = threading.Thread(
            target=self._refresh_logged, args=(instant,), name="leadsla-figures", daemon=True
        )
        self.figures.start()

    def _sync_crms(self, instant: int) -> None:
        """Run the CRM jobs whose interval has passed (see :func:`run_worker`)."""
        if self.syncing is not None and self.syncing.is_alive():
            return
        due = [
            job
            for job in self.crm_jobs
            if instant - self.synced_at.get(job.crm, -job.every) >= job.every
        ]
        if not due:
            return
        for job in due:
            self.synced_at[job.crm] = instant
        if self.once:
            self._sync_logged(due, instant)
            return
        self.syncing = threading.Thread(
            target=self._sync_logged, args=(due, instant), name="leadsla-crm-sync", daemon=True
        )
        self.syncing.start()

    def _sync_logged(self, jobs: Sequence[CrmJob], instant: int) -> None:
        for job in jobs:
            at = format_instant(self.clock(), self.rules.default_zone)
            try:
                synced, written = run_job(self.engine, self.rules, job, now=instant)
            except Exception as exc:  # the CRM down, a refused token: logged, tried next time
                self.log(
                    json.dumps(
                        {"at": at, "crm": job.crm, "sync": "failed", "error": repr(exc)[:300]}
                    )
                    + "\n"
                )
                continue
            self.log(json.dumps({"at": at, **job_summary(synced, written)}) + "\n")

    def _refresh_logged(self, instant: int) -> None:
        try:
            written = refresh_snapshots(self.engine, self.rules, self.setup, instant, self.clock)
        except Exception as exc:  # a failed refresh leaves the last snapshots; said once
            at = format_instant(self.clock(), self.rules.default_zone)
            self.log(json.dumps({"at": at, "figures": "failed", "error": repr(exc)[:300]}))
            return
        at = format_instant(self.clock(), self.rules.default_zone)
        self.log(json.dumps({"at": at, "figures": written}))


def _fire_due(
    engine: Engine,
    rules: Rulebook,
    instant: int,
    senders: Senders,
    delivery: Delivery,
    *,
    max_delay: int,
    once: bool,
) -> FireResult:
    """Queue the notifications due by ``instant``: one batch, or all of them (``once``)."""
    fired = FireResult()
    while True:
        with engine.begin() as connection:
            batch = fire_due_timers(
                connection,
                rules,
                instant,
                max_delay=max_delay,
                limit=FIRE_BATCH,
                channels=senders.channels,
                email=senders.email is not None,
                delivery=delivery,
            )
        fired.cycles += batch.cycles
        fired.queued += batch.queued
        fired.skipped += batch.skipped
        fired.held += batch.held
        if batch.cycles < FIRE_BATCH or not once:
            return fired


def _route_again(engine: Engine, rules: Rulebook, instant: int, clock: Clock) -> dict[str, int]:
    """The worker's share of routing: leads of reps out of office and past the
    ``assignment.reroute`` step go to someone else, and deferred leads whose
    revisit date has come return to sales (what ``leadsla reroute`` and
    ``leadsla revisit`` do on demand)."""
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        if rules.assignment is not None:
            result = reroute(connection, rules, instant, recorded_at=clock())
            counts["rerouted"] = sum(1 for _, new, _ in result.rerouted.values() if new)
        counts["resurfaced"] = len(resurface(connection, rules, instant, recorded_at=clock()))
    return {name: count for name, count in counts.items() if count}


def _check_objectives(
    engine: Engine,
    rules: Rulebook,
    objectives: Sequence[Objective],
    instant: int,
    senders: Senders,
) -> dict[str, int]:
    """Alerts for the objectives whose error budget burns fast (docs/worker.md): as
    often as routing, since a burn rate over hours moves no faster."""
    if not objectives:
        return {}
    with engine.begin() as connection:
        queued = check_objectives(
            connection,
            rules,
            objectives,
            instant,
            channels=senders.channels,
            email=senders.email is not None,
        )
    return {"objective_alerts": queued} if queued else {}


def round_line(
    at: str, fired: FireResult, moved: Mapping[str, int], delivered: DeliveryResult
) -> str:
    """What one round did, as one JSON object on a line: what log shippers and `jq` read."""
    return (
        json.dumps(
            {
                "event": "worker.round",
                "at": at,
                "cycles": fired.cycles,
                "queued": fired.queued,
                "held": fired.held,
                "skipped_stale": fired.skipped + delivered.skipped,
                "rerouted": moved.get("rerouted", 0),
                "resurfaced": moved.get("resurfaced", 0),
                "objective_alerts": moved.get("objective_alerts", 0),
                "sent": delivered.sent,
                "retry": delivered.retried,
                "failed": delivered.failed,
            }
        )
        + "\n"
    )


def failure_line(at: str, failure: Failure) -> str:
    """A notification given up on after its last try, as one JSON line: which, and why.
    The worker goes on with the others; ``leadsla notifications list --state failed``
    lists them all."""
    return (
        json.dumps(
            {
                "event": "worker.failed",
                "at": at,
                "notification": failure.notification,
                "lead_id": failure.lead_id,
                "kind": failure.kind,
                "step": failure.step,
                "channel": failure.channel,
                "recipient": failure.recipient,
                "attempts": failure.attempts,
                "error": failure.error,
            }
        )
        + "\n"
    )


def error_line(at: str, exc: BaseException, failures: int) -> str:
    """A round the database refused, as one JSON line: the error and how many in a row."""
    lines = str(getattr(exc, "orig", exc)).strip().splitlines()
    return (
        json.dumps(
            {
                "event": "worker.error",
                "at": at,
                "error": lines[0] if lines else type(exc).__name__,
                "failures": failures,
            }
        )
        + "\n"
    )
