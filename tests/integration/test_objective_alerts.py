"""A compliance objective's burn-rate alert reaches the team's manager on a real SMTP
server, once per episode however often and however many workers run, and again after
the rule clears and fires anew (docs/worker.md)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from sqlalchemy import Engine, select

from leadsla.config.schema import Config
from leadsla.core.policy import Rulebook
from leadsla.notify.delivery import (
    MailSettings,
    slack_row_sender,
    smtp_sender,
    webhook_row_sender,
)
from leadsla.service.ingest import ingest
from leadsla.store.tables import notifications, objective_episodes
from leadsla.worker import Senders, run_worker
from mail_server import Inbox
from objective_history import DAY, HOUR, MINUTE, T0, lead, setup


def mail(port: int) -> Senders:
    settings = MailSettings("127.0.0.1", port, "leadsla@example.com")
    return Senders(email=lambda: smtp_sender(settings, timeout=5), sender_address=settings.sender)


def run(engine: Engine, rules: Rulebook, config: Config, senders: Senders, at: int) -> None:
    run_worker(engine, rules, config, senders, lambda: at, once=True, at=at,
               log=lambda _line: None, sleep=lambda _seconds: None)  # fmt: skip


def subject(episode: int) -> str:
    return f"[leadsla] A follow-up (team east): error budget burning, episode {episode}"


def test_one_alert_per_episode_and_a_new_one_when_it_fires_again(
    database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    engine, rules, config = setup(database_url, port)
    senders = mail(port)

    # 00:30 on day 10: X1 is not due yet (01:00): nothing breached, nothing sent.
    run(engine, rules, config, senders, T0 + 10 * DAY + 30 * MINUTE)
    assert inbox.messages == []

    # 02:30: X1 and X2 breached. Last day (from day 9 02:30): 2 of 2 breached, burn
    # 1.0 / 0.1 = 10; last 2 hours (from 00:30): X2, 1 of 1, burn 10. Both above 2.
    firing = T0 + 10 * DAY + 150 * MINUTE
    for _ in range(3):
        run(engine, rules, config, senders, firing)
    run(engine, rules, config, senders, firing + 10 * MINUTE)
    # Three workers at once, still within the episode.
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = [
            pool.submit(run, engine, rules, config, senders, firing + 20 * MINUTE) for _ in "abc"
        ]
    for each in runs:
        each.result(timeout=120)  # a worker's error fails the test here
    assert inbox.subjects() == [("dana@example.com", subject(1))]
    body = inbox.messages[0].get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "10.0 times" in text  # both burn rates
    # 12 counted in the window, 2 breached: share 1/6 over a budget of 0.1 = 1.67 spent.
    assert "Budget left over the objective's window: -67%." in text

    # 05:00: the last 2 hours (from 03:00) hold no clock: the rule clears, no mail.
    run(engine, rules, config, senders, T0 + 10 * DAY + 5 * HOUR)
    with engine.connect() as connection:
        episodes = connection.execute(
            select(objective_episodes.c.group_key, objective_episodes.c.episode,
                   objective_episodes.c.cleared_at)
        ).all()  # fmt: skip
    assert [tuple(row) for row in episodes] == [("east", 1, T0 + 10 * DAY + 5 * HOUR)]

    # X3 starts at 06:00 and breaches at 07:00; at 07:30 both windows burn again.
    with engine.begin() as connection:
        ingest(connection, rules, lead("X3", T0 + 10 * DAY + 6 * HOUR, "r1", "A", met=False),
               source="test", recorded_at=T0)  # fmt: skip
    again = T0 + 10 * DAY + 450 * MINUTE
    run(engine, rules, config, senders, again)
    run(engine, rules, config, senders, again + 5 * MINUTE)
    assert inbox.subjects() == [("dana@example.com", subject(1)), ("dana@example.com", subject(2))]
    with engine.connect() as connection:
        rows = connection.execute(
            select(notifications.c.lead_id, notifications.c.cycle, notifications.c.state)
        ).all()
    assert sorted(tuple(row) for row in rows) == [
        ("team:east", 1, "sent"),
        ("team:east", 2, "sent"),
    ]
    engine.dispose()


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_the_alert_goes_to_slack_and_the_webhooks_once(database_url: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    engine, rules, config = setup(database_url)
    senders = Senders(
        channels=[("slack", "slack"), ("webhook", f"{base}/hook")],
        others={
            "slack": slack_row_sender(rules, f"{base}/slack"),
            "webhook": webhook_row_sender(rules, {}),
        },
    )
    firing = T0 + 10 * DAY + 150 * MINUTE
    _Hook.bodies.clear()
    try:
        for at in (firing, firing + MINUTE):
            run(engine, rules, config, senders, at)
    finally:
        server.shutdown()
        engine.dispose()
    assert sorted(_Hook.bodies, key=lambda hit: hit[0]) == [
        (
            "/hook",
            {
                "objective": "A follow-up",
                "group": "team:east",
                "episode": 1,
                "kind": "objective",
                "fire_at_us": firing,
                "subject": subject(1),
                "message": "",
            },
        ),
        ("/slack", {"text": subject(1)}),
    ]
