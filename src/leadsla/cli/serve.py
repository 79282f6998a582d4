"""``leadsla serve`` and ``leadsla worker``: the long-running processes."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    err,
    instant_option,
    load_setup,
    now_micros,
    open_engine,
)
from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadsla.notify.delivery import RowSender

# Cycles and emails handled per round of a running worker (--once handles all).
FIRE_BATCH = 1000
DELIVER_BATCH = 100


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)


def serve(
    config: ConfigOption,
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json) and the dashboard at /."""
    import uvicorn

    from leadsla.api.app import create_app

    setup, rules = load_setup(config)
    engine = open_engine(database)
    err.print(f"leadsla: serving http://{host}:{port}/api/v1 (docs at /api/v1/docs)", markup=False)
    secrets = hook_secrets(os.environ)
    app_ = create_app(rules, engine, now_micros, hook_secrets=secrets, config=setup)
    uvicorn.run(app_, host=host, port=port, log_level="info")


def hook_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """Webhook secrets: LEADSLA_HOOK_SECRET_<SOURCE>, else LEADSLA_HOOK_SECRET for all."""
    shared = environ.get("LEADSLA_HOOK_SECRET")
    secrets: dict[str, str] = {}
    for source in ("generic", "hubspot"):
        secret = environ.get(f"LEADSLA_HOOK_SECRET_{source.upper()}") or shared
        if secret:
            secrets[source] = secret
    return secrets


def worker(
    config: ConfigOption,
    database: DatabaseOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Handle everything due now, then exit (for cron).")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option("--now", help="Act as if it were this instant (replays, tests).", hidden=True),
    ] = None,
) -> None:
    """Fire warnings and escalation steps when their instant comes, and email them.

    Each fires once per clock cycle and recipient however many workers run; a step
    older than notifications.max_delay when first found is recorded as skipped.
    """
    from leadsla.notify.delivery import (
        MailSettings,
        Templates,
        deliver,
        slack_row_sender,
        smtp_sender,
        webhook_row_sender,
    )
    from leadsla.notify.digest import queue_digests
    from leadsla.service.timers import FireResult, fire_due_timers, next_wake

    setup, rules = load_setup(config)
    engine = open_engine(database)
    email = setup.notifications.email
    settings = None
    if email is not None:
        password = os.environ.get(email.password_env) if email.password_env else None
        settings = MailSettings(
            email.host, email.port, email.sender, email.starttls, email.username, password
        )
    else:
        err.print("leadsla: no notifications.email in the config: no emails", markup=False)
    max_delay = setup.notifications.max_delay.micros()
    templates = Templates(setup.notifications.templates)
    digest_times = {name: team.digest for name, team in setup.teams.items() if team.digest}
    channels: list[tuple[str, str]] = []
    others: dict[str, RowSender] = {}
    slack = setup.notifications.slack
    if slack is not None:
        slack_url = os.environ.get(slack.webhook_url_env)
        if slack_url:
            channels.append(("slack", "slack"))
            others["slack"] = slack_row_sender(rules, slack_url)
        else:
            err.print(f"leadsla: ${slack.webhook_url_env} is not set: no Slack", markup=False)
    if setup.notifications.webhooks:
        secrets = {
            hook.url: os.environ.get(hook.secret_env) if hook.secret_env else None
            for hook in setup.notifications.webhooks
        }
        channels.extend(("webhook", hook.url) for hook in setup.notifications.webhooks)
        others["webhook"] = webhook_row_sender(rules, secrets)
    routed_at = 0
    while True:
        instant = instant_option(at, "--now")
        if digest_times:
            with engine.begin() as connection:
                queue_digests(connection, rules, digest_times, instant)
        fired = FireResult()
        while True:  # --once means everything due, not one batch of it
            with engine.begin() as connection:
                batch = fire_due_timers(
                    connection,
                    rules,
                    instant,
                    max_delay=max_delay,
                    limit=FIRE_BATCH,
                    channels=channels,
                    email=settings is not None,
                )
            fired.cycles += batch.cycles
            fired.queued += batch.queued
            fired.skipped += batch.skipped
            if batch.cycles < FIRE_BATCH or not once:
                break
        moved: dict[str, int] = {}
        if once or instant - routed_at >= ROUTE_EVERY:
            moved, routed_at = _route_again(engine, rules, instant), instant
        delivered = deliver(
            engine,
            rules,
            instant,
            smtp_sender(settings) if settings is not None else None,
            settings.sender if settings is not None else "",
            limit=None if once else DELIVER_BATCH,
            others=others,
            templates=templates,
            base_url=setup.notifications.base_url,
        )
        if fired.cycles or moved or delivered.sent or delivered.retried or delivered.failed:
            # One JSON object per line: what log shippers and `jq` read.
            sys.stderr.write(
                json.dumps(
                    {
                        "event": "worker.round",
                        "at": format_instant(instant, rules.calendars[rules.default_calendar].zone),
                        "cycles": fired.cycles,
                        "queued": fired.queued,
                        "skipped_stale": fired.skipped,
                        "rerouted": moved.get("rerouted", 0),
                        "resurfaced": moved.get("resurfaced", 0),
                        "sent": delivered.sent,
                        "retry": delivered.retried,
                        "failed": delivered.failed,
                    }
                )
                + "\n"
            )
        if once:
            return
        with engine.connect() as connection:
            wake = next_wake(connection)
        # Sleep until the next timer, but look again within 30 s for new events and retries.
        pause = 30.0 if wake is None else min(30.0, max(0.5, (wake - now_micros()) / 1e6))
        time.sleep(pause)


# Re-routing and revisits scan the open and the nurtured leads: every few minutes is
# soon enough for both (out-of-office lists and revisit dates are not to the second).
ROUTE_EVERY = 5 * 60 * 1_000_000


def _route_again(engine: Engine, rules: Rulebook, instant: int) -> dict[str, int]:
    """The worker's share of routing: leads of reps out of office and past the
    ``assignment.reroute`` step go to someone else, and deferred leads whose
    revisit date has come return to sales (what ``leadsla reroute`` and
    ``leadsla revisit`` do on demand)."""
    from leadsla.service.reroute import reroute
    from leadsla.service.revisit import resurface

    counts: dict[str, int] = {}
    with engine.begin() as connection:
        if rules.assignment is not None:
            result = reroute(connection, rules, instant, recorded_at=now_micros())
            counts["rerouted"] = sum(1 for _, new, _ in result.rerouted.values() if new)
        counts["resurfaced"] = len(resurface(connection, rules, instant, recorded_at=now_micros()))
    return {name: count for name, count in counts.items() if count}

